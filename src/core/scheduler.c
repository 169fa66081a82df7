#include "core/scheduler.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/json_constraint.h"
#include "core/prompt_cache.h"
#include "core/registry.h"
#include "core/tool_choice.h"
#include "core/vision_input.h"

/* ---- time --------------------------------------------------------------- */

static double mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static double wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void abs_deadline(struct timespec *ts, double ms_from_now)
{
    if (ms_from_now < 0) ms_from_now = 0;
    if (ms_from_now > 3.6e6) ms_from_now = 3.6e6;
    clock_gettime(CLOCK_MONOTONIC, ts);
    long long ns = ts->tv_nsec + (long long)(ms_from_now * 1e6);
    ts->tv_sec += ns / 1000000000LL;
    ts->tv_nsec = ns % 1000000000LL;
}

static void cond_init_mono(pthread_cond_t *c)
{
    pthread_condattr_t a;
    pthread_condattr_init(&a);
    pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
    pthread_cond_init(c, &a);
    pthread_condattr_destroy(&a);
}

/* ---- a fair lock for engine calls ---------------------------------------
 * Workers of one model take turns in arrival order; a generating worker
 * hands the lock on after every token, so sessions interleave fairly. */

typedef struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    uint64_t next, serving;
} ticket_lock;

static void ticket_init(ticket_lock *t)
{
    pthread_mutex_init(&t->mu, NULL);
    pthread_cond_init(&t->cv, NULL);
    t->next = t->serving = 0;
}

static void ticket_destroy(ticket_lock *t)
{
    pthread_mutex_destroy(&t->mu);
    pthread_cond_destroy(&t->cv);
}

static void ticket_acquire(ticket_lock *t)
{
    pthread_mutex_lock(&t->mu);
    uint64_t me = t->next++;
    while (t->serving != me) pthread_cond_wait(&t->cv, &t->mu);
    pthread_mutex_unlock(&t->mu);
}

static void ticket_release(ticket_lock *t)
{
    pthread_mutex_lock(&t->mu);
    t->serving++;
    pthread_cond_broadcast(&t->cv);
    pthread_mutex_unlock(&t->mu);
}

/* ---- types ------------------------------------------------------------- */

typedef enum { JOB_QUEUED, JOB_RUNNING, JOB_DONE } job_state;

typedef struct model_entry model_entry;

struct sched_job {
    atomic_int refs; /* the submitter's handle and the scheduler's */
    atomic_bool cancel;
    job_state state; /* under sched.mu */
    rk_request *req;
    rk_sink sink;
    double t_submit;
    model_entry *model;
    sched_job *next;
};

typedef enum { M_UNLOADED, M_WANT_LOAD, M_LOADING, M_LOADED, M_UNLOADING } model_state;

typedef struct {
    engine_session *sess;
    bool busy;
    double last_used;
    sched_job *job;
} slot;

struct model_entry {
    sched *s;
    char *name;
    const registry_entry *entry; /* what the registry says; kept while loaded */
    bool missing;            /* not in the registry's list any more */
    model_state state;
    const engine_ops *ops;
    engine_model *em;
    engine_info info;
    chat_format chat;
    const char *template_src; /* the template chat renders with, or NULL */
    json_vocab *jvocab;      /* token texts for JSON-constrained output, built on first use */
    slot *slots;
    int n_slots;
    pthread_t *workers;
    int n_workers;
    bool stop;               /* workers exit */
    bool unload_asap;        /* sched_unload asked for it */
    pthread_cond_t work_cv;
    sched_job *head, *tail;
    int queued, running;
    double last_used, expires_at; /* monotonic ms; INFINITY: never */
    double loaded_at, load_ms;
    uint64_t mem_bytes;
    ticket_lock compute;
    vision_pipe vision;      /* the image encoder and preset, when the model has one that opened */
    char *vision_err;        /* why images cannot be read, when it has a companion that did not open */
    model_entry *next;
};

struct sched {
    const rk_config *cfg;
    registry *reg;
    double last_scan;
    char *template_src;      /* --chat-template, or NULL */
    uint64_t budget;
    pthread_mutex_t mu;
    pthread_cond_t manager_cv; /* wakes the manager */
    pthread_cond_t state_cv;   /* a model changed state */
    pthread_t manager;
    bool stopping;
    model_entry *models;
    double avg_job_ms;       /* smoothed, for Retry-After */
    vision_presets presets;  /* shipped, then --vision-presets */
};

/* ---- jobs -------------------------------------------------------------- */

static void job_unref(sched_job *j)
{
    if (atomic_fetch_sub(&j->refs, 1) != 1) return;
    request_destroy(j->req);
    free(j);
}

void sched_release(sched_job *j)
{
    if (j) job_unref(j);
}

static void job_finish(sched_job *j, rk_result *res)
{
    res->total_ms = mono_ms() - j->t_submit;
    if (j->sink.on_done) j->sink.on_done(j->sink.user, res);
}

static void job_fail(sched_job *j, int status, const char *msg)
{
    rk_result res;
    memset(&res, 0, sizeof res);
    res.finish = TEXTGEN_CANCELLED;
    rk_fail(&res.error, status, NULL, "%s", msg);
    res.queue_ms = mono_ms() - j->t_submit;
    job_finish(j, &res);
}

/* Unlinks every queued job of m into a list the caller fails outside the lock. */
static sched_job *take_queue(model_entry *m)
{
    sched_job *list = m->head;
    for (sched_job *j = list; j; j = j->next) j->state = JOB_DONE;
    m->head = m->tail = NULL;
    m->queued = 0;
    return list;
}

static void fail_list(sched_job *list, int status, const char *msg)
{
    while (list) {
        sched_job *next = list->next;
        job_fail(list, status, msg);
        job_unref(list);
        list = next;
    }
}

/* ---- the model catalog --------------------------------------------------
 * The registry finds the models and their names; a model_entry per name
 * holds its queue and, while loaded, its engine. An entry keeps the
 * registry's description it was loaded with until it is unloaded. */

static model_entry *find_by_name(sched *s, const char *name)
{
    for (model_entry *m = s->models; m; m = m->next)
        if (!strcmp(m->name, name)) return m;
    return NULL;
}

static model_entry *add_entry(sched *s, const registry_entry *e)
{
    model_entry *m = calloc(1, sizeof *m);
    if (!m || !(m->name = strdup(e->name))) {
        free(m);
        return NULL;
    }
    m->s = s;
    m->entry = registry_entry_retain(e);
    m->expires_at = INFINITY;
    cond_init_mono(&m->work_cv);
    ticket_init(&m->compute);
    model_entry **tail = &s->models;
    while (*tail) tail = &(*tail)->next;
    *tail = m;
    return m;
}

/* Under s->mu: entries follow the registry's current list; a model gone
 * from it stays known while loaded or busy. */
static void sync_entries(sched *s)
{
    registry_snapshot *snap = registry_snapshot_get(s->reg);
    for (model_entry *m = s->models; m; m = m->next) m->missing = true;
    for (int i = 0; i < registry_snapshot_count(snap); i++) {
        const registry_entry *e = registry_snapshot_at(snap, i);
        model_entry *m = find_by_name(s, e->name);
        if (!m) m = add_entry(s, e);
        if (!m) continue;
        m->missing = false;
        if (m->state == M_UNLOADED && m->entry != e) {
            registry_entry_release(m->entry);
            m->entry = registry_entry_retain(e);
        }
    }
    for (model_entry *m = s->models; m; m = m->next)
        if (m->missing && (m->state != M_UNLOADED || m->queued || m->running)) m->missing = false;
    registry_snapshot_release(snap);
}

static void rescan(sched *s)
{
    char err[256];
    if (registry_scan(s->reg, err, sizeof err) < 0) fprintf(stderr, "rkserve: model scan: %s\n", err);
    s->last_scan = mono_ms();
    sync_entries(s);
}

/* Under s->mu. NULL with e filled (404, or 400 when ambiguous). A name the
 * registry does not know triggers a rescan, so new files are found; at most
 * one every half second, so unknown names cannot keep the disks busy. */
static model_entry *resolve(sched *s, const char *name, rk_error *e)
{
    if (!name || !*name) {
        rk_fail(e, 400, "model", "a model name is required");
        return NULL;
    }
    char err[512] = "";
    for (int pass = 0; pass < 2; pass++) {
        const registry_entry *ent = NULL;
        registry_status st = registry_resolve(s->reg, name, &ent, err, sizeof err);
        if (st == REGISTRY_OK) {
            model_entry *m = find_by_name(s, ent->name);
            if (!m) {
                sync_entries(s);
                m = find_by_name(s, ent->name);
            }
            registry_entry_release(ent);
            if (m) return m;
        } else if (st == REGISTRY_AMBIGUOUS) {
            rk_fail(e, 400, "model", "%s", err);
            return NULL;
        }
        if (pass == 0 && mono_ms() - s->last_scan < 500) break;
        if (pass == 0) rescan(s);
    }
    rk_fail(e, 404, "model", "model '%s' not found", name);
    e->code = "model_not_found";
    return NULL;
}

/* ---- loading and unloading ------------------------------------------- */

static void *worker_main(void *arg);

static uint64_t model_bytes(const model_entry *m)
{
    return m->info.weight_bytes + (uint64_t)m->n_slots * m->info.state_bytes;
}

static void free_engine(model_entry *m)
{
    for (int i = 0; i < m->n_slots; i++)
        if (m->slots[i].sess) m->ops->session_free(m->slots[i].sess);
    free(m->slots);
    m->slots = NULL;
    m->n_slots = 0;
    chat_format_free(&m->chat);
    m->template_src = NULL;
    json_vocab_free(m->jvocab);
    m->jvocab = NULL;
    vision_pipe_close(&m->vision);
    free(m->vision_err);
    m->vision_err = NULL;
    if (m->em) m->ops->unload(m->em);
    m->em = NULL;
    memset(&m->info, 0, sizeof m->info);
    m->mem_bytes = 0;
}

/* Under s->mu; drops it while the engine works. */
static void load_locked(sched *s, model_entry *m)
{
    m->state = M_LOADING;
    const registry_entry *ent = m->entry;
    const char *path = ent->path;
    int parallel = s->cfg->parallel;
    int32_t n_ctx = s->cfg->ctx;
    if (!n_ctx && ent->context_source == REGISTRY_CTX_SIDECAR && ent->context > 0 && ent->context < INT32_MAX)
        n_ctx = (int32_t)ent->context;
    /* the request that loads the model may choose its context (Ollama's num_ctx) */
    if (m->head && m->head->req->num_ctx > 0) {
        int64_t cap = ent->context > 0 ? ent->context : 32768; /* never past what the model was trained for */
        n_ctx = (int32_t)(m->head->req->num_ctx < cap ? m->head->req->num_ctx : cap);
    }
    pthread_mutex_unlock(&s->mu);

    char err[1024] = "";
    double t0 = mono_ms();
    bool ok = false;
    m->ops = ent->error ? NULL : engine_for_path(path);
    if (ent->error) {
        snprintf(err, sizeof err, "%s: %s", path, ent->error);
    } else if (!m->ops) {
        snprintf(err, sizeof err, "%s: %s", path,
                 access(path, R_OK) != 0 ? strerror(errno) : "not a model file this build can run");
    } else {
        engine_load_params lp = {.path = path, .n_ctx = n_ctx, .n_threads = s->cfg->threads,
                                 .runtime_lib = s->cfg->rkllm_lib};
        /* runtimes that take image tags at load get the preset's */
        const vision_preset *vp = ent->n_vision > 0 && ent->vision_preset ? vision_presets_find(&s->presets, ent->vision_preset)
                                  : NULL;
        if (vp && vp->inject == VP_INJECT_RKLLM) {
            lp.image_start = vp->image_start;
            lp.image_end = vp->image_end;
            lp.image_content = vp->placeholder;
        }
        m->em = m->ops->load(&lp, err, sizeof err);
        m->slots = m->em ? calloc((size_t)parallel, sizeof *m->slots) : NULL;
        if (m->em && !m->slots) snprintf(err, sizeof err, "out of memory");
        if (m->slots) {
            m->n_slots = parallel;
            ok = true;
            for (int i = 0; ok && i < parallel; i++) {
                m->slots[i].sess = m->ops->session_new(m->em, err, sizeof err);
                ok = m->slots[i].sess != NULL;
            }
        }
        if (ok) {
            m->ops->info(m->em, &m->info);
            char warn[512];
            /* --chat-template, else the sidecar's, else the model's own */
            const char *tmpl = s->template_src ? s->template_src
                               : ent->chat_template ? ent->chat_template
                                                    : m->info.chat_template;
            m->template_src = tmpl && *tmpl ? tmpl : NULL;
            chat_format_init(&m->chat, tmpl, m->info.arch, m->info.bos_text, m->info.eos_text, warn, sizeof warn);
            if (warn[0]) fprintf(stderr, "rkserve: %s: %s\n", m->name, warn);
            if (ent->n_vision > 0 && vision_pipe_open(&m->vision, ent, m->ops, m->em, &m->info, &s->presets,
                                                      s->cfg->threads, err, sizeof err) != 0) {
                /* the model still serves text; image requests get the reason */
                fprintf(stderr, "rkserve: %s: images disabled: %s\n", m->name, err);
                m->vision_err = strdup(err);
                err[0] = 0;
            }
            m->mem_bytes = model_bytes(m) + m->vision.info.weight_bytes;
        } else if (m->em) {
            free_engine(m);
        }
    }
    double t1 = mono_ms();

    pthread_mutex_lock(&s->mu);
    if (!ok) {
        m->state = M_UNLOADED;
        m->ops = NULL;
        sched_job *list = take_queue(m);
        pthread_mutex_unlock(&s->mu);
        fprintf(stderr, "rkserve: cannot load %s: %s\n", m->name, err);
        char msg[1200];
        snprintf(msg, sizeof msg, "cannot load model '%s': %s", m->name, err);
        fail_list(list, 500, msg);
        pthread_mutex_lock(&s->mu);
        pthread_cond_broadcast(&s->state_cv);
        return;
    }
    m->load_ms = t1 - t0;
    m->loaded_at = t1;
    m->last_used = t1;
    m->expires_at = s->cfg->keep_alive_ms == RK_KEEP_FOREVER ? INFINITY : t1 + (double)s->cfg->keep_alive_ms;
    m->stop = false;
    m->workers = calloc((size_t)m->n_slots, sizeof *m->workers);
    m->n_workers = 0;
    for (int i = 0; m->workers && i < m->n_slots; i++)
        if (pthread_create(&m->workers[i], NULL, worker_main, m) == 0) m->n_workers++;
    m->state = M_LOADED;
    pthread_cond_broadcast(&m->work_cv);
    pthread_cond_broadcast(&s->state_cv);
}

/* Under s->mu; drops it while workers stop and the engine frees. */
static void unload_locked(sched *s, model_entry *m)
{
    m->state = M_UNLOADING;
    m->stop = true;
    for (int i = 0; i < m->n_slots; i++)
        if (m->slots[i].job) atomic_store(&m->slots[i].job->cancel, true);
    pthread_cond_broadcast(&m->work_cv);
    pthread_mutex_unlock(&s->mu);
    for (int i = 0; i < m->n_workers; i++) pthread_join(m->workers[i], NULL);
    free(m->workers);
    m->workers = NULL;
    m->n_workers = 0;
    free_engine(m);
    pthread_mutex_lock(&s->mu);
    m->stop = false;
    m->unload_asap = false;
    m->expires_at = INFINITY;
    m->state = m->queued > 0 ? M_WANT_LOAD : M_UNLOADED;
    pthread_cond_broadcast(&s->state_cv);
}

static uint64_t loaded_bytes(sched *s, const model_entry *except)
{
    uint64_t used = 0;
    for (model_entry *m = s->models; m; m = m->next)
        if (m != except && m->state != M_UNLOADED && m->state != M_WANT_LOAD)
            used += m->mem_bytes ? m->mem_bytes : m->entry->size;
    return used;
}

/* Under s->mu. 0: m fits; 1: unloaded an idle model (look again); -1: must
 * wait for a busy model; -2: m alone exceeds the budget. */
static int make_room(sched *s, model_entry *m)
{
    uint64_t need = m->entry->size;
    if (need > s->budget) return -2;
    if (loaded_bytes(s, m) + need <= s->budget) return 0;
    model_entry *victim = NULL;
    for (model_entry *o = s->models; o; o = o->next)
        if (o != m && o->state == M_LOADED && !o->queued && !o->running &&
            (!victim || o->last_used < victim->last_used))
            victim = o;
    if (!victim) return -1;
    fprintf(stderr, "rkserve: unloading %s to make room for %s\n", victim->name, m->name);
    unload_locked(s, victim);
    return 1;
}

static void *manager_main(void *arg)
{
    sched *s = arg;
    pthread_mutex_lock(&s->mu);
    while (!s->stopping) {
        double now = mono_ms(), wake = now + 60000;
        bool acted = false;
        for (model_entry *m = s->models; m && !acted; m = m->next) {
            if (m->state != M_LOADED || m->queued || m->running) continue;
            if (m->unload_asap || m->expires_at <= now) {
                unload_locked(s, m);
                acted = true;
            } else if (m->expires_at < wake) {
                wake = m->expires_at;
            }
        }
        for (model_entry *m = s->models; m && !acted; m = m->next) {
            if (m->state != M_WANT_LOAD) continue;
            if (!m->queued) {
                m->state = M_UNLOADED;
                continue;
            }
            int r = make_room(s, m);
            if (r == -1) continue;
            if (r == -2) {
                char msg[512];
                snprintf(msg, sizeof msg,
                         "model '%s' needs %.1f MiB but the memory budget is %.1f MiB (raise --memory-budget)",
                         m->name, m->entry->size / 1048576.0, s->budget / 1048576.0);
                m->state = M_UNLOADED;
                sched_job *list = take_queue(m);
                pthread_mutex_unlock(&s->mu);
                fail_list(list, 500, msg);
                pthread_mutex_lock(&s->mu);
            } else if (r == 0) {
                load_locked(s, m);
            }
            acted = true;
        }
        if (acted) continue;
        struct timespec ts;
        abs_deadline(&ts, wake - now);
        pthread_cond_timedwait(&s->manager_cv, &s->mu, &ts);
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

/* ---- running a job -------------------------------------------------- */

/* Under s->mu: picks the idle session for a prompt. A session whose kept
 * tokens the prompt mostly continues (it shares at least half of them) is
 * the conversation itself: the longest such prefix wins. Otherwise an
 * empty session is taken, so no other conversation is thrown away; failing
 * that, the one sharing the longest prefix (a common system prompt), and
 * among equals the least recently used. */
static slot *pick_slot(model_entry *m, const int32_t *toks, int64_t n, const char *text)
{
    slot *cont = NULL, *empty = NULL, *any = NULL;
    int64_t cont_len = 0, any_len = -1;
    /* engines that take text keep text: compare bytes instead of tokens */
    bool by_text = text && !m->info.has_tokenizer && m->ops->kept_text;
    int64_t n_text = by_text ? (int64_t)strlen(text) : 0;
    for (int i = 0; i < m->n_slots; i++) {
        slot *sl = &m->slots[i];
        if (sl->busy) continue;
        int64_t nk, l = 0;
        if (by_text) {
            const char *kept;
            nk = (int64_t)m->ops->kept_text(sl->sess, &kept);
            while (l < nk && l < n_text && kept[l] == text[l]) l++;
        } else {
            const int32_t *kept;
            nk = m->ops->kept_tokens(sl->sess, &kept);
            while (l < nk && l < n && kept[l] == toks[l]) l++;
        }
        if (l > 0 && 2 * l >= nk && (l > cont_len || (l == cont_len && sl->last_used < cont->last_used))) {
            cont = sl;
            cont_len = l;
        }
        if (nk == 0 && (!empty || sl->last_used < empty->last_used)) empty = sl;
        if (l > any_len || (l == any_len && sl->last_used < any->last_used)) {
            any = sl;
            any_len = l;
        }
    }
    return cont ? cont : empty ? empty : any;
}

/* Under s->mu: for embeddings, which discard a session's kept tokens, the
 * idle session with the least to lose. */
static slot *pick_slot_for_embed(model_entry *m)
{
    slot *best = NULL;
    int64_t best_kept = 0;
    for (int i = 0; i < m->n_slots; i++) {
        slot *sl = &m->slots[i];
        if (sl->busy) continue;
        const int32_t *kept;
        int64_t nk = m->ops->kept_tokens(sl->sess, &kept);
        if (!best || nk < best_kept || (nk == best_kept && sl->last_used < best->last_used)) {
            best = sl;
            best_kept = nk;
        }
    }
    return best;
}

static slot *claim(sched *s, model_entry *m, sched_job *j, const int32_t *toks, int64_t n, const char *text,
                   bool embed)
{
    pthread_mutex_lock(&s->mu);
    slot *sl = embed ? pick_slot_for_embed(m) : pick_slot(m, toks, n, text);
    sl->busy = true;
    sl->job = j;
    pthread_mutex_unlock(&s->mu);
    return sl;
}

static void unclaim(sched *s, slot *sl)
{
    pthread_mutex_lock(&s->mu);
    sl->busy = false;
    sl->job = NULL;
    sl->last_used = mono_ms();
    pthread_mutex_unlock(&s->mu);
}

typedef struct {
    model_entry *m;
    sched_job *j;
    double first_text;
} gen_ctx;

/* JSON-constrained generation. The constraint must see every sampled
 * token before the next is filtered, but textgen only passes on text (and
 * holds some back), so the engine's generate is wrapped: the wrapper's
 * token callback advances the constraint, then hands the token on. */
typedef struct {
    const engine_ops *real;
    json_constraint *jc;
} constrained;

typedef struct {
    engine_token_fn on_token;
    void *user;
    json_constraint *jc;
} constrained_call;

static void constrained_filter(void *user, float *logits, int32_t n_vocab)
{
    constrained *cx = user;
    json_constraint_filter(cx->jc, logits, n_vocab);
}

static bool constrained_token(void *user, int32_t token, const char *piece, size_t len)
{
    constrained_call *cc = user;
    json_constraint_accept_token(cc->jc, token);
    return cc->on_token(cc->user, token, piece, len);
}

static int constrained_generate(engine_session *s, const int32_t *prompt, int64_t n_prompt, const engine_gen_params *p,
                                engine_token_fn on_token, void *user, engine_stats *stats, char *err, size_t errlen)
{
    constrained *cx = p->filter_user;
    constrained_call cc = {.on_token = on_token, .user = user, .jc = cx->jc};
    return cx->real->generate(s, prompt, n_prompt, p, constrained_token, &cc, stats, err, errlen);
}

static bool on_gen_text(void *user, const char *text, size_t len)
{
    gen_ctx *g = user;
    if (!g->first_text) g->first_text = mono_ms();
    /* let the model's other sessions compute while this text goes out
     * (engines whose sessions run at once hold no turn here) */
    bool turns = !g->m->info.concurrent_sessions;
    if (turns) ticket_release(&g->m->compute);
    bool go_on = g->j->sink.on_text ? g->j->sink.on_text(g->j->sink.user, text, len) : true;
    if (turns) ticket_acquire(&g->m->compute);
    return go_on && !atomic_load(&g->j->cancel);
}

static void start_event(model_entry *m, sched_job *j, const char *prompt_text, int64_t n_prompt,
                        const char *answer_prefix)
{
    if (!j->sink.on_start) return;
    rk_start st = {.model = m->name, .info = &m->info, .chat = &m->chat, .template_src = m->template_src,
                   .prompt_text = prompt_text, .n_prompt = n_prompt, .answer_prefix = answer_prefix};
    j->sink.on_start(j->sink.user, &st);
}

/* ---- prompt caches ---------------------------------------------------- */

static bool ignore_token(void *user, int32_t token, const char *piece, size_t len)
{
    (void)user, (void)token, (void)piece, (void)len;
    return true;
}

/* The text a prompt cache's state holds: the conversation rendered with the
 * cached content as its system message, cut right after that content (so
 * it is a prefix of every prompt whose system message starts with it). */
static char *cache_prefix_text(model_entry *m, const rk_request *r, rk_error *e)
{
    rk_request tmp;
    request_init(&tmp);
    tmp.messages = json_pack("[{s:s, s:s}, {s:s, s:s}]", "role", "system", "content", r->cache_content, "role",
                             "user", "content", "?");
    tmp.template_vars = r->template_vars ? json_incref(r->template_vars) : NULL;
    tmp.enable_thinking = r->enable_thinking;
    char *text = tmp.messages ? request_render_chat(&tmp, &m->chat, NULL, e) : NULL;
    request_free(&tmp);
    if (!text) {
        if (!e->status) rk_fail(e, 500, NULL, "out of memory");
        return NULL;
    }
    char *at = *r->cache_content ? strstr(text, r->cache_content) : NULL;
    if (!at) {
        free(text);
        rk_fail(e, 400, "cache_prompts", "the model's chat template does not show a system message as given, so a "
                                         "prompt cache cannot be placed");
        return NULL;
    }
    at[strlen(r->cache_content)] = 0;
    return text;
}

/* DIR/NAME-KEY.state, where KEY hashes the prefix, the model file and the
 * engine: a changed system cache, model or engine names another file. */
static char *cache_state_path(const model_entry *m, const rk_request *r, const char *prefix)
{
    size_t n = strlen(prefix) + strlen(m->entry->digest) + strlen(m->ops->name) + 3;
    char *key_src = malloc(n), hash[65];
    if (!key_src) return NULL;
    snprintf(key_src, n, "%s\n%s\n%s", prefix, m->entry->digest, m->ops->name);
    prompt_cache_hash(key_src, hash);
    free(key_src);
    size_t pn = strlen(r->cache_dir) + strlen(r->cache_name) + 32;
    char *path = malloc(pn);
    if (path) snprintf(path, pn, "%s/%s-%.16s.state", r->cache_dir, r->cache_name, hash);
    return path;
}

/* Removes NAME-*.state files of a cache other than keep (stale states). */
static void cache_drop_stale(const char *dir, const char *name, const char *keep)
{
    DIR *d = opendir(dir);
    if (!d) return;
    const char *keep_base = strrchr(keep, '/') ? strrchr(keep, '/') + 1 : keep;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (!prompt_cache_is_state_of(de->d_name, name) || !strcmp(de->d_name, keep_base)) continue;
        size_t pn = strlen(dir) + strlen(de->d_name) + 2;
        char *p = malloc(pn);
        if (p) {
            snprintf(p, pn, "%s/%s", dir, de->d_name);
            unlink(p);
            free(p);
        }
    }
    closedir(d);
}

/* Brings the session to a prompt cache's prefix: nothing when it already
 * holds it, else restores the saved state; a missing state, or one the
 * engine refuses (another model, corrupt), is rebuilt by prefilling the
 * prefix and saved atomically. Called holding the model's compute turn. */
static int cache_prepare(model_entry *m, slot *sl, const rk_request *r, rk_result *res)
{
    bool text_engine = !m->info.has_tokenizer;
    char *prefix = cache_prefix_text(m, r, &res->error);
    if (!prefix) return -1;
    int32_t *ptoks = NULL;
    int64_t np = 0;
    if (!text_engine) {
        np = engine_tokenize_alloc(m->ops, m->em, prefix, engine_prompt_wants_bos(&m->info, prefix), &ptoks);
        if (np < 0) {
            free(prefix);
            return rk_fail(&res->error, 500, NULL, "out of memory");
        }
        if (np >= m->info.n_ctx) {
            free(prefix);
            free(ptoks);
            return rk_fail(&res->error, 400, "cache_prompts", "the cached text has %lld tokens; the context holds %d",
                           (long long)np, m->info.n_ctx);
        }
    }
    res->cache_tokens = np;
    char *path = cache_state_path(m, r, prefix);
    int rc = -1;
    char err[512] = "";
    if (!path) {
        rk_fail(&res->error, 500, NULL, "out of memory");
        goto out;
    }
    const int32_t *kept;
    const char *kept_text = NULL;
    int64_t nk = text_engine ? 0 : m->ops->kept_tokens(sl->sess, &kept);
    size_t nkt = text_engine && m->ops->kept_text ? m->ops->kept_text(sl->sess, &kept_text) : 0;
    if ((!text_engine && nk >= np && np > 0 && !memcmp(kept, ptoks, (size_t)np * sizeof *ptoks)) ||
        (text_engine && nkt >= strlen(prefix) && !strncmp(kept_text, prefix, strlen(prefix)))) {
        rc = 0; /* this session already continues from the cached text */
        goto out;
    }
    if (access(path, R_OK) == 0) {
        if (m->ops->restore(sl->sess, path, err, sizeof err) == 0) {
            rc = 0;
            goto out;
        }
        fprintf(stderr, "rkserve: prompt cache %s refused (%s); rebuilding it\n", path, err);
        unlink(path);
    }
    m->ops->session_reset(sl->sess);
    engine_gen_params gp = {.sampling = r->sampling, .max_tokens = 0, .n_keep = -1};
    engine_stats st;
    int g = text_engine ? m->ops->generate_text(sl->sess, prefix, &gp, ignore_token, NULL, &st, err, sizeof err)
                        : m->ops->generate(sl->sess, ptoks, np, &gp, ignore_token, NULL, &st, err, sizeof err);
    if (g != 0) {
        rk_fail(&res->error, 500, NULL, "building the prompt cache failed: %s", err);
        goto out;
    }
    if (text_engine && st.prompt_tokens > 0) res->cache_tokens = st.prompt_tokens;
    res->stats.prefill_ms += st.prefill_ms;
    size_t tl = strlen(path) + 8;
    char *tmp = malloc(tl);
    if (tmp) snprintf(tmp, tl, "%s.tmp", path);
    if (!tmp) {
        rk_fail(&res->error, 500, NULL, "out of memory");
    } else if (m->ops->save(sl->sess, tmp, err, sizeof err) != 0 || rename(tmp, path) != 0) {
        unlink(tmp);
        rk_fail(&res->error, 500, NULL, "saving the prompt cache failed: %s", err[0] ? err : strerror(errno));
    } else {
        res->cache_built = true;
        cache_drop_stale(r->cache_dir, r->cache_name, path);
        rc = 0;
        /* a runtime that built the cache aside starts from it now */
        if (text_engine && m->ops->restore(sl->sess, path, err, sizeof err) != 0)
            fprintf(stderr, "rkserve: prompt cache %s built but not loaded: %s\n", path, err);
    }
    free(tmp);
out:
    free(path);
    free(prefix);
    free(ptoks);
    return rc;
}

/* RK_KIND_CACHE: builds (or checks) a cache's state on the session with the
 * least to lose. */
static void run_cache(sched *s, model_entry *m, sched_job *j, rk_result *res)
{
    slot *sl = claim(s, m, j, NULL, 0, NULL, true);
    start_event(m, j, NULL, 0, "");
    ticket_acquire(&m->compute);
    cache_prepare(m, sl, j->req, res);
    ticket_release(&m->compute);
    unclaim(s, sl);
    res->stats.prompt_tokens = (int32_t)res->cache_tokens;
}

/* tool_choice "required" or named: the answer starts with the family's call
 * opening (appended to the prompt) and is constrained to a call of an
 * offered tool, its arguments to the tool's parameter schema when the
 * constraint can compile it. */
static int force_tool_call(model_entry *m, rk_request *r, const char **answer_prefix, rk_error *e)
{
    if (r->format != RK_FORMAT_TEXT)
        return rk_fail(e, 400, "tool_choice", "a forced tool call cannot be combined with response_format");
    chat_output_format fmt = chat_output_format_detect(m->chat.family, m->template_src);
    char err[512];
    json_t *schema = tool_choice_schema(r->tools, r->forced_tool, fmt, 1, err, sizeof err);
    if (!schema) return rk_fail(e, 400, "tool_choice", "%s", err);
    json_constraint *probe = json_constraint_new(schema, true, err, sizeof err);
    if (!probe) {
        json_decref(schema);
        schema = tool_choice_schema(r->tools, r->forced_tool, fmt, 0, err, sizeof err);
        probe = schema ? json_constraint_new(schema, true, err, sizeof err) : NULL;
        if (!probe) {
            json_decref(schema);
            return rk_fail(e, 400, "tool_choice", "cannot constrain the output to a tool call: %s", err);
        }
    }
    json_constraint_free(probe);
    json_decref(r->schema);
    r->schema = schema;
    r->format = RK_FORMAT_JSON_SCHEMA;
    *answer_prefix = tool_choice_prefix(fmt);
    return 0;
}

static void run_generate(sched *s, model_entry *m, sched_job *j, rk_result *res)
{
    rk_request *r = j->req;
    char *text = NULL;
    int32_t *toks = NULL;
    int64_t n = 0;
    vision_batch vb = {0};
    engine_embd_span *spans = NULL;
    int n_spans = 0;
    /* a sidecar's system prompt, as Ollama's SYSTEM, when the chat brings none */
    const char *first_role = json_string_value(json_object_get(json_array_get(r->messages, 0), "role"));
    if (r->kind == RK_KIND_CHAT && m->entry->system && *m->entry->system && !(first_role && !strcmp(first_role, "system")))
        json_array_insert_new(r->messages, 0, json_pack("{s:s, s:s}", "role", "system", "content", m->entry->system));
    /* an engine whose runtime tokenizes inside (the NPU) gets the text */
    bool text_engine = !m->info.has_tokenizer;
    if (text_engine) {
        if (!m->ops->generate_text) {
            rk_fail(&res->error, 500, NULL, "the %s engine can neither tokenize nor take text", m->ops->name);
            goto out;
        }
        if (r->kind != RK_KIND_CHAT && !r->prompt.text) {
            rk_fail(&res->error, 400, "prompt", "model '%s' runs on the %s engine, which takes text prompts, not token ids",
                    m->name, m->ops->name);
            goto out;
        }
        if (r->format != RK_FORMAT_TEXT || r->sampling.n_logit_bias > 0 || r->force_tool_call) {
            rk_fail(&res->error, 400,
                    r->format != RK_FORMAT_TEXT ? "response_format"
                    : r->force_tool_call        ? "tool_choice"
                                                : "logit_bias",
                    "model '%s' runs on the %s engine, which does not expose logits: JSON-constrained output, "
                    "forced tool calls and logit_bias are not available",
                    m->name, m->ops->name);
            goto out;
        }
    }
    const char *answer_prefix = "";
    if (r->kind == RK_KIND_CHAT && r->force_tool_call && force_tool_call(m, r, &answer_prefix, &res->error) != 0)
        goto out;
    const char *image_marker = m->vision.preset ? m->vision.preset->image_marker : NULL;
    if (r->n_images > 0) {
        if (!m->vision.vm) {
            rk_fail(&res->error, 400, "images", "model '%s' cannot read images: %s", m->name,
                    m->vision_err ? m->vision_err : "it has no vision encoder (an mmproj GGUF or .rknn next to it)");
            goto out;
        }
        if (r->kind != RK_KIND_CHAT && !r->prompt.text) {
            rk_fail(&res->error, 400, "images", "images need a text prompt that marks them with %s", image_marker);
            goto out;
        }
        image_limits lim = {.max_bytes = s->cfg->max_image_bytes, .max_pixels = 64u << 20};
        ticket_acquire(&m->compute);
        int vrc = vision_batch_encode(&m->vision, r->images, r->n_images, &lim, &vb, &res->error);
        ticket_release(&m->compute);
        if (vrc != 0) goto out;
    }
    ticket_acquire(&m->compute);
    if (r->kind == RK_KIND_CHAT) {
        text = request_render_chat(r, &m->chat, image_marker, &res->error);
        if (text && *answer_prefix) {
            char *with = malloc(strlen(text) + strlen(answer_prefix) + 1);
            if (with) strcat(strcpy(with, text), answer_prefix);
            free(text);
            text = with;
        }
    } else if (r->prompt.text) {
        text = strdup(r->prompt.text);
    }
    if (text && r->n_images > 0) {
        char *expanded = vision_expand_prompt(&m->vision, text, &vb, &res->error);
        free(text);
        text = expanded;
    }
    if (text && !text_engine)
        n = engine_tokenize_alloc(m->ops, m->em, text, engine_prompt_wants_bos(&m->info, text), &toks);
    if (r->kind == RK_KIND_CHAT || r->prompt.text) {
        /* tokenized above */
    } else {
        n = r->prompt.n_tokens;
        toks = malloc((size_t)(n ? n : 1) * sizeof *toks);
        if (toks) memcpy(toks, r->prompt.tokens, (size_t)n * sizeof *toks);
        else n = -1;
    }
    ticket_release(&m->compute);
    if (res->error.status) goto out;
    if ((!text && r->prompt.text) || n < 0) {
        rk_fail(&res->error, 500, NULL, "out of memory");
        goto out;
    }
    if (r->n_images > 0 && vision_make_spans(&m->vision, toks, n, &vb, &spans, &n_spans, &res->error) != 0) goto out;
    if (text_engine ? !*text : n == 0) {
        rk_fail(&res->error, 400, "prompt", "the prompt is empty");
        goto out;
    }
    for (int64_t i = 0; i < n; i++)
        if (toks[i] < 0 || toks[i] >= m->info.n_vocab) {
            rk_fail(&res->error, 400, "prompt", "token id %d is outside the vocabulary (0..%d)", toks[i],
                    m->info.n_vocab - 1);
            goto out;
        }
    for (int i = 0; i < r->sampling.n_logit_bias; i++)
        if (r->logit_bias[i].token >= m->info.n_vocab) {
            rk_fail(&res->error, 400, "logit_bias", "token id %d is outside the vocabulary (0..%d)",
                    r->logit_bias[i].token, m->info.n_vocab - 1);
            goto out;
        }
    /* num_ctx below the loaded context narrows this request's window */
    int32_t window = r->num_ctx > 0 && r->num_ctx < m->info.n_ctx ? r->num_ctx : m->info.n_ctx;
    if (!text_engine && n >= window) {
        rk_fail(&res->error, 400, "messages",
                "the prompt has %lld tokens but the context holds %d (it must leave room for the answer)",
                (long long)n, window);
        res->error.code = "context_length_exceeded";
        goto out;
    }

    int32_t max_tokens = r->max_tokens;
    if (window < m->info.n_ctx && (max_tokens < 0 || max_tokens > window - n)) max_tokens = (int32_t)(window - n);

    /* sessions keep identities at image positions: compare with those */
    int32_t *ident = NULL;
    if (!text_engine && n_spans > 0 && (ident = malloc((size_t)n * sizeof *ident))) {
        memcpy(ident, toks, (size_t)n * sizeof *ident);
        for (int k = 0; k < n_spans; k++)
            for (int32_t o = 0; o < spans[k].n_tokens; o++)
                ident[spans[k].pos + o] = engine_span_identity(spans[k].hash, o);
    }
    slot *sl = claim(s, m, j, ident ? ident : toks, n, text, false);
    free(ident);
    if (r->cache_content) {
        ticket_acquire(&m->compute);
        int crc = cache_prepare(m, sl, r, res);
        ticket_release(&m->compute);
        if (crc != 0) {
            unclaim(s, sl);
            goto out;
        }
    }
    start_event(m, j, text, n, answer_prefix);

    const char *family_stops[8];
    int n_family = r->kind == RK_KIND_CHAT ? chat_builtin_stops(m->chat.family, family_stops, 8) : 0;
    const char **stops = malloc((size_t)(r->n_stop + n_family + 1) * sizeof *stops);
    if (!stops) {
        unclaim(s, sl);
        rk_fail(&res->error, 500, NULL, "out of memory");
        goto out;
    }
    int n_stops = 0;
    for (int i = 0; i < r->n_stop; i++) stops[n_stops++] = r->stop[i];
    for (int i = 0; i < n_family; i++) stops[n_stops++] = family_stops[i];

    textgen_params p = {
        .gen = {.sampling = r->sampling, .max_tokens = max_tokens, .n_keep = r->n_keep, .ignore_eos = r->ignore_eos,
                .cancel = &j->cancel},
        .stop = stops,
        .n_stop = n_stops,
        .prompt_text = text_engine ? text : NULL,
    };
    p.gen.sampling.logit_bias = r->logit_bias;
    p.gen.spans = spans;
    p.gen.n_spans = n_spans;
    if (m->vision.preset) {
        p.gen.image_marker = m->vision.preset->image_marker;
        p.gen.image_start = m->vision.preset->image_start;
        p.gen.image_end = m->vision.preset->image_end;
        p.gen.image_content = m->vision.preset->placeholder;
    }
    gen_ctx g = {.m = m, .j = j};
    textgen_result tr;
    char err[512];
    ticket_acquire(&m->compute);
    engine_ops wrapped;
    const engine_ops *ops = m->ops;
    constrained cx = {.real = m->ops};
    int rc = 0;
    if (r->format != RK_FORMAT_TEXT) {
        if (!m->jvocab) m->jvocab = json_vocab_from_engine(m->ops, m->em, err, sizeof err);
        cx.jc = m->jvocab ? json_constraint_new(r->format == RK_FORMAT_JSON_SCHEMA ? r->schema : NULL, true, err, sizeof err)
                          : NULL;
        if (!cx.jc) {
            rc = -1;
        } else {
            json_constraint_set_vocab(cx.jc, m->jvocab);
            wrapped = *m->ops;
            wrapped.generate = constrained_generate;
            ops = &wrapped;
            p.gen.logits_filter = constrained_filter;
            p.gen.filter_user = &cx;
            p.gen.ignore_eos = false; /* the document ends with end of generation */
        }
    }
    /* an engine whose sessions run at once (and batch) generates without
     * the model's turn; the others take turns token by token */
    bool turns = !m->info.concurrent_sessions;
    if (!turns) ticket_release(&m->compute);
    if (rc == 0) rc = textgen_run(ops, sl->sess, toks, n, &p, on_gen_text, &g, &tr, err, sizeof err);
    if (turns) ticket_release(&m->compute);
    json_constraint_free(cx.jc);
    unclaim(s, sl);
    free(stops);
    if (rc != 0) {
        rk_fail(&res->error, 500, NULL, "generation failed: %s", err);
        goto out;
    }
    res->finish = atomic_load(&j->cancel) ? TEXTGEN_CANCELLED : tr.finish;
    res->stats = tr.engine;
    res->ttft_ms = (g.first_text ? g.first_text : mono_ms()) - j->t_submit;
out:
    free(text);
    free(toks);
    free(spans);
    vision_batch_free(&vb);
}

/* One embedding input on an engine that tokenizes inside: text only, and
 * the token count is the engine's to report (it is not). */
static void embed_text_input(model_entry *m, slot *sl, int i, const rk_input *in, rk_result *res)
{
    if (!in->text) {
        rk_fail(&res->error, 400, "input", "model '%s' runs on the %s engine, which takes text, not token ids", m->name,
                m->ops->name);
        return;
    }
    if (!*in->text) {
        rk_fail(&res->error, 400, "input", "input %d is empty", i);
        return;
    }
    if (!m->ops->embed_text) {
        rk_fail(&res->error, 400, "input", "the %s engine cannot compute embeddings", m->ops->name);
        return;
    }
    char err[512];
    ticket_acquire(&m->compute);
    if (m->ops->embed_text(sl->sess, in->text, res->embeddings + (size_t)i * m->info.n_embd, err, sizeof err) != 0)
        rk_fail(&res->error, 500, NULL, "embedding failed: %s", err);
    else
        res->n_embeddings = i + 1;
    ticket_release(&m->compute);
}

static void run_embed(sched *s, model_entry *m, sched_job *j, rk_result *res)
{
    rk_request *r = j->req;
    int32_t d = m->info.n_embd;
    res->n_embd = d;
    res->embeddings = malloc((size_t)(r->n_inputs ? r->n_inputs : 1) * (size_t)d * sizeof(float));
    if (!res->embeddings) {
        rk_fail(&res->error, 500, NULL, "out of memory");
        return;
    }
    slot *sl = claim(s, m, j, NULL, 0, NULL, true);
    start_event(m, j, NULL, 0, "");
    for (int i = 0; i < r->n_inputs && !res->error.status; i++) {
        if (atomic_load(&j->cancel)) {
            res->finish = TEXTGEN_CANCELLED;
            break;
        }
        const rk_input *in = &r->inputs[i];
        if (!m->info.has_tokenizer) {
            embed_text_input(m, sl, i, in, res);
            continue;
        }
        int32_t *toks = NULL;
        int64_t n;
        ticket_acquire(&m->compute);
        if (in->text) {
            n = engine_tokenize_alloc(m->ops, m->em, in->text, true, &toks);
        } else {
            n = in->n_tokens;
            toks = malloc((size_t)(n ? n : 1) * sizeof *toks);
            if (toks) memcpy(toks, in->tokens, (size_t)n * sizeof *toks);
            else n = -1;
        }
        if (n < 0) rk_fail(&res->error, 500, NULL, "out of memory");
        else if (n == 0) rk_fail(&res->error, 400, "input", "input %d is empty", i);
        else if (n > m->info.n_ctx && !r->truncate)
            rk_fail(&res->error, 400, "input", "input %d has %lld tokens but the context holds %d", i, (long long)n,
                    m->info.n_ctx);
        for (int64_t t = 0; !res->error.status && t < n; t++)
            if (toks[t] < 0 || toks[t] >= m->info.n_vocab)
                rk_fail(&res->error, 400, "input", "token id %d is outside the vocabulary (0..%d)", toks[t],
                        m->info.n_vocab - 1);
        if (!res->error.status) {
            if (n > m->info.n_ctx) n = m->info.n_ctx;
            char err[512];
            if (m->ops->embed(sl->sess, toks, n, res->embeddings + (size_t)i * d, err, sizeof err) != 0)
                rk_fail(&res->error, 500, NULL, "embedding failed: %s", err);
            res->embed_tokens += n;
            res->n_embeddings = i + 1;
        }
        ticket_release(&m->compute);
        free(toks);
    }
    unclaim(s, sl);
    res->stats.prompt_tokens = (int32_t)res->embed_tokens;
}

/* Runs j into res; the caller reports it (after updating the model's state,
 * so a client that sees the answer also sees its effects). */
static void run_job(sched *s, model_entry *m, sched_job *j, rk_result *res_out)
{
    rk_result res;
    memset(&res, 0, sizeof res);
    double t = mono_ms();
    res.queue_ms = t - j->t_submit;
    res.load_ms = m->loaded_at >= j->t_submit ? m->load_ms : 0;
    res.finish = TEXTGEN_STOP;
    if (atomic_load(&j->cancel)) {
        res.finish = TEXTGEN_CANCELLED;
    } else if (j->req->kind == RK_KIND_LOAD) {
        start_event(m, j, NULL, 0, "");
    } else if (j->req->kind == RK_KIND_CACHE) {
        run_cache(s, m, j, &res);
    } else if (j->req->kind == RK_KIND_EMBED) {
        run_embed(s, m, j, &res);
    } else {
        run_generate(s, m, j, &res);
    }
    if (!res.ttft_ms) res.ttft_ms = mono_ms() - j->t_submit;
    *res_out = res;
}

static void *worker_main(void *arg)
{
    model_entry *m = arg;
    sched *s = m->s;
    pthread_mutex_lock(&s->mu);
    for (;;) {
        while (!m->stop && !m->head) pthread_cond_wait(&m->work_cv, &s->mu);
        if (m->stop) break;
        sched_job *j = m->head;
        m->head = j->next;
        if (!m->head) m->tail = NULL;
        j->next = NULL;
        m->queued--;
        m->running++;
        j->state = JOB_RUNNING;
        pthread_mutex_unlock(&s->mu);

        double t0 = mono_ms();
        rk_result res;
        run_job(s, m, j, &res);
        double t1 = mono_ms();

        pthread_mutex_lock(&s->mu);
        m->running--;
        j->state = JOB_DONE;
        m->last_used = t1;
        int64_t keep = j->req->has_keep_alive ? j->req->keep_alive_ms : s->cfg->keep_alive_ms;
        m->expires_at = keep == RK_KEEP_FOREVER ? INFINITY : t1 + (double)(keep > 0 ? keep : 0);
        s->avg_job_ms = s->avg_job_ms ? 0.8 * s->avg_job_ms + 0.2 * (t1 - t0) : t1 - t0;
        pthread_cond_signal(&s->manager_cv);
        pthread_mutex_unlock(&s->mu);
        job_finish(j, &res);
        free(res.embeddings);
        job_unref(j);
        pthread_mutex_lock(&s->mu);
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

/* ---- public ---------------------------------------------------------- */

static uint64_t default_budget(void)
{
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    if (pages <= 0 || page <= 0) return UINT64_MAX;
    return (uint64_t)pages * (uint64_t)page / 4 * 3;
}

sched *sched_new(const rk_config *cfg, char *err, size_t errlen)
{
    sched *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    s->cfg = cfg;
    s->budget = cfg->memory_budget ? cfg->memory_budget : default_budget();
    if (cfg->chat_template_file) {
        FILE *f = fopen(cfg->chat_template_file, "rb");
        long n = -1;
        if (f && fseek(f, 0, SEEK_END) == 0) n = ftell(f);
        if (f && n >= 0 && fseek(f, 0, SEEK_SET) == 0 && (s->template_src = malloc((size_t)n + 1))) {
            if (fread(s->template_src, 1, (size_t)n, f) != (size_t)n) n = -1;
            else s->template_src[n] = 0;
        }
        int e = errno;
        if (f) fclose(f);
        char perr[256] = "";
        jinja_template *t = n >= 0 && s->template_src ? jinja_parse(s->template_src, (size_t)n, perr, sizeof perr) : NULL;
        if (!t) {
            if (n < 0 || !s->template_src) snprintf(err, errlen, "--chat-template %s: %s", cfg->chat_template_file, strerror(e ? e : EIO));
            else snprintf(err, errlen, "--chat-template %s:%s", cfg->chat_template_file, perr);
            free(s->template_src);
            free(s);
            return NULL;
        }
        jinja_free(t);
    }
    char perr[512];
    if (vision_presets_load_text(&s->presets, rk_vision_presets_json, "shipped vision presets", perr, sizeof perr) != 0 ||
        (cfg->vision_presets_file && vision_presets_load(&s->presets, cfg->vision_presets_file, perr, sizeof perr) != 0)) {
        snprintf(err, errlen, "%s", perr);
        vision_presets_free(&s->presets);
        free(s->template_src);
        free(s);
        return NULL;
    }
    s->reg = registry_new((const char *const *)cfg->model_dirs, cfg->n_model_dirs, NULL);
    if (!s->reg) {
        vision_presets_free(&s->presets);
        snprintf(err, errlen, "out of memory");
        free(s->template_src);
        free(s);
        return NULL;
    }
    pthread_mutex_init(&s->mu, NULL);
    cond_init_mono(&s->manager_cv);
    cond_init_mono(&s->state_cv);
    pthread_mutex_lock(&s->mu);
    rescan(s);
    pthread_mutex_unlock(&s->mu);
    if (pthread_create(&s->manager, NULL, manager_main, s) != 0) {
        snprintf(err, errlen, "cannot start the scheduler thread");
        pthread_mutex_destroy(&s->mu);
        registry_free(s->reg);
        free(s->template_src);
        free(s);
        return NULL;
    }
    return s;
}

void sched_shutdown(sched *s)
{
    pthread_mutex_lock(&s->mu);
    s->stopping = true;
    sched_job *failed = NULL;
    for (model_entry *m = s->models; m; m = m->next) {
        sched_job *list = take_queue(m);
        while (list) {
            sched_job *next = list->next;
            list->next = failed;
            failed = list;
            list = next;
        }
        for (int i = 0; i < m->n_slots; i++)
            if (m->slots[i].job) atomic_store(&m->slots[i].job->cancel, true);
    }
    pthread_cond_broadcast(&s->manager_cv);
    pthread_mutex_unlock(&s->mu);
    fail_list(failed, 503, "the server is shutting down");
}

void sched_free(sched *s)
{
    if (!s) return;
    sched_shutdown(s);
    pthread_join(s->manager, NULL);
    pthread_mutex_lock(&s->mu);
    for (model_entry *m = s->models; m; m = m->next)
        if (m->state == M_LOADED) unload_locked(s, m);
    pthread_mutex_unlock(&s->mu);
    while (s->models) {
        model_entry *m = s->models;
        s->models = m->next;
        pthread_cond_destroy(&m->work_cv);
        ticket_destroy(&m->compute);
        registry_entry_release(m->entry);
        free(m->name);
        free(m);
    }
    registry_free(s->reg);
    vision_presets_free(&s->presets);
    pthread_cond_destroy(&s->manager_cv);
    pthread_cond_destroy(&s->state_cv);
    pthread_mutex_destroy(&s->mu);
    free(s->template_src);
    free(s);
}

sched_job *sched_submit(sched *s, rk_request *req, const rk_sink *sink, rk_error *e)
{
    sched_job *j = calloc(1, sizeof *j);
    if (!j) {
        request_destroy(req);
        rk_fail(e, 500, NULL, "out of memory");
        return NULL;
    }
    atomic_init(&j->refs, 2);
    atomic_init(&j->cancel, false);
    j->req = req;
    j->sink = *sink;
    j->t_submit = mono_ms();
    pthread_mutex_lock(&s->mu);
    if (s->stopping) rk_fail(e, 503, NULL, "the server is shutting down");
    model_entry *m = s->stopping ? NULL : resolve(s, req->model, e);
    if (!m) {
        pthread_mutex_unlock(&s->mu);
        request_destroy(req);
        free(j);
        return NULL;
    }
    int slots = m->state == M_LOADED ? m->n_slots : s->cfg->parallel;
    if (m->queued + m->running >= slots + s->cfg->max_queue) {
        double per = s->avg_job_ms > 0 ? s->avg_job_ms : 1000;
        int retry = (int)ceil(per * (m->queued + 1) / slots / 1000.0);
        pthread_mutex_unlock(&s->mu);
        rk_fail(e, 503, NULL, "model '%s' is busy: %d requests are waiting; retry later", req->model,
                s->cfg->max_queue);
        e->retry_after = retry < 1 ? 1 : retry > 600 ? 600 : retry;
        request_destroy(req);
        free(j);
        return NULL;
    }
    j->model = m;
    j->state = JOB_QUEUED;
    if (m->tail) m->tail->next = j;
    else m->head = j;
    m->tail = j;
    m->queued++;
    m->unload_asap = false;
    if (m->state == M_UNLOADED) {
        m->state = M_WANT_LOAD;
        pthread_cond_signal(&s->manager_cv);
    } else if (m->state == M_LOADED) {
        pthread_cond_signal(&m->work_cv);
    }
    pthread_mutex_unlock(&s->mu);
    return j;
}

void sched_cancel(sched_job *j)
{
    if (!j) return;
    atomic_store(&j->cancel, true);
    model_entry *m = j->model;
    sched *s = m->s;
    bool removed = false;
    pthread_mutex_lock(&s->mu);
    if (j->state == JOB_QUEUED) {
        sched_job **pp = &m->head, *prev = NULL;
        while (*pp && *pp != j) {
            prev = *pp;
            pp = &(*pp)->next;
        }
        if (*pp) {
            *pp = j->next;
            if (m->tail == j) m->tail = prev;
            j->next = NULL;
            m->queued--;
            j->state = JOB_DONE;
            removed = true;
            pthread_cond_signal(&s->manager_cv);
        }
    }
    pthread_mutex_unlock(&s->mu);
    if (removed) {
        job_fail(j, 499, "the client went away");
        job_unref(j);
    }
}

static char *dup_or_null(const char *v)
{
    return v ? strdup(v) : NULL;
}

static void fill_status(sched *s, model_entry *m, sched_model_status *st)
{
    const registry_entry *e = m->entry;
    memset(st, 0, sizeof *st);
    st->name = strdup(m->name);
    st->path = strdup(e->path);
    st->digest = strdup(e->digest);
    st->format = strdup(registry_format_name(e->format));
    st->family = dup_or_null(e->family);
    st->param_label = dup_or_null(e->param_label);
    st->quant = dup_or_null(e->quant);
    st->file_bytes = e->size;
    st->modified = e->mtime_sec;
    st->n_params = e->n_params;
    st->context = e->context;
    st->vision = e->n_vision > 0;
    st->loaded = m->state == M_LOADED;
    st->queued = m->queued;
    st->running = m->running;
    const char *arch = e->arch, *tmpl = s->template_src ? s->template_src : e->chat_template;
    if (st->loaded) {
        st->mem_bytes = m->mem_bytes;
        st->n_sessions = m->n_slots;
        st->info = m->info;
        if (!arch) arch = m->info.arch;
        tmpl = m->template_src;
        if (!st->n_params) st->n_params = m->info.n_params;
        double left = m->expires_at - mono_ms();
        st->expires_at_ms = isinf(m->expires_at) ? INT64_MAX : (int64_t)(wall_ms() + (left > 0 ? left : 0));
    }
    st->arch = dup_or_null(arch);
    st->chat_template = dup_or_null(tmpl);
    /* pointers into the engine are not valid once the lock is dropped */
    st->info.engine = st->info.name = st->info.bos_text = st->info.eos_text = NULL;
    if (st->loaded && m->ops) st->info.engine = m->ops->name; /* engine tables are static */
    st->info.arch = st->arch;
    st->info.chat_template = st->chat_template;
}

int sched_models(sched *s, bool loaded_only, sched_model_status **out)
{
    pthread_mutex_lock(&s->mu);
    if (!loaded_only) rescan(s);
    int n = 0;
    for (model_entry *m = s->models; m; m = m->next)
        if (!m->missing && (!loaded_only || m->state == M_LOADED)) n++;
    sched_model_status *arr = calloc((size_t)(n ? n : 1), sizeof *arr);
    if (!arr) {
        pthread_mutex_unlock(&s->mu);
        return -1;
    }
    int i = 0;
    for (model_entry *m = s->models; m; m = m->next)
        if (!m->missing && (!loaded_only || m->state == M_LOADED)) fill_status(s, m, &arr[i++]);
    pthread_mutex_unlock(&s->mu);
    *out = arr;
    return n;
}

void sched_status_clear(sched_model_status *m)
{
    free(m->name);
    free(m->path);
    free(m->digest);
    free(m->format);
    free(m->family);
    free(m->param_label);
    free(m->quant);
    free(m->arch);
    free(m->chat_template);
    memset(m, 0, sizeof *m);
}

void sched_models_free(sched_model_status *m, int n)
{
    if (!m) return;
    for (int i = 0; i < n; i++) sched_status_clear(&m[i]);
    free(m);
}

int sched_lookup(sched *s, const char *name, sched_model_status *out, rk_error *e)
{
    pthread_mutex_lock(&s->mu);
    model_entry *m = resolve(s, name, e);
    if (m) fill_status(s, m, out);
    pthread_mutex_unlock(&s->mu);
    return m ? 0 : -1;
}

json_t *sched_model_parameters(sched *s, const char *name)
{
    rk_error e;
    pthread_mutex_lock(&s->mu);
    model_entry *m = resolve(s, name, &e);
    const char *text = m ? m->entry->parameters_json : NULL;
    json_t *params = text ? json_loads(text, 0, NULL) : NULL;
    pthread_mutex_unlock(&s->mu);
    if (params && !json_is_object(params)) {
        json_decref(params);
        params = NULL;
    }
    return params;
}

/* Under s->mu: asks the manager to unload m once idle and waits for it. */
static bool unload_and_wait(sched *s, model_entry *m, int timeout_ms)
{
    if (m->state == M_UNLOADED) return true;
    m->unload_asap = true;
    pthread_cond_signal(&s->manager_cv);
    struct timespec ts;
    abs_deadline(&ts, timeout_ms);
    while (m->state != M_UNLOADED && m->unload_asap)
        if (pthread_cond_timedwait(&s->state_cv, &s->mu, &ts) == ETIMEDOUT) break;
    return m->state == M_UNLOADED;
}

int sched_unload(sched *s, const char *name, int timeout_ms, rk_error *e)
{
    pthread_mutex_lock(&s->mu);
    model_entry *m = resolve(s, name, e);
    int rc = !m ? -1 : m->state == M_UNLOADED ? 1 : unload_and_wait(s, m, timeout_ms) ? 0 : -2;
    pthread_mutex_unlock(&s->mu);
    return rc;
}

int sched_delete(sched *s, const char *name, rk_error *e)
{
    pthread_mutex_lock(&s->mu);
    model_entry *m = resolve(s, name, e);
    int rc = m ? 0 : -1;
    if (m && (m->queued || m->running || !unload_and_wait(s, m, 30000))) {
        rk_fail(e, 409, "model", "model '%s' is in use", m->name);
        rc = -1;
    }
    if (rc == 0) {
        char err[512];
        registry_status st = registry_remove(s->reg, m->name, err, sizeof err);
        if (st != REGISTRY_OK) {
            int status = st == REGISTRY_NOT_FOUND ? 404 : st == REGISTRY_FORBIDDEN ? 403
                         : st == REGISTRY_IN_USE ? 409 : 500;
            rk_fail(e, status, "model", "%s", err);
            rc = -1;
        }
        sync_entries(s);
    }
    pthread_mutex_unlock(&s->mu);
    return rc;
}

int sched_copy(sched *s, const char *src, const char *dst, rk_error *e)
{
    pthread_mutex_lock(&s->mu);
    model_entry *m = resolve(s, src, e);
    int rc = m ? 0 : -1;
    if (m) {
        char err[512];
        registry_status st = registry_copy(s->reg, m->name, dst, err, sizeof err);
        if (st != REGISTRY_OK) {
            int status = st == REGISTRY_INVALID_NAME || st == REGISTRY_EXISTS ? 400 : st == REGISTRY_NOT_FOUND ? 404 : 500;
            rk_fail(e, status, "destination", "%s", err);
            rc = -1;
        }
        sync_entries(s);
    }
    pthread_mutex_unlock(&s->mu);
    return rc;
}

void sched_get_totals(sched *s, sched_totals *t)
{
    memset(t, 0, sizeof *t);
    pthread_mutex_lock(&s->mu);
    for (model_entry *m = s->models; m; m = m->next) {
        t->queued += m->queued;
        t->running += m->running;
        if (m->state == M_LOADED) {
            t->loaded_models++;
            t->loaded_bytes += m->mem_bytes;
        }
    }
    t->memory_budget = s->budget;
    pthread_mutex_unlock(&s->mu);
}
