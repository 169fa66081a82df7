/* Forcing a tool call (OpenAI tool_choice "required" or a named function):
 * the answer is made to start with the model family's call opening and is
 * then constrained to one JSON call object naming an offered tool, with
 * arguments that match the tool's parameter schema. */
#ifndef RK_TOOL_CHOICE_H
#define RK_TOOL_CHOICE_H

#include <jansson.h>
#include <stddef.h>

#include "core/chat_output.h"

/* The JSON schema of one call: {"name": N, "arguments": {...}} ("parameters"
 * for LLAMA3, as its template writes calls). name NULL: any of the tools
 * (an anyOf of them); else only that one. strict_args false gives every
 * tool free-form object arguments (for parameter schemas the constraint
 * cannot compile). NULL with err when name is not among the tools. */
json_t *tool_choice_schema(const json_t *tools, const char *name, chat_output_format fmt, int strict_args,
                           char *err, size_t errlen);

/* The text the forced answer begins with, which the prompt carries: the
 * opening tag for HERMES, nothing where a call is a bare JSON message. */
const char *tool_choice_prefix(chat_output_format fmt);

#endif
