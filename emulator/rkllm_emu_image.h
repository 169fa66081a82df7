/* RKLLM_INPUT_MULTIMODAL the way the runtime takes it: the prompt marks each
 * image with "<image>", which becomes img_start + img_content x n_image_tokens
 * + img_end; after tokenizing, the img_content positions receive the image
 * embeddings in order. Here those positions become engine_embd_span's for
 * the CPU engine. */
#ifndef RK_EMU_IMAGE_H
#define RK_EMU_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#include "engine/engine.h"

/* What the runtime's marker is: fixed, whatever the model. */
#define EMU_IMAGE_MARKER "<image>"

typedef struct {
    const char *start, *end, *content; /* tags; NULL counts as "" */
    const float *embd;                 /* n_image x n_tokens x n_embd */
    size_t n_image, n_tokens;
    int32_t n_embd;
} emu_images;

/* text with every marker expanded (malloc'd); NULL with a message when the
 * markers do not match n_image or the input is inconsistent. */
char *emu_image_expand(const char *text, const emu_images *im, char *err, size_t errlen);

/* The spans of the content positions in tokens[from, n): the content tag
 * must be one token of m's tokenizer, and it must occur exactly n_tokens
 * times in a row per image. out holds n_image spans; 0 or -1 with a message. */
int emu_image_spans(const engine_model *m, const int32_t *tokens, int64_t from, int64_t n, const emu_images *im,
                    engine_embd_span *out, char *err, size_t errlen);

/* Spans of a kept conversation, owning copies of their embeddings. */
typedef struct {
    engine_embd_span *v;
    int32_t n;
} emu_spans;

void emu_spans_clear(emu_spans *s);
/* Drops the spans that do not lie within the first n_tokens positions. */
void emu_spans_trim(emu_spans *s, int64_t n_tokens);
/* Appends copies of add[0..n); false (s unchanged) when out of memory. */
bool emu_spans_append(emu_spans *s, const engine_embd_span *add, int32_t n, int32_t n_embd);

#endif
