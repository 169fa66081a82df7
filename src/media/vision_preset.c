/* Loading, lookup and detection of vision presets (schema in
 * docs/VISION.md). Every field is checked on load so a bad user file fails
 * at start-up with the field named, never later on a request. */
#include "media/vision_preset.h"
#include "util/fsutil.h"

#include <ctype.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static int fail(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t errlen, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return -1;
}

static void free_list(char **v, int n)
{
    for (int i = 0; i < n; i++) free(v[i]);
    free(v);
}

static void preset_free(vision_preset *p)
{
    char **strs[] = {&p->name, &p->description, &p->source, &p->image_marker, &p->placeholder, &p->image_start,
                     &p->image_end, &p->global_tag, &p->tile_tag, &p->row_end, &p->global_prefix};
    for (size_t i = 0; i < sizeof strs / sizeof *strs; i++) free(*strs[i]);
    free_list(p->match_projector, p->n_match_projector);
    free_list(p->match_arch, p->n_match_arch);
    free_list(p->match_name, p->n_match_name);
    memset(p, 0, sizeof *p);
}

void vision_presets_free(vision_presets *set)
{
    for (int i = 0; i < set->n; i++) preset_free(&set->items[i]);
    free(set->items);
    set->items = NULL;
    set->n = 0;
}

const char *vp_resize_mode_name(vp_resize_mode m)
{
    static const char *names[] = {"fit", "crop", "pad", "tile"};
    return (unsigned)m < 4 ? names[m] : "unknown";
}

/* Reading context: names the origin and preset in every message. */
typedef struct {
    const char *origin, *preset;
    const char *prefix; /* "prompt." while reading the prompt object, ... */
    char *err;
    size_t errlen;
} rd;

static int bad(rd *r, const char *field, const char *what)
{
    return fail(r->err, r->errlen, "%s: preset \"%s\": %s%s %s", r->origin, r->preset ? r->preset : "?",
                r->prefix ? r->prefix : "", field, what);
}

static int get_str(rd *r, json_t *o, const char *key, bool required, const char *dflt, char **out)
{
    json_t *v = json_object_get(o, key);
    if (!v) {
        if (required) return bad(r, key, "is required");
        *out = strdup(dflt);
        return *out ? 0 : bad(r, key, ": out of memory");
    }
    if (!json_is_string(v)) return bad(r, key, "must be a string");
    *out = strdup(json_string_value(v));
    return *out ? 0 : bad(r, key, ": out of memory");
}

static int get_int(rd *r, json_t *o, const char *key, bool required, int32_t dflt, int32_t lo, int32_t hi,
                   int32_t *out)
{
    json_t *v = json_object_get(o, key);
    if (!v) {
        if (required) return bad(r, key, "is required");
        *out = dflt;
        return 0;
    }
    if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi) {
        char what[96];
        snprintf(what, sizeof what, "must be an integer from %d to %d", lo, hi);
        return bad(r, key, what);
    }
    *out = (int32_t)json_integer_value(v);
    return 0;
}

static int get_triple(rd *r, json_t *o, const char *key, bool required, const double dflt[3], double lo, double hi,
                      double out[3])
{
    json_t *v = json_object_get(o, key);
    if (!v) {
        if (required) return bad(r, key, "is required");
        memcpy(out, dflt, 3 * sizeof *out);
        return 0;
    }
    if (!json_is_array(v) || json_array_size(v) != 3) return bad(r, key, "must be an array of 3 numbers");
    for (int i = 0; i < 3; i++) {
        json_t *e = json_array_get(v, (size_t)i);
        if (!json_is_number(e)) return bad(r, key, "must be an array of 3 numbers");
        out[i] = json_number_value(e);
        if (!(out[i] >= lo && out[i] <= hi)) return bad(r, key, "has a value out of range");
    }
    return 0;
}

static int get_enum(rd *r, json_t *o, const char *key, const char *dflt, const char *const *names, int n, int *out)
{
    json_t *v = json_object_get(o, key);
    const char *s = dflt;
    if (v && !json_is_string(v)) return bad(r, key, "must be a string");
    if (v) s = json_string_value(v);
    if (!s) return bad(r, key, "is required");
    for (int i = 0; i < n; i++)
        if (names[i] && strcmp(s, names[i]) == 0) {
            *out = i;
            return 0;
        }
    char what[160];
    size_t k = (size_t)snprintf(what, sizeof what, "\"%s\" is not one of", s);
    for (int i = 0; i < n && k < sizeof what; i++)
        if (names[i]) k += (size_t)snprintf(what + k, sizeof what - k, " %s", names[i]);
    return bad(r, key, what);
}

static int get_list(rd *r, json_t *o, const char *key, char ***out, int *n)
{
    *out = NULL;
    *n = 0;
    json_t *v = json_object_get(o, key);
    if (!v) return 0;
    /* a single string is a list of one */
    bool one = json_is_string(v);
    if (!one && !json_is_array(v)) return bad(r, key, "must be a string or an array of strings");
    size_t cnt = one ? 1 : json_array_size(v);
    *out = calloc(cnt ? cnt : 1, sizeof **out);
    if (!*out) return bad(r, key, ": out of memory");
    for (size_t i = 0; i < cnt; i++) {
        json_t *e = one ? v : json_array_get(v, i);
        if (!json_is_string(e)) return bad(r, key, "must be a string or an array of strings");
        if (!((*out)[i] = strdup(json_string_value(e)))) return bad(r, key, ": out of memory");
        (*n)++;
    }
    return 0;
}

static const char *const known_keys[] = {
    "name", "description", "source", "verified", "image_size", "resize", "longest_edge", "max_edge",
    "interpolation", "background", "rescale", "mean", "std", "channel_order", "layout", "tokens_per_image",
    "prompt", "inject", "match", NULL};
static const char *const prompt_keys[] = {"image_marker", "placeholder", "image_start", "image_end", "global_tag",
                                          "tile_tag", "row_end", "global_prefix", NULL};
static const char *const match_keys[] = {"projector_type", "architecture", "name_contains", "image_size", NULL};

static int check_keys(rd *r, json_t *o, const char *where, const char *const *known)
{
    const char *k;
    json_t *v;
    json_object_foreach(o, k, v) {
        bool ok = false;
        for (int i = 0; known[i]; i++) ok |= strcmp(k, known[i]) == 0;
        if (!ok) {
            char field[128];
            snprintf(field, sizeof field, "%s\"%s\"", where, k);
            return bad(r, field, "is not a known field");
        }
    }
    return 0;
}

static int parse_preset(rd *r, json_t *o, vision_preset *p)
{
    memset(p, 0, sizeof *p);
    r->prefix = NULL;
    if (!json_is_object(o)) return fail(r->err, r->errlen, "%s: every preset must be an object", r->origin);
    json_t *nm = json_object_get(o, "name");
    r->preset = json_is_string(nm) ? json_string_value(nm) : NULL;
    if (check_keys(r, o, "", known_keys)) return -1;
    if (get_str(r, o, "name", true, NULL, &p->name) || get_str(r, o, "description", false, "", &p->description) ||
        get_str(r, o, "source", false, "", &p->source))
        return -1;
    if (!p->name[0]) return bad(r, "name", "must not be empty");
    json_t *ver = json_object_get(o, "verified");
    if (ver && !json_is_boolean(ver)) return bad(r, "verified", "must be true or false");
    p->verified = ver && json_is_true(ver);

    static const char *const modes[] = {"fit", "crop", "pad", "tile"};
    static const char *const filters[] = {"nearest", "bilinear", "bicubic", "lanczos"};
    static const char *const orders[] = {"rgb", "bgr"};
    static const char *const layouts[] = {"nchw", "nhwc"};
    static const char *const injects[] = {"replace", "rkllm"};
    int mode, filt, order, layout, inject;
    if (get_int(r, o, "image_size", true, 0, 1, 8192, &p->image_size) ||
        get_enum(r, o, "resize", NULL, modes, 4, &mode) || get_enum(r, o, "interpolation", NULL, filters, 4, &filt) ||
        get_enum(r, o, "channel_order", "rgb", orders, 2, &order) ||
        get_enum(r, o, "layout", "nchw", layouts, 2, &layout) || get_enum(r, o, "inject", "replace", injects, 2, &inject))
        return -1;
    p->mode = (vp_resize_mode)mode;
    p->interpolation = (resample_filter)filt;
    p->bgr = order == 1;
    p->layout = (vp_layout)layout;
    p->inject = (vp_inject)inject;
    bool tile = p->mode == VP_RESIZE_TILE;
    if (get_int(r, o, "longest_edge", tile, 0, p->image_size, 16384, &p->longest_edge) ||
        get_int(r, o, "max_edge", false, 4096, p->image_size, 16384, &p->max_edge))
        return -1;
    if (!tile && json_object_get(o, "longest_edge")) return bad(r, "longest_edge", "applies to resize \"tile\" only");

    double bg[3], mean[3], stdv[3], white[3] = {255, 255, 255}, zero[3] = {0, 0, 0}, one[3] = {1, 1, 1};
    if (get_triple(r, o, "background", false, white, 0, 255, bg) ||
        get_triple(r, o, "mean", false, zero, -1e6, 1e6, mean) || get_triple(r, o, "std", false, one, 1e-9, 1e6, stdv))
        return -1;
    for (int i = 0; i < 3; i++) {
        if (bg[i] != (int)bg[i]) return bad(r, "background", "must hold integers 0..255");
        p->background[i] = (uint8_t)bg[i];
        p->mean[i] = (float)mean[i];
        p->std[i] = (float)stdv[i];
    }
    json_t *rs = json_object_get(o, "rescale");
    p->rescale = 1.0 / 255.0;
    if (rs) {
        if (!json_is_number(rs) || !(json_number_value(rs) > 0)) return bad(r, "rescale", "must be a positive number");
        p->rescale = json_number_value(rs);
    }
    if (get_int(r, o, "tokens_per_image", true, 0, 1, 1 << 20, &p->tokens_per_tile)) return -1;

    json_t *pr = json_object_get(o, "prompt");
    if (!json_is_object(pr)) return bad(r, "prompt", "must be an object");
    r->prefix = "prompt.";
    if (check_keys(r, pr, "", prompt_keys)) return -1;
    if (get_str(r, pr, "placeholder", true, NULL, &p->placeholder) ||
        get_str(r, pr, "image_marker", false, "<image>", &p->image_marker) ||
        get_str(r, pr, "image_start", false, "", &p->image_start) ||
        get_str(r, pr, "image_end", false, "", &p->image_end) ||
        get_str(r, pr, "global_tag", false, "", &p->global_tag) || get_str(r, pr, "tile_tag", false, "", &p->tile_tag) ||
        get_str(r, pr, "row_end", false, "", &p->row_end) ||
        get_str(r, pr, "global_prefix", false, "", &p->global_prefix))
        return -1;
    if (!p->placeholder[0]) return bad(r, "placeholder", "must not be empty");
    if (!p->image_marker[0]) return bad(r, "image_marker", "must not be empty");
    r->prefix = NULL;

    json_t *m = json_object_get(o, "match");
    if (m) {
        if (!json_is_object(m)) return bad(r, "match", "must be an object");
        r->prefix = "match.";
        if (check_keys(r, m, "", match_keys)) return -1;
        if (get_list(r, m, "projector_type", &p->match_projector, &p->n_match_projector) ||
            get_list(r, m, "architecture", &p->match_arch, &p->n_match_arch) ||
            get_list(r, m, "name_contains", &p->match_name, &p->n_match_name) ||
            get_int(r, m, "image_size", false, 0, 1, 8192, &p->match_image_size))
            return -1;
        r->prefix = NULL;
    }
    return 0;
}

int vision_presets_load_text(vision_presets *set, const char *text, const char *origin, char *err, size_t errlen)
{
    json_error_t je;
    json_t *root = json_loads(text, JSON_REJECT_DUPLICATES, &je);
    if (!root) return fail(err, errlen, "%s: line %d: %s", origin, je.line, je.text);
    int rc = -1;
    json_t *arr = json_object_get(root, "presets");
    if (!json_is_object(root) || !json_is_array(arr)) {
        fail(err, errlen, "%s: expected an object with a \"presets\" array", origin);
        goto out;
    }
    size_t n = json_array_size(arr);
    vision_preset *parsed = calloc(n ? n : 1, sizeof *parsed);
    if (!parsed) {
        fail(err, errlen, "%s: out of memory", origin);
        goto out;
    }
    rd r = {origin, NULL, NULL, err, errlen};
    size_t ok = 0;
    for (; ok < n; ok++) {
        if (parse_preset(&r, json_array_get(arr, ok), &parsed[ok]) != 0) {
            preset_free(&parsed[ok]);
            break;
        }
        for (size_t k = 0; k < ok; k++)
            if (strcmp(parsed[k].name, parsed[ok].name) == 0) {
                fail(err, errlen, "%s: preset \"%s\" is defined twice", origin, parsed[ok].name);
                preset_free(&parsed[ok]);
                goto partial;
            }
    }
partial:
    if (ok < n) {
        for (size_t k = 0; k < ok; k++) preset_free(&parsed[k]);
        free(parsed);
        goto out;
    }
    vision_preset *grown = realloc(set->items, (size_t)(set->n + (int)n + 1) * sizeof *grown);
    if (!grown) {
        for (size_t k = 0; k < n; k++) preset_free(&parsed[k]);
        free(parsed);
        fail(err, errlen, "%s: out of memory", origin);
        goto out;
    }
    set->items = grown;
    for (size_t k = 0; k < n; k++) {
        /* a redefinition replaces the old preset and moves it last, so
         * detection ties favour what was loaded later */
        for (int i = 0; i < set->n; i++)
            if (strcmp(set->items[i].name, parsed[k].name) == 0) {
                preset_free(&set->items[i]);
                memmove(&set->items[i], &set->items[i + 1], (size_t)(set->n - i - 1) * sizeof *set->items);
                set->n--;
                break;
            }
        set->items[set->n++] = parsed[k];
    }
    free(parsed);
    rc = 0;
out:
    json_decref(root);
    return rc;
}

int vision_presets_load(vision_presets *set, const char *path, char *err, size_t errlen)
{
    char *buf = read_file(path, 64u << 20, NULL, err, errlen);
    if (!buf) return -1;
    int rc = vision_presets_load_text(set, buf, path, err, errlen);
    free(buf);
    return rc;
}

const vision_preset *vision_presets_find(const vision_presets *set, const char *name)
{
    if (!name) return NULL;
    for (int i = 0; i < set->n; i++)
        if (strcmp(set->items[i].name, name) == 0) return &set->items[i];
    return NULL;
}

/* Model names spell separators variously ("SmolVLM2 256M", "InternVL3_5"),
 * so ' ', '_' and '-' compare equal, and case is ignored. */
static int fold(int c)
{
    return c == ' ' || c == '_' ? '-' : tolower(c);
}

static bool contains_folded(const char *hay, const char *needle)
{
    size_t n = strlen(needle);
    if (n == 0) return true;
    for (const char *s = hay; *s; s++) {
        size_t k = 0;
        while (k < n && s[k] && fold((unsigned char)s[k]) == fold((unsigned char)needle[k])) k++;
        if (k == n) return true;
    }
    return false;
}

/* -1: a rule fails; else how many rules held */
static int score(const vision_preset *p, const vision_model_facts *f)
{
    int s = 0;
    if (p->n_match_projector) {
        bool hit = false;
        for (int i = 0; i < p->n_match_projector && f->projector_type; i++)
            hit |= strcasecmp(p->match_projector[i], f->projector_type) == 0;
        if (!hit) return -1;
        s++;
    }
    if (p->n_match_arch) {
        bool hit = false;
        for (int i = 0; i < p->n_match_arch && f->architecture; i++)
            hit |= strcasecmp(p->match_arch[i], f->architecture) == 0;
        if (!hit) return -1;
        s++;
    }
    if (p->n_match_name) {
        bool hit = false;
        for (int i = 0; i < p->n_match_name && f->name; i++) hit |= contains_folded(f->name, p->match_name[i]);
        if (!hit) return -1;
        s++;
    }
    if (p->match_image_size) {
        if (f->image_size != p->match_image_size) return -1;
        s++;
    }
    return s;
}

const vision_preset *vision_presets_detect(const vision_presets *set, const vision_model_facts *facts)
{
    const vision_preset *best = NULL;
    int best_score = 0;
    for (int i = 0; i < set->n; i++) {
        int s = score(&set->items[i], facts);
        if (s > 0 && s >= best_score) {
            best = &set->items[i];
            best_score = s;
        }
    }
    return best;
}
