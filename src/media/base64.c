/* Why our own: none of the libraries rkcore links (jansson, libmicrohttpd,
 * libcurl) exports a base64 decoder, and the packaged ones (glib, openssl's
 * BIO chain) would add a large dependency for forty lines and still not
 * report where bad input is. */
#include "media/base64.h"

#include <stdio.h>
#include <stdlib.h>

enum { ALPHA_NONE = 0, ALPHA_STD = 1, ALPHA_URL = 2 };

/* value 0..63, or -1 */
static int sextet(unsigned char c, int *alphabet)
{
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+' || c == '/') { *alphabet |= ALPHA_STD; return c == '+' ? 62 : 63; }
    if (c == '-' || c == '_') { *alphabet |= ALPHA_URL; return c == '-' ? 62 : 63; }
    return -1;
}

static bool is_space(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\v';
}

size_t b64_decoded_max(size_t len)
{
    return len / 4 * 3 + 3;
}

static size_t fail(char *err, size_t errlen, const char *what, size_t at, int byte)
{
    if (err && errlen) {
        if (byte >= 0)
            snprintf(err, errlen, "%s 0x%02x at offset %zu", what, (unsigned)byte, at);
        else
            snprintf(err, errlen, "%s at offset %zu", what, at);
    }
    return (size_t)-1;
}

size_t b64_decode_into(const char *in, size_t len, uint8_t *out, size_t cap, char *err, size_t errlen)
{
    const unsigned char *s = (const unsigned char *)in;
    uint32_t acc = 0;
    int nacc = 0, alphabet = 0, npad = 0;
    size_t n = 0, last_char = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = s[i];
        if (is_space(c)) continue;
        if (c == '=') {
            /* padding completes a quantum of 2 or 3 characters */
            if (npad == 0 && nacc < 2) return fail(err, errlen, "misplaced base64 padding", i, -1);
            npad++;
            if (nacc + npad > 4) return fail(err, errlen, "too much base64 padding", i, -1);
            last_char = i;
            continue;
        }
        if (npad) return fail(err, errlen, "base64 data after padding", i, -1);
        int v = sextet(c, &alphabet);
        if (v < 0) return fail(err, errlen, "invalid base64 character", i, c);
        if (alphabet == (ALPHA_STD | ALPHA_URL))
            return fail(err, errlen, "mixed standard and URL-safe base64 alphabets", i, -1);
        acc = acc << 6 | (uint32_t)v;
        last_char = i;
        if (++nacc == 4) {
            if (n + 3 > cap) return fail(err, errlen, "base64 output buffer too small", i, -1);
            out[n++] = (uint8_t)(acc >> 16);
            out[n++] = (uint8_t)(acc >> 8);
            out[n++] = (uint8_t)acc;
            acc = 0;
            nacc = 0;
        }
    }
    if (npad && nacc + npad != 4) return fail(err, errlen, "incomplete base64 padding", last_char, -1);
    if (nacc == 1) return fail(err, errlen, "truncated base64 (one dangling character)", last_char, -1);
    if (nacc == 2) {
        if (acc & 0xF) return fail(err, errlen, "non-zero unused bits in final base64 character", last_char, -1);
        if (n + 1 > cap) return fail(err, errlen, "base64 output buffer too small", last_char, -1);
        out[n++] = (uint8_t)(acc >> 4);
    } else if (nacc == 3) {
        if (acc & 0x3) return fail(err, errlen, "non-zero unused bits in final base64 character", last_char, -1);
        if (n + 2 > cap) return fail(err, errlen, "base64 output buffer too small", last_char, -1);
        out[n++] = (uint8_t)(acc >> 10);
        out[n++] = (uint8_t)(acc >> 2);
    }
    return n;
}

int b64_decode(const char *in, size_t len, uint8_t **out, size_t *out_len, char *err, size_t errlen)
{
    size_t cap = b64_decoded_max(len);
    uint8_t *buf = malloc(cap);
    if (!buf) {
        if (err && errlen) snprintf(err, errlen, "out of memory decoding %zu base64 characters", len);
        return -1;
    }
    size_t n = b64_decode_into(in, len, buf, cap, err, errlen);
    if (n == (size_t)-1) {
        free(buf);
        return -1;
    }
    *out = buf;
    *out_len = n;
    return 0;
}

char *b64_encode(const uint8_t *in, size_t len, bool url_safe, bool pad)
{
    static const char std[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    static const char url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    const char *a = url_safe ? url : std;
    if (len > (SIZE_MAX - 1) / 4 * 3 - 3) return NULL;
    char *o = malloc((len + 2) / 3 * 4 + 1);
    if (!o) return NULL;
    size_t n = 0, i = 0;
    for (; i + 3 <= len; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        o[n++] = a[v >> 18];
        o[n++] = a[(v >> 12) & 63];
        o[n++] = a[(v >> 6) & 63];
        o[n++] = a[v & 63];
    }
    if (len - i == 1) {
        uint32_t v = (uint32_t)in[i] << 16;
        o[n++] = a[v >> 18];
        o[n++] = a[(v >> 12) & 63];
        if (pad) { o[n++] = '='; o[n++] = '='; }
    } else if (len - i == 2) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
        o[n++] = a[v >> 18];
        o[n++] = a[(v >> 12) & 63];
        o[n++] = a[(v >> 6) & 63];
        if (pad) o[n++] = '=';
    }
    o[n] = '\0';
    return o;
}
