/* Numeric kernels of the CPU engine. Each operation has a scalar reference
 * (kernels_ref.c) and optional vector versions (kernels_avx2.c,
 * kernels_avx512.c, kernels_neon.c); kernels_dispatch.c picks the best one the
 * running CPU supports. Tests compare every vector kernel to its reference. */
#ifndef RK_KERNELS_H
#define RK_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#include "engine/cpu/ggml_types.h"

typedef enum {
    RK_ISA_SCALAR = 0,
    RK_ISA_AVX2,
    RK_ISA_AVX512,
    RK_ISA_NEON,
    RK_ISA_COUNT
} rk_isa;

/* Operations for one weight type. A matrix row of type T is multiplied with an
 * activation row first converted to T's vec_dot_type by from_float. */
typedef struct {
    uint32_t vec_dot_type;
    /* Dequantise n elements (n a multiple of the block size). */
    void (*to_float)(const void *restrict src, float *restrict dst, int64_t n);
    /* Quantise n floats into this type (used for activations and for tests). */
    void (*from_float)(const float *restrict src, void *restrict dst, int64_t n);
    /* *s = dot(w, x) over n elements; w is of this type, x of vec_dot_type. */
    void (*vec_dot)(int64_t n, float *restrict s, const void *restrict w, const void *restrict x);
} rk_type_ops;

/* Dense float helpers used by attention, norms and activations. */
typedef struct {
    float (*dot_f32)(int64_t n, const float *a, const float *b);
    void (*axpy_f32)(int64_t n, float a, const float *x, float *y);   /* y += a*x */
    void (*scale_f32)(int64_t n, float a, float *x);                  /* x *= a */
    void (*fp16_to_f32)(int64_t n, const rk_fp16 *src, float *dst);
    void (*f32_to_fp16)(int64_t n, const float *src, rk_fp16 *dst);
} rk_vec_ops;

typedef struct {
    rk_isa isa;
    const rk_type_ops *types[GGML_TYPE_COUNT]; /* NULL where unsupported */
    rk_vec_ops vec;
} rk_kernels;

/* The best kernels for this CPU. RKSERVE_ISA=scalar|avx2|avx512|neon in the
 * environment caps the choice (for tests and comparisons). */
const rk_kernels *kernels_get(void);
/* A specific ISA's kernels, or NULL if not built in or not supported here.
 * Entries the ISA does not vectorise fall back to the scalar ones. */
const rk_kernels *kernels_for_isa(rk_isa isa);
const char *kernels_isa_name(rk_isa isa);

/* Per-ISA tables, filled by each kernels_*.c (scalar always present). */
void kernels_fill_scalar(rk_kernels *k);
void kernels_fill_avx2(rk_kernels *k);
void kernels_fill_avx512(rk_kernels *k);
void kernels_fill_neon(rk_kernels *k);

#endif
