/* The rkllm engine: engine.h over librkllmrt. A model holds the runtime
 * library and the init parameters; each session owns one runtime handle
 * (multi-instance), so sessions run in parallel while a handle only ever
 * sees one call at a time. A session remembers the text its handle holds
 * (prompts fed plus text generated, kept by keep_history); a prompt that
 * extends it sends only the new part, any other prompt clears the KV cache
 * first, so nothing leaks between conversations. */
#include "engine/rkllm/rkllm_engine.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "engine/rkllm/rkllm_cache.h"
#include "engine/rkllm/rkllm_runtime.h"
#include "format/gguf.h"
#include "util/strbuf.h"

#define DEFAULT_CTX 4096

static pthread_mutex_t g_cfg_lock = PTHREAD_MUTEX_INITIALIZER;
static char g_lib[1024];
static char g_img[3][64] = {"<|vision_start|>", "<|vision_end|>", "<|image_pad|>"};

void rkllm_engine_set_library(const char *path)
{
    pthread_mutex_lock(&g_cfg_lock);
    snprintf(g_lib, sizeof g_lib, "%s", path ? path : "");
    pthread_mutex_unlock(&g_cfg_lock);
}

void rkllm_engine_set_image_tags(const char *start, const char *end, const char *content)
{
    pthread_mutex_lock(&g_cfg_lock);
    snprintf(g_img[0], sizeof g_img[0], "%s", start ? start : "<|vision_start|>");
    snprintf(g_img[1], sizeof g_img[1], "%s", end ? end : "<|vision_end|>");
    snprintf(g_img[2], sizeof g_img[2], "%s", content ? content : "<|image_pad|>");
    pthread_mutex_unlock(&g_cfg_lock);
}

struct engine_model {
    rkllm_runtime *rt;
    char *path;
    char name[128], arch[32];
    char *chat_template, *bos_text, *eos_text; /* from a GGUF's metadata (the emulator's models) */
    int32_t n_ctx, n_ctx_train, n_embd, n_vocab;
    uint64_t weight_bytes;
    char img[3][64];
    rkllm_init_req init;
    pthread_mutex_t lock;
    rkllm_handle_t spare; /* made at load to check the model; the first session takes it */
};

struct engine_session {
    engine_model *m;
    rkllm_handle_t h;
    strbuf hist;          /* text the handle's KV cache holds */
    int32_t hist_tokens;  /* its tokens, as the runtime counted them */
    bool cache_loaded;    /* a prompt cache is under the history */
    bool hist_pending;    /* hist is a prompt the runtime has not read (max_tokens 0): only save uses it */
    bool thinking;
    const char *lora;
    char lora_name[64];
    rkllm_sampling init_sampling; /* 1.2: sampling is fixed at init */
    bool init_ignore_eos;         /* 1.3: so is ignore_eos_token */
    char init_img[3][64];         /* 1.2: and the image tags */
};

/* ---- model -------------------------------------------------------------------- */

static char *dup_str(gguf_str s)
{
    char *p = malloc(s.len + 1);
    if (p) {
        memcpy(p, s.ptr, s.len);
        p[s.len] = 0;
    }
    return p;
}

static char *token_text(const gguf_file *g, const char *id_key)
{
    uint32_t id;
    const gguf_kv *arr = gguf_get_arr(g, "tokenizer.ggml.tokens", GGUF_TYPE_STRING);
    if (!arr || !arr->v.arr.strs || !gguf_get_u32(g, id_key, &id) || id >= arr->v.arr.n) return NULL;
    return dup_str(arr->v.arr.strs[id]);
}

/* The emulator runs GGUF files named .rkllm: their metadata describes the
 * model for the server (template, BOS/EOS, widths). Real .rkllm files carry
 * none of this in a documented form; the server's sidecar fills in. */
static void read_gguf_meta(engine_model *m)
{
    char err[256];
    gguf_file *g = gguf_open(m->path, err, sizeof err);
    if (!g) return;
    gguf_str s;
    char key[96];
    if (gguf_get_cstr(g, "general.architecture", m->arch, sizeof m->arch)) {
        uint32_t v;
        snprintf(key, sizeof key, "%s.embedding_length", m->arch);
        if (gguf_get_u32(g, key, &v)) m->n_embd = (int32_t)v;
        snprintf(key, sizeof key, "%s.context_length", m->arch);
        if (gguf_get_u32(g, key, &v)) m->n_ctx_train = (int32_t)v;
    }
    gguf_get_cstr(g, "general.name", m->name, sizeof m->name);
    if (gguf_get_str(g, "tokenizer.chat_template", &s)) m->chat_template = dup_str(s);
    const gguf_kv *toks = gguf_get_arr(g, "tokenizer.ggml.tokens", GGUF_TYPE_STRING);
    if (toks) m->n_vocab = (int32_t)toks->v.arr.n;
    m->bos_text = token_text(g, "tokenizer.ggml.bos_token_id");
    m->eos_text = token_text(g, "tokenizer.ggml.eos_token_id");
    gguf_close(g);
}

static int online_cpus(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

static void free_model(engine_model *m)
{
    if (!m) return;
    if (m->spare) rkllm_rt_destroy(m->rt, m->spare);
    rkllm_runtime_close(m->rt);
    free(m->path);
    free(m->chat_template);
    free(m->bos_text);
    free(m->eos_text);
    pthread_mutex_destroy(&m->lock);
    free(m);
}

static int on_result(rkllm_result *r, void *user, rkllm_enum_t state);

static rkllm_handle_t new_handle(engine_model *m, char *err, size_t errlen)
{
    rkllm_handle_t h = NULL;
    if (rkllm_rt_init(m->rt, &h, &m->init, on_result) != 0 || !h) {
        snprintf(err, errlen,
                 "the RKLLM runtime (%s, ABI %s) could not load %s: check that it was converted for this "
                 "runtime version and SoC, and that the NPU driver is recent enough (rkserve doctor)",
                 rkllm_runtime_path(m->rt), rkllm_runtime_family(m->rt) == RKLLM_FAMILY_1_2 ? "1.2" : "1.3",
                 m->path);
        return NULL;
    }
    /* The server renders chat templates itself: the runtime must add nothing. */
    rkllm_rt_set_chat_template(m->rt, h, "", "", "");
    return h;
}

static engine_model *rk_load(const engine_load_params *p, char *err, size_t errlen)
{
    struct stat st;
    if (stat(p->path, &st) != 0) {
        snprintf(err, errlen, "cannot open %s", p->path);
        return NULL;
    }
    engine_model *m = calloc(1, sizeof *m);
    if (!m) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    pthread_mutex_init(&m->lock, NULL);
    m->path = strdup(p->path);
    m->weight_bytes = (uint64_t)st.st_size;
    char lib[sizeof g_lib];
    pthread_mutex_lock(&g_cfg_lock);
    memcpy(lib, g_lib, sizeof lib);
    memcpy(m->img, g_img, sizeof m->img);
    pthread_mutex_unlock(&g_cfg_lock);
    if (p->runtime_lib && *p->runtime_lib) snprintf(lib, sizeof lib, "%s", p->runtime_lib);
    const char *tags[3] = {p->image_start, p->image_end, p->image_content};
    for (int i = 0; i < 3; i++)
        if (tags[i]) snprintf(m->img[i], sizeof m->img[i], "%s", tags[i]);
    if (!m->path || !(m->rt = rkllm_runtime_open(lib, err, errlen))) goto fail;

    const char *base = strrchr(p->path, '/');
    snprintf(m->name, sizeof m->name, "%s", base ? base + 1 : p->path);
    read_gguf_meta(m);
    /* The context is fixed when the model is converted; its name says it. */
    int32_t named = rkllm_ctx_from_name(p->path);
    if (!m->n_ctx_train) m->n_ctx_train = named;
    m->n_ctx = p->n_ctx > 0 ? p->n_ctx : named > 0 ? named : m->n_ctx_train > 0 ? m->n_ctx_train : DEFAULT_CTX;
    if (p->n_ctx <= 0 && named <= 0 && m->n_ctx > DEFAULT_CTX) m->n_ctx = DEFAULT_CTX;

    rkllm_init_req *q = &m->init;
    q->model_path = m->path;
    q->max_context_len = m->n_ctx;
    q->max_new_tokens = m->n_ctx;
    q->n_keep = -1;
    q->sampling = (rkllm_sampling){.top_k = 1, .top_p = 1.0f, .temperature = 0.0f, .repeat_penalty = 1.0f};
    q->skip_special_token = true;
    q->img_start = m->img[0];
    q->img_end = m->img[1];
    q->img_content = m->img[2];
    q->embed_flash = 1;
    q->base_domain_id = 0;
    q->n_batch = 1; /* one sequence per handle: parallel sessions use more handles */
    const char *dt = getenv("RKSERVE_DT_COMPATIBLE");
    q->enabled_cpus_mask = rkllm_default_cpu_mask(dt && *dt ? dt : "/proc/device-tree/compatible");
    int n_threads = p->n_threads > 0                ? p->n_threads
                    : q->enabled_cpus_mask != 0     ? __builtin_popcount(q->enabled_cpus_mask)
                                                    : online_cpus();
    q->enabled_cpus_num = (int8_t)(n_threads > 8 ? 8 : n_threads);
    m->spare = new_handle(m, err, errlen);
    if (!m->spare) goto fail;
    return m;
fail:
    free_model(m);
    return NULL;
}

static void rk_unload(engine_model *m)
{
    free_model(m);
}

static void rk_info(const engine_model *m, engine_info *out)
{
    memset(out, 0, sizeof *out);
    out->engine = "rkllm";
    out->arch = m->arch[0] ? m->arch : "rkllm";
    out->name = m->name;
    out->chat_template = m->chat_template;
    out->bos_text = m->bos_text;
    out->eos_text = m->eos_text;
    out->n_ctx_train = m->n_ctx_train;
    out->n_ctx = m->n_ctx;
    out->n_vocab = m->n_vocab;
    out->n_embd = m->n_embd;
    out->weight_bytes = m->weight_bytes;
    out->has_tokenizer = false;
    out->concurrent_sessions = true; /* one runtime handle per session */
}

static int64_t rk_tokenize(const engine_model *m, const char *text, size_t len, bool add_bos, bool parse_special,
                           int32_t *out, int64_t cap)
{
    (void)m, (void)text, (void)len, (void)add_bos, (void)parse_special, (void)out, (void)cap;
    return -1; /* the runtime tokenizes internally */
}

static int rk_token_to_piece(const engine_model *m, int32_t token, bool render_special, char *buf, size_t cap)
{
    (void)m, (void)token, (void)render_special, (void)buf, (void)cap;
    return -1;
}

static bool rk_is_eog(const engine_model *m, int32_t token)
{
    (void)m, (void)token;
    return false; /* the runtime stops at end of generation itself */
}

/* ---- sessions ----------------------------------------------------------------- */

static engine_session *rk_session_new(engine_model *m, char *err, size_t errlen)
{
    engine_session *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    s->m = m;
    pthread_mutex_lock(&m->lock);
    s->h = m->spare;
    m->spare = NULL;
    pthread_mutex_unlock(&m->lock);
    if (!s->h) s->h = new_handle(m, err, errlen);
    if (!s->h) {
        free(s);
        return NULL;
    }
    s->init_sampling = m->init.sampling;
    memcpy(s->init_img, m->img, sizeof s->init_img);
    return s;
}

/* Callers free a session only when no call on it is running (engine.h), so
 * rkllm_destroy never meets an active run: the vendor runtime hangs then. */
static void rk_session_free(engine_session *s)
{
    if (!s) return;
    rkllm_rt_destroy(s->m->rt, s->h);
    free(s->hist.p);
    free(s);
}

static void forget(engine_session *s)
{
    s->hist.len = 0;
    if (s->hist.p) s->hist.p[0] = 0;
    s->hist_tokens = 0;
    s->hist_pending = false;
}

static void clear_context(engine_session *s)
{
    rkllm_rt_clear_kv_cache(s->m->rt, s->h, false);
    if (s->cache_loaded) rkllm_rt_release_prompt_cache(s->m->rt, s->h);
    s->cache_loaded = false;
    forget(s);
}

static void rk_session_reset(engine_session *s)
{
    clear_context(s);
}

/* ---- runs --------------------------------------------------------------------- */

typedef struct {
    engine_session *s;
    const engine_gen_params *p;
    engine_token_fn on_token;
    void *user;
    strbuf gen;             /* text generated */
    int32_t n_gen;
    int32_t max_tokens;     /* < 0: no limit of ours */
    engine_finish finish;   /* set when the engine stopped the run */
    bool error;
    bool aborted;
    rkllm_perf_stat perf;
    float *pool;            /* embedding mode: n_embd sums */
    int32_t n_embd, pooled_tokens;
    /* prefill-time cancel watcher */
    pthread_mutex_t wlock;
    pthread_cond_t wcond;
    bool done;
} run_state;

static bool cancel_raised(const engine_gen_params *p)
{
    return p && p->cancel && atomic_load(p->cancel);
}

static void stop_run(run_state *rs, engine_finish why)
{
    if (rs->aborted) return;
    rs->finish = why;
    rs->aborted = true;
    /* from the runtime's own callback thread, the one call the vendor
     * examples make while a run is active */
    rkllm_rt_abort(rs->s->m->rt, rs->s->h);
}

static int on_result(rkllm_result *r, void *user, rkllm_enum_t state)
{
    run_state *rs = user;
    if (!rs) return 0;
    if (state == RKLLM_ABI_RUN_ERROR) {
        rs->error = true;
        return 0;
    }
    if (state == RKLLM_ABI_RUN_FINISH) {
        if (r) rs->perf = r->perf;
        return 0;
    }
    if (!r) return 0;
    if (rs->pool) {
        const rkllm_result_hidden *hl = &r->last_hidden_layer;
        if (hl->hidden_states && hl->num_tokens > 0 && hl->embd_size == rs->n_embd) {
            for (int t = 0; t < hl->num_tokens; t++)
                for (int j = 0; j < hl->embd_size; j++)
                    rs->pool[j] += hl->hidden_states[(size_t)t * hl->embd_size + j];
            rs->pooled_tokens += hl->num_tokens;
        } else if (hl->hidden_states) {
            rs->error = true;
        }
        return 0;
    }
    if (rs->aborted) return 0;
    if (cancel_raised(rs->p)) {
        stop_run(rs, ENGINE_FINISH_CANCELLED);
        return 0;
    }
    /* WAITING: the runtime holds bytes of an unfinished character back and
     * hands them over with the next NORMAL piece; the token still counts. */
    const char *text = state == RKLLM_ABI_RUN_NORMAL && r->text ? r->text : "";
    size_t len = strlen(text);
    rs->n_gen++;
    strbuf_add(&rs->gen, text, len);
    if (!rs->on_token(rs->user, r->token_id, text, len)) stop_run(rs, ENGINE_FINISH_STOPPED);
    else if (rs->max_tokens >= 0 && rs->n_gen >= rs->max_tokens) stop_run(rs, ENGINE_FINISH_LENGTH);
    return 0;
}

/* Prefill sends no callbacks, so a cancel then is seen by this watcher. */
static void *watch_cancel(void *arg)
{
    run_state *rs = arg;
    pthread_mutex_lock(&rs->wlock);
    while (!rs->done) {
        if (cancel_raised(rs->p)) rkllm_rt_abort(rs->s->m->rt, rs->s->h);
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 10 * 1000 * 1000;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&rs->wcond, &rs->wlock, &ts);
    }
    pthread_mutex_unlock(&rs->wlock);
    return NULL;
}

static int run(run_state *rs, rkllm_run_req *q)
{
    engine_session *s = rs->s;
    pthread_t watcher;
    bool watching = false;
    pthread_mutex_init(&rs->wlock, NULL);
    pthread_cond_init(&rs->wcond, NULL);
    if (rs->p && rs->p->cancel) watching = pthread_create(&watcher, NULL, watch_cancel, rs) == 0;
    int rc = rkllm_rt_run(s->m->rt, s->h, q, rs);
    if (watching) {
        pthread_mutex_lock(&rs->wlock);
        rs->done = true;
        pthread_cond_signal(&rs->wcond);
        pthread_mutex_unlock(&rs->wlock);
        pthread_join(watcher, NULL);
    }
    pthread_cond_destroy(&rs->wcond);
    pthread_mutex_destroy(&rs->wlock);
    return rc;
}

static bool to_sampling(const engine_gen_params *p, rkllm_sampling *out, char *err, size_t errlen)
{
    const sampler_params *sp = &p->sampling;
    if (p->logits_filter || sp->n_logit_bias > 0) {
        snprintf(err, errlen, "the NPU runtime cannot constrain or bias tokens (no access to logits)");
        return false;
    }
    bool greedy = sp->temperature <= 0;
    out->top_k = greedy ? 1 : sp->top_k > 0 ? sp->top_k : 0;
    out->top_p = sp->top_p > 0 && sp->top_p < 1 ? sp->top_p : 1.0f;
    out->temperature = greedy ? 0.0f : sp->temperature;
    out->repeat_penalty = sp->repeat_penalty > 0 ? sp->repeat_penalty : 1.0f;
    out->frequency_penalty = sp->frequency_penalty;
    out->presence_penalty = sp->presence_penalty;
    return true;
}

/* 1.2 fixes sampling and the image tags at init, 1.3 ignore_eos_token: a
 * request that asks for others gets a new handle (and so a fresh context).
 * img: the tags the request's images need, or NULL. */
static int ensure_sampling(engine_session *s, const rkllm_sampling *want, bool ignore_eos, char (*img)[64],
                           char *err, size_t errlen)
{
    bool v12 = rkllm_runtime_family(s->m->rt) == RKLLM_FAMILY_1_2;
    bool same_img = !v12 || !img || memcmp(img, s->init_img, sizeof s->init_img) == 0;
    if (same_img &&
        (v12 ? memcmp(want, &s->init_sampling, sizeof *want) == 0 : ignore_eos == s->init_ignore_eos))
        return 0;
    rkllm_init_req q = s->m->init;
    if (v12) q.sampling = *want;
    q.ignore_eos_token = ignore_eos;
    /* the tags live in the session, in case the runtime keeps the pointers */
    char old_img[3][64];
    memcpy(old_img, s->init_img, sizeof old_img);
    if (v12 && img) memcpy(s->init_img, img, sizeof s->init_img);
    if (v12) {
        q.img_start = s->init_img[0];
        q.img_end = s->init_img[1];
        q.img_content = s->init_img[2];
    }
    rkllm_handle_t h = NULL;
    if (rkllm_rt_init(s->m->rt, &h, &q, on_result) != 0 || !h) {
        memcpy(s->init_img, old_img, sizeof old_img);
        snprintf(err, errlen, "the RKLLM runtime could not re-initialise %s with new sampling", s->m->path);
        return -1;
    }
    rkllm_rt_set_chat_template(s->m->rt, h, "", "", "");
    rkllm_rt_destroy(s->m->rt, s->h);
    s->h = h;
    if (v12) s->init_sampling = *want;
    s->init_ignore_eos = ignore_eos;
    s->cache_loaded = false;
    forget(s);
    return 0;
}

/* What marks an image in a multimodal prompt: fixed by the runtime. */
#define RKLLM_IMAGE_MARKER "<image>"

/* text with every `from` replaced by `to` (malloc'd), or NULL. */
static char *replace_all(const char *text, const char *from, const char *to)
{
    strbuf b = {0};
    size_t lf = strlen(from);
    bool ok = true;
    for (const char *p = strstr(text, from); p && ok; p = strstr(text, from)) {
        ok = strbuf_add(&b, text, (size_t)(p - text)) && strbuf_add_str(&b, to);
        text = p + lf;
    }
    if (!ok || !strbuf_add_str(&b, text)) {
        free(b.p);
        return NULL;
    }
    return b.p;
}

static int rk_generate_text(engine_session *s, const char *prompt, const engine_gen_params *p,
                            engine_token_fn on_token, void *user, engine_stats *stats, char *err, size_t errlen)
{
    engine_model *m = s->m;
    memset(stats, 0, sizeof *stats);
    if (!prompt || !*prompt) {
        snprintf(err, errlen, "the prompt is empty");
        return -1;
    }
    /* The tags each image's embeddings are wrapped in: the request's
     * (its vision preset's), else the model's. 1.3 takes them per run, 1.2
     * at init (ensure_sampling makes a handle with them). */
    char img[3][64];
    if (p->n_spans > 0) {
        const char *want[3] = {p->image_start, p->image_end, p->image_content};
        for (int i = 0; i < 3; i++) {
            const char *t = want[i] ? want[i] : m->img[i];
            if (strlen(t) >= sizeof img[i]) {
                snprintf(err, errlen, "the image tag \"%.40s...\" is too long for the NPU runtime", t);
                return -1;
            }
            snprintf(img[i], sizeof img[i], "%s", t);
        }
    }
    rkllm_sampling smp;
    if (!to_sampling(p, &smp, err, errlen) ||
        ensure_sampling(s, &smp, p->ignore_eos, p->n_spans > 0 ? img : NULL, err, errlen) != 0)
        return -1;
    if (p->max_tokens == 0 || cancel_raised(p)) {
        /* a prompt with images cannot be re-fed as text for a cache */
        if (p->max_tokens == 0 && !cancel_raised(p) && p->n_spans > 0) {
            clear_context(s);
        } else if (p->max_tokens == 0 && !cancel_raised(p)) {
            /* "prefill only", which a prompt cache is built from: the
             * runtime reads the prompt when save asks for its cache */
            clear_context(s);
            if (!strbuf_add_str(&s->hist, prompt)) {
                snprintf(err, errlen, "out of memory");
                return -1;
            }
            s->hist_pending = true;
        }
        stats->finish = p->max_tokens == 0 ? ENGINE_FINISH_LENGTH : ENGINE_FINISH_CANCELLED;
        return 0;
    }
    rkllm_run_req q = {.mode = RKLLM_ABI_INFER_GENERATE, .input_type = RKLLM_ABI_INPUT_PROMPT, .role = "user",
                       .enable_thinking = s->thinking, .keep_history = p->n_spans > 0 ? 0 : 1,
                       .lora_name = s->lora, .sampling = &smp};
    bool family13 = rkllm_runtime_family(m->rt) == RKLLM_FAMILY_1_3;
    q.max_new_tokens = p->max_tokens > 0 ? p->max_tokens : m->n_ctx;

    /* Images: spans fill the prompt's image markers in order. They change
     * what a prefix means, so such prompts start clean and keep no history
     * (the text would be an incomplete account of the cache). */
    float *embd = NULL;
    char *marked = NULL;
    if (p->n_spans > 0) {
        int32_t per = p->spans[0].n_tokens;
        for (int32_t i = 1; i < p->n_spans; i++) {
            if (p->spans[i].n_tokens != per) {
                snprintf(err, errlen, "the NPU runtime takes images of one size per prompt");
                return -1;
            }
        }
        if (m->n_embd <= 0) {
            snprintf(err, errlen, "the model's embedding width is unknown, so images cannot be passed");
            return -1;
        }
        size_t one = (size_t)per * m->n_embd;
        embd = malloc(one * p->n_spans * sizeof(float));
        if (!embd) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        for (int32_t i = 0; i < p->n_spans; i++) memcpy(embd + one * i, p->spans[i].embd, one * sizeof(float));
        q.input_type = RKLLM_ABI_INPUT_MULTIMODAL;
        q.image_embed = embd;
        q.n_image_tokens = (size_t)per;
        q.n_image = (size_t)p->n_spans;
        q.img_start = img[0];
        q.img_end = img[1];
        q.img_content = img[2];
        /* the runtime looks for its own marker */
        if (p->image_marker && *p->image_marker && strcmp(p->image_marker, RKLLM_IMAGE_MARKER) != 0) {
            marked = replace_all(prompt, p->image_marker, RKLLM_IMAGE_MARKER);
            if (!marked) {
                free(embd);
                snprintf(err, errlen, "out of memory");
                return -1;
            }
            prompt = marked;
        }
    }

    size_t plen = strlen(prompt);
    bool extends = q.input_type == RKLLM_ABI_INPUT_PROMPT && !s->hist_pending && s->hist.len > 0 && plen > s->hist.len &&
                   memcmp(prompt, s->hist.p, s->hist.len) == 0;
    if (extends) {
        stats->reused_tokens = s->hist_tokens;
        q.prompt = prompt + s->hist.len;
    } else {
        if (s->hist.len > 0 || s->cache_loaded) clear_context(s);
        q.prompt = prompt;
    }
    run_state rs = {.s = s, .p = p, .on_token = on_token, .user = user,
                    .max_tokens = family13 ? -1 : p->max_tokens};
    int rc = run(&rs, &q);
    free(embd);
    free(marked);
    stats->prefill_ms = rs.perf.prefill_time_ms;
    stats->decode_ms = rs.perf.generate_time_ms;
    stats->prompt_tokens = stats->reused_tokens + rs.perf.prefill_tokens;
    stats->completion_tokens = rs.n_gen;
    if (rc != 0 || rs.error) {
        clear_context(s);
        free(rs.gen.p);
        snprintf(err, errlen, "the RKLLM runtime failed the run (rkllm_run returned %d%s)", rc,
                 rs.error ? ", error state" : "");
        return -1;
    }
    if (rs.aborted) {
        stats->finish = rs.finish;
    } else {
        stats->finish = p->max_tokens > 0 && rs.n_gen >= p->max_tokens ? ENGINE_FINISH_LENGTH : ENGINE_FINISH_EOG;
        if (cancel_raised(p)) stats->finish = ENGINE_FINISH_CANCELLED;
    }
    if (stats->finish == ENGINE_FINISH_CANCELLED || q.input_type != RKLLM_ABI_INPUT_PROMPT) {
        /* a cancelled run may have stopped inside the prefill, and images
         * make the text an incomplete account of the cache: start clean */
        clear_context(s);
    } else {
        if (!extends) forget(s);
        strbuf_add(&s->hist, q.prompt, strlen(q.prompt));
        strbuf_add(&s->hist, rs.gen.p ? rs.gen.p : "", rs.gen.len);
        s->hist_tokens += rs.perf.prefill_tokens + rs.n_gen;
    }
    free(rs.gen.p);
    return 0;
}

/* The token path: the runtime takes token ids as they are, in a fresh context. */
static int rk_generate(engine_session *s, const int32_t *prompt, int64_t n_prompt, const engine_gen_params *p,
                       engine_token_fn on_token, void *user, engine_stats *stats, char *err, size_t errlen)
{
    memset(stats, 0, sizeof *stats);
    if (n_prompt <= 0 || p->n_spans > 0) {
        snprintf(err, errlen, n_prompt <= 0 ? "the prompt is empty" : "images need the text path");
        return -1;
    }
    rkllm_sampling smp;
    if (!to_sampling(p, &smp, err, errlen) || ensure_sampling(s, &smp, p->ignore_eos, NULL, err, errlen) != 0) return -1;
    clear_context(s);
    if (p->max_tokens == 0) {
        stats->finish = ENGINE_FINISH_LENGTH;
        return 0;
    }
    bool family13 = rkllm_runtime_family(s->m->rt) == RKLLM_FAMILY_1_3;
    rkllm_run_req q = {.mode = RKLLM_ABI_INFER_GENERATE, .input_type = RKLLM_ABI_INPUT_TOKEN, .role = "user",
                       .tokens = prompt, .n_tokens = (size_t)n_prompt, .keep_history = 0, .lora_name = s->lora,
                       .sampling = &smp, .max_new_tokens = p->max_tokens > 0 ? p->max_tokens : s->m->n_ctx};
    run_state rs = {.s = s, .p = p, .on_token = on_token, .user = user,
                    .max_tokens = family13 ? -1 : p->max_tokens};
    int rc = run(&rs, &q);
    free(rs.gen.p);
    stats->prompt_tokens = (int32_t)n_prompt;
    stats->completion_tokens = rs.n_gen;
    stats->prefill_ms = rs.perf.prefill_time_ms;
    stats->decode_ms = rs.perf.generate_time_ms;
    clear_context(s);
    if (rc != 0 || rs.error) {
        snprintf(err, errlen, "the RKLLM runtime failed the run (rkllm_run returned %d)", rc);
        return -1;
    }
    stats->finish = rs.aborted ? rs.finish
                    : p->max_tokens > 0 && rs.n_gen >= p->max_tokens ? ENGINE_FINISH_LENGTH
                                                                     : ENGINE_FINISH_EOG;
    return 0;
}

static int rk_embed_text(engine_session *s, const char *text, float *out, char *err, size_t errlen)
{
    engine_model *m = s->m;
    if (m->n_embd <= 0) {
        snprintf(err, errlen, "the model's embedding width is unknown");
        return -1;
    }
    if (!text || !*text) {
        snprintf(err, errlen, "the input is empty");
        return -1;
    }
    clear_context(s);
    run_state rs = {.s = s, .n_embd = m->n_embd, .max_tokens = -1};
    rs.pool = calloc((size_t)m->n_embd, sizeof(float));
    if (!rs.pool) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    rkllm_run_req q = {.mode = RKLLM_ABI_INFER_GET_LAST_HIDDEN_LAYER, .input_type = RKLLM_ABI_INPUT_PROMPT,
                       .role = "user", .prompt = text, .keep_history = 0};
    int rc = run(&rs, &q);
    clear_context(s);
    if (rc != 0 || rs.error || rs.pooled_tokens == 0) {
        free(rs.pool);
        snprintf(err, errlen, "the RKLLM runtime returned no hidden states (rkllm_run returned %d)", rc);
        return -1;
    }
    double norm = 0;
    for (int32_t j = 0; j < m->n_embd; j++) {
        double v = (double)rs.pool[j] / rs.pooled_tokens;
        out[j] = (float)v;
        norm += v * v;
    }
    norm = norm > 0 ? sqrt(norm) : 1;
    for (int32_t j = 0; j < m->n_embd; j++) out[j] = (float)(out[j] / norm);
    free(rs.pool);
    return 0;
}

static int rk_embed(engine_session *s, const int32_t *tokens, int64_t n, float *out, char *err, size_t errlen)
{
    (void)s, (void)tokens, (void)n, (void)out;
    snprintf(err, errlen, "the rkllm engine embeds text (embed_text), not token ids");
    return -1;
}

/* ---- prompt caches ------------------------------------------------------------ */

static rkllm_cache_id cache_id(const engine_session *s)
{
    return (rkllm_cache_id){.model_path = s->m->path, .family = (int)rkllm_runtime_family(s->m->rt),
                            .runtime_version = rkllm_runtime_version(s->m->rt)};
}

static bool stop_first(void *user, int32_t token, const char *piece, size_t len)
{
    (void)user, (void)token, (void)piece, (void)len;
    return false;
}

/* The runtime saves a cache only while it prefills a prompt, so the kept
 * text is fed again with the save flag and the run stops at its first token. */
static int rk_save(engine_session *s, const char *path, char *err, size_t errlen)
{
    if (s->hist.len == 0) {
        snprintf(err, errlen, "the session holds no prompt to save");
        return -1;
    }
    char *text = strdup(s->hist.p);
    char raw[4096];
    snprintf(raw, sizeof raw, "%s.rt.%ld", path, (long)getpid());
    if (!text) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    clear_context(s);
    rkllm_sampling smp = s->init_sampling;
    rkllm_run_req q = {.mode = RKLLM_ABI_INFER_GENERATE, .input_type = RKLLM_ABI_INPUT_PROMPT, .role = "user",
                       .prompt = text, .keep_history = 0, .save_prompt_cache = raw, .sampling = &smp,
                       .max_new_tokens = 1};
    engine_gen_params none = {.max_tokens = 1};
    run_state rs = {.s = s, .p = &none, .on_token = stop_first, .max_tokens = 1};
    int rc = run(&rs, &q);
    free(rs.gen.p);
    clear_context(s);
    if (rc != 0 || rs.error) {
        snprintf(err, errlen, "the RKLLM runtime failed to save a prompt cache (rkllm_run returned %d)", rc);
        unlink(raw);
        free(text);
        return -1;
    }
    rkllm_cache_id id = cache_id(s);
    rc = rkllm_cache_wrap(path, raw, &id, text, err, errlen);
    unlink(raw);
    free(text);
    return rc;
}

static int rk_restore(engine_session *s, const char *path, char *err, size_t errlen)
{
    char raw[4096];
    snprintf(raw, sizeof raw, "%s.rt.%ld", path, (long)getpid());
    rkllm_cache_id id = cache_id(s);
    char *text = NULL;
    clear_context(s);
    if (rkllm_cache_unwrap(path, &id, raw, &text, err, errlen) != 0) return -1;
    int rc = rkllm_rt_load_prompt_cache(s->m->rt, s->h, raw);
    unlink(raw);
    if (rc != 0) {
        free(text);
        clear_context(s);
        snprintf(err, errlen, "the RKLLM runtime refused the prompt cache %s", path);
        return -1;
    }
    s->cache_loaded = true;
    forget(s);
    strbuf_add_str(&s->hist, text);
    free(text);
    return 0;
}

/* The runtime does not expose its tokens: there is no token prefix to show. */
static int64_t rk_kept_tokens(const engine_session *s, const int32_t **tokens)
{
    (void)s;
    *tokens = NULL;
    return 0;
}

/* The conversation text the runtime holds, for choosing the session a
 * prompt continues (the runtime's tokens are not visible). */
static size_t rk_kept_text(const engine_session *s, const char **text)
{
    *text = s->hist.p ? s->hist.p : "";
    return s->hist_pending ? 0 : s->hist.len;
}

/* ---- engine-private API -------------------------------------------------------- */

int rkllm_engine_set_function_tools(engine_session *s, const char *system_prompt, const char *tools_json,
                                    const char *tool_response_tag)
{
    clear_context(s);
    return rkllm_rt_set_function_tools(s->m->rt, s->h, system_prompt ? system_prompt : "",
                                       tools_json ? tools_json : "", tool_response_tag ? tool_response_tag : "");
}

void rkllm_engine_set_thinking(engine_session *s, bool enable)
{
    s->thinking = enable;
}

int rkllm_engine_load_lora(engine_session *s, const char *path, const char *name, float scale, char *err,
                           size_t errlen)
{
    if (rkllm_rt_load_lora(s->m->rt, s->h, path, name, scale) != 0) {
        snprintf(err, errlen, "the RKLLM runtime could not load the LoRA adapter %s", path);
        return -1;
    }
    snprintf(s->lora_name, sizeof s->lora_name, "%s", name);
    s->lora = s->lora_name;
    clear_context(s);
    return 0;
}

const engine_ops rkllm_engine_ops = {
    .name = "rkllm",
    .load = rk_load,
    .unload = rk_unload,
    .info = rk_info,
    .tokenize = rk_tokenize,
    .token_to_piece = rk_token_to_piece,
    .is_eog = rk_is_eog,
    .session_new = rk_session_new,
    .session_free = rk_session_free,
    .session_reset = rk_session_reset,
    .generate = rk_generate,
    .embed = rk_embed,
    .save = rk_save,
    .restore = rk_restore,
    .kept_tokens = rk_kept_tokens,
    .kept_text = rk_kept_text,
    .generate_text = rk_generate_text,
    .embed_text = rk_embed_text,
};
