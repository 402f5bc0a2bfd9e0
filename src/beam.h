/* beam.h - beam search over decoder steps, producing the n-best list of cap_result. */
#ifndef CAPTION_BEAM_H
#define CAPTION_BEAM_H

#include "caption.h"
#include "decoder.h"
#include "model.h"

/* One disjunctive constraint: the caption must contain one of tokens[0 .. n-1] (a forced
 * word and its plural). n == 0: no constraint. */
typedef struct cap_constraint {
    int n;
    int tokens[2];
} cap_constraint;

/*
 * Beam search from the annotation vectors a [L][D] (the encoder's output).
 *
 * Plain (con NULL or empty). At each step every live hypothesis is extended by every word;
 * scores are the running sums of log p(word): log_softmax of the logits over the V0 trained
 * words (base_vocab_size; all V in a version-1 file), the added words (>= V0) never chosen,
 * nor <pad>, <start> and <unk>, nor (no_repeat_ngram = n >= 2) a token that would complete
 * an n-gram the hypothesis already holds. The best (beam_size - finished) extensions survive;
 * ties go to the lower (row * V + token). An extension by <end> finishes its hypothesis.
 * Search stops when beam_size hypotheses have finished, or after max_len steps (<end> counts
 * as a step), when the live ones are kept as unfinished. beam_size 1 is greedy decoding.
 * The n-best list: finished hypotheses by decreasing logprob / (words + 1)^length_penalty
 * (a stable sort), then unfinished ones by decreasing logprob.
 *
 * With a constraint F = con->tokens, the plain search runs first; when its best caption holds
 * a token of F, its result stands, less the captions without one (out->forced_word =
 * con->tokens[0]): a constraint only ever changes a caption that misses the word. Otherwise the constrained search runs
 * (Anderson et al. 2017, the finite-state form with one disjunctive constraint): two beams, state 0 (no token of F yet) and state 1 (one). Each step runs the
 * decoder on the live rows of state 0, then of state 1; an added word in F has the log
 * probability of its logit (its source word's copied row) under the same V0 normaliser.
 * From a state-0 row a token of F lands in state 1, any other in state 0; from a state-1 row
 * every token stays in state 1. Each state keeps its best (beam_size - its finished)
 * candidates, ties by (row * V + token) over the step's rows. Search stops when state 1 has
 * beam_size finished, after max_len steps, or when no row is live. The n-best list is state
 * 1's (as above) with out->forced_word = con->tokens[0]; if state 1 finished nothing, the
 * result is the plain search's (out->forced_word = -1).
 *
 * tools/captioner/reference.py implements the same searches in PyTorch.
 * Errors: CAP_ERR_NOMEM.
 */
cap_status cap_beam_search(const cap_model *m, const float *a, const cap_options *opt,
                           const cap_constraint *con, cap_result *out, cap_error *err);

/*
 * cap_beam_search for n >= 1 images in lockstep, from each image's decoder inputs (made by
 * cap_decoder_begin from its feature map, which need not outlive that call): ann[i] its
 * annotation products, h0 + i * H and c0 + i * H its initial LSTM state ([n][H] each);
 * con NULL (no constraints) or con[i] image i's constraint (n == 0: none); out[i] its result.
 * All borrowed but out. All plain searches run together, every live hypothesis of every image
 * one row of the same decoder step (cap_decoder_step_rows), so each weight matrix is read once
 * per step for the whole batch; an image leaves the step's rows as soon as its search is
 * done. Then the constrained searches of the images that need one run together in the same
 * way. Each image's result is bit for bit cap_beam_search's on that image alone (the step's
 * rows do not see each other: see cap_rows_times_wt).
 * Errors: CAP_ERR_NOMEM (then every out[i] is empty).
 */
cap_status cap_beam_search_batch(const cap_model *m, int n, const cap_annotations *ann,
                                 const float *h0, const float *c0, const cap_options *opt,
                                 const cap_constraint *con, cap_result *out, cap_error *err);

#endif
