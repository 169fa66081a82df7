/* Follows the arithmetic of Pillow's libImaging/Resample.c (coefficients in
 * double, normalised to 22-bit integers rounded away from zero, a half
 * added before the final shift, clipping to 0..255 after each pass) and of
 * its nearest-neighbour affine scaling (positions accumulated in double,
 * truncated). The order of floating-point operations matters for the last
 * bit, so it is kept as PIL has it. */
#include "media/resize.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define PREC_BITS 22

typedef struct {
    double (*fn)(double);
    double support;
} kernel;

static double k_bilinear(double x)
{
    if (x < 0.0) x = -x;
    return x < 1.0 ? 1.0 - x : 0.0;
}

static double k_bicubic(double x)
{
    const double a = -0.5;
    if (x < 0.0) x = -x;
    if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
    if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
    return 0.0;
}

static double sinc(double x)
{
    if (x == 0.0) return 1.0;
    x = x * M_PI;
    return sin(x) / x;
}

static double k_lanczos(double x)
{
    return (-3.0 <= x && x < 3.0) ? sinc(x) * sinc(x / 3) : 0.0;
}

int resample_from_name(const char *name)
{
    if (!name) return -1;
    static const char *names[] = {"nearest", "bilinear", "bicubic", "lanczos"};
    for (int i = 0; i < 4; i++)
        if (strcmp(name, names[i]) == 0) return i;
    return -1;
}

const char *resample_name(resample_filter f)
{
    switch (f) {
    case RESAMPLE_NEAREST: return "nearest";
    case RESAMPLE_BILINEAR: return "bilinear";
    case RESAMPLE_BICUBIC: return "bicubic";
    case RESAMPLE_LANCZOS: return "lanczos";
    }
    return "unknown";
}

/* For each output position: the first input index, the tap count, and
 * ksize integer weights. */
typedef struct {
    int ksize;
    int *bounds; /* 2 per output */
    int32_t *w;
} taps;

static int make_taps(int in_size, int out_size, const kernel *k, taps *t)
{
    double scale = (double)in_size / out_size, filterscale = scale < 1.0 ? 1.0 : scale;
    double support = k->support * filterscale;
    int ksize = (int)ceil(support) * 2 + 1;
    t->ksize = ksize;
    t->bounds = malloc((size_t)out_size * 2 * sizeof(int));
    t->w = malloc((size_t)out_size * (size_t)ksize * sizeof(int32_t));
    double *kk = malloc((size_t)ksize * sizeof(double));
    if (!t->bounds || !t->w || !kk) {
        free(kk);
        return -1;
    }
    for (int xx = 0; xx < out_size; xx++) {
        double center = (xx + 0.5) * scale, ww = 0.0, ss = 1.0 / filterscale;
        int xmin = (int)(center - support + 0.5), xmax = (int)(center + support + 0.5);
        if (xmin < 0) xmin = 0;
        if (xmax > in_size) xmax = in_size;
        xmax -= xmin;
        for (int x = 0; x < xmax; x++) {
            double v = k->fn((x + xmin - center + 0.5) * ss);
            kk[x] = v;
            ww += v;
        }
        int32_t *w = t->w + (size_t)xx * ksize;
        for (int x = 0; x < ksize; x++) {
            double v = x < xmax ? (ww != 0.0 ? kk[x] / ww : kk[x]) : 0.0;
            w[x] = v < 0 ? (int32_t)(-0.5 + v * (1 << PREC_BITS)) : (int32_t)(0.5 + v * (1 << PREC_BITS));
        }
        t->bounds[xx * 2] = xmin;
        t->bounds[xx * 2 + 1] = xmax;
    }
    free(kk);
    return 0;
}

static void free_taps(taps *t)
{
    free(t->bounds);
    free(t->w);
}

static uint8_t clip8(int64_t acc)
{
    int64_t v = acc >> PREC_BITS;
    return (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
}

/* rows [row0, row0 + nrows) of src, resampled across */
static void pass_horizontal(const rk_image *src, int row0, rk_image *dst, const taps *t)
{
    for (int y = 0; y < dst->height; y++) {
        const uint8_t *in = src->rgb + (size_t)(y + row0) * src->width * 3;
        uint8_t *out = dst->rgb + (size_t)y * dst->width * 3;
        for (int xx = 0; xx < dst->width; xx++) {
            int xmin = t->bounds[xx * 2], n = t->bounds[xx * 2 + 1];
            const int32_t *w = t->w + (size_t)xx * t->ksize;
            int64_t r = 1 << (PREC_BITS - 1), g = r, b = r;
            for (int x = 0; x < n; x++) {
                const uint8_t *p = in + (size_t)(xmin + x) * 3;
                r += (int64_t)p[0] * w[x];
                g += (int64_t)p[1] * w[x];
                b += (int64_t)p[2] * w[x];
            }
            out[xx * 3] = clip8(r);
            out[xx * 3 + 1] = clip8(g);
            out[xx * 3 + 2] = clip8(b);
        }
    }
}

/* bounds are relative to src's first row */
static void pass_vertical(const rk_image *src, rk_image *dst, const taps *t, int shift)
{
    size_t stride = (size_t)src->width * 3;
    for (int yy = 0; yy < dst->height; yy++) {
        int ymin = t->bounds[yy * 2] - shift, n = t->bounds[yy * 2 + 1];
        const int32_t *w = t->w + (size_t)yy * t->ksize;
        uint8_t *out = dst->rgb + (size_t)yy * stride;
        for (size_t i = 0; i < stride; i++) {
            int64_t acc = 1 << (PREC_BITS - 1);
            for (int y = 0; y < n; y++) acc += (int64_t)src->rgb[(size_t)(ymin + y) * stride + i] * w[y];
            out[i] = clip8(acc);
        }
    }
}

static int resize_nearest(const rk_image *src, rk_image *dst)
{
    int *xin = malloc((size_t)dst->width * sizeof(int));
    if (!xin) return -1;
    double ax = (double)src->width / dst->width, ay = (double)src->height / dst->height;
    double xo = ax * 0.5, yo = ay * 0.5;
    for (int x = 0; x < dst->width; x++) {
        int v = xo < 0.0 ? -1 : (int)xo;
        xin[x] = v < 0 ? 0 : v >= src->width ? src->width - 1 : v;
        xo += ax;
    }
    for (int y = 0; y < dst->height; y++) {
        int yi = yo < 0.0 ? -1 : (int)yo;
        if (yi < 0) yi = 0;
        if (yi >= src->height) yi = src->height - 1;
        const uint8_t *in = src->rgb + (size_t)yi * src->width * 3;
        uint8_t *out = dst->rgb + (size_t)y * dst->width * 3;
        for (int x = 0; x < dst->width; x++) memcpy(out + x * 3, in + (size_t)xin[x] * 3, 3);
        yo += ay;
    }
    free(xin);
    return 0;
}

int image_resize(const rk_image *src, int32_t w, int32_t h, resample_filter f, rk_image *dst)
{
    dst->rgb = NULL;
    dst->width = dst->height = 0;
    if (!src->rgb || src->width <= 0 || src->height <= 0 || w <= 0 || h <= 0) return -1;
    if (rk_image_alloc(dst, w, h) != 0) return -1;
    if (w == src->width && h == src->height) {
        memcpy(dst->rgb, src->rgb, (size_t)w * h * 3);
        return 0;
    }
    if (f == RESAMPLE_NEAREST) {
        if (resize_nearest(src, dst) == 0) return 0;
        rk_image_free(dst);
        return -1;
    }
    static const kernel kernels[] = {
        [RESAMPLE_BILINEAR] = {k_bilinear, 1.0},
        [RESAMPLE_BICUBIC] = {k_bicubic, 2.0},
        [RESAMPLE_LANCZOS] = {k_lanczos, 3.0},
    };
    if ((int)f < RESAMPLE_BILINEAR || (int)f > RESAMPLE_LANCZOS) {
        rk_image_free(dst);
        return -1;
    }
    const kernel *k = &kernels[f];
    taps tv = {0}, th = {0};
    rk_image tmp = {0, 0, NULL};
    int rc = -1;
    if (make_taps(src->height, h, k, &tv) != 0) goto out;
    bool need_h = w != src->width, need_v = h != src->height;
    const rk_image *cur = src;
    int shift = 0;
    if (need_h) {
        if (make_taps(src->width, w, k, &th) != 0) goto out;
        /* only the rows the vertical pass will read */
        int first = need_v ? tv.bounds[0] : 0;
        int last = need_v ? tv.bounds[(h - 1) * 2] + tv.bounds[(h - 1) * 2 + 1] : src->height;
        rk_image *target = need_v ? &tmp : dst;
        if (need_v && rk_image_alloc(&tmp, w, last - first) != 0) goto out;
        pass_horizontal(src, first, target, &th);
        cur = target;
        shift = first;
    }
    if (need_v) pass_vertical(cur, dst, &tv, shift);
    rc = 0;
out:
    free_taps(&tv);
    free_taps(&th);
    rk_image_free(&tmp);
    if (rc != 0) rk_image_free(dst);
    return rc;
}

int image_crop(const rk_image *src, int32_t x0, int32_t y0, int32_t x1, int32_t y1, rk_image *dst)
{
    dst->rgb = NULL;
    dst->width = dst->height = 0;
    if (x0 < 0 || y0 < 0 || x1 > src->width || y1 > src->height || x1 <= x0 || y1 <= y0) return -1;
    if (rk_image_alloc(dst, x1 - x0, y1 - y0) != 0) return -1;
    for (int32_t y = y0; y < y1; y++)
        memcpy(dst->rgb + (size_t)(y - y0) * dst->width * 3, src->rgb + ((size_t)y * src->width + x0) * 3,
               (size_t)dst->width * 3);
    return 0;
}
