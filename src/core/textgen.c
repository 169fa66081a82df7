#include "core/textgen.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/stop.h"
#include "util/utf8.h"

typedef struct {
    utf8_stream utf8;
    stop_matcher stop;
    textgen_text_fn on_text;
    void *user;
    bool user_cancelled;
    bool stop_found;
    char *scratch;
    size_t scratch_cap;
} textgen_state;

static bool ensure_scratch(textgen_state *st, size_t need)
{
    if (need <= st->scratch_cap) return true;
    size_t cap = need * 2;
    char *p = realloc(st->scratch, cap);
    if (!p) return false;
    st->scratch = p;
    st->scratch_cap = cap;
    return true;
}

/* Passes settled text on; remembers whether the caller wants to go on. */
static void deliver(textgen_state *st, const char *text, size_t len)
{
    if (len == 0 || st->user_cancelled) return;
    if (!st->on_text(st->user, text, len)) st->user_cancelled = true;
}

static bool on_token(void *user, int32_t token, const char *piece, size_t len)
{
    (void)token;
    textgen_state *st = user;
    /* whole characters first, then stop strings over them */
    size_t chars_cap = 3 * (len + 4) + 1;
    if (!ensure_scratch(st, 2 * chars_cap + stop_matcher_pending(&st->stop) + 16)) return false;
    char *chars = st->scratch;
    size_t n_chars = utf8_stream_push(&st->utf8, piece, len, chars, chars_cap);
    char *out = st->scratch + chars_cap;
    size_t out_cap = st->scratch_cap - chars_cap;
    size_t n_out = stop_matcher_push(&st->stop, chars, n_chars, out, out_cap, &st->stop_found);
    if (n_out == (size_t)-1) return false;
    deliver(st, out, n_out);
    return !st->stop_found && !st->user_cancelled;
}

int textgen_run(const engine_ops *ops, engine_session *s, const int32_t *prompt, int64_t n_prompt,
                const textgen_params *p, textgen_text_fn on_text, void *user, textgen_result *res, char *err,
                size_t errlen)
{
    memset(res, 0, sizeof *res);
    textgen_state st = {.on_text = on_text, .user = user};
    if (!stop_matcher_init(&st.stop, p->stop, p->n_stop)) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    int rc = p->prompt_text ? ops->generate_text(s, p->prompt_text, &p->gen, on_token, &st, &res->engine, err, errlen)
                            : ops->generate(s, prompt, n_prompt, &p->gen, on_token, &st, &res->engine, err, errlen);
    if (rc == 0) {
        /* the end of the stream settles whatever was held back */
        char tail[64];
        size_t n = utf8_stream_flush(&st.utf8, tail, sizeof tail);
        if (ensure_scratch(&st, stop_matcher_pending(&st.stop) + n + 16)) {
            size_t m = st.stop_found ? 0 : stop_matcher_push(&st.stop, tail, n, st.scratch, st.scratch_cap, &st.stop_found);
            if (m != (size_t)-1) deliver(&st, st.scratch, m);
            m = stop_matcher_flush(&st.stop, st.scratch, st.scratch_cap);
            deliver(&st, st.scratch, m);
        }
        int matched = stop_matcher_matched(&st.stop);
        if (matched >= 0) res->matched_stop = p->stop[matched];
        switch (res->engine.finish) {
        case ENGINE_FINISH_LENGTH:
        case ENGINE_FINISH_CONTEXT: res->finish = TEXTGEN_LENGTH; break;
        case ENGINE_FINISH_CANCELLED: res->finish = TEXTGEN_CANCELLED; break;
        case ENGINE_FINISH_STOPPED:
            res->finish = st.stop_found && !st.user_cancelled ? TEXTGEN_STOP : TEXTGEN_CANCELLED;
            break;
        default: res->finish = TEXTGEN_STOP; break;
        }
        if (st.user_cancelled) res->finish = TEXTGEN_CANCELLED;
    }
    stop_matcher_free(&st.stop);
    free(st.scratch);
    return rc;
}

const char *textgen_finish_name(textgen_finish f)
{
    switch (f) {
    case TEXTGEN_STOP: return "stop";
    case TEXTGEN_LENGTH: return "length";
    default: return "cancelled";
    }
}
