/* Sampling parameters shared by every engine: the CPU sampler implements
 * them, the NPU runtime receives them. */
#ifndef RK_SAMPLING_H
#define RK_SAMPLING_H

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

#endif
