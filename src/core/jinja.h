/* Jinja subset interpreter for chat templates.
 *
 * Renders a model's tokenizer.chat_template exactly like @huggingface/jinja
 * (the reference used by transformers.js and the HF hub): same lexer
 * (trim_blocks and lstrip_blocks on, one trailing newline dropped), same
 * precedence, same undefined/none semantics and the same output formatting
 * (numbers printed like JavaScript, tojson like its toJSON). Where the
 * reference throws, rendering fails with a message. Extensions, only where
 * the reference has no such filter or rejects the form: d and a bare
 * default (= default('')), count, select/reject, round, first/last of a
 * string.
 *
 * Context values convert like JSON.parse + Object.entries would: integral
 * reals become integers, integer-like object keys come first in ascending
 * order. Load request JSON with JSON_DECODE_INT_AS_REAL to accept integers
 * beyond 64 bits as JavaScript does.
 *
 * Templates are immutable after parsing and may be rendered concurrently.
 */
#ifndef RK_CORE_JINJA_H
#define RK_CORE_JINJA_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

typedef struct jinja_template jinja_template;

/* Parses src (UTF-8; invalid bytes become U+FFFD). On a syntax error returns
 * NULL and writes "line:col: message" into err. */
jinja_template *jinja_parse(const char *src, size_t len, char *err, size_t errlen);

void jinja_free(jinja_template *t);

typedef struct jinja_options {
    /* Unix time that strftime_now() formats, in local time; 0 = now. */
    int64_t now;
    /* Resource bounds; 0 selects the default. A template exceeding one fails
     * with an error instead of hanging or exhausting memory. */
    size_t max_output;    /* bytes of output and of any single string value (16 MiB) */
    size_t max_steps;     /* evaluation steps (50 million) */
    size_t max_items;     /* elements of a range() or of any one list (1 million) */
    int max_depth;        /* nesting of evaluation, including macro recursion (500) */
} jinja_options;

/* Renders with context (a JSON object: messages, tools, add_generation_prompt,
 * bos_token, ...; NULL means empty). Returns a malloc'd NUL-terminated string
 * (its byte length in *out_len if non-NULL) or NULL with the error in err;
 * raise_exception(msg) fails with exactly msg. */
char *jinja_render_ex(const jinja_template *t, const json_t *context, const jinja_options *opt,
                      size_t *out_len, char *err, size_t errlen);

char *jinja_render(const jinja_template *t, const json_t *context, char *err, size_t errlen);

#endif
