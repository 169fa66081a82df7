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

/* The runtime hands out whole characters only: a run that ends inside one
 * drops its first bytes. */
static void drop_partial_char(strbuf *t)
{
    size_t n_text = t->len;
    for (size_t back = 1; back <= 4 && back <= n_text; back++) {
        unsigned char c = (unsigned char)t->p[n_text - back];
        if ((c & 0xC0) == 0x80) continue;
        size_t need = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
        if (need > back) t->len = n_text - back;
        break;
    }
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
    drop_partial_char(&out.text);
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

/* ---- images (RKLLM_INPUT_MULTIMODAL) ------------------------------------------ */

/* Tags chosen so the content tag is one special token of the synthetic
 * tokenizer (it is also its BOS, which the emulator must tell apart). */
#define IMG_START "<|im_start|>"
#define IMG_END "<|im_end|>"
#define IMG_CONTENT "<|endoftext|>"
#define IMG_TOKENS 6

static float *random_images(int n_image, int32_t n_embd, uint32_t seed)
{
    size_t n = (size_t)n_image * IMG_TOKENS * (size_t)n_embd;
    float *v = malloc(n * sizeof(float));
    assert_non_null(v);
    uint32_t x = seed;
    for (size_t i = 0; i < n; i++) {
        x = x * 1664525u + 1013904223u;
        v[i] = ((float)(x >> 8) / (float)(1u << 24) - 0.5f) * 4.0f;
    }
    return v;
}

/* Appends the tokens of text (special tokens parsed) to toks. */
static int64_t cpu_tok_onto(engine_model *m, const char *text, bool bos, int32_t *toks, int64_t n)
{
    int64_t k = cpu_engine_ops.tokenize(m, text, strlen(text), bos, true, toks + n, 256 - n);
    assert_true(k >= 0 && n + k <= 256);
    return n + k;
}

/* A prompt of text pieces with images between them, tokenized piece by
 * piece (independently of the emulator's expansion): piece i, then image i
 * as start tag, IMG_TOKENS span positions, end tag. Returns the count. */
static int64_t image_prompt(engine_model *m, const char **pieces, int n_image, const float *embd, int32_t *toks,
                            engine_embd_span *spans)
{
    engine_info info;
    cpu_engine_ops.info(m, &info);
    int32_t content;
    assert_int_equal(cpu_engine_ops.tokenize(m, IMG_CONTENT, strlen(IMG_CONTENT), false, true, &content, 1), 1);
    int64_t n = 0;
    for (int i = 0; i <= n_image; i++) {
        n = cpu_tok_onto(m, pieces[i], i == 0 && engine_prompt_wants_bos(&info, pieces[0]), toks, n);
        if (i == n_image) break;
        n = cpu_tok_onto(m, IMG_START, false, toks, n);
        spans[i] = (engine_embd_span){.pos = n, .n_tokens = IMG_TOKENS,
                                      .embd = embd + (size_t)i * IMG_TOKENS * info.n_embd, .hash = 100u + (uint64_t)i};
        for (int t = 0; t < IMG_TOKENS; t++) toks[n++] = content;
        n = cpu_tok_onto(m, IMG_END, false, toks, n);
    }
    return n;
}

typedef struct {
    sink out;
    int32_t ids[64];
    int n_ids;
} id_sink;

static bool collect_ids(void *user, int32_t token, const char *piece, size_t len)
{
    id_sink *s = user;
    if (s->n_ids < 64) s->ids[s->n_ids++] = token;
    return collect(&s->out, token, piece, len);
}

/* The CPU engine's greedy run of toks with spans on a fresh session. */
static void cpu_run(engine_model *m, const int32_t *toks, int64_t n, const engine_embd_span *spans, int n_spans,
                    int max_tokens, id_sink *out)
{
    char err[256];
    engine_session *s = cpu_engine_ops.session_new(m, err, sizeof err);
    engine_gen_params p = greedy(max_tokens);
    p.spans = spans;
    p.n_spans = n_spans;
    engine_stats st;
    int rc = cpu_engine_ops.generate(s, toks, n, &p, collect_ids, out, &st, err, sizeof err);
    if (rc) fprintf(stderr, "cpu generate: %s\n", err);
    assert_int_equal(rc, 0);
    cpu_engine_ops.session_free(s);
    drop_partial_char(&out->out.text);
    strbuf_add(&out->out.text, "", 0);
}

static char *cpu_images_text(const char **pieces, int n_image, const float *embd, int max_tokens)
{
    engine_model *m = load(&cpu_engine_ops, "llama-f32.gguf");
    int32_t toks[256];
    engine_embd_span spans[4];
    int64_t n = image_prompt(m, pieces, n_image, embd, toks, spans);
    id_sink out = {0};
    cpu_run(m, toks, n, spans, n_image, max_tokens, &out);
    cpu_engine_ops.unload(m);
    return out.out.text.p;
}

/* The rkllm engine's greedy text for a prompt with images. */
static int rk_images(engine_session *s, const char *prompt, const float *embd, int n_image, int32_t n_embd,
                     const engine_gen_params *base, char **text, char *err, size_t errlen)
{
    engine_embd_span spans[4];
    for (int i = 0; i < n_image; i++)
        spans[i] = (engine_embd_span){.pos = 0, .n_tokens = IMG_TOKENS,
                                      .embd = embd + (size_t)i * IMG_TOKENS * n_embd, .hash = 7u + (uint64_t)i};
    engine_gen_params p = *base;
    p.spans = spans;
    p.n_spans = n_image;
    engine_stats st;
    sink out = {0};
    int rc = rkllm_engine_ops.generate_text(s, prompt, &p, collect, &out, &st, err, errlen);
    strbuf_add(&out.text, "", 0);
    if (rc == 0) {
        assert_int_equal(out.n, st.completion_tokens);
        assert_true(st.prompt_tokens > n_image * IMG_TOKENS);
    }
    if (text) *text = out.text.p;
    else free(out.text.p);
    return rc;
}

static void test_images_match_cpu(void **state)
{
    (void)state;
    int32_t n_embd = 64;
    float *two = random_images(2, n_embd, 1234);
    float *other = random_images(1, n_embd, 99);
    const char *one_pieces[] = {"Describe ", " in words"};
    const char *two_pieces[] = {"Compare ", " with ", " now"};
    char *want1 = cpu_images_text(one_pieces, 1, two, 10);
    char *want_other = cpu_images_text(one_pieces, 1, other, 10);
    char *want2 = cpu_images_text(two_pieces, 2, two, 10);
    /* the embeddings matter to the model (else this test could not fail) */
    assert_string_not_equal(want1, want_other);
    for (int f = 0; f < 2; f++) {
        use_family(f);
        /* the tags at load, as the server passes a vision preset's */
        engine_load_params lp = {.path = model("llama-f32.gguf"), .n_ctx = 256, .n_threads = 1,
                                 .image_start = IMG_START, .image_end = IMG_END, .image_content = IMG_CONTENT};
        char err[512] = "";
        engine_model *m = rkllm_engine_ops.load(&lp, err, sizeof err);
        assert_non_null(m);
        engine_info info;
        rkllm_engine_ops.info(m, &info);
        assert_int_equal(info.n_embd, n_embd);
        engine_session *s = rkllm_engine_ops.session_new(m, err, sizeof err);
        engine_gen_params g = greedy(10);
        char *got;
        assert_int_equal(rk_images(s, "Describe <image> in words", two, 1, n_embd, &g, &got, err, sizeof err), 0);
        assert_string_equal(got, want1);
        free(got);
        assert_int_equal(rk_images(s, "Describe <image> in words", other, 1, n_embd, &g, &got, err, sizeof err), 0);
        assert_string_equal(got, want_other);
        free(got);
        /* two images, the request's own tags and marker (1.2 re-initialises
         * its handle for them, 1.3 passes them with the input) */
        g.image_marker = "[img]";
        g.image_start = IMG_START;
        g.image_end = IMG_END;
        g.image_content = IMG_CONTENT;
        assert_int_equal(rk_images(s, "Compare [img] with [img] now", two, 2, n_embd, &g, &got, err, sizeof err), 0);
        assert_string_equal(got, want2);
        free(got);
        /* a text prompt afterwards starts clean and matches the CPU engine */
        engine_stats st;
        char *text = rk_text(s, P1, 8, &st);
        assert_int_equal(st.reused_tokens, 0);
        char *want_text = cpu_text("llama-f32.gguf", P1, 8, NULL);
        assert_string_equal(text, want_text);
        free(text), free(want_text);
        rkllm_engine_ops.session_free(s);
        rkllm_engine_ops.unload(m);
    }
    free(want1), free(want_other), free(want2), free(two), free(other);
}

/* The emulator keeps an image turn with keep_history = 1, as the runtime
 * keeps its KV cache: the next text turn continues after the image and
 * generated tokens. Driven through the runtime layer (the engine itself
 * starts image prompts clean). */
typedef struct {
    strbuf text;
    int n, errors;
} rt_sink;

static int rt_collect(rkllm_result *r, void *user, rkllm_enum_t state)
{
    rt_sink *s = user;
    if (state == RKLLM_ABI_RUN_ERROR) s->errors++;
    if (state == RKLLM_ABI_RUN_NORMAL && r && r->text) {
        strbuf_add_str(&s->text, r->text);
        s->n++;
    }
    return 0;
}

static void test_image_turn_kept_in_history(void **state)
{
    (void)state;
    float *embd = random_images(1, 64, 4242);
    const char *pieces[] = {"Look at ", " closely"};
    const char *turn2 = " and then";
    /* the CPU engine on the whole conversation: turn 1, its generated
     * tokens, turn 2, the image's span where it was */
    engine_model *cm = load(&cpu_engine_ops, "llama-f32.gguf");
    int32_t toks[256];
    engine_embd_span spans[1];
    int64_t n = image_prompt(cm, pieces, 1, embd, toks, spans);
    id_sink first = {0}, second = {0};
    cpu_run(cm, toks, n, spans, 1, 5, &first);
    for (int i = 0; i < first.n_ids; i++) toks[n++] = first.ids[i];
    n = cpu_tok_onto(cm, turn2, false, toks, n);
    cpu_run(cm, toks, n, spans, 1, 5, &second);
    cpu_engine_ops.unload(cm);

    for (int f = 0; f < 2; f++) {
        char rel[64], err[512];
        snprintf(rel, sizeof rel, "emulator/%s/librkllmrt.so", FAMILIES[f]);
        rkllm_runtime *rt = rkllm_runtime_open(path_of("RKSERVE_BUILD_DIR", rel), err, sizeof err);
        assert_non_null(rt);
        rkllm_sampling greedy_smp = {.top_k = 1, .top_p = 1.0f, .temperature = 0.0f, .repeat_penalty = 1.0f};
        rkllm_init_req ir = {.model_path = model("llama-f32.gguf"), .max_context_len = 256, .max_new_tokens = 5,
                             .n_keep = -1, .sampling = greedy_smp, .skip_special_token = true,
                             .img_start = IMG_START, .img_end = IMG_END, .img_content = IMG_CONTENT,
                             .enabled_cpus_num = 1, .n_batch = 1};
        rkllm_handle_t h = NULL;
        assert_int_equal(rkllm_rt_init(rt, &h, &ir, rt_collect), 0);
        rkllm_run_req q = {.mode = RKLLM_ABI_INFER_GENERATE, .input_type = RKLLM_ABI_INPUT_MULTIMODAL,
                           .role = "user", .prompt = "Look at <image> closely", .image_embed = embd,
                           .n_image_tokens = IMG_TOKENS, .n_image = 1, .img_start = IMG_START,
                           .img_end = IMG_END, .img_content = IMG_CONTENT, .keep_history = 1,
                           .sampling = &greedy_smp, .max_new_tokens = 5};
        rt_sink a = {0}, b = {0};
        assert_int_equal(rkllm_rt_run(rt, h, &q, &a), 0);
        assert_int_equal(a.errors, 0);
        strbuf_add(&a.text, "", 0);
        assert_string_equal(a.text.p, first.out.text.p);
        rkllm_run_req q2 = {.mode = RKLLM_ABI_INFER_GENERATE, .input_type = RKLLM_ABI_INPUT_PROMPT,
                            .role = "user", .prompt = turn2, .keep_history = 1, .sampling = &greedy_smp,
                            .max_new_tokens = 5};
        assert_int_equal(rkllm_rt_run(rt, h, &q2, &b), 0);
        assert_int_equal(b.errors, 0);
        strbuf_add(&b.text, "", 0);
        assert_string_equal(b.text.p, second.out.text.p);
        /* saving that context as a prompt cache is refused, not garbled */
        rt_sink c = {0};
        char cache[4096];
        snprintf(cache, sizeof cache, "%s/rkllm-img-%ld.cache", getenv("RKSERVE_TEST_MODELS"), (long)getpid());
        q2.save_prompt_cache = cache;
        q2.prompt = " more";
        assert_int_not_equal(rkllm_rt_run(rt, h, &q2, &c), 0);
        assert_int_equal(c.errors, 1);
        assert_int_not_equal(access(cache, F_OK), 0);
        free(a.text.p), free(b.text.p), free(c.text.p);
        rkllm_rt_destroy(rt, h);
        rkllm_runtime_close(rt);
    }
    free(first.out.text.p), free(second.out.text.p), free(embd);
}

/* Runs fn with stderr going to a file, returning what was written. */
static char *stderr_of(int (*fn)(void *), void *arg, int *rc)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/rkllm-stderr-%ld.txt", getenv("RKSERVE_TEST_MODELS"), (long)getpid());
    fflush(stderr);
    int saved = dup(2);
    FILE *f = fopen(path, "w+");
    assert_non_null(f);
    dup2(fileno(f), 2);
    *rc = fn(arg);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    rewind(f);
    char *text = calloc(1, (size_t)len + 1);
    assert_int_equal(fread(text, 1, (size_t)len, f), (size_t)len);
    fclose(f);
    unlink(path);
    return text;
}

typedef struct {
    engine_session *s;
    const char *prompt;
    const float *embd;
    int n_image;
    engine_gen_params g;
    char err[512];
} image_call;

static int call_images(void *arg)
{
    image_call *c = arg;
    return rk_images(c->s, c->prompt, c->embd, c->n_image, 64, &c->g, NULL, c->err, sizeof c->err);
}

static void test_image_errors(void **state)
{
    (void)state;
    float *embd = random_images(2, 64, 5);
    for (int f = 0; f < 2; f++) {
        use_family(f);
        engine_model *m = load(&rkllm_engine_ops, "llama-f32.gguf");
        char err[512];
        engine_session *s = rkllm_engine_ops.session_new(m, err, sizeof err);
        image_call c = {.s = s, .prompt = "Compare <image> with <image>", .embd = embd, .n_image = 2,
                        .g = greedy(4)};
        c.g.image_start = IMG_START;
        c.g.image_end = IMG_END;
        c.g.image_content = IMG_CONTENT;
        /* images of different sizes cannot go in one multimodal input */
        engine_embd_span spans[2] = {{.n_tokens = IMG_TOKENS, .embd = embd, .hash = 1},
                                     {.n_tokens = IMG_TOKENS - 1, .embd = embd, .hash = 2}};
        engine_gen_params p = c.g;
        p.spans = spans;
        p.n_spans = 2;
        engine_stats st;
        sink out = {0};
        assert_int_equal(rkllm_engine_ops.generate_text(s, c.prompt, &p, collect, &out, &st, err, sizeof err), -1);
        assert_non_null(strstr(err, "one size"));
        /* a content tag of several tokens: the runtime's error state, and
         * the emulator says why */
        c.g.image_content = "pad here";
        int rc;
        char *log = stderr_of(call_images, &c, &rc);
        assert_int_equal(rc, -1);
        assert_non_null(strstr(c.err, "error state"));
        if (!strstr(log, "must be exactly one token")) fprintf(stderr, "log was: %s\n", log);
        assert_non_null(strstr(log, "img_content \"pad here\""));
        assert_non_null(strstr(log, "must be exactly one token"));
        free(log);
        /* markers and images must agree in number */
        c.g.image_content = IMG_CONTENT;
        c.prompt = "Only <image> here";
        log = stderr_of(call_images, &c, &rc);
        assert_int_equal(rc, -1);
        assert_non_null(strstr(log, "marks 1 image(s)"));
        free(log);
        /* the content tag written in the text as well: not a run of the
         * image's length, so the positions are ambiguous */
        c.prompt = "Compare <image> with <image>" IMG_CONTENT IMG_CONTENT IMG_CONTENT IMG_CONTENT IMG_CONTENT
                   IMG_CONTENT IMG_CONTENT;
        log = stderr_of(call_images, &c, &rc);
        assert_int_equal(rc, -1);
        assert_non_null(strstr(log, "does not occur as 2 run(s) of 6 tokens"));
        free(log);
        /* and the session still works */
        c.prompt = "Compare <image> with <image>";
        assert_int_equal(call_images(&c), 0);
        rkllm_engine_ops.session_free(s);
        rkllm_engine_ops.unload(m);
    }
    free(embd);
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
        cmocka_unit_test(test_images_match_cpu),
        cmocka_unit_test(test_image_errors),
        cmocka_unit_test(test_image_turn_kept_in_history),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_platform_and_routing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
