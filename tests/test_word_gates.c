/* test_word_gates.c - the cache of the gates' word half (src/word_gates.h).
 * 1. The cache alone: a kept row reads back exactly; the first row kept for a word stays; no
 *    more than max_kept rows are kept; tokens out of range and a NULL cache read as "not kept".
 * 2. With the shipped model: the n-best lists of several photos (beam 5, so many words are fed
 *    back) computed with no cache, with a cold cache and with the cache warmed by every photo
 *    are the same bit for bit (tokens, logprob, word probabilities, alpha, beta), and a cache
 *    limited to 8 rows (most words then computed at every step) gives them too.
 * usage: test_word_gates MODEL ASSETS_DIR */
#include "caption.h"
#include "check.h"
#include "model.h"
#include "word_gates.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void test_cache_alone(void)
{
    enum { WORDS = 40, WIDTH = 8 };
    CHECK(cap_word_gates_get(NULL, 0) == NULL, "NULL cache: nothing kept");
    cap_word_gates_put(NULL, 0, (const float[WIDTH]){0}); /* no crash */
    cap_word_gates *wg = cap_word_gates_new(WORDS, WIDTH, 3);
    CHECK(wg != NULL, "new");
    if (!wg)
        return;
    CHECK(cap_word_gates_get(wg, 5) == NULL, "empty cache: word 5 not kept");
    float row[WIDTH], other[WIDTH];
    for (int j = 0; j < WIDTH; j++) {
        row[j] = 0.5f + (float)j;
        other[j] = -1.0f;
    }
    cap_word_gates_put(wg, 5, row);
    const float *got = cap_word_gates_get(wg, 5);
    CHECK(got && memcmp(got, row, sizeof row) == 0, "word 5 reads back as put");
    cap_word_gates_put(wg, 5, other);
    got = cap_word_gates_get(wg, 5);
    CHECK(got && memcmp(got, row, sizeof row) == 0, "word 5 keeps its first row");
    cap_word_gates_put(wg, 39, other); /* another chunk */
    cap_word_gates_put(wg, 17, row);
    cap_word_gates_put(wg, 18, row); /* a fourth row: over max_kept */
    got = cap_word_gates_get(wg, 39);
    CHECK(got && memcmp(got, other, sizeof other) == 0, "word 39 kept");
    CHECK(cap_word_gates_get(wg, 17) != NULL, "word 17 kept (the third)");
    CHECK(cap_word_gates_get(wg, 18) == NULL, "word 18 not kept: the cache holds 3 rows");
    CHECK(cap_word_gates_get(wg, -1) == NULL && cap_word_gates_get(wg, WORDS) == NULL,
          "tokens out of range");
    cap_word_gates_put(wg, WORDS, row); /* ignored, no write out of bounds */
    cap_word_gates_free(wg);
    cap_word_gates_free(NULL);
}

static const char *const photos[] = {"pets.jpg", "parrot.jpg", "cat_720p.jpg", "bird.png",
                                     "sunflower.png"};
enum { N_PHOTOS = 5 };

/* Are two n-best lists the same bits? */
static int same_result(const cap_result *a, const cap_result *b, int L)
{
    if (a->n_captions != b->n_captions)
        return 0;
    for (int k = 0; k < a->n_captions; k++) {
        const cap_caption *x = &a->captions[k], *y = &b->captions[k];
        const size_t n = (size_t)x->n_tokens;
        if (x->n_tokens != y->n_tokens || x->finished != y->finished ||
            memcmp(&x->logprob, &y->logprob, sizeof x->logprob) != 0 ||
            memcmp(x->tokens, y->tokens, sizeof *x->tokens * n) != 0 ||
            memcmp(x->word_prob, y->word_prob, sizeof *x->word_prob * n) != 0 ||
            memcmp(x->alpha, y->alpha, sizeof *x->alpha * n * (size_t)L) != 0 ||
            memcmp(x->beta, y->beta, sizeof *x->beta * n) != 0)
            return 0;
    }
    return 1;
}

/* Caption every photo with `model` into res[]. */
static int caption_all(const cap_model *model, const cap_image *img, const cap_options *opt,
                       cap_result *res)
{
    cap_error err = {0};
    for (int i = 0; i < N_PHOTOS; i++)
        if (cap_caption_image(model, &img[i], opt, &res[i], &err) != CAP_OK) {
            printf("caption %s: %s\n", photos[i], err.message);
            return 0;
        }
    return 1;
}

static void free_all(cap_result *res)
{
    for (int i = 0; i < N_PHOTOS; i++)
        cap_result_free(&res[i]);
}

static void test_with_model(const char *model_path, const char *assets)
{
    cap_error err = {0};
    cap_model *model = NULL;
    CHECK(cap_model_load(model_path, &model, &err) == CAP_OK, "load %s: %s", model_path,
          err.message);
    if (!model)
        return;
    cap_image img[N_PHOTOS];
    for (int i = 0; i < N_PHOTOS; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", assets, photos[i]);
        if (cap_image_load_file(path, &img[i], &err) != CAP_OK) {
            CHECK(0, "load %s: %s", path, err.message);
            return;
        }
    }
    cap_options opt = cap_options_default();
    opt.beam_size = 5;
    int rows, cols;
    cap_model_grid(model, &rows, &cols);
    cap_result plain[N_PHOTOS], cold[N_PHOTOS], warm[N_PHOTOS], small[N_PHOTOS];

    /* No cache: every word's row computed at every step. */
    cap_word_gates *kept = model->word_gates;
    CHECK(kept != NULL, "the model has a cache");
    model->word_gates = NULL;
    const int ok_plain = caption_all(model, img, &opt, plain);
    /* A fresh cache (cold for the first photo), then the same photos with it warm. */
    model->word_gates = kept;
    const int ok_cold = caption_all(model, img, &opt, cold);
    const int ok_warm = caption_all(model, img, &opt, warm);
    /* A cache of 8 rows: full after the first photo's first steps. */
    model->word_gates = cap_word_gates_new(model->config.vocab_size, 4 * model->config.hidden_dim, 8);
    const int ok_small = caption_all(model, img, &opt, small);
    cap_word_gates_free(model->word_gates);
    model->word_gates = kept;
    CHECK(ok_plain && ok_cold && ok_warm && ok_small, "captioned");
    if (ok_plain && ok_cold && ok_warm && ok_small) {
        for (int i = 0; i < N_PHOTOS; i++) {
            CHECK(plain[i].n_captions == 5, "%s: beam 5 gives 5 captions", photos[i]);
            CHECK(same_result(&plain[i], &cold[i], rows * cols),
                  "%s: cold cache == no cache, bit for bit", photos[i]);
            CHECK(same_result(&plain[i], &warm[i], rows * cols),
                  "%s: warm cache == no cache, bit for bit", photos[i]);
            CHECK(same_result(&plain[i], &small[i], rows * cols),
                  "%s: cache of 8 rows == no cache, bit for bit", photos[i]);
        }
        /* The comparison can fail: another photo's list differs. */
        CHECK(!same_result(&plain[0], &plain[1], rows * cols), "different photos differ");
    }
    if (ok_plain)
        free_all(plain);
    if (ok_cold)
        free_all(cold);
    if (ok_warm)
        free_all(warm);
    if (ok_small)
        free_all(small);
    for (int i = 0; i < N_PHOTOS; i++)
        cap_image_free(&img[i]);
    cap_model_free(model);
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: test_word_gates MODEL ASSETS_DIR\n");
        return 2;
    }
    test_cache_alone();
    test_with_model(argv[1], argv[2]);
    return check_summary();
}
