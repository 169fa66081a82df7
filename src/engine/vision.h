/* The seam between the server and vision encoders: an image, already
 * resized and normalised by core vision preprocessing, goes in; a row of
 * embeddings in the language model's width comes out, to be placed into the
 * prompt as engine_embd_span. Implementations: the CPU encoder (a GGUF
 * mmproj file, llama.cpp's clip naming) and the NPU encoder (.rknn, single
 * or sharded). An encoder is not thread-safe; callers serialise encode. */
#ifndef RK_VISION_H
#define RK_VISION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct vision_model vision_model;

typedef struct {
    const char *engine;       /* "cpu", "rknn" */
    const char *projector;    /* "idefics3", ... */
    int32_t image_size;       /* the square input side, in pixels */
    int32_t n_tokens;         /* embeddings per encoded image */
    int32_t n_embd;           /* width of an embedding: the language model's n_embd */
    float mean[3], std[3];    /* normalisation the encoder expects of its input */
    uint64_t weight_bytes;
} vision_info;

typedef struct vision_ops {
    const char *name;
    vision_model *(*load)(const char *path, int32_t n_threads, char *err, size_t errlen);
    void (*unload)(vision_model *v);
    void (*info)(const vision_model *v, vision_info *out);
    /* pixels: 3 x image_size x image_size floats, planar RGB (CHW), already
     * normalised with mean/std. out: n_tokens x n_embd floats. 0 or -1. */
    int (*encode)(vision_model *v, const float *pixels, float *out, char *err, size_t errlen);
} vision_ops;

extern const vision_ops cpu_vision_ops;

/* The encoder for a file by its contents: a GGUF with clip.* keys runs on
 * the CPU; NULL when none can. */
const vision_ops *vision_for_path(const char *path);

#endif
