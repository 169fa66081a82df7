/* The JSON constraint a request holds: its compiled schema, the matcher
 * state between tokens, and the per-step token mask. The mask comes from
 * three sources: stacks inside a plain string decide most tokens from their
 * precomputed UTF-8 shape (one pass over the vocabulary), the same stacks
 * walk the small trie of pieces holding quotes, backslashes or control bytes,
 * and all other stacks walk the full trie, where the grammar cuts most
 * subtrees at their first byte. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/json_constraint.h"
#include "core/json_constraint_internal.h"

struct json_constraint {
    jc_program *prog;
    const json_vocab *vocab;
    int max_ws;
    jc_frame *state; /* the current stacks, copied into one block */
    const jc_frame *tops[JC_MAX_STACKS];
    int n_tops;
    jc_arena arena;
    /* trie walk: stacks and arena mark per depth */
    const jc_frame **sets;
    int *n_sets;
    jc_mark *marks;
    uint8_t *allow;
};

static jc_matcher matcher(json_constraint *jc) { return (jc_matcher){jc->prog, &jc->arena, jc->max_ws}; }

/* Moves the stacks out of the arena (or the old block) into a new block. */
static bool commit(json_constraint *jc, const jc_frame *const *tops, int n)
{
    size_t total = 0;
    for (int i = 0; i < n; i++)
        for (const jc_frame *f = tops[i]; f; f = f->up) total++;
    jc_frame *block = malloc(sizeof *block * (total ? total : 1));
    if (!block) return false;
    size_t at = 0;
    const jc_frame *new_tops[JC_MAX_STACKS];
    for (int i = 0; i < n; i++) {
        size_t depth = 0;
        for (const jc_frame *f = tops[i]; f; f = f->up) depth++;
        /* top goes last: block[at + depth - 1]; bottom first */
        size_t k = at + depth;
        jc_frame *below = NULL;
        const jc_frame *f = tops[i];
        for (size_t d = depth; d > 0; d--, f = f->up) block[at + d - 1] = *f;
        for (size_t d = 0; d < depth; d++) {
            block[at + d].up = below;
            below = &block[at + d];
        }
        new_tops[i] = &block[k - 1];
        at = k;
    }
    free(jc->state);
    jc->state = block;
    memcpy(jc->tops, new_tops, sizeof *new_tops * (size_t)n);
    jc->n_tops = n;
    jc_arena_reset(&jc->arena, (jc_mark){0, 0});
    return true;
}

void json_constraint_reset(json_constraint *jc)
{
    jc_arena_reset(&jc->arena, (jc_mark){0, 0});
    jc_matcher m = matcher(jc);
    const jc_frame *init = jc_initial(&m);
    if (!init || !commit(jc, &init, 1)) jc->n_tops = 0;
}

json_constraint *json_constraint_new(const json_t *schema, bool object_only, char *err, size_t errlen)
{
    jc_program *p = jc_compile(schema, object_only, err, errlen);
    if (!p) return NULL;
    json_constraint *jc = calloc(1, sizeof *jc);
    if (!jc) {
        jc_program_release(p);
        if (errlen) snprintf(err, errlen, "out of memory");
        return NULL;
    }
    jc->prog = p;
    jc->max_ws = JSON_CONSTRAINT_MAX_WS;
    json_constraint_reset(jc);
    if (jc->n_tops == 0) {
        json_constraint_free(jc);
        if (errlen) snprintf(err, errlen, "out of memory");
        return NULL;
    }
    return jc;
}

static void free_walk(json_constraint *jc)
{
    free(jc->sets);
    free(jc->n_sets);
    free(jc->marks);
    free(jc->allow);
    jc->sets = NULL;
    jc->n_sets = NULL;
    jc->marks = NULL;
    jc->allow = NULL;
}

void json_constraint_free(json_constraint *jc)
{
    if (!jc) return;
    jc_program_release(jc->prog);
    free(jc->state);
    jc_arena_free(&jc->arena);
    free_walk(jc);
    free(jc);
}

bool json_constraint_set_vocab(json_constraint *jc, const json_vocab *v)
{
    free_walk(jc);
    jc->vocab = v;
    return true;
}

/* The walk's buffers come with the first mask, so clones that only accept
 * never pay for them. */
static bool walk_buffers(json_constraint *jc)
{
    if (jc->allow) return true;
    const json_vocab *v = jc->vocab;
    int32_t depth = v->all.max_depth > v->special.max_depth ? v->all.max_depth : v->special.max_depth;
    jc->sets = malloc(sizeof *jc->sets * (size_t)(depth + 1) * JC_MAX_STACKS);
    jc->n_sets = malloc(sizeof *jc->n_sets * (size_t)(depth + 1));
    jc->marks = malloc(sizeof *jc->marks * (size_t)(depth + 1));
    jc->allow = malloc((size_t)v->n);
    if (!jc->sets || !jc->n_sets || !jc->marks || !jc->allow) {
        free_walk(jc);
        return false;
    }
    return true;
}

json_constraint *json_constraint_clone(const json_constraint *jc)
{
    json_constraint *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    atomic_fetch_add(&jc->prog->refs, 1);
    c->prog = jc->prog;
    c->max_ws = jc->max_ws;
    if (!commit(c, jc->tops, jc->n_tops) || !json_constraint_set_vocab(c, jc->vocab)) {
        json_constraint_free(c);
        return NULL;
    }
    return c;
}

void json_constraint_set_max_ws(json_constraint *jc, int n) { jc->max_ws = n < 1 ? 1 : n > 255 ? 255 : n; }

bool json_constraint_complete(const json_constraint *jc)
{
    jc_matcher m = {jc->prog, NULL, jc->max_ws};
    for (int i = 0; i < jc->n_tops; i++)
        if (jc_stack_complete(&m, jc->tops[i])) return true;
    return false;
}

/* The stacks inside a plain string and the others step apart, as the mask
 * computes them, so that the cap on stacks drops the same ones in both. */
static int split_tops(json_constraint *jc, const jc_frame **in_string, int *n_in, const jc_frame **other)
{
    jc_matcher m = matcher(jc);
    int n_other = 0;
    *n_in = 0;
    for (int i = 0; i < jc->n_tops; i++) {
        int need;
        uint8_t lo, hi;
        int32_t room;
        if (jc_stack_in_string(&m, jc->tops[i], &need, &lo, &hi, &room)) in_string[(*n_in)++] = jc->tops[i];
        else other[n_other++] = jc->tops[i];
    }
    return n_other;
}

static int run_bytes(json_constraint *jc, const jc_frame *const *start, int n, const char *bytes, size_t len,
                     const jc_frame **out)
{
    jc_matcher m = matcher(jc);
    const jc_frame *buf[2][JC_MAX_STACKS];
    const jc_frame *const *cur = start;
    for (size_t i = 0; i < len && n > 0; i++) {
        const jc_frame **next = buf[i & 1];
        n = jc_step_set(&m, cur, n, (uint8_t)bytes[i], next, JC_MAX_STACKS);
        cur = next;
    }
    memcpy(out, cur, sizeof *out * (size_t)n);
    return n;
}

bool json_constraint_accept(json_constraint *jc, const char *bytes, size_t len)
{
    if (jc->n_tops == 0) return false;
    if (len == 0) return true;
    const jc_frame *in_string[JC_MAX_STACKS], *other[JC_MAX_STACKS];
    int n_in, n_other = split_tops(jc, in_string, &n_in, other);
    jc_arena_reset(&jc->arena, (jc_mark){0, 0});
    jc->arena.oom = false;
    const jc_frame *a[JC_MAX_STACKS], *b[JC_MAX_STACKS];
    int na = run_bytes(jc, in_string, n_in, bytes, len, a);
    int nb = run_bytes(jc, other, n_other, bytes, len, b);
    for (int i = 0; i < nb && na < JC_MAX_STACKS; i++) {
        int k = 0;
        while (k < na && !jc_same_stack(a[k], b[i])) k++;
        if (k == na) a[na++] = b[i];
    }
    if (na == 0) {
        jc_arena_reset(&jc->arena, (jc_mark){0, 0});
        return false;
    }
    return commit(jc, a, na);
}

bool json_constraint_accept_token(json_constraint *jc, int32_t token)
{
    const json_vocab *v = jc->vocab;
    if (!v || token < 0 || token >= v->n) return false;
    if (v->eog[token]) return json_constraint_complete(jc);
    if (v->len[token] == 0) return false;
    return json_constraint_accept(jc, v->bytes + v->off[token], v->len[token]);
}

static void walk(json_constraint *jc, const jc_trie *t, const jc_frame *const *init, int n_init)
{
    if (n_init == 0 || t->n_nodes == 0) return;
    jc_matcher m = matcher(jc);
    const jc_frame **sets = jc->sets;
    memcpy((void *)sets, init, sizeof *init * (size_t)n_init);
    jc->n_sets[0] = n_init;
    jc->marks[0] = jc_arena_mark(&jc->arena);
    const uint8_t *byte = t->byte;
    const uint16_t *depth = t->depth;
    for (int32_t i = 0; i < t->n_nodes;) {
        int d = depth[i];
        jc_arena_reset(&jc->arena, jc->marks[d - 1]);
        int n = jc_step_set(&m, sets + (size_t)(d - 1) * JC_MAX_STACKS, jc->n_sets[d - 1], byte[i],
                            sets + (size_t)d * JC_MAX_STACKS, JC_MAX_STACKS);
        if (n == 0) {
            i = (int32_t)t->skip[i];
            continue;
        }
        jc->n_sets[d] = n;
        jc->marks[d] = jc_arena_mark(&jc->arena);
        for (uint32_t k = 0; k < t->tok_n[i]; k++) jc->allow[t->toks[t->tok_lo[i] + k]] = 1;
        i++;
    }
    jc_arena_reset(&jc->arena, jc->marks[0]);
}

typedef struct {
    int need;
    uint8_t lo, hi;
    int32_t room;
} string_shape;

/* Tokens that stay inside a plain string: no quote, backslash or control
 * byte, continuing the pending UTF-8 character, within the length left. */
static void scan_string_tokens(json_constraint *jc, const string_shape *s)
{
    const json_vocab *v = jc->vocab;
    uint8_t bit = (uint8_t)(JC_TOK_OK0 << s->need);
    const uint8_t *flags = v->flags, *byte0 = v->byte0;
    const uint16_t *nchars = v->nchars;
    uint8_t *allow = jc->allow;
    /* branch-free: with a length limit the outcome alternates unpredictably */
    uint32_t room = s->room > 65535 ? 65535 : (uint32_t)s->room;
    uint8_t lo = s->need ? s->lo : 0, span = s->need ? (uint8_t)(s->hi - s->lo) : 255;
    for (int32_t t = 0; t < v->n; t++) {
        uint8_t ok = (uint8_t)(((flags[t] & bit) != 0) & (nchars[t] <= room) & ((uint8_t)(byte0[t] - lo) <= span));
        allow[t] |= ok;
    }
}

/* Fills jc->allow; false when out of memory (then nothing is allowed). */
static bool compute_mask(json_constraint *jc)
{
    const json_vocab *v = jc->vocab;
    if (!walk_buffers(jc)) return false;
    memset(jc->allow, 0, (size_t)v->n);
    if (jc->n_tops == 0) return true;
    jc_matcher m = matcher(jc);
    const jc_frame *in_string[JC_MAX_STACKS], *other[JC_MAX_STACKS];
    string_shape shapes[JC_MAX_STACKS];
    int n_in, n_other = split_tops(jc, in_string, &n_in, other), n_shapes = 0;
    for (int i = 0; i < n_in; i++) {
        string_shape s;
        jc_stack_in_string(&m, in_string[i], &s.need, &s.lo, &s.hi, &s.room);
        int k = 0;
        while (k < n_shapes &&
               (shapes[k].need != s.need || shapes[k].lo != s.lo || shapes[k].hi != s.hi || shapes[k].room != s.room))
            k++;
        if (k == n_shapes) shapes[n_shapes++] = s;
    }
    jc_arena_reset(&jc->arena, (jc_mark){0, 0});
    for (int k = 0; k < n_shapes; k++) scan_string_tokens(jc, &shapes[k]);
    walk(jc, &v->special, in_string, n_in);
    walk(jc, &v->all, other, n_other);
    if (json_constraint_complete(jc))
        for (int32_t k = 0; k < v->n_eog; k++) jc->allow[v->eog_ids[k]] = 1;
    return true;
}

int32_t json_constraint_allowed(json_constraint *jc, uint8_t *allowed, int32_t n)
{
    bool ok = jc->vocab && compute_mask(jc);
    int32_t count = 0;
    for (int32_t t = 0; t < n; t++) {
        allowed[t] = ok && t < jc->vocab->n ? jc->allow[t] : 0;
        count += allowed[t];
    }
    return count;
}

void json_constraint_filter(json_constraint *jc, float *logits, int32_t n)
{
    bool ok = jc->vocab && compute_mask(jc);
    int32_t vn = ok ? jc->vocab->n : 0;
    if (vn > n) vn = n;
    /* a select on the bits, not a branch: inside strings about half the
     * tokens pass, in no predictable order */
    const float ninf = -INFINITY;
    uint32_t ninf_bits;
    memcpy(&ninf_bits, &ninf, sizeof ninf_bits);
    const uint8_t *allow = jc->allow;
    for (int32_t t = 0; t < vn; t++) {
        uint32_t bits, keep = 0u - (uint32_t)(allow[t] != 0);
        memcpy(&bits, &logits[t], sizeof bits);
        bits = (bits & keep) | (ninf_bits & ~keep);
        memcpy(&logits[t], &bits, sizeof bits);
    }
    for (int32_t t = vn; t < n; t++) logits[t] = -INFINITY;
}

void json_constraint_logits_filter(void *user, float *logits, int32_t n_vocab)
{
    json_constraint_filter(user, logits, n_vocab);
}
