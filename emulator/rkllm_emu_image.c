#include "emulator/rkllm_emu_image.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static size_t count_markers(const char *text)
{
    size_t n = 0, k = strlen(EMU_IMAGE_MARKER);
    for (const char *p = strstr(text, EMU_IMAGE_MARKER); p; p = strstr(p + k, EMU_IMAGE_MARKER)) n++;
    return n;
}

char *emu_image_expand(const char *text, const emu_images *im, char *err, size_t errlen)
{
    size_t markers = count_markers(text);
    if (markers != im->n_image) {
        snprintf(err, errlen, "the prompt marks %zu image(s) with " EMU_IMAGE_MARKER " but n_image is %zu", markers,
                 im->n_image);
        return NULL;
    }
    if (im->n_image > 0 && (!im->embd || im->n_tokens == 0)) {
        snprintf(err, errlen, "multimodal input with %zu image(s) but no image_embed or n_image_tokens 0",
                 im->n_image);
        return NULL;
    }
    if (im->n_image > 0 && (!im->content || !*im->content)) {
        snprintf(err, errlen, "img_content is empty: the runtime needs a tag for the image embedding positions");
        return NULL;
    }
    const char *start = im->start ? im->start : "", *end = im->end ? im->end : "";
    size_t ls = strlen(start), le = strlen(end), lc = im->n_image ? strlen(im->content) : 0;
    size_t block = ls + le + lc * im->n_tokens;
    if (im->n_tokens > 0 && lc > 0 && im->n_tokens > ((size_t)1 << 24) / lc) {
        snprintf(err, errlen, "n_image_tokens %zu is too large", im->n_tokens);
        return NULL;
    }
    size_t len = strlen(text) + markers * block + 1;
    char *out = malloc(len);
    if (!out) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    char *w = out;
    const char *r = text;
    for (const char *p = strstr(r, EMU_IMAGE_MARKER); p; p = strstr(r, EMU_IMAGE_MARKER)) {
        memcpy(w, r, (size_t)(p - r));
        w += p - r;
        memcpy(w, start, ls);
        w += ls;
        for (size_t i = 0; i < im->n_tokens; i++, w += lc) memcpy(w, im->content, lc);
        memcpy(w, end, le);
        w += le;
        r = p + strlen(EMU_IMAGE_MARKER);
    }
    strcpy(w, r);
    return out;
}

/* FNV-1a of the image's embeddings: the same image gives the same hash, so
 * a kept prefix holding it is reused. */
static uint64_t embd_hash(const float *v, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ull;
    const unsigned char *b = (const unsigned char *)v;
    for (size_t i = 0; i < n * sizeof(float); i++) {
        h ^= b[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

int emu_image_spans(const engine_model *m, const int32_t *tokens, int64_t from, int64_t n, const emu_images *im,
                    engine_embd_span *out, char *err, size_t errlen)
{
    if (im->n_image == 0) return 0;
    int32_t tag[4];
    int64_t k = cpu_engine_ops.tokenize(m, im->content, strlen(im->content), false, true, tag, 4);
    if (k != 1) {
        snprintf(err, errlen,
                 "img_content \"%s\" is %lld tokens for this model's tokenizer; it must be exactly one token (a "
                 "special token of the model, such as its image pad token)",
                 im->content, (long long)k);
        return -1;
    }
    /* Maximal runs of the tag: one of k x n_tokens is k images side by
     * side; a shorter stray one (a BOS that is also the pad token, say) is
     * text. */
    size_t img = 0, per = im->n_tokens * (size_t)im->n_embd;
    bool bad = false;
    for (int64_t i = from; i < n && !bad;) {
        if (tokens[i] != tag[0]) {
            i++;
            continue;
        }
        int64_t j = i;
        while (j < n && tokens[j] == tag[0]) j++;
        size_t run = (size_t)(j - i);
        if (run % im->n_tokens != 0) {
            bad = run > im->n_tokens;
        } else {
            for (size_t r = 0; r < run / im->n_tokens && !bad; r++, img++) {
                if (img == im->n_image) {
                    bad = true;
                    break;
                }
                out[img].pos = i + (int64_t)(r * im->n_tokens);
                out[img].n_tokens = (int32_t)im->n_tokens;
                out[img].embd = im->embd + per * img;
                out[img].hash = embd_hash(out[img].embd, per) ^ (uint64_t)im->n_tokens;
            }
        }
        i = j;
    }
    if (bad || img != im->n_image) {
        snprintf(err, errlen,
                 "img_content \"%s\" does not occur as %zu run(s) of %zu tokens in the tokenized prompt (it merges "
                 "with its neighbours, or the prompt holds it elsewhere)",
                 im->content, im->n_image, im->n_tokens);
        return -1;
    }
    return 0;
}

void emu_spans_clear(emu_spans *s)
{
    for (int32_t i = 0; i < s->n; i++) free((void *)s->v[i].embd);
    free(s->v);
    s->v = NULL;
    s->n = 0;
}

void emu_spans_trim(emu_spans *s, int64_t n_tokens)
{
    while (s->n > 0 && s->v[s->n - 1].pos + s->v[s->n - 1].n_tokens > n_tokens) {
        s->n--;
        free((void *)s->v[s->n].embd);
    }
    if (s->n == 0) emu_spans_clear(s);
}

bool emu_spans_append(emu_spans *s, const engine_embd_span *add, int32_t n, int32_t n_embd)
{
    if (n <= 0) return true;
    engine_embd_span *v = realloc(s->v, (size_t)(s->n + n) * sizeof *v);
    if (!v) return false;
    s->v = v;
    int32_t i = 0;
    for (; i < n; i++) {
        size_t bytes = (size_t)add[i].n_tokens * (size_t)n_embd * sizeof(float);
        float *copy = malloc(bytes);
        if (!copy) break;
        memcpy(copy, add[i].embd, bytes);
        v[s->n + i] = add[i];
        v[s->n + i].embd = copy;
    }
    if (i < n) {
        while (i-- > 0) free((void *)v[s->n + i].embd);
        return false;
    }
    s->n += n;
    return true;
}
