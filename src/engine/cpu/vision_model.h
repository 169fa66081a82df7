/* The CPU vision encoder of SmolVLM / Idefics3 models, from a GGUF mmproj in
 * llama.cpp's clip naming (models/mmproj_writer.py has the table): a SigLIP
 * vision transformer, then the connector (pixel shuffle and a linear
 * projection into the language model's width). */
#ifndef RK_VISION_MODEL_H
#define RK_VISION_MODEL_H

#include <stdint.h>

#include "engine/cpu/model.h"
#include "engine/vision.h"
#include "format/gguf.h"
#include "util/threadpool.h"

typedef struct {
    const float *ln1_w, *ln1_b, *ln2_w, *ln2_b;
    rk_weight wq, wk, wv, wo, fc1, fc2;
    const float *bq, *bk, *bv, *bo, *b1, *b2;
} rk_vision_layer;

struct vision_model {
    gguf_file *gguf;
    threadpool *pool;
    char name[128];
    int32_t image_size, patch_size;
    int32_t n_side;          /* patches per side */
    int32_t n_patches;       /* n_side^2: the transformer's sequence */
    int32_t hidden, n_ff, n_head, head_dim, n_layer;
    int32_t scale;           /* pixel-shuffle factor */
    int32_t n_tokens;        /* n_patches / scale^2 */
    int32_t n_embd;          /* projection width: the language model's */
    float eps;
    float mean[3], std[3];

    rk_weight patch;         /* hidden rows of 3*P*P: [channel][row][col], as Conv2d's weight */
    const float *patch_b;
    const float *pos;        /* n_patches x hidden */
    rk_vision_layer *layers;
    const float *post_w, *post_b;
    rk_weight proj;          /* n_embd rows of hidden*scale^2, no bias */

    uint64_t weight_bytes;
    void **owned;            /* f32 copies of vectors stored in other types */
    int n_owned;

    /* scratch for one image */
    float *patches;          /* n_patches x 3*P*P */
    float *x, *xn, *q, *k, *v, *att, *ff, *shuffled;
    float *scores;           /* per thread: n_patches */
    void *xq;
};

/* The forward pass: pixels (3 x S x S, planar, normalised) to n_tokens x
 * n_embd embeddings. */
void rk_vision_encode(vision_model *v, const float *pixels, float *out);

/* Pixel shuffle as Idefics3's connector orders it: output token (i, j) of
 * the (n_side/s)^2 grid holds patches (i*s + a, j*s + b) for a, b < s, at
 * channel offset (a*s + b) * hidden. Exposed for tests. */
void rk_vision_pixel_shuffle(const float *x, int32_t n_side, int32_t hidden, int32_t scale, float *out);

#endif
