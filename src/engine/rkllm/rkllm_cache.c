#include "engine/rkllm/rkllm_cache.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAGIC "RKLLMPC1"

typedef struct {
    char magic[8];
    char engine[16];     /* "rkllm" */
    uint32_t family;     /* 12 or 13 */
    char runtime_version[32];
    char model_name[256];
    uint64_t model_size;
    uint64_t text_bytes;
    uint64_t payload_bytes;
    uint64_t hash;       /* of the header above, the text and the payload */
} cache_header;

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 0x100000001b3ull;
    return h;
}

static void fill_id(cache_header *h, const rkllm_cache_id *id)
{
    memset(h, 0, sizeof *h);
    memcpy(h->magic, MAGIC, 8);
    snprintf(h->engine, sizeof h->engine, "rkllm");
    h->family = (uint32_t)id->family;
    snprintf(h->runtime_version, sizeof h->runtime_version, "%s", id->runtime_version ? id->runtime_version : "");
    const char *base = strrchr(id->model_path, '/');
    snprintf(h->model_name, sizeof h->model_name, "%s", base ? base + 1 : id->model_path);
    struct stat st;
    h->model_size = stat(id->model_path, &st) == 0 ? (uint64_t)st.st_size : 0;
}

static char *slurp(const char *path, uint64_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    struct stat st;
    char *buf = NULL;
    if (fstat(fileno(f), &st) == 0 && (buf = malloc((size_t)st.st_size + 1)) != NULL &&
        fread(buf, 1, (size_t)st.st_size, f) != (size_t)st.st_size) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    if (buf) *n = (uint64_t)st.st_size;
    return buf;
}

int rkllm_cache_wrap(const char *path, const char *runtime_file, const rkllm_cache_id *id, const char *text,
                     char *err, size_t errlen)
{
    uint64_t n = 0;
    char *payload = slurp(runtime_file, &n);
    if (!payload) {
        snprintf(err, errlen, "the runtime wrote no prompt cache to %s", runtime_file);
        return -1;
    }
    cache_header h;
    fill_id(&h, id);
    h.text_bytes = strlen(text);
    h.payload_bytes = n;
    uint64_t hash = fnv(0xcbf29ce484222325ull, &h, offsetof(cache_header, hash));
    hash = fnv(hash, text, h.text_bytes);
    h.hash = fnv(hash, payload, n);
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    FILE *f = fopen(tmp, "wb");
    bool ok = f && fwrite(&h, sizeof h, 1, f) == 1 && fwrite(text, 1, h.text_bytes, f) == h.text_bytes &&
              fwrite(payload, 1, n, f) == n;
    if (f) {
        ok = fflush(f) == 0 && fsync(fileno(f)) == 0 && ok;
        ok = fclose(f) == 0 && ok;
    }
    free(payload);
    if (!ok || rename(tmp, path) != 0) {
        snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno));
        unlink(tmp);
        return -1;
    }
    return 0;
}

int rkllm_cache_unwrap(const char *path, const rkllm_cache_id *id, const char *runtime_file, char **text,
                       char *err, size_t errlen)
{
    uint64_t n = 0;
    char *buf = slurp(path, &n);
    if (!buf) {
        snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
        return -1;
    }
    cache_header h, want;
    fill_id(&want, id);
    const char *why = NULL;
    if (n < sizeof h || memcmp(buf, MAGIC, 8) != 0) why = "not an rkllm prompt cache";
    else memcpy(&h, buf, sizeof h);
    if (!why && (h.text_bytes > n - sizeof h || h.payload_bytes != n - sizeof h - h.text_bytes))
        why = "it is truncated";
    if (!why) {
        uint64_t hash = fnv(0xcbf29ce484222325ull, &h, offsetof(cache_header, hash));
        hash = fnv(hash, buf + sizeof h, (size_t)(n - sizeof h));
        if (hash != h.hash) why = "it is corrupt";
    }
    if (!why && (strcmp(h.engine, "rkllm") != 0 || h.family != want.family ||
                 strcmp(h.runtime_version, want.runtime_version) != 0))
        why = "it was made by another engine or runtime version";
    if (!why && (strcmp(h.model_name, want.model_name) != 0 || h.model_size != want.model_size))
        why = "it was made for another model";
    if (why) {
        free(buf);
        snprintf(err, errlen, "refusing %s: %s", path, why);
        return -1;
    }
    FILE *f = fopen(runtime_file, "wb");
    bool ok = f && fwrite(buf + sizeof h + h.text_bytes, 1, h.payload_bytes, f) == h.payload_bytes;
    if (f) ok = fclose(f) == 0 && ok;
    char *t = ok ? malloc(h.text_bytes + 1) : NULL;
    if (t) {
        memcpy(t, buf + sizeof h, h.text_bytes);
        t[h.text_bytes] = 0;
    }
    free(buf);
    if (!t) {
        snprintf(err, errlen, "cannot write %s", runtime_file);
        return -1;
    }
    *text = t;
    return 0;
}
