/* Renders a chat template with our Jinja interpreter for the comparison
 * against @huggingface/jinja (tests/templates/reference.mjs).
 *   render_tool TEMPLATE CONTEXTS.json [NOW]
 * CONTEXTS.json holding an array renders each context and prints a JSON
 * array of {"output": ...} or {"error": ...}; holding an object renders it
 * once and prints the raw output. NOW is the Unix time strftime_now sees. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/jinja.h"

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (n < cap) break;
        char *nb = realloc(buf, cap *= 2);
        if (!nb) { free(buf); buf = NULL; }
        else buf = nb;
    }
    fclose(f);
    *len = n;
    return buf;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s TEMPLATE CONTEXTS.json [NOW]\n", argv[0]);
        return 2;
    }
    size_t len;
    char *src = slurp(argv[1], &len);
    if (!src) {
        fprintf(stderr, "cannot read %s\n", argv[1]);
        return 2;
    }
    json_error_t jerr;
    json_t *ctx = json_load_file(argv[2], JSON_ALLOW_NUL | JSON_DECODE_INT_AS_REAL, &jerr);
    if (!ctx) {
        fprintf(stderr, "%s:%d: %s\n", argv[2], jerr.line, jerr.text);
        free(src);
        return 2;
    }
    jinja_options opt = {0};
    if (argc > 3) opt.now = strtoll(argv[3], NULL, 10);
    char err[512];
    jinja_template *t = jinja_parse(src, len, err, sizeof err);
    free(src);
    int rc = 0;
    if (json_is_array(ctx)) {
        json_t *results = json_array();
        size_t i;
        json_t *c;
        json_array_foreach(ctx, i, c) {
            json_t *r = json_object();
            size_t n = 0;
            char *out = t ? jinja_render_ex(t, c, &opt, &n, err, sizeof err) : NULL;
            if (out) json_object_set_new(r, "output", json_stringn(out, n));
            else json_object_set_new(r, "error", json_string(err));
            free(out);
            json_array_append_new(results, r);
        }
        char *dump = json_dumps(results, JSON_COMPACT);
        if (dump) fputs(dump, stdout);
        else rc = 1;
        free(dump);
        json_decref(results);
    } else if (!t) {
        fprintf(stderr, "%s\n", err);
        rc = 1;
    } else {
        size_t n = 0;
        char *out = jinja_render_ex(t, ctx, &opt, &n, err, sizeof err);
        if (out) fwrite(out, 1, n, stdout);
        else fprintf(stderr, "%s\n", err), rc = 1;
        free(out);
    }
    jinja_free(t);
    json_decref(ctx);
    return rc;
}
