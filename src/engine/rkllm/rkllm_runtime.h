/* librkllmrt.so loaded at run time, its ABI family detected, and calls in
 * one ABI-neutral form: the engine fills rkllm_init_req / rkllm_run_req and
 * this layer lays them out the way the loaded library expects. */
#ifndef RK_RKLLM_RUNTIME_H
#define RK_RKLLM_RUNTIME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/rkllm/rkllm_abi.h"

typedef enum { RKLLM_FAMILY_1_2 = 12, RKLLM_FAMILY_1_3 = 13 } rkllm_family;

typedef struct rkllm_runtime rkllm_runtime;

typedef struct {
    int32_t top_k;
    float top_p, temperature, repeat_penalty, frequency_penalty, presence_penalty;
} rkllm_sampling;

typedef struct {
    const char *model_path;
    int32_t max_context_len;
    int32_t max_new_tokens;
    int32_t n_keep;
    rkllm_sampling sampling;
    bool skip_special_token;
    bool ignore_eos_token;            /* 1.3 only */
    const char *img_start, *img_end, *img_content; /* 1.2: in the init parameters */
    int32_t base_domain_id;
    int8_t embed_flash;
    int8_t enabled_cpus_num;
    uint32_t enabled_cpus_mask;
    uint8_t n_batch;
} rkllm_init_req;

typedef struct {
    int mode;                          /* RKLLM_ABI_INFER_* */
    int input_type;                    /* RKLLM_ABI_INPUT_* */
    const char *role;                  /* "user" or "tool" */
    bool enable_thinking;
    const char *prompt;                /* PROMPT and MULTIMODAL */
    const int32_t *tokens;             /* TOKEN */
    size_t n_tokens;
    const float *image_embed;          /* MULTIMODAL: n_image x n_image_tokens x n_embd */
    size_t n_image_tokens, n_image, image_width, image_height;
    const char *img_start, *img_end, *img_content; /* 1.3: per run */
    int keep_history;
    const char *save_prompt_cache;     /* non-NULL: save the prompt's cache there */
    const char *lora_name;
    const rkllm_sampling *sampling;    /* 1.3: per run; NULL keeps the init values */
    int32_t max_new_tokens;            /* 1.3: per run; <= 0 keeps the init value */
} rkllm_run_req;

/* Opens the library: path, else $RKLLM_LIB, else "librkllmrt.so" from the
 * usual library paths. The family comes from $RKLLM_ABI (1.2 or 1.3) or the
 * library's version string. NULL with a message that names the fix. */
rkllm_runtime *rkllm_runtime_open(const char *path, char *err, size_t errlen);
void rkllm_runtime_close(rkllm_runtime *rt);
rkllm_family rkllm_runtime_family(const rkllm_runtime *rt);
const char *rkllm_runtime_version(const rkllm_runtime *rt); /* "1.2.3", or "" when forced by RKLLM_ABI */
const char *rkllm_runtime_path(const rkllm_runtime *rt);

/* Finds "X.Y.Z" after "rkllm-runtime version" in a library file, else a
 * lone "1.N.M" string; false when there is none or they disagree. */
bool rkllm_scan_version(const char *lib_path, char *out, size_t cap);
/* The family of a version string; 0 for versions this code cannot drive. */
int rkllm_family_of_version(const char *version);

int rkllm_rt_init(rkllm_runtime *rt, rkllm_handle_t *h, const rkllm_init_req *req, rkllm_result_cb cb);
int rkllm_rt_run(rkllm_runtime *rt, rkllm_handle_t h, const rkllm_run_req *req, void *userdata);
int rkllm_rt_destroy(rkllm_runtime *rt, rkllm_handle_t h);
int rkllm_rt_abort(rkllm_runtime *rt, rkllm_handle_t h);
int rkllm_rt_clear_kv_cache(rkllm_runtime *rt, rkllm_handle_t h, bool keep_system_prompt);
int rkllm_rt_set_chat_template(rkllm_runtime *rt, rkllm_handle_t h, const char *system, const char *prefix,
                               const char *postfix);
int rkllm_rt_set_function_tools(rkllm_runtime *rt, rkllm_handle_t h, const char *system, const char *tools,
                                const char *tool_response_str);
int rkllm_rt_load_lora(rkllm_runtime *rt, rkllm_handle_t h, const char *path, const char *name, float scale);
int rkllm_rt_load_prompt_cache(rkllm_runtime *rt, rkllm_handle_t h, const char *path);
int rkllm_rt_release_prompt_cache(rkllm_runtime *rt, rkllm_handle_t h);

#endif
