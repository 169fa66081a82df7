#include "cli/http_client.h"

#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "util/strbuf.h"

void endpoint_from_env(rk_endpoint *ep)
{
    const char *h = getenv("RKSERVE_HOST"), *p = getenv("RKSERVE_PORT");
    snprintf(ep->host, sizeof ep->host, "127.0.0.1");
    snprintf(ep->port, sizeof ep->port, "%s", p && *p ? p : "8080");
    ep->api_key = getenv("RKSERVE_API_KEY");
    if (!h || !*h) return;
    if (!strncmp(h, "http://", 7)) h += 7;
    char buf[256];
    snprintf(buf, sizeof buf, "%s", h);
    char *slash = strchr(buf, '/');
    if (slash) *slash = 0;
    char *colon = NULL;
    if (buf[0] == '[') {
        char *end = strchr(buf, ']');
        if (end) {
            *end = 0;
            snprintf(ep->host, sizeof ep->host, "%s", buf + 1);
            if (end[1] == ':') snprintf(ep->port, sizeof ep->port, "%s", end + 2);
            return;
        }
    } else {
        colon = strrchr(buf, ':');
    }
    if (colon && strchr(buf, ':') == colon) {
        *colon = 0;
        snprintf(ep->port, sizeof ep->port, "%s", colon + 1);
    }
    if (buf[0]) snprintf(ep->host, sizeof ep->host, "%s", buf);
}

/* Connects within timeout_ms (a refused port fails at once); reads then
 * wait up to five minutes, the time a slow board may take for a token. */
static int connect_to(const rk_endpoint *ep, int timeout_ms, char *err, size_t errlen)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *ai = NULL;
    int gai = getaddrinfo(ep->host, ep->port, &hints, &ai);
    if (gai != 0) {
        snprintf(err, errlen, "cannot resolve %s: %s", ep->host, gai_strerror(gai));
        return -1;
    }
    int fd = -1, e = 0;
    for (struct addrinfo *a = ai; a && fd < 0; a = a->ai_next) {
        fd = socket(a->ai_family, a->ai_socktype, a->ai_protocol);
        if (fd < 0) continue;
        struct timeval tv = {.tv_sec = timeout_ms / 1000, .tv_usec = (timeout_ms % 1000) * 1000};
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
        if (connect(fd, a->ai_addr, a->ai_addrlen) != 0) {
            e = errno;
            close(fd);
            fd = -1;
            continue;
        }
        struct timeval rtv = {.tv_sec = 300};
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &rtv, sizeof rtv);
    }
    freeaddrinfo(ai);
    if (fd < 0)
        snprintf(err, errlen, "cannot reach rkserve at %s:%s (%s); is 'rkserve serve' running? (set RKSERVE_HOST)",
                 ep->host, ep->port, strerror(e ? e : ECONNREFUSED));
    return fd;
}

static bool send_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w <= 0) {
            if (w < 0 && errno == EINTR) continue;
            return false;
        }
        p += w;
        n -= (size_t)w;
    }
    return true;
}

/* Next raw byte from the socket; -1 at the end or on an error. */
static int raw_getc(client_stream *st)
{
    if (st->off == st->len) {
        if (st->eof) return -1;
        ssize_t n;
        do n = recv(st->fd, st->buf, sizeof st->buf, 0);
        while (n < 0 && errno == EINTR && !(st->cancel && atomic_load(st->cancel)));
        if (n <= 0) {
            st->eof = true;
            return -1;
        }
        st->off = 0;
        st->len = (size_t)n;
    }
    return (unsigned char)st->buf[st->off++];
}

static int hex_value(int c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Next body byte, de-chunked; -1 at the end of the body. */
static int body_getc(client_stream *st)
{
    if (!st->chunked) {
        if (st->body_left == 0) return -1;
        int c = raw_getc(st);
        if (c >= 0 && st->body_left > 0) st->body_left--;
        return c;
    }
    if (st->chunk_left == 0) {
        if (st->body_left == 0) return -1; /* the last chunk was read */
        size_t n = 0;
        int c, digits = 0;
        bool in_ext = false;
        while ((c = raw_getc(st)) >= 0 && c != '\n') {
            int v = hex_value(c);
            if (c == ';') in_ext = true;
            if (in_ext || v < 0) continue;
            if (++digits > 12) return -1; /* no chunk is that large */
            n = n * 16 + (size_t)v;
        }
        if (c < 0 || digits == 0 || n == 0) {
            st->body_left = 0;
            return -1;
        }
        st->chunk_left = n;
    }
    int c = raw_getc(st);
    if (c < 0) return -1;
    if (--st->chunk_left == 0) {
        raw_getc(st); /* the chunk's CRLF */
        raw_getc(st);
    }
    return c;
}

int client_stream_open(client_stream *st, const rk_endpoint *ep, const char *method, const char *path, const char *body,
                     char *err, size_t errlen)
{
    atomic_bool *cancel = st->cancel;
    memset(st, 0, sizeof *st);
    st->cancel = cancel;
    st->fd = connect_to(ep, 5000, err, errlen);
    if (st->fd < 0) return -1;
    char head[1024], auth[512] = "";
    if (ep->api_key && *ep->api_key) snprintf(auth, sizeof auth, "Authorization: Bearer %s\r\n", ep->api_key);
    size_t blen = body ? strlen(body) : 0;
    int hn = snprintf(head, sizeof head,
                      "%s %s HTTP/1.1\r\nHost: %s:%s\r\nUser-Agent: rkserve/%s\r\nAccept: application/json\r\n"
                      "%sContent-Type: application/json\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n",
                      method, path, ep->host, ep->port, RKSERVE_VERSION, auth, blen);
    if (hn < 0 || (size_t)hn >= sizeof head || !send_all(st->fd, head, (size_t)hn) ||
        (blen && !send_all(st->fd, body, blen))) {
        snprintf(err, errlen, "cannot send the request: %s", strerror(errno));
        client_stream_close(st);
        return -1;
    }
    /* status line and headers, a line at a time */
    st->body_left = -1;
    char line[1024];
    bool first = true;
    for (;;) {
        size_t n = 0;
        int c;
        while ((c = raw_getc(st)) >= 0 && c != '\n')
            if (n + 1 < sizeof line) line[n++] = (char)c;
        if (n && line[n - 1] == '\r') n--;
        line[n] = 0;
        if (c < 0) {
            snprintf(err, errlen, "the server closed the connection before answering");
            client_stream_close(st);
            return -1;
        }
        if (first) {
            if (sscanf(line, "HTTP/%*s %d", &st->status) != 1) {
                snprintf(err, errlen, "the server's answer is not HTTP");
                client_stream_close(st);
                return -1;
            }
            first = false;
            continue;
        }
        if (n == 0) break;
        if (!strncasecmp(line, "Transfer-Encoding:", 18) && strcasestr(line + 18, "chunked")) st->chunked = true;
        else if (!strncasecmp(line, "Content-Length:", 15)) st->body_left = strtoll(line + 15, NULL, 10);
    }
    if (st->chunked) st->body_left = -1;
    return st->status;
}

long client_stream_line(client_stream *st, char **line)
{
    *line = NULL;
    strbuf b = {0};
    int c;
    bool any = false;
    while ((c = body_getc(st)) >= 0) {
        any = true;
        if (c == '\n') break;
        char ch = (char)c;
        if (!strbuf_add(&b, &ch, 1)) {
            free(b.p);
            return -1;
        }
    }
    if (!any) return 0;
    if (!b.p) b.p = strdup("");
    if (!b.p) return -1;
    *line = b.p;
    return (long)b.len + 1; /* counts the newline, so an empty line is not the end */
}

void client_stream_close(client_stream *st)
{
    if (st->fd >= 0) close(st->fd);
    st->fd = -1;
}

int http_call(const rk_endpoint *ep, const char *method, const char *path, const char *body, json_t **out, char *err,
              size_t errlen)
{
    *out = NULL;
    client_stream st = {0};
    int status = client_stream_open(&st, ep, method, path, body, err, errlen);
    if (status < 0) return -1;
    strbuf b = {0};
    int c;
    bool ok = true;
    while (ok && (c = body_getc(&st)) >= 0) {
        char ch = (char)c;
        ok = strbuf_add(&b, &ch, 1);
    }
    client_stream_close(&st);
    if (!ok) {
        free(b.p);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (b.len) *out = json_loadb(b.p, b.len, 0, NULL);
    free(b.p);
    return status;
}

bool endpoint_is_up(const rk_endpoint *ep, int timeout_ms)
{
    char err[256];
    int fd = connect_to(ep, timeout_ms, err, sizeof err);
    if (fd < 0) return false;
    close(fd);
    return true;
}
