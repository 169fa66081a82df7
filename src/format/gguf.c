#include "format/gguf.h"

#include "format/ggml_types.h"

#include <errno.h>
#include <fcntl.h>
#include <float.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define ERR_CAP 512
#define SHOW_CAP 80

/* Smallest possible encodings, used to refuse counts the remaining bytes
 * could never hold before anything is allocated for them. */
#define MIN_KV_BYTES 13     /* key length + value type + 1-byte value */
#define MIN_TENSOR_BYTES 24 /* name length + n_dims + type + offset */

/* Open-addressing hash over the names of kvs or tensors; slots hold index+1. */
typedef struct {
    size_t *slots;
    size_t mask;
} name_index;

struct gguf_file {
    const uint8_t *base;
    size_t size;
    bool mapped;
    uint32_t version;
    size_t alignment;
    int64_t n_kv;
    gguf_kv *kv;
    int64_t n_tensors;
    gguf_tensor *tensors;
    name_index kv_index;
    name_index tensor_index;
};

typedef struct {
    const uint8_t *base;
    uint64_t size;
    uint64_t pos;
    char msg[ERR_CAP];
} reader;

static const uint8_t SCALAR_SIZE[GGUF_TYPE_COUNT] = {
    [GGUF_TYPE_UINT8] = 1,   [GGUF_TYPE_INT8] = 1,   [GGUF_TYPE_UINT16] = 2,
    [GGUF_TYPE_INT16] = 2,   [GGUF_TYPE_UINT32] = 4, [GGUF_TYPE_INT32] = 4,
    [GGUF_TYPE_FLOAT32] = 4, [GGUF_TYPE_BOOL] = 1,   [GGUF_TYPE_UINT64] = 8,
    [GGUF_TYPE_INT64] = 8,   [GGUF_TYPE_FLOAT64] = 8,
};

__attribute__((format(printf, 2, 3)))
static bool fail(reader *r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->msg, sizeof r->msg, fmt, ap);
    va_end(ap);
    return false;
}

/* Prefixes the current message with context from an outer level. */
__attribute__((format(printf, 2, 3)))
static bool wrap(reader *r, const char *fmt, ...)
{
    char inner[ERR_CAP];
    memcpy(inner, r->msg, sizeof inner);
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(r->msg, sizeof r->msg, fmt, ap);
    va_end(ap);
    /* Appended by hand: truncation is intended and snprintf would warn. */
    size_t used = n < 0 ? 0 : (size_t)n < sizeof r->msg ? (size_t)n : sizeof r->msg - 1;
    const char *parts[2] = {": ", inner};
    for (int k = 0; k < 2; k++) {
        size_t len = strlen(parts[k]), room = sizeof r->msg - 1 - used;
        if (len > room) len = room;
        memcpy(r->msg + used, parts[k], len);
        used += len;
    }
    r->msg[used] = '\0';
    return false;
}

/* Names come from the file, so they are shown shortened and with control or
 * non-ASCII bytes masked to keep messages readable on a terminal. */
static const char *show(gguf_str s, char buf[SHOW_CAP])
{
    size_t max = SHOW_CAP - 4, n = s.len < max ? (size_t)s.len : max;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s.ptr[i];
        buf[i] = c >= 0x20 && c < 0x7f ? (char)c : '?';
    }
    if (s.len > max) {
        memcpy(buf + n, "...", 3);
        n += 3;
    }
    buf[n] = '\0';
    return buf;
}

static uint64_t remaining(const reader *r)
{
    return r->size - r->pos;
}

static uint64_t load_le(const uint8_t *p, unsigned n)
{
    uint64_t v = 0;
    for (unsigned i = n; i-- > 0;) v = v << 8 | p[i];
    return v;
}

/* Two's-complement sign extension without implementation-defined casts. */
static int64_t sign_extend(uint64_t v, unsigned bits)
{
    if (bits == 64) {
        int64_t s;
        memcpy(&s, &v, sizeof s);
        return s;
    }
    uint64_t m = (uint64_t)1 << (bits - 1);
    return (int64_t)(v ^ m) - (int64_t)m;
}

static bool need(reader *r, uint64_t n, const char *what)
{
    if (n <= remaining(r)) return true;
    return fail(r, "truncated: %s needs %" PRIu64 " bytes at offset %" PRIu64 " but only %" PRIu64
                   " remain (file size %" PRIu64 ")",
                what, n, r->pos, remaining(r), r->size);
}

static bool read_uint(reader *r, unsigned n, uint64_t *out, const char *what)
{
    if (!need(r, n, what)) return false;
    *out = load_le(r->base + r->pos, n);
    r->pos += n;
    return true;
}

static bool read_str(reader *r, gguf_str *out, const char *what)
{
    uint64_t at = r->pos, len;
    if (!read_uint(r, 8, &len, what)) return false;
    if (len > remaining(r))
        return fail(r, "%s at offset %" PRIu64 ": length %" PRIu64 " exceeds the %" PRIu64
                       " bytes left in the file",
                    what, at, len, remaining(r));
    out->len = len;
    out->ptr = (const char *)(r->base + r->pos);
    r->pos += len;
    return true;
}

/* Decodes one scalar of a numeric or bool type at p into kv's value. */
static bool decode_scalar(reader *r, gguf_type t, const uint8_t *p, gguf_kv *kv)
{
    unsigned sz = SCALAR_SIZE[t];
    uint64_t raw = load_le(p, sz);
    switch (t) {
    case GGUF_TYPE_UINT8:
    case GGUF_TYPE_UINT16:
    case GGUF_TYPE_UINT32:
    case GGUF_TYPE_UINT64:
        kv->v.u64 = raw;
        break;
    case GGUF_TYPE_INT8:
    case GGUF_TYPE_INT16:
    case GGUF_TYPE_INT32:
    case GGUF_TYPE_INT64:
        kv->v.i64 = sign_extend(raw, sz * 8);
        break;
    case GGUF_TYPE_FLOAT32: {
        uint32_t bits = (uint32_t)raw;
        float x;
        memcpy(&x, &bits, sizeof x);
        kv->v.f64 = x;
        break;
    }
    case GGUF_TYPE_FLOAT64:
        memcpy(&kv->v.f64, &raw, sizeof kv->v.f64);
        break;
    case GGUF_TYPE_BOOL:
        if (raw > 1)
            return fail(r, "bool value %" PRIu64 " at offset %" PRIu64 " is not 0 or 1", raw,
                        (uint64_t)(p - r->base));
        kv->v.b = raw == 1;
        break;
    default:
        return fail(r, "internal: %s is not a scalar type", gguf_type_name(t));
    }
    return true;
}

static bool parse_array(reader *r, gguf_kv *kv)
{
    uint64_t at = r->pos, et, n;
    if (!read_uint(r, 4, &et, "array element type")) return false;
    if (et == GGUF_TYPE_ARRAY)
        return fail(r, "nested array at offset %" PRIu64 " (arrays of arrays are not supported)", at);
    if (et >= GGUF_TYPE_COUNT)
        return fail(r, "invalid array element type %" PRIu64 " at offset %" PRIu64, et, at);
    if (!read_uint(r, 8, &n, "array length")) return false;
    uint64_t elem_min = et == GGUF_TYPE_STRING ? 8 : SCALAR_SIZE[et];
    if (n > remaining(r) / elem_min)
        return fail(r, "array of %" PRIu64 " %s elements at offset %" PRIu64
                       " cannot fit in the %" PRIu64 " bytes left in the file",
                    n, gguf_type_name((gguf_type)et), at, remaining(r));
    kv->v.arr.n = n;
    kv->v.arr.data = r->base + r->pos;
    if (et == GGUF_TYPE_STRING) {
        /* Index the strings now so element access later is O(1). */
        gguf_str *strs = calloc(n ? (size_t)n : 1, sizeof *strs);
        if (!strs) return fail(r, "out of memory indexing %" PRIu64 " strings", n);
        kv->v.arr.strs = strs;
        kv->v.arr.type = GGUF_TYPE_STRING;
        for (uint64_t i = 0; i < n; i++)
            if (!read_str(r, &strs[i], "string"))
                return wrap(r, "element %" PRIu64 " of %" PRIu64, i, n);
        return true;
    }
    kv->v.arr.type = (gguf_type)et;
    if (et == GGUF_TYPE_BOOL) {
        for (uint64_t i = 0; i < n; i++)
            if (r->base[r->pos + i] > 1)
                return fail(r, "bool array element %" PRIu64 " at offset %" PRIu64 " is %u, not 0 or 1",
                            i, r->pos + i, r->base[r->pos + i]);
    }
    r->pos += n * elem_min;
    return true;
}

static bool parse_value(reader *r, gguf_kv *kv)
{
    if (kv->type == GGUF_TYPE_STRING) return read_str(r, &kv->v.str, "string value");
    if (kv->type == GGUF_TYPE_ARRAY) return parse_array(r, kv);
    if (!need(r, SCALAR_SIZE[kv->type], "value")) return false;
    if (!decode_scalar(r, kv->type, r->base + r->pos, kv)) return false;
    r->pos += SCALAR_SIZE[kv->type];
    return true;
}

static uint64_t hash_name(const char *p, uint64_t n)
{
    uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a */
    for (uint64_t i = 0; i < n; i++) h = (h ^ (unsigned char)p[i]) * 0x100000001b3ull;
    return h;
}

/* kvs and tensors both start with their name, so one index serves both. */
static const gguf_str *name_at(const void *items, size_t stride, size_t i)
{
    return (const gguf_str *)((const char *)items + i * stride);
}

static size_t index_find(const name_index *ix, const void *items, size_t stride, const char *p,
                         uint64_t n)
{
    if (!ix->slots) return 0;
    for (size_t s = (size_t)hash_name(p, n) & ix->mask;; s = (s + 1) & ix->mask) {
        size_t slot = ix->slots[s];
        if (slot == 0) return 0;
        const gguf_str *name = name_at(items, stride, slot - 1);
        if (name->len == n && (n == 0 || memcmp(name->ptr, p, (size_t)n) == 0)) return slot;
    }
}

/* Returns 0, -1 on allocation failure, or 1 with *dup_a < *dup_b naming the
 * first repeated name. */
static int index_build(name_index *ix, const void *items, size_t n, size_t stride, size_t *dup_a,
                       size_t *dup_b)
{
    size_t cap = 16;
    while (cap < 2 * n) cap <<= 1;
    ix->slots = calloc(cap, sizeof *ix->slots);
    if (!ix->slots) return -1;
    ix->mask = cap - 1;
    for (size_t i = 0; i < n; i++) {
        const gguf_str *name = name_at(items, stride, i);
        size_t s = (size_t)hash_name(name->ptr, name->len) & ix->mask;
        while (ix->slots[s]) {
            const gguf_str *other = name_at(items, stride, ix->slots[s] - 1);
            if (other->len == name->len &&
                (name->len == 0 || memcmp(other->ptr, name->ptr, (size_t)name->len) == 0)) {
                *dup_a = ix->slots[s] - 1;
                *dup_b = i;
                return 1;
            }
            s = (s + 1) & ix->mask;
        }
        ix->slots[s] = i + 1;
    }
    return 0;
}

static bool mul_u64(uint64_t a, uint64_t b, uint64_t *out)
{
    if (a != 0 && b > UINT64_MAX / a) return false;
    *out = a * b;
    return true;
}

static bool parse_kvs(gguf_file *f, reader *r, uint64_t n)
{
    char name[SHOW_CAP];
    f->kv = calloc(n ? (size_t)n : 1, sizeof *f->kv);
    if (!f->kv) return fail(r, "out of memory for %" PRIu64 " metadata entries", n);
    f->n_kv = (int64_t)n;
    for (uint64_t i = 0; i < n; i++) {
        gguf_kv *kv = &f->kv[i];
        uint64_t t;
        if (!read_str(r, &kv->key, "key"))
            return wrap(r, "metadata entry %" PRIu64 " of %" PRIu64, i, n);
        uint64_t at = r->pos;
        if (!read_uint(r, 4, &t, "value type"))
            return wrap(r, "metadata '%s'", show(kv->key, name));
        if (t >= GGUF_TYPE_COUNT)
            return fail(r, "metadata '%s': invalid value type %" PRIu64 " at offset %" PRIu64,
                        show(kv->key, name), t, at);
        kv->type = (gguf_type)t;
        if (!parse_value(r, kv))
            return wrap(r, "metadata '%s' (%s)", show(kv->key, name), gguf_type_name(kv->type));
    }
    size_t a, b;
    int rc = index_build(&f->kv_index, f->kv, (size_t)n, sizeof *f->kv, &a, &b);
    if (rc < 0) return fail(r, "out of memory indexing metadata");
    if (rc > 0)
        return fail(r, "duplicate metadata key '%s' (entries %zu and %zu)", show(f->kv[b].key, name),
                    a, b);
    return true;
}

static bool parse_alignment(gguf_file *f, reader *r)
{
    f->alignment = GGUF_DEFAULT_ALIGNMENT;
    const gguf_kv *kv = gguf_find_kv(f, "general.alignment");
    if (!kv) return true;
    if (kv->type != GGUF_TYPE_UINT32)
        return fail(r, "general.alignment must be uint32, found %s", gguf_type_name(kv->type));
    uint64_t a = kv->v.u64;
    if (a == 0 || (a & (a - 1)) != 0)
        return fail(r, "general.alignment %" PRIu64 " is not a non-zero power of two", a);
    f->alignment = (size_t)a;
    return true;
}

/* Checks the shape and type and computes the byte size, refusing any
 * product that overflows. */
static bool tensor_size(reader *r, gguf_tensor *t, uint64_t *nbytes)
{
    char name[SHOW_CAP];
    size_t blck = ggml_blck_size(t->type), tsize = ggml_type_size(t->type);
    if (blck == 0 || tsize == 0)
        return fail(r, "tensor '%s': unknown ggml type %" PRIu32, show(t->name, name), t->type);
    uint64_t ne0 = (uint64_t)t->ne[0];
    if (ne0 % blck != 0)
        return fail(r, "tensor '%s': ne[0]=%" PRIu64 " is not a multiple of the %s block size %zu",
                    show(t->name, name), ne0, ggml_type_name(t->type), blck);
    uint64_t elems = 1, bytes;
    for (int d = 0; d < GGUF_MAX_DIMS; d++)
        if (!mul_u64(elems, (uint64_t)t->ne[d], &elems) || elems > (uint64_t)INT64_MAX)
            goto overflow;
    if (!mul_u64(ne0 / blck, tsize, &bytes)) goto overflow;
    for (int d = 1; d < GGUF_MAX_DIMS; d++)
        if (!mul_u64(bytes, (uint64_t)t->ne[d], &bytes)) goto overflow;
    *nbytes = bytes;
    return true;
overflow:
    return fail(r, "tensor '%s': shape %" PRId64 " x %" PRId64 " x %" PRId64 " x %" PRId64
                   " of %s overflows 64 bits",
                show(t->name, name), t->ne[0], t->ne[1], t->ne[2], t->ne[3],
                ggml_type_name(t->type));
}

static bool parse_tensor_info(reader *r, gguf_tensor *t, uint64_t *nbytes)
{
    char name[SHOW_CAP];
    uint64_t v, at;
    if (!read_str(r, &t->name, "tensor name")) return false;
    at = r->pos;
    if (!read_uint(r, 4, &v, "dimension count")) return wrap(r, "tensor '%s'", show(t->name, name));
    if (v > GGUF_MAX_DIMS)
        return fail(r, "tensor '%s': %" PRIu64 " dimensions at offset %" PRIu64 " (at most %d)",
                    show(t->name, name), v, at, GGUF_MAX_DIMS);
    t->n_dims = (uint32_t)v;
    for (int d = 0; d < GGUF_MAX_DIMS; d++) t->ne[d] = 1;
    for (uint32_t d = 0; d < t->n_dims; d++) {
        at = r->pos;
        if (!read_uint(r, 8, &v, "dimension")) return wrap(r, "tensor '%s'", show(t->name, name));
        if (v > (uint64_t)INT64_MAX)
            return fail(r, "tensor '%s': dimension %" PRIu32 " = %" PRIu64 " at offset %" PRIu64
                           " is larger than INT64_MAX",
                        show(t->name, name), d, v, at);
        t->ne[d] = (int64_t)v;
    }
    if (!read_uint(r, 4, &v, "tensor type")) return wrap(r, "tensor '%s'", show(t->name, name));
    t->type = (uint32_t)v;
    if (!read_uint(r, 8, &t->offset, "tensor offset")) return wrap(r, "tensor '%s'", show(t->name, name));
    return tensor_size(r, t, nbytes);
}

static bool parse_tensors(gguf_file *f, reader *r, uint64_t n)
{
    char name[SHOW_CAP];
    f->tensors = calloc(n ? (size_t)n : 1, sizeof *f->tensors);
    uint64_t *nbytes = calloc(n ? (size_t)n : 1, sizeof *nbytes);
    if (!f->tensors || !nbytes) {
        free(nbytes);
        return fail(r, "out of memory for %" PRIu64 " tensors", n);
    }
    f->n_tensors = (int64_t)n;
    bool ok = false;
    for (uint64_t i = 0; i < n; i++) {
        gguf_tensor *t = &f->tensors[i];
        if (!parse_tensor_info(r, t, &nbytes[i])) {
            wrap(r, "tensor info %" PRIu64 " of %" PRIu64, i, n);
            goto out;
        }
        if (t->offset % f->alignment != 0) {
            fail(r, "tensor '%s': offset %" PRIu64 " is not a multiple of the alignment %zu",
                 show(t->name, name), t->offset, f->alignment);
            goto out;
        }
    }
    size_t a, b;
    int rc = index_build(&f->tensor_index, f->tensors, (size_t)n, sizeof *f->tensors, &a, &b);
    if (rc != 0) {
        if (rc < 0)
            fail(r, "out of memory indexing tensors");
        else
            fail(r, "duplicate tensor name '%s' (tensors %zu and %zu)", show(f->tensors[b].name, name),
                 a, b);
        goto out;
    }
    /* The data section begins at the first aligned offset after the infos. */
    uint64_t pad = (f->alignment - r->pos % f->alignment) % f->alignment;
    if (r->pos > UINT64_MAX - pad) {
        fail(r, "data section start overflows");
        goto out;
    }
    uint64_t data_start = r->pos + pad;
    for (uint64_t i = 0; i < n; i++) {
        gguf_tensor *t = &f->tensors[i];
        if (t->offset > UINT64_MAX - data_start || nbytes[i] > UINT64_MAX - data_start - t->offset) {
            fail(r, "tensor '%s': data offset %" PRIu64 " + size %" PRIu64 " overflows",
                 show(t->name, name), t->offset, nbytes[i]);
            goto out;
        }
        uint64_t start = data_start + t->offset, end = start + nbytes[i];
        if (end > r->size) {
            fail(r, "tensor '%s': data [%" PRIu64 ", %" PRIu64 ") (offset %" PRIu64
                    " in the data section at %" PRIu64 ") exceeds file size %" PRIu64,
                 show(t->name, name), start, end, t->offset, data_start, r->size);
            goto out;
        }
        t->data = r->base + start;
        t->nbytes = (size_t)nbytes[i];
    }
    ok = true;
out:
    free(nbytes);
    return ok;
}

static bool parse(gguf_file *f, reader *r)
{
    uint64_t magic, version, n_tensors, n_kv;
    if (r->size < 8)
        return fail(r, "file is %" PRIu64 " bytes, too short for a GGUF header", r->size);
    read_uint(r, 4, &magic, "magic");
    if (magic != GGUF_MAGIC)
        return fail(r, "not a GGUF file: magic bytes are %02x %02x %02x %02x, expected 'GGUF'",
                    r->base[0], r->base[1], r->base[2], r->base[3]);
    read_uint(r, 4, &version, "version");
    if (version == 1)
        return fail(r, "GGUF version 1 is not supported (it used 32-bit counts); "
                       "convert the model again to version 3");
    if (version != 2 && version != 3) {
        uint32_t swapped = __builtin_bswap32((uint32_t)version);
        if (swapped == 2 || swapped == 3)
            return fail(r, "big-endian GGUF (version %" PRIu32 " byte-swapped) is not supported",
                        swapped);
        return fail(r, "unsupported GGUF version %" PRIu64 " (expected 2 or 3)", version);
    }
    f->version = (uint32_t)version;
    if (!read_uint(r, 8, &n_tensors, "tensor count")) return false;
    if (!read_uint(r, 8, &n_kv, "metadata count")) return false;
    uint64_t rest = remaining(r);
    if (n_kv > rest / MIN_KV_BYTES || n_tensors > rest / MIN_TENSOR_BYTES ||
        n_kv * MIN_KV_BYTES + n_tensors * MIN_TENSOR_BYTES > rest)
        return fail(r, "header claims %" PRIu64 " metadata entries and %" PRIu64
                       " tensors, which cannot fit in the %" PRIu64 " bytes after the header",
                    n_kv, n_tensors, rest);
    if (!parse_kvs(f, r, n_kv)) return false;
    if (!parse_alignment(f, r)) return false;
    return parse_tensors(f, r, n_tensors);
}

static void copy_err(char *err, size_t errlen, const char *msg)
{
    if (err && errlen) snprintf(err, errlen, "%s", msg);
}

/* Parses base[0..size); on failure frees everything and leaves a message. */
static gguf_file *open_buffer(const uint8_t *base, size_t size, char msg[ERR_CAP])
{
    reader r = {.base = base, .size = size, .pos = 0, .msg = ""};
    gguf_file *f = calloc(1, sizeof *f);
    if (!f) {
        snprintf(msg, ERR_CAP, "out of memory");
        return NULL;
    }
    f->base = base;
    f->size = size;
    f->alignment = GGUF_DEFAULT_ALIGNMENT;
    if (!parse(f, &r)) {
        memcpy(msg, r.msg, ERR_CAP);
        gguf_close(f);
        return NULL;
    }
    return f;
}

gguf_file *gguf_open_memory(const void *data, size_t size, char *err, size_t errlen)
{
    char msg[ERR_CAP];
    if (!data && size) {
        copy_err(err, errlen, "no buffer given");
        return NULL;
    }
    gguf_file *f = open_buffer(data, size, msg);
    if (!f) copy_err(err, errlen, msg);
    return f;
}

gguf_file *gguf_open(const char *path, char *err, size_t errlen)
{
    char msg[ERR_CAP];
    if (!path) {
        copy_err(err, errlen, "no path given");
        return NULL;
    }
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        if (err && errlen) snprintf(err, errlen, "cannot open '%s': %s", path, strerror(e));
        return NULL;
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        if (err && errlen) snprintf(err, errlen, "cannot stat '%s': %s", path, strerror(e));
        return NULL;
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        if (err && errlen) snprintf(err, errlen, "'%s' is not a regular file", path);
        return NULL;
    }
    if ((uint64_t)st.st_size > SIZE_MAX) {
        close(fd);
        if (err && errlen) snprintf(err, errlen, "'%s' is too large to map on this system", path);
        return NULL;
    }
    size_t size = (size_t)st.st_size;
    const uint8_t *base = NULL;
    if (size > 0) { /* mmap refuses empty lengths; the parser reports those */
        void *p = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (p == MAP_FAILED) {
            int e = errno;
            close(fd);
            if (err && errlen) snprintf(err, errlen, "cannot map '%s': %s", path, strerror(e));
            return NULL;
        }
        base = p;
    }
    close(fd);
    gguf_file *f = open_buffer(base, size, msg);
    if (!f) {
        if (base) munmap((void *)base, size);
        if (err && errlen) snprintf(err, errlen, "%s: %s", path, msg);
        return NULL;
    }
    f->mapped = base != NULL;
    return f;
}

void gguf_close(gguf_file *f)
{
    if (!f) return;
    if (f->kv) {
        for (int64_t i = 0; i < f->n_kv; i++) {
            gguf_kv *kv = &f->kv[i];
            if (kv->type == GGUF_TYPE_ARRAY && kv->v.arr.type == GGUF_TYPE_STRING)
                free((void *)kv->v.arr.strs);
        }
    }
    free(f->kv);
    free(f->tensors);
    free(f->kv_index.slots);
    free(f->tensor_index.slots);
    if (f->mapped) munmap((void *)f->base, f->size);
    free(f);
}

uint32_t gguf_version(const gguf_file *f)
{
    return f ? f->version : 0;
}

size_t gguf_alignment(const gguf_file *f)
{
    return f ? f->alignment : 0;
}

size_t gguf_file_size(const gguf_file *f)
{
    return f ? f->size : 0;
}

int64_t gguf_n_kv(const gguf_file *f)
{
    return f ? f->n_kv : 0;
}

const gguf_kv *gguf_kv_at(const gguf_file *f, int64_t i)
{
    return f && i >= 0 && i < f->n_kv ? &f->kv[i] : NULL;
}

const gguf_kv *gguf_find_kv(const gguf_file *f, const char *key)
{
    if (!f || !key) return NULL;
    size_t slot = index_find(&f->kv_index, f->kv, sizeof *f->kv, key, strlen(key));
    return slot ? &f->kv[slot - 1] : NULL;
}

/* 1 for unsigned integer types, -1 for signed, 0 otherwise. */
static int int_kind(gguf_type t)
{
    switch (t) {
    case GGUF_TYPE_UINT8:
    case GGUF_TYPE_UINT16:
    case GGUF_TYPE_UINT32:
    case GGUF_TYPE_UINT64:
        return 1;
    case GGUF_TYPE_INT8:
    case GGUF_TYPE_INT16:
    case GGUF_TYPE_INT32:
    case GGUF_TYPE_INT64:
        return -1;
    default:
        return 0;
    }
}

bool gguf_get_u64(const gguf_file *f, const char *key, uint64_t *out)
{
    const gguf_kv *kv = gguf_find_kv(f, key);
    if (!kv) return false;
    int kind = int_kind(kv->type);
    if (kind > 0) {
        *out = kv->v.u64;
        return true;
    }
    if (kind < 0 && kv->v.i64 >= 0) {
        *out = (uint64_t)kv->v.i64;
        return true;
    }
    return false;
}

bool gguf_get_u32(const gguf_file *f, const char *key, uint32_t *out)
{
    uint64_t v;
    if (!gguf_get_u64(f, key, &v) || v > UINT32_MAX) return false;
    *out = (uint32_t)v;
    return true;
}

bool gguf_get_i64(const gguf_file *f, const char *key, int64_t *out)
{
    const gguf_kv *kv = gguf_find_kv(f, key);
    if (!kv) return false;
    int kind = int_kind(kv->type);
    if (kind < 0) {
        *out = kv->v.i64;
        return true;
    }
    if (kind > 0 && kv->v.u64 <= (uint64_t)INT64_MAX) {
        *out = (int64_t)kv->v.u64;
        return true;
    }
    return false;
}

bool gguf_get_f32(const gguf_file *f, const char *key, float *out)
{
    const gguf_kv *kv = gguf_find_kv(f, key);
    if (!kv || (kv->type != GGUF_TYPE_FLOAT32 && kv->type != GGUF_TYPE_FLOAT64)) return false;
    double d = kv->v.f64;
    /* A finite double beyond float range does not fit; inf and nan carry over. */
    if (d > FLT_MAX && d <= DBL_MAX) return false;
    if (d < -FLT_MAX && d >= -DBL_MAX) return false;
    *out = (float)d;
    return true;
}

bool gguf_get_bool(const gguf_file *f, const char *key, bool *out)
{
    const gguf_kv *kv = gguf_find_kv(f, key);
    if (!kv || kv->type != GGUF_TYPE_BOOL) return false;
    *out = kv->v.b;
    return true;
}

bool gguf_get_str(const gguf_file *f, const char *key, gguf_str *out)
{
    const gguf_kv *kv = gguf_find_kv(f, key);
    if (!kv || kv->type != GGUF_TYPE_STRING) return false;
    *out = kv->v.str;
    return true;
}

bool gguf_get_cstr(const gguf_file *f, const char *key, char *buf, size_t cap)
{
    gguf_str s;
    if (!buf || cap == 0 || !gguf_get_str(f, key, &s)) return false;
    size_t n = s.len < cap - 1 ? (size_t)s.len : cap - 1;
    if (n) memcpy(buf, s.ptr, n);
    buf[n] = '\0';
    return true;
}

const gguf_kv *gguf_get_arr(const gguf_file *f, const char *key, gguf_type elem_type)
{
    const gguf_kv *kv = gguf_find_kv(f, key);
    if (!kv || kv->type != GGUF_TYPE_ARRAY || kv->v.arr.type != elem_type) return NULL;
    return kv;
}

int64_t gguf_n_tensors(const gguf_file *f)
{
    return f ? f->n_tensors : 0;
}

const gguf_tensor *gguf_tensor_at(const gguf_file *f, int64_t i)
{
    return f && i >= 0 && i < f->n_tensors ? &f->tensors[i] : NULL;
}

const gguf_tensor *gguf_find_tensor(const gguf_file *f, const char *name)
{
    if (!f || !name) return NULL;
    size_t slot = index_find(&f->tensor_index, f->tensors, sizeof *f->tensors, name, strlen(name));
    return slot ? &f->tensors[slot - 1] : NULL;
}

bool gguf_str_eq(gguf_str s, const char *cstr)
{
    if (!cstr) return false;
    size_t n = strlen(cstr);
    return s.len == n && (n == 0 || memcmp(s.ptr, cstr, n) == 0);
}

const char *gguf_type_name(gguf_type t)
{
    static const char *const NAMES[GGUF_TYPE_COUNT] = {
        [GGUF_TYPE_UINT8] = "uint8",     [GGUF_TYPE_INT8] = "int8",
        [GGUF_TYPE_UINT16] = "uint16",   [GGUF_TYPE_INT16] = "int16",
        [GGUF_TYPE_UINT32] = "uint32",   [GGUF_TYPE_INT32] = "int32",
        [GGUF_TYPE_FLOAT32] = "float32", [GGUF_TYPE_BOOL] = "bool",
        [GGUF_TYPE_STRING] = "string",   [GGUF_TYPE_ARRAY] = "array",
        [GGUF_TYPE_UINT64] = "uint64",   [GGUF_TYPE_INT64] = "int64",
        [GGUF_TYPE_FLOAT64] = "float64",
    };
    return (unsigned)t < GGUF_TYPE_COUNT ? NAMES[t] : "unknown";
}
