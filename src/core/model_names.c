#include "core/model_names.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* general.file_type values, llama.cpp's LLAMA_FTYPE numbering. Gaps are
 * values llama.cpp retired or never used. */
static const char *const FTYPE_NAMES[] = {
    [0] = "F32",      [1] = "F16",     [2] = "Q4_0",     [3] = "Q4_1",     [7] = "Q8_0",
    [8] = "Q5_0",     [9] = "Q5_1",    [10] = "Q2_K",    [11] = "Q3_K_S",  [12] = "Q3_K_M",
    [13] = "Q3_K_L",  [14] = "Q4_K_S", [15] = "Q4_K_M",  [16] = "Q5_K_S",  [17] = "Q5_K_M",
    [18] = "Q6_K",    [19] = "IQ2_XXS", [20] = "IQ2_XS", [21] = "Q2_K_S",  [22] = "IQ3_XS",
    [23] = "IQ3_XXS", [24] = "IQ1_S",  [25] = "IQ4_NL",  [26] = "IQ3_S",   [27] = "IQ3_M",
    [28] = "IQ2_S",   [29] = "IQ2_M",  [30] = "IQ4_XS",  [31] = "IQ1_M",   [32] = "BF16",
    [36] = "TQ1_0",   [37] = "TQ2_0",  [38] = "MXFP4_MOE", [39] = "NVFP4", [40] = "Q1_0",
};

/* Files written without a declared type carry this bit (llama.cpp's "guessed"). */
#define FTYPE_GUESSED 1024u

const char *model_ftype_name(uint32_t ftype)
{
    ftype &= ~FTYPE_GUESSED;
    if (ftype >= sizeof FTYPE_NAMES / sizeof FTYPE_NAMES[0])
        return NULL;
    return FTYPE_NAMES[ftype];
}

static bool eq_ci(const char *s, size_t len, const char *lit)
{
    return strlen(lit) == len && strncasecmp(s, lit, len) == 0;
}

static bool all_digits(const char *s, size_t len)
{
    if (len == 0)
        return false;
    for (size_t i = 0; i < len; i++)
        if (!isdigit((unsigned char)s[i]))
            return false;
    return true;
}

bool model_is_gguf_quant(const char *s, size_t len)
{
    static const char *const plain[] = {"F32", "F16", "BF16", "F64", "MXFP4", "MXFP4_MOE",
                                        "NVFP4", "TQ1_0", "TQ2_0"};
    for (size_t i = 0; i < sizeof plain / sizeof plain[0]; i++)
        if (eq_ci(s, len, plain[i]))
            return true;
    /* Q<bits>_<variant> and IQ<bits>_<variant> */
    size_t i = 0;
    if (len > 0 && (s[0] == 'i' || s[0] == 'I'))
        i = 1;
    if (i >= len || (s[i] != 'q' && s[i] != 'Q'))
        return false;
    i++;
    if (i >= len || !isdigit((unsigned char)s[i]))
        return false;
    i++;
    if (i >= len || s[i] != '_')
        return false;
    i++;
    static const char *const variants[] = {"0",   "1",   "K",  "K_S", "K_M", "K_L", "K_XL",
                                           "NL",  "XXS", "XS", "S",   "M",   "L",   "XL"};
    for (size_t v = 0; v < sizeof variants / sizeof variants[0]; v++)
        if (eq_ci(s + i, len - i, variants[v]))
            return true;
    return false;
}

bool model_split_name(const char *stem, size_t len, size_t *prefix_len, int *index, int *count)
{
    /* walk back over "-DIGITS-of-DIGITS" */
    size_t e = len, b = e;
    while (b > 0 && isdigit((unsigned char)stem[b - 1]))
        b--;
    if (b == e || e - b > 9 || b < 4 || strncasecmp(stem + b - 4, "-of-", 4) != 0)
        return false;
    int n_count = atoi(stem + b);
    e = b - 4;
    b = e;
    while (b > 0 && isdigit((unsigned char)stem[b - 1]))
        b--;
    if (b == e || e - b > 9 || b < 2 || stem[b - 1] != '-')
        return false;
    int n_index = atoi(stem + b);
    if (n_index < 1 || n_count < 1 || n_index > n_count)
        return false;
    if (prefix_len)
        *prefix_len = b - 1;
    if (index)
        *index = n_index;
    if (count)
        *count = n_count;
    return true;
}

static size_t strip_extension(const char *name, size_t len)
{
    static const char *const exts[] = {".gguf", ".rkllm", ".rknn", ".bin", ".json"};
    for (size_t i = 0; i < sizeof exts / sizeof exts[0]; i++) {
        size_t el = strlen(exts[i]);
        if (len > el && strncasecmp(name + len - el, exts[i], el) == 0)
            return len - el;
    }
    return len;
}

void model_file_stem(const char *file_name, char *out, size_t cap)
{
    if (!cap)
        return;
    const char *slash = strrchr(file_name, '/');
    const char *name = slash ? slash + 1 : file_name;
    size_t len = strip_extension(name, strlen(name));
    size_t prefix;
    if (model_split_name(name, len, &prefix, NULL, NULL))
        len = prefix;
    if (len >= cap)
        len = cap - 1;
    memcpy(out, name, len);
    out[len] = 0;
}

void model_name_normalize(const char *in, char *out, size_t cap)
{
    if (!cap)
        return;
    size_t n = 0;
    bool dash = false;
    for (const char *p = in; *p; p++) {
        unsigned char c = (unsigned char)tolower((unsigned char)*p);
        bool keep = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_';
        if (!keep) {
            dash = n > 0;
            continue;
        }
        if (dash && n + 1 < cap)
            out[n++] = '-';
        dash = false;
        if (c == '.' && (n == 0 || out[n - 1] == '.' || out[n - 1] == '-'))
            continue; /* never "..", never a leading '.' or ".-" */
        if (n + 1 < cap)
            out[n++] = (char)c;
    }
    while (n > 0 && (out[n - 1] == '-' || out[n - 1] == '.'))
        n--;
    out[n] = 0;
}

/* 0.6B, 135M, 8x7B, 1T; 'k' is left out: "4k" in a name is a context size. */
static bool is_size_token(const char *s, size_t len)
{
    if (len < 2)
        return false;
    char u = (char)tolower((unsigned char)s[len - 1]);
    if (u != 'm' && u != 'b' && u != 't')
        return false;
    size_t i = 0, n = len - 1;
    const char *x = memchr(s, 'x', n);
    if (x) {
        size_t xl = (size_t)(x - s);
        if (!all_digits(s, xl))
            return false;
        i = xl + 1;
    }
    size_t digits = 0;
    bool dot = false;
    for (; i < n; i++) {
        if (isdigit((unsigned char)s[i]))
            digits++;
        else if (s[i] == '.' && !dot && digits > 0)
            dot = true;
        else
            return false;
    }
    return digits > 0 && s[n - 1] != '.';
}

static bool prefix_digits(const char *s, size_t len, const char *prefix, size_t *rest)
{
    size_t pl = strlen(prefix);
    if (len <= pl || strncasecmp(s, prefix, pl) != 0)
        return false;
    *rest = pl;
    return true;
}

typedef struct {
    model_name_parts *out;
    char base[256];
    size_t base_len;
    bool have_size;
    bool want_group; /* the previous token was wNaM: a gNNN may follow */
} parse_state;

static void copy_upper(char *dst, size_t cap, const char *s, size_t len)
{
    if (len >= cap)
        len = cap - 1;
    for (size_t i = 0; i < len; i++)
        dst[i] = (char)toupper((unsigned char)s[i]);
    dst[len] = 0;
}

static void add_base(parse_state *st, const char *s, size_t len)
{
    if (st->base_len && st->base_len + 1 < sizeof st->base)
        st->base[st->base_len++] = '-';
    for (size_t i = 0; i < len && st->base_len + 1 < sizeof st->base; i++)
        st->base[st->base_len++] = s[i];
    st->base[st->base_len] = 0;
}

static void classify(parse_state *st, const char *s, size_t len)
{
    model_name_parts *o = st->out;
    bool group = st->want_group;
    st->want_group = false;
    if (len == 0)
        return;
    size_t r;
    if (group && len > 1 && (s[0] == 'g' || s[0] == 'G') && all_digits(s + 1, len - 1)) {
        size_t ql = strlen(o->quant);
        if (ql + 1 + len < sizeof o->quant) {
            o->quant[ql] = '_';
            copy_upper(o->quant + ql + 1, sizeof o->quant - ql - 1, s, len);
        }
        return;
    }
    if (!o->quant[0] && len >= 4 && (s[0] == 'w' || s[0] == 'W')) {
        size_t i = 1, d1 = 0, d2 = 0;
        while (i < len && isdigit((unsigned char)s[i])) i++, d1++;
        if (d1 && i < len && (s[i] == 'a' || s[i] == 'A')) {
            i++;
            while (i < len && isdigit((unsigned char)s[i])) i++, d2++;
            if (d2 && i == len) {
                copy_upper(o->quant, sizeof o->quant, s, len);
                o->npu_quant = true;
                st->want_group = true;
                return;
            }
        }
    }
    if (model_is_gguf_quant(s, len)) {
        if (!o->quant[0])
            copy_upper(o->quant, sizeof o->quant, s, len);
        return;
    }
    if (prefix_digits(s, len, "ctx", &r)) {
        size_t n = len - r;
        bool k = tolower((unsigned char)s[len - 1]) == 'k';
        if (all_digits(s + r, k ? n - 1 : n)) {
            if (!o->ctx) {
                long long v = strtoll(s + r, NULL, 10);
                if (k)
                    v *= 1024;
                if (v > 0 && v < (1LL << 40))
                    o->ctx = v;
            }
            return;
        }
    }
    if (prefix_digits(s, len, "npu", &r) && all_digits(s + r, len - r)) {
        if (!o->npu_cores)
            o->npu_cores = atoi(s + r);
        return;
    }
    if ((prefix_digits(s, len, "opt", &r) || prefix_digits(s, len, "hybrid", &r))) {
        bool num = true;
        for (size_t i = r; i < len; i++)
            if (!isdigit((unsigned char)s[i]) && s[i] != '.')
                num = false;
        if (num)
            return;
    }
    if ((prefix_digits(s, len, "rk", &r) || prefix_digits(s, len, "rv", &r))) {
        size_t d = 0;
        while (r + d < len && isdigit((unsigned char)s[r + d]))
            d++;
        size_t tail = len - r - d;
        if (d >= 3 && d <= 4 && tail <= 1 && (tail == 0 || isalpha((unsigned char)s[len - 1]))) {
            if (!o->target[0]) {
                size_t n = len < sizeof o->target ? len : sizeof o->target - 1;
                for (size_t i = 0; i < n; i++)
                    o->target[i] = (char)tolower((unsigned char)s[i]);
                o->target[n] = 0;
            }
            return;
        }
    }
    if (is_size_token(s, len)) {
        if (!st->have_size) {
            size_t n = len < sizeof o->size ? len : sizeof o->size - 1;
            for (size_t i = 0; i < n; i++)
                o->size[i] = (char)tolower((unsigned char)s[i]);
            o->size[n] = 0;
            st->have_size = true;
        }
        return;
    }
    if (!st->have_size)
        add_base(st, s, len);
}

/* One '-' separated piece: a quant may hang off it after '_' or '.'
 * ("v1.0.Q4_K_M", "model_q8_0"); the rest splits at '_'. */
static void parse_piece(parse_state *st, const char *s, size_t len)
{
    if (model_is_gguf_quant(s, len)) {
        classify(st, s, len);
        return;
    }
    for (size_t i = 1; i + 1 < len; i++) {
        if ((s[i] == '_' || s[i] == '.') && model_is_gguf_quant(s + i + 1, len - i - 1)) {
            parse_piece(st, s, i);
            classify(st, s + i + 1, len - i - 1);
            return;
        }
    }
    size_t b = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i == len || s[i] == '_') {
            classify(st, s + b, i - b);
            b = i + 1;
        }
    }
}

void model_name_parse(const char *file_name, model_name_parts *out)
{
    memset(out, 0, sizeof *out);
    char stem[512];
    model_file_stem(file_name, stem, sizeof stem);
    parse_state st = {.out = out};
    size_t len = strlen(stem), b = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i == len || stem[i] == '-' || stem[i] == ' ') {
            if (i > b)
                parse_piece(&st, stem + b, i - b);
            b = i + 1;
        }
    }
    model_name_normalize(st.base, out->base, sizeof out->base);
}

void model_param_label(uint64_t n, char *out, size_t cap)
{
    if (!cap)
        return;
    if (n == 0)
        out[0] = 0;
    else if (n >= 1000000000ull)
        snprintf(out, cap, "%.1fB", (double)n / 1e9);
    else
        snprintf(out, cap, "%" PRIu64 "M", n < 500000u ? (uint64_t)1 : (n + 500000u) / 1000000u);
}
