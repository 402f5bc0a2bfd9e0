/* decoder.h - one soft-attention LSTM step (Xu et al. 2015, eqs. (1)-(7), sec. 4.2.1), batched
 * over n beams. Mirrors tools/decoder_model.py; see its docstring for the equations. */
#ifndef CAPTION_DECODER_H
#define CAPTION_DECODER_H

#include "caption.h"
#include "model.h"

/* Per-image tensors computed once before the first step. The three products of a batch's
 * images lie in one block each, owned by the batch's first image (owner = 1): free the
 * images of a batch together. */
typedef struct cap_annotations {
    const float *a; /* [L][D] annotation vectors (encoder output), borrowed */
    float *att_a;   /* [L][A] W_a a_i + b_a: the image's half of the attention MLP */
    float *ctx_gates; /* [L][4H] W_x[:, M:] a_i: the LSTM input weights on each a_i */
    float *ctx_out;   /* [L][M]  L_z a_i: the deep output's context weights on each a_i */
    int L;
    int owner; /* 1: this image's pointers are the starts of the batch's blocks, freed with it */
} cap_annotations;

/* Scratch and outputs of one step for up to max_beams rows; owned, see cap_decoder_alloc. */
typedef struct cap_decoder_step_buf {
    int max_beams;
    float *att_h;  /* [n][A]   W_h h_{t-1} + b_h */
    float *emb;    /* [n][M]   E y_{t-1} */
    float *alpha_beta; /* [n][L] beta_t * alpha_t: z_t = sum_i alpha_beta_i a_i */
    float *gates;  /* [n][4H]  */
    float *out;    /* [n][M]   E y_{t-1} + L_h h_t + L_z z_t */
    float *logits; /* [n][V0]  output: unnormalised log-probabilities of the V0 trained words */
    float *alpha;  /* [n][L]   output: attention weights alpha_t (eq. 5) */
    float *beta;   /* [n]      output: gate beta_t (sec. 4.2.1) */
    float *h, *c;  /* [n][H]   output: the new LSTM state */
    const cap_annotations **row_ann; /* [n] scratch of cap_decoder_step: every row's image */
    /* Scratch of the gates' word half (word_gates.h): each row's kept row, and the rows of
     * the words not kept yet, computed in one product. */
    const float **word_row; /* [n] */
    int *word_miss;         /* [n] rows whose word is not kept */
    float *word_x;          /* [n][M] their E y */
    float *word_new;        /* [n][4H] their W_x[:, :M] E y */
} cap_decoder_step_buf;

/* Compute att_a, ctx_gates and ctx_out for a (L x D, borrowed, must outlive ann) and the initial state h0, c0 ([H]
 * each, caller-allocated): h0 = W_init_h mean_i(a_i) + b. Errors: CAP_ERR_NOMEM. */
cap_status cap_decoder_begin(const cap_model *m, const float *a, cap_annotations *ann, float *h0,
                             float *c0, cap_error *err);
/* cap_decoder_begin for n images at once: a [n][L][D] (image i's map at a + i L D), ann[n],
 * h0 and c0 [n][H]. The three products over the annotation vectors (W_a a_i, W_x[:, M:] a_i,
 * L_z a_i: 0.39 GFLOP a 7x7 image) run as one GEMM of n L rows each, so the weights are read
 * once per batch and the GEMMs are wider. Their rounding can differ from n = 1 by the BLAS
 * kernel's blocking (within float rounding; docs/speed.md). ann[0] owns the memory of all n:
 * free them together, with cap_annotations_free on each (or on ann[0] last). On error every
 * ann[i] is zeroed and nothing is allocated. Errors: CAP_ERR_NOMEM. */
cap_status cap_decoder_begin_batch(const cap_model *m, int n, const float *a, cap_annotations *ann,
                                   float *h0, float *c0, cap_error *err);
void cap_annotations_free(cap_annotations *ann);

/* Allocate step buffers for up to max_beams rows. Errors: CAP_ERR_NOMEM. */
cap_status cap_decoder_alloc(const cap_model *m, int max_beams, cap_decoder_step_buf *buf,
                             cap_error *err);
void cap_decoder_free(cap_decoder_step_buf *buf);

/*
 * One decoder step for n <= buf->max_beams rows. Row b uses previous token prev[b] and state
 * h_prev[b], c_prev[b] ([n][H] each, may alias nothing in buf) and writes buf->logits[b],
 * alpha[b], beta[b], h[b], c[b]. Dropout is the identity (inference).
 */
void cap_decoder_step(const cap_model *m, const cap_annotations *ann, int n, const int *prev,
                      const float *h_prev, const float *c_prev, cap_decoder_step_buf *buf);

/*
 * cap_decoder_step for rows of several images at once (a lockstep batch): row b attends over
 * ann[b] (rows of one image must be consecutive; ann[b] may not point into buf). The weight
 * matrices (W_h, W_x's word half, W_hh, L_h, L_o) are read once for all n rows; each image's
 * precomputed context products (cap_annotations) are used by its rows only. Every row's
 * outputs are bit for bit those of cap_decoder_step on that image's rows alone, whatever the
 * other rows are.
 */
void cap_decoder_step_rows(const cap_model *m, const cap_annotations *const *ann, int n,
                           const int *prev, const float *h_prev, const float *c_prev,
                           cap_decoder_step_buf *buf);

/* Attention energies e_i = b_e + w_e^T tanh(att_a_i + ah) for i < L (eq. 4), att_a [L][A]:
 * the fast version (vectorised tanh approximation) and the plain one with libm's tanhf that
 * tests/test_kernels.c checks it against; cap_tanhf_approx is the approximation alone. */
void cap_attention_energies(const float *att_a, const float *ah, const float *we, float be, int L,
                            int A, float *e);
void cap_attention_energies_naive(const float *att_a, const float *ah, const float *we, float be,
                                  int L, int A, float *e);
float cap_tanhf_approx(float x);

/* Y[b][j] = sum_k X[b][k] W[j][k] (+ Y[b][j] if accumulate) for b < n, j < out, k < in, with
 * row strides ldx, ldw, ldy: a decoder step's rows (the beams, or the beams of a batch of
 * images) times a torch.nn.Linear weight, reading each weight row from memory once per call
 * (tested against the plain loop in tests/test_kernels.c). Y[b][j] depends on X[b] and W[j]
 * only, not on n: the same bits for a row whatever rows share the call. */
void cap_rows_times_wt(const float *X, int n, int in, int ldx, const float *W, int ldw, int out,
                       float *Y, int ldy, int accumulate);

#endif
