/* Pre-tokenizers of byte-level BPE models: split text into the pieces that
 * BPE then encodes one by one. Each is a hand-written scanner with exactly
 * the semantics of the regular expression it stands for (alternatives tried
 * in order, greedy quantifiers with backtracking, the \s+(?!\S) lookahead),
 * over Unicode code points; bytes that are not valid UTF-8 count as
 * "other" characters (neither letter, number nor space). */
#ifndef RK_PRETOKENIZE_H
#define RK_PRETOKENIZE_H

#include <stdbool.h>
#include <stddef.h>

typedef enum {
    /* 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+ */
    PRETOK_GPT2 = 0,
    /* (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|
     *  ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+ */
    PRETOK_LLAMA3,
    /* as LLAMA3 but \p{N} one digit at a time */
    PRETOK_QWEN2,
    /* every \p{N} on its own, then the GPT2 pattern inside each remaining run
     * (SmolLM's Digits(individual_digits) + ByteLevel(use_regex)) */
    PRETOK_SMOLLM,
} pretok_kind;

/* Maps a tokenizer.ggml.pre value to a scanner. Unknown (or NULL) names give
 * PRETOK_GPT2 and return false so the caller can warn. */
bool pretok_kind_from_name(const char *name, pretok_kind *out);
const char *pretok_kind_name(pretok_kind k);

typedef struct {
    size_t off, len; /* bytes of the input */
} pretok_span;

typedef struct {
    pretok_span *v;
    size_t n, cap;
} pretok_spans;

/* Appends the pieces of text to out (which it grows). Pieces are non-empty,
 * in order, and cover the input exactly. Returns 0, or -1 when out of memory. */
int pretokenize(pretok_kind kind, const char *text, size_t len, pretok_spans *out);
void pretok_spans_free(pretok_spans *s);

#endif
