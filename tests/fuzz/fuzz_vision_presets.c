/* Fuzz target for the preset loader (a user's presets file is input too):
 * any text either loads, giving presets that can be found by name, that
 * preprocess a small image into the promised number of floats and expand
 * into a prompt with one placeholder run per tile, or fails with a
 * message. Presets asking for large work are skipped after loading. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "media/vision_preset.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (!text) return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    vision_presets set = {0};
    char err[256] = "";
    if (vision_presets_load_text(&set, text, "fuzz", err, sizeof err) != 0) {
        if (err[0] == 0 || set.n != 0) abort();
        free(text);
        return 0;
    }
    uint8_t px[5 * 3 * 3];
    for (size_t i = 0; i < sizeof px; i++) px[i] = (uint8_t)(i * 37);
    rk_image img = {5, 3, px};
    for (int i = 0; i < set.n; i++) {
        const vision_preset *p = &set.items[i];
        if (vision_presets_find(&set, p->name) != p) abort();
        if (p->image_size > 64 || p->longest_edge > 128 || p->tokens_per_tile > 256) continue;
        vision_tiles t;
        if (vision_preprocess(&img, p, &t, err, sizeof err) != 0) abort();
        if (t.size != p->image_size || t.n_tiles < 1 || t.n_tiles != (t.rows > 0 && t.cols > 0 ? t.rows * t.cols + 1 : 1)) abort();
        int32_t n = 0;
        char *s = vision_prompt_expand(p, t.rows, t.cols, &n);
        if (!s || n != t.n_tiles * p->tokens_per_tile) abort();
        free(s);
        vision_tiles_free(&t);
    }
    vision_presets_free(&set);
    free(text);
    return 0;
}
