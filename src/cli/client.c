/* rkserve list | ps | show | rm: Ollama-style commands that ask a running
 * server (RKSERVE_HOST, default 127.0.0.1:8080) over its Ollama API. */
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
#include "cli/http_client.h"

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
    rk_endpoint ep;
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
    rk_endpoint ep;
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
        bool npu = json_integer_value(json_object_get(m, "size_vram")) > 0;
        printf("%-40s %-14.12s %-10s %-10s %-9lld %s\n", json_string_value(json_object_get(m, "name")),
               digest ? digest : "", size, npu ? "100% NPU" : "100% CPU", (long long)json_integer_value(json_object_get(m, "context_length")),
               until);
    }
    json_decref(body);
    return 0;
}

int cmd_show(int argc, char **argv)
{
    if (wants_help(argc, argv)) return usage(stdout, "show", true);
    if (argc != 2) return usage(stderr, "show", true);
    rk_endpoint ep;
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
    rk_endpoint ep;
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
