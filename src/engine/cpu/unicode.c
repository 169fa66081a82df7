/* Unicode class look-ups by binary search over generated ranges. */
#include "engine/cpu/unicode.h"

static const unicode_range *find_range(const unicode_range *r, size_t n, uint32_t cp)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (cp < r[mid].first)
            hi = mid;
        else if (cp > r[mid].last)
            lo = mid + 1;
        else
            return &r[mid];
    }
    return NULL;
}

unicode_class unicode_class_of(uint32_t cp)
{
    if (cp > 0x10FFFF)
        return UC_C;
    const unicode_range *r = find_range(unicode_class_ranges, unicode_class_ranges_len, cp);
    return r ? (unicode_class)r->cls : UC_C;
}

bool unicode_is_space(uint32_t cp)
{
    return cp <= 0x10FFFF && find_range(unicode_space_ranges, unicode_space_ranges_len, cp) != NULL;
}

unsigned unicode_flags(uint32_t cp)
{
    unsigned f = 0;
    if (cp < 0x80) {
        /* ASCII fast path: most text is mostly ASCII */
        if ((cp | 0x20) >= 'a' && (cp | 0x20) <= 'z')
            return UF_LETTER;
        if (cp >= '0' && cp <= '9')
            return UF_NUMBER;
        if (cp == '\r' || cp == '\n')
            return UF_SPACE | UF_NEWLINE;
        if (cp == ' ' || (cp >= 0x09 && cp <= 0x0D))
            return UF_SPACE;
        return 0;
    }
    unicode_class c = unicode_class_of(cp);
    if (c == UC_L)
        f |= UF_LETTER;
    else if (c == UC_N)
        f |= UF_NUMBER;
    if (unicode_is_space(cp))
        f |= UF_SPACE;
    return f;
}
