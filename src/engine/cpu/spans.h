/* Embedding spans in a prompt (engine_embd_span): their validation, and the
 * identities a session keeps for the positions they cover. A span position
 * is kept as a negative id derived from the span's hash and the offset in
 * it, never a real token, so an existing token-by-token prefix comparison
 * reuses a kept prefix across a span exactly when the same source (hash)
 * sits at the same place (engine_span_identity). */
#ifndef RK_SPANS_H
#define RK_SPANS_H

#include <stddef.h>
#include <stdint.h>

#include "engine/engine.h"

/* Checks spans for a prompt of n_prompt tokens: each covers at least one
 * position, lies within the prompt, has embeddings, and comes after the
 * previous one without overlap. 0, or -1 with a message naming the span. */
int rk_spans_check(const engine_embd_span *spans, int32_t n_spans, int64_t n_prompt, char *err, size_t errlen);

/* ident[i] = prompt[i], or the span identity where a span covers i. */
void rk_spans_identities(const engine_embd_span *spans, int32_t n_spans, const int32_t *prompt, int64_t n_prompt,
                         int32_t *ident);

/* The embedding row (n_embd floats) of the span position whose identity is
 * id, or NULL when no span has it. */
const float *rk_spans_find(const engine_embd_span *spans, int32_t n_spans, int32_t id, int32_t n_embd);

#endif
