/* decoder.c - the soft-attention LSTM decoder step. Each stage is one or two GEMMs over the
 * n beams at once (rows = beams), so beam search costs about as much as greedy per step. */
#include "decoder.h"

#include "error.h"
#include "multiversion.h"
#include "word_gates.h"

#include <cblas.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static inline float sigmoidf(float v)
{
    return 1.0f / (1.0f + expf(-v));
}

/* The attention MLP is most of a decoder step's non-GEMM work: L x A = 12,544 tanh per beam
 * per step, which glibc's scalar tanhf makes about a third of the decoder's time. These are
 * branch-free single-precision versions (Cephes expf / tanhf: the same polynomials, error
 * within 2 ulp of tanhf over the whole range, checked by tests/test_kernels.c) that GCC
 * vectorises; the loop is compiled for AVX-512, AVX2+FMA and baseline SSE2 and the loader
 * picks one (multiversion.h). */
/* -fno-trapping-math (no effect on results: it only lets both sides of the |x| < 0.625 choice
 * be computed, so the loop becomes branch-free and vectorises). */
#if defined(__GNUC__) && !defined(__clang__)
#define CAP_NO_TRAPS __attribute__((optimize("no-trapping-math")))
#else
#define CAP_NO_TRAPS
#endif

/* e^x for x in [-88, 88]: x = n ln2 + r, |r| <= ln2 / 2, e^r by a degree-6 polynomial. */
CAP_NO_TRAPS static inline float exp_poly(float x)
{
    const float n = floorf(x * 1.44269504088896341f + 0.5f);
    const float r = x - n * 0.693359375f + n * 2.12194440e-4f;
    const float p = (((((1.9875691500e-4f * r + 1.3981999507e-3f) * r + 8.3334519073e-3f) * r +
                       4.1665795894e-2f) * r + 1.6666665459e-1f) * r + 5.0000001201e-1f) *
                        r * r + r + 1.0f;
    const int32_t bits = ((int32_t)n + 127) << 23;
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    return p * scale;
}

CAP_NO_TRAPS static inline float tanh_poly(float x)
{
    const float ax = fabsf(x), x2 = x * x;
    /* |x| < 0.625: x + x^3 P(x^2); else 1 - 2 / (e^2|x| + 1), saturating to 1. */
    const float small = ((((-5.70498872745e-3f * x2 + 2.06390887954e-2f) * x2 -
                           5.37397155531e-2f) * x2 + 1.33314422036e-1f) * x2 -
                         3.33332819422e-1f) * x2 * ax + ax;
    const float big = 1.0f - 2.0f / (exp_poly(ax < 44.0f ? 2.0f * ax : 88.0f) + 1.0f);
    return copysignf(ax < 0.625f ? small : big, x);
}

/* 1 / (1 + e^-x), with e^-x clamped to the polynomial's range (beyond it the result is 0
 * or 1 in float anyway). */
CAP_NO_TRAPS static inline float sigmoid_poly(float x)
{
    const float m = x < -88.0f ? 88.0f : (x > 88.0f ? -88.0f : -x);
    return 1.0f / (1.0f + exp_poly(m));
}

/* Eqs. (1)-(3)'s cell for one row: gates g [4H] in PyTorch's order i, f, g, o, the previous
 * cell c_prev [H]; writes c [H] and h [H]. With the polynomials above instead of libm's
 * scalar expf and tanhf, the loop vectorises (it was about 5 % of a batch's time). */
CAP_MULTIVERSION CAP_NO_TRAPS
static void lstm_cell(const float *g, const float *c_prev, int H, float *c, float *h)
{
    for (int j = 0; j < H; j++) {
        const float i = sigmoid_poly(g[j]), f = sigmoid_poly(g[H + j]),
                    gg = tanh_poly(g[2 * H + j]), o = sigmoid_poly(g[3 * H + j]);
        c[j] = f * c_prev[j] + i * gg;
        h[j] = o * tanh_poly(c[j]);
    }
}

/* Static, with an exported-to-tests wrapper below: a non-static multiversioned function's
 * ifunc symbol would be exported from libcaption whatever -fvisibility says. */
CAP_MULTIVERSION CAP_NO_TRAPS
static void attention_energies(const float *att_a, const float *ah, const float *we, float be,
                               int L, int A, float *e)
{
    enum { LANES = 16 }; /* 16 partial sums: the reduction vectorises without -ffast-math */
    for (int i = 0; i < L; i++) {
        const float *aa = att_a + (size_t)i * A;
        float part[LANES] = {0};
        int j = 0;
        for (; j + LANES <= A; j += LANES)
            for (int k = 0; k < LANES; k++)
                part[k] += we[j + k] * tanh_poly(aa[j + k] + ah[j + k]);
        for (; j < A; j++)
            part[0] += we[j] * tanh_poly(aa[j] + ah[j]);
        for (int w = LANES / 2; w > 0; w /= 2)
            for (int k = 0; k < w; k++)
                part[k] += part[k + w];
        e[i] = be + part[0];
    }
}

void cap_attention_energies(const float *att_a, const float *ah, const float *we, float be, int L,
                            int A, float *e)
{
    attention_energies(att_a, ah, we, be, L, A, e);
}

void cap_attention_energies_naive(const float *att_a, const float *ah, const float *we, float be,
                                  int L, int A, float *e)
{
    for (int i = 0; i < L; i++) {
        const float *aa = att_a + (size_t)i * A;
        float acc = be;
        for (int j = 0; j < A; j++)
            acc += we[j] * tanhf(aa[j] + ah[j]);
        e[i] = acc;
    }
}

float cap_tanhf_approx(float x)
{
    return tanh_poly(x);
}

/* Rows of X times W^T for a few rows (the live beams): every weight row is read once and dotted
 * with up to 4 rows of X held in L1, 16 lanes of partial sums each (so the reduction
 * vectorises without -ffast-math). OpenBLAS's sgemm would first copy ("pack") the whole weight
 * matrix for every call, which for n = 3 rows costs more than the multiplication: the decoder
 * reads about 5 MB of weights per step. nb is a constant in each inlined copy. */
enum { ROWS_MAX = 4, LANES = 16 };

typedef float v16sf __attribute__((vector_size(LANES * sizeof(float))));

/* An unaligned load (a macro: a function returning v16sf would trip -Wpsabi). */
#define LOAD16(v, p) memcpy(&(v), (p), sizeof(v))

/* The sum of the 16 lanes as a tree (lane i + lane i + 8, then + 4, + 2, + 1): four
 * shuffles and adds instead of fifteen dependent scalar adds, which took about a quarter of a
 * decoder step's products. The order is fixed, so a row's result still never depends on the
 * rows beside it. */
static inline __attribute__((always_inline)) float lanes_sum(v16sf v)
{
    v += __builtin_shufflevector(v, v, 8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7);
    v += __builtin_shufflevector(v, v, 4, 5, 6, 7, 0, 1, 2, 3, 4, 5, 6, 7, 0, 1, 2, 3);
    v += __builtin_shufflevector(v, v, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3, 0, 1);
    v += __builtin_shufflevector(v, v, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0);
    return v[0];
}

/* Y[b][j0 .. j0 + nj - 1] for the nb rows x[b]: nj weight rows (a constant 1 or 4 in each
 * inlined copy) at a time, each weight vector loaded once for the nb rows, each row's vector
 * once for the nj weight rows. Every Y[b][j] is the same sum in the same order whatever nb and
 * nj: 16 lanes over k, the lanes added as a tree (lanes_sum), then the tail. pf: the rows to
 * prefetch a line of in step with the loads (see rows_times_block), or NULL. */
static inline __attribute__((always_inline)) void rows_block_times_wt(
    const float *const *x, int nb, int nj, int in, const float *W, int ldw, float *Y, int ldy,
    int accumulate, const float *pf)
{
    v16sf acc[ROWS_MAX][4];
    for (int b = 0; b < nb; b++)
        for (int jj = 0; jj < nj; jj++)
            acc[b][jj] = (v16sf){0};
    int k = 0;
    for (; k + LANES <= in; k += LANES) {
        v16sf wv[4], xv;
        for (int jj = 0; jj < nj; jj++)
            LOAD16(wv[jj], W + (size_t)jj * ldw + k);
        if (pf)
            for (int jj = 0; jj < 4; jj++)
                __builtin_prefetch(pf + (size_t)jj * ldw + k);
        for (int b = 0; b < nb; b++) {
            LOAD16(xv, x[b] + k);
            for (int jj = 0; jj < nj; jj++)
                acc[b][jj] += wv[jj] * xv;
        }
    }
    for (int b = 0; b < nb; b++)
        for (int jj = 0; jj < nj; jj++) {
            const float *w = W + (size_t)jj * ldw;
            float sum = lanes_sum(acc[b][jj]);
            for (int kk = k; kk < in; kk++)
                sum += w[kk] * x[b][kk];
            float *y = Y + (size_t)b * ldy + jj;
            *y = accumulate ? *y + sum : sum;
        }
}

/* rows_block_times_wt over `out` weight rows, 4 at a time, then the rest one by one. While a
 * block of 4 runs, the next block's rows are prefetched a cache line at a time, in step with
 * the loads (pf_rows: the weight rows from W on that may be prefetched, 0 for none): the
 * hardware prefetcher alone does not keep 4 short streams (a 512-float row is 32 lines) fed
 * from memory, and a decoder step's weights come from memory (tests/bench_rows, weights from
 * memory: 3 rows 18-20 -> 35-36 GFLOP/s, 12 rows 58-63 -> 58-76). */
static inline __attribute__((always_inline)) void rows_times_block(
    const float *const *x, int nb, int in, const float *W, int ldw, int out, float *Y, int ldy,
    int accumulate, int pf_rows)
{
    int j = 0;
    for (; j + 4 <= out; j += 4)
        rows_block_times_wt(x, nb, 4, in, W + (size_t)j * ldw, ldw, Y + j, ldy, accumulate,
                            j + 8 <= pf_rows ? W + (size_t)(j + 4) * ldw : NULL);
    for (; j < out; j++)
        rows_block_times_wt(x, nb, 1, in, W + (size_t)j * ldw, ldw, Y + j, ldy, accumulate,
                            NULL);
}

/* Weight rows per tile when many rows share a step (a lockstep batch of images): the tile
 * (64 rows of 512 floats, 128 KB) stays in L2 while every group of ROWS_MAX rows of X passes
 * over it, so each weight is read from memory once per step whatever the number of rows. */
enum { TILE_OUT = 64 };

CAP_MULTIVERSION
static void rows_times_wt(const float *X, int n, int in, int ldx, const float *W, int ldw,
                          int out, float *Y, int ldy, int accumulate)
{
    /* Every Y[b][j] is the same sum in the same order (16 lanes over k, then the lanes, then
     * the tail) whatever n, the tile and the group it falls in: a row's numbers never depend
     * on the rows beside it, so an image captioned in a batch gets exactly its numbers alone. */
    for (int j0 = 0; j0 < out; j0 += TILE_OUT) {
        const int nj = out - j0 < TILE_OUT ? out - j0 : TILE_OUT;
        const float *Wt = W + (size_t)j0 * ldw;
        for (int b0 = 0; b0 < n; b0 += ROWS_MAX) {
            const int nb = n - b0 < ROWS_MAX ? n - b0 : ROWS_MAX;
            const float *x[ROWS_MAX];
            for (int b = 0; b < ROWS_MAX; b++)
                x[b] = X + (size_t)(b0 + (b < nb ? b : 0)) * ldx;
            float *y = Y + (size_t)b0 * ldy + j0;
            /* The first group of rows reads the tile from memory (and prefetches on into
             * the next tile); the others find it in L2. */
            const int pf = b0 == 0 ? out - j0 : 0;
            switch (nb) {
            case 1: rows_times_block(x, 1, in, Wt, ldw, nj, y, ldy, accumulate, pf); break;
            case 2: rows_times_block(x, 2, in, Wt, ldw, nj, y, ldy, accumulate, pf); break;
            case 3: rows_times_block(x, 3, in, Wt, ldw, nj, y, ldy, accumulate, pf); break;
            default: rows_times_block(x, 4, in, Wt, ldw, nj, y, ldy, accumulate, pf); break;
            }
        }
    }
}

void cap_rows_times_wt(const float *X, int n, int in, int ldx, const float *W, int ldw, int out,
                       float *Y, int ldy, int accumulate)
{
    rows_times_wt(X, n, in, ldx, W, ldw, out, Y, ldy, accumulate);
}

/* Y[n][out] = X[n][in] W^T (+ Y if accumulate), W row-major [out][ldw] as torch.nn.Linear
 * (ldw >= in: W may be the first `in` columns of a wider matrix). A few rows (a decoder step):
 * cap_rows_times_wt; many (the L = 49 or 196 annotation vectors): OpenBLAS. */
static void linear_ld(const float *X, int n, int in, const float *W, int ldw, int out, float *Y,
                      int accumulate)
{
    if (n <= 2 * ROWS_MAX)
        cap_rows_times_wt(X, n, in, in, W, ldw, out, Y, out, accumulate);
    else
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, out, in, 1.0f, X, in, W, ldw,
                    accumulate ? 1.0f : 0.0f, Y, out);
}

static void linear(const float *X, int n, int in, const float *W, int out, float *Y,
                   int accumulate)
{
    linear_ld(X, n, in, W, in, out, Y, accumulate);
}

static void add_bias(float *Y, int n, int out, const float *b)
{
    for (int r = 0; r < n; r++)
        for (int j = 0; j < out; j++)
            Y[(size_t)r * out + j] += b[j];
}

/* Y = X W^T (+ b) for the n L annotation vectors of a batch at once: one GEMM, so each weight
 * is read once per batch. */
static void linear_images(const float *X, int rows, int in, const float *W, int ldw, int out,
                          const float *b, float *Y)
{
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows, out, in, 1.0f, X, in, W, ldw,
                0.0f, Y, out);
    if (b)
        add_bias(Y, rows, out, b);
}

cap_status cap_decoder_begin_batch(const cap_model *m, int n, const float *a, cap_annotations *ann,
                                   float *h0, float *c0, cap_error *err)
{
    const cap_model_config *cf = &m->config;
    const cap_decoder_weights *w = &m->decoder;
    const int L = cf->grid_rows * cf->grid_cols, D = cf->feature_dim, A = cf->attention_dim,
              H = cf->hidden_dim, M = cf->embed_dim;
    const size_t rows = (size_t)n * L;
    /* One block per product for the whole batch, written by its GEMM in place: image i's
     * rows are at i L. ann[0] owns the blocks (cap_annotations_free). */
    float *att_a = malloc(sizeof(float) * rows * A);
    float *ctx_gates = malloc(sizeof(float) * rows * 4 * H);
    float *ctx_out = malloc(sizeof(float) * rows * M);
    float *mean = malloc(sizeof(float) * (size_t)D);
    if (!att_a || !ctx_gates || !ctx_out || !mean) {
        free(att_a);
        free(ctx_gates);
        free(ctx_out);
        free(mean);
        for (int i = 0; i < n; i++)
            ann[i] = (cap_annotations){0};
        return cap_fail(err, CAP_ERR_NOMEM, "out of memory in decoder");
    }
    for (int i = 0; i < n; i++)
        ann[i] = (cap_annotations){.a = a + (size_t)i * L * D,
                                   .att_a = att_a + (size_t)i * L * A,
                                   .ctx_gates = ctx_gates + (size_t)i * L * 4 * H,
                                   .ctx_out = ctx_out + (size_t)i * L * M,
                                   .L = L,
                                   .owner = i == 0};
    linear_images(a, (int)rows, D, w->att_feature_w, D, A, w->att_feature_b, att_a);
    /* The LSTM's and the deep output's context weights applied to every a_i, once per image:
     * W_x[:, M:] z_t = beta_t sum_i alpha_ti (W_x[:, M:] a_i), likewise L_z z_t. Each step then
     * multiplies by the L alpha weights (49, or 196 on a 14x14 grid) instead of reading the
     * 4H x D and M x D matrices (6.5 MB) again, and z_t itself is never formed. */
    linear_images(a, (int)rows, D, w->lstm_w_ih + M, M + D, 4 * H, NULL, ctx_gates);
    linear_images(a, (int)rows, D, w->out_context_w, D, M, NULL, ctx_out);
    /* The initial state one image at a time: a single row takes the few-rows kernel whatever
     * the batch, so h_0 and c_0 do not depend on it. */
    for (int i = 0; i < n; i++) {
        const float *ai = a + (size_t)i * L * D;
        memset(mean, 0, sizeof(float) * (size_t)D);
        for (int l = 0; l < L; l++)
            for (int d = 0; d < D; d++)
                mean[d] += ai[(size_t)l * D + d];
        for (int d = 0; d < D; d++)
            mean[d] /= (float)L;
        linear(mean, 1, D, w->init_h_w, H, h0 + (size_t)i * H, 0);
        add_bias(h0 + (size_t)i * H, 1, H, w->init_h_b);
        linear(mean, 1, D, w->init_c_w, H, c0 + (size_t)i * H, 0);
        add_bias(c0 + (size_t)i * H, 1, H, w->init_c_b);
    }
    free(mean);
    return CAP_OK;
}

cap_status cap_decoder_begin(const cap_model *m, const float *a, cap_annotations *ann, float *h0,
                             float *c0, cap_error *err)
{
    return cap_decoder_begin_batch(m, 1, a, ann, h0, c0, err);
}

void cap_annotations_free(cap_annotations *ann)
{
    if (ann->owner) {
        free(ann->att_a);
        free(ann->ctx_gates);
        free(ann->ctx_out);
    }
    *ann = (cap_annotations){0};
}

cap_status cap_decoder_alloc(const cap_model *m, int max_beams, cap_decoder_step_buf *buf,
                             cap_error *err)
{
    const cap_model_config *cf = &m->config;
    const size_t n = (size_t)max_beams, L = (size_t)cf->grid_rows * cf->grid_cols,
                 M = (size_t)cf->embed_dim,
                 A = (size_t)cf->attention_dim, H = (size_t)cf->hidden_dim,
                 V = (size_t)cf->base_vocab_size;
    memset(buf, 0, sizeof *buf);
    buf->max_beams = max_beams;
    buf->att_h = malloc(sizeof(float) * n * A);
    buf->emb = malloc(sizeof(float) * n * M);
    buf->alpha_beta = malloc(sizeof(float) * n * L);
    buf->gates = malloc(sizeof(float) * n * 4 * H);
    buf->out = malloc(sizeof(float) * n * M);
    buf->logits = malloc(sizeof(float) * n * V);
    buf->alpha = malloc(sizeof(float) * n * L);
    buf->beta = malloc(sizeof(float) * n);
    buf->h = malloc(sizeof(float) * n * H);
    buf->c = malloc(sizeof(float) * n * H);
    buf->row_ann = malloc(sizeof *buf->row_ann * n);
    buf->word_row = malloc(sizeof *buf->word_row * n);
    buf->word_miss = malloc(sizeof *buf->word_miss * n);
    buf->word_x = malloc(sizeof(float) * n * M);
    buf->word_new = malloc(sizeof(float) * n * 4 * H);
    if (!buf->att_h || !buf->emb || !buf->alpha_beta || !buf->gates || !buf->out ||
        !buf->logits || !buf->alpha || !buf->beta || !buf->h || !buf->c || !buf->row_ann ||
        !buf->word_row || !buf->word_miss || !buf->word_x || !buf->word_new) {
        cap_decoder_free(buf);
        return cap_fail(err, CAP_ERR_NOMEM, "out of memory in decoder");
    }
    return CAP_OK;
}

void cap_decoder_free(cap_decoder_step_buf *buf)
{
    free(buf->att_h);
    free(buf->emb);
    free(buf->alpha_beta);
    free(buf->gates);
    free(buf->out);
    free(buf->logits);
    free(buf->alpha);
    free(buf->beta);
    free(buf->h);
    free(buf->c);
    free(buf->row_ann);
    free(buf->word_row);
    free(buf->word_miss);
    free(buf->word_x);
    free(buf->word_new);
    memset(buf, 0, sizeof *buf);
}

/* Y[n][out] (+)= X[n][in] W^T for a decoder step's rows: always the few-rows kernel, never
 * OpenBLAS, so that a row's result is the same bits whether it shares the step with 2 rows
 * (one image's beams) or 47 (a lockstep batch): see rows_times_wt. */
static void step_linear(const float *X, int n, int in, const float *W, int ldw, int out,
                        float *Y, int accumulate)
{
    cap_rows_times_wt(X, n, in, in, W, ldw, out, Y, out, accumulate);
}

/* Eqs. (4)-(5) and the gate: alpha_t = softmax_i(w_e^T tanh(att_a_i + W_h h + b_h) + b_e),
 * beta_t = sigmoid(w_b^T h + b_b), and alpha_beta = beta_t * alpha_t, the weights that give
 * z_t = sum_i alpha_beta_i a_i (eq. 6). Row b attends over the annotations of its image,
 * ann[b]. */
static void attend(const cap_model *m, const cap_annotations *const *ann, int n,
                   const float *h_prev, cap_decoder_step_buf *buf)
{
    const cap_decoder_weights *w = &m->decoder;
    const int L = ann[0]->L, A = m->config.attention_dim, H = m->config.hidden_dim;
    step_linear(h_prev, n, H, w->att_hidden_w, H, A, buf->att_h, 0);
    add_bias(buf->att_h, n, A, w->att_hidden_b);
    for (int b = 0; b < n; b++) {
        const float *ah = buf->att_h + (size_t)b * A;
        float *alpha = buf->alpha + (size_t)b * L, emax = -INFINITY, sum = 0.0f;
        cap_attention_energies(ann[b]->att_a, ah, w->att_score_w, w->att_score_b[0], L, A, alpha);
        for (int i = 0; i < L; i++)
            emax = alpha[i] > emax ? alpha[i] : emax;
        for (int i = 0; i < L; i++) {
            alpha[i] = expf(alpha[i] - emax);
            sum += alpha[i];
        }
        for (int i = 0; i < L; i++)
            alpha[i] /= sum;
        float gate = w->beta_gate_b[0];
        for (int j = 0; j < H; j++)
            gate += w->beta_gate_w[j] * h_prev[(size_t)b * H + j];
        buf->beta[b] = sigmoidf(gate);
        for (int i = 0; i < L; i++)
            buf->alpha_beta[(size_t)b * L + i] = buf->beta[b] * alpha[i];
    }
}

/* Y[rows of image g] (+)= alpha_beta[rows of g] P_g for each run of rows of one image: the
 * context half of a layer, P_g = ctx_gates or ctx_out of that image ([L][cols]). One sgemm per
 * run, of the same shape as when the image is captioned alone. */
static void per_image_context(const cap_annotations *const *ann, int n, const float *alpha_beta,
                              int use_out, int cols, float *Y, float beta_y)
{
    const int L = ann[0]->L;
    for (int b0 = 0, b1; b0 < n; b0 = b1) {
        for (b1 = b0 + 1; b1 < n && ann[b1] == ann[b0]; b1++)
            ;
        const float *P = use_out ? ann[b0]->ctx_out : ann[b0]->ctx_gates;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, b1 - b0, cols, L, 1.0f,
                    alpha_beta + (size_t)b0 * L, L, P, cols, beta_y, Y + (size_t)b0 * cols,
                    cols);
    }
}

/* buf->word_row[b] = W_x[:, :M] E y_{t-1} for each row: the gates' word half (eq. 1), kept in
 * the model's cache after a word's first use (word_gates.h). The rows whose word is not kept
 * yet go through one product, with the same kernel and so the same bits as a kept row. */
static void word_gates(const cap_model *m, int n, const int *prev, cap_decoder_step_buf *buf)
{
    const cap_decoder_weights *w = &m->decoder;
    const int D = m->config.feature_dim, M = m->config.embed_dim, G = 4 * m->config.hidden_dim;
    int miss = 0;
    for (int b = 0; b < n; b++) {
        buf->word_row[b] = cap_word_gates_get(m->word_gates, prev[b]);
        if (!buf->word_row[b]) {
            memcpy(buf->word_x + (size_t)miss * M, buf->emb + (size_t)b * M,
                   sizeof(float) * (size_t)M);
            buf->word_miss[miss++] = b;
        }
    }
    if (!miss)
        return;
    step_linear(buf->word_x, miss, M, w->lstm_w_ih, M + D, G, buf->word_new, 0);
    for (int q = 0; q < miss; q++) {
        const int b = buf->word_miss[q];
        buf->word_row[b] = buf->word_new + (size_t)q * G;
        cap_word_gates_put(m->word_gates, prev[b], buf->word_row[b]);
    }
}

void cap_decoder_step(const cap_model *m, const cap_annotations *ann, int n, const int *prev,
                      const float *h_prev, const float *c_prev, cap_decoder_step_buf *buf)
{
    for (int b = 0; b < n; b++)
        buf->row_ann[b] = ann;
    cap_decoder_step_rows(m, buf->row_ann, n, prev, h_prev, c_prev, buf);
}

void cap_decoder_step_rows(const cap_model *m, const cap_annotations *const *ann, int n,
                           const int *prev, const float *h_prev, const float *c_prev,
                           cap_decoder_step_buf *buf)
{
    const cap_decoder_weights *w = &m->decoder;
    const int M = m->config.embed_dim, H = m->config.hidden_dim,
              V = m->config.base_vocab_size;
    for (int b = 0; b < n; b++)
        memcpy(buf->emb + (size_t)b * M, w->embedding + (size_t)prev[b] * M,
               sizeof(float) * (size_t)M);
    attend(m, ann, n, h_prev, buf);

    /* Eqs. (1)-(3): gates = W_x [E y; z] + b_x + W_hh h + b_hh, PyTorch order i, f, g, o,
     * with W_x[:, M:] z = alpha_beta ctx_gates (see cap_decoder_begin) and W_x[:, :M] E y
     * from the word cache. */
    per_image_context(ann, n, buf->alpha_beta, 0, 4 * H, buf->gates, 0.0f);
    word_gates(m, n, prev, buf);
    for (int b = 0; b < n; b++) {
        float *g = buf->gates + (size_t)b * 4 * H;
        const float *x = buf->word_row[b];
        for (int j = 0; j < 4 * H; j++)
            g[j] += x[j];
    }
    step_linear(h_prev, n, H, w->lstm_w_hh, H, 4 * H, buf->gates, 1);
    add_bias(buf->gates, n, 4 * H, w->lstm_b_ih);
    add_bias(buf->gates, n, 4 * H, w->lstm_b_hh);
    for (int b = 0; b < n; b++)
        lstm_cell(buf->gates + (size_t)b * 4 * H, c_prev + (size_t)b * H, H,
                  buf->c + (size_t)b * H, buf->h + (size_t)b * H);

    /* Eq. (7), deep output: logits = L_o (E y + L_h h_t + L_z z_t) + b_o,
     * with L_z z = alpha_beta ctx_out. Only the V0 trained words' logits: an added word is a
     * candidate only when forced, and beam search computes those few itself from `out`. */
    memcpy(buf->out, buf->emb, sizeof(float) * (size_t)n * M);
    step_linear(buf->h, n, H, w->out_hidden_w, H, M, buf->out, 1);
    per_image_context(ann, n, buf->alpha_beta, 1, M, buf->out, 1.0f);
    step_linear(buf->out, n, M, w->out_logits_w, M, V, buf->logits, 0);
    add_bias(buf->logits, n, V, w->out_logits_b);
}
