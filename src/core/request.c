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
    for (int i = 0; i < r->n_images; i++) {
        free(r->images[i].url);
        free(r->images[i].data);
    }
    free(r->images);
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

int request_add_image(rk_request *r, const uint8_t *data, size_t len, const char *url, rk_error *e)
{
    if (r->n_images >= RK_MAX_IMAGES) return rk_fail(e, 400, "images", "at most %d images per request", RK_MAX_IMAGES);
    rk_req_image *v = realloc(r->images, (size_t)(r->n_images + 1) * sizeof *v);
    if (!v) return rk_fail(e, 500, NULL, "out of memory");
    r->images = v;
    rk_req_image *im = &v[r->n_images];
    memset(im, 0, sizeof *im);
    if (data) {
        im->data = malloc(len ? len : 1);
        if (!im->data) return rk_fail(e, 500, NULL, "out of memory");
        memcpy(im->data, data, len);
        im->len = len;
    } else if (!(im->url = strdup(url))) {
        return rk_fail(e, 500, NULL, "out of memory");
    }
    r->n_images++;
    return 0;
}

/* s with every RK_IMAGE_MARK replaced by marker, malloc'd. */
static char *replace_marks(const char *s, const char *marker)
{
    size_t n = 0, ml = strlen(marker);
    for (const char *p = s; *p; p++) n += *p == RK_IMAGE_MARK[0] ? ml : 1;
    char *out = malloc(n + 1), *o = out;
    if (!out) return NULL;
    for (const char *p = s; *p; p++) {
        if (*p == RK_IMAGE_MARK[0]) {
            memcpy(o, marker, ml);
            o += ml;
        } else {
            *o++ = *p;
        }
    }
    *o = 0;
    return out;
}

/* The content as Hugging Face processors give it to VLM templates: a list
 * of {"type": "text", "text"} and {"type": "image"} parts in order. */
static json_t *content_parts(const char *s)
{
    json_t *parts = json_array();
    const char *start = s;
    for (const char *p = s;; p++) {
        if (*p && *p != RK_IMAGE_MARK[0]) continue;
        if (p > start) json_array_append_new(parts, json_pack("{s:s, s:s%}", "type", "text", "text", start, (size_t)(p - start)));
        if (!*p) break;
        json_array_append_new(parts, json_pack("{s:s}", "type", "image"));
        start = p + 1;
    }
    return parts;
}

static bool has_marks(const json_t *messages)
{
    size_t i;
    json_t *m;
    json_array_foreach(messages, i, m) {
        const char *c = json_string_value(json_object_get(m, "content"));
        if (c && strchr(c, RK_IMAGE_MARK[0])) return true;
    }
    return false;
}

/* A copy of the messages for rendering, with image marks resolved. */
static json_t *render_messages(const json_t *messages, const char *marker, bool parts)
{
    json_t *out = json_deep_copy(messages);
    size_t i;
    json_t *m;
    json_array_foreach(out, i, m) {
        const char *c = json_string_value(json_object_get(m, "content"));
        if (!c) continue;
        if (parts) {
            json_object_set_new(m, "content", content_parts(c));
        } else if (strchr(c, RK_IMAGE_MARK[0])) {
            char *with = replace_marks(c, marker);
            if (!with) {
                json_decref(out);
                return NULL;
            }
            json_object_set_new(m, "content", json_string(with));
            free(with);
        }
    }
    return out;
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

char *request_render_chat(const rk_request *r, const chat_format *f, const char *image_marker, rk_error *e)
{
    if (!image_marker) image_marker = "<image>";
    /* a copy only when contents change: image marks to place, or parts to make */
    bool parts = f->tmpl && f->takes_parts;
    json_t *msgs = !r->messages                             ? json_array()
                   : parts || has_marks(r->messages) ? render_messages(r->messages, image_marker, parts)
                                                           : json_incref(r->messages);
    if (!msgs) {
        rk_fail(e, 500, NULL, "out of memory");
        return NULL;
    }
    if (!f->tmpl) {
        rk_request view = *r;
        view.messages = msgs;
        char *out = render_builtin(&view, f, e);
        json_decref(msgs);
        return out;
    }
    json_t *ctx = json_object();
    if (!ctx) {
        json_decref(msgs);
        rk_fail(e, 500, NULL, "out of memory");
        return NULL;
    }
    /* caller-supplied variables first, so the fixed ones below win */
    if (r->template_vars) json_object_update(ctx, r->template_vars);
    json_object_set_new(ctx, "messages", msgs);
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
