/* The HTTP APIs: route tables, the translators from each wire format to
 * rk_request (public for the fuzz target and tests), and api_run, which
 * carries one request through the scheduler and back: waiting for the
 * result or streaming it, and cancelling when the client goes away. */
#ifndef RK_API_H
#define RK_API_H

#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "core/chat_output.h"
#include "core/config.h"
#include "core/request.h"
#include "core/scheduler.h"
#include "http/server.h"
#include "http/stream.h"

typedef struct {
    sched *sched;
    const rk_config *cfg;
    int64_t started_unix;
} api_app;

/* Route tables; each returns its count. */
int openai_routes(const http_route **out);
int ollama_routes(const http_route **out);
int admin_routes(const http_route **out);
int cache_routes(const http_route **out);

/* A chat request's cache_prompts (names of prompt caches): their texts open
 * the system message (the "system" cache first) and the request is set to
 * start from the saved state (rk_request.cache_*). 0, or -1 with e (404
 * for an unknown cache). */
int api_apply_caches(api_app *a, rk_request *r, rk_error *e);

/* Wire format -> rk_request. r must be request_init'ed; on failure it may be
 * partly filled (request_free it) and e says why (400). */
int openai_chat_request(const json_t *body, rk_request *r, rk_error *e);
int openai_completion_request(const json_t *body, rk_request *r, rk_error *e);
int openai_embedding_request(const json_t *body, rk_request *r, rk_error *e);
int ollama_generate_request(const json_t *body, rk_request *r, rk_error *e);
int ollama_chat_request(const json_t *body, rk_request *r, rk_error *e);
int ollama_embed_request(const json_t *body, rk_request *r, rk_error *e);
int ollama_embeddings_request(const json_t *body, rk_request *r, rk_error *e); /* legacy /api/embeddings */

/* A keep_alive value as Ollama accepts it: a duration string or a number
 * of seconds. False when it is neither. */
bool api_keep_alive(const json_t *v, int64_t *ms);

/* ---- one request's run ------------------------------------------------ */

typedef struct api_call api_call;

/* How generated chat text is split into content, reasoning and tool calls
 * (core/chat_output.h), taken from the request before it is submitted. */
typedef struct {
    bool parse;              /* a chat request: run the parser */
    bool tools;              /* the request offered tools */
    bool thinking;           /* not switched off: separate <think> blocks */
    char **tool_names;
    int n_tool_names;
} api_parse_opts;

void api_parse_opts_init(api_parse_opts *o, const rk_request *r);
void api_parse_opts_free(api_parse_opts *o);

typedef struct {
    /* Streaming only, on scheduler threads: write the wire chunks with
     * api_call_write. on_start may be NULL. With parsing, on_delta gets the
     * parser's deltas instead of on_text getting the raw text; either
     * returns false to stop. */
    void (*on_start)(api_call *c, const rk_start *st);
    bool (*on_text)(api_call *c, const char *text, size_t len);
    bool (*on_delta)(api_call *c, const chat_delta *d);
    void (*on_done)(api_call *c, const rk_result *res); /* also on a failure after the start */
    /* Not streaming, on the connection's thread: answer from the result. */
    void (*respond)(api_call *c, http_req *r, const rk_result *res);
    const char *stream_content_type;
} api_call_ops;

struct api_call {
    api_app *app;
    const api_call_ops *ops;
    void *user;                 /* the API's own state */
    void (*free_user)(void *user);
    bool stream;
    char model[256];            /* the served name, once started */
    api_parse_opts parse;
    chat_output_parser *parser; /* with parse.parse, once started; complete when done */
    bool delta_failed;
    char *text;                 /* everything generated so far */
    char *answer_prefix;        /* text of the answer the prompt already held, or NULL */
    size_t text_len, text_cap;
    int64_t n_prompt;
    double t_arrival;           /* monotonic ms */
    http_stream *out;
    sched_job *job;
    rk_result result;           /* valid once done; embeddings copied */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool started, done;
    atomic_bool wrote;          /* something reached the stream */
    atomic_int refs;
};

/* Runs req (taken over) and answers r. user is freed with free_user.
 * Chat requests get the output parser (api_parse_opts_init). */
void api_run(http_req *r, api_app *app, rk_request *req, const api_call_ops *ops, void *user,
             void (*free_user)(void *user));

/* Runs req (taken over) without answering: waits for its result while
 * watching the client, for handlers that combine several runs. 0 with res,
 * the text (malloc'd) and the served model name; -1 with e filled. */
int api_run_wait(http_req *r, api_app *app, rk_request *req, rk_result *res, char **text, size_t *len, char *model,
                 size_t modellen, rk_error *e);

/* Writes to the stream; false when the client has gone. */
bool api_call_write(api_call *c, const char *data, size_t len);
/* Writes a JSON value as "data: ...\n\n" (SSE) or "...\n" (NDJSON) and
 * drops the reference. */
bool api_call_write_sse(api_call *c, json_t *v);
bool api_call_write_ndjson(api_call *c, json_t *v);

/* ---- shared helpers -------------------------------------------------- */

/* Optional fields of a request object: absent or null leaves *out alone
 * and returns 0; a value of the wrong type or out of [min, max] fails with
 * a 400 naming the field. */
int api_opt_number(const json_t *obj, const char *key, double min, double max, double *out, rk_error *e);
int api_opt_int(const json_t *obj, const char *key, int64_t min, int64_t max, int64_t *out, rk_error *e);
int api_opt_bool(const json_t *obj, const char *key, bool *out, rk_error *e);
int api_opt_string(const json_t *obj, const char *key, const char **out, rk_error *e);
/* "stop": a string or an array of strings, added to r. */
int api_stop(const json_t *v, rk_request *r, const char *param, rk_error *e);
/* Message content: a string, null, or a list of text parts (joined with
 * "\n"); image parts are refused. *out is malloc'd. */
int api_content_text(const json_t *content, const char *param, char **out, rk_error *e);
/* "cache_prompts": a cache name or a list of them, kept in r. */
int api_cache_prompts(const json_t *body, rk_request *r, rk_error *e);
/* Like api_content_text, and image parts too ("image_url" with a data: URI,
 * an http(s) URL or a file path): each is added to r and marked in the
 * text with RK_IMAGE_MARK where it stands. r NULL refuses them. */
int api_content_with_images(const json_t *content, const char *param, rk_request *r, char **out, rk_error *e);
/* Ollama's "images" of obj (base64 strings, or data: URIs) added to r;
 * *marks receives one RK_IMAGE_MARK per image (malloc'd; NULL when none),
 * which Ollama places before the text. */
int api_ollama_images(const json_t *obj, rk_request *r, char **marks, rk_error *e);
/* Fetches the images given by URL or path (allowed by --allow-image-urls
 * and --image-dir, bounded in bytes and time). 0, or -1 with e (400). */
int api_load_images(api_app *a, rk_request *r, rk_error *e);
/* Token ids: an array of non-negative integers. */
int api_token_list(const json_t *v, const char *param, int32_t **out, int64_t *n, rk_error *e);
/* A JSON schema for constrained output: compiled once to refuse what the
 * constraint cannot enforce (400 naming the keyword), then kept in r. */
int api_json_schema(const json_t *schema, rk_request *r, const char *param, rk_error *e);
/* Applies a model's default options (Ollama names; see
 * sched_model_parameters) to what the request left unset: a name that is a
 * key of `given` was set by the client and is kept. Values of the wrong type
 * are skipped. */
void api_apply_defaults(rk_request *r, const json_t *params, const json_t *given);

/* Unix time and RFC 3339 with nanoseconds, as Ollama prints. */
void api_rfc3339(char *buf, size_t len, double unix_seconds);
double api_unix_now(void);
/* A random id with the given prefix ("chatcmpl-"). */
void api_random_id(char *buf, size_t len, const char *prefix);

#endif
