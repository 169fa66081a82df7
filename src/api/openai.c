/* The OpenAI API as the official client speaks it: /v1/models,
 * /v1/chat/completions, /v1/completions, /v1/embeddings. Requests become
 * rk_request; results become OpenAI objects, streamed as server-sent events
 * ending with "data: [DONE]". */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "media/base64.h"

#define FINGERPRINT "rkserve-" RKSERVE_VERSION

/* OpenAI's documented defaults: temperature 1 and top_p 1, no other
 * filtering, no repetition penalty. */
static void openai_defaults(rk_request *r)
{
    r->sampling.temperature = 1.0f;
    r->sampling.top_p = 1.0f;
    r->sampling.top_k = 0;
    r->sampling.min_p = 0.0f;
    r->sampling.repeat_penalty = 1.0f;
    r->sampling.repeat_last_n = 64;
}

static int model_field(const json_t *body, rk_request *r, rk_error *e)
{
    const char *model = NULL;
    if (api_opt_string(body, "model", &model, e)) return -1;
    if (!model || !*model) return rk_fail(e, 400, "model", "'model' is required");
    if (!(r->model = strdup(model))) return rk_fail(e, 500, NULL, "out of memory");
    return 0;
}

/* Sampling and limits common to chat and completions. */
static int sampling_fields(const json_t *body, rk_request *r, bool chat, rk_error *e)
{
    double d;
    int64_t i;
    d = r->sampling.temperature;
    if (api_opt_number(body, "temperature", 0, 2, &d, e)) return -1;
    r->sampling.temperature = (float)d;
    d = r->sampling.top_p;
    if (api_opt_number(body, "top_p", 0, 1, &d, e)) return -1;
    r->sampling.top_p = (float)d;
    d = 0;
    if (api_opt_number(body, "frequency_penalty", -2, 2, &d, e)) return -1;
    r->sampling.frequency_penalty = (float)d;
    d = 0;
    if (api_opt_number(body, "presence_penalty", -2, 2, &d, e)) return -1;
    r->sampling.presence_penalty = (float)d;
    /* llama.cpp-server extensions */
    i = r->sampling.top_k;
    if (api_opt_int(body, "top_k", 0, 1 << 30, &i, e)) return -1;
    r->sampling.top_k = (int32_t)i;
    d = r->sampling.min_p;
    if (api_opt_number(body, "min_p", 0, 1, &d, e)) return -1;
    r->sampling.min_p = (float)d;
    d = r->sampling.repeat_penalty;
    if (api_opt_number(body, "repeat_penalty", 0, 100, &d, e)) return -1;
    r->sampling.repeat_penalty = (float)d;
    i = r->sampling.repeat_last_n;
    if (api_opt_int(body, "repeat_last_n", -1, 1 << 30, &i, e)) return -1;
    r->sampling.repeat_last_n = (int32_t)i;
    if (api_opt_bool(body, "ignore_eos", &r->ignore_eos, e)) return -1;

    json_t *seed = json_object_get(body, "seed");
    if (seed && !json_is_null(seed)) {
        if (!json_is_integer(seed)) return rk_fail(e, 400, "seed", "'seed' must be an integer");
        r->sampling.seed = (uint64_t)json_integer_value(seed);
    }
    i = -1;
    if (api_opt_int(body, "max_tokens", 0, INT32_MAX, &i, e)) return -1;
    if (chat && api_opt_int(body, "max_completion_tokens", 0, INT32_MAX, &i, e)) return -1;
    r->max_tokens = (int32_t)i;
    if (api_stop(json_object_get(body, "stop"), r, "stop", e)) return -1;

    i = 1;
    if (api_opt_int(body, "n", 1, 128, &i, e)) return -1;
    if (i != 1) return rk_fail(e, 400, "n", "only n = 1 is supported; send separate requests for more choices");
    if (!chat) {
        i = 1;
        if (api_opt_int(body, "best_of", 1, 128, &i, e)) return -1;
        if (i != 1) return rk_fail(e, 400, "best_of", "only best_of = 1 is supported");
    }
    json_t *lp = json_object_get(body, "logprobs");
    if (lp && !json_is_null(lp) && !json_is_false(lp) && !(json_is_integer(lp) && json_integer_value(lp) == 0))
        return rk_fail(e, 400, "logprobs", "logprobs are not supported");
    json_t *tlp = json_object_get(body, "top_logprobs");
    if (tlp && !json_is_null(tlp) && !(json_is_integer(tlp) && json_integer_value(tlp) == 0))
        return rk_fail(e, 400, "top_logprobs", "logprobs are not supported");

    json_t *bias = json_object_get(body, "logit_bias");
    if (bias && !json_is_null(bias)) {
        if (!json_is_object(bias))
            return rk_fail(e, 400, "logit_bias", "'logit_bias' must map token ids to numbers");
        size_t n = json_object_size(bias);
        r->logit_bias = calloc(n ? n : 1, sizeof *r->logit_bias);
        if (!r->logit_bias) return rk_fail(e, 500, NULL, "out of memory");
        const char *key;
        json_t *v;
        int k = 0;
        json_object_foreach(bias, key, v) {
            char *end;
            long tok = strtol(key, &end, 10);
            if (end == key || *end || tok < 0 || tok > INT32_MAX)
                return rk_fail(e, 400, "logit_bias", "'logit_bias' key '%s' is not a token id", key);
            if (!json_is_number(v) || json_number_value(v) < -100 || json_number_value(v) > 100)
                return rk_fail(e, 400, "logit_bias", "'logit_bias' values must be numbers from -100 to 100");
            double b = json_number_value(v);
            /* -100 is OpenAI's "never"; make it exact */
            r->logit_bias[k].token = (int32_t)tok;
            r->logit_bias[k].bias = b <= -100 ? -INFINITY : (float)b;
            k++;
        }
        r->sampling.n_logit_bias = k;
    }
    json_t *ka = json_object_get(body, "keep_alive");
    if (ka && !json_is_null(ka)) {
        if (!api_keep_alive(ka, &r->keep_alive_ms))
            return rk_fail(e, 400, "keep_alive", "'keep_alive' must be a duration like \"5m\" or a number of seconds");
        r->has_keep_alive = true;
    }
    return 0;
}

static int format_field(const json_t *body, rk_request *r, rk_error *e)
{
    json_t *rf = json_object_get(body, "response_format");
    if (!rf || json_is_null(rf)) return 0;
    const char *type = json_string_value(json_object_get(rf, "type"));
    if (!json_is_object(rf) || !type)
        return rk_fail(e, 400, "response_format", "'response_format' must be an object with a 'type'");
    if (!strcmp(type, "text")) return 0;
    if (!strcmp(type, "json_object")) {
        r->format = RK_FORMAT_JSON;
        return 0;
    }
    if (strcmp(type, "json_schema") != 0)
        return rk_fail(e, 400, "response_format", "unknown response_format type '%s'", type);
    json_t *js = json_object_get(rf, "json_schema");
    if (!json_is_object(js))
        return rk_fail(e, 400, "response_format", "response_format json_schema needs a 'json_schema' object");
    json_t *schema = json_object_get(js, "schema");
    if (schema && !json_is_null(schema)) return api_json_schema(schema, r, "response_format", e);
    r->format = RK_FORMAT_JSON;
    return 0;
}

static int stream_fields(const json_t *body, rk_request *r, bool *include_usage, rk_error *e)
{
    if (api_opt_bool(body, "stream", &r->stream, e)) return -1;
    json_t *so = json_object_get(body, "stream_options");
    bool usage = false;
    if (so && !json_is_null(so)) {
        if (!json_is_object(so)) return rk_fail(e, 400, "stream_options", "'stream_options' must be an object");
        if (api_opt_bool(so, "include_usage", &usage, e)) return -1;
    }
    if (include_usage) *include_usage = usage;
    return 0;
}

/* An assistant's tool calls as templates expect them: arguments as JSON
 * values rather than the strings OpenAI sends. */
static json_t *template_tool_calls(const json_t *calls, rk_error *e)
{
    if (!json_is_array(calls)) {
        rk_fail(e, 400, "messages", "'tool_calls' must be a list");
        return NULL;
    }
    json_t *out = json_array();
    size_t i;
    json_t *c;
    json_array_foreach(calls, i, c) {
        json_t *fn = json_object_get(c, "function");
        const char *name = json_string_value(json_object_get(fn, "name"));
        if (!json_is_object(c) || !json_is_object(fn) || !name) {
            json_decref(out);
            rk_fail(e, 400, "messages", "each tool call needs a 'function' with a 'name'");
            return NULL;
        }
        json_t *args = json_object_get(fn, "arguments");
        json_t *parsed = NULL;
        if (json_is_string(args)) parsed = json_loads(json_string_value(args), JSON_DECODE_ANY, NULL);
        else if (args) parsed = json_incref(args);
        if (!parsed) parsed = args ? json_incref(args) : json_object();
        json_t *tc = json_pack("{s:s, s:{s:s, s:o}}", "type", "function", "function", "name", name, "arguments", parsed);
        json_t *id = json_object_get(c, "id");
        if (json_is_string(id)) json_object_set(tc, "id", id);
        json_array_append_new(out, tc);
    }
    return out;
}

int openai_chat_request(const json_t *body, rk_request *r, rk_error *e)
{
    openai_defaults(r);
    r->kind = RK_KIND_CHAT;
    if (model_field(body, r, e)) return -1;
    json_t *msgs = json_object_get(body, "messages");
    if (!json_is_array(msgs) || json_array_size(msgs) == 0)
        return rk_fail(e, 400, "messages", "'messages' must be a non-empty list");
    r->messages = json_array();
    size_t i;
    json_t *m;
    json_array_foreach(msgs, i, m) {
        const char *role = json_string_value(json_object_get(m, "role"));
        if (!json_is_object(m) || !role) return rk_fail(e, 400, "messages", "message %zu needs a 'role'", i);
        if (!strcmp(role, "developer")) role = "system";
        if (strcmp(role, "system") && strcmp(role, "user") && strcmp(role, "assistant") && strcmp(role, "tool"))
            return rk_fail(e, 400, "messages", "message %zu has an unknown role '%s'", i, role);
        char *content;
        int crc = !strcmp(role, "user") ? api_content_with_images(json_object_get(m, "content"), "messages", r, &content, e)
                                        : api_content_text(json_object_get(m, "content"), "messages", &content, e);
        if (crc) return -1;
        json_t *tm = json_pack("{s:s, s:s}", "role", role, "content", content);
        free(content);
        if (!tm) return rk_fail(e, 400, "messages", "message %zu: content is not valid UTF-8", i);
        json_array_append_new(r->messages, tm);
        json_t *calls = json_object_get(m, "tool_calls");
        if (calls && !json_is_null(calls) && !strcmp(role, "assistant")) {
            json_t *tc = template_tool_calls(calls, e);
            if (!tc) return -1;
            json_object_set_new(tm, "tool_calls", tc);
        }
        static const char *const passthrough[] = {"tool_call_id", "name", "reasoning_content"};
        for (size_t k = 0; k < 3; k++) {
            json_t *v = json_object_get(m, passthrough[k]);
            if (json_is_string(v)) json_object_set(tm, passthrough[k], v);
        }
    }
    json_t *tools = json_object_get(body, "tools");
    if (tools && !json_is_null(tools)) {
        if (!json_is_array(tools)) return rk_fail(e, 400, "tools", "'tools' must be a list");
        json_array_foreach(tools, i, m) {
            json_t *fn = json_object_get(m, "function");
            if (!json_is_object(m) || !json_is_object(fn) || !json_is_string(json_object_get(fn, "name")))
                return rk_fail(e, 400, "tools", "tool %zu needs a 'function' with a 'name'", i);
        }
        r->tools = json_incref(tools);
    }
    json_t *choice = json_object_get(body, "tool_choice");
    if (choice && !json_is_null(choice)) {
        const char *c = json_string_value(choice);
        const char *named = json_string_value(json_object_get(json_object_get(choice, "function"), "name"));
        if (c && !strcmp(c, "none")) {
            json_decref(r->tools);
            r->tools = NULL;
        } else if (c && !strcmp(c, "required")) {
            r->force_tool_call = true;
        } else if (named) {
            r->force_tool_call = true;
            r->forced_tool = strdup(named);
            if (!r->forced_tool) return rk_fail(e, 500, NULL, "out of memory");
        } else if (!c || strcmp(c, "auto") != 0) {
            return rk_fail(e, 400, "tool_choice",
                           "tool_choice must be \"auto\", \"none\", \"required\" or {\"type\": \"function\", "
                           "\"function\": {\"name\": ...}}");
        }
        if (r->force_tool_call && (!r->tools || json_array_size(r->tools) == 0))
            return rk_fail(e, 400, "tool_choice", "tool_choice asks for a tool call but the request has no tools");
        if (r->forced_tool) {
            bool found = false;
            size_t k;
            json_t *t;
            json_array_foreach(r->tools, k, t) {
                const char *n = json_string_value(json_object_get(json_object_get(t, "function"), "name"));
                if (n && !strcmp(n, r->forced_tool)) found = true;
            }
            if (!found)
                return rk_fail(e, 400, "tool_choice", "tool_choice names '%s', which is not among the tools",
                               r->forced_tool);
        }
    }
    if (api_cache_prompts(body, r, e)) return -1;
    json_t *kwargs = json_object_get(body, "chat_template_kwargs");
    if (kwargs && !json_is_null(kwargs)) {
        if (!json_is_object(kwargs))
            return rk_fail(e, 400, "chat_template_kwargs", "'chat_template_kwargs' must be an object");
        r->template_vars = json_deep_copy(kwargs);
        json_t *et = json_object_get(kwargs, "enable_thinking");
        if (json_is_boolean(et)) r->enable_thinking = json_is_true(et);
    }
    const char *effort = NULL;
    if (api_opt_string(body, "reasoning_effort", &effort, e)) return -1;
    if (effort && r->enable_thinking < 0) {
        if (!strcmp(effort, "none")) r->enable_thinking = 0;
        else if (!strcmp(effort, "minimal") || !strcmp(effort, "low") || !strcmp(effort, "medium") ||
                 !strcmp(effort, "high"))
            r->enable_thinking = 1;
        else return rk_fail(e, 400, "reasoning_effort", "'reasoning_effort' must be none, minimal, low, medium or high");
    }
    if (format_field(body, r, e) || stream_fields(body, r, NULL, e)) return -1;
    return sampling_fields(body, r, true, e);
}

int openai_completion_request(const json_t *body, rk_request *r, rk_error *e)
{
    openai_defaults(r);
    r->kind = RK_KIND_COMPLETION;
    if (model_field(body, r, e)) return -1;
    json_t *p = json_object_get(body, "prompt");
    if (!p) return rk_fail(e, 400, "prompt", "'prompt' is required");
    if (json_is_array(p) && json_array_size(p) == 1 &&
        (json_is_string(json_array_get(p, 0)) || json_is_array(json_array_get(p, 0))))
        p = json_array_get(p, 0);
    if (json_is_string(p)) {
        if (!(r->prompt.text = strndup(json_string_value(p), json_string_length(p))))
            return rk_fail(e, 500, NULL, "out of memory");
    } else if (json_is_array(p) && json_array_size(p) > 0 && json_is_integer(json_array_get(p, 0))) {
        if (api_token_list(p, "prompt", &r->prompt.tokens, &r->prompt.n_tokens, e)) return -1;
    } else if (json_is_array(p) && json_array_size(p) > 1) {
        return rk_fail(e, 400, "prompt", "one prompt per request: send a string, or a list holding one string or token list");
    } else {
        return rk_fail(e, 400, "prompt", "'prompt' must be a string, a list of token ids, or a list of one of those");
    }
    json_t *suffix = json_object_get(body, "suffix");
    if (suffix && !json_is_null(suffix) && !(json_is_string(suffix) && json_string_length(suffix) == 0))
        return rk_fail(e, 400, "suffix", "'suffix' (fill-in-the-middle) is not supported");
    if (stream_fields(body, r, NULL, e)) return -1;
    return sampling_fields(body, r, false, e);
}

int openai_embedding_request(const json_t *body, rk_request *r, rk_error *e)
{
    r->kind = RK_KIND_EMBED;
    r->truncate = false;
    if (model_field(body, r, e)) return -1;
    json_t *in = json_object_get(body, "input");
    if (!in || json_is_null(in)) return rk_fail(e, 400, "input", "'input' is required");
    /* a string, a list of strings, a token list, or a list of token lists */
    bool single = json_is_string(in) || (json_is_array(in) && json_array_size(in) > 0 &&
                                         json_is_integer(json_array_get(in, 0)));
    size_t n = single ? 1 : json_array_size(in);
    if (!single && !json_is_array(in))
        return rk_fail(e, 400, "input", "'input' must be a string, a list of strings, or token lists");
    if (n == 0) return rk_fail(e, 400, "input", "'input' is empty");
    if (n > 2048) return rk_fail(e, 400, "input", "'input' holds more than 2048 items");
    r->inputs = calloc(n, sizeof *r->inputs);
    if (!r->inputs) return rk_fail(e, 500, NULL, "out of memory");
    r->n_inputs = (int)n;
    for (size_t i = 0; i < n; i++) {
        json_t *v = single ? in : json_array_get(in, i);
        if (json_is_string(v)) {
            if (json_string_length(v) == 0) return rk_fail(e, 400, "input", "input %zu is an empty string", i);
            if (!(r->inputs[i].text = strndup(json_string_value(v), json_string_length(v))))
                return rk_fail(e, 500, NULL, "out of memory");
        } else if (json_is_array(v) && json_array_size(v) > 0) {
            if (api_token_list(v, "input", &r->inputs[i].tokens, &r->inputs[i].n_tokens, e)) return -1;
        } else {
            return rk_fail(e, 400, "input", "input %zu must be a non-empty string or token list", i);
        }
    }
    const char *fmt = NULL;
    if (api_opt_string(body, "encoding_format", &fmt, e)) return -1;
    if (fmt && strcmp(fmt, "float") && strcmp(fmt, "base64"))
        return rk_fail(e, 400, "encoding_format", "'encoding_format' must be \"float\" or \"base64\"");
    json_t *ka = json_object_get(body, "keep_alive");
    if (ka && !json_is_null(ka)) {
        if (!api_keep_alive(ka, &r->keep_alive_ms))
            return rk_fail(e, 400, "keep_alive", "'keep_alive' must be a duration like \"5m\" or a number of seconds");
        r->has_keep_alive = true;
    }
    return 0;
}

/* ---- responses -------------------------------------------------------- */

typedef struct {
    char id[64];
    int64_t created;
    bool chat;
    bool include_usage;
    bool echo;
    char *echo_text;
    bool base64;
    int64_t dimensions;
} oa_state;

static void free_state(void *p)
{
    oa_state *st = p;
    if (!st) return;
    free(st->echo_text);
    free(st);
}

static const char *finish_reason(const api_call *c, const rk_result *res)
{
    if (c->parser && chat_output_has_tool_calls(c->parser)) return "tool_calls";
    return res->finish == TEXTGEN_LENGTH ? "length" : "stop";
}

static json_t *usage(const rk_result *res)
{
    json_t *u = json_pack("{s:i, s:i, s:i}", "prompt_tokens", (json_int_t)res->stats.prompt_tokens,
                          "completion_tokens", (json_int_t)res->stats.completion_tokens, "total_tokens",
                          (json_int_t)res->stats.prompt_tokens + res->stats.completion_tokens);
    json_object_set_new(u, "prompt_tokens_details",
                        json_pack("{s:i}", "cached_tokens", (json_int_t)res->stats.reused_tokens));
    return u;
}

/* llama.cpp-style timings, for tools that read them. */
static json_t *timings(const rk_result *res)
{
    const engine_stats *s = &res->stats;
    int prefilled = s->prompt_tokens - s->reused_tokens;
    return json_pack("{s:i, s:i, s:f, s:f, s:i, s:f, s:f, s:f, s:f}", "cache_n", (json_int_t)s->reused_tokens,
                     "prompt_n", (json_int_t)prefilled, "prompt_ms", s->prefill_ms, "prompt_per_second",
                     s->prefill_ms > 0 ? prefilled * 1e3 / s->prefill_ms : 0.0, "predicted_n",
                     (json_int_t)s->completion_tokens, "predicted_ms", s->decode_ms, "predicted_per_second",
                     s->decode_ms > 0 && s->completion_tokens > 1 ? (s->completion_tokens - 1) * 1e3 / s->decode_ms : 0.0,
                     "load_ms", res->load_ms, "queue_ms", res->queue_ms);
}

static json_t *envelope(api_call *c, const char *object)
{
    oa_state *st = c->user;
    return json_pack("{s:s, s:s, s:I, s:s, s:s}", "id", st->id, "object", object, "created", (json_int_t)st->created,
                     "model", c->model, "system_fingerprint", FINGERPRINT);
}

/* The assistant message: the parser's content, reasoning and tool calls. */
static json_t *chat_message_json(api_call *c)
{
    if (!c->parser) return json_pack("{s:s, s:s%}", "role", "assistant", "content", c->text, c->text_len);
    size_t n, nr;
    const char *content = chat_output_content(c->parser, &n);
    const char *reasoning = chat_output_reasoning(c->parser, &nr);
    int calls = chat_output_tool_call_count(c->parser);
    json_t *msg = json_pack("{s:s}", "role", "assistant");
    json_object_set_new(msg, "content", n || !calls ? json_stringn(content, n) : json_null());
    if (nr) json_object_set_new(msg, "reasoning_content", json_stringn(reasoning, nr));
    if (calls) {
        json_t *list = json_array();
        for (int i = 0; i < calls; i++) {
            const chat_tool_call *tc = chat_output_tool_call(c->parser, i);
            json_array_append_new(list, json_pack("{s:s, s:s, s:{s:s, s:s}}", "id", tc->id, "type", "function",
                                                  "function", "name", tc->name, "arguments", tc->arguments));
        }
        json_object_set_new(msg, "tool_calls", list);
    }
    return msg;
}

static void respond_chat(api_call *c, http_req *r, const rk_result *res)
{
    json_t *choice = json_pack("{s:i, s:o, s:n, s:s}", "index", 0, "message", chat_message_json(c), "logprobs",
                               "finish_reason", finish_reason(c, res));
    json_t *out = envelope(c, "chat.completion");
    json_object_set_new(out, "choices", json_pack("[o]", choice));
    json_object_set_new(out, "usage", usage(res));
    json_object_set_new(out, "timings", timings(res));
    http_respond_json(r, 200, out);
}

static json_t *chat_chunk(api_call *c, json_t *delta, const char *finish)
{
    json_t *choice = json_pack("{s:i, s:o, s:n}", "index", 0, "delta", delta, "logprobs");
    json_object_set_new(choice, "finish_reason", finish ? json_string(finish) : json_null());
    json_t *out = envelope(c, "chat.completion.chunk");
    json_object_set_new(out, "choices", json_pack("[o]", choice));
    return out;
}

static void stream_chat_start(api_call *c, const rk_start *st)
{
    (void)st;
    api_call_write_sse(c, chat_chunk(c, json_pack("{s:s, s:s}", "role", "assistant", "content", ""), NULL));
}

static bool stream_chat_text(api_call *c, const char *text, size_t len)
{
    return api_call_write_sse(c, chat_chunk(c, json_pack("{s:s%}", "content", text, len), NULL));
}

static bool stream_chat_delta(api_call *c, const chat_delta *d)
{
    json_t *delta;
    switch (d->kind) {
    case CHAT_DELTA_CONTENT: delta = json_pack("{s:s%}", "content", d->text, d->len); break;
    case CHAT_DELTA_REASONING: delta = json_pack("{s:s%}", "reasoning_content", d->text, d->len); break;
    case CHAT_DELTA_TOOL_CALL_BEGIN:
        delta = json_pack("{s:[{s:i, s:s, s:s, s:{s:s, s:s}}]}", "tool_calls", "index", d->index, "id", d->id, "type",
                          "function", "function", "name", d->name, "arguments", "");
        break;
    default:
        delta = json_pack("{s:[{s:i, s:{s:s%}}]}", "tool_calls", "index", d->index, "function", "arguments", d->text,
                          d->len);
        break;
    }
    return api_call_write_sse(c, chat_chunk(c, delta, NULL));
}

static void stream_error(api_call *c, const rk_result *res)
{
    json_t *err = json_pack("{s:s, s:s}", "message", res->error.message, "type",
                            res->error.type ? res->error.type : "server_error");
    json_object_set_new(err, "param", res->error.param ? json_string(res->error.param) : json_null());
    json_object_set_new(err, "code", res->error.code ? json_string(res->error.code) : json_null());
    api_call_write_sse(c, json_pack("{s:o}", "error", err));
}

static void stream_usage_and_done(api_call *c, const rk_result *res, const char *object)
{
    oa_state *st = c->user;
    if (st->include_usage) {
        json_t *u = envelope(c, object);
        json_object_set_new(u, "choices", json_array());
        json_object_set_new(u, "usage", usage(res));
        json_object_set_new(u, "timings", timings(res));
        api_call_write_sse(c, u);
    }
    api_call_write(c, "data: [DONE]\n\n", 14);
}

static void stream_chat_done(api_call *c, const rk_result *res)
{
    if (res->error.status) stream_error(c, res);
    else api_call_write_sse(c, chat_chunk(c, json_object(), finish_reason(c, res)));
    stream_usage_and_done(c, res, "chat.completion.chunk");
}

static const api_call_ops CHAT_OPS = {
    .on_start = stream_chat_start,
    .on_text = stream_chat_text,
    .on_delta = stream_chat_delta,
    .on_done = stream_chat_done,
    .respond = respond_chat,
    .stream_content_type = "text/event-stream; charset=utf-8",
};

static void respond_completion(api_call *c, http_req *r, const rk_result *res)
{
    oa_state *st = c->user;
    json_t *text;
    if (st->echo && st->echo_text) {
        size_t ne = strlen(st->echo_text);
        char *both = malloc(ne + c->text_len + 1);
        if (!both) {
            http_respond_errorf(r, 500, NULL, "out of memory");
            return;
        }
        memcpy(both, st->echo_text, ne);
        memcpy(both + ne, c->text, c->text_len + 1);
        text = json_stringn(both, ne + c->text_len);
        free(both);
    } else {
        text = json_stringn(c->text, c->text_len);
    }
    json_t *choice = json_pack("{s:o, s:i, s:n, s:s}", "text", text, "index", 0, "logprobs", "finish_reason",
                               finish_reason(c, res));
    json_t *out = envelope(c, "text_completion");
    json_object_set_new(out, "choices", json_pack("[o]", choice));
    json_object_set_new(out, "usage", usage(res));
    json_object_set_new(out, "timings", timings(res));
    http_respond_json(r, 200, out);
}

static json_t *completion_chunk(api_call *c, const char *text, size_t len, const char *finish)
{
    json_t *choice = json_pack("{s:s%, s:i, s:n}", "text", text, len, "index", 0, "logprobs");
    json_object_set_new(choice, "finish_reason", finish ? json_string(finish) : json_null());
    json_t *out = envelope(c, "text_completion");
    json_object_set_new(out, "choices", json_pack("[o]", choice));
    return out;
}

static void stream_completion_start(api_call *c, const rk_start *st)
{
    (void)st;
    oa_state *s = c->user;
    if (s->echo && s->echo_text) api_call_write_sse(c, completion_chunk(c, s->echo_text, strlen(s->echo_text), NULL));
}

static bool stream_completion_text(api_call *c, const char *text, size_t len)
{
    return api_call_write_sse(c, completion_chunk(c, text, len, NULL));
}

static void stream_completion_done(api_call *c, const rk_result *res)
{
    if (res->error.status) stream_error(c, res);
    else api_call_write_sse(c, completion_chunk(c, "", 0, finish_reason(c, res)));
    stream_usage_and_done(c, res, "text_completion");
}

static const api_call_ops COMPLETION_OPS = {
    .on_start = stream_completion_start,
    .on_text = stream_completion_text,
    .on_done = stream_completion_done,
    .respond = respond_completion,
    .stream_content_type = "text/event-stream; charset=utf-8",
};

static void respond_embeddings(api_call *c, http_req *r, const rk_result *res)
{
    oa_state *st = c->user;
    if (st->dimensions && st->dimensions != res->n_embd) {
        http_respond_errorf(r, 400, "dimensions", "this model's embeddings have %d dimensions, not %lld", res->n_embd,
                            (long long)st->dimensions);
        return;
    }
    json_t *data = json_array();
    for (int i = 0; i < res->n_embeddings; i++) {
        const float *v = res->embeddings + (size_t)i * res->n_embd;
        json_t *emb;
        if (st->base64) {
            char *b = b64_encode((const uint8_t *)v, (size_t)res->n_embd * sizeof(float), false, true);
            emb = b ? json_string(b) : NULL;
            free(b);
        } else {
            emb = json_array();
            for (int j = 0; j < res->n_embd; j++) json_array_append_new(emb, json_real(v[j]));
        }
        json_array_append_new(data, json_pack("{s:s, s:i, s:o}", "object", "embedding", "index", i, "embedding", emb));
    }
    json_t *out = json_pack("{s:s, s:o, s:s, s:{s:I, s:I}}", "object", "list", "data", data, "model", c->model, "usage",
                            "prompt_tokens", (json_int_t)res->embed_tokens, "total_tokens",
                            (json_int_t)res->embed_tokens);
    http_respond_json(r, 200, out);
}

static const api_call_ops EMBED_OPS = {.respond = respond_embeddings};

/* ---- handlers ----------------------------------------------------------- */

typedef int (*translate_fn)(const json_t *, rk_request *, rk_error *);

/* A sidecar's default options fill in what the body does not set. */
static void model_defaults(void *app, const json_t *body, rk_request *req)
{
    api_app *a = app;
    json_t *params = sched_model_parameters(a->sched, req->model);
    if (!params) return;
    static const char *const map[][2] = {
        {"temperature", "temperature"}, {"top_p", "top_p"}, {"top_k", "top_k"}, {"min_p", "min_p"},
        {"repeat_penalty", "repeat_penalty"}, {"repeat_last_n", "repeat_last_n"}, {"seed", "seed"},
        {"stop", "stop"}, {"frequency_penalty", "frequency_penalty"}, {"presence_penalty", "presence_penalty"},
        {"max_tokens", "num_predict"}, {"max_completion_tokens", "num_predict"},
    };
    json_t *given = json_object();
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++) {
        json_t *v = json_object_get(body, map[i][0]);
        if (v && !json_is_null(v)) json_object_set_new(given, map[i][1], json_true());
    }
    api_apply_defaults(req, params, given);
    json_decref(given);
    json_decref(params);
}

/* body: parsed, taken over. */
static void run(http_req *r, void *app, json_t *body, translate_fn translate, const api_call_ops *ops,
                const char *id_prefix, bool chat)
{
    rk_error e;
    rk_request *req = request_new();
    oa_state *st = calloc(1, sizeof *st);
    if (!req || !st) {
        json_decref(body);
        request_destroy(req);
        free(st);
        http_respond_errorf(r, 500, NULL, "out of memory");
        return;
    }
    int rc = translate(body, req, &e);
    if (rc == 0 && ops == &COMPLETION_OPS) {
        if (api_opt_bool(body, "echo", &st->echo, &e)) rc = -1;
        else if (st->echo && !req->prompt.text)
            rc = rk_fail(&e, 400, "echo", "'echo' needs a text prompt");
        else if (st->echo && !(st->echo_text = strdup(req->prompt.text)))
            rc = rk_fail(&e, 500, NULL, "out of memory");
    }
    if (rc == 0 && ops != &EMBED_OPS) {
        rc = stream_fields(body, req, &st->include_usage, &e);
    }
    if (rc == 0 && ops == &EMBED_OPS) {
        const char *fmt = NULL;
        api_opt_string(body, "encoding_format", &fmt, &e);
        st->base64 = fmt && !strcmp(fmt, "base64");
        if (api_opt_int(body, "dimensions", 1, 1 << 20, &st->dimensions, &e)) rc = -1;
    }
    if (rc == 0 && ops != &EMBED_OPS) model_defaults(app, body, req);
    json_decref(body);
    if (rc != 0) {
        request_destroy(req);
        free_state(st);
        http_respond_error(r, &e);
        return;
    }
    api_random_id(st->id, sizeof st->id, id_prefix);
    st->created = (int64_t)api_unix_now();
    st->chat = chat;
    api_run(r, app, req, ops, st, free_state);
}

static json_t *body_or_error(http_req *r)
{
    rk_error e;
    json_t *body = http_json_body(r, &e);
    if (!body) http_respond_error(r, &e);
    return body;
}

static void h_chat(http_req *r, void *app)
{
    json_t *body = body_or_error(r);
    if (body) run(r, app, body, openai_chat_request, &CHAT_OPS, "chatcmpl-", true);
}

/* Several prompts in one completion request: each runs as its own request
 * (one after another) and becomes choice i; usage is summed. */
static void completion_batch(http_req *r, void *app, json_t *body)
{
    json_t *prompts = json_object_get(body, "prompt");
    size_t n = json_array_size(prompts);
    bool stream = false, echo = false;
    rk_error e;
    if (api_opt_bool(body, "stream", &stream, &e) || api_opt_bool(body, "echo", &echo, &e)) {
        http_respond_error(r, &e);
        return;
    }
    if (stream) {
        http_respond_errorf(r, 400, "prompt", "stream one prompt per request; several prompts are answered whole");
        return;
    }
    if (n > 64) {
        http_respond_errorf(r, 400, "prompt", "at most 64 prompts per request");
        return;
    }
    json_t *choices = json_array();
    int64_t prompt_tokens = 0, completion_tokens = 0, cached = 0;
    char model[256] = "";
    for (size_t i = 0; i < n; i++) {
        json_t *one = json_copy(body);
        json_object_set(one, "prompt", json_array_get(prompts, i));
        rk_request *req = request_new();
        int rc = req ? openai_completion_request(one, req, &e) : rk_fail(&e, 500, NULL, "out of memory");
        char *echo_text = rc == 0 && echo && req->prompt.text ? strdup(req->prompt.text) : NULL;
        if (rc == 0 && echo && !req->prompt.text) rc = rk_fail(&e, 400, "echo", "'echo' needs text prompts");
        if (rc == 0) model_defaults(app, one, req);
        json_decref(one);
        rk_result res;
        char *text = NULL;
        size_t len = 0;
        if (rc == 0) rc = api_run_wait(r, app, req, &res, &text, &len, model, sizeof model, &e);
        else request_destroy(req);
        if (rc != 0) {
            free(echo_text);
            json_decref(choices);
            if (e.status != 499) snprintf(e.message + strlen(e.message), sizeof e.message - strlen(e.message), " (prompt %zu)", i);
            http_respond_error(r, &e);
            return;
        }
        size_t ne = echo_text ? strlen(echo_text) : 0;
        char *both = malloc(ne + len + 1);
        if (both) {
            memcpy(both, echo_text ? echo_text : "", ne);
            memcpy(both + ne, text, len + 1);
        }
        json_t *choice = json_pack("{s:s%, s:I, s:n, s:s}", "text", both ? both : "", both ? ne + len : 0, "index",
                                   (json_int_t)i, "logprobs", "finish_reason",
                                   res.finish == TEXTGEN_LENGTH ? "length" : "stop");
        json_array_append_new(choices, choice);
        free(both);
        free(text);
        free(echo_text);
        prompt_tokens += res.stats.prompt_tokens;
        completion_tokens += res.stats.completion_tokens;
        cached += res.stats.reused_tokens;
    }
    char id[64];
    api_random_id(id, sizeof id, "cmpl-");
    json_t *out = json_pack("{s:s, s:s, s:I, s:s, s:s, s:o}", "id", id, "object", "text_completion", "created",
                            (json_int_t)api_unix_now(), "model", model, "system_fingerprint", FINGERPRINT, "choices",
                            choices);
    json_object_set_new(out, "usage",
                        json_pack("{s:I, s:I, s:I, s:{s:I}}", "prompt_tokens", (json_int_t)prompt_tokens,
                                  "completion_tokens", (json_int_t)completion_tokens, "total_tokens",
                                  (json_int_t)(prompt_tokens + completion_tokens), "prompt_tokens_details",
                                  "cached_tokens", (json_int_t)cached));
    http_respond_json(r, 200, out);
}

static void h_completions(http_req *r, void *app)
{
    json_t *body = body_or_error(r);
    if (!body) return;
    json_t *p = json_object_get(body, "prompt");
    if (json_is_array(p) && json_array_size(p) > 1 &&
        (json_is_string(json_array_get(p, 0)) || json_is_array(json_array_get(p, 0)))) {
        completion_batch(r, app, body);
        json_decref(body);
        return;
    }
    run(r, app, body, openai_completion_request, &COMPLETION_OPS, "cmpl-", false);
}

static void h_embeddings(http_req *r, void *app)
{
    json_t *body = body_or_error(r);
    if (body) run(r, app, body, openai_embedding_request, &EMBED_OPS, "emb-", false);
}

static json_t *model_object(const sched_model_status *m)
{
    return json_pack("{s:s, s:s, s:I, s:s}", "id", m->name, "object", "model", "created", (json_int_t)m->modified,
                     "owned_by", "rkserve");
}

static void h_models(http_req *r, void *app)
{
    api_app *a = app;
    sched_model_status *ms;
    int n = sched_models(a->sched, false, &ms);
    if (n < 0) {
        http_respond_errorf(r, 500, NULL, "out of memory");
        return;
    }
    json_t *data = json_array();
    for (int i = 0; i < n; i++) json_array_append_new(data, model_object(&ms[i]));
    sched_models_free(ms, n);
    http_respond_json(r, 200, json_pack("{s:s, s:o}", "object", "list", "data", data));
}

static void h_model(http_req *r, void *app)
{
    api_app *a = app;
    const char *id = http_path_rest(r);
    sched_model_status m;
    rk_error e;
    if (sched_lookup(a->sched, id, &m, &e) != 0) {
        http_respond_error(r, &e);
        return;
    }
    http_respond_json(r, 200, model_object(&m));
    sched_status_clear(&m);
}

static const http_route ROUTES[] = {
    {"GET", "/v1/models", HTTP_STYLE_OPENAI, false, h_models},
    {"GET", "/v1/models/*", HTTP_STYLE_OPENAI, false, h_model},
    {"POST", "/v1/chat/completions", HTTP_STYLE_OPENAI, false, h_chat},
    {"POST", "/v1/completions", HTTP_STYLE_OPENAI, false, h_completions},
    {"POST", "/v1/embeddings", HTTP_STYLE_OPENAI, false, h_embeddings},
};

int openai_routes(const http_route **out)
{
    *out = ROUTES;
    return (int)(sizeof ROUTES / sizeof ROUTES[0]);
}
