/* Command-line driver for the tokenizer tests and for timing.
 *
 *   tokenize_tool MODEL.gguf CORPUS.json [--bos] [--no-special]
 *       CORPUS.json is a JSON array of strings. For each string prints one
 *       line: the token ids separated by spaces, a tab, then the hex bytes of
 *       the ids decoded back (pieces with render_special, a leading BOS that
 *       --bos added left out).
 *   tokenize_tool MODEL.gguf --bench FILE [REPEAT]
 *       Encodes the file REPEAT times (default 5) and prints the best time.
 *   tokenize_tool MODEL.gguf --text STRING [--bos] [--no-special]
 *       Prints the ids of one string, then each piece.
 *
 * --bos passes add_bos (the model's add_bos_token decides); parse_special is
 * on unless --no-special. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "format/gguf.h"
#include "engine/cpu/pretokenize.h"
#include "engine/cpu/tokenizer.h"

static int32_t *encode_all(const tokenizer *t, const char *s, size_t n, bool bos, bool special,
                           int64_t *count)
{
    int64_t cap = (int64_t)n + 16;
    int32_t *ids = malloc((size_t)cap * sizeof *ids);
    if (!ids)
        return NULL;
    int64_t k = tokenizer_encode(t, s, n, bos, special, ids, cap);
    if (k > cap) {
        int32_t *more = realloc(ids, (size_t)k * sizeof *ids);
        if (!more) {
            free(ids);
            return NULL;
        }
        ids = more;
        k = tokenizer_encode(t, s, n, bos, special, ids, k);
    }
    if (k < 0) {
        free(ids);
        return NULL;
    }
    *count = k;
    return ids;
}

static int run_corpus(const tokenizer *t, const char *path, bool bos, bool special)
{
    json_error_t jerr;
    json_t *root = json_load_file(path, JSON_ALLOW_NUL, &jerr);
    if (!root || !json_is_array(root)) {
        fprintf(stderr, "%s: %s\n", path, root ? "not a JSON array" : jerr.text);
        json_decref(root);
        return 1;
    }
    char piece[1024];
    for (size_t i = 0; i < json_array_size(root); i++) {
        json_t *v = json_array_get(root, i);
        if (!json_is_string(v)) {
            fprintf(stderr, "%s: entry %zu is not a string\n", path, i);
            json_decref(root);
            return 1;
        }
        int64_t n;
        int32_t *ids = encode_all(t, json_string_value(v), json_string_length(v), bos, special, &n);
        if (!ids) {
            fprintf(stderr, "entry %zu: encoding failed\n", i);
            json_decref(root);
            return 1;
        }
        for (int64_t k = 0; k < n; k++)
            printf(k ? " %d" : "%d", ids[k]);
        putchar('\t');
        int64_t first = (bos && n > 0 && ids[0] == tokenizer_bos(t)) ? 1 : 0;
        for (int64_t k = first; k < n; k++) {
            int m = tokenizer_token_to_piece(t, ids[k], true, piece, sizeof piece);
            char *p = piece;
            if (m > (int)sizeof piece) {
                p = malloc((size_t)m);
                if (!p)
                    return 1;
                tokenizer_token_to_piece(t, ids[k], true, p, (size_t)m);
            }
            for (int b = 0; b < m; b++)
                printf("%02x", (unsigned char)p[b]);
            if (p != piece)
                free(p);
        }
        putchar('\n');
        free(ids);
    }
    json_decref(root);
    return 0;
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int run_bench(const tokenizer *t, const char *path, int repeat)
{
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        perror(path);
        return 1;
    }
    fseek(fp, 0, SEEK_END);
    long sz = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    char *buf = malloc(sz > 0 ? (size_t)sz : 1);
    size_t n = buf ? fread(buf, 1, (size_t)(sz > 0 ? sz : 0), fp) : 0;
    fclose(fp);
    double best = 1e30;
    int64_t count = 0;
    for (int r = 0; r < repeat; r++) {
        double t0 = now_ms();
        int32_t *ids = encode_all(t, buf, n, true, true, &count);
        double dt = now_ms() - t0;
        free(ids);
        if (dt < best)
            best = dt;
    }
    printf("%zu bytes -> %lld tokens in %.2f ms\n", n, (long long)count, best);
    free(buf);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s MODEL.gguf CORPUS.json [--bos] [--no-special]\n"
                        "       %s MODEL.gguf --bench FILE [REPEAT]\n"
                        "       %s MODEL.gguf --text STRING [--bos] [--no-special]\n",
                argv[0], argv[0], argv[0]);
        return 2;
    }
    bool bos = false, special = true;
    for (int i = 3; i < argc; i++) {
        if (strcmp(argv[i], "--bos") == 0)
            bos = true;
        else if (strcmp(argv[i], "--no-special") == 0)
            special = false;
    }
    char err[256];
    gguf_file *f = gguf_open(argv[1], err, sizeof err);
    if (!f) {
        fprintf(stderr, "%s: %s\n", argv[1], err);
        return 1;
    }
    tokenizer *t = tokenizer_load(f, err, sizeof err);
    gguf_close(f);
    if (!t) {
        fprintf(stderr, "%s: %s\n", argv[1], err);
        return 1;
    }
    if (tokenizer_warning(t))
        fprintf(stderr, "warning: %s\n", tokenizer_warning(t));
    int rc;
    if (strcmp(argv[2], "--bench") == 0 && argc >= 4) {
        rc = run_bench(t, argv[3], argc >= 5 ? atoi(argv[4]) : 5);
    } else if (strcmp(argv[2], "--text") == 0 && argc >= 4) {
        int64_t n;
        int32_t *ids = encode_all(t, argv[3], strlen(argv[3]), bos, special, &n);
        rc = ids ? 0 : 1;
        for (int64_t k = 0; ids && k < n; k++) {
            char piece[256];
            int m = tokenizer_token_to_piece(t, ids[k], true, piece, sizeof piece - 1);
            piece[m >= 0 && m < (int)sizeof piece ? m : 0] = '\0';
            printf("%d\t'%s'\n", ids[k], piece);
        }
        free(ids);
    } else {
        rc = run_corpus(t, argv[2], bos, special);
    }
    tokenizer_free(t);
    return rc;
}
