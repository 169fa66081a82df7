#include "emulator/rkllm_emu_hidden.h"

#include <stdio.h>
#include <stdlib.h>

#include "engine/cpu/forward.h"
#include "engine/cpu/model.h"
#include "format/ggml_types.h"
#include "format/gguf.h"
#include "util/threadpool.h"

/* the CPU engine's prefill step and cache type, so pooled results match its embed */
#define HIDDEN_BATCH 128

struct emu_hidden {
    gguf_file *g;
    rk_model *m;
    threadpool *pool;
    rk_forward_ctx *fw;
    int32_t n_ctx, n_batch;
    float *out;
};

void emu_hidden_free(emu_hidden *h)
{
    if (!h) return;
    rk_forward_free(h->fw);
    threadpool_free(h->pool);
    rk_model_free(h->m);
    gguf_close(h->g);
    free(h->out);
    free(h);
}

emu_hidden *emu_hidden_open(const char *gguf_path, int32_t n_ctx, char *err, size_t errlen)
{
    emu_hidden *h = calloc(1, sizeof *h);
    if (!h) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    h->g = gguf_open(gguf_path, err, errlen);
    if (h->g) h->m = rk_model_load(h->g, err, errlen);
    if (!h->m) goto fail;
    h->n_ctx = n_ctx;
    h->n_batch = n_ctx < HIDDEN_BATCH ? n_ctx : HIDDEN_BATCH;
    h->pool = threadpool_new(1);
    if (h->pool) h->fw = rk_forward_new(h->m, h->pool, n_ctx, h->n_batch, GGML_TYPE_F16);
    h->out = malloc((size_t)n_ctx * h->m->n_embd * sizeof(float));
    if (!h->fw || !h->out) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    return h;
fail:
    emu_hidden_free(h);
    return NULL;
}

const float *emu_hidden_run(emu_hidden *h, const int32_t *tokens, int32_t n, char *err, size_t errlen)
{
    if (n <= 0 || n > h->n_ctx) {
        snprintf(err, errlen, "%d tokens do not fit the context of %d", n, h->n_ctx);
        return NULL;
    }
    for (int32_t i = 0; i < n; i++) {
        if (tokens[i] < 0 || tokens[i] >= h->m->n_vocab) {
            snprintf(err, errlen, "token id %d is outside the vocabulary", tokens[i]);
            return NULL;
        }
    }
    for (int32_t i = 0; i < n; i += h->n_batch) {
        int32_t b = n - i < h->n_batch ? n - i : h->n_batch;
        rk_forward(h->fw, tokens + i, b, i, NULL, false, h->out + (size_t)i * h->m->n_embd);
    }
    return h->out;
}
