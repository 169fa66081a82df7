/* libcurl transfers for the pull. One easy handle per transfer, redirects
 * followed (the hub sends file downloads on to its storage host; libcurl
 * does not carry our Authorization header to another host). */
#include "core/download.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#ifndef RKSERVE_VERSION
#define RKSERVE_VERSION "dev"
#endif

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc;

static void curl_init(void)
{
    curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* ---- response headers ------------------------------------------------- */

typedef struct {
    dl_headers *h;
    char linked[65]; /* from X-Linked-Etag */
    char etag[65];   /* from the first ETag that is a SHA-256 */
} header_state;

static void trim_value(const char *v, size_t n, char *out, size_t cap)
{
    while (n && (*v == ' ' || *v == '\t')) v++, n--;
    while (n && (v[n - 1] == '\r' || v[n - 1] == '\n' || v[n - 1] == ' ')) n--;
    if (n >= cap) n = cap - 1;
    memcpy(out, v, n);
    out[n] = 0;
}

static bool header_is(const char *line, size_t n, const char *name, const char **value, size_t *vlen)
{
    size_t k = strlen(name);
    if (n <= k || strncasecmp(line, name, k) || line[k] != ':') return false;
    *value = line + k + 1;
    *vlen = n - k - 1;
    return true;
}

/* rel="next" target of a Link header */
static void parse_link_next(const char *v, char *out, size_t cap)
{
    const char *p = v;
    while ((p = strchr(p, '<'))) {
        const char *end = strchr(p, '>');
        if (!end) return;
        const char *params = end + 1;
        const char *comma = strchr(params, ',');
        size_t plen = comma ? (size_t)(comma - params) : strlen(params);
        char buf[256];
        trim_value(params, plen, buf, sizeof buf);
        if (strstr(buf, "rel=\"next\"") || strstr(buf, "rel=next")) {
            size_t n = (size_t)(end - p - 1);
            if (n < cap) {
                memcpy(out, p + 1, n);
                out[n] = 0;
            }
            return;
        }
        p = end + 1;
    }
}

static size_t on_header(char *line, size_t size, size_t nmemb, void *ud)
{
    header_state *hs = ud;
    size_t n = size * nmemb;
    const char *v;
    size_t vl;
    char val[2100];
    if (n >= 5 && !strncmp(line, "HTTP/", 5)) { /* a new response: keep what the hub said first */
        hs->h->next_url[0] = 0;
        return n;
    }
    if (header_is(line, n, "X-Repo-Commit", &v, &vl)) {
        if (!hs->h->repo_commit[0]) trim_value(v, vl, hs->h->repo_commit, sizeof hs->h->repo_commit);
    } else if (header_is(line, n, "X-Linked-Etag", &v, &vl)) {
        trim_value(v, vl, val, sizeof val);
        if (!hs->linked[0] && !dl_parse_sha256(val, hs->linked)) hs->linked[0] = 0;
    } else if (header_is(line, n, "ETag", &v, &vl)) {
        trim_value(v, vl, val, sizeof val);
        if (!hs->etag[0] && !dl_parse_sha256(val, hs->etag)) hs->etag[0] = 0;
    } else if (header_is(line, n, "X-Linked-Size", &v, &vl)) {
        trim_value(v, vl, val, sizeof val);
        if (!hs->h->linked_size) hs->h->linked_size = strtoull(val, NULL, 10);
    } else if (header_is(line, n, "Link", &v, &vl)) {
        trim_value(v, vl, val, sizeof val);
        parse_link_next(val, hs->h->next_url, sizeof hs->h->next_url);
    }
    return n;
}

static void header_finish(header_state *hs)
{
    snprintf(hs->h->etag_sha256, sizeof hs->h->etag_sha256, "%s", hs->linked[0] ? hs->linked : hs->etag);
}

/* ---- common handle ---------------------------------------------------- */

typedef struct {
    CURL *c;
    struct curl_slist *hdrs;
    char errbuf[CURL_ERROR_SIZE];
    header_state hs;
} handle;

static int handle_open(handle *hd, const char *url, const char *token, dl_headers *h, char *err, size_t errlen)
{
    pthread_once(&curl_once, curl_init);
    memset(hd, 0, sizeof *hd);
    memset(h, 0, sizeof *h);
    hd->hs.h = h;
    if (curl_init_rc != CURLE_OK || !(hd->c = curl_easy_init())) {
        snprintf(err, errlen, "cannot start libcurl");
        return 500;
    }
    CURL *c = hd->c;
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(c, CURLOPT_MAXREDIRS, 10L);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_USERAGENT, "rkserve/" RKSERVE_VERSION);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, hd->errbuf);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 30L);
    /* a stalled connection is a lost one: under 1 byte/s for a minute */
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, 60L);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &hd->hs);
    if (token && *token) {
        char auth[4200];
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", token);
        hd->hdrs = curl_slist_append(NULL, auth);
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, hd->hdrs);
    }
    return 0;
}

static void handle_close(handle *hd)
{
    if (hd->c) curl_easy_cleanup(hd->c);
    curl_slist_free_all(hd->hdrs);
    hd->c = NULL;
    hd->hdrs = NULL;
}

static long response_code(CURL *c)
{
    long code = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    return code;
}

/* The hub's JSON errors carry {"error": "..."}; plain text is used as is. */
static void body_reason(const char *body, size_t len, char *out, size_t cap)
{
    out[0] = 0;
    if (!body || !len) return;
    const char *p = strstr(body, "\"error\"");
    if (p && (p = strchr(p + 7, '"'))) {
        const char *end = strchr(p + 1, '"');
        if (end) {
            trim_value(p + 1, (size_t)(end - p - 1), out, cap);
            return;
        }
    }
    size_t n = 0;
    while (n < len && body[n] != '\n' && n < 200) n++;
    trim_value(body, n, out, cap);
}

static int http_failure(long status, const char *url, bool token_sent, const char *body, size_t blen, char *err,
                        size_t errlen)
{
    char reason[256];
    body_reason(body, blen, reason, sizeof reason);
    char why[300] = "";
    if (reason[0]) snprintf(why, sizeof why, " (%s)", reason);
    if (status == 401)
        snprintf(err, errlen,
                 "HTTP 401 Unauthorized from %s%s: %s", url, why,
                 token_sent ? "the token in HF_TOKEN was not accepted; check that it is valid"
                            : "the repository does not exist, or it is private or gated and needs an access "
                              "token: set HF_TOKEN (https://huggingface.co/settings/tokens)");
    else if (status == 403)
        snprintf(err, errlen,
                 "HTTP 403 Forbidden from %s%s: the token may not read this repository; for a gated model, accept "
                 "its licence on the model page with the token's account",
                 url, why);
    else if (status == 404)
        snprintf(err, errlen, "HTTP 404 Not Found: %s%s", url, why);
    else
        snprintf(err, errlen, "HTTP %ld from %s%s", status, url, why);
    if (status == 401 || status == 403 || status == 404) return (int)status;
    return 502;
}

static int curl_failure(CURLcode rc, const handle *hd, const char *what, char *err, size_t errlen)
{
    snprintf(err, errlen, "%s: %s", what, hd->errbuf[0] ? hd->errbuf : curl_easy_strerror(rc));
    return 502;
}

/* ---- GET into memory -------------------------------------------------- */

typedef struct {
    char *buf;
    size_t len, cap, max;
    bool too_big;
} membuf;

static size_t on_mem(char *data, size_t size, size_t nmemb, void *ud)
{
    membuf *m = ud;
    size_t n = size * nmemb;
    if (m->len + n + 1 > m->max) {
        m->too_big = true;
        return 0;
    }
    if (m->len + n + 1 > m->cap) {
        size_t cap = m->cap ? m->cap : 16384;
        while (cap < m->len + n + 1) cap *= 2;
        char *b = realloc(m->buf, cap);
        if (!b) return 0;
        m->buf = b;
        m->cap = cap;
    }
    memcpy(m->buf + m->len, data, n);
    m->len += n;
    m->buf[m->len] = 0;
    return n;
}

int dl_get(const char *url, const char *token, size_t max, char **body, size_t *len, dl_headers *h, char *err,
           size_t errlen)
{
    handle hd;
    *body = NULL;
    *len = 0;
    int rc = handle_open(&hd, url, token, h, err, errlen);
    if (rc) return rc;
    membuf m = {.max = max};
    curl_easy_setopt(hd.c, CURLOPT_WRITEFUNCTION, on_mem);
    curl_easy_setopt(hd.c, CURLOPT_WRITEDATA, &m);
    curl_easy_setopt(hd.c, CURLOPT_TIMEOUT, 120L);
    CURLcode cr = curl_easy_perform(hd.c);
    header_finish(&hd.hs);
    h->status = (int)response_code(hd.c);
    if (cr != CURLE_OK && !(cr == CURLE_WRITE_ERROR && h->status >= 400)) {
        if (m.too_big) {
            snprintf(err, errlen, "%s: response larger than %zu bytes", url, max);
            rc = 502;
        } else {
            char what[2200];
            snprintf(what, sizeof what, "cannot fetch %s", url);
            rc = curl_failure(cr, &hd, what, err, errlen);
        }
    } else if (h->status >= 400 || h->status < 200) {
        rc = http_failure(h->status, url, token && *token, m.buf, m.len, err, errlen);
    }
    handle_close(&hd);
    if (rc) {
        free(m.buf);
        return rc;
    }
    if (!m.buf && !(m.buf = calloc(1, 1))) {
        snprintf(err, errlen, "out of memory");
        return 500;
    }
    *body = m.buf;
    *len = m.len;
    return 0;
}

/* ---- file download ---------------------------------------------------- */

typedef struct {
    CURL *c;
    const dl_request *rq;
    int fd;
    uint64_t offset;  /* bytes of the partial file this transfer continues */
    uint64_t written; /* bytes written by this transfer */
    bool decided, error_body, restarted;
    membuf errbody;
    int write_errno;
    dl_sha256 *sha;
    bool cancelled;
    CURLcode cr;
} xfer;

static size_t on_file(char *data, size_t size, size_t nmemb, void *ud)
{
    xfer *x = ud;
    size_t n = size * nmemb;
    if (!x->decided) {
        x->decided = true;
        long code = response_code(x->c);
        if (code >= 400 || code < 200) {
            x->error_body = true;
            x->errbody.max = 4096;
        } else if (code != 206 && x->offset) {
            /* the server ignored the Range: start over */
            if (ftruncate(x->fd, 0) != 0 || lseek(x->fd, 0, SEEK_SET) != 0) {
                x->write_errno = errno;
                return 0;
            }
            x->offset = 0;
            x->restarted = true;
            dl_sha256_reset(x->sha);
        }
    }
    if (x->error_body) {
        on_mem(data, size, nmemb, &x->errbody);
        return n;
    }
    size_t done = 0;
    while (done < n) {
        ssize_t w = write(x->fd, data + done, n - done);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            x->write_errno = w < 0 ? errno : EIO;
            return 0;
        }
        done += (size_t)w;
    }
    dl_sha256_update(x->sha, data, n);
    x->written += n;
    return n;
}

static int on_xfer(void *ud, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow)
{
    (void)dlnow, (void)ultotal, (void)ulnow;
    xfer *x = ud;
    if (!x->decided || x->error_body || !x->rq->progress) return 0;
    uint64_t total = x->rq->size ? x->rq->size : (dltotal > 0 ? x->offset + (uint64_t)dltotal : 0);
    if (!x->rq->progress(x->rq->ctx, x->offset + x->written, total)) {
        x->cancelled = true;
        return 1;
    }
    return 0;
}

static void human(uint64_t n, char *out, size_t cap)
{
    if (n >= (1ull << 30)) snprintf(out, cap, "%.1f GiB", (double)n / (1 << 30));
    else if (n >= (1ull << 20)) snprintf(out, cap, "%.1f MiB", (double)n / (1 << 20));
    else snprintf(out, cap, "%" PRIu64 " bytes", n);
}

static const char *base_name(const char *p)
{
    const char *s = strrchr(p, '/');
    return s ? s + 1 : p;
}

/* Enough room for what is left to fetch? */
static int check_space(const char *partial, uint64_t need, char *err, size_t errlen)
{
    if (!need) return 0;
    struct statvfs vf;
    if (statvfs(partial, &vf) != 0) return 0;
    uint64_t avail = (uint64_t)vf.f_bavail * vf.f_frsize;
    if (avail >= need) return 0;
    char a[32], b[32];
    human(need, a, sizeof a);
    human(avail, b, sizeof b);
    snprintf(err, errlen, "not enough disk space for %s: %s more needed, %s free", base_name(partial), a, b);
    return 507;
}

/* dest already holds the expected file? */
static bool already_there(const dl_request *rq, dl_sha256 *sha, dl_result *res)
{
    struct stat st;
    if (stat(rq->dest, &st) != 0 || !S_ISREG(st.st_mode)) return false;
    if (!rq->sha256 && !rq->size) return false;
    if (rq->size && (uint64_t)st.st_size != rq->size) return false;
    dl_sha256_reset(sha);
    if (dl_sha256_file(sha, rq->dest, UINT64_MAX) != 0) return false;
    char got[65];
    dl_sha256_hex(sha, got);
    if (rq->sha256 && strcasecmp(got, rq->sha256)) return false;
    memcpy(res->sha256, got, sizeof got);
    snprintf(res->expected, sizeof res->expected, "%s", rq->sha256 ? rq->sha256 : "");
    res->size = (uint64_t)st.st_size;
    res->reused = true;
    return true;
}

static int transfer(xfer *x, handle *hd, const char *partial, char *err, size_t errlen)
{
    const dl_request *rq = x->rq;
    curl_easy_setopt(hd->c, CURLOPT_WRITEFUNCTION, on_file);
    curl_easy_setopt(hd->c, CURLOPT_WRITEDATA, x);
    curl_easy_setopt(hd->c, CURLOPT_XFERINFOFUNCTION, on_xfer);
    curl_easy_setopt(hd->c, CURLOPT_XFERINFODATA, x);
    curl_easy_setopt(hd->c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(hd->c, CURLOPT_RESUME_FROM_LARGE, (curl_off_t)x->offset);
    CURLcode cr = x->cr = curl_easy_perform(hd->c);
    header_finish(&hd->hs);
    long code = response_code(hd->c);
    hd->hs.h->status = (int)code;
    char got[32], total[32];
    human(x->offset + x->written, got, sizeof got);
    human(rq->size, total, sizeof total);
    if (x->cancelled) {
        snprintf(err, errlen, "pull of %s cancelled after %s; pulling again resumes", base_name(rq->dest), got);
        return 499;
    }
    if (x->write_errno) {
        if (x->write_errno == ENOSPC || x->write_errno == EDQUOT) {
            snprintf(err, errlen, "disk full writing %s (%s written); free some space and pull again to resume",
                     partial, got);
            return 507;
        }
        snprintf(err, errlen, "cannot write %s: %s", partial, strerror(x->write_errno));
        return 500;
    }
    if (x->error_body || (cr == CURLE_OK && (code >= 400 || code < 200)))
        return http_failure(code, rq->url, rq->token && *rq->token, x->errbody.buf, x->errbody.len, err, errlen);
    if (cr != CURLE_OK) {
        char what[2400];
        if (rq->size)
            snprintf(what, sizeof what, "download of %s interrupted at %s of %s; pulling again resumes",
                     base_name(rq->dest), got, total);
        else
            snprintf(what, sizeof what, "download of %s interrupted at %s; pulling again resumes",
                     base_name(rq->dest), got);
        return curl_failure(cr, hd, what, err, errlen);
    }
    return 0;
}

int dl_file(const dl_request *rq, dl_result *res, char *err, size_t errlen)
{
    memset(res, 0, sizeof *res);
    dl_sha256 *sha = dl_sha256_new();
    if (!sha) {
        snprintf(err, errlen, "cannot start SHA-256");
        return 500;
    }
    if (already_there(rq, sha, res)) {
        dl_sha256_free(sha);
        return 0;
    }
    char partial[4200];
    snprintf(partial, sizeof partial, "%s.partial", rq->dest);
    int fd = open(partial, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
        snprintf(err, errlen, "cannot create %s: %s", partial, strerror(errno));
        dl_sha256_free(sha);
        return errno == ENOSPC || errno == EDQUOT ? 507 : 500;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        snprintf(err, errlen, "%s is being pulled already (%s is locked)", base_name(rq->dest), partial);
        close(fd);
        dl_sha256_free(sha);
        return 409;
    }
    int rc = 0;
    struct stat st;
    uint64_t offset = fstat(fd, &st) == 0 ? (uint64_t)st.st_size : 0;
    if (rq->size && offset > rq->size) { /* longer than the file: not its beginning */
        if (ftruncate(fd, 0) != 0) {
            snprintf(err, errlen, "cannot reset %s: %s", partial, strerror(errno));
            rc = 500;
        }
        offset = 0;
    }
    dl_sha256_reset(sha);
    if (!rc && offset && dl_sha256_file(sha, partial, offset) != 0) { /* hash what is there, then go on */
        if (ftruncate(fd, 0) != 0) {
            snprintf(err, errlen, "cannot reset %s: %s", partial, strerror(errno));
            rc = 500;
        }
        offset = 0;
        dl_sha256_reset(sha);
    }
    if (!rc && lseek(fd, (off_t)offset, SEEK_SET) < 0) {
        snprintf(err, errlen, "cannot seek %s: %s", partial, strerror(errno));
        rc = 500;
    }
    if (!rc && rq->size) rc = check_space(partial, rq->size - offset, err, errlen);
    res->resumed = offset > 0;

    xfer x = {.rq = rq, .fd = fd, .offset = offset, .sha = sha};
    bool fetch = !rc && !(rq->size && offset == rq->size); /* a complete partial only needs checking */
    for (int attempt = 0; fetch && attempt < 2; attempt++) {
        handle hd;
        if ((rc = handle_open(&hd, rq->url, rq->token, &res->hdr, err, errlen))) break;
        x.c = hd.c;
        rc = transfer(&x, &hd, partial, err, errlen);
        handle_close(&hd);
        free(x.errbody.buf);
        x.errbody = (membuf){0};
        /* 416: the range lies beyond what the server has, so the partial is
         * stale; a 200 to a range request (curl: no range support): the
         * server cannot resume. Either way, once more from the start. */
        if (rc && (res->hdr.status == 416 || x.cr == CURLE_RANGE_ERROR) && x.offset && attempt == 0) {
            if (ftruncate(fd, 0) != 0 || lseek(fd, 0, SEEK_SET) != 0) break;
            x.offset = 0;
            x.written = 0;
            x.decided = x.error_body = false;
            dl_sha256_reset(sha);
            continue;
        }
        break;
    }
    if (x.restarted) res->resumed = false;
    uint64_t size = x.offset + x.written;
    if (!rc && rq->size && size != rq->size) {
        snprintf(err, errlen, "%s: got %" PRIu64 " bytes, the hub lists %" PRIu64 "; pulling again resumes",
                 base_name(rq->dest), size, rq->size);
        rc = 502;
    }
    if (!rc) {
        dl_sha256_hex(sha, res->sha256);
        res->size = size;
        const char *want = rq->sha256 && *rq->sha256 ? rq->sha256 : res->hdr.etag_sha256;
        snprintf(res->expected, sizeof res->expected, "%s", want);
        if (*want && strcasecmp(want, res->sha256)) {
            snprintf(err, errlen,
                     "SHA-256 mismatch for %s: expected %s, got %s; the download was removed, pull again",
                     base_name(rq->dest), want, res->sha256);
            unlink(partial);
            rc = 502;
        }
    }
    if (!rc && fsync(fd) != 0) {
        snprintf(err, errlen, "cannot write %s: %s", partial, strerror(errno));
        rc = errno == ENOSPC || errno == EDQUOT ? 507 : 500;
    }
    if (!rc && rename(partial, rq->dest) != 0) {
        snprintf(err, errlen, "cannot rename %s into place: %s", partial, strerror(errno));
        rc = 500;
    }
    close(fd);
    dl_sha256_free(sha);
    return rc;
}
