/* The scheduler's insides, shared by its files: scheduler.c (queues,
 * loading, the manager, the public API), sched_run.c (running a job on a
 * session) and sched_cache.c (prompt caches). Nothing outside them
 * includes this. */
#ifndef RK_SCHED_INTERNAL_H
#define RK_SCHED_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <time.h>

#include "core/json_constraint.h"
#include "core/registry.h"
#include "core/scheduler.h"
#include "core/vision_input.h"

/* ---- time --------------------------------------------------------------- */

static inline double mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static inline double wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static inline void abs_deadline(struct timespec *ts, double ms_from_now)
{
    if (ms_from_now < 0) ms_from_now = 0;
    if (ms_from_now > 3.6e6) ms_from_now = 3.6e6;
    clock_gettime(CLOCK_MONOTONIC, ts);
    long long ns = ts->tv_nsec + (long long)(ms_from_now * 1e6);
    ts->tv_sec += ns / 1000000000LL;
    ts->tv_nsec = ns % 1000000000LL;
}

static inline void cond_init_mono(pthread_cond_t *c)
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

static inline void ticket_init(ticket_lock *t)
{
    pthread_mutex_init(&t->mu, NULL);
    pthread_cond_init(&t->cv, NULL);
    t->next = t->serving = 0;
}

static inline void ticket_destroy(ticket_lock *t)
{
    pthread_mutex_destroy(&t->mu);
    pthread_cond_destroy(&t->cv);
}

static inline void ticket_acquire(ticket_lock *t)
{
    pthread_mutex_lock(&t->mu);
    uint64_t me = t->next++;
    while (t->serving != me) pthread_cond_wait(&t->cv, &t->mu);
    pthread_mutex_unlock(&t->mu);
}

static inline void ticket_release(ticket_lock *t)
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


/* ---- between the files --------------------------------------------------- */

/* sched_run.c: runs j on one of m's sessions into res. */
void sched_run_job(sched *s, model_entry *m, sched_job *j, rk_result *res);
/* Takes an idle session for a prompt (tokens, or text for engines that take
 * text; embed: the one with the least to lose) and gives it back. */
slot *sched_claim(sched *s, model_entry *m, sched_job *j, const int32_t *toks, int64_t n, const char *text,
                  bool embed);
void sched_unclaim(sched *s, slot *sl);
/* The job's on_start event. */
void sched_start_event(model_entry *m, sched_job *j, const char *prompt_text, int64_t n_prompt,
                       const char *answer_prefix);

/* sched_cache.c: brings a session to a prompt cache's prefix (restoring or
 * building its state), for a chat request that uses caches; and the
 * RK_KIND_CACHE job. Called holding the model's compute turn. */
int sched_cache_prepare(model_entry *m, slot *sl, const rk_request *r, rk_result *res);
void sched_run_cache(sched *s, model_entry *m, sched_job *j, rk_result *res);

#endif
