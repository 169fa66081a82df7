/* Running one job on a session of a loaded model: the prompt (rendered,
 * images expanded, tokenized), the session it continues, generation with
 * stop strings and JSON constraints, embeddings. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/sched_internal.h"
#include "core/tool_choice.h"

/* ---- running a job -------------------------------------------------- */

/* Under s->mu: picks the idle session for a prompt. A session whose kept
 * tokens the prompt mostly continues (it shares at least half of them) is
 * the conversation itself: the longest such prefix wins. Otherwise an
 * empty session is taken, so no other conversation is thrown away; failing
 * that, the one sharing the longest prefix (a common system prompt), and
 * among equals the least recently used. */
static slot *pick_slot(model_entry *m, const int32_t *toks, int64_t n, const char *text)
{
    slot *cont = NULL, *empty = NULL, *any = NULL;
    int64_t cont_len = 0, any_len = -1;
    /* engines that take text keep text: compare bytes instead of tokens */
    bool by_text = text && !m->info.has_tokenizer && m->ops->kept_text;
    int64_t n_text = by_text ? (int64_t)strlen(text) : 0;
    for (int i = 0; i < m->n_slots; i++) {
        slot *sl = &m->slots[i];
        if (sl->busy) continue;
        int64_t nk, l = 0;
        if (by_text) {
            const char *kept;
            nk = (int64_t)m->ops->kept_text(sl->sess, &kept);
            while (l < nk && l < n_text && kept[l] == text[l]) l++;
        } else {
            const int32_t *kept;
            nk = m->ops->kept_tokens(sl->sess, &kept);
            while (l < nk && l < n && kept[l] == toks[l]) l++;
        }
        if (l > 0 && 2 * l >= nk && (l > cont_len || (l == cont_len && sl->last_used < cont->last_used))) {
            cont = sl;
            cont_len = l;
        }
        if (nk == 0 && (!empty || sl->last_used < empty->last_used)) empty = sl;
        if (l > any_len || (l == any_len && sl->last_used < any->last_used)) {
            any = sl;
            any_len = l;
        }
    }
    return cont ? cont : empty ? empty : any;
}

/* Under s->mu: for embeddings, which discard a session's kept tokens, the
 * idle session with the least to lose. */
static slot *pick_slot_for_embed(model_entry *m)
{
    slot *best = NULL;
    int64_t best_kept = 0;
    for (int i = 0; i < m->n_slots; i++) {
        slot *sl = &m->slots[i];
        if (sl->busy) continue;
        const int32_t *kept;
        int64_t nk = m->ops->kept_tokens(sl->sess, &kept);
        if (!best || nk < best_kept || (nk == best_kept && sl->last_used < best->last_used)) {
            best = sl;
            best_kept = nk;
        }
    }
    return best;
}

slot *sched_claim(sched *s, model_entry *m, sched_job *j, const int32_t *toks, int64_t n, const char *text,
                   bool embed)
{
    pthread_mutex_lock(&s->mu);
    slot *sl = embed ? pick_slot_for_embed(m) : pick_slot(m, toks, n, text);
    sl->busy = true;
    sl->job = j;
    pthread_mutex_unlock(&s->mu);
    return sl;
}

void sched_unclaim(sched *s, slot *sl)
{
    pthread_mutex_lock(&s->mu);
    sl->busy = false;
    sl->job = NULL;
    sl->last_used = mono_ms();
    pthread_mutex_unlock(&s->mu);
}

typedef struct {
    model_entry *m;
    sched_job *j;
    double first_text;
} gen_ctx;

/* JSON-constrained generation. The constraint must see every sampled
 * token before the next is filtered, but textgen only passes on text (and
 * holds some back), so the engine's generate is wrapped: the wrapper's
 * token callback advances the constraint, then hands the token on. */
typedef struct {
    const engine_ops *real;
    json_constraint *jc;
} constrained;

typedef struct {
    engine_token_fn on_token;
    void *user;
    json_constraint *jc;
} constrained_call;

static void constrained_filter(void *user, float *logits, int32_t n_vocab)
{
    constrained *cx = user;
    json_constraint_filter(cx->jc, logits, n_vocab);
}

static bool constrained_token(void *user, int32_t token, const char *piece, size_t len)
{
    constrained_call *cc = user;
    json_constraint_accept_token(cc->jc, token);
    return cc->on_token(cc->user, token, piece, len);
}

static int constrained_generate(engine_session *s, const int32_t *prompt, int64_t n_prompt, const engine_gen_params *p,
                                engine_token_fn on_token, void *user, engine_stats *stats, char *err, size_t errlen)
{
    constrained *cx = p->filter_user;
    constrained_call cc = {.on_token = on_token, .user = user, .jc = cx->jc};
    return cx->real->generate(s, prompt, n_prompt, p, constrained_token, &cc, stats, err, errlen);
}

static bool on_gen_text(void *user, const char *text, size_t len)
{
    gen_ctx *g = user;
    if (!g->first_text) g->first_text = mono_ms();
    /* let the model's other sessions compute while this text goes out
     * (engines whose sessions run at once hold no turn here) */
    bool turns = !g->m->info.concurrent_sessions;
    if (turns) ticket_release(&g->m->compute);
    bool go_on = g->j->sink.on_text ? g->j->sink.on_text(g->j->sink.user, text, len) : true;
    if (turns) ticket_acquire(&g->m->compute);
    return go_on && !atomic_load(&g->j->cancel);
}

void sched_start_event(model_entry *m, sched_job *j, const char *prompt_text, int64_t n_prompt,
                        const char *answer_prefix)
{
    if (!j->sink.on_start) return;
    rk_start st = {.model = m->name, .info = &m->info, .chat = &m->chat, .template_src = m->template_src,
                   .prompt_text = prompt_text, .n_prompt = n_prompt, .answer_prefix = answer_prefix};
    j->sink.on_start(j->sink.user, &st);
}

/* tool_choice "required" or named: the answer starts with the family's call
 * opening (appended to the prompt) and is constrained to a call of an
 * offered tool, its arguments to the tool's parameter schema when the
 * constraint can compile it. */
static int force_tool_call(model_entry *m, rk_request *r, const char **answer_prefix, rk_error *e)
{
    if (r->format != RK_FORMAT_TEXT)
        return rk_fail(e, 400, "tool_choice", "a forced tool call cannot be combined with response_format");
    chat_output_format fmt = chat_output_format_detect(m->chat.family, m->template_src);
    char err[512];
    json_t *schema = tool_choice_schema(r->tools, r->forced_tool, fmt, 1, err, sizeof err);
    if (!schema) return rk_fail(e, 400, "tool_choice", "%s", err);
    json_constraint *probe = json_constraint_new(schema, true, err, sizeof err);
    if (!probe) {
        json_decref(schema);
        schema = tool_choice_schema(r->tools, r->forced_tool, fmt, 0, err, sizeof err);
        probe = schema ? json_constraint_new(schema, true, err, sizeof err) : NULL;
        if (!probe) {
            json_decref(schema);
            return rk_fail(e, 400, "tool_choice", "cannot constrain the output to a tool call: %s", err);
        }
    }
    json_constraint_free(probe);
    json_decref(r->schema);
    r->schema = schema;
    r->format = RK_FORMAT_JSON_SCHEMA;
    *answer_prefix = tool_choice_prefix(fmt);
    return 0;
}

static void run_generate(sched *s, model_entry *m, sched_job *j, rk_result *res)
{
    rk_request *r = j->req;
    char *text = NULL;
    int32_t *toks = NULL;
    int64_t n = 0;
    vision_batch vb = {0};
    engine_embd_span *spans = NULL;
    int n_spans = 0;
    /* a sidecar's system prompt, as Ollama's SYSTEM, when the chat brings none */
    const char *first_role = json_string_value(json_object_get(json_array_get(r->messages, 0), "role"));
    if (r->kind == RK_KIND_CHAT && m->entry->system && *m->entry->system && !(first_role && !strcmp(first_role, "system")))
        json_array_insert_new(r->messages, 0, json_pack("{s:s, s:s}", "role", "system", "content", m->entry->system));
    /* an engine whose runtime tokenizes inside (the NPU) gets the text */
    bool text_engine = !m->info.has_tokenizer;
    if (text_engine) {
        if (!m->ops->generate_text) {
            rk_fail(&res->error, 500, NULL, "the %s engine can neither tokenize nor take text", m->ops->name);
            goto out;
        }
        if (r->kind != RK_KIND_CHAT && !r->prompt.text) {
            rk_fail(&res->error, 400, "prompt", "model '%s' runs on the %s engine, which takes text prompts, not token ids",
                    m->name, m->ops->name);
            goto out;
        }
        if (r->format != RK_FORMAT_TEXT || r->sampling.n_logit_bias > 0 || r->force_tool_call) {
            rk_fail(&res->error, 400,
                    r->format != RK_FORMAT_TEXT ? "response_format"
                    : r->force_tool_call        ? "tool_choice"
                                                : "logit_bias",
                    "model '%s' runs on the %s engine, which does not expose logits: JSON-constrained output, "
                    "forced tool calls and logit_bias are not available",
                    m->name, m->ops->name);
            goto out;
        }
    }
    const char *answer_prefix = "";
    if (r->kind == RK_KIND_CHAT && r->force_tool_call && force_tool_call(m, r, &answer_prefix, &res->error) != 0)
        goto out;
    const char *image_marker = m->vision.preset ? m->vision.preset->image_marker : NULL;
    if (r->n_images > 0) {
        if (!m->vision.vm) {
            rk_fail(&res->error, 400, "images", "model '%s' cannot read images: %s", m->name,
                    m->vision_err ? m->vision_err : "it has no vision encoder (an mmproj GGUF or .rknn next to it)");
            goto out;
        }
        if (r->kind != RK_KIND_CHAT && !r->prompt.text) {
            rk_fail(&res->error, 400, "images", "images need a text prompt that marks them with %s", image_marker);
            goto out;
        }
        image_limits lim = {.max_bytes = s->cfg->max_image_bytes, .max_pixels = 64u << 20};
        ticket_acquire(&m->compute);
        int vrc = vision_batch_encode(&m->vision, r->images, r->n_images, &lim, &vb, &res->error);
        ticket_release(&m->compute);
        if (vrc != 0) goto out;
    }
    ticket_acquire(&m->compute);
    if (r->kind == RK_KIND_CHAT) {
        text = request_render_chat(r, &m->chat, image_marker, &res->error);
        if (text && *answer_prefix) {
            char *with = malloc(strlen(text) + strlen(answer_prefix) + 1);
            if (with) strcat(strcpy(with, text), answer_prefix);
            free(text);
            text = with;
        }
    } else if (r->prompt.text) {
        text = strdup(r->prompt.text);
    }
    if (text && r->n_images > 0) {
        char *expanded = vision_expand_prompt(&m->vision, text, &vb, &res->error);
        free(text);
        text = expanded;
    }
    if (text && !text_engine)
        n = engine_tokenize_alloc(m->ops, m->em, text, engine_prompt_wants_bos(&m->info, text), &toks);
    if (r->kind == RK_KIND_CHAT || r->prompt.text) {
        /* tokenized above */
    } else {
        n = r->prompt.n_tokens;
        toks = malloc((size_t)(n ? n : 1) * sizeof *toks);
        if (toks) memcpy(toks, r->prompt.tokens, (size_t)n * sizeof *toks);
        else n = -1;
    }
    ticket_release(&m->compute);
    if (res->error.status) goto out;
    if ((!text && r->prompt.text) || n < 0) {
        rk_fail(&res->error, 500, NULL, "out of memory");
        goto out;
    }
    if (r->n_images > 0 && vision_make_spans(&m->vision, toks, n, &vb, &spans, &n_spans, &res->error) != 0) goto out;
    if (text_engine ? !*text : n == 0) {
        rk_fail(&res->error, 400, "prompt", "the prompt is empty");
        goto out;
    }
    for (int64_t i = 0; i < n; i++)
        if (toks[i] < 0 || toks[i] >= m->info.n_vocab) {
            rk_fail(&res->error, 400, "prompt", "token id %d is outside the vocabulary (0..%d)", toks[i],
                    m->info.n_vocab - 1);
            goto out;
        }
    for (int i = 0; i < r->sampling.n_logit_bias; i++)
        if (r->logit_bias[i].token >= m->info.n_vocab) {
            rk_fail(&res->error, 400, "logit_bias", "token id %d is outside the vocabulary (0..%d)",
                    r->logit_bias[i].token, m->info.n_vocab - 1);
            goto out;
        }
    /* num_ctx below the loaded context narrows this request's window */
    int32_t window = r->num_ctx > 0 && r->num_ctx < m->info.n_ctx ? r->num_ctx : m->info.n_ctx;
    if (!text_engine && n >= window) {
        rk_fail(&res->error, 400, "messages",
                "the prompt has %lld tokens but the context holds %d (it must leave room for the answer)",
                (long long)n, window);
        res->error.code = "context_length_exceeded";
        goto out;
    }

    int32_t max_tokens = r->max_tokens;
    if (window < m->info.n_ctx && (max_tokens < 0 || max_tokens > window - n)) max_tokens = (int32_t)(window - n);

    /* sessions keep identities at image positions: compare with those */
    int32_t *ident = NULL;
    if (!text_engine && n_spans > 0 && (ident = malloc((size_t)n * sizeof *ident))) {
        memcpy(ident, toks, (size_t)n * sizeof *ident);
        for (int k = 0; k < n_spans; k++)
            for (int32_t o = 0; o < spans[k].n_tokens; o++)
                ident[spans[k].pos + o] = engine_span_identity(spans[k].hash, o);
    }
    slot *sl = sched_claim(s, m, j, ident ? ident : toks, n, text, false);
    free(ident);
    if (r->cache_content) {
        ticket_acquire(&m->compute);
        int crc = sched_cache_prepare(m, sl, r, res);
        ticket_release(&m->compute);
        if (crc != 0) {
            sched_unclaim(s, sl);
            goto out;
        }
    }
    sched_start_event(m, j, text, n, answer_prefix);

    const char *family_stops[8];
    int n_family = r->kind == RK_KIND_CHAT ? chat_builtin_stops(m->chat.family, family_stops, 8) : 0;
    const char **stops = malloc((size_t)(r->n_stop + n_family + 1) * sizeof *stops);
    if (!stops) {
        sched_unclaim(s, sl);
        rk_fail(&res->error, 500, NULL, "out of memory");
        goto out;
    }
    int n_stops = 0;
    for (int i = 0; i < r->n_stop; i++) stops[n_stops++] = r->stop[i];
    for (int i = 0; i < n_family; i++) stops[n_stops++] = family_stops[i];

    textgen_params p = {
        .gen = {.sampling = r->sampling, .max_tokens = max_tokens, .n_keep = r->n_keep, .ignore_eos = r->ignore_eos,
                .cancel = &j->cancel},
        .stop = stops,
        .n_stop = n_stops,
        .prompt_text = text_engine ? text : NULL,
    };
    p.gen.sampling.logit_bias = r->logit_bias;
    p.gen.spans = spans;
    p.gen.n_spans = n_spans;
    if (m->vision.preset) {
        p.gen.image_marker = m->vision.preset->image_marker;
        p.gen.image_start = m->vision.preset->image_start;
        p.gen.image_end = m->vision.preset->image_end;
        p.gen.image_content = m->vision.preset->placeholder;
    }
    gen_ctx g = {.m = m, .j = j};
    textgen_result tr;
    char err[512];
    ticket_acquire(&m->compute);
    engine_ops wrapped;
    const engine_ops *ops = m->ops;
    constrained cx = {.real = m->ops};
    int rc = 0;
    if (r->format != RK_FORMAT_TEXT) {
        if (!m->jvocab) m->jvocab = json_vocab_from_engine(m->ops, m->em, err, sizeof err);
        cx.jc = m->jvocab ? json_constraint_new(r->format == RK_FORMAT_JSON_SCHEMA ? r->schema : NULL, true, err, sizeof err)
                          : NULL;
        if (!cx.jc) {
            rc = -1;
        } else {
            json_constraint_set_vocab(cx.jc, m->jvocab);
            wrapped = *m->ops;
            wrapped.generate = constrained_generate;
            ops = &wrapped;
            p.gen.logits_filter = constrained_filter;
            p.gen.filter_user = &cx;
            p.gen.ignore_eos = false; /* the document ends with end of generation */
        }
    }
    /* an engine whose sessions run at once (and batch) generates without
     * the model's turn; the others take turns token by token */
    bool turns = !m->info.concurrent_sessions;
    if (!turns) ticket_release(&m->compute);
    if (rc == 0) rc = textgen_run(ops, sl->sess, toks, n, &p, on_gen_text, &g, &tr, err, sizeof err);
    if (turns) ticket_release(&m->compute);
    json_constraint_free(cx.jc);
    sched_unclaim(s, sl);
    free(stops);
    if (rc != 0) {
        rk_fail(&res->error, 500, NULL, "generation failed: %s", err);
        goto out;
    }
    res->finish = atomic_load(&j->cancel) ? TEXTGEN_CANCELLED : tr.finish;
    res->stats = tr.engine;
    res->ttft_ms = (g.first_text ? g.first_text : mono_ms()) - j->t_submit;
out:
    free(text);
    free(toks);
    free(spans);
    vision_batch_free(&vb);
}

/* One embedding input on an engine that tokenizes inside: text only, and
 * the token count is the engine's to report (it is not). */
static void embed_text_input(model_entry *m, slot *sl, int i, const rk_input *in, rk_result *res)
{
    if (!in->text) {
        rk_fail(&res->error, 400, "input", "model '%s' runs on the %s engine, which takes text, not token ids", m->name,
                m->ops->name);
        return;
    }
    if (!*in->text) {
        rk_fail(&res->error, 400, "input", "input %d is empty", i);
        return;
    }
    if (!m->ops->embed_text) {
        rk_fail(&res->error, 400, "input", "the %s engine cannot compute embeddings", m->ops->name);
        return;
    }
    char err[512];
    ticket_acquire(&m->compute);
    if (m->ops->embed_text(sl->sess, in->text, res->embeddings + (size_t)i * m->info.n_embd, err, sizeof err) != 0)
        rk_fail(&res->error, 500, NULL, "embedding failed: %s", err);
    else
        res->n_embeddings = i + 1;
    ticket_release(&m->compute);
}

static void run_embed(sched *s, model_entry *m, sched_job *j, rk_result *res)
{
    rk_request *r = j->req;
    int32_t d = m->info.n_embd;
    res->n_embd = d;
    res->embeddings = malloc((size_t)(r->n_inputs ? r->n_inputs : 1) * (size_t)d * sizeof(float));
    if (!res->embeddings) {
        rk_fail(&res->error, 500, NULL, "out of memory");
        return;
    }
    slot *sl = sched_claim(s, m, j, NULL, 0, NULL, true);
    sched_start_event(m, j, NULL, 0, "");
    for (int i = 0; i < r->n_inputs && !res->error.status; i++) {
        if (atomic_load(&j->cancel)) {
            res->finish = TEXTGEN_CANCELLED;
            break;
        }
        const rk_input *in = &r->inputs[i];
        if (!m->info.has_tokenizer) {
            embed_text_input(m, sl, i, in, res);
            continue;
        }
        int32_t *toks = NULL;
        int64_t n;
        ticket_acquire(&m->compute);
        if (in->text) {
            n = engine_tokenize_alloc(m->ops, m->em, in->text, true, &toks);
        } else {
            n = in->n_tokens;
            toks = malloc((size_t)(n ? n : 1) * sizeof *toks);
            if (toks) memcpy(toks, in->tokens, (size_t)n * sizeof *toks);
            else n = -1;
        }
        if (n < 0) rk_fail(&res->error, 500, NULL, "out of memory");
        else if (n == 0) rk_fail(&res->error, 400, "input", "input %d is empty", i);
        else if (n > m->info.n_ctx && !r->truncate)
            rk_fail(&res->error, 400, "input", "input %d has %lld tokens but the context holds %d", i, (long long)n,
                    m->info.n_ctx);
        for (int64_t t = 0; !res->error.status && t < n; t++)
            if (toks[t] < 0 || toks[t] >= m->info.n_vocab)
                rk_fail(&res->error, 400, "input", "token id %d is outside the vocabulary (0..%d)", toks[t],
                        m->info.n_vocab - 1);
        if (!res->error.status) {
            if (n > m->info.n_ctx) n = m->info.n_ctx;
            char err[512];
            if (m->ops->embed(sl->sess, toks, n, res->embeddings + (size_t)i * d, err, sizeof err) != 0)
                rk_fail(&res->error, 500, NULL, "embedding failed: %s", err);
            res->embed_tokens += n;
            res->n_embeddings = i + 1;
        }
        ticket_release(&m->compute);
        free(toks);
    }
    sched_unclaim(s, sl);
    res->stats.prompt_tokens = (int32_t)res->embed_tokens;
}

/* Runs j into res; the caller reports it (after updating the model's state,
 * so a client that sees the answer also sees its effects). */
void sched_run_job(sched *s, model_entry *m, sched_job *j, rk_result *res_out)
{
    rk_result res;
    memset(&res, 0, sizeof res);
    double t = mono_ms();
    res.queue_ms = t - j->t_submit;
    res.load_ms = m->loaded_at >= j->t_submit ? m->load_ms : 0;
    res.finish = TEXTGEN_STOP;
    if (atomic_load(&j->cancel)) {
        res.finish = TEXTGEN_CANCELLED;
    } else if (j->req->kind == RK_KIND_LOAD) {
        sched_start_event(m, j, NULL, 0, "");
    } else if (j->req->kind == RK_KIND_CACHE) {
        sched_run_cache(s, m, j, &res);
    } else if (j->req->kind == RK_KIND_EMBED) {
        run_embed(s, m, j, &res);
    } else {
        run_generate(s, m, j, &res);
    }
    if (!res.ttft_ms) res.ttft_ms = mono_ms() - j->t_submit;
    *res_out = res;
}
