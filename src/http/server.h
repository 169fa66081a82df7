/* The HTTP layer over libmicrohttpd: one thread per connection, a route
 * table, body accumulation within a size limit, the API key, CORS, and
 * responses in the calling API's error shape. Handlers run on the
 * connection's own thread and may block (waiting for a generation) without
 * holding up other connections. */
#ifndef RK_HTTP_SERVER_H
#define RK_HTTP_SERVER_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "core/config.h"
#include "core/request.h"
#include "http/stream.h"

typedef enum {
    HTTP_STYLE_PLAIN,  /* errors as {"error": "..."} */
    HTTP_STYLE_OPENAI, /* errors as {"error": {"message", "type", "param", "code"}} */
    HTTP_STYLE_OLLAMA, /* errors as {"error": "..."} */
} http_style;

typedef struct http_req http_req;
typedef struct http_server http_server;

/* Must queue exactly one response with an http_respond_* call. */
typedef void (*http_handler)(http_req *r, void *app);

typedef struct {
    const char *method; /* "GET" also answers HEAD */
    const char *path;   /* exact, or a prefix when it ends with '*' */
    http_style style;
    bool public_route;  /* reachable without the API key */
    http_handler fn;
} http_route;

typedef struct {
    const rk_config *cfg;
    const http_route *routes;
    int n_routes;
    void *app;
    /* After each request: its route pattern ("-" when none matched), status,
     * and milliseconds from its arrival until the response was complete. */
    void (*on_complete)(void *app, const char *route, const char *method, const char *url, int status, double ms);
} http_server_params;

http_server *http_server_start(const http_server_params *p, char *err, size_t errlen);
int http_server_port(const http_server *s);
/* Stops accepting new connections; those open go on. */
void http_server_quiesce(http_server *s);
/* Stops accepting and waits for every connection's thread to finish. */
void http_server_stop(http_server *s);

const char *http_method(const http_req *r);
const char *http_path(const http_req *r);
/* For prefix routes: the path after the prefix. */
const char *http_path_rest(const http_req *r);
const char *http_header(const http_req *r, const char *name);
const char *http_query(const http_req *r, const char *key);
const char *http_body(const http_req *r, size_t *len);
http_style http_req_style(const http_req *r);
double http_arrival_ms(const http_req *r); /* monotonic ms when the request began */

/* The body as a JSON object, or NULL with e filled (400, with the line and
 * column of a syntax error). */
json_t *http_json_body(http_req *r, rk_error *e);

/* True once the peer has closed its end of the connection. */
bool http_client_gone(http_req *r);

/* body is malloc'd and taken over (may be NULL when len is 0). */
void http_respond(http_req *r, int status, const char *content_type, char *body, size_t len);
void http_respond_json(http_req *r, int status, json_t *body /* reference stolen */);
void http_respond_error(http_req *r, const rk_error *e);
void http_respond_errorf(http_req *r, int status, const char *param, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Streams what the writer puts into st (chunked). on_close(ctx) runs when
 * the response is over, whether complete or cut off; the stream is then
 * abandoned, so a writer still going learns that the client left. */
void http_respond_stream(http_req *r, const char *content_type, http_stream *st, void (*on_close)(void *ctx),
                         void *ctx);

#endif
