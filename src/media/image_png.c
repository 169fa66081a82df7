/* PNG through libpng. libpng reports fatal errors by longjmp, so the
 * decode state that must survive one (buffers to free, the reason) lives
 * in a struct outside the setjmp frame. Transforms: palette and low-bit
 * grey expand to 8-bit, 16-bit keeps its high byte (as PIL does for RGB),
 * grey becomes RGB, and any alpha (tRNS included) is composited. */
#include "media/image_internal.h"

#include <png.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const uint8_t *data;
    size_t len, pos;
    bool ran_out;
    bool short_idat; /* libpng warned that the image data ended early */
    char msg[160];
    jmp_buf jmp;
    uint8_t *pixels;
    png_bytep *rows;
} png_src;

static void on_error(png_structp png, png_const_charp msg)
{
    png_src *s = png_get_error_ptr(png);
    snprintf(s->msg, sizeof s->msg, "%s", msg);
    longjmp(s->jmp, 1);
}

static void on_warning(png_structp png, png_const_charp msg)
{
    png_src *s = png_get_error_ptr(png);
    if (strstr(msg, "Not enough image data") || strstr(msg, "Truncated compressed data")) s->short_idat = true;
}

static void on_read(png_structp png, png_bytep dst, size_t n)
{
    png_src *s = png_get_io_ptr(png);
    if (n > s->len - s->pos) {
        s->ran_out = true;
        png_error(png, "unexpected end of PNG data");
    }
    memcpy(dst, s->data + s->pos, n);
    s->pos += n;
}

image_status image_decode_png(const uint8_t *data, size_t len, const image_limits *lim, rk_image *out,
                              int *orientation, char *err, size_t errlen)
{
    /* volatile: changed after setjmp and read after a longjmp */
    png_src src_store;
    png_src *volatile s = &src_store;
    memset(s, 0, sizeof *s);
    s->data = data;
    s->len = len;
    volatile image_status st = IMAGE_OK;
    *orientation = 1;

    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, s, on_error, on_warning);
    if (!png) return image_fail(err, errlen, IMAGE_ERR_NOMEM, "cannot start the PNG decoder");
    png_infop info = png_create_info_struct(png);
    if (!info) {
        png_destroy_read_struct(&png, NULL, NULL);
        return image_fail(err, errlen, IMAGE_ERR_NOMEM, "cannot start the PNG decoder");
    }
    if (setjmp(s->jmp)) {
        if (st == IMAGE_OK)
            st = image_fail(err, errlen, s->ran_out ? IMAGE_ERR_TRUNCATED : IMAGE_ERR_CORRUPT, "%s PNG data: %s",
                            s->ran_out ? "truncated" : "corrupt", s->msg);
        goto done;
    }
    png_set_read_fn(png, s, on_read);
    /* our own limit is checked below; this keeps libpng's row allocation sane */
    png_set_user_limits(png, 0x7FFFFFFF, 0x7FFFFFFF);
    png_read_info(png, info);

    png_uint_32 w = png_get_image_width(png, info), h = png_get_image_height(png, info);
    if ((st = image_check_size("PNG", w, h, lim, err, errlen)) != IMAGE_OK) goto done;

#ifdef PNG_eXIf_SUPPORTED
    png_bytep exif = NULL;
    png_uint_32 exif_len = 0;
    if (png_get_eXIf_1(png, info, &exif_len, &exif) && exif && exif_len)
        *orientation = exif_orientation_tiff(exif, exif_len);
#endif

    int type = png_get_color_type(png, info), depth = png_get_bit_depth(png, info);
    if (type == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
    if (type == PNG_COLOR_TYPE_GRAY && depth < 8) png_set_expand_gray_1_2_4_to_8(png);
    if (png_get_valid(png, info, PNG_INFO_tRNS)) png_set_tRNS_to_alpha(png);
    if (depth == 16) png_set_strip_16(png);
    if (!(type & PNG_COLOR_MASK_COLOR)) png_set_gray_to_rgb(png);
    png_set_interlace_handling(png);
    png_read_update_info(png, info);

    int channels = png_get_channels(png, info);
    if (channels != 3 && channels != 4) {
        st = image_fail(err, errlen, IMAGE_ERR_UNSUPPORTED, "PNG with %d channels after expansion", channels);
        goto done;
    }
    size_t stride = (size_t)w * (size_t)channels;
    if (png_get_rowbytes(png, info) != stride) {
        st = image_fail(err, errlen, IMAGE_ERR_CORRUPT, "unexpected PNG row size");
        goto done;
    }
    /* zeroed, so rows libpng leaves unwritten (short data) are defined */
    s->pixels = calloc((size_t)h, stride);
    s->rows = malloc((size_t)h * sizeof *s->rows);
    if (!s->pixels || !s->rows) {
        st = image_fail(err, errlen, IMAGE_ERR_NOMEM, "out of memory for a %ux%u PNG", (unsigned)w, (unsigned)h);
        goto done;
    }
    for (png_uint_32 y = 0; y < h; y++) s->rows[y] = s->pixels + (size_t)y * stride;
    png_read_image(png, s->rows);
    if (s->short_idat) {
        st = image_fail(err, errlen, IMAGE_ERR_TRUNCATED, "truncated PNG data: image data ends early");
        goto done;
    }

    if (rk_image_alloc(out, (int32_t)w, (int32_t)h) != 0) {
        st = image_fail(err, errlen, IMAGE_ERR_NOMEM, "out of memory for a %ux%u PNG", (unsigned)w, (unsigned)h);
        goto done;
    }
    if (channels == 4)
        image_blend_rgba(out->rgb, s->pixels, (size_t)w * h, lim->background);
    else
        memcpy(out->rgb, s->pixels, (size_t)w * h * 3);
done:
    png_destroy_read_struct(&png, &info, NULL);
    free(s->pixels);
    free(s->rows);
    if (st != IMAGE_OK) rk_image_free(out);
    return st;
}
