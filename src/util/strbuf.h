/* A growable NUL-terminated byte string. Zero-initialise, add, then free(p). */
#ifndef RK_STRBUF_H
#define RK_STRBUF_H

#include <stdbool.h>
#include <stddef.h>

typedef struct {
    char *p;
    size_t len, cap;
} strbuf;

/* Appends n bytes (n may be 0, which still makes p non-NULL and terminated).
 * Returns false when out of memory, leaving the buffer as it was. */
bool strbuf_add(strbuf *b, const char *s, size_t n);
bool strbuf_add_str(strbuf *b, const char *s);

#endif
