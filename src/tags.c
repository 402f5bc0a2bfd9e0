/* tags.c - tags, the forced word and article agreement (see tags.h). */
#include "tags.h"

#include "error.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void cap_softmax(float *x, int n)
{
    float mx = -INFINITY;
    for (int i = 0; i < n; i++)
        mx = x[i] > mx ? x[i] : mx;
    double sum = 0.0;
    for (int i = 0; i < n; i++) {
        x[i] = expf(x[i] - mx);
        sum += x[i];
    }
    for (int i = 0; i < n; i++)
        x[i] = (float)(x[i] / sum);
}

cap_status cap_tags_fill(const cap_model *m, const float *probs, int max_tags, cap_result *out,
                         cap_error *err)
{
    const int n = max_tags < m->n_classes - 1 ? max_tags : m->n_classes - 1;
    out->n_tags = 0;
    if (n <= 0)
        return CAP_OK;
    out->tags = calloc((size_t)n, sizeof *out->tags);
    if (!out->tags)
        return cap_fail(err, CAP_ERR_NOMEM, "out of memory for tags");
    /* Insertion into the n best; a class enters only if strictly better, so ties keep the
     * lower class ahead. */
    int rows[CAP_MAX_TAGS], k = 0;
    for (int c = 1; c < m->n_classes; c++) {
        if (k == n && probs[c] <= probs[rows[k - 1]])
            continue;
        int pos = k < n ? k++ : n - 1;
        while (pos > 0 && probs[rows[pos - 1]] < probs[c]) {
            rows[pos] = rows[pos - 1];
            pos--;
        }
        rows[pos] = c;
    }
    for (int i = 0; i < k; i++) {
        const cap_class *cl = &m->classes[rows[i]];
        out->tags[i] = (cap_tag){.class_index = rows[i] - 1, .label = cl->label,
                                 .word = cl->word >= 0 ? m->words[cl->word] : NULL,
                                 .prob = probs[rows[i]]};
    }
    out->n_tags = k;
    return CAP_OK;
}

/* The word with the highest probability among those for which is_candidate[w] (ties: the
 * lower token id), or -1 when none has a probability above 0. */
static int most_probable(const float *p_word, const unsigned char *is_candidate, int V)
{
    int best = -1;
    for (int w = 0; w < V; w++)
        if (is_candidate[w] && p_word[w] > 0.0f && (best < 0 || p_word[w] > p_word[best]))
            best = w;
    return best;
}

cap_status cap_forced_word(const cap_model *m, const float *probs, float threshold,
                           cap_constraint *con, float *prob, cap_error *err)
{
    con->n = 0;
    *prob = 0.0f;
    const int V = m->config.vocab_size;
    float *p_word = calloc((size_t)V, sizeof *p_word);
    int *plural = malloc(sizeof *plural * (size_t)V);
    unsigned char *is_word = calloc((size_t)V, 1), *is_general = calloc((size_t)V, 1);
    if (!p_word || !plural || !is_word || !is_general) {
        free(p_word), free(plural), free(is_word), free(is_general);
        return cap_fail(err, CAP_ERR_NOMEM, "out of memory for tags");
    }
    /* The class words: P(w) = the sum, in class order, of the probabilities of the classes
     * whose word w is; the plural from the lowest such class. */
    for (int w = 0; w < V; w++)
        plural[w] = -1;
    for (int c = 0; c < m->n_classes; c++) {
        const cap_class *cl = &m->classes[c];
        if (cl->word < 0)
            continue;
        p_word[cl->word] += probs[c];
        is_word[cl->word] = 1;
        if (plural[cl->word] < 0)
            plural[cl->word] = cl->plural;
    }
    int best = most_probable(p_word, is_word, V);
    float p_best = best >= 0 ? p_word[best] : 0.0f;
    if (best >= 0 && p_best < threshold) {
        /* Back-off: the general words compete, each with the summed probability of the
         * classes whose word or general word it is ("insect": dragonfly + fly + lacewing). */
        memset(p_word, 0, sizeof *p_word * (size_t)V);
        for (int w = 0; w < V; w++)
            plural[w] = -1;
        for (int c = 0; c < m->n_classes; c++) {
            const cap_class *cl = &m->classes[c];
            const int forms[2][2] = {{cl->word, cl->plural}, {cl->general, cl->general_plural}};
            for (int j = 0; j < 2; j++) {
                const int w = forms[j][0];
                if (w < 0)
                    continue;
                p_word[w] += probs[c];
                if (plural[w] < 0)
                    plural[w] = forms[j][1];
                if (j == 1)
                    is_general[w] = 1;
            }
        }
        const int g = most_probable(p_word, is_general, V);
        if (g >= 0 && p_word[g] >= threshold) {
            best = g;
            p_best = p_word[g];
        }
    }
    if (best >= 0 && p_best >= threshold) {
        *prob = p_best;
        con->tokens[con->n++] = best;
        if (plural[best] >= 0 && plural[best] != best)
            con->tokens[con->n++] = plural[best];
    }
    free(p_word), free(plural), free(is_word), free(is_general);
    return CAP_OK;
}

static int starts_with(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

int cap_word_takes_an(const char *word)
{
    static const char *const a_before[] = {"uni", "use", "usu", "ute", "eu", "one", "ewe"};
    static const char *const an_before[] = {"hour", "honest", "heir", "honor"};
    for (size_t i = 0; i < sizeof a_before / sizeof *a_before; i++)
        if (starts_with(word, a_before[i]))
            return 0;
    for (size_t i = 0; i < sizeof an_before / sizeof *an_before; i++)
        if (starts_with(word, an_before[i]))
            return 1;
    return strchr("aeiou", word[0]) != NULL && word[0] != '\0';
}

void cap_agree_articles(const cap_model *m, const cap_constraint *con, cap_result *res)
{
    if (m->token_a < 0 || m->token_an < 0)
        return;
    for (int c = 0; c < res->n_captions; c++) {
        cap_caption *cap = &res->captions[c];
        for (int i = 0; i + 1 < cap->n_tokens; i++) {
            const int next = cap->tokens[i + 1];
            int forced = 0;
            for (int j = 0; j < con->n; j++)
                forced |= con->tokens[j] == next;
            if (!forced || (cap->tokens[i] != m->token_a && cap->tokens[i] != m->token_an))
                continue;
            cap->tokens[i] = cap_word_takes_an(m->words[next]) ? m->token_an : m->token_a;
        }
    }
}
