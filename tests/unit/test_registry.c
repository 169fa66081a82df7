/* Model registry: each test builds a directory tree of tiny GGUF and .rkllm
 * files (GGUF headers written here with the metadata keys under test) and
 * checks what the registry lists, how names resolve, and what remove and
 * copy do to the files. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/model_names.h"
#include "core/registry.h"
#include "core/registry_internal.h" /* registry_sha256_hex */

/* ---- files ---- */

static char g_root[256];

/* root-relative path in one of a few rotating buffers */
static const char *at(const char *fmt, ...)
{
    static char bufs[8][700];
    static int next;
    char rel[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(rel, sizeof rel, fmt, ap);
    va_end(ap);
    char *b = bufs[next++ % 8];
    snprintf(b, 700, "%s/%s", g_root, rel);
    return b;
}

static void mkdirs(const char *path)
{
    char tmp[1024];
    snprintf(tmp, sizeof tmp, "%s", path);
    for (char *c = tmp + 1; *c; c++)
        if (*c == '/') {
            *c = 0;
            mkdir(tmp, 0755);
            *c = '/';
        }
    mkdir(tmp, 0755);
}

static void parent_dirs(const char *path)
{
    char tmp[1024];
    snprintf(tmp, sizeof tmp, "%s", path);
    char *slash = strrchr(tmp, '/');
    if (slash) {
        *slash = 0;
        mkdirs(tmp);
    }
}

static void write_bytes(const char *path, const void *data, size_t n)
{
    parent_dirs(path);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    if (n)
        assert_int_equal(fwrite(data, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
}

static void write_text(const char *path, const char *text)
{
    write_bytes(path, text, strlen(text));
}

static bool exists(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0;
}

static void set_mtime(const char *path, time_t t)
{
    struct timespec ts[2] = {{t, 0}, {t, 0}};
    assert_int_equal(utimensat(AT_FDCWD, path, ts, AT_SYMLINK_NOFOLLOW), 0);
}

/* ---- a minimal GGUF v3 writer ---- */

typedef struct {
    uint8_t *p;
    size_t n, cap;
} buf;

static void put(buf *b, const void *d, size_t n)
{
    if (b->n + n > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 1024;
        while (cap < b->n + n)
            cap *= 2;
        b->p = realloc(b->p, cap);
        assert_non_null(b->p);
        b->cap = cap;
    }
    memcpy(b->p + b->n, d, n);
    b->n += n;
}

static void put_le(buf *b, uint64_t v, int bytes)
{
    uint8_t t[8];
    for (int i = 0; i < bytes; i++)
        t[i] = (uint8_t)(v >> (8 * i));
    put(b, t, (size_t)bytes);
}

static void put_str(buf *b, const char *s)
{
    put_le(b, strlen(s), 8);
    put(b, s, strlen(s));
}

/* kv: type 'S' string, 'U' uint32, 'Q' uint64 */
typedef struct {
    const char *key;
    char type;
    const char *s;
    uint64_t u;
} kv;

#define KS(k, v) ((kv){(k), 'S', (v), 0})
#define KU(k, v) ((kv){(k), 'U', NULL, (v)})

/* One weight tensor "w" of type ttype (0 F32, 1 F16, 8 Q8_0) with ne0 x ne1 elements. */
static void write_gguf_t(const char *path, const kv *kvs, int n_kv, uint32_t ttype, uint64_t ne0,
                         uint64_t ne1)
{
    buf b = {0};
    put(&b, "GGUF", 4);
    put_le(&b, 3, 4);
    put_le(&b, 1, 8);
    put_le(&b, (uint64_t)n_kv, 8);
    for (int i = 0; i < n_kv; i++) {
        put_str(&b, kvs[i].key);
        if (kvs[i].type == 'S') {
            put_le(&b, 8, 4);
            put_str(&b, kvs[i].s);
        } else if (kvs[i].type == 'U') {
            put_le(&b, 4, 4);
            put_le(&b, kvs[i].u, 4);
        } else {
            put_le(&b, 10, 4);
            put_le(&b, kvs[i].u, 8);
        }
    }
    put_str(&b, "w");
    put_le(&b, 2, 4);
    put_le(&b, ne0, 8);
    put_le(&b, ne1, 8);
    put_le(&b, ttype, 4);
    put_le(&b, 0, 8);
    while (b.n % 32)
        put_le(&b, 0, 1);
    size_t data = ttype == 8 ? ne0 / 32 * 34 * ne1 : ttype == 1 ? 2 * ne0 * ne1 : 4 * ne0 * ne1;
    for (size_t i = 0; i < data; i++)
        put_le(&b, 0, 1);
    write_bytes(path, b.p, b.n);
    free(b.p);
}

static void write_gguf(const char *path, const kv *kvs, int n_kv)
{
    write_gguf_t(path, kvs, n_kv, 0, 4, 2);
}

/* A language model GGUF with the usual general.* keys; NULL / 0 / -1 leave a key out. */
static void model_gguf(const char *path, const char *arch, const char *basename,
                       const char *size_label, int ftype, uint64_t ctx)
{
    kv k[8];
    int n = 0;
    char ctx_key[64];
    if (arch)
        k[n++] = KS("general.architecture", arch);
    if (basename)
        k[n++] = KS("general.basename", basename);
    if (size_label)
        k[n++] = KS("general.size_label", size_label);
    if (ftype >= 0)
        k[n++] = KU("general.file_type", (uint64_t)ftype);
    if (ctx && arch) {
        snprintf(ctx_key, sizeof ctx_key, "%s.context_length", arch);
        k[n++] = KU(ctx_key, ctx);
    }
    write_gguf(path, k, n);
}

static void rkllm_blob(const char *path)
{
    static const char bytes[] = "RKLLM-not-a-gguf\x01\x02\x03";
    write_bytes(path, bytes, sizeof bytes);
}

/* ---- fixture ---- */

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(p);
}

static int setup(void **state)
{
    (void)state;
    snprintf(g_root, sizeof g_root, "/tmp/rk_registry_XXXXXX");
    if (!mkdtemp(g_root))
        return -1;
    mkdirs(at("models"));
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    nftw(g_root, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    return 0;
}

static registry *open_reg(void)
{
    const char *dirs[] = {at("models")};
    registry *r = registry_new(dirs, 1, at("hub"));
    assert_non_null(r);
    char err[256];
    assert_true(registry_scan(r, err, sizeof err) >= 0);
    return r;
}

/* Resolves name, which must succeed; the caller releases. */
static const registry_entry *get(registry *r, const char *name)
{
    const registry_entry *e = NULL;
    char err[512] = "";
    registry_status st = registry_resolve(r, name, &e, err, sizeof err);
    if (st != REGISTRY_OK)
        fail_msg("resolve '%s': %s (%s)", name, registry_status_name(st), err);
    return e;
}

static registry_status try_get(registry *r, const char *name, const registry_entry **e, char *err,
                               size_t errlen)
{
    *e = NULL;
    registry_status st = registry_resolve(r, name, e, err, errlen);
    if (st == REGISTRY_OK)
        registry_entry_release(*e);
    return st;
}

static bool has_warning(const registry_entry *e, const char *needle)
{
    for (int i = 0; i < e->n_warnings; i++)
        if (strstr(e->warnings[i], needle))
            return true;
    return false;
}

static void rescan(registry *r)
{
    char err[256];
    assert_true(registry_scan(r, err, sizeof err) >= 0);
}

/* ---- names from file names ---- */

static void test_file_name_rules(void **state)
{
    (void)state;
    model_name_parts p;
    model_name_parse("Qwen3-0.6B-w8a8-opt0-hybrid0-npu3-ctx4096-rk3588.rkllm", &p);
    assert_string_equal(p.base, "qwen3");
    assert_string_equal(p.size, "0.6b");
    assert_string_equal(p.quant, "W8A8");
    assert_true(p.npu_quant);
    assert_int_equal(p.ctx, 4096);
    assert_int_equal(p.npu_cores, 3);
    assert_string_equal(p.target, "rk3588");

    model_name_parse("DeepSeek-R1-Distill-Qwen-1.5B_W8A8_RK3588.rkllm", &p);
    assert_string_equal(p.base, "deepseek-r1-distill-qwen");
    assert_string_equal(p.size, "1.5b");
    assert_string_equal(p.quant, "W8A8");
    assert_string_equal(p.target, "rk3588");
    assert_int_equal(p.ctx, 0);

    model_name_parse("Qwen2.5-VL-3B-Instruct-w4a16_g128-rk3576-ctx16k.rkllm", &p);
    assert_string_equal(p.base, "qwen2.5-vl");
    assert_string_equal(p.size, "3b");
    assert_string_equal(p.quant, "W4A16_G128");
    assert_string_equal(p.target, "rk3576");
    assert_int_equal(p.ctx, 16384);

    model_name_parse("tinyllama-1.1b-chat-v1.0.Q4_K_M.gguf", &p);
    assert_string_equal(p.base, "tinyllama");
    assert_string_equal(p.size, "1.1b");
    assert_string_equal(p.quant, "Q4_K_M");
    assert_false(p.npu_quant);

    model_name_parse("Mixtral-8x7B-v0.1-IQ4_XS-00001-of-00003.gguf", &p);
    assert_string_equal(p.base, "mixtral");
    assert_string_equal(p.size, "8x7b");
    assert_string_equal(p.quant, "IQ4_XS");

    /* "4k" is a context size in names like this, not a parameter count */
    model_name_parse("Phi-3-mini-4k-instruct-q8_0.gguf", &p);
    assert_string_equal(p.base, "phi-3-mini-4k-instruct");
    assert_string_equal(p.size, "");
    assert_string_equal(p.quant, "Q8_0");

    model_name_parse("/some/dir/My Model (v2)!.gguf", &p);
    assert_string_equal(p.base, "my-model-v2");

    char stem[64];
    model_file_stem("/x/big-00002-of-00010.GGUF", stem, sizeof stem);
    assert_string_equal(stem, "big");
    size_t pre;
    int idx, cnt;
    assert_true(model_split_name("a-b-00002-of-00010", 18, &pre, &idx, &cnt));
    assert_int_equal(pre, 3);
    assert_int_equal(idx, 2);
    assert_int_equal(cnt, 10);
    assert_false(model_split_name("a-00011-of-00010", 16, NULL, NULL, NULL));
    assert_false(model_split_name("a-00000-of-00010", 16, NULL, NULL, NULL));
    assert_false(model_split_name("a00001-of-00002", 15, NULL, NULL, NULL));

    char n[64];
    model_name_normalize("  Llama 3.2 / Instruct.. ", n, sizeof n);
    assert_string_equal(n, "llama-3.2-instruct");
    model_name_normalize("..hidden", n, sizeof n);
    assert_string_equal(n, "hidden");

    assert_string_equal(model_ftype_name(0), "F32");
    assert_string_equal(model_ftype_name(1), "F16");
    assert_string_equal(model_ftype_name(2), "Q4_0");
    assert_string_equal(model_ftype_name(7), "Q8_0");
    assert_string_equal(model_ftype_name(15), "Q4_K_M");
    assert_string_equal(model_ftype_name(18), "Q6_K");
    assert_string_equal(model_ftype_name(32), "BF16");
    assert_string_equal(model_ftype_name(1024 | 15), "Q4_K_M");
    assert_null(model_ftype_name(4));
    assert_null(model_ftype_name(99));

    assert_true(model_is_gguf_quant("q4_k_m", 6));
    assert_true(model_is_gguf_quant("IQ2_XXS", 7));
    assert_true(model_is_gguf_quant("bf16", 4));
    assert_false(model_is_gguf_quant("Q4", 2));
    assert_false(model_is_gguf_quant("Q4_Z", 4));
    assert_false(model_is_gguf_quant("w8a8", 4));

    char label[16];
    model_param_label(134515008, label, sizeof label);
    assert_string_equal(label, "135M");
    model_param_label(1543714304, label, sizeof label);
    assert_string_equal(label, "1.5B");
}

static void test_sha256(void **state)
{
    (void)state;
    char h[65];
    registry_sha256_hex("", 0, h);
    assert_string_equal(h, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    registry_sha256_hex("abc", 3, h);
    assert_string_equal(h, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    const char *two = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    registry_sha256_hex(two, strlen(two), h);
    assert_string_equal(h, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    char thousand[1000];
    memset(thousand, 'a', sizeof thousand);
    registry_sha256_hex(thousand, sizeof thousand, h); /* 1000 x 'a': many blocks, odd tail */
    assert_string_equal(h, "41edece42d63e8d9bf515a9ba6932e1c20cbc9f5a5d134645adb5db1b9737ea3");
}

static void test_name_valid(void **state)
{
    (void)state;
    assert_true(registry_name_valid("mine", 4));
    assert_true(registry_name_valid("My_model-2.5:v1.q8", 18));
    assert_false(registry_name_valid("", 0));
    assert_false(registry_name_valid("a/b", 3));
    assert_false(registry_name_valid("../x", 4));
    assert_false(registry_name_valid("a..b", 4));
    assert_false(registry_name_valid(".hidden", 7));
    assert_false(registry_name_valid("-x", 2));
    assert_false(registry_name_valid("a:b:c", 5));
    assert_false(registry_name_valid("a:", 2));
    assert_false(registry_name_valid(":a", 2));
    assert_false(registry_name_valid("a:.x", 4));
    assert_false(registry_name_valid("a@b", 3));
    assert_false(registry_name_valid("a\\b", 3));
    assert_false(registry_name_valid("ab\0cd", 5)); /* NUL inside the JSON string */
    char long_name[200];
    memset(long_name, 'a', sizeof long_name);
    assert_false(registry_name_valid(long_name, sizeof long_name));
}

/* ---- listing ---- */

static void test_gguf_metadata_names(void **state)
{
    (void)state;
    model_gguf(at("models/Qwen3-0.6B-Q8_0.gguf"), "qwen3", "Qwen3", "0.6B", 7, 40960);
    model_gguf(at("models/sub/SmolLM2-135M-Instruct-F16.gguf"), "llama", "SmolLM2", "135M", 1,
               8192);
    /* only general.name: parsed like a file name */
    kv byname[] = {KS("general.architecture", "llama"), KS("general.name", "Tiny Llama 1.1B Chat")};
    write_gguf(at("models/weird-file.gguf"), byname, 2);
    /* nothing: the file name */
    write_gguf(at("models/Plain_Model.gguf"), NULL, 0);
    /* too deep: models/a/b/c/d/e is depth 5 */
    model_gguf(at("models/a/b/c/d/e/Deep-1B.gguf"), "llama", "Deep", "1B", 7, 0);
    model_gguf(at("models/a/b/c/d/Shallow-1B.gguf"), "llama", "Shallow", "1B", 7, 0);
    /* hidden */
    model_gguf(at("models/.cache/Hidden-1B.gguf"), "llama", "Hidden", "1B", 7, 0);
    model_gguf(at("models/.Hidden2-1B.gguf"), "llama", "Hidden2", "1B", 7, 0);

    registry *r = open_reg();
    registry_snapshot *s = registry_snapshot_get(r);
    assert_int_equal(registry_snapshot_count(s), 5);
    /* sorted by name */
    const char *want[] = {"plain-model:latest", "qwen3:0.6b", "shallow:1b", "smollm2:135m",
                          "tiny-llama:1.1b"};
    for (int i = 0; i < 5; i++)
        assert_string_equal(registry_snapshot_at(s, i)->name, want[i]);
    registry_snapshot_release(s);

    const registry_entry *e = get(r, "qwen3:0.6b");
    assert_string_equal(e->base, "qwen3");
    assert_string_equal(e->tag, "0.6b");
    assert_string_equal(e->path, at("models/Qwen3-0.6B-Q8_0.gguf"));
    assert_string_equal(e->file_name, "Qwen3-0.6B-Q8_0.gguf");
    assert_int_equal(e->format, REGISTRY_FORMAT_GGUF);
    assert_true(e->gguf_content);
    assert_string_equal(e->arch, "qwen3");
    assert_string_equal(e->family, "qwen3");
    assert_string_equal(e->quant, "Q8_0");
    assert_string_equal(e->param_label, "0.6B");
    assert_int_equal(e->n_params, 8);
    assert_int_equal(e->context, 40960);
    assert_int_equal(e->context_source, REGISTRY_CTX_METADATA);
    assert_int_equal(e->vision_kind, REGISTRY_VISION_NONE);
    assert_int_equal(e->n_shards, 1);
    assert_false(e->split);
    assert_null(e->error);
    assert_null(e->hf_repo);
    assert_null(e->copy_file);
    assert_string_equal(e->models_dir, at("models"));
    struct stat st;
    assert_int_equal(stat(e->path, &st), 0);
    assert_int_equal(e->size, (uint64_t)st.st_size);
    assert_int_equal(e->mtime_sec, st.st_mtim.tv_sec);
    assert_int_equal(strlen(e->digest), 64);
    assert_int_equal(strspn(e->digest, "0123456789abcdef"), 64);
    /* the documented definition: sha256 of "path\nsize\nsec.nsec" */
    char text[800], digest[65];
    snprintf(text, sizeof text, "%s\n%llu\n%lld.%09ld", e->path, (unsigned long long)st.st_size,
             (long long)st.st_mtim.tv_sec, (long)st.st_mtim.tv_nsec);
    registry_sha256_hex(text, strlen(text), digest);
    assert_string_equal(e->digest, digest);
    registry_entry_release(e);

    /* the digest is stable across scans and follows the modification time */
    rescan(r);
    e = get(r, "qwen3:0.6b");
    assert_string_equal(e->digest, digest);
    registry_entry_release(e);
    set_mtime(at("models/Qwen3-0.6B-Q8_0.gguf"), 1000000);
    rescan(r);
    e = get(r, "qwen3:0.6b");
    assert_string_not_equal(e->digest, digest);
    assert_int_equal(e->mtime_sec, 1000000);
    registry_entry_release(e);

    e = get(r, "smollm2:135m");
    assert_string_equal(e->quant, "F16");
    assert_string_equal(e->family, "llama");
    registry_entry_release(e);
    e = get(r, "tiny-llama:1.1b");
    assert_string_equal(e->quant, "F32"); /* no file_type: the type of most weights */
    registry_entry_release(e);
    registry_free(r);
}

static void test_collisions_get_quant(void **state)
{
    (void)state;
    model_gguf(at("models/Qwen3-0.6B-Q4_K_M.gguf"), "qwen3", "Qwen3", "0.6B", 15, 40960);
    model_gguf(at("models/Qwen3-0.6B-Q8_0.gguf"), "qwen3", "Qwen3", "0.6B", 7, 40960);
    /* same metadata and quant twice: numbered */
    model_gguf(at("models/a/smol.gguf"), "llama", "SmolLM2", "135M", 7, 0);
    model_gguf(at("models/b/smol.gguf"), "llama", "SmolLM2", "135M", 7, 0);
    /* no file_type: the quant comes from the file name, else the weights */
    model_gguf(at("models/c/Gemma-1B-q4_0.gguf"), "gemma3", "Gemma", "1B", -1, 0);
    write_gguf_t(at("models/d/gemma-other.gguf"),
                 (kv[]){KS("general.architecture", "gemma3"), KS("general.basename", "Gemma"),
                        KS("general.size_label", "1B")},
                 3, 8, 64, 2);

    registry *r = open_reg();
    assert_int_equal(registry_count(r), 6);
    const registry_entry *e = get(r, "qwen3:0.6b-q4_k_m");
    assert_string_equal(e->file_name, "Qwen3-0.6B-Q4_K_M.gguf");
    assert_string_equal(e->quant, "Q4_K_M");
    registry_entry_release(e);
    e = get(r, "qwen3:0.6b-q8_0");
    assert_string_equal(e->file_name, "Qwen3-0.6B-Q8_0.gguf");
    registry_entry_release(e);

    e = get(r, "smollm2:135m-q8_0");
    assert_string_equal(e->path, at("models/a/smol.gguf"));
    assert_int_equal(e->n_warnings, 0);
    registry_entry_release(e);
    e = get(r, "smollm2:135m-q8_0-2");
    assert_string_equal(e->path, at("models/b/smol.gguf"));
    assert_true(has_warning(e, "taken"));
    registry_entry_release(e);

    e = get(r, "gemma:1b-q4_0");
    assert_string_equal(e->file_name, "Gemma-1B-q4_0.gguf");
    registry_entry_release(e);
    e = get(r, "gemma:1b-q8_0");
    assert_string_equal(e->file_name, "gemma-other.gguf");
    assert_string_equal(e->quant, "Q8_0");
    registry_entry_release(e);

    registry_snapshot *s = registry_snapshot_get(r);
    bool noted = false;
    for (int i = 0; i < registry_snapshot_n_warnings(s); i++)
        noted |= strstr(registry_snapshot_warning(s, i), "smollm2:135m-q8_0-2") != NULL;
    assert_true(noted);
    registry_snapshot_release(s);

    /* the unsuffixed name and the base name are ambiguous, and say so */
    char err[512];
    const registry_entry *x;
    assert_int_equal(try_get(r, "qwen3:0.6b", &x, err, sizeof err), REGISTRY_AMBIGUOUS);
    assert_non_null(strstr(err, "qwen3:0.6b-q4_k_m"));
    assert_non_null(strstr(err, "qwen3:0.6b-q8_0"));
    assert_int_equal(try_get(r, "qwen3", &x, err, sizeof err), REGISTRY_AMBIGUOUS);
    assert_null(x);
    /* two files named smol.gguf */
    assert_int_equal(try_get(r, "smol.gguf", &x, err, sizeof err), REGISTRY_AMBIGUOUS);
    registry_free(r);
}

static void test_rkllm_names_and_rknn(void **state)
{
    (void)state;
    rkllm_blob(at("models/npu/Qwen3-0.6B-w8a8-opt0-hybrid0-npu3-ctx4096-rk3588.rkllm"));
    rkllm_blob(at("models/npu/qwen3_vision_rk3588.rknn"));
    /* a GGUF renamed .rkllm: metadata read, name still from the file name */
    model_gguf(at("models/emu/Tiny-w8a8.rkllm"), "llama", "Other", "15M", 7, 2048);
    /* sharded encoder next to a VLM */
    rkllm_blob(at("models/vlm/Qwen2-VL-2B-w8a8-rk3588.rkllm"));
    rkllm_blob(at("models/vlm/vision_part10.rknn"));
    rkllm_blob(at("models/vlm/vision_part2.rknn"));
    rkllm_blob(at("models/vlm/vision_part1.rknn"));
    /* two unrelated encoders: first by name, with a warning */
    rkllm_blob(at("models/two/Gemma-1B-w4a16-rk3576.rkllm"));
    rkllm_blob(at("models/two/alpha.rknn"));
    rkllm_blob(at("models/two/beta_enc.rknn"));

    registry *r = open_reg();
    assert_int_equal(registry_count(r), 4);
    const registry_entry *e = get(r, "qwen3:0.6b-w8a8");
    assert_int_equal(e->format, REGISTRY_FORMAT_RKLLM);
    assert_false(e->gguf_content);
    assert_null(e->arch);
    assert_string_equal(e->family, "qwen3");
    assert_string_equal(e->quant, "W8A8");
    assert_string_equal(e->param_label, "0.6B");
    assert_string_equal(e->target, "rk3588");
    assert_int_equal(e->context, 4096);
    assert_int_equal(e->context_source, REGISTRY_CTX_FILENAME);
    assert_int_equal(e->npu_cores, 3);
    assert_int_equal(e->vision_kind, REGISTRY_VISION_RKNN);
    assert_int_equal(e->n_vision, 1);
    assert_string_equal(e->vision[0], at("models/npu/qwen3_vision_rk3588.rknn"));
    assert_null(e->error);
    registry_entry_release(e);

    e = get(r, "tiny:15m-w8a8");
    assert_true(e->gguf_content);
    assert_string_equal(e->arch, "llama");
    assert_int_equal(e->context, 2048);
    assert_int_equal(e->context_source, REGISTRY_CTX_METADATA);
    registry_entry_release(e);

    e = get(r, "qwen2-vl:2b-w8a8");
    assert_int_equal(e->n_vision, 3);
    assert_string_equal(e->vision[0], at("models/vlm/vision_part1.rknn"));
    assert_string_equal(e->vision[1], at("models/vlm/vision_part2.rknn"));
    assert_string_equal(e->vision[2], at("models/vlm/vision_part10.rknn"));
    registry_entry_release(e);

    e = get(r, "gemma:1b-w4a16");
    assert_int_equal(e->n_vision, 1);
    assert_string_equal(e->vision[0], at("models/two/alpha.rknn"));
    assert_true(has_warning(e, "2 candidate .rknn"));
    registry_entry_release(e);
    registry_free(r);
}

static void test_context_precedence(void **state)
{
    (void)state;
    model_gguf(at("models/m/Ctx-1B-ctx8192.gguf"), "llama", "Ctx", "1B", 7, 40960);
    model_gguf(at("models/n/Side-1B-ctx8192.gguf"), "llama", "Side", "1B", 7, 40960);
    write_text(at("models/n/Side-1B-ctx8192.json"), "{\"context\": 1024}");
    model_gguf(at("models/o/Meta-1B.gguf"), "llama", "Meta", "1B", 7, 40960);
    registry *r = open_reg();
    const registry_entry *e = get(r, "ctx:1b");
    assert_int_equal(e->context, 8192);
    assert_int_equal(e->context_source, REGISTRY_CTX_FILENAME);
    registry_entry_release(e);
    e = get(r, "side:1b");
    assert_int_equal(e->context, 1024);
    assert_int_equal(e->context_source, REGISTRY_CTX_SIDECAR);
    assert_string_equal(e->sidecar, at("models/n/Side-1B-ctx8192.json"));
    registry_entry_release(e);
    e = get(r, "meta:1b");
    assert_int_equal(e->context, 40960);
    registry_entry_release(e);
    registry_free(r);
}

static void test_mmproj_companions(void **state)
{
    (void)state;
    model_gguf(at("models/vlm/SmolVLM-256M-Instruct-Q8_0.gguf"), "llama", "SmolVLM", "256M", 7,
               8192);
    model_gguf(at("models/vlm/SmolVLM-256M-Instruct-F16.gguf"), "llama", "SmolVLM", "256M", 1,
               8192);
    model_gguf(at("models/vlm/mmproj-SmolVLM-256M-Instruct-f16.gguf"), "clip", NULL, NULL, 1, 0);
    /* a clip GGUF not called mmproj, beside two models of different bases */
    model_gguf(at("models/pair/Alpha-1B.gguf"), "llama", "Alpha", "1B", 7, 0);
    model_gguf(at("models/pair/Beta-1B.gguf"), "llama", "Beta", "1B", 7, 0);
    model_gguf(at("models/pair/beta-vision.gguf"), "clip", NULL, NULL, 1, 0);
    model_gguf(at("models/pair/alpha-vision.gguf"), "clip", NULL, NULL, 1, 0);

    registry *r = open_reg();
    assert_int_equal(registry_count(r), 4); /* projectors are not models */
    const registry_entry *e = get(r, "smolvlm:256m-q8_0");
    assert_int_equal(e->vision_kind, REGISTRY_VISION_MMPROJ);
    assert_int_equal(e->n_vision, 1);
    assert_string_equal(e->vision[0], at("models/vlm/mmproj-SmolVLM-256M-Instruct-f16.gguf"));
    registry_entry_release(e);
    e = get(r, "smolvlm:256m-f16");
    assert_string_equal(e->vision[0], at("models/vlm/mmproj-SmolVLM-256M-Instruct-f16.gguf"));
    registry_entry_release(e);
    e = get(r, "alpha");
    assert_string_equal(e->vision[0], at("models/pair/alpha-vision.gguf"));
    assert_int_equal(e->n_warnings, 0);
    registry_entry_release(e);
    e = get(r, "beta");
    assert_string_equal(e->vision[0], at("models/pair/beta-vision.gguf"));
    registry_entry_release(e);
    char err[256];
    const registry_entry *x;
    assert_int_equal(try_get(r, "mmproj-SmolVLM-256M-Instruct-f16", &x, err, sizeof err),
                     REGISTRY_NOT_FOUND);
    registry_free(r);
}

static void test_sidecars(void **state)
{
    (void)state;
    model_gguf(at("models/good/Good-1B-Q8_0.gguf"), "llama", "Good", "1B", 7, 4096);
    model_gguf(at("models/good/proj.gguf"), "clip", NULL, NULL, 1, 0);
    model_gguf(at("models/good/mmproj-auto.gguf"), "clip", NULL, NULL, 1, 0);
    write_text(at("models/good/tmpl/chat.jinja"), "{{ messages }}");
    write_text(at("models/good/Good-1B-Q8_0.json"),
               "{\"name\": \"My-Model:V1\", \"aliases\": [\"mine\", \"Other\"],"
               " \"chat_template_file\": \"tmpl/chat.jinja\","
               " \"vision\": {\"preset\": \"smolvlm\", \"mmproj\": \"proj.gguf\"},"
               " \"context\": 2048, \"cpu_mask\": \"0xF0\", \"npu_cores\": 2,"
               " \"parameters\": {\"temperature\": 0.2, \"top_k\": 20},"
               " \"system\": \"Be brief.\", \"_comment\": \"ignored\"}");
    model_gguf(at("models/broken/Broken-1B.gguf"), "llama", "Broken", "1B", 7, 4096);
    write_text(at("models/broken/Broken-1B.json"), "{\"name\": \"x\",\n  oops }");
    model_gguf(at("models/typed/Typed-1B.gguf"), "llama", "Typed", "1B", 7, 4096);
    write_text(at("models/typed/Typed-1B.gguf.json"),
               "{\"context\": \"big\", \"cpu_mask\": [4, 5, 6, 7], \"colour\": 1,"
               " \"vision\": {\"mmproj\": \"missing.gguf\"}, \"name\": \"bad/name\","
               " \"chat_template\": \"inline {{x}}\", \"npu_cores\": 99}");
    model_gguf(at("models/dir/Only-1B.gguf"), "llama", "Only", "1B", 7, 4096);
    write_text(at("models/dir/model.json"), "{\"system\": \"dir wide\", \"vision\": false}");
    model_gguf(at("models/dir/mmproj-x.gguf"), "clip", NULL, NULL, 1, 0);
    model_gguf(at("models/dir2/One-1B.gguf"), "llama", "One", "1B", 7, 4096);
    model_gguf(at("models/dir2/Two-1B.gguf"), "llama", "Two", "1B", 7, 4096);
    write_text(at("models/dir2/MODEL.json"), "{\"system\": \"shared?\"}");

    registry *r = open_reg();
    assert_int_equal(registry_count(r), 6);
    const registry_entry *e = get(r, "my-model:v1");
    assert_string_equal(e->file_name, "Good-1B-Q8_0.gguf");
    assert_int_equal(e->n_aliases, 2);
    assert_string_equal(e->aliases[0], "mine");
    assert_string_equal(e->aliases[1], "other");
    assert_string_equal(e->chat_template, "{{ messages }}");
    assert_string_equal(e->vision_preset, "smolvlm");
    assert_int_equal(e->vision_kind, REGISTRY_VISION_MMPROJ);
    assert_int_equal(e->n_vision, 1);
    assert_string_equal(e->vision[0], at("models/good/proj.gguf"));
    assert_int_equal(e->context, 2048);
    assert_int_equal(e->context_source, REGISTRY_CTX_SIDECAR);
    assert_int_equal(e->cpu_mask, 0xF0);
    assert_int_equal(e->npu_cores, 2);
    assert_string_equal(e->parameters_json, "{\"temperature\":0.2,\"top_k\":20}");
    assert_string_equal(e->system, "Be brief.");
    assert_int_equal(e->n_warnings, 0);
    registry_entry_release(e);

    e = get(r, "broken:1b");
    assert_true(has_warning(e, "line 2"));
    assert_int_equal(e->context, 4096);
    registry_entry_release(e);

    e = get(r, "typed:1b");
    assert_string_equal(e->sidecar, at("models/typed/Typed-1B.gguf.json"));
    assert_int_equal(e->context, 4096); /* the bad value left the metadata's */
    assert_int_equal(e->cpu_mask, 0xF0);
    assert_int_equal(e->npu_cores, 0);
    assert_string_equal(e->chat_template, "inline {{x}}");
    assert_int_equal(e->vision_kind, REGISTRY_VISION_NONE);
    assert_true(has_warning(e, "\"context\" must be an integer"));
    assert_true(has_warning(e, "unknown field \"colour\""));
    assert_true(has_warning(e, "missing.gguf"));
    assert_true(has_warning(e, "\"name\" must be a model name"));
    assert_true(has_warning(e, "\"npu_cores\""));
    registry_entry_release(e);

    e = get(r, "only:1b");
    assert_string_equal(e->system, "dir wide");
    assert_int_equal(e->vision_kind, REGISTRY_VISION_NONE); /* vision: false */
    assert_int_equal(e->n_vision, 0);
    registry_entry_release(e);

    e = get(r, "one:1b");
    assert_null(e->system);
    assert_true(has_warning(e, "MODEL.json is ignored"));
    registry_entry_release(e);

    /* aliases resolve, case-insensitively */
    e = get(r, "MINE");
    assert_string_equal(e->name, "my-model:v1");
    registry_entry_release(e);
    e = get(r, "my-model:V1");
    registry_entry_release(e);
    registry_free(r);
}

static void make_hub_repo(const char *repo_dir, const char *rev, const char *file, const char *blob,
                          const char *basename, int ftype)
{
    char p[600];
    snprintf(p, sizeof p, "%s/blobs/%s", repo_dir, blob);
    model_gguf(p, "qwen3", basename, "0.6B", ftype, 32768);
    snprintf(p, sizeof p, "%s/snapshots/%s/%s", repo_dir, rev, file);
    parent_dirs(p);
    char target[300];
    int depth = 2;
    for (const char *c = file; *c; c++)
        depth += *c == '/';
    target[0] = 0;
    for (int i = 0; i < depth; i++)
        strcat(target, "../");
    strcat(target, "blobs/");
    strcat(target, blob);
    assert_int_equal(symlink(target, p), 0);
}

static void test_hf_cache(void **state)
{
    (void)state;
    const char *repo = at("hub/models--Qwen--Qwen3-0.6B-GGUF");
    make_hub_repo(repo, "aaa111", "Qwen3-0.6B-Q8_0.gguf", "blob1", "Qwen3", 7);
    make_hub_repo(repo, "bbb222", "Qwen3-0.6B-Q4_K_M.gguf", "blob2", "Qwen3", 15);
    write_text(at("hub/models--Qwen--Qwen3-0.6B-GGUF/refs/main"), "aaa111\n");
    /* the other snapshot is newer, but refs/main names aaa111 */
    set_mtime(at("hub/models--Qwen--Qwen3-0.6B-GGUF/snapshots/aaa111"), 1000);
    set_mtime(at("hub/models--Qwen--Qwen3-0.6B-GGUF/snapshots/bbb222"), 2000);
    /* no refs: the newest snapshot */
    const char *repo2 = at("hub/models--someone--Tiny-GGUF");
    make_hub_repo(repo2, "old", "tiny-Q8_0.gguf", "b1", "Tiny", 7);
    make_hub_repo(repo2, "new", "sub/tiny-F16.gguf", "b2", "Tiny", 1);
    set_mtime(at("hub/models--someone--Tiny-GGUF/snapshots/old"), 1000);
    set_mtime(at("hub/models--someone--Tiny-GGUF/snapshots/new"), 3000);
    /* a download still in progress: the link has no blob yet */
    mkdirs(at("hub/models--x--Partial/snapshots/r1"));
    assert_int_equal(symlink("../../blobs/nothing", at("hub/models--x--Partial/snapshots/r1/p.gguf")),
                     0);
    mkdirs(at("hub/datasets--x--data/snapshots/r1"));
    model_gguf(at("hub/datasets--x--data/snapshots/r1/d.gguf"), "llama", "D", "1B", 7, 0);

    registry *r = open_reg();
    assert_int_equal(registry_count(r), 2);
    const registry_entry *e = get(r, "qwen3:0.6b");
    assert_string_equal(e->hf_repo, "Qwen/Qwen3-0.6B-GGUF");
    assert_string_equal(e->hf_revision, "aaa111");
    assert_string_equal(e->quant, "Q8_0");
    assert_string_equal(e->path, at("hub/models--Qwen--Qwen3-0.6B-GGUF/snapshots/aaa111/"
                                    "Qwen3-0.6B-Q8_0.gguf"));
    assert_int_equal(e->context, 32768);
    struct stat st;
    assert_int_equal(stat(at("hub/models--Qwen--Qwen3-0.6B-GGUF/blobs/blob1"), &st), 0);
    assert_int_equal(e->size, (uint64_t)st.st_size);
    registry_entry_release(e);

    e = get(r, "tiny:0.6b");
    assert_string_equal(e->hf_revision, "new");
    assert_string_equal(e->file_name, "tiny-F16.gguf");
    registry_entry_release(e);

    const char *forms[] = {"Qwen/Qwen3-0.6B-GGUF", "hf.co/qwen/qwen3-0.6b-gguf",
                           "hf.co/Qwen/Qwen3-0.6B-GGUF:Q8_0", "huggingface.co/Qwen/Qwen3-0.6B-GGUF:q8_0",
                           "Qwen3-0.6B-Q8_0.gguf"};
    for (size_t i = 0; i < sizeof forms / sizeof forms[0]; i++) {
        e = get(r, forms[i]);
        assert_string_equal(e->name, "qwen3:0.6b");
        registry_entry_release(e);
    }
    char err[512];
    const registry_entry *x;
    assert_int_equal(try_get(r, "hf.co/Qwen/Qwen3-0.6B-GGUF:Q4_K_M", &x, err, sizeof err),
                     REGISTRY_NOT_FOUND);

    /* the hub tools own their cache */
    assert_int_equal(registry_remove(r, "qwen3:0.6b", err, sizeof err), REGISTRY_FORBIDDEN);
    assert_non_null(strstr(err, "Hugging Face cache"));
    assert_true(exists(at("hub/models--Qwen--Qwen3-0.6B-GGUF/blobs/blob1")));

    /* switching refs/main switches the listed file */
    write_text(at("hub/models--Qwen--Qwen3-0.6B-GGUF/refs/main"), "bbb222");
    rescan(r);
    e = get(r, "qwen3:0.6b");
    assert_string_equal(e->quant, "Q4_K_M");
    assert_string_equal(e->hf_revision, "bbb222");
    registry_entry_release(e);
    registry_free(r);

    /* "" turns the hub off */
    const char *dirs[] = {at("models")};
    r = registry_new(dirs, 1, "");
    assert_null(registry_hf_hub_dir(r));
    rescan(r);
    assert_int_equal(registry_count(r), 0);
    registry_free(r);
}

static void test_hub_from_environment(void **state)
{
    (void)state;
    make_hub_repo(at("hf/hub/models--o--M"), "r", "m-Q8_0.gguf", "b", "Mm", 7);
    setenv("HF_HOME", at("hf"), 1);
    unsetenv("HF_HUB_CACHE");
    const char *dirs[] = {at("models")};
    registry *r = registry_new(dirs, 1, NULL);
    assert_string_equal(registry_hf_hub_dir(r), at("hf/hub"));
    rescan(r);
    const registry_entry *e = get(r, "o/m");
    assert_string_equal(e->name, "mm:0.6b");
    registry_entry_release(e);
    registry_free(r);
    setenv("HF_HUB_CACHE", at("elsewhere"), 1);
    r = registry_new(dirs, 1, NULL);
    assert_string_equal(registry_hf_hub_dir(r), at("elsewhere"));
    registry_free(r);
    unsetenv("HF_HUB_CACHE");
    unsetenv("HF_HOME");
}

static void test_split_gguf(void **state)
{
    (void)state;
    model_gguf(at("models/Big-7B-Q4_K_M-00001-of-00002.gguf"), "llama", "Big", "7B", 15, 4096);
    write_gguf(at("models/Big-7B-Q4_K_M-00002-of-00002.gguf"), NULL, 0);
    model_gguf(at("models/Half-1B-00001-of-00003.gguf"), "llama", "Half", "1B", 15, 4096);
    write_gguf(at("models/Half-1B-00003-of-00003.gguf"), NULL, 0);
    /* a lone later shard lists nothing */
    write_gguf(at("models/Orphan-00002-of-00002.gguf"), NULL, 0);

    registry *r = open_reg();
    assert_int_equal(registry_count(r), 2);
    const registry_entry *e = get(r, "big:7b");
    assert_true(e->split);
    assert_int_equal(e->n_shards, 2);
    assert_string_equal(e->shards[0], at("models/Big-7B-Q4_K_M-00001-of-00002.gguf"));
    assert_string_equal(e->shards[1], at("models/Big-7B-Q4_K_M-00002-of-00002.gguf"));
    struct stat a, b;
    assert_int_equal(stat(e->shards[0], &a), 0);
    assert_int_equal(stat(e->shards[1], &b), 0);
    assert_int_equal(e->size, (uint64_t)(a.st_size + b.st_size));
    assert_int_equal(e->n_params, 16);
    assert_true(has_warning(e, "split GGUF in 2 files"));
    assert_null(e->error);
    registry_entry_release(e);
    /* the file name without the split suffix resolves too */
    e = get(r, "Big-7B-Q4_K_M");
    registry_entry_release(e);

    e = get(r, "half:1b");
    assert_non_null(e->error);
    assert_non_null(strstr(e->error, "shard 2 of 3"));
    registry_entry_release(e);
    registry_free(r);
}

static void test_unreadable_gguf(void **state)
{
    (void)state;
    write_text(at("models/Broken-3B-Q8_0.gguf"), "GGUF\x03\x00\x00\x00 truncated");
    registry *r = open_reg();
    const registry_entry *e = get(r, "broken:3b");
    assert_non_null(e->error);
    assert_non_null(strstr(e->error, "unreadable GGUF"));
    assert_string_equal(e->quant, "Q8_0");
    registry_entry_release(e);
    registry_free(r);
}

static void test_resolution_forms(void **state)
{
    (void)state;
    model_gguf(at("models/Plain.gguf"), "llama", "Plain", NULL, 7, 0);
    model_gguf(at("models/SmolLM2-135M-Instruct-Q8_0.gguf"), "llama", "SmolLM2", "135M", 7, 0);
    rkllm_blob(at("models/Qwen3-0.6B-w8a8-rk3588.rkllm"));
    registry *r = open_reg();
    struct {
        const char *q, *want;
    } cases[] = {
        {"plain:latest", "plain:latest"},
        {"plain", "plain:latest"},                /* no tag means latest */
        {"PLAIN", "plain:latest"},
        {"smollm2:135m", "smollm2:135m"},
        {"smollm2", "smollm2:135m"},              /* unique base name */
        {"SmolLM2:135M", "smollm2:135m"},
        {"SmolLM2-135M-Instruct-Q8_0.gguf", "smollm2:135m"},
        {"smollm2-135m-instruct-q8_0", "smollm2:135m"},
        {"qwen3:0.6b-w8a8", "qwen3:0.6b-w8a8"},
        {"qwen3:0.6b", "qwen3:0.6b-w8a8"},        /* unique tag prefix */
        {"qwen3", "qwen3:0.6b-w8a8"},
        {"qwen3:latest", "qwen3:0.6b-w8a8"},      /* as clients that add :latest send it */
        {"Qwen3-0.6B-w8a8-rk3588.rkllm", "qwen3:0.6b-w8a8"},
        {"Qwen3-0.6B-w8a8-rk3588", "qwen3:0.6b-w8a8"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const registry_entry *e = get(r, cases[i].q);
        assert_string_equal(e->name, cases[i].want);
        registry_entry_release(e);
    }
    char err[256];
    const registry_entry *x;
    const char *missing[] = {"qwen3:0.6", "qwen", "smollm2:135", "qwen:latest", "qwen3:w8a8", "../models/Plain.gguf",
                             "/etc/passwd", "plain:latest/../../x", "models/Plain.gguf"};
    for (size_t i = 0; i < sizeof missing / sizeof missing[0]; i++)
        assert_int_equal(try_get(r, missing[i], &x, err, sizeof err), REGISTRY_NOT_FOUND);
    assert_non_null(strstr(err, "not found"));
    assert_int_equal(try_get(r, "", &x, err, sizeof err), REGISTRY_INVALID_NAME);
    assert_int_equal(try_get(r, NULL, &x, err, sizeof err), REGISTRY_INVALID_NAME);
    registry_free(r);
}

static void test_rescan(void **state)
{
    (void)state;
    model_gguf(at("models/A-1B.gguf"), "llama", "A", "1B", 7, 0);
    registry *r = open_reg();
    assert_int_equal(registry_count(r), 1);
    const registry_entry *held = get(r, "a:1b");
    registry_snapshot *old = registry_snapshot_get(r);

    model_gguf(at("models/new/B-2B.gguf"), "llama", "B", "2B", 7, 0);
    char err[256];
    assert_int_equal(registry_scan(r, err, sizeof err), 2);
    const registry_entry *e = get(r, "b:2b");
    registry_entry_release(e);

    assert_int_equal(unlink(at("models/A-1B.gguf")), 0);
    assert_int_equal(registry_scan(r, err, sizeof err), 1);
    const registry_entry *x;
    assert_int_equal(try_get(r, "a:1b", &x, err, sizeof err), REGISTRY_NOT_FOUND);
    /* what was held stays readable */
    assert_string_equal(held->name, "a:1b");
    assert_string_equal(held->path, at("models/A-1B.gguf"));
    assert_int_equal(registry_snapshot_count(old), 1);
    assert_string_equal(registry_snapshot_at(old, 0)->name, "a:1b");
    registry_snapshot_release(old);
    registry_entry_release(held);

    /* a missing models directory is a note, not an error */
    const char *dirs[] = {at("models"), at("nope")};
    registry *r2 = registry_new(dirs, 2, "");
    assert_int_equal(registry_scan(r2, err, sizeof err), 1);
    registry_snapshot *s = registry_snapshot_get(r2);
    assert_int_equal(registry_snapshot_n_warnings(s), 1);
    assert_non_null(strstr(registry_snapshot_warning(s, 0), "nope"));
    registry_snapshot_release(s);
    registry_free(r2);
    registry_free(r);
}

static void test_symlinks_and_duplicates(void **state)
{
    (void)state;
    model_gguf(at("models/real/Real-1B.gguf"), "llama", "Real", "1B", 7, 0);
    /* a loop, a link to the same file, and the directory listed twice */
    assert_int_equal(symlink("..", at("models/real/loop")), 0);
    assert_int_equal(symlink("Real-1B.gguf", at("models/real/alias.gguf")), 0);
    model_gguf(at("outside/Ext-1B.gguf"), "llama", "Ext", "1B", 7, 0);
    assert_int_equal(symlink(at("outside"), at("models/ext")), 0);
    const char *dirs[] = {at("models"), at("models/real")};
    registry *r = registry_new(dirs, 2, "");
    rescan(r);
    assert_int_equal(registry_count(r), 2);
    const registry_entry *e = get(r, "real:1b");
    assert_string_equal(e->path, at("models/real/Real-1B.gguf"));
    registry_entry_release(e);
    e = get(r, "ext:1b");
    assert_string_equal(e->path, at("models/ext/Ext-1B.gguf"));
    registry_entry_release(e);

    /* the symlinked directory points outside: its files are not ours to delete */
    char err[256];
    assert_int_equal(registry_remove(r, "ext:1b", err, sizeof err), REGISTRY_FORBIDDEN);
    assert_true(exists(at("outside/Ext-1B.gguf")));
    registry_free(r);
}

static void test_remove(void **state)
{
    (void)state;
    model_gguf(at("models/vlm/Vis-1B-Q8_0.gguf"), "llama", "Vis", "1B", 7, 0);
    model_gguf(at("models/vlm/Vis-1B-F16.gguf"), "llama", "Vis", "1B", 1, 0);
    model_gguf(at("models/vlm/mmproj-vis.gguf"), "clip", NULL, NULL, 1, 0);
    write_text(at("models/vlm/Vis-1B-Q8_0.json"), "{\"system\": \"s\"}");
    model_gguf(at("models/Split-1B-00001-of-00002.gguf"), "llama", "Split", "1B", 7, 0);
    write_gguf(at("models/Split-1B-00002-of-00002.gguf"), NULL, 0);
    /* a link in the models directory to a file elsewhere: only the link goes */
    model_gguf(at("outside/Linked-1B.gguf"), "llama", "Linked", "1B", 7, 0);
    assert_int_equal(symlink(at("outside/Linked-1B.gguf"), at("models/Linked-1B.gguf")), 0);

    registry *r = open_reg();
    assert_int_equal(registry_count(r), 4);
    char err[256];
    assert_int_equal(registry_remove(r, "vis:1b-q8_0", err, sizeof err), REGISTRY_OK);
    assert_false(exists(at("models/vlm/Vis-1B-Q8_0.gguf")));
    assert_false(exists(at("models/vlm/Vis-1B-Q8_0.json")));
    assert_true(exists(at("models/vlm/mmproj-vis.gguf"))); /* still used by the F16 one */
    assert_int_equal(registry_count(r), 3);
    assert_int_equal(registry_remove(r, "vis", err, sizeof err), REGISTRY_OK);
    assert_false(exists(at("models/vlm/Vis-1B-F16.gguf")));
    assert_false(exists(at("models/vlm/mmproj-vis.gguf")));

    assert_int_equal(registry_remove(r, "split:1b", err, sizeof err), REGISTRY_OK);
    assert_false(exists(at("models/Split-1B-00001-of-00002.gguf")));
    assert_false(exists(at("models/Split-1B-00002-of-00002.gguf")));

    assert_int_equal(registry_remove(r, "Linked-1B.gguf", err, sizeof err), REGISTRY_OK);
    assert_false(exists(at("models/Linked-1B.gguf")));
    assert_true(exists(at("outside/Linked-1B.gguf")));
    assert_int_equal(registry_count(r), 0);

    assert_int_equal(registry_remove(r, "../outside/Linked-1B.gguf", err, sizeof err),
                     REGISTRY_NOT_FOUND);
    assert_int_equal(registry_remove(r, "vis", err, sizeof err), REGISTRY_NOT_FOUND);
    registry_free(r);
}

static void test_copy(void **state)
{
    (void)state;
    model_gguf(at("models/m/Qwen3-0.6B-Q8_0.gguf"), "qwen3", "Qwen3", "0.6B", 7, 4096);
    model_gguf(at("models/m/mmproj-qwen3.gguf"), "clip", NULL, NULL, 1, 0);
    write_text(at("models/m/Qwen3-0.6B-Q8_0.json"),
               "{\"name\": \"qwen3:0.6b\", \"aliases\": [\"q\"], \"system\": \"orig\"}");
    make_hub_repo(at("hub/models--o--Hubby"), "r", "hubby-Q8_0.gguf", "b", "Hubby", 7);
    registry *r = open_reg();
    char err[256];
    assert_int_equal(registry_copy(r, "qwen3:0.6b", "Mine", err, sizeof err), REGISTRY_OK);
    const char *json = at("models/mine@latest.json");
    assert_true(exists(json));
    struct stat st;
    assert_int_equal(stat(json, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0644);

    const registry_entry *src = get(r, "qwen3:0.6b");
    const registry_entry *e = get(r, "mine");
    assert_string_equal(e->name, "mine:latest");
    assert_string_equal(e->copy_file, json);
    assert_string_equal(e->path, src->path);
    assert_string_equal(e->digest, src->digest);
    assert_int_equal(e->size, src->size);
    assert_string_equal(e->system, "orig");    /* the model's own settings carry over */
    assert_int_equal(e->n_aliases, 0);         /* but not its name and aliases */
    assert_int_equal(e->n_vision, 1);
    assert_null(src->copy_file);
    assert_string_equal(e->sidecar, src->sidecar);
    registry_entry_release(src);
    registry_entry_release(e);
    assert_int_equal(registry_count(r), 3);

    /* a copy of a copy keeps the copy's own fields; the JSON can be edited */
    write_text(json, "{\"name\": \"mine\", \"from\": \"m/Qwen3-0.6B-Q8_0.gguf\", \"system\": "
                     "\"edited\"}");
    assert_int_equal(registry_copy(r, "mine", "mine:two", err, sizeof err), REGISTRY_OK);
    e = get(r, "mine:two");
    assert_string_equal(e->system, "edited");
    registry_entry_release(e);
    /* the file name still means the model itself, not one of its copies */
    e = get(r, "Qwen3-0.6B-Q8_0.gguf");
    assert_string_equal(e->name, "qwen3:0.6b");
    registry_entry_release(e);

    /* refusals */
    const char *bad[] = {"../x", "a/b", "a:b:c", "", ".hidden", "x\\y", "sp ace"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(registry_copy(r, "qwen3:0.6b", bad[i], err, sizeof err),
                         REGISTRY_INVALID_NAME);
    assert_int_equal(registry_copy(r, "qwen3:0.6b", "mine:latest", err, sizeof err),
                     REGISTRY_EXISTS);
    assert_int_equal(registry_copy(r, "qwen3:0.6b", "q", err, sizeof err), REGISTRY_EXISTS);
    assert_int_equal(registry_copy(r, "qwen3:0.6b", "QWEN3:0.6B", err, sizeof err),
                     REGISTRY_EXISTS);
    assert_int_equal(registry_copy(r, "nothing", "fresh", err, sizeof err), REGISTRY_NOT_FOUND);
    assert_false(exists(at("models/fresh@latest.json")));

    /* a model with copies cannot go; the copies can */
    assert_int_equal(registry_remove(r, "qwen3:0.6b", err, sizeof err), REGISTRY_IN_USE);
    assert_non_null(strstr(err, "mine:latest"));
    assert_true(exists(at("models/m/Qwen3-0.6B-Q8_0.gguf")));
    assert_int_equal(registry_remove(r, "mine", err, sizeof err), REGISTRY_OK);
    assert_false(exists(json));
    assert_true(exists(at("models/m/Qwen3-0.6B-Q8_0.gguf")));
    assert_int_equal(registry_remove(r, "mine:two", err, sizeof err), REGISTRY_OK);
    assert_int_equal(registry_remove(r, "qwen3:0.6b", err, sizeof err), REGISTRY_OK);
    assert_false(exists(at("models/m/Qwen3-0.6B-Q8_0.gguf")));
    assert_false(exists(at("models/m/mmproj-qwen3.gguf")));

    /* a hub model: an absolute path */
    assert_int_equal(registry_copy(r, "hubby", "hub-copy:v2", err, sizeof err), REGISTRY_OK);
    char text[1024];
    FILE *f = fopen(at("models/hub-copy@v2.json"), "r");
    assert_non_null(f);
    size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = 0;
    assert_non_null(strstr(text, at("hub/models--o--Hubby/snapshots/r/hubby-Q8_0.gguf")));
    e = get(r, "hub-copy:v2");
    assert_null(e->hf_repo);
    registry_entry_release(e);
    /* a broken copy is a note; removing its model's file leaves it listed nowhere */
    write_text(at("models/dangling@x.json"), "{\"from\": \"gone.gguf\"}");
    rescan(r);
    registry_snapshot *s = registry_snapshot_get(r);
    bool noted = false;
    for (int i = 0; i < registry_snapshot_n_warnings(s); i++)
        noted |= strstr(registry_snapshot_warning(s, i), "dangling@x.json") != NULL;
    assert_true(noted);
    registry_snapshot_release(s);
    registry_free(r);
}

static void test_copy_creates_dir(void **state)
{
    (void)state;
    model_gguf(at("models/A-1B.gguf"), "llama", "A", "1B", 7, 0);
    const char *dirs[] = {at("fresh/models"), at("models")};
    registry *r = registry_new(dirs, 2, "");
    rescan(r);
    char err[256];
    assert_int_equal(registry_copy(r, "a", "b", err, sizeof err), REGISTRY_OK);
    assert_true(exists(at("fresh/models/b@latest.json")));
    const registry_entry *e = get(r, "b");
    assert_string_equal(e->path, at("models/A-1B.gguf"));
    assert_string_equal(e->models_dir, at("fresh/models"));
    registry_entry_release(e);
    registry_free(r);
}

static void test_directory_options(void **state)
{
    (void)state;
    char *old_home = getenv("HOME") ? strdup(getenv("HOME")) : NULL;
    setenv("HOME", at("home"), 1);
    registry *r = registry_new(NULL, 0, "");
    assert_int_equal(registry_n_dirs(r), 1);
    assert_string_equal(registry_dir(r, 0), at("home/.rkserve/models"));
    assert_null(registry_dir(r, 1));
    registry_free(r);

    char cwd[512], want[700];
    assert_non_null(getcwd(cwd, sizeof cwd));
    snprintf(want, sizeof want, "%s/rel/dir", strcmp(cwd, "/") ? cwd : "");
    const char *dirs[] = {"~/m/", "rel/dir/"};
    r = registry_new(dirs, 2, "~/hub");
    assert_string_equal(registry_dir(r, 0), at("home/m"));
    assert_string_equal(registry_dir(r, 1), want);
    assert_string_equal(registry_hf_hub_dir(r), at("home/hub"));
    registry_free(r);
    if (old_home)
        setenv("HOME", old_home, 1);
    else
        unsetenv("HOME");
    free(old_home);
}

/* ---- threads ---- */

typedef struct {
    registry *r;
    atomic_int stop;
    atomic_int resolved;
    int failures;
} race;

static void *resolver(void *arg)
{
    race *x = arg;
    while (!atomic_load(&x->stop)) {
        const registry_entry *e = NULL;
        char err[256];
        if (registry_resolve(x->r, "stable", &e, err, sizeof err) != REGISTRY_OK ||
            strcmp(e->file_name, "Stable-1B.gguf") != 0)
            x->failures++;
        if (e) {
            atomic_fetch_add(&x->resolved, 1);
            registry_entry_release(e);
        }
        registry_snapshot *s = registry_snapshot_get(x->r);
        for (int i = 0; i < registry_snapshot_count(s); i++)
            if (!registry_snapshot_at(s, i)->name[0])
                x->failures++;
        registry_snapshot_release(s);
    }
    return NULL;
}

static void test_concurrent_resolve_and_rescan(void **state)
{
    (void)state;
    model_gguf(at("models/Stable-1B.gguf"), "llama", "Stable", "1B", 7, 0);
    registry *r = open_reg();
    race x = {.r = r};
    atomic_init(&x.stop, 0);
    atomic_init(&x.resolved, 0);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, resolver, &x), 0);
    char err[256];
    for (int i = 0; i < 30; i++) {
        if (i % 2)
            model_gguf(at("models/Other-%d-1B.gguf", i), "llama", "Other", "1B", 7, 0);
        if (i % 5 == 0) {
            char dst[32];
            snprintf(dst, sizeof dst, "copy%d", i);
            assert_int_equal(registry_copy(r, "stable", dst, err, sizeof err), REGISTRY_OK);
        }
        assert_true(registry_scan(r, err, sizeof err) >= 1);
    }
    /* let the reader see the final list before stopping */
    while (atomic_load(&x.resolved) < 50)
        usleep(1000);
    atomic_store(&x.stop, 1);
    pthread_join(t, NULL);
    assert_int_equal(x.failures, 0);
    assert_int_equal(registry_count(r), 1 + 15 + 6);
    registry_free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_file_name_rules),
        cmocka_unit_test(test_sha256),
        cmocka_unit_test(test_name_valid),
        cmocka_unit_test_setup_teardown(test_gguf_metadata_names, setup, teardown),
        cmocka_unit_test_setup_teardown(test_collisions_get_quant, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rkllm_names_and_rknn, setup, teardown),
        cmocka_unit_test_setup_teardown(test_context_precedence, setup, teardown),
        cmocka_unit_test_setup_teardown(test_mmproj_companions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sidecars, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hf_cache, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hub_from_environment, setup, teardown),
        cmocka_unit_test_setup_teardown(test_split_gguf, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unreadable_gguf, setup, teardown),
        cmocka_unit_test_setup_teardown(test_resolution_forms, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rescan, setup, teardown),
        cmocka_unit_test_setup_teardown(test_symlinks_and_duplicates, setup, teardown),
        cmocka_unit_test_setup_teardown(test_remove, setup, teardown),
        cmocka_unit_test_setup_teardown(test_copy, setup, teardown),
        cmocka_unit_test_setup_teardown(test_copy_creates_dir, setup, teardown),
        cmocka_unit_test_setup_teardown(test_directory_options, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_resolve_and_rescan, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
