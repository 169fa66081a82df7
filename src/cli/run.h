/* rkserve run: its options, and the two ways it runs: in process on a
 * model file, or as a client of a running server (run_remote.c). */
#ifndef RK_CLI_RUN_H
#define RK_CLI_RUN_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "cli/http_client.h"
#include "engine/sampling.h"

#define RUN_MAX_IMAGES 16

typedef struct {
    const char *model;
    const char *prompt;
    const char *system;
    int32_t max_tokens;
    int32_t n_ctx;
    int32_t n_threads;
    bool raw;
    bool quiet;
    bool local;               /* never ask a server */
    sampler_params sampling;
    const char *images[RUN_MAX_IMAGES];
    int n_images;
} run_options;

/* Raised by Ctrl-C: stops the answer being generated. */
extern atomic_bool run_interrupted;

/* Reads one user message of the interactive chat: a line, continued while
 * it ends with '\', or everything between two lines of """. NULL at the
 * end of input. */
char *run_read_message(void);

/* Runs the one-shot prompt or the interactive chat through the server at
 * ep, streaming from its Ollama API. Returns the process exit status. */
int run_remote(const rk_endpoint *ep, const run_options *o);

#endif
