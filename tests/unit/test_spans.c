/* Embedding spans in the CPU engine's prompts: validation, prefix reuse
 * keyed on the span hash, session files holding spans, and the vision
 * encoder's loader and pixel shuffle. Models come from the test-models
 * fixture (tests/engine.cmake, tests/vision.cmake). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/cpu/spans.h"
#include "engine/cpu/vision_model.h"
#include "engine/engine.h"
#include "engine/vision.h"

#define N_EMBD 64 /* the tiny synthetic models' width */
#define N_PROMPT 40
#define SPAN_POS 6
#define SPAN_LEN 16

typedef struct {
    int32_t tokens[64];
    int n;
} collected;

static bool collect(void *user, int32_t token, const char *piece, size_t len)
{
    (void)piece;
    (void)len;
    collected *c = user;
    if (c->n < 64) c->tokens[c->n++] = token;
    return true;
}

static char path_buf[4096];

static const char *model(const char *name)
{
    const char *dir = getenv("RKSERVE_TEST_MODELS");
    snprintf(path_buf, sizeof path_buf, "%s/%s", dir ? dir : ".", name);
    return path_buf;
}

static engine_model *load_llm(void)
{
    char err[512];
    engine_load_params p = {.path = model("llama-f32.gguf"), .n_ctx = 128, .n_threads = 2, .n_batch = 16,
                            .kv_f32 = true};
    engine_model *m = cpu_engine_ops.load(&p, err, sizeof err);
    if (!m) fail_msg("load: %s", err);
    return m;
}

static void fill_embd(float *e, int n, unsigned seed)
{
    uint64_t x = 0x9e3779b97f4a7c15ull * (seed + 1);
    for (int i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        e[i] = (float)((double)(x >> 11) / (double)(1ull << 53) * 2.0 - 1.0);
    }
}

static void prompt_of(int32_t *p)
{
    for (int i = 0; i < N_PROMPT; i++) p[i] = 3 + (i * 37) % 500;
    for (int i = 0; i < SPAN_LEN; i++) p[SPAN_POS + i] = 1; /* placeholders */
}

static engine_gen_params greedy(const engine_embd_span *spans, int n_spans)
{
    engine_gen_params g = {.max_tokens = 6, .n_keep = -1, .ignore_eos = true, .spans = spans, .n_spans = n_spans};
    g.sampling.temperature = 0;
    g.sampling.repeat_penalty = 1;
    g.sampling.top_p = 1;
    return g;
}

static int gen(engine_session *s, const int32_t *prompt, int n, const engine_embd_span *spans, int n_spans,
               collected *out, engine_stats *st, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    engine_gen_params g = greedy(spans, n_spans);
    return cpu_engine_ops.generate(s, prompt, n, &g, collect, out, st, err, errlen);
}

static void must_gen(engine_session *s, const int32_t *prompt, const engine_embd_span *spans, int n_spans,
                     collected *out, engine_stats *st)
{
    char err[512];
    if (gen(s, prompt, N_PROMPT, spans, n_spans, out, st, err, sizeof err) != 0) fail_msg("generate: %s", err);
}

static void test_identity(void **state)
{
    (void)state;
    for (int o = 0; o < 100; o++) {
        assert_true(engine_span_identity(42, o) < 0);
        assert_int_equal(engine_span_identity(42, o), engine_span_identity(42, o));
        assert_int_not_equal(engine_span_identity(42, o), engine_span_identity(43, o));
    }
    assert_int_not_equal(engine_span_identity(42, 0), engine_span_identity(42, 1));
}

static void test_validation(void **state)
{
    (void)state;
    engine_model *m = load_llm();
    char err[512];
    engine_session *s = cpu_engine_ops.session_new(m, err, sizeof err);
    assert_non_null(s);
    static float e[2 * SPAN_LEN * N_EMBD];
    fill_embd(e, 2 * SPAN_LEN * N_EMBD, 1);
    int32_t prompt[N_PROMPT];
    prompt_of(prompt);
    collected out;
    engine_stats st;
    struct {
        engine_embd_span spans[2];
        int n;
        const char *why;
    } bad[] = {
        {{{.pos = N_PROMPT - 4, .n_tokens = SPAN_LEN, .embd = e, .hash = 1}}, 1, "outside the prompt"},
        {{{.pos = -1, .n_tokens = 4, .embd = e, .hash = 1}}, 1, "outside the prompt"},
        {{{.pos = 2, .n_tokens = 0, .embd = e, .hash = 1}}, 1, "empty"},
        {{{.pos = 2, .n_tokens = 4, .embd = NULL, .hash = 1}}, 1, "empty"},
        {{{.pos = 2, .n_tokens = 8, .embd = e, .hash = 1}, {.pos = 8, .n_tokens = 4, .embd = e, .hash = 2}}, 2,
         "overlap"},
        {{{.pos = 20, .n_tokens = 4, .embd = e, .hash = 1}, {.pos = 2, .n_tokens = 4, .embd = e, .hash = 2}}, 2,
         "prompt order"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = 0;
        assert_int_equal(gen(s, prompt, N_PROMPT, bad[i].spans, bad[i].n, &out, &st, err, sizeof err), -1);
        if (!strstr(err, bad[i].why)) fail_msg("case %zu: '%s' lacks '%s'", i, err, bad[i].why);
    }
    engine_gen_params g = greedy(NULL, 1);
    assert_int_equal(cpu_engine_ops.generate(s, prompt, N_PROMPT, &g, collect, &out, &st, err, sizeof err), -1);

    /* a negative token is fine under a span, refused elsewhere */
    engine_embd_span ok = {.pos = SPAN_POS, .n_tokens = SPAN_LEN, .embd = e, .hash = 5};
    prompt[SPAN_POS] = -7;
    assert_int_equal(gen(s, prompt, N_PROMPT, &ok, 1, &out, &st, err, sizeof err), 0);
    prompt[SPAN_POS + SPAN_LEN] = -7;
    assert_int_equal(gen(s, prompt, N_PROMPT, &ok, 1, &out, &st, err, sizeof err), -1);
    assert_non_null(strstr(err, "outside the vocabulary"));
    cpu_engine_ops.session_free(s);
    cpu_engine_ops.unload(m);
}

static void test_reuse_by_hash(void **state)
{
    (void)state;
    engine_model *m = load_llm();
    char err[512];
    engine_session *s = cpu_engine_ops.session_new(m, err, sizeof err);
    engine_session *fresh = cpu_engine_ops.session_new(m, err, sizeof err);
    assert_non_null(s);
    assert_non_null(fresh);
    static float a[SPAN_LEN * N_EMBD], b[SPAN_LEN * N_EMBD];
    fill_embd(a, SPAN_LEN * N_EMBD, 2);
    fill_embd(b, SPAN_LEN * N_EMBD, 3);
    engine_embd_span sa = {.pos = SPAN_POS, .n_tokens = SPAN_LEN, .embd = a, .hash = 0xaaaa};
    engine_embd_span sb = {.pos = SPAN_POS, .n_tokens = SPAN_LEN, .embd = b, .hash = 0xbbbb};
    int32_t prompt[N_PROMPT];
    prompt_of(prompt);
    collected ra, ra2, rb, rb_fresh, rplain;
    engine_stats st;

    must_gen(s, prompt, &sa, 1, &ra, &st);
    assert_int_equal(st.reused_tokens, 0);
    assert_int_equal(st.prompt_tokens, N_PROMPT);

    /* the kept tokens carry the span's identities, not the placeholders */
    const int32_t *kept;
    int64_t nk = cpu_engine_ops.kept_tokens(s, &kept);
    assert_true(nk >= N_PROMPT);
    for (int i = 0; i < N_PROMPT; i++) {
        bool in = i >= SPAN_POS && i < SPAN_POS + SPAN_LEN;
        assert_int_equal(kept[i], in ? engine_span_identity(0xaaaa, i - SPAN_POS) : prompt[i]);
    }

    /* same image: everything but the last token is reused, same output */
    must_gen(s, prompt, &sa, 1, &ra2, &st);
    assert_int_equal(st.reused_tokens, N_PROMPT - 1);
    assert_memory_equal(ra.tokens, ra2.tokens, sizeof ra.tokens);

    /* another image at the same place: reuse stops where it starts, and the
     * output is what a fresh session computes */
    must_gen(s, prompt, &sb, 1, &rb, &st);
    assert_int_equal(st.reused_tokens, SPAN_POS);
    must_gen(fresh, prompt, &sb, 1, &rb_fresh, &st);
    assert_memory_equal(rb.tokens, rb_fresh.tokens, sizeof rb.tokens);

    /* the embeddings matter: the placeholders' own embeddings give other logits */
    cpu_engine_ops.session_reset(fresh);
    must_gen(fresh, prompt, NULL, 0, &rplain, &st);
    assert_true(memcmp(ra.tokens, rb.tokens, sizeof ra.tokens) != 0 ||
                memcmp(ra.tokens, rplain.tokens, sizeof ra.tokens) != 0);
    /* and the plain prompt reuses nothing of the session holding image b past the span start */
    must_gen(s, prompt, NULL, 0, &rplain, &st);
    assert_int_equal(st.reused_tokens, SPAN_POS);

    cpu_engine_ops.session_free(fresh);
    cpu_engine_ops.session_free(s);
    cpu_engine_ops.unload(m);
}

static void test_save_restore(void **state)
{
    (void)state;
    engine_model *m = load_llm();
    char err[512], path[256];
    snprintf(path, sizeof path, "/tmp/rkserve-test-spans-%ld.sess", (long)getpid());
    engine_session *s = cpu_engine_ops.session_new(m, err, sizeof err);
    engine_session *r = cpu_engine_ops.session_new(m, err, sizeof err);
    assert_non_null(s);
    assert_non_null(r);
    static float a[SPAN_LEN * N_EMBD];
    fill_embd(a, SPAN_LEN * N_EMBD, 4);
    engine_embd_span sa = {.pos = SPAN_POS, .n_tokens = SPAN_LEN, .embd = a, .hash = 77};
    int32_t prompt[N_PROMPT];
    prompt_of(prompt);
    collected first, again;
    engine_stats st;
    must_gen(s, prompt, &sa, 1, &first, &st);
    if (cpu_engine_ops.save(s, path, err, sizeof err) != 0) fail_msg("save: %s", err);
    if (cpu_engine_ops.restore(r, path, err, sizeof err) != 0) fail_msg("restore: %s", err);
    unlink(path);

    const int32_t *k1, *k2;
    int64_t n1 = cpu_engine_ops.kept_tokens(s, &k1), n2 = cpu_engine_ops.kept_tokens(r, &k2);
    assert_int_equal(n1, n2);
    assert_memory_equal(k1, k2, (size_t)n1 * sizeof(int32_t));

    /* the restored session continues the same image without recomputing it */
    must_gen(r, prompt, &sa, 1, &again, &st);
    assert_int_equal(st.reused_tokens, N_PROMPT - 1);
    assert_memory_equal(first.tokens, again.tokens, sizeof first.tokens);
    cpu_engine_ops.session_free(r);
    cpu_engine_ops.session_free(s);
    cpu_engine_ops.unload(m);
}

static void test_pixel_shuffle(void **state)
{
    (void)state;
    /* 4x4 patches of width 2, factor 2: element value = 100*row + 10*col + channel */
    float x[16 * 2], out[4 * 8];
    for (int r = 0; r < 4; r++)
        for (int c = 0; c < 4; c++)
            for (int d = 0; d < 2; d++) x[(r * 4 + c) * 2 + d] = (float)(100 * r + 10 * c + d);
    rk_vision_pixel_shuffle(x, 4, 2, 2, out);
    /* token (1, 0) holds patches (2,0) (2,1) (3,0) (3,1) in that order */
    const float want[8] = {200, 201, 210, 211, 300, 301, 310, 311};
    assert_memory_equal(out + 2 * 8, want, sizeof want);
}

static void test_vision_files(void **state)
{
    (void)state;
    char err[512];
    assert_null(vision_for_path(model("llama-f32.gguf")));
    assert_null(vision_for_path("/nonexistent/mmproj.gguf"));
    char mp[4096];
    snprintf(mp, sizeof mp, "%s", model("vision-tiny-f16.gguf"));
    const vision_ops *ops = vision_for_path(mp);
    assert_ptr_equal(ops, &cpu_vision_ops);
    assert_null(ops->load(model("llama-f32.gguf"), 1, err, sizeof err));
    assert_non_null(strstr(err, "general.architecture"));

    vision_model *v1 = ops->load(mp, 1, err, sizeof err), *v2 = ops->load(mp, 2, err, sizeof err);
    if (!v1 || !v2) fail_msg("load: %s", err);
    vision_info vi;
    ops->info(v1, &vi);
    assert_string_equal(vi.projector, "idefics3");
    assert_int_equal(vi.image_size, 64);
    assert_int_equal(vi.n_tokens, 16);
    assert_int_equal(vi.n_embd, N_EMBD);
    assert_true(vi.mean[0] == 0.5f && vi.std[2] == 0.5f);
    size_t n_px = 3 * 64 * 64, n_out = 16 * N_EMBD;
    float *px = malloc(n_px * sizeof(float)), *o1 = malloc(n_out * sizeof(float)), *o2 = malloc(n_out * sizeof(float));
    assert_non_null(px);
    fill_embd(px, (int)n_px, 9);
    assert_int_equal(ops->encode(v1, px, o1, err, sizeof err), 0);
    assert_int_equal(ops->encode(v2, px, o2, err, sizeof err), 0);
    /* the work split over threads does not change a single bit */
    assert_memory_equal(o1, o2, n_out * sizeof(float));
    double ss = 0;
    for (size_t i = 0; i < n_out; i++) ss += (double)o1[i] * o1[i];
    assert_true(isfinite(ss) && ss > 0);
    /* encoding again gives the same (scratch is fully rewritten) */
    assert_int_equal(ops->encode(v1, px, o2, err, sizeof err), 0);
    assert_memory_equal(o1, o2, n_out * sizeof(float));
    free(px);
    free(o1);
    free(o2);
    ops->unload(v1);
    ops->unload(v2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_identity),     cmocka_unit_test(test_validation),
        cmocka_unit_test(test_reuse_by_hash), cmocka_unit_test(test_save_restore),
        cmocka_unit_test(test_pixel_shuffle), cmocka_unit_test(test_vision_files),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
