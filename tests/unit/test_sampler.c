/* Sampler: exact penalty and bias arithmetic, greedy and filter equivalences,
 * seeding, and draw frequencies against softmax probabilities computed here
 * in double precision (chi-square with fixed seeds, so every run is the same). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine/cpu/sampler.h"

/* Everything off; each test turns on what it checks. */
static sampler_params plain(void)
{
    sampler_params p = sampler_default_params();
    p.temperature = 1.0f;
    p.top_k = 0;
    p.top_p = 1.0f;
    p.min_p = 0.0f;
    p.repeat_penalty = 1.0f;
    p.repeat_last_n = 0;
    p.frequency_penalty = 0.0f;
    p.presence_penalty = 0.0f;
    p.seed = 1234;
    return p;
}

static sampler *make(sampler_params p, int32_t nv)
{
    sampler *s = sampler_new(&p, nv);
    assert_non_null(s);
    return s;
}

/* Samples from a copy so the caller's logits stay intact. */
static int32_t sample_copy(sampler *s, const float *logits, int32_t nv, float *scratch)
{
    memcpy(scratch, logits, (size_t)nv * sizeof *scratch);
    return sampler_sample(s, scratch);
}

/* Small deterministic generator for test inputs (independent of the one
 * under test). */
static uint64_t lcg_state;
static double lcg_uniform(void)
{
    lcg_state = lcg_state * 6364136223846793005ULL + 1442695040888963407ULL;
    return (double)((lcg_state >> 11) + 1) / 9007199254740993.0;
}
static double lcg_normal(void)
{
    double u1 = lcg_uniform(), u2 = lcg_uniform();
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

/* Upper 0.1 % point of chi-square with df degrees of freedom, by the
 * Wilson-Hilferty approximation (z = 3.0902). */
static double chi2_crit(int df)
{
    double a = 2.0 / (9.0 * df);
    double t = 1.0 - a + 3.0902 * sqrt(a);
    return df * t * t * t;
}

/* Draws n times and checks counts against probs: tokens with probability 0
 * must never appear, the rest must pass chi-square at the 0.1 % level. */
static void check_frequencies(sampler *s, const float *logits, int32_t nv, const double *probs,
                              int draws)
{
    float *scratch = malloc((size_t)nv * sizeof *scratch);
    long *count = calloc((size_t)nv, sizeof *count);
    assert_non_null(scratch);
    assert_non_null(count);
    for (int i = 0; i < draws; i++) {
        int32_t t = sample_copy(s, logits, nv, scratch);
        assert_true(t >= 0 && t < nv);
        count[t]++;
    }
    double chi2 = 0.0;
    int df = -1;
    for (int32_t t = 0; t < nv; t++) {
        if (probs[t] == 0.0) {
            assert_int_equal(count[t], 0);
            continue;
        }
        double e = probs[t] * draws;
        chi2 += (count[t] - e) * (count[t] - e) / e;
        df++;
    }
    if (df > 0)
        assert_true(chi2 < chi2_crit(df));
    free(scratch);
    free(count);
}

/* Reference softmax at temperature t over tokens with keep[i] set. */
static void softmax_ref(const float *logits, const bool *keep, int32_t nv, double t, double *out)
{
    double mx = -INFINITY, sum = 0.0;
    for (int32_t i = 0; i < nv; i++)
        if (keep[i] && logits[i] > mx)
            mx = logits[i];
    for (int32_t i = 0; i < nv; i++) {
        out[i] = keep[i] ? exp((logits[i] - mx) / t) : 0.0;
        sum += out[i];
    }
    for (int32_t i = 0; i < nv; i++)
        out[i] /= sum;
}

typedef struct {
    float l;
    int32_t id;
} ranked;

static int by_rank(const void *pa, const void *pb)
{
    const ranked *a = pa, *b = pb;
    if (a->l != b->l)
        return a->l > b->l ? -1 : 1;
    return a->id < b->id ? -1 : a->id > b->id;
}

/* Reference filter chain: which tokens survive top_k, top_p and min_p. */
static void keep_ref(const float *logits, int32_t nv, const sampler_params *p, bool *keep)
{
    ranked *r = malloc((size_t)nv * sizeof *r);
    double *pr = malloc((size_t)nv * sizeof *pr);
    assert_non_null(r);
    assert_non_null(pr);
    for (int32_t i = 0; i < nv; i++)
        r[i] = (ranked){logits[i], i};
    qsort(r, (size_t)nv, sizeof *r, by_rank);
    int32_t n = nv;
    if (p->top_k > 0 && p->top_k < nv)
        n = p->top_k;
    double sum = 0.0;
    for (int32_t i = 0; i < n; i++) {
        pr[i] = exp((r[i].l - r[0].l) / p->temperature);
        sum += pr[i];
    }
    if (p->top_p < 1.0f) {
        double cum = 0.0;
        for (int32_t i = 0; i < n; i++) {
            cum += pr[i] / sum;
            if (cum >= p->top_p) {
                n = i + 1;
                break;
            }
        }
    }
    memset(keep, 0, (size_t)nv * sizeof *keep);
    for (int32_t i = 0; i < n; i++)
        if (i == 0 || pr[i] >= p->min_p)
            keep[r[i].id] = true;
    free(r);
    free(pr);
}

/* ---- greedy ---- */

static void test_greedy_picks_argmax(void **state)
{
    (void)state;
    sampler_params p = plain();
    p.temperature = 0.0f;
    sampler *s = make(p, 6);
    float l1[6] = {0.1f, -2.0f, 7.5f, 7.25f, 3.0f, -7.5f};
    assert_int_equal(sampler_sample(s, l1), 2);
    /* ties go to the lowest id */
    float l2[6] = {1.0f, 3.0f, 2.0f, 3.0f, -1.0f, 3.0f};
    assert_int_equal(sampler_sample(s, l2), 1);
    sampler_free(s);

    p.temperature = -1.0f;
    s = make(p, 6);
    float l3[6] = {-5.0f, -4.0f, -3.0f, -6.0f, -3.5f, -9.0f};
    assert_int_equal(sampler_sample(s, l3), 2);
    sampler_free(s);
}

/* ---- seeding ---- */

static void draw_sequence(uint64_t seed, int32_t *out, int n, bool reset_first)
{
    sampler_params p = plain();
    p.seed = seed;
    enum { NV = 500 };
    float logits[NV], scratch[NV];
    for (int i = 0; i < NV; i++)
        logits[i] = (float)((i * 37) % 11) * 0.1f; /* fairly flat */
    sampler *s = make(p, NV);
    if (reset_first) {
        for (int i = 0; i < 7; i++)
            sample_copy(s, logits, NV, scratch);
        sampler_reset(s);
    }
    for (int i = 0; i < n; i++)
        out[i] = sample_copy(s, logits, NV, scratch);
    sampler_free(s);
}

static void test_seed_reproduces(void **state)
{
    (void)state;
    int32_t a[64], b[64], c[64], d[64];
    draw_sequence(42, a, 64, false);
    draw_sequence(42, b, 64, false);
    draw_sequence(43, c, 64, false);
    draw_sequence(42, d, 64, true);
    assert_memory_equal(a, b, sizeof a);
    assert_memory_equal(a, d, sizeof a); /* reset reseeds */
    int same = 0;
    for (int i = 0; i < 64; i++)
        same += a[i] == c[i];
    assert_true(same < 16); /* ~1/500 chance per position by design */
}

/* ---- frequencies ---- */

static const float L16[16] = {2.0f,  1.5f,  1.25f, 1.0f,  0.5f,  0.3f,  0.0f,  -0.2f,
                              -0.5f, -0.7f, -1.0f, -1.4f, -2.0f, 0.9f,  1.1f,  -3.0f};

static void freq_case(sampler_params p, int draws)
{
    bool keep[16];
    double probs[16];
    keep_ref(L16, 16, &p, keep);
    softmax_ref(L16, keep, 16, p.temperature, probs);
    sampler *s = make(p, 16);
    check_frequencies(s, L16, 16, probs, draws);
    sampler_free(s);
}

static void test_frequencies_full_softmax(void **state)
{
    (void)state;
    sampler_params p = plain();
    p.temperature = 0.7f;
    freq_case(p, 60000);
    p.temperature = 1.6f;
    p.seed = 99;
    freq_case(p, 60000);
}

static void test_frequencies_top_k(void **state)
{
    (void)state;
    sampler_params p = plain();
    p.temperature = 1.3f;
    p.top_k = 5;
    freq_case(p, 40000);
}

static void test_frequencies_top_p(void **state)
{
    (void)state;
    sampler_params p = plain();
    p.temperature = 0.9f;
    p.top_p = 0.6f;
    freq_case(p, 40000); /* full-vocabulary path */
    p.top_k = 12;
    freq_case(p, 40000); /* sorted top_k path */
}

static void test_frequencies_min_p(void **state)
{
    (void)state;
    sampler_params p = plain();
    p.temperature = 1.0f;
    p.min_p = 0.3f;
    bool keep[16];
    keep_ref(L16, 16, &p, keep);
    /* e^(l - 2) >= 0.3 keeps logits >= 2 + ln 0.3 = 0.796: ids 0,1,2,3,13,14 */
    const bool want[16] = {1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 0};
    assert_memory_equal(keep, want, sizeof want);
    freq_case(p, 40000);
    p.top_k = 10;
    freq_case(p, 40000);
    p.top_k = 0;
    p.top_p = 0.95f;
    p.min_p = 0.5f;
    freq_case(p, 40000);
}

/* ---- filter equivalences ---- */

static void test_degenerate_filters_equal_greedy(void **state)
{
    (void)state;
    enum { NV = 1000 };
    float logits[NV], scratch[NV];
    sampler_params g = plain();
    g.temperature = 0.0f;
    sampler_params k1 = plain();
    k1.top_k = 1;
    sampler_params p0 = plain();
    p0.top_p = 1e-6f;
    sampler_params p0k = p0;
    p0k.top_k = 40;
    sampler_params mp = plain();
    mp.min_p = 1.0f;
    sampler *sg = make(g, NV), *sk = make(k1, NV), *sp = make(p0, NV), *spk = make(p0k, NV),
            *sm = make(mp, NV);
    lcg_state = 7;
    for (int round = 0; round < 50; round++) {
        for (int i = 0; i < NV; i++)
            logits[i] = (float)lcg_normal() * 2.0f;
        if (round % 5 == 0) /* a tie at the top */
            logits[NV - 1] = logits[sample_copy(sg, logits, NV, scratch)];
        int32_t want = sample_copy(sg, logits, NV, scratch);
        assert_int_equal(sample_copy(sk, logits, NV, scratch), want);
        assert_int_equal(sample_copy(sp, logits, NV, scratch), want);
        assert_int_equal(sample_copy(spk, logits, NV, scratch), want);
        if (round % 5 != 0)
            assert_int_equal(sample_copy(sm, logits, NV, scratch), want);
    }
    sampler_free(sg);
    sampler_free(sk);
    sampler_free(sp);
    sampler_free(spk);
    sampler_free(sm);
}

/* ---- penalties: exact arithmetic, read back from the modified logits ---- */

static const float LP[8] = {3.0f, -1.0f, 0.0f, 2.0f, 5.0f, -4.0f, 1.0f, 0.5f};

/* History: token 0 three times, 1 once, 2 twice, 5 once. */
static void penalised(sampler_params p, float *out)
{
    p.temperature = 0.0f;
    sampler *s = make(p, 8);
    const int32_t hist[] = {0, 1, 0, 2, 5, 0, 2};
    for (size_t i = 0; i < sizeof hist / sizeof hist[0]; i++)
        sampler_accept(s, hist[i]);
    memcpy(out, LP, sizeof LP);
    sampler_sample(s, out);
    sampler_free(s);
}

static void test_repeat_penalty_exact(void **state)
{
    (void)state;
    sampler_params p = plain();
    p.repeat_penalty = 2.0f;
    p.repeat_last_n = -1;
    float l[8];
    penalised(p, l);
    /* positive divided, negative and zero multiplied, once per token */
    const float want[8] = {1.5f, -2.0f, 0.0f, 2.0f, 5.0f, -8.0f, 1.0f, 0.5f};
    assert_memory_equal(l, want, sizeof want);
}

static void test_frequency_penalty_exact(void **state)
{
    (void)state;
    sampler_params p = plain();
    p.frequency_penalty = 0.5f;
    p.repeat_last_n = -1;
    float l[8];
    penalised(p, l);
    const float want[8] = {1.5f, -1.5f, -1.0f, 2.0f, 5.0f, -4.5f, 1.0f, 0.5f};
    assert_memory_equal(l, want, sizeof want);
}

static void test_presence_penalty_exact(void **state)
{
    (void)state;
    sampler_params p = plain();
    p.presence_penalty = 0.25f;
    p.repeat_last_n = -1;
    float l[8];
    penalised(p, l);
    const float want[8] = {2.75f, -1.25f, -0.25f, 2.0f, 5.0f, -4.25f, 1.0f, 0.5f};
    assert_memory_equal(l, want, sizeof want);
}

static void test_all_penalties_exact(void **state)
{
    (void)state;
    sampler_params p = plain();
    p.repeat_penalty = 2.0f;
    p.frequency_penalty = 0.5f;
    p.presence_penalty = 0.25f;
    p.repeat_last_n = -1;
    float l[8];
    penalised(p, l);
    /* repeat first, then -= count * 0.5 + 0.25 */
    const float want[8] = {-0.25f, -2.75f, -1.25f, 2.0f, 5.0f, -8.75f, 1.0f, 0.5f};
    assert_memory_equal(l, want, sizeof want);
}

static void test_penalty_changes_greedy_pick(void **state)
{
    (void)state;
    sampler_params p = plain();
    p.temperature = 0.0f;
    p.repeat_penalty = 3.0f;
    p.repeat_last_n = 4;
    sampler *s = make(p, 8);
    float l[8];
    memcpy(l, LP, sizeof l);
    assert_int_equal(sampler_sample(s, l), 4);
    sampler_accept(s, 4);
    memcpy(l, LP, sizeof l); /* 5 / 3 < 3 */
    assert_int_equal(sampler_sample(s, l), 0);
    sampler_reset(s); /* history forgotten */
    memcpy(l, LP, sizeof l);
    assert_int_equal(sampler_sample(s, l), 4);
    sampler_free(s);
}

/* ---- window ---- */

static void test_window_semantics(void **state)
{
    (void)state;
    sampler_params p = plain();
    p.frequency_penalty = 0.5f;
    float l[8];

    p.repeat_last_n = 0; /* off despite a penalty */
    penalised(p, l);
    assert_memory_equal(l, LP, sizeof LP);

    p.repeat_last_n = 2; /* only the last two tokens: 0, 2 */
    penalised(p, l);
    const float want2[8] = {2.5f, -1.0f, -0.5f, 2.0f, 5.0f, -4.0f, 1.0f, 0.5f};
    assert_memory_equal(l, want2, sizeof want2);

    p.repeat_last_n = 3; /* 5, 0, 2 */
    penalised(p, l);
    const float want3[8] = {2.5f, -1.0f, -0.5f, 2.0f, 5.0f, -4.5f, 1.0f, 0.5f};
    assert_memory_equal(l, want3, sizeof want3);

    p.repeat_last_n = 100; /* longer than the history: all of it */
    penalised(p, l);
    const float wantall[8] = {1.5f, -1.5f, -1.0f, 2.0f, 5.0f, -4.5f, 1.0f, 0.5f};
    assert_memory_equal(l, wantall, sizeof wantall);
}

static void test_window_slides_over_long_history(void **state)
{
    (void)state;
    sampler_params p = plain();
    p.temperature = 0.0f;
    p.frequency_penalty = 1.0f;
    p.repeat_last_n = 3;
    sampler *s = make(p, 8);
    for (int i = 0; i < 1000; i++)
        sampler_accept(s, i % 7);
    sampler_accept(s, -1); /* out of range: ignored */
    sampler_accept(s, 8);
    float l[8];
    memcpy(l, LP, sizeof l);
    sampler_sample(s, l);
    /* last three accepted: 997 % 7 = 3, 4, 5 */
    const float want[8] = {3.0f, -1.0f, 0.0f, 1.0f, 4.0f, -5.0f, 1.0f, 0.5f};
    assert_memory_equal(l, want, sizeof want);
    sampler_free(s);

    p.repeat_last_n = -1; /* whole history: 1000 tokens, 0..5 at 143 each, 6 at 142 */
    s = make(p, 8);
    for (int i = 0; i < 1000; i++)
        sampler_accept(s, i % 7);
    memcpy(l, LP, sizeof l);
    sampler_sample(s, l);
    const float wantall[8] = {-140.0f, -144.0f, -143.0f, -141.0f, -138.0f, -147.0f, -141.0f, 0.5f};
    assert_memory_equal(l, wantall, sizeof wantall);
    sampler_free(s);
}

/* ---- logit bias ---- */

static void test_logit_bias(void **state)
{
    (void)state;
    sampler_logit_bias bias[3] = {{4, -INFINITY}, {6, -3.0f}, {1000, 5.0f}};
    sampler_params p = plain();
    p.temperature = 0.0f;
    p.logit_bias = bias;
    p.n_logit_bias = 3;
    p.repeat_penalty = 2.0f;
    p.repeat_last_n = -1;
    sampler *s = make(p, 8);
    bias[0].bias = 0.0f; /* the sampler keeps its own copy */
    sampler_accept(s, 6);
    float l[8];
    memcpy(l, LP, sizeof l);
    assert_int_equal(sampler_sample(s, l), 0); /* 4 is banned */
    assert_true(isinf(l[4]) && l[4] < 0);
    /* bias before penalty: (1 - 3) * 2; the other order would give -2.5 */
    assert_true(l[6] == -4.0f);
    sampler_free(s);

    /* banned tokens never drawn, the rest stay uniform */
    sampler_logit_bias ban = {2, -INFINITY};
    p = plain();
    p.logit_bias = &ban;
    p.n_logit_bias = 1;
    const float flat[4] = {0.0f, 0.0f, 0.0f, 0.0f};
    const double probs[4] = {1.0 / 3, 1.0 / 3, 0.0, 1.0 / 3};
    s = make(p, 4);
    check_frequencies(s, flat, 4, probs, 30000);
    sampler_free(s);
    p.top_k = 3;
    s = make(p, 4);
    check_frequencies(s, flat, 4, probs, 30000);
    sampler_free(s);

    /* a positive bias can move the greedy pick */
    sampler_logit_bias up = {7, 4.75f};
    p = plain();
    p.temperature = 0.0f;
    p.logit_bias = &up;
    p.n_logit_bias = 1;
    s = make(p, 8);
    memcpy(l, LP, sizeof l);
    assert_int_equal(sampler_sample(s, l), 7);
    sampler_free(s);
}

/* ---- degenerate logits ---- */

static void test_nothing_allowed_and_non_finite(void **state)
{
    (void)state;
    const float none[3] = {-INFINITY, -INFINITY, NAN};
    const float withnan[3] = {NAN, 1.0f, 2.0f};
    const float withinf[3] = {1.0f, INFINITY, 2.0f};
    float scratch[3];
    for (int mode = 0; mode < 3; mode++) {
        sampler_params p = plain();
        if (mode == 0)
            p.temperature = 0.0f;
        if (mode == 2)
            p.top_k = 2;
        sampler *s = make(p, 3);
        assert_int_equal(sample_copy(s, none, 3, scratch), -1);
        assert_int_equal(sample_copy(s, withinf, 3, scratch), 1);
        for (int i = 0; i < 200; i++)
            assert_int_not_equal(sample_copy(s, withnan, 3, scratch), 0);
        sampler_free(s);
    }
}

/* ---- weight accuracy and exact cut points ---- */

/* Two tokens, logits 0 and -x: token 0 alone holds p1 = 1 / (1 + e^-x), so
 * top_p just below p1 must keep only it and just above must keep both. The
 * margin is 1e-4 of the second token's share, so weights off by more than
 * about 1e-4 relative flip one of the two outcomes. x covers both signs of
 * the reduced argument in the exponential. */
static void test_softmax_weights_accurate(void **state)
{
    (void)state;
    const double xs[] = {0.34, 1.033, 1.2, 2.0, 3.3, 0.05};
    float scratch[3];
    for (size_t k = 0; k < sizeof xs / sizeof xs[0]; k++) {
        for (int sorted = 0; sorted < 2; sorted++) {
            float temp = 0.7f;
            const float logits[3] = {0.0f, (float)(-xs[k] * temp), -INFINITY};
            double x = -(double)logits[1] / (double)temp;
            double p1 = 1.0 / (1.0 + exp(-x)), d = 1e-4 * (1.0 - p1);
            for (int above = 0; above < 2; above++) {
                sampler_params p = plain();
                p.temperature = temp;
                p.top_k = sorted ? 2 : 0;
                p.top_p = (float)(above ? p1 + d : p1 - d);
                p.seed = 77 + k;
                sampler *s = make(p, 3);
                int seen1 = 0;
                for (int i = 0; i < 300; i++) {
                    int32_t t = sample_copy(s, logits, 3, scratch);
                    assert_true(t == 0 || t == 1);
                    seen1 += t == 1;
                }
                if (above)
                    assert_true(seen1 > 0);
                else
                    assert_int_equal(seen1, 0);
                sampler_free(s);
            }
        }
    }
}

/* 40 tied tokens at scattered ids, the rest impossible: top_p = 0.5 keeps
 * exactly the 20 lowest ids, 0.525 the 21 lowest (the quickselect pivot is
 * then the crossing token itself). */
static void test_top_p_exact_cut_among_ties(void **state)
{
    (void)state;
    enum { NV = 300, NT = 40 };
    float logits[NV];
    for (int i = 0; i < NV; i++)
        logits[i] = -1000.0f;
    for (int j = 0; j < NT; j++)
        logits[j * 7 + 5] = 1.5f;
    const float tops[2] = {0.5f, 0.525f};
    const int want_n[2] = {20, 21};
    for (int c = 0; c < 2; c++) {
        for (int sorted = 0; sorted < 2; sorted++) {
            sampler_params p = plain();
            p.top_p = tops[c];
            p.top_k = sorted ? 100 : 0;
            p.seed = 5 + c;
            double probs[NV];
            for (int i = 0; i < NV; i++)
                probs[i] = 0.0;
            for (int j = 0; j < want_n[c]; j++)
                probs[j * 7 + 5] = 1.0 / want_n[c];
            bool keep[NV];
            keep_ref(logits, NV, &p, keep);
            for (int i = 0; i < NV; i++)
                assert_int_equal(keep[i], probs[i] > 0.0);
            sampler *s = make(p, NV);
            check_frequencies(s, logits, NV, probs, 4000);
            sampler_free(s);
        }
    }
}

/* ---- full vocabulary ---- */

enum { BIG = 151936 };

/* Top tokens plus a flat tail: top_p must cut the tail by lowest id. */
static void test_big_vocab_top_p_cuts_ties_by_id(void **state)
{
    (void)state;
    float *logits = malloc(BIG * sizeof *logits), *scratch = malloc(BIG * sizeof *scratch);
    bool *keep = malloc(BIG * sizeof *keep);
    assert_non_null(logits);
    assert_non_null(scratch);
    assert_non_null(keep);
    for (int32_t i = 0; i < BIG; i++)
        logits[i] = 0.0f;
    logits[100] = 5.0f;
    logits[7] = 4.0f;
    logits[150000] = 4.0f;
    sampler_params p = plain();
    p.top_p = 0.5f;
    keep_ref(logits, BIG, &p, keep);
    int32_t boundary = -1;
    for (int32_t i = 0; i < BIG; i++)
        if (keep[i] && logits[i] == 0.0f)
            boundary = i;
    assert_true(keep[100] && keep[7] && keep[150000]);
    /* cumulative mass reaches half the total after about 75.8k tail tokens */
    assert_true(boundary > 75000 && boundary < 77000);

    sampler *s = make(p, BIG);
    int32_t max_tail = -1;
    for (int i = 0; i < 100; i++) {
        int32_t t = sample_copy(s, logits, BIG, scratch);
        assert_true(t >= 0 && t < BIG);
        assert_true(keep[t]);
        if (logits[t] == 0.0f && t > max_tail)
            max_tail = t;
    }
    /* the cut is at the boundary, not well before it: each draw lands in the
     * last 8000 kept tail ids with probability 0.105 */
    assert_true(max_tail > boundary - 8000);
    sampler_free(s);
    free(logits);
    free(scratch);
    free(keep);
}

/* Random logits: the bucketed full-vocabulary top_p keeps exactly the
 * nucleus of a full sort, with the right distribution inside it. */
static void test_big_vocab_top_p_distribution(void **state)
{
    (void)state;
    float *logits = malloc(BIG * sizeof *logits), *scratch = malloc(BIG * sizeof *scratch);
    bool *keep = malloc(BIG * sizeof *keep);
    double *probs = malloc(BIG * sizeof *probs);
    ranked *r = malloc(BIG * sizeof *r);
    assert_true(logits && scratch && keep && probs && r);
    lcg_state = 2024;
    for (int32_t i = 0; i < BIG; i++)
        logits[i] = (float)(lcg_normal() * 3.0);
    sampler_params p = plain();
    p.temperature = 0.8f;
    p.top_p = 0.9f;
    keep_ref(logits, BIG, &p, keep);
    softmax_ref(logits, keep, BIG, p.temperature, probs);

    /* Eight bins of the nucleus by rank, each about 1/8 of its mass. */
    enum { NBIN = 8 };
    int32_t nk = 0;
    for (int32_t i = 0; i < BIG; i++)
        if (keep[i])
            r[nk++] = (ranked){logits[i], i};
    qsort(r, (size_t)nk, sizeof *r, by_rank);
    int *bin = malloc(BIG * sizeof *bin);
    assert_non_null(bin);
    double binp[NBIN] = {0}, cum = 0.0;
    for (int32_t j = 0; j < nk; j++) {
        int b = (int)(cum * NBIN);
        b = b < NBIN ? b : NBIN - 1;
        bin[r[j].id] = b;
        binp[b] += probs[r[j].id];
        cum += probs[r[j].id];
    }

    const int draws = 320;
    long count[NBIN] = {0};
    sampler *s = make(p, BIG);
    for (int i = 0; i < draws; i++) {
        int32_t t = sample_copy(s, logits, BIG, scratch);
        assert_true(t >= 0 && t < BIG);
        assert_true(keep[t]);
        count[bin[t]]++;
    }
    double chi2 = 0.0;
    for (int b = 0; b < NBIN; b++) {
        double e = binp[b] * draws;
        chi2 += (count[b] - e) * (count[b] - e) / e;
    }
    assert_true(chi2 < chi2_crit(NBIN - 1));
    sampler_free(s);

    /* the same nucleus through the sorted path (top_k just below the vocab) */
    p.top_k = BIG - 1;
    s = make(p, BIG);
    for (int i = 0; i < 3; i++)
        assert_true(keep[sample_copy(s, logits, BIG, scratch)]);
    sampler_free(s);

    free(bin);
    free(logits);
    free(scratch);
    free(keep);
    free(probs);
    free(r);
}

static void test_defaults(void **state)
{
    (void)state;
    sampler_params p = sampler_default_params();
    assert_true(p.temperature == 0.8f);
    assert_int_equal(p.top_k, 40);
    assert_true(p.top_p == 0.9f);
    assert_true(p.min_p == 0.0f);
    assert_true(p.repeat_penalty == 1.1f);
    assert_int_equal(p.repeat_last_n, 64);
    assert_true(p.frequency_penalty == 0.0f && p.presence_penalty == 0.0f);
    assert_null(p.logit_bias);
    assert_int_equal(p.n_logit_bias, 0);
    assert_null(sampler_new(&p, 0));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_greedy_picks_argmax),
        cmocka_unit_test(test_seed_reproduces),
        cmocka_unit_test(test_frequencies_full_softmax),
        cmocka_unit_test(test_frequencies_top_k),
        cmocka_unit_test(test_frequencies_top_p),
        cmocka_unit_test(test_frequencies_min_p),
        cmocka_unit_test(test_degenerate_filters_equal_greedy),
        cmocka_unit_test(test_repeat_penalty_exact),
        cmocka_unit_test(test_frequency_penalty_exact),
        cmocka_unit_test(test_presence_penalty_exact),
        cmocka_unit_test(test_all_penalties_exact),
        cmocka_unit_test(test_penalty_changes_greedy_pick),
        cmocka_unit_test(test_window_semantics),
        cmocka_unit_test(test_window_slides_over_long_history),
        cmocka_unit_test(test_logit_bias),
        cmocka_unit_test(test_nothing_allowed_and_non_finite),
        cmocka_unit_test(test_softmax_weights_accurate),
        cmocka_unit_test(test_top_p_exact_cut_among_ties),
        cmocka_unit_test(test_big_vocab_top_p_cuts_ties_by_id),
        cmocka_unit_test(test_big_vocab_top_p_distribution),
        cmocka_unit_test(test_defaults),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
