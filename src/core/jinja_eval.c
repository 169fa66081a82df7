/* Interpreter: evaluates the syntax tree the way the reference's Interpreter
 * does (scoping, loop object, break/continue discarding the current
 * iteration's output, macros with dynamic scope, operator semantics), with
 * bounded steps, depth and output size. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/jinja_internal.h"

enum {
    DEFAULT_MAX_OUTPUT = 16u << 20,
    DEFAULT_MAX_STEPS = 50000000,
    DEFAULT_MAX_ITEMS = 1000000,
    DEFAULT_MAX_DEPTH = 500,
};

static int eval_block(jctx *c, const jnode_list *body, jenv *env, jbuf *out);

static int enter(jctx *c)
{
    if (++c->steps > c->max_steps) return jctx_fail(c, "template exceeded the evaluation step limit");
    if (++c->depth > c->max_depth) {
        c->depth--;
        return jctx_fail(c, "template nested too deeply (maximum depth %d)", c->max_depth);
    }
    return 0;
}

static int check_out(jctx *c, const jbuf *b)
{
    if (b->oom) return jctx_oom(c);
    if (b->n > c->max_output) return jctx_fail(c, "output exceeds the limit of %zu bytes", c->max_output);
    return 0;
}

static int buf_to_value(jctx *c, jbuf *b, jval *out)
{
    if (check_out(c, b)) { jbuf_free(b); return -1; }
    jstr *s = jstr_new(b->p ? b->p : "", b->n);
    jbuf_free(b);
    if (!s) return jctx_oom(c);
    *out = jv_strv(s);
    return 0;
}

/* ---- arguments ---- */

int jeval_args(jctx *c, const jnode_list *args, jenv *env, jarr **pos_out, jdict **kw_out)
{
    jarr *pos = jarr_new(args->n);
    jdict *kw = jdict_new();
    if (!pos || !kw) { jarr_release(pos); jdict_release(kw); return jctx_oom(c); }
    kw->kwargs = true;
    /* all positional arguments (and * unpacking) before any keyword value */
    for (size_t i = 0; i < args->n; i++) {
        const jnode *a = args->v[i];
        if (a->kind == N_KWARG || a->kind == N_KWSPREAD) continue;
        jval v;
        if (jeval_expr(c, a->kind == N_SPREAD ? a->a : a, env, &v)) goto fail;
        if (a->kind == N_SPREAD) {
            if (v.t != JV_ARR) {
                jctx_fail(c, "Cannot unpack non-iterable type: %s", jv_type_name(v));
                jv_release(v);
                goto fail;
            }
            for (size_t k = 0; k < v.u.a->n; k++)
                if (!jarr_push(pos, jv_retain(v.u.a->v[k]))) { jv_release(v); jctx_oom(c); goto fail; }
            jv_release(v);
        } else if (!jarr_push(pos, v)) {
            jctx_oom(c);
            goto fail;
        }
    }
    for (size_t i = 0; i < args->n; i++) {
        const jnode *a = args->v[i];
        if (a->kind != N_KWARG && a->kind != N_KWSPREAD) continue;
        jval v;
        if (jeval_expr(c, a->a, env, &v)) goto fail;
        if (a->kind == N_KWARG) {
            if (jdict_get(kw, a->str->s, a->str->len)) {
                jctx_fail(c, "Got multiple values for keyword argument '%s'", a->str->s);
                jv_release(v);
                goto fail;
            }
            jstr *k = jstr_new(a->str->s, a->str->len);
            if (!k || !jdict_set(kw, k, v)) { if (!k) jv_release(v); jctx_oom(c); goto fail; }
        } else {
            if (v.t != JV_DICT) {
                jctx_fail(c, "Argument after ** must be a mapping, not %s", jv_type_name(v));
                jv_release(v);
                goto fail;
            }
            for (size_t k = 0; k < v.u.d->n; k++) {
                jstr *key = v.u.d->k[k];
                if (jdict_get(kw, key->s, key->len)) {
                    jctx_fail(c, "Got multiple values for keyword argument '%s'", key->s);
                    jv_release(v);
                    goto fail;
                }
                if (!jdict_set(kw, jstr_retain(key), jv_retain(v.u.d->v[k]))) { jv_release(v); jctx_oom(c); goto fail; }
            }
            jv_release(v);
        }
    }
    *pos_out = pos;
    *kw_out = kw;
    return 0;
fail:
    jarr_release(pos);
    jdict_release(kw);
    return -1;
}

/* ---- macros ---- */

static int bind_and_run(jctx *c, const char *display, const jnode_list *params, uint8_t special,
                        const jnode_list *body, jenv *parent, jarr *pos, jdict *kw_in, jval *out)
{
    jenv *scope = jenv_new(parent);
    jdict *kw = jdict_new();
    int rc = -1;
    const jnode **pending = params->n ? malloc(params->n * sizeof *pending) : NULL;
    size_t npending = 0;
    if (!scope || !kw || (params->n && !pending)) { jctx_oom(c); goto done; }
    for (size_t i = 0; kw_in && i < kw_in->n; i++)
        if (!jdict_set(kw, jstr_retain(kw_in->k[i]), jv_retain(kw_in->v[i]))) { jctx_oom(c); goto done; }
    for (size_t i = 0; i < params->n; i++) {
        const jnode *p = params->v[i];
        jval v = jv_undef();
        bool have = false;
        if (i < pos->n) {
            v = jv_retain(pos->v[i]);
            have = true;
        } else {
            jval *k = jdict_get(kw, p->str->s, p->str->len);
            if (k) {
                v = jv_retain(*k);
                have = true;
                /* remove it: rebuild without the key keeps insertion order */
                jdict *rest = jdict_new();
                if (!rest) { jv_release(v); jctx_oom(c); goto done; }
                for (size_t j = 0; j < kw->n; j++)
                    if (!jstr_eq(kw->k[j], p->str->s, p->str->len))
                        jdict_set(rest, jstr_retain(kw->k[j]), jv_retain(kw->v[j]));
                jdict_release(kw);
                kw = rest;
            }
        }
        if (!have && p->kind == N_KWARG) pending[npending++] = p;
        if (!jenv_set(scope, p->str->s, p->str->len, v)) { jctx_oom(c); goto done; }
    }
    if (special & 1) {
        kw->rc++;
        if (!jenv_set(scope, "kwargs", 6, jv_dictv(kw))) { jctx_oom(c); goto done; }
    } else if (kw->n > 0) {
        jctx_fail(c, "macro %s takes no keyword argument '%s'", display, kw->k[0]->s);
        goto done;
    }
    if (special & 2) {
        jarr *va = jarr_new(0);
        if (!va) { jctx_oom(c); goto done; }
        for (size_t i = params->n; i < pos->n; i++) jarr_push(va, jv_retain(pos->v[i]));
        if (!jenv_set(scope, "varargs", 7, jv_arrv(va))) { jctx_oom(c); goto done; }
    } else if (pos->n > params->n) {
        jctx_fail(c, "macro %s takes not more than %zu argument(s)", display, params->n);
        goto done;
    }
    for (size_t i = 0; i < npending; i++) {
        jval v;
        if (jeval_expr(c, pending[i]->a, scope, &v)) goto done;
        if (!jenv_set(scope, pending[i]->str->s, pending[i]->str->len, v)) { jctx_oom(c); goto done; }
    }
    jbuf b = {0};
    if (eval_block(c, body, scope, &b)) { jbuf_free(&b); goto done; }
    rc = buf_to_value(c, &b, out);
done:
    free(pending);
    jdict_release(kw);
    jenv_release(scope);
    return rc;
}

int jcall(jctx *c, jval fn, jarr *pos, jdict *kw, jenv *env, jval *out)
{
    if (fn.t != JV_FUNC) return jctx_fail(c, "Cannot call something that is not a function: got %s", jv_type_name(fn));
    const jfunc *f = fn.u.f;
    if (enter(c)) return -1;
    int rc;
    if (f->kind == JF_MACRO) {
        char name[80];
        snprintf(name, sizeof name, "'%s'", f->node->a->str->s);
        rc = bind_and_run(c, name, &f->node->list2, f->node->special, &f->node->list, env, pos, kw, out);
    } else if (f->kind == JF_CALLER) {
        rc = bind_and_run(c, "None", &f->node->list2, f->node->special, &f->node->list3, f->env, pos, kw, out);
    } else {
        rc = jbi_call(c, f, pos, kw, out);
    }
    c->depth--;
    return rc;
}

/* ---- expressions ---- */

static bool is_str(jval v) { return v.t == JV_STR; }

static int concat(jctx *c, jval l, jval r, jval *out)
{
    jbuf b = {0};
    if (jv_prim_string(c, l, &b, false) || jv_prim_string(c, r, &b, false)) { jbuf_free(&b); return -1; }
    return buf_to_value(c, &b, out);
}

static int eval_binary(jctx *c, const jnode *n, jenv *env, jval *out)
{
    jval l, r;
    if (jeval_expr(c, n->a, env, &l)) return -1;
    if (n->op == OP_AND || n->op == OP_OR) {
        bool t = jv_truthy(l);
        if ((n->op == OP_AND) != t) { *out = l; return 0; }
        jv_release(l);
        return jeval_expr(c, n->b, env, out);
    }
    if (jeval_expr(c, n->b, env, &r)) { jv_release(l); return -1; }
    int rc = 0;
    int op = n->op;
    static const char *OPS[] = {"+", "-", "~", "*", "/", "//", "%", "**", "==", "!=", "<", ">", "<=", ">=", "in", "not in"};
    if (op == OP_EQ || op == OP_NE) {
        bool eq = jv_loose_eq(c, l, r);
        *out = jv_bool(op == OP_EQ ? eq : !eq);
        goto done;
    }
    if (l.t == JV_UNDEF || r.t == JV_UNDEF) {
        if (r.t == JV_UNDEF && (op == OP_IN || op == OP_NOTIN)) {
            *out = jv_bool(op == OP_NOTIN);
            goto done;
        }
        rc = jctx_fail(c, "Cannot perform operation %s on undefined values", OPS[op]);
        goto done;
    }
    if (l.t == JV_NONE || r.t == JV_NONE) {
        rc = jctx_fail(c, "Cannot perform operation on null values");
        goto done;
    }
    if (op == OP_TILDE) {
        rc = concat(c, l, r, out);
        goto done;
    }
    bool lnum = jv_is_num(l) || l.t == JV_BOOL, rnum = jv_is_num(r) || r.t == JV_BOOL;
    if (op == OP_POW && lnum && rnum) {
        double a = l.t == JV_BOOL ? l.u.b : l.u.n, b = r.t == JV_BOOL ? r.u.b : r.u.n;
        if (a == 0 && b < 0) { rc = jctx_fail(c, "0.0 cannot be raised to a negative power"); goto done; }
        double res = (fabs(a) == 1 && isinf(b)) ? NAN : pow(a, b);
        if (!isfinite(res)) { rc = jctx_fail(c, "Exponentiation result is not a finite real number"); goto done; }
        bool fl = l.t == JV_FLOAT || r.t == JV_FLOAT || b < 0;
        *out = fl ? jv_float(res) : jv_int(res);
        goto done;
    }
    if (jv_is_num(l) && jv_is_num(r)) {
        double a = l.u.n, b = r.u.n;
        bool fl = l.t == JV_FLOAT || r.t == JV_FLOAT;
        switch (op) {
        case OP_ADD: *out = fl ? jv_float(a + b) : jv_int(a + b); goto done;
        case OP_SUB: *out = fl ? jv_float(a - b) : jv_int(a - b); goto done;
        case OP_MUL: *out = fl ? jv_float(a * b) : jv_int(a * b); goto done;
        case OP_DIV: *out = jv_float(a / b); goto done;
        case OP_FLOORDIV: *out = fl ? jv_float(floor(a / b)) : jv_int(floor(a / b)); goto done;
        case OP_MOD: *out = fl ? jv_float(fmod(a, b)) : jv_int(fmod(a, b)); goto done;
        case OP_LT: *out = jv_bool(a < b); goto done;
        case OP_GT: *out = jv_bool(a > b); goto done;
        case OP_GE: *out = jv_bool(a >= b); goto done;
        case OP_LE: *out = jv_bool(a <= b); goto done;
        default: break;
        }
    } else if (l.t == JV_ARR && r.t == JV_ARR) {
        if (op == OP_ADD) {
            if (l.u.a->n + r.u.a->n > c->max_items) { rc = jctx_fail(c, "list exceeds the limit of %zu items", c->max_items); goto done; }
            jarr *a = jarr_new(l.u.a->n + r.u.a->n);
            if (!a) { rc = jctx_oom(c); goto done; }
            for (size_t i = 0; i < l.u.a->n; i++) jarr_push(a, jv_retain(l.u.a->v[i]));
            for (size_t i = 0; i < r.u.a->n; i++) jarr_push(a, jv_retain(r.u.a->v[i]));
            *out = jv_arrv(a);
            goto done;
        }
    } else if (r.t == JV_ARR) {
        if (op == OP_IN || op == OP_NOTIN) {
            bool found = false;
            for (size_t i = 0; i < r.u.a->n && !found; i++) found = jv_strict_eq(r.u.a->v[i], l);
            *out = jv_bool(op == OP_IN ? found : !found);
            goto done;
        }
    }
    if ((is_str(l) || is_str(r)) && op == OP_ADD) {
        rc = concat(c, l, r, out);
        goto done;
    }
    if (is_str(l) && is_str(r) && (op == OP_IN || op == OP_NOTIN)) {
        bool found = l.u.s->len == 0 || (r.u.s->len >= l.u.s->len && memmem(r.u.s->s, r.u.s->len, l.u.s->s, l.u.s->len));
        *out = jv_bool(op == OP_IN ? found : !found);
        goto done;
    }
    if (is_str(l) && r.t == JV_DICT && (op == OP_IN || op == OP_NOTIN)) {
        bool found = jdict_get(r.u.d, l.u.s->s, l.u.s->len) != NULL;
        *out = jv_bool(op == OP_IN ? found : !found);
        goto done;
    }
    rc = jctx_fail(c, "Unknown operator \"%s\" between %s and %s", OPS[op], jv_type_name(l), jv_type_name(r));
done:
    jv_release(l);
    jv_release(r);
    return rc;
}

/* Array.prototype.at / String.prototype.at (UTF-16 units; half of a
 * surrogate pair shows up as U+FFFD once encoded). */
static int index_at(jctx *c, jval obj, double idx, jval *out)
{
    if (isnan(idx)) idx = 0;
    idx = trunc(idx);
    if (obj.t == JV_ARR) {
        double len = (double)obj.u.a->n, k = idx >= 0 ? idx : len + idx;
        *out = (k < 0 || k >= len) ? jv_undef() : jv_retain(obj.u.a->v[(size_t)k]);
        return 0;
    }
    const jstr *s = obj.u.s;
    double len = (double)jjs_u16_len(s->s, s->len), k = idx >= 0 ? idx : len + idx;
    if (k < 0 || k >= len) { *out = jv_undef(); return 0; }
    size_t unit = 0, i = 0;
    while (i < s->len) {
        size_t st = i;
        uint32_t cp = jutf8_next(s->s, s->len, &i);
        size_t w = cp >= 0x10000 ? 2 : 1;
        if ((double)(unit + w) > k) {
            *out = w == 2 ? jv_str("\xef\xbf\xbd", 3) : jv_str(s->s + st, i - st);
            return out->t == JV_STR ? 0 : jctx_oom(c);
        }
        unit += w;
    }
    *out = jv_undef();
    return 0;
}

static int get_member(jctx *c, jval obj, jval prop, jval *out)
{
    if (obj.t == JV_DICT || obj.t == JV_NS) {
        if (prop.t != JV_STR) return jctx_fail(c, "Cannot access property with non-string: got %s", jv_type_name(prop));
        jval *v = jdict_get(obj.u.d, prop.u.s->s, prop.u.s->len);
        if (v) { *out = jv_retain(*v); return 0; }
        if (obj.t == JV_DICT) return jbi_member(c, obj, prop.u.s->s, prop.u.s->len, out);
        *out = jv_undef();
        return 0;
    }
    if (obj.t == JV_ARR || obj.t == JV_STR) {
        if (prop.t == JV_INT) return index_at(c, obj, prop.u.n, out);
        if (prop.t == JV_STR) return jbi_member(c, obj, prop.u.s->s, prop.u.s->len, out);
        return jctx_fail(c, "Cannot access property with non-string/non-number: got %s", jv_type_name(prop));
    }
    if (prop.t != JV_STR) return jctx_fail(c, "Cannot access property with non-string: got %s", jv_type_name(prop));
    *out = jv_undef();
    return 0;
}

static int eval_member(jctx *c, const jnode *n, jenv *env, jval *out)
{
    jval obj, prop;
    if (jeval_expr(c, n->a, env, &obj)) return -1;
    int rc;
    if (n->flag && n->b->kind == N_SLICE) {
        jval parts[3];
        const jnode *pn[3] = {n->b->a, n->b->b, n->b->c};
        if (obj.t != JV_ARR && obj.t != JV_STR) {
            jv_release(obj);
            return jctx_fail(c, "Slice object must be an array or string");
        }
        int k = 0;
        for (; k < 3; k++) {
            parts[k] = jv_undef();
            if (pn[k] && jeval_expr(c, pn[k], env, &parts[k])) break;
        }
        rc = k < 3 ? -1 : jbi_slice(c, obj, &parts[0], &parts[1], &parts[2], out);
        for (int i = 0; i < k && i < 3; i++) jv_release(parts[i]);
        jv_release(obj);
        return rc;
    }
    if (n->flag) {
        if (jeval_expr(c, n->b, env, &prop)) { jv_release(obj); return -1; }
    } else if (n->b->kind == N_INT) {
        prop = jv_int(n->b->num);
    } else {
        prop = jv_strv(n->b->str);
    }
    rc = get_member(c, obj, prop, out);
    jv_release(obj);
    jv_release(prop);
    return rc;
}

static int eval_call(jctx *c, const jnode *n, jenv *env, jval *out)
{
    jarr *pos;
    jdict *kw;
    if (jeval_args(c, &n->list, env, &pos, &kw)) return -1;
    jval fn;
    int rc = -1;
    if (jeval_expr(c, n->a, env, &fn) == 0) {
        rc = jcall(c, fn, pos, kw, env, out);
        jv_release(fn);
    }
    jarr_release(pos);
    jdict_release(kw);
    return rc;
}

static int eval_unary(jctx *c, const jnode *n, jenv *env, jval *out)
{
    jval v;
    if (jeval_expr(c, n->a, env, &v)) return -1;
    int rc = 0;
    if (n->op == OP_NOT) {
        *out = jv_bool(!jv_truthy(v));
    } else if (jv_is_num(v) || v.t == JV_BOOL) {
        double x = v.t == JV_BOOL ? v.u.b : v.u.n;
        double r = n->op == OP_NEG ? -x : x;
        *out = v.t == JV_FLOAT ? jv_float(r) : jv_int(r);
    } else {
        rc = jctx_fail(c, "Unknown operator \"%s\" for %s", n->op == OP_NEG ? "-" : "+", jv_type_name(v));
    }
    jv_release(v);
    return rc;
}

int jeval_expr(jctx *c, const jnode *n, jenv *env, jval *out)
{
    if (enter(c)) return -1;
    int rc = 0;
    switch (n->kind) {
    case N_STR: *out = jv_strv(n->str); break;
    case N_INT: *out = jv_int(n->num); break;
    case N_FLOAT: *out = jv_float(n->num); break;
    case N_IDENT: *out = jv_retain(jenv_lookup(env, n->str->s, n->str->len)); break;
    case N_ARRAY:
    case N_TUPLE: {
        jarr *a = jarr_new(n->list.n);
        if (!a) { rc = jctx_oom(c); break; }
        a->tuple = n->kind == N_TUPLE;
        for (size_t i = 0; i < n->list.n && rc == 0; i++) {
            jval v;
            if ((rc = jeval_expr(c, n->list.v[i], env, &v)) == 0 && !jarr_push(a, v)) rc = jctx_oom(c);
        }
        if (rc) jarr_release(a);
        else *out = jv_arrv(a);
        break;
    }
    case N_DICT: {
        jdict *d = jdict_new();
        if (!d) { rc = jctx_oom(c); break; }
        for (size_t i = 0; i < n->list.n && rc == 0; i++) {
            jval k, v;
            if ((rc = jeval_expr(c, n->list.v[i], env, &k))) break;
            if (k.t != JV_STR) {
                rc = jctx_fail(c, "Object keys must be strings: got %s", jv_type_name(k));
                jv_release(k);
                break;
            }
            if ((rc = jeval_expr(c, n->list2.v[i], env, &v))) { jv_release(k); break; }
            jstr *key = k.u.s->rc < 0 ? jstr_new(k.u.s->s, k.u.s->len) : k.u.s;
            if (!key) { jv_release(v); rc = jctx_oom(c); break; }
            if (!jdict_set(d, key, v)) rc = jctx_oom(c);
        }
        if (rc) jdict_release(d);
        else *out = jv_dictv(d);
        break;
    }
    case N_MEMBER: rc = eval_member(c, n, env, out); break;
    case N_CALL: rc = eval_call(c, n, env, out); break;
    case N_UNARY: rc = eval_unary(c, n, env, out); break;
    case N_BINARY: rc = eval_binary(c, n, env, out); break;
    case N_FILTER: {
        jval v;
        if ((rc = jeval_expr(c, n->a, env, &v))) break;
        rc = jbi_filter(c, v, n->b, env, out);
        jv_release(v);
        break;
    }
    case N_TEST: {
        jval v;
        if ((rc = jeval_expr(c, n->a, env, &v))) break;
        bool res = false;
        rc = jbi_test(c, n->str->s, v, &res);
        jv_release(v);
        if (rc == 0) *out = jv_bool(n->flag ? !res : res);
        break;
    }
    case N_SELECT: {
        jval t;
        if ((rc = jeval_expr(c, n->b, env, &t))) break;
        bool ok = jv_truthy(t);
        jv_release(t);
        if (!ok) *out = jv_undef();
        else rc = jeval_expr(c, n->a, env, out);
        break;
    }
    case N_TERNARY: {
        jval t;
        if ((rc = jeval_expr(c, n->a, env, &t))) break;
        bool ok = jv_truthy(t);
        jv_release(t);
        rc = jeval_expr(c, ok ? n->b : n->c, env, out);
        break;
    }
    case N_COMMENT: *out = jv_none(); break;
    default: rc = jctx_fail(c, "Unknown node type"); break;
    }
    c->depth--;
    return rc;
}

/* ---- statements ---- */

static int assign_name(jctx *c, jenv *env, const jstr *name, jval v)
{
    return jenv_set(env, name->s, name->len, v) ? 0 : jctx_oom(c);
}

static int eval_set(jctx *c, const jnode *n, jenv *env)
{
    jval rhs;
    if (n->b) {
        if (jeval_expr(c, n->b, env, &rhs)) return -1;
    } else {
        jbuf b = {0};
        if (eval_block(c, &n->list, env, &b)) { jbuf_free(&b); return -1; }
        if (buf_to_value(c, &b, &rhs)) return -1;
    }
    const jnode *t = n->a;
    if (t->kind == N_IDENT) return assign_name(c, env, t->str, rhs);
    int rc = 0;
    if (t->kind == N_TUPLE) {
        if (rhs.t != JV_ARR) {
            rc = jctx_fail(c, "Cannot unpack non-iterable type in set: %s", jv_type_name(rhs));
        } else if (rhs.u.a->n != t->list.n) {
            rc = jctx_fail(c, "Too %s items to unpack in set", t->list.n > rhs.u.a->n ? "few" : "many");
        } else {
            for (size_t i = 0; i < t->list.n && rc == 0; i++) {
                if (t->list.v[i]->kind != N_IDENT) rc = jctx_fail(c, "Cannot unpack to non-identifier in set");
                else rc = assign_name(c, env, t->list.v[i]->str, jv_retain(rhs.u.a->v[i]));
            }
        }
    } else if (t->kind == N_MEMBER) {
        jval obj;
        if (jeval_expr(c, t->a, env, &obj)) {
            rc = -1;
        } else {
            if (obj.t != JV_NS) rc = jctx_fail(c, "cannot assign attribute on non-namespace object");
            else if (t->b->kind != N_IDENT) rc = jctx_fail(c, "Cannot assign to member with non-identifier property");
            else {
                jstr *k = jstr_new(t->b->str->s, t->b->str->len);
                if (!k || !jdict_set(obj.u.d, k, jv_retain(rhs))) rc = jctx_oom(c);
            }
            jv_release(obj);
        }
    } else {
        rc = jctx_fail(c, "Invalid LHS inside assignment expression");
    }
    jv_release(rhs);
    return rc;
}

static int bind_loopvar(jctx *c, const jnode *var, jval item, jenv *scope)
{
    if (var->kind == N_IDENT) return assign_name(c, scope, var->str, jv_retain(item));
    for (size_t j = 0; j < var->list.n; j++) {
        if (var->list.v[j]->kind != N_IDENT) return jctx_fail(c, "Cannot unpack non-identifier type");
        if (assign_name(c, scope, var->list.v[j]->str, jv_retain(item.u.a->v[j]))) return -1;
    }
    return 0;
}

static jdict *loop_object(size_t i, size_t n, const jval *items)
{
    jdict *d = jdict_new();
    if (!d) return NULL;
    static const char *K[] = {"index", "index0", "revindex", "revindex0", "first", "last", "length", "previtem", "nextitem"};
    jval v[9] = {
        jv_int((double)i + 1), jv_int((double)i), jv_int((double)(n - i)), jv_int((double)(n - i - 1)),
        jv_bool(i == 0), jv_bool(i == n - 1), jv_int((double)n),
        i > 0 ? jv_retain(items[i - 1]) : jv_undef(), i + 1 < n ? jv_retain(items[i + 1]) : jv_undef(),
    };
    bool ok = true;
    for (int k = 0; k < 9; k++) {
        jstr *key = ok ? jstr_cstr(K[k]) : NULL;
        if (!key) { jv_release(v[k]); ok = false; continue; }
        if (!jdict_set(d, key, v[k])) ok = false;
    }
    if (!ok) { jdict_release(d); return NULL; }
    return d;
}

static int eval_for(jctx *c, const jnode *n, jenv *env, jbuf *out)
{
    jenv *scope = jenv_new(env);
    if (!scope) return jctx_oom(c);
    const jnode *test = NULL;
    jval iter;
    int rc = -1;
    jarr *sel = NULL;
    if (n->b->kind == N_SELECT) {
        test = n->b->b;
        if (jeval_expr(c, n->b->a, scope, &iter)) { jenv_release(scope); return -1; }
    } else if (jeval_expr(c, n->b, scope, &iter)) {
        jenv_release(scope);
        return -1;
    }
    jarr *items = NULL;
    if (iter.t == JV_ARR) {
        items = iter.u.a;
        items->rc > 0 ? items->rc++ : 0;
    } else if (iter.t == JV_DICT) {
        items = jarr_new(iter.u.d->n);
        if (!items) { jctx_oom(c); goto done; }
        for (size_t i = 0; i < iter.u.d->n; i++) jarr_push(items, jv_strv(jstr_retain(iter.u.d->k[i])));
    } else {
        jctx_fail(c, "Expected iterable or object type in for loop: got %s", jv_type_name(iter));
        goto done;
    }
    sel = jarr_new(items->n);
    if (!sel) { jctx_oom(c); goto done; }
    for (size_t i = 0; i < items->n; i++) {
        jval cur = items->v[i];
        if (n->a->kind == N_TUPLE) {
            if (cur.t != JV_ARR || cur.u.a->tuple) {
                jctx_fail(c, "Cannot unpack non-iterable type: %s", jv_type_name(cur));
                goto done;
            }
            if (cur.u.a->n != n->a->list.n) {
                jctx_fail(c, "Too %s items to unpack", n->a->list.n > cur.u.a->n ? "few" : "many");
                goto done;
            }
        }
        if (test) {
            jenv *ls = jenv_new(scope);
            if (!ls) { jctx_oom(c); goto done; }
            jval tv;
            int r = bind_loopvar(c, n->a, cur, ls);
            if (r == 0) r = jeval_expr(c, test, ls, &tv);
            jenv_release(ls);
            if (r) goto done;
            bool keep = jv_truthy(tv);
            jv_release(tv);
            if (!keep) continue;
        }
        jarr_push(sel, jv_retain(cur));
    }
    bool none_ran = true;
    for (size_t i = 0; i < sel->n; i++) {
        if (enter(c)) goto done;
        c->depth--;
        jdict *loop = loop_object(i, sel->n, sel->v);
        if (!loop) { jctx_oom(c); goto done; }
        if (!jenv_set(scope, "loop", 4, jv_dictv(loop))) { jctx_oom(c); goto done; }
        if (bind_loopvar(c, n->a, sel->v[i], scope)) goto done;
        size_t mark = out->n;
        if (eval_block(c, &n->list, scope, out)) {
            if (c->err_kind == JE_BREAK || c->err_kind == JE_CONTINUE) {
                int kind = c->err_kind;
                c->err_kind = JE_NONE;
                out->n = mark;
                if (out->p) out->p[mark] = 0;
                if (kind == JE_BREAK) break;
                continue;
            }
            goto done;
        }
        none_ran = false;
    }
    if (none_ran && eval_block(c, &n->list2, scope, out)) goto done;
    rc = 0;
done:
    jarr_release(sel);
    jarr_release(items);
    jv_release(iter);
    jenv_release(scope);
    return rc;
}

static int eval_callblock(jctx *c, const jnode *n, jenv *env, jval *out)
{
    jfunc *caller = jfunc_new(JF_CALLER, 0);
    if (!caller) return jctx_oom(c);
    caller->node = n;
    caller->env = jenv_retain(env);
    jval cv = {.t = JV_FUNC, .u.f = caller};
    jarr *pos;
    jdict *kw;
    int rc = -1;
    if (jeval_args(c, &n->a->list, env, &pos, &kw)) { jv_release(cv); return -1; }
    jval fn;
    if (jeval_expr(c, n->a->a, env, &fn) == 0) {
        if (fn.t != JV_FUNC) {
            jctx_fail(c, "Cannot call something that is not a function: got %s", jv_type_name(fn));
        } else {
            jenv *ne = jenv_new(env);
            if (!ne || !jenv_set(ne, "caller", 6, jv_retain(cv))) jctx_oom(c);
            else rc = jcall(c, fn, pos, kw, ne, out);
            jenv_release(ne);
        }
        jv_release(fn);
    }
    jarr_release(pos);
    jdict_release(kw);
    jv_release(cv);
    return rc;
}

static int emit(jctx *c, jval v, jbuf *out)
{
    int rc = 0;
    if (v.t != JV_NONE && v.t != JV_UNDEF) rc = jv_to_string(c, v, out);
    jv_release(v);
    return rc ? -1 : check_out(c, out);
}

static int eval_stmt(jctx *c, const jnode *n, jenv *env, jbuf *out)
{
    if (enter(c)) return -1;
    int rc = 0;
    jval v;
    switch (n->kind) {
    case N_STR:
        jbuf_put(out, n->str->s, n->str->len);
        rc = check_out(c, out);
        break;
    case N_COMMENT:
    case N_MACRO:
        if (n->kind == N_MACRO) {
            jfunc *f = jfunc_new(JF_MACRO, 0);
            if (!f) { rc = jctx_oom(c); break; }
            f->node = n;
            jval fv = {.t = JV_FUNC, .u.f = f};
            rc = assign_name(c, env, n->a->str, fv);
        }
        break;
    case N_SET: rc = eval_set(c, n, env); break;
    case N_IF: {
        jval t;
        if ((rc = jeval_expr(c, n->a, env, &t))) break;
        bool ok = jv_truthy(t);
        jv_release(t);
        rc = eval_block(c, ok ? &n->list : &n->list2, env, out);
        break;
    }
    case N_FOR: rc = eval_for(c, n, env, out); break;
    case N_BREAK:
    case N_CONTINUE:
        if (c->err_kind == JE_NONE) {
            c->err_kind = n->kind == N_BREAK ? JE_BREAK : JE_CONTINUE;
            if (c->err && c->errlen) snprintf(c->err, c->errlen, "'%s' outside of a loop", n->kind == N_BREAK ? "break" : "continue");
        }
        rc = -1;
        break;
    case N_CALLBLOCK:
        if ((rc = eval_callblock(c, n, env, &v)) == 0) rc = emit(c, v, out);
        break;
    case N_FILTERBLOCK: {
        jbuf b = {0};
        jval s;
        if (eval_block(c, &n->list, env, &b)) { jbuf_free(&b); rc = -1; break; }
        if ((rc = buf_to_value(c, &b, &s))) break;
        rc = jbi_filter(c, s, n->a, env, &v);
        jv_release(s);
        if (rc == 0) rc = emit(c, v, out);
        break;
    }
    default:
        if ((rc = jeval_expr(c, n, env, &v)) == 0) rc = emit(c, v, out);
        break;
    }
    c->depth--;
    return rc;
}

static int eval_block(jctx *c, const jnode_list *body, jenv *env, jbuf *out)
{
    for (size_t i = 0; i < body->n; i++)
        if (eval_stmt(c, body->v[i], env, out)) return -1;
    return 0;
}

char *jinja_render_ex(const jinja_template *t, const json_t *context, const jinja_options *opt, size_t *out_len,
                      char *err, size_t errlen)
{
    if (err && errlen) err[0] = 0;
    jctx c = {.tpl = t, .err = err, .errlen = errlen};
    c.max_output = opt && opt->max_output ? opt->max_output : DEFAULT_MAX_OUTPUT;
    c.max_steps = opt && opt->max_steps ? opt->max_steps : DEFAULT_MAX_STEPS;
    c.max_items = opt && opt->max_items ? opt->max_items : DEFAULT_MAX_ITEMS;
    c.max_depth = opt && opt->max_depth > 0 ? opt->max_depth : DEFAULT_MAX_DEPTH;
    c.now = opt && opt->now ? opt->now : (int64_t)time(NULL);
    if (!t) {
        jctx_fail(&c, "no template");
        return NULL;
    }
    jbuf out = {0};
    jenv *globals = jenv_new(NULL);
    int rc = -1;
    if (!globals) { jctx_oom(&c); goto done; }
    jbi_install_globals(&c, globals);
    if (c.err_kind != JE_NONE) goto done;
    if (context && json_is_object(context)) {
        const char *key;
        json_t *val;
        json_object_foreach((json_t *)context, key, val) {
            size_t kl = strlen(key);
            if (jdict_get(globals->vars, key, kl)) {
                jctx_fail(&c, "Variable already declared: %s", key);
                goto done;
            }
            jval v = jv_from_json(&c, val);
            if (c.err_kind != JE_NONE) { jv_release(v); goto done; }
            if (!jenv_set(globals, key, kl, v)) { jctx_oom(&c); goto done; }
        }
    } else if (context && !json_is_null(context)) {
        jctx_fail(&c, "context must be a JSON object");
        goto done;
    }
    rc = eval_block(&c, &t->body, globals, &out);
    if (rc == 0 && out.oom) rc = jctx_oom(&c);
done:
    for (size_t i = 0; i < c.ns_n; i++) {
        jdict_clear(c.ns[i]);
        jdict_release(c.ns[i]);
    }
    free(c.ns);
    jenv_release(globals);
    if (rc) {
        jbuf_free(&out);
        return NULL;
    }
    if (!out.p) out.p = calloc(1, 1);
    if (!out.p) {
        if (err && errlen) snprintf(err, errlen, "out of memory");
        return NULL;
    }
    if (out_len) *out_len = out.n;
    return out.p;
}

char *jinja_render(const jinja_template *t, const json_t *context, char *err, size_t errlen)
{
    return jinja_render_ex(t, context, NULL, NULL, err, errlen);
}
