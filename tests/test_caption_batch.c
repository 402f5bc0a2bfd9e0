/* test_caption_batch.c - cap_caption_images (a lockstep batch) against cap_caption_image on
 * each image alone: for every image, the same n-best list (tokens, finished), the same tags
 * (classes, in order) and forced word, and the same floats within float rounding: word
 * probabilities, alpha_t, beta_t, tag and forced-word probabilities within TOL_PROB, the
 * caption's logprob (a sum of up to max_len log-probabilities) within TOL_LOGPROB (the batch's
 * claim in include/caption.h; the largest difference is printed). A batch runs the encoder's
 * late layers and the decoder's per-image products as GEMMs over all its images, whose BLAS
 * kernel may round otherwise than on one image's narrower GEMMs: with OpenBLAS's Haswell
 * kernels the floats differ by up to about 1e-5 here, with its AVX-512 kernels by 0.
 * Batches: all images at once, and in another order in batches of 5 holding one image twice;
 * options: the defaults, beam 5 with a low tag threshold (many constrained searches, 10 rows
 * each), greedy without tags, and max_len 4 (captions cut short). Then the argument checks.
 * usage: test_caption_batch MODEL ASSETS_DIR FIXTURE_IMAGES_DIR */
#include "caption.h"
#include "check.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The photos: the CC BY ones of assets/ and decoder fixtures of every kind (small, gray,
 * CMYK, alpha, EXIF-rotated, a phone photo). */
static const char *const asset_names[] = {"pets.jpg", "parrot.jpg", "cat_720p.jpg", "bird.png",
                                          "sunflower.png"};
static const char *const fixture_names[] = {"phone_pets_o6.jpg", "jpeg_ycck.jpg", "jpeg_cmyk.jpg",
                                            "png_rgba.png", "jpeg_gray.jpg", "resize_src.png",
                                            "jpeg_exif_o8_long.jpg"};
enum { N_ASSETS = 5, N_FIXTURES = 7, N_IMAGES = N_ASSETS + N_FIXTURES };

/* Ten times the largest difference seen with either kernel set (9.5e-6, a logprob). */
#define TOL_PROB 1e-4f
#define TOL_LOGPROB 1e-3f

static float max_diff(const float *a, const float *b, size_t n)
{
    float d = 0.0f;
    for (size_t i = 0; i < n; i++)
        d = fabsf(a[i] - b[i]) > d ? fabsf(a[i] - b[i]) : d;
    return d;
}

/* The largest float difference seen, for the log. */
static float worst;

/* Does the batch's result b equal the single-image result s (its floats within rounding)? */
static void compare(const cap_result *s, const cap_result *b, const char *what, int image)
{
    CHECK(b->n_captions == s->n_captions, "%s image %d: %d captions, alone %d", what, image,
          b->n_captions, s->n_captions);
    CHECK(b->grid_rows == s->grid_rows && b->grid_cols == s->grid_cols, "%s image %d: grid",
          what, image);
    CHECK(b->forced_word == s->forced_word &&
              fabsf(b->forced_prob - s->forced_prob) <= TOL_PROB,
          "%s image %d: forced word %d (p %g), alone %d (p %g)", what, image, b->forced_word,
          (double)b->forced_prob, s->forced_word, (double)s->forced_prob);
    CHECK(b->n_tags == s->n_tags, "%s image %d: %d tags, alone %d", what, image, b->n_tags,
          s->n_tags);
    for (int k = 0; k < b->n_tags && k < s->n_tags; k++)
        CHECK(b->tags[k].class_index == s->tags[k].class_index &&
                  fabsf(b->tags[k].prob - s->tags[k].prob) <= TOL_PROB,
              "%s image %d: tag %d", what, image, k);
    const size_t L = (size_t)s->grid_rows * s->grid_cols;
    for (int c = 0; c < b->n_captions && c < s->n_captions; c++) {
        const cap_caption *x = &b->captions[c], *y = &s->captions[c];
        const int same_tokens = x->n_tokens == y->n_tokens && x->finished == y->finished &&
                                memcmp(x->tokens, y->tokens, sizeof(int) * y->n_tokens) == 0;
        CHECK(same_tokens, "%s image %d caption %d: other tokens", what, image, c);
        if (!same_tokens)
            continue;
        const size_t n = (size_t)y->n_tokens;
        const float dl = fabsf(x->logprob - y->logprob);
        float d = max_diff(x->word_prob, y->word_prob, n);
        d = fmaxf(d, max_diff(x->alpha, y->alpha, n * L));
        d = fmaxf(d, max_diff(x->beta, y->beta, n));
        worst = fmaxf(worst, fmaxf(d, dl));
        CHECK(d <= TOL_PROB && dl <= TOL_LOGPROB,
              "%s image %d caption %d: probabilities differ by up to %g, logprob by %g", what,
              image, c, (double)d, (double)dl);
    }
}

/* Caption `order` [n] of the images in batches of `batch`, compare with `alone`; returns how
 * many results have a forced word. */
static int check_batches(const cap_model *m, const cap_image *img, const cap_result *alone,
                         const int *order, int n, int batch, const cap_options *opt,
                         const char *what)
{
    int forced = 0;
    for (int i0 = 0; i0 < n; i0 += batch) {
        const int nb = n - i0 < batch ? n - i0 : batch;
        cap_image *in = malloc(sizeof *in * (size_t)nb);
        cap_result *out = malloc(sizeof *out * (size_t)nb);
        cap_error err = {0};
        for (int j = 0; j < nb; j++)
            in[j] = img[order[i0 + j]];
        const cap_status st = cap_caption_images(m, nb, in, opt, out, &err);
        CHECK(st == CAP_OK, "%s: batch at %d: %s", what, i0, err.message);
        for (int j = 0; st == CAP_OK && j < nb; j++) {
            compare(&alone[order[i0 + j]], &out[j], what, order[i0 + j]);
            forced += out[j].forced_word >= 0;
            cap_result_free(&out[j]);
        }
        free(in);
        free(out);
    }
    return forced;
}

static void test_options(const cap_model *m, const cap_image *img, const cap_options *opt,
                         const char *what, int want_forced)
{
    cap_result alone[N_IMAGES];
    for (int i = 0; i < N_IMAGES; i++) {
        cap_error err = {0};
        CHECK(cap_caption_image(m, &img[i], opt, &alone[i], &err) == CAP_OK, "%s: alone %d: %s",
              what, i, err.message);
    }
    int all[N_IMAGES], shuffled[N_IMAGES + 1];
    for (int i = 0; i < N_IMAGES; i++) {
        all[i] = i;
        shuffled[i] = (7 * i + 3) % N_IMAGES; /* 7 is prime to 12: a permutation */
    }
    shuffled[N_IMAGES] = shuffled[1]; /* one image twice in the last batch */
    const int forced = check_batches(m, img, alone, all, N_IMAGES, N_IMAGES, opt, what);
    check_batches(m, img, alone, shuffled, N_IMAGES + 1, 5, opt, what);
    printf("%s: %d of %d images with a forced word\n", what, forced, N_IMAGES);
    if (want_forced)
        CHECK(forced >= 3, "%s: only %d forced words: the constrained search is not exercised",
              what, forced);
    for (int i = 0; i < N_IMAGES; i++)
        cap_result_free(&alone[i]);
}

static void test_arguments(const cap_model *m, const cap_image *img)
{
    const cap_options opt = cap_options_default();
    cap_result out[3];
    cap_error err = {0};
    CHECK(cap_caption_images(m, 0, img, &opt, out, &err) == CAP_ERR_ARG, "n = 0");
    CHECK(cap_caption_images(NULL, 1, img, &opt, out, &err) == CAP_ERR_ARG, "NULL model");
    cap_image three[3] = {img[0], {0}, img[1]};
    memset(out, 0xff, sizeof out);
    CHECK(cap_caption_images(m, 3, three, &opt, out, &err) == CAP_ERR_ARG &&
              strstr(err.message, "image 1") != NULL,
          "an empty image in a batch: '%s'", err.message);
    CHECK(out[0].n_captions == 0 && out[0].captions == NULL && out[2].captions == NULL,
          "results zeroed on failure");
    cap_options bad = opt;
    bad.beam_size = 0;
    CHECK(cap_caption_images(m, 2, img, &bad, out, &err) == CAP_ERR_ARG, "beam 0");
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: test_caption_batch MODEL ASSETS_DIR FIXTURE_IMAGES_DIR\n");
        return 2;
    }
    cap_error err = {0};
    cap_model *m = NULL;
    if (cap_model_load(argv[1], &m, &err) != CAP_OK) {
        fprintf(stderr, "test_caption_batch: %s: %s\n", argv[1], err.message);
        return 1;
    }
    cap_image img[N_IMAGES];
    for (int i = 0; i < N_IMAGES; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", i < N_ASSETS ? argv[2] : argv[3],
                 i < N_ASSETS ? asset_names[i] : fixture_names[i - N_ASSETS]);
        if (cap_image_load_file(path, &img[i], &err) != CAP_OK) {
            fprintf(stderr, "test_caption_batch: %s: %s\n", path, err.message);
            return 1;
        }
    }

    cap_options opt = cap_options_default();
    test_options(m, img, &opt, "defaults", 0);
    opt.beam_size = 5;
    opt.length_penalty = 1.5f;
    opt.no_repeat_ngram = 3;
    opt.tag_threshold = 0.05f;
    test_options(m, img, &opt, "beam 5, threshold 0.05", cap_model_tag_classes(m) > 0);
    opt = cap_options_default();
    opt.beam_size = 1;
    opt.max_tags = 0;
    test_options(m, img, &opt, "greedy, no tags", 0);
    opt = cap_options_default();
    opt.max_len = 4;
    test_options(m, img, &opt, "max_len 4", 0);
    test_arguments(m, img);

    for (int i = 0; i < N_IMAGES; i++)
        cap_image_free(&img[i]);
    cap_model_free(m);
    printf("largest float difference batch vs alone: %g\n", (double)worst);
    return check_summary();
}
