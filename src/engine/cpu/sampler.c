/* Sampling pipeline, in this order:
 *   logit_bias -> penalties (written back into the caller's logits)
 *   -> greedy argmax when temperature <= 0 (ties: lowest id)
 *   -> top_k -> softmax at the temperature -> top_p -> min_p -> draw.
 * Ties in every ranking go to the lowest token id, so results do not depend
 * on memory order. One draw consumes exactly one 64-bit output of a
 * xoshiro256** generator whose state is seeded from params.seed by four
 * steps of splitmix64; greedy picks consume nothing.
 * If no token has a finite logit (all banned or NaN) the result is -1. */
#include "engine/cpu/sampler.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Full-vocabulary top_p buckets tokens by s = (max - logit) / T, NB_SCALE
 * buckets per unit of s; the last bucket takes everything beyond. Only the
 * bucket where the cumulative mass crosses top_p needs sorting. */
#define NB 1024
#define NB_SCALE 32.0f
/* Candidates per block when summing weights for the draw. */
#define DRAW_BLOCK 256

typedef struct {
    float logit;
    int32_t id;
} cand;

struct sampler {
    sampler_params p;
    sampler_logit_bias *bias;
    int32_t n_vocab;
    bool penalties;

    int32_t *hist;
    size_t hist_len, hist_cap;
    uint32_t *counts; /* n_vocab, all zero between calls */

    uint64_t rng[4];

    /* Kept candidates: ids and unnormalised weights exp((l - max) / T). */
    int32_t *kid;
    float *kw;
    cand *sel; /* top_k heap, or the crossing bucket's members */
    float *w;  /* per-token weight, full-vocabulary path only */
    double *bsum; /* block sums for the draw */
    uint16_t *bucket;
};

sampler_params sampler_default_params(void)
{
    sampler_params p;
    memset(&p, 0, sizeof p);
    p.temperature = 0.8f;
    p.top_k = 40;
    p.top_p = 0.9f;
    p.min_p = 0.0f;
    p.repeat_penalty = 1.1f;
    p.repeat_last_n = 64;
    p.frequency_penalty = 0.0f;
    p.presence_penalty = 0.0f;
    p.seed = 0;
    return p;
}

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static uint64_t rotl64(uint64_t v, int k)
{
    return (v << k) | (v >> (64 - k));
}

static uint64_t rng_next(uint64_t st[4])
{
    uint64_t out = rotl64(st[1] * 5, 7) * 9;
    uint64_t t = st[1] << 17;
    st[2] ^= st[0];
    st[3] ^= st[1];
    st[1] ^= st[2];
    st[0] ^= st[3];
    st[2] ^= t;
    st[3] = rotl64(st[3], 45);
    return out;
}

/* Uniform in [0, 1) with 53 random bits. */
static double rng_uniform(uint64_t st[4])
{
    return (double)(rng_next(st) >> 11) * (1.0 / 9007199254740992.0);
}

static void seed_rng(sampler *s)
{
    uint64_t x = s->p.seed;
    for (int i = 0; i < 4; i++)
        s->rng[i] = splitmix64(&x);
}

static bool top_k_on(const sampler *s)
{
    return s->p.top_k > 0 && s->p.top_k < s->n_vocab;
}

static bool top_p_on(const sampler *s)
{
    return s->p.top_p < 1.0f;
}

sampler *sampler_new(const sampler_params *p, int32_t n_vocab)
{
    if (!p || n_vocab <= 0)
        return NULL;
    sampler *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->p = *p;
    s->n_vocab = n_vocab;
    /* A non-positive divisor would turn penalised logits into inf/NaN. */
    if (!(s->p.repeat_penalty > 0.0f))
        s->p.repeat_penalty = 1.0f;
    s->penalties = s->p.repeat_last_n != 0 &&
                   (s->p.repeat_penalty != 1.0f || s->p.frequency_penalty != 0.0f ||
                    s->p.presence_penalty != 0.0f);
    bool ok = true;
    if (p->n_logit_bias > 0 && p->logit_bias) {
        s->bias = malloc((size_t)p->n_logit_bias * sizeof *s->bias);
        ok = ok && s->bias;
        if (s->bias)
            memcpy(s->bias, p->logit_bias, (size_t)p->n_logit_bias * sizeof *s->bias);
    } else {
        s->p.n_logit_bias = 0;
    }
    s->p.logit_bias = s->bias;
    if (s->penalties) {
        s->counts = calloc((size_t)n_vocab, sizeof *s->counts);
        ok = ok && s->counts;
    }
    if (s->p.temperature > 0.0f) {
        size_t nk = top_k_on(s) ? (size_t)s->p.top_k : (size_t)n_vocab;
        s->kid = malloc(nk * sizeof *s->kid);
        s->kw = malloc(nk * sizeof *s->kw);
        s->sel = malloc(nk * sizeof *s->sel);
        s->bsum = malloc((nk + DRAW_BLOCK - 1) / DRAW_BLOCK * sizeof *s->bsum);
        ok = ok && s->kid && s->kw && s->sel && s->bsum;
        if (!top_k_on(s)) {
            s->w = malloc((size_t)n_vocab * sizeof *s->w);
            ok = ok && s->w;
            if (top_p_on(s)) {
                s->bucket = malloc((size_t)n_vocab * sizeof *s->bucket);
                ok = ok && s->bucket;
            }
        }
    }
    if (!ok) {
        sampler_free(s);
        return NULL;
    }
    seed_rng(s);
    return s;
}

void sampler_free(sampler *s)
{
    if (!s)
        return;
    free(s->bias);
    free(s->hist);
    free(s->counts);
    free(s->kid);
    free(s->kw);
    free(s->sel);
    free(s->w);
    free(s->bsum);
    free(s->bucket);
    free(s);
}

void sampler_reset(sampler *s)
{
    s->hist_len = 0;
    seed_rng(s);
}

void sampler_accept(sampler *s, int32_t token)
{
    if (!s->penalties || token < 0 || token >= s->n_vocab)
        return;
    size_t n = s->p.repeat_last_n > 0 ? (size_t)s->p.repeat_last_n : 0;
    /* A bounded window keeps up to 2n tokens and slides by n at once, so
     * accepting stays amortised O(1). */
    if (n && s->hist_len >= 2 * n) {
        memmove(s->hist, s->hist + s->hist_len - n, n * sizeof *s->hist);
        s->hist_len = n;
    }
    if (s->hist_len == s->hist_cap) {
        size_t cap = s->hist_cap ? s->hist_cap * 2 : 64;
        if (n && cap > 2 * n)
            cap = 2 * n;
        int32_t *h = cap > s->hist_cap ? realloc(s->hist, cap * sizeof *h) : NULL;
        if (!h) {
            /* Out of memory: forget the older half rather than the newest token. */
            size_t keep = s->hist_len / 2;
            memmove(s->hist, s->hist + s->hist_len - keep, keep * sizeof *s->hist);
            s->hist_len = keep;
        } else {
            s->hist = h;
            s->hist_cap = cap;
        }
    }
    if (s->hist_len < s->hist_cap)
        s->hist[s->hist_len++] = token;
}

static void apply_bias(const sampler *s, float *logits)
{
    for (int32_t i = 0; i < s->p.n_logit_bias; i++) {
        int32_t t = s->bias[i].token;
        if (t >= 0 && t < s->n_vocab)
            logits[t] += s->bias[i].bias;
    }
}

static void apply_penalties(sampler *s, float *logits)
{
    size_t start = 0;
    if (s->p.repeat_last_n > 0 && s->hist_len > (size_t)s->p.repeat_last_n)
        start = s->hist_len - (size_t)s->p.repeat_last_n;
    for (size_t i = start; i < s->hist_len; i++)
        s->counts[s->hist[i]]++;
    /* Each distinct token is penalised once; zeroing its count marks it done
     * and leaves the array clean for the next call. */
    for (size_t i = start; i < s->hist_len; i++) {
        int32_t t = s->hist[i];
        uint32_t c = s->counts[t];
        if (!c)
            continue;
        s->counts[t] = 0;
        float l = logits[t];
        l = l > 0.0f ? l / s->p.repeat_penalty : l * s->p.repeat_penalty;
        l -= (float)c * s->p.frequency_penalty + s->p.presence_penalty;
        logits[t] = l;
    }
}

static int32_t argmax(const float *logits, int32_t n)
{
    int32_t best = -1;
    float bv = -INFINITY;
    for (int32_t i = 0; i < n; i++) {
        if (logits[i] > bv) {
            bv = logits[i];
            best = i;
        }
    }
    return best;
}

/* a ranks before b: higher logit, then lower id. */
static bool ranks_before(cand a, cand b)
{
    return a.logit > b.logit || (a.logit == b.logit && a.id < b.id);
}

static int cmp_rank(const void *pa, const void *pb)
{
    const cand *a = pa, *b = pb;
    return ranks_before(*a, *b) ? -1 : ranks_before(*b, *a) ? 1 : 0;
}

static void heap_down(cand *h, size_t n, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < n && ranks_before(h[m], h[l]))
            m = l;
        if (r < n && ranks_before(h[m], h[r]))
            m = r;
        if (m == i)
            return;
        cand t = h[i];
        h[i] = h[m];
        h[m] = t;
        i = m;
    }
}

static void heap_up(cand *h, size_t i)
{
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!ranks_before(h[p], h[i]))
            return;
        cand t = h[i];
        h[i] = h[p];
        h[p] = t;
        i = p;
    }
}

/* The k best finite-logit tokens, sorted best first, via a heap whose root is
 * the worst kept one. Ids are scanned in increasing order, so an equal logit
 * never displaces a kept token (which has the lower id). */
static size_t select_top_k(sampler *s, const float *logits)
{
    cand *h = s->sel;
    size_t k = (size_t)s->p.top_k, n = 0;
    for (int32_t i = 0; i < s->n_vocab; i++) {
        float l = logits[i];
        if (!(l > -INFINITY))
            continue;
        if (n < k) {
            h[n] = (cand){l, i};
            heap_up(h, n++);
        } else if (l > h[0].logit) {
            h[0] = (cand){l, i};
            heap_down(h, n, 0);
        }
    }
    qsort(h, n, sizeof *h, cmp_rank);
    return n;
}

/* e^x for x <= 0, four lanes at a time with GCC/clang generic vectors
 * (SSE2 / NEON), because libm's expf dominated full-vocabulary sampling.
 * x / ln2 is rounded to n by the 1.5 * 2^23 trick, e^g for |g| <= ln2 / 2
 * comes from a degree-7 Taylor polynomial (relative error about 1e-7
 * overall) and 2^n is built in the exponent bits. Lanes below -87 (where e^x
 * nears FLT_MIN), -inf and NaN give 0. */
typedef float v4f __attribute__((vector_size(16)));
typedef int32_t v4i __attribute__((vector_size(16)));

static inline v4f splat(float f)
{
    return (v4f){f, f, f, f};
}

static inline v4f exp4_nonpos(v4f x)
{
    v4i ok = x >= splat(-87.0f);
    v4f xc = (v4f)(((v4i)x & ok) | ((v4i)splat(-87.0f) & ~ok));
    v4f n = (xc * splat(1.44269504f) + splat(12582912.0f)) - splat(12582912.0f);
    v4f g = (xc - n * splat(0.693145752f)) - n * splat(1.42860677e-6f);
    v4f p = splat(1.0f / 5040.0f);
    p = p * g + splat(1.0f / 720.0f);
    p = p * g + splat(1.0f / 120.0f);
    p = p * g + splat(1.0f / 24.0f);
    p = p * g + splat(1.0f / 6.0f);
    p = p * g + splat(0.5f);
    p = p * g + splat(1.0f);
    p = p * g + splat(1.0f);
    v4i bits = (__builtin_convertvector(n, v4i) + 127) << 23;
    return (v4f)((v4i)(p * (v4f)bits) & ok);
}

static inline float exp_nonpos(float x)
{
    return exp4_nonpos(splat(x))[0];
}

/* w[i] = e^((l[i] - lmax) / T) over the whole vocabulary. */
static void weights(const float *l, float *w, int32_t n, float lmax, float inv_t)
{
    int32_t i = 0;
    for (; i + 4 <= n; i += 4) {
        v4f v;
        memcpy(&v, l + i, sizeof v);
        v = exp4_nonpos((v - splat(lmax)) * splat(inv_t));
        memcpy(w + i, &v, sizeof v);
    }
    for (; i < n; i++)
        w[i] = exp_nonpos((l[i] - lmax) * inv_t);
}

/* Weights are relative to the best token's (exactly 1), so min_p compares
 * them directly; capping at 1 keeps the best token whatever min_p says. */
static float min_p_cut(const sampler *s)
{
    return s->p.min_p > 1.0f ? 1.0f : s->p.min_p;
}

/* top_k path: candidates are sorted, so top_p and min_p cut a prefix. */
static size_t filter_sorted(sampler *s, size_t n)
{
    float inv_t = 1.0f / s->p.temperature;
    float lmax = s->sel[0].logit;
    double total = 0.0;
    for (size_t i = 0; i < n; i++) {
        s->kid[i] = s->sel[i].id;
        s->kw[i] = exp_nonpos((s->sel[i].logit - lmax) * inv_t);
        total += s->kw[i];
    }
    if (top_p_on(s)) {
        double target = (double)s->p.top_p * total, cum = 0.0;
        size_t keep = n;
        for (size_t i = 0; i < n; i++) {
            cum += s->kw[i];
            if (cum >= target) {
                keep = i + 1;
                break;
            }
        }
        n = keep;
    }
    if (s->p.min_p > 0.0f) {
        /* kw[0] is the maximum weight, exactly 1. */
        float mp = min_p_cut(s);
        size_t keep = 1;
        while (keep < n && s->kw[keep] >= mp)
            keep++;
        n = keep;
    }
    return n;
}

static void swap_cand(cand *a, cand *b)
{
    cand t = *a;
    *a = *b;
    *b = t;
}

/* Moves to the front of a[0..m) the shortest best-ranked run whose weights
 * sum to at least need and returns its length (m if none does). A weighted
 * quickselect rather than a sort, since a bucket can hold most of the
 * vocabulary when many logits tie. */
static size_t nucleus_prefix(cand *a, size_t m, const float *w, double need)
{
    size_t lo = 0, hi = m;
    double acc = 0.0; /* weight of a[0..lo), all taken */
    while (hi - lo > 16) {
        size_t mid = lo + (hi - lo) / 2, last = hi - 1;
        /* median of three as pivot, parked at the end */
        if (ranks_before(a[last], a[lo]))
            swap_cand(&a[lo], &a[last]);
        if (ranks_before(a[mid], a[lo]))
            swap_cand(&a[lo], &a[mid]);
        if (ranks_before(a[last], a[mid]))
            swap_cand(&a[mid], &a[last]);
        swap_cand(&a[mid], &a[last]);
        cand pv = a[last];
        size_t st = lo;
        double better = 0.0;
        for (size_t i = lo; i < last; i++) {
            if (ranks_before(a[i], pv)) {
                swap_cand(&a[i], &a[st]);
                better += w[a[st++].id];
            }
        }
        swap_cand(&a[st], &a[last]);
        if (acc + better >= need) {
            hi = st;
            continue;
        }
        acc += better + w[pv.id];
        if (acc >= need)
            return st + 1;
        lo = st + 1;
    }
    qsort(a + lo, hi - lo, sizeof *a, cmp_rank);
    for (size_t i = lo; i < hi; i++) {
        acc += w[a[i].id];
        if (acc >= need)
            return i + 1;
    }
    return hi;
}

/* Full-vocabulary path: weights in id order, top_p by bucketed mass. */
static size_t filter_full(sampler *s, const float *logits, float lmax)
{
    float inv_t = 1.0f / s->p.temperature;
    int32_t nv = s->n_vocab;
    float *w = s->w;
    float mp = min_p_cut(s);
    size_t n = 0;

    weights(logits, w, nv, lmax, inv_t);
    if (!top_p_on(s)) {
        for (int32_t i = 0; i < nv; i++) {
            if (w[i] > 0.0f && w[i] >= mp) {
                s->kid[n] = i;
                s->kw[n++] = w[i];
            }
        }
        return n;
    }

    /* Four interleaved mass tables: peaked distributions put most tokens in
     * a few buckets, and one table would chain every add through memory. */
    double mass4[4][NB], mass[NB];
    memset(mass4, 0, sizeof mass4);
    for (int32_t i = 0; i < nv; i++) {
        float l = logits[i];
        if (!(l > -INFINITY)) {
            s->bucket[i] = UINT16_MAX;
            continue;
        }
        float bf = (lmax - l) * inv_t * NB_SCALE;
        int b = bf < (float)(NB - 1) ? (int)bf : NB - 1;
        s->bucket[i] = (uint16_t)b;
        mass4[i & 3][b] += w[i];
    }
    double total = 0.0;
    for (int b = 0; b < NB; b++) {
        mass[b] = (mass4[0][b] + mass4[1][b]) + (mass4[2][b] + mass4[3][b]);
        total += mass[b];
    }
    double target = (double)s->p.top_p * total, cum = 0.0;
    int cut = NB - 1;
    for (int b = 0; b < NB; b++) {
        if (cum + mass[b] >= target) {
            cut = b;
            break;
        }
        cum += mass[b];
    }
    /* Buckets before the crossing one are kept whole; from the crossing one
     * only its best-ranked members until the mass reaches top_p. */
    size_t m = 0;
    for (int32_t i = 0; i < nv; i++) {
        int b = s->bucket[i];
        if (b < cut) {
            s->kid[n] = i;
            s->kw[n++] = w[i];
        } else if (b == cut) {
            s->sel[m++] = (cand){logits[i], i};
        }
    }
    size_t take = nucleus_prefix(s->sel, m, w, target - cum);
    for (size_t j = 0; j < take; j++) {
        s->kid[n] = s->sel[j].id;
        s->kw[n++] = w[s->sel[j].id];
    }
    if (s->p.min_p > 0.0f) {
        size_t keep = 0;
        for (size_t j = 0; j < n; j++) {
            if (s->kw[j] >= mp) {
                s->kid[keep] = s->kid[j];
                s->kw[keep++] = s->kw[j];
            }
        }
        n = keep;
    }
    return n;
}

/* Picks a kept candidate with probability proportional to its weight. Sums
 * go by blocks with four accumulators each so the adds do not form one long
 * dependency chain; the walk then visits blocks, then one block's members. */
static int32_t draw(sampler *s, size_t n)
{
    size_t nb = (n + DRAW_BLOCK - 1) / DRAW_BLOCK;
    double *bsum = s->bsum, total = 0.0;
    for (size_t b = 0; b < nb; b++) {
        size_t lo = b * DRAW_BLOCK, hi = lo + DRAW_BLOCK < n ? lo + DRAW_BLOCK : n;
        double a[4] = {0.0, 0.0, 0.0, 0.0};
        size_t i = lo;
        for (; i + 4 <= hi; i += 4) {
            a[0] += s->kw[i];
            a[1] += s->kw[i + 1];
            a[2] += s->kw[i + 2];
            a[3] += s->kw[i + 3];
        }
        for (; i < hi; i++)
            a[0] += s->kw[i];
        bsum[b] = (a[0] + a[1]) + (a[2] + a[3]);
        total += bsum[b];
    }
    double r = rng_uniform(s->rng) * total, cum = 0.0;
    size_t b = 0;
    while (b + 1 < nb && r >= cum + bsum[b])
        cum += bsum[b++];
    size_t lo = b * DRAW_BLOCK, hi = lo + DRAW_BLOCK < n ? lo + DRAW_BLOCK : n;
    size_t last = lo;
    for (size_t i = lo; i < hi; i++) {
        if (s->kw[i] <= 0.0f)
            continue;
        cum += s->kw[i];
        last = i;
        if (r < cum)
            return s->kid[i];
    }
    /* Rounding left r just above the block's running sum. If the block holds
     * no weight at all (only possible through rounding), the best-ranked
     * candidate, first in every path that can reach here, is safe. */
    return s->kw[last] > 0.0f ? s->kid[last] : s->kid[0];
}

int32_t sampler_sample(sampler *s, float *logits)
{
    apply_bias(s, logits);
    if (s->penalties)
        apply_penalties(s, logits);

    /* A temperature so small that 1/T overflows is greedy in the limit. */
    if (!(s->p.temperature > 0.0f) || !isfinite(1.0f / s->p.temperature))
        return argmax(logits, s->n_vocab);

    /* An infinite maximum leaves no finite softmax; it wins outright. */
    size_t n;
    if (top_k_on(s)) {
        n = select_top_k(s, logits);
        if (n == 0)
            return -1;
        if (s->sel[0].logit == INFINITY)
            return s->sel[0].id;
        n = filter_sorted(s, n);
    } else {
        int32_t best = argmax(logits, s->n_vocab);
        if (best < 0 || logits[best] == INFINITY)
            return best;
        n = filter_full(s, logits, logits[best]);
    }
    return draw(s, n);
}
