#include "core/config.h"

#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

typedef enum { T_STR, T_INT, T_DURATION, T_SIZE, T_BOOL, T_LIST } opt_type;

typedef struct {
    const char *flag; /* long flag without "--"; the JSON key is the same with '_' for '-' */
    const char *env;
    opt_type type;
    size_t off;
    int min, max; /* T_INT bounds */
    const char *arg;
    const char *help;
} opt_def;

#define OFF(f) offsetof(rk_config, f)

static const opt_def OPTIONS[] = {
    {"host", "RKSERVE_HOST", T_STR, OFF(host), 0, 0, "ADDR", "address to listen on, optionally with :PORT (default 127.0.0.1; 0.0.0.0 or :: for all)"},
    {"port", "RKSERVE_PORT", T_INT, OFF(port), 0, 65535, "N", "TCP port (default 8080; 0 picks a free one)"},
    {"models", "RKSERVE_MODELS", T_LIST, OFF(model_dirs), 0, 0, "DIR",
     "model directory, repeatable (default ~/.rkserve/models; the environment takes a ':' list)"},
    {"api-key", "RKSERVE_API_KEY", T_STR, OFF(api_key), 0, 0, "KEY", "require 'Authorization: Bearer KEY' (default: none)"},
    {"keep-alive", "RKSERVE_KEEP_ALIVE", T_DURATION, OFF(keep_alive_ms), 0, 0, "DUR",
     "keep an idle model loaded this long: 5m, 1h, 30s, seconds, -1 forever, 0 unload at once (default 5m)"},
    {"max-queue", "RKSERVE_MAX_QUEUE", T_INT, OFF(max_queue), 0, 1000000, "N",
     "requests that may wait per model before 503 (default 512)"},
    {"parallel", "RKSERVE_PARALLEL", T_INT, OFF(parallel), 1, 256, "N", "sessions (KV slots) per model (default 1)"},
    {"ctx", "RKSERVE_CTX", T_INT, OFF(ctx), 0, 1 << 24, "N", "context length (default: the model's, at most 4096)"},
    {"threads", "RKSERVE_THREADS", T_INT, OFF(threads), 0, 4096, "N", "compute threads per model (default: all cores)"},
    {"cors", "RKSERVE_CORS", T_STR, OFF(cors_origin), 0, 0, "ORIGIN", "allow browsers from ORIGIN ('*' for any; default: off)"},
    {"chat-template", "RKSERVE_CHAT_TEMPLATE", T_STR, OFF(chat_template_file), 0, 0, "FILE",
     "Jinja chat template for every model, instead of each model's own"},
    {"cache-dir", "RKSERVE_CACHE_DIR", T_STR, OFF(cache_dir), 0, 0, "DIR",
     "where prompt caches (/v1/cache) are kept (default ~/.rkserve/cache)"},
    {"rkllm-lib", "RKSERVE_RKLLM_LIB", T_STR, OFF(rkllm_lib), 0, 0, "PATH",
     "Rockchip's librkllmrt.so for .rkllm models (default: $RKLLM_LIB, then the library path)"},
    {"vision-presets", "RKSERVE_VISION_PRESETS", T_STR, OFF(vision_presets_file), 0, 0, "FILE",
     "JSON file of vision presets, added to (or replacing by name) the shipped ones"},
    {"image-dir", "RKSERVE_IMAGE_DIR", T_STR, OFF(image_dirs), 0, 0, "DIR[:DIR]",
     "directories whose files requests may name as images (default: none)"},
    {"allow-image-urls", "RKSERVE_ALLOW_IMAGE_URLS", T_BOOL, OFF(allow_image_urls), 0, 0, NULL,
     "fetch http(s) image URLs given in requests (default: off)"},
    {"max-image-size", "RKSERVE_MAX_IMAGE_SIZE", T_SIZE, OFF(max_image_bytes), 0, 0, "SIZE",
     "largest encoded image (default 20M)"},
    {"memory-budget", "RKSERVE_MEMORY_BUDGET", T_SIZE, OFF(memory_budget), 0, 0, "SIZE",
     "bytes of loaded models before idle ones are unloaded: 8G, 512M (default: 3/4 of RAM)"},
    {"max-body", "RKSERVE_MAX_BODY", T_SIZE, OFF(max_body), 0, 0, "SIZE", "largest request body (default 32M)"},
    {"max-connections", "RKSERVE_MAX_CONNECTIONS", T_INT, OFF(max_connections), 1, 100000, "N",
     "simultaneous connections (default 256)"},
    {"timeout", "RKSERVE_TIMEOUT", T_INT, OFF(timeout_s), 0, 86400, "SECONDS",
     "drop a connection idle this long while sending its request (default 60, 0 = never)"},
    {"verbose", "RKSERVE_VERBOSE", T_BOOL, OFF(verbose), 0, 0, NULL, "log one line per request to stderr"},
    {"config", "RKSERVE_CONFIG", T_STR, OFF(config_file), 0, 0, "FILE", "JSON file of options (keys as above, '-' as '_')"},
};

#define N_OPTIONS (sizeof OPTIONS / sizeof OPTIONS[0])

void config_defaults(rk_config *c)
{
    memset(c, 0, sizeof *c);
    c->host = strdup("127.0.0.1");
    c->port = 8080;
    const char *home = getenv("HOME");
    if (home && *home) {
        size_t n = strlen(home) + 32;
        char *dir = malloc(n);
        c->model_dirs = calloc(1, sizeof *c->model_dirs);
        if (dir && c->model_dirs) {
            snprintf(dir, n, "%s/.rkserve/models", home);
            c->model_dirs[0] = dir;
            c->n_model_dirs = 1;
        } else {
            free(dir);
        }
        c->cache_dir = malloc(n);
        if (c->cache_dir) snprintf(c->cache_dir, n, "%s/.rkserve/cache", home);
    }
    c->keep_alive_ms = 5 * 60 * 1000;
    c->max_queue = 512;
    c->parallel = 1;
    c->max_body = 32u << 20;
    c->max_image_bytes = 20u << 20;
    c->max_connections = 256;
    c->timeout_s = 60;
}

static void free_list(rk_config *c)
{
    for (int i = 0; i < c->n_model_dirs; i++) free(c->model_dirs[i]);
    free(c->model_dirs);
    c->model_dirs = NULL;
    c->n_model_dirs = 0;
}

void config_free(rk_config *c)
{
    free(c->host);
    free_list(c);
    free(c->api_key);
    free(c->cors_origin);
    free(c->chat_template_file);
    free(c->cache_dir);
    free(c->rkllm_lib);
    free(c->vision_presets_file);
    free(c->image_dirs);
    free(c->config_file);
    memset(c, 0, sizeof *c);
}

bool config_parse_duration(const char *s, int64_t *ms)
{
    while (isspace((unsigned char)*s)) s++;
    if (!*s) return false;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end != s && !errno && isfinite(v)) {
        while (isspace((unsigned char)*end)) end++;
        if (!*end) { /* a bare number is seconds */
            if (v < 0) *ms = RK_KEEP_FOREVER;
            else if (v > 9.2e15) return false;
            else *ms = (int64_t)llround(v * 1000.0);
            return true;
        }
    }
    /* Go-style: a sequence of number+unit, optionally signed */
    bool neg = false;
    if (*s == '-' || *s == '+') neg = *s++ == '-';
    double total = 0;
    int parts = 0;
    while (*s) {
        errno = 0;
        if (!isdigit((unsigned char)*s) && *s != '.') return false;
        v = strtod(s, &end);
        if (end == s || errno || !isfinite(v)) return false;
        s = end;
        double unit;
        if (!strncmp(s, "ms", 2)) unit = 1, s += 2;
        else if (!strncmp(s, "us", 2) || !strncmp(s, "\xc2\xb5s", 3)) unit = 1e-3, s += (*s == 'u' ? 2 : 3);
        else if (!strncmp(s, "ns", 2)) unit = 1e-6, s += 2;
        else if (*s == 'h') unit = 3600e3, s++;
        else if (*s == 'm') unit = 60e3, s++;
        else if (*s == 's') unit = 1e3, s++;
        else return false;
        total += v * unit;
        parts++;
    }
    if (!parts || total > 9.2e15) return false;
    *ms = neg && total > 0 ? RK_KEEP_FOREVER : (int64_t)llround(total);
    return true;
}

bool config_parse_size(const char *s, uint64_t *bytes)
{
    while (isspace((unsigned char)*s)) s++;
    if (!isdigit((unsigned char)*s) && *s != '.') return false;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || errno || !isfinite(v) || v < 0) return false;
    double mul = 1;
    switch (toupper((unsigned char)*end)) {
    case 'K': mul = 1024.0; end++; break;
    case 'M': mul = 1024.0 * 1024; end++; break;
    case 'G': mul = 1024.0 * 1024 * 1024; end++; break;
    case 'T': mul = 1024.0 * 1024 * 1024 * 1024; end++; break;
    default: break;
    }
    if (mul > 1 && (*end == 'i' || *end == 'I')) end++;
    if (*end == 'B' || *end == 'b') end++;
    while (isspace((unsigned char)*end)) end++;
    if (*end) return false;
    v *= mul;
    if (v >= 1.8e19) return false;
    *bytes = (uint64_t)v;
    return true;
}

static bool parse_bool(const char *s, bool *out)
{
    static const char *yes[] = {"1", "true", "yes", "on"}, *no[] = {"0", "false", "no", "off", ""};
    for (size_t i = 0; i < 4; i++)
        if (!strcasecmp(s, yes[i])) return *out = true, true;
    for (size_t i = 0; i < 5; i++)
        if (!strcasecmp(s, no[i])) return *out = false, true;
    return false;
}

static bool list_add(rk_config *c, const char *dir)
{
    char **l = realloc(c->model_dirs, (size_t)(c->n_model_dirs + 1) * sizeof *l);
    if (!l) return false;
    c->model_dirs = l;
    if (!(l[c->n_model_dirs] = strdup(dir))) return false;
    c->n_model_dirs++;
    return true;
}

/* Sets one option from text. `fresh_list` says whether a list option starts
 * over (the first time a layer mentions it) or appends. */
static bool apply(rk_config *c, const opt_def *o, const char *val, bool fresh_list, const char *where, char *err,
                  size_t errlen)
{
    void *field = (char *)c + o->off;
    bool ok = true;
    switch (o->type) {
    case T_STR: {
        char *dup = strdup(val);
        if (!dup) ok = false;
        else {
            free(*(char **)field);
            *(char **)field = *val ? dup : (free(dup), NULL);
        }
        break;
    }
    case T_INT: {
        char *end;
        errno = 0;
        long v = strtol(val, &end, 10);
        ok = end != val && !*end && !errno && v >= o->min && v <= o->max;
        if (ok) *(int *)field = (int)v;
        else {
            snprintf(err, errlen, "%s: --%s wants a whole number from %d to %d, not '%s'", where, o->flag, o->min,
                     o->max, val);
            return false;
        }
        break;
    }
    case T_DURATION: ok = config_parse_duration(val, (int64_t *)field); break;
    case T_SIZE:
        if (!strcasecmp(val, "auto")) *(uint64_t *)field = 0;
        else ok = config_parse_size(val, (uint64_t *)field);
        break;
    case T_BOOL: ok = parse_bool(val, (bool *)field); break;
    case T_LIST:
        if (fresh_list) free_list(c);
        ok = list_add(c, val);
        break;
    }
    if (!ok) snprintf(err, errlen, "%s: invalid value '%s' for --%s", where, val, o->flag);
    return ok;
}

static const opt_def *find_flag(const char *name, size_t len)
{
    for (size_t i = 0; i < N_OPTIONS; i++)
        if (strlen(OPTIONS[i].flag) == len && !strncmp(OPTIONS[i].flag, name, len)) return &OPTIONS[i];
    return NULL;
}

static const char *env_get(char **envp, const char *name)
{
    if (!envp) return NULL;
    size_t n = strlen(name);
    for (char **e = envp; *e; e++)
        if (!strncmp(*e, name, n) && (*e)[n] == '=') return *e + n + 1;
    return NULL;
}

static int load_file(rk_config *c, const char *path, char *err, size_t errlen)
{
    json_error_t je;
    json_t *root = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
    if (!root) {
        snprintf(err, errlen, "%s:%d:%d: %s", path, je.line, je.column, je.text);
        return -1;
    }
    if (!json_is_object(root)) {
        snprintf(err, errlen, "%s: the config file must hold a JSON object", path);
        json_decref(root);
        return -1;
    }
    const char *key;
    json_t *val;
    json_object_foreach(root, key, val) {
        char flag[64];
        snprintf(flag, sizeof flag, "%s", key);
        for (char *p = flag; *p; p++)
            if (*p == '_') *p = '-';
        const opt_def *o = find_flag(flag, strlen(flag));
        if (!o || o->off == OFF(config_file)) {
            snprintf(err, errlen, "%s: unknown option '%s'", path, key);
            json_decref(root);
            return -1;
        }
        json_t *items = json_is_array(val) && o->type == T_LIST ? val : NULL;
        size_t n = items ? json_array_size(items) : 1;
        if (o->type == T_LIST && n == 0) free_list(c);
        for (size_t i = 0; i < n; i++) {
            json_t *v = items ? json_array_get(items, i) : val;
            char buf[64];
            const char *text;
            if (json_is_string(v)) text = json_string_value(v);
            else if (json_is_integer(v)) snprintf(buf, sizeof buf, "%lld", (long long)json_integer_value(v)), text = buf;
            else if (json_is_real(v)) snprintf(buf, sizeof buf, "%.17g", json_real_value(v)), text = buf;
            else if (json_is_boolean(v)) text = json_is_true(v) ? "true" : "false";
            else {
                snprintf(err, errlen, "%s: option '%s' wants a string, number or boolean", path, key);
                json_decref(root);
                return -1;
            }
            char where[300];
            snprintf(where, sizeof where, "%s", path);
            if (!apply(c, o, text, i == 0, where, err, errlen)) {
                json_decref(root);
                return -1;
            }
        }
    }
    json_decref(root);
    return 0;
}

/* The host may carry a port as Ollama's OLLAMA_HOST does ("0.0.0.0:11434",
 * "[::]:8080", "http://host:port"), so one RKSERVE_HOST serves both the
 * server and its clients. Such a port is used unless --port was given. */
static int split_host_port(rk_config *c, bool port_flag, char *err, size_t errlen)
{
    char *h = c->host;
    if (!strncmp(h, "http://", 7)) memmove(h, h + 7, strlen(h + 7) + 1);
    size_t n = strlen(h);
    if (n && h[n - 1] == '/') h[--n] = 0;
    char *port = NULL;
    if (h[0] == '[') {
        char *end = strchr(h, ']');
        if (end && end[1] == ':') port = end + 2;
        if (end) {
            *end = 0;
            memmove(h, h + 1, strlen(h + 1) + 1);
        }
    } else {
        char *colon = strchr(h, ':');
        if (colon && colon == strrchr(h, ':')) { /* one colon: host:port, not IPv6 */
            *colon = 0;
            port = colon + 1;
        }
    }
    if (port) {
        char *end;
        long v = strtol(port, &end, 10);
        if (end == port || *end || v < 0 || v > 65535) {
            snprintf(err, errlen, "the port in host '%s' is not a number from 0 to 65535", port);
            return -1;
        }
        if (!port_flag) c->port = (int)v;
    }
    if (!*h) {
        free(c->host);
        c->host = strdup("127.0.0.1");
    }
    return 0;
}

int config_load(rk_config *c, int argc, char **argv, char **envp, char *err, size_t errlen)
{
    config_defaults(c);
    /* the file is the lowest layer, so find it before anything else */
    const char *file = env_get(envp, "RKSERVE_CONFIG");
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            config_usage(stdout);
            return 1;
        }
        if (!strcmp(argv[i], "--config") && i + 1 < argc) file = argv[i + 1];
        else if (!strncmp(argv[i], "--config=", 9)) file = argv[i] + 9;
    }
    if (file && *file) {
        if (load_file(c, file, err, errlen) != 0) return -1;
        free(c->config_file);
        c->config_file = strdup(file);
    }
    for (size_t i = 0; i < N_OPTIONS; i++) {
        const opt_def *o = &OPTIONS[i];
        const char *v = env_get(envp, o->env);
        if (!v || o->off == OFF(config_file)) continue;
        if (o->type == T_LIST) {
            free_list(c);
            const char *p = v;
            while (*p) {
                const char *colon = strchr(p, ':');
                size_t n = colon ? (size_t)(colon - p) : strlen(p);
                if (n) {
                    char *dir = strndup(p, n);
                    bool ok = dir && list_add(c, dir);
                    free(dir);
                    if (!ok) return snprintf(err, errlen, "out of memory"), -1;
                }
                p += n + (colon ? 1 : 0);
            }
        } else if (!apply(c, o, v, true, o->env, err, errlen)) {
            return -1;
        }
    }
    bool seen[N_OPTIONS] = {0};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strncmp(a, "--", 2) != 0) {
            snprintf(err, errlen, "unexpected argument '%s' (options start with --)", a);
            return -1;
        }
        const char *name = a + 2, *eq = strchr(name, '=');
        size_t len = eq ? (size_t)(eq - name) : strlen(name);
        const opt_def *o = find_flag(name, len);
        if (!o) {
            snprintf(err, errlen, "unknown option '%.*s'", (int)(len + 2), a);
            return -1;
        }
        const char *val;
        if (eq) val = eq + 1;
        else if (o->type == T_BOOL) val = "true";
        else if (i + 1 < argc) val = argv[++i];
        else {
            snprintf(err, errlen, "option --%s needs a value", o->flag);
            return -1;
        }
        if (o->off == OFF(config_file)) continue; /* already read */
        size_t idx = (size_t)(o - OPTIONS);
        if (!apply(c, o, val, !seen[idx], "command line", err, errlen)) return -1;
        seen[idx] = true;
    }
    if (!c->host) c->host = strdup("127.0.0.1");
    return split_host_port(c, seen[(size_t)(find_flag("port", 4) - OPTIONS)], err, errlen);
}

void config_usage(FILE *out)
{
    fprintf(out, "usage: rkserve serve [options]\n\n"
                 "Serves the models found in the model directories over OpenAI- and Ollama-compatible\n"
                 "HTTP APIs. Each option can also be set by the environment variable shown, or in\n"
                 "the JSON config file; a flag beats the environment, which beats the file.\n\n"
                 "options:\n");
    for (size_t i = 0; i < N_OPTIONS; i++) {
        const opt_def *o = &OPTIONS[i];
        char left[64];
        snprintf(left, sizeof left, "--%s%s%s", o->flag, o->arg ? " " : "", o->arg ? o->arg : "");
        fprintf(out, "  %-24s %s\n  %-24s [env %s]\n", left, o->help, "", o->env);
    }
    fprintf(out, "  %-24s %s\n", "-h, --help", "this text");
}
