#include "util/utf8.h"

#include <string.h>

size_t utf8_valid_len(const unsigned char *s, size_t len)
{
    if (len == 0)
        return 0;
    unsigned char c = s[0];
    if (c < 0x80)
        return 1;
    size_t need;
    unsigned char lo = 0x80, hi = 0xBF; /* allowed range of the second byte */
    if (c >= 0xC2 && c <= 0xDF) {
        need = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
        need = 3;
        if (c == 0xE0)
            lo = 0xA0; /* no overlong forms */
        else if (c == 0xED)
            hi = 0x9F; /* no surrogates */
    } else if (c >= 0xF0 && c <= 0xF4) {
        need = 4;
        if (c == 0xF0)
            lo = 0x90;
        else if (c == 0xF4)
            hi = 0x8F; /* nothing past U+10FFFF */
    } else {
        return 0;
    }
    if (len < need)
        return 0;
    if (s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < need; i++)
        if ((s[i] & 0xC0) != 0x80)
            return 0;
    return need;
}

uint32_t utf8_decode(const unsigned char *s, size_t len, size_t *n)
{
    size_t k = utf8_valid_len(s, len);
    switch (k) {
    case 1:
        *n = 1;
        return s[0];
    case 2:
        *n = 2;
        return ((uint32_t)(s[0] & 0x1F) << 6) | (s[1] & 0x3F);
    case 3:
        *n = 3;
        return ((uint32_t)(s[0] & 0x0F) << 12) | ((uint32_t)(s[1] & 0x3F) << 6) | (s[2] & 0x3F);
    case 4:
        *n = 4;
        return ((uint32_t)(s[0] & 0x07) << 18) | ((uint32_t)(s[1] & 0x3F) << 12) |
               ((uint32_t)(s[2] & 0x3F) << 6) | (s[3] & 0x3F);
    default:
        *n = 1;
        return UNICODE_INVALID_BASE | s[0];
    }
}

size_t utf8_encode(uint32_t cp, char out[4])
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}


static size_t out_put(char *out, size_t cap, size_t at, const unsigned char *s, size_t n)
{
    if (cap == 0 || at + n > cap - 1)
        return 0; /* does not fit with the terminator: dropped */
    memcpy(out + at, s, n);
    return n;
}

static const unsigned char replacement[3] = {0xEF, 0xBF, 0xBD};

/* Length of the longest prefix of s (n bytes) that could still start a
 * valid sequence; equals n when s is an unfinished but valid beginning. */
static size_t utf8_partial(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    size_t need;
    unsigned char lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) {
        need = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
        need = 3;
        lo = c == 0xE0 ? 0xA0 : 0x80;
        hi = c == 0xED ? 0x9F : 0xBF;
    } else if (c >= 0xF0 && c <= 0xF4) {
        need = 4;
        lo = c == 0xF0 ? 0x90 : 0x80;
        hi = c == 0xF4 ? 0x8F : 0xBF;
    } else {
        return 0;
    }
    size_t k = 1;
    if (k < n && k < need) {
        if (s[1] < lo || s[1] > hi)
            return 1;
        k++;
    }
    while (k < n && k < need) {
        if ((s[k] & 0xC0) != 0x80)
            return k;
        k++;
    }
    return k;
}

size_t utf8_stream_push(utf8_stream *st, const char *piece, size_t len, char *out, size_t cap)
{
    /* walk pending + piece as one byte sequence */
    size_t np = st->n_pending > 0 ? (size_t)st->n_pending : 0;
    size_t total = np + len, at = 0;
    st->n_pending = 0;
    for (size_t i = 0; i < total;) {
        unsigned char tmp[4];
        size_t avail = total - i < 4 ? total - i : 4;
        for (size_t k = 0; k < avail; k++)
            tmp[k] = i + k < np ? st->pending[i + k] : (unsigned char)piece[i + k - np];
        size_t v = utf8_valid_len(tmp, avail);
        if (v) {
            at += out_put(out, cap, at, tmp, v);
            i += v;
            continue;
        }
        size_t part = utf8_partial(tmp, avail);
        if (part > 0 && i + part == total) {
            memcpy(st->pending, tmp, part); /* unfinished: wait for more */
            st->n_pending = (int)part;
            break;
        }
        /* invalid: the longest valid-looking prefix becomes one U+FFFD */
        at += out_put(out, cap, at, replacement, 3);
        i += part ? part : 1;
    }
    if (cap)
        out[at] = '\0';
    return at;
}

size_t utf8_stream_flush(utf8_stream *st, char *out, size_t cap)
{
    size_t at = 0;
    if (cap)
        out[0] = '\0';
    if (st->n_pending > 0)
        at += out_put(out, cap, 0, replacement, 3);
    st->n_pending = 0;
    if (cap)
        out[at] = '\0';
    return at;
}
