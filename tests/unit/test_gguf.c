/* GGUF reader: valid files of every value type, layout and version are read
 * back exactly; hostile files (truncated, oversized counts, overflowing
 * shapes, bad types) are refused with a message and never over-read. Every
 * image is opened from an exactly-sized heap copy so ASan sees any read past
 * its end. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "format/ggml_types.h"
#include "format/gguf.h"

/* ---- byte builder ---- */

typedef struct {
    uint8_t *p;
    size_t n, cap;
} bb;

static void bb_raw(bb *b, const void *d, size_t n)
{
    if (b->n + n > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->n + n) cap *= 2;
        b->p = realloc(b->p, cap);
        assert_non_null(b->p);
        b->cap = cap;
    }
    if (n) memcpy(b->p + b->n, d, n);
    b->n += n;
}

static void bb_le(bb *b, uint64_t v, int bytes)
{
    uint8_t tmp[8];
    for (int i = 0; i < bytes; i++) tmp[i] = (uint8_t)(v >> (8 * i));
    bb_raw(b, tmp, (size_t)bytes);
}

static void bb_u8(bb *b, uint8_t v) { bb_le(b, v, 1); }
static void bb_u16(bb *b, uint16_t v) { bb_le(b, v, 2); }
static void bb_u32(bb *b, uint32_t v) { bb_le(b, v, 4); }
static void bb_u64(bb *b, uint64_t v) { bb_le(b, v, 8); }

static void bb_f32(bb *b, float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    bb_u32(b, u);
}

static void bb_f64(bb *b, double f)
{
    uint64_t u;
    memcpy(&u, &f, 8);
    bb_u64(b, u);
}

static void bb_strn(bb *b, const char *s, size_t n)
{
    bb_u64(b, n);
    bb_raw(b, s, n);
}

static void bb_str(bb *b, const char *s) { bb_strn(b, s, strlen(s)); }

static void bb_pad(bb *b, size_t align)
{
    while (b->n % align) bb_u8(b, 0);
}

static void bb_set_u64(bb *b, size_t at, uint64_t v)
{
    for (int i = 0; i < 8; i++) b->p[at + (size_t)i] = (uint8_t)(v >> (8 * i));
}

static void bb_header(bb *b, uint32_t version, uint64_t n_tensors, uint64_t n_kv)
{
    bb_u32(b, GGUF_MAGIC);
    bb_u32(b, version);
    bb_u64(b, n_tensors);
    bb_u64(b, n_kv);
}

static void bb_key(bb *b, const char *key, gguf_type t)
{
    bb_str(b, key);
    bb_u32(b, (uint32_t)t);
}

static void bb_arr(bb *b, const char *key, gguf_type et, uint64_t n)
{
    bb_key(b, key, GGUF_TYPE_ARRAY);
    bb_u32(b, (uint32_t)et);
    bb_u64(b, n);
}

static void bb_tensor_info(bb *b, const char *name, uint32_t n_dims, const uint64_t *dims,
                           uint32_t type, uint64_t offset)
{
    bb_str(b, name);
    bb_u32(b, n_dims);
    for (uint32_t d = 0; d < n_dims; d++) bb_u64(b, dims[d]);
    bb_u32(b, type);
    bb_u64(b, offset);
}

static void bb_free(bb *b)
{
    free(b->p);
    memset(b, 0, sizeof *b);
}

/* Shrinks the buffer to its exact size so ASan flags reads past the end. */
static gguf_file *open_ok(bb *b)
{
    char err[512] = "";
    uint8_t *exact = realloc(b->p, b->n ? b->n : 1);
    assert_non_null(exact);
    b->p = exact;
    b->cap = b->n ? b->n : 1;
    gguf_file *f = gguf_open_memory(b->p, b->n, err, sizeof err);
    if (!f) fail_msg("expected a valid file, got: %s", err);
    return f;
}

static void expect_refused(const void *data, size_t n, const char *needle)
{
    char err[512] = "";
    uint8_t *copy = malloc(n ? n : 1);
    assert_non_null(copy);
    if (n) memcpy(copy, data, n);
    gguf_file *f = gguf_open_memory(copy, n, err, sizeof err);
    if (f) {
        gguf_close(f);
        free(copy);
        fail_msg("expected refusal containing '%s', but the file opened", needle);
    }
    free(copy);
    if (err[0] == '\0') fail_msg("refused without a message (expected '%s')", needle);
    if (needle && !strstr(err, needle)) fail_msg("message '%s' lacks '%s'", err, needle);
}

static void expect_bb_refused(bb *b, const char *needle)
{
    expect_refused(b->p, b->n, needle);
    bb_free(b);
}

/* ---- a valid file with every value type and several tensor layouts ---- */

typedef struct {
    const char *name;
    uint32_t n_dims;
    uint64_t dims[4];
    uint32_t type;
} tspec;

static const tspec TENSORS[] = {
    {"token_embd.weight", 2, {8, 3}, GGML_TYPE_F32},
    {"blk.0.attn_q.weight", 2, {64, 2}, GGML_TYPE_Q8_0},
    {"blk.0.ffn_down.weight", 2, {256, 1}, GGML_TYPE_Q4_K},
    {"output_norm.weight", 1, {5}, GGML_TYPE_F16},
    {"rope_freqs", 4, {2, 3, 1, 2}, GGML_TYPE_I8},
};
#define N_TENSORS (sizeof TENSORS / sizeof TENSORS[0])

static size_t tspec_bytes(const tspec *t)
{
    size_t n = ggml_row_size(t->type, (int64_t)t->dims[0]);
    for (uint32_t d = 1; d < t->n_dims; d++) n *= t->dims[d];
    return n;
}

static uint8_t pattern(size_t tensor, size_t i)
{
    return (uint8_t)(tensor * 31 + i * 7 + 1);
}

static const uint8_t A_U8[] = {1, 2, 255};
static const int8_t A_I8[] = {-1, 0, 127};
static const uint16_t A_U16[] = {0, 65535};
static const int16_t A_I16[] = {-32768, 7};
static const uint32_t A_U32[] = {4000000000u, 0, 9};
static const int32_t A_I32[] = {-2147483647 - 1, 5};
static const float A_F32[] = {0.5f, -1.25f, 3e38f};
static const uint8_t A_BOOL[] = {1, 0, 1};
static const char *const A_STR[] = {"alpha", "", "\xe2\x96\x81tok"};
static const uint64_t A_U64[] = {UINT64_MAX, 1};
static const int64_t A_I64[] = {INT64_MIN, -3};
static const double A_F64[] = {1e300, -0.125};

#define N_FULL_KV 30

/* Writes the whole image; alignment 0 means the default and no key. The
 * last tensor ends the file exactly, so every strict prefix is invalid. */
static void build_full(bb *b, uint32_t version, uint32_t alignment)
{
    size_t align = alignment ? alignment : GGUF_DEFAULT_ALIGNMENT;
    bb_header(b, version, N_TENSORS, N_FULL_KV + (alignment ? 1 : 0));
    bb_key(b, "general.architecture", GGUF_TYPE_STRING);
    bb_str(b, "llama");
    bb_key(b, "t.u8", GGUF_TYPE_UINT8); bb_u8(b, 200);
    bb_key(b, "t.i8", GGUF_TYPE_INT8); bb_u8(b, (uint8_t)-100);
    bb_key(b, "t.u16", GGUF_TYPE_UINT16); bb_u16(b, 60000);
    bb_key(b, "t.i16", GGUF_TYPE_INT16); bb_u16(b, (uint16_t)-30000);
    bb_key(b, "t.u32", GGUF_TYPE_UINT32); bb_u32(b, 4000000000u);
    bb_key(b, "t.i32", GGUF_TYPE_INT32); bb_u32(b, (uint32_t)-2000000000);
    bb_key(b, "t.f32", GGUF_TYPE_FLOAT32); bb_f32(b, 1.5f);
    bb_key(b, "t.bool", GGUF_TYPE_BOOL); bb_u8(b, 1);
    bb_key(b, "t.false", GGUF_TYPE_BOOL); bb_u8(b, 0);
    bb_key(b, "t.str", GGUF_TYPE_STRING); bb_str(b, "h\xc3\xa9llo");
    bb_key(b, "t.u64", GGUF_TYPE_UINT64); bb_u64(b, ((uint64_t)1 << 40) + 3);
    bb_key(b, "t.i64", GGUF_TYPE_INT64); bb_u64(b, (uint64_t)-((int64_t)1 << 40));
    bb_key(b, "t.f64", GGUF_TYPE_FLOAT64); bb_f64(b, -2.5);
    bb_key(b, "t.f64big", GGUF_TYPE_FLOAT64); bb_f64(b, 1e300);
    bb_key(b, "t.u64big", GGUF_TYPE_UINT64); bb_u64(b, UINT64_MAX);
    bb_key(b, "t.i32pos", GGUF_TYPE_INT32); bb_u32(b, 7);
    bb_arr(b, "a.u8", GGUF_TYPE_UINT8, 3);
    for (size_t i = 0; i < 3; i++) bb_u8(b, A_U8[i]);
    bb_arr(b, "a.i8", GGUF_TYPE_INT8, 3);
    for (size_t i = 0; i < 3; i++) bb_u8(b, (uint8_t)A_I8[i]);
    bb_arr(b, "a.u16", GGUF_TYPE_UINT16, 2);
    for (size_t i = 0; i < 2; i++) bb_u16(b, A_U16[i]);
    bb_arr(b, "a.i16", GGUF_TYPE_INT16, 2);
    for (size_t i = 0; i < 2; i++) bb_u16(b, (uint16_t)A_I16[i]);
    bb_arr(b, "a.u32", GGUF_TYPE_UINT32, 3);
    for (size_t i = 0; i < 3; i++) bb_u32(b, A_U32[i]);
    bb_arr(b, "a.i32", GGUF_TYPE_INT32, 2);
    for (size_t i = 0; i < 2; i++) bb_u32(b, (uint32_t)A_I32[i]);
    bb_arr(b, "a.f32", GGUF_TYPE_FLOAT32, 3);
    for (size_t i = 0; i < 3; i++) bb_f32(b, A_F32[i]);
    bb_arr(b, "a.bool", GGUF_TYPE_BOOL, 3);
    for (size_t i = 0; i < 3; i++) bb_u8(b, A_BOOL[i]);
    bb_arr(b, "a.str", GGUF_TYPE_STRING, 3);
    for (size_t i = 0; i < 3; i++) bb_str(b, A_STR[i]);
    bb_arr(b, "a.u64", GGUF_TYPE_UINT64, 2);
    for (size_t i = 0; i < 2; i++) bb_u64(b, A_U64[i]);
    bb_arr(b, "a.i64", GGUF_TYPE_INT64, 2);
    for (size_t i = 0; i < 2; i++) bb_u64(b, (uint64_t)A_I64[i]);
    bb_arr(b, "a.f64", GGUF_TYPE_FLOAT64, 2);
    for (size_t i = 0; i < 2; i++) bb_f64(b, A_F64[i]);
    bb_arr(b, "a.empty", GGUF_TYPE_UINT32, 0);
    if (alignment) {
        bb_key(b, "general.alignment", GGUF_TYPE_UINT32);
        bb_u32(b, alignment);
    }
    size_t offset = 0;
    for (size_t i = 0; i < N_TENSORS; i++) {
        const tspec *t = &TENSORS[i];
        bb_tensor_info(b, t->name, t->n_dims, t->dims, t->type, offset);
        offset += tspec_bytes(t);
        offset = (offset + align - 1) / align * align;
    }
    bb_pad(b, align);
    for (size_t i = 0; i < N_TENSORS; i++) {
        size_t nb = tspec_bytes(&TENSORS[i]);
        for (size_t k = 0; k < nb; k++) bb_u8(b, pattern(i, k));
        if (i + 1 < N_TENSORS) bb_pad(b, align);
    }
}

static void check_tensors(const gguf_file *f, size_t align)
{
    assert_int_equal(gguf_n_tensors(f), N_TENSORS);
    const uint8_t *first = gguf_tensor_at(f, 0)->data;
    for (size_t i = 0; i < N_TENSORS; i++) {
        const tspec *s = &TENSORS[i];
        const gguf_tensor *t = gguf_find_tensor(f, s->name);
        assert_non_null(t);
        assert_ptr_equal(t, gguf_tensor_at(f, (int64_t)i));
        assert_true(gguf_str_eq(t->name, s->name));
        assert_int_equal(t->n_dims, s->n_dims);
        for (uint32_t d = 0; d < 4; d++)
            assert_int_equal(t->ne[d], d < s->n_dims ? (int64_t)s->dims[d] : 1);
        assert_int_equal(t->type, s->type);
        assert_int_equal(t->nbytes, tspec_bytes(s));
        assert_int_equal(t->offset % align, 0);
        /* data = data section start + offset, the section itself aligned */
        const uint8_t *section = (const uint8_t *)t->data - t->offset;
        assert_ptr_equal(section, first - gguf_tensor_at(f, 0)->offset);
        for (size_t k = 0; k < t->nbytes; k++)
            if (((const uint8_t *)t->data)[k] != pattern(i, k))
                fail_msg("tensor %s byte %zu differs", s->name, k);
    }
    assert_null(gguf_find_tensor(f, "missing.weight"));
    assert_null(gguf_find_tensor(f, "token_embd.weigh"));
    assert_null(gguf_tensor_at(f, -1));
    assert_null(gguf_tensor_at(f, (int64_t)N_TENSORS));
}

/* ---- valid files ---- */

static void test_scalar_types(void **state)
{
    (void)state;
    bb b = {0};
    build_full(&b, 3, 0);
    gguf_file *f = open_ok(&b);
    assert_int_equal(gguf_version(f), 3);
    assert_int_equal(gguf_alignment(f), GGUF_DEFAULT_ALIGNMENT);
    assert_int_equal(gguf_file_size(f), b.n);
    assert_int_equal(gguf_n_kv(f), N_FULL_KV);

    const gguf_kv *kv = gguf_find_kv(f, "t.u8");
    assert_non_null(kv);
    assert_int_equal(kv->type, GGUF_TYPE_UINT8);
    assert_int_equal(kv->v.u64, 200);
    kv = gguf_find_kv(f, "t.i8");
    assert_int_equal(kv->type, GGUF_TYPE_INT8);
    assert_int_equal(kv->v.i64, -100);
    kv = gguf_find_kv(f, "t.u16");
    assert_int_equal(kv->type, GGUF_TYPE_UINT16);
    assert_int_equal(kv->v.u64, 60000);
    kv = gguf_find_kv(f, "t.i16");
    assert_int_equal(kv->type, GGUF_TYPE_INT16);
    assert_int_equal(kv->v.i64, -30000);
    kv = gguf_find_kv(f, "t.u32");
    assert_int_equal(kv->type, GGUF_TYPE_UINT32);
    assert_int_equal(kv->v.u64, 4000000000u);
    kv = gguf_find_kv(f, "t.i32");
    assert_int_equal(kv->type, GGUF_TYPE_INT32);
    assert_int_equal(kv->v.i64, -2000000000);
    kv = gguf_find_kv(f, "t.f32");
    assert_int_equal(kv->type, GGUF_TYPE_FLOAT32);
    assert_true(kv->v.f64 == 1.5);
    kv = gguf_find_kv(f, "t.bool");
    assert_int_equal(kv->type, GGUF_TYPE_BOOL);
    assert_true(kv->v.b);
    assert_false(gguf_find_kv(f, "t.false")->v.b);
    kv = gguf_find_kv(f, "t.str");
    assert_int_equal(kv->type, GGUF_TYPE_STRING);
    assert_true(gguf_str_eq(kv->v.str, "h\xc3\xa9llo"));
    kv = gguf_find_kv(f, "t.u64");
    assert_int_equal(kv->type, GGUF_TYPE_UINT64);
    assert_true(kv->v.u64 == ((uint64_t)1 << 40) + 3);
    kv = gguf_find_kv(f, "t.i64");
    assert_int_equal(kv->type, GGUF_TYPE_INT64);
    assert_true(kv->v.i64 == -((int64_t)1 << 40));
    kv = gguf_find_kv(f, "t.f64");
    assert_int_equal(kv->type, GGUF_TYPE_FLOAT64);
    assert_true(kv->v.f64 == -2.5);

    /* order is the file's order, and kv_at agrees with find */
    assert_true(gguf_str_eq(gguf_kv_at(f, 0)->key, "general.architecture"));
    assert_ptr_equal(gguf_kv_at(f, 1), gguf_find_kv(f, "t.u8"));
    assert_null(gguf_kv_at(f, -1));
    assert_null(gguf_kv_at(f, N_FULL_KV));
    assert_null(gguf_find_kv(f, "t.u"));
    assert_null(gguf_find_kv(f, "t.u8x"));
    assert_null(gguf_find_kv(f, NULL));
    gguf_close(f);
    bb_free(&b);
}

static void test_getters(void **state)
{
    (void)state;
    bb b = {0};
    build_full(&b, 3, 0);
    gguf_file *f = open_ok(&b);
    uint32_t u32 = 0;
    uint64_t u64 = 0;
    int64_t i64 = 0;
    float f32 = 0;
    bool bl = false;
    gguf_str s;
    char buf[16];

    assert_true(gguf_get_u32(f, "t.u8", &u32));
    assert_int_equal(u32, 200);
    assert_true(gguf_get_u32(f, "t.u32", &u32));
    assert_int_equal(u32, 4000000000u);
    assert_true(gguf_get_u32(f, "t.u64", &u32) == false); /* 2^40+3 does not fit */
    assert_false(gguf_get_u32(f, "t.i8", &u32));          /* negative */
    assert_false(gguf_get_u32(f, "t.f32", &u32));         /* not an integer */
    assert_false(gguf_get_u32(f, "nope", &u32));
    assert_true(gguf_get_u64(f, "t.u64big", &u64));
    assert_true(u64 == UINT64_MAX);
    assert_true(gguf_get_u64(f, "t.u16", &u64));
    assert_int_equal(u64, 60000);
    assert_false(gguf_get_u64(f, "t.i16", &u64));
    assert_true(gguf_get_u64(f, "t.i32pos", &u64)); /* non-negative signed converts */
    assert_int_equal(u64, 7);
    assert_true(gguf_get_u32(f, "t.i32pos", &u32));
    assert_int_equal(u32, 7);
    assert_true(gguf_get_i64(f, "t.i8", &i64));
    assert_int_equal(i64, -100);
    assert_true(gguf_get_i64(f, "t.u32", &i64));
    assert_int_equal(i64, 4000000000ll);
    assert_false(gguf_get_i64(f, "t.u64big", &i64)); /* above INT64_MAX */
    assert_false(gguf_get_i64(f, "t.bool", &i64));
    assert_true(gguf_get_f32(f, "t.f32", &f32));
    assert_true(f32 == 1.5f);
    assert_true(gguf_get_f32(f, "t.f64", &f32));
    assert_true(f32 == -2.5f);
    assert_false(gguf_get_f32(f, "t.f64big", &f32)); /* beyond float range */
    assert_false(gguf_get_f32(f, "t.u8", &f32));
    assert_true(gguf_get_bool(f, "t.bool", &bl));
    assert_true(bl);
    assert_true(gguf_get_bool(f, "t.false", &bl));
    assert_false(bl);
    assert_false(gguf_get_bool(f, "t.u8", &bl));
    assert_true(gguf_get_str(f, "t.str", &s));
    assert_int_equal(s.len, 6);
    assert_false(gguf_get_str(f, "t.u8", &s));
    assert_true(gguf_get_cstr(f, "general.architecture", buf, sizeof buf));
    assert_string_equal(buf, "llama");
    assert_true(gguf_get_cstr(f, "general.architecture", buf, 4));
    assert_string_equal(buf, "lla"); /* truncated to cap-1 */
    assert_true(gguf_get_cstr(f, "general.architecture", buf, 1));
    assert_string_equal(buf, "");
    assert_false(gguf_get_cstr(f, "t.u8", buf, sizeof buf));
    assert_false(gguf_get_cstr(f, "missing", buf, sizeof buf));
    assert_non_null(gguf_get_arr(f, "a.str", GGUF_TYPE_STRING));
    assert_null(gguf_get_arr(f, "a.str", GGUF_TYPE_UINT8));
    assert_null(gguf_get_arr(f, "t.str", GGUF_TYPE_STRING));
    assert_null(gguf_get_arr(f, "missing", GGUF_TYPE_UINT8));

    assert_string_equal(gguf_type_name(GGUF_TYPE_FLOAT32), "float32");
    assert_string_equal(gguf_type_name(GGUF_TYPE_ARRAY), "array");
    assert_string_equal(gguf_type_name((gguf_type)99), "unknown");
    gguf_str e = {0, NULL};
    assert_true(gguf_str_eq(e, ""));
    assert_false(gguf_str_eq(e, "x"));
    assert_false(gguf_str_eq(e, NULL));
    gguf_close(f);
    bb_free(&b);
}

static uint64_t rd_le(const uint8_t *p, size_t n)
{
    uint64_t v = 0;
    for (size_t i = n; i-- > 0;) v = v << 8 | p[i];
    return v;
}

static void test_array_types(void **state)
{
    (void)state;
    bb b = {0};
    build_full(&b, 3, 0);
    gguf_file *f = open_ok(&b);
    const gguf_kv *kv;
    const uint8_t *d;

    kv = gguf_get_arr(f, "a.u8", GGUF_TYPE_UINT8);
    assert_non_null(kv);
    assert_int_equal(kv->v.arr.n, 3);
    assert_null(kv->v.arr.strs);
    assert_memory_equal(kv->v.arr.data, A_U8, 3);
    kv = gguf_get_arr(f, "a.i8", GGUF_TYPE_INT8);
    assert_int_equal(kv->v.arr.n, 3);
    assert_memory_equal(kv->v.arr.data, A_I8, 3);
    kv = gguf_get_arr(f, "a.u16", GGUF_TYPE_UINT16);
    assert_int_equal(kv->v.arr.n, 2);
    d = kv->v.arr.data;
    for (size_t i = 0; i < 2; i++) assert_int_equal(rd_le(d + 2 * i, 2), A_U16[i]);
    kv = gguf_get_arr(f, "a.i16", GGUF_TYPE_INT16);
    d = kv->v.arr.data;
    for (size_t i = 0; i < 2; i++) assert_int_equal((int16_t)rd_le(d + 2 * i, 2), A_I16[i]);
    kv = gguf_get_arr(f, "a.u32", GGUF_TYPE_UINT32);
    assert_int_equal(kv->v.arr.n, 3);
    d = kv->v.arr.data;
    for (size_t i = 0; i < 3; i++) assert_int_equal(rd_le(d + 4 * i, 4), A_U32[i]);
    kv = gguf_get_arr(f, "a.i32", GGUF_TYPE_INT32);
    d = kv->v.arr.data;
    for (size_t i = 0; i < 2; i++) assert_int_equal((int32_t)rd_le(d + 4 * i, 4), A_I32[i]);
    kv = gguf_get_arr(f, "a.f32", GGUF_TYPE_FLOAT32);
    d = kv->v.arr.data;
    for (size_t i = 0; i < 3; i++) {
        uint32_t u = (uint32_t)rd_le(d + 4 * i, 4);
        float x;
        memcpy(&x, &u, 4);
        assert_true(x == A_F32[i]);
    }
    kv = gguf_get_arr(f, "a.bool", GGUF_TYPE_BOOL);
    assert_int_equal(kv->v.arr.n, 3);
    assert_memory_equal(kv->v.arr.data, A_BOOL, 3);
    kv = gguf_get_arr(f, "a.str", GGUF_TYPE_STRING);
    assert_int_equal(kv->v.arr.n, 3);
    assert_non_null(kv->v.arr.strs);
    for (size_t i = 0; i < 3; i++) assert_true(gguf_str_eq(kv->v.arr.strs[i], A_STR[i]));
    kv = gguf_get_arr(f, "a.u64", GGUF_TYPE_UINT64);
    d = kv->v.arr.data;
    for (size_t i = 0; i < 2; i++) assert_true(rd_le(d + 8 * i, 8) == A_U64[i]);
    kv = gguf_get_arr(f, "a.i64", GGUF_TYPE_INT64);
    d = kv->v.arr.data;
    for (size_t i = 0; i < 2; i++) assert_true((int64_t)rd_le(d + 8 * i, 8) == A_I64[i]);
    kv = gguf_get_arr(f, "a.f64", GGUF_TYPE_FLOAT64);
    d = kv->v.arr.data;
    for (size_t i = 0; i < 2; i++) {
        uint64_t u = rd_le(d + 8 * i, 8);
        double x;
        memcpy(&x, &u, 8);
        assert_true(x == A_F64[i]);
    }
    kv = gguf_get_arr(f, "a.empty", GGUF_TYPE_UINT32);
    assert_non_null(kv);
    assert_int_equal(kv->v.arr.n, 0);
    gguf_close(f);
    bb_free(&b);
}

static void test_versions(void **state)
{
    (void)state;
    bb b = {0};
    build_full(&b, 2, 0);
    gguf_file *f = open_ok(&b);
    assert_int_equal(gguf_version(f), 2);
    check_tensors(f, GGUF_DEFAULT_ALIGNMENT);
    gguf_close(f);
    bb_free(&b);

    bb_header(&b, 1, 0, 0);
    expect_bb_refused(&b, "version 1 is not supported");
    bb_header(&b, 4, 0, 0);
    expect_bb_refused(&b, "unsupported GGUF version 4");
    bb_header(&b, 0x03000000u, 0, 0);
    expect_bb_refused(&b, "big-endian");
    bb_u32(&b, 0x46554746u); /* "FGUF" */
    bb_u32(&b, 3);
    bb_u64(&b, 0);
    bb_u64(&b, 0);
    expect_bb_refused(&b, "not a GGUF file");
    expect_refused("", 0, "too short");

    /* no metadata, no tensors: valid and empty */
    bb_header(&b, 3, 0, 0);
    f = open_ok(&b);
    assert_int_equal(gguf_n_kv(f), 0);
    assert_int_equal(gguf_n_tensors(f), 0);
    assert_null(gguf_find_kv(f, "general.architecture"));
    assert_null(gguf_find_tensor(f, "x"));
    gguf_close(f);
    bb_free(&b);
}

static void test_alignment(void **state)
{
    (void)state;
    bb b = {0};
    build_full(&b, 3, 0);
    gguf_file *f = open_ok(&b);
    check_tensors(f, 32);
    for (int64_t i = 0; i < gguf_n_tensors(f); i++)
        assert_int_equal(((const uint8_t *)gguf_tensor_at(f, i)->data - b.p) % 32, 0);
    gguf_close(f);
    bb_free(&b);

    static const uint32_t aligns[] = {1, 8, 64, 256};
    for (size_t k = 0; k < sizeof aligns / sizeof aligns[0]; k++) {
        build_full(&b, 3, aligns[k]);
        f = open_ok(&b);
        assert_int_equal(gguf_alignment(f), aligns[k]);
        check_tensors(f, aligns[k]);
        for (int64_t i = 0; i < gguf_n_tensors(f); i++)
            assert_int_equal(((const uint8_t *)gguf_tensor_at(f, i)->data - b.p) % aligns[k], 0);
        gguf_close(f);
        bb_free(&b);
    }

    bb_header(&b, 3, 0, 1);
    bb_key(&b, "general.alignment", GGUF_TYPE_UINT32);
    bb_u32(&b, 48);
    expect_bb_refused(&b, "general.alignment 48 is not a non-zero power of two");
    bb_header(&b, 3, 0, 1);
    bb_key(&b, "general.alignment", GGUF_TYPE_UINT32);
    bb_u32(&b, 0);
    expect_bb_refused(&b, "general.alignment 0");
    bb_header(&b, 3, 0, 1);
    bb_key(&b, "general.alignment", GGUF_TYPE_UINT64);
    bb_u64(&b, 64);
    expect_bb_refused(&b, "must be uint32");
}

static void test_tensors(void **state)
{
    (void)state;
    bb b = {0};
    build_full(&b, 3, 0);
    gguf_file *f = open_ok(&b);
    check_tensors(f, 32);
    gguf_close(f);
    bb_free(&b);

    /* a thousand tensors: every one found by name through the index */
    enum { N = 1000 };
    char name[32];
    bb_header(&b, 3, N, 0);
    for (uint64_t i = 0; i < N; i++) {
        snprintf(name, sizeof name, "blk.%u.w", (unsigned)i);
        uint64_t dims[1] = {i % 5};
        bb_tensor_info(&b, name, 1, dims, GGML_TYPE_F32, i * 32);
    }
    bb_pad(&b, 32);
    size_t data_start = b.n;
    for (uint64_t i = 0; i < N; i++) {
        for (int k = 0; k < 32; k++) bb_u8(&b, (uint8_t)(i + (uint64_t)k));
    }
    f = open_ok(&b);
    assert_int_equal(gguf_n_tensors(f), N);
    for (int i = N - 1; i >= 0; i--) {
        snprintf(name, sizeof name, "blk.%d.w", i);
        const gguf_tensor *t = gguf_find_tensor(f, name);
        assert_non_null(t);
        assert_ptr_equal(t, gguf_tensor_at(f, i));
        assert_int_equal(t->ne[0], i % 5);
        assert_int_equal(t->nbytes, (size_t)(i % 5) * 4);
        assert_ptr_equal(t->data, b.p + data_start + (size_t)i * 32);
        assert_int_equal(*(const uint8_t *)t->data, (uint8_t)i);
    }
    assert_null(gguf_find_tensor(f, "blk.1000.w"));
    gguf_close(f);
    bb_free(&b);
}

/* ---- hostile files ---- */

static void test_truncation(void **state)
{
    (void)state;
    bb b = {0};
    build_full(&b, 3, 64);
    gguf_file *f = open_ok(&b);
    gguf_close(f);
    char err[512];
    for (size_t len = 0; len < b.n; len++) {
        uint8_t *copy = malloc(len ? len : 1);
        assert_non_null(copy);
        memcpy(copy, b.p, len);
        err[0] = '\0';
        f = gguf_open_memory(copy, len, err, sizeof err);
        if (f) fail_msg("prefix of %zu of %zu bytes opened", len, b.n);
        if (err[0] == '\0') fail_msg("prefix of %zu bytes refused without a message", len);
        free(copy);
    }
    /* a NULL/zero-capacity error buffer is allowed */
    assert_null(gguf_open_memory(b.p, b.n - 1, NULL, 0));
    bb_free(&b);
}

static void test_huge_counts(void **state)
{
    (void)state;
    bb b = {0};
    bb_header(&b, 3, 0, UINT64_MAX);
    expect_bb_refused(&b, "cannot fit");
    build_full(&b, 3, 0);
    bb_set_u64(&b, 8, UINT64_MAX); /* tensor count of a real file */
    expect_refused(b.p, b.n, "cannot fit");
    bb_set_u64(&b, 8, N_TENSORS);
    bb_set_u64(&b, 16, (uint64_t)1 << 33); /* kv count */
    expect_bb_refused(&b, "cannot fit");
    bb_header(&b, 3, (uint64_t)1 << 60, 0);
    bb_u64(&b, 0);
    expect_bb_refused(&b, "cannot fit");
    /* each count alone fits, together they do not */
    bb_header(&b, 3, 2, 2);
    for (int i = 0; i < 60; i++) bb_u8(&b, 0);
    expect_bb_refused(&b, "cannot fit");

    bb_header(&b, 3, 0, 1);
    bb_arr(&b, "a", GGUF_TYPE_UINT32, UINT64_MAX);
    bb_u32(&b, 1);
    expect_bb_refused(&b, "cannot fit");
    bb_header(&b, 3, 0, 1);
    bb_arr(&b, "a", GGUF_TYPE_UINT64, (uint64_t)1 << 61); /* n * 8 wraps to 0 */
    expect_bb_refused(&b, "cannot fit");
    bb_header(&b, 3, 0, 1);
    bb_arr(&b, "a", GGUF_TYPE_UINT16, 3); /* one byte short */
    bb_u16(&b, 1);
    bb_u16(&b, 2);
    bb_u8(&b, 3);
    expect_bb_refused(&b, "cannot fit");
    bb_header(&b, 3, 0, 1);
    bb_arr(&b, "tokenizer.ggml.tokens", GGUF_TYPE_STRING, (uint64_t)1 << 40);
    bb_str(&b, "a");
    expect_bb_refused(&b, "cannot fit");
}

static void test_string_past_end(void **state)
{
    (void)state;
    bb b = {0};
    bb_header(&b, 3, 0, 1);
    bb_u64(&b, UINT64_MAX); /* key length */
    bb_raw(&b, "abc\0\0\0\0\0\0\0\0\0\0", 13);
    expect_bb_refused(&b, "exceeds");
    bb_header(&b, 3, 0, 1);
    bb_u64(&b, 14); /* key length one past the end */
    bb_raw(&b, "abcdefghijklm", 13);
    expect_bb_refused(&b, "length 14 exceeds the 13 bytes left");
    bb_header(&b, 3, 0, 1);
    bb_key(&b, "s", GGUF_TYPE_STRING);
    bb_u64(&b, 6);
    bb_raw(&b, "hello", 5);
    expect_bb_refused(&b, "metadata 's' (string)");
    bb_header(&b, 3, 0, 1);
    bb_arr(&b, "tokens", GGUF_TYPE_STRING, 3);
    bb_str(&b, "a");
    bb_str(&b, "b");
    bb_u64(&b, (uint64_t)1 << 63);
    bb_raw(&b, "c", 1);
    expect_bb_refused(&b, "element 2 of 3");
    bb_header(&b, 3, 1, 0);
    bb_u64(&b, 1000); /* tensor name */
    bb_raw(&b, "x\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0", 24);
    expect_bb_refused(&b, "tensor name");
}

static void one_tensor(bb *b, uint32_t n_dims, const uint64_t *dims, uint32_t type, uint64_t offset,
                       size_t data_bytes)
{
    bb_header(b, 3, 1, 0);
    bb_tensor_info(b, "blk.0.attn_q.weight", n_dims, dims, type, offset);
    bb_pad(b, 32);
    for (size_t i = 0; i < data_bytes; i++) bb_u8(b, (uint8_t)i);
}

static void test_dims(void **state)
{
    (void)state;
    bb b = {0};
    uint64_t d2[2] = {(uint64_t)1 << 32, (uint64_t)1 << 32};
    one_tensor(&b, 2, d2, GGML_TYPE_F32, 0, 64);
    expect_bb_refused(&b, "overflows");
    uint64_t d1[2] = {(uint64_t)1 << 62, 1}; /* elements fit, bytes (x4) do not */
    one_tensor(&b, 2, d1, GGML_TYPE_F32, 0, 64);
    expect_bb_refused(&b, "overflows");
    /* Q4_0 packs 32 elements in 18 bytes: 2^63 elements exceed int64 while
     * their byte count still fits, so the element count is checked too */
    uint64_t dq[2] = {(uint64_t)1 << 62, 2};
    one_tensor(&b, 2, dq, GGML_TYPE_Q4_0, 0, 64);
    expect_bb_refused(&b, "of Q4_0 overflows");
    uint64_t d4[4] = {1 << 16, 1 << 16, 1 << 16, 1 << 16};
    one_tensor(&b, 4, d4, GGML_TYPE_I8, 0, 64);
    expect_bb_refused(&b, "shape 65536 x 65536 x 65536 x 65536 of I8 overflows");
    uint64_t dbig[1] = {(uint64_t)1 << 63};
    one_tensor(&b, 1, dbig, GGML_TYPE_I8, 0, 64);
    expect_bb_refused(&b, "larger than INT64_MAX");
    uint64_t d5[5] = {1, 1, 1, 1, 1};
    one_tensor(&b, 5, d5, GGML_TYPE_F32, 0, 64);
    expect_bb_refused(&b, "5 dimensions");
    /* a product that fits but is far beyond the file */
    uint64_t dlarge[2] = {1 << 20, 1 << 20};
    one_tensor(&b, 2, dlarge, GGML_TYPE_F32, 0, 64);
    expect_bb_refused(&b, "exceeds file size");
    /* zero-sized and zero-dimension tensors are fine */
    uint64_t dzero[2] = {0, 7};
    one_tensor(&b, 2, dzero, GGML_TYPE_F32, 0, 0);
    gguf_file *f = open_ok(&b);
    assert_int_equal(gguf_tensor_at(f, 0)->nbytes, 0);
    gguf_close(f);
    bb_free(&b);
    one_tensor(&b, 0, NULL, GGML_TYPE_F32, 0, 4);
    f = open_ok(&b);
    assert_int_equal(gguf_tensor_at(f, 0)->nbytes, 4);
    assert_int_equal(gguf_tensor_at(f, 0)->ne[0], 1);
    gguf_close(f);
    bb_free(&b);
}

static void test_offsets(void **state)
{
    (void)state;
    bb b = {0};
    uint64_t d[1] = {8};
    one_tensor(&b, 1, d, GGML_TYPE_F32, 16, 64);
    expect_bb_refused(&b, "offset 16 is not a multiple of the alignment 32");
    one_tensor(&b, 1, d, GGML_TYPE_F32, 0, 31); /* 32 bytes needed */
    expect_bb_refused(&b, "tensor 'blk.0.attn_q.weight': data [96, 128)");
    one_tensor(&b, 1, d, GGML_TYPE_F32, 0, 31);
    expect_bb_refused(&b, "exceeds file size 127");
    one_tensor(&b, 1, d, GGML_TYPE_F32, 32, 32);
    expect_bb_refused(&b, "exceeds file size");
    one_tensor(&b, 1, d, GGML_TYPE_F32, UINT64_MAX - 31, 32);
    expect_bb_refused(&b, "overflows");
    one_tensor(&b, 1, d, GGML_TYPE_F32, (uint64_t)1 << 62, 32);
    expect_bb_refused(&b, "exceeds file size");
    /* the data section itself must start inside the file */
    bb_header(&b, 3, 1, 0);
    bb_tensor_info(&b, "w", 1, d, GGML_TYPE_F32, 0);
    expect_bb_refused(&b, "exceeds file size");
    /* exact fit opens */
    one_tensor(&b, 1, d, GGML_TYPE_F32, 0, 32);
    gguf_file *f = open_ok(&b);
    assert_ptr_equal(gguf_find_tensor(f, "blk.0.attn_q.weight")->data, b.p + 96);
    gguf_close(f);
    bb_free(&b);
}

static void test_bad_types(void **state)
{
    (void)state;
    bb b = {0};
    bb_header(&b, 3, 0, 1);
    bb_key(&b, "k", (gguf_type)13);
    bb_u64(&b, 0);
    expect_bb_refused(&b, "metadata 'k': invalid value type 13");
    bb_header(&b, 3, 0, 1);
    bb_key(&b, "k", (gguf_type)0xffffffffu);
    bb_u64(&b, 0);
    expect_bb_refused(&b, "invalid value type 4294967295");
    bb_header(&b, 3, 0, 1);
    bb_arr(&b, "k", (gguf_type)13, 1);
    bb_u64(&b, 0);
    expect_bb_refused(&b, "invalid array element type 13");

    uint64_t d[2] = {32, 2};
    static const uint32_t bad[] = {4, 5, 31, 36, 39, 1000, 0xffffffffu};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char needle[64];
        snprintf(needle, sizeof needle, "unknown ggml type %u", bad[i]);
        one_tensor(&b, 2, d, bad[i], 0, 256);
        expect_bb_refused(&b, needle);
    }
    uint64_t d33[1] = {33};
    one_tensor(&b, 1, d33, GGML_TYPE_Q4_0, 0, 64);
    expect_bb_refused(&b, "ne[0]=33 is not a multiple of the Q4_0 block size 32");
    uint64_t dk[1] = {128};
    one_tensor(&b, 1, dk, GGML_TYPE_Q4_K, 0, 256);
    expect_bb_refused(&b, "block size 256");
}

static void test_nested_and_bool(void **state)
{
    (void)state;
    bb b = {0};
    bb_header(&b, 3, 0, 1);
    bb_arr(&b, "nested", GGUF_TYPE_ARRAY, 1);
    bb_u32(&b, GGUF_TYPE_UINT8);
    bb_u64(&b, 1);
    bb_u8(&b, 0);
    expect_bb_refused(&b, "nested array");
    bb_header(&b, 3, 0, 1);
    bb_key(&b, "b", GGUF_TYPE_BOOL);
    bb_u8(&b, 2);
    expect_bb_refused(&b, "bool value 2");
    bb_header(&b, 3, 0, 1);
    bb_arr(&b, "b", GGUF_TYPE_BOOL, 3);
    bb_u8(&b, 1);
    bb_u8(&b, 0);
    bb_u8(&b, 255);
    expect_bb_refused(&b, "bool array element 2");
}

static void test_duplicates(void **state)
{
    (void)state;
    bb b = {0};
    bb_header(&b, 3, 0, 3);
    bb_key(&b, "general.name", GGUF_TYPE_STRING);
    bb_str(&b, "a");
    bb_key(&b, "general.name2", GGUF_TYPE_UINT8);
    bb_u8(&b, 1);
    bb_key(&b, "general.name", GGUF_TYPE_UINT32);
    bb_u32(&b, 1);
    expect_bb_refused(&b, "duplicate metadata key 'general.name' (entries 0 and 2)");

    uint64_t d[1] = {8};
    bb_header(&b, 3, 2, 0);
    bb_tensor_info(&b, "w", 1, d, GGML_TYPE_F32, 0);
    bb_tensor_info(&b, "w", 1, d, GGML_TYPE_F32, 32);
    bb_pad(&b, 32);
    for (int i = 0; i < 64; i++) bb_u8(&b, 0);
    expect_bb_refused(&b, "duplicate tensor name 'w'");

    /* hostile names are shown masked and shortened */
    bb_header(&b, 3, 0, 1);
    char key[200];
    memset(key, 'k', sizeof key);
    key[0] = '\n';
    bb_strn(&b, key, sizeof key);
    bb_u32(&b, 77);
    expect_bb_refused(&b, "metadata '?kkk");
}

/* ---- the mmap path ---- */

static char *temp_path(void)
{
    const char *dir = getenv("TMPDIR");
    char *path = malloc(4096);
    assert_non_null(path);
    snprintf(path, 4096, "%s/test_gguf_XXXXXX", dir && *dir ? dir : "/tmp");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    return path;
}

static void write_file(const char *path, const void *data, size_t n)
{
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(data, 1, n, fp), n);
    assert_int_equal(fclose(fp), 0);
}

static void test_open_file(void **state)
{
    (void)state;
    bb b = {0};
    build_full(&b, 3, 0);
    char *path = temp_path();
    write_file(path, b.p, b.n);
    char err[512] = "";
    gguf_file *f = gguf_open(path, err, sizeof err);
    if (!f) fail_msg("gguf_open: %s", err);
    assert_int_equal(gguf_file_size(f), b.n);
    assert_int_equal(gguf_n_kv(f), N_FULL_KV);
    check_tensors(f, 32);
    const gguf_kv *kv = gguf_get_arr(f, "a.str", GGUF_TYPE_STRING);
    assert_non_null(kv);
    assert_true(gguf_str_eq(kv->v.arr.strs[2], A_STR[2]));
    gguf_close(f);

    /* a broken file's message names it */
    b.p[4] = 9;
    write_file(path, b.p, b.n);
    f = gguf_open(path, err, sizeof err);
    assert_null(f);
    assert_non_null(strstr(err, path));
    assert_non_null(strstr(err, "unsupported GGUF version 9"));

    write_file(path, b.p, 0);
    assert_null(gguf_open(path, err, sizeof err));
    assert_non_null(strstr(err, "too short"));
    unlink(path);
    free(path);
    bb_free(&b);
}

static void test_open_missing(void **state)
{
    (void)state;
    char err[512] = "";
    const char *path = "/nonexistent-rkserve-dir/model.gguf";
    assert_null(gguf_open(path, err, sizeof err));
    assert_non_null(strstr(err, path));
    assert_non_null(strstr(err, strerror(ENOENT)));
    assert_null(gguf_open("/", err, sizeof err));
    assert_non_null(strstr(err, "not a regular file"));
    gguf_close(NULL);
    assert_null(gguf_open(NULL, err, sizeof err));
    assert_null(gguf_open_memory(NULL, 5, err, sizeof err));
    assert_non_null(strstr(err, "no buffer"));
}

/* The Python writer the model generators use must produce files this
 * reader accepts, read back exactly (an independent encoder of the format). */
static void test_python_writer_seed(void **state)
{
    (void)state;
    const char *src = getenv("RKSERVE_SOURCE_DIR");
    if (!src) skip();
    char path[4096], err[512];
    snprintf(path, sizeof path, "%s/tests/fuzz/corpus/fuzz_gguf/tensors_aligned.gguf", src);
    gguf_file *f = gguf_open(path, err, sizeof err);
    if (!f) fail_msg("%s", err);
    assert_int_equal(gguf_alignment(f), 64);
    static const struct {
        const char *name;
        uint32_t type;
        size_t nbytes;
        int seed;
    } want[] = {
        {"token_embd.weight", GGML_TYPE_F32, 64, 1}, {"blk.0.attn_q.weight", GGML_TYPE_Q8_0, 68, 2},
        {"blk.0.attn_k.weight", GGML_TYPE_Q4_0, 18, 3}, {"output_norm.weight", GGML_TYPE_F16, 10, 4},
        {"rope", GGML_TYPE_BF16, 8, 5},
    };
    assert_int_equal(gguf_n_tensors(f), 5);
    for (size_t i = 0; i < 5; i++) {
        const gguf_tensor *t = gguf_find_tensor(f, want[i].name);
        assert_non_null(t);
        assert_int_equal(t->type, want[i].type);
        assert_int_equal(t->nbytes, want[i].nbytes);
        assert_int_equal(t->offset % 64, 0);
        for (size_t k = 0; k < t->nbytes; k++)
            assert_int_equal(((const uint8_t *)t->data)[k], (uint8_t)(want[i].seed * 31 + (int)k * 7 + 1));
    }
    assert_int_equal(gguf_find_tensor(f, "rope")->ne[3], 2);
    gguf_close(f);

    snprintf(path, sizeof path, "%s/tests/fuzz/corpus/fuzz_gguf/all_types.gguf", src);
    f = gguf_open(path, err, sizeof err);
    if (!f) fail_msg("%s", err);
    const gguf_kv *kv = gguf_get_arr(f, "tokenizer.ggml.tokens", GGUF_TYPE_STRING);
    assert_non_null(kv);
    assert_int_equal(kv->v.arr.n, 4);
    assert_true(gguf_str_eq(kv->v.arr.strs[2], "\xe2\x96\x81the"));
    int64_t i64;
    assert_true(gguf_get_i64(f, "i64", &i64));
    assert_true(i64 == -((int64_t)1 << 40));
    gguf_close(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scalar_types),
        cmocka_unit_test(test_getters),
        cmocka_unit_test(test_array_types),
        cmocka_unit_test(test_versions),
        cmocka_unit_test(test_alignment),
        cmocka_unit_test(test_tensors),
        cmocka_unit_test(test_truncation),
        cmocka_unit_test(test_huge_counts),
        cmocka_unit_test(test_string_past_end),
        cmocka_unit_test(test_dims),
        cmocka_unit_test(test_offsets),
        cmocka_unit_test(test_bad_types),
        cmocka_unit_test(test_nested_and_bool),
        cmocka_unit_test(test_duplicates),
        cmocka_unit_test(test_open_file),
        cmocka_unit_test(test_open_missing),
        cmocka_unit_test(test_python_writer_seed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
