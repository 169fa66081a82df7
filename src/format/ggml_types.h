/* Tensor element types as GGUF numbers them (ggml's enum), their block
 * layouts and sizes. Only the types the engine computes with have block
 * structs; the rest are known by size so a file can be validated and a clear
 * "unsupported type" error given. */
#ifndef RK_GGML_TYPES_H
#define RK_GGML_TYPES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum ggml_type {
    GGML_TYPE_F32 = 0,
    GGML_TYPE_F16 = 1,
    GGML_TYPE_Q4_0 = 2,
    GGML_TYPE_Q4_1 = 3,
    GGML_TYPE_Q5_0 = 6,
    GGML_TYPE_Q5_1 = 7,
    GGML_TYPE_Q8_0 = 8,
    GGML_TYPE_Q8_1 = 9,
    GGML_TYPE_Q2_K = 10,
    GGML_TYPE_Q3_K = 11,
    GGML_TYPE_Q4_K = 12,
    GGML_TYPE_Q5_K = 13,
    GGML_TYPE_Q6_K = 14,
    GGML_TYPE_Q8_K = 15,
    GGML_TYPE_IQ2_XXS = 16,
    GGML_TYPE_IQ2_XS = 17,
    GGML_TYPE_IQ3_XXS = 18,
    GGML_TYPE_IQ1_S = 19,
    GGML_TYPE_IQ4_NL = 20,
    GGML_TYPE_IQ3_S = 21,
    GGML_TYPE_IQ2_S = 22,
    GGML_TYPE_IQ4_XS = 23,
    GGML_TYPE_I8 = 24,
    GGML_TYPE_I16 = 25,
    GGML_TYPE_I32 = 26,
    GGML_TYPE_I64 = 27,
    GGML_TYPE_F64 = 28,
    GGML_TYPE_IQ1_M = 29,
    GGML_TYPE_BF16 = 30,
    GGML_TYPE_TQ1_0 = 34,
    GGML_TYPE_TQ2_0 = 35,
    GGML_TYPE_COUNT = 39,
};

#define QK4_0 32
#define QK4_1 32
#define QK5_0 32
#define QK5_1 32
#define QK8_0 32
#define QK_K 256
#define K_SCALE_SIZE 12

/* fp16 and bf16 are stored as raw 16-bit patterns */
typedef uint16_t rk_fp16;
typedef uint16_t rk_bf16;

typedef struct {
    rk_fp16 d;              /* scale */
    uint8_t qs[QK4_0 / 2];  /* nibbles: low half holds elements 0..15, high 16..31 */
} block_q4_0;

/* value = d*q + m */
typedef struct {
    rk_fp16 d;
    rk_fp16 m;
    uint8_t qs[QK4_1 / 2];  /* nibbles as in Q4_0 */
} block_q4_1;

/* value = d*(q - 16), q 5-bit */
typedef struct {
    rk_fp16 d;
    uint8_t qh[4];          /* bit j of the little-endian word: 5th bit of element j */
    uint8_t qs[QK5_0 / 2];  /* low 4 bits, nibbles as in Q4_0 */
} block_q5_0;

/* value = d*q + m, q 5-bit */
typedef struct {
    rk_fp16 d;
    rk_fp16 m;
    uint8_t qh[4];
    uint8_t qs[QK5_1 / 2];
} block_q5_1;

typedef struct {
    rk_fp16 d;
    int8_t qs[QK8_0];
} block_q8_0;

/* value = d*(scale&15)*q - dmin*(scale>>4) over 16 sub-blocks of 16, q 2-bit */
typedef struct {
    uint8_t scales[QK_K / 16];  /* low nibble scale, high nibble min */
    uint8_t qs[QK_K / 4];       /* four 2-bit fields per byte */
    rk_fp16 d;
    rk_fp16 dmin;
} block_q2_K;

/* value = d*(scale-32)*(q - 4) over 16 sub-blocks of 16, q 3-bit */
typedef struct {
    uint8_t hmask[QK_K / 8];       /* 3rd bit of each quant */
    uint8_t qs[QK_K / 4];          /* low 2 bits */
    uint8_t scales[K_SCALE_SIZE];  /* 16 scales, 6 bits each, packed */
    rk_fp16 d;
} block_q3_K;

typedef struct {
    rk_fp16 d;                     /* super-block scale for the 6-bit scales */
    rk_fp16 dmin;                  /* super-block scale for the 6-bit mins */
    uint8_t scales[K_SCALE_SIZE];  /* 8 scales + 8 mins, 6 bits each, packed */
    uint8_t qs[QK_K / 2];
} block_q4_K;

/* Q4_K with a 5th bit per quant */
typedef struct {
    rk_fp16 d;
    rk_fp16 dmin;
    uint8_t scales[K_SCALE_SIZE];  /* packed as in Q4_K */
    uint8_t qh[QK_K / 8];          /* bit 2c / 2c+1 of qh[l]: 5th bit of the low / high nibble of chunk c */
    uint8_t qs[QK_K / 2];
} block_q5_K;

typedef struct {
    uint8_t ql[QK_K / 2];      /* low 4 bits */
    uint8_t qh[QK_K / 4];      /* high 2 bits */
    int8_t scales[QK_K / 16];  /* 8-bit sub-block scales */
    rk_fp16 d;
} block_q6_K;

/* Activation format for dot products with K-quant weights. */
typedef struct {
    float d;
    int8_t qs[QK_K];
    int16_t bsums[QK_K / 16];  /* sums of each group of 16 qs */
} block_q8_K;

_Static_assert(sizeof(block_q4_0) == 18, "block_q4_0 layout");
_Static_assert(sizeof(block_q4_1) == 20, "block_q4_1 layout");
_Static_assert(sizeof(block_q5_0) == 22, "block_q5_0 layout");
_Static_assert(sizeof(block_q5_1) == 24, "block_q5_1 layout");
_Static_assert(sizeof(block_q8_0) == 34, "block_q8_0 layout");
_Static_assert(sizeof(block_q2_K) == 84, "block_q2_K layout");
_Static_assert(sizeof(block_q3_K) == 110, "block_q3_K layout");
_Static_assert(sizeof(block_q4_K) == 144, "block_q4_K layout");
_Static_assert(sizeof(block_q5_K) == 176, "block_q5_K layout");
_Static_assert(sizeof(block_q6_K) == 210, "block_q6_K layout");
_Static_assert(sizeof(block_q8_K) == 292, "block_q8_K layout");

/* Elements per block and bytes per block; 0 for an unknown type. */
size_t ggml_blck_size(uint32_t type);
size_t ggml_type_size(uint32_t type);
const char *ggml_type_name(uint32_t type);
/* Bytes of a row of n elements, or 0 if n is not a multiple of the block. */
size_t ggml_row_size(uint32_t type, int64_t n);

float rk_fp16_to_fp32(rk_fp16 h);
rk_fp16 rk_fp32_to_fp16(float f);
float rk_bf16_to_fp32(rk_bf16 h);
rk_bf16 rk_fp32_to_bf16(float f);

#endif
