/* The schema that forces a tool call: one tool, any of several, the key
 * name per format, and a name that is not offered. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/json_constraint.h"
#include "core/tool_choice.h"

static json_t *tools(void)
{
    return json_loads("[{\"type\":\"function\",\"function\":{\"name\":\"a\",\"parameters\":{\"type\":\"object\","
                      "\"properties\":{\"x\":{\"type\":\"integer\"}},\"required\":[\"x\"]}}},"
                      "{\"type\":\"function\",\"function\":{\"name\":\"b\"}}]",
                      0, NULL);
}

/* Whether doc satisfies schema, by feeding it through the constraint. */
static bool accepts(json_t *schema, const char *doc)
{
    char err[256];
    json_constraint *c = json_constraint_new(schema, true, err, sizeof err);
    assert_non_null(c);
    bool ok = json_constraint_accept(c, doc, strlen(doc)) && json_constraint_complete(c);
    json_constraint_free(c);
    return ok;
}

static void test_named_tool(void **state)
{
    (void)state;
    json_t *t = tools();
    char err[256];
    json_t *s = tool_choice_schema(t, "a", CHAT_OUTPUT_HERMES, 1, err, sizeof err);
    assert_non_null(s);
    assert_true(accepts(s, "{\"name\": \"a\", \"arguments\": {\"x\": 3}}"));
    assert_false(accepts(s, "{\"name\": \"b\", \"arguments\": {}}"));
    assert_false(accepts(s, "{\"name\": \"a\", \"arguments\": {\"x\": \"three\"}}"));
    json_decref(s);
    json_decref(t);
}

static void test_any_tool_and_llama3_key(void **state)
{
    (void)state;
    json_t *t = tools();
    char err[256];
    json_t *s = tool_choice_schema(t, NULL, CHAT_OUTPUT_LLAMA3, 1, err, sizeof err);
    assert_non_null(s);
    assert_true(accepts(s, "{\"name\": \"b\", \"parameters\": {\"anything\": true}}"));
    assert_true(accepts(s, "{\"name\": \"a\", \"parameters\": {\"x\": 1}}"));
    assert_false(accepts(s, "{\"name\": \"a\", \"arguments\": {\"x\": 1}}"));
    json_decref(s);
    s = tool_choice_schema(t, NULL, CHAT_OUTPUT_GENERIC, 0, err, sizeof err);
    assert_true(accepts(s, "{\"name\": \"a\", \"arguments\": {\"x\": \"loose\"}}"));
    json_decref(s);
    json_decref(t);
}

static void test_unknown_name(void **state)
{
    (void)state;
    json_t *t = tools();
    char err[256] = "";
    assert_null(tool_choice_schema(t, "zzz", CHAT_OUTPUT_HERMES, 1, err, sizeof err));
    assert_non_null(strstr(err, "zzz"));
    json_decref(t);
    assert_string_equal(tool_choice_prefix(CHAT_OUTPUT_HERMES), "<tool_call>\n");
    assert_string_equal(tool_choice_prefix(CHAT_OUTPUT_LLAMA3), "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_named_tool),
        cmocka_unit_test(test_any_tool_and_llama3_key),
        cmocka_unit_test(test_unknown_name),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
