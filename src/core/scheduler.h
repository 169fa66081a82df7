/* Runs requests on models: a queue per model, the model loaded on first use
 * and unloaded keep_alive after its last request (or to make room within
 * the memory budget), and --parallel sessions per model, each with its own
 * KV state and a worker thread.
 *
 * A request goes to the idle session whose kept tokens share the longest
 * prefix with its prompt, so a conversation continues on the session that
 * holds it and only its new tokens are computed (an empty session is
 * preferred to evicting another conversation). Engine calls of one model
 * are serialised by a fair lock that is handed over between tokens, so
 * parallel sessions interleave token by token on any engine, except the
 * generation of engines whose sessions may run at once
 * (engine_info.concurrent_sessions): there every session generates on its
 * own worker and the engine batches their decode steps. An engine without
 * that flag never runs two calls at once, but must accept calls on one
 * session while another session's generate waits in its token callback.
 *
 * A cancelled request leaves the queue at once, or stops within one token
 * when it is running. */
#ifndef RK_SCHEDULER_H
#define RK_SCHEDULER_H

#include <stdbool.h>
#include <stdint.h>

#include "core/config.h"
#include "core/request.h"

typedef struct sched sched;
typedef struct sched_job sched_job;

/* cfg must outlive the scheduler. Reads --chat-template if given. */
sched *sched_new(const rk_config *cfg, char *err, size_t errlen);
/* Refuses new requests, fails the queued ones and cancels those running;
 * handles stay valid until sched_free. */
void sched_shutdown(sched *s);
/* Shuts down, waits for the workers, unloads every model. */
void sched_free(sched *s);

/* Queues req, taking ownership of it (also on failure). Returns a handle
 * for sched_cancel / sched_release, or NULL with e filled: 404 for an
 * unknown model, 503 (with retry_after) when the model's queue is full.
 * The sink's callbacks run on scheduler threads; on_done may come before
 * this returns. */
sched_job *sched_submit(sched *s, rk_request *req, const rk_sink *sink, rk_error *e);
void sched_cancel(sched_job *j);
/* Drops the caller's handle (the job itself lives until on_done returned). */
void sched_release(sched_job *j);

typedef struct {
    char *name;               /* the name it is served under */
    char *path;
    char *digest;             /* the registry's (hex SHA-256 of path, size, mtime) */
    char *format;             /* "gguf", "rkllm" */
    char *family, *param_label, *quant; /* may be NULL */
    char *arch;               /* may be NULL */
    char *chat_template;      /* the template chat requests render with, or NULL */
    uint64_t file_bytes;
    int64_t modified;         /* file mtime, Unix seconds */
    uint64_t n_params;
    int64_t context;          /* context length the registry found (0: unknown) */
    bool vision;              /* a vision encoder sits next to it (mmproj / .rknn) */
    bool loaded;
    uint64_t mem_bytes;       /* weights and session state while loaded */
    int64_t expires_at_ms;    /* Unix ms when it will be unloaded; INT64_MAX: never; 0: not loaded */
    int queued, running;
    int n_sessions;
    engine_info info;         /* while loaded; its strings point to the copies above or are NULL */
} sched_model_status;

/* Every model found (rescanning the directories), or only the loaded ones.
 * Returns the count (or -1) and a malloc'd array in *out. */
int sched_models(sched *s, bool loaded_only, sched_model_status **out);
void sched_models_free(sched_model_status *m, int n);
/* Frees the strings of one status (from sched_lookup). */
void sched_status_clear(sched_model_status *m);
/* The status of one model by any name it answers to: 0, or -1 with e
 * filled (404, or 400 for an ambiguous name). */
int sched_lookup(sched *s, const char *name, sched_model_status *out, rk_error *e);

/* The model's default options (a sidecar's "parameters": Ollama option
 * names such as temperature, num_predict, stop), or NULL when it has none
 * or the name is unknown. The caller owns the reference. */
json_t *sched_model_parameters(sched *s, const char *name);

/* Unloads the model as soon as it is idle (at once when it is) and waits
 * up to timeout_ms for that. Returns 0 when unloaded, 1 when it was not
 * loaded, -1 when unknown (e filled), -2 when still busy at the timeout. */
int sched_unload(sched *s, const char *name, int timeout_ms, rk_error *e);

/* Ollama's delete and copy, through the registry (registry_remove and
 * registry_copy say what they touch). 0, or -1 with e filled. */
int sched_delete(sched *s, const char *name, rk_error *e);
int sched_copy(sched *s, const char *src, const char *dst, rk_error *e);

typedef struct {
    int loaded_models;
    int queued;      /* waiting requests over all models */
    int running;
    uint64_t loaded_bytes;
    uint64_t memory_budget;
} sched_totals;
void sched_get_totals(sched *s, sched_totals *t);

#endif
