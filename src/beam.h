/* beam.h - beam search over decoder steps, producing the n-best list of cap_result. */
#ifndef CAPTION_BEAM_H
#define CAPTION_BEAM_H

#include "caption.h"
#include "model.h"

/*
 * Beam search from the annotation vectors a [L][D] (the encoder's output).
 * At each step every live hypothesis is extended by every word; scores are the running sums
 * of log p(word) = log_softmax(logits) over the full vocabulary, with <pad>, <start> and <unk>
 * never chosen, nor (no_repeat_ngram = n >= 2) a token that would complete an n-gram the
 * hypothesis already holds. The best (beam_size - finished) extensions survive; ties go to the lower
 * (beam index * V + token). An extension by <end> finishes its hypothesis. Search stops when
 * beam_size hypotheses have finished, or after max_len steps (<end> counts as a step), when
 * the live ones are kept as unfinished. beam_size 1 is greedy decoding.
 * The n-best list: finished hypotheses by decreasing logprob / (words + 1)^length_penalty
 * (a stable sort), then unfinished ones by decreasing logprob.
 * tools/reference.py implements the same search in PyTorch.
 * Errors: CAP_ERR_NOMEM.
 */
cap_status cap_beam_search(const cap_model *m, const float *a, const cap_options *opt,
                           cap_result *out, cap_error *err);

#endif
