/* rkserve bench: prefill and decode speed of a model on this machine, in the
 * shape of llama-bench's pp/tg tests, so bench/llamacpp.mjs can measure
 * llama.cpp the same way on the same file and the same token ids. */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "cli/commands.h"
#include "engine/engine.h"

typedef struct {
    const char *model;
    int32_t prompt_tokens;
    int32_t gen_tokens;
    int32_t tg_prompt;
    int32_t n_threads;
    int32_t n_ctx;
    int32_t reps;
    bool json;
} bench_options;

static void bench_usage(FILE *out)
{
    fprintf(out,
            "usage: rkserve bench MODEL.gguf [options]\n\n"
            "Measures prompt processing (pp: a fresh session takes the whole prompt, timed\n"
            "until the first generated token) and text generation (tg: a short prompt, then\n"
            "greedy tokens with end-of-generation ignored, timed from the first token to the\n"
            "last). Prompts are fixed pseudo-random token ids; bench/llamacpp.mjs derives the\n"
            "same ids for llama.cpp.\n\n"
            "options:\n"
            "  -p, --prompt-tokens N  pp prompt length (default 512)\n"
            "  -n, --gen-tokens M     tg tokens to generate (default 128, at least 2)\n"
            "      --tg-prompt K      tg prompt length (default 16)\n"
            "  -t, --threads N        compute threads (default: all cores)\n"
            "  -c, --ctx N            context length (default: what the tests need)\n"
            "  -r, --reps R           repetitions; best and median are reported (default 3)\n"
            "      --json             print one JSON object instead of text\n"
            "  -h, --help             this text\n");
}

static bool parse_int(const char *s, int32_t *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < 0 || v > 2147483647L) return false;
    *out = (int32_t)v;
    return true;
}

static int parse_bench_options(int argc, char **argv, bench_options *o)
{
    enum { OPT_TG_PROMPT = 256, OPT_JSON };
    static const struct option longopts[] = {
        {"prompt-tokens", required_argument, 0, 'p'}, {"gen-tokens", required_argument, 0, 'n'},
        {"tg-prompt", required_argument, 0, OPT_TG_PROMPT},
        {"threads", required_argument, 0, 't'},       {"ctx", required_argument, 0, 'c'},
        {"reps", required_argument, 0, 'r'},          {"json", no_argument, 0, OPT_JSON},
        {"help", no_argument, 0, 'h'},                {0, 0, 0, 0},
    };
    *o = (bench_options){.prompt_tokens = 512, .gen_tokens = 128, .tg_prompt = 16, .reps = 3};
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, "p:n:t:c:r:h", longopts, NULL)) != -1) {
        bool ok = true;
        switch (c) {
        case 'p': ok = parse_int(optarg, &o->prompt_tokens) && o->prompt_tokens >= 1; break;
        case 'n': ok = parse_int(optarg, &o->gen_tokens) && o->gen_tokens >= 2; break;
        case OPT_TG_PROMPT: ok = parse_int(optarg, &o->tg_prompt) && o->tg_prompt >= 1; break;
        case 't': ok = parse_int(optarg, &o->n_threads) && o->n_threads >= 1; break;
        case 'c': ok = parse_int(optarg, &o->n_ctx) && o->n_ctx >= 1; break;
        case 'r': ok = parse_int(optarg, &o->reps) && o->reps >= 1; break;
        case OPT_JSON: o->json = true; break;
        case 'h': bench_usage(stdout); return 1;
        default: bench_usage(stderr); return -1;
        }
        if (!ok) {
            fprintf(stderr, "rkserve bench: invalid value '%s'\n", optarg);
            return -1;
        }
    }
    if (optind != argc - 1) {
        fprintf(stderr, "rkserve bench: give exactly one MODEL file\n\n");
        bench_usage(stderr);
        return -1;
    }
    o->model = argv[optind];
    if (o->tg_prompt > o->prompt_tokens) o->tg_prompt = o->prompt_tokens;
    return 0;
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + ts.tv_nsec * 1e-6;
}

/* The prompt: splitmix64 from a fixed seed, mapped into [1000, n_vocab) so
 * the ids avoid the special tokens small vocabularies keep at the start.
 * bench/llamacpp.mjs implements the same sequence. */
static void bench_tokens(int32_t *out, int32_t n, int32_t n_vocab)
{
    uint64_t state = 0x5eedb0bull;
    int32_t lo = n_vocab > 2000 ? 1000 : 0;
    uint64_t span = (uint64_t)(n_vocab - lo);
    for (int32_t i = 0; i < n; i++) {
        state += 0x9e3779b97f4a7c15ull;
        uint64_t z = state;
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
        z ^= z >> 31;
        out[i] = lo + (int32_t)(z % span);
    }
}

/* FNV-1a over the ids as little-endian int32: both sides print it, so a
 * comparison can check that they fed the same prompt. */
static uint64_t ids_hash(const int32_t *ids, int32_t n)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (int32_t i = 0; i < n; i++) {
        uint32_t v = (uint32_t)ids[i];
        for (int b = 0; b < 4; b++) {
            h ^= (v >> (8 * b)) & 0xffu;
            h *= 0x100000001b3ull;
        }
    }
    return h;
}

/* Records when each generated token arrives. */
typedef struct {
    double t0;
    double *times;
    int32_t *tokens;
    int32_t n, cap;
} token_clock;

static bool on_token(void *user, int32_t token, const char *piece, size_t len)
{
    (void)piece;
    (void)len;
    token_clock *tc = user;
    if (tc->n < tc->cap) {
        tc->times[tc->n] = now_ms() - tc->t0;
        tc->tokens[tc->n] = token;
        tc->n++;
    }
    return tc->n < tc->cap;
}

typedef struct {
    const engine_ops *ops;
    engine_session *session;
    engine_gen_params gen;
    token_clock clock;
    char err[512];
} runner;

/* One generation from a fresh state; returns false on an engine error. */
static bool run_once(runner *r, const int32_t *prompt, int32_t n_prompt, int32_t n_gen, engine_stats *st)
{
    r->ops->session_reset(r->session);
    r->gen.max_tokens = n_gen;
    r->clock.n = 0;
    r->clock.cap = n_gen;
    r->clock.t0 = now_ms();
    if (r->ops->generate(r->session, prompt, n_prompt, &r->gen, on_token, &r->clock, st, r->err, sizeof r->err)) {
        fprintf(stderr, "rkserve bench: %s\n", r->err);
        return false;
    }
    if (r->clock.n < n_gen) {
        fprintf(stderr, "rkserve bench: generation stopped after %d of %d tokens (%s)\n", r->clock.n, n_gen,
                engine_finish_name(st->finish));
        return false;
    }
    return true;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double best_of(const double *v, int n)
{
    double b = v[0];
    for (int i = 1; i < n; i++)
        if (v[i] > b) b = v[i];
    return b;
}

static double median_of(const double *v, int n)
{
    double *s = malloc((size_t)n * sizeof *s);
    if (!s) return v[0];
    memcpy(s, v, (size_t)n * sizeof *s);
    qsort(s, (size_t)n, sizeof *s, cmp_double);
    double m = n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
    free(s);
    return m;
}

static double peak_rss_mb(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru)) return 0;
    return (double)ru.ru_maxrss / 1024.0; /* Linux reports KiB */
}

static json_t *json_doubles(const double *v, int n)
{
    json_t *a = json_array();
    for (int i = 0; i < n; i++) json_array_append_new(a, json_real(v[i]));
    return a;
}

typedef struct {
    double load_ms;
    double *pp, *tg, *pp_engine;
    int32_t first_tokens[8];
    int32_t n_first;
    uint64_t hash;
} bench_result;

static void print_json(const bench_options *o, const engine_info *info, const bench_result *res)
{
    char hash[17];
    snprintf(hash, sizeof hash, "%016llx", (unsigned long long)res->hash);
    json_t *first = json_array();
    for (int i = 0; i < res->n_first; i++) json_array_append_new(first, json_integer(res->first_tokens[i]));
    json_t *j = json_pack("{s:s, s:s, s:s, s:s, s:i, s:i, s:i, s:I, s:I, s:f, s:i, s:i, s:i, s:i, s:s}", "engine",
                          info->engine, "model", o->model, "arch", info->arch ? info->arch : "", "name",
                          info->name ? info->name : "", "n_vocab", info->n_vocab, "n_ctx", info->n_ctx, "threads",
                          o->n_threads, "n_params", (json_int_t)info->n_params, "weight_bytes",
                          (json_int_t)info->weight_bytes, "load_ms", res->load_ms, "prompt_tokens",
                          o->prompt_tokens, "tg_prompt_tokens", o->tg_prompt, "gen_tokens", o->gen_tokens, "reps",
                          o->reps, "ids_hash", hash);
    if (!j) {
        json_decref(first);
        fprintf(stderr, "rkserve bench: cannot build the JSON result\n");
        return;
    }
    json_object_set_new(j, "pp_tps", json_doubles(res->pp, o->reps));
    json_object_set_new(j, "pp_tps_best", json_real(best_of(res->pp, o->reps)));
    json_object_set_new(j, "pp_tps_median", json_real(median_of(res->pp, o->reps)));
    json_object_set_new(j, "pp_engine_tps", json_doubles(res->pp_engine, o->reps));
    json_object_set_new(j, "tg_tps", json_doubles(res->tg, o->reps));
    json_object_set_new(j, "tg_tps_best", json_real(best_of(res->tg, o->reps)));
    json_object_set_new(j, "tg_tps_median", json_real(median_of(res->tg, o->reps)));
    json_object_set_new(j, "tg_first_tokens", first);
    json_object_set_new(j, "peak_rss_mb", json_real(peak_rss_mb()));
    char *s = json_dumps(j, JSON_COMPACT);
    if (s) printf("%s\n", s);
    free(s);
    json_decref(j);
}

static void print_text(const bench_options *o, const engine_info *info, const bench_result *res)
{
    printf("rkserve %s engine, %d threads, %s (%s, %.1fM params, %.1f MB of weights)\n", info->engine, o->n_threads,
           o->model, info->arch, (double)info->n_params / 1e6, (double)info->weight_bytes / 1e6);
    printf("  load %.1f ms, peak RSS %.1f MB, prompt ids hash %016llx\n", res->load_ms, peak_rss_mb(),
           (unsigned long long)res->hash);
    printf("  pp%d: best %.1f tok/s, median %.1f\n", o->prompt_tokens, best_of(res->pp, o->reps),
           median_of(res->pp, o->reps));
    printf("  tg%d: best %.1f tok/s, median %.1f\n", o->gen_tokens, best_of(res->tg, o->reps),
           median_of(res->tg, o->reps));
}

int cmd_bench(int argc, char **argv)
{
    bench_options o;
    int pr = parse_bench_options(argc, argv, &o);
    if (pr) return pr > 0 ? 0 : 2;

    const engine_ops *ops = engine_for_path(o.model);
    if (!ops) {
        fprintf(stderr, "rkserve bench: %s: not a model file any engine handles\n", o.model);
        return 1;
    }
    int32_t need = (o.prompt_tokens > o.tg_prompt + o.gen_tokens ? o.prompt_tokens : o.tg_prompt + o.gen_tokens) + 16;
    if (o.n_ctx == 0) o.n_ctx = need;
    if (o.n_ctx < need) {
        fprintf(stderr, "rkserve bench: --ctx %d is too small for the tests (they need %d)\n", o.n_ctx, need);
        return 2;
    }
    if (o.n_threads == 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        o.n_threads = n > 0 ? (int32_t)n : 1;
    }

    runner r = {.ops = ops};
    engine_load_params lp = {.path = o.model, .n_ctx = o.n_ctx, .n_threads = o.n_threads, .n_batch = 512};
    double t0 = now_ms();
    engine_model *model = ops->load(&lp, r.err, sizeof r.err);
    if (!model) {
        fprintf(stderr, "rkserve bench: %s\n", r.err);
        return 1;
    }
    engine_info info;
    ops->info(model, &info);
    r.session = ops->session_new(model, r.err, sizeof r.err);
    bench_result res = {.load_ms = now_ms() - t0};

    int rc = 1;
    int32_t *prompt = malloc((size_t)o.prompt_tokens * sizeof *prompt);
    r.clock.times = malloc((size_t)o.gen_tokens * sizeof *r.clock.times);
    r.clock.tokens = malloc((size_t)o.gen_tokens * sizeof *r.clock.tokens);
    res.pp = calloc((size_t)o.reps, sizeof *res.pp);
    res.tg = calloc((size_t)o.reps, sizeof *res.tg);
    res.pp_engine = calloc((size_t)o.reps, sizeof *res.pp_engine);
    if (!r.session) {
        fprintf(stderr, "rkserve bench: %s\n", r.err);
        goto out;
    }
    if (!prompt || !r.clock.times || !r.clock.tokens || !res.pp || !res.tg || !res.pp_engine) {
        fprintf(stderr, "rkserve bench: out of memory\n");
        goto out;
    }
    bench_tokens(prompt, o.prompt_tokens, info.n_vocab);
    res.hash = ids_hash(prompt, o.prompt_tokens);

    /* Greedy, no penalties: the same work llama.cpp does at temperature 0. */
    r.gen = (engine_gen_params){.n_keep = -1, .ignore_eos = true};
    r.gen.sampling = (sampler_params){.temperature = 0, .top_k = 0, .top_p = 1, .repeat_penalty = 1};

    /* Warm-up: faults the mapped weights in and starts the thread pool. */
    engine_stats st;
    if (!run_once(&r, prompt, o.tg_prompt, 4, &st)) goto out;
    for (int32_t i = 0; i < o.reps; i++) {
        if (!run_once(&r, prompt, o.prompt_tokens, 1, &st)) goto out;
        res.pp[i] = o.prompt_tokens / (r.clock.times[0] / 1e3);
        res.pp_engine[i] = st.prefill_ms > 0 ? o.prompt_tokens / (st.prefill_ms / 1e3) : 0;
        if (!run_once(&r, prompt, o.tg_prompt, o.gen_tokens, &st)) goto out;
        double span = r.clock.times[o.gen_tokens - 1] - r.clock.times[0];
        res.tg[i] = span > 0 ? (o.gen_tokens - 1) / (span / 1e3) : 0;
    }
    res.n_first = o.gen_tokens < 8 ? o.gen_tokens : 8;
    memcpy(res.first_tokens, r.clock.tokens, (size_t)res.n_first * sizeof(int32_t));
    if (o.json)
        print_json(&o, &info, &res);
    else
        print_text(&o, &info, &res);
    rc = 0;
out:
    free(prompt);
    free(r.clock.times);
    free(r.clock.tokens);
    free(res.pp);
    free(res.tg);
    free(res.pp_engine);
    if (r.session) ops->session_free(r.session);
    ops->unload(model);
    return rc;
}
