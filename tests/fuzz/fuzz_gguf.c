/* Fuzz target for the GGUF reader: whatever opens must be safe to walk, so
 * every string, array element and tensor byte the reader hands out is read
 * (ASan reports any pointer that strays outside the input), and the lookup
 * index must find each key and tensor it listed. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "format/gguf.h"

static volatile uint64_t sink;

static uint64_t sum_bytes(const void *p, uint64_t n)
{
    const uint8_t *b = p;
    uint64_t s = 0;
    for (uint64_t i = 0; i < n; i++) s += b[i];
    return s;
}

/* The index is queried through NUL-terminated names, so names with an
 * embedded NUL cannot be looked up and are skipped. */
static const char *as_cstr(gguf_str s, char *buf, size_t cap)
{
    if (s.len >= cap || memchr(s.ptr, 0, (size_t)s.len)) return NULL;
    memcpy(buf, s.ptr, (size_t)s.len);
    buf[s.len] = '\0';
    return buf;
}

static uint64_t walk_kv(const gguf_file *f, const gguf_kv *kv)
{
    static const uint8_t elem_size[GGUF_TYPE_COUNT] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};
    char name[256], text[64];
    uint64_t s = sum_bytes(kv->key.ptr, kv->key.len);
    if (kv->type == GGUF_TYPE_STRING) {
        s += sum_bytes(kv->v.str.ptr, kv->v.str.len);
    } else if (kv->type == GGUF_TYPE_ARRAY) {
        if (kv->v.arr.type == GGUF_TYPE_STRING) {
            for (uint64_t i = 0; i < kv->v.arr.n; i++)
                s += sum_bytes(kv->v.arr.strs[i].ptr, kv->v.arr.strs[i].len);
        } else {
            if (kv->v.arr.type >= GGUF_TYPE_COUNT || kv->v.arr.type == GGUF_TYPE_ARRAY) abort();
            s += sum_bytes(kv->v.arr.data, kv->v.arr.n * elem_size[kv->v.arr.type]);
        }
    } else if (kv->type >= GGUF_TYPE_COUNT) {
        abort();
    }
    const char *key = as_cstr(kv->key, name, sizeof name);
    if (key) {
        if (gguf_find_kv(f, key) != kv) abort();
        uint32_t u32;
        uint64_t u64;
        int64_t i64;
        float f32;
        bool b;
        s += gguf_get_u32(f, key, &u32) ? u32 : 0;
        s += gguf_get_u64(f, key, &u64) ? u64 : 0;
        s += gguf_get_i64(f, key, &i64) ? (uint64_t)i64 : 0;
        s += gguf_get_f32(f, key, &f32) ? (f32 == f32) : 0;
        s += gguf_get_bool(f, key, &b) ? b : 0;
        if (gguf_get_cstr(f, key, text, sizeof text)) s += strlen(text);
    }
    return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[256];
    gguf_file *f = gguf_open_memory(data, size, err, sizeof err);
    if (!f) {
        if (err[0] == '\0') abort(); /* every refusal must say why */
        return 0;
    }
    uint64_t s = gguf_version(f) + gguf_alignment(f);
    for (int64_t i = 0; i < gguf_n_kv(f); i++) s += walk_kv(f, gguf_kv_at(f, i));
    char name[256];
    for (int64_t i = 0; i < gguf_n_tensors(f); i++) {
        const gguf_tensor *t = gguf_tensor_at(f, i);
        s += sum_bytes(t->name.ptr, t->name.len);
        s += sum_bytes(t->data, t->nbytes);
        const uint8_t *p = t->data;
        if (p < data || p + t->nbytes > data + size) abort();
        if (t->offset % gguf_alignment(f) != 0) abort();
        const char *n = as_cstr(t->name, name, sizeof name);
        if (n && gguf_find_tensor(f, n) != t) abort();
    }
    sink = s;
    gguf_close(f);
    return 0;
}
