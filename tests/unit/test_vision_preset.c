/* Vision presets: the shipped file loads and every family is there;
 * lookup and detection from GGUF facts; user files override and bad ones
 * fail naming the field; prompt expansion equals strings built by hand
 * from the processors' published layouts; and preprocessing equals
 * tests/media/vision_ref.py, an independent PIL/numpy implementation of the
 * same facts (SmolVLM tiling at its real 512px size included). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "media/vision_preset.h"
#include "util/strbuf.h"

static char src_dir[512], tmp_dir[256];
static vision_presets shipped;

static int setup(void **state)
{
    (void)state;
    const char *s = getenv("RKSERVE_SOURCE_DIR");
    snprintf(src_dir, sizeof src_dir, "%s", s ? s : ".");
    char path[700], err[256];
    snprintf(path, sizeof path, "%s/share/vision-presets.json", src_dir);
    if (vision_presets_load(&shipped, path, err, sizeof err) != 0) {
        fprintf(stderr, "%s\n", err);
        return -1;
    }
    snprintf(tmp_dir, sizeof tmp_dir, "/tmp/rk_test_vision_%d", (int)getpid());
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    vision_presets_free(&shipped);
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmp_dir);
    return system(cmd) == 0 ? 0 : -1;
}

static void test_shipped_presets(void **state)
{
    (void)state;
    const char *names[] = {"shapes", "smolvlm-256m", "smolvlm-500m", "smolvlm-2.2b", "smolvlm2-256m", "smolvlm2-500m",
                           "smolvlm2-2.2b", "qwen2-vl", "qwen2.5-vl", "qwen3-vl", "internvl3", "internvl3.5",
                           "minicpm-v-2.6", "minicpm-v-4", "deepseek-ocr", "gemma3n", "janus-pro"};
    assert_int_equal(shipped.n, (int)(sizeof names / sizeof *names));
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        const vision_preset *p = vision_presets_find(&shipped, names[i]);
        if (!p) fail_msg("preset %s missing", names[i]);
        assert_true(p->source[0] != 0);
        assert_true(p->tokens_per_tile > 0 && p->image_size > 0);
    }
    const vision_preset *s = vision_presets_find(&shipped, "smolvlm-256m");
    assert_int_equal(s->mode, VP_RESIZE_TILE);
    assert_int_equal(s->image_size, 512);
    assert_int_equal(s->longest_edge, 2048);
    assert_int_equal(s->max_edge, 4096);
    assert_int_equal(s->interpolation, RESAMPLE_LANCZOS);
    assert_int_equal(s->tokens_per_tile, 64);
    assert_true(s->verified);
    const vision_preset *q = vision_presets_find(&shipped, "qwen2-vl");
    assert_int_equal(q->inject, VP_INJECT_RKLLM);
    assert_true(fabsf(q->mean[0] - 0.48145466f) < 1e-7f);
    assert_string_equal(q->placeholder, "<|image_pad|>");
    const vision_preset *shapes = vision_presets_find(&shipped, "shapes");
    assert_int_equal(shapes->image_size, 64);
    assert_int_equal(shapes->tokens_per_tile, 16);
    assert_int_equal(shapes->mode, VP_RESIZE_FIT);
    assert_null(vision_presets_find(&shipped, "nope"));
}

static void test_detect(void **state)
{
    (void)state;
    struct {
        vision_model_facts f;
        const char *want;
    } cases[] = {
        {{"idefics3", "llama", "SmolVLM2 256M Video Instruct", 512}, "smolvlm2-256m"},
        {{"idefics3", "llama", "SmolVLM-500M-Instruct", 512}, "smolvlm-500m"},
        {{"idefics3", "llama", "SmolVLM Instruct", 384}, "smolvlm-2.2b"},
        {{"idefics3", "llama", "shapes", 64}, "shapes"},
        {{"qwen2vl_merger", "qwen2vl", "Qwen2-VL-2B-Instruct", 0}, "qwen2-vl"},
        {{"internvl", "qwen2", "InternVL3_5-2B", 448}, "internvl3.5"},
        {{"internvl", "qwen2", "InternVL3-1B", 448}, "internvl3"},
        {{NULL, "gemma3n", "gemma-3n-E2B-it", 0}, "gemma3n"},
        {{NULL, "llama", "Janus-Pro-1B", 0}, "janus-pro"},
        {{"idefics3", "llama", "something else", 999}, NULL},
        {{NULL, NULL, NULL, 0}, NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        const vision_preset *p = vision_presets_detect(&shipped, &cases[i].f);
        const char *got = p ? p->name : NULL;
        if ((got == NULL) != (cases[i].want == NULL) || (got && strcmp(got, cases[i].want) != 0))
            fail_msg("case %zu: detected %s, want %s", i, got ? got : "(none)", cases[i].want ? cases[i].want : "(none)");
    }
}

static void expect_error(const char *json, const char *part)
{
    vision_presets set = {0};
    char err[300] = "";
    assert_int_equal(vision_presets_load_text(&set, json, "user.json", err, sizeof err), -1);
    if (!strstr(err, part)) fail_msg("error \"%s\" lacks \"%s\"", err, part);
    assert_int_equal(set.n, 0);
    vision_presets_free(&set);
}

#define MIN_PRESET(extra) \
    "{\"presets\":[{\"name\":\"x\",\"image_size\":8,\"resize\":\"fit\",\"interpolation\":\"bicubic\"," \
    "\"tokens_per_image\":2,\"prompt\":{\"placeholder\":\"<p>\"}" extra "}]}"

static void test_user_file_and_errors(void **state)
{
    (void)state;
    vision_presets set = {0};
    char err[300];
    char path[700];
    snprintf(path, sizeof path, "%s/share/vision-presets.json", src_dir);
    assert_int_equal(vision_presets_load(&set, path, err, sizeof err), 0);
    int n = set.n;
    /* a user file overrides one preset and adds another */
    const char *user = "{\"presets\":[{\"name\":\"qwen2-vl\",\"image_size\":448,\"resize\":\"fit\","
                       "\"interpolation\":\"bicubic\",\"tokens_per_image\":256,"
                       "\"prompt\":{\"placeholder\":\"<|image_pad|>\"}},"
                       "{\"name\":\"mine\",\"image_size\":8,\"resize\":\"crop\",\"interpolation\":\"nearest\","
                       "\"tokens_per_image\":2,\"prompt\":{\"placeholder\":\"<p>\"},\"match\":{\"name_contains\":\"mine\"}}]}";
    assert_int_equal(vision_presets_load_text(&set, user, "user.json", err, sizeof err), 0);
    assert_int_equal(set.n, n + 1);
    assert_int_equal(vision_presets_find(&set, "qwen2-vl")->image_size, 448);
    assert_int_equal(vision_presets_find(&set, "mine")->mode, VP_RESIZE_CROP);
    /* defaults */
    const vision_preset *m = vision_presets_find(&set, "mine");
    assert_string_equal(m->image_marker, "<image>");
    assert_int_equal(m->layout, VP_LAYOUT_NCHW);
    assert_false(m->bgr);
    assert_true(m->rescale == 1.0 / 255.0);
    assert_true(m->std[1] == 1.0f && m->mean[2] == 0.0f);
    vision_model_facts f = {NULL, NULL, "models/mine-q8.gguf", 0};
    assert_ptr_equal(vision_presets_detect(&set, &f), m);
    vision_presets_free(&set);

    expect_error("{", "user.json: line 1");
    expect_error("[]", "\"presets\" array");
    expect_error(MIN_PRESET(",\"resize\":\"zoom\""), "user.json: line 1");
    expect_error("{\"presets\":[{\"name\":\"x\",\"image_size\":8,\"resize\":\"zoom\",\"interpolation\":\"bicubic\","
                 "\"tokens_per_image\":2,\"prompt\":{\"placeholder\":\"<p>\"}}]}",
                 "preset \"x\": resize \"zoom\" is not one of fit crop pad tile");
    expect_error(MIN_PRESET(",\"mean\":[0.5,0.5]"), "preset \"x\": mean must be an array of 3 numbers");
    expect_error(MIN_PRESET(",\"std\":[0.5,0,0.5]"), "std has a value out of range");
    expect_error(MIN_PRESET(",\"colour\":1"), "preset \"x\": \"colour\" is not a known field");
    expect_error(MIN_PRESET(",\"longest_edge\":64"), "longest_edge applies to resize \"tile\" only");
    expect_error(MIN_PRESET(",\"layout\":\"chw\""), "layout \"chw\" is not one of nchw nhwc");
    expect_error(MIN_PRESET(",\"match\":{\"image_size\":\"big\"}"), "match.image_size must be an integer");
    expect_error("{\"presets\":[{\"name\":\"t\",\"image_size\":8,\"resize\":\"tile\",\"interpolation\":\"bicubic\","
                 "\"tokens_per_image\":2,\"prompt\":{\"placeholder\":\"<p>\"}}]}",
                 "preset \"t\": longest_edge is required");
    expect_error("{\"presets\":[{\"name\":\"x\",\"image_size\":8,\"resize\":\"fit\",\"interpolation\":\"bicubic\","
                 "\"tokens_per_image\":2,\"prompt\":{}}]}",
                 "prompt.placeholder is required");
    expect_error("{\"presets\":[" "{\"name\":\"d\",\"image_size\":8,\"resize\":\"fit\",\"interpolation\":\"bicubic\","
                 "\"tokens_per_image\":2,\"prompt\":{\"placeholder\":\"<p>\"}},"
                 "{\"name\":\"d\",\"image_size\":8,\"resize\":\"fit\",\"interpolation\":\"bicubic\","
                 "\"tokens_per_image\":2,\"prompt\":{\"placeholder\":\"<p>\"}}]}",
                 "preset \"d\" is defined twice");
    assert_int_equal(vision_presets_load(&set, "/nonexistent/presets.json", err, sizeof err), -1);
    assert_non_null(strstr(err, "/nonexistent/presets.json: cannot open"));
}

static void add_n(strbuf *b, const char *s, int n)
{
    for (int i = 0; i < n; i++) assert_true(strbuf_add_str(b, s));
}

static void test_prompt_expansion(void **state)
{
    (void)state;
    int32_t n = 0;
    /* shapes: the SmolVLM single-image form, 16 placeholders */
    char *got = vision_prompt_expand(vision_presets_find(&shipped, "shapes"), 0, 0, &n);
    assert_string_equal(got, "<fake_token_around_image><global-img>"
                             "<image><image><image><image><image><image><image><image>"
                             "<image><image><image><image><image><image><image><image>"
                             "<fake_token_around_image>");
    assert_int_equal(n, 16);
    free(got);

    /* SmolVLM, 2 rows x 3 cols: Idefics3's _prompt_split_image layout */
    strbuf want = {0};
    assert_true(strbuf_add(&want, "", 0));
    for (int r = 1; r <= 2; r++) {
        for (int c = 1; c <= 3; c++) {
            char tag[64];
            snprintf(tag, sizeof tag, "<fake_token_around_image><row_%d_col_%d>", r, c);
            assert_true(strbuf_add_str(&want, tag));
            add_n(&want, "<image>", 64);
        }
        assert_true(strbuf_add_str(&want, "\n"));
    }
    assert_true(strbuf_add_str(&want, "\n<fake_token_around_image><global-img>"));
    add_n(&want, "<image>", 64);
    assert_true(strbuf_add_str(&want, "<fake_token_around_image>"));
    got = vision_prompt_expand(vision_presets_find(&shipped, "smolvlm-256m"), 2, 3, &n);
    assert_string_equal(got, want.p);
    assert_int_equal(n, 7 * 64);
    free(got);
    free(want.p);

    /* SmolVLM-2.2B, unsplit: 81 placeholders */
    got = vision_prompt_expand(vision_presets_find(&shipped, "smolvlm2-2.2b"), 0, 0, &n);
    assert_int_equal(n, 81);
    assert_int_equal(strlen(got), strlen("<fake_token_around_image><global-img><fake_token_around_image>") + 81 * 7);
    free(got);

    /* Qwen2-VL: <|vision_start|> + 196 x <|image_pad|> + <|vision_end|> */
    want = (strbuf){0};
    assert_true(strbuf_add_str(&want, "<|vision_start|>"));
    add_n(&want, "<|image_pad|>", 196);
    assert_true(strbuf_add_str(&want, "<|vision_end|>"));
    got = vision_prompt_expand(vision_presets_find(&shipped, "qwen2-vl"), 0, 0, &n);
    assert_string_equal(got, want.p);
    assert_int_equal(n, 196);
    free(got);
    free(want.p);

    /* InternVL: <img> + 256 x <IMG_CONTEXT> + </img>; Gemma 3n's blank lines */
    got = vision_prompt_expand(vision_presets_find(&shipped, "internvl3"), 0, 0, &n);
    assert_int_equal(n, 256);
    assert_int_equal(strncmp(got, "<img><IMG_CONTEXT><IMG_CONTEXT>", 31), 0);
    assert_string_equal(got + strlen(got) - 19, "<IMG_CONTEXT></img>");
    free(got);
    got = vision_prompt_expand(vision_presets_find(&shipped, "gemma3n"), 0, 0, &n);
    assert_int_equal(n, 256);
    assert_int_equal(strncmp(got, "\n\n<start_of_image><image_soft_token>", 36), 0);
    assert_string_equal(got + strlen(got) - 34, "<image_soft_token><end_of_image>\n\n");
    free(got);
}

static float *slurp_floats(const char *path, int32_t hdr[4], size_t *count)
{
    FILE *f = fopen(path, "rb");
    if (!f) fail_msg("cannot open %s", path);
    assert_int_equal(fread(hdr, 4, 4, f), 4);
    fseek(f, 0, SEEK_END);
    long n = ftell(f) - 16;
    fseek(f, 16, SEEK_SET);
    float *d = malloc((size_t)n);
    assert_non_null(d);
    assert_int_equal(fread(d, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *count = (size_t)n / 4;
    return d;
}

static uint8_t *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) fail_msg("cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *b = malloc((size_t)n + 1);
    assert_non_null(b);
    assert_int_equal(fread(b, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *len = (size_t)n;
    return b;
}

static void test_preprocess_matches_reference(void **state)
{
    (void)state;
    char cmd[2048], path[700], err[256];
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 %s/tests/media/vision_ref.py %s %s/share/vision-presets.json %s/tests/media/test-presets.json",
             src_dir, tmp_dir, src_dir, src_dir);
    assert_int_equal(system(cmd), 0);
    vision_presets set = {0};
    snprintf(path, sizeof path, "%s/share/vision-presets.json", src_dir);
    assert_int_equal(vision_presets_load(&set, path, err, sizeof err), 0);
    snprintf(path, sizeof path, "%s/tests/media/test-presets.json", src_dir);
    if (vision_presets_load(&set, path, err, sizeof err) != 0) fail_msg("%s", err);

    snprintf(path, sizeof path, "%s/manifest.txt", tmp_dir);
    size_t mlen;
    char *m = (char *)slurp(path, &mlen);
    m[mlen] = 0;
    int jobs = 0;
    char *save = NULL;
    for (char *line = strtok_r(m, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char name[64], png[64], ref[64];
        assert_int_equal(sscanf(line, "%63s %63s %63s", name, png, ref), 3);
        const vision_preset *p = vision_presets_find(&set, name);
        assert_non_null(p);
        size_t len;
        snprintf(path, sizeof path, "%s/%s", tmp_dir, png);
        uint8_t *data = slurp(path, &len);
        rk_image img;
        assert_int_equal(image_decode(data, len, NULL, &img, err, sizeof err), IMAGE_OK);
        free(data);
        vision_tiles t;
        if (vision_preprocess(&img, p, &t, err, sizeof err) != 0) fail_msg("%s: %s", line, err);
        int32_t hdr[4];
        size_t count;
        snprintf(path, sizeof path, "%s/%s", tmp_dir, ref);
        float *want = slurp_floats(path, hdr, &count);
        if (t.n_tiles != hdr[0] || t.rows != hdr[1] || t.cols != hdr[2] || t.size != hdr[3])
            fail_msg("%s (%dx%d): %d tiles %dx%d of %d, reference %d tiles %dx%d of %d", name, img.width, img.height,
                     t.n_tiles, t.rows, t.cols, t.size, hdr[0], hdr[1], hdr[2], hdr[3]);
        assert_int_equal(count, (size_t)t.n_tiles * vision_tile_floats(&t));
        for (size_t i = 0; i < count; i++)
            if (t.data[i] != want[i])
                fail_msg("%s (%dx%d): float %zu is %.9g, reference %.9g", name, img.width, img.height, i, t.data[i],
                         want[i]);
        /* the prompt for this image has one placeholder run per tile */
        int32_t n;
        char *text = vision_prompt_expand(p, t.rows, t.cols, &n);
        assert_int_equal(n, t.n_tiles * p->tokens_per_tile);
        free(text);
        free(want);
        vision_tiles_free(&t);
        rk_image_free(&img);
        jobs++;
    }
    free(m);
    vision_presets_free(&set);
    assert_int_equal(jobs, 11);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shipped_presets),
        cmocka_unit_test(test_detect),
        cmocka_unit_test(test_user_file_and_errors),
        cmocka_unit_test(test_prompt_expansion),
        cmocka_unit_test(test_preprocess_matches_reference),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
