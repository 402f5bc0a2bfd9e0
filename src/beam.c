/* beam.c - beam search, plain or constrained to contain a forced word (see beam.h for the
 * exact rules, shared with tools/captioner/reference.py). */
#include "beam.h"

#include "decoder.h"
#include "error.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* The histories of the live hypotheses of one beam, all of the same length t. */
typedef struct beams {
    int *tokens;     /* [k][T] */
    float *probs;    /* [k][T] */
    float *alpha;    /* [k][T][L] */
    float *beta;     /* [k][T] */
    float *logprob;  /* [k] */
    float *h, *c;    /* [k][H] */
    int *prev;       /* [k] last token (input of the next step) */
} beams;

/* An extension of step row `row` by `token`, with its running score. */
typedef struct candidate {
    float score;
    int row, token;
} candidate;

/* One beam of the search. Constrained search keeps two: state 0 holds the hypotheses without
 * a forced token, state 1 those with one (Anderson et al. 2017, one disjunctive constraint). */
typedef struct state {
    beams live, next;
    int n_live, n_next;
    candidate *best;   /* [k] */
    cap_caption *done; /* [k] finished hypotheses */
    int n_done;
} state;

/* The search of one image. Several run in lockstep (run_lockstep): each step, every search
 * puts its live hypotheses as rows row0 .. row0 + n_rows - 1 of one decoder step. */
typedef struct search {
    int k, T, L, H, V, V0, M;
    const cap_constraint *con; /* NULL or n == 0: plain search, one state */
    const cap_annotations *ann; /* the image's, borrowed */
    int n_states;
    state st[2];
    int active; /* still stepping; once 0, t_end is the number of steps it ran */
    int t_end;
    /* Its rows of the current decoder step: the live hypotheses of state 0, then of state 1,
     * at row0 .. row0 + n_rows - 1 of the step (and of the step buffer's outputs). */
    int row0, n_rows;
    int *row_state, *row_index; /* [2k] */
    int *row_prev;              /* [n_rows], in the step's rows (lockstep's, borrowed) */
    float *row_h, *row_c;       /* [n_rows][H], likewise */
    float *logp;                /* [n_rows][V], likewise */
} search;

static int beams_alloc(beams *b, int k, int T, int L, int H)
{
    b->tokens = malloc(sizeof(int) * (size_t)k * T);
    b->probs = malloc(sizeof(float) * (size_t)k * T);
    b->alpha = malloc(sizeof(float) * (size_t)k * T * L);
    b->beta = malloc(sizeof(float) * (size_t)k * T);
    b->logprob = malloc(sizeof(float) * (size_t)k);
    b->h = malloc(sizeof(float) * (size_t)k * H);
    b->c = malloc(sizeof(float) * (size_t)k * H);
    b->prev = malloc(sizeof(int) * (size_t)k);
    return b->tokens && b->probs && b->alpha && b->beta && b->logprob && b->h && b->c && b->prev;
}

static void beams_free(beams *b)
{
    free(b->tokens);
    free(b->probs);
    free(b->alpha);
    free(b->beta);
    free(b->logprob);
    free(b->h);
    free(b->c);
    free(b->prev);
}

static int search_alloc(search *s)
{
    const size_t rows = (size_t)s->n_states * s->k;
    for (int i = 0; i < s->n_states; i++) {
        state *q = &s->st[i];
        q->best = malloc(sizeof(candidate) * (size_t)s->k);
        q->done = calloc((size_t)s->k, sizeof(cap_caption));
        if (!q->best || !q->done || !beams_alloc(&q->live, s->k, s->T, s->L, s->H) ||
            !beams_alloc(&q->next, s->k, s->T, s->L, s->H))
            return 0;
    }
    s->row_state = malloc(sizeof(int) * rows);
    s->row_index = malloc(sizeof(int) * rows);
    return s->row_state && s->row_index;
}

static void search_free(search *s)
{
    for (int i = 0; i < s->n_states; i++) {
        state *q = &s->st[i];
        cap_result unreturned = {.n_captions = q->n_done, .captions = q->done};
        cap_result_free(&unreturned);
        free(q->best);
        beams_free(&q->live);
        beams_free(&q->next);
    }
    free(s->row_state);
    free(s->row_index);
}

static int is_forced(const search *s, int token)
{
    if (!s->con)
        return 0;
    for (int i = 0; i < s->con->n; i++)
        if (s->con->tokens[i] == token)
            return 1;
    return 0;
}

/* Gather the live hypotheses of every state into the step's rows (state 0 first). */
static void pack_rows(search *s)
{
    const size_t H = (size_t)s->H;
    int r = 0;
    for (int q = 0; q < s->n_states; q++)
        for (int b = 0; b < s->st[q].n_live; b++, r++) {
            const beams *lv = &s->st[q].live;
            s->row_state[r] = q;
            s->row_index[r] = b;
            s->row_prev[r] = lv->prev[b];
            memcpy(s->row_h + r * H, lv->h + b * H, sizeof(float) * H);
            memcpy(s->row_c + r * H, lv->c + b * H, sizeof(float) * H);
        }
    s->n_rows = r;
}

/* -inf for every token that would complete an n-gram (n = opt->no_repeat_ngram) that the
 * hypothesis `tok` [t] already holds: e.g. "a man riding a bike on a bike" with n = 2. */
static void block_repeats(float *row, const int *tok, int t, int n)
{
    for (int i = 0; i + n - 1 < t; i++) {
        /* does tok[i .. i+n-2] equal the last n-1 tokens tok[t-n+1 .. t-1]? */
        int same = 1;
        for (int j = 0; j < n - 1 && same; j++)
            same = tok[i + j] == tok[t - n + 1 + j];
        if (same)
            row[tok[i + n - 1]] = -INFINITY;
    }
}

/* logp row r [V] from the step's logits [V0]: log_softmax over the V0 trained words; an added
 * word (>= V0) is -inf unless forced, when its logit (its source word's row, copied) is
 * computed here from the deep output; then <pad>, <start>, <unk> and repeats are -inf. */
static void log_probs(const search *s, const cap_model *m, const cap_decoder_step_buf *buf,
                      int r, int t, int no_repeat_ngram)
{
    const cap_model_config *cf = &m->config;
    const float *logits = buf->logits + (size_t)(s->row0 + r) * s->V0;
    float *row = s->logp + (size_t)r * s->V;
    float mx = -INFINITY;
    for (int j = 0; j < s->V0; j++)
        mx = logits[j] > mx ? logits[j] : mx;
    double sum = 0.0;
    for (int j = 0; j < s->V0; j++)
        sum += exp((double)(logits[j] - mx));
    const float lse = mx + (float)log(sum);
    for (int j = 0; j < s->V0; j++)
        row[j] = logits[j] - lse;
    for (int j = s->V0; j < s->V; j++)
        row[j] = -INFINITY;
    for (int i = 0; s->con && i < s->con->n; i++) {
        const int f = s->con->tokens[i];
        if (f < s->V0)
            continue;
        const float *w = m->decoder.out_logits_w + (size_t)f * s->M, *o = buf->out + (size_t)(s->row0 + r) * s->M;
        float z = m->decoder.out_logits_b[f];
        for (int j = 0; j < s->M; j++)
            z += w[j] * o[j];
        row[f] = z - lse;
    }
    row[cf->token_pad] = row[cf->token_start] = row[cf->token_unk] = -INFINITY;
    if (no_repeat_ngram >= 2) {
        const state *q = &s->st[s->row_state[r]];
        block_repeats(row, q->live.tokens + (size_t)s->row_index[r] * s->T, t, no_repeat_ngram);
    }
}

/* Which extensions of a row of state `from` land in state `to`: in a plain search all of them;
 * constrained, a forced token moves a state-0 row to state 1 and a state-1 row stays. */
static int lands_in(const search *s, int from, int token, int to)
{
    if (s->n_states == 1)
        return 1;
    if (from == 1)
        return to == 1;
    return is_forced(s, token) == (to == 1);
}

/* Keep the `want` best candidates landing in state `to`, best first, in s->st[to].best. A
 * candidate enters only if strictly better, so on equal scores the earlier flat index
 * (row * V + token) stays ahead. */
static int select_best(search *s, int to, int want)
{
    candidate *best = s->st[to].best;
    int n = 0;
    if (want <= 0)
        return 0;
    /* The added words (>= V0) are -inf unless forced: a plain search need not scan them. */
    const int n_tok = s->con ? s->V : s->V0;
    for (int r = 0; r < s->n_rows; r++) {
        const int from = s->row_state[r];
        if (s->n_states > 1 && from == 1 && to == 0)
            continue;
        const float base = s->st[from].live.logprob[s->row_index[r]];
        const float *row = s->logp + (size_t)r * s->V;
        for (int tok = 0; tok < n_tok; tok++) {
            const float score = base + row[tok];
            if (score == -INFINITY || (n == want && score <= best[n - 1].score))
                continue;
            if (!lands_in(s, from, tok, to))
                continue;
            int pos = n < want ? n++ : want - 1;
            while (pos > 0 && best[pos - 1].score < score) {
                best[pos] = best[pos - 1];
                pos--;
            }
            best[pos] = (candidate){score, r, tok};
        }
    }
    return n;
}

/* Copy live hypothesis b (length t) of `src` into a new caption. */
static int emit(const search *s, const beams *src, int b, int t, int finished, cap_caption *cap)
{
    const size_t T = (size_t)s->T, L = (size_t)s->L;
    cap->n_tokens = t;
    cap->logprob = src->logprob[b];
    cap->finished = finished;
    cap->tokens = malloc(sizeof(int) * (t ? t : 1));
    cap->word_prob = malloc(sizeof(float) * (t ? t : 1));
    cap->alpha = malloc(sizeof(float) * (t ? t : 1) * L);
    cap->beta = malloc(sizeof(float) * (t ? t : 1));
    if (!cap->tokens || !cap->word_prob || !cap->alpha || !cap->beta)
        return 0;
    memcpy(cap->tokens, src->tokens + b * T, sizeof(int) * t);
    memcpy(cap->word_prob, src->probs + b * T, sizeof(float) * t);
    memcpy(cap->alpha, src->alpha + b * T * L, sizeof(float) * t * L);
    memcpy(cap->beta, src->beta + b * T, sizeof(float) * t);
    return 1;
}

/* Build state `to`'s next generation from its n_sel selected candidates at step t: <end>
 * finishes a hypothesis, any other token extends it. Reads the live beams of every state,
 * so every state's next generation is built before any is swapped in (next_generation). */
static int advance(search *s, const cap_decoder_step_buf *buf, int to, int n_sel, int t,
                   int token_end)
{
    const size_t T = (size_t)s->T, L = (size_t)s->L, H = (size_t)s->H;
    state *q = &s->st[to];
    beams *nx = &q->next;
    q->n_next = 0;
    for (int i = 0; i < n_sel; i++) {
        const candidate *cd = &q->best[i];
        const int r = cd->row, b = s->row_index[r], g = s->row0 + r; /* g: the step's row */
        beams *src = &s->st[s->row_state[r]].live;
        if (cd->token == token_end) {
            cap_caption *cap = &q->done[q->n_done++];
            const float keep = src->logprob[b];
            src->logprob[b] = cd->score; /* the <end> step's log-prob counts */
            const int ok = emit(s, src, b, t, 1, cap);
            src->logprob[b] = keep;
            if (!ok)
                return 0;
            continue;
        }
        const int j = q->n_next++;
        memcpy(nx->tokens + j * T, src->tokens + b * T, sizeof(int) * t);
        memcpy(nx->probs + j * T, src->probs + b * T, sizeof(float) * t);
        memcpy(nx->alpha + j * T * L, src->alpha + b * T * L, sizeof(float) * t * L);
        memcpy(nx->beta + j * T, src->beta + b * T, sizeof(float) * t);
        nx->tokens[j * T + t] = cd->token;
        nx->probs[j * T + t] = expf(cd->score - src->logprob[b]);
        memcpy(nx->alpha + (j * T + t) * L, buf->alpha + g * L, sizeof(float) * L);
        nx->beta[j * T + t] = buf->beta[g];
        nx->logprob[j] = cd->score;
        memcpy(nx->h + j * H, buf->h + g * H, sizeof(float) * H);
        memcpy(nx->c + j * H, buf->c + g * H, sizeof(float) * H);
        nx->prev[j] = cd->token;
    }
    return 1;
}

static void next_generation(search *s)
{
    for (int q = 0; q < s->n_states; q++) {
        state *st = &s->st[q];
        const beams tmp = st->live;
        st->live = st->next;
        st->next = tmp;
        st->n_live = st->n_next;
    }
}

static float ranking_score(const cap_caption *c, float length_penalty)
{
    if (length_penalty == 0.0f)
        return c->logprob;
    return c->logprob / powf((float)(c->n_tokens + 1), length_penalty);
}

/* Stable insertion sort by decreasing ranking score (n <= beam size). */
static void sort_finished(cap_caption *c, int n, float length_penalty)
{
    for (int i = 1; i < n; i++) {
        const cap_caption x = c[i];
        const float sx = ranking_score(&x, length_penalty);
        int j = i;
        while (j > 0 && ranking_score(&c[j - 1], length_penalty) < sx) {
            c[j] = c[j - 1];
            j--;
        }
        c[j] = x;
    }
}

/* Move state q's n-best list into out: finished ones sorted, then the live ones (already best
 * first, from select_best) as unfinished. Returns 0 when out of memory. */
static int collect(search *s, int q, int t, float length_penalty, cap_result *out)
{
    state *st = &s->st[q];
    out->captions = calloc((size_t)(st->n_done + st->n_live), sizeof(cap_caption));
    if (!out->captions)
        return 0;
    sort_finished(st->done, st->n_done, length_penalty);
    memcpy(out->captions, st->done, sizeof(cap_caption) * (size_t)st->n_done);
    out->n_captions = st->n_done;
    st->n_done = 0; /* ownership moved to out */
    for (int b = 0; b < st->n_live; b++)
        if (!emit(s, &st->live, b, t, 0, &out->captions[out->n_captions++]))
            return 0;
    return 1;
}

/* The inputs of one lockstep decoder step, shared by the searches (max_rows rows). */
typedef struct lockstep {
    int max_rows;
    int *prev;                    /* [max_rows] */
    float *h, *c;                 /* [max_rows][H] */
    float *logp;                  /* [max_rows][V] */
    const cap_annotations **ann;  /* [max_rows] each row's image */
    cap_decoder_step_buf buf;
} lockstep;

static cap_status lockstep_alloc(const cap_model *m, int max_rows, lockstep *ls, cap_error *err)
{
    const size_t rows = (size_t)max_rows, H = (size_t)m->config.hidden_dim,
                 V = (size_t)m->config.vocab_size;
    memset(ls, 0, sizeof *ls);
    ls->max_rows = max_rows;
    ls->prev = malloc(sizeof(int) * rows);
    ls->h = malloc(sizeof(float) * rows * H);
    ls->c = malloc(sizeof(float) * rows * H);
    ls->logp = malloc(sizeof(float) * rows * V);
    ls->ann = malloc(sizeof *ls->ann * rows);
    if (!ls->prev || !ls->h || !ls->c || !ls->logp || !ls->ann)
        return cap_fail(err, CAP_ERR_NOMEM, "out of memory in beam search");
    return cap_decoder_alloc(m, max_rows, &ls->buf, err);
}

static void lockstep_free(lockstep *ls)
{
    free(ls->prev);
    free(ls->h);
    free(ls->c);
    free(ls->logp);
    free(ls->ann);
    cap_decoder_free(&ls->buf);
}

/* Set up search s (plain when con is NULL or empty) from the image's annotations and initial
 * state h0, c0 [H]. Returns 0 when out of memory (s is then freed by search_free). */
static int search_init(search *s, const cap_model *m, const cap_annotations *ann, const float *h0,
                       const float *c0, const cap_options *opt, const cap_constraint *con)
{
    const cap_model_config *cf = &m->config;
    memset(s, 0, sizeof *s);
    s->k = opt->beam_size;
    s->T = opt->max_len;
    s->L = cf->grid_rows * cf->grid_cols;
    s->H = cf->hidden_dim;
    s->V = cf->vocab_size;
    s->V0 = cf->base_vocab_size;
    s->M = cf->embed_dim;
    s->con = con && con->n > 0 ? con : NULL;
    s->ann = ann;
    s->n_states = s->con ? 2 : 1;
    if (!search_alloc(s))
        return 0;
    const size_t H = (size_t)s->H;
    memcpy(s->st[0].live.h, h0, sizeof(float) * H);
    memcpy(s->st[0].live.c, c0, sizeof(float) * H);
    s->st[0].live.prev[0] = cf->token_start;
    s->st[0].live.logprob[0] = 0.0f;
    s->st[0].n_live = 1;
    s->active = 1;
    return 1;
}

/* Put search s's live hypotheses into the step's rows from `row0` on; returns how many. A search
 * that is done (beam_size finished in the returned beam, max_len steps, or nothing live)
 * becomes inactive instead, its step count t kept in t_end. */
static int take_rows(search *s, lockstep *ls, int row0, int t)
{
    if (!s->active)
        return 0;
    if (t >= s->T || s->st[s->n_states - 1].n_done >= s->k) {
        s->active = 0;
        s->t_end = t;
        return 0;
    }
    s->row0 = row0;
    s->row_prev = ls->prev + row0;
    s->row_h = ls->h + (size_t)row0 * s->H;
    s->row_c = ls->c + (size_t)row0 * s->H;
    s->logp = ls->logp + (size_t)row0 * s->V;
    pack_rows(s);
    if (s->n_rows == 0) {
        s->active = 0;
        s->t_end = t;
    }
    for (int r = 0; r < s->n_rows; r++)
        ls->ann[row0 + r] = s->ann;
    return s->n_rows;
}

/* Run searches s[0 .. n-1] in lockstep until every one is done: each step is one decoder step
 * over the live hypotheses of all of them (every weight matrix read once per step for the whole
 * batch), then each search selects and advances on its own rows exactly as it would alone. */
static cap_status run_lockstep(const cap_model *m, const cap_options *opt, search *const *s,
                               int n, lockstep *ls, cap_error *err)
{
    const int token_end = m->config.token_end;
    for (int t = 0;; t++) {
        int rows = 0;
        for (int i = 0; i < n; i++)
            rows += take_rows(s[i], ls, rows, t);
        if (rows == 0)
            return CAP_OK;
        cap_decoder_step_rows(m, ls->ann, rows, ls->prev, ls->h, ls->c, &ls->buf);
        for (int i = 0; i < n; i++) {
            search *si = s[i];
            if (!si->active)
                continue;
            for (int r = 0; r < si->n_rows; r++)
                log_probs(si, m, &ls->buf, r, t, opt->no_repeat_ngram);
            for (int q = 0; q < si->n_states; q++) {
                const int n_sel = select_best(si, q, si->k - si->st[q].n_done);
                if (!advance(si, &ls->buf, q, n_sel, t, token_end))
                    return cap_fail(err, CAP_ERR_NOMEM, "out of memory in beam search");
            }
            next_generation(si);
        }
    }
}

/* The n-best list of a finished search into out. *found = 0 when a constrained search finished
 * no caption with the forced word (out is then left empty). */
static cap_status search_result(search *s, const cap_model *m, const cap_options *opt,
                                cap_result *out, int *found, cap_error *err)
{
    *found = 0;
    if (s->con && s->st[1].n_done == 0)
        return CAP_OK; /* no finished caption names the forced word: the caller falls back */
    *found = 1;
    out->grid_rows = m->config.grid_rows;
    out->grid_cols = m->config.grid_cols;
    if (!collect(s, s->n_states - 1, s->t_end, opt->length_penalty, out)) {
        cap_result_free(out);
        return cap_fail(err, CAP_ERR_NOMEM, "out of memory in beam search");
    }
    return CAP_OK;
}

static int names_forced(const cap_caption *c, const cap_constraint *con)
{
    for (int i = 0; i < c->n_tokens; i++)
        for (int j = 0; j < con->n; j++)
            if (c->tokens[i] == con->tokens[j])
                return 1;
    return 0;
}

/* Drop (and free) the captions of res that do not name a token of con, keeping the order. */
static void keep_named(cap_result *res, const cap_constraint *con)
{
    int n = 0;
    for (int i = 0; i < res->n_captions; i++) {
        if (names_forced(&res->captions[i], con)) {
            res->captions[n++] = res->captions[i];
            continue;
        }
        cap_caption *drop = &res->captions[i];
        free(drop->tokens);
        free(drop->word_prob);
        free(drop->alpha);
        free(drop->beta);
    }
    res->n_captions = n;
}

/* The searches of one batch of images, and what they share. */
typedef struct batch_search {
    int n;
    const cap_annotations *ann; /* [n] borrowed */
    const float *h0, *c0;       /* [n][H] borrowed */
    search *s;            /* [n] */
    search **run;         /* [n] the searches of the current lockstep run */
    lockstep ls;
} batch_search;

static void batch_search_free(batch_search *b)
{
    for (int i = 0; b->s && i < b->n; i++)
        search_free(&b->s[i]);
    free(b->s);
    free(b->run);
    lockstep_free(&b->ls);
}

/* The constrained searches of the images whose plain best caption misses their forced word,
 * in lockstep; the others keep the plain n-best list, less the captions without the word. */
static cap_status constrained_pass(batch_search *b, const cap_model *m, const cap_options *opt,
                                   const cap_constraint *con, cap_result *out, cap_error *err)
{
    const size_t H = (size_t)m->config.hidden_dim;
    int n_run = 0;
    for (int i = 0; i < b->n; i++) {
        search_free(&b->s[i]);
        memset(&b->s[i], 0, sizeof b->s[i]);
        if (con[i].n == 0 || out[i].n_captions == 0)
            continue;
        if (names_forced(&out[i].captions[0], &con[i])) {
            keep_named(&out[i], &con[i]); /* the n-best list: only captions with the word */
            out[i].forced_word = con[i].tokens[0];
            continue;
        }
        if (!search_init(&b->s[i], m, &b->ann[i], b->h0 + i * H, b->c0 + i * H, opt, &con[i]))
            return cap_fail(err, CAP_ERR_NOMEM, "out of memory in beam search");
        b->run[n_run++] = &b->s[i];
    }
    cap_status st = run_lockstep(m, opt, b->run, n_run, &b->ls, err);
    for (int j = 0; st == CAP_OK && j < n_run; j++) {
        const int i = (int)(b->run[j] - b->s);
        cap_result forced = {0};
        int found = 0;
        st = search_result(b->run[j], m, opt, &forced, &found, err);
        if (st == CAP_OK && found) {
            cap_result_free(&out[i]);
            out[i] = forced;
            out[i].forced_word = con[i].tokens[0];
        }
    }
    return st;
}

cap_status cap_beam_search_batch(const cap_model *m, int n, const cap_annotations *ann,
                                 const float *h0, const float *c0, const cap_options *opt,
                                 const cap_constraint *con, cap_result *out, cap_error *err)
{
    const cap_model_config *cf = &m->config;
    const size_t H = (size_t)cf->hidden_dim;
    int constrained = 0;
    for (int i = 0; i < n; i++) {
        memset(&out[i], 0, sizeof out[i]);
        out[i].forced_word = -1;
        constrained |= con && con[i].n > 0;
    }
    batch_search b = {.n = n, .ann = ann, .h0 = h0, .c0 = c0};
    b.s = calloc((size_t)n, sizeof *b.s);
    b.run = malloc(sizeof *b.run * (size_t)n);
    cap_status st = CAP_OK;
    if (!b.s || !b.run)
        st = cap_fail(err, CAP_ERR_NOMEM, "out of memory in beam search");
    /* A constrained search has two beams, so twice the rows of a plain one. */
    if (st == CAP_OK)
        st = lockstep_alloc(m, n * opt->beam_size * (constrained ? 2 : 1), &b.ls, err);
    /* The plain search first, for every image: when its best caption already names the
     * forced word, that is the caption (a constraint only ever changes a caption that misses
     * the word). */
    for (int i = 0; st == CAP_OK && i < n; i++) {
        if (!search_init(&b.s[i], m, &b.ann[i], b.h0 + i * H, b.c0 + i * H, opt, NULL))
            st = cap_fail(err, CAP_ERR_NOMEM, "out of memory in beam search");
        b.run[i] = &b.s[i];
    }
    if (st == CAP_OK)
        st = run_lockstep(m, opt, b.run, n, &b.ls, err);
    for (int i = 0; st == CAP_OK && i < n; i++) {
        int found;
        st = search_result(&b.s[i], m, opt, &out[i], &found, err);
    }
    if (st == CAP_OK && constrained)
        st = constrained_pass(&b, m, opt, con, out, err);
    if (st != CAP_OK)
        for (int i = 0; i < n; i++)
            cap_result_free(&out[i]);
    batch_search_free(&b);
    return st;
}

cap_status cap_beam_search(const cap_model *m, const float *a, const cap_options *opt,
                           const cap_constraint *con, cap_result *out, cap_error *err)
{
    const size_t H = (size_t)m->config.hidden_dim;
    cap_annotations ann = {0};
    float *h0 = malloc(sizeof(float) * H), *c0 = malloc(sizeof(float) * H);
    cap_status st = h0 && c0 ? cap_decoder_begin(m, a, &ann, h0, c0, err)
                             : cap_fail(err, CAP_ERR_NOMEM, "out of memory in beam search");
    if (st == CAP_OK)
        st = cap_beam_search_batch(m, 1, &ann, h0, c0, opt, con, out, err);
    else
        memset(out, 0, sizeof *out);
    cap_annotations_free(&ann);
    free(h0);
    free(c0);
    return st;
}
