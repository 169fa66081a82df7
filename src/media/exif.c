/* The one EXIF fact rkserve uses: IFD0's Orientation tag. Every offset
 * comes from untrusted data, so each read is checked against the block. */
#include "media/image.h"

static uint32_t rd(const uint8_t *p, int n, int big)
{
    uint32_t v = 0;
    for (int i = 0; i < n; i++) v |= (uint32_t)p[big ? i : n - 1 - i] << (8 * (n - 1 - i));
    return v;
}

int exif_orientation_tiff(const uint8_t *t, size_t len)
{
    if (!t || len < 8) return 1;
    int big;
    if (t[0] == 'I' && t[1] == 'I') big = 0;
    else if (t[0] == 'M' && t[1] == 'M') big = 1;
    else return 1;
    if (rd(t + 2, 2, big) != 42) return 1;
    uint32_t ifd = rd(t + 4, 4, big);
    if (ifd > len || len - ifd < 2) return 1;
    uint32_t count = rd(t + ifd, 2, big);
    for (uint32_t i = 0; i < count; i++) {
        uint64_t at = (uint64_t)ifd + 2 + (uint64_t)i * 12;
        if (at + 12 > len) return 1;
        const uint8_t *e = t + at;
        if (rd(e, 2, big) != 0x0112) continue;
        uint32_t type = rd(e + 2, 2, big), n = rd(e + 4, 4, big);
        /* SHORT, one value, stored left-justified in the value field */
        if (type != 3 || n < 1) return 1;
        uint32_t v = rd(e + 8, 2, big);
        return v >= 1 && v <= 8 ? (int)v : 1;
    }
    return 1;
}
