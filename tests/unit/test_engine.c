/* The CPU engine through engine.h: generation, prefix reuse, session files,
 * context limits, cancellation and embeddings on small synthetic models. */
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

#include "engine/engine.h"

#define MAX_OUT 256

typedef struct {
    int32_t tokens[MAX_OUT];
    int n;
    int stop_after; /* return false once n reaches this (0: never) */
    atomic_bool *cancel_at_3;
} collected;

static bool collect(void *user, int32_t token, const char *piece, size_t len)
{
    (void)piece;
    (void)len;
    collected *c = user;
    if (c->n < MAX_OUT) c->tokens[c->n++] = token;
    if (c->cancel_at_3 && c->n == 3) atomic_store(c->cancel_at_3, true);
    return !(c->stop_after && c->n >= c->stop_after);
}

static char model_path[4096];

static const char *model(const char *name)
{
    const char *dir = getenv("RKSERVE_TEST_MODELS");
    snprintf(model_path, sizeof model_path, "%s/%s", dir ? dir : ".", name);
    return model_path;
}

static engine_model *load(const char *name, int32_t n_ctx, int32_t n_batch)
{
    char err[512];
    engine_load_params p = {.path = model(name), .n_ctx = n_ctx, .n_threads = 2, .n_batch = n_batch};
    const engine_ops *ops = engine_for_path(p.path);
    assert_ptr_equal(ops, &cpu_engine_ops);
    engine_model *m = ops->load(&p, err, sizeof err);
    if (!m) fail_msg("load %s: %s", p.path, err);
    return m;
}

static engine_gen_params greedy(int32_t max_tokens)
{
    engine_gen_params g = {.max_tokens = max_tokens, .n_keep = -1, .ignore_eos = true};
    g.sampling.temperature = 0;
    g.sampling.repeat_penalty = 1;
    g.sampling.top_p = 1;
    return g;
}

static void prompt_of(int32_t *p, int n, int salt)
{
    for (int i = 0; i < n; i++) p[i] = 3 + (i * 37 + salt * 11) % 500;
}

static void run(engine_session *s, const int32_t *prompt, int n, engine_gen_params g, collected *out,
                engine_stats *st)
{
    char err[512];
    memset(out->tokens, 0, sizeof out->tokens);
    out->n = 0;
    if (cpu_engine_ops.generate(s, prompt, n, &g, collect, out, st, err, sizeof err) != 0)
        fail_msg("generate: %s", err);
}

static void test_reuse_matches_fresh(void **state)
{
    (void)state;
    engine_model *m = load("llama-f32.gguf", 256, 16);
    char err[256];
    engine_session *a = cpu_engine_ops.session_new(m, err, sizeof err);
    engine_session *b = cpu_engine_ops.session_new(m, err, sizeof err);
    int32_t prompt[120];
    prompt_of(prompt, 40, 1);
    collected first = {0}, again = {0}, fresh = {0};
    engine_stats st;
    run(a, prompt, 40, greedy(12), &first, &st);
    assert_int_equal(first.n, 12);
    assert_int_equal(st.reused_tokens, 0);
    assert_int_equal(st.finish, ENGINE_FINISH_LENGTH);

    /* the same prompt again: all but the last token come from the cache */
    run(a, prompt, 40, greedy(12), &again, &st);
    assert_int_equal(st.reused_tokens, 39);
    assert_memory_equal(first.tokens, again.tokens, sizeof first.tokens);

    /* a continuation of the conversation reuses prompt + answer */
    memcpy(prompt + 40, again.tokens, 12 * sizeof(int32_t));
    prompt_of(prompt + 52, 20, 2);
    run(a, prompt, 72, greedy(10), &again, &st);
    assert_true(st.reused_tokens >= 51);
    run(b, prompt, 72, greedy(10), &fresh, &st);
    assert_int_equal(st.reused_tokens, 0);
    assert_memory_equal(again.tokens, fresh.tokens, sizeof fresh.tokens);

    /* a different conversation starts clean: nothing leaks from the last one */
    int32_t other[30];
    prompt_of(other, 30, 9);
    run(a, other, 30, greedy(8), &again, &st);
    assert_int_equal(st.reused_tokens, 0);
    cpu_engine_ops.session_reset(b);
    run(b, other, 30, greedy(8), &fresh, &st);
    assert_memory_equal(again.tokens, fresh.tokens, sizeof fresh.tokens);

    cpu_engine_ops.session_free(a);
    cpu_engine_ops.session_free(b);
    cpu_engine_ops.unload(m);
}

static void test_batch_size_does_not_change_results(void **state)
{
    (void)state;
    engine_model *m1 = load("qwen3-q8.gguf", 128, 1);
    engine_model *m2 = load("qwen3-q8.gguf", 128, 64);
    char err[256];
    engine_session *a = cpu_engine_ops.session_new(m1, err, sizeof err);
    engine_session *b = cpu_engine_ops.session_new(m2, err, sizeof err);
    int32_t prompt[50];
    prompt_of(prompt, 50, 4);
    collected x = {0}, y = {0};
    engine_stats st;
    run(a, prompt, 50, greedy(16), &x, &st);
    run(b, prompt, 50, greedy(16), &y, &st);
    assert_memory_equal(x.tokens, y.tokens, sizeof x.tokens);
    cpu_engine_ops.session_free(a);
    cpu_engine_ops.session_free(b);
    cpu_engine_ops.unload(m1);
    cpu_engine_ops.unload(m2);
}

static void flip_byte(const char *path, long at)
{
    FILE *f = fopen(path, "r+b");
    assert_non_null(f);
    fseek(f, at, at < 0 ? SEEK_END : SEEK_SET);
    int c = fgetc(f);
    fseek(f, -1, SEEK_CUR);
    fputc(c ^ 0x5a, f);
    fclose(f);
}

static void test_save_restore(void **state)
{
    (void)state;
    engine_model *m = load("llama-f32.gguf", 256, 32);
    char err[512], path[256];
    snprintf(path, sizeof path, "/tmp/rkserve-test-session-%ld.bin", (long)getpid());
    engine_session *a = cpu_engine_ops.session_new(m, err, sizeof err);
    engine_session *b = cpu_engine_ops.session_new(m, err, sizeof err);
    int32_t prompt[64];
    prompt_of(prompt, 48, 5);
    collected ca = {0}, cb = {0};
    engine_stats st;
    run(a, prompt, 48, greedy(4), &ca, &st);
    assert_int_equal(cpu_engine_ops.save(a, path, err, sizeof err), 0);
    const int32_t *kept;
    int64_t n_kept = cpu_engine_ops.kept_tokens(a, &kept);
    assert_int_equal(n_kept, 48 + 3); /* the final token is never run */

    assert_int_equal(cpu_engine_ops.restore(b, path, err, sizeof err), 0);
    prompt_of(prompt + 48, 10, 6);
    run(a, prompt, 58, greedy(8), &ca, &st);
    run(b, prompt, 58, greedy(8), &cb, &st);
    assert_int_equal(st.reused_tokens, 48);
    assert_memory_equal(ca.tokens, cb.tokens, sizeof ca.tokens);

    /* damaged files are refused and leave the session empty */
    assert_int_equal(cpu_engine_ops.save(a, path, err, sizeof err), 0);
    flip_byte(path, 200);
    assert_int_equal(cpu_engine_ops.restore(b, path, err, sizeof err), -1);
    assert_non_null(strstr(err, "corrupt"));
    assert_int_equal(cpu_engine_ops.kept_tokens(b, &kept), 0);
    assert_int_equal(truncate(path, 100), 0);
    assert_int_equal(cpu_engine_ops.restore(b, path, err, sizeof err), -1);

    /* a file from another model is refused by name */
    engine_model *other = load("qwen3-q8.gguf", 256, 32);
    engine_session *c = cpu_engine_ops.session_new(other, err, sizeof err);
    run(c, prompt, 20, greedy(2), &cb, &st);
    assert_int_equal(cpu_engine_ops.save(c, path, err, sizeof err), 0);
    assert_int_equal(cpu_engine_ops.restore(b, path, err, sizeof err), -1);
    assert_non_null(strstr(err, "different model"));
    unlink(path);
    assert_int_equal(cpu_engine_ops.restore(b, path, err, sizeof err), -1);

    cpu_engine_ops.session_free(a);
    cpu_engine_ops.session_free(b);
    cpu_engine_ops.session_free(c);
    cpu_engine_ops.unload(m);
    cpu_engine_ops.unload(other);
}

static void test_context_limits(void **state)
{
    (void)state;
    engine_model *m = load("llama-f32.gguf", 32, 8);
    char err[512];
    engine_session *s = cpu_engine_ops.session_new(m, err, sizeof err);
    int32_t prompt[40];
    prompt_of(prompt, 40, 7);
    collected c = {0};
    engine_stats st;

    engine_gen_params g = greedy(-1);
    assert_int_equal(cpu_engine_ops.generate(s, prompt, 40, &g, collect, &c, &st, err, sizeof err), -1);
    assert_non_null(strstr(err, "context"));

    /* without shifting, generation ends when the context is full */
    run(s, prompt, 10, greedy(100), &c, &st);
    assert_int_equal(st.finish, ENGINE_FINISH_CONTEXT);
    assert_int_equal(c.n, 32 - 10 + 1);

    /* with n_keep it shifts and goes on */
    g = greedy(60);
    g.n_keep = 4;
    run(s, prompt, 10, g, &c, &st);
    assert_int_equal(st.finish, ENGINE_FINISH_LENGTH);
    assert_int_equal(c.n, 60);
    assert_true(st.context_shifts >= 1);

    int32_t bad[2] = {5, 1 << 20};
    assert_int_equal(cpu_engine_ops.generate(s, bad, 2, &g, collect, &c, &st, err, sizeof err), -1);
    assert_non_null(strstr(err, "vocabulary"));
    assert_int_equal(cpu_engine_ops.generate(s, bad, 0, &g, collect, &c, &st, err, sizeof err), -1);

    cpu_engine_ops.session_free(s);
    cpu_engine_ops.unload(m);
}

static void test_stop_and_cancel(void **state)
{
    (void)state;
    engine_model *m = load("llama-f32.gguf", 128, 16);
    char err[512];
    engine_session *s = cpu_engine_ops.session_new(m, err, sizeof err);
    int32_t prompt[16];
    prompt_of(prompt, 16, 8);
    engine_stats st;

    collected c = {.stop_after = 5};
    engine_gen_params g = greedy(50);
    assert_int_equal(cpu_engine_ops.generate(s, prompt, 16, &g, collect, &c, &st, err, sizeof err), 0);
    assert_int_equal(c.n, 5);
    assert_int_equal(st.finish, ENGINE_FINISH_STOPPED);

    atomic_bool cancel = false;
    collected d = {.cancel_at_3 = &cancel};
    g.cancel = &cancel;
    assert_int_equal(cpu_engine_ops.generate(s, prompt, 16, &g, collect, &d, &st, err, sizeof err), 0);
    assert_int_equal(d.n, 3);
    assert_int_equal(st.finish, ENGINE_FINISH_CANCELLED);

    /* raised before the call: not even the prompt is processed */
    assert_int_equal(cpu_engine_ops.generate(s, prompt, 16, &g, collect, &d, &st, err, sizeof err), 0);
    assert_int_equal(st.finish, ENGINE_FINISH_CANCELLED);
    assert_int_equal(st.completion_tokens, 0);

    g = greedy(0);
    assert_int_equal(cpu_engine_ops.generate(s, prompt, 16, &g, collect, &c, &st, err, sizeof err), 0);
    assert_int_equal(st.finish, ENGINE_FINISH_LENGTH);
    assert_int_equal(st.completion_tokens, 0);

    cpu_engine_ops.session_free(s);
    cpu_engine_ops.unload(m);
}

static void test_embeddings(void **state)
{
    (void)state;
    engine_model *m = load("qwen3-q8.gguf", 128, 16);
    char err[512];
    engine_session *s = cpu_engine_ops.session_new(m, err, sizeof err);
    engine_info info;
    cpu_engine_ops.info(m, &info);
    float *a = malloc(sizeof(float) * info.n_embd), *b = malloc(sizeof(float) * info.n_embd),
          *c = malloc(sizeof(float) * info.n_embd);
    int32_t x[20], y[20];
    prompt_of(x, 20, 1);
    prompt_of(y, 20, 2);
    assert_int_equal(cpu_engine_ops.embed(s, x, 20, a, err, sizeof err), 0);
    assert_int_equal(cpu_engine_ops.embed(s, y, 20, b, err, sizeof err), 0);
    assert_int_equal(cpu_engine_ops.embed(s, x, 20, c, err, sizeof err), 0);
    double na = 0, dot = 0;
    for (int i = 0; i < info.n_embd; i++) {
        na += (double)a[i] * a[i];
        dot += (double)a[i] * b[i];
        assert_float_equal(a[i], c[i], 1e-6);
    }
    assert_float_equal(na, 1.0, 1e-5);
    assert_true(dot < 0.9999);
    assert_int_equal(cpu_engine_ops.embed(s, x, 0, a, err, sizeof err), -1);
    free(a);
    free(b);
    free(c);
    cpu_engine_ops.session_free(s);
    cpu_engine_ops.unload(m);
}

static void test_load_errors(void **state)
{
    (void)state;
    char err[512];
    engine_load_params p = {.path = "/nonexistent/model.gguf"};
    assert_null(engine_for_path(p.path));
    assert_null(cpu_engine_ops.load(&p, err, sizeof err));
    assert_non_null(strstr(err, "/nonexistent/model.gguf"));
    char path[256];
    snprintf(path, sizeof path, "/tmp/rkserve-test-notgguf-%ld", (long)getpid());
    FILE *f = fopen(path, "wb");
    fputs("definitely not a model", f);
    fclose(f);
    assert_null(engine_for_path(path));
    p.path = path;
    assert_null(cpu_engine_ops.load(&p, err, sizeof err));
    unlink(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reuse_matches_fresh),
        cmocka_unit_test(test_batch_size_does_not_change_results),
        cmocka_unit_test(test_save_restore),
        cmocka_unit_test(test_context_limits),
        cmocka_unit_test(test_stop_and_cancel),
        cmocka_unit_test(test_embeddings),
        cmocka_unit_test(test_load_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
