/* caption.c - the top of the library: image -> 224x224 -> encoder -> beam search. */
#include "caption.h"

#include "beam.h"
#include "encoder.h"
#include "error.h"
#include "model.h"
#include "tags.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

cap_options cap_options_default(void)
{
    /* Tuned on the Flickr8k dev split (models/README.md, "Decoding"): both raise CIDEr-D and
     * BLEU-4 of the shipped model's beam-3 captions. */
    return (cap_options){.beam_size = 3, .max_len = 20, .length_penalty = 0.7f,
                         .no_repeat_ngram = 2, .max_tags = 5,
                         .tag_threshold = CAP_DEFAULT_TAG_THRESHOLD};
}

cap_status cap_caption_image(const cap_model *model, const cap_image *image,
                             const cap_options *options, cap_result *out, cap_error *err)
{
    if (out)
        memset(out, 0, sizeof *out);
    if (!model || !image || !options || !out)
        return cap_fail(err, CAP_ERR_ARG, "NULL argument");
    if (!image->rgb || image->width < 1 || image->height < 1)
        return cap_fail(err, CAP_ERR_ARG, "empty image");
    if (options->beam_size < 1 || options->max_len < 1)
        return cap_fail(err, CAP_ERR_ARG, "beam size and maximum length must be at least 1");
    if (!(options->length_penalty >= 0.0f) || !isfinite(options->length_penalty))
        return cap_fail(err, CAP_ERR_ARG, "length penalty must be a finite number >= 0");
    if (options->no_repeat_ngram < 0 || options->no_repeat_ngram == 1)
        return cap_fail(err, CAP_ERR_ARG, "no-repeat n-gram length must be 0 (off) or >= 2");
    if (options->max_tags < 0 || options->max_tags > CAP_MAX_TAGS)
        return cap_fail(err, CAP_ERR_ARG, "number of tags must be 0..20");
    if (!(options->tag_threshold >= 0.0f) || !isfinite(options->tag_threshold))
        return cap_fail(err, CAP_ERR_ARG, "tag threshold must be a finite number >= 0");

    const int side = model->config.input_size;
    const int L = model->config.grid_rows * model->config.grid_cols;
    cap_image sq = {0};
    cap_status st = cap_image_resize(image, side, side, &sq, err);
    if (st != CAP_OK)
        return st;
    const int tagged = options->max_tags > 0 && model->n_classes > 0;
    float *x = malloc(sizeof(float) * 3 * (size_t)side * side);
    float *a = malloc(sizeof(float) * (size_t)L * model->config.feature_dim);
    float *probs = tagged ? malloc(sizeof(float) * (size_t)model->n_classes) : NULL;
    if (!x || !a || (tagged && !probs))
        st = cap_fail(err, CAP_ERR_NOMEM, "out of memory");
    if (st == CAP_OK) {
        cap_encoder_input(&sq, x);
        st = cap_encoder_forward_tagged(&model->encoder, tagged ? &model->tagger : NULL, x, a,
                                        probs, NULL, err);
    }
    cap_constraint con = {0};
    float forced_prob = 0.0f;
    if (st == CAP_OK && tagged) {
        cap_softmax(probs, model->n_classes);
        st = cap_forced_word(model, probs, options->tag_threshold, &con, &forced_prob, err);
    }
    if (st == CAP_OK)
        st = cap_beam_search(model, a, options, &con, out, err);
    if (st == CAP_OK && tagged)
        st = cap_tags_fill(model, probs, options->max_tags, out, err);
    if (st == CAP_OK && out->forced_word >= 0) {
        out->forced_prob = forced_prob;
        cap_agree_articles(model, &con, out);
    }
    if (st != CAP_OK)
        cap_result_free(out);
    free(x);
    free(a);
    free(probs);
    cap_image_free(&sq);
    return st;
}
