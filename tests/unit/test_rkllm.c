/* The rkllm engine driven against the librkllmrt emulator, for both ABI
 * families: the same code that runs on the NPU, checked against the CPU
 * engine on the same prompts. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/engine.h"
#include "engine/rkllm/rkllm_engine.h"
#include "engine/rkllm/rkllm_runtime.h"
#include "util/strbuf.h"

static const char *FAMILIES[] = {"v1.2", "v1.3"};

static char *path_of(const char *env, const char *rel)
{
    static char buf[4][4096];
    static int k;
    const char *dir = getenv(env);
    assert_non_null(dir);
    char *b = buf[k++ % 4];
    snprintf(b, 4096, "%s/%s", dir, rel);
    return b;
}

static void use_family(int f)
{
    char rel[64];
    snprintf(rel, sizeof rel, "emulator/%s/librkllmrt.so", FAMILIES[f]);
    rkllm_engine_set_library(path_of("RKSERVE_BUILD_DIR", rel));
}

static const char *model(const char *name)
{
    return path_of("RKSERVE_TEST_MODELS", name);
}

typedef struct {
    strbuf text;
    int n;
    int stop_after;        /* > 0: return false at this token */
    atomic_bool *cancel_at; /* raise after stop_after tokens instead */
} sink;

static bool collect(void *user, int32_t token, const char *piece, size_t len)
{
    (void)token;
    sink *s = user;
    strbuf_add(&s->text, piece, len);
    s->n++;
    if (s->stop_after > 0 && s->n >= s->stop_after) {
        if (s->cancel_at) {
            atomic_store(s->cancel_at, true);
            return true;
        }
        return false;
    }
    return true;
}

static engine_gen_params greedy(int32_t max_tokens)
{
    engine_gen_params p = {.max_tokens = max_tokens, .n_keep = -1};
    p.sampling.temperature = 0;
    p.sampling.top_p = 1;
    p.sampling.repeat_penalty = 1;
    return p;
}

static engine_model *load_path(const engine_ops *ops, const char *path)
{
    engine_load_params lp = {.path = path, .n_ctx = 256, .n_threads = 1};
    char err[512] = "";
    engine_model *m = ops->load(&lp, err, sizeof err);
    if (!m) fprintf(stderr, "load: %s\n", err);
    assert_non_null(m);
    return m;
}

static engine_model *load(const engine_ops *ops, const char *name)
{
    return load_path(ops, name[0] == '/' ? name : model(name));
}

/* the trained model: its text tokenizes back the way it was generated */
static const char *fortune(void)
{
    return path_of("RKSERVE_SOURCE_DIR", "models/fortune/fortune-llama.gguf");
}

/* The CPU engine's greedy text for a prompt, as the server would tokenize it. */
static char *cpu_text(const char *name, const char *prompt, int max_tokens, engine_finish *finish)
{
    engine_model *m = load(&cpu_engine_ops, name);
    engine_info info;
    cpu_engine_ops.info(m, &info);
    int32_t *toks;
    int64_t n = engine_tokenize_alloc(&cpu_engine_ops, m, prompt, engine_prompt_wants_bos(&info, prompt), &toks);
    assert_true(n > 0);
    char err[256];
    engine_session *s = cpu_engine_ops.session_new(m, err, sizeof err);
    engine_gen_params p = greedy(max_tokens);
    engine_stats st;
    sink out = {0};
    assert_int_equal(cpu_engine_ops.generate(s, toks, n, &p, collect, &out, &st, err, sizeof err), 0);
    if (finish) *finish = st.finish;
    free(toks);
    /* the runtime hands out whole characters only: a run that ends inside
     * one drops its first bytes */
    size_t n_text = out.text.len;
    for (size_t back = 1; back <= 4 && back <= n_text; back++) {
        unsigned char c = (unsigned char)out.text.p[n_text - back];
        if ((c & 0xC0) == 0x80) continue;
        size_t need = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
        if (need > back) out.text.len = n_text - back;
        break;
    }
    cpu_engine_ops.session_free(s);
    cpu_engine_ops.unload(m);
    strbuf_add(&out.text, "", 0);
    return out.text.p;
}

static char *rk_text(engine_session *s, const char *prompt, int max_tokens, engine_stats *st)
{
    engine_gen_params p = greedy(max_tokens);
    sink out = {0};
    char err[512] = "";
    int rc = rkllm_engine_ops.generate_text(s, prompt, &p, collect, &out, st, err, sizeof err);
    if (rc) fprintf(stderr, "generate_text: %s\n", err);
    assert_int_equal(rc, 0);
    strbuf_add(&out.text, "", 0);
    assert_int_equal(out.n, st->completion_tokens);
    return out.text.p;
}

static const char *P1 = "Once upon a time";

static void test_greedy_equals_cpu(void **state)
{
    (void)state;
    const char *names[] = {"llama-f32.gguf", "qwen3-q8.gguf"};
    for (int f = 0; f < 2; f++) {
        use_family(f);
        for (int k = 0; k < 2; k++) {
            engine_finish want_finish;
            char *want = cpu_text(names[k], P1, 12, &want_finish);
            engine_model *m = load(&rkllm_engine_ops, names[k]);
            engine_info info;
            rkllm_engine_ops.info(m, &info);
            assert_string_equal(info.engine, "rkllm");
            assert_false(info.has_tokenizer);
            assert_int_equal(info.n_ctx, 256);
            char err[256];
            engine_session *s = rkllm_engine_ops.session_new(m, err, sizeof err);
            assert_non_null(s);
            engine_stats st;
            char *got = rk_text(s, P1, 12, &st);
            assert_string_equal(got, want);
            assert_int_equal(st.finish, want_finish);
            assert_true(st.prompt_tokens > 0);
            free(got);
            free(want);
            rkllm_engine_ops.session_free(s);
            rkllm_engine_ops.unload(m);
        }
    }
}

static void test_keep_history_and_clean_conversations(void **state)
{
    (void)state;
    for (int f = 0; f < 2; f++) {
        use_family(f);
        engine_model *m = load_path(&rkllm_engine_ops, fortune());
        char err[256];
        engine_session *s = rkllm_engine_ops.session_new(m, err, sizeof err);
        engine_session *fresh = rkllm_engine_ops.session_new(m, err, sizeof err);
        assert_non_null(fresh);
        engine_stats st1, st2, st3;
        char *out1 = rk_text(s, P1, 6, &st1);
        assert_int_equal(st1.reused_tokens, 0);
        /* the next turn extends the conversation: only its suffix is fed */
        char turn2[512];
        snprintf(turn2, sizeof turn2, "%s%s, said the fox", P1, out1);
        char *out2 = rk_text(s, turn2, 6, &st2);
        assert_true(st2.reused_tokens > 0);
        assert_true(st2.prompt_tokens - st2.reused_tokens < st2.prompt_tokens);
        char *clean2 = rk_text(fresh, turn2, 6, &st3);
        assert_int_equal(st3.reused_tokens, 0);
        assert_string_equal(out2, clean2);
        /* another conversation on the same session starts clean */
        rkllm_engine_ops.session_reset(fresh);
        char *other = rk_text(s, "A different story", 6, &st2);
        assert_int_equal(st2.reused_tokens, 0);
        char *other_clean = rk_text(fresh, "A different story", 6, &st3);
        assert_string_equal(other, other_clean);
        char *want = cpu_text(fortune(), "A different story", 6, NULL);
        assert_string_equal(other, want);
        free(out1), free(out2), free(clean2), free(other), free(other_clean), free(want);
        rkllm_engine_ops.session_free(fresh);
        rkllm_engine_ops.session_free(s);
        rkllm_engine_ops.unload(m);
    }
}

static void test_finish_reasons(void **state)
{
    (void)state;
    for (int f = 0; f < 2; f++) {
        use_family(f);
        engine_model *m = load(&rkllm_engine_ops, "llama-f32.gguf");
        char err[256];
        engine_session *s = rkllm_engine_ops.session_new(m, err, sizeof err);
        engine_gen_params p = greedy(5);
        p.ignore_eos = true;
        engine_stats st;
        sink out = {0};
        /* max_tokens: 1.3 passes it per run, 1.2 stops the run itself */
        assert_int_equal(rkllm_engine_ops.generate_text(s, P1, &p, collect, &out, &st, err, sizeof err), 0);
        assert_int_equal(st.finish, ENGINE_FINISH_LENGTH);
        assert_int_equal(out.n, 5);
        /* the callback stops */
        sink stop = {.stop_after = 2};
        p.max_tokens = 20;
        assert_int_equal(rkllm_engine_ops.generate_text(s, P1, &p, collect, &stop, &st, err, sizeof err), 0);
        assert_int_equal(st.finish, ENGINE_FINISH_STOPPED);
        assert_int_equal(stop.n, 2);
        /* cancel raised mid-generation */
        atomic_bool cancel = false;
        sink c = {.stop_after = 3, .cancel_at = &cancel};
        p.cancel = &cancel;
        assert_int_equal(rkllm_engine_ops.generate_text(s, P1, &p, collect, &c, &st, err, sizeof err), 0);
        assert_int_equal(st.finish, ENGINE_FINISH_CANCELLED);
        assert_int_equal(c.n, 3);
        /* cancel raised before the run: the prefill is aborted */
        sink none = {0};
        assert_int_equal(rkllm_engine_ops.generate_text(s, P1, &p, collect, &none, &st, err, sizeof err), 0);
        assert_int_equal(st.finish, ENGINE_FINISH_CANCELLED);
        assert_int_equal(none.n, 0);
        /* after all that, a clean run still matches the CPU engine */
        free(out.text.p), free(stop.text.p), free(c.text.p), free(none.text.p);
        char *want = cpu_text("llama-f32.gguf", P1, 8, NULL);
        char *got = rk_text(s, P1, 8, &st);
        assert_string_equal(got, want);
        free(want), free(got);
        /* logits are out of reach of the runtime */
        p = greedy(4);
        sampler_logit_bias bias = {.token = 1, .bias = -INFINITY};
        p.sampling.logit_bias = &bias;
        p.sampling.n_logit_bias = 1;
        assert_int_equal(rkllm_engine_ops.generate_text(s, P1, &p, collect, &none, &st, err, sizeof err), -1);
        rkllm_engine_ops.session_free(s);
        rkllm_engine_ops.unload(m);
    }
}

static void test_prompt_cache(void **state)
{
    (void)state;
    char path[4096];
    snprintf(path, sizeof path, "%s/rkllm-test-%ld.cache", getenv("RKSERVE_TEST_MODELS"), (long)getpid());
    for (int f = 0; f < 2; f++) {
        use_family(f);
        engine_model *m = load(&rkllm_engine_ops, "qwen3-q8.gguf");
        char err[512];
        engine_session *a = rkllm_engine_ops.session_new(m, err, sizeof err);
        engine_session *b = rkllm_engine_ops.session_new(m, err, sizeof err);
        engine_stats st;
        assert_int_equal(rkllm_engine_ops.save(a, path, err, sizeof err), -1); /* nothing kept yet */
        free(rk_text(a, "The system says hello.", 3, &st));
        int rc = rkllm_engine_ops.save(a, path, err, sizeof err);
        if (rc) fprintf(stderr, "save: %s\n", err);
        assert_int_equal(rc, 0);
        assert_int_equal(access(path, F_OK), 0);
        assert_int_equal(rkllm_engine_ops.restore(b, path, err, sizeof err), 0);
        /* the kept text is the cached prompt plus what the first run generated;
         * saving re-fed the prompt part only */
        char prompt[512];
        snprintf(prompt, sizeof prompt, "The system says hello. Then");
        char *warm = rk_text(b, prompt, 6, &st);
        rkllm_engine_ops.session_reset(a);
        engine_stats cold_st;
        char *cold = rk_text(a, prompt, 6, &cold_st);
        assert_string_equal(warm, cold);
        free(warm), free(cold);

        /* a damaged file is refused, and so is another model's */
        FILE *fp = fopen(path, "r+b");
        assert_non_null(fp);
        fseek(fp, -3, SEEK_END);
        int c = fgetc(fp);
        fseek(fp, -3, SEEK_END);
        fputc(c ^ 0x5a, fp);
        fclose(fp);
        assert_int_equal(rkllm_engine_ops.restore(b, path, err, sizeof err), -1);
        assert_non_null(strstr(err, "refusing"));
        free(rk_text(a, "The system says hello.", 2, &st));
        assert_int_equal(rkllm_engine_ops.save(a, path, err, sizeof err), 0);
        engine_model *other = load(&rkllm_engine_ops, "llama-f32.gguf");
        engine_session *o = rkllm_engine_ops.session_new(other, err, sizeof err);
        assert_int_equal(rkllm_engine_ops.restore(o, path, err, sizeof err), -1);
        assert_non_null(strstr(err, "another model"));
        fp = fopen(path, "r+b");
        assert_int_equal(ftruncate(fileno(fp), 100), 0);
        fclose(fp);
        assert_int_equal(rkllm_engine_ops.restore(b, path, err, sizeof err), -1);
        /* the session still works after a refused file */
        free(rk_text(b, P1, 2, &st));
        rkllm_engine_ops.session_free(o);
        rkllm_engine_ops.unload(other);
        rkllm_engine_ops.session_free(a);
        rkllm_engine_ops.session_free(b);
        rkllm_engine_ops.unload(m);
        unlink(path);
    }
}

typedef struct {
    engine_session *s;
    const char *prompt;
    char *out;
} job;

static void *run_job(void *arg)
{
    job *j = arg;
    engine_gen_params p = greedy(10);
    engine_stats st;
    sink out = {0};
    char err[256];
    if (rkllm_engine_ops.generate_text(j->s, j->prompt, &p, collect, &out, &st, err, sizeof err) == 0) {
        strbuf_add(&out.text, "", 0);
        j->out = out.text.p;
    }
    return NULL;
}

static void test_parallel_sessions_and_instances(void **state)
{
    (void)state;
    char *want_q = cpu_text("qwen3-q8.gguf", P1, 10, NULL);
    char *want_q2 = cpu_text("qwen3-q8.gguf", "Far away", 10, NULL);
    char *want_l = cpu_text("llama-f32.gguf", P1, 10, NULL);
    for (int f = 0; f < 2; f++) {
        use_family(f);
        engine_model *q = load(&rkllm_engine_ops, "qwen3-q8.gguf");
        engine_model *l = load(&rkllm_engine_ops, "llama-f32.gguf");
        char err[256];
        job jobs[3] = {{rkllm_engine_ops.session_new(q, err, sizeof err), P1, NULL},
                       {rkllm_engine_ops.session_new(q, err, sizeof err), "Far away", NULL},
                       {rkllm_engine_ops.session_new(l, err, sizeof err), P1, NULL}};
        pthread_t t[3];
        for (int i = 0; i < 3; i++) assert_int_equal(pthread_create(&t[i], NULL, run_job, &jobs[i]), 0);
        for (int i = 0; i < 3; i++) pthread_join(t[i], NULL);
        assert_non_null(jobs[0].out);
        assert_non_null(jobs[1].out);
        assert_non_null(jobs[2].out);
        assert_string_equal(jobs[0].out, want_q);
        assert_string_equal(jobs[1].out, want_q2);
        assert_string_equal(jobs[2].out, want_l);
        for (int i = 0; i < 3; i++) {
            free(jobs[i].out);
            rkllm_engine_ops.session_free(jobs[i].s);
        }
        rkllm_engine_ops.unload(q);
        rkllm_engine_ops.unload(l);
    }
    free(want_q), free(want_q2), free(want_l);
}

static void test_embeddings_match_cpu(void **state)
{
    (void)state;
    engine_model *cm = load(&cpu_engine_ops, "llama-f32.gguf");
    engine_info info;
    cpu_engine_ops.info(cm, &info);
    const char *text = "embed this sentence";
    int32_t *toks;
    int64_t n = engine_tokenize_alloc(&cpu_engine_ops, cm, text, engine_prompt_wants_bos(&info, text), &toks);
    char err[256];
    engine_session *cs = cpu_engine_ops.session_new(cm, err, sizeof err);
    float *want = calloc((size_t)info.n_embd, sizeof(float));
    float *got = calloc((size_t)info.n_embd, sizeof(float));
    assert_int_equal(cpu_engine_ops.embed(cs, toks, n, want, err, sizeof err), 0);
    for (int f = 0; f < 2; f++) {
        use_family(f);
        engine_model *m = load(&rkllm_engine_ops, "llama-f32.gguf");
        engine_info ri;
        rkllm_engine_ops.info(m, &ri);
        assert_int_equal(ri.n_embd, info.n_embd);
        engine_session *s = rkllm_engine_ops.session_new(m, err, sizeof err);
        assert_int_equal(rkllm_engine_ops.embed_text(s, text, got, err, sizeof err), 0);
        for (int j = 0; j < info.n_embd; j++) assert_true(fabsf(got[j] - want[j]) < 1e-5f);
        rkllm_engine_ops.session_free(s);
        rkllm_engine_ops.unload(m);
    }
    free(want), free(got), free(toks);
    cpu_engine_ops.session_free(cs);
    cpu_engine_ops.unload(cm);
}

static void expect_load_error(const char *model_name, const char *needle)
{
    engine_load_params lp = {.path = model_name, .n_ctx = 128, .n_threads = 1};
    char err[1024] = "";
    engine_model *m = rkllm_engine_ops.load(&lp, err, sizeof err);
    if (m || !strstr(err, needle)) fprintf(stderr, "error was: %s\n", err);
    assert_null(m);
    assert_non_null(strstr(err, needle));
}

static void test_errors(void **state)
{
    (void)state;
    const char *gguf = model("llama-f32.gguf");
    rkllm_engine_set_library("/nonexistent/librkllmrt.so");
    expect_load_error(gguf, "RKLLM_LIB");
    rkllm_engine_set_library("libm.so.6"); /* a library without the runtime's symbols */
    expect_load_error(gguf, "lacks rkllm_");
    use_family(1);
    setenv("RKLLM_ABI", "2.0", 1);
    expect_load_error(gguf, "RKLLM_ABI=2.0");
    /* forcing the wrong family is the user's call; forcing the right one works */
    setenv("RKLLM_ABI", "1.3", 1);
    engine_load_params lp = {.path = gguf, .n_ctx = 128, .n_threads = 1};
    char err[512];
    engine_model *m = rkllm_engine_ops.load(&lp, err, sizeof err);
    assert_non_null(m);
    rkllm_engine_ops.unload(m);
    unsetenv("RKLLM_ABI");
    /* not a model */
    char bad[4096];
    snprintf(bad, sizeof bad, "%s/not-a-model-%ld.rkllm", getenv("RKSERVE_TEST_MODELS"), (long)getpid());
    FILE *fp = fopen(bad, "wb");
    fputs("this is not a model", fp);
    fclose(fp);
    expect_load_error(bad, "could not load");
    unlink(bad);
    expect_load_error("/nonexistent/model.rkllm", "cannot open");
    /* the libraries say which family they are */
    char v[32];
    char rel[64];
    for (int f = 0; f < 2; f++) {
        snprintf(rel, sizeof rel, "emulator/%s/librkllmrt.so", FAMILIES[f]);
        assert_true(rkllm_scan_version(path_of("RKSERVE_BUILD_DIR", rel), v, sizeof v));
        assert_int_equal(rkllm_family_of_version(v), f == 0 ? RKLLM_FAMILY_1_2 : RKLLM_FAMILY_1_3);
    }
    assert_int_equal(rkllm_family_of_version("1.2.0"), 0);
    assert_int_equal(rkllm_family_of_version("1.1.4"), 0);
    assert_int_equal(rkllm_family_of_version("1.2.2"), RKLLM_FAMILY_1_2);
    assert_int_equal(rkllm_family_of_version("2.0.0"), 0);
}

static void test_platform_and_routing(void **state)
{
    (void)state;
    char dt[4096];
    snprintf(dt, sizeof dt, "%s/compatible-%ld", getenv("RKSERVE_TEST_MODELS"), (long)getpid());
    FILE *fp = fopen(dt, "wb");
    fwrite("radxa,rock-5b\0rockchip,rk3588\0", 1, 30, fp);
    fclose(fp);
    assert_int_equal(rkllm_default_cpu_mask(dt), 0xF0);
    fp = fopen(dt, "wb");
    fwrite("pine64,quartz64\0rockchip,rk3566\0", 1, 32, fp);
    fclose(fp);
    assert_int_equal(rkllm_default_cpu_mask(dt), 0);
    unlink(dt);
    assert_int_equal(rkllm_default_cpu_mask("/nonexistent"), 0);
    assert_int_equal(rkllm_ctx_from_name("/m/Qwen_Qwen3-0.6B-w8a8-opt0-hybrid0-npu3-ctx16384-rk3588.rkllm"), 16384);
    assert_int_equal(rkllm_ctx_from_name("/m/gemma-3-1b-it_w8a8.rkllm"), 0);
    assert_ptr_equal(engine_for_path("/anything/model.rkllm"), &rkllm_engine_ops);
    assert_ptr_equal(engine_for_path(model("llama-f32.gguf")), &cpu_engine_ops);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_greedy_equals_cpu),
        cmocka_unit_test(test_keep_history_and_clean_conversations),
        cmocka_unit_test(test_finish_reasons),
        cmocka_unit_test(test_prompt_cache),
        cmocka_unit_test(test_parallel_sessions_and_instances),
        cmocka_unit_test(test_embeddings_match_cpu),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_platform_and_routing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
