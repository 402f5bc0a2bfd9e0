/* resize.c - Pillow-exact bilinear resampling of RGB8 images (Image.resize(..., BILINEAR)).
 * The training images were squashed to 224x224 by a Pillow-like resampler, and the PyTorch
 * reference uses Pillow itself, so matching its integer arithmetic byte for byte keeps the C
 * encoder's input identical to the reference's. */
#include "error.h"
#include "image_internal.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Pillow's 8-bit resampler: weights in fixed point with 22 fractional bits, accumulated
 * from a half-unit bias and truncated, with an 8-bit image between the two passes.
 * Doing the same integer arithmetic gives Pillow's exact bytes, not just +-1. */
#define RESAMPLE_BITS 22

typedef struct resample_axis {
    int taps;        /* stride of weight: the most taps any output sample uses */
    int *first;      /* [out] first input sample of each output sample */
    int *count;      /* [out] number of input samples it uses */
    int32_t *weight; /* [out * taps] */
} resample_axis;

static void axis_free(resample_axis *axis)
{
    free(axis->first);
    free(axis->count);
    free(axis->weight);
}

static double triangle(double x)
{
    x = x < 0 ? -x : x;
    return x < 1.0 ? 1.0 - x : 0.0;
}

/* One output sample's weights, normalised in double then rounded to fixed point. */
static void axis_sample(resample_axis *axis, int i, int in_size, double scale, double support)
{
    /* Multiplying by the reciprocal, as Pillow does, keeps the weights bit-identical. */
    double center = (i + 0.5) * scale, inv_scale = 1.0 / support;
    int lo = (int)(center - support + 0.5), hi = (int)(center + support + 0.5);
    int32_t *w = axis->weight + (size_t)i * axis->taps;
    double total = 0.0;

    lo = lo < 0 ? 0 : lo;
    hi = hi > in_size ? in_size : hi;
    for (int x = lo; x < hi; x++)
        total += triangle((x - center + 0.5) * inv_scale);
    if (total == 0.0)
        total = 1.0;
    for (int x = lo; x < hi; x++)
        w[x - lo] = (int32_t)(0.5 + triangle((x - center + 0.5) * inv_scale) / total *
                                        (1 << RESAMPLE_BITS));
    axis->first[i] = lo;
    axis->count[i] = hi - lo;
}

static cap_status axis_init(resample_axis *axis, int in_size, int out_size, cap_error *err)
{
    /* Pillow's box end is a float; sizes below 2^24 convert exactly, so scale matches. */
    double scale = (double)(float)in_size / out_size;
    double support = scale < 1.0 ? 1.0 : scale; /* triangle support 1, widened to antialias */

    memset(axis, 0, sizeof *axis);
    axis->taps = (int)ceil(support) * 2 + 1;
    axis->first = malloc(sizeof *axis->first * out_size);
    axis->count = malloc(sizeof *axis->count * out_size);
    axis->weight = calloc((size_t)out_size * axis->taps, sizeof *axis->weight);
    if (!axis->first || !axis->count || !axis->weight) {
        axis_free(axis);
        return cap_fail(err, CAP_ERR_NOMEM, "out of memory for resize weights");
    }
    for (int i = 0; i < out_size; i++)
        axis_sample(axis, i, in_size, scale, support);
    return CAP_OK;
}

/* Walks `lines` independent lines of RGB samples. Strides are in bytes: `step` between
 * consecutive samples along the line being resampled, `line` between lines. */
typedef struct resample_layout {
    int lines;
    size_t src_step, src_line, dst_step, dst_line;
} resample_layout;

static unsigned char clip8(int32_t acc)
{
    acc >>= RESAMPLE_BITS;
    return (unsigned char)(acc < 0 ? 0 : acc > 255 ? 255 : acc);
}

static void resample_pass(const unsigned char *src, unsigned char *dst, int out_size,
                          const resample_axis *axis, resample_layout l)
{
    for (int line = 0; line < l.lines; line++) {
        for (int i = 0; i < out_size; i++) {
            const int32_t *w = axis->weight + (size_t)i * axis->taps;
            const unsigned char *s = src + line * l.src_line + axis->first[i] * l.src_step;
            unsigned char *d = dst + line * l.dst_line + i * l.dst_step;
            int32_t acc[3] = {1 << (RESAMPLE_BITS - 1), 1 << (RESAMPLE_BITS - 1),
                              1 << (RESAMPLE_BITS - 1)};
            for (int t = 0; t < axis->count[i]; t++, s += l.src_step)
                for (int c = 0; c < 3; c++)
                    acc[c] += s[c] * w[t];
            for (int c = 0; c < 3; c++)
                d[c] = clip8(acc[c]);
        }
    }
}

/* One pass along an axis of n_in -> n_out samples, strides as in l. */
static cap_status resize_pass(const cap_image *src, cap_image *dst, int n_in, int n_out,
                              resample_layout l, cap_error *err)
{
    resample_axis axis;
    cap_status status = axis_init(&axis, n_in, n_out, err);

    if (status == CAP_OK)
        resample_pass(src->rgb, dst->rgb, n_out, &axis, l);
    axis_free(&axis);
    return status;
}

static cap_status resize_horizontal(const cap_image *src, cap_image *dst, cap_error *err)
{
    resample_layout l = {src->height, 3, (size_t)src->width * 3, 3, (size_t)dst->width * 3};
    return resize_pass(src, dst, src->width, dst->width, l, err);
}

static cap_status resize_vertical(const cap_image *src, cap_image *dst, cap_error *err)
{
    resample_layout l = {src->width, (size_t)src->width * 3, 3, (size_t)dst->width * 3, 3};
    return resize_pass(src, dst, src->height, dst->height, l, err);
}

/* Both passes, horizontal first as in Pillow (the order changes the rounding). */
static cap_status resize_both(const cap_image *src, cap_image *out, cap_error *err)
{
    cap_image tmp = {0};
    cap_status status = cap_image_alloc(&tmp, out->width, src->height, err);

    if (status == CAP_OK)
        status = resize_horizontal(src, &tmp, err);
    if (status == CAP_OK)
        status = resize_vertical(&tmp, out, err);
    cap_image_free(&tmp);
    return status;
}

cap_status cap_image_resize(const cap_image *src, int width, int height, cap_image *out,
                            cap_error *err)
{
    cap_status status;

    if (out)
        memset(out, 0, sizeof *out);
    if (!src || !out || !src->rgb || src->width <= 0 || src->height <= 0)
        return cap_fail(err, CAP_ERR_ARG, "null or empty image");
    if (width <= 0 || height <= 0)
        return cap_fail(err, CAP_ERR_ARG, "invalid target size %dx%d", width, height);
    if ((size_t)width * (size_t)height > SIZE_MAX / 3)
        return cap_fail(err, CAP_ERR_NOMEM, "target size %dx%d is too large", width, height);

    status = cap_image_alloc(out, width, height, err);
    if (status != CAP_OK)
        return status;
    /* Like Pillow, skip a pass whose size does not change: it would be the identity. */
    if (width == src->width && height == src->height)
        memcpy(out->rgb, src->rgb, (size_t)width * height * 3);
    else if (height == src->height)
        status = resize_horizontal(src, out, err);
    else if (width == src->width)
        status = resize_vertical(src, out, err);
    else
        status = resize_both(src, out, err);
    if (status != CAP_OK)
        cap_image_free(out);
    return status;
}
