#include "http/stream.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct http_stream {
    pthread_mutex_t mu;
    pthread_cond_t cv; /* signalled on every change; both sides wait on it */
    char *buf;         /* ring of cap bytes */
    size_t cap, head, len;
    size_t max_pending;
    bool closed, abandoned;
    atomic_int refs;
};

http_stream *http_stream_new(size_t max_pending)
{
    http_stream *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->cap = 4096;
    s->buf = malloc(s->cap);
    if (!s->buf) {
        free(s);
        return NULL;
    }
    s->max_pending = max_pending ? max_pending : 1 << 20;
    pthread_mutex_init(&s->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&s->cv, &ca);
    pthread_condattr_destroy(&ca);
    atomic_init(&s->refs, 1);
    return s;
}

void http_stream_ref(http_stream *s)
{
    atomic_fetch_add(&s->refs, 1);
}

void http_stream_unref(http_stream *s)
{
    if (!s || atomic_fetch_sub(&s->refs, 1) != 1) return;
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
    free(s->buf);
    free(s);
}

/* Grows the ring to hold at least need bytes, unwrapping it. */
static bool grow(http_stream *s, size_t need)
{
    size_t cap = s->cap;
    while (cap < need) cap *= 2;
    char *nb = malloc(cap);
    if (!nb) return false;
    size_t first = s->cap - s->head < s->len ? s->cap - s->head : s->len;
    memcpy(nb, s->buf + s->head, first);
    memcpy(nb + first, s->buf, s->len - first);
    free(s->buf);
    s->buf = nb;
    s->cap = cap;
    s->head = 0;
    return true;
}

bool http_stream_write(http_stream *s, const char *data, size_t len)
{
    pthread_mutex_lock(&s->mu);
    /* wait for room, but never refuse a single write larger than the limit */
    while (!s->abandoned && s->len > 0 && s->len + len > s->max_pending) pthread_cond_wait(&s->cv, &s->mu);
    bool ok = !s->abandoned && !s->closed;
    if (ok && s->len + len > s->cap) ok = grow(s, s->len + len);
    if (ok) {
        size_t tail = (s->head + s->len) % s->cap;
        size_t first = s->cap - tail < len ? s->cap - tail : len;
        memcpy(s->buf + tail, data, first);
        memcpy(s->buf, data + first, len - first);
        s->len += len;
        pthread_cond_broadcast(&s->cv);
    }
    pthread_mutex_unlock(&s->mu);
    return ok;
}

void http_stream_close(http_stream *s)
{
    pthread_mutex_lock(&s->mu);
    s->closed = true;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

void http_stream_abandon(http_stream *s)
{
    pthread_mutex_lock(&s->mu);
    s->abandoned = true;
    s->len = 0;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

static void deadline(struct timespec *ts, int ms)
{
    clock_gettime(CLOCK_MONOTONIC, ts);
    ts->tv_sec += ms / 1000;
    ts->tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

ssize_t http_stream_read(http_stream *s, char *buf, size_t max, int timeout_ms)
{
    struct timespec until;
    deadline(&until, timeout_ms);
    pthread_mutex_lock(&s->mu);
    while (!s->len && !s->closed && !s->abandoned)
        if (pthread_cond_timedwait(&s->cv, &s->mu, &until) == ETIMEDOUT) break;
    ssize_t n;
    if (s->abandoned || (!s->len && s->closed)) {
        n = -1;
    } else {
        size_t take = s->len < max ? s->len : max;
        size_t first = s->cap - s->head < take ? s->cap - s->head : take;
        memcpy(buf, s->buf + s->head, first);
        memcpy(buf + first, s->buf, take - first);
        s->head = (s->head + take) % s->cap;
        s->len -= take;
        n = (ssize_t)take;
        if (take) pthread_cond_broadcast(&s->cv);
    }
    pthread_mutex_unlock(&s->mu);
    return n;
}

bool http_stream_wait_ready(http_stream *s, int timeout_ms)
{
    struct timespec until;
    deadline(&until, timeout_ms);
    pthread_mutex_lock(&s->mu);
    while (!s->len && !s->closed && !s->abandoned)
        if (pthread_cond_timedwait(&s->cv, &s->mu, &until) == ETIMEDOUT) break;
    bool ready = s->len || s->closed || s->abandoned;
    pthread_mutex_unlock(&s->mu);
    return ready;
}

bool http_stream_has_data(http_stream *s)
{
    pthread_mutex_lock(&s->mu);
    bool r = s->len > 0;
    pthread_mutex_unlock(&s->mu);
    return r;
}

bool http_stream_closed(http_stream *s)
{
    pthread_mutex_lock(&s->mu);
    bool r = s->closed;
    pthread_mutex_unlock(&s->mu);
    return r;
}
