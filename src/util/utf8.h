/* UTF-8 decoding that never fails (a bad byte decodes as itself, flagged
 * invalid, so byte-level tokenizers keep it), encoding, and streaming
 * reassembly: byte pieces in, only whole characters out. */
#ifndef RK_UTF8_H
#define RK_UTF8_H

#include <stddef.h>
#include <stdint.h>

/* Marks a byte that does not start a valid UTF-8 sequence: cp = this | byte. */
#define UNICODE_INVALID_BASE 0x80000000u

/* Decodes one code point at s (len > 0 bytes available) and stores its byte
 * length in *n. Overlong forms, surrogates, values past U+10FFFF and
 * truncated sequences decode as UNICODE_INVALID_BASE | s[0] with *n = 1. */
uint32_t utf8_decode(const unsigned char *s, size_t len, size_t *n);
/* Writes the UTF-8 form of cp (<= U+10FFFF) to out; returns 1..4. */
size_t utf8_encode(uint32_t cp, char out[4]);
/* Length of the valid UTF-8 sequence starting at s, or 0 when invalid or
 * truncated (len bytes available). */
size_t utf8_valid_len(const unsigned char *s, size_t len);

typedef struct {
    unsigned char pending[4];
    int n_pending;
} utf8_stream;

/* Appends the complete characters of (pending + piece) to out (capacity cap,
 * NUL-terminated) and keeps an unfinished trailing sequence pending. Invalid
 * bytes become U+FFFD. Returns the bytes written; out needs room for
 * 3 * (len + 4) + 1 bytes in the worst case. */
size_t utf8_stream_push(utf8_stream *s, const char *piece, size_t len, char *out, size_t cap);
/* Emits whatever is pending (as U+FFFD if incomplete) at the end of a stream. */
size_t utf8_stream_flush(utf8_stream *s, char *out, size_t cap);

#endif
