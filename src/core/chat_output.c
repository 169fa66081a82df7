/* Streaming split of model output into reasoning, content and tool calls.
 * Input accumulates in `in`; each step looks at the unconsumed part and
 * either settles a prefix of it or waits, so a decision never depends on
 * where the pushes were cut (see chat_output.h for the rules). */
#include "core/chat_output.h"

#include <stdlib.h>
#include <string.h>

#include "core/chat_output_calls.h"
#include "util/strbuf.h"

static const char THINK_OPEN[] = "<think>";
static const char THINK_CLOSE[] = "</think>";
static const char CALL_OPEN[] = "<tool_call>";
static const char CALL_CLOSE[] = "</tool_call>";
static const char PY_TAG[] = "<|python_tag|>";

enum {
    ST_THINK_START,   /* before a possible <think> */
    ST_REASONING,     /* inside the think block */
    ST_CONTENT_START, /* start of the answer: is it whole-message JSON? */
    ST_CONTENT,
    ST_TOOL,          /* after <tool_call>, until </tool_call> */
    ST_WHOLE,         /* held to the end: JSON message or after <|python_tag|> */
};

struct chat_output_parser {
    chat_output_format fmt;
    chat_output_options opt;
    char **names; /* own copy of opt.tool_names */
    int state;
    strbuf in;
    size_t pos;     /* in.p[pos, len) is not consumed yet */
    bool strip_nl;  /* drop newlines at the start of reasoning / of content after </think> */
    bool strip_ws;  /* drop whitespace after a tool call */
    bool tagged;    /* ST_WHOLE began at <|python_tag|> */
    size_t scanned; /* ST_TOOL: bytes from pos known not to start </tool_call> */
    strbuf gap;       /* whitespace dropped before a tag, restored if the call fails */
    strbuf content, reasoning;
    chat_tool_call *calls;
    int n_calls, cap_calls;
    bool malformed, finished, failed;
    chat_output_delta_fn cb;
    void *user;
};

static bool is_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* Index of lit in s[from, n), or n. */
static size_t find_from(const char *s, size_t from, size_t n, const char *lit)
{
    size_t l = strlen(lit);
    while (from + l <= n) {
        const char *q = memchr(s + from, lit[0], n - l + 1 - from);
        if (!q)
            break;
        from = (size_t)(q - s);
        if (memcmp(q, lit, l) == 0)
            return from;
        from++;
    }
    return n;
}

static size_t find(const char *s, size_t n, const char *lit)
{
    return find_from(s, 0, n, lit);
}

/* Bytes at the end of s that may still grow into tag: the longest proper
 * prefix of tag ending s, with the whitespace (or newlines) before it. */
static size_t tag_hold(const char *s, size_t n, const char *tag, bool nl_only)
{
    size_t k = strlen(tag) - 1;
    if (k > n)
        k = n;
    for (; k > 0; k--)
        if (memcmp(s + n - k, tag, k) == 0)
            break;
    while (k < n && (nl_only ? s[n - k - 1] == '\n' : is_ws(s[n - k - 1])))
        k++;
    return k;
}

/* Bytes at the end of s that start a UTF-8 character not yet complete. */
static size_t utf8_tail(const char *s, size_t n)
{
    for (size_t k = 1; k <= 3 && k <= n; k++) {
        unsigned char c = (unsigned char)s[n - k];
        if ((c & 0xC0) == 0x80)
            continue;
        size_t need = c >= 0xC2 && c <= 0xDF ? 2 : c >= 0xE0 && c <= 0xEF ? 3 : c >= 0xF0 && c <= 0xF4 ? 4 : 0;
        return need > k ? k : 0;
    }
    return 0;
}

static bool emit_text(chat_output_parser *p, chat_delta_kind kind, const char *s, size_t n)
{
    if (n == 0)
        return true;
    if (!strbuf_add(kind == CHAT_DELTA_REASONING ? &p->reasoning : &p->content, s, n))
        return false;
    if (p->cb) {
        chat_delta d = {.kind = kind, .text = s, .len = n, .index = -1};
        p->cb(p->user, &d);
    }
    return true;
}

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static char *make_id(uint64_t seed, int index)
{
    static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    char *id = malloc(30);
    if (!id)
        return NULL;
    uint64_t x = seed ^ (0xD1B54A32D192ED03ull * (uint64_t)(index + 1)), r = 0;
    memcpy(id, "call_", 5);
    for (int i = 0; i < 24; i++) {
        if (i % 8 == 0)
            r = splitmix64(&x);
        id[5 + i] = abc[r % 62];
        r /= 62;
    }
    id[29] = 0;
    return id;
}

/* Parses s[0, n) as calls; on success records and emits them. 1, 0 (not
 * calls) or -1 (out of memory). */
static int take_calls(chat_output_parser *p, const char *s, size_t n, const chat_call_rules *rules)
{
    chat_call_list got = {0};
    int rc = chat_calls_parse(s, n, rules, &got);
    if (rc <= 0)
        return rc;
    if (p->cap_calls - p->n_calls < got.n) {
        int cap = p->n_calls + got.n + 4;
        chat_tool_call *v = realloc(p->calls, (size_t)cap * sizeof *v);
        if (!v) {
            chat_call_list_free(&got);
            return -1;
        }
        p->calls = v;
        p->cap_calls = cap;
    }
    for (int i = 0; i < got.n; i++) {
        int index = p->n_calls;
        char *id = make_id(p->opt.id_seed, index);
        if (!id) {
            chat_call_list_free(&got);
            return -1;
        }
        chat_tool_call *c = &p->calls[p->n_calls++];
        c->id = id;
        c->name = got.v[i].name;
        c->arguments = got.v[i].arguments;
        got.v[i].name = got.v[i].arguments = NULL;
        if (p->cb) {
            chat_delta d = {.kind = CHAT_DELTA_TOOL_CALL_BEGIN, .index = index, .id = c->id, .name = c->name};
            p->cb(p->user, &d);
            d.kind = CHAT_DELTA_TOOL_CALL_ARGS;
            d.text = c->arguments;
            d.len = strlen(c->arguments);
            p->cb(p->user, &d);
        }
    }
    chat_call_list_free(&got);
    return 1;
}

/* Drops leading newlines (or any whitespace) while the flag is set; false
 * when everything was dropped and more may come. */
static bool strip_leading(chat_output_parser *p, bool *flag, bool nl_only, const char **s, size_t *n, bool final)
{
    if (!*flag)
        return true;
    size_t i = 0;
    while (i < *n && (nl_only ? (*s)[i] == '\n' : is_ws((*s)[i])))
        i++;
    p->pos += i;
    *s += i;
    *n -= i;
    if (*n == 0 && !final)
        return false;
    *flag = false;
    return true;
}

/* A tag's text that failed as a call goes back to content, as written. */
static bool restore_as_content(chat_output_parser *p, const char *tag, const char *s, size_t n)
{
    p->malformed = true;
    return emit_text(p, CHAT_DELTA_CONTENT, p->gap.p, p->gap.len) &&
           emit_text(p, CHAT_DELTA_CONTENT, tag, strlen(tag)) && emit_text(p, CHAT_DELTA_CONTENT, s, n);
}

/* Settles what it can: 1 when the state moved on (run again), 0 when it
 * needs more input (or, at the end, is done), -1 when out of memory. */
static int step(chat_output_parser *p, bool final)
{
    const char *s = p->in.p + p->pos;
    size_t n = p->in.len - p->pos;
    bool tools = p->opt.tools_enabled;

    switch (p->state) {
    case ST_THINK_START: {
        size_t i = 0, tl = strlen(THINK_OPEN);
        while (i < n && is_ws(s[i]))
            i++;
        size_t rest = n - i;
        if (rest >= tl && memcmp(s + i, THINK_OPEN, tl) == 0) {
            p->pos += i + tl;
            p->state = ST_REASONING;
            p->strip_nl = true;
            return 1;
        }
        if (!final && rest < tl && memcmp(s + i, THINK_OPEN, rest) == 0)
            return 0;
        p->state = p->opt.prompt_opened_think ? ST_REASONING : ST_CONTENT_START;
        p->strip_nl = p->opt.prompt_opened_think;
        return 1;
    }
    case ST_REASONING: {
        if (!strip_leading(p, &p->strip_nl, true, &s, &n, final))
            return 0;
        size_t k = find(s, n, THINK_CLOSE);
        if (k < n || final) {
            size_t e = k;
            while (e > 0 && s[e - 1] == '\n')
                e--;
            if (!emit_text(p, CHAT_DELTA_REASONING, s, e))
                return -1;
            if (k == n) {
                p->pos += n;
                return 0;
            }
            p->pos += k + strlen(THINK_CLOSE);
            p->state = ST_CONTENT_START;
            p->strip_nl = true;
            return 1;
        }
        size_t h = tag_hold(s, n, THINK_CLOSE, true), u = utf8_tail(s, n);
        if (u > h)
            h = u;
        if (!emit_text(p, CHAT_DELTA_REASONING, s, n - h))
            return -1;
        p->pos += n - h;
        return 0;
    }
    case ST_CONTENT_START: {
        if (!strip_leading(p, &p->strip_nl, true, &s, &n, final))
            return 0;
        if (tools && p->fmt != CHAT_OUTPUT_HERMES) {
            size_t i = 0;
            while (i < n && is_ws(s[i]))
                i++;
            if (i == n && !final)
                return 0;
            if (i < n && s[i] == '[') {
                size_t j = i + 1;
                while (j < n && is_ws(s[j]))
                    j++;
                if (j == n && !final)
                    return 0;
                i = j;
            }
            if (i < n && s[i] == '{') {
                p->state = ST_WHOLE;
                p->tagged = false;
                return 1;
            }
        }
        p->state = ST_CONTENT;
        return 1;
    }
    case ST_CONTENT: {
        if (!strip_leading(p, &p->strip_ws, false, &s, &n, final))
            return 0;
        const char *tag = !tools ? NULL : p->fmt == CHAT_OUTPUT_LLAMA3 ? PY_TAG : CALL_OPEN;
        if (tag) {
            size_t k = find(s, n, tag);
            if (k < n) {
                size_t e = k;
                while (e > 0 && is_ws(s[e - 1]))
                    e--;
                if (!emit_text(p, CHAT_DELTA_CONTENT, s, e))
                    return -1;
                p->gap.len = 0;
                if (!strbuf_add(&p->gap, s + e, k - e))
                    return -1;
                p->pos += k + strlen(tag);
                p->state = p->fmt == CHAT_OUTPUT_LLAMA3 ? ST_WHOLE : ST_TOOL;
                p->tagged = true;
                return 1;
            }
        }
        size_t h = 0;
        if (!final) {
            h = tag ? tag_hold(s, n, tag, false) : 0;
            size_t u = utf8_tail(s, n);
            if (u > h)
                h = u;
        }
        if (!emit_text(p, CHAT_DELTA_CONTENT, s, n - h))
            return -1;
        p->pos += n - h;
        return 0;
    }
    case ST_TOOL: {
        /* a long call arrives in many pushes: do not rescan it from the start */
        size_t k = find_from(s, p->scanned, n, CALL_CLOSE);
        if (k == n && !final) {
            size_t tl = strlen(CALL_CLOSE);
            p->scanned = n >= tl ? n - tl + 1 : 0;
            return 0;
        }
        p->scanned = 0;
        bool closed = k < n;
        size_t used = closed ? k + strlen(CALL_CLOSE) : n;
        chat_call_rules rules = {.allow_xml = true};
        int rc = take_calls(p, s, k, &rules);
        if (rc < 0 || (rc == 0 && !restore_as_content(p, CALL_OPEN, s, used)))
            return -1;
        p->gap.len = 0;
        p->pos += used;
        p->state = ST_CONTENT;
        p->strip_ws = rc > 0;
        return 1;
    }
    case ST_WHOLE: {
        if (!final)
            return 0;
        /* an untagged message is only calls when it clearly is one */
        chat_call_rules rules = {
            .require_args = !p->tagged,
            .names = p->tagged ? NULL : (const char *const *)p->names,
            .n_names = p->tagged ? 0 : p->opt.n_tool_names,
        };
        int rc = take_calls(p, s, n, &rules);
        if (rc < 0)
            return -1;
        if (rc == 0) {
            if (p->tagged) {
                if (!restore_as_content(p, PY_TAG, s, n))
                    return -1;
            } else {
                if (find(s, n, "\"name\"") < n)
                    p->malformed = true;
                if (!emit_text(p, CHAT_DELTA_CONTENT, s, n))
                    return -1;
            }
        }
        p->gap.len = 0;
        p->pos += n;
        p->state = ST_CONTENT;
        return 1;
    }
    }
    return 0;
}

static int run(chat_output_parser *p, bool final)
{
    int rc;
    while ((rc = step(p, final)) > 0)
        ;
    if (rc < 0) {
        p->failed = true;
        return -1;
    }
    if (p->pos > 0) {
        memmove(p->in.p, p->in.p + p->pos, p->in.len - p->pos);
        p->in.len -= p->pos;
        p->in.p[p->in.len] = 0;
        p->pos = 0;
    }
    return 0;
}

chat_output_parser *chat_output_new(chat_output_format fmt, const chat_output_options *opt)
{
    chat_output_parser *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->fmt = fmt;
    if (opt)
        p->opt = *opt;
    p->opt.tool_names = NULL;
    if (p->opt.n_tool_names < 0 || !opt || !opt->tool_names)
        p->opt.n_tool_names = 0;
    if (p->opt.n_tool_names > 0) {
        p->names = calloc((size_t)p->opt.n_tool_names, sizeof *p->names);
        if (!p->names)
            goto fail;
        for (int i = 0; i < p->opt.n_tool_names; i++)
            if (opt->tool_names[i] && !(p->names[i] = strdup(opt->tool_names[i])))
                goto fail;
    }
    p->state = p->opt.thinking_enabled ? ST_THINK_START : ST_CONTENT_START;
    /* the accessors hand out "" before anything arrives */
    if (!strbuf_add(&p->in, "", 0) || !strbuf_add(&p->content, "", 0) || !strbuf_add(&p->reasoning, "", 0) ||
        !strbuf_add(&p->gap, "", 0))
        goto fail;
    return p;
fail:
    chat_output_free(p);
    return NULL;
}

void chat_output_free(chat_output_parser *p)
{
    if (!p)
        return;
    for (int i = 0; p->names && i < p->opt.n_tool_names; i++)
        free(p->names[i]);
    free(p->names);
    for (int i = 0; i < p->n_calls; i++) {
        free((char *)p->calls[i].id);
        free((char *)p->calls[i].name);
        free((char *)p->calls[i].arguments);
    }
    free(p->calls);
    free(p->in.p);
    free(p->gap.p);
    free(p->content.p);
    free(p->reasoning.p);
    free(p);
}

int chat_output_push(chat_output_parser *p, const char *text, size_t len, chat_output_delta_fn cb, void *user)
{
    if (p->failed || p->finished)
        return -1;
    if (!strbuf_add(&p->in, text, len)) {
        p->failed = true;
        return -1;
    }
    p->cb = cb;
    p->user = user;
    return run(p, false);
}

int chat_output_finish(chat_output_parser *p, chat_output_delta_fn cb, void *user)
{
    if (p->failed || p->finished)
        return -1;
    p->cb = cb;
    p->user = user;
    p->finished = true;
    return run(p, true);
}

const char *chat_output_content(const chat_output_parser *p, size_t *len)
{
    if (len)
        *len = p->content.len;
    return p->content.p;
}

const char *chat_output_reasoning(const chat_output_parser *p, size_t *len)
{
    if (len)
        *len = p->reasoning.len;
    return p->reasoning.p;
}

int chat_output_tool_call_count(const chat_output_parser *p)
{
    return p->n_calls;
}

const chat_tool_call *chat_output_tool_call(const chat_output_parser *p, int i)
{
    return i >= 0 && i < p->n_calls ? &p->calls[i] : NULL;
}

bool chat_output_has_tool_calls(const chat_output_parser *p)
{
    return p->n_calls > 0;
}

bool chat_output_malformed(const chat_output_parser *p)
{
    return p->malformed;
}

chat_output_format chat_output_format_detect(chat_family family, const char *t)
{
    if (t && strstr(t, CALL_OPEN))
        return CHAT_OUTPUT_HERMES;
    if ((t && strstr(t, PY_TAG)) || family == CHAT_LLAMA3)
        return CHAT_OUTPUT_LLAMA3;
    return CHAT_OUTPUT_GENERIC;
}

const char *chat_output_format_name(chat_output_format f)
{
    switch (f) {
    case CHAT_OUTPUT_HERMES:
        return "hermes";
    case CHAT_OUTPUT_LLAMA3:
        return "llama3";
    case CHAT_OUTPUT_GENERIC:
    default:
        return "generic";
    }
}

bool chat_output_prompt_opens_think(const char *prompt, size_t len)
{
    while (len > 0 && is_ws(prompt[len - 1]))
        len--;
    size_t tl = strlen(THINK_OPEN);
    return len >= tl && memcmp(prompt + len - tl, THINK_OPEN, tl) == 0;
}
