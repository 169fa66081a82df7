/* The scheduler without HTTP: events in order, queue limits and
 * cancellation, session choice by kept prefix, unloading, load failures,
 * embeddings and shutdown, on the synthetic test models. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/config.h"
#include "core/request.h"
#include "core/scheduler.h"

static char g_dir[256];

typedef struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool started, done;
    int n_text;
    char text[16384];
    size_t len;
    rk_result res;
    char model[128];
    bool hold;     /* on_text waits while this is set */
} probe;

static void probe_init(probe *p)
{
    memset(p, 0, sizeof *p);
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
}

static void probe_free(probe *p)
{
    free(p->res.embeddings);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv);
}

static void on_start(void *user, const rk_start *st)
{
    probe *p = user;
    pthread_mutex_lock(&p->mu);
    assert_false(p->started);
    assert_false(p->done);
    p->started = true;
    snprintf(p->model, sizeof p->model, "%s", st->model);
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

static bool on_text(void *user, const char *text, size_t len)
{
    probe *p = user;
    pthread_mutex_lock(&p->mu);
    assert_true(p->started);
    if (p->len + len < sizeof p->text) {
        memcpy(p->text + p->len, text, len);
        p->len += len;
    }
    p->n_text++;
    pthread_cond_broadcast(&p->cv);
    while (p->hold) pthread_cond_wait(&p->cv, &p->mu);
    pthread_mutex_unlock(&p->mu);
    return true;
}

static void on_done(void *user, const rk_result *res)
{
    probe *p = user;
    pthread_mutex_lock(&p->mu);
    assert_false(p->done);
    p->res = *res;
    p->res.embeddings = NULL;
    if (res->embeddings) {
        size_t n = (size_t)res->n_embeddings * (size_t)res->n_embd;
        p->res.embeddings = malloc(n * sizeof(float));
        memcpy(p->res.embeddings, res->embeddings, n * sizeof(float));
    }
    p->done = true;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

/* Waits (at most 20 s) until *flag, or until n_text reaches min_text. */
static void wait_for(probe *p, bool *flag, int min_text)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += 20;
    pthread_mutex_lock(&p->mu);
    while (flag ? !*flag : p->n_text < min_text)
        if (pthread_cond_timedwait(&p->cv, &p->mu, &ts) == ETIMEDOUT) fail_msg("timed out waiting for the scheduler");
    pthread_mutex_unlock(&p->mu);
}

static void release_hold(probe *p)
{
    pthread_mutex_lock(&p->mu);
    p->hold = false;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

static rk_sink sink_for(probe *p)
{
    return (rk_sink){.on_start = on_start, .on_text = on_text, .on_done = on_done, .user = p};
}

static rk_request *completion(const char *model, const char *prompt, int max_tokens)
{
    rk_request *r = request_new();
    r->kind = RK_KIND_COMPLETION;
    r->model = strdup(model);
    r->prompt.text = strdup(prompt);
    r->max_tokens = max_tokens;
    r->sampling.temperature = 0;
    r->sampling.repeat_penalty = 1;
    return r;
}

static void config_for(rk_config *c, int parallel, int max_queue)
{
    config_defaults(c);
    for (int i = 0; i < c->n_model_dirs; i++) free(c->model_dirs[i]);
    free(c->model_dirs);
    c->model_dirs = calloc(1, sizeof *c->model_dirs);
    c->model_dirs[0] = strdup(g_dir);
    c->n_model_dirs = 1;
    c->parallel = parallel;
    c->max_queue = max_queue;
    c->threads = 1;
}

static sched *start(rk_config *c)
{
    char err[512];
    sched *s = sched_new(c, err, sizeof err);
    if (!s) fail_msg("sched_new: %s", err);
    return s;
}

/* Runs one request to completion. */
static void run(sched *s, rk_request *r, probe *p)
{
    probe_init(p);
    rk_sink sink = sink_for(p);
    rk_error e;
    sched_job *j = sched_submit(s, r, &sink, &e);
    if (!j) fail_msg("submit: %d %s", e.status, e.message);
    wait_for(p, &p->done, 0);
    sched_release(j);
}

static void test_listing_and_unknown(void **state)
{
    (void)state;
    rk_config c;
    config_for(&c, 1, 4);
    sched *s = start(&c);
    sched_model_status *ms;
    int n = sched_models(s, false, &ms);
    assert_int_equal(n, 3); /* two models and a broken one */
    sched_models_free(ms, n);
    assert_int_equal(sched_models(s, true, &ms), 0);
    sched_models_free(ms, 0);
    sched_model_status st;
    rk_error e;
    assert_int_equal(sched_lookup(s, "qwen3-q8", &st, &e), 0); /* by file name */
    assert_string_equal(st.arch, "qwen3");
    assert_false(st.loaded);
    sched_status_clear(&st);
    assert_int_equal(sched_lookup(s, "nothing-like-it", &st, &e), -1);
    assert_int_equal(e.status, 404);

    probe p;
    probe_init(&p);
    rk_sink sink = sink_for(&p);
    assert_null(sched_submit(s, completion("nothing-like-it", "x", 1), &sink, &e));
    assert_int_equal(e.status, 404);
    assert_string_equal(e.code, "model_not_found");
    probe_free(&p);
    sched_free(s);
    config_free(&c);
}

static void test_events_and_stats(void **state)
{
    (void)state;
    rk_config c;
    config_for(&c, 1, 4);
    sched *s = start(&c);
    probe p;
    run(s, completion("qwen3-q8", "hello there", 6), &p);
    assert_true(p.started);
    assert_int_equal(p.res.error.status, 0);
    assert_int_equal(p.res.finish, TEXTGEN_LENGTH);
    assert_int_equal(p.res.stats.completion_tokens, 6);
    assert_true(p.res.stats.prompt_tokens > 1);
    assert_true(p.len > 0);
    assert_true(p.res.load_ms > 0); /* this request waited for the load */
    assert_true(p.res.ttft_ms <= p.res.total_ms);
    assert_non_null(strstr(p.model, "qwen3"));
    char first[16384];
    memcpy(first, p.text, p.len);
    size_t first_len = p.len;
    probe_free(&p);

    /* greedy: the same again, now with nothing to load and the prompt kept */
    run(s, completion("qwen3-q8", "hello there", 6), &p);
    assert_int_equal(p.len, first_len);
    assert_memory_equal(p.text, first, first_len);
    assert_true(p.res.load_ms == 0);
    assert_int_equal(p.res.stats.reused_tokens, p.res.stats.prompt_tokens - 1);
    probe_free(&p);

    /* a prompt longer than the context is refused before it runs */
    char *big = malloc(40000);
    for (int i = 0; i < 39999; i++) big[i] = "ab c"[i % 4];
    big[39999] = 0;
    run(s, completion("qwen3-q8", big, 2), &p);
    free(big);
    assert_int_equal(p.res.error.status, 400);
    assert_string_equal(p.res.error.code, "context_length_exceeded");
    assert_false(p.started);
    probe_free(&p);
    sched_free(s);
    config_free(&c);
}

static void test_queue_and_cancel(void **state)
{
    (void)state;
    rk_config c;
    config_for(&c, 1, 1);
    sched *s = start(&c);
    rk_error e;
    probe a, b, x;
    probe_init(&a);
    probe_init(&b);
    probe_init(&x);
    a.hold = true;
    rk_sink sa = sink_for(&a), sb = sink_for(&b), sx = sink_for(&x);
    sched_job *ja = sched_submit(s, completion("llama-f32", "a", 200), &sa, &e);
    assert_non_null(ja);
    wait_for(&a, NULL, 1); /* running, held in its first text */
    sched_job *jb = sched_submit(s, completion("llama-f32", "b", 5), &sb, &e);
    assert_non_null(jb);
    sched_totals t;
    sched_get_totals(s, &t);
    assert_int_equal(t.queued, 1);
    assert_int_equal(t.running, 1);
    /* one running plus one waiting is all max_queue 1 allows */
    assert_null(sched_submit(s, completion("llama-f32", "c", 5), &sx, &e));
    assert_int_equal(e.status, 503);
    assert_true(e.retry_after >= 1);

    /* a queued job leaves at once when cancelled */
    sched_cancel(jb);
    assert_true(b.done);
    assert_int_equal(b.res.finish, TEXTGEN_CANCELLED);
    assert_false(b.started);
    sched_get_totals(s, &t);
    assert_int_equal(t.queued, 0);

    /* a running one stops within a token */
    sched_cancel(ja);
    release_hold(&a);
    wait_for(&a, &a.done, 0);
    assert_int_equal(a.res.finish, TEXTGEN_CANCELLED);
    assert_true(a.res.stats.completion_tokens <= 2);
    sched_release(ja);
    sched_release(jb);
    probe_free(&a);
    probe_free(&b);
    probe_free(&x);

    probe p;
    run(s, completion("llama-f32", "d", 3), &p);
    assert_int_equal(p.res.stats.completion_tokens, 3);
    probe_free(&p);
    sched_free(s);
    config_free(&c);
}

static void test_session_choice(void **state)
{
    (void)state;
    rk_config c;
    config_for(&c, 2, 4);
    sched *s = start(&c);
    const char *a = "The lighthouse keeper wrote in his log every night about ships",
               *b = "Counting sheep is a classic way to fall asleep quickly";
    char a2[256], b2[256];
    snprintf(a2, sizeof a2, "%s and storms and the sea", a);
    snprintf(b2, sizeof b2, "%s, or so they say", b);
    probe p;
    run(s, completion("qwen3-q8", a, 2), &p);
    int32_t na = p.res.stats.prompt_tokens;
    probe_free(&p);
    run(s, completion("qwen3-q8", b, 2), &p);
    int32_t nb = p.res.stats.prompt_tokens;
    assert_int_equal(p.res.stats.reused_tokens, 0); /* an empty session, not A's */
    probe_free(&p);
    run(s, completion("qwen3-q8", a2, 2), &p);
    assert_true(p.res.stats.reused_tokens >= na - 2);
    probe_free(&p);
    run(s, completion("qwen3-q8", b2, 2), &p);
    assert_true(p.res.stats.reused_tokens >= nb - 2);
    probe_free(&p);
    sched_free(s);
    config_free(&c);
}

static bool wait_unloaded(sched *s)
{
    for (int i = 0; i < 400; i++) {
        sched_model_status *ms;
        int n = sched_models(s, true, &ms);
        sched_models_free(ms, n);
        if (n == 0) return true;
        usleep(5000);
    }
    return false;
}

static void test_unload(void **state)
{
    (void)state;
    rk_config c;
    config_for(&c, 1, 4);
    sched *s = start(&c);
    rk_error e;
    probe p;
    rk_request *r = completion("qwen3-q8", "x", 2);
    r->has_keep_alive = true;
    r->keep_alive_ms = 0;
    run(s, r, &p);
    probe_free(&p);
    assert_true(wait_unloaded(s));

    run(s, completion("qwen3-q8", "x", 2), &p);
    probe_free(&p);
    sched_model_status *ms;
    int n = sched_models(s, true, &ms);
    assert_int_equal(n, 1);
    assert_true(ms[0].expires_at_ms > 0 && ms[0].expires_at_ms != INT64_MAX);
    assert_true(ms[0].mem_bytes > 0);
    assert_int_equal(ms[0].n_sessions, 1);
    sched_models_free(ms, n);
    assert_int_equal(sched_unload(s, "qwen3-q8", 5000, &e), 0);
    assert_int_equal(sched_unload(s, "qwen3-q8", 5000, &e), 1);
    assert_int_equal(sched_unload(s, "absent", 5000, &e), -1);
    assert_int_equal(e.status, 404);
    sched_free(s);
    config_free(&c);
}

static void test_failures(void **state)
{
    (void)state;
    rk_config c;
    config_for(&c, 1, 4);
    sched *s = start(&c);
    probe p;
    run(s, completion("broken", "x", 2), &p);
    assert_int_equal(p.res.error.status, 500);
    assert_non_null(strstr(p.res.error.message, "broken"));
    assert_false(p.started);
    probe_free(&p);
    run(s, completion("qwen3-q8", "x", 2), &p);
    assert_int_equal(p.res.error.status, 0);
    probe_free(&p);
    sched_free(s);
    config_free(&c);

    config_for(&c, 1, 4);
    c.memory_budget = 1024;
    s = start(&c);
    run(s, completion("qwen3-q8", "x", 2), &p);
    assert_int_equal(p.res.error.status, 500);
    assert_non_null(strstr(p.res.error.message, "memory budget"));
    probe_free(&p);
    sched_free(s);
    config_free(&c);
}

static void test_embed(void **state)
{
    (void)state;
    rk_config c;
    config_for(&c, 1, 4);
    sched *s = start(&c);
    rk_request *r = request_new();
    r->kind = RK_KIND_EMBED;
    r->model = strdup("llama-f32");
    r->n_inputs = 2;
    r->inputs = calloc(2, sizeof *r->inputs);
    r->inputs[0].text = strdup("one input");
    r->inputs[1].tokens = malloc(3 * sizeof(int32_t));
    r->inputs[1].tokens[0] = 5;
    r->inputs[1].tokens[1] = 6;
    r->inputs[1].tokens[2] = 7;
    r->inputs[1].n_tokens = 3;
    probe p;
    run(s, r, &p);
    assert_int_equal(p.res.error.status, 0);
    assert_int_equal(p.res.n_embeddings, 2);
    assert_true(p.res.n_embd > 0);
    for (int i = 0; i < 2; i++) {
        double n2 = 0;
        for (int j = 0; j < p.res.n_embd; j++) n2 += p.res.embeddings[i * p.res.n_embd + j] * (double)p.res.embeddings[i * p.res.n_embd + j];
        assert_true(fabs(sqrt(n2) - 1) < 1e-4);
    }
    assert_true(p.res.embed_tokens >= 4);
    probe_free(&p);
    sched_free(s);
    config_free(&c);
}

static void test_shutdown(void **state)
{
    (void)state;
    rk_config c;
    config_for(&c, 1, 4);
    sched *s = start(&c);
    rk_error e;
    probe a, b;
    probe_init(&a);
    probe_init(&b);
    a.hold = true;
    rk_sink sa = sink_for(&a), sb = sink_for(&b);
    sched_job *ja = sched_submit(s, completion("llama-f32", "a", 100), &sa, &e);
    wait_for(&a, NULL, 1);
    sched_job *jb = sched_submit(s, completion("llama-f32", "b", 5), &sb, &e);
    assert_non_null(jb);
    sched_shutdown(s);
    assert_true(b.done);
    assert_int_equal(b.res.error.status, 503);
    release_hold(&a);
    wait_for(&a, &a.done, 0);
    assert_int_equal(a.res.finish, TEXTGEN_CANCELLED);
    probe x;
    probe_init(&x);
    rk_sink sx = sink_for(&x);
    assert_null(sched_submit(s, completion("llama-f32", "c", 1), &sx, &e));
    assert_int_equal(e.status, 503);
    sched_release(ja);
    sched_release(jb);
    sched_free(s);
    probe_free(&a);
    probe_free(&b);
    probe_free(&x);
    config_free(&c);
}

static int setup(void **state)
{
    (void)state;
    const char *build = getenv("RKSERVE_BUILD_DIR");
    const char *models = getenv("RKSERVE_TEST_MODELS");
    char src[512];
    if (models) snprintf(src, sizeof src, "%s", models);
    else snprintf(src, sizeof src, "%s/test-models", build ? build : ".");
    snprintf(g_dir, sizeof g_dir, "/tmp/rk_sched_XXXXXX");
    if (!mkdtemp(g_dir)) return -1;
    const char *names[] = {"qwen3-q8.gguf", "llama-f32.gguf"};
    for (int i = 0; i < 2; i++) {
        char from[600], to[600];
        snprintf(from, sizeof from, "%s/%s", src, names[i]);
        snprintf(to, sizeof to, "%s/%s", g_dir, names[i]);
        if (access(from, R_OK) != 0) {
            fprintf(stderr, "missing %s (run the models/synth-tiny test first)\n", from);
            return -1;
        }
        if (symlink(from, to) != 0) return -1;
    }
    /* a GGUF header promising tensors the file does not hold */
    char bad[600];
    snprintf(bad, sizeof bad, "%s/broken.gguf", g_dir);
    FILE *f = fopen(bad, "wb");
    unsigned char hdr[64] = {'G', 'G', 'U', 'F', 3, 0, 0, 0, 5, 0, 0, 0, 0, 0, 0, 0, 9};
    fwrite(hdr, 1, sizeof hdr, f);
    fclose(f);
    /* the registry must not look at the user's caches */
    setenv("HF_HUB_CACHE", g_dir, 1);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    const char *names[] = {"qwen3-q8.gguf", "llama-f32.gguf", "broken.gguf"};
    for (int i = 0; i < 3; i++) {
        char p[600];
        snprintf(p, sizeof p, "%s/%s", g_dir, names[i]);
        unlink(p);
    }
    rmdir(g_dir);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_listing_and_unknown), cmocka_unit_test(test_events_and_stats),
        cmocka_unit_test(test_queue_and_cancel),    cmocka_unit_test(test_session_choice),
        cmocka_unit_test(test_unload),              cmocka_unit_test(test_failures),
        cmocka_unit_test(test_embed),               cmocka_unit_test(test_shutdown),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
