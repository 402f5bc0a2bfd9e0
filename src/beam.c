/* beam.c - beam search (see beam.h for the exact rules, shared with tools/reference.py). */
#include "beam.h"

#include "decoder.h"
#include "error.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* The histories of the live hypotheses, all of the same length t. */
typedef struct beams {
    int *tokens;     /* [k][T] */
    float *probs;    /* [k][T] */
    float *alpha;    /* [k][T][L] */
    float *beta;     /* [k][T] */
    float *logprob;  /* [k] */
    float *h, *c;    /* [k][H] */
    int *prev;       /* [k] last token (input of the next step) */
} beams;

typedef struct candidate {
    float score;
    int beam, token;
} candidate;

typedef struct search {
    int k, T, L, H, V;
    beams live, next;
    candidate *best; /* [k] */
    cap_caption *done;
    int n_done;
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

/* In place: row <- log_softmax(row) over all V, then the never-chosen tokens get -inf. */
static void log_softmax_masked(float *row, int V, const cap_model_config *cf)
{
    float mx = -INFINITY;
    for (int j = 0; j < V; j++)
        mx = row[j] > mx ? row[j] : mx;
    double sum = 0.0;
    for (int j = 0; j < V; j++)
        sum += exp((double)(row[j] - mx));
    const float lse = mx + (float)log(sum);
    for (int j = 0; j < V; j++)
        row[j] -= lse;
    row[cf->token_pad] = row[cf->token_start] = row[cf->token_unk] = -INFINITY;
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

/* Keep the `want` best (score, flat index) candidates in s->best, best first. A candidate
 * enters only if strictly better, so on equal scores the earlier flat index stays ahead. */
static int select_best(search *s, const float *logp, int n_live, int want)
{
    int n = 0;
    for (int b = 0; b < n_live; b++) {
        const float base = s->live.logprob[b];
        const float *row = logp + (size_t)b * s->V;
        for (int tok = 0; tok < s->V; tok++) {
            const float score = base + row[tok];
            if (score == -INFINITY || (n == want && score <= s->best[n - 1].score))
                continue;
            int pos = n < want ? n++ : want - 1;
            while (pos > 0 && s->best[pos - 1].score < score) {
                s->best[pos] = s->best[pos - 1];
                pos--;
            }
            s->best[pos] = (candidate){score, b, tok};
        }
    }
    return n;
}

/* Copy live hypothesis b (length t) into a new caption. */
static int emit(search *s, const beams *src, int b, int t, int finished, cap_caption *cap)
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

/* Build the next generation of live beams from the selected candidates at step t. */
static int advance(search *s, const cap_decoder_step_buf *buf, int n_sel, int t, int token_end)
{
    const size_t T = (size_t)s->T, L = (size_t)s->L, H = (size_t)s->H;
    int n_next = 0;
    for (int i = 0; i < n_sel; i++) {
        const candidate *cd = &s->best[i];
        const int b = cd->beam;
        if (cd->token == token_end) {
            cap_caption *cap = &s->done[s->n_done++];
            const float keep = s->live.logprob[b];
            s->live.logprob[b] = cd->score; /* the <end> step's log-prob counts */
            int ok = emit(s, &s->live, b, t, 1, cap);
            s->live.logprob[b] = keep;
            if (!ok)
                return -1;
            continue;
        }
        beams *nx = &s->next;
        const int j = n_next++;
        memcpy(nx->tokens + j * T, s->live.tokens + b * T, sizeof(int) * t);
        memcpy(nx->probs + j * T, s->live.probs + b * T, sizeof(float) * t);
        memcpy(nx->alpha + j * T * L, s->live.alpha + b * T * L, sizeof(float) * t * L);
        memcpy(nx->beta + j * T, s->live.beta + b * T, sizeof(float) * t);
        nx->tokens[j * T + t] = cd->token;
        nx->probs[j * T + t] = expf(cd->score - s->live.logprob[b]);
        memcpy(nx->alpha + (j * T + t) * L, buf->alpha + b * L, sizeof(float) * L);
        nx->beta[j * T + t] = buf->beta[b];
        nx->logprob[j] = cd->score;
        memcpy(nx->h + j * H, buf->h + b * H, sizeof(float) * H);
        memcpy(nx->c + j * H, buf->c + b * H, sizeof(float) * H);
        nx->prev[j] = cd->token;
    }
    beams tmp = s->live;
    s->live = s->next;
    s->next = tmp;
    return n_next;
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

cap_status cap_beam_search(const cap_model *m, const float *a, const cap_options *opt,
                           cap_result *out, cap_error *err)
{
    const cap_model_config *cf = &m->config;
    search s = {0};
    s.k = opt->beam_size;
    s.T = opt->max_len;
    s.L = cf->grid_rows * cf->grid_cols;
    s.H = cf->hidden_dim;
    s.V = cf->vocab_size;
    cap_annotations ann = {0};
    cap_decoder_step_buf buf = {0};
    cap_status st = CAP_OK;
    memset(out, 0, sizeof *out);
    out->forced_word = -1;

    s.best = malloc(sizeof(candidate) * (size_t)s.k);
    s.done = calloc((size_t)s.k, sizeof(cap_caption));
    if (!s.best || !s.done || !beams_alloc(&s.live, s.k, s.T, s.L, s.H) ||
        !beams_alloc(&s.next, s.k, s.T, s.L, s.H)) {
        st = cap_fail(err, CAP_ERR_NOMEM, "out of memory in beam search");
        goto cleanup;
    }
    if ((st = cap_decoder_alloc(m, s.k, &buf, err)) != CAP_OK ||
        (st = cap_decoder_begin(m, a, &ann, s.live.h, s.live.c, err)) != CAP_OK)
        goto cleanup;
    s.live.prev[0] = cf->token_start;
    s.live.logprob[0] = 0.0f;

    int n_live = 1, t = 0;
    for (; t < s.T && n_live > 0 && s.n_done < s.k; t++) {
        cap_decoder_step(m, &ann, n_live, s.live.prev, s.live.h, s.live.c, &buf);
        for (int b = 0; b < n_live; b++) {
            log_softmax_masked(buf.logits + (size_t)b * s.V, s.V, cf);
            if (opt->no_repeat_ngram >= 2)
                block_repeats(buf.logits + (size_t)b * s.V, s.live.tokens + (size_t)b * s.T, t,
                              opt->no_repeat_ngram);
        }
        const int n_sel = select_best(&s, buf.logits, n_live, s.k - s.n_done);
        n_live = advance(&s, &buf, n_sel, t, cf->token_end);
        if (n_live < 0) {
            st = cap_fail(err, CAP_ERR_NOMEM, "out of memory in beam search");
            goto cleanup;
        }
    }

    out->grid_rows = cf->grid_rows;
    out->grid_cols = cf->grid_cols;
    out->captions = calloc((size_t)(s.n_done + n_live), sizeof(cap_caption));
    if (!out->captions) {
        st = cap_fail(err, CAP_ERR_NOMEM, "out of memory in beam search");
        goto cleanup;
    }
    sort_finished(s.done, s.n_done, opt->length_penalty);
    memcpy(out->captions, s.done, sizeof(cap_caption) * (size_t)s.n_done);
    out->n_captions = s.n_done;
    s.n_done = 0; /* ownership moved to out */
    for (int b = 0; b < n_live; b++) /* already best first, from select_best */
        if (!emit(&s, &s.live, b, t, 0, &out->captions[out->n_captions++])) {
            st = cap_fail(err, CAP_ERR_NOMEM, "out of memory in beam search");
            goto cleanup;
        }

cleanup:
    if (st != CAP_OK)
        cap_result_free(out);
    cap_result unreturned = {.n_captions = s.n_done, .captions = s.done}; /* finished hypotheses not moved to out */
    cap_result_free(&unreturned);
    free(s.best);
    beams_free(&s.live);
    beams_free(&s.next);
    cap_decoder_free(&buf);
    cap_annotations_free(&ann);
    return st;
}
