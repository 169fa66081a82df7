/* Per-model index of token texts for the JSON filter, built once and shared
 * read-only. Two tries in preorder (so a walk is a linear scan that skips a
 * rejected subtree in one jump): one over every piece, one over the pieces
 * that hold a quote, a backslash or a control byte. Inside a string, any
 * other piece either stays inside the string or breaks UTF-8, which its
 * precomputed shape decides without walking. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/json_constraint.h"
#include "core/json_constraint_internal.h"

/* Longer pieces are never offered (real vocabularies stay far below). */
#define MAX_PIECE 1024

static int cmp_piece(const json_vocab *v, int32_t x, int32_t y)
{
    uint32_t lx = v->len[x], ly = v->len[y];
    int r = memcmp(v->bytes + v->off[x], v->bytes + v->off[y], lx < ly ? lx : ly);
    if (r) return r;
    if (lx != ly) return lx < ly ? -1 : 1;
    return x < y ? -1 : x > y;
}

/* Stable merge sort of ids by piece (qsort has no context argument in C11). */
static void sort_ids(const json_vocab *v, int32_t *ids, int32_t *tmp, int32_t n)
{
    for (int32_t w = 1; w < n; w *= 2) {
        for (int32_t lo = 0; lo < n; lo += 2 * w) {
            int32_t mid = lo + w < n ? lo + w : n, hi = lo + 2 * w < n ? lo + 2 * w : n;
            int32_t i = lo, j = mid, k = lo;
            while (i < mid && j < hi) tmp[k++] = cmp_piece(v, ids[i], ids[j]) <= 0 ? ids[i++] : ids[j++];
            while (i < mid) tmp[k++] = ids[i++];
            while (j < hi) tmp[k++] = ids[j++];
        }
        memcpy(ids, tmp, sizeof *ids * (size_t)n);
    }
}

static void trie_free(jc_trie *t)
{
    free(t->byte);
    free(t->depth);
    free(t->skip);
    free(t->tok_lo);
    free(t->tok_n);
    free(t->toks);
    memset(t, 0, sizeof *t);
}

/* ids: sorted by piece, all non-empty and at most MAX_PIECE bytes. */
static bool trie_build(jc_trie *t, const json_vocab *v, const int32_t *ids, int32_t n)
{
    size_t total = 0;
    for (int32_t i = 0; i < n; i++) total += v->len[ids[i]];
    size_t cap = total ? total : 1;
    t->byte = malloc(cap);
    t->depth = malloc(sizeof *t->depth * cap);
    t->skip = malloc(sizeof *t->skip * cap);
    t->tok_lo = malloc(sizeof *t->tok_lo * cap);
    t->tok_n = calloc(cap, sizeof *t->tok_n);
    t->toks = malloc(sizeof *t->toks * (size_t)(n ? n : 1));
    uint32_t *path = malloc(sizeof *path * (MAX_PIECE + 1));
    if (!t->byte || !t->depth || !t->skip || !t->tok_lo || !t->tok_n || !t->toks || !path) {
        free(path);
        trie_free(t);
        return false;
    }
    memcpy(t->toks, ids, sizeof *ids * (size_t)n);
    uint32_t nodes = 0, plen = 0;
    const char *prev = NULL;
    t->max_depth = 0;
    for (int32_t i = 0; i < n; i++) {
        const char *s = v->bytes + v->off[ids[i]];
        uint32_t len = v->len[ids[i]], lcp = 0;
        while (prev && lcp < plen && lcp < len && s[lcp] == prev[lcp]) lcp++;
        for (uint32_t d = plen; d > lcp; d--) t->skip[path[d]] = nodes;
        for (uint32_t d = lcp + 1; d <= len; d++) {
            t->byte[nodes] = (uint8_t)s[d - 1];
            t->depth[nodes] = (uint16_t)d;
            t->tok_n[nodes] = 0;
            path[d] = nodes++;
        }
        plen = len;
        prev = s;
        uint32_t at = path[len];
        if (t->tok_n[at]++ == 0) t->tok_lo[at] = (uint32_t)i;
        if ((int32_t)len > t->max_depth) t->max_depth = (int32_t)len;
    }
    for (uint32_t d = plen; d > 0; d--) t->skip[path[d]] = nodes;
    free(path);
    t->n_nodes = (int32_t)nodes;
    return true;
}

void json_vocab_free(json_vocab *v)
{
    if (!v) return;
    free(v->bytes);
    free(v->off);
    free(v->len);
    free(v->eog);
    free(v->flags);
    free(v->byte0);
    free(v->nchars);
    free(v->eog_ids);
    trie_free(&v->all);
    trie_free(&v->special);
    free(v);
}

int32_t json_vocab_size(const json_vocab *v) { return v ? v->n : 0; }

/* The piece read from byte k on is valid UTF-8 that may stop inside a character. */
static bool utf8_tail_ok(const uint8_t *s, uint32_t len)
{
    int need = 0;
    uint8_t lo = 0x80, hi = 0xBF;
    for (uint32_t i = 0; i < len; i++) {
        uint8_t c = s[i];
        if (need) {
            if (c < lo || c > hi) return false;
            need--;
            lo = 0x80;
            hi = 0xBF;
        } else if (c >= 0x80 && !jc_utf8_lead(c, &need, &lo, &hi)) {
            return false;
        }
    }
    return true;
}

static void classify(json_vocab *v, int32_t id)
{
    const uint8_t *s = (const uint8_t *)v->bytes + v->off[id];
    uint32_t len = v->len[id], lead_cont = 0, chars = 0;
    bool special = false;
    for (uint32_t i = 0; i < len; i++) {
        uint8_t c = s[i];
        if (c == '"' || c == '\\' || c < 0x20) special = true;
        if (c >= 0x80 && c <= 0xBF) {
            if (lead_cont == i) lead_cont++;
        } else {
            chars++;
        }
    }
    v->nchars[id] = (uint16_t)(chars > 65535 ? 65535 : chars);
    v->byte0[id] = len ? s[0] : 0;
    uint8_t fl = 0;
    if (special) fl |= JC_TOK_SPECIAL;
    else if (len && !v->eog[id]) {
        for (uint32_t k = 0; k < 4; k++) {
            uint32_t skip = k < len ? k : len;
            if (lead_cont >= skip && utf8_tail_ok(s + skip, len - skip)) fl |= (uint8_t)(JC_TOK_OK0 << k);
        }
    }
    v->flags[id] = fl;
}

json_vocab *json_vocab_new(const char *const *pieces, const size_t *lens, int32_t n_vocab, const bool *is_eog,
                           char *err, size_t errlen)
{
    if (n_vocab <= 0) {
        if (errlen) snprintf(err, errlen, "empty vocabulary");
        return NULL;
    }
    json_vocab *v = calloc(1, sizeof *v);
    if (!v) goto oom;
    v->n = n_vocab;
    size_t total = 0;
    for (int32_t i = 0; i < n_vocab; i++) total += lens[i] > MAX_PIECE || !pieces[i] ? 0 : lens[i];
    v->bytes = malloc(total ? total : 1);
    v->off = malloc(sizeof *v->off * (size_t)n_vocab);
    v->len = malloc(sizeof *v->len * (size_t)n_vocab);
    v->eog = calloc((size_t)n_vocab, 1);
    v->flags = calloc((size_t)n_vocab, 1);
    v->byte0 = calloc((size_t)n_vocab, 1);
    v->nchars = calloc((size_t)n_vocab, sizeof *v->nchars);
    v->eog_ids = malloc(sizeof *v->eog_ids * (size_t)n_vocab);
    int32_t *ids = malloc(sizeof *ids * (size_t)n_vocab);
    int32_t *tmp = malloc(sizeof *tmp * (size_t)n_vocab);
    if (!v->bytes || !v->off || !v->len || !v->eog || !v->flags || !v->byte0 || !v->nchars || !v->eog_ids || !ids ||
        !tmp) {
        free(ids);
        free(tmp);
        goto oom;
    }
    size_t at = 0;
    int32_t n_all = 0;
    for (int32_t i = 0; i < n_vocab; i++) {
        size_t len = lens[i] > MAX_PIECE || !pieces[i] ? 0 : lens[i];
        v->off[i] = at;
        v->len[i] = (uint32_t)len;
        if (len) memcpy(v->bytes + at, pieces[i], len);
        at += len;
        v->eog[i] = is_eog && is_eog[i];
        if (v->eog[i]) v->eog_ids[v->n_eog++] = i;
        else if (len) ids[n_all++] = i;
        classify(v, i);
    }
    sort_ids(v, ids, tmp, n_all);
    bool ok = trie_build(&v->all, v, ids, n_all);
    int32_t n_special = 0;
    for (int32_t i = 0; i < n_all; i++)
        if (v->flags[ids[i]] & JC_TOK_SPECIAL) ids[n_special++] = ids[i];
    ok = ok && trie_build(&v->special, v, ids, n_special);
    free(ids);
    free(tmp);
    if (!ok) goto oom;
    return v;
oom:
    json_vocab_free(v);
    if (errlen) snprintf(err, errlen, "out of memory");
    return NULL;
}

json_vocab *json_vocab_from_engine(const engine_ops *ops, const engine_model *m, char *err, size_t errlen)
{
    engine_info info;
    ops->info(m, &info);
    if (!info.has_tokenizer || info.n_vocab <= 0) {
        if (errlen) snprintf(err, errlen, "the model has no tokenizer");
        return NULL;
    }
    int32_t n = info.n_vocab;
    char **pieces = calloc((size_t)n, sizeof *pieces);
    size_t *lens = calloc((size_t)n, sizeof *lens);
    bool *eog = calloc((size_t)n, sizeof *eog);
    json_vocab *v = NULL;
    bool ok = pieces && lens && eog;
    char buf[256];
    for (int32_t i = 0; ok && i < n; i++) {
        int len = ops->token_to_piece(m, i, false, buf, sizeof buf);
        eog[i] = ops->is_eog(m, i);
        if (len <= 0) continue;
        pieces[i] = malloc((size_t)len);
        if (!pieces[i]) {
            ok = false;
            break;
        }
        if ((size_t)len <= sizeof buf) memcpy(pieces[i], buf, (size_t)len);
        else if (ops->token_to_piece(m, i, false, pieces[i], (size_t)len) != len) continue;
        lens[i] = (size_t)len;
    }
    if (ok) v = json_vocab_new((const char *const *)pieces, lens, n, eog, err, errlen);
    else if (errlen) snprintf(err, errlen, "out of memory");
    for (int32_t i = 0; pieces && i < n; i++) free(pieces[i]);
    free(pieces);
    free(lens);
    free(eog);
    return v;
}
