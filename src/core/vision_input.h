/* Images of a request on their way to the engine: a model's vision encoder
 * and preset (vision_pipe), each image decoded, preprocessed and encoded
 * (vision_batch), the prompt's image markers expanded to the preset's tags
 * and placeholder tokens, and the placeholder positions turned into
 * embedding spans. */
#ifndef RK_VISION_INPUT_H
#define RK_VISION_INPUT_H

#include <stdbool.h>
#include <stdint.h>

#include "core/registry.h"
#include "core/request.h"
#include "engine/engine.h"
#include "engine/vision.h"
#include "media/image.h"
#include "media/vision_preset.h"

/* share/vision-presets.json, compiled in (generated at build time). */
extern const char rk_vision_presets_json[];

typedef struct {
    const vision_ops *ops;
    vision_model *vm;
    vision_info info;
    const vision_preset *preset;
    bool text_engine;            /* the engine takes text: markers stay, spans go in order */
    int32_t placeholder_token;   /* the preset's placeholder as one token id (-1 for text engines) */
} vision_pipe;

/* Loads the encoder of the model's companion file and chooses its preset:
 * the sidecar's vision preset by name, else the one the metadata matches.
 * 0, or -1 with err (the model then serves text only). */
int vision_pipe_open(vision_pipe *vp, const registry_entry *ent, const engine_ops *ops, const engine_model *em,
                     const engine_info *llm, const vision_presets *presets, int32_t threads, char *err,
                     size_t errlen);
void vision_pipe_close(vision_pipe *vp);

typedef struct {
    int n;               /* images */
    char **expansion;    /* the text that replaces each image's marker */
    int32_t *n_rows;     /* embedding rows of each image */
    float **embd;        /* each image's rows, n_rows x n_embd */
    uint64_t *hash;      /* of each image's bytes and the preset */
    int64_t total_rows;
} vision_batch;

/* Decodes, preprocesses and encodes the request's images. 0, or -1 with e:
 * 400 naming the image and the reason for a bad image. */
int vision_batch_encode(vision_pipe *vp, const rk_req_image *images, int n, const image_limits *lim,
                        vision_batch *out, rk_error *e);
void vision_batch_free(vision_batch *b);

/* The prompt with each image marker replaced by its image's expansion, in
 * order; 400 when the prompt's markers and the images do not pair up. */
char *vision_expand_prompt(const vision_pipe *vp, const char *prompt, const vision_batch *b, rk_error *e);

/* The spans of a tokenized, expanded prompt: placeholder tokens take the
 * images' rows in order (text engines: one span per image). 0 with *spans
 * malloc'd, or -1 with e. */
int vision_make_spans(const vision_pipe *vp, const int32_t *toks, int64_t n, const vision_batch *b,
                      engine_embd_span **spans, int *n_spans, rk_error *e);

#endif
