/* The registry object: the current snapshot behind a lock, and name
 * resolution. Remove and copy are in registry_edit.c. */
#include "core/registry_internal.h"

#include <ctype.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "core/model_names.h"

void registry_set_err(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || !errlen)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* ~/x expanded, relative made absolute, trailing '/' dropped. */
static char *absolute_dir(const char *d)
{
    char *p;
    if (d[0] == '~' && (d[1] == '/' || d[1] == 0)) {
        const char *home = getenv("HOME");
        p = registry_path_join(home && home[0] ? home : "/", d[1] ? d + 2 : "");
    } else if (d[0] == '/') {
        p = strdup(d);
    } else {
        char cwd[PATH_MAX];
        p = getcwd(cwd, sizeof cwd) ? registry_path_join(cwd, d) : strdup(d);
    }
    if (p) {
        size_t n = strlen(p);
        while (n > 1 && p[n - 1] == '/')
            p[--n] = 0;
    }
    return p;
}

static char *default_hub(void)
{
    const char *v = getenv("HF_HUB_CACHE");
    if (v && v[0])
        return absolute_dir(v);
    v = getenv("HF_HOME");
    if (v && v[0])
        return registry_path_join(v, "hub");
    v = getenv("XDG_CACHE_HOME");
    if (v && v[0])
        return registry_path_join(v, "huggingface/hub");
    return absolute_dir("~/.cache/huggingface/hub");
}

static registry_snapshot *empty_snapshot(void)
{
    registry_snapshot *s = calloc(1, sizeof *s);
    if (s)
        atomic_init(&s->refs, 1);
    return s;
}

registry *registry_new(const char *const *dirs, int n_dirs, const char *hf_hub_dir)
{
    registry *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    int n = n_dirs > 0 ? n_dirs : 1;
    r->dirs = calloc((size_t)n, sizeof *r->dirs);
    bool ok = r->dirs != NULL;
    for (int i = 0; ok && i < n; i++) {
        r->dirs[i] = absolute_dir(n_dirs > 0 ? dirs[i] : "~/.rkserve/models");
        ok = r->dirs[i] != NULL;
        r->n_dirs = i + 1;
    }
    if (ok && (!hf_hub_dir || hf_hub_dir[0])) {
        r->hf_hub = hf_hub_dir ? absolute_dir(hf_hub_dir) : default_hub();
        ok = r->hf_hub != NULL;
    }
    r->cur = ok ? empty_snapshot() : NULL;
    if (!r->cur) {
        for (int i = 0; i < r->n_dirs; i++)
            free(r->dirs[i]);
        free(r->dirs);
        free(r->hf_hub);
        free(r);
        return NULL;
    }
    pthread_mutex_init(&r->lock, NULL);
    pthread_mutex_init(&r->scan_lock, NULL);
    return r;
}

void registry_free(registry *r)
{
    if (!r)
        return;
    registry_snapshot_release(r->cur);
    for (int i = 0; i < r->n_dirs; i++)
        free(r->dirs[i]);
    free(r->dirs);
    free(r->hf_hub);
    pthread_mutex_destroy(&r->lock);
    pthread_mutex_destroy(&r->scan_lock);
    free(r);
}

int registry_n_dirs(const registry *r)
{
    return r->n_dirs;
}

const char *registry_dir(const registry *r, int i)
{
    return i >= 0 && i < r->n_dirs ? r->dirs[i] : NULL;
}

const char *registry_hf_hub_dir(const registry *r)
{
    return r->hf_hub;
}

/* ---- snapshots and entries ---- */

int registry_scan_locked(registry *r, char *err, size_t errlen)
{
    registry_snapshot *s = registry_build(r->dirs, r->n_dirs, r->hf_hub, err, errlen);
    if (!s)
        return -1;
    pthread_mutex_lock(&r->lock);
    registry_snapshot *old = r->cur;
    r->cur = s;
    pthread_mutex_unlock(&r->lock);
    registry_snapshot_release(old);
    return s->n;
}

int registry_scan(registry *r, char *err, size_t errlen)
{
    pthread_mutex_lock(&r->scan_lock);
    int n = registry_scan_locked(r, err, errlen);
    pthread_mutex_unlock(&r->scan_lock);
    return n;
}

registry_snapshot *registry_snapshot_get(registry *r)
{
    pthread_mutex_lock(&r->lock);
    registry_snapshot *s = r->cur;
    atomic_fetch_add(&s->refs, 1);
    pthread_mutex_unlock(&r->lock);
    return s;
}

void registry_snapshot_release(registry_snapshot *s)
{
    if (s && atomic_fetch_sub(&s->refs, 1) == 1)
        registry_snapshot_destroy(s);
}

int registry_count(registry *r)
{
    registry_snapshot *s = registry_snapshot_get(r);
    int n = s->n;
    registry_snapshot_release(s);
    return n;
}

int registry_snapshot_count(const registry_snapshot *s)
{
    return s->n;
}

const registry_entry *registry_snapshot_at(const registry_snapshot *s, int i)
{
    return i >= 0 && i < s->n ? &s->ents[i]->pub : NULL;
}

int registry_snapshot_n_warnings(const registry_snapshot *s)
{
    return s->n_warnings;
}

const char *registry_snapshot_warning(const registry_snapshot *s, int i)
{
    return i >= 0 && i < s->n_warnings ? s->warnings[i] : NULL;
}

const registry_entry *registry_entry_retain(const registry_entry *e)
{
    if (e)
        atomic_fetch_add(&rentry_of(e)->refs, 1);
    return e;
}

void registry_entry_release(const registry_entry *e)
{
    if (e && atomic_fetch_sub(&rentry_of(e)->refs, 1) == 1)
        rentry_free(rentry_of(e));
}

/* ---- resolution ---- */

typedef struct {
    const registry_entry *hit[8];
    int n;
} matches;

static void add_match(matches *m, const registry_entry *e)
{
    if (m->n < 8)
        m->hit[m->n] = e;
    m->n++;
}

static registry_status finish_match(const matches *m, const char *q, const registry_entry **out,
                                    char *err, size_t errlen)
{
    if (m->n == 1) {
        *out = m->hit[0];
        return REGISTRY_OK;
    }
    char list[600] = "";
    size_t len = 0;
    for (int i = 0; i < m->n && i < 8 && len < sizeof list; i++) {
        int w = snprintf(list + len, sizeof list - len, "%s%s", i ? ", " : "", m->hit[i]->name);
        if (w < 0)
            break;
        len += (size_t)w;
    }
    registry_set_err(err, errlen, "model '%s' matches %d models: %s%s; use the full name", q, m->n, list,
            m->n > 8 ? ", ..." : "");
    return REGISTRY_AMBIGUOUS;
}

static bool file_name_matches(const registry_entry *e, const char *q)
{
    if (strcasecmp(e->file_name, q) == 0)
        return true;
    size_t ql = strlen(q);
    const char *dot = strrchr(e->file_name, '.');
    if (dot && (size_t)(dot - e->file_name) == ql && strncasecmp(e->file_name, q, ql) == 0)
        return true;
    char stem[512];
    model_file_stem(e->file_name, stem, sizeof stem);
    return strcasecmp(stem, q) == 0;
}

registry_status registry_snapshot_resolve(const registry_snapshot *s, const char *name,
                                          const registry_entry **out, char *err, size_t errlen)
{
    *out = NULL;
    if (!name || !name[0]) {
        registry_set_err(err, errlen, "no model name given");
        return REGISTRY_INVALID_NAME;
    }
    size_t ql = strlen(name);
    if (ql > 1024) {
        registry_set_err(err, errlen, "model name is longer than 1024 bytes");
        return REGISTRY_INVALID_NAME;
    }
    char q[1100];
    if (strncasecmp(name, "huggingface.co/", 15) == 0)
        snprintf(q, sizeof q, "hf.co/%s", name + 15);
    else
        snprintf(q, sizeof q, "%s", name);
    ql = strlen(q);
    bool has_tag = strchr(q, ':') != NULL;
    char latest[1120];
    snprintf(latest, sizeof latest, "%s:latest", q);

    matches m = {0};
    for (int i = 0; i < s->n; i++) {
        const registry_entry *e = &s->ents[i]->pub;
        if (strcasecmp(e->name, q) == 0 || (!has_tag && strcasecmp(e->name, latest) == 0))
            add_match(&m, e);
    }
    if (m.n)
        return finish_match(&m, name, out, err, errlen);
    for (int i = 0; i < s->n; i++) {
        const registry_entry *e = &s->ents[i]->pub;
        for (int a = 0; a < e->n_aliases; a++)
            if (strcasecmp(e->aliases[a], q) == 0) {
                add_match(&m, e);
                break;
            }
    }
    if (m.n)
        return finish_match(&m, name, out, err, errlen);
    /* a copy shares its model's file: the file name means the model itself */
    for (int i = 0; i < s->n; i++) {
        const registry_entry *e = &s->ents[i]->pub;
        if (!e->copy_file && file_name_matches(e, q))
            add_match(&m, e);
    }
    if (m.n)
        return finish_match(&m, name, out, err, errlen);
    /* clients that add ":latest" themselves mean the base name */
    size_t base_len = strlen(q);
    if (has_tag && base_len > 7 && strcasecmp(q + base_len - 7, ":latest") == 0)
        base_len -= 7;
    else if (has_tag)
        base_len = 0;
    for (int i = 0; i < s->n; i++) {
        const registry_entry *e = &s->ents[i]->pub;
        size_t bl = strlen(e->base);
        if (base_len && bl == base_len && strncasecmp(e->base, q, bl) == 0)
            add_match(&m, e);
        else if (has_tag && strlen(e->name) > ql && strncasecmp(e->name, q, ql) == 0 &&
                 e->name[ql] == '-' && ql > bl + 1)
            add_match(&m, e);
    }
    if (m.n)
        return finish_match(&m, name, out, err, errlen);
    registry_set_err(err, errlen, "model '%s' not found", name);
    return REGISTRY_NOT_FOUND;
}

registry_status registry_resolve(registry *r, const char *name, const registry_entry **out,
                                 char *err, size_t errlen)
{
    registry_snapshot *s = registry_snapshot_get(r);
    registry_status st = registry_snapshot_resolve(s, name, out, err, errlen);
    if (st == REGISTRY_OK)
        registry_entry_retain(*out);
    registry_snapshot_release(s);
    return st;
}

/* ---- names that become files ---- */

bool registry_name_valid(const char *name, size_t len)
{
    if (!name || len == 0 || len > 128)
        return false;
    int colons = 0;
    size_t colon_at = 0;
    for (size_t i = 0; i < len; i++) {
        char c = name[i];
        if (c == ':') {
            colons++;
            colon_at = i;
        } else if (!isalnum((unsigned char)c) && c != '.' && c != '_' && c != '-') {
            return false; /* also NUL, '/', '\\', '@' */
        }
        if (c == '.' && i + 1 < len && name[i + 1] == '.')
            return false;
    }
    if (colons > 1)
        return false;
    if (name[0] == '.' || name[0] == '-' || name[0] == ':')
        return false;
    if (colons) {
        if (colon_at + 1 >= len)
            return false;
        char t = name[colon_at + 1];
        if (t == '.' || t == '-')
            return false;
    }
    return true;
}

const char *registry_format_name(registry_format f)
{
    return f == REGISTRY_FORMAT_RKLLM ? "rkllm" : "gguf";
}

const char *registry_status_name(registry_status s)
{
    switch (s) {
    case REGISTRY_OK: return "ok";
    case REGISTRY_NOT_FOUND: return "not found";
    case REGISTRY_AMBIGUOUS: return "ambiguous";
    case REGISTRY_INVALID_NAME: return "invalid name";
    case REGISTRY_EXISTS: return "exists";
    case REGISTRY_FORBIDDEN: return "forbidden";
    case REGISTRY_IN_USE: return "in use";
    case REGISTRY_IO_ERROR: return "i/o error";
    case REGISTRY_NO_MEMORY: return "out of memory";
    }
    return "unknown";
}
