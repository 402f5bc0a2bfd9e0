/* result.c - the cap_result that beam search fills and the caller frees; caption text. */
#include "caption.h"

#include <stdlib.h>
#include <string.h>

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
    free(result->tags);
    memset(result, 0, sizeof *result);
}
