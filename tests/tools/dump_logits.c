/* Prints the engine's logits for a token sequence as JSON, for comparison
 * with the PyTorch reference:
 *   dump_logits MODEL.gguf --tokens 1,2,3 [--threads N] [--greedy N] [--batch N]
 * {"n_vocab": V, "logits": [[...position 0...], ...], "greedy": [...]} */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/cpu/forward.h"
#include "format/ggml_types.h"
#include "format/gguf.h"
#include "engine/cpu/model.h"
#include "util/threadpool.h"

static int parse_tokens(const char *s, int32_t **out)
{
    int n = 0, cap = 16;
    int32_t *v = malloc(cap * sizeof *v);
    while (v && *s) {
        char *end;
        long x = strtol(s, &end, 10);
        if (end == s) break;
        if (n == cap) v = realloc(v, (cap *= 2) * sizeof *v);
        if (!v) break;
        v[n++] = (int32_t)x;
        s = *end == ',' ? end + 1 : end;
    }
    *out = v;
    return n;
}

int main(int argc, char **argv)
{
    const char *path = NULL, *tokens_arg = NULL;
    int threads = 2, greedy = 0, batch = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--tokens") && i + 1 < argc) tokens_arg = argv[++i];
        else if (!strcmp(argv[i], "--threads") && i + 1 < argc) threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--greedy") && i + 1 < argc) greedy = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--batch") && i + 1 < argc) batch = atoi(argv[++i]);
        else path = argv[i];
    }
    if (!path || !tokens_arg) {
        fprintf(stderr, "usage: dump_logits MODEL.gguf --tokens 1,2,3 [--threads N] [--greedy N] [--batch N]\n");
        return 2;
    }
    int32_t *tokens;
    int n = parse_tokens(tokens_arg, &tokens);
    char err[512];
    gguf_file *g = gguf_open(path, err, sizeof err);
    if (!g) { fprintf(stderr, "dump_logits: %s\n", err); return 1; }
    rk_model *m = rk_model_load(g, err, sizeof err);
    if (!m) { fprintf(stderr, "dump_logits: %s\n", err); return 1; }
    for (int i = 0; i < n; i++)
        if (tokens[i] < 0 || tokens[i] >= m->n_vocab) { fprintf(stderr, "dump_logits: bad token %d\n", tokens[i]); return 1; }
    if (batch <= 0) batch = n;
    threadpool *pool = threadpool_new(threads);
    /* an f32 cache keeps the comparison with the float64 reference exact */
    rk_forward_ctx *c = rk_forward_new(m, pool, n + greedy + 1, batch, GGML_TYPE_F32);
    float *logits = malloc((size_t)n * m->n_vocab * sizeof(float));
    if (!c || !logits) { fprintf(stderr, "dump_logits: out of memory\n"); return 1; }
    /* prompt in chunks of `batch` so batched and single-token paths are both exercised */
    for (int i = 0; i < n; i += batch) {
        int b = n - i < batch ? n - i : batch;
        rk_forward(c, tokens + i, b, i, logits + (size_t)i * m->n_vocab, true, NULL);
    }
    printf("{\"n_vocab\": %d, \"logits\": [", m->n_vocab);
    for (int t = 0; t < n; t++) {
        printf(t ? ",\n[" : "[");
        for (int v = 0; v < m->n_vocab; v++) printf(v ? ",%.9g" : "%.9g", logits[(size_t)t * m->n_vocab + v]);
        printf("]");
    }
    printf("], \"greedy\": [");
    float *last = malloc((size_t)m->n_vocab * sizeof(float));
    memcpy(last, logits + (size_t)(n - 1) * m->n_vocab, (size_t)m->n_vocab * sizeof(float));
    for (int g2 = 0; g2 < greedy; g2++) {
        int32_t best = 0;
        for (int v = 1; v < m->n_vocab; v++)
            if (last[v] > last[best]) best = v;
        printf(g2 ? ",%d" : "%d", best);
        rk_forward(c, &best, 1, n + g2, last, false, NULL);
    }
    printf("]}\n");
    free(last);
    free(logits);
    free(tokens);
    rk_forward_free(c);
    threadpool_free(pool);
    rk_model_free(m);
    gguf_close(g);
    return 0;
}
