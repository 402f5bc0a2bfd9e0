/* bench_rows.c - GFLOP/s of the decoder's few-rows product (cap_rows_times_wt) on the shapes
 * of a decoder step of the shipped model's size, against its plain loop and OpenBLAS sgemm.
 * Not a test: it prints numbers.
 *
 *   bench_rows [REPEAT]
 *
 * For each row count n (3: one photo's beams; 12: a lockstep batch of 4 at beam 3) and each
 * weight shape out x in (512 x 512: attention and deep output; 2048 x 512: the LSTM's
 * recurrent half; 3292 x 512: the output layer), prints
 *   rows N out OUT in IN  ms MS  gflops G  cold_gflops C  sgemm_gflops S
 * MS the median over REPEAT calls (default 200) with the weights warm in the caches as far as
 * they fit (the kernel's compute rate), G its rate, C the rate when each call's weights come
 * from memory (copies of the matrix in turn, at least 128 MB of them: more than the caches),
 * S OpenBLAS sgemm's warm rate, with the kernels the caption program selects. */
#include "bench_util.h"
#include "common/blas_kernels.h"
#include "common/clock.h"
#include "decoder.h"

#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>

/* Copies of the weight matrix cycled through, so that with `cold` each call finds its weights
 * in memory, not in the caches, as a decoder step finds them: at least COLD_BYTES in all. */
#define COLD_BYTES ((size_t)128 << 20)

static double median_ms(const float *X, int n, int in, float *const *Ws, int copies, int out,
                        float *Y, int repeat, int use_blas, int cold)
{
    double *t = malloc(sizeof(double) * (size_t)repeat), med;
    for (int r = 0; r < repeat; r++) {
        const float *W = Ws[cold ? r % copies : 0];
        const double t0 = clock_seconds();
        if (use_blas)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, out, in, 1.0f, X, in, W, in,
                        0.0f, Y, out);
        else
            cap_rows_times_wt(X, n, in, in, W, in, out, Y, out, 0);
        t[r] = 1e3 * (clock_seconds() - t0);
    }
    med = median(t, repeat);
    free(t);
    return med;
}

int main(int argc, char **argv)
{
    const int repeat = argc > 1 ? atoi(argv[1]) : 200;
    const int rows[] = {3, 12}, outs[] = {512, 2048, 3292}, in = 512;
    if (repeat < 1) {
        fprintf(stderr, "usage: bench_rows [REPEAT]\n");
        return 2;
    }
    blas_kernels_select(); /* the kernels the caption program runs on */
    openblas_set_num_threads(1);
    for (size_t ri = 0; ri < sizeof rows / sizeof rows[0]; ri++)
        for (size_t oi = 0; oi < sizeof outs / sizeof outs[0]; oi++) {
            const int n = rows[ri], out = outs[oi];
            const size_t bytes = sizeof(float) * (size_t)out * in;
            const int copies = (int)((COLD_BYTES + bytes - 1) / bytes);
            float *X = random_matrix((size_t)n * in), **W = calloc((size_t)copies, sizeof *W),
                  *Y = malloc(sizeof(float) * (size_t)n * out);
            for (int c = 0; W && c < copies; c++)
                W[c] = random_matrix((size_t)out * in);
            for (int c = 0; c < copies; c++)
                if (!W || !W[c] || !X || !Y) {
                    fprintf(stderr, "bench_rows: out of memory\n");
                    return 1;
                }
            const double flop = 2.0 * n * out * in;
            const double ms = median_ms(X, n, in, W, copies, out, Y, repeat, 0, 0);
            const double cold_ms = median_ms(X, n, in, W, copies, out, Y, repeat, 0, 1);
            const double blas_ms = median_ms(X, n, in, W, copies, out, Y, repeat, 1, 0);
            printf("rows %d out %d in %d  ms %.4f  gflops %.1f  cold_gflops %.1f  sgemm_gflops "
                   "%.1f\n",
                   n, out, in, ms, flop / ms * 1e-6, flop / cold_ms * 1e-6, flop / blas_ms * 1e-6);
            free(X);
            for (int c = 0; c < copies; c++)
                free(W[c]);
            free(W);
            free(Y);
        }
    return 0;
}
