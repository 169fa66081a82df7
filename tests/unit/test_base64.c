/* Base64: RFC 4648 test vectors both ways, both alphabets, optional
 * padding and whitespace, every rejection with its offset, and a seeded
 * round trip over random lengths. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "media/base64.h"

static void expect_decode(const char *in, const char *want)
{
    uint8_t *out = NULL;
    size_t n = 0;
    char err[128] = "";
    int rc = b64_decode(in, strlen(in), &out, &n, err, sizeof err);
    if (rc != 0) fail_msg("decode of \"%s\" failed: %s", in, err);
    assert_int_equal(n, strlen(want));
    assert_memory_equal(out, want, n);
    free(out);
}

static void expect_reject(const char *in, const char *msg_part)
{
    uint8_t *out = NULL;
    size_t n = 0;
    char err[128] = "";
    assert_int_equal(b64_decode(in, strlen(in), &out, &n, err, sizeof err), -1);
    if (!strstr(err, msg_part)) fail_msg("\"%s\": error \"%s\" lacks \"%s\"", in, err, msg_part);
}

static void test_rfc4648_vectors(void **state)
{
    (void)state;
    static const char *plain[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    static const char *enc[] = {"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
    for (int i = 0; i < 7; i++) {
        expect_decode(enc[i], plain[i]);
        char *e = b64_encode((const uint8_t *)plain[i], strlen(plain[i]), false, true);
        assert_string_equal(e, enc[i]);
        free(e);
        /* unpadded form decodes the same */
        char nopad[16];
        snprintf(nopad, sizeof nopad, "%s", enc[i]);
        char *eq = strchr(nopad, '=');
        if (eq) *eq = 0;
        expect_decode(nopad, plain[i]);
        e = b64_encode((const uint8_t *)plain[i], strlen(plain[i]), false, false);
        assert_string_equal(e, nopad);
        free(e);
    }
}

static void test_alphabets_and_whitespace(void **state)
{
    (void)state;
    const uint8_t bytes[] = {0xfb, 0xff, 0xbf, 0x3e};
    char *std = b64_encode(bytes, 4, false, true), *url = b64_encode(bytes, 4, true, false);
    assert_string_equal(std, "+/+/Pg==");
    assert_string_equal(url, "-_-_Pg");
    expect_decode(std, "\xfb\xff\xbf\x3e");
    expect_decode(url, "\xfb\xff\xbf\x3e");
    free(std);
    free(url);
    expect_decode(" Zm9v\r\nYmFy\t", "foobar");
    expect_decode("Zm 9v Yg = =\n", "foob");
}

static void test_rejections(void **state)
{
    (void)state;
    expect_reject("Zm9v!mFy", "invalid base64 character 0x21 at offset 4");
    expect_reject("Zm9vY", "dangling");
    expect_reject("Zg=", "incomplete base64 padding");
    expect_reject("Zg===", "too much base64 padding");
    expect_reject("Z===", "misplaced base64 padding at offset 1");
    expect_reject("=Zg", "misplaced base64 padding at offset 0");
    expect_reject("Zg==Zg==", "data after padding at offset 4");
    expect_reject("+/-_", "mixed standard and URL-safe base64 alphabets at offset 2");
    expect_reject("Zh==", "non-zero unused bits");
    expect_reject("Zm9=", "non-zero unused bits");
    expect_reject("Zm9v\x80", "invalid base64 character 0x80 at offset 4");

    /* too small an output buffer is an error, not an overflow */
    uint8_t small[2];
    char err[96];
    assert_int_equal(b64_decode_into("Zm9v", 4, small, sizeof small, err, sizeof err), (size_t)-1);
}

static void test_random_round_trip(void **state)
{
    (void)state;
    uint32_t seed = 7;
    uint8_t buf[300];
    for (int iter = 0; iter < 400; iter++) {
        size_t n = (size_t)(iter % 300);
        for (size_t i = 0; i < n; i++) {
            seed = seed * 1664525u + 1013904223u;
            buf[i] = (uint8_t)(seed >> 24);
        }
        bool url = iter & 1, pad = iter & 2;
        char *e = b64_encode(buf, n, url, pad);
        assert_non_null(e);
        assert_int_equal(strlen(e), pad ? (n + 2) / 3 * 4 : (n * 4 + 2) / 3);
        uint8_t out[sizeof buf + 3];
        char err[96];
        size_t got = b64_decode_into(e, strlen(e), out, sizeof out, err, sizeof err);
        assert_int_equal(got, n);
        assert_memory_equal(out, buf, n);
        assert_true(got <= b64_decoded_max(strlen(e)));
        free(e);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc4648_vectors),
        cmocka_unit_test(test_alphabets_and_whitespace),
        cmocka_unit_test(test_rejections),
        cmocka_unit_test(test_random_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
