#include "core/prompt_cache.h"

#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/download.h"
#include "util/fsutil.h"

bool prompt_cache_valid_name(const char *name)
{
    size_t n = name ? strlen(name) : 0;
    if (n == 0 || n > 64 || name[0] == '.') return false;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '.' ||
              c == '-'))
            return false;
    }
    return true;
}

char *prompt_cache_model_dir(const char *cache_dir, const char *model)
{
    size_t n = strlen(cache_dir) + strlen(model) + 2;
    char *p = malloc(n);
    if (!p) return NULL;
    int head = snprintf(p, n, "%s/", cache_dir);
    char *sub = p + head;
    for (const char *s = model; *s; s++) p[head++] = (*s == ':' || *s == '/' || *s == '\\') ? '_' : *s;
    p[head] = 0;
    if (sub[0] == '.') sub[0] = '_'; /* never "." or ".." or hidden */
    return p;
}

static char *join(const char *dir, const char *name, const char *ext)
{
    size_t n = strlen(dir) + strlen(name) + strlen(ext) + 2;
    char *p = malloc(n);
    if (p) snprintf(p, n, "%s/%s%s", dir, name, ext);
    return p;
}

void prompt_cache_meta_clear(prompt_cache_meta *m)
{
    free(m->content);
    memset(m, 0, sizeof *m);
}

static void copy_str(char *dst, size_t cap, const char *src)
{
    snprintf(dst, cap, "%s", src ? src : "");
}

static int from_json(const json_t *j, const char *name, prompt_cache_meta *out)
{
    const char *content = json_string_value(json_object_get(j, "content"));
    if (!json_is_object(j) || !content) return -1;
    memset(out, 0, sizeof *out);
    copy_str(out->name, sizeof out->name, name);
    out->content = strdup(content);
    if (!out->content) return -1;
    out->version = json_integer_value(json_object_get(j, "version"));
    out->created_at = json_integer_value(json_object_get(j, "created_at"));
    out->updated_at = json_integer_value(json_object_get(j, "updated_at"));
    copy_str(out->prompt_hash, sizeof out->prompt_hash, json_string_value(json_object_get(j, "prompt_hash")));
    copy_str(out->engine, sizeof out->engine, json_string_value(json_object_get(j, "engine")));
    copy_str(out->model_digest, sizeof out->model_digest, json_string_value(json_object_get(j, "model_digest")));
    out->n_tokens = json_integer_value(json_object_get(j, "n_tokens"));
    return 0;
}

int prompt_cache_read(const char *model_dir, const char *name, prompt_cache_meta *out, char *err, size_t errlen)
{
    if (!prompt_cache_valid_name(name)) return 1;
    char *path = join(model_dir, name, ".json");
    if (!path) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (access(path, F_OK) != 0) {
        free(path);
        return 1;
    }
    json_error_t je;
    json_t *j = json_load_file(path, 0, &je);
    int rc = j && from_json(j, name, out) == 0 ? 0 : -1;
    if (rc) snprintf(err, errlen, "cache '%s' cannot be read (%s): delete and create it again", name, j ? "bad fields" : je.text);
    json_decref(j);
    free(path);
    return rc;
}

int prompt_cache_make_dir(const char *dir)
{
    return mkdir_p(dir);
}

int prompt_cache_write(const char *model_dir, const prompt_cache_meta *m, char *err, size_t errlen)
{
    if (prompt_cache_make_dir(model_dir) != 0) {
        snprintf(err, errlen, "cannot create %s: %s", model_dir, strerror(errno));
        return -1;
    }
    json_t *j = json_pack("{s:s, s:s, s:I, s:I, s:I, s:s, s:s, s:s, s:I}", "name", m->name, "content",
                          m->content ? m->content : "", "version", (json_int_t)m->version, "created_at",
                          (json_int_t)m->created_at, "updated_at", (json_int_t)m->updated_at, "prompt_hash",
                          m->prompt_hash, "engine", m->engine, "model_digest", m->model_digest, "n_tokens",
                          (json_int_t)m->n_tokens);
    char *path = join(model_dir, m->name, ".json"), *tmp = join(model_dir, m->name, ".json.tmp");
    int rc = -1;
    if (j && path && tmp && json_dump_file(j, tmp, JSON_INDENT(2)) == 0) {
        if (rename(tmp, path) == 0) rc = 0;
        else unlink(tmp);
    }
    if (rc) snprintf(err, errlen, "cannot write cache '%s' in %s: %s", m->name, model_dir, strerror(errno));
    json_decref(j);
    free(path);
    free(tmp);
    return rc;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(((const prompt_cache_meta *)a)->name, ((const prompt_cache_meta *)b)->name);
}

int prompt_cache_list(const char *model_dir, prompt_cache_meta **out)
{
    *out = NULL;
    DIR *d = opendir(model_dir);
    if (!d) return errno == ENOENT ? 0 : -1;
    int n = 0, cap = 0;
    prompt_cache_meta *v = NULL;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t len = strlen(e->d_name);
        if (len <= 5 || strcmp(e->d_name + len - 5, ".json") != 0) continue;
        char name[70];
        if (len - 5 >= sizeof name) continue;
        memcpy(name, e->d_name, len - 5);
        name[len - 5] = 0;
        if (n == cap) {
            cap = cap ? 2 * cap : 8;
            prompt_cache_meta *nv = realloc(v, (size_t)cap * sizeof *v);
            if (!nv) break;
            v = nv;
        }
        char err[256];
        if (prompt_cache_read(model_dir, name, &v[n], err, sizeof err) == 0) n++;
    }
    closedir(d);
    if (n) qsort(v, (size_t)n, sizeof *v, by_name);
    *out = v;
    return n;
}

int prompt_cache_delete(const char *model_dir, const char *name)
{
    if (!prompt_cache_valid_name(name)) return 1;
    char *meta = join(model_dir, name, ".json");
    if (!meta) return -1;
    int rc = unlink(meta) == 0 ? 0 : errno == ENOENT ? 1 : -1;
    free(meta);
    if (rc == -1) return -1;
    prompt_cache_remove_states(model_dir, name, NULL);
    return rc;
}

char *prompt_cache_state_path(const char *model_dir, const char *name, const char *key_text)
{
    char hash[65];
    prompt_cache_hash(key_text, hash);
    size_t n = strlen(model_dir) + strlen(name) + 32;
    char *path = malloc(n);
    if (path) snprintf(path, n, "%s/%s-%.16s.state", model_dir, name, hash);
    return path;
}

void prompt_cache_remove_states(const char *model_dir, const char *name, const char *keep)
{
    DIR *d = opendir(model_dir);
    if (!d) return;
    const char *keep_base = keep ? (strrchr(keep, '/') ? strrchr(keep, '/') + 1 : keep) : NULL;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!prompt_cache_is_state_of(e->d_name, name) || (keep_base && !strcmp(e->d_name, keep_base))) continue;
        char *p = join(model_dir, e->d_name, "");
        if (p) unlink(p);
        free(p);
    }
    closedir(d);
}

bool prompt_cache_is_state_of(const char *file, const char *name)
{
    size_t nl = strlen(name), l = strlen(file);
    if (l != nl + 1 + 16 + 6 || strncmp(file, name, nl) != 0 || file[nl] != '-' || strcmp(file + l - 6, ".state") != 0)
        return false;
    for (size_t i = nl + 1; i < nl + 17; i++)
        if (!((file[i] >= '0' && file[i] <= '9') || (file[i] >= 'a' && file[i] <= 'f'))) return false;
    return true;
}

uint64_t prompt_cache_state_bytes(const char *model_dir, const char *name)
{
    DIR *d = opendir(model_dir);
    if (!d) return 0;
    uint64_t total = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!prompt_cache_is_state_of(e->d_name, name)) continue;
        char *p = join(model_dir, e->d_name, "");
        struct stat st;
        if (p && stat(p, &st) == 0) total += (uint64_t)st.st_size;
        free(p);
    }
    closedir(d);
    return total;
}

void prompt_cache_hash(const char *text, char out[65])
{
    dl_sha256 *h = dl_sha256_new();
    if (!h) {
        out[0] = 0;
        return;
    }
    dl_sha256_update(h, text, strlen(text));
    dl_sha256_hex(h, out);
    dl_sha256_free(h);
}
