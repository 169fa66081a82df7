/* POST /api/pull as Ollama answers it: NDJSON progress objects
 * ({"status": "pulling manifest"}, {"status": "pulling <digest>", "digest",
 * "total", "completed"}, "verifying sha256 digest", "writing manifest",
 * "success"), or with stream: false one final object. The download runs on
 * its own thread, never a scheduler's; a client that goes away cancels it
 * and the partial file stays for the next pull to resume. The scheduler
 * finds the new model on its next listing or lookup (it rescans). */
#include "api/pull.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "core/hub.h"

typedef struct {
    http_stream *out; /* streaming: where the progress goes */
    http_req *req;    /* not streaming: the request, to notice a client leaving */
    char *ref;
    char *models_dir;
} pull_job;

static bool send_obj(pull_job *j, json_t *o)
{
    char *text = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    if (!text) return false;
    size_t n = strlen(text);
    text[n] = '\n'; /* json_dumps left room for the NUL; the newline replaces it */
    bool ok = http_stream_write(j->out, text, n + 1);
    free(text);
    return ok;
}

static bool on_event(void *ctx, const hub_event *ev)
{
    pull_job *j = ctx;
    if (!j->out) return !(j->req && http_client_gone(j->req));
    json_t *o = NULL;
    switch (ev->kind) {
    case HUB_EV_MANIFEST: o = json_pack("{s:s}", "status", "pulling manifest"); break;
    case HUB_EV_FILE: {
        char status[600];
        /* Ollama names a layer by the first 12 hex digits of its digest */
        if (ev->digest && strlen(ev->digest) >= 19) snprintf(status, sizeof status, "pulling %.12s", ev->digest + 7);
        else snprintf(status, sizeof status, "pulling %s", ev->file);
        o = json_pack("{s:s, s:s, s:I, s:I}", "status", status, "digest", ev->digest ? ev->digest : "", "total",
                      (json_int_t)ev->total, "completed", (json_int_t)ev->completed);
        break;
    }
    case HUB_EV_VERIFY: o = json_pack("{s:s}", "status", "verifying sha256 digest"); break;
    case HUB_EV_WRITE: o = json_pack("{s:s}", "status", "writing manifest"); break;
    case HUB_EV_SUCCESS: o = json_pack("{s:s}", "status", "success"); break;
    case HUB_EV_NOTE: return true; /* Ollama has no status for these */
    }
    return o ? send_obj(j, o) : false;
}

static void job_free(pull_job *j)
{
    if (j->out) http_stream_unref(j->out);
    free(j->ref);
    free(j->models_dir);
    free(j);
}

static void *pull_thread(void *arg)
{
    pull_job *j = arg;
    hub_pull_opts o = {.ref = j->ref, .models_dir = j->models_dir, .progress = on_event, .ctx = j};
    hub_pull_result res;
    char err[4096];
    if (hub_pull(&o, &res, err, sizeof err) != 0) send_obj(j, json_pack("{s:s}", "error", err));
    http_stream_close(j->out);
    job_free(j);
    return NULL;
}

static void h_pull(http_req *r, void *app)
{
    api_app *a = app;
    rk_error e;
    json_t *body = http_json_body(r, &e);
    if (!body) {
        http_respond_error(r, &e);
        return;
    }
    const char *model = NULL;
    bool stream = true;
    if (api_opt_string(body, "model", &model, &e) || (!model && api_opt_string(body, "name", &model, &e)) ||
        api_opt_bool(body, "stream", &stream, &e)) {
        http_respond_error(r, &e);
        json_decref(body);
        return;
    }
    if (!model || !*model) {
        http_respond_errorf(r, 400, "model", "model is required");
        json_decref(body);
        return;
    }
    if (a->cfg->n_model_dirs < 1) {
        http_respond_errorf(r, 500, NULL, "the server has no models directory to pull into");
        json_decref(body);
        return;
    }
    pull_job *j = calloc(1, sizeof *j);
    if (j) {
        j->ref = strdup(model);
        j->models_dir = strdup(a->cfg->model_dirs[0]);
    }
    json_decref(body);
    if (!j || !j->ref || !j->models_dir) {
        if (j) job_free(j);
        http_respond_errorf(r, 500, NULL, "out of memory");
        return;
    }
    if (!stream) {
        j->req = r;
        hub_pull_opts o = {.ref = j->ref, .models_dir = j->models_dir, .progress = on_event, .ctx = j};
        hub_pull_result res;
        char err[4096];
        int rc = hub_pull(&o, &res, err, sizeof err);
        if (rc) http_respond_errorf(r, rc == 499 ? 500 : rc, NULL, "%s", err);
        else http_respond_json(r, 200, json_pack("{s:s}", "status", "success"));
        job_free(j);
        return;
    }
    if (!(j->out = http_stream_new(64 * 1024))) {
        job_free(j);
        http_respond_errorf(r, 500, NULL, "out of memory");
        return;
    }
    http_respond_stream(r, "application/x-ndjson", j->out, NULL, NULL);
    pthread_attr_t attr;
    pthread_t t;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    if (pthread_create(&t, &attr, pull_thread, j) != 0) {
        send_obj(j, json_pack("{s:s}", "error", "cannot start the pull"));
        http_stream_close(j->out);
        job_free(j);
    }
    pthread_attr_destroy(&attr);
}

static const http_route ROUTES[] = {
    {"POST", "/api/pull", HTTP_STYLE_OLLAMA, false, h_pull},
};

int pull_routes(const http_route **out)
{
    *out = ROUTES;
    return (int)(sizeof ROUTES / sizeof ROUTES[0]);
}
