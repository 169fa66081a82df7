/* librkllmrt.so on the CPU engine: Rockchip's RKLLM C ABI implemented over
 * engine.h, so the rkllm engine and any program written against the vendor
 * API run on a PC. RKLLM_EMU_FAMILY (12 or 13) picks the ABI family at build
 * time. The "model" is a GGUF file, whatever it is called. Only the vendor's
 * symbols are exported (rkllm_emu.map). docs/EMULATOR.md says what differs
 * from the NPU runtime. */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "emulator/rkllm_emu_cache.h"
#include "emulator/rkllm_emu_hidden.h"
#include "emulator/rkllm_emu_image.h"
#include "engine/engine.h"
#include "engine/rkllm/rkllm_abi.h"

#if RKLLM_EMU_FAMILY == 12
typedef rk12_param emu_param;
typedef rk12_input emu_input;
typedef rk12_infer_param emu_infer;
#define EMU_VERSION "1.2.3"
#elif RKLLM_EMU_FAMILY == 13
typedef rk13_param emu_param;
typedef rk13_input emu_input;
typedef rk13_infer_param emu_infer;
#define EMU_VERSION "1.3.0"
#else
#error "define RKLLM_EMU_FAMILY as 12 or 13"
#endif

#define EXPORT __attribute__((visibility("default")))

/* What rkllm engines (and doctor) read to tell the ABI family, as the vendor
 * library's init log line carries it. */
__attribute__((used)) static const char emu_banner[] =
    "rkllm-runtime version: " EMU_VERSION " (rkserve emulator on the CPU engine)";

typedef struct {
    engine_model *m;
    engine_session *s;
    engine_info info;
    char model_path[1024];
    emu_hidden *hidden; /* for GET_LAST_HIDDEN_LAYER, made on first use */

    rkllm_result_cb cb;
    void *cb_user;
    int32_t max_new_tokens;
    sampler_params sampling;
    bool skip_special;
    bool ignore_eos;
    char *img_start, *img_end, *img_content;

    char *sys, *prefix, *postfix; /* rkllm_set_chat_template */
    char *tools_sys, *tools, *tool_tag; /* rkllm_set_function_tools */

    int32_t *hist; /* tokens of the conversation kept in the context */
    int32_t n_hist, n_sys;
    emu_spans hist_spans; /* images in the kept conversation */
    int32_t *base; /* tokens of a loaded prompt cache, the prefix of every run */
    int32_t n_base, n_base_sys;

    pthread_mutex_t lock; /* one call into the model at a time */
    atomic_bool abort_flag;
    atomic_bool running;
} emu;

static void emu_log(const char *fmt, const char *a, const char *b)
{
    fprintf(stderr, "E rkllm-emu: ");
    fprintf(stderr, fmt, a ? a : "", b ? b : "");
    fputc('\n', stderr);
}

static void set_str(char **dst, const char *s)
{
    free(*dst);
    *dst = s ? strdup(s) : NULL;
}

static void sampling_from(sampler_params *sp, int32_t top_k, float top_p, float temperature, float repeat_penalty,
                          float frequency_penalty, float presence_penalty)
{
    memset(sp, 0, sizeof *sp);
    sp->top_k = top_k;
    sp->top_p = top_p > 0 ? top_p : 1.0f;
    sp->temperature = temperature;
    sp->repeat_penalty = repeat_penalty > 0 ? repeat_penalty : 1.0f;
    sp->repeat_last_n = 64;
    sp->frequency_penalty = frequency_penalty;
    sp->presence_penalty = presence_penalty;
    sp->seed = 0x524b4c4cu;
}

EXPORT emu_param rkllm_createDefaultParam(void)
{
    emu_param p;
    memset(&p, 0, sizeof p);
    p.max_context_len = 512;
    p.max_new_tokens = -1;
    p.top_k = 40;
    p.top_p = 0.9f;
    p.temperature = 0.8f;
    p.repeat_penalty = 1.1f;
    p.mirostat_tau = 5.0f;
    p.mirostat_eta = 0.1f;
    p.skip_special_token = true;
    p.extend_param.n_batch = 1;
    return p;
}

static void emu_free(emu *e)
{
    if (!e) return;
    if (e->s) cpu_engine_ops.session_free(e->s);
    if (e->m) cpu_engine_ops.unload(e->m);
    emu_hidden_free(e->hidden);
    free(e->img_start);
    free(e->img_end);
    free(e->img_content);
    free(e->sys);
    free(e->prefix);
    free(e->postfix);
    free(e->tools_sys);
    free(e->tools);
    free(e->tool_tag);
    free(e->hist);
    free(e->base);
    emu_spans_clear(&e->hist_spans);
    pthread_mutex_destroy(&e->lock);
    free(e);
}

#if RKLLM_EMU_FAMILY == 12
EXPORT int rkllm_init(rkllm_handle_t *handle, emu_param *param, rkllm_result_cb callback)
#else
EXPORT int rkllm_init(rkllm_handle_t *handle, emu_param *param, rk13_callback *callback)
#endif
{
    if (!handle || !param || !param->model_path) return -1;
    *handle = NULL;
    emu *e = calloc(1, sizeof *e);
    if (!e) return -1;
    pthread_mutex_init(&e->lock, NULL);
#if RKLLM_EMU_FAMILY == 12
    e->cb = callback;
    set_str(&e->img_start, param->img_start);
    set_str(&e->img_end, param->img_end);
    set_str(&e->img_content, param->img_content);
#else
    if (callback) {
        e->cb = callback->result_callback;
        e->cb_user = callback->result_userdata;
    }
    e->ignore_eos = param->ignore_eos_token;
#endif
    e->max_new_tokens = param->max_new_tokens;
    e->skip_special = param->skip_special_token;
    sampling_from(&e->sampling, param->top_k, param->top_p, param->temperature, param->repeat_penalty,
                  param->frequency_penalty, param->presence_penalty);
    snprintf(e->model_path, sizeof e->model_path, "%s", param->model_path);
    engine_load_params lp = {.path = param->model_path,
                             .n_ctx = param->max_context_len > 0 ? param->max_context_len : 0,
                             .n_threads = param->extend_param.enabled_cpus_num > 0 ? param->extend_param.enabled_cpus_num : 0};
    char err[512];
    e->m = cpu_engine_ops.load(&lp, err, sizeof err);
    if (e->m) e->s = cpu_engine_ops.session_new(e->m, err, sizeof err);
    if (!e->m || !e->s) {
        emu_log("rkllm_init: %s%s", err, NULL);
        emu_free(e);
        return -1;
    }
    cpu_engine_ops.info(e->m, &e->info);
    e->hist = malloc((size_t)e->info.n_ctx * sizeof(int32_t));
    e->base = malloc((size_t)e->info.n_ctx * sizeof(int32_t));
    if (!e->hist || !e->base) {
        emu_free(e);
        return -1;
    }
    if (getenv("RKLLM_LOG_LEVEL")) fprintf(stderr, "I rkllm: %s\n", emu_banner);
    *handle = e;
    return 0;
}

EXPORT int rkllm_destroy(rkllm_handle_t handle)
{
    emu *e = handle;
    if (!e) return -1;
    /* A run in progress is stopped and waited for, never left running on
     * freed memory. */
    atomic_store(&e->abort_flag, true);
    pthread_mutex_lock(&e->lock);
    pthread_mutex_unlock(&e->lock);
    emu_free(e);
    return 0;
}

EXPORT int rkllm_abort(rkllm_handle_t handle)
{
    emu *e = handle;
    if (!e) return -1;
    atomic_store(&e->abort_flag, true);
    return 0;
}

EXPORT int rkllm_is_running(rkllm_handle_t handle)
{
    emu *e = handle;
    return e && atomic_load(&e->running) ? 1 : 0;
}

EXPORT int rkllm_clear_kv_cache(rkllm_handle_t handle, int keep_system_prompt, int *start_pos, int *end_pos)
{
    emu *e = handle;
    if (!e || atomic_load(&e->running)) return -1;
    if (start_pos || end_pos) return -1; /* ranges: only after a paused run, which the emulator does not keep */
    pthread_mutex_lock(&e->lock);
    e->n_hist = keep_system_prompt ? e->n_sys : 0;
    if (e->n_hist == 0) e->n_sys = 0;
    emu_spans_trim(&e->hist_spans, e->n_hist);
    if (e->n_hist == 0 && e->n_base == 0) cpu_engine_ops.session_reset(e->s);
    pthread_mutex_unlock(&e->lock);
    return 0;
}

EXPORT int rkllm_get_kv_cache_size(rkllm_handle_t handle, int *cache_sizes)
{
    emu *e = handle;
    if (!e || !cache_sizes) return -1;
    cache_sizes[0] = e->n_hist ? e->n_hist : e->n_base;
    return 0;
}

EXPORT int rkllm_set_chat_template(rkllm_handle_t handle, const char *system_prompt, const char *prompt_prefix,
                                   const char *prompt_postfix)
{
    emu *e = handle;
    if (!e) return -1;
    pthread_mutex_lock(&e->lock);
    set_str(&e->sys, system_prompt);
    set_str(&e->prefix, prompt_prefix);
    set_str(&e->postfix, prompt_postfix);
    pthread_mutex_unlock(&e->lock);
    return 0;
}

EXPORT int rkllm_set_function_tools(rkllm_handle_t handle, const char *system_prompt, const char *tools,
                                    const char *tool_response_str)
{
    emu *e = handle;
    if (!e) return -1;
    pthread_mutex_lock(&e->lock);
    set_str(&e->tools_sys, system_prompt);
    set_str(&e->tools, tools);
    set_str(&e->tool_tag, tool_response_str);
    pthread_mutex_unlock(&e->lock);
    return 0;
}

EXPORT int rkllm_set_cross_attn_params(rkllm_handle_t handle, rkllm_cross_attn_param *params)
{
    (void)handle;
    (void)params;
    emu_log("rkllm_set_cross_attn_params: encoder-decoder models are not emulated%s%s", NULL, NULL);
    return -1;
}

EXPORT int rkllm_load_lora(rkllm_handle_t handle, rkllm_lora_adapter *lora_adapter)
{
    (void)handle;
    emu_log("rkllm_load_lora %s: LoRA adapters are not emulated (the CPU engine has none)%s",
            lora_adapter ? lora_adapter->lora_adapter_path : "", NULL);
    return -1;
}

EXPORT int rkllm_load_prompt_cache(rkllm_handle_t handle, const char *prompt_cache_path)
{
    emu *e = handle;
    if (!e || !prompt_cache_path || atomic_load(&e->running)) return -1;
    pthread_mutex_lock(&e->lock);
    char err[512];
    int32_t n_sys = 0;
    int rc = emu_cache_load(prompt_cache_path, e->model_path, RKLLM_EMU_FAMILY, e->s, &n_sys, err, sizeof err);
    if (rc == 0) {
        const int32_t *toks;
        int64_t n = cpu_engine_ops.kept_tokens(e->s, &toks);
        memcpy(e->base, toks, (size_t)n * sizeof(int32_t));
        e->n_base = (int32_t)n;
        e->n_base_sys = n_sys;
        e->n_hist = 0;
        e->n_sys = 0;
        emu_spans_clear(&e->hist_spans);
    } else {
        emu_log("rkllm_load_prompt_cache: %s%s", err, NULL);
        e->n_base = 0;
        e->n_hist = 0;
        emu_spans_clear(&e->hist_spans);
        cpu_engine_ops.session_reset(e->s);
    }
    pthread_mutex_unlock(&e->lock);
    return rc;
}

EXPORT int rkllm_release_prompt_cache(rkllm_handle_t handle)
{
    emu *e = handle;
    if (!e || atomic_load(&e->running)) return -1;
    pthread_mutex_lock(&e->lock);
    e->n_base = 0;
    e->n_hist = 0;
    e->n_sys = 0;
    emu_spans_clear(&e->hist_spans);
    cpu_engine_ops.session_reset(e->s);
    pthread_mutex_unlock(&e->lock);
    return 0;
}

/* ---- a run ------------------------------------------------------------------ */

typedef struct {
    emu *e;
    void *user;
    char pending[64]; /* bytes of a character still incomplete */
    size_t n_pending;
    int32_t *gen;
    int32_t n_gen, cap_gen;
    bool paused;
} run_ctx;

static void fire(emu *e, void *user, int state, const char *text, int32_t token, const rkllm_perf_stat *perf)
{
    if (!e->cb) return;
    rkllm_result r;
    memset(&r, 0, sizeof r);
    r.text = text;
    r.token_id = token;
    if (perf) r.perf = *perf;
    e->cb(&r, user, state);
}

/* True when buf ends inside a multi-byte UTF-8 character. */
static bool ends_mid_char(const char *buf, size_t n)
{
    for (size_t back = 1; back <= 4 && back <= n; back++) {
        unsigned char c = (unsigned char)buf[n - back];
        if ((c & 0xC0) == 0x80) continue; /* continuation byte */
        size_t need = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
        return need > back;
    }
    return false;
}

static bool on_token(void *user, int32_t token, const char *piece, size_t len)
{
    run_ctx *rc = user;
    emu *e = rc->e;
    if (rc->n_gen < rc->cap_gen) rc->gen[rc->n_gen++] = token;
    if (rc->n_pending + len >= sizeof rc->pending) {
        /* not a character any more: hand the bytes over as they are */
        char out[sizeof rc->pending + 256];
        memcpy(out, rc->pending, rc->n_pending);
        size_t n = len < 256 ? len : 256;
        memcpy(out + rc->n_pending, piece, n);
        out[rc->n_pending + n] = 0;
        rc->n_pending = 0;
        rkllm_result r = {.text = out, .token_id = token};
        if (e->cb && e->cb(&r, rc->user, RKLLM_ABI_RUN_NORMAL) == 1) rc->paused = true;
        return !rc->paused;
    }
    memcpy(rc->pending + rc->n_pending, piece, len);
    rc->n_pending += len;
    int state = RKLLM_ABI_RUN_NORMAL;
    char text[sizeof rc->pending + 1];
    if (ends_mid_char(rc->pending, rc->n_pending)) {
        state = RKLLM_ABI_RUN_WAITING;
        text[0] = 0;
    } else {
        memcpy(text, rc->pending, rc->n_pending);
        text[rc->n_pending] = 0;
        rc->n_pending = 0;
    }
    rkllm_result r = {.text = text, .token_id = token};
    /* 1 asks to pause: the emulator ends the run there, keeping what was made */
    if (e->cb && e->cb(&r, rc->user, state) == 1) rc->paused = true;
    return !rc->paused;
}

static float vm_hwm_mb(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) return 0;
    char line[256];
    long kb = 0;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "VmHWM: %ld kB", &kb) == 1) break;
    fclose(f);
    return (float)kb / 1024.0f;
}

/* Appends text to a growable string. */
static bool cat(char **s, size_t *n, const char *t)
{
    if (!t) return true;
    size_t k = strlen(t);
    char *g = realloc(*s, *n + k + 1);
    if (!g) return false;
    memcpy(g + *n, t, k + 1);
    *s = g;
    *n += k;
    return true;
}

/* The vendor way: system prompt once at the start of a conversation, then
 * prefix + user text + postfix. A tool result is wrapped in the tool tag. */
static char *render(emu *e, const char *role, const char *text, bool fresh, size_t *sys_len)
{
    char *s = calloc(1, 1);
    size_t n = 0;
    bool ok = s != NULL;
    if (fresh) {
        if (e->tools) {
            ok = ok && cat(&s, &n, e->tools_sys ? e->tools_sys : e->sys) && cat(&s, &n, "\n\n# Tools\n") &&
                 cat(&s, &n, e->tools) && cat(&s, &n, "\n");
        } else {
            ok = ok && cat(&s, &n, e->sys);
        }
    }
    *sys_len = n;
    ok = ok && cat(&s, &n, e->prefix);
    if (role && strcmp(role, "tool") == 0 && e->tool_tag) {
        ok = ok && cat(&s, &n, "<") && cat(&s, &n, e->tool_tag) && cat(&s, &n, ">\n") && cat(&s, &n, text) &&
             cat(&s, &n, "\n</") && cat(&s, &n, e->tool_tag) && cat(&s, &n, ">");
    } else {
        ok = ok && cat(&s, &n, text);
    }
    ok = ok && cat(&s, &n, e->postfix);
    if (!ok) {
        free(s);
        return NULL;
    }
    return s;
}

/* Tokenizes rendered text onto ctx[n..]; returns the new count or -1. */
static int64_t tokenize_onto(emu *e, const char *text, size_t len, bool add_bos, int32_t *ctx, int64_t n)
{
    int64_t cap = e->info.n_ctx - n;
    if (cap <= 0) return -1;
    int64_t k = cpu_engine_ops.tokenize(e->m, text, len, add_bos, true, ctx + n, cap);
    if (k < 0 || k > cap) return -1;
    return n + k;
}

static bool saves_cache(const emu_infer *ip)
{
    return ip->prompt_cache_params && ip->prompt_cache_params->save_prompt_cache &&
           ip->prompt_cache_params->prompt_cache_path;
}

/* An error state: logged, the ERROR callback, rkllm_run returns -1. */
static int fail(emu *e, void *user, const char *why)
{
    emu_log("rkllm_run: %s%s", why, NULL);
    fire(e, user, RKLLM_ABI_RUN_ERROR, NULL, -1, NULL);
    return -1;
}

static int run_locked(emu *e, const emu_input *in, const emu_infer *ip, void *user)
{
    const char *err = NULL;
    rkllm_perf_stat perf = {0};
    bool mm = in->input_type == RKLLM_ABI_INPUT_MULTIMODAL;
    /* The image tags: 1.2 takes them at init, 1.3 with each input. */
    emu_images im = {.n_embd = e->info.n_embd};
    const char *mm_prompt = NULL;
    if (mm) {
#if RKLLM_EMU_FAMILY == 12
        const rk12_multimodal_input *mi = &in->u.multimodal_input;
        im = (emu_images){.start = e->img_start, .end = e->img_end, .content = e->img_content,
                          .embd = mi->image_embed, .n_image = mi->n_image, .n_tokens = mi->n_image_tokens,
                          .n_embd = e->info.n_embd};
#else
        const rk13_multimodal_input *mi = &in->u.multimodal_input;
        im = (emu_images){.start = mi->image.image_start, .end = mi->image.image_end,
                          .content = mi->image.image_content, .embd = mi->image.image_embed,
                          .n_image = mi->image.n_image, .n_tokens = mi->image.n_image_tokens,
                          .n_embd = e->info.n_embd};
        if (mi->video.n_video > 0) err = "video input is not emulated";
#endif
        mm_prompt = mi->prompt;
    }
    if (in->input_type == RKLLM_ABI_INPUT_EMBED)
        err = "embedding input is not emulated (the CPU engine takes tokens)";
    else if (in->input_type != RKLLM_ABI_INPUT_PROMPT && in->input_type != RKLLM_ABI_INPUT_TOKEN && !mm)
        err = "unknown input type";
    else if (ip->mode == RKLLM_ABI_INFER_GET_LOGITS)
        err = "GET_LOGITS is not emulated";
    else if (mm && ip->mode == RKLLM_ABI_INFER_GET_LAST_HIDDEN_LAYER)
        err = "hidden states of multimodal input are not emulated";
    else if (saves_cache(ip) && (im.n_image > 0 || e->hist_spans.n > 0))
        err = "saving a prompt cache that holds images is not emulated";
    if (err) return fail(e, user, err);

    /* The context this run sees: the kept conversation, else the loaded
     * prompt cache, then the new input. */
    int32_t n_ctx = e->info.n_ctx;
    int32_t *ctx = malloc((size_t)n_ctx * sizeof(int32_t));
    if (!ctx) return -1;
    int64_t n = 0;
    int32_t n_sys = 0;
    bool fresh = e->n_hist == 0 && e->n_base == 0;
    if (e->n_hist) {
        memcpy(ctx, e->hist, (size_t)e->n_hist * sizeof(int32_t));
        n = e->n_hist;
        n_sys = e->n_sys;
    } else if (e->n_base) {
        memcpy(ctx, e->base, (size_t)e->n_base * sizeof(int32_t));
        n = e->n_base;
        n_sys = e->n_base_sys;
    }
    int64_t n_before = n;
    if (in->input_type == RKLLM_ABI_INPUT_TOKEN) {
        const rkllm_token_input *t = &in->u.token_input;
        if ((int64_t)t->n_tokens > n_ctx - n || !t->input_ids) n = -1;
        else {
            memcpy(ctx + n, t->input_ids, t->n_tokens * sizeof(int32_t));
            n += (int64_t)t->n_tokens;
        }
    } else {
        size_t sys_len = 0;
        const char *text = mm ? mm_prompt : in->u.prompt_input;
        if (!text) text = "";
        char *expanded = NULL;
        if (mm) {
            char why[512];
            expanded = emu_image_expand(text, &im, why, sizeof why);
            if (!expanded) {
                free(ctx);
                return fail(e, user, why);
            }
            text = expanded;
        }
        char *r = render(e, in->role, text, fresh, &sys_len);
        free(expanded);
        bool bos = fresh && engine_prompt_wants_bos(&e->info, r ? r : "");
        if (!r) n = -1;
        else if (fresh && sys_len) {
            /* system prompt tokens apart, so clear_kv_cache can keep them */
            n = tokenize_onto(e, r, sys_len, bos, ctx, n);
            n_sys = (int32_t)n;
            if (n >= 0) n = tokenize_onto(e, r + sys_len, strlen(r + sys_len), false, ctx, n);
        } else {
            n = tokenize_onto(e, r, strlen(r), bos, ctx, n);
        }
        free(r);
    }
    if (n < 0 || n == n_before) {
        emu_log("rkllm_run: %s%s", n < 0 ? "the input does not fit the context (max_context_len)" : "empty input",
                NULL);
        free(ctx);
        fire(e, user, RKLLM_ABI_RUN_ERROR, NULL, -1, NULL);
        return -1;
    }

    /* The images of the kept conversation, then this input's. */
    int32_t n_spans = e->hist_spans.n + (int32_t)im.n_image;
    engine_embd_span *spans = n_spans ? calloc((size_t)n_spans, sizeof *spans) : NULL;
    if (n_spans && !spans) {
        free(ctx);
        return fail(e, user, "out of memory");
    }
    if (e->hist_spans.n) memcpy(spans, e->hist_spans.v, (size_t)e->hist_spans.n * sizeof *spans);
    if (im.n_image) {
        char why[512];
        if (emu_image_spans(e->m, ctx, n_before, n, &im, spans + e->hist_spans.n, why, sizeof why) != 0) {
            free(spans);
            free(ctx);
            return fail(e, user, why);
        }
    }

    if (ip->mode == RKLLM_ABI_INFER_GET_LAST_HIDDEN_LAYER) {
        /* the hidden states of this input alone, as a fresh sequence */
        char herr[256];
        if (!e->hidden) e->hidden = emu_hidden_open(e->model_path, n_ctx, herr, sizeof herr);
        const float *hs = e->hidden ? emu_hidden_run(e->hidden, ctx + n_before, (int32_t)(n - n_before), herr,
                                                     sizeof herr)
                                    : NULL;
        free(spans); /* the input's tokens are all real: images were refused above */
        if (!hs) {
            emu_log("rkllm_run: hidden layer: %s%s", herr, NULL);
            free(ctx);
            fire(e, user, RKLLM_ABI_RUN_ERROR, NULL, -1, NULL);
            return -1;
        }
        rkllm_result r;
        memset(&r, 0, sizeof r);
        r.text = "";
        r.token_id = -1;
        r.last_hidden_layer.hidden_states = hs;
        r.last_hidden_layer.embd_size = e->info.n_embd;
        r.last_hidden_layer.num_tokens = (int)(n - n_before);
        if (e->cb) e->cb(&r, user, RKLLM_ABI_RUN_NORMAL);
        perf.prefill_tokens = (int)(n - n_before);
        perf.memory_usage_mb = vm_hwm_mb();
        free(ctx);
        fire(e, user, RKLLM_ABI_RUN_FINISH, NULL, -1, &perf);
        return 0;
    }

    engine_gen_params gp = {.sampling = e->sampling, .max_tokens = e->max_new_tokens, .n_keep = -1,
                            .ignore_eos = e->ignore_eos, .cancel = &e->abort_flag, .spans = spans,
                            .n_spans = n_spans};
#if RKLLM_EMU_FAMILY == 13
    if (ip->sampling_params) {
        const rk13_sampling_param *sp = ip->sampling_params;
        sampling_from(&gp.sampling, sp->top_k, sp->top_p, sp->temperature, sp->repeat_penalty, sp->frequency_penalty,
                      sp->presence_penalty);
    }
    if (ip->max_new_tokens > 0) gp.max_tokens = ip->max_new_tokens;
#endif
    char gerr[512] = "";
    engine_stats st;
    int rc = 0;
    if (saves_cache(ip)) {
        /* prefill only, save, then generate as usual (the prefix is reused) */
        engine_gen_params pre = gp;
        pre.max_tokens = 0;
        rc = cpu_engine_ops.generate(e->s, ctx, n, &pre, on_token, NULL, &st, gerr, sizeof gerr);
        if (rc == 0 && st.finish != ENGINE_FINISH_CANCELLED)
            rc = emu_cache_save(ip->prompt_cache_params->prompt_cache_path, e->model_path, RKLLM_EMU_FAMILY, e->s,
                                n_sys, gerr, sizeof gerr);
    }
    run_ctx rcx = {.e = e, .user = user, .cap_gen = n_ctx};
    rcx.gen = malloc((size_t)n_ctx * sizeof(int32_t));
    if (rc == 0 && !rcx.gen) {
        snprintf(gerr, sizeof gerr, "out of memory");
        rc = -1;
    }
    if (rc == 0) rc = cpu_engine_ops.generate(e->s, ctx, n, &gp, on_token, &rcx, &st, gerr, sizeof gerr);
    if (rc != 0) {
        free(ctx);
        free(rcx.gen);
        free(spans);
        return fail(e, user, gerr);
    }
    /* Bytes of a character the run ended inside of are never handed out:
     * callbacks only carry whole characters. */
    /* The conversation the runtime keeps: the input and what was generated,
     * without the end-of-turn token (the next turn's template writes it). */
    if (ip->keep_history) {
        int64_t k = n;
        for (int32_t i = 0; i < rcx.n_gen && k < n_ctx; i++) ctx[k++] = rcx.gen[i];
        memcpy(e->hist, ctx, (size_t)k * sizeof(int32_t));
        e->n_hist = (int32_t)k;
        e->n_sys = n_sys;
        /* the images stay in the kept context, so their embeddings are kept
         * too: a later turn (or a context rebuilt from the tokens) needs them */
        int32_t n_old = e->hist_spans.n;
        if (!emu_spans_append(&e->hist_spans, spans + n_old, n_spans - n_old, e->info.n_embd)) {
            e->n_hist = 0;
            e->n_sys = 0;
            emu_spans_clear(&e->hist_spans);
        }
    } else {
        e->n_hist = 0;
        e->n_sys = 0;
        emu_spans_clear(&e->hist_spans);
    }
    perf.prefill_time_ms = (float)st.prefill_ms;
    perf.prefill_tokens = st.prompt_tokens - st.reused_tokens;
    perf.generate_time_ms = (float)st.decode_ms;
    perf.generate_tokens = st.completion_tokens;
    perf.memory_usage_mb = vm_hwm_mb();
    free(ctx);
    free(rcx.gen);
    free(spans);
    fire(e, user, RKLLM_ABI_RUN_FINISH, NULL, -1, &perf);
    return 0;
}

EXPORT int rkllm_run(rkllm_handle_t handle, emu_input *rkllm_input, emu_infer *rkllm_infer_params, void *userdata)
{
    emu *e = handle;
    if (!e || !rkllm_input || !rkllm_infer_params) return -1;
    /* The vendor runtime serves one run per handle: a second caller is refused. */
    bool idle = false;
    if (!atomic_compare_exchange_strong(&e->running, &idle, true)) return -1;
    pthread_mutex_lock(&e->lock);
    atomic_store(&e->abort_flag, false);
#if RKLLM_EMU_FAMILY == 13
    if (!userdata) userdata = e->cb_user;
#endif
    int rc = run_locked(e, rkllm_input, rkllm_infer_params, userdata);
    pthread_mutex_unlock(&e->lock);
    atomic_store(&e->running, false);
    return rc;
}

/* Runs synchronously: the emulator has no background worker. */
EXPORT int rkllm_run_async(rkllm_handle_t handle, emu_input *rkllm_input, emu_infer *rkllm_infer_params,
                           void *userdata)
{
    return rkllm_run(handle, rkllm_input, rkllm_infer_params, userdata);
}
