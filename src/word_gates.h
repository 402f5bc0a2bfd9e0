/* word_gates.h - a cache of the LSTM input's word half, W_x[:, :M] E y, one row [4H] per word.
 *
 * Xu et al. 2015, eqs. (1)-(3): the gates take W_x [E y_{t-1}; z_t]. The word half depends on
 * y_{t-1} alone, so it is the same row every time a word is fed back: computed on a word's
 * first use and kept, a decoder step no longer reads W_x[:, :M] (4 MB of a step's 15 MB of
 * weights, a quarter of its products). A kept row is the very float sum the step would have
 * computed (the few-rows kernel's results do not depend on the rows beside them), so the
 * captions and alphas are bit for bit those without the cache.
 *
 * One cache belongs to a cap_model and is shared by every thread that captions with it:
 * lookups take no lock (a row is published with a release store of its slot number), and it
 * keeps at most CAP_WORD_GATES_MAX rows, the first words used, in one mapping made at load
 * (4 MB of address space; resident only for the rows written: about 600 words occur in the
 * captions of the 1,000 Flickr8k dev photos).
 */
#ifndef CAPTION_WORD_GATES_H
#define CAPTION_WORD_GATES_H

typedef struct cap_word_gates cap_word_gates;

/* The rows a model's cache keeps: 512 (4 MB at 4H = 2048) hold every word of most captions
 * (the 512 most frequent words make up 95 % of the words fed back over the Flickr8k dev
 * photos) and keep a folder run's peak RSS under 100 MB however many photos it has. */
enum { CAP_WORD_GATES_MAX = 512 };

/* A cache for tokens 0 .. n_words - 1, rows of `width` floats, keeping at most max_kept rows
 * (the first words used; the rows of later words are computed at every use). NULL when out of
 * memory: the decoder then computes every row (same results, slower). */
cap_word_gates *cap_word_gates_new(int n_words, int width, int max_kept);
void cap_word_gates_free(cap_word_gates *wg);

/* The kept row of `token` ([width] floats, valid until cap_word_gates_free), or NULL when it
 * is not kept yet (or wg is NULL). Thread-safe. */
const float *cap_word_gates_get(cap_word_gates *wg, int token);

/* Keep a copy of `row` for `token`. Does nothing when the row is already kept or being kept
 * by another thread (it holds the same values), when wg is NULL, or when max_kept rows are
 * kept. Thread-safe. */
void cap_word_gates_put(cap_word_gates *wg, int token, const float *row);

#endif
