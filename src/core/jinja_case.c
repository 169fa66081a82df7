/* Unicode case conversion as JavaScript's toUpperCase/toLowerCase do it
 * (full mappings, final sigma), from tables generated out of Node's ICU. */
#include <stdlib.h>

#include "core/jinja_internal.h"

typedef struct {
    uint32_t first, last;
    int32_t delta;
    uint8_t stride;
} jj_case_run;

typedef struct {
    uint32_t cp;
    uint32_t to[3];
} jj_case_multi;

typedef struct {
    uint32_t first, last;
} jj_cp_range;

#include "core/jinja_case_tab.h"

static const jj_case_multi *find_multi(const jj_case_multi *t, size_t n, uint32_t cp)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (t[mid].cp == cp) return &t[mid];
        if (t[mid].cp < cp) lo = mid + 1;
        else hi = mid;
    }
    return NULL;
}

static uint32_t map_single(const jj_case_run *t, size_t n, uint32_t cp)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (cp < t[mid].first) hi = mid;
        else if (cp > t[mid].last) lo = mid + 1;
        else return (cp - t[mid].first) % t[mid].stride ? cp : (uint32_t)((int32_t)cp + t[mid].delta);
    }
    return cp;
}

static bool in_ranges(const jj_cp_range *t, size_t n, uint32_t cp)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (cp < t[mid].first) hi = mid;
        else if (cp > t[mid].last) lo = mid + 1;
        else return true;
    }
    return false;
}

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

static void put_mapped(jbuf *out, uint32_t cp, const jj_case_run *runs, size_t nruns, const jj_case_multi *multi,
                       size_t nmulti)
{
    const jj_case_multi *m = find_multi(multi, nmulti, cp);
    if (m) {
        for (int k = 0; k < 3 && m->to[k]; k++) jbuf_put_cp(out, m->to[k]);
        return;
    }
    jbuf_put_cp(out, map_single(runs, nruns, cp));
}

void jjs_upper(jbuf *out, const char *s, size_t len)
{
    for (size_t i = 0; i < len;) {
        size_t st = i;
        uint32_t cp = jutf8_next(s, len, &i);
        if (cp < 0x80) {
            char ch = (char)(cp >= 'a' && cp <= 'z' ? cp - 32 : cp);
            jbuf_put(out, &ch, 1);
        } else if (cp < 0xb5) {
            jbuf_put(out, s + st, i - st);
        } else {
            put_mapped(out, cp, jj_upper_runs, COUNT(jj_upper_runs), jj_upper_multi, COUNT(jj_upper_multi));
        }
    }
}

static bool is_cased(uint32_t cp) { return in_ranges(jj_cased, COUNT(jj_cased), cp); }
static bool is_ignorable(uint32_t cp) { return in_ranges(jj_case_ignorable, COUNT(jj_case_ignorable), cp); }

/* Final_Sigma: a cased letter (then case-ignorables) before, and no cased
 * letter (after case-ignorables) following. */
static bool final_sigma(const char *s, size_t len, size_t at, size_t after)
{
    bool before = false;
    size_t p = at;
    while (p > 0) {
        size_t q = p - 1;
        while (q > 0 && ((unsigned char)s[q] & 0xc0) == 0x80) q--;
        size_t i = q;
        uint32_t cp = jutf8_next(s, len, &i);
        p = q;
        if (is_ignorable(cp)) continue;
        before = is_cased(cp);
        break;
    }
    if (!before) return false;
    for (size_t i = after; i < len;) {
        uint32_t cp = jutf8_next(s, len, &i);
        if (is_ignorable(cp)) continue;
        return !is_cased(cp);
    }
    return true;
}

void jjs_lower(jbuf *out, const char *s, size_t len)
{
    for (size_t i = 0; i < len;) {
        size_t st = i;
        uint32_t cp = jutf8_next(s, len, &i);
        if (cp < 0x80) {
            char ch = (char)(cp >= 'A' && cp <= 'Z' ? cp + 32 : cp);
            jbuf_put(out, &ch, 1);
        } else if (cp < 0xc0) {
            jbuf_put(out, s + st, i - st);
        } else if (cp == 0x3a3 && final_sigma(s, len, st, i)) {
            jbuf_put_cp(out, 0x3c2);
        } else {
            put_mapped(out, cp, jj_lower_runs, COUNT(jj_lower_runs), jj_lower_multi, COUNT(jj_lower_multi));
        }
    }
}
