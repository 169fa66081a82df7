/* Prints the CPU vision encoder's embeddings for images, and optionally a
 * language model's logits for a prompt whose spans hold those embeddings,
 * as JSON for the PyTorch reference (tests/reference/vision_compare.py):
 *   dump_vision MMPROJ.gguf --pixels IMG.f32 [--pixels IMG2.f32 ...] [--threads N]
 *               [--llm MODEL.gguf --tokens 1,2,3 --span POS [--span POS ...] [--greedy N] [--batch N]]
 * IMG.f32: 3 x S x S float32, planar RGB, normalised. Span i places image
 * i's embeddings at prompt positions POS.. (the tokens there are
 * placeholders). Logits come from the forward pass at every position; the
 * greedy tokens from the engine's generate with spans, as the server runs it.
 * {"n_tokens": T, "n_embd": E, "encode_ms": [...], "embd": [[...image 0 flat...], ...],
 *  "logits": [[...], ...], "greedy": [...], "reused": [...]} */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine/cpu/forward.h"
#include "engine/cpu/model.h"
#include "engine/engine.h"
#include "engine/vision.h"
#include "format/ggml_types.h"
#include "format/gguf.h"
#include "util/threadpool.h"

#define MAX_IMAGES 8

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

static float *read_floats(const char *path, size_t n)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    float *p = malloc(n * sizeof(float));
    if (p && fread(p, sizeof(float), n, f) != n) {
        free(p);
        p = NULL;
    }
    if (p && fgetc(f) != EOF) { /* the file must be exactly one image */
        free(p);
        p = NULL;
    }
    fclose(f);
    return p;
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

typedef struct {
    int32_t *toks;
    int n;
} collect;

static bool on_token(void *user, int32_t token, const char *piece, size_t len)
{
    (void)piece;
    (void)len;
    collect *c = user;
    c->toks[c->n++] = token;
    return true;
}

static void print_row(const float *x, size_t n)
{
    printf("[");
    for (size_t i = 0; i < n; i++) printf(i ? ",%.9g" : "%.9g", x[i]);
    printf("]");
}

int main(int argc, char **argv)
{
    const char *mmproj = NULL, *llm = NULL, *tokens_arg = NULL, *pix[MAX_IMAGES];
    int n_pix = 0, n_span = 0, threads = 2, greedy = 0, batch = 0;
    long span_pos[MAX_IMAGES];
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--pixels") && i + 1 < argc && n_pix < MAX_IMAGES) pix[n_pix++] = argv[++i];
        else if (!strcmp(argv[i], "--span") && i + 1 < argc && n_span < MAX_IMAGES) span_pos[n_span++] = atol(argv[++i]);
        else if (!strcmp(argv[i], "--threads") && i + 1 < argc) threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--llm") && i + 1 < argc) llm = argv[++i];
        else if (!strcmp(argv[i], "--tokens") && i + 1 < argc) tokens_arg = argv[++i];
        else if (!strcmp(argv[i], "--greedy") && i + 1 < argc) greedy = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--batch") && i + 1 < argc) batch = atoi(argv[++i]);
        else mmproj = argv[i];
    }
    if (!mmproj || n_pix == 0 || (llm && (!tokens_arg || n_span != n_pix))) {
        fprintf(stderr, "usage: dump_vision MMPROJ.gguf --pixels IMG.f32 ... [--threads N] [--llm MODEL.gguf "
                        "--tokens 1,2,3 --span POS ... [--greedy N] [--batch N]]\n");
        return 2;
    }
    char err[512];
    const vision_ops *vops = vision_for_path(mmproj);
    if (!vops) { fprintf(stderr, "dump_vision: %s is not a vision projector\n", mmproj); return 1; }
    vision_model *vm = vops->load(mmproj, threads, err, sizeof err);
    if (!vm) { fprintf(stderr, "dump_vision: %s\n", err); return 1; }
    vision_info vi;
    vops->info(vm, &vi);
    size_t n_px = (size_t)3 * vi.image_size * vi.image_size, n_out = (size_t)vi.n_tokens * vi.n_embd;
    float *embd[MAX_IMAGES];
    double ms[MAX_IMAGES];
    for (int i = 0; i < n_pix; i++) {
        float *px = read_floats(pix[i], n_px);
        embd[i] = malloc(n_out * sizeof(float));
        if (!px || !embd[i]) { fprintf(stderr, "dump_vision: cannot read %s as %zu floats\n", pix[i], n_px); return 1; }
        double t0 = now_ms();
        if (vops->encode(vm, px, embd[i], err, sizeof err) != 0) { fprintf(stderr, "dump_vision: %s\n", err); return 1; }
        ms[i] = now_ms() - t0;
        free(px);
    }
    printf("{\"n_tokens\": %d, \"n_embd\": %d, \"encode_ms\": [", vi.n_tokens, vi.n_embd);
    for (int i = 0; i < n_pix; i++) printf(i ? ",%.3f" : "%.3f", ms[i]);
    printf("], \"embd\": [");
    for (int i = 0; i < n_pix; i++) {
        if (i) printf(",\n");
        print_row(embd[i], n_out);
    }
    printf("]");

    if (llm) {
        int32_t *tokens;
        int n = parse_tokens(tokens_arg, &tokens);
        gguf_file *g = gguf_open(llm, err, sizeof err);
        if (!g) { fprintf(stderr, "dump_vision: %s\n", err); return 1; }
        rk_model *m = rk_model_load(g, err, sizeof err);
        if (!m) { fprintf(stderr, "dump_vision: %s\n", err); return 1; }
        if (m->n_embd != vi.n_embd) {
            fprintf(stderr, "dump_vision: the projector's width %d differs from the model's %d\n", vi.n_embd, m->n_embd);
            return 1;
        }
        const float **rows = calloc((size_t)n, sizeof *rows);
        engine_embd_span spans[MAX_IMAGES];
        for (int i = 0; i < n_span; i++) {
            spans[i] = (engine_embd_span){.pos = span_pos[i], .n_tokens = vi.n_tokens, .embd = embd[i],
                                          .hash = 0x1234u + (uint64_t)i};
            for (int t = 0; t < vi.n_tokens && span_pos[i] + t < n; t++)
                rows[span_pos[i] + t] = embd[i] + (size_t)t * vi.n_embd;
        }
        if (batch <= 0) batch = n;
        threadpool *pool = threadpool_new(threads);
        rk_forward_ctx *c = rk_forward_new(m, pool, n + 1, batch, GGML_TYPE_F32);
        float *logits = malloc((size_t)n * m->n_vocab * sizeof(float));
        if (!c || !logits || !rows) { fprintf(stderr, "dump_vision: out of memory\n"); return 1; }
        for (int i = 0; i < n; i += batch) {
            int b = n - i < batch ? n - i : batch;
            rk_forward_embd(c, tokens + i, rows + i, b, i, logits + (size_t)i * m->n_vocab, true, NULL);
        }
        printf(", \"logits\": [");
        for (int t = 0; t < n; t++) {
            if (t) printf(",\n");
            print_row(logits + (size_t)t * m->n_vocab, (size_t)m->n_vocab);
        }
        printf("]");

        /* the engine path: generate with spans, twice, so the second run
         * reuses the first one's prefix across the images */
        engine_load_params lp = {.path = llm, .n_ctx = n + greedy + 8, .n_threads = threads, .n_batch = batch,
                                 .kv_f32 = true};
        engine_model *em = cpu_engine_ops.load(&lp, err, sizeof err);
        engine_session *s = em ? cpu_engine_ops.session_new(em, err, sizeof err) : NULL;
        if (!s) { fprintf(stderr, "dump_vision: %s\n", err); return 1; }
        engine_gen_params gp = {.sampling = {.temperature = 0, .top_p = 1, .repeat_penalty = 1},
                                .max_tokens = greedy, .n_keep = -1, .ignore_eos = true, .spans = spans,
                                .n_spans = n_span};
        int32_t out_toks[2][256];
        int32_t reused[2];
        for (int run = 0; run < 2; run++) {
            collect col = {.toks = out_toks[run]};
            engine_stats st;
            if (greedy > 256 || cpu_engine_ops.generate(s, tokens, n, &gp, on_token, &col, &st, err, sizeof err) != 0) {
                fprintf(stderr, "dump_vision: generate: %s\n", err);
                return 1;
            }
            reused[run] = st.reused_tokens;
        }
        printf(", \"greedy\": [");
        for (int i = 0; i < greedy; i++) printf(i ? ",%d" : "%d", out_toks[0][i]);
        printf("], \"greedy_again\": [");
        for (int i = 0; i < greedy; i++) printf(i ? ",%d" : "%d", out_toks[1][i]);
        printf("], \"reused\": [%d, %d]", reused[0], reused[1]);
        cpu_engine_ops.session_free(s);
        cpu_engine_ops.unload(em);
        rk_forward_free(c);
        threadpool_free(pool);
        rk_model_free(m);
        gguf_close(g);
        free(logits);
        free(rows);
        free(tokens);
    }
    printf("}\n");
    for (int i = 0; i < n_pix; i++) free(embd[i]);
    vops->unload(vm);
    return 0;
}
