/* figure.h - the headless attention figure of `caption --attention-png` (library-internal).
 *
 * Layout (all sizes in pixels, white background):
 *
 *   +------------------------------------------------------------+
 *   | caption text (up to 2 lines, 20 px)                        |  header_h
 *   | tags: the tag line (render/tag_line.h; only with tags)     |
 *   | file name, beam, log p, overlay note (13 px, grey)         |
 *   +------------------------------------------------------------+
 *   | [photo]  [word 1]  [word 2]  ...           cols tiles/row  |  tile_h
 *   |  label    label     label                                  |  label_h
 *   | [word k] ...                                               |
 *   +------------------------------------------------------------+
 *
 * Tile 0 is the photo alone; tile t (1..n_words) is the photo with word t's attention map
 * drawn by hm_render (HM_HEATMAP, HM_DEFAULT_OPACITY), exactly as the viewer draws it. Every
 * tile image is the photo fitted with its aspect ratio into FIG_TILE_MAX x FIG_TILE_MAX, or,
 * if that is narrower than FIG_TILE_MIN_W, into FIG_TILE_MIN_W x 2*FIG_TILE_MAX; its label
 * (the word, then "p 0.42   β 0.71", then "max α 0.031") sits in the strip below it.
 */
#ifndef CAPTION_FIGURE_H
#define CAPTION_FIGURE_H

#include "caption.h"

#include <stddef.h>

#define FIG_TILE_MAX 224     /* the model's input side: tiles show what the encoder saw */
#define FIG_TILE_MIN_W 168   /* narrower tiles (portrait photos) are made taller instead */
#define FIG_MAX_WIDTH 1280   /* rows wrap so the figure stays about this wide */

typedef struct fig_layout {
    int n_tiles;        /* 1 + n_words */
    int cols, rows;     /* grid of tiles, filled row by row */
    int tile_w, tile_h; /* image area of every tile */
    int label_h;        /* label strip under each tile image */
    int pad;            /* outer margin */
    int gap;            /* space between tiles, both directions */
    int header_h;       /* caption strip above the grid */
    int width, height;  /* the whole figure */
} fig_layout;

/* The layout for a photo of img_w x img_h (>= 1) and a caption of n_words (>= 0) words, with
 * a tag line in the header when with_tags (the result has tags; without, the figure is the
 * same as before tags existed). Pure function of its arguments, so tests can predict where
 * every tile lies. */
void fig_compute_layout(int img_w, int img_h, int n_words, int with_tags, fig_layout *out);

/* Top-left corner of tile i's image (0 <= i < n_tiles); its label strip starts at
 * y + tile_h and is tile_w x label_h. */
void fig_tile_origin(const fig_layout *layout, int i, int *x, int *y);

/*
 * Draw the figure of caption number caption_index of `result` (the n-best list of `photo`
 * made by cap_caption_image with `model`) into *out (allocated here; free with
 * cap_image_free). `name` is printed in the header (e.g. the file's base name; may be NULL),
 * `beam_size` too. Text is drawn with FreeType from font_path (see text_default_font_path).
 * Returns 0, or -1 with a one-line reason in errbuf (errsize bytes) and *out zeroed:
 * bad arguments, unreadable font, out of memory.
 */
int fig_render(const cap_model *model, const cap_image *photo, const cap_result *result,
               int caption_index, const char *name, int beam_size, const char *font_path,
               cap_image *out, char *errbuf, size_t errsize);

#endif
