/* Built-in chat formats for plain system/user/assistant conversations: what
 * `rkserve run` uses, and the fallback for models without a Jinja template.
 * Each family renders byte for byte what its model's official template
 * gives under @huggingface/jinja for text-only messages:
 *   CHATML  - Qwen2.5 / SmolLM2 style <|im_start|>role\n...<|im_end|>\n, the
 *             messages exactly as given (no default system prompt)
 *   LLAMA3  - Meta-Llama-3-8B-Instruct: BOS, <|start_header_id|>role
 *             <|end_header_id|>\n\n + trimmed content + <|eot_id|>
 *   GEMMA   - Gemma 3: BOS, <start_of_turn>user|model\n ... <end_of_turn>\n,
 *             a leading system message merged into the first turn
 *   SMOLVLM - SmolVLM / Idefics3: <|im_start|>User: ...<end_of_utterance>\n,
 *             generation prompt "Assistant:"
 *   LLAMA2  - Llama-2-chat: <s>[INST] <<SYS>>\n...\n<</SYS>>\n\n... [/INST],
 *             assistant turns " ... </s>"; no generation prompt
 *   PHI3    - Phi-3.5-mini-instruct: <|user|>\n...<|end|>\n, "<|endoftext|>"
 *             at the end when not generating
 * SMOLVLM renders each content as its template renders a single text part. */
#ifndef RK_CHAT_BUILTIN_H
#define RK_CHAT_BUILTIN_H

#include <stdbool.h>

typedef enum {
    CHAT_CHATML,
    CHAT_LLAMA3,
    CHAT_GEMMA,
    CHAT_SMOLVLM,
    CHAT_LLAMA2,
    CHAT_PHI3,
} chat_family;

typedef struct {
    const char *role; /* "system", "user", "assistant" (others pass through where the template allows) */
    const char *content; /* NULL is treated as "" */
} chat_message;

/* Picks the family from markers in the model's template; without a template
 * (NULL or "") or without a known marker, from the GGUF architecture name;
 * CHATML when neither tells. */
chat_family chat_builtin_detect(const char *jinja_template, const char *arch);

/* "chatml", "llama3", "gemma", "smolvlm", "llama2", "phi3". */
const char *chat_builtin_name(chat_family f);

/* The BOS text the family's templates put in the prompt ("" for families
 * whose templates do not), e.g. "<|begin_of_text|>" for LLAMA3. */
const char *chat_builtin_bos(chat_family f);

/* Stop strings that end the assistant's turn in this family (end-of-turn
 * markers and the start of a new turn). Writes up to cap pointers to static
 * strings and returns how many the family has. */
int chat_builtin_stops(chat_family f, const char **out, int cap);

/* Renders the conversation into a malloc'd string (*out, freed by the
 * caller). bos_text replaces the family's BOS text (NULL: the family's own,
 * "": none); families without BOS in their template ignore it. Returns 0, or
 * -1 (with *out NULL) when out of memory, a role is NULL, or the roles break
 * a rule the official template enforces (GEMMA and LLAMA2 require user and
 * assistant turns to alternate, starting with user). */
int chat_builtin_render(chat_family f, const chat_message *msgs, int n, bool add_generation_prompt,
                        const char *bos_text, char **out);

#endif
