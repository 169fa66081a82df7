/* Prompt caches on the scheduler's sessions (core/prompt_cache.h has the
 * files): the state of a cached prefix is restored into a session, or
 * built by prefilling the prefix and saved under a key of prefix, model
 * and engine. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/prompt_cache.h"
#include "core/sched_internal.h"

/* ---- prompt caches ---------------------------------------------------- */

static bool ignore_token(void *user, int32_t token, const char *piece, size_t len)
{
    (void)user, (void)token, (void)piece, (void)len;
    return true;
}

/* The text a prompt cache's state holds: the conversation rendered with the
 * cached content as its system message, cut right after that content (so
 * it is a prefix of every prompt whose system message starts with it). */
static char *cache_prefix_text(model_entry *m, const rk_request *r, rk_error *e)
{
    rk_request tmp;
    request_init(&tmp);
    tmp.messages = json_pack("[{s:s, s:s}, {s:s, s:s}]", "role", "system", "content", r->cache_content, "role",
                             "user", "content", "?");
    tmp.template_vars = r->template_vars ? json_incref(r->template_vars) : NULL;
    tmp.enable_thinking = r->enable_thinking;
    char *text = tmp.messages ? request_render_chat(&tmp, &m->chat, NULL, e) : NULL;
    request_free(&tmp);
    if (!text) {
        if (!e->status) rk_fail(e, 500, NULL, "out of memory");
        return NULL;
    }
    char *at = *r->cache_content ? strstr(text, r->cache_content) : NULL;
    if (!at) {
        free(text);
        rk_fail(e, 400, "cache_prompts", "the model's chat template does not show a system message as given, so a "
                                         "prompt cache cannot be placed");
        return NULL;
    }
    at[strlen(r->cache_content)] = 0;
    return text;
}

/* The state's key: the prefix, the model file and the engine, so a changed
 * system cache, model or engine names another file. */
static char *cache_state_path(const model_entry *m, const rk_request *r, const char *prefix)
{
    size_t n = strlen(prefix) + strlen(m->entry->digest) + strlen(m->ops->name) + 3;
    char *key = malloc(n);
    if (!key) return NULL;
    snprintf(key, n, "%s\n%s\n%s", prefix, m->entry->digest, m->ops->name);
    char *path = prompt_cache_state_path(r->cache_dir, r->cache_name, key);
    free(key);
    return path;
}

/* Brings the session to a prompt cache's prefix: nothing when it already
 * holds it, else restores the saved state; a missing state, or one the
 * engine refuses (another model, corrupt), is rebuilt by prefilling the
 * prefix and saved atomically. Called holding the model's compute turn. */
int sched_cache_prepare(model_entry *m, slot *sl, const rk_request *r, rk_result *res)
{
    bool text_engine = !m->info.has_tokenizer;
    char *prefix = cache_prefix_text(m, r, &res->error);
    if (!prefix) return -1;
    int32_t *ptoks = NULL;
    int64_t np = 0;
    if (!text_engine) {
        np = engine_tokenize_alloc(m->ops, m->em, prefix, engine_prompt_wants_bos(&m->info, prefix), &ptoks);
        if (np < 0) {
            free(prefix);
            return rk_fail(&res->error, 500, NULL, "out of memory");
        }
        if (np >= m->info.n_ctx) {
            free(prefix);
            free(ptoks);
            return rk_fail(&res->error, 400, "cache_prompts", "the cached text has %lld tokens; the context holds %d",
                           (long long)np, m->info.n_ctx);
        }
    }
    res->cache_tokens = np;
    char *path = cache_state_path(m, r, prefix);
    int rc = -1;
    char err[512] = "";
    if (!path) {
        rk_fail(&res->error, 500, NULL, "out of memory");
        goto out;
    }
    const int32_t *kept;
    const char *kept_text = NULL;
    int64_t nk = text_engine ? 0 : m->ops->kept_tokens(sl->sess, &kept);
    size_t nkt = text_engine && m->ops->kept_text ? m->ops->kept_text(sl->sess, &kept_text) : 0;
    if ((!text_engine && nk >= np && np > 0 && !memcmp(kept, ptoks, (size_t)np * sizeof *ptoks)) ||
        (text_engine && nkt >= strlen(prefix) && !strncmp(kept_text, prefix, strlen(prefix)))) {
        rc = 0; /* this session already continues from the cached text */
        goto out;
    }
    if (access(path, R_OK) == 0) {
        if (m->ops->restore(sl->sess, path, err, sizeof err) == 0) {
            rc = 0;
            goto out;
        }
        fprintf(stderr, "rkserve: prompt cache %s refused (%s); rebuilding it\n", path, err);
        unlink(path);
    }
    m->ops->session_reset(sl->sess);
    engine_gen_params gp = {.sampling = r->sampling, .max_tokens = 0, .n_keep = -1};
    engine_stats st;
    int g = text_engine ? m->ops->generate_text(sl->sess, prefix, &gp, ignore_token, NULL, &st, err, sizeof err)
                        : m->ops->generate(sl->sess, ptoks, np, &gp, ignore_token, NULL, &st, err, sizeof err);
    if (g != 0) {
        rk_fail(&res->error, 500, NULL, "building the prompt cache failed: %s", err);
        goto out;
    }
    if (text_engine && st.prompt_tokens > 0) res->cache_tokens = st.prompt_tokens;
    res->stats.prefill_ms += st.prefill_ms;
    size_t tl = strlen(path) + 8;
    char *tmp = malloc(tl);
    if (tmp) snprintf(tmp, tl, "%s.tmp", path);
    if (!tmp) {
        rk_fail(&res->error, 500, NULL, "out of memory");
    } else if (m->ops->save(sl->sess, tmp, err, sizeof err) != 0 || rename(tmp, path) != 0) {
        unlink(tmp);
        rk_fail(&res->error, 500, NULL, "saving the prompt cache failed: %s", err[0] ? err : strerror(errno));
    } else {
        res->cache_built = true;
        prompt_cache_remove_states(r->cache_dir, r->cache_name, path);
        rc = 0;
        /* a runtime that built the cache aside starts from it now */
        if (text_engine && m->ops->restore(sl->sess, path, err, sizeof err) != 0)
            fprintf(stderr, "rkserve: prompt cache %s built but not loaded: %s\n", path, err);
    }
    free(tmp);
out:
    free(path);
    free(prefix);
    free(ptoks);
    return rc;
}

/* RK_KIND_CACHE: builds (or checks) a cache's state on the session with the
 * least to lose. */
void sched_run_cache(sched *s, model_entry *m, sched_job *j, rk_result *res)
{
    slot *sl = sched_claim(s, m, j, NULL, 0, NULL, true);
    sched_start_event(m, j, NULL, 0, "");
    ticket_acquire(&m->compute);
    sched_cache_prepare(m, sl, j->req, res);
    ticket_release(&m->compute);
    sched_unclaim(s, sl);
    res->stats.prompt_tokens = (int32_t)res->cache_tokens;
}
