/* Vision presets: what a model family expects of an image and of the prompt
 * around it, as data (share/vision-presets.json plus an optional user file)
 * rather than code. A preset says how to turn a decoded RGB image into the
 * encoder's float input (resize mode, interpolation, normalisation, layout,
 * tiling) and what text stands for the image in the prompt (tags and the
 * placeholder tokens whose positions the image embeddings fill).
 *
 * Typical use, per image of a request:
 *   const vision_preset *p = vision_presets_find(&set, sidecar_name)
 *                            ?: vision_presets_detect(&set, &gguf_facts);
 *   vision_tiles t;  vision_preprocess(&img, p, &t, err, sizeof err);
 *   for each of t.n_tiles tiles: encoder->encode(t.data + i * vision_tile_floats(&t), ...)
 *   int n; char *text = vision_prompt_expand(p, t.rows, t.cols, &n);
 *   the user's image marker (p->image_marker) is replaced by text; its n
 *   placeholder tokens take the tiles' embeddings in order (local tiles
 *   row by row, then the global image), n == t.n_tiles * p->tokens_per_tile. */
#ifndef RK_MEDIA_VISION_PRESET_H
#define RK_MEDIA_VISION_PRESET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "media/image.h"
#include "media/resize.h"

typedef enum {
    VP_RESIZE_FIT = 0, /* resize to image_size x image_size; aspect ratio not kept */
    VP_RESIZE_CROP,    /* shortest edge to image_size, then the centre square */
    VP_RESIZE_PAD,     /* longest edge to image_size, then centred on a background square */
    VP_RESIZE_TILE,    /* Idefics3/SmolVLM: local tiles of image_size plus a global image */
} vp_resize_mode;

typedef enum { VP_LAYOUT_NCHW = 0, VP_LAYOUT_NHWC } vp_layout;

typedef enum {
    /* the prompt carries the expanded text; the engine puts the embeddings
     * at the placeholder tokens' positions (engine_embd_span) */
    VP_INJECT_REPLACE = 0,
    /* rkllm's multimodal input: the prompt keeps image_marker and the
     * runtime expands it from image_start, image_end and placeholder
     * (its img_start / img_end / img_content) and n_image_tokens */
    VP_INJECT_RKLLM,
} vp_inject;

typedef struct {
    char *name;
    char *description;
    char *source;        /* where the facts come from */
    bool verified;       /* compared against a reference in this repository's tests */

    /* preprocessing */
    int32_t image_size;      /* side of the square the encoder takes (a tile in TILE mode) */
    vp_resize_mode mode;
    int32_t longest_edge;    /* TILE: first resize, longest edge to this (size.longest_edge) */
    int32_t max_edge;        /* TILE: upper bound after that resize (4096) */
    resample_filter interpolation;
    uint8_t background[3];   /* PAD fill, and what transparent pixels are composited onto */
    double rescale;          /* pixel scale before normalising, usually 1/255 */
    float mean[3], std[3];   /* out = (pixel * rescale - mean) / std, per channel */
    bool bgr;                /* channel order of the output */
    vp_layout layout;

    /* prompt */
    int32_t tokens_per_tile; /* embeddings one encoded tile (or image) yields */
    char *image_marker;      /* what marks an image in the user's text: "<image>" */
    char *placeholder;       /* the token repeated tokens_per_tile times */
    char *image_start;       /* before each tile's or image's tokens */
    char *image_end;         /* after the (global) image's tokens */
    char *global_tag;        /* after image_start of the global image */
    char *tile_tag;          /* TILE: after image_start of a local tile; {row}, {col} are 1-based */
    char *row_end;           /* TILE: after each row of local tiles */
    char *global_prefix;     /* TILE: before the global image's block */
    vp_inject inject;

    /* detection from GGUF metadata; an empty list matches anything */
    char **match_projector;  /* clip.projector_type values */
    int n_match_projector;
    char **match_arch;       /* general.architecture values of the language model */
    int n_match_arch;
    char **match_name;       /* case-insensitive substrings of the model's name */
    int n_match_name;
    int32_t match_image_size; /* clip.vision.image_size, 0: any */
} vision_preset;

typedef struct {
    vision_preset *items;
    int n;
} vision_presets;

/* Adds the presets of a JSON file to set; a preset whose name is already
 * there replaces it (so a user file loaded after the shipped one overrides
 * it). Zero-initialise set before the first call. 0, or -1 with err naming
 * the file, the preset and the field. */
int vision_presets_load(vision_presets *set, const char *path, char *err, size_t errlen);
/* The same from JSON text; origin names it in errors. */
int vision_presets_load_text(vision_presets *set, const char *json, const char *origin, char *err, size_t errlen);
void vision_presets_free(vision_presets *set);

const vision_preset *vision_presets_find(const vision_presets *set, const char *name);

/* What GGUF metadata says about a model; NULL / 0 for unknown. */
typedef struct {
    const char *projector_type; /* clip.projector_type of the mmproj */
    const char *architecture;   /* general.architecture of the language model */
    const char *name;           /* general.name or the file name */
    int32_t image_size;         /* clip.vision.image_size */
} vision_model_facts;

/* The preset whose match rules all hold and that names the most of them
 * (ties: the one loaded last); NULL when none matches or no rule applies. */
const vision_preset *vision_presets_detect(const vision_presets *set, const vision_model_facts *facts);

/* Preprocessed tiles of one image: n_tiles squares of size x size x 3
 * floats in the preset's layout and channel order. In TILE mode the first
 * rows * cols are the local tiles row by row and the last is the global
 * image; rows = cols = 0 when the image needed no split (one tile). */
typedef struct {
    int32_t n_tiles, rows, cols, size;
    float *data;
} vision_tiles;

size_t vision_tile_floats(const vision_tiles *t); /* 3 * size * size */

int vision_preprocess(const rk_image *img, const vision_preset *p, vision_tiles *out, char *err, size_t errlen);
void vision_tiles_free(vision_tiles *t);

/* The text that replaces the image marker for an image split rows x cols
 * (0 x 0: not split), malloc'd; *n_positions receives how many placeholder
 * tokens (embedding positions) it holds. NULL when out of memory. */
char *vision_prompt_expand(const vision_preset *p, int32_t rows, int32_t cols, int32_t *n_positions);

const char *vp_resize_mode_name(vp_resize_mode m); /* "fit", "crop", "pad", "tile" */

#endif
