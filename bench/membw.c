/* membw: main-memory bandwidth of this machine, the denominator of the
 * decode roofline. Measures memcpy between two buffers much larger than the
 * last-level cache (copy, counted STREAM-style as bytes read + bytes written)
 * and a pure streaming read (what a decode step does to the weights), each
 * with 1..T threads splitting the buffer. Prints one JSON object.
 *
 * usage: membw [--mb N] [--threads T] [--reps R] */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct {
    pthread_barrier_t *start;
    unsigned char *dst;
    const unsigned char *src;
    size_t len;
    int read_only;
    uint64_t sink;
    double seconds;
} worker;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Four independent accumulators keep several loads in flight per cycle, so
 * one core is limited by memory, not by the add chain. */
static uint64_t read_all(const unsigned char *p, size_t len)
{
    const uint64_t *w = (const uint64_t *)p;
    size_t n = len / sizeof(uint64_t);
    uint64_t a = 0, b = 0, c = 0, d = 0;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        a += w[i] ^ w[i + 4];
        b += w[i + 1] ^ w[i + 5];
        c += w[i + 2] ^ w[i + 6];
        d += w[i + 3] ^ w[i + 7];
    }
    for (; i < n; i++) a += w[i];
    return a ^ b ^ c ^ d;
}

static void *work(void *arg)
{
    worker *w = arg;
    pthread_barrier_wait(w->start);
    double t0 = now_s();
    if (w->read_only)
        w->sink = read_all(w->src, w->len);
    else
        memcpy(w->dst, w->src, w->len);
    w->seconds = now_s() - t0;
    return NULL;
}

/* One timed pass with nth threads; returns the wall time of the slowest. */
static double pass(unsigned char *dst, const unsigned char *src, size_t len, int nth, int read_only)
{
    pthread_t tid[64];
    worker ws[64];
    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, (unsigned)nth);
    size_t per = (len / (size_t)nth) & ~(size_t)63;
    for (int i = 0; i < nth; i++) {
        ws[i] = (worker){.start = &start,
                         .dst = dst + per * (size_t)i,
                         .src = src + per * (size_t)i,
                         .len = i == nth - 1 ? len - per * (size_t)i : per,
                         .read_only = read_only};
        if (i > 0) pthread_create(&tid[i], NULL, work, &ws[i]);
    }
    work(&ws[0]);
    double worst = ws[0].seconds;
    for (int i = 1; i < nth; i++) {
        pthread_join(tid[i], NULL);
        if (ws[i].seconds > worst) worst = ws[i].seconds;
    }
    pthread_barrier_destroy(&start);
    return worst;
}

static long arg_long(const char *s, const char *name, long lo, long hi)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) {
        fprintf(stderr, "membw: %s must be an integer in %ld..%ld\n", name, lo, hi);
        exit(2);
    }
    return v;
}

int main(int argc, char **argv)
{
    long mb = 256, max_threads = 2, reps = 5;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--mb") && i + 1 < argc)
            mb = arg_long(argv[++i], "--mb", 1, 1L << 16);
        else if (!strcmp(argv[i], "--threads") && i + 1 < argc)
            max_threads = arg_long(argv[++i], "--threads", 1, 64);
        else if (!strcmp(argv[i], "--reps") && i + 1 < argc)
            reps = arg_long(argv[++i], "--reps", 1, 1000);
        else {
            fprintf(stderr, "usage: membw [--mb N] [--threads T] [--reps R]\n");
            return 2;
        }
    }
    size_t len = (size_t)mb << 20;
    unsigned char *src = aligned_alloc(4096, len), *dst = aligned_alloc(4096, len);
    if (!src || !dst) {
        fprintf(stderr, "membw: cannot allocate 2 x %ld MB\n", mb);
        return 1;
    }
    /* Touch every page first so page faults are not timed. */
    for (size_t i = 0; i < len; i++) src[i] = (unsigned char)(i * 131u + 7u);
    memset(dst, 0, len);

    printf("{\"buffer_mb\": %ld, \"reps\": %ld", mb, reps);
    const char *kinds[] = {"copy", "read"};
    for (int k = 0; k < 2; k++) {
        for (long t = 1; t <= max_threads; t++) {
            double best = 1e30;
            pass(dst, src, len, (int)t, k); /* warm-up */
            for (long r = 0; r < reps; r++) {
                double s = pass(dst, src, len, (int)t, k);
                if (s < best) best = s;
            }
            /* copy moves len bytes in and len bytes out */
            double bytes = (double)len * (k == 0 ? 2.0 : 1.0);
            printf(", \"%s_gbps_%ldt\": %.2f", kinds[k], t, bytes / best / 1e9);
        }
    }
    printf("}\n");
    free(src);
    free(dst);
    return 0;
}
