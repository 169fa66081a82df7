#include "engine/engine.h"

#include <stdio.h>
#include <string.h>

/* Engines are chosen by content: a GGUF file (whatever its name) runs on the
 * CPU engine. */
const engine_ops *engine_for_path(const char *path)
{
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
