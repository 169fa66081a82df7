#include "engine/rkllm/rkllm_runtime.h"

#include <ctype.h>
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct rkllm_runtime {
    void *dl;
    rkllm_family family;
    char version[32];
    char path[1024];
    void *init, *run, *default_param;
    rkllm_handle_fn destroy, abort_run, release_prompt_cache;
    rkllm_load_lora_fn load_lora;
    rkllm_load_prompt_cache_fn load_prompt_cache;
    rkllm_clear_kv_cache_fn clear_kv_cache;
    rkllm_set_chat_template_fn set_chat_template;
    rkllm_set_function_tools_fn set_function_tools;
};

#define FIX_HINT "install Rockchip's librkllmrt.so (rknn-llm release 1.2.1 or later), or point --rkllm-lib / RKLLM_LIB at it (on a PC: the emulator, docs/EMULATOR.md)"

/* ---- version detection ---------------------------------------------------- */

static bool parse_version(const char *s, size_t n, char *out, size_t cap)
{
    size_t i = 0;
    int dots = 0;
    while (i < n && (isdigit((unsigned char)s[i]) || (s[i] == '.' && i > 0 && s[i - 1] != '.'))) {
        if (s[i] == '.') dots++;
        i++;
    }
    if (dots < 2 || s[i - 1] == '.' || i + 1 > cap) return false;
    memcpy(out, s, i);
    out[i] = 0;
    return true;
}

static const char *find_bytes(const char *hay, size_t n, const char *needle)
{
    size_t k = strlen(needle);
    for (size_t i = 0; i + k <= n; i++)
        if (hay[i] == needle[0] && memcmp(hay + i, needle, k) == 0) return hay + i;
    return NULL;
}

bool rkllm_scan_version(const char *lib_path, char *out, size_t cap)
{
    FILE *f = fopen(lib_path, "rb");
    if (!f) return false;
    if (fseek(f, 0, SEEK_END) != 0) {
        fclose(f);
        return false;
    }
    long size = ftell(f);
    rewind(f);
    if (size <= 0 || size > (1L << 30)) {
        fclose(f);
        return false;
    }
    char *buf = malloc((size_t)size + 1);
    if (!buf || fread(buf, 1, (size_t)size, f) != (size_t)size) {
        free(buf);
        fclose(f);
        return false;
    }
    fclose(f);
    buf[size] = 0;
    bool found = false;
    /* The runtime logs "rkllm-runtime version: X.Y.Z, ..." at init. */
    const char *key = "rkllm-runtime version";
    for (const char *p = buf; !found && (p = find_bytes(p, (size_t)(buf + size - p), key)) != NULL; p++) {
        const char *v = p + strlen(key);
        while (v < buf + size && (*v == ':' || *v == ' ')) v++;
        found = parse_version(v, (size_t)(buf + size - v), out, cap);
    }
    /* Else a lone NUL-terminated "1.N.M" string that the format uses. */
    for (long i = 0; !found && i + 5 < size; i++) {
        if (buf[i] != '1' || buf[i + 1] != '.' || (i > 0 && buf[i - 1] != 0)) continue;
        char v[32];
        size_t len = strnlen(buf + i, 32);
        if (len >= 32 || !parse_version(buf + i, len, v, sizeof v) || strlen(v) != len) continue;
        if (!rkllm_family_of_version(v)) continue;
        snprintf(out, cap, "%s", v);
        found = true;
    }
    free(buf);
    return found;
}

int rkllm_family_of_version(const char *v)
{
    int major = 0, minor = 0, patch = 0;
    if (sscanf(v, "%d.%d.%d", &major, &minor, &patch) != 3 || major != 1) return 0;
    if (minor == 2 && patch >= 1) return RKLLM_FAMILY_1_2;
    if (minor == 3) return RKLLM_FAMILY_1_3;
    return 0;
}

/* ---- loading --------------------------------------------------------------- */

static void *sym(rkllm_runtime *rt, const char *name, bool required, const char **missing)
{
    void *p = dlsym(rt->dl, name);
    if (!p && required && !*missing) *missing = name;
    return p;
}

rkllm_runtime *rkllm_runtime_open(const char *path, char *err, size_t errlen)
{
    if (!path || !*path) path = getenv("RKLLM_LIB");
    if (!path || !*path) path = "librkllmrt.so";
    rkllm_runtime *rt = calloc(1, sizeof *rt);
    if (!rt) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    rt->dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!rt->dl) {
        snprintf(err, errlen, "cannot load the RKLLM runtime %s (%s): %s", path, dlerror(), FIX_HINT);
        free(rt);
        return NULL;
    }
    const char *missing = NULL;
    rt->init = sym(rt, "rkllm_init", true, &missing);
    rt->run = sym(rt, "rkllm_run", true, &missing);
    rt->default_param = sym(rt, "rkllm_createDefaultParam", true, &missing);
    rt->destroy = (rkllm_handle_fn)sym(rt, "rkllm_destroy", true, &missing);
    rt->abort_run = (rkllm_handle_fn)sym(rt, "rkllm_abort", true, &missing);
    rt->clear_kv_cache = (rkllm_clear_kv_cache_fn)sym(rt, "rkllm_clear_kv_cache", true, &missing);
    rt->set_chat_template = (rkllm_set_chat_template_fn)sym(rt, "rkllm_set_chat_template", true, &missing);
    rt->load_prompt_cache = (rkllm_load_prompt_cache_fn)sym(rt, "rkllm_load_prompt_cache", true, &missing);
    rt->release_prompt_cache = (rkllm_handle_fn)sym(rt, "rkllm_release_prompt_cache", true, &missing);
    rt->load_lora = (rkllm_load_lora_fn)sym(rt, "rkllm_load_lora", true, &missing);
    /* Present from 1.2.1 on: its absence marks a runtime older than both families. */
    rt->set_function_tools = (rkllm_set_function_tools_fn)sym(rt, "rkllm_set_function_tools", true, &missing);
    Dl_info info;
    const char *file = path;
    if (rt->init && dladdr(rt->init, &info) && info.dli_fname) file = info.dli_fname;
    snprintf(rt->path, sizeof rt->path, "%s", file);
    if (missing) {
        snprintf(err, errlen, "the RKLLM runtime %s lacks %s (older than 1.2.1, or not librkllmrt): %s", rt->path,
                 missing, FIX_HINT);
        goto fail;
    }

    const char *forced = getenv("RKLLM_ABI");
    if (forced && *forced) {
        if (strcmp(forced, "1.2") == 0) rt->family = RKLLM_FAMILY_1_2;
        else if (strcmp(forced, "1.3") == 0) rt->family = RKLLM_FAMILY_1_3;
        else {
            snprintf(err, errlen, "RKLLM_ABI=%s is not an ABI this build knows: set 1.2 or 1.3", forced);
            goto fail;
        }
        return rt;
    }
    if (!rkllm_scan_version(rt->path, rt->version, sizeof rt->version)) {
        snprintf(err, errlen,
                 "cannot tell which RKLLM ABI %s implements (no version string in it): set RKLLM_ABI=1.2 or 1.3",
                 rt->path);
        goto fail;
    }
    rt->family = (rkllm_family)rkllm_family_of_version(rt->version);
    if (!rt->family) {
        snprintf(err, errlen,
                 "the RKLLM runtime %s is version %s, which this build cannot drive (1.2.1-1.2.x and 1.3.x): "
                 "install a supported runtime, or set RKLLM_ABI=1.2|1.3 if you know its ABI matches",
                 rt->path, rt->version);
        goto fail;
    }
    return rt;
fail:
    dlclose(rt->dl);
    free(rt);
    return NULL;
}

void rkllm_runtime_close(rkllm_runtime *rt)
{
    if (!rt) return;
    dlclose(rt->dl);
    free(rt);
}

rkllm_family rkllm_runtime_family(const rkllm_runtime *rt) { return rt->family; }
const char *rkllm_runtime_version(const rkllm_runtime *rt) { return rt->version; }
const char *rkllm_runtime_path(const rkllm_runtime *rt) { return rt->path; }

/* ---- calls ------------------------------------------------------------------ */

static void fill_extend(rkllm_extend_param *e, const rkllm_init_req *q)
{
    e->base_domain_id = q->base_domain_id;
    e->embed_flash = q->embed_flash;
    e->enabled_cpus_num = q->enabled_cpus_num;
    e->enabled_cpus_mask = q->enabled_cpus_mask;
    e->n_batch = q->n_batch ? q->n_batch : 1;
    e->use_cross_attn = 0;
}

#define FILL_COMMON(pp, q)                                          \
    do {                                                            \
        (pp)->model_path = (q)->model_path;                         \
        (pp)->max_context_len = (q)->max_context_len;               \
        (pp)->max_new_tokens = (q)->max_new_tokens;                 \
        (pp)->n_keep = (q)->n_keep;                                 \
        (pp)->top_k = (q)->sampling.top_k;                          \
        (pp)->top_p = (q)->sampling.top_p;                          \
        (pp)->temperature = (q)->sampling.temperature;              \
        (pp)->repeat_penalty = (q)->sampling.repeat_penalty;        \
        (pp)->frequency_penalty = (q)->sampling.frequency_penalty;  \
        (pp)->presence_penalty = (q)->sampling.presence_penalty;    \
        (pp)->mirostat = 0;                                         \
        (pp)->skip_special_token = (q)->skip_special_token;         \
        (pp)->is_async = false;                                     \
        fill_extend(&(pp)->extend_param, (q));                      \
    } while (0)

int rkllm_rt_init(rkllm_runtime *rt, rkllm_handle_t *h, const rkllm_init_req *q, rkllm_result_cb cb)
{
    *h = NULL;
    if (rt->family == RKLLM_FAMILY_1_2) {
        rk12_param p = ((rk12_default_param_fn)rt->default_param)();
        FILL_COMMON(&p, q);
        p.img_start = q->img_start;
        p.img_end = q->img_end;
        p.img_content = q->img_content;
        return ((rk12_init_fn)rt->init)(h, &p, cb);
    }
    rk13_param p = ((rk13_default_param_fn)rt->default_param)();
    FILL_COMMON(&p, q);
    p.ignore_eos_token = q->ignore_eos_token;
    rk13_callback c = {.result_callback = cb};
    return ((rk13_init_fn)rt->init)(h, &p, &c);
}

int rkllm_rt_run(rkllm_runtime *rt, rkllm_handle_t h, const rkllm_run_req *q, void *userdata)
{
    rkllm_lora_param lora = {.lora_adapter_name = q->lora_name};
    rkllm_prompt_cache_param cache = {.save_prompt_cache = 1, .prompt_cache_path = q->save_prompt_cache};
    if (rt->family == RKLLM_FAMILY_1_2) {
        rk12_input in = {.role = q->role ? q->role : "user", .enable_thinking = q->enable_thinking,
                         .input_type = q->input_type};
        if (q->input_type == RKLLM_ABI_INPUT_PROMPT) {
            in.u.prompt_input = q->prompt;
        } else if (q->input_type == RKLLM_ABI_INPUT_TOKEN) {
            in.u.token_input.input_ids = (int32_t *)q->tokens;
            in.u.token_input.n_tokens = q->n_tokens;
        } else {
            rk12_multimodal_input *mm = &in.u.multimodal_input;
            mm->prompt = (char *)q->prompt;
            mm->image_embed = (float *)q->image_embed;
            mm->n_image_tokens = q->n_image_tokens;
            mm->n_image = q->n_image;
            mm->image_width = q->image_width;
            mm->image_height = q->image_height;
        }
        rk12_infer_param ip = {.mode = q->mode, .lora_params = q->lora_name ? &lora : NULL,
                               .prompt_cache_params = q->save_prompt_cache ? &cache : NULL,
                               .keep_history = q->keep_history};
        return ((rk12_run_fn)rt->run)(h, &in, &ip, userdata);
    }
    rk13_input in = {.role = q->role ? q->role : "user", .enable_thinking = q->enable_thinking,
                     .input_type = q->input_type};
    if (q->input_type == RKLLM_ABI_INPUT_PROMPT) {
        in.u.prompt_input = q->prompt;
    } else if (q->input_type == RKLLM_ABI_INPUT_TOKEN) {
        in.u.token_input.input_ids = (int32_t *)q->tokens;
        in.u.token_input.n_tokens = q->n_tokens;
    } else {
        rk13_multimodal_input *mm = &in.u.multimodal_input;
        mm->prompt = (char *)q->prompt;
        mm->image.image_embed = (float *)q->image_embed;
        mm->image.n_image_tokens = q->n_image_tokens;
        mm->image.n_image = q->n_image;
        mm->image.image_start = q->img_start;
        mm->image.image_end = q->img_end;
        mm->image.image_content = q->img_content;
        mm->image.image_width = q->image_width;
        mm->image.image_height = q->image_height;
    }
    rk13_sampling_param sp = {0};
    if (q->sampling) {
        sp.top_k = q->sampling->top_k;
        sp.top_p = q->sampling->top_p;
        sp.temperature = q->sampling->temperature;
        sp.repeat_penalty = q->sampling->repeat_penalty;
        sp.frequency_penalty = q->sampling->frequency_penalty;
        sp.presence_penalty = q->sampling->presence_penalty;
    }
    rk13_infer_param ip = {.mode = q->mode, .lora_params = q->lora_name ? &lora : NULL,
                           .prompt_cache_params = q->save_prompt_cache ? &cache : NULL,
                           .sampling_params = q->sampling ? &sp : NULL, .keep_history = q->keep_history,
                           .max_new_tokens = q->max_new_tokens};
    return ((rk13_run_fn)rt->run)(h, &in, &ip, userdata);
}

int rkllm_rt_destroy(rkllm_runtime *rt, rkllm_handle_t h) { return rt->destroy(h); }
int rkllm_rt_abort(rkllm_runtime *rt, rkllm_handle_t h) { return rt->abort_run(h); }

int rkllm_rt_clear_kv_cache(rkllm_runtime *rt, rkllm_handle_t h, bool keep_system_prompt)
{
    return rt->clear_kv_cache(h, keep_system_prompt ? 1 : 0, NULL, NULL);
}

int rkllm_rt_set_chat_template(rkllm_runtime *rt, rkllm_handle_t h, const char *system, const char *prefix,
                               const char *postfix)
{
    return rt->set_chat_template(h, system, prefix, postfix);
}

int rkllm_rt_set_function_tools(rkllm_runtime *rt, rkllm_handle_t h, const char *system, const char *tools,
                                const char *tool_response_str)
{
    return rt->set_function_tools(h, system, tools, tool_response_str);
}

int rkllm_rt_load_lora(rkllm_runtime *rt, rkllm_handle_t h, const char *path, const char *name, float scale)
{
    rkllm_lora_adapter a = {.lora_adapter_path = path, .lora_adapter_name = name, .scale = scale};
    return rt->load_lora(h, &a);
}

int rkllm_rt_load_prompt_cache(rkllm_runtime *rt, rkllm_handle_t h, const char *path)
{
    return rt->load_prompt_cache(h, path);
}

int rkllm_rt_release_prompt_cache(rkllm_runtime *rt, rkllm_handle_t h)
{
    return rt->release_prompt_cache(h);
}
