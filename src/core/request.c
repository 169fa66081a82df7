#include "core/request.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int rk_fail(rk_error *e, int status, const char *param, const char *fmt, ...)
{
    e->status = status;
    e->param = param;
    e->code = NULL;
    e->retry_after = 0;
    switch (status) {
    case 401: e->type = "authentication_error"; break;
    case 404: e->type = "not_found_error"; break;
    case 429:
    case 503: e->type = "server_overloaded"; break;
    default: e->type = status >= 500 ? "server_error" : "invalid_request_error"; break;
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->message, sizeof e->message, fmt, ap);
    va_end(ap);
    return -1;
}

/* Distinct seeds for requests that give none, even within one clock tick. */
static uint64_t fresh_seed(void)
{
    static atomic_uint_fast64_t counter;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t x = ((uint64_t)ts.tv_sec * 1000000007ull) ^ (uint64_t)ts.tv_nsec ^
                 (atomic_fetch_add(&counter, 1) * 0x9e3779b97f4a7c15ull);
    x ^= x >> 31;
    x *= 0xbf58476d1ce4e5b9ull;
    return x ^ (x >> 29);
}

void request_init(rk_request *r)
{
    memset(r, 0, sizeof *r);
    r->kind = RK_KIND_CHAT;
    r->enable_thinking = -1;
    r->max_tokens = -1;
    r->n_keep = -1;
    r->truncate = true;
    r->sampling.temperature = 0.8f;
    r->sampling.top_k = 40;
    r->sampling.top_p = 0.9f;
    r->sampling.repeat_penalty = 1.1f;
    r->sampling.repeat_last_n = 64;
    r->sampling.seed = fresh_seed();
}

static void free_input(rk_input *in)
{
    free(in->text);
    free(in->tokens);
}

void request_free(rk_request *r)
{
    free(r->model);
    json_decref(r->messages);
    json_decref(r->tools);
    free(r->forced_tool);
    json_decref(r->cache_prompts);
    free(r->cache_dir);
    free(r->cache_name);
    free(r->cache_content);
    json_decref(r->template_vars);
    json_decref(r->schema);
    free_input(&r->prompt);
    for (int i = 0; i < r->n_inputs; i++) free_input(&r->inputs[i]);
    free(r->inputs);
    free(r->logit_bias);
    for (int i = 0; i < r->n_stop; i++) free(r->stop[i]);
    free(r->stop);
    memset(r, 0, sizeof *r);
}

rk_request *request_new(void)
{
    rk_request *r = malloc(sizeof *r);
    if (r) request_init(r);
    return r;
}

void request_destroy(rk_request *r)
{
    if (!r) return;
    request_free(r);
    free(r);
}

bool request_add_stop(rk_request *r, const char *s)
{
    char **l = realloc(r->stop, (size_t)(r->n_stop + 1) * sizeof *l);
    if (!l) return false;
    r->stop = l;
    if (!(l[r->n_stop] = strdup(s))) return false;
    r->n_stop++;
    return true;
}

/* Without a Jinja template only plain role/content turns can be rendered. */
static char *render_builtin(const rk_request *r, const chat_format *f, rk_error *e)
{
    if (r->tools && json_array_size(r->tools) > 0) {
        rk_fail(e, 400, "tools",
                "this model has no chat template, and its built-in %s format cannot present tools; "
                "serve it with --chat-template FILE",
                chat_builtin_name(f->family));
        return NULL;
    }
    size_t n = json_array_size(r->messages);
    chat_message *msgs = calloc(n ? n : 1, sizeof *msgs);
    if (!msgs) {
        rk_fail(e, 500, NULL, "out of memory");
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        json_t *m = json_array_get(r->messages, i);
        const char *role = json_string_value(json_object_get(m, "role"));
        if (json_object_get(m, "tool_calls") || (role && !strcmp(role, "tool"))) {
            free(msgs);
            rk_fail(e, 400, "messages",
                    "this model has no chat template, and its built-in %s format cannot present tool calls or "
                    "results; serve it with --chat-template FILE",
                    chat_builtin_name(f->family));
            return NULL;
        }
        msgs[i].role = role ? role : "user";
        msgs[i].content = json_string_value(json_object_get(m, "content"));
    }
    char *out = NULL;
    if (chat_builtin_render(f->family, msgs, (int)n, true, NULL, &out) != 0)
        rk_fail(e, 400, "messages", "the conversation does not fit the model's %s chat format (%s)",
                chat_builtin_name(f->family),
                f->family == CHAT_GEMMA || f->family == CHAT_LLAMA2
                    ? "user and assistant turns must alternate, starting with user"
                    : "a role it does not know");
    free(msgs);
    return out;
}

char *request_render_chat(const rk_request *r, const chat_format *f, rk_error *e)
{
    if (!f->tmpl) return render_builtin(r, f, e);
    json_t *ctx = json_object();
    if (!ctx) {
        rk_fail(e, 500, NULL, "out of memory");
        return NULL;
    }
    /* caller-supplied variables first, so the fixed ones below win */
    if (r->template_vars) json_object_update(ctx, r->template_vars);
    if (r->messages) json_object_set(ctx, "messages", r->messages);
    else json_object_set_new(ctx, "messages", json_array());
    if (r->tools && json_array_size(r->tools) > 0) json_object_set(ctx, "tools", r->tools);
    json_object_set_new(ctx, "add_generation_prompt", json_true());
    json_object_set_new(ctx, "bos_token", json_string(f->bos_text ? f->bos_text : ""));
    json_object_set_new(ctx, "eos_token", json_string(f->eos_text ? f->eos_text : ""));
    if (r->enable_thinking >= 0) json_object_set_new(ctx, "enable_thinking", json_boolean(r->enable_thinking));
    char err[400];
    char *out = jinja_render(f->tmpl, ctx, err, sizeof err);
    json_decref(ctx);
    if (!out) rk_fail(e, 400, "messages", "the model's chat template cannot render this conversation: %s", err);
    return out;
}
