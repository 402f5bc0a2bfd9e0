/* decoder.c - the soft-attention LSTM decoder step. Each stage is one or two GEMMs over the
 * n beams at once (rows = beams), so beam search costs about as much as greedy per step. */
#include "decoder.h"

#include "error.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static inline float sigmoidf(float v)
{
    return 1.0f / (1.0f + expf(-v));
}

/* Y[n][out] = X[n][in] W^T (+ Y if accumulate), W row-major [out][in] as torch.nn.Linear. */
static void linear(const float *X, int n, int in, const float *W, int out, float *Y,
                   int accumulate)
{
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, out, in, 1.0f, X, in, W, in,
                accumulate ? 1.0f : 0.0f, Y, out);
}

static void add_bias(float *Y, int n, int out, const float *b)
{
    for (int r = 0; r < n; r++)
        for (int j = 0; j < out; j++)
            Y[(size_t)r * out + j] += b[j];
}

cap_status cap_decoder_begin(const cap_model *m, const float *a, cap_annotations *ann, float *h0,
                             float *c0, cap_error *err)
{
    const cap_model_config *cf = &m->config;
    const cap_decoder_weights *w = &m->decoder;
    const int L = cf->grid_rows * cf->grid_cols, D = cf->feature_dim, A = cf->attention_dim,
              H = cf->hidden_dim;
    ann->a = a;
    ann->L = L;
    ann->att_a = malloc(sizeof(float) * (size_t)L * A);
    float *mean = calloc((size_t)D, sizeof(float));
    if (!ann->att_a || !mean) {
        free(mean);
        cap_annotations_free(ann);
        return cap_fail(err, CAP_ERR_NOMEM, "out of memory in decoder");
    }
    linear(a, L, D, w->att_feature_w, A, ann->att_a, 0);
    add_bias(ann->att_a, L, A, w->att_feature_b);
    for (int i = 0; i < L; i++)
        for (int d = 0; d < D; d++)
            mean[d] += a[(size_t)i * D + d];
    for (int d = 0; d < D; d++)
        mean[d] /= (float)L;
    linear(mean, 1, D, w->init_h_w, H, h0, 0);
    add_bias(h0, 1, H, w->init_h_b);
    linear(mean, 1, D, w->init_c_w, H, c0, 0);
    add_bias(c0, 1, H, w->init_c_b);
    free(mean);
    return CAP_OK;
}

void cap_annotations_free(cap_annotations *ann)
{
    free(ann->att_a);
    ann->att_a = NULL;
}

cap_status cap_decoder_alloc(const cap_model *m, int max_beams, cap_decoder_step_buf *buf,
                             cap_error *err)
{
    const cap_model_config *cf = &m->config;
    const size_t n = (size_t)max_beams, L = (size_t)cf->grid_rows * cf->grid_cols,
                 D = (size_t)cf->feature_dim, M = (size_t)cf->embed_dim,
                 A = (size_t)cf->attention_dim, H = (size_t)cf->hidden_dim,
                 V = (size_t)cf->vocab_size;
    memset(buf, 0, sizeof *buf);
    buf->max_beams = max_beams;
    buf->att_h = malloc(sizeof(float) * n * A);
    buf->x = malloc(sizeof(float) * n * (M + D));
    buf->gates = malloc(sizeof(float) * n * 4 * H);
    buf->out = malloc(sizeof(float) * n * M);
    buf->logits = malloc(sizeof(float) * n * V);
    buf->alpha = malloc(sizeof(float) * n * L);
    buf->beta = malloc(sizeof(float) * n);
    buf->h = malloc(sizeof(float) * n * H);
    buf->c = malloc(sizeof(float) * n * H);
    if (!buf->att_h || !buf->x || !buf->gates || !buf->out || !buf->logits || !buf->alpha ||
        !buf->beta || !buf->h || !buf->c) {
        cap_decoder_free(buf);
        return cap_fail(err, CAP_ERR_NOMEM, "out of memory in decoder");
    }
    return CAP_OK;
}

void cap_decoder_free(cap_decoder_step_buf *buf)
{
    free(buf->att_h);
    free(buf->x);
    free(buf->gates);
    free(buf->out);
    free(buf->logits);
    free(buf->alpha);
    free(buf->beta);
    free(buf->h);
    free(buf->c);
    memset(buf, 0, sizeof *buf);
}

/* Eqs. (4)-(6): alpha_t = softmax_i(w_e^T tanh(att_a_i + W_h h + b_h) + b_e), beta_t, and
 * z_t = beta_t * sum_i alpha_ti a_i written into x[b][M:M+D]. */
static void attend(const cap_model *m, const cap_annotations *ann, int n, const float *h_prev,
                   cap_decoder_step_buf *buf)
{
    const cap_decoder_weights *w = &m->decoder;
    const int L = ann->L, D = m->config.feature_dim, A = m->config.attention_dim,
              H = m->config.hidden_dim, M = m->config.embed_dim;
    linear(h_prev, n, H, w->att_hidden_w, A, buf->att_h, 0);
    add_bias(buf->att_h, n, A, w->att_hidden_b);
    for (int b = 0; b < n; b++) {
        const float *ah = buf->att_h + (size_t)b * A;
        float *alpha = buf->alpha + (size_t)b * L, emax = -INFINITY, sum = 0.0f;
        for (int i = 0; i < L; i++) {
            const float *aa = ann->att_a + (size_t)i * A;
            float e = w->att_score_b[0];
            for (int j = 0; j < A; j++)
                e += w->att_score_w[j] * tanhf(aa[j] + ah[j]);
            alpha[i] = e;
            emax = e > emax ? e : emax;
        }
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
    }
    /* z = alpha a for all beams in one GEMM, then scaled by beta. */
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, D, L, 1.0f, buf->alpha, L, ann->a,
                D, 0.0f, buf->x + M, M + D);
    for (int b = 0; b < n; b++)
        cblas_sscal(D, buf->beta[b], buf->x + (size_t)b * (M + D) + M, 1);
}

void cap_decoder_step(const cap_model *m, const cap_annotations *ann, int n, const int *prev,
                      const float *h_prev, const float *c_prev, cap_decoder_step_buf *buf)
{
    const cap_decoder_weights *w = &m->decoder;
    const int D = m->config.feature_dim, M = m->config.embed_dim, H = m->config.hidden_dim,
              V = m->config.vocab_size;
    for (int b = 0; b < n; b++)
        memcpy(buf->x + (size_t)b * (M + D), w->embedding + (size_t)prev[b] * M,
               sizeof(float) * (size_t)M);
    attend(m, ann, n, h_prev, buf);

    /* Eqs. (1)-(3): gates = W_x [E y; z] + b_x + W_hh h + b_hh, PyTorch order i, f, g, o. */
    linear(buf->x, n, M + D, w->lstm_w_ih, 4 * H, buf->gates, 0);
    linear(h_prev, n, H, w->lstm_w_hh, 4 * H, buf->gates, 1);
    add_bias(buf->gates, n, 4 * H, w->lstm_b_ih);
    add_bias(buf->gates, n, 4 * H, w->lstm_b_hh);
    for (int b = 0; b < n; b++) {
        const float *g = buf->gates + (size_t)b * 4 * H;
        const float *cp = c_prev + (size_t)b * H;
        float *hb = buf->h + (size_t)b * H, *cb = buf->c + (size_t)b * H;
        for (int j = 0; j < H; j++) {
            const float i = sigmoidf(g[j]), f = sigmoidf(g[H + j]), gg = tanhf(g[2 * H + j]),
                        o = sigmoidf(g[3 * H + j]);
            cb[j] = f * cp[j] + i * gg;
            hb[j] = o * tanhf(cb[j]);
        }
    }

    /* Eq. (7), deep output: logits = L_o (E y + L_h h_t + L_z z_t) + b_o. */
    for (int b = 0; b < n; b++)
        memcpy(buf->out + (size_t)b * M, buf->x + (size_t)b * (M + D), sizeof(float) * (size_t)M);
    linear(buf->h, n, H, w->out_hidden_w, M, buf->out, 1);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, M, D, 1.0f, buf->x + M, M + D,
                w->out_context_w, D, 1.0f, buf->out, M);
    linear(buf->out, n, M, w->out_logits_w, V, buf->logits, 0);
    add_bias(buf->logits, n, V, w->out_logits_b);
}
