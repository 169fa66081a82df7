#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api/api.h"
#include "core/config.h"
#include "http/metrics.h"

static double mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

double api_unix_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

void api_rfc3339(char *buf, size_t len, double unix_seconds)
{
    time_t secs = (time_t)unix_seconds;
    long nanos = (long)((unix_seconds - (double)secs) * 1e9);
    if (nanos < 0) nanos = 0;
    if (nanos > 999999999) nanos = 999999999;
    struct tm tm;
    gmtime_r(&secs, &tm);
    char base[32];
    strftime(base, sizeof base, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf, len, "%s.%09ldZ", base, nanos);
}

void api_random_id(char *buf, size_t len, const char *prefix)
{
    static const char digits[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    unsigned char rnd[24];
    FILE *f = fopen("/dev/urandom", "rb");
    size_t got = f ? fread(rnd, 1, sizeof rnd, f) : 0;
    if (f) fclose(f);
    if (got != sizeof rnd) {
        uint64_t x = (uint64_t)(mono_ms() * 1e6) ^ (uint64_t)(uintptr_t)buf;
        for (size_t i = 0; i < sizeof rnd; i++) {
            x = x * 6364136223846793005ull + 1442695040888963407ull;
            rnd[i] = (unsigned char)(x >> 56);
        }
    }
    size_t p = (size_t)snprintf(buf, len, "%s", prefix);
    for (size_t i = 0; i < sizeof rnd && p + 1 < len; i++) buf[p++] = digits[rnd[i] % 62];
    if (p < len) buf[p] = 0;
}

bool api_keep_alive(const json_t *v, int64_t *ms)
{
    if (json_is_string(v)) return config_parse_duration(json_string_value(v), ms);
    if (json_is_number(v)) {
        double secs = json_number_value(v);
        if (secs < 0) *ms = RK_KEEP_FOREVER;
        else if (secs > 9.2e12) return false;
        else *ms = (int64_t)(secs * 1000.0 + 0.5);
        return true;
    }
    return false;
}

void api_parse_opts_init(api_parse_opts *o, const rk_request *r)
{
    memset(o, 0, sizeof *o);
    o->parse = r->kind == RK_KIND_CHAT;
    o->thinking = r->enable_thinking != 0;
    size_t n = json_array_size(r->tools);
    o->tools = n > 0;
    o->tool_names = n ? calloc(n, sizeof *o->tool_names) : NULL;
    for (size_t i = 0; o->tool_names && i < n; i++) {
        const char *name = json_string_value(json_object_get(json_object_get(json_array_get(r->tools, i), "function"), "name"));
        if (name && (o->tool_names[o->n_tool_names] = strdup(name))) o->n_tool_names++;
    }
}

void api_parse_opts_free(api_parse_opts *o)
{
    for (int i = 0; i < o->n_tool_names; i++) free(o->tool_names[i]);
    free(o->tool_names);
    memset(o, 0, sizeof *o);
}

/* ---- the call --------------------------------------------------------- */

static void call_unref(api_call *c)
{
    if (atomic_fetch_sub(&c->refs, 1) != 1) return;
    if (c->job) sched_release(c->job);
    if (c->out) http_stream_unref(c->out);
    if (c->free_user) c->free_user(c->user);
    chat_output_free(c->parser);
    api_parse_opts_free(&c->parse);
    free(c->result.embeddings);
    free(c->text);
    free(c->answer_prefix);
    pthread_mutex_destroy(&c->mu);
    pthread_cond_destroy(&c->cv);
    free(c);
}

bool api_call_write(api_call *c, const char *data, size_t len)
{
    if (!c->out) return false;
    atomic_store(&c->wrote, true);
    return http_stream_write(c->out, data, len);
}

static bool write_framed(api_call *c, json_t *v, const char *pre, const char *post)
{
    char *s = v ? json_dumps(v, JSON_COMPACT) : NULL;
    json_decref(v);
    if (!s) return false;
    size_t np = strlen(pre), ns = strlen(s), nq = strlen(post);
    char *buf = malloc(np + ns + nq);
    bool ok = false;
    if (buf) {
        memcpy(buf, pre, np);
        memcpy(buf + np, s, ns);
        memcpy(buf + np + ns, post, nq);
        ok = api_call_write(c, buf, np + ns + nq);
        free(buf);
    }
    free(s);
    return ok;
}

bool api_call_write_sse(api_call *c, json_t *v)
{
    return write_framed(c, v, "data: ", "\n\n");
}

bool api_call_write_ndjson(api_call *c, json_t *v)
{
    return write_framed(c, v, "", "\n");
}

static void on_delta(void *user, const chat_delta *d)
{
    api_call *c = user;
    if (!c->delta_failed && c->stream && !c->ops->on_delta(c, d)) c->delta_failed = true;
}

static void sink_start(void *user, const rk_start *st)
{
    api_call *c = user;
    snprintf(c->model, sizeof c->model, "%s", st->model);
    c->n_prompt = st->n_prompt;
    if (c->parse.parse && c->ops->on_delta) {
        uint64_t s64 = (uint64_t)(mono_ms() * 1e6);
        FILE *f = fopen("/dev/urandom", "rb");
        if (f) {
            if (fread(&s64, sizeof s64, 1, f) != 1) s64 ^= (uint64_t)(uintptr_t)c;
            fclose(f);
        }
        chat_output_options o = {
            .tools_enabled = c->parse.tools,
            .thinking_enabled = c->parse.thinking,
            .prompt_opened_think = st->prompt_text && chat_output_prompt_opens_think(st->prompt_text, strlen(st->prompt_text)),
            .id_seed = s64,
            .tool_names = (const char *const *)c->parse.tool_names,
            .n_tool_names = c->parse.n_tool_names,
        };
        c->parser = chat_output_new(chat_output_format_detect(st->chat->family, st->template_src), &o);
    }
    if (c->stream && c->ops->on_start) c->ops->on_start(c, st);
    /* the answer's opening that the prompt carries (a forced tool call's tag) */
    if (c->parser && st->answer_prefix && *st->answer_prefix) {
        c->answer_prefix = strdup(st->answer_prefix);
        if (c->stream && chat_output_push(c->parser, st->answer_prefix, strlen(st->answer_prefix), on_delta, c) != 0)
            c->delta_failed = true;
    }
    pthread_mutex_lock(&c->mu);
    c->started = true;
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
}

static bool sink_text(void *user, const char *text, size_t len)
{
    api_call *c = user;
    if (c->text_len + len + 1 > c->text_cap) {
        size_t cap = (c->text_len + len + 1) * 2;
        char *p = realloc(c->text, cap);
        if (!p) return false;
        c->text = p;
        c->text_cap = cap;
    }
    memcpy(c->text + c->text_len, text, len);
    c->text_len += len;
    c->text[c->text_len] = 0;
    if (c->parser) {
        /* non-streamed text is parsed once, at the end */
        if (!c->stream) return true;
        if (chat_output_push(c->parser, text, len, on_delta, c) != 0) return false;
        return !c->delta_failed;
    }
    if (c->stream) return c->ops->on_text(c, text, len);
    return true;
}

static void sink_done(void *user, const rk_result *res)
{
    api_call *c = user;
    c->result = *res;
    c->result.embeddings = NULL;
    if (res->embeddings && res->n_embeddings > 0) {
        size_t n = (size_t)res->n_embeddings * (size_t)res->n_embd;
        c->result.embeddings = malloc(n * sizeof(float));
        if (c->result.embeddings) memcpy(c->result.embeddings, res->embeddings, n * sizeof(float));
        else rk_fail(&c->result.error, 500, NULL, "out of memory");
    }
    if (!c->text) c->text = calloc(1, 1);
    if (c->parser) {
        if (!c->stream && c->answer_prefix)
            chat_output_push(c->parser, c->answer_prefix, strlen(c->answer_prefix), NULL, NULL);
        if (!c->stream && c->text) chat_output_push(c->parser, c->text, c->text_len, NULL, NULL);
        chat_output_finish(c->parser, c->stream ? on_delta : NULL, c);
    }
    if (res->finish == TEXTGEN_CANCELLED && !res->error.status) metrics_cancelled();
    else if (!res->error.status && !res->n_embeddings)
        metrics_generation(res->stats.prompt_tokens, res->stats.reused_tokens, res->stats.completion_tokens,
                           res->ttft_ms, res->stats.decode_ms);
    if (c->stream) {
        pthread_mutex_lock(&c->mu);
        bool started = c->started;
        pthread_mutex_unlock(&c->mu);
        /* a failure before anything was sent becomes a plain error response */
        if (started && c->ops->on_done) c->ops->on_done(c, &c->result);
        http_stream_close(c->out);
    }
    pthread_mutex_lock(&c->mu);
    c->done = true;
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
    call_unref(c);
}

static void on_stream_closed(void *ctx)
{
    api_call *c = ctx;
    pthread_mutex_lock(&c->mu);
    bool done = c->done;
    pthread_mutex_unlock(&c->mu);
    if (!done) sched_cancel(c->job);
    call_unref(c);
}

/* Waits for cond (started or done) while watching the client; cancels the
 * job if it leaves. Returns false when the client has gone. */
static bool wait_for(api_call *c, http_req *r, bool until_done)
{
    bool gone = false;
    pthread_mutex_lock(&c->mu);
    while (!c->done && (until_done || !c->started)) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 50 * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&c->cv, &c->mu, &ts);
        if (!gone && !c->done && http_client_gone(r)) {
            gone = true;
            pthread_mutex_unlock(&c->mu);
            sched_cancel(c->job);
            pthread_mutex_lock(&c->mu);
            until_done = true; /* wait for the cancellation to land, then answer nobody */
        }
    }
    pthread_mutex_unlock(&c->mu);
    return !gone;
}

void api_run(http_req *r, api_app *app, rk_request *req, const api_call_ops *ops, void *user,
             void (*free_user)(void *user))
{
    api_call *c = calloc(1, sizeof *c);
    if (!c) {
        request_destroy(req);
        if (free_user) free_user(user);
        http_respond_errorf(r, 500, NULL, "out of memory");
        return;
    }
    c->app = app;
    c->ops = ops;
    c->user = user;
    c->free_user = free_user;
    c->stream = req->stream && ops->on_text;
    api_parse_opts_init(&c->parse, req);
    c->t_arrival = http_arrival_ms(r);
    snprintf(c->model, sizeof c->model, "%s", req->model ? req->model : "");
    pthread_mutex_init(&c->mu, NULL);
    pthread_cond_init(&c->cv, NULL);
    atomic_init(&c->refs, 2); /* this thread (or the stream), and the scheduler's sink */
    if (c->stream && !(c->out = http_stream_new(256 * 1024))) {
        request_destroy(req);
        atomic_store(&c->refs, 1);
        call_unref(c);
        http_respond_errorf(r, 500, NULL, "out of memory");
        return;
    }
    rk_sink sink = {.on_start = sink_start, .on_text = sink_text, .on_done = sink_done, .user = c};
    rk_error e = {0};
    if (api_apply_caches(app, req, &e) != 0 || api_load_images(app, req, &e) != 0) {
        request_destroy(req);
        c->job = NULL;
    } else {
        c->job = sched_submit(app->sched, req, &sink, &e);
    }
    if (!c->job) {
        atomic_store(&c->refs, 1);
        call_unref(c);
        http_respond_error(r, &e);
        return;
    }
    if (!c->stream) {
        bool present = wait_for(c, r, true);
        if (!present) http_respond_errorf(r, 499, NULL, "the client went away");
        else if (c->result.error.status) http_respond_error(r, &c->result.error);
        else ops->respond(c, r, &c->result);
        call_unref(c);
        return;
    }
    bool present = wait_for(c, r, false);
    pthread_mutex_lock(&c->mu);
    bool failed_early = c->done && !atomic_load(&c->wrote) && c->result.error.status;
    pthread_mutex_unlock(&c->mu);
    if (!present) {
        http_respond_errorf(r, 499, NULL, "the client went away");
        call_unref(c);
    } else if (failed_early) {
        http_respond_error(r, &c->result.error);
        call_unref(c);
    } else {
        /* the stream's close hands this thread's reference on */
        http_respond_stream(r, ops->stream_content_type, c->out, on_stream_closed, c);
    }
}

static void respond_nothing(api_call *c, http_req *r, const rk_result *res)
{
    (void)c, (void)r, (void)res;
}

static const api_call_ops COLLECT_OPS = {.respond = respond_nothing};

int api_run_wait(http_req *r, api_app *app, rk_request *req, rk_result *res, char **text, size_t *len, char *model,
                 size_t modellen, rk_error *e)
{
    req->stream = false;
    api_call *c = calloc(1, sizeof *c);
    if (!c) {
        request_destroy(req);
        return rk_fail(e, 500, NULL, "out of memory");
    }
    c->app = app;
    c->ops = &COLLECT_OPS;
    c->t_arrival = http_arrival_ms(r);
    snprintf(c->model, sizeof c->model, "%s", req->model ? req->model : "");
    pthread_mutex_init(&c->mu, NULL);
    pthread_cond_init(&c->cv, NULL);
    atomic_init(&c->refs, 2);
    rk_sink sink = {.on_start = sink_start, .on_text = sink_text, .on_done = sink_done, .user = c};
    c->job = sched_submit(app->sched, req, &sink, e);
    if (!c->job) {
        atomic_store(&c->refs, 1);
        call_unref(c);
        return -1;
    }
    int rc = 0;
    if (!wait_for(c, r, true)) rc = rk_fail(e, 499, NULL, "the client went away");
    else if (c->result.error.status) {
        *e = c->result.error;
        rc = -1;
    } else {
        *res = c->result;
        res->embeddings = NULL;
        *text = c->text ? c->text : calloc(1, 1);
        *len = c->text_len;
        c->text = NULL;
        snprintf(model, modellen, "%s", c->model);
        if (!*text) rc = rk_fail(e, 500, NULL, "out of memory");
    }
    call_unref(c);
    return rc;
}
