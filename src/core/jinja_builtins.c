/* Builtin filters, tests, methods and globals, each following the
 * reference's behaviour for the operand types it accepts and failing where
 * it throws. Extensions, only where the reference has no such filter or
 * rejects the form: d / default without arguments, count, select, reject,
 * round, and first/last on strings. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/jinja_internal.h"

enum {
    M_UPPER, M_LOWER, M_STRIP, M_TITLE, M_CAPITALIZE, M_RSTRIP, M_LSTRIP, M_STARTSWITH, M_ENDSWITH,
    M_SPLIT, M_REPLACE, M_GET, M_ITEMS, M_KEYS, M_VALUES, M_DICTSORT,
    G_RAISE, G_RANGE, G_STRFTIME, G_NAMESPACE,
};

static const char *STR_METHODS[] = {"upper", "lower", "strip", "title", "capitalize", "rstrip", "lstrip",
                                    "startswith", "endswith", "split", "replace"};
static const char *DICT_METHODS[] = {"get", "items", "keys", "values", "dictsort"};

static jval func_val(jctx *c, int kind, int id, jval self)
{
    jfunc *f = jfunc_new(kind, id);
    if (!f) { jctx_oom(c); return jv_undef(); }
    f->self = jv_retain(self);
    jval v = {.t = JV_FUNC, .u.f = f};
    return v;
}

static int ok_or_oom(jctx *c, jval v) { return v.t == JV_UNDEF ? jctx_oom(c) : 0; }

int jbi_member(jctx *c, jval obj, const char *name, size_t len, jval *out)
{
    *out = jv_undef();
    if (obj.t == JV_STR) {
        if (len == 6 && memcmp(name, "length", 6) == 0) {
            *out = jv_int((double)jjs_u16_len(obj.u.s->s, obj.u.s->len));
            return 0;
        }
        for (int i = 0; i < (int)(sizeof STR_METHODS / sizeof *STR_METHODS); i++)
            if (strlen(STR_METHODS[i]) == len && memcmp(STR_METHODS[i], name, len) == 0) {
                *out = func_val(c, JF_METHOD, M_UPPER + i, obj);
                return ok_or_oom(c, *out);
            }
    } else if (obj.t == JV_ARR) {
        if (len == 6 && memcmp(name, "length", 6) == 0) *out = jv_int((double)obj.u.a->n);
    } else if (obj.t == JV_DICT) {
        for (int i = 0; i < (int)(sizeof DICT_METHODS / sizeof *DICT_METHODS); i++)
            if (strlen(DICT_METHODS[i]) == len && memcmp(DICT_METHODS[i], name, len) == 0) {
                *out = func_val(c, JF_METHOD, M_GET + i, obj);
                return ok_or_oom(c, *out);
            }
    }
    return 0;
}

/* The argument list as the reference's callables see it: positional values
 * followed by one keyword-arguments object when any were given. */
typedef struct {
    jarr *pos;
    jdict *kw;
} args_view;

static size_t nargs(const args_view *a) { return a->pos->n + (a->kw && a->kw->n ? 1 : 0); }

static bool arg(const args_view *a, size_t i, jval *v)
{
    if (i < a->pos->n) { *v = a->pos->v[i]; return true; }
    if (i == a->pos->n && a->kw && a->kw->n) { *v = jv_dictv(a->kw); return true; }
    return false;
}

static bool kwarg(const jdict *kw, const char *name, jval *v)
{
    jval *p = kw ? jdict_get(kw, name, strlen(name)) : NULL;
    if (p) *v = *p;
    return p != NULL;
}

static int str_result(jctx *c, jbuf *b, jval *out)
{
    if (b->oom) { jbuf_free(b); return jctx_oom(c); }
    if (b->n > c->max_output) { jbuf_free(b); return jctx_fail(c, "string exceeds the limit of %zu bytes", c->max_output); }
    *out = jv_str(b->p ? b->p : "", b->n);
    jbuf_free(b);
    return ok_or_oom(c, *out);
}

static int str_sub(jctx *c, const jstr *s, size_t off, size_t n, jval *out)
{
    *out = jv_str(s->s + off, n);
    return ok_or_oom(c, *out);
}

/* /\b\w/g uppercased: only ASCII word characters take part. */
static void title_case(jbuf *b, const char *s, size_t len)
{
    jbuf_put(b, s, len);
    if (b->oom) return;
    for (size_t i = 0; i < len; i++) {
        char ch = b->p[b->n - len + i];
        bool word = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '_';
        char prev = i ? s[i - 1] : ' ';
        bool pword = (prev >= 'a' && prev <= 'z') || (prev >= 'A' && prev <= 'Z') || (prev >= '0' && prev <= '9') || prev == '_';
        if (word && !pword && ch >= 'a' && ch <= 'z') b->p[b->n - len + i] = (char)(ch - 32);
    }
}

static void capitalize(jbuf *b, const char *s, size_t len)
{
    if (!len) return;
    size_t i = 0;
    uint32_t cp = jutf8_next(s, len, &i);
    if (cp >= 0x10000) { jbuf_put(b, s, len); return; } /* charAt(0) is half a surrogate pair */
    jjs_upper(b, s, i);
    jbuf_put(b, s + i, len - i);
}

static bool has_prefix(const jstr *s, const jstr *p, bool suffix)
{
    if (p->len > s->len) return false;
    return memcmp(suffix ? s->s + s->len - p->len : s->s, p->s, p->len) == 0;
}

static int affix_method(jctx *c, const jstr *s, const args_view *a, bool suffix, jval *out)
{
    const char *name = suffix ? "endswith" : "startswith";
    jval p;
    if (!arg(a, 0, &p)) return jctx_fail(c, "%s() requires at least one argument", name);
    if (p.t == JV_STR) { *out = jv_bool(has_prefix(s, p.u.s, suffix)); return 0; }
    if (p.t == JV_ARR) {
        for (size_t i = 0; i < p.u.a->n; i++) {
            if (p.u.a->v[i].t != JV_STR) return jctx_fail(c, "%s() tuple elements must be strings", name);
            if (has_prefix(s, p.u.a->v[i].u.s, suffix)) { *out = jv_bool(true); return 0; }
        }
        *out = jv_bool(false);
        return 0;
    }
    return jctx_fail(c, "%s() argument must be a string or tuple of strings", name);
}

static bool push_str(jarr *r, const char *s, size_t n)
{
    jval v = jv_str(s, n);
    return v.t == JV_STR && jarr_push(r, v);
}

static int split_method(jctx *c, const jstr *s, const args_view *a, jval *out)
{
    jval sep = jv_none(), maxv = jv_int(-1);
    arg(a, 0, &sep);
    arg(a, 1, &maxv);
    if (sep.t != JV_STR && sep.t != JV_NONE) return jctx_fail(c, "sep argument must be a string or null");
    if (maxv.t != JV_INT) return jctx_fail(c, "maxsplit argument must be a number");
    double maxsplit = maxv.u.n;
    jarr *r = jarr_new(0);
    if (!r) return jctx_oom(c);
    bool ok = true;
    if (sep.t == JV_NONE) {
        size_t off, n;
        jjs_trim(s->s, s->len, true, false, &off, &n);
        const char *t = s->s + off;
        size_t i = 0;
        while (i < n && ok) {
            size_t st = i, e = i;
            while (e < n) {
                size_t nx = e;
                if (jjs_is_space(jutf8_next(t, n, &nx))) break;
                e = nx;
            }
            if (e == st) { /* whitespace run */
                size_t nx = i;
                jutf8_next(t, n, &nx);
                i = nx;
                continue;
            }
            if (maxsplit != -1 && (double)r->n >= maxsplit) {
                ok = push_str(r, t + st, n - st);
                break;
            }
            ok = push_str(r, t + st, e - st);
            i = e;
        }
    } else {
        const jstr *p = sep.u.s;
        if (p->len == 0) { jarr_release(r); return jctx_fail(c, "empty separator"); }
        size_t i = 0;
        for (;;) {
            const char *hit = i <= s->len ? memmem(s->s + i, s->len - i, p->s, p->len) : NULL;
            if (!hit) { ok = ok && push_str(r, s->s + i, s->len - i); break; }
            ok = ok && push_str(r, s->s + i, (size_t)(hit - s->s) - i);
            i = (size_t)(hit - s->s) + p->len;
            if (r->n > c->max_items) break;
        }
        if (ok && maxsplit != -1 && (double)r->n > maxsplit) {
            /* splice(maxsplit) joined back with the separator */
            double k = maxsplit < 0 ? fmax((double)r->n + maxsplit, 0) : fmin(maxsplit, (double)r->n);
            size_t from = (size_t)k;
            jbuf b = {0};
            for (size_t j = from; j < r->n; j++) {
                if (j > from) jbuf_put(&b, p->s, p->len);
                jbuf_put(&b, r->v[j].u.s->s, r->v[j].u.s->len);
            }
            for (size_t j = from; j < r->n; j++) jv_release(r->v[j]);
            r->n = from;
            ok = !b.oom && push_str(r, b.p ? b.p : "", b.n);
            jbuf_free(&b);
        }
    }
    if (!ok) { jarr_release(r); return jctx_oom(c); }
    if (r->n > c->max_items) { jarr_release(r); return jctx_fail(c, "list exceeds the limit of %zu items", c->max_items); }
    *out = jv_arrv(r);
    return 0;
}

static int do_replace(jctx *c, const jstr *s, const jstr *old, const jstr *rep, double count, jval *out)
{
    if (count == 0) { *out = jv_retain(jv_strv((jstr *)s)); return 0; }
    double remaining = (isnan(count) || count < 0) ? INFINITY : count;
    jbuf b = {0};
    if (old->len == 0) {
        /* the empty pattern matches at every code point boundary */
        size_t i = 0;
        for (;;) {
            if (remaining > 0) { jbuf_put(&b, rep->s, rep->len); remaining--; }
            if (i >= s->len) break;
            size_t st = i;
            jutf8_next(s->s, s->len, &i);
            jbuf_put(&b, s->s + st, i - st);
            if (b.n > c->max_output) break;
        }
    } else {
        size_t i = 0;
        while (i <= s->len) {
            const char *hit = remaining > 0 ? memmem(s->s + i, s->len - i, old->s, old->len) : NULL;
            if (!hit) { jbuf_put(&b, s->s + i, s->len - i); break; }
            jbuf_put(&b, s->s + i, (size_t)(hit - s->s) - i);
            jbuf_put(&b, rep->s, rep->len);
            remaining--;
            i = (size_t)(hit - s->s) + old->len;
            if (b.n > c->max_output) break;
        }
    }
    return str_result(c, &b, out);
}

static int replace_method(jctx *c, const jstr *s, const args_view *a, jval *out)
{
    if (nargs(a) < 2) return jctx_fail(c, "replace() requires at least two arguments");
    jval o = jv_undef(), r = jv_undef(), cnt = jv_none();
    arg(a, 0, &o);
    arg(a, 1, &r);
    if (o.t != JV_STR || r.t != JV_STR) return jctx_fail(c, "replace() arguments must be strings");
    if (nargs(a) > 2) {
        arg(a, 2, &cnt);
        if (cnt.t == JV_DICT && cnt.u.d->kwargs && !kwarg(cnt.u.d, "count", &cnt)) cnt = jv_none();
    }
    if (cnt.t != JV_INT && cnt.t != JV_NONE) return jctx_fail(c, "replace() count argument must be a number or null");
    return do_replace(c, s, o.u.s, r.u.s, cnt.t == JV_INT ? cnt.u.n : NAN, out);
}

static jval pair(jstr *k, jval v)
{
    jarr *p = jarr_new(2);
    if (!p) return jv_undef();
    jarr_push(p, jv_strv(jstr_retain(k)));
    jarr_push(p, jv_retain(v));
    return jv_arrv(p);
}

static int dict_items(jctx *c, const jdict *d, int which, jval *out)
{
    jarr *r = jarr_new(d->n);
    if (!r) return jctx_oom(c);
    for (size_t i = 0; i < d->n; i++) {
        jval v = which == 0 ? pair(d->k[i], d->v[i]) : which == 1 ? jv_strv(jstr_retain(d->k[i])) : jv_retain(d->v[i]);
        if (v.t == JV_UNDEF && which == 0) { jarr_release(r); return jctx_oom(c); }
        jarr_push(r, v);
    }
    *out = jv_arrv(r);
    return 0;
}

/* Stable merge sort with a comparator that may fail. */
typedef int (*cmp_fn)(jctx *c, jval a, jval b, const void *ud, int *res);

static int merge_sort(jctx *c, jval *v, size_t n, cmp_fn cmp, const void *ud)
{
    if (n < 2) return 0;
    jval *tmp = malloc(n * sizeof *tmp);
    if (!tmp) return jctx_oom(c);
    for (size_t w = 1; w < n; w *= 2) {
        for (size_t lo = 0; lo < n; lo += 2 * w) {
            size_t mid = lo + w < n ? lo + w : n, hi = lo + 2 * w < n ? lo + 2 * w : n;
            size_t i = lo, j = mid, k = lo;
            while (i < mid && j < hi) {
                int r;
                if (cmp(c, v[i], v[j], ud, &r)) { free(tmp); return -1; }
                tmp[k++] = r <= 0 ? v[i++] : v[j++];
            }
            while (i < mid) tmp[k++] = v[i++];
            while (j < hi) tmp[k++] = v[j++];
        }
        memcpy(v, tmp, n * sizeof *v);
    }
    free(tmp);
    return 0;
}

typedef struct {
    bool case_sensitive, reverse;
    int index;            /* dictsort: 0 key, 1 value */
    const char *attribute; /* sort: attribute path or NULL */
} sort_opts;

static jval attr_path(jval item, const char *path);

static int sort_cmp(jctx *c, jval a, jval b, const void *ud, int *res)
{
    const sort_opts *o = ud;
    if (o->index >= 0) {
        a = a.u.a->v[o->index];
        b = b.u.a->v[o->index];
    } else if (o->attribute) {
        a = attr_path(a, o->attribute);
        b = attr_path(b, o->attribute);
    }
    if (jv_compare(c, a, b, o->case_sensitive, res)) return -1;
    if (o->reverse) *res = -*res;
    return 0;
}

static int dictsort(jctx *c, const jdict *d, const args_view *a, jval *out)
{
    jdict *kw = NULL;
    jval posv[8];
    size_t np = 0;
    for (size_t i = 0; i < nargs(a); i++) {
        jval v;
        arg(a, i, &v);
        if (v.t == JV_DICT && v.u.d->kwargs) kw = v.u.d;
        else if (np < 8) posv[np++] = v;
    }
    jval cs = jv_bool(false), by, rev = jv_bool(false);
    if (np > 0) cs = posv[0];
    else kwarg(kw, "case_sensitive", &cs);
    if (cs.t != JV_BOOL) return jctx_fail(c, "case_sensitive must be a boolean");
    bool have_by = np > 1 ? (by = posv[1], true) : kwarg(kw, "by", &by);
    if (have_by && by.t != JV_STR) return jctx_fail(c, "by must be a string");
    int index = 0;
    if (have_by) {
        if (strcmp(by.u.s->s, "value") == 0) index = 1;
        else if (strcmp(by.u.s->s, "key") != 0) return jctx_fail(c, "by must be either 'key' or 'value'");
    }
    if (np > 2) rev = posv[2];
    else kwarg(kw, "reverse", &rev);
    if (rev.t != JV_BOOL) return jctx_fail(c, "reverse must be a boolean");
    jval items;
    if (dict_items(c, d, 0, &items)) return -1;
    sort_opts o = {.case_sensitive = cs.u.b, .reverse = rev.u.b, .index = index};
    if (merge_sort(c, items.u.a->v, items.u.a->n, sort_cmp, &o)) { jv_release(items); return -1; }
    *out = items;
    return 0;
}

/* Python-like range over JavaScript numbers. */
static int range_fn(jctx *c, const args_view *a, jval *out)
{
    double v[3];
    bool given[3] = {false, false, false};
    for (size_t i = 0; i < 3; i++) {
        jval x;
        if (!arg(a, i, &x)) continue;
        if (x.t == JV_UNDEF) continue; /* undefined: as if not passed */
        given[i] = true;
        if (x.t == JV_NONE) v[i] = 0;
        else if (x.t == JV_BOOL) v[i] = x.u.b;
        else if (jv_is_num(x)) v[i] = x.u.n;
        else return jctx_fail(c, "range() arguments must be numbers, got %s", jv_type_name(x));
    }
    double start = given[0] ? v[0] : NAN, stop = given[1] ? v[1] : NAN, step = given[2] ? v[2] : 1;
    if (!given[1]) {
        stop = start;
        start = 0;
    }
    if (step == 0) return jctx_fail(c, "range() step must not be zero");
    jarr *r = jarr_new(0);
    if (!r) return jctx_oom(c);
    for (double i = start; step > 0 ? i < stop : i > stop; i += step) {
        if (r->n >= c->max_items) { jarr_release(r); return jctx_fail(c, "range() exceeds the limit of %zu items", c->max_items); }
        jarr_push(r, i == floor(i) && isfinite(i) ? jv_int(i) : jv_float(i));
    }
    *out = jv_arrv(r);
    return 0;
}

static int strftime_fn(jctx *c, const args_view *a, jval *out)
{
    static const char *MON[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    static const char *MONTH[] = {"January", "February", "March", "April", "May", "June", "July",
                                  "August", "September", "October", "November", "December"};
    jval f;
    if (!arg(a, 0, &f) || f.t != JV_STR) return jctx_fail(c, "strftime_now() expects a format string");
    time_t now = (time_t)c->now;
    struct tm tm;
    if (!localtime_r(&now, &tm)) return jctx_fail(c, "strftime_now(): invalid time");
    jbuf b = {0};
    const jstr *s = f.u.s;
    char tmp[32];
    for (size_t i = 0; i < s->len; i++) {
        if (s->s[i] == '%' && i + 1 < s->len) {
            char k = s->s[i + 1];
            const char *rep = NULL;
            switch (k) {
            case 'Y': snprintf(tmp, sizeof tmp, "%d", tm.tm_year + 1900); rep = tmp; break;
            case 'm': snprintf(tmp, sizeof tmp, "%02d", tm.tm_mon + 1); rep = tmp; break;
            case 'd': snprintf(tmp, sizeof tmp, "%02d", tm.tm_mday); rep = tmp; break;
            case 'b': rep = MON[tm.tm_mon]; break;
            case 'B': rep = MONTH[tm.tm_mon]; break;
            case 'H': snprintf(tmp, sizeof tmp, "%02d", tm.tm_hour); rep = tmp; break;
            case 'M': snprintf(tmp, sizeof tmp, "%02d", tm.tm_min); rep = tmp; break;
            case '%': rep = "%"; break;
            default: break;
            }
            if (rep) {
                jbuf_puts(&b, rep);
                i++;
                continue;
            }
        }
        jbuf_putc(&b, s->s[i]);
    }
    return str_result(c, &b, out);
}

static int namespace_fn(jctx *c, const args_view *a, jval *out)
{
    if (a->pos->n > 1) return jctx_fail(c, "namespace expected at most 1 argument, got %zu", a->pos->n);
    jdict *ns = jdict_new();
    if (!ns || !jctx_track_ns(c, ns)) { jdict_release(ns); return jctx_oom(c); }
    jval result = {.t = JV_NS, .u.d = ns};
    if (a->pos->n == 1) {
        jval src = a->pos->v[0];
        if (src.t == JV_DICT) {
            for (size_t i = 0; i < src.u.d->n; i++)
                if (!jdict_set(ns, jstr_retain(src.u.d->k[i]), jv_retain(src.u.d->v[i]))) goto oom;
        } else if (src.t == JV_ARR) {
            for (size_t i = 0; i < src.u.a->n; i++) {
                jval p = src.u.a->v[i];
                jval k = jv_undef(), v = jv_undef();
                bool two = false, owned = false;
                if (p.t == JV_ARR && p.u.a->n == 2) {
                    k = p.u.a->v[0];
                    v = p.u.a->v[1];
                    two = true;
                } else if (p.t == JV_STR) {
                    size_t j = 0, cps = 0, cut = 0;
                    while (j < p.u.s->len) { jutf8_next(p.u.s->s, p.u.s->len, &j); if (++cps == 1) cut = j; }
                    if (cps == 2) {
                        k = jv_str(p.u.s->s, cut);
                        v = jv_str(p.u.s->s + cut, p.u.s->len - cut);
                        two = owned = true;
                    }
                }
                if (!two) { jv_release(result); return jctx_fail(c, "namespace expected an object or an iterable of [key, value] pairs"); }
                if (k.t != JV_STR) {
                    if (owned) { jv_release(k); jv_release(v); }
                    jv_release(result);
                    return jctx_fail(c, "namespace keys must be strings");
                }
                bool ok = jdict_set(ns, jstr_retain(k.u.s), jv_retain(v));
                if (owned) { jv_release(k); jv_release(v); }
                if (!ok) goto oom;
            }
        } else {
            jv_release(result);
            return jctx_fail(c, "'%s' object is not iterable", jv_type_name(src));
        }
    }
    for (size_t i = 0; a->kw && i < a->kw->n; i++)
        if (!jdict_set(ns, jstr_retain(a->kw->k[i]), jv_retain(a->kw->v[i]))) goto oom;
    *out = result;
    return 0;
oom:
    jv_release(result);
    return jctx_oom(c);
}

static int raise_fn(jctx *c, const args_view *a)
{
    jval m;
    jbuf b = {0};
    if (arg(a, 0, &m) && m.t != JV_UNDEF) {
        if (m.t == JV_NONE) jbuf_puts(&b, "null");
        else if (jv_prim_string(c, m, &b, true)) { jbuf_free(&b); return -1; }
    }
    jctx_fail(c, "%s", b.p ? b.p : "");
    jbuf_free(&b);
    return -1;
}

int jbi_call(jctx *c, const jfunc *f, jarr *pos, jdict *kw, jval *out)
{
    args_view a = {pos, kw};
    const jstr *s = f->self.t == JV_STR ? f->self.u.s : NULL;
    jbuf b = {0};
    size_t off, n;
    switch (f->id) {
    case M_UPPER: jjs_upper(&b, s->s, s->len); return str_result(c, &b, out);
    case M_LOWER: jjs_lower(&b, s->s, s->len); return str_result(c, &b, out);
    case M_STRIP: jjs_trim(s->s, s->len, true, true, &off, &n); return str_sub(c, s, off, n, out);
    case M_RSTRIP: jjs_trim(s->s, s->len, false, true, &off, &n); return str_sub(c, s, off, n, out);
    case M_LSTRIP: jjs_trim(s->s, s->len, true, false, &off, &n); return str_sub(c, s, off, n, out);
    case M_TITLE: title_case(&b, s->s, s->len); return str_result(c, &b, out);
    case M_CAPITALIZE: capitalize(&b, s->s, s->len); return str_result(c, &b, out);
    case M_STARTSWITH: return affix_method(c, s, &a, false, out);
    case M_ENDSWITH: return affix_method(c, s, &a, true, out);
    case M_SPLIT: return split_method(c, s, &a, out);
    case M_REPLACE: return replace_method(c, s, &a, out);
    case M_GET: {
        jval k, d;
        if (!arg(&a, 0, &k)) return jctx_fail(c, "Object key must be a string: got undefined");
        if (k.t != JV_STR) return jctx_fail(c, "Object key must be a string: got %s", jv_type_name(k));
        jval *v = jdict_get(f->self.u.d, k.u.s->s, k.u.s->len);
        *out = v ? jv_retain(*v) : arg(&a, 1, &d) ? jv_retain(d) : jv_none();
        return 0;
    }
    case M_ITEMS: return dict_items(c, f->self.u.d, 0, out);
    case M_KEYS: return dict_items(c, f->self.u.d, 1, out);
    case M_VALUES: return dict_items(c, f->self.u.d, 2, out);
    case M_DICTSORT: return dictsort(c, f->self.u.d, &a, out);
    case G_RAISE: return raise_fn(c, &a);
    case G_RANGE: return range_fn(c, &a, out);
    case G_STRFTIME: return strftime_fn(c, &a, out);
    case G_NAMESPACE: return namespace_fn(c, &a, out);
    default: return jctx_fail(c, "unknown builtin");
    }
}

void jbi_install_globals(jctx *c, jenv *g)
{
    static const struct {
        const char *name;
        int id;
    } FN[] = {{"namespace", G_NAMESPACE}, {"raise_exception", G_RAISE}, {"range", G_RANGE}, {"strftime_now", G_STRFTIME}};
    for (size_t i = 0; i < sizeof FN / sizeof *FN; i++) {
        jval f = func_val(c, JF_GLOBAL, FN[i].id, jv_undef());
        if (f.t == JV_UNDEF || !jenv_set(g, FN[i].name, strlen(FN[i].name), f)) { jctx_oom(c); return; }
    }
    static const struct {
        const char *name;
        int kind;
    } K[] = {{"false", 0}, {"true", 1}, {"none", 2}, {"True", 1}, {"False", 0}, {"None", 2}};
    for (size_t i = 0; i < sizeof K / sizeof *K; i++) {
        jval v = K[i].kind == 2 ? jv_none() : jv_bool(K[i].kind == 1);
        if (!jenv_set(g, K[i].name, strlen(K[i].name), v)) { jctx_oom(c); return; }
    }
}

/* ---- tests ---- */

static const char *TESTS[] = {"boolean", "callable", "odd", "even", "false", "true", "none", "string", "number",
                              "integer", "iterable", "mapping", "sequence", "lower", "upper", "defined",
                              "undefined", "equalto", "eq"};

bool jbi_has_test(const char *name)
{
    for (size_t i = 0; i < sizeof TESTS / sizeof *TESTS; i++)
        if (strcmp(TESTS[i], name) == 0) return true;
    return false;
}

static int test2(jctx *c, const char *name, jval v, const jval *other, bool *res)
{
    if (!jbi_has_test(name)) return jctx_fail(c, "Unknown test: %s", name);
    switch (name[0]) {
    case 'b': *res = v.t == JV_BOOL; return 0;
    case 'c': *res = v.t == JV_FUNC; return 0;
    case 'o':
    case 'e':
        if (strcmp(name, "odd") == 0 || strcmp(name, "even") == 0) {
            if (v.t != JV_INT) return jctx_fail(c, "cannot %s on %s", name, jv_type_name(v));
            bool even = fmod(v.u.n, 2) == 0;
            *res = name[0] == 'e' ? even : !even;
            return 0;
        }
        /* equalto / eq */
        if (!other) return jctx_fail(c, "Cannot read properties of undefined (reading 'value')");
        *res = jv_strict_eq(v, *other);
        return 0;
    case 'f': *res = v.t == JV_BOOL && !v.u.b; return 0;
    case 't': *res = v.t == JV_BOOL && v.u.b; return 0;
    case 'n':
        if (strcmp(name, "none") == 0) *res = v.t == JV_NONE;
        else *res = jv_is_num(v);
        return 0;
    case 's':
        if (strcmp(name, "string") == 0) *res = v.t == JV_STR;
        else *res = v.t == JV_ARR || v.t == JV_DICT || v.t == JV_STR;
        return 0;
    case 'i':
        if (strcmp(name, "integer") == 0) *res = v.t == JV_INT;
        else *res = (v.t == JV_ARR && !v.u.a->tuple) || v.t == JV_STR;
        return 0;
    case 'm': *res = v.t == JV_DICT; return 0;
    case 'l':
    case 'u':
        if (strcmp(name, "undefined") == 0) { *res = v.t == JV_UNDEF; return 0; }
        if (v.t != JV_STR) { *res = false; return 0; }
        {
            jbuf b = {0};
            if (name[0] == 'l') jjs_lower(&b, v.u.s->s, v.u.s->len);
            else jjs_upper(&b, v.u.s->s, v.u.s->len);
            if (b.oom) { jbuf_free(&b); return jctx_oom(c); }
            *res = b.n == v.u.s->len && (b.n == 0 || memcmp(b.p, v.u.s->s, b.n) == 0);
            jbuf_free(&b);
        }
        return 0;
    case 'd': *res = v.t != JV_UNDEF; return 0;
    default: return jctx_fail(c, "Unknown test: %s", name);
    }
}

int jbi_test(jctx *c, const char *name, jval v, bool *res) { return test2(c, name, v, NULL, res); }

/* ---- slicing ---- */

static double js_min(double a, double b) { return isnan(a) || isnan(b) ? NAN : a < b ? a : b; }
static double js_max(double a, double b) { return isnan(a) || isnan(b) ? NAN : a > b ? a : b; }

int jbi_slice(jctx *c, jval obj, const jval *startv, const jval *stopv, const jval *stepv, jval *out)
{
    for (int k = 0; k < 3; k++) {
        const jval *p = k == 0 ? startv : k == 1 ? stopv : stepv;
        if (p->t != JV_INT && p->t != JV_UNDEF)
            return jctx_fail(c, "Slice %s must be numeric or undefined", k == 0 ? "start" : k == 1 ? "stop" : "step");
    }
    /* strings slice by code points */
    size_t len = 0;
    size_t *offs = NULL;
    if (obj.t == JV_STR) {
        const jstr *s = obj.u.s;
        offs = malloc((s->len + 2) * sizeof *offs);
        if (!offs) return jctx_oom(c);
        size_t i = 0;
        while (i < s->len) { offs[len++] = i; jutf8_next(s->s, s->len, &i); }
        offs[len] = s->len;
    } else {
        len = obj.u.a->n;
    }
    double L = (double)len, step = stepv->t == JV_INT ? stepv->u.n : 1;
    double dir = step > 0 ? 1 : step < 0 ? -1 : (isnan(step) ? NAN : 0);
    double start, stop;
    if (dir >= 0 || isnan(dir)) {
        start = startv->t == JV_INT ? startv->u.n : 0;
        start = start < 0 ? js_max(L + start, 0) : js_min(start, L);
        stop = stopv->t == JV_INT ? stopv->u.n : L;
        stop = stop < 0 ? js_max(L + stop, 0) : js_min(stop, L);
    } else {
        start = startv->t == JV_INT ? startv->u.n : L - 1;
        start = start < 0 ? js_max(L + start, -1) : js_min(start, L - 1);
        stop = stopv->t == JV_INT ? stopv->u.n : -1;
        stop = stop < -1 ? js_max(L + stop, -1) : js_min(stop, L - 1);
    }
    jbuf b = {0};
    jarr *r = obj.t == JV_ARR ? jarr_new(0) : NULL;
    if (obj.t == JV_ARR && !r) { free(offs); return jctx_oom(c); }
    for (double i = start; dir * i < dir * stop; i += step) {
        if (++c->steps > c->max_steps) {
            free(offs);
            jbuf_free(&b);
            jarr_release(r);
            return jctx_fail(c, "template exceeded the evaluation step limit");
        }
        /* JavaScript reads undefined outside the array: such slots become undefined */
        bool inside = i >= 0 && i < L && i == floor(i);
        if (obj.t == JV_ARR) jarr_push(r, inside ? jv_retain(obj.u.a->v[(size_t)i]) : jv_undef());
        else if (inside) jbuf_put(&b, obj.u.s->s + offs[(size_t)i], offs[(size_t)i + 1] - offs[(size_t)i]);
    }
    free(offs);
    if (r) {
        *out = jv_arrv(r);
        return 0;
    }
    return str_result(c, &b, out);
}

/* ---- filters ---- */

static jval attr_path(jval item, const char *path)
{
    jval v = item;
    const char *p = path;
    for (;;) {
        const char *dot = strchr(p, '.');
        size_t n = dot ? (size_t)(dot - p) : strlen(p);
        if (v.t == JV_DICT || v.t == JV_NS) {
            jval *x = jdict_get(v.u.d, p, n);
            v = x ? *x : jv_undef();
        } else if (v.t == JV_ARR) {
            double idx = jjs_parse_int(p, n);
            if (isnan(idx) || idx < 0 || idx >= (double)v.u.a->n) return jv_undef();
            v = v.u.a->v[(size_t)idx];
        } else {
            return jv_undef();
        }
        if (!dot) return v;
        p = dot + 1;
    }
}

/* JavaScript truthiness of a runtime value's underlying .value */
static bool js_value_truthy(jval v) { return v.t >= JV_ARR ? true : jv_truthy(v); }

static int to_string_val(jctx *c, jval v, jval *out)
{
    jbuf b = {0};
    if (jv_to_string(c, v, &b)) { jbuf_free(&b); return -1; }
    return str_result(c, &b, out);
}

static int join_values(jctx *c, jval operand, const jstr *sep, jval *out)
{
    jbuf b = {0};
    if (operand.t == JV_STR) {
        const jstr *s = operand.u.s;
        for (size_t i = 0; i < s->len;) {
            size_t st = i;
            jutf8_next(s->s, s->len, &i);
            if (st && sep) jbuf_put(&b, sep->s, sep->len);
            jbuf_put(&b, s->s + st, i - st);
            if (b.n > c->max_output) break;
        }
    } else {
        for (size_t i = 0; i < operand.u.a->n; i++) {
            if (i && sep) jbuf_put(&b, sep->s, sep->len);
            if (jv_prim_string(c, operand.u.a->v[i], &b, true)) { jbuf_free(&b); return -1; }
            if (b.n > c->max_output) break;
        }
    }
    return str_result(c, &b, out);
}

static int indent_str(jctx *c, const jstr *s, double width, bool first, bool blank, jval *out)
{
    if (width < 0 || width > 1e6) return jctx_fail(c, "Invalid count value: %g", width);
    jbuf b = {0};
    size_t w = (size_t)width, line = 0, i = 0;
    for (;;) {
        const char *nl = memchr(s->s + i, '\n', s->len - i);
        size_t e = nl ? (size_t)(nl - s->s) : s->len;
        if (!((!first && line == 0) || (!blank && e == i)))
            for (size_t k = 0; k < w; k++) jbuf_putc(&b, ' ');
        jbuf_put(&b, s->s + i, e - i);
        if (b.n > c->max_output) break;
        if (!nl) break;
        jbuf_putc(&b, '\n');
        i = e + 1;
        line++;
    }
    return str_result(c, &b, out);
}

static int unique(jctx *c, jarr *a, jval *out)
{
    jarr *r = jarr_new(0);
    if (!r) return jctx_oom(c);
    for (size_t i = 0; i < a->n; i++) {
        bool seen = false;
        for (size_t j = 0; j < r->n && !seen; j++) {
            jval x = r->v[j], y = a->v[i];
            seen = jv_strict_eq(x, y) || (jv_is_num(x) && jv_is_num(y) && isnan(x.u.n) && isnan(y.u.n));
            if (++c->steps > c->max_steps) { jarr_release(r); return jctx_fail(c, "template exceeded the evaluation step limit"); }
        }
        if (!seen) jarr_push(r, jv_retain(a->v[i]));
    }
    *out = jv_arrv(r);
    return 0;
}

static int length_of(jctx *c, jval v, jval *out, const char *name)
{
    if (v.t == JV_ARR) *out = jv_int((double)v.u.a->n);
    else if (v.t == JV_STR) *out = jv_int((double)jjs_u16_len(v.u.s->s, v.u.s->len));
    else if (v.t == JV_DICT) *out = jv_int((double)v.u.d->n);
    else return jctx_fail(c, "Cannot apply filter \"%s\" to type: %s", name, jv_type_name(v));
    return 0;
}

static int select_items(jctx *c, jval operand, const char *test, const jval *other, bool keep_if, jval *out)
{
    jarr *r = jarr_new(0);
    if (!r) return jctx_oom(c);
    for (size_t i = 0; i < operand.u.a->n; i++) {
        jval item = operand.u.a->v[i];
        bool res;
        if (test) {
            if (test2(c, test, item, other, &res)) { jarr_release(r); return -1; }
        } else {
            res = jv_truthy(item);
        }
        if (res == keep_if) jarr_push(r, jv_retain(item));
    }
    *out = jv_arrv(r);
    return 0;
}

static int round_num(jctx *c, jval v, double precision, const char *method, jval *out)
{
    if (!jv_is_num(v)) return jctx_fail(c, "Cannot apply filter \"round\" to type: %s", jv_type_name(v));
    double p = pow(10, precision), x = v.u.n * p, r;
    if (strcmp(method, "floor") == 0) r = floor(x);
    else if (strcmp(method, "ceil") == 0) r = ceil(x);
    else if (strcmp(method, "common") == 0) r = x < 0 ? -floor(-x + 0.5) : floor(x + 0.5);
    else return jctx_fail(c, "method must be common, ceil or floor");
    *out = jv_float(r / p);
    return 0;
}

static int filter_ident(jctx *c, jval v, const char *name, jval *out)
{
    if (strcmp(name, "safe") == 0) { *out = jv_retain(v); return 0; }
    if (strcmp(name, "tojson") == 0) {
        jjson_opts o = {.undef_as_null = true};
        jbuf b = {0};
        if (jv_to_json(c, v, &o, &b)) { jbuf_free(&b); return -1; }
        return str_result(c, &b, out);
    }
    /* extensions: a bare default/d is default(''), count is length */
    if (strcmp(name, "d") == 0 || strcmp(name, "default") == 0) {
        *out = v.t == JV_UNDEF ? jv_str("", 0) : jv_retain(v);
        return ok_or_oom(c, *out);
    }
    if (strcmp(name, "count") == 0) return length_of(c, v, out, name);
    if (v.t == JV_ARR) {
        jarr *a = v.u.a;
        if (strcmp(name, "list") == 0) { *out = jv_retain(v); return 0; }
        /* the reference hands back JavaScript's undefined for an empty list,
         * which fails as soon as anything touches it */
        if ((strcmp(name, "first") == 0 || strcmp(name, "last") == 0) && a->n == 0)
            return jctx_fail(c, "Cannot read properties of undefined (filter \"%s\" of an empty list)", name);
        if (strcmp(name, "first") == 0) { *out = jv_retain(a->v[0]); return 0; }
        if (strcmp(name, "last") == 0) { *out = jv_retain(a->v[a->n - 1]); return 0; }
        if (strcmp(name, "length") == 0) return length_of(c, v, out, name);
        if (strcmp(name, "reverse") == 0) {
            jarr *r = jarr_new(a->n);
            if (!r) return jctx_oom(c);
            for (size_t i = a->n; i > 0; i--) jarr_push(r, jv_retain(a->v[i - 1]));
            *out = jv_arrv(r);
            return 0;
        }
        if (strcmp(name, "sort") == 0) {
            jarr *r = jarr_new(a->n);
            if (!r) return jctx_oom(c);
            for (size_t i = 0; i < a->n; i++) jarr_push(r, jv_retain(a->v[i]));
            sort_opts o = {.index = -1};
            if (merge_sort(c, r->v, r->n, sort_cmp, &o)) { jarr_release(r); return -1; }
            *out = jv_arrv(r);
            return 0;
        }
        if (strcmp(name, "join") == 0) return join_values(c, v, NULL, out);
        if (strcmp(name, "string") == 0) return to_string_val(c, v, out);
        if (strcmp(name, "unique") == 0) return unique(c, a, out);
        if (strcmp(name, "select") == 0) return select_items(c, v, NULL, NULL, true, out);
        if (strcmp(name, "reject") == 0) return select_items(c, v, NULL, NULL, false, out);
        return jctx_fail(c, "Unknown ArrayValue filter: %s", name);
    }
    if (v.t == JV_STR) {
        const jstr *s = v.u.s;
        jbuf b = {0};
        size_t off, n;
        if (strcmp(name, "length") == 0) return length_of(c, v, out, name);
        if (strcmp(name, "upper") == 0) { jjs_upper(&b, s->s, s->len); return str_result(c, &b, out); }
        if (strcmp(name, "lower") == 0) { jjs_lower(&b, s->s, s->len); return str_result(c, &b, out); }
        if (strcmp(name, "title") == 0) { title_case(&b, s->s, s->len); return str_result(c, &b, out); }
        if (strcmp(name, "capitalize") == 0) { capitalize(&b, s->s, s->len); return str_result(c, &b, out); }
        if (strcmp(name, "trim") == 0) { jjs_trim(s->s, s->len, true, true, &off, &n); return str_sub(c, s, off, n, out); }
        if (strcmp(name, "indent") == 0) return indent_str(c, s, 4, false, false, out);
        if (strcmp(name, "join") == 0 || strcmp(name, "string") == 0) { *out = jv_retain(v); return 0; }
        if (strcmp(name, "int") == 0) {
            double d = jjs_parse_int(s->s, s->len);
            *out = jv_int(isnan(d) ? 0 : d);
            return 0;
        }
        if (strcmp(name, "float") == 0) {
            double d = jjs_parse_float(s->s, s->len);
            *out = jv_float(isnan(d) ? 0 : d);
            return 0;
        }
        if (strcmp(name, "first") == 0 || strcmp(name, "last") == 0) {
            if (!s->len) { *out = jv_undef(); return 0; }
            size_t st = 0, i = 0;
            if (name[0] == 'f') jutf8_next(s->s, s->len, &i);
            else {
                st = s->len - 1;
                while (st > 0 && ((unsigned char)s->s[st] & 0xc0) == 0x80) st--;
                i = s->len;
            }
            return str_sub(c, s, st, i - st, out);
        }
        return jctx_fail(c, "Unknown StringValue filter: %s", name);
    }
    if (jv_is_num(v)) {
        if (strcmp(name, "abs") == 0) { *out = v; out->u.n = fabs(v.u.n); return 0; }
        if (strcmp(name, "int") == 0) { *out = jv_int(floor(v.u.n)); return 0; }
        if (strcmp(name, "float") == 0) { *out = jv_float(v.u.n); return 0; }
        if (strcmp(name, "string") == 0) return to_string_val(c, v, out);
        if (strcmp(name, "round") == 0) return round_num(c, v, 0, "common", out);
        return jctx_fail(c, "Unknown NumericValue filter: %s", name);
    }
    if (v.t == JV_DICT) {
        if (strcmp(name, "items") == 0) return dict_items(c, v.u.d, 0, out);
        if (strcmp(name, "length") == 0) return length_of(c, v, out, name);
        jval fn;
        if (jbi_member(c, v, name, strlen(name), &fn)) return -1;
        if (fn.t == JV_FUNC) {
            jarr *pos = jarr_new(0);
            int rc = pos ? jbi_call(c, fn.u.f, pos, NULL, out) : jctx_oom(c);
            jarr_release(pos);
            jv_release(fn);
            return rc;
        }
        return jctx_fail(c, "Unknown ObjectValue filter: %s", name);
    }
    if (v.t == JV_BOOL) {
        if (strcmp(name, "bool") == 0) { *out = v; return 0; }
        if (strcmp(name, "int") == 0) { *out = jv_int(v.u.b); return 0; }
        if (strcmp(name, "float") == 0) { *out = jv_float(v.u.b); return 0; }
        if (strcmp(name, "string") == 0) { *out = jv_str(v.u.b ? "true" : "false", v.u.b ? 4 : 5); return ok_or_oom(c, *out); }
        return jctx_fail(c, "Unknown BooleanValue filter: %s", name);
    }
    return jctx_fail(c, "Cannot apply filter \"%s\" to type: %s", name, jv_type_name(v));
}

static int tojson_call(jctx *c, jval v, jdict *kw, jval *out)
{
    jval indent = jv_none(), ea = jv_bool(false), sk = jv_bool(false), seps = jv_none();
    kwarg(kw, "indent", &indent);
    if (indent.t != JV_INT && indent.t != JV_NONE) return jctx_fail(c, "If set, indent must be a number");
    kwarg(kw, "ensure_ascii", &ea);
    if (ea.t != JV_BOOL) return jctx_fail(c, "If set, ensure_ascii must be a boolean");
    kwarg(kw, "sort_keys", &sk);
    if (sk.t != JV_BOOL) return jctx_fail(c, "If set, sort_keys must be a boolean");
    kwarg(kw, "separators", &seps);
    jjson_opts o = {.undef_as_null = true, .ensure_ascii = ea.u.b, .sort_keys = sk.u.b};
    if (seps.t == JV_ARR) {
        if (seps.u.a->n != 2 || seps.u.a->v[0].t != JV_STR || seps.u.a->v[1].t != JV_STR)
            return jctx_fail(c, "separators must be a tuple of two strings");
        o.item_sep = seps.u.a->v[0].u.s->s;
        o.key_sep = seps.u.a->v[1].u.s->s;
    } else if (seps.t != JV_NONE) {
        return jctx_fail(c, "If set, separators must be a tuple of two strings");
    }
    if (indent.t == JV_INT) {
        double w = indent.u.n;
        if (w < 0 || isnan(w) || w > 1e4) return jctx_fail(c, "Invalid count value: %g", w);
        o.indent = (int)w;
    }
    jbuf b = {0};
    if (jv_to_json(c, v, &o, &b)) { jbuf_free(&b); return -1; }
    return str_result(c, &b, out);
}

static bool str_arg(const jnode *n) { return n->kind == N_STR; }

static int filter_call(jctx *c, jval v, const jnode *call, jenv *env, jval *out)
{
    if (call->a->kind != N_IDENT) return jctx_fail(c, "Unknown filter: %d", call->a->kind);
    const char *name = call->a->str->s;
    bool attr_filter = strcmp(name, "selectattr") == 0 || strcmp(name, "rejectattr") == 0;
    if (attr_filter && v.t == JV_ARR) {
        for (size_t i = 0; i < v.u.a->n; i++)
            if (v.u.a->v[i].t != JV_DICT && v.u.a->v[i].t != JV_NS)
                return jctx_fail(c, "`%s` can only be applied to array of objects", name);
        for (size_t i = 0; i < call->list.n; i++)
            if (!str_arg(call->list.v[i])) return jctx_fail(c, "arguments of `%s` must be strings", name);
        if (call->list.n == 0 && v.u.a->n > 0) return jctx_fail(c, "Cannot read properties of undefined (reading 'value')");
        if (call->list.n == 0) {
            jarr *r = jarr_new(0);
            if (!r) return jctx_oom(c);
            *out = jv_arrv(r);
            return 0;
        }
        const jstr *attr = call->list.v[0]->str;
        const char *test = call->list.n > 1 ? call->list.v[1]->str->s : NULL;
        jval other = call->list.n > 2 ? jv_strv(call->list.v[2]->str) : jv_undef();
        if (test && !jbi_has_test(test)) return jctx_fail(c, "Unknown test: %s", test);
        bool select = name[0] == 's';
        jarr *r = jarr_new(0);
        if (!r) return jctx_oom(c);
        for (size_t i = 0; i < v.u.a->n; i++) {
            jval *x = jdict_get(v.u.a->v[i].u.d, attr->s, attr->len);
            bool res = false;
            if (x) {
                if (test) {
                    if (test2(c, test, *x, call->list.n > 2 ? &other : NULL, &res)) { jarr_release(r); return -1; }
                } else {
                    res = jv_truthy(*x);
                }
            }
            if (res == select) jarr_push(r, jv_retain(v.u.a->v[i]));
        }
        *out = jv_arrv(r);
        return 0;
    }
    jarr *pos;
    jdict *kw;
    if (jeval_args(c, &call->list, env, &pos, &kw)) return -1;
    int rc = -1;
    jval x;
    if (strcmp(name, "tojson") == 0) {
        rc = tojson_call(c, v, kw, out);
    } else if (strcmp(name, "join") == 0) {
        if (v.t != JV_STR && v.t != JV_ARR) {
            rc = jctx_fail(c, "Cannot apply filter \"%s\" to type: %s", name, jv_type_name(v));
        } else {
            jval sep = jv_undef();
            bool given = pos->n ? (sep = pos->v[0], true) : kwarg(kw, "separator", &sep);
            if (given && sep.t != JV_STR) rc = jctx_fail(c, "separator must be a string");
            else rc = join_values(c, v, given ? sep.u.s : NULL, out);
        }
    } else if (strcmp(name, "int") == 0 || strcmp(name, "float") == 0) {
        bool is_int = name[0] == 'i';
        jval def = is_int ? jv_int(0) : jv_float(0);
        if (pos->n) def = pos->v[0];
        else kwarg(kw, "default", &def);
        if (v.t == JV_STR) {
            double d = is_int ? jjs_parse_int(v.u.s->s, v.u.s->len) : jjs_parse_float(v.u.s->s, v.u.s->len);
            *out = isnan(d) ? jv_retain(def) : is_int ? jv_int(d) : jv_float(d);
            rc = 0;
        } else if (jv_is_num(v)) {
            *out = v;
            rc = 0;
        } else if (v.t == JV_BOOL) {
            *out = is_int ? jv_int(v.u.b) : jv_float(v.u.b);
            rc = 0;
        } else {
            rc = jctx_fail(c, "Cannot apply filter \"%s\" to type: %s", name, jv_type_name(v));
        }
    } else if (strcmp(name, "default") == 0 || strcmp(name, "d") == 0) {
        jval def = pos->n ? pos->v[0] : jv_undef(), flag = jv_bool(false);
        if (pos->n > 1) flag = pos->v[1];
        else kwarg(kw, "boolean", &flag);
        if (flag.t != JV_BOOL) {
            rc = jctx_fail(c, "`default` filter flag must be a boolean");
        } else {
            bool use = v.t == JV_UNDEF || (flag.u.b && !jv_truthy(v));
            if (!use) *out = jv_retain(v);
            else if (def.t == JV_UNDEF && !pos->n) *out = jv_str("", 0);
            else *out = jv_retain(def);
            rc = ok_or_oom(c, *out);
        }
    } else if (v.t == JV_ARR) {
        if (strcmp(name, "sort") == 0) {
            jval rev = jv_bool(false), cs = jv_bool(false), at = jv_none();
            if (pos->n > 0) rev = pos->v[0];
            else kwarg(kw, "reverse", &rev);
            if (pos->n > 1) cs = pos->v[1];
            else kwarg(kw, "case_sensitive", &cs);
            if (pos->n > 2) at = pos->v[2];
            else kwarg(kw, "attribute", &at);
            char num[40];
            if (rev.t != JV_BOOL) rc = jctx_fail(c, "reverse must be a boolean");
            else if (cs.t != JV_BOOL) rc = jctx_fail(c, "case_sensitive must be a boolean");
            else if (at.t != JV_STR && at.t != JV_INT && at.t != JV_NONE) rc = jctx_fail(c, "attribute must be a string, integer, or null");
            else {
                sort_opts o = {.case_sensitive = cs.u.b, .reverse = rev.u.b, .index = -1};
                if (at.t == JV_STR) o.attribute = at.u.s->s;
                else if (at.t == JV_INT) { jjs_num_str(at.u.n, num); o.attribute = num; }
                jarr *r = jarr_new(v.u.a->n);
                if (!r) rc = jctx_oom(c);
                else {
                    for (size_t i = 0; i < v.u.a->n; i++) jarr_push(r, jv_retain(v.u.a->v[i]));
                    rc = merge_sort(c, r->v, r->n, sort_cmp, &o);
                    if (rc) jarr_release(r);
                    else *out = jv_arrv(r);
                }
            }
        } else if (strcmp(name, "map") == 0) {
            jval attr;
            if (!kwarg(kw, "attribute", &attr)) {
                rc = jctx_fail(c, "`map` expressions without `attribute` set are not currently supported.");
            } else if (attr.t != JV_STR) {
                rc = jctx_fail(c, "attribute must be a string");
            } else {
                jval def;
                bool has_def = kwarg(kw, "default", &def);
                jarr *r = jarr_new(v.u.a->n);
                rc = r ? 0 : jctx_oom(c);
                for (size_t i = 0; rc == 0 && i < v.u.a->n; i++) {
                    jval item = v.u.a->v[i];
                    if (item.t != JV_DICT && item.t != JV_NS) { rc = jctx_fail(c, "items in map must be an object"); break; }
                    jval got = attr_path(item, attr.u.s->s);
                    if (got.t == JV_UNDEF && has_def) got = def;
                    jarr_push(r, jv_retain(got));
                }
                if (rc) jarr_release(r);
                else *out = jv_arrv(r);
            }
        } else if (strcmp(name, "select") == 0 || strcmp(name, "reject") == 0) {
            const char *test = NULL;
            if (pos->n > 0) {
                if (pos->v[0].t != JV_STR) { rc = jctx_fail(c, "test name must be a string"); goto done; }
                test = pos->v[0].u.s->s;
            }
            rc = select_items(c, v, test, pos->n > 1 ? &pos->v[1] : NULL, name[0] == 's', out);
        } else if (strcmp(name, "selectattr") == 0 || strcmp(name, "rejectattr") == 0) {
            rc = jctx_fail(c, "`%s` can only be applied to array of objects", name);
        } else {
            rc = jctx_fail(c, "Unknown ArrayValue filter: %s", name);
        }
    } else if (v.t == JV_STR) {
        if (strcmp(name, "indent") == 0) {
            jval width = jv_int(4), first = jv_bool(false), blank = jv_bool(false);
            if (pos->n > 0) width = pos->v[0];
            else kwarg(kw, "width", &width);
            if (pos->n > 1) first = pos->v[1];
            else kwarg(kw, "first", &first);
            if (pos->n > 2) blank = pos->v[2];
            else kwarg(kw, "blank", &blank);
            if (width.t != JV_INT) rc = jctx_fail(c, "width must be a number");
            else rc = indent_str(c, v.u.s, width.u.n, js_value_truthy(first), js_value_truthy(blank), out);
        } else if (strcmp(name, "replace") == 0) {
            /* the reference always appends the keyword object here */
            jval o = jv_undef(), r = jv_undef(), cnt = jv_none();
            if (pos->n + 1 < 2) rc = jctx_fail(c, "replace() requires at least two arguments");
            else {
                o = pos->v[0];
                r = pos->n > 1 ? pos->v[1] : jv_dictv(kw);
                if (pos->n > 2) cnt = pos->v[2];
                else if (pos->n == 2 && !kwarg(kw, "count", &cnt)) cnt = jv_none();
                if (o.t != JV_STR || r.t != JV_STR) rc = jctx_fail(c, "replace() arguments must be strings");
                else if (cnt.t != JV_INT && cnt.t != JV_NONE) rc = jctx_fail(c, "replace() count argument must be a number or null");
                else rc = do_replace(c, v.u.s, o.u.s, r.u.s, cnt.t == JV_INT ? cnt.u.n : NAN, out);
            }
        } else {
            rc = jctx_fail(c, "Unknown StringValue filter: %s", name);
        }
    } else if (jv_is_num(v) && strcmp(name, "round") == 0) {
        jval prec = jv_int(0), method;
        if (pos->n > 0) prec = pos->v[0];
        else kwarg(kw, "precision", &prec);
        const char *m = "common";
        if (pos->n > 1 ? (method = pos->v[1], true) : kwarg(kw, "method", &method)) {
            if (method.t != JV_STR) { rc = jctx_fail(c, "method must be a string"); goto done; }
            m = method.u.s->s;
        }
        if (!jv_is_num(prec)) rc = jctx_fail(c, "precision must be a number");
        else rc = round_num(c, v, prec.u.n, m, out);
    } else if (v.t == JV_DICT) {
        if (jbi_member(c, v, name, strlen(name), &x)) goto done;
        if (x.t == JV_FUNC) {
            rc = jbi_call(c, x.u.f, pos, kw, out);
            jv_release(x);
        } else {
            rc = jctx_fail(c, "Unknown ObjectValue filter: %s", name);
        }
    } else {
        rc = jctx_fail(c, "Cannot apply filter \"%s\" to type: %s", name, jv_type_name(v));
    }
done:
    jarr_release(pos);
    jdict_release(kw);
    return rc;
}

int jbi_filter(jctx *c, jval operand, const jnode *filter, jenv *env, jval *out)
{
    if (filter->kind == N_IDENT) return filter_ident(c, operand, filter->str->s, out);
    if (filter->kind == N_CALL) return filter_call(c, operand, filter, env, out);
    return jctx_fail(c, "Unknown filter");
}
