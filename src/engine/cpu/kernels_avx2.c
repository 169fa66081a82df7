/* AVX2 + FMA + F16C kernels. Integer dots follow the reference block by
 * block: exact int32 sums per block, scaled in float. Dequantisation uses a
 * separate multiply and subtract (never FMA) so it matches the reference bit
 * for bit. Compiled with -mavx2 -mfma -mf16c; only reached after
 * kernels_dispatch.c has checked the CPU. */
#include "engine/cpu/kernels.h"

#include <immintrin.h>
#include <string.h>

/* Small fixed loops over tile rows and columns must be unrolled so their
 * accumulators live in registers. */
#define UNROLL _Pragma("GCC unroll 4")

/* ---- helpers ---- */

static inline float hsum_ps(__m256 v)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

static inline float hmax_ps(__m256 v)
{
    __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    m = _mm_max_ss(m, _mm_movehdup_ps(m));
    return _mm_cvtss_f32(m);
}

static inline float h2f(rk_fp16 h) { return _cvtsh_ss(h); }

/* Sum of four adjacent byte products per int32 lane: maddubs needs an
 * unsigned operand, so |w| is paired with sign(w)*x. Products of pairs stay
 * below 2*127*127 and cannot saturate. */
static inline __m256i dot_i8(__m256i w, __m256i x)
{
    __m256i p = _mm256_maddubs_epi16(_mm256_sign_epi8(w, w), _mm256_sign_epi8(x, w));
    return _mm256_madd_epi16(p, _mm256_set1_epi16(1));
}

/* 32 nibbles of a Q4_0 block as bytes 0..15 in element order. */
static inline __m256i unpack_q4_0(const uint8_t *qs)
{
    __m128i t = _mm_loadu_si128((const __m128i *)qs);
    __m256i v = _mm256_set_m128i(_mm_srli_epi16(t, 4), t);
    return _mm256_and_si256(v, _mm256_set1_epi8(0x0F));
}

/* Sums of the four vectors' int32 lanes: {sum a, sum b, sum c, sum d}. */
static inline __m128i reduce4_epi32(__m256i a, __m256i b, __m256i c, __m256i d)
{
    __m256i h = _mm256_hadd_epi32(_mm256_hadd_epi32(a, b), _mm256_hadd_epi32(c, d));
    return _mm_add_epi32(_mm256_castsi256_si128(h), _mm256_extracti128_si256(h, 1));
}

/* Eight bytes (unsigned or signed) to floats. */
static inline __m256 u8x8_ps(__m128i v) { return _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(v)); }
static inline __m256 i8x8_ps(__m128i v) { return _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(v)); }

/* y[i] = d*q[i] - m for 32 unsigned bytes q. */
static inline void store_affine_u8(__m256i q, __m256 d, __m256 m, float *y)
{
    __m128i lo = _mm256_castsi256_si128(q), hi = _mm256_extracti128_si256(q, 1);
    _mm256_storeu_ps(y, _mm256_sub_ps(_mm256_mul_ps(d, u8x8_ps(lo)), m));
    _mm256_storeu_ps(y + 8, _mm256_sub_ps(_mm256_mul_ps(d, u8x8_ps(_mm_srli_si128(lo, 8))), m));
    _mm256_storeu_ps(y + 16, _mm256_sub_ps(_mm256_mul_ps(d, u8x8_ps(hi)), m));
    _mm256_storeu_ps(y + 24, _mm256_sub_ps(_mm256_mul_ps(d, u8x8_ps(_mm_srli_si128(hi, 8))), m));
}

/* Rows r0, r1 of a 4x4 tile times per-block scales dw[r] * dx[c]. */
static inline __m256 tile_scales(__m128 dw, __m128 dx, int r0)
{
    __m256 w = _mm256_permutevar8x32_ps(_mm256_castps128_ps256(dw),
                                        _mm256_setr_epi32(r0, r0, r0, r0, r0 + 1, r0 + 1, r0 + 1, r0 + 1));
    return _mm256_mul_ps(w, _mm256_set_m128(dx, dx));
}

static inline __m128 fp16x4(rk_fp16 a, rk_fp16 b, rk_fp16 c, rk_fp16 d)
{
    return _mm_cvtph_ps(_mm_setr_epi16((short)a, (short)b, (short)c, (short)d, 0, 0, 0, 0));
}

static inline void store_tile(float *s, size_t ss, __m256 r01, __m256 r23)
{
    _mm_storeu_ps(s, _mm256_castps256_ps128(r01));
    _mm_storeu_ps(s + ss, _mm256_extractf128_ps(r01, 1));
    _mm_storeu_ps(s + 2 * ss, _mm256_castps256_ps128(r23));
    _mm_storeu_ps(s + 3 * ss, _mm256_extractf128_ps(r23, 1));
}

/* ---- F32 ---- */

static float dot_f32(int64_t n, const float *a, const float *b)
{
    __m256 s0 = _mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
        s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), s1);
        s2 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 16), _mm256_loadu_ps(b + i + 16), s2);
        s3 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 24), _mm256_loadu_ps(b + i + 24), s3);
    }
    for (; i + 8 <= n; i += 8) s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
    float sum = hsum_ps(_mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
    for (; i < n; i++) sum += a[i] * b[i];
    return sum;
}

static void f32_vec_dot(int64_t n, float *restrict s, const void *restrict w, const void *restrict x)
{
    *s = dot_f32(n, w, x);
}

/* ---- F16 ---- */

static void fp16_to_f32(int64_t n, const rk_fp16 *src, float *dst)
{
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(src + i))));
    for (; i < n; i++) dst[i] = h2f(src[i]);
}

static void f32_to_fp16(int64_t n, const float *src, rk_fp16 *dst)
{
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm_storeu_si128((__m128i *)(dst + i), _mm256_cvtps_ph(_mm256_loadu_ps(src + i), _MM_FROUND_TO_NEAREST_INT));
    for (; i < n; i++) dst[i] = rk_fp32_to_fp16(src[i]);
}

static void f16_to_float(const void *restrict src, float *restrict dst, int64_t n) { fp16_to_f32(n, src, dst); }

static void f16_from_float(const float *restrict src, void *restrict dst, int64_t n) { f32_to_fp16(n, src, dst); }

static inline __m256 load_h8(const rk_fp16 *p) { return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p)); }

static void f16_vec_dot(int64_t n, float *restrict s, const void *restrict w, const void *restrict x)
{
    const rk_fp16 *a = w;
    const float *b = x;
    __m256 s0 = _mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        s0 = _mm256_fmadd_ps(load_h8(a + i), _mm256_loadu_ps(b + i), s0);
        s1 = _mm256_fmadd_ps(load_h8(a + i + 8), _mm256_loadu_ps(b + i + 8), s1);
        s2 = _mm256_fmadd_ps(load_h8(a + i + 16), _mm256_loadu_ps(b + i + 16), s2);
        s3 = _mm256_fmadd_ps(load_h8(a + i + 24), _mm256_loadu_ps(b + i + 24), s3);
    }
    for (; i + 8 <= n; i += 8) s0 = _mm256_fmadd_ps(load_h8(a + i), _mm256_loadu_ps(b + i), s0);
    float sum = hsum_ps(_mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
    for (; i < n; i++) sum += h2f(a[i]) * b[i];
    *s = sum;
}

/* ---- BF16 ---- */

static inline __m256 load_bf8(const rk_bf16 *p)
{
    __m256i v = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)p));
    return _mm256_castsi256_ps(_mm256_slli_epi32(v, 16));
}

static void bf16_to_float(const void *restrict src, float *restrict dst, int64_t n)
{
    const rk_bf16 *h = src;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(dst + i, load_bf8(h + i));
    for (; i < n; i++) dst[i] = rk_bf16_to_fp32(h[i]);
}

static void bf16_vec_dot(int64_t n, float *restrict s, const void *restrict w, const void *restrict x)
{
    const rk_bf16 *a = w;
    const float *b = x;
    __m256 s0 = _mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        s0 = _mm256_fmadd_ps(load_bf8(a + i), _mm256_loadu_ps(b + i), s0);
        s1 = _mm256_fmadd_ps(load_bf8(a + i + 8), _mm256_loadu_ps(b + i + 8), s1);
        s2 = _mm256_fmadd_ps(load_bf8(a + i + 16), _mm256_loadu_ps(b + i + 16), s2);
        s3 = _mm256_fmadd_ps(load_bf8(a + i + 24), _mm256_loadu_ps(b + i + 24), s3);
    }
    for (; i + 8 <= n; i += 8) s0 = _mm256_fmadd_ps(load_bf8(a + i), _mm256_loadu_ps(b + i), s0);
    float sum = hsum_ps(_mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
    for (; i < n; i++) sum += rk_bf16_to_fp32(a[i]) * b[i];
    *s = sum;
}

/* ---- float tiles ---- */

static inline __m256 load_f8(const float *p) { return _mm256_loadu_ps(p); }
static inline float f32_at(const float *p) { return *p; }
static inline float f16_at(const rk_fp16 *p) { return h2f(*p); }
static inline float bf16_at(const rk_bf16 *p) { return rk_bf16_to_fp32(*p); }

/* Two activation columns at a time: 4 rows x 2 columns of accumulators plus
 * the converted weights fit in the 16 registers; weights come from cache the
 * second time. */
#define DEF_FLOAT_4X(NAME, T, LOAD8, AT)                                                                      \
    static void NAME(int64_t n, float *s, size_t ss, const void *w, size_t wrb, const void *x, size_t xrb)    \
    {                                                                                                         \
        const T *wr[4];                                                                                       \
        UNROLL for (int r = 0; r < 4; r++) wr[r] = (const T *)((const char *)w + r * wrb);                          \
        UNROLL for (int c0 = 0; c0 < 4; c0 += 2) {                                                                   \
            const float *x0 = (const float *)((const char *)x + c0 * xrb);                                    \
            const float *x1 = (const float *)((const char *)x + (c0 + 1) * xrb);                              \
            __m256 acc[4][2];                                                                                 \
            UNROLL for (int r = 0; r < 4; r++) acc[r][0] = acc[r][1] = _mm256_setzero_ps();                          \
            int64_t i = 0;                                                                                    \
            for (; i + 8 <= n; i += 8) {                                                                      \
                __m256 a = _mm256_loadu_ps(x0 + i), b = _mm256_loadu_ps(x1 + i);                              \
                UNROLL for (int r = 0; r < 4; r++) {                                                                 \
                    __m256 wv = LOAD8(wr[r] + i);                                                             \
                    acc[r][0] = _mm256_fmadd_ps(wv, a, acc[r][0]);                                            \
                    acc[r][1] = _mm256_fmadd_ps(wv, b, acc[r][1]);                                            \
                }                                                                                             \
            }                                                                                                 \
            UNROLL for (int r = 0; r < 4; r++) {                                                                     \
                float t0 = hsum_ps(acc[r][0]), t1 = hsum_ps(acc[r][1]);                                       \
                for (int64_t j = i; j < n; j++) {                                                             \
                    float wv = AT(wr[r] + j);                                                                 \
                    t0 += wv * x0[j];                                                                         \
                    t1 += wv * x1[j];                                                                         \
                }                                                                                             \
                s[r * ss + c0] = t0;                                                                          \
                s[r * ss + c0 + 1] = t1;                                                                      \
            }                                                                                                 \
        }                                                                                                     \
    }

DEF_FLOAT_4X(f32_vec_dot_4x, float, load_f8, f32_at)
DEF_FLOAT_4X(f16_vec_dot_4x, rk_fp16, load_h8, f16_at)
DEF_FLOAT_4X(bf16_vec_dot_4x, rk_bf16, load_bf8, bf16_at)

/* ---- Q8_0 ---- */

static void q8_0_to_float(const void *restrict src, float *restrict dst, int64_t n)
{
    const block_q8_0 *b = src;
    for (int64_t i = 0; i < n / QK8_0; i++) {
        __m256 d = _mm256_set1_ps(h2f(b[i].d));
        for (int j = 0; j < QK8_0; j += 8)
            _mm256_storeu_ps(dst + i * QK8_0 + j,
                             _mm256_mul_ps(d, i8x8_ps(_mm_loadl_epi64((const __m128i *)(b[i].qs + j)))));
    }
}

/* Rounds 32 floats times id to int8 (nearest, ties to even like the
 * reference's nearbyintf under the default rounding mode). */
static inline __m256i quant32(const float *x, __m256 id)
{
    __m256i a = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x), id));
    __m256i b = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + 8), id));
    __m256i c = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + 16), id));
    __m256i d = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + 24), id));
    __m256i p = _mm256_packs_epi16(_mm256_packs_epi32(a, b), _mm256_packs_epi32(c, d));
    /* the packs work per 128-bit lane; put the 4-byte groups back in order */
    return _mm256_permutevar8x32_epi32(p, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}

static inline __m256 abs_ps(__m256 v) { return _mm256_andnot_ps(_mm256_set1_ps(-0.0f), v); }

static void q8_0_from_float(const float *restrict src, void *restrict dst, int64_t n)
{
    block_q8_0 *b = dst;
    for (int64_t i = 0; i < n / QK8_0; i++) {
        const float *x = src + i * QK8_0;
        __m256 m = _mm256_max_ps(_mm256_max_ps(abs_ps(_mm256_loadu_ps(x)), abs_ps(_mm256_loadu_ps(x + 8))),
                                 _mm256_max_ps(abs_ps(_mm256_loadu_ps(x + 16)), abs_ps(_mm256_loadu_ps(x + 24))));
        float amax = hmax_ps(m);
        float d = amax / 127.0f;
        float id = d != 0 ? 1.0f / d : 0.0f;
        b[i].d = rk_fp32_to_fp16(d);
        _mm256_storeu_si256((__m256i *)b[i].qs, quant32(x, _mm256_set1_ps(id)));
    }
}

static void q8_0_vec_dot(int64_t n, float *restrict s, const void *restrict w, const void *restrict x)
{
    const block_q8_0 *a = w, *b = x;
    const int64_t nb = n / QK8_0;
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 2 <= nb; i += 2) {
        __m256i p0 = dot_i8(_mm256_loadu_si256((const __m256i *)a[i].qs), _mm256_loadu_si256((const __m256i *)b[i].qs));
        __m256i p1 = dot_i8(_mm256_loadu_si256((const __m256i *)a[i + 1].qs),
                            _mm256_loadu_si256((const __m256i *)b[i + 1].qs));
        acc0 = _mm256_fmadd_ps(_mm256_set1_ps(h2f(a[i].d) * h2f(b[i].d)), _mm256_cvtepi32_ps(p0), acc0);
        acc1 = _mm256_fmadd_ps(_mm256_set1_ps(h2f(a[i + 1].d) * h2f(b[i + 1].d)), _mm256_cvtepi32_ps(p1), acc1);
    }
    for (; i < nb; i++) {
        __m256i p = dot_i8(_mm256_loadu_si256((const __m256i *)a[i].qs), _mm256_loadu_si256((const __m256i *)b[i].qs));
        acc0 = _mm256_fmadd_ps(_mm256_set1_ps(h2f(a[i].d) * h2f(b[i].d)), _mm256_cvtepi32_ps(p), acc0);
    }
    *s = hsum_ps(_mm256_add_ps(acc0, acc1));
}

static void q8_0_vec_dot_4x(int64_t n, float *s, size_t ss, const void *w, size_t wrb, const void *x, size_t xrb)
{
    const block_q8_0 *wr[4], *xr[4];
    UNROLL for (int r = 0; r < 4; r++) {
        wr[r] = (const block_q8_0 *)((const char *)w + r * wrb);
        xr[r] = (const block_q8_0 *)((const char *)x + r * xrb);
    }
    __m256 acc01 = _mm256_setzero_ps(), acc23 = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / QK8_0; i++) {
        __m256i xv[4];
        UNROLL for (int c = 0; c < 4; c++) xv[c] = _mm256_loadu_si256((const __m256i *)xr[c][i].qs);
        __m128i sums[4];
        UNROLL for (int r = 0; r < 4; r++) {
            __m256i wv = _mm256_loadu_si256((const __m256i *)wr[r][i].qs);
            __m256i aw = _mm256_sign_epi8(wv, wv), one = _mm256_set1_epi16(1), p[4];
            UNROLL for (int c = 0; c < 4; c++)
                p[c] = _mm256_madd_epi16(_mm256_maddubs_epi16(aw, _mm256_sign_epi8(xv[c], wv)), one);
            sums[r] = reduce4_epi32(p[0], p[1], p[2], p[3]);
        }
        __m128 dw = fp16x4(wr[0][i].d, wr[1][i].d, wr[2][i].d, wr[3][i].d);
        __m128 dx = fp16x4(xr[0][i].d, xr[1][i].d, xr[2][i].d, xr[3][i].d);
        acc01 = _mm256_fmadd_ps(tile_scales(dw, dx, 0), _mm256_cvtepi32_ps(_mm256_set_m128i(sums[1], sums[0])), acc01);
        acc23 = _mm256_fmadd_ps(tile_scales(dw, dx, 2), _mm256_cvtepi32_ps(_mm256_set_m128i(sums[3], sums[2])), acc23);
    }
    store_tile(s, ss, acc01, acc23);
}

/* ---- Q4_0 ---- */

static void q4_0_to_float(const void *restrict src, float *restrict dst, int64_t n)
{
    const block_q4_0 *b = src;
    for (int64_t i = 0; i < n / QK4_0; i++) {
        __m256 d = _mm256_set1_ps(h2f(b[i].d));
        __m256i q = _mm256_sub_epi8(unpack_q4_0(b[i].qs), _mm256_set1_epi8(8));
        __m128i lo = _mm256_castsi256_si128(q), hi = _mm256_extracti128_si256(q, 1);
        float *y = dst + i * QK4_0;
        _mm256_storeu_ps(y, _mm256_mul_ps(i8x8_ps(lo), d));
        _mm256_storeu_ps(y + 8, _mm256_mul_ps(i8x8_ps(_mm_srli_si128(lo, 8)), d));
        _mm256_storeu_ps(y + 16, _mm256_mul_ps(i8x8_ps(hi), d));
        _mm256_storeu_ps(y + 24, _mm256_mul_ps(i8x8_ps(_mm_srli_si128(hi, 8)), d));
    }
}

/* int32 lanes of sum((q-8)*y) for a Q4_0 block: q*y and 8*y pair sums both fit
 * int16, so the offset is removed before widening. */
static inline __m256i dot_q4_0(__m256i q, __m256i y, __m256i y8)
{
    return _mm256_madd_epi16(_mm256_sub_epi16(_mm256_maddubs_epi16(q, y), y8), _mm256_set1_epi16(1));
}

static inline __m256i times8(__m256i y) { return _mm256_maddubs_epi16(_mm256_set1_epi8(8), y); }

static void q4_0_vec_dot(int64_t n, float *restrict s, const void *restrict w, const void *restrict x)
{
    const block_q4_0 *a = w;
    const block_q8_0 *b = x;
    const int64_t nb = n / QK4_0;
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 2 <= nb; i += 2) {
        __m256i y0 = _mm256_loadu_si256((const __m256i *)b[i].qs);
        __m256i y1 = _mm256_loadu_si256((const __m256i *)b[i + 1].qs);
        __m256i p0 = dot_q4_0(unpack_q4_0(a[i].qs), y0, times8(y0));
        __m256i p1 = dot_q4_0(unpack_q4_0(a[i + 1].qs), y1, times8(y1));
        acc0 = _mm256_fmadd_ps(_mm256_set1_ps(h2f(a[i].d) * h2f(b[i].d)), _mm256_cvtepi32_ps(p0), acc0);
        acc1 = _mm256_fmadd_ps(_mm256_set1_ps(h2f(a[i + 1].d) * h2f(b[i + 1].d)), _mm256_cvtepi32_ps(p1), acc1);
    }
    for (; i < nb; i++) {
        __m256i y = _mm256_loadu_si256((const __m256i *)b[i].qs);
        __m256i p = dot_q4_0(unpack_q4_0(a[i].qs), y, times8(y));
        acc0 = _mm256_fmadd_ps(_mm256_set1_ps(h2f(a[i].d) * h2f(b[i].d)), _mm256_cvtepi32_ps(p), acc0);
    }
    *s = hsum_ps(_mm256_add_ps(acc0, acc1));
}

static void q4_0_vec_dot_4x(int64_t n, float *s, size_t ss, const void *w, size_t wrb, const void *x, size_t xrb)
{
    const block_q4_0 *wr[4];
    const block_q8_0 *xr[4];
    UNROLL for (int r = 0; r < 4; r++) {
        wr[r] = (const block_q4_0 *)((const char *)w + r * wrb);
        xr[r] = (const block_q8_0 *)((const char *)x + r * xrb);
    }
    __m256 acc01 = _mm256_setzero_ps(), acc23 = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / QK4_0; i++) {
        __m256i xv[4], x8[4];
        UNROLL for (int c = 0; c < 4; c++) {
            xv[c] = _mm256_loadu_si256((const __m256i *)xr[c][i].qs);
            x8[c] = times8(xv[c]);
        }
        __m128i sums[4];
        UNROLL for (int r = 0; r < 4; r++) {
            __m256i q = unpack_q4_0(wr[r][i].qs);
            sums[r] = reduce4_epi32(dot_q4_0(q, xv[0], x8[0]), dot_q4_0(q, xv[1], x8[1]), dot_q4_0(q, xv[2], x8[2]),
                                    dot_q4_0(q, xv[3], x8[3]));
        }
        __m128 dw = fp16x4(wr[0][i].d, wr[1][i].d, wr[2][i].d, wr[3][i].d);
        __m128 dx = fp16x4(xr[0][i].d, xr[1][i].d, xr[2][i].d, xr[3][i].d);
        acc01 = _mm256_fmadd_ps(tile_scales(dw, dx, 0), _mm256_cvtepi32_ps(_mm256_set_m128i(sums[1], sums[0])), acc01);
        acc23 = _mm256_fmadd_ps(tile_scales(dw, dx, 2), _mm256_cvtepi32_ps(_mm256_set_m128i(sums[3], sums[2])), acc23);
    }
    store_tile(s, ss, acc01, acc23);
}

/* ---- Q4_1 / Q5_0 / Q5_1 ---- */

/* The 5th bits of a Q5_0/Q5_1 block as bytes 0x10 or 0 in element order:
 * byte k of the vector tests bit k of the little-endian word qh. */
static inline __m256i q5_high_bits(const uint8_t *qh)
{
    int32_t h;
    memcpy(&h, qh, 4);
    const __m256i pick = _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2,
                                          3, 3, 3, 3, 3, 3, 3, 3);
    const __m256i bit = _mm256_set1_epi64x(0x8040201008040201);
    __m256i v = _mm256_shuffle_epi8(_mm256_set1_epi32(h), pick);
    v = _mm256_cmpeq_epi8(_mm256_and_si256(v, bit), bit);
    return _mm256_and_si256(v, _mm256_set1_epi8(0x10));
}

static inline __m256i unpack_q5(const uint8_t *qh, const uint8_t *qs)
{
    return _mm256_or_si256(unpack_q4_0(qs), q5_high_bits(qh));
}

/* int32 lanes of the sum of 32 activation quants. */
static inline __m256i sum_i8(__m256i y)
{
    return _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_set1_epi8(1), y), _mm256_set1_epi16(1));
}

/* int32 lanes of sum(q*y) for unsigned q <= 31 (pair sums fit int16). */
static inline __m256i dot_u5(__m256i q, __m256i y)
{
    return _mm256_madd_epi16(_mm256_maddubs_epi16(q, y), _mm256_set1_epi16(1));
}

static inline __m256i times16(__m256i y) { return _mm256_maddubs_epi16(_mm256_set1_epi8(16), y); }

static void q4_1_to_float(const void *restrict src, float *restrict dst, int64_t n)
{
    const block_q4_1 *b = src;
    for (int64_t i = 0; i < n / QK4_1; i++) /* d*q - (-m) is d*q + m exactly */
        store_affine_u8(unpack_q4_0(b[i].qs), _mm256_set1_ps(h2f(b[i].d)), _mm256_set1_ps(-h2f(b[i].m)),
                        dst + i * QK4_1);
}

static void q5_1_to_float(const void *restrict src, float *restrict dst, int64_t n)
{
    const block_q5_1 *b = src;
    for (int64_t i = 0; i < n / QK5_1; i++)
        store_affine_u8(unpack_q5(b[i].qh, b[i].qs), _mm256_set1_ps(h2f(b[i].d)), _mm256_set1_ps(-h2f(b[i].m)),
                        dst + i * QK5_1);
}

static void q5_0_to_float(const void *restrict src, float *restrict dst, int64_t n)
{
    const block_q5_0 *b = src;
    for (int64_t i = 0; i < n / QK5_0; i++) {
        __m256 d = _mm256_set1_ps(h2f(b[i].d));
        __m256i q = _mm256_sub_epi8(unpack_q5(b[i].qh, b[i].qs), _mm256_set1_epi8(16));
        __m128i lo = _mm256_castsi256_si128(q), hi = _mm256_extracti128_si256(q, 1);
        float *y = dst + i * QK5_0;
        _mm256_storeu_ps(y, _mm256_mul_ps(i8x8_ps(lo), d));
        _mm256_storeu_ps(y + 8, _mm256_mul_ps(i8x8_ps(_mm_srli_si128(lo, 8)), d));
        _mm256_storeu_ps(y + 16, _mm256_mul_ps(i8x8_ps(hi), d));
        _mm256_storeu_ps(y + 24, _mm256_mul_ps(i8x8_ps(_mm_srli_si128(hi, 8)), d));
    }
}

static void q5_0_vec_dot(int64_t n, float *restrict s, const void *restrict w, const void *restrict x)
{
    const block_q5_0 *a = w;
    const block_q8_0 *b = x;
    const int64_t nb = n / QK5_0;
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 2 <= nb; i += 2) {
        __m256i y0 = _mm256_loadu_si256((const __m256i *)b[i].qs);
        __m256i y1 = _mm256_loadu_si256((const __m256i *)b[i + 1].qs);
        __m256i p0 = dot_q4_0(unpack_q5(a[i].qh, a[i].qs), y0, times16(y0));
        __m256i p1 = dot_q4_0(unpack_q5(a[i + 1].qh, a[i + 1].qs), y1, times16(y1));
        acc0 = _mm256_fmadd_ps(_mm256_set1_ps(h2f(a[i].d) * h2f(b[i].d)), _mm256_cvtepi32_ps(p0), acc0);
        acc1 = _mm256_fmadd_ps(_mm256_set1_ps(h2f(a[i + 1].d) * h2f(b[i + 1].d)), _mm256_cvtepi32_ps(p1), acc1);
    }
    for (; i < nb; i++) {
        __m256i y = _mm256_loadu_si256((const __m256i *)b[i].qs);
        __m256i p = dot_q4_0(unpack_q5(a[i].qh, a[i].qs), y, times16(y));
        acc0 = _mm256_fmadd_ps(_mm256_set1_ps(h2f(a[i].d) * h2f(b[i].d)), _mm256_cvtepi32_ps(p), acc0);
    }
    *s = hsum_ps(_mm256_add_ps(acc0, acc1));
}

/* Q4_1 and Q5_1: d*dy*sum(q*y) + m*dy*sum(y) per block, the two terms in
 * separate accumulators. */
#define DEF_AFFINE_DOT(NAME, BLOCK, UNPACK)                                                                   \
    static void NAME(int64_t n, float *restrict s, const void *restrict w, const void *restrict x)            \
    {                                                                                                         \
        const BLOCK *a = w;                                                                                   \
        const block_q8_0 *b = x;                                                                              \
        __m256 acc = _mm256_setzero_ps(), accm = _mm256_setzero_ps();                                        \
        for (int64_t i = 0; i < n / 32; i++) {                                                                \
            __m256i y = _mm256_loadu_si256((const __m256i *)b[i].qs);                                         \
            float dy = h2f(b[i].d);                                                                           \
            acc = _mm256_fmadd_ps(_mm256_set1_ps(h2f(a[i].d) * dy), _mm256_cvtepi32_ps(dot_u5(UNPACK, y)), acc); \
            accm = _mm256_fmadd_ps(_mm256_set1_ps(h2f(a[i].m) * dy), _mm256_cvtepi32_ps(sum_i8(y)), accm);    \
        }                                                                                                     \
        *s = hsum_ps(_mm256_add_ps(acc, accm));                                                               \
    }

DEF_AFFINE_DOT(q4_1_vec_dot, block_q4_1, unpack_q4_0(a[i].qs))
DEF_AFFINE_DOT(q5_1_vec_dot, block_q5_1, unpack_q5(a[i].qh, a[i].qs))

static void q5_0_vec_dot_4x(int64_t n, float *s, size_t ss, const void *w, size_t wrb, const void *x, size_t xrb)
{
    const block_q5_0 *wr[4];
    const block_q8_0 *xr[4];
    UNROLL for (int r = 0; r < 4; r++) {
        wr[r] = (const block_q5_0 *)((const char *)w + r * wrb);
        xr[r] = (const block_q8_0 *)((const char *)x + r * xrb);
    }
    __m256 acc01 = _mm256_setzero_ps(), acc23 = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / QK5_0; i++) {
        __m256i xv[4], x16[4];
        UNROLL for (int c = 0; c < 4; c++) {
            xv[c] = _mm256_loadu_si256((const __m256i *)xr[c][i].qs);
            x16[c] = times16(xv[c]);
        }
        __m128i sums[4];
        UNROLL for (int r = 0; r < 4; r++) {
            __m256i q = unpack_q5(wr[r][i].qh, wr[r][i].qs);
            sums[r] = reduce4_epi32(dot_q4_0(q, xv[0], x16[0]), dot_q4_0(q, xv[1], x16[1]),
                                    dot_q4_0(q, xv[2], x16[2]), dot_q4_0(q, xv[3], x16[3]));
        }
        __m128 dw = fp16x4(wr[0][i].d, wr[1][i].d, wr[2][i].d, wr[3][i].d);
        __m128 dx = fp16x4(xr[0][i].d, xr[1][i].d, xr[2][i].d, xr[3][i].d);
        acc01 = _mm256_fmadd_ps(tile_scales(dw, dx, 0), _mm256_cvtepi32_ps(_mm256_set_m128i(sums[1], sums[0])), acc01);
        acc23 = _mm256_fmadd_ps(tile_scales(dw, dx, 2), _mm256_cvtepi32_ps(_mm256_set_m128i(sums[3], sums[2])), acc23);
    }
    store_tile(s, ss, acc01, acc23);
}

/* The m term of each tile entry is m[r] * dy[c] * sum(y[c]): the activation
 * sums are taken once per column. */
#define DEF_AFFINE_4X(NAME, BLOCK, UNPACK)                                                                    \
    static void NAME(int64_t n, float *s, size_t ss, const void *w, size_t wrb, const void *x, size_t xrb)    \
    {                                                                                                         \
        const BLOCK *wr[4];                                                                                   \
        const block_q8_0 *xr[4];                                                                              \
        UNROLL for (int r = 0; r < 4; r++) {                                                                  \
            wr[r] = (const BLOCK *)((const char *)w + r * wrb);                                               \
            xr[r] = (const block_q8_0 *)((const char *)x + r * xrb);                                          \
        }                                                                                                     \
        __m256 acc01 = _mm256_setzero_ps(), acc23 = _mm256_setzero_ps();                                     \
        for (int64_t i = 0; i < n / 32; i++) {                                                                \
            __m256i xv[4];                                                                                    \
            UNROLL for (int c = 0; c < 4; c++) xv[c] = _mm256_loadu_si256((const __m256i *)xr[c][i].qs);     \
            __m128 ys = _mm_cvtepi32_ps(reduce4_epi32(sum_i8(xv[0]), sum_i8(xv[1]), sum_i8(xv[2]), sum_i8(xv[3]))); \
            __m256 ys2 = _mm256_set_m128(ys, ys);                                                             \
            __m128i sums[4];                                                                                  \
            UNROLL for (int r = 0; r < 4; r++) {                                                              \
                const BLOCK *a = &wr[r][i];                                                                   \
                __m256i q = UNPACK;                                                                           \
                sums[r] = reduce4_epi32(dot_u5(q, xv[0]), dot_u5(q, xv[1]), dot_u5(q, xv[2]), dot_u5(q, xv[3])); \
            }                                                                                                 \
            __m128 dw = fp16x4(wr[0][i].d, wr[1][i].d, wr[2][i].d, wr[3][i].d);                               \
            __m128 mw = fp16x4(wr[0][i].m, wr[1][i].m, wr[2][i].m, wr[3][i].m);                               \
            __m128 dx = fp16x4(xr[0][i].d, xr[1][i].d, xr[2][i].d, xr[3][i].d);                               \
            acc01 = _mm256_fmadd_ps(tile_scales(dw, dx, 0), _mm256_cvtepi32_ps(_mm256_set_m128i(sums[1], sums[0])), \
                                    acc01);                                                                   \
            acc23 = _mm256_fmadd_ps(tile_scales(dw, dx, 2), _mm256_cvtepi32_ps(_mm256_set_m128i(sums[3], sums[2])), \
                                    acc23);                                                                   \
            acc01 = _mm256_fmadd_ps(tile_scales(mw, dx, 0), ys2, acc01);                                      \
            acc23 = _mm256_fmadd_ps(tile_scales(mw, dx, 2), ys2, acc23);                                      \
        }                                                                                                     \
        store_tile(s, ss, acc01, acc23);                                                                      \
    }

DEF_AFFINE_4X(q4_1_vec_dot_4x, block_q4_1, unpack_q4_0(a->qs))
DEF_AFFINE_4X(q5_1_vec_dot_4x, block_q5_1, unpack_q5(a->qh, a->qs))

/* ---- Q8_K ---- */

static void q8_K_from_float(const float *restrict src, void *restrict dst, int64_t n)
{
    block_q8_K *b = dst;
    for (int64_t i = 0; i < n / QK_K; i++) {
        const float *x = src + i * QK_K;
        __m256 m = _mm256_setzero_ps();
        for (int j = 0; j < QK_K; j += 8) m = _mm256_max_ps(m, abs_ps(_mm256_loadu_ps(x + j)));
        float amax = hmax_ps(m);
        float id = amax != 0 ? 127.0f / amax : 0.0f;
        b[i].d = amax / 127.0f;
        for (int j = 0; j < QK_K; j += 32) {
            __m256i q = quant32(x + j, _mm256_set1_ps(id));
            _mm256_storeu_si256((__m256i *)(b[i].qs + j), q);
            /* byte sums of each 16: widen pairs, then four at a time */
            __m256i s4 = _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_set1_epi8(1), q), _mm256_set1_epi16(1));
            __m128i lo = _mm256_castsi256_si128(s4), hi = _mm256_extracti128_si256(s4, 1);
            lo = _mm_hadd_epi32(lo, hi);  /* {a0+a1, a2+a3, b0+b1, b2+b3} */
            lo = _mm_hadd_epi32(lo, lo);  /* {group 2j, group 2j+1, ...} */
            b[i].bsums[j / 16] = (int16_t)_mm_cvtsi128_si32(lo);
            b[i].bsums[j / 16 + 1] = (int16_t)_mm_extract_epi32(lo, 1);
        }
    }
}

/* ---- Q4_K ---- */

/* The eight 6-bit scales (bytes 0-7) and mins (bytes 8-15) of a Q4_K block,
 * unpacked four at a time in 32-bit words: the top two bits of bytes 0-7
 * become bits 4-5 of the scales and mins of sub-blocks 4-7. */
static inline __m128i q4_K_scales_mins(const uint8_t *p)
{
    uint32_t u[3];
    memcpy(u, p, 12);
    const uint32_t m6 = 0x3F3F3F3F, m4 = 0x0F0F0F0F, top = 0x30303030;
    uint32_t sc_lo = u[0] & m6, mn_lo = u[1] & m6;
    uint32_t sc_hi = (u[2] & m4) | ((u[0] >> 2) & top);
    uint32_t mn_hi = ((u[2] >> 4) & m4) | ((u[1] >> 2) & top);
    return _mm_setr_epi32((int)sc_lo, (int)sc_hi, (int)mn_lo, (int)mn_hi);
}

static void q4_K_to_float(const void *restrict src, float *restrict dst, int64_t n)
{
    const block_q4_K *b = src;
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    for (int64_t i = 0; i < n / QK_K; i++) {
        uint8_t sm[16];
        _mm_storeu_si128((__m128i *)sm, q4_K_scales_mins(b[i].scales));
        float d = h2f(b[i].d), dmin = h2f(b[i].dmin);
        float *y = dst + i * QK_K;
        UNROLL for (int c = 0; c < 4; c++) {
            __m256i q = _mm256_loadu_si256((const __m256i *)(b[i].qs + 32 * c));
            store_affine_u8(_mm256_and_si256(q, m4), _mm256_set1_ps(d * (float)sm[2 * c]),
                            _mm256_set1_ps(dmin * (float)sm[8 + 2 * c]), y + 64 * c);
            store_affine_u8(_mm256_and_si256(_mm256_srli_epi16(q, 4), m4), _mm256_set1_ps(d * (float)sm[2 * c + 1]),
                            _mm256_set1_ps(dmin * (float)sm[8 + 2 * c + 1]), y + 64 * c + 32);
        }
    }
}

/* 16-bit lane j of each 128-bit half, broadcast across the half. */
#define BCAST16(v, j) _mm256_shuffle_epi8((v), _mm256_set1_epi16((short)(0x0100 + 0x0202 * (j))))

/* int32 lanes of sc_lo*sum(lo*y0) + sc_hi*sum(hi*y1) for one 32-byte chunk
 * of nibbles (low nibbles pair with y0, high with y1). */
static inline __m256i q4_K_chunk(const uint8_t *qs, const int8_t *y, __m256i sc_lo, __m256i sc_hi)
{
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    __m256i q = _mm256_loadu_si256((const __m256i *)qs);
    __m256i p0 = _mm256_maddubs_epi16(_mm256_and_si256(q, m4), _mm256_loadu_si256((const __m256i *)y));
    __m256i p1 = _mm256_maddubs_epi16(_mm256_and_si256(_mm256_srli_epi16(q, 4), m4),
                                      _mm256_loadu_si256((const __m256i *)(y + 32)));
    return _mm256_add_epi32(_mm256_madd_epi16(p0, sc_lo), _mm256_madd_epi16(p1, sc_hi));
}

static void q4_K_vec_dot(int64_t n, float *restrict s, const void *restrict w, const void *restrict x)
{
    const block_q4_K *a = w;
    const block_q8_K *b = x;
    __m256 acc = _mm256_setzero_ps(), accm = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / QK_K; i++) {
        __m128i sm = q4_K_scales_mins(a[i].scales);
        /* each min times the sum of its 32 activations: the 16-sums in pairs */
        __m256i mins2 = _mm256_cvtepu8_epi16(_mm_unpackhi_epi8(sm, sm));
        __m256i mp = _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)b[i].bsums), mins2);
        __m256i sc = _mm256_broadcastsi128_si256(_mm_cvtepu8_epi16(sm));
        const uint8_t *q = a[i].qs;
        const int8_t *y = b[i].qs;
        __m256i isum = q4_K_chunk(q, y, BCAST16(sc, 0), BCAST16(sc, 1));
        isum = _mm256_add_epi32(isum, q4_K_chunk(q + 32, y + 64, BCAST16(sc, 2), BCAST16(sc, 3)));
        isum = _mm256_add_epi32(isum, q4_K_chunk(q + 64, y + 128, BCAST16(sc, 4), BCAST16(sc, 5)));
        isum = _mm256_add_epi32(isum, q4_K_chunk(q + 96, y + 192, BCAST16(sc, 6), BCAST16(sc, 7)));
        float d = b[i].d * h2f(a[i].d), dmin = b[i].d * h2f(a[i].dmin);
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(isum), acc);
        accm = _mm256_fmadd_ps(_mm256_set1_ps(dmin), _mm256_cvtepi32_ps(mp), accm);
    }
    *s = hsum_ps(acc) - hsum_ps(accm);
}

/* Tile: per weight row the scales are unpacked and each nibble chunk split
 * once, then used for the four activation rows; the per-pair int32 lanes are
 * folded to one lane per column before the float work. */
static void q4_K_vec_dot_4x(int64_t n, float *s, size_t ss, const void *w, size_t wrb, const void *x, size_t xrb)
{
    const block_q4_K *wr[4];
    const block_q8_K *xr[4];
    UNROLL for (int r = 0; r < 4; r++) {
        wr[r] = (const block_q4_K *)((const char *)w + r * wrb);
        xr[r] = (const block_q8_K *)((const char *)x + r * xrb);
    }
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    __m128 acc[4], accm[4];
    UNROLL for (int r = 0; r < 4; r++) acc[r] = accm[r] = _mm_setzero_ps();
    for (int64_t i = 0; i < n / QK_K; i++) {
        __m128 dx = _mm_setr_ps(xr[0][i].d, xr[1][i].d, xr[2][i].d, xr[3][i].d);
        for (int r = 0; r < 4; r++) {
            const block_q4_K *a = &wr[r][i];
            __m128i sm = q4_K_scales_mins(a->scales);
            __m256i mins2 = _mm256_cvtepu8_epi16(_mm_unpackhi_epi8(sm, sm));
            __m256i sc = _mm256_broadcastsi128_si256(_mm_cvtepu8_epi16(sm));
            __m256i isum[4];
            UNROLL for (int c = 0; c < 4; c++) isum[c] = _mm256_setzero_si256();
            UNROLL for (int k = 0; k < 4; k++) {
                __m256i q = _mm256_loadu_si256((const __m256i *)(a->qs + 32 * k));
                __m256i lo = _mm256_and_si256(q, m4), hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), m4);
                __m256i s0 = BCAST16(sc, 2 * k), s1 = BCAST16(sc, 2 * k + 1);
                UNROLL for (int c = 0; c < 4; c++) {
                    const int8_t *y = xr[c][i].qs + 64 * k;
                    __m256i p0 = _mm256_maddubs_epi16(lo, _mm256_loadu_si256((const __m256i *)y));
                    __m256i p1 = _mm256_maddubs_epi16(hi, _mm256_loadu_si256((const __m256i *)(y + 32)));
                    isum[c] = _mm256_add_epi32(isum[c], _mm256_add_epi32(_mm256_madd_epi16(p0, s0), _mm256_madd_epi16(p1, s1)));
                }
            }
            __m128 fi = _mm_cvtepi32_ps(reduce4_epi32(isum[0], isum[1], isum[2], isum[3]));
            UNROLL for (int c = 0; c < 4; c++)
                isum[c] = _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)xr[c][i].bsums), mins2);
            __m128 fm = _mm_cvtepi32_ps(reduce4_epi32(isum[0], isum[1], isum[2], isum[3]));
            acc[r] = _mm_fmadd_ps(_mm_mul_ps(dx, _mm_set1_ps(h2f(a->d))), fi, acc[r]);
            accm[r] = _mm_fmadd_ps(_mm_mul_ps(dx, _mm_set1_ps(h2f(a->dmin))), fm, accm[r]);
        }
    }
    UNROLL for (int r = 0; r < 4; r++) _mm_storeu_ps(s + r * ss, _mm_sub_ps(acc[r], accm[r]));
}

/* ---- Q5_K ---- */

/* Bit k of every byte of v moved to bit 4 (0x10), the rest cleared; shifts
 * of at most 4 never carry a bit across a byte into bit 4. */
static inline __m256i bit_to_16(__m256i v, int k)
{
    __m256i t = k <= 4 ? _mm256_slli_epi16(v, 4 - k) : _mm256_srli_epi16(v, k - 4);
    return _mm256_and_si256(t, _mm256_set1_epi8(0x10));
}

/* The 5-bit values of chunk c: *lo holds elements 64c..64c+31, *hi the next 32. */
static inline void unpack_q5_K(const block_q5_K *b, __m256i qh, int c, __m256i *lo, __m256i *hi)
{
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    __m256i q = _mm256_loadu_si256((const __m256i *)(b->qs + 32 * c));
    *lo = _mm256_or_si256(_mm256_and_si256(q, m4), bit_to_16(qh, 2 * c));
    *hi = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(q, 4), m4), bit_to_16(qh, 2 * c + 1));
}

static void q5_K_to_float(const void *restrict src, float *restrict dst, int64_t n)
{
    const block_q5_K *b = src;
    for (int64_t i = 0; i < n / QK_K; i++) {
        uint8_t sm[16];
        _mm_storeu_si128((__m128i *)sm, q4_K_scales_mins(b[i].scales));
        float d = h2f(b[i].d), dmin = h2f(b[i].dmin);
        __m256i qh = _mm256_loadu_si256((const __m256i *)b[i].qh);
        float *y = dst + i * QK_K;
        UNROLL for (int c = 0; c < 4; c++) {
            __m256i lo, hi;
            unpack_q5_K(&b[i], qh, c, &lo, &hi);
            store_affine_u8(lo, _mm256_set1_ps(d * (float)sm[2 * c]), _mm256_set1_ps(dmin * (float)sm[8 + 2 * c]),
                            y + 64 * c);
            store_affine_u8(hi, _mm256_set1_ps(d * (float)sm[2 * c + 1]),
                            _mm256_set1_ps(dmin * (float)sm[8 + 2 * c + 1]), y + 64 * c + 32);
        }
    }
}

/* 5-bit q times int8 y: pair sums reach 2*31*127 and still fit int16. */
static void q5_K_vec_dot(int64_t n, float *restrict s, const void *restrict w, const void *restrict x)
{
    const block_q5_K *a = w;
    const block_q8_K *b = x;
    __m256 acc = _mm256_setzero_ps(), accm = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / QK_K; i++) {
        __m128i sm = q4_K_scales_mins(a[i].scales);
        __m256i mins2 = _mm256_cvtepu8_epi16(_mm_unpackhi_epi8(sm, sm));
        __m256i mp = _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)b[i].bsums), mins2);
        __m256i sc = _mm256_broadcastsi128_si256(_mm_cvtepu8_epi16(sm));
        __m256i qh = _mm256_loadu_si256((const __m256i *)a[i].qh);
        __m256i isum = _mm256_setzero_si256();
        UNROLL for (int c = 0; c < 4; c++) {
            __m256i lo, hi;
            unpack_q5_K(&a[i], qh, c, &lo, &hi);
            const int8_t *y = b[i].qs + 64 * c;
            __m256i p0 = _mm256_maddubs_epi16(lo, _mm256_loadu_si256((const __m256i *)y));
            __m256i p1 = _mm256_maddubs_epi16(hi, _mm256_loadu_si256((const __m256i *)(y + 32)));
            isum = _mm256_add_epi32(isum, _mm256_madd_epi16(p0, BCAST16(sc, 2 * c)));
            isum = _mm256_add_epi32(isum, _mm256_madd_epi16(p1, BCAST16(sc, 2 * c + 1)));
        }
        float d = b[i].d * h2f(a[i].d), dmin = b[i].d * h2f(a[i].dmin);
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(isum), acc);
        accm = _mm256_fmadd_ps(_mm256_set1_ps(dmin), _mm256_cvtepi32_ps(mp), accm);
    }
    *s = hsum_ps(acc) - hsum_ps(accm);
}

static void q5_K_vec_dot_4x(int64_t n, float *s, size_t ss, const void *w, size_t wrb, const void *x, size_t xrb)
{
    const block_q5_K *wr[4];
    const block_q8_K *xr[4];
    UNROLL for (int r = 0; r < 4; r++) {
        wr[r] = (const block_q5_K *)((const char *)w + r * wrb);
        xr[r] = (const block_q8_K *)((const char *)x + r * xrb);
    }
    __m128 acc[4], accm[4];
    UNROLL for (int r = 0; r < 4; r++) acc[r] = accm[r] = _mm_setzero_ps();
    for (int64_t i = 0; i < n / QK_K; i++) {
        __m128 dx = _mm_setr_ps(xr[0][i].d, xr[1][i].d, xr[2][i].d, xr[3][i].d);
        for (int r = 0; r < 4; r++) {
            const block_q5_K *a = &wr[r][i];
            __m128i sm = q4_K_scales_mins(a->scales);
            __m256i mins2 = _mm256_cvtepu8_epi16(_mm_unpackhi_epi8(sm, sm));
            __m256i sc = _mm256_broadcastsi128_si256(_mm_cvtepu8_epi16(sm));
            __m256i qh = _mm256_loadu_si256((const __m256i *)a->qh);
            __m256i isum[4];
            UNROLL for (int c = 0; c < 4; c++) isum[c] = _mm256_setzero_si256();
            UNROLL for (int k = 0; k < 4; k++) {
                __m256i lo, hi;
                unpack_q5_K(a, qh, k, &lo, &hi);
                __m256i s0 = BCAST16(sc, 2 * k), s1 = BCAST16(sc, 2 * k + 1);
                UNROLL for (int c = 0; c < 4; c++) {
                    const int8_t *y = xr[c][i].qs + 64 * k;
                    __m256i p0 = _mm256_maddubs_epi16(lo, _mm256_loadu_si256((const __m256i *)y));
                    __m256i p1 = _mm256_maddubs_epi16(hi, _mm256_loadu_si256((const __m256i *)(y + 32)));
                    isum[c] = _mm256_add_epi32(isum[c], _mm256_add_epi32(_mm256_madd_epi16(p0, s0), _mm256_madd_epi16(p1, s1)));
                }
            }
            __m128 fi = _mm_cvtepi32_ps(reduce4_epi32(isum[0], isum[1], isum[2], isum[3]));
            UNROLL for (int c = 0; c < 4; c++)
                isum[c] = _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)xr[c][i].bsums), mins2);
            __m128 fm = _mm_cvtepi32_ps(reduce4_epi32(isum[0], isum[1], isum[2], isum[3]));
            acc[r] = _mm_fmadd_ps(_mm_mul_ps(dx, _mm_set1_ps(h2f(a->d))), fi, acc[r]);
            accm[r] = _mm_fmadd_ps(_mm_mul_ps(dx, _mm_set1_ps(h2f(a->dmin))), fm, accm[r]);
        }
    }
    UNROLL for (int r = 0; r < 4; r++) _mm_storeu_ps(s + r * ss, _mm_sub_ps(acc[r], accm[r]));
}

/* ---- Q6_K ---- */

/* The four 32-element groups of one 128-element half as unsigned 6-bit
 * values: q[k] holds elements 32k..32k+31. */
static inline void unpack_q6_K(const uint8_t *ql, const uint8_t *qh, __m256i q[4])
{
    const __m256i m4 = _mm256_set1_epi8(0x0F), m2 = _mm256_set1_epi8(0x30);
    __m256i l0 = _mm256_loadu_si256((const __m256i *)ql), l1 = _mm256_loadu_si256((const __m256i *)(ql + 32));
    __m256i h = _mm256_loadu_si256((const __m256i *)qh);
    q[0] = _mm256_or_si256(_mm256_and_si256(l0, m4), _mm256_and_si256(_mm256_slli_epi16(h, 4), m2));
    q[1] = _mm256_or_si256(_mm256_and_si256(l1, m4), _mm256_and_si256(_mm256_slli_epi16(h, 2), m2));
    q[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), m4), _mm256_and_si256(h, m2));
    q[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), m4), _mm256_and_si256(_mm256_srli_epi16(h, 2), m2));
}

/* Group k (elements 32k..32k+31) of one half, unsigned 6-bit. */
static inline __m256i q6_K_group(const uint8_t *ql, const uint8_t *qh, int k)
{
    const __m256i m4 = _mm256_set1_epi8(0x0F), m2 = _mm256_set1_epi8(0x30);
    __m256i l = _mm256_loadu_si256((const __m256i *)(ql + 32 * (k & 1)));
    __m256i h = _mm256_loadu_si256((const __m256i *)qh);
    l = k < 2 ? _mm256_and_si256(l, m4) : _mm256_and_si256(_mm256_srli_epi16(l, 4), m4);
    h = k == 0 ? _mm256_slli_epi16(h, 4) : k == 1 ? _mm256_slli_epi16(h, 2) : k == 2 ? h : _mm256_srli_epi16(h, 2);
    return _mm256_or_si256(l, _mm256_and_si256(h, m2));
}

static void q6_K_to_float(const void *restrict src, float *restrict dst, int64_t n)
{
    const block_q6_K *b = src;
    for (int64_t i = 0; i < n / QK_K; i++) {
        float d = h2f(b[i].d);
        UNROLL for (int h = 0; h < 2; h++) {
            __m256i q[4];
            unpack_q6_K(b[i].ql + 64 * h, b[i].qh + 32 * h, q);
            UNROLL for (int k = 0; k < 4; k++) {
                __m256i v = _mm256_sub_epi8(q[k], _mm256_set1_epi8(32));
                __m128i lo = _mm256_castsi256_si128(v), hi = _mm256_extracti128_si256(v, 1);
                float *y = dst + i * QK_K + 128 * h + 32 * k;
                __m256 d0 = _mm256_set1_ps(d * (float)b[i].scales[8 * h + 2 * k]);
                __m256 d1 = _mm256_set1_ps(d * (float)b[i].scales[8 * h + 2 * k + 1]);
                _mm256_storeu_ps(y, _mm256_mul_ps(d0, i8x8_ps(lo)));
                _mm256_storeu_ps(y + 8, _mm256_mul_ps(d0, i8x8_ps(_mm_srli_si128(lo, 8))));
                _mm256_storeu_ps(y + 16, _mm256_mul_ps(d1, i8x8_ps(hi)));
                _mm256_storeu_ps(y + 24, _mm256_mul_ps(d1, i8x8_ps(_mm_srli_si128(hi, 8))));
            }
        }
    }
}

/* For group k of a half: 16-bit scale 2k in the low 128 bits, 2k+1 in the
 * high 128 bits (maddubs lanes 0-7 cover elements 0-15 of the group). */
#define Q6_PICK(k) _mm256_add_epi8(_mm256_setr_epi8(0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 2, 3, 2, 3, 2, 3, \
                                                     2, 3, 2, 3, 2, 3, 2, 3, 2, 3),                             \
                                    _mm256_set1_epi8(4 * (k)))

/* int32 lanes of sum(scale*q*y) over one 128-element half (q unsigned). */
static inline __m256i q6_K_half(const uint8_t *ql, const uint8_t *qh, const int8_t *y, __m256i sc)
{
    __m256i q[4];
    unpack_q6_K(ql, qh, q);
    __m256i r = _mm256_madd_epi16(_mm256_maddubs_epi16(q[0], _mm256_loadu_si256((const __m256i *)y)),
                                  _mm256_shuffle_epi8(sc, Q6_PICK(0)));
    r = _mm256_add_epi32(r, _mm256_madd_epi16(_mm256_maddubs_epi16(q[1], _mm256_loadu_si256((const __m256i *)(y + 32))),
                                              _mm256_shuffle_epi8(sc, Q6_PICK(1))));
    r = _mm256_add_epi32(r, _mm256_madd_epi16(_mm256_maddubs_epi16(q[2], _mm256_loadu_si256((const __m256i *)(y + 64))),
                                              _mm256_shuffle_epi8(sc, Q6_PICK(2))));
    r = _mm256_add_epi32(r, _mm256_madd_epi16(_mm256_maddubs_epi16(q[3], _mm256_loadu_si256((const __m256i *)(y + 96))),
                                              _mm256_shuffle_epi8(sc, Q6_PICK(3))));
    return r;
}

static void q6_K_vec_dot(int64_t n, float *restrict s, const void *restrict w, const void *restrict x)
{
    const block_q6_K *a = w;
    const block_q8_K *b = x;
    __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / QK_K; i++) {
        __m256i sc = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)a[i].scales));
        /* the -32 offset of every q, applied once through the 16-sums */
        __m256i off = _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)b[i].bsums), sc);
        __m256i isum = _mm256_sub_epi32(
            q6_K_half(a[i].ql, a[i].qh, b[i].qs, _mm256_permute2x128_si256(sc, sc, 0x00)),
            _mm256_slli_epi32(off, 5));
        isum = _mm256_add_epi32(
            isum, q6_K_half(a[i].ql + 64, a[i].qh + 32, b[i].qs + 128, _mm256_permute2x128_si256(sc, sc, 0x11)));
        acc = _mm256_fmadd_ps(_mm256_set1_ps(h2f(a[i].d) * b[i].d), _mm256_cvtepi32_ps(isum), acc);
    }
    *s = hsum_ps(acc);
}

static void q6_K_vec_dot_4x(int64_t n, float *s, size_t ss, const void *w, size_t wrb, const void *x, size_t xrb)
{
    const block_q6_K *wr[4];
    const block_q8_K *xr[4];
    UNROLL for (int r = 0; r < 4; r++) {
        wr[r] = (const block_q6_K *)((const char *)w + r * wrb);
        xr[r] = (const block_q8_K *)((const char *)x + r * xrb);
    }
    __m128 acc[4];
    UNROLL for (int r = 0; r < 4; r++) acc[r] = _mm_setzero_ps();
    for (int64_t i = 0; i < n / QK_K; i++) {
        __m128 dx = _mm_setr_ps(xr[0][i].d, xr[1][i].d, xr[2][i].d, xr[3][i].d);
        for (int r = 0; r < 4; r++) {
            const block_q6_K *a = &wr[r][i];
            __m256i sc = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)a->scales));
            __m256i isum[4];
            UNROLL for (int c = 0; c < 4; c++)
                isum[c] = _mm256_sub_epi32(
                    _mm256_setzero_si256(),
                    _mm256_slli_epi32(_mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)xr[c][i].bsums), sc), 5));
            UNROLL for (int h = 0; h < 2; h++) {
                __m256i sch = h ? _mm256_permute2x128_si256(sc, sc, 0x11) : _mm256_permute2x128_si256(sc, sc, 0x00);
                UNROLL for (int k = 0; k < 4; k++) {
                    __m256i q = q6_K_group(a->ql + 64 * h, a->qh + 32 * h, k);
                    __m256i scale = _mm256_shuffle_epi8(sch, Q6_PICK(k));
                    UNROLL for (int c = 0; c < 4; c++) {
                        const int8_t *y = xr[c][i].qs + 128 * h + 32 * k;
                        __m256i p = _mm256_maddubs_epi16(q, _mm256_loadu_si256((const __m256i *)y));
                        isum[c] = _mm256_add_epi32(isum[c], _mm256_madd_epi16(p, scale));
                    }
                }
            }
            __m128 fi = _mm_cvtepi32_ps(reduce4_epi32(isum[0], isum[1], isum[2], isum[3]));
            acc[r] = _mm_fmadd_ps(_mm_mul_ps(dx, _mm_set1_ps(h2f(a->d))), fi, acc[r]);
        }
    }
    UNROLL for (int r = 0; r < 4; r++) _mm_storeu_ps(s + r * ss, acc[r]);
}

/* ---- Q3_K / Q2_K ---- */

/* The sixteen Q3_K scales minus 32 as int8: low nibbles from bytes 0-7 (low
 * halves for scales 0-7, high halves for 8-15), top two bits from bytes 8-11
 * at bit 2*(g/4) of byte 8 + g%4; four scales per 32-bit word. */
static inline __m128i q3_K_scales(const uint8_t *p)
{
    uint32_t u[3];
    memcpy(u, p, 12);
    const uint32_t m4 = 0x0F0F0F0F, m2 = 0x03030303;
    uint32_t s0 = (u[0] & m4) | ((u[2] & m2) << 4);
    uint32_t s1 = (u[1] & m4) | (((u[2] >> 2) & m2) << 4);
    uint32_t s2 = ((u[0] >> 4) & m4) | (((u[2] >> 4) & m2) << 4);
    uint32_t s3 = ((u[1] >> 4) & m4) | (((u[2] >> 6) & m2) << 4);
    return _mm_sub_epi8(_mm_setr_epi32((int)s0, (int)s1, (int)s2, (int)s3), _mm_set1_epi8(32));
}

/* Group j (elements 32j..32j+31) of half h of a Q2_K/Q3_K block: bits 2j,
 * 2j+1 of the 32 qs bytes of the half; for Q3_K plus bit 4h+j of hmask as
 * bit 2. Unsigned 0..3 or 0..7. */
static inline __m256i q2_group(__m256i q, int j) { return _mm256_and_si256(_mm256_srli_epi16(q, 2 * j), _mm256_set1_epi8(3)); }

static inline __m256i q3_group(__m256i q, __m256i hm, int h, int j)
{
    int k = 4 * h + j;
    __m256i hb = k <= 2 ? _mm256_slli_epi16(hm, 2 - k) : _mm256_srli_epi16(hm, k - 2);
    return _mm256_or_si256(q2_group(q, j), _mm256_and_si256(hb, _mm256_set1_epi8(4)));
}

/* 16 unsigned bytes to floats: y = d*q - m, eight at a time. */
static inline void store_affine_u8x16(__m128i q, float d, float m, float *y)
{
    __m256 vd = _mm256_set1_ps(d), vm = _mm256_set1_ps(m);
    _mm256_storeu_ps(y, _mm256_sub_ps(_mm256_mul_ps(vd, u8x8_ps(q)), vm));
    _mm256_storeu_ps(y + 8, _mm256_sub_ps(_mm256_mul_ps(vd, u8x8_ps(_mm_srli_si128(q, 8))), vm));
}

static void q3_K_to_float(const void *restrict src, float *restrict dst, int64_t n)
{
    const block_q3_K *b = src;
    for (int64_t i = 0; i < n / QK_K; i++) {
        int8_t sc[16];
        _mm_storeu_si128((__m128i *)sc, q3_K_scales(b[i].scales));
        float d = h2f(b[i].d);
        __m256i hm = _mm256_loadu_si256((const __m256i *)b[i].hmask);
        UNROLL for (int h = 0; h < 2; h++) {
            __m256i q = _mm256_loadu_si256((const __m256i *)(b[i].qs + 32 * h));
            UNROLL for (int j = 0; j < 4; j++) {
                __m256i v = _mm256_sub_epi8(q3_group(q, hm, h, j), _mm256_set1_epi8(4));
                __m128i lo = _mm256_castsi256_si128(v), hi = _mm256_extracti128_si256(v, 1);
                float *y = dst + i * QK_K + 128 * h + 32 * j;
                __m256 d0 = _mm256_set1_ps(d * (float)sc[8 * h + 2 * j]);
                __m256 d1 = _mm256_set1_ps(d * (float)sc[8 * h + 2 * j + 1]);
                _mm256_storeu_ps(y, _mm256_mul_ps(d0, i8x8_ps(lo)));
                _mm256_storeu_ps(y + 8, _mm256_mul_ps(d0, i8x8_ps(_mm_srli_si128(lo, 8))));
                _mm256_storeu_ps(y + 16, _mm256_mul_ps(d1, i8x8_ps(hi)));
                _mm256_storeu_ps(y + 24, _mm256_mul_ps(d1, i8x8_ps(_mm_srli_si128(hi, 8))));
            }
        }
    }
}

/* int32 lanes of sum over one Q3_K block of scale*(q-4)*y, the -4 applied
 * once through the 16-sums as Q6_K does with its -32. */
static inline __m256i q3_K_block_dot(const block_q3_K *a, const block_q8_K *b)
{
    __m256i sc = _mm256_cvtepi8_epi16(q3_K_scales(a->scales));
    __m256i off = _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)b->bsums), sc);
    __m256i isum = _mm256_sub_epi32(_mm256_setzero_si256(), _mm256_slli_epi32(off, 2));
    __m256i hm = _mm256_loadu_si256((const __m256i *)a->hmask);
    UNROLL for (int h = 0; h < 2; h++) {
        __m256i q = _mm256_loadu_si256((const __m256i *)(a->qs + 32 * h));
        __m256i sch = h ? _mm256_permute2x128_si256(sc, sc, 0x11) : _mm256_permute2x128_si256(sc, sc, 0x00);
        UNROLL for (int j = 0; j < 4; j++) {
            __m256i p = _mm256_maddubs_epi16(q3_group(q, hm, h, j),
                                             _mm256_loadu_si256((const __m256i *)(b->qs + 128 * h + 32 * j)));
            isum = _mm256_add_epi32(isum, _mm256_madd_epi16(p, _mm256_shuffle_epi8(sch, Q6_PICK(j))));
        }
    }
    return isum;
}

static void q3_K_vec_dot(int64_t n, float *restrict s, const void *restrict w, const void *restrict x)
{
    const block_q3_K *a = w;
    const block_q8_K *b = x;
    __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / QK_K; i++)
        acc = _mm256_fmadd_ps(_mm256_set1_ps(h2f(a[i].d) * b[i].d), _mm256_cvtepi32_ps(q3_K_block_dot(&a[i], &b[i])),
                              acc);
    *s = hsum_ps(acc);
}

static void q2_K_to_float(const void *restrict src, float *restrict dst, int64_t n)
{
    const block_q2_K *b = src;
    for (int64_t i = 0; i < n / QK_K; i++) {
        float d = h2f(b[i].d), dmin = h2f(b[i].dmin);
        UNROLL for (int h = 0; h < 2; h++) {
            __m256i q = _mm256_loadu_si256((const __m256i *)(b[i].qs + 32 * h));
            UNROLL for (int j = 0; j < 4; j++) {
                __m256i v = q2_group(q, j);
                int g = 8 * h + 2 * j;
                uint8_t s0 = b[i].scales[g], s1 = b[i].scales[g + 1];
                float *y = dst + i * QK_K + 128 * h + 32 * j;
                store_affine_u8x16(_mm256_castsi256_si128(v), d * (float)(s0 & 15), dmin * (float)(s0 >> 4), y);
                store_affine_u8x16(_mm256_extracti128_si256(v, 1), d * (float)(s1 & 15), dmin * (float)(s1 >> 4),
                                   y + 16);
            }
        }
    }
}

/* int32 lanes of sum(scale*q*y) over one Q2_K block; *mins gets the lanes of
 * sum(min*bsum). */
static inline __m256i q2_K_block_dot(const block_q2_K *a, const block_q8_K *b, __m256i *mins)
{
    __m128i raw = _mm_loadu_si128((const __m128i *)a->scales);
    __m128i m4 = _mm_set1_epi8(0x0F);
    __m256i sc = _mm256_cvtepu8_epi16(_mm_and_si128(raw, m4));
    __m256i mn = _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16(raw, 4), m4));
    *mins = _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)b->bsums), mn);
    __m256i isum = _mm256_setzero_si256();
    UNROLL for (int h = 0; h < 2; h++) {
        __m256i q = _mm256_loadu_si256((const __m256i *)(a->qs + 32 * h));
        __m256i sch = h ? _mm256_permute2x128_si256(sc, sc, 0x11) : _mm256_permute2x128_si256(sc, sc, 0x00);
        UNROLL for (int j = 0; j < 4; j++) {
            __m256i p = _mm256_maddubs_epi16(q2_group(q, j),
                                             _mm256_loadu_si256((const __m256i *)(b->qs + 128 * h + 32 * j)));
            isum = _mm256_add_epi32(isum, _mm256_madd_epi16(p, _mm256_shuffle_epi8(sch, Q6_PICK(j))));
        }
    }
    return isum;
}

static void q2_K_vec_dot(int64_t n, float *restrict s, const void *restrict w, const void *restrict x)
{
    const block_q2_K *a = w;
    const block_q8_K *b = x;
    __m256 acc = _mm256_setzero_ps(), accm = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / QK_K; i++) {
        __m256i mp;
        __m256i isum = q2_K_block_dot(&a[i], &b[i], &mp);
        acc = _mm256_fmadd_ps(_mm256_set1_ps(b[i].d * h2f(a[i].d)), _mm256_cvtepi32_ps(isum), acc);
        accm = _mm256_fmadd_ps(_mm256_set1_ps(b[i].d * h2f(a[i].dmin)), _mm256_cvtepi32_ps(mp), accm);
    }
    *s = hsum_ps(acc) - hsum_ps(accm);
}

/* Tiles of sixteen vectorised dots, for the types without a dedicated one. */
#define DOTS_4X(NAME, DOT)                                                                                    \
    static void NAME(int64_t n, float *s, size_t ss, const void *w, size_t wrb, const void *x, size_t xrb)    \
    {                                                                                                         \
        for (int r = 0; r < 4; r++)                                                                           \
            for (int c = 0; c < 4; c++)                                                                       \
                DOT(n, &s[(size_t)r * ss + (size_t)c], (const char *)w + (size_t)r * wrb,                     \
                    (const char *)x + (size_t)c * xrb);                                                       \
    }

DOTS_4X(q3_K_vec_dot_4x, q3_K_vec_dot)
DOTS_4X(q2_K_vec_dot_4x, q2_K_vec_dot)

/* ---- dense helpers ---- */

static void axpy_f32(int64_t n, float a, const float *x, float *y)
{
    __m256 va = _mm256_set1_ps(a);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i, _mm256_fmadd_ps(va, _mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i)));
    for (; i < n; i++) y[i] += a * x[i];
}

static void scale_f32(int64_t n, float a, float *x)
{
    __m256 va = _mm256_set1_ps(a);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(x + i, _mm256_mul_ps(va, _mm256_loadu_ps(x + i)));
    for (; i < n; i++) x[i] *= a;
}

void kernels_fill_avx2(rk_kernels *k)
{
    k->isa = RK_ISA_AVX2;
    k->ext = 0;
    rk_type_ops *o = k->ops;
    o[GGML_TYPE_F32].vec_dot = f32_vec_dot;
    o[GGML_TYPE_F32].vec_dot_4x = f32_vec_dot_4x;
    o[GGML_TYPE_F16].to_float = f16_to_float;
    o[GGML_TYPE_F16].from_float = f16_from_float;
    o[GGML_TYPE_F16].vec_dot = f16_vec_dot;
    o[GGML_TYPE_F16].vec_dot_4x = f16_vec_dot_4x;
    o[GGML_TYPE_BF16].to_float = bf16_to_float;
    o[GGML_TYPE_BF16].vec_dot = bf16_vec_dot;
    o[GGML_TYPE_BF16].vec_dot_4x = bf16_vec_dot_4x;
    o[GGML_TYPE_Q8_0].to_float = q8_0_to_float;
    o[GGML_TYPE_Q8_0].from_float = q8_0_from_float;
    o[GGML_TYPE_Q8_0].vec_dot = q8_0_vec_dot;
    o[GGML_TYPE_Q8_0].vec_dot_4x = q8_0_vec_dot_4x;
    o[GGML_TYPE_Q4_0].to_float = q4_0_to_float;
    o[GGML_TYPE_Q4_0].vec_dot = q4_0_vec_dot;
    o[GGML_TYPE_Q4_0].vec_dot_4x = q4_0_vec_dot_4x;
    o[GGML_TYPE_Q4_K].to_float = q4_K_to_float;
    o[GGML_TYPE_Q4_K].vec_dot = q4_K_vec_dot;
    o[GGML_TYPE_Q4_K].vec_dot_4x = q4_K_vec_dot_4x;
    o[GGML_TYPE_Q6_K].to_float = q6_K_to_float;
    o[GGML_TYPE_Q6_K].vec_dot = q6_K_vec_dot;
    o[GGML_TYPE_Q6_K].vec_dot_4x = q6_K_vec_dot_4x;
    o[GGML_TYPE_Q4_1].to_float = q4_1_to_float;
    o[GGML_TYPE_Q4_1].vec_dot = q4_1_vec_dot;
    o[GGML_TYPE_Q4_1].vec_dot_4x = q4_1_vec_dot_4x;
    o[GGML_TYPE_Q5_0].to_float = q5_0_to_float;
    o[GGML_TYPE_Q5_0].vec_dot = q5_0_vec_dot;
    o[GGML_TYPE_Q5_0].vec_dot_4x = q5_0_vec_dot_4x;
    o[GGML_TYPE_Q5_1].to_float = q5_1_to_float;
    o[GGML_TYPE_Q5_1].vec_dot = q5_1_vec_dot;
    o[GGML_TYPE_Q5_1].vec_dot_4x = q5_1_vec_dot_4x;
    o[GGML_TYPE_Q2_K].to_float = q2_K_to_float;
    o[GGML_TYPE_Q2_K].vec_dot = q2_K_vec_dot;
    o[GGML_TYPE_Q2_K].vec_dot_4x = q2_K_vec_dot_4x;
    o[GGML_TYPE_Q3_K].to_float = q3_K_to_float;
    o[GGML_TYPE_Q3_K].vec_dot = q3_K_vec_dot;
    o[GGML_TYPE_Q3_K].vec_dot_4x = q3_K_vec_dot_4x;
    o[GGML_TYPE_Q5_K].to_float = q5_K_to_float;
    o[GGML_TYPE_Q5_K].vec_dot = q5_K_vec_dot;
    o[GGML_TYPE_Q5_K].vec_dot_4x = q5_K_vec_dot_4x;
    o[GGML_TYPE_Q8_K].from_float = q8_K_from_float;
    k->vec = (rk_vec_ops){dot_f32, axpy_f32, scale_f32, fp16_to_f32, f32_to_fp16};
}
