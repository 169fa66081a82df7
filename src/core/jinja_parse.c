/* Parser: tokens to syntax tree with the reference's grammar and operator
 * precedence (tests bind tighter than * and /, filters tighter than tests,
 * a unary sign tighter than filters, ** is left-associative), its lenient
 * list/dict/argument separators and its statement set. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/jinja_internal.h"

enum { MAX_PARSE_DEPTH = 128 };

typedef struct {
    jtoks *t;
    size_t cur;
    const jinja_template *tpl;
    char *err;
    size_t errlen;
    bool failed;
    int depth;
} parser;

static void *fail_at(parser *P, size_t tok, const char *fmt, ...)
{
    if (P->failed) return NULL;
    P->failed = true;
    size_t pos = tok < P->t->n ? P->t->v[tok].pos : P->tpl->len;
    int line, col;
    jinja_linecol(P->tpl->src, P->tpl->len, pos, &line, &col);
    if (P->err && P->errlen) {
        int k = snprintf(P->err, P->errlen, "%d:%d: ", line, col);
        if (k >= 0 && (size_t)k < P->errlen) {
            va_list ap;
            va_start(ap, fmt);
            vsnprintf(P->err + k, P->errlen - (size_t)k, fmt, ap);
            va_end(ap);
        }
    }
    return NULL;
}

#define FAIL(P, ...) fail_at((P), (P)->cur, __VA_ARGS__)

static const char *TOKEN_NAMES[] = {
    "Text", "NumericLiteral", "StringLiteral", "Identifier", "Equals", "OpenParen", "CloseParen",
    "OpenStatement", "CloseStatement", "OpenExpression", "CloseExpression", "OpenSquareBracket",
    "CloseSquareBracket", "OpenCurlyBracket", "CloseCurlyBracket", "Comma", "Dot", "Colon", "Pipe",
    "AdditiveBinaryOperator", "MultiplicativeBinaryOperator", "ExponentiationBinaryOperator",
    "ComparisonBinaryOperator", "UnaryOperator", "Comment",
};

static const char *tok_name(const parser *P, size_t i)
{
    return i < P->t->n ? TOKEN_NAMES[P->t->v[i].type] : "end of template";
}

static bool is(const parser *P, int type) { return P->cur < P->t->n && P->t->v[P->cur].type == type; }

static bool is_ident(const parser *P, size_t off, const char *name)
{
    size_t i = P->cur + off;
    return i < P->t->n && P->t->v[i].type == TK_IDENT && strcmp(P->t->v[i].val, name) == 0;
}

static bool is_stmt(const parser *P, const char *a, const char *b, const char *c)
{
    if (!is(P, TK_OPEN_STMT) || P->cur + 1 >= P->t->n || P->t->v[P->cur + 1].type != TK_IDENT) return false;
    const char *v = P->t->v[P->cur + 1].val;
    return (a && strcmp(v, a) == 0) || (b && strcmp(v, b) == 0) || (c && strcmp(v, c) == 0);
}

static bool expect(parser *P, int type, const char *what)
{
    if (is(P, type)) {
        P->cur++;
        return true;
    }
    FAIL(P, "Parser Error: %s. %s !== %s.", what, tok_name(P, P->cur), TOKEN_NAMES[type]);
    return false;
}

static bool expect_ident(parser *P, const char *name)
{
    if (!is_ident(P, 0, name)) {
        FAIL(P, "Expected %s", name);
        return false;
    }
    P->cur++;
    return true;
}

static jnode *node(parser *P, int kind)
{
    jnode *n = calloc(1, sizeof *n);
    if (!n) return FAIL(P, "out of memory");
    n->kind = (uint8_t)kind;
    n->pos = P->cur < P->t->n ? P->t->v[P->cur].pos : (uint32_t)P->tpl->len;
    return n;
}

static jstr *ast_str(parser *P, const char *s, size_t len)
{
    jstr *r = jstr_new(s, len);
    if (!r) return FAIL(P, "out of memory");
    r->rc = -1; /* owned by the tree */
    return r;
}

static bool list_push(parser *P, jnode_list *l, jnode *n)
{
    if (!n) return false;
    if (l->n == l->cap) {
        size_t nc = l->cap ? l->cap * 2 : 4;
        jnode **nv = realloc(l->v, nc * sizeof *nv);
        if (!nv) {
            jnode_free(n);
            FAIL(P, "out of memory");
            return false;
        }
        l->v = nv;
        l->cap = nc;
    }
    l->v[l->n++] = n;
    return true;
}

static void list_free(jnode_list *l)
{
    for (size_t i = 0; i < l->n; i++) jnode_free(l->v[i]);
    free(l->v);
    l->v = NULL;
    l->n = l->cap = 0;
}

void jnode_free(jnode *n)
{
    if (!n) return;
    if (n->str) free(n->str);
    jnode_free(n->a);
    jnode_free(n->b);
    jnode_free(n->c);
    list_free(&n->list);
    list_free(&n->list2);
    list_free(&n->list3);
    free(n);
}

static jnode *parse_expression(parser *P);
static jnode *parse_primary(parser *P);
static jnode *parse_any(parser *P);

static bool enter(parser *P)
{
    if (++P->depth > MAX_PARSE_DEPTH) {
        FAIL(P, "template nested too deeply");
        return false;
    }
    return true;
}

/* ---- expressions ---- */

static jnode *parse_sequence(parser *P, bool primary)
{
    jnode *first = primary ? parse_primary(P) : parse_expression(P);
    if (!first || !is(P, TK_COMMA)) return first;
    jnode *t = node(P, N_TUPLE);
    if (!t) { jnode_free(first); return NULL; }
    t->pos = first->pos;
    list_push(P, &t->list, first);
    while (!P->failed && is(P, TK_COMMA)) {
        P->cur++;
        if (!list_push(P, &t->list, primary ? parse_primary(P) : parse_expression(P))) break;
    }
    if (P->failed) { jnode_free(t); return NULL; }
    return t;
}

static bool parse_args(parser *P, jnode_list *out, bool params)
{
    if (!expect(P, TK_LPAREN, "Expected opening parenthesis for arguments list")) return false;
    bool saw_kw = false, saw_spread = false;
    while (!P->failed && !is(P, TK_RPAREN)) {
        if (P->cur >= P->t->n) { FAIL(P, "Unexpected end of template in arguments list"); break; }
        bool kw_spread = is(P, TK_POW_OP);
        bool spread = is(P, TK_MUL_OP) && strcmp(P->t->v[P->cur].val, "*") == 0;
        if (params && (kw_spread || spread)) { FAIL(P, "Argument unpacking is not allowed in parameter declarations"); break; }
        if (kw_spread) {
            jnode *s = node(P, N_KWSPREAD);
            P->cur++;
            if (!s || !(s->a = parse_expression(P))) { jnode_free(s); break; }
            if (!list_push(P, out, s)) break;
            if (is(P, TK_COMMA)) P->cur++;
            if (!is(P, TK_RPAREN)) FAIL(P, "Expected closing parenthesis: `**` must be applied to the final argument");
            break;
        }
        jnode *arg;
        size_t arg_tok = P->cur;
        if (spread) {
            if (saw_spread) { FAIL(P, "Only one `*` argument unpacking is allowed"); break; }
            saw_spread = true;
            arg = node(P, N_SPREAD);
            P->cur++;
            if (!arg || !(arg->a = parse_expression(P))) { jnode_free(arg); break; }
        } else {
            arg = parse_expression(P);
            if (!arg) break;
            if (is(P, TK_EQUALS)) {
                P->cur++;
                if (arg->kind != N_IDENT) {
                    jnode_free(arg);
                    FAIL(P, params ? "Expected identifier for parameter declaration" : "Expected identifier for keyword argument");
                    break;
                }
                jnode *kw = node(P, N_KWARG);
                if (!kw) { jnode_free(arg); break; }
                kw->pos = arg->pos;
                kw->str = arg->str;
                arg->str = NULL;
                jnode_free(arg);
                if (!(kw->a = parse_expression(P))) { jnode_free(kw); break; }
                arg = kw;
            }
            if (params) {
                if (arg->kind != N_IDENT && arg->kind != N_KWARG) {
                    jnode_free(arg);
                    FAIL(P, "Expected identifier for parameter declaration");
                    break;
                }
                for (size_t i = 0; i < out->n; i++)
                    if (strcmp(out->v[i]->str->s, arg->str->s) == 0) {
                        fail_at(P, arg_tok, "Duplicate parameter name: %s", arg->str->s);
                        break;
                    }
                if (P->failed) { jnode_free(arg); break; }
            }
            if (arg->kind == N_KWARG) {
                saw_kw = true;
            } else if (saw_kw) {
                jnode_free(arg);
                fail_at(P, arg_tok, params ? "Non-default argument follows default argument" : "Positional arguments must come before keyword arguments");
                break;
            } else if (saw_spread) {
                jnode_free(arg);
                fail_at(P, arg_tok, "Positional arguments must not follow `*` argument unpacking");
                break;
            }
        }
        if (!list_push(P, out, arg)) break;
        if (is(P, TK_COMMA)) P->cur++;
    }
    if (P->failed) return false;
    return expect(P, TK_RPAREN, "Expected closing parenthesis for arguments list");
}

static jnode *parse_member(parser *P, jnode *obj);

static jnode *parse_call(parser *P, jnode *callee)
{
    while (!P->failed) {
        jnode *call = node(P, N_CALL);
        if (!call) { jnode_free(callee); return NULL; }
        call->pos = callee->pos;
        call->a = callee;
        if (!parse_args(P, &call->list, false)) { jnode_free(call); return NULL; }
        callee = parse_member(P, call);
        if (!callee || !is(P, TK_LPAREN)) return callee;
    }
    jnode_free(callee);
    return NULL;
}

static jnode *parse_subscript(parser *P)
{
    jnode *parts[4] = {0};
    int n = 0;
    bool slice = false;
    size_t start = P->cur;
    while (!P->failed && !is(P, TK_RBRACKET)) {
        if (P->cur >= P->t->n) { FAIL(P, "Unexpected end of template in subscript"); break; }
        if (n == 4) { FAIL(P, "Expected 0-3 arguments for slice expression"); break; }
        if (is(P, TK_COLON)) {
            parts[n++] = NULL;
            P->cur++;
            slice = true;
        } else {
            if (!(parts[n++] = parse_expression(P))) break;
            if (is(P, TK_COLON)) {
                P->cur++;
                slice = true;
            }
        }
    }
    if (!P->failed && n == 0) fail_at(P, start, "Expected at least one argument for member/slice expression");
    if (!P->failed && slice && n > 3) FAIL(P, "Expected 0-3 arguments for slice expression");
    if (P->failed) {
        for (int i = 0; i < n; i++) jnode_free(parts[i]);
        return NULL;
    }
    if (!slice) {
        /* like the reference, extra subscripts without a colon are ignored */
        for (int i = 1; i < n; i++) jnode_free(parts[i]);
        return parts[0];
    }
    jnode *s = node(P, N_SLICE);
    if (!s) {
        for (int i = 0; i < n; i++) jnode_free(parts[i]);
        return NULL;
    }
    s->a = parts[0];
    s->b = parts[1];
    s->c = parts[2];
    return s;
}

static jnode *parse_member(parser *P, jnode *obj)
{
    while (obj && (is(P, TK_DOT) || is(P, TK_LBRACKET))) {
        bool computed = is(P, TK_LBRACKET);
        jnode *m = node(P, N_MEMBER);
        if (!m) { jnode_free(obj); return NULL; }
        P->cur++;
        m->pos = obj->pos;
        m->a = obj;
        m->flag = computed;
        if (computed) {
            m->b = parse_subscript(P);
            if (!m->b || !expect(P, TK_RBRACKET, "Expected closing square bracket")) { jnode_free(m); return NULL; }
        } else {
            m->b = parse_primary(P);
            if (!m->b) { jnode_free(m); return NULL; }
            if (m->b->kind != N_IDENT && m->b->kind != N_INT) {
                jnode_free(m);
                return FAIL(P, "Expected identifier or integer following dot operator");
            }
        }
        obj = m;
    }
    return obj;
}

static jnode *parse_call_member(parser *P)
{
    jnode *m = parse_member(P, parse_primary(P));
    if (m && is(P, TK_LPAREN)) return parse_call(P, m);
    return m;
}

static jnode *parse_unary_sign(parser *P)
{
    if (P->cur < P->t->n) {
        jtok *tk = &P->t->v[P->cur];
        if ((tk->type == TK_UNARY_OP || tk->type == TK_ADD_OP) && (tk->val[0] == '-' || tk->val[0] == '+') && tk->len == 1) {
            jnode *u = node(P, N_UNARY);
            if (!u) return NULL;
            u->op = tk->val[0] == '-' ? OP_NEG : OP_POS;
            P->cur++;
            if (!enter(P) || !(u->a = parse_unary_sign(P))) { P->depth--; jnode_free(u); return NULL; }
            P->depth--;
            return u;
        }
    }
    return parse_call_member(P);
}

static jnode *parse_filter(parser *P)
{
    jnode *operand = parse_unary_sign(P);
    while (operand && is(P, TK_PIPE)) {
        jnode *f = node(P, N_FILTER);
        if (!f) { jnode_free(operand); return NULL; }
        P->cur++;
        f->pos = operand->pos;
        f->a = operand;
        f->b = parse_primary(P);
        if (!f->b) { jnode_free(f); return NULL; }
        if (f->b->kind != N_IDENT) { jnode_free(f); return FAIL(P, "Expected identifier for the filter"); }
        if (is(P, TK_LPAREN) && !(f->b = parse_call(P, f->b))) { jnode_free(f); return NULL; }
        operand = f;
    }
    return operand;
}

static jnode *parse_test(parser *P)
{
    jnode *operand = parse_filter(P);
    while (operand && is_ident(P, 0, "is")) {
        jnode *t = node(P, N_TEST);
        if (!t) { jnode_free(operand); return NULL; }
        P->cur++;
        t->pos = operand->pos;
        t->a = operand;
        if (is_ident(P, 0, "not")) {
            t->flag = true;
            P->cur++;
        }
        jnode *name = parse_primary(P);
        if (!name) { jnode_free(t); return NULL; }
        if (name->kind != N_IDENT) {
            jnode_free(name);
            jnode_free(t);
            return FAIL(P, "Expected identifier for the test");
        }
        t->str = name->str;
        name->str = NULL;
        jnode_free(name);
        operand = t;
    }
    return operand;
}

static jnode *binary(parser *P, int op, jnode *l, jnode *r)
{
    if (!l || !r) {
        jnode_free(l);
        jnode_free(r);
        return NULL;
    }
    jnode *b = node(P, N_BINARY);
    if (!b) {
        jnode_free(l);
        jnode_free(r);
        return NULL;
    }
    b->op = (uint8_t)op;
    b->pos = l->pos;
    b->a = l;
    b->b = r;
    return b;
}

static jnode *parse_power(parser *P)
{
    jnode *l = parse_test(P);
    while (l && is(P, TK_POW_OP)) {
        P->cur++;
        l = binary(P, OP_POW, l, parse_test(P));
    }
    return l;
}

static jnode *parse_multiplicative(parser *P)
{
    jnode *l = parse_power(P);
    while (l && is(P, TK_MUL_OP)) {
        const char *v = P->t->v[P->cur++].val;
        int op = strcmp(v, "*") == 0 ? OP_MUL : strcmp(v, "//") == 0 ? OP_FLOORDIV : strcmp(v, "/") == 0 ? OP_DIV : OP_MOD;
        l = binary(P, op, l, parse_power(P));
    }
    return l;
}

static jnode *parse_additive(parser *P)
{
    jnode *l = parse_multiplicative(P);
    while (l && is(P, TK_ADD_OP)) {
        char v = P->t->v[P->cur++].val[0];
        l = binary(P, v == '+' ? OP_ADD : v == '-' ? OP_SUB : OP_TILDE, l, parse_multiplicative(P));
    }
    return l;
}

static jnode *parse_comparison(parser *P)
{
    jnode *l = parse_additive(P);
    while (l) {
        int op;
        if (is_ident(P, 0, "not") && is_ident(P, 1, "in")) {
            op = OP_NOTIN;
            P->cur += 2;
        } else if (is_ident(P, 0, "in")) {
            op = OP_IN;
            P->cur++;
        } else if (is(P, TK_CMP_OP)) {
            const char *v = P->t->v[P->cur++].val;
            op = strcmp(v, "==") == 0 ? OP_EQ : strcmp(v, "!=") == 0 ? OP_NE : strcmp(v, "<") == 0 ? OP_LT
               : strcmp(v, ">") == 0 ? OP_GT : strcmp(v, "<=") == 0 ? OP_LE : OP_GE;
        } else {
            break;
        }
        l = binary(P, op, l, parse_additive(P));
    }
    return l;
}

static jnode *parse_not(parser *P)
{
    if (is_ident(P, 0, "not")) {
        jnode *u = node(P, N_UNARY);
        if (!u) return NULL;
        u->op = OP_NOT;
        P->cur++;
        if (!enter(P) || !(u->a = parse_not(P))) { P->depth--; jnode_free(u); return NULL; }
        P->depth--;
        return u;
    }
    return parse_comparison(P);
}

static jnode *parse_and(parser *P)
{
    jnode *l = parse_not(P);
    while (l && is_ident(P, 0, "and")) {
        P->cur++;
        l = binary(P, OP_AND, l, parse_not(P));
    }
    return l;
}

static jnode *parse_or(parser *P)
{
    jnode *l = parse_and(P);
    while (l && is_ident(P, 0, "or")) {
        P->cur++;
        l = binary(P, OP_OR, l, parse_and(P));
    }
    return l;
}

static jnode *parse_if_expr(parser *P)
{
    jnode *a = parse_or(P);
    if (!a || !is_ident(P, 0, "if")) return a;
    P->cur++;
    jnode *test = parse_or(P);
    if (!test) { jnode_free(a); return NULL; }
    if (is_ident(P, 0, "else")) {
        P->cur++;
        jnode *t = node(P, N_TERNARY);
        if (!t) { jnode_free(a); jnode_free(test); return NULL; }
        t->pos = a->pos;
        t->a = test;
        t->b = a;
        if (!(t->c = parse_if_expr(P))) { jnode_free(t); return NULL; }
        return t;
    }
    jnode *s = node(P, N_SELECT);
    if (!s) { jnode_free(a); jnode_free(test); return NULL; }
    s->pos = a->pos;
    s->a = a;
    s->b = test;
    return s;
}

static jnode *parse_expression(parser *P)
{
    if (!enter(P)) return NULL;
    jnode *r = parse_if_expr(P);
    P->depth--;
    return r;
}

static jnode *parse_primary(parser *P)
{
    if (P->failed) return NULL;
    if (P->cur >= P->t->n) return FAIL(P, "Unexpected end of template");
    jtok *tk = &P->t->v[P->cur];
    switch (tk->type) {
    case TK_NUMBER: {
        jnode *n = node(P, strchr(tk->val, '.') ? N_FLOAT : N_INT);
        if (!n) return NULL;
        n->num = strtod(tk->val, NULL);
        P->cur++;
        return n;
    }
    case TK_STRING: {
        jnode *n = node(P, N_STR);
        if (!n) return NULL;
        jbuf b = {0};
        jbuf_put(&b, tk->val, tk->len);
        P->cur++;
        while (is(P, TK_STRING)) {
            jbuf_put(&b, P->t->v[P->cur].val, P->t->v[P->cur].len);
            P->cur++;
        }
        n->str = b.oom ? NULL : ast_str(P, b.p ? b.p : "", b.n);
        jbuf_free(&b);
        if (!n->str) { jnode_free(n); return FAIL(P, "out of memory"); }
        return n;
    }
    case TK_IDENT: {
        jnode *n = node(P, N_IDENT);
        if (!n) return NULL;
        if (!(n->str = ast_str(P, tk->val, tk->len))) { jnode_free(n); return NULL; }
        P->cur++;
        return n;
    }
    case TK_LPAREN: {
        P->cur++;
        if (!enter(P)) return NULL;
        jnode *e = parse_sequence(P, false);
        P->depth--;
        if (e && !expect(P, TK_RPAREN, "Expected closing parenthesis")) { jnode_free(e); return NULL; }
        return e;
    }
    case TK_LBRACKET: {
        jnode *a = node(P, N_ARRAY);
        if (!a) return NULL;
        P->cur++;
        while (!P->failed && !is(P, TK_RBRACKET)) {
            if (!list_push(P, &a->list, parse_expression(P))) break;
            if (is(P, TK_COMMA)) P->cur++;
        }
        if (P->failed) { jnode_free(a); return NULL; }
        P->cur++;
        return a;
    }
    case TK_LBRACE: {
        jnode *d = node(P, N_DICT);
        if (!d) return NULL;
        P->cur++;
        while (!P->failed && !is(P, TK_RBRACE)) {
            if (!list_push(P, &d->list, parse_expression(P))) break;
            if (!expect(P, TK_COLON, "Expected colon between key and value in object literal")) break;
            if (!list_push(P, &d->list2, parse_expression(P))) break;
            if (is(P, TK_COMMA)) P->cur++;
        }
        if (P->failed) { jnode_free(d); return NULL; }
        P->cur++;
        return d;
    }
    default: return FAIL(P, "Unexpected token: %s", tok_name(P, P->cur));
    }
}

/* ---- statements ---- */

static bool parse_body(parser *P, jnode_list *out, const char *a, const char *b, const char *c)
{
    while (!P->failed && !is_stmt(P, a, b, c)) {
        if (P->cur >= P->t->n) {
            FAIL(P, "Unexpected end of template: expected {%% %s %%}", a);
            return false;
        }
        if (!list_push(P, out, parse_any(P))) return false;
    }
    return !P->failed;
}

static bool close_block(parser *P, const char *endname)
{
    return expect(P, TK_OPEN_STMT, "Expected {% token") && expect_ident(P, endname) &&
           expect(P, TK_CLOSE_STMT, "Expected %} token");
}

static jnode *parse_if_stmt(parser *P)
{
    jnode *n = node(P, N_IF);
    if (!n) return NULL;
    if (!(n->a = parse_expression(P)) || !expect(P, TK_CLOSE_STMT, "Expected closing statement token") ||
        !parse_body(P, &n->list, "elif", "else", "endif")) {
        jnode_free(n);
        return NULL;
    }
    if (is_stmt(P, "elif", NULL, NULL)) {
        P->cur += 2;
        if (!enter(P) || !list_push(P, &n->list2, parse_if_stmt(P))) { P->depth--; jnode_free(n); return NULL; }
        P->depth--;
    } else if (is_stmt(P, "else", NULL, NULL)) {
        P->cur += 2;
        if (!expect(P, TK_CLOSE_STMT, "Expected closing statement token") || !parse_body(P, &n->list2, "endif", NULL, NULL)) {
            jnode_free(n);
            return NULL;
        }
    }
    return n;
}

static void scan_special(const jnode *n, uint8_t *declared, uint8_t *accessed);

static uint8_t special_bit(const jstr *s)
{
    if (!s) return 0;
    if (strcmp(s->s, "kwargs") == 0) return 1;
    if (strcmp(s->s, "varargs") == 0) return 2;
    return 0;
}

static void declare_target(const jnode *n, uint8_t *declared)
{
    if (!n) return;
    if (n->kind == N_IDENT) *declared |= special_bit(n->str);
    else if (n->kind == N_TUPLE)
        for (size_t i = 0; i < n->list.n; i++) declare_target(n->list.v[i], declared);
}

static void scan_list(const jnode_list *l, uint8_t *d, uint8_t *a)
{
    for (size_t i = 0; i < l->n; i++) scan_special(l->v[i], d, a);
}

static void scan_params(const jnode_list *params, uint8_t *d, uint8_t *a)
{
    for (size_t i = 0; i < params->n; i++) *d |= special_bit(params->v[i]->str);
    for (size_t i = 0; i < params->n; i++)
        if (params->v[i]->kind == N_KWARG) scan_special(params->v[i]->a, d, a);
}

static void scan_filter(const jnode *f, uint8_t *d, uint8_t *a)
{
    if (f && f->kind == N_CALL) scan_list(&f->list, d, a);
}

/* Finds loads of kwargs/varargs not preceded by a declaration, in the order
 * the reference visits the tree. */
static void scan_special(const jnode *n, uint8_t *d, uint8_t *a)
{
    if (!n) return;
    switch (n->kind) {
    case N_FOR:
        declare_target(n->a, d);
        if (n->b && n->b->kind == N_SELECT) {
            scan_special(n->b->a, d, a);
            scan_list(&n->list, d, a);
            scan_list(&n->list2, d, a);
            scan_special(n->b->b, d, a);
        } else {
            scan_special(n->b, d, a);
            scan_list(&n->list, d, a);
            scan_list(&n->list2, d, a);
        }
        return;
    case N_SET:
        declare_target(n->a, d);
        scan_special(n->b, d, a);
        scan_list(&n->list, d, a);
        return;
    case N_MACRO:
        scan_params(&n->list2, d, a);
        scan_list(&n->list, d, a);
        return;
    case N_CALLBLOCK:
        scan_special(n->a, d, a);
        scan_params(&n->list2, d, a);
        scan_list(&n->list3, d, a);
        return;
    case N_FILTERBLOCK:
        scan_list(&n->list, d, a);
        scan_filter(n->a, d, a);
        return;
    case N_IDENT: {
        uint8_t bit = special_bit(n->str);
        if (bit && !(*d & bit)) *a |= bit;
        return;
    }
    case N_MEMBER:
        scan_special(n->a, d, a);
        if (n->flag) scan_special(n->b, d, a);
        return;
    case N_FILTER:
        scan_special(n->a, d, a);
        scan_filter(n->b, d, a);
        return;
    case N_TEST: scan_special(n->a, d, a); return;
    case N_SELECT:
        scan_special(n->b, d, a);
        scan_special(n->a, d, a);
        return;
    case N_KWARG: scan_special(n->a, d, a); return;
    case N_DICT:
        for (size_t i = 0; i < n->list.n; i++) {
            scan_special(n->list.v[i], d, a);
            if (i < n->list2.n) scan_special(n->list2.v[i], d, a);
        }
        return;
    default:
        scan_special(n->a, d, a);
        scan_special(n->b, d, a);
        scan_special(n->c, d, a);
        scan_list(&n->list, d, a);
        scan_list(&n->list2, d, a);
        return;
    }
}

static uint8_t special_args(const jnode_list *params, const jnode_list *body)
{
    uint8_t declared = 0, accessed = 0;
    for (size_t i = 0; i < params->n; i++) declared |= special_bit(params->v[i]->str);
    scan_list(body, &declared, &accessed);
    return accessed;
}

static jnode *parse_statement(parser *P)
{
    size_t open = P->cur;
    if (!expect(P, TK_OPEN_STMT, "Expected opening statement token")) return NULL;
    if (!is(P, TK_IDENT)) return FAIL(P, "Unknown statement, got %s", tok_name(P, P->cur));
    const char *name = P->t->v[P->cur].val;
    jnode *n = NULL;
    if (strcmp(name, "set") == 0) {
        P->cur++;
        n = node(P, N_SET);
        if (!n) return NULL;
        if (!(n->a = parse_sequence(P, false))) goto fail;
        if (is(P, TK_EQUALS)) {
            P->cur++;
            if (!(n->b = parse_sequence(P, false))) goto fail;
        } else {
            if (!expect(P, TK_CLOSE_STMT, "Expected %} token") || !parse_body(P, &n->list, "endset", NULL, NULL) ||
                !expect(P, TK_OPEN_STMT, "Expected {% token") || !expect_ident(P, "endset"))
                goto fail;
        }
        if (!expect(P, TK_CLOSE_STMT, "Expected closing statement token")) goto fail;
    } else if (strcmp(name, "if") == 0) {
        P->cur++;
        if (!(n = parse_if_stmt(P))) return NULL;
        if (!close_block(P, "endif")) goto fail;
    } else if (strcmp(name, "macro") == 0) {
        P->cur++;
        n = node(P, N_MACRO);
        if (!n) return NULL;
        if (!(n->a = parse_primary(P))) goto fail;
        if (n->a->kind != N_IDENT) { FAIL(P, "Expected identifier following macro statement"); goto fail; }
        if (!parse_args(P, &n->list2, true) || !expect(P, TK_CLOSE_STMT, "Expected closing statement token") ||
            !parse_body(P, &n->list, "endmacro", NULL, NULL) || !close_block(P, "endmacro"))
            goto fail;
        n->special = special_args(&n->list2, &n->list);
    } else if (strcmp(name, "for") == 0) {
        P->cur++;
        n = node(P, N_FOR);
        if (!n) return NULL;
        if (!(n->a = parse_sequence(P, true))) goto fail;
        if (n->a->kind != N_IDENT && n->a->kind != N_TUPLE) {
            FAIL(P, "Expected identifier/tuple for the loop variable");
            goto fail;
        }
        if (!is_ident(P, 0, "in")) { FAIL(P, "Expected `in` keyword following loop variable"); goto fail; }
        P->cur++;
        if (!(n->b = parse_expression(P)) || !expect(P, TK_CLOSE_STMT, "Expected closing statement token") ||
            !parse_body(P, &n->list, "endfor", "else", NULL))
            goto fail;
        if (is_stmt(P, "else", NULL, NULL)) {
            P->cur += 2;
            if (!expect(P, TK_CLOSE_STMT, "Expected closing statement token") || !parse_body(P, &n->list2, "endfor", NULL, NULL))
                goto fail;
        }
        if (!close_block(P, "endfor")) goto fail;
    } else if (strcmp(name, "call") == 0) {
        P->cur++;
        n = node(P, N_CALLBLOCK);
        if (!n) return NULL;
        if (is(P, TK_LPAREN)) {
            n->flag = true;
            if (!parse_args(P, &n->list2, true)) goto fail;
        }
        jnode *callee = parse_primary(P);
        if (!callee) goto fail;
        if (callee->kind != N_IDENT) {
            jnode_free(callee);
            FAIL(P, "Expected identifier following call statement");
            goto fail;
        }
        n->a = node(P, N_CALL);
        if (!n->a) { jnode_free(callee); goto fail; }
        n->a->a = callee;
        if (!parse_args(P, &n->a->list, false) || !expect(P, TK_CLOSE_STMT, "Expected closing statement token") ||
            !parse_body(P, &n->list3, "endcall", NULL, NULL) || !close_block(P, "endcall"))
            goto fail;
        n->special = special_args(&n->list2, &n->list3);
    } else if (strcmp(name, "break") == 0 || strcmp(name, "continue") == 0) {
        n = node(P, name[0] == 'b' ? N_BREAK : N_CONTINUE);
        if (!n) return NULL;
        P->cur++;
        if (!expect(P, TK_CLOSE_STMT, "Expected closing statement token")) goto fail;
    } else if (strcmp(name, "filter") == 0) {
        P->cur++;
        n = node(P, N_FILTERBLOCK);
        if (!n) return NULL;
        if (!(n->a = parse_primary(P))) goto fail;
        if (n->a->kind == N_IDENT && is(P, TK_LPAREN) && !(n->a = parse_call(P, n->a))) goto fail;
        if (!expect(P, TK_CLOSE_STMT, "Expected closing statement token") || !parse_body(P, &n->list, "endfilter", NULL, NULL) ||
            !close_block(P, "endfilter"))
            goto fail;
    } else {
        return FAIL(P, "Unknown statement type: %s", name);
    }
    n->pos = P->t->v[open].pos;
    return n;
fail:
    jnode_free(n);
    return NULL;
}

static jnode *parse_any(parser *P)
{
    if (P->cur >= P->t->n) return FAIL(P, "Unexpected end of template");
    if (!enter(P)) return NULL;
    jnode *r = NULL;
    jtok *tk = &P->t->v[P->cur];
    switch (tk->type) {
    case TK_COMMENT:
        r = node(P, N_COMMENT);
        P->cur++;
        break;
    case TK_TEXT:
        r = node(P, N_STR);
        if (r && !(r->str = ast_str(P, tk->val, tk->len))) { jnode_free(r); r = NULL; }
        P->cur++;
        break;
    case TK_OPEN_STMT: r = parse_statement(P); break;
    case TK_OPEN_EXPR:
        P->cur++;
        r = parse_expression(P);
        if (r && !expect(P, TK_CLOSE_EXPR, "Expected closing expression token")) { jnode_free(r); r = NULL; }
        break;
    default: FAIL(P, "Unexpected token type: %s", tok_name(P, P->cur)); break;
    }
    P->depth--;
    return r;
}

int jinja_parse_tokens(jinja_template *t, jtoks *toks, char *err, size_t errlen)
{
    parser P = {.t = toks, .tpl = t, .err = err, .errlen = errlen};
    while (!P.failed && P.cur < toks->n) {
        if (!list_push(&P, &t->body, parse_any(&P))) break;
    }
    return P.failed ? -1 : 0;
}

jinja_template *jinja_parse(const char *src, size_t len, char *err, size_t errlen)
{
    if (err && errlen) err[0] = 0;
    jinja_template *t = calloc(1, sizeof *t);
    if (!t) {
        if (err && errlen) snprintf(err, errlen, "1:1: out of memory");
        return NULL;
    }
    t->src = jutf8_sanitize(src ? src : "", src ? len : 0, &t->len);
    if (!t->src) {
        free(t);
        if (err && errlen) snprintf(err, errlen, "1:1: out of memory");
        return NULL;
    }
    jtoks toks;
    if (jinja_lex(t->src, t->len, &toks, err, errlen)) {
        jinja_free(t);
        return NULL;
    }
    int r = jinja_parse_tokens(t, &toks, err, errlen);
    jtoks_free(&toks);
    if (r) {
        jinja_free(t);
        return NULL;
    }
    return t;
}

void jinja_free(jinja_template *t)
{
    if (!t) return;
    list_free(&t->body);
    free(t->src);
    free(t);
}
