/* JSON schema subset -> node graph for the constrained-decoding matcher.
 * Each schema object compiles once (memoised by address), so $ref cycles
 * become cycles in the graph; unions are flattened afterwards and every node
 * gets the fewest nesting levels it needs, which the matcher uses to never
 * start something it cannot finish within the depth limit. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/json_constraint.h"
#include "core/json_constraint_internal.h"

#define MAX_NODES 20000
#define MAX_TNODES (1 << 21)
#define MAX_COMPILE_DEPTH 200

enum { T_OBJ = 1, T_ARR = 2, T_STR = 4, T_NUM = 8, T_INT = 16, T_BOOL = 32, T_NULL = 64, T_ALL = 127 };

typedef struct {
    const json_t *s;
    int32_t id;             /* -2 while a $ref/allOf alias is being resolved */
    const json_t *target;   /* the alias's target */
} memo_entry;

typedef struct {
    jc_program *p;
    const json_t *root;
    memo_entry *memo;
    int32_t n_memo, cap_memo;
    int32_t *slots; /* open addressing over memo by address; -1 empty */
    int32_t n_slots;
    int depth;
    char *err;
    size_t errlen;
    bool failed;
} compiler;

static int32_t fail(compiler *c, const char *fmt, ...)
{
    if (!c->failed) {
        va_list ap;
        va_start(ap, fmt);
        if (c->errlen) vsnprintf(c->err, c->errlen, fmt, ap);
        va_end(ap);
    }
    c->failed = true;
    return -1;
}

static bool grow(void **ptr, int32_t *cap, int32_t need, size_t elem)
{
    if (need <= *cap) return true;
    int32_t n = *cap ? *cap : 16;
    while (n < need) n *= 2;
    void *q = realloc(*ptr, (size_t)n * elem);
    if (!q) return false;
    *ptr = q;
    *cap = n;
    return true;
}

static int32_t new_node(compiler *c, uint8_t kind)
{
    jc_program *p = c->p;
    if (p->n_nodes >= MAX_NODES) return fail(c, "schema too large (more than %d nodes)", MAX_NODES);
    if (!grow((void **)&p->nodes, &p->cap_nodes, p->n_nodes + 1, sizeof *p->nodes)) return fail(c, "out of memory");
    jc_node *n = &p->nodes[p->n_nodes];
    memset(n, 0, sizeof *n);
    n->kind = kind;
    n->max = -1;
    n->child = -1;
    n->trie = -1;
    n->xtrie = -1;
    n->md = JC_INF;
    return p->n_nodes++;
}

static int32_t new_tnode(compiler *c, uint8_t byte)
{
    jc_program *p = c->p;
    if (p->n_tnodes >= MAX_TNODES) return fail(c, "schema too large (literal and name text)");
    if (!grow((void **)&p->tnodes, &p->cap_tnodes, p->n_tnodes + 1, sizeof *p->tnodes))
        return fail(c, "out of memory");
    p->tnodes[p->n_tnodes] = (jc_tnode){.child = -1, .sibling = -1, .term = -1, .byte = byte};
    return p->n_tnodes++;
}

int32_t jc_tchild(const jc_program *p, int32_t t, uint8_t byte)
{
    for (int32_t k = p->tnodes[t].child; k >= 0; k = p->tnodes[k].sibling)
        if (p->tnodes[k].byte == byte) return k;
    return -1;
}

/* Adds bytes below root; returns the last node. */
static int32_t trie_insert(compiler *c, int32_t root, const char *s, size_t len)
{
    int32_t t = root;
    for (size_t i = 0; i < len; i++) {
        uint8_t b = (uint8_t)s[i];
        int32_t k = jc_tchild(c->p, t, b);
        if (k < 0) {
            k = new_tnode(c, b);
            if (k < 0) return -1;
            jc_tnode *tn = c->p->tnodes;
            tn[k].sibling = tn[t].child;
            tn[t].child = k;
        }
        t = k;
    }
    return t;
}

/* ---- keywords ---- */

static const char *const annotations[] = {
    "title", "description", "default", "examples", "format", "$schema", "$id", "$comment", "deprecated",
    "readOnly", "writeOnly", "contentEncoding", "contentMediaType", "$defs", "definitions", NULL,
};

static const char *const supported[] = {
    "type", "properties", "required", "additionalProperties", "items", "minItems", "maxItems", "enum", "const",
    "minLength", "maxLength", "anyOf", "oneOf", "allOf", "$ref", "nullable", "minimum", "exclusiveMinimum",
    "uniqueItems", NULL,
};

static bool in_list(const char *k, const char *const *list)
{
    for (int i = 0; list[i]; i++)
        if (!strcmp(k, list[i])) return true;
    return false;
}

static bool is_annotation(const char *k) { return in_list(k, annotations) || !strncmp(k, "x-", 2); }

/* Refuses unknown keywords and, when only_annotations, any assertion beside `what`. */
static bool check_keywords(compiler *c, const json_t *s, const char *what)
{
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)s, k, v) {
        if (is_annotation(k)) continue;
        if (!in_list(k, supported)) {
            fail(c, "unsupported JSON schema keyword '%s'", k);
            return false;
        }
        if (what && strcmp(k, what)) {
            fail(c, "'%s' combined with '%s' is not supported", what, k);
            return false;
        }
    }
    return true;
}

/* Non-negative integer keyword, or -1 when absent. */
static bool get_count(compiler *c, const json_t *s, const char *key, int32_t *out)
{
    json_t *v = json_object_get(s, key);
    *out = -1;
    if (!v) return true;
    double d;
    if (json_is_integer(v))
        d = (double)json_integer_value(v);
    else if (json_is_real(v) && json_real_value(v) == (double)(int64_t)json_real_value(v))
        d = json_real_value(v);
    else {
        fail(c, "'%s' must be a non-negative integer", key);
        return false;
    }
    if (d < 0) {
        fail(c, "'%s' must be a non-negative integer", key);
        return false;
    }
    *out = d > 1e9 ? 1000000000 : (int32_t)d;
    return true;
}

static int type_bit(const char *name)
{
    static const struct {
        const char *n;
        int bit;
    } names[] = {{"object", T_OBJ}, {"array", T_ARR}, {"string", T_STR}, {"number", T_NUM},
                 {"integer", T_INT}, {"boolean", T_BOOL}, {"null", T_NULL}};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (!strcmp(name, names[i].n)) return names[i].bit;
    return 0;
}

static int schema_types(compiler *c, const json_t *s)
{
    json_t *t = json_object_get(s, "type");
    int types = 0;
    if (json_is_string(t)) {
        types = type_bit(json_string_value(t));
        if (!types) return fail(c, "unknown type '%s'", json_string_value(t)), 0;
    } else if (json_is_array(t)) {
        size_t i;
        json_t *e;
        json_array_foreach(t, i, e) {
            int b = json_is_string(e) ? type_bit(json_string_value(e)) : 0;
            if (!b) return fail(c, "'type' must name JSON types"), 0;
            types |= b;
        }
        if (!types) return fail(c, "'type' must not be empty"), 0;
    } else if (t) {
        return fail(c, "'type' must be a string or a list of strings"), 0;
    } else {
        if (json_object_get(s, "properties") || json_object_get(s, "required") ||
            json_object_get(s, "additionalProperties"))
            types |= T_OBJ;
        if (json_object_get(s, "items") || json_object_get(s, "minItems") || json_object_get(s, "maxItems"))
            types |= T_ARR;
        if (json_object_get(s, "minLength") || json_object_get(s, "maxLength")) types |= T_STR;
        if (json_object_get(s, "minimum") || json_object_get(s, "exclusiveMinimum")) types |= T_NUM;
        if (!types) types = T_ALL;
    }
    json_t *nullable = json_object_get(s, "nullable");
    if (nullable && !json_is_boolean(nullable)) return fail(c, "'nullable' must be a boolean"), 0;
    if (json_is_true(nullable)) types |= T_NULL;
    return types;
}

static int value_types(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: return T_OBJ;
    case JSON_ARRAY: return T_ARR;
    case JSON_STRING: return T_STR;
    case JSON_INTEGER: return T_NUM | T_INT;
    case JSON_REAL: {
        double d = json_real_value(v);
        return d == (double)(int64_t)d ? T_NUM | T_INT : T_NUM;
    }
    case JSON_TRUE:
    case JSON_FALSE: return T_BOOL;
    default: return T_NULL;
    }
}

/* ---- $ref ---- */

static const json_t *resolve_ref(compiler *c, const char *ref)
{
    if (ref[0] != '#') return fail(c, "only local $ref ('#/...') is supported, not '%s'", ref), NULL;
    const json_t *at = c->root;
    const char *s = ref + 1;
    if (!*s) return at;
    if (*s != '/') return fail(c, "$ref '%s' is not a JSON pointer", ref), NULL;
    char seg[512];
    while (*s == '/') {
        s++;
        size_t n = 0;
        while (*s && *s != '/') {
            char ch = *s++;
            if (ch == '~') {
                if (*s == '0') ch = '~';
                else if (*s == '1') ch = '/';
                else return fail(c, "bad escape in $ref '%s'", ref), NULL;
                s++;
            } else if (ch == '%' && s[0] && s[1]) {
                char hex[3] = {s[0], s[1], 0};
                char *end;
                long v = strtol(hex, &end, 16);
                if (*end || v == 0) return fail(c, "bad escape in $ref '%s'", ref), NULL;
                ch = (char)v;
                s += 2;
            }
            if (n + 1 >= sizeof seg) return fail(c, "$ref '%s' too long", ref), NULL;
            seg[n++] = ch;
        }
        seg[n] = 0;
        if (json_is_object(at)) {
            at = json_object_get(at, seg);
        } else if (json_is_array(at)) {
            char *end;
            unsigned long i = strtoul(seg, &end, 10);
            at = (*end || !n || (seg[0] == '0' && n > 1)) ? NULL : json_array_get(at, i);
        } else {
            at = NULL;
        }
        if (!at) return fail(c, "$ref '%s' does not resolve", ref), NULL;
    }
    return at;
}

/* ---- compilation ---- */

static int32_t compile(compiler *c, const json_t *s);

static uint32_t memo_hash(const json_t *s, int32_t n_slots)
{
    uint64_t h = (uint64_t)(uintptr_t)s * 0x9E3779B97F4A7C15ull;
    return (uint32_t)(h >> 32) & (uint32_t)(n_slots - 1);
}

static int32_t memo_find(const compiler *c, const json_t *s)
{
    if (!c->n_slots) return -1;
    for (uint32_t at = memo_hash(s, c->n_slots);; at = (at + 1) & (uint32_t)(c->n_slots - 1)) {
        int32_t i = c->slots[at];
        if (i < 0 || c->memo[i].s == s) return i;
    }
}

static bool memo_rehash(compiler *c)
{
    int32_t n = c->n_slots ? c->n_slots * 2 : 64;
    int32_t *slots = malloc(sizeof *slots * (size_t)n);
    if (!slots) return false;
    memset(slots, 0xFF, sizeof *slots * (size_t)n);
    free(c->slots);
    c->slots = slots;
    c->n_slots = n;
    for (int32_t i = 0; i < c->n_memo; i++) {
        uint32_t at = memo_hash(c->memo[i].s, n);
        while (slots[at] >= 0) at = (at + 1) & (uint32_t)(n - 1);
        slots[at] = i;
    }
    return true;
}

static bool memo_put_alias(compiler *c, const json_t *s, int32_t id, const json_t *target)
{
    int32_t i = memo_find(c, s);
    if (i >= 0) {
        c->memo[i].id = id;
        return true;
    }
    if (!grow((void **)&c->memo, &c->cap_memo, c->n_memo + 1, sizeof *c->memo)) return fail(c, "out of memory"), false;
    c->memo[c->n_memo++] = (memo_entry){s, id, target};
    if (c->n_memo * 2 > c->n_slots) {
        if (!memo_rehash(c)) return fail(c, "out of memory"), false;
    } else {
        uint32_t at = memo_hash(s, c->n_slots);
        while (c->slots[at] >= 0) at = (at + 1) & (uint32_t)(c->n_slots - 1);
        c->slots[at] = c->n_memo - 1;
    }
    return true;
}

static bool memo_put(compiler *c, const json_t *s, int32_t id) { return memo_put_alias(c, s, id, NULL); }

static int32_t any_node(compiler *c);

static int32_t compile_lit(compiler *c, const json_t *s, int types)
{
    json_t *en = json_object_get(s, "enum"), *cn = json_object_get(s, "const");
    if (en && cn) return fail(c, "'enum' combined with 'const' is not supported");
    if (en && (!json_is_array(en) || json_array_size(en) == 0)) return fail(c, "'enum' must be a non-empty list");
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)s, k, v) {
        if (is_annotation(k) || !strcmp(k, "enum") || !strcmp(k, "const") || !strcmp(k, "type") ||
            !strcmp(k, "nullable"))
            continue;
        if (!in_list(k, supported)) return fail(c, "unsupported JSON schema keyword '%s'", k);
        return fail(c, "'%s' combined with '%s' is not supported", en ? "enum" : "const", k);
    }
    int32_t id = new_node(c, JC_LIT);
    if (id < 0) return -1;
    int32_t root = new_tnode(c, 0);
    if (root < 0) return -1;
    c->p->nodes[id].trie = root;
    size_t n = en ? json_array_size(en) : 1;
    for (size_t i = 0; i < n; i++) {
        json_t *val = en ? json_array_get(en, i) : cn;
        if (!(value_types(val) & types)) continue;
        char *text = json_dumps(val, JSON_COMPACT | JSON_ENCODE_ANY);
        if (!text) return fail(c, "out of memory");
        int32_t t = trie_insert(c, root, text, strlen(text));
        free(text);
        if (t < 0) return -1;
        c->p->tnodes[t].term = 1;
        c->p->nodes[id].count++;
    }
    if (json_is_true(json_object_get(s, "nullable")) && (types & T_NULL)) {
        int32_t t = trie_insert(c, root, "null", 4);
        if (t < 0) return -1;
        if (c->p->tnodes[t].term < 0) c->p->nodes[id].count++;
        c->p->tnodes[t].term = 1;
    }
    if (c->p->nodes[id].count == 0) return fail(c, "'%s' has no value of the allowed types", en ? "enum" : "const");
    return id;
}

static int32_t lit_node(compiler *c, const char *const *texts, int n)
{
    int32_t id = new_node(c, JC_LIT);
    if (id < 0) return -1;
    int32_t root = new_tnode(c, 0);
    if (root < 0) return -1;
    c->p->nodes[id].trie = root;
    for (int i = 0; i < n; i++) {
        int32_t t = trie_insert(c, root, texts[i], strlen(texts[i]));
        if (t < 0) return -1;
        c->p->tnodes[t].term = 1;
    }
    c->p->nodes[id].count = n;
    return id;
}

/* A name as the matcher writes it: raw UTF-8, escaping only what JSON requires. */
static size_t escape_name(const char *s, size_t len, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        uint8_t ch = (uint8_t)s[i];
        if (ch == '"' || ch == '\\') {
            out[o++] = '\\';
            out[o++] = (char)ch;
        } else if (ch < 0x20) {
            static const char short_esc[] = "btn\0fr";
            if (ch >= 8 && ch <= 13 && ch != 11) {
                out[o++] = '\\';
                out[o++] = short_esc[ch - 8];
            } else {
                o += (size_t)sprintf(out + o, "\\u%04x", ch);
            }
        } else {
            out[o++] = (char)ch;
        }
    }
    out[o++] = '"';
    return o;
}

static int32_t add_prop(compiler *c, int32_t child, bool required)
{
    jc_program *p = c->p;
    if (!grow((void **)&p->props, &p->cap_props, p->n_props + 1, sizeof *p->props)) return fail(c, "out of memory");
    p->props[p->n_props] = (jc_prop){child, required};
    return p->n_props++;
}

typedef struct {
    const char *name;
    size_t len;
    const json_t *schema; /* NULL: the extra-property schema */
    bool required;
} prop_src;

static int32_t compile_object(compiler *c, const json_t *s, int32_t id)
{
    json_t *props = json_object_get(s, "properties");
    json_t *req = json_object_get(s, "required");
    json_t *addl = json_object_get(s, "additionalProperties");
    if (props && !json_is_object(props)) return fail(c, "'properties' must be an object");
    if (req && !json_is_array(req)) return fail(c, "'required' must be a list of names");
    if (addl && !json_is_object(addl) && !json_is_boolean(addl))
        return fail(c, "'additionalProperties' must be a schema or a boolean");

    size_t n_src = (props ? json_object_size(props) : 0) + (req ? json_array_size(req) : 0);
    prop_src *src = calloc(n_src ? n_src : 1, sizeof *src);
    if (!src) return fail(c, "out of memory");
    size_t n = 0;
    if (props) {
        const char *k;
        json_t *v;
        json_object_foreach(props, k, v) src[n++] = (prop_src){k, strlen(k), v, false};
    }
    size_t n_declared = n;
    if (req) {
        size_t i;
        json_t *e;
        json_array_foreach(req, i, e) {
            if (!json_is_string(e)) {
                free(src);
                return fail(c, "'required' must be a list of names");
            }
            const char *name = json_string_value(e);
            size_t j = 0;
            while (j < n && strcmp(src[j].name, name)) j++;
            if (j == n) src[n++] = (prop_src){name, strlen(name), NULL, false};
            src[j].required = true;
        }
    }
    int32_t extra = -1;
    if (addl ? !json_is_false(addl) : !props) {
        extra = json_is_object(addl) ? compile(c, addl) : any_node(c);
        if (extra < 0) {
            free(src);
            return -1;
        }
    } else if (n > n_declared) {
        int32_t r = fail(c, "required property '%s' is not in 'properties' and additionalProperties is false",
                         src[n_declared].name);
        free(src);
        return r;
    }

    /* props of one object are contiguous: compile children first, then add. */
    int32_t *child = calloc(n ? n : 1, sizeof *child);
    if (!child) {
        free(src);
        return fail(c, "out of memory");
    }
    for (size_t i = 0; i < n; i++) {
        child[i] = src[i].schema ? compile(c, src[i].schema) : extra;
        if (child[i] < 0) {
            free(child);
            free(src);
            return -1;
        }
    }
    jc_program *p = c->p;
    int32_t first = p->n_props;
    for (size_t i = 0; i < n; i++)
        if (add_prop(c, child[i], src[i].required) < 0) goto fail;

    int32_t req_off = p->n_req_next;
    if (!grow((void **)&p->req_next, &p->cap_req_next, p->n_req_next + (int32_t)n + 1, sizeof *p->req_next)) {
        fail(c, "out of memory");
        goto fail;
    }
    p->n_req_next += (int32_t)n + 1;
    p->req_next[req_off + (int32_t)n] = (int32_t)n;
    for (int32_t i = (int32_t)n - 1; i >= 0; i--)
        p->req_next[req_off + i] = src[i].required ? i : p->req_next[req_off + i + 1];

    int32_t trie = -1, xtrie = -1;
    if (n) {
        trie = new_tnode(c, 0);
        if (trie < 0) goto fail;
        int32_t *ends = calloc(n, sizeof *ends);
        if (!ends) {
            fail(c, "out of memory");
            goto fail;
        }
        for (size_t i = 0; i < n; i++) {
            char *esc = malloc(src[i].len * 6 + 2);
            if (!esc) {
                free(ends);
                fail(c, "out of memory");
                goto fail;
            }
            size_t el = escape_name(src[i].name, src[i].len, esc);
            ends[i] = trie_insert(c, trie, esc, el);
            free(esc);
            if (ends[i] < 0) {
                free(ends);
                goto fail;
            }
            p->tnodes[ends[i]].term = (int32_t)i;
        }
        free(ends);
        /* list of props below each key trie node: count, place, fill */
        for (int pass = 0; pass < 2; pass++) {
            for (size_t i = 0; i < n; i++) {
                char *esc = malloc(src[i].len * 6 + 2);
                if (!esc) {
                    fail(c, "out of memory");
                    goto fail;
                }
                size_t el = escape_name(src[i].name, src[i].len, esc);
                int32_t t = trie;
                for (size_t b = 0; b <= el; b++) {
                    jc_tnode *tn = &p->tnodes[t];
                    if (pass == 0) tn->list_n++;
                    else p->lists[tn->list_off + tn->list_n++] = (int32_t)i;
                    if (b < el) t = jc_tchild(p, t, (uint8_t)esc[b]);
                }
                free(esc);
            }
            if (pass == 0) {
                /* nodes of this trie are trie..n_tnodes-1 */
                int32_t total = 0;
                for (int32_t t = trie; t < p->n_tnodes; t++) total += p->tnodes[t].list_n;
                if (!grow((void **)&p->lists, &p->cap_lists, p->n_lists + total, sizeof *p->lists)) {
                    fail(c, "out of memory");
                    goto fail;
                }
                for (int32_t t = trie; t < p->n_tnodes; t++) {
                    p->tnodes[t].list_off = p->n_lists;
                    p->n_lists += p->tnodes[t].list_n;
                    p->tnodes[t].list_n = 0;
                }
            }
        }
        if (extra >= 0) {
            xtrie = new_tnode(c, 0);
            if (xtrie < 0) goto fail;
            for (size_t i = 0; i < n; i++) {
                int32_t t = trie_insert(c, xtrie, src[i].name, src[i].len);
                if (t < 0) goto fail;
                p->tnodes[t].term = 1;
            }
        }
    }
    jc_node *nd = &p->nodes[id];
    nd->first = first;
    nd->count = (int32_t)n;
    nd->req_off = req_off;
    nd->child = extra;
    nd->trie = trie;
    nd->xtrie = xtrie;
    free(child);
    free(src);
    return id;
fail:
    free(child);
    free(src);
    return -1;
}

static int32_t fill_array(compiler *c, const json_t *s, int32_t id)
{
    json_t *items = json_object_get(s, "items");
    json_t *uniq = json_object_get(s, "uniqueItems");
    if (uniq && !json_is_false(uniq))
        return fail(c, json_is_true(uniq) ? "'uniqueItems': true is not supported" : "'uniqueItems' must be a boolean");
    int32_t mn, mx;
    if (!get_count(c, s, "minItems", &mn) || !get_count(c, s, "maxItems", &mx)) return -1;
    int32_t child;
    if (!items || json_is_true(items)) child = any_node(c);
    else if (json_is_false(items)) child = new_node(c, JC_NEVER);
    else if (json_is_array(items)) return fail(c, "'items' as a list (tuple validation) is not supported");
    else if (json_is_object(items)) child = compile(c, items);
    else return fail(c, "'items' must be a schema");
    if (child < 0) return -1;
    jc_node *nd = &c->p->nodes[id];
    nd->child = child;
    nd->min = mn < 0 ? 0 : mn;
    nd->max = mx;
    return id;
}

static bool fill_number(compiler *c, const json_t *s, int32_t id, bool integer)
{
    uint8_t flags = integer ? JC_NUM_INT : 0;
    json_t *mn = json_object_get(s, "minimum"), *xmn = json_object_get(s, "exclusiveMinimum");
    if (mn) {
        if (!json_is_number(mn)) return fail(c, "'minimum' must be a number"), false;
        double v = json_number_value(mn);
        if (v == 0) flags |= JC_NUM_NONNEG;
        else if (v == 1 && integer) flags |= JC_NUM_NONNEG | JC_NUM_POS;
        else return fail(c, "'minimum' other than 0 (or 1 for integers) is not supported"), false;
    }
    if (xmn) {
        if (json_is_boolean(xmn))
            return fail(c, "'exclusiveMinimum' as a boolean (draft 4) is not supported"), false;
        if (!json_is_number(xmn)) return fail(c, "'exclusiveMinimum' must be a number"), false;
        if (!integer || json_number_value(xmn) != 0)
            return fail(c, "'exclusiveMinimum' other than 0 for integers is not supported"), false;
        flags |= JC_NUM_NONNEG | JC_NUM_POS;
    }
    c->p->nodes[id].num_flags = flags;
    return true;
}

/* One node for a single JSON type of schema s, filled in place at id. */
static int32_t fill_type(compiler *c, const json_t *s, int32_t id, int type)
{
    switch (type) {
    case T_OBJ: return compile_object(c, s, id);
    case T_ARR: return fill_array(c, s, id);
    case T_STR: {
        int32_t mn, mx;
        if (!get_count(c, s, "minLength", &mn) || !get_count(c, s, "maxLength", &mx)) return -1;
        c->p->nodes[id].min = mn < 0 ? 0 : mn;
        c->p->nodes[id].max = mx;
        return id;
    }
    default: return fill_number(c, s, id, type == T_INT) ? id : -1;
    }
}

static uint8_t type_kind(int type)
{
    switch (type) {
    case T_OBJ: return JC_OBJ;
    case T_ARR: return JC_ARR;
    case T_STR: return JC_STR;
    default: return JC_NUM;
    }
}

static bool add_alt(compiler *c, int32_t alt)
{
    jc_program *p = c->p;
    if (!grow((void **)&p->alts, &p->cap_alts, p->n_alts + 1, sizeof *p->alts)) return fail(c, "out of memory"), false;
    p->alts[p->n_alts++] = alt;
    return true;
}

static int32_t compile_union(compiler *c, const json_t *s, const char *kw)
{
    json_t *list = json_object_get(s, kw);
    if (!json_is_array(list) || json_array_size(list) == 0) return fail(c, "'%s' must be a non-empty list", kw);
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)s, k, v) {
        if (is_annotation(k) || !strcmp(k, kw)) continue;
        if (!in_list(k, supported)) return fail(c, "unsupported JSON schema keyword '%s'", k);
        return fail(c, "'%s' combined with '%s' is not supported", kw, k);
    }
    int32_t id = new_node(c, JC_UNION);
    if (id < 0 || !memo_put(c, s, id)) return -1;
    size_t n = json_array_size(list);
    int32_t *alt = calloc(n, sizeof *alt);
    if (!alt) return fail(c, "out of memory");
    for (size_t i = 0; i < n; i++) {
        alt[i] = compile(c, json_array_get(list, i));
        if (alt[i] < 0) {
            free(alt);
            return -1;
        }
    }
    c->p->nodes[id].first = c->p->n_alts;
    for (size_t i = 0; i < n; i++)
        if (!add_alt(c, alt[i])) {
            free(alt);
            return -1;
        }
    c->p->nodes[id].count = (int32_t)n;
    free(alt);
    return id;
}

static int32_t compile_object_schema(compiler *c, const json_t *s)
{
    if (!check_keywords(c, s, NULL)) return -1;
    if (json_object_get(s, "$ref") || json_object_get(s, "allOf")) {
        const char *kw = json_object_get(s, "$ref") ? "$ref" : "allOf";
        if (!check_keywords(c, s, kw)) return -1;
        const json_t *target;
        if (!strcmp(kw, "$ref")) {
            json_t *ref = json_object_get(s, "$ref");
            if (!json_is_string(ref)) return fail(c, "'$ref' must be a string");
            target = resolve_ref(c, json_string_value(ref));
        } else {
            json_t *all = json_object_get(s, "allOf");
            if (!json_is_array(all) || json_array_size(all) != 1)
                return fail(c, "'allOf' with more than one schema is not supported");
            target = json_array_get(all, 0);
        }
        if (!target) return -1;
        if (!memo_put_alias(c, s, -2, target)) return -1;
        int32_t id = compile(c, target);
        if (id < 0) return -1;
        memo_put(c, s, id);
        return id;
    }
    if (json_object_get(s, "anyOf") && json_object_get(s, "oneOf"))
        return fail(c, "'anyOf' combined with 'oneOf' is not supported");
    if (json_object_get(s, "anyOf")) return compile_union(c, s, "anyOf");
    if (json_object_get(s, "oneOf")) return compile_union(c, s, "oneOf");

    int types = schema_types(c, s);
    if (c->failed) return -1;
    if (json_object_get(s, "enum") || json_object_get(s, "const")) {
        int32_t id = compile_lit(c, s, types);
        return id >= 0 && memo_put(c, s, id) ? id : -1;
    }
    if ((types & T_NUM) && (types & T_INT)) types &= ~T_INT;

    static const int order[] = {T_OBJ, T_ARR, T_STR, T_NUM, T_INT};
    int n_struct = 0;
    for (size_t i = 0; i < 5; i++) n_struct += (types & order[i]) != 0;
    bool has_lit = types & (T_BOOL | T_NULL);
    if (n_struct == 1 && !has_lit) {
        for (size_t i = 0; i < 5; i++)
            if (types & order[i]) {
                int32_t id = new_node(c, type_kind(order[i]));
                if (id < 0 || !memo_put(c, s, id)) return -1;
                return fill_type(c, s, id, order[i]);
            }
    }
    int32_t u = new_node(c, JC_UNION);
    if (u < 0 || !memo_put(c, s, u)) return -1;
    int32_t alt[6], n_alt = 0;
    for (size_t i = 0; i < 5; i++)
        if (types & order[i]) {
            int32_t id = new_node(c, type_kind(order[i]));
            if (id < 0 || fill_type(c, s, id, order[i]) < 0) return -1;
            alt[n_alt++] = id;
        }
    if (has_lit) {
        const char *texts[3];
        int n = 0;
        if (types & T_BOOL) {
            texts[n++] = "true";
            texts[n++] = "false";
        }
        if (types & T_NULL) texts[n++] = "null";
        int32_t id = lit_node(c, texts, n);
        if (id < 0) return -1;
        alt[n_alt++] = id;
    }
    c->p->nodes[u].first = c->p->n_alts;
    c->p->nodes[u].count = n_alt;
    for (int32_t i = 0; i < n_alt; i++)
        if (!add_alt(c, alt[i])) return -1;
    return u;
}

static int32_t compile(compiler *c, const json_t *s)
{
    if (c->failed) return -1;
    if (json_is_true(s)) return any_node(c);
    if (json_is_false(s)) return new_node(c, JC_NEVER);
    if (!json_is_object(s)) return fail(c, "a schema must be an object or a boolean");
    int32_t m = memo_find(c, s);
    /* an alias met again while resolving: its target is (or leads to) a
     * schema already being compiled, unless the chain is aliases only */
    for (int hops = 0; m >= 0 && c->memo[m].id == -2; hops++) {
        const json_t *t = c->memo[m].target;
        if (hops > c->n_memo || !json_is_object(t)) return fail(c, "$ref cycle that never reaches a schema");
        m = memo_find(c, t);
        if (m < 0) return fail(c, "$ref cycle that never reaches a schema");
    }
    if (m >= 0) return c->memo[m].id;
    if (++c->depth > MAX_COMPILE_DEPTH) return fail(c, "schema nested too deeply");
    int32_t id = compile_object_schema(c, s);
    c->depth--;
    return c->failed ? -1 : id;
}

/* Any JSON value: the union of a free object, a free array, a string, a
 * number and the three literals. Built once per program. */
static int32_t any_node(compiler *c)
{
    static const json_t any_key; /* a unique address for the memo */
    int32_t m = memo_find(c, &any_key);
    if (m >= 0) return c->memo[m].id;
    int32_t u = new_node(c, JC_UNION);
    if (u < 0 || !memo_put(c, &any_key, u)) return -1;
    int32_t obj = new_node(c, JC_OBJ);
    int32_t arr = new_node(c, JC_ARR);
    int32_t str = new_node(c, JC_STR);
    int32_t num = new_node(c, JC_NUM);
    const char *texts[] = {"true", "false", "null"};
    int32_t lit = lit_node(c, texts, 3);
    if (obj < 0 || arr < 0 || str < 0 || num < 0 || lit < 0) return -1;
    jc_program *p = c->p;
    int32_t req_off = p->n_req_next;
    if (!grow((void **)&p->req_next, &p->cap_req_next, p->n_req_next + 1, sizeof *p->req_next))
        return fail(c, "out of memory");
    p->req_next[p->n_req_next++] = 0;
    p->nodes[obj].child = u;
    p->nodes[obj].req_off = req_off;
    p->nodes[obj].first = p->n_props;
    p->nodes[arr].child = u;
    p->nodes[u].first = p->n_alts;
    p->nodes[u].count = 5;
    int32_t alts[] = {obj, arr, str, num, lit};
    for (int i = 0; i < 5; i++)
        if (!add_alt(c, alts[i])) return -1;
    return u;
}

/* Unions list only non-union nodes, each once; nested and cyclic unions
 * collapse into their leaves. */
static bool flatten_unions(compiler *c)
{
    jc_program *p = c->p;
    int32_t n = p->n_nodes;
    uint8_t *seen = calloc((size_t)n, 1);
    int32_t *stack = malloc(sizeof *stack * (size_t)(n + 1));
    int32_t *leaves = malloc(sizeof *leaves * (size_t)(n + 1));
    bool ok = seen && stack && leaves;
    for (int32_t u = 0; ok && u < n; u++) {
        if (p->nodes[u].kind != JC_UNION) continue;
        memset(seen, 0, (size_t)n);
        int32_t sp = 0, nl = 0;
        stack[sp++] = u;
        seen[u] = 1;
        while (sp) {
            int32_t x = stack[--sp];
            if (p->nodes[x].kind != JC_UNION) {
                leaves[nl++] = x;
                continue;
            }
            /* push in reverse so leaves keep schema order */
            for (int32_t i = p->nodes[x].count - 1; i >= 0; i--) {
                int32_t a = p->alts[p->nodes[x].first + i];
                if (!seen[a]) {
                    seen[a] = 1;
                    stack[sp++] = a;
                }
            }
        }
        int32_t first = p->n_alts;
        for (int32_t i = 0; i < nl && ok; i++) ok = add_alt(c, leaves[i]);
        p->nodes[u].first = first;
        p->nodes[u].count = nl;
    }
    free(seen);
    free(stack);
    free(leaves);
    if (!ok) fail(c, "out of memory");
    return ok;
}

static void min_depths(jc_program *p)
{
    bool changed = true;
    while (changed) {
        changed = false;
        for (int32_t i = 0; i < p->n_nodes; i++) {
            jc_node *nd = &p->nodes[i];
            int32_t md = JC_INF;
            switch (nd->kind) {
            case JC_NEVER: break;
            case JC_STR: md = (nd->max < 0 || nd->min <= nd->max) ? 1 : JC_INF; break;
            case JC_NUM: md = 1; break;
            case JC_LIT: md = nd->count > 0 ? 1 : JC_INF; break;
            case JC_ARR:
                if (nd->max >= 0 && nd->min > nd->max) break;
                md = nd->min == 0 ? 1 : p->nodes[nd->child].md + 1;
                break;
            case JC_OBJ:
                md = 1;
                for (int32_t k = 0; k < nd->count; k++) {
                    const jc_prop *pr = &p->props[nd->first + k];
                    if (pr->required && p->nodes[pr->node].md + 1 > md) md = p->nodes[pr->node].md + 1;
                }
                break;
            case JC_UNION:
                for (int32_t k = 0; k < nd->count; k++)
                    if (p->nodes[p->alts[nd->first + k]].md < md) md = p->nodes[p->alts[nd->first + k]].md;
                break;
            }
            if (md > JC_INF) md = JC_INF;
            if (md < nd->md) {
                nd->md = md;
                changed = true;
            }
        }
    }
}

void jc_program_release(jc_program *p)
{
    if (!p || atomic_fetch_sub(&p->refs, 1) != 1) return;
    free(p->nodes);
    free(p->props);
    free(p->alts);
    free(p->req_next);
    free(p->tnodes);
    free(p->lists);
    free(p);
}

jc_program *jc_compile(const json_t *schema, bool object_only, char *err, size_t errlen)
{
    jc_program *p = calloc(1, sizeof *p);
    if (!p) {
        if (errlen) snprintf(err, errlen, "out of memory");
        return NULL;
    }
    atomic_init(&p->refs, 1);
    compiler c = {.p = p, .root = schema, .err = err, .errlen = errlen};
    if (errlen) err[0] = 0;
    int32_t root;
    if (schema) {
        root = compile(&c, schema);
    } else {
        root = any_node(&c);
        if (object_only && root >= 0) root = p->alts[p->nodes[root].first]; /* the free object */
    }
    free(c.memo);
    free(c.slots);
    if (root < 0 || c.failed || !flatten_unions(&c)) {
        if (!c.failed) fail(&c, "invalid schema");
        jc_program_release(p);
        return NULL;
    }
    min_depths(p);
    if (p->nodes[root].md >= JC_INF) {
        fail(&c, "the schema admits no finite JSON value");
    } else if (p->nodes[root].md > JSON_CONSTRAINT_MAX_DEPTH) {
        fail(&c, "the schema needs more than %d levels of nesting", JSON_CONSTRAINT_MAX_DEPTH);
    }
    if (c.failed) {
        jc_program_release(p);
        return NULL;
    }
    p->root = root;
    return p;
}
