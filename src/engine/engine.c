#include "engine/engine.h"
#include "engine/rkllm/rkllm_engine.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Engines are chosen by name, then content: an .rkllm file goes to the NPU
 * runtime (even a GGUF renamed so, which the emulator runs), any other GGUF
 * file runs on the CPU engine. */
const engine_ops *engine_for_path(const char *path)
{
    size_t n_path = strlen(path);
    if (n_path > 6 && strcmp(path + n_path - 6, ".rkllm") == 0) return &rkllm_engine_ops;
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char magic[4] = {0};
    size_t n = fread(magic, 1, 4, f);
    fclose(f);
    if (n == 4 && memcmp(magic, "GGUF", 4) == 0) return &cpu_engine_ops;
    return NULL;
}

const char *engine_finish_name(engine_finish f)
{
    switch (f) {
    case ENGINE_FINISH_EOG: return "stop";
    case ENGINE_FINISH_LENGTH: return "length";
    case ENGINE_FINISH_CONTEXT: return "length";
    case ENGINE_FINISH_STOPPED: return "stop";
    case ENGINE_FINISH_CANCELLED: return "cancelled";
    default: return "none";
    }
}

int64_t engine_tokenize_alloc(const engine_ops *ops, const engine_model *m, const char *text, bool add_bos,
                              int32_t **out)
{
    size_t len = strlen(text);
    int64_t cap = (int64_t)len + 16; /* a token per byte plus BOS/EOS: usually enough */
    int32_t *toks = malloc((size_t)cap * sizeof *toks);
    if (!toks) return -1;
    int64_t n = ops->tokenize(m, text, len, add_bos, true, toks, cap);
    if (n > cap) {
        int32_t *bigger = realloc(toks, (size_t)n * sizeof *toks);
        if (!bigger) {
            free(toks);
            return -1;
        }
        toks = bigger;
        n = ops->tokenize(m, text, len, add_bos, true, toks, n);
    }
    if (n < 0) {
        free(toks);
        return -1;
    }
    *out = toks;
    return n;
}

bool engine_prompt_wants_bos(const engine_info *info, const char *prompt)
{
    const char *bos = info->bos_text;
    return !(bos && *bos && strncmp(prompt, bos, strlen(bos)) == 0);
}

int32_t engine_span_identity(uint64_t hash, int32_t offset)
{
    /* splitmix64 finaliser: neighbouring offsets and similar hashes spread
     * over the 31 bits */
    uint64_t x = hash + 0x9e3779b97f4a7c15ull * ((uint64_t)(uint32_t)offset + 1);
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    x ^= x >> 31;
    return -1 - (int32_t)(x & 0x7fffffffu);
}
