/* Byte-level matcher for the compiled schema: a pushdown automaton whose
 * state is a small set of stacks (more than one only where a union or a key
 * name is still ambiguous). Stacks are persistent: a step allocates new top
 * frames that point at the unchanged frames below, so a trie walk can keep
 * the state of every depth and rewind for free.
 *
 * Frame fields by kind:
 *   ROOT          phase R_*; node = schema root.
 *   VAL object    a = index of the next declared property that may come;
 *                 b = schema of the value after the current key.
 *   VAL array     a = items so far.
 *   VAL string    a = code points so far.
 *   VAL number    a = digits in the current part.
 *   VAL literal   a = position in the literal trie.
 *   KEYLIT        a = position in the object's key trie.
 *   KEYFREE       a string body; b = position in the declared-name trie
 *                 (-1: cannot equal a declared name any more).
 * A frame only accepts what can still be completed: nothing is started that
 * needs more nesting than is left, and a key prefix is taken only if some
 * property it could name may still come. */
#include <stdlib.h>
#include <string.h>

#include "core/json_constraint.h"
#include "core/json_constraint_internal.h"

enum { R_START, R_VALUE, R_AFTER };
enum { O_START, O_OPEN, O_KEY, O_COLON, O_VALUE, O_AFTER, O_COMMA };
enum { A_START, A_OPEN, A_VALUE, A_AFTER };
enum { S_START, S_BODY };
enum { N_START, N_MINUS, N_ZERO, N_INT, N_DOT, N_FRAC, N_E, N_ESIGN, N_EXP };
enum { L_START, L_IN };

#define CHUNK_FRAMES 512
#define MAX_DIGITS 18
#define MAX_EXP_DIGITS 2

typedef struct {
    const jc_matcher *m;
    const jc_frame **out;
    int n, cap;
} emitter;

void jc_arena_free(jc_arena *a)
{
    for (int32_t i = 0; i < a->n_chunks; i++) free(a->chunks[i]);
    free(a->chunks);
    memset(a, 0, sizeof *a);
}

static jc_frame *fnew(jc_arena *a)
{
    if (a->used == CHUNK_FRAMES) {
        if (a->ci + 1 >= a->n_chunks) {
            if (a->n_chunks == a->cap_chunks) {
                int32_t cap = a->cap_chunks ? a->cap_chunks * 2 : 8;
                jc_frame **c = realloc(a->chunks, sizeof *c * (size_t)cap);
                if (!c) goto oom;
                a->chunks = c;
                a->cap_chunks = cap;
            }
            jc_frame *chunk = malloc(sizeof *chunk * CHUNK_FRAMES);
            if (!chunk) goto oom;
            a->chunks[a->n_chunks++] = chunk;
        }
        a->ci++;
        a->used = 0;
    } else if (a->n_chunks == 0) {
        a->chunks = malloc(sizeof *a->chunks * 8);
        jc_frame *chunk = malloc(sizeof *chunk * CHUNK_FRAMES);
        if (!a->chunks || !chunk) {
            free(a->chunks);
            free(chunk);
            a->chunks = NULL;
            goto oom;
        }
        a->chunks[0] = chunk;
        a->n_chunks = 1;
        a->cap_chunks = 8;
        a->ci = 0;
    }
    return &a->chunks[a->ci][a->used++];
oom:
    a->oom = true;
    return NULL;
}

bool jc_same_stack(const jc_frame *x, const jc_frame *y)
{
    while (x != y) {
        if (!x || !y) return false;
        if (x->node != y->node || x->a != y->a || x->b != y->b || x->hex != y->hex || x->surr != y->surr ||
            x->kind != y->kind || x->phase != y->phase || x->ws != y->ws || x->esc != y->esc ||
            x->u8need != y->u8need || x->u8lo != y->u8lo || x->u8hi != y->u8hi || x->depth != y->depth)
            return false;
        x = x->up;
        y = y->up;
    }
    return true;
}

static void emit(emitter *e, const jc_frame *f)
{
    if (!f || e->n >= e->cap) return;
    for (int i = 0; i < e->n; i++)
        if (jc_same_stack(e->out[i], f)) return;
    e->out[e->n++] = f;
}

static jc_frame *copy(emitter *e, const jc_frame *f)
{
    jc_frame *g = fnew(e->m->arena);
    if (g) *g = *f;
    return g;
}

static jc_frame *to_phase(emitter *e, const jc_frame *f, uint8_t phase)
{
    jc_frame *g = copy(e, f);
    if (g) {
        g->phase = phase;
        g->ws = 0;
    }
    return g;
}

static bool is_ws(uint8_t c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

static void take_ws(emitter *e, const jc_frame *f)
{
    if (f->ws >= e->m->max_ws) return;
    jc_frame *g = copy(e, f);
    if (g) {
        g->ws++;
        emit(e, g);
    }
}

static const jc_node *node_of(const emitter *e, const jc_frame *f) { return &e->m->p->nodes[f->node]; }

/* A value of `node` starting at nesting `depth` can be finished in time. */
static bool fits(const jc_program *p, int depth, int32_t node)
{
    return depth - 1 + p->nodes[node].md <= JSON_CONSTRAINT_MAX_DEPTH;
}

bool jc_utf8_lead(uint8_t c, int *need, uint8_t *lo, uint8_t *hi)
{
    *lo = 0x80;
    *hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) *need = 1;
    else if (c >= 0xE0 && c <= 0xEF) {
        *need = 2;
        if (c == 0xE0) *lo = 0xA0;      /* no overlong forms */
        else if (c == 0xED) *hi = 0x9F; /* no surrogates */
    } else if (c >= 0xF0 && c <= 0xF4) {
        *need = 3;
        if (c == 0xF0) *lo = 0x90;
        else if (c == 0xF4) *hi = 0x8F; /* nothing past U+10FFFF */
    } else
        return false;
    return true;
}

static void step(emitter *e, const jc_frame *f, uint8_t c);

static void push_value(emitter *e, const jc_frame *up, int32_t node, uint8_t c)
{
    int depth = up->depth + 1;
    if (!fits(e->m->p, depth, node)) return;
    jc_frame *g = fnew(e->m->arena);
    if (!g) return;
    *g = (jc_frame){.up = up, .node = node, .b = -1, .kind = JC_FR_VAL, .depth = (uint8_t)depth};
    step(e, g, c);
}

/* f is finished: its parent moves on (a key tells the object the next
 * property index, or -1 to keep it, and the schema of the value), then
 * takes byte c when c >= 0 (a number or literal ends at the byte after it). */
static void done(emitter *e, const jc_frame *f, int32_t next, int32_t child, int c)
{
    const jc_frame *up = f->up;
    jc_frame *g = copy(e, up);
    if (!g) return;
    g->ws = 0;
    if (up->kind == JC_FR_ROOT) {
        g->phase = R_AFTER;
    } else if (node_of(e, up)->kind == JC_OBJ) {
        if (up->phase == O_KEY) {
            g->phase = O_COLON;
            if (next >= 0) g->a = next;
            g->b = child;
        } else {
            g->phase = O_AFTER;
        }
    } else {
        g->phase = A_AFTER;
        g->a++;
    }
    if (c >= 0) step(e, g, (uint8_t)c);
    else emit(e, g);
}

/* ---- objects ---- */

static int32_t req_limit(const jc_program *p, const jc_node *nd, int32_t a) { return p->req_next[nd->req_off + a]; }

static bool prop_ok(const jc_program *p, const jc_frame *obj, int32_t j)
{
    const jc_node *nd = &p->nodes[obj->node];
    return j >= obj->a && j <= req_limit(p, nd, obj->a) && j < nd->count &&
           fits(p, obj->depth + 1, p->props[nd->first + j].node);
}

static bool extra_ok(const jc_program *p, const jc_frame *obj)
{
    const jc_node *nd = &p->nodes[obj->node];
    return nd->child >= 0 && fits(p, obj->depth + 1, nd->child);
}

/* Some declared property below key-trie node t may come next. */
static bool trie_viable(const jc_program *p, const jc_frame *obj, int32_t t)
{
    const jc_tnode *tn = &p->tnodes[t];
    const jc_node *nd = &p->nodes[obj->node];
    int32_t lim = req_limit(p, nd, obj->a);
    for (int32_t i = 0; i < tn->list_n; i++) {
        int32_t j = p->lists[tn->list_off + i];
        if (j < obj->a) continue;
        if (j > lim) break;
        if (prop_ok(p, obj, j)) return true;
    }
    return false;
}

static bool any_key(const jc_program *p, const jc_frame *obj)
{
    const jc_node *nd = &p->nodes[obj->node];
    return (nd->trie >= 0 && trie_viable(p, obj, nd->trie)) || extra_ok(p, obj);
}

static bool can_close(const jc_program *p, const jc_frame *obj)
{
    const jc_node *nd = &p->nodes[obj->node];
    return req_limit(p, nd, obj->a) == nd->count;
}

static void open_key(emitter *e, const jc_frame *f)
{
    const jc_program *p = e->m->p;
    const jc_node *nd = node_of(e, f);
    jc_frame *g = to_phase(e, f, O_KEY);
    if (!g) return;
    if (nd->trie >= 0 && trie_viable(p, g, nd->trie)) {
        jc_frame *k = fnew(e->m->arena);
        if (k) {
            *k = (jc_frame){.up = g, .node = f->node, .kind = JC_FR_KEYLIT, .a = nd->trie, .depth = g->depth + 1};
            emit(e, k);
        }
    }
    if (extra_ok(p, g)) {
        jc_frame *k = fnew(e->m->arena);
        if (k) {
            *k = (jc_frame){.up = g, .node = f->node, .kind = JC_FR_KEYFREE, .phase = S_BODY, .b = nd->xtrie,
                            .depth = g->depth + 1};
            emit(e, k);
        }
    }
}

static void step_object(emitter *e, const jc_frame *f, uint8_t c)
{
    const jc_program *p = e->m->p;
    if (f->phase != O_VALUE && is_ws(c)) {
        take_ws(e, f);
        return;
    }
    switch (f->phase) {
    case O_START:
        if (c == '{') emit(e, to_phase(e, f, O_OPEN));
        break;
    case O_OPEN:
    case O_COMMA:
        if (c == '"' && any_key(p, f)) open_key(e, f);
        else if (c == '}' && f->phase == O_OPEN && can_close(p, f)) done(e, f, -1, -1, -1);
        break;
    case O_COLON:
        if (c == ':') emit(e, to_phase(e, f, O_VALUE));
        break;
    case O_VALUE:
        push_value(e, f, f->b, c);
        break;
    case O_AFTER:
        if (c == ',' && any_key(p, f)) emit(e, to_phase(e, f, O_COMMA));
        else if (c == '}' && can_close(p, f)) done(e, f, -1, -1, -1);
        break;
    }
}

static void step_keylit(emitter *e, const jc_frame *f, uint8_t c)
{
    const jc_program *p = e->m->p;
    int32_t t = jc_tchild(p, f->a, c);
    if (t < 0 || !trie_viable(p, f->up, t)) return;
    int32_t j = p->tnodes[t].term;
    if (j >= 0) {
        done(e, f, j + 1, p->props[p->nodes[f->node].first + j].node, -1);
        return;
    }
    jc_frame *g = copy(e, f);
    if (g) {
        g->a = t;
        emit(e, g);
    }
}

/* ---- arrays ---- */

static void step_array(emitter *e, const jc_frame *f, uint8_t c)
{
    const jc_node *nd = node_of(e, f);
    if (f->phase != A_VALUE && is_ws(c)) {
        take_ws(e, f);
        return;
    }
    switch (f->phase) {
    case A_START:
        if (c == '[') emit(e, to_phase(e, f, A_OPEN));
        break;
    case A_OPEN:
        if (c == ']') {
            if (nd->min == 0) done(e, f, -1, -1, -1);
        } else if (nd->max != 0) {
            jc_frame *g = to_phase(e, f, A_VALUE);
            if (g) push_value(e, g, nd->child, c);
        }
        break;
    case A_VALUE:
        push_value(e, f, nd->child, c);
        break;
    case A_AFTER:
        if (c == ',') {
            if ((nd->max < 0 || f->a < nd->max) && fits(e->m->p, f->depth + 1, nd->child))
                emit(e, to_phase(e, f, A_VALUE));
        } else if (c == ']' && f->a >= nd->min) {
            done(e, f, -1, -1, -1);
        }
        break;
    }
}

/* ---- strings (values and free keys) ---- */

static void feed_name(const jc_program *p, jc_frame *t, const uint8_t *bytes, size_t n)
{
    for (size_t i = 0; i < n && t->b >= 0; i++) t->b = jc_tchild(p, t->b, bytes[i]);
}

static void feed_cp(const jc_program *p, jc_frame *t, uint32_t cp)
{
    uint8_t u[4];
    size_t n;
    if (cp < 0x80) {
        u[0] = (uint8_t)cp;
        n = 1;
    } else if (cp < 0x800) {
        u[0] = (uint8_t)(0xC0 | (cp >> 6));
        u[1] = (uint8_t)(0x80 | (cp & 0x3F));
        n = 2;
    } else if (cp < 0x10000) {
        u[0] = (uint8_t)(0xE0 | (cp >> 12));
        u[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
        u[2] = (uint8_t)(0x80 | (cp & 0x3F));
        n = 3;
    } else {
        u[0] = (uint8_t)(0xF0 | (cp >> 18));
        u[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3F));
        u[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
        u[3] = (uint8_t)(0x80 | (cp & 0x3F));
        n = 4;
    }
    feed_name(p, t, u, n);
}

static int hex_value(uint8_t c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static void emit_local(emitter *e, const jc_frame *t)
{
    jc_frame *g = fnew(e->m->arena);
    if (!g) return;
    *g = *t;
    emit(e, g);
}

static void step_string_body(emitter *e, const jc_frame *f, uint8_t c)
{
    const jc_program *p = e->m->p;
    bool key = f->kind == JC_FR_KEYFREE;
    const jc_node *nd = node_of(e, f);
    int32_t mx = key ? -1 : nd->max, mn = key ? 0 : nd->min;
    jc_frame t = *f;
    bool room = mx < 0 || t.a < mx;
    if (t.esc == 1) {
        static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
        if (c == 'u') {
            t.esc = 2;
            t.hex = 0;
            emit_local(e, &t);
            return;
        }
        const char *at = c ? strchr(from, c) : NULL;
        if (!at || !room) return;
        uint8_t dec = (uint8_t)to[at - from];
        t.esc = 0;
        t.a++;
        feed_name(p, &t, &dec, 1);
        emit_local(e, &t);
    } else if (t.esc >= 2 && t.esc <= 5) {
        int v = hex_value(c);
        if (v < 0) return;
        t.hex = (uint16_t)(t.hex * 16 + v);
        if (++t.esc < 6) {
            /* refuse a prefix whose every completion is refused below: only
             * a low surrogate after a high one, never a lone low one */
            int rest = 4 * (6 - t.esc);
            uint32_t lo = (uint32_t)t.hex << rest, hi = lo + (1u << rest) - 1;
            if (t.surr ? (hi < 0xDC00 || lo > 0xDFFF) : (lo >= 0xDC00 && hi <= 0xDFFF)) return;
            emit_local(e, &t);
            return;
        }
        uint32_t u = t.hex;
        t.esc = 0;
        t.hex = 0;
        if (t.surr) {
            if (u < 0xDC00 || u > 0xDFFF) return;
            uint32_t cp = 0x10000 + (((uint32_t)t.surr - 0xD800) << 10) + (u - 0xDC00);
            t.surr = 0;
            feed_cp(p, &t, cp);
        } else if (u >= 0xD800 && u <= 0xDBFF) {
            if (!room) return;
            t.a++;
            t.surr = (uint16_t)u;
            t.esc = 6; /* a low surrogate escape must follow */
        } else if ((u >= 0xDC00 && u <= 0xDFFF) || u == 0 || !room) {
            return; /* lone low surrogate; NUL is refused by common parsers */
        } else {
            t.a++;
            feed_cp(p, &t, u);
        }
        emit_local(e, &t);
    } else if (t.esc == 6 || t.esc == 7) {
        if (c != (t.esc == 6 ? '\\' : 'u')) return;
        t.esc = t.esc == 6 ? 7 : 2;
        emit_local(e, &t);
    } else if (t.u8need) {
        if (c < t.u8lo || c > t.u8hi) return;
        t.u8need--;
        t.u8lo = 0x80;
        t.u8hi = 0xBF;
        feed_name(p, &t, &c, 1);
        emit_local(e, &t);
    } else if (c == '"') {
        if (t.a < mn) return;
        if (key) {
            if (t.b >= 0 && p->tnodes[t.b].term >= 0) return; /* a declared name */
            done(e, f, -1, nd->child, -1);
        } else {
            done(e, f, -1, -1, -1);
        }
    } else if (c == '\\') {
        if (!room) return; /* every escape writes a character */
        t.esc = 1;
        emit_local(e, &t);
    } else if (c >= 0x20 && room) {
        if (c >= 0x80) {
            int need;
            if (!jc_utf8_lead(c, &need, &t.u8lo, &t.u8hi)) return;
            t.u8need = (uint8_t)need;
        }
        t.a++;
        feed_name(p, &t, &c, 1);
        emit_local(e, &t);
    }
}

static void step_string(emitter *e, const jc_frame *f, uint8_t c)
{
    if (f->phase == S_BODY) {
        step_string_body(e, f, c);
    } else if (is_ws(c)) {
        take_ws(e, f);
    } else if (c == '"') {
        jc_frame *g = to_phase(e, f, S_BODY);
        if (g) {
            g->a = 0;
            emit(e, g);
        }
    }
}

/* ---- numbers, literals, unions ---- */

static void number_to(emitter *e, const jc_frame *f, uint8_t phase, int32_t digits)
{
    jc_frame *g = to_phase(e, f, phase);
    if (g) {
        g->a = digits;
        emit(e, g);
    }
}

static void step_number(emitter *e, const jc_frame *f, uint8_t c)
{
    uint8_t fl = node_of(e, f)->num_flags;
    bool digit = c >= '0' && c <= '9', integer = fl & JC_NUM_INT;
    bool ends = false; /* the number may end before c */
    switch (f->phase) {
    case N_START:
        if (is_ws(c)) take_ws(e, f);
        else if (c == '-' && !(fl & JC_NUM_NONNEG)) number_to(e, f, N_MINUS, 0);
        else if (c == '0' && !(fl & JC_NUM_POS)) number_to(e, f, N_ZERO, 1);
        else if (digit && c != '0') number_to(e, f, N_INT, 1);
        return;
    case N_MINUS:
        if (c == '0') number_to(e, f, N_ZERO, 1);
        else if (digit) number_to(e, f, N_INT, 1);
        return;
    case N_ZERO:
    case N_INT:
        if (digit && f->phase == N_INT && f->a < MAX_DIGITS) number_to(e, f, N_INT, f->a + 1);
        else if (c == '.' && !integer) number_to(e, f, N_DOT, 0);
        else if ((c == 'e' || c == 'E') && !integer) number_to(e, f, N_E, 0);
        ends = true;
        break;
    case N_DOT:
        if (digit) number_to(e, f, N_FRAC, 1);
        return;
    case N_FRAC:
        if (digit && f->a < MAX_DIGITS) number_to(e, f, N_FRAC, f->a + 1);
        else if (c == 'e' || c == 'E') number_to(e, f, N_E, 0);
        ends = true;
        break;
    case N_E:
        if (c == '+' || c == '-') number_to(e, f, N_ESIGN, 0);
        else if (digit) number_to(e, f, N_EXP, 1);
        return;
    case N_ESIGN:
        if (digit) number_to(e, f, N_EXP, 1);
        return;
    case N_EXP:
        if (digit && f->a < MAX_EXP_DIGITS) number_to(e, f, N_EXP, f->a + 1);
        ends = true;
        break;
    }
    if (ends) done(e, f, -1, -1, c);
}

static void step_literal(emitter *e, const jc_frame *f, uint8_t c)
{
    const jc_program *p = e->m->p;
    if (f->phase == L_START) {
        if (is_ws(c)) {
            take_ws(e, f);
            return;
        }
        int32_t t = jc_tchild(p, node_of(e, f)->trie, c);
        if (t >= 0) number_to(e, f, L_IN, t);
        return;
    }
    int32_t t = jc_tchild(p, f->a, c);
    if (t >= 0) number_to(e, f, L_IN, t);
    if (p->tnodes[f->a].term >= 0) done(e, f, -1, -1, c);
}

static void step_union(emitter *e, const jc_frame *f, uint8_t c)
{
    if (is_ws(c)) {
        take_ws(e, f);
        return;
    }
    const jc_program *p = e->m->p;
    const jc_node *nd = node_of(e, f);
    for (int32_t i = 0; i < nd->count; i++) {
        int32_t alt = p->alts[nd->first + i];
        if (!fits(p, f->depth, alt)) continue;
        jc_frame *g = copy(e, f);
        if (!g) return;
        g->node = alt;
        g->phase = 0;
        g->ws = 0;
        step(e, g, c);
    }
}

static void step(emitter *e, const jc_frame *f, uint8_t c)
{
    switch (f->kind) {
    case JC_FR_ROOT:
        if (f->phase == R_START) {
            jc_frame *g = to_phase(e, f, R_VALUE);
            if (g) push_value(e, g, f->node, c);
        } else if (f->phase == R_AFTER && is_ws(c)) {
            take_ws(e, f);
        }
        return;
    case JC_FR_KEYLIT: step_keylit(e, f, c); return;
    case JC_FR_KEYFREE: step_string_body(e, f, c); return;
    default: break;
    }
    switch (node_of(e, f)->kind) {
    case JC_OBJ: step_object(e, f, c); break;
    case JC_ARR: step_array(e, f, c); break;
    case JC_STR: step_string(e, f, c); break;
    case JC_NUM: step_number(e, f, c); break;
    case JC_LIT: step_literal(e, f, c); break;
    case JC_UNION: step_union(e, f, c); break;
    default: break;
    }
}

int jc_step_set(const jc_matcher *m, const jc_frame *const *in, int n_in, uint8_t c, const jc_frame **out, int cap)
{
    emitter e = {m, out, 0, cap};
    for (int i = 0; i < n_in; i++) step(&e, in[i], c);
    return e.n;
}

const jc_frame *jc_initial(const jc_matcher *m)
{
    jc_frame *f = fnew(m->arena);
    if (f) *f = (jc_frame){.node = m->p->root, .kind = JC_FR_ROOT, .phase = R_START};
    return f;
}

bool jc_stack_complete(const jc_matcher *m, const jc_frame *top)
{
    if (top->kind == JC_FR_ROOT) return top->phase == R_AFTER;
    if (top->kind != JC_FR_VAL || top->up->kind != JC_FR_ROOT) return false;
    const jc_node *nd = &m->p->nodes[top->node];
    if (nd->kind == JC_NUM)
        return top->phase == N_ZERO || top->phase == N_INT || top->phase == N_FRAC || top->phase == N_EXP;
    if (nd->kind == JC_LIT) return top->phase == L_IN && m->p->tnodes[top->a].term >= 0;
    return false;
}

bool jc_stack_in_string(const jc_matcher *m, const jc_frame *top, int *u8need, uint8_t *lo, uint8_t *hi,
                        int32_t *room)
{
    bool key = top->kind == JC_FR_KEYFREE;
    if (!key && (top->kind != JC_FR_VAL || m->p->nodes[top->node].kind != JC_STR || top->phase != S_BODY))
        return false;
    if (top->esc) return false;
    *u8need = top->u8need;
    *lo = top->u8lo;
    *hi = top->u8hi;
    int32_t mx = key ? -1 : m->p->nodes[top->node].max;
    *room = mx < 0 ? INT32_MAX : mx - top->a;
    return true;
}
