/* What model file names and GGUF metadata say about a model, in the words
 * users name models with: base name, size, quantisation, context, NPU target.
 * Pure string functions; the registry (registry.h) documents the rules. */
#ifndef RK_MODEL_NAMES_H
#define RK_MODEL_NAMES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    char base[128];   /* normalised tokens before the size ("deepseek-r1-distill-qwen") */
    char size[32];    /* lower case, "" if none ("1.5b", "8x7b") */
    char quant[32];   /* upper case, "" if none ("Q4_K_M", "W8A8", "W4A16_G128") */
    bool npu_quant;   /* quant is an RKLLM wNaM type */
    int64_t ctx;      /* ctxNNNN / ctxNNk, 0 if none */
    int npu_cores;    /* npuN, 0 if none */
    char target[16];  /* "rk3588", "" if none */
} model_name_parts;

/* Parses a file name (directory part ignored; a .gguf/.rkllm/.rknn/.bin
 * extension and a -NNNNN-of-NNNNN split suffix are dropped). */
void model_name_parse(const char *file_name, model_name_parts *out);

/* Lower case; runs of characters outside [a-z0-9._] become one '-';
 * leading and trailing '-' and '.' are dropped. */
void model_name_normalize(const char *in, char *out, size_t cap);

/* llama.cpp's name for a general.file_type value, NULL if unknown. */
const char *model_ftype_name(uint32_t ftype);

/* A llama.cpp quantisation name as used in file names (case-insensitive):
 * F32, F16, BF16, Q4_0, Q4_K_M, IQ4_XS, TQ1_0, MXFP4_MOE, ... */
bool model_is_gguf_quant(const char *s, size_t len);

/* NAME-00001-of-00003 (before the extension): *prefix_len is the length of
 * NAME, *index and *count the numbers. False when not split-named. */
bool model_split_name(const char *stem, size_t len, size_t *prefix_len, int *index, int *count);

/* The file name without directory, extension and split suffix. */
void model_file_stem(const char *file_name, char *out, size_t cap);

/* "135M", "1.5B" from a parameter count; "" for 0. */
void model_param_label(uint64_t n_params, char *out, size_t cap);

#endif
