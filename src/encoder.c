/* encoder.c - MobileNetV2 1.0 forward pass in channel-major (CHW) float32.
 * CHW makes every pointwise convolution a single GEMM, Y[cout][HW] = W[cout][cin] X[cin][HW],
 * which is where almost all of the encoder's FLOPs are. */
#include "encoder.h"
#include "common/clock.h"

#include "error.h"
#include "multiversion.h"

#include <cblas.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

/* The four activation buffers, each sized for the largest tensor of its role (run_blocks):
 * block input and output (they swap): conv0's output, 32 x 112 x 112; the expansion (also
 * conv0's im2col, 27 x 112 x 112, and conv1's output): block 1's, 96 x 112 x 112; the
 * depthwise output: block 2's, 144 x 56 x 56. Output stride 16 only makes the last stage's
 * maps 14x14 (at most 1280 x 14 x 14 = 250,880 floats, conv1's output), far below these.
 * (One size for all four, 96 x 112 x 112, was 19.3 MB of touched memory; this is 9.8 MB.) */
#define MAX_BLOCK_IO (32 * 112 * 112)
#define MAX_EXPANSION (96 * 112 * 112)
#define MAX_DEPTHWISE (144 * 56 * 56)

/* Activations of n images: data [c][n][h][w], channel-major with the n images' planes of a
 * channel side by side, so that a 1x1 convolution over the whole batch is still one GEMM
 * (n h w columns wide) and a depthwise layer still reads one kernel per run of planes. For
 * n = 1 it is plain CHW. */
typedef struct tensor3 {
    float *data;
    int c, n, h, w;
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

/* y[o][i] = act(y[o][i] + b[o] (+ r[o][i] when r is not NULL)). */
CAP_MULTIVERSION
static void bias_act(float *y, const float *b, int c, int hw, int act, const float *r)
{
    for (int o = 0; o < c; o++) {
        float *row = y + (size_t)o * hw;
        const float bo = b[o];
        if (r) {
            const float *rr = r + (size_t)o * hw;
            for (int i = 0; i < hw; i++)
                row[i] = act ? relu6(row[i] + bo + rr[i]) : (row[i] + bo) + rr[i];
        } else if (act) {
            for (int i = 0; i < hw; i++)
                row[i] = relu6(row[i] + bo);
        } else {
            for (int i = 0; i < hw; i++)
                row[i] += bo;
        }
    }
}

/* y = act(W x + b) (+ residual r, same shape as y, when not NULL) for a 1x1 convolution. */
static void pointwise(const cap_conv *cv, const tensor3 *x, tensor3 *y, int act, const float *r)
{
    const int hw = x->n * x->h * x->w;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, cv->cout, hw, cv->cin, 1.0f, cv->w,
                cv->cin, x->data, hw, 0.0f, y->data, hw);
    y->c = cv->cout;
    y->n = x->n;
    y->h = x->h;
    y->w = x->w;
    bias_act(y->data, cv->b, y->c, hw, act, r);
}

/* Quantized weights (the tagger's) are turned into float32 QUANT_ROWS output channels at a
 * time, in a scratch of QUANT_ROWS * QUANT_MAX_K floats: the whole float32 copy would cost the
 * memory that keeping them as uint8 saves. */
#define QUANT_ROWS 64
#define QUANT_MAX_K 1280

/* out [n][k] <- (wq[row0 + i][j] - zero_point) * scale: float32, rounded once, as the model
 * file's reader in Python (tools/captioner/model_file.py, Quantized.dequantized). */
static void dequantize_rows(const cap_conv *cv, int row0, int n, int k, float *out)
{
    const uint8_t *q = cv->wq + (size_t)row0 * k;
    for (size_t i = 0; i < (size_t)n * k; i++)
        out[i] = (float)((int)q[i] - cv->zero_point) * cv->scale;
}

/* pointwise() for a layer with quantized weights; scratch: QUANT_ROWS * QUANT_MAX_K floats. */
static void pointwise_quantized(const cap_conv *cv, const tensor3 *x, tensor3 *y, int act,
                                const float *r, float *scratch)
{
    const int hw = x->n * x->h * x->w;
    for (int r0 = 0; r0 < cv->cout; r0 += QUANT_ROWS) {
        const int n = cv->cout - r0 < QUANT_ROWS ? cv->cout - r0 : QUANT_ROWS;
        dequantize_rows(cv, r0, n, cv->cin, scratch);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, hw, cv->cin, 1.0f, scratch,
                    cv->cin, x->data, hw, 0.0f, y->data + (size_t)r0 * hw, hw);
    }
    y->c = cv->cout;
    y->n = x->n;
    y->h = x->h;
    y->w = x->w;
    bias_act(y->data, cv->b, y->c, hw, act, r);
}

/* The depthwise 3x3 convolution, one channel at a time, without a single bounds check in its
 * loops: the channel is first copied into a zero-padded plane (SAME padding) whose rows are
 * ow + 2 wide, so output (oy, ox) reads plane[q + ky * width + kx] with q = oy * width + ox,
 * and one long unit-stride loop over q computes every output row at once (even 7x7 maps give
 * a 63-long loop that vectorises, instead of rows of 7). The two extra columns per row are
 * computed and dropped when copying out. Stride 2 uses the four polyphase planes (even/odd
 * rows x even/odd columns, each (oh + 1) x (ow + 1)), after which the taps are again unit
 * stride: (2oy + ky, 2ox + kx) is plane[ky & 1][kx & 1] at q + (ky >> 1) * width + (kx >> 1).
 * Scratch: `pad` holds 4 * (oh + 3) * (ow + 2) floats, `acc` oh * (ow + 2). */
CAP_MULTIVERSION
static void depthwise_channel(const float *in, int h, int w, int s, int pt, int pl, const float *k,
                              float bias, const float *in_bias, float *pad, float *acc, float *out,
                              int oh, int ow)
{
    const int wp = ow + 2 - (s == 2), hp = oh + 3 - (s == 2); /* plane width, rows (+1 slack) */
    const size_t plane = (size_t)hp * wp;
    /* Fill: plane (py, px) row r column c = in(s*r + py - pt, s*c + px - pl), 0 outside. */
    for (int py = 0; py < s; py++)
        for (int px = 0; px < s; px++) {
            float *P = pad + (size_t)(py * s + px) * plane;
            for (int r = 0; r < hp; r++) {
                const int iy = s * r + py - pt;
                float *row = P + (size_t)r * wp;
                if (iy < 0 || iy >= h) {
                    memset(row, 0, sizeof(float) * (size_t)wp);
                    continue;
                }
                /* Columns c with 0 <= s*c + px - pl < w come from the image, the rest are 0. */
                const float *src = in + (size_t)iy * w;
                const int off = px - pl; /* column c reads src[s * c + off] */
                int lo = off < 0 ? (-off + s - 1) / s : 0;
                int hi = w - 1 - off >= 0 ? (w - 1 - off) / s + 1 : 0;
                hi = hi < wp ? hi : wp;
                lo = lo < hi ? lo : hi;
                for (int c = 0; c < lo; c++)
                    row[c] = 0.0f;
                if (in_bias) { /* the previous layer's bias and ReLU6, applied on the way */
                    const float ib = *in_bias;
                    for (int c = lo; c < hi; c++)
                        row[c] = relu6(src[s * c + off] + ib);
                } else if (s == 1) {
                    memcpy(row + lo, src + lo + off, sizeof(float) * (size_t)(hi - lo));
                } else {
                    for (int c = lo; c < hi; c++)
                        row[c] = src[2 * c + off];
                }
                for (int c = hi; c < wp; c++)
                    row[c] = 0.0f;
            }
        }
    const int n = oh * wp;
    if (s == 1) {
        const float *P0 = pad, *P1 = pad + wp, *P2 = pad + 2 * wp;
        for (int q = 0; q < n; q++)
            acc[q] = k[0] * P0[q] + k[1] * P0[q + 1] + k[2] * P0[q + 2] + k[3] * P1[q] +
                     k[4] * P1[q + 1] + k[5] * P1[q + 2] + k[6] * P2[q] + k[7] * P2[q + 1] +
                     k[8] * P2[q + 2];
    } else {
        const float *EE = pad, *EO = pad + plane, *OE = pad + 2 * plane, *OO = pad + 3 * plane;
        for (int q = 0; q < n; q++)
            acc[q] = k[0] * EE[q] + k[1] * EO[q] + k[2] * EE[q + 1] + k[3] * OE[q] +
                     k[4] * OO[q] + k[5] * OE[q + 1] + k[6] * EE[q + wp] + k[7] * EO[q + wp] +
                     k[8] * EE[q + wp + 1];
    }
    for (int oy = 0; oy < oh; oy++)
        for (int ox = 0; ox < ow; ox++)
            out[(size_t)oy * ow + ox] = relu6(bias + acc[(size_t)oy * wp + ox]);
}

/* cap_depthwise3x3 on c * n planes [c][n][h][w] (n images, tensor3's layout): plane p uses
 * channel p / n's kernel, bias and x_bias. */
static void depthwise3x3_planes(const float *x, const float *x_bias, int c, int n, int h, int w,
                                int stride, const float *k, const float *b, float *y)
{
    const int s = stride, oh = same_out(h, s), ow = same_out(w, s);
    const int pt = same_pad_before(h, 3, s), pl = same_pad_before(w, 3, s);
    float *pad = malloc(sizeof(float) * (4 * (size_t)(oh + 3) * (ow + 2) + (size_t)oh * (ow + 2)));
    if (!pad) { /* a few hundred KB at most; fall back to the plain loop */
        for (int i = 0; i < n; i++)
            for (int ch = 0; ch < c; ch++) {
                const size_t p = (size_t)ch * n + i;
                cap_depthwise3x3_naive(x + p * h * w, x_bias ? x_bias + ch : NULL, 1, h, w,
                                       stride, k + 9 * ch, b + ch, y + p * oh * ow);
            }
        return;
    }
    float *acc = pad + 4 * (size_t)(oh + 3) * (ow + 2);
    for (size_t p = 0; p < (size_t)c * n; p++) {
        const size_t ch = p / (size_t)n;
        depthwise_channel(x + p * h * w, h, w, s, pt, pl, k + 9 * ch, b[ch],
                          x_bias ? x_bias + ch : NULL, pad, acc, y + p * oh * ow, oh, ow);
    }
    free(pad);
}

void cap_depthwise3x3(const float *x, const float *x_bias, int c, int h, int w, int stride,
                      const float *k, const float *b, float *y)
{
    depthwise3x3_planes(x, x_bias, c, 1, h, w, stride, k, b, y);
}

void cap_depthwise3x3_naive(const float *x, const float *x_bias, int c, int h, int w, int stride,
                            const float *kw, const float *b, float *y)
{
    const int s = stride, oh = same_out(h, s), ow = same_out(w, s);
    const int pt = same_pad_before(h, 3, s), pl = same_pad_before(w, 3, s);
    for (int ch = 0; ch < c; ch++) {
        const float *in = x + (size_t)ch * h * w, *k = kw + 9 * ch;
        float *out = y + (size_t)ch * oh * ow;
        for (int oy = 0; oy < oh; oy++) {
            for (int ox = 0; ox < ow; ox++) {
                float acc = b[ch];
                for (int ky = 0; ky < 3; ky++) {
                    const int iy = oy * s + ky - pt;
                    if (iy < 0 || iy >= h)
                        continue;
                    for (int kx = 0; kx < 3; kx++) {
                        const int ix = ox * s + kx - pl;
                        if (ix >= 0 && ix < w)
                            acc += k[ky * 3 + kx] *
                                   (x_bias ? relu6(in[iy * w + ix] + x_bias[ch]) : in[iy * w + ix]);
                    }
                }
                out[oy * ow + ox] = relu6(acc);
            }
        }
    }
}

/* One channel of cap_depthwise3x3_dilated. Each output row starts at the bias and adds, tap by
 * tap, the row segment of the input that the tap reads inside the image: taps falling into the
 * zero padding are skipped rather than read, so the inner loops are unit-stride with no bounds
 * checks, and every output still sums bias + taps in (ky, kx) order, as a plain loop over the
 * taps would. Its rows are only 14 wide, so it is about 2.5x slower per layer than
 * cap_depthwise3x3's padded planes: a padded-plane version is a known, unclaimed gain for
 * output stride 16 (docs/speed.md). */
CAP_MULTIVERSION
static void dilated_channel(const float *in, const float *in_bias, int h, int w, int d,
                            const float *k, float bias, float *out)
{
    for (int oy = 0; oy < h; oy++) {
        float *row = out + (size_t)oy * w;
        for (int ox = 0; ox < w; ox++)
            row[ox] = bias;
        for (int ky = 0; ky < 3; ky++) {
            const int iy = oy + (ky - 1) * d; /* SAME at stride 1: d rows of padding each side */
            if (iy < 0 || iy >= h)
                continue;
            const float *src = in + (size_t)iy * w;
            for (int kx = 0; kx < 3; kx++) {
                const int off = (kx - 1) * d; /* output column ox reads src[ox + off] */
                const int lo = off < 0 ? -off : 0, hi = off > 0 ? w - off : w;
                const float kv = k[ky * 3 + kx];
                if (in_bias) {
                    const float ib = *in_bias;
                    for (int ox = lo; ox < hi; ox++)
                        row[ox] += kv * relu6(src[ox + off] + ib);
                } else {
                    for (int ox = lo; ox < hi; ox++)
                        row[ox] += kv * src[ox + off];
                }
            }
        }
        for (int ox = 0; ox < w; ox++)
            row[ox] = relu6(row[ox]);
    }
}

void cap_depthwise3x3_dilated(const float *x, const float *x_bias, int c, int h, int w,
                              int dilation, const float *k, const float *b, float *y)
{
    for (int ch = 0; ch < c; ch++)
        dilated_channel(x + (size_t)ch * h * w, x_bias ? x_bias + ch : NULL, h, w, dilation,
                        k + 9 * ch, b[ch], y + (size_t)ch * h * w);
}

/* 3x3 depthwise convolution + ReLU6, SAME padding, on every image of x. A dilated layer has
 * stride 1 (bind_encoder), so its output keeps the input's size. */
static void depthwise(const cap_conv *cv, const tensor3 *x, tensor3 *y)
{
    if (cv->dilation > 1) {
        const size_t plane = (size_t)x->h * x->w;
        for (int ch = 0; ch < x->c; ch++)
            for (int i = 0; i < x->n; i++) {
                const size_t p = (size_t)ch * x->n + i;
                dilated_channel(x->data + p * plane, NULL, x->h, x->w, cv->dilation,
                                cv->w + 9 * ch, cv->b[ch], y->data + p * plane);
            }
    } else {
        depthwise3x3_planes(x->data, NULL, x->c, x->n, x->h, x->w, cv->stride, cv->w, cv->b,
                            y->data);
    }
    y->c = x->c;
    y->n = x->n;
    y->h = same_out(x->h, cv->stride);
    y->w = same_out(x->w, cv->stride);
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
                /* Output columns ox with 0 <= ox*s + kx - pl < w read the image, the rest 0. */
                const int off = kx - pl;
                int lo = off < 0 ? (-off + s - 1) / s : 0;
                int hi = x->w - 1 - off >= 0 ? (x->w - 1 - off) / s + 1 : 0;
                hi = hi < ow ? hi : ow;
                lo = lo < hi ? lo : hi;
                for (int oy = 0; oy < oh; oy++) {
                    const int iy = oy * s + ky - pt;
                    float *r = row + (size_t)oy * ow;
                    if (iy < 0 || iy >= x->h) {
                        memset(r, 0, sizeof(float) * (size_t)ow);
                        continue;
                    }
                    const float *src = x->data + ((size_t)ci * x->h + iy) * x->w;
                    for (int ox = 0; ox < lo; ox++)
                        r[ox] = 0.0f;
                    for (int ox = lo; ox < hi; ox++)
                        r[ox] = src[ox * s + off];
                    for (int ox = hi; ox < ow; ox++)
                        r[ox] = 0.0f;
                }
            }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, cv->cout, hw, K, 1.0f, cv->w, K, cols,
                hw, 0.0f, y->data, hw);
    y->c = cv->cout;
    y->n = 1;
    y->h = oh;
    y->w = ow;
    bias_act(y->data, cv->b, y->c, hw, 1, NULL);
}

void cap_encoder_input(const cap_image *image224, float *x)
{
    const int hw = CAP_ENCODER_INPUT * CAP_ENCODER_INPUT;
    for (int i = 0; i < hw; i++)
        for (int c = 0; c < 3; c++)
            x[(size_t)c * hw + i] = (float)image224->rgb[3 * i + c] / 128.0f - 1.0f;
}

/* Add the time since *t0 and `flops` to stage k of prof (when profiling), restart the clock. */
static void tick(cap_encoder_profile *prof, int k, double flops, double *t0)
{
    if (!prof)
        return;
    const double t = clock_seconds();
    prof->seconds[k] += t - *t0;
    prof->flops[k] += flops;
    *t0 = t;
}

/* A 1x1 convolution with float32 or quantized weights (scratch: see pointwise_quantized). */
static void pointwise_any(const cap_conv *cv, const tensor3 *x, tensor3 *y, int act,
                          const float *r, float *scratch)
{
    if (cv->wq)
        pointwise_quantized(cv, x, y, act, r, scratch);
    else
        pointwise(cv, x, y, act, r);
}

/* A depthwise layer with float32 or quantized weights (c * 9 <= QUANT_ROWS * QUANT_MAX_K). */
static void depthwise_any(const cap_conv *cv, const tensor3 *x, tensor3 *y, float *scratch)
{
    if (!cv->wq) {
        depthwise(cv, x, y);
        return;
    }
    cap_conv plain = *cv;
    dequantize_rows(cv, 0, cv->cout, 9, scratch);
    plain.w = scratch;
    plain.wq = NULL;
    depthwise(&plain, x, y);
}

/* Run blocks[first .. end - 1] on *cur (all its images), which must live in buf[0]; the four
 * rotating buffers are block input, expansion, depthwise output, block output. On return
 * *cur (the last block's output) is again in buf[0]. scratch: for quantized weights
 * (pointwise_quantized), NULL when there are none. */
static void run_blocks(const cap_block *blocks, int first, int end, float *buf[4], tensor3 *cur,
                       float *scratch, cap_encoder_profile *prof, double *t0)
{
    for (int b = first; b < end; b++) {
        const cap_block *blk = &blocks[b];
        tensor3 exp = *cur, dw = {buf[2], 0, 0, 0, 0}, out = {buf[3], 0, 0, 0, 0};
        const double cells = (double)cur->n * cur->h * cur->w;
        if (blk->expand.w || blk->expand.wq) {
            exp.data = buf[1];
            /* (Fusing this bias + ReLU6 into the depthwise layer's read, cap_depthwise3x3's
             * x_bias, measured slower per encoder pass, so it stays a separate step.) */
            pointwise_any(&blk->expand, cur, &exp, 1, NULL, scratch);
            tick(prof, CAP_STAGE_POINTWISE, 2.0 * exp.c * cur->c * cells, t0);
        }
        depthwise_any(&blk->depthwise, &exp, &dw, scratch);
        tick(prof, CAP_STAGE_DEPTHWISE, 2.0 * 9 * dw.c * dw.n * dw.h * dw.w, t0);
        /* The linear bottleneck, with the block input added in the same pass as the bias. */
        pointwise_any(&blk->project, &dw, &out, 0, blk->residual ? cur->data : NULL, scratch);
        tick(prof, CAP_STAGE_POINTWISE, 2.0 * out.c * dw.c * dw.n * dw.h * dw.w, t0);
        /* The block output becomes the next input: swap buffers 0 and 3. */
        float *t = buf[0];
        buf[0] = buf[3];
        buf[3] = t;
        *cur = out;
    }
}

static size_t max_size(size_t a, size_t b)
{
    return a > b ? a : b;
}

/* Floats per image that run_blocks' four buffers need for blocks[first .. end - 1] on an
 * input of c x h x w, followed by `last` (a 1x1 convolution writing into buffer 1) and
 * `pooled` floats in buffer 2: need[0] and need[3] the block inputs and outputs, need[1] the
 * expansions and last's output, need[2] the depthwise outputs. */
static void block_buffer_sizes(const cap_block *blocks, int first, int end, int c, int h, int w,
                               const cap_conv *last, size_t pooled, size_t need[4])
{
    size_t io = (size_t)c * h * w, expansion = 0, depthwise_out = pooled;
    for (int b = first; b < end; b++) {
        const cap_block *blk = &blocks[b];
        const size_t hidden = (size_t)blk->depthwise.cout;
        expansion = max_size(expansion, hidden * h * w);
        h = same_out(h, blk->depthwise.stride);
        w = same_out(w, blk->depthwise.stride);
        depthwise_out = max_size(depthwise_out, hidden * h * w);
        io = max_size(io, (size_t)blk->project.cout * h * w);
    }
    expansion = max_size(expansion, (size_t)last->cout * h * w);
    need[0] = need[3] = io;
    need[1] = expansion;
    need[2] = depthwise_out;
}

/* The tagger branch on the trunk output (all its images): its blocks, conv1 + ReLU6, the
 * global average pool and the classifier: logits [n][n_classes] (tools/captioner/tagger.py,
 * Tagger.forward). */
static cap_status tagger_forward(const cap_tagger_weights *tg, const tensor3 *trunk, float *logits,
                                 cap_encoder_profile *prof, double *t0, cap_error *err)
{
    const int n = trunk->n, classes = tg->classifier.cout;
    size_t need[4];
    block_buffer_sizes(tg->blocks, tg->head_start, CAP_ENCODER_BLOCKS, trunk->c, trunk->h,
                       trunk->w, &tg->conv1, (size_t)tg->conv1.cout, need);
    need[0] = need[3] = max_size(need[0], (size_t)classes); /* the classifier's output */
    const size_t total = (size_t)n * (need[0] + need[1] + need[2] + need[3]);
    const size_t n_scratch = (size_t)QUANT_ROWS * QUANT_MAX_K;
    float *mem = malloc(sizeof(float) * (total + n_scratch));
    if (!mem)
        return cap_fail(err, CAP_ERR_NOMEM, "out of memory for tagger activations");
    float *buf[4], *next = mem;
    for (int k = 0; k < 4; k++) {
        buf[k] = next;
        next += (size_t)n * need[k];
    }
    float *scratch = next;
    memcpy(buf[0], trunk->data, sizeof(float) * (size_t)trunk->c * n * trunk->h * trunk->w);
    tensor3 cur = {buf[0], trunk->c, n, trunk->h, trunk->w};
    run_blocks(tg->blocks, tg->head_start, CAP_ENCODER_BLOCKS, buf, &cur, scratch, prof, t0);
    tensor3 feat = {buf[1], 0, 0, 0, 0};
    pointwise_any(&tg->conv1, &cur, &feat, 1, NULL, scratch);
    tick(prof, CAP_STAGE_POINTWISE, 2.0 * feat.c * cur.c * cur.n * cur.h * cur.w, t0);
    /* The global average pool per image, then the classifier: a 1x1 convolution on n 1x1
     * maps, out [classes][n], transposed into logits [n][classes]. */
    const int hw = feat.h * feat.w;
    tensor3 pooled = {buf[2], feat.c, n, 1, 1}, out = {buf[3], 0, 0, 0, 0};
    for (size_t p = 0; p < (size_t)feat.c * n; p++) {
        float sum = 0.0f;
        for (int i = 0; i < hw; i++)
            sum += feat.data[p * hw + i];
        pooled.data[p] = sum / (float)hw;
    }
    pointwise_any(&tg->classifier, &pooled, &out, 0, NULL, scratch);
    for (int i = 0; i < n; i++)
        for (int k = 0; k < classes; k++)
            logits[(size_t)i * classes + k] = out.data[(size_t)k * n + i];
    tick(prof, CAP_STAGE_POINTWISE, 2.0 * classes * tg->classifier.cin * n, t0);
    free(mem);
    return CAP_OK;
}

/* The encoder's activations, touched once per batch, from malloc (so that, from the second
 * batch on, glibc hands back the same, already mapped memory: its mmap threshold rises after
 * the first free) and, within it, the 2 MB-aligned part marked for huge pages where the
 * kernel offers them (transparent huge pages on madvise): the first image takes a few page
 * faults instead of about 2,400, which on a virtual machine cost more than the zeroing. *raw
 * gets the pointer to free. */
#define HUGE_PAGE ((size_t)2 << 20)
static float *scratch_alloc(size_t bytes, void **raw)
{
    unsigned char *p = malloc(bytes + HUGE_PAGE);
    *raw = p;
    if (!p)
        return NULL;
    unsigned char *aligned = (unsigned char *)(((uintptr_t)p + HUGE_PAGE - 1) & ~(HUGE_PAGE - 1));
#ifdef MADV_HUGEPAGE
    madvise(aligned, bytes / HUGE_PAGE * HUGE_PAGE, MADV_HUGEPAGE); /* a hint only */
#endif
    return (float *)aligned;
}

/* The batched part of the encoder starts at the first block whose input map has at most this
 * many cells (14x14): there a 1x1 convolution of one image is a GEMM only 196 or 49 columns
 * wide, too narrow for the BLAS kernel's blocking; the larger maps before it are wide enough
 * alone, and batching them would multiply their 9.8 MB of activations by the batch. */
#define BATCH_MAX_CELLS 196

/* Where the encoder's input comes from: n images (224x224, converted by cap_encoder_input) or
 * n float tensors [n][3][224][224]. */
typedef struct encoder_source {
    const cap_image *images;
    const float *x;
} encoder_source;

/* conv0 and blocks[0 .. end - 1] on image i of src; on return *cur (in buf[0]) holds the
 * output. buf: the per-image buffers; buf[2] holds the input on the way (conv0 reads it while
 * writing its im2col into buf[1] and its output into buf[0]). */
static void encode_trunk(const cap_encoder_weights *w, const encoder_source *src, int i, int end,
                         float *buf[4], tensor3 *cur, cap_encoder_profile *prof, double *t0)
{
    const size_t in_size = (size_t)3 * CAP_ENCODER_INPUT * CAP_ENCODER_INPUT;
    tensor3 in = {buf[2], 3, 1, CAP_ENCODER_INPUT, CAP_ENCODER_INPUT};
    if (src->images)
        cap_encoder_input(&src->images[i], in.data);
    else
        in.data = (float *)src->x + i * in_size;
    *cur = (tensor3){buf[0], 0, 0, 0, 0};
    conv3x3(&w->conv0, &in, buf[1], cur);
    tick(prof, CAP_STAGE_CONV0, 2.0 * cur->c * cur->h * cur->w * 27, t0);
    run_blocks(w->blocks, 0, end, buf, cur, NULL, prof, t0);
}

/* The first block of the batched part: see BATCH_MAX_CELLS. */
static int batch_start(const cap_encoder_weights *w)
{
    int h = same_out(CAP_ENCODER_INPUT, w->conv0.stride), first = 0;
    while (first < CAP_ENCODER_BLOCKS && h * h > BATCH_MAX_CELLS)
        h = same_out(h, w->blocks[first++].depthwise.stride);
    return first;
}

static cap_status encode(const cap_encoder_weights *w, const cap_tagger_weights *tg, int n,
                         const encoder_source *src, float *a, float *tag_logits,
                         cap_encoder_profile *prof, cap_error *err)
{
    const int tagged = tg && tg->head_start > 0 && tag_logits;
    /* The trunk (conv0 and the blocks before the tagger's) is shared: the tagger branches off
     * at its first block, with the pretrained weights the captioner fine-tuned away. */
    const int split = tagged ? tg->head_start : CAP_ENCODER_BLOCKS;
    const int first = batch_start(w) < split ? batch_start(w) : split;

    /* One image at a time up to block `first`, in the per-image buffers (9.8 MB); then all n
     * at once, in batch buffers laid over the per-image ones where they fit (they are free by
     * then), except the batch's input, which fills image by image beside them. */
    const size_t per_image[4] = {MAX_BLOCK_IO, MAX_EXPANSION, MAX_DEPTHWISE, MAX_BLOCK_IO};
    const size_t per_image_total = 2 * (size_t)MAX_BLOCK_IO + MAX_EXPANSION + MAX_DEPTHWISE;
    int h = same_out(CAP_ENCODER_INPUT, w->conv0.stride);
    for (int b = 0; b < first; b++)
        h = same_out(h, w->blocks[b].depthwise.stride);
    const int c = first == 0 ? w->conv0.cout : w->blocks[first - 1].project.cout;
    size_t need[4];
    block_buffer_sizes(w->blocks, first, CAP_ENCODER_BLOCKS, c, h, h, &w->conv1, 0, need);
    const size_t batch_in = n > 1 ? (size_t)n * need[0] : 0;
    const size_t batch_rest = (size_t)n * (need[1] + need[2] + need[3]);
    void *raw;
    float *mem = scratch_alloc(sizeof(float) * (max_size(per_image_total, batch_rest) + batch_in),
                               &raw);
    if (!mem)
        return cap_fail(err, CAP_ERR_NOMEM, "out of memory for encoder activations");
    double t0 = prof ? clock_seconds() : 0.0;
    float *buf[4], *next = mem;
    for (int k = 0; k < 4; k++) {
        buf[k] = next;
        next += per_image[k];
    }
    float *batch_buf[4] = {mem + max_size(per_image_total, batch_rest), mem, mem + n * need[1],
                           mem + n * (need[1] + need[2])};
    tensor3 cur;
    for (int i = 0; i < n; i++) {
        encode_trunk(w, src, i, first, buf, &cur, prof, &t0);
        if (n == 1) { /* the per-image buffers serve: no copy, the same layout */
            batch_buf[0] = buf[0];
            batch_buf[1] = buf[1];
            batch_buf[2] = buf[2];
            batch_buf[3] = buf[3];
            break;
        }
        const size_t plane = (size_t)cur.h * cur.w;
        for (int ch = 0; ch < cur.c; ch++)
            memcpy(batch_buf[0] + ((size_t)ch * n + i) * plane, cur.data + ch * plane,
                   sizeof(float) * plane);
    }
    cur.data = batch_buf[0];
    cur.n = n;
    run_blocks(w->blocks, first, split, batch_buf, &cur, NULL, prof, &t0);
    if (tagged) {
        cap_status st = tagger_forward(tg, &cur, tag_logits, prof, &t0, err);
        if (st != CAP_OK) {
            free(raw);
            return st;
        }
    }
    run_blocks(w->blocks, split, CAP_ENCODER_BLOCKS, batch_buf, &cur, NULL, prof, &t0);

    tensor3 feat = {batch_buf[1], 0, 0, 0, 0};
    pointwise(&w->conv1, &cur, &feat, 1, NULL);
    tick(prof, CAP_STAGE_POINTWISE, 2.0 * feat.c * cur.c * cur.n * cur.h * cur.w, &t0);
    /* [D][n][L] -> a [n][L][D], writing a's rows in order: writing column by column (stride D
     * floats, 5 KB) was about 4x slower on the 14x14 map. */
    const size_t L = (size_t)feat.h * feat.w, D = (size_t)feat.c;
    for (int i = 0; i < n; i++)
        for (size_t l = 0; l < L; l++)
            for (size_t d = 0; d < D; d++)
                a[((size_t)i * L + l) * D + d] = feat.data[(d * n + i) * L + l];
    free(raw);
    tick(prof, CAP_STAGE_OTHER, 0.0, &t0);
    return CAP_OK;
}

cap_status cap_encoder_forward(const cap_encoder_weights *w, const float *x, float *a,
                               cap_error *err)
{
    return cap_encoder_forward_tagged(w, NULL, x, a, NULL, NULL, err);
}

cap_status cap_encoder_forward_profiled(const cap_encoder_weights *w, const float *x, float *a,
                                        cap_encoder_profile *prof, cap_error *err)
{
    return cap_encoder_forward_tagged(w, NULL, x, a, NULL, prof, err);
}

cap_status cap_encoder_forward_tagged(const cap_encoder_weights *w, const cap_tagger_weights *tg,
                                      const float *x, float *a, float *tag_logits,
                                      cap_encoder_profile *prof, cap_error *err)
{
    const encoder_source src = {NULL, x};
    return encode(w, tg, 1, &src, a, tag_logits, prof, err);
}

cap_status cap_encoder_forward_images(const cap_encoder_weights *w, const cap_tagger_weights *tg,
                                      int n, const cap_image *images224, float *a,
                                      float *tag_logits, cap_encoder_profile *prof,
                                      cap_error *err)
{
    const encoder_source src = {images224, NULL};
    return encode(w, tg, n, &src, a, tag_logits, prof, err);
}
