/* The transformer forward pass over a batch of tokens at consecutive
 * positions, with a per-session key/value cache. */
#ifndef RK_FORWARD_H
#define RK_FORWARD_H

#include <stdbool.h>
#include <stdint.h>

#include "engine/cpu/model.h"
#include "util/threadpool.h"

typedef struct rk_forward_ctx_s {
    const rk_model *m;
    threadpool *pool;
    int32_t n_ctx;
    int32_t n_batch;     /* most tokens one rk_forward call may take */
    int32_t kv_dim;      /* n_head_kv * head_dim */
    int32_t kv_dim_v;
    uint32_t kv_type;    /* GGML_TYPE_F16 (default) or GGML_TYPE_F32 (exact, for reference tests) */
    size_t kv_elem;      /* bytes per cached element */
    void *k_cache;       /* [n_layer][n_ctx][kv_dim] */
    void *v_cache;       /* [n_layer][n_ctx][kv_dim_v] */
    /* scratch, sized for n_batch tokens */
    float *x, *xn, *q, *k, *v, *att, *gate, *up;
    void *xq;            /* activations converted for the dot kernels */
    size_t xq_row_cap;   /* bytes per token reserved in xq */
    uint32_t xq_type;    /* the type xq was last filled with */
    float *scores;       /* per thread: n_ctx */
    float *vrow;         /* per thread: one value row converted to f32 */
    float *inv_freq;     /* n_rot/2 rotary frequencies */
    float *rope_cs;      /* per token of the batch: n_rot/2 (cos, sin) pairs */
    /* per token of the batch: the context whose cache it reads and writes,
     * and its position (one sequence, or one token of several sessions) */
    struct rk_forward_ctx_s **row_kv;
    int32_t *row_pos;
} rk_forward_ctx;

rk_forward_ctx *rk_forward_new(const rk_model *m, threadpool *pool, int32_t n_ctx, int32_t n_batch,
                               uint32_t kv_type);
void rk_forward_free(rk_forward_ctx *c);
/* The cached keys (or values) of positions [0, n) of a layer: one block of
 * n * row bytes, as session files store them. */
void *rk_forward_kv_span(const rk_forward_ctx *c, int layer, bool values, size_t *row_bytes);

/* Runs n tokens (n <= n_batch, pos0 + n <= n_ctx) at positions pos0.., writing
 * their keys and values into the cache. logits receives n_vocab floats for the
 * last token, or for every token (n * n_vocab) when all_logits; it may be
 * NULL to only fill the cache. When hidden is not NULL it receives the final
 * normalised hidden state of every token (n * n_embd). */
void rk_forward(rk_forward_ctx *c, const int32_t *tokens, int32_t n, int32_t pos0, float *logits,
                bool all_logits, float *hidden);

/* rk_forward where embd[t], when embd and embd[t] are not NULL, is the input
 * of token t (n_embd floats) in place of its token embedding: how image
 * embeddings enter the prompt. tokens[t] is then not read. */
void rk_forward_embd(rk_forward_ctx *c, const int32_t *tokens, const float *const *embd, int32_t n, int32_t pos0,
                     float *logits, bool all_logits, float *hidden);

/* One decode step of several sessions of the same model at once: token t
 * goes through cs[t] (its cache, at position pos[t]), so every weight is
 * read once for the n tokens; memory-bound decoding then serves n streams
 * for little more than the price of one. The scratch of cs[0] is used (its
 * session must be one of those waiting), n <= cs[0]->n_batch, and
 * logits receives n rows of n_vocab floats. */
void rk_forward_multi(rk_forward_ctx *const *cs, const int32_t *tokens, const int32_t *pos, int32_t n,
                      float *logits);

/* y[t][r] = dot(W row r, x[t]) for t < n: a matrix product with the weight's
 * own kernel, rows split over the pool. Exposed for tests and embeddings. */
void rk_matmul(rk_forward_ctx *c, const rk_weight *w, const float *x, int32_t n, float *y);

/* The same product without a forward context (the vision encoder): xq is
 * 64-byte aligned scratch of rk_matmul_scratch_bytes(w, n) bytes for the
 * converted activations. */
size_t rk_matmul_scratch_bytes(const rk_weight *w, int32_t n);
void rk_matmul_pool(threadpool *pool, const rk_weight *w, const float *x, int32_t n, float *y, void *xq);

#endif
