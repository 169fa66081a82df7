/* rkserve run through a running server: the chat and one-shot modes of the
 * in-process run, streamed from the server's Ollama API (/api/chat, or
 * /api/generate for --raw), so a model the server holds is not loaded a
 * second time. Images go along base64-encoded, as Ollama's CLI sends them. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/run.h"
#include "media/base64.h"
#include "util/fsutil.h"
#include "util/strbuf.h"

#define MAX_IMAGE_FILE (64u << 20)

static json_t *options_json(const run_options *o)
{
    const sampler_params *s = &o->sampling;
    json_t *opt = json_pack("{s:f, s:i, s:f, s:f, s:f, s:i, s:I}", "temperature", (double)s->temperature, "top_k",
                            s->top_k, "top_p", (double)s->top_p, "min_p", (double)s->min_p, "repeat_penalty",
                            (double)s->repeat_penalty, "repeat_last_n", s->repeat_last_n, "seed",
                            (json_int_t)s->seed);
    if (opt && o->max_tokens >= 0) json_object_set_new(opt, "num_predict", json_integer(o->max_tokens));
    if (opt && o->n_ctx > 0) json_object_set_new(opt, "num_ctx", json_integer(o->n_ctx));
    return opt;
}

/* A file's bytes, base64-encoded; NULL with a message printed. */
static char *image_base64(const char *path)
{
    char err[512];
    size_t len;
    char *bytes = read_file(path, MAX_IMAGE_FILE, &len, err, sizeof err);
    char *out = bytes ? b64_encode((const uint8_t *)bytes, len, false, true) : NULL;
    if (!out) fprintf(stderr, "rkserve run: %s\n", bytes ? "out of memory" : err);
    free(bytes);
    return out;
}

/* The images as a JSON array of base64 strings, or NULL (message printed). */
static json_t *images_json(const char *const *paths, int n)
{
    json_t *arr = json_array();
    for (int i = 0; arr && i < n; i++) {
        char *b64 = image_base64(paths[i]);
        if (!b64) {
            json_decref(arr);
            return NULL;
        }
        json_array_append_new(arr, json_string(b64));
        free(b64);
    }
    return arr;
}

static void print_timings(const json_t *done)
{
    double load = json_integer_value(json_object_get(done, "load_duration")) / 1e6;
    long long pn = json_integer_value(json_object_get(done, "prompt_eval_count"));
    double pms = json_integer_value(json_object_get(done, "prompt_eval_duration")) / 1e6;
    long long en = json_integer_value(json_object_get(done, "eval_count"));
    double ems = json_integer_value(json_object_get(done, "eval_duration")) / 1e6;
    const char *why = json_string_value(json_object_get(done, "done_reason"));
    fprintf(stderr,
            "\n[load %.0f ms | prompt %lld tokens, %.1f ms, %.1f tok/s | decode %lld tokens, %.1f ms, %.1f tok/s | %s]\n",
            load, pn, pms, pms > 0 ? pn * 1e3 / pms : 0.0, en, ems, ems > 0 ? en * 1e3 / ems : 0.0, why ? why : "?");
}

/* Sends one request and prints the streamed answer (thinking as Ollama's
 * CLI shows it). The answer's text goes to reply when given. 0, or -1
 * with a message printed; Ctrl-C ends the answer (closing the connection
 * cancels it on the server) and is not a failure. */
static int stream_answer(const rk_endpoint *ep, const char *path, json_t *req, const run_options *o, strbuf *reply)
{
    char *body = json_dumps(req, JSON_COMPACT);
    if (!body) {
        fprintf(stderr, "rkserve run: out of memory\n");
        return -1;
    }
    char err[512];
    client_stream st = {.cancel = &run_interrupted};
    atomic_store(&run_interrupted, false);
    int status = client_stream_open(&st, ep, "POST", path, body, err, sizeof err);
    free(body);
    if (status < 0) {
        fprintf(stderr, "rkserve run: %s\n", err);
        return -1;
    }
    int rc = 0;
    bool done = false, thinking = false;
    char *line;
    while (!done && rc == 0 && client_stream_line(&st, &line) > 0) {
        json_t *j = json_loads(line, 0, NULL);
        free(line);
        if (!j) continue;
        const char *e = json_string_value(json_object_get(j, "error"));
        json_t *msg = json_object_get(j, "message");
        const char *think = json_string_value(json_object_get(msg ? msg : j, "thinking"));
        const char *text = json_string_value(msg ? json_object_get(msg, "content") : json_object_get(j, "response"));
        if (e) {
            fprintf(stderr, "rkserve run: %s (HTTP %d)\n", e, status);
            rc = -1;
        }
        if (think && *think) {
            if (!thinking) fputs("Thinking...\n", stdout);
            thinking = true;
            fputs(think, stdout);
        }
        if (text && *text) {
            if (thinking) fputs("\n...done thinking.\n\n", stdout);
            thinking = false;
            fputs(text, stdout);
            if (reply && !strbuf_add_str(reply, text)) rc = -1;
        }
        fflush(stdout);
        if (json_is_true(json_object_get(j, "done")) && rc == 0) {
            done = true;
            if (!o->quiet) print_timings(j);
            else putchar('\n');
        }
        json_decref(j);
    }
    client_stream_close(&st);
    if (!done && rc == 0) {
        if (atomic_load(&run_interrupted)) {
            fputs("\n", stdout);
        } else {
            fprintf(stderr, "\nrkserve run: the server ended the answer early (HTTP %d)\n", status);
            rc = -1;
        }
    }
    return rc;
}

static json_t *user_message(const char *text, const char *const *images, int n_images)
{
    json_t *m = json_pack("{s:s, s:s}", "role", "user", "content", text);
    if (m && n_images) {
        json_t *imgs = images_json(images, n_images);
        if (!imgs) {
            json_decref(m);
            return NULL;
        }
        json_object_set_new(m, "images", imgs);
    }
    return m;
}

static int one_shot(const rk_endpoint *ep, const run_options *o)
{
    json_t *req;
    const char *path;
    if (o->raw) {
        path = "/api/generate";
        req = json_pack("{s:s, s:s, s:b, s:b, s:o}", "model", o->model, "prompt", o->prompt, "raw", 1, "stream", 1,
                        "options", options_json(o));
        if (req && o->n_images) {
            json_t *imgs = images_json(o->images, o->n_images);
            if (!imgs) {
                json_decref(req);
                return 1;
            }
            json_object_set_new(req, "images", imgs);
        }
    } else {
        path = "/api/chat";
        json_t *msgs = json_array();
        if (o->system) json_array_append_new(msgs, json_pack("{s:s, s:s}", "role", "system", "content", o->system));
        json_t *um = user_message(o->prompt, o->images, o->n_images);
        if (!um) {
            json_decref(msgs);
            return 1;
        }
        json_array_append_new(msgs, um);
        req = json_pack("{s:s, s:o, s:b, s:o}", "model", o->model, "messages", msgs, "stream", 1, "options",
                        options_json(o));
    }
    int rc = req ? stream_answer(ep, path, req, o, NULL) : -1;
    json_decref(req);
    return rc == 0 ? 0 : 1;
}

static void drop_images(char **paths, int *n)
{
    for (int i = 0; i < *n; i++) free(paths[i]);
    *n = 0;
}

static int chat(const rk_endpoint *ep, const run_options *o)
{
    /* an empty request loads the model, and says early when it is unknown */
    json_t *load = json_pack("{s:s, s:s, s:b}", "model", o->model, "prompt", "", "stream", 0);
    json_t *answer = NULL;
    char *text = json_dumps(load, JSON_COMPACT);
    char err[512];
    int status = text ? http_call(ep, "POST", "/api/generate", text, &answer, err, sizeof err) : -1;
    free(text);
    json_decref(load);
    if (status != 200) {
        const char *e = json_string_value(json_object_get(answer, "error"));
        fprintf(stderr, "rkserve run: %s\n", status < 0 ? err : e ? e : "the server refused the model");
        json_decref(answer);
        return 1;
    }
    json_decref(answer);
    if (!o->quiet) fprintf(stderr, "%s is ready on the server at %s:%s\n", o->model, ep->host, ep->port);

    json_t *msgs = json_array();
    if (o->system) json_array_append_new(msgs, json_pack("{s:s, s:s}", "role", "system", "content", o->system));
    /* images wait here for the next message (the --image ones for the first) */
    char *pending[RUN_MAX_IMAGES];
    int n_pending = 0;
    for (int i = 0; i < o->n_images; i++)
        if ((pending[n_pending] = strdup(o->images[i]))) n_pending++;
    for (;;) {
        char *msg = run_read_message();
        if (!msg) break;
        if (!strcmp(msg, "/bye")) {
            free(msg);
            break;
        }
        if (!strcmp(msg, "/clear")) {
            json_array_clear(msgs);
            if (o->system) json_array_append_new(msgs, json_pack("{s:s, s:s}", "role", "system", "content", o->system));
            drop_images(pending, &n_pending);
            puts("Cleared the conversation.");
        } else if (!strncmp(msg, "/image ", 7)) {
            const char *file = msg + 7;
            while (*file == ' ') file++;
            if (n_pending == RUN_MAX_IMAGES) {
                printf("At most %d images per message.\n", RUN_MAX_IMAGES);
            } else {
                char *b64 = image_base64(file);
                if (b64) {
                    free(b64);
                    if ((pending[n_pending] = strdup(file))) {
                        n_pending++;
                        printf("Added image '%s' to the next message.\n", file);
                    }
                }
            }
        } else if (*msg) {
            json_t *um = user_message(msg, (const char *const *)pending, n_pending);
            drop_images(pending, &n_pending);
            if (um) {
                json_array_append_new(msgs, um);
                json_t *req = json_pack("{s:s, s:O, s:b, s:o}", "model", o->model, "messages", msgs, "stream", 1,
                                        "options", options_json(o));
                strbuf reply = {0};
                int rc = req ? stream_answer(ep, "/api/chat", req, o, &reply) : -1;
                json_decref(req);
                if (rc == 0)
                    json_array_append_new(msgs, json_pack("{s:s, s:s}", "role", "assistant", "content",
                                                          reply.p ? reply.p : ""));
                else
                    json_array_remove(msgs, json_array_size(msgs) - 1);
                free(reply.p);
                fputc('\n', stdout);
            }
        }
        free(msg);
    }
    drop_images(pending, &n_pending);
    json_decref(msgs);
    return 0;
}

int run_remote(const rk_endpoint *ep, const run_options *o)
{
    return o->prompt ? one_shot(ep, o) : chat(ep, o);
}
