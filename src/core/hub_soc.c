/* Which Rockchip SoC this is, for choosing an .rkllm built for it. The
 * device tree's compatible list ends with the SoC ("rockchip,rk3588"); the
 * RK3588S runs RK3588 models. */
#include "core/hub.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void hub_soc_from_compatible(const char *data, size_t len, char *out, size_t cap)
{
    if (!cap) return;
    out[0] = 0;
    size_t i = 0;
    while (i < len) {
        const char *s = data + i;
        size_t n = strnlen(s, len - i);
        if (n > 11 && !strncmp(s, "rockchip,rk", 11) && isdigit((unsigned char)s[11])) {
            size_t d = 11;
            while (d < n && isdigit((unsigned char)s[d])) d++;
            /* "rockchip,rk3588s": the digits name the NPU family; a board
             * name ("rockchip,rk3588-evb1") still starts with the SoC */
            size_t k = d - 9;
            if (k + 1 <= cap) {
                memcpy(out, s + 9, k);
                out[k] = 0;
            }
        }
        i += n + 1;
    }
}

void hub_board_soc(char *out, size_t cap)
{
    if (!cap) return;
    out[0] = 0;
    const char *path = getenv("RKSERVE_DT_COMPATIBLE");
    if (!path || !*path) path = "/proc/device-tree/compatible";
    FILE *f = fopen(path, "rb");
    if (!f) return;
    char buf[4096];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    hub_soc_from_compatible(buf, n, out, cap);
}
