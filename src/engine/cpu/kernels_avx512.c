/* AVX-512 (F/BW/VL/DQ) kernels, applied on top of the AVX2 tables: the hot
 * dots, the tiled prefill dots and the activation quantisers. Functions marked
 * VNNI use vpdpbusd/vpdpwssd and are installed only when kernels_dispatch.c
 * found AVX512-VNNI (k->ext). Integer sums per block are exact, as in the
 * reference; only the float accumulation order differs. */
#include "engine/cpu/kernels.h"

#include <immintrin.h>
#include <string.h>

#define VNNI __attribute__((target("avx512vnni")))

/* Small fixed loops over tile rows and columns must be unrolled so their
 * accumulators live in registers. */
#define UNROLL _Pragma("GCC unroll 4")

/* ---- helpers ---- */

static inline float h2f(rk_fp16 h) { return _cvtsh_ss(h); }

static inline __mmask16 tail_mask(int64_t left) { return left >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << left) - 1); }

/* Two adjacent 32-byte blocks' quants in one register; with only one block
 * left the upper half is zero (its scale is zero too). */
static inline __m512i load2_i8(const int8_t *a, const int8_t *b)
{
    __m512i v = _mm512_zextsi256_si512(_mm256_loadu_si256((const __m256i *)a));
    return b ? _mm512_inserti64x4(v, _mm256_loadu_si256((const __m256i *)b), 1) : v;
}

static inline __m512 scales2(float lo, float hi)
{
    return _mm512_insertf32x8(_mm512_set1_ps(lo), _mm256_set1_ps(hi), 1);
}

/* The nibbles of two blocks' 16 qs bytes as bytes 0..15 in element order:
 * each block's bytes are loaded twice and the second copy shifted by 4. */
static inline __m512i unpack2_nibbles(const uint8_t *a, const uint8_t *b)
{
    const __m512i shift = _mm512_setr_epi32(0, 0, 0, 0, 0x40004, 0x40004, 0x40004, 0x40004, 0, 0, 0, 0, 0x40004,
                                            0x40004, 0x40004, 0x40004);
    __m256i lo = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)a));
    __m512i v = _mm512_castsi256_si512(lo);
    v = b ? _mm512_inserti64x4(v, _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)b)), 1)
          : _mm512_inserti64x4(v, _mm256_setzero_si256(), 1);
    return _mm512_and_si512(_mm512_srlv_epi16(v, shift), _mm512_set1_epi8(0x0F));
}

static inline __m512i unpack2_q4_0(const block_q4_0 *a, const block_q4_0 *b)
{
    return unpack2_nibbles(a->qs, b ? b->qs : NULL);
}

/* Nibbles plus 16 where the block's qh bit is set: bit j of the two
 * little-endian qh words is exactly byte j of the register, a byte mask. */
static inline __m512i add_fifth_bits(__m512i q, const uint8_t *qha, const uint8_t *qhb)
{
    uint32_t lo, hi = 0;
    memcpy(&lo, qha, 4);
    if (qhb) memcpy(&hi, qhb, 4);
    return _mm512_mask_add_epi8(q, (__mmask64)lo | (__mmask64)hi << 32, q, _mm512_set1_epi8(16));
}

static inline __m512i unpack2_q5_0(const block_q5_0 *a, const block_q5_0 *b)
{
    return add_fifth_bits(unpack2_nibbles(a->qs, b ? b->qs : NULL), a->qh, b ? b->qh : NULL);
}

/* x with its sign flipped where w is negative (zero where w is zero does not
 * matter: |w| is zero there). */
static inline __m512i sign_like(__m512i x, __m512i w)
{
    return _mm512_mask_sub_epi8(x, _mm512_movepi8_mask(w), _mm512_setzero_si512(), x);
}

/* Sums of four adjacent u8*s8 products per int32 lane, for operands whose
 * pair sums fit int16 (|u| <= 127 with |s| <= 127, or u <= 15). */
static inline __m512i dot4(__m512i u, __m512i s)
{
    return _mm512_madd_epi16(_mm512_maddubs_epi16(u, s), _mm512_set1_epi16(1));
}

VNNI static inline __m512i dot4_vnni(__m512i acc, __m512i u, __m512i s) { return _mm512_dpbusd_epi32(acc, u, s); }

/* ---- F32 / F16 / BF16 ---- */

static float dot_f32(int64_t n, const float *a, const float *b)
{
    __m512 s0 = _mm512_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
    int64_t i = 0;
    for (; i + 64 <= n; i += 64) {
        s0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), s0);
        s1 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 16), _mm512_loadu_ps(b + i + 16), s1);
        s2 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 32), _mm512_loadu_ps(b + i + 32), s2);
        s3 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 48), _mm512_loadu_ps(b + i + 48), s3);
    }
    for (; i < n; i += 16) {
        __mmask16 m = tail_mask(n - i);
        s0 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, a + i), _mm512_maskz_loadu_ps(m, b + i), s0);
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(s0, s1), _mm512_add_ps(s2, s3)));
}

static void f32_vec_dot(int64_t n, float *restrict s, const void *restrict w, const void *restrict x)
{
    *s = dot_f32(n, w, x);
}

static inline __m512 load_h16(const rk_fp16 *p, __mmask16 m)
{
    return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, p));
}

static void f16_vec_dot(int64_t n, float *restrict s, const void *restrict w, const void *restrict x)
{
    const rk_fp16 *a = w;
    const float *b = x;
    __m512 s0 = _mm512_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
    int64_t i = 0;
    for (; i + 64 <= n; i += 64) {
        s0 = _mm512_fmadd_ps(load_h16(a + i, 0xFFFF), _mm512_loadu_ps(b + i), s0);
        s1 = _mm512_fmadd_ps(load_h16(a + i + 16, 0xFFFF), _mm512_loadu_ps(b + i + 16), s1);
        s2 = _mm512_fmadd_ps(load_h16(a + i + 32, 0xFFFF), _mm512_loadu_ps(b + i + 32), s2);
        s3 = _mm512_fmadd_ps(load_h16(a + i + 48, 0xFFFF), _mm512_loadu_ps(b + i + 48), s3);
    }
    for (; i < n; i += 16) {
        __mmask16 m = tail_mask(n - i);
        s0 = _mm512_fmadd_ps(load_h16(a + i, m), _mm512_maskz_loadu_ps(m, b + i), s0);
    }
    *s = _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(s0, s1), _mm512_add_ps(s2, s3)));
}

static inline __m512 load_bf16(const rk_bf16 *p, __mmask16 m)
{
    __m512i v = _mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(m, p));
    return _mm512_castsi512_ps(_mm512_slli_epi32(v, 16));
}

static void bf16_vec_dot(int64_t n, float *restrict s, const void *restrict w, const void *restrict x)
{
    const rk_bf16 *a = w;
    const float *b = x;
    __m512 s0 = _mm512_setzero_ps(), s1 = s0;
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        s0 = _mm512_fmadd_ps(load_bf16(a + i, 0xFFFF), _mm512_loadu_ps(b + i), s0);
        s1 = _mm512_fmadd_ps(load_bf16(a + i + 16, 0xFFFF), _mm512_loadu_ps(b + i + 16), s1);
    }
    for (; i < n; i += 16) {
        __mmask16 m = tail_mask(n - i);
        s0 = _mm512_fmadd_ps(load_bf16(a + i, m), _mm512_maskz_loadu_ps(m, b + i), s0);
    }
    *s = _mm512_reduce_add_ps(_mm512_add_ps(s0, s1));
}

static inline __m512 load_f16x(const float *p, __mmask16 m) { return _mm512_maskz_loadu_ps(m, p); }

/* All sixteen accumulators stay in registers (32 zmm): each weight vector is
 * converted once and used for four activation rows. */
#define DEF_FLOAT_4X(NAME, T, LOAD16)                                                                         \
    static void NAME(int64_t n, float *s, size_t ss, const void *w, size_t wrb, const void *x, size_t xrb)    \
    {                                                                                                         \
        const T *wr[4];                                                                                       \
        const float *xr[4];                                                                                   \
        UNROLL for (int r = 0; r < 4; r++) {                                                                         \
            wr[r] = (const T *)((const char *)w + r * wrb);                                                   \
            xr[r] = (const float *)((const char *)x + r * xrb);                                               \
        }                                                                                                     \
        __m512 acc[4][4];                                                                                     \
        UNROLL for (int r = 0; r < 4; r++)                                                                           \
            UNROLL for (int c = 0; c < 4; c++) acc[r][c] = _mm512_setzero_ps();                                     \
        for (int64_t i = 0; i < n; i += 16) {                                                                 \
            __mmask16 m = tail_mask(n - i);                                                                   \
            __m512 xv[4];                                                                                     \
            UNROLL for (int c = 0; c < 4; c++) xv[c] = _mm512_maskz_loadu_ps(m, xr[c] + i);                         \
            UNROLL for (int r = 0; r < 4; r++) {                                                                     \
                __m512 wv = LOAD16(wr[r] + i, m);                                                             \
                UNROLL for (int c = 0; c < 4; c++) acc[r][c] = _mm512_fmadd_ps(wv, xv[c], acc[r][c]);              \
            }                                                                                                 \
        }                                                                                                     \
        UNROLL for (int r = 0; r < 4; r++)                                                                           \
            UNROLL for (int c = 0; c < 4; c++) s[r * ss + c] = _mm512_reduce_add_ps(acc[r][c]);                      \
    }

DEF_FLOAT_4X(f32_vec_dot_4x, float, load_f16x)
DEF_FLOAT_4X(f16_vec_dot_4x, rk_fp16, load_h16)
DEF_FLOAT_4X(bf16_vec_dot_4x, rk_bf16, load_bf16)

/* ---- activation quantisers ---- */

static inline __m512 abs16(const float *x) { return _mm512_abs_ps(_mm512_loadu_ps(x)); }

/* 32 floats times id rounded to int8 (nearest, ties to even, as the
 * reference's nearbyintf in the default rounding mode). */
static inline __m256i quant32(const float *x, __m512 id)
{
    __m128i a = _mm512_cvtsepi32_epi8(_mm512_cvtps_epi32(_mm512_mul_ps(_mm512_loadu_ps(x), id)));
    __m128i b = _mm512_cvtsepi32_epi8(_mm512_cvtps_epi32(_mm512_mul_ps(_mm512_loadu_ps(x + 16), id)));
    return _mm256_set_m128i(b, a);
}

static void q8_0_from_float(const float *restrict src, void *restrict dst, int64_t n)
{
    block_q8_0 *b = dst;
    for (int64_t i = 0; i < n / QK8_0; i++) {
        const float *x = src + i * QK8_0;
        float amax = _mm512_reduce_max_ps(_mm512_max_ps(abs16(x), abs16(x + 16)));
        float d = amax / 127.0f;
        float id = d != 0 ? 1.0f / d : 0.0f;
        b[i].d = _cvtss_sh(d, _MM_FROUND_TO_NEAREST_INT);
        _mm256_storeu_si256((__m256i *)b[i].qs, quant32(x, _mm512_set1_ps(id)));
    }
}

static void q8_K_from_float(const float *restrict src, void *restrict dst, int64_t n)
{
    block_q8_K *b = dst;
    for (int64_t i = 0; i < n / QK_K; i++) {
        const float *x = src + i * QK_K;
        __m512 m = _mm512_setzero_ps();
        for (int j = 0; j < QK_K; j += 16) m = _mm512_max_ps(m, abs16(x + j));
        float amax = _mm512_reduce_max_ps(m);
        float id = amax != 0 ? 127.0f / amax : 0.0f;
        b[i].d = amax / 127.0f;
        __m512 vid = _mm512_set1_ps(id);
        for (int j = 0; j < QK_K; j += 64) {
            __m512i q = _mm512_inserti64x4(_mm512_castsi256_si512(quant32(x + j, vid)), quant32(x + j + 32, vid), 1);
            _mm512_storeu_si512(b[i].qs + j, q);
            /* sums of each 16 bytes: pairs to int16, then 4 to int32, then fold */
            __m512i s4 = _mm512_madd_epi16(_mm512_maddubs_epi16(_mm512_set1_epi8(1), q), _mm512_set1_epi16(1));
            __m256i s8 = _mm256_hadd_epi32(_mm512_castsi512_si256(s4), _mm512_extracti64x4_epi64(s4, 1));
            s8 = _mm256_hadd_epi32(s8, s8);
            /* lanes: {g0, g2, g0, g2 | g1, g3, g1, g3} for the four groups */
            b[i].bsums[j / 16] = (int16_t)_mm256_extract_epi32(s8, 0);
            b[i].bsums[j / 16 + 1] = (int16_t)_mm256_extract_epi32(s8, 4);
            b[i].bsums[j / 16 + 2] = (int16_t)_mm256_extract_epi32(s8, 1);
            b[i].bsums[j / 16 + 3] = (int16_t)_mm256_extract_epi32(s8, 5);
        }
    }
}

/* ---- Q8_0 ---- */

#define DEF_Q8_0_DOT(NAME, ATTR, DOT)                                                                         \
    ATTR static void NAME(int64_t n, float *restrict s, const void *restrict w, const void *restrict x)       \
    {                                                                                                         \
        const block_q8_0 *a = w, *b = x;                                                                      \
        const int64_t nb = n / QK8_0;                                                                         \
        __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();                                       \
        int64_t i = 0;                                                                                        \
        for (; i + 4 <= nb; i += 4) {                                                                         \
            __m512i w0 = load2_i8(a[i].qs, a[i + 1].qs), y0 = load2_i8(b[i].qs, b[i + 1].qs);                 \
            __m512i w1 = load2_i8(a[i + 2].qs, a[i + 3].qs), y1 = load2_i8(b[i + 2].qs, b[i + 3].qs);         \
            __m512i p0 = DOT(_mm512_abs_epi8(w0), sign_like(y0, w0));                                        \
            __m512i p1 = DOT(_mm512_abs_epi8(w1), sign_like(y1, w1));                                        \
            acc0 = _mm512_fmadd_ps(                                                                           \
                scales2(h2f(a[i].d) * h2f(b[i].d), h2f(a[i + 1].d) * h2f(b[i + 1].d)), _mm512_cvtepi32_ps(p0), \
                acc0);                                                                                        \
            acc1 = _mm512_fmadd_ps(scales2(h2f(a[i + 2].d) * h2f(b[i + 2].d), h2f(a[i + 3].d) * h2f(b[i + 3].d)), \
                                   _mm512_cvtepi32_ps(p1), acc1);                                             \
        }                                                                                                     \
        for (; i < nb; i += 2) {                                                                              \
            int two = i + 1 < nb;                                                                             \
            __m512i wv = load2_i8(a[i].qs, two ? a[i + 1].qs : NULL);                                         \
            __m512i yv = load2_i8(b[i].qs, two ? b[i + 1].qs : NULL);                                         \
            __m512i p = DOT(_mm512_abs_epi8(wv), sign_like(yv, wv));                                          \
            float s1 = two ? h2f(a[i + 1].d) * h2f(b[i + 1].d) : 0.0f;                                        \
            acc0 = _mm512_fmadd_ps(scales2(h2f(a[i].d) * h2f(b[i].d), s1), _mm512_cvtepi32_ps(p), acc0);      \
        }                                                                                                     \
        *s = _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1));                                                 \
    }

#define DOT_PLAIN(u, v) dot4(u, v)
#define DOT_VNNI(u, v) dot4_vnni(_mm512_setzero_si512(), u, v)
DEF_Q8_0_DOT(q8_0_vec_dot, , DOT_PLAIN)
DEF_Q8_0_DOT(q8_0_vec_dot_vnni, VNNI, DOT_VNNI)

/* Tiles over two blocks at a time: sixteen float accumulators, each weight
 * register used for four activation rows. The VNNI form feeds x+128 as the
 * unsigned operand and starts each sum at -128*sum(w), so one vpdpbusd per
 * pair is the whole integer dot. */
#define DEF_Q8_0_4X(NAME, ATTR, VNNI_FORM)                                                                    \
    ATTR static void NAME(int64_t n, float *s, size_t ss, const void *w, size_t wrb, const void *x, size_t xrb) \
    {                                                                                                         \
        const block_q8_0 *wr[4], *xr[4];                                                                      \
        UNROLL for (int r = 0; r < 4; r++) {                                                                         \
            wr[r] = (const block_q8_0 *)((const char *)w + r * wrb);                                          \
            xr[r] = (const block_q8_0 *)((const char *)x + r * xrb);                                          \
        }                                                                                                     \
        const int64_t nb = n / QK8_0;                                                                         \
        __m512 acc[4][4];                                                                                     \
        UNROLL for (int r = 0; r < 4; r++)                                                                           \
            UNROLL for (int c = 0; c < 4; c++) acc[r][c] = _mm512_setzero_ps();                                     \
        for (int64_t i = 0; i < nb; i += 2) {                                                                 \
            int two = i + 1 < nb;                                                                             \
            __m512i xv[4];                                                                                    \
            __m512 dx[4];                                                                                     \
            UNROLL for (int c = 0; c < 4; c++) {                                                                     \
                xv[c] = load2_i8(xr[c][i].qs, two ? xr[c][i + 1].qs : NULL);                                  \
                if (VNNI_FORM) xv[c] = _mm512_xor_si512(xv[c], _mm512_set1_epi8(-128));                        \
                dx[c] = scales2(h2f(xr[c][i].d), two ? h2f(xr[c][i + 1].d) : 0.0f);                           \
            }                                                                                                 \
            UNROLL for (int r = 0; r < 4; r++) {                                                                     \
                __m512i wv = load2_i8(wr[r][i].qs, two ? wr[r][i + 1].qs : NULL);                             \
                __m512 dw = scales2(h2f(wr[r][i].d), two ? h2f(wr[r][i + 1].d) : 0.0f);                       \
                Q8_0_4X_ROW_##VNNI_FORM                                                                      \
            }                                                                                                 \
        }                                                                                                     \
        UNROLL for (int r = 0; r < 4; r++)                                                                           \
            UNROLL for (int c = 0; c < 4; c++) s[r * ss + c] = _mm512_reduce_add_ps(acc[r][c]);                      \
    }

#define Q8_0_4X_ROW_0                                                                                         \
    {                                                                                                         \
        __m512i aw = _mm512_abs_epi8(wv);                                                                     \
        __mmask64 neg = _mm512_movepi8_mask(wv);                                                              \
        UNROLL for (int c = 0; c < 4; c++) {                                                                         \
            __m512i sx = _mm512_mask_sub_epi8(xv[c], neg, _mm512_setzero_si512(), xv[c]);                     \
            acc[r][c] = _mm512_fmadd_ps(_mm512_mul_ps(dw, dx[c]), _mm512_cvtepi32_ps(dot4(aw, sx)), acc[r][c]); \
        }                                                                                                     \
    }
#define Q8_0_4X_ROW_1                                                                                         \
    {                                                                                                         \
        __m512i base = _mm512_sub_epi32(_mm512_setzero_si512(),                                               \
                                        _mm512_dpbusd_epi32(_mm512_setzero_si512(), _mm512_set1_epi8(-128), wv)); \
        UNROLL for (int c = 0; c < 4; c++) {                                                                         \
            __m512i p = _mm512_dpbusd_epi32(base, xv[c], wv);                                                 \
            acc[r][c] = _mm512_fmadd_ps(_mm512_mul_ps(dw, dx[c]), _mm512_cvtepi32_ps(p), acc[r][c]);          \
        }                                                                                                     \
    }

DEF_Q8_0_4X(q8_0_vec_dot_4x, , 0)
DEF_Q8_0_4X(q8_0_vec_dot_4x_vnni, VNNI, 1)

/* ---- Q4_0 ---- */

/* sum((q-off)*y) per int32 lane: q*y and off*y pair sums both fit int16
 * for q <= 31, off <= 16. */
static inline __m512i dot_off(__m512i q, __m512i y, char off)
{
    __m512i p = _mm512_sub_epi16(_mm512_maddubs_epi16(q, y), _mm512_maddubs_epi16(_mm512_set1_epi8(off), y));
    return _mm512_madd_epi16(p, _mm512_set1_epi16(1));
}

VNNI static inline __m512i dot_off_vnni(__m512i q, __m512i y, char off)
{
    __m512i base = _mm512_sub_epi32(_mm512_setzero_si512(),
                                    _mm512_dpbusd_epi32(_mm512_setzero_si512(), _mm512_set1_epi8(off), y));
    return _mm512_dpbusd_epi32(base, q, y);
}

static inline __m512i dot_q4_0(__m512i q, __m512i y) { return dot_off(q, y, 8); }
VNNI static inline __m512i dot_q4_0_vnni(__m512i q, __m512i y) { return dot_off_vnni(q, y, 8); }
static inline __m512i dot_q5_0(__m512i q, __m512i y) { return dot_off(q, y, 16); }
VNNI static inline __m512i dot_q5_0_vnni(__m512i q, __m512i y) { return dot_off_vnni(q, y, 16); }

/* Q4_0 and Q5_0 (BLOCK, its two-block UNPACK2 and its DOT with the offset). */
#define DEF_Q4_0_DOT(NAME, ATTR, DOT, BLOCK, UNPACK2)                                                         \
    ATTR static void NAME(int64_t n, float *restrict s, const void *restrict w, const void *restrict x)       \
    {                                                                                                         \
        const BLOCK *a = w;                                                                                   \
        const block_q8_0 *b = x;                                                                              \
        const int64_t nb = n / QK4_0;                                                                         \
        __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();                                       \
        int64_t i = 0;                                                                                        \
        for (; i + 4 <= nb; i += 4) {                                                                         \
            __m512i p0 = DOT(UNPACK2(&a[i], &a[i + 1]), load2_i8(b[i].qs, b[i + 1].qs));                      \
            __m512i p1 = DOT(UNPACK2(&a[i + 2], &a[i + 3]), load2_i8(b[i + 2].qs, b[i + 3].qs));              \
            acc0 = _mm512_fmadd_ps(                                                                           \
                scales2(h2f(a[i].d) * h2f(b[i].d), h2f(a[i + 1].d) * h2f(b[i + 1].d)), _mm512_cvtepi32_ps(p0), \
                acc0);                                                                                        \
            acc1 = _mm512_fmadd_ps(scales2(h2f(a[i + 2].d) * h2f(b[i + 2].d), h2f(a[i + 3].d) * h2f(b[i + 3].d)), \
                                   _mm512_cvtepi32_ps(p1), acc1);                                             \
        }                                                                                                     \
        for (; i < nb; i += 2) {                                                                              \
            int two = i + 1 < nb;                                                                             \
            __m512i p = DOT(UNPACK2(&a[i], two ? &a[i + 1] : NULL),                                           \
                            load2_i8(b[i].qs, two ? b[i + 1].qs : NULL));                                     \
            float s1 = two ? h2f(a[i + 1].d) * h2f(b[i + 1].d) : 0.0f;                                        \
            acc0 = _mm512_fmadd_ps(scales2(h2f(a[i].d) * h2f(b[i].d), s1), _mm512_cvtepi32_ps(p), acc0);      \
        }                                                                                                     \
        *s = _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1));                                                 \
    }

DEF_Q4_0_DOT(q4_0_vec_dot, , dot_q4_0, block_q4_0, unpack2_q4_0)
DEF_Q4_0_DOT(q4_0_vec_dot_vnni, VNNI, dot_q4_0_vnni, block_q4_0, unpack2_q4_0)
DEF_Q4_0_DOT(q5_0_vec_dot, , dot_q5_0, block_q5_0, unpack2_q5_0)
DEF_Q4_0_DOT(q5_0_vec_dot_vnni, VNNI, dot_q5_0_vnni, block_q5_0, unpack2_q5_0)

/* The off*y term depends only on the activation row: computed once per column. */
#define DEF_Q4_0_4X(NAME, ATTR, VNNI_FORM, BLOCK, UNPACK2, OFF)                                               \
    ATTR static void NAME(int64_t n, float *s, size_t ss, const void *w, size_t wrb, const void *x, size_t xrb) \
    {                                                                                                         \
        const BLOCK *wr[4];                                                                                   \
        const block_q8_0 *xr[4];                                                                              \
        UNROLL for (int r = 0; r < 4; r++) {                                                                         \
            wr[r] = (const BLOCK *)((const char *)w + r * wrb);                                               \
            xr[r] = (const block_q8_0 *)((const char *)x + r * xrb);                                          \
        }                                                                                                     \
        const int64_t nb = n / QK4_0;                                                                         \
        __m512 acc[4][4];                                                                                     \
        UNROLL for (int r = 0; r < 4; r++)                                                                           \
            UNROLL for (int c = 0; c < 4; c++) acc[r][c] = _mm512_setzero_ps();                                     \
        for (int64_t i = 0; i < nb; i += 2) {                                                                 \
            int two = i + 1 < nb;                                                                             \
            __m512i xv[4], x8[4];                                                                             \
            __m512 dx[4];                                                                                     \
            UNROLL for (int c = 0; c < 4; c++) {                                                                     \
                xv[c] = load2_i8(xr[c][i].qs, two ? xr[c][i + 1].qs : NULL);                                  \
                Q4_0_4X_X8_##VNNI_FORM(OFF);                                                                  \
                dx[c] = scales2(h2f(xr[c][i].d), two ? h2f(xr[c][i + 1].d) : 0.0f);                           \
            }                                                                                                 \
            UNROLL for (int r = 0; r < 4; r++) {                                                                     \
                __m512i q = UNPACK2(&wr[r][i], two ? &wr[r][i + 1] : NULL);                                   \
                __m512 dw = scales2(h2f(wr[r][i].d), two ? h2f(wr[r][i + 1].d) : 0.0f);                       \
                UNROLL for (int c = 0; c < 4; c++) {                                                                 \
                    __m512i p = Q4_0_4X_DOT_##VNNI_FORM;                                                      \
                    acc[r][c] = _mm512_fmadd_ps(_mm512_mul_ps(dw, dx[c]), _mm512_cvtepi32_ps(p), acc[r][c]);  \
                }                                                                                             \
            }                                                                                                 \
        }                                                                                                     \
        UNROLL for (int r = 0; r < 4; r++)                                                                           \
            UNROLL for (int c = 0; c < 4; c++) s[r * ss + c] = _mm512_reduce_add_ps(acc[r][c]);                      \
    }

#define Q4_0_4X_X8_0(OFF) x8[c] = _mm512_maddubs_epi16(_mm512_set1_epi8(OFF), xv[c])
#define Q4_0_4X_DOT_0 _mm512_madd_epi16(_mm512_sub_epi16(_mm512_maddubs_epi16(q, xv[c]), x8[c]), _mm512_set1_epi16(1))
#define Q4_0_4X_X8_1(OFF)                                                                                     \
    x8[c] = _mm512_sub_epi32(_mm512_setzero_si512(),                                                          \
                             _mm512_dpbusd_epi32(_mm512_setzero_si512(), _mm512_set1_epi8(OFF), xv[c]))
#define Q4_0_4X_DOT_1 _mm512_dpbusd_epi32(x8[c], q, xv[c])

DEF_Q4_0_4X(q4_0_vec_dot_4x, , 0, block_q4_0, unpack2_q4_0, 8)
DEF_Q4_0_4X(q4_0_vec_dot_4x_vnni, VNNI, 1, block_q4_0, unpack2_q4_0, 8)
DEF_Q4_0_4X(q5_0_vec_dot_4x, , 0, block_q5_0, unpack2_q5_0, 16)
DEF_Q4_0_4X(q5_0_vec_dot_4x_vnni, VNNI, 1, block_q5_0, unpack2_q5_0, 16)

/* ---- Q4_1 / Q5_1 ---- */

static inline __m512i unpack2_q4_1(const block_q4_1 *a, const block_q4_1 *b)
{
    return unpack2_nibbles(a->qs, b ? b->qs : NULL);
}

static inline __m512i unpack2_q5_1(const block_q5_1 *a, const block_q5_1 *b)
{
    return add_fifth_bits(unpack2_nibbles(a->qs, b ? b->qs : NULL), a->qh, b ? b->qh : NULL);
}

/* int32 lanes of sum(y) */
static inline __m512i sum_i8(__m512i y) { return dot4(_mm512_set1_epi8(1), y); }
VNNI static inline __m512i sum_i8_vnni(__m512i y)
{
    return _mm512_dpbusd_epi32(_mm512_setzero_si512(), _mm512_set1_epi8(1), y);
}
#define DOT_U_PLAIN(q, y) dot4(q, y)
#define DOT_U_VNNI(q, y) _mm512_dpbusd_epi32(_mm512_setzero_si512(), q, y)

/* d*dy*sum(q*y) + m*dy*sum(y) per block, two blocks per register. */
#define DEF_AFFINE_DOT(NAME, ATTR, BLOCK, UNPACK2, DOT, SUM)                                                  \
    ATTR static void NAME(int64_t n, float *restrict s, const void *restrict w, const void *restrict x)       \
    {                                                                                                         \
        const BLOCK *a = w;                                                                                   \
        const block_q8_0 *b = x;                                                                              \
        const int64_t nb = n / 32;                                                                            \
        __m512 acc = _mm512_setzero_ps(), accm = _mm512_setzero_ps();                                        \
        for (int64_t i = 0; i < nb; i += 2) {                                                                 \
            int two = i + 1 < nb;                                                                             \
            __m512i q = UNPACK2(&a[i], two ? &a[i + 1] : NULL);                                               \
            __m512i y = load2_i8(b[i].qs, two ? b[i + 1].qs : NULL);                                          \
            float dy0 = h2f(b[i].d), dy1 = two ? h2f(b[i + 1].d) : 0.0f;                                      \
            float d1 = two ? h2f(a[i + 1].d) * dy1 : 0.0f, m1 = two ? h2f(a[i + 1].m) * dy1 : 0.0f;           \
            acc = _mm512_fmadd_ps(scales2(h2f(a[i].d) * dy0, d1), _mm512_cvtepi32_ps(DOT(q, y)), acc);        \
            accm = _mm512_fmadd_ps(scales2(h2f(a[i].m) * dy0, m1), _mm512_cvtepi32_ps(SUM(y)), accm);         \
        }                                                                                                     \
        *s = _mm512_reduce_add_ps(_mm512_add_ps(acc, accm));                                                  \
    }

DEF_AFFINE_DOT(q4_1_vec_dot, , block_q4_1, unpack2_q4_1, DOT_U_PLAIN, sum_i8)
DEF_AFFINE_DOT(q4_1_vec_dot_vnni, VNNI, block_q4_1, unpack2_q4_1, DOT_U_VNNI, sum_i8_vnni)
DEF_AFFINE_DOT(q5_1_vec_dot, , block_q5_1, unpack2_q5_1, DOT_U_PLAIN, sum_i8)
DEF_AFFINE_DOT(q5_1_vec_dot_vnni, VNNI, block_q5_1, unpack2_q5_1, DOT_U_VNNI, sum_i8_vnni)

/* Tiles as for Q4_0; the m term adds m[r] * (dy[c] * sum(y[c])), the
 * bracket computed once per column. */
#define DEF_AFFINE_4X(NAME, ATTR, BLOCK, UNPACK2, DOT, SUM)                                                   \
    ATTR static void NAME(int64_t n, float *s, size_t ss, const void *w, size_t wrb, const void *x, size_t xrb) \
    {                                                                                                         \
        const BLOCK *wr[4];                                                                                   \
        const block_q8_0 *xr[4];                                                                              \
        UNROLL for (int r = 0; r < 4; r++) {                                                                  \
            wr[r] = (const BLOCK *)((const char *)w + r * wrb);                                               \
            xr[r] = (const block_q8_0 *)((const char *)x + r * xrb);                                          \
        }                                                                                                     \
        const int64_t nb = n / 32;                                                                            \
        __m512 acc[4][4];                                                                                     \
        UNROLL for (int r = 0; r < 4; r++)                                                                    \
            UNROLL for (int c = 0; c < 4; c++) acc[r][c] = _mm512_setzero_ps();                              \
        for (int64_t i = 0; i < nb; i += 2) {                                                                 \
            int two = i + 1 < nb;                                                                             \
            __m512i xv[4];                                                                                    \
            __m512 dx[4], ym[4];                                                                              \
            UNROLL for (int c = 0; c < 4; c++) {                                                              \
                xv[c] = load2_i8(xr[c][i].qs, two ? xr[c][i + 1].qs : NULL);                                  \
                dx[c] = scales2(h2f(xr[c][i].d), two ? h2f(xr[c][i + 1].d) : 0.0f);                           \
                ym[c] = _mm512_mul_ps(dx[c], _mm512_cvtepi32_ps(SUM(xv[c])));                                 \
            }                                                                                                 \
            UNROLL for (int r = 0; r < 4; r++) {                                                              \
                __m512i q = UNPACK2(&wr[r][i], two ? &wr[r][i + 1] : NULL);                                   \
                __m512 dw = scales2(h2f(wr[r][i].d), two ? h2f(wr[r][i + 1].d) : 0.0f);                       \
                __m512 mw = scales2(h2f(wr[r][i].m), two ? h2f(wr[r][i + 1].m) : 0.0f);                       \
                UNROLL for (int c = 0; c < 4; c++) {                                                          \
                    __m512 p = _mm512_cvtepi32_ps(DOT(q, xv[c]));                                             \
                    acc[r][c] = _mm512_fmadd_ps(_mm512_mul_ps(dw, dx[c]), p, acc[r][c]);                      \
                    acc[r][c] = _mm512_fmadd_ps(mw, ym[c], acc[r][c]);                                        \
                }                                                                                             \
            }                                                                                                 \
        }                                                                                                     \
        UNROLL for (int r = 0; r < 4; r++)                                                                    \
            UNROLL for (int c = 0; c < 4; c++) s[r * ss + c] = _mm512_reduce_add_ps(acc[r][c]);              \
    }

DEF_AFFINE_4X(q4_1_vec_dot_4x, , block_q4_1, unpack2_q4_1, DOT_U_PLAIN, sum_i8)
DEF_AFFINE_4X(q4_1_vec_dot_4x_vnni, VNNI, block_q4_1, unpack2_q4_1, DOT_U_VNNI, sum_i8_vnni)
DEF_AFFINE_4X(q5_1_vec_dot_4x, , block_q5_1, unpack2_q5_1, DOT_U_PLAIN, sum_i8)
DEF_AFFINE_4X(q5_1_vec_dot_4x_vnni, VNNI, block_q5_1, unpack2_q5_1, DOT_U_VNNI, sum_i8_vnni)

/* ---- Q4_K ---- */

/* Scales (bytes 0-7) and mins (bytes 8-15) of a Q4_K block, unpacked four
 * at a time in 32-bit words (see kernels_avx2.c). */
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

static inline float hsum256(__m256 v)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* 16-bit lanes [v[a] x16 | v[b] x16]. */
#define PICK2(v, a, b) \
    _mm512_permutexvar_epi16(_mm512_inserti64x4(_mm512_set1_epi16(a), _mm256_set1_epi16(b), 1), (v))

static inline __m512i madd_acc(__m512i acc, __m512i p, __m512i sc)
{
    return _mm512_add_epi32(acc, _mm512_madd_epi16(p, sc));
}

VNNI static inline __m512i madd_acc_vnni(__m512i acc, __m512i p, __m512i sc) { return _mm512_dpwssd_epi32(acc, p, sc); }

/* One register holds two 32-byte chunks of qs: its low nibbles are
 * sub-blocks 2c and 2c+2, its high nibbles 2c+1 and 2c+3. */
#define Q4_K_PAIR(c, MADD_ACC)                                                                                        \
    {                                                                                                         \
        __m512i q = _mm512_loadu_si512(a[i].qs + 32 * (c));                                                   \
        const int8_t *y = b[i].qs + 64 * (c);                                                                 \
        __m512i plo = _mm512_maddubs_epi16(_mm512_and_si512(q, m4), load2_i8(y, y + 64));                     \
        __m512i phi = _mm512_maddubs_epi16(_mm512_and_si512(_mm512_srli_epi16(q, 4), m4), load2_i8(y + 32, y + 96)); \
        isum = MADD_ACC(isum, plo, PICK2(sc, 2 * (c), 2 * (c) + 2));                                          \
        isum = MADD_ACC(isum, phi, PICK2(sc, 2 * (c) + 1, 2 * (c) + 3));                                      \
    }

#define DEF_Q4_K_DOT(NAME, ATTR, MADD_ACC)                                                                    \
    ATTR static void NAME(int64_t n, float *restrict s, const void *restrict w, const void *restrict x)       \
    {                                                                                                         \
        const block_q4_K *a = w;                                                                              \
        const block_q8_K *b = x;                                                                              \
        const __m512i m4 = _mm512_set1_epi8(0x0F);                                                            \
        __m512 acc = _mm512_setzero_ps();                                                                     \
        __m256 accm = _mm256_setzero_ps();                                                                    \
        for (int64_t i = 0; i < n / QK_K; i++) {                                                              \
            __m128i sm = q4_K_scales_mins(a[i].scales);                                                       \
            __m256i mins2 = _mm256_cvtepu8_epi16(_mm_unpackhi_epi8(sm, sm));                                  \
            __m256i mp = _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)b[i].bsums), mins2);           \
            __m512i sc = _mm512_castsi128_si512(_mm_cvtepu8_epi16(sm));                                       \
            __m512i isum = _mm512_setzero_si512();                                                            \
            Q4_K_PAIR(0, MADD_ACC)                                                                                   \
            Q4_K_PAIR(2, MADD_ACC)                                                                                   \
            float d = b[i].d * h2f(a[i].d), dmin = b[i].d * h2f(a[i].dmin);                                   \
            acc = _mm512_fmadd_ps(_mm512_set1_ps(d), _mm512_cvtepi32_ps(isum), acc);                          \
            accm = _mm256_fmadd_ps(_mm256_set1_ps(dmin), _mm256_cvtepi32_ps(mp), accm);                       \
        }                                                                                                     \
        *s = _mm512_reduce_add_ps(acc) - hsum256(accm);                                                      \
    }

DEF_Q4_K_DOT(q4_K_vec_dot, , madd_acc)
DEF_Q4_K_DOT(q4_K_vec_dot_vnni, VNNI, madd_acc_vnni)

/* {sum a, sum b, sum c, sum d} of four vectors' int32 lanes. */
static inline __m128i reduce4_epi32(__m512i a, __m512i b, __m512i c, __m512i d)
{
#define FOLD(v) _mm256_add_epi32(_mm512_castsi512_si256(v), _mm512_extracti64x4_epi64(v, 1))
    __m256i h = _mm256_hadd_epi32(_mm256_hadd_epi32(FOLD(a), FOLD(b)), _mm256_hadd_epi32(FOLD(c), FOLD(d)));
#undef FOLD
    return _mm_add_epi32(_mm256_castsi256_si128(h), _mm256_extracti128_si256(h, 1));
}

static inline __m128i reduce4_epi32_256(__m256i a, __m256i b, __m256i c, __m256i d)
{
    __m256i h = _mm256_hadd_epi32(_mm256_hadd_epi32(a, b), _mm256_hadd_epi32(c, d));
    return _mm_add_epi32(_mm256_castsi256_si128(h), _mm256_extracti128_si256(h, 1));
}

/* Two nibble chunks of weight row r against the four activation rows. */
#define Q4_K_4X_PAIR(k, MADD_ACC)                                                                             \
    {                                                                                                         \
        __m512i q = _mm512_loadu_si512(a->qs + 32 * (k));                                                     \
        __m512i lo = _mm512_and_si512(q, m4), hi = _mm512_and_si512(_mm512_srli_epi16(q, 4), m4);             \
        __m512i slo = PICK2(sc, 2 * (k), 2 * (k) + 2), shi = PICK2(sc, 2 * (k) + 1, 2 * (k) + 3);             \
        UNROLL for (int c = 0; c < 4; c++) {                                                                         \
            const int8_t *y = xr[c][i].qs + 64 * (k);                                                         \
            isum[c] = MADD_ACC(isum[c], _mm512_maddubs_epi16(lo, load2_i8(y, y + 64)), slo);                  \
            isum[c] = MADD_ACC(isum[c], _mm512_maddubs_epi16(hi, load2_i8(y + 32, y + 96)), shi);             \
        }                                                                                                     \
    }

#define DEF_Q4_K_4X(NAME, ATTR, MADD_ACC)                                                                     \
    ATTR static void NAME(int64_t n, float *s, size_t ss, const void *w, size_t wrb, const void *x, size_t xrb) \
    {                                                                                                         \
        const block_q4_K *wr[4];                                                                              \
        const block_q8_K *xr[4];                                                                              \
        UNROLL for (int r = 0; r < 4; r++) {                                                                         \
            wr[r] = (const block_q4_K *)((const char *)w + r * wrb);                                          \
            xr[r] = (const block_q8_K *)((const char *)x + r * xrb);                                          \
        }                                                                                                     \
        const __m512i m4 = _mm512_set1_epi8(0x0F);                                                            \
        __m128 acc[4], accm[4];                                                                               \
        UNROLL for (int r = 0; r < 4; r++) acc[r] = accm[r] = _mm_setzero_ps();                                      \
        for (int64_t i = 0; i < n / QK_K; i++) {                                                              \
            __m128 dx = _mm_setr_ps(xr[0][i].d, xr[1][i].d, xr[2][i].d, xr[3][i].d);                         \
            UNROLL for (int r = 0; r < 4; r++) {                                                                     \
                const block_q4_K *a = &wr[r][i];                                                              \
                __m128i sm = q4_K_scales_mins(a->scales);                                                     \
                __m256i mins2 = _mm256_cvtepu8_epi16(_mm_unpackhi_epi8(sm, sm));                              \
                __m512i sc = _mm512_castsi128_si512(_mm_cvtepu8_epi16(sm));                                   \
                __m512i isum[4];                                                                              \
                __m256i msum[4];                                                                              \
                UNROLL for (int c = 0; c < 4; c++) {                                                                 \
                    isum[c] = _mm512_setzero_si512();                                                         \
                    msum[c] = _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)xr[c][i].bsums), mins2);  \
                }                                                                                             \
                Q4_K_4X_PAIR(0, MADD_ACC)                                                                     \
                Q4_K_4X_PAIR(2, MADD_ACC)                                                                     \
                __m128 fi = _mm_cvtepi32_ps(reduce4_epi32(isum[0], isum[1], isum[2], isum[3]));               \
                __m128 fm = _mm_cvtepi32_ps(reduce4_epi32_256(msum[0], msum[1], msum[2], msum[3]));           \
                acc[r] = _mm_fmadd_ps(_mm_mul_ps(dx, _mm_set1_ps(h2f(a->d))), fi, acc[r]);                    \
                accm[r] = _mm_fmadd_ps(_mm_mul_ps(dx, _mm_set1_ps(h2f(a->dmin))), fm, accm[r]);               \
            }                                                                                                 \
        }                                                                                                     \
        UNROLL for (int r = 0; r < 4; r++) _mm_storeu_ps(s + r * ss, _mm_sub_ps(acc[r], accm[r]));                   \
    }

DEF_Q4_K_4X(q4_K_vec_dot_4x, , madd_acc)
DEF_Q4_K_4X(q4_K_vec_dot_4x_vnni, VNNI, madd_acc_vnni)

/* ---- Q5_K ---- */

/* Bytes [1 << a x32 | 1 << b x32]: which qh bit each half of a register tests. */
#define SEL2(a, b) _mm512_inserti64x4(_mm512_set1_epi8((char)(1u << (a))), _mm256_set1_epi8((char)(1u << (b))), 1)

/* As Q4_K_PAIR, with 16 added to each quant whose qh bit is set: the low
 * nibbles of chunks c, c+1 test bits 2c, 2c+2, the high ones 2c+1, 2c+3. */
#define Q5_K_PAIR(c, MADD_ACC)                                                                                \
    {                                                                                                         \
        __m512i q = _mm512_loadu_si512(a[i].qs + 32 * (c));                                                   \
        const int8_t *y = b[i].qs + 64 * (c);                                                                 \
        __m512i lo = _mm512_and_si512(q, m4), hi = _mm512_and_si512(_mm512_srli_epi16(q, 4), m4);             \
        lo = _mm512_mask_add_epi8(lo, _mm512_test_epi8_mask(qh, SEL2(2 * (c), 2 * (c) + 2)), lo, sixteen);    \
        hi = _mm512_mask_add_epi8(hi, _mm512_test_epi8_mask(qh, SEL2(2 * (c) + 1, 2 * (c) + 3)), hi, sixteen); \
        __m512i plo = _mm512_maddubs_epi16(lo, load2_i8(y, y + 64));                                          \
        __m512i phi = _mm512_maddubs_epi16(hi, load2_i8(y + 32, y + 96));                                     \
        isum = MADD_ACC(isum, plo, PICK2(sc, 2 * (c), 2 * (c) + 2));                                          \
        isum = MADD_ACC(isum, phi, PICK2(sc, 2 * (c) + 1, 2 * (c) + 3));                                      \
    }

#define DEF_Q5_K_DOT(NAME, ATTR, MADD_ACC)                                                                    \
    ATTR static void NAME(int64_t n, float *restrict s, const void *restrict w, const void *restrict x)       \
    {                                                                                                         \
        const block_q5_K *a = w;                                                                              \
        const block_q8_K *b = x;                                                                              \
        const __m512i m4 = _mm512_set1_epi8(0x0F), sixteen = _mm512_set1_epi8(16);                           \
        __m512 acc = _mm512_setzero_ps();                                                                     \
        __m256 accm = _mm256_setzero_ps();                                                                    \
        for (int64_t i = 0; i < n / QK_K; i++) {                                                              \
            __m128i sm = q4_K_scales_mins(a[i].scales);                                                       \
            __m256i mins2 = _mm256_cvtepu8_epi16(_mm_unpackhi_epi8(sm, sm));                                  \
            __m256i mp = _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)b[i].bsums), mins2);           \
            __m512i sc = _mm512_castsi128_si512(_mm_cvtepu8_epi16(sm));                                       \
            __m512i qh = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)a[i].qh));                \
            __m512i isum = _mm512_setzero_si512();                                                            \
            Q5_K_PAIR(0, MADD_ACC)                                                                            \
            Q5_K_PAIR(2, MADD_ACC)                                                                            \
            float d = b[i].d * h2f(a[i].d), dmin = b[i].d * h2f(a[i].dmin);                                   \
            acc = _mm512_fmadd_ps(_mm512_set1_ps(d), _mm512_cvtepi32_ps(isum), acc);                          \
            accm = _mm256_fmadd_ps(_mm256_set1_ps(dmin), _mm256_cvtepi32_ps(mp), accm);                       \
        }                                                                                                     \
        *s = _mm512_reduce_add_ps(acc) - hsum256(accm);                                                      \
    }

DEF_Q5_K_DOT(q5_K_vec_dot, , madd_acc)
DEF_Q5_K_DOT(q5_K_vec_dot_vnni, VNNI, madd_acc_vnni)

/* Two 5-bit chunks of weight row r against the four activation rows. */
#define Q5_K_4X_PAIR(k, MADD_ACC)                                                                             \
    {                                                                                                         \
        __m512i q = _mm512_loadu_si512(a->qs + 32 * (k));                                                     \
        __m512i lo = _mm512_and_si512(q, m4), hi = _mm512_and_si512(_mm512_srli_epi16(q, 4), m4);             \
        lo = _mm512_mask_add_epi8(lo, _mm512_test_epi8_mask(qh, SEL2(2 * (k), 2 * (k) + 2)), lo, sixteen);    \
        hi = _mm512_mask_add_epi8(hi, _mm512_test_epi8_mask(qh, SEL2(2 * (k) + 1, 2 * (k) + 3)), hi, sixteen); \
        __m512i slo = PICK2(sc, 2 * (k), 2 * (k) + 2), shi = PICK2(sc, 2 * (k) + 1, 2 * (k) + 3);             \
        UNROLL for (int c = 0; c < 4; c++) {                                                                  \
            const int8_t *y = xr[c][i].qs + 64 * (k);                                                         \
            isum[c] = MADD_ACC(isum[c], _mm512_maddubs_epi16(lo, load2_i8(y, y + 64)), slo);                  \
            isum[c] = MADD_ACC(isum[c], _mm512_maddubs_epi16(hi, load2_i8(y + 32, y + 96)), shi);             \
        }                                                                                                     \
    }

#define DEF_Q5_K_4X(NAME, ATTR, MADD_ACC)                                                                     \
    ATTR static void NAME(int64_t n, float *s, size_t ss, const void *w, size_t wrb, const void *x, size_t xrb) \
    {                                                                                                         \
        const block_q5_K *wr[4];                                                                              \
        const block_q8_K *xr[4];                                                                              \
        UNROLL for (int r = 0; r < 4; r++) {                                                                  \
            wr[r] = (const block_q5_K *)((const char *)w + r * wrb);                                          \
            xr[r] = (const block_q8_K *)((const char *)x + r * xrb);                                          \
        }                                                                                                     \
        const __m512i m4 = _mm512_set1_epi8(0x0F), sixteen = _mm512_set1_epi8(16);                           \
        __m128 acc[4], accm[4];                                                                               \
        UNROLL for (int r = 0; r < 4; r++) acc[r] = accm[r] = _mm_setzero_ps();                              \
        for (int64_t i = 0; i < n / QK_K; i++) {                                                              \
            __m128 dx = _mm_setr_ps(xr[0][i].d, xr[1][i].d, xr[2][i].d, xr[3][i].d);                         \
            UNROLL for (int r = 0; r < 4; r++) {                                                              \
                const block_q5_K *a = &wr[r][i];                                                              \
                __m128i sm = q4_K_scales_mins(a->scales);                                                     \
                __m256i mins2 = _mm256_cvtepu8_epi16(_mm_unpackhi_epi8(sm, sm));                              \
                __m512i sc = _mm512_castsi128_si512(_mm_cvtepu8_epi16(sm));                                   \
                __m512i qh = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)a->qh));              \
                __m512i isum[4];                                                                              \
                __m256i msum[4];                                                                              \
                UNROLL for (int c = 0; c < 4; c++) {                                                          \
                    isum[c] = _mm512_setzero_si512();                                                         \
                    msum[c] = _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)xr[c][i].bsums), mins2);  \
                }                                                                                             \
                Q5_K_4X_PAIR(0, MADD_ACC)                                                                     \
                Q5_K_4X_PAIR(2, MADD_ACC)                                                                     \
                __m128 fi = _mm_cvtepi32_ps(reduce4_epi32(isum[0], isum[1], isum[2], isum[3]));               \
                __m128 fm = _mm_cvtepi32_ps(reduce4_epi32_256(msum[0], msum[1], msum[2], msum[3]));           \
                acc[r] = _mm_fmadd_ps(_mm_mul_ps(dx, _mm_set1_ps(h2f(a->d))), fi, acc[r]);                    \
                accm[r] = _mm_fmadd_ps(_mm_mul_ps(dx, _mm_set1_ps(h2f(a->dmin))), fm, accm[r]);               \
            }                                                                                                 \
        }                                                                                                     \
        UNROLL for (int r = 0; r < 4; r++) _mm_storeu_ps(s + r * ss, _mm_sub_ps(acc[r], accm[r]));           \
    }

DEF_Q5_K_4X(q5_K_vec_dot_4x, , madd_acc)
DEF_Q5_K_4X(q5_K_vec_dot_4x_vnni, VNNI, madd_acc_vnni)

/* ---- Q6_K ---- */

/* Elements 0..63 and 64..127 of one 128-element half, unsigned 6-bit. The
 * high bits of elements l and l+32 sit at bits 0-1 and 2-3 of qh[l], those of
 * l+64 and l+96 at bits 4-5 and 6-7: one copy of qh per 256-bit half,
 * shifted by a per-half amount into bits 4-5. */
static inline void unpack_q6_K(const uint8_t *ql, const uint8_t *qh, __m512i *lo, __m512i *hi)
{
    const __m512i m4 = _mm512_set1_epi8(0x0F), m2 = _mm512_set1_epi8(0x30);
    const __m512i shl = _mm512_inserti64x4(_mm512_set1_epi16(4), _mm256_set1_epi16(2), 1);
    const __m512i shr = _mm512_inserti64x4(_mm512_setzero_si512(), _mm256_set1_epi16(2), 1);
    __m512i l = _mm512_loadu_si512(ql);
    __m512i h = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)qh));
    *lo = _mm512_or_si512(_mm512_and_si512(l, m4), _mm512_and_si512(_mm512_sllv_epi16(h, shl), m2));
    *hi = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(l, 4), m4), _mm512_and_si512(_mm512_srlv_epi16(h, shr), m2));
}

#define DEF_Q6_K_DOT(NAME, ATTR, MADD_ACC)                                                                    \
    ATTR static void NAME(int64_t n, float *restrict s, const void *restrict w, const void *restrict x)       \
    {                                                                                                         \
        const block_q6_K *a = w;                                                                              \
        const block_q8_K *b = x;                                                                              \
        /* 16-bit scale index of each group of eight maddubs lanes */                                        \
        const __m512i pick_lo = _mm512_setr_epi32(0, 0, 0, 0, 0x10001, 0x10001, 0x10001, 0x10001, 0x20002,    \
                                                  0x20002, 0x20002, 0x20002, 0x30003, 0x30003, 0x30003, 0x30003); \
        const __m512i four = _mm512_set1_epi16(4), eight = _mm512_set1_epi16(8);                              \
        __m512 acc = _mm512_setzero_ps();                                                                     \
        for (int64_t i = 0; i < n / QK_K; i++) {                                                              \
            __m128i sc8 = _mm_loadu_si128((const __m128i *)a[i].scales);                                      \
            __m256i sc16 = _mm256_cvtepi8_epi16(sc8);                                                         \
            __m256i off = _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)b[i].bsums), sc16);           \
            __m512i scz = _mm512_castsi256_si512(sc16);                                                       \
            __m512i isum = _mm512_zextsi256_si512(_mm256_sub_epi32(_mm256_setzero_si256(), _mm256_slli_epi32(off, 5))); \
            UNROLL for (int h = 0; h < 2; h++) {                                                                     \
                __m512i qlo, qhi;                                                                             \
                unpack_q6_K(a[i].ql + 64 * h, a[i].qh + 32 * h, &qlo, &qhi);                                  \
                __m512i idx = h ? _mm512_add_epi16(pick_lo, eight) : pick_lo;                                 \
                const int8_t *y = b[i].qs + 128 * h;                                                          \
                __m512i plo = _mm512_maddubs_epi16(qlo, _mm512_loadu_si512(y));                               \
                __m512i phi = _mm512_maddubs_epi16(qhi, _mm512_loadu_si512(y + 64));                          \
                isum = MADD_ACC(isum, plo, _mm512_permutexvar_epi16(idx, scz));                               \
                isum = MADD_ACC(isum, phi, _mm512_permutexvar_epi16(_mm512_add_epi16(idx, four), scz));       \
            }                                                                                                 \
            acc = _mm512_fmadd_ps(_mm512_set1_ps(h2f(a[i].d) * b[i].d), _mm512_cvtepi32_ps(isum), acc);       \
        }                                                                                                     \
        *s = _mm512_reduce_add_ps(acc);                                                                       \
    }

DEF_Q6_K_DOT(q6_K_vec_dot, , madd_acc)
DEF_Q6_K_DOT(q6_K_vec_dot_vnni, VNNI, madd_acc_vnni)

#define DEF_Q6_K_4X(NAME, ATTR, MADD_ACC)                                                                     \
    ATTR static void NAME(int64_t n, float *s, size_t ss, const void *w, size_t wrb, const void *x, size_t xrb) \
    {                                                                                                         \
        const block_q6_K *wr[4];                                                                              \
        const block_q8_K *xr[4];                                                                              \
        UNROLL for (int r = 0; r < 4; r++) {                                                                         \
            wr[r] = (const block_q6_K *)((const char *)w + r * wrb);                                          \
            xr[r] = (const block_q8_K *)((const char *)x + r * xrb);                                          \
        }                                                                                                     \
        const __m512i pick_lo = _mm512_setr_epi32(0, 0, 0, 0, 0x10001, 0x10001, 0x10001, 0x10001, 0x20002,    \
                                                  0x20002, 0x20002, 0x20002, 0x30003, 0x30003, 0x30003, 0x30003); \
        const __m512i four = _mm512_set1_epi16(4), eight = _mm512_set1_epi16(8);                              \
        __m128 acc[4];                                                                                        \
        UNROLL for (int r = 0; r < 4; r++) acc[r] = _mm_setzero_ps();                                                \
        for (int64_t i = 0; i < n / QK_K; i++) {                                                              \
            __m128 dx = _mm_setr_ps(xr[0][i].d, xr[1][i].d, xr[2][i].d, xr[3][i].d);                         \
            UNROLL for (int r = 0; r < 4; r++) {                                                                     \
                const block_q6_K *a = &wr[r][i];                                                              \
                __m256i sc16 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)a->scales));             \
                __m512i scz = _mm512_castsi256_si512(sc16);                                                   \
                __m512i isum[4];                                                                              \
                UNROLL for (int c = 0; c < 4; c++) {                                                                 \
                    __m256i off = _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)xr[c][i].bsums), sc16); \
                    isum[c] = _mm512_zextsi256_si512(_mm256_sub_epi32(_mm256_setzero_si256(), _mm256_slli_epi32(off, 5))); \
                }                                                                                             \
                UNROLL for (int h = 0; h < 2; h++) {                                                                 \
                    __m512i qlo, qhi;                                                                         \
                    unpack_q6_K(a->ql + 64 * h, a->qh + 32 * h, &qlo, &qhi);                                  \
                    __m512i idx = h ? _mm512_add_epi16(pick_lo, eight) : pick_lo;                             \
                    __m512i slo = _mm512_permutexvar_epi16(idx, scz);                                         \
                    __m512i shi = _mm512_permutexvar_epi16(_mm512_add_epi16(idx, four), scz);                 \
                    UNROLL for (int c = 0; c < 4; c++) {                                                             \
                        const int8_t *y = xr[c][i].qs + 128 * h;                                              \
                        isum[c] = MADD_ACC(isum[c], _mm512_maddubs_epi16(qlo, _mm512_loadu_si512(y)), slo);   \
                        isum[c] = MADD_ACC(isum[c], _mm512_maddubs_epi16(qhi, _mm512_loadu_si512(y + 64)), shi); \
                    }                                                                                         \
                }                                                                                             \
                __m128 fi = _mm_cvtepi32_ps(reduce4_epi32(isum[0], isum[1], isum[2], isum[3]));               \
                acc[r] = _mm_fmadd_ps(_mm_mul_ps(dx, _mm_set1_ps(h2f(a->d))), fi, acc[r]);                    \
            }                                                                                                 \
        }                                                                                                     \
        UNROLL for (int r = 0; r < 4; r++) _mm_storeu_ps(s + r * ss, acc[r]);                                        \
    }

DEF_Q6_K_4X(q6_K_vec_dot_4x, , madd_acc)
DEF_Q6_K_4X(q6_K_vec_dot_4x_vnni, VNNI, madd_acc_vnni)

/* ---- Q3_K / Q2_K ---- */

/* The sixteen Q3_K scales minus 32 as int8 (see kernels_avx2.c). */
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

/* 16-bit lanes [a x16 | b x16]: per-half shift counts. */
#define SHIFT2(a, b) _mm512_inserti64x4(_mm512_set1_epi16(a), _mm256_set1_epi16(b), 1)

/* Groups j, j+1 of half h (64 elements): bits 2j, 2j+2 of the broadcast qs
 * bytes of the half, as unsigned 0..3. */
#define Q2_PAIR(qb, j) _mm512_and_si512(_mm512_srlv_epi16((qb), SHIFT2(2 * (j), 2 * (j) + 2)), three)

/* 16-bit scale index of each group of eight maddubs lanes: 0,1,2,3 per 128 bits. */
#define PICK4 _mm512_setr_epi32(0, 0, 0, 0, 0x10001, 0x10001, 0x10001, 0x10001, 0x20002, 0x20002, 0x20002, 0x20002, \
                                0x30003, 0x30003, 0x30003, 0x30003)

#define DEF_Q3_K_DOT(NAME, ATTR, MADD_ACC)                                                                    \
    ATTR static void NAME(int64_t n, float *restrict s, const void *restrict w, const void *restrict x)       \
    {                                                                                                         \
        const block_q3_K *a = w;                                                                              \
        const block_q8_K *b = x;                                                                              \
        const __m512i three = _mm512_set1_epi8(3), four = _mm512_set1_epi8(4), pick = PICK4;                  \
        __m512 acc = _mm512_setzero_ps();                                                                     \
        for (int64_t i = 0; i < n / QK_K; i++) {                                                              \
            __m256i sc16 = _mm256_cvtepi8_epi16(q3_K_scales(a[i].scales));                                    \
            __m256i off = _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)b[i].bsums), sc16);           \
            __m512i scz = _mm512_castsi256_si512(sc16);                                                       \
            /* the -4 of every q, applied once through the 16-sums */                                        \
            __m512i isum = _mm512_zextsi256_si512(_mm256_sub_epi32(_mm256_setzero_si256(), _mm256_slli_epi32(off, 2))); \
            __m512i hm = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)a[i].hmask));             \
            UNROLL for (int h = 0; h < 2; h++) {                                                              \
                __m512i qb = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)(a[i].qs + 32 * h))); \
                UNROLL for (int j = 0; j < 4; j += 2) {                                                       \
                    __m512i q = Q2_PAIR(qb, j);                                                               \
                    __mmask64 hb = _mm512_test_epi8_mask(hm, SEL2(4 * h + j, 4 * h + j + 1));                 \
                    q = _mm512_mask_add_epi8(q, hb, q, four);                                                 \
                    __m512i p = _mm512_maddubs_epi16(q, _mm512_loadu_si512(b[i].qs + 128 * h + 32 * j));      \
                    __m512i idx = _mm512_add_epi16(pick, _mm512_set1_epi16((short)(8 * h + 2 * j)));             \
                    isum = MADD_ACC(isum, p, _mm512_permutexvar_epi16(idx, scz));                             \
                }                                                                                             \
            }                                                                                                 \
            acc = _mm512_fmadd_ps(_mm512_set1_ps(h2f(a[i].d) * b[i].d), _mm512_cvtepi32_ps(isum), acc);       \
        }                                                                                                     \
        *s = _mm512_reduce_add_ps(acc);                                                                       \
    }

DEF_Q3_K_DOT(q3_K_vec_dot, , madd_acc)
DEF_Q3_K_DOT(q3_K_vec_dot_vnni, VNNI, madd_acc_vnni)

#define DEF_Q2_K_DOT(NAME, ATTR, MADD_ACC)                                                                    \
    ATTR static void NAME(int64_t n, float *restrict s, const void *restrict w, const void *restrict x)       \
    {                                                                                                         \
        const block_q2_K *a = w;                                                                              \
        const block_q8_K *b = x;                                                                              \
        const __m512i three = _mm512_set1_epi8(3), pick = PICK4;                                              \
        __m512 acc = _mm512_setzero_ps();                                                                     \
        __m256 accm = _mm256_setzero_ps();                                                                    \
        for (int64_t i = 0; i < n / QK_K; i++) {                                                              \
            __m128i raw = _mm_loadu_si128((const __m128i *)a[i].scales);                                      \
            __m256i sc16 = _mm256_cvtepu8_epi16(_mm_and_si128(raw, _mm_set1_epi8(0x0F)));                     \
            __m256i mn16 = _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16(raw, 4), _mm_set1_epi8(0x0F)));  \
            __m256i mp = _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)b[i].bsums), mn16);            \
            __m512i scz = _mm512_castsi256_si512(sc16);                                                       \
            __m512i isum = _mm512_setzero_si512();                                                            \
            UNROLL for (int h = 0; h < 2; h++) {                                                              \
                __m512i qb = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)(a[i].qs + 32 * h))); \
                UNROLL for (int j = 0; j < 4; j += 2) {                                                       \
                    __m512i p = _mm512_maddubs_epi16(Q2_PAIR(qb, j), _mm512_loadu_si512(b[i].qs + 128 * h + 32 * j)); \
                    __m512i idx = _mm512_add_epi16(pick, _mm512_set1_epi16((short)(8 * h + 2 * j)));             \
                    isum = MADD_ACC(isum, p, _mm512_permutexvar_epi16(idx, scz));                             \
                }                                                                                             \
            }                                                                                                 \
            float d = b[i].d * h2f(a[i].d), dmin = b[i].d * h2f(a[i].dmin);                                   \
            acc = _mm512_fmadd_ps(_mm512_set1_ps(d), _mm512_cvtepi32_ps(isum), acc);                          \
            accm = _mm256_fmadd_ps(_mm256_set1_ps(dmin), _mm256_cvtepi32_ps(mp), accm);                       \
        }                                                                                                     \
        *s = _mm512_reduce_add_ps(acc) - hsum256(accm);                                                      \
    }

DEF_Q2_K_DOT(q2_K_vec_dot, , madd_acc)
DEF_Q2_K_DOT(q2_K_vec_dot_vnni, VNNI, madd_acc_vnni)

/* Tiles of sixteen vectorised dots, for the types without a dedicated one. */
#define DOTS_4X(NAME, ATTR, DOT)                                                                              \
    ATTR static void NAME(int64_t n, float *s, size_t ss, const void *w, size_t wrb, const void *x, size_t xrb) \
    {                                                                                                         \
        for (int r = 0; r < 4; r++)                                                                           \
            for (int c = 0; c < 4; c++)                                                                       \
                DOT(n, &s[(size_t)r * ss + (size_t)c], (const char *)w + (size_t)r * wrb,                     \
                    (const char *)x + (size_t)c * xrb);                                                       \
    }

DOTS_4X(q3_K_vec_dot_4x, , q3_K_vec_dot)
DOTS_4X(q3_K_vec_dot_4x_vnni, VNNI, q3_K_vec_dot_vnni)
DOTS_4X(q2_K_vec_dot_4x, , q2_K_vec_dot)
DOTS_4X(q2_K_vec_dot_4x_vnni, VNNI, q2_K_vec_dot_vnni)

/* ---- dense helpers ---- */

static void axpy_f32(int64_t n, float a, const float *x, float *y)
{
    __m512 va = _mm512_set1_ps(a);
    for (int64_t i = 0; i < n; i += 16) {
        __mmask16 m = tail_mask(n - i);
        _mm512_mask_storeu_ps(y + i, m, _mm512_fmadd_ps(va, _mm512_maskz_loadu_ps(m, x + i), _mm512_maskz_loadu_ps(m, y + i)));
    }
}

static void scale_f32(int64_t n, float a, float *x)
{
    __m512 va = _mm512_set1_ps(a);
    for (int64_t i = 0; i < n; i += 16) {
        __mmask16 m = tail_mask(n - i);
        _mm512_mask_storeu_ps(x + i, m, _mm512_mul_ps(va, _mm512_maskz_loadu_ps(m, x + i)));
    }
}

static void fp16_to_f32(int64_t n, const rk_fp16 *src, float *dst)
{
    for (int64_t i = 0; i < n; i += 16) {
        __mmask16 m = tail_mask(n - i);
        _mm512_mask_storeu_ps(dst + i, m, load_h16(src + i, m));
    }
}

static void f32_to_fp16(int64_t n, const float *src, rk_fp16 *dst)
{
    for (int64_t i = 0; i < n; i += 16) {
        __mmask16 m = tail_mask(n - i);
        __m256i h = _mm512_cvtps_ph(_mm512_maskz_loadu_ps(m, src + i), _MM_FROUND_TO_NEAREST_INT);
        _mm256_mask_storeu_epi16(dst + i, m, h);
    }
}

static void f16_to_float(const void *restrict src, float *restrict dst, int64_t n) { fp16_to_f32(n, src, dst); }

static void f16_from_float(const float *restrict src, void *restrict dst, int64_t n) { f32_to_fp16(n, src, dst); }

void kernels_fill_avx512(rk_kernels *k)
{
    k->isa = RK_ISA_AVX512;
    bool vnni = k->ext & RK_EXT_AVX512VNNI;
    k->ext &= RK_EXT_AVX512VNNI;
    rk_type_ops *o = k->ops;
    o[GGML_TYPE_F32].vec_dot = f32_vec_dot;
    o[GGML_TYPE_F32].vec_dot_4x = f32_vec_dot_4x;
    o[GGML_TYPE_F16].to_float = f16_to_float;
    o[GGML_TYPE_F16].from_float = f16_from_float;
    o[GGML_TYPE_F16].vec_dot = f16_vec_dot;
    o[GGML_TYPE_F16].vec_dot_4x = f16_vec_dot_4x;
    o[GGML_TYPE_BF16].vec_dot = bf16_vec_dot;
    o[GGML_TYPE_BF16].vec_dot_4x = bf16_vec_dot_4x;
    o[GGML_TYPE_Q8_0].from_float = q8_0_from_float;
    o[GGML_TYPE_Q8_0].vec_dot = vnni ? q8_0_vec_dot_vnni : q8_0_vec_dot;
    o[GGML_TYPE_Q8_0].vec_dot_4x = vnni ? q8_0_vec_dot_4x_vnni : q8_0_vec_dot_4x;
    o[GGML_TYPE_Q4_0].vec_dot = vnni ? q4_0_vec_dot_vnni : q4_0_vec_dot;
    o[GGML_TYPE_Q4_0].vec_dot_4x = vnni ? q4_0_vec_dot_4x_vnni : q4_0_vec_dot_4x;
    o[GGML_TYPE_Q4_K].vec_dot = vnni ? q4_K_vec_dot_vnni : q4_K_vec_dot;
    o[GGML_TYPE_Q4_K].vec_dot_4x = vnni ? q4_K_vec_dot_4x_vnni : q4_K_vec_dot_4x;
    o[GGML_TYPE_Q6_K].vec_dot = vnni ? q6_K_vec_dot_vnni : q6_K_vec_dot;
    o[GGML_TYPE_Q6_K].vec_dot_4x = vnni ? q6_K_vec_dot_4x_vnni : q6_K_vec_dot_4x;
    o[GGML_TYPE_Q4_1].vec_dot = vnni ? q4_1_vec_dot_vnni : q4_1_vec_dot;
    o[GGML_TYPE_Q4_1].vec_dot_4x = vnni ? q4_1_vec_dot_4x_vnni : q4_1_vec_dot_4x;
    o[GGML_TYPE_Q5_0].vec_dot = vnni ? q5_0_vec_dot_vnni : q5_0_vec_dot;
    o[GGML_TYPE_Q5_0].vec_dot_4x = vnni ? q5_0_vec_dot_4x_vnni : q5_0_vec_dot_4x;
    o[GGML_TYPE_Q5_1].vec_dot = vnni ? q5_1_vec_dot_vnni : q5_1_vec_dot;
    o[GGML_TYPE_Q5_1].vec_dot_4x = vnni ? q5_1_vec_dot_4x_vnni : q5_1_vec_dot_4x;
    o[GGML_TYPE_Q2_K].vec_dot = vnni ? q2_K_vec_dot_vnni : q2_K_vec_dot;
    o[GGML_TYPE_Q2_K].vec_dot_4x = vnni ? q2_K_vec_dot_4x_vnni : q2_K_vec_dot_4x;
    o[GGML_TYPE_Q3_K].vec_dot = vnni ? q3_K_vec_dot_vnni : q3_K_vec_dot;
    o[GGML_TYPE_Q3_K].vec_dot_4x = vnni ? q3_K_vec_dot_4x_vnni : q3_K_vec_dot_4x;
    o[GGML_TYPE_Q5_K].vec_dot = vnni ? q5_K_vec_dot_vnni : q5_K_vec_dot;
    o[GGML_TYPE_Q5_K].vec_dot_4x = vnni ? q5_K_vec_dot_4x_vnni : q5_K_vec_dot_4x;
    o[GGML_TYPE_Q8_K].from_float = q8_K_from_float;
    k->vec = (rk_vec_ops){dot_f32, axpy_f32, scale_f32, fp16_to_f32, f32_to_fp16};
}
