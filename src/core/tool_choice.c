#include "core/tool_choice.h"

#include <stdio.h>
#include <string.h>

static json_t *call_schema(const json_t *fn, const char *args_key, int strict_args)
{
    json_t *params = json_object_get(fn, "parameters");
    json_t *args = strict_args && json_is_object(params) ? json_deep_copy(params) : json_pack("{s:s}", "type", "object");
    return json_pack("{s:s, s:{s:{s:O}, s:o}, s:[s, s], s:b}", "type", "object", "properties", "name", "const",
                     json_object_get(fn, "name"), args_key, args, "required", "name", args_key,
                     "additionalProperties", 0);
}

json_t *tool_choice_schema(const json_t *tools, const char *name, chat_output_format fmt, int strict_args, char *err,
                           size_t errlen)
{
    const char *args_key = fmt == CHAT_OUTPUT_LLAMA3 ? "parameters" : "arguments";
    json_t *alts = json_array();
    size_t i;
    json_t *t;
    json_array_foreach(tools, i, t) {
        json_t *fn = json_object_get(t, "function");
        const char *fname = json_string_value(json_object_get(fn, "name"));
        if (!fname || (name && strcmp(fname, name) != 0)) continue;
        json_array_append_new(alts, call_schema(fn, args_key, strict_args));
    }
    if (json_array_size(alts) == 0) {
        if (name) snprintf(err, errlen, "tool_choice names '%s', which is not among the tools", name);
        else snprintf(err, errlen, "tool_choice asks for a call but no tools were given");
        json_decref(alts);
        return NULL;
    }
    if (json_array_size(alts) == 1) {
        json_t *one = json_incref(json_array_get(alts, 0));
        json_decref(alts);
        return one;
    }
    return json_pack("{s:o}", "anyOf", alts);
}

const char *tool_choice_prefix(chat_output_format fmt)
{
    return fmt == CHAT_OUTPUT_HERMES ? "<tool_call>\n" : "";
}
