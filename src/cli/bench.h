/* rkserve bench's shared parts: its options, the runner that times one
 * generation, and the statistics, for the text tests (bench.c) and the
 * vision tests (bench_vision.c). */
#ifndef RK_CLI_BENCH_H
#define RK_CLI_BENCH_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "engine/engine.h"

typedef struct {
    const char *model;
    int32_t prompt_tokens;
    int32_t gen_tokens;
    int32_t tg_prompt;
    int32_t n_threads;
    int32_t n_ctx;
    int32_t reps;
    bool json;
    /* vision tests (bench_vision.c) instead of pp/tg when mmproj is set */
    const char *mmproj;
    const char *image;         /* NULL: a generated test image */
    const char *preset;        /* NULL: detected from the metadata, as the server does */
    const char *presets_file;  /* user presets, after the shipped ones */
} bench_options;

/* Records when each generated token arrives, from t0. */
typedef struct {
    double t0;
    double *times;
    int32_t *tokens;
    int32_t n, cap;
} token_clock;

typedef struct {
    const engine_ops *ops;
    engine_session *session;
    engine_gen_params gen;  /* greedy; spans as the caller sets them */
    token_clock clock;      /* room for max(gen_tokens, 4) tokens */
    char err[512];
} bench_runner;

double bench_now_ms(void);

/* One generation of n_gen tokens (0: prefill only) from a fresh session;
 * false, with a message on stderr, on an engine error or an early stop. */
bool bench_run_once(bench_runner *r, const int32_t *prompt, int32_t n_prompt, int32_t n_gen, engine_stats *st);

/* tok/s of a generation from its first token to its last (n >= 2). */
double bench_decode_tps(const token_clock *c);

/* The fixed pseudo-random prompt that bench/llamacpp.mjs derives too. */
void bench_tokens(int32_t *out, int32_t n, int32_t n_vocab);

double bench_best(const double *v, int n);  /* highest */
double bench_least(const double *v, int n); /* lowest: the best of times */
double bench_median(const double *v, int n);
double bench_peak_rss_mb(void);
json_t *bench_json_doubles(const double *v, int n);

/* The vision tests, after the language model is loaded: prints their
 * lines, or adds a "vision" object to json when it is not NULL. Exit code. */
int bench_vision(const bench_options *o, bench_runner *r, engine_model *model, const engine_info *info,
                 double load_ms, json_t *json);

#endif
