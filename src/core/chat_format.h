/* Turns a conversation into the prompt text a model expects: its own Jinja
 * chat template when it carries one that renders, else the built-in format of
 * the family the template or architecture points to. */
#ifndef RK_CHAT_FORMAT_H
#define RK_CHAT_FORMAT_H

#include <stdbool.h>
#include <stddef.h>

#include "core/chat_builtin.h"
#include "core/jinja.h"

typedef struct {
    chat_family family;         /* for stop strings, and the fallback */
    jinja_template *tmpl;       /* the model's template, or NULL */
    char *bos_text, *eos_text;  /* what the template sees as bos_token / eos_token */
    bool takes_parts;           /* the template reads content parts by "type" (VLM templates) */
} chat_format;

/* template_src may be NULL. A template that does not parse is reported in
 * warn (if given) and the built-in family is used instead. */
void chat_format_init(chat_format *f, const char *template_src, const char *arch, const char *bos_text,
                      const char *eos_text, char *warn, size_t warnlen);
void chat_format_free(chat_format *f);

/* A malloc'd prompt, or NULL with a message in err. */
char *chat_format_render(const chat_format *f, const chat_message *msgs, int n, bool add_generation_prompt,
                         char *err, size_t errlen);

#endif
