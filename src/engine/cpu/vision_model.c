/* Loading the CPU vision encoder from a GGUF mmproj and the vision_ops
 * table around it. Every tensor's presence, type and shape is checked
 * against the metadata before anything runs. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/cpu/forward.h"
#include "engine/cpu/kernels.h"
#include "engine/cpu/vision_model.h"
#include "format/ggml_types.h"

typedef struct {
    vision_model *v;
    char *err;
    size_t errlen;
    bool failed;
} vloader;

static void fail(vloader *L, const char *fmt, ...)
{
    if (L->failed) return;
    L->failed = true;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(L->err, L->errlen, fmt, ap);
    va_end(ap);
}

static const gguf_tensor *find(vloader *L, const char *name)
{
    if (L->failed) return NULL;
    const gguf_tensor *t = gguf_find_tensor(L->v->gguf, name);
    if (!t) fail(L, "missing tensor %s", name);
    return t;
}

static int64_t elements(const gguf_tensor *t)
{
    return t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3];
}

/* n floats of `name`: the mapping when stored as F32, else a converted copy. */
static const float *floats(vloader *L, const char *name, int64_t n)
{
    const gguf_tensor *t = find(L, name);
    if (!t) return NULL;
    if (elements(t) != n) {
        fail(L, "tensor %s has %lld elements, expected %lld", name, (long long)elements(t), (long long)n);
        return NULL;
    }
    L->v->weight_bytes += t->nbytes;
    if (t->type == GGML_TYPE_F32) return t->data;
    const rk_type_ops *ops = kernels_get()->types[t->type];
    if (!ops || !ops->to_float || (uint64_t)n % ggml_blck_size(t->type)) {
        fail(L, "tensor %s: type %s is not supported here", name, ggml_type_name(t->type));
        return NULL;
    }
    float *copy = malloc((size_t)n * sizeof(float));
    void **owned = realloc(L->v->owned, (size_t)(L->v->n_owned + 1) * sizeof(void *));
    if (owned) L->v->owned = owned;
    if (!copy || !owned) {
        free(copy);
        fail(L, "out of memory converting %s", name);
        return NULL;
    }
    L->v->owned[L->v->n_owned++] = copy;
    ops->to_float(t->data, copy, n);
    return copy;
}

/* A matrix of n_out rows of n_in; the tensor may have more dimensions (the
 * patch convolution) as long as they flatten to that. */
static void matrix(vloader *L, rk_weight *w, const char *name, int64_t n_in, int64_t n_out)
{
    memset(w, 0, sizeof *w);
    const gguf_tensor *t = find(L, name);
    if (!t) return;
    if (elements(t) != n_in * n_out || t->ne[t->n_dims ? t->n_dims - 1 : 0] != n_out) {
        fail(L, "tensor %s has shape [%lld, %lld, %lld, %lld], expected %lld rows of %lld", name,
             (long long)t->ne[0], (long long)t->ne[1], (long long)t->ne[2], (long long)t->ne[3], (long long)n_out,
             (long long)n_in);
        return;
    }
    const rk_type_ops *ops = kernels_get()->types[t->type];
    if (!ops || !ops->vec_dot || ggml_row_size(t->type, n_in) == 0) {
        fail(L, "tensor %s: type %s is not supported for rows of %lld", name, ggml_type_name(t->type),
             (long long)n_in);
        return;
    }
    w->data = t->data;
    w->type = t->type;
    w->n_in = n_in;
    w->n_out = n_out;
    w->row_bytes = ggml_row_size(t->type, n_in);
    L->v->weight_bytes += t->nbytes;
}

static bool key_u32(vloader *L, const char *key, int32_t *out, int32_t lo, int32_t hi)
{
    if (L->failed) return false;
    uint32_t u;
    if (!gguf_get_u32(L->v->gguf, key, &u)) {
        fail(L, "missing or invalid metadata key %s", key);
        return false;
    }
    if (u < (uint32_t)lo || u > (uint32_t)hi) {
        fail(L, "%s = %u is out of range (%d..%d)", key, u, lo, hi);
        return false;
    }
    *out = (int32_t)u;
    return true;
}

static void triple(vloader *L, const char *key, float *out, float dflt)
{
    out[0] = out[1] = out[2] = dflt;
    const gguf_kv *kv = gguf_get_arr(L->v->gguf, key, GGUF_TYPE_FLOAT32);
    if (!kv) return;
    if (kv->v.arr.n != 3) {
        fail(L, "%s must hold 3 values", key);
        return;
    }
    memcpy(out, kv->v.arr.data, 3 * sizeof(float));
}

static bool load_hparams(vloader *L)
{
    vision_model *v = L->v;
    gguf_file *g = v->gguf;
    char s[64] = "";
    gguf_get_cstr(g, "general.architecture", s, sizeof s);
    if (strcmp(s, "clip") != 0) {
        fail(L, "not a vision projector (general.architecture is '%s', expected 'clip')", s);
        return false;
    }
    bool has_vision = true;
    gguf_get_bool(g, "clip.has_vision_encoder", &has_vision);
    if (!has_vision) {
        fail(L, "the projector has no vision encoder");
        return false;
    }
    s[0] = 0;
    if (!gguf_get_cstr(g, "clip.vision.projector_type", s, sizeof s)) gguf_get_cstr(g, "clip.projector_type", s, sizeof s);
    if (strcmp(s, "idefics3") != 0) {
        fail(L, "projector type '%s' is not supported by the CPU encoder (supported: idefics3)", s);
        return false;
    }
    bool gelu = true;
    if (gguf_get_bool(g, "clip.use_gelu", &gelu) && !gelu) {
        fail(L, "the projector asks for an activation other than GELU, which idefics3 does not use");
        return false;
    }
    if (!gguf_get_cstr(g, "general.name", v->name, sizeof v->name)) snprintf(v->name, sizeof v->name, "idefics3");
    key_u32(L, "clip.vision.image_size", &v->image_size, 1, 8192);
    key_u32(L, "clip.vision.patch_size", &v->patch_size, 1, 1024);
    key_u32(L, "clip.vision.embedding_length", &v->hidden, 1, 1 << 16);
    key_u32(L, "clip.vision.feed_forward_length", &v->n_ff, 1, 1 << 18);
    key_u32(L, "clip.vision.attention.head_count", &v->n_head, 1, 1024);
    key_u32(L, "clip.vision.block_count", &v->n_layer, 1, 1024);
    key_u32(L, "clip.vision.projection_dim", &v->n_embd, 1, 1 << 16);
    key_u32(L, "clip.vision.projector.scale_factor", &v->scale, 1, 64);
    if (L->failed) return false;
    v->eps = 1e-6f;
    gguf_get_f32(g, "clip.vision.attention.layer_norm_epsilon", &v->eps);
    triple(L, "clip.vision.image_mean", v->mean, 0.5f);
    triple(L, "clip.vision.image_std", v->std, 0.5f);
    if (L->failed) return false;
    if (v->image_size % v->patch_size || (v->image_size / v->patch_size) % v->scale || v->hidden % v->n_head) {
        fail(L, "inconsistent shapes: image %d, patch %d, scale factor %d, width %d, heads %d", v->image_size,
             v->patch_size, v->scale, v->hidden, v->n_head);
        return false;
    }
    v->n_side = v->image_size / v->patch_size;
    v->n_patches = v->n_side * v->n_side;
    if (v->n_patches > (1 << 16)) {
        fail(L, "%d patches per image is more than the encoder supports", v->n_patches);
        return false;
    }
    v->head_dim = v->hidden / v->n_head;
    v->n_tokens = v->n_patches / (v->scale * v->scale);
    return true;
}

static bool load_tensors(vloader *L)
{
    vision_model *v = L->v;
    int64_t D = v->hidden, F = v->n_ff, P = v->patch_size;
    matrix(L, &v->patch, "v.patch_embd.weight", 3 * P * P, D);
    const gguf_tensor *pt = L->failed ? NULL : gguf_find_tensor(v->gguf, "v.patch_embd.weight");
    if (pt && (pt->n_dims != 4 || pt->ne[0] != P || pt->ne[1] != P || pt->ne[2] != 3))
        fail(L, "v.patch_embd.weight must have shape [%lld, %lld, 3, %lld]", (long long)P, (long long)P, (long long)D);
    v->patch_b = floats(L, "v.patch_embd.bias", D);
    v->pos = floats(L, "v.position_embd.weight", (int64_t)v->n_patches * D);
    v->post_w = floats(L, "v.post_ln.weight", D);
    v->post_b = floats(L, "v.post_ln.bias", D);
    matrix(L, &v->proj, "mm.model.fc.weight", D * v->scale * v->scale, v->n_embd);
    v->layers = calloc((size_t)v->n_layer, sizeof(rk_vision_layer));
    if (!v->layers) fail(L, "out of memory");
    char name[96];
#define LNAME(s) (snprintf(name, sizeof name, "v.blk.%d." s, i), name)
    for (int i = 0; i < v->n_layer && !L->failed; i++) {
        rk_vision_layer *l = &v->layers[i];
        l->ln1_w = floats(L, LNAME("ln1.weight"), D);
        l->ln1_b = floats(L, LNAME("ln1.bias"), D);
        l->ln2_w = floats(L, LNAME("ln2.weight"), D);
        l->ln2_b = floats(L, LNAME("ln2.bias"), D);
        matrix(L, &l->wq, LNAME("attn_q.weight"), D, D);
        matrix(L, &l->wk, LNAME("attn_k.weight"), D, D);
        matrix(L, &l->wv, LNAME("attn_v.weight"), D, D);
        matrix(L, &l->wo, LNAME("attn_out.weight"), D, D);
        l->bq = floats(L, LNAME("attn_q.bias"), D);
        l->bk = floats(L, LNAME("attn_k.bias"), D);
        l->bv = floats(L, LNAME("attn_v.bias"), D);
        l->bo = floats(L, LNAME("attn_out.bias"), D);
        matrix(L, &l->fc1, LNAME("ffn_up.weight"), D, F);
        l->b1 = floats(L, LNAME("ffn_up.bias"), F);
        matrix(L, &l->fc2, LNAME("ffn_down.weight"), F, D);
        l->b2 = floats(L, LNAME("ffn_down.bias"), D);
    }
#undef LNAME
    return !L->failed;
}

static float *alloc_floats(size_t n)
{
    return aligned_alloc(64, ((n * sizeof(float)) + 63) & ~(size_t)63);
}

static size_t max_size(size_t a, size_t b)
{
    return a > b ? a : b;
}

static bool alloc_scratch(vloader *L)
{
    vision_model *v = L->v;
    size_t N = (size_t)v->n_patches, D = (size_t)v->hidden, P = (size_t)v->patch_size;
    size_t xq = rk_matmul_scratch_bytes(&v->patch, (int32_t)N);
    xq = max_size(xq, rk_matmul_scratch_bytes(&v->proj, v->n_tokens));
    for (int i = 0; i < v->n_layer; i++) {
        xq = max_size(xq, rk_matmul_scratch_bytes(&v->layers[i].wq, (int32_t)N));
        xq = max_size(xq, rk_matmul_scratch_bytes(&v->layers[i].wo, (int32_t)N));
        xq = max_size(xq, rk_matmul_scratch_bytes(&v->layers[i].fc1, (int32_t)N));
        xq = max_size(xq, rk_matmul_scratch_bytes(&v->layers[i].fc2, (int32_t)N));
    }
    v->patches = alloc_floats(N * 3 * P * P);
    v->x = alloc_floats(N * D);
    v->xn = alloc_floats(N * D);
    v->q = alloc_floats(N * D);
    v->k = alloc_floats(N * D);
    v->v = alloc_floats(N * D);
    v->att = alloc_floats(N * D);
    v->ff = alloc_floats(N * (size_t)v->n_ff);
    v->shuffled = alloc_floats(N * D);
    v->scores = alloc_floats((size_t)threadpool_size(v->pool) * N);
    v->xq = aligned_alloc(64, (xq + 63) & ~(size_t)63);
    if (!v->patches || !v->x || !v->xn || !v->q || !v->k || !v->v || !v->att || !v->ff || !v->shuffled ||
        !v->scores || !v->xq) {
        fail(L, "out of memory for the encoder's activations");
        return false;
    }
    return true;
}

static void cpu_vision_unload(vision_model *v)
{
    if (!v) return;
    threadpool_free(v->pool);
    for (int i = 0; i < v->n_owned; i++) free(v->owned[i]);
    free(v->owned);
    free(v->layers);
    free(v->patches);
    free(v->x);
    free(v->xn);
    free(v->q);
    free(v->k);
    free(v->v);
    free(v->att);
    free(v->ff);
    free(v->shuffled);
    free(v->scores);
    free(v->xq);
    gguf_close(v->gguf);
    free(v);
}

static vision_model *cpu_vision_load(const char *path, int32_t n_threads, char *err, size_t errlen)
{
    vision_model *v = calloc(1, sizeof *v);
    if (!v) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    char sub[512];
    v->gguf = gguf_open(path, sub, sizeof sub);
    if (!v->gguf) {
        snprintf(err, errlen, "%s", sub);
        free(v);
        return NULL;
    }
    if (n_threads <= 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        n_threads = n > 0 ? (int32_t)n : 1;
    }
    vloader L = {.v = v, .err = sub, .errlen = sizeof sub};
    if (load_hparams(&L) && load_tensors(&L)) {
        v->pool = threadpool_new(n_threads);
        if (!v->pool)
            fail(&L, "cannot start threads");
        else
            alloc_scratch(&L);
    }
    if (L.failed) {
        snprintf(err, errlen, "%s: %s", path, sub);
        cpu_vision_unload(v);
        return NULL;
    }
    return v;
}

static void cpu_vision_info(const vision_model *v, vision_info *out)
{
    memset(out, 0, sizeof *out);
    out->engine = "cpu";
    out->projector = "idefics3";
    out->image_size = v->image_size;
    out->n_tokens = v->n_tokens;
    out->n_embd = v->n_embd;
    memcpy(out->mean, v->mean, sizeof out->mean);
    memcpy(out->std, v->std, sizeof out->std);
    out->weight_bytes = v->weight_bytes;
}

static int cpu_vision_encode(vision_model *v, const float *pixels, float *out, char *err, size_t errlen)
{
    if (!pixels || !out) {
        snprintf(err, errlen, "no image or no output buffer");
        return -1;
    }
    rk_vision_encode(v, pixels, out);
    return 0;
}

const vision_ops cpu_vision_ops = {
    .name = "cpu",
    .load = cpu_vision_load,
    .unload = cpu_vision_unload,
    .info = cpu_vision_info,
    .encode = cpu_vision_encode,
};
