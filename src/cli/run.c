/* rkserve run: generate from a model, once or as a chat: through a running
 * server when MODEL is a name and one answers (run_remote.c), else with the
 * model loaded in this process. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "cli/commands.h"
#include "cli/run.h"
#include "cli/run_vision.h"
#include "core/config.h"
#include "core/registry.h"
#include "core/chat_format.h"
#include "core/textgen.h"
#include "engine/engine.h"
#include "util/strbuf.h"
#include "engine/cpu/sampler.h"

atomic_bool run_interrupted;

static void on_sigint(int sig)
{
    (void)sig;
    atomic_store(&run_interrupted, true);
}

static void run_usage(FILE *out)
{
    fprintf(out,
            "usage: rkserve run MODEL [options]\n\n"
            "Generates a completion of PROMPT (-p), or chats interactively without -p.\n"
            "The completion streams to stdout; load and speed figures go to stderr.\n\n"
            "MODEL is a model file, or a name (qwen3:0.6b). A name goes to the rkserve\n"
            "server at RKSERVE_HOST (default 127.0.0.1:8080) when one is running; else it\n"
            "is looked up in the models directories (RKSERVE_MODELS, ~/.rkserve/models)\n"
            "and the Hugging Face cache, and run in this process.\n\n"
            "options:\n"
            "  -p, --prompt TEXT      the prompt (without it: interactive chat)\n"
            "  -s, --system TEXT      a system message for chat formatting\n"
            "  -n, --max-tokens N     tokens to generate at most (default: until the model stops)\n"
            "      --raw              send the prompt as is, without the chat template\n"
            "      --temp T           temperature, 0 = greedy (default 0.8)\n"
            "      --top-k K          keep the K most likely tokens (default 40, 0 = off)\n"
            "      --top-p P          nucleus sampling threshold (default 0.9, 1 = off)\n"
            "      --min-p P          drop tokens below P x the best one's probability (default 0)\n"
            "      --repeat-penalty R penalty for recently seen tokens (default 1.1, 1 = off)\n"
            "      --repeat-last-n N  window for the penalty (default 64, -1 = all)\n"
            "      --seed S           random seed (default: from the clock)\n"
            "  -t, --threads N        compute threads (default: all cores)\n"
            "  -c, --ctx N            context length (default: the model's, at most 4096)\n"
            "  -q, --quiet            no timings on stderr\n"
            "      --local            run in this process even when a server is up\n"
            "      --image FILE       attach an image (JPEG, PNG, WebP) to the prompt; repeatable\n"
            "  -h, --help             this text\n\n"
            "In the chat: end a line with \\ to continue it, or wrap lines in \"\"\";\n"
            "/image FILE attaches an image to the next message, /clear forgets the\n"
            "conversation, /bye (or Ctrl-D) exits, Ctrl-C stops an answer.\n");
}

static bool parse_int(const char *s, int32_t *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < -2147483647L || v > 2147483647L) return false;
    *out = (int32_t)v;
    return true;
}

static bool parse_float(const char *s, float *out)
{
    char *end;
    errno = 0;
    float v = strtof(s, &end);
    if (errno || end == s || *end) return false;
    *out = v;
    return true;
}

static int parse_run_options(int argc, char **argv, run_options *o)
{
    enum { OPT_RAW = 256, OPT_TEMP, OPT_TOPK, OPT_TOPP, OPT_MINP, OPT_REPEAT, OPT_REPEAT_N, OPT_SEED, OPT_LOCAL, OPT_IMAGE };
    static const struct option longopts[] = {
        {"prompt", required_argument, 0, 'p'},     {"system", required_argument, 0, 's'},
        {"max-tokens", required_argument, 0, 'n'}, {"raw", no_argument, 0, OPT_RAW},
        {"temp", required_argument, 0, OPT_TEMP},  {"top-k", required_argument, 0, OPT_TOPK},
        {"top-p", required_argument, 0, OPT_TOPP}, {"min-p", required_argument, 0, OPT_MINP},
        {"repeat-penalty", required_argument, 0, OPT_REPEAT},
        {"repeat-last-n", required_argument, 0, OPT_REPEAT_N},
        {"seed", required_argument, 0, OPT_SEED},  {"threads", required_argument, 0, 't'},
        {"ctx", required_argument, 0, 'c'},        {"quiet", no_argument, 0, 'q'},
        {"local", no_argument, 0, OPT_LOCAL},      {"image", required_argument, 0, OPT_IMAGE},
        {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0},
    };
    memset(o, 0, sizeof *o);
    o->max_tokens = -1;
    o->sampling = sampler_default_params();
    o->sampling.seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, "p:s:n:t:c:qh", longopts, NULL)) != -1) {
        bool ok = true;
        int32_t iv;
        switch (c) {
        case 'p': o->prompt = optarg; break;
        case 's': o->system = optarg; break;
        case 'n': ok = parse_int(optarg, &o->max_tokens); break;
        case 't': ok = parse_int(optarg, &o->n_threads) && o->n_threads > 0; break;
        case 'c': ok = parse_int(optarg, &o->n_ctx) && o->n_ctx > 0; break;
        case 'q': o->quiet = true; break;
        case OPT_RAW: o->raw = true; break;
        case OPT_LOCAL: o->local = true; break;
        case OPT_IMAGE:
            ok = o->n_images < RUN_MAX_IMAGES;
            if (ok) o->images[o->n_images++] = optarg;
            break;
        case OPT_TEMP: ok = parse_float(optarg, &o->sampling.temperature); break;
        case OPT_TOPK: ok = parse_int(optarg, &o->sampling.top_k); break;
        case OPT_TOPP: ok = parse_float(optarg, &o->sampling.top_p); break;
        case OPT_MINP: ok = parse_float(optarg, &o->sampling.min_p); break;
        case OPT_REPEAT: ok = parse_float(optarg, &o->sampling.repeat_penalty); break;
        case OPT_REPEAT_N: ok = parse_int(optarg, &o->sampling.repeat_last_n); break;
        case OPT_SEED:
            ok = parse_int(optarg, &iv);
            o->sampling.seed = (uint64_t)(int64_t)iv;
            break;
        case 'h': run_usage(stdout); return 1;
        default: run_usage(stderr); return -1;
        }
        if (!ok) {
            fprintf(stderr, "rkserve run: invalid value '%s'\n", optarg);
            return -1;
        }
    }
    if (optind != argc - 1) {
        fprintf(stderr, "rkserve run: give exactly one MODEL\n\n");
        run_usage(stderr);
        return -1;
    }
    o->model = argv[optind];
    return 0;
}

/* ---- the loaded model ------------------------------------------------- */

typedef struct {
    const engine_ops *ops;
    engine_model *model;
    engine_session *session;
    engine_info info;
    chat_format chat;
    double load_ms;
    run_vision vision;
    bool has_vision;       /* the encoder opened (images can be attached) */
    bool vision_tried;     /* opened on the first image only: text chats do not pay for it */
    char vision_err[512];
    const char *path;
    int32_t n_threads;
} runner;

/* The model's vision encoder, opened when the first image needs it. */
static bool vision_ready(runner *r)
{
    if (!r->vision_tried) {
        r->vision_tried = true;
        r->has_vision = run_vision_open(&r->vision, r->path, r->ops, r->model, &r->info, r->n_threads, r->vision_err,
                                        sizeof r->vision_err) == 0;
    }
    return r->has_vision;
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static bool emit_text(void *user, const char *text, size_t len)
{
    (void)user;
    fwrite(text, 1, len, stdout);
    fflush(stdout);
    return !atomic_load(&run_interrupted);
}

static bool collect_text(void *user, const char *text, size_t len)
{
    return strbuf_add(user, text, len) && emit_text(NULL, text, len);
}

static void print_timings(const runner *r, const textgen_result *res)
{
    const engine_stats *st = &res->engine;
    int32_t prefilled = st->prompt_tokens - st->reused_tokens;
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    fprintf(stderr,
            "\n[load %.0f ms | prompt %d tokens (%d reused), %.1f ms, %.1f tok/s | "
            "decode %d tokens, %.1f ms, %.1f tok/s | %s | peak RSS %.1f MB]\n",
            r->load_ms, st->prompt_tokens, st->reused_tokens, st->prefill_ms,
            st->prefill_ms > 0 ? prefilled * 1e3 / st->prefill_ms : 0.0, st->completion_tokens, st->decode_ms,
            st->decode_ms > 0 && st->completion_tokens > 1 ? (st->completion_tokens - 1) * 1e3 / st->decode_ms : 0.0,
            textgen_finish_name(res->finish), ru.ru_maxrss / 1024.0);
}

/* Generates from a tokenized prompt (spans: its images' embeddings). */
static int run_tokens(runner *r, const run_options *o, const int32_t *toks, int64_t n, const engine_embd_span *spans,
                      int n_spans, strbuf *reply)
{
    const char *stops[8];
    int n_stop = 0;
    if (!o->raw) n_stop = chat_builtin_stops(r->chat.family, stops, 8);
    textgen_params p = {
        .gen = {.sampling = o->sampling, .max_tokens = o->max_tokens, .n_keep = -1, .cancel = &run_interrupted},
        .stop = stops,
        .n_stop = n_stop,
    };
    p.gen.spans = spans;
    p.gen.n_spans = n_spans;
    textgen_result res;
    char err[512];
    atomic_store(&run_interrupted, false);
    int rc = textgen_run(r->ops, r->session, toks, n, &p, reply ? collect_text : emit_text, reply, &res, err,
                         sizeof err);
    if (rc != 0) {
        fprintf(stderr, "rkserve run: %s\n", err);
        return -1;
    }
    if (!o->quiet) print_timings(r, &res);
    else putchar('\n');
    return 0;
}

static int generate(runner *r, const run_options *o, const char *text, bool add_bos, strbuf *reply)
{
    int32_t *toks = NULL;
    int64_t n = engine_tokenize_alloc(r->ops, r->model, text, add_bos, &toks);
    if (n < 0) {
        fprintf(stderr, "rkserve run: cannot tokenize the prompt\n");
        return -1;
    }
    int rc = run_tokens(r, o, toks, n, NULL, 0, reply);
    free(toks);
    return rc;
}

/* A conversation whose user messages carry images (RK_IMAGE_MARK). */
static int generate_with_images(runner *r, const run_options *o, const chat_message *msgs, int n_msgs, strbuf *reply)
{
    int32_t *toks;
    int64_t n;
    engine_embd_span *spans;
    int n_spans;
    vision_batch vb;
    char err[512];
    if (run_vision_prompt(&r->vision, r->ops, r->model, &r->info, &r->chat, msgs, n_msgs, o->raw, &toks, &n, &spans,
                          &n_spans, &vb, err, sizeof err) != 0) {
        fprintf(stderr, "rkserve run: %s\n", err);
        return -1;
    }
    int rc = run_tokens(r, o, toks, n, spans, n_spans, reply);
    free(toks);
    free(spans);
    vision_batch_free(&vb);
    return rc;
}

/* text with one image mark per image in front, as Ollama places them */
static char *with_marks(const char *text, int n_marks)
{
    size_t len = strlen(text);
    char *out = malloc(len + (size_t)n_marks + 1);
    if (!out) return NULL;
    memset(out, RK_IMAGE_MARK[0], (size_t)n_marks);
    memcpy(out + n_marks, text, len + 1);
    return out;
}

/* ---- interactive chat ------------------------------------------------- */

char *run_read_message(void)
{
    strbuf b = {0};
    char line[8192];
    bool block = false;
    for (;;) {
        fputs(b.len || block ? "... " : ">>> ", stdout);
        fflush(stdout);
        if (!fgets(line, sizeof line, stdin)) {
            if (errno == EINTR || atomic_load(&run_interrupted)) {
                clearerr(stdin);
                atomic_store(&run_interrupted, false);
                fputs("\n(use /bye or Ctrl-D to leave)\n", stdout);
                b.len = 0;
                block = false;
                continue;
            }
            free(b.p);
            return NULL;
        }
        size_t len = strlen(line);
        if (len && line[len - 1] == '\n') line[--len] = 0;
        if (!strcmp(line, "\"\"\"") || (!block && !b.len && !strncmp(line, "\"\"\"", 3))) {
            if (block) break;
            block = true;
            if (len > 3 && (!strbuf_add(&b, line + 3, len - 3) || !strbuf_add(&b, "\n", 1))) break;
            continue;
        }
        bool cont = !block && len && line[len - 1] == '\\';
        if (cont) line[--len] = 0;
        if (!strbuf_add(&b, line, len)) break;
        if (block || cont) {
            if (!strbuf_add(&b, "\n", 1)) break;
            continue;
        }
        break;
    }
    if (!b.p) b.p = strdup("");
    return b.p;
}

static void free_history(chat_message *h, int n)
{
    for (int i = 0; i < n; i++) free((char *)h[i].content);
}

static int chat_loop(runner *r, const run_options *o)
{
    chat_message history[512];
    int n = 0, pending_images = 0;
    if (o->system) history[n++] = (chat_message){"system", strdup(o->system)};
    for (int i = 0; i < o->n_images; i++)
        if (run_vision_add(&r->vision, o->images[i]) == 0) pending_images++;
    for (;;) {
        char *msg = run_read_message();
        if (!msg) break;
        if (!strcmp(msg, "/bye")) { free(msg); break; }
        if (!strcmp(msg, "/clear")) {
            free(msg);
            free_history(history + (o->system ? 1 : 0), n - (o->system ? 1 : 0));
            n = o->system ? 1 : 0;
            r->ops->session_reset(r->session);
            if (r->has_vision) run_vision_clear(&r->vision);
            pending_images = 0;
            puts("Cleared the conversation.");
            continue;
        }
        if (!strncmp(msg, "/image ", 7)) {
            const char *file = msg + 7;
            while (*file == ' ') file++;
            if (!vision_ready(r)) printf("This model reads no images: %s\n", r->vision_err);
            else if (run_vision_add(&r->vision, file) == 0) {
                pending_images++;
                printf("Added image '%s' to the next message.\n", file);
            }
            free(msg);
            continue;
        }
        if (!*msg) { free(msg); continue; }
        if (pending_images) {
            char *marked = with_marks(msg, pending_images);
            free(msg);
            if (!marked) break;
            msg = marked;
            pending_images = 0;
        }
        if (n + 2 > (int)(sizeof history / sizeof history[0])) {
            puts("The conversation is too long; /clear to start again.");
            free(msg);
            continue;
        }
        history[n++] = (chat_message){"user", msg};
        strbuf reply = {0};
        int rc;
        if (r->has_vision && r->vision.n_images > 0) {
            rc = generate_with_images(r, o, history, n, &reply);
        } else {
            char err[512];
            char *prompt = chat_format_render(&r->chat, history, n, true, err, sizeof err);
            if (!prompt) fprintf(stderr, "rkserve run: %s\n", err);
            rc = prompt ? generate(r, o, prompt, engine_prompt_wants_bos(&r->info, prompt), &reply) : -1;
            free(prompt);
        }
        if (rc != 0) {
            free(reply.p);
            free((char *)history[--n].content);
            continue;
        }
        history[n++] = (chat_message){"assistant", reply.p ? reply.p : strdup("")};
        fputc('\n', stdout);
    }
    free_history(history, n);
    return 0;
}

static int run_local(const run_options *o);
static int run_named(run_options *o, const rk_endpoint *ep);

int cmd_run(int argc, char **argv)
{
    run_options o;
    int pr = parse_run_options(argc, argv, &o);
    if (pr != 0) return pr > 0 ? 0 : 2;

    struct sigaction sa = {0};
    sa.sa_handler = on_sigint;
    sigaction(SIGINT, &sa, NULL); /* no SA_RESTART: Ctrl-C interrupts a read */

    /* a name (qwen3:0.6b) rather than a path to a file */
    size_t ml = strlen(o.model);
    bool looks_like_path = strchr(o.model, '/') || (ml > 5 && !strcmp(o.model + ml - 5, ".gguf")) ||
                           (ml > 6 && !strcmp(o.model + ml - 6, ".rkllm"));
    if (!looks_like_path && access(o.model, F_OK) != 0) {
        rk_endpoint ep;
        endpoint_from_env(&ep);
        if (!o.local && endpoint_is_up(&ep, 1000)) return run_remote(&ep, &o);
        return run_named(&o, &ep);
    }
    return run_local(&o);
}

/* A model name without a server: the registry finds its file. */
static int run_named(run_options *o, const rk_endpoint *ep)
{
    rk_config cfg;
    char err[1024];
    config_defaults(&cfg);
    char *argv0[] = {"run", NULL};
    extern char **environ;
    if (config_load(&cfg, 1, argv0, environ, err, sizeof err) != 0) {
        fprintf(stderr, "rkserve run: %s\n", err);
        config_free(&cfg);
        return 1;
    }
    registry *reg = registry_new((const char *const *)cfg.model_dirs, cfg.n_model_dirs, NULL);
    const registry_entry *ent = NULL;
    registry_status st = REGISTRY_NO_MEMORY;
    if (reg && registry_scan(reg, err, sizeof err) >= 0) st = registry_resolve(reg, o->model, &ent, err, sizeof err);
    int rc = 1;
    if (st == REGISTRY_OK) {
        char *path = strdup(ent->path);
        registry_entry_release(ent);
        if (path) {
            o->model = path;
            rc = run_local(o);
            free(path);
        }
    } else if (st == REGISTRY_NOT_FOUND) {
        fprintf(stderr,
                "rkserve run: '%s' is neither a file nor a model in the models directories, and no server "
                "answers at %s:%s\n",
                o->model, ep->host, ep->port);
    } else {
        fprintf(stderr, "rkserve run: %s\n", err[0] ? err : "cannot look the model up");
    }
    registry_free(reg);
    config_free(&cfg);
    return rc;
}

static int run_local(const run_options *po)
{
    run_options o = *po;
    runner r = {0};
    r.ops = engine_for_path(o.model);
    if (!r.ops) {
        fprintf(stderr, "rkserve run: %s: %s\n", o.model,
                access(o.model, R_OK) != 0 ? strerror(errno) : "not a model file this build can run (expected GGUF)");
        return 1;
    }
    char err[1024];
    double t0 = now_ms();
    engine_load_params lp = {.path = o.model, .n_ctx = o.n_ctx, .n_threads = o.n_threads};
    r.model = r.ops->load(&lp, err, sizeof err);
    if (!r.model) {
        fprintf(stderr, "rkserve run: %s\n", err);
        return 1;
    }
    r.session = r.ops->session_new(r.model, err, sizeof err);
    if (!r.session) {
        fprintf(stderr, "rkserve run: %s\n", err);
        r.ops->unload(r.model);
        return 1;
    }
    r.load_ms = now_ms() - t0;
    r.ops->info(r.model, &r.info);
    char warn[512];
    chat_format_init(&r.chat, r.info.chat_template, r.info.arch, r.info.bos_text, r.info.eos_text, warn,
                     sizeof warn);
    if (warn[0] && !o.raw) fprintf(stderr, "rkserve run: %s\n", warn);
    r.path = o.model;
    r.n_threads = o.n_threads;
    if (o.n_images && !vision_ready(&r)) {
        fprintf(stderr, "rkserve run: cannot read images: %s\n", r.vision_err);
        chat_format_free(&r.chat);
        r.ops->session_free(r.session);
        r.ops->unload(r.model);
        return 1;
    }


    int rc = 0;
    if (o.prompt && o.n_images) {
        chat_message msgs[2];
        int n = 0;
        if (o.system) msgs[n++] = (chat_message){"system", o.system};
        char *marked = o.raw ? strdup(o.prompt) : with_marks(o.prompt, o.n_images);
        msgs[n++] = (chat_message){"user", marked};
        for (int i = 0; rc == 0 && i < o.n_images; i++) rc = run_vision_add(&r.vision, o.images[i]);
        if (rc == 0) rc = marked ? generate_with_images(&r, &o, msgs, n, NULL) : -1;
        free(marked);
    } else if (o.prompt && o.raw) {
        rc = generate(&r, &o, o.prompt, true, NULL);
    } else if (o.prompt) {
        chat_message msgs[2];
        int n = 0;
        if (o.system) msgs[n++] = (chat_message){"system", o.system};
        msgs[n++] = (chat_message){"user", o.prompt};
        char *prompt = chat_format_render(&r.chat, msgs, n, true, err, sizeof err);
        if (!prompt) fprintf(stderr, "rkserve run: %s\n", err);
        rc = prompt ? generate(&r, &o, prompt, engine_prompt_wants_bos(&r.info, prompt), NULL) : -1;
        free(prompt);
    } else {
        if (!o.quiet)
            fprintf(stderr, "%s (%s, %d-token context, %s chat format) loaded in %.0f ms\n", r.info.name,
                    r.info.arch, r.info.n_ctx, r.chat.tmpl ? "the model's own" : chat_builtin_name(r.chat.family),
                    r.load_ms);
        rc = chat_loop(&r, &o);
    }
    if (r.has_vision) run_vision_close(&r.vision);
    chat_format_free(&r.chat);
    r.ops->session_free(r.session);
    r.ops->unload(r.model);
    return rc == 0 ? 0 : 1;
}
