/* Token sampling: penalties, then greedy or temperature sampling with top-k,
 * top-p and min-p filtering, from a seeded generator so a fixed seed
 * reproduces a run. */
#ifndef RK_SAMPLER_H
#define RK_SAMPLER_H

#include <stdbool.h>
#include <stdint.h>

typedef struct {
    int32_t token;
    float bias; /* added to the logit; -INFINITY bans the token */
} sampler_logit_bias;

typedef struct {
    float temperature;       /* <= 0: greedy */
    int32_t top_k;           /* <= 0: off */
    float top_p;             /* >= 1: off */
    float min_p;             /* <= 0: off */
    float repeat_penalty;    /* 1: off (llama.cpp semantics: divide positive, multiply negative logits) */
    int32_t repeat_last_n;   /* window of recent tokens for all penalties; 0 off, -1 whole history */
    float frequency_penalty; /* OpenAI semantics: minus count * f */
    float presence_penalty;  /* minus p if present */
    uint64_t seed;
    const sampler_logit_bias *logit_bias;
    int32_t n_logit_bias;
} sampler_params;

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
