/* Stop-string matcher: exact emitted/held text at each step, overlaps,
 * UTF-8 boundaries, capacity limits, and a randomized comparison with a
 * whole-text oracle over arbitrary splits of the input. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "core/stop.h"

typedef struct {
    char text[4096];
    size_t len;
} sink;

static void push_str(stop_matcher *m, sink *o, const char *s, bool *stopped)
{
    size_t n = stop_matcher_push(m, s, strlen(s), o->text + o->len, sizeof o->text - o->len, stopped);
    assert_true(n != (size_t)-1);
    o->len += n;
    o->text[o->len] = 0;
}

static void flush_all(stop_matcher *m, sink *o)
{
    o->len += stop_matcher_flush(m, o->text + o->len, sizeof o->text - o->len);
    o->text[o->len] = 0;
}

static void test_no_stops_passes_through(void **state)
{
    (void)state;
    stop_matcher m;
    assert_true(stop_matcher_init(&m, NULL, 0));
    sink o = {0};
    bool stopped = true;
    push_str(&m, &o, "hello ", &stopped);
    assert_false(stopped);
    assert_string_equal(o.text, "hello ");
    assert_int_equal(stop_matcher_pending(&m), 0);
    /* an unfinished character is held, never split */
    push_str(&m, &o, "caf\xC3", &stopped);
    assert_string_equal(o.text, "hello caf");
    assert_int_equal(stop_matcher_pending(&m), 1);
    push_str(&m, &o, "\xA9 \xE4\xBD", &stopped);
    assert_string_equal(o.text, "hello caf\xC3\xA9 ");
    assert_int_equal(stop_matcher_pending(&m), 2);
    push_str(&m, &o, "\xA0", &stopped);
    assert_string_equal(o.text, "hello caf\xC3\xA9 \xE4\xBD\xA0");
    assert_int_equal(stop_matcher_matched(&m), -1);
    stop_matcher_free(&m);

    /* empty and NULL stop strings are ignored */
    const char *empties[] = {"", NULL};
    assert_true(stop_matcher_init(&m, empties, 2));
    o.len = 0;
    push_str(&m, &o, "a<b", &stopped);
    assert_false(stopped);
    assert_string_equal(o.text, "a<b");
    stop_matcher_free(&m);
}

static void test_basic_stop(void **state)
{
    (void)state;
    const char *stops[] = {"</s>"};
    stop_matcher m;
    assert_true(stop_matcher_init(&m, stops, 1));
    sink o = {0};
    bool stopped = false;
    push_str(&m, &o, "Hello</s>world", &stopped);
    assert_true(stopped);
    assert_string_equal(o.text, "Hello");
    assert_int_equal(stop_matcher_matched(&m), 0);
    /* input after the stop is ignored */
    push_str(&m, &o, "more", &stopped);
    assert_true(stopped);
    flush_all(&m, &o);
    assert_string_equal(o.text, "Hello");
    stop_matcher_free(&m);
}

static void test_spanning_pushes(void **state)
{
    (void)state;
    const char *stops[] = {"<|im_end|>"};
    stop_matcher m;
    assert_true(stop_matcher_init(&m, stops, 1));
    sink o = {0};
    bool stopped = false;
    push_str(&m, &o, "ab<", &stopped);
    assert_string_equal(o.text, "ab");
    assert_int_equal(stop_matcher_pending(&m), 1);
    push_str(&m, &o, "|im", &stopped);
    assert_string_equal(o.text, "ab");
    assert_int_equal(stop_matcher_pending(&m), 4);
    push_str(&m, &o, "_", &stopped);
    push_str(&m, &o, "en", &stopped);
    assert_false(stopped);
    assert_int_equal(stop_matcher_pending(&m), 7);
    push_str(&m, &o, "d|", &stopped);
    assert_false(stopped);
    push_str(&m, &o, ">tail", &stopped);
    assert_true(stopped);
    assert_string_equal(o.text, "ab");
    assert_int_equal(stop_matcher_pending(&m), 0);
    stop_matcher_free(&m);
}

static void test_false_prefix_released(void **state)
{
    (void)state;
    const char *stops[] = {"<|im_end|>"};
    stop_matcher m;
    assert_true(stop_matcher_init(&m, stops, 1));
    sink o = {0};
    bool stopped = false;
    push_str(&m, &o, "x<|im", &stopped);
    assert_string_equal(o.text, "x");
    push_str(&m, &o, "_start|>", &stopped);
    assert_false(stopped);
    assert_string_equal(o.text, "x<|im_start|>");
    /* a new prefix right after a broken one is still held */
    push_str(&m, &o, "<<|", &stopped);
    assert_string_equal(o.text, "x<|im_start|><");
    assert_int_equal(stop_matcher_pending(&m), 2);
    flush_all(&m, &o);
    assert_string_equal(o.text, "x<|im_start|><<|");
    assert_false(stopped);
    stop_matcher_free(&m);
}

static void test_overlapping_candidates(void **state)
{
    (void)state;
    stop_matcher m;
    sink o = {0};
    bool stopped = false;

    /* the stop completing first wins, even if another started earlier */
    const char *s1[] = {"abcd", "bc"};
    assert_true(stop_matcher_init(&m, s1, 2));
    push_str(&m, &o, "xa", &stopped);
    push_str(&m, &o, "bcd", &stopped);
    assert_true(stopped);
    assert_string_equal(o.text, "xa");
    assert_int_equal(stop_matcher_matched(&m), 1);
    stop_matcher_free(&m);

    /* self-overlapping prefix: "aaab" contains "aab" from the second a */
    const char *s2[] = {"aab"};
    assert_true(stop_matcher_init(&m, s2, 1));
    o.len = 0;
    const char *bytes[] = {"a", "a", "a", "b"};
    for (int i = 0; i < 4; i++)
        push_str(&m, &o, bytes[i], &stopped);
    assert_true(stopped);
    assert_string_equal(o.text, "a");
    stop_matcher_free(&m);

    /* two stops ending on the same byte: the longer (earlier) one */
    const char *s3[] = {"bc", "abc"};
    assert_true(stop_matcher_init(&m, s3, 2));
    o.len = 0;
    push_str(&m, &o, "zab", &stopped);
    push_str(&m, &o, "c", &stopped);
    assert_string_equal(o.text, "z");
    assert_int_equal(stop_matcher_matched(&m), 1);
    stop_matcher_free(&m);

    /* matched index counts skipped empty entries */
    const char *s4[] = {"", "END", NULL, "STOP"};
    assert_true(stop_matcher_init(&m, s4, 4));
    o.len = 0;
    push_str(&m, &o, "one STOP two END", &stopped);
    assert_string_equal(o.text, "one ");
    assert_int_equal(stop_matcher_matched(&m), 3);
    stop_matcher_free(&m);
}

static bool whole_chars(const char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        unsigned char c = (unsigned char)s[i];
        size_t l = c < 0x80 ? 1 : c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : 2;
        if (i + l > n)
            return false;
        for (size_t k = 1; k < l; k++)
            if (((unsigned char)s[i + k] & 0xC0) != 0x80)
                return false;
        i += l;
    }
    return true;
}

static void test_utf8_never_split(void **state)
{
    (void)state;
    /* "你好。再见" with stop "。" (E3 80 82), fed one byte at a time */
    const char *text = "\xE4\xBD\xA0\xE5\xA5\xBD\xE3\x80\x82\xE5\x86\x8D\xE8\xA7\x81";
    const char *stops[] = {"\xE3\x80\x82"};
    stop_matcher m;
    assert_true(stop_matcher_init(&m, stops, 1));
    sink o = {0};
    bool stopped = false;
    for (size_t i = 0; i < strlen(text); i++) {
        char out[16];
        size_t n = stop_matcher_push(&m, text + i, 1, out, sizeof out, &stopped);
        assert_true(whole_chars(out, n));
        memcpy(o.text + o.len, out, n);
        o.len += n;
    }
    o.text[o.len] = 0;
    assert_true(stopped);
    assert_string_equal(o.text, "\xE4\xBD\xA0\xE5\xA5\xBD");
    stop_matcher_free(&m);

    /* stop "éx": a held "é" is released whole once the x fails to come */
    const char *s2[] = {"\xC3\xA9x"};
    assert_true(stop_matcher_init(&m, s2, 1));
    o.len = 0;
    push_str(&m, &o, "\xC3", &stopped);
    assert_int_equal(o.len, 0);
    push_str(&m, &o, "\xA9", &stopped);
    assert_int_equal(o.len, 0);
    assert_int_equal(stop_matcher_pending(&m), 2);
    push_str(&m, &o, "\xC3", &stopped);
    assert_string_equal(o.text, "\xC3\xA9");
    push_str(&m, &o, "\xA9y", &stopped);
    assert_string_equal(o.text, "\xC3\xA9\xC3\xA9y");
    assert_false(stopped);
    stop_matcher_free(&m);

    /* a stop string starting mid-character (not valid UTF-8 on its own)
     * still never makes the held text start inside a character */
    const char *s3[] = {"\xA9z"};
    assert_true(stop_matcher_init(&m, s3, 1));
    o.len = 0;
    push_str(&m, &o, "a\xC3\xA9", &stopped);
    assert_string_equal(o.text, "a");
    assert_int_equal(stop_matcher_pending(&m), 2);
    push_str(&m, &o, "q", &stopped);
    assert_string_equal(o.text, "a\xC3\xA9q");
    assert_false(stopped);
    stop_matcher_free(&m);

    /* malformed bytes are passed on, not held forever */
    assert_true(stop_matcher_init(&m, NULL, 0));
    o.len = 0;
    push_str(&m, &o, "a\x80\x80\x80\x80", &stopped);
    assert_int_equal(o.len, 5);
    push_str(&m, &o, "\xFF", &stopped);
    assert_int_equal(o.len, 6);
    stop_matcher_free(&m);
}

static void test_flush_releases_partial(void **state)
{
    (void)state;
    const char *stops[] = {"<|im_end|>"};
    stop_matcher m;
    assert_true(stop_matcher_init(&m, stops, 1));
    sink o = {0};
    bool stopped = false;
    push_str(&m, &o, "abc<|im", &stopped);
    assert_string_equal(o.text, "abc");
    flush_all(&m, &o);
    assert_string_equal(o.text, "abc<|im");
    assert_int_equal(stop_matcher_pending(&m), 0);
    /* an unfinished character comes out raw at the end */
    push_str(&m, &o, "\xE4\xBD", &stopped);
    flush_all(&m, &o);
    assert_string_equal(o.text, "abc<|im\xE4\xBD");
    stop_matcher_free(&m);
}

static void test_small_capacity(void **state)
{
    (void)state;
    const char *stops[] = {"STOP"};
    stop_matcher m;
    assert_true(stop_matcher_init(&m, stops, 1));
    char out[8];
    bool stopped = false;
    /* "ééé..." in 3-byte room: whole characters only */
    const char *text = "\xC3\xA9\xC3\xA9\xC3\xA9zSTOPx";
    size_t n = stop_matcher_push(&m, text, strlen(text), out, 3, &stopped);
    assert_true(stopped);
    assert_int_equal(n, 2);
    assert_memory_equal(out, "\xC3\xA9", 2);
    n = stop_matcher_push(&m, "ignored", 7, out, 3, &stopped);
    assert_int_equal(n, 2);
    n = stop_matcher_flush(&m, out, 1);
    assert_int_equal(n, 0); /* the next character needs 2 bytes */
    n = stop_matcher_flush(&m, out, sizeof out);
    assert_int_equal(n, 3);
    assert_memory_equal(out, "\xC3\xA9z", 3);
    assert_int_equal(stop_matcher_pending(&m), 0);
    assert_int_equal(stop_matcher_flush(&m, out, sizeof out), 0);

    /* reset forgets the match and the text */
    stop_matcher_reset(&m);
    n = stop_matcher_push(&m, "ab", 2, out, sizeof out, &stopped);
    assert_false(stopped);
    assert_int_equal(n, 2);
    assert_int_equal(stop_matcher_matched(&m), -1);
    stop_matcher_free(&m);
}

/* ---- randomized against a whole-text oracle ---- */

static uint64_t rng = 88172645463325252ULL;
static uint32_t rnd(uint32_t n)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng % n);
}

/* Pieces the text and stops are made of: few letters so stops occur often,
 * plus two- and three-byte characters. */
static const char *const PIECES[] = {"a", "b", "<", "|", "\xC3\xA9", "\xE3\x80\x82", " "};
enum { NPIECES = 7 };

static size_t build(char *dst, int pieces)
{
    size_t n = 0;
    for (int i = 0; i < pieces; i++) {
        const char *p = PIECES[rnd(NPIECES)];
        memcpy(dst + n, p, strlen(p));
        n += strlen(p);
    }
    dst[n] = 0;
    return n;
}

/* The stop that completes first (longest among those ending together). */
static size_t oracle(const char *t, size_t n, char stops[][32], int ns, int *which)
{
    for (size_t e = 1; e <= n; e++) {
        int hit = -1;
        for (int i = 0; i < ns; i++) {
            size_t l = strlen(stops[i]);
            if (l && l <= e && !memcmp(t + e - l, stops[i], l) &&
                (hit < 0 || l > strlen(stops[hit])))
                hit = i;
        }
        if (hit >= 0) {
            *which = hit;
            return e - strlen(stops[hit]);
        }
    }
    *which = -1;
    return n;
}

static void test_random_splits_match_oracle(void **state)
{
    (void)state;
    for (int round = 0; round < 3000; round++) {
        char stops[4][32];
        const char *sp[4];
        int ns = (int)rnd(4);
        size_t maxl = 0;
        for (int i = 0; i < ns; i++) {
            size_t l = build(stops[i], 1 + (int)rnd(4));
            maxl = l > maxl ? l : maxl;
            sp[i] = stops[i];
        }
        char text[256];
        size_t tl = build(text, (int)rnd(40));
        int want_which;
        size_t want = oracle(text, tl, stops, ns, &want_which);

        stop_matcher m;
        assert_true(stop_matcher_init(&m, sp, ns));
        char got[512];
        size_t gl = 0, fed = 0;
        bool stopped = false;
        while (fed < tl) {
            size_t chunk = 1 + rnd(6);
            if (chunk > tl - fed)
                chunk = tl - fed;
            size_t cap = rnd(4) == 0 ? rnd(5) : 64; /* sometimes too little room */
            size_t n = stop_matcher_push(&m, text + fed, chunk, got + gl, cap, &stopped);
            assert_true(n <= cap);
            assert_true(whole_chars(got + gl, n));
            gl += n;
            fed += chunk;
            /* what is held is only ever a stop prefix, a partial character
             * or text waiting for room */
            if (!stopped && cap == 64)
                assert_true(stop_matcher_pending(&m) < maxl + 4);
            assert_int_equal(gl + stop_matcher_pending(&m), stopped ? want : fed);
        }
        size_t n;
        while ((n = stop_matcher_flush(&m, got + gl, 3)) > 0)
            gl += n;
        assert_int_equal(stop_matcher_pending(&m), 0);
        assert_int_equal(gl, want);
        assert_memory_equal(got, text, want);
        assert_int_equal(stopped, want_which >= 0);
        assert_int_equal(stop_matcher_matched(&m), want_which);
        stop_matcher_free(&m);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_no_stops_passes_through),
        cmocka_unit_test(test_basic_stop),
        cmocka_unit_test(test_spanning_pushes),
        cmocka_unit_test(test_false_prefix_released),
        cmocka_unit_test(test_overlapping_candidates),
        cmocka_unit_test(test_utf8_never_split),
        cmocka_unit_test(test_flush_releases_partial),
        cmocka_unit_test(test_small_capacity),
        cmocka_unit_test(test_random_splits_match_oracle),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
