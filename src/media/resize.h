/* Resizing of RGB images that reproduces PIL's Image.resize bit for bit on
 * 8-bit RGB, because the models' own Python processors resize with PIL and
 * the encoders were trained on what it produces. BILINEAR, BICUBIC and
 * LANCZOS are PIL's antialiasing convolutions (the kernel widened by the
 * downscale factor; a horizontal pass then a vertical one, each rounded
 * to 8 bits with 22-bit fixed-point weights); NEAREST is PIL's affine
 * nearest-neighbour sampling. */
#ifndef RK_MEDIA_RESIZE_H
#define RK_MEDIA_RESIZE_H

#include "media/image.h"

typedef enum {
    RESAMPLE_NEAREST = 0,
    RESAMPLE_BILINEAR,
    RESAMPLE_BICUBIC, /* Keys cubic, a = -0.5 */
    RESAMPLE_LANCZOS, /* 3-lobe windowed sinc */
} resample_filter;

/* "nearest", "bilinear", "bicubic", "lanczos"; -1 for anything else. */
int resample_from_name(const char *name);
const char *resample_name(resample_filter f);

/* dst = src resized to w x h (a new image; free with rk_image_free).
 * Returns 0, or -1 when out of memory or a size is not positive. */
int image_resize(const rk_image *src, int32_t w, int32_t h, resample_filter f, rk_image *dst);

/* dst = the pixels of src in [x0, x1) x [y0, y1), which must lie inside it
 * (PIL's Image.crop within bounds). 0 or -1. */
int image_crop(const rk_image *src, int32_t x0, int32_t y0, int32_t x1, int32_t y1, rk_image *dst);

#endif
