/* encoder.h - MobileNetV2 forward pass to the feature map: 7x7x1280 at output stride 32, or
 * 14x14x1280 at output stride 16 (dilated last stage) (tools/mobilenet_v2.py). */
#ifndef CAPTION_ENCODER_H
#define CAPTION_ENCODER_H

#include "caption.h"
#include "model.h"

#define CAP_ENCODER_INPUT 224
#define CAP_FEATURE_DIM 1280

/* The encoder's input tensor from a 224x224 RGB8 image: x[c][y][x] = pixel / 128 - 1, i.e. the
 * TFLite model's input quantization (scale 1/128, zero point 128). x holds 3*224*224 floats. */
void cap_encoder_input(const cap_image *image224, float *x);

/*
 * Run the encoder on x (CHW, 3 x 224 x 224, from cap_encoder_input) and write the annotation
 * vectors a [L][D] row-major, D = 1280, L = S * S cells in row-major grid order
 * (i = row * S + col), S = 224 / output stride of the weights: 7 (L = 49) for stride 32, 14
 * (L = 196) for stride 16 (cap_model_config.grid_rows/grid_cols give S). Exactly PyTorch's
 * feature.flatten(2).transpose(1, 2).
 * Convolutions use TensorFlow 'SAME' padding (extra row/column at the bottom/right), ReLU6 as
 * in Sandler et al. 2018; the activations are pixel-major (HWC), so each pointwise
 * convolution is one sgemm (OpenBLAS) and the last one writes a directly.
 * Errors: CAP_ERR_NOMEM (scratch buffers, about 6.4 MB).
 */
cap_status cap_encoder_forward(const cap_encoder_weights *w, const float *x, float *a,
                               cap_error *err);

/* Where the encoder's time goes, for tools/bench.py (tests/bench_stages.c). */
enum {
    CAP_STAGE_CONV0,
    CAP_STAGE_POINTWISE, /* the 1x1 convolutions run alone */
    CAP_STAGE_DEPTHWISE, /* the depthwise 3x3 layers run alone */
    CAP_STAGE_FUSED,     /* the large maps' blocks: expansion and depthwise, fused (encoder.c) */
    CAP_STAGE_OTHER,
    CAP_STAGES
};
typedef struct cap_encoder_profile {
    double seconds[CAP_STAGES]; /* accumulated wall time per kind of layer */
    double flops[CAP_STAGES];   /* accumulated floating-point operations (2 per multiply-add) */
} cap_encoder_profile;

/* cap_encoder_forward, adding each layer's time and FLOPs to *prof (zero it first). */
cap_status cap_encoder_forward_profiled(const cap_encoder_weights *w, const float *x, float *a,
                                        cap_encoder_profile *prof, cap_error *err);

/*
 * cap_encoder_forward, and when tg has a tagger (tg->head_start > 0) and tag_logits is not
 * NULL, the tagger on the way: it takes the output of encoder block head_start - 1 (the
 * shared trunk) through its own blocks at output stride 32, conv1 + ReLU6, the global
 * average pool and the classifier, writing tag_logits [tg->classifier.cout] (the logits of
 * tools/captioner/tagger.py's Tagger.forward; softmax them for probabilities). prof may be
 * NULL; the tagger's layers count in its stages. Errors: CAP_ERR_NOMEM.
 */
cap_status cap_encoder_forward_tagged(const cap_encoder_weights *w, const cap_tagger_weights *tg,
                                      const float *x, float *a, float *tag_logits,
                                      cap_encoder_profile *prof, cap_error *err);

/*
 * cap_encoder_forward_tagged for n images at once (a lockstep batch): images224 [n], each
 * 224 x 224 (cap_image_resize), converted by cap_encoder_input; a [n][L][D] (image i's map
 * at a + i L D), tag_logits [n][tg->classifier.cout] or NULL. Each image runs alone up to the
 * first block whose input map is 7x7 (or the tagger's first block, if earlier); from there
 * the n images run together, a 1x1 convolution being one GEMM over n x 49 pixels instead of
 * n GEMMs of 49, and the tagger's quantized weights being dequantized once per batch instead
 * of once per image. For n = 1 the results are cap_encoder_forward_tagged's bit for bit; for n > 1
 * they equal each image's alone within float rounding (the BLAS kernel may block a wider GEMM
 * differently; equal bit for bit with OpenBLAS's AVX-512 kernels on these shapes, up to a
 * few 1e-6 with its Haswell kernels: docs/speed.md). Memory: the per-image 6.4 MB, plus about
 * 0.8 MB per image of the batch (7x7 grid, laid over the 6.4 MB up to 8 images; about 1.7 MB
 * on the 14x14 grid), plus the tagger's 0.5 MB per image. prof may be NULL. Errors: CAP_ERR_NOMEM.
 */
cap_status cap_encoder_forward_images(const cap_encoder_weights *w, const cap_tagger_weights *tg,
                                      int n, const cap_image *images224, float *a,
                                      float *tag_logits, cap_encoder_profile *prof,
                                      cap_error *err);

/*
 * Depthwise 3x3 convolution + bias + ReLU6 on x [h][w][c] (HWC, pixel-major, the encoder's
 * layout), stride 1 or 2, dilation d >= 1 (taps d pixels apart; only with stride 1 in the
 * encoder: its last stage at output stride 16), weights k [c][3][3] (PyTorch's layout),
 * bias b [c]; writes y [ceil(h/s)][ceil(w/s)][c]:
 *   y[oy][ox][ch] = ReLU6(b[ch] + sum_{ky,kx} k[ch][ky][kx] x[oy s + ky d - pt][ox s + kx d - pl][ch])
 * with x = 0 outside the image and TF 'SAME' padding for the effective kernel 2d + 1
 * (pt = floor(total / 2), total = (ceil(h/s) - 1) s + 2d + 1 - h; likewise pl).
 * cap_depthwise3x3 is the fast kernel (16 channels at a time in vector registers, a
 * branch-free path for the pixels whose taps are all inside the image);
 * cap_depthwise3x3_naive the plain loop it is tested against (tests/test_kernels.c).
 */
void cap_depthwise3x3(const float *x, int h, int w, int c, int stride, int dilation,
                      const float *k, const float *b, float *y);
void cap_depthwise3x3_naive(const float *x, int h, int w, int c, int stride, int dilation,
                            const float *k, const float *b, float *y);

#endif
