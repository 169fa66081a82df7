/* A byte queue between a generating thread (the writer) and the HTTP
 * connection thread that sends a streamed response (the reader). The writer
 * blocks while too much is pending, so a slow client slows its own
 * generation instead of growing memory; once the reader is gone every write
 * fails at once, which is how a disconnect reaches the generation.
 * Reference-counted: each side drops its reference when done. */
#ifndef RK_HTTP_STREAM_H
#define RK_HTTP_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

typedef struct http_stream http_stream;

/* max_pending: bytes the writer may run ahead of the reader. Starts with
 * one reference. */
http_stream *http_stream_new(size_t max_pending);
void http_stream_ref(http_stream *s);
void http_stream_unref(http_stream *s);

/* Appends len bytes, waiting for room. False when the reader has gone. */
bool http_stream_write(http_stream *s, const char *data, size_t len);
/* The writer has finished; the reader drains what is left, then sees EOF. */
void http_stream_close(http_stream *s);
/* The reader has gone: pending and future writes fail. */
void http_stream_abandon(http_stream *s);

/* Copies up to max bytes. Returns the count (> 0), 0 when nothing came
 * within timeout_ms, or -1 at the end (closed and drained, or abandoned). */
ssize_t http_stream_read(http_stream *s, char *buf, size_t max, int timeout_ms);

/* Waits up to timeout_ms until data is pending or the writer closed.
 * True when either holds. */
bool http_stream_wait_ready(http_stream *s, int timeout_ms);
bool http_stream_has_data(http_stream *s);
bool http_stream_closed(http_stream *s);

#endif
