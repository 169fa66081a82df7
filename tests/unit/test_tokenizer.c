/* Tokenizer units: the streaming UTF-8 detokeniser at every split point and
 * on invalid bytes, the pre-tokenizer scanners on hand-picked strings with
 * known regex splits, special-token partitioning, and both BPE flavours on
 * tiny vocabularies built as GGUF images in memory. The real vocabularies are
 * checked against the JS reference by the tokenizer/MODEL ctest entries. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "format/gguf.h"
#include "engine/cpu/pretokenize.h"
#include "engine/cpu/tokenizer.h"
#include "engine/cpu/unicode.h"

/* ---------------------------------------------------------------- utf8 */

static bool valid_utf8(const char *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        size_t k = utf8_valid_len((const unsigned char *)s + i, n - i);
        if (!k)
            return false;
        i += k;
    }
    return true;
}

/* Pushes text in the given chunks, checks every output chunk is whole
 * UTF-8 by itself and returns the concatenation (static buffer). */
static const char *stream_chunks(const char *text, size_t len, const size_t *cuts, size_t ncuts)
{
    static char all[1024];
    size_t at = 0, prev = 0;
    utf8_stream st = {{0}, 0};
    char out[256];
    for (size_t i = 0; i <= ncuts; i++) {
        size_t end = i < ncuts ? cuts[i] : len;
        size_t n = utf8_stream_push(&st, text + prev, end - prev, out, sizeof out);
        assert_int_equal(strlen(out), n);
        assert_true(valid_utf8(out, n));
        memcpy(all + at, out, n);
        at += n;
        prev = end;
    }
    size_t n = utf8_stream_flush(&st, out, sizeof out);
    memcpy(all + at, out, n);
    at += n;
    all[at] = '\0';
    assert_int_equal(st.n_pending, 0);
    return all;
}

static void test_utf8_stream_every_split(void **state)
{
    (void)state;
    const char *text = "h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x98\x80!"; /* héllo € 😀! */
    size_t len = strlen(text);
    for (size_t a = 0; a <= len; a++) {
        for (size_t b = a; b <= len; b++) {
            size_t cuts[2] = {a, b};
            assert_string_equal(stream_chunks(text, len, cuts, 2), text);
        }
    }
    size_t one[64];
    for (size_t i = 0; i < len; i++)
        one[i] = i + 1;
    assert_string_equal(stream_chunks(text, len, one, len - 1), text);
}

static void test_utf8_stream_holds_partial(void **state)
{
    (void)state;
    utf8_stream st = {{0}, 0};
    char out[32];
    assert_int_equal(utf8_stream_push(&st, "\xf0\x9f", 2, out, sizeof out), 0);
    assert_string_equal(out, "");
    assert_int_equal(st.n_pending, 2);
    assert_int_equal(utf8_stream_push(&st, "\x98", 1, out, sizeof out), 0);
    assert_int_equal(st.n_pending, 3);
    assert_int_equal(utf8_stream_push(&st, "\x80x", 2, out, sizeof out), 5);
    assert_string_equal(out, "\xf0\x9f\x98\x80x");
    assert_int_equal(st.n_pending, 0);
}

#define FFFD "\xef\xbf\xbd"

static void test_utf8_stream_invalid(void **state)
{
    (void)state;
    static const struct {
        const char *in, *want;
    } cases[] = {
        {"\xff", FFFD},
        {"a\x80" "b", "a" FFFD "b"},
        {"\xc0\xaf", FFFD FFFD},                 /* overlong */
        {"\xed\xa0\x80", FFFD FFFD FFFD},        /* surrogate */
        {"\xe2\x82" "a", FFFD "a"},              /* cut short by an ASCII byte */
        {"\xf4\x90\x80\x80", FFFD FFFD FFFD FFFD}, /* past U+10FFFF */
        {"\xe2\x82", FFFD},                      /* unfinished at the end: flush */
        {"ok\xf0\x9f\x98", "ok" FFFD},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *in = cases[i].in;
        assert_string_equal(stream_chunks(in, strlen(in), NULL, 0), cases[i].want);
        /* the same byte by byte */
        size_t cuts[8];
        size_t n = strlen(in);
        for (size_t k = 0; k + 1 < n; k++)
            cuts[k] = k + 1;
        assert_string_equal(stream_chunks(in, n, cuts, n ? n - 1 : 0), cases[i].want);
    }
}

static void test_utf8_stream_small_buffer(void **state)
{
    (void)state;
    utf8_stream st = {{0}, 0};
    char out[5];
    /* "a€b" needs 6 bytes with the NUL: the euro sign must not be cut */
    size_t n = utf8_stream_push(&st, "a\xe2\x82\xac" "b", 5, out, sizeof out);
    assert_true(valid_utf8(out, n));
    assert_int_equal(strlen(out), n);
    assert_int_equal(n, 4);
    assert_string_equal(out, "a\xe2\x82\xac");
}

/* ---------------------------------------------------------------- scanners */

/* Splits text and compares with the expected pieces, given as one string
 * with pieces separated by '|' (none of the tests use '|'). */
static void expect_split(pretok_kind kind, const char *text, size_t len, const char *want)
{
    pretok_spans sp = {0};
    assert_int_equal(pretokenize(kind, text, len, &sp), 0);
    char got[512];
    size_t at = 0, covered = 0;
    for (size_t i = 0; i < sp.n; i++) {
        assert_int_equal(sp.v[i].off, covered);
        assert_true(sp.v[i].len > 0);
        covered += sp.v[i].len;
        if (i)
            got[at++] = '|';
        memcpy(got + at, text + sp.v[i].off, sp.v[i].len);
        at += sp.v[i].len;
    }
    got[at] = '\0';
    assert_int_equal(covered, len);
    if (strcmp(got, want) != 0)
        fail_msg("%s split of \"%s\": got \"%s\", want \"%s\"", pretok_kind_name(kind), text, got, want);
    pretok_spans_free(&sp);
}

#define SPLIT(kind, text, want) expect_split(kind, text, sizeof(text) - 1, want)

static void test_scan_llama3(void **state)
{
    (void)state;
    const pretok_kind k = PRETOK_LLAMA3;
    SPLIT(k, "Hello world", "Hello| world");
    SPLIT(k, "I'm 123456 ok", "I|'m| |123|456| ok");
    SPLIT(k, "HE'S don'T we'Ve 'LL", "HE|'S| don|'T| we|'Ve| '|LL");
    SPLIT(k, "a   b", "a|  | b");
    SPLIT(k, "end  ", "end|  ");
    SPLIT(k, "a \n\n b", "a| \n\n| b");
    SPLIT(k, "  \n  x", "  \n| | x");
    SPLIT(k, "x!!\n\ny", "x|!!\n\n|y");
    SPLIT(k, "$100 ...hi .hi x.hi", "$|100| ...|hi| .|hi| x|.hi");
    SPLIT(k, "\t\tx", "\t|\tx");
    SPLIT(k, "1234567", "123|456|7");
    SPLIT(k, "e\xcc\x81t", "e|\xcc\x81t");            /* combining mark is not \p{L} */
    SPLIT(k, "a\xe3\x80\x80\xe3\x80\x80" "b", "a|\xe3\x80\x80|\xe3\x80\x80" "b"); /* U+3000 is \s */
    SPLIT(k, "\xe4\xbd\xa0\xe5\xa5\xbd!", "\xe4\xbd\xa0\xe5\xa5\xbd|!");
    SPLIT(k, "a\xff" "b", "a|\xff" "b");             /* a bad byte is "other" */
    SPLIT(k, "\r\n\r\n", "\r\n\r\n");
    SPLIT(k, "x \r\n", "x| \r\n");
    SPLIT(k, "''", "''");
}

static void test_scan_qwen2_gpt2_smollm(void **state)
{
    (void)state;
    SPLIT(PRETOK_QWEN2, "12345 ab", "1|2|3|4|5| ab");
    SPLIT(PRETOK_QWEN2, "I'LL", "I|'LL");
    SPLIT(PRETOK_GPT2, "Hello world's  end", "Hello| world|'s| | end");
    SPLIT(PRETOK_GPT2, "I'M", "I|'|M");                /* case-sensitive */
    SPLIT(PRETOK_GPT2, "a  1 22 !? x", "a| | 1| 22| !?| x");
    SPLIT(PRETOK_GPT2, "x\n\ny", "x|\n|\n|y");         /* no newline rule */
    SPLIT(PRETOK_GPT2, "  ", "  ");
    SPLIT(PRETOK_SMOLLM, "abc123 x4", "abc|1|2|3| x|4");
    SPLIT(PRETOK_SMOLLM, "a 1", "a| |1");
    SPLIT(PRETOK_SMOLLM, "x  \xd9\xa3y", "x|  |\xd9\xa3|y"); /* Arabic-Indic digit is \p{N} */
}

static void test_scan_covers_random_text(void **state)
{
    (void)state;
    static const char *const alphabet[] = {"a", "Z", "7", " ", " ", "\t", "\n", "\r", "'", "s", "!",
                                           "\xc3\xa9", "\xcc\x81", "\xe4\xb8\xad", "\xf0\x9f\x98\x80",
                                           "\xe3\x80\x80", "\xff", "\x80"};
    uint32_t seed = 12345;
    for (int iter = 0; iter < 500; iter++) {
        char text[256];
        size_t len = 0;
        seed = seed * 1103515245u + 12345u;
        int n = (int)(seed >> 16) % 40;
        for (int i = 0; i < n; i++) {
            seed = seed * 1103515245u + 12345u;
            const char *c = alphabet[(seed >> 16) % (sizeof alphabet / sizeof alphabet[0])];
            memcpy(text + len, c, strlen(c));
            len += strlen(c);
        }
        for (int kind = PRETOK_GPT2; kind <= PRETOK_SMOLLM; kind++) {
            pretok_spans sp = {0};
            assert_int_equal(pretokenize((pretok_kind)kind, text, len, &sp), 0);
            size_t covered = 0;
            for (size_t i = 0; i < sp.n; i++) {
                assert_int_equal(sp.v[i].off, covered);
                assert_true(sp.v[i].len > 0);
                covered += sp.v[i].len;
            }
            assert_int_equal(covered, len);
            pretok_spans_free(&sp);
        }
    }
}

static void test_pretok_names(void **state)
{
    (void)state;
    pretok_kind k;
    assert_true(pretok_kind_from_name("llama-bpe", &k));
    assert_int_equal(k, PRETOK_LLAMA3);
    assert_true(pretok_kind_from_name("qwen2", &k));
    assert_int_equal(k, PRETOK_QWEN2);
    assert_true(pretok_kind_from_name("smollm", &k));
    assert_int_equal(k, PRETOK_SMOLLM);
    assert_true(pretok_kind_from_name("default", &k));
    assert_int_equal(k, PRETOK_GPT2);
    assert_false(pretok_kind_from_name("no-such-thing", &k));
    assert_int_equal(k, PRETOK_GPT2);
    assert_false(pretok_kind_from_name(NULL, &k));
}

/* ---------------------------------------------------------------- GGUF images */

typedef struct {
    uint8_t *p;
    size_t n, cap;
    uint64_t n_kv;
} image;

static void put(image *b, const void *d, size_t n)
{
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2 + 256;
        b->p = realloc(b->p, b->cap);
        assert_non_null(b->p);
    }
    memcpy(b->p + b->n, d, n);
    b->n += n;
}

static void put_u32(image *b, uint32_t v) { put(b, &v, 4); }
static void put_u64(image *b, uint64_t v) { put(b, &v, 8); }
static void put_str(image *b, const char *s) { put_u64(b, strlen(s)); put(b, s, strlen(s)); }

static void kv_key(image *b, const char *key, uint32_t type)
{
    put_str(b, key);
    put_u32(b, type);
    b->n_kv++;
}

static void kv_str(image *b, const char *key, const char *v) { kv_key(b, key, GGUF_TYPE_STRING); put_str(b, v); }
static void kv_u32(image *b, const char *key, uint32_t v) { kv_key(b, key, GGUF_TYPE_UINT32); put_u32(b, v); }
static void kv_bool(image *b, const char *key, bool v)
{
    uint8_t x = v;
    kv_key(b, key, GGUF_TYPE_BOOL);
    put(b, &x, 1);
}

static void kv_strs(image *b, const char *key, const char *const *v, size_t n)
{
    kv_key(b, key, GGUF_TYPE_ARRAY);
    put_u32(b, GGUF_TYPE_STRING);
    put_u64(b, n);
    for (size_t i = 0; i < n; i++)
        put_str(b, v[i]);
}

static void kv_i32s(image *b, const char *key, const int32_t *v, size_t n)
{
    kv_key(b, key, GGUF_TYPE_ARRAY);
    put_u32(b, GGUF_TYPE_INT32);
    put_u64(b, n);
    put(b, v, n * 4);
}

static void kv_f32s(image *b, const char *key, const float *v, size_t n)
{
    kv_key(b, key, GGUF_TYPE_ARRAY);
    put_u32(b, GGUF_TYPE_FLOAT32);
    put_u64(b, n);
    put(b, v, n * 4);
}

/* Header first, with n_kv patched in at the end. */
static void image_begin(image *b)
{
    memset(b, 0, sizeof *b);
    put(b, "GGUF", 4);
    put_u32(b, 3);
    put_u64(b, 0);
    put_u64(b, 0);
}

static tokenizer *image_load(image *b, gguf_file **gf)
{
    memcpy(b->p + 16, &b->n_kv, 8);
    char err[256];
    *gf = gguf_open_memory(b->p, b->n, err, sizeof err);
    if (!*gf)
        fail_msg("gguf: %s", err);
    tokenizer *t = tokenizer_load(*gf, err, sizeof err);
    if (!t)
        fail_msg("tokenizer: %s", err);
    return t;
}

static void encode_expect(const tokenizer *t, const char *text, bool bos, bool special, const int32_t *want,
                          int64_t nwant)
{
    int32_t ids[128];
    int64_t n = tokenizer_encode(t, text, strlen(text), bos, special, ids, 128);
    if (n != nwant || memcmp(ids, want, (size_t)n * sizeof *ids) != 0) {
        char msg[512];
        int at = snprintf(msg, sizeof msg, "\"%s\": got", text);
        for (int64_t i = 0; i < n && i < 40; i++)
            at += snprintf(msg + at, sizeof msg - (size_t)at, " %d", ids[i]);
        fail_msg("%s", msg);
    }
}

#define EXPECT(t, text, bos, special, ...)                                                   \
    do {                                                                                     \
        static const int32_t w_[] = {__VA_ARGS__};                                           \
        encode_expect(t, text, bos, special, w_, (int64_t)(sizeof w_ / sizeof w_[0]));       \
    } while (0)

/* ---------------------------------------------------------------- gpt2 model */

/* GPT-2's byte→char map, written out independently of tokenizer.c. */
static uint32_t byte_char(int b)
{
    if ((b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF))
        return (uint32_t)b;
    int k = 0;
    for (int i = 0; i < b; i++)
        if (!((i >= '!' && i <= '~') || (i >= 0xA1 && i <= 0xAC) || (i >= 0xAE && i <= 0xFF)))
            k++;
    return 256u + (uint32_t)k;
}

enum {
    G_AB = 256, G_ABC, G_GA, G_GAB, G_BC, G_SPECIAL, G_USER, G_LONG, G_LO, G_EOT, G_N
};

static tokenizer *gpt2_vocab(gguf_file **gf, const char *pre, bool add_bos)
{
    static char bytes[256][4];
    const char *tok[G_N];
    int32_t type[G_N];
    for (int b = 0; b < 256; b++) {
        size_t k = utf8_encode(byte_char(b), bytes[b]);
        bytes[b][k] = '\0';
        tok[b] = bytes[b];
        type[b] = TOKEN_TYPE_NORMAL;
    }
    tok[G_AB] = "ab";
    tok[G_ABC] = "abc";
    tok[G_GA] = "\xc4\xa0" "a"; /* "Ġa" = " a" */
    tok[G_GAB] = "\xc4\xa0" "ab";
    tok[G_BC] = "bc";
    tok[G_SPECIAL] = "<|s|>";
    tok[G_USER] = "<u>";
    tok[G_LONG] = "<|long|>";
    tok[G_LO] = "<|lo";
    tok[G_EOT] = "<|im_end|>";
    for (int i = G_AB; i < G_N; i++)
        type[i] = TOKEN_TYPE_NORMAL;
    type[G_SPECIAL] = type[G_LONG] = type[G_LO] = type[G_EOT] = TOKEN_TYPE_CONTROL;
    type[G_USER] = TOKEN_TYPE_USER_DEFINED;
    /* "b c" outranks "a b": "abc" must come out as a + bc, then a + bc → abc */
    static const char *const merges[] = {"b c", "a b", "\xc4\xa0 a", ("\xc4\xa0" "a b"), "a bc", "ab c"};
    image b;
    image_begin(&b);
    kv_str(&b, "general.architecture", "llama");
    kv_str(&b, "tokenizer.ggml.model", "gpt2");
    if (pre)
        kv_str(&b, "tokenizer.ggml.pre", pre);
    kv_strs(&b, "tokenizer.ggml.tokens", tok, G_N);
    kv_i32s(&b, "tokenizer.ggml.token_type", type, G_N);
    kv_strs(&b, "tokenizer.ggml.merges", merges, sizeof merges / sizeof merges[0]);
    kv_u32(&b, "tokenizer.ggml.bos_token_id", G_SPECIAL);
    kv_u32(&b, "tokenizer.ggml.eos_token_id", G_LONG);
    kv_bool(&b, "tokenizer.ggml.add_bos_token", add_bos);
    tokenizer *t = image_load(&b, gf);
    free(b.p); /* the tokenizer keeps copies */
    return t;
}

static void test_gpt2_bpe(void **state)
{
    (void)state;
    gguf_file *gf;
    tokenizer *t = gpt2_vocab(&gf, "gpt2", false);
    gguf_close(gf);
    assert_string_equal(tokenizer_model_name(t), "gpt2");
    assert_string_equal(tokenizer_pre_name(t), "gpt2");
    assert_null(tokenizer_warning(t));
    assert_int_equal(tokenizer_n_vocab(t), G_N);
    EXPECT(t, "abc", false, true, G_ABC);  /* b+c first, then a+bc */
    EXPECT(t, "ab", false, true, G_AB);
    EXPECT(t, " a", false, true, G_GA);
    /* " ab": a+b outranks Ġ+a, and there is no "Ġ ab" merge */
    EXPECT(t, "ab ab", false, true, G_AB, ' ', G_AB);
    EXPECT(t, "abd", false, true, G_AB, 'd');
    int32_t none[1];
    assert_int_equal(tokenizer_encode(t, "", 0, true, true, none, 1), 0);
    /* bytes that are not valid UTF-8 still get their byte tokens */
    int32_t ids[8];
    assert_int_equal(tokenizer_encode(t, "\xff\x80", 2, false, true, ids, 8), 2);
    assert_int_equal(ids[0], 0xff);
    assert_int_equal(ids[1], 0x80);
    /* cap: the count is returned, nothing written past cap */
    ids[1] = -7;
    assert_int_equal(tokenizer_encode(t, "ab ab", 5, false, true, ids, 1), 3);
    assert_int_equal(ids[0], G_AB);
    assert_int_equal(ids[1], -7);
    assert_true(tokenizer_encode(t, NULL, 3, false, true, ids, 8) < 0);
    tokenizer_free(t);
}

static void test_special_tokens(void **state)
{
    (void)state;
    gguf_file *gf;
    tokenizer *t = gpt2_vocab(&gf, "llama-bpe", true);
    gguf_close(gf);
    EXPECT(t, "ab<|s|>ab", false, true, G_AB, G_SPECIAL, G_AB);
    /* without parse_special the control token is plain text */
    EXPECT(t, "<|s|>", false, false, '<', '|', 's', '|', '>');
    /* user-defined tokens are split out either way */
    EXPECT(t, "a<u>b", false, false, 'a', G_USER, 'b');
    EXPECT(t, "a<u>b", false, true, 'a', G_USER, 'b');
    /* longest match at the leftmost position */
    EXPECT(t, "<|long|>", false, true, G_LONG);
    EXPECT(t, "<|lo<|long|>", false, true, G_LO, G_LONG);
    EXPECT(t, "<|lon", false, true, G_LO, 'n');
    EXPECT(t, "<u><u>", false, true, G_USER, G_USER);
    /* add_bos_token: BOS only when asked for */
    EXPECT(t, "ab", true, true, G_SPECIAL, G_AB);
    EXPECT(t, "ab", false, true, G_AB);
    /* llama-bpe ignores merges for a piece that is a token as a whole */
    EXPECT(t, " ab", false, true, G_GAB);
    assert_true(tokenizer_is_control(t, G_SPECIAL));
    assert_false(tokenizer_is_control(t, G_USER));
    assert_true(tokenizer_is_eog(t, G_LONG));  /* declared EOS */
    assert_true(tokenizer_is_eog(t, G_EOT));   /* known end-of-turn text */
    assert_false(tokenizer_is_eog(t, G_AB));
    assert_false(tokenizer_is_eog(t, -1));
    assert_false(tokenizer_is_eog(t, G_N));
    assert_int_equal(tokenizer_bos(t), G_SPECIAL);
    assert_int_equal(tokenizer_eos(t), G_LONG);
    assert_int_equal(tokenizer_find(t, "<|long|>"), G_LONG);
    assert_int_equal(tokenizer_find(t, "nope"), -1);
    tokenizer_free(t);
}

static void test_gpt2_pieces(void **state)
{
    (void)state;
    gguf_file *gf;
    tokenizer *t = gpt2_vocab(&gf, "no-such-pre", false);
    gguf_close(gf);
    assert_non_null(tokenizer_warning(t));
    assert_non_null(strstr(tokenizer_warning(t), "no-such-pre"));
    char buf[16];
    assert_int_equal(tokenizer_token_to_piece(t, G_GAB, false, buf, sizeof buf), 3);
    assert_memory_equal(buf, " ab", 3);
    assert_int_equal(tokenizer_token_to_piece(t, '\n', false, buf, sizeof buf), 1);
    assert_int_equal(buf[0], '\n');
    assert_int_equal(tokenizer_token_to_piece(t, 0xE2, false, buf, sizeof buf), 1);
    assert_int_equal((unsigned char)buf[0], 0xE2);
    assert_int_equal(tokenizer_token_to_piece(t, G_SPECIAL, false, buf, sizeof buf), 0);
    assert_int_equal(tokenizer_token_to_piece(t, G_SPECIAL, true, buf, sizeof buf), 5);
    assert_memory_equal(buf, "<|s|>", 5);
    assert_int_equal(tokenizer_token_to_piece(t, G_USER, false, buf, sizeof buf), 3);
    /* too small: the full length is returned, only cap bytes written */
    memset(buf, '#', sizeof buf);
    assert_int_equal(tokenizer_token_to_piece(t, G_LONG, true, buf, 3), 8);
    assert_memory_equal(buf, "<|l#", 4);
    assert_true(tokenizer_token_to_piece(t, G_N, true, buf, sizeof buf) < 0);
    assert_true(tokenizer_token_to_piece(t, -1, true, buf, sizeof buf) < 0);
    /* every byte decodes back to itself through the byte-level map */
    for (int b = 0; b < 256; b++) {
        assert_int_equal(tokenizer_token_to_piece(t, b, false, buf, sizeof buf), 1);
        assert_int_equal((unsigned char)buf[0], b);
    }
    tokenizer_free(t);
}

/* ---------------------------------------------------------------- llama model */

enum { L_UNK = 0, L_BOS, L_EOS, L_BYTES, L_SP = L_BYTES + 256, L_A, L_B, L_SPA, L_AB, L_SPAB, L_AA, L_C, L_USER, L_N };

static tokenizer *spm_vocab(gguf_file **gf, float ab_score, bool space_prefix_key, bool space_prefix)
{
    static char names[256][8];
    const char *tok[L_N];
    int32_t type[L_N];
    float score[L_N];
    tok[L_UNK] = "<unk>";
    tok[L_BOS] = "<s>";
    tok[L_EOS] = "</s>";
    type[L_UNK] = TOKEN_TYPE_UNKNOWN;
    type[L_BOS] = type[L_EOS] = TOKEN_TYPE_CONTROL;
    for (int b = 0; b < 256; b++) {
        snprintf(names[b], sizeof names[b], "<0x%02X>", b);
        tok[L_BYTES + b] = names[b];
        type[L_BYTES + b] = TOKEN_TYPE_BYTE;
    }
    tok[L_SP] = "\xe2\x96\x81";
    tok[L_A] = "a";
    tok[L_B] = "b";
    tok[L_SPA] = "\xe2\x96\x81" "a";
    tok[L_AB] = "ab";
    tok[L_SPAB] = "\xe2\x96\x81" "ab";
    tok[L_AA] = "aa";
    tok[L_C] = "c";
    tok[L_USER] = "<hr>";
    for (int i = 0; i < L_N; i++)
        score[i] = 0.0f;
    for (int i = L_SP; i < L_N; i++)
        type[i] = TOKEN_TYPE_NORMAL;
    type[L_USER] = TOKEN_TYPE_USER_DEFINED;
    score[L_SPA] = -1.0f;
    score[L_AB] = ab_score;
    score[L_SPAB] = -3.0f;
    score[L_AA] = -4.0f;
    image b;
    image_begin(&b);
    kv_str(&b, "general.architecture", "llama");
    kv_str(&b, "tokenizer.ggml.model", "llama");
    kv_str(&b, "tokenizer.ggml.pre", "default");
    kv_strs(&b, "tokenizer.ggml.tokens", tok, L_N);
    kv_f32s(&b, "tokenizer.ggml.scores", score, L_N);
    kv_i32s(&b, "tokenizer.ggml.token_type", type, L_N);
    if (space_prefix_key)
        kv_bool(&b, "tokenizer.ggml.add_space_prefix", space_prefix);
    tokenizer *t = image_load(&b, gf);
    free(b.p);
    return t;
}

static void test_spm_bpe(void **state)
{
    (void)state;
    gguf_file *gf;
    /* "▁a" (-1) outranks "ab" (-2): ▁ab is built as ▁a + b */
    tokenizer *t = spm_vocab(&gf, -2.0f, false, false);
    gguf_close(gf);
    assert_string_equal(tokenizer_model_name(t), "llama");
    assert_int_equal(tokenizer_bos(t), L_BOS); /* llama defaults: 1 and 2 */
    assert_int_equal(tokenizer_eos(t), L_EOS);
    EXPECT(t, "ab", false, true, L_SPAB);
    EXPECT(t, "ab", true, true, L_BOS, L_SPAB);         /* add_bos defaults to true */
    EXPECT(t, "a b", false, true, L_SPA, L_SP, L_B);
    EXPECT(t, "aaa", false, true, L_SPA, L_AA);         /* ▁a first, then the pair a a */
    EXPECT(t, "c\xe2\x82\xac", false, true, L_SP, L_C, L_BYTES + 0xE2, L_BYTES + 0x82, L_BYTES + 0xAC);
    EXPECT(t, "\xff", false, true, L_SP, L_BYTES + 0xFF); /* a bad byte falls back to its token */
    /* a space prefix again after each special token */
    EXPECT(t, "<s>a</s>b", false, true, L_BOS, L_SPA, L_EOS, L_SP, L_B);
    EXPECT(t, "a<hr>a", false, false, L_SPA, L_USER, L_SPA);
    /* without parse_special, <s> is text: < s > have no tokens, so bytes */
    EXPECT(t, "<s>", false, false, L_SP, L_BYTES + '<', L_BYTES + 's', L_BYTES + '>');
    EXPECT(t, "", true, true, L_BOS);
    tokenizer_free(t);

    /* no space prefix: "ab" (-2) outranks "aa" (-4); equal scores go leftmost */
    t = spm_vocab(&gf, -2.0f, true, false);
    gguf_close(gf);
    EXPECT(t, "aab", false, true, L_A, L_AB);
    EXPECT(t, "aaa", false, true, L_AA, L_A);
    EXPECT(t, " a", false, true, L_SPA);
    tokenizer_free(t);

    /* "ab" (-5) now below "aa" (-4) */
    t = spm_vocab(&gf, -5.0f, true, false);
    gguf_close(gf);
    EXPECT(t, "aab", false, true, L_AA, L_B);
    EXPECT(t, "ab", false, true, L_AB);
    tokenizer_free(t);
}

static void test_spm_decode(void **state)
{
    (void)state;
    gguf_file *gf;
    tokenizer *t = spm_vocab(&gf, -2.0f, false, false);
    gguf_close(gf);
    char buf[16];
    assert_int_equal(tokenizer_token_to_piece(t, L_SPAB, false, buf, sizeof buf), 3);
    assert_memory_equal(buf, " ab", 3);
    assert_int_equal(tokenizer_token_to_piece(t, L_BYTES + 0x41, false, buf, sizeof buf), 1);
    assert_int_equal(buf[0], 'A');
    assert_int_equal(tokenizer_token_to_piece(t, L_BOS, false, buf, sizeof buf), 0);
    assert_int_equal(tokenizer_token_to_piece(t, L_BOS, true, buf, sizeof buf), 3);
    assert_int_equal(tokenizer_token_to_piece(t, L_USER, false, buf, sizeof buf), 4);
    /* byte tokens through the stream come out as whole characters */
    int32_t ids[16];
    const char *text = "c\xe2\x82\xac!";
    int64_t n = tokenizer_encode(t, text, strlen(text), false, false, ids, 16);
    assert_true(n > 0);
    utf8_stream st = {{0}, 0};
    char all[64] = "", out[32];
    for (int64_t i = 0; i < n; i++) {
        int m = tokenizer_token_to_piece(t, ids[i], false, buf, sizeof buf);
        size_t k = utf8_stream_push(&st, buf, (size_t)m, out, sizeof out);
        assert_true(valid_utf8(out, k));
        strcat(all, out);
    }
    utf8_stream_flush(&st, out, sizeof out);
    strcat(all, out);
    assert_string_equal(all, " c\xe2\x82\xac!");
    tokenizer_free(t);
}

static void test_load_errors(void **state)
{
    (void)state;
    image b;
    image_begin(&b);
    kv_str(&b, "general.architecture", "llama");
    kv_str(&b, "tokenizer.ggml.model", "wordpiece");
    memcpy(b.p + 16, &b.n_kv, 8);
    char err[128] = "";
    gguf_file *gf = gguf_open_memory(b.p, b.n, err, sizeof err);
    assert_non_null(gf);
    assert_null(tokenizer_load(gf, err, sizeof err));
    assert_non_null(strstr(err, "wordpiece"));
    gguf_close(gf);
    free(b.p);

    /* gpt2 without merges */
    static const char *const toks[] = {"a", "b"};
    image_begin(&b);
    kv_str(&b, "tokenizer.ggml.model", "gpt2");
    kv_strs(&b, "tokenizer.ggml.tokens", toks, 2);
    memcpy(b.p + 16, &b.n_kv, 8);
    gf = gguf_open_memory(b.p, b.n, err, sizeof err);
    assert_non_null(gf);
    assert_null(tokenizer_load(gf, err, sizeof err));
    assert_non_null(strstr(err, "merges"));
    gguf_close(gf);
    free(b.p);

    /* a token_type array of the wrong length */
    static const int32_t types[] = {1};
    image_begin(&b);
    kv_str(&b, "tokenizer.ggml.model", "llama");
    kv_strs(&b, "tokenizer.ggml.tokens", toks, 2);
    kv_i32s(&b, "tokenizer.ggml.token_type", types, 1);
    memcpy(b.p + 16, &b.n_kv, 8);
    gf = gguf_open_memory(b.p, b.n, err, sizeof err);
    assert_non_null(gf);
    assert_null(tokenizer_load(gf, err, sizeof err));
    gguf_close(gf);
    free(b.p);
    assert_null(tokenizer_load(NULL, err, sizeof err));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_utf8_stream_every_split),
        cmocka_unit_test(test_utf8_stream_holds_partial),
        cmocka_unit_test(test_utf8_stream_invalid),
        cmocka_unit_test(test_utf8_stream_small_buffer),
        cmocka_unit_test(test_scan_llama3),
        cmocka_unit_test(test_scan_qwen2_gpt2_smollm),
        cmocka_unit_test(test_scan_covers_random_text),
        cmocka_unit_test(test_pretok_names),
        cmocka_unit_test(test_gpt2_bpe),
        cmocka_unit_test(test_special_tokens),
        cmocka_unit_test(test_gpt2_pieces),
        cmocka_unit_test(test_spm_bpe),
        cmocka_unit_test(test_spm_decode),
        cmocka_unit_test(test_load_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
