/* Tokenizers read from GGUF metadata (tokenizer.ggml.*):
 *   model "gpt2"  — byte-level BPE; the pre-tokenizer split is chosen by
 *                   tokenizer.ggml.pre (llama-bpe/llama3, qwen2, smollm, gpt2 …)
 *   model "llama" — SentencePiece-style BPE over scores, with <0xXX> byte
 *                   fallback and the "▁" space marker.
 * Special (control / user-defined) tokens are matched in the text first when
 * parse_special is set. */
#ifndef RK_TOKENIZER_H
#define RK_TOKENIZER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "format/gguf.h"
#include "util/utf8.h"

typedef struct tokenizer tokenizer;

/* token types as GGUF's tokenizer.ggml.token_type stores them */
enum {
    TOKEN_TYPE_NORMAL = 1,
    TOKEN_TYPE_UNKNOWN = 2,
    TOKEN_TYPE_CONTROL = 3,
    TOKEN_TYPE_USER_DEFINED = 4,
    TOKEN_TYPE_UNUSED = 5,
    TOKEN_TYPE_BYTE = 6,
};

tokenizer *tokenizer_load(const gguf_file *f, char *err, size_t errlen);
void tokenizer_free(tokenizer *t);

/* Encodes text. add_bos prepends BOS when the model asks for it
 * (tokenizer.ggml.add_bos_token, default per model type). Returns the number
 * of tokens written; if it exceeds cap, nothing past cap is written and the
 * caller retries with a larger buffer. Negative on invalid input. */
int64_t tokenizer_encode(const tokenizer *t, const char *text, size_t len, bool add_bos,
                         bool parse_special, int32_t *out, int64_t cap);

/* The bytes a token stands for (byte-level and ▁ decoding applied). Control
 * tokens give their text only when render_special. Returns the length, which
 * may exceed cap (then nothing past cap is written); negative for a bad id. */
int tokenizer_token_to_piece(const tokenizer *t, int32_t id, bool render_special, char *buf,
                             size_t cap);

int32_t tokenizer_n_vocab(const tokenizer *t);
int32_t tokenizer_bos(const tokenizer *t);   /* -1 when none */
int32_t tokenizer_eos(const tokenizer *t);
/* End of generation: EOS, EOT, end_of_turn, <|im_end|>, <|eot_id|> … */
bool tokenizer_is_eog(const tokenizer *t, int32_t id);
bool tokenizer_is_control(const tokenizer *t, int32_t id);
/* Exact token text (as stored in the vocabulary) to id, or -1. */
int32_t tokenizer_find(const tokenizer *t, const char *text);
const char *tokenizer_model_name(const tokenizer *t); /* "gpt2", "llama" */
const char *tokenizer_pre_name(const tokenizer *t);
/* A fallback taken while loading (e.g. an unknown tokenizer.ggml.pre), or NULL. */
const char *tokenizer_warning(const tokenizer *t);

#endif
