/* librknnrt.so on the CPU: the RKNN C ABI that vision encoders use, over
 * the CPU vision encoder, so the rknn engine and vendor-API programs run on
 * a PC. The "model" is a GGUF mmproj whatever it is called. It behaves like
 * an encoder converted with rknn-toolkit2's mean_values/std_values: the
 * input is raw 0-255 pixels and the model normalises them itself; tensors
 * are reported as an FP16 model reports them (input NHWC [1,S,S,3], output
 * [1,tokens,width]), and outputs come as float (want_float) or FP16.
 * Not emulated: pass_through inputs, zero-copy memory, dynamic shapes.
 * RKNN_EMU_TRACE=FILE appends one line per init, core mask and run, so
 * tests can see which shard went to which core; RKNN_EMU_THREADS sets the
 * CPU threads per context (default 1). */
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "engine/rknn/rknn_abi.h"
#include "engine/vision.h"

#define EXPORT __attribute__((visibility("default")))

/* doctor and install scripts read the version from the file, as they do
 * from the vendor's library */
__attribute__((used)) static const char emu_banner[] = "librknnrt version: 2.3.2 (rkserve emulator on the CPU engine)";

typedef struct emu_ctx {
    struct emu_ctx *next;
    int id;
    vision_model *vm;
    vision_info info;
    float *pixels;  /* 3 x S x S, normalised for the CPU encoder */
    float *result;  /* tokens x width */
    bool have_input, have_result;
    int core_mask;
    void *owned_output; /* buffer handed out when the caller did not preallocate */
} emu_ctx;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static emu_ctx *contexts;
static int next_id = 1;

static void trace(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void trace(const char *fmt, ...)
{
    const char *path = getenv("RKNN_EMU_TRACE");
    if (!path || !*path) return;
    FILE *f = fopen(path, "a");
    if (!f) return;
    va_list ap;
    va_start(ap, fmt);
    vfprintf(f, fmt, ap);
    va_end(ap);
    fputc('\n', f);
    fclose(f);
}

/* A handle is valid only while its context is registered: a stale or
 * made-up handle gets RKNN_ERR_CTX_INVALID instead of a crash. */
static emu_ctx *find(rknn_ctx_t h)
{
    pthread_mutex_lock(&lock);
    emu_ctx *c = contexts;
    while (c && (rknn_ctx_t)(uintptr_t)c != h) c = c->next;
    pthread_mutex_unlock(&lock);
    return c;
}

EXPORT int rknn_init(rknn_ctx_t *ctx, void *model, uint32_t size, uint32_t flag, void *extend)
{
    (void)flag;
    (void)extend;
    if (!ctx || !model) return RKNN_ABI_ERR_PARAM_INVALID;
    char path[64];
    const char *file = model;
    int memfd = -1;
    if (size > 0) { /* model bytes: give the CPU loader a file to map */
        memfd = memfd_create("rknn-model", MFD_CLOEXEC);
        if (memfd < 0) return RKNN_ABI_ERR_MALLOC_FAIL;
        const char *p = model;
        for (uint32_t done = 0; done < size;) {
            ssize_t w = write(memfd, p + done, size - done);
            if (w <= 0) {
                close(memfd);
                return RKNN_ABI_ERR_MALLOC_FAIL;
            }
            done += (uint32_t)w;
        }
        snprintf(path, sizeof path, "/proc/self/fd/%d", memfd);
        file = path;
    }
    const char *t = getenv("RKNN_EMU_THREADS");
    int threads = t && atoi(t) > 0 ? atoi(t) : 1;
    char err[512];
    vision_model *vm = cpu_vision_ops.load(file, threads, err, sizeof err);
    if (memfd >= 0) close(memfd); /* the loader keeps its own mapping */
    if (!vm) {
        fprintf(stderr, "E RKNN: rknn_init: %s\n", err);
        return RKNN_ABI_ERR_MODEL_INVALID;
    }
    emu_ctx *c = calloc(1, sizeof *c);
    if (!c) {
        cpu_vision_ops.unload(vm);
        return RKNN_ABI_ERR_MALLOC_FAIL;
    }
    c->vm = vm;
    cpu_vision_ops.info(vm, &c->info);
    size_t s = (size_t)c->info.image_size;
    c->pixels = malloc(3 * s * s * sizeof(float));
    c->result = malloc((size_t)c->info.n_tokens * (size_t)c->info.n_embd * sizeof(float));
    if (!c->pixels || !c->result) {
        free(c->pixels);
        free(c->result);
        cpu_vision_ops.unload(vm);
        free(c);
        return RKNN_ABI_ERR_MALLOC_FAIL;
    }
    pthread_mutex_lock(&lock);
    c->id = next_id++;
    c->next = contexts;
    contexts = c;
    pthread_mutex_unlock(&lock);
    *ctx = (rknn_ctx_t)(uintptr_t)c;
    trace("init %d %s", c->id, size > 0 ? "(memory)" : file);
    return RKNN_ABI_SUCC;
}

EXPORT int rknn_destroy(rknn_ctx_t h)
{
    pthread_mutex_lock(&lock);
    emu_ctx **pp = &contexts;
    while (*pp && (rknn_ctx_t)(uintptr_t)*pp != h) pp = &(*pp)->next;
    emu_ctx *c = *pp;
    if (c) *pp = c->next;
    pthread_mutex_unlock(&lock);
    if (!c) return RKNN_ABI_ERR_CTX_INVALID;
    cpu_vision_ops.unload(c->vm);
    free(c->pixels);
    free(c->result);
    free(c->owned_output);
    free(c);
    return RKNN_ABI_SUCC;
}

static void fill_attr(const emu_ctx *c, bool input, rknn_attr *a)
{
    uint32_t index = a->index;
    memset(a, 0, sizeof *a);
    a->index = index;
    a->type = RKNN_ABI_TENSOR_FLOAT16;
    a->qnt_type = RKNN_ABI_QNT_NONE;
    a->scale = 1.0f;
    if (input) {
        uint32_t s = (uint32_t)c->info.image_size;
        a->n_dims = 4;
        a->dims[0] = 1;
        a->dims[1] = s;
        a->dims[2] = s;
        a->dims[3] = 3;
        a->fmt = RKNN_ABI_NHWC;
        snprintf(a->name, sizeof a->name, "pixel_values");
        a->w_stride = s;
    } else {
        a->n_dims = 3;
        a->dims[0] = 1;
        a->dims[1] = (uint32_t)c->info.n_tokens;
        a->dims[2] = (uint32_t)c->info.n_embd;
        a->fmt = RKNN_ABI_FORMAT_UNDEFINED;
        snprintf(a->name, sizeof a->name, "image_features");
    }
    a->n_elems = 1;
    for (uint32_t d = 0; d < a->n_dims; d++) a->n_elems *= a->dims[d];
    a->size = a->n_elems * 2;
    a->size_with_stride = a->size;
}

EXPORT int rknn_query(rknn_ctx_t h, int32_t cmd, void *info, uint32_t size)
{
    emu_ctx *c = find(h);
    if (!c) return RKNN_ABI_ERR_CTX_INVALID;
    if (!info) return RKNN_ABI_ERR_PARAM_INVALID;
    switch (cmd) {
    case RKNN_ABI_QUERY_IN_OUT_NUM:
        if (size < sizeof(rknn_io_num)) return RKNN_ABI_ERR_PARAM_INVALID;
        ((rknn_io_num *)info)->n_input = 1;
        ((rknn_io_num *)info)->n_output = 1;
        return RKNN_ABI_SUCC;
    case RKNN_ABI_QUERY_INPUT_ATTR:
    case RKNN_ABI_QUERY_OUTPUT_ATTR:
        if (size < sizeof(rknn_attr)) return RKNN_ABI_ERR_PARAM_INVALID;
        if (((rknn_attr *)info)->index != 0) return RKNN_ABI_ERR_PARAM_INVALID;
        fill_attr(c, cmd == RKNN_ABI_QUERY_INPUT_ATTR, info);
        return RKNN_ABI_SUCC;
    case 5: /* RKNN_QUERY_SDK_VERSION: char api_version[256], drv_version[256] */
        if (size < 512) return RKNN_ABI_ERR_PARAM_INVALID;
        snprintf(info, 256, "%s", emu_banner + strlen("librknnrt version: "));
        snprintf((char *)info + 256, 256, "0.9.8 (emulated)");
        return RKNN_ABI_SUCC;
    default: return RKNN_ABI_ERR_PARAM_INVALID;
    }
}

EXPORT int rknn_set_core_mask(rknn_ctx_t h, int32_t mask)
{
    emu_ctx *c = find(h);
    if (!c) return RKNN_ABI_ERR_CTX_INVALID;
    /* the masks an RK3588 accepts: auto, one core, cores 0+1, all three, "all" */
    if (mask != RKNN_ABI_CORE_AUTO && mask != RKNN_ABI_CORE_0 && mask != RKNN_ABI_CORE_1 && mask != RKNN_ABI_CORE_2 &&
        mask != RKNN_ABI_CORE_0_1 && mask != RKNN_ABI_CORE_0_1_2 && mask != RKNN_ABI_CORE_ALL)
        return RKNN_ABI_ERR_PARAM_INVALID;
    c->core_mask = mask;
    trace("core_mask %d %d", c->id, mask);
    return RKNN_ABI_SUCC;
}

EXPORT int rknn_inputs_set(rknn_ctx_t h, uint32_t n, rknn_in *inputs)
{
    emu_ctx *c = find(h);
    if (!c) return RKNN_ABI_ERR_CTX_INVALID;
    if (n != 1 || !inputs || inputs[0].index != 0 || !inputs[0].buf) return RKNN_ABI_ERR_INPUT_INVALID;
    const rknn_in *in = &inputs[0];
    if (in->pass_through) return RKNN_ABI_ERR_INPUT_INVALID; /* native FP16 layout is not emulated */
    size_t s = (size_t)c->info.image_size, plane = s * s;
    size_t esz = in->type == RKNN_ABI_TENSOR_FLOAT32 ? 4 : in->type == RKNN_ABI_TENSOR_UINT8 ? 1 : 0;
    if (!esz || in->size != 3 * plane * esz) return RKNN_ABI_ERR_INPUT_INVALID;
    bool nchw = in->fmt == RKNN_ABI_NCHW;
    if (!nchw && in->fmt != RKNN_ABI_NHWC && in->fmt != RKNN_ABI_FORMAT_UNDEFINED) return RKNN_ABI_ERR_INPUT_INVALID;
    for (size_t ch = 0; ch < 3; ch++)
        for (size_t p = 0; p < plane; p++) {
            size_t src = nchw ? ch * plane + p : p * 3 + ch;
            float v = esz == 4 ? ((const float *)in->buf)[src] : (float)((const uint8_t *)in->buf)[src];
            c->pixels[ch * plane + p] = (v / 255.0f - c->info.mean[ch]) / c->info.std[ch];
        }
    c->have_input = true;
    c->have_result = false;
    return RKNN_ABI_SUCC;
}

EXPORT int rknn_run(rknn_ctx_t h, void *extend)
{
    (void)extend;
    emu_ctx *c = find(h);
    if (!c) return RKNN_ABI_ERR_CTX_INVALID;
    if (!c->have_input) return RKNN_ABI_ERR_INPUT_INVALID;
    char err[512];
    if (cpu_vision_ops.encode(c->vm, c->pixels, c->result, err, sizeof err) != 0) {
        fprintf(stderr, "E RKNN: rknn_run: %s\n", err);
        return RKNN_ABI_ERR_FAIL;
    }
    c->have_result = true;
    trace("run %d core_mask %d", c->id, c->core_mask);
    return RKNN_ABI_SUCC;
}

/* IEEE half from float, round to nearest even (what an FP16 output holds) */
static uint16_t to_half(float f)
{
    union {
        float f;
        uint32_t u;
    } v = {f};
    uint32_t sign = (v.u >> 16) & 0x8000u, abs = v.u & 0x7fffffffu;
    if (abs >= 0x7f800000u) return (uint16_t)(sign | 0x7c00u | (abs > 0x7f800000u ? 0x200u : 0));
    if (abs >= 0x477ff000u) return (uint16_t)(sign | 0x7c00u); /* overflows to infinity */
    if (abs < 0x38800000u) {                                  /* subnormal half */
        float a = fabsf(f) * 16777216.0f;                     /* 2^24: units of the smallest half */
        return (uint16_t)(sign | (uint32_t)lrintf(a));
    }
    uint32_t h = ((abs - 0x38000000u) >> 13);
    uint32_t rest = abs & 0x1fffu;
    if (rest > 0x1000u || (rest == 0x1000u && (h & 1u))) h++;
    return (uint16_t)(sign | h);
}

EXPORT int rknn_outputs_get(rknn_ctx_t h, uint32_t n, rknn_out *outputs, void *extend)
{
    (void)extend;
    emu_ctx *c = find(h);
    if (!c) return RKNN_ABI_ERR_CTX_INVALID;
    if (n != 1 || !outputs || outputs[0].index != 0) return RKNN_ABI_ERR_OUTPUT_INVALID;
    if (!c->have_result) return RKNN_ABI_ERR_FAIL;
    rknn_out *o = &outputs[0];
    size_t count = (size_t)c->info.n_tokens * (size_t)c->info.n_embd;
    size_t bytes = count * (o->want_float ? 4 : 2);
    if (o->is_prealloc) {
        if (!o->buf || o->size < bytes) return RKNN_ABI_ERR_OUTPUT_INVALID;
    } else {
        free(c->owned_output);
        c->owned_output = malloc(bytes);
        if (!c->owned_output) return RKNN_ABI_ERR_MALLOC_FAIL;
        o->buf = c->owned_output;
        o->size = (uint32_t)bytes;
    }
    if (o->want_float)
        memcpy(o->buf, c->result, bytes);
    else
        for (size_t k = 0; k < count; k++) ((uint16_t *)o->buf)[k] = to_half(c->result[k]);
    return RKNN_ABI_SUCC;
}

EXPORT int rknn_outputs_release(rknn_ctx_t h, uint32_t n, rknn_out *outputs)
{
    emu_ctx *c = find(h);
    if (!c) return RKNN_ABI_ERR_CTX_INVALID;
    if (n != 1 || !outputs) return RKNN_ABI_ERR_OUTPUT_INVALID;
    if (!outputs[0].is_prealloc && outputs[0].buf == c->owned_output) {
        free(c->owned_output);
        c->owned_output = NULL;
        outputs[0].buf = NULL;
    }
    return RKNN_ABI_SUCC;
}
