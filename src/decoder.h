/* decoder.h - one soft-attention LSTM step (Xu et al. 2015, eqs. (1)-(7), sec. 4.2.1), batched
 * over n beams. Mirrors tools/decoder_model.py; see its docstring for the equations. */
#ifndef CAPTION_DECODER_H
#define CAPTION_DECODER_H

#include "caption.h"
#include "model.h"

/* Per-image tensors computed once before the first step. */
typedef struct cap_annotations {
    const float *a; /* [L][D] annotation vectors (encoder output), borrowed */
    float *att_a;   /* [L][A] W_a a_i + b_a: the image's half of the attention MLP, owned */
    int L;
} cap_annotations;

/* Scratch and outputs of one step for up to max_beams rows; owned, see cap_decoder_alloc. */
typedef struct cap_decoder_step_buf {
    int max_beams;
    float *att_h;  /* [n][A]   W_h h_{t-1} + b_h */
    float *x;      /* [n][M+D] LSTM input [E y_{t-1}; z_t] */
    float *gates;  /* [n][4H]  */
    float *out;    /* [n][M]   E y_{t-1} + L_h h_t + L_z z_t */
    float *logits; /* [n][V]   output: unnormalised log-probabilities */
    float *alpha;  /* [n][L]   output: attention weights alpha_t (eq. 5) */
    float *beta;   /* [n]      output: gate beta_t (sec. 4.2.1) */
    float *h, *c;  /* [n][H]   output: the new LSTM state */
} cap_decoder_step_buf;

/* Compute att_a for a (L x D, borrowed, must outlive ann) and the initial state h0, c0 ([H]
 * each, caller-allocated): h0 = W_init_h mean_i(a_i) + b. Errors: CAP_ERR_NOMEM. */
cap_status cap_decoder_begin(const cap_model *m, const float *a, cap_annotations *ann, float *h0,
                             float *c0, cap_error *err);
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

#endif
