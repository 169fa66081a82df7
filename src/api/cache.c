/* Prompt caches over HTTP (seed 002's /v1/cache API) and their use by chat
 * requests (cache_prompts). The files are core/prompt_cache.h's; building
 * a cache's state runs on the model through the scheduler. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api/api.h"
#include "core/prompt_cache.h"

#define MAX_CACHE_TEXT (1u << 20)

/* The model and cache a /v1/cache path names: MODEL, or MODEL/NAME (a model
 * name may itself hold '/', so the whole path is tried as a model first).
 * 0 with *m filled (clear it) and *name (malloc'd or NULL); -1 answered. */
static int target(http_req *r, api_app *a, sched_model_status *m, char **name)
{
    const char *rest = http_path_rest(r);
    rk_error e;
    *name = NULL;
    if (*rest && sched_lookup(a->sched, rest, m, &e) == 0) return 0;
    const char *slash = strrchr(rest, '/');
    if (!slash || slash == rest) {
        http_respond_errorf(r, 404, "model", "model '%s' not found", rest);
        return -1;
    }
    char *model = strndup(rest, (size_t)(slash - rest));
    int rc = model ? sched_lookup(a->sched, model, m, &e) : -1;
    free(model);
    if (rc != 0) {
        http_respond_error(r, &e);
        return -1;
    }
    *name = strdup(slash + 1);
    return 0;
}

static char *model_dir(http_req *r, api_app *a, const char *model)
{
    if (!a->cfg->cache_dir) {
        http_respond_errorf(r, 500, NULL, "no prompt cache directory: start the server with --cache-dir DIR");
        return NULL;
    }
    char *dir = prompt_cache_model_dir(a->cfg->cache_dir, model);
    if (!dir) http_respond_errorf(r, 500, NULL, "out of memory");
    return dir;
}

static json_t *meta_json(const char *dir, const prompt_cache_meta *m, bool with_content)
{
    json_t *j = json_pack("{s:s, s:s, s:I, s:I, s:I, s:I, s:s, s:s, s:I, s:I}", "object", "prompt_cache", "name",
                          m->name, "version", (json_int_t)m->version, "created_at", (json_int_t)m->created_at,
                          "updated_at", (json_int_t)m->updated_at, "size",
                          (json_int_t)prompt_cache_state_bytes(dir, m->name), "prompt_hash", m->prompt_hash, "engine",
                          m->engine, "n_tokens", (json_int_t)m->n_tokens, "content_length",
                          (json_int_t)strlen(m->content ? m->content : ""));
    if (j && with_content) json_object_set_new(j, "content", json_string(m->content ? m->content : ""));
    return j;
}

/* The text a cache's state starts from: the system cache's, then its own. */
static char *state_content(const char *dir, const char *name, const char *content)
{
    prompt_cache_meta sys;
    char err[256];
    if (!strcmp(name, PROMPT_CACHE_SYSTEM) || prompt_cache_read(dir, PROMPT_CACHE_SYSTEM, &sys, err, sizeof err) != 0)
        return strdup(content);
    size_t n = strlen(sys.content) + strlen(content) + 3;
    char *out = malloc(n);
    if (out) snprintf(out, n, "%s\n\n%s", sys.content, content);
    prompt_cache_meta_clear(&sys);
    return out;
}

static void h_create(http_req *r, void *app)
{
    api_app *a = app;
    sched_model_status m;
    char *name = NULL, *dir = NULL;
    if (target(r, a, &m, &name) != 0) return;
    rk_error e = {0};
    json_t *body = NULL;
    prompt_cache_meta old = {0};
    bool had_old = false;
    if (name) {
        http_respond_errorf(r, 400, "name", "POST /v1/cache/{model} with the name in the body");
        goto out;
    }
    if (!(body = http_json_body(r, &e))) {
        http_respond_error(r, &e);
        goto out;
    }
    const char *cname = NULL, *content = NULL;
    bool overwrite = false;
    if (api_opt_string(body, "name", &cname, &e) || api_opt_string(body, "content", &content, &e) ||
        (!content && api_opt_string(body, "prompt", &content, &e)) ||
        api_opt_bool(body, "allow_overwrite", &overwrite, &e)) {
        http_respond_error(r, &e);
        goto out;
    }
    if (!prompt_cache_valid_name(cname)) {
        http_respond_errorf(r, 400, "name", "'name' must be 1 to 64 of A-Z a-z 0-9 _ . - (not starting with '.')");
        goto out;
    }
    if (!content || !*content || strlen(content) > MAX_CACHE_TEXT) {
        http_respond_errorf(r, 400, "content", "'content' must be a non-empty text of at most %u bytes", MAX_CACHE_TEXT);
        goto out;
    }
    if (!(dir = model_dir(r, a, m.name))) goto out;
    char err[512];
    int rd = prompt_cache_read(dir, cname, &old, err, sizeof err);
    had_old = rd == 0;
    if (had_old && !overwrite) {
        http_respond_errorf(r, 409, "name", "cache '%s' of model '%s' exists; send allow_overwrite: true to replace it",
                            cname, m.name);
        goto out;
    }
    if (prompt_cache_make_dir(dir) != 0) {
        http_respond_errorf(r, 500, NULL, "cannot create %s", dir);
        goto out;
    }
    rk_request *req = request_new();
    if (!req) {
        http_respond_errorf(r, 500, NULL, "out of memory");
        goto out;
    }
    req->kind = RK_KIND_CACHE;
    req->model = strdup(m.name);
    req->cache_dir = strdup(dir);
    req->cache_name = strdup(cname);
    req->cache_content = state_content(dir, cname, content);
    if (!req->model || !req->cache_dir || !req->cache_name || !req->cache_content) {
        request_destroy(req);
        http_respond_errorf(r, 500, NULL, "out of memory");
        goto out;
    }
    rk_result res;
    char *text = NULL, served[256];
    size_t tlen;
    if (api_run_wait(r, a, req, &res, &text, &tlen, served, sizeof served, &e) != 0) {
        http_respond_error(r, &e);
        goto out;
    }
    free(text);
    sched_model_status now;
    bool have_now = sched_lookup(a->sched, m.name, &now, &e) == 0;
    prompt_cache_meta meta = {0};
    snprintf(meta.name, sizeof meta.name, "%s", cname);
    meta.content = (char *)content;
    meta.version = had_old ? old.version + 1 : 1;
    meta.updated_at = (int64_t)time(NULL);
    meta.created_at = had_old ? old.created_at : meta.updated_at;
    prompt_cache_hash(content, meta.prompt_hash);
    snprintf(meta.engine, sizeof meta.engine, "%s", have_now && now.info.engine ? now.info.engine : "");
    if (have_now) sched_status_clear(&now);
    snprintf(meta.model_digest, sizeof meta.model_digest, "%s", m.digest ? m.digest : "");
    meta.n_tokens = res.cache_tokens;
    if (prompt_cache_write(dir, &meta, err, sizeof err) != 0) {
        http_respond_errorf(r, 500, NULL, "%s", err);
        goto out;
    }
    json_t *j = meta_json(dir, &meta, false);
    json_object_set_new(j, "built", json_boolean(res.cache_built));
    json_object_set_new(j, "prefill_ms", json_real(res.stats.prefill_ms));
    json_object_set_new(j, "model", json_string(m.name));
    http_respond_json(r, had_old ? 200 : 201, j);
out:
    if (had_old) prompt_cache_meta_clear(&old);
    json_decref(body);
    free(dir);
    free(name);
    sched_status_clear(&m);
}

static void h_get(http_req *r, void *app)
{
    api_app *a = app;
    sched_model_status m;
    char *name = NULL, *dir = NULL;
    if (target(r, a, &m, &name) != 0) return;
    if (!(dir = model_dir(r, a, m.name))) goto out;
    if (name) {
        prompt_cache_meta meta;
        char err[512];
        int rc = prompt_cache_read(dir, name, &meta, err, sizeof err);
        if (rc == 1) http_respond_errorf(r, 404, "name", "model '%s' has no cache '%s'", m.name, name);
        else if (rc < 0) http_respond_errorf(r, 500, NULL, "%s", err);
        else {
            http_respond_json(r, 200, meta_json(dir, &meta, true));
            prompt_cache_meta_clear(&meta);
        }
        goto out;
    }
    prompt_cache_meta *list;
    int n = prompt_cache_list(dir, &list);
    if (n < 0) {
        http_respond_errorf(r, 500, NULL, "cannot read %s", dir);
        goto out;
    }
    json_t *data = json_array();
    for (int i = 0; i < n; i++) {
        json_array_append_new(data, meta_json(dir, &list[i], false));
        prompt_cache_meta_clear(&list[i]);
    }
    free(list);
    http_respond_json(r, 200, json_pack("{s:s, s:s, s:o}", "object", "list", "model", m.name, "data", data));
out:
    free(dir);
    free(name);
    sched_status_clear(&m);
}

static void h_delete(http_req *r, void *app)
{
    api_app *a = app;
    sched_model_status m;
    char *name = NULL, *dir = NULL;
    if (target(r, a, &m, &name) != 0) return;
    if (!name) {
        http_respond_errorf(r, 400, "name", "DELETE /v1/cache/{model}/{name}");
        goto out;
    }
    if (!(dir = model_dir(r, a, m.name))) goto out;
    int rc = prompt_cache_delete(dir, name);
    if (rc == 1) http_respond_errorf(r, 404, "name", "model '%s' has no cache '%s'", m.name, name);
    else if (rc < 0) http_respond_errorf(r, 500, NULL, "cannot delete cache '%s'", name);
    else http_respond_json(r, 200, json_pack("{s:s, s:s, s:b}", "object", "prompt_cache", "name", name, "deleted", 1));
out:
    free(dir);
    free(name);
    sched_status_clear(&m);
}

int api_apply_caches(api_app *a, rk_request *r, rk_error *e)
{
    if (!r->cache_prompts) return 0;
    if (r->kind != RK_KIND_CHAT) return rk_fail(e, 400, "cache_prompts", "cache_prompts applies to chat requests");
    if (!a->cfg->cache_dir) return rk_fail(e, 500, NULL, "no prompt cache directory: start the server with --cache-dir");
    sched_model_status m;
    if (sched_lookup(a->sched, r->model ? r->model : "", &m, e) != 0) return -1;
    char *dir = prompt_cache_model_dir(a->cfg->cache_dir, m.name);
    int rc = -1;
    /* the system cache first, then the listed ones in order */
    prompt_cache_meta parts[17];
    int n = 0;
    char err[512];
    json_t *list = json_is_string(r->cache_prompts) ? json_pack("[O]", r->cache_prompts) : json_incref(r->cache_prompts);
    if (!dir || !list) {
        rk_fail(e, 500, NULL, "out of memory");
        goto out;
    }
    if (json_array_size(list) > 16) {
        rk_fail(e, 400, "cache_prompts", "at most 16 caches per request");
        goto out;
    }
    if (prompt_cache_read(dir, PROMPT_CACHE_SYSTEM, &parts[n], err, sizeof err) == 0) n++;
    size_t i;
    json_t *v;
    json_array_foreach(list, i, v) {
        const char *name = json_string_value(v);
        if (!name || !strcmp(name, PROMPT_CACHE_SYSTEM)) continue;
        int rd = prompt_cache_read(dir, name, &parts[n], err, sizeof err);
        if (rd == 1) {
            rk_fail(e, 404, "cache_prompts", "model '%s' has no cache '%s'", m.name, name);
            goto out;
        }
        if (rd < 0) {
            rk_fail(e, 500, NULL, "%s", err);
            goto out;
        }
        n++;
    }
    if (n == 0) {
        rc = 0;
        goto out;
    }
    /* the caches' texts open the system message, joined by blank lines; the
     * state covers the system cache and the first other one */
    size_t total = 0;
    for (int k = 0; k < n; k++) total += strlen(parts[k].content) + 2;
    json_t *first = json_array_get(r->messages, 0);
    const char *role = json_string_value(json_object_get(first, "role"));
    bool has_system = role && !strcmp(role, "system");
    const char *orig = has_system ? json_string_value(json_object_get(first, "content")) : NULL;
    char *merged = malloc(total + (orig ? strlen(orig) : 0) + 1), *state = NULL;
    if (!merged) {
        rk_fail(e, 500, NULL, "out of memory");
        goto out;
    }
    merged[0] = 0;
    int in_state = strcmp(parts[0].name, PROMPT_CACHE_SYSTEM) == 0 && n > 1 ? 2 : 1;
    for (int k = 0; k < n; k++) {
        if (k) strcat(merged, "\n\n");
        strcat(merged, parts[k].content);
        if (k + 1 == in_state) state = strdup(merged);
    }
    if (orig && *orig) strcat(strcat(merged, "\n\n"), orig);
    if (has_system) json_object_set_new(first, "content", json_string(merged));
    else json_array_insert_new(r->messages, 0, json_pack("{s:s, s:s}", "role", "system", "content", merged));
    free(merged);
    r->cache_dir = strdup(dir);
    r->cache_name = strdup(parts[in_state - 1].name);
    r->cache_content = state;
    rc = r->cache_dir && r->cache_name && r->cache_content ? 0 : rk_fail(e, 500, NULL, "out of memory");
out:
    for (int k = 0; k < n; k++) prompt_cache_meta_clear(&parts[k]);
    json_decref(list);
    free(dir);
    sched_status_clear(&m);
    return rc;
}

static const http_route ROUTES[] = {
    {"POST", "/v1/cache/*", HTTP_STYLE_OPENAI, false, h_create},
    {"GET", "/v1/cache/*", HTTP_STYLE_OPENAI, false, h_get},
    {"DELETE", "/v1/cache/*", HTTP_STYLE_OPENAI, false, h_delete},
};

int cache_routes(const http_route **out)
{
    *out = ROUTES;
    return (int)(sizeof ROUTES / sizeof ROUTES[0]);
}
