/* The seam between the server and the inference engines. Everything above
 * this header (CLI, scheduler, HTTP APIs) talks to a model only through
 * engine_ops; engines never see HTTP or JSON. A model is loaded once and may
 * have several sessions, each with its own KV state ("slot"). Calls on one
 * session must not overlap; different sessions may run on different threads
 * only if the engine says so (engine_info.concurrent_sessions). */
#ifndef RK_ENGINE_H
#define RK_ENGINE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/sampling.h"

typedef struct engine_model engine_model;
typedef struct engine_session engine_session;

typedef struct {
    const char *path;
    int32_t n_ctx;       /* 0: the model's training context, capped at 4096 */
    int32_t n_threads;   /* 0: one per online core */
    int32_t n_batch;     /* tokens per prefill step; 0: engine default */
    bool kv_f32;         /* keep the KV cache in f32 instead of f16 (twice the memory) */
    const char *runtime_lib;  /* vendor runtime library to load (--rkllm-lib); NULL: the engine's search */
    /* Tags a runtime wraps each image's embeddings in (the vision preset's,
     * for runtimes that take them at load); NULL: the engine's defaults. */
    const char *image_start, *image_end, *image_content;
} engine_load_params;

typedef struct {
    const char *engine;         /* "cpu", "rkllm" */
    const char *arch;           /* "llama", "qwen2", ... */
    const char *name;           /* general.name or the file's */
    const char *chat_template;  /* the model's Jinja template, or NULL */
    const char *bos_text;       /* text of the BOS / EOS tokens for templates, or NULL */
    const char *eos_text;
    int32_t n_ctx_train;
    int32_t n_ctx;
    int32_t n_vocab;
    int32_t n_embd;
    uint64_t n_params;
    uint64_t weight_bytes;
    uint64_t state_bytes;       /* KV cache and scratch of one session */
    bool has_tokenizer;         /* tokenize/token_to_piece work */
    bool concurrent_sessions;   /* different sessions may generate on different threads at once */
} engine_info;

typedef enum {
    ENGINE_FINISH_NONE = 0,
    ENGINE_FINISH_EOG,        /* the model ended its turn */
    ENGINE_FINISH_LENGTH,     /* max_tokens reached */
    ENGINE_FINISH_CONTEXT,    /* context full and shifting disabled */
    ENGINE_FINISH_STOPPED,    /* the token callback asked to stop */
    ENGINE_FINISH_CANCELLED,  /* the cancel flag was raised */
} engine_finish;

/* A run of prompt positions whose inputs are given embeddings instead of
 * their tokens' (an image's, from a vision encoder). The prompt holds
 * placeholder tokens there, so the hash stands in for them when a kept
 * prefix is compared: a prefix is reused across a span only if the hash
 * matches too. */
typedef struct {
    int64_t pos;          /* first prompt position covered */
    int32_t n_tokens;     /* positions covered */
    const float *embd;    /* n_tokens x n_embd floats */
    uint64_t hash;        /* of the embeddings' source (the image's bytes and preprocessing) */
} engine_embd_span;

typedef struct {
    sampler_params sampling;
    int32_t max_tokens;           /* < 0: until end of generation or context */
    int32_t n_keep;               /* < 0: no context shift; else tokens kept when the context is full */
    bool ignore_eos;
    atomic_bool *cancel;          /* optional: checked between prefill chunks and tokens */
    /* Optional: edits the logits before each token is sampled (constrained
     * output sets disallowed tokens to -INFINITY). Engines that cannot
     * expose logits refuse a request that sets it. */
    void (*logits_filter)(void *user, float *logits, int32_t n_vocab);
    void *filter_user;
    /* Optional: spans in prompt order, not overlapping. Engines that cannot
     * take embeddings refuse a request that has them. */
    const engine_embd_span *spans;
    int32_t n_spans;
    /* For generate_text with spans: the text that marks an image in the
     * prompt and the tags a runtime wraps each image's embeddings in (the
     * vision preset's; NULL: the engine's defaults). */
    const char *image_marker, *image_start, *image_end, *image_content;
} engine_gen_params;

typedef struct {
    int32_t prompt_tokens;        /* tokens in the request's prompt */
    int32_t reused_tokens;        /* of those, taken from the session's kept prefix */
    int32_t completion_tokens;
    double prefill_ms;
    double decode_ms;
    int32_t context_shifts;
    engine_finish finish;
} engine_stats;

/* One generated token. piece holds its raw bytes, which may end inside a
 * UTF-8 character (the caller reassembles). Return false to stop. */
typedef bool (*engine_token_fn)(void *user, int32_t token, const char *piece, size_t len);

typedef struct engine_ops {
    const char *name;
    engine_model *(*load)(const engine_load_params *p, char *err, size_t errlen);
    void (*unload)(engine_model *m);
    void (*info)(const engine_model *m, engine_info *out);

    int64_t (*tokenize)(const engine_model *m, const char *text, size_t len, bool add_bos, bool parse_special,
                        int32_t *out, int64_t cap);
    int (*token_to_piece)(const engine_model *m, int32_t token, bool render_special, char *buf, size_t cap);
    bool (*is_eog)(const engine_model *m, int32_t token);

    engine_session *(*session_new)(engine_model *m, char *err, size_t errlen);
    void (*session_free)(engine_session *s);
    /* Forgets the kept tokens, so the next prompt starts clean. */
    void (*session_reset)(engine_session *s);
    /* Prefills the prompt (reusing the longest kept prefix) and generates. */
    int (*generate)(engine_session *s, const int32_t *prompt, int64_t n_prompt, const engine_gen_params *p,
                    engine_token_fn on_token, void *user, engine_stats *stats, char *err, size_t errlen);
    /* Mean-pooled, L2-normalised final hidden state of the tokens (n_embd floats). */
    int (*embed)(engine_session *s, const int32_t *tokens, int64_t n, float *out, char *err, size_t errlen);
    /* The session's kept tokens and KV state, to a file and back. */
    int (*save)(engine_session *s, const char *path, char *err, size_t errlen);
    int (*restore)(engine_session *s, const char *path, char *err, size_t errlen);
    /* Tokens currently kept by the session (its reusable prefix). */
    int64_t (*kept_tokens)(const engine_session *s, const int32_t **tokens);

    /* Engines whose runtime tokenizes internally (has_tokenizer false: the
     * NPU runtime) take the rendered prompt as text; NULL for the others.
     * There a span's pos is ignored: spans fill the prompt's image
     * placeholders in order. Stats count tokens as the runtime reports. */
    int (*generate_text)(engine_session *s, const char *prompt, const engine_gen_params *p, engine_token_fn on_token,
                         void *user, engine_stats *stats, char *err, size_t errlen);
    int (*embed_text)(engine_session *s, const char *text, float *out, char *err, size_t errlen);
    /* Such engines' counterpart of kept_tokens: the text the session holds
     * (prompt and answer) that a prompt extending it reuses; NULL if none. */
    size_t (*kept_text)(const engine_session *s, const char **text);
} engine_ops;

extern const engine_ops cpu_engine_ops;

/* The engine that handles a model file (by its contents and name). */
const engine_ops *engine_for_path(const char *path);

const char *engine_finish_name(engine_finish f);

/* What a session keeps at offset `offset` of a span with `hash` instead of a
 * token: a negative id, so comparing a prompt with kept tokens (after the
 * same mapping of the prompt's span positions) reuses a prefix across an
 * image exactly when the same image sits at the same place. */
int32_t engine_span_identity(uint64_t hash, int32_t offset);

/* Tokenizes a prompt (special tokens parsed) into a malloc'd array; returns
 * the count, or -1 (nothing allocated) on failure. */
int64_t engine_tokenize_alloc(const engine_ops *ops, const engine_model *m, const char *text, bool add_bos,
                              int32_t **out);
/* A rendered chat prompt gets the model's BOS unless the template wrote it. */
bool engine_prompt_wants_bos(const engine_info *info, const char *prompt);

#endif
