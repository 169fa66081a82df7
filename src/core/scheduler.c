#include "core/scheduler.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/sched_internal.h"
#include "util/fsutil.h"

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
        sched_run_job(s, m, j, &res);
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
        char rerr[512], perr[256] = "";
        size_t n = 0;
        s->template_src = read_file(cfg->chat_template_file, 4u << 20, &n, rerr, sizeof rerr);
        jinja_template *t = s->template_src ? jinja_parse(s->template_src, n, perr, sizeof perr) : NULL;
        if (!t) {
            if (!s->template_src) snprintf(err, errlen, "--chat-template %s", rerr);
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
