/* The rknn vision engine against the librknnrt emulator: a single encoder
 * and a sharded pipeline give what the CPU encoder gives for the same
 * GGUF, shards go to the NPU cores round robin or as the manifest says,
 * scales are applied, bad manifests and chains are refused; and the
 * emulator's ABI answers errors as the vendor documents them. */
#include <dlfcn.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "engine/rknn/rknn_abi.h"
#include "engine/rknn/rknn_vision.h"

static char dir[4096];   /* scratch directory for manifests */
static char lib[4096];   /* the emulator */
static char tiny[4096];  /* 64 px -> 16 x 64 */
static char wide[4096];  /* 64 px -> 16 x 768 = 12288 values, an image's worth */

static int setup(void **state)
{
    (void)state;
    const char *b = getenv("RKSERVE_BUILD_DIR"), *m = getenv("RKSERVE_TEST_MODELS");
    snprintf(lib, sizeof lib, "%s/emulator/rknn/librknnrt.so", b ? b : ".");
    snprintf(tiny, sizeof tiny, "%s/vision-tiny-f16.gguf", m ? m : ".");
    snprintf(wide, sizeof wide, "%s/vision-tiny-768.gguf", m ? m : ".");
    snprintf(dir, sizeof dir, "/tmp/rkserve-test-rknn-XXXXXX");
    if (!mkdtemp(dir)) return -1;
    setenv("RKNN_LIB", lib, 1);
    unsetenv("RKNN_EMU_THREADS");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static const char *write_file(const char *name, const char *fmt, ...)
{
    static char path[4200];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(f, fmt, ap);
    va_end(ap);
    fclose(f);
    return path;
}

static void raw_pixels(float *p, size_t n, unsigned seed)
{
    uint64_t x = 0x9e3779b97f4a7c15ull * (seed + 1);
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        p[i] = (float)(x >> 56); /* 0..255 */
    }
}

/* What the emulated model does to its input: raw pixels in layout
 * (planar or interleaved) to the CPU encoder's normalised planes. */
static void normalise(const float *raw, bool interleaved, const vision_info *ci, float *out)
{
    size_t plane = (size_t)ci->image_size * (size_t)ci->image_size;
    for (size_t c = 0; c < 3; c++)
        for (size_t p = 0; p < plane; p++) {
            float v = interleaved ? raw[p * 3 + c] : raw[c * plane + p];
            out[c * plane + p] = (v / 255.0f - ci->mean[c]) / ci->std[c];
        }
}

static float max_diff(const float *a, const float *b, size_t n)
{
    float m = 0;
    for (size_t i = 0; i < n; i++) m = fmaxf(m, fabsf(a[i] - b[i]));
    return m;
}

static vision_model *load_ok(const vision_ops *ops, const char *path)
{
    char err[1024] = "";
    vision_model *v = ops->load(path, 1, err, sizeof err);
    if (!v) fail_msg("load %s: %s", path, err);
    return v;
}

static void test_single_matches_cpu(void **state)
{
    (void)state;
    char link[4200];
    snprintf(link, sizeof link, "%s/encoder.rknn", dir);
    unlink(link);
    assert_int_equal(symlink(tiny, link), 0); /* the emulator reads GGUF whatever the name */

    vision_model *npu = load_ok(&rknn_vision_ops, link), *cpu = load_ok(&cpu_vision_ops, tiny);
    vision_info ni, ci;
    rknn_vision_ops.info(npu, &ni);
    cpu_vision_ops.info(cpu, &ci);
    assert_string_equal(ni.engine, "rknn");
    assert_int_equal(ni.image_size, ci.image_size);
    assert_int_equal(ni.n_tokens, ci.n_tokens);
    assert_int_equal(ni.n_embd, ci.n_embd);
    /* no manifest: the model normalises, so the host sends raw pixels */
    for (int c = 0; c < 3; c++) {
        assert_float_equal(ni.mean[c], 0.0f, 0.0f);
        assert_float_equal(ni.std[c], 1.0f / 255.0f, 1e-9f);
    }
    assert_int_equal(rknn_vision_n_shards(npu), 1);
    assert_int_equal(rknn_vision_shard_core_mask(npu, 0), -1);

    size_t n_pix = 3 * (size_t)ci.image_size * (size_t)ci.image_size, n_out = (size_t)ci.n_tokens * (size_t)ci.n_embd;
    float *raw = malloc(n_pix * sizeof(float)), *norm = malloc(n_pix * sizeof(float));
    float *a = malloc(n_out * sizeof(float)), *b = malloc(n_out * sizeof(float));
    char err[512];
    for (unsigned seed = 1; seed <= 2; seed++) {
        raw_pixels(raw, n_pix, seed);
        normalise(raw, false, &ci, norm);
        assert_int_equal(rknn_vision_ops.encode(npu, raw, a, err, sizeof err), 0);
        assert_int_equal(cpu_vision_ops.encode(cpu, norm, b, err, sizeof err), 0);
        assert_true(max_diff(a, b, n_out) <= 1e-5f);
    }
    /* a different image gives different embeddings: the comparison is not vacuous */
    raw_pixels(raw, n_pix, 9);
    assert_int_equal(rknn_vision_ops.encode(npu, raw, b, err, sizeof err), 0);
    assert_true(max_diff(a, b, n_out) > 1e-3f);
    free(raw);
    free(norm);
    free(a);
    free(b);
    rknn_vision_ops.unload(npu);
    cpu_vision_ops.unload(cpu);
}

static void test_sharded_pipeline(void **state)
{
    (void)state;
    char trace[4200];
    snprintf(trace, sizeof trace, "%s/trace.txt", dir);
    unlink(trace);
    setenv("RKNN_EMU_TRACE", trace, 1);
    const char *manifest = write_file(
        "sharded.json",
        "{\"projector\": \"idefics3\", \"n_tokens\": 16, \"n_embd\": 768,\n"
        " \"shards\": [\"%s\", {\"file\": \"%s\", \"input_scale\": 2, \"output_descale\": 4}, {\"file\": \"%s\", "
        "\"core\": 0}]}\n",
        wide, wide, wide);
    vision_model *npu = load_ok(&rknn_vision_ops, manifest), *cpu = load_ok(&cpu_vision_ops, wide);
    unsetenv("RKNN_EMU_TRACE");
    vision_info ni, ci;
    rknn_vision_ops.info(npu, &ni);
    cpu_vision_ops.info(cpu, &ci);
    assert_string_equal(ni.projector, "idefics3");
    assert_int_equal(ni.n_tokens, 16);
    assert_int_equal(ni.n_embd, 768);
    assert_int_equal(rknn_vision_n_shards(npu), 3);
    /* round robin for the first two, the manifest's core for the third */
    assert_int_equal(rknn_vision_shard_core_mask(npu, 0), RKNN_ABI_CORE_0);
    assert_int_equal(rknn_vision_shard_core_mask(npu, 1), RKNN_ABI_CORE_1);
    assert_int_equal(rknn_vision_shard_core_mask(npu, 2), RKNN_ABI_CORE_0);

    size_t n = 3 * 64 * 64; /* = 16 x 768 */
    float *raw = malloc(n * sizeof(float)), *norm = malloc(n * sizeof(float));
    float *x = malloc(n * sizeof(float)), *want = malloc(n * sizeof(float)), *got = malloc(n * sizeof(float));
    char err[512];
    raw_pixels(raw, n, 4);
    setenv("RKNN_EMU_TRACE", trace, 1);
    assert_int_equal(rknn_vision_ops.encode(npu, raw, got, err, sizeof err), 0);
    unsetenv("RKNN_EMU_TRACE");

    /* the same by hand: later shards take the previous output as their
     * (interleaved, NHWC) input, after the input scale; outputs are descaled */
    normalise(raw, false, &ci, norm);
    assert_int_equal(cpu_vision_ops.encode(cpu, norm, want, err, sizeof err), 0);
    for (size_t i = 0; i < n; i++) x[i] = want[i] * 2.0f;
    normalise(x, true, &ci, norm);
    assert_int_equal(cpu_vision_ops.encode(cpu, norm, want, err, sizeof err), 0);
    for (size_t i = 0; i < n; i++) want[i] /= 4.0f;
    normalise(want, true, &ci, norm);
    assert_int_equal(cpu_vision_ops.encode(cpu, norm, want, err, sizeof err), 0);
    float scale = 0;
    for (size_t i = 0; i < n; i++) scale = fmaxf(scale, fabsf(want[i]));
    assert_true(max_diff(got, want, n) <= 1e-5f * fmaxf(1.0f, scale));

    /* the emulator saw three contexts, their masks, and runs in shard order */
    FILE *f = fopen(trace, "r");
    assert_non_null(f);
    char line[512], log[4096] = "";
    while (fgets(line, sizeof line, f)) {
        char *sp = strchr(line, ' ');
        if (!strncmp(line, "init", 4) && sp) snprintf(line, sizeof line, "init\n");
        if (strlen(log) + strlen(line) < sizeof log) strcat(log, line);
    }
    fclose(f);
    assert_string_equal(log, "init\ncore_mask 1 1\ninit\ncore_mask 2 2\ninit\ncore_mask 3 1\n"
                             "run 1 core_mask 1\nrun 2 core_mask 2\nrun 3 core_mask 1\n");
    free(raw);
    free(norm);
    free(x);
    free(want);
    free(got);
    rknn_vision_ops.unload(npu);
    cpu_vision_ops.unload(cpu);
}

static void expect_load_error(const char *path, const char *needle)
{
    char err[1024] = "";
    vision_model *v = rknn_vision_ops.load(path, 1, err, sizeof err);
    if (v) {
        rknn_vision_ops.unload(v);
        fail_msg("%s loaded; wanted an error with '%s'", path, needle);
    }
    if (!strstr(err, needle)) fail_msg("error '%s' lacks '%s'", err, needle);
}

static void test_refusals(void **state)
{
    (void)state;
    expect_load_error(write_file("empty.json", "{\"shards\": []}"), "non-empty \"shards\"");
    expect_load_error(write_file("bad.json", "{\"shards\": [\"a.rknn\""), "bad.json: line");
    expect_load_error(write_file("core.json", "{\"shards\": [{\"file\": \"%s\", \"core\": 5}]}", tiny),
                      "\"core\" must be 0, 1, 2");
    expect_load_error(write_file("scale.json", "{\"shards\": [{\"file\": \"%s\", \"input_scale\": 0}]}", tiny),
                      "scales must be positive");
    expect_load_error(write_file("ms.json", "{\"mean\": [0.5, 0.5, 0.5], \"shards\": [\"%s\"]}", tiny),
                      "\"mean\" and \"std\" go together");
    expect_load_error(write_file("size.json", "{\"n_embd\": 576, \"shards\": [\"%s\"]}", tiny), "the manifest says");
    expect_load_error(write_file("chain.json", "{\"shards\": [\"%s\", \"%s\"]}", tiny, wide),
                      "takes 12288 values but shard 0 gives 1024");
    expect_load_error(write_file("junk.rknn", "not a model\n"), "RKNN_ERR_MODEL_INVALID (-6)");
    expect_load_error(write_file("missing.json", "{\"shards\": [\"nowhere.rknn\"]}"), "rknn_init");

    char saved[4096];
    snprintf(saved, sizeof saved, "%s", getenv("RKNN_LIB"));
    setenv("RKNN_LIB", "/nonexistent/librknnrt.so", 1);
    expect_load_error(tiny, "cannot load the RKNN runtime /nonexistent/librknnrt.so");
    setenv("RKNN_LIB", saved, 1);
}

static void test_manifest_normalisation(void **state)
{
    (void)state;
    /* an encoder whose graph has no normalisation: the host normalises */
    vision_model *v = load_ok(&rknn_vision_ops,
                              write_file("norm.json", "{\"mean\": [0.5, 0.4, 0.3], \"std\": [0.2, 0.25, 0.5], "
                                                      "\"cores\": 2, \"shards\": [\"%s\", \"%s\", \"%s\"]}",
                                         wide, wide, wide));
    vision_info vi;
    rknn_vision_ops.info(v, &vi);
    assert_float_equal(vi.mean[1], 0.4f, 0.0f);
    assert_float_equal(vi.std[2], 0.5f, 0.0f);
    assert_int_equal(rknn_vision_shard_core_mask(v, 2), RKNN_ABI_CORE_0); /* round robin over two cores */
    assert_true(vi.weight_bytes > 0);
    rknn_vision_ops.unload(v);
}

/* The emulator's ABI, called as a vendor-API program would. */
static void test_emulator_abi(void **state)
{
    (void)state;
    void *dl = dlopen(lib, RTLD_NOW | RTLD_LOCAL);
    assert_non_null(dl);
    rknn_init_fn init = (rknn_init_fn)dlsym(dl, "rknn_init");
    rknn_destroy_fn destroy = (rknn_destroy_fn)dlsym(dl, "rknn_destroy");
    rknn_query_fn query = (rknn_query_fn)dlsym(dl, "rknn_query");
    rknn_set_core_mask_fn core = (rknn_set_core_mask_fn)dlsym(dl, "rknn_set_core_mask");
    rknn_inputs_set_fn inputs_set = (rknn_inputs_set_fn)dlsym(dl, "rknn_inputs_set");
    rknn_run_fn run = (rknn_run_fn)dlsym(dl, "rknn_run");
    rknn_outputs_get_fn outputs_get = (rknn_outputs_get_fn)dlsym(dl, "rknn_outputs_get");
    rknn_outputs_release_fn release = (rknn_outputs_release_fn)dlsym(dl, "rknn_outputs_release");
    assert_true(init && destroy && query && core && inputs_set && run && outputs_get && release);
    assert_null(dlsym(dl, "cpu_vision_ops")); /* only the vendor's names are exported */

    /* the model as bytes (size > 0) rather than a path */
    FILE *f = fopen(tiny, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    rewind(f);
    char *bytes = malloc((size_t)size);
    assert_int_equal(fread(bytes, 1, (size_t)size, f), (size_t)size);
    fclose(f);
    rknn_ctx_t ctx = 0;
    assert_int_equal(init(&ctx, bytes, (uint32_t)size, 0, NULL), 0);
    free(bytes);

    rknn_attr in = {.index = 0}, out = {.index = 0};
    assert_int_equal(query(ctx, RKNN_ABI_QUERY_INPUT_ATTR, &in, sizeof in), 0);
    assert_int_equal(query(ctx, RKNN_ABI_QUERY_OUTPUT_ATTR, &out, sizeof out), 0);
    assert_int_equal(in.fmt, RKNN_ABI_NHWC);
    assert_int_equal(in.dims[3], 3);
    assert_int_equal(in.n_elems, 3 * 64 * 64);
    assert_int_equal(out.n_elems, 16 * 64);
    rknn_attr bad = {.index = 1};
    assert_int_equal(query(ctx, RKNN_ABI_QUERY_OUTPUT_ATTR, &bad, sizeof bad), RKNN_ABI_ERR_PARAM_INVALID);
    char ver[512];
    assert_int_equal(query(ctx, 5, ver, sizeof ver), 0);
    assert_true(!strncmp(ver, "2.3.2", 5));

    assert_int_equal(core(ctx, 8), RKNN_ABI_ERR_PARAM_INVALID);
    assert_int_equal(core(ctx, RKNN_ABI_CORE_0_1_2), 0);
    assert_int_equal(core(ctx + 1, RKNN_ABI_CORE_0), RKNN_ABI_ERR_CTX_INVALID);

    /* run before any input is refused; uint8 NHWC pixels are accepted */
    assert_int_equal(run(ctx, NULL), RKNN_ABI_ERR_INPUT_INVALID);
    uint8_t px[3 * 64 * 64];
    for (size_t i = 0; i < sizeof px; i++) px[i] = (uint8_t)(i * 7);
    rknn_in input = {.index = 0, .buf = px, .size = sizeof px - 1, .type = RKNN_ABI_TENSOR_UINT8, .fmt = RKNN_ABI_NHWC};
    assert_int_equal(inputs_set(ctx, 1, &input), RKNN_ABI_ERR_INPUT_INVALID);
    input.size = sizeof px;
    assert_int_equal(inputs_set(ctx, 1, &input), 0);
    assert_int_equal(run(ctx, NULL), 0);

    float full[16 * 64];
    rknn_out o = {.want_float = 1, .is_prealloc = 1, .buf = full, .size = sizeof full - 4};
    assert_int_equal(outputs_get(ctx, 1, &o, NULL), RKNN_ABI_ERR_OUTPUT_INVALID);
    o.size = sizeof full;
    assert_int_equal(outputs_get(ctx, 1, &o, NULL), 0);
    /* FP16 output, allocated by the runtime, is the float output rounded */
    rknn_out h = {.want_float = 0, .is_prealloc = 0};
    assert_int_equal(outputs_get(ctx, 1, &h, NULL), 0);
    assert_int_equal(h.size, 16 * 64 * 2);
    const uint16_t *half = h.buf;
    for (int i = 0; i < 16 * 64; i++) {
        uint16_t b = half[i];
        int e = (b >> 10) & 31;
        float m = (float)(b & 1023);
        float v = e ? ldexpf(1.0f + m / 1024.0f, e - 15) : ldexpf(m, -24);
        if (b & 0x8000) v = -v;
        assert_true(fabsf(v - full[i]) <= fabsf(full[i]) / 2048.0f + 1e-7f);
    }
    assert_int_equal(release(ctx, 1, &h), 0);
    assert_null(h.buf);

    assert_int_equal(destroy(ctx), 0);
    assert_int_equal(destroy(ctx), RKNN_ABI_ERR_CTX_INVALID);
    dlclose(dl);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_single_matches_cpu), cmocka_unit_test(test_sharded_pipeline),
        cmocka_unit_test(test_refusals),           cmocka_unit_test(test_manifest_normalisation),
        cmocka_unit_test(test_emulator_abi),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
