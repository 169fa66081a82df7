/* Base64 (RFC 4648) for image payloads: data: URIs and Ollama "images".
 * The decoder is strict about content and lenient about form: it accepts
 * the standard (+/) or the URL-safe (-_) alphabet but not both in one
 * input, optional '=' padding (if present it must be exact), and ASCII
 * whitespace anywhere; it rejects any other byte, data after padding, a
 * dangling single character and non-zero unused bits, naming the offset. */
#ifndef RK_MEDIA_BASE64_H
#define RK_MEDIA_BASE64_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* An upper bound on the decoded size of len input characters. */
size_t b64_decoded_max(size_t len);

/* Decodes into out (capacity cap >= b64_decoded_max(len) always suffices).
 * Returns the number of bytes written, or (size_t)-1 with a message in err
 * such as "invalid base64 character 0x21 at offset 17". */
size_t b64_decode_into(const char *in, size_t len, uint8_t *out, size_t cap, char *err, size_t errlen);

/* Decodes into a new malloc'd buffer (*out, free it; never NULL on
 * success, even for empty input). Returns 0 or -1 with err set. */
int b64_decode(const char *in, size_t len, uint8_t **out, size_t *out_len, char *err, size_t errlen);

/* Encodes to a new malloc'd NUL-terminated string; url_safe picks -_ over
 * +/, pad appends '='. NULL when out of memory. */
char *b64_encode(const uint8_t *in, size_t len, bool url_safe, bool pad);

#endif
