/* Fuzz target for the Jinja interpreter: any bytes as a template, parsed and
 * rendered against a small fixed conversation with tight limits, so hostile
 * templates must fail with an error rather than crash, hang or balloon. */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>

#include "core/jinja.h"

static json_t *context(void)
{
    static json_t *ctx;
    if (!ctx)
        ctx = json_loads(
            "{\"messages\": [{\"role\": \"system\", \"content\": \"sys\"},"
            " {\"role\": \"user\", \"content\": [{\"type\": \"image\"}, {\"type\": \"text\", \"text\": \"hi \\u00e9\"}]},"
            " {\"role\": \"assistant\", \"content\": \"<think>x</think>y\", \"reasoning_content\": null,"
            "  \"tool_calls\": [{\"type\": \"function\", \"function\": {\"name\": \"f\", \"arguments\": {\"a\": 1.5, \"b\": [true, null]}}}]},"
            " {\"role\": \"tool\", \"content\": \"r\"}],"
            " \"tools\": [{\"type\": \"function\", \"function\": {\"name\": \"f\", \"parameters\": {\"type\": \"object\"}}}],"
            " \"add_generation_prompt\": true, \"enable_thinking\": false, \"bos_token\": \"<s>\", \"eos_token\": \"</s>\"}",
            0, NULL);
    return ctx;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[256];
    jinja_template *t = jinja_parse((const char *)data, size, err, sizeof err);
    if (!t) return 0;
    jinja_options opt = {.now = 1741338300, .max_output = 1 << 16, .max_steps = 200000, .max_items = 2000, .max_depth = 120};
    size_t n;
    char *out = jinja_render_ex(t, context(), &opt, &n, err, sizeof err);
    free(out);
    jinja_free(t);
    return 0;
}
