/* heatmap.h - attention overlay rendering, shared by the SDL viewer and the headless
 * --attention-png figure, so that both show exactly the same pixels for a word.
 *
 * Library-internal (not part of include/caption.h). No SDL, no global state: every function
 * works on caller-owned buffers.
 *
 * Pipeline for one word t of a caption (cap_caption.alpha row t, grid rows x cols):
 *   hm_upsample  alpha_t (rows x cols) -> heat (W x H floats in [0, 1])
 *   hm_blend     heat + photo already scaled to W x H (RGB8) -> overlay, in place
 * hm_render does both. RGB8 buffers are rows of 3-byte R,G,B pixels; `stride` is the byte
 * distance between rows (>= 3 * width), so a sub-rectangle of a larger canvas can be used.
 */
#ifndef CAPTION_HEATMAP_H
#define CAPTION_HEATMAP_H

#include "caption.h"

#include <stddef.h>

/* How the attention map is shown over the photo. */
typedef enum hm_style {
    HM_HEATMAP = 0, /* photo blended with the inferno colour of the heat (see hm_colormap) */
    HM_SPOTLIGHT,   /* photo darkened where heat is low, untouched where heat is 1 */
    HM_OFF,         /* photo alone */
    HM_STYLE_COUNT
} hm_style;

/* Default opacity of the overlay, in (0, 1]. */
#define HM_DEFAULT_OPACITY 0.6f

/* Lower-case constant name of a style ("heatmap", "spotlight", "off"); "?" if out of range. */
const char *hm_style_name(hm_style style);

/*
 * Upsample one attention map to width x height, smoothly: bilinear interpolation between the
 * cell centres (cell (r, c) covers [c*W/cols, (c+1)*W/cols) x [r*H/rows, (r+1)*H/rows) and its
 * value sits at its centre); beyond the outermost centres the value is held constant.
 * The result is stretched from [min(alpha), max(alpha)] to [0, 1]: heat is 1 at the most
 * attended cell's centre and 0 at the least attended one's, whatever alpha's overall spread
 * (show max(alpha) beside it to tell a peaked map from a nearly flat one). A perfectly flat
 * map gives heat 0 everywhere.
 *   alpha: [rows x cols] row-major, cell i = r * cols + c (cap_caption.alpha layout), >= 0.
 *   heat:  [height x width] row-major, caller-allocated, values in [0, 1].
 * Returns 0, or -1 if an argument is invalid (NULL, non-positive size) or memory runs out
 * (heat is then untouched).
 */
int hm_upsample(const float *alpha, int rows, int cols, int width, int height, float *heat);

/*
 * The colour map: matplotlib's "inferno" (perceptually uniform, luminance increasing from
 * black through purple and orange to pale yellow), from its 10 evenly spaced samples
 * #000004 #1B0C42 #4B0C6B #781C6D #A52C60 #CF4446 #ED6925 #FB9A06 #F7D03C #FCFFA4,
 * interpolated linearly. t is clamped to [0, 1]; writes rgb[0..2].
 */
void hm_colormap(float t, unsigned char rgb[3]);

/*
 * Blend heat (as made by hm_upsample, [height x width]) into the RGB8 image in place.
 *   HM_HEATMAP:   out = (1 - opacity) * photo + opacity * inferno(heat)
 *   HM_SPOTLIGHT: out = photo * (1 - opacity * (1 - heat))
 *   HM_OFF:       nothing changes.
 * opacity is clamped to [0, 1]. Values are rounded to the nearest integer.
 */
void hm_blend(unsigned char *rgb, int width, int height, size_t stride, const float *heat,
              hm_style style, float opacity);

/*
 * The whole overlay of one word: copy `photo` (already scaled to the target size) into
 * out (width photo->width, height photo->height, row stride out_stride bytes), then, unless
 * alpha is NULL or style is HM_OFF, upsample alpha (rows x cols) and blend it in.
 * Returns 0, or -1 on an invalid argument or when memory runs out (out may then hold the
 * plain photo).
 */
int hm_render(const cap_image *photo, const float *alpha, int rows, int cols, hm_style style,
              float opacity, unsigned char *out, size_t out_stride);

/* The largest width x height with src's aspect ratio that fits in box_w x box_h (each >= 1
 * when all inputs are >= 1). */
void hm_fit(int src_w, int src_h, int box_w, int box_h, int *width, int *height);

/* Index of the largest of v[0..n-1] (the first one on ties); -1 if n < 1. */
int hm_argmax(const float *v, int n);

#endif
