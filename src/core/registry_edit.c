/* The two operations that change files: Ollama's delete and copy. Both run
 * under the scan lock and rescan, so the list users see matches the disk. */
#include "core/registry_internal.h"
#include "util/fsutil.h"

#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- remove ---- */

/* The directory holding path, resolved, lies inside a resolved models
 * directory. Checked on the directory so a symlinked model file inside a
 * models directory can be unlinked (only the link goes). */
static bool inside_models(const registry *r, const char *path)
{
    char *dir = registry_dirname(path);
    char *real = dir ? realpath(dir, NULL) : NULL;
    free(dir);
    if (!real)
        return false;
    bool in = false;
    for (int i = 0; i < r->n_dirs && !in; i++) {
        char *root = realpath(r->dirs[i], NULL);
        if (!root)
            continue;
        size_t n = strlen(root);
        in = strncmp(real, root, n) == 0 && (real[n] == 0 || real[n] == '/' || n == 1);
        free(root);
    }
    free(real);
    return in;
}

static bool used_by_other(const registry_snapshot *s, const registry_entry *self, const char *path,
                          bool as_sidecar)
{
    for (int i = 0; i < s->n; i++) {
        const registry_entry *o = &s->ents[i]->pub;
        if (o == self)
            continue;
        if (as_sidecar) {
            if (o->sidecar && strcmp(o->sidecar, path) == 0)
                return true;
            continue;
        }
        for (int v = 0; v < o->n_vision; v++)
            if (strcmp(o->vision[v], path) == 0)
                return true;
    }
    return false;
}

static registry_status unlink_checked(const registry *r, const char *path, char *err, size_t errlen)
{
    if (!inside_models(r, path)) {
        registry_set_err(err, errlen, "refusing to delete %s: it is not inside a models directory", path);
        return REGISTRY_FORBIDDEN;
    }
    if (unlink(path) != 0 && errno != ENOENT) {
        registry_set_err(err, errlen, "cannot delete %s: %s", path, strerror(errno));
        return REGISTRY_IO_ERROR;
    }
    return REGISTRY_OK;
}

static registry_status remove_model(registry *r, const registry_snapshot *s, const registry_entry *e,
                                    char *err, size_t errlen)
{
    if (e->copy_file)
        return unlink_checked(r, e->copy_file, err, errlen);
    if (e->hf_repo) {
        registry_set_err(err, errlen,
                "model '%s' is in the Hugging Face cache (%s); remove it with the hub tools "
                "(huggingface-cli delete-cache)",
                e->name, e->hf_repo);
        return REGISTRY_FORBIDDEN;
    }
    for (int i = 0; i < e->n_shards; i++)
        if (!inside_models(r, e->shards ? e->shards[i] : e->path)) {
            registry_set_err(err, errlen, "refusing to delete %s: it is not inside a models directory",
                    e->shards ? e->shards[i] : e->path);
            return REGISTRY_FORBIDDEN;
        }
    char users[400] = "";
    size_t ul = 0;
    const rentry *self = rentry_of(e);
    for (int i = 0; i < s->n; i++) {
        const rentry *o = s->ents[i];
        if (o->pub.copy_file && o->dev == self->dev && o->ino == self->ino && ul < sizeof users) {
            int w = snprintf(users + ul, sizeof users - ul, "%s%s", ul ? ", " : "", o->pub.name);
            if (w > 0)
                ul += (size_t)w;
        }
    }
    if (ul) {
        registry_set_err(err, errlen, "model '%s' is still used by its copies (%s); delete those first",
                e->name, users);
        return REGISTRY_IN_USE;
    }
    registry_status st = REGISTRY_OK;
    for (int i = 0; i < e->n_shards && st == REGISTRY_OK; i++)
        st = unlink_checked(r, e->shards ? e->shards[i] : e->path, err, errlen);
    if (st != REGISTRY_OK)
        return st;
    /* companions and a shared model.json go with the last model using them */
    if (e->sidecar && !used_by_other(s, e, e->sidecar, true) && inside_models(r, e->sidecar))
        unlink_checked(r, e->sidecar, err, errlen);
    for (int v = 0; v < e->n_vision; v++)
        if (!used_by_other(s, e, e->vision[v], false) && inside_models(r, e->vision[v]))
            unlink_checked(r, e->vision[v], err, errlen);
    return REGISTRY_OK;
}

registry_status registry_remove(registry *r, const char *name, char *err, size_t errlen)
{
    pthread_mutex_lock(&r->scan_lock);
    registry_snapshot *s = registry_snapshot_get(r);
    const registry_entry *e;
    registry_status st = registry_snapshot_resolve(s, name, &e, err, errlen);
    if (st == REGISTRY_OK)
        st = remove_model(r, s, e, err, errlen);
    registry_snapshot_release(s);
    if (st == REGISTRY_OK && registry_scan_locked(r, err, errlen) < 0)
        st = REGISTRY_NO_MEMORY;
    pthread_mutex_unlock(&r->scan_lock);
    return st;
}

/* ---- copy ---- */

/* path relative to dir when it lies below it, else as is */
static const char *below(const char *path, const char *dir)
{
    size_t n = strlen(dir);
    if (strncmp(path, dir, n) == 0 && path[n] == '/' && path[n + 1])
        return path + n + 1;
    return path;
}

/* Paths in a copied copy JSON are relative to its old directory: make them
 * absolute when the new JSON lives elsewhere. */
static void rebase_path(json_t *obj, const char *key, const char *from_dir)
{
    json_t *v = json_object_get(obj, key);
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        if (s[0] && s[0] != '/') {
            char *abs = registry_path_join(from_dir, s);
            if (abs)
                json_object_set_new(obj, key, json_string(abs));
            free(abs);
        }
    } else if (json_is_array(v)) {
        size_t i;
        json_t *x;
        json_array_foreach(v, i, x) {
            const char *s = json_string_value(x);
            if (s && s[0] && s[0] != '/') {
                char *abs = registry_path_join(from_dir, s);
                if (abs)
                    json_array_set_new(v, i, json_string(abs));
                free(abs);
            }
        }
    }
}

static json_t *copy_json(const registry_entry *e, const char *dst, const char *dir)
{
    json_t *o = NULL;
    if (e->copy_file) {
        json_error_t je;
        o = json_load_file(e->copy_file, 0, &je);
        if (o && !json_is_object(o)) {
            json_decref(o);
            o = NULL;
        }
        char *from_dir = o ? registry_dirname(e->copy_file) : NULL;
        if (from_dir && strcmp(from_dir, dir) != 0) {
            rebase_path(o, "chat_template_file", from_dir);
            json_t *vis = json_object_get(o, "vision");
            if (json_is_object(vis)) {
                rebase_path(vis, "mmproj", from_dir);
                rebase_path(vis, "rknn", from_dir);
            }
        }
        free(from_dir);
    }
    if (!o)
        o = json_object();
    if (!o)
        return NULL;
    json_object_del(o, "aliases");
    if (json_object_set_new(o, "name", json_string(dst)) != 0 ||
        json_object_set_new(o, "from", json_string(below(e->path, dir))) != 0) {
        json_decref(o);
        return NULL;
    }
    return o;
}

static registry_status write_new_file(const char *dir, const char *path, const char *text,
                                      char *err, size_t errlen)
{
    char *tmpl = registry_path_join(dir, ".rkserve-copy-XXXXXX");
    if (!tmpl)
        return REGISTRY_NO_MEMORY;
    int fd = mkstemp(tmpl);
    if (fd < 0) {
        registry_set_err(err, errlen, "cannot write in %s: %s", dir, strerror(errno));
        free(tmpl);
        return REGISTRY_IO_ERROR;
    }
    size_t n = strlen(text);
    /* mkstemp makes the file private; a settings file is readable like its models */
    bool ok = fchmod(fd, 0644) == 0 && write(fd, text, n) == (ssize_t)n && fsync(fd) == 0;
    ok = close(fd) == 0 && ok;
    registry_status st = REGISTRY_OK;
    if (!ok) {
        registry_set_err(err, errlen, "cannot write %s: %s", tmpl, strerror(errno));
        st = REGISTRY_IO_ERROR;
    }
    /* link() refuses to replace an existing file, unlike rename() */
    if (st == REGISTRY_OK && link(tmpl, path) != 0) {
        if (errno == EEXIST) {
            registry_set_err(err, errlen, "%s already exists", path);
            st = REGISTRY_EXISTS;
        } else {
            registry_set_err(err, errlen, "cannot create %s: %s", path, strerror(errno));
            st = REGISTRY_IO_ERROR;
        }
    }
    unlink(tmpl);
    free(tmpl);
    return st;
}

registry_status registry_copy(registry *r, const char *src, const char *dst, char *err,
                              size_t errlen)
{
    if (!dst || !registry_name_valid(dst, strlen(dst))) {
        registry_set_err(err, errlen, "'%s' is not a valid model name: use letters, digits, '.', '_', '-' "
                             "and one ':' before the tag",
                dst ? dst : "");
        return REGISTRY_INVALID_NAME;
    }
    char name[160];
    snprintf(name, sizeof name, "%s%s", dst, strchr(dst, ':') ? "" : ":latest");
    for (char *c = name; *c; c++)
        *c = (char)tolower((unsigned char)*c);

    pthread_mutex_lock(&r->scan_lock);
    registry_snapshot *s = registry_snapshot_get(r);
    const registry_entry *e;
    registry_status st = registry_snapshot_resolve(s, src, &e, err, errlen);
    for (int i = 0; st == REGISTRY_OK && i < s->n; i++) {
        const registry_entry *o = &s->ents[i]->pub;
        bool clash = strcasecmp(o->name, name) == 0;
        for (int a = 0; a < o->n_aliases && !clash; a++)
            clash = strcasecmp(o->aliases[a], name) == 0 || strcasecmp(o->aliases[a], dst) == 0;
        if (clash) {
            registry_set_err(err, errlen, "model '%s' already exists (%s)", dst, o->name);
            st = REGISTRY_EXISTS;
        }
    }
    const char *dir = r->dirs[0];
    char file[200];
    snprintf(file, sizeof file, "%s.json", name);
    *strchr(file, ':') = '@'; /* ':' is not allowed on FAT-formatted cards */
    char *path = registry_path_join(dir, file);
    json_t *j = NULL;
    char *text = NULL;
    if (st == REGISTRY_OK && (!path || !(j = copy_json(e, name, dir)) ||
                              !(text = json_dumps(j, JSON_INDENT(2) | JSON_SORT_KEYS)))) {
        registry_set_err(err, errlen, "out of memory");
        st = REGISTRY_NO_MEMORY;
    }
    if (st == REGISTRY_OK && mkdir_p(dir) != 0) {
        registry_set_err(err, errlen, "cannot create %s: %s", dir, strerror(errno));
        st = REGISTRY_IO_ERROR;
    }
    if (st == REGISTRY_OK)
        st = write_new_file(dir, path, text, err, errlen);
    free(text);
    json_decref(j);
    free(path);
    registry_snapshot_release(s);
    if (st == REGISTRY_OK && registry_scan_locked(r, err, errlen) < 0)
        st = REGISTRY_NO_MEMORY;
    pthread_mutex_unlock(&r->scan_lock);
    return st;
}
