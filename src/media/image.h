/* Decoding of the images a request carries (JPEG, PNG, WebP) into packed
 * 8-bit RGB, upright per EXIF orientation, with alpha composited on a given
 * background. The format comes from magic bytes, never from a name or MIME
 * type. Limits are checked before any pixel is decoded: the encoded size
 * first, then width x height from the header. Errors carry a short reason
 * ("truncated PNG data", "image is 9000x9000 pixels, over the limit of
 * 16777216") to which the caller prepends which image it was. */
#ifndef RK_MEDIA_IMAGE_H
#define RK_MEDIA_IMAGE_H

#include <stddef.h>
#include <stdint.h>

typedef enum {
    IMAGE_FORMAT_UNKNOWN = 0,
    IMAGE_FORMAT_JPEG,
    IMAGE_FORMAT_PNG,
    IMAGE_FORMAT_WEBP,
} image_format;

typedef enum {
    IMAGE_OK = 0,
    IMAGE_ERR_UNSUPPORTED, /* not JPEG/PNG/WebP, or a variant we do not decode (animation, ...) */
    IMAGE_ERR_CORRUPT,     /* malformed data */
    IMAGE_ERR_TRUNCATED,   /* data ends early */
    IMAGE_ERR_TOO_LARGE,   /* over a limit: encoded bytes or pixel count */
    IMAGE_ERR_NOMEM,
} image_status;

typedef struct {
    size_t max_bytes;      /* encoded size; 0 means no limit */
    uint64_t max_pixels;   /* width * height from the header; 0 means no limit */
    uint8_t background[3]; /* RGB that transparent pixels are composited onto */
} image_limits;

/* Packed RGB, rows top to bottom, stride width * 3. */
typedef struct {
    int32_t width, height;
    uint8_t *rgb;
} rk_image;

image_format image_detect(const uint8_t *data, size_t len);
const char *image_format_name(image_format f); /* "JPEG", "PNG", "WebP", "unknown" */
const char *image_status_name(image_status s); /* "unsupported", "corrupt", ... */

/* Decodes data into *out (free with rk_image_free). On failure returns the
 * reason class, leaves *out empty and writes a message into err. */
image_status image_decode(const uint8_t *data, size_t len, const image_limits *lim, rk_image *out,
                          char *err, size_t errlen);

void rk_image_free(rk_image *img);

/* Allocates a w x h image (pixels uninitialised); NULL rgb on failure. */
int rk_image_alloc(rk_image *img, int32_t w, int32_t h);

/* EXIF orientation 1..8 (TIFF tag 0x0112) from a TIFF-structured Exif
 * block ("II*\0" or "MM\0*" first), or 1 when absent or malformed. */
int exif_orientation_tiff(const uint8_t *tiff, size_t len);

/* Rewrites img so that it is displayed upright for an EXIF orientation
 * (2..8 mirror and/or rotate; 1 and unknown values leave it alone). */
int image_apply_orientation(rk_image *img, int orientation);

#endif
