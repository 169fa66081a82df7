#include "emulator/rkllm_emu_cache.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CACHE_MAGIC "RKEMUPC1"
#define CACHE_ENGINE "rkserve-rkllm-emulator"

typedef struct {
    char magic[8];
    char engine[32];
    uint32_t family;
    int32_t n_sys;
    uint64_t model_size;
    char model_name[256];
    uint64_t payload_bytes;
    uint64_t header_hash; /* of everything above */
} cache_header;

static uint64_t fnv1a(const void *p, size_t n)
{
    const unsigned char *b = p;
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 0x100000001b3ull;
    return h;
}

static void describe_model(const char *model_path, cache_header *h)
{
    struct stat st;
    h->model_size = stat(model_path, &st) == 0 ? (uint64_t)st.st_size : 0;
    const char *base = strrchr(model_path, '/');
    snprintf(h->model_name, sizeof h->model_name, "%s", base ? base + 1 : model_path);
}

static bool copy_bytes(FILE *from, FILE *to, uint64_t n)
{
    char buf[65536];
    while (n > 0) {
        size_t k = n < sizeof buf ? (size_t)n : sizeof buf;
        if (fread(buf, 1, k, from) != k || fwrite(buf, 1, k, to) != k) return false;
        n -= k;
    }
    return true;
}

int emu_cache_save(const char *path, const char *model_path, int family, engine_session *s, int32_t n_sys,
                   char *err, size_t errlen)
{
    char kv[4096], tmp[4096];
    if (snprintf(kv, sizeof kv, "%s.kv.%ld", path, (long)getpid()) >= (int)sizeof kv ||
        snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid()) >= (int)sizeof tmp) {
        snprintf(err, errlen, "path too long");
        return -1;
    }
    if (cpu_engine_ops.save(s, kv, err, errlen) != 0) return -1;
    cache_header h;
    memset(&h, 0, sizeof h);
    memcpy(h.magic, CACHE_MAGIC, 8);
    snprintf(h.engine, sizeof h.engine, "%s", CACHE_ENGINE);
    h.family = (uint32_t)family;
    h.n_sys = n_sys;
    describe_model(model_path, &h);
    struct stat st;
    FILE *in = fopen(kv, "rb");
    FILE *out = in ? fopen(tmp, "wb") : NULL;
    bool ok = in && out && fstat(fileno(in), &st) == 0;
    if (ok) {
        h.payload_bytes = (uint64_t)st.st_size;
        h.header_hash = fnv1a(&h, offsetof(cache_header, header_hash));
        ok = fwrite(&h, sizeof h, 1, out) == 1 && copy_bytes(in, out, h.payload_bytes);
    }
    if (in) fclose(in);
    if (out) {
        ok = fflush(out) == 0 && fsync(fileno(out)) == 0 && ok;
        ok = fclose(out) == 0 && ok;
    }
    unlink(kv);
    if (!ok || rename(tmp, path) != 0) {
        snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno));
        unlink(tmp);
        return -1;
    }
    return 0;
}

int emu_cache_load(const char *path, const char *model_path, int family, engine_session *s, int32_t *n_sys,
                   char *err, size_t errlen)
{
    FILE *in = fopen(path, "rb");
    if (!in) {
        snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
        return -1;
    }
    cache_header h, want;
    memset(&want, 0, sizeof want);
    describe_model(model_path, &want);
    const char *why = NULL;
    if (fread(&h, sizeof h, 1, in) != 1 || memcmp(h.magic, CACHE_MAGIC, 8) != 0)
        why = "not an emulator prompt cache";
    else if (h.header_hash != fnv1a(&h, offsetof(cache_header, header_hash)))
        why = "its header is corrupt";
    else if (h.family != (uint32_t)family)
        why = "it was written by the other ABI family";
    else if (h.model_size != want.model_size || strncmp(h.model_name, want.model_name, sizeof h.model_name) != 0)
        why = "it was made for another model";
    char kv[4096];
    if (!why && snprintf(kv, sizeof kv, "%s.kv.%ld", path, (long)getpid()) >= (int)sizeof kv) why = "path too long";
    if (why) {
        fclose(in);
        snprintf(err, errlen, "refusing %s: %s", path, why);
        return -1;
    }
    FILE *out = fopen(kv, "wb");
    bool ok = out && copy_bytes(in, out, h.payload_bytes) && fgetc(in) == EOF;
    if (out) ok = fclose(out) == 0 && ok;
    fclose(in);
    int rc = -1;
    if (!ok) snprintf(err, errlen, "refusing %s: it is truncated or corrupt", path);
    else rc = cpu_engine_ops.restore(s, kv, err, errlen);
    unlink(kv);
    if (rc == 0) *n_sys = h.n_sys;
    return rc;
}
