/* Format detection, limits and the parts every decoder shares: alpha
 * compositing and the EXIF orientation transforms. */
#include "media/image_internal.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

image_format image_detect(const uint8_t *d, size_t n)
{
    if (n >= 3 && d[0] == 0xFF && d[1] == 0xD8 && d[2] == 0xFF) return IMAGE_FORMAT_JPEG;
    if (n >= 8 && memcmp(d, "\x89PNG\r\n\x1a\n", 8) == 0) return IMAGE_FORMAT_PNG;
    if (n >= 12 && memcmp(d, "RIFF", 4) == 0 && memcmp(d + 8, "WEBP", 4) == 0) return IMAGE_FORMAT_WEBP;
    return IMAGE_FORMAT_UNKNOWN;
}

const char *image_format_name(image_format f)
{
    switch (f) {
    case IMAGE_FORMAT_JPEG: return "JPEG";
    case IMAGE_FORMAT_PNG: return "PNG";
    case IMAGE_FORMAT_WEBP: return "WebP";
    default: return "unknown";
    }
}

const char *image_status_name(image_status s)
{
    switch (s) {
    case IMAGE_OK: return "ok";
    case IMAGE_ERR_UNSUPPORTED: return "unsupported";
    case IMAGE_ERR_CORRUPT: return "corrupt";
    case IMAGE_ERR_TRUNCATED: return "truncated";
    case IMAGE_ERR_TOO_LARGE: return "too large";
    case IMAGE_ERR_NOMEM: return "out of memory";
    }
    return "unknown";
}

image_status image_fail(char *err, size_t errlen, image_status st, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return st;
}

image_status image_check_size(const char *fmt, uint64_t w, uint64_t h, const image_limits *lim, char *err, size_t errlen)
{
    if (w == 0 || h == 0) return image_fail(err, errlen, IMAGE_ERR_CORRUPT, "%s image has zero width or height", fmt);
    /* one side alone must fit an int32 and leave room for 4 bytes a pixel */
    if (w > 0x7FFFFFFF || h > 0x7FFFFFFF || w * h > (uint64_t)(SIZE_MAX / 4) || w * h > ((uint64_t)1 << 40))
        return image_fail(err, errlen, IMAGE_ERR_TOO_LARGE, "%s image is %llux%llu pixels, too large", fmt,
                          (unsigned long long)w, (unsigned long long)h);
    if (lim && lim->max_pixels && w * h > lim->max_pixels)
        return image_fail(err, errlen, IMAGE_ERR_TOO_LARGE, "%s image is %llux%llu pixels, over the limit of %llu", fmt,
                          (unsigned long long)w, (unsigned long long)h, (unsigned long long)lim->max_pixels);
    return IMAGE_OK;
}

int rk_image_alloc(rk_image *img, int32_t w, int32_t h)
{
    img->width = img->height = 0;
    img->rgb = NULL;
    if (w <= 0 || h <= 0 || (uint64_t)w * (uint64_t)h > SIZE_MAX / 3) return -1;
    img->rgb = malloc((size_t)w * (size_t)h * 3);
    if (!img->rgb) return -1;
    img->width = w;
    img->height = h;
    return 0;
}

void rk_image_free(rk_image *img)
{
    if (!img) return;
    free(img->rgb);
    img->rgb = NULL;
    img->width = img->height = 0;
}

/* PIL's alpha_composite of a straight-alpha pixel over an opaque
 * background reduces to this 7-bit fixed-point blend; same rounding, so
 * composited pixels equal the Python processors' convert_to_rgb. */
static uint8_t blend(unsigned c, unsigned a, unsigned bg)
{
    if (a == 0) return (uint8_t)bg;
    uint32_t t = (c * a + bg * (255 - a)) * 128 + (0x80 << 7);
    return (uint8_t)((((t >> 8) + t) >> 8) >> 7);
}

void image_blend_rgba(uint8_t *dst, const uint8_t *rgba, size_t npix, const uint8_t bg[3])
{
    for (size_t i = 0; i < npix; i++) {
        unsigned a = rgba[i * 4 + 3];
        dst[i * 3 + 0] = blend(rgba[i * 4 + 0], a, bg[0]);
        dst[i * 3 + 1] = blend(rgba[i * 4 + 1], a, bg[1]);
        dst[i * 3 + 2] = blend(rgba[i * 4 + 2], a, bg[2]);
    }
}

int image_apply_orientation(rk_image *img, int o)
{
    if (o < 2 || o > 8) return 0;
    int32_t w = img->width, h = img->height;
    bool swap = o >= 5; /* 5..8 turn the image a quarter */
    rk_image out;
    if (rk_image_alloc(&out, swap ? h : w, swap ? w : h) != 0) return -1;
    int32_t ow = out.width, oh = out.height;
    for (int32_t y = 0; y < oh; y++) {
        for (int32_t x = 0; x < ow; x++) {
            int32_t sx, sy;
            switch (o) {
            case 2: sx = w - 1 - x; sy = y; break;              /* mirror left-right */
            case 3: sx = w - 1 - x; sy = h - 1 - y; break;      /* rotate 180 */
            case 4: sx = x; sy = h - 1 - y; break;              /* mirror top-bottom */
            case 5: sx = y; sy = x; break;                      /* transpose */
            case 6: sx = y; sy = h - 1 - x; break;              /* rotate 90 clockwise */
            case 7: sx = w - 1 - y; sy = h - 1 - x; break;      /* transverse */
            default: sx = w - 1 - y; sy = x; break;             /* 8: rotate 90 counter-clockwise */
            }
            memcpy(out.rgb + ((size_t)y * ow + x) * 3, img->rgb + ((size_t)sy * w + sx) * 3, 3);
        }
    }
    free(img->rgb);
    *img = out;
    return 0;
}

image_status image_decode(const uint8_t *data, size_t len, const image_limits *lim, rk_image *out,
                          char *err, size_t errlen)
{
    out->width = out->height = 0;
    out->rgb = NULL;
    if (lim && lim->max_bytes && len > lim->max_bytes)
        return image_fail(err, errlen, IMAGE_ERR_TOO_LARGE, "image is %zu bytes, over the limit of %zu", len,
                          lim->max_bytes);
    if (len == 0) return image_fail(err, errlen, IMAGE_ERR_CORRUPT, "image is empty");
    static const image_limits none = {0, 0, {255, 255, 255}};
    if (!lim) lim = &none;
    int orientation = 1;
    image_status st;
    switch (image_detect(data, len)) {
    case IMAGE_FORMAT_JPEG: st = image_decode_jpeg(data, len, lim, out, &orientation, err, errlen); break;
    case IMAGE_FORMAT_PNG: st = image_decode_png(data, len, lim, out, &orientation, err, errlen); break;
    case IMAGE_FORMAT_WEBP: st = image_decode_webp(data, len, lim, out, &orientation, err, errlen); break;
    default:
        return image_fail(err, errlen, IMAGE_ERR_UNSUPPORTED,
                          "unsupported image format (not JPEG, PNG or WebP)");
    }
    if (st != IMAGE_OK) {
        rk_image_free(out);
        return st;
    }
    if (image_apply_orientation(out, orientation) != 0) {
        rk_image_free(out);
        return image_fail(err, errlen, IMAGE_ERR_NOMEM, "out of memory rotating the image");
    }
    return IMAGE_OK;
}
