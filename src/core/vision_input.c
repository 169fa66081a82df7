#include "core/vision_input.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

int vision_pipe_open(vision_pipe *vp, const registry_entry *ent, const engine_ops *ops, const engine_model *em,
                     const engine_info *llm, const vision_presets *presets, int32_t threads, char *err,
                     size_t errlen)
{
    memset(vp, 0, sizeof *vp);
    vp->placeholder_token = -1;
    if (ent->n_vision < 1) {
        snprintf(err, errlen, "model '%s' has no vision encoder (an mmproj GGUF or .rknn next to it)", ent->name);
        return -1;
    }
    const char *path = ent->vision[0];
    /* .rknn shards the registry found in order: the NPU encoder takes them
     * as a manifest, written for the load and removed after it */
    char manifest[64] = "";
    if (ent->vision_kind == REGISTRY_VISION_RKNN && ent->n_vision > 1) {
        json_t *shards = json_array();
        for (int i = 0; i < ent->n_vision; i++) {
            char abs[4096];
            json_array_append_new(shards, json_string(realpath(ent->vision[i], abs) ? abs : ent->vision[i]));
        }
        json_t *doc = json_pack("{s:o}", "shards", shards);
        snprintf(manifest, sizeof manifest, "/tmp/rkserve-shards-XXXXXX.json");
        int fd = mkstemps(manifest, 5);
        char *text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
        bool ok = fd >= 0 && text && write(fd, text, strlen(text)) == (ssize_t)strlen(text);
        if (fd >= 0) close(fd);
        free(text);
        json_decref(doc);
        if (!ok) {
            if (fd >= 0) unlink(manifest);
            snprintf(err, errlen, "cannot describe the encoder shards of '%s'", ent->name);
            return -1;
        }
        path = manifest;
    }
    vp->ops = vision_for_path(path);
    if (!vp->ops) {
        if (manifest[0]) unlink(manifest);
        snprintf(err, errlen, "%s is not a vision encoder this build can run", path);
        return -1;
    }
    vp->vm = vp->ops->load(path, threads, err, errlen);
    if (manifest[0]) unlink(manifest);
    if (!vp->vm) return -1;
    vp->ops->info(vp->vm, &vp->info);
    vp->preset = ent->vision_preset ? vision_presets_find(presets, ent->vision_preset) : NULL;
    if (ent->vision_preset && !vp->preset) {
        snprintf(err, errlen, "model '%s' asks for vision preset '%s', which is not defined", ent->name,
                 ent->vision_preset);
        goto fail;
    }
    if (!vp->preset) {
        vision_model_facts facts = {.projector_type = vp->info.projector, .architecture = llm->arch,
                                    .name = ent->name, .image_size = vp->info.image_size};
        vp->preset = vision_presets_detect(presets, &facts);
    }
    if (!vp->preset) {
        snprintf(err, errlen,
                 "no vision preset matches model '%s' (projector %s, %d px): name one in its sidecar (\"vision\": "
                 "{\"preset\": ...})",
                 ent->name, vp->info.projector ? vp->info.projector : "?", vp->info.image_size);
        goto fail;
    }
    if (vp->preset->image_size != vp->info.image_size) {
        snprintf(err, errlen, "vision preset '%s' makes %d px images but the encoder of '%s' takes %d px",
                 vp->preset->name, vp->preset->image_size, ent->name, vp->info.image_size);
        goto fail;
    }
    if (vp->preset->tokens_per_tile != vp->info.n_tokens) {
        snprintf(err, errlen, "vision preset '%s' expects %d embeddings per image but the encoder gives %d",
                 vp->preset->name, vp->preset->tokens_per_tile, vp->info.n_tokens);
        goto fail;
    }
    vp->text_engine = !llm->has_tokenizer;
    if (vp->text_engine) return 0;
    if (vp->info.n_embd != llm->n_embd) {
        snprintf(err, errlen, "the vision encoder of '%s' gives %d-wide embeddings but the model is %d wide",
                 ent->name, vp->info.n_embd, llm->n_embd);
        goto fail;
    }
    int32_t tok[4];
    const char *ph = vp->preset->placeholder;
    int64_t n = ops->tokenize(em, ph, strlen(ph), false, true, tok, 4);
    if (n != 1) {
        snprintf(err, errlen, "the image placeholder '%s' of preset '%s' is not one token of '%s'", ph,
                 vp->preset->name, ent->name);
        goto fail;
    }
    vp->placeholder_token = tok[0];
    return 0;
fail:
    vp->ops->unload(vp->vm);
    memset(vp, 0, sizeof *vp);
    return -1;
}

void vision_pipe_close(vision_pipe *vp)
{
    if (vp->vm) vp->ops->unload(vp->vm);
    memset(vp, 0, sizeof *vp);
}

void vision_batch_free(vision_batch *b)
{
    for (int i = 0; i < b->n; i++) {
        if (b->expansion) free(b->expansion[i]);
        if (b->embd) free(b->embd[i]);
    }
    free(b->expansion);
    free(b->embd);
    free(b->n_rows);
    free(b->hash);
    memset(b, 0, sizeof *b);
}

static uint64_t fnv1a(uint64_t h, const void *data, size_t len)
{
    const uint8_t *p = data;
    for (size_t i = 0; i < len; i++) h = (h ^ p[i]) * 0x100000001b3ull;
    return h;
}

/* A tile as the encoder takes it: planar RGB (CHW). */
static const float *planar_tile(const vision_preset *p, const float *tile, int32_t size, float *scratch)
{
    if (p->layout == VP_LAYOUT_NCHW) return tile;
    size_t plane = (size_t)size * size;
    for (size_t i = 0; i < plane; i++)
        for (int c = 0; c < 3; c++) scratch[c * plane + i] = tile[i * 3 + c];
    return scratch;
}

int vision_batch_encode(vision_pipe *vp, const rk_req_image *images, int n, const image_limits *lim,
                        vision_batch *out, rk_error *e)
{
    memset(out, 0, sizeof *out);
    out->expansion = calloc((size_t)(n ? n : 1), sizeof *out->expansion);
    out->embd = calloc((size_t)(n ? n : 1), sizeof *out->embd);
    out->n_rows = calloc((size_t)(n ? n : 1), sizeof *out->n_rows);
    out->hash = calloc((size_t)(n ? n : 1), sizeof *out->hash);
    if (!out->expansion || !out->embd || !out->n_rows || !out->hash) {
        vision_batch_free(out);
        return rk_fail(e, 500, NULL, "out of memory");
    }
    out->n = n;
    /* the encoder's own normalisation wins over the preset's: an .rknn model
     * with it compiled in takes raw 0-255 pixels */
    vision_preset norm = *vp->preset;
    if (vp->info.std[0] > 0 && vp->info.std[1] > 0 && vp->info.std[2] > 0) {
        memcpy(norm.mean, vp->info.mean, sizeof norm.mean);
        memcpy(norm.std, vp->info.std, sizeof norm.std);
    }
    const vision_preset *p = &norm;
    image_limits l = *lim;
    memcpy(l.background, p->background, 3);
    int32_t d = vp->info.n_embd;
    for (int i = 0; i < n; i++) {
        const rk_req_image *im = &images[i];
        char err[256];
        rk_image img = {0};
        if (image_decode(im->data, im->len, &l, &img, err, sizeof err) != IMAGE_OK) {
            vision_batch_free(out);
            return rk_fail(e, 400, "images", "image %d: %s", i + 1, err);
        }
        vision_tiles t = {0};
        int rc = vision_preprocess(&img, p, &t, err, sizeof err);
        rk_image_free(&img);
        if (rc != 0) {
            vision_batch_free(out);
            return rk_fail(e, 400, "images", "image %d: %s", i + 1, err);
        }
        out->hash[i] = fnv1a(fnv1a(0xcbf29ce484222325ull, im->data, im->len), p->name, strlen(p->name));
        int32_t positions = 0;
        out->expansion[i] = vp->text_engine ? strdup(p->image_marker) : vision_prompt_expand(p, t.rows, t.cols, &positions);
        if (vp->text_engine) positions = t.n_tiles * vp->info.n_tokens;
        out->n_rows[i] = t.n_tiles * vp->info.n_tokens;
        out->embd[i] = malloc((size_t)out->n_rows[i] * (size_t)d * sizeof(float));
        size_t tf = vision_tile_floats(&t);
        float *scratch = p->layout == VP_LAYOUT_NCHW ? NULL : malloc(tf * sizeof(float));
        if (!out->expansion[i] || !out->embd[i] || (p->layout != VP_LAYOUT_NCHW && !scratch)) {
            free(scratch);
            vision_tiles_free(&t);
            vision_batch_free(out);
            return rk_fail(e, 500, NULL, "out of memory");
        }
        if (positions != out->n_rows[i]) {
            free(scratch);
            vision_tiles_free(&t);
            vision_batch_free(out);
            return rk_fail(e, 500, NULL, "vision preset '%s' places %d positions for %d embeddings", p->name,
                           positions, out->n_rows[i]);
        }
        for (int k = 0; k < t.n_tiles && rc == 0; k++) {
            const float *tile = planar_tile(p, t.data + (size_t)k * tf, t.size, scratch);
            rc = vp->ops->encode(vp->vm, tile, out->embd[i] + (size_t)k * vp->info.n_tokens * d, err, sizeof err);
        }
        free(scratch);
        vision_tiles_free(&t);
        if (rc != 0) {
            vision_batch_free(out);
            return rk_fail(e, 500, NULL, "encoding image %d failed: %s", i + 1, err);
        }
        out->total_rows += out->n_rows[i];
    }
    return 0;
}

char *vision_expand_prompt(const vision_pipe *vp, const char *prompt, const vision_batch *b, rk_error *e)
{
    const char *marker = vp->preset->image_marker;
    size_t ml = strlen(marker), total = strlen(prompt) + 1;
    int found = 0;
    for (const char *p = strstr(prompt, marker); p; p = strstr(p + ml, marker)) {
        if (found < b->n) total += strlen(b->expansion[found]);
        found++;
    }
    if (found != b->n) {
        rk_fail(e, 400, "messages",
                "the prompt marks %d image%s (%s) but the request carries %d; the model's chat template or the "
                "text decides where images go",
                found, found == 1 ? "" : "s", marker, b->n);
        return NULL;
    }
    char *out = malloc(total), *o = out;
    if (!out) {
        rk_fail(e, 500, NULL, "out of memory");
        return NULL;
    }
    const char *src = prompt;
    for (int i = 0; i < b->n; i++) {
        const char *at = strstr(src, marker);
        memcpy(o, src, (size_t)(at - src));
        o += at - src;
        size_t el = strlen(b->expansion[i]);
        memcpy(o, b->expansion[i], el);
        o += el;
        src = at + ml;
    }
    strcpy(o, src);
    return out;
}

int vision_make_spans(const vision_pipe *vp, const int32_t *toks, int64_t n, const vision_batch *b,
                      engine_embd_span **spans, int *n_spans, rk_error *e)
{
    *spans = NULL;
    *n_spans = 0;
    int cap = b->n ? b->n * 4 : 1;
    engine_embd_span *v = malloc((size_t)cap * sizeof *v);
    if (!v) return rk_fail(e, 500, NULL, "out of memory");
    int32_t d = vp->info.n_embd;
    if (vp->text_engine) {
        for (int i = 0; i < b->n; i++)
            v[i] = (engine_embd_span){.pos = 0, .n_tokens = b->n_rows[i], .embd = b->embd[i], .hash = b->hash[i]};
        *spans = v;
        *n_spans = b->n;
        return 0;
    }
    int img = 0, ns = 0;
    int32_t row = 0;
    int64_t found = 0;
    for (int64_t i = 0; i < n; i++) {
        if (toks[i] != vp->placeholder_token) continue;
        found++;
        if (img >= b->n) continue; /* counted, and refused below */
        engine_embd_span *last = ns ? &v[ns - 1] : NULL;
        bool extends = last && last->pos + last->n_tokens == i && row > 0;
        if (extends) {
            last->n_tokens++;
        } else {
            if (ns == cap) {
                cap *= 2;
                engine_embd_span *nv = realloc(v, (size_t)cap * sizeof *nv);
                if (!nv) {
                    free(v);
                    return rk_fail(e, 500, NULL, "out of memory");
                }
                v = nv;
            }
            /* the identity of a run: its image and where in the image it starts */
            v[ns++] = (engine_embd_span){.pos = i, .n_tokens = 1, .embd = b->embd[img] + (size_t)row * d,
                                         .hash = b->hash[img] ^ ((uint64_t)row * 0x9e3779b97f4a7c15ull)};
        }
        if (++row == b->n_rows[img]) {
            img++;
            row = 0;
        }
    }
    if (found != b->total_rows) {
        free(v);
        return rk_fail(e, 400, "messages",
                       "the prompt holds %lld image positions but its images fill %lld (the text may contain the "
                       "image placeholder '%s' itself)",
                       (long long)found, (long long)b->total_rows, vp->preset->placeholder);
    }
    *spans = v;
    *n_spans = ns;
    return 0;
}
