#include "cli/run_vision.h"

#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/registry.h"
#include "util/fsutil.h"

int run_vision_open(run_vision *v, const char *model_path, const engine_ops *ops, const engine_model *em,
                    const engine_info *info, int32_t threads, char *err, size_t errlen)
{
    memset(v, 0, sizeof *v);
    /* the shipped presets, then the user's, as `rkserve serve --vision-presets` */
    const char *user = getenv("RKSERVE_VISION_PRESETS");
    if (vision_presets_load_text(&v->presets, rk_vision_presets_json, "shipped vision presets", err, errlen) != 0 ||
        (user && *user && vision_presets_load(&v->presets, user, err, errlen) != 0)) {
        vision_presets_free(&v->presets);
        return -1;
    }
    /* the registry pairs a model with its companion, as for the server */
    char *copy = strdup(model_path);
    const char *dir = copy ? dirname(copy) : ".";
    registry *reg = registry_new(&dir, 1, "");
    const registry_entry *found = NULL;
    int rc = -1;
    if (reg && registry_scan(reg, err, errlen) >= 0) {
        registry_snapshot *snap = registry_snapshot_get(reg);
        char want[4096];
        if (!realpath(model_path, want)) snprintf(want, sizeof want, "%s", model_path);
        for (int i = 0; snap && i < registry_snapshot_count(snap) && !found; i++) {
            const registry_entry *e = registry_snapshot_at(snap, i);
            char have[4096];
            if (realpath(e->path, have) && !strcmp(have, want) && !e->copy_file) found = e;
        }
        if (!found) snprintf(err, errlen, "%s has no vision encoder next to it (an mmproj GGUF or .rknn)", model_path);
        else rc = vision_pipe_open(&v->pipe, found, ops, em, info, &v->presets, threads, err, errlen);
        registry_snapshot_release(snap);
    } else if (!reg) {
        snprintf(err, errlen, "out of memory");
    }
    registry_free(reg);
    free(copy);
    if (rc != 0) vision_presets_free(&v->presets);
    return rc;
}

void run_vision_clear(run_vision *v)
{
    for (int i = 0; i < v->n_images; i++) {
        free(v->images[i].data);
        free(v->images[i].url);
    }
    free(v->images);
    v->images = NULL;
    v->n_images = 0;
}

void run_vision_close(run_vision *v)
{
    run_vision_clear(v);
    vision_pipe_close(&v->pipe);
    vision_presets_free(&v->presets);
}

int run_vision_add(run_vision *v, const char *path)
{
    char err[512];
    size_t len;
    uint8_t *buf = (uint8_t *)read_file(path, 64u << 20, &len, err, sizeof err);
    if (!buf) {
        fprintf(stderr, "rkserve run: %s\n", err);
        return -1;
    }
    rk_req_image *nv = realloc(v->images, (size_t)(v->n_images + 1) * sizeof *nv);
    if (!nv) {
        free(buf);
        fprintf(stderr, "rkserve run: out of memory\n");
        return -1;
    }
    v->images = nv;
    v->images[v->n_images++] = (rk_req_image){.data = buf, .len = len};
    return 0;
}

int run_vision_prompt(run_vision *v, const engine_ops *ops, const engine_model *em, const engine_info *info,
                      const chat_format *f, const chat_message *msgs, int n_msgs, bool raw, int32_t **toks,
                      int64_t *n_toks, engine_embd_span **spans, int *n_spans, vision_batch *vb, char *err,
                      size_t errlen)
{
    *toks = NULL;
    *spans = NULL;
    memset(vb, 0, sizeof *vb);
    rk_error e = {0};
    image_limits lim = {.max_bytes = 64u << 20, .max_pixels = 64u << 20};
    if (vision_batch_encode(&v->pipe, v->images, v->n_images, &lim, vb, &e) != 0) {
        snprintf(err, errlen, "%s", e.message);
        return -1;
    }
    char *text = NULL;
    if (raw) {
        /* a raw prompt is the one user text, the image marker written into it */
        text = strdup(msgs[n_msgs - 1].content);
    } else {
        rk_request r;
        request_init(&r);
        r.messages = json_array();
        for (int i = 0; i < n_msgs; i++)
            json_array_append_new(r.messages, json_pack("{s:s, s:s}", "role", msgs[i].role, "content", msgs[i].content));
        text = request_render_chat(&r, f, v->pipe.preset->image_marker, &e);
        request_free(&r);
    }
    char *expanded = text ? vision_expand_prompt(&v->pipe, text, vb, &e) : NULL;
    free(text);
    if (expanded) {
        *n_toks = engine_tokenize_alloc(ops, em, expanded, engine_prompt_wants_bos(info, expanded), toks);
        if (*n_toks < 0) rk_fail(&e, 500, NULL, "cannot tokenize the prompt");
        else vision_make_spans(&v->pipe, *toks, *n_toks, vb, spans, n_spans, &e);
    }
    free(expanded);
    if (e.status) {
        snprintf(err, errlen, "%s", e.message[0] ? e.message : "out of memory");
        free(*toks);
        *toks = NULL;
        vision_batch_free(vb);
        return -1;
    }
    return 0;
}
