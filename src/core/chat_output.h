/* Splits what a chat model generates into the parts the OpenAI and Ollama
 * APIs return: reasoning ("thinking"), visible content and tool calls. Text
 * is pushed as it streams; deltas come out as soon as they are certain.
 *
 * Formats, as each family's chat template writes an assistant turn back:
 *   HERMES  - Qwen2.5 / Qwen3: content, then calls each in
 *             <tool_call>\n{"name": N, "arguments": {...}}\n</tool_call>
 *             (joined by "\n"). The body may also be Qwen3-Coder / Qwen3.5's
 *             <function=N><parameter=P>\nvalue\n</parameter></function>.
 *   LLAMA3  - Llama 3.1 / 3.2: the whole message is {"name": N,
 *             "parameters": {...}} ("arguments" accepted too), optionally
 *             after <|python_tag|>; several calls may follow one another,
 *             separated by ';' or whitespace, or come as a JSON array.
 *   GENERIC - ChatML and other models without a known tool format: the
 *             HERMES tags, and a whole message that is JSON calls as LLAMA3.
 *
 * Thinking (any format, when thinking_enabled): a <think>...</think> block
 * at the start of the output (after optional whitespace) is reasoning; with
 * prompt_opened_think the output starts inside it and only </think> appears.
 * As Qwen3's template does, newlines are trimmed at both ends of the
 * reasoning and at the start of the content after </think>. Without
 * thinking_enabled, <think> is ordinary content.
 *
 * Rules that decide the ambiguous cases:
 * - Tool calls are recognised only with tools_enabled.
 * - A tool call is emitted whole (BEGIN then one ARGS fragment with the
 *   complete arguments) once it is closed and valid, since until then it
 *   may still turn out to be content.
 * - Whitespace touching a tool call (before <tool_call> or <|python_tag|>,
 *   after </tool_call>) is dropped. Content between or after calls stays.
 * - A <tool_call> block or <|python_tag|> section that does not parse is
 *   returned verbatim as content (with the whitespace before it) and sets
 *   the malformed flag. A <tool_call> still open at finish is parsed as if
 *   closed (models often stop right after the JSON); if that fails it is
 *   content, flagged.
 * - A message whose first non-blank character is '{' (or "[{") is held to
 *   the end (LLAMA3, GENERIC) and becomes tool calls only if all of it is
 *   calls that each carry "arguments"/"parameters" and, when tool_names are
 *   given, name a listed tool. Otherwise it is content, flagged malformed
 *   when it mentions "name" (it looked like a failed call).
 * - Reasoning left open at finish (output cut short) stays reasoning.
 * - Arguments are the JSON object text as the model wrote it (numbers and
 *   spacing kept); arguments given as a JSON string holding an object are
 *   unwrapped; missing or null arguments become "{}". Values of the XML
 *   form become JSON: text that parses as a JSON number, object, array,
 *   true, false or null is kept as that, anything else is a string.
 *
 * Output never splits a UTF-8 character, and the final result and the
 * concatenated deltas do not depend on how the text was cut into pushes. */
#ifndef RK_CHAT_OUTPUT_H
#define RK_CHAT_OUTPUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/chat_builtin.h"

typedef enum {
    CHAT_OUTPUT_GENERIC,
    CHAT_OUTPUT_HERMES,
    CHAT_OUTPUT_LLAMA3,
} chat_output_format;

typedef struct {
    bool tools_enabled;       /* the request carried tools */
    bool thinking_enabled;    /* split <think>...</think> into reasoning */
    bool prompt_opened_think; /* the prompt ends inside <think>: output starts in reasoning */
    uint64_t id_seed;         /* tool call ids derive from it and the call's index */
    const char *const *tool_names; /* the request's tools, for whole-message JSON; may be NULL */
    int n_tool_names;
} chat_output_options;

typedef enum {
    CHAT_DELTA_CONTENT,
    CHAT_DELTA_REASONING,
    CHAT_DELTA_TOOL_CALL_BEGIN, /* index, id, name */
    CHAT_DELTA_TOOL_CALL_ARGS,  /* index, text: a fragment of the arguments JSON */
} chat_delta_kind;

typedef struct {
    chat_delta_kind kind;
    const char *text; /* CONTENT, REASONING, TOOL_CALL_ARGS; never split inside a UTF-8 character */
    size_t len;
    int index;        /* tool calls: 0, 1, ... in order; -1 for text */
    const char *id;   /* tool calls (BEGIN and ARGS) */
    const char *name; /* tool calls (BEGIN and ARGS) */
} chat_delta;

/* Pointers in d are valid only during the call. */
typedef void (*chat_output_delta_fn)(void *user, const chat_delta *d);

typedef struct {
    const char *id;        /* "call_" + 24 letters and digits */
    const char *name;
    const char *arguments; /* a JSON object, as text */
} chat_tool_call;

typedef struct chat_output_parser chat_output_parser;

/* opt may be NULL (no tools, no thinking, seed 0); its strings are copied.
 * NULL when out of memory. */
chat_output_parser *chat_output_new(chat_output_format fmt, const chat_output_options *opt);
void chat_output_free(chat_output_parser *p);

/* Feeds generated text (any split, even inside a character); cb (may be
 * NULL) receives the deltas that became certain. Returns 0, or -1 when out
 * of memory or after finish; after -1 the parser only fails. */
int chat_output_push(chat_output_parser *p, const char *text, size_t len, chat_output_delta_fn cb, void *user);
/* End of output: settles everything held and delivers the last deltas.
 * Returns 0 or -1 (out of memory, or called twice). */
int chat_output_finish(chat_output_parser *p, chat_output_delta_fn cb, void *user);

/* The results so far (complete after finish). Strings are NUL-terminated,
 * never NULL; len (may be NULL) receives the length. */
const char *chat_output_content(const chat_output_parser *p, size_t *len);
const char *chat_output_reasoning(const chat_output_parser *p, size_t *len);
int chat_output_tool_call_count(const chat_output_parser *p);
/* NULL when i is out of range. */
const chat_tool_call *chat_output_tool_call(const chat_output_parser *p, int i);
/* Any tool call: the finish_reason is "tool_calls". */
bool chat_output_has_tool_calls(const chat_output_parser *p);
/* Some text looked like a tool call but did not parse (it is in content). */
bool chat_output_malformed(const chat_output_parser *p);

/* The format for a model: "<tool_call>" in its template means HERMES,
 * "<|python_tag|>" or a LLAMA3 family means LLAMA3, anything else GENERIC.
 * jinja_template may be NULL. */
chat_output_format chat_output_format_detect(chat_family family, const char *jinja_template);
/* "generic", "hermes", "llama3". */
const char *chat_output_format_name(chat_output_format f);
/* Whether a rendered prompt ends inside an open <think> block (it ends
 * with "<think>" and optional whitespace), for prompt_opened_think. */
bool chat_output_prompt_opens_think(const char *prompt, size_t len);

#endif
