/* Tool call text to (name, arguments). jansson validates and decodes; a
 * small scanner finds where the arguments value lies in the text so it can
 * be returned as written (jansson would reprint numbers, e.g. 0.1 as
 * 0.10000000000000001, and refuse integers past 64 bits). */
#include "core/chat_output_calls.h"
#include "util/strbuf.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

/* INT_AS_REAL: validation must not fail on integers wider than json_int_t */
#define DECODE_FLAGS (JSON_DECODE_INT_AS_REAL | JSON_ALLOW_NUL)

static char *dup_n(const char *s, size_t n)
{
    char *d = malloc(n + 1);
    if (d) {
        if (n)
            memcpy(d, s, n);
        d[n] = 0;
    }
    return d;
}

static bool is_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static size_t skip_ws(const char *s, size_t i, size_t n)
{
    while (i < n && is_ws(s[i]))
        i++;
    return i;
}

static bool starts(const char *s, size_t i, size_t n, const char *lit)
{
    size_t l = strlen(lit);
    return n - i >= l && memcmp(s + i, lit, l) == 0;
}

/* Index of lit in s[from, n), or n when absent. */
static size_t find(const char *s, size_t from, size_t n, const char *lit)
{
    size_t l = strlen(lit);
    for (size_t i = from; i + l <= n; i++)
        if (memcmp(s + i, lit, l) == 0)
            return i;
    return n;
}

/* End (one past) of the JSON string opening at s[i], or 0 if it never closes. */
static size_t string_end(const char *s, size_t i, size_t n)
{
    for (i++; i < n; i++) {
        if (s[i] == '\\')
            i++;
        else if (s[i] == '"')
            return i + 1;
    }
    return 0;
}

/* End of the JSON value starting at s[i], or 0. Only finds the extent;
 * jansson decides validity. Iterative, so deep nesting costs no stack. */
static size_t value_end(const char *s, size_t i, size_t n)
{
    if (i >= n)
        return 0;
    if (s[i] == '"')
        return string_end(s, i, n);
    if (s[i] == '{' || s[i] == '[') {
        size_t depth = 0;
        for (; i < n; i++) {
            char c = s[i];
            if (c == '"') {
                size_t e = string_end(s, i, n);
                if (!e)
                    return 0;
                i = e - 1;
            } else if (c == '{' || c == '[') {
                depth++;
            } else if (c == '}' || c == ']') {
                if (--depth == 0)
                    return i + 1;
            }
        }
        return 0;
    }
    size_t st = i;
    while (i < n && !is_ws(s[i]) && !strchr(",:[]{}\"", s[i]))
        i++;
    return i > st ? i : 0;
}

static bool key_equals(const char *raw, size_t rn, const char *key)
{
    if (!memchr(raw, '\\', rn))
        return rn - 2 == strlen(key) && memcmp(raw + 1, key, rn - 2) == 0;
    json_error_t err;
    json_t *k = json_loadb(raw, rn, JSON_DECODE_ANY | JSON_ALLOW_NUL, &err);
    bool eq = json_is_string(k) && json_string_length(k) == strlen(key) && !strcmp(json_string_value(k), key);
    json_decref(k);
    return eq;
}

/* Where the value of member key lies in the object text s[0, n) (already
 * valid JSON). The last occurrence wins, as in jansson's decoding. */
static bool find_member(const char *s, size_t n, const char *key, size_t *vs, size_t *ve)
{
    bool found = false;
    size_t i = 1;
    for (;;) {
        i = skip_ws(s, i, n);
        if (i >= n || s[i] != '"')
            break;
        size_t ke = string_end(s, i, n);
        if (!ke)
            break;
        bool match = key_equals(s + i, ke - i, key);
        i = skip_ws(s, ke, n);
        if (i >= n || s[i] != ':')
            break;
        i = skip_ws(s, i + 1, n);
        size_t e = value_end(s, i, n);
        if (!e)
            break;
        if (match) {
            *vs = i;
            *ve = e;
            found = true;
        }
        i = skip_ws(s, e, n);
        if (i < n && s[i] == ',')
            i++;
    }
    return found;
}

static bool name_allowed(const chat_call_rules *r, const char *name)
{
    if (r->n_names <= 0)
        return true;
    for (int i = 0; i < r->n_names; i++)
        if (r->names[i] && !strcmp(r->names[i], name))
            return true;
    return false;
}

static int list_add(chat_call_list *l, const char *name, size_t name_len, char *arguments)
{
    if (l->n == l->cap) {
        int cap = l->cap ? 2 * l->cap : 4;
        chat_call_text *v = realloc(l->v, (size_t)cap * sizeof *v);
        if (!v) {
            free(arguments);
            return -1;
        }
        l->v = v;
        l->cap = cap;
    }
    char *nm = dup_n(name, name_len);
    if (!nm) {
        free(arguments);
        return -1;
    }
    l->v[l->n].name = nm;
    l->v[l->n].arguments = arguments;
    l->n++;
    return 1;
}

/* One JSON call object, s[0, n) exactly. */
static int parse_object(const char *s, size_t n, const chat_call_rules *r, chat_call_list *out)
{
    json_error_t err;
    json_t *root = json_loadb(s, n, DECODE_FLAGS, &err);
    if (!json_is_object(root)) {
        json_decref(root);
        return 0;
    }
    int rc = 0;
    json_t *obj = root;
    const char *os = s;
    size_t on = n, vs, ve;
    /* OpenAI's own shape, {"type": "function", "function": {...}} */
    if (!json_object_get(obj, "name")) {
        json_t *fn = json_object_get(obj, "function");
        if (json_is_object(fn) && find_member(s, n, "function", &vs, &ve)) {
            obj = fn;
            os = s + vs;
            on = ve - vs;
        }
    }
    json_t *name = json_object_get(obj, "name");
    if (!json_is_string(name))
        goto out;
    const char *nm = json_string_value(name);
    size_t nl = json_string_length(name);
    if (nl == 0 || strlen(nm) != nl || !name_allowed(r, nm))
        goto out;
    const char *key = json_object_get(obj, "arguments") ? "arguments"
                      : json_object_get(obj, "parameters") ? "parameters"
                                                             : NULL;
    json_t *args = key ? json_object_get(obj, key) : NULL;
    if (!args && r->require_args)
        goto out;
    char *text = NULL;
    if (!args || json_is_null(args)) {
        text = dup_n("{}", 2);
    } else if (json_is_object(args)) {
        if (!find_member(os, on, key, &vs, &ve))
            goto out;
        text = dup_n(os + vs, ve - vs);
    } else if (json_is_string(args)) {
        /* arguments already serialised, as OpenAI sends them */
        const char *a = json_string_value(args);
        size_t al = json_string_length(args);
        json_t *inner = json_loadb(a, al, DECODE_FLAGS, &err);
        bool ok = json_is_object(inner);
        json_decref(inner);
        if (!ok)
            goto out;
        size_t b = skip_ws(a, 0, al);
        while (al > b && is_ws(a[al - 1]))
            al--;
        text = dup_n(a + b, al - b);
    } else {
        goto out;
    }
    rc = text ? list_add(out, nm, nl, text) : -1;
out:
    json_decref(root);
    return rc;
}

/* A parameter value of the XML form as JSON text appended to b: JSON
 * scalars and containers as written, anything else as a string. */
static int add_xml_value(strbuf *b, const char *v, size_t vn)
{
    json_error_t err;
    json_t *j = json_loadb(v, vn, JSON_DECODE_ANY | DECODE_FLAGS, &err);
    bool raw = j && !json_is_string(j);
    json_decref(j);
    if (raw) {
        size_t st = skip_ws(v, 0, vn);
        while (vn > st && is_ws(v[vn - 1]))
            vn--;
        return strbuf_add(b, v + st, vn - st) ? 1 : -1;
    }
    json_t *str = json_stringn(v, vn);
    if (!str)
        return 0; /* not UTF-8 */
    char *enc = json_dumps(str, JSON_ENCODE_ANY);
    json_decref(str);
    if (!enc)
        return -1;
    bool ok = strbuf_add_str(b, enc);
    free(enc);
    return ok ? 1 : -1;
}

static int add_xml_key(strbuf *b, const char *k, size_t kn)
{
    json_t *str = json_stringn(k, kn);
    if (!str)
        return 0;
    char *enc = json_dumps(str, JSON_ENCODE_ANY);
    json_decref(str);
    if (!enc)
        return -1;
    bool ok = strbuf_add_str(b, enc) && strbuf_add(b, ": ", 2);
    free(enc);
    return ok ? 1 : -1;
}

/* "<tag=NAME>" at s[*i]: the trimmed name's extent, *i moved past '>'. */
static bool tag_name(const char *s, size_t *i, size_t n, const char *tag, size_t *ns, size_t *ne)
{
    if (!starts(s, *i, n, tag))
        return false;
    size_t a = *i + strlen(tag), gt = a;
    while (gt < n && s[gt] != '>' && s[gt] != '<' && s[gt] != '\n')
        gt++;
    if (gt >= n || s[gt] != '>')
        return false;
    size_t e = gt;
    while (e > a && is_ws(s[e - 1]))
        e--;
    while (a < e && is_ws(s[a]))
        a++;
    if (a == e)
        return false;
    *ns = a;
    *ne = e;
    *i = gt + 1;
    return true;
}

/* <function=NAME>(<parameter=P>\nvalue\n</parameter>)*</function> at s[*i]. */
static int parse_xml(const char *s, size_t *pi, size_t n, const chat_call_rules *r, chat_call_list *out)
{
    size_t i = *pi, ns, ne, ks, ke;
    if (!tag_name(s, &i, n, "<function=", &ns, &ne))
        return 0;
    char *name = dup_n(s + ns, ne - ns);
    if (!name)
        return -1;
    int rc = 0;
    strbuf b = {0};
    if (!name_allowed(r, name) || strlen(name) != ne - ns)
        goto out;
    rc = -1;
    if (!strbuf_add(&b, "{", 1))
        goto out;
    bool first = true;
    for (;;) {
        rc = 0;
        i = skip_ws(s, i, n);
        if (starts(s, i, n, "</function>")) {
            i += strlen("</function>");
            break;
        }
        if (!tag_name(s, &i, n, "<parameter=", &ks, &ke))
            goto out;
        size_t end = find(s, i, n, "</parameter>");
        if (end == n)
            goto out;
        /* the template writes "\n" + value + "\n" */
        size_t vs = i, ve = end;
        if (vs < ve && s[vs] == '\n')
            vs++;
        if (ve > vs && s[ve - 1] == '\n')
            ve--;
        if (ve > vs && s[ve - 1] == '\r')
            ve--;
        rc = -1;
        if (!first && !strbuf_add(&b, ", ", 2))
            goto out;
        first = false;
        if ((rc = add_xml_key(&b, s + ks, ke - ks)) <= 0 || (rc = add_xml_value(&b, s + vs, ve - vs)) <= 0)
            goto out;
        i = end + strlen("</parameter>");
    }
    rc = -1;
    if (!strbuf_add(&b, "}", 1))
        goto out;
    rc = list_add(out, name, strlen(name), b.p);
    b.p = NULL;
    if (rc > 0)
        *pi = i;
out:
    free(name);
    free(b.p);
    return rc;
}

void chat_call_list_free(chat_call_list *l)
{
    for (int i = 0; i < l->n; i++) {
        free(l->v[i].name);
        free(l->v[i].arguments);
    }
    free(l->v);
    l->v = NULL;
    l->n = l->cap = 0;
}

static int parse_array(const char *s, size_t n, const chat_call_rules *r, chat_call_list *out)
{
    size_t i = 1;
    for (;;) {
        i = skip_ws(s, i, n);
        if (i >= n || s[i] != '{')
            return 0;
        size_t e = value_end(s, i, n);
        if (!e)
            return 0;
        int rc = parse_object(s + i, e - i, r, out);
        if (rc <= 0)
            return rc;
        i = skip_ws(s, e, n);
        if (i < n && s[i] == ',') {
            i++;
            continue;
        }
        return i + 1 == n && s[i] == ']' ? 1 : 0;
    }
}

int chat_calls_parse(const char *s, size_t n, const chat_call_rules *r, chat_call_list *out)
{
    size_t i = skip_ws(s, 0, n);
    while (n > i && is_ws(s[n - 1]))
        n--;
    if (i >= n)
        return 0;
    chat_call_list got = {0};
    int rc = 1;
    if (s[i] == '[') {
        rc = value_end(s, i, n) == n ? parse_array(s + i, n - i, r, &got) : 0;
    } else {
        while (rc > 0) {
            while (i < n && (is_ws(s[i]) || s[i] == ';'))
                i++;
            if (i >= n)
                break;
            if (s[i] == '{') {
                size_t e = value_end(s, i, n);
                rc = e ? parse_object(s + i, e - i, r, &got) : 0;
                i = e;
            } else if (r->allow_xml) {
                rc = parse_xml(s, &i, n, r, &got);
            } else {
                rc = 0;
            }
        }
    }
    if (rc > 0 && got.n == 0)
        rc = 0;
    if (rc > 0 && out->cap - out->n < got.n) {
        /* room for all first, so out changes only on success */
        chat_call_text *v = realloc(out->v, (size_t)(out->n + got.n) * sizeof *v);
        if (v) {
            out->v = v;
            out->cap = out->n + got.n;
        } else {
            rc = -1;
        }
    }
    if (rc > 0) {
        memcpy(out->v + out->n, got.v, (size_t)got.n * sizeof *got.v);
        out->n += got.n;
        got.n = 0;
    }
    chat_call_list_free(&got);
    return rc;
}
