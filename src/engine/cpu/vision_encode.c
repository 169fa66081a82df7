/* The vision encoder's forward pass: patches -> SigLIP blocks (pre-norm,
 * bidirectional attention, GELU MLP) -> post norm -> pixel shuffle ->
 * projection. Products go through the engine's matmul kernels; the
 * element-wise work is split over tokens on the same pool. */
#include <math.h>
#include <string.h>

#include "engine/cpu/forward.h"
#include "engine/cpu/kernels.h"
#include "engine/cpu/vision_model.h"

/* ---- per-token element-wise work ------------------------------------ */

typedef enum { OP_LAYERNORM, OP_BIAS_GELU, OP_BIAS_ADD, OP_BIAS } token_op;

typedef struct {
    token_op op;
    int32_t n, dim;
    const float *src;     /* LAYERNORM: input; BIAS_ADD: the product to add */
    float *dst;           /* modified in place, or the norm's output */
    const float *w, *b;   /* norm weight and bias, or the bias */
    float eps;
} token_job;

static float gelu_tanh(float x)
{
    /* the tanh approximation ("gelu_pytorch_tanh") SigLIP is trained with */
    const float k = 0.7978845608028654f; /* sqrt(2 / pi) */
    return 0.5f * x * (1.0f + tanhf(k * (x + 0.044715f * x * x * x)));
}

static void token_worker(void *arg, int ith, int nth)
{
    const token_job *j = arg;
    long t0, t1;
    threadpool_range(j->n, ith, nth, &t0, &t1);
    for (long t = t0; t < t1; t++) {
        float *y = j->dst + (size_t)t * j->dim;
        const float *x = j->src ? j->src + (size_t)t * j->dim : NULL;
        switch (j->op) {
        case OP_LAYERNORM: {
            double mean = 0, var = 0;
            for (int32_t i = 0; i < j->dim; i++) mean += x[i];
            mean /= j->dim;
            for (int32_t i = 0; i < j->dim; i++) var += (x[i] - mean) * (x[i] - mean);
            var /= j->dim;
            float inv = (float)(1.0 / sqrt(var + j->eps)), m = (float)mean;
            for (int32_t i = 0; i < j->dim; i++) y[i] = (x[i] - m) * inv * j->w[i] + j->b[i];
            break;
        }
        case OP_BIAS_GELU:
            for (int32_t i = 0; i < j->dim; i++) y[i] = gelu_tanh(y[i] + j->b[i]);
            break;
        case OP_BIAS_ADD:
            for (int32_t i = 0; i < j->dim; i++) y[i] += x[i] + j->b[i];
            break;
        case OP_BIAS:
            for (int32_t i = 0; i < j->dim; i++) y[i] += j->b[i];
            break;
        }
    }
}

static void per_token(vision_model *v, token_op op, int32_t dim, const float *src, float *dst, const float *w,
                      const float *b)
{
    token_job j = {.op = op, .n = v->n_patches, .dim = dim, .src = src, .dst = dst, .w = w, .b = b, .eps = v->eps};
    threadpool_run(v->pool, token_worker, &j);
}

/* ---- attention: every patch sees every patch --------------------------- */

typedef struct {
    vision_model *v;
} attention_job;

static void attention_worker(void *arg, int ith, int nth)
{
    vision_model *v = ((const attention_job *)arg)->v;
    const rk_vec_ops *vec = &kernels_get()->vec;
    int32_t N = v->n_patches, D = v->hidden, hd = v->head_dim;
    float *scores = v->scores + (size_t)ith * N;
    float scale = 1.0f / sqrtf((float)hd);
    long i0, i1;
    threadpool_range((long)N * v->n_head, ith, nth, &i0, &i1);
    for (long it = i0; it < i1; it++) {
        /* head-major so a thread's queries share their keys in cache */
        int32_t h = (int32_t)(it / N), t = (int32_t)(it % N);
        const float *q = v->q + (size_t)t * D + (size_t)h * hd;
        float maxv = -INFINITY;
        for (int32_t p = 0; p < N; p++) {
            float s = vec->dot_f32(hd, q, v->k + (size_t)p * D + (size_t)h * hd) * scale;
            scores[p] = s;
            if (s > maxv) maxv = s;
        }
        float sum = 0;
        for (int32_t p = 0; p < N; p++) {
            scores[p] = expf(scores[p] - maxv);
            sum += scores[p];
        }
        float inv = 1.0f / sum;
        float *out = v->att + (size_t)t * D + (size_t)h * hd;
        memset(out, 0, (size_t)hd * sizeof(float));
        for (int32_t p = 0; p < N; p++) vec->axpy_f32(hd, scores[p] * inv, v->v + (size_t)p * D + (size_t)h * hd, out);
    }
}

/* ---- the pieces -------------------------------------------------------- */

/* Each patch flattened as Conv2d's weight is: [channel][row][col]. */
static void extract_patches(const vision_model *v, const float *pixels)
{
    int32_t S = v->image_size, P = v->patch_size, n = v->n_side;
    for (int32_t py = 0; py < n; py++)
        for (int32_t px = 0; px < n; px++) {
            float *dst = v->patches + ((size_t)py * n + px) * 3 * P * P;
            for (int32_t c = 0; c < 3; c++)
                for (int32_t ky = 0; ky < P; ky++) {
                    const float *src = pixels + ((size_t)c * S + (size_t)py * P + ky) * S + (size_t)px * P;
                    memcpy(dst + ((size_t)c * P + ky) * P, src, (size_t)P * sizeof(float));
                }
        }
}

void rk_vision_pixel_shuffle(const float *x, int32_t n_side, int32_t hidden, int32_t scale, float *out)
{
    int32_t m = n_side / scale;
    for (int32_t i = 0; i < m; i++)
        for (int32_t j = 0; j < m; j++) {
            float *dst = out + ((size_t)i * m + j) * hidden * scale * scale;
            for (int32_t a = 0; a < scale; a++)
                for (int32_t b = 0; b < scale; b++) {
                    const float *src = x + ((size_t)(i * scale + a) * n_side + (size_t)(j * scale + b)) * hidden;
                    memcpy(dst + (size_t)(a * scale + b) * hidden, src, (size_t)hidden * sizeof(float));
                }
        }
}

void rk_vision_encode(vision_model *v, const float *pixels, float *out)
{
    int32_t N = v->n_patches, D = v->hidden;

    extract_patches(v, pixels);
    rk_matmul_pool(v->pool, &v->patch, v->patches, N, v->x, v->xq);
    per_token(v, OP_BIAS_ADD, D, v->pos, v->x, NULL, v->patch_b);

    for (int li = 0; li < v->n_layer; li++) {
        const rk_vision_layer *l = &v->layers[li];
        per_token(v, OP_LAYERNORM, D, v->x, v->xn, l->ln1_w, l->ln1_b);
        rk_matmul_pool(v->pool, &l->wq, v->xn, N, v->q, v->xq);
        rk_matmul_pool(v->pool, &l->wk, v->xn, N, v->k, v->xq);
        rk_matmul_pool(v->pool, &l->wv, v->xn, N, v->v, v->xq);
        per_token(v, OP_BIAS, D, NULL, v->q, NULL, l->bq);
        per_token(v, OP_BIAS, D, NULL, v->k, NULL, l->bk);
        per_token(v, OP_BIAS, D, NULL, v->v, NULL, l->bv);
        attention_job aj = {.v = v};
        threadpool_run(v->pool, attention_worker, &aj);
        /* the output projection lands in xn, then joins the residual with its bias */
        rk_matmul_pool(v->pool, &l->wo, v->att, N, v->xn, v->xq);
        per_token(v, OP_BIAS_ADD, D, v->xn, v->x, NULL, l->bo);

        per_token(v, OP_LAYERNORM, D, v->x, v->xn, l->ln2_w, l->ln2_b);
        rk_matmul_pool(v->pool, &l->fc1, v->xn, N, v->ff, v->xq);
        per_token(v, OP_BIAS_GELU, v->n_ff, NULL, v->ff, NULL, l->b1);
        rk_matmul_pool(v->pool, &l->fc2, v->ff, N, v->xn, v->xq);
        per_token(v, OP_BIAS_ADD, D, v->xn, v->x, NULL, l->b2);
    }
    per_token(v, OP_LAYERNORM, D, v->x, v->xn, v->post_w, v->post_b);

    rk_vision_pixel_shuffle(v->xn, v->n_side, D, v->scale, v->shuffled);
    rk_matmul_pool(v->pool, &v->proj, v->shuffled, v->n_tokens, out, v->xq);
}
