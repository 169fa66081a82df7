/* The CPU engine behind engine.h: a GGUF model, its tokenizer, and sessions
 * that each own a KV cache, keep their token history for prefix reuse and
 * can be saved to and restored from a file. */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "engine/cpu/forward.h"
#include "format/ggml_types.h"
#include "format/gguf.h"
#include "engine/cpu/model.h"
#include "engine/cpu/sampler.h"
#include "engine/cpu/spans.h"
#include "engine/cpu/tokenizer.h"
#include "engine/engine.h"
#include "util/threadpool.h"

#define DEFAULT_CTX_CAP 4096
#define DEFAULT_BATCH 128

/* A decode step waiting for the batch (see decode_step). */
typedef struct {
    engine_session *s;
    int32_t token, pos;
    bool done;
} decode_req;

#define MAX_DECODE_BATCH 16

struct engine_model {
    gguf_file *gguf;
    rk_model *model;
    tokenizer *tok;
    threadpool *pool;
    /* Sessions generate on their own threads. The pool and the weights'
     * scratch serve one forward pass at a time (compute_mu); decode steps
     * that arrive while a pass runs wait and then go through the model
     * together, so concurrent streams share each read of the weights. */
    pthread_mutex_t compute_mu;
    pthread_mutex_t batch_mu;
    pthread_cond_t batch_cv;
    decode_req *pending[MAX_DECODE_BATCH];
    int n_pending;
    int n_decoding;          /* sessions in their decode loop: a batch waits briefly for all of them */
    bool batch_busy;
    float *batch_logits;     /* MAX_DECODE_BATCH x n_vocab, made by the first shared pass */
    int32_t n_ctx;
    int32_t n_batch;
    uint32_t kv_type;
    char *chat_template;
    char *bos_text, *eos_text;
    uint64_t fingerprint;
};

struct engine_session {
    engine_model *em;
    rk_forward_ctx *fw;
    int32_t *tokens;  /* the tokens whose keys and values are in the cache; span positions hold
                         negative identities (spans.h) */
    int32_t n_past;
    float *logits;
    const float **embd_rows; /* per token of a batch: its span embedding or NULL */
};

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static uint64_t fnv1a(uint64_t h, const void *data, size_t n)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

/* Identifies the exact weights cheaply: shapes plus samples of the data. */
static uint64_t model_fingerprint(const engine_model *em)
{
    const rk_model *m = em->model;
    int32_t dims[] = {m->n_layer, m->n_embd, m->n_head, m->n_head_kv, m->head_dim, m->n_ff, m->n_vocab};
    uint64_t h = fnv1a(0xcbf29ce484222325ull, m->arch, strlen(m->arch));
    h = fnv1a(h, dims, sizeof dims);
    uint64_t size = gguf_file_size(em->gguf);
    h = fnv1a(h, &size, sizeof size);
    size_t emb = m->tok_embd.row_bytes * (size_t)m->tok_embd.n_out;
    h = fnv1a(h, m->tok_embd.data, emb < 4096 ? emb : 4096);
    const rk_weight *last = &m->layers[m->n_layer - 1].w_down;
    size_t lb = last->row_bytes * (size_t)last->n_out;
    h = fnv1a(h, (const char *)last->data + lb - (lb < 4096 ? lb : 4096), lb < 4096 ? lb : 4096);
    return h;
}

static int default_threads(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

/* A special token's text as templates see it, or NULL. */
static char *token_text(const tokenizer *tok, int32_t id)
{
    if (id < 0) return NULL;
    char buf[256];
    int n = tokenizer_token_to_piece(tok, id, true, buf, sizeof buf);
    if (n < 0 || n >= (int)sizeof buf) return NULL;
    buf[n] = 0;
    return strdup(buf);
}

static engine_model *cpu_load(const engine_load_params *p, char *err, size_t errlen)
{
    engine_model *em = calloc(1, sizeof *em);
    if (!em) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    char sub[512];
    em->gguf = gguf_open(p->path, sub, sizeof sub);
    if (!em->gguf) {
        snprintf(err, errlen, "%s", sub);
        goto fail;
    }
    em->model = rk_model_load(em->gguf, sub, sizeof sub);
    if (!em->model) {
        snprintf(err, errlen, "%s: %s", p->path, sub);
        goto fail;
    }
    em->tok = tokenizer_load(em->gguf, sub, sizeof sub);
    if (!em->tok) {
        snprintf(err, errlen, "%s: tokenizer: %s", p->path, sub);
        goto fail;
    }
    if (tokenizer_n_vocab(em->tok) > em->model->n_vocab) {
        snprintf(err, errlen, "%s: tokenizer has %d tokens but the embedding only %d", p->path,
                 tokenizer_n_vocab(em->tok), em->model->n_vocab);
        goto fail;
    }
    int32_t n_ctx = p->n_ctx > 0 ? p->n_ctx : em->model->n_ctx_train;
    if (p->n_ctx <= 0 && n_ctx > DEFAULT_CTX_CAP) n_ctx = DEFAULT_CTX_CAP;
    if (n_ctx < 8) n_ctx = 8;
    em->n_ctx = n_ctx;
    em->n_batch = p->n_batch > 0 ? p->n_batch : DEFAULT_BATCH;
    em->kv_type = p->kv_f32 ? GGML_TYPE_F32 : GGML_TYPE_F16;
    if (em->n_batch > n_ctx) em->n_batch = n_ctx;
    em->pool = threadpool_new(p->n_threads > 0 ? p->n_threads : default_threads());
    if (!em->pool) {
        snprintf(err, errlen, "cannot start threads");
        goto fail;
    }
    pthread_mutex_init(&em->compute_mu, NULL);
    pthread_mutex_init(&em->batch_mu, NULL);
    pthread_cond_init(&em->batch_cv, NULL);
    gguf_str tmpl;
    if (gguf_get_str(em->gguf, "tokenizer.chat_template", &tmpl)) {
        em->chat_template = malloc(tmpl.len + 1);
        if (em->chat_template) {
            memcpy(em->chat_template, tmpl.ptr, tmpl.len);
            em->chat_template[tmpl.len] = 0;
        }
    }
    em->bos_text = token_text(em->tok, tokenizer_bos(em->tok));
    em->eos_text = token_text(em->tok, tokenizer_eos(em->tok));
    em->fingerprint = model_fingerprint(em);
    return em;
fail:
    threadpool_free(em->pool);
    tokenizer_free(em->tok);
    rk_model_free(em->model);
    gguf_close(em->gguf);
    free(em);
    return NULL;
}

static void cpu_unload(engine_model *em)
{
    if (!em) return;
    pthread_mutex_destroy(&em->compute_mu);
    pthread_mutex_destroy(&em->batch_mu);
    pthread_cond_destroy(&em->batch_cv);
    free(em->batch_logits);
    threadpool_free(em->pool);
    tokenizer_free(em->tok);
    rk_model_free(em->model);
    gguf_close(em->gguf);
    free(em->chat_template);
    free(em->bos_text);
    free(em->eos_text);
    free(em);
}

static void cpu_info(const engine_model *em, engine_info *out)
{
    const rk_model *m = em->model;
    memset(out, 0, sizeof *out);
    out->engine = "cpu";
    out->arch = m->arch;
    out->name = m->name;
    out->chat_template = em->chat_template;
    out->bos_text = em->bos_text;
    out->eos_text = em->eos_text;
    out->n_ctx_train = m->n_ctx_train;
    out->n_ctx = em->n_ctx;
    out->n_vocab = m->n_vocab;
    out->n_embd = m->n_embd;
    out->n_params = m->n_params;
    out->weight_bytes = m->weight_bytes;
    out->state_bytes = (uint64_t)m->n_layer * em->n_ctx *
                       ((uint64_t)m->n_head_kv * (m->head_dim + m->head_dim_v)) * ggml_type_size(em->kv_type);
    out->has_tokenizer = true;
    out->concurrent_sessions = true;
}

static int64_t cpu_tokenize(const engine_model *em, const char *text, size_t len, bool add_bos, bool parse_special,
                            int32_t *out, int64_t cap)
{
    return tokenizer_encode(em->tok, text, len, add_bos, parse_special, out, cap);
}

static int cpu_token_to_piece(const engine_model *em, int32_t token, bool render_special, char *buf, size_t cap)
{
    return tokenizer_token_to_piece(em->tok, token, render_special, buf, cap);
}

static bool cpu_is_eog(const engine_model *em, int32_t token)
{
    return tokenizer_is_eog(em->tok, token);
}

static engine_session *cpu_session_new(engine_model *em, char *err, size_t errlen)
{
    engine_session *s = calloc(1, sizeof *s);
    if (!s) goto oom;
    s->em = em;
    s->fw = rk_forward_new(em->model, em->pool, em->n_ctx, em->n_batch, em->kv_type);
    s->tokens = malloc((size_t)em->n_ctx * sizeof(int32_t));
    s->logits = malloc((size_t)em->model->n_vocab * sizeof(float));
    s->embd_rows = malloc((size_t)em->n_batch * sizeof(float *));
    if (!s->fw || !s->tokens || !s->logits || !s->embd_rows) goto oom;
    return s;
oom:
    snprintf(err, errlen, "out of memory for a session of %d tokens", em->n_ctx);
    if (s) {
        rk_forward_free(s->fw);
        free(s->tokens);
        free(s->logits);
        free(s->embd_rows);
        free(s);
    }
    return NULL;
}

static void cpu_session_free(engine_session *s)
{
    if (!s) return;
    rk_forward_free(s->fw);
    free(s->tokens);
    free(s->logits);
    free(s->embd_rows);
    free(s);
}

static void cpu_session_reset(engine_session *s)
{
    s->n_past = 0;
}

static bool cancelled(const engine_gen_params *p)
{
    return p->cancel && atomic_load(p->cancel);
}

typedef enum { PREFILL_OK, PREFILL_CANCELLED, PREFILL_NO_EMBD } prefill_result;

/* Runs tokens[from, to) of s->tokens through the model in batches; the
 * logits of the last one land in s->logits. Span positions take their
 * embeddings from p's spans, found by identity (positions move when the
 * context shifts). */
static prefill_result prefill(engine_session *s, int32_t from, int32_t to, const engine_gen_params *p)
{
    int32_t d = s->em->model->n_embd;
    for (int32_t i = from; i < to; i += s->em->n_batch) {
        if (cancelled(p)) return PREFILL_CANCELLED;
        int32_t n = to - i < s->em->n_batch ? to - i : s->em->n_batch;
        bool any = false;
        for (int32_t t = 0; t < n; t++) {
            int32_t id = s->tokens[i + t];
            s->embd_rows[t] = NULL;
            if (id >= 0) continue;
            s->embd_rows[t] = rk_spans_find(p->spans, p->n_spans, id, d);
            if (!s->embd_rows[t]) {
                s->n_past = i;
                return PREFILL_NO_EMBD;
            }
            any = true;
        }
        pthread_mutex_lock(&s->em->compute_mu);
        rk_forward_embd(s->fw, s->tokens + i, any ? s->embd_rows : NULL, n, i, i + n == to ? s->logits : NULL,
                        false, NULL);
        pthread_mutex_unlock(&s->em->compute_mu);
        s->n_past = i + n;
    }
    return PREFILL_OK;
}

/* Frees room when the context is full: keeps the first n_keep tokens and the
 * newer half of the rest, and recomputes their cache (positions move). */
static prefill_result shift_context(engine_session *s, int32_t n_keep, const engine_gen_params *p)
{
    int32_t n_ctx = s->em->n_ctx;
    if (n_keep > n_ctx / 2) n_keep = n_ctx / 2;
    int32_t n_discard = (s->n_past - n_keep) / 2;
    memmove(s->tokens + n_keep, s->tokens + n_keep + n_discard,
            (size_t)(s->n_past - n_keep - n_discard) * sizeof(int32_t));
    int32_t n_total = s->n_past - n_discard;
    s->n_past = 0;
    return prefill(s, 0, n_total, p);
}

static void decoding(engine_model *em, int delta)
{
    pthread_mutex_lock(&em->batch_mu);
    em->n_decoding += delta;
    pthread_cond_broadcast(&em->batch_cv); /* a leader waiting for a session that left stops waiting */
    pthread_mutex_unlock(&em->batch_mu);
}

/* One token through the model for this session, batched with the decode
 * steps of other sessions that are waiting: the first to find no pass
 * running leads one for everything pending, and the others wait for it. */
static void decode_step(engine_session *s, int32_t token, int32_t pos)
{
    engine_model *em = s->em;
    decode_req me = {.s = s, .token = token, .pos = pos};
    pthread_mutex_lock(&em->batch_mu);
    while (em->n_pending == MAX_DECODE_BATCH) pthread_cond_wait(&em->batch_cv, &em->batch_mu);
    em->pending[em->n_pending++] = &me;
    pthread_cond_broadcast(&em->batch_cv); /* a gathering leader counts us */
    while (!me.done) {
        if (em->batch_busy) {
            pthread_cond_wait(&em->batch_cv, &em->batch_mu);
            continue;
        }
        /* lead: let the other decoding sessions join (they are between two
         * tokens), but never hold a step back more than a moment */
        em->batch_busy = true;
        int want = em->n_decoding < em->n_batch ? em->n_decoding : em->n_batch;
        if (want > MAX_DECODE_BATCH) want = MAX_DECODE_BATCH;
        struct timespec deadline;
        clock_gettime(CLOCK_REALTIME, &deadline);
        deadline.tv_nsec += 2000000;
        if (deadline.tv_nsec >= 1000000000) {
            deadline.tv_sec++;
            deadline.tv_nsec -= 1000000000;
        }
        while (em->n_pending < want)
            if (pthread_cond_timedwait(&em->batch_cv, &em->batch_mu, &deadline) != 0) break;
        decode_req *batch[MAX_DECODE_BATCH];
        int n = em->n_pending < em->n_batch ? em->n_pending : em->n_batch; /* the scratch holds n_batch rows */
        memcpy(batch, em->pending, (size_t)n * sizeof *batch);
        em->n_pending -= n;
        memmove(em->pending, em->pending + n, (size_t)em->n_pending * sizeof *em->pending);
        pthread_cond_broadcast(&em->batch_cv); /* room in pending again */
        pthread_mutex_unlock(&em->batch_mu);

        rk_forward_ctx *cs[MAX_DECODE_BATCH];
        int32_t toks[MAX_DECODE_BATCH], poss[MAX_DECODE_BATCH];
        for (int i = 0; i < n; i++) {
            cs[i] = batch[i]->s->fw;
            toks[i] = batch[i]->token;
            poss[i] = batch[i]->pos;
        }
        int32_t nv = em->model->n_vocab;
        pthread_mutex_lock(&em->compute_mu);
        if (n > 1 && !em->batch_logits)
            em->batch_logits = malloc((size_t)MAX_DECODE_BATCH * nv * sizeof(float));
        if (n == 1 || !em->batch_logits) {
            /* alone, or (out of memory) one at a time */
            for (int i = 0; i < n; i++) rk_forward(cs[i], toks + i, 1, poss[i], batch[i]->s->logits, false, NULL);
        } else {
            rk_forward_multi(cs, toks, poss, n, em->batch_logits);
            for (int i = 0; i < n; i++)
                memcpy(batch[i]->s->logits, em->batch_logits + (size_t)i * nv, (size_t)nv * sizeof(float));
        }
        pthread_mutex_unlock(&em->compute_mu);

        pthread_mutex_lock(&em->batch_mu);
        for (int i = 0; i < n; i++) batch[i]->done = true;
        em->batch_busy = false;
        pthread_cond_broadcast(&em->batch_cv);
    }
    pthread_mutex_unlock(&em->batch_mu);
}

static int cpu_generate(engine_session *s, const int32_t *prompt, int64_t n_prompt, const engine_gen_params *p,
                        engine_token_fn on_token, void *user, engine_stats *stats, char *err, size_t errlen)
{
    engine_model *em = s->em;
    memset(stats, 0, sizeof *stats);
    stats->prompt_tokens = (int32_t)n_prompt;
    if (n_prompt <= 0) {
        snprintf(err, errlen, "the prompt is empty");
        return -1;
    }
    if (n_prompt >= em->n_ctx) {
        snprintf(err, errlen, "the prompt has %lld tokens but the context holds %d", (long long)n_prompt,
                 em->n_ctx);
        return -1;
    }
    if (rk_spans_check(p->spans, p->n_spans, n_prompt, err, errlen) != 0) return -1;
    /* The prompt as the session keeps it: span positions hold identities
     * (placeholder tokens there are not read). */
    int32_t *ident = malloc((size_t)n_prompt * sizeof(int32_t));
    if (!ident) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    rk_spans_identities(p->spans, p->n_spans, prompt, n_prompt, ident);
    /* tokens outside the spans must be real (the spans are ordered) */
    int32_t j = 0;
    for (int64_t i = 0; i < n_prompt; i++) {
        while (j < p->n_spans && p->spans[j].pos + p->spans[j].n_tokens <= i) j++;
        if (j < p->n_spans && p->spans[j].pos <= i) continue;
        if (prompt[i] < 0 || prompt[i] >= em->model->n_vocab) {
            snprintf(err, errlen, "token id %d is outside the vocabulary (0..%d)", prompt[i], em->model->n_vocab - 1);
            free(ident);
            return -1;
        }
    }
    /* Reuse the longest kept prefix; at least the last prompt token is
     * recomputed so its logits are fresh. */
    int32_t keep = 0;
    while (keep < s->n_past && keep < n_prompt - 1 && s->tokens[keep] == ident[keep]) keep++;
    memcpy(s->tokens + keep, ident + keep, (size_t)(n_prompt - keep) * sizeof(int32_t));
    free(ident);
    s->n_past = keep;
    stats->reused_tokens = keep;

    double t0 = now_ms();
    prefill_result pr = prefill(s, keep, (int32_t)n_prompt, p);
    if (pr != PREFILL_OK) {
        stats->prefill_ms = now_ms() - t0;
        if (pr == PREFILL_NO_EMBD) {
            snprintf(err, errlen, "an embedding span position has no embedding");
            return -1;
        }
        stats->finish = ENGINE_FINISH_CANCELLED;
        return 0;
    }
    double t1 = now_ms();
    stats->prefill_ms = t1 - t0;

    sampler *smp = sampler_new(&p->sampling, em->model->n_vocab);
    if (!smp) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    int32_t window = p->sampling.repeat_last_n < 0 ? s->n_past : p->sampling.repeat_last_n;
    for (int32_t i = s->n_past - window < 0 ? 0 : s->n_past - window; i < s->n_past; i++)
        if (s->tokens[i] >= 0) sampler_accept(smp, s->tokens[i]);

    char piece[256];
    if (p->max_tokens == 0) stats->finish = ENGINE_FINISH_LENGTH;
    decoding(em, +1);
    while (stats->finish == ENGINE_FINISH_NONE) {
        if (cancelled(p)) {
            stats->finish = ENGINE_FINISH_CANCELLED;
            break;
        }
        if (p->logits_filter) p->logits_filter(p->filter_user, s->logits, em->model->n_vocab);
        int32_t tok = sampler_sample(smp, s->logits);
        if (tok < 0) { /* every token was filtered out */
            stats->finish = ENGINE_FINISH_EOG;
            break;
        }
        sampler_accept(smp, tok);
        if (!p->ignore_eos && tokenizer_is_eog(em->tok, tok)) {
            stats->finish = ENGINE_FINISH_EOG;
            break;
        }
        stats->completion_tokens++;
        int len = tokenizer_token_to_piece(em->tok, tok, false, piece, sizeof piece);
        if (len < 0) len = 0;
        if (len > (int)sizeof piece) len = (int)sizeof piece;
        if (!on_token(user, tok, piece, (size_t)len)) {
            stats->finish = ENGINE_FINISH_STOPPED;
        } else if (p->max_tokens >= 0 && stats->completion_tokens >= p->max_tokens) {
            stats->finish = ENGINE_FINISH_LENGTH;
        } else if (s->n_past >= em->n_ctx && p->n_keep < 0) {
            stats->finish = ENGINE_FINISH_CONTEXT;
        }
        /* The last token is not run through the model: a request that
         * continues the conversation computes it as part of its prompt, and
         * one that does not never pays for it. */
        if (stats->finish != ENGINE_FINISH_NONE) break;
        if (s->n_past >= em->n_ctx) {
            prefill_result sr = shift_context(s, p->n_keep, p);
            if (sr != PREFILL_OK) {
                /* a span the caller no longer passes cannot be recomputed */
                stats->finish = sr == PREFILL_CANCELLED ? ENGINE_FINISH_CANCELLED : ENGINE_FINISH_CONTEXT;
                break;
            }
            stats->context_shifts++;
        }
        s->tokens[s->n_past] = tok;
        decode_step(s, tok, s->n_past);
        s->n_past++;
    }
    decoding(em, -1);
    stats->decode_ms = now_ms() - t1;
    sampler_free(smp);
    return 0;
}

static int cpu_embed(engine_session *s, const int32_t *tokens, int64_t n, float *out, char *err, size_t errlen)
{
    engine_model *em = s->em;
    int32_t d = em->model->n_embd;
    if (n <= 0 || n > em->n_ctx) {
        snprintf(err, errlen, "input of %lld tokens does not fit the context of %d", (long long)n, em->n_ctx);
        return -1;
    }
    float *hidden = malloc((size_t)em->n_batch * d * sizeof(float));
    double *sum = calloc((size_t)d, sizeof(double));
    if (!hidden || !sum) {
        free(hidden);
        free(sum);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    for (int64_t i = 0; i < n; i++) {
        if (tokens[i] < 0 || tokens[i] >= em->model->n_vocab) {
            snprintf(err, errlen, "token id %d is outside the vocabulary", tokens[i]);
            free(hidden);
            free(sum);
            return -1;
        }
    }
    /* embeddings do not keep conversation state */
    s->n_past = 0;
    for (int64_t i = 0; i < n; i += em->n_batch) {
        int32_t b = n - i < em->n_batch ? (int32_t)(n - i) : em->n_batch;
        pthread_mutex_lock(&em->compute_mu);
        rk_forward(s->fw, tokens + i, b, (int32_t)i, NULL, false, hidden);
        pthread_mutex_unlock(&em->compute_mu);
        for (int32_t t = 0; t < b; t++)
            for (int32_t j = 0; j < d; j++) sum[j] += hidden[(size_t)t * d + j];
    }
    double norm = 0;
    for (int32_t j = 0; j < d; j++) {
        sum[j] /= (double)n;
        norm += sum[j] * sum[j];
    }
    norm = norm > 0 ? sqrt(norm) : 1;
    for (int32_t j = 0; j < d; j++) out[j] = (float)(sum[j] / norm);
    free(hidden);
    free(sum);
    return 0;
}

/* ---- session files -----------------------------------------------------
 * header: magic "RKSESS01", u64 model fingerprint, i32 n_ctx, i32 n_past,
 * i32 kv_dim, i32 kv_dim_v, i32 n_layer, i32 kv_type; then n_past tokens; then for each
 * layer the keys and values of positions [0, n_past); then a u64 checksum of
 * everything before it. Written to a temporary name and renamed. */

#define SESSION_MAGIC "RKSESS01"

typedef struct {
    char magic[8];
    uint64_t fingerprint;
    int32_t n_ctx, n_past, kv_dim, kv_dim_v, n_layer, kv_type;
} session_header;

static bool write_all(FILE *f, const void *p, size_t n, uint64_t *h)
{
    *h = fnv1a(*h, p, n);
    return fwrite(p, 1, n, f) == n;
}

static int cpu_save(engine_session *s, const char *path, char *err, size_t errlen)
{
    rk_forward_ctx *fw = s->fw;
    session_header hdr = {.fingerprint = s->em->fingerprint, .n_ctx = fw->n_ctx, .n_past = s->n_past,
                          .kv_dim = fw->kv_dim, .kv_dim_v = fw->kv_dim_v, .n_layer = s->em->model->n_layer,
                          .kv_type = (int32_t)fw->kv_type};
    memcpy(hdr.magic, SESSION_MAGIC, 8);
    char tmp[4096];
    if (snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid()) >= (int)sizeof tmp) {
        snprintf(err, errlen, "path too long");
        return -1;
    }
    FILE *f = fopen(tmp, "wb");
    if (!f) {
        snprintf(err, errlen, "cannot write %s: %s", tmp, strerror(errno));
        return -1;
    }
    uint64_t h = 0xcbf29ce484222325ull;
    bool ok = write_all(f, &hdr, sizeof hdr, &h) &&
              write_all(f, s->tokens, (size_t)s->n_past * sizeof(int32_t), &h);
    for (int32_t l = 0; ok && l < hdr.n_layer; l++) {
        for (int values = 0; ok && values < 2; values++) {
            size_t row;
            void *span = rk_forward_kv_span(fw, l, values, &row);
            ok = write_all(f, span, (size_t)s->n_past * row, &h);
        }
    }
    ok = ok && fwrite(&h, sizeof h, 1, f) == 1;
    ok = (fflush(f) == 0) && ok;
    ok = (fsync(fileno(f)) == 0) && ok;
    if (fclose(f) != 0) ok = false;
    if (!ok || rename(tmp, path) != 0) {
        snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno));
        unlink(tmp);
        return -1;
    }
    return 0;
}

static bool read_all(FILE *f, void *p, size_t n, uint64_t *h)
{
    if (fread(p, 1, n, f) != n) return false;
    *h = fnv1a(*h, p, n);
    return true;
}

static int cpu_restore(engine_session *s, const char *path, char *err, size_t errlen)
{
    rk_forward_ctx *fw = s->fw;
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
        return -1;
    }
    session_header hdr;
    uint64_t h = 0xcbf29ce484222325ull;
    const char *why = NULL;
    if (!read_all(f, &hdr, sizeof hdr, &h) || memcmp(hdr.magic, SESSION_MAGIC, 8) != 0)
        why = "not an rkserve session file";
    else if (hdr.fingerprint != s->em->fingerprint || hdr.n_layer != s->em->model->n_layer ||
             hdr.kv_dim != fw->kv_dim || hdr.kv_dim_v != fw->kv_dim_v)
        why = "it was saved from a different model";
    else if (hdr.kv_type != (int32_t)fw->kv_type)
        why = "its cache precision differs from this session's";
    else if (hdr.n_past < 0 || hdr.n_past > fw->n_ctx)
        why = "its context is larger than this session's";
    s->n_past = 0;
    if (!why) {
        bool ok = read_all(f, s->tokens, (size_t)hdr.n_past * sizeof(int32_t), &h);
        for (int32_t l = 0; ok && l < hdr.n_layer; l++) {
            for (int values = 0; ok && values < 2; values++) {
                size_t row;
                void *span = rk_forward_kv_span(fw, l, values, &row);
                ok = read_all(f, span, (size_t)hdr.n_past * row, &h);
            }
        }
        uint64_t stored;
        if (!ok || fread(&stored, sizeof stored, 1, f) != 1 || stored != h || fgetc(f) != EOF)
            why = "it is truncated or corrupt";
        /* negative ids are embedding span identities */
        for (int32_t i = 0; !why && i < hdr.n_past; i++)
            if (s->tokens[i] >= s->em->model->n_vocab) why = "it holds invalid tokens";
    }
    fclose(f);
    if (why) {
        s->n_past = 0;
        snprintf(err, errlen, "refusing %s: %s", path, why);
        return -1;
    }
    s->n_past = hdr.n_past;
    return 0;
}

static int64_t cpu_kept_tokens(const engine_session *s, const int32_t **tokens)
{
    *tokens = s->tokens;
    return s->n_past;
}

const engine_ops cpu_engine_ops = {
    .name = "cpu",
    .load = cpu_load,
    .unload = cpu_unload,
    .info = cpu_info,
    .tokenize = cpu_tokenize,
    .token_to_piece = cpu_token_to_piece,
    .is_eog = cpu_is_eog,
    .session_new = cpu_session_new,
    .session_free = cpu_session_free,
    .session_reset = cpu_session_reset,
    .generate = cpu_generate,
    .embed = cpu_embed,
    .save = cpu_save,
    .restore = cpu_restore,
    .kept_tokens = cpu_kept_tokens,
};
