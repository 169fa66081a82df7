/* Numeric kernels of the CPU engine. Each operation has a scalar reference
 * (kernels_ref.c) and optional vector versions (kernels_avx2.c,
 * kernels_avx512.c, kernels_neon.c); kernels_dispatch.c picks the best one the
 * running CPU supports. Tests compare every vector kernel to its reference. */
#ifndef RK_KERNELS_H
#define RK_KERNELS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "format/ggml_types.h"

typedef enum {
    RK_ISA_SCALAR = 0,
    RK_ISA_AVX2,
    RK_ISA_AVX512,
    RK_ISA_NEON,
    RK_ISA_COUNT
} rk_isa;

/* Operations for one weight type. A matrix row of type T is multiplied with an
 * activation row first converted to T's vec_dot_type by from_float:
 * F32/F16/BF16 -> F32, Q8_0/Q4_0/Q4_1/Q5_0/Q5_1 -> Q8_0, Q2_K..Q6_K -> Q8_K.
 * Q8_K is an activation format only (d = amax/127 >= 0, q = round(x/d) in
 * -127..127, bsums = sums of each 16 q) and has no vec_dot. Integer dots sum
 * each block exactly in int32 and scale in float, as ggml does. Q4_1/Q5_1
 * (value d*q + m) add m * dy * sum(qy) per block with the activation sum taken
 * in the kernel, where ggml stores it in a Q8_1 block. */
typedef struct {
    uint32_t vec_dot_type;
    /* Dequantise n elements (n a multiple of the block size). */
    void (*to_float)(const void *restrict src, float *restrict dst, int64_t n);
    /* Quantise n floats into this type (used for activations and for tests). */
    void (*from_float)(const float *restrict src, void *restrict dst, int64_t n);
    /* *s = dot(w, x) over n elements; w is of this type, x of vec_dot_type. */
    void (*vec_dot)(int64_t n, float *restrict s, const void *restrict w, const void *restrict x);
    /* A 4x4 tile of dots for batched prefill: s[r*s_stride + c] = dot(weight
     * row r, activation row c) for r, c in 0..3. Rows are w_row_bytes and
     * x_row_bytes apart. NULL where a type has no tiled kernel (Q8_K); callers
     * then use vec_dot. In the scalar table it is sixteen vec_dot calls. */
    void (*vec_dot_4x)(int64_t n, float *s, size_t s_stride, const void *w, size_t w_row_bytes,
                       const void *x, size_t x_row_bytes);
} rk_type_ops;

/* Dense float helpers used by attention, norms and activations. */
typedef struct {
    float (*dot_f32)(int64_t n, const float *a, const float *b);
    void (*axpy_f32)(int64_t n, float a, const float *x, float *y);   /* y += a*x */
    void (*scale_f32)(int64_t n, float a, float *x);                  /* x *= a */
    void (*fp16_to_f32)(int64_t n, const rk_fp16 *src, float *dst);
    void (*f32_to_fp16)(int64_t n, const float *src, rk_fp16 *dst);
} rk_vec_ops;

/* Optional extensions within an ISA, used only when the CPU reports them. */
#define RK_EXT_AVX512VNNI 1u    /* vpdpbusd in the AVX-512 integer dots */
#define RK_EXT_NEON_DOTPROD 2u  /* sdot in the NEON integer dots */

typedef struct {
    rk_isa isa;
    unsigned ext;                              /* RK_EXT_* bits the tables use */
    const rk_type_ops *types[GGML_TYPE_COUNT]; /* NULL where unsupported */
    rk_vec_ops vec;
    /* Storage types[] points into, so a vector fill can replace single
     * functions of a type and keep the scalar ones for the rest. The struct
     * must therefore not be copied; fill one in place with kernels_build. */
    rk_type_ops ops[GGML_TYPE_COUNT];
} rk_kernels;

/* The best kernels for this CPU. RKSERVE_ISA=scalar|avx2|avx512|neon in the
 * environment caps the choice (for tests and comparisons). */
const rk_kernels *kernels_get(void);
/* A specific ISA's kernels, or NULL if not built in or not supported here.
 * Entries the ISA does not vectorise fall back to the scalar ones. */
const rk_kernels *kernels_for_isa(rk_isa isa);
const char *kernels_isa_name(rk_isa isa);
/* The ISA kernels_get() uses given a cap (an ISA name or NULL) and the set
 * of usable ISAs as a bit mask (1u << isa). An unknown cap or one for another
 * architecture is ignored. */
rk_isa kernels_pick_isa(const char *cap, unsigned usable);
/* RK_EXT_* bits this CPU and OS support. */
unsigned kernels_cpu_ext(void);
/* Fills k with the tables of one ISA using at most the extensions in ext
 * (limited to what the CPU supports). False, with k left as the scalar
 * tables, if the ISA is not built in or not usable here. Lets tests check
 * the paths a CPU with fewer extensions would take. */
bool kernels_build(rk_kernels *k, rk_isa isa, unsigned ext);

/* Per-ISA tables, filled by each kernels_*.c (scalar always present).
 * kernels_fill_scalar fills every entry and clears ext; a vector fill is
 * applied on top of it (AVX-512 on top of AVX2) and uses the RK_EXT_* bits
 * the caller has set in k->ext, clearing those it does not use. */
void kernels_fill_scalar(rk_kernels *k);
void kernels_fill_avx2(rk_kernels *k);
void kernels_fill_avx512(rk_kernels *k);
void kernels_fill_neon(rk_kernels *k);

#endif
