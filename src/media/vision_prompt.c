/* The text an image stands for in the prompt. For a split image this is
 * Idefics3's layout: each local tile as image_start + its row/column tag +
 * the placeholders, row_end after each row, then global_prefix and the
 * global image as image_start + global_tag + placeholders + image_end. An
 * unsplit image is just the global part without the prefix. */
#include "media/vision_preset.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/strbuf.h"

static bool add_tile_tag(strbuf *b, const char *tag, int32_t row, int32_t col)
{
    for (const char *s = tag; *s;) {
        if (strncmp(s, "{row}", 5) == 0 || strncmp(s, "{col}", 5) == 0) {
            char num[16];
            int n = snprintf(num, sizeof num, "%d", s[1] == 'r' ? row : col);
            if (!strbuf_add(b, num, (size_t)n)) return false;
            s += 5;
        } else {
            const char *next = strchr(s + 1, '{');
            size_t n = next ? (size_t)(next - s) : strlen(s);
            if (!strbuf_add(b, s, n)) return false;
            s += n;
        }
    }
    return true;
}

static bool add_placeholders(strbuf *b, const vision_preset *p)
{
    for (int32_t i = 0; i < p->tokens_per_tile; i++)
        if (!strbuf_add_str(b, p->placeholder)) return false;
    return true;
}

char *vision_prompt_expand(const vision_preset *p, int32_t rows, int32_t cols, int32_t *n_positions)
{
    strbuf b = {0};
    bool ok = strbuf_add(&b, "", 0);
    bool split = rows > 0 && cols > 0;
    int32_t n = 0;
    if (split) {
        for (int32_t r = 0; ok && r < rows; r++) {
            for (int32_t c = 0; ok && c < cols; c++) {
                ok = strbuf_add_str(&b, p->image_start) && add_tile_tag(&b, p->tile_tag, r + 1, c + 1) &&
                     add_placeholders(&b, p);
                n += p->tokens_per_tile;
            }
            ok = ok && strbuf_add_str(&b, p->row_end);
        }
        ok = ok && strbuf_add_str(&b, p->global_prefix);
    }
    ok = ok && strbuf_add_str(&b, p->image_start) && strbuf_add_str(&b, p->global_tag) && add_placeholders(&b, p) &&
         strbuf_add_str(&b, p->image_end);
    n += p->tokens_per_tile;
    if (!ok) {
        free(b.p);
        return NULL;
    }
    if (n_positions) *n_positions = n;
    return b.p;
}
