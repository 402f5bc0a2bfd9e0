/* test_kernels.c - the encoder's and decoder's fast kernels against their plain reference loops
 * on random inputs. Depthwise 3x3 on pixel-major (HWC) maps (tolerance 1e-5 * (1 + |ref|)):
 * every size from 1x1 to 17x17 (odd and even, so both TF 'SAME' padding cases and every
 * border case), strides 1 and 2, 3, 19 and 32 channels (the kernel's scalar path, one vector
 * of 16 plus 3, two vectors), plus the encoder's real 112/56/28/14/7 shapes. Inputs span
 * [-8, 8] so ReLU6 clamps at both ends. The fast kernel may sum in another order and use FMA.
 * The dilated depthwise 3x3 (output stride 16) against a definition written here,
 * independently of src/encoder.c: explicit zero padding of d on every side, then the taps
 * (tolerance 1e-5 * (1 + |ref|)), every size from 1x1 to 13x13 and the encoder's 14x14,
 * dilations 1 to 3. Then the decoder's tanh approximation, attention energies and few-rows
 * GEMM. */
#include "decoder.h"
#include "encoder.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

static unsigned long long rng = 0x9E3779B97F4A7C15ull;

static float frand(void) /* uniform in [-1, 1) */
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (float)((rng >> 40) * (1.0 / 8388608.0)) * 2.0f - 1.0f;
}

static int check_depthwise(int c, int h, int w, int s, int d)
{
    const int oh = (h + s - 1) / s, ow = (w + s - 1) / s;
    float *x = malloc(sizeof(float) * c * h * w), *k = malloc(sizeof(float) * c * 9),
          *b = malloc(sizeof(float) * c), *y = malloc(sizeof(float) * c * oh * ow),
          *ref = malloc(sizeof(float) * c * oh * ow);
    for (int i = 0; i < c * h * w; i++)
        x[i] = 8.0f * frand();
    for (int i = 0; i < c * 9; i++)
        k[i] = frand();
    for (int i = 0; i < c; i++)
        b[i] = frand();
    cap_depthwise3x3(x, h, w, c, s, d, k, b, y);
    cap_depthwise3x3_naive(x, h, w, c, s, d, k, b, ref);
    int bad = 0;
    for (int i = 0; i < c * oh * ow && !bad; i++)
        if (!(fabsf(y[i] - ref[i]) <= 1e-5f * (1.0f + fabsf(ref[i])))) {
            printf("FAIL depthwise c=%d h=%d w=%d stride=%d dilation=%d at %d: %g != %g\n", c,
                   h, w, s, d, i, y[i], ref[i]);
            bad = 1;
        }
    free(x), free(k), free(b), free(y), free(ref);
    return bad;
}

static float relu6f(float v)
{
    return v < 0.0f ? 0.0f : (v > 6.0f ? 6.0f : v);
}

/* The dilated depthwise 3x3 by its definition: copy the input (HWC) into a plane padded with
 * d zeros on every side (TF 'SAME' for the effective kernel 2d + 1 at stride 1), then
 * y = ReLU6(b + sum of the 9 taps spaced d apart), accumulated in double. */
static void dilated_reference(const float *x, int c, int h, int w, int d, const float *k,
                              const float *b, float *y)
{
    const int hp = h + 2 * d, wp = w + 2 * d;
    float *pad = calloc((size_t)hp * wp, sizeof(float));
    for (int ch = 0; ch < c; ch++) {
        for (int i = 0; i < h; i++)
            for (int j = 0; j < w; j++)
                pad[(size_t)(i + d) * wp + j + d] = x[((size_t)i * w + j) * c + ch];
        for (int oy = 0; oy < h; oy++)
            for (int ox = 0; ox < w; ox++) {
                double acc = b[ch];
                for (int ky = 0; ky < 3; ky++)
                    for (int kx = 0; kx < 3; kx++)
                        acc += (double)k[ch * 9 + ky * 3 + kx] *
                               pad[(size_t)(oy + ky * d) * wp + ox + kx * d];
                y[((size_t)oy * w + ox) * c + ch] = relu6f((float)acc);
            }
    }
    free(pad);
}

static int check_dilated(int c, int h, int w, int d)
{
    const size_t n = (size_t)c * h * w;
    float *x = malloc(sizeof(float) * n), *k = malloc(sizeof(float) * c * 9),
          *b = malloc(sizeof(float) * c), *y = malloc(sizeof(float) * n),
          *ref = malloc(sizeof(float) * n);
    for (size_t i = 0; i < n; i++)
        x[i] = 8.0f * frand();
    for (int i = 0; i < c * 9; i++)
        k[i] = frand();
    for (int i = 0; i < c; i++)
        b[i] = frand();
    cap_depthwise3x3(x, h, w, c, 1, d, k, b, y);
    dilated_reference(x, c, h, w, d, k, b, ref);
    int bad = 0;
    for (size_t i = 0; i < n && !bad; i++)
        if (!(fabsf(y[i] - ref[i]) <= 1e-5f * (1.0f + fabsf(ref[i])))) {
            printf("FAIL dilated depthwise c=%d h=%d w=%d dilation=%d at %zu: %g != %g\n", c, h,
                   w, d, i, y[i], ref[i]);
            bad = 1;
        }
    free(x), free(k), free(b), free(y), free(ref);
    return bad;
}

/* The decoder's tanh approximation against libm's tanhf over [-20, 20] (plus 0, tiny and huge
 * arguments): within 2 ulp-ish (2.5e-7 absolute, 4e-7 relative), odd, saturating at +-1. */
static int check_tanh(void)
{
    int bad = 0;
    float worst = 0.0f;
    for (int i = -2000000; i <= 2000000 && !bad; i++) {
        const float x = (float)i * 1e-5f, t = cap_tanhf_approx(x), ref = tanhf(x);
        const float err = fabsf(t - ref);
        worst = err > worst ? err : worst;
        if (!(err <= 2.5e-7f && err <= 4e-7f * fabsf(ref) + 1e-38f) && x != 0.0f) {
            printf("FAIL tanh(%.9g) = %.9g, libm %.9g\n", x, t, ref);
            bad = 1;
        }
    }
    const float special[] = {0.0f, -0.0f, 1e-30f, -1e-30f, 1e-8f, 50.0f, -50.0f, 1e30f, -1e30f};
    for (size_t i = 0; i < sizeof special / sizeof special[0]; i++)
        if (cap_tanhf_approx(special[i]) != tanhf(special[i])) {
            printf("FAIL tanh(%g) = %.9g, libm %.9g\n", special[i], cap_tanhf_approx(special[i]),
                   tanhf(special[i]));
            bad = 1;
        }
    printf("tanh approximation: max |error| %.3g over [-20, 20]\n", worst);
    return bad;
}

/* Attention energies, fast (vectorised) against plain, for A not a multiple of the lanes too. */
static int check_energies(int L, int A)
{
    float *att = malloc(sizeof(float) * L * A), *ah = malloc(sizeof(float) * A),
          *we = malloc(sizeof(float) * A), *e = malloc(sizeof(float) * L),
          *ref = malloc(sizeof(float) * L);
    float scale = 0.0f;
    for (int i = 0; i < L * A; i++)
        att[i] = 3.0f * frand();
    for (int j = 0; j < A; j++) {
        ah[j] = 3.0f * frand();
        we[j] = frand();
        scale += fabsf(we[j]);
    }
    cap_attention_energies(att, ah, we, 0.25f, L, A, e);
    cap_attention_energies_naive(att, ah, we, 0.25f, L, A, ref);
    int bad = 0;
    for (int i = 0; i < L && !bad; i++)
        if (!(fabsf(e[i] - ref[i]) <= 1e-5f * scale)) {
            printf("FAIL energies L=%d A=%d at %d: %g != %g\n", L, A, i, e[i], ref[i]);
            bad = 1;
        }
    free(att), free(ah), free(we), free(e), free(ref);
    return bad;
}

/* The decoder's few-rows GEMM against the plain triple loop, every n up to 9 (several chunks of
 * 4 rows), in not a multiple of the 16 lanes, a weight matrix wider than `in`, accumulate. */
static int check_rows_times_wt(int n, int in, int out, int accumulate)
{
    const int ldw = in + 5;
    float *X = malloc(sizeof(float) * n * in), *W = malloc(sizeof(float) * out * ldw),
          *Y = malloc(sizeof(float) * n * out), *ref = malloc(sizeof(float) * n * out);
    for (int i = 0; i < n * in; i++)
        X[i] = frand();
    for (int i = 0; i < out * ldw; i++)
        W[i] = frand();
    for (int i = 0; i < n * out; i++)
        Y[i] = ref[i] = frand();
    cap_rows_times_wt(X, n, in, in, W, ldw, out, Y, out, accumulate);
    int bad = 0;
    for (int b = 0; b < n; b++)
        for (int j = 0; j < out; j++) {
            double acc = accumulate ? ref[b * out + j] : 0.0;
            for (int k = 0; k < in; k++)
                acc += (double)X[b * in + k] * W[j * ldw + k];
            if (!bad && !(fabs(Y[b * out + j] - acc) <= 1e-5 * (1.0 + sqrt((double)in)))) {
                printf("FAIL rows_times_wt n=%d in=%d out=%d acc=%d at (%d, %d): %g != %g\n", n,
                       in, out, accumulate, b, j, Y[b * out + j], acc);
                bad = 1;
            }
        }
    free(X), free(W), free(Y), free(ref);
    return bad;
}

int main(void)
{
    int failed = 0, n = 0;
    /* 3 channels: the scalar path only; 19: one vector of 16 and 3 more; 32: two vectors. */
    const int channels[] = {3, 19, 32};
    for (int ci = 0; ci < 3; ci++)
        for (int s = 1; s <= 2; s++)
            for (int h = 1; h <= 17; h++)
                for (int w = 1; w <= 17; w++, n++)
                    failed += check_depthwise(channels[ci], h, w, s, 1);
    const int sides[] = {112, 56, 28, 14, 7};
    for (int i = 0; i < 5; i++)
        for (int s = 1; s <= 2; s++, n++)
            failed += check_depthwise(32, sides[i], sides[i], s, 1);
    printf("%d of %d depthwise cases passed\n", n - failed, n);
    int n_dil = 0, failed_dil = 0;
    for (int d = 1; d <= 3; d++) {
        for (int ci = 0; ci < 2; ci++)
            for (int h = 1; h <= 13; h++)
                for (int w = 1; w <= 13; w++, n_dil++) {
                    failed_dil += check_dilated(channels[ci], h, w, d);
                    failed_dil += check_depthwise(channels[ci], h, w, 1, d); /* fast vs naive */
                }
        failed_dil += check_dilated(48, 14, 14, d); /* the encoder's 14x14 maps */
        n_dil++;
    }
    printf("%d of %d dilated depthwise cases passed\n", n_dil - failed_dil, n_dil);
    failed += failed_dil;
    failed += check_tanh();
    const int dims[][2] = {{49, 256}, {1, 1}, {3, 15}, {7, 17}, {49, 33}};
    for (size_t i = 0; i < sizeof dims / sizeof dims[0]; i++)
        failed += check_energies(dims[i][0], dims[i][1]);
    for (int rows = 1; rows <= 9; rows++)
        for (int acc = 0; acc <= 1; acc++) {
            failed += check_rows_times_wt(rows, 256, 37, acc);
            failed += check_rows_times_wt(rows, 1, 5, acc);
            failed += check_rows_times_wt(rows, 33, 17, acc);
            /* More than two 64-row tiles and a tail: the results across the tiles'
             * boundaries, where the next block's rows are prefetched from the next tile. */
            failed += check_rows_times_wt(rows, 48, 150, acc);
        }
    printf(failed ? "%d check(s) FAILED\n" : "all kernel checks passed\n", failed);
    return failed ? 1 : 0;
}
