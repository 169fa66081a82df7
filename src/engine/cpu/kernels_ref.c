/* Scalar reference kernels: the definition every vector kernel is tested
 * against, and the fallback on CPUs without a vector path. Written for
 * clarity over speed; float dots accumulate in double so the reference is
 * the more accurate side of every comparison. */
#include "engine/cpu/kernels.h"

#include <math.h>
#include <string.h>

/* Dequantisation must round exactly like the vector code, which never fuses
 * a multiply with an add. */
#ifdef __clang__
#pragma STDC FP_CONTRACT OFF
#endif

static float fp16(rk_fp16 h) { return rk_fp16_to_fp32(h); }

/* Round to nearest, ties to even: the rounding SIMD conversions do. */
static int round_even(float v) { return (int)nearbyintf(v); }

static float sq(float v) { return v * v; }

/* round_even(v) limited to lo..hi; clamps first so a huge or NaN v (from a
 * near-zero step) never reaches the int conversion. */
static int qround(float v, int lo, int hi)
{
    if (!(v > (float)lo)) return lo;
    if (v >= (float)hi) return hi;
    return round_even(v);
}

/* ---- F32 ---- */

static void f32_to_float(const void *restrict src, float *restrict dst, int64_t n)
{
    memcpy(dst, src, (size_t)n * sizeof(float));
}

static void f32_from_float(const float *restrict src, void *restrict dst, int64_t n)
{
    memcpy(dst, src, (size_t)n * sizeof(float));
}

static void f32_vec_dot(int64_t n, float *restrict s, const void *restrict w, const void *restrict x)
{
    const float *a = w, *b = x;
    double sum = 0;
    for (int64_t i = 0; i < n; i++) sum += (double)a[i] * b[i];
    *s = (float)sum;
}

/* ---- F16 ---- */

static void f16_to_float(const void *restrict src, float *restrict dst, int64_t n)
{
    const rk_fp16 *h = src;
    for (int64_t i = 0; i < n; i++) dst[i] = fp16(h[i]);
}

static void f16_from_float(const float *restrict src, void *restrict dst, int64_t n)
{
    rk_fp16 *h = dst;
    for (int64_t i = 0; i < n; i++) h[i] = rk_fp32_to_fp16(src[i]);
}

static void f16_vec_dot(int64_t n, float *restrict s, const void *restrict w, const void *restrict x)
{
    const rk_fp16 *a = w;
    const float *b = x;
    double sum = 0;
    for (int64_t i = 0; i < n; i++) sum += (double)fp16(a[i]) * b[i];
    *s = (float)sum;
}

/* ---- BF16 ---- */

static void bf16_to_float(const void *restrict src, float *restrict dst, int64_t n)
{
    const rk_bf16 *h = src;
    for (int64_t i = 0; i < n; i++) dst[i] = rk_bf16_to_fp32(h[i]);
}

static void bf16_from_float(const float *restrict src, void *restrict dst, int64_t n)
{
    rk_bf16 *h = dst;
    for (int64_t i = 0; i < n; i++) h[i] = rk_fp32_to_bf16(src[i]);
}

static void bf16_vec_dot(int64_t n, float *restrict s, const void *restrict w, const void *restrict x)
{
    const rk_bf16 *a = w;
    const float *b = x;
    double sum = 0;
    for (int64_t i = 0; i < n; i++) sum += (double)rk_bf16_to_fp32(a[i]) * b[i];
    *s = (float)sum;
}

/* ---- Q8_0: d = amax/127, q = round(x/d) ---- */

static void q8_0_to_float(const void *restrict src, float *restrict dst, int64_t n)
{
    const block_q8_0 *b = src;
    for (int64_t i = 0; i < n / QK8_0; i++) {
        float d = fp16(b[i].d);
        for (int j = 0; j < QK8_0; j++) dst[i * QK8_0 + j] = d * (float)b[i].qs[j];
    }
}

static void q8_0_from_float(const float *restrict src, void *restrict dst, int64_t n)
{
    block_q8_0 *b = dst;
    for (int64_t i = 0; i < n / QK8_0; i++) {
        const float *x = src + i * QK8_0;
        float amax = 0;
        for (int j = 0; j < QK8_0; j++) amax = fmaxf(amax, fabsf(x[j]));
        float d = amax / 127.0f;
        float id = d != 0 ? 1.0f / d : 0.0f;
        b[i].d = rk_fp32_to_fp16(d);
        for (int j = 0; j < QK8_0; j++) b[i].qs[j] = (int8_t)round_even(x[j] * id);
    }
}

static void q8_0_vec_dot(int64_t n, float *restrict s, const void *restrict w, const void *restrict x)
{
    const block_q8_0 *a = w, *b = x;
    float sum = 0;
    for (int64_t i = 0; i < n / QK8_0; i++) {
        int isum = 0;
        for (int j = 0; j < QK8_0; j++) isum += a[i].qs[j] * b[i].qs[j];
        sum += (float)isum * (fp16(a[i].d) * fp16(b[i].d));
    }
    *s = sum;
}

/* ---- Q4_0: value = (q - 8) * d, d = (signed max) / -8 ---- */

static void q4_0_to_float(const void *restrict src, float *restrict dst, int64_t n)
{
    const block_q4_0 *b = src;
    for (int64_t i = 0; i < n / QK4_0; i++) {
        float d = fp16(b[i].d);
        float *y = dst + i * QK4_0;
        for (int j = 0; j < QK4_0 / 2; j++) {
            y[j] = (float)((b[i].qs[j] & 0x0F) - 8) * d;
            y[j + QK4_0 / 2] = (float)((b[i].qs[j] >> 4) - 8) * d;
        }
    }
}

static void q4_0_from_float(const float *restrict src, void *restrict dst, int64_t n)
{
    block_q4_0 *b = dst;
    for (int64_t i = 0; i < n / QK4_0; i++) {
        const float *x = src + i * QK4_0;
        float amax = 0, max = 0;
        for (int j = 0; j < QK4_0; j++) {
            if (fabsf(x[j]) > amax) {
                amax = fabsf(x[j]);
                max = x[j];
            }
        }
        /* the extreme value maps to q = 0 exactly; the other side gets 7 steps */
        float d = max / -8.0f;
        float id = d != 0 ? 1.0f / d : 0.0f;
        b[i].d = rk_fp32_to_fp16(d);
        for (int j = 0; j < QK4_0 / 2; j++) {
            int q0 = (int)(x[j] * id + 8.5f);
            int q1 = (int)(x[j + QK4_0 / 2] * id + 8.5f);
            q0 = q0 > 15 ? 15 : q0;
            q1 = q1 > 15 ? 15 : q1;
            b[i].qs[j] = (uint8_t)(q0 | (q1 << 4));
        }
    }
}

static void q4_0_vec_dot(int64_t n, float *restrict s, const void *restrict w, const void *restrict x)
{
    const block_q4_0 *a = w;
    const block_q8_0 *b = x;
    float sum = 0;
    for (int64_t i = 0; i < n / QK4_0; i++) {
        int isum = 0;
        for (int j = 0; j < QK4_0 / 2; j++) {
            isum += ((a[i].qs[j] & 0x0F) - 8) * b[i].qs[j];
            isum += ((a[i].qs[j] >> 4) - 8) * b[i].qs[j + QK4_0 / 2];
        }
        sum += (float)isum * (fp16(a[i].d) * fp16(b[i].d));
    }
    *s = sum;
}

/* ---- Q4_1 / Q5_1: value = d*q + m over the block's range ---- */

/* Sum of an activation block's quants: the dot of the offset m with the
 * activations is m * dy * this. ggml keeps it in a Q8_1 activation block;
 * computing it here lets these types use Q8_0 activations. */
static int q8_sum(const int8_t *q)
{
    int s = 0;
    for (int j = 0; j < QK8_0; j++) s += q[j];
    return s;
}

/* min/max affine fit with 2^bits levels; q from the fp16-rounded d and m. */
static void affine_block(const float *x, int nmax, rk_fp16 *d_out, rk_fp16 *m_out, uint8_t *L)
{
    float lo = x[0], hi = x[0];
    for (int j = 1; j < 32; j++) {
        lo = fminf(lo, x[j]);
        hi = fmaxf(hi, x[j]);
    }
    *d_out = rk_fp32_to_fp16((hi - lo) / (float)nmax);
    *m_out = rk_fp32_to_fp16(lo);
    float d = fp16(*d_out), m = fp16(*m_out);
    for (int j = 0; j < 32; j++) L[j] = (uint8_t)(d > 0 ? qround((x[j] - m) / d, 0, nmax) : 0);
}

static void q4_1_to_float(const void *restrict src, float *restrict dst, int64_t n)
{
    const block_q4_1 *b = src;
    for (int64_t i = 0; i < n / QK4_1; i++) {
        float d = fp16(b[i].d), m = fp16(b[i].m);
        float *y = dst + i * QK4_1;
        for (int j = 0; j < QK4_1 / 2; j++) {
            y[j] = d * (float)(b[i].qs[j] & 0x0F) + m;
            y[j + QK4_1 / 2] = d * (float)(b[i].qs[j] >> 4) + m;
        }
    }
}

static void q4_1_from_float(const float *restrict src, void *restrict dst, int64_t n)
{
    block_q4_1 *b = dst;
    for (int64_t i = 0; i < n / QK4_1; i++) {
        uint8_t L[32];
        affine_block(src + i * QK4_1, 15, &b[i].d, &b[i].m, L);
        for (int j = 0; j < 16; j++) b[i].qs[j] = (uint8_t)(L[j] | (L[j + 16] << 4));
    }
}

static void q4_1_vec_dot(int64_t n, float *restrict s, const void *restrict w, const void *restrict x)
{
    const block_q4_1 *a = w;
    const block_q8_0 *b = x;
    float sum = 0;
    for (int64_t i = 0; i < n / QK4_1; i++) {
        int isum = 0;
        for (int j = 0; j < QK4_1 / 2; j++) {
            isum += (a[i].qs[j] & 0x0F) * b[i].qs[j];
            isum += (a[i].qs[j] >> 4) * b[i].qs[j + QK4_1 / 2];
        }
        float dy = fp16(b[i].d);
        sum += (float)isum * (fp16(a[i].d) * dy) + (float)q8_sum(b[i].qs) * (fp16(a[i].m) * dy);
    }
    *s = sum;
}

/* The 5-bit value of element j of a Q5_0 / Q5_1 block. */
static int q5_get(const uint8_t *qh, const uint8_t *qs, int j)
{
    uint32_t h = (uint32_t)qh[0] | (uint32_t)qh[1] << 8 | (uint32_t)qh[2] << 16 | (uint32_t)qh[3] << 24;
    int lo = j < 16 ? qs[j] & 0x0F : qs[j - 16] >> 4;
    return lo | (int)((h >> j) & 1) << 4;
}

static void q5_pack(const uint8_t *L, uint8_t *qh, uint8_t *qs)
{
    memset(qh, 0, 4);
    for (int j = 0; j < 16; j++) qs[j] = (uint8_t)((L[j] & 0x0F) | ((L[j + 16] & 0x0F) << 4));
    for (int j = 0; j < 32; j++) qh[j / 8] |= (uint8_t)((L[j] >> 4) << (j % 8));
}

static void q5_0_to_float(const void *restrict src, float *restrict dst, int64_t n)
{
    const block_q5_0 *b = src;
    for (int64_t i = 0; i < n / QK5_0; i++) {
        float d = fp16(b[i].d);
        for (int j = 0; j < QK5_0; j++) dst[i * QK5_0 + j] = (float)(q5_get(b[i].qh, b[i].qs, j) - 16) * d;
    }
}

/* As Q4_0: the extreme value maps to q = 0, the other side gets 15 steps. */
static void q5_0_from_float(const float *restrict src, void *restrict dst, int64_t n)
{
    block_q5_0 *b = dst;
    for (int64_t i = 0; i < n / QK5_0; i++) {
        const float *x = src + i * QK5_0;
        float amax = 0, max = 0;
        for (int j = 0; j < QK5_0; j++) {
            if (fabsf(x[j]) > amax) {
                amax = fabsf(x[j]);
                max = x[j];
            }
        }
        float d = max / -16.0f;
        float id = d != 0 ? 1.0f / d : 0.0f;
        b[i].d = rk_fp32_to_fp16(d);
        uint8_t L[32];
        for (int j = 0; j < QK5_0; j++) {
            int q = (int)(x[j] * id + 16.5f);
            L[j] = (uint8_t)(q > 31 ? 31 : q);
        }
        q5_pack(L, b[i].qh, b[i].qs);
    }
}

static void q5_0_vec_dot(int64_t n, float *restrict s, const void *restrict w, const void *restrict x)
{
    const block_q5_0 *a = w;
    const block_q8_0 *b = x;
    float sum = 0;
    for (int64_t i = 0; i < n / QK5_0; i++) {
        int isum = 0;
        for (int j = 0; j < QK5_0; j++) isum += (q5_get(a[i].qh, a[i].qs, j) - 16) * b[i].qs[j];
        sum += (float)isum * (fp16(a[i].d) * fp16(b[i].d));
    }
    *s = sum;
}

static void q5_1_to_float(const void *restrict src, float *restrict dst, int64_t n)
{
    const block_q5_1 *b = src;
    for (int64_t i = 0; i < n / QK5_1; i++) {
        float d = fp16(b[i].d), m = fp16(b[i].m);
        for (int j = 0; j < QK5_1; j++) dst[i * QK5_1 + j] = d * (float)q5_get(b[i].qh, b[i].qs, j) + m;
    }
}

static void q5_1_from_float(const float *restrict src, void *restrict dst, int64_t n)
{
    block_q5_1 *b = dst;
    for (int64_t i = 0; i < n / QK5_1; i++) {
        uint8_t L[32];
        affine_block(src + i * QK5_1, 31, &b[i].d, &b[i].m, L);
        q5_pack(L, b[i].qh, b[i].qs);
    }
}

static void q5_1_vec_dot(int64_t n, float *restrict s, const void *restrict w, const void *restrict x)
{
    const block_q5_1 *a = w;
    const block_q8_0 *b = x;
    float sum = 0;
    for (int64_t i = 0; i < n / QK5_1; i++) {
        int isum = 0;
        for (int j = 0; j < QK5_1; j++) isum += q5_get(a[i].qh, a[i].qs, j) * b[i].qs[j];
        float dy = fp16(b[i].d);
        sum += (float)isum * (fp16(a[i].d) * dy) + (float)q8_sum(b[i].qs) * (fp16(a[i].m) * dy);
    }
    *s = sum;
}

/* ---- Q8_K: d = amax/127 (always >= 0), q = round(x/d) in -127..127 ---- */

static void q8_K_to_float(const void *restrict src, float *restrict dst, int64_t n)
{
    const block_q8_K *b = src;
    for (int64_t i = 0; i < n / QK_K; i++)
        for (int j = 0; j < QK_K; j++) dst[i * QK_K + j] = b[i].d * (float)b[i].qs[j];
}

static void q8_K_from_float(const float *restrict src, void *restrict dst, int64_t n)
{
    block_q8_K *b = dst;
    for (int64_t i = 0; i < n / QK_K; i++) {
        const float *x = src + i * QK_K;
        float amax = 0;
        for (int j = 0; j < QK_K; j++) amax = fmaxf(amax, fabsf(x[j]));
        float id = amax != 0 ? 127.0f / amax : 0.0f;
        b[i].d = amax / 127.0f;
        for (int j = 0; j < QK_K; j++) b[i].qs[j] = (int8_t)round_even(x[j] * id);
        for (int g = 0; g < QK_K / 16; g++) {
            int sum = 0;
            for (int j = 0; j < 16; j++) sum += b[i].qs[g * 16 + j];
            b[i].bsums[g] = (int16_t)sum;
        }
    }
}

/* ---- Q4_K: value = d*scale*q - dmin*min over 8 sub-blocks of 32 ---- */

/* The 6-bit scale and min of sub-block j from the 12 packed bytes. */
static void q4_K_scale_min(const uint8_t *p, int j, int *sc, int *mn)
{
    if (j < 4) {
        *sc = p[j] & 63;
        *mn = p[j + 4] & 63;
    } else {
        *sc = (p[j + 4] & 0x0F) | ((p[j - 4] >> 6) << 4);
        *mn = (p[j + 4] >> 4) | ((p[j] >> 6) << 4);
    }
}

static void q4_K_to_float(const void *restrict src, float *restrict dst, int64_t n)
{
    const block_q4_K *b = src;
    for (int64_t i = 0; i < n / QK_K; i++) {
        float d = fp16(b[i].d), dmin = fp16(b[i].dmin);
        float *y = dst + i * QK_K;
        for (int c = 0; c < 4; c++) {
            const uint8_t *q = b[i].qs + 32 * c;
            int sc0, m0, sc1, m1;
            q4_K_scale_min(b[i].scales, 2 * c, &sc0, &m0);
            q4_K_scale_min(b[i].scales, 2 * c + 1, &sc1, &m1);
            float d0 = d * (float)sc0, o0 = dmin * (float)m0;
            float d1 = d * (float)sc1, o1 = dmin * (float)m1;
            for (int l = 0; l < 32; l++) {
                float v0 = d0 * (float)(q[l] & 0x0F);
                float v1 = d1 * (float)(q[l] >> 4);
                y[64 * c + l] = v0 - o0;
                y[64 * c + 32 + l] = v1 - o1;
            }
        }
    }
}

/* Least-squares fit of x ~ s*L - m over one sub-block, with m >= 0 (ggml
 * stores the offset as a non-negative min that is subtracted). Tries a small
 * grid of step sizes, refits each by least squares, keeps the best. */
static void fit_scale_min(const float *x, int n, int nmax, float *s_out, float *m_out)
{
    float lo = 0, hi = x[0];
    for (int i = 0; i < n; i++) {
        lo = fminf(lo, x[i]);
        hi = fmaxf(hi, x[i]);
    }
    if (hi <= lo) {
        *s_out = 0;
        *m_out = -lo;
        return;
    }
    float best_s = (hi - lo) / (float)nmax, best_m = -lo, best_err = INFINITY;
    for (int t = 0; t <= 20; t++) {
        float iscale = ((float)nmax - 1.0f + 0.1f * (float)t) / (hi - lo);
        double sl = 0, sll = 0, sx = 0, slx = 0;
        int L[QK_K];
        for (int i = 0; i < n; i++) {
            L[i] = qround((x[i] - lo) * iscale, 0, nmax);
            sl += L[i];
            sll += (double)L[i] * L[i];
            sx += x[i];
            slx += (double)L[i] * x[i];
        }
        double det = n * sll - sl * sl;
        if (det <= 0) continue;
        double s = (n * slx - sl * sx) / det;
        double b = (sx - s * sl) / n; /* x ~ s*L + b, so m = -b */
        if (b > 0) {                  /* m must be >= 0: refit through the origin */
            b = 0;
            s = slx / sll;
        }
        if (s <= 0) continue;
        float err = 0;
        for (int i = 0; i < n; i++) {
            int l = qround((x[i] - (float)b) / (float)s, 0, nmax);
            err += sq((float)s * (float)l + (float)b - x[i]);
        }
        if (err < best_err) {
            best_err = err;
            best_s = (float)s;
            best_m = (float)-b;
        }
    }
    *s_out = best_s;
    *m_out = best_m;
}

/* Scales, mins and quants (0..nmax) of one Q4_K / Q5_K block: d, dmin and
 * the 12 packed scale bytes are stored, L gets the quants in element order. */
static void k_scale_min_block(const float *x, int nmax, rk_fp16 *d_out, rk_fp16 *dmin_out, uint8_t *scales,
                              uint8_t *L)
{
    float s[8], m[8], smax = 0, mmax = 0;
    for (int j = 0; j < 8; j++) {
        fit_scale_min(x + 32 * j, 32, nmax, &s[j], &m[j]);
        smax = fmaxf(smax, s[j]);
        mmax = fmaxf(mmax, m[j]);
    }
    *d_out = rk_fp32_to_fp16(smax / 63.0f);
    *dmin_out = rk_fp32_to_fp16(mmax / 63.0f);
    float d16 = fp16(*d_out), dmin16 = fp16(*dmin_out);
    int ls[8], lm[8];
    for (int j = 0; j < 8; j++) {
        ls[j] = d16 > 0 ? qround(s[j] / d16, 0, 63) : 0;
        lm[j] = dmin16 > 0 ? qround(m[j] / dmin16, 0, 63) : 0;
    }
    for (int j = 0; j < 4; j++) {
        scales[j] = (uint8_t)(ls[j] | ((ls[j + 4] >> 4) << 6));
        scales[j + 4] = (uint8_t)(lm[j] | ((lm[j + 4] >> 4) << 6));
        scales[j + 8] = (uint8_t)((ls[j + 4] & 0x0F) | ((lm[j + 4] & 0x0F) << 4));
    }
    for (int j = 0; j < 8; j++) {
        float step = d16 * (float)ls[j], off = dmin16 * (float)lm[j];
        for (int l = 0; l < 32; l++)
            L[32 * j + l] = (uint8_t)(step > 0 ? qround((x[32 * j + l] + off) / step, 0, nmax) : 0);
    }
}

static void q4_K_from_float(const float *restrict src, void *restrict dst, int64_t n)
{
    block_q4_K *b = dst;
    for (int64_t i = 0; i < n / QK_K; i++) {
        uint8_t L[QK_K];
        k_scale_min_block(src + i * QK_K, 15, &b[i].d, &b[i].dmin, b[i].scales, L);
        for (int c = 0; c < 4; c++)
            for (int l = 0; l < 32; l++)
                b[i].qs[32 * c + l] = (uint8_t)(L[64 * c + l] | (L[64 * c + 32 + l] << 4));
    }
}

static void q4_K_vec_dot(int64_t n, float *restrict s, const void *restrict w, const void *restrict x)
{
    const block_q4_K *a = w;
    const block_q8_K *b = x;
    float sum = 0;
    for (int64_t i = 0; i < n / QK_K; i++) {
        int isum = 0, msum = 0;
        for (int j = 0; j < 8; j++) {
            int sc, mn;
            q4_K_scale_min(a[i].scales, j, &sc, &mn);
            const uint8_t *q = a[i].qs + 32 * (j / 2);
            int shift = 4 * (j & 1), dot = 0;
            for (int l = 0; l < 32; l++) dot += ((q[l] >> shift) & 0x0F) * b[i].qs[32 * j + l];
            isum += sc * dot;
            msum += mn * (b[i].bsums[2 * j] + b[i].bsums[2 * j + 1]);
        }
        float d = b[i].d * fp16(a[i].d), dmin = b[i].d * fp16(a[i].dmin);
        sum += d * (float)isum - dmin * (float)msum;
    }
    *s = sum;
}

/* ---- Q5_K: Q4_K with a 5th bit per quant from qh ---- */

/* The 5-bit value of element e (0..255): chunk c = e/64 holds its low bits
 * in the low (first 32) or high (last 32) nibbles of qs[32c..32c+31], the
 * 5th bit in bit 2c or 2c+1 of qh[e%32]. */
static int q5_K_get(const block_q5_K *b, int e)
{
    int c = e / 64, hi = (e / 32) & 1, l = e % 32;
    int lo = hi ? b->qs[32 * c + l] >> 4 : b->qs[32 * c + l] & 0x0F;
    return lo | ((b->qh[l] >> (2 * c + hi)) & 1) << 4;
}

static void q5_K_to_float(const void *restrict src, float *restrict dst, int64_t n)
{
    const block_q5_K *b = src;
    for (int64_t i = 0; i < n / QK_K; i++) {
        float d = fp16(b[i].d), dmin = fp16(b[i].dmin);
        for (int j = 0; j < 8; j++) {
            int sc, mn;
            q4_K_scale_min(b[i].scales, j, &sc, &mn);
            float ds = d * (float)sc, off = dmin * (float)mn;
            for (int l = 0; l < 32; l++) {
                float v = ds * (float)q5_K_get(&b[i], 32 * j + l);
                dst[i * QK_K + 32 * j + l] = v - off;
            }
        }
    }
}

static void q5_K_from_float(const float *restrict src, void *restrict dst, int64_t n)
{
    block_q5_K *b = dst;
    for (int64_t i = 0; i < n / QK_K; i++) {
        uint8_t L[QK_K];
        k_scale_min_block(src + i * QK_K, 31, &b[i].d, &b[i].dmin, b[i].scales, L);
        memset(b[i].qh, 0, sizeof b[i].qh);
        for (int c = 0; c < 4; c++)
            for (int l = 0; l < 32; l++) {
                uint8_t lo = L[64 * c + l], hi = L[64 * c + 32 + l];
                b[i].qs[32 * c + l] = (uint8_t)((lo & 0x0F) | ((hi & 0x0F) << 4));
                b[i].qh[l] |= (uint8_t)(((lo >> 4) << (2 * c)) | ((hi >> 4) << (2 * c + 1)));
            }
    }
}

static void q5_K_vec_dot(int64_t n, float *restrict s, const void *restrict w, const void *restrict x)
{
    const block_q5_K *a = w;
    const block_q8_K *b = x;
    float sum = 0;
    for (int64_t i = 0; i < n / QK_K; i++) {
        int isum = 0, msum = 0;
        for (int j = 0; j < 8; j++) {
            int sc, mn, dot = 0;
            q4_K_scale_min(a[i].scales, j, &sc, &mn);
            for (int l = 0; l < 32; l++) dot += q5_K_get(&a[i], 32 * j + l) * b[i].qs[32 * j + l];
            isum += sc * dot;
            msum += mn * (b[i].bsums[2 * j] + b[i].bsums[2 * j + 1]);
        }
        float d = b[i].d * fp16(a[i].d), dmin = b[i].d * fp16(a[i].dmin);
        sum += d * (float)isum - dmin * (float)msum;
    }
    *s = sum;
}

/* ---- Q6_K: value = d*scale*(q - 32), q 6-bit, 16 int8 scales ---- */

/* The 6-bit value of element e (0..255) of a block. */
static int q6_K_get(const block_q6_K *b, int e)
{
    int h = e / 128, r = e % 128, l = r % 32, part = r / 32;
    const uint8_t *ql = b->ql + 64 * h, *qh = b->qh + 32 * h;
    int lo = (part & 1) ? ql[l + 32] : ql[l];
    lo = (part & 2) ? lo >> 4 : lo & 0x0F;
    return lo | (((qh[l] >> (2 * part)) & 3) << 4);
}

static void q6_K_to_float(const void *restrict src, float *restrict dst, int64_t n)
{
    const block_q6_K *b = src;
    for (int64_t i = 0; i < n / QK_K; i++) {
        float d = fp16(b[i].d);
        for (int e = 0; e < QK_K; e++) {
            float ds = d * (float)b[i].scales[e / 16];
            dst[i * QK_K + e] = ds * (float)(q6_K_get(&b[i], e) - 32);
        }
    }
}

/* Signed scale for x ~ s*L, L in -nq..nq-1: candidate steps around the one
 * that maps the extreme value to -nq (nq + step*t for t in -8..8), each
 * refit by least squares. */
static float fit_scale_signed(const float *x, int n, int nq, float step)
{
    float amax = 0, max = 0;
    for (int i = 0; i < n; i++) {
        if (fabsf(x[i]) > amax) {
            amax = fabsf(x[i]);
            max = x[i];
        }
    }
    if (amax == 0) return 0;
    float best_s = max / -(float)nq, best_err = INFINITY;
    for (int t = -8; t <= 8; t++) {
        float iscale = -((float)nq + step * (float)t) / max;
        double sll = 0, slx = 0;
        for (int i = 0; i < n; i++) {
            int l = qround(x[i] * iscale, -nq, nq - 1);
            sll += (double)l * l;
            slx += (double)l * x[i];
        }
        float s = sll > 0 ? (float)(slx / sll) : 0.0f, err = 0;
        if (s == 0) continue;
        for (int i = 0; i < n; i++) {
            int l = qround(x[i] / s, -nq, nq - 1);
            err += sq(s * (float)l - x[i]);
        }
        if (err < best_err) {
            best_err = err;
            best_s = s;
        }
    }
    return best_s;
}

static void q6_K_from_float(const float *restrict src, void *restrict dst, int64_t n)
{
    block_q6_K *b = dst;
    for (int64_t i = 0; i < n / QK_K; i++) {
        const float *x = src + i * QK_K;
        float s[16], smax = 0;
        for (int g = 0; g < 16; g++) {
            s[g] = fit_scale_signed(x + 16 * g, 16, 32, 0.25f);
            smax = fmaxf(smax, fabsf(s[g]));
        }
        b[i].d = rk_fp32_to_fp16(smax / 127.0f);
        float d16 = fp16(b[i].d);
        uint8_t L[QK_K];
        for (int g = 0; g < 16; g++) {
            int ls = d16 > 0 ? qround(s[g] / d16, -127, 127) : 0;
            b[i].scales[g] = (int8_t)ls;
            float step = d16 * (float)ls;
            for (int l = 0; l < 16; l++)
                L[16 * g + l] = (uint8_t)(step != 0 ? qround(x[16 * g + l] / step, -32, 31) + 32 : 32);
        }
        for (int h = 0; h < 2; h++) {
            uint8_t *ql = b[i].ql + 64 * h, *qh = b[i].qh + 32 * h;
            const uint8_t *q = L + 128 * h;
            for (int l = 0; l < 32; l++) {
                ql[l] = (uint8_t)((q[l] & 0x0F) | ((q[l + 64] & 0x0F) << 4));
                ql[l + 32] = (uint8_t)((q[l + 32] & 0x0F) | ((q[l + 96] & 0x0F) << 4));
                qh[l] = (uint8_t)((q[l] >> 4) | ((q[l + 32] >> 4) << 2) | ((q[l + 64] >> 4) << 4) |
                                  ((q[l + 96] >> 4) << 6));
            }
        }
    }
}

static void q6_K_vec_dot(int64_t n, float *restrict s, const void *restrict w, const void *restrict x)
{
    const block_q6_K *a = w;
    const block_q8_K *b = x;
    float sum = 0;
    for (int64_t i = 0; i < n / QK_K; i++) {
        int isum = 0;
        for (int g = 0; g < 16; g++) {
            int dot = 0;
            for (int l = 0; l < 16; l++) dot += (q6_K_get(&a[i], 16 * g + l) - 32) * b[i].qs[16 * g + l];
            isum += a[i].scales[g] * dot;
        }
        sum += (fp16(a[i].d) * b[i].d) * (float)isum;
    }
    *s = sum;
}

/* ---- Q3_K: value = d*(scale-32)*(q-4), q 3-bit, 16 6-bit scales ---- */

/* Element e (0..255) lies in half h = e/128, group j = (e%128)/32 at
 * position l = e%32: bits 2j..2j+1 of qs[32h+l] and bit 4h+j of hmask[l]. */
static int q3_K_get(const block_q3_K *b, int e)
{
    int h = e / 128, j = (e % 128) / 32, l = e % 32;
    int q = (b->qs[32 * h + l] >> (2 * j)) & 3;
    return (q | ((b->hmask[l] >> (4 * h + j)) & 1) << 2) - 4;
}

/* Scale g (0..15) minus 32: low 4 bits in the low (g < 8) or high nibble of
 * byte g%8, top 2 bits in bits 2*(g/4) of byte 8 + g%4. */
static int q3_K_scale(const uint8_t *p, int g)
{
    int lo = g < 8 ? p[g] & 0x0F : p[g - 8] >> 4;
    int hi = (p[8 + g % 4] >> (2 * (g / 4))) & 3;
    return (lo | hi << 4) - 32;
}

static void q3_K_to_float(const void *restrict src, float *restrict dst, int64_t n)
{
    const block_q3_K *b = src;
    for (int64_t i = 0; i < n / QK_K; i++) {
        float d = fp16(b[i].d);
        for (int e = 0; e < QK_K; e++) {
            float ds = d * (float)q3_K_scale(b[i].scales, e / 16);
            dst[i * QK_K + e] = ds * (float)q3_K_get(&b[i], e);
        }
    }
}

static void q3_K_from_float(const float *restrict src, void *restrict dst, int64_t n)
{
    block_q3_K *b = dst;
    for (int64_t i = 0; i < n / QK_K; i++) {
        const float *x = src + i * QK_K;
        float s[16], smax = 0;
        for (int g = 0; g < 16; g++) {
            s[g] = fit_scale_signed(x + 16 * g, 16, 4, 0.125f);
            smax = fmaxf(smax, fabsf(s[g]));
        }
        b[i].d = rk_fp32_to_fp16(smax / 31.0f);
        float d16 = fp16(b[i].d);
        memset(b[i].scales, 0, sizeof b[i].scales);
        memset(b[i].hmask, 0, sizeof b[i].hmask);
        memset(b[i].qs, 0, sizeof b[i].qs);
        for (int g = 0; g < 16; g++) {
            int ls = d16 > 0 ? qround(s[g] / d16, -31, 31) : 0, u = ls + 32;
            b[i].scales[g % 8] |= (uint8_t)((u & 0x0F) << (g < 8 ? 0 : 4));
            b[i].scales[8 + g % 4] |= (uint8_t)((u >> 4) << (2 * (g / 4)));
            float step = d16 * (float)ls;
            for (int k = 0; k < 16; k++) {
                int e = 16 * g + k, h = e / 128, j = (e % 128) / 32, l = e % 32;
                int q = (step != 0 ? qround(x[e] / step, -4, 3) : 0) + 4;
                b[i].qs[32 * h + l] |= (uint8_t)((q & 3) << (2 * j));
                b[i].hmask[l] |= (uint8_t)((q >> 2) << (4 * h + j));
            }
        }
    }
}

static void q3_K_vec_dot(int64_t n, float *restrict s, const void *restrict w, const void *restrict x)
{
    const block_q3_K *a = w;
    const block_q8_K *b = x;
    float sum = 0;
    for (int64_t i = 0; i < n / QK_K; i++) {
        int isum = 0;
        for (int g = 0; g < 16; g++) {
            int dot = 0;
            for (int k = 0; k < 16; k++) dot += q3_K_get(&a[i], 16 * g + k) * b[i].qs[16 * g + k];
            isum += q3_K_scale(a[i].scales, g) * dot;
        }
        sum += (fp16(a[i].d) * b[i].d) * (float)isum;
    }
    *s = sum;
}

/* ---- Q2_K: value = d*(scale&15)*q - dmin*(scale>>4), q 2-bit, 16 groups ---- */

/* Element e: bits 2j..2j+1 of qs[32h+l], placed as in Q3_K. */
static int q2_K_get(const block_q2_K *b, int e)
{
    int h = e / 128, j = (e % 128) / 32, l = e % 32;
    return (b->qs[32 * h + l] >> (2 * j)) & 3;
}

static void q2_K_to_float(const void *restrict src, float *restrict dst, int64_t n)
{
    const block_q2_K *b = src;
    for (int64_t i = 0; i < n / QK_K; i++) {
        float d = fp16(b[i].d), dmin = fp16(b[i].dmin);
        for (int e = 0; e < QK_K; e++) {
            uint8_t sc = b[i].scales[e / 16];
            float ds = d * (float)(sc & 0x0F), off = dmin * (float)(sc >> 4);
            float v = ds * (float)q2_K_get(&b[i], e);
            dst[i * QK_K + e] = v - off;
        }
    }
}

static void q2_K_from_float(const float *restrict src, void *restrict dst, int64_t n)
{
    block_q2_K *b = dst;
    for (int64_t i = 0; i < n / QK_K; i++) {
        const float *x = src + i * QK_K;
        float s[16], m[16], smax = 0, mmax = 0;
        for (int g = 0; g < 16; g++) {
            fit_scale_min(x + 16 * g, 16, 3, &s[g], &m[g]);
            smax = fmaxf(smax, s[g]);
            mmax = fmaxf(mmax, m[g]);
        }
        b[i].d = rk_fp32_to_fp16(smax / 15.0f);
        b[i].dmin = rk_fp32_to_fp16(mmax / 15.0f);
        float d16 = fp16(b[i].d), dmin16 = fp16(b[i].dmin);
        memset(b[i].qs, 0, sizeof b[i].qs);
        for (int g = 0; g < 16; g++) {
            int ls = d16 > 0 ? qround(s[g] / d16, 0, 15) : 0;
            int lm = dmin16 > 0 ? qround(m[g] / dmin16, 0, 15) : 0;
            b[i].scales[g] = (uint8_t)(ls | lm << 4);
            float step = d16 * (float)ls, off = dmin16 * (float)lm;
            for (int k = 0; k < 16; k++) {
                int e = 16 * g + k, h = e / 128, j = (e % 128) / 32, l = e % 32;
                int q = step > 0 ? qround((x[e] + off) / step, 0, 3) : 0;
                b[i].qs[32 * h + l] |= (uint8_t)(q << (2 * j));
            }
        }
    }
}

static void q2_K_vec_dot(int64_t n, float *restrict s, const void *restrict w, const void *restrict x)
{
    const block_q2_K *a = w;
    const block_q8_K *b = x;
    float sum = 0;
    for (int64_t i = 0; i < n / QK_K; i++) {
        int isum = 0, msum = 0;
        for (int g = 0; g < 16; g++) {
            int dot = 0;
            for (int k = 0; k < 16; k++) dot += q2_K_get(&a[i], 16 * g + k) * b[i].qs[16 * g + k];
            isum += (a[i].scales[g] & 0x0F) * dot;
            msum += (a[i].scales[g] >> 4) * b[i].bsums[g];
        }
        float d = b[i].d * fp16(a[i].d), dmin = b[i].d * fp16(a[i].dmin);
        sum += d * (float)isum - dmin * (float)msum;
    }
    *s = sum;
}

/* ---- 4x4 tiles: sixteen plain dots, the definition the tiled kernels meet ---- */

#define REF_4X(name, dot)                                                                                     \
    static void name(int64_t n, float *s, size_t s_stride, const void *w, size_t wrb, const void *x,         \
                     size_t xrb)                                                                              \
    {                                                                                                         \
        for (int r = 0; r < 4; r++)                                                                           \
            for (int c = 0; c < 4; c++)                                                                       \
                dot(n, &s[(size_t)r * s_stride + (size_t)c], (const char *)w + (size_t)r * wrb,               \
                    (const char *)x + (size_t)c * xrb);                                                       \
    }

REF_4X(f32_vec_dot_4x, f32_vec_dot)
REF_4X(f16_vec_dot_4x, f16_vec_dot)
REF_4X(bf16_vec_dot_4x, bf16_vec_dot)
REF_4X(q8_0_vec_dot_4x, q8_0_vec_dot)
REF_4X(q4_0_vec_dot_4x, q4_0_vec_dot)
REF_4X(q4_1_vec_dot_4x, q4_1_vec_dot)
REF_4X(q5_0_vec_dot_4x, q5_0_vec_dot)
REF_4X(q5_1_vec_dot_4x, q5_1_vec_dot)
REF_4X(q2_K_vec_dot_4x, q2_K_vec_dot)
REF_4X(q3_K_vec_dot_4x, q3_K_vec_dot)
REF_4X(q5_K_vec_dot_4x, q5_K_vec_dot)
REF_4X(q4_K_vec_dot_4x, q4_K_vec_dot)
REF_4X(q6_K_vec_dot_4x, q6_K_vec_dot)

/* ---- dense helpers ---- */

static float ref_dot_f32(int64_t n, const float *a, const float *b)
{
    float s;
    f32_vec_dot(n, &s, a, b);
    return s;
}

static void ref_axpy_f32(int64_t n, float a, const float *x, float *y)
{
    for (int64_t i = 0; i < n; i++) y[i] += a * x[i];
}

static void ref_scale_f32(int64_t n, float a, float *x)
{
    for (int64_t i = 0; i < n; i++) x[i] *= a;
}

static void ref_fp16_to_f32(int64_t n, const rk_fp16 *src, float *dst)
{
    for (int64_t i = 0; i < n; i++) dst[i] = fp16(src[i]);
}

static void ref_f32_to_fp16(int64_t n, const float *src, rk_fp16 *dst)
{
    for (int64_t i = 0; i < n; i++) dst[i] = rk_fp32_to_fp16(src[i]);
}

void kernels_fill_scalar(rk_kernels *k)
{
    memset(k, 0, sizeof(*k));
    k->isa = RK_ISA_SCALAR;
    k->ops[GGML_TYPE_F32] = (rk_type_ops){GGML_TYPE_F32, f32_to_float, f32_from_float, f32_vec_dot, f32_vec_dot_4x};
    k->ops[GGML_TYPE_F16] = (rk_type_ops){GGML_TYPE_F32, f16_to_float, f16_from_float, f16_vec_dot, f16_vec_dot_4x};
    k->ops[GGML_TYPE_BF16] =
        (rk_type_ops){GGML_TYPE_F32, bf16_to_float, bf16_from_float, bf16_vec_dot, bf16_vec_dot_4x};
    k->ops[GGML_TYPE_Q8_0] =
        (rk_type_ops){GGML_TYPE_Q8_0, q8_0_to_float, q8_0_from_float, q8_0_vec_dot, q8_0_vec_dot_4x};
    k->ops[GGML_TYPE_Q4_0] =
        (rk_type_ops){GGML_TYPE_Q8_0, q4_0_to_float, q4_0_from_float, q4_0_vec_dot, q4_0_vec_dot_4x};
    k->ops[GGML_TYPE_Q4_1] =
        (rk_type_ops){GGML_TYPE_Q8_0, q4_1_to_float, q4_1_from_float, q4_1_vec_dot, q4_1_vec_dot_4x};
    k->ops[GGML_TYPE_Q5_0] =
        (rk_type_ops){GGML_TYPE_Q8_0, q5_0_to_float, q5_0_from_float, q5_0_vec_dot, q5_0_vec_dot_4x};
    k->ops[GGML_TYPE_Q5_1] =
        (rk_type_ops){GGML_TYPE_Q8_0, q5_1_to_float, q5_1_from_float, q5_1_vec_dot, q5_1_vec_dot_4x};
    k->ops[GGML_TYPE_Q2_K] =
        (rk_type_ops){GGML_TYPE_Q8_K, q2_K_to_float, q2_K_from_float, q2_K_vec_dot, q2_K_vec_dot_4x};
    k->ops[GGML_TYPE_Q3_K] =
        (rk_type_ops){GGML_TYPE_Q8_K, q3_K_to_float, q3_K_from_float, q3_K_vec_dot, q3_K_vec_dot_4x};
    k->ops[GGML_TYPE_Q4_K] =
        (rk_type_ops){GGML_TYPE_Q8_K, q4_K_to_float, q4_K_from_float, q4_K_vec_dot, q4_K_vec_dot_4x};
    k->ops[GGML_TYPE_Q5_K] =
        (rk_type_ops){GGML_TYPE_Q8_K, q5_K_to_float, q5_K_from_float, q5_K_vec_dot, q5_K_vec_dot_4x};
    k->ops[GGML_TYPE_Q6_K] =
        (rk_type_ops){GGML_TYPE_Q8_K, q6_K_to_float, q6_K_from_float, q6_K_vec_dot, q6_K_vec_dot_4x};
    /* an activation format only: nothing is multiplied against Q8_K weights */
    k->ops[GGML_TYPE_Q8_K] = (rk_type_ops){GGML_TYPE_Q8_K, q8_K_to_float, q8_K_from_float, NULL, NULL};
    static const uint32_t present[] = {GGML_TYPE_F32,  GGML_TYPE_F16,  GGML_TYPE_BF16, GGML_TYPE_Q8_0,
                                       GGML_TYPE_Q4_0, GGML_TYPE_Q4_1, GGML_TYPE_Q5_0, GGML_TYPE_Q5_1,
                                       GGML_TYPE_Q2_K, GGML_TYPE_Q3_K, GGML_TYPE_Q4_K, GGML_TYPE_Q5_K,
                                       GGML_TYPE_Q6_K, GGML_TYPE_Q8_K};
    for (size_t i = 0; i < sizeof(present) / sizeof(present[0]); i++) k->types[present[i]] = &k->ops[present[i]];
    k->vec = (rk_vec_ops){ref_dot_f32, ref_axpy_f32, ref_scale_f32, ref_fp16_to_f32, ref_f32_to_fp16};
}
