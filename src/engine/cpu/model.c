#include "engine/cpu/model.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "format/ggml_types.h"
#include "engine/cpu/kernels.h"

typedef struct {
    gguf_file *g;
    rk_model *m;
    char *err;
    size_t errlen;
    bool failed;
} loader;

static void fail(loader *L, const char *fmt, ...)
{
    if (L->failed) return;
    L->failed = true;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(L->err, L->errlen, fmt, ap);
    va_end(ap);
}

static bool arch_key_u32(loader *L, const char *suffix, uint32_t *out, bool required)
{
    char key[128];
    snprintf(key, sizeof key, "%s.%s", L->m->arch, suffix);
    if (gguf_get_u32(L->g, key, out)) return true;
    if (required) fail(L, "missing or invalid metadata key %s", key);
    return false;
}

static bool arch_key_f32(loader *L, const char *suffix, float *out)
{
    char key[128];
    snprintf(key, sizeof key, "%s.%s", L->m->arch, suffix);
    return gguf_get_f32(L->g, key, out);
}

static const gguf_tensor *find(loader *L, const char *name, bool required)
{
    const gguf_tensor *t = gguf_find_tensor(L->g, name);
    if (!t && required) fail(L, "missing tensor %s", name);
    return t;
}

/* A 1-D f32 view of `name` with n elements; other float types are converted
 * into a buffer the model owns. */
static const float *vector(loader *L, const char *name, int64_t n, bool required)
{
    const gguf_tensor *t = find(L, name, required);
    if (!t || L->failed) return NULL;
    int64_t count = t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3];
    if (count != n) {
        fail(L, "tensor %s has %lld elements, expected %lld", name, (long long)count, (long long)n);
        return NULL;
    }
    L->m->n_params += (uint64_t)n;
    L->m->weight_bytes += t->nbytes;
    if (t->type == GGML_TYPE_F32) return t->data;
    const rk_type_ops *ops = kernels_get()->types[t->type];
    if (!ops || !ops->to_float || (uint64_t)n % ggml_blck_size(t->type)) {
        fail(L, "tensor %s: type %s is not supported for a vector", name, ggml_type_name(t->type));
        return NULL;
    }
    float *copy = malloc((size_t)n * sizeof(float));
    void **owned = realloc(L->m->owned, (size_t)(L->m->n_owned + 1) * sizeof(void *));
    if (!copy || !owned) {
        free(copy);
        if (owned) L->m->owned = owned;
        fail(L, "out of memory converting %s", name);
        return NULL;
    }
    L->m->owned = owned;
    L->m->owned[L->m->n_owned++] = copy;
    ops->to_float(t->data, copy, n);
    return copy;
}

static bool matrix(loader *L, rk_weight *w, const char *name, int64_t n_in, int64_t n_out, bool required)
{
    memset(w, 0, sizeof *w);
    const gguf_tensor *t = find(L, name, required);
    if (!t || L->failed) return false;
    if (t->n_dims > 2 || t->ne[0] != n_in || t->ne[1] != n_out) {
        fail(L, "tensor %s has shape [%lld, %lld], expected [%lld, %lld]", name, (long long)t->ne[0],
             (long long)t->ne[1], (long long)n_in, (long long)n_out);
        return false;
    }
    const rk_type_ops *ops = kernels_get()->types[t->type];
    if (!ops || !ops->vec_dot) {
        fail(L, "tensor %s: type %s is not supported by the CPU engine (supported: F32, F16, BF16, "
                "Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K)", name, ggml_type_name(t->type));
        return false;
    }
    w->data = t->data;
    w->type = t->type;
    w->n_in = n_in;
    w->n_out = n_out;
    w->row_bytes = ggml_row_size(t->type, n_in);
    L->m->n_params += (uint64_t)(n_in * n_out);
    L->m->weight_bytes += t->nbytes;
    return true;
}

static bool load_hparams(loader *L)
{
    rk_model *m = L->m;
    gguf_str arch;
    if (!gguf_get_str(L->g, "general.architecture", &arch) || arch.len >= sizeof m->arch) {
        fail(L, "missing general.architecture");
        return false;
    }
    memcpy(m->arch, arch.ptr, arch.len);
    m->arch[arch.len] = 0;
    bool is_llama = !strcmp(m->arch, "llama");
    bool is_qwen2 = !strcmp(m->arch, "qwen2");
    bool is_qwen3 = !strcmp(m->arch, "qwen3");
    if (!is_llama && !is_qwen2 && !is_qwen3) {
        fail(L, "architecture '%s' is not supported by the CPU engine (supported: llama, qwen2, qwen3)",
             m->arch);
        return false;
    }
    if (!gguf_get_cstr(L->g, "general.name", m->name, sizeof m->name)) snprintf(m->name, sizeof m->name, "%s", m->arch);

    uint32_t v;
    if (!arch_key_u32(L, "embedding_length", &v, true)) return false;
    m->n_embd = (int32_t)v;
    if (!arch_key_u32(L, "block_count", &v, true)) return false;
    m->n_layer = (int32_t)v;
    if (!arch_key_u32(L, "feed_forward_length", &v, true)) return false;
    m->n_ff = (int32_t)v;
    if (!arch_key_u32(L, "attention.head_count", &v, true)) return false;
    m->n_head = (int32_t)v;
    m->n_head_kv = arch_key_u32(L, "attention.head_count_kv", &v, false) ? (int32_t)v : m->n_head;
    m->n_ctx_train = arch_key_u32(L, "context_length", &v, false) ? (int32_t)v : 2048;

    if (m->n_embd <= 0 || m->n_layer <= 0 || m->n_ff <= 0 || m->n_head <= 0 || m->n_head_kv <= 0 ||
        m->n_embd > (1 << 16) || m->n_layer > 1024 || m->n_ff > (1 << 20) || m->n_head > 1024 ||
        m->n_head % m->n_head_kv) {
        fail(L, "implausible hyper-parameters: n_embd %d, n_layer %d, n_ff %d, n_head %d, n_head_kv %d",
             m->n_embd, m->n_layer, m->n_ff, m->n_head, m->n_head_kv);
        return false;
    }
    m->head_dim = arch_key_u32(L, "attention.key_length", &v, false) ? (int32_t)v : m->n_embd / m->n_head;
    m->head_dim_v = arch_key_u32(L, "attention.value_length", &v, false) ? (int32_t)v : m->head_dim;
    m->n_rot = arch_key_u32(L, "rope.dimension_count", &v, false) ? (int32_t)v : m->head_dim;
    if (m->head_dim <= 0 || m->head_dim > 1024 || m->head_dim_v <= 0 || m->head_dim_v > 1024 ||
        m->n_rot <= 0 || m->n_rot > m->head_dim || m->n_rot % 2) {
        fail(L, "implausible head sizes: key %d, value %d, rotary %d", m->head_dim, m->head_dim_v, m->n_rot);
        return false;
    }
    m->norm_eps = 1e-5f;
    arch_key_f32(L, "attention.layer_norm_rms_epsilon", &m->norm_eps);
    m->rope_base = 10000.0f;
    arch_key_f32(L, "rope.freq_base", &m->rope_base);
    m->rope_kind = is_llama ? ROPE_NORMAL : ROPE_NEOX;
    m->rope_freq_scale = 1.0f;

    char scaling[32] = "";
    char key[128];
    snprintf(key, sizeof key, "%s.rope.scaling.type", m->arch);
    gguf_get_cstr(L->g, key, scaling, sizeof scaling);
    float factor = 0;
    if (!arch_key_f32(L, "rope.scaling.factor", &factor)) {
        /* older files carry only the scale */
        float scale;
        if (arch_key_f32(L, "rope.scale_linear", &scale) && scale > 0) factor = scale;
    }
    if (!strcmp(scaling, "linear") || (!scaling[0] && factor > 0)) {
        if (factor > 0) m->rope_freq_scale = 1.0f / factor;
    } else if (scaling[0] && strcmp(scaling, "none") != 0) {
        fail(L, "rope scaling type '%s' is not supported (supported: none, linear, llama3 frequency factors)",
             scaling);
        return false;
    }
    return true;
}

static bool load_tensors(loader *L)
{
    rk_model *m = L->m;
    const gguf_tensor *emb = find(L, "token_embd.weight", true);
    if (!emb) return false;
    m->n_vocab = (int32_t)emb->ne[1];
    if (emb->ne[1] <= 0 || emb->ne[1] > (1 << 24)) {
        fail(L, "implausible vocabulary size %lld", (long long)emb->ne[1]);
        return false;
    }
    int64_t d = m->n_embd, q_dim = (int64_t)m->n_head * m->head_dim;
    int64_t k_dim = (int64_t)m->n_head_kv * m->head_dim, v_dim = (int64_t)m->n_head_kv * m->head_dim_v;
    int64_t o_in = (int64_t)m->n_head * m->head_dim_v;

    matrix(L, &m->tok_embd, "token_embd.weight", d, m->n_vocab, true);
    m->output_norm = vector(L, "output_norm.weight", d, true);
    if (gguf_find_tensor(L->g, "output.weight"))
        matrix(L, &m->output, "output.weight", d, m->n_vocab, true);
    else
        m->output = m->tok_embd; /* tied embeddings */

    const gguf_tensor *ff = gguf_find_tensor(L->g, "rope_freqs.weight");
    if (ff) m->rope_freq_factors = vector(L, "rope_freqs.weight", m->n_rot / 2, true);

    m->layers = calloc((size_t)m->n_layer, sizeof(rk_layer));
    if (!m->layers) {
        fail(L, "out of memory");
        return false;
    }
    bool qwen2 = !strcmp(m->arch, "qwen2"), qwen3 = !strcmp(m->arch, "qwen3");
    char name[96];
#define LNAME(s) (snprintf(name, sizeof name, "blk.%d." s, i), name)
    for (int i = 0; i < m->n_layer && !L->failed; i++) {
        rk_layer *l = &m->layers[i];
        l->attn_norm = vector(L, LNAME("attn_norm.weight"), d, true);
        matrix(L, &l->wq, LNAME("attn_q.weight"), d, q_dim, true);
        matrix(L, &l->wk, LNAME("attn_k.weight"), d, k_dim, true);
        matrix(L, &l->wv, LNAME("attn_v.weight"), d, v_dim, true);
        matrix(L, &l->wo, LNAME("attn_output.weight"), o_in, d, true);
        /* biases are standard in qwen2 and allowed anywhere */
        l->bq = vector(L, LNAME("attn_q.bias"), q_dim, qwen2);
        l->bk = vector(L, LNAME("attn_k.bias"), k_dim, qwen2);
        l->bv = vector(L, LNAME("attn_v.bias"), v_dim, qwen2);
        l->q_norm = vector(L, LNAME("attn_q_norm.weight"), m->head_dim, qwen3);
        l->k_norm = vector(L, LNAME("attn_k_norm.weight"), m->head_dim, qwen3);
        l->ffn_norm = vector(L, LNAME("ffn_norm.weight"), d, true);
        matrix(L, &l->w_gate, LNAME("ffn_gate.weight"), d, m->n_ff, true);
        matrix(L, &l->w_up, LNAME("ffn_up.weight"), d, m->n_ff, true);
        matrix(L, &l->w_down, LNAME("ffn_down.weight"), m->n_ff, d, true);
    }
#undef LNAME
    return !L->failed;
}

rk_model *rk_model_load(gguf_file *g, char *err, size_t errlen)
{
    rk_model *m = calloc(1, sizeof *m);
    if (!m) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    m->gguf = g;
    loader L = {.g = g, .m = m, .err = err, .errlen = errlen};
    if (!load_hparams(&L) || !load_tensors(&L)) {
        rk_model_free(m);
        return NULL;
    }
    return m;
}

void rk_model_free(rk_model *m)
{
    if (!m) return;
    for (int i = 0; i < m->n_owned; i++) free(m->owned[i]);
    free(m->owned);
    free(m->layers);
    free(m);
}

void rk_weight_row_f32(const rk_weight *w, int64_t row, float *out)
{
    const uint8_t *src = (const uint8_t *)w->data + (size_t)row * w->row_bytes;
    kernels_get()->types[w->type]->to_float(src, out, w->n_in);
}
