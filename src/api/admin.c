/* Operations endpoints: /health for load balancers and supervisors,
 * /metrics for Prometheus, /api/version. */
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "http/metrics.h"

static void h_health(http_req *r, void *app)
{
    api_app *a = app;
    sched_model_status *ms;
    int n = sched_models(a->sched, true, &ms);
    json_t *loaded = json_array();
    for (int i = 0; i < n; i++) json_array_append_new(loaded, json_string(ms[i].name));
    if (n >= 0) sched_models_free(ms, n);
    sched_totals t;
    sched_get_totals(a->sched, &t);
    json_t *out = json_pack("{s:s, s:s, s:I, s:o, s:i, s:i}", "status", "ok", "version", RKSERVE_VERSION,
                            "uptime_seconds", (json_int_t)(api_unix_now() - (double)a->started_unix), "loaded_models",
                            loaded, "queued", t.queued, "running", t.running);
    http_respond_json(r, 200, out);
}

static void h_metrics(http_req *r, void *app)
{
    api_app *a = app;
    sched_totals t;
    sched_get_totals(a->sched, &t);
    char *page = metrics_render(&t);
    if (!page) {
        http_respond_errorf(r, 500, NULL, "out of memory");
        return;
    }
    http_respond(r, 200, "text/plain; version=0.0.4; charset=utf-8", page, strlen(page));
}

static void h_version(http_req *r, void *app)
{
    (void)app;
    http_respond_json(r, 200, json_pack("{s:s}", "version", RKSERVE_VERSION));
}

static const http_route ROUTES[] = {
    {"GET", "/health", HTTP_STYLE_PLAIN, true, h_health},
    {"GET", "/metrics", HTTP_STYLE_PLAIN, false, h_metrics},
    {"GET", "/api/version", HTTP_STYLE_OLLAMA, false, h_version},
};

int admin_routes(const http_route **out)
{
    *out = ROUTES;
    return (int)(sizeof ROUTES / sizeof ROUTES[0]);
}
