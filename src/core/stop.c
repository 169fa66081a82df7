#include "core/stop.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

bool stop_matcher_init(stop_matcher *m, const char *const *stops, int n)
{
    memset(m, 0, sizeof *m);
    m->matched = -1;
    if (n <= 0 || !stops)
        return true;
    m->stops = calloc((size_t)n, sizeof *m->stops);
    m->lens = calloc((size_t)n, sizeof *m->lens);
    m->index = calloc((size_t)n, sizeof *m->index);
    if (!m->stops || !m->lens || !m->index)
        return false;
    for (int i = 0; i < n; i++) {
        if (!stops[i] || !stops[i][0])
            continue;
        size_t l = strlen(stops[i]);
        char *c = malloc(l + 1);
        if (!c)
            return false;
        memcpy(c, stops[i], l + 1);
        m->stops[m->n] = c;
        m->lens[m->n] = l;
        m->index[m->n++] = i;
    }
    return true;
}

void stop_matcher_free(stop_matcher *m)
{
    if (m->stops)
        for (int i = 0; i < m->n; i++)
            free(m->stops[i]);
    free(m->stops);
    free(m->lens);
    free(m->index);
    free(m->buf);
    memset(m, 0, sizeof *m);
    m->matched = -1;
}

void stop_matcher_reset(stop_matcher *m)
{
    m->len = 0;
    m->safe = 0;
    m->matched = -1;
}

size_t stop_matcher_pending(const stop_matcher *m)
{
    return m->len;
}

int stop_matcher_matched(const stop_matcher *m)
{
    return m->matched;
}

static bool is_cont(unsigned char c)
{
    return (c & 0xC0) == 0x80;
}

/* Where an unfinished UTF-8 sequence at the end of b[from, len) starts, or
 * len if the text ends on a character boundary. Malformed bytes count as
 * complete so they cannot be held forever. */
static size_t incomplete_tail(const char *b, size_t from, size_t len)
{
    size_t q = len;
    while (q > from && len - q < 4 && is_cont((unsigned char)b[q - 1]))
        q--;
    if (q == from || len - q >= 4)
        return len;
    unsigned char lead = (unsigned char)b[q - 1];
    size_t need = lead >= 0xF0 && lead <= 0xF7 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1;
    if (lead >= 0xF8)
        need = 1;
    return len - (q - 1) < need ? q - 1 : len;
}

/* Longest tail of b[from, len) that is a proper prefix of a stop string. */
static size_t prefix_tail(const stop_matcher *m, const char *b, size_t from, size_t len)
{
    size_t best = 0;
    for (int i = 0; i < m->n; i++) {
        size_t k = m->lens[i] - 1;
        if (k > len - from)
            k = len - from;
        for (; k > best; k--) {
            if (!memcmp(b + len - k, m->stops[i], k)) {
                best = k;
                break;
            }
        }
    }
    return best;
}

/* Searches matches ending in (from, len]: the first end wins, then the
 * longest string. Truncates the text at the match. */
static void find_stop(stop_matcher *m, size_t from)
{
    for (size_t e = from + 1; e <= m->len; e++) {
        int hit = -1;
        for (int i = 0; i < m->n; i++) {
            size_t l = m->lens[i];
            if (l <= e && (hit < 0 || l > m->lens[hit]) && !memcmp(m->buf + e - l, m->stops[i], l))
                hit = i;
        }
        if (hit >= 0) {
            m->len = e - m->lens[hit];
            m->matched = m->index[hit];
            return;
        }
    }
}

/* Writes up to cap settled bytes, never cutting a character in two. */
static size_t emit(stop_matcher *m, char *out, size_t cap)
{
    size_t n = m->safe < cap ? m->safe : cap;
    if (n < m->safe) {
        size_t back = n;
        while (back > 0 && n - back < 3 && is_cont((unsigned char)m->buf[back]))
            back--;
        if (!is_cont((unsigned char)m->buf[back]))
            n = back;
    }
    if (n) {
        memcpy(out, m->buf, n);
        memmove(m->buf, m->buf + n, m->len - n);
        m->len -= n;
        m->safe -= n;
    }
    return n;
}

size_t stop_matcher_push(stop_matcher *m, const char *text, size_t len, char *out, size_t cap,
                         bool *stopped)
{
    if (m->matched < 0 && len) {
        if (m->len + len > m->cap) {
            size_t nc = m->cap ? m->cap : 64;
            while (nc < m->len + len) {
                if (nc > SIZE_MAX / 2)
                    return (size_t)-1;
                nc *= 2;
            }
            char *b = realloc(m->buf, nc);
            if (!b)
                return (size_t)-1;
            m->buf = b;
            m->cap = nc;
        }
        size_t old = m->len;
        memcpy(m->buf + old, text, len);
        m->len += len;
        find_stop(m, old);
        if (m->matched >= 0) {
            m->safe = m->len;
        } else {
            size_t hold = m->len - prefix_tail(m, m->buf, m->safe, m->len);
            size_t utf = incomplete_tail(m->buf, m->safe, m->len);
            size_t s = hold < utf ? hold : utf;
            /* A held stop prefix must start on a character boundary. */
            for (int k = 0; k < 3 && s > m->safe && s < m->len && is_cont((unsigned char)m->buf[s]); k++)
                s--;
            m->safe = s;
        }
    }
    if (stopped)
        *stopped = m->matched >= 0;
    return emit(m, out, cap);
}

size_t stop_matcher_flush(stop_matcher *m, char *out, size_t cap)
{
    m->safe = m->len;
    return emit(m, out, cap);
}
