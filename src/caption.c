/* caption.c - the top of the library: image -> 224x224 -> encoder -> beam search. */
#include "caption.h"

#include "beam.h"
#include "decoder.h"
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

static cap_status check_options(const cap_options *options, cap_error *err)
{
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
    return CAP_OK;
}

/* What a batch holds besides the results: per image its decoder inputs and, with a tagger,
 * its class probabilities and constraint. */
typedef struct batch_work {
    int n;
    cap_image *sq;       /* [n] the images squashed to the encoder's input size */
    float *a;            /* [n][L][D] the feature maps, until cap_decoder_begin_batch */
    cap_annotations *ann; /* [n] */
    float *h0, *c0;      /* [n][H] */
    float *probs;        /* [n][classes] or NULL */
    cap_constraint *con; /* [n] */
    float *forced_prob;  /* [n] */
} batch_work;

static void batch_work_free(batch_work *w)
{
    for (int i = 0; w->ann && i < w->n; i++)
        cap_annotations_free(&w->ann[i]);
    for (int i = 0; w->sq && i < w->n; i++)
        cap_image_free(&w->sq[i]);
    free(w->sq);
    free(w->ann);
    free(w->h0);
    free(w->c0);
    free(w->a);
    free(w->probs);
    free(w->con);
    free(w->forced_prob);
}

/* Every image -> 224x224 -> the encoder (and tagger), all at once -> the feature maps w->a,
 * then each image's probabilities and constraint. */
static cap_status encode_all(const cap_model *model, int n, const cap_image *images,
                             const cap_options *options, int tagged, batch_work *w,
                             cap_error *err)
{
    const int side = model->config.input_size;
    cap_status st = CAP_OK;
    for (int i = 0; st == CAP_OK && i < n; i++)
        st = cap_image_resize(&images[i], side, side, &w->sq[i], err);
    if (st == CAP_OK)
        st = cap_encoder_forward_images(&model->encoder, tagged ? &model->tagger : NULL, n,
                                        w->sq, w->a, w->probs, NULL, err);
    for (int i = 0; i < n; i++)
        cap_image_free(&w->sq[i]);
    for (int i = 0; st == CAP_OK && tagged && i < n; i++) {
        float *probs = w->probs + (size_t)i * model->n_classes;
        cap_softmax(probs, model->n_classes);
        st = cap_forced_word(model, probs, options->tag_threshold, &w->con[i],
                             &w->forced_prob[i], err);
    }
    return st;
}

cap_status cap_caption_images(const cap_model *model, int n, const cap_image *images,
                              const cap_options *options, cap_result *out, cap_error *err)
{
    if (out && n > 0)
        memset(out, 0, sizeof *out * (size_t)n);
    if (!model || !images || !options || !out)
        return cap_fail(err, CAP_ERR_ARG, "NULL argument");
    if (n < 1)
        return cap_fail(err, CAP_ERR_ARG, "number of images must be at least 1");
    for (int i = 0; i < n; i++)
        if (!images[i].rgb || images[i].width < 1 || images[i].height < 1)
            return n == 1 ? cap_fail(err, CAP_ERR_ARG, "empty image")
                          : cap_fail(err, CAP_ERR_ARG, "image %d of the batch is empty", i);
    cap_status st = check_options(options, err);
    if (st != CAP_OK)
        return st;

    const size_t LD = (size_t)model->config.grid_rows * model->config.grid_cols *
                      model->config.feature_dim,
                 H = (size_t)model->config.hidden_dim;
    const int tagged = options->max_tags > 0 && model->n_classes > 0;
    batch_work w = {.n = n};
    w.sq = calloc((size_t)n, sizeof *w.sq);
    w.a = malloc(sizeof(float) * LD * n);
    w.ann = calloc((size_t)n, sizeof *w.ann);
    w.h0 = malloc(sizeof(float) * H * n);
    w.c0 = malloc(sizeof(float) * H * n);
    w.con = calloc((size_t)n, sizeof *w.con);
    w.forced_prob = calloc((size_t)n, sizeof *w.forced_prob);
    w.probs = tagged ? malloc(sizeof(float) * (size_t)model->n_classes * n) : NULL;
    if (!w.sq || !w.a || !w.ann || !w.h0 || !w.c0 || !w.con || !w.forced_prob ||
        (tagged && !w.probs))
        st = cap_fail(err, CAP_ERR_NOMEM, "out of memory");
    if (st == CAP_OK)
        st = encode_all(model, n, images, options, tagged, &w, err);
    if (st == CAP_OK) {
        /* The decoder's per-image products for the whole batch at once (wider GEMMs). */
        st = cap_decoder_begin_batch(model, n, w.a, w.ann, w.h0, w.c0, err);
        for (int i = 0; i < n; i++)
            w.ann[i].a = NULL; /* read by cap_decoder_begin_batch only */
    }
    if (st == CAP_OK)
        st = cap_beam_search_batch(model, n, w.ann, w.h0, w.c0, options, w.con, out, err);
    for (int i = 0; st == CAP_OK && i < n; i++) {
        if (tagged)
            st = cap_tags_fill(model, w.probs + (size_t)i * model->n_classes, options->max_tags,
                               &out[i], err);
        if (st == CAP_OK && out[i].forced_word >= 0) {
            out[i].forced_prob = w.forced_prob[i];
            cap_agree_articles(model, &w.con[i], &out[i]);
        }
    }
    if (st != CAP_OK)
        for (int i = 0; i < n; i++)
            cap_result_free(&out[i]);
    batch_work_free(&w);
    return st;
}

cap_status cap_caption_image(const cap_model *model, const cap_image *image,
                             const cap_options *options, cap_result *out, cap_error *err)
{
    if (out)
        memset(out, 0, sizeof *out);
    if (!model || !image || !options || !out)
        return cap_fail(err, CAP_ERR_ARG, "NULL argument");
    return cap_caption_images(model, 1, image, options, out, err);
}
