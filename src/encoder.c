/* encoder.c - MobileNetV2 1.0 forward pass in pixel-major (HWC, channels last) float32.
 * Pixel-major makes every pointwise convolution a single GEMM, Y[P][cout] = X[P][cin] W^T over
 * the P pixels of the map (of every image of a batch, stacked), and lets the depthwise layers
 * run along the channels, 16 at a time, whatever the map's size. */
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

/* The per-image activation buffers of the first blocks (run one image at a time), each
 * sized for the largest tensor of its role (run_blocks): block input and output (they swap):
 * conv0's output, 112 x 112 x 32; the expansion: conv0's im2col, 112 x 112 x 27, or a fused
 * block's tile, or an unfused block's expansion (trunk_expansion_size); the depthwise output
 * (also the encoder's input while conv0 reads it): block 2's, 56 x 56 x 144. Output stride 16
 * only makes the last stage's maps 14x14. (One size for all four, 112 x 112 x 96, was
 * 19.3 MB of touched memory; this is 6.4 MB, the fused blocks' 4.8 MB expansion gone.) */
#define MAX_BLOCK_IO (32 * 112 * 112)
#define MAX_DEPTHWISE (144 * 56 * 56)

/* Activations of n images: data [n][h][w][c], pixel-major, the n maps one after the other,
 * so that a 1x1 convolution over the whole batch is one GEMM over its n h w pixels. */
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

/* y[p][o] = act(y[p][o] + b[o] (+ r[p][o] when r is not NULL)) for p < pixels, o < c. */
CAP_MULTIVERSION
static void bias_act(float *y, const float *b, size_t pixels, int c, int act, const float *r)
{
    for (size_t p = 0; p < pixels; p++) {
        float *row = y + p * c;
        if (r) {
            const float *rr = r + p * c;
            for (int o = 0; o < c; o++)
                row[o] = act ? relu6(row[o] + b[o] + rr[o]) : (row[o] + b[o]) + rr[o];
        } else if (act) {
            for (int o = 0; o < c; o++)
                row[o] = relu6(row[o] + b[o]);
        } else {
            for (int o = 0; o < c; o++)
                row[o] += b[o];
        }
    }
}

static size_t pixels_of(const tensor3 *x)
{
    return (size_t)x->n * x->h * x->w;
}

/* y = act(x W^T + b) (+ residual r, same shape as y, when not NULL) for a 1x1 convolution:
 * W [cout][cin] as PyTorch stores it. */
static void pointwise(const cap_conv *cv, const tensor3 *x, tensor3 *y, int act, const float *r)
{
    const size_t P = pixels_of(x);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)P, cv->cout, cv->cin, 1.0f, x->data,
                cv->cin, cv->w, cv->cin, 0.0f, y->data, cv->cout);
    y->c = cv->cout;
    y->n = x->n;
    y->h = x->h;
    y->w = x->w;
    bias_act(y->data, cv->b, P, y->c, act, r);
}

/* Quantized weights (the tagger's) are turned into float32 QUANT_ROWS output channels at a
 * time, in a scratch of QUANT_ROWS * QUANT_MAX_K floats: the whole float32 copy would cost the
 * memory that keeping them as uint8 saves. */
#define QUANT_ROWS 64
#define QUANT_MAX_K 1280

/* The depthwise layers' tap-major weights (depthwise_any): 2 x 9 x the widest layer. */
#define DEPTHWISE_SCRATCH (2 * 9 * CAP_FEATURE_DIM)

/* out [n][k] <- (wq[row0 + i][j] - zero_point) * scale: float32, rounded once, as the model
 * file's reader in Python (tools/captioner/model_file.py, Quantized.dequantized). */
static void dequantize_rows(const cap_conv *cv, int row0, int n, int k, float *out)
{
    const uint8_t *q = cv->wq + (size_t)row0 * k;
    for (size_t i = 0; i < (size_t)n * k; i++)
        out[i] = (float)((int)q[i] - cv->zero_point) * cv->scale;
}

/* pointwise() for a layer with quantized weights; scratch: QUANT_ROWS * QUANT_MAX_K floats.
 * Each block of output channels is a GEMM into its columns of y (leading dimension cout). */
static void pointwise_quantized(const cap_conv *cv, const tensor3 *x, tensor3 *y, int act,
                                const float *r, float *scratch)
{
    const size_t P = pixels_of(x);
    for (int r0 = 0; r0 < cv->cout; r0 += QUANT_ROWS) {
        const int n = cv->cout - r0 < QUANT_ROWS ? cv->cout - r0 : QUANT_ROWS;
        dequantize_rows(cv, r0, n, cv->cin, scratch);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)P, n, cv->cin, 1.0f, x->data,
                    cv->cin, scratch, cv->cin, 0.0f, y->data + r0, cv->cout);
    }
    y->c = cv->cout;
    y->n = x->n;
    y->h = x->h;
    y->w = x->w;
    bias_act(y->data, cv->b, P, y->c, act, r);
}

/* 16 floats, loaded and stored unaligned: GCC's and Clang's vector extension, compiled to one
 * AVX-512 register, two AVX2 or four SSE registers by CAP_MULTIVERSION's clones. */
typedef float vec16 __attribute__((vector_size(64), aligned(4)));
typedef int32_t ivec16 __attribute__((vector_size(64), aligned(4)));

/* o[0..15] = relu6(v) with compares and masks (the scalar ternaries of a 16-iteration loop
 * stay scalar after GCC unrolls it). A NaN lane gives 0, where relu6() would keep the NaN. */
__attribute__((always_inline)) static inline void store_relu6(float *o, const vec16 *v)
{
    const vec16 zero = {0}, six = zero + 6.0f;
    const vec16 r = (vec16)((ivec16)*v & (*v > zero));
    const ivec16 over = r > six;
    *(vec16 *)o = (vec16)(((ivec16)r & ~over) | ((ivec16)six & over));
}

/* One output pixel of the depthwise convolution, o[ch] = ReLU6(b[ch] + sum_t k_t[ch] in_t[ch])
 * over its nt taps (the taps inside the image; the padding adds nothing): 16 channels at a
 * time in registers, the rest one by one. kt: [9][c] (tap-major). */
__attribute__((always_inline)) /* into each of depthwise_maps' clones, for its vector width */
static inline void depthwise_pixel(const float *const *in, const float *const *k, int nt, int c,
                                   const float *b, float *o)
{
    int c0 = 0;
    for (; c0 + 16 <= c; c0 += 16) {
        vec16 acc = *(const vec16 *)(b + c0);
        for (int t = 0; t < nt; t++)
            acc += *(const vec16 *)(k[t] + c0) * *(const vec16 *)(in[t] + c0);
        store_relu6(o + c0, &acc);
    }
    for (; c0 < c; c0++) {
        float acc = b[c0];
        for (int t = 0; t < nt; t++)
            acc += k[t][c0] * in[t][c0];
        o[c0] = relu6(acc);
    }
}

/* The depthwise convolution of one h x w map, output rows [oy0, oy1) only, into y (output row
 * oy0 first), from the input rows [row0, row0 + nrows) at x (they must hold every row inside
 * the image that those outputs read: a tile of the map, or all of it). kt [9][c] (tap-major).
 * The pixels whose nine taps all fall inside the image take a branch-free path (all but the
 * border); the others list the taps that do. */
CAP_MULTIVERSION
static void depthwise_rows(const float *x, int row0, int h, int w, int c, int s, int d,
                           const float *kt, const float *b, int oy0, int oy1, float *y)
{
    const int ow = same_out(w, s);
    const int pt = same_pad_before(h, 2 * d + 1, s), pl = same_pad_before(w, 2 * d + 1, s);
    const float *ktap[9];
    for (int t = 0; t < 9; t++)
        ktap[t] = kt + (size_t)t * c;
    for (int oy = oy0; oy < oy1; oy++) {
        const float *rows[3];
        int all_rows = 1;
        for (int ky = 0; ky < 3; ky++) {
            const int iy = oy * s + ky * d - pt;
            rows[ky] = iy >= 0 && iy < h ? x + (size_t)(iy - row0) * w * c : NULL;
            all_rows = all_rows && rows[ky];
        }
        float *yrow = y + (size_t)(oy - oy0) * ow * c;
        for (int ox = 0; ox < ow; ox++) {
            const int ix0 = ox * s - pl;
            const float *in[9], *k[9];
            int nt = 0;
            if (all_rows && ix0 >= 0 && ix0 + 2 * d < w) {
                for (int t = 0; t < 9; t++)
                    in[t] = rows[t / 3] + (size_t)(ix0 + (t % 3) * d) * c;
                depthwise_pixel(in, ktap, 9, c, b, yrow + (size_t)ox * c);
                continue;
            }
            for (int t = 0; t < 9; t++) {
                const int ix = ix0 + (t % 3) * d;
                if (rows[t / 3] && ix >= 0 && ix < w) {
                    in[nt] = rows[t / 3] + (size_t)ix * c;
                    k[nt++] = ktap[t];
                }
            }
            depthwise_pixel(in, k, nt, c, b, yrow + (size_t)ox * c);
        }
    }
}

/* The depthwise convolution of n whole maps at x. */
static void depthwise_maps(const float *x, int n, int h, int w, int c, int stride, int dilation,
                           const float *kt, const float *b, float *y)
{
    const int oh = same_out(h, stride), ow = same_out(w, stride);
    for (int i = 0; i < n; i++)
        depthwise_rows(x + (size_t)i * h * w * c, 0, h, w, c, stride, dilation, kt, b, 0, oh,
                       y + (size_t)i * oh * ow * c);
}

/* k [c][3][3] -> kt [9][c]. */
static void taps_major(const float *k, int c, float *kt)
{
    for (int ch = 0; ch < c; ch++)
        for (int t = 0; t < 9; t++)
            kt[(size_t)t * c + ch] = k[(size_t)ch * 9 + t];
}

void cap_depthwise3x3(const float *x, int h, int w, int c, int stride, int dilation,
                      const float *k, const float *b, float *y)
{
    float *kt = malloc(sizeof(float) * 9 * (size_t)c);
    if (!kt) { /* 9 c floats, a few KB; fall back to the plain loop */
        cap_depthwise3x3_naive(x, h, w, c, stride, dilation, k, b, y);
        return;
    }
    taps_major(k, c, kt);
    depthwise_maps(x, 1, h, w, c, stride, dilation, kt, b, y);
    free(kt);
}

void cap_depthwise3x3_naive(const float *x, int h, int w, int c, int stride, int dilation,
                            const float *k, const float *b, float *y)
{
    const int s = stride, d = dilation, oh = same_out(h, s), ow = same_out(w, s);
    const int pt = same_pad_before(h, 2 * d + 1, s), pl = same_pad_before(w, 2 * d + 1, s);
    for (int oy = 0; oy < oh; oy++)
        for (int ox = 0; ox < ow; ox++)
            for (int ch = 0; ch < c; ch++) {
                float acc = b[ch];
                for (int ky = 0; ky < 3; ky++) {
                    const int iy = oy * s + ky * d - pt;
                    if (iy < 0 || iy >= h)
                        continue;
                    for (int kx = 0; kx < 3; kx++) {
                        const int ix = ox * s + kx * d - pl;
                        if (ix >= 0 && ix < w)
                            acc += k[ch * 9 + ky * 3 + kx] * x[((size_t)iy * w + ix) * c + ch];
                    }
                }
                y[((size_t)oy * ow + ox) * c + ch] = relu6(acc);
            }
}

/* 3x3 depthwise convolution + ReLU6, SAME padding, on every image of x; kt: scratch of 9 c
 * floats for the tap-major weights. A dilated layer has stride 1 (bind_encoder). */
static void depthwise(const cap_conv *cv, const tensor3 *x, tensor3 *y, float *kt)
{
    taps_major(cv->w, x->c, kt);
    depthwise_maps(x->data, x->n, x->h, x->w, x->c, cv->stride, cv->dilation, kt, cv->b,
                   y->data);
    y->c = x->c;
    y->n = x->n;
    y->h = same_out(x->h, cv->stride);
    y->w = same_out(x->w, cv->stride);
}

enum { CONV0_BAND = 16 }; /* output rows per im2col band of conv0 */

/* The first, full 3x3 convolution on the CHW input via im2col: cols[p][(ci*3+ky)*3+kx] (the
 * weights' own order) for CONV0_BAND output rows at a time, one GEMM per band. */
static void conv3x3(const cap_conv *cv, const tensor3 *x, float *cols, tensor3 *y)
{
    const int s = cv->stride, oh = same_out(x->h, s), ow = same_out(x->w, s);
    const int pt = same_pad_before(x->h, 3, s), pl = same_pad_before(x->w, 3, s);
    const int K = x->c * 9;
    /* CONV0_BAND output rows at a time, so the im2col buffer is 16 rows' (194 KB), not the
     * whole map's (1.4 MB a worker); each output pixel is the same K-long product either way. */
    for (int oy0 = 0; oy0 < oh; oy0 += CONV0_BAND) {
        const int rows = oh - oy0 < CONV0_BAND ? oh - oy0 : CONV0_BAND;
        for (int oy = oy0; oy < oy0 + rows; oy++)
            for (int ox = 0; ox < ow; ox++) {
                float *col = cols + ((size_t)(oy - oy0) * ow + ox) * K;
                for (int ci = 0; ci < x->c; ci++)
                    for (int ky = 0; ky < 3; ky++) {
                        const int iy = oy * s + ky - pt;
                        for (int kx = 0; kx < 3; kx++) {
                            const int ix = ox * s + kx - pl;
                            col[(ci * 3 + ky) * 3 + kx] =
                                iy >= 0 && iy < x->h && ix >= 0 && ix < x->w
                                    ? x->data[((size_t)ci * x->h + iy) * x->w + ix]
                                    : 0.0f;
                        }
                    }
            }
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows * ow, cv->cout, K, 1.0f, cols,
                    K, cv->w, K, 0.0f, y->data + (size_t)oy0 * ow * cv->cout, cv->cout);
    }
    y->c = cv->cout;
    y->n = 1;
    y->h = oh;
    y->w = ow;
    bias_act(y->data, cv->b, (size_t)oh * ow, y->c, 1, NULL);
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

/* A depthwise layer with float32 or quantized weights; scratch: 2 * 9 c floats. */
static void depthwise_any(const cap_conv *cv, const tensor3 *x, tensor3 *y, float *scratch)
{
    if (!cv->wq) {
        depthwise(cv, x, y, scratch);
        return;
    }
    cap_conv plain = *cv;
    float *w = scratch + 9 * (size_t)cv->cout;
    dequantize_rows(cv, 0, cv->cout, 9, w);
    plain.w = w;
    plain.wq = NULL;
    depthwise(&plain, x, y, scratch);
}

/* A block's expansion and depthwise layers on a map larger than this (the 112x112 and 56x56
 * blocks) run fused, a few output rows at a time: the expansion of the rows that those outputs
 * read (a tile of at most FUSED_TILE floats, 384 KB, which stays in the core's L2 cache), then
 * their depthwise outputs from it. The whole expanded map (4.8 MB for block 1) is never
 * written to and read back from memory. A tile recomputes the two or three input rows it
 * shares with the next (about 20 % more of these blocks' expansion FLOPs). */
#define FUSED_MIN_CELLS (28 * 28)
#define FUSED_TILE (96 * 1024)

static int fused(const cap_block *blk, const tensor3 *x)
{
    /* w is NULL for quantized weights (the tagger's): those blocks run unfused. */
    return x->h * x->w > FUSED_MIN_CELLS && blk->expand.w && blk->depthwise.w &&
           blk->depthwise.dilation == 1;
}

/* Output rows per tile of a fused block: the most whose input rows fit FUSED_TILE, at least 1. */
static int fused_tile_rows(const cap_block *blk, const tensor3 *x)
{
    const int s = blk->depthwise.stride;
    const int fit = FUSED_TILE / (x->w * blk->expand.cout); /* input rows */
    return fit >= 3 + s ? (fit - 3) / s + 1 : 1;
}

/* Floats of a fused block's tile (see FUSED_TILE; more when even one output row's input rows
 * do not fit). */
static size_t fused_tile_size(const cap_block *blk, const tensor3 *x)
{
    const int rows = (fused_tile_rows(blk, x) - 1) * blk->depthwise.stride + 3;
    return (size_t)rows * x->w * blk->expand.cout;
}

/* y = depthwise(ReLU6(expand(x))) for a fused block (see FUSED_MIN_CELLS); tile:
 * fused_tile_size floats; kt: 9 x hidden floats. The same numbers as the two layers one
 * after the other: each expanded pixel is the same dot product, whichever tile computes it. */
static void expand_depthwise_fused(const cap_block *blk, const tensor3 *x, tensor3 *y,
                                   float *tile, float *kt)
{
    const cap_conv *ex = &blk->expand, *dw = &blk->depthwise;
    const int hidden = ex->cout, s = dw->stride, h = x->h, w = x->w;
    const int oh = same_out(h, s), ow = same_out(w, s), pt = same_pad_before(h, 3, s);
    const int T = fused_tile_rows(blk, x);
    taps_major(dw->w, hidden, kt);
    for (int i = 0; i < x->n; i++) {
        const float *xi = x->data + (size_t)i * h * w * ex->cin;
        float *yi = y->data + (size_t)i * oh * ow * hidden;
        for (int oy0 = 0; oy0 < oh; oy0 += T) {
            const int oy1 = oy0 + T < oh ? oy0 + T : oh;
            const int lo = oy0 * s - pt > 0 ? oy0 * s - pt : 0;
            const int hi = (oy1 - 1) * s - pt + 3 < h ? (oy1 - 1) * s - pt + 3 : h;
            /* The input rows [lo, hi) of image i, expanded into the tile. */
            const tensor3 rows = {(float *)xi + (size_t)lo * w * ex->cin, ex->cin, 1, hi - lo, w};
            tensor3 expanded = {tile, 0, 0, 0, 0};
            pointwise(ex, &rows, &expanded, 1, NULL);
            depthwise_rows(tile, lo, h, w, hidden, s, 1, kt, dw->b, oy0, oy1,
                           yi + (size_t)oy0 * ow * hidden);
        }
    }
    y->c = hidden;
    y->n = x->n;
    y->h = oh;
    y->w = ow;
}

/* Run blocks[first .. end - 1] on *cur (all its images), which must live in buf[0]; the four
 * rotating buffers are block input, expansion, depthwise output, block output. On return
 * *cur (the last block's output) is again in buf[0]. scratch: QUANT_ROWS * QUANT_MAX_K
 * floats for quantized weights (pointwise_quantized), else DEPTHWISE_SCRATCH floats (the
 * depthwise layers' tap-major weights). */
static void run_blocks(const cap_block *blocks, int first, int end, float *buf[4], tensor3 *cur,
                       float *scratch, cap_encoder_profile *prof, double *t0)
{
    for (int b = first; b < end; b++) {
        const cap_block *blk = &blocks[b];
        tensor3 exp = *cur, dw = {buf[2], 0, 0, 0, 0}, out = {buf[3], 0, 0, 0, 0};
        const double cells = (double)cur->n * cur->h * cur->w;
        if (fused(blk, cur)) {
            expand_depthwise_fused(blk, cur, &dw, buf[1], scratch);
            tick(prof, CAP_STAGE_FUSED,
                 2.0 * blk->expand.cout * cur->c * cells + 2.0 * 9 * dw.c * dw.n * dw.h * dw.w,
                 t0);
        } else {
            if (blk->expand.w || blk->expand.wq) {
                exp.data = buf[1];
                pointwise_any(&blk->expand, cur, &exp, 1, NULL, scratch);
                tick(prof, CAP_STAGE_POINTWISE, 2.0 * exp.c * cur->c * cells, t0);
            }
            depthwise_any(&blk->depthwise, &exp, &dw, scratch);
            tick(prof, CAP_STAGE_DEPTHWISE, 2.0 * 9 * dw.c * dw.n * dw.h * dw.w, t0);
        }
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
 * input of c x h x w, followed by `last` (a 1x1 convolution writing into buffer 1; NULL for
 * none) and `pooled` floats in buffer 2: need[0] and need[3] the block inputs and outputs,
 * need[1] the expansions and last's output, need[2] the depthwise outputs. */
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
    if (last)
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
     * maps, straight into logits [n][classes]. */
    const size_t hw = (size_t)feat.h * feat.w;
    tensor3 pooled = {buf[2], feat.c, n, 1, 1}, out = {logits, 0, 0, 0, 0};
    for (int i = 0; i < n; i++)
        for (int ch = 0; ch < feat.c; ch++) {
            float sum = 0.0f;
            for (size_t p = 0; p < hw; p++)
                sum += feat.data[((size_t)i * hw + p) * feat.c + ch];
            pooled.data[(size_t)i * feat.c + ch] = sum / (float)hw;
        }
    pointwise_any(&tg->classifier, &pooled, &out, 0, NULL, scratch);
    tick(prof, CAP_STAGE_POINTWISE, 2.0 * classes * tg->classifier.cin * n, t0);
    free(mem);
    return CAP_OK;
}

/* The encoder's activations, touched once per batch, from malloc (so that, from the second
 * batch on, glibc hands back the same, already mapped memory: its mmap threshold rises after
 * the first free), with the 2 MB-aligned whole pages inside it marked for huge pages where the
 * kernel offers them (transparent huge pages on madvise): the first image takes a few page
 * faults instead of about 2,400, which on a virtual machine cost more than the zeroing. No
 * room is added for alignment: such slack ends up holding other allocations, and resident,
 * which cost 4 MB of a folder run's peak RSS (2 MB a worker). */
#define HUGE_PAGE ((size_t)2 << 20)
static float *scratch_alloc(size_t bytes)
{
    unsigned char *p = malloc(bytes);
    if (!p)
        return NULL;
#ifdef MADV_HUGEPAGE
    const uintptr_t start = ((uintptr_t)p + HUGE_PAGE - 1) & ~(HUGE_PAGE - 1),
                    end = (uintptr_t)p + bytes;
    if (end >= start + HUGE_PAGE)
        madvise((void *)start, (end - start) / HUGE_PAGE * HUGE_PAGE, MADV_HUGEPAGE); /* hint */
#endif
    return (float *)p;
}

/* The batched part of the encoder starts at the first block whose input map has at most this
 * many cells (7x7): there a 1x1 convolution of one image is a GEMM only 49 pixels long, too
 * short for the BLAS kernel's blocking (160 -> 200 GFLOP/s from 1 to 4 images); the larger
 * maps before it are long enough alone, and batching them would multiply their activations
 * by the batch (measured no faster for the 14x14 layers: their batch leaves the L2 cache). */
#define BATCH_MAX_CELLS 49

/* Floats of the per-image expansion buffer for conv0 and blocks[0 .. end - 1]: conv0's
 * im2col, each fused block's tile, each other block's expansion. */
static size_t trunk_expansion_size(const cap_encoder_weights *w, int end)
{
    const int side = same_out(CAP_ENCODER_INPUT, w->conv0.stride);
    size_t need = (size_t)(side < CONV0_BAND ? side : CONV0_BAND) * side * w->conv0.cin * 9;
    tensor3 x = {NULL, w->conv0.cout, 1, side, side};
    for (int b = 0; b < end; b++) {
        const cap_block *blk = &w->blocks[b];
        const size_t e = fused(blk, &x) ? fused_tile_size(blk, &x)
                                        : (size_t)blk->depthwise.cout * x.h * x.w;
        need = max_size(need, e);
        x.c = blk->project.cout;
        x.h = same_out(x.h, blk->depthwise.stride);
        x.w = same_out(x.w, blk->depthwise.stride);
    }
    return need;
}

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
                         float *buf[4], float *scratch, tensor3 *cur, cap_encoder_profile *prof,
                         double *t0)
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
    run_blocks(w->blocks, 0, end, buf, cur, scratch, prof, t0);
}

/* The side of block b's (square) input map; b = CAP_ENCODER_BLOCKS: conv1's. */
static int map_side(const cap_encoder_weights *w, int b)
{
    int h = same_out(CAP_ENCODER_INPUT, w->conv0.stride);
    for (int i = 0; i < b; i++)
        h = same_out(h, w->blocks[i].depthwise.stride);
    return h;
}

/* The first block of the batched part: see BATCH_MAX_CELLS. */
static int batch_start(const cap_encoder_weights *w)
{
    int first = 0, side = map_side(w, 0);
    while (first < CAP_ENCODER_BLOCKS && side * side > BATCH_MAX_CELLS)
        side = map_side(w, ++first);
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
    const int start = batch_start(w), first = start < split ? start : split;

    /* One image at a time up to block `first`, in the per-image buffers (6.4 MB); then all n
     * at once, in batch buffers laid over the per-image ones where they fit (they are free by
     * then), except the batch's input, which fills image by image beside them. */
    const size_t per_image[4] = {MAX_BLOCK_IO, trunk_expansion_size(w, first), MAX_DEPTHWISE,
                                 MAX_BLOCK_IO};
    const size_t per_image_total = per_image[0] + per_image[1] + per_image[2] + per_image[3];
    const int h = map_side(w, first);
    const int c = first == 0 ? w->conv0.cout : w->blocks[first - 1].project.cout;
    size_t need[4]; /* conv1 writes a itself: no `last` */
    block_buffer_sizes(w->blocks, first, CAP_ENCODER_BLOCKS, c, h, h, NULL, 0, need);
    const size_t batch_in = n > 1 ? (size_t)n * need[0] : 0;
    const size_t batch_rest = (size_t)n * (need[1] + need[2] + need[3]);
    const size_t activations = max_size(per_image_total, batch_rest) + batch_in;
    float *mem = scratch_alloc(sizeof(float) * (activations + DEPTHWISE_SCRATCH));
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
        encode_trunk(w, src, i, first, buf, mem + activations, &cur, prof, &t0);
        if (n == 1) { /* the per-image buffers serve: no copy, the same layout */
            batch_buf[0] = buf[0];
            batch_buf[1] = buf[1];
            batch_buf[2] = buf[2];
            batch_buf[3] = buf[3];
            break;
        }
        const size_t map = (size_t)cur.h * cur.w * cur.c;
        memcpy(batch_buf[0] + i * map, cur.data, sizeof(float) * map);
    }
    cur.data = batch_buf[0];
    cur.n = n;
    run_blocks(w->blocks, first, split, batch_buf, &cur, mem + activations, prof, &t0);
    if (tagged) {
        cap_status st = tagger_forward(tg, &cur, tag_logits, prof, &t0, err);
        if (st != CAP_OK) {
            free(mem);
            return st;
        }
    }
    run_blocks(w->blocks, split, CAP_ENCODER_BLOCKS, batch_buf, &cur, mem + activations, prof,
               &t0);

    /* conv1's output [n][L][D] is a itself. */
    tensor3 feat = {a, 0, 0, 0, 0};
    pointwise(&w->conv1, &cur, &feat, 1, NULL);
    tick(prof, CAP_STAGE_POINTWISE, 2.0 * feat.c * cur.c * cur.n * cur.h * cur.w, &t0);
    free(mem);
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
