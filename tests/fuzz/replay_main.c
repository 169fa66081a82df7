/* Runs a libFuzzer-style target without libFuzzer: every file of the seed
 * corpus, then deterministic mutations of each (bit flips, truncations,
 * random byte runs), so hostile-input coverage is part of every test run. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint64_t next_random(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static unsigned char *read_file(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *buf = malloc(n > 0 ? (size_t)n : 1);
    if (buf && n > 0 && fread(buf, 1, (size_t)n, f) != (size_t)n) { free(buf); buf = NULL; }
    fclose(f);
    *size = n > 0 ? (size_t)n : 0;
    return buf;
}

static void run_mutations(const unsigned char *seed, size_t size, int rounds)
{
    size_t cap = size + 64;
    unsigned char *buf = malloc(cap);
    if (!buf) return;
    for (int r = 0; r < rounds; r++) {
        size_t n = size;
        memcpy(buf, seed, size);
        switch (next_random() % 4) {
        case 0: /* flip a few bits */
            for (int k = 0; k < 4 && n; k++) buf[next_random() % n] ^= (unsigned char)(1u << (next_random() % 8));
            break;
        case 1: /* truncate */
            n = n ? next_random() % n : 0;
            break;
        case 2: /* overwrite a run with random bytes */
            if (n) {
                size_t at = next_random() % n, len = 1 + next_random() % 8;
                for (size_t k = 0; k < len && at + k < n; k++) buf[at + k] = (unsigned char)next_random();
            }
            break;
        default: /* extreme integers at an aligned spot */
            if (n >= 8) {
                size_t at = (next_random() % (n / 8)) * 8;
                uint64_t v = (next_random() & 1) ? UINT64_MAX : (uint64_t)1 << 62;
                memcpy(buf + at, &v, 8);
            }
            break;
        }
        LLVMFuzzerTestOneInput(buf, n);
    }
    free(buf);
}

int main(int argc, char **argv)
{
    int files = 0;
    const char *rounds_env = getenv("RKSERVE_FUZZ_ROUNDS");
    int rounds = rounds_env ? atoi(rounds_env) : 2000;
    for (int i = 1; i < argc; i++) {
        DIR *d = opendir(argv[i]);
        if (!d) { fprintf(stderr, "replay: cannot open corpus %s\n", argv[i]); return 1; }
        struct dirent *e;
        while ((e = readdir(d))) {
            if (e->d_name[0] == '.') continue;
            char path[4096];
            snprintf(path, sizeof path, "%s/%s", argv[i], e->d_name);
            size_t size;
            unsigned char *data = read_file(path, &size);
            if (!data) continue;
            LLVMFuzzerTestOneInput(data, size);
            run_mutations(data, size, rounds);
            free(data);
            files++;
        }
        closedir(d);
    }
    if (files == 0) { fprintf(stderr, "replay: empty corpus\n"); return 1; }
    printf("replay: %d corpus files, %d mutations each, no crash\n", files, rounds);
    return 0;
}
