#include "http/server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

struct http_server {
    struct MHD_Daemon *daemon;
    http_server_params p;
    int port;
};

struct http_req {
    http_server *srv;
    struct MHD_Connection *conn;
    int fd;
    char *method, *url;
    const http_route *route;
    http_style style;
    char *body;
    size_t len, cap;
    bool too_large;
    bool responded;
    int status;
    double t0;
};

static double mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* ---- accessors -------------------------------------------------------- */

const char *http_method(const http_req *r) { return r->method; }
const char *http_path(const http_req *r) { return r->url; }
http_style http_req_style(const http_req *r) { return r->style; }
double http_arrival_ms(const http_req *r) { return r->t0; }

const char *http_path_rest(const http_req *r)
{
    if (!r->route) return "";
    size_t n = strlen(r->route->path);
    if (n && r->route->path[n - 1] == '*') n--;
    return strlen(r->url) >= n ? r->url + n : "";
}

const char *http_header(const http_req *r, const char *name)
{
    return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

const char *http_query(const http_req *r, const char *key)
{
    return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, key);
}

const char *http_body(const http_req *r, size_t *len)
{
    if (len) *len = r->len;
    return r->body ? r->body : "";
}

json_t *http_json_body(http_req *r, rk_error *e)
{
    if (!r->len) {
        rk_fail(e, 400, NULL, "the request body is empty; send a JSON object");
        return NULL;
    }
    json_error_t je;
    json_t *root = json_loadb(r->body, r->len, JSON_REJECT_DUPLICATES, &je);
    if (!root) {
        rk_fail(e, 400, NULL, "invalid JSON at line %d, column %d: %s", je.line, je.column, je.text);
        e->code = "invalid_json";
        return NULL;
    }
    if (!json_is_object(root)) {
        json_decref(root);
        rk_fail(e, 400, NULL, "the request body must be a JSON object");
        return NULL;
    }
    return root;
}

bool http_client_gone(http_req *r)
{
    if (r->fd < 0) return false;
    struct pollfd p = {.fd = r->fd, .events = POLLIN | POLLRDHUP};
    if (poll(&p, 1, 0) <= 0) return false;
    if (p.revents & (POLLERR | POLLHUP | POLLRDHUP | POLLNVAL)) return true;
    if (p.revents & POLLIN) {
        char b;
        return recv(r->fd, &b, 1, MSG_PEEK | MSG_DONTWAIT) == 0;
    }
    return false;
}

/* ---- responses --------------------------------------------------------- */

static void add_common_headers(http_req *r, struct MHD_Response *resp)
{
    const char *origin = r->srv->p.cfg->cors_origin;
    if (origin) {
        MHD_add_response_header(resp, "Access-Control-Allow-Origin", origin);
        if (strcmp(origin, "*") != 0) MHD_add_response_header(resp, "Vary", "Origin");
    }
}

static void queue(http_req *r, int status, struct MHD_Response *resp)
{
    if (!resp) {
        r->status = 500;
        r->responded = true;
        return;
    }
    add_common_headers(r, resp);
    r->status = status;
    r->responded = true;
    MHD_queue_response(r->conn, (unsigned)status, resp);
    MHD_destroy_response(resp);
}

void http_respond(http_req *r, int status, const char *content_type, char *body, size_t len)
{
    if (r->responded) {
        free(body);
        return;
    }
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(len, body ? body : (char *)"", body ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
    if (!resp) free(body);
    if (resp && content_type) MHD_add_response_header(resp, "Content-Type", content_type);
    queue(r, status, resp);
}

void http_respond_json(http_req *r, int status, json_t *body)
{
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    if (!text) {
        http_respond(r, 500, "application/json", strdup("{\"error\":\"out of memory\"}"), 25);
        return;
    }
    size_t n = strlen(text);
    text[n] = 0;
    http_respond(r, status, "application/json; charset=utf-8", text, n);
}

void http_respond_error(http_req *r, const rk_error *e)
{
    json_t *body;
    if (r->style == HTTP_STYLE_OPENAI) {
        json_t *err = json_pack("{s:s, s:s}", "message", e->message, "type", e->type ? e->type : "server_error");
        json_object_set_new(err, "param", e->param ? json_string(e->param) : json_null());
        json_object_set_new(err, "code", e->code ? json_string(e->code) : json_null());
        body = json_pack("{s:o}", "error", err);
    } else {
        body = json_pack("{s:s}", "error", e->message);
    }
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    if (r->responded) {
        free(text);
        return;
    }
    size_t n = text ? strlen(text) : 0;
    struct MHD_Response *resp = MHD_create_response_from_buffer(n, text ? text : (char *)"",
                                                                text ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
    if (!resp) free(text);
    if (resp) {
        MHD_add_response_header(resp, "Content-Type", "application/json; charset=utf-8");
        if (e->retry_after > 0) {
            char ra[16];
            snprintf(ra, sizeof ra, "%d", e->retry_after);
            MHD_add_response_header(resp, "Retry-After", ra);
        }
        if (e->status == 401) MHD_add_response_header(resp, "WWW-Authenticate", "Bearer");
    }
    queue(r, e->status, resp);
}

void http_respond_errorf(http_req *r, int status, const char *param, const char *fmt, ...)
{
    rk_error e;
    rk_fail(&e, status, param, "%s", "");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e.message, sizeof e.message, fmt, ap);
    va_end(ap);
    http_respond_error(r, &e);
}

typedef struct {
    http_stream *st;
    int fd;
    void (*on_close)(void *ctx);
    void *ctx;
} stream_reader;

static bool fd_gone(int fd)
{
    http_req fake = {.fd = fd};
    return http_client_gone(&fake);
}

/* Blocks in slices so a client that leaves while nothing is being produced
 * (queued, or a long prefill) is noticed too. */
static ssize_t read_stream(void *cls, uint64_t pos, char *buf, size_t max)
{
    (void)pos;
    stream_reader *sr = cls;
    for (;;) {
        ssize_t n = http_stream_read(sr->st, buf, max, 100);
        if (n > 0) return n;
        if (n < 0) return MHD_CONTENT_READER_END_OF_STREAM;
        if (fd_gone(sr->fd)) return MHD_CONTENT_READER_END_WITH_ERROR;
    }
}

static void free_stream(void *cls)
{
    stream_reader *sr = cls;
    http_stream_abandon(sr->st);
    if (sr->on_close) sr->on_close(sr->ctx);
    http_stream_unref(sr->st);
    free(sr);
}

void http_respond_stream(http_req *r, const char *content_type, http_stream *st, void (*on_close)(void *ctx),
                         void *ctx)
{
    stream_reader *sr = r->responded ? NULL : calloc(1, sizeof *sr);
    if (!sr) {
        http_stream_abandon(st);
        if (on_close) on_close(ctx);
        if (!r->responded) http_respond_errorf(r, 500, NULL, "out of memory");
        return;
    }
    http_stream_ref(st);
    *sr = (stream_reader){.st = st, .fd = r->fd, .on_close = on_close, .ctx = ctx};
    struct MHD_Response *resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16384, read_stream, sr, free_stream);
    if (!resp) {
        free_stream(sr);
        http_respond_errorf(r, 500, NULL, "out of memory");
        return;
    }
    MHD_add_response_header(resp, "Content-Type", content_type);
    MHD_add_response_header(resp, "Cache-Control", "no-cache");
    MHD_add_response_header(resp, "X-Accel-Buffering", "no");
    queue(r, 200, resp);
}

/* ---- dispatch ---------------------------------------------------------- */

static bool path_matches(const char *pattern, const char *path)
{
    size_t n = strlen(pattern);
    if (n && pattern[n - 1] == '*') return strncmp(pattern, path, n - 1) == 0;
    return strcmp(pattern, path) == 0;
}

static bool method_matches(const char *route_method, const char *method)
{
    return !strcmp(route_method, method) || (!strcmp(route_method, "GET") && !strcmp(method, "HEAD"));
}

static http_style style_for_path(const char *path)
{
    if (!strncmp(path, "/v1/", 4) || !strcmp(path, "/v1")) return HTTP_STYLE_OPENAI;
    if (!strncmp(path, "/api/", 5)) return HTTP_STYLE_OLLAMA;
    return HTTP_STYLE_PLAIN;
}

/* Compares without an early exit, so the time taken does not reveal how
 * much of the key matched. */
static bool key_matches(const char *given, const char *key)
{
    size_t a = strlen(given), b = strlen(key);
    unsigned char diff = (unsigned char)(a != b);
    for (size_t i = 0; i < b; i++) diff |= (unsigned char)(given[i < a ? i : 0] ^ key[i]);
    return diff == 0 && a == b;
}

static bool authorised(http_req *r)
{
    const char *key = r->srv->p.cfg->api_key;
    if (!key || (r->route && r->route->public_route)) return true;
    const char *h = http_header(r, "Authorization");
    if (!h || strncasecmp(h, "Bearer ", 7) != 0) return false;
    h += 7;
    while (*h == ' ') h++;
    return key_matches(h, key);
}

static void preflight(http_req *r)
{
    struct MHD_Response *resp = MHD_create_response_from_buffer(0, (char *)"", MHD_RESPMEM_PERSISTENT);
    if (resp) {
        MHD_add_response_header(resp, "Access-Control-Allow-Methods", "GET, POST, DELETE, HEAD, OPTIONS");
        const char *want = http_header(r, "Access-Control-Request-Headers");
        MHD_add_response_header(resp, "Access-Control-Allow-Headers",
                                want ? want : "Authorization, Content-Type");
        MHD_add_response_header(resp, "Access-Control-Max-Age", "86400");
    }
    queue(r, 204, resp);
}

static void dispatch(http_req *r)
{
    const http_server_params *p = &r->srv->p;
    r->style = style_for_path(r->url);
    bool path_known = false;
    char allow[128] = "";
    for (int i = 0; i < p->n_routes; i++) {
        const http_route *rt = &p->routes[i];
        if (!path_matches(rt->path, r->url)) continue;
        if (!path_known) r->style = rt->style;
        path_known = true;
        if (method_matches(rt->method, r->method)) {
            r->route = rt;
            break;
        }
        if (strlen(allow) + strlen(rt->method) + 8 < sizeof allow) {
            if (*allow) strcat(allow, ", ");
            strcat(allow, rt->method);
            if (!strcmp(rt->method, "GET")) strcat(allow, ", HEAD");
        }
    }
    if (!strcmp(r->method, "OPTIONS") && path_known && p->cfg->cors_origin) {
        preflight(r);
        return;
    }
    if (!r->route) {
        if (!path_known) {
            http_respond_errorf(r, 404, NULL, "%s %s: no such endpoint", r->method, r->url);
            return;
        }
        rk_error e;
        rk_fail(&e, 405, NULL, "%s is not allowed on %s (allowed: %s)", r->method, r->url, allow);
        http_respond_error(r, &e);
        return;
    }
    if (!authorised(r)) {
        http_respond_errorf(r, 401, NULL, "invalid or missing API key: send 'Authorization: Bearer KEY'");
        return;
    }
    if (r->too_large) {
        http_respond_errorf(r, 413, NULL, "the request body is larger than the server's limit of %llu bytes",
                            (unsigned long long)p->cfg->max_body);
        return;
    }
    r->route->fn(r, p->app);
    if (!r->responded) http_respond_errorf(r, 500, NULL, "the handler sent no response");
}

static enum MHD_Result on_access(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                                 const char *version, const char *upload, size_t *upload_size, void **con_cls)
{
    (void)version;
    http_server *srv = cls;
    http_req *r = *con_cls;
    if (!r) {
        r = calloc(1, sizeof *r);
        if (!r) return MHD_NO;
        r->srv = srv;
        r->conn = conn;
        r->t0 = mono_ms();
        r->method = strdup(method);
        r->url = strdup(url);
        const union MHD_ConnectionInfo *ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        r->fd = ci ? ci->connect_fd : -1;
        *con_cls = r;
        if (!r->method || !r->url) return MHD_NO;
        const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Length");
        if (cl && strtoull(cl, NULL, 10) > srv->p.cfg->max_body) r->too_large = true;
        return MHD_YES;
    }
    if (*upload_size) {
        size_t n = *upload_size;
        *upload_size = 0;
        if (r->too_large) return MHD_YES; /* read and drop the rest, then answer 413 */
        if (r->len + n > srv->p.cfg->max_body) {
            r->too_large = true;
            free(r->body);
            r->body = NULL;
            r->len = r->cap = 0;
            return MHD_YES;
        }
        if (r->len + n + 1 > r->cap) {
            size_t cap = r->cap ? r->cap : 4096;
            while (cap < r->len + n + 1) cap *= 2;
            char *nb = realloc(r->body, cap);
            if (!nb) return MHD_NO;
            r->body = nb;
            r->cap = cap;
        }
        memcpy(r->body + r->len, upload, n);
        r->len += n;
        r->body[r->len] = 0;
        return MHD_YES;
    }
    if (r->responded) return MHD_YES;
    /* the idle timeout guards reading the request; a long generation is not idleness */
    MHD_set_connection_option(conn, MHD_CONNECTION_OPTION_TIMEOUT, 0u);
    dispatch(r);
    return MHD_YES;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls, enum MHD_RequestTerminationCode toe)
{
    http_server *srv = cls;
    http_req *r = *con_cls;
    *con_cls = NULL;
    if (!r) return;
    int status = r->responded ? r->status : 0;
    if (toe != MHD_REQUEST_TERMINATED_COMPLETED_OK && status == 200) status = 499; /* cut off mid-stream */
    if (srv->p.on_complete && r->method && r->url)
        srv->p.on_complete(srv->p.app, r->route ? r->route->path : "-", r->method, r->url, status, mono_ms() - r->t0);
    if (toe == MHD_REQUEST_TERMINATED_COMPLETED_OK)
        MHD_set_connection_option(conn, MHD_CONNECTION_OPTION_TIMEOUT, (unsigned)srv->p.cfg->timeout_s);
    free(r->method);
    free(r->url);
    free(r->body);
    free(r);
}

static void on_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    fputs("rkserve: http: ", stderr);
    vfprintf(stderr, fmt, ap);
}

http_server *http_server_start(const http_server_params *p, char *err, size_t errlen)
{
    http_server *srv = calloc(1, sizeof *srv);
    if (!srv) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    srv->p = *p;
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE};
    struct addrinfo *ai = NULL;
    char port[16];
    snprintf(port, sizeof port, "%d", p->cfg->port);
    const char *host = p->cfg->host;
    char bracketed[256];
    if (host[0] == '[') { /* [::1] */
        snprintf(bracketed, sizeof bracketed, "%.*s", (int)strcspn(host + 1, "]"), host + 1);
        host = bracketed;
    }
    int gai = getaddrinfo(host, port, &hints, &ai);
    if (gai != 0 || !ai) {
        snprintf(err, errlen, "cannot use host '%s': %s", p->cfg->host, gai_strerror(gai));
        free(srv);
        return NULL;
    }
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_ERROR_LOG;
    if (ai->ai_family == AF_INET6) {
        flags |= MHD_USE_IPv6;
        struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ai->ai_addr;
        if (IN6_IS_ADDR_UNSPECIFIED(&a6->sin6_addr)) flags |= MHD_USE_DUAL_STACK;
    }
    srv->daemon = MHD_start_daemon(flags, (uint16_t)p->cfg->port, NULL, NULL, on_access, srv,
                                   MHD_OPTION_EXTERNAL_LOGGER, on_log, srv,
                                   MHD_OPTION_SOCK_ADDR, ai->ai_addr,
                                   MHD_OPTION_CONNECTION_LIMIT, (unsigned)p->cfg->max_connections,
                                   MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)p->cfg->timeout_s,
                                   MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)64 * 1024,
                                   MHD_OPTION_NOTIFY_COMPLETED, on_completed, srv,
                                   MHD_OPTION_LISTENING_ADDRESS_REUSE, (unsigned)1,
                                   MHD_OPTION_END);
    int e = errno;
    freeaddrinfo(ai);
    if (!srv->daemon) {
        snprintf(err, errlen, "cannot listen on %s:%d: %s", p->cfg->host, p->cfg->port,
                 e ? strerror(e) : "libmicrohttpd refused to start");
        free(srv);
        return NULL;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(srv->daemon, MHD_DAEMON_INFO_BIND_PORT);
    srv->port = di ? di->port : p->cfg->port;
    return srv;
}

int http_server_port(const http_server *s)
{
    return s->port;
}

void http_server_quiesce(http_server *s)
{
    if (s) MHD_quiesce_daemon(s->daemon);
}

void http_server_stop(http_server *s)
{
    if (!s) return;
    MHD_stop_daemon(s->daemon);
    free(s);
}
