/* rkserve bench --mmproj: what an image costs on this machine. The image
 * takes the server's path (vision_pipe_open picks the encoder and preset,
 * vision_batch_encode decodes, preprocesses and encodes it, run_vision_prompt
 * expands the marker and places the embeddings) and each stage is timed over
 * the repetitions: decode+preprocess alone, the whole image (the encode is
 * the difference), the prompt's prefill with the image against a text prompt
 * of the same length, and decoding after the image. */
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/bench.h"
#include "cli/run_vision.h"
#include "core/registry.h"

/* A deterministic picture of side x side pixels (gradients, a disc and a
 * square, so the encoder sees edges and smooth areas), as PNG bytes. */
static uint8_t *test_image_png(int32_t side, size_t *len)
{
    uint8_t *rgb = malloc((size_t)side * side * 3);
    if (!rgb) return NULL;
    for (int32_t y = 0; y < side; y++)
        for (int32_t x = 0; x < side; x++) {
            double u = (double)x / side, v = (double)y / side;
            double dx = u - 0.35, dy = v - 0.4;
            uint8_t *p = rgb + ((size_t)y * side + x) * 3;
            if (dx * dx + dy * dy < 0.04) {
                p[0] = 220, p[1] = 40, p[2] = 40;
            } else if (u > 0.6 && u < 0.85 && v > 0.55 && v < 0.8) {
                p[0] = 40, p[1] = 60, p[2] = 200;
            } else {
                p[0] = (uint8_t)(255 * u), p[1] = (uint8_t)(255 * v), p[2] = (uint8_t)(255 * (1 - u) * (1 - v));
            }
        }
    png_image pi;
    memset(&pi, 0, sizeof pi);
    pi.version = PNG_IMAGE_VERSION;
    pi.width = (png_uint_32)side;
    pi.height = (png_uint_32)side;
    pi.format = PNG_FORMAT_RGB;
    png_alloc_size_t size = 0;
    uint8_t *png = NULL;
    if (png_image_write_to_memory(&pi, NULL, &size, 0, rgb, 0, NULL) && (png = malloc(size)) &&
        !png_image_write_to_memory(&pi, png, &size, 0, rgb, 0, NULL)) {
        free(png);
        png = NULL;
    }
    png_image_free(&pi);
    free(rgb);
    *len = size;
    return png;
}

/* The name the registry would give the model file, for preset detection. */
static void model_stem(const char *path, char *out, size_t cap)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    snprintf(out, cap, "%s", base);
    char *dot = strrchr(out, '.');
    if (dot && dot != out) *dot = 0;
}

/* Per repetition, in ms except tg (tok/s). */
typedef struct {
    double *prep, *encode, *pp_image, *pp_text, *tg;
} vision_series;

static bool series_alloc(vision_series *s, int n)
{
    s->prep = calloc((size_t)n, sizeof(double));
    s->encode = calloc((size_t)n, sizeof(double));
    s->pp_image = calloc((size_t)n, sizeof(double));
    s->pp_text = calloc((size_t)n, sizeof(double));
    s->tg = calloc((size_t)n, sizeof(double));
    return s->prep && s->encode && s->pp_image && s->pp_text && s->tg;
}

static void series_free(vision_series *s)
{
    free(s->prep);
    free(s->encode);
    free(s->pp_image);
    free(s->pp_text);
    free(s->tg);
}

/* What one image turned into. */
typedef struct {
    const char *source;      /* the file, or "generated" */
    size_t bytes;            /* encoded */
    int32_t width, height;   /* decoded */
    vision_tiles shape;      /* n_tiles, rows, cols of the split (no data) */
    int64_t image_tokens, prompt_tokens;
    double enc_load_ms, first_ms;
} vision_facts;

/* Decode and preprocess alone, as vision_batch_encode does them. */
static int time_prep(const run_vision *v, const image_limits *lim, vision_facts *f, double *ms, char *err,
                     size_t errlen)
{
    image_limits l = *lim;
    memcpy(l.background, v->pipe.preset->background, 3);
    rk_image img = {0};
    vision_tiles t = {0};
    double t0 = bench_now_ms();
    if (image_decode(v->images[0].data, v->images[0].len, &l, &img, err, errlen) != IMAGE_OK) return -1;
    int rc = vision_preprocess(&img, v->pipe.preset, &t, err, errlen);
    *ms = bench_now_ms() - t0;
    f->width = img.width;
    f->height = img.height;
    f->shape = (vision_tiles){.n_tiles = t.n_tiles, .rows = t.rows, .cols = t.cols, .size = t.size};
    rk_image_free(&img);
    vision_tiles_free(&t);
    return rc;
}

static int measure(const bench_options *o, bench_runner *r, run_vision *v, const int32_t *toks, int64_t n_toks,
                   const engine_embd_span *spans, int n_spans, const engine_info *info, vision_facts *f,
                   vision_series *s)
{
    int32_t n = (int32_t)n_toks;
    int32_t *text = malloc((size_t)n * sizeof *text);
    if (!text) {
        fprintf(stderr, "rkserve bench: out of memory\n");
        return -1;
    }
    bench_tokens(text, n, info->n_vocab);
    image_limits lim = {0};
    engine_stats st;
    int rc = -1;
    /* Warm-up of the language model, as the text tests do. */
    r->gen.spans = NULL;
    r->gen.n_spans = 0;
    if (!bench_run_once(r, text, n < 16 ? n : 16, 4, &st)) goto out;
    for (int32_t i = 0; i < o->reps; i++) {
        char err[256];
        if (time_prep(v, &lim, f, &s->prep[i], err, sizeof err) != 0) {
            fprintf(stderr, "rkserve bench: %s: %s\n", f->source, err);
            goto out;
        }
        vision_batch b;
        rk_error e = {0};
        double t0 = bench_now_ms();
        if (vision_batch_encode(&v->pipe, v->images, 1, &lim, &b, &e) != 0) {
            fprintf(stderr, "rkserve bench: %s\n", e.message);
            goto out;
        }
        s->encode[i] = bench_now_ms() - t0 - s->prep[i];
        vision_batch_free(&b);

        r->gen.spans = spans;
        r->gen.n_spans = n_spans;
        if (!bench_run_once(r, toks, n, 0, &st)) goto out;
        s->pp_image[i] = st.prefill_ms;
        r->gen.spans = NULL;
        r->gen.n_spans = 0;
        if (!bench_run_once(r, text, n, 0, &st)) goto out;
        s->pp_text[i] = st.prefill_ms;
        r->gen.spans = spans;
        r->gen.n_spans = n_spans;
        if (!bench_run_once(r, toks, n, o->gen_tokens, &st)) goto out;
        s->tg[i] = bench_decode_tps(&r->clock);
    }
    rc = 0;
out:
    r->gen.spans = NULL;
    r->gen.n_spans = 0;
    free(text);
    return rc;
}

static double tps(int64_t tokens, double ms)
{
    return ms > 0 ? (double)tokens / (ms / 1e3) : 0;
}

static void print_vision(const bench_options *o, const vision_pipe *vp, double load_ms, const vision_facts *f,
                         const vision_series *s)
{
    int n = o->reps;
    const vision_info *vi = &vp->info;
    printf("  vision: %s (%s encoder, %s projector, %d px, %d tokens per tile, %.1f MB of weights), preset %s\n",
           o->mmproj, vi->engine, vi->projector ? vi->projector : "?", vi->image_size, vi->n_tokens,
           (double)vi->weight_bytes / 1e6, vp->preset->name);
    printf("  load %.1f ms, encoder %.1f ms, peak RSS %.1f MB\n", load_ms, f->enc_load_ms, bench_peak_rss_mb());
    printf("  image: %s, %zu bytes, %dx%d -> %d tile%s", f->source, f->bytes, f->width, f->height, f->shape.n_tiles,
           f->shape.n_tiles == 1 ? "" : "s");
    if (f->shape.rows) printf(" (%dx%d + global)", f->shape.rows, f->shape.cols);
    printf(", %lld image tokens in a prompt of %lld\n", (long long)f->image_tokens, (long long)f->prompt_tokens);
    printf("  first image, cold: %.1f ms\n", f->first_ms);
    printf("  decode+preprocess: median %.1f ms, best %.1f\n", bench_median(s->prep, n), bench_least(s->prep, n));
    double enc = bench_median(s->encode, n);
    printf("  encode: median %.1f ms per image, %.1f ms per tile, best %.1f per image\n", enc,
           enc / f->shape.n_tiles, bench_least(s->encode, n));
    int64_t pt = f->prompt_tokens;
    double ppi = bench_median(s->pp_image, n), ppt = bench_median(s->pp_text, n);
    printf("  pp%lld image: median %.1f ms (%.1f tok/s), best %.1f ms\n", (long long)pt, ppi, tps(pt, ppi),
           bench_least(s->pp_image, n));
    printf("  pp%lld text: median %.1f ms (%.1f tok/s), best %.1f ms\n", (long long)pt, ppt, tps(pt, ppt),
           bench_least(s->pp_text, n));
    printf("  tg%d after image: best %.1f tok/s, median %.1f\n", o->gen_tokens, bench_best(s->tg, n),
           bench_median(s->tg, n));
}

static json_t *vision_json(const bench_options *o, const vision_pipe *vp, const vision_facts *f,
                           const vision_series *s)
{
    int n = o->reps;
    const vision_info *vi = &vp->info;
    double enc = bench_median(s->encode, n);
    double ppi = bench_median(s->pp_image, n), ppt = bench_median(s->pp_text, n);
    json_t *j = json_pack("{s:s, s:s, s:s, s:i, s:i, s:I, s:f, s:s, s:s, s:I, s:i, s:i, s:i, s:i, s:i, s:I, s:I, s:f}",
                          "mmproj", o->mmproj, "encoder", vi->engine, "projector", vi->projector ? vi->projector : "",
                          "image_size", vi->image_size, "tokens_per_tile", vi->n_tokens, "weight_bytes",
                          (json_int_t)vi->weight_bytes, "load_ms", f->enc_load_ms, "preset", vp->preset->name,
                          "image", f->source, "image_bytes", (json_int_t)f->bytes, "width", f->width, "height",
                          f->height, "tiles", f->shape.n_tiles, "tile_rows", f->shape.rows, "tile_cols",
                          f->shape.cols, "image_tokens", (json_int_t)f->image_tokens, "prompt_tokens",
                          (json_int_t)f->prompt_tokens, "first_image_ms", f->first_ms);
    if (!j) return NULL;
    json_object_set_new(j, "prep_ms", bench_json_doubles(s->prep, n));
    json_object_set_new(j, "prep_ms_median", json_real(bench_median(s->prep, n)));
    json_object_set_new(j, "encode_ms", bench_json_doubles(s->encode, n));
    json_object_set_new(j, "encode_ms_median", json_real(enc));
    json_object_set_new(j, "encode_tile_ms_median", json_real(enc / f->shape.n_tiles));
    json_object_set_new(j, "pp_image_ms", bench_json_doubles(s->pp_image, n));
    json_object_set_new(j, "pp_image_ms_median", json_real(ppi));
    json_object_set_new(j, "pp_image_tps_median", json_real(tps(f->prompt_tokens, ppi)));
    json_object_set_new(j, "pp_text_ms", bench_json_doubles(s->pp_text, n));
    json_object_set_new(j, "pp_text_ms_median", json_real(ppt));
    json_object_set_new(j, "pp_text_tps_median", json_real(tps(f->prompt_tokens, ppt)));
    json_object_set_new(j, "tg_tps", bench_json_doubles(s->tg, n));
    json_object_set_new(j, "tg_tps_best", json_real(bench_best(s->tg, n)));
    json_object_set_new(j, "tg_tps_median", json_real(bench_median(s->tg, n)));
    return j;
}

/* The image into v: the file, or the generated picture at the encoder's size. */
static int load_image(const bench_options *o, run_vision *v, vision_facts *f)
{
    f->source = o->image ? o->image : "generated";
    if (o->image) {
        if (run_vision_add(v, o->image) != 0) return -1;
    } else {
        size_t len = 0;
        uint8_t *png = test_image_png(v->pipe.info.image_size, &len);
        v->images = png ? calloc(1, sizeof *v->images) : NULL;
        if (!v->images) {
            free(png);
            fprintf(stderr, "rkserve bench: cannot make the test image\n");
            return -1;
        }
        v->images[0] = (rk_req_image){.data = png, .len = len};
        v->n_images = 1;
    }
    f->bytes = v->images[0].len;
    return 0;
}

int bench_vision(const bench_options *o, bench_runner *r, engine_model *model, const engine_info *info,
                 double load_ms, json_t *json)
{
    char err[512];
    run_vision v = {0};
    vision_facts f = {0};
    vision_series s = {0};
    vision_batch vb = {0};
    int32_t *toks = NULL;
    int64_t n_toks = 0;
    engine_embd_span *spans = NULL;
    int n_spans = 0, rc = 1;
    char *user = NULL;

    /* the shipped presets, then the user's, as `rkserve serve --vision-presets` */
    if (vision_presets_load_text(&v.presets, rk_vision_presets_json, "shipped vision presets", err, sizeof err) != 0 ||
        (o->presets_file && vision_presets_load(&v.presets, o->presets_file, err, sizeof err) != 0))
        goto fail;
    /* the pair as the registry would list it, so the preset is chosen as the server chooses it */
    char name[256];
    model_stem(o->model, name, sizeof name);
    registry_entry ent = {.name = name, .path = o->model, .n_vision = 1, .vision = &o->mmproj, .vision_preset = o->preset};
    double t0 = bench_now_ms();
    if (vision_pipe_open(&v.pipe, &ent, r->ops, model, info, &v.presets, o->n_threads, err, sizeof err) != 0) {
        fprintf(stderr, "rkserve bench: %s\n", err);
        if (!o->preset) fprintf(stderr, "rkserve bench: --preset NAME chooses one here\n");
        goto out;
    }
    f.enc_load_ms = bench_now_ms() - t0;
    if (v.pipe.text_engine) {
        snprintf(err, sizeof err, "the %s engine takes text, and the bench feeds token ids", info->engine);
        goto fail;
    }
    if (load_image(o, &v, &f) != 0) goto out;

    /* The first image is cold (the encoder's weights fault in); its prompt
     * and embeddings serve every test below. */
    const char *marker = v.pipe.preset->image_marker, *ask = "Describe the image.";
    user = malloc(strlen(marker) + strlen(ask) + 1);
    if (!user) {
        snprintf(err, sizeof err, "out of memory");
        goto fail;
    }
    strcat(strcpy(user, marker), ask);
    chat_message msg = {.role = "user", .content = user};
    t0 = bench_now_ms();
    /* raw: the prompt is the user text, so no chat format is needed */
    if (run_vision_prompt(&v, r->ops, model, info, NULL, &msg, 1, true, &toks, &n_toks, &spans, &n_spans, &vb, err,
                          sizeof err) != 0)
        goto fail;
    f.first_ms = bench_now_ms() - t0;
    f.image_tokens = vb.total_rows;
    f.prompt_tokens = n_toks;
    if (n_toks + o->gen_tokens > info->n_ctx) {
        snprintf(err, sizeof err, "the image prompt has %lld tokens and %d are generated after it: give --ctx %lld",
                 (long long)n_toks, o->gen_tokens, (long long)n_toks + o->gen_tokens);
        goto fail;
    }
    if (!series_alloc(&s, o->reps)) {
        snprintf(err, sizeof err, "out of memory");
        goto fail;
    }
    if (measure(o, r, &v, toks, n_toks, spans, n_spans, info, &f, &s) != 0) goto out;
    if (json) {
        json_t *j = vision_json(o, &v.pipe, &f, &s);
        if (!j) {
            snprintf(err, sizeof err, "cannot build the JSON result");
            goto fail;
        }
        json_object_set_new(json, "vision", j);
    } else {
        print_vision(o, &v.pipe, load_ms, &f, &s);
    }
    rc = 0;
    goto out;
fail:
    fprintf(stderr, "rkserve bench: %s\n", err);
out:
    free(user);
    free(toks);
    free(spans);
    vision_batch_free(&vb);
    series_free(&s);
    run_vision_close(&v);
    return rc;
}
