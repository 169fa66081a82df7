/* One pull from start to finish: list the repository, choose, download
 * each file (download.c), write the sidecar, and report progress in the
 * steps Ollama's pull reports. */
#include "core/hub.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>

#include "core/download.h"
#include "util/fsutil.h"
#include "core/model_names.h"

#define MAX_LISTING (64u << 20) /* bytes of one page of a repository listing */
#define MAX_PAGES 100

static const char *base(const char *p)
{
    const char *s = strrchr(p, '/');
    return s ? s + 1 : p;
}

static bool is_rkllm(const char *name)
{
    size_t n = strlen(name);
    return n > 6 && !strcasecmp(name + n - 6, ".rkllm");
}

static char *read_token_file(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) return NULL;
    char buf[1024];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' ')) buf[--n] = 0;
    return n ? strdup(buf) : NULL;
}

char *hub_token_from_env(void)
{
    const char *names[] = {"HF_TOKEN", "HUGGING_FACE_HUB_TOKEN"};
    for (size_t i = 0; i < 2; i++) {
        const char *t = getenv(names[i]);
        if (t && *t) return strdup(t);
    }
    char path[4096];
    const char *p = getenv("HF_TOKEN_PATH");
    if (p && *p) return read_token_file(p);
    const char *home = getenv("HF_HOME");
    if (home && *home) {
        snprintf(path, sizeof path, "%s/token", home);
        return read_token_file(path);
    }
    const char *xdg = getenv("XDG_CACHE_HOME");
    if (xdg && *xdg) snprintf(path, sizeof path, "%s/huggingface/token", xdg);
    else if ((home = getenv("HOME")) && *home) snprintf(path, sizeof path, "%s/.cache/huggingface/token", home);
    else return NULL;
    return read_token_file(path);
}

static int mkdirs(const char *path, char *err, size_t errlen)
{
    if (mkdir_p(path) == 0) return 0;
    snprintf(err, errlen, "cannot create %s: %s", path, strerror(errno));
    return errno == ENOSPC || errno == EDQUOT ? 507 : 500;
}

/* repository paths in URLs: bytes outside the unreserved set percent-encoded */
static void url_path(const char *in, char *out, size_t cap)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)in; *p && n + 4 < cap; p++) {
        if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || strchr("-._~/", *p)) {
            out[n++] = (char)*p;
        } else {
            out[n++] = '%';
            out[n++] = hex[*p >> 4];
            out[n++] = hex[*p & 15];
        }
    }
    out[n] = 0;
}

/* ---- listing ---------------------------------------------------------- */

typedef struct {
    hub_file *v;
    int n, cap;
} file_list;

static void files_free(file_list *l)
{
    for (int i = 0; i < l->n; i++) free(l->v[i].path);
    free(l->v);
    memset(l, 0, sizeof *l);
}

static int add_entries(file_list *l, json_t *arr, char *err, size_t errlen)
{
    if (!json_is_array(arr)) {
        snprintf(err, errlen, "the hub's file listing is not a JSON array");
        return 502;
    }
    size_t i;
    json_t *e;
    json_array_foreach(arr, i, e) {
        const char *type = json_string_value(json_object_get(e, "type"));
        const char *path = json_string_value(json_object_get(e, "path"));
        if (!path || (type && strcmp(type, "file"))) continue;
        if (l->n == l->cap) {
            int cap = l->cap ? l->cap * 2 : 64;
            hub_file *v = realloc(l->v, sizeof *v * (size_t)cap);
            if (!v) {
                snprintf(err, errlen, "out of memory");
                return 500;
            }
            l->v = v;
            l->cap = cap;
        }
        hub_file *f = &l->v[l->n];
        memset(f, 0, sizeof *f);
        if (!(f->path = strdup(path))) {
            snprintf(err, errlen, "out of memory");
            return 500;
        }
        json_t *size = json_object_get(e, "size");
        if (json_is_integer(size) && json_integer_value(size) > 0) f->size = (uint64_t)json_integer_value(size);
        json_t *lfs = json_object_get(e, "lfs");
        if (json_is_object(lfs)) {
            const char *oid = json_string_value(json_object_get(lfs, "oid"));
            if (!oid) oid = json_string_value(json_object_get(lfs, "sha256"));
            if (!oid || !dl_parse_sha256(oid, f->sha256)) f->sha256[0] = 0;
            json_t *ls = json_object_get(lfs, "size");
            if (json_is_integer(ls) && json_integer_value(ls) > 0) f->size = (uint64_t)json_integer_value(ls);
        }
        l->n++;
    }
    return 0;
}

static int list_repo(const char *endpoint, const hub_ref *ref, const char *token, file_list *l, char *err,
                     size_t errlen)
{
    char url[4096];
    snprintf(url, sizeof url, "%s/api/models/%s/%s/tree/%s?recursive=true", endpoint, ref->owner, ref->repo,
             ref->revision);
    for (int page = 0; page < MAX_PAGES && url[0]; page++) {
        char *body;
        size_t len;
        dl_headers h;
        int rc = dl_get(url, token, MAX_LISTING, &body, &len, &h, err, errlen);
        if (rc == 401 || rc == 404) {
            char why[2048];
            snprintf(why, sizeof why, "%s", err);
            snprintf(err, errlen, "repository %s/%s not found on %s, or it is private or gated%s: %s", ref->owner,
                     ref->repo, endpoint, token ? " for this token" : " (set HF_TOKEN for those)", why);
            return rc;
        }
        if (rc) return rc;
        json_error_t je;
        json_t *j = json_loadb(body, len, 0, &je);
        free(body);
        if (!j) {
            snprintf(err, errlen, "the hub's file listing for %s/%s is not JSON: %s", ref->owner, ref->repo, je.text);
            return 502;
        }
        rc = add_entries(l, j, err, errlen);
        json_decref(j);
        if (rc) return rc;
        snprintf(url, sizeof url, "%s", h.next_url);
    }
    return 0;
}

/* ---- progress --------------------------------------------------------- */

typedef struct {
    const hub_pull_opts *o;
    const char *file;
    char digest[72];
    double last_ms;
    uint64_t last_done;
} file_progress;

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static bool emit(const hub_pull_opts *o, hub_event_kind kind, const char *text)
{
    hub_event ev = {.kind = kind, .text = text};
    return !o->progress || o->progress(o->ctx, &ev);
}

static bool emit_file(file_progress *fp, uint64_t done, uint64_t total)
{
    if (!fp->o->progress) return true;
    hub_event ev = {.kind = HUB_EV_FILE, .file = fp->file, .digest = fp->digest[0] ? fp->digest : NULL,
                    .total = total, .completed = done};
    fp->last_ms = now_ms();
    fp->last_done = done;
    return fp->o->progress(fp->o->ctx, &ev);
}

/* at most ten reports a second per file, and every completion */
static bool on_bytes(void *ctx, uint64_t done, uint64_t total)
{
    file_progress *fp = ctx;
    if (done == fp->last_done) return true;
    if (done != total && now_ms() - fp->last_ms < 100) return true;
    return emit_file(fp, done, total);
}

/* ---- the pull --------------------------------------------------------- */

typedef struct {
    const char *url;
    const char *name;   /* file name in the models directory */
    const char *sha256; /* expected, or NULL */
    uint64_t size;
} fetch_item;

static int fetch(const hub_pull_opts *o, const fetch_item *it, const char *dir, const char *token, dl_result *r,
                 char *err, size_t errlen)
{
    char dest[4096];
    int w = snprintf(dest, sizeof dest, "%s/%s", dir, it->name);
    if (w < 0 || (size_t)w >= sizeof dest) {
        snprintf(err, errlen, "path too long: %s/%s", dir, it->name);
        return 500;
    }
    file_progress fp = {.o = o, .file = it->name, .last_done = UINT64_MAX};
    if (it->sha256) snprintf(fp.digest, sizeof fp.digest, "sha256:%s", it->sha256);
    if (!emit_file(&fp, 0, it->size)) {
        snprintf(err, errlen, "pull cancelled");
        return 499;
    }
    dl_request rq = {.url = it->url, .dest = dest, .token = token, .sha256 = it->sha256, .size = it->size,
                     .progress = on_bytes, .ctx = &fp};
    int rc = dl_file(&rq, r, err, errlen);
    if (rc) return rc;
    snprintf(fp.digest, sizeof fp.digest, "sha256:%s", r->sha256);
    if (r->reused) {
        char note[4200];
        snprintf(note, sizeof note, "%s is already complete", it->name);
        emit(o, HUB_EV_NOTE, note);
    }
    if (!emit_file(&fp, r->size, r->size)) {
        snprintf(err, errlen, "pull cancelled");
        return 499;
    }
    return 0;
}

static void iso_now(char *buf, size_t len)
{
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

int hub_pull(const hub_pull_opts *o, hub_pull_result *res, char *err, size_t errlen)
{
    memset(res, 0, sizeof *res);
    hub_ref ref;
    if (hub_ref_parse(o->ref, &ref, err, errlen)) return 400;
    if (!o->models_dir || !*o->models_dir) {
        snprintf(err, errlen, "no models directory");
        return 500;
    }
    char endpoint[1024];
    const char *ep = o->endpoint ? o->endpoint : getenv("HF_ENDPOINT");
    snprintf(endpoint, sizeof endpoint, "%s", ep && *ep ? ep : "https://huggingface.co");
    for (size_t n = strlen(endpoint); n && endpoint[n - 1] == '/'; n--) endpoint[n - 1] = 0;
    char *token = o->token ? (*o->token ? strdup(o->token) : NULL) : hub_token_from_env();
    char soc[32];
    if (o->soc) snprintf(soc, sizeof soc, "%s", o->soc);
    else hub_board_soc(soc, sizeof soc);

    file_list files = {0};
    fetch_item items[80];
    char *urls[80] = {0};
    int n_items = 0, n_parts = 0;
    hub_choice ch;
    char dir[4096];
    int rc = 0;
    if (!emit(o, HUB_EV_MANIFEST, NULL)) {
        rc = 499;
        snprintf(err, errlen, "pull cancelled");
        goto out;
    }
    if (ref.kind == HUB_REF_REPO) {
        if ((rc = list_repo(endpoint, &ref, token, &files, err, errlen))) goto out;
        if (hub_choose(files.v, files.n, soc, ref.tag, ref.file, &ch, err, errlen)) {
            char why[2048];
            snprintf(why, sizeof why, "%s", err);
            snprintf(err, errlen, "%s/%s: %s", ref.owner, ref.repo, why);
            rc = 404;
            goto out;
        }
        int picks[80];
        for (int i = 0; i < ch.n_parts; i++) picks[n_items++] = ch.parts[i];
        n_parts = n_items;
        for (int i = 0; i < ch.n_vision; i++) picks[n_items++] = ch.vision[i];
        for (int i = 0; i < n_items; i++) {
            const hub_file *f = &files.v[picks[i]];
            char enc[1600];
            url_path(f->path, enc, sizeof enc);
            if (asprintf(&urls[i], "%s/%s/%s/resolve/%s/%s", endpoint, ref.owner, ref.repo, ref.revision, enc) < 0) {
                urls[i] = NULL;
                snprintf(err, errlen, "out of memory");
                rc = 500;
                goto out;
            }
            items[i] = (fetch_item){.url = urls[i], .name = base(f->path), .sha256 = f->sha256[0] ? f->sha256 : NULL,
                                    .size = f->size};
        }
        snprintf(dir, sizeof dir, "%s/hf.co/%s/%s", o->models_dir, ref.owner, ref.repo);
        char note[1200];
        snprintf(note, sizeof note, "%s/%s: %s%s%s", ref.owner, ref.repo, files.v[ch.model].path,
                 ch.n_vision ? ", vision companion " : "", ch.n_vision ? files.v[ch.vision[0]].path : "");
        emit(o, HUB_EV_NOTE, note);
    } else {
        items[0] = (fetch_item){.url = ref.url, .name = ref.file};
        n_items = n_parts = 1;
        snprintf(dir, sizeof dir, "%s/%s", o->models_dir, ref.host);
    }
    if ((rc = mkdirs(dir, err, errlen))) goto out;

    dl_result first = {0};
    char revision[128] = "";
    for (int i = 0; i < n_items; i++) {
        dl_result r;
        if ((rc = fetch(o, &items[i], dir, token, &r, err, errlen))) goto out;
        if (i == 0) first = r;
        if (!revision[0] && r.hdr.repo_commit[0]) snprintf(revision, sizeof revision, "%s", r.hdr.repo_commit);
    }
    if (!emit(o, HUB_EV_VERIFY, NULL)) {
        rc = 499;
        snprintf(err, errlen, "pull cancelled");
        goto out;
    }
    if (!emit(o, HUB_EV_WRITE, NULL)) {
        rc = 499;
        snprintf(err, errlen, "pull cancelled");
        goto out;
    }

    int w = snprintf(res->model_path, sizeof res->model_path, "%s/%s", dir, items[0].name);
    if (w < 0 || (size_t)w >= sizeof res->model_path) {
        snprintf(err, errlen, "path too long: %s/%s", dir, items[0].name);
        rc = 500;
        goto out;
    }
    const char *aliases[4];
    char al[4][2200];
    int n_al = 0;
    const char *vision[16];
    int n_vision = 0;
    for (int i = n_parts; i < n_items && n_vision < 16; i++) vision[n_vision++] = items[i].name;
    json_t *pull = json_object();
    char when[32];
    iso_now(when, sizeof when);
    if (ref.kind == HUB_REF_REPO) {
        char src[1400];
        snprintf(src, sizeof src, "hf.co/%s/%s/%s", ref.owner, ref.repo, files.v[ch.model].path);
        json_object_set_new(pull, "source", json_string(src));
        char repo[300];
        snprintf(repo, sizeof repo, "%s/%s", ref.owner, ref.repo);
        json_object_set_new(pull, "repo", json_string(repo));
        json_object_set_new(pull, "endpoint", json_string(endpoint));
        json_object_set_new(pull, "revision", json_string(revision[0] ? revision : ref.revision));
        json_object_set_new(pull, "file", json_string(files.v[ch.model].path));
        if (!ref.file[0] && !ref.tag[0]) {
            snprintf(al[n_al++], sizeof al[0], "hf.co/%s/%s", ref.owner, ref.repo);
            snprintf(al[n_al++], sizeof al[0], "hf.co/%s/%s:latest", ref.owner, ref.repo);
        }
        if (ref.tag[0]) snprintf(al[n_al++], sizeof al[0], "hf.co/%s/%s:%s", ref.owner, ref.repo, ref.tag);
        model_name_parts parts;
        model_name_parse(items[0].name, &parts);
        if (parts.quant[0] && (!ref.tag[0] || strcasecmp(parts.quant, ref.tag)))
            snprintf(al[n_al++], sizeof al[0], "hf.co/%s/%s:%s", ref.owner, ref.repo, parts.quant);
    } else {
        json_object_set_new(pull, "source", json_string(ref.url));
        snprintf(al[n_al++], sizeof al[0], "%s", ref.url);
    }
    for (int i = 0; i < n_al; i++) aliases[i] = al[i];
    json_object_set_new(pull, "sha256", json_string(first.sha256));
    json_object_set_new(pull, "verified", json_boolean(first.expected[0] != 0));
    json_object_set_new(pull, "size", json_integer((json_int_t)first.size));
    json_object_set_new(pull, "pulled_at", json_string(when));
    char swerr[1024];
    if (hub_sidecar_write(res->model_path, aliases, n_al,
                          is_rkllm(items[0].name) ? "rknn" : "mmproj", vision, n_vision, pull,
                          res->sidecar_path, sizeof res->sidecar_path, swerr, sizeof swerr)) {
        emit(o, HUB_EV_NOTE, swerr);
        res->sidecar_path[0] = 0;
    }
    emit(o, HUB_EV_SUCCESS, NULL);
out:
    for (int i = 0; i < 80; i++) free(urls[i]);
    files_free(&files);
    free(token);
    return rc;
}
