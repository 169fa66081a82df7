/* The C ABI of Rockchip's librkllmrt.so, written from the facts of the public
 * rkllm.h of airockchip/rknn-llm, for the two families in use:
 *   1.2.x (1.2.1 .. 1.2.3): the result callback goes straight to rkllm_init,
 *         the image tags live in the init parameters, multimodal input is flat;
 *   1.3.x (1.3.0): callbacks come in a struct, a run carries its own sampling
 *         parameters and max_new_tokens, multimodal input has image and video
 *         sub-structs, the init parameters gain ignore_eos_token.
 * Type names are ours (rk12_* / rk13_* / rkllm_*), the layouts the vendor's.
 * Field order and sizes are load-bearing: a swapped pair of fields silently
 * corrupts a run (seed 002, RKLLMPromptCacheParam), so every struct is pinned
 * below for LP64 (aarch64, x86-64) and ILP32 (armhf) by static assertions. */
#ifndef RK_RKLLM_ABI_H
#define RK_RKLLM_ABI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef void *rkllm_handle_t;

/* LLMCallState */
enum {
    RKLLM_ABI_RUN_NORMAL = 0,
    RKLLM_ABI_RUN_WAITING = 1, /* the piece ends inside a UTF-8 character */
    RKLLM_ABI_RUN_FINISH = 2,
    RKLLM_ABI_RUN_ERROR = 3,
};

/* RKLLMInputType */
enum {
    RKLLM_ABI_INPUT_PROMPT = 0,
    RKLLM_ABI_INPUT_TOKEN = 1,
    RKLLM_ABI_INPUT_EMBED = 2,
    RKLLM_ABI_INPUT_MULTIMODAL = 3,
};

/* RKLLMInferMode */
enum {
    RKLLM_ABI_INFER_GENERATE = 0,
    RKLLM_ABI_INFER_GET_LAST_HIDDEN_LAYER = 1,
    RKLLM_ABI_INFER_GET_LOGITS = 2,
};

/* The vendor's enums are C enums: int-sized on every target in question. */
typedef int32_t rkllm_enum_t;

/* ---- shared by both families ------------------------------------------ */

typedef struct { /* RKLLMExtendParam */
    int32_t base_domain_id;
    int8_t embed_flash;
    int8_t enabled_cpus_num;
    uint32_t enabled_cpus_mask;
    uint8_t n_batch;
    int8_t use_cross_attn;
    uint8_t reserved[104];
} rkllm_extend_param;

typedef struct { /* RKLLMLoraAdapter */
    const char *lora_adapter_path;
    const char *lora_adapter_name;
    float scale;
} rkllm_lora_adapter;

typedef struct { /* RKLLMEmbedInput */
    float *embed;
    size_t n_tokens;
} rkllm_embed_input;

typedef struct { /* RKLLMTokenInput */
    int32_t *input_ids;
    size_t n_tokens;
} rkllm_token_input;

typedef struct { /* RKLLMLoraParam */
    const char *lora_adapter_name;
} rkllm_lora_param;

typedef struct { /* RKLLMPromptCacheParam: the flag comes first */
    int save_prompt_cache;
    const char *prompt_cache_path;
} rkllm_prompt_cache_param;

typedef struct { /* RKLLMCrossAttnParam */
    float *encoder_k_cache;
    float *encoder_v_cache;
    float *encoder_mask;
    int32_t *encoder_pos;
    int num_tokens;
} rkllm_cross_attn_param;

typedef struct { /* RKLLMResultLastHiddenLayer */
    const float *hidden_states;
    int embd_size;
    int num_tokens;
} rkllm_result_hidden;

typedef struct { /* RKLLMResultLogits */
    const float *logits;
    int vocab_size;
    int num_tokens;
} rkllm_result_logits;

typedef struct { /* RKLLMPerfStat */
    float prefill_time_ms;
    int prefill_tokens;
    float generate_time_ms;
    int generate_tokens;
    float memory_usage_mb;
} rkllm_perf_stat;

typedef struct { /* RKLLMResult */
    const char *text;
    int32_t token_id;
    rkllm_result_hidden last_hidden_layer;
    rkllm_result_logits logits;
    rkllm_perf_stat perf;
} rkllm_result;

/* LLMResultCallback: 0 continue, 1 pause (1.3 also: 2 release the buffer) */
typedef int (*rkllm_result_cb)(rkllm_result *result, void *userdata, rkllm_enum_t state);

/* ---- 1.2.x ------------------------------------------------------------- */

typedef struct { /* RKLLMParam, 1.2.x */
    const char *model_path;
    int32_t max_context_len;
    int32_t max_new_tokens;
    int32_t top_k;
    int32_t n_keep;
    float top_p;
    float temperature;
    float repeat_penalty;
    float frequency_penalty;
    float presence_penalty;
    int32_t mirostat;
    float mirostat_tau;
    float mirostat_eta;
    bool skip_special_token;
    bool is_async;
    const char *img_start;
    const char *img_end;
    const char *img_content;
    rkllm_extend_param extend_param;
} rk12_param;

typedef struct { /* RKLLMMultiModalInput, 1.2.x */
    char *prompt;
    float *image_embed; /* n_image * n_image_tokens * n_embd */
    size_t n_image_tokens;
    size_t n_image;
    size_t image_width;
    size_t image_height;
} rk12_multimodal_input;

typedef struct { /* RKLLMInput, 1.2.x */
    const char *role;
    bool enable_thinking;
    rkllm_enum_t input_type;
    union {
        const char *prompt_input;
        rkllm_embed_input embed_input;
        rkllm_token_input token_input;
        rk12_multimodal_input multimodal_input;
    } u;
} rk12_input;

typedef struct { /* RKLLMInferParam, 1.2.x */
    rkllm_enum_t mode;
    rkllm_lora_param *lora_params;
    rkllm_prompt_cache_param *prompt_cache_params;
    int keep_history;
} rk12_infer_param;

typedef int (*rk12_init_fn)(rkllm_handle_t *handle, rk12_param *param, rkllm_result_cb callback);
typedef rk12_param (*rk12_default_param_fn)(void);
typedef int (*rk12_run_fn)(rkllm_handle_t handle, rk12_input *input, rk12_infer_param *infer, void *userdata);

/* ---- 1.3.x ------------------------------------------------------------- */

/* LLMTokenizerCallback / LLMGetEmbedCallback: for models converted without
 * their own tokenizer or embedding table. */
typedef int (*rk13_tokenizer_cb)(void *userdata, const char *text, int32_t text_len, int32_t *tokens,
                                 int32_t n_tokens_max);
typedef int (*rk13_embed_cb)(void *userdata, int32_t *tokens, uint64_t num_tokens, void *embed, uint64_t len);

typedef struct { /* RKLLMParam, 1.3.x */
    const char *model_path;
    int32_t max_context_len;
    int32_t max_new_tokens;
    int32_t top_k;
    int32_t n_keep;
    float top_p;
    float temperature;
    float repeat_penalty;
    float frequency_penalty;
    float presence_penalty;
    int32_t mirostat;
    float mirostat_tau;
    float mirostat_eta;
    bool skip_special_token;
    bool ignore_eos_token;
    bool is_async;
    rkllm_extend_param extend_param;
} rk13_param;

typedef struct { /* the image part of RKLLMMultiModalInput, 1.3.x */
    float *image_embed;
    size_t n_image_tokens;
    size_t n_image;
    const char *image_start;
    const char *image_end;
    const char *image_content;
    size_t image_width;
    size_t image_height;
} rk13_image_input;

typedef struct { /* the video part */
    float *video_embed;
    size_t n_frame_tokens;
    size_t n_frame_per_video;
    size_t n_video;
    const char *video_start;
    const char *video_end;
    const char *video_content;
    size_t frame_width;
    size_t frame_height;
} rk13_video_input;

typedef struct { /* RKLLMMultiModalInput, 1.3.x */
    char *prompt;
    rk13_image_input image;
    rk13_video_input video;
} rk13_multimodal_input;

typedef struct { /* RKLLMInput, 1.3.x */
    const char *role;
    bool enable_thinking;
    rkllm_enum_t input_type;
    union {
        const char *prompt_input;
        rkllm_embed_input embed_input;
        rkllm_token_input token_input;
        rk13_multimodal_input multimodal_input;
    } u;
} rk13_input;

typedef struct { /* RKLLMSamplingParam */
    int32_t top_k;
    float top_p;
    float temperature;
    float repeat_penalty;
    float frequency_penalty;
    float presence_penalty;
    int32_t mirostat;
    float mirostat_tau;
    float mirostat_eta;
} rk13_sampling_param;

typedef struct { /* RKLLMInferParam, 1.3.x */
    rkllm_enum_t mode;
    rkllm_lora_param *lora_params;
    rkllm_prompt_cache_param *prompt_cache_params;
    rk13_sampling_param *sampling_params; /* NULL: the init values */
    int keep_history;
    int32_t max_new_tokens;               /* <= 0: the init value */
} rk13_infer_param;

typedef struct { /* RKLLMCallback */
    rkllm_result_cb result_callback;
    void *result_userdata;
    rk13_tokenizer_cb tokenizer_callback;
    void *tokenizer_userdata;
    rk13_embed_cb embed_callback;
    void *embed_userdata;
} rk13_callback;

typedef int (*rk13_init_fn)(rkllm_handle_t *handle, rk13_param *param, rk13_callback *callback);
typedef rk13_param (*rk13_default_param_fn)(void);
typedef int (*rk13_run_fn)(rkllm_handle_t handle, rk13_input *input, rk13_infer_param *infer, void *userdata);

/* ---- the same in both --------------------------------------------------- */

typedef int (*rkllm_handle_fn)(rkllm_handle_t handle); /* destroy, abort, is_running, release_prompt_cache */
typedef int (*rkllm_load_lora_fn)(rkllm_handle_t handle, rkllm_lora_adapter *adapter);
typedef int (*rkllm_load_prompt_cache_fn)(rkllm_handle_t handle, const char *path);
typedef int (*rkllm_clear_kv_cache_fn)(rkllm_handle_t handle, int keep_system_prompt, int *start_pos, int *end_pos);
typedef int (*rkllm_get_kv_cache_size_fn)(rkllm_handle_t handle, int *cache_sizes);
typedef int (*rkllm_set_chat_template_fn)(rkllm_handle_t handle, const char *system_prompt, const char *prefix,
                                          const char *postfix);
typedef int (*rkllm_set_function_tools_fn)(rkllm_handle_t handle, const char *system_prompt, const char *tools,
                                           const char *tool_response_str);
typedef int (*rkllm_set_cross_attn_fn)(rkllm_handle_t handle, rkllm_cross_attn_param *params);

/* ---- layouts ------------------------------------------------------------ */

#define RKLLM_ABI_PIN(type, field, lp64, ilp32) \
    _Static_assert(offsetof(type, field) == (sizeof(void *) == 8 ? (lp64) : (ilp32)), #type "." #field)
#define RKLLM_ABI_SIZE(type, lp64, ilp32) \
    _Static_assert(sizeof(type) == (sizeof(void *) == 8 ? (lp64) : (ilp32)), "sizeof " #type)

_Static_assert(sizeof(void *) == 8 || sizeof(void *) == 4, "LP64 or ILP32 only");
_Static_assert(sizeof(size_t) == sizeof(void *) && sizeof(bool) == 1 && sizeof(int) == 4, "data model");

RKLLM_ABI_PIN(rkllm_extend_param, base_domain_id, 0, 0);
RKLLM_ABI_PIN(rkllm_extend_param, embed_flash, 4, 4);
RKLLM_ABI_PIN(rkllm_extend_param, enabled_cpus_num, 5, 5);
RKLLM_ABI_PIN(rkllm_extend_param, enabled_cpus_mask, 8, 8);
RKLLM_ABI_PIN(rkllm_extend_param, n_batch, 12, 12);
RKLLM_ABI_PIN(rkllm_extend_param, use_cross_attn, 13, 13);
RKLLM_ABI_PIN(rkllm_extend_param, reserved, 14, 14);
RKLLM_ABI_SIZE(rkllm_extend_param, 120, 120);

RKLLM_ABI_PIN(rkllm_lora_adapter, lora_adapter_name, 8, 4);
RKLLM_ABI_PIN(rkllm_lora_adapter, scale, 16, 8);
RKLLM_ABI_SIZE(rkllm_lora_adapter, 24, 12);
RKLLM_ABI_PIN(rkllm_embed_input, n_tokens, 8, 4);
RKLLM_ABI_SIZE(rkllm_embed_input, 16, 8);
RKLLM_ABI_PIN(rkllm_token_input, n_tokens, 8, 4);
RKLLM_ABI_SIZE(rkllm_token_input, 16, 8);
RKLLM_ABI_SIZE(rkllm_lora_param, 8, 4);
RKLLM_ABI_PIN(rkllm_prompt_cache_param, save_prompt_cache, 0, 0);
RKLLM_ABI_PIN(rkllm_prompt_cache_param, prompt_cache_path, 8, 4);
RKLLM_ABI_SIZE(rkllm_prompt_cache_param, 16, 8);
RKLLM_ABI_PIN(rkllm_cross_attn_param, encoder_pos, 24, 12);
RKLLM_ABI_PIN(rkllm_cross_attn_param, num_tokens, 32, 16);
RKLLM_ABI_SIZE(rkllm_cross_attn_param, 40, 20);
RKLLM_ABI_PIN(rkllm_result_hidden, embd_size, 8, 4);
RKLLM_ABI_PIN(rkllm_result_hidden, num_tokens, 12, 8);
RKLLM_ABI_SIZE(rkllm_result_hidden, 16, 12);
RKLLM_ABI_SIZE(rkllm_result_logits, 16, 12);
RKLLM_ABI_PIN(rkllm_perf_stat, prefill_tokens, 4, 4);
RKLLM_ABI_PIN(rkllm_perf_stat, generate_time_ms, 8, 8);
RKLLM_ABI_PIN(rkllm_perf_stat, generate_tokens, 12, 12);
RKLLM_ABI_PIN(rkllm_perf_stat, memory_usage_mb, 16, 16);
RKLLM_ABI_SIZE(rkllm_perf_stat, 20, 20);
RKLLM_ABI_PIN(rkllm_result, token_id, 8, 4);
RKLLM_ABI_PIN(rkllm_result, last_hidden_layer, 16, 8);
RKLLM_ABI_PIN(rkllm_result, logits, 32, 20);
RKLLM_ABI_PIN(rkllm_result, perf, 48, 32);
RKLLM_ABI_SIZE(rkllm_result, 72, 52);

RKLLM_ABI_PIN(rk12_param, max_context_len, 8, 4);
RKLLM_ABI_PIN(rk12_param, max_new_tokens, 12, 8);
RKLLM_ABI_PIN(rk12_param, top_k, 16, 12);
RKLLM_ABI_PIN(rk12_param, n_keep, 20, 16);
RKLLM_ABI_PIN(rk12_param, top_p, 24, 20);
RKLLM_ABI_PIN(rk12_param, temperature, 28, 24);
RKLLM_ABI_PIN(rk12_param, repeat_penalty, 32, 28);
RKLLM_ABI_PIN(rk12_param, frequency_penalty, 36, 32);
RKLLM_ABI_PIN(rk12_param, presence_penalty, 40, 36);
RKLLM_ABI_PIN(rk12_param, mirostat, 44, 40);
RKLLM_ABI_PIN(rk12_param, mirostat_tau, 48, 44);
RKLLM_ABI_PIN(rk12_param, mirostat_eta, 52, 48);
RKLLM_ABI_PIN(rk12_param, skip_special_token, 56, 52);
RKLLM_ABI_PIN(rk12_param, is_async, 57, 53);
RKLLM_ABI_PIN(rk12_param, img_start, 64, 56);
RKLLM_ABI_PIN(rk12_param, img_end, 72, 60);
RKLLM_ABI_PIN(rk12_param, img_content, 80, 64);
RKLLM_ABI_PIN(rk12_param, extend_param, 88, 68);
RKLLM_ABI_SIZE(rk12_param, 208, 188);
RKLLM_ABI_PIN(rk12_multimodal_input, image_embed, 8, 4);
RKLLM_ABI_PIN(rk12_multimodal_input, n_image_tokens, 16, 8);
RKLLM_ABI_PIN(rk12_multimodal_input, n_image, 24, 12);
RKLLM_ABI_PIN(rk12_multimodal_input, image_width, 32, 16);
RKLLM_ABI_PIN(rk12_multimodal_input, image_height, 40, 20);
RKLLM_ABI_SIZE(rk12_multimodal_input, 48, 24);
RKLLM_ABI_PIN(rk12_input, enable_thinking, 8, 4);
RKLLM_ABI_PIN(rk12_input, input_type, 12, 8);
RKLLM_ABI_PIN(rk12_input, u, 16, 12);
RKLLM_ABI_SIZE(rk12_input, 64, 36);
RKLLM_ABI_PIN(rk12_infer_param, lora_params, 8, 4);
RKLLM_ABI_PIN(rk12_infer_param, prompt_cache_params, 16, 8);
RKLLM_ABI_PIN(rk12_infer_param, keep_history, 24, 12);
RKLLM_ABI_SIZE(rk12_infer_param, 32, 16);

RKLLM_ABI_PIN(rk13_param, mirostat_eta, 52, 48);
RKLLM_ABI_PIN(rk13_param, skip_special_token, 56, 52);
RKLLM_ABI_PIN(rk13_param, ignore_eos_token, 57, 53);
RKLLM_ABI_PIN(rk13_param, is_async, 58, 54);
RKLLM_ABI_PIN(rk13_param, extend_param, 60, 56);
RKLLM_ABI_SIZE(rk13_param, 184, 176);
RKLLM_ABI_PIN(rk13_image_input, n_image_tokens, 8, 4);
RKLLM_ABI_PIN(rk13_image_input, n_image, 16, 8);
RKLLM_ABI_PIN(rk13_image_input, image_start, 24, 12);
RKLLM_ABI_PIN(rk13_image_input, image_end, 32, 16);
RKLLM_ABI_PIN(rk13_image_input, image_content, 40, 20);
RKLLM_ABI_PIN(rk13_image_input, image_width, 48, 24);
RKLLM_ABI_PIN(rk13_image_input, image_height, 56, 28);
RKLLM_ABI_SIZE(rk13_image_input, 64, 32);
RKLLM_ABI_PIN(rk13_video_input, n_video, 24, 12);
RKLLM_ABI_PIN(rk13_video_input, video_content, 48, 24);
RKLLM_ABI_PIN(rk13_video_input, frame_height, 64, 32);
RKLLM_ABI_SIZE(rk13_video_input, 72, 36);
RKLLM_ABI_PIN(rk13_multimodal_input, image, 8, 4);
RKLLM_ABI_PIN(rk13_multimodal_input, video, 72, 36);
RKLLM_ABI_SIZE(rk13_multimodal_input, 144, 72);
RKLLM_ABI_PIN(rk13_input, input_type, 12, 8);
RKLLM_ABI_PIN(rk13_input, u, 16, 12);
RKLLM_ABI_SIZE(rk13_input, 160, 84);
RKLLM_ABI_PIN(rk13_sampling_param, top_p, 4, 4);
RKLLM_ABI_PIN(rk13_sampling_param, mirostat_eta, 32, 32);
RKLLM_ABI_SIZE(rk13_sampling_param, 36, 36);
RKLLM_ABI_PIN(rk13_infer_param, lora_params, 8, 4);
RKLLM_ABI_PIN(rk13_infer_param, prompt_cache_params, 16, 8);
RKLLM_ABI_PIN(rk13_infer_param, sampling_params, 24, 12);
RKLLM_ABI_PIN(rk13_infer_param, keep_history, 32, 16);
RKLLM_ABI_PIN(rk13_infer_param, max_new_tokens, 36, 20);
RKLLM_ABI_SIZE(rk13_infer_param, 40, 24);
RKLLM_ABI_PIN(rk13_callback, result_userdata, 8, 4);
RKLLM_ABI_PIN(rk13_callback, tokenizer_callback, 16, 8);
RKLLM_ABI_PIN(rk13_callback, embed_userdata, 40, 20);
RKLLM_ABI_SIZE(rk13_callback, 48, 24);

#endif
