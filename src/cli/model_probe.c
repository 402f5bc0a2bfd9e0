/* model_probe.c - see model_probe.h.
 *
 * libcaption does not say whether a model has a tagger (caption.h documents only that a
 * version-1 file gives n_tags = 0), so the one way to know through the public API is to
 * caption a blank image and look: one encoder pass, with the cheapest search (beam 1, one
 * step, no constraint). Only run for a TSV/CSV header, and only when tags are asked. */
#include "model_probe.h"

#include <stdio.h>
#include <string.h>

int model_gives_tags(const cap_model *model, const cap_options *options)
{
    if (options->max_tags == 0)
        return 0;
    unsigned char white[3 * 8 * 8];
    memset(white, 0xFF, sizeof white);
    const cap_image blank = {8, 8, white};
    cap_options cheap = *options;
    cheap.beam_size = 1;
    cheap.max_len = 1;
    cheap.max_tags = 1;
    cheap.tag_threshold = 2.0f; /* > 1: never constrains */
    cap_result res = {0};
    cap_error err = {0};
    if (cap_caption_image(model, &blank, &cheap, &res, &err) != CAP_OK) {
        fprintf(stderr, "caption: cannot tell whether the model has a tagger: %s\n",
                err.message);
        return -1;
    }
    const int gives = res.n_tags > 0;
    cap_result_free(&res);
    return gives;
}
