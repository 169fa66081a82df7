/* Pre-tokenizer scanners. Each match_* function returns the length (in code
 * points, >= 1) of the regex match starting at i, trying the alternatives in
 * the pattern's order, as a backtracking regex engine would. */
#include "engine/cpu/pretokenize.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engine/cpu/unicode.h"

static const struct {
    const char *name;
    pretok_kind kind;
} pretok_names[] = {
    {"gpt2", PRETOK_GPT2},           {"gpt-2", PRETOK_GPT2},
    {"default", PRETOK_GPT2},        {"phi-2", PRETOK_GPT2},
    {"roberta-bpe", PRETOK_GPT2},    {"llama3", PRETOK_LLAMA3},
    {"llama-v3", PRETOK_LLAMA3},     {"llama-bpe", PRETOK_LLAMA3},
    {"falcon3", PRETOK_LLAMA3},      {"qwen2", PRETOK_QWEN2},
    {"deepseek-r1-qwen", PRETOK_QWEN2}, {"smollm", PRETOK_SMOLLM},
};

bool pretok_kind_from_name(const char *name, pretok_kind *out)
{
    if (name) {
        for (size_t i = 0; i < sizeof pretok_names / sizeof pretok_names[0]; i++) {
            if (strcmp(name, pretok_names[i].name) == 0) {
                *out = pretok_names[i].kind;
                return true;
            }
        }
    }
    *out = PRETOK_GPT2;
    return false;
}

const char *pretok_kind_name(pretok_kind k)
{
    switch (k) {
    case PRETOK_GPT2:
        return "gpt2";
    case PRETOK_LLAMA3:
        return "llama3";
    case PRETOK_QWEN2:
        return "qwen2";
    case PRETOK_SMOLLM:
        return "smollm";
    }
    return "?";
}

#define IS_L(x) ((x) & UF_LETTER)
#define IS_N(x) ((x) & UF_NUMBER)
#define IS_S(x) ((x) & UF_SPACE)
#define IS_NL(x) ((x) & UF_NEWLINE)
/* [^\s\p{L}\p{N}] */
#define IS_OTHER(x) (!((x) & (UF_SPACE | UF_LETTER | UF_NUMBER)))

static uint32_t ascii_lower(uint32_t c)
{
    return (c >= 'A' && c <= 'Z') ? c + 32 : c;
}

/* 's|'t|'re|'ve|'m|'ll|'d, case-folded on ASCII only when fold is set */
static size_t match_contraction(const uint32_t *c, size_t i, size_t n, bool fold)
{
    if (c[i] != '\'' || i + 1 >= n)
        return 0;
    uint32_t a = fold ? ascii_lower(c[i + 1]) : c[i + 1];
    if (a == 's' || a == 't' || a == 'm' || a == 'd')
        return 2;
    if (i + 2 < n) {
        uint32_t b = fold ? ascii_lower(c[i + 2]) : c[i + 2];
        if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l'))
            return 3;
    }
    return 0;
}

/* The whitespace tail shared by both patterns: \s+(?!\S)|\s+ over the run
 * [i, e) of spaces. Backtracking \s+ by one character leaves a space as the
 * next character, so the lookahead succeeds unless the run is a single
 * character followed by non-space. */
static size_t match_space_tail(size_t i, size_t e, size_t n)
{
    if (e == n || e - i < 2)
        return e - i;
    return e - i - 1;
}

static size_t match_gpt2(const uint32_t *c, const uint8_t *f, size_t i, size_t n)
{
    size_t k = match_contraction(c, i, n, false);
    if (k)
        return k;
    /* ` ?X+` for X = \p{L}, \p{N}, other: a leading ' ' belongs to the piece
     * only when an X follows it */
    size_t b = (c[i] == ' ' && i + 1 < n) ? i + 1 : i;
    size_t j = b;
    if (IS_L(f[b])) {
        while (j < n && IS_L(f[j]))
            j++;
        return j - i;
    }
    if (IS_N(f[b])) {
        while (j < n && IS_N(f[j]))
            j++;
        return j - i;
    }
    if (IS_OTHER(f[b])) {
        while (j < n && IS_OTHER(f[j]))
            j++;
        return j - i;
    }
    /* c[i] is a space */
    j = i;
    while (j < n && IS_S(f[j]))
        j++;
    return match_space_tail(i, j, n);
}

static size_t match_llama3(const uint32_t *c, const uint8_t *f, size_t i, size_t n, size_t max_digits)
{
    size_t k = match_contraction(c, i, n, true);
    if (k)
        return k;
    size_t j;
    /* [^\r\n\p{L}\p{N}]?\p{L}+ */
    if (!(f[i] & (UF_LETTER | UF_NUMBER | UF_NEWLINE)) && i + 1 < n && IS_L(f[i + 1])) {
        j = i + 2;
        while (j < n && IS_L(f[j]))
            j++;
        return j - i;
    }
    if (IS_L(f[i])) {
        j = i + 1;
        while (j < n && IS_L(f[j]))
            j++;
        return j - i;
    }
    /* \p{N}{1,max} */
    if (IS_N(f[i])) {
        j = i + 1;
        while (j < n && j - i < max_digits && IS_N(f[j]))
            j++;
        return j - i;
    }
    /*  ?[^\s\p{L}\p{N}]+[\r\n]* */
    j = (c[i] == ' ' && i + 1 < n && IS_OTHER(f[i + 1])) ? i + 1 : i;
    if (IS_OTHER(f[j])) {
        while (j < n && IS_OTHER(f[j]))
            j++;
        while (j < n && IS_NL(f[j]))
            j++;
        return j - i;
    }
    /* c[i] is a space; e ends the run of spaces */
    size_t e = i;
    while (e < n && IS_S(f[e]))
        e++;
    /* \s*[\r\n]+ : greedy \s* backs off to the last newline of the run, and
     * [\r\n]+ then stops right after it */
    size_t p = e;
    while (p > i && !IS_NL(f[p - 1]))
        p--;
    if (p > i)
        return p - i;
    return match_space_tail(i, e, n);
}

static int push_span(pretok_spans *out, size_t off, size_t len)
{
    if (out->n == out->cap) {
        size_t cap = out->cap ? out->cap * 2 : 64;
        pretok_span *v = realloc(out->v, cap * sizeof *v);
        if (!v)
            return -1;
        out->v = v;
        out->cap = cap;
    }
    out->v[out->n].off = off;
    out->v[out->n].len = len;
    out->n++;
    return 0;
}

/* Runs one scanner over code points [start, end) as if they were the whole
 * input (lookaheads stop at end). */
static int scan(pretok_kind kind, const uint32_t *c, const uint8_t *f, const size_t *off, size_t start,
                size_t end, pretok_spans *out)
{
    size_t i = start;
    while (i < end) {
        size_t k;
        switch (kind) {
        case PRETOK_LLAMA3:
            k = match_llama3(c + start, f + start, i - start, end - start, 3);
            break;
        case PRETOK_QWEN2:
            k = match_llama3(c + start, f + start, i - start, end - start, 1);
            break;
        default:
            k = match_gpt2(c + start, f + start, i - start, end - start);
            break;
        }
        if (push_span(out, off[i], off[i + k] - off[i]))
            return -1;
        i += k;
    }
    return 0;
}

int pretokenize(pretok_kind kind, const char *text, size_t len, pretok_spans *out)
{
    if (len == 0)
        return 0;
    /* one extra slot for the end offset */
    uint32_t *c = malloc((len + 1) * sizeof *c);
    uint8_t *f = malloc(len + 1);
    size_t *off = malloc((len + 1) * sizeof *off);
    int rc = -1;
    if (!c || !f || !off)
        goto done;
    const unsigned char *s = (const unsigned char *)text;
    size_t n = 0;
    for (size_t p = 0; p < len;) {
        size_t k;
        uint32_t cp = utf8_decode(s + p, len - p, &k);
        c[n] = cp;
        f[n] = (uint8_t)((cp & UNICODE_INVALID_BASE) ? 0 : unicode_flags(cp));
        off[n] = p;
        n++;
        p += k;
    }
    c[n] = 0;
    f[n] = 0;
    off[n] = len;

    if (kind == PRETOK_SMOLLM) {
        size_t i = 0;
        while (i < n) {
            if (IS_N(f[i])) {
                if (push_span(out, off[i], off[i + 1] - off[i]))
                    goto done;
                i++;
                continue;
            }
            size_t j = i;
            while (j < n && !IS_N(f[j]))
                j++;
            if (scan(PRETOK_GPT2, c, f, off, i, j, out))
                goto done;
            i = j;
        }
        rc = 0;
    } else {
        rc = scan(kind, c, f, off, 0, n, out);
    }
done:
    free(c);
    free(f);
    free(off);
    return rc;
}

void pretok_spans_free(pretok_spans *s)
{
    free(s->v);
    s->v = NULL;
    s->n = s->cap = 0;
}
