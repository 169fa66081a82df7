#include "core/chat_builtin.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    char *s;
    size_t len, cap;
    bool failed;
} sbuf;

static void put_n(sbuf *b, const char *s, size_t n)
{
    if (b->failed)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t nc = b->cap ? b->cap : 256;
        while (nc < b->len + n + 1)
            nc *= 2;
        char *p = realloc(b->s, nc);
        if (!p) {
            b->failed = true;
            return;
        }
        b->s = p;
        b->cap = nc;
    }
    memcpy(b->s + b->len, s, n);
    b->len += n;
    b->s[b->len] = 0;
}

static void put(sbuf *b, const char *s)
{
    put_n(b, s, strlen(s));
}

/* Whitespace as JavaScript's String.prototype.trim sees it, which is what
 * @huggingface/jinja uses for both `| trim` and `.strip()`. */
static bool js_space(uint32_t c)
{
    return (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0xA0 || c == 0x1680 ||
           (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F ||
           c == 0x205F || c == 0x3000 || c == 0xFEFF;
}

/* Decodes the code point at s (n bytes available); *len gets its length.
 * Malformed bytes decode as themselves (never whitespace). */
static uint32_t decode(const unsigned char *s, size_t n, size_t *len)
{
    unsigned char c = s[0];
    size_t l = c < 0x80 ? 1 : c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
    if (l > n)
        l = 1;
    for (size_t i = 1; i < l; i++)
        if ((s[i] & 0xC0) != 0x80)
            l = 1;
    *len = l;
    if (l == 1)
        return c;
    uint32_t v = c & (0xFF >> (l + 1));
    for (size_t i = 1; i < l; i++)
        v = (v << 6) | (s[i] & 0x3F);
    return v;
}

static void trimmed(const char *s, const char **start, size_t *n)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t len = strlen(s), a = 0, z = len, l;
    while (a < z && js_space(decode(u + a, z - a, &l)))
        a += l;
    while (z > a) {
        size_t p = z - 1;
        while (p > a && z - p < 4 && (u[p] & 0xC0) == 0x80)
            p--;
        uint32_t c = decode(u + p, z - p, &l);
        if (p + l != z) /* not one whole character: a malformed byte */
            c = u[z - 1], p = z - 1;
        if (!js_space(c))
            break;
        z = p;
    }
    *start = s + a;
    *n = z - a;
}

static void put_trimmed(sbuf *b, const char *s)
{
    const char *t;
    size_t n;
    trimmed(s, &t, &n);
    put_n(b, t, n);
}

static const char *content_of(const chat_message *m)
{
    return m->content ? m->content : "";
}

static bool is_role(const chat_message *m, const char *r)
{
    return !strcmp(m->role, r);
}

/* Gemma and Llama 2 templates raise unless the messages after a leading
 * system one go user, assistant, user, ... (judged on "is it user"). */
static bool alternates(const chat_message *msgs, int n)
{
    for (int i = 0; i < n; i++)
        if (is_role(&msgs[i], "user") != (i % 2 == 0))
            return false;
    return true;
}

static void render_chatml(sbuf *b, const chat_message *m, int n, bool gen)
{
    for (int i = 0; i < n; i++) {
        put(b, "<|im_start|>");
        put(b, m[i].role);
        put(b, "\n");
        put(b, content_of(&m[i]));
        put(b, "<|im_end|>\n");
    }
    if (gen)
        put(b, "<|im_start|>assistant\n");
}

static void render_llama3(sbuf *b, const chat_message *m, int n, bool gen, const char *bos)
{
    for (int i = 0; i < n; i++) {
        if (i == 0)
            put(b, bos);
        put(b, "<|start_header_id|>");
        put(b, m[i].role);
        put(b, "<|end_header_id|>\n\n");
        put_trimmed(b, content_of(&m[i]));
        put(b, "<|eot_id|>");
    }
    if (gen)
        put(b, "<|start_header_id|>assistant<|end_header_id|>\n\n");
}

static bool render_gemma(sbuf *b, const chat_message *m, int n, bool gen, const char *bos)
{
    put(b, bos);
    const char *prefix = NULL;
    if (n > 0 && is_role(&m[0], "system")) {
        prefix = content_of(&m[0]);
        m++;
        n--;
    }
    if (!alternates(m, n))
        return false;
    for (int i = 0; i < n; i++) {
        put(b, "<start_of_turn>");
        put(b, is_role(&m[i], "assistant") ? "model" : m[i].role);
        put(b, "\n");
        if (i == 0 && prefix) {
            put(b, prefix);
            put(b, "\n\n");
        }
        put_trimmed(b, content_of(&m[i]));
        put(b, "<end_of_turn>\n");
    }
    if (gen)
        put(b, "<start_of_turn>model\n");
    return true;
}

static void render_smolvlm(sbuf *b, const chat_message *m, int n, bool gen)
{
    put(b, "<|im_start|>");
    for (int i = 0; i < n; i++) {
        /* Jinja's capitalize as @huggingface/jinja has it: first letter up */
        char first[2] = {m[i].role[0], 0};
        if (first[0] >= 'a' && first[0] <= 'z')
            first[0] = (char)(first[0] - 'a' + 'A');
        put(b, first);
        if (first[0])
            put(b, m[i].role + 1);
        put(b, ": ");
        put(b, content_of(&m[i]));
        put(b, "<end_of_utterance>\n");
    }
    if (gen)
        put(b, "Assistant:");
}

static bool all_digits(const char *s, size_t n, int base)
{
    if (n == 0)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        int d = c >= '0' && c <= '9'   ? c - '0'
                : c >= 'a' && c <= 'f' ? c - 'a' + 10
                : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                       : 99;
        if (d >= base)
            return false;
    }
    return true;
}

static size_t skip_digits(const char *s, size_t i, size_t n)
{
    while (i < n && s[i] >= '0' && s[i] <= '9')
        i++;
    return i;
}

/* Whether JavaScript's Number(s) is 0. Llama 2's template tests
 * `system_message != false`, which @huggingface/jinja evaluates with JS's
 * loose !=, so a system text that converts to 0 ("", blanks, "0", "0x0",
 * "1e-999") counts as no system message at all. */
static bool js_number_is_zero(const char *str)
{
    const char *s;
    size_t n;
    trimmed(str, &s, &n);
    if (n == 0)
        return true;
    if (n > 2 && s[0] == '0' && strchr("xXoObB", s[1])) {
        int base = s[1] == 'x' || s[1] == 'X' ? 16 : s[1] == 'o' || s[1] == 'O' ? 8 : 2;
        if (!all_digits(s + 2, n - 2, base))
            return false;
        for (size_t i = 2; i < n; i++)
            if (s[i] != '0')
                return false;
        return true;
    }
    /* StrDecimalLiteral: [+-] (digits [. digits] | . digits) [e [+-] digits] */
    size_t i = s[0] == '+' || s[0] == '-' ? 1 : 0;
    size_t d0 = i, d1 = skip_digits(s, i, n), f1 = d1;
    if (d1 < n && s[d1] == '.')
        f1 = skip_digits(s, d1 + 1, n);
    size_t mant = (d1 - d0) + (f1 > d1 ? f1 - d1 - 1 : 0);
    if (mant == 0)
        return false; /* also "Infinity", which is not 0 */
    i = f1;
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        size_t e = i + 1 < n && (s[i + 1] == '+' || s[i + 1] == '-') ? i + 2 : i + 1;
        size_t e1 = skip_digits(s, e, n);
        if (e1 == e)
            return false;
        i = e1;
    }
    if (i != n)
        return false;
    /* Syntax checked; the value may still underflow to 0. glibc's strtod
     * rounds correctly, as JS does. */
    char *tmp = malloc(n + 1);
    if (!tmp)
        return false;
    memcpy(tmp, s, n);
    tmp[n] = 0;
    double v = strtod(tmp, NULL);
    free(tmp);
    return v == 0.0;
}

/* Llama 2 strips the whole user turn, so with a system block only the end of
 * the user text is stripped (the block starts with "<<SYS>>"). */
static bool render_llama2(sbuf *b, const chat_message *m, int n, const char *bos)
{
    const char *sys = NULL;
    if (n > 0 && is_role(&m[0], "system")) {
        sys = content_of(&m[0]);
        if (js_number_is_zero(sys))
            sys = NULL;
        m++;
        n--;
    }
    if (!alternates(m, n))
        return false;
    for (int i = 0; i < n; i++) {
        sbuf c = {0};
        if (i == 0 && sys) {
            put(&c, "<<SYS>>\n");
            put(&c, sys);
            put(&c, "\n<</SYS>>\n\n");
        }
        put(&c, content_of(&m[i]));
        if (c.failed) {
            free(c.s);
            b->failed = true;
            return true;
        }
        if (is_role(&m[i], "user")) {
            put(b, bos);
            put(b, "[INST] ");
            put_trimmed(b, c.s);
            put(b, " [/INST]");
        } else if (is_role(&m[i], "assistant")) {
            put(b, " ");
            put_trimmed(b, c.s);
            put(b, " </s>");
        }
        free(c.s);
    }
    return true;
}

static void render_phi3(sbuf *b, const chat_message *m, int n, bool gen)
{
    for (int i = 0; i < n; i++) {
        const char *c = content_of(&m[i]);
        const char *tag = is_role(&m[i], "system") ? (*c ? "<|system|>\n" : NULL)
                          : is_role(&m[i], "user")      ? "<|user|>\n"
                          : is_role(&m[i], "assistant") ? "<|assistant|>\n"
                                                        : NULL;
        if (!tag)
            continue;
        put(b, tag);
        put(b, c);
        put(b, "<|end|>\n");
    }
    put(b, gen ? "<|assistant|>\n" : "<|endoftext|>");
}

int chat_builtin_render(chat_family f, const chat_message *msgs, int n, bool add_generation_prompt,
                        const char *bos_text, char **out)
{
    *out = NULL;
    if (n < 0 || (n > 0 && !msgs))
        return -1;
    for (int i = 0; i < n; i++)
        if (!msgs[i].role)
            return -1;
    const char *bos = bos_text ? bos_text : chat_builtin_bos(f);
    sbuf b = {0};
    bool ok = true;
    put(&b, ""); /* an empty conversation still gives a string */
    switch (f) {
    case CHAT_LLAMA3:
        render_llama3(&b, msgs, n, add_generation_prompt, bos);
        break;
    case CHAT_GEMMA:
        ok = render_gemma(&b, msgs, n, add_generation_prompt, bos);
        break;
    case CHAT_SMOLVLM:
        render_smolvlm(&b, msgs, n, add_generation_prompt);
        break;
    case CHAT_LLAMA2:
        /* the template has no generation prompt: a user turn ends in [/INST] */
        ok = render_llama2(&b, msgs, n, bos);
        break;
    case CHAT_PHI3:
        render_phi3(&b, msgs, n, add_generation_prompt);
        break;
    case CHAT_CHATML:
    default:
        render_chatml(&b, msgs, n, add_generation_prompt);
        break;
    }
    if (!ok || b.failed) {
        free(b.s);
        return -1;
    }
    *out = b.s;
    return 0;
}

static bool has(const char *hay, const char *needle)
{
    return strstr(hay, needle) != NULL;
}

chat_family chat_builtin_detect(const char *t, const char *arch)
{
    if (t && *t) {
        /* SmolVLM's template also opens with <|im_start|>, so it goes first */
        if (has(t, "<end_of_utterance>"))
            return CHAT_SMOLVLM;
        if (has(t, "<|start_header_id|>"))
            return CHAT_LLAMA3;
        if (has(t, "<start_of_turn>"))
            return CHAT_GEMMA;
        if (has(t, "<|im_start|>"))
            return CHAT_CHATML;
        if (has(t, "<|user|>") && has(t, "<|end|>"))
            return CHAT_PHI3;
        if (has(t, "[INST]"))
            return CHAT_LLAMA2;
    }
    if (arch) {
        if (!strncmp(arch, "gemma", 5))
            return CHAT_GEMMA;
        if (!strcmp(arch, "phi3"))
            return CHAT_PHI3;
        if (!strcmp(arch, "idefics3") || !strcmp(arch, "smolvlm"))
            return CHAT_SMOLVLM;
    }
    return CHAT_CHATML;
}

const char *chat_builtin_name(chat_family f)
{
    switch (f) {
    case CHAT_LLAMA3:
        return "llama3";
    case CHAT_GEMMA:
        return "gemma";
    case CHAT_SMOLVLM:
        return "smolvlm";
    case CHAT_LLAMA2:
        return "llama2";
    case CHAT_PHI3:
        return "phi3";
    case CHAT_CHATML:
    default:
        return "chatml";
    }
}

const char *chat_builtin_bos(chat_family f)
{
    switch (f) {
    case CHAT_LLAMA3:
        return "<|begin_of_text|>";
    case CHAT_GEMMA:
        return "<bos>";
    case CHAT_LLAMA2:
        return "<s>";
    default:
        return "";
    }
}

int chat_builtin_stops(chat_family f, const char **out, int cap)
{
    static const char *const chatml[] = {"<|im_end|>", "<|im_start|>"};
    static const char *const llama3[] = {"<|eot_id|>", "<|start_header_id|>"};
    static const char *const gemma[] = {"<end_of_turn>", "<start_of_turn>"};
    static const char *const smolvlm[] = {"<end_of_utterance>"};
    static const char *const llama2[] = {"</s>", "[INST]"};
    static const char *const phi3[] = {"<|end|>", "<|user|>", "<|endoftext|>"};
    const char *const *s;
    int n;
    switch (f) {
    case CHAT_LLAMA3:
        s = llama3, n = 2;
        break;
    case CHAT_GEMMA:
        s = gemma, n = 2;
        break;
    case CHAT_SMOLVLM:
        s = smolvlm, n = 1;
        break;
    case CHAT_LLAMA2:
        s = llama2, n = 2;
        break;
    case CHAT_PHI3:
        s = phi3, n = 3;
        break;
    case CHAT_CHATML:
    default:
        s = chatml, n = 2;
        break;
    }
    for (int i = 0; i < n && i < cap; i++)
        out[i] = s[i];
    return n;
}
