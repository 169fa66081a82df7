/* The CLI's client side of a running rkserve: where the server is
 * (RKSERVE_HOST as Ollama's OLLAMA_HOST) and a small HTTP/1.1 client over
 * a socket, one request per connection, whose body can be read whole or
 * line by line as it streams (NDJSON). */
#ifndef RK_HTTP_CLIENT_H
#define RK_HTTP_CLIENT_H

#include <jansson.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

typedef struct {
    char host[256];
    char port[16];
    const char *api_key;
} rk_endpoint;

/* RKSERVE_HOST: "host", "host:port", "http://host:port", "[::1]:port";
 * RKSERVE_PORT when no port is given (default 8080); RKSERVE_API_KEY. */
void endpoint_from_env(rk_endpoint *ep);

/* True when something answers HTTP at the endpoint within timeout_ms. */
bool endpoint_is_up(const rk_endpoint *ep, int timeout_ms);

typedef struct {
    atomic_bool *cancel;   /* optional, set before open: once raised, a read a signal interrupts ends */
    int fd;
    int status;
    bool chunked;
    bool eof;
    size_t chunk_left;     /* bytes left of the current chunk */
    long long body_left;   /* Content-Length bytes left; -1: until close */
    char buf[16384];
    size_t off, len;       /* unread raw bytes in buf */
} client_stream;

/* Sends the request and reads the status line and headers. Returns the
 * status, or -1 with err (and nothing to close). */
int client_stream_open(client_stream *st, const rk_endpoint *ep, const char *method, const char *path,
                     const char *body, char *err, size_t errlen);
/* The next body line without its '\n' into a malloc'd string (*line);
 * returns its length, 0 at the end of the body (*line NULL), -1 on error. */
long client_stream_line(client_stream *st, char **line);
void client_stream_close(client_stream *st);

/* One whole call: returns the status (or -1 with err) and the body parsed
 * as JSON in *out (NULL when it is not JSON). */
int http_call(const rk_endpoint *ep, const char *method, const char *path, const char *body, json_t **out,
              char *err, size_t errlen);

#endif
