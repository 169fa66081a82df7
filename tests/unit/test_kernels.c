/* Numeric kernels: every vector table this CPU can run (each ISA, with and
 * without its optional extensions) against the scalar reference, the
 * reference against hand-decoded blocks, and quantisers against error
 * bounds.
 *
 * Tolerances:
 *  - to_float, from_float, fp16 conversions and scale_f32: bit-exact.
 *  - vec_dot / vec_dot_4x / dot_f32 on random data: |v - ref| <= 1e-5 * sum|w_i*x_i|
 *    (float accumulation order differs between kernels).
 *  - vec_dot / vec_dot_4x on "exact" data (power-of-two scales, small
 *    integers, all partial sums below 2^24): bit-exact against the double
 *    sum of the dequantised products, so the integer block sums must be exact.
 *  - axpy_f32: within 2^-22 * (|a*x| + |y|) (a fused multiply-add is allowed). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "engine/cpu/kernels.h"

/* ---- deterministic random numbers (splitmix64) ---- */

static uint64_t rng_state;

static void rng_seed(uint64_t s) { rng_state = s; }

static uint64_t rng_next(void)
{
    uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static float uniform(float lo, float hi) { return lo + (hi - lo) * (float)(rng_next() >> 40) * 0x1p-24f; }

static int rand_int(int lo, int hi) { return lo + (int)(rng_next() % (uint64_t)(hi - lo + 1)); }

static float gaussian(void)
{
    double u1 = ((double)(rng_next() >> 11) + 1.0) * 0x1p-53, u2 = (double)(rng_next() >> 11) * 0x1p-53;
    return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}

static void rand_bytes(uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++) p[i] = (uint8_t)rng_next();
}

/* ---- the tables under test ---- */

#define MAX_VARIANTS 6
typedef struct {
    rk_kernels k;
    char name[40];
} variant;

static rk_kernels REF;
static variant V[MAX_VARIANTS];
static int NV;

static int setup_variants(void **state)
{
    (void)state;
    kernels_build(&REF, RK_ISA_SCALAR, 0);
    NV = 0;
    char list[256] = "";
    for (int isa = RK_ISA_SCALAR + 1; isa < RK_ISA_COUNT; isa++) {
        if (!kernels_for_isa((rk_isa)isa)) continue;
        variant *v = &V[NV++];
        assert_true(kernels_build(&v->k, (rk_isa)isa, ~0u));
        snprintf(v->name, sizeof v->name, "%s%s%s", kernels_isa_name((rk_isa)isa),
                 v->k.ext & RK_EXT_AVX512VNNI ? "+vnni" : "", v->k.ext & RK_EXT_NEON_DOTPROD ? "+dotprod" : "");
        if (v->k.ext) { /* also the path of a CPU without the extension */
            variant *w = &V[NV++];
            assert_true(kernels_build(&w->k, (rk_isa)isa, 0));
            assert_int_equal(w->k.ext, 0);
            snprintf(w->name, sizeof w->name, "%s", kernels_isa_name((rk_isa)isa));
        }
    }
    for (int i = 0; i < NV; i++) {
        strncat(list, " ", sizeof list - strlen(list) - 1);
        strncat(list, V[i].name, sizeof list - strlen(list) - 1);
    }
    print_message("vector tables under test:%s\n", NV ? list : " none (scalar only)");
    return 0;
}

static const uint32_t DOT_TYPES[] = {GGML_TYPE_F32,  GGML_TYPE_F16,  GGML_TYPE_BF16, GGML_TYPE_Q8_0,
                                     GGML_TYPE_Q4_0, GGML_TYPE_Q4_1, GGML_TYPE_Q5_0, GGML_TYPE_Q5_1,
                                     GGML_TYPE_Q2_K, GGML_TYPE_Q3_K, GGML_TYPE_Q4_K, GGML_TYPE_Q5_K,
                                     GGML_TYPE_Q6_K};
#define N_DOT_TYPES (sizeof(DOT_TYPES) / sizeof(DOT_TYPES[0]))

/* Element counts: odd numbers of blocks, and for the float types odd sizes. */
static const int64_t BLOCK_COUNTS[] = {1, 3, 7, 33};
static const int64_t FLOAT_SIZES[] = {1, 7, 31, 32, 33, 64, 1003, 4099};

static size_t sizes_for(uint32_t t, int64_t *out)
{
    size_t blck = ggml_blck_size(t);
    if (blck == 1) {
        memcpy(out, FLOAT_SIZES, sizeof FLOAT_SIZES);
        return sizeof FLOAT_SIZES / sizeof FLOAT_SIZES[0];
    }
    for (size_t i = 0; i < 4; i++) out[i] = BLOCK_COUNTS[i] * (int64_t)blck;
    return 4;
}

static float *to_floats(uint32_t t, const void *data, int64_t n)
{
    float *f = malloc((size_t)n * sizeof(float));
    REF.types[t]->to_float(data, f, n);
    return f;
}

/* ---- generators ---- */

static rk_fp16 random_scale16(void)
{
    float m = uniform(0.001f, 0.1f);
    return rk_fp32_to_fp16(rng_next() & 1 ? -m : m);
}

/* Random weights of type t. In exact mode scales are powers of two and the
 * integers small enough that every partial sum of a dot is exact in float. */
static void *make_weights(uint32_t t, int64_t n, int exact)
{
    size_t bytes = ggml_row_size(t, n);
    uint8_t *p = malloc(bytes);
    rand_bytes(p, bytes);
    switch (t) {
    case GGML_TYPE_F32:
        for (int64_t i = 0; i < n; i++) ((float *)p)[i] = exact ? (float)rand_int(-8, 8) : uniform(-1, 1);
        break;
    case GGML_TYPE_F16:
        for (int64_t i = 0; i < n; i++)
            ((rk_fp16 *)p)[i] = rk_fp32_to_fp16(exact ? (float)rand_int(-8, 8) : gaussian());
        break;
    case GGML_TYPE_BF16:
        for (int64_t i = 0; i < n; i++)
            ((rk_bf16 *)p)[i] = rk_fp32_to_bf16(exact ? (float)rand_int(-8, 8) : gaussian());
        break;
    case GGML_TYPE_Q8_0:
        for (block_q8_0 *b = (block_q8_0 *)p; b < (block_q8_0 *)(p + bytes); b++) {
            b->d = exact ? 0x2400 /* 2^-6 */ : random_scale16();
            /* full int8 range: files from other quantisers may hold -128 (our
             * activations never do, which the sign trick relies on) */
            for (int j = 0; j < QK8_0; j++) b->qs[j] = (int8_t)rand_int(-128, 127);
        }
        break;
    case GGML_TYPE_Q4_0:
        for (block_q4_0 *b = (block_q4_0 *)p; b < (block_q4_0 *)(p + bytes); b++)
            b->d = exact ? 0x3800 /* 0.5 */ : random_scale16();
        break;
    case GGML_TYPE_Q4_1:
        for (block_q4_1 *b = (block_q4_1 *)p; b < (block_q4_1 *)(p + bytes); b++) {
            b->d = exact ? 0x3800 /* 0.5 */ : random_scale16();
            b->m = exact ? rk_fp32_to_fp16(0.5f * (float)rand_int(-16, 16)) : random_scale16();
        }
        break;
    case GGML_TYPE_Q5_0:
        for (block_q5_0 *b = (block_q5_0 *)p; b < (block_q5_0 *)(p + bytes); b++)
            b->d = exact ? 0x3800 : random_scale16();
        break;
    case GGML_TYPE_Q5_1:
        for (block_q5_1 *b = (block_q5_1 *)p; b < (block_q5_1 *)(p + bytes); b++) {
            b->d = exact ? 0x3800 : random_scale16();
            b->m = exact ? rk_fp32_to_fp16(0.5f * (float)rand_int(-16, 16)) : random_scale16();
        }
        break;
    case GGML_TYPE_Q2_K:
        for (block_q2_K *b = (block_q2_K *)p; b < (block_q2_K *)(p + bytes); b++) {
            b->d = exact ? 0x2C00 /* 1/16 */ : rk_fp32_to_fp16(uniform(0.0005f, 0.01f));
            b->dmin = exact ? 0x2C00 : rk_fp32_to_fp16(uniform(0.0005f, 0.01f));
        }
        break;
    case GGML_TYPE_Q3_K:
        for (block_q3_K *b = (block_q3_K *)p; b < (block_q3_K *)(p + bytes); b++) {
            b->d = exact ? 0x2800 /* 2^-5 */ : rk_fp32_to_fp16(uniform(0.0005f, 0.01f));
            if (exact) /* top bits 10 and low nibbles 0..15: scales 32..47, i.e. 0..15 after the -32 */
                for (int j = 0; j < 4; j++) b->scales[8 + j] = 0xAA;
        }
        break;
    case GGML_TYPE_Q5_K:
        for (block_q5_K *b = (block_q5_K *)p; b < (block_q5_K *)(p + bytes); b++) {
            b->d = exact ? 0x2C00 : rk_fp32_to_fp16(uniform(0.0005f, 0.01f));
            b->dmin = exact ? 0x2C00 : rk_fp32_to_fp16(uniform(0.0005f, 0.01f));
            if (exact)
                for (int j = 0; j < 8; j++) b->scales[j] &= 0x0F;
        }
        break;
    case GGML_TYPE_Q4_K:
        for (block_q4_K *b = (block_q4_K *)p; b < (block_q4_K *)(p + bytes); b++) {
            b->d = exact ? 0x2C00 /* 1/16 */ : rk_fp32_to_fp16(uniform(0.0005f, 0.01f));
            b->dmin = exact ? 0x2C00 : rk_fp32_to_fp16(uniform(0.0005f, 0.01f));
            if (exact) /* clears the top bits of every 6-bit scale and min: all <= 15 */
                for (int j = 0; j < 8; j++) b->scales[j] &= 0x0F;
        }
        break;
    case GGML_TYPE_Q6_K:
        for (block_q6_K *b = (block_q6_K *)p; b < (block_q6_K *)(p + bytes); b++) {
            b->d = exact ? 0x2800 /* 2^-5 */ : rk_fp32_to_fp16(uniform(0.0005f, 0.01f));
            if (exact)
                for (int g = 0; g < 16; g++) b->scales[g] = (int8_t)rand_int(-5, 5);
        }
        break;
    default:
        fail_msg("no generator for type %u", t);
    }
    return p;
}

/* Activations in t's vec_dot_type: random floats through the reference
 * quantiser, or in exact mode small integers with a power-of-two scale. */
static void *make_acts(uint32_t t, int64_t n, int exact)
{
    uint32_t vt = REF.types[t]->vec_dot_type;
    size_t bytes = ggml_row_size(vt, n);
    uint8_t *p = calloc(1, bytes);
    if (!exact) {
        float *f = malloc((size_t)n * sizeof(float));
        for (int64_t i = 0; i < n; i++) f[i] = gaussian();
        REF.types[vt]->from_float(f, p, n);
        free(f);
        return p;
    }
    switch (vt) {
    case GGML_TYPE_F32:
        for (int64_t i = 0; i < n; i++) ((float *)p)[i] = (float)rand_int(-8, 8);
        break;
    case GGML_TYPE_Q8_0: {
        int lim = t == GGML_TYPE_Q8_0 ? 63 : 127;
        for (block_q8_0 *b = (block_q8_0 *)p; b < (block_q8_0 *)(p + bytes); b++) {
            b->d = 0x3000; /* 1/8 */
            for (int j = 0; j < QK8_0; j++) b->qs[j] = (int8_t)rand_int(-lim, lim);
        }
        break;
    }
    case GGML_TYPE_Q8_K: {
        /* Q4_K: 256 * 15*15*7 per block; Q5_K: 256 * 15*31*3; the rest smaller */
        int lim = t == GGML_TYPE_Q4_K ? 7 : 3;
        for (block_q8_K *b = (block_q8_K *)p; b < (block_q8_K *)(p + bytes); b++) {
            b->d = 0.0625f;
            for (int g = 0; g < QK_K / 16; g++) {
                int sum = 0;
                for (int j = 0; j < 16; j++) sum += b->qs[16 * g + j] = (int8_t)rand_int(-lim, lim);
                b->bsums[g] = (int16_t)sum;
            }
        }
        break;
    }
    default:
        fail_msg("no activation generator for type %u", vt);
    }
    return p;
}

/* sum(w_i*x_i) and sum|w_i*x_i| of the dequantised rows, in double. */
static void dequant_dot(uint32_t t, const void *w, const void *x, int64_t n, double *dot, double *mag)
{
    float *fw = to_floats(t, w, n), *fx = to_floats(REF.types[t]->vec_dot_type, x, n);
    double s = 0, m = 0;
    for (int64_t i = 0; i < n; i++) {
        s += (double)fw[i] * fx[i];
        m += fabs((double)fw[i] * fx[i]);
    }
    free(fw);
    free(fx);
    *dot = s;
    *mag = m;
}

static void check_close(float got, float want, double mag, const char *what, const char *isa, uint32_t t, int64_t n)
{
    double tol = 1e-5 * mag + 1e-30;
    if (!(fabs((double)got - want) <= tol))
        fail_msg("%s %s %s n=%lld: got %.9g want %.9g (tolerance %.3g)", isa, ggml_type_name(t), what, (long long)n,
                 got, want, tol);
}

static void check_exact(float got, float want, const char *what, const char *isa, uint32_t t, int64_t n)
{
    if (got != want)
        fail_msg("%s %s %s n=%lld exact data: got %.9g want %.9g", isa, ggml_type_name(t), what, (long long)n, got,
                 want);
}

/* ---- known values: blocks built by hand, values decoded by hand ---- */

typedef struct {
    int index;
    float value;
} expect;

static void check_decoded(const rk_kernels *k, const char *isa, uint32_t t, const void *block, const expect *e,
                          size_t ne, float rest)
{
    int64_t n = (int64_t)ggml_blck_size(t);
    float out[QK_K];
    k->types[t]->to_float(block, out, n);
    for (int64_t i = 0; i < n; i++) {
        float want = rest;
        for (size_t j = 0; j < ne; j++)
            if (e[j].index == i) want = e[j].value;
        if (out[i] != want)
            fail_msg("%s %s element %lld decodes to %g, expected %g", isa, ggml_type_name(t), (long long)i, out[i],
                     want);
    }
}

/* Q4_K known block: d = 1, dmin = 0.5, sub-block scales 1,2,3,4,17,33,50,63 and
 * mins 0,1,2,3,20,40,5,63, packed by hand:
 *   bytes 0-3: scale j | (scale j+4 >> 4) << 6 -> 0x41 0x82 0xC3 0xC4
 *   bytes 4-7: min j   | (min j+4 >> 4) << 6   -> 0x40 0x81 0x02 0xC3
 *   bytes 8-11: (scale j+4 & 15) | (min j+4 & 15) << 4 -> 0x41 0x81 0x52 0xFF */
static const uint8_t Q4K_SCALES[12] = {0x41, 0x82, 0xC3, 0xC4, 0x40, 0x81, 0x02, 0xC3, 0x41, 0x81, 0x52, 0xFF};
/* per sub-block value of q = 0: -0.5 * min */
static const float Q4K_ZERO[8] = {0.0f, -0.5f, -1.0f, -1.5f, -10.0f, -20.0f, -2.5f, -31.5f};

static void known_q4_K(const rk_kernels *k, const char *isa)
{
    block_q4_K b;
    memset(&b, 0, sizeof b);
    b.d = 0x3C00;
    b.dmin = 0x3800;
    memcpy(b.scales, Q4K_SCALES, 12);
    b.qs[0] = 0x5A;   /* element 0 (sub-block 0): 1*10 - 0 = 10; element 32 (sb 1): 2*5 - 0.5 = 9.5 */
    b.qs[71] = 0x3F;  /* chunk 2, l = 7: element 135 (sb 4): 17*15 - 10 = 245; element 167 (sb 5): 33*3 - 20 = 79 */
    b.qs[127] = 0xF1; /* chunk 3, l = 31: element 223 (sb 6): 50*1 - 2.5 = 47.5; element 255 (sb 7): 63*15 - 31.5 = 913.5 */
    float out[QK_K];
    k->types[GGML_TYPE_Q4_K]->to_float(&b, out, QK_K);
    const expect e[] = {{0, 10.0f}, {32, 9.5f}, {135, 245.0f}, {167, 79.0f}, {223, 47.5f}, {255, 913.5f}};
    for (int i = 0; i < QK_K; i++) {
        float want = Q4K_ZERO[i / 32];
        for (size_t j = 0; j < sizeof e / sizeof e[0]; j++)
            if (e[j].index == i) want = e[j].value;
        if (out[i] != want) fail_msg("%s Q4_K element %d decodes to %g, expected %g", isa, i, out[i], want);
    }
}

/* Q6_K known block: d = 0.25 and the scales below. Elements whose bits are
 * all zero decode to 0.25 * scale * (0 - 32) = -8 * scale. */
static const int8_t Q6K_SCALES[16] = {1, -1, 2, -2, 3, 5, 7, -8, 10, 20, -30, 40, 50, 60, -70, 127};

static void known_q6_K(const rk_kernels *k, const char *isa)
{
    block_q6_K b;
    memset(&b, 0, sizeof b);
    b.d = 0x3400;
    memcpy(b.scales, Q6K_SCALES, 16);
    /* first half, l = 0: qh = 11 10 01 00 (high bits of elements 96, 64, 32, 0) */
    b.ql[0] = 0x21;  /* element 0: 1 | 0<<4 = 1 -> 0.25*1*(1-32) = -7.75; element 64: 2 | 2<<4 = 34 -> 0.25*3*2 = 1.5 */
    b.ql[32] = 0x7F; /* element 32: 15 | 1<<4 = 31 -> 0.25*2*(-1) = -0.5; element 96: 7 | 3<<4 = 55 -> 0.25*7*23 = 40.25 */
    b.qh[0] = 0xE4;
    /* second half, l = 5: high bits 3, 3, 3, 0 */
    b.ql[64 + 5] = 0x0F;      /* element 133: 15 | 3<<4 = 63 -> 0.25*10*31 = 77.5; element 197: 0 | 3<<4 = 48 -> 0.25*50*16 = 200 */
    b.ql[64 + 32 + 5] = 0xF0; /* element 165: 0 | 3<<4 = 48 -> 0.25*(-30)*16 = -120; element 229: 15 | 0 = 15 -> 0.25*(-70)*(-17) = 297.5 */
    b.qh[32 + 5] = 0x3F;
    float out[QK_K];
    k->types[GGML_TYPE_Q6_K]->to_float(&b, out, QK_K);
    const expect e[] = {{0, -7.75f}, {64, 1.5f},  {32, -0.5f},   {96, 40.25f},
                        {133, 77.5f}, {197, 200.0f}, {165, -120.0f}, {229, 297.5f}};
    for (int i = 0; i < QK_K; i++) {
        float want = -8.0f * Q6K_SCALES[i / 16];
        for (size_t j = 0; j < sizeof e / sizeof e[0]; j++)
            if (e[j].index == i) want = e[j].value;
        if (out[i] != want) fail_msg("%s Q6_K element %d decodes to %g, expected %g", isa, i, out[i], want);
    }
}

/* Q5_K known block: d = 1, dmin = 0.5 and the Q4_K scales above; the 5th
 * bits come from qh. */
static void known_q5_K(const rk_kernels *k, const char *isa)
{
    block_q5_K b;
    memset(&b, 0, sizeof b);
    b.d = 0x3C00;
    b.dmin = 0x3800;
    memcpy(b.scales, Q4K_SCALES, 12);
    b.qs[0] = 0x5A;   /* chunk 0, l = 0: element 0 low nibble 10, element 32 high nibble 5 */
    b.qh[0] = 0x01;   /* bit 0: element 0 gets 16 -> 26 -> 1*26 - 0 = 26; element 32: 5 -> 2*5 - 0.5 = 9.5 */
    b.qh[3] = 0x04;   /* bit 2 = chunk 1 low nibbles, l = 3: element 67 (sb 2) q = 16 -> 3*16 - 1 = 47 */
    b.qs[71] = 0x3F;  /* chunk 2, l = 7: element 135 low 15, element 167 high 3 */
    b.qh[7] = 0x30;   /* bits 4, 5: element 135 q = 31 -> 17*31 - 10 = 517; element 167 q = 19 -> 33*19 - 20 = 607 */
    b.qs[127] = 0xF1; /* chunk 3, l = 31: element 223 q = 1 -> 50 - 2.5 = 47.5 (bit 6 clear) */
    b.qh[31] = 0x80;  /* bit 7: element 255 q = 31 -> 63*31 - 31.5 = 1921.5 */
    float out[QK_K];
    k->types[GGML_TYPE_Q5_K]->to_float(&b, out, QK_K);
    const expect e[] = {{0, 26.0f}, {32, 9.5f}, {67, 47.0f}, {135, 517.0f}, {167, 607.0f}, {223, 47.5f}, {255, 1921.5f}};
    for (int i = 0; i < QK_K; i++) {
        float want = Q4K_ZERO[i / 32];
        for (size_t j = 0; j < sizeof e / sizeof e[0]; j++)
            if (e[j].index == i) want = e[j].value;
        if (out[i] != want) fail_msg("%s Q5_K element %d decodes to %g, expected %g", isa, i, out[i], want);
    }
}

/* Q3_K known block: d = 0.5 and sixteen 6-bit scales u = s + 32 for the s in
 * Q3K_S, packed by hand:
 *   u = 33 31 34 0 63 37 25 42 | 32 35 28 52 12 39 47 16
 *   bytes 0-7: (u_k & 15) | (u_k+8 & 15) << 4   -> 01 3F C2 40 CF 75 F9 0A
 *   bytes 8-11: u_k>>4 | u_k+4>>4 << 2 | u_k+8>>4 << 4 | u_k+12>>4 << 6 -> 2E A9 96 78
 * With every quant bit clear q = -4, so element e decodes to -2 * s[e/16]. */
static const uint8_t Q3K_SCALES[12] = {0x01, 0x3F, 0xC2, 0x40, 0xCF, 0x75, 0xF9, 0x0A, 0x2E, 0xA9, 0x96, 0x78};
static const int Q3K_S[16] = {1, -1, 2, -32, 31, 5, -7, 10, 0, 3, -4, 20, -20, 7, 15, -16};

static void known_q3_K(const rk_kernels *k, const char *isa)
{
    block_q3_K b;
    memset(&b, 0, sizeof b);
    b.d = 0x3800;
    memcpy(b.scales, Q3K_SCALES, 12);
    b.qs[0] = 0x03;      /* element 0 (half 0, shift 0, l 0): 3 | hmask bit 0 -> 7 - 4 = 3 -> 0.5*1*3 = 1.5 */
    b.hmask[0] = 0x01;
    b.qs[20] = 0x08;     /* element 52 (shift 2, l 20, group 3): 2, hmask bit 1 clear -> -2 -> 0.5*(-32)*(-2) = 32 */
    b.qs[16] = 0x30;     /* element 80 (shift 4, l 16, group 5): 3, bit 2 clear -> -1 -> -2.5 */
    b.hmask[5] = 0x40;   /* element 197 (half 1, shift 4, l 5, group 12): 0 | 4 -> 0 -> 0 */
    b.qs[63] = 0x40;     /* element 255 (half 1, shift 6, l 31, group 15): 1 | hmask bit 7 -> 1 -> 0.5*(-16) = -8 */
    b.hmask[31] = 0x80;
    float out[QK_K];
    k->types[GGML_TYPE_Q3_K]->to_float(&b, out, QK_K);
    const expect e[] = {{0, 1.5f}, {52, 32.0f}, {80, -2.5f}, {197, 0.0f}, {255, -8.0f}};
    for (int i = 0; i < QK_K; i++) {
        float want = -2.0f * (float)Q3K_S[i / 16];
        for (size_t j = 0; j < sizeof e / sizeof e[0]; j++)
            if (e[j].index == i) want = e[j].value;
        if (out[i] != want) fail_msg("%s Q3_K element %d decodes to %g, expected %g", isa, i, out[i], want);
    }
}

/* Q2_K known block: d = 0.5, dmin = 0.25, scale bytes (min << 4 | scale)
 * below; with q = 0 element e decodes to -0.25 * (scales[e/16] >> 4). */
static const uint8_t Q2K_SCALES[16] = {0x01, 0x12, 0xFF, 0x30, 0x27, 0x00, 0x5A, 0x81,
                                       0x0F, 0xF0, 0x33, 0x44, 0x9C, 0x6E, 0x1B, 0x7D};

static void known_q2_K(const rk_kernels *k, const char *isa)
{
    block_q2_K b;
    memset(&b, 0, sizeof b);
    b.d = 0x3800;
    b.dmin = 0x3400;
    memcpy(b.scales, Q2K_SCALES, 16);
    b.qs[0] = 0x03;  /* element 0 (group 0: scale 1, min 0): q 3 -> 0.5*3 = 1.5 */
    b.qs[1] = 0x0C;  /* element 33 (shift 2, l 1, group 2: 15, 15): q 3 -> 22.5 - 3.75 = 18.75 */
    b.qs[42] = 0x10; /* element 202 (half 1, shift 4, l 10, group 12: 12, 9): q 1 -> 6 - 2.25 = 3.75 */
    b.qs[63] = 0x80; /* element 255 (half 1, shift 6, l 31, group 15: 13, 7): q 2 -> 13 - 1.75 = 11.25 */
    float out[QK_K];
    k->types[GGML_TYPE_Q2_K]->to_float(&b, out, QK_K);
    const expect e[] = {{0, 1.5f}, {33, 18.75f}, {202, 3.75f}, {255, 11.25f}};
    for (int i = 0; i < QK_K; i++) {
        float want = -0.25f * (float)(Q2K_SCALES[i / 16] >> 4);
        for (size_t j = 0; j < sizeof e / sizeof e[0]; j++)
            if (e[j].index == i) want = e[j].value;
        if (out[i] != want) fail_msg("%s Q2_K element %d decodes to %g, expected %g", isa, i, out[i], want);
    }
}

static void known_legacy(const rk_kernels *k, const char *isa)
{
    block_q4_1 q41 = {.d = 0x4000, .m = 0xC200}; /* d = 2, m = -3: q = 0 decodes to -3 */
    q41.qs[0] = 0x9F;  /* element 0: 2*15 - 3 = 27; element 16: 2*9 - 3 = 15 */
    q41.qs[15] = 0x20; /* element 15: -3; element 31: 2*2 - 3 = 1 */
    const expect e41[] = {{0, 27.0f}, {16, 15.0f}, {31, 1.0f}};
    check_decoded(k, isa, GGML_TYPE_Q4_1, &q41, e41, 3, -3.0f);

    /* d = 0.5: q = 0 decodes to 0.5*(0 - 16) = -8. qh is one little-endian
     * word: bit 0 in byte 0, bit 9 in byte 1, bit 31 in byte 3. */
    block_q5_0 q50 = {.d = 0x3800, .qh = {0x01, 0x02, 0x00, 0x80}};
    q50.qs[0] = 0x3F; /* element 0: 15 | 16 = 31 -> 7.5; element 16: 3 (bit 16 clear) -> -6.5 */
    q50.qs[9] = 0x05; /* element 9: 5 | 16 = 21 -> 2.5; element 25: 0 -> -8 */
    /* element 31: qs[15] high nibble 0 | 16 -> 0 */
    const expect e50[] = {{0, 7.5f}, {16, -6.5f}, {9, 2.5f}, {31, 0.0f}};
    check_decoded(k, isa, GGML_TYPE_Q5_0, &q50, e50, 4, -8.0f);

    /* d = 0.25, m = 1: q = 0 decodes to 1 */
    block_q5_1 q51 = {.d = 0x3400, .m = 0x3C00, .qh = {0x00, 0x01, 0x04, 0x00}};
    q51.qs[2] = 0xA7; /* element 2: 7 -> 2.75; element 18: 10 | 16 (bit 18) = 26 -> 7.5 */
    /* element 8: 0 | 16 (bit 8) -> 5 */
    const expect e51[] = {{2, 2.75f}, {18, 7.5f}, {8, 5.0f}};
    check_decoded(k, isa, GGML_TYPE_Q5_1, &q51, e51, 3, 1.0f);
}

static void known_values(const rk_kernels *k, const char *isa)
{
    block_q8_0 q8 = {.d = 0x3800}; /* 0.5 */
    q8.qs[0] = 1;
    q8.qs[1] = -2;
    q8.qs[5] = -127;
    q8.qs[31] = 127;
    const expect e8[] = {{0, 0.5f}, {1, -1.0f}, {5, -63.5f}, {31, 63.5f}};
    check_decoded(k, isa, GGML_TYPE_Q8_0, &q8, e8, 4, 0.0f);

    block_q4_0 q4 = {.d = 0x4000}; /* 2.0 */
    memset(q4.qs, 0x88, sizeof q4.qs); /* q = 8 decodes to 0 */
    q4.qs[0] = 0x9F;  /* element 0: (15-8)*2 = 14; element 16: (9-8)*2 = 2 */
    q4.qs[3] = 0x70;  /* element 3: (0-8)*2 = -16; element 19: (7-8)*2 = -2 */
    q4.qs[15] = 0x08; /* element 15: 0; element 31: -16 */
    const expect e4[] = {{0, 14.0f}, {16, 2.0f}, {3, -16.0f}, {19, -2.0f}, {15, 0.0f}, {31, -16.0f}};
    check_decoded(k, isa, GGML_TYPE_Q4_0, &q4, e4, 6, 0.0f);

    known_q4_K(k, isa);
    known_q6_K(k, isa);
    known_q5_K(k, isa);
    known_q3_K(k, isa);
    known_q2_K(k, isa);
    known_legacy(k, isa);

    block_q8_K q8k;
    memset(&q8k, 0, sizeof q8k);
    q8k.d = 0.25f;
    q8k.qs[7] = -4;
    q8k.qs[255] = 127;
    const expect ek[] = {{7, -1.0f}, {255, 31.75f}};
    check_decoded(k, isa, GGML_TYPE_Q8_K, &q8k, ek, 2, 0.0f);

    const rk_fp16 h[8] = {0x3C00, 0xC000, 0x7BFF, 0x0001, 0x8000, 0x3555, 0x0400, 0xFBFF};
    const float hv[8] = {1.0f, -2.0f, 65504.0f, 0x1p-24f, -0.0f, 0.333251953125f, 0x1p-14f, -65504.0f};
    const rk_bf16 bf[4] = {0x3F80, 0xC0A0, 0x4049, 0x0001};
    const float bv[4] = {1.0f, -5.0f, 3.140625f, 0x1p-133f};
    float out[8];
    k->types[GGML_TYPE_F16]->to_float(h, out, 8);
    for (int i = 0; i < 8; i++) assert_memory_equal(&out[i], &hv[i], sizeof(float));
    k->types[GGML_TYPE_BF16]->to_float(bf, out, 4);
    for (int i = 0; i < 4; i++) assert_memory_equal(&out[i], &bv[i], sizeof(float));
}

static void test_known_values(void **state)
{
    (void)state;
    known_values(&REF, "scalar");
    for (int v = 0; v < NV; v++) known_values(&V[v].k, V[v].name);

    /* Q8_K quantiser: one 127 and fifteen -1 in each group of 16 gives d = 1,
     * q = x, and every group sum 127 - 15 = 112. */
    float x[QK_K];
    for (int i = 0; i < QK_K; i++) x[i] = i % 16 == 0 ? 127.0f : -1.0f;
    const rk_kernels *ks[MAX_VARIANTS + 1] = {&REF};
    for (int v = 0; v < NV; v++) ks[v + 1] = &V[v].k;
    for (int v = 0; v <= NV; v++) {
        block_q8_K b;
        ks[v]->types[GGML_TYPE_Q8_K]->from_float(x, &b, QK_K);
        assert_true(b.d == 1.0f);
        for (int i = 0; i < QK_K; i++) assert_int_equal(b.qs[i], (int)x[i]);
        for (int g = 0; g < 16; g++) assert_int_equal(b.bsums[g], 112);
    }

    /* Q4_0 quantiser: max magnitude -16 gives d = 2, and x maps to q = x/2 + 8 */
    float y[QK4_0];
    for (int i = 0; i < QK4_0; i++) y[i] = (float)(2 * (i % 16) - 16);
    block_q4_0 q4;
    REF.types[GGML_TYPE_Q4_0]->from_float(y, &q4, QK4_0);
    assert_int_equal(q4.d, 0x4000);
    for (int j = 0; j < 16; j++) assert_int_equal(q4.qs[j], j | (j << 4));
}

/* ---- fp16 ---- */

/* Value of a half computed from its fields, independently of ggml_types.c. */
static double half_value(uint16_t h)
{
    int sign = h >> 15, exp = (h >> 10) & 31, mant = h & 1023;
    double v = exp == 0 ? ldexp(mant, -24) : exp == 31 ? (mant ? NAN : INFINITY) : ldexp(1024 + mant, exp - 25);
    return sign ? -v : v;
}

static int same_f32(float a, float b)
{
    if (isnan(a) || isnan(b)) return isnan(a) && isnan(b);
    return memcmp(&a, &b, sizeof a) == 0;
}

static int same_half(rk_fp16 a, rk_fp16 b)
{
    int na = (a & 0x7C00) == 0x7C00 && (a & 0x3FF), nb = (b & 0x7C00) == 0x7C00 && (b & 0x3FF);
    if (na || nb) return na && nb; /* NaN payloads may differ, NaN-ness may not */
    return a == b;
}

/* Floats that exercise half rounding: every half value, the midpoint to the
 * next half (a tie), one float step either side of it, values past the
 * largest half, and random floats across the whole exponent range. */
static float *rounding_inputs(size_t *count)
{
    size_t n = 0, cap = 65536 * 4 + 100000;
    float *f = malloc(cap * sizeof(float));
    for (uint32_t h = 0; h < 0x7C00; h++) {
        for (int s = 0; s < 2; s++) {
            float a = (float)half_value((uint16_t)h), b = (float)half_value((uint16_t)(h + 1));
            if (h + 1 == 0x7C00) b = 65536.0f; /* where rounding up overflows */
            float mid = (a + b) / 2, sgn = s ? -1.0f : 1.0f;
            if (s == 0) f[n++] = a;
            else
                f[n++] = -a;
            f[n++] = sgn * mid;
            f[n++] = sgn * nextafterf(mid, 0);
            f[n++] = sgn * nextafterf(mid, INFINITY);
        }
    }
    f[n++] = INFINITY;
    f[n++] = -INFINITY;
    f[n++] = NAN;
    f[n++] = 1e30f;
    f[n++] = -1e-30f;
    while (n < cap) {
        uint32_t bits = (uint32_t)rng_next();
        float v;
        memcpy(&v, &bits, 4);
        if (!isnan(v)) f[n++] = v;
    }
    *count = n;
    return f;
}

static void test_fp16(void **state)
{
    (void)state;
    rng_seed(16);
    /* the reference conversion against the field formula, and round trips */
    for (uint32_t h = 0; h < 65536; h++) {
        float f = rk_fp16_to_fp32((rk_fp16)h);
        double want = half_value((uint16_t)h);
        if (isnan(want)) {
            assert_true(isnan(f));
            continue;
        }
        if ((double)f != want || !!signbit(f) != !!signbit(want)) fail_msg("half %04x decodes to %g", h, f);
        assert_int_equal(rk_fp32_to_fp16(f), h);
    }
    /* ties go to the even half, anything off the tie to the nearer one */
    for (uint32_t h = 0; h < 0x7C00; h++) {
        float a = rk_fp16_to_fp32((rk_fp16)h), b = h + 1 < 0x7C00 ? rk_fp16_to_fp32((rk_fp16)(h + 1)) : 65536.0f;
        float mid = (a + b) / 2;
        uint16_t even = (h & 1) ? (uint16_t)(h + 1) : (uint16_t)h;
        assert_int_equal(rk_fp32_to_fp16(mid), even);
        assert_int_equal(rk_fp32_to_fp16(nextafterf(mid, 0)), h);
        assert_int_equal(rk_fp32_to_fp16(nextafterf(mid, INFINITY)), h + 1);
        assert_int_equal(rk_fp32_to_fp16(-mid), even | 0x8000);
    }

    rk_fp16 *all = malloc(65536 * sizeof(rk_fp16));
    for (uint32_t h = 0; h < 65536; h++) all[h] = (rk_fp16)h;
    float *want = malloc(65536 * sizeof(float)), *got = malloc(65536 * sizeof(float));
    for (uint32_t h = 0; h < 65536; h++) want[h] = rk_fp16_to_fp32((rk_fp16)h);
    size_t nf;
    float *fin = rounding_inputs(&nf);
    rk_fp16 *hw = malloc(nf * sizeof(rk_fp16)), *hg = malloc(nf * sizeof(rk_fp16));
    for (size_t i = 0; i < nf; i++) hw[i] = rk_fp32_to_fp16(fin[i]);

    for (int v = -1; v < NV; v++) {
        const rk_kernels *k = v < 0 ? &REF : &V[v].k;
        const char *name = v < 0 ? "scalar" : V[v].name;
        for (int path = 0; path < 2; path++) {
            memset(got, 0, 65536 * sizeof(float));
            if (path == 0) k->vec.fp16_to_f32(65536, all, got);
            else
                k->types[GGML_TYPE_F16]->to_float(all, got, 65536);
            for (uint32_t h = 0; h < 65536; h++)
                if (!same_f32(got[h], want[h]))
                    fail_msg("%s %s: half %04x -> %g, expected %g", name, path ? "to_float" : "fp16_to_f32", h,
                             got[h], want[h]);
            memset(hg, 0, nf * sizeof(rk_fp16));
            if (path == 0) k->vec.f32_to_fp16((int64_t)nf, fin, hg);
            else
                k->types[GGML_TYPE_F16]->from_float(fin, hg, (int64_t)nf);
            for (size_t i = 0; i < nf; i++)
                if (!same_half(hg[i], hw[i]))
                    fail_msg("%s %s: %a -> %04x, expected %04x", name, path ? "from_float" : "f32_to_fp16",
                             (double)fin[i], hg[i], hw[i]);
        }
        /* odd lengths must convert exactly their n elements */
        for (int64_t n = 1; n < 40; n += 3) {
            rk_fp16 buf[48];
            for (int i = 0; i < 48; i++) buf[i] = 0xAAAA;
            k->vec.f32_to_fp16(n, fin, buf);
            for (int i = 0; i < 48; i++) assert_int_equal(buf[i], i < n ? hw[i] : 0xAAAA);
        }
    }
    free(all);
    free(want);
    free(got);
    free(fin);
    free(hw);
    free(hg);
}

/* ---- vector tables against the reference ---- */

static void test_to_float(void **state)
{
    (void)state;
    rng_seed(1);
    const uint32_t types[] = {GGML_TYPE_F32,  GGML_TYPE_F16,  GGML_TYPE_BF16, GGML_TYPE_Q8_0, GGML_TYPE_Q4_0,
                              GGML_TYPE_Q4_1, GGML_TYPE_Q5_0, GGML_TYPE_Q5_1, GGML_TYPE_Q2_K, GGML_TYPE_Q3_K,
                              GGML_TYPE_Q4_K, GGML_TYPE_Q5_K, GGML_TYPE_Q6_K, GGML_TYPE_Q8_K};
    for (size_t ti = 0; ti < sizeof types / sizeof types[0]; ti++) {
        uint32_t t = types[ti];
        int64_t sizes[8];
        size_t ns = sizes_for(t, sizes);
        for (size_t si = 0; si < ns; si++) {
            int64_t n = sizes[si];
            void *w = t == GGML_TYPE_Q8_K ? make_acts(GGML_TYPE_Q4_K, n, 0) : make_weights(t, n, 0);
            float *want = to_floats(t, w, n), *got = malloc((size_t)(n + 1) * sizeof(float));
            for (int v = 0; v < NV; v++) {
                got[n] = 12345.0f;
                V[v].k.types[t]->to_float(w, got, n);
                for (int64_t i = 0; i < n; i++)
                    if (!same_f32(got[i], want[i]))
                        fail_msg("%s %s to_float n=%lld: element %lld is %g, expected %g", V[v].name,
                                 ggml_type_name(t), (long long)n, (long long)i, got[i], want[i]);
                assert_true(got[n] == 12345.0f);
            }
            free(w);
            free(want);
            free(got);
        }
    }
}

/* Inputs for quantisers: gaussian blocks of varying scale, plus blocks that
 * are all zero, a lone spike, or dominated by a negative value. */
static float *quant_inputs(int64_t n)
{
    float *x = malloc((size_t)n * sizeof(float));
    for (int64_t i = 0; i < n; i++) x[i] = gaussian() * (1.0f + (float)((i / 32) % 5));
    if (n >= 96) {
        memset(x, 0, 32 * sizeof(float));
        for (int i = 32; i < 64; i++) x[i] = i == 40 ? 3.0f : 0.0f;
        x[70] = -50.0f;
    }
    return x;
}

static void test_from_float(void **state)
{
    (void)state;
    rng_seed(2);
    const uint32_t types[] = {GGML_TYPE_F32,  GGML_TYPE_F16,  GGML_TYPE_BF16, GGML_TYPE_Q8_0, GGML_TYPE_Q4_0,
                              GGML_TYPE_Q4_1, GGML_TYPE_Q5_0, GGML_TYPE_Q5_1, GGML_TYPE_Q2_K, GGML_TYPE_Q3_K,
                              GGML_TYPE_Q4_K, GGML_TYPE_Q5_K, GGML_TYPE_Q6_K, GGML_TYPE_Q8_K};
    for (size_t ti = 0; ti < sizeof types / sizeof types[0]; ti++) {
        uint32_t t = types[ti];
        int64_t sizes[8];
        size_t ns = sizes_for(t, sizes);
        for (size_t si = 0; si < ns; si++) {
            int64_t n = sizes[si];
            size_t bytes = ggml_row_size(t, n);
            float *x = quant_inputs(n);
            uint8_t *want = malloc(bytes), *got = malloc(bytes + 1);
            REF.types[t]->from_float(x, want, n);
            for (int v = 0; v < NV; v++) {
                memset(got, 0x5A, bytes + 1);
                V[v].k.types[t]->from_float(x, got, n);
                if (memcmp(got, want, bytes) != 0)
                    fail_msg("%s %s from_float n=%lld differs from the reference", V[v].name, ggml_type_name(t),
                             (long long)n);
                assert_int_equal(got[bytes], 0x5A);
            }
            free(x);
            free(want);
            free(got);
        }
    }
}

static void test_vec_dot(void **state)
{
    (void)state;
    rng_seed(3);
    for (size_t ti = 0; ti < N_DOT_TYPES; ti++) {
        uint32_t t = DOT_TYPES[ti];
        int64_t sizes[8];
        size_t ns = sizes_for(t, sizes);
        for (int exact = 0; exact < 2; exact++) {
            for (size_t si = 0; si < ns; si++) {
                int64_t n = sizes[si];
                void *w = make_weights(t, n, exact), *x = make_acts(t, n, exact);
                double dot, mag;
                dequant_dot(t, w, x, n, &dot, &mag);
                float ref;
                REF.types[t]->vec_dot(n, &ref, w, x);
                if (exact) check_exact(ref, (float)dot, "vec_dot", "scalar", t, n);
                else
                    check_close(ref, (float)dot, mag, "vec_dot vs dequantised", "scalar", t, n);
                for (int v = 0; v < NV; v++) {
                    float got = NAN;
                    V[v].k.types[t]->vec_dot(n, &got, w, x);
                    if (exact) check_exact(got, (float)dot, "vec_dot", V[v].name, t, n);
                    else
                        check_close(got, ref, mag, "vec_dot", V[v].name, t, n);
                }
                free(w);
                free(x);
            }
        }
    }
}

static void test_vec_dot_4x(void **state)
{
    (void)state;
    rng_seed(4);
    enum { STRIDE = 6 };
    int tested = 0;
    for (size_t ti = 0; ti < N_DOT_TYPES; ti++) {
        uint32_t t = DOT_TYPES[ti];
        uint32_t vt = REF.types[t]->vec_dot_type;
        int64_t sizes[8];
        size_t ns = sizes_for(t, sizes);
        for (int exact = 0; exact < 2; exact++) {
            for (size_t si = 0; si < ns; si++) {
                int64_t n = sizes[si];
                /* rows padded so no kernel can assume they are contiguous */
                size_t wrb = ggml_row_size(t, n) + 16, xrb = ggml_row_size(vt, n) + 32;
                uint8_t *w = calloc(4, wrb), *x = calloc(4, xrb);
                float want[4][4], mag[4][4], exact_dot[4][4];
                void *wr[4], *xr[4];
                for (int r = 0; r < 4; r++) {
                    wr[r] = make_weights(t, n, exact);
                    xr[r] = make_acts(t, n, exact);
                    memcpy(w + r * wrb, wr[r], wrb - 16);
                    memcpy(x + r * xrb, xr[r], xrb - 32);
                }
                for (int r = 0; r < 4; r++)
                    for (int c = 0; c < 4; c++) {
                        double d, m;
                        dequant_dot(t, wr[r], xr[c], n, &d, &m);
                        REF.types[t]->vec_dot(n, &want[r][c], wr[r], xr[c]);
                        mag[r][c] = m;
                        exact_dot[r][c] = d;
                    }
                for (int v = -1; v < NV; v++) {
                    const rk_kernels *k = v < 0 ? &REF : &V[v].k;
                    const char *name = v < 0 ? "scalar" : V[v].name;
                    if (!k->types[t]->vec_dot_4x) continue;
                    tested++;
                    float s[4 * STRIDE];
                    for (int i = 0; i < 4 * STRIDE; i++) s[i] = -777.0f;
                    k->types[t]->vec_dot_4x(n, s, STRIDE, w, wrb, x, xrb);
                    for (int r = 0; r < 4; r++)
                        for (int c = 0; c < STRIDE; c++) {
                            float got = s[r * STRIDE + c];
                            if (c >= 4) assert_true(got == -777.0f);
                            else if (exact)
                                check_exact(got, (float)exact_dot[r][c], "vec_dot_4x", name, t, n);
                            else
                                check_close(got, want[r][c], mag[r][c], "vec_dot_4x", name, t, n);
                        }
                }
                for (int r = 0; r < 4; r++) {
                    free(wr[r]);
                    free(xr[r]);
                }
                free(w);
                free(x);
            }
        }
    }
    assert_true(tested > 0);
}

static void test_vec_ops(void **state)
{
    (void)state;
    rng_seed(5);
    for (size_t si = 0; si < sizeof FLOAT_SIZES / sizeof FLOAT_SIZES[0]; si++) {
        int64_t n = FLOAT_SIZES[si];
        float *a = malloc((size_t)n * 4), *b = malloc((size_t)n * 4), *y0 = malloc((size_t)n * 4 + 4),
              *y1 = malloc((size_t)n * 4 + 4);
        rk_fp16 *h0 = malloc((size_t)n * 2 + 2), *h1 = malloc((size_t)n * 2 + 2);
        double mag = 0;
        for (int64_t i = 0; i < n; i++) {
            a[i] = gaussian();
            b[i] = gaussian() * 3;
            mag += fabs((double)a[i] * b[i]);
        }
        float ref_dot = REF.vec.dot_f32(n, a, b);
        for (int v = 0; v < NV; v++) {
            const rk_vec_ops *o = &V[v].k.vec;
            check_close(o->dot_f32(n, a, b), ref_dot, mag, "dot_f32", V[v].name, GGML_TYPE_F32, n);

            const float alpha = -0.7f;
            memcpy(y0, b, (size_t)n * 4);
            memcpy(y1, b, (size_t)n * 4);
            y0[n] = y1[n] = 99.0f;
            REF.vec.axpy_f32(n, alpha, a, y0);
            o->axpy_f32(n, alpha, a, y1);
            for (int64_t i = 0; i < n; i++) {
                double tol = 0x1p-22 * (fabs((double)alpha * a[i]) + fabs((double)b[i]));
                if (!(fabs((double)y1[i] - y0[i]) <= tol))
                    fail_msg("%s axpy_f32 n=%lld element %lld: %g vs %g", V[v].name, (long long)n, (long long)i,
                             y1[i], y0[i]);
            }
            assert_true(y1[n] == 99.0f);

            memcpy(y0, a, (size_t)n * 4);
            memcpy(y1, a, (size_t)n * 4);
            REF.vec.scale_f32(n, 1.37f, y0);
            o->scale_f32(n, 1.37f, y1);
            assert_true(y1[n] == 99.0f);
            assert_memory_equal(y0, y1, (size_t)n * 4);

            h0[n] = h1[n] = 0x1234;
            REF.vec.f32_to_fp16(n, b, h0);
            o->f32_to_fp16(n, b, h1);
            assert_memory_equal(h0, h1, (size_t)n * 2 + 2);
            REF.vec.fp16_to_f32(n, h0, y0);
            o->fp16_to_f32(n, h0, y1);
            assert_memory_equal(y0, y1, (size_t)n * 4 + 4);
        }
        free(a);
        free(b);
        free(y0);
        free(y1);
        free(h0);
        free(h1);
    }
}

/* ---- quantise -> dequantise error bounds ---- */

static void round_trip(const rk_kernels *k, const char *name)
{
    const int64_t n = 64 * QK_K;
    float *x = quant_inputs(n), *y = malloc((size_t)n * sizeof(float));
    void *q = malloc((size_t)n * sizeof(float)); /* room for every format */

    /* Q8_0: |x - d16*q| <= d/2 + |q|*|d - d16| with d = amax/127 before the
     * scale was rounded to fp16 */
    k->types[GGML_TYPE_Q8_0]->from_float(x, q, n);
    k->types[GGML_TYPE_Q8_0]->to_float(q, y, n);
    for (int64_t b = 0; b < n / QK8_0; b++) {
        float amax = 0;
        for (int j = 0; j < QK8_0; j++) amax = fmaxf(amax, fabsf(x[b * QK8_0 + j]));
        double d = amax / 127.0, d16 = rk_fp16_to_fp32(((block_q8_0 *)q)[b].d);
        for (int j = 0; j < QK8_0; j++) {
            double err = fabs((double)x[b * QK8_0 + j] - y[b * QK8_0 + j]);
            double bound = d / 2 + 127 * fabs(d - d16) + 1e-6 * amax;
            if (err > bound) fail_msg("%s Q8_0 round trip: error %g > %g", name, err, bound);
        }
    }

    /* Q4_0: half a step, or one step for values clipped to q = 15 (the side
     * opposite the extreme value only reaches 7 steps) */
    k->types[GGML_TYPE_Q4_0]->from_float(x, q, n);
    k->types[GGML_TYPE_Q4_0]->to_float(q, y, n);
    for (int64_t b = 0; b < n / QK4_0; b++) {
        const block_q4_0 *blk = (const block_q4_0 *)q + b;
        float amax = 0;
        for (int j = 0; j < QK4_0; j++) amax = fmaxf(amax, fabsf(x[b * QK4_0 + j]));
        double d = amax / 8.0, d16 = fabs(rk_fp16_to_fp32(blk->d));
        for (int j = 0; j < QK4_0; j++) {
            int qv = j < 16 ? blk->qs[j] & 15 : blk->qs[j - 16] >> 4;
            double err = fabs((double)x[b * QK4_0 + j] - y[b * QK4_0 + j]);
            double bound = (qv == 15 ? 1.0 : 0.5) * d + 8 * fabs(d - d16) + 1e-6 * amax;
            if (err > bound) fail_msg("%s Q4_0 round trip: error %g > %g (q=%d)", name, err, bound, qv);
        }
    }

    /* Q5_0: as Q4_0 with 16 steps to the extreme side */
    k->types[GGML_TYPE_Q5_0]->from_float(x, q, n);
    k->types[GGML_TYPE_Q5_0]->to_float(q, y, n);
    for (int64_t b = 0; b < n / QK5_0; b++) {
        const block_q5_0 *blk = (const block_q5_0 *)q + b;
        float amax = 0;
        for (int j = 0; j < QK5_0; j++) amax = fmaxf(amax, fabsf(x[b * QK5_0 + j]));
        double d = amax / 16.0, d16 = fabs(rk_fp16_to_fp32(blk->d));
        for (int j = 0; j < QK5_0; j++) {
            int qv = (j < 16 ? blk->qs[j] & 15 : blk->qs[j - 16] >> 4) | ((blk->qh[j / 8] >> (j % 8)) & 1) << 4;
            double err = fabs((double)x[b * QK5_0 + j] - y[b * QK5_0 + j]);
            double bound = (qv == 31 ? 1.0 : 0.5) * d + 16 * fabs(d - d16) + 1e-6 * amax;
            if (err > bound) fail_msg("%s Q5_0 round trip: error %g > %g (q=%d)", name, err, bound, qv);
        }
    }

    /* Q4_1 / Q5_1: q is rounded against the stored d and m, so half a stored
     * step, plus what rounding d and m to fp16 cost at the clipped ends */
    for (int five = 0; five < 2; five++) {
        uint32_t t = five ? GGML_TYPE_Q5_1 : GGML_TYPE_Q4_1;
        int nmax = five ? 31 : 15;
        k->types[t]->from_float(x, q, n);
        k->types[t]->to_float(q, y, n);
        for (int64_t b = 0; b < n / 32; b++) {
            rk_fp16 hd = five ? ((block_q5_1 *)q)[b].d : ((block_q4_1 *)q)[b].d;
            rk_fp16 hm = five ? ((block_q5_1 *)q)[b].m : ((block_q4_1 *)q)[b].m;
            float lo = x[b * 32], hi = x[b * 32];
            for (int j = 0; j < 32; j++) {
                lo = fminf(lo, x[b * 32 + j]);
                hi = fmaxf(hi, x[b * 32 + j]);
            }
            double d = (hi - lo) / (double)nmax, d16 = rk_fp16_to_fp32(hd), m16 = rk_fp16_to_fp32(hm);
            double bound = d16 / 2 + fabs(lo - m16) + nmax * fabs(d - d16) + 1e-6 * (fabs(lo) + fabs(hi));
            for (int j = 0; j < 32; j++) {
                double err = fabs((double)x[b * 32 + j] - y[b * 32 + j]);
                if (err > bound) fail_msg("%s %s round trip: error %g > %g", name, ggml_type_name(t), err, bound);
            }
        }
    }

    /* Q8_K: half a step; its scale is a float */
    k->types[GGML_TYPE_Q8_K]->from_float(x, q, n);
    k->types[GGML_TYPE_Q8_K]->to_float(q, y, n);
    for (int64_t b = 0; b < n / QK_K; b++) {
        double d = ((block_q8_K *)q)[b].d;
        for (int j = 0; j < QK_K; j++) {
            double err = fabs((double)x[b * QK_K + j] - y[b * QK_K + j]);
            if (err > d / 2 * (1 + 1e-5)) fail_msg("%s Q8_K round trip: error %g > %g", name, err, d / 2);
        }
    }

    /* F16 / BF16: half an ulp of their mantissas */
    k->types[GGML_TYPE_F16]->from_float(x, q, n);
    k->types[GGML_TYPE_F16]->to_float(q, y, n);
    for (int64_t i = 0; i < n; i++) assert_true(fabsf(x[i] - y[i]) <= 0x1p-11f * fabsf(x[i]) + 0x1p-25f); /* + subnormal halves */
    k->types[GGML_TYPE_BF16]->from_float(x, q, n);
    k->types[GGML_TYPE_BF16]->to_float(q, y, n);
    for (int64_t i = 0; i < n; i++) assert_true(fabsf(x[i] - y[i]) <= 0x1p-8f * fabsf(x[i]));

    free(x);
    free(y);
    free(q);
}

/* Relative RMS error of quantising gaussian data with type t. */
static double rms_error(const rk_kernels *k, uint32_t t, const float *x, int64_t n)
{
    void *q = malloc(ggml_row_size(t, n));
    float *y = malloc((size_t)n * sizeof(float));
    k->types[t]->from_float(x, q, n);
    k->types[t]->to_float(q, y, n);
    double e = 0, s = 0;
    for (int64_t i = 0; i < n; i++) {
        e += ((double)x[i] - y[i]) * ((double)x[i] - y[i]);
        s += (double)x[i] * x[i];
    }
    free(q);
    free(y);
    return sqrt(e / s);
}

static void test_round_trip(void **state)
{
    (void)state;
    rng_seed(6);
    round_trip(&REF, "scalar");
    for (int v = 0; v < NV; v++) round_trip(&V[v].k, V[v].name);

    /* K-quant quality on gaussian weights. A uniform quantiser with 2^b levels
     * over a block's range has RMS error range/(2^b*sqrt(12)); for 32 gaussian
     * samples (range about 4.1 sigma) that is 0.074 sigma at 4 bits, and for 16
     * samples (3.5 sigma) with 64 levels 0.016 sigma at 6 bits. The limits
     * leave room for scale quantisation and no more. Q8_0/Q4_0 for scale. */
    const int64_t n = 64 * QK_K;
    float *x = malloc((size_t)n * sizeof(float));
    for (int64_t i = 0; i < n; i++) x[i] = gaussian();
    double e4k = rms_error(&REF, GGML_TYPE_Q4_K, x, n), e6k = rms_error(&REF, GGML_TYPE_Q6_K, x, n);
    double e40 = rms_error(&REF, GGML_TYPE_Q4_0, x, n), e80 = rms_error(&REF, GGML_TYPE_Q8_0, x, n);
    double e41 = rms_error(&REF, GGML_TYPE_Q4_1, x, n), e50 = rms_error(&REF, GGML_TYPE_Q5_0, x, n);
    double e51 = rms_error(&REF, GGML_TYPE_Q5_1, x, n), e5k = rms_error(&REF, GGML_TYPE_Q5_K, x, n);
    double e3k = rms_error(&REF, GGML_TYPE_Q3_K, x, n), e2k = rms_error(&REF, GGML_TYPE_Q2_K, x, n);
    print_message("relative RMS error: Q2_K %.4f Q3_K %.4f Q4_0 %.4f Q4_1 %.4f Q4_K %.4f Q5_0 %.4f Q5_1 %.4f "
                  "Q5_K %.4f Q6_K %.4f Q8_0 %.4f\n",
                  e2k, e3k, e40, e41, e4k, e50, e51, e5k, e6k, e80);
    assert_true(e4k < 0.085);
    assert_true(e4k < e40);
    assert_true(e6k < 0.020);
    assert_true(e6k > e80);
    /* one more bit halves the step: 0.037 sigma at 5 bits over 32 samples;
     * 3 bits over 16 samples (3.5 sigma) 0.14, 2 bits 0.34 */
    assert_true(e5k < 0.045);
    assert_true(e5k < e4k && e5k > e6k);
    assert_true(e51 < 0.045 && e51 < e50 && e51 < e41);
    assert_true(e50 < 0.06 && e50 < e40);
    assert_true(e41 < 0.09 && e41 < e40);
    assert_true(e3k < 0.16 && e3k > e4k);
    assert_true(e2k < 0.36 && e2k > e3k);
    free(x);
}

/* ---- dispatch ---- */

static void test_dispatch(void **state)
{
    (void)state;
    const unsigned S = 1u << RK_ISA_SCALAR, A2 = 1u << RK_ISA_AVX2, A5 = 1u << RK_ISA_AVX512,
                   N = 1u << RK_ISA_NEON;
    unsigned usable = 0;
    for (int i = 0; i < RK_ISA_COUNT; i++)
        if (kernels_for_isa((rk_isa)i)) usable |= 1u << i;
    assert_true(usable & S);
    assert_string_equal(kernels_isa_name(RK_ISA_AVX512), "avx512");
#if defined(__x86_64__)
    assert_int_equal(kernels_pick_isa(NULL, S | A2 | A5), RK_ISA_AVX512);
    assert_int_equal(kernels_pick_isa("avx2", S | A2 | A5), RK_ISA_AVX2);
    assert_int_equal(kernels_pick_isa("AVX512", S | A2), RK_ISA_AVX2); /* a cap is not a demand */
    assert_int_equal(kernels_pick_isa("scalar", S | A2 | A5), RK_ISA_SCALAR);
    assert_int_equal(kernels_pick_isa("avx2", S), RK_ISA_SCALAR);
    assert_int_equal(kernels_pick_isa("neon", S | A2), RK_ISA_AVX2); /* another architecture's name is ignored */
    assert_int_equal(kernels_pick_isa("bogus", S | A2 | A5), RK_ISA_AVX512);
    /* cpuid/xgetbv detection agrees with the compiler's own */
    __builtin_cpu_init();
    int avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    int avx512 = avx2 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                 __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq");
    assert_int_equal(!!(usable & A2), avx2);
    assert_int_equal(!!(usable & A5), avx512);
    assert_int_equal(!!(kernels_cpu_ext() & RK_EXT_AVX512VNNI), avx512 && __builtin_cpu_supports("avx512vnni"));
    assert_false(usable & N);
#elif defined(__aarch64__)
    assert_int_equal(kernels_pick_isa(NULL, S | N), RK_ISA_NEON);
    assert_int_equal(kernels_pick_isa("scalar", S | N), RK_ISA_SCALAR);
    assert_int_equal(kernels_pick_isa("avx512", S | N), RK_ISA_NEON);
    assert_true(usable & N);
    assert_false(usable & (A2 | A5));
#endif
    const rk_kernels *k = kernels_get();
    assert_non_null(k);
    assert_int_equal(k->isa, kernels_pick_isa(getenv("RKSERVE_ISA"), usable));
    assert_ptr_equal(k, kernels_for_isa(k->isa));
    for (size_t ti = 0; ti < N_DOT_TYPES; ti++) {
        const rk_type_ops *o = k->types[DOT_TYPES[ti]];
        assert_non_null(o);
        assert_non_null(o->vec_dot);
        assert_non_null(k->types[o->vec_dot_type]->from_float);
    }
    assert_null(k->types[GGML_TYPE_Q8_1]);
    assert_null(k->types[GGML_TYPE_IQ4_NL]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dispatch),     cmocka_unit_test(test_known_values), cmocka_unit_test(test_fp16),
        cmocka_unit_test(test_to_float),     cmocka_unit_test(test_from_float),   cmocka_unit_test(test_vec_dot),
        cmocka_unit_test(test_vec_dot_4x),   cmocka_unit_test(test_vec_ops),      cmocka_unit_test(test_round_trip),
    };
    return cmocka_run_group_tests(tests, setup_variants, NULL);
}
