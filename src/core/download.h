/* HTTP downloads over libcurl for the model pull: small GETs into memory
 * (repository listings) and resumable file downloads that hash as they
 * write. Failures come back as an HTTP-like status that classes them (see
 * hub_pull in hub.h) with a message a person can act on. */
#ifndef RK_DOWNLOAD_H
#define RK_DOWNLOAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* What the hub says about a file in its response headers (the first
 * response, before any redirect to the storage host). */
typedef struct {
    int status;              /* HTTP status of the last response */
    char repo_commit[128];   /* X-Repo-Commit */
    char etag_sha256[65];    /* X-Linked-Etag, else ETag, when it is a SHA-256 */
    uint64_t linked_size;    /* X-Linked-Size, 0 when absent */
    char next_url[2048];     /* Link: <...>; rel="next" (paginated listings) */
} dl_headers;

/* GET url into a malloc'd NUL-terminated body (at most max bytes). 0, or a
 * status with err filled. */
int dl_get(const char *url, const char *token, size_t max, char **body, size_t *len, dl_headers *h, char *err,
           size_t errlen);

typedef bool (*dl_progress_fn)(void *ctx, uint64_t done, uint64_t total);

typedef struct {
    const char *url;
    const char *dest;     /* final path; bytes go to DEST.partial first */
    const char *token;    /* bearer token, or NULL */
    const char *sha256;   /* expected digest (hex), or NULL to take the hub's header */
    uint64_t size;        /* expected size, 0 when unknown */
    dl_progress_fn progress;
    void *ctx;
} dl_request;

typedef struct {
    char sha256[65];      /* of the file in place */
    char expected[65];    /* what it was checked against; "" when nothing was published */
    uint64_t size;
    bool reused;          /* dest was already complete: nothing downloaded */
    bool resumed;         /* continued a .partial */
    dl_headers hdr;
} dl_result;

/* Downloads url to dest: resumes DEST.partial with a Range request, checks
 * size and SHA-256, renames into place. A digest mismatch removes the
 * partial file. 0, or a status with err filled. */
int dl_file(const dl_request *rq, dl_result *res, char *err, size_t errlen);

/* SHA-256 of a stream of bytes (libcrypto). */
typedef struct dl_sha256 dl_sha256;
dl_sha256 *dl_sha256_new(void);
void dl_sha256_reset(dl_sha256 *h);
void dl_sha256_update(dl_sha256 *h, const void *data, size_t len);
void dl_sha256_hex(dl_sha256 *h, char out[65]); /* finishes; reset before reuse */
void dl_sha256_free(dl_sha256 *h);
/* Feeds the first len bytes of a file (all when len is UINT64_MAX). 0 or -1 (errno). */
int dl_sha256_file(dl_sha256 *h, const char *path, uint64_t len);

/* A SHA-256 in an ETag-like value: optional W/, quotes, "sha256:". False
 * when it is not 64 hex digits. out is lower case. */
bool dl_parse_sha256(const char *value, char out[65]);

#endif
