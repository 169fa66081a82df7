/* A program written against the vendor RKLLM 1.3 API, linked straight to
 * the emulator as a user's application would be on a PC: init, chat
 * template, a streamed run with keep_history, a second turn, perf stats,
 * abort-free destroy. Exits non-zero on any deviation. */
#include <stdio.h>
#include <string.h>

#include "engine/rkllm/rkllm_abi.h"

rk13_param rkllm_createDefaultParam(void);
int rkllm_init(rkllm_handle_t *handle, rk13_param *param, rk13_callback *callback);
int rkllm_run(rkllm_handle_t handle, rk13_input *input, rk13_infer_param *infer, void *userdata);
int rkllm_set_chat_template(rkllm_handle_t handle, const char *system, const char *prefix, const char *postfix);
int rkllm_get_kv_cache_size(rkllm_handle_t handle, int *sizes);
int rkllm_clear_kv_cache(rkllm_handle_t handle, int keep_system_prompt, int *start, int *end);
int rkllm_destroy(rkllm_handle_t handle);

typedef struct {
    char text[4096];
    int normal, waiting, finish, error;
    rkllm_perf_stat perf;
} out_t;

static int on_result(rkllm_result *r, void *userdata, rkllm_enum_t state)
{
    out_t *o = userdata;
    if (state == RKLLM_ABI_RUN_FINISH) {
        o->finish++;
        o->perf = r->perf;
    } else if (state == RKLLM_ABI_RUN_ERROR) {
        o->error++;
    } else if (state == RKLLM_ABI_RUN_WAITING) {
        o->waiting++;
    } else {
        o->normal++;
        strncat(o->text, r->text, sizeof o->text - strlen(o->text) - 1);
    }
    return 0;
}

#define CHECK(c)                                                 \
    do {                                                         \
        if (!(c)) {                                              \
            fprintf(stderr, "vendor_demo: failed: %s\n", #c);    \
            return 1;                                            \
        }                                                        \
    } while (0)

int main(int argc, char **argv)
{
    if (argc < 2) return 2;
    rk13_param param = rkllm_createDefaultParam();
    param.model_path = argv[1];
    param.max_context_len = 256;
    param.max_new_tokens = 8;
    param.top_k = 1;
    param.temperature = 0;
    param.repeat_penalty = 1;
    param.skip_special_token = true;
    param.extend_param.enabled_cpus_num = 1;
    out_t o;
    memset(&o, 0, sizeof o);
    rk13_callback cb = {.result_callback = on_result, .result_userdata = &o};
    rkllm_handle_t h = NULL;
    CHECK(rkllm_init(&h, &param, &cb) == 0 && h);
    CHECK(rkllm_set_chat_template(h, "You are terse.", "<|im_start|>user\n", "<|im_end|>\n<|im_start|>assistant\n") == 0);

    rk13_input in;
    memset(&in, 0, sizeof in);
    in.role = "user";
    in.input_type = RKLLM_ABI_INPUT_PROMPT;
    in.u.prompt_input = "Hello there";
    rk13_infer_param ip;
    memset(&ip, 0, sizeof ip);
    ip.mode = RKLLM_ABI_INFER_GENERATE;
    ip.keep_history = 1;
    CHECK(rkllm_run(h, &in, &ip, NULL) == 0); /* NULL: result_userdata is used */
    CHECK(o.finish == 1 && o.error == 0);
    CHECK(o.normal + o.waiting == o.perf.generate_tokens);
    CHECK(o.perf.prefill_tokens > 0 && o.perf.generate_tokens > 0 && o.perf.generate_tokens <= 8);
    CHECK(o.perf.memory_usage_mb > 0);
    int kept = 0;
    CHECK(rkllm_get_kv_cache_size(h, &kept) == 0);
    CHECK(kept == o.perf.prefill_tokens + o.perf.generate_tokens);
    int first_prefill = o.perf.prefill_tokens;
    printf("turn 1: %s\n", o.text);

    /* second turn: the kept history is not prefilled again */
    memset(&o, 0, sizeof o);
    in.u.prompt_input = "And again";
    CHECK(rkllm_run(h, &in, &ip, &o) == 0);
    CHECK(o.finish == 1 && o.perf.prefill_tokens > 0 && o.perf.prefill_tokens < first_prefill + 8);
    printf("turn 2: %s\n", o.text);

    /* per-run max_new_tokens (1.3) */
    CHECK(rkllm_clear_kv_cache(h, 0, NULL, NULL) == 0);
    memset(&o, 0, sizeof o);
    ip.max_new_tokens = 2;
    ip.keep_history = 0;
    CHECK(rkllm_run(h, &in, &ip, &o) == 0);
    CHECK(o.perf.generate_tokens <= 2);
    CHECK(rkllm_get_kv_cache_size(h, &kept) == 0 && kept == 0);

    /* embedding input is refused with an error state, not a crash */
    memset(&o, 0, sizeof o);
    in.input_type = RKLLM_ABI_INPUT_EMBED;
    CHECK(rkllm_run(h, &in, &ip, &o) != 0 && o.error == 1);
    CHECK(rkllm_destroy(h) == 0);
    return 0;
}
