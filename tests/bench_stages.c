/* bench_stages.c - per-stage times of the C captioner and the machine's sgemm rate, for
 * tools/bench.py. Not a test: it prints numbers.
 *
 *   bench_stages [--batch B] MODEL BEAM REPEAT IMAGE...
 *
 * Runs the library's stages one by one on each image, REPEAT times, single-threaded BLAS
 * unless $CAPTION_BENCH_THREADS says otherwise, with the same OpenBLAS kernel choice as the
 * `caption` program (src/common/blas_kernels.h), and prints `key value` lines:
 *   core NAME                       the OpenBLAS kernel set in use
 *   decode_ms / resize_ms / encoder_ms / decoder_ms   median per image
 *   enc_conv0_ms, enc_pointwise_ms, enc_depthwise_ms, enc_fused_ms, enc_other_ms   medians
 *                                   per image (fused: the large maps' expansion + depthwise)
 *   enc_gflop, enc_pointwise_gflop, enc_depthwise_gflop, enc_fused_gflop   FLOPs of one
 *                                   forward pass (x 1e9)
 *   sgemm1024_gflops                best of 5 square 1024^3 sgemm
 *   sgemm_encoder_gflops            the encoder's own 1x1-convolution GEMM shapes, best of 5
 * With --batch B (B >= 1), the encoder and the beam search run as cap_caption_images does,
 * B images at once (cap_encoder_forward_images, cap_decoder_begin_batch,
 * cap_beam_search_batch), and encoder_ms, its stages and decoder_ms are times per image: the
 * medians over the batches of the batch's time / B (the images cycled through to fill
 * REPEAT * IMAGES rounded up to whole batches); `batch B` is printed, and the FLOP counts and
 * sgemm1024_gflops as above.
 */
#include "beam.h"
#include "bench_util.h"
#include "caption.h"
#include "common/blas_kernels.h"
#include "common/clock.h"
#include "encoder.h"
#include "model.h"

#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* GFLOP/s of C[m][n] = A[m][k] B[k][n], best of `reps`. */
static double sgemm_rate(int m, int n, int k, int reps)
{
    float *a = random_matrix((size_t)m * k), *b = random_matrix((size_t)k * n),
          *c = random_matrix((size_t)m * n);
    double best = 1e30;
    for (int r = 0; r < reps; r++) {
        const double t = clock_seconds();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, n, k, 1.0f, a, k, b, n, 0.0f,
                    c, n);
        const double dt = clock_seconds() - t;
        best = dt < best ? dt : best;
    }
    free(a), free(b), free(c);
    return 2.0 * m * n * k / best / 1e9;
}

/* The encoder's pointwise GEMMs (cout x HW x cin), run back to back like the encoder does. */
static double sgemm_encoder_rate(const cap_encoder_weights *w, int reps)
{
    double best = 1e30, flops = 0.0;
    float *x = random_matrix(96 * 112 * 112), *y = random_matrix(96 * 112 * 112);
    for (int r = 0; r < reps; r++) {
        double t = clock_seconds(), f = 0.0;
        int side = 112;
        for (int b = 0; b < CAP_ENCODER_BLOCKS; b++) {
            const cap_block *blk = &w->blocks[b];
            const int in_hw = side * side;
            side = (side + blk->depthwise.stride - 1) / blk->depthwise.stride;
            const int out_hw = side * side;
            const cap_conv *convs[2] = {&blk->expand, &blk->project};
            const int hws[2] = {in_hw, out_hw};
            for (int i = 0; i < 2; i++) {
                const cap_conv *cv = convs[i];
                if (!cv->w)
                    continue;
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, cv->cout, hws[i],
                            cv->cin, 1.0f, cv->w, cv->cin, x, hws[i], 0.0f, y, hws[i]);
                f += 2.0 * cv->cout * hws[i] * cv->cin;
            }
        }
        const int L = side * side; /* 7x7, or 14x14 at output stride 16 */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, w->conv1.cout, L, w->conv1.cin,
                    1.0f, w->conv1.w, w->conv1.cin, x, L, 0.0f, y, L);
        f += 2.0 * w->conv1.cout * L * w->conv1.cin;
        t = clock_seconds() - t;
        best = t < best ? t : best;
        flops = f;
    }
    free(x), free(y);
    return flops / best / 1e9;
}

/* The encoder's stages, in cap_encoder_profile's order: the keys printed for their times. */
static const char *const stage_keys[CAP_STAGES] = {"enc_conv0_ms", "enc_pointwise_ms",
                                                   "enc_depthwise_ms", "enc_fused_ms",
                                                   "enc_other_ms"};

/* The FLOPs of one image's encoder pass, in total and per stage, from prof accumulated over
 * `images` images. */
static void print_encoder_flops(const cap_encoder_profile *prof, int images)
{
    double total = 0.0;
    for (int s = 0; s < CAP_STAGES; s++)
        total += prof->flops[s];
    printf("enc_gflop %.4f\n", total / images / 1e9);
    printf("enc_conv0_gflop %.4f\n", prof->flops[CAP_STAGE_CONV0] / images / 1e9);
    printf("enc_pointwise_gflop %.4f\n", prof->flops[CAP_STAGE_POINTWISE] / images / 1e9);
    printf("enc_depthwise_gflop %.4f\n", prof->flops[CAP_STAGE_DEPTHWISE] / images / 1e9);
    printf("enc_fused_gflop %.4f\n", prof->flops[CAP_STAGE_FUSED] / images / 1e9);
}

/* --batch: the encoder over `batch` images at once (cap_encoder_forward_images), then the
 * decoder's inputs and the beam search of the batch in lockstep, as cap_caption_images. */
static int bench_batch(const cap_model *m, const cap_options *opt, int batch, int repeat,
                       int n_img, char **paths)
{
    const size_t LD = (size_t)m->config.grid_rows * m->config.grid_cols * 1280,
                 H = (size_t)m->config.hidden_dim;
    const int n_batches = (repeat * n_img + batch - 1) / batch;
    const size_t n_classes = (size_t)(m->n_classes > 0 ? m->n_classes : 1);
    float *a = malloc(sizeof(float) * LD * batch);
    float *tag_logits = malloc(sizeof(float) * n_classes * batch);
    cap_image *sq = calloc((size_t)batch, sizeof *sq);
    cap_annotations *ann = calloc((size_t)batch, sizeof *ann);
    float *h0 = malloc(sizeof(float) * H * batch), *c0 = malloc(sizeof(float) * H * batch);
    cap_result *res = calloc((size_t)batch, sizeof *res);
    double *t_enc = calloc((size_t)n_batches, sizeof(double));
    double *t_dec = calloc((size_t)n_batches, sizeof(double));
    double *t_stage[CAP_STAGES];
    for (int s = 0; s < CAP_STAGES; s++)
        t_stage[s] = calloc((size_t)n_batches, sizeof(double));
    cap_encoder_profile prof = {0};
    cap_error err = {0};
    for (int g = 0, k = 0; g < n_batches; g++) {
        for (int j = 0; j < batch; j++, k++) {
            cap_image img = {0};
            if (cap_image_load_file(paths[k % n_img], &img, &err) != CAP_OK) {
                fprintf(stderr, "bench_stages: %s: %s\n", paths[k % n_img], err.message);
                return 1;
            }
            cap_image_resize(&img, 224, 224, &sq[j], &err);
            cap_image_free(&img);
        }
        memset(&prof, 0, sizeof prof);
        double t0 = clock_seconds();
        if (cap_encoder_forward_images(&m->encoder, &m->tagger, batch, sq, a, tag_logits, &prof,
                                       &err) != CAP_OK) {
            fprintf(stderr, "bench_stages: %s\n", err.message);
            return 1;
        }
        t_enc[g] = (clock_seconds() - t0) / batch;
        for (int s = 0; s < CAP_STAGES; s++)
            t_stage[s][g] = prof.seconds[s] / batch;
        for (int j = 0; j < batch; j++)
            cap_image_free(&sq[j]);
        /* The decoder: the batch's inputs (cap_decoder_begin_batch), then the lockstep search. */
        t0 = clock_seconds();
        if (cap_decoder_begin_batch(m, batch, a, ann, h0, c0, &err) != CAP_OK ||
            cap_beam_search_batch(m, batch, ann, h0, c0, opt, NULL, res, &err) != CAP_OK) {
            fprintf(stderr, "bench_stages: %s\n", err.message);
            return 1;
        }
        t_dec[g] = (clock_seconds() - t0) / batch;
        for (int j = 0; j < batch; j++) {
            cap_result_free(&res[j]);
            cap_annotations_free(&ann[j]);
        }
    }
    printf("core %s\nbatch %d\nimages %d\nrepeat %d\n", openblas_get_corename(), batch, n_img,
           repeat);
    printf("encoder_ms %.3f\n", 1e3 * median(t_enc, n_batches));
    printf("decoder_ms %.3f\n", 1e3 * median(t_dec, n_batches));
    for (int s = 0; s < CAP_STAGES; s++) {
        printf("%s %.3f\n", stage_keys[s], 1e3 * median(t_stage[s], n_batches));
        free(t_stage[s]);
    }
    print_encoder_flops(&prof, batch);
    printf("sgemm1024_gflops %.2f\n", sgemm_rate(1024, 1024, 1024, 5));
    free(a), free(tag_logits), free(sq), free(ann), free(h0), free(c0), free(res), free(t_enc);
    free(t_dec);
    return 0;
}

int main(int argc, char **argv)
{
    int batch = 0;
    if (argc > 2 && strcmp(argv[1], "--batch") == 0) {
        batch = atoi(argv[2]);
        argv += 2;
        argc -= 2;
    }
    if (argc < 5 || batch < 0) {
        fprintf(stderr, "usage: bench_stages [--batch B] MODEL BEAM REPEAT IMAGE...\n");
        return 2;
    }
    blas_kernels_select(); /* the kernels the caption program runs on */
    const char *threads = getenv("CAPTION_BENCH_THREADS");
    openblas_set_num_threads(threads ? atoi(threads) : 1);
    cap_error err = {0};
    cap_model *m = NULL;
    if (cap_model_load(argv[1], &m, &err) != CAP_OK) {
        fprintf(stderr, "bench_stages: %s: %s\n", argv[1], err.message);
        return 1;
    }
    cap_options opt = cap_options_default();
    opt.beam_size = atoi(argv[2]);
    const int repeat = atoi(argv[3]), n_img = argc - 4, n = repeat * n_img;
    enum { DECODE, RESIZE, ENCODER, DECODER, CONV0, POINTWISE, DEPTHWISE, FUSED, OTHER, N_T };
    double *t[N_T];
    for (int i = 0; i < N_T; i++)
        t[i] = calloc((size_t)n, sizeof(double));
    const size_t L = (size_t)m->config.grid_rows * m->config.grid_cols;
    float *x = malloc(sizeof(float) * 3 * 224 * 224), *a = malloc(sizeof(float) * L * 1280);
    /* The tagger's logits when the model has one: it runs inside the encoder stage. */
    float *tag_logits = malloc(sizeof(float) * (size_t)(m->n_classes > 0 ? m->n_classes : 1));
    cap_encoder_profile prof = {0};
    if (batch > 0) {
        const int rc = bench_batch(m, &opt, batch, repeat, n_img, argv + 4);
        cap_model_free(m);
        return rc;
    }
    int k = 0;
    for (int r = 0; r < repeat; r++)
        for (int i = 0; i < n_img; i++, k++) {
            cap_image img = {0}, sq = {0};
            cap_result res = {0};
            double t0 = clock_seconds();
            if (cap_image_load_file(argv[4 + i], &img, &err) != CAP_OK) {
                fprintf(stderr, "bench_stages: %s: %s\n", argv[4 + i], err.message);
                return 1;
            }
            double t1 = clock_seconds();
            cap_image_resize(&img, 224, 224, &sq, &err);
            double t2 = clock_seconds();
            memset(&prof, 0, sizeof prof);
            cap_encoder_input(&sq, x);
            cap_encoder_forward_tagged(&m->encoder, &m->tagger, x, a, tag_logits, &prof, &err);
            double t3 = clock_seconds();
            cap_beam_search(m, a, &opt, NULL, &res, &err);
            double t4 = clock_seconds();
            t[DECODE][k] = t1 - t0;
            t[RESIZE][k] = t2 - t1;
            t[ENCODER][k] = t3 - t2;
            t[DECODER][k] = t4 - t3;
            for (int s = 0; s < CAP_STAGES; s++)
                t[CONV0 + s][k] = prof.seconds[s];
            cap_result_free(&res);
            cap_image_free(&img);
            cap_image_free(&sq);
        }
    static const char *const names[CONV0] = {"decode_ms", "resize_ms", "encoder_ms",
                                             "decoder_ms"};
    printf("core %s\n", openblas_get_corename());
    printf("images %d\nrepeat %d\n", n_img, repeat);
    for (int i = 0; i < N_T; i++)
        printf("%s %.3f\n", i < CONV0 ? names[i] : stage_keys[i - CONV0],
               1e3 * median(t[i], n));
    print_encoder_flops(&prof, 1);
    printf("sgemm1024_gflops %.2f\n", sgemm_rate(1024, 1024, 1024, 5));
    printf("sgemm_encoder_gflops %.2f\n", sgemm_encoder_rate(&m->encoder, 5));
    for (int i = 0; i < N_T; i++)
        free(t[i]);
    free(x), free(a), free(tag_logits);
    cap_model_free(m);
    return 0;
}
