/* Shared between the JSON constraint's schema compiler, matcher, vocabulary
 * index and filter. Not for use outside src/core/json_constraint*.c. */
#ifndef RK_JSON_CONSTRAINT_INTERNAL_H
#define RK_JSON_CONSTRAINT_INTERNAL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

/* ---- compiled schema: a graph of nodes, recursion by index ---- */

#define JC_INF (1 << 20) /* "no finite value": minimal depth of an unsatisfiable node */

enum { JC_NEVER, JC_OBJ, JC_ARR, JC_STR, JC_NUM, JC_LIT, JC_UNION };

enum { JC_NUM_INT = 1, JC_NUM_NONNEG = 2, JC_NUM_POS = 4 };

typedef struct {
    uint8_t kind;
    uint8_t num_flags;
    int32_t min, max;     /* STR: length in code points; ARR: items; max < 0: none */
    int32_t child;        /* ARR: items; OBJ: schema of extra properties (-1: none allowed) */
    int32_t first, count; /* OBJ: props[first..]; UNION: alts[first..] */
    int32_t req_off;      /* OBJ: req_next[req_off + i] = first required prop >= i (count if none) */
    int32_t trie;         /* OBJ: canonical key texts + closing quote; LIT: serialised values */
    int32_t xtrie;        /* OBJ with extras: decoded declared names, so extras differ; else -1 */
    int32_t md;           /* fewest nested value levels a finite value needs, JC_INF if none */
} jc_node;

typedef struct {
    int32_t node;
    bool required;
} jc_prop;

/* Trie over bytes. term: LIT 1 at the end of a value; OBJ key trie: the
 * prop's local index at the node after the closing quote; name trie: 1 at
 * the end of a name; else -1. list: OBJ key trie, sorted local indices of
 * the props below the node, so a key prefix is refused early when none of
 * them may come next. */
typedef struct {
    int32_t child, sibling, term, list_off, list_n;
    uint8_t byte;
} jc_tnode;

typedef struct {
    atomic_int refs;
    jc_node *nodes;
    int32_t n_nodes, cap_nodes;
    jc_prop *props;
    int32_t n_props, cap_props;
    int32_t *alts;
    int32_t n_alts, cap_alts;
    int32_t *req_next;
    int32_t n_req_next, cap_req_next;
    jc_tnode *tnodes;
    int32_t n_tnodes, cap_tnodes;
    int32_t *lists;
    int32_t n_lists, cap_lists;
    int32_t root;
} jc_program;

jc_program *jc_compile(const json_t *schema, bool object_only, char *err, size_t errlen);
void jc_program_release(jc_program *p);
int32_t jc_tchild(const jc_program *p, int32_t t, uint8_t byte);

/* ---- matcher state: persistent stacks of frames ---- */

enum { JC_FR_ROOT, JC_FR_VAL, JC_FR_KEYLIT, JC_FR_KEYFREE };

typedef struct jc_frame {
    const struct jc_frame *up;
    int32_t node;       /* schema node (ROOT: the root node; keys: their object) */
    int32_t a, b;       /* per kind: see json_constraint_match.c */
    uint16_t hex, surr; /* string \u escape being read, pending high surrogate */
    uint8_t kind, phase, ws, esc, u8need, u8lo, u8hi, depth;
} jc_frame;

#define JC_MAX_STACKS 64

/* Frames of one step come from a LIFO arena of chunks: a trie walk rewinds
 * to the mark of the depth it returns to. */
typedef struct {
    jc_frame **chunks;
    int32_t n_chunks, cap_chunks;
    int32_t ci;      /* current chunk */
    int32_t used;    /* frames used in it */
    bool oom;
} jc_arena;

typedef struct {
    int32_t ci, used;
} jc_mark;

void jc_arena_free(jc_arena *a);
static inline jc_mark jc_arena_mark(const jc_arena *a) { return (jc_mark){a->ci, a->used}; }
static inline void jc_arena_reset(jc_arena *a, jc_mark m)
{
    a->ci = m.ci;
    a->used = m.used;
}

typedef struct {
    const jc_program *p;
    jc_arena *arena;
    int max_ws;
} jc_matcher;

/* Each stack in `in` consumes byte c; the surviving stacks (deduplicated, at
 * most cap) go to out. Returns their number. */
int jc_step_set(const jc_matcher *m, const jc_frame *const *in, int n_in, uint8_t c, const jc_frame **out, int cap);
/* A stack at the start of a document. */
const jc_frame *jc_initial(const jc_matcher *m);
bool jc_stack_complete(const jc_matcher *m, const jc_frame *top);
/* Same frames all the way down (by content). */
bool jc_same_stack(const jc_frame *x, const jc_frame *y);
/* A stack the filter can decide for most tokens by their precomputed UTF-8
 * shape: inside a string body, no escape pending. Fills the UTF-8 state and
 * the code points still allowed (INT32_MAX: unlimited). */
bool jc_stack_in_string(const jc_matcher *m, const jc_frame *top, int *u8need, uint8_t *lo, uint8_t *hi,
                        int32_t *room);
/* UTF-8 continuation rule shared by the matcher and the vocab index: after a
 * lead byte, how many continuation bytes follow and the range of the first.
 * Returns false for a byte that cannot start a character. */
bool jc_utf8_lead(uint8_t c, int *need, uint8_t *lo, uint8_t *hi);

/* ---- vocabulary index ---- */

enum {
    JC_TOK_SPECIAL = 1, /* contains '"', '\\' or a control byte: decided by walking */
    JC_TOK_OK0 = 2,     /* JC_TOK_OK0 << k: in a string with k continuation bytes
                           pending, the token stays inside the string validly */
};

typedef struct {
    int32_t n_nodes;
    uint8_t *byte;
    uint16_t *depth; /* 1 for children of the (implicit) root */
    uint32_t *skip;  /* first node after this node's subtree */
    uint32_t *tok_lo;
    uint16_t *tok_n;
    int32_t *toks;   /* token ids in piece order; a node's tokens are toks[tok_lo, +tok_n) */
    int32_t max_depth;
} jc_trie;

struct json_vocab {
    int32_t n;
    char *bytes;
    size_t *off;
    uint32_t *len;
    uint8_t *eog;
    uint8_t *flags;
    uint8_t *byte0;
    uint16_t *nchars; /* code points started in the piece, saturated */
    int32_t *eog_ids;
    int32_t n_eog;
    jc_trie all;     /* every non-empty piece */
    jc_trie special; /* pieces with JC_TOK_SPECIAL */
};

#endif
