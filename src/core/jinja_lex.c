/* Lexer: the reference's source preprocessing (drop one trailing newline,
 * lstrip_blocks, trim_blocks, remove {% generation %} tags) followed by its
 * tokenizer, including its whitespace-control and unary-minus rules. Every
 * byte of the preprocessed text keeps its offset in the original source so
 * errors point at the right line and column. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/jinja_internal.h"

typedef struct {
    char *s;
    uint32_t *pos;
    size_t n, cap;
    bool oom;
} ptext;

static void pt_put(ptext *t, char c, uint32_t pos)
{
    if (t->oom) return;
    if (t->n + 2 > t->cap) {
        size_t nc = t->cap ? t->cap * 2 : 256;
        char *ns = realloc(t->s, nc);
        if (!ns) { t->oom = true; return; }
        t->s = ns;
        uint32_t *np = realloc(t->pos, nc * sizeof *np);
        if (!np) { t->oom = true; return; }
        t->pos = np;
        t->cap = nc;
    }
    t->s[t->n] = c;
    t->pos[t->n] = pos;
    t->n++;
    t->s[t->n] = 0;
}

static void pt_free(ptext *t)
{
    free(t->s);
    free(t->pos);
    memset(t, 0, sizeof *t);
}

/* JavaScript regexes with the m flag start a line after \n, \r, U+2028, U+2029. */
static bool line_start(const ptext *t, size_t i)
{
    if (i == 0) return true;
    unsigned char c = (unsigned char)t->s[i - 1];
    if (c == '\n' || c == '\r') return true;
    return i >= 3 && (unsigned char)t->s[i - 3] == 0xe2 && (unsigned char)t->s[i - 2] == 0x80 &&
           (c == 0xa8 || c == 0xa9);
}

static bool space_at(const ptext *t, size_t i, size_t *next)
{
    if (i >= t->n) return false;
    size_t j = i;
    uint32_t cp = jutf8_next(t->s, t->n, &j);
    if (!jjs_is_space(cp)) return false;
    *next = j;
    return true;
}

/* Matches {%-? \s* (end)?generation \s* -?%} at i; returns its end or 0. */
static size_t generation_tag(const ptext *t, size_t i, bool *lstrip, bool *rstrip)
{
    if (i + 2 > t->n || t->s[i] != '{' || t->s[i + 1] != '%') return 0;
    size_t p = i + 2, nx;
    *lstrip = p < t->n && t->s[p] == '-';
    if (*lstrip) p++;
    while (space_at(t, p, &nx)) p = nx;
    if (t->n - p >= 3 && memcmp(t->s + p, "end", 3) == 0 && t->n - p >= 13 && memcmp(t->s + p + 3, "generation", 10) == 0)
        p += 13;
    else if (t->n - p >= 10 && memcmp(t->s + p, "generation", 10) == 0)
        p += 10;
    else
        return 0;
    while (space_at(t, p, &nx)) p = nx;
    *rstrip = p < t->n && t->s[p] == '-';
    if (*rstrip) p++;
    if (p + 2 > t->n || t->s[p] != '%' || t->s[p + 1] != '}') return 0;
    return p + 2;
}

static int preprocess(const char *src, size_t len, ptext *out)
{
    ptext a = {0}, b = {0};
    if (len && src[len - 1] == '\n') len--;
    /* lstrip_blocks: /^[ \t]*({[#%-])/gm */
    for (size_t i = 0; i < len; i++) pt_put(&a, src[i], (uint32_t)i);
    for (size_t i = 0; i < a.n;) {
        if (line_start(&a, i)) {
            size_t j = i;
            while (j < a.n && (a.s[j] == ' ' || a.s[j] == '\t')) j++;
            if (j + 1 < a.n && a.s[j] == '{' && (a.s[j + 1] == '#' || a.s[j + 1] == '%' || a.s[j + 1] == '-')) {
                pt_put(&b, a.s[j], a.pos[j]);
                pt_put(&b, a.s[j + 1], a.pos[j + 1]);
                i = j + 2;
                continue;
            }
        }
        pt_put(&b, a.s[i], a.pos[i]);
        i++;
    }
    /* trim_blocks: /([#%-]})\n/g */
    a.n = 0;
    for (size_t i = 0; i < b.n; i++) {
        pt_put(&a, b.s[i], b.pos[i]);
        if (b.s[i] == '}' && i > 0 && (b.s[i - 1] == '#' || b.s[i - 1] == '%' || b.s[i - 1] == '-') &&
            i + 1 < b.n && b.s[i + 1] == '\n' && a.n >= 2)
            i++;
    }
    /* the generation tag with the whitespace around it: /(\s*){%(-?)\s*(?:end)?generation\s*(-?)%}(\s*)/gs */
    b.n = 0;
    size_t copied = 0; /* a.s[copied..] not yet emitted */
    for (size_t i = 0; i < a.n; i++) {
        bool ls, rs;
        size_t end = a.s[i] == '{' ? generation_tag(&a, i, &ls, &rs) : 0;
        if (!end) continue;
        /* leading whitespace run back to where the previous match ended */
        size_t ws = i;
        while (ws > copied) {
            size_t p = ws - 1, nx;
            while (p > copied && ((unsigned char)a.s[p] & 0xc0) == 0x80) p--;
            if (!space_at(&a, p, &nx) || nx != ws) break;
            ws = p;
        }
        size_t tail = end, nx;
        while (space_at(&a, tail, &nx)) tail = nx;
        for (size_t k = copied; k < (ls ? ws : i); k++) pt_put(&b, a.s[k], a.pos[k]);
        if (!rs)
            for (size_t k = end; k < tail; k++) pt_put(&b, a.s[k], a.pos[k]);
        copied = tail;
        i = tail - 1;
    }
    for (size_t k = copied; k < a.n; k++) pt_put(&b, a.s[k], a.pos[k]);
    if (!b.s && !b.oom) pt_put(&b, 0, 0), b.n = 0;
    bool oom = a.oom || b.oom;
    pt_free(&a);
    if (oom) { pt_free(&b); return -1; }
    *out = b;
    return 0;
}

void jinja_linecol(const char *src, size_t len, size_t pos, int *line, int *col)
{
    int l = 1, c = 1;
    for (size_t i = 0; i < pos && i < len; i++) {
        if (src[i] == '\n') { l++; c = 1; }
        else if (((unsigned char)src[i] & 0xc0) != 0x80) c++;
    }
    *line = l;
    *col = c;
}

typedef struct {
    const char *orig;
    size_t orig_len;
    ptext *t;
    size_t i;
    jtoks *out;
    int curly;
    char *err;
    size_t errlen;
    bool failed;
} lexer;

static int lex_fail(lexer *L, size_t at, const char *fmt, ...)
{
    if (L->failed) return -1;
    L->failed = true;
    int line, col;
    size_t pos = at < L->t->n ? L->t->pos[at] : L->orig_len;
    jinja_linecol(L->orig, L->orig_len, pos, &line, &col);
    if (L->err && L->errlen) {
        int k = snprintf(L->err, L->errlen, "%d:%d: ", line, col);
        if (k >= 0 && (size_t)k < L->errlen) {
            va_list ap;
            va_start(ap, fmt);
            vsnprintf(L->err + k, L->errlen - (size_t)k, fmt, ap);
            va_end(ap);
        }
    }
    return -1;
}

static int push(lexer *L, int type, size_t at, const char *val, size_t len)
{
    jtoks *o = L->out;
    if (o->n == o->cap) {
        size_t nc = o->cap ? o->cap * 2 : 64;
        jtok *nv = realloc(o->v, nc * sizeof *nv);
        if (!nv) return lex_fail(L, at, "out of memory");
        o->v = nv;
        o->cap = nc;
    }
    char *v = malloc(len + 1);
    if (!v) return lex_fail(L, at, "out of memory");
    if (len) memcpy(v, val, len);
    v[len] = 0;
    jtok *tk = &o->v[o->n++];
    tk->type = (uint8_t)type;
    tk->pos = at < L->t->n ? L->t->pos[at] : (uint32_t)L->orig_len;
    tk->val = v;
    tk->len = len;
    return 0;
}

static int last_type(const lexer *L) { return L->out->n ? L->out->v[L->out->n - 1].type : -1; }

static bool at_space(lexer *L, size_t i, size_t *next) { return space_at(L->t, i, next); }

static bool starts(const lexer *L, const char *s)
{
    size_t n = strlen(s);
    return L->t->n - L->i >= n && memcmp(L->t->s + L->i, s, n) == 0;
}

/* trimEnd() of the previous text token, dropping it if it becomes empty. */
static void strip_trailing(lexer *L)
{
    jtoks *o = L->out;
    if (!o->n || o->v[o->n - 1].type != TK_TEXT) return;
    jtok *tk = &o->v[o->n - 1];
    size_t off, n;
    jjs_trim(tk->val, tk->len, false, true, &off, &n);
    tk->len = n;
    tk->val[n] = 0;
    if (n == 0) {
        free(tk->val);
        o->n--;
    }
}

static void skip_space(lexer *L)
{
    size_t nx;
    while (L->i < L->t->n && at_space(L, L->i, &nx)) L->i = nx;
}

/* consumeWhile for whitespace inside a tag: it must not run into the end. */
static int consume_space(lexer *L)
{
    size_t nx;
    while (L->i < L->t->n && at_space(L, L->i, &nx)) {
        L->i = nx;
        if (L->i >= L->t->n) return lex_fail(L, L->i, "Unexpected end of input");
    }
    return 0;
}

static bool is_digit(char c) { return c >= '0' && c <= '9'; }
static bool is_word(char c) { return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }

static int consume_digits(lexer *L, jbuf *b)
{
    const ptext *t = L->t;
    while (L->i < t->n && is_digit(t->s[L->i])) {
        jbuf_putc(b, t->s[L->i++]);
        if (L->i >= t->n) return lex_fail(L, L->i, "Unexpected end of input");
    }
    return 0;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    c |= 0x20;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

static int lex_string(lexer *L, jbuf *b)
{
    const ptext *t = L->t;
    char q = t->s[L->i++];
    uint32_t pending_hi = 0; /* a \u high surrogate waiting for its pair */
    for (;;) {
        if (L->i >= t->n) return lex_fail(L, L->i, "Unexpected end of input");
        char c = t->s[L->i];
        if (c == q) break;
        if (c != '\\') {
            if (pending_hi) { jbuf_put_cp(b, 0xfffd); pending_hi = 0; }
            jbuf_putc(b, c);
            L->i++;
            if (L->i >= t->n) return lex_fail(L, L->i, "Unexpected end of input");
            continue;
        }
        size_t at = L->i++;
        if (L->i >= t->n) return lex_fail(L, at, "Unexpected end of input");
        char e = t->s[L->i++];
        if (e == 'x' || e == 'u') {
            int n = e == 'x' ? 2 : 4;
            uint32_t v = 0;
            for (int k = 0; k < n; k++) {
                int h = L->i + (size_t)k < t->n ? hexval(t->s[L->i + (size_t)k]) : -1;
                if (h < 0) return lex_fail(L, at, "Invalid hexadecimal escape sequence");
                v = v * 16 + (uint32_t)h;
            }
            L->i += (size_t)n;
            if (v >= 0xd800 && v <= 0xdbff) {
                if (pending_hi) jbuf_put_cp(b, 0xfffd);
                pending_hi = v;
                continue;
            }
            if (v >= 0xdc00 && v <= 0xdfff) {
                if (pending_hi) {
                    jbuf_put_cp(b, 0x10000 + ((pending_hi - 0xd800) << 10) + (v - 0xdc00));
                    pending_hi = 0;
                } else {
                    jbuf_put_cp(b, 0xfffd);
                }
                continue;
            }
            if (pending_hi) { jbuf_put_cp(b, 0xfffd); pending_hi = 0; }
            jbuf_put_cp(b, v);
            continue;
        }
        const char *rep = NULL;
        switch (e) {
        case 'n': rep = "\n"; break;
        case 't': rep = "\t"; break;
        case 'r': rep = "\r"; break;
        case 'b': rep = "\b"; break;
        case 'f': rep = "\f"; break;
        case 'v': rep = "\v"; break;
        case '\'': rep = "'"; break;
        case '"': rep = "\""; break;
        case '\\': rep = "\\"; break;
        default: return lex_fail(L, at, "Unexpected escaped character: %c", e);
        }
        if (pending_hi) { jbuf_put_cp(b, 0xfffd); pending_hi = 0; }
        jbuf_putc(b, rep[0]);
    }
    if (pending_hi) jbuf_put_cp(b, 0xfffd);
    L->i++; /* closing quote */
    return 0;
}

static const struct {
    const char *seq;
    int type;
} MAPPING[] = {
    {"{%", TK_OPEN_STMT}, {"%}", TK_CLOSE_STMT}, {"{{", TK_OPEN_EXPR}, {"}}", TK_CLOSE_EXPR},
    {"(", TK_LPAREN},     {")", TK_RPAREN},      {"{", TK_LBRACE},     {"}", TK_RBRACE},
    {"[", TK_LBRACKET},   {"]", TK_RBRACKET},    {",", TK_COMMA},      {".", TK_DOT},
    {":", TK_COLON},      {"|", TK_PIPE},        {"<=", TK_CMP_OP},    {">=", TK_CMP_OP},
    {"==", TK_CMP_OP},    {"!=", TK_CMP_OP},     {"<", TK_CMP_OP},     {">", TK_CMP_OP},
    {"+", TK_ADD_OP},     {"-", TK_ADD_OP},      {"~", TK_ADD_OP},     {"**", TK_POW_OP},
    {"*", TK_MUL_OP},     {"//", TK_MUL_OP},     {"/", TK_MUL_OP},     {"%", TK_MUL_OP},
    {"=", TK_EQUALS},
};

static int lex_main(lexer *L)
{
    const ptext *t = L->t;
    jbuf b = {0};
    while (L->i < t->n && !L->failed) {
        int lt = last_type(L);
        if (lt < 0 || lt == TK_CLOSE_STMT || lt == TK_CLOSE_EXPR || lt == TK_COMMENT) {
            size_t st = L->i;
            while (L->i < t->n &&
                   !(t->s[L->i] == '{' && L->i + 1 < t->n &&
                     (t->s[L->i + 1] == '%' || t->s[L->i + 1] == '{' || t->s[L->i + 1] == '#')))
                L->i++;
            if (L->i > st) {
                if (push(L, TK_TEXT, st, t->s + st, L->i - st)) break;
                continue;
            }
        }
        if (starts(L, "{#")) {
            size_t st = L->i;
            L->i += 2;
            bool strip_before = L->i < t->n && t->s[L->i] == '-';
            if (strip_before) L->i++;
            size_t cs = L->i;
            while (!(L->i + 1 < t->n && t->s[L->i] == '#' && t->s[L->i + 1] == '}')) {
                if (L->i + 2 >= t->n) { lex_fail(L, st, "Missing end of comment tag"); goto out; }
                L->i++;
            }
            size_t ce = L->i;
            bool strip_after = ce > cs && t->s[ce - 1] == '-';
            if (strip_after) ce--;
            if (strip_before) strip_trailing(L);
            if (push(L, TK_COMMENT, st, t->s + cs, ce - cs)) break;
            L->i += 2;
            if (strip_after) skip_space(L);
            continue;
        }
        if (starts(L, "{%-")) {
            strip_trailing(L);
            if (push(L, TK_OPEN_STMT, L->i, "{%", 2)) break;
            L->i += 3;
            continue;
        }
        if (starts(L, "{{-")) {
            strip_trailing(L);
            if (push(L, TK_OPEN_EXPR, L->i, "{{", 2)) break;
            L->curly = 0;
            L->i += 3;
            continue;
        }
        if (consume_space(L)) break;
        if (starts(L, "-%}")) {
            if (push(L, TK_CLOSE_STMT, L->i, "%}", 2)) break;
            L->i += 3;
            skip_space(L);
            continue;
        }
        if (starts(L, "-}}")) {
            if (push(L, TK_CLOSE_EXPR, L->i, "}}", 2)) break;
            L->i += 3;
            skip_space(L);
            continue;
        }
        if (L->i >= t->n) break;
        char c = t->s[L->i];
        if (c == '-' || c == '+') {
            lt = last_type(L);
            if (lt < 0 || lt == TK_TEXT) { lex_fail(L, L->i, "Unexpected character: %c", c); break; }
            if (!(lt == TK_IDENT || lt == TK_NUMBER || lt == TK_STRING || lt == TK_RPAREN || lt == TK_RBRACKET)) {
                size_t st = L->i++;
                b.n = 0;
                jbuf_putc(&b, c);
                if (consume_digits(L, &b)) break;
                if (b.n > 1 && L->i + 1 < t->n && t->s[L->i] == '.' && is_digit(t->s[L->i + 1])) {
                    jbuf_putc(&b, t->s[L->i++]);
                    if (consume_digits(L, &b)) break;
                }
                if (b.oom) { lex_fail(L, st, "out of memory"); break; }
                if (push(L, b.n > 1 ? TK_NUMBER : TK_UNARY_OP, st, b.p, b.n)) break;
                continue;
            }
        }
        bool matched = false;
        for (size_t k = 0; k < sizeof MAPPING / sizeof MAPPING[0]; k++) {
            if (MAPPING[k].type == TK_CLOSE_EXPR && L->curly > 0) continue;
            if (!starts(L, MAPPING[k].seq)) continue;
            size_t n = strlen(MAPPING[k].seq);
            if (push(L, MAPPING[k].type, L->i, MAPPING[k].seq, n)) goto out;
            if (MAPPING[k].type == TK_OPEN_EXPR) L->curly = 0;
            else if (MAPPING[k].type == TK_LBRACE) L->curly++;
            else if (MAPPING[k].type == TK_RBRACE) L->curly--;
            L->i += n;
            matched = true;
            break;
        }
        if (matched) continue;
        if (c == '\'' || c == '"') {
            size_t st = L->i;
            b.n = 0;
            if (lex_string(L, &b)) break;
            if (b.oom) { lex_fail(L, st, "out of memory"); break; }
            if (push(L, TK_STRING, st, b.p ? b.p : "", b.n)) break;
            continue;
        }
        if (is_digit(c)) {
            size_t st = L->i;
            b.n = 0;
            if (consume_digits(L, &b)) break;
            if (last_type(L) != TK_DOT && L->i + 1 < t->n && t->s[L->i] == '.' && is_digit(t->s[L->i + 1])) {
                jbuf_putc(&b, t->s[L->i++]);
                if (consume_digits(L, &b)) break;
            }
            if (b.oom) { lex_fail(L, st, "out of memory"); break; }
            if (push(L, TK_NUMBER, st, b.p, b.n)) break;
            continue;
        }
        if (is_word(c)) {
            size_t st = L->i;
            while (L->i < t->n && is_word(t->s[L->i])) {
                L->i++;
                if (L->i >= t->n) { lex_fail(L, L->i, "Unexpected end of input"); goto out; }
            }
            if (push(L, TK_IDENT, st, t->s + st, L->i - st)) break;
            continue;
        }
        size_t nx = L->i;
        uint32_t cp = jutf8_next(t->s, t->n, &nx);
        char tmp[5] = {0};
        jutf8_encode(cp, tmp);
        lex_fail(L, L->i, "Unexpected character: %s", tmp);
    }
out:
    jbuf_free(&b);
    return L->failed ? -1 : 0;
}

int jinja_lex(const char *src, size_t len, jtoks *out, char *err, size_t errlen)
{
    ptext t = {0};
    memset(out, 0, sizeof *out);
    if (len > UINT32_MAX - 16) {
        if (err && errlen) snprintf(err, errlen, "1:1: template too large");
        return -1;
    }
    if (preprocess(src, len, &t)) {
        if (err && errlen) snprintf(err, errlen, "1:1: out of memory");
        return -1;
    }
    lexer L = {.orig = src, .orig_len = len, .t = &t, .out = out, .err = err, .errlen = errlen};
    int r = lex_main(&L);
    pt_free(&t);
    if (r) jtoks_free(out);
    return r;
}

void jtoks_free(jtoks *t)
{
    for (size_t i = 0; i < t->n; i++) free(t->v[i].val);
    free(t->v);
    memset(t, 0, sizeof *t);
}
