/* view_driver - calls the viewer entry points (src/viewer/viewer.h) the way the CLI will,
 * for tests/test_viewer.py, plus an `info` mode that prints what the test needs to check a
 * screenshot or a figure independently of the renderer.
 *
 *   view_driver MODEL view IMAGE... [--step K] [--screenshot OUT.png] [--keys 'K1 K2']
 *          [--size WxH]
 *        = caption --model MODEL --view IMAGE... [--step K] [--screenshot OUT.png]
 *          (--keys and --size set view_options.keys and .width/.height, which the CLI
 *          does not expose)
 *   view_driver MODEL attention-png OUT.png IMAGE
 *        = caption --model MODEL --attention-png OUT.png IMAGE
 *   view_driver MODEL info IMAGE K
 *        prints, for the best beam-3 caption of IMAGE and its word K (1-based):
 *          available 0|1          (viewer built)
 *          image W H              (decoded size)
 *          words N
 *          grid ROWS COLS         (the result's)
 *          model_grid ROWS COLS   (cap_model_grid's)
 *          alpha A0 ... A(L-1)    (alpha of word K, row-major; %.9g: the floats exactly)
 *          argmax ROW COL
 *          photo_rect X Y W H     (where a 1024x768 window shows the photo)
 *          opacity O              (default overlay opacity)
 *          figure W H COLS ROWS TILE_W TILE_H LABEL_H
 *          tile I X Y             (for every figure tile)
 *          tags N                 (tags of the result)
 *          forced WORD K...       (the forced word, "-" for none, and the words of the
 *                                  best caption that are it, 1-based)
 *          seconds S              (decode + caption time of IMAGE, median of 3)
 *   view_driver MODEL --demo-tags view|attention-png|info ...
 *        the same, each image captioned without tags (max_tags 0: the plain captions) and
 *        given the demo tags below, so the tag line is drawn and checked with any model,
 *        with a tagger or not
 *   view_driver MODEL --no-tags view|attention-png|info ...
 *        the same with max_tags 0 (= caption --no-tags): the reference without tags
 * Exit status: that of the entry point; 2 for usage errors.
 */
#include "caption.h"
#include "common/blas_kernels.h"
#include "common/clock.h"
#include "render/figure.h"
#include "render/heatmap.h"
#include "viewer/viewer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int usage(void)
{
    fprintf(stderr, "usage: view_driver MODEL [--demo-tags|--no-tags] view IMAGE... [--step K]\n"
                    "                   [--screenshot OUT] [--keys KEYS] [--size WxH]\n"
                    "       view_driver MODEL [--demo-tags|--no-tags] attention-png OUT IMAGE\n"
                    "       view_driver MODEL [--demo-tags|--no-tags] info IMAGE K\n");
    return 2;
}

/* What a tagger might say about assets/pets.jpg (a dog and a cat): classes with and
 * without a caption word, decreasing probabilities. */
static const cap_tag demo_tags[] = {
    {208, "Labrador retriever", "dog", 0.4123f}, {207, "golden retriever", "dog", 0.2051f},
    {281, "tabby, tabby cat", "cat", 0.1032f},   {834, "suit, suit of clothes", NULL, 0.0512f},
    {285, "Egyptian cat", "cat", 0.0301f},       {282, "tiger cat", "cat", 0.0120f},
    {973, "coral reef", NULL, 0.0040f},
};

/* The token of a word, or -1. */
static int token_of(const cap_model *m, const char *word)
{
    for (int t = 0; t < cap_model_vocab_size(m); t++)
        if (strcmp(cap_model_word(m, t), word) == 0)
            return t;
    return -1;
}

/* cap_caption_image without tags (the plain captions, whatever the model), then the first
 * max_tags demo tags, and "dog" forced when its summed probability reaches the threshold and
 * the best caption holds it. */
static cap_status caption_demo_tags(const cap_model *m, const cap_image *img,
                                    const cap_options *opt, cap_result *out, cap_error *err)
{
    cap_options plain = *opt;
    plain.max_tags = 0;
    cap_status st = cap_caption_image(m, img, &plain, out, err);
    const int n = (int)(sizeof demo_tags / sizeof demo_tags[0]);
    if (st != CAP_OK || opt->max_tags == 0)
        return st;
    out->n_tags = opt->max_tags < n ? opt->max_tags : n;
    out->tags = malloc(sizeof demo_tags);
    if (!out->tags) {
        cap_result_free(out);
        return CAP_ERR_NOMEM;
    }
    memcpy(out->tags, demo_tags, sizeof demo_tags);
    const float dog_p = demo_tags[0].prob + demo_tags[1].prob;
    const int dog = token_of(m, "dog");
    const cap_caption *best = &out->captions[0];
    for (int i = 0; i < best->n_tokens && dog_p >= opt->tag_threshold; i++)
        if (best->tokens[i] == dog) {
            out->forced_word = dog;
            out->forced_prob = dog_p;
        }
    return CAP_OK;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static int info(const cap_model *m, const cap_options *opt, view_caption_fn caption,
                const char *path, int k)
{
    cap_error err = {0};
    cap_image img = {0};
    cap_result res = {0};
    double t[3];
    for (int i = 0; i < 3; i++) {
        cap_image_free(&img);
        cap_result_free(&res);
        double t0 = clock_seconds();
        if (cap_image_load_file(path, &img, &err) != CAP_OK ||
            caption(m, &img, opt, &res, &err) != CAP_OK) {
            fprintf(stderr, "view_driver: %s: %s\n", path, err.message);
            cap_image_free(&img);
            return 1;
        }
        t[i] = clock_seconds() - t0;
    }
    qsort(t, 3, sizeof t[0], cmp_double);
    const cap_caption *c = &res.captions[0];
    const int L = res.grid_rows * res.grid_cols;
    printf("available %d\n", caption_view_available());
    printf("image %d %d\n", img.width, img.height);
    printf("words %d\n", c->n_tokens);
    printf("grid %d %d\n", res.grid_rows, res.grid_cols);
    int model_rows, model_cols;
    cap_model_grid(m, &model_rows, &model_cols);
    printf("model_grid %d %d\n", model_rows, model_cols);
    if (k >= 1 && k <= c->n_tokens) {
        const float *a = c->alpha + (size_t)(k - 1) * L;
        printf("alpha");
        for (int i = 0; i < L; i++)
            printf(" %.9g", (double)a[i]);
        printf("\n");
        int am = hm_argmax(a, L);
        printf("argmax %d %d\n", am / res.grid_cols, am % res.grid_cols);
    }
    int x, y, w, h;
    view_options vo = view_options_default();
    caption_view_photo_rect(vo.width, vo.height, img.width, img.height, &x, &y, &w, &h);
    printf("photo_rect %d %d %d %d\n", x, y, w, h);
    printf("opacity %g\n", (double)vo.opacity);
    fig_layout lay;
    fig_compute_layout(img.width, img.height, c->n_tokens, res.n_tags > 0, &lay);
    printf("figure %d %d %d %d %d %d %d\n", lay.width, lay.height, lay.cols, lay.rows, lay.tile_w,
           lay.tile_h, lay.label_h);
    for (int i = 0; i < lay.n_tiles; i++) {
        fig_tile_origin(&lay, i, &x, &y);
        printf("tile %d %d %d\n", i, x, y);
    }
    printf("tags %d\n", res.n_tags);
    printf("forced %s", res.forced_word >= 0 ? cap_model_word(m, res.forced_word) : "-");
    for (int i = 0; i < c->n_tokens; i++)
        if (c->tokens[i] == res.forced_word)
            printf(" %d", i + 1);
    printf("\n");
    printf("seconds %.3f\n", t[1]);
    cap_result_free(&res);
    cap_image_free(&img);
    return 0;
}

int main(int argc, char **argv)
{
    const int demo = argc > 2 && strcmp(argv[2], "--demo-tags") == 0;
    const int no_tags = argc > 2 && strcmp(argv[2], "--no-tags") == 0;
    if (demo || no_tags) { /* drop the flag: the modes below read their arguments by position */
        memmove(&argv[2], &argv[3], sizeof *argv * (size_t)(argc - 2));
        argc--;
    }
    if (argc < 4)
        return usage();
    blas_kernels_select(); /* the CLI's kernels, so that figures match the CLI's bit for bit */
    cap_error err = {0};
    cap_model *model = NULL;
    if (cap_model_load(argv[1], &model, &err) != CAP_OK) {
        fprintf(stderr, "view_driver: %s: %s\n", argv[1], err.message);
        return 1;
    }
    cap_options opt = cap_options_default();
    if (no_tags)
        opt.max_tags = 0;
    view_options vo = view_options_default();
    vo.caption_fn = demo ? caption_demo_tags : cap_caption_image;
    int rc = 2;
    if (strcmp(argv[2], "view") == 0) {
        const char **paths = calloc((size_t)argc, sizeof *paths);
        int n = 0, bad = !paths;
        for (int i = 3; i < argc && !bad; i++) {
            if (strcmp(argv[i], "--step") == 0 && i + 1 < argc)
                vo.step = atoi(argv[++i]);
            else if (strcmp(argv[i], "--screenshot") == 0 && i + 1 < argc)
                vo.screenshot = argv[++i];
            else if (strcmp(argv[i], "--keys") == 0 && i + 1 < argc)
                vo.keys = argv[++i];
            else if (strcmp(argv[i], "--size") == 0 && i + 1 < argc)
                bad = sscanf(argv[++i], "%dx%d", &vo.width, &vo.height) != 2;
            else if (argv[i][0] == '-')
                bad = 1;
            else
                paths[n++] = argv[i];
        }
        rc = bad || n == 0 ? usage() : caption_view(model, &opt, paths, n, &vo);
        free(paths);
    } else if (strcmp(argv[2], "attention-png") == 0 && argc == 5) {
        rc = demo ? caption_attention_png_with(model, &opt, argv[4], argv[3], &vo)
                  : caption_attention_png(model, &opt, argv[4], argv[3]);
    } else if (strcmp(argv[2], "info") == 0 && argc == 5) {
        rc = info(model, &opt, vo.caption_fn, argv[3], atoi(argv[4]));
    } else {
        rc = usage();
    }
    cap_model_free(model);
    return rc;
}
