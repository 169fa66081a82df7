/* rkserve serve: the HTTP server. Signals are handled by waiting for them
 * on the main thread (every other thread blocks them), so shutdown runs
 * as ordinary code: stop accepting, cancel the work, drain connections. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api/api.h"
#include "api/pull.h"
#include "cli/commands.h"
#include "core/config.h"
#include "core/scheduler.h"
#include "http/metrics.h"
#include "http/server.h"

extern char **environ;

static void on_complete(void *app, const char *route, const char *method, const char *url, int status, double ms)
{
    api_app *a = app;
    metrics_request(route, method, status, ms);
    if (a->cfg->verbose) fprintf(stderr, "rkserve: %s %s %d %.1f ms\n", method, url, status, ms);
}

int cmd_serve(int argc, char **argv)
{
    rk_config cfg;
    char err[1024];
    int rc = config_load(&cfg, argc, argv, environ, err, sizeof err);
    if (rc != 0) {
        if (rc < 0) fprintf(stderr, "rkserve serve: %s\n(see rkserve serve --help)\n", err);
        config_free(&cfg);
        return rc > 0 ? 0 : 2;
    }

    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);

    sched *s = sched_new(&cfg, err, sizeof err);
    if (!s) {
        fprintf(stderr, "rkserve serve: %s\n", err);
        config_free(&cfg);
        return 1;
    }
    api_app app = {.sched = s, .cfg = &cfg, .started_unix = (int64_t)time(NULL)};

    http_route routes[64];
    int n_routes = 0;
    int (*tables[])(const http_route **) = {openai_routes, ollama_routes, admin_routes, pull_routes, cache_routes};
    for (size_t t = 0; t < sizeof tables / sizeof tables[0]; t++) {
        const http_route *rt;
        int n = tables[t](&rt);
        for (int i = 0; i < n && n_routes < (int)(sizeof routes / sizeof routes[0]); i++) routes[n_routes++] = rt[i];
    }
    http_server_params hp = {.cfg = &cfg, .routes = routes, .n_routes = n_routes, .app = &app, .on_complete = on_complete};
    http_server *h = http_server_start(&hp, err, sizeof err);
    if (!h) {
        fprintf(stderr, "rkserve serve: %s\n", err);
        sched_free(s);
        config_free(&cfg);
        return 1;
    }
    sched_model_status *ms;
    int n_models = sched_models(s, false, &ms);
    if (n_models >= 0) sched_models_free(ms, n_models);
    fprintf(stderr, "rkserve: %d model%s in", n_models, n_models == 1 ? "" : "s");
    for (int i = 0; i < cfg.n_model_dirs; i++) fprintf(stderr, "%s %s", i ? "," : "", cfg.model_dirs[i]);
    const char *host = cfg.host;
    bool v6 = strchr(host, ':') && host[0] != '[';
    fprintf(stderr, "\nrkserve: listening on http://%s%s%s:%d\n", v6 ? "[" : "", host, v6 ? "]" : "",
            http_server_port(h));

    int sig = 0;
    sigwait(&sigs, &sig);
    fprintf(stderr, "rkserve: %s, shutting down\n", sig == SIGINT ? "interrupted" : "terminated");
    http_server_quiesce(h);
    sched_shutdown(s);
    http_server_stop(h);
    sched_free(s);
    config_free(&cfg);
    return 0;
}
