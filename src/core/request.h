/* The one request type the HTTP APIs translate into, and the events a
 * request produces. openai.c and ollama.c only translate between their wire
 * formats and these structs; the scheduler runs them on an engine. */
#ifndef RK_REQUEST_H
#define RK_REQUEST_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/chat_format.h"
#include "core/textgen.h"
#include "engine/engine.h"

typedef enum {
    RK_KIND_CHAT,       /* messages rendered with the model's chat template */
    RK_KIND_COMPLETION, /* a prompt used as is (text or token ids) */
    RK_KIND_EMBED,      /* one pooled vector per input */
    RK_KIND_LOAD,       /* only load the model (Ollama's empty prompt) */
    RK_KIND_CACHE,      /* build a prompt cache's state (cache_dir, cache_name, cache_content) */
} rk_kind;

typedef enum {
    RK_FORMAT_TEXT,
    RK_FORMAT_JSON,        /* any JSON value (OpenAI json_object, Ollama "json") */
    RK_FORMAT_JSON_SCHEMA, /* JSON matching request.schema */
} rk_format;

/* Where an image stands in a chat message's content: the renderer turns it
 * into the model's image marker (or an image part for templates that take
 * content parts). A control character, so typed text rarely holds it. */
#define RK_IMAGE_MARK "\x1f"
#define RK_MAX_IMAGES 16

/* An image of a request: its encoded bytes, or until the API layer loads
 * it, where to get them (an http(s) URL or a local file path). */
typedef struct {
    char *url;
    uint8_t *data;
    size_t len;
} rk_req_image;

/* Text or token ids (exactly one of them). */
typedef struct {
    char *text;
    int32_t *tokens;
    int64_t n_tokens;
} rk_input;

typedef struct rk_request {
    rk_kind kind;
    char *model;
    bool stream;

    /* RK_KIND_CHAT: template-ready messages: role, content (a string), and
     * where given tool_calls (arguments as JSON values), tool_call_id, name,
     * reasoning_content. */
    json_t *messages;
    json_t *tools;           /* array of tool definitions, or NULL */
    json_t *template_vars;   /* extra template variables (chat_template_kwargs), or NULL */
    bool force_tool_call;    /* tool_choice "required" or a named function */
    char *forced_tool;       /* the named function, or NULL for any of the tools */
    int enable_thinking;     /* -1 unset, 0 or 1 */

    /* RK_KIND_COMPLETION */
    rk_input prompt;

    /* images in the order their marks appear (chat: RK_IMAGE_MARK in message
     * contents; completion: the model's own image marker in the prompt) */
    rk_req_image *images;
    int n_images;

    /* RK_KIND_EMBED */
    rk_input *inputs;
    int n_inputs;
    bool truncate;           /* cut inputs to the context instead of refusing them */

    /* generation */
    sampler_params sampling; /* sampling.logit_bias points into logit_bias */
    sampler_logit_bias *logit_bias;
    int32_t max_tokens;      /* < 0: until the model stops or the context is full */
    char **stop;
    int n_stop;
    bool ignore_eos;
    rk_format format;
    json_t *schema;          /* RK_FORMAT_JSON_SCHEMA */
    int32_t num_ctx;         /* requested context (Ollama); 0: the server's */
    int32_t n_keep;          /* < 0: a full context ends the answer; else shift it keeping this many tokens */

    /* prompt caches (core/prompt_cache.h): the state of the prefix that
     * renders cache_content as the system message is kept in cache_dir as
     * cache_name; a chat request starts from it (building it first when
     * it is missing or stale), an RK_KIND_CACHE request only builds it */
    json_t *cache_prompts;   /* a chat request's cache names (string or list) as given, or NULL */
    char *cache_dir;
    char *cache_name;
    char *cache_content;

    /* scheduling */
    bool has_keep_alive;
    int64_t keep_alive_ms;   /* as rk_config.keep_alive_ms */
} rk_request;

/* A refusal or failure, in terms both APIs map to their error shapes. */
typedef struct {
    int status;          /* HTTP status */
    const char *type;    /* OpenAI error type, e.g. "invalid_request_error" */
    const char *code;    /* OpenAI error code or NULL, e.g. "model_not_found" */
    const char *param;   /* the offending field or NULL */
    int retry_after;     /* seconds, for 429/503 */
    char message[512];
} rk_error;

/* Fills e and returns -1, so translators can `return rk_fail(...)`. */
int rk_fail(rk_error *e, int status, const char *param, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Defaults: chat, sampling as Ollama's defaults with a random seed, no
 * token limit, keep-alive from the server. */
void request_init(rk_request *r);
void request_free(rk_request *r);
rk_request *request_new(void);
void request_destroy(rk_request *r);

/* Adds an image: a copy of its bytes, or (data NULL) of the URL. 0, or -1
 * with e (400 past RK_MAX_IMAGES, 500 out of memory). */
int request_add_image(rk_request *r, const uint8_t *data, size_t len, const char *url, rk_error *e);

/* Adds a stop string (a copy); false when out of memory. */
bool request_add_stop(rk_request *r, const char *s);

/* Renders a chat request with the model's format. A malloc'd prompt, or
 * NULL with e filled (400 when the conversation does not fit the format).
 * Image marks become image_marker (NULL: "<image>"); a Jinja template that
 * looks at content parts ("type") gets every content as a list of text and
 * image parts instead, as Hugging Face processors pass them. */
char *request_render_chat(const rk_request *r, const chat_format *f, const char *image_marker, rk_error *e);

/* What the scheduler reports when a request starts running. */
typedef struct {
    const char *model;          /* the model's served name */
    const engine_info *info;
    const chat_format *chat;
    const char *template_src;   /* the Jinja source chat renders with, or NULL (built-in format) */
    const char *prompt_text;    /* rendered prompt, or NULL for token prompts */
    const char *answer_prefix;  /* text the prompt ends with that belongs to the answer (a forced call's opening), or "" */
    int64_t n_prompt;           /* prompt tokens */
} rk_start;

typedef struct {
    rk_error error;             /* error.status 0: success */
    int64_t cache_tokens;       /* prompt cache: tokens of its prefix (0 when unknown: text engines) */
    bool cache_built;           /* its state was (re)built by this request */
    textgen_finish finish;
    engine_stats stats;
    double queue_ms;            /* submitted until a session took it (includes loading) */
    double load_ms;             /* model loading this request waited for */
    double ttft_ms;             /* submitted until the first text */
    double total_ms;
    /* RK_KIND_EMBED: n_embeddings rows of n_embd floats, and the tokens read */
    float *embeddings;
    int n_embeddings;
    int32_t n_embd;
    int64_t embed_tokens;
} rk_result;

/* Callbacks of one request, called on the scheduler's threads in this
 * order: on_start (if it ran), on_text any number of times, on_done exactly
 * once. on_text returns false to stop the generation. */
typedef struct {
    void (*on_start)(void *user, const rk_start *st);
    bool (*on_text)(void *user, const char *text, size_t len);
    void (*on_done)(void *user, const rk_result *res);
    void *user;
} rk_sink;

#endif
