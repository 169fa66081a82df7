/* Per-token final hidden states for RKLLM_INFER_GET_LAST_HIDDEN_LAYER:
 * engine.h only gives pooled embeddings, so the emulator runs the CPU
 * engine's forward pass itself on a second view of the same GGUF. */
#ifndef RK_EMU_HIDDEN_H
#define RK_EMU_HIDDEN_H

#include <stddef.h>
#include <stdint.h>

typedef struct emu_hidden emu_hidden;

emu_hidden *emu_hidden_open(const char *gguf_path, int32_t n_ctx, char *err, size_t errlen);
void emu_hidden_free(emu_hidden *h);
/* n x n_embd floats, valid until the next call; NULL on error. */
const float *emu_hidden_run(emu_hidden *h, const int32_t *tokens, int32_t n, char *err, size_t errlen);

#endif
