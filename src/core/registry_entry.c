/* Registry entry memory: every string an entry shows is owned by it, so an
 * entry outlives the scan that made it for as long as someone holds it. */
#include "core/registry_internal.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

rentry *rentry_new(void)
{
    rentry *e = calloc(1, sizeof *e);
    if (!e)
        return NULL;
    atomic_init(&e->refs, 1);
    e->pub.n_shards = 1;
    return e;
}

void rentry_free(rentry *e)
{
    if (!e)
        return;
    for (int i = 0; i < e->n_strs; i++)
        free(e->strs[i]);
    free(e->strs);
    free(e->warnings.v);
    free(e->aliases.v);
    free(e->vision.v);
    free(e->shards.v);
    free(e);
}

const char *rentry_own(rentry *e, char *s)
{
    if (!s) {
        e->oom = true;
        return NULL;
    }
    if (e->n_strs == e->cap_strs) {
        int cap = e->cap_strs ? e->cap_strs * 2 : 32;
        char **p = realloc(e->strs, (size_t)cap * sizeof *p);
        if (!p) {
            free(s);
            e->oom = true;
            return NULL;
        }
        e->strs = p;
        e->cap_strs = cap;
    }
    e->strs[e->n_strs++] = s;
    return s;
}

const char *rentry_strn(rentry *e, const char *s, size_t n)
{
    if (!s)
        return NULL;
    char *c = malloc(n + 1);
    if (c) {
        memcpy(c, s, n);
        c[n] = 0;
    }
    return rentry_own(e, c);
}

const char *rentry_str(rentry *e, const char *s)
{
    return s ? rentry_strn(e, s, strlen(s)) : NULL;
}

static char *vformat(const char *fmt, va_list ap)
{
    va_list aq;
    va_copy(aq, ap);
    int n = vsnprintf(NULL, 0, fmt, aq);
    va_end(aq);
    if (n < 0)
        return NULL;
    char *s = malloc((size_t)n + 1);
    if (s)
        vsnprintf(s, (size_t)n + 1, fmt, ap);
    return s;
}

const char *rentry_printf(rentry *e, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = vformat(fmt, ap);
    va_end(ap);
    return rentry_own(e, s);
}

void rentry_push(rentry *e, strvec *v, const char *owned_str)
{
    if (!owned_str)
        return;
    if (v->n == v->cap) {
        int cap = v->cap ? v->cap * 2 : 4;
        const char **p = realloc(v->v, (size_t)cap * sizeof *p);
        if (!p) {
            e->oom = true;
            return;
        }
        v->v = p;
        v->cap = cap;
    }
    v->v[v->n++] = owned_str;
}

void rentry_warn(rentry *e, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = vformat(fmt, ap);
    va_end(ap);
    rentry_push(e, &e->warnings, rentry_own(e, s));
}

void rentry_finish(rentry *e)
{
    registry_entry *p = &e->pub;
    p->warnings = e->warnings.v;
    p->n_warnings = e->warnings.n;
    p->aliases = e->aliases.v;
    p->n_aliases = e->aliases.n;
    p->vision = e->vision.v;
    p->n_vision = e->vision.n;
    if (e->shards.n) {
        p->shards = e->shards.v;
        p->n_shards = e->shards.n;
    }
    char buf[4200];
    int n = snprintf(buf, sizeof buf, "%s\n%" PRIu64 "\n%" PRId64 ".%09" PRId32, p->path ? p->path : "",
                     p->size, p->mtime_sec, p->mtime_nsec);
    if (n < 0)
        n = 0;
    if ((size_t)n >= sizeof buf)
        n = sizeof buf - 1;
    registry_sha256_hex(buf, (size_t)n, p->digest);
}

void registry_snapshot_destroy(registry_snapshot *s)
{
    if (!s)
        return;
    for (int i = 0; i < s->n; i++)
        registry_entry_release(&s->ents[i]->pub);
    free(s->ents);
    for (int i = 0; i < s->n_warnings; i++)
        free(s->warnings[i]);
    free(s->warnings);
    free(s);
}

char *registry_path_join(const char *dir, const char *name)
{
    size_t a = strlen(dir), b = strlen(name);
    while (a > 1 && dir[a - 1] == '/')
        a--;
    char *p = malloc(a + 1 + b + 1);
    if (!p)
        return NULL;
    memcpy(p, dir, a);
    size_t n = a;
    if (!(a == 1 && dir[0] == '/'))
        p[n++] = '/';
    memcpy(p + n, name, b + 1);
    return p;
}

char *registry_dirname(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        return strdup(".");
    if (slash == path)
        return strdup("/");
    return strndup(path, (size_t)(slash - path));
}

