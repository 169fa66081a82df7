/* Which encoder runs a vision projector file: a GGUF of llama.cpp's clip
 * kind runs on the CPU. (The NPU's .rknn encoders join here.) */
#include <stdio.h>
#include <string.h>

#include "engine/vision.h"
#include "format/gguf.h"

const vision_ops *vision_for_path(const char *path)
{
    char err[256];
    gguf_file *g = gguf_open(path, err, sizeof err);
    if (!g) return NULL;
    char arch[32] = "";
    gguf_get_cstr(g, "general.architecture", arch, sizeof arch);
    bool clip = !strcmp(arch, "clip") || gguf_find_kv(g, "clip.has_vision_encoder") != NULL;
    gguf_close(g);
    return clip ? &cpu_vision_ops : NULL;
}
