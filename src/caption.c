/* caption.c - the top of the library: image -> 224x224 -> encoder -> beam search. */
#include "caption.h"

#include "beam.h"
#include "encoder.h"
#include "error.h"
#include "model.h"

#include <stdlib.h>
#include <string.h>

cap_options cap_options_default(void)
{
    return (cap_options){.beam_size = 3, .max_len = 20};
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

    const int side = model->config.input_size;
    const int L = model->config.grid_rows * model->config.grid_cols;
    cap_image sq = {0};
    cap_status st = cap_image_resize(image, side, side, &sq, err);
    if (st != CAP_OK)
        return st;
    float *x = malloc(sizeof(float) * 3 * (size_t)side * side);
    float *a = malloc(sizeof(float) * (size_t)L * model->config.feature_dim);
    if (!x || !a)
        st = cap_fail(err, CAP_ERR_NOMEM, "out of memory");
    if (st == CAP_OK) {
        cap_encoder_input(&sq, x);
        st = cap_encoder_forward(&model->encoder, x, a, err);
    }
    if (st == CAP_OK)
        st = cap_beam_search(model, a, options, out, err);
    free(x);
    free(a);
    cap_image_free(&sq);
    return st;
}

size_t cap_caption_text(const cap_model *model, const cap_caption *caption, char *buf,
                        size_t size)
{
    size_t len = 0;
    for (int i = 0; i < caption->n_tokens; i++) {
        const char *w = cap_model_word(model, caption->tokens[i]);
        if (!w)
            w = "?";
        if (i > 0) {
            if (len + 1 < size)
                buf[len] = ' ';
            len++;
        }
        for (const char *p = w; *p; p++, len++)
            if (len + 1 < size)
                buf[len] = *p;
    }
    if (size > 0)
        buf[len < size ? len : size - 1] = '\0';
    return len;
}

void cap_result_free(cap_result *result)
{
    if (!result)
        return;
    for (int i = 0; i < result->n_captions && result->captions; i++) {
        free(result->captions[i].tokens);
        free(result->captions[i].word_prob);
        free(result->captions[i].alpha);
        free(result->captions[i].beta);
    }
    free(result->captions);
    memset(result, 0, sizeof *result);
}
