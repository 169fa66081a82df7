#include "core/chat_format.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Templates written for VLM processors loop over a message's content and
 * look at each part's "type"; many text templates test "type" only for
 * tools and print the content as a string, so both must be there. */
static bool template_takes_parts(const char *t)
{
    bool type = strstr(t, "['type']") || strstr(t, "[\"type\"]") || strstr(t, ".type ==") || strstr(t, ".type==");
    static const char *const loops[] = {"in message['content']", "in message[\"content\"]", "in message.content",
                                        "in messages[0]['content']", "in messages[0].content"};
    bool loop = false;
    for (size_t i = 0; i < sizeof loops / sizeof loops[0] && !loop; i++) loop = strstr(t, loops[i]) != NULL;
    return type && loop;
}

void chat_format_init(chat_format *f, const char *template_src, const char *arch, const char *bos_text,
                      const char *eos_text, char *warn, size_t warnlen)
{
    memset(f, 0, sizeof *f);
    if (warn && warnlen) warn[0] = 0;
    f->family = chat_builtin_detect(template_src, arch);
    f->bos_text = strdup(bos_text ? bos_text : "");
    f->eos_text = strdup(eos_text ? eos_text : "");
    if (template_src && *template_src) {
        char err[256];
        f->tmpl = jinja_parse(template_src, strlen(template_src), err, sizeof err);
        f->takes_parts = template_takes_parts(template_src);
        if (!f->tmpl && warn)
            snprintf(warn, warnlen, "the model's chat template does not parse (%s); using the built-in %s format",
                     err, chat_builtin_name(f->family));
    }
}

void chat_format_free(chat_format *f)
{
    jinja_free(f->tmpl);
    free(f->bos_text);
    free(f->eos_text);
    memset(f, 0, sizeof *f);
}

char *chat_format_render(const chat_format *f, const chat_message *msgs, int n, bool add_generation_prompt,
                         char *err, size_t errlen)
{
    if (!f->tmpl) {
        char *out = NULL;
        if (chat_builtin_render(f->family, msgs, n, add_generation_prompt, NULL, &out) != 0)
            snprintf(err, errlen, "the conversation does not fit the %s chat format (roles must alternate)",
                     chat_builtin_name(f->family));
        return out;
    }
    json_t *messages = json_array();
    for (int i = 0; i < n; i++)
        json_array_append_new(messages, json_pack("{s:s, s:s}", "role", msgs[i].role, "content",
                                                  msgs[i].content ? msgs[i].content : ""));
    json_t *ctx = json_pack("{s:o, s:b, s:s, s:s}", "messages", messages, "add_generation_prompt",
                            add_generation_prompt, "bos_token", f->bos_text, "eos_token", f->eos_text);
    char *out = ctx ? jinja_render(f->tmpl, ctx, err, errlen) : NULL;
    if (!ctx) snprintf(err, errlen, "out of memory");
    json_decref(ctx);
    return out;
}
