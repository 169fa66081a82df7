/* Translation of OpenAI and Ollama request bodies into rk_request, and the
 * rendering of chat requests with a model's template or built-in format. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "media/base64.h"
#include "core/chat_format.h"
#include "core/config.h"
#include "core/request.h"

typedef int (*translate_fn)(const json_t *, rk_request *, rk_error *);

/* Translates text; returns the rc and leaves r filled (caller frees). */
static int tr(translate_fn fn, const char *text, rk_request *r, rk_error *e)
{
    json_error_t je;
    json_t *body = json_loads(text, 0, &je);
    if (!body) fail_msg("bad test JSON: %s (%s)", text, je.text);
    request_init(r);
    memset(e, 0, sizeof *e);
    int rc = fn(body, r, e);
    json_decref(body);
    return rc;
}

static void expect_refusal(translate_fn fn, const char *text, const char *param, const char *words)
{
    rk_request r;
    rk_error e;
    int rc = tr(fn, text, &r, &e);
    if (rc != -1) fail_msg("accepted: %s", text);
    assert_int_equal(e.status, 400);
    if (param) {
        assert_non_null(e.param);
        assert_string_equal(e.param, param);
    }
    if (words && !strstr(e.message, words)) fail_msg("'%s' lacks '%s'", e.message, words);
    request_free(&r);
}

static void test_openai_chat(void **state)
{
    (void)state;
    rk_request r;
    rk_error e;
    const char *body =
        "{\"model\": \"m\", \"messages\": ["
        " {\"role\": \"developer\", \"content\": \"be brief\"},"
        " {\"role\": \"user\", \"content\": [{\"type\": \"text\", \"text\": \"a\"}, {\"type\": \"text\", \"text\": \"b\"}]},"
        " {\"role\": \"assistant\", \"content\": null, \"tool_calls\": [{\"id\": \"c1\", \"type\": \"function\","
        "   \"function\": {\"name\": \"f\", \"arguments\": \"{\\\"x\\\": 1}\"}}]},"
        " {\"role\": \"tool\", \"tool_call_id\": \"c1\", \"content\": \"42\"}],"
        " \"temperature\": 0.5, \"top_p\": 0.25, \"seed\": 77, \"stop\": [\"x\", \"yy\"],"
        " \"max_completion_tokens\": 9, \"logit_bias\": {\"5\": -100, \"6\": 2.5},"
        " \"tools\": [{\"type\": \"function\", \"function\": {\"name\": \"f\"}}],"
        " \"chat_template_kwargs\": {\"enable_thinking\": false, \"extra\": 1}, \"top_k\": 7}";
    assert_int_equal(tr(openai_chat_request, body, &r, &e), 0);
    assert_int_equal(r.kind, RK_KIND_CHAT);
    assert_string_equal(r.model, "m");
    assert_int_equal(json_array_size(r.messages), 4);
    json_t *m0 = json_array_get(r.messages, 0), *m1 = json_array_get(r.messages, 1);
    json_t *m2 = json_array_get(r.messages, 2), *m3 = json_array_get(r.messages, 3);
    assert_string_equal(json_string_value(json_object_get(m0, "role")), "system");
    assert_string_equal(json_string_value(json_object_get(m1, "content")), "a\nb");
    assert_string_equal(json_string_value(json_object_get(m2, "content")), "");
    json_t *args = json_object_get(json_object_get(json_array_get(json_object_get(m2, "tool_calls"), 0), "function"),
                                   "arguments");
    assert_true(json_is_object(args)); /* parsed from the string */
    assert_int_equal(json_integer_value(json_object_get(args, "x")), 1);
    assert_string_equal(json_string_value(json_object_get(m3, "tool_call_id")), "c1");
    assert_true(fabsf(r.sampling.temperature - 0.5f) < 1e-6);
    assert_true(fabsf(r.sampling.top_p - 0.25f) < 1e-6);
    assert_int_equal(r.sampling.top_k, 7);
    assert_int_equal(r.sampling.seed, 77);
    assert_true(r.sampling.repeat_penalty == 1.0f); /* OpenAI: no repetition penalty by default */
    assert_int_equal(r.n_stop, 2);
    assert_string_equal(r.stop[1], "yy");
    assert_int_equal(r.max_tokens, 9);
    assert_int_equal(r.sampling.n_logit_bias, 2);
    for (int i = 0; i < 2; i++) {
        if (r.logit_bias[i].token == 5) assert_true(isinf(r.logit_bias[i].bias) && r.logit_bias[i].bias < 0);
        else assert_true(r.logit_bias[i].token == 6 && fabsf(r.logit_bias[i].bias - 2.5f) < 1e-6);
    }
    assert_int_equal(json_array_size(r.tools), 1);
    assert_int_equal(r.enable_thinking, 0);
    assert_int_equal(r.format, RK_FORMAT_TEXT);
    assert_int_equal(json_integer_value(json_object_get(r.template_vars, "extra")), 1);
    assert_false(r.stream);
    request_free(&r);

    assert_int_equal(tr(openai_chat_request,
                        "{\"model\": \"m\", \"messages\": [{\"role\": \"user\", \"content\": \"hi\"}], \"stream\": true,"
                        " \"reasoning_effort\": \"none\", \"tool_choice\": \"none\","
                        " \"tools\": [{\"type\": \"function\", \"function\": {\"name\": \"f\"}}]}",
                        &r, &e),
                     0);
    assert_true(r.stream);
    assert_int_equal(r.enable_thinking, 0);
    assert_null(r.tools); /* tool_choice none drops them */
    assert_int_equal(r.max_tokens, -1);
    request_free(&r);

    assert_int_equal(tr(openai_chat_request,
                        "{\"model\": \"m\", \"messages\": [{\"role\": \"user\", \"content\": \"hi\"}],"
                        " \"response_format\": {\"type\": \"json_object\"}}",
                        &r, &e),
                     0);
    assert_int_equal(r.format, RK_FORMAT_JSON);
    request_free(&r);
    assert_int_equal(tr(openai_chat_request,
                        "{\"model\": \"m\", \"messages\": [{\"role\": \"user\", \"content\": \"hi\"}],"
                        " \"response_format\": {\"type\": \"json_schema\", \"json_schema\": {\"name\": \"p\","
                        " \"schema\": {\"type\": \"object\", \"properties\": {\"a\": {\"type\": \"integer\"}}}}}}",
                        &r, &e),
                     0);
    assert_int_equal(r.format, RK_FORMAT_JSON_SCHEMA);
    assert_string_equal(json_string_value(json_object_get(json_object_get(json_object_get(r.schema, "properties"), "a"), "type")),
                        "integer");
    request_free(&r);
}

static void test_openai_refusals(void **state)
{
    (void)state;
    const char *user = "\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}]";
    char buf[512];
    rk_request r;
    rk_error e;
#define REFUSE(extra, param, words)                                                                                \
    do {                                                                                                           \
        snprintf(buf, sizeof buf, "{\"model\": \"m\", %s%s}", user, extra);                                       \
        expect_refusal(openai_chat_request, buf, param, words);                                                    \
    } while (0)
    expect_refusal(openai_chat_request, "{\"messages\": []}", "model", "required");
    expect_refusal(openai_chat_request, "{\"model\": \"m\", \"messages\": []}", "messages", NULL);
    expect_refusal(openai_chat_request, "{\"model\": \"m\", \"messages\": [{\"role\": \"robot\", \"content\": \"x\"}]}",
                   "messages", "robot");
    expect_refusal(openai_chat_request,
                   "{\"model\": \"m\", \"messages\": [{\"role\": \"user\", \"content\": [{\"type\": \"image_url\","
                   " \"image_url\": {\"url\": \"data:,\"}}]}]}",
                   "messages", "image");
    /* image parts: data: URIs decoded, URLs and paths kept for loading, marks where they stand */
    assert_int_equal(tr(openai_chat_request,
                        "{\"model\": \"m\", \"messages\": [{\"role\": \"user\", \"content\": ["
                        "{\"type\": \"text\", \"text\": \"a\"}, {\"type\": \"image_url\", \"image_url\": {\"url\": "
                        "\"data:image/png;base64,AAEC\"}}, {\"type\": \"image_url\", \"image_url\": \"https://x/y.png\"},"
                        "{\"type\": \"text\", \"text\": \"b\"}]}]}",
                        &r, &e),
                     0);
    assert_int_equal(r.n_images, 2);
    assert_int_equal(r.images[0].len, 3);
    assert_null(r.images[0].url);
    assert_string_equal(r.images[1].url, "https://x/y.png");
    assert_string_equal(json_string_value(json_object_get(json_array_get(r.messages, 0), "content")),
                        "a" RK_IMAGE_MARK RK_IMAGE_MARK "b");
    request_free(&r);
    expect_refusal(openai_chat_request,
                   "{\"model\": \"m\", \"messages\": [{\"role\": \"system\", \"content\": [{\"type\": \"image_url\","
                   " \"image_url\": {\"url\": \"data:image/png;base64,AAEC\"}}]}]}",
                   "messages", NULL);
    REFUSE(", \"n\": 2", "n", "n = 1");
    REFUSE(", \"temperature\": 3", "temperature", NULL);
    REFUSE(", \"temperature\": \"hot\"", "temperature", NULL);
    REFUSE(", \"top_p\": 1.5", "top_p", NULL);
    REFUSE(", \"max_tokens\": -3", "max_tokens", NULL);
    REFUSE(", \"seed\": 1.5", "seed", NULL);
    REFUSE(", \"stop\": [1]", "stop", NULL);
    REFUSE(", \"logprobs\": true", "logprobs", NULL);
    REFUSE(", \"logit_bias\": {\"abc\": 1}", "logit_bias", NULL);
    REFUSE(", \"logit_bias\": {\"1\": 101}", "logit_bias", NULL);
    REFUSE(", \"tool_choice\": \"required\"", "tool_choice", NULL);
    REFUSE(", \"tools\": [{\"type\": \"function\"}]", "tools", NULL);
    REFUSE(", \"response_format\": {\"type\": \"yaml\"}", "response_format", "unknown");
    REFUSE(", \"response_format\": {\"type\": \"json_schema\"}", "response_format", NULL);
    REFUSE(", \"response_format\": {\"type\": \"json_schema\", \"json_schema\": {\"name\": \"x\","
           " \"schema\": {\"type\": \"string\", \"pattern\": \"^a\"}}}",
           "response_format", "pattern");
    REFUSE(", \"reasoning_effort\": \"extreme\"", "reasoning_effort", NULL);
    REFUSE(", \"stream\": \"yes\"", "stream", NULL);
#undef REFUSE
}

static void test_openai_completion_and_embedding(void **state)
{
    (void)state;
    rk_request r;
    rk_error e;
    assert_int_equal(tr(openai_completion_request, "{\"model\": \"m\", \"prompt\": \"abc\", \"max_tokens\": 3}", &r, &e), 0);
    assert_int_equal(r.kind, RK_KIND_COMPLETION);
    assert_string_equal(r.prompt.text, "abc");
    assert_int_equal(r.max_tokens, 3);
    request_free(&r);
    assert_int_equal(tr(openai_completion_request, "{\"model\": \"m\", \"prompt\": [[1, 2, 3]]}", &r, &e), 0);
    assert_null(r.prompt.text);
    assert_int_equal(r.prompt.n_tokens, 3);
    assert_int_equal(r.prompt.tokens[2], 3);
    request_free(&r);
    assert_int_equal(tr(openai_completion_request, "{\"model\": \"m\", \"prompt\": [\"only\"], \"suffix\": \"\"}", &r, &e), 0);
    assert_string_equal(r.prompt.text, "only");
    request_free(&r);
    expect_refusal(openai_completion_request, "{\"model\": \"m\", \"prompt\": [\"a\", \"b\"]}", "prompt", "one prompt");
    expect_refusal(openai_completion_request, "{\"model\": \"m\", \"prompt\": \"a\", \"suffix\": \"z\"}", "suffix", NULL);
    expect_refusal(openai_completion_request, "{\"model\": \"m\", \"prompt\": [1, -2]}", "prompt", NULL);
    expect_refusal(openai_completion_request, "{\"model\": \"m\"}", "prompt", NULL);
    expect_refusal(openai_completion_request, "{\"model\": \"m\", \"prompt\": 5}", "prompt", NULL);
    expect_refusal(openai_completion_request, "{\"model\": \"m\", \"prompt\": \"a\", \"best_of\": 3}", "best_of", NULL);

    assert_int_equal(tr(openai_embedding_request, "{\"model\": \"m\", \"input\": [\"a\", \"bb\"]}", &r, &e), 0);
    assert_int_equal(r.kind, RK_KIND_EMBED);
    assert_int_equal(r.n_inputs, 2);
    assert_string_equal(r.inputs[1].text, "bb");
    assert_false(r.truncate);
    request_free(&r);
    assert_int_equal(tr(openai_embedding_request, "{\"model\": \"m\", \"input\": [[4, 5], [6]]}", &r, &e), 0);
    assert_int_equal(r.n_inputs, 2);
    assert_int_equal(r.inputs[1].n_tokens, 1);
    request_free(&r);
    assert_int_equal(tr(openai_embedding_request, "{\"model\": \"m\", \"input\": [4, 5]}", &r, &e), 0);
    assert_int_equal(r.n_inputs, 1);
    assert_int_equal(r.inputs[0].n_tokens, 2);
    request_free(&r);
    expect_refusal(openai_embedding_request, "{\"model\": \"m\", \"input\": []}", "input", NULL);
    expect_refusal(openai_embedding_request, "{\"model\": \"m\", \"input\": \"\"}", "input", NULL);
    expect_refusal(openai_embedding_request, "{\"model\": \"m\", \"input\": [\"a\", 3]}", "input", NULL);
    expect_refusal(openai_embedding_request, "{\"model\": \"m\", \"input\": \"a\", \"encoding_format\": \"hex\"}",
                   "encoding_format", NULL);
}

static void test_ollama(void **state)
{
    (void)state;
    rk_request r;
    rk_error e;
    assert_int_equal(tr(ollama_generate_request,
                        "{\"model\": \"m\", \"prompt\": \"hi\", \"system\": \"sys\", \"keep_alive\": \"10m\","
                        " \"options\": {\"temperature\": 0.1, \"top_k\": 3, \"top_p\": 0.5, \"min_p\": 0.05,"
                        " \"repeat_penalty\": 1.3, \"repeat_last_n\": 8, \"seed\": 5, \"num_predict\": 12,"
                        " \"num_ctx\": 2048, \"stop\": [\"END\"], \"num_thread\": 4}}",
                        &r, &e),
                     0);
    assert_int_equal(r.kind, RK_KIND_CHAT);
    assert_true(r.stream); /* Ollama streams by default */
    assert_int_equal(json_array_size(r.messages), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(r.messages, 0), "content")), "sys");
    assert_true(r.has_keep_alive);
    assert_int_equal(r.keep_alive_ms, 600000);
    assert_true(fabsf(r.sampling.temperature - 0.1f) < 1e-6);
    assert_int_equal(r.sampling.top_k, 3);
    assert_true(fabsf(r.sampling.min_p - 0.05f) < 1e-6);
    assert_true(fabsf(r.sampling.repeat_penalty - 1.3f) < 1e-6);
    assert_int_equal(r.sampling.repeat_last_n, 8);
    assert_int_equal(r.sampling.seed, 5);
    assert_int_equal(r.max_tokens, 12);
    assert_int_equal(r.num_ctx, 2048);
    assert_string_equal(r.stop[0], "END");
    request_free(&r);

    assert_int_equal(tr(ollama_generate_request, "{\"model\": \"m\", \"prompt\": \"raw text\", \"raw\": true, \"stream\": false,"
                                                 " \"keep_alive\": -1, \"think\": true}", &r, &e), 0);
    assert_int_equal(r.kind, RK_KIND_COMPLETION);
    assert_string_equal(r.prompt.text, "raw text");
    assert_false(r.stream);
    assert_int_equal(r.keep_alive_ms, RK_KEEP_FOREVER);
    assert_int_equal(r.enable_thinking, 1);
    request_free(&r);

    assert_int_equal(tr(ollama_generate_request, "{\"model\": \"m\", \"keep_alive\": 0}", &r, &e), 0);
    assert_int_equal(r.kind, RK_KIND_LOAD);
    assert_int_equal(r.keep_alive_ms, 0);
    request_free(&r);

    expect_refusal(ollama_generate_request, "{\"model\": \"m\", \"prompt\": \"x\", \"template\": \"{{ .Prompt }}\"}", "template", "Go");
    expect_refusal(ollama_generate_request, "{\"model\": \"m\", \"prompt\": \"x\", \"suffix\": \"y\"}", "suffix", NULL);
    /* images: decoded from base64 and marked before the prompt text */
    assert_int_equal(tr(ollama_generate_request, "{\"model\": \"m\", \"prompt\": \"x\", \"images\": [\"AAEC\", \"/w==\"]}", &r, &e), 0);
    assert_int_equal(r.n_images, 2);
    assert_int_equal(r.images[0].len, 3);
    assert_int_equal(r.images[0].data[2], 2);
    assert_int_equal(r.images[1].len, 1);
    assert_int_equal(r.images[1].data[0], 0xff);
    assert_string_equal(json_string_value(json_object_get(json_array_get(r.messages, 0), "content")),
                        RK_IMAGE_MARK RK_IMAGE_MARK "x");
    request_free(&r);
    expect_refusal(ollama_generate_request, "{\"model\": \"m\", \"prompt\": \"x\", \"images\": [\"A!AA\"]}", "images", "image 1");
    expect_refusal(ollama_generate_request, "{\"model\": \"m\", \"prompt\": \"x\", \"images\": [7]}", "images", NULL);
    expect_refusal(ollama_chat_request,
                   "{\"model\": \"m\", \"messages\": [{\"role\": \"assistant\", \"content\": \"x\", \"images\": [\"AAAA\"]}]}",
                   "images", "only user");
    expect_refusal(ollama_generate_request, "{\"model\": \"m\", \"prompt\": \"x\", \"context\": [1, 2]}", "context", NULL);
    expect_refusal(ollama_generate_request, "{\"model\": \"m\", \"prompt\": \"x\", \"keep_alive\": \"later\"}", "keep_alive", NULL);
    expect_refusal(ollama_generate_request, "{\"model\": \"m\", \"prompt\": \"x\", \"options\": {\"top_p\": 2}}", "top_p", NULL);
    expect_refusal(ollama_generate_request, "{\"model\": \"m\", \"prompt\": \"x\", \"format\": \"xml\"}", "format", NULL);
    expect_refusal(ollama_generate_request, "{\"model\": \"m\", \"prompt\": \"x\", \"format\": {\"type\": \"integer\", \"maximum\": 3}}",
                   "format", "maximum");
    assert_int_equal(tr(ollama_generate_request, "{\"model\": \"m\", \"prompt\": \"x\", \"format\": \"json\"}", &r, &e), 0);
    assert_int_equal(r.format, RK_FORMAT_JSON);
    request_free(&r);
    assert_int_equal(tr(ollama_chat_request, "{\"model\": \"m\", \"messages\": [{\"role\": \"user\", \"content\": \"q\"}],"
                                             " \"format\": {\"type\": \"object\", \"properties\": {\"b\": {\"type\": \"boolean\"}}}}", &r, &e), 0);
    assert_int_equal(r.format, RK_FORMAT_JSON_SCHEMA);
    request_free(&r);
    expect_refusal(ollama_generate_request, "{\"prompt\": \"x\"}", "model", NULL);

    assert_int_equal(tr(ollama_chat_request,
                        "{\"model\": \"m\", \"messages\": [{\"role\": \"user\", \"content\": \"q\"},"
                        " {\"role\": \"assistant\", \"content\": \"\", \"thinking\": \"hmm\","
                        "  \"tool_calls\": [{\"function\": {\"name\": \"f\", \"arguments\": {\"a\": 1}}}]},"
                        " {\"role\": \"tool\", \"content\": \"7\", \"tool_name\": \"f\"}],"
                        " \"tools\": [{\"type\": \"function\", \"function\": {\"name\": \"f\"}}], \"think\": false}",
                        &r, &e),
                     0);
    assert_int_equal(r.kind, RK_KIND_CHAT);
    json_t *a = json_array_get(r.messages, 1), *t = json_array_get(r.messages, 2);
    assert_string_equal(json_string_value(json_object_get(a, "reasoning_content")), "hmm");
    assert_int_equal(json_array_size(json_object_get(a, "tool_calls")), 1);
    assert_string_equal(json_string_value(json_object_get(t, "name")), "f");
    assert_int_equal(r.enable_thinking, 0);
    request_free(&r);
    assert_int_equal(tr(ollama_chat_request, "{\"model\": \"m\", \"messages\": []}", &r, &e), 0);
    assert_int_equal(r.kind, RK_KIND_LOAD);
    request_free(&r);
    expect_refusal(ollama_chat_request, "{\"model\": \"m\", \"messages\": [{\"role\": \"user\", \"content\": 5}]}", "messages", NULL);

    assert_int_equal(tr(ollama_embed_request, "{\"model\": \"m\", \"input\": [\"a\", \"b\"], \"truncate\": false}", &r, &e), 0);
    assert_int_equal(r.n_inputs, 2);
    assert_false(r.truncate);
    request_free(&r);
    assert_int_equal(tr(ollama_embeddings_request, "{\"model\": \"m\", \"prompt\": \"a\"}", &r, &e), 0);
    assert_int_equal(r.n_inputs, 1);
    assert_string_equal(r.inputs[0].text, "a");
    request_free(&r);
    expect_refusal(ollama_embed_request, "{\"model\": \"m\"}", "input", NULL);
    expect_refusal(ollama_embeddings_request, "{\"model\": \"m\", \"prompt\": \"\"}", "prompt", NULL);
}

/* Images in chat: marks become the image marker in string content, and
 * VLM templates (looping over content parts by type) get parts; a text
 * template that tests "type" only for tools keeps strings. */
static void test_render_images(void **state)
{
    (void)state;
    rk_request r;
    rk_error e;
    assert_int_equal(tr(openai_chat_request,
                        "{\"model\": \"m\", \"messages\": [{\"role\": \"user\", \"content\": [{\"type\": \"text\","
                        " \"text\": \"look\"}, {\"type\": \"image_url\", \"image_url\": {\"url\": \"data:image/png;base64,AAEC\"}}]}]}",
                        &r, &e),
                     0);
    chat_format f;
    const char *tools_tmpl = "{% for t in tools or [] %}{% if t.type == 'function' %}F{% endif %}{% endfor %}"
                             "{% for m in messages %}[{{ m.content }}]{% endfor %}";
    chat_format_init(&f, tools_tmpl, "llama", "", "", NULL, 0);
    assert_false(f.takes_parts);
    char *p = request_render_chat(&r, &f, "<img>", &e);
    assert_non_null(p);
    assert_string_equal(p, "[look<img>]");
    free(p);
    chat_format_free(&f);
    const char *vlm_tmpl = "{% for message in messages %}{% for part in message['content'] %}{% if part['type'] == 'text' %}"
                           "{{ part['text'] }}{% else %}<image>{% endif %}{% endfor %}|{% endfor %}";
    chat_format_init(&f, vlm_tmpl, "llama", "", "", NULL, 0);
    assert_true(f.takes_parts);
    p = request_render_chat(&r, &f, "<image>", &e);
    assert_non_null(p);
    assert_string_equal(p, "look<image>|");
    free(p);
    chat_format_free(&f);
    chat_format_init(&f, NULL, "qwen3", "", "", NULL, 0); /* built-in format: the marker in the text */
    p = request_render_chat(&r, &f, "<vision>", &e);
    assert_non_null(strstr(p, "look<vision>"));
    free(p);
    chat_format_free(&f);
    request_free(&r);
}

static void test_render(void **state)
{
    (void)state;
    rk_request r;
    rk_error e;
    assert_int_equal(tr(openai_chat_request,
                        "{\"model\": \"m\", \"messages\": [{\"role\": \"system\", \"content\": \"S\"},"
                        " {\"role\": \"user\", \"content\": \"U\"}]}",
                        &r, &e),
                     0);
    chat_format f;
    chat_format_init(&f, NULL, "qwen3", "", "", NULL, 0);
    char *p = request_render_chat(&r, &f, NULL, &e);
    assert_non_null(p);
    assert_string_equal(p, "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nU<|im_end|>\n<|im_start|>assistant\n");
    free(p);

    /* tools cannot be shown without a template */
    r.tools = json_pack("[{s:s, s:{s:s}}]", "type", "function", "function", "name", "f");
    assert_null(request_render_chat(&r, &f, NULL, &e));
    assert_int_equal(e.status, 400);
    assert_non_null(strstr(e.message, "--chat-template"));
    chat_format_free(&f);

    /* a template sees the tools, the thinking switch and extra variables */
    const char *tmpl = "{{ bos_token }}{% for m in messages %}[{{ m.role }}:{{ m.content }}]{% endfor %}"
                       "{% if tools %}T={{ tools | length }}{% endif %}"
                       "{% if enable_thinking is defined %}E={{ enable_thinking }}{% endif %}X={{ extra }}"
                       "{% if add_generation_prompt %}>{% endif %}";
    chat_format_init(&f, tmpl, "llama", "<s>", "</s>", NULL, 0);
    r.enable_thinking = 0;
    r.template_vars = json_pack("{s:i, s:b}", "extra", 3, "add_generation_prompt", 0);
    p = request_render_chat(&r, &f, NULL, &e);
    assert_non_null(p);
    assert_string_equal(p, "<s>[system:S][user:U]T=1E=falseX=3>");
    free(p);
    chat_format_free(&f);

    chat_format_init(&f, "{{ raise_exception('no system messages') }}", "llama", "", "", NULL, 0);
    assert_null(request_render_chat(&r, &f, NULL, &e));
    assert_int_equal(e.status, 400);
    assert_non_null(strstr(e.message, "no system messages"));
    chat_format_free(&f);
    request_free(&r);
}

static void test_keep_alive_values(void **state)
{
    (void)state;
    int64_t ms;
    json_t *v = json_string("1h");
    assert_true(api_keep_alive(v, &ms));
    assert_int_equal(ms, 3600000);
    json_decref(v);
    v = json_integer(30);
    assert_true(api_keep_alive(v, &ms));
    assert_int_equal(ms, 30000);
    json_decref(v);
    v = json_real(-1);
    assert_true(api_keep_alive(v, &ms));
    assert_int_equal(ms, RK_KEEP_FOREVER);
    json_decref(v);
    v = json_true();
    assert_false(api_keep_alive(v, &ms));
    json_decref(v);
    /* embeddings' encoding_format base64 uses the media encoder */
    char *b = b64_encode((const uint8_t *)"\x00\x01\x02\xff", 4, false, true);
    assert_string_equal(b, "AAEC/w==");
    free(b);
    b = b64_encode((const uint8_t *)"ab", 2, false, true);
    assert_string_equal(b, "YWI=");
    free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_openai_chat),   cmocka_unit_test(test_openai_refusals),
        cmocka_unit_test(test_openai_completion_and_embedding), cmocka_unit_test(test_ollama),
        cmocka_unit_test(test_render),        cmocka_unit_test(test_keep_alive_values),
        cmocka_unit_test(test_render_images),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
