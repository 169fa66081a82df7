/* The Ollama API as the official client speaks it: / and /api/... for
 * generate, chat, embeddings and model management. Streams are NDJSON, on
 * by default, ending with an object that has done: true and the timings in
 * nanoseconds. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api/api.h"

static int model_field(const json_t *body, rk_request *r, rk_error *e)
{
    const char *model = NULL;
    if (api_opt_string(body, "model", &model, e)) return -1;
    if (!model && api_opt_string(body, "name", &model, e)) return -1; /* older clients */
    if (!model || !*model) return rk_fail(e, 400, "model", "model is required");
    if (!(r->model = strdup(model))) return rk_fail(e, 500, NULL, "out of memory");
    return 0;
}

static int options_field(const json_t *body, rk_request *r, rk_error *e)
{
    json_t *o = json_object_get(body, "options");
    if (!o || json_is_null(o)) return 0;
    if (!json_is_object(o)) return rk_fail(e, 400, "options", "options must be an object");
    double d;
    int64_t i;
    d = r->sampling.temperature;
    if (api_opt_number(o, "temperature", 0, 100, &d, e)) return -1;
    r->sampling.temperature = (float)d;
    i = r->sampling.top_k;
    if (api_opt_int(o, "top_k", -1, 1 << 30, &i, e)) return -1;
    r->sampling.top_k = (int32_t)(i < 0 ? 0 : i);
    d = r->sampling.top_p;
    if (api_opt_number(o, "top_p", 0, 1, &d, e)) return -1;
    r->sampling.top_p = (float)d;
    d = r->sampling.min_p;
    if (api_opt_number(o, "min_p", 0, 1, &d, e)) return -1;
    r->sampling.min_p = (float)d;
    d = r->sampling.repeat_penalty;
    if (api_opt_number(o, "repeat_penalty", 0, 100, &d, e)) return -1;
    r->sampling.repeat_penalty = (float)d;
    i = r->sampling.repeat_last_n;
    if (api_opt_int(o, "repeat_last_n", -1, 1 << 30, &i, e)) return -1;
    r->sampling.repeat_last_n = (int32_t)i;
    d = r->sampling.frequency_penalty;
    if (api_opt_number(o, "frequency_penalty", -100, 100, &d, e)) return -1;
    r->sampling.frequency_penalty = (float)d;
    d = r->sampling.presence_penalty;
    if (api_opt_number(o, "presence_penalty", -100, 100, &d, e)) return -1;
    r->sampling.presence_penalty = (float)d;
    json_t *seed = json_object_get(o, "seed");
    if (seed && !json_is_null(seed)) {
        if (!json_is_integer(seed)) return rk_fail(e, 400, "seed", "options.seed must be an integer");
        r->sampling.seed = (uint64_t)json_integer_value(seed);
    }
    i = -1;
    if (api_opt_int(o, "num_predict", -2, INT32_MAX, &i, e)) return -1;
    r->max_tokens = (int32_t)(i < 0 ? -1 : i);
    i = 0;
    if (api_opt_int(o, "num_ctx", 0, INT32_MAX, &i, e)) return -1;
    r->num_ctx = (int32_t)i;
    /* Ollama shifts a full context instead of ending the answer, keeping
     * num_keep tokens from the start (its default is 4) */
    i = 4;
    if (api_opt_int(o, "num_keep", -1, INT32_MAX, &i, e)) return -1;
    r->n_keep = (int32_t)i;
    if (api_stop(json_object_get(o, "stop"), r, "stop", e)) return -1;
    return 0;
}

/* Common tail of generate and chat: stream (on by default), format,
 * keep_alive, think, options. */
static int common_fields(const json_t *body, rk_request *r, rk_error *e)
{
    r->stream = true;
    if (api_opt_bool(body, "stream", &r->stream, e)) return -1;
    json_t *fmt = json_object_get(body, "format");
    if (fmt && !json_is_null(fmt) && !(json_is_string(fmt) && json_string_length(fmt) == 0)) {
        if (json_is_string(fmt) && !strcmp(json_string_value(fmt), "json")) r->format = RK_FORMAT_JSON;
        else if (json_is_object(fmt)) {
            if (api_json_schema(fmt, r, "format", e)) return -1;
        } else {
            return rk_fail(e, 400, "format", "format must be \"json\" or a JSON schema");
        }
    }
    json_t *ka = json_object_get(body, "keep_alive");
    if (ka && !json_is_null(ka)) {
        if (!api_keep_alive(ka, &r->keep_alive_ms))
            return rk_fail(e, 400, "keep_alive", "keep_alive must be a duration like \"5m\" or a number of seconds");
        r->has_keep_alive = true;
    }
    json_t *think = json_object_get(body, "think");
    if (think && !json_is_null(think)) {
        if (json_is_boolean(think)) r->enable_thinking = json_is_true(think);
        else if (json_is_string(think)) r->enable_thinking = 1; /* "low", "medium", "high" */
        else return rk_fail(e, 400, "think", "think must be true, false, or a level");
    }
    return options_field(body, r, e);
}

static bool has_images(const json_t *obj)
{
    json_t *imgs = json_object_get(obj, "images");
    return json_is_array(imgs) ? json_array_size(imgs) > 0 : (imgs && !json_is_null(imgs));
}

int ollama_generate_request(const json_t *body, rk_request *r, rk_error *e)
{
    if (model_field(body, r, e)) return -1;
    const char *prompt = "", *system = NULL, *suffix = NULL, *tmpl = NULL;
    bool raw = false;
    if (api_opt_string(body, "prompt", &prompt, e) || api_opt_string(body, "system", &system, e) ||
        api_opt_string(body, "suffix", &suffix, e) || api_opt_string(body, "template", &tmpl, e) ||
        api_opt_bool(body, "raw", &raw, e))
        return -1;
    if (suffix && *suffix) return rk_fail(e, 400, "suffix", "suffix (fill-in-the-middle) is not supported");
    if (tmpl && *tmpl)
        return rk_fail(e, 400, "template",
                       "template overrides are Go templates, which this server does not run; leave template empty "
                       "(the model's own chat template is used) or send raw: true with a formatted prompt");
    json_t *ctx = json_object_get(body, "context");
    if (json_is_array(ctx) && json_array_size(ctx) > 0)
        return rk_fail(e, 400, "context", "context (the deprecated token history) is not supported; use /api/chat");
    if (common_fields(body, r, e)) return -1;
    if (!*prompt) {
        if (has_images(body)) return rk_fail(e, 400, "prompt", "images need a prompt");
        r->kind = RK_KIND_LOAD;
        return 0;
    }
    char *marks;
    if (api_ollama_images(body, r, &marks, e)) return -1;
    if (raw) {
        /* a raw prompt places the images itself, with the model's image marker */
        free(marks);
        r->kind = RK_KIND_COMPLETION;
        if (!(r->prompt.text = strdup(prompt))) return rk_fail(e, 500, NULL, "out of memory");
        return 0;
    }
    r->kind = RK_KIND_CHAT;
    r->messages = json_array();
    if (system && *system) json_array_append_new(r->messages, json_pack("{s:s, s:s}", "role", "system", "content", system));
    json_t *user = json_pack("{s:s, s:s+}", "role", "user", "content", marks ? marks : "", prompt);
    free(marks);
    if (!user) return rk_fail(e, 400, "prompt", "prompt is not valid UTF-8");
    json_array_append_new(r->messages, user);
    return 0;
}

int ollama_chat_request(const json_t *body, rk_request *r, rk_error *e)
{
    if (model_field(body, r, e)) return -1;
    json_t *msgs = json_object_get(body, "messages");
    if (msgs && !json_is_null(msgs) && !json_is_array(msgs)) return rk_fail(e, 400, "messages", "messages must be a list");
    if (common_fields(body, r, e)) return -1;
    if (json_array_size(msgs) == 0) {
        r->kind = RK_KIND_LOAD;
        return 0;
    }
    r->kind = RK_KIND_CHAT;
    if (api_cache_prompts(body, r, e)) return -1;
    r->messages = json_array();
    size_t i;
    json_t *m;
    json_array_foreach(msgs, i, m) {
        const char *role = json_string_value(json_object_get(m, "role"));
        if (!json_is_object(m) || !role) return rk_fail(e, 400, "messages", "message %zu needs a role", i);
        if (strcmp(role, "system") && strcmp(role, "user") && strcmp(role, "assistant") && strcmp(role, "tool"))
            return rk_fail(e, 400, "messages", "message %zu has an unknown role '%s'", i, role);
        json_t *content = json_object_get(m, "content");
        if (content && !json_is_null(content) && !json_is_string(content))
            return rk_fail(e, 400, "messages", "message %zu: content must be a string", i);
        char *marks = NULL;
        if (has_images(m) && strcmp(role, "user") != 0)
            return rk_fail(e, 400, "images", "message %zu: only user messages may carry images", i);
        if (api_ollama_images(m, r, &marks, e)) return -1;
        json_t *tm = json_pack("{s:s, s:s+}", "role", role, "content", marks ? marks : "",
                               content ? json_string_value(content) : "");
        free(marks);
        if (!tm) return rk_fail(e, 400, "messages", "message %zu: content is not valid UTF-8", i);
        json_array_append_new(r->messages, tm);
        json_t *calls = json_object_get(m, "tool_calls");
        if (json_is_array(calls) && json_array_size(calls) > 0) {
            json_t *out = json_array();
            size_t k;
            json_t *c;
            json_array_foreach(calls, k, c) {
                json_t *fn = json_object_get(c, "function");
                const char *name = json_string_value(json_object_get(fn, "name"));
                if (!name) {
                    json_decref(out);
                    return rk_fail(e, 400, "messages", "each tool call needs a function with a name");
                }
                json_t *args = json_object_get(fn, "arguments");
                json_array_append_new(out, json_pack("{s:s, s:{s:s, s:o}}", "type", "function", "function", "name",
                                                     name, "arguments", args ? json_incref(args) : json_object()));
            }
            json_object_set_new(tm, "tool_calls", out);
        }
        json_t *thinking = json_object_get(m, "thinking");
        if (json_is_string(thinking)) json_object_set(tm, "reasoning_content", thinking);
        json_t *tool_name = json_object_get(m, "tool_name");
        if (json_is_string(tool_name)) json_object_set(tm, "name", tool_name);
    }
    json_t *tools = json_object_get(body, "tools");
    if (tools && !json_is_null(tools)) {
        if (!json_is_array(tools)) return rk_fail(e, 400, "tools", "tools must be a list");
        json_array_foreach(tools, i, m) {
            json_t *fn = json_object_get(m, "function");
            if (!json_is_object(m) || !json_is_object(fn) || !json_is_string(json_object_get(fn, "name")))
                return rk_fail(e, 400, "tools", "tool %zu needs a function with a name", i);
        }
        r->tools = json_incref(tools);
    }
    return 0;
}

static int embed_common(const json_t *body, rk_request *r, rk_error *e)
{
    r->kind = RK_KIND_EMBED;
    if (model_field(body, r, e)) return -1;
    json_t *ka = json_object_get(body, "keep_alive");
    if (ka && !json_is_null(ka)) {
        if (!api_keep_alive(ka, &r->keep_alive_ms))
            return rk_fail(e, 400, "keep_alive", "keep_alive must be a duration like \"5m\" or a number of seconds");
        r->has_keep_alive = true;
    }
    json_t *o = json_object_get(body, "options");
    if (o && !json_is_null(o) && !json_is_object(o)) return rk_fail(e, 400, "options", "options must be an object");
    return 0;
}

int ollama_embed_request(const json_t *body, rk_request *r, rk_error *e)
{
    if (embed_common(body, r, e)) return -1;
    r->truncate = true;
    if (api_opt_bool(body, "truncate", &r->truncate, e)) return -1;
    json_t *in = json_object_get(body, "input");
    if (!in || json_is_null(in)) return rk_fail(e, 400, "input", "input is required");
    size_t n = json_is_string(in) ? 1 : json_array_size(in);
    if (!json_is_string(in) && !json_is_array(in))
        return rk_fail(e, 400, "input", "input must be a string or a list of strings");
    if (n == 0) return rk_fail(e, 400, "input", "input is empty");
    if (n > 2048) return rk_fail(e, 400, "input", "input holds more than 2048 items");
    r->inputs = calloc(n, sizeof *r->inputs);
    if (!r->inputs) return rk_fail(e, 500, NULL, "out of memory");
    r->n_inputs = (int)n;
    for (size_t i = 0; i < n; i++) {
        json_t *v = json_is_string(in) ? in : json_array_get(in, i);
        if (!json_is_string(v) || json_string_length(v) == 0)
            return rk_fail(e, 400, "input", "input %zu must be a non-empty string", i);
        if (!(r->inputs[i].text = strndup(json_string_value(v), json_string_length(v))))
            return rk_fail(e, 500, NULL, "out of memory");
    }
    return 0;
}

int ollama_embeddings_request(const json_t *body, rk_request *r, rk_error *e)
{
    if (embed_common(body, r, e)) return -1;
    const char *prompt = NULL;
    if (api_opt_string(body, "prompt", &prompt, e)) return -1;
    if (!prompt || !*prompt) return rk_fail(e, 400, "prompt", "prompt is required");
    r->inputs = calloc(1, sizeof *r->inputs);
    if (!r->inputs || !(r->inputs[0].text = strdup(prompt))) return rk_fail(e, 500, NULL, "out of memory");
    r->n_inputs = 1;
    return 0;
}

/* ---- responses -------------------------------------------------------- */

typedef struct {
    bool chat;            /* message objects instead of response strings */
    bool legacy_embed;    /* /api/embeddings */
    bool unload_after;    /* empty prompt with keep_alive 0 */
} ol_state;

static json_t *base(api_call *c)
{
    char ts[64];
    api_rfc3339(ts, sizeof ts, api_unix_now());
    return json_pack("{s:s, s:s}", "model", c->model, "created_at", ts);
}

static void put_text(json_t *o, bool chat, const char *text, size_t len)
{
    if (chat) json_object_set_new(o, "message", json_pack("{s:s, s:s%}", "role", "assistant", "content", text, len));
    else json_object_set_new(o, "response", json_stringn(text, len));
}

/* Ollama's tool call: arguments as a JSON object, not text. */
static json_t *tool_call_json(int index, const char *name, const char *args)
{
    json_t *a = json_loads(args, JSON_DECODE_ANY, NULL);
    if (!a) a = json_object();
    return json_pack("{s:{s:i, s:s, s:o}}", "function", "index", index, "name", name, "arguments", a);
}

/* The parsed message: content, thinking and tool calls. */
static void put_parsed(api_call *c, json_t *o, bool chat)
{
    if (!c->parser) {
        put_text(o, chat, c->text, c->text_len);
        return;
    }
    size_t n, nr;
    const char *content = chat_output_content(c->parser, &n);
    const char *reasoning = chat_output_reasoning(c->parser, &nr);
    put_text(o, chat, content, n);
    json_t *target = chat ? json_object_get(o, "message") : o;
    if (nr) json_object_set_new(target, "thinking", json_stringn(reasoning, nr));
    int calls = chat_output_tool_call_count(c->parser);
    if (calls && chat) {
        json_t *list = json_array();
        for (int i = 0; i < calls; i++) {
            const chat_tool_call *tc = chat_output_tool_call(c->parser, i);
            json_array_append_new(list, tool_call_json(i, tc->name, tc->arguments));
        }
        json_object_set_new(target, "tool_calls", list);
    }
}

static const char *done_reason(const rk_result *res)
{
    return res->finish == TEXTGEN_LENGTH ? "length" : "stop";
}

static void put_final(api_call *c, json_t *o, const rk_result *res, const char *reason)
{
    double total_ms = 0;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    total_ms = ts.tv_sec * 1e3 + ts.tv_nsec / 1e6 - c->t_arrival;
    json_object_set_new(o, "done", json_true());
    json_object_set_new(o, "done_reason", json_string(reason));
    json_object_set_new(o, "total_duration", json_integer((json_int_t)llround(total_ms * 1e6)));
    json_object_set_new(o, "load_duration", json_integer((json_int_t)llround(res->load_ms * 1e6)));
    json_object_set_new(o, "prompt_eval_count", json_integer(res->stats.prompt_tokens));
    json_object_set_new(o, "prompt_eval_duration", json_integer((json_int_t)llround(res->stats.prefill_ms * 1e6)));
    json_object_set_new(o, "eval_count", json_integer(res->stats.completion_tokens));
    json_object_set_new(o, "eval_duration", json_integer((json_int_t)llround(res->stats.decode_ms * 1e6)));
}

static void respond_generate(api_call *c, http_req *r, const rk_result *res)
{
    ol_state *st = c->user;
    json_t *o = base(c);
    put_parsed(c, o, st->chat);
    put_final(c, o, res, done_reason(res));
    http_respond_json(r, 200, o);
}

static bool stream_text(api_call *c, const char *text, size_t len)
{
    ol_state *st = c->user;
    json_t *o = base(c);
    put_text(o, st->chat, text, len);
    json_object_set_new(o, "done", json_false());
    return api_call_write_ndjson(c, o);
}

static bool stream_delta(api_call *c, const chat_delta *d)
{
    ol_state *st = c->user;
    if (d->kind == CHAT_DELTA_TOOL_CALL_BEGIN) return true; /* arguments come whole in the next delta */
    json_t *o = base(c);
    if (d->kind == CHAT_DELTA_CONTENT) {
        put_text(o, st->chat, d->text, d->len);
    } else {
        put_text(o, st->chat, "", 0);
        json_t *target = st->chat ? json_object_get(o, "message") : o;
        if (d->kind == CHAT_DELTA_REASONING) json_object_set_new(target, "thinking", json_stringn(d->text, d->len));
        else if (st->chat) json_object_set_new(target, "tool_calls", json_pack("[o]", tool_call_json(d->index, d->name, d->text)));
    }
    json_object_set_new(o, "done", json_false());
    return api_call_write_ndjson(c, o);
}

static void stream_done(api_call *c, const rk_result *res)
{
    ol_state *st = c->user;
    if (res->error.status) {
        api_call_write_ndjson(c, json_pack("{s:s}", "error", res->error.message));
        return;
    }
    json_t *o = base(c);
    put_text(o, st->chat, "", 0);
    put_final(c, o, res, done_reason(res));
    api_call_write_ndjson(c, o);
}

static const api_call_ops GENERATE_OPS = {
    .on_text = stream_text,
    .on_delta = stream_delta,
    .on_done = stream_done,
    .respond = respond_generate,
    .stream_content_type = "application/x-ndjson",
};

/* Empty prompt: the model is loaded (and kept per keep_alive). */
static void respond_load(api_call *c, http_req *r, const rk_result *res)
{
    (void)res;
    ol_state *st = c->user;
    json_t *o = base(c);
    put_text(o, st->chat, "", 0);
    json_object_set_new(o, "done", json_true());
    json_object_set_new(o, "done_reason", json_string("load"));
    http_respond_json(r, 200, o);
}

static const api_call_ops LOAD_OPS = {.respond = respond_load};

static void respond_embed(api_call *c, http_req *r, const rk_result *res)
{
    ol_state *st = c->user;
    if (st->legacy_embed) {
        json_t *v = json_array();
        for (int j = 0; j < res->n_embd && res->n_embeddings > 0; j++) json_array_append_new(v, json_real(res->embeddings[j]));
        http_respond_json(r, 200, json_pack("{s:o}", "embedding", v));
        return;
    }
    json_t *rows = json_array();
    for (int i = 0; i < res->n_embeddings; i++) {
        json_t *v = json_array();
        for (int j = 0; j < res->n_embd; j++) json_array_append_new(v, json_real(res->embeddings[(size_t)i * res->n_embd + j]));
        json_array_append_new(rows, v);
    }
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    double total_ms = ts.tv_sec * 1e3 + ts.tv_nsec / 1e6 - c->t_arrival;
    json_t *o = json_pack("{s:s, s:o, s:I, s:I, s:I}", "model", c->model, "embeddings", rows, "total_duration",
                          (json_int_t)llround(total_ms * 1e6), "load_duration", (json_int_t)llround(res->load_ms * 1e6),
                          "prompt_eval_count", (json_int_t)res->embed_tokens);
    http_respond_json(r, 200, o);
}

static const api_call_ops EMBED_OPS = {.respond = respond_embed};

/* ---- handlers ------------------------------------------------------------ */

typedef int (*translate_fn)(const json_t *, rk_request *, rk_error *);

static void unload_now(http_req *r, api_app *a, const char *model, bool chat)
{
    rk_error e;
    if (sched_unload(a->sched, model, 30000, &e) == -1) {
        http_respond_error(r, &e);
        return;
    }
    char ts[64];
    api_rfc3339(ts, sizeof ts, api_unix_now());
    json_t *o = json_pack("{s:s, s:s}", "model", model, "created_at", ts);
    if (chat) json_object_set_new(o, "message", json_pack("{s:s, s:s}", "role", "assistant", "content", ""));
    else json_object_set_new(o, "response", json_string(""));
    json_object_set_new(o, "done", json_true());
    json_object_set_new(o, "done_reason", json_string("unload"));
    http_respond_json(r, 200, o);
}

static void run(http_req *r, void *app, translate_fn translate, bool chat, bool legacy_embed)
{
    rk_error e;
    json_t *body = http_json_body(r, &e);
    if (!body) {
        http_respond_error(r, &e);
        return;
    }
    rk_request *req = request_new();
    ol_state *st = calloc(1, sizeof *st);
    if (!req || !st) {
        json_decref(body);
        request_destroy(req);
        free(st);
        http_respond_errorf(r, 500, NULL, "out of memory");
        return;
    }
    int rc = translate(body, req, &e);
    if (rc == 0 && req->kind != RK_KIND_EMBED && req->kind != RK_KIND_LOAD) {
        /* a sidecar's default options fill in what options does not set */
        json_t *params = sched_model_parameters(((api_app *)app)->sched, req->model);
        if (params) api_apply_defaults(req, params, json_object_get(body, "options"));
        json_decref(params);
    }
    json_decref(body);
    if (rc != 0) {
        request_destroy(req);
        free(st);
        http_respond_error(r, &e);
        return;
    }
    st->chat = chat;
    st->legacy_embed = legacy_embed;
    if (req->kind == RK_KIND_LOAD && req->has_keep_alive && req->keep_alive_ms == 0) {
        unload_now(r, app, req->model, chat);
        request_destroy(req);
        free(st);
        return;
    }
    const api_call_ops *ops = req->kind == RK_KIND_EMBED ? &EMBED_OPS : req->kind == RK_KIND_LOAD ? &LOAD_OPS : &GENERATE_OPS;
    if (req->kind == RK_KIND_LOAD) req->stream = false;
    api_run(r, app, req, ops, st, free);
}

static void h_generate(http_req *r, void *app) { run(r, app, ollama_generate_request, false, false); }
static void h_chat(http_req *r, void *app) { run(r, app, ollama_chat_request, true, false); }
static void h_embed(http_req *r, void *app) { run(r, app, ollama_embed_request, false, false); }
static void h_embeddings(http_req *r, void *app) { run(r, app, ollama_embeddings_request, false, true); }

static void h_root(http_req *r, void *app)
{
    (void)app;
    http_respond(r, 200, "text/plain; charset=utf-8", strdup("Ollama is running"), 17);
}

static char *human_params(uint64_t n, char *buf, size_t len)
{
    if (!n) snprintf(buf, len, "%s", "");
    else if (n >= 1000000000ull) snprintf(buf, len, "%.1fB", n / 1e9);
    else if (n >= 1000000ull) snprintf(buf, len, "%.0fM", n / 1e6);
    else snprintf(buf, len, "%.0fK", n / 1e3);
    return buf;
}

static json_t *details(const sched_model_status *m)
{
    char ps[32];
    const char *family = m->family ? m->family : m->arch ? m->arch : "";
    const char *size = m->param_label ? m->param_label : human_params(m->n_params, ps, sizeof ps);
    return json_pack("{s:s, s:s, s:s, s:[s], s:s, s:s}", "parent_model", "", "format", m->format, "family", family,
                     "families", family, "parameter_size", size, "quantization_level", m->quant ? m->quant : "");
}

static json_t *tag_entry(const sched_model_status *m)
{
    char ts[64];
    api_rfc3339(ts, sizeof ts, (double)m->modified);
    return json_pack("{s:s, s:s, s:s, s:I, s:s, s:o}", "name", m->name, "model", m->name, "modified_at", ts, "size",
                     (json_int_t)m->file_bytes, "digest", m->digest, "details", details(m));
}

static void h_tags(http_req *r, void *app)
{
    api_app *a = app;
    sched_model_status *ms;
    int n = sched_models(a->sched, false, &ms);
    if (n < 0) {
        http_respond_errorf(r, 500, NULL, "out of memory");
        return;
    }
    json_t *list = json_array();
    for (int i = 0; i < n; i++) json_array_append_new(list, tag_entry(&ms[i]));
    sched_models_free(ms, n);
    http_respond_json(r, 200, json_pack("{s:o}", "models", list));
}

static void h_ps(http_req *r, void *app)
{
    api_app *a = app;
    sched_model_status *ms;
    int n = sched_models(a->sched, true, &ms);
    if (n < 0) {
        http_respond_errorf(r, 500, NULL, "out of memory");
        return;
    }
    json_t *list = json_array();
    for (int i = 0; i < n; i++) {
        char ts[64];
        if (ms[i].expires_at_ms == INT64_MAX) snprintf(ts, sizeof ts, "2318-01-01T00:00:00.000000000Z");
        else api_rfc3339(ts, sizeof ts, ms[i].expires_at_ms / 1e3);
        /* Ollama's size_vram is the part on the accelerator: all of it on the NPU */
        bool on_npu = ms[i].info.engine && !strcmp(ms[i].info.engine, "rkllm");
        json_t *o = json_pack("{s:s, s:s, s:I, s:s, s:o, s:s, s:I, s:i}", "name", ms[i].name, "model", ms[i].name,
                              "size", (json_int_t)ms[i].mem_bytes, "digest", ms[i].digest, "details", details(&ms[i]),
                              "expires_at", ts, "size_vram", (json_int_t)(on_npu ? ms[i].mem_bytes : 0),
                              "context_length", ms[i].info.n_ctx);
        json_array_append_new(list, o);
    }
    sched_models_free(ms, n);
    http_respond_json(r, 200, json_pack("{s:o}", "models", list));
}

static void h_show(http_req *r, void *app)
{
    api_app *a = app;
    rk_error e;
    json_t *body = http_json_body(r, &e);
    if (!body) {
        http_respond_error(r, &e);
        return;
    }
    const char *name = json_string_value(json_object_get(body, "model"));
    if (!name) name = json_string_value(json_object_get(body, "name"));
    sched_model_status m;
    if (sched_lookup(a->sched, name ? name : "", &m, &e) != 0) {
        http_respond_error(r, &e);
        json_decref(body);
        return;
    }
    json_decref(body);
    char ts[64];
    api_rfc3339(ts, sizeof ts, (double)m.modified);
    json_t *info = json_object();
    if (m.arch) {
        char key[128];
        json_object_set_new(info, "general.architecture", json_string(m.arch));
        json_object_set_new(info, "general.parameter_count", json_integer((json_int_t)m.n_params));
        snprintf(key, sizeof key, "%s.context_length", m.arch);
        json_object_set_new(info, key, json_integer(m.context ? m.context : m.info.n_ctx_train));
        if (m.info.n_embd) {
            snprintf(key, sizeof key, "%s.embedding_length", m.arch);
            json_object_set_new(info, key, json_integer(m.info.n_embd));
        }
    }
    json_t *caps = json_pack("[s]", "completion");
    if (m.chat_template && strstr(m.chat_template, "tools")) json_array_append_new(caps, json_string("tools"));
    if (m.chat_template && strstr(m.chat_template, "enable_thinking")) json_array_append_new(caps, json_string("thinking"));
    json_array_append_new(caps, json_string("embedding"));
    if (m.vision) json_array_append_new(caps, json_string("vision"));
    json_t *o = json_pack("{s:s, s:s, s:s, s:o, s:o, s:o, s:s}", "modelfile", "", "parameters", "", "template",
                          m.chat_template ? m.chat_template : "", "details", details(&m), "model_info", info,
                          "capabilities", caps, "modified_at", ts);
    sched_status_clear(&m);
    http_respond_json(r, 200, o);
}

static void h_delete(http_req *r, void *app)
{
    api_app *a = app;
    rk_error e;
    json_t *body = http_json_body(r, &e);
    if (!body) {
        http_respond_error(r, &e);
        return;
    }
    const char *name = json_string_value(json_object_get(body, "model"));
    if (!name) name = json_string_value(json_object_get(body, "name"));
    if (sched_delete(a->sched, name ? name : "", &e) != 0) http_respond_error(r, &e);
    else http_respond(r, 200, NULL, NULL, 0);
    json_decref(body);
}

static void h_copy(http_req *r, void *app)
{
    api_app *a = app;
    rk_error e;
    json_t *body = http_json_body(r, &e);
    if (!body) {
        http_respond_error(r, &e);
        return;
    }
    const char *src = json_string_value(json_object_get(body, "source"));
    const char *dst = json_string_value(json_object_get(body, "destination"));
    if (!src || !dst) http_respond_errorf(r, 400, NULL, "source and destination are required");
    else if (sched_copy(a->sched, src, dst, &e) != 0) http_respond_error(r, &e);
    else http_respond(r, 200, NULL, NULL, 0);
    json_decref(body);
}

static const http_route ROUTES[] = {
    {"GET", "/", HTTP_STYLE_OLLAMA, true, h_root},
    {"GET", "/api/tags", HTTP_STYLE_OLLAMA, false, h_tags},
    {"GET", "/api/ps", HTTP_STYLE_OLLAMA, false, h_ps},
    {"POST", "/api/show", HTTP_STYLE_OLLAMA, false, h_show},
    {"POST", "/api/generate", HTTP_STYLE_OLLAMA, false, h_generate},
    {"POST", "/api/chat", HTTP_STYLE_OLLAMA, false, h_chat},
    {"POST", "/api/embed", HTTP_STYLE_OLLAMA, false, h_embed},
    {"POST", "/api/embeddings", HTTP_STYLE_OLLAMA, false, h_embeddings},
    {"DELETE", "/api/delete", HTTP_STYLE_OLLAMA, false, h_delete},
    {"POST", "/api/copy", HTTP_STYLE_OLLAMA, false, h_copy},
};

int ollama_routes(const http_route **out)
{
    *out = ROUTES;
    return (int)(sizeof ROUTES / sizeof ROUTES[0]);
}
