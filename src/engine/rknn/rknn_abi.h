/* The C ABI of Rockchip's librknnrt.so (rknn-toolkit2 2.x, rknpu2), written
 * from the facts of the public rknn_api.h: the calls rkserve makes and the
 * structs they take. Type names are ours; layouts, values and sizes are
 * the vendor's, pinned below for LP64 (aarch64, x86_64) and ILP32 (armhf),
 * where rknn_context shrinks to 32 bits. */
#ifndef RK_RKNN_ABI_H
#define RK_RKNN_ABI_H

#include <stddef.h>
#include <stdint.h>

#ifdef __arm__
typedef uint32_t rknn_ctx_t;
#else
typedef uint64_t rknn_ctx_t;
#endif

#define RKNN_ABI_MAX_DIMS 16
#define RKNN_ABI_MAX_NAME_LEN 256

/* error codes */
enum {
    RKNN_ABI_SUCC = 0,
    RKNN_ABI_ERR_FAIL = -1,
    RKNN_ABI_ERR_MALLOC_FAIL = -4,
    RKNN_ABI_ERR_PARAM_INVALID = -5,
    RKNN_ABI_ERR_MODEL_INVALID = -6,
    RKNN_ABI_ERR_CTX_INVALID = -7,
    RKNN_ABI_ERR_INPUT_INVALID = -8,
    RKNN_ABI_ERR_OUTPUT_INVALID = -9,
};

/* rknn_query_cmd */
enum { RKNN_ABI_QUERY_IN_OUT_NUM = 0, RKNN_ABI_QUERY_INPUT_ATTR = 1, RKNN_ABI_QUERY_OUTPUT_ATTR = 2 };

/* rknn_tensor_type */
enum {
    RKNN_ABI_TENSOR_FLOAT32 = 0,
    RKNN_ABI_TENSOR_FLOAT16 = 1,
    RKNN_ABI_TENSOR_INT8 = 2,
    RKNN_ABI_TENSOR_UINT8 = 3,
};

/* rknn_tensor_format */
enum { RKNN_ABI_NCHW = 0, RKNN_ABI_NHWC = 1, RKNN_ABI_NC1HWC2 = 2, RKNN_ABI_FORMAT_UNDEFINED = 3 };

/* rknn_tensor_qnt_type */
enum { RKNN_ABI_QNT_NONE = 0, RKNN_ABI_QNT_DFP = 1, RKNN_ABI_QNT_AFFINE_ASYMMETRIC = 2 };

/* rknn_core_mask: one bit per NPU core (RK3588 has three) */
enum {
    RKNN_ABI_CORE_AUTO = 0,
    RKNN_ABI_CORE_0 = 1,
    RKNN_ABI_CORE_1 = 2,
    RKNN_ABI_CORE_2 = 4,
    RKNN_ABI_CORE_0_1 = 3,
    RKNN_ABI_CORE_0_1_2 = 7,
    RKNN_ABI_CORE_ALL = 0xffff,
};

typedef struct { /* rknn_input_output_num */
    uint32_t n_input;
    uint32_t n_output;
} rknn_io_num;

typedef struct { /* rknn_tensor_attr */
    uint32_t index; /* set by the caller before rknn_query */
    uint32_t n_dims;
    uint32_t dims[RKNN_ABI_MAX_DIMS];
    char name[RKNN_ABI_MAX_NAME_LEN];
    uint32_t n_elems;
    uint32_t size;
    int32_t fmt;      /* rknn_tensor_format (an enum: int-sized) */
    int32_t type;     /* rknn_tensor_type */
    int32_t qnt_type; /* rknn_tensor_qnt_type */
    int8_t fl;
    int32_t zp;
    float scale;
    uint32_t w_stride;
    uint32_t size_with_stride;
    uint8_t pass_through;
    uint32_t h_stride;
} rknn_attr;

typedef struct { /* rknn_input */
    uint32_t index;
    void *buf;
    uint32_t size;
    uint8_t pass_through; /* 0: the runtime converts buf from type/fmt to the model's */
    int32_t type;
    int32_t fmt;
} rknn_in;

typedef struct { /* rknn_output */
    uint8_t want_float;
    uint8_t is_prealloc; /* 1: buf/size are the caller's */
    uint32_t index;
    void *buf;
    uint32_t size;
} rknn_out;

/* rknn_init's model argument is a file path when size is 0 */
typedef int (*rknn_init_fn)(rknn_ctx_t *ctx, void *model, uint32_t size, uint32_t flag, void *extend);
typedef int (*rknn_destroy_fn)(rknn_ctx_t ctx);
typedef int (*rknn_query_fn)(rknn_ctx_t ctx, int32_t cmd, void *info, uint32_t size);
typedef int (*rknn_set_core_mask_fn)(rknn_ctx_t ctx, int32_t mask);
typedef int (*rknn_inputs_set_fn)(rknn_ctx_t ctx, uint32_t n, rknn_in *inputs);
typedef int (*rknn_run_fn)(rknn_ctx_t ctx, void *extend);
typedef int (*rknn_outputs_get_fn)(rknn_ctx_t ctx, uint32_t n, rknn_out *outputs, void *extend);
typedef int (*rknn_outputs_release_fn)(rknn_ctx_t ctx, uint32_t n, rknn_out *outputs);

/* Layouts as the vendor header gives them on each data model. */
#define RKNN_ABI_ASSERT(c) _Static_assert(c, #c)
RKNN_ABI_ASSERT(sizeof(rknn_io_num) == 8);
RKNN_ABI_ASSERT(offsetof(rknn_attr, dims) == 8);
RKNN_ABI_ASSERT(offsetof(rknn_attr, name) == 72);
RKNN_ABI_ASSERT(offsetof(rknn_attr, n_elems) == 328);
RKNN_ABI_ASSERT(offsetof(rknn_attr, size) == 332);
RKNN_ABI_ASSERT(offsetof(rknn_attr, fmt) == 336);
RKNN_ABI_ASSERT(offsetof(rknn_attr, type) == 340);
RKNN_ABI_ASSERT(offsetof(rknn_attr, qnt_type) == 344);
RKNN_ABI_ASSERT(offsetof(rknn_attr, fl) == 348);
RKNN_ABI_ASSERT(offsetof(rknn_attr, zp) == 352);
RKNN_ABI_ASSERT(offsetof(rknn_attr, scale) == 356);
RKNN_ABI_ASSERT(offsetof(rknn_attr, w_stride) == 360);
RKNN_ABI_ASSERT(offsetof(rknn_attr, size_with_stride) == 364);
RKNN_ABI_ASSERT(offsetof(rknn_attr, pass_through) == 368);
RKNN_ABI_ASSERT(offsetof(rknn_attr, h_stride) == 372);
RKNN_ABI_ASSERT(sizeof(rknn_attr) == 376);
#if UINTPTR_MAX == 0xffffffffffffffffu
RKNN_ABI_ASSERT(sizeof(rknn_ctx_t) == 8);
RKNN_ABI_ASSERT(offsetof(rknn_in, buf) == 8);
RKNN_ABI_ASSERT(offsetof(rknn_in, size) == 16);
RKNN_ABI_ASSERT(offsetof(rknn_in, pass_through) == 20);
RKNN_ABI_ASSERT(offsetof(rknn_in, type) == 24);
RKNN_ABI_ASSERT(offsetof(rknn_in, fmt) == 28);
RKNN_ABI_ASSERT(sizeof(rknn_in) == 32);
RKNN_ABI_ASSERT(offsetof(rknn_out, index) == 4);
RKNN_ABI_ASSERT(offsetof(rknn_out, buf) == 8);
RKNN_ABI_ASSERT(offsetof(rknn_out, size) == 16);
RKNN_ABI_ASSERT(sizeof(rknn_out) == 24);
#elif UINTPTR_MAX == 0xffffffffu
RKNN_ABI_ASSERT(offsetof(rknn_in, buf) == 4);
RKNN_ABI_ASSERT(offsetof(rknn_in, size) == 8);
RKNN_ABI_ASSERT(offsetof(rknn_in, pass_through) == 12);
RKNN_ABI_ASSERT(offsetof(rknn_in, type) == 16);
RKNN_ABI_ASSERT(offsetof(rknn_in, fmt) == 20);
RKNN_ABI_ASSERT(sizeof(rknn_in) == 24);
RKNN_ABI_ASSERT(offsetof(rknn_out, index) == 4);
RKNN_ABI_ASSERT(offsetof(rknn_out, buf) == 8);
RKNN_ABI_ASSERT(offsetof(rknn_out, size) == 12);
RKNN_ABI_ASSERT(sizeof(rknn_out) == 16);
#endif

#endif
