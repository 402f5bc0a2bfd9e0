/* viewer.h - entry points of `caption --view` and `caption --attention-png` for the CLI.
 *
 * Both return process exit codes in the CLI's convention (0 ok, 1 an image, the font, the
 * window or the output file failed) and print failures as one line
 * "caption: WHAT: reason" on stderr; nothing is printed on stdout.
 *
 * caption_attention_png is always built (libpng + FreeType, no display needed).
 * caption_view needs the meson feature `viewer` (SDL2 + SDL2_ttf); without it, it prints
 * that the viewer is not built and returns 1, and caption_view_available() returns 0.
 */
#ifndef CAPTION_VIEWER_H
#define CAPTION_VIEWER_H

#include "caption.h"

/* Captions one image with cap_caption_image's contract (view_options.caption_fn). */
typedef cap_status (*view_caption_fn)(const cap_model *model, const cap_image *image,
                                      const cap_options *options, cap_result *out,
                                      cap_error *err);

typedef struct view_options {
    /* Scripted mode (for tests and docs) when screenshot is not NULL: open the window on
     * the first path, wait for its caption, show it at `step`, save the window as a PNG to
     * `screenshot` and return without waiting for input. */
    const char *screenshot;
    /* The word shown first: the state after `step` words, i.e. word `step` (1-based) is
     * highlighted and its attention drawn; 0 is the photo alone, no word highlighted.
     * Values past the last word show the last word. Default 1. */
    int step;
    int width, height;   /* initial window size in pixels; default 1024 x 768 */
    int overlay;         /* initial hm_style (0 heatmap, 1 spotlight, 2 off); default 0 */
    float opacity;       /* initial overlay opacity in (0, 1]; default HM_DEFAULT_OPACITY */
    int caption_index;   /* initial n-best caption (0 = best); clamped; default 0 */
    const char *font_path; /* NULL: text_default_font_path() ($CAPTION_FONT, installed,
                              source tree's assets/fonts/DejaVuSans.ttf) */
    /* Scripted mode only (tests, docs): after going to `step`, replay these
     * space-separated inputs in order, each once the image on screen is captioned, then
     * take the screenshot. Tokens: an SDL key name ("Right", "Tab", "Shift+Tab", "O",
     * "+", "H", "N", "S", ...), "click:X,Y" (left click at window pixel X,Y), "drop:PATH"
     * (a file dropped on the window), "wait:MS" (let MS milliseconds pass, e.g. after
     * "P"). NULL or "" for none. An unknown token makes caption_view return 2. */
    const char *keys;
    /* Tests only: captions each image instead of cap_caption_image, with its contract (e.g.
     * cap_caption_image, then tags that a model without a tagger cannot give, so that the
     * tag line can be checked with any model). NULL: cap_caption_image. */
    view_caption_fn caption_fn;
} view_options;

/* The defaults documented above. */
view_options view_options_default(void);

/* 1 if this build has the SDL viewer, else 0. */
int caption_view_available(void);

/*
 * Open the attention viewer on n_paths >= 1 image files (regular files; the caller expands
 * folders). The model must stay loaded until the call returns; it is shared with a worker
 * thread that captions images with *opt while the window stays responsive. vo may be NULL
 * (defaults). Returns 0 when the user quits (or, in scripted mode, when the screenshot is
 * written), 1 if the window, the font or (scripted mode) the first image or the screenshot
 * failed, 2 for invalid arguments (n_paths < 1, NULL model/opt/paths).
 */
int caption_view(const cap_model *model, const cap_options *opt, const char *const *paths,
                 int n_paths, const view_options *vo);

/*
 * Caption image_path with *opt and write its attention figure (render/figure.h: the photo,
 * then one tile per word of the best caption with its heatmap and the word as a label, and
 * the tags under the caption when the model gives tags) to out_png.
 * Needs no display. Returns 0, or 1 if the image, the font or the output failed.
 */
int caption_attention_png(const cap_model *model, const cap_options *opt,
                          const char *image_path, const char *out_png);

/* The same with vo->caption_fn (tests); vo may be NULL. */
int caption_attention_png_with(const cap_model *model, const cap_options *opt,
                               const char *image_path, const char *out_png,
                               const view_options *vo);

/*
 * Where the viewer draws the photo in a window of win_w x win_h pixels for a photo of
 * img_w x img_h: the photo fitted with its aspect ratio into the area above the caption
 * panel, centred. Writes the rectangle's top-left (*x, *y) and size (*w, *h). A pure
 * function, used by the viewer and by tests that inspect screenshots.
 */
void caption_view_photo_rect(int win_w, int win_h, int img_w, int img_h, int *x, int *y, int *w,
                             int *h);

#endif
