#include "http/metrics.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_SERIES 256

typedef struct {
    char route[64];
    char method[8];
    int status;
    uint64_t count;
    double seconds;
} req_series;

static const double TTFT_BUCKETS[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};
static const double TPS_BUCKETS[] = {1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000};
#define N_TTFT (sizeof TTFT_BUCKETS / sizeof TTFT_BUCKETS[0])
#define N_TPS (sizeof TPS_BUCKETS / sizeof TPS_BUCKETS[0])

static struct {
    pthread_mutex_t mu;
    req_series series[MAX_SERIES];
    int n_series;
    uint64_t prompt_tokens, reused_tokens, completion_tokens, generations, cancelled;
    uint64_t ttft_counts[N_TTFT + 1];
    double ttft_sum;
    uint64_t ttft_n;
    uint64_t tps_counts[N_TPS + 1];
    double tps_sum;
    uint64_t tps_n;
} M = {.mu = PTHREAD_MUTEX_INITIALIZER};

void metrics_request(const char *route, const char *method, int status, double ms)
{
    pthread_mutex_lock(&M.mu);
    req_series *s = NULL;
    for (int i = 0; i < M.n_series && !s; i++)
        if (M.series[i].status == status && !strcmp(M.series[i].route, route) && !strcmp(M.series[i].method, method))
            s = &M.series[i];
    if (!s && M.n_series < MAX_SERIES) {
        s = &M.series[M.n_series++];
        snprintf(s->route, sizeof s->route, "%s", route);
        snprintf(s->method, sizeof s->method, "%s", method);
        s->status = status;
    }
    if (s) {
        s->count++;
        s->seconds += ms / 1e3;
    }
    pthread_mutex_unlock(&M.mu);
}

static void observe(uint64_t *counts, const double *bounds, size_t n, double v)
{
    size_t i = 0;
    while (i < n && v > bounds[i]) i++;
    counts[i]++;
}

void metrics_generation(int64_t prompt_tokens, int64_t reused_tokens, int64_t completion_tokens, double ttft_ms,
                        double decode_ms)
{
    pthread_mutex_lock(&M.mu);
    M.generations++;
    M.prompt_tokens += (uint64_t)(prompt_tokens > 0 ? prompt_tokens : 0);
    M.reused_tokens += (uint64_t)(reused_tokens > 0 ? reused_tokens : 0);
    M.completion_tokens += (uint64_t)(completion_tokens > 0 ? completion_tokens : 0);
    if (completion_tokens > 0) {
        observe(M.ttft_counts, TTFT_BUCKETS, N_TTFT, ttft_ms / 1e3);
        M.ttft_sum += ttft_ms / 1e3;
        M.ttft_n++;
    }
    /* the first token comes out of the prefill, so decode speed counts the rest */
    if (completion_tokens > 1 && decode_ms > 0) {
        double tps = (completion_tokens - 1) * 1e3 / decode_ms;
        observe(M.tps_counts, TPS_BUCKETS, N_TPS, tps);
        M.tps_sum += tps;
        M.tps_n++;
    }
    pthread_mutex_unlock(&M.mu);
}

void metrics_cancelled(void)
{
    pthread_mutex_lock(&M.mu);
    M.cancelled++;
    pthread_mutex_unlock(&M.mu);
}

uint64_t metrics_rss_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f) return 0;
    unsigned long long size, rss;
    int n = fscanf(f, "%llu %llu", &size, &rss);
    fclose(f);
    long page = sysconf(_SC_PAGESIZE);
    return n == 2 && page > 0 ? rss * (uint64_t)page : 0;
}

typedef struct {
    char *buf;
    size_t len, cap;
    bool oom;
} page;

static void put(page *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(page *p, const char *fmt, ...)
{
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        size_t room = p->cap - p->len;
        int n = p->buf ? vsnprintf(p->buf + p->len, room, fmt, ap) : -1;
        va_end(ap);
        if (n >= 0 && (size_t)n < room) {
            p->len += (size_t)n;
            return;
        }
        size_t cap = p->cap ? p->cap * 2 : 8192;
        while (n >= 0 && cap < p->len + (size_t)n + 1) cap *= 2;
        char *nb = realloc(p->buf, cap);
        if (!nb) {
            p->oom = true;
            return;
        }
        p->buf = nb;
        p->cap = cap;
    }
}

static void histogram(page *p, const char *name, const char *help, const double *bounds, size_t n,
                      const uint64_t *counts, double sum, uint64_t total)
{
    put(p, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
    uint64_t cum = 0;
    for (size_t i = 0; i < n; i++) {
        cum += counts[i];
        put(p, "%s_bucket{le=\"%g\"} %llu\n", name, bounds[i], (unsigned long long)cum);
    }
    cum += counts[n];
    put(p, "%s_bucket{le=\"+Inf\"} %llu\n%s_sum %.6f\n%s_count %llu\n", name, (unsigned long long)cum, name, sum,
        name, (unsigned long long)total);
}

char *metrics_render(const sched_totals *t)
{
    page p = {0};
    pthread_mutex_lock(&M.mu);
    put(&p, "# HELP rkserve_http_requests_total HTTP requests by endpoint, method and status.\n"
            "# TYPE rkserve_http_requests_total counter\n");
    for (int i = 0; i < M.n_series; i++)
        put(&p, "rkserve_http_requests_total{endpoint=\"%s\",method=\"%s\",status=\"%d\"} %llu\n", M.series[i].route,
            M.series[i].method, M.series[i].status, (unsigned long long)M.series[i].count);
    put(&p, "# HELP rkserve_http_request_seconds_total Time spent answering, by endpoint, method and status.\n"
            "# TYPE rkserve_http_request_seconds_total counter\n");
    for (int i = 0; i < M.n_series; i++)
        put(&p, "rkserve_http_request_seconds_total{endpoint=\"%s\",method=\"%s\",status=\"%d\"} %.6f\n",
            M.series[i].route, M.series[i].method, M.series[i].status, M.series[i].seconds);
    put(&p,
        "# HELP rkserve_prompt_tokens_total Prompt tokens of finished generations.\n"
        "# TYPE rkserve_prompt_tokens_total counter\nrkserve_prompt_tokens_total %llu\n"
        "# HELP rkserve_prompt_tokens_reused_total Prompt tokens taken from a session's kept prefix.\n"
        "# TYPE rkserve_prompt_tokens_reused_total counter\nrkserve_prompt_tokens_reused_total %llu\n"
        "# HELP rkserve_completion_tokens_total Generated tokens.\n"
        "# TYPE rkserve_completion_tokens_total counter\nrkserve_completion_tokens_total %llu\n"
        "# HELP rkserve_generations_total Finished generation requests.\n"
        "# TYPE rkserve_generations_total counter\nrkserve_generations_total %llu\n"
        "# HELP rkserve_cancelled_total Requests cancelled because the client went away.\n"
        "# TYPE rkserve_cancelled_total counter\nrkserve_cancelled_total %llu\n",
        (unsigned long long)M.prompt_tokens, (unsigned long long)M.reused_tokens,
        (unsigned long long)M.completion_tokens, (unsigned long long)M.generations, (unsigned long long)M.cancelled);
    histogram(&p, "rkserve_time_to_first_token_seconds", "From arrival to the first generated text.", TTFT_BUCKETS,
              N_TTFT, M.ttft_counts, M.ttft_sum, M.ttft_n);
    histogram(&p, "rkserve_decode_tokens_per_second", "Decode speed of each generation.", TPS_BUCKETS, N_TPS,
              M.tps_counts, M.tps_sum, M.tps_n);
    pthread_mutex_unlock(&M.mu);
    put(&p,
        "# HELP rkserve_queue_depth Requests waiting for a session.\n"
        "# TYPE rkserve_queue_depth gauge\nrkserve_queue_depth %d\n"
        "# HELP rkserve_requests_running Requests being generated.\n"
        "# TYPE rkserve_requests_running gauge\nrkserve_requests_running %d\n"
        "# HELP rkserve_loaded_models Models in memory.\n"
        "# TYPE rkserve_loaded_models gauge\nrkserve_loaded_models %d\n"
        "# HELP rkserve_loaded_model_bytes Weights and session state of the loaded models.\n"
        "# TYPE rkserve_loaded_model_bytes gauge\nrkserve_loaded_model_bytes %llu\n"
        "# HELP rkserve_memory_budget_bytes Bytes loaded models may take.\n"
        "# TYPE rkserve_memory_budget_bytes gauge\nrkserve_memory_budget_bytes %llu\n"
        "# HELP process_resident_memory_bytes Resident memory size in bytes.\n"
        "# TYPE process_resident_memory_bytes gauge\nprocess_resident_memory_bytes %llu\n",
        t->queued, t->running, t->loaded_models, (unsigned long long)t->loaded_bytes,
        (unsigned long long)t->memory_budget, (unsigned long long)metrics_rss_bytes());
    if (p.oom) {
        free(p.buf);
        return NULL;
    }
    return p.buf;
}
