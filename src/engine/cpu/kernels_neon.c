/* AArch64 NEON kernels (NEON is baseline on aarch64). Integer dots exist
 * twice: with plain widening multiplies, and with sdot for CPUs whose HWCAP
 * reports asimddp (k->ext & RK_EXT_NEON_DOTPROD); both compute the reference's
 * exact int32 block sums. Dequantisation multiplies and subtracts separately,
 * never fused, so it matches the reference bit for bit. */
#include "engine/cpu/kernels.h"

#include <arm_neon.h>
#include <string.h>

/* Functions using sdot. GCC 12 exposes vdotq_s32 to a function compiled for
 * armv8.2-a+dotprod; clang 14 keeps the intrinsic behind a global flag but
 * assembles sdot inside a function with the dotprod feature. */
#if defined(__clang__)
#define DOTPROD __attribute__((target("dotprod")))
DOTPROD static inline int32x4_t sdot(int32x4_t acc, int8x16_t a, int8x16_t b)
{
    __asm__("sdot %0.4s, %1.16b, %2.16b" : "+w"(acc) : "w"(a), "w"(b));
    return acc;
}
#else
#define DOTPROD __attribute__((target("arch=armv8.2-a+dotprod")))
DOTPROD static inline int32x4_t sdot(int32x4_t acc, int8x16_t a, int8x16_t b) { return vdotq_s32(acc, a, b); }
#endif

/* Widening form: products fit int16 (|a*b| <= 128*128), pairs add into int32. */
static inline int32x4_t wdot(int32x4_t acc, int8x16_t a, int8x16_t b)
{
    acc = vpadalq_s16(acc, vmull_s8(vget_low_s8(a), vget_low_s8(b)));
    return vpadalq_s16(acc, vmull_high_s8(a, b));
}

/* Small fixed loops over tile rows and columns must be unrolled so their
 * accumulators live in registers. */
#define UNROLL _Pragma("GCC unroll 4")

static inline float h2f(rk_fp16 h) { return rk_fp16_to_fp32(h); }

static inline float32x4_t f16x4(const rk_fp16 *p) { return vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(p))); }

static inline float32x4_t bf16x4(const rk_bf16 *p) { return vreinterpretq_f32_u32(vshll_n_u16(vld1_u16(p), 16)); }

static inline float32x4_t f32x4(const float *p) { return vld1q_f32(p); }

/* Sixteen signed bytes to four float vectors. */
static inline void s8_to_f32(int8x16_t v, float32x4_t out[4])
{
    int16x8_t lo = vmovl_s8(vget_low_s8(v)), hi = vmovl_high_s8(v);
    out[0] = vcvtq_f32_s32(vmovl_s16(vget_low_s16(lo)));
    out[1] = vcvtq_f32_s32(vmovl_high_s16(lo));
    out[2] = vcvtq_f32_s32(vmovl_s16(vget_low_s16(hi)));
    out[3] = vcvtq_f32_s32(vmovl_high_s16(hi));
}

static inline void u8_to_f32(uint8x16_t v, float32x4_t out[4])
{
    uint16x8_t lo = vmovl_u8(vget_low_u8(v)), hi = vmovl_high_u8(v);
    out[0] = vcvtq_f32_u32(vmovl_u16(vget_low_u16(lo)));
    out[1] = vcvtq_f32_u32(vmovl_high_u16(lo));
    out[2] = vcvtq_f32_u32(vmovl_u16(vget_low_u16(hi)));
    out[3] = vcvtq_f32_u32(vmovl_high_u16(hi));
}

/* y[0..15] = d * v (signed bytes). */
static inline void store_scaled_s8(int8x16_t v, float d, float *y)
{
    float32x4_t f[4];
    s8_to_f32(v, f);
    for (int j = 0; j < 4; j++) vst1q_f32(y + 4 * j, vmulq_n_f32(f[j], d));
}

/* y[0..15] = d * v - m (unsigned bytes). */
static inline void store_affine_u8(uint8x16_t v, float d, float m, float *y)
{
    float32x4_t f[4];
    u8_to_f32(v, f);
    for (int j = 0; j < 4; j++) vst1q_f32(y + 4 * j, vsubq_f32(vmulq_n_f32(f[j], d), vdupq_n_f32(m)));
}

/* {sum a, sum b, sum c, sum d} */
static inline int32x4_t reduce4_s32(int32x4_t a, int32x4_t b, int32x4_t c, int32x4_t d)
{
    return vpaddq_s32(vpaddq_s32(a, b), vpaddq_s32(c, d));
}

/* ---- F32 / F16 / BF16 ---- */

#define DEF_FLOAT_DOT(NAME, T, LOAD4, AT)                                                                     \
    static float NAME(int64_t n, const T *a, const float *b)                                                  \
    {                                                                                                         \
        float32x4_t s0 = vdupq_n_f32(0), s1 = s0, s2 = s0, s3 = s0;                                           \
        int64_t i = 0;                                                                                        \
        for (; i + 16 <= n; i += 16) {                                                                        \
            s0 = vfmaq_f32(s0, LOAD4(a + i), vld1q_f32(b + i));                                               \
            s1 = vfmaq_f32(s1, LOAD4(a + i + 4), vld1q_f32(b + i + 4));                                       \
            s2 = vfmaq_f32(s2, LOAD4(a + i + 8), vld1q_f32(b + i + 8));                                       \
            s3 = vfmaq_f32(s3, LOAD4(a + i + 12), vld1q_f32(b + i + 12));                                     \
        }                                                                                                     \
        for (; i + 4 <= n; i += 4) s0 = vfmaq_f32(s0, LOAD4(a + i), vld1q_f32(b + i));                        \
        float sum = vaddvq_f32(vaddq_f32(vaddq_f32(s0, s1), vaddq_f32(s2, s3)));                              \
        for (; i < n; i++) sum += AT(a[i]) * b[i];                                                            \
        return sum;                                                                                           \
    }

static inline float f32_at(float v) { return v; }

DEF_FLOAT_DOT(dot_f32, float, f32x4, f32_at)
DEF_FLOAT_DOT(dot_f16, rk_fp16, f16x4, h2f)
DEF_FLOAT_DOT(dot_bf16, rk_bf16, bf16x4, rk_bf16_to_fp32)

static void f32_vec_dot(int64_t n, float *restrict s, const void *restrict w, const void *restrict x)
{
    *s = dot_f32(n, w, x);
}

static void f16_vec_dot(int64_t n, float *restrict s, const void *restrict w, const void *restrict x)
{
    *s = dot_f16(n, w, x);
}

static void bf16_vec_dot(int64_t n, float *restrict s, const void *restrict w, const void *restrict x)
{
    *s = dot_bf16(n, w, x);
}

/* 4x4 float tile: sixteen accumulators, four activation vectors and one
 * weight vector fit the 32 registers. */
#define DEF_FLOAT_4X(NAME, T, LOAD4, AT)                                                                      \
    static void NAME(int64_t n, float *s, size_t ss, const void *w, size_t wrb, const void *x, size_t xrb)    \
    {                                                                                                         \
        const T *wr[4];                                                                                       \
        const float *xr[4];                                                                                   \
        UNROLL for (int r = 0; r < 4; r++) {                                                                  \
            wr[r] = (const T *)((const char *)w + r * wrb);                                                   \
            xr[r] = (const float *)((const char *)x + r * xrb);                                               \
        }                                                                                                     \
        float32x4_t acc[4][4];                                                                                \
        UNROLL for (int r = 0; r < 4; r++) UNROLL for (int c = 0; c < 4; c++) acc[r][c] = vdupq_n_f32(0);    \
        int64_t i = 0;                                                                                        \
        for (; i + 4 <= n; i += 4) {                                                                          \
            float32x4_t xv[4];                                                                                \
            UNROLL for (int c = 0; c < 4; c++) xv[c] = vld1q_f32(xr[c] + i);                                  \
            UNROLL for (int r = 0; r < 4; r++) {                                                              \
                float32x4_t wv = LOAD4(wr[r] + i);                                                            \
                UNROLL for (int c = 0; c < 4; c++) acc[r][c] = vfmaq_f32(acc[r][c], wv, xv[c]);               \
            }                                                                                                 \
        }                                                                                                     \
        UNROLL for (int r = 0; r < 4; r++) UNROLL for (int c = 0; c < 4; c++) {                               \
            float t = vaddvq_f32(acc[r][c]);                                                                  \
            for (int64_t j = i; j < n; j++) t += AT(wr[r][j]) * xr[c][j];                                     \
            s[r * ss + c] = t;                                                                                \
        }                                                                                                     \
    }

DEF_FLOAT_4X(f32_vec_dot_4x, float, f32x4, f32_at)
DEF_FLOAT_4X(f16_vec_dot_4x, rk_fp16, f16x4, h2f)
DEF_FLOAT_4X(bf16_vec_dot_4x, rk_bf16, bf16x4, rk_bf16_to_fp32)

static void fp16_to_f32(int64_t n, const rk_fp16 *src, float *dst)
{
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        float16x8_t h = vreinterpretq_f16_u16(vld1q_u16(src + i));
        vst1q_f32(dst + i, vcvt_f32_f16(vget_low_f16(h)));
        vst1q_f32(dst + i + 4, vcvt_high_f32_f16(h));
    }
    for (; i < n; i++) dst[i] = h2f(src[i]);
}

/* Rounds to nearest even (the FPCR default), like rk_fp32_to_fp16. */
static void f32_to_fp16(int64_t n, const float *src, rk_fp16 *dst)
{
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        float16x8_t h = vcvt_high_f16_f32(vcvt_f16_f32(vld1q_f32(src + i)), vld1q_f32(src + i + 4));
        vst1q_u16(dst + i, vreinterpretq_u16_f16(h));
    }
    for (; i < n; i++) dst[i] = rk_fp32_to_fp16(src[i]);
}

static void f16_to_float(const void *restrict src, float *restrict dst, int64_t n) { fp16_to_f32(n, src, dst); }

static void f16_from_float(const float *restrict src, void *restrict dst, int64_t n) { f32_to_fp16(n, src, dst); }

static void bf16_to_float(const void *restrict src, float *restrict dst, int64_t n)
{
    const rk_bf16 *h = src;
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) vst1q_f32(dst + i, bf16x4(h + i));
    for (; i < n; i++) dst[i] = rk_bf16_to_fp32(h[i]);
}

/* ---- activation quantisers ---- */

static inline float amax_f32(const float *x, int n)
{
    float32x4_t m = vdupq_n_f32(0);
    for (int j = 0; j < n; j += 4) m = vmaxq_f32(m, vabsq_f32(vld1q_f32(x + j)));
    return vmaxvq_f32(m);
}

/* 16 floats times id rounded to int8, nearest with ties to even (vcvtn),
 * the rounding of the reference's nearbyintf. */
static inline int8x16_t quant16(const float *x, float id)
{
    int32x4_t a = vcvtnq_s32_f32(vmulq_n_f32(vld1q_f32(x), id));
    int32x4_t b = vcvtnq_s32_f32(vmulq_n_f32(vld1q_f32(x + 4), id));
    int32x4_t c = vcvtnq_s32_f32(vmulq_n_f32(vld1q_f32(x + 8), id));
    int32x4_t d = vcvtnq_s32_f32(vmulq_n_f32(vld1q_f32(x + 12), id));
    int16x8_t ab = vcombine_s16(vqmovn_s32(a), vqmovn_s32(b)), cd = vcombine_s16(vqmovn_s32(c), vqmovn_s32(d));
    return vcombine_s8(vqmovn_s16(ab), vqmovn_s16(cd));
}

static void q8_0_from_float(const float *restrict src, void *restrict dst, int64_t n)
{
    block_q8_0 *b = dst;
    for (int64_t i = 0; i < n / QK8_0; i++) {
        const float *x = src + i * QK8_0;
        float d = amax_f32(x, QK8_0) / 127.0f;
        float id = d != 0 ? 1.0f / d : 0.0f;
        b[i].d = rk_fp32_to_fp16(d);
        vst1q_s8(b[i].qs, quant16(x, id));
        vst1q_s8(b[i].qs + 16, quant16(x + 16, id));
    }
}

static void q8_K_from_float(const float *restrict src, void *restrict dst, int64_t n)
{
    block_q8_K *b = dst;
    for (int64_t i = 0; i < n / QK_K; i++) {
        const float *x = src + i * QK_K;
        float amax = amax_f32(x, QK_K);
        float id = amax != 0 ? 127.0f / amax : 0.0f;
        b[i].d = amax / 127.0f;
        for (int g = 0; g < QK_K / 16; g++) {
            int8x16_t q = quant16(x + 16 * g, id);
            vst1q_s8(b[i].qs + 16 * g, q);
            b[i].bsums[g] = vaddlvq_s8(q);
        }
    }
}

/* ---- Q8_0 ---- */

static void q8_0_to_float(const void *restrict src, float *restrict dst, int64_t n)
{
    const block_q8_0 *b = src;
    for (int64_t i = 0; i < n / QK8_0; i++) {
        float d = h2f(b[i].d);
        store_scaled_s8(vld1q_s8(b[i].qs), d, dst + i * QK8_0);
        store_scaled_s8(vld1q_s8(b[i].qs + 16), d, dst + i * QK8_0 + 16);
    }
}

#define DEF_Q8_0_DOT(NAME, ATTR, DOT)                                                                         \
    ATTR static void NAME(int64_t n, float *restrict s, const void *restrict w, const void *restrict x)       \
    {                                                                                                         \
        const block_q8_0 *a = w, *b = x;                                                                      \
        const int64_t nb = n / QK8_0;                                                                         \
        float32x4_t acc0 = vdupq_n_f32(0), acc1 = vdupq_n_f32(0);                                             \
        int64_t i = 0;                                                                                        \
        for (; i + 2 <= nb; i += 2) {                                                                         \
            int32x4_t p0 = DOT(vdupq_n_s32(0), vld1q_s8(a[i].qs), vld1q_s8(b[i].qs));                         \
            p0 = DOT(p0, vld1q_s8(a[i].qs + 16), vld1q_s8(b[i].qs + 16));                                     \
            int32x4_t p1 = DOT(vdupq_n_s32(0), vld1q_s8(a[i + 1].qs), vld1q_s8(b[i + 1].qs));                 \
            p1 = DOT(p1, vld1q_s8(a[i + 1].qs + 16), vld1q_s8(b[i + 1].qs + 16));                             \
            acc0 = vfmaq_n_f32(acc0, vcvtq_f32_s32(p0), h2f(a[i].d) * h2f(b[i].d));                           \
            acc1 = vfmaq_n_f32(acc1, vcvtq_f32_s32(p1), h2f(a[i + 1].d) * h2f(b[i + 1].d));                   \
        }                                                                                                     \
        for (; i < nb; i++) {                                                                                 \
            int32x4_t p = DOT(vdupq_n_s32(0), vld1q_s8(a[i].qs), vld1q_s8(b[i].qs));                          \
            p = DOT(p, vld1q_s8(a[i].qs + 16), vld1q_s8(b[i].qs + 16));                                       \
            acc0 = vfmaq_n_f32(acc0, vcvtq_f32_s32(p), h2f(a[i].d) * h2f(b[i].d));                            \
        }                                                                                                     \
        *s = vaddvq_f32(vaddq_f32(acc0, acc1));                                                               \
    }

DEF_Q8_0_DOT(q8_0_vec_dot, , wdot)
DEF_Q8_0_DOT(q8_0_vec_dot_dp, DOTPROD, sdot)

/* Tiles: the sixteen block dots of one block index are folded to one vector
 * per weight row (one lane per activation row) before the float work. */
#define DEF_Q8_0_4X(NAME, ATTR, DOT)                                                                          \
    ATTR static void NAME(int64_t n, float *s, size_t ss, const void *w, size_t wrb, const void *x, size_t xrb) \
    {                                                                                                         \
        const block_q8_0 *wr[4], *xr[4];                                                                      \
        UNROLL for (int r = 0; r < 4; r++) {                                                                  \
            wr[r] = (const block_q8_0 *)((const char *)w + r * wrb);                                          \
            xr[r] = (const block_q8_0 *)((const char *)x + r * xrb);                                          \
        }                                                                                                     \
        float32x4_t acc[4];                                                                                   \
        UNROLL for (int r = 0; r < 4; r++) acc[r] = vdupq_n_f32(0);                                           \
        for (int64_t i = 0; i < n / QK8_0; i++) {                                                             \
            int8x16_t x0[4], x1[4];                                                                           \
            float dxs[4];                                                                                     \
            UNROLL for (int c = 0; c < 4; c++) {                                                              \
                x0[c] = vld1q_s8(xr[c][i].qs);                                                                \
                x1[c] = vld1q_s8(xr[c][i].qs + 16);                                                           \
                dxs[c] = h2f(xr[c][i].d);                                                                     \
            }                                                                                                 \
            float32x4_t dx = vld1q_f32(dxs);                                                                  \
            UNROLL for (int r = 0; r < 4; r++) {                                                              \
                int8x16_t w0 = vld1q_s8(wr[r][i].qs), w1 = vld1q_s8(wr[r][i].qs + 16);                        \
                int32x4_t p[4];                                                                               \
                UNROLL for (int c = 0; c < 4; c++) p[c] = DOT(DOT(vdupq_n_s32(0), w0, x0[c]), w1, x1[c]);     \
                float32x4_t f = vcvtq_f32_s32(reduce4_s32(p[0], p[1], p[2], p[3]));                           \
                acc[r] = vfmaq_f32(acc[r], f, vmulq_n_f32(dx, h2f(wr[r][i].d)));                              \
            }                                                                                                 \
        }                                                                                                     \
        UNROLL for (int r = 0; r < 4; r++) vst1q_f32(s + r * ss, acc[r]);                                     \
    }

DEF_Q8_0_4X(q8_0_vec_dot_4x, , wdot)
DEF_Q8_0_4X(q8_0_vec_dot_4x_dp, DOTPROD, sdot)

/* ---- Q4_0 ---- */

/* Elements 0..15 and 16..31 of a Q4_0 block as signed q - 8. */
static inline void unpack_q4_0(const uint8_t *qs, int8x16_t *lo, int8x16_t *hi)
{
    uint8x16_t v = vld1q_u8(qs);
    *lo = vsubq_s8(vreinterpretq_s8_u8(vandq_u8(v, vdupq_n_u8(0x0F))), vdupq_n_s8(8));
    *hi = vsubq_s8(vreinterpretq_s8_u8(vshrq_n_u8(v, 4)), vdupq_n_s8(8));
}

static void q4_0_to_float(const void *restrict src, float *restrict dst, int64_t n)
{
    const block_q4_0 *b = src;
    for (int64_t i = 0; i < n / QK4_0; i++) {
        int8x16_t lo, hi;
        unpack_q4_0(b[i].qs, &lo, &hi);
        float d = h2f(b[i].d);
        float32x4_t f[4];
        s8_to_f32(lo, f);
        for (int j = 0; j < 4; j++) vst1q_f32(dst + i * QK4_0 + 4 * j, vmulq_n_f32(f[j], d));
        s8_to_f32(hi, f);
        for (int j = 0; j < 4; j++) vst1q_f32(dst + i * QK4_0 + 16 + 4 * j, vmulq_n_f32(f[j], d));
    }
}

#define DEF_Q4_0_DOT(NAME, ATTR, DOT)                                                                         \
    ATTR static void NAME(int64_t n, float *restrict s, const void *restrict w, const void *restrict x)       \
    {                                                                                                         \
        const block_q4_0 *a = w;                                                                              \
        const block_q8_0 *b = x;                                                                              \
        const int64_t nb = n / QK4_0;                                                                         \
        float32x4_t acc0 = vdupq_n_f32(0), acc1 = vdupq_n_f32(0);                                             \
        int64_t i = 0;                                                                                        \
        for (; i + 2 <= nb; i += 2) {                                                                         \
            int8x16_t l0, h0, l1, h1;                                                                         \
            unpack_q4_0(a[i].qs, &l0, &h0);                                                                   \
            unpack_q4_0(a[i + 1].qs, &l1, &h1);                                                               \
            int32x4_t p0 = DOT(DOT(vdupq_n_s32(0), l0, vld1q_s8(b[i].qs)), h0, vld1q_s8(b[i].qs + 16));       \
            int32x4_t p1 = DOT(DOT(vdupq_n_s32(0), l1, vld1q_s8(b[i + 1].qs)), h1, vld1q_s8(b[i + 1].qs + 16)); \
            acc0 = vfmaq_n_f32(acc0, vcvtq_f32_s32(p0), h2f(a[i].d) * h2f(b[i].d));                           \
            acc1 = vfmaq_n_f32(acc1, vcvtq_f32_s32(p1), h2f(a[i + 1].d) * h2f(b[i + 1].d));                   \
        }                                                                                                     \
        for (; i < nb; i++) {                                                                                 \
            int8x16_t l, h;                                                                                   \
            unpack_q4_0(a[i].qs, &l, &h);                                                                     \
            int32x4_t p = DOT(DOT(vdupq_n_s32(0), l, vld1q_s8(b[i].qs)), h, vld1q_s8(b[i].qs + 16));          \
            acc0 = vfmaq_n_f32(acc0, vcvtq_f32_s32(p), h2f(a[i].d) * h2f(b[i].d));                            \
        }                                                                                                     \
        *s = vaddvq_f32(vaddq_f32(acc0, acc1));                                                               \
    }

DEF_Q4_0_DOT(q4_0_vec_dot, , wdot)
DEF_Q4_0_DOT(q4_0_vec_dot_dp, DOTPROD, sdot)

#define DEF_Q4_0_4X(NAME, ATTR, DOT)                                                                          \
    ATTR static void NAME(int64_t n, float *s, size_t ss, const void *w, size_t wrb, const void *x, size_t xrb) \
    {                                                                                                         \
        const block_q4_0 *wr[4];                                                                              \
        const block_q8_0 *xr[4];                                                                              \
        UNROLL for (int r = 0; r < 4; r++) {                                                                  \
            wr[r] = (const block_q4_0 *)((const char *)w + r * wrb);                                          \
            xr[r] = (const block_q8_0 *)((const char *)x + r * xrb);                                          \
        }                                                                                                     \
        float32x4_t acc[4];                                                                                   \
        UNROLL for (int r = 0; r < 4; r++) acc[r] = vdupq_n_f32(0);                                           \
        for (int64_t i = 0; i < n / QK4_0; i++) {                                                             \
            int8x16_t x0[4], x1[4];                                                                           \
            float dxs[4];                                                                                     \
            UNROLL for (int c = 0; c < 4; c++) {                                                              \
                x0[c] = vld1q_s8(xr[c][i].qs);                                                                \
                x1[c] = vld1q_s8(xr[c][i].qs + 16);                                                           \
                dxs[c] = h2f(xr[c][i].d);                                                                     \
            }                                                                                                 \
            float32x4_t dx = vld1q_f32(dxs);                                                                  \
            UNROLL for (int r = 0; r < 4; r++) {                                                              \
                int8x16_t w0, w1;                                                                             \
                unpack_q4_0(wr[r][i].qs, &w0, &w1);                                                           \
                int32x4_t p[4];                                                                               \
                UNROLL for (int c = 0; c < 4; c++) p[c] = DOT(DOT(vdupq_n_s32(0), w0, x0[c]), w1, x1[c]);     \
                float32x4_t f = vcvtq_f32_s32(reduce4_s32(p[0], p[1], p[2], p[3]));                           \
                acc[r] = vfmaq_f32(acc[r], f, vmulq_n_f32(dx, h2f(wr[r][i].d)));                              \
            }                                                                                                 \
        }                                                                                                     \
        UNROLL for (int r = 0; r < 4; r++) vst1q_f32(s + r * ss, acc[r]);                                     \
    }

DEF_Q4_0_4X(q4_0_vec_dot_4x, , wdot)
DEF_Q4_0_4X(q4_0_vec_dot_4x_dp, DOTPROD, sdot)

/* ---- Q4_1 / Q5_0 / Q5_1 ---- */

/* Bytes 0x10 where bit k of the 16 bits is set, in byte k. */
static inline uint8x16_t bits_to_16(uint32_t bits)
{
    static const uint8_t sel[16] = {1, 2, 4, 8, 16, 32, 64, 128, 1, 2, 4, 8, 16, 32, 64, 128};
    uint8x16_t v = vcombine_u8(vdup_n_u8((uint8_t)bits), vdup_n_u8((uint8_t)(bits >> 8)));
    return vandq_u8(vtstq_u8(v, vld1q_u8(sel)), vdupq_n_u8(0x10));
}

/* Elements 0..15 and 16..31 of a Q5_0/Q5_1 block as unsigned 5-bit values:
 * the 5th bits are bits 0..15 and 16..31 of the little-endian word qh. */
static inline void unpack_q5(const uint8_t *qh, const uint8_t *qs, uint8x16_t *lo, uint8x16_t *hi)
{
    uint32_t h;
    memcpy(&h, qh, 4);
    uint8x16_t v = vld1q_u8(qs);
    *lo = vorrq_u8(vandq_u8(v, vdupq_n_u8(0x0F)), bits_to_16(h & 0xFFFF));
    *hi = vorrq_u8(vshrq_n_u8(v, 4), bits_to_16(h >> 16));
}

static inline void unpack_q5_0(const block_q5_0 *b, int8x16_t *lo, int8x16_t *hi)
{
    uint8x16_t l, h;
    unpack_q5(b->qh, b->qs, &l, &h);
    *lo = vsubq_s8(vreinterpretq_s8_u8(l), vdupq_n_s8(16));
    *hi = vsubq_s8(vreinterpretq_s8_u8(h), vdupq_n_s8(16));
}

/* Unsigned nibbles or 5-bit values fit int8 unchanged. */
static inline void unpack_q4_1(const block_q4_1 *b, int8x16_t *lo, int8x16_t *hi)
{
    uint8x16_t v = vld1q_u8(b->qs);
    *lo = vreinterpretq_s8_u8(vandq_u8(v, vdupq_n_u8(0x0F)));
    *hi = vreinterpretq_s8_u8(vshrq_n_u8(v, 4));
}

static inline void unpack_q5_1(const block_q5_1 *b, int8x16_t *lo, int8x16_t *hi)
{
    uint8x16_t l, h;
    unpack_q5(b->qh, b->qs, &l, &h);
    *lo = vreinterpretq_s8_u8(l);
    *hi = vreinterpretq_s8_u8(h);
}

/* sum of a Q8_0 block's 32 quants (pairs of 16 fit int16) */
static inline int32_t sum_q8_0(const int8_t *q) { return vaddlvq_s8(vld1q_s8(q)) + vaddlvq_s8(vld1q_s8(q + 16)); }

static void q5_0_to_float(const void *restrict src, float *restrict dst, int64_t n)
{
    const block_q5_0 *b = src;
    for (int64_t i = 0; i < n / QK5_0; i++) {
        int8x16_t lo, hi;
        unpack_q5_0(&b[i], &lo, &hi);
        float d = h2f(b[i].d);
        store_scaled_s8(lo, d, dst + i * QK5_0);
        store_scaled_s8(hi, d, dst + i * QK5_0 + 16);
    }
}

/* d*q - (-m) is d*q + m exactly */
static void q4_1_to_float(const void *restrict src, float *restrict dst, int64_t n)
{
    const block_q4_1 *b = src;
    for (int64_t i = 0; i < n / QK4_1; i++) {
        uint8x16_t v = vld1q_u8(b[i].qs);
        float d = h2f(b[i].d), m = -h2f(b[i].m);
        store_affine_u8(vandq_u8(v, vdupq_n_u8(0x0F)), d, m, dst + i * QK4_1);
        store_affine_u8(vshrq_n_u8(v, 4), d, m, dst + i * QK4_1 + 16);
    }
}

static void q5_1_to_float(const void *restrict src, float *restrict dst, int64_t n)
{
    const block_q5_1 *b = src;
    for (int64_t i = 0; i < n / QK5_1; i++) {
        uint8x16_t lo, hi;
        unpack_q5(b[i].qh, b[i].qs, &lo, &hi);
        float d = h2f(b[i].d), m = -h2f(b[i].m);
        store_affine_u8(lo, d, m, dst + i * QK5_1);
        store_affine_u8(hi, d, m, dst + i * QK5_1 + 16);
    }
}

#define DEF_Q5_0_DOT(NAME, ATTR, DOT)                                                                         \
    ATTR static void NAME(int64_t n, float *restrict s, const void *restrict w, const void *restrict x)       \
    {                                                                                                         \
        const block_q5_0 *a = w;                                                                              \
        const block_q8_0 *b = x;                                                                              \
        float32x4_t acc = vdupq_n_f32(0);                                                                     \
        for (int64_t i = 0; i < n / QK5_0; i++) {                                                             \
            int8x16_t l, h;                                                                                   \
            unpack_q5_0(&a[i], &l, &h);                                                                       \
            int32x4_t p = DOT(DOT(vdupq_n_s32(0), l, vld1q_s8(b[i].qs)), h, vld1q_s8(b[i].qs + 16));          \
            acc = vfmaq_n_f32(acc, vcvtq_f32_s32(p), h2f(a[i].d) * h2f(b[i].d));                              \
        }                                                                                                     \
        *s = vaddvq_f32(acc);                                                                                 \
    }

DEF_Q5_0_DOT(q5_0_vec_dot, , wdot)
DEF_Q5_0_DOT(q5_0_vec_dot_dp, DOTPROD, sdot)

/* Q4_1 / Q5_1: d*dy*sum(q*y) + m*dy*sum(y) per block. */
#define DEF_AFFINE_DOT(NAME, ATTR, DOT, BLOCK, UNPACK)                                                        \
    ATTR static void NAME(int64_t n, float *restrict s, const void *restrict w, const void *restrict x)       \
    {                                                                                                         \
        const BLOCK *a = w;                                                                                   \
        const block_q8_0 *b = x;                                                                              \
        float32x4_t acc = vdupq_n_f32(0);                                                                     \
        float accm = 0;                                                                                       \
        for (int64_t i = 0; i < n / 32; i++) {                                                                \
            int8x16_t l, h;                                                                                   \
            UNPACK(&a[i], &l, &h);                                                                            \
            int32x4_t p = DOT(DOT(vdupq_n_s32(0), l, vld1q_s8(b[i].qs)), h, vld1q_s8(b[i].qs + 16));          \
            float dy = h2f(b[i].d);                                                                           \
            acc = vfmaq_n_f32(acc, vcvtq_f32_s32(p), h2f(a[i].d) * dy);                                       \
            accm += (float)sum_q8_0(b[i].qs) * (h2f(a[i].m) * dy);                                            \
        }                                                                                                     \
        *s = vaddvq_f32(acc) + accm;                                                                          \
    }

DEF_AFFINE_DOT(q4_1_vec_dot, , wdot, block_q4_1, unpack_q4_1)
DEF_AFFINE_DOT(q4_1_vec_dot_dp, DOTPROD, sdot, block_q4_1, unpack_q4_1)
DEF_AFFINE_DOT(q5_1_vec_dot, , wdot, block_q5_1, unpack_q5_1)
DEF_AFFINE_DOT(q5_1_vec_dot_dp, DOTPROD, sdot, block_q5_1, unpack_q5_1)

/* Tiles for Q4_1 / Q5_0 / Q5_1 as for Q4_0; with AFFINE the m term adds
 * m[r] * (dy[c] * sum(y[c])), the bracket computed once per column. */
#define DEF_LEGACY_4X(NAME, ATTR, DOT, BLOCK, UNPACK, AFFINE, M_OF)                                          \
    ATTR static void NAME(int64_t n, float *s, size_t ss, const void *w, size_t wrb, const void *x, size_t xrb) \
    {                                                                                                         \
        const BLOCK *wr[4];                                                                                   \
        const block_q8_0 *xr[4];                                                                              \
        UNROLL for (int r = 0; r < 4; r++) {                                                                  \
            wr[r] = (const BLOCK *)((const char *)w + r * wrb);                                               \
            xr[r] = (const block_q8_0 *)((const char *)x + r * xrb);                                          \
        }                                                                                                     \
        float32x4_t acc[4];                                                                                   \
        UNROLL for (int r = 0; r < 4; r++) acc[r] = vdupq_n_f32(0);                                           \
        for (int64_t i = 0; i < n / 32; i++) {                                                                \
            int8x16_t x0[4], x1[4];                                                                           \
            float dxs[4], yms[4];                                                                             \
            UNROLL for (int c = 0; c < 4; c++) {                                                              \
                x0[c] = vld1q_s8(xr[c][i].qs);                                                                \
                x1[c] = vld1q_s8(xr[c][i].qs + 16);                                                           \
                dxs[c] = h2f(xr[c][i].d);                                                                     \
                yms[c] = AFFINE ? dxs[c] * (float)(vaddlvq_s8(x0[c]) + vaddlvq_s8(x1[c])) : 0.0f;             \
            }                                                                                                 \
            float32x4_t dx = vld1q_f32(dxs), ym = vld1q_f32(yms);                                             \
            UNROLL for (int r = 0; r < 4; r++) {                                                              \
                int8x16_t w0, w1;                                                                             \
                UNPACK(&wr[r][i], &w0, &w1);                                                                  \
                int32x4_t p[4];                                                                               \
                UNROLL for (int c = 0; c < 4; c++) p[c] = DOT(DOT(vdupq_n_s32(0), w0, x0[c]), w1, x1[c]);     \
                float32x4_t f = vcvtq_f32_s32(reduce4_s32(p[0], p[1], p[2], p[3]));                           \
                acc[r] = vfmaq_f32(acc[r], f, vmulq_n_f32(dx, h2f(wr[r][i].d)));                              \
                if (AFFINE) acc[r] = vfmaq_n_f32(acc[r], ym, M_OF(wr[r][i]));                                 \
            }                                                                                                 \
        }                                                                                                     \
        UNROLL for (int r = 0; r < 4; r++) vst1q_f32(s + r * ss, acc[r]);                                     \
    }

#define M_NONE(blk) 0.0f
#define M_FIELD(blk) h2f((blk).m)

DEF_LEGACY_4X(q5_0_vec_dot_4x, , wdot, block_q5_0, unpack_q5_0, 0, M_NONE)
DEF_LEGACY_4X(q5_0_vec_dot_4x_dp, DOTPROD, sdot, block_q5_0, unpack_q5_0, 0, M_NONE)
DEF_LEGACY_4X(q4_1_vec_dot_4x, , wdot, block_q4_1, unpack_q4_1, 1, M_FIELD)
DEF_LEGACY_4X(q4_1_vec_dot_4x_dp, DOTPROD, sdot, block_q4_1, unpack_q4_1, 1, M_FIELD)
DEF_LEGACY_4X(q5_1_vec_dot_4x, , wdot, block_q5_1, unpack_q5_1, 1, M_FIELD)
DEF_LEGACY_4X(q5_1_vec_dot_4x_dp, DOTPROD, sdot, block_q5_1, unpack_q5_1, 1, M_FIELD)

/* ---- Q4_K ---- */

/* Scales (bytes 0-7) and mins (bytes 8-15) of a Q4_K block, unpacked four at
 * a time in 32-bit words: the top two bits of bytes 0-7 become bits 4-5 of
 * the scales and mins of sub-blocks 4-7. */
static inline void q4_K_scales_mins(const uint8_t *p, uint8_t out[16])
{
    uint32_t u[3], v[4];
    memcpy(u, p, 12);
    const uint32_t m6 = 0x3F3F3F3F, m4 = 0x0F0F0F0F, top = 0x30303030;
    v[0] = u[0] & m6;
    v[1] = (u[2] & m4) | ((u[0] >> 2) & top);
    v[2] = u[1] & m6;
    v[3] = ((u[2] >> 4) & m4) | ((u[1] >> 2) & top);
    memcpy(out, v, 16);
}

static void q4_K_to_float(const void *restrict src, float *restrict dst, int64_t n)
{
    const block_q4_K *b = src;
    for (int64_t i = 0; i < n / QK_K; i++) {
        uint8_t sm[16];
        q4_K_scales_mins(b[i].scales, sm);
        float d = h2f(b[i].d), dmin = h2f(b[i].dmin);
        float *y = dst + i * QK_K;
        for (int c = 0; c < 4; c++) {
            float d0 = d * (float)sm[2 * c], m0 = dmin * (float)sm[8 + 2 * c];
            float d1 = d * (float)sm[2 * c + 1], m1 = dmin * (float)sm[8 + 2 * c + 1];
            for (int h = 0; h < 2; h++) {
                uint8x16_t q = vld1q_u8(b[i].qs + 32 * c + 16 * h);
                store_affine_u8(vandq_u8(q, vdupq_n_u8(0x0F)), d0, m0, y + 64 * c + 16 * h);
                store_affine_u8(vshrq_n_u8(q, 4), d1, m1, y + 64 * c + 32 + 16 * h);
            }
        }
    }
}

/* sum over sub-blocks of min_j * (its 32 activations' sum), from the 16-sums */
static inline int32_t q4_K_min_sum(const int16_t *bsums, const uint8_t *mins)
{
    int16x8_t pairs = vpaddq_s16(vld1q_s16(bsums), vld1q_s16(bsums + 8));
    int16x8_t m = vreinterpretq_s16_u16(vmovl_u8(vld1_u8(mins)));
    int32x4_t p = vmull_s16(vget_low_s16(pairs), vget_low_s16(m));
    p = vmlal_high_s16(p, pairs, m);
    return vaddvq_s32(p);
}

/* Nibbles fit int8 unchanged, so they go straight into the signed dot. */
#define DEF_Q4_K_DOT(NAME, ATTR, DOT)                                                                         \
    ATTR static void NAME(int64_t n, float *restrict s, const void *restrict w, const void *restrict x)       \
    {                                                                                                         \
        const block_q4_K *a = w;                                                                              \
        const block_q8_K *b = x;                                                                              \
        const uint8x16_t m4 = vdupq_n_u8(0x0F);                                                               \
        float sum = 0;                                                                                        \
        for (int64_t i = 0; i < n / QK_K; i++) {                                                              \
            uint8_t sm[16];                                                                                   \
            q4_K_scales_mins(a[i].scales, sm);                                                                \
            int32x4_t isum = vdupq_n_s32(0);                                                                  \
            UNROLL for (int c = 0; c < 4; c++) {                                                              \
                uint8x16_t q0 = vld1q_u8(a[i].qs + 32 * c), q1 = vld1q_u8(a[i].qs + 32 * c + 16);             \
                const int8_t *y = b[i].qs + 64 * c;                                                           \
                int32x4_t plo = DOT(vdupq_n_s32(0), vreinterpretq_s8_u8(vandq_u8(q0, m4)), vld1q_s8(y));      \
                plo = DOT(plo, vreinterpretq_s8_u8(vandq_u8(q1, m4)), vld1q_s8(y + 16));                      \
                int32x4_t phi = DOT(vdupq_n_s32(0), vreinterpretq_s8_u8(vshrq_n_u8(q0, 4)), vld1q_s8(y + 32)); \
                phi = DOT(phi, vreinterpretq_s8_u8(vshrq_n_u8(q1, 4)), vld1q_s8(y + 48));                     \
                isum = vmlaq_n_s32(isum, plo, sm[2 * c]);                                                     \
                isum = vmlaq_n_s32(isum, phi, sm[2 * c + 1]);                                                 \
            }                                                                                                 \
            float d = b[i].d * h2f(a[i].d), dmin = b[i].d * h2f(a[i].dmin);                                   \
            sum += d * (float)vaddvq_s32(isum) - dmin * (float)q4_K_min_sum(b[i].bsums, sm + 8);              \
        }                                                                                                     \
        *s = sum;                                                                                             \
    }

DEF_Q4_K_DOT(q4_K_vec_dot, , wdot)
DEF_Q4_K_DOT(q4_K_vec_dot_dp, DOTPROD, sdot)

#define DEF_Q4_K_4X(NAME, ATTR, DOT)                                                                          \
    ATTR static void NAME(int64_t n, float *s, size_t ss, const void *w, size_t wrb, const void *x, size_t xrb) \
    {                                                                                                         \
        const block_q4_K *wr[4];                                                                              \
        const block_q8_K *xr[4];                                                                              \
        UNROLL for (int r = 0; r < 4; r++) {                                                                  \
            wr[r] = (const block_q4_K *)((const char *)w + r * wrb);                                          \
            xr[r] = (const block_q8_K *)((const char *)x + r * xrb);                                          \
        }                                                                                                     \
        const uint8x16_t m4 = vdupq_n_u8(0x0F);                                                               \
        float32x4_t acc[4];                                                                                   \
        UNROLL for (int r = 0; r < 4; r++) acc[r] = vdupq_n_f32(0);                                           \
        for (int64_t i = 0; i < n / QK_K; i++) {                                                              \
            float dxs[4];                                                                                     \
            UNROLL for (int c = 0; c < 4; c++) dxs[c] = xr[c][i].d;                                          \
            float32x4_t dx = vld1q_f32(dxs);                                                                  \
            for (int r = 0; r < 4; r++) {                                                                     \
                const block_q4_K *a = &wr[r][i];                                                              \
                uint8_t sm[16];                                                                               \
                q4_K_scales_mins(a->scales, sm);                                                              \
                int32x4_t isum[4];                                                                            \
                UNROLL for (int c = 0; c < 4; c++) isum[c] = vdupq_n_s32(0);                                  \
                UNROLL for (int j = 0; j < 8; j++) {                                                          \
                    const uint8_t *qp = a->qs + 32 * (j / 2);                                                 \
                    uint8x16_t q0 = vld1q_u8(qp), q1 = vld1q_u8(qp + 16);                                     \
                    int8x16_t v0 = vreinterpretq_s8_u8((j & 1) ? vshrq_n_u8(q0, 4) : vandq_u8(q0, m4));       \
                    int8x16_t v1 = vreinterpretq_s8_u8((j & 1) ? vshrq_n_u8(q1, 4) : vandq_u8(q1, m4));       \
                    UNROLL for (int c = 0; c < 4; c++) {                                                      \
                        const int8_t *y = xr[c][i].qs + 32 * j;                                               \
                        int32x4_t p = DOT(DOT(vdupq_n_s32(0), v0, vld1q_s8(y)), v1, vld1q_s8(y + 16));        \
                        isum[c] = vmlaq_n_s32(isum[c], p, sm[j]);                                             \
                    }                                                                                         \
                }                                                                                             \
                int32_t ms[4];                                                                                \
                UNROLL for (int c = 0; c < 4; c++) ms[c] = q4_K_min_sum(xr[c][i].bsums, sm + 8);              \
                float32x4_t fi = vcvtq_f32_s32(reduce4_s32(isum[0], isum[1], isum[2], isum[3]));              \
                float32x4_t fm = vcvtq_f32_s32(vld1q_s32(ms));                                                \
                acc[r] = vfmaq_f32(acc[r], fi, vmulq_n_f32(dx, h2f(a->d)));                                   \
                acc[r] = vfmsq_f32(acc[r], fm, vmulq_n_f32(dx, h2f(a->dmin)));                                \
            }                                                                                                 \
        }                                                                                                     \
        UNROLL for (int r = 0; r < 4; r++) vst1q_f32(s + r * ss, acc[r]);                                     \
    }

DEF_Q4_K_4X(q4_K_vec_dot_4x, , wdot)
DEF_Q4_K_4X(q4_K_vec_dot_4x_dp, DOTPROD, sdot)

/* ---- Q5_K ---- */

/* Bit k of each byte of qh moved to bit 4 (0x10): a per-byte shift by 4 - k. */
static inline uint8x16_t bit_to_16(uint8x16_t qh, int k)
{
    return vandq_u8(vshlq_u8(qh, vdupq_n_s8((int8_t)(4 - k))), vdupq_n_u8(0x10));
}

static void q5_K_to_float(const void *restrict src, float *restrict dst, int64_t n)
{
    const block_q5_K *b = src;
    for (int64_t i = 0; i < n / QK_K; i++) {
        uint8_t sm[16];
        q4_K_scales_mins(b[i].scales, sm);
        float d = h2f(b[i].d), dmin = h2f(b[i].dmin);
        float *y = dst + i * QK_K;
        for (int c = 0; c < 4; c++) {
            float d0 = d * (float)sm[2 * c], m0 = dmin * (float)sm[8 + 2 * c];
            float d1 = d * (float)sm[2 * c + 1], m1 = dmin * (float)sm[8 + 2 * c + 1];
            for (int h = 0; h < 2; h++) {
                uint8x16_t q = vld1q_u8(b[i].qs + 32 * c + 16 * h), qh = vld1q_u8(b[i].qh + 16 * h);
                uint8x16_t lo = vorrq_u8(vandq_u8(q, vdupq_n_u8(0x0F)), bit_to_16(qh, 2 * c));
                uint8x16_t hi = vorrq_u8(vshrq_n_u8(q, 4), bit_to_16(qh, 2 * c + 1));
                store_affine_u8(lo, d0, m0, y + 64 * c + 16 * h);
                store_affine_u8(hi, d1, m1, y + 64 * c + 32 + 16 * h);
            }
        }
    }
}

/* 5-bit quants fit int8 unchanged, so they go straight into the signed dot. */
#define DEF_Q5_K_DOT(NAME, ATTR, DOT)                                                                         \
    ATTR static void NAME(int64_t n, float *restrict s, const void *restrict w, const void *restrict x)       \
    {                                                                                                         \
        const block_q5_K *a = w;                                                                              \
        const block_q8_K *b = x;                                                                              \
        const uint8x16_t m4 = vdupq_n_u8(0x0F);                                                               \
        float sum = 0;                                                                                        \
        for (int64_t i = 0; i < n / QK_K; i++) {                                                              \
            uint8_t sm[16];                                                                                   \
            q4_K_scales_mins(a[i].scales, sm);                                                                \
            uint8x16_t h0 = vld1q_u8(a[i].qh), h1 = vld1q_u8(a[i].qh + 16);                                  \
            int32x4_t isum = vdupq_n_s32(0);                                                                  \
            UNROLL for (int c = 0; c < 4; c++) {                                                              \
                uint8x16_t q0 = vld1q_u8(a[i].qs + 32 * c), q1 = vld1q_u8(a[i].qs + 32 * c + 16);             \
                const int8_t *y = b[i].qs + 64 * c;                                                           \
                int8x16_t l0 = vreinterpretq_s8_u8(vorrq_u8(vandq_u8(q0, m4), bit_to_16(h0, 2 * c)));         \
                int8x16_t l1 = vreinterpretq_s8_u8(vorrq_u8(vandq_u8(q1, m4), bit_to_16(h1, 2 * c)));         \
                int8x16_t u0 = vreinterpretq_s8_u8(vorrq_u8(vshrq_n_u8(q0, 4), bit_to_16(h0, 2 * c + 1)));    \
                int8x16_t u1 = vreinterpretq_s8_u8(vorrq_u8(vshrq_n_u8(q1, 4), bit_to_16(h1, 2 * c + 1)));    \
                int32x4_t plo = DOT(DOT(vdupq_n_s32(0), l0, vld1q_s8(y)), l1, vld1q_s8(y + 16));              \
                int32x4_t phi = DOT(DOT(vdupq_n_s32(0), u0, vld1q_s8(y + 32)), u1, vld1q_s8(y + 48));         \
                isum = vmlaq_n_s32(isum, plo, sm[2 * c]);                                                     \
                isum = vmlaq_n_s32(isum, phi, sm[2 * c + 1]);                                                 \
            }                                                                                                 \
            float d = b[i].d * h2f(a[i].d), dmin = b[i].d * h2f(a[i].dmin);                                   \
            sum += d * (float)vaddvq_s32(isum) - dmin * (float)q4_K_min_sum(b[i].bsums, sm + 8);              \
        }                                                                                                     \
        *s = sum;                                                                                             \
    }

DEF_Q5_K_DOT(q5_K_vec_dot, , wdot)
DEF_Q5_K_DOT(q5_K_vec_dot_dp, DOTPROD, sdot)

#define DEF_Q5_K_4X(NAME, ATTR, DOT)                                                                          \
    ATTR static void NAME(int64_t n, float *s, size_t ss, const void *w, size_t wrb, const void *x, size_t xrb) \
    {                                                                                                         \
        const block_q5_K *wr[4];                                                                              \
        const block_q8_K *xr[4];                                                                              \
        UNROLL for (int r = 0; r < 4; r++) {                                                                  \
            wr[r] = (const block_q5_K *)((const char *)w + r * wrb);                                          \
            xr[r] = (const block_q8_K *)((const char *)x + r * xrb);                                          \
        }                                                                                                     \
        const uint8x16_t m4 = vdupq_n_u8(0x0F);                                                               \
        float32x4_t acc[4];                                                                                   \
        UNROLL for (int r = 0; r < 4; r++) acc[r] = vdupq_n_f32(0);                                           \
        for (int64_t i = 0; i < n / QK_K; i++) {                                                              \
            float dxs[4];                                                                                     \
            UNROLL for (int c = 0; c < 4; c++) dxs[c] = xr[c][i].d;                                          \
            float32x4_t dx = vld1q_f32(dxs);                                                                  \
            for (int r = 0; r < 4; r++) {                                                                     \
                const block_q5_K *a = &wr[r][i];                                                              \
                uint8_t sm[16];                                                                               \
                q4_K_scales_mins(a->scales, sm);                                                              \
                uint8x16_t h0 = vld1q_u8(a->qh), h1 = vld1q_u8(a->qh + 16);                                  \
                int32x4_t isum[4];                                                                            \
                UNROLL for (int c = 0; c < 4; c++) isum[c] = vdupq_n_s32(0);                                  \
                UNROLL for (int j = 0; j < 8; j++) {                                                          \
                    const uint8_t *qp = a->qs + 32 * (j / 2);                                                 \
                    uint8x16_t q0 = vld1q_u8(qp), q1 = vld1q_u8(qp + 16);                                     \
                    uint8x16_t v0 = (j & 1) ? vshrq_n_u8(q0, 4) : vandq_u8(q0, m4);                           \
                    uint8x16_t v1 = (j & 1) ? vshrq_n_u8(q1, 4) : vandq_u8(q1, m4);                           \
                    int8x16_t w0 = vreinterpretq_s8_u8(vorrq_u8(v0, bit_to_16(h0, j)));                       \
                    int8x16_t w1 = vreinterpretq_s8_u8(vorrq_u8(v1, bit_to_16(h1, j)));                       \
                    UNROLL for (int c = 0; c < 4; c++) {                                                      \
                        const int8_t *y = xr[c][i].qs + 32 * j;                                               \
                        int32x4_t p = DOT(DOT(vdupq_n_s32(0), w0, vld1q_s8(y)), w1, vld1q_s8(y + 16));        \
                        isum[c] = vmlaq_n_s32(isum[c], p, sm[j]);                                             \
                    }                                                                                         \
                }                                                                                             \
                int32_t ms[4];                                                                                \
                UNROLL for (int c = 0; c < 4; c++) ms[c] = q4_K_min_sum(xr[c][i].bsums, sm + 8);              \
                float32x4_t fi = vcvtq_f32_s32(reduce4_s32(isum[0], isum[1], isum[2], isum[3]));              \
                float32x4_t fm = vcvtq_f32_s32(vld1q_s32(ms));                                                \
                acc[r] = vfmaq_f32(acc[r], fi, vmulq_n_f32(dx, h2f(a->d)));                                   \
                acc[r] = vfmsq_f32(acc[r], fm, vmulq_n_f32(dx, h2f(a->dmin)));                                \
            }                                                                                                 \
        }                                                                                                     \
        UNROLL for (int r = 0; r < 4; r++) vst1q_f32(s + r * ss, acc[r]);                                     \
    }

DEF_Q5_K_4X(q5_K_vec_dot_4x, , wdot)
DEF_Q5_K_4X(q5_K_vec_dot_4x_dp, DOTPROD, sdot)

/* ---- Q6_K ---- */

/* Group g (0..7, 16 elements l0..l0+15 of part g/2 of a half) as signed q - 32:
 * part 0 low nibbles of ql[l] with qh bits 0-1, part 1 low nibbles of ql[l+32]
 * with bits 2-3, part 2 high nibbles of ql[l] with bits 4-5, part 3 high
 * nibbles of ql[l+32] with bits 6-7. */
static inline int8x16_t q6_K_group(const uint8_t *ql, const uint8_t *qh, int part, int l0)
{
    uint8x16_t l = vld1q_u8(ql + 32 * (part & 1) + l0);
    uint8x16_t h = vld1q_u8(qh + l0);
    l = part < 2 ? vandq_u8(l, vdupq_n_u8(0x0F)) : vshrq_n_u8(l, 4);
    h = part == 0 ? vshlq_n_u8(h, 4) : part == 1 ? vshlq_n_u8(h, 2) : part == 2 ? h : vshrq_n_u8(h, 2);
    uint8x16_t q = vorrq_u8(l, vandq_u8(h, vdupq_n_u8(0x30)));
    return vsubq_s8(vreinterpretq_s8_u8(q), vdupq_n_s8(32));
}

static void q6_K_to_float(const void *restrict src, float *restrict dst, int64_t n)
{
    const block_q6_K *b = src;
    for (int64_t i = 0; i < n / QK_K; i++) {
        float d = h2f(b[i].d);
        for (int h = 0; h < 2; h++)
            for (int part = 0; part < 4; part++)
                for (int l0 = 0; l0 < 32; l0 += 16) {
                    int e = 128 * h + 32 * part + l0;
                    int8x16_t q = q6_K_group(b[i].ql + 64 * h, b[i].qh + 32 * h, part, l0);
                    store_scaled_s8(q, d * (float)b[i].scales[e / 16], dst + i * QK_K + e);
                }
    }
}

#define DEF_Q6_K_DOT(NAME, ATTR, DOT)                                                                         \
    ATTR static void NAME(int64_t n, float *restrict s, const void *restrict w, const void *restrict x)       \
    {                                                                                                         \
        const block_q6_K *a = w;                                                                              \
        const block_q8_K *b = x;                                                                              \
        float sum = 0;                                                                                        \
        for (int64_t i = 0; i < n / QK_K; i++) {                                                              \
            int32x4_t isum = vdupq_n_s32(0);                                                                  \
            UNROLL for (int h = 0; h < 2; h++) UNROLL for (int part = 0; part < 4; part++) {                  \
                UNROLL for (int l0 = 0; l0 < 32; l0 += 16) {                                                  \
                    int e = 128 * h + 32 * part + l0;                                                         \
                    int8x16_t q = q6_K_group(a[i].ql + 64 * h, a[i].qh + 32 * h, part, l0);                   \
                    int32x4_t p = DOT(vdupq_n_s32(0), q, vld1q_s8(b[i].qs + e));                              \
                    isum = vmlaq_n_s32(isum, p, a[i].scales[e / 16]);                                         \
                }                                                                                             \
            }                                                                                                 \
            sum += (h2f(a[i].d) * b[i].d) * (float)vaddvq_s32(isum);                                          \
        }                                                                                                     \
        *s = sum;                                                                                             \
    }

DEF_Q6_K_DOT(q6_K_vec_dot, , wdot)
DEF_Q6_K_DOT(q6_K_vec_dot_dp, DOTPROD, sdot)

#define DEF_Q6_K_4X(NAME, ATTR, DOT)                                                                          \
    ATTR static void NAME(int64_t n, float *s, size_t ss, const void *w, size_t wrb, const void *x, size_t xrb) \
    {                                                                                                         \
        const block_q6_K *wr[4];                                                                              \
        const block_q8_K *xr[4];                                                                              \
        UNROLL for (int r = 0; r < 4; r++) {                                                                  \
            wr[r] = (const block_q6_K *)((const char *)w + r * wrb);                                          \
            xr[r] = (const block_q8_K *)((const char *)x + r * xrb);                                          \
        }                                                                                                     \
        float32x4_t acc[4];                                                                                   \
        UNROLL for (int r = 0; r < 4; r++) acc[r] = vdupq_n_f32(0);                                           \
        for (int64_t i = 0; i < n / QK_K; i++) {                                                              \
            float dxs[4];                                                                                     \
            UNROLL for (int c = 0; c < 4; c++) dxs[c] = xr[c][i].d;                                          \
            float32x4_t dx = vld1q_f32(dxs);                                                                  \
            for (int r = 0; r < 4; r++) {                                                                     \
                const block_q6_K *a = &wr[r][i];                                                              \
                int32x4_t isum[4];                                                                            \
                UNROLL for (int c = 0; c < 4; c++) isum[c] = vdupq_n_s32(0);                                  \
                for (int h = 0; h < 2; h++) UNROLL for (int part = 0; part < 4; part++) {                     \
                    UNROLL for (int l0 = 0; l0 < 32; l0 += 16) {                                              \
                        int e = 128 * h + 32 * part + l0;                                                     \
                        int8x16_t q = q6_K_group(a->ql + 64 * h, a->qh + 32 * h, part, l0);                   \
                        UNROLL for (int c = 0; c < 4; c++) {                                                  \
                            int32x4_t p = DOT(vdupq_n_s32(0), q, vld1q_s8(xr[c][i].qs + e));                  \
                            isum[c] = vmlaq_n_s32(isum[c], p, a->scales[e / 16]);                             \
                        }                                                                                     \
                    }                                                                                         \
                }                                                                                             \
                float32x4_t fi = vcvtq_f32_s32(reduce4_s32(isum[0], isum[1], isum[2], isum[3]));              \
                acc[r] = vfmaq_f32(acc[r], fi, vmulq_n_f32(dx, h2f(a->d)));                                   \
            }                                                                                                 \
        }                                                                                                     \
        UNROLL for (int r = 0; r < 4; r++) vst1q_f32(s + r * ss, acc[r]);                                     \
    }

DEF_Q6_K_4X(q6_K_vec_dot_4x, , wdot)
DEF_Q6_K_4X(q6_K_vec_dot_4x_dp, DOTPROD, sdot)

/* ---- Q3_K / Q2_K ---- */

/* The sixteen Q3_K scales minus 32 (see kernels_avx2.c for the packing). */
static inline void q3_K_scales(const uint8_t *p, int8_t out[16])
{
    uint32_t u[3], v[4];
    memcpy(u, p, 12);
    const uint32_t m4 = 0x0F0F0F0F, m2 = 0x03030303;
    v[0] = (u[0] & m4) | ((u[2] & m2) << 4);
    v[1] = (u[1] & m4) | (((u[2] >> 2) & m2) << 4);
    v[2] = ((u[0] >> 4) & m4) | (((u[2] >> 4) & m2) << 4);
    v[3] = ((u[1] >> 4) & m4) | (((u[2] >> 6) & m2) << 4);
    vst1q_s8(out, vsubq_s8(vreinterpretq_s8_u32(vld1q_u32(v)), vdupq_n_s8(32)));
}

/* Sixteen quants of group j of half h (elements 128h + 32j + l0 .. +15):
 * bits 2j, 2j+1 of qs[32h + l], for Q3_K with bit 4h+j of hmask[l] as bit 2
 * and 4 subtracted. */
static inline uint8x16_t q2_K_group(const uint8_t *qs, int j)
{
    return vandq_u8(vshlq_u8(vld1q_u8(qs), vdupq_n_s8((int8_t)(-2 * j))), vdupq_n_u8(3));
}

static inline int8x16_t q3_K_group(const uint8_t *qs, const uint8_t *hm, int k, int j)
{
    uint8x16_t hb = vandq_u8(vshlq_u8(vld1q_u8(hm), vdupq_n_s8((int8_t)(2 - k))), vdupq_n_u8(4));
    return vsubq_s8(vreinterpretq_s8_u8(vorrq_u8(q2_K_group(qs, j), hb)), vdupq_n_s8(4));
}

static void q3_K_to_float(const void *restrict src, float *restrict dst, int64_t n)
{
    const block_q3_K *b = src;
    for (int64_t i = 0; i < n / QK_K; i++) {
        int8_t sc[16];
        q3_K_scales(b[i].scales, sc);
        float d = h2f(b[i].d);
        for (int h = 0; h < 2; h++)
            for (int j = 0; j < 4; j++)
                for (int l0 = 0; l0 < 32; l0 += 16) {
                    int e = 128 * h + 32 * j + l0;
                    int8x16_t q = q3_K_group(b[i].qs + 32 * h + l0, b[i].hmask + l0, 4 * h + j, j);
                    store_scaled_s8(q, d * (float)sc[e / 16], dst + i * QK_K + e);
                }
    }
}

#define DEF_Q3_K_DOT(NAME, ATTR, DOT)                                                                         \
    ATTR static void NAME(int64_t n, float *restrict s, const void *restrict w, const void *restrict x)       \
    {                                                                                                         \
        const block_q3_K *a = w;                                                                              \
        const block_q8_K *b = x;                                                                              \
        float sum = 0;                                                                                        \
        for (int64_t i = 0; i < n / QK_K; i++) {                                                              \
            int8_t sc[16];                                                                                    \
            q3_K_scales(a[i].scales, sc);                                                                     \
            int32x4_t isum = vdupq_n_s32(0);                                                                  \
            UNROLL for (int h = 0; h < 2; h++) UNROLL for (int j = 0; j < 4; j++) {                           \
                UNROLL for (int l0 = 0; l0 < 32; l0 += 16) {                                                  \
                    int e = 128 * h + 32 * j + l0;                                                            \
                    int8x16_t q = q3_K_group(a[i].qs + 32 * h + l0, a[i].hmask + l0, 4 * h + j, j);           \
                    int32x4_t p = DOT(vdupq_n_s32(0), q, vld1q_s8(b[i].qs + e));                              \
                    isum = vmlaq_n_s32(isum, p, sc[e / 16]);                                                  \
                }                                                                                             \
            }                                                                                                 \
            sum += (h2f(a[i].d) * b[i].d) * (float)vaddvq_s32(isum);                                          \
        }                                                                                                     \
        *s = sum;                                                                                             \
    }

DEF_Q3_K_DOT(q3_K_vec_dot, , wdot)
DEF_Q3_K_DOT(q3_K_vec_dot_dp, DOTPROD, sdot)

static void q2_K_to_float(const void *restrict src, float *restrict dst, int64_t n)
{
    const block_q2_K *b = src;
    for (int64_t i = 0; i < n / QK_K; i++) {
        float d = h2f(b[i].d), dmin = h2f(b[i].dmin);
        for (int h = 0; h < 2; h++)
            for (int j = 0; j < 4; j++)
                for (int l0 = 0; l0 < 32; l0 += 16) {
                    int e = 128 * h + 32 * j + l0;
                    uint8_t sc = b[i].scales[e / 16];
                    store_affine_u8(q2_K_group(b[i].qs + 32 * h + l0, j), d * (float)(sc & 15),
                                    dmin * (float)(sc >> 4), dst + i * QK_K + e);
                }
    }
}

/* sum over the 16 groups of min * (the group's activation sum) */
static inline int32_t q2_K_min_sum(const int16_t *bsums, const uint8_t *scales)
{
    uint8x16_t mn = vshrq_n_u8(vld1q_u8(scales), 4);
    int16x8_t m0 = vreinterpretq_s16_u16(vmovl_u8(vget_low_u8(mn))), m1 = vreinterpretq_s16_u16(vmovl_high_u8(mn));
    int32x4_t p = vmull_s16(vget_low_s16(m0), vld1_s16(bsums));
    p = vmlal_high_s16(p, m0, vld1q_s16(bsums));
    p = vmlal_s16(p, vget_low_s16(m1), vld1_s16(bsums + 8));
    p = vmlal_high_s16(p, m1, vld1q_s16(bsums + 8));
    return vaddvq_s32(p);
}

#define DEF_Q2_K_DOT(NAME, ATTR, DOT)                                                                         \
    ATTR static void NAME(int64_t n, float *restrict s, const void *restrict w, const void *restrict x)       \
    {                                                                                                         \
        const block_q2_K *a = w;                                                                              \
        const block_q8_K *b = x;                                                                              \
        float sum = 0;                                                                                        \
        for (int64_t i = 0; i < n / QK_K; i++) {                                                              \
            int32x4_t isum = vdupq_n_s32(0);                                                                  \
            UNROLL for (int h = 0; h < 2; h++) UNROLL for (int j = 0; j < 4; j++) {                           \
                UNROLL for (int l0 = 0; l0 < 32; l0 += 16) {                                                  \
                    int e = 128 * h + 32 * j + l0;                                                            \
                    int8x16_t q = vreinterpretq_s8_u8(q2_K_group(a[i].qs + 32 * h + l0, j));                  \
                    int32x4_t p = DOT(vdupq_n_s32(0), q, vld1q_s8(b[i].qs + e));                              \
                    isum = vmlaq_n_s32(isum, p, a[i].scales[e / 16] & 15);                                    \
                }                                                                                             \
            }                                                                                                 \
            float d = b[i].d * h2f(a[i].d), dmin = b[i].d * h2f(a[i].dmin);                                   \
            sum += d * (float)vaddvq_s32(isum) - dmin * (float)q2_K_min_sum(b[i].bsums, a[i].scales);         \
        }                                                                                                     \
        *s = sum;                                                                                             \
    }

DEF_Q2_K_DOT(q2_K_vec_dot, , wdot)
DEF_Q2_K_DOT(q2_K_vec_dot_dp, DOTPROD, sdot)

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
DOTS_4X(q3_K_vec_dot_4x_dp, DOTPROD, q3_K_vec_dot_dp)
DOTS_4X(q2_K_vec_dot_4x, , q2_K_vec_dot)
DOTS_4X(q2_K_vec_dot_4x_dp, DOTPROD, q2_K_vec_dot_dp)

/* ---- dense helpers ---- */

static float vec_dot_f32(int64_t n, const float *a, const float *b) { return dot_f32(n, a, b); }

static void axpy_f32(int64_t n, float a, const float *x, float *y)
{
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) vst1q_f32(y + i, vfmaq_n_f32(vld1q_f32(y + i), vld1q_f32(x + i), a));
    for (; i < n; i++) y[i] += a * x[i];
}

static void scale_f32(int64_t n, float a, float *x)
{
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) vst1q_f32(x + i, vmulq_n_f32(vld1q_f32(x + i), a));
    for (; i < n; i++) x[i] *= a;
}

void kernels_fill_neon(rk_kernels *k)
{
    k->isa = RK_ISA_NEON;
    bool dp = k->ext & RK_EXT_NEON_DOTPROD;
    k->ext &= RK_EXT_NEON_DOTPROD;
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
    o[GGML_TYPE_Q8_0].vec_dot = dp ? q8_0_vec_dot_dp : q8_0_vec_dot;
    o[GGML_TYPE_Q8_0].vec_dot_4x = dp ? q8_0_vec_dot_4x_dp : q8_0_vec_dot_4x;
    o[GGML_TYPE_Q4_0].to_float = q4_0_to_float;
    o[GGML_TYPE_Q4_0].vec_dot = dp ? q4_0_vec_dot_dp : q4_0_vec_dot;
    o[GGML_TYPE_Q4_0].vec_dot_4x = dp ? q4_0_vec_dot_4x_dp : q4_0_vec_dot_4x;
    o[GGML_TYPE_Q4_K].to_float = q4_K_to_float;
    o[GGML_TYPE_Q4_K].vec_dot = dp ? q4_K_vec_dot_dp : q4_K_vec_dot;
    o[GGML_TYPE_Q4_K].vec_dot_4x = dp ? q4_K_vec_dot_4x_dp : q4_K_vec_dot_4x;
    o[GGML_TYPE_Q6_K].to_float = q6_K_to_float;
    o[GGML_TYPE_Q6_K].vec_dot = dp ? q6_K_vec_dot_dp : q6_K_vec_dot;
    o[GGML_TYPE_Q6_K].vec_dot_4x = dp ? q6_K_vec_dot_4x_dp : q6_K_vec_dot_4x;
    o[GGML_TYPE_Q4_1].to_float = q4_1_to_float;
    o[GGML_TYPE_Q4_1].vec_dot = dp ? q4_1_vec_dot_dp : q4_1_vec_dot;
    o[GGML_TYPE_Q4_1].vec_dot_4x = dp ? q4_1_vec_dot_4x_dp : q4_1_vec_dot_4x;
    o[GGML_TYPE_Q5_0].to_float = q5_0_to_float;
    o[GGML_TYPE_Q5_0].vec_dot = dp ? q5_0_vec_dot_dp : q5_0_vec_dot;
    o[GGML_TYPE_Q5_0].vec_dot_4x = dp ? q5_0_vec_dot_4x_dp : q5_0_vec_dot_4x;
    o[GGML_TYPE_Q5_1].to_float = q5_1_to_float;
    o[GGML_TYPE_Q5_1].vec_dot = dp ? q5_1_vec_dot_dp : q5_1_vec_dot;
    o[GGML_TYPE_Q5_1].vec_dot_4x = dp ? q5_1_vec_dot_4x_dp : q5_1_vec_dot_4x;
    o[GGML_TYPE_Q2_K].to_float = q2_K_to_float;
    o[GGML_TYPE_Q2_K].vec_dot = dp ? q2_K_vec_dot_dp : q2_K_vec_dot;
    o[GGML_TYPE_Q2_K].vec_dot_4x = dp ? q2_K_vec_dot_4x_dp : q2_K_vec_dot_4x;
    o[GGML_TYPE_Q3_K].to_float = q3_K_to_float;
    o[GGML_TYPE_Q3_K].vec_dot = dp ? q3_K_vec_dot_dp : q3_K_vec_dot;
    o[GGML_TYPE_Q3_K].vec_dot_4x = dp ? q3_K_vec_dot_4x_dp : q3_K_vec_dot_4x;
    o[GGML_TYPE_Q5_K].to_float = q5_K_to_float;
    o[GGML_TYPE_Q5_K].vec_dot = dp ? q5_K_vec_dot_dp : q5_K_vec_dot;
    o[GGML_TYPE_Q5_K].vec_dot_4x = dp ? q5_K_vec_dot_4x_dp : q5_K_vec_dot_4x;
    o[GGML_TYPE_Q8_K].from_float = q8_K_from_float;
    k->vec = (rk_vec_ops){vec_dot_f32, axpy_f32, scale_f32, fp16_to_f32, f32_to_fp16};
}
