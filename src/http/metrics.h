/* Process-wide counters for GET /metrics (Prometheus text format 0.0.4):
 * requests by endpoint and status, tokens in and out, time-to-first-token
 * and decode-speed histograms. Gauges (queue depth, loaded models, memory)
 * are read from their owners when the page is rendered. */
#ifndef RK_HTTP_METRICS_H
#define RK_HTTP_METRICS_H

#include <stdint.h>

#include "core/scheduler.h"

void metrics_request(const char *route, const char *method, int status, double ms);
/* One finished generation: prompt tokens (and how many were reused),
 * generated tokens, time to first token and decode time in ms. */
void metrics_generation(int64_t prompt_tokens, int64_t reused_tokens, int64_t completion_tokens, double ttft_ms,
                        double decode_ms);
void metrics_cancelled(void);

/* A malloc'd page (NUL-terminated). */
char *metrics_render(const sched_totals *t);

/* Resident set size of this process in bytes (0 if unknown). */
uint64_t metrics_rss_bytes(void);

#endif
