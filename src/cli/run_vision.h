/* Images for the in-process rkserve run: the model's vision encoder (its
 * companion file, found as the server finds it) and prompts with images:
 * rendered with the image marks in place, expanded and tokenized, with the
 * spans their embeddings fill. */
#ifndef RK_CLI_RUN_VISION_H
#define RK_CLI_RUN_VISION_H

#include <stdbool.h>
#include <stdint.h>

#include "core/chat_format.h"
#include "core/request.h"
#include "core/vision_input.h"
#include "engine/engine.h"

typedef struct {
    vision_presets presets;
    vision_pipe pipe;
    rk_req_image *images;   /* every image of the conversation, in order */
    int n_images;
} run_vision;

/* Opens the encoder paired with model_path (an mmproj GGUF or .rknn next
 * to it). 0, or -1 with err. */
int run_vision_open(run_vision *v, const char *model_path, const engine_ops *ops, const engine_model *em,
                    const engine_info *info, int32_t threads, char *err, size_t errlen);
void run_vision_close(run_vision *v);

/* Reads an image file into the conversation. 0, or -1 (message printed). */
int run_vision_add(run_vision *v, const char *path);
void run_vision_clear(run_vision *v);

/* The prompt of a conversation whose user contents carry RK_IMAGE_MARK,
 * tokenized, with the spans of its images. 0 with *toks, *spans malloc'd
 * and *vb filled (free all three), or -1 with err. */
int run_vision_prompt(run_vision *v, const engine_ops *ops, const engine_model *em, const engine_info *info,
                      const chat_format *f, const chat_message *msgs, int n_msgs, bool raw, int32_t **toks,
                      int64_t *n_toks, engine_embd_span **spans, int *n_spans, vision_batch *vb, char *err,
                      size_t errlen);

#endif
