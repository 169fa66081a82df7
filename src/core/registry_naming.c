/* Unique names for a scan's entries (rules in registry.h): sidecar names
 * first, then derived names, widened with the quantisation and the file
 * name's context where they clash, numbered as a last resort. */
#include "core/registry_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *sort_key(const rentry *e)
{
    return e->pub.copy_file ? e->pub.copy_file : e->pub.path;
}

static int cmp_by_path(const void *a, const void *b)
{
    return strcmp(sort_key(*(rentry *const *)a), sort_key(*(rentry *const *)b));
}

static int cmp_by_name(const void *a, const void *b)
{
    return strcmp((*(rentry *const *)a)->pub.name, (*(rentry *const *)b)->pub.name);
}

static bool taken(rentry **ents, int n, const char *name)
{
    for (int i = 0; i < n; i++)
        if (ents[i]->pub.name && strcasecmp(ents[i]->pub.name, name) == 0)
            return true;
    return false;
}

static void candidate(const rentry *e, int level, char *out, size_t cap)
{
    int n = snprintf(out, cap, "%s:%s", e->name_base, e->name_tag);
    if (level >= 1 && e->name_quant[0] && n > 0 && (size_t)n < cap)
        n += snprintf(out + n, cap - (size_t)n, "-%s", e->name_quant);
    if (level >= 2 && e->name_ctx && n > 0 && (size_t)n < cap)
        snprintf(out + n, cap - (size_t)n, "-ctx%lld", (long long)e->name_ctx);
}

static void set_name(rentry *e, const char *name)
{
    registry_entry *p = &e->pub;
    p->name = rentry_str(e, name);
    const char *colon = p->name ? strchr(p->name, ':') : NULL;
    if (!colon)
        return;
    p->base = rentry_strn(e, p->name, (size_t)(colon - p->name));
    p->tag = rentry_str(e, colon + 1);
}

bool registry_assign_names(rentry **ents, int n, void (*note)(void *, const char *), void *ctx)
{
    char msg[1024];
    bool oom = false;
    if (n == 0)
        return true;
    qsort(ents, (size_t)n, sizeof *ents, cmp_by_path);
    bool *pending = calloc(n ? (size_t)n : 1, sizeof *pending);
    char (*cand)[400] = calloc(n ? (size_t)n : 1, sizeof *cand);
    if (!pending || !cand) {
        free(pending);
        free(cand);
        return false;
    }
    for (int i = 0; i < n; i++) {
        rentry *e = ents[i];
        pending[i] = true;
        if (!e->explicit_name)
            continue;
        if (taken(ents, n, e->explicit_name)) {
            rentry_warn(e, "name %s is already used by another model; using a derived name",
                        e->explicit_name);
            snprintf(msg, sizeof msg, "%s: name %s is already used by another model", sort_key(e),
                     e->explicit_name);
            note(ctx, msg);
            continue;
        }
        set_name(e, e->explicit_name);
        pending[i] = false;
    }
    for (int level = 0; level <= 2; level++) {
        for (int i = 0; i < n; i++)
            if (pending[i])
                candidate(ents[i], level, cand[i], sizeof cand[i]);
        for (int i = 0; i < n; i++) {
            if (!pending[i] || taken(ents, n, cand[i]))
                continue;
            bool clash = false;
            for (int j = 0; j < n && !clash; j++)
                clash = j != i && pending[j] && strcmp(cand[i], cand[j]) == 0;
            if (!clash) {
                set_name(ents[i], cand[i]);
                pending[i] = false;
            }
        }
    }
    for (int i = 0; i < n; i++) {
        if (!pending[i])
            continue;
        char name[420];
        snprintf(name, sizeof name, "%s", cand[i]);
        for (int k = 2; taken(ents, n, name); k++)
            snprintf(name, sizeof name, "%s-%d", cand[i], k);
        set_name(ents[i], name);
        if (strcmp(name, cand[i]) != 0) {
            rentry_warn(ents[i], "named %s: %s is taken by another model with the same metadata",
                        name, cand[i]);
            snprintf(msg, sizeof msg, "%s named %s: %s is taken by another model with the same "
                     "metadata", sort_key(ents[i]), name, cand[i]);
            note(ctx, msg);
        }
    }
    free(pending);
    free(cand);
    for (int i = 0; i < n; i++) {
        rentry_finish(ents[i]);
        if (ents[i]->oom || !ents[i]->pub.name)
            oom = true;
    }
    if (!oom)
        qsort(ents, (size_t)n, sizeof *ents, cmp_by_name);
    return !oom;
}
