/* Runtime values of the Jinja interpreter: reference counting, containers,
 * scopes, and the conversions whose output must match the reference
 * byte for byte (toString, tojson, equality, ordering). */
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/jinja_internal.h"

/* ---- reference counting ---- */

jstr *jstr_new(const char *s, size_t len)
{
    jstr *r = malloc(sizeof *r + len + 1);
    if (!r) return NULL;
    r->rc = 1;
    r->len = len;
    if (len) memcpy(r->s, s, len);
    r->s[len] = 0;
    return r;
}

jstr *jstr_cstr(const char *s) { return jstr_new(s, strlen(s)); }

void jstr_release(jstr *s)
{
    if (s && s->rc > 0 && --s->rc == 0) free(s);
}

bool jstr_eq(const jstr *a, const char *s, size_t len) { return a->len == len && memcmp(a->s, s, len) == 0; }

jval jv_str(const char *s, size_t len)
{
    jstr *r = jstr_new(s, len);
    return r ? jv_strv(r) : jv_undef();
}

jval jv_retain(jval v)
{
    switch (v.t) {
    case JV_STR: jstr_retain(v.u.s); break;
    case JV_ARR: if (v.u.a->rc > 0) v.u.a->rc++; break;
    case JV_DICT:
    case JV_NS: if (v.u.d->rc > 0) v.u.d->rc++; break;
    case JV_FUNC: v.u.f->rc++; break;
    default: break;
    }
    return v;
}

void jv_release(jval v)
{
    switch (v.t) {
    case JV_STR: jstr_release(v.u.s); break;
    case JV_ARR: jarr_release(v.u.a); break;
    case JV_DICT:
    case JV_NS: jdict_release(v.u.d); break;
    case JV_FUNC: jfunc_release(v.u.f); break;
    default: break;
    }
}

jarr *jarr_new(size_t cap)
{
    jarr *a = calloc(1, sizeof *a);
    if (!a) return NULL;
    a->rc = 1;
    if (cap) {
        a->v = malloc(cap * sizeof *a->v);
        if (!a->v) { free(a); return NULL; }
        a->cap = cap;
    }
    return a;
}

bool jarr_push(jarr *a, jval v)
{
    if (a->n == a->cap) {
        size_t nc = a->cap ? a->cap * 2 : 4;
        jval *nv = realloc(a->v, nc * sizeof *nv);
        if (!nv) { jv_release(v); return false; }
        a->v = nv;
        a->cap = nc;
    }
    a->v[a->n++] = v;
    return true;
}

void jarr_release(jarr *a)
{
    if (!a || a->rc <= 0 || --a->rc) return;
    for (size_t i = 0; i < a->n; i++) jv_release(a->v[i]);
    free(a->v);
    free(a);
}

jdict *jdict_new(void)
{
    jdict *d = calloc(1, sizeof *d);
    if (d) d->rc = 1;
    return d;
}

void jdict_clear(jdict *d)
{
    for (size_t i = 0; i < d->n; i++) {
        jstr_release(d->k[i]);
        jv_release(d->v[i]);
    }
    free(d->k);
    free(d->v);
    free(d->idx);
    d->k = NULL;
    d->v = NULL;
    d->idx = NULL;
    d->n = d->cap = d->idxcap = 0;
}

void jdict_release(jdict *d)
{
    if (!d || d->rc <= 0 || --d->rc) return;
    jdict_clear(d);
    free(d);
}

static uint32_t hash_bytes(const char *s, size_t n)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++) h = (h ^ (uint8_t)s[i]) * 16777619u;
    return h;
}

enum { DICT_INDEX_MIN = 16 };

static bool dict_reindex(jdict *d)
{
    size_t cap = 32;
    while (cap < d->n * 2) cap *= 2;
    int32_t *idx = malloc(cap * sizeof *idx);
    if (!idx) return false;
    for (size_t i = 0; i < cap; i++) idx[i] = -1;
    for (size_t i = 0; i < d->n; i++) {
        size_t h = hash_bytes(d->k[i]->s, d->k[i]->len) & (cap - 1);
        while (idx[h] >= 0) h = (h + 1) & (cap - 1);
        idx[h] = (int32_t)i;
    }
    free(d->idx);
    d->idx = idx;
    d->idxcap = cap;
    return true;
}

static long dict_find(const jdict *d, const char *k, size_t len)
{
    if (d->idx) {
        size_t h = hash_bytes(k, len) & (d->idxcap - 1);
        while (d->idx[h] >= 0) {
            if (jstr_eq(d->k[d->idx[h]], k, len)) return d->idx[h];
            h = (h + 1) & (d->idxcap - 1);
        }
        return -1;
    }
    for (size_t i = 0; i < d->n; i++)
        if (jstr_eq(d->k[i], k, len)) return (long)i;
    return -1;
}

jval *jdict_get(const jdict *d, const char *k, size_t len)
{
    long i = dict_find(d, k, len);
    return i < 0 ? NULL : &d->v[i];
}

bool jdict_set(jdict *d, jstr *k, jval v)
{
    long i = dict_find(d, k->s, k->len);
    if (i >= 0) {
        jstr_release(k);
        jv_release(d->v[i]);
        d->v[i] = v;
        return true;
    }
    if (d->n == d->cap) {
        size_t nc = d->cap ? d->cap * 2 : 4;
        jstr **nk = realloc(d->k, nc * sizeof *nk);
        if (!nk) goto fail;
        d->k = nk;
        jval *nv = realloc(d->v, nc * sizeof *nv);
        if (!nv) goto fail;
        d->v = nv;
        d->cap = nc;
    }
    d->k[d->n] = k;
    d->v[d->n] = v;
    d->n++;
    if (d->n >= DICT_INDEX_MIN && (!d->idx || d->n * 2 > d->idxcap)) {
        if (!dict_reindex(d)) { free(d->idx); d->idx = NULL; d->idxcap = 0; }
    } else if (d->idx) {
        size_t h = hash_bytes(k->s, k->len) & (d->idxcap - 1);
        while (d->idx[h] >= 0) h = (h + 1) & (d->idxcap - 1);
        d->idx[h] = (int32_t)(d->n - 1);
    }
    return true;
fail:
    jstr_release(k);
    jv_release(v);
    return false;
}

jfunc *jfunc_new(int kind, int id)
{
    jfunc *f = calloc(1, sizeof *f);
    if (!f) return NULL;
    f->rc = 1;
    f->kind = (uint8_t)kind;
    f->id = (uint16_t)id;
    f->self = jv_undef();
    return f;
}

void jfunc_release(jfunc *f)
{
    if (!f || --f->rc) return;
    jv_release(f->self);
    jenv_release(f->env);
    free(f);
}

jenv *jenv_new(jenv *parent)
{
    jenv *e = calloc(1, sizeof *e);
    if (!e) return NULL;
    e->vars = jdict_new();
    if (!e->vars) { free(e); return NULL; }
    e->rc = 1;
    e->parent = jenv_retain(parent);
    return e;
}

jenv *jenv_retain(jenv *e)
{
    if (e) e->rc++;
    return e;
}

void jenv_release(jenv *e)
{
    while (e && --e->rc == 0) {
        jenv *p = e->parent;
        jdict_release(e->vars);
        free(e);
        e = p;
    }
}

jval jenv_lookup(const jenv *e, const char *name, size_t len)
{
    for (; e; e = e->parent) {
        jval *v = jdict_get(e->vars, name, len);
        if (v) return *v;
    }
    return jv_undef();
}

bool jenv_set(jenv *e, const char *name, size_t len, jval v)
{
    jval *slot = jdict_get(e->vars, name, len);
    if (slot) {
        jv_release(*slot);
        *slot = v;
        return true;
    }
    jstr *k = jstr_new(name, len);
    if (!k) { jv_release(v); return false; }
    return jdict_set(e->vars, k, v);
}

/* ---- errors ---- */

int jctx_fail(jctx *c, const char *fmt, ...)
{
    if (c->err_kind == JE_NONE) {
        c->err_kind = JE_RUNTIME;
        if (c->err && c->errlen) {
            va_list ap;
            va_start(ap, fmt);
            vsnprintf(c->err, c->errlen, fmt, ap);
            va_end(ap);
        }
    }
    return -1;
}

int jctx_oom(jctx *c) { return jctx_fail(c, "out of memory"); }

bool jctx_track_ns(jctx *c, jdict *ns)
{
    if (c->ns_n == c->ns_cap) {
        size_t nc = c->ns_cap ? c->ns_cap * 2 : 8;
        jdict **nv = realloc(c->ns, nc * sizeof *nv);
        if (!nv) return false;
        c->ns = nv;
        c->ns_cap = nc;
    }
    ns->rc++;
    c->ns[c->ns_n++] = ns;
    return true;
}

/* ---- growable buffer ---- */

void jbuf_put(jbuf *b, const char *s, size_t n)
{
    if (b->oom || n == 0) return;
    if (b->n + n + 1 > b->cap) {
        size_t nc = b->cap ? b->cap : 64;
        while (nc < b->n + n + 1) nc *= 2;
        char *np = realloc(b->p, nc);
        if (!np) { b->oom = true; return; }
        b->p = np;
        b->cap = nc;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
}

void jbuf_putc(jbuf *b, char c) { jbuf_put(b, &c, 1); }
void jbuf_puts(jbuf *b, const char *s) { jbuf_put(b, s, strlen(s)); }

void jbuf_put_cp(jbuf *b, uint32_t cp)
{
    char tmp[4];
    jbuf_put(b, tmp, jutf8_encode(cp, tmp));
}

void jbuf_free(jbuf *b)
{
    free(b->p);
    b->p = NULL;
    b->n = b->cap = 0;
}

/* ---- UTF-8 and JavaScript string semantics ---- */

uint32_t jutf8_next(const char *str, size_t len, size_t *i)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t p = *i;
    unsigned char c = s[p];
    if (c < 0x80) { *i = p + 1; return c; }
    int need;
    uint32_t cp, min;
    if (c >= 0xc2 && c <= 0xdf) { need = 1; cp = c & 0x1f; min = 0x80; }
    else if (c >= 0xe0 && c <= 0xef) { need = 2; cp = c & 0x0f; min = 0x800; }
    else if (c >= 0xf0 && c <= 0xf4) { need = 3; cp = c & 0x07; min = 0x10000; }
    else { *i = p + 1; return 0xfffd; }
    size_t q = p + 1;
    for (int k = 0; k < need; k++, q++) {
        if (q >= len || (s[q] & 0xc0) != 0x80) { *i = q; return 0xfffd; }
        cp = (cp << 6) | (s[q] & 0x3f);
        /* reject overlong and surrogate prefixes early, like a WHATWG decoder */
        if (k == 0 && ((need == 2 && cp < (min >> 6)) || (need == 3 && cp < (min >> 12)) ||
                       (need == 2 && cp >= 0x360 && cp <= 0x37f) || (need == 3 && cp > 0x10f))) {
            *i = q;
            return 0xfffd;
        }
    }
    *i = q;
    if (cp < min || (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff) return 0xfffd;
    return cp;
}

size_t jutf8_encode(uint32_t cp, char o[4])
{
    if (cp < 0x80) { o[0] = (char)cp; return 1; }
    if (cp < 0x800) { o[0] = (char)(0xc0 | (cp >> 6)); o[1] = (char)(0x80 | (cp & 0x3f)); return 2; }
    if (cp >= 0xd800 && cp <= 0xdfff) cp = 0xfffd;
    if (cp < 0x10000) {
        o[0] = (char)(0xe0 | (cp >> 12));
        o[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        o[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    if (cp > 0x10ffff) return jutf8_encode(0xfffd, o);
    o[0] = (char)(0xf0 | (cp >> 18));
    o[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
    o[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

char *jutf8_sanitize(const char *src, size_t len, size_t *out_len)
{
    jbuf b = {0};
    size_t i = 0;
    while (i < len) {
        size_t start = i;
        uint32_t cp = jutf8_next(src, len, &i);
        if (cp == 0xfffd) jbuf_put_cp(&b, cp);
        else jbuf_put(&b, src + start, i - start);
    }
    if (!b.p && !b.oom) b.p = calloc(1, 1);
    if (b.oom || !b.p) { free(b.p); return NULL; }
    *out_len = b.n;
    return b.p;
}

bool jjs_is_space(uint32_t c)
{
    return c == ' ' || (c >= 0x09 && c <= 0x0d) || c == 0xa0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200a) ||
           c == 0x2028 || c == 0x2029 || c == 0x202f || c == 0x205f || c == 0x3000 || c == 0xfeff;
}

size_t jjs_u16_len(const char *s, size_t len)
{
    size_t n = 0;
    for (size_t i = 0; i < len;) n += jutf8_next(s, len, &i) >= 0x10000 ? 2 : 1;
    return n;
}

/* Orders like JavaScript's < on strings: by UTF-16 code units. */
int jjs_u16_cmp(const char *a, size_t an, const char *b, size_t bn)
{
    size_t i = 0, j = 0;
    while (i < an && j < bn) {
        uint32_t x = jutf8_next(a, an, &i), y = jutf8_next(b, bn, &j);
        if (x == y) continue;
        /* astral code points start with a high surrogate 0xd800..0xdbff */
        uint32_t ux = x >= 0x10000 ? 0xd800 + ((x - 0x10000) >> 10) : x;
        uint32_t uy = y >= 0x10000 ? 0xd800 + ((y - 0x10000) >> 10) : y;
        if (ux != uy) return ux < uy ? -1 : 1;
        return x < y ? -1 : 1;
    }
    if (i < an) return 1;
    if (j < bn) return -1;
    return 0;
}

void jjs_trim(const char *s, size_t len, bool start, bool end, size_t *off, size_t *n)
{
    size_t a = 0, b = len;
    if (start) {
        while (a < b) {
            size_t i = a;
            if (!jjs_is_space(jutf8_next(s, len, &i))) break;
            a = i;
        }
    }
    if (end) {
        while (b > a) {
            size_t p = b - 1;
            while (p > a && ((unsigned char)s[p] & 0xc0) == 0x80) p--;
            size_t i = p;
            if (!jjs_is_space(jutf8_next(s, len, &i))) break;
            b = p;
        }
    }
    *off = a;
    *n = b - a;
}

/* ---- numbers like JavaScript ---- */

/* Shortest digits that round-trip, as Number.prototype.toString picks them. */
static int shortest_digits(double d, char digits[20], int *exp10)
{
    char tmp[40];
    digits[0] = '0';
    digits[1] = 0;
    *exp10 = 0;
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(tmp, sizeof tmp, "%.*e", prec - 1, d);
        if (strtod(tmp, NULL) == d || prec == 17) {
            int k = 0;
            char *p = tmp;
            for (; *p && *p != 'e'; p++)
                if (*p >= '0' && *p <= '9') digits[k++] = *p;
            while (k > 1 && digits[k - 1] == '0') k--;
            digits[k] = 0;
            *exp10 = atoi(p + 1);
            return k;
        }
    }
    return 1;
}

void jjs_num_str(double d, char out[40])
{
    if (isnan(d)) { strcpy(out, "NaN"); return; }
    if (isinf(d)) { strcpy(out, d > 0 ? "Infinity" : "-Infinity"); return; }
    if (d == 0) { strcpy(out, "0"); return; }
    char *o = out;
    if (d < 0) { *o++ = '-'; d = -d; }
    char dg[20];
    int e = 0;
    int k = shortest_digits(d, dg, &e);
    int n = e + 1;
    if (k <= n && n <= 21) {
        memcpy(o, dg, (size_t)k);
        o += k;
        for (int i = 0; i < n - k; i++) *o++ = '0';
    } else if (0 < n && n <= 21) {
        memcpy(o, dg, (size_t)n);
        o += n;
        *o++ = '.';
        memcpy(o, dg + n, (size_t)(k - n));
        o += k - n;
    } else if (-6 < n && n <= 0) {
        *o++ = '0';
        *o++ = '.';
        for (int i = 0; i < -n; i++) *o++ = '0';
        memcpy(o, dg, (size_t)k);
        o += k;
    } else {
        *o++ = dg[0];
        if (k > 1) {
            *o++ = '.';
            memcpy(o, dg + 1, (size_t)(k - 1));
            o += k - 1;
        }
        o += sprintf(o, "e%c%d", n - 1 >= 0 ? '+' : '-', abs(n - 1));
    }
    *o = 0;
}

void jjs_float_str(double d, char out[48])
{
    if (d == 0 && signbit(d)) { strcpy(out, "-0.0"); return; }
    if (isfinite(d) && fmod(d, 1.0) == 0 && fabs(d) < 1e21) {
        snprintf(out, 48, "%.1f", d);
        return;
    }
    jjs_num_str(d, out);
}

static size_t skip_js_space(const char *s, size_t len, size_t i)
{
    while (i < len) {
        size_t j = i;
        if (!jjs_is_space(jutf8_next(s, len, &j))) break;
        i = j;
    }
    return i;
}

/* Longest StrDecimalLiteral prefix at s[i]: returns its end, or i if none. */
static size_t decimal_prefix(const char *s, size_t len, size_t i, bool *is_inf)
{
    size_t p = i;
    *is_inf = false;
    if (p < len && (s[p] == '+' || s[p] == '-')) p++;
    if (len - p >= 8 && memcmp(s + p, "Infinity", 8) == 0) { *is_inf = true; return p + 8; }
    size_t digits = 0, q = p;
    while (q < len && s[q] >= '0' && s[q] <= '9') q++, digits++;
    if (q < len && s[q] == '.') {
        size_t r = q + 1, frac = 0;
        while (r < len && s[r] >= '0' && s[r] <= '9') r++, frac++;
        if (digits + frac > 0) { q = r; digits += frac; }
    }
    if (digits == 0) return i;
    if (q < len && (s[q] == 'e' || s[q] == 'E')) {
        size_t r = q + 1;
        if (r < len && (s[r] == '+' || s[r] == '-')) r++;
        size_t ed = 0;
        while (r < len && s[r] >= '0' && s[r] <= '9') r++, ed++;
        if (ed) q = r;
    }
    return q;
}

static double strtod_n(const char *s, size_t n)
{
    char small[64];
    char *tmp = n < sizeof small ? small : malloc(n + 1);
    if (!tmp) return NAN;
    memcpy(tmp, s, n);
    tmp[n] = 0;
    double d = strtod(tmp, NULL);
    if (tmp != small) free(tmp);
    return d;
}

double jjs_parse_float(const char *s, size_t len)
{
    size_t i = skip_js_space(s, len, 0);
    bool inf;
    size_t e = decimal_prefix(s, len, i, &inf);
    if (e == i) return NAN;
    if (inf) return s[i] == '-' ? -INFINITY : INFINITY;
    return strtod_n(s + i, e - i);
}

double jjs_parse_int(const char *s, size_t len)
{
    size_t i = skip_js_space(s, len, 0);
    bool neg = false;
    if (i < len && (s[i] == '+' || s[i] == '-')) neg = s[i++] == '-';
    size_t st = i;
    while (i < len && s[i] >= '0' && s[i] <= '9') i++;
    if (i == st) return NAN;
    double v = strtod_n(s + st, i - st);
    return neg ? -v : v;
}

double jjs_to_number(const char *s, size_t len)
{
    size_t off, n;
    jjs_trim(s, len, true, true, &off, &n);
    s += off;
    if (n == 0) return 0;
    if (n > 2 && s[0] == '0' && (s[1] | 0x20) != 'e' && ((s[1] | 0x20) == 'x' || (s[1] | 0x20) == 'o' || (s[1] | 0x20) == 'b')) {
        int base = (s[1] | 0x20) == 'x' ? 16 : (s[1] | 0x20) == 'o' ? 8 : 2;
        double v = 0;
        for (size_t i = 2; i < n; i++) {
            int c = (unsigned char)s[i], d;
            if (c >= '0' && c <= '9') d = c - '0';
            else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f') d = (c | 0x20) - 'a' + 10;
            else return NAN;
            if (d >= base) return NAN;
            v = v * base + d;
        }
        return v;
    }
    bool inf;
    size_t e = decimal_prefix(s, n, 0, &inf);
    if (e != n) return NAN;
    if (inf) return s[0] == '-' ? -INFINITY : INFINITY;
    return strtod_n(s, n);
}

/* ---- conversions to text ---- */

const char *jv_type_name(jval v)
{
    switch (v.t) {
    case JV_UNDEF: return "UndefinedValue";
    case JV_NONE: return "NullValue";
    case JV_BOOL: return "BooleanValue";
    case JV_INT: return "IntegerValue";
    case JV_FLOAT: return "FloatValue";
    case JV_STR: return "StringValue";
    case JV_ARR: return v.u.a->tuple ? "TupleValue" : "ArrayValue";
    case JV_DICT: return v.u.d->kwargs ? "KeywordArgumentsValue" : "ObjectValue";
    case JV_NS: return "NamespaceValue";
    default: return "FunctionValue";
    }
}

static int json_quote(jbuf *o, const char *s, size_t len, bool ascii)
{
    static const char hex[] = "0123456789abcdef";
    jbuf_putc(o, '"');
    size_t run = 0;
    for (size_t i = 0; i < len;) {
        unsigned char c = (unsigned char)s[i];
        const char *esc = NULL;
        char tmp[16];
        size_t start = i;
        if (c < 0x80) {
            i++;
            switch (c) {
            case '"': esc = "\\\""; break;
            case '\\': esc = "\\\\"; break;
            case '\b': esc = "\\b"; break;
            case '\f': esc = "\\f"; break;
            case '\n': esc = "\\n"; break;
            case '\r': esc = "\\r"; break;
            case '\t': esc = "\\t"; break;
            default:
                if (c < 0x20 || (ascii && c == 0x7f)) {
                    snprintf(tmp, sizeof tmp, "\\u%04x", c);
                    esc = tmp;
                }
            }
        } else {
            uint32_t cp = jutf8_next(s, len, &i);
            if (ascii) {
                if (cp >= 0x10000) {
                    uint32_t v = cp - 0x10000, hi = 0xd800 + (v >> 10), lo = 0xdc00 + (v & 0x3ff);
                    snprintf(tmp, sizeof tmp, "\\u%c%c%c%c\\u%c%c%c%c", hex[hi >> 12], hex[(hi >> 8) & 15],
                             hex[(hi >> 4) & 15], hex[hi & 15], hex[lo >> 12], hex[(lo >> 8) & 15], hex[(lo >> 4) & 15],
                             hex[lo & 15]);
                } else {
                    snprintf(tmp, sizeof tmp, "\\u%04x", cp);
                }
                esc = tmp;
            }
        }
        if (esc) {
            jbuf_put(o, s + start - run, run);
            run = 0;
            jbuf_puts(o, esc);
        } else {
            run += i - start;
        }
    }
    jbuf_put(o, s + len - run, run);
    jbuf_putc(o, '"');
    return 0;
}

static int json_rec(jctx *c, jval v, const jjson_opts *o, int depth, jbuf *out)
{
    char num[48];
    if (++c->steps > c->max_steps) return jctx_fail(c, "template exceeded the evaluation step limit");
    if (depth > c->max_depth) return jctx_fail(c, "value nested too deeply to serialize");
    if (out->n > c->max_output) return jctx_fail(c, "output exceeds the limit of %zu bytes", c->max_output);
    switch (v.t) {
    case JV_NONE: jbuf_puts(out, "null"); return 0;
    case JV_UNDEF: jbuf_puts(out, o->undef_as_null ? "null" : "undefined"); return 0;
    case JV_BOOL: jbuf_puts(out, v.u.b ? "true" : "false"); return 0;
    case JV_INT:
    case JV_FLOAT:
        if (!isfinite(v.u.n)) { jbuf_puts(out, "null"); return 0; }
        jjs_num_str(v.u.n, num);
        jbuf_puts(out, num);
        return 0;
    case JV_STR: return json_quote(out, v.u.s->s, v.u.s->len, o->ensure_ascii);
    case JV_ARR:
    case JV_DICT:
    case JV_NS: break;
    default: return jctx_fail(c, "Cannot convert to JSON: %s", jv_type_name(v));
    }
    if ((v.t == JV_ARR && v.u.a->tuple) || (v.t == JV_DICT && v.u.d->kwargs))
        return jctx_fail(c, "Cannot convert to JSON: %s", jv_type_name(v));
    const char *item_sep = o->item_sep ? o->item_sep : o->indent > 0 ? "," : ", ";
    const char *key_sep = o->key_sep ? o->key_sep : ": ";
    bool ind = o->indent > 0;
    size_t count = v.t == JV_ARR ? v.u.a->n : v.u.d->n;
    jbuf_putc(out, v.t == JV_ARR ? '[' : '{');
    size_t *order = NULL;
    if (v.t != JV_ARR && o->sort_keys && count > 1) {
        order = malloc(count * sizeof *order);
        if (!order) return jctx_oom(c);
        for (size_t i = 0; i < count; i++) order[i] = i;
        /* insertion sort is stable like Array.prototype.sort */
        for (size_t i = 1; i < count; i++) {
            size_t x = order[i], j = i;
            while (j > 0 && jstr_locale_cmp(v.u.d->k[order[j - 1]], v.u.d->k[x]) > 0) {
                order[j] = order[j - 1];
                j--;
            }
            order[j] = x;
        }
    }
    for (size_t i = 0; i < count; i++) {
        if (i) jbuf_puts(out, item_sep);
        if (ind) {
            jbuf_putc(out, '\n');
            for (int k = 0; k < (depth + 1) * o->indent; k++) jbuf_putc(out, ' ');
        }
        jval item;
        if (v.t == JV_ARR) {
            item = v.u.a->v[i];
        } else {
            size_t at = order ? order[i] : i;
            json_quote(out, v.u.d->k[at]->s, v.u.d->k[at]->len, o->ensure_ascii);
            jbuf_puts(out, key_sep);
            item = v.u.d->v[at];
        }
        if (json_rec(c, item, o, depth + 1, out)) { free(order); return -1; }
    }
    free(order);
    if (ind && count) {
        jbuf_putc(out, '\n');
        for (int k = 0; k < depth * o->indent; k++) jbuf_putc(out, ' ');
    }
    jbuf_putc(out, v.t == JV_ARR ? ']' : '}');
    if (out->oom) return jctx_oom(c);
    return 0;
}

int jv_to_json(jctx *c, jval v, const jjson_opts *o, jbuf *out)
{
    return json_rec(c, v, o, 0, out);
}

int jv_to_string(jctx *c, jval v, jbuf *out)
{
    char num[48];
    switch (v.t) {
    case JV_UNDEF: jbuf_puts(out, "undefined"); return 0;
    case JV_NONE: jbuf_puts(out, "null"); return 0;
    case JV_BOOL: jbuf_puts(out, v.u.b ? "true" : "false"); return 0;
    case JV_INT: jjs_num_str(v.u.n, num); jbuf_puts(out, num); return 0;
    case JV_FLOAT: jjs_float_str(v.u.n, num); jbuf_puts(out, num); return 0;
    case JV_STR: jbuf_put(out, v.u.s->s, v.u.s->len); return 0;
    case JV_ARR:
    case JV_DICT:
    case JV_NS: {
        jjson_opts o = {0};
        return jv_to_json(c, v, &o, out);
    }
    default: return jctx_fail(c, "Cannot convert a function to a string");
    }
}

/* The JavaScript primitive's toString: arrays join their elements' toString
 * with ",", maps are "[object Map]". With nullish_empty, null/undefined give
 * "" as Array.prototype.join does. */
int jv_prim_string(jctx *c, jval v, jbuf *out, bool nullish_empty)
{
    char num[40];
    switch (v.t) {
    case JV_UNDEF:
    case JV_NONE:
        if (!nullish_empty) return jctx_fail(c, "Cannot read properties of %s (reading 'toString')", v.t == JV_NONE ? "null" : "undefined");
        return 0;
    case JV_BOOL: jbuf_puts(out, v.u.b ? "true" : "false"); return 0;
    case JV_INT:
    case JV_FLOAT: jjs_num_str(v.u.n, num); jbuf_puts(out, num); return 0;
    case JV_STR: jbuf_put(out, v.u.s->s, v.u.s->len); return 0;
    case JV_ARR:
        for (size_t i = 0; i < v.u.a->n; i++) {
            if (i) jbuf_putc(out, ',');
            if (jv_to_string(c, v.u.a->v[i], out)) return -1;
            if (out->n > c->max_output) return jctx_fail(c, "output exceeds the limit of %zu bytes", c->max_output);
        }
        return 0;
    case JV_DICT:
    case JV_NS: jbuf_puts(out, "[object Map]"); return 0;
    default: return jctx_fail(c, "Cannot convert a function to a string");
    }
}

bool jv_truthy(jval v)
{
    switch (v.t) {
    case JV_BOOL: return v.u.b;
    case JV_INT:
    case JV_FLOAT: return v.u.n != 0 && !isnan(v.u.n);
    case JV_STR: return v.u.s->len > 0;
    case JV_ARR: return v.u.a->n > 0;
    case JV_DICT: return v.u.d->n > 0;
    case JV_NS:
    case JV_FUNC: return true;
    default: return false;
    }
}

static bool same_object(jval a, jval b)
{
    if (a.t != b.t) return (a.t == JV_DICT || a.t == JV_NS) && (b.t == JV_DICT || b.t == JV_NS) && a.u.d == b.u.d;
    switch (a.t) {
    case JV_ARR: return a.u.a == b.u.a;
    case JV_DICT:
    case JV_NS: return a.u.d == b.u.d;
    case JV_FUNC: return a.u.f == b.u.f;
    default: return false;
    }
}

bool jv_strict_eq(jval a, jval b)
{
    bool an = jv_is_num(a), bn = jv_is_num(b);
    if (an || bn) return an && bn && a.u.n == b.u.n;
    if (a.t != b.t && !((a.t == JV_DICT || a.t == JV_NS) && (b.t == JV_DICT || b.t == JV_NS))) return false;
    switch (a.t) {
    case JV_UNDEF:
    case JV_NONE: return true;
    case JV_BOOL: return a.u.b == b.u.b;
    case JV_STR: return a.u.s->len == b.u.s->len && memcmp(a.u.s->s, b.u.s->s, a.u.s->len) == 0;
    default: return same_object(a, b);
    }
}

/* Abstract equality (==) between the JavaScript values behind a and b. */
bool jv_loose_eq(jctx *c, jval a, jval b)
{
    bool a_obj = a.t >= JV_ARR, b_obj = b.t >= JV_ARR;
    if (a_obj && b_obj) return same_object(a, b);
    bool a_nullish = a.t <= JV_NONE, b_nullish = b.t <= JV_NONE;
    if (a_nullish || b_nullish) return a_nullish && b_nullish;
    if (a_obj || b_obj) {
        /* ToPrimitive: arrays become their joined text, maps "[object Map]" */
        jval o = a_obj ? a : b, p = a_obj ? b : a;
        if (o.t == JV_FUNC) return false;
        jbuf tmp = {0};
        int saved_kind = c->err_kind;
        bool eq = false;
        if (jv_prim_string(c, o, &tmp, true) == 0 && !tmp.oom) {
            jstr *s = jstr_new(tmp.p ? tmp.p : "", tmp.n);
            if (s) {
                eq = jv_loose_eq(c, jv_strv(s), p);
                jstr_release(s);
            }
        } else if (saved_kind == JE_NONE) {
            c->err_kind = JE_NONE; /* an unprintable element just compares unequal */
        }
        jbuf_free(&tmp);
        return eq;
    }
    if (a.t == JV_BOOL) return jv_loose_eq(c, jv_int(a.u.b), b);
    if (b.t == JV_BOOL) return jv_loose_eq(c, a, jv_int(b.u.b));
    if (a.t == JV_STR && b.t == JV_STR) return jv_strict_eq(a, b);
    double x = a.t == JV_STR ? jjs_to_number(a.u.s->s, a.u.s->len) : a.u.n;
    double y = b.t == JV_STR ? jjs_to_number(b.u.s->s, b.u.s->len) : b.u.n;
    return x == y;
}

/* compareRuntimeValues: numbers (and booleans) with each other, strings with
 * strings (case-folded unless case_sensitive), nulls and undefineds only with
 * their own kind. */
int jv_compare(jctx *c, jval a, jval b, bool case_sensitive, int *res)
{
    if (a.t == JV_NONE && b.t == JV_NONE) { *res = 0; return 0; }
    if (a.t == JV_NONE || b.t == JV_NONE) return jctx_fail(c, "Cannot compare %s with %s", jv_type_name(a), jv_type_name(b));
    if (a.t == JV_UNDEF && b.t == JV_UNDEF) { *res = 0; return 0; }
    if (a.t == JV_UNDEF || b.t == JV_UNDEF) return jctx_fail(c, "Cannot compare %s with %s", jv_type_name(a), jv_type_name(b));
    bool an = jv_is_num(a) || a.t == JV_BOOL, bn = jv_is_num(b) || b.t == JV_BOOL;
    if (an && bn) {
        double x = a.t == JV_BOOL ? a.u.b : a.u.n, y = b.t == JV_BOOL ? b.u.b : b.u.n;
        *res = x < y ? -1 : x > y ? 1 : 0;
        return 0;
    }
    if (strcmp(jv_type_name(a), jv_type_name(b)) != 0)
        return jctx_fail(c, "Cannot compare different types: %s and %s", jv_type_name(a), jv_type_name(b));
    if (a.t != JV_STR) return jctx_fail(c, "Cannot compare type: %s", jv_type_name(a));
    if (case_sensitive) {
        *res = jjs_u16_cmp(a.u.s->s, a.u.s->len, b.u.s->s, b.u.s->len);
        return 0;
    }
    jbuf x = {0}, y = {0};
    jjs_lower(&x, a.u.s->s, a.u.s->len);
    jjs_lower(&y, b.u.s->s, b.u.s->len);
    bool oom = x.oom || y.oom;
    *res = oom ? 0 : jjs_u16_cmp(x.p ? x.p : "", x.n, y.p ? y.p : "", y.n);
    jbuf_free(&x);
    jbuf_free(&y);
    return oom ? jctx_oom(c) : 0;
}

/* ---- JSON context in, in the order Object.entries would give ---- */

static bool array_index_key(const char *k, size_t n, double *v)
{
    if (n == 0 || n > 10) return false;
    if (n > 1 && k[0] == '0') return false;
    double x = 0;
    for (size_t i = 0; i < n; i++) {
        if (k[i] < '0' || k[i] > '9') return false;
        x = x * 10 + (k[i] - '0');
    }
    if (x > 4294967294.0) return false;
    *v = x;
    return true;
}

jval jv_from_json(jctx *c, const void *jp)
{
    const json_t *j = jp;
    if (++c->depth > c->max_depth) {
        c->depth--;
        jctx_fail(c, "context nested too deeply");
        return jv_undef();
    }
    jval r = jv_none();
    switch (json_typeof(j)) {
    case JSON_STRING: {
        size_t n;
        char *s = jutf8_sanitize(json_string_value(j), json_string_length(j), &n);
        jstr *st = s ? jstr_new(s, n) : NULL;
        free(s);
        r = st ? jv_strv(st) : jv_undef();
        if (!st) jctx_oom(c);
        break;
    }
    case JSON_INTEGER: r = jv_int((double)json_integer_value(j)); break;
    case JSON_REAL: {
        double d = json_real_value(j);
        r = (isfinite(d) && d == floor(d)) ? jv_int(d) : jv_float(d);
        break;
    }
    case JSON_TRUE: r = jv_bool(true); break;
    case JSON_FALSE: r = jv_bool(false); break;
    case JSON_NULL: r = jv_none(); break;
    case JSON_ARRAY: {
        jarr *a = jarr_new(json_array_size(j));
        if (!a) { jctx_oom(c); r = jv_undef(); break; }
        for (size_t i = 0; i < json_array_size(j) && c->err_kind == JE_NONE; i++)
            if (!jarr_push(a, jv_from_json(c, json_array_get(j, i)))) jctx_oom(c);
        r = jv_arrv(a);
        break;
    }
    case JSON_OBJECT: {
        jdict *d = jdict_new();
        if (!d) { jctx_oom(c); r = jv_undef(); break; }
        r = jv_dictv(d);
        /* integer-like keys first in ascending order, then insertion order */
        size_t n = json_object_size(j), ni = 0;
        const char **ik = n ? malloc(n * sizeof *ik) : NULL;
        double *iv = n ? malloc(n * sizeof *iv) : NULL;
        if (n && (!ik || !iv)) { free(ik); free(iv); jctx_oom(c); break; }
        const char *key;
        json_t *val;
        json_object_foreach((json_t *)j, key, val) {
            double x;
            if (array_index_key(key, strlen(key), &x)) {
                size_t p = ni++;
                while (p > 0 && iv[p - 1] > x) { iv[p] = iv[p - 1]; ik[p] = ik[p - 1]; p--; }
                iv[p] = x;
                ik[p] = key;
            }
        }
        for (size_t i = 0; i < ni && c->err_kind == JE_NONE; i++) {
            jstr *k = jstr_cstr(ik[i]);
            if (!k || !jdict_set(d, k, jv_from_json(c, json_object_get(j, ik[i])))) jctx_oom(c);
        }
        json_object_foreach((json_t *)j, key, val) {
            double x;
            if (c->err_kind != JE_NONE) break;
            if (array_index_key(key, strlen(key), &x)) continue;
            size_t kn;
            char *ks = jutf8_sanitize(key, strlen(key), &kn);
            jstr *k = ks ? jstr_new(ks, kn) : NULL;
            free(ks);
            if (!k || !jdict_set(d, k, jv_from_json(c, val))) jctx_oom(c);
        }
        free(ik);
        free(iv);
        break;
    }
    }
    c->depth--;
    return r;
}

/* ---- localeCompare (ICU root collation) for tojson(sort_keys=true) ----
 * ASCII follows the root order: whitespace, punctuation, symbols, digits,
 * then letters compared without case first and lowercase before uppercase
 * only as a tie-break; other controls are ignored. Non-ASCII code points
 * sort after ASCII by code point, an approximation. */

static const char COLLATION_ORDER[] = "\t\n\v\f\r _-,;:!?.'\"()[]{}@*/\\&#%`^+<=>|~$0123456789";

static uint32_t primary_weight(uint32_t cp, int *tertiary)
{
    *tertiary = 0;
    if (cp >= 0x80) return 1000 + cp;
    if (cp >= 'a' && cp <= 'z') return 200 + (cp - 'a');
    if (cp >= 'A' && cp <= 'Z') { *tertiary = 1; return 200 + (cp - 'A'); }
    const char *p = cp ? strchr(COLLATION_ORDER, (int)cp) : NULL;
    return p ? 1 + (uint32_t)(p - COLLATION_ORDER) : 0;
}

static int collate_level(const jstr *a, const jstr *b, bool tertiary_level)
{
    size_t i = 0, j = 0;
    for (;;) {
        uint32_t wa = 0, wb = 0;
        int ta = 0, tb = 0;
        while (i < a->len && !(wa = primary_weight(jutf8_next(a->s, a->len, &i), &ta))) {}
        while (j < b->len && !(wb = primary_weight(jutf8_next(b->s, b->len, &j), &tb))) {}
        if (!wa && !wb) return 0;
        if (!wa) return -1;
        if (!wb) return 1;
        uint32_t xa = tertiary_level ? (uint32_t)ta : wa, xb = tertiary_level ? (uint32_t)tb : wb;
        if (xa != xb) return xa < xb ? -1 : 1;
    }
}

int jstr_locale_cmp(const jstr *a, const jstr *b)
{
    int r = collate_level(a, b, false);
    return r ? r : collate_level(a, b, true);
}
