/* Stop strings over streamed text. Text is pushed as it is generated; the
 * matcher passes on what can no longer be part of a stop string, holds back
 * a tail that may still become one, and on a full match passes on only the
 * text before it. Output never ends inside a UTF-8 character: an incomplete
 * sequence at the end of the input is held until it completes (or until
 * flush). Stop strings are plain bytes; empty ones are ignored.
 *
 * When two stop strings could match, the one that completes first in the
 * stream wins, and of those ending at the same byte the one starting
 * earliest. The concatenated output therefore does not depend on how the
 * text was split into pushes. */
#ifndef RK_STOP_H
#define RK_STOP_H

#include <stdbool.h>
#include <stddef.h>

typedef struct {
    char **stops;      /* own copies */
    size_t *lens;
    int *index;        /* position in the caller's list */
    int n;
    char *buf;         /* text received but not yet passed on */
    size_t len, cap;
    size_t safe;       /* buf[0, safe) is decided and only waits for room */
    int matched;       /* caller's index of the stop string found, or -1 */
} stop_matcher;

/* Copies the stop strings (NULL entries and "" are skipped; n may be 0).
 * Returns false when out of memory, leaving m safe to free. */
bool stop_matcher_init(stop_matcher *m, const char *const *stops, int n);
void stop_matcher_free(stop_matcher *m);
/* Forgets all text and any match; keeps the stop strings. */
void stop_matcher_reset(stop_matcher *m);

/* Feeds len bytes and writes the text that is now settled to out, returning
 * its length. The output is at most stop_matcher_pending(m) + len bytes;
 * with less room it writes what fits (whole characters) and keeps the rest
 * for the next push or flush. *stopped (may be NULL) is set once a stop
 * string has been found; from then on input is ignored and only text before
 * the stop string still comes out. Returns (size_t)-1, consuming nothing,
 * when out of memory. */
size_t stop_matcher_push(stop_matcher *m, const char *text, size_t len, char *out, size_t cap,
                         bool *stopped);

/* End of stream: writes everything still held (a partial stop string or an
 * incomplete character is plain text now), as much as fits in cap. */
size_t stop_matcher_flush(stop_matcher *m, char *out, size_t cap);

/* Bytes received but not yet written out. */
size_t stop_matcher_pending(const stop_matcher *m);
/* Index (in the list given to init) of the stop string found, or -1. */
int stop_matcher_matched(const stop_matcher *m);

#endif
