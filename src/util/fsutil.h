/* Small file-system helpers shared by the modules that write files. */
#ifndef RK_FSUTIL_H
#define RK_FSUTIL_H

/* Creates a directory and its missing parents (mode 0755), as mkdir -p.
 * 0, or -1 with errno set for the part that could not be made. */
int mkdir_p(const char *path);

#endif
