/* Constrained decoding for JSON output: before each token is sampled, the
 * logits of every token that cannot continue a valid document are set to
 * -INFINITY, so the model can only write JSON (OpenAI response_format
 * json_object, Ollama format "json") or JSON that matches a schema (OpenAI
 * json_schema, Ollama format {schema}).
 *
 * Use: build a json_vocab once per model (it is read-only and may be shared
 * by any number of constraints on any threads); per request compile the
 * schema with json_constraint_new, attach the vocab, then call
 * json_constraint_filter before each sampling step (json_constraint_logits_filter
 * fits engine_gen_params.logits_filter directly) and json_constraint_accept_token
 * (or _accept with the token's bytes) with each token chosen. End-of-generation
 * tokens are allowed only once the document is complete.
 *
 * Supported schema subset (anything else is refused at compile time with an
 * error naming the keyword, meant for a 400 answer):
 *   type            "object" "array" "string" "number" "integer" "boolean"
 *                   "null" or a list of them. Without "type", the types are
 *                   inferred from the keywords present (properties/required/
 *                   additionalProperties: object; items/minItems/maxItems:
 *                   array; minLength/maxLength: string; minimum: number),
 *                   else any value.
 *   properties, required
 *                   properties are written in schema order; required ones
 *                   always, optional ones may be left out. Names are written
 *                   in one canonical form: raw UTF-8, with only '"', '\' and
 *                   control characters escaped.
 *   additionalProperties
 *                   false, true or a schema. Default: false when "properties"
 *                   is given (predictable output), else true. Extra names may
 *                   appear between the declared ones but never equal a
 *                   declared name; extra names are not checked against each
 *                   other (as in plain JSON mode, where names are free).
 *                   A required name missing from "properties" is an extra
 *                   property that must be present.
 *   items (a schema or a boolean), minItems, maxItems
 *   enum, const     written exactly as their compact serialisation; may be
 *                   combined with "type" (which filters the values) only.
 *   minLength, maxLength
 *                   in code points.
 *   anyOf, oneOf    of supported schemas, only beside annotations; oneOf is
 *                   enforced as anyOf (disjoint alternatives behave alike).
 *   allOf           with exactly one schema (an alias, as generators emit).
 *   $ref            local JSON pointers ("#", "#/$defs/X", "#/definitions/X",
 *                   any "#/..." path), only beside annotations; recursion is
 *                   allowed and bounded by JSON_CONSTRAINT_MAX_DEPTH.
 *   nullable: true  (OpenAPI style) adds null.
 *   minimum: 0      for numbers and integers; integers also minimum: 1 and
 *                   exclusiveMinimum: 0. Other bounds are refused.
 *   uniqueItems: false is accepted (it asserts nothing).
 *   true / false    as schemas.
 * Ignored annotations: title, description, default, examples, format,
 * $schema, $id, $comment, deprecated, readOnly, writeOnly, contentEncoding,
 * contentMediaType, $defs, definitions and any "x-..." key. Refused
 * (examples): pattern, patternProperties, minimum other than above, maximum,
 * multipleOf, minProperties, prefixItems, contains, uniqueItems: true, not,
 * if/then/else, dependentRequired.
 *
 * What the output looks like:
 * - Whitespace is allowed wherever JSON allows it, at most
 *   JSON_CONSTRAINT_MAX_WS bytes in a row (adjustable), so a model cannot
 *   loop on blanks; up to that many trailing blanks after the value.
 * - Numbers: at most 18 integer digits and 18 fraction digits, exponents of
 *   at most 2 digits, so every number parses as int64 or a finite double.
 *   Integers are written without fraction or exponent.
 * - Strings: valid escapes only (\u escapes for surrogates must pair), no raw
 *   control characters, valid UTF-8 across token boundaries, no \u0000.
 * - Nesting deeper than JSON_CONSTRAINT_MAX_DEPTH values is not offered.
 * Every state the filter lets the model reach can still be completed, so it
 * never masks all tokens before the document is complete, given a vocabulary
 * with a token for each byte (byte-level BPE has them). Once the value is
 * closed, only whitespace and end-of-generation tokens remain (a top-level
 * number may still grow); with no EOG token in the vocabulary the caller
 * should stop when json_constraint_complete says so.
 *
 * Cost: building the index of a 152k vocabulary takes ~50 ms; a mask takes
 * ~0.1-0.3 ms per token on one core (tests/unit/test_json_constraint prints
 * it for a synthetic and, when installed, Qwen3's vocabulary). */
#ifndef RK_JSON_CONSTRAINT_H
#define RK_JSON_CONSTRAINT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/engine.h"

#define JSON_CONSTRAINT_MAX_DEPTH 64
#define JSON_CONSTRAINT_MAX_WS 16

typedef struct json_vocab json_vocab;
typedef struct json_constraint json_constraint;

/* The token texts of a model, as the engine hands them to its token callback
 * (raw bytes, possibly partial UTF-8). Tokens with an empty piece (or one
 * longer than 1024 bytes) are never offered unless is_eog marks them (is_eog
 * may be NULL). Copies everything. */
json_vocab *json_vocab_new(const char *const *pieces, const size_t *lens, int32_t n_vocab, const bool *is_eog,
                           char *err, size_t errlen);
/* Same, reading the pieces through the engine (token_to_piece without
 * special rendering, as the CPU engine emits them; is_eog for ends). */
json_vocab *json_vocab_from_engine(const engine_ops *ops, const engine_model *m, char *err, size_t errlen);
void json_vocab_free(json_vocab *v);
int32_t json_vocab_size(const json_vocab *v);

/* Compiles a schema (NULL: any JSON value; with object_only the top level
 * must be an object, as OpenAI's json_object mode asks; object_only is
 * ignored when a schema is given). Returns NULL with a message in err. */
json_constraint *json_constraint_new(const json_t *schema, bool object_only, char *err, size_t errlen);
void json_constraint_free(json_constraint *jc);
/* An independent copy of the compiled schema and the current state (same vocab). */
json_constraint *json_constraint_clone(const json_constraint *jc);
/* Back to the start of a document. */
void json_constraint_reset(json_constraint *jc);
/* The vocab must outlive the constraint (NULL detaches it). Returns true;
 * the mask's buffers are allocated by the first filter, which masks every
 * token if that runs out of memory. */
bool json_constraint_set_vocab(json_constraint *jc, const json_vocab *v);
/* Longest run of whitespace bytes allowed (default JSON_CONSTRAINT_MAX_WS, 1..255). */
void json_constraint_set_max_ws(json_constraint *jc, int n);

/* Sets logits[t] = -INFINITY for every token t < n that cannot be next
 * (tokens past the vocab's size included). Needs a vocab. */
void json_constraint_filter(json_constraint *jc, float *logits, int32_t n);
/* The engine_gen_params.logits_filter form: user is the json_constraint. */
void json_constraint_logits_filter(void *user, float *logits, int32_t n_vocab);
/* The mask itself: allowed[t] = 1 or 0 for t < n. Returns how many are allowed. */
int32_t json_constraint_allowed(json_constraint *jc, uint8_t *allowed, int32_t n);

/* Advances over bytes. Returns false, leaving the state as it was, when they
 * cannot continue a valid document (or when out of memory). */
bool json_constraint_accept(json_constraint *jc, const char *bytes, size_t len);
/* Advances over a token of the vocab; an EOG token is accepted only when the
 * document is complete and leaves the state unchanged. */
bool json_constraint_accept_token(json_constraint *jc, int32_t token);
/* The bytes so far form a whole document (more may still follow, e.g. more
 * digits of a top-level number, or whitespace). */
bool json_constraint_complete(const json_constraint *jc);

#endif
