/* text.h - draw UTF-8 text onto RGB8 buffers with FreeType (library-internal).
 *
 * Used for the labels of the headless --attention-png figure, which must work without a
 * display and without SDL (the SDL viewer draws its text with SDL2_ttf instead; both load
 * the same shipped font, DejaVu Sans, see text_default_font_path). FreeType was chosen over
 * SDL2_ttf here because it is the one library both builds have: SDL2_ttf is itself built on
 * it, and the figure must not depend on the optional viewer feature.
 */
#ifndef CAPTION_TEXT_H
#define CAPTION_TEXT_H

#include <stddef.h>

typedef struct txt_font txt_font;

/*
 * The font file to use: $CAPTION_FONT if set and non-empty, else the installed copy
 * (CAPTION_FONT_INSTALLED in config.h) if readable, else the source tree's
 * assets/fonts/DejaVuSans.ttf (CAPTION_FONT_SOURCE). Never NULL; a static string or the
 * environment's, not to be freed. Whether the file exists is checked by whoever opens it.
 */
const char *text_default_font_path(void);

/*
 * Open a TrueType/OpenType font at a pixel size (the em height, e.g. 16). Each font owns
 * its own FreeType library instance, so fonts may be used from different threads (one
 * thread per font). Returns 0 and *out, or -1 with a reason in errbuf (errsize bytes,
 * NUL-terminated) and *out = NULL. Release with txt_font_close.
 */
int txt_font_open(const char *path, int pixel_size, txt_font **out, char *errbuf,
                  size_t errsize);

/* Release a font. Accepts NULL. */
void txt_font_close(txt_font *font);

/* Vertical metrics in pixels: ascent above the baseline, and the line height (baseline to
 * baseline). */
int txt_ascent(const txt_font *font);
int txt_line_height(const txt_font *font);

/* Advance width in pixels of a UTF-8 string (invalid bytes count as U+FFFD). */
int txt_width(txt_font *font, const char *utf8);

/*
 * Draw a UTF-8 string with anti-aliasing onto an RGB8 image (width x height pixels, rows
 * `stride` bytes apart), its top-left corner (the top of the ascent, not the baseline) at
 * (x, y), in colour rgb[3]. Pixels outside the image are clipped. Returns the advance width.
 */
int txt_draw(txt_font *font, unsigned char *img, int width, int height, size_t stride, int x,
             int y, const char *utf8, const unsigned char rgb[3]);

/*
 * Like txt_draw, but if the string is wider than max_width, draw as many whole characters
 * as fit followed by "…". Returns the width drawn.
 */
int txt_draw_fit(txt_font *font, unsigned char *img, int width, int height, size_t stride,
                 int x, int y, int max_width, const char *utf8, const unsigned char rgb[3]);

#endif
