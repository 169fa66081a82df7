/* The NPU vision encoder over librknnrt.so. Each shard is its own rknn
 * context pinned to one NPU core; an image runs through them in order, the
 * host carrying each output (as float) into the next input, with the
 * optional input scale / output descale around shards whose activations
 * would overflow FP16. */
#include "engine/rknn/rknn_vision.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "engine/rknn/rknn_runtime.h"

typedef struct {
    char *file;
    rknn_ctx_t ctx;
    bool ctx_live;
    int core_mask;     /* -1: left to the runtime */
    bool core_required; /* the manifest named the core: failing to set it is an error */
    float in_scale, out_descale;
    rknn_attr in, out;
} rknn_shard;

typedef struct {
    rknn_runtime *rt;
    rknn_shard *shards;
    int n_shards;
    vision_info info;
    char projector[64];
    float *buf[2]; /* ping-pong between shards */
    size_t buf_elems;
} rknn_encoder;

static void enc_free(rknn_encoder *e)
{
    if (!e) return;
    for (int i = 0; i < e->n_shards; i++) {
        if (e->shards[i].ctx_live) e->rt->destroy(e->shards[i].ctx);
        free(e->shards[i].file);
    }
    free(e->shards);
    free(e->buf[0]);
    free(e->buf[1]);
    rknn_runtime_close(e->rt);
    free(e);
}

static bool has_suffix(const char *s, const char *suf)
{
    size_t n = strlen(s), m = strlen(suf);
    return n >= m && !strcasecmp(s + n - m, suf);
}

static char *join_dir(const char *manifest, const char *file)
{
    if (file[0] == '/') return strdup(file);
    const char *slash = strrchr(manifest, '/');
    size_t dl = slash ? (size_t)(slash - manifest + 1) : 0;
    char *p = malloc(dl + strlen(file) + 1);
    if (!p) return NULL;
    memcpy(p, manifest, dl);
    strcpy(p + dl, file);
    return p;
}

static bool json_float3(json_t *a, float out[3])
{
    if (!json_is_array(a) || json_array_size(a) != 3) return false;
    for (int c = 0; c < 3; c++) {
        json_t *x = json_array_get(a, (size_t)c);
        if (!json_is_number(x)) return false;
        out[c] = (float)json_number_value(x);
    }
    return true;
}

/* Fills e->shards and the manifest's declared info (zeros: read from the models). */
static int parse_manifest(rknn_encoder *e, const char *path, char *err, size_t errlen)
{
    json_error_t je;
    json_t *root = json_load_file(path, 0, &je);
    if (!root) {
        snprintf(err, errlen, "%s: line %d: %s", path, je.line, je.text);
        return -1;
    }
    int rc = -1;
    json_t *shards = json_object_get(root, "shards");
    json_t *cores_j = json_object_get(root, "cores");
    int cores = cores_j ? (int)json_integer_value(cores_j) : 3;
    if (!json_is_object(root) || !json_is_array(shards) || json_array_size(shards) == 0) {
        snprintf(err, errlen, "%s: not an rknn encoder manifest (needs a non-empty \"shards\" list)", path);
        goto out;
    }
    if (cores_j && (!json_is_integer(cores_j) || cores < 1 || cores > 3)) {
        snprintf(err, errlen, "%s: \"cores\" must be 1, 2 or 3", path);
        goto out;
    }
    json_t *mean = json_object_get(root, "mean"), *std = json_object_get(root, "std");
    if (!mean != !std || (mean && (!json_float3(mean, e->info.mean) || !json_float3(std, e->info.std)))) {
        snprintf(err, errlen, "%s: \"mean\" and \"std\" go together, three numbers each", path);
        goto out;
    }
    for (int c = 0; mean && c < 3; c++)
        if (!(e->info.std[c] > 0)) {
            snprintf(err, errlen, "%s: \"std\" must be positive", path);
            goto out;
        }
    const char *proj = json_string_value(json_object_get(root, "projector"));
    if (proj) snprintf(e->projector, sizeof e->projector, "%s", proj);
    e->info.n_tokens = (int32_t)json_integer_value(json_object_get(root, "n_tokens"));
    e->info.n_embd = (int32_t)json_integer_value(json_object_get(root, "n_embd"));
    e->info.image_size = (int32_t)json_integer_value(json_object_get(root, "image_size"));

    e->n_shards = (int)json_array_size(shards);
    e->shards = calloc((size_t)e->n_shards, sizeof *e->shards);
    if (!e->shards) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    for (int i = 0; i < e->n_shards; i++) {
        json_t *s = json_array_get(shards, (size_t)i);
        rknn_shard *sh = &e->shards[i];
        sh->in_scale = sh->out_descale = 1.0f;
        sh->core_mask = RKNN_ABI_CORE_0 << (i % cores);
        const char *file = json_string_value(json_is_object(s) ? json_object_get(s, "file") : s);
        if (!file || !*file) {
            snprintf(err, errlen, "%s: shard %d has no file", path, i);
            goto out;
        }
        if (json_is_object(s)) {
            json_t *core = json_object_get(s, "core"), *is = json_object_get(s, "input_scale"),
                   *od = json_object_get(s, "output_descale");
            if (core) {
                json_int_t c = json_integer_value(core);
                if (!json_is_integer(core) || c < -1 || c > 2) {
                    snprintf(err, errlen, "%s: shard %d: \"core\" must be 0, 1, 2 or -1 (any)", path, i);
                    goto out;
                }
                sh->core_mask = c < 0 ? -1 : RKNN_ABI_CORE_0 << c;
                sh->core_required = c >= 0;
            }
            if ((is && !(json_is_number(is) && json_number_value(is) > 0)) ||
                (od && !(json_is_number(od) && json_number_value(od) > 0))) {
                snprintf(err, errlen, "%s: shard %d: scales must be positive numbers", path, i);
                goto out;
            }
            if (is) sh->in_scale = (float)json_number_value(is);
            if (od) sh->out_descale = (float)json_number_value(od);
        }
        sh->file = join_dir(path, file);
        if (!sh->file) {
            snprintf(err, errlen, "out of memory");
            goto out;
        }
    }
    rc = 0;
out:
    json_decref(root);
    return rc;
}

static uint32_t elems_of(const rknn_attr *a)
{
    if (a->n_elems) return a->n_elems;
    uint64_t n = a->n_dims ? 1 : 0;
    for (uint32_t d = 0; d < a->n_dims && d < RKNN_ABI_MAX_DIMS; d++) n *= a->dims[d];
    return n > UINT32_MAX ? 0 : (uint32_t)n;
}

static int open_shard(rknn_encoder *e, rknn_shard *sh, int i, char *err, size_t errlen)
{
    int r = e->rt->init(&sh->ctx, sh->file, 0, 0, NULL);
    if (r != RKNN_ABI_SUCC) {
        snprintf(err, errlen, "rknn_init %s: %s", sh->file, rknn_error_name(r));
        return -1;
    }
    sh->ctx_live = true;
    rknn_io_num io = {0};
    if ((r = e->rt->query(sh->ctx, RKNN_ABI_QUERY_IN_OUT_NUM, &io, sizeof io)) != RKNN_ABI_SUCC) {
        snprintf(err, errlen, "rknn_query(IN_OUT_NUM) %s: %s", sh->file, rknn_error_name(r));
        return -1;
    }
    if (io.n_input != 1 || io.n_output != 1) {
        snprintf(err, errlen, "%s has %u inputs and %u outputs; an encoder shard has one of each", sh->file,
                 io.n_input, io.n_output);
        return -1;
    }
    sh->in.index = 0;
    sh->out.index = 0;
    if ((r = e->rt->query(sh->ctx, RKNN_ABI_QUERY_INPUT_ATTR, &sh->in, sizeof sh->in)) != RKNN_ABI_SUCC ||
        (r = e->rt->query(sh->ctx, RKNN_ABI_QUERY_OUTPUT_ATTR, &sh->out, sizeof sh->out)) != RKNN_ABI_SUCC) {
        snprintf(err, errlen, "rknn_query(attributes) %s: %s", sh->file, rknn_error_name(r));
        return -1;
    }
    if (!elems_of(&sh->in) || !elems_of(&sh->out) || sh->in.n_dims > RKNN_ABI_MAX_DIMS ||
        sh->out.n_dims > RKNN_ABI_MAX_DIMS) {
        snprintf(err, errlen, "%s reports an empty or malformed tensor", sh->file);
        return -1;
    }
    if (sh->core_mask >= 0) {
        r = e->rt->set_core_mask ? e->rt->set_core_mask(sh->ctx, sh->core_mask) : RKNN_ABI_ERR_FAIL;
        if (r != RKNN_ABI_SUCC) {
            if (sh->core_required) {
                snprintf(err, errlen, "rknn_set_core_mask(%d) for shard %d (%s): %s", sh->core_mask, i, sh->file,
                         e->rt->set_core_mask ? rknn_error_name(r) : "not in this runtime");
                return -1;
            }
            sh->core_mask = -1; /* fewer cores than the round robin assumed: the runtime picks */
        }
    }
    return 0;
}

/* The square image side of a [1,3,S,S] (NCHW) or [1,S,S,3] (NHWC) input; 0 otherwise. */
static int32_t image_side(const rknn_attr *a)
{
    if (a->n_dims != 4 || a->dims[0] != 1) return 0;
    if (a->fmt == RKNN_ABI_NHWC && a->dims[3] == 3 && a->dims[1] == a->dims[2]) return (int32_t)a->dims[1];
    if (a->fmt != RKNN_ABI_NHWC && a->dims[1] == 3 && a->dims[2] == a->dims[3]) return (int32_t)a->dims[2];
    return 0;
}

static int check_and_size(rknn_encoder *e, char *err, size_t errlen)
{
    const rknn_attr *first = &e->shards[0].in, *last = &e->shards[e->n_shards - 1].out;
    int32_t side = image_side(first);
    if (!side) {
        snprintf(err, errlen, "%s: the first input is not a 3-channel square image ([1,3,S,S] or [1,S,S,3])",
                 e->shards[0].file);
        return -1;
    }
    size_t most = 0;
    for (int i = 0; i < e->n_shards; i++) {
        uint32_t in = elems_of(&e->shards[i].in), out = elems_of(&e->shards[i].out);
        if (i > 0 && in != elems_of(&e->shards[i - 1].out)) {
            snprintf(err, errlen, "shard %d (%s) takes %u values but shard %d gives %u", i, e->shards[i].file, in,
                     i - 1, elems_of(&e->shards[i - 1].out));
            return -1;
        }
        if (in > most) most = in;
        if (out > most) most = out;
    }
    uint32_t n_out = elems_of(last);
    int32_t n_embd = (int32_t)last->dims[last->n_dims - 1];
    if (n_embd <= 0 || n_out % (uint32_t)n_embd) {
        snprintf(err, errlen, "the last output has no embedding width");
        return -1;
    }
    int32_t n_tokens = (int32_t)(n_out / (uint32_t)n_embd);
    vision_info *vi = &e->info;
    if ((vi->image_size && vi->image_size != side) || (vi->n_tokens && vi->n_tokens != n_tokens) ||
        (vi->n_embd && vi->n_embd != n_embd)) {
        snprintf(err, errlen, "the manifest says %d px -> %d x %d, the models say %d px -> %d x %d", vi->image_size,
                 vi->n_tokens, vi->n_embd, side, n_tokens, n_embd);
        return -1;
    }
    vi->image_size = side;
    vi->n_tokens = n_tokens;
    vi->n_embd = n_embd;
    e->buf_elems = most;
    e->buf[0] = malloc(most * sizeof(float));
    e->buf[1] = malloc(most * sizeof(float));
    if (!e->buf[0] || !e->buf[1]) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    return 0;
}

static vision_model *rknn_vision_load(const char *path, int32_t n_threads, char *err, size_t errlen)
{
    (void)n_threads; /* the NPU does the work */
    rknn_encoder *e = calloc(1, sizeof *e);
    if (!e) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    bool normalised = false;
    if (has_suffix(path, ".json")) {
        if (parse_manifest(e, path, err, errlen) != 0) goto fail;
        normalised = e->info.std[0] > 0;
    } else {
        e->n_shards = 1;
        e->shards = calloc(1, sizeof *e->shards);
        if (!e->shards || !(e->shards[0].file = strdup(path))) {
            snprintf(err, errlen, "out of memory");
            goto fail;
        }
        e->shards[0].core_mask = -1;
        e->shards[0].in_scale = e->shards[0].out_descale = 1.0f;
    }
    if (!(e->rt = rknn_runtime_open(NULL, err, errlen))) goto fail;
    for (int i = 0; i < e->n_shards; i++)
        if (open_shard(e, &e->shards[i], i, err, errlen) != 0) goto fail;
    if (check_and_size(e, err, errlen) != 0) goto fail;

    if (!normalised)
        for (int c = 0; c < 3; c++) { /* raw pixels: (p/255 - 0) / (1/255) = p */
            e->info.mean[c] = 0.0f;
            e->info.std[c] = 1.0f / 255.0f;
        }
    e->info.engine = "rknn";
    e->info.projector = e->projector;
    for (int i = 0; i < e->n_shards; i++) {
        struct stat st;
        if (stat(e->shards[i].file, &st) == 0) e->info.weight_bytes += (uint64_t)st.st_size;
    }
    return (vision_model *)e;
fail:
    enc_free(e);
    return NULL;
}

static void rknn_vision_unload(vision_model *v)
{
    enc_free((rknn_encoder *)v);
}

static void rknn_vision_info(const vision_model *v, vision_info *out)
{
    *out = ((const rknn_encoder *)v)->info;
}

static int run_shard(rknn_encoder *e, rknn_shard *sh, int i, float *in, float *out, char *err, size_t errlen)
{
    uint32_t n_in = elems_of(&sh->in), n_out = elems_of(&sh->out);
    if (sh->in_scale != 1.0f)
        for (uint32_t k = 0; k < n_in; k++) in[k] *= sh->in_scale;
    /* the first shard gets planar pixels; later ones the previous output,
     * which is already in their layout */
    rknn_in input = {
        .index = 0,
        .buf = in,
        .size = n_in * (uint32_t)sizeof(float),
        .pass_through = 0,
        .type = RKNN_ABI_TENSOR_FLOAT32,
        .fmt = i == 0 ? RKNN_ABI_NCHW : sh->in.fmt,
    };
    int r = e->rt->inputs_set(sh->ctx, 1, &input);
    const char *step = "rknn_inputs_set";
    if (r == RKNN_ABI_SUCC) {
        step = "rknn_run";
        r = e->rt->run(sh->ctx, NULL);
    }
    rknn_out output = {.want_float = 1, .is_prealloc = 1, .index = 0, .buf = out, .size = n_out * (uint32_t)sizeof(float)};
    if (r == RKNN_ABI_SUCC) {
        step = "rknn_outputs_get";
        r = e->rt->outputs_get(sh->ctx, 1, &output, NULL);
        if (r == RKNN_ABI_SUCC) e->rt->outputs_release(sh->ctx, 1, &output);
    }
    if (r != RKNN_ABI_SUCC) {
        snprintf(err, errlen, "%s on shard %d (%s): %s", step, i, sh->file, rknn_error_name(r));
        return -1;
    }
    if (sh->out_descale != 1.0f)
        for (uint32_t k = 0; k < n_out; k++) out[k] /= sh->out_descale;
    return 0;
}

static int rknn_vision_encode(vision_model *v, const float *pixels, float *out, char *err, size_t errlen)
{
    rknn_encoder *e = (rknn_encoder *)v;
    if (!pixels || !out) {
        snprintf(err, errlen, "no image or no output buffer");
        return -1;
    }
    size_t n_pixels = 3 * (size_t)e->info.image_size * (size_t)e->info.image_size;
    memcpy(e->buf[0], pixels, n_pixels * sizeof(float)); /* the runtime and the scale may touch it */
    int cur = 0;
    for (int i = 0; i < e->n_shards; i++, cur ^= 1)
        if (run_shard(e, &e->shards[i], i, e->buf[cur], e->buf[cur ^ 1], err, errlen) != 0) return -1;
    memcpy(out, e->buf[cur], (size_t)e->info.n_tokens * (size_t)e->info.n_embd * sizeof(float));
    for (size_t k = 0; k < (size_t)e->info.n_tokens * (size_t)e->info.n_embd; k++)
        if (!isfinite(out[k])) {
            snprintf(err, errlen, "the encoder produced non-finite values (FP16 overflow? try input_scale/output_descale)");
            return -1;
        }
    return 0;
}

int rknn_vision_n_shards(const vision_model *v)
{
    return ((const rknn_encoder *)v)->n_shards;
}

int rknn_vision_shard_core_mask(const vision_model *v, int i)
{
    const rknn_encoder *e = (const rknn_encoder *)v;
    return i >= 0 && i < e->n_shards ? e->shards[i].core_mask : -1;
}

const vision_ops rknn_vision_ops = {
    .name = "rknn",
    .load = rknn_vision_load,
    .unload = rknn_vision_unload,
    .info = rknn_vision_info,
    .encode = rknn_vision_encode,
};
