/* Which encoder runs a vision companion file: a GGUF of llama.cpp's clip
 * kind runs on the CPU; a .rknn model, or a JSON manifest of .rknn shards,
 * on the NPU through librknnrt. */
#include <stdio.h>
#include <string.h>

#include "engine/rknn/rknn_vision.h"
#include "engine/vision.h"
#include "format/gguf.h"

static bool has_suffix(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && !strcmp(s + n - k, suffix);
}

const vision_ops *vision_for_path(const char *path)
{
    if (has_suffix(path, ".rknn") || has_suffix(path, ".json")) return &rknn_vision_ops;
    char err[256];
    gguf_file *g = gguf_open(path, err, sizeof err);
    if (!g) return NULL;
    char arch[32] = "";
    gguf_get_cstr(g, "general.architecture", arch, sizeof arch);
    bool clip = !strcmp(arch, "clip") || gguf_find_kv(g, "clip.has_vision_encoder") != NULL;
    gguf_close(g);
    return clip ? &cpu_vision_ops : NULL;
}
