/* encoder.c - MobileNetV2 1.0 forward pass in channel-major (CHW) float32.
 * CHW makes every pointwise convolution a single GEMM, Y[cout][HW] = W[cout][cin] X[cin][HW],
 * which is where almost all of the encoder's FLOPs are. */
#include "encoder.h"

#include "error.h"

#include <cblas.h>
#include <stdlib.h>
#include <string.h>

/* Activation buffers big enough for the largest tensor: block 1's expansion,
 * 96 channels x 112 x 112. */
#define MAX_ACTIVATION (96 * 112 * 112)

typedef struct tensor3 {
    float *data;
    int c, h, w;
} tensor3;

static inline float relu6(float v)
{
    return v < 0.0f ? 0.0f : (v > 6.0f ? 6.0f : v);
}

/* TF 'SAME': output = ceil(in / stride); the padding before is floor(total / 2). */
static int same_out(int in, int stride)
{
    return (in + stride - 1) / stride;
}

static int same_pad_before(int in, int k, int stride)
{
    int total = (same_out(in, stride) - 1) * stride + k - in;
    return total > 0 ? total / 2 : 0;
}

static void bias_act(float *y, const float *b, int c, int hw, int act)
{
    for (int o = 0; o < c; o++) {
        float *row = y + (size_t)o * hw;
        for (int i = 0; i < hw; i++)
            row[i] = act ? relu6(row[i] + b[o]) : row[i] + b[o];
    }
}

/* y = act(W x + b) for a 1x1 convolution. */
static void pointwise(const cap_conv *cv, const tensor3 *x, tensor3 *y, int act)
{
    const int hw = x->h * x->w;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, cv->cout, hw, cv->cin, 1.0f, cv->w,
                cv->cin, x->data, hw, 0.0f, y->data, hw);
    y->c = cv->cout;
    y->h = x->h;
    y->w = x->w;
    bias_act(y->data, cv->b, y->c, hw, act);
}

/* 3x3 depthwise convolution + ReLU6, SAME padding. */
static void depthwise(const cap_conv *cv, const tensor3 *x, tensor3 *y)
{
    const int s = cv->stride, oh = same_out(x->h, s), ow = same_out(x->w, s);
    const int pt = same_pad_before(x->h, 3, s), pl = same_pad_before(x->w, 3, s);
    for (int c = 0; c < x->c; c++) {
        const float *in = x->data + (size_t)c * x->h * x->w, *k = cv->w + 9 * c;
        float *out = y->data + (size_t)c * oh * ow;
        for (int oy = 0; oy < oh; oy++) {
            for (int ox = 0; ox < ow; ox++) {
                float acc = cv->b[c];
                for (int ky = 0; ky < 3; ky++) {
                    const int iy = oy * s + ky - pt;
                    if (iy < 0 || iy >= x->h)
                        continue;
                    for (int kx = 0; kx < 3; kx++) {
                        const int ix = ox * s + kx - pl;
                        if (ix >= 0 && ix < x->w)
                            acc += k[ky * 3 + kx] * in[iy * x->w + ix];
                    }
                }
                out[oy * ow + ox] = relu6(acc);
            }
        }
    }
    y->c = x->c;
    y->h = oh;
    y->w = ow;
}

/* The first, full 3x3 convolution via im2col: cols[(ci*3+ky)*3+kx][HW] then one GEMM. */
static void conv3x3(const cap_conv *cv, const tensor3 *x, float *cols, tensor3 *y)
{
    const int s = cv->stride, oh = same_out(x->h, s), ow = same_out(x->w, s);
    const int pt = same_pad_before(x->h, 3, s), pl = same_pad_before(x->w, 3, s);
    const int hw = oh * ow, K = x->c * 9;
    for (int ci = 0; ci < x->c; ci++)
        for (int ky = 0; ky < 3; ky++)
            for (int kx = 0; kx < 3; kx++) {
                float *row = cols + (size_t)((ci * 3 + ky) * 3 + kx) * hw;
                for (int oy = 0; oy < oh; oy++) {
                    const int iy = oy * s + ky - pt;
                    for (int ox = 0; ox < ow; ox++) {
                        const int ix = ox * s + kx - pl;
                        const int inside = iy >= 0 && iy < x->h && ix >= 0 && ix < x->w;
                        row[oy * ow + ox] =
                            inside ? x->data[((size_t)ci * x->h + iy) * x->w + ix] : 0.0f;
                    }
                }
            }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, cv->cout, hw, K, 1.0f, cv->w, K, cols,
                hw, 0.0f, y->data, hw);
    y->c = cv->cout;
    y->h = oh;
    y->w = ow;
    bias_act(y->data, cv->b, y->c, hw, 1);
}

void cap_encoder_input(const cap_image *image224, float *x)
{
    const int hw = CAP_ENCODER_INPUT * CAP_ENCODER_INPUT;
    for (int i = 0; i < hw; i++)
        for (int c = 0; c < 3; c++)
            x[(size_t)c * hw + i] = (float)image224->rgb[3 * i + c] / 128.0f - 1.0f;
}

cap_status cap_encoder_forward(const cap_encoder_weights *w, const float *x, float *a,
                               cap_error *err)
{
    /* Four rotating buffers: block input, expansion, depthwise output, block output. */
    float *mem = malloc(sizeof(float) * 4 * (size_t)MAX_ACTIVATION);
    if (!mem)
        return cap_fail(err, CAP_ERR_NOMEM, "out of memory for encoder activations");
    float *buf[4] = {mem, mem + MAX_ACTIVATION, mem + 2 * MAX_ACTIVATION, mem + 3 * MAX_ACTIVATION};
    tensor3 in = {(float *)x, 3, CAP_ENCODER_INPUT, CAP_ENCODER_INPUT};
    tensor3 cur = {buf[0], 0, 0, 0};
    conv3x3(&w->conv0, &in, buf[1], &cur);

    for (int b = 0; b < CAP_ENCODER_BLOCKS; b++) {
        const cap_block *blk = &w->blocks[b];
        tensor3 exp = cur, dw = {buf[2], 0, 0, 0}, out = {buf[3], 0, 0, 0};
        if (blk->expand.w) {
            exp.data = buf[1];
            pointwise(&blk->expand, &cur, &exp, 1);
        }
        depthwise(&blk->depthwise, &exp, &dw);
        pointwise(&blk->project, &dw, &out, 0);
        if (blk->residual) {
            const size_t n = (size_t)out.c * out.h * out.w;
            for (size_t i = 0; i < n; i++)
                out.data[i] += cur.data[i];
        }
        /* The block output becomes the next input: swap buffers 0 and 3. */
        float *t = buf[0];
        buf[0] = buf[3];
        buf[3] = t;
        cur = out;
    }

    tensor3 feat = {buf[1], 0, 0, 0};
    pointwise(&w->conv1, &cur, &feat, 1);
    const int L = feat.h * feat.w;
    for (int d = 0; d < feat.c; d++)
        for (int i = 0; i < L; i++)
            a[(size_t)i * feat.c + d] = feat.data[(size_t)d * L + i];
    free(mem);
    return CAP_OK;
}
