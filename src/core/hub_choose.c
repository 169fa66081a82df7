/* Choosing what to download from a repository listing (rules in hub.h).
 * Pure: works on the listing only, so every rule is unit-tested. */
#include "core/hub.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/model_names.h"

static const char *base(const char *p)
{
    const char *s = strrchr(p, '/');
    return s ? s + 1 : p;
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && !strcasecmp(s + n - k, suffix);
}

static size_t dir_len(const char *p)
{
    const char *s = strrchr(p, '/');
    return s ? (size_t)(s - p) : 0;
}

static bool same_dir(const char *a, const char *b)
{
    size_t n = dir_len(a);
    return n == dir_len(b) && !strncmp(a, b, n);
}

bool hub_name_has_word(const char *name, const char *word)
{
    size_t wl = strlen(word);
    if (!wl) return false;
    for (const char *p = name; (p = strcasestr(p, word)); p++) {
        bool start = p == name || !isalnum((unsigned char)p[-1]);
        unsigned char after = (unsigned char)p[wl];
        if (start && !isalnum(after) && after != '_') return true;
    }
    return false;
}

/* an SoC token (rk3588, rk3576, rk3562, rv1126...) anywhere in the name */
static bool names_some_soc(const char *name)
{
    for (const char *p = name; *p; p++) {
        if ((p == name || !isalnum((unsigned char)p[-1])) && (tolower((unsigned char)p[0]) == 'r') &&
            (tolower((unsigned char)p[1]) == 'k' || tolower((unsigned char)p[1]) == 'v') &&
            isdigit((unsigned char)p[2]) && isdigit((unsigned char)p[3]) && isdigit((unsigned char)p[4]) &&
            isdigit((unsigned char)p[5]))
            return true;
    }
    return false;
}

static bool is_mmproj(const char *path)
{
    return !strncasecmp(base(path), "mmproj", 6) && ends_with(path, ".gguf");
}

static bool is_model(const char *path)
{
    return ends_with(path, ".rkllm") || (ends_with(path, ".gguf") && !is_mmproj(path));
}

/* split index of a GGUF shard, 0 when not split */
static int split_index(const char *path, size_t *prefix, int *count)
{
    const char *b = base(path);
    size_t len = strlen(b);
    if (len < 5 || strcasecmp(b + len - 5, ".gguf")) return 0;
    int idx = 0, cnt = 0;
    if (!model_split_name(b, len - 5, prefix, &idx, &cnt) || cnt <= 1) return 0;
    if (count) *count = cnt;
    return idx;
}

/* natural order: digit runs compare as numbers, so shard 2 comes before 10 */
static int natural_cmp(const char *a, const char *b)
{
    while (*a && *b) {
        if (isdigit((unsigned char)*a) && isdigit((unsigned char)*b)) {
            unsigned long long x = strtoull(a, (char **)&a, 10), y = strtoull(b, (char **)&b, 10);
            if (x != y) return x < y ? -1 : 1;
            continue;
        }
        if (*a != *b) return (unsigned char)*a < (unsigned char)*b ? -1 : 1;
        a++, b++;
    }
    return (unsigned char)*a - (unsigned char)*b;
}

/* insertion sort by file name: listings are short */
static void sort_idx(const hub_file *files, int *idx, int n)
{
    for (int i = 1; i < n; i++) {
        int v = idx[i], j = i;
        while (j > 0 && natural_cmp(base(files[idx[j - 1]].path), base(files[v].path)) > 0) {
            idx[j] = idx[j - 1];
            j--;
        }
        idx[j] = v;
    }
}

/* names differing only in their numbers: shards of one encoder */
static bool digits_only_differ(const char *a, const char *b)
{
    while (*a && *b) {
        bool da = isdigit((unsigned char)*a), db = isdigit((unsigned char)*b);
        if (da && db) {
            while (isdigit((unsigned char)*a)) a++;
            while (isdigit((unsigned char)*b)) b++;
            continue;
        }
        if (tolower((unsigned char)*a) != tolower((unsigned char)*b)) return false;
        a++, b++;
    }
    return !*a && !*b;
}

static void list_names(const hub_file *files, const int *idx, int n, char *out, size_t cap)
{
    size_t used = 0;
    out[0] = 0;
    for (int i = 0; i < n && used + 1 < cap; i++) {
        int w = snprintf(out + used, cap - used, "%s%s", i ? ", " : "", files[idx[i]].path);
        if (w < 0) break;
        used += (size_t)w;
        if (i == 11 && n > 12) {
            snprintf(out + (used < cap ? used : cap - 1), cap - (used < cap ? used : cap - 1), ", ...");
            break;
        }
    }
    if (!n) snprintf(out, cap, "none");
}

static int keep(const hub_file *files, int *idx, int n, bool (*pred)(const hub_file *, const void *), const void *arg)
{
    int m = 0;
    for (int i = 0; i < n; i++)
        if (pred(&files[idx[i]], arg)) idx[m++] = idx[i];
    return m;
}

static bool p_word(const hub_file *f, const void *w)
{
    return hub_name_has_word(base(f->path), w);
}

static bool p_substr(const hub_file *f, const void *w)
{
    return strcasestr(base(f->path), w) != NULL;
}

static bool p_rkllm(const hub_file *f, const void *arg)
{
    (void)arg;
    return ends_with(f->path, ".rkllm");
}

static bool p_no_soc(const hub_file *f, const void *arg)
{
    (void)arg;
    return !names_some_soc(base(f->path));
}

static const char *const GGUF_ORDER[] = {"Q4_K_M", "Q4_0", "Q8_0", "Q4_K_S", "Q5_K_M", "Q5_0", "Q6_K",
                                         "Q3_K_M", "IQ4_XS", "Q2_K", "F16", "BF16", "F32"};
static const char *const RKLLM_ORDER[] = {"w8a8", "w4a16"};
static const char *const MMPROJ_ORDER[] = {"F16", "Q8_0", "BF16", "F32"};

static int first_by_order(const hub_file *files, const int *idx, int n, const char *const *order, size_t n_order)
{
    for (size_t q = 0; q < n_order; q++)
        for (int i = 0; i < n; i++)
            if (hub_name_has_word(base(files[idx[i]].path), order[q])) return idx[i];
    return n ? idx[0] : -1;
}

static int add_shards(const hub_file *files, int n, hub_choice *out, char *err, size_t errlen)
{
    const char *chosen = files[out->model].path;
    size_t prefix = 0;
    int count = 0;
    int idx = split_index(chosen, &prefix, &count);
    out->parts[0] = out->model;
    out->n_parts = 1;
    if (!idx) return 0;
    if (count > (int)(sizeof out->parts / sizeof out->parts[0])) {
        snprintf(err, errlen, "%s is split into %d files; at most %zu are supported", chosen, count,
                 sizeof out->parts / sizeof out->parts[0]);
        return -1;
    }
    out->n_parts = 0;
    for (int want = 1; want <= count; want++) {
        int found = -1;
        for (int i = 0; i < n && found < 0; i++) {
            size_t p2 = 0;
            int c2 = 0;
            if (same_dir(files[i].path, chosen) && split_index(files[i].path, &p2, &c2) == want && c2 == count &&
                p2 == prefix && !strncmp(base(files[i].path), base(chosen), prefix))
                found = i;
        }
        if (found < 0) {
            snprintf(err, errlen, "%s is split into %d files, but part %d is not in the repository", chosen, count,
                     want);
            return -1;
        }
        out->parts[out->n_parts++] = found;
    }
    out->model = out->parts[0];
    return 0;
}

static void add_vision(const hub_file *files, int n, const char *soc, hub_choice *out)
{
    const char *chosen = files[out->model].path;
    int *c = malloc(sizeof *c * (size_t)(n ? n : 1));
    if (!c) return;
    int m = 0;
    out->n_vision = 0;
    if (ends_with(chosen, ".gguf")) {
        for (int i = 0; i < n; i++)
            if (is_mmproj(files[i].path) && same_dir(files[i].path, chosen)) c[m++] = i;
        sort_idx(files, c, m);
        int pick = first_by_order(files, c, m, MMPROJ_ORDER, sizeof MMPROJ_ORDER / sizeof MMPROJ_ORDER[0]);
        if (pick >= 0) out->vision[out->n_vision++] = pick;
        free(c);
        return;
    }
    for (int i = 0; i < n; i++)
        if (ends_with(files[i].path, ".rknn") && same_dir(files[i].path, chosen)) c[m++] = i;
    int *sel = malloc(sizeof *sel * (size_t)(m ? m : 1));
    if (!sel) {
        free(c);
        return;
    }
    int k = 0;
    if (soc && *soc)
        for (int i = 0; i < m; i++)
            if (hub_name_has_word(base(files[c[i]].path), soc)) sel[k++] = c[i];
    if (!k)
        for (int i = 0; i < m; i++)
            if (!names_some_soc(base(files[c[i]].path))) sel[k++] = c[i];
    sort_idx(files, sel, k);
    if (k) {
        bool shards = true;
        for (int i = 1; i < k; i++)
            if (!digits_only_differ(base(files[sel[0]].path), base(files[sel[i]].path))) shards = false;
        int take = shards ? k : 1;
        int cap = (int)(sizeof out->vision / sizeof out->vision[0]);
        for (int i = 0; i < take && i < cap; i++) out->vision[out->n_vision++] = sel[i];
    }
    free(sel);
    free(c);
}

int hub_choose(const hub_file *files, int n, const char *soc, const char *tag, const char *file, hub_choice *out,
               char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    out->model = -1;
    if (!soc) soc = "";
    if (file && *file) {
        int found = -1;
        for (int i = 0; i < n && found < 0; i++)
            if (!strcmp(files[i].path, file)) found = i;
        for (int i = 0; i < n && found < 0; i++)
            if (!strcasecmp(files[i].path, file)) found = i;
        if (found < 0) {
            snprintf(err, errlen, "no file '%s' in the repository", file);
            return -1;
        }
        if (!is_model(files[found].path)) {
            snprintf(err, errlen, "'%s' is not a model file (a .gguf other than mmproj*, or an .rkllm)%s", file,
                     is_mmproj(file) || ends_with(file, ".rknn") ? ": it is a vision companion, which comes along "
                                                                   "with its model"
                                                                 : "");
            return -1;
        }
        out->model = found;
    } else {
        int *c = malloc(sizeof *c * (size_t)(n ? n : 1));
        int *t = malloc(sizeof *t * (size_t)(n ? n : 1));
        if (!c || !t) {
            free(c);
            free(t);
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        int m = 0;
        for (int i = 0; i < n; i++)
            if (is_model(files[i].path) && split_index(files[i].path, NULL, NULL) <= 1) c[m++] = i;
        sort_idx(files, c, m);
        char names[1024];
        if (!m) {
            snprintf(err, errlen, "the repository has no .gguf or .rkllm model file");
            free(c);
            free(t);
            return -1;
        }
        if (tag && *tag) {
            memcpy(t, c, sizeof *c * (size_t)m);
            int k = keep(files, t, m, p_word, tag);
            if (!k) {
                memcpy(t, c, sizeof *c * (size_t)m);
                k = keep(files, t, m, p_substr, tag);
            }
            if (!k) {
                list_names(files, c, m, names, sizeof names);
                snprintf(err, errlen, "no model file matches ':%s' (model files: %s)", tag, names);
                free(c);
                free(t);
                return -1;
            }
            memcpy(c, t, sizeof *c * (size_t)k);
            m = k;
        }
        memcpy(t, c, sizeof *c * (size_t)m);
        int rk = keep(files, t, m, p_rkllm, NULL);
        int pick = -1;
        if (rk) {
            int *s = malloc(sizeof *s * (size_t)rk);
            int k = 0;
            if (s && *soc) {
                memcpy(s, t, sizeof *s * (size_t)rk);
                k = keep(files, s, rk, p_word, soc);
            }
            if (s && !k) {
                memcpy(s, t, sizeof *s * (size_t)rk);
                k = keep(files, s, rk, p_no_soc, NULL);
            }
            if (s && !k && (!*soc || (tag && *tag))) { /* not a board, or the tag chose */
                memcpy(s, t, sizeof *s * (size_t)rk);
                if (!*soc) k = keep(files, s, rk, p_word, "rk3588");
                if (!k) {
                    memcpy(s, t, sizeof *s * (size_t)rk);
                    k = rk;
                }
            }
            if (k) {
                sort_idx(files, s, k);
                pick = first_by_order(files, s, k, RKLLM_ORDER, sizeof RKLLM_ORDER / sizeof RKLLM_ORDER[0]);
            }
            free(s);
            if (pick < 0 && rk == m) {
                list_names(files, t, rk, names, sizeof names);
                snprintf(err, errlen,
                         "no .rkllm file in the repository is built for this board's %s (files: %s); name one "
                         "with hf.co/OWNER/REPO/FILE if it should run anyway",
                         soc, names);
                free(c);
                free(t);
                return -1;
            }
        }
        if (pick < 0) { /* GGUFs */
            int g = 0;
            for (int i = 0; i < m; i++)
                if (!ends_with(files[c[i]].path, ".rkllm")) t[g++] = c[i];
            pick = first_by_order(files, t, g, GGUF_ORDER, sizeof GGUF_ORDER / sizeof GGUF_ORDER[0]);
        }
        free(c);
        free(t);
        out->model = pick;
    }
    if (add_shards(files, n, out, err, errlen)) return -1;
    add_vision(files, n, soc, out);
    return 0;
}
