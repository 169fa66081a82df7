/* Images a request names instead of carrying: http(s) URLs, fetched with
 * libcurl only when --allow-image-urls is on (http and https only, also
 * after redirects; bounded in bytes and seconds), and local files, only
 * under a directory of --image-dir. */
#include <curl/curl.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "util/fsutil.h"

typedef struct {
    uint8_t *data;
    size_t len, max;
    bool too_big;
} fetch_buf;

static size_t on_body(char *p, size_t size, size_t n, void *user)
{
    fetch_buf *b = user;
    size_t add = size * n;
    if (b->len + add > b->max) {
        b->too_big = true;
        return 0;
    }
    uint8_t *d = realloc(b->data, b->len + add + 1);
    if (!d) return 0;
    memcpy(d + b->len, p, add);
    b->data = d;
    b->len += add;
    return add;
}

static int fetch_url(const char *url, size_t max, rk_req_image *im, char *err, size_t errlen)
{
    CURL *c = curl_easy_init();
    if (!c) {
        snprintf(err, errlen, "cannot start a download");
        return -1;
    }
    fetch_buf b = {.max = max};
    char cerr[CURL_ERROR_SIZE] = "";
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(c, CURLOPT_MAXREDIRS, 3L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 10L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
    curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)max);
    curl_easy_setopt(c, CURLOPT_FAILONERROR, 1L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "rkserve/" RKSERVE_VERSION);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, cerr);
    CURLcode rc = curl_easy_perform(c);
    curl_easy_cleanup(c);
    if (rc != CURLE_OK || b.too_big) {
        free(b.data);
        if (b.too_big || rc == CURLE_FILESIZE_EXCEEDED) snprintf(err, errlen, "larger than %zu bytes", max);
        else snprintf(err, errlen, "cannot fetch it: %s", cerr[0] ? cerr : curl_easy_strerror(rc));
        return -1;
    }
    im->data = b.data ? b.data : malloc(1);
    im->len = b.len;
    return im->data ? 0 : -1;
}

/* Whether path (resolved) lies inside one of the ':'-separated dirs. */
static bool under_allowed_dir(const char *real, const char *dirs)
{
    char *copy = strdup(dirs);
    bool ok = false;
    for (char *save = NULL, *d = copy ? strtok_r(copy, ":", &save) : NULL; d && !ok; d = strtok_r(NULL, ":", &save)) {
        char rd[PATH_MAX];
        if (!realpath(d, rd)) continue;
        size_t n = strlen(rd);
        ok = !strncmp(real, rd, n) && (real[n] == '/' || (n == 1 && rd[0] == '/'));
    }
    free(copy);
    return ok;
}

static int read_image_file(const char *path, const char *dirs, size_t max, rk_req_image *im, char *err, size_t errlen)
{
    if (!dirs || !*dirs) {
        snprintf(err, errlen, "local image paths are off; start the server with --image-dir DIR");
        return -1;
    }
    char real[PATH_MAX];
    if (!realpath(path, real)) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    if (!under_allowed_dir(real, dirs)) {
        snprintf(err, errlen, "%s is outside the --image-dir directories", path);
        return -1;
    }
    im->data = (uint8_t *)read_file(real, max, &im->len, err, errlen);
    return im->data ? 0 : -1;
}

int api_load_images(api_app *a, rk_request *r, rk_error *e)
{
    size_t max = a->cfg->max_image_bytes ? (size_t)a->cfg->max_image_bytes : SIZE_MAX;
    for (int i = 0; i < r->n_images; i++) {
        rk_req_image *im = &r->images[i];
        if (!im->url) {
            if (im->len > max) return rk_fail(e, 413, "images", "image %d is larger than %zu bytes", i + 1, max);
            continue;
        }
        char err[512];
        int rc;
        if (!strncmp(im->url, "http://", 7) || !strncmp(im->url, "https://", 8)) {
            if (!a->cfg->allow_image_urls)
                return rk_fail(e, 400, "images",
                               "image %d: image URLs are off; send the image as a data: URI or start the server with "
                               "--allow-image-urls",
                               i + 1);
            rc = fetch_url(im->url, max, im, err, sizeof err);
        } else if (strstr(im->url, "://") && strncmp(im->url, "file://", 7) != 0) {
            return rk_fail(e, 400, "images", "image %d: only data:, http(s) URLs and file paths are accepted", i + 1);
        } else {
            rc = read_image_file(!strncmp(im->url, "file://", 7) ? im->url + 7 : im->url, a->cfg->image_dirs, max, im, err,
                           sizeof err);
        }
        if (rc != 0) return rk_fail(e, 400, "images", "image %d: %s", i + 1, err);
        free(im->url);
        im->url = NULL;
    }
    return 0;
}
