#include "engine/cpu/spans.h"

#include <stdio.h>

int rk_spans_check(const engine_embd_span *spans, int32_t n_spans, int64_t n_prompt, char *err, size_t errlen)
{
    if (n_spans < 0 || (n_spans > 0 && !spans)) {
        snprintf(err, errlen, "invalid embedding spans (%d given)", n_spans);
        return -1;
    }
    int64_t end = 0;
    for (int32_t i = 0; i < n_spans; i++) {
        const engine_embd_span *s = &spans[i];
        if (s->n_tokens <= 0 || !s->embd) {
            snprintf(err, errlen, "embedding span %d is empty", i);
            return -1;
        }
        if (s->pos < 0 || s->pos > n_prompt - s->n_tokens) {
            snprintf(err, errlen, "embedding span %d (positions %lld..%lld) lies outside the prompt of %lld tokens", i,
                     (long long)s->pos, (long long)s->pos + s->n_tokens - 1, (long long)n_prompt);
            return -1;
        }
        if (s->pos < end) {
            snprintf(err, errlen, "embedding span %d starts at %lld, inside or before the previous one (which ends at "
                     "%lld): spans must be in prompt order without overlap", i, (long long)s->pos, (long long)end - 1);
            return -1;
        }
        end = s->pos + s->n_tokens;
    }
    return 0;
}

void rk_spans_identities(const engine_embd_span *spans, int32_t n_spans, const int32_t *prompt, int64_t n_prompt,
                         int32_t *ident)
{
    for (int64_t i = 0; i < n_prompt; i++) ident[i] = prompt[i];
    for (int32_t j = 0; j < n_spans; j++)
        for (int32_t o = 0; o < spans[j].n_tokens; o++) ident[spans[j].pos + o] = engine_span_identity(spans[j].hash, o);
}

const float *rk_spans_find(const engine_embd_span *spans, int32_t n_spans, int32_t id, int32_t n_embd)
{
    if (id >= 0) return NULL;
    for (int32_t j = 0; j < n_spans; j++)
        for (int32_t o = 0; o < spans[j].n_tokens; o++)
            if (engine_span_identity(spans[j].hash, o) == id) return spans[j].embd + (size_t)o * n_embd;
    return NULL;
}
