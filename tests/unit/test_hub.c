/* The pure parts of the pull: reference parsing, the choice of files from a
 * listing, the SoC from a device-tree compatible list, ETag digests, and
 * the sidecar merge. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/download.h"
#include "core/hub.h"

static void test_ref_forms(void **state)
{
    (void)state;
    hub_ref r;
    char err[512];
    assert_int_equal(hub_ref_parse("hf.co/Qwen/Qwen3-0.6B-GGUF", &r, err, sizeof err), 0);
    assert_int_equal(r.kind, HUB_REF_REPO);
    assert_string_equal(r.owner, "Qwen");
    assert_string_equal(r.repo, "Qwen3-0.6B-GGUF");
    assert_string_equal(r.file, "");
    assert_string_equal(r.tag, "");
    assert_string_equal(r.revision, "main");

    assert_int_equal(hub_ref_parse("huggingface.co/bartowski/Llama-3.2-1B-GGUF:Q8_0", &r, err, sizeof err), 0);
    assert_string_equal(r.tag, "Q8_0");
    assert_int_equal(hub_ref_parse("hf.co/a/b:latest", &r, err, sizeof err), 0);
    assert_string_equal(r.tag, "");

    assert_int_equal(hub_ref_parse("hf.co/a/b/sub/dir/model-Q4_0.gguf", &r, err, sizeof err), 0);
    assert_string_equal(r.file, "sub/dir/model-Q4_0.gguf");

    /* the web page's download links carry a query */
    assert_int_equal(hub_ref_parse("https://huggingface.co/a/b/resolve/v1.0/m.gguf?download=true", &r, err,
                                   sizeof err), 0);
    assert_int_equal(r.kind, HUB_REF_REPO);
    assert_string_equal(r.revision, "v1.0");
    assert_string_equal(r.file, "m.gguf");
    assert_int_equal(hub_ref_parse("https://huggingface.co/a/b/blob/main/m.rkllm", &r, err, sizeof err), 0);
    assert_string_equal(r.file, "m.rkllm");
    assert_int_equal(hub_ref_parse("https://huggingface.co/a/b", &r, err, sizeof err), 0);
    assert_string_equal(r.file, "");
    assert_int_equal(hub_ref_parse("https://huggingface.co/a/b/tree/main", &r, err, sizeof err), 0);
    assert_string_equal(r.file, "");

    assert_int_equal(hub_ref_parse("https://example.com:8443/x/y/Model-Q4_0.gguf?sig=1", &r, err, sizeof err), 0);
    assert_int_equal(r.kind, HUB_REF_URL);
    assert_string_equal(r.host, "example.com_8443");
    assert_string_equal(r.file, "Model-Q4_0.gguf");
    assert_string_equal(r.url, "https://example.com:8443/x/y/Model-Q4_0.gguf?sig=1");
}

static void test_ref_rejects(void **state)
{
    (void)state;
    hub_ref r;
    char err[512];
    const char *bad[] = {
        "",                            /* nothing */
        "llama3",                      /* an Ollama library name */
        "hf.co/onlyowner",             /* no repository */
        "hf.co/../etc",                /* path tricks */
        "hf.co/a/..",
        "hf.co/a/b/../../x.gguf",
        "hf.co/a/b/./x.gguf",
        "hf.co/.hidden/b",
        "hf.co/a/b:Q4/x",              /* a tag with a slash */
        "hf.co/a b/c",                 /* spaces */
        "https://example.com/",        /* no file name */
        "https://example.com/README.md", /* not a model */
        "https://user@example.com/m.gguf",
        "ftp://example.com/m.gguf",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = 0;
        if (hub_ref_parse(bad[i], &r, err, sizeof err) != -1) fail_msg("accepted '%s'", bad[i]);
        assert_true(err[0] != 0);
    }
}

static void test_words(void **state)
{
    (void)state;
    assert_true(hub_name_has_word("model-Q4_K_M.gguf", "q4_k_m"));
    assert_true(hub_name_has_word("model.Q4_0.gguf", "Q4_0"));
    assert_true(hub_name_has_word("model_Q4_0.gguf", "Q4_0")); /* '_' before is a separator */
    assert_false(hub_name_has_word("model-Q4_0_4_4.gguf", "Q4_0"));
    assert_false(hub_name_has_word("model-IQ4_XS.gguf", "Q4_XS")); /* a letter before */
    assert_false(hub_name_has_word("model-F16.gguf", "F1"));
    assert_true(hub_name_has_word("x-rk3588.rkllm", "rk3588"));
    assert_false(hub_name_has_word("x-rk35888.rkllm", "rk3588"));
}

static void test_soc(void **state)
{
    (void)state;
    char soc[32];
    const char a[] = "xunlong,orangepi-5-plus\0rockchip,rk3588\0";
    hub_soc_from_compatible(a, sizeof a - 1, soc, sizeof soc);
    assert_string_equal(soc, "rk3588");
    const char b[] = "radxa,rock-5c\0rockchip,rk3588s\0";
    hub_soc_from_compatible(b, sizeof b - 1, soc, sizeof soc);
    assert_string_equal(soc, "rk3588");
    const char c[] = "rockchip,rk3576-evb1-v10\0rockchip,rk3576\0";
    hub_soc_from_compatible(c, sizeof c - 1, soc, sizeof soc);
    assert_string_equal(soc, "rk3576");
    const char d[] = "raspberrypi,5-model-b\0brcm,bcm2712\0";
    hub_soc_from_compatible(d, sizeof d - 1, soc, sizeof soc);
    assert_string_equal(soc, "");
    const char e[] = "rockchip,rk"; /* truncated, no NUL */
    hub_soc_from_compatible(e, sizeof e - 1, soc, sizeof soc);
    assert_string_equal(soc, "");

    char path[] = "/tmp/rkserve-test-compatible-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, c, sizeof c - 1), (ssize_t)(sizeof c - 1));
    close(fd);
    setenv("RKSERVE_DT_COMPATIBLE", path, 1);
    hub_board_soc(soc, sizeof soc);
    assert_string_equal(soc, "rk3576");
    unlink(path);
    hub_board_soc(soc, sizeof soc);
    assert_string_equal(soc, "");
    unsetenv("RKSERVE_DT_COMPATIBLE");
}

/* ---- choosing ---- */

static hub_file F(const char *path)
{
    hub_file f = {.path = (char *)path, .size = 100};
    return f;
}

static const char *chosen(const hub_file *files, int n, const char *soc, const char *tag, const char *file,
                          hub_choice *ch)
{
    char err[1024];
    if (hub_choose(files, n, soc, tag, file, ch, err, sizeof err) != 0) return NULL;
    return files[ch->model].path;
}

static void test_choose_gguf(void **state)
{
    (void)state;
    hub_file files[] = {F("README.md"),          F("m-Q2_K.gguf"),      F("m-Q8_0.gguf"),
                        F("m-Q4_0.gguf"),        F("m-Q4_K_M.gguf"),    F("mmproj-m-Q8_0.gguf"),
                        F("mmproj-m-f16.gguf"),  F("m-F16.gguf"),       F("m-IQ4_XS.gguf")};
    int n = sizeof files / sizeof files[0];
    hub_choice ch;
    assert_string_equal(chosen(files, n, "", NULL, NULL, &ch), "m-Q4_K_M.gguf");
    assert_int_equal(ch.n_parts, 1);
    assert_int_equal(ch.n_vision, 1);
    assert_string_equal(files[ch.vision[0]].path, "mmproj-m-f16.gguf");
    /* without Q4_K_M: Q4_0, then Q8_0 */
    assert_string_equal(chosen(files + 1, 3, "", NULL, NULL, &ch), "m-Q4_0.gguf");
    assert_string_equal(chosen(files + 1, 2, "", NULL, NULL, &ch), "m-Q8_0.gguf");
    assert_int_equal(ch.n_vision, 0);
    /* tags */
    assert_string_equal(chosen(files, n, "", "q8_0", NULL, &ch), "m-Q8_0.gguf");
    assert_string_equal(chosen(files, n, "", "IQ4_XS", NULL, &ch), "m-IQ4_XS.gguf");
    assert_null(chosen(files, n, "", "Q6_K", NULL, &ch));
    /* a named file; a companion or a non-model is refused */
    assert_string_equal(chosen(files, n, "", NULL, "m-F16.gguf", &ch), "m-F16.gguf");
    assert_null(chosen(files, n, "", NULL, "mmproj-m-f16.gguf", &ch));
    assert_null(chosen(files, n, "", NULL, "README.md", &ch));
    assert_null(chosen(files, n, "", NULL, "missing.gguf", &ch));
    /* nothing to choose */
    assert_null(chosen(files, 1, "", NULL, NULL, &ch));
}

static void test_choose_split(void **state)
{
    (void)state;
    hub_file files[] = {F("Q8_0/big-Q8_0-00002-of-00003.gguf"), F("Q8_0/big-Q8_0-00001-of-00003.gguf"),
                        F("Q8_0/big-Q8_0-00003-of-00003.gguf"), F("Q4_K_M/big-Q4_K_M-00001-of-00002.gguf"),
                        F("Q4_K_M/big-Q4_K_M-00002-of-00002.gguf"), F("Q4_K_M/mmproj-big-F16.gguf")};
    int n = sizeof files / sizeof files[0];
    hub_choice ch;
    assert_string_equal(chosen(files, n, "", NULL, NULL, &ch), "Q4_K_M/big-Q4_K_M-00001-of-00002.gguf");
    assert_int_equal(ch.n_parts, 2);
    assert_string_equal(files[ch.parts[1]].path, "Q4_K_M/big-Q4_K_M-00002-of-00002.gguf");
    assert_int_equal(ch.n_vision, 1);
    assert_string_equal(chosen(files, n, "", "Q8_0", NULL, &ch), "Q8_0/big-Q8_0-00001-of-00003.gguf");
    assert_int_equal(ch.n_parts, 3);
    assert_string_equal(files[ch.parts[2]].path, "Q8_0/big-Q8_0-00003-of-00003.gguf");
    assert_int_equal(ch.n_vision, 0); /* the mmproj lives beside the other quantisation */
    /* a missing shard is an error */
    assert_null(chosen(files, 2, "", "Q8_0", NULL, &ch));
}

static void test_choose_rkllm(void **state)
{
    (void)state;
    hub_file files[] = {F("Qwen2-VL-2B-w4a16-rk3588.rkllm"),
                        F("Qwen2-VL-2B-w8a8-rk3576.rkllm"),
                        F("Qwen2-VL-2B-w8a8-rk3588.rkllm"),
                        F("qwen2_vl_2b_vision_rk3588.rknn"),
                        F("qwen2_vl_2b_vision_rk3576.rknn"),
                        F("Qwen2-VL-2B-Q4_K_M.gguf")};
    int n = sizeof files / sizeof files[0];
    hub_choice ch;
    assert_string_equal(chosen(files, n, "rk3588", NULL, NULL, &ch), "Qwen2-VL-2B-w8a8-rk3588.rkllm");
    assert_int_equal(ch.n_vision, 1);
    assert_string_equal(files[ch.vision[0]].path, "qwen2_vl_2b_vision_rk3588.rknn");
    assert_string_equal(chosen(files, n, "rk3576", NULL, NULL, &ch), "Qwen2-VL-2B-w8a8-rk3576.rkllm");
    assert_string_equal(files[ch.vision[0]].path, "qwen2_vl_2b_vision_rk3576.rknn");
    /* not a board: rk3588 files */
    assert_string_equal(chosen(files, n, "", NULL, NULL, &ch), "Qwen2-VL-2B-w8a8-rk3588.rkllm");
    /* another SoC: the GGUF */
    assert_string_equal(chosen(files, n, "rk3562", NULL, NULL, &ch), "Qwen2-VL-2B-Q4_K_M.gguf");
    /* ... and without a GGUF, an error */
    assert_null(chosen(files, n - 1, "rk3562", NULL, NULL, &ch));
    /* tags */
    assert_string_equal(chosen(files, n, "rk3588", "w4a16", NULL, &ch), "Qwen2-VL-2B-w4a16-rk3588.rkllm");
    assert_string_equal(chosen(files, n, "rk3588", "Q4_K_M", NULL, &ch), "Qwen2-VL-2B-Q4_K_M.gguf");

    /* encoder shards differing by a number all come along, in order */
    hub_file sh[] = {F("m-w8a8.rkllm"), F("enc_part10.rknn"), F("enc_part2.rknn"), F("enc_part1.rknn")};
    assert_string_equal(chosen(sh, 4, "rk3588", NULL, NULL, &ch), "m-w8a8.rkllm");
    assert_int_equal(ch.n_vision, 3);
    assert_string_equal(sh[ch.vision[0]].path, "enc_part1.rknn");
    assert_string_equal(sh[ch.vision[1]].path, "enc_part2.rknn");
    assert_string_equal(sh[ch.vision[2]].path, "enc_part10.rknn");
    /* different encoders: the first by name only */
    hub_file two[] = {F("m-w8a8.rkllm"), F("vision_448.rknn"), F("vision_low.rknn")};
    assert_non_null(chosen(two, 3, "rk3588", NULL, NULL, &ch));
    assert_int_equal(ch.n_vision, 1);
    assert_string_equal(two[ch.vision[0]].path, "vision_448.rknn");
}

static void test_etag_digest(void **state)
{
    (void)state;
    char out[65];
    const char *hex = "91737661d75cfba60c464e754357d7e8243f354249093fe2897de0947e7b14bc";
    char quoted[80], weak[90], upper[70];
    snprintf(quoted, sizeof quoted, "\"%s\"", hex);
    snprintf(weak, sizeof weak, "W/\"sha256:%s\"", hex);
    snprintf(upper, sizeof upper, "%s", hex);
    for (char *c = upper; *c; c++)
        if (*c >= 'a' && *c <= 'f') *c = (char)(*c - 32);
    assert_true(dl_parse_sha256(quoted, out));
    assert_string_equal(out, hex);
    assert_true(dl_parse_sha256(weak, out));
    assert_string_equal(out, hex);
    assert_true(dl_parse_sha256(upper, out));
    assert_string_equal(out, hex);
    assert_false(dl_parse_sha256("\"0a4b\"", out));                                      /* short */
    assert_false(dl_parse_sha256("\"da39a3ee5e6b4b0d3255bfef95601890afd80709\"", out)); /* a git sha1 */
    char longer[80];
    snprintf(longer, sizeof longer, "%s00", hex);
    assert_false(dl_parse_sha256(longer, out));

    dl_sha256 *h = dl_sha256_new();
    assert_non_null(h);
    dl_sha256_update(h, "abc", 3);
    dl_sha256_hex(h, out);
    assert_string_equal(out, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    dl_sha256_reset(h);
    dl_sha256_hex(h, out);
    assert_string_equal(out, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    dl_sha256_free(h);
}

static void test_sidecar_merge(void **state)
{
    (void)state;
    char dir[] = "/tmp/rkserve-test-sidecar-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char model[256], sc[256], path[4096], err[512];
    snprintf(model, sizeof model, "%s/m-Q4_0.gguf", dir);
    snprintf(sc, sizeof sc, "%s/m-Q4_0.json", dir);
    FILE *f = fopen(sc, "w");
    assert_non_null(f);
    fputs("{\"name\": \"mine:v1\", \"aliases\": \"hf.co/a/b\", \"system\": \"be brief\"}", f);
    fclose(f);
    const char *aliases[] = {"hf.co/a/b", "hf.co/a/b:Q4_0"};
    const char *vision[] = {"mmproj-F16.gguf"};
    assert_int_equal(hub_sidecar_write(model, aliases, 2, "mmproj", vision, 1, json_pack("{s:s}", "sha256", "00"), path,
                                       sizeof path, err, sizeof err),
                     0);
    assert_string_equal(path, sc);
    json_error_t je;
    json_t *j = json_load_file(sc, 0, &je);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "name")), "mine:v1");
    assert_string_equal(json_string_value(json_object_get(j, "system")), "be brief");
    json_t *al = json_object_get(j, "aliases");
    assert_int_equal(json_array_size(al), 2);
    assert_string_equal(json_string_value(json_array_get(al, 1)), "hf.co/a/b:Q4_0");
    assert_string_equal(json_string_value(json_object_get(json_object_get(j, "vision"), "mmproj")),
                        "mmproj-F16.gguf");
    assert_string_equal(json_string_value(json_object_get(json_object_get(j, "_pull"), "sha256")), "00");
    json_decref(j);

    /* a sidecar that is not JSON is left alone */
    f = fopen(sc, "w");
    fputs("{broken", f);
    fclose(f);
    assert_int_equal(hub_sidecar_write(model, aliases, 2, "mmproj", NULL, 0, json_object(), path, sizeof path, err,
                                       sizeof err),
                     -1);
    f = fopen(sc, "r");
    char buf[32] = {0};
    assert_true(fread(buf, 1, sizeof buf - 1, f) > 0);
    fclose(f);
    assert_string_equal(buf, "{broken");
    unlink(sc);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ref_forms),    cmocka_unit_test(test_ref_rejects), cmocka_unit_test(test_words),
        cmocka_unit_test(test_soc),          cmocka_unit_test(test_choose_gguf), cmocka_unit_test(test_choose_split),
        cmocka_unit_test(test_choose_rkllm), cmocka_unit_test(test_etag_digest), cmocka_unit_test(test_sidecar_merge),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
