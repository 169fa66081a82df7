/* Image -> encoder input for a preset. The size arithmetic follows the
 * Python processors step for step (double division, int() truncation,
 * math.ceil) so the resize targets, and with PIL-exact resizing the pixels,
 * are the same; normalisation is done in float32 after a double rescale,
 * as numpy does it in the Hugging Face processors. */
#include "media/vision_preset.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int fail(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t errlen, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return -1;
}

size_t vision_tile_floats(const vision_tiles *t)
{
    return (size_t)3 * (size_t)t->size * (size_t)t->size;
}

void vision_tiles_free(vision_tiles *t)
{
    free(t->data);
    memset(t, 0, sizeof *t);
}

/* writes one size x size RGB image as normalised floats */
static void emit(const rk_image *img, const vision_preset *p, float *out)
{
    size_t plane = (size_t)img->width * img->height;
    for (size_t i = 0; i < plane; i++) {
        for (int c = 0; c < 3; c++) {
            int src = p->bgr ? 2 - c : c;
            float v = (float)((double)img->rgb[i * 3 + src] * p->rescale);
            v = (v - p->mean[src]) / p->std[src];
            if (p->layout == VP_LAYOUT_NCHW)
                out[(size_t)c * plane + i] = v;
            else
                out[i * 3 + c] = v;
        }
    }
}

/* Idefics3's first resize: longest edge to max_len, the other edge even */
static void rescale_to_max_len(int32_t *h, int32_t *w, int32_t max_len)
{
    double aspect = (double)*w / *h;
    if (*w >= *h) {
        *w = max_len;
        *h = (int32_t)(*w / aspect);
        if (*h % 2) (*h)++;
    } else {
        *h = max_len;
        *w = (int32_t)(*h * aspect);
        if (*w % 2) (*w)++;
    }
    if (*h < 1) *h = 1;
    if (*w < 1) *w = 1;
}

static void scale_below(int32_t *h, int32_t *w, int32_t max_len)
{
    double aspect = (double)*w / *h;
    if (*w >= *h && *w > max_len) {
        *w = max_len;
        *h = (int32_t)(*w / aspect);
    } else if (*h > *w && *h > max_len) {
        *h = max_len;
        *w = (int32_t)(*h * aspect);
    }
    if (*h < 1) *h = 1;
    if (*w < 1) *w = 1;
}

/* then up to multiples of the tile side */
static void multiple_of(int32_t *h, int32_t *w, int32_t side)
{
    double aspect = (double)*w / *h;
    if (*w >= *h) {
        *w = (int32_t)ceil((double)*w / side) * side;
        *h = (int32_t)(*w / aspect);
        *h = (int32_t)ceil((double)*h / side) * side;
    } else {
        *h = (int32_t)ceil((double)*h / side) * side;
        *w = (int32_t)(*h * aspect);
        *w = (int32_t)ceil((double)*w / side) * side;
    }
}

static int alloc_tiles(vision_tiles *t, int32_t n, int32_t size)
{
    t->n_tiles = n;
    t->size = size;
    t->data = malloc((size_t)n * vision_tile_floats(t) * sizeof(float));
    return t->data ? 0 : -1;
}

static int prep_tile(const rk_image *img, const vision_preset *p, vision_tiles *out, char *err, size_t errlen)
{
    int32_t s = p->image_size, h = img->height, w = img->width;
    rescale_to_max_len(&h, &w, p->longest_edge);
    scale_below(&h, &w, p->max_edge);
    rk_image first = {0, 0, NULL}, second = {0, 0, NULL}, crop = {0, 0, NULL};
    int rc = -1;
    if (image_resize(img, w, h, p->interpolation, &first) != 0) goto oom;
    multiple_of(&h, &w, s);
    if (image_resize(&first, w, h, p->interpolation, &second) != 0) goto oom;
    rk_image_free(&first);
    if (h > s || w > s) {
        int32_t rows = h / s, cols = w / s;
        if (alloc_tiles(out, rows * cols + 1, s) != 0) goto oom;
        out->rows = rows;
        out->cols = cols;
        size_t tf = vision_tile_floats(out);
        for (int32_t r = 0; r < rows; r++)
            for (int32_t c = 0; c < cols; c++) {
                if (image_crop(&second, c * s, r * s, c * s + s, r * s + s, &crop) != 0) goto oom;
                emit(&crop, p, out->data + (size_t)(r * cols + c) * tf);
                rk_image_free(&crop);
            }
        if (image_resize(&second, s, s, p->interpolation, &first) != 0) goto oom;
        emit(&first, p, out->data + (size_t)(rows * cols) * tf);
    } else {
        /* already s x s: the image is its own global view */
        if (alloc_tiles(out, 1, s) != 0) goto oom;
        emit(&second, p, out->data);
    }
    rc = 0;
    goto done;
oom:
    vision_tiles_free(out);
    fail(err, errlen, "out of memory preprocessing a %dx%d image", img->width, img->height);
done:
    rk_image_free(&first);
    rk_image_free(&second);
    rk_image_free(&crop);
    return rc;
}

int vision_preprocess(const rk_image *img, const vision_preset *p, vision_tiles *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    if (!img->rgb || img->width <= 0 || img->height <= 0) return fail(err, errlen, "empty image");
    if (p->mode == VP_RESIZE_TILE) return prep_tile(img, p, out, err, errlen);

    int32_t s = p->image_size, w = img->width, h = img->height;
    rk_image a = {0, 0, NULL}, b = {0, 0, NULL};
    int rc = -1;
    if (p->mode == VP_RESIZE_FIT) {
        if (image_resize(img, s, s, p->interpolation, &b) != 0) goto oom;
    } else if (p->mode == VP_RESIZE_CROP) {
        /* shortest edge to s, the other int(s * long / short), then the
         * centre (offsets rounded down) */
        int32_t nw = w <= h ? s : (int32_t)((double)s * w / h), nh = w <= h ? (int32_t)((double)s * h / w) : s;
        if (nw < s) nw = s;
        if (nh < s) nh = s;
        if (image_resize(img, nw, nh, p->interpolation, &a) != 0) goto oom;
        int32_t x0 = (nw - s) / 2, y0 = (nh - s) / 2;
        if (image_crop(&a, x0, y0, x0 + s, y0 + s, &b) != 0) goto oom;
    } else {
        /* PAD: longest edge to s (other edge int(edge / longest * s)),
         * pasted centred on a background square */
        int32_t mx = w > h ? w : h;
        int32_t nw = (int32_t)((double)w / mx * s), nh = (int32_t)((double)h / mx * s);
        if (nw < 1) nw = 1;
        if (nh < 1) nh = 1;
        if (image_resize(img, nw, nh, p->interpolation, &a) != 0) goto oom;
        if (rk_image_alloc(&b, s, s) != 0) goto oom;
        for (size_t i = 0; i < (size_t)s * s; i++) memcpy(b.rgb + i * 3, p->background, 3);
        int32_t x0 = (s - nw) / 2, y0 = (s - nh) / 2;
        for (int32_t y = 0; y < nh; y++)
            memcpy(b.rgb + ((size_t)(y + y0) * s + x0) * 3, a.rgb + (size_t)y * nw * 3, (size_t)nw * 3);
    }
    if (alloc_tiles(out, 1, s) != 0) goto oom;
    emit(&b, p, out->data);
    rc = 0;
    goto done;
oom:
    vision_tiles_free(out);
    fail(err, errlen, "out of memory preprocessing a %dx%d image", img->width, img->height);
done:
    rk_image_free(&a);
    rk_image_free(&b);
    return rc;
}
