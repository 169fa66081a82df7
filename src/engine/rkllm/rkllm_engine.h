/* The NPU engine: .rkllm models through Rockchip's librkllmrt.so (or the
 * emulator in emulator/), behind engine.h. The runtime tokenizes itself, so
 * the engine takes text (generate_text, embed_text). Each session owns one
 * runtime handle: sessions run in parallel, calls on a handle never overlap.
 * What engine.h has no seam for is here. */
#ifndef RK_RKLLM_ENGINE_H
#define RK_RKLLM_ENGINE_H

#include <stdbool.h>
#include <stdint.h>

#include "engine/engine.h"

extern const engine_ops rkllm_engine_ops;

/* The runtime library for models loaded from now on (--rkllm-lib); NULL
 * falls back to $RKLLM_LIB, then "librkllmrt.so" from the library path. */
void rkllm_engine_set_library(const char *path);

/* Image tags the runtime puts around image embeddings in a multimodal
 * prompt (the model preset's), for models loaded from now on; NULL keeps
 * the Qwen2-VL defaults. */
void rkllm_engine_set_image_tags(const char *start, const char *end, const char *content);

/* Function calling through the runtime (rkllm_set_function_tools), for the
 * session's next conversation. NULLs switch it off. */
int rkllm_engine_set_function_tools(engine_session *s, const char *system_prompt, const char *tools_json,
                                    const char *tool_response_tag);
/* Qwen3-style thinking for the session's next runs (RKLLMInput.enable_thinking). */
void rkllm_engine_set_thinking(engine_session *s, bool enable);
/* A LoRA adapter into the session's handle; the next runs use it by name. */
int rkllm_engine_load_lora(engine_session *s, const char *path, const char *name, float scale, char *err,
                           size_t errlen);

/* The CPU mask a board's big cores make (RK3588/RK3576: cores 4-7), from a
 * device-tree compatible file; 0 when the SoC is not one of them. */
uint32_t rkllm_default_cpu_mask(const char *compatible_path);
/* max_context_len from a model file name's ctxNNNN part; 0 if none. */
int32_t rkllm_ctx_from_name(const char *path);

#endif
