/* WebP through libwebp's advanced decoding API, which reports why it
 * failed (short data vs bad bitstream). The EXIF chunk of an extended
 * (VP8X) file is found by walking the RIFF chunks. Animations are refused:
 * the still-image decoder cannot read them. */
#include "media/image_internal.h"

#include <stdlib.h>
#include <string.h>
#include <webp/decode.h>

static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static int riff_orientation(const uint8_t *d, size_t n)
{
    size_t i = 12;
    while (i + 8 <= n) {
        uint32_t sz = le32(d + i + 4);
        if (sz > n - i - 8) return 1;
        if (memcmp(d + i, "EXIF", 4) == 0) {
            const uint8_t *p = d + i + 8;
            /* some writers keep JPEG's "Exif\0\0" prefix */
            if (sz >= 6 && memcmp(p, "Exif\0\0", 6) == 0) return exif_orientation_tiff(p + 6, sz - 6);
            return exif_orientation_tiff(p, sz);
        }
        i += 8 + (size_t)sz + (sz & 1);
    }
    return 1;
}

static image_status status_of(VP8StatusCode rc)
{
    switch (rc) {
    case VP8_STATUS_NOT_ENOUGH_DATA: return IMAGE_ERR_TRUNCATED;
    case VP8_STATUS_UNSUPPORTED_FEATURE: return IMAGE_ERR_UNSUPPORTED;
    case VP8_STATUS_OUT_OF_MEMORY: return IMAGE_ERR_NOMEM;
    default: return IMAGE_ERR_CORRUPT;
    }
}

static const char *reason_of(VP8StatusCode rc)
{
    switch (rc) {
    case VP8_STATUS_NOT_ENOUGH_DATA: return "truncated WebP data";
    case VP8_STATUS_UNSUPPORTED_FEATURE: return "unsupported WebP feature";
    case VP8_STATUS_OUT_OF_MEMORY: return "out of memory decoding WebP";
    case VP8_STATUS_INVALID_PARAM: return "invalid WebP parameter";
    default: return "corrupt WebP data";
    }
}

image_status image_decode_webp(const uint8_t *data, size_t len, const image_limits *lim, rk_image *out,
                               int *orientation, char *err, size_t errlen)
{
    *orientation = 1;
    WebPDecoderConfig cfg;
    if (!WebPInitDecoderConfig(&cfg)) return image_fail(err, errlen, IMAGE_ERR_UNSUPPORTED, "libwebp version mismatch");
    VP8StatusCode rc = WebPGetFeatures(data, len, &cfg.input);
    if (rc != VP8_STATUS_OK) return image_fail(err, errlen, status_of(rc), "%s (header)", reason_of(rc));
    if (cfg.input.has_animation)
        return image_fail(err, errlen, IMAGE_ERR_UNSUPPORTED, "animated WebP is not supported");
    image_status st = image_check_size("WebP", (uint64_t)(cfg.input.width > 0 ? cfg.input.width : 0),
                                       (uint64_t)(cfg.input.height > 0 ? cfg.input.height : 0), lim, err, errlen);
    if (st != IMAGE_OK) return st;
    int w = cfg.input.width, h = cfg.input.height;
    size_t npix = (size_t)w * (size_t)h;
    int alpha = cfg.input.has_alpha;
    uint8_t *buf = malloc(npix * (alpha ? 4 : 3));
    if (!buf) return image_fail(err, errlen, IMAGE_ERR_NOMEM, "out of memory for a %dx%d WebP", w, h);
    cfg.output.colorspace = alpha ? MODE_RGBA : MODE_RGB;
    cfg.output.is_external_memory = 1;
    cfg.output.u.RGBA.rgba = buf;
    cfg.output.u.RGBA.stride = w * (alpha ? 4 : 3);
    cfg.output.u.RGBA.size = npix * (alpha ? 4 : 3);
    rc = WebPDecode(data, len, &cfg);
    WebPFreeDecBuffer(&cfg.output);
    if (rc != VP8_STATUS_OK) {
        free(buf);
        return image_fail(err, errlen, status_of(rc), "%s", reason_of(rc));
    }
    if (alpha) {
        if (rk_image_alloc(out, w, h) != 0) {
            free(buf);
            return image_fail(err, errlen, IMAGE_ERR_NOMEM, "out of memory for a %dx%d WebP", w, h);
        }
        image_blend_rgba(out->rgb, buf, npix, lim->background);
        free(buf);
    } else {
        out->width = w;
        out->height = h;
        out->rgb = buf;
    }
    *orientation = riff_orientation(data, len);
    return IMAGE_OK;
}
