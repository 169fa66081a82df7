/* Resizing against PIL: tests/media/pil_resize.py resizes seeded images
 * (noise, hard-edged gradients, single rows and columns) up, down, by
 * non-integer ratios and along one axis only, with every filter; rkserve's
 * output must equal PIL's byte for byte. Plus crop bounds. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "media/resize.h"

static char dir[256];

static uint8_t *slurp(const char *name, size_t *len)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
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

static int setup(void **state)
{
    (void)state;
    const char *src = getenv("RKSERVE_SOURCE_DIR");
    snprintf(dir, sizeof dir, "/tmp/rk_test_resize_%d", (int)getpid());
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 %s/tests/media/pil_resize.py %s", src ? src : ".", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static void test_matches_pil(void **state)
{
    (void)state;
    size_t mlen;
    char *m = (char *)slurp("manifest.txt", &mlen);
    m[mlen] = 0;
    int cases = 0, per_filter[4] = {0};
    char *save = NULL;
    for (char *line = strtok_r(m, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char srcf[64], filt[16], expf[96];
        int sw, sh, dw, dh;
        assert_int_equal(sscanf(line, "%63s %d %d %15s %d %d %95s", srcf, &sw, &sh, filt, &dw, &dh, expf), 7);
        int f = resample_from_name(filt);
        assert_true(f >= 0);
        size_t slen, elen;
        rk_image src = {sw, sh, slurp(srcf, &slen)}, dst;
        uint8_t *want = slurp(expf, &elen);
        assert_int_equal(slen, (size_t)sw * sh * 3);
        assert_int_equal(elen, (size_t)dw * dh * 3);
        assert_int_equal(image_resize(&src, dw, dh, (resample_filter)f, &dst), 0);
        assert_int_equal(dst.width, dw);
        assert_int_equal(dst.height, dh);
        for (size_t i = 0; i < elen; i++)
            if (dst.rgb[i] != want[i])
                fail_msg("%s %dx%d -> %dx%d %s: byte %zu is %d, PIL %d", srcf, sw, sh, dw, dh, filt, i, dst.rgb[i],
                         want[i]);
        rk_image_free(&dst);
        free(src.rgb);
        free(want);
        cases++;
        per_filter[f]++;
    }
    free(m);
    assert_int_equal(cases, 4 * 23);
    for (int i = 0; i < 4; i++) assert_int_equal(per_filter[i], 23);
}

static void test_bad_arguments_and_crop(void **state)
{
    (void)state;
    uint8_t px[4 * 3 * 3];
    for (size_t i = 0; i < sizeof px; i++) px[i] = (uint8_t)i;
    rk_image src = {4, 3, px}, dst;
    assert_int_equal(image_resize(&src, 0, 3, RESAMPLE_BICUBIC, &dst), -1);
    assert_null(dst.rgb);
    assert_int_equal(image_resize(&src, 2, 2, (resample_filter)9, &dst), -1);
    assert_int_equal(resample_from_name("cubic"), -1);
    assert_string_equal(resample_name(RESAMPLE_LANCZOS), "lanczos");

    assert_int_equal(image_crop(&src, 1, 1, 3, 3, &dst), 0);
    assert_int_equal(dst.width, 2);
    assert_int_equal(dst.height, 2);
    /* row 1 col 1 is pixel 5, row 2 col 2 is pixel 10 */
    assert_int_equal(dst.rgb[0], 15);
    assert_int_equal(dst.rgb[9], 30);
    rk_image_free(&dst);
    assert_int_equal(image_crop(&src, 1, 1, 5, 3, &dst), -1);
    assert_int_equal(image_crop(&src, 2, 1, 2, 3, &dst), -1);
    assert_int_equal(image_crop(&src, -1, 0, 2, 3, &dst), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_matches_pil),
        cmocka_unit_test(test_bad_arguments_and_crop),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
