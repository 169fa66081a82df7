/* Text generation over any engine: turns the engine's token pieces into whole
 * UTF-8 text, applies stop strings (text before a stop string is delivered,
 * the stop string and anything after it is not), and reports why it ended. */
#ifndef RK_TEXTGEN_H
#define RK_TEXTGEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/engine.h"

typedef struct {
    engine_gen_params gen;
    const char *const *stop;   /* stop strings, may be NULL */
    int n_stop;
    /* Set for engines that take text (engine_ops.generate_text): the
     * prompt tokens are then ignored. */
    const char *prompt_text;
} textgen_params;

/* Receives complete UTF-8 text. Return false to cancel the generation. */
typedef bool (*textgen_text_fn)(void *user, const char *text, size_t len);

typedef enum {
    TEXTGEN_STOP,       /* end of turn or a stop string */
    TEXTGEN_LENGTH,     /* max tokens or context */
    TEXTGEN_CANCELLED,  /* the caller or the cancel flag stopped it */
} textgen_finish;

typedef struct {
    engine_stats engine;
    textgen_finish finish;
    const char *matched_stop;  /* the stop string that ended it, if any */
} textgen_result;

int textgen_run(const engine_ops *ops, engine_session *s, const int32_t *prompt, int64_t n_prompt,
                const textgen_params *p, textgen_text_fn on_text, void *user, textgen_result *res, char *err,
                size_t errlen);

const char *textgen_finish_name(textgen_finish f);

#endif
