/* Parsing the text of tool calls for chat_output: JSON call objects and the
 * Qwen3-Coder XML function form. Private to src/core/chat_output*.c. */
#ifndef RK_CHAT_OUTPUT_CALLS_H
#define RK_CHAT_OUTPUT_CALLS_H

#include <stdbool.h>
#include <stddef.h>

typedef struct {
    char *name;
    char *arguments; /* JSON object text */
} chat_call_text;

typedef struct {
    chat_call_text *v;
    int n, cap;
} chat_call_list;

typedef struct {
    bool require_args;             /* each JSON call must have "arguments" or "parameters" */
    bool allow_xml;                /* accept <function=NAME>...</function> blocks */
    const char *const *names;      /* when n_names > 0, calls must name one of these */
    int n_names;
} chat_call_rules;

/* Parses s[0, n) (surrounding whitespace ignored) as one or more calls:
 * JSON objects {"name", "arguments"|"parameters"} (or {"function": {...}})
 * one after another with whitespace or ';' between, a JSON array of them,
 * or XML function blocks. All of the text must be calls. Returns 1 and
 * appends to out, 0 when the text is not calls (out unchanged), -1 when out
 * of memory. */
int chat_calls_parse(const char *s, size_t n, const chat_call_rules *rules, chat_call_list *out);
void chat_call_list_free(chat_call_list *l);

#endif
