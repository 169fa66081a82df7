/* UTF-8 coding and class look-ups by binary search over generated ranges. */
#include "engine/cpu/unicode.h"

size_t utf8_valid_len(const unsigned char *s, size_t len)
{
    if (len == 0)
        return 0;
    unsigned char c = s[0];
    if (c < 0x80)
        return 1;
    size_t need;
    unsigned char lo = 0x80, hi = 0xBF; /* allowed range of the second byte */
    if (c >= 0xC2 && c <= 0xDF) {
        need = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
        need = 3;
        if (c == 0xE0)
            lo = 0xA0; /* no overlong forms */
        else if (c == 0xED)
            hi = 0x9F; /* no surrogates */
    } else if (c >= 0xF0 && c <= 0xF4) {
        need = 4;
        if (c == 0xF0)
            lo = 0x90;
        else if (c == 0xF4)
            hi = 0x8F; /* nothing past U+10FFFF */
    } else {
        return 0;
    }
    if (len < need)
        return 0;
    if (s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < need; i++)
        if ((s[i] & 0xC0) != 0x80)
            return 0;
    return need;
}

uint32_t utf8_decode(const unsigned char *s, size_t len, size_t *n)
{
    size_t k = utf8_valid_len(s, len);
    switch (k) {
    case 1:
        *n = 1;
        return s[0];
    case 2:
        *n = 2;
        return ((uint32_t)(s[0] & 0x1F) << 6) | (s[1] & 0x3F);
    case 3:
        *n = 3;
        return ((uint32_t)(s[0] & 0x0F) << 12) | ((uint32_t)(s[1] & 0x3F) << 6) | (s[2] & 0x3F);
    case 4:
        *n = 4;
        return ((uint32_t)(s[0] & 0x07) << 18) | ((uint32_t)(s[1] & 0x3F) << 12) |
               ((uint32_t)(s[2] & 0x3F) << 6) | (s[3] & 0x3F);
    default:
        *n = 1;
        return UNICODE_INVALID_BASE | s[0];
    }
}

size_t utf8_encode(uint32_t cp, char out[4])
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

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
