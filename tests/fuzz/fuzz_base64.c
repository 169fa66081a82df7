/* Fuzz target for the base64 decoder: any input either decodes to at most
 * b64_decoded_max bytes that re-encode to the same characters (modulo
 * whitespace, padding and alphabet), or fails with a message. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "media/base64.h"

static int sextet_of(char c)
{
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+' || c == '-') return 62;
    if (c == '/' || c == '_') return 63;
    return -1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *in = (const char *)data;
    uint8_t *out = NULL;
    size_t n = 0;
    char err[128] = "";
    if (b64_decode(in, size, &out, &n, err, sizeof err) != 0) {
        if (out || err[0] == 0) abort();
        return 0;
    }
    if (n > b64_decoded_max(size)) abort();
    /* the significant characters must be exactly the canonical encoding */
    char *enc = b64_encode(out, n, false, false);
    if (!enc) abort();
    size_t k = 0;
    for (size_t i = 0; i < size; i++) {
        int v = sextet_of(in[i]);
        if (v < 0) continue;
        if (enc[k] == 0 || sextet_of(enc[k]) != v) abort();
        k++;
    }
    if (enc[k] != 0) abort();
    free(enc);
    free(out);
    return 0;
}
