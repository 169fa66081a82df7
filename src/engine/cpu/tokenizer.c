/* Tokenizers over a GGUF vocabulary, following llama.cpp's conventions for
 * tokenizer.ggml.* so that GGUF files from its converter encode the same way.
 *
 * Encoding: the text is first partitioned on special tokens (leftmost match,
 * longest at that position, as Hugging Face tokenizers match added tokens;
 * llama.cpp instead takes the longest tokens first over the whole text, which
 * differs only when two special tokens overlap). User-defined tokens are
 * always split out, control and unknown ones only with parse_special. Each
 * remaining fragment is then encoded by
 *   gpt2  — pre-tokenizer pieces, each mapped through GPT-2's byte→char table
 *           and merged by merge rank (lowest first, leftmost on ties); with
 *           the llama3 pre-tokenizer a piece that is a token as a whole is
 *           taken as is (ignore_merges);
 *   llama — spaces escaped to U+2581 (plus one in front when add_space_prefix
 *           and the fragment starts the text or follows a special token),
 *           adjacent symbols merged when the joined string is a vocabulary
 *           token, highest score first (leftmost on ties), and leftovers
 *           spelled as <0xXX> byte tokens.
 * Token texts are copied, so the gguf_file may be closed after loading. */
#include "engine/cpu/tokenizer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/cpu/pretokenize.h"
#include "engine/cpu/unicode.h"

enum { MODEL_GPT2, MODEL_LLAMA };

enum { ATTR_EOG = 1 };

typedef struct {
    uint32_t hash;
    int32_t id; /* -1: empty slot */
} str_slot;

typedef struct {
    uint64_t key; /* left id << 32 | right id; UINT64_MAX: empty slot */
    int32_t rank;
    int32_t result;
} merge_slot;

typedef struct {
    uint64_t key; /* node << 8 | byte; UINT64_MAX: empty slot */
    int32_t child;
} edge_slot;

typedef struct {
    uint32_t off, len; /* together: one cache miss per look-up */
} tok_span;

struct tokenizer {
    int model;
    pretok_kind pre;
    char model_name[16];
    char pre_name[64];
    char warning[192];
    bool has_warning;

    int32_t n_vocab;
    char *text; /* every token text, back to back */
    tok_span *span; /* where each token's text sits in text */
    float *score;
    uint8_t *type;
    uint8_t *attr;

    str_slot *vocab;
    size_t vocab_mask;

    merge_slot *merges; /* gpt2 */
    size_t merges_mask;
    uint16_t byte_to_cp[256];  /* GPT-2 byte-level alphabet */
    int16_t cp_to_byte[324];   /* its inverse, -1 where none */
    int32_t byte_char_id[256]; /* gpt2: id of each byte's single-char token */
    int32_t byte_token[256];   /* llama: id of <0xXX> */
    uint64_t *pair_bits;       /* llama: hashed adjacent code point pairs of the vocabulary */

    /* special-token trie: node 0 is the root */
    int32_t *trie_tok;
    size_t trie_n;
    edge_slot *edges;
    size_t edges_mask;
    bool first_byte[256];

    int32_t bos, eos, eot, eom, unk, pad;
    bool add_bos, add_eos, add_space_prefix, ignore_merges;
};

/* ---------- hashing ---------- */

static uint32_t hash_bytes(const char *s, size_t n)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 16777619u;
    }
    return h;
}

static uint64_t mix64(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebull;
    x ^= x >> 31;
    return x;
}

static size_t pow2_at_least(size_t n)
{
    size_t p = 16;
    while (p < n)
        p <<= 1;
    return p;
}

static int32_t vocab_lookup(const tokenizer *t, const char *s, size_t n)
{
    uint32_t h = hash_bytes(s, n);
    for (size_t i = h & t->vocab_mask;; i = (i + 1) & t->vocab_mask) {
        const str_slot *sl = &t->vocab[i];
        if (sl->id < 0)
            return -1;
        if (sl->hash == h && t->span[sl->id].len == n && memcmp(t->text + t->span[sl->id].off, s, n) == 0)
            return sl->id;
    }
}

/* Later duplicates replace earlier ones, as llama.cpp's token_to_id does. */
static void vocab_insert(tokenizer *t, int32_t id)
{
    const char *s = t->text + t->span[id].off;
    size_t n = t->span[id].len;
    uint32_t h = hash_bytes(s, n);
    for (size_t i = h & t->vocab_mask;; i = (i + 1) & t->vocab_mask) {
        str_slot *sl = &t->vocab[i];
        if (sl->id < 0 ||
            (sl->hash == h && t->span[sl->id].len == n && memcmp(t->text + t->span[sl->id].off, s, n) == 0)) {
            sl->hash = h;
            sl->id = id;
            return;
        }
    }
}

static const merge_slot *merge_lookup(const tokenizer *t, int32_t a, int32_t b)
{
    uint64_t key = ((uint64_t)(uint32_t)a << 32) | (uint32_t)b;
    for (size_t i = mix64(key) & t->merges_mask;; i = (i + 1) & t->merges_mask) {
        const merge_slot *m = &t->merges[i];
        if (m->key == UINT64_MAX)
            return NULL;
        if (m->key == key)
            return m;
    }
}

/* Keeps the first (lowest-rank) merge of a pair. */
static void merge_insert(tokenizer *t, int32_t a, int32_t b, int32_t rank, int32_t result)
{
    uint64_t key = ((uint64_t)(uint32_t)a << 32) | (uint32_t)b;
    for (size_t i = mix64(key) & t->merges_mask;; i = (i + 1) & t->merges_mask) {
        merge_slot *m = &t->merges[i];
        if (m->key == key)
            return;
        if (m->key == UINT64_MAX) {
            m->key = key;
            m->rank = rank;
            m->result = result;
            return;
        }
    }
}

static int32_t edge_lookup(const tokenizer *t, size_t node, unsigned char byte)
{
    uint64_t key = ((uint64_t)node << 8) | byte;
    for (size_t i = mix64(key) & t->edges_mask;; i = (i + 1) & t->edges_mask) {
        const edge_slot *e = &t->edges[i];
        if (e->key == UINT64_MAX)
            return -1;
        if (e->key == key)
            return e->child;
    }
}

static void edge_insert(tokenizer *t, size_t node, unsigned char byte, int32_t child)
{
    uint64_t key = ((uint64_t)node << 8) | byte;
    for (size_t i = mix64(key) & t->edges_mask;; i = (i + 1) & t->edges_mask) {
        edge_slot *e = &t->edges[i];
        if (e->key == UINT64_MAX) {
            e->key = key;
            e->child = child;
            return;
        }
    }
}

/* ---------- loading ---------- */

static void set_err(char *err, size_t errlen, const char *msg, const char *arg)
{
    if (err && errlen)
        snprintf(err, errlen, "%s%s", msg, arg ? arg : "");
}

/* GPT-2's reversible byte→char map: printable Latin-1 bytes stand for
 * themselves, the rest take code points from U+0100 up in byte order. */
static void build_byte_level(tokenizer *t)
{
    int next = 256;
    for (int i = 0; i < 324; i++)
        t->cp_to_byte[i] = -1;
    for (int b = 0; b < 256; b++) {
        bool keep = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || b >= 174;
        t->byte_to_cp[b] = (uint16_t)(keep ? b : next++);
        t->cp_to_byte[t->byte_to_cp[b]] = (int16_t)b;
    }
}

static bool is_eog_text(const char *s, size_t n)
{
    static const char *const names[] = {
        "<|eot_id|>", "<|im_end|>", "<|end|>",    "<|return|>",      "<|call|>",
        "<end_of_turn>", "<|endoftext|>", "<|eom_id|>", "<EOT>", "<|end_of_text|>",
        "<end_of_utterance>",
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strlen(names[i]) == n && memcmp(names[i], s, n) == 0)
            return true;
    return false;
}

static int32_t read_id(const gguf_file *f, const char *key, int32_t def, int32_t n_vocab)
{
    uint32_t v;
    if (gguf_get_u32(f, key, &v))
        return v < (uint32_t)n_vocab ? (int32_t)v : def;
    return def;
}

static int load_merges(tokenizer *t, const gguf_file *f, char *err, size_t errlen)
{
    const gguf_kv *kv = gguf_get_arr(f, "tokenizer.ggml.merges", GGUF_TYPE_STRING);
    if (!kv) {
        set_err(err, errlen, "gpt2 tokenizer without tokenizer.ggml.merges", NULL);
        return -1;
    }
    uint64_t n = kv->v.arr.n;
    if (n > INT32_MAX) {
        set_err(err, errlen, "too many merges", NULL);
        return -1;
    }
    t->merges_mask = pow2_at_least((size_t)n * 2 + 1) - 1;
    t->merges = malloc((t->merges_mask + 1) * sizeof *t->merges);
    if (!t->merges) {
        set_err(err, errlen, "out of memory", NULL);
        return -1;
    }
    for (size_t i = 0; i <= t->merges_mask; i++)
        t->merges[i].key = UINT64_MAX;
    char *joined = NULL;
    size_t joined_cap = 0;
    for (uint64_t r = 0; r < n; r++) {
        gguf_str s = kv->v.arr.strs[r];
        /* "left right"; a left part never starts with the separator */
        const char *sp = s.len > 1 ? memchr(s.ptr + 1, ' ', (size_t)s.len - 1) : NULL;
        if (!sp)
            continue;
        size_t ln = (size_t)(sp - s.ptr), rn = (size_t)s.len - ln - 1;
        int32_t a = vocab_lookup(t, s.ptr, ln);
        int32_t b = vocab_lookup(t, sp + 1, rn);
        if (a < 0 || b < 0)
            continue;
        if (ln + rn > joined_cap) {
            joined_cap = (ln + rn) * 2;
            char *nj = realloc(joined, joined_cap);
            if (!nj) {
                free(joined);
                set_err(err, errlen, "out of memory", NULL);
                return -1;
            }
            joined = nj;
        }
        memcpy(joined, s.ptr, ln);
        memcpy(joined + ln, sp + 1, rn);
        int32_t c = vocab_lookup(t, joined, ln + rn);
        if (c < 0)
            continue; /* a merge into nothing could never be emitted */
        merge_insert(t, a, b, (int32_t)r, c);
    }
    free(joined);
    return 0;
}

/* Every pair of adjacent code points inside a token a llama-model merge may
 * produce, hashed into a bit set. A boundary whose pair is absent cannot lie
 * inside any merge, so the text can be cut there and each piece merged on
 * its own: same result, far smaller heaps. Collisions only cut less. */
#define PAIR_BITS_LOG2 20

static size_t pair_hash(uint32_t a, uint32_t b)
{
    return (size_t)(mix64(((uint64_t)a << 32) | b) >> (64 - PAIR_BITS_LOG2));
}

static bool spm_usable_type(uint8_t ty)
{
    return ty != TOKEN_TYPE_CONTROL && ty != TOKEN_TYPE_UNKNOWN && ty != TOKEN_TYPE_BYTE;
}

static int build_pair_bits(tokenizer *t)
{
    t->pair_bits = calloc((size_t)1 << (PAIR_BITS_LOG2 - 6), sizeof *t->pair_bits);
    if (!t->pair_bits)
        return -1;
    for (int32_t id = 0; id < t->n_vocab; id++) {
        if (!spm_usable_type(t->type[id]))
            continue;
        const unsigned char *s = (const unsigned char *)t->text + t->span[id].off;
        size_t n = t->span[id].len, k;
        uint32_t prev = 0;
        for (size_t i = 0; i < n; i += k) {
            uint32_t cp = utf8_decode(s + i, n - i, &k);
            if (i > 0) {
                size_t h = pair_hash(prev, cp);
                t->pair_bits[h >> 6] |= (uint64_t)1 << (h & 63);
            }
            prev = cp;
        }
    }
    return 0;
}

static bool pair_possible(const tokenizer *t, uint32_t a, uint32_t b)
{
    size_t h = pair_hash(a, b);
    return (t->pair_bits[h >> 6] >> (h & 63)) & 1;
}

static bool is_special_type(uint8_t type)
{
    return type == TOKEN_TYPE_CONTROL || type == TOKEN_TYPE_USER_DEFINED || type == TOKEN_TYPE_UNKNOWN;
}

static int build_trie(tokenizer *t)
{
    size_t bytes = 0;
    for (int32_t id = 0; id < t->n_vocab; id++)
        if (is_special_type(t->type[id]))
            bytes += t->span[id].len;
    t->trie_tok = malloc((bytes + 1) * sizeof *t->trie_tok);
    t->edges_mask = pow2_at_least(bytes * 2 + 1) - 1;
    t->edges = malloc((t->edges_mask + 1) * sizeof *t->edges);
    if (!t->trie_tok || !t->edges)
        return -1;
    for (size_t i = 0; i <= t->edges_mask; i++)
        t->edges[i].key = UINT64_MAX;
    t->trie_n = 1;
    t->trie_tok[0] = -1;
    for (int32_t id = 0; id < t->n_vocab; id++) {
        if (!is_special_type(t->type[id]) || t->span[id].len == 0)
            continue;
        const unsigned char *s = (const unsigned char *)t->text + t->span[id].off;
        size_t node = 0;
        for (size_t k = 0; k < t->span[id].len; k++) {
            int32_t child = edge_lookup(t, node, s[k]);
            if (child < 0) {
                child = (int32_t)t->trie_n++;
                t->trie_tok[child] = -1;
                edge_insert(t, node, s[k], child);
            }
            node = (size_t)child;
        }
        /* the id the vocabulary map resolves this text to */
        t->trie_tok[node] = vocab_lookup(t, (const char *)s, t->span[id].len);
        t->first_byte[s[0]] = true;
    }
    return 0;
}

tokenizer *tokenizer_load(const gguf_file *f, char *err, size_t errlen)
{
    char model[16];
    if (!f) {
        set_err(err, errlen, "no GGUF file", NULL);
        return NULL;
    }
    if (!gguf_get_cstr(f, "tokenizer.ggml.model", model, sizeof model)) {
        set_err(err, errlen, "missing tokenizer.ggml.model", NULL);
        return NULL;
    }
    int kind;
    if (strcmp(model, "gpt2") == 0) {
        kind = MODEL_GPT2;
    } else if (strcmp(model, "llama") == 0) {
        kind = MODEL_LLAMA;
    } else {
        set_err(err, errlen, "unsupported tokenizer.ggml.model: ", model);
        return NULL;
    }
    const gguf_kv *toks = gguf_get_arr(f, "tokenizer.ggml.tokens", GGUF_TYPE_STRING);
    if (!toks || toks->v.arr.n == 0 || toks->v.arr.n > INT32_MAX / 2) {
        set_err(err, errlen, "missing or bad tokenizer.ggml.tokens", NULL);
        return NULL;
    }
    size_t n = (size_t)toks->v.arr.n;
    const gguf_kv *types = gguf_get_arr(f, "tokenizer.ggml.token_type", GGUF_TYPE_INT32);
    const gguf_kv *scores = gguf_get_arr(f, "tokenizer.ggml.scores", GGUF_TYPE_FLOAT32);
    if ((types && types->v.arr.n != n) || (scores && scores->v.arr.n != n)) {
        set_err(err, errlen, "token_type/scores length differs from tokens", NULL);
        return NULL;
    }

    tokenizer *t = calloc(1, sizeof *t);
    if (!t) {
        set_err(err, errlen, "out of memory", NULL);
        return NULL;
    }
    t->model = kind;
    snprintf(t->model_name, sizeof t->model_name, "%s", model);
    t->n_vocab = (int32_t)n;

    uint64_t total = 0;
    for (size_t i = 0; i < n; i++)
        total += toks->v.arr.strs[i].len;
    if (total > UINT32_MAX) {
        set_err(err, errlen, "token texts exceed 4 GiB", NULL);
        tokenizer_free(t);
        return NULL;
    }
    t->text = malloc(total ? (size_t)total : 1);
    t->span = malloc(n * sizeof *t->span);
    t->score = malloc(n * sizeof *t->score);
    t->type = malloc(n);
    t->attr = calloc(n, 1);
    t->vocab_mask = pow2_at_least(n * 2 + 1) - 1;
    t->vocab = malloc((t->vocab_mask + 1) * sizeof *t->vocab);
    if (!t->text || !t->span || !t->score || !t->type || !t->attr || !t->vocab) {
        set_err(err, errlen, "out of memory", NULL);
        tokenizer_free(t);
        return NULL;
    }
    size_t pos = 0;
    for (size_t i = 0; i < n; i++) {
        gguf_str s = toks->v.arr.strs[i];
        memcpy(t->text + pos, s.ptr, (size_t)s.len);
        t->span[i].off = (uint32_t)pos;
        t->span[i].len = (uint32_t)s.len;
        pos += (size_t)s.len;
        int32_t ty = TOKEN_TYPE_NORMAL;
        if (types)
            memcpy(&ty, (const char *)types->v.arr.data + i * 4, 4);
        t->type[i] = (uint8_t)(ty >= TOKEN_TYPE_NORMAL && ty <= TOKEN_TYPE_BYTE ? ty : TOKEN_TYPE_NORMAL);
        float sc = 0.0f;
        if (scores)
            memcpy(&sc, (const char *)scores->v.arr.data + i * 4, 4);
        t->score[i] = sc;
    }
    for (size_t i = 0; i <= t->vocab_mask; i++)
        t->vocab[i].id = -1;
    for (size_t i = 0; i < n; i++)
        if (t->span[i].len > 0)
            vocab_insert(t, (int32_t)i);

    /* per-model defaults, as llama.cpp sets them before reading the keys */
    bool have_pre = gguf_get_cstr(f, "tokenizer.ggml.pre", t->pre_name, sizeof t->pre_name);
    if (!have_pre)
        snprintf(t->pre_name, sizeof t->pre_name, "default");
    if (kind == MODEL_GPT2) {
        if (!pretok_kind_from_name(have_pre ? t->pre_name : NULL, &t->pre)) {
            snprintf(t->warning, sizeof t->warning,
                     "unknown tokenizer.ggml.pre '%s': splitting with the gpt2 pattern", t->pre_name);
            t->has_warning = true;
        }
        t->ignore_merges = t->pre == PRETOK_LLAMA3;
        t->add_bos = t->pre == PRETOK_LLAMA3;
        t->add_space_prefix = false;
        t->bos = t->eos = t->unk = -1;
    } else {
        t->pre = PRETOK_GPT2; /* unused */
        t->add_bos = true;
        t->add_space_prefix = true;
        t->bos = n > 1 ? 1 : -1;
        t->eos = n > 2 ? 2 : -1;
        t->unk = 0;
    }
    t->eot = t->eom = t->pad = -1;
    t->bos = read_id(f, "tokenizer.ggml.bos_token_id", t->bos, t->n_vocab);
    t->eos = read_id(f, "tokenizer.ggml.eos_token_id", t->eos, t->n_vocab);
    t->eot = read_id(f, "tokenizer.ggml.eot_token_id", t->eot, t->n_vocab);
    t->eom = read_id(f, "tokenizer.ggml.eom_token_id", t->eom, t->n_vocab);
    t->unk = read_id(f, "tokenizer.ggml.unknown_token_id", t->unk, t->n_vocab);
    t->pad = read_id(f, "tokenizer.ggml.padding_token_id", t->pad, t->n_vocab);
    bool b;
    if (gguf_get_bool(f, "tokenizer.ggml.add_bos_token", &b))
        t->add_bos = b;
    if (gguf_get_bool(f, "tokenizer.ggml.add_eos_token", &b))
        t->add_eos = b;
    if (gguf_get_bool(f, "tokenizer.ggml.add_space_prefix", &b))
        t->add_space_prefix = b;

    /* end-of-generation tokens: the declared ones plus well-known texts,
     * which are forced to control type (as llama.cpp does) */
    for (int32_t i = 0; i < t->n_vocab; i++) {
        if (is_eog_text(t->text + t->span[i].off, t->span[i].len)) {
            t->attr[i] |= ATTR_EOG;
            t->type[i] = TOKEN_TYPE_CONTROL;
        }
    }
    if (t->eos >= 0)
        t->attr[t->eos] |= ATTR_EOG;
    if (t->eot >= 0)
        t->attr[t->eot] |= ATTR_EOG;
    if (t->eom >= 0)
        t->attr[t->eom] |= ATTR_EOG;

    if (kind == MODEL_GPT2) {
        build_byte_level(t);
        for (int c = 0; c < 256; c++) {
            char u[4];
            size_t k = utf8_encode(t->byte_to_cp[c], u);
            t->byte_char_id[c] = vocab_lookup(t, u, k);
        }
        if (load_merges(t, f, err, errlen)) {
            tokenizer_free(t);
            return NULL;
        }
    } else {
        for (int c = 0; c < 256; c++) {
            char name[8];
            snprintf(name, sizeof name, "<0x%02X>", c);
            t->byte_token[c] = vocab_lookup(t, name, 6);
        }
        if (build_pair_bits(t)) {
            set_err(err, errlen, "out of memory", NULL);
            tokenizer_free(t);
            return NULL;
        }
    }
    if (build_trie(t)) {
        set_err(err, errlen, "out of memory", NULL);
        tokenizer_free(t);
        return NULL;
    }
    return t;
}

void tokenizer_free(tokenizer *t)
{
    if (!t)
        return;
    free(t->text);
    free(t->span);
    free(t->score);
    free(t->type);
    free(t->attr);
    free(t->vocab);
    free(t->merges);
    free(t->trie_tok);
    free(t->edges);
    free(t->pair_bits);
    free(t);
}

/* ---------- encoding ---------- */

typedef struct {
    int32_t prev, next;
    uint32_t off, len; /* len 0: merged away */
    int32_t id;        /* gpt2 */
    uint32_t cp;       /* llama: the symbol's first code point */
} symbol;

/* 16 bytes, so the four children of a heap node share one cache line */
typedef struct {
    uint64_t prio; /* smaller pops first; low 32 bits: the left symbol */
    int32_t a, b;  /* gpt2: the pair's ids; llama: a = joined length */
} bpe_item;

typedef struct {
    const tokenizer *t;
    int32_t *ids;
    size_t n_ids, cap_ids;
    char *buf;
    size_t cap_buf;
    symbol *sym;
    size_t cap_sym;
    bpe_item *heap;
    size_t n_heap, cap_heap;
    pretok_spans spans;
    bool oom;
} enc_ctx;

static bool grow(void **p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return true;
    size_t c = *cap ? *cap : 64;
    while (c < need)
        c *= 2;
    void *q = realloc(*p, c * elem);
    if (!q)
        return false;
    *p = q;
    *cap = c;
    return true;
}

static void emit(enc_ctx *c, int32_t id)
{
    if (id < 0)
        return;
    if (!grow((void **)&c->ids, &c->cap_ids, c->n_ids + 1, sizeof *c->ids)) {
        c->oom = true;
        return;
    }
    c->ids[c->n_ids++] = id;
}

/* A 4-ary min-heap: half the depth of a binary one, and each level's
 * children sit in one cache line; big fragments keep ~10^5 entries. */
static void heap_push(enc_ctx *c, bpe_item it)
{
    if (!grow((void **)&c->heap, &c->cap_heap, c->n_heap + 1, sizeof *c->heap)) {
        c->oom = true;
        return;
    }
    size_t i = c->n_heap++;
    while (i > 0) {
        size_t p = (i - 1) / 4;
        if (c->heap[p].prio <= it.prio)
            break;
        c->heap[i] = c->heap[p];
        i = p;
    }
    c->heap[i] = it;
}

static bpe_item heap_pop(enc_ctx *c)
{
    bpe_item top = c->heap[0];
    bpe_item last = c->heap[--c->n_heap];
    size_t i = 0, n = c->n_heap;
    for (;;) {
        size_t first = 4 * i + 1;
        if (first >= n)
            break;
        size_t end = first + 4 < n ? first + 4 : n, m = first;
        for (size_t k = first + 1; k < end; k++)
            if (c->heap[k].prio < c->heap[m].prio)
                m = k;
        if (last.prio <= c->heap[m].prio)
            break;
        c->heap[i] = c->heap[m];
        i = m;
    }
    if (n > 0)
        c->heap[i] = last;
    return top;
}

static int32_t item_left(bpe_item it)
{
    return (int32_t)(uint32_t)it.prio;
}

static void gpt2_try_pair(enc_ctx *c, int32_t l, int32_t r)
{
    if (l < 0 || r < 0)
        return;
    const symbol *s = c->sym;
    if (s[l].id < 0 || s[r].id < 0)
        return;
    const merge_slot *m = merge_lookup(c->t, s[l].id, s[r].id);
    if (!m)
        return;
    bpe_item it = {((uint64_t)(uint32_t)m->rank << 32) | (uint32_t)l, s[l].id, s[r].id};
    heap_push(c, it);
}

/* One pre-tokenizer piece of a gpt2 model. */
static void gpt2_piece(enc_ctx *c, const unsigned char *p, size_t n)
{
    const tokenizer *t = c->t;
    if (n == 1) {
        emit(c, t->byte_char_id[p[0]] >= 0 ? t->byte_char_id[p[0]] : t->unk);
        return;
    }
    if (!grow((void **)&c->buf, &c->cap_buf, n * 2, 1) ||
        !grow((void **)&c->sym, &c->cap_sym, n, sizeof *c->sym)) {
        c->oom = true;
        return;
    }
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        m += utf8_encode(t->byte_to_cp[p[i]], c->buf + m);
    if (t->ignore_merges) {
        int32_t id = vocab_lookup(t, c->buf, m);
        if (id >= 0) {
            emit(c, id);
            return;
        }
    }
    symbol *s = c->sym;
    for (size_t i = 0; i < n; i++) {
        s[i].prev = (int32_t)i - 1;
        s[i].next = i + 1 < n ? (int32_t)i + 1 : -1;
        s[i].len = 1;
        s[i].id = t->byte_char_id[p[i]];
    }
    c->n_heap = 0;
    for (size_t i = 0; i + 1 < n; i++)
        gpt2_try_pair(c, (int32_t)i, (int32_t)i + 1);
    while (c->n_heap > 0 && !c->oom) {
        bpe_item it = heap_pop(c);
        int32_t left = item_left(it);
        symbol *l = &s[left];
        if (l->len == 0 || l->next < 0)
            continue;
        symbol *r = &s[l->next];
        if (l->id != it.a || r->id != it.b)
            continue; /* stale: one side has merged since */
        const merge_slot *mg = merge_lookup(t, l->id, r->id);
        l->id = mg->result;
        l->len += r->len;
        r->len = 0;
        l->next = r->next;
        if (r->next >= 0)
            s[r->next].prev = left;
        gpt2_try_pair(c, l->prev, left);
        gpt2_try_pair(c, left, l->next);
    }
    for (int32_t i = 0; i >= 0; i = s[i].next)
        emit(c, s[i].id >= 0 ? s[i].id : t->unk);
}

static void gpt2_fragment(enc_ctx *c, const char *text, size_t n)
{
    c->spans.n = 0;
    if (pretokenize(c->t->pre, text, n, &c->spans)) {
        c->oom = true;
        return;
    }
    for (size_t i = 0; i < c->spans.n && !c->oom; i++)
        gpt2_piece(c, (const unsigned char *)text + c->spans.v[i].off, c->spans.v[i].len);
}

/* Token types a llama-model merge may produce: never control, unknown or
 * byte tokens, whose texts only stand for something else. */
static bool spm_usable(const tokenizer *t, int32_t id)
{
    return id >= 0 && spm_usable_type(t->type[id]);
}

static uint32_t float_order(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}

static void spm_try_pair(enc_ctx *c, int32_t l, int32_t r)
{
    if (l < 0 || r < 0)
        return;
    const symbol *s = c->sym;
    uint32_t n = s[l].len + s[r].len;
    int32_t id = vocab_lookup(c->t, c->buf + s[l].off, n);
    if (id < 0 || !spm_usable(c->t, id))
        return;
    /* highest score first, then leftmost */
    uint64_t prio = ((uint64_t)(UINT32_MAX - float_order(c->t->score[id])) << 32) | (uint32_t)l;
    bpe_item it = {prio, (int32_t)n, 0};
    heap_push(c, it);
}

/* Merges symbols [first, end) of c->sym and emits their tokens. */
static void spm_merge(enc_ctx *c, int32_t first, int32_t end)
{
    const tokenizer *t = c->t;
    symbol *s = c->sym;
    s[first].prev = -1;
    s[end - 1].next = -1;
    c->n_heap = 0;
    for (int32_t i = first; i + 1 < end; i++)
        spm_try_pair(c, i, i + 1);
    while (c->n_heap > 0 && !c->oom) {
        bpe_item it = heap_pop(c);
        int32_t left = item_left(it);
        symbol *l = &s[left];
        if (l->len == 0 || l->next < 0)
            continue;
        symbol *r = &s[l->next];
        if (l->len + r->len != (uint32_t)it.a)
            continue; /* stale: one side has grown since */
        l->len += r->len;
        r->len = 0;
        l->next = r->next;
        if (r->next >= 0)
            s[r->next].prev = left;
        spm_try_pair(c, l->prev, left);
        spm_try_pair(c, left, l->next);
    }
    for (int32_t i = first; i >= 0; i = s[i].next) {
        int32_t id = vocab_lookup(t, c->buf + s[i].off, s[i].len);
        if (id >= 0 && spm_usable(t, id)) {
            emit(c, id);
            continue;
        }
        for (uint32_t k = 0; k < s[i].len; k++) {
            int32_t bt = t->byte_token[(unsigned char)c->buf[s[i].off + k]];
            emit(c, bt >= 0 ? bt : t->unk);
        }
    }
}

static void spm_fragment(enc_ctx *c, const char *text, size_t n, bool prefix)
{
    const tokenizer *t = c->t;
    size_t need = (n + 1) * 3;
    if (!grow((void **)&c->buf, &c->cap_buf, need, 1) ||
        !grow((void **)&c->sym, &c->cap_sym, n + 1, sizeof *c->sym)) {
        c->oom = true;
        return;
    }
    static const char esc[3] = {'\xE2', '\x96', '\x81'}; /* U+2581 */
    size_t m = 0;
    if (prefix) {
        memcpy(c->buf, esc, 3);
        m = 3;
    }
    for (size_t i = 0; i < n; i++) {
        if (text[i] == ' ') {
            memcpy(c->buf + m, esc, 3);
            m += 3;
        } else {
            c->buf[m++] = text[i];
        }
    }
    symbol *s = c->sym;
    int32_t ns = 0;
    for (size_t p = 0; p < m;) {
        size_t k;
        s[ns].cp = utf8_decode((const unsigned char *)c->buf + p, m - p, &k);
        s[ns].prev = ns - 1;
        s[ns].next = ns + 1;
        s[ns].off = (uint32_t)p;
        s[ns].len = (uint32_t)k;
        ns++;
        p += k;
    }
    int32_t start = 0;
    for (int32_t i = 1; i < ns && !c->oom; i++) {
        if (!pair_possible(t, s[i - 1].cp, s[i].cp)) {
            spm_merge(c, start, i);
            start = i;
        }
    }
    if (ns > 0 && !c->oom)
        spm_merge(c, start, ns);
}

/* Every text fragment starts the text or follows a special token, which is
 * where SentencePiece-style models put their space prefix. */
static void encode_fragment(enc_ctx *c, const char *text, size_t n)
{
    if (n == 0)
        return;
    if (c->t->model == MODEL_GPT2)
        gpt2_fragment(c, text, n);
    else
        spm_fragment(c, text, n, c->t->add_space_prefix);
}

/* add_bos plays the part of llama.cpp's add_special: it also appends EOS
 * when the model asks for that (tokenizer.ggml.add_eos_token). */
int64_t tokenizer_encode(const tokenizer *t, const char *text, size_t len, bool add_bos,
                         bool parse_special, int32_t *out, int64_t cap)
{
    if (!t || (!text && len > 0) || cap < 0 || (!out && cap > 0))
        return -1;
    enc_ctx c;
    memset(&c, 0, sizeof c);
    c.t = t;
    if (add_bos && t->add_bos && t->bos >= 0)
        emit(&c, t->bos);
    const unsigned char *s = (const unsigned char *)text;
    size_t frag = 0;
    for (size_t pos = 0; pos < len && !c.oom;) {
        if (!t->first_byte[s[pos]]) {
            pos++;
            continue;
        }
        size_t node = 0, best = 0;
        int32_t best_id = -1;
        for (size_t j = pos; j < len; j++) {
            int32_t child = edge_lookup(t, node, s[j]);
            if (child < 0)
                break;
            node = (size_t)child;
            int32_t id = t->trie_tok[node];
            if (id >= 0 && (parse_special || t->type[id] == TOKEN_TYPE_USER_DEFINED)) {
                best = j - pos + 1;
                best_id = id;
            }
        }
        if (best_id < 0) {
            pos++;
            continue;
        }
        encode_fragment(&c, text + frag, pos - frag);
        emit(&c, best_id);
        pos += best;
        frag = pos;
    }
    if (!c.oom)
        encode_fragment(&c, text + frag, len - frag);
    if (add_bos && t->add_eos && t->eos >= 0)
        emit(&c, t->eos);
    int64_t n = c.oom ? -1 : (int64_t)c.n_ids;
    if (n > 0 && cap > 0)
        memcpy(out, c.ids, (size_t)(n < cap ? n : cap) * sizeof *out);
    free(c.ids);
    free(c.buf);
    free(c.sym);
    free(c.heap);
    pretok_spans_free(&c.spans);
    return n;
}

/* ---------- decoding ---------- */

static int put(char *buf, size_t cap, size_t at, const char *s, size_t n)
{
    if (at < cap)
        memcpy(buf + at, s, at + n <= cap ? n : cap - at);
    return (int)n;
}

static int hexval(char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    return -1;
}

int tokenizer_token_to_piece(const tokenizer *t, int32_t id, bool render_special, char *buf, size_t cap)
{
    if (!t || id < 0 || id >= t->n_vocab || (!buf && cap > 0))
        return -1;
    const char *s = t->text + t->span[id].off;
    size_t n = t->span[id].len;
    uint8_t ty = t->type[id];
    if (ty == TOKEN_TYPE_CONTROL || ty == TOKEN_TYPE_UNKNOWN)
        return render_special ? put(buf, cap, 0, s, n) : 0;
    if (ty == TOKEN_TYPE_USER_DEFINED)
        return put(buf, cap, 0, s, n);
    if (t->model == MODEL_LLAMA && ty == TOKEN_TYPE_BYTE && n == 6) {
        int hi = hexval(s[3]), lo = hexval(s[4]);
        if (hi >= 0 && lo >= 0) {
            char byte = (char)(hi * 16 + lo);
            return put(buf, cap, 0, &byte, 1);
        }
    }
    size_t at = 0;
    for (size_t i = 0; i < n;) {
        size_t k;
        uint32_t cp = utf8_decode((const unsigned char *)s + i, n - i, &k);
        if (t->model == MODEL_GPT2 && cp < 324 && t->cp_to_byte[cp] >= 0) {
            char byte = (char)t->cp_to_byte[cp];
            at += (size_t)put(buf, cap, at, &byte, 1);
        } else if (t->model == MODEL_LLAMA && cp == 0x2581) {
            at += (size_t)put(buf, cap, at, " ", 1);
        } else {
            at += (size_t)put(buf, cap, at, s + i, k);
        }
        i += k;
    }
    return (int)at;
}

/* ---------- queries ---------- */

int32_t tokenizer_n_vocab(const tokenizer *t)
{
    return t->n_vocab;
}

int32_t tokenizer_bos(const tokenizer *t)
{
    return t->bos;
}

int32_t tokenizer_eos(const tokenizer *t)
{
    return t->eos;
}

bool tokenizer_is_eog(const tokenizer *t, int32_t id)
{
    return id >= 0 && id < t->n_vocab && (t->attr[id] & ATTR_EOG);
}

bool tokenizer_is_control(const tokenizer *t, int32_t id)
{
    return id >= 0 && id < t->n_vocab && t->type[id] == TOKEN_TYPE_CONTROL;
}

int32_t tokenizer_find(const tokenizer *t, const char *text)
{
    if (!text)
        return -1;
    size_t n = strlen(text);
    return n ? vocab_lookup(t, text, n) : -1;
}

const char *tokenizer_model_name(const tokenizer *t)
{
    return t->model_name;
}

const char *tokenizer_pre_name(const tokenizer *t)
{
    return t->pre_name;
}

const char *tokenizer_warning(const struct tokenizer *t)
{
    return t->has_warning ? t->warning : NULL;
}
