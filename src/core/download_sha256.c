/* Streaming SHA-256 for downloads. libcrypto rather than the registry's own
 * one-shot digest: model files are gigabytes, arrive in pieces, and
 * libcrypto uses the CPU's SHA instructions (ARMv8 crypto on the boards). */
#include "core/download.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

struct dl_sha256 {
    EVP_MD_CTX *ctx;
};

dl_sha256 *dl_sha256_new(void)
{
    dl_sha256 *h = calloc(1, sizeof *h);
    if (!h) return NULL;
    if (!(h->ctx = EVP_MD_CTX_new()) || EVP_DigestInit_ex(h->ctx, EVP_sha256(), NULL) != 1) {
        dl_sha256_free(h);
        return NULL;
    }
    return h;
}

void dl_sha256_reset(dl_sha256 *h)
{
    EVP_DigestInit_ex(h->ctx, EVP_sha256(), NULL);
}

void dl_sha256_update(dl_sha256 *h, const void *data, size_t len)
{
    if (len) EVP_DigestUpdate(h->ctx, data, len);
}

void dl_sha256_hex(dl_sha256 *h, char out[65])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    EVP_DigestFinal_ex(h->ctx, md, &n);
    static const char hex[] = "0123456789abcdef";
    for (unsigned i = 0; i < 32; i++) {
        out[2 * i] = hex[md[i] >> 4];
        out[2 * i + 1] = hex[md[i] & 15];
    }
    out[64] = 0;
}

void dl_sha256_free(dl_sha256 *h)
{
    if (!h) return;
    EVP_MD_CTX_free(h->ctx);
    free(h);
}

int dl_sha256_file(dl_sha256 *h, const char *path, uint64_t len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    enum { CHUNK = 1 << 20 };
    char *buf = malloc(CHUNK);
    if (!buf) {
        close(fd);
        errno = ENOMEM;
        return -1;
    }
    uint64_t left = len;
    int rc = 0;
    while (left) {
        size_t want = left < CHUNK ? (size_t)left : CHUNK;
        ssize_t got = read(fd, buf, want);
        if (got < 0 && errno == EINTR) continue;
        if (got < 0) {
            rc = -1;
            break;
        }
        if (got == 0) {
            if (len != UINT64_MAX) { /* the file is shorter than it should be */
                errno = EIO;
                rc = -1;
            }
            break;
        }
        dl_sha256_update(h, buf, (size_t)got);
        left -= (uint64_t)got;
    }
    int saved = errno;
    free(buf);
    close(fd);
    errno = saved;
    return rc;
}

bool dl_parse_sha256(const char *value, char out[65])
{
    const char *s = value;
    while (*s == ' ' || *s == '\t') s++;
    if (!strncmp(s, "W/", 2)) s += 2;
    if (*s == '"') s++;
    if (!strncasecmp(s, "sha256:", 7)) s += 7;
    for (int i = 0; i < 64; i++) {
        if (!isxdigit((unsigned char)s[i])) return false;
        out[i] = (char)tolower((unsigned char)s[i]);
    }
    char end = s[64];
    if (end && end != '"' && end != ' ' && end != '\r' && end != '\n') return false;
    out[64] = 0;
    return true;
}
