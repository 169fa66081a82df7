/* Shared internals of the Jinja interpreter: values, tokens, syntax tree and
 * the render context. Values model @huggingface/jinja's runtime values:
 * numbers are doubles (JavaScript numbers) tagged int or float, containers
 * are reference counted and immutable except namespaces. */
#ifndef RK_CORE_JINJA_INTERNAL_H
#define RK_CORE_JINJA_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/jinja.h"

/* ---- values ---- */

typedef enum {
    JV_UNDEF,
    JV_NONE,
    JV_BOOL,
    JV_INT,
    JV_FLOAT,
    JV_STR,
    JV_ARR,
    JV_DICT,
    JV_NS,
    JV_FUNC,
} jv_type;

typedef struct jstr {
    int32_t rc; /* < 0: owned by the syntax tree, never freed by rendering */
    size_t len;
    char s[];   /* NUL-terminated, valid UTF-8 without surrogates */
} jstr;

struct jarr;
struct jdict;
struct jfunc;

typedef struct jval {
    uint8_t t;
    union {
        double n;
        bool b;
        jstr *s;
        struct jarr *a;
        struct jdict *d; /* JV_DICT and JV_NS */
        struct jfunc *f;
    } u;
} jval;

typedef struct jarr {
    int32_t rc;
    bool tuple; /* a tuple literal: the reference treats it apart in a few places */
    size_t n, cap;
    jval *v;
} jarr;

typedef struct jdict {
    int32_t rc;
    bool kwargs; /* keyword arguments handed to a callable as a value */
    size_t n, cap;
    jstr **k;
    jval *v;
    int32_t *idx; /* open-addressing index over k, built once the dict grows */
    size_t idxcap;
} jdict;

struct jenv;
struct jnode;

typedef enum {
    JF_METHOD,  /* builtin method bound to self */
    JF_GLOBAL,  /* raise_exception, range, strftime_now, namespace */
    JF_MACRO,   /* user macro: node is the macro statement */
    JF_CALLER,  /* body of a call block: node is the call statement, env its scope */
} jfunc_kind;

typedef struct jfunc {
    int32_t rc;
    uint8_t kind;
    uint16_t id;            /* builtin identifier */
    jval self;              /* receiver of a method */
    const struct jnode *node;
    struct jenv *env;
} jfunc;

typedef struct jenv {
    int32_t rc;
    struct jenv *parent;
    jdict *vars;
} jenv;

static inline jval jv_undef(void) { jval v; v.t = JV_UNDEF; v.u.n = 0; return v; }
static inline jval jv_none(void) { jval v; v.t = JV_NONE; v.u.n = 0; return v; }
static inline jval jv_bool(bool b) { jval v; v.t = JV_BOOL; v.u.n = 0; v.u.b = b; return v; }
static inline jval jv_int(double n) { jval v; v.t = JV_INT; v.u.n = n; return v; }
static inline jval jv_float(double n) { jval v; v.t = JV_FLOAT; v.u.n = n; return v; }
static inline jval jv_strv(jstr *s) { jval v; v.t = JV_STR; v.u.s = s; return v; }
static inline jval jv_arrv(jarr *a) { jval v; v.t = JV_ARR; v.u.a = a; return v; }
static inline jval jv_dictv(jdict *d) { jval v; v.t = JV_DICT; v.u.d = d; return v; }
static inline bool jv_is_num(jval v) { return v.t == JV_INT || v.t == JV_FLOAT; }

jval jv_retain(jval v);
void jv_release(jval v);

jstr *jstr_new(const char *s, size_t len);
jstr *jstr_cstr(const char *s);
void jstr_release(jstr *s);
static inline jstr *jstr_retain(jstr *s) { if (s && s->rc > 0) s->rc++; return s; }
jval jv_str(const char *s, size_t len); /* NULL on allocation failure maps to undef */
bool jstr_eq(const jstr *a, const char *s, size_t len);

jarr *jarr_new(size_t cap);
bool jarr_push(jarr *a, jval v); /* takes ownership of v */
void jarr_release(jarr *a);

jdict *jdict_new(void);
void jdict_release(jdict *d);
jval *jdict_get(const jdict *d, const char *k, size_t len);
bool jdict_set(jdict *d, jstr *k, jval v); /* takes ownership of k's reference and v */
void jdict_clear(jdict *d);

jfunc *jfunc_new(int kind, int id);
void jfunc_release(jfunc *f);

jenv *jenv_new(jenv *parent);
jenv *jenv_retain(jenv *e);
void jenv_release(jenv *e);
jval jenv_lookup(const jenv *e, const char *name, size_t len); /* borrowed */
bool jenv_set(jenv *e, const char *name, size_t len, jval v); /* takes ownership of v */

/* ---- text helpers (JavaScript string semantics over UTF-8) ---- */

typedef struct jbuf {
    char *p;
    size_t n, cap;
    bool oom;
} jbuf;

void jbuf_put(jbuf *b, const char *s, size_t n);
void jbuf_putc(jbuf *b, char c);
void jbuf_puts(jbuf *b, const char *s);
void jbuf_put_cp(jbuf *b, uint32_t cp);
void jbuf_free(jbuf *b);

/* Decodes one code point at s[*i] (advancing *i); invalid bytes give U+FFFD. */
uint32_t jutf8_next(const char *s, size_t len, size_t *i);
size_t jutf8_encode(uint32_t cp, char out[4]);
/* Copies src replacing invalid UTF-8 and surrogates with U+FFFD. */
char *jutf8_sanitize(const char *src, size_t len, size_t *out_len);
bool jjs_is_space(uint32_t cp);          /* JavaScript \s and String.prototype.trim */
size_t jjs_u16_len(const char *s, size_t len);
int jjs_u16_cmp(const char *a, size_t an, const char *b, size_t bn);
void jjs_upper(jbuf *out, const char *s, size_t len);
void jjs_lower(jbuf *out, const char *s, size_t len);
void jjs_trim(const char *s, size_t len, bool start, bool end, size_t *off, size_t *n);

/* Number formatting and parsing like JavaScript. */
void jjs_num_str(double d, char out[40]);       /* String(d) */
void jjs_float_str(double d, char out[48]);     /* FloatValue.toString: 1 -> "1.0" */
double jjs_to_number(const char *s, size_t len); /* ToNumber(string) */
double jjs_parse_int(const char *s, size_t len);
double jjs_parse_float(const char *s, size_t len);

/* ---- rendering context ---- */

enum { JE_NONE, JE_RUNTIME, JE_BREAK, JE_CONTINUE };

typedef struct jctx {
    const struct jinja_template *tpl;
    char *err;
    size_t errlen;
    int err_kind;
    size_t steps, max_steps;
    int depth, max_depth;
    size_t max_output, max_items;
    int64_t now;
    jdict **ns;       /* namespaces created, cleared at the end to break cycles */
    size_t ns_n, ns_cap;
} jctx;

/* Records a runtime error (first one wins) and returns -1. */
int jctx_fail(jctx *c, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
int jctx_oom(jctx *c);
bool jctx_track_ns(jctx *c, jdict *ns);

/* Value conversions that follow the reference's toString paths. */
int jv_to_string(jctx *c, jval v, jbuf *out);       /* RuntimeValue.toString() */
int jv_prim_string(jctx *c, jval v, jbuf *out, bool nullish_empty); /* value.toString() / Array.join */
typedef struct jjson_opts {
    int indent;            /* <= 0: compact */
    bool ensure_ascii, sort_keys, undef_as_null;
    const char *item_sep, *key_sep; /* NULL: defaults */
} jjson_opts;
int jv_to_json(jctx *c, jval v, const jjson_opts *o, jbuf *out);
bool jv_truthy(jval v);
bool jv_loose_eq(jctx *c, jval a, jval b);   /* JavaScript a.value == b.value */
bool jv_strict_eq(jval a, jval b);           /* JavaScript a.value === b.value */
int jv_compare(jctx *c, jval a, jval b, bool case_sensitive, int *res);
int jstr_locale_cmp(const jstr *a, const jstr *b); /* String.prototype.localeCompare for sort_keys */
const char *jv_type_name(jval v);
jval jv_from_json(jctx *c, const void *json);      /* json_t* in reference key order */

/* ---- lexer ---- */

typedef enum {
    TK_TEXT,
    TK_NUMBER,
    TK_STRING,
    TK_IDENT,
    TK_EQUALS,
    TK_LPAREN,
    TK_RPAREN,
    TK_OPEN_STMT,
    TK_CLOSE_STMT,
    TK_OPEN_EXPR,
    TK_CLOSE_EXPR,
    TK_LBRACKET,
    TK_RBRACKET,
    TK_LBRACE,
    TK_RBRACE,
    TK_COMMA,
    TK_DOT,
    TK_COLON,
    TK_PIPE,
    TK_ADD_OP,   /* + - ~ */
    TK_MUL_OP,   /* * / // % */
    TK_POW_OP,   /* ** */
    TK_CMP_OP,   /* < > <= >= == != */
    TK_UNARY_OP, /* - + */
    TK_COMMENT,
} jtok_type;

typedef struct jtok {
    uint8_t type;
    uint32_t pos; /* offset in the original source */
    char *val;    /* decoded text, NUL-terminated */
    size_t len;
} jtok;

typedef struct jtoks {
    jtok *v;
    size_t n, cap;
} jtoks;

/* Tokenizes an already sanitized source. On error returns -1 with
 * "line:col: message" in err. */
int jinja_lex(const char *src, size_t len, jtoks *out, char *err, size_t errlen);
void jtoks_free(jtoks *t);
void jinja_linecol(const char *src, size_t len, size_t pos, int *line, int *col);

/* ---- syntax tree ---- */

typedef enum {
    N_STR, N_INT, N_FLOAT, N_IDENT, N_ARRAY, N_TUPLE, N_DICT,
    N_MEMBER, N_SLICE, N_CALL, N_KWARG, N_SPREAD, N_KWSPREAD,
    N_UNARY, N_BINARY, N_FILTER, N_TEST, N_SELECT, N_TERNARY, N_COMMENT,
    N_SET, N_IF, N_FOR, N_MACRO, N_CALLBLOCK, N_FILTERBLOCK, N_BREAK, N_CONTINUE,
} jnode_kind;

typedef enum {
    OP_ADD, OP_SUB, OP_TILDE, OP_MUL, OP_DIV, OP_FLOORDIV, OP_MOD, OP_POW,
    OP_EQ, OP_NE, OP_LT, OP_GT, OP_LE, OP_GE, OP_IN, OP_NOTIN, OP_AND, OP_OR,
    OP_NOT, OP_NEG, OP_POS,
} jop;

typedef struct jnode_list {
    struct jnode **v;
    size_t n, cap;
} jnode_list;

typedef struct jnode {
    uint8_t kind;
    uint8_t op;
    bool flag;        /* computed member / negated test / has caller params */
    uint32_t pos;
    double num;
    jstr *str;        /* literal, identifier or name */
    struct jnode *a, *b, *c;
    jnode_list list;  /* items, arguments, body, parameters */
    jnode_list list2; /* dict values, else/alternate body, caller parameters */
    jnode_list list3; /* call block body */
    uint8_t special;  /* macro: bit 0 uses kwargs, bit 1 uses varargs */
} jnode;

struct jinja_template {
    char *src;      /* sanitized source, for error positions */
    size_t len;
    jnode_list body;
};

int jinja_parse_tokens(jinja_template *t, jtoks *toks, char *err, size_t errlen);
void jnode_free(jnode *n);

/* ---- evaluation (jinja_eval.c) and builtins (jinja_builtins.c) ---- */

int jeval_expr(jctx *c, const jnode *n, jenv *env, jval *out);
int jeval_args(jctx *c, const jnode_list *args, jenv *env, jarr **pos, jdict **kw);
int jcall(jctx *c, jval fn, jarr *pos, jdict *kw, jenv *env, jval *out);

int jbi_member(jctx *c, jval obj, const char *name, size_t len, jval *out); /* builtin attribute */
int jbi_call(jctx *c, const jfunc *f, jarr *pos, jdict *kw, jval *out);
int jbi_filter(jctx *c, jval operand, const jnode *filter, jenv *env, jval *out);
int jbi_test(jctx *c, const char *name, jval operand, bool *res);
bool jbi_has_test(const char *name);
int jbi_slice(jctx *c, jval obj, const jval *start, const jval *stop, const jval *step, jval *out);
void jbi_install_globals(jctx *c, jenv *globals);

#endif
