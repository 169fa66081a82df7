/* rkserve bench: prefill and decode speed of a model on this machine, in the
 * shape of llama-bench's pp/tg tests, so bench/llamacpp.mjs can measure
 * llama.cpp the same way on the same file and the same token ids. With
 * --mmproj, the vision tests of bench_vision.c run instead. */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "cli/bench.h"
#include "cli/commands.h"

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
            "  -h, --help             this text\n\n"
            "vision (instead of pp/tg; -n and -r apply):\n"
            "      --mmproj FILE      the vision encoder (GGUF mmproj or .rknn) to measure with MODEL:\n"
            "                         image decode+preprocess and encode time, prefill of a prompt\n"
            "                         with the image's tokens against a text prompt of the same\n"
            "                         length, decode speed after it\n"
            "      --image FILE       the image (default: a generated test image of the encoder's size)\n"
            "      --preset NAME      the vision preset (default: detected as the server does)\n"
            "      --vision-presets FILE  presets to add to the shipped ones (default:\n"
            "                         $RKSERVE_VISION_PRESETS)\n");
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
    enum { OPT_TG_PROMPT = 256, OPT_JSON, OPT_MMPROJ, OPT_IMAGE, OPT_PRESET, OPT_PRESETS_FILE };
    static const struct option longopts[] = {
        {"prompt-tokens", required_argument, 0, 'p'}, {"gen-tokens", required_argument, 0, 'n'},
        {"tg-prompt", required_argument, 0, OPT_TG_PROMPT},
        {"threads", required_argument, 0, 't'},       {"ctx", required_argument, 0, 'c'},
        {"reps", required_argument, 0, 'r'},          {"json", no_argument, 0, OPT_JSON},
        {"mmproj", required_argument, 0, OPT_MMPROJ}, {"image", required_argument, 0, OPT_IMAGE},
        {"preset", required_argument, 0, OPT_PRESET}, {"vision-presets", required_argument, 0, OPT_PRESETS_FILE},
        {"help", no_argument, 0, 'h'},                {0, 0, 0, 0},
    };
    *o = (bench_options){.prompt_tokens = 512, .gen_tokens = 128, .tg_prompt = 16, .reps = 3};
    const char *env_presets = getenv("RKSERVE_VISION_PRESETS");
    if (env_presets && *env_presets) o->presets_file = env_presets;
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
        case OPT_MMPROJ: o->mmproj = optarg; break;
        case OPT_IMAGE: o->image = optarg; break;
        case OPT_PRESET: o->preset = optarg; break;
        case OPT_PRESETS_FILE: o->presets_file = optarg; break;
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
    if (!o->mmproj && (o->image || o->preset)) {
        fprintf(stderr, "rkserve bench: --image and --preset need --mmproj\n");
        return -1;
    }
    return 0;
}

double bench_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + ts.tv_nsec * 1e-6;
}

/* The prompt: splitmix64 from a fixed seed, mapped into [1000, n_vocab) so
 * the ids avoid the special tokens small vocabularies keep at the start.
 * bench/llamacpp.mjs implements the same sequence. */
void bench_tokens(int32_t *out, int32_t n, int32_t n_vocab)
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

static bool on_token(void *user, int32_t token, const char *piece, size_t len)
{
    (void)piece;
    (void)len;
    token_clock *tc = user;
    if (tc->n < tc->cap) {
        tc->times[tc->n] = bench_now_ms() - tc->t0;
        tc->tokens[tc->n] = token;
        tc->n++;
    }
    return tc->n < tc->cap;
}

bool bench_run_once(bench_runner *r, const int32_t *prompt, int32_t n_prompt, int32_t n_gen, engine_stats *st)
{
    r->ops->session_reset(r->session);
    r->gen.max_tokens = n_gen;
    r->clock.n = 0;
    r->clock.cap = n_gen;
    r->clock.t0 = bench_now_ms();
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

double bench_decode_tps(const token_clock *c)
{
    double span = c->times[c->n - 1] - c->times[0];
    return span > 0 ? (c->n - 1) / (span / 1e3) : 0;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double bench_best(const double *v, int n)
{
    double b = v[0];
    for (int i = 1; i < n; i++)
        if (v[i] > b) b = v[i];
    return b;
}

double bench_least(const double *v, int n)
{
    double b = v[0];
    for (int i = 1; i < n; i++)
        if (v[i] < b) b = v[i];
    return b;
}

double bench_median(const double *v, int n)
{
    double *s = malloc((size_t)n * sizeof *s);
    if (!s) return v[0];
    memcpy(s, v, (size_t)n * sizeof *s);
    qsort(s, (size_t)n, sizeof *s, cmp_double);
    double m = n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
    free(s);
    return m;
}

double bench_peak_rss_mb(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru)) return 0;
    return (double)ru.ru_maxrss / 1024.0; /* Linux reports KiB */
}

json_t *bench_json_doubles(const double *v, int n)
{
    json_t *a = json_array();
    for (int i = 0; i < n; i++) json_array_append_new(a, json_real(v[i]));
    return a;
}

typedef struct {
    double *pp, *tg, *pp_engine;
    int32_t first_tokens[8];
    int32_t n_first;
    uint64_t hash;
} bench_result;

/* What every run reports: the engine, the model and the load. */
static json_t *json_header(const bench_options *o, const engine_info *info, double load_ms)
{
    return json_pack("{s:s, s:s, s:s, s:s, s:i, s:i, s:i, s:I, s:I, s:f, s:i, s:i}", "engine", info->engine, "model",
                     o->model, "arch", info->arch ? info->arch : "", "name", info->name ? info->name : "", "n_vocab",
                     info->n_vocab, "n_ctx", info->n_ctx, "threads", o->n_threads, "n_params",
                     (json_int_t)info->n_params, "weight_bytes", (json_int_t)info->weight_bytes, "load_ms", load_ms,
                     "gen_tokens", o->gen_tokens, "reps", o->reps);
}

static void print_header(const bench_options *o, const engine_info *info)
{
    printf("rkserve %s engine, %d threads, %s (%s, %.1fM params, %.1f MB of weights)\n", info->engine, o->n_threads,
           o->model, info->arch, (double)info->n_params / 1e6, (double)info->weight_bytes / 1e6);
}

static void print_json(json_t *j)
{
    json_object_set_new(j, "peak_rss_mb", json_real(bench_peak_rss_mb()));
    char *s = json_dumps(j, JSON_COMPACT);
    if (s) printf("%s\n", s);
    free(s);
}

static void add_text_json(const bench_options *o, const bench_result *res, json_t *j)
{
    char hash[17];
    snprintf(hash, sizeof hash, "%016llx", (unsigned long long)res->hash);
    json_t *first = json_array();
    for (int i = 0; i < res->n_first; i++) json_array_append_new(first, json_integer(res->first_tokens[i]));
    json_object_set_new(j, "prompt_tokens", json_integer(o->prompt_tokens));
    json_object_set_new(j, "tg_prompt_tokens", json_integer(o->tg_prompt));
    json_object_set_new(j, "ids_hash", json_string(hash));
    json_object_set_new(j, "pp_tps", bench_json_doubles(res->pp, o->reps));
    json_object_set_new(j, "pp_tps_best", json_real(bench_best(res->pp, o->reps)));
    json_object_set_new(j, "pp_tps_median", json_real(bench_median(res->pp, o->reps)));
    json_object_set_new(j, "pp_engine_tps", bench_json_doubles(res->pp_engine, o->reps));
    json_object_set_new(j, "tg_tps", bench_json_doubles(res->tg, o->reps));
    json_object_set_new(j, "tg_tps_best", json_real(bench_best(res->tg, o->reps)));
    json_object_set_new(j, "tg_tps_median", json_real(bench_median(res->tg, o->reps)));
    json_object_set_new(j, "tg_first_tokens", first);
}

static void print_text(const bench_options *o, double load_ms, const bench_result *res)
{
    printf("  load %.1f ms, peak RSS %.1f MB, prompt ids hash %016llx\n", load_ms, bench_peak_rss_mb(),
           (unsigned long long)res->hash);
    printf("  pp%d: best %.1f tok/s, median %.1f\n", o->prompt_tokens, bench_best(res->pp, o->reps),
           bench_median(res->pp, o->reps));
    printf("  tg%d: best %.1f tok/s, median %.1f\n", o->gen_tokens, bench_best(res->tg, o->reps),
           bench_median(res->tg, o->reps));
}

/* pp and tg, llama-bench's tests. */
static int bench_text(const bench_options *o, bench_runner *r, const engine_info *info, double load_ms, json_t *json)
{
    int rc = 1;
    bench_result res = {0};
    int32_t *prompt = malloc((size_t)o->prompt_tokens * sizeof *prompt);
    res.pp = calloc((size_t)o->reps, sizeof *res.pp);
    res.tg = calloc((size_t)o->reps, sizeof *res.tg);
    res.pp_engine = calloc((size_t)o->reps, sizeof *res.pp_engine);
    if (!prompt || !res.pp || !res.tg || !res.pp_engine) {
        fprintf(stderr, "rkserve bench: out of memory\n");
        goto out;
    }
    bench_tokens(prompt, o->prompt_tokens, info->n_vocab);
    res.hash = ids_hash(prompt, o->prompt_tokens);

    /* Warm-up: faults the mapped weights in and starts the thread pool. */
    engine_stats st;
    if (!bench_run_once(r, prompt, o->tg_prompt, 4, &st)) goto out;
    for (int32_t i = 0; i < o->reps; i++) {
        if (!bench_run_once(r, prompt, o->prompt_tokens, 1, &st)) goto out;
        res.pp[i] = o->prompt_tokens / (r->clock.times[0] / 1e3);
        res.pp_engine[i] = st.prefill_ms > 0 ? o->prompt_tokens / (st.prefill_ms / 1e3) : 0;
        if (!bench_run_once(r, prompt, o->tg_prompt, o->gen_tokens, &st)) goto out;
        res.tg[i] = bench_decode_tps(&r->clock);
    }
    res.n_first = o->gen_tokens < 8 ? o->gen_tokens : 8;
    memcpy(res.first_tokens, r->clock.tokens, (size_t)res.n_first * sizeof(int32_t));
    if (json)
        add_text_json(o, &res, json);
    else
        print_text(o, load_ms, &res);
    rc = 0;
out:
    free(prompt);
    free(res.pp);
    free(res.tg);
    free(res.pp_engine);
    return rc;
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
    /* The vision tests' prompt length is known only once the image is
     * encoded: they run in the engine's default context unless told, and
     * check that their prompt fits. */
    int32_t need = (o.prompt_tokens > o.tg_prompt + o.gen_tokens ? o.prompt_tokens : o.tg_prompt + o.gen_tokens) + 16;
    if (o.n_ctx == 0 && !o.mmproj) o.n_ctx = need;
    if (o.n_ctx && o.n_ctx < need && !o.mmproj) {
        fprintf(stderr, "rkserve bench: --ctx %d is too small for the tests (they need %d)\n", o.n_ctx, need);
        return 2;
    }
    if (o.n_threads == 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        o.n_threads = n > 0 ? (int32_t)n : 1;
    }

    bench_runner r = {.ops = ops};
    engine_load_params lp = {.path = o.model, .n_ctx = o.n_ctx, .n_threads = o.n_threads, .n_batch = 512};
    double t0 = bench_now_ms();
    engine_model *model = ops->load(&lp, r.err, sizeof r.err);
    if (!model) {
        fprintf(stderr, "rkserve bench: %s\n", r.err);
        return 1;
    }
    engine_info info;
    ops->info(model, &info);
    r.session = ops->session_new(model, r.err, sizeof r.err);
    double load_ms = bench_now_ms() - t0;

    int rc = 1;
    /* room for the warm-up's 4 tokens too */
    int32_t room = o.gen_tokens > 4 ? o.gen_tokens : 4;
    r.clock.times = malloc((size_t)room * sizeof *r.clock.times);
    r.clock.tokens = malloc((size_t)room * sizeof *r.clock.tokens);
    json_t *json = o.json ? json_header(&o, &info, load_ms) : NULL;
    if (!r.session) {
        fprintf(stderr, "rkserve bench: %s\n", r.err);
        goto out;
    }
    if (!r.clock.times || !r.clock.tokens || (o.json && !json)) {
        fprintf(stderr, "rkserve bench: out of memory\n");
        goto out;
    }
    /* Greedy, no penalties: the same work llama.cpp does at temperature 0. */
    r.gen = (engine_gen_params){.n_keep = -1, .ignore_eos = true};
    r.gen.sampling = (sampler_params){.temperature = 0, .top_k = 0, .top_p = 1, .repeat_penalty = 1};

    if (!json) print_header(&o, &info);
    rc = o.mmproj ? bench_vision(&o, &r, model, &info, load_ms, json) : bench_text(&o, &r, &info, load_ms, json);
    if (rc == 0 && json) print_json(json);
out:
    json_decref(json);
    free(r.clock.times);
    free(r.clock.tokens);
    if (r.session) ops->session_free(r.session);
    ops->unload(model);
    return rc;
}
