#include <stdio.h>
#include <string.h>

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "--version") == 0) {
        printf("rkserve %s\n", RKSERVE_VERSION);
        return 0;
    }
    fprintf(stderr, "usage: rkserve COMMAND [options]\n");
    return 2;
}
