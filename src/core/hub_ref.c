/* Parsing pull references (hub.h lists the forms). Only names that are
 * safe as path components get through: the owner, repository and file name
 * become directories and files under the models directory. */
#include "core/hub.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

static bool name_ok(const char *s, size_t n)
{
    if (!n || s[0] == '.' || s[0] == '-') return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!isalnum(c) && c != '.' && c != '_' && c != '-') return false;
    }
    return !(n >= 2 && memmem(s, n, "..", 2));
}

/* a repository path: components of printable characters, no "." or ".." */
static bool file_ok(const char *s)
{
    if (!*s || *s == '/') return false;
    const char *p = s;
    while (*p) {
        const char *slash = strchr(p, '/');
        size_t n = slash ? (size_t)(slash - p) : strlen(p);
        if (!n || (n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.')) return false;
        for (size_t i = 0; i < n; i++)
            if ((unsigned char)p[i] < 0x20 || p[i] == '\\' || p[i] == 0x7f) return false;
        if (!slash) break;
        p = slash + 1;
    }
    return p[0] != 0;
}

static bool copy_part(char *out, size_t cap, const char *s, size_t n)
{
    if (n >= cap) return false;
    memcpy(out, s, n);
    out[n] = 0;
    return true;
}

/* OWNER/REPO[:TAG][/FILE] after the host */
static int parse_repo_path(const char *p, hub_ref *out, bool allow_tag, char *err, size_t errlen)
{
    const char *slash = strchr(p, '/');
    if (!slash) {
        snprintf(err, errlen, "a Hugging Face reference names OWNER/REPO, e.g. hf.co/Qwen/Qwen3-0.6B-GGUF");
        return -1;
    }
    if (!copy_part(out->owner, sizeof out->owner, p, (size_t)(slash - p)) ||
        !name_ok(out->owner, strlen(out->owner))) {
        snprintf(err, errlen, "invalid repository owner '%.*s'", (int)(slash - p), p);
        return -1;
    }
    const char *r = slash + 1;
    const char *rend = r + strcspn(r, "/:");
    if (!copy_part(out->repo, sizeof out->repo, r, (size_t)(rend - r)) || !name_ok(out->repo, strlen(out->repo))) {
        snprintf(err, errlen, "invalid repository name '%.*s'", (int)(rend - r), r);
        return -1;
    }
    const char *rest = rend;
    if (*rest == ':') {
        if (!allow_tag) {
            snprintf(err, errlen, "unexpected ':' in '%s'", p);
            return -1;
        }
        const char *tag = rest + 1;
        if (strchr(tag, '/') || !copy_part(out->tag, sizeof out->tag, tag, strlen(tag)) ||
            !name_ok(out->tag, strlen(out->tag))) {
            snprintf(err, errlen, "invalid tag '%s' (a quantisation such as Q4_K_M, or a part of a file name)", tag);
            return -1;
        }
        if (!strcasecmp(out->tag, "latest")) out->tag[0] = 0;
        return 0;
    }
    if (*rest == '/' && rest[1]) {
        const char *f = rest + 1;
        /* the web page and download forms: /blob/REV/FILE, /resolve/REV/FILE, /tree/REV */
        const char *kinds[] = {"resolve/", "blob/", "tree/"};
        for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
            size_t kl = strlen(kinds[k]);
            if (strncmp(f, kinds[k], kl)) continue;
            const char *rev = f + kl;
            const char *rs = strchr(rev, '/');
            size_t rl = rs ? (size_t)(rs - rev) : strlen(rev);
            if (!copy_part(out->revision, sizeof out->revision, rev, rl) || !name_ok(out->revision, rl)) {
                snprintf(err, errlen, "invalid revision in '%s'", p);
                return -1;
            }
            f = rs ? rs + 1 : rev + rl;
            break;
        }
        if (!*f) return 0;
        if (!file_ok(f) || !copy_part(out->file, sizeof out->file, f, strlen(f))) {
            snprintf(err, errlen, "invalid file name '%s'", f);
            return -1;
        }
    }
    return 0;
}

static const char *after_prefix(const char *s, const char *prefix)
{
    size_t n = strlen(prefix);
    return strncasecmp(s, prefix, n) ? NULL : s + n;
}

int hub_ref_parse(const char *ref, hub_ref *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    snprintf(out->revision, sizeof out->revision, "main");
    if (!ref || !*ref) {
        snprintf(err, errlen, "no model reference given");
        return -1;
    }
    if (strlen(ref) >= sizeof out->url) {
        snprintf(err, errlen, "reference too long");
        return -1;
    }
    for (const char *c = ref; *c; c++)
        if ((unsigned char)*c <= 0x20 || *c == 0x7f) {
            snprintf(err, errlen, "reference contains spaces or control characters");
            return -1;
        }
    const char *hosts[] = {"hf.co/", "huggingface.co/", "www.huggingface.co/"};
    const char *schemes[] = {"https://", "http://"};
    const char *rest = NULL;
    bool url = false;
    for (size_t s = 0; s < 2 && !rest; s++) {
        const char *a = after_prefix(ref, schemes[s]);
        if (a) url = true;
        for (size_t h = 0; h < 3 && !rest; h++) rest = after_prefix(a ? a : ref, hosts[h]);
    }
    if (rest) {
        out->kind = HUB_REF_REPO;
        /* a tag only in the short form; URLs carry no tags, and their
         * query ("?download=true" from the web page) is dropped */
        char path[sizeof out->url];
        snprintf(path, sizeof path, "%.*s", (int)(url ? strcspn(rest, "?#") : strlen(rest)), rest);
        return parse_repo_path(path, out, !url, err, errlen);
    }
    if (!url) {
        snprintf(err, errlen,
                 "'%s' is not a reference rkserve can pull: use hf.co/OWNER/REPO[:QUANT], hf.co/OWNER/REPO/FILE or "
                 "an https:// URL of a .gguf or .rkllm file",
                 ref);
        return -1;
    }
    out->kind = HUB_REF_URL;
    snprintf(out->url, sizeof out->url, "%s", ref);
    const char *h = strstr(ref, "://") + 3;
    size_t hl = strcspn(h, "/?#");
    if (!hl || !copy_part(out->host, sizeof out->host, h, hl)) {
        snprintf(err, errlen, "no host in '%s'", ref);
        return -1;
    }
    for (char *c = out->host; *c; c++) { /* user@ would leak into a directory name */
        if (*c == '@') {
            snprintf(err, errlen, "URLs with user names are not supported");
            return -1;
        }
        if (*c == ':') *c = '_';
    }
    if (!name_ok(out->host, strlen(out->host))) {
        snprintf(err, errlen, "invalid host in '%s'", ref);
        return -1;
    }
    const char *path = h + hl;
    size_t pl = strcspn(path, "?#");
    const char *name = path;
    for (size_t i = 0; i < pl; i++)
        if (path[i] == '/') name = path + i + 1;
    size_t nl = (size_t)(path + pl - name);
    if (!copy_part(out->file, sizeof out->file, name, nl) || !name_ok(out->file, nl)) {
        snprintf(err, errlen, "the URL does not end in a file name rkserve can use: '%s'", ref);
        return -1;
    }
    size_t fl = strlen(out->file);
    if (!(fl > 5 && !strcasecmp(out->file + fl - 5, ".gguf")) && !(fl > 6 && !strcasecmp(out->file + fl - 6, ".rkllm"))) {
        snprintf(err, errlen, "the URL names '%s', which is not a .gguf or .rkllm model file", out->file);
        return -1;
    }
    return 0;
}
