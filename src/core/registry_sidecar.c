/* Sidecar JSON beside a model, and copy JSONs that name a model elsewhere.
 * Anything wrong in a sidecar is a warning on the model: a typo in a
 * settings file must not hide the model it describes. */
#include "core/registry_internal.h"

#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static json_t *load_json(const char *path, char *err, size_t errlen)
{
    char rerr[512];
    char *text = read_file(path, REGISTRY_MAX_JSON, NULL, rerr, sizeof rerr);
    if (!text) {
        snprintf(err, errlen, "%s", rerr);
        return NULL;
    }
    json_error_t je;
    json_t *j = json_loads(text, 0, &je);
    free(text);
    if (!j) {
        snprintf(err, errlen, "line %d column %d: %s", je.line, je.column, je.text);
        return NULL;
    }
    if (!json_is_object(j)) {
        json_decref(j);
        snprintf(err, errlen, "not a JSON object");
        return NULL;
    }
    return j;
}

/* rel against the sidecar's directory, unless absolute */
static char *resolve_rel(const char *json_path, const char *rel)
{
    if (rel[0] == '/')
        return strdup(rel);
    char *dir = registry_dirname(json_path);
    if (!dir)
        return NULL;
    char *p = registry_path_join(dir, rel);
    free(dir);
    return p;
}

char *registry_sidecar_copy_target(const char *json_path)
{
    char err[256];
    json_t *j = load_json(json_path, err, sizeof err);
    if (!j)
        return NULL;
    const char *from = json_string_value(json_object_get(j, "from"));
    char *p = from && from[0] ? resolve_rel(json_path, from) : NULL;
    json_decref(j);
    return p;
}

static void lower_in_place(char *s)
{
    for (; *s; s++)
        *s = (char)tolower((unsigned char)*s);
}

static void apply_name(rentry *e, const char *sc, json_t *v)
{
    const char *s = json_string_value(v);
    size_t len = s ? json_string_length(v) : 0;
    if (!s || !registry_name_valid(s, len)) {
        rentry_warn(e, "sidecar %s: \"name\" must be a model name like \"name\" or \"name:tag\" "
                       "([A-Za-z0-9._-], one ':'); ignored",
                    sc);
        return;
    }
    char *n = strchr(s, ':') ? strdup(s) : NULL;
    if (!n) {
        size_t l = strlen(s);
        n = malloc(l + sizeof ":latest");
        if (n) {
            memcpy(n, s, l);
            memcpy(n + l, ":latest", sizeof ":latest");
        }
    }
    if (n)
        lower_in_place(n);
    e->explicit_name = rentry_own(e, n);
}

static void apply_aliases(rentry *e, const char *sc, json_t *v)
{
    json_t *one = json_is_string(v) ? v : NULL;
    if (!one && !json_is_array(v)) {
        rentry_warn(e, "sidecar %s: \"aliases\" must be a string or a list of strings", sc);
        return;
    }
    size_t n = one ? 1 : json_array_size(v);
    for (size_t i = 0; i < n; i++) {
        json_t *a = one ? one : json_array_get(v, i);
        const char *s = json_string_value(a);
        if (!s || !s[0] || strlen(s) != json_string_length(a)) {
            rentry_warn(e, "sidecar %s: alias %zu is not a non-empty string; ignored", sc, i);
            continue;
        }
        char *c = strdup(s);
        if (c)
            lower_in_place(c);
        rentry_push(e, &e->aliases, rentry_own(e, c));
    }
}

static void apply_template_file(rentry *e, const char *sc, json_t *v)
{
    const char *s = json_string_value(v);
    if (!s || !s[0]) {
        rentry_warn(e, "sidecar %s: \"chat_template_file\" must be a path", sc);
        return;
    }
    char *path = resolve_rel(sc, s);
    if (!path) {
        e->oom = true;
        return;
    }
    char err[512];
    char *text = read_file(path, REGISTRY_MAX_JSON, NULL, err, sizeof err);
    free(path);
    if (!text) {
        rentry_warn(e, "sidecar %s: chat_template_file: %s", sc, err);
        return;
    }
    e->pub.chat_template = rentry_own(e, text);
}

/* A path or a list of paths, each an existing file. False (with a warning)
 * when any is missing, leaving the entry's companions as they were. */
static bool apply_vision_files(rentry *e, const char *sc, const char *key, json_t *v,
                               registry_vision_kind kind)
{
    json_t *one = json_is_string(v) ? v : NULL;
    if (!one && (!json_is_array(v) || json_array_size(v) == 0)) {
        rentry_warn(e, "sidecar %s: vision.%s must be a path or a non-empty list of paths", sc, key);
        return false;
    }
    size_t n = one ? 1 : json_array_size(v);
    strvec tmp = {0};
    bool ok = true;
    for (size_t i = 0; i < n && ok; i++) {
        const char *s = json_string_value(one ? one : json_array_get(v, i));
        if (!s || !s[0]) {
            rentry_warn(e, "sidecar %s: vision.%s entry %zu is not a path", sc, key, i);
            ok = false;
            break;
        }
        char *path = resolve_rel(sc, s);
        struct stat st;
        errno = 0;
        if (!path) {
            e->oom = true;
            ok = false;
        } else if (stat(path, &st) != 0 || !S_ISREG(st.st_mode)) {
            rentry_warn(e, "sidecar %s: vision.%s file %s: %s", sc, key, path,
                        errno ? strerror(errno) : "not a regular file");
            free(path);
            ok = false;
        } else {
            rentry_push(e, &tmp, rentry_own(e, path));
        }
    }
    if (ok) {
        free(e->vision.v);
        e->vision = tmp;
        e->pub.vision_kind = kind;
        e->vision_set = true;
    } else {
        free(tmp.v);
    }
    return ok;
}

static void apply_vision(rentry *e, const char *sc, json_t *v)
{
    if (json_is_false(v) || json_is_null(v)) {
        e->vision.n = 0;
        e->pub.vision_kind = REGISTRY_VISION_NONE;
        e->vision_set = true;
        return;
    }
    if (!json_is_object(v)) {
        rentry_warn(e, "sidecar %s: \"vision\" must be an object, false or null", sc);
        return;
    }
    const char *key;
    json_t *val;
    json_object_foreach(v, key, val) {
        if (!strcmp(key, "preset")) {
            if (json_is_string(val))
                e->pub.vision_preset = rentry_str(e, json_string_value(val));
            else
                rentry_warn(e, "sidecar %s: vision.preset must be a string", sc);
        } else if (!strcmp(key, "mmproj")) {
            if (e->pub.format != REGISTRY_FORMAT_GGUF)
                rentry_warn(e, "sidecar %s: vision.mmproj is for GGUF models; an .rkllm model "
                               "takes vision.rknn",
                            sc);
            else
                apply_vision_files(e, sc, key, val, REGISTRY_VISION_MMPROJ);
        } else if (!strcmp(key, "rknn")) {
            if (e->pub.format != REGISTRY_FORMAT_RKLLM)
                rentry_warn(e, "sidecar %s: vision.rknn is for .rkllm models; a GGUF model "
                               "takes vision.mmproj",
                            sc);
            else
                apply_vision_files(e, sc, key, val, REGISTRY_VISION_RKNN);
        } else if (key[0] != '_') {
            rentry_warn(e, "sidecar %s: unknown field vision.%s", sc, key);
        }
    }
}

static void apply_cpu_mask(rentry *e, const char *sc, json_t *v)
{
    uint64_t mask = 0;
    bool ok = true;
    if (json_is_integer(v)) {
        json_int_t i = json_integer_value(v);
        ok = i > 0 && i <= 0xffffffffLL;
        mask = (uint64_t)i;
    } else if (json_is_string(v)) {
        const char *s = json_string_value(v);
        char *end;
        errno = 0;
        unsigned long long u = strtoull(s, &end, 0);
        ok = s[0] && *end == 0 && errno == 0 && u > 0 && u <= 0xffffffffULL && s[0] != '-';
        mask = u;
    } else if (json_is_array(v) && json_array_size(v) > 0) {
        size_t i;
        json_t *c;
        json_array_foreach(v, i, c) {
            json_int_t cpu = json_is_integer(c) ? json_integer_value(c) : -1;
            if (cpu < 0 || cpu > 31)
                ok = false;
            else
                mask |= 1ull << cpu;
        }
    } else {
        ok = false;
    }
    if (!ok) {
        rentry_warn(e, "sidecar %s: \"cpu_mask\" must be a mask (integer or \"0xF0\") or a list "
                       "of CPU numbers 0-31",
                    sc);
        return;
    }
    e->pub.cpu_mask = (uint32_t)mask;
}

static void apply_int(rentry *e, const char *sc, const char *key, json_t *v, long long lo,
                      long long hi, int64_t *out)
{
    if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi) {
        rentry_warn(e, "sidecar %s: \"%s\" must be an integer from %lld to %lld", sc, key, lo, hi);
        return;
    }
    *out = json_integer_value(v);
}

static void apply_string(rentry *e, const char *sc, const char *key, json_t *v, const char **out)
{
    if (!json_is_string(v)) {
        rentry_warn(e, "sidecar %s: \"%s\" must be a string", sc, key);
        return;
    }
    *out = rentry_strn(e, json_string_value(v), json_string_length(v));
}

void registry_sidecar_apply(rentry *e, const char *sc, bool identity)
{
    char err[600];
    json_t *j = load_json(sc, err, sizeof err);
    if (!j) {
        rentry_warn(e, "sidecar %s: %s; its settings are not applied", sc, err);
        return;
    }
    const char *key;
    json_t *v;
    json_t *tmpl = json_object_get(j, "chat_template");
    json_object_foreach(j, key, v) {
        if (!strcmp(key, "name")) {
            if (identity)
                apply_name(e, sc, v);
        } else if (!strcmp(key, "aliases")) {
            if (identity)
                apply_aliases(e, sc, v);
        } else if (!strcmp(key, "chat_template")) {
            apply_string(e, sc, key, v, &e->pub.chat_template);
        } else if (!strcmp(key, "chat_template_file")) {
            if (tmpl)
                rentry_warn(e, "sidecar %s: both chat_template and chat_template_file; "
                               "using chat_template",
                            sc);
            else
                apply_template_file(e, sc, v);
        } else if (!strcmp(key, "vision")) {
            apply_vision(e, sc, v);
        } else if (!strcmp(key, "context")) {
            int64_t c = 0;
            apply_int(e, sc, key, v, 1, 1LL << 30, &c);
            if (c) {
                e->pub.context = c;
                e->pub.context_source = REGISTRY_CTX_SIDECAR;
            }
        } else if (!strcmp(key, "cpu_mask")) {
            apply_cpu_mask(e, sc, v);
        } else if (!strcmp(key, "npu_cores")) {
            int64_t c = 0;
            apply_int(e, sc, key, v, 1, 16, &c);
            if (c)
                e->pub.npu_cores = (int)c;
        } else if (!strcmp(key, "parameters")) {
            if (!json_is_object(v)) {
                rentry_warn(e, "sidecar %s: \"parameters\" must be an object", sc);
            } else {
                /* 15 digits give back the decimals a person wrote (0.2, not 0.20000000000000001) */
                char *text = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS | JSON_REAL_PRECISION(15));
                e->pub.parameters_json = rentry_own(e, text);
            }
        } else if (!strcmp(key, "system")) {
            apply_string(e, sc, key, v, &e->pub.system);
        } else if (!strcmp(key, "from")) {
            /* a copy's target, read by the scan */
        } else if (key[0] != '_') {
            rentry_warn(e, "sidecar %s: unknown field \"%s\"", sc, key);
        }
    }
    json_decref(j);
}
