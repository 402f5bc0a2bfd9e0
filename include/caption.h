/*
 * caption.h - public API of libcaption, an image captioner with soft visual attention.
 *
 * Usage (the whole program, with its clean-up on failure: tools/example/example.c; build
 * with `cc example.c $(pkg-config --cflags --libs caption)`):
 *
 *     cap_model *model;
 *     cap_image image;
 *     cap_result result;
 *     cap_error err;
 *     const cap_options options = cap_options_default();
 *     if (cap_model_load("caption-flickr8k.bin", &model, &err) != CAP_OK ||
 *         cap_image_load_file("photo.jpg", &image, &err) != CAP_OK ||
 *         cap_caption_image(model, &image, &options, &result, &err) != CAP_OK) {
 *         fprintf(stderr, "caption: %s\n", err.message);
 *         return 1;
 *     }
 *     char text[512];
 *     cap_caption_text(model, &result.captions[0], text, sizeof text);  // best caption
 *     cap_result_free(&result);
 *     cap_image_free(&image);
 *     cap_model_free(model);
 *
 * Model: Xu et al. 2015, "Show, Attend and Tell: Neural Image Caption Generation with
 * Visual Attention" (arXiv:1502.03044), soft ("deterministic") attention, section 4.2.
 * Encoder: MobileNetV2 (Sandler et al. 2018) up to its last 1x1 convolution, giving a
 * feature map of L = rows x cols annotation vectors a_i of dimension D = 1280: 7 x 7 for
 * output stride 32 (the shipped model), 14 x 14 for a model file with output stride 16;
 * cap_model_grid says which.
 *
 * Data flows one way:
 *   file -> cap_image (RGB8) -> 224x224 squash -> encoder -> a (L x D)
 *        -> decoder steps (alpha_t, beta_t, logits) -> beam search -> cap_result.
 *
 * Conventions used by every function here:
 *   - Functions that can fail return a cap_status; CAP_OK (0) means success.
 *   - Every `cap_error *err` argument may be NULL. When it is not NULL and the call fails,
 *     err->status is set to the returned status and err->message to a one-line, human
 *     readable reason without the file name (callers prefix the name themselves, e.g.
 *     "caption: photo.jpg: not a JPEG or PNG file").
 *   - Objects are owned by the caller once returned and released with their *_free function.
 *     *_free functions accept NULL / zeroed objects.
 *   - No function keeps or changes global state (no constructor, no environment variable
 *     is read or written); a loaded cap_model is immutable and may be shared by any number
 *     of threads, each captioning its own images. The BLAS library's own settings (threads,
 *     kernels) are the calling program's to choose.
 *   - Only the functions declared here are exported by the shared library.
 */
#ifndef CAPTION_H
#define CAPTION_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CAP_VERSION_STRING "0.1.0"

/* Marks the exported functions: libcaption is built with hidden visibility by default
 * (CAP_BUILD defined), so nothing but this header's functions is part of its ABI. */
#if defined(CAP_BUILD) && defined(__GNUC__)
#define CAP_API __attribute__((visibility("default")))
#else
#define CAP_API
#endif

/* ---------------------------------------------------------------- errors -- */

typedef enum cap_status {
    CAP_OK = 0,
    CAP_ERR_IO,        /* the file cannot be opened or read (missing, permission, I/O error) */
    CAP_ERR_FORMAT,    /* the bytes are not a supported image, or the image data is corrupt/truncated */
    CAP_ERR_TOO_LARGE, /* the image exceeds CAP_IMAGE_MAX_PIXELS or CAP_IMAGE_MAX_SIDE */
    CAP_ERR_MODEL,     /* the model file is not a valid model of this format version */
    CAP_ERR_NOMEM,     /* an allocation failed */
    CAP_ERR_ARG        /* an argument is out of range (NULL image, beam size < 1, ...) */
} cap_status;

typedef struct cap_error {
    cap_status status;
    char message[256];
} cap_error;

/* Short constant description of a status ("I/O error", "bad image", ...). Never NULL. */
CAP_API const char *cap_status_string(cap_status status);

/* ---------------------------------------------------------------- images -- */

/* Decoded images larger than this are rejected before their pixels are allocated. */
#define CAP_IMAGE_MAX_PIXELS (100L * 1000L * 1000L)
#define CAP_IMAGE_MAX_SIDE 65535

/* An 8-bit RGB image: `rgb` holds height rows of width pixels, each pixel 3 bytes R,G,B,
 * no row padding (stride = 3 * width). Owned by whoever loaded it; free with cap_image_free. */
typedef struct cap_image {
    int width;
    int height;
    unsigned char *rgb;
} cap_image;

/*
 * Decode a JPEG (libjpeg-turbo) or PNG (libpng) file into RGB8. The format is chosen by the
 * file's first bytes, not its name. Every input colour type becomes RGB:
 *   JPEG: grayscale, YCbCr, CMYK and YCCK; a valid EXIF orientation tag is applied so the
 *         image is upright. The pixels equal those of Pillow's
 *         ImageOps.exif_transpose(Image.open(path)).convert("RGB"), the preprocessing of
 *         the training images and of the PyTorch reference, so their captions agree.
 *   PNG:  grayscale, palette, 16-bit (scaled to 8 bits with rounding: v8 = round(v16*255/65535)),
 *         and alpha (tRNS or an alpha channel) composited over white:
 *         out = (a*c + (255-a)*255 + 127) / 255 in integer arithmetic.
 * Errors: CAP_ERR_IO (cannot open/read), CAP_ERR_FORMAT (empty, unknown signature, corrupt
 * or truncated data), CAP_ERR_TOO_LARGE (see limits above), CAP_ERR_NOMEM, CAP_ERR_ARG
 * (NULL). On failure *out is zeroed.
 */
CAP_API cap_status cap_image_load_file(const char *path, cap_image *out, cap_error *err);

/* Same as cap_image_load_file on an in-memory copy of a file's bytes (not retained). */
CAP_API cap_status cap_image_load_memory(const void *data, size_t size, cap_image *out,
                                         cap_error *err);

/*
 * Resample src to width x height ignoring the aspect ratio ("squash"), with the separable
 * bilinear (triangle) filter of Pillow's Image.resize(..., Image.BILINEAR): when shrinking,
 * the filter support widens by the scale factor, so it antialiases like an area filter.
 * This is the geometry of the Flickr8k training images (already 224x224, squashed); a
 * same-size resize returns an exact copy. Result pixels equal Pillow's within +-1.
 * Errors: CAP_ERR_ARG (NULL, non-positive size), CAP_ERR_NOMEM.
 */
CAP_API cap_status cap_image_resize(const cap_image *src, int width, int height,
                                    cap_image *out, cap_error *err);

/* Release the pixels and zero the struct. Accepts NULL and zeroed images. */
CAP_API void cap_image_free(cap_image *img);

/* ----------------------------------------------------------------- model -- */

typedef struct cap_model cap_model;

/*
 * Map a model file (format: models/README.md, "File format") read-only with mmap and check
 * it: magic, format version, header size, every tensor's name, dtype, shape and byte range
 * against the file size, the vocabulary's bounds, and that every tensor the encoder and
 * decoder need is present with the expected shape.
 * Errors: CAP_ERR_IO (cannot open/map), CAP_ERR_MODEL (anything malformed; the message says
 * what), CAP_ERR_NOMEM. On failure *out is NULL.
 */
CAP_API cap_status cap_model_load(const char *path, cap_model **out, cap_error *err);

/* Unmap and free. Accepts NULL. */
CAP_API void cap_model_free(cap_model *model);

/*
 * Map every page of the model file into this process now (Linux's MADV_POPULATE_READ; where
 * that is missing, one read per page), instead of one page fault per 64 KB when the encoder
 * and decoder first read their weights. Optional, and only worth it from a spare thread while
 * another captions: a single photo's first pass otherwise spends about a fifth of its time in
 * those faults (docs/speed.md). Safe to call while the model is in use; it only reads.
 * Returns 0, or -1 when the kernel refused (nothing is changed then).
 */
CAP_API int cap_model_prefetch(const cap_model *model);

/* Vocabulary size V (number of words, including the special tokens). */
CAP_API int cap_model_vocab_size(const cap_model *model);

/* The word of token id `token` (0 <= token < V), or NULL if out of range. Owned by the model. */
CAP_API const char *cap_model_word(const cap_model *model, int token);

/* Attention grid of the encoder at 224x224 input: rows x cols = L; 7 x 7 (output stride 32,
 * the shipped model) or 14 x 14 (output stride 16), as stored in the model file. */
CAP_API void cap_model_grid(const cap_model *model, int *rows, int *cols);

/* Side of the square image the encoder takes (224): cap_caption_image squashes every image
 * to side x side with cap_image_resize. A caller that squashes first (cap_image_resize(img,
 * side, side, ...)) gets the same results, since resizing to the same size is the identity,
 * and can free the full-size image before captioning: what the CLI's folder mode does to hold
 * 150 KB per queued photo instead of the decoded original. */
CAP_API int cap_model_input_size(const cap_model *model);

/* Number of classes the model's tagger tells apart (1,000 ImageNet classes in a version-2
 * file), 0 when the model has no tagger (a version-1 file): then results carry no tags. */
CAP_API int cap_model_tag_classes(const cap_model *model);

/* ------------------------------------------------------------- captioning -- */

typedef struct cap_options {
    int beam_size; /* >= 1; 1 is greedy decoding. Default 3. */
    int max_len;   /* >= 1; decoding steps at most, <end> included: a finished caption has
                      at most max_len - 1 words, one cut at max_len (finished = 0) has
                      max_len words. Default 20. */
    float length_penalty; /* >= 0 (finite). Finished captions are ranked by
                             logprob / (n_tokens + 1)^length_penalty, the +1 counting <end>
                             (the length normalisation of Wu et al. 2016, eq. 14, without its
                             +5 offset). 0 ranks by logprob alone; larger values favour longer
                             captions. The search itself (which extensions survive) still uses
                             the plain logprob. Default 0.7. */
    int no_repeat_ngram;  /* 0 = off, else >= 2: a word that would complete an n-gram (of n
                             words) that the caption already holds is never chosen, e.g. with
                             2 "a man riding a bike on a bike" cannot be produced. Default 2. */
    int max_tags;         /* 0..CAP_MAX_TAGS: how many tags (cap_result.tags) to report. 0 does
                             not run the tagger at all: no tags and no constraint, the plain
                             search (and the speed) of a model without a tagger. Default 5. */
    float tag_threshold;  /* The caption must name the tagger's most probable word when that
                             word's probability (summed over the classes it names) is >= this
                             (constrained beam search, see cap_caption_image); > 1 never
                             constrains, tags are still reported. Finite, >= 0. Default
                             CAP_DEFAULT_TAG_THRESHOLD, chosen on dev data (models/README.md). */
} cap_options;

#define CAP_MAX_TAGS 20
#define CAP_DEFAULT_TAG_THRESHOLD 0.5f

/* The defaults: beam_size 3, max_len 20, length_penalty 0.7, no_repeat_ngram 2, max_tags 5,
 * tag_threshold CAP_DEFAULT_TAG_THRESHOLD, chosen on dev data (models/README.md). */
CAP_API cap_options cap_options_default(void);

/* One caption (one beam hypothesis). */
typedef struct cap_caption {
    int n_tokens;     /* number of words, <end> excluded */
    int *tokens;      /* [n_tokens] token ids */
    float logprob;    /* sum of log p(word) over the words and the final <end> if reached */
    int finished;     /* 1 if the hypothesis ended with <end>, 0 if cut at max_len */
    float *word_prob; /* [n_tokens] p(word_t | ...) of each chosen word */
    float *alpha;     /* [n_tokens x L] attention weights alpha_t (row t sums to 1), row-major,
                         grid cell i = row * cols + col (eq. 5 of Xu et al.) */
    float *beta;      /* [n_tokens] gating scalar beta_t in (0, 1) (section 4.2.1) */
} cap_caption;

/* One tag: an ImageNet class the tagger (the pretrained MobileNetV2 classifier) sees. */
typedef struct cap_tag {
    int class_index;   /* ImageNet class 0..999 (the tagger's output row - 1) */
    const char *label; /* its ImageNet label ("tabby, tabby cat"), owned by the model */
    const char *word;  /* the word a caption uses for it ("cat"), owned by the model; NULL when
                          the class is never put into a caption (worn things, scenes,
                          ambiguous names: tools/captioner/class_words.py) */
    float prob;        /* softmax probability over the tagger's 1,001 outputs */
} cap_tag;

/* The n-best list of one image, best first: finished captions by decreasing
 * logprob / (n_tokens + 1)^length_penalty, then unfinished ones by decreasing logprob. */
typedef struct cap_result {
    int n_captions;
    cap_caption *captions;
    int grid_rows, grid_cols; /* L = grid_rows * grid_cols */
    int n_tags;        /* min(max_tags, classes); 0 when the model has no tagger (a version-1
                          file) or max_tags is 0 */
    cap_tag *tags;     /* [n_tags] by decreasing prob (ties: lower class first) */
    int forced_word;   /* token id of the word (singular) every returned caption contains (it
                          or its plural), or -1 when the search was not constrained */
    float forced_prob; /* the forced word's probability (its classes' summed prob), else 0 */
} cap_result;

/*
 * Caption one image of any size: squash to 224x224 (cap_image_resize), run the encoder,
 * then beam search over decoder steps. If no hypothesis reaches <end> within max_len words,
 * the best unfinished hypothesis is returned (finished = 0), so n_captions >= 1 on success.
 *
 * Tags (a version-2 model file with a tagger, max_tags > 0): the tagger runs on the encoder's
 * shared trunk and gives the ImageNet classes' probabilities; the max_tags best are returned.
 * A word's probability is the sum over the classes it names ("cat": tabby, tiger cat, ...).
 * When the most probable word's is >= tag_threshold and the plain search's best caption does
 * not already name it (or its plural), the search is constrained
 * (Anderson et al. 2017, "Guided Open Vocabulary Image Captioning with Constrained Beam
 * Search", with one disjunctive constraint {word, its plural}): two beams of beam_size run
 * in lockstep, one for hypotheses without the word, one for those with it; the n-best list is
 * the second beam's, and "a"/"an" before the word agrees with it. When that beam finishes no
 * caption within max_len, the result is the unconstrained search's (forced_word = -1).
 * Without a confident tag the captions are exactly those of the plain search.
 *
 * Thread-safe for a shared model. *out must be released with cap_result_free.
 * Errors: CAP_ERR_ARG (NULL, beam_size < 1, max_len < 1, length_penalty < 0 or not finite,
 * no_repeat_ngram < 0 or 1, max_tags outside 0..CAP_MAX_TAGS, tag_threshold < 0 or not
 * finite, empty image), CAP_ERR_NOMEM.
 */
CAP_API cap_status cap_caption_image(const cap_model *model, const cap_image *image,
                                     const cap_options *options, cap_result *out,
                                     cap_error *err);

/*
 * Caption n images at once, a lockstep batch: out[i] is what cap_caption_image gives for
 * images[i] alone (the same captions and tokens, tags and forced word; the word
 * probabilities, alpha_t, beta_t, tag probabilities and logprob within float rounding), only
 * faster per image. The encoder runs each image alone over its larger maps, then all n
 * together over the 7x7 ones (each 1x1 convolution one GEMM over the batch, the
 * tagger's weights dequantized once per batch), and the decoder's per-image products of the
 * feature maps are one GEMM for the batch; OpenBLAS may round these wider GEMMs otherwise
 * than one image's (up to about 1e-5 in a logprob with its Haswell kernels; with its AVX-512
 * kernels only the tag probabilities, in the 4th digit; tests/test_caption_batch.c). Then
 * one beam search runs for the whole batch: at every step,
 * each live hypothesis of each image is one row of the same decoder step (attention, LSTM
 * and output layer as matrix products over all rows), so the decoder's weight matrices (about
 * 15 MB for the shipped model, which one image's 3 beams would read for 3 rows) are read once
 * per step for the batch; an image whose search is done leaves the step's rows. The images
 * whose caption must name a forced word and does not (see cap_caption_image) then get their
 * constrained searches, again in lockstep with each other.
 *
 * images: [n] (n >= 1), borrowed. out: [n], caller-allocated; on success each out[i] must be
 * released with cap_result_free; on failure all are zeroed. Memory besides the results, for
 * the shipped 7x7 model: the encoder's 6.4 MB for one image, plus about 1.5 MB per image while
 * the batch is encoded (its squashed image, its late activations, the tagger's, its feature
 * map; past 8 images the encoder's batch buffers no longer fit the 6.4 MB and add 0.7 MB per
 * image more), then 0.6 MB per image for the search (the decoder's products of its feature
 * map), so a batch of 16 adds about 30 MB at its peak.
 * Thread-safe for a shared model.
 * Errors: CAP_ERR_ARG (NULL, n < 1, an empty image: "image I of the batch is empty", or the
 * options, as cap_caption_image), CAP_ERR_NOMEM. One bad image fails the call: check images
 * (cap_image_load_file) before batching them.
 */
CAP_API cap_status cap_caption_images(const cap_model *model, int n, const cap_image *images,
                                      const cap_options *options, cap_result *out,
                                      cap_error *err);

/* Join the words of a caption with single spaces into buf (always NUL-terminated when
 * size > 0). Returns the length the full string needs, excluding the NUL, like snprintf. */
CAP_API size_t cap_caption_text(const cap_model *model, const cap_caption *caption,
                                char *buf, size_t size);

/* Release a result and zero it. Accepts NULL and zeroed results. */
CAP_API void cap_result_free(cap_result *result);

#ifdef __cplusplus
}
#endif

#endif /* CAPTION_H */
