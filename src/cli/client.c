/* rkserve list | ps | show | rm: Ollama-style commands that ask a running
 * server (RKSERVE_HOST, default 127.0.0.1:8080) over its Ollama API. A
 * small HTTP/1.1 client over a socket: one request per connection. */
#include <errno.h>
#include <jansson.h>
#include <netdb.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "cli/commands.h"

typedef struct {
    char host[256];
    char port[16];
    const char *api_key;
} endpoint;

/* RKSERVE_HOST as Ollama's OLLAMA_HOST: "host", "host:port",
 * "http://host:port", "[::1]:port"; RKSERVE_PORT when no port is given. */
static void endpoint_from_env(endpoint *ep)
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

static int connect_to(const endpoint *ep, char *err, size_t errlen)
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
        struct timeval tv = {.tv_sec = 300};
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        if (connect(fd, a->ai_addr, a->ai_addrlen) != 0) {
            e = errno;
            close(fd);
            fd = -1;
        }
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

/* De-chunks body in place; returns the new length. */
static size_t dechunk(char *body, size_t len)
{
    size_t in = 0, out = 0;
    while (in < len) {
        char *end;
        unsigned long n = strtoul(body + in, &end, 16);
        char *eol = strstr(body + in, "\r\n");
        if (!eol || end == body + in) break;
        in = (size_t)(eol - body) + 2;
        if (n == 0 || in + n > len) break;
        memmove(body + out, body + in, n);
        out += n;
        in += n + 2;
    }
    body[out] = 0;
    return out;
}

/* Performs one request; returns the HTTP status (or -1 with err) and the
 * parsed JSON body in *out (NULL when the body is not JSON). */
static int http_call(const endpoint *ep, const char *method, const char *path, const char *body, json_t **out,
                     char *err, size_t errlen)
{
    *out = NULL;
    int fd = connect_to(ep, err, errlen);
    if (fd < 0) return -1;
    char head[1024];
    char auth[512] = "";
    if (ep->api_key && *ep->api_key) snprintf(auth, sizeof auth, "Authorization: Bearer %s\r\n", ep->api_key);
    size_t blen = body ? strlen(body) : 0;
    int hn = snprintf(head, sizeof head,
                      "%s %s HTTP/1.1\r\nHost: %s:%s\r\nUser-Agent: rkserve/%s\r\nAccept: application/json\r\n"
                      "%sContent-Type: application/json\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n",
                      method, path, ep->host, ep->port, RKSERVE_VERSION, auth, blen);
    if (hn < 0 || (size_t)hn >= sizeof head || !send_all(fd, head, (size_t)hn) || (blen && !send_all(fd, body, blen))) {
        snprintf(err, errlen, "cannot send the request: %s", strerror(errno));
        close(fd);
        return -1;
    }
    size_t cap = 65536, len = 0;
    char *buf = malloc(cap);
    for (;;) {
        if (!buf) break;
        if (len + 4096 > cap) {
            char *nb = realloc(buf, cap * 2);
            if (!nb) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
            cap *= 2;
        }
        ssize_t n = recv(fd, buf + len, cap - len - 1, 0);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        len += (size_t)n;
    }
    close(fd);
    if (!buf) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    buf[len] = 0;
    int status = 0;
    char *sep = strstr(buf, "\r\n\r\n");
    if (sscanf(buf, "HTTP/%*s %d", &status) != 1 || !sep) {
        snprintf(err, errlen, "the server's answer is not HTTP");
        free(buf);
        return -1;
    }
    *sep = 0;
    char *payload = sep + 4;
    size_t plen = len - (size_t)(payload - buf);
    for (char *line = strstr(buf, "\r\n"); line; line = strstr(line + 2, "\r\n"))
        if (!strncasecmp(line + 2, "Transfer-Encoding:", 18) && strstr(line + 2, "chunked")) {
            plen = dechunk(payload, plen);
            break;
        }
    if (plen) *out = json_loadb(payload, plen, 0, NULL);
    free(buf);
    return status;
}

/* The server's error text for a failed call, or a generic one. */
static void report(const char *cmd, int status, json_t *body, const char *err)
{
    if (status < 0) {
        fprintf(stderr, "rkserve %s: %s\n", cmd, err);
        return;
    }
    const char *msg = json_string_value(json_object_get(body, "error"));
    fprintf(stderr, "rkserve %s: %s (HTTP %d)\n", cmd, msg ? msg : "request failed", status);
}

static void human_size(uint64_t n, char *buf, size_t len)
{
    if (n >= 1000000000ull) snprintf(buf, len, "%.1f GB", n / 1e9);
    else if (n >= 1000000ull) snprintf(buf, len, "%.0f MB", n / 1e6);
    else snprintf(buf, len, "%.0f KB", n / 1e3);
}

/* "2 minutes ago", "in 4 minutes", from an RFC 3339 time. */
static void relative_time(const char *rfc3339, bool future, char *buf, size_t len)
{
    struct tm tm = {0};
    if (!rfc3339 || !strptime(rfc3339, "%Y-%m-%dT%H:%M:%S", &tm)) {
        snprintf(buf, len, "?");
        return;
    }
    double d = difftime(timegm(&tm), time(NULL));
    if (!future) d = -d;
    if (d > 50.0 * 365 * 86400) {
        snprintf(buf, len, "Forever");
        return;
    }
    const char *unit = "second";
    double v = d;
    if (v >= 86400) v /= 86400, unit = "day";
    else if (v >= 3600) v /= 3600, unit = "hour";
    else if (v >= 60) v /= 60, unit = "minute";
    long n = (long)(v < 0 ? 0 : v);
    if (future) snprintf(buf, len, "%ld %s%s from now", n, unit, n == 1 ? "" : "s");
    else snprintf(buf, len, "%ld %s%s ago", n, unit, n == 1 ? "" : "s");
}

static int usage(FILE *out, const char *cmd, bool needs_model)
{
    fprintf(out,
            "usage: rkserve %s%s\n\nAsks the rkserve server at RKSERVE_HOST (default 127.0.0.1:8080; RKSERVE_PORT\n"
            "sets the port alone, RKSERVE_API_KEY the key).\n",
            cmd, needs_model ? " MODEL" : "");
    return out == stdout ? 0 : 2;
}

static bool wants_help(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) return true;
    return false;
}

int cmd_list(int argc, char **argv)
{
    if (wants_help(argc, argv)) return usage(stdout, "list", false);
    if (argc != 1) return usage(stderr, "list", false);
    endpoint ep;
    endpoint_from_env(&ep);
    json_t *body;
    char err[512];
    int status = http_call(&ep, "GET", "/api/tags", NULL, &body, err, sizeof err);
    if (status != 200) {
        report("list", status, body, err);
        json_decref(body);
        return 1;
    }
    printf("%-40s %-14s %-10s %s\n", "NAME", "ID", "SIZE", "MODIFIED");
    size_t i;
    json_t *m;
    json_array_foreach(json_object_get(body, "models"), i, m) {
        char size[32], when[64];
        human_size((uint64_t)json_integer_value(json_object_get(m, "size")), size, sizeof size);
        relative_time(json_string_value(json_object_get(m, "modified_at")), false, when, sizeof when);
        const char *digest = json_string_value(json_object_get(m, "digest"));
        printf("%-40s %-14.12s %-10s %s\n", json_string_value(json_object_get(m, "name")), digest ? digest : "", size,
               when);
    }
    json_decref(body);
    return 0;
}

int cmd_ps(int argc, char **argv)
{
    if (wants_help(argc, argv)) return usage(stdout, "ps", false);
    if (argc != 1) return usage(stderr, "ps", false);
    endpoint ep;
    endpoint_from_env(&ep);
    json_t *body;
    char err[512];
    int status = http_call(&ep, "GET", "/api/ps", NULL, &body, err, sizeof err);
    if (status != 200) {
        report("ps", status, body, err);
        json_decref(body);
        return 1;
    }
    printf("%-40s %-14s %-10s %-10s %-9s %s\n", "NAME", "ID", "SIZE", "PROCESSOR", "CONTEXT", "UNTIL");
    size_t i;
    json_t *m;
    json_array_foreach(json_object_get(body, "models"), i, m) {
        char size[32], until[64];
        human_size((uint64_t)json_integer_value(json_object_get(m, "size")), size, sizeof size);
        relative_time(json_string_value(json_object_get(m, "expires_at")), true, until, sizeof until);
        const char *digest = json_string_value(json_object_get(m, "digest"));
        printf("%-40s %-14.12s %-10s %-10s %-9lld %s\n", json_string_value(json_object_get(m, "name")),
               digest ? digest : "", size, "100% CPU", (long long)json_integer_value(json_object_get(m, "context_length")),
               until);
    }
    json_decref(body);
    return 0;
}

int cmd_show(int argc, char **argv)
{
    if (wants_help(argc, argv)) return usage(stdout, "show", true);
    if (argc != 2) return usage(stderr, "show", true);
    endpoint ep;
    endpoint_from_env(&ep);
    json_t *req = json_pack("{s:s}", "model", argv[1]);
    char *text = json_dumps(req, JSON_COMPACT);
    json_decref(req);
    json_t *body;
    char err[512];
    int status = http_call(&ep, "POST", "/api/show", text, &body, err, sizeof err);
    free(text);
    if (status != 200) {
        report("show", status, body, err);
        json_decref(body);
        return 1;
    }
    json_t *d = json_object_get(body, "details"), *info = json_object_get(body, "model_info");
    const char *arch = json_string_value(json_object_get(info, "general.architecture"));
    printf("  Model\n");
    printf("    %-20s %s\n", "architecture", arch ? arch : "?");
    printf("    %-20s %s\n", "parameters", json_string_value(json_object_get(d, "parameter_size")));
    if (arch) {
        char key[128];
        snprintf(key, sizeof key, "%s.context_length", arch);
        json_t *ctx = json_object_get(info, key);
        if (ctx) printf("    %-20s %lld\n", "context length", (long long)json_integer_value(ctx));
        snprintf(key, sizeof key, "%s.embedding_length", arch);
        json_t *emb = json_object_get(info, key);
        if (emb) printf("    %-20s %lld\n", "embedding length", (long long)json_integer_value(emb));
    }
    printf("    %-20s %s\n", "quantization", json_string_value(json_object_get(d, "quantization_level")));
    printf("    %-20s %s\n\n  Capabilities\n", "format", json_string_value(json_object_get(d, "format")));
    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(body, "capabilities"), i, c) printf("    %s\n", json_string_value(c));
    const char *tmpl = json_string_value(json_object_get(body, "template"));
    printf("\n  Chat template\n    %s\n", tmpl && *tmpl ? "the model's own (Jinja)" : "built-in format");
    json_decref(body);
    return 0;
}

int cmd_rm(int argc, char **argv)
{
    if (wants_help(argc, argv)) return usage(stdout, "rm", true);
    if (argc < 2) return usage(stderr, "rm", true);
    endpoint ep;
    endpoint_from_env(&ep);
    int rc = 0;
    for (int a = 1; a < argc; a++) {
        json_t *req = json_pack("{s:s}", "model", argv[a]);
        char *text = json_dumps(req, JSON_COMPACT);
        json_decref(req);
        json_t *body;
        char err[512];
        int status = http_call(&ep, "DELETE", "/api/delete", text, &body, err, sizeof err);
        free(text);
        if (status != 200) {
            report("rm", status, body, err);
            rc = 1;
        } else {
            printf("deleted '%s'\n", argv[a]);
        }
        json_decref(body);
    }
    return rc;
}
