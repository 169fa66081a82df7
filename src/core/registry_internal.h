/* Shared between the registry's files (registry.c: list, resolve, remove,
 * copy; registry_scan.c: walking directories; registry_sidecar.c: JSON
 * sidecars and copies; registry_entry.c: entry memory). Not for other users. */
#ifndef RK_REGISTRY_INTERNAL_H
#define RK_REGISTRY_INTERNAL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/types.h>

#include "core/registry.h"
#include "util/fsutil.h"

#define REGISTRY_MAX_DEPTH 4
#define REGISTRY_MAX_JSON (1u << 20) /* sidecars, copies, template files */

typedef struct {
    const char **v;
    int n, cap;
} strvec;

/* An entry while it is built and after: pub is what users see. Every string
 * pub points to is owned by the entry (strs), freed with it. */
typedef struct rentry {
    registry_entry pub;
    atomic_int refs;
    char **strs;
    int n_strs, cap_strs;
    strvec warnings, aliases, vision, shards;
    bool oom;
    bool vision_set;           /* the sidecar chose the companions (or none) */
    /* naming inputs, used by the scan only */
    const char *explicit_name; /* sidecar "name", normalised to base:tag */
    const char *name_base;
    const char *name_tag;      /* tag before any collision suffix */
    const char *name_quant;    /* lower case, "" if none */
    int64_t name_ctx;          /* ctx from the file name, 0 if none */
    const char *file_quant;    /* quant as the file name writes it (hub aliases) */
    dev_t dev;
    ino_t ino;
} rentry;

static inline rentry *rentry_of(const registry_entry *e)
{
    return (rentry *)(void *)e; /* pub is the first member */
}

rentry *rentry_new(void);
void rentry_free(rentry *e);
/* Copies s into the entry; NULL in gives NULL out. On failure sets oom. */
const char *rentry_str(rentry *e, const char *s);
const char *rentry_strn(rentry *e, const char *s, size_t n);
const char *rentry_printf(rentry *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Takes a malloc'd string. */
const char *rentry_own(rentry *e, char *s);
void rentry_warn(rentry *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void rentry_push(rentry *e, strvec *v, const char *owned_str);
/* Points pub's arrays at the vectors and computes the digest. */
void rentry_finish(rentry *e);

struct registry_snapshot {
    atomic_int refs;
    rentry **ents;
    int n;
    char **warnings;
    int n_warnings;
};

void registry_snapshot_destroy(registry_snapshot *s);

struct registry {
    char **dirs;
    int n_dirs;
    char *hf_hub;                 /* NULL: none */
    pthread_mutex_t lock;         /* guards cur */
    pthread_mutex_t scan_lock;    /* one scan, remove or copy at a time */
    registry_snapshot *cur;
};

/* Rescans and swaps the list in; the caller holds scan_lock. */
int registry_scan_locked(registry *r, char *err, size_t errlen);
void registry_set_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Builds a fresh list from the directories and hub cache. NULL when out of
 * memory. */
registry_snapshot *registry_build(char *const *dirs, int n_dirs, const char *hf_hub, char *err,
                                  size_t errlen);

/* Names every entry, finishes it (rentry_finish) and sorts by name; notes
 * renamed clashes through note. False when out of memory. */
bool registry_assign_names(rentry **ents, int n, void (*note)(void *ctx, const char *msg),
                           void *ctx);

/* Applies a sidecar JSON file. identity: also take name and aliases (not
 * when the model is reached through a copy, whose JSON names it). */
void registry_sidecar_apply(rentry *e, const char *json_path, bool identity);
/* If json_path is a copy (an object with a string "from"), returns the
 * model path it points to, resolved against the JSON's directory
 * (malloc'd); else NULL. */
char *registry_sidecar_copy_target(const char *json_path);

char *registry_path_join(const char *dir, const char *name);
/* Directory part of a path (malloc'd; "." when there is none). */
char *registry_dirname(const char *path);

void registry_sha256_hex(const void *data, size_t len, char out[65]);

#endif
