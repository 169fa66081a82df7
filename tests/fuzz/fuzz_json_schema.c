/* Fuzz target for the JSON constraint: any bytes as a schema. Input is
 * "SCHEMA" or "SCHEMA\n\x01DOCUMENT". A schema that compiles drives a short
 * walk over a byte-complete vocabulary, choosing tokens from the mask by the
 * input's hash; the mask must never be empty before the document is
 * complete, and every token it offers must be accepted. The document part, if
 * any, is fed through accept as raw bytes. */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/json_constraint.h"

#define N_EXTRA 12
#define N_VOCAB (256 + N_EXTRA + 1)

static json_vocab *vocab(void)
{
    static json_vocab *v;
    if (v) return v;
    static const char *const extra[N_EXTRA] = {"{\"", "\":", "\",\"", "\"}", "true", "null", "  ", "\\u00", "\\n",
                                               "\xc3\xa9", "12", "\xe2\x82"};
    static char bytes[256];
    const char *pieces[N_VOCAB];
    size_t lens[N_VOCAB];
    bool eog[N_VOCAB] = {0};
    for (int i = 0; i < 256; i++) {
        bytes[i] = (char)i;
        pieces[i] = &bytes[i];
        lens[i] = 1;
    }
    for (int i = 0; i < N_EXTRA; i++) {
        pieces[256 + i] = extra[i];
        lens[256 + i] = strlen(extra[i]);
    }
    pieces[N_VOCAB - 1] = "";
    lens[N_VOCAB - 1] = 0;
    eog[N_VOCAB - 1] = true;
    char err[64];
    v = json_vocab_new(pieces, lens, N_VOCAB, eog, err, sizeof err);
    if (!v) abort();
    return v;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t schema_len = size;
    const uint8_t *doc = NULL;
    size_t doc_len = 0;
    for (size_t i = 0; i + 1 < size; i++)
        if (data[i] == '\n' && data[i + 1] == 1) {
            schema_len = i;
            doc = data + i + 2;
            doc_len = size - i - 2;
            break;
        }
    /* an empty schema part means plain JSON mode with an object on top */
    json_t *schema = json_loadb((const char *)data, schema_len, JSON_DECODE_ANY, NULL);
    if (!schema && schema_len) return 0;
    char err[256];
    bool object_only = schema_len == 0;
    json_constraint *jc = json_constraint_new(schema, object_only, err, sizeof err);
    json_decref(schema);
    if (!jc) return 0;
    if (!json_constraint_set_vocab(jc, vocab())) abort();

    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < size; i++) h = (h ^ data[i]) * 1099511628211ull;
    uint8_t allowed[N_VOCAB];
    for (int step = 0; step < 48; step++) {
        int32_t n = json_constraint_allowed(jc, allowed, N_VOCAB);
        bool complete = json_constraint_complete(jc);
        if (n == 0) abort(); /* every state must be completable */
        if (allowed[N_VOCAB - 1] != complete) abort();
        h ^= h >> 29;
        h *= 0xbf58476d1ce4e5b9ull;
        int32_t pick = (int32_t)((h >> 17) % (uint64_t)n);
        int32_t t = 0;
        for (; t < N_VOCAB; t++)
            if (allowed[t] && pick-- == 0) break;
        if (t == N_VOCAB - 1) break; /* end of generation */
        if (!json_constraint_accept_token(jc, t)) abort();
    }
    if (doc) {
        json_constraint_reset(jc);
        json_constraint_accept(jc, (const char *)doc, doc_len);
        json_constraint_complete(jc);
    }
    json_constraint_free(jc);
    return 0;
}
