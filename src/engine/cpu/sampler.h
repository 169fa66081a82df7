/* Token sampling: penalties, then greedy or temperature sampling with top-k,
 * top-p and min-p filtering, from a seeded generator so a fixed seed
 * reproduces a run. */
#ifndef RK_SAMPLER_H
#define RK_SAMPLER_H

#include <stdbool.h>
#include <stdint.h>

#include "engine/sampling.h"

/* Defaults as llama.cpp / Ollama use them: temp 0.8, top_k 40, top_p 0.9,
 * min_p 0, repeat_penalty 1.1 over 64 tokens, no frequency/presence penalty. */
sampler_params sampler_default_params(void);

typedef struct sampler sampler;

sampler *sampler_new(const sampler_params *p, int32_t n_vocab);
void sampler_free(sampler *s);
/* Forgets the token history and reseeds. */
void sampler_reset(sampler *s);
/* Records a token (prompt or generated) for the penalties. */
void sampler_accept(sampler *s, int32_t token);
/* Picks the next token. logits (n_vocab) may be modified. */
int32_t sampler_sample(sampler *s, float *logits);

#endif
