/* tags.h - from the tagger's logits to what the caption uses: the reported tags, the forced
 * word (the constraint of beam search) and the article before it. */
#ifndef CAPTION_TAGS_H
#define CAPTION_TAGS_H

#include "beam.h"
#include "caption.h"
#include "model.h"

/* In place: x [n] <- softmax(x) (max subtracted, the sum in double). */
void cap_softmax(float *x, int n);

/* out->tags <- the max_tags most probable classes of probs [m->n_classes] (row 0, the
 * background, left out), by decreasing probability, ties to the lower class; out->n_tags set.
 * Errors: CAP_ERR_NOMEM. */
cap_status cap_tags_fill(const cap_model *m, const float *probs, int max_tags, cap_result *out,
                         cap_error *err);

/*
 * The word the caption must name: P(w) = the sum of probs over the classes whose word is w
 * (summed in class order), w* = argmax P (ties to the lower token id). When P(w*) < threshold,
 * the general words back off: P(g) = the sum over the classes whose word or general word is g
 * ("insect" collects dragonfly, fly and lacewing), g* = argmax P over the general words, and
 * w* = g* when P(g*) >= threshold. When P(w*) >= threshold, con = {w*, the plural of the
 * lowest class naming w*} (one token when both are the same) and *prob = P(w*); else
 * con->n = 0 and *prob = 0. Mirror of forced_word in tools/captioner/reference.py.
 * Errors: CAP_ERR_NOMEM.
 */
cap_status cap_forced_word(const cap_model *m, const float *probs, float threshold,
                           cap_constraint *con, float *prob, cap_error *err);

/* The indefinite article a word takes: 1 for "an" (a vowel sound: a, e, i, o, u, or "hour",
 * "honest", "heir", "honor"), 0 for "a" (consonants, and the "you"/"w" sounds of "uni", "use",
 * "usu", "ute", "eu", "one", "ewe"). */
int cap_word_takes_an(const char *word);

/* In every caption of res, an "a" or "an" directly before a token of con becomes the article
 * that token's word takes (when the vocabulary has both articles). Only the token ids change. */
void cap_agree_articles(const cap_model *m, const cap_constraint *con, cap_result *res);

#endif
