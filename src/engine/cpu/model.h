/* A decoder-only transformer as llama.cpp lays it out in GGUF (architectures
 * llama, qwen2, qwen3): hyper-parameters from metadata and weight views into
 * the mapped file. Loading validates every tensor's presence, type and shape. */
#ifndef RK_MODEL_H
#define RK_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "format/gguf.h"

/* A weight matrix of n_out rows, each n_in elements of `type`, row-major. */
typedef struct {
    const void *data;
    uint32_t type;
    int64_t n_in;
    int64_t n_out;
    size_t row_bytes;
} rk_weight;

typedef struct {
    const float *attn_norm;
    rk_weight wq, wk, wv, wo;
    const float *bq, *bk, *bv;        /* qwen2 */
    const float *q_norm, *k_norm;     /* qwen3: per head, head_dim each */
    const float *ffn_norm;
    rk_weight w_gate, w_up, w_down;
} rk_layer;

typedef enum { ROPE_NORMAL, ROPE_NEOX } rk_rope_kind;

typedef struct {
    char arch[32];
    char name[128];
    int32_t n_layer;
    int32_t n_embd;
    int32_t n_head;
    int32_t n_head_kv;
    int32_t head_dim;       /* key and query width per head */
    int32_t head_dim_v;     /* value width per head */
    int32_t n_ff;
    int32_t n_vocab;
    int32_t n_ctx_train;
    float norm_eps;
    /* RoPE */
    rk_rope_kind rope_kind;
    int32_t n_rot;          /* rotated dimensions per head (<= head_dim) */
    float rope_base;
    float rope_freq_scale; /* 1 / linear scaling factor */
    const float *rope_freq_factors; /* llama3 scaling: n_rot/2 divisors, or NULL */

    rk_weight tok_embd;     /* n_vocab rows of n_embd */
    const float *output_norm;
    rk_weight output;       /* n_vocab rows of n_embd (may alias tok_embd) */
    rk_layer *layers;

    uint64_t n_params;
    uint64_t weight_bytes;
    gguf_file *gguf;
    void **owned;           /* f32 copies of 1-D tensors stored in other types */
    int n_owned;
} rk_model;

/* Loads the transformer from an opened GGUF (which the model does not own). */
rk_model *rk_model_load(gguf_file *g, char *err, size_t errlen);
void rk_model_free(rk_model *m);

/* Copies row `row` of a weight as floats (for embeddings lookups). */
void rk_weight_row_f32(const rk_weight *w, int64_t row, float *out);

#endif
