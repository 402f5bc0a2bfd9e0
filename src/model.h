/* model.h - the mmap'ed model file: header, tensor lookup, and the weights of the encoder
 * and decoder as typed views into the mapping. Format: models/README.md ("File format"). */
#ifndef CAPTION_MODEL_H
#define CAPTION_MODEL_H

#include "caption.h"

#include <stddef.h>
#include <stdint.h>

#define CAP_MODEL_MAGIC "CAPTMODL"
#define CAP_MODEL_VERSION 2 /* the newest version this program reads; it reads 1 too */
#define CAP_ENCODER_BLOCKS 17 /* inverted residual blocks of MobileNetV2 1.0 */

/* A convolution with BatchNorm folded in. Layouts (row-major, PyTorch order):
 *   full 3x3:  w [cout][cin][3][3]       pointwise 1x1: w [cout][cin]
 *   depthwise: w [c][3][3]               bias [cout]
 * dilation > 1 (only depthwise, only with stride 1) spaces the taps `dilation` pixels apart:
 * the output-stride-16 encoder's last stage. */
typedef struct cap_conv {
    const float *w;
    const float *b;
    int cin, cout, stride, dilation;
    /* Quantized weights (the tagger's, dtype 2 in the file): w is NULL and the weights are
     * (wq[i] - zero_point) * scale, in the same layout. Only pointwise and depthwise layers. */
    const uint8_t *wq;
    float scale;
    int zero_point;
} cap_conv;

/* One MobileNetV2 inverted residual block (Sandler et al. 2018, Table 1):
 * expand 1x1 + ReLU6 (absent when the expansion factor is 1), depthwise 3x3 + ReLU6,
 * project 1x1 (linear bottleneck), + input when stride 1 and cin == cout. */
typedef struct cap_block {
    cap_conv expand; /* expand.w == expand.wq == NULL when absent */
    cap_conv depthwise;
    cap_conv project;
    int residual;
} cap_block;

typedef struct cap_encoder_weights {
    cap_conv conv0; /* 3x3 stride 2, 3 -> 32, ReLU6 */
    cap_block blocks[CAP_ENCODER_BLOCKS];
    cap_conv conv1; /* 1x1, 320 -> 1280, ReLU6: the feature map */
} cap_encoder_weights;

/* The tagger (version-2 files): the pretrained classifier's own blocks after the shared trunk,
 * at output stride 32, then conv1 + ReLU6, global average pool, 1x1 classifier (no activation).
 * Only blocks[head_start .. CAP_ENCODER_BLOCKS - 1] are bound. */
typedef struct cap_tagger_weights {
    int head_start; /* 0 = no tagger; else its input is the output of encoder block head_start-1 */
    cap_block blocks[CAP_ENCODER_BLOCKS];
    cap_conv conv1;      /* 1x1, 320 -> 1280, ReLU6 */
    cap_conv classifier; /* 1x1, 1280 -> n_classes */
} cap_tagger_weights;

/* One tagger output (row 0 is "background", row k ImageNet class k - 1). */
typedef struct cap_class {
    int word, plural;  /* token ids of its caption word form, singular and plural; -1 = none */
    int general, general_plural; /* the back-off word up WordNet ("insect" for a dragonfly),
                                    singular and plural; -1 = none */
    const char *label; /* NUL-terminated, in the mapping */
} cap_class;

/* Decoder parameters; names follow tools/decoder_model.py and Xu et al. 2015.
 * Every matrix is row-major [rows][cols] as in torch.nn.Linear (y = W x + b). */
typedef struct cap_decoder_weights {
    const float *embedding;                       /* E      [V][M]    */
    const float *att_feature_w, *att_feature_b;   /* W_a    [A][D], [A] */
    const float *att_hidden_w, *att_hidden_b;     /* W_h    [A][H], [A] */
    const float *att_score_w, *att_score_b;       /* w_e    [1][A], [1] */
    const float *beta_gate_w, *beta_gate_b;       /* w_b    [1][H], [1] */
    const float *init_h_w, *init_h_b;             /*        [H][D], [H] */
    const float *init_c_w, *init_c_b;             /*        [H][D], [H] */
    const float *lstm_w_ih, *lstm_b_ih;           /* W_x    [4H][M+D], [4H]; gates i,f,g,o */
    const float *lstm_w_hh, *lstm_b_hh;           /* W_hh   [4H][H], [4H] */
    const float *out_hidden_w;                    /* L_h    [M][H]    */
    const float *out_context_w;                   /* L_z    [M][D]    */
    const float *out_logits_w, *out_logits_b;     /* L_o    [V][M], [V] */
} cap_decoder_weights;

typedef struct cap_model_config {
    int vocab_size;    /* V */
    int feature_dim;   /* D */
    int grid_rows, grid_cols; /* L = rows * cols */
    int input_size;    /* encoder input side (224) */
    int embed_dim;     /* M */
    int attention_dim; /* A */
    int hidden_dim;    /* H */
    int token_pad, token_start, token_end, token_unk;
    int output_stride; /* encoder input side / grid side: 32 (7x7), or 16 (14x14: block 13's
                          depthwise at stride 1, blocks 14-16 dilated by 2); header offset
                          100, where 0 means 32 */
    int base_vocab_size; /* V0 <= V: tokens >= V0 were added for the tagger's classes (their
                            rows copied from a trained word), candidates only when forced */
} cap_model_config;

struct cap_model {
    void *map;
    size_t map_size;
    cap_model_config config;
    const char **words; /* [V] pointers into the mapping */
    cap_encoder_weights encoder;
    cap_decoder_weights decoder;
    cap_tagger_weights tagger;
    int n_classes;      /* tagger outputs; 0 without a tagger */
    cap_class *classes; /* [n_classes], owned */
    int token_a, token_an; /* the articles' token ids, -1 when absent (a/an agreement) */
    /* W_x[:, :M] E y of each word once computed (word_gates.h): owned, filled by decoder
     * steps, thread-safe; NULL when it could not be allocated (every row is then computed). */
    struct cap_word_gates *word_gates;
};

#endif
