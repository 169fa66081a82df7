/* Shared by the per-format decoders in src/media; not part of the API. */
#ifndef RK_MEDIA_IMAGE_INTERNAL_H
#define RK_MEDIA_IMAGE_INTERNAL_H

#include "media/image.h"

#include <stdarg.h>

image_status image_fail(char *err, size_t errlen, image_status st, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Checks a header's dimensions against the limits (and int32 overflow);
 * fmt names the format in the message. */
image_status image_check_size(const char *fmt, uint64_t w, uint64_t h, const image_limits *lim, char *err, size_t errlen);

/* dst = src composited over bg, both 8-bit: RGBA rows in, RGB out. */
void image_blend_rgba(uint8_t *dst, const uint8_t *rgba, size_t npix, const uint8_t bg[3]);

image_status image_decode_jpeg(const uint8_t *data, size_t len, const image_limits *lim, rk_image *out,
                               int *orientation, char *err, size_t errlen);
image_status image_decode_png(const uint8_t *data, size_t len, const image_limits *lim, rk_image *out,
                              int *orientation, char *err, size_t errlen);
image_status image_decode_webp(const uint8_t *data, size_t len, const image_limits *lim, rk_image *out,
                               int *orientation, char *err, size_t errlen);

#endif
