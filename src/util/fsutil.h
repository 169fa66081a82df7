/* Small file-system helpers shared by the modules that write files. */
#ifndef RK_FSUTIL_H
#define RK_FSUTIL_H

#include <stddef.h>

/* Creates a directory and its missing parents (mode 0755), as mkdir -p.
 * 0, or -1 with errno set for the part that could not be made. */
int mkdir_p(const char *path);

/* A whole regular file of at most max bytes, NUL-terminated (binary data is
 * fine: *len, when given, has its size). NULL with a message in err naming
 * the file (missing, not a regular file, too large, unreadable). */
char *read_file(const char *path, size_t max, size_t *len, char *err, size_t errlen);

#endif
