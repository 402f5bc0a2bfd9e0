/* encoder.h - MobileNetV2 forward pass to the 7x7x1280 feature map (tools/mobilenet_v2.py). */
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
 * vectors a [L][D] row-major, L = 49 cells in row-major grid order (i = row * 7 + col),
 * D = 1280: exactly PyTorch's feature.flatten(2).transpose(1, 2).
 * Convolutions use TensorFlow 'SAME' padding (extra row/column at the bottom/right), ReLU6 as
 * in Sandler et al. 2018; pointwise convolutions are one sgemm each (OpenBLAS).
 * Errors: CAP_ERR_NOMEM (scratch buffers, about 20 MB).
 */
cap_status cap_encoder_forward(const cap_encoder_weights *w, const float *x, float *a,
                               cap_error *err);

#endif
