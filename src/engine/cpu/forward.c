#include "engine/cpu/forward.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine/cpu/kernels.h"

#define MATMUL_TOKEN_BLOCK 64 /* activations of a block stay in L2 while weight rows stream */

static void *alloc_floats(size_t n)
{
    return aligned_alloc(64, ((n * sizeof(float)) + 63) & ~(size_t)63);
}

rk_forward_ctx *rk_forward_new(const rk_model *m, threadpool *pool, int32_t n_ctx, int32_t n_batch,
                               uint32_t kv_type)
{
    rk_forward_ctx *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    c->m = m;
    c->pool = pool;
    c->n_ctx = n_ctx;
    c->n_batch = n_batch;
    c->kv_dim = m->n_head_kv * m->head_dim;
    c->kv_dim_v = m->n_head_kv * m->head_dim_v;
    c->kv_type = kv_type == GGML_TYPE_F32 ? GGML_TYPE_F32 : GGML_TYPE_F16;
    c->kv_elem = c->kv_type == GGML_TYPE_F32 ? 4 : 2;
    size_t B = (size_t)n_batch;
    size_t q_dim = (size_t)m->n_head * m->head_dim, att_dim = (size_t)m->n_head * m->head_dim_v;
    size_t widest = (size_t)m->n_embd;
    if ((size_t)m->n_ff > widest) widest = (size_t)m->n_ff;
    if (att_dim > widest) widest = att_dim;
    /* room for any activation format: at most 4 bytes per element plus block headers */
    c->xq_row_cap = (widest * 4 + 1024 + 63) & ~(size_t)63;
    int nth = threadpool_size(pool);
    c->k_cache = alloc_floats(((size_t)m->n_layer * n_ctx * c->kv_dim * c->kv_elem + 3) / 4);
    c->v_cache = alloc_floats(((size_t)m->n_layer * n_ctx * c->kv_dim_v * c->kv_elem + 3) / 4);
    c->x = alloc_floats(B * m->n_embd);
    c->xn = alloc_floats(B * m->n_embd);
    c->q = alloc_floats(B * q_dim);
    c->k = alloc_floats(B * c->kv_dim);
    c->v = alloc_floats(B * c->kv_dim_v);
    c->att = alloc_floats(B * att_dim);
    c->gate = alloc_floats(B * m->n_ff);
    c->up = alloc_floats(B * m->n_ff);
    c->xq = aligned_alloc(64, B * c->xq_row_cap);
    c->scores = alloc_floats((size_t)nth * n_ctx);
    c->vrow = alloc_floats((size_t)nth * m->head_dim_v);
    c->inv_freq = alloc_floats((size_t)m->n_rot / 2);
    c->rope_cs = alloc_floats(B * m->n_rot);
    c->row_kv = calloc(B, sizeof *c->row_kv);
    c->row_pos = calloc(B, sizeof *c->row_pos);
    if (!c->k_cache || !c->v_cache || !c->x || !c->xn || !c->q || !c->k || !c->v || !c->att || !c->gate ||
        !c->up || !c->xq || !c->scores || !c->vrow || !c->inv_freq || !c->rope_cs || !c->row_kv || !c->row_pos) {
        rk_forward_free(c);
        return NULL;
    }
    for (int i = 0; i < m->n_rot / 2; i++) {
        double f = pow((double)m->rope_base, -2.0 * i / m->n_rot) * m->rope_freq_scale;
        if (m->rope_freq_factors) f /= m->rope_freq_factors[i];
        c->inv_freq[i] = (float)f;
    }
    return c;
}

void rk_forward_free(rk_forward_ctx *c)
{
    if (!c) return;
    free(c->k_cache);
    free(c->v_cache);
    free(c->x);
    free(c->xn);
    free(c->q);
    free(c->k);
    free(c->v);
    free(c->att);
    free(c->gate);
    free(c->up);
    free(c->xq);
    free(c->scores);
    free(c->vrow);
    free(c->inv_freq);
    free(c->rope_cs);
    free(c->row_kv);
    free(c->row_pos);
    free(c);
}

void *rk_forward_kv_span(const rk_forward_ctx *c, int layer, bool values, size_t *row_bytes)
{
    size_t row = (size_t)(values ? c->kv_dim_v : c->kv_dim) * c->kv_elem;
    *row_bytes = row;
    return (uint8_t *)(values ? c->v_cache : c->k_cache) + (size_t)layer * c->n_ctx * row;
}

/* ---- matrix product ---------------------------------------------------- */

typedef struct {
    const rk_weight *w;
    const rk_type_ops *ops;
    const uint8_t *xq;
    size_t xq_row;
    int32_t n;
    float *y;
} matmul_job;

#define TILE_MIN_TOKENS 16

static void matmul_worker(void *arg, int ith, int nth)
{
    const matmul_job *j = arg;
    const rk_weight *w = j->w;
    /* rows in groups of 4 so the 4x4 tile kernel can be used */
    long groups = (long)((w->n_out + 3) / 4), g0, g1;
    threadpool_range(groups, ith, nth, &g0, &g1);
    int64_t r_begin = g0 * 4, r_end = g1 * 4 < w->n_out ? g1 * 4 : w->n_out;
    const uint8_t *wdata = w->data;
    int64_t n_out = w->n_out;
    for (int32_t t0 = 0; t0 < j->n; t0 += MATMUL_TOKEN_BLOCK) {
        int32_t t1 = t0 + MATMUL_TOKEN_BLOCK < j->n ? t0 + MATMUL_TOKEN_BLOCK : j->n;
        int64_t r = r_begin;
        /* the 4x4 tiles pay off from about 16 tokens (prefill); below that,
         * as in a batched decode step, separate dots are faster (measured:
         * 8 tokens of Q8_0 27.5 vs 31.7 ms, F16 31.2 vs 53.2 ms) */
        if (j->ops->vec_dot_4x && t1 - t0 >= TILE_MIN_TOKENS) {
            for (; r + 4 <= r_end; r += 4) {
                int32_t t = t0;
                for (; t + 4 <= t1; t += 4) {
                    float tile[16];
                    j->ops->vec_dot_4x(w->n_in, tile, 4, wdata + (size_t)r * w->row_bytes, w->row_bytes,
                                       j->xq + (size_t)t * j->xq_row, j->xq_row);
                    for (int a = 0; a < 4; a++)
                        for (int b = 0; b < 4; b++) j->y[(size_t)(t + b) * n_out + r + a] = tile[a * 4 + b];
                }
                for (; t < t1; t++)
                    for (int a = 0; a < 4; a++)
                        j->ops->vec_dot(w->n_in, &j->y[(size_t)t * n_out + r + a],
                                        wdata + (size_t)(r + a) * w->row_bytes, j->xq + (size_t)t * j->xq_row);
            }
        }
        for (; r < r_end; r++) {
            const uint8_t *row = wdata + (size_t)r * w->row_bytes;
            for (int32_t t = t0; t < t1; t++)
                j->ops->vec_dot(w->n_in, &j->y[(size_t)t * n_out + r], row, j->xq + (size_t)t * j->xq_row);
        }
    }
}

typedef struct {
    const rk_type_ops *act_ops; /* converter into the dot's activation type, NULL for f32 */
    const float *x;
    int64_t n_in;
    int32_t n;
    uint8_t *xq;
    size_t xq_row;
} quantize_job;

static void quantize_worker(void *arg, int ith, int nth)
{
    const quantize_job *j = arg;
    long t0, t1;
    threadpool_range(j->n, ith, nth, &t0, &t1);
    for (long t = t0; t < t1; t++) {
        const float *src = j->x + (size_t)t * j->n_in;
        uint8_t *dst = j->xq + (size_t)t * j->xq_row;
        if (j->act_ops)
            j->act_ops->from_float(src, dst, j->n_in);
        else
            memcpy(dst, src, (size_t)j->n_in * sizeof(float));
    }
}

/* With same_input the activations already in xq (from the previous product,
 * over the same x) are reused when they are in the type this weight needs:
 * Q, K and V, and gate and up, share their input. */
static size_t xq_row_bytes(const rk_weight *w)
{
    uint32_t act_type = kernels_get()->types[w->type]->vec_dot_type;
    return (ggml_row_size(act_type, w->n_in) + 63) & ~(size_t)63;
}

static void matmul_run(threadpool *pool, const rk_weight *w, const float *x, int32_t n, float *y, void *xq,
                       bool convert)
{
    const rk_kernels *k = kernels_get();
    const rk_type_ops *ops = k->types[w->type];
    uint32_t act_type = ops->vec_dot_type;
    size_t xq_row = xq_row_bytes(w);
    if (convert) {
        quantize_job q = {
            .act_ops = act_type == GGML_TYPE_F32 ? NULL : k->types[act_type],
            .x = x, .n_in = w->n_in, .n = n, .xq = xq, .xq_row = xq_row,
        };
        if (n > 1)
            threadpool_run(pool, quantize_worker, &q);
        else
            quantize_worker(&q, 0, 1);
    }
    matmul_job j = {.w = w, .ops = ops, .xq = xq, .xq_row = xq_row, .n = n, .y = y};
    threadpool_run(pool, matmul_worker, &j);
}

static void matmul(rk_forward_ctx *c, const rk_weight *w, const float *x, int32_t n, float *y, bool same_input)
{
    uint32_t act_type = kernels_get()->types[w->type]->vec_dot_type;
    bool convert = !same_input || c->xq_type != act_type;
    matmul_run(c->pool, w, x, n, y, c->xq, convert);
    c->xq_type = act_type;
}

size_t rk_matmul_scratch_bytes(const rk_weight *w, int32_t n)
{
    return (size_t)n * xq_row_bytes(w);
}

void rk_matmul_pool(threadpool *pool, const rk_weight *w, const float *x, int32_t n, float *y, void *xq)
{
    matmul_run(pool, w, x, n, y, xq, true);
}

void rk_matmul(rk_forward_ctx *c, const rk_weight *w, const float *x, int32_t n, float *y)
{
    matmul(c, w, x, n, y, false);
}

/* ---- element-wise pieces --------------------------------------------- */

static void rmsnorm(float *out, const float *x, const float *weight, int64_t n, float eps)
{
    double ss = 0;
    for (int64_t i = 0; i < n; i++) ss += (double)x[i] * x[i];
    float scale = (float)(1.0 / sqrt(ss / (double)n + eps));
    for (int64_t i = 0; i < n; i++) out[i] = x[i] * scale * weight[i];
}

static void add_bias(float *x, const float *bias, int64_t dim, int32_t n)
{
    if (!bias) return;
    for (int32_t t = 0; t < n; t++)
        for (int64_t i = 0; i < dim; i++) x[(size_t)t * dim + i] += bias[i];
}

static void head_norm(float *x, const float *weight, int32_t n_heads, int32_t head_dim, int32_t n, float eps)
{
    if (!weight) return;
    for (int32_t h = 0; h < n * n_heads; h++) {
        float *v = x + (size_t)h * head_dim;
        rmsnorm(v, v, weight, head_dim, eps);
    }
}

static void rope_tables(rk_forward_ctx *c, int32_t n)
{
    int half = c->m->n_rot / 2;
    for (int32_t t = 0; t < n; t++) {
        float *cs = c->rope_cs + (size_t)t * c->m->n_rot;
        for (int i = 0; i < half; i++) {
            double theta = (double)c->row_pos[t] * c->inv_freq[i];
            cs[2 * i] = (float)cos(theta);
            cs[2 * i + 1] = (float)sin(theta);
        }
    }
}

static void rope(const rk_forward_ctx *c, float *x, int32_t n_heads, int32_t n)
{
    const rk_model *m = c->m;
    int half = m->n_rot / 2;
    for (int32_t t = 0; t < n; t++) {
        const float *cs = c->rope_cs + (size_t)t * m->n_rot;
        for (int32_t h = 0; h < n_heads; h++) {
            float *v = x + ((size_t)t * n_heads + h) * m->head_dim;
            for (int i = 0; i < half; i++) {
                /* normal: adjacent pairs rotate together; neox: the two halves */
                int a = m->rope_kind == ROPE_NORMAL ? 2 * i : i;
                int b = m->rope_kind == ROPE_NORMAL ? 2 * i + 1 : i + half;
                float x0 = v[a], x1 = v[b];
                v[a] = x0 * cs[2 * i] - x1 * cs[2 * i + 1];
                v[b] = x0 * cs[2 * i + 1] + x1 * cs[2 * i];
            }
        }
    }
}

/* ---- attention ------------------------------------------------------- */

typedef struct {
    rk_forward_ctx *c;
    int layer;
    int32_t n;
} attention_job;

static void attention_worker(void *arg, int ith, int nth)
{
    const attention_job *j = arg;
    rk_forward_ctx *c = j->c;
    const rk_model *m = c->m;
    const rk_kernels *kern = kernels_get();
    const rk_type_ops *kv_ops = kern->types[c->kv_type];
    int32_t hd = m->head_dim, hdv = m->head_dim_v, group = m->n_head / m->n_head_kv;
    size_t k_row, v_row;
    float *scores = c->scores + (size_t)ith * c->n_ctx;
    float *vbuf = c->vrow + (size_t)ith * hdv;
    float scale = 1.0f / sqrtf((float)hd);
    long items = (long)j->n * m->n_head, i0, i1;
    threadpool_range(items, ith, nth, &i0, &i1);
    for (long it = i0; it < i1; it++) {
        int32_t t = (int32_t)(it / m->n_head), h = (int32_t)(it % m->n_head), kvh = h / group;
        int32_t n_keys = c->row_pos[t] + 1; /* causal: this token and everything before it */
        const uint8_t *kc = rk_forward_kv_span(c->row_kv[t], j->layer, false, &k_row);
        const uint8_t *vc = rk_forward_kv_span(c->row_kv[t], j->layer, true, &v_row);
        const float *q = c->q + ((size_t)t * m->n_head + h) * hd;
        size_t k_off = (size_t)kvh * hd * c->kv_elem, v_off = (size_t)kvh * hdv * c->kv_elem;
        float maxv = -INFINITY;
        for (int32_t p = 0; p < n_keys; p++) {
            float s;
            kv_ops->vec_dot(hd, &s, kc + (size_t)p * k_row + k_off, q);
            s *= scale;
            scores[p] = s;
            if (s > maxv) maxv = s;
        }
        float sum = 0;
        for (int32_t p = 0; p < n_keys; p++) {
            scores[p] = expf(scores[p] - maxv);
            sum += scores[p];
        }
        float *out = c->att + ((size_t)t * m->n_head + h) * hdv;
        memset(out, 0, (size_t)hdv * sizeof(float));
        float inv = 1.0f / sum;
        for (int32_t p = 0; p < n_keys; p++) {
            const void *v = vc + (size_t)p * v_row + v_off;
            if (c->kv_type == GGML_TYPE_F32) {
                kern->vec.axpy_f32(hdv, scores[p] * inv, v, out);
            } else {
                kern->vec.fp16_to_f32(hdv, v, vbuf);
                kern->vec.axpy_f32(hdv, scores[p] * inv, vbuf, out);
            }
        }
    }
}

/* ---- the layer stack --------------------------------------------------- */

/* Writes the batch's keys and values into each row's cache at its position:
 * consecutive rows of one context in one piece. */
static void store_kv(rk_forward_ctx *c, int layer, int32_t n)
{
    const rk_vec_ops *vec = &kernels_get()->vec;
    for (int32_t t0 = 0, t1; t0 < n; t0 = t1) {
        rk_forward_ctx *kv = c->row_kv[t0];
        for (t1 = t0 + 1; t1 < n && c->row_kv[t1] == kv && c->row_pos[t1] == c->row_pos[t1 - 1] + 1; t1++) {}
        int32_t rows = t1 - t0;
        size_t k_row, v_row;
        uint8_t *kc = (uint8_t *)rk_forward_kv_span(kv, layer, false, &k_row) + (size_t)c->row_pos[t0] * k_row;
        uint8_t *vc = (uint8_t *)rk_forward_kv_span(kv, layer, true, &v_row) + (size_t)c->row_pos[t0] * v_row;
        const float *k = c->k + (size_t)t0 * c->kv_dim, *v = c->v + (size_t)t0 * c->kv_dim_v;
        if (c->kv_type == GGML_TYPE_F32) {
            memcpy(kc, k, (size_t)rows * k_row);
            memcpy(vc, v, (size_t)rows * v_row);
        } else {
            vec->f32_to_fp16((int64_t)rows * c->kv_dim, k, (rk_fp16 *)kc);
            vec->f32_to_fp16((int64_t)rows * c->kv_dim_v, v, (rk_fp16 *)vc);
        }
    }
}

static float silu(float x)
{
    return x / (1.0f + expf(-x));
}

void rk_forward(rk_forward_ctx *c, const int32_t *tokens, int32_t n, int32_t pos0, float *logits,
                bool all_logits, float *hidden)
{
    rk_forward_embd(c, tokens, NULL, n, pos0, logits, all_logits, hidden);
}

static void forward_rows(rk_forward_ctx *c, const int32_t *tokens, const float *const *embd, int32_t n,
                         float *logits, bool all_logits, float *hidden);

void rk_forward_embd(rk_forward_ctx *c, const int32_t *tokens, const float *const *embd, int32_t n, int32_t pos0,
                     float *logits, bool all_logits, float *hidden)
{
    for (int32_t t = 0; t < n; t++) {
        c->row_kv[t] = c;
        c->row_pos[t] = pos0 + t;
    }
    forward_rows(c, tokens, embd, n, logits, all_logits, hidden);
}

void rk_forward_multi(rk_forward_ctx *const *cs, const int32_t *tokens, const int32_t *pos, int32_t n,
                      float *logits)
{
    rk_forward_ctx *c = cs[0];
    for (int32_t t = 0; t < n; t++) {
        c->row_kv[t] = cs[t];
        c->row_pos[t] = pos[t];
    }
    forward_rows(c, tokens, NULL, n, logits, true, NULL);
}

/* The layer stack over n rows whose caches and positions are in row_kv
 * and row_pos. */
static void forward_rows(rk_forward_ctx *c, const int32_t *tokens, const float *const *embd, int32_t n,
                         float *logits, bool all_logits, float *hidden)
{
    const rk_model *m = c->m;
    int64_t d = m->n_embd;
    int32_t q_dim = m->n_head * m->head_dim;

    for (int32_t t = 0; t < n; t++) {
        if (embd && embd[t])
            memcpy(c->x + (size_t)t * d, embd[t], (size_t)d * sizeof(float));
        else
            rk_weight_row_f32(&m->tok_embd, tokens[t], c->x + (size_t)t * d);
    }
    rope_tables(c, n);

    for (int li = 0; li < m->n_layer; li++) {
        const rk_layer *l = &m->layers[li];
        for (int32_t t = 0; t < n; t++) rmsnorm(c->xn + t * d, c->x + t * d, l->attn_norm, d, m->norm_eps);

        matmul(c, &l->wq, c->xn, n, c->q, false);
        matmul(c, &l->wk, c->xn, n, c->k, true);
        matmul(c, &l->wv, c->xn, n, c->v, true);
        add_bias(c->q, l->bq, q_dim, n);
        add_bias(c->k, l->bk, c->kv_dim, n);
        add_bias(c->v, l->bv, c->kv_dim_v, n);
        head_norm(c->q, l->q_norm, m->n_head, m->head_dim, n, m->norm_eps);
        head_norm(c->k, l->k_norm, m->n_head_kv, m->head_dim, n, m->norm_eps);
        rope(c, c->q, m->n_head, n);
        rope(c, c->k, m->n_head_kv, n);

        store_kv(c, li, n);

        attention_job aj = {.c = c, .layer = li, .n = n};
        threadpool_run(c->pool, attention_worker, &aj);

        /* the output projection lands in xn, then joins the residual */
        rk_matmul(c, &l->wo, c->att, n, c->xn);
        for (int64_t i = 0; i < n * d; i++) c->x[i] += c->xn[i];

        for (int32_t t = 0; t < n; t++) rmsnorm(c->xn + t * d, c->x + t * d, l->ffn_norm, d, m->norm_eps);
        matmul(c, &l->w_gate, c->xn, n, c->gate, false);
        matmul(c, &l->w_up, c->xn, n, c->up, true);
        for (int64_t i = 0; i < (int64_t)n * m->n_ff; i++) c->gate[i] = silu(c->gate[i]) * c->up[i];
        rk_matmul(c, &l->w_down, c->gate, n, c->xn);
        for (int64_t i = 0; i < n * d; i++) c->x[i] += c->xn[i];
    }

    int32_t first = all_logits || hidden ? 0 : n - 1;
    for (int32_t t = first; t < n; t++) rmsnorm(c->xn + t * d, c->x + t * d, m->output_norm, d, m->norm_eps);
    if (hidden) memcpy(hidden, c->xn, (size_t)n * d * sizeof(float));
    if (!logits) return;
    if (all_logits)
        rk_matmul(c, &m->output, c->xn, n, logits);
    else
        rk_matmul(c, &m->output, c->xn + (size_t)(n - 1) * d, 1, logits);
}
