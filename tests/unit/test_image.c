/* Image decoding against PIL: tests/media/make_images.py writes JPEG, PNG
 * and WebP files of every colour type, depth and EXIF orientation together
 * with the RGB PIL decodes them to; each must decode to exactly the same
 * pixels. Then the refusals: unknown formats, animations, limits, and
 * truncated and corrupted copies of every file, each with its reason. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "media/image.h"

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
    snprintf(dir, sizeof dir, "/tmp/rk_test_image_%d", (int)getpid());
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 %s/tests/media/make_images.py %s", src ? src : ".", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : -1;
}

typedef struct {
    char name[64], enc[80], exp[80];
    int w, h, bg[3];
} entry;

static int read_manifest(entry *e, int cap)
{
    size_t len;
    uint8_t *m = slurp("manifest.txt", &len);
    m[len] = 0;
    int n = 0;
    char *save = NULL;
    for (char *line = strtok_r((char *)m, "\n", &save); line && n < cap; line = strtok_r(NULL, "\n", &save)) {
        entry *x = &e[n];
        if (sscanf(line, "%63s %79s %79s %d %d %d %d %d", x->name, x->enc, x->exp, &x->w, &x->h, &x->bg[0],
                   &x->bg[1], &x->bg[2]) == 8)
            n++;
    }
    free(m);
    return n;
}

static void test_matches_pil(void **state)
{
    (void)state;
    entry e[64];
    int n = read_manifest(e, 64);
    assert_true(n >= 31);
    for (int i = 0; i < n; i++) {
        size_t len, elen;
        uint8_t *data = slurp(e[i].enc, &len), *want = slurp(e[i].exp, &elen);
        image_limits lim = {0, 0, {(uint8_t)e[i].bg[0], (uint8_t)e[i].bg[1], (uint8_t)e[i].bg[2]}};
        rk_image img;
        char err[256] = "";
        image_status st = image_decode(data, len, &lim, &img, err, sizeof err);
        if (st != IMAGE_OK) fail_msg("%s: %s", e[i].name, err);
        if (img.width != e[i].w || img.height != e[i].h)
            fail_msg("%s: %dx%d, PIL %dx%d", e[i].name, img.width, img.height, e[i].w, e[i].h);
        assert_int_equal(elen, (size_t)e[i].w * e[i].h * 3);
        for (size_t k = 0; k < elen; k++)
            if (img.rgb[k] != want[k])
                fail_msg("%s: byte %zu (pixel %zu) is %d, PIL %d", e[i].name, k, k / 3, img.rgb[k], want[k]);
        rk_image_free(&img);
        free(data);
        free(want);
    }
}

static void test_detect(void **state)
{
    (void)state;
    size_t len;
    uint8_t *d = slurp("jpeg_420.bin", &len);
    assert_int_equal(image_detect(d, len), IMAGE_FORMAT_JPEG);
    assert_int_equal(image_detect(d, 2), IMAGE_FORMAT_UNKNOWN);
    free(d);
    d = slurp("png_rgb.bin", &len);
    assert_int_equal(image_detect(d, len), IMAGE_FORMAT_PNG);
    free(d);
    d = slurp("webp_lossy.bin", &len);
    assert_int_equal(image_detect(d, len), IMAGE_FORMAT_WEBP);
    free(d);
    assert_string_equal(image_format_name(IMAGE_FORMAT_WEBP), "WebP");
}

static void expect_status(const uint8_t *d, size_t len, const image_limits *lim, image_status want,
                          const char *msg_part, const char *what)
{
    rk_image img = {1, 1, (uint8_t *)1};
    char err[256] = "";
    image_status st = image_decode(d, len, lim, &img, err, sizeof err);
    if (st != want) fail_msg("%s: status %s (%s), want %s", what, image_status_name(st), err, image_status_name(want));
    assert_null(img.rgb);
    assert_int_equal(img.width, 0);
    if (msg_part && !strstr(err, msg_part)) fail_msg("%s: error \"%s\" lacks \"%s\"", what, err, msg_part);
}

static void test_refusals(void **state)
{
    (void)state;
    size_t len;
    uint8_t *d = slurp("image.gif", &len);
    expect_status(d, len, NULL, IMAGE_ERR_UNSUPPORTED, "unsupported image format", "gif");
    free(d);
    d = slurp("animated.webp", &len);
    expect_status(d, len, NULL, IMAGE_ERR_UNSUPPORTED, "animated WebP", "animated webp");
    free(d);
    expect_status((const uint8_t *)"", 0, NULL, IMAGE_ERR_CORRUPT, "empty", "empty");

    const char *files[] = {"jpeg_420.bin", "jpeg_progressive.bin", "png_rgb.bin", "webp_lossy.bin", "webp_lossless.bin"};
    for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
        d = slurp(files[i], &len);
        /* 33x17 = 561 pixels */
        image_limits lim = {0, 560, {0, 0, 0}};
        expect_status(d, len, &lim, IMAGE_ERR_TOO_LARGE, "33x17 pixels, over the limit of 560", files[i]);
        lim.max_pixels = 561;
        rk_image img;
        char err[256];
        assert_int_equal(image_decode(d, len, &lim, &img, err, sizeof err), IMAGE_OK);
        rk_image_free(&img);
        lim.max_bytes = len - 1;
        expect_status(d, len, &lim, IMAGE_ERR_TOO_LARGE, "over the limit of", files[i]);
        /* cut in the middle of the compressed data */
        expect_status(d, len * 2 / 3, NULL, IMAGE_ERR_TRUNCATED, "truncated", files[i]);
        free(d);
    }

    /* header damage: a PNG whose IHDR CRC is wrong, a JPEG with a bad
     * marker length, a WebP whose RIFF size is a lie */
    d = slurp("png_rgb.bin", &len);
    d[29] ^= 0xFF;
    expect_status(d, len, NULL, IMAGE_ERR_CORRUPT, "corrupt PNG data", "png crc");
    free(d);
    d = slurp("jpeg_444.bin", &len);
    uint8_t junk[64];
    memcpy(junk, d, 4);
    memset(junk + 4, 0xEE, sizeof junk - 4);
    expect_status(junk, sizeof junk, NULL, IMAGE_ERR_CORRUPT, "JPEG", "jpeg junk");
    free(d);
}

/* Flipped bytes anywhere must give a clean answer: decoded or refused. */
static void test_corruption_never_crashes(void **state)
{
    (void)state;
    const char *files[] = {"jpeg_420.bin", "jpeg_progressive.bin", "png_palette_trns.bin", "png_rgba16.bin",
                           "webp_lossy.bin", "webp_alpha.bin"};
    uint32_t seed = 99;
    for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
        size_t len;
        uint8_t *d = slurp(files[i], &len);
        uint8_t *m = malloc(len);
        for (int r = 0; r < 150; r++) {
            memcpy(m, d, len);
            for (int k = 0; k < 3; k++) {
                seed = seed * 1664525u + 1013904223u;
                m[(seed >> 8) % len] ^= (uint8_t)(1u << (seed % 8));
            }
            rk_image img;
            char err[256];
            image_status st = image_decode(m, len, NULL, &img, err, sizeof err);
            if (st == IMAGE_OK) {
                assert_true(img.width > 0 && img.height > 0);
                rk_image_free(&img);
            } else {
                assert_null(img.rgb);
                assert_true(err[0] != 0);
            }
        }
        free(m);
        free(d);
    }
}

static void test_exif_parser(void **state)
{
    (void)state;
    /* big-endian TIFF, IFD0 with one entry: Orientation = 6 */
    const uint8_t mm[] = {'M', 'M', 0, 42, 0, 0, 0, 8, 0, 1, 0x01, 0x12, 0, 3, 0, 0, 0, 1, 0, 6, 0, 0};
    assert_int_equal(exif_orientation_tiff(mm, sizeof mm), 6);
    /* truncated entry, bad magic, out-of-range value, IFD offset past the end */
    assert_int_equal(exif_orientation_tiff(mm, sizeof mm - 4), 1);
    uint8_t bad[sizeof mm];
    memcpy(bad, mm, sizeof mm);
    bad[3] = 43;
    assert_int_equal(exif_orientation_tiff(bad, sizeof bad), 1);
    memcpy(bad, mm, sizeof mm);
    bad[19] = 9;
    assert_int_equal(exif_orientation_tiff(bad, sizeof bad), 1);
    memcpy(bad, mm, sizeof mm);
    bad[4] = 0xFF;
    assert_int_equal(exif_orientation_tiff(bad, sizeof bad), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_matches_pil),
        cmocka_unit_test(test_detect),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_corruption_never_crashes),
        cmocka_unit_test(test_exif_parser),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
