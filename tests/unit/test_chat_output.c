/* Chat output parsing: thinking, content and tool calls per format. Every
 * case is also run split at each byte boundary, byte by byte and in random
 * chunks; the final result and the delta transcript must not change, and
 * every text delta must be whole UTF-8. Real templates render assistant
 * turns with tool calls, and parsing them back must give the calls. */
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
#include "core/chat_output.h"
#include "core/jinja.h"
#include "util/utf8.h"

typedef struct {
    char *p;
    size_t len, cap;
} dstr;

static void ds_add(dstr *d, const char *s, size_t n)
{
    if (d->len + n + 1 > d->cap) {
        d->cap = (d->len + n + 1) * 2;
        d->p = realloc(d->p, d->cap);
        assert_non_null(d->p);
    }
    memcpy(d->p + d->len, s, n);
    d->len += n;
    d->p[d->len] = 0;
}

static void ds_str(dstr *d, const char *s)
{
    ds_add(d, s, strlen(s));
}

static void ds_printf(dstr *d, const char *fmt, ...)
{
    char tmp[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    assert_true(n >= 0 && (size_t)n < sizeof tmp);
    ds_add(d, tmp, (size_t)n);
}

#define MAX_CALLS 8

/* Everything the callbacks delivered. */
typedef struct {
    dstr log;                /* transcript, consecutive text of one kind merged */
    dstr content, reasoning; /* concatenated text deltas */
    dstr args[MAX_CALLS];
    int n_begin;
    int last;                /* kind of the previous delta */
    int last_index;
    bool check_utf8;
} sink;

static void sink_free(sink *k)
{
    free(k->log.p);
    free(k->content.p);
    free(k->reasoning.p);
    for (int i = 0; i < MAX_CALLS; i++)
        free(k->args[i].p);
    memset(k, 0, sizeof *k);
}

static void assert_utf8(const char *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        size_t l = utf8_valid_len((const unsigned char *)s + i, n - i);
        if (l == 0)
            fail_msg("delta splits a UTF-8 character at byte %zu of %zu", i, n);
        i += l;
    }
}

static void on_delta(void *user, const chat_delta *d)
{
    sink *k = user;
    switch (d->kind) {
    case CHAT_DELTA_CONTENT:
    case CHAT_DELTA_REASONING:
        assert_true(d->len > 0);
        if (k->check_utf8)
            assert_utf8(d->text, d->len);
        if (k->last != (int)d->kind)
            ds_str(&k->log, d->kind == CHAT_DELTA_CONTENT ? "\n[content]" : "\n[reasoning]");
        ds_add(&k->log, d->text, d->len);
        ds_add(d->kind == CHAT_DELTA_CONTENT ? &k->content : &k->reasoning, d->text, d->len);
        break;
    case CHAT_DELTA_TOOL_CALL_BEGIN:
        assert_non_null(d->id);
        assert_non_null(d->name);
        assert_int_equal(d->index, k->n_begin);
        assert_true(d->index < MAX_CALLS);
        ds_printf(&k->log, "\n[call %d %s %s]", d->index, d->id, d->name);
        k->n_begin++;
        break;
    case CHAT_DELTA_TOOL_CALL_ARGS:
        assert_int_equal(d->index, k->n_begin - 1);
        if (!(k->last == (int)d->kind && k->last_index == d->index))
            ds_printf(&k->log, "\n[args %d]", d->index);
        ds_add(&k->log, d->text, d->len);
        ds_add(&k->args[d->index], d->text, d->len);
        break;
    }
    k->last = (int)d->kind;
    k->last_index = d->index;
}

/* The final result in one string, ids included. */
static char *digest(const chat_output_parser *p)
{
    dstr d = {0};
    size_t n;
    const char *c = chat_output_content(p, &n);
    ds_str(&d, "content=");
    ds_add(&d, c, n);
    c = chat_output_reasoning(p, &n);
    ds_str(&d, "\nreasoning=");
    ds_add(&d, c, n);
    ds_printf(&d, "\nmalformed=%d has_calls=%d\n", chat_output_malformed(p), chat_output_has_tool_calls(p));
    for (int i = 0; i < chat_output_tool_call_count(p); i++) {
        const chat_tool_call *t = chat_output_tool_call(p, i);
        ds_printf(&d, "call %s %s ", t->id, t->name);
        ds_str(&d, t->arguments);
        ds_str(&d, "\n");
    }
    return d.p;
}

/* The deltas must add up to the accessors' results. */
static void check_sink_matches(const chat_output_parser *p, const sink *k)
{
    size_t n;
    const char *c = chat_output_content(p, &n);
    assert_int_equal(n, k->content.len);
    assert_true(n == 0 || memcmp(c, k->content.p, n) == 0);
    c = chat_output_reasoning(p, &n);
    assert_int_equal(n, k->reasoning.len);
    assert_true(n == 0 || memcmp(c, k->reasoning.p, n) == 0);
    assert_int_equal(chat_output_tool_call_count(p), k->n_begin);
    for (int i = 0; i < k->n_begin; i++)
        assert_string_equal(chat_output_tool_call(p, i)->arguments, k->args[i].p);
}

/* Parses text pushed in pieces ending at cuts[] (ascending). */
static chat_output_parser *parse_cut(chat_output_format fmt, const chat_output_options *opt, const char *text,
                                     size_t n, const size_t *cuts, int ncuts, sink *k)
{
    chat_output_parser *p = chat_output_new(fmt, opt);
    assert_non_null(p);
    k->last = -1;
    size_t at = 0;
    for (int i = 0; i <= ncuts; i++) {
        size_t end = i < ncuts ? cuts[i] : n;
        assert_int_equal(chat_output_push(p, text + at, end - at, on_delta, k), 0);
        at = end;
    }
    assert_int_equal(chat_output_finish(p, on_delta, k), 0);
    check_sink_matches(p, k);
    return p;
}

static uint64_t rng_state = 0x1234567;

static uint64_t rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static void compare_run(chat_output_format fmt, const chat_output_options *opt, const char *text, size_t n,
                        const size_t *cuts, int ncuts, const char *want_digest, const char *want_log,
                        bool utf8)
{
    sink k = {.check_utf8 = utf8};
    chat_output_parser *p = parse_cut(fmt, opt, text, n, cuts, ncuts, &k);
    char *d = digest(p);
    if (strcmp(d, want_digest) || strcmp(k.log.p ? k.log.p : "", want_log)) {
        fprintf(stderr, "input: %s\ncuts:", text);
        for (int i = 0; i < ncuts; i++)
            fprintf(stderr, " %zu", cuts[i]);
        fprintf(stderr, "\nwhole: %s%s\nsplit: %s%s\n", want_digest, want_log, d, k.log.p ? k.log.p : "");
        fail();
    }
    free(d);
    sink_free(&k);
    chat_output_free(p);
}

/* Parses text whole, then checks that every way of cutting it gives the
 * same result and deltas. Returns the whole-text parser. */
static chat_output_parser *check(chat_output_format fmt, const chat_output_options *opt, const char *text)
{
    size_t n = strlen(text);
    bool utf8 = true;
    for (size_t i = 0; i < n;) {
        size_t l = utf8_valid_len((const unsigned char *)text + i, n - i);
        if (!l) {
            utf8 = false;
            break;
        }
        i += l;
    }
    sink k = {.check_utf8 = utf8};
    chat_output_parser *p = parse_cut(fmt, opt, text, n, NULL, 0, &k);
    char *want = digest(p);
    char *log = strdup(k.log.p ? k.log.p : "");
    sink_free(&k);

    for (size_t i = 0; i <= n; i++)
        compare_run(fmt, opt, text, n, &i, 1, want, log, utf8);
    size_t *cuts = malloc((n + 1) * sizeof *cuts);
    assert_non_null(cuts);
    for (size_t i = 0; i < n; i++)
        cuts[i] = i + 1;
    compare_run(fmt, opt, text, n, cuts, n ? (int)n - 1 : 0, want, log, utf8);
    for (int r = 0; r < 20 && n > 0; r++) {
        int m = 0;
        for (size_t at = (size_t)(rng() % 5); at < n; at += 1 + (size_t)(rng() % 7))
            cuts[m++] = at;
        compare_run(fmt, opt, text, n, cuts, m, want, log, utf8);
    }
    free(cuts);
    free(want);
    free(log);
    return p;
}

static void expect_text(const chat_output_parser *p, const char *content, const char *reasoning)
{
    assert_string_equal(chat_output_content(p, NULL), content);
    assert_string_equal(chat_output_reasoning(p, NULL), reasoning);
}

static void expect_call(const chat_output_parser *p, int i, const char *name, const char *args)
{
    const chat_tool_call *t = chat_output_tool_call(p, i);
    assert_non_null(t);
    assert_string_equal(t->name, name);
    assert_string_equal(t->arguments, args);
    assert_int_equal(strlen(t->id), 29);
    assert_memory_equal(t->id, "call_", 5);
}

/* Parse and compare in one go: no calls expected. */
static void expect_plain(chat_output_format fmt, const chat_output_options *opt, const char *text,
                         const char *content, const char *reasoning, bool malformed)
{
    chat_output_parser *p = check(fmt, opt, text);
    expect_text(p, content, reasoning);
    assert_int_equal(chat_output_tool_call_count(p), 0);
    assert_false(chat_output_has_tool_calls(p));
    assert_int_equal(chat_output_malformed(p), malformed);
    chat_output_free(p);
}

static int push_s(chat_output_parser *p, const char *s, sink *k)
{
    return chat_output_push(p, s, strlen(s), on_delta, k);
}

static const chat_output_options NONE = {0};
static const chat_output_options TOOLS = {.tools_enabled = true, .id_seed = 7};
static const chat_output_options THINK = {.thinking_enabled = true};
static const chat_output_options OPENED = {.thinking_enabled = true, .prompt_opened_think = true};
static const chat_output_options THINK_TOOLS = {.tools_enabled = true, .thinking_enabled = true, .id_seed = 7};

static void test_plain_content(void **state)
{
    (void)state;
    for (int f = CHAT_OUTPUT_GENERIC; f <= CHAT_OUTPUT_LLAMA3; f++) {
        expect_plain(f, &NONE, "Hello, world!\n", "Hello, world!\n", "", false);
        expect_plain(f, &TOOLS, "Hello, world!\n\n", "Hello, world!\n\n", "", false);
        expect_plain(f, &NONE, "", "", "", false);
        expect_plain(f, &TOOLS, " \n ", " \n ", "", false);
    }
    /* NULL options: nothing recognised */
    chat_output_parser *p = check(CHAT_OUTPUT_HERMES, NULL, "<think>x</think><tool_call>{}</tool_call>");
    expect_text(p, "<think>x</think><tool_call>{}</tool_call>", "");
    chat_output_free(p);
}

static void test_thinking(void **state)
{
    (void)state;
    /* Qwen3's trained form, trimmed as its template trims it */
    expect_plain(CHAT_OUTPUT_HERMES, &THINK, "<think>\nLet me think.\n\nYes.\n</think>\n\nThe answer is 4.",
                 "The answer is 4.", "Let me think.\n\nYes.", false);
    /* any format, leading whitespace before the tag */
    expect_plain(CHAT_OUTPUT_LLAMA3, &THINK, "\n <think>a</think>b", "b", "a", false);
    /* spaces after </think> are content; only newlines go */
    expect_plain(CHAT_OUTPUT_GENERIC, &THINK, "<think>\n\n</think>\n\n  x\n", "  x\n", "", false);
    /* thinking off: the tags are content */
    expect_plain(CHAT_OUTPUT_HERMES, &NONE, "<think>\nhm\n</think>\n\nok", "<think>\nhm\n</think>\n\nok", "",
                 false);
    /* thinking on but the model answered directly */
    expect_plain(CHAT_OUTPUT_HERMES, &THINK, "  Just an answer.\n", "  Just an answer.\n", "", false);
    expect_plain(CHAT_OUTPUT_HERMES, &THINK, "<thinking> is not a tag", "<thinking> is not a tag", "", false);
    expect_plain(CHAT_OUTPUT_HERMES, &THINK, "<thi", "<thi", "", false);
    /* a second <think> later is content */
    expect_plain(CHAT_OUTPUT_HERMES, &THINK, "<think>r</think>a <think>b</think>", "a <think>b</think>", "r",
                 false);
    /* cut short while thinking: what there is stays reasoning */
    expect_plain(CHAT_OUTPUT_HERMES, &THINK, "<think>\nStill going\n", "", "Still going", false);
    expect_plain(CHAT_OUTPUT_HERMES, &THINK, "<think>\nStill </thi", "", "Still </thi", false);
    /* newlines inside reasoning are kept, only the ends trimmed */
    expect_plain(CHAT_OUTPUT_HERMES, &THINK, "<think>\n\na\n\n\nb\n\n</think>c\n\n", "c\n\n", "a\n\n\nb",
                 false);
}

static void test_thinking_opened_by_prompt(void **state)
{
    (void)state;
    expect_plain(CHAT_OUTPUT_HERMES, &OPENED, "The user greets.\n</think>\n\nHello!", "Hello!", "The user greets.",
                 false);
    /* a model that repeats the opening tag */
    expect_plain(CHAT_OUTPUT_HERMES, &OPENED, "<think>\nr\n</think>\n\nHello!", "Hello!", "r", false);
    expect_plain(CHAT_OUTPUT_HERMES, &OPENED, "\n\nStill thinking about", "", "Still thinking about", false);
    expect_plain(CHAT_OUTPUT_HERMES, &OPENED, "</think>\n\nNo thoughts.", "No thoughts.", "", false);
    /* a prompt that opened the block with thinking off changes nothing */
    chat_output_options o = {.prompt_opened_think = true};
    expect_plain(CHAT_OUTPUT_HERMES, &o, "r</think>a", "r</think>a", "", false);

    assert_true(chat_output_prompt_opens_think("<|im_start|>assistant\n<think>\n", 30));
    const char *closed = "<|im_start|>assistant\n<think>\n\n</think>\n\n";
    assert_false(chat_output_prompt_opens_think(closed, strlen(closed)));
    assert_false(chat_output_prompt_opens_think("<|im_start|>assistant\n", 22));
    assert_false(chat_output_prompt_opens_think("", 0));
}

static void test_hermes_calls(void **state)
{
    (void)state;
    chat_output_parser *p = check(CHAT_OUTPUT_HERMES, &TOOLS,
                                  "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\", "
                                  "\"temp\": 0.1}}\n</tool_call>");
    expect_text(p, "", "");
    assert_int_equal(chat_output_tool_call_count(p), 1);
    assert_true(chat_output_has_tool_calls(p));
    assert_false(chat_output_malformed(p));
    /* arguments as written: 0.1 is not reprinted */
    expect_call(p, 0, "get_weather", "{\"city\": \"Paris\", \"temp\": 0.1}");
    assert_null(chat_output_tool_call(p, 1));
    assert_null(chat_output_tool_call(p, -1));
    chat_output_free(p);

    /* several calls joined by newlines, as the template joins them */
    p = check(CHAT_OUTPUT_HERMES, &TOOLS,
              "<tool_call>\n{\"name\": \"a\", \"arguments\": {}}\n</tool_call>\n<tool_call>\n"
              "{\"name\": \"b\", \"arguments\": {\"x\": [1, {\"y\": \"}\"}]}}\n</tool_call>\n");
    expect_text(p, "", "");
    assert_int_equal(chat_output_tool_call_count(p), 2);
    expect_call(p, 0, "a", "{}");
    expect_call(p, 1, "b", "{\"x\": [1, {\"y\": \"}\"}]}");
    assert_string_not_equal(chat_output_tool_call(p, 0)->id, chat_output_tool_call(p, 1)->id);
    chat_output_free(p);

    /* content first; the newline before the tag belongs to the call */
    p = check(CHAT_OUTPUT_HERMES, &TOOLS,
              "Let me check.\n<tool_call>\n{\"name\": \"f\", \"arguments\": {\"q\": 1}}\n</tool_call>");
    expect_text(p, "Let me check.", "");
    expect_call(p, 0, "f", "{\"q\": 1}");
    chat_output_free(p);

    /* thinking, then a call (Qwen3) */
    p = check(CHAT_OUTPUT_HERMES, &THINK_TOOLS,
              "<think>\nNeed the weather.\n</think>\n\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": "
              "{\"city\": \"Oslo\"}}\n</tool_call>");
    expect_text(p, "", "Need the weather.");
    expect_call(p, 0, "get_weather", "{\"city\": \"Oslo\"}");
    chat_output_free(p);

    /* text after the calls stays content */
    p = check(CHAT_OUTPUT_HERMES, &TOOLS, "A <tool_call>{\"name\": \"f\"}</tool_call> B");
    expect_text(p, "AB", "");
    expect_call(p, 0, "f", "{}");
    chat_output_free(p);

    /* other accepted shapes: parameters, null, OpenAI's nesting, arguments
     * as a string, escaped keys, integers beyond 64 bits */
    struct {
        const char *body, *name, *args;
    } shapes[] = {
        {"{\"name\": \"f\", \"parameters\": {\"a\": 1}}", "f", "{\"a\": 1}"},
        {"{\"name\": \"f\", \"arguments\": null}", "f", "{}"},
        {"{\"type\":\"function\",\"function\":{\"name\":\"g\",\"arguments\":{\"a\":1}}}", "g", "{\"a\":1}"},
        {"{\"name\": \"f\", \"arguments\": \" {\\\"a\\\": 1} \"}", "f", "{\"a\": 1}"},
        {"{\"name\": \"f\", \"argu\\u006dents\": {\"a\": 2}}", "f", "{\"a\": 2}"},
        {"{\"name\":\"f\",\"arguments\":{\"n\":123456789012345678901234567890,\"r\":1e-7}}", "f",
         "{\"n\":123456789012345678901234567890,\"r\":1e-7}"},
        {"{\"name\": \"f\", \"arguments\": {\"s\": \"</tool\"}}", "f", "{\"s\": \"</tool\"}"},
        {"[{\"name\": \"f\", \"arguments\": {}}]", "f", "{}"},
    };
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        char text[512];
        snprintf(text, sizeof text, "<tool_call>\n%s\n</tool_call>", shapes[i].body);
        p = check(CHAT_OUTPUT_HERMES, &TOOLS, text);
        expect_text(p, "", "");
        assert_int_equal(chat_output_tool_call_count(p), 1);
        expect_call(p, 0, shapes[i].name, shapes[i].args);
        chat_output_free(p);
    }
}

static void test_unterminated_call(void **state)
{
    (void)state;
    /* stopped right after the JSON: still a call */
    chat_output_parser *p =
        check(CHAT_OUTPUT_HERMES, &TOOLS, "<tool_call>\n{\"name\": \"f\", \"arguments\": {\"x\": 1}}\n");
    expect_text(p, "", "");
    expect_call(p, 0, "f", "{\"x\": 1}");
    chat_output_free(p);
    /* cut inside the JSON: content, flagged */
    const char *cut = "Ok.\n<tool_call>\n{\"name\": \"f\", \"argu";
    expect_plain(CHAT_OUTPUT_HERMES, &TOOLS, cut, cut, "", true);
    expect_plain(CHAT_OUTPUT_HERMES, &TOOLS, "<tool_call>", "<tool_call>", "", true);
}

static void test_malformed(void **state)
{
    (void)state;
    const char *bad[] = {
        "Sure.\n<tool_call>\n{\"name\": \"f\", \"arguments\": {\"a\": }\n</tool_call>",
        "<tool_call>not json</tool_call>",
        "<tool_call>{\"arguments\": {}}</tool_call>",                     /* no name */
        "<tool_call>{\"name\": \"\", \"arguments\": {}}</tool_call>",     /* empty name */
        "<tool_call>{\"name\": 3, \"arguments\": {}}</tool_call>",        /* name not a string */
        "<tool_call>{\"name\": \"f\", \"arguments\": [1]}</tool_call>",   /* arguments not an object */
        "<tool_call>{\"name\": \"f\", \"arguments\": \"oops\"}</tool_call>",
        "<tool_call>{\"name\": \"f\"} trailing</tool_call>",
        "<tool_call>{\"name\": \"f\\u0000g\"}</tool_call>",
        "<tool_call>\n\n</tool_call>",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        expect_plain(CHAT_OUTPUT_HERMES, &TOOLS, bad[i], bad[i], "", true);

    /* a bad call does not hide a good one after it; indices start at 0 */
    chat_output_parser *p = check(CHAT_OUTPUT_HERMES, &TOOLS,
                                  "<tool_call>{oops}</tool_call>\n<tool_call>{\"name\": \"g\", \"arguments\": "
                                  "{}}</tool_call>");
    expect_text(p, "<tool_call>{oops}</tool_call>", "");
    assert_true(chat_output_malformed(p));
    assert_int_equal(chat_output_tool_call_count(p), 1);
    expect_call(p, 0, "g", "{}");
    chat_output_free(p);
}

static void test_partial_tags(void **state)
{
    (void)state;
    chat_output_parser *p = chat_output_new(CHAT_OUTPUT_HERMES, &TOOLS);
    sink k = {.check_utf8 = true, .last = -1};
    assert_int_equal(push_s(p, "I use a <tool", &k), 0);
    /* the tag may be starting: held, and the space before it too */
    assert_string_equal(k.content.p, "I use a");
    assert_int_equal(push_s(p, "box daily.", &k), 0);
    assert_string_equal(k.content.p, "I use a <toolbox daily.");
    assert_int_equal(push_s(p, " <tool_call", &k), 0);
    assert_string_equal(k.content.p, "I use a <toolbox daily.");
    assert_int_equal(chat_output_finish(p, on_delta, &k), 0);
    assert_string_equal(k.content.p, "I use a <toolbox daily. <tool_call");
    check_sink_matches(p, &k);
    assert_false(chat_output_malformed(p));
    chat_output_free(p);
    sink_free(&k);

    /* reasoning holds a possible </think> and its newlines the same way */
    p = chat_output_new(CHAT_OUTPUT_HERMES, &THINK);
    k = (sink){.check_utf8 = true, .last = -1};
    assert_int_equal(push_s(p, "<think>\nab\n</th", &k), 0);
    assert_string_equal(k.reasoning.p, "ab");
    assert_int_equal(push_s(p, "ought>", &k), 0);
    assert_string_equal(k.reasoning.p, "ab\n</thought>");
    assert_int_equal(chat_output_finish(p, on_delta, &k), 0);
    check_sink_matches(p, &k);
    chat_output_free(p);
    sink_free(&k);

    expect_plain(CHAT_OUTPUT_HERMES, &TOOLS, "<tool<tool <tool_cal>", "<tool<tool <tool_cal>", "", false);
    expect_plain(CHAT_OUTPUT_LLAMA3, &TOOLS, "x <|python", "x <|python", "", false);
    /* without tools nothing is held for tags */
    p = chat_output_new(CHAT_OUTPUT_HERMES, &NONE);
    k = (sink){.check_utf8 = true, .last = -1};
    assert_int_equal(push_s(p, "a <tool", &k), 0);
    assert_string_equal(k.content.p, "a <tool");
    assert_int_equal(push_s(p, "_call>{}", &k), 0);
    assert_int_equal(chat_output_finish(p, on_delta, &k), 0);
    assert_string_equal(chat_output_content(p, NULL), "a <tool_call>{}");
    chat_output_free(p);
    sink_free(&k);
}

static void test_unicode(void **state)
{
    (void)state;
    chat_output_parser *p = check(CHAT_OUTPUT_HERMES, &THINK_TOOLS,
                                  "<think>\nDenken über Grüße 👋\n</think>\n\n你好, 世界! 🌍\n<tool_call>\n"
                                  "{\"name\": \"say\", \"arguments\": {\"text\": \"héllo 🌍\", \"e\": \"\\u00e9\"}}"
                                  "\n</tool_call>");
    expect_text(p, "你好, 世界! 🌍", "Denken über Grüße 👋");
    expect_call(p, 0, "say", "{\"text\": \"héllo 🌍\", \"e\": \"\\u00e9\"}");
    chat_output_free(p);
    /* streaming deltas never split a character (checked in every cut) */
    expect_plain(CHAT_OUTPUT_GENERIC, &NONE, "ÿ€𝄞中文 ok", "ÿ€𝄞中文 ok", "", false);
    expect_plain(CHAT_OUTPUT_HERMES, &OPENED, "思考\n</think>\n\n答え", "答え", "思考", false);
    /* invalid bytes pass through untouched */
    expect_plain(CHAT_OUTPUT_HERMES, &TOOLS, "a\xff\xfe b\xe2", "a\xff\xfe b\xe2", "", false);
}

static void test_llama3(void **state)
{
    (void)state;
    struct {
        const char *text, *content;
        int n;
        const char *name[2], *args[2];
    } ok[] = {
        /* the form the Llama 3.1/3.2 templates write back */
        {"{\"name\": \"get_weather\", \"parameters\": {\"city\": \"Paris\"}}", "", 1, {"get_weather"},
         {"{\"city\": \"Paris\"}"}},
        {"<|python_tag|>{\"name\": \"get_weather\", \"parameters\": {\"city\": \"Paris\"}}", "", 1,
         {"get_weather"}, {"{\"city\": \"Paris\"}"}},
        {"\n{\"type\": \"function\", \"name\": \"f\", \"arguments\": {\"a\": [1, 2]}}\n", "", 1, {"f"},
         {"{\"a\": [1, 2]}"}},
        {"{\"name\": \"a\", \"parameters\": {}}; {\"name\": \"b\", \"parameters\": {\"x\": true}}", "", 2,
         {"a", "b"}, {"{}", "{\"x\": true}"}},
        {"[{\"name\": \"a\", \"parameters\": {}}, {\"name\": \"b\", \"parameters\": {}}]", "", 2, {"a", "b"},
         {"{}", "{}"}},
        {"Checking.\n<|python_tag|>{\"name\": \"f\", \"parameters\": {}}", "Checking.", 1, {"f"}, {"{}"}},
        /* after the tag the arguments key may be missing */
        {"<|python_tag|>{\"name\": \"f\"}", "", 1, {"f"}, {"{}"}},
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        chat_output_parser *p = check(CHAT_OUTPUT_LLAMA3, &TOOLS, ok[i].text);
        expect_text(p, ok[i].content, "");
        assert_int_equal(chat_output_tool_call_count(p), ok[i].n);
        for (int c = 0; c < ok[i].n; c++)
            expect_call(p, c, ok[i].name[c], ok[i].args[c]);
        assert_false(chat_output_malformed(p));
        chat_output_free(p);
    }

    /* JSON that is not a call is the answer itself */
    expect_plain(CHAT_OUTPUT_LLAMA3, &TOOLS, " {\"answer\": 42}", " {\"answer\": 42}", "", false);
    expect_plain(CHAT_OUTPUT_LLAMA3, &TOOLS, "[1, 2, 3] are numbers", "[1, 2, 3] are numbers", "", false);
    expect_plain(CHAT_OUTPUT_LLAMA3, &TOOLS, "[", "[", "", false);
    /* looked like a call, was not one */
    expect_plain(CHAT_OUTPUT_LLAMA3, &TOOLS, "{\"name\": \"Bob\", \"age\": 3}", "{\"name\": \"Bob\", \"age\": 3}",
                 "", true);
    const char *cut = "{\"name\": \"get_weather\", \"parameters\": {\"city\": \"Par";
    expect_plain(CHAT_OUTPUT_LLAMA3, &TOOLS, cut, cut, "", true);
    expect_plain(CHAT_OUTPUT_LLAMA3, &TOOLS, "{\"name\": \"f\", \"parameters\": {}} and more",
                 "{\"name\": \"f\", \"parameters\": {}} and more", "", true);
    /* builtin-tool syntax after the tag is not supported: content, flagged */
    expect_plain(CHAT_OUTPUT_LLAMA3, &TOOLS, "Ok <|python_tag|>brave_search.call(query=\"weather\")",
                 "Ok <|python_tag|>brave_search.call(query=\"weather\")", "", true);
    /* <tool_call> means nothing to Llama 3 */
    expect_plain(CHAT_OUTPUT_LLAMA3, &TOOLS, "<tool_call>{\"name\": \"f\"}</tool_call>",
                 "<tool_call>{\"name\": \"f\"}</tool_call>", "", false);

    /* with the request's tool names, only those count as calls */
    const char *names[] = {"get_weather", NULL};
    chat_output_options o = TOOLS;
    o.tool_names = names;
    o.n_tool_names = 2;
    expect_plain(CHAT_OUTPUT_LLAMA3, &o, "{\"name\": \"other\", \"parameters\": {}}",
                 "{\"name\": \"other\", \"parameters\": {}}", "", true);
    chat_output_parser *p = check(CHAT_OUTPUT_LLAMA3, &o, "{\"name\": \"get_weather\", \"parameters\": {}}");
    expect_call(p, 0, "get_weather", "{}");
    chat_output_free(p);

    /* text that cannot be a call streams before the end */
    p = chat_output_new(CHAT_OUTPUT_LLAMA3, &TOOLS);
    sink k = {.check_utf8 = true, .last = -1};
    assert_int_equal(push_s(p, "The weather is", &k), 0);
    assert_string_equal(k.content.p, "The weather is");
    assert_int_equal(push_s(p, " {\"a\":1}", &k), 0);
    assert_int_equal(chat_output_finish(p, on_delta, &k), 0);
    assert_string_equal(chat_output_content(p, NULL), "The weather is {\"a\":1}");
    assert_int_equal(chat_output_tool_call_count(p), 0);
    chat_output_free(p);
    sink_free(&k);
    /* a JSON message is held to the end */
    p = chat_output_new(CHAT_OUTPUT_LLAMA3, &TOOLS);
    k = (sink){.check_utf8 = true, .last = -1};
    const char *msg = "{\"name\": \"f\", \"parameters\": {}}";
    assert_int_equal(chat_output_push(p, msg, strlen(msg), on_delta, &k), 0);
    assert_int_equal(k.log.len, 0);
    assert_int_equal(chat_output_finish(p, on_delta, &k), 0);
    assert_int_equal(k.n_begin, 1);
    chat_output_free(p);
    sink_free(&k);
}

static void test_generic(void **state)
{
    (void)state;
    chat_output_parser *p =
        check(CHAT_OUTPUT_GENERIC, &TOOLS, "<tool_call>\n{\"name\": \"f\", \"arguments\": {\"q\": \"x\"}}\n</tool_call>");
    expect_call(p, 0, "f", "{\"q\": \"x\"}");
    chat_output_free(p);
    p = check(CHAT_OUTPUT_GENERIC, &TOOLS, "{\"name\": \"f\", \"arguments\": {\"q\": \"x\"}}");
    expect_text(p, "", "");
    expect_call(p, 0, "f", "{\"q\": \"x\"}");
    chat_output_free(p);
    p = check(CHAT_OUTPUT_GENERIC, &THINK_TOOLS, "<think>hm</think>\n[{\"name\": \"f\", \"arguments\": {}}]");
    expect_text(p, "", "hm");
    expect_call(p, 0, "f", "{}");
    chat_output_free(p);
    /* JSON inside prose is not a call; Hermes never takes a bare message */
    expect_plain(CHAT_OUTPUT_GENERIC, &TOOLS, "Sure! {\"name\": \"f\", \"arguments\": {}}",
                 "Sure! {\"name\": \"f\", \"arguments\": {}}", "", false);
    expect_plain(CHAT_OUTPUT_HERMES, &TOOLS, "{\"name\": \"f\", \"arguments\": {}}",
                 "{\"name\": \"f\", \"arguments\": {}}", "", false);
    /* tools off: everything is content */
    expect_plain(CHAT_OUTPUT_GENERIC, &NONE, "{\"name\": \"f\", \"arguments\": {}}",
                 "{\"name\": \"f\", \"arguments\": {}}", "", false);
    expect_plain(CHAT_OUTPUT_GENERIC, &NONE, "<tool_call>{\"name\": \"f\"}</tool_call>",
                 "<tool_call>{\"name\": \"f\"}</tool_call>", "", false);
}

static void test_xml_function_form(void **state)
{
    (void)state;
    chat_output_parser *p = check(CHAT_OUTPUT_HERMES, &TOOLS,
                                  "I'll look.\n\n<tool_call>\n<function=get_weather>\n<parameter=city>\nSan "
                                  "Francisco\n</parameter>\n<parameter=days>\n3\n</parameter>\n<parameter=opts>\n"
                                  "{\"units\": [\"C\"]}\n</parameter>\n<parameter=note>\nsay \"hi\"\nline 2\n"
                                  "</parameter>\n</function>\n</tool_call>");
    expect_text(p, "I'll look.", "");
    expect_call(p, 0, "get_weather",
                "{\"city\": \"San Francisco\", \"days\": 3, \"opts\": {\"units\": [\"C\"]}, "
                "\"note\": \"say \\\"hi\\\"\\nline 2\"}");
    chat_output_free(p);
    p = check(CHAT_OUTPUT_HERMES, &TOOLS, "<tool_call>\n<function=ping>\n</function>\n</tool_call>");
    expect_call(p, 0, "ping", "{}");
    chat_output_free(p);
    const char *bad[] = {
        "<tool_call>\n<function=f>\n<parameter=a>\n1\n</parameter>\n</tool_call>",
        "<tool_call>\n<function=>\n</function>\n</tool_call>",
        "<tool_call>\n<function=f>\n<parameter=a>\n1\n</function>\n</tool_call>",
        "<tool_call>\n<function=f>\nstray</function>\n</tool_call>",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        expect_plain(CHAT_OUTPUT_HERMES, &TOOLS, bad[i], bad[i], "", true);
}

static void test_ids(void **state)
{
    (void)state;
    const char *two = "<tool_call>{\"name\": \"a\"}</tool_call><tool_call>{\"name\": \"b\"}</tool_call>";
    chat_output_options o = TOOLS;
    chat_output_parser *p1 = check(CHAT_OUTPUT_HERMES, &o, two);
    chat_output_parser *p2 = check(CHAT_OUTPUT_HERMES, &o, two);
    o.id_seed++;
    chat_output_parser *p3 = check(CHAT_OUTPUT_HERMES, &o, two);
    for (int i = 0; i < 2; i++) {
        const char *id = chat_output_tool_call(p1, i)->id;
        assert_string_equal(id, chat_output_tool_call(p2, i)->id);
        assert_string_not_equal(id, chat_output_tool_call(p3, i)->id);
        for (int c = 5; c < 29; c++)
            assert_true((id[c] >= 'a' && id[c] <= 'z') || (id[c] >= 'A' && id[c] <= 'Z') ||
                        (id[c] >= '0' && id[c] <= '9'));
    }
    assert_string_not_equal(chat_output_tool_call(p1, 0)->id, chat_output_tool_call(p1, 1)->id);
    chat_output_free(p1);
    chat_output_free(p2);
    chat_output_free(p3);
}

static void test_api_misuse(void **state)
{
    (void)state;
    chat_output_parser *p = chat_output_new(CHAT_OUTPUT_HERMES, &TOOLS);
    assert_string_equal(chat_output_content(p, NULL), "");
    assert_string_equal(chat_output_reasoning(p, NULL), "");
    assert_int_equal(chat_output_push(p, "hi", 2, NULL, NULL), 0);
    assert_int_equal(chat_output_finish(p, NULL, NULL), 0);
    assert_string_equal(chat_output_content(p, NULL), "hi");
    assert_int_equal(chat_output_push(p, "x", 1, NULL, NULL), -1);
    assert_int_equal(chat_output_finish(p, NULL, NULL), -1);
    assert_string_equal(chat_output_content(p, NULL), "hi");
    chat_output_free(p);
    chat_output_free(NULL);
    /* the options' strings are copied */
    char name[8] = "f";
    const char *names[] = {name};
    chat_output_options o = {.tools_enabled = true, .tool_names = names, .n_tool_names = 1};
    p = chat_output_new(CHAT_OUTPUT_GENERIC, &o);
    name[0] = 'g';
    const char *t = "{\"name\": \"f\", \"arguments\": {}}";
    assert_int_equal(chat_output_push(p, t, strlen(t), NULL, NULL), 0);
    assert_int_equal(chat_output_finish(p, NULL, NULL), 0);
    assert_int_equal(chat_output_tool_call_count(p), 1);
    chat_output_free(p);
}

/* Random texts built from tag fragments, JSON pieces and multibyte
 * characters: whatever they are, cutting them must not change the result. */
static void test_random_texts_split_invariant(void **state)
{
    (void)state;
    static const char *const frag[] = {
        "<think>", "</think>", "<tool_call>", "</tool_call>", "<|python_tag|>", "<tool", "</thi", "<", "\n",
        " ", "x", "é", "🌍", "{", "}", "[", "]", "\"", "\"name\"", ": ", ", ", ";", "\"f\"", "{}",
        "{\"name\": \"f\", \"arguments\": {\"a\": 1}}", "{\"name\": \"g\", \"parameters\": {}}",
        "<function=f>", "</function>", "<parameter=a>", "</parameter>",
    };
    const int nfrag = (int)(sizeof frag / sizeof frag[0]);
    const chat_output_options *opts[] = {&NONE, &TOOLS, &THINK_TOOLS, &OPENED};
    rng_state = 0xC0FFEE;
    for (int t = 0; t < 60; t++) {
        char text[512] = "";
        int parts = 1 + (int)(rng() % 12);
        for (int i = 0; i < parts; i++)
            strcat(text, frag[rng() % (uint64_t)nfrag]);
        for (int f = CHAT_OUTPUT_GENERIC; f <= CHAT_OUTPUT_LLAMA3; f++)
            for (size_t o = 0; o < sizeof opts / sizeof opts[0]; o++)
                chat_output_free(check(f, opts[o], text));
    }
}

static char *read_template(const char *rel)
{
    const char *root = getenv("RKSERVE_SOURCE_DIR");
    assert_non_null(root);
    char path[1024];
    snprintf(path, sizeof path, "%s/tests/templates/%s", root, rel);
    FILE *f = fopen(path, "rb");
    if (!f)
        fail_msg("cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    assert_non_null(s);
    assert_int_equal(fread(s, 1, (size_t)n, f), (size_t)n);
    s[n] = 0;
    fclose(f);
    return s;
}

static void test_detect(void **state)
{
    (void)state;
    struct {
        const char *file;
        chat_output_format want;
    } cases[] = {
        {"qwen2.5-instruct.jinja", CHAT_OUTPUT_HERMES},  {"qwen2.5-gguf.jinja", CHAT_OUTPUT_HERMES},
        {"qwen3.jinja", CHAT_OUTPUT_HERMES},             {"llama3.1-instruct.jinja", CHAT_OUTPUT_LLAMA3},
        {"llama3.2-instruct.jinja", CHAT_OUTPUT_LLAMA3}, {"llama3-instruct.jinja", CHAT_OUTPUT_LLAMA3},
        {"gemma3-it.jinja", CHAT_OUTPUT_GENERIC},        {"smollm2-instruct.jinja", CHAT_OUTPUT_GENERIC},
        {"smolvlm-instruct.jinja", CHAT_OUTPUT_GENERIC},
        {"extra/hf-NousResearch_Hermes-2-Pro-Llama-3-8B__JSON_Schema_.jinja", CHAT_OUTPUT_HERMES},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *t = read_template(cases[i].file);
        chat_output_format got = chat_output_format_detect(chat_builtin_detect(t, NULL), t);
        if (got != cases[i].want)
            fail_msg("%s: %s", cases[i].file, chat_output_format_name(got));
        free(t);
    }
    /* no template: the family decides */
    assert_int_equal(chat_output_format_detect(CHAT_LLAMA3, NULL), CHAT_OUTPUT_LLAMA3);
    assert_int_equal(chat_output_format_detect(CHAT_CHATML, NULL), CHAT_OUTPUT_GENERIC);
    assert_int_equal(chat_output_format_detect(CHAT_GEMMA, ""), CHAT_OUTPUT_GENERIC);
    assert_string_equal(chat_output_format_name(CHAT_OUTPUT_HERMES), "hermes");
    assert_string_equal(chat_output_format_name(CHAT_OUTPUT_LLAMA3), "llama3");
    assert_string_equal(chat_output_format_name(CHAT_OUTPUT_GENERIC), "generic");
}

/* Renders a finished conversation with the real template and returns the
 * last assistant turn as the model would have generated it. */
static char *render_last_turn(const char *file, const char *context_json, const char *open, const char *close)
{
    char *src = read_template(file);
    char err[256];
    jinja_template *t = jinja_parse(src, strlen(src), err, sizeof err);
    if (!t)
        fail_msg("%s: %s", file, err);
    json_error_t jerr;
    json_t *ctx = json_loads(context_json, 0, &jerr);
    if (!ctx)
        fail_msg("context: %s", jerr.text);
    jinja_options jo = {.now = 1741338300};
    char *out = jinja_render_ex(t, ctx, &jo, NULL, err, sizeof err);
    if (!out)
        fail_msg("%s: %s", file, err);
    char *last = NULL;
    for (char *q = strstr(out, open); q; q = strstr(q + 1, open))
        last = q;
    assert_non_null(last);
    last += strlen(open);
    char *end = strstr(last, close);
    assert_non_null(end);
    char *turn = strndup(last, (size_t)(end - last));
    free(out);
    json_decref(ctx);
    jinja_free(t);
    free(src);
    return turn;
}

static void expect_args_json(const chat_tool_call *c, const char *want)
{
    json_error_t e;
    json_t *a = json_loads(c->arguments, 0, &e), *b = json_loads(want, 0, &e);
    assert_non_null(a);
    assert_non_null(b);
    if (!json_equal(a, b))
        fail_msg("arguments %s, want %s", c->arguments, want);
    json_decref(a);
    json_decref(b);
}

#define TOOLS_JSON                                                                                              \
    "\"tools\": [{\"type\": \"function\", \"function\": {\"name\": \"get_weather\", \"description\": \"Weather\", " \
    "\"parameters\": {\"type\": \"object\", \"properties\": {\"city\": {\"type\": \"string\", "         \
    "\"description\": \"City name\"}}}}}]"
#define ARGS1 "{\"city\": \"Paris\", \"days\": 3, \"opts\": {\"units\": [\"C\", \"F\"]}}"
#define ARGS2 "{\"city\": \"東京\"}"

static void test_template_round_trip(void **state)
{
    (void)state;
    const char *two_calls =
        "{" TOOLS_JSON ", \"add_generation_prompt\": false, \"bos_token\": \"<|begin_of_text|>\", \"messages\": ["
        "{\"role\": \"user\", \"content\": \"Weather in Paris and Tokyo?\"},"
        "{\"role\": \"assistant\", \"content\": \"I'll check both.\", \"reasoning_content\": \"Two cities.\","
        " \"tool_calls\": [{\"type\": \"function\", \"function\": {\"name\": \"get_weather\", \"arguments\": " ARGS1
        "}}, {\"type\": \"function\", \"function\": {\"name\": \"get_weather\", \"arguments\": " ARGS2 "}}]}]}";
    struct {
        const char *file;
        chat_output_format fmt;
        const char *reasoning;
    } chatml[] = {
        {"qwen3.jinja", CHAT_OUTPUT_HERMES, "Two cities."},
        {"qwen2.5-instruct.jinja", CHAT_OUTPUT_HERMES, ""},
        {"qwen2.5-gguf.jinja", CHAT_OUTPUT_GENERIC, ""},
        {"extra/hf-Qwen_Qwen3.5-4B.jinja", CHAT_OUTPUT_HERMES, "Two cities."},
    };
    for (size_t i = 0; i < sizeof chatml / sizeof chatml[0]; i++) {
        char *turn = render_last_turn(chatml[i].file, two_calls, "<|im_start|>assistant\n", "<|im_end|>");
        chat_output_parser *p = check(chatml[i].fmt, &THINK_TOOLS, turn);
        if (strcmp(chat_output_content(p, NULL), "I'll check both.") ||
            strcmp(chat_output_reasoning(p, NULL), chatml[i].reasoning) || chat_output_tool_call_count(p) != 2)
            fail_msg("%s: turn %s\ngave content [%s] reasoning [%s] %d calls", chatml[i].file, turn,
                     chat_output_content(p, NULL), chat_output_reasoning(p, NULL), chat_output_tool_call_count(p));
        for (int c = 0; c < 2; c++)
            assert_string_equal(chat_output_tool_call(p, c)->name, "get_weather");
        expect_args_json(chat_output_tool_call(p, 0), ARGS1);
        expect_args_json(chat_output_tool_call(p, 1), ARGS2);
        chat_output_free(p);
        free(turn);
    }

    /* Llama 3.1/3.2 take one call per turn */
    const char *one_call =
        "{" TOOLS_JSON ", \"add_generation_prompt\": false, \"bos_token\": \"<|begin_of_text|>\", \"messages\": ["
        "{\"role\": \"user\", \"content\": \"Weather in Paris?\"},"
        "{\"role\": \"assistant\", \"tool_calls\": [{\"type\": \"function\", \"function\": {\"name\": "
        "\"get_weather\", \"arguments\": " ARGS1 "}}]}]}";
    const char *llama[] = {"llama3.1-instruct.jinja", "llama3.2-instruct.jinja"};
    const char *names[] = {"get_weather"};
    chat_output_options o = TOOLS;
    o.tool_names = names;
    o.n_tool_names = 1;
    for (size_t i = 0; i < sizeof llama / sizeof llama[0]; i++) {
        char *turn =
            render_last_turn(llama[i], one_call, "<|start_header_id|>assistant<|end_header_id|>\n\n", "<|eot_id|>");
        chat_output_parser *p = check(CHAT_OUTPUT_LLAMA3, &o, turn);
        expect_text(p, "", "");
        assert_int_equal(chat_output_tool_call_count(p), 1);
        assert_string_equal(chat_output_tool_call(p, 0)->name, "get_weather");
        expect_args_json(chat_output_tool_call(p, 0), ARGS1);
        chat_output_free(p);
        free(turn);
    }

    /* Hermes 2 Pro writes "arguments" before "name" (and has no content) */
    char *turn = render_last_turn("extra/hf-NousResearch_Hermes-2-Pro-Llama-3-8B__JSON_Schema_.jinja", one_call,
                                  "<|im_start|>assistant\n", "<|im_end|>");
    chat_output_parser *p = check(CHAT_OUTPUT_HERMES, &TOOLS, turn);
    expect_text(p, "", "");
    assert_int_equal(chat_output_tool_call_count(p), 1);
    assert_string_equal(chat_output_tool_call(p, 0)->name, "get_weather");
    expect_args_json(chat_output_tool_call(p, 0), ARGS1);
    chat_output_free(p);
    free(turn);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plain_content),
        cmocka_unit_test(test_thinking),
        cmocka_unit_test(test_thinking_opened_by_prompt),
        cmocka_unit_test(test_hermes_calls),
        cmocka_unit_test(test_unterminated_call),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_partial_tags),
        cmocka_unit_test(test_unicode),
        cmocka_unit_test(test_llama3),
        cmocka_unit_test(test_generic),
        cmocka_unit_test(test_xml_function_form),
        cmocka_unit_test(test_ids),
        cmocka_unit_test(test_api_misuse),
        cmocka_unit_test(test_random_texts_split_invariant),
        cmocka_unit_test(test_detect),
        cmocka_unit_test(test_template_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
