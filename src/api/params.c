/* Field readers shared by the OpenAI and Ollama translators: each checks
 * the JSON type and range and names the field in its 400. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "media/base64.h"
#include "core/json_constraint.h"

int api_opt_number(const json_t *obj, const char *key, double min, double max, double *out, rk_error *e)
{
    json_t *v = json_object_get(obj, key);
    if (!v || json_is_null(v)) return 0;
    if (!json_is_number(v)) return rk_fail(e, 400, key, "'%s' must be a number", key);
    double d = json_number_value(v);
    if (!isfinite(d) || d < min || d > max) return rk_fail(e, 400, key, "'%s' must be between %g and %g", key, min, max);
    *out = d;
    return 0;
}

int api_opt_int(const json_t *obj, const char *key, int64_t min, int64_t max, int64_t *out, rk_error *e)
{
    json_t *v = json_object_get(obj, key);
    if (!v || json_is_null(v)) return 0;
    int64_t i;
    if (json_is_integer(v)) i = (int64_t)json_integer_value(v);
    else if (json_is_real(v) && json_real_value(v) == floor(json_real_value(v)) && fabs(json_real_value(v)) < 9e18)
        i = (int64_t)json_real_value(v);
    else return rk_fail(e, 400, key, "'%s' must be a whole number", key);
    if (i < min || i > max)
        return rk_fail(e, 400, key, "'%s' must be between %lld and %lld", key, (long long)min, (long long)max);
    *out = i;
    return 0;
}

int api_opt_bool(const json_t *obj, const char *key, bool *out, rk_error *e)
{
    json_t *v = json_object_get(obj, key);
    if (!v || json_is_null(v)) return 0;
    if (!json_is_boolean(v)) return rk_fail(e, 400, key, "'%s' must be true or false", key);
    *out = json_is_true(v);
    return 0;
}

int api_opt_string(const json_t *obj, const char *key, const char **out, rk_error *e)
{
    json_t *v = json_object_get(obj, key);
    if (!v || json_is_null(v)) return 0;
    if (!json_is_string(v)) return rk_fail(e, 400, key, "'%s' must be a string", key);
    *out = json_string_value(v);
    return 0;
}

int api_stop(const json_t *v, rk_request *r, const char *param, rk_error *e)
{
    if (!v || json_is_null(v)) return 0;
    if (json_is_string(v)) {
        if (!request_add_stop(r, json_string_value(v))) return rk_fail(e, 500, NULL, "out of memory");
        return 0;
    }
    if (!json_is_array(v)) return rk_fail(e, 400, param, "'%s' must be a string or a list of strings", param);
    if (json_array_size(v) > 64) return rk_fail(e, 400, param, "'%s' holds more than 64 strings", param);
    size_t i;
    json_t *s;
    json_array_foreach(v, i, s) {
        if (!json_is_string(s)) return rk_fail(e, 400, param, "'%s' must be a string or a list of strings", param);
        if (!request_add_stop(r, json_string_value(s))) return rk_fail(e, 500, NULL, "out of memory");
    }
    return 0;
}

int api_content_text(const json_t *content, const char *param, char **out, rk_error *e)
{
    return api_content_with_images(content, param, NULL, out, e);
}

int api_token_list(const json_t *v, const char *param, int32_t **out, int64_t *n, rk_error *e)
{
    size_t len = json_array_size(v);
    int32_t *toks = malloc((len ? len : 1) * sizeof *toks);
    if (!toks) return rk_fail(e, 500, NULL, "out of memory");
    for (size_t i = 0; i < len; i++) {
        json_t *t = json_array_get(v, i);
        if (!json_is_integer(t) || json_integer_value(t) < 0 || json_integer_value(t) > INT32_MAX) {
            free(toks);
            return rk_fail(e, 400, param, "'%s' must hold token ids (non-negative integers)", param);
        }
        toks[i] = (int32_t)json_integer_value(t);
    }
    *out = toks;
    *n = (int64_t)len;
    return 0;
}

int api_json_schema(const json_t *schema, rk_request *r, const char *param, rk_error *e)
{
    char err[400];
    json_constraint *jc = json_constraint_new(schema, true, err, sizeof err);
    if (!jc) return rk_fail(e, 400, param, "this JSON schema cannot be enforced: %s", err);
    json_constraint_free(jc);
    json_decref(r->schema);
    r->schema = json_deep_copy(schema);
    r->format = RK_FORMAT_JSON_SCHEMA;
    return r->schema ? 0 : rk_fail(e, 500, NULL, "out of memory");
}

void api_apply_defaults(rk_request *r, const json_t *params, const json_t *given)
{
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)params, key, v) {
        if (json_object_get(given, key)) continue;
        double d = json_number_value(v);
        bool num = json_is_number(v), whole = json_is_integer(v);
        if (!strcmp(key, "temperature") && num) r->sampling.temperature = (float)d;
        else if (!strcmp(key, "top_k") && whole) r->sampling.top_k = d < 0 ? 0 : (int32_t)d;
        else if (!strcmp(key, "top_p") && num) r->sampling.top_p = (float)d;
        else if (!strcmp(key, "min_p") && num) r->sampling.min_p = (float)d;
        else if (!strcmp(key, "repeat_penalty") && num) r->sampling.repeat_penalty = (float)d;
        else if (!strcmp(key, "repeat_last_n") && whole) r->sampling.repeat_last_n = d < -1 ? -1 : (int32_t)d;
        else if (!strcmp(key, "frequency_penalty") && num) r->sampling.frequency_penalty = (float)d;
        else if (!strcmp(key, "presence_penalty") && num) r->sampling.presence_penalty = (float)d;
        else if (!strcmp(key, "seed") && whole) r->sampling.seed = (uint64_t)json_integer_value(v);
        else if (!strcmp(key, "num_predict") && whole) r->max_tokens = d < 0 || d > INT32_MAX ? -1 : (int32_t)d;
        else if (!strcmp(key, "stop") && (json_is_array(v) || json_is_string(v))) {
            rk_error e;
            for (int i = 0; i < r->n_stop; i++) free(r->stop[i]);
            r->n_stop = 0;
            api_stop(v, r, "stop", &e);
        }
    }
}

int api_cache_prompts(const json_t *body, rk_request *r, rk_error *e)
{
    json_t *v = json_object_get(body, "cache_prompts");
    if (!v || json_is_null(v)) return 0;
    bool ok = json_is_string(v) || json_is_array(v);
    size_t i;
    json_t *x;
    if (json_is_array(v)) json_array_foreach(v, i, x) ok = ok && json_is_string(x);
    if (!ok) return rk_fail(e, 400, "cache_prompts", "cache_prompts must be a cache name or a list of names");
    r->cache_prompts = json_incref(v);
    return 0;
}

/* An image reference: a data: URI is decoded at once; an http(s) URL or a
 * file path is kept for api_load_images. */
static int add_image_ref(rk_request *r, const char *url, const char *param, rk_error *e)
{
    if (strncmp(url, "data:", 5) != 0) {
        if (!*url) return rk_fail(e, 400, param, "an image part has an empty url");
        return request_add_image(r, NULL, 0, url, e);
    }
    const char *comma = strchr(url, ',');
    if (!comma || !memmem(url, (size_t)(comma - url), ";base64", 7))
        return rk_fail(e, 400, param, "image %d: a data: URI must be base64 (data:image/png;base64,...)", r->n_images + 1);
    uint8_t *bytes;
    size_t n;
    char err[160];
    if (b64_decode(comma + 1, strlen(comma + 1), &bytes, &n, err, sizeof err) != 0)
        return rk_fail(e, 400, param, "image %d: %s", r->n_images + 1, err);
    int rc = request_add_image(r, bytes, n, NULL, e);
    free(bytes);
    return rc;
}

int api_content_with_images(const json_t *content, const char *param, rk_request *r, char **out, rk_error *e)
{
    *out = NULL;
    if (!content || json_is_null(content) || json_is_string(content)) {
        *out = content && json_is_string(content) ? strndup(json_string_value(content), json_string_length(content))
                                                  : strdup("");
        return *out ? 0 : rk_fail(e, 500, NULL, "out of memory");
    }
    if (!json_is_array(content))
        return rk_fail(e, 400, param, "'%s' must be a string or a list of content parts", param);
    size_t total = 1, i;
    json_t *part;
    json_array_foreach(content, i, part) {
        const char *type = json_string_value(json_object_get(part, "type"));
        if (!json_is_object(part) || !type)
            return rk_fail(e, 400, param, "each part of '%s' must be an object with a 'type'", param);
        if (!strcmp(type, "image_url") || !strcmp(type, "input_image")) {
            if (!r) return rk_fail(e, 400, param, "image parts are only accepted in user messages");
            json_t *iu = json_object_get(part, "image_url");
            const char *url = json_is_string(iu) ? json_string_value(iu) : json_string_value(json_object_get(iu, "url"));
            if (!url) return rk_fail(e, 400, param, "an image part needs 'image_url': {\"url\": ...}");
            if (add_image_ref(r, url, param, e)) return -1;
            total += 1;
        } else if (!strcmp(type, "text") || !strcmp(type, "input_text")) {
            json_t *t = json_object_get(part, "text");
            if (!json_is_string(t)) return rk_fail(e, 400, param, "a text part of '%s' needs a string 'text'", param);
            total += json_string_length(t) + 1;
        } else {
            return rk_fail(e, 400, param, "content parts of type '%s' are not supported; send text and image_url parts",
                           type);
        }
    }
    char *buf = malloc(total);
    if (!buf) return rk_fail(e, 500, NULL, "out of memory");
    size_t n = 0;
    bool last_text = false;
    json_array_foreach(content, i, part) {
        json_t *t = json_object_get(part, "text");
        const char *type = json_string_value(json_object_get(part, "type"));
        if (!strcmp(type, "text") || !strcmp(type, "input_text")) {
            if (last_text) buf[n++] = '\n';
            memcpy(buf + n, json_string_value(t), json_string_length(t));
            n += json_string_length(t);
            last_text = true;
        } else {
            buf[n++] = RK_IMAGE_MARK[0];
            last_text = false;
        }
    }
    buf[n] = 0;
    *out = buf;
    return 0;
}

int api_ollama_images(const json_t *obj, rk_request *r, char **marks, rk_error *e)
{
    *marks = NULL;
    json_t *imgs = json_object_get(obj, "images");
    if (!imgs || json_is_null(imgs)) return 0;
    if (!json_is_array(imgs)) return rk_fail(e, 400, "images", "images must be a list of base64 strings");
    size_t n = json_array_size(imgs), i;
    json_t *v;
    json_array_foreach(imgs, i, v) {
        const char *b = json_string_value(v);
        if (!b) return rk_fail(e, 400, "images", "images must be a list of base64 strings");
        /* clients sometimes send a data: URI here too */
        if (!strncmp(b, "data:", 5)) {
            if (add_image_ref(r, b, "images", e)) return -1;
            continue;
        }
        uint8_t *bytes;
        size_t len;
        char err[160];
        if (b64_decode(b, json_string_length(v), &bytes, &len, err, sizeof err) != 0)
            return rk_fail(e, 400, "images", "image %d: %s", r->n_images + 1, err);
        int rc = request_add_image(r, bytes, len, NULL, e);
        free(bytes);
        if (rc) return -1;
    }
    *marks = malloc(n + 1);
    if (!*marks) return rk_fail(e, 500, NULL, "out of memory");
    memset(*marks, RK_IMAGE_MARK[0], n);
    (*marks)[n] = 0;
    return 0;
}
