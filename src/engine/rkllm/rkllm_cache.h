/* Prompt cache files of the rkllm engine: the runtime writes its own opaque
 * cache (RKLLMPromptCacheParam); the engine wraps it with a header naming
 * engine, runtime ABI and version, and model (file name and size), plus the
 * prompt text the cache holds, so a file for another model or runtime, or a
 * damaged one, is refused before the runtime ever sees it. */
#ifndef RK_RKLLM_CACHE_H
#define RK_RKLLM_CACHE_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    const char *model_path;
    int family;
    const char *runtime_version;
} rkllm_cache_id;

/* Writes header + text + the runtime's file to path atomically. */
int rkllm_cache_wrap(const char *path, const char *runtime_file, const rkllm_cache_id *id, const char *text,
                     char *err, size_t errlen);
/* Checks the header, writes the runtime's part to runtime_file and returns
 * the text (malloc'd) in *text. */
int rkllm_cache_unwrap(const char *path, const rkllm_cache_id *id, const char *runtime_file, char **text,
                       char *err, size_t errlen);

#endif
