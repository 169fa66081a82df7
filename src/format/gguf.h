/* GGUF reader: maps a file read-only and indexes its metadata and tensors.
 * Every count, length and offset is checked against the mapping before use,
 * so a truncated or hostile file yields an error message, never an over-read.
 * Strings point into the mapping and are not NUL-terminated. */
#ifndef RK_GGUF_H
#define RK_GGUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define GGUF_MAGIC 0x46554747u /* "GGUF" little-endian */
#define GGUF_DEFAULT_ALIGNMENT 32

typedef enum {
    GGUF_TYPE_UINT8 = 0,
    GGUF_TYPE_INT8 = 1,
    GGUF_TYPE_UINT16 = 2,
    GGUF_TYPE_INT16 = 3,
    GGUF_TYPE_UINT32 = 4,
    GGUF_TYPE_INT32 = 5,
    GGUF_TYPE_FLOAT32 = 6,
    GGUF_TYPE_BOOL = 7,
    GGUF_TYPE_STRING = 8,
    GGUF_TYPE_ARRAY = 9,
    GGUF_TYPE_UINT64 = 10,
    GGUF_TYPE_INT64 = 11,
    GGUF_TYPE_FLOAT64 = 12,
    GGUF_TYPE_COUNT
} gguf_type;

typedef struct {
    uint64_t len;
    const char *ptr;
} gguf_str;

typedef struct {
    gguf_str key;
    gguf_type type;
    union {
        uint64_t u64;   /* every unsigned integer type, widened */
        int64_t i64;    /* every signed integer type, widened */
        double f64;     /* FLOAT32 and FLOAT64 */
        bool b;
        gguf_str str;
        struct {
            gguf_type type;      /* element type (never ARRAY: nested arrays are refused) */
            uint64_t n;
            const void *data;    /* raw little-endian elements for numeric types */
            const gguf_str *strs;/* indexed strings for STRING arrays, else NULL */
        } arr;
    } v;
} gguf_kv;

#define GGUF_MAX_DIMS 4

typedef struct {
    gguf_str name;
    uint32_t n_dims;
    int64_t ne[GGUF_MAX_DIMS]; /* ne[0] is the contiguous (row) dimension; unused dims are 1 */
    uint32_t type;             /* enum ggml_type */
    uint64_t offset;           /* relative to the data section */
    const void *data;          /* inside the mapping, validated */
    size_t nbytes;
} gguf_tensor;

typedef struct gguf_file gguf_file;

/* Opens and validates a file. On failure returns NULL and writes a message. */
gguf_file *gguf_open(const char *path, char *err, size_t errlen);
/* Same over a caller-owned buffer that must outlive the result (fuzzing, tests). */
gguf_file *gguf_open_memory(const void *data, size_t size, char *err, size_t errlen);
void gguf_close(gguf_file *f);

uint32_t gguf_version(const gguf_file *f);
size_t gguf_alignment(const gguf_file *f);
size_t gguf_file_size(const gguf_file *f);

int64_t gguf_n_kv(const gguf_file *f);
const gguf_kv *gguf_kv_at(const gguf_file *f, int64_t i);
const gguf_kv *gguf_find_kv(const gguf_file *f, const char *key);

/* Typed look-ups. Integers convert between widths when the value fits;
 * floats accept FLOAT32/FLOAT64. Return false when absent or mistyped. */
bool gguf_get_u32(const gguf_file *f, const char *key, uint32_t *out);
bool gguf_get_u64(const gguf_file *f, const char *key, uint64_t *out);
bool gguf_get_i64(const gguf_file *f, const char *key, int64_t *out);
bool gguf_get_f32(const gguf_file *f, const char *key, float *out);
bool gguf_get_bool(const gguf_file *f, const char *key, bool *out);
bool gguf_get_str(const gguf_file *f, const char *key, gguf_str *out);
/* NUL-terminated copy into buf (truncated to cap-1); false when absent. */
bool gguf_get_cstr(const gguf_file *f, const char *key, char *buf, size_t cap);
/* An array value with the given element type, or NULL. */
const gguf_kv *gguf_get_arr(const gguf_file *f, const char *key, gguf_type elem_type);

int64_t gguf_n_tensors(const gguf_file *f);
const gguf_tensor *gguf_tensor_at(const gguf_file *f, int64_t i);
const gguf_tensor *gguf_find_tensor(const gguf_file *f, const char *name);

bool gguf_str_eq(gguf_str s, const char *cstr);
const char *gguf_type_name(gguf_type t);

#endif
