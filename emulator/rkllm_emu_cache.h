/* The emulator's prompt cache files: a header naming the emulator, its ABI
 * family and the model file, then the CPU engine's session file (which
 * carries the model fingerprint and a checksum). Written atomically; a file
 * for another model or family, or a damaged one, is refused. */
#ifndef RK_EMU_CACHE_H
#define RK_EMU_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include "engine/engine.h"

int emu_cache_save(const char *path, const char *model_path, int family, engine_session *s, int32_t n_sys,
                   char *err, size_t errlen);
/* Restores s from the file; *n_sys gets the system prompt's token count. */
int emu_cache_load(const char *path, const char *model_path, int family, engine_session *s, int32_t *n_sys,
                   char *err, size_t errlen);

#endif
