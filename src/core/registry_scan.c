/* Walks the models directories and the hub cache and builds the entries of
 * one registry snapshot: what each model file is, its companions, its
 * sidecar, and the unique names (rules in registry.h). */
#include "core/registry_internal.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/model_names.h"
#include "format/ggml_types.h"
#include "format/gguf.h"

typedef enum { F_OTHER, F_GGUF, F_RKLLM, F_MMPROJ, F_RKNN, F_SHARD, F_JSON, F_COPY } fkind;

/* What a GGUF header says, copied out so the mapping can be closed. */
typedef struct {
    bool is_gguf;
    char error[400];
    char arch[64], basename[128], name[256], size_label[32];
    bool has_ftype;
    uint32_t ftype;
    int64_t context;
    uint64_t n_params;
    int main_type; /* ggml type holding most weights, -1 if none */
} gmeta;

typedef struct {
    char *name;
    char *path;
    fkind kind;
    struct stat st;
    gmeta *meta;          /* models only */
    size_t split_prefix;  /* split-named .gguf: length of NAME */
    int split_index, split_count;
} dfile;

typedef struct {
    char *path;
    dfile *f;
    int n, cap;
    char **subdirs;
    int n_sub, cap_sub;
    int n_models;
} dirlist;

typedef struct {
    dev_t dev;
    ino_t ino;
} fileid;

typedef struct {
    const char *root;     /* models directory or hub snapshot */
    const char *hf_repo;  /* NULL outside the hub cache */
    const char *hf_rev;
} origin;

typedef struct {
    char *json;
    char *root; /* the models directory it was found under */
} copyref;

typedef struct {
    rentry **ents;
    int n, cap;
    char **warnings;
    int n_warn, cap_warn;
    fileid *seen;         /* model files listed */
    int n_seen, cap_seen;
    fileid *visited;      /* directories entered */
    int n_vis, cap_vis;
    copyref *copies;      /* copy JSONs, resolved after the walk */
    int n_copies, cap_copies;
    bool oom;
} scan;

#define GROW(ptr, n, cap, fail)                                                    \
    do {                                                                           \
        if ((n) == (cap)) {                                                        \
            int nc_ = (cap) ? (cap) * 2 : 16;                                      \
            void *np_ = realloc((ptr), (size_t)nc_ * sizeof *(ptr));               \
            if (!np_) {                                                            \
                fail;                                                              \
            } else {                                                               \
                (ptr) = np_;                                                       \
                (cap) = nc_;                                                       \
            }                                                                      \
        }                                                                          \
    } while (0)

static void scan_warn(scan *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void scan_warn(scan *s, const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    GROW(s->warnings, s->n_warn, s->cap_warn, { s->oom = true; return; });
    char *c = strdup(buf);
    if (!c) {
        s->oom = true;
        return;
    }
    s->warnings[s->n_warn++] = c;
}

static void note_warning(void *ctx, const char *msg)
{
    scan_warn(ctx, "%s", msg);
}

static bool id_seen(fileid *ids, int n, const struct stat *st)
{
    for (int i = 0; i < n; i++)
        if (ids[i].dev == st->st_dev && ids[i].ino == st->st_ino)
            return true;
    return false;
}

static bool has_ext(const char *name, const char *ext)
{
    size_t n = strlen(name), e = strlen(ext);
    return n > e && strcasecmp(name + n - e, ext) == 0;
}

/* ---- GGUF metadata ---- */

static void read_meta(const char *path, gmeta *m)
{
    m->main_type = -1;
    char err[360];
    gguf_file *g = gguf_open(path, err, sizeof err);
    if (!g) {
        snprintf(m->error, sizeof m->error, "unreadable GGUF: %s", err);
        return;
    }
    m->is_gguf = true;
    gguf_get_cstr(g, "general.architecture", m->arch, sizeof m->arch);
    gguf_get_cstr(g, "general.basename", m->basename, sizeof m->basename);
    gguf_get_cstr(g, "general.name", m->name, sizeof m->name);
    gguf_get_cstr(g, "general.size_label", m->size_label, sizeof m->size_label);
    m->has_ftype = gguf_get_u32(g, "general.file_type", &m->ftype);
    if (m->arch[0]) {
        char key[128];
        uint64_t ctx;
        snprintf(key, sizeof key, "%s.context_length", m->arch);
        if (gguf_get_u64(g, key, &ctx) && ctx > 0 && ctx < (1ull << 40))
            m->context = (int64_t)ctx;
    }
    uint64_t by_type[GGML_TYPE_COUNT] = {0};
    for (int64_t i = 0; i < gguf_n_tensors(g); i++) {
        const gguf_tensor *t = gguf_tensor_at(g, i);
        uint64_t n = 1;
        for (uint32_t d = 0; d < t->n_dims; d++)
            n *= (uint64_t)t->ne[d];
        m->n_params += n;
        if (t->n_dims >= 2 && t->type < GGML_TYPE_COUNT)
            by_type[t->type] += n;
    }
    uint64_t best = 0;
    for (int t = 0; t < GGML_TYPE_COUNT; t++)
        if (by_type[t] > best) {
            best = by_type[t];
            m->main_type = t;
        }
    gguf_close(g);
}

static bool sniff_gguf(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    unsigned char b[4];
    bool yes = read(fd, b, 4) == 4 && memcmp(b, "GGUF", 4) == 0;
    close(fd);
    return yes;
}

/* ---- one directory ---- */

static void dirlist_free(dirlist *d)
{
    for (int i = 0; i < d->n; i++) {
        free(d->f[i].name);
        free(d->f[i].path);
        free(d->f[i].meta);
    }
    free(d->f);
    for (int i = 0; i < d->n_sub; i++)
        free(d->subdirs[i]);
    free(d->subdirs);
    memset(d, 0, sizeof *d);
}

static int cmp_dfile(const void *a, const void *b)
{
    return strcmp(((const dfile *)a)->name, ((const dfile *)b)->name);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void classify(dfile *f, bool copies_allowed)
{
    const char *n = f->name;
    if (has_ext(n, ".gguf")) {
        size_t stem = strlen(n) - 5;
        if (model_split_name(n, stem, &f->split_prefix, &f->split_index, &f->split_count) &&
            f->split_count > 1 && f->split_index > 1) {
            f->kind = F_SHARD;
            return;
        }
        if (f->split_count <= 1)
            f->split_count = 0;
        if (strncasecmp(n, "mmproj", 6) == 0) {
            f->kind = F_MMPROJ;
            return;
        }
        f->meta = calloc(1, sizeof *f->meta);
        if (!f->meta)
            return;
        read_meta(f->path, f->meta);
        f->kind = strcmp(f->meta->arch, "clip") == 0 ? F_MMPROJ : F_GGUF;
    } else if (has_ext(n, ".rkllm")) {
        f->kind = F_RKLLM;
        f->meta = calloc(1, sizeof *f->meta);
        if (f->meta) {
            f->meta->main_type = -1;
            if (sniff_gguf(f->path))
                read_meta(f->path, f->meta);
        }
    } else if (has_ext(n, ".rknn")) {
        f->kind = F_RKNN;
    } else if (has_ext(n, ".json")) {
        f->kind = F_JSON;
        if (copies_allowed && f->st.st_size <= (off_t)REGISTRY_MAX_JSON) {
            char *t = registry_sidecar_copy_target(f->path);
            if (t)
                f->kind = F_COPY;
            free(t);
        }
    }
}

/* Lists a directory: model-related files classified, subdirectories kept
 * for the walk. False when it cannot be read (errno set). */
static bool dirlist_build(dirlist *d, const char *path, bool copies_allowed, bool *oom)
{
    memset(d, 0, sizeof *d);
    DIR *dir = opendir(path);
    if (!dir)
        return false;
    d->path = (char *)path;
    struct dirent *de;
    while ((de = readdir(dir))) {
        if (de->d_name[0] == '.')
            continue; /* hidden, and . / .. */
        char *p = registry_path_join(path, de->d_name);
        struct stat st;
        if (!p || stat(p, &st) != 0) {
            if (!p)
                *oom = true;
            free(p);
            continue; /* dangling symlink: an unfinished download */
        }
        if (S_ISDIR(st.st_mode)) {
            GROW(d->subdirs, d->n_sub, d->cap_sub, { *oom = true; free(p); continue; });
            d->subdirs[d->n_sub++] = p;
            continue;
        }
        if (!S_ISREG(st.st_mode)) {
            free(p);
            continue;
        }
        GROW(d->f, d->n, d->cap, { *oom = true; free(p); continue; });
        dfile *f = &d->f[d->n];
        memset(f, 0, sizeof *f);
        f->name = strdup(de->d_name);
        f->path = p;
        f->st = st;
        if (!f->name) {
            free(p);
            *oom = true;
            continue;
        }
        d->n++;
    }
    closedir(dir);
    if (d->n)
        qsort(d->f, (size_t)d->n, sizeof *d->f, cmp_dfile);
    if (d->n_sub)
        qsort(d->subdirs, (size_t)d->n_sub, sizeof *d->subdirs, cmp_str);
    for (int i = 0; i < d->n; i++) {
        classify(&d->f[i], copies_allowed);
        if (d->f[i].kind == F_GGUF || d->f[i].kind == F_RKLLM)
            d->n_models++;
    }
    return true;
}

static int dirlist_find(const dirlist *d, const char *name, fkind kind)
{
    for (int i = 0; i < d->n; i++)
        if (d->f[i].kind == kind && strcmp(d->f[i].name, name) == 0)
            return i;
    return -1;
}

/* ---- companions ---- */

static void squash(const char *in, char *out, size_t cap)
{
    size_t n = 0;
    for (; *in && n + 1 < cap; in++)
        out[n++] = *in == '_' ? '-' : (char)tolower((unsigned char)*in);
    out[n] = 0;
}

/* Stem with its last run of digits taken out; *num is that number (-1 if none). */
static void shard_key(const char *name, char *key, size_t cap, long *num)
{
    char stem[512];
    model_file_stem(name, stem, sizeof stem);
    size_t len = strlen(stem), e = len;
    while (e > 0 && !isdigit((unsigned char)stem[e - 1]))
        e--;
    size_t b = e;
    while (b > 0 && isdigit((unsigned char)stem[b - 1]))
        b--;
    *num = b < e ? strtol(stem + b, NULL, 10) : -1;
    snprintf(key, cap, "%.*s#%s", (int)b, stem, stem + e);
}

typedef struct {
    int idx;
    long num;
} shard_pick;

static int cmp_shard(const void *a, const void *b)
{
    long x = ((const shard_pick *)a)->num, y = ((const shard_pick *)b)->num;
    return (x > y) - (x < y);
}

static void choose_companions(rentry *e, const dirlist *d, fkind kind)
{
    int cand[64], n = 0;
    for (int i = 0; i < d->n && n < 64; i++)
        if (d->f[i].kind == kind)
            cand[n++] = i;
    if (n == 0)
        return;
    if (n > 1 && strlen(e->name_base) >= 2) {
        int keep[64], k = 0;
        for (int i = 0; i < n; i++) {
            char fn[512], base[256];
            squash(d->f[cand[i]].name, fn, sizeof fn);
            squash(e->name_base, base, sizeof base);
            if (strstr(fn, base))
                keep[k++] = cand[i];
        }
        if (k > 0) {
            memcpy(cand, keep, (size_t)k * sizeof *keep);
            n = k;
        }
    }
    registry_vision_kind vk = kind == F_RKNN ? REGISTRY_VISION_RKNN : REGISTRY_VISION_MMPROJ;
    if (n > 1 && kind == F_RKNN) {
        shard_pick picks[64];
        char key0[600], key[600];
        bool shards = true;
        for (int i = 0; i < n && shards; i++) {
            picks[i].idx = cand[i];
            shard_key(d->f[cand[i]].name, i ? key : key0, sizeof key, &picks[i].num);
            if (picks[i].num < 0 || (i && strcmp(key, key0) != 0))
                shards = false;
            for (int j = 0; j < i && shards; j++)
                if (picks[j].num == picks[i].num)
                    shards = false;
        }
        if (shards) {
            qsort(picks, (size_t)n, sizeof *picks, cmp_shard);
            for (int i = 0; i < n; i++)
                rentry_push(e, &e->vision, rentry_str(e, d->f[picks[i].idx].path));
            e->pub.vision_kind = vk;
            return;
        }
    }
    if (n > 1)
        rentry_warn(e, "%d candidate %s files in %s; using %s (name the right one in the "
                       "sidecar's vision.%s)",
                    n, kind == F_RKNN ? ".rknn" : "mmproj", d->path, d->f[cand[0]].name,
                    kind == F_RKNN ? "rknn" : "mmproj");
    rentry_push(e, &e->vision, rentry_str(e, d->f[cand[0]].path));
    e->pub.vision_kind = vk;
}

/* ---- one model ---- */

static void lower_copy(char *dst, size_t cap, const char *src)
{
    size_t n = 0;
    for (; *src && n + 1 < cap; src++)
        dst[n++] = (char)tolower((unsigned char)*src);
    dst[n] = 0;
}

/* "0.6b" -> "0.6B" for display */
static void size_display(const char *size, char *out, size_t cap)
{
    snprintf(out, cap, "%s", size);
    size_t n = strlen(out);
    if (n)
        out[n - 1] = (char)toupper((unsigned char)out[n - 1]);
}

static void add_shards(rentry *e, const dirlist *d, const dfile *f)
{
    e->pub.split = true;
    rentry_push(e, &e->shards, e->pub.path);
    for (int k = 2; k <= f->split_count; k++) {
        const dfile *found = NULL;
        for (int i = 0; i < d->n && !found; i++) {
            const dfile *g = &d->f[i];
            if (g->kind == F_SHARD && g->split_index == k && g->split_count == f->split_count &&
                g->split_prefix == f->split_prefix &&
                strncmp(g->name, f->name, f->split_prefix) == 0)
                found = g;
        }
        if (!found) {
            if (!e->pub.error)
                e->pub.error = rentry_printf(e, "shard %d of %d of %s is missing", k,
                                             f->split_count, f->name);
            continue;
        }
        rentry_push(e, &e->shards, rentry_str(e, found->path));
        e->pub.size += (uint64_t)found->st.st_size;
        gmeta m = {0};
        read_meta(found->path, &m);
        if (m.is_gguf)
            e->pub.n_params += m.n_params;
        else if (!e->pub.error)
            e->pub.error = rentry_str(e, m.error);
    }
    rentry_warn(e, "split GGUF in %d files: the CPU engine loads single-file GGUFs only (merge "
                   "the shards into one file with llama.cpp's gguf-split --merge)",
                f->split_count);
}

static void name_inputs(rentry *e, const dfile *f, const model_name_parts *np)
{
    const gmeta *m = f->meta;
    char base[256] = "", size[32] = "", quant[32] = "", label[32] = "";
    model_name_parts from_meta_name = {0};
    if (m->name[0])
        model_name_parse(m->name, &from_meta_name);
    bool npu = f->kind == F_RKLLM;
    if (!npu && m->basename[0])
        model_name_normalize(m->basename, base, sizeof base);
    if (!npu && !base[0] && from_meta_name.base[0])
        snprintf(base, sizeof base, "%s", from_meta_name.base);
    if (!base[0])
        snprintf(base, sizeof base, "%s", np->base);
    if (!base[0] && m->basename[0])
        model_name_normalize(m->basename, base, sizeof base);
    if (!base[0]) {
        char stem[256];
        model_file_stem(f->name, stem, sizeof stem);
        model_name_normalize(stem, base, sizeof base);
    }
    if (!base[0])
        snprintf(base, sizeof base, "model");

    char meta_size[32] = "";
    if (m->size_label[0])
        model_name_normalize(m->size_label, meta_size, sizeof meta_size);
    if (npu)
        snprintf(size, sizeof size, "%s", np->size[0] ? np->size : meta_size);
    else
        snprintf(size, sizeof size, "%s",
                 meta_size[0] ? meta_size : from_meta_name.size[0] ? from_meta_name.size : np->size);

    const char *ft = m->has_ftype ? model_ftype_name(m->ftype) : NULL;
    if (npu && np->quant[0])
        snprintf(quant, sizeof quant, "%s", np->quant);
    else if (ft)
        snprintf(quant, sizeof quant, "%s", ft);
    else if (np->quant[0])
        snprintf(quant, sizeof quant, "%s", np->quant);
    else if (m->main_type >= 0)
        snprintf(quant, sizeof quant, "%s", ggml_type_name((uint32_t)m->main_type));

    if (m->size_label[0])
        snprintf(label, sizeof label, "%s", m->size_label);
    else if (size[0])
        size_display(size, label, sizeof label);
    else
        model_param_label(m->n_params, label, sizeof label);

    char lq[32];
    lower_copy(lq, sizeof lq, quant);
    e->name_base = rentry_str(e, base);
    if (npu) {
        /* the quantisation is part of an .rkllm model's tag: users name them so */
        if (size[0] && lq[0])
            e->name_tag = rentry_printf(e, "%s-%s", size, lq);
        else
            e->name_tag = rentry_str(e, size[0] ? size : lq[0] ? lq : "latest");
        e->name_quant = rentry_str(e, "");
    } else {
        e->name_tag = rentry_str(e, size[0] ? size : "latest");
        e->name_quant = rentry_str(e, lq);
    }
    e->pub.quant = quant[0] ? rentry_str(e, quant) : NULL;
    e->pub.param_label = label[0] ? rentry_str(e, label) : NULL;
    e->file_quant = np->quant[0] ? rentry_str(e, np->quant) : e->pub.quant;
}

static void find_sidecar(rentry *e, const dirlist *d, const dfile *f, bool identity)
{
    char stem[512], cand[3][600];
    model_file_stem(f->name, stem, sizeof stem);
    size_t nl = strlen(f->name);
    size_t el = f->kind == F_RKLLM ? 6 : 5;
    snprintf(cand[0], sizeof cand[0], "%s.json", stem);
    snprintf(cand[1], sizeof cand[1], "%.*s.json", (int)(nl - el), f->name);
    snprintf(cand[2], sizeof cand[2], "%s.json", f->name);
    for (int c = 0; c < 3; c++) {
        int i = dirlist_find(d, cand[c], F_JSON);
        if (i >= 0) {
            e->pub.sidecar = rentry_str(e, d->f[i].path);
            registry_sidecar_apply(e, d->f[i].path, identity);
            return;
        }
    }
    for (int i = 0; i < d->n; i++) {
        if (d->f[i].kind != F_JSON || strcasecmp(d->f[i].name, "model.json") != 0)
            continue;
        if (d->n_models != 1) {
            rentry_warn(e, "%s is ignored: the directory holds %d models (name a sidecar "
                           "%s.json instead)",
                        d->f[i].path, d->n_models, stem);
            return;
        }
        e->pub.sidecar = rentry_str(e, d->f[i].path);
        registry_sidecar_apply(e, d->f[i].path, identity);
        return;
    }
}

static rentry *build_model(const dirlist *d, const dfile *f, const origin *o, bool identity)
{
    rentry *e = rentry_new();
    if (!e)
        return NULL;
    registry_entry *p = &e->pub;
    const gmeta *m = f->meta;
    p->path = rentry_str(e, f->path);
    p->file_name = rentry_str(e, f->name);
    p->format = f->kind == F_RKLLM ? REGISTRY_FORMAT_RKLLM : REGISTRY_FORMAT_GGUF;
    p->gguf_content = f->kind == F_GGUF || m->is_gguf;
    p->size = (uint64_t)f->st.st_size;
    p->mtime_sec = (int64_t)f->st.st_mtim.tv_sec;
    p->mtime_nsec = (int32_t)f->st.st_mtim.tv_nsec;
    p->models_dir = rentry_str(e, o->root);
    p->hf_repo = rentry_str(e, o->hf_repo);
    p->hf_revision = rentry_str(e, o->hf_rev);
    e->dev = f->st.st_dev;
    e->ino = f->st.st_ino;
    if (m->error[0])
        p->error = rentry_str(e, m->error);
    p->arch = m->arch[0] ? rentry_str(e, m->arch) : NULL;
    p->n_params = m->n_params;
    if (m->context) {
        p->context = m->context;
        p->context_source = REGISTRY_CTX_METADATA;
    }

    model_name_parts np;
    model_name_parse(f->name, &np);
    name_inputs(e, f, &np);
    if (np.ctx) {
        p->context = np.ctx;
        p->context_source = REGISTRY_CTX_FILENAME;
        e->name_ctx = np.ctx;
    }
    p->target = np.target[0] ? rentry_str(e, np.target) : NULL;
    p->npu_cores = np.npu_cores;
    if (p->arch) {
        p->family = p->arch;
    } else {
        size_t w = strcspn(e->name_base, "-_.");
        p->family = w ? rentry_strn(e, e->name_base, w) : NULL;
    }
    if (f->split_count > 1)
        add_shards(e, d, f);
    find_sidecar(e, d, f, identity);
    if (!e->vision_set)
        choose_companions(e, d, f->kind == F_RKLLM ? F_RKNN : F_MMPROJ);

    if (o->hf_repo) {
        char repo[300];
        lower_copy(repo, sizeof repo, o->hf_repo);
        rentry_push(e, &e->aliases, rentry_str(e, repo));
        rentry_push(e, &e->aliases, rentry_printf(e, "hf.co/%s", repo));
        if (e->file_quant) {
            char q[32];
            lower_copy(q, sizeof q, e->file_quant);
            rentry_push(e, &e->aliases, rentry_printf(e, "hf.co/%s:%s", repo, q));
        }
    }
    if (e->oom) {
        rentry_free(e);
        return NULL;
    }
    return e;
}

static void add_entry(scan *s, rentry *e)
{
    GROW(s->ents, s->n, s->cap, { s->oom = true; rentry_free(e); return; });
    s->ents[s->n++] = e;
}

/* ---- walking ---- */

static void walk(scan *s, const char *path, int depth, const origin *o)
{
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode))
        return;
    if (id_seen(s->visited, s->n_vis, &st))
        return; /* a symlink loop, or a directory reached twice */
    GROW(s->visited, s->n_vis, s->cap_vis, { s->oom = true; return; });
    s->visited[s->n_vis++] = (fileid){st.st_dev, st.st_ino};

    dirlist d;
    bool oom = false;
    if (!dirlist_build(&d, path, o->hf_repo == NULL, &oom)) {
        scan_warn(s, "cannot read %s: %s", path, strerror(errno));
        return;
    }
    if (oom)
        s->oom = true;
    for (int i = 0; i < d.n; i++) {
        dfile *f = &d.f[i];
        if (f->kind == F_COPY) {
            GROW(s->copies, s->n_copies, s->cap_copies, { s->oom = true; continue; });
            copyref c = {strdup(f->path), strdup(o->root)};
            if (!c.json || !c.root) {
                free(c.json);
                free(c.root);
                s->oom = true;
                continue;
            }
            s->copies[s->n_copies++] = c;
            continue;
        }
        if ((f->kind != F_GGUF && f->kind != F_RKLLM) || !f->meta)
            continue;
        if (id_seen(s->seen, s->n_seen, &f->st))
            continue;
        GROW(s->seen, s->n_seen, s->cap_seen, { s->oom = true; continue; });
        s->seen[s->n_seen++] = (fileid){f->st.st_dev, f->st.st_ino};
        rentry *e = build_model(&d, f, o, true);
        if (!e)
            s->oom = true;
        else
            add_entry(s, e);
    }
    if (depth < REGISTRY_MAX_DEPTH)
        for (int i = 0; i < d.n_sub; i++)
            walk(s, d.subdirs[i], depth + 1, o);
    dirlist_free(&d);
}

static char *read_ref(const char *repo_dir)
{
    char *p = registry_path_join(repo_dir, "refs/main");
    if (!p)
        return NULL;
    char err[256];
    char *t = read_file(p, 256, NULL, err, sizeof err);
    free(p);
    if (!t)
        return NULL;
    size_t n = strcspn(t, " \t\r\n");
    t[n] = 0;
    if (!n || strchr(t, '/') || strcmp(t, "..") == 0) {
        free(t);
        return NULL;
    }
    return t;
}

/* snapshots/<refs/main>, else the most recently modified snapshot */
static char *pick_snapshot(const char *repo_dir, char **rev_out)
{
    char *snaps = registry_path_join(repo_dir, "snapshots");
    if (!snaps)
        return NULL;
    char *rev = read_ref(repo_dir);
    char *path = NULL;
    struct stat st;
    if (rev) {
        path = registry_path_join(snaps, rev);
        if (path && (stat(path, &st) != 0 || !S_ISDIR(st.st_mode))) {
            free(path);
            path = NULL;
            free(rev);
            rev = NULL;
        }
    }
    if (!path) {
        DIR *dir = opendir(snaps);
        struct dirent *de;
        struct timespec best = {0, 0};
        while (dir && (de = readdir(dir))) {
            if (de->d_name[0] == '.')
                continue;
            char *c = registry_path_join(snaps, de->d_name);
            if (c && stat(c, &st) == 0 && S_ISDIR(st.st_mode) &&
                (!path || st.st_mtim.tv_sec > best.tv_sec ||
                 (st.st_mtim.tv_sec == best.tv_sec && st.st_mtim.tv_nsec > best.tv_nsec) ||
                 (st.st_mtim.tv_sec == best.tv_sec && st.st_mtim.tv_nsec == best.tv_nsec &&
                  strcmp(c, path) > 0))) {
                free(path);
                free(rev);
                path = c;
                rev = strdup(de->d_name);
                best = st.st_mtim;
            } else {
                free(c);
            }
        }
        if (dir)
            closedir(dir);
    }
    free(snaps);
    *rev_out = rev;
    return path;
}

static void walk_hub(scan *s, const char *hub)
{
    DIR *dir = opendir(hub);
    if (!dir)
        return; /* no hub cache is the common case, not worth a warning */
    char **repos = NULL;
    int n = 0, cap = 0;
    struct dirent *de;
    while ((de = readdir(dir))) {
        if (strncmp(de->d_name, "models--", 8) != 0)
            continue;
        GROW(repos, n, cap, { s->oom = true; break; });
        if (!(repos[n] = strdup(de->d_name))) {
            s->oom = true;
            break;
        }
        n++;
    }
    closedir(dir);
    if (n)
        qsort(repos, (size_t)n, sizeof *repos, cmp_str);
    for (int i = 0; i < n; i++) {
        /* models--OWNER--NAME: the hub writes '/' as "--" */
        const char *rest = repos[i] + 8;
        const char *sep = strstr(rest, "--");
        char repo[300];
        if (sep)
            snprintf(repo, sizeof repo, "%.*s/%s", (int)(sep - rest), rest, sep + 2);
        else
            snprintf(repo, sizeof repo, "%s", rest);
        char *rdir = registry_path_join(hub, repos[i]);
        char *rev = NULL;
        char *snap = rdir ? pick_snapshot(rdir, &rev) : NULL;
        if (snap) {
            origin o = {.root = snap, .hf_repo = repo, .hf_rev = rev};
            walk(s, snap, 0, &o);
        }
        free(snap);
        free(rev);
        free(rdir);
        free(repos[i]);
    }
    free(repos);
}

/* A copy: its model built as listed from its own directory, then the copy's
 * fields on top. */
static void add_copy(scan *s, const char *json, const char *root)
{
    char *target = registry_sidecar_copy_target(json);
    if (!target) {
        scan_warn(s, "copy %s changed while scanning; skipped", json);
        return;
    }
    struct stat st;
    char *tdir = registry_dirname(target);
    const char *slash = strrchr(target, '/');
    const char *tname = slash ? slash + 1 : target;
    if (stat(target, &st) != 0) {
        scan_warn(s, "copy %s: model file %s: %s", json, target, strerror(errno));
        free(target);
        free(tdir);
        return;
    }
    dirlist d;
    bool oom = false;
    int idx = -1;
    if (tdir && dirlist_build(&d, tdir, false, &oom)) {
        idx = dirlist_find(&d, tname, F_GGUF);
        if (idx < 0)
            idx = dirlist_find(&d, tname, F_RKLLM);
        if (idx < 0 || !d.f[idx].meta) {
            scan_warn(s, "copy %s: %s is not a model file (.gguf or .rkllm)", json, target);
        } else {
            origin o = {.root = root};
            rentry *e = build_model(&d, &d.f[idx], &o, false);
            if (e) {
                e->pub.copy_file = rentry_str(e, json);
                registry_sidecar_apply(e, json, true);
                if (!e->explicit_name) {
                    /* unnamed copy: the JSON's own name, BASE@TAG.json as registry_copy writes */
                    char stem[256];
                    model_file_stem(json, stem, sizeof stem);
                    char *at = strchr(stem, '@');
                    if (at)
                        *at = ':';
                    if (registry_name_valid(stem, strlen(stem))) {
                        for (char *c = stem; *c; c++)
                            *c = (char)tolower((unsigned char)*c);
                        e->explicit_name =
                            strchr(stem, ':') ? rentry_str(e, stem) : rentry_printf(e, "%s:latest", stem);
                    }
                }
                add_entry(s, e);
            } else {
                s->oom = true;
            }
        }
        dirlist_free(&d);
    } else {
        scan_warn(s, "copy %s: cannot read %s", json, tdir ? tdir : target);
    }
    if (oom)
        s->oom = true;
    free(target);
    free(tdir);
}

static void scan_free(scan *s)
{
    for (int i = 0; i < s->n; i++)
        rentry_free(s->ents[i]);
    free(s->ents);
    for (int i = 0; i < s->n_warn; i++)
        free(s->warnings[i]);
    free(s->warnings);
    free(s->seen);
    free(s->visited);
    for (int i = 0; i < s->n_copies; i++) {
        free(s->copies[i].json);
        free(s->copies[i].root);
    }
    free(s->copies);
}

registry_snapshot *registry_build(char *const *dirs, int n_dirs, const char *hf_hub, char *err,
                                  size_t errlen)
{
    scan s = {0};
    for (int i = 0; i < n_dirs && !s.oom; i++) {
        struct stat st;
        if (stat(dirs[i], &st) != 0) {
            scan_warn(&s, "models directory %s: %s", dirs[i], strerror(errno));
            continue;
        }
        if (!S_ISDIR(st.st_mode)) {
            scan_warn(&s, "models directory %s is not a directory", dirs[i]);
            continue;
        }
        origin o = {.root = dirs[i]};
        walk(&s, dirs[i], 0, &o);
    }
    if (hf_hub && !s.oom)
        walk_hub(&s, hf_hub);
    for (int i = 0; i < s.n_copies && !s.oom; i++)
        add_copy(&s, s.copies[i].json, s.copies[i].root);
    if (!s.oom && !registry_assign_names(s.ents, s.n, note_warning, &s))
        s.oom = true;
    registry_snapshot *snap = s.oom ? NULL : calloc(1, sizeof *snap);
    if (!snap) {
        scan_free(&s);
        snprintf(err, errlen, "out of memory while scanning models");
        return NULL;
    }
    atomic_init(&snap->refs, 1);
    snap->ents = s.ents;
    snap->n = s.n;
    snap->warnings = s.warnings;
    snap->n_warnings = s.n_warn;
    s.ents = NULL;
    s.n = 0;
    s.warnings = NULL;
    s.n_warn = 0;
    scan_free(&s);
    return snap;
}
