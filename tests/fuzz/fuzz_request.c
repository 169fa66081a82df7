/* Fuzz target for request translation: any bytes as a request body, parsed
 * as the HTTP layer does and run through every OpenAI and Ollama
 * translator, then chat requests rendered with a built-in format and a
 * Jinja template. A translator must either accept, leaving a request that
 * satisfies the invariants the scheduler relies on, or refuse with an error
 * status and message; never crash, leak or read out of bounds. */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "core/chat_format.h"
#include "core/config.h"
#include "core/request.h"

#define CHECK(c)                                                                                                   \
    do {                                                                                                           \
        if (!(c)) __builtin_trap();                                                                                \
    } while (0)

typedef int (*translate_fn)(const json_t *, rk_request *, rk_error *);

static const translate_fn TRANSLATORS[] = {
    openai_chat_request,     openai_completion_request, openai_embedding_request, ollama_generate_request,
    ollama_chat_request,     ollama_embed_request,      ollama_embeddings_request,
};

static void check_input(const rk_input *in)
{
    CHECK((in->text != NULL) != (in->tokens != NULL));
    for (int64_t i = 0; i < in->n_tokens; i++) CHECK(in->tokens[i] >= 0);
    if (in->text) CHECK(strlen(in->text) <= 1 << 26);
}

static void check_request(const rk_request *r, const chat_format *builtin, const chat_format *jinja)
{
    CHECK(r->model && *r->model);
    CHECK(r->n_stop >= 0);
    for (int i = 0; i < r->n_stop; i++) CHECK(r->stop[i] != NULL);
    CHECK(r->sampling.n_logit_bias >= 0);
    for (int i = 0; i < r->sampling.n_logit_bias; i++) CHECK(r->logit_bias[i].token >= 0);
    CHECK(r->format != RK_FORMAT_JSON_SCHEMA || r->schema);
    CHECK(r->enable_thinking >= -1 && r->enable_thinking <= 1);
    /* images: at most the limit, each with its bytes or a URL to load */
    CHECK(r->n_images >= 0 && r->n_images <= RK_MAX_IMAGES);
    for (int i = 0; i < r->n_images; i++) CHECK((r->images[i].data != NULL) != (r->images[i].url != NULL));
    CHECK(!r->cache_prompts || json_is_string(r->cache_prompts) || json_is_array(r->cache_prompts));
    switch (r->kind) {
    case RK_KIND_CHAT: {
        CHECK(json_is_array(r->messages) && json_array_size(r->messages) > 0);
        size_t i;
        json_t *m;
        json_array_foreach(r->messages, i, m) {
            CHECK(json_is_string(json_object_get(m, "role")));
            CHECK(json_is_string(json_object_get(m, "content")));
        }
        CHECK(!r->tools || json_is_array(r->tools));
        rk_error e;
        char *p = request_render_chat(r, builtin, NULL, &e);
        CHECK(p || (e.status >= 400 && e.message[0]));
        free(p);
        p = request_render_chat(r, jinja, NULL, &e);
        CHECK(p || (e.status >= 400 && e.message[0]));
        free(p);
        break;
    }
    case RK_KIND_COMPLETION: check_input(&r->prompt); break;
    case RK_KIND_EMBED:
        CHECK(r->n_inputs > 0 && r->inputs);
        for (int i = 0; i < r->n_inputs; i++) check_input(&r->inputs[i]);
        break;
    case RK_KIND_LOAD: break;
    default: CHECK(0);
    }
}

static chat_format builtin, jinja;

static void free_formats(void)
{
    chat_format_free(&builtin);
    chat_format_free(&jinja);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int ready;
    if (!ready) {
        atexit(free_formats);
        chat_format_init(&builtin, NULL, "llama", "", "", NULL, 0);
        /* touches what templates touch: roles, content, tool calls, tools, flags */
        chat_format_init(&jinja,
                         "{% for m in messages %}<{{ m.role }}>{{ m.content }}"
                         "{% for c in m.tool_calls or [] %}{{ c.function.name }}{{ c.function.arguments | tojson }}{% endfor %}"
                         "{% endfor %}{% if tools %}{{ tools | tojson }}{% endif %}"
                         "{% if enable_thinking is defined %}{{ enable_thinking }}{% endif %}",
                         "qwen3", "", "", NULL, 0);
        ready = 1;
    }
    /* the body as the server reads it */
    json_error_t je;
    json_t *body = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, &je);
    if (body && json_is_object(body)) {
        for (size_t t = 0; t < sizeof TRANSLATORS / sizeof TRANSLATORS[0]; t++) {
            rk_request r;
            request_init(&r);
            rk_error e;
            memset(&e, 0, sizeof e);
            if (TRANSLATORS[t](body, &r, &e) == 0) {
                check_request(&r, &builtin, &jinja);
                /* the body's own fields as a model's default options */
                api_apply_defaults(&r, body, json_object_get(body, "options"));
                check_request(&r, &builtin, &jinja);
            } else {
                CHECK(e.status >= 400 && e.status < 600 && e.message[0]);
            }
            request_free(&r);
        }
        int64_t ms;
        api_keep_alive(json_object_get(body, "keep_alive"), &ms);
    }
    json_decref(body);

    /* the option parsers on the same bytes as text */
    char *s = malloc(size + 1);
    if (s) {
        memcpy(s, data, size);
        s[size] = 0;
        int64_t ms;
        uint64_t bytes;
        if (config_parse_duration(s, &ms)) CHECK(ms >= 0 || ms == RK_KEEP_FOREVER);
        config_parse_size(s, &bytes);
        free(s);
    }
    return 0;
}
