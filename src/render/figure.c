/* figure.c - the --attention-png figure (see figure.h). */
#include "render/figure.h"

#include "render/heatmap.h"
#include "render/tag_line.h"
#include "render/text.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FIG_PAD 16
#define FIG_GAP 10
#define FIG_LABEL_H 62 /* word (21 px line) + two 16 px lines + spacing */
#define FIG_TITLE_PX 20
#define FIG_WORD_PX 18
#define FIG_SMALL_PX 13
#define FIG_TITLE_LINES 2
#define FIG_TAGS_H 18 /* the tag line (FIG_SMALL_PX) under the caption, when there are tags */

static const unsigned char ink[3] = {0x20, 0x20, 0x20};
static const unsigned char grey[3] = {0x70, 0x70, 0x70};
static const unsigned char forced_ink[3] = {0xB8, 0x48, 0x00}; /* dark orange: the forced word */

/* Header height: FIG_TITLE_LINES caption lines, the tag line when there are tags, and one
 * note line. Fixed (not measured) so the layout stays a pure function; the line heights are
 * DejaVu Sans's (1.164 em, rounded up) plus spacing. */
static int header_height(int with_tags)
{
    return FIG_PAD + FIG_TITLE_LINES * 24 + 4 + (with_tags ? FIG_TAGS_H : 0) + 16 + 8;
}

void fig_compute_layout(int img_w, int img_h, int n_words, int with_tags, fig_layout *out)
{
    memset(out, 0, sizeof *out);
    if (n_words < 0)
        n_words = 0;
    hm_fit(img_w, img_h, FIG_TILE_MAX, FIG_TILE_MAX, &out->tile_w, &out->tile_h);
    if (out->tile_w < FIG_TILE_MIN_W && img_w > 0 && img_h > 0) {
        /* Portrait photos: a 224-px-high tile is too narrow for its label, so grow it up to
         * twice as high (a very tall photo stays narrower). */
        hm_fit(img_w, img_h, FIG_TILE_MIN_W, 2 * FIG_TILE_MAX, &out->tile_w, &out->tile_h);
    }
    out->n_tiles = 1 + n_words;
    out->label_h = FIG_LABEL_H;
    out->pad = FIG_PAD;
    out->gap = FIG_GAP;
    out->header_h = header_height(with_tags);
    int cols = (FIG_MAX_WIDTH - 2 * FIG_PAD + FIG_GAP) / (out->tile_w + FIG_GAP);
    if (cols < 1)
        cols = 1;
    if (cols > out->n_tiles)
        cols = out->n_tiles;
    int rows = (out->n_tiles + cols - 1) / cols;
    /* Same number of rows with fewer columns when that fills the last row better:
     * 11 tiles as 4+4+3 rather than 5+5+1. */
    cols = (out->n_tiles + rows - 1) / rows;
    out->cols = cols;
    out->rows = rows;
    out->width = 2 * FIG_PAD + cols * out->tile_w + (cols - 1) * FIG_GAP;
    out->height = out->header_h + rows * (out->tile_h + out->label_h) + (rows - 1) * FIG_GAP +
                  FIG_PAD;
}

void fig_tile_origin(const fig_layout *layout, int i, int *x, int *y)
{
    const int c = i % layout->cols, r = i / layout->cols;
    *x = layout->pad + c * (layout->tile_w + layout->gap);
    *y = layout->header_h + r * (layout->tile_h + layout->label_h + layout->gap);
}

/* Fill `lines` (up to max_lines, each at most cap bytes) with the words of text wrapped to
 * max_width; the last line ends in "…" if the text does not fit. Returns the line count. */
static int wrap_text(txt_font *font, const char *text, int max_width, char lines[][512],
                     int max_lines)
{
    int n = 0;
    const char *p = text;
    while (*p && n < max_lines) {
        while (*p == ' ')
            p++;
        if (!*p)
            break;
        char *line = lines[n];
        size_t len = 0;
        line[0] = '\0';
        for (;;) {
            const char *end = strchr(p, ' ');
            size_t wl = end ? (size_t)(end - p) : strlen(p);
            char trial[512];
            int tl = snprintf(trial, sizeof trial, "%s%s%.*s", line, len ? " " : "", (int)wl, p);
            if (tl < 0 || (size_t)tl >= sizeof trial)
                break;
            /* A single word wider than the line still goes on it (txt_draw_fit cuts it). */
            if (len > 0 && txt_width(font, trial) > max_width)
                break;
            memcpy(line, trial, (size_t)tl + 1);
            len = (size_t)tl;
            p += wl;
            if (!end)
                break;
            while (*p == ' ')
                p++;
            if (!*p)
                break;
        }
        n++;
    }
    if (*p && n == max_lines) {
        /* Text left over: mark the cut on the last line. */
        char *last = lines[n - 1];
        size_t l = strlen(last);
        if (l + 4 < 512)
            memcpy(last + l, " \xE2\x80\xA6", 5);
    }
    return n;
}

/* The figure's pixels and their geometry, handed to the drawing steps below. */
typedef struct canvas {
    unsigned char *px;
    int width, height;
    size_t stride;
} canvas;

typedef struct fig_fonts {
    txt_font *title, *word, *small;
} fig_fonts;

static void close_fonts(fig_fonts *f)
{
    txt_font_close(f->title);
    txt_font_close(f->word);
    txt_font_close(f->small);
}

static int open_fonts(const char *font_path, fig_fonts *f, char *errbuf, size_t errsize)
{
    char fe[200];
    if (txt_font_open(font_path, FIG_TITLE_PX, &f->title, fe, sizeof fe) != 0 ||
        txt_font_open(font_path, FIG_WORD_PX, &f->word, fe, sizeof fe) != 0 ||
        txt_font_open(font_path, FIG_SMALL_PX, &f->small, fe, sizeof fe) != 0) {
        snprintf(errbuf, errsize, "font %s: %s", font_path, fe);
        close_fonts(f);
        return -1;
    }
    return 0;
}

static int small_width(void *font, const char *text)
{
    return txt_width(font, text);
}

/* The tag line (render/tag_line.h) at (x, y), cut with "…" to max_w. */
static void draw_tag_line(const fig_fonts *f, const canvas *c, const cap_model *model,
                          const cap_result *result, int x, int y, int max_w)
{
    tag_piece pieces[TAG_LINE_MAX_PIECES];
    const char *forced =
        result->forced_word >= 0 ? cap_model_word(model, result->forced_word) : NULL;
    const int n = tag_line_build(result, forced, pieces);
    const char *ellipsis = "\xE2\x80\xA6";
    int used;
    const int k = tag_line_fit(pieces, n, max_w, txt_width(f->small, ellipsis), small_width,
                               f->small, &used);
    for (int i = 0; i < k; i++) {
        const unsigned char *rgb = pieces[i].ink == TAG_INK_FORCED ? forced_ink
                                   : pieces[i].ink == TAG_INK_DIM  ? grey
                                                                   : ink;
        x += txt_draw(f->small, c->px, c->width, c->height, c->stride, x, y, pieces[i].text, rgb);
    }
    if (k < n)
        txt_draw(f->small, c->px, c->width, c->height, c->stride, x, y, ellipsis, grey);
}

/* Header: the caption wrapped to FIG_TITLE_LINES lines, its tags, then what the figure
 * shows. Returns 0, or -1 when out of memory. */
static int draw_header(const fig_fonts *f, const canvas *c, const fig_layout *lay,
                       const cap_model *model, const cap_result *result, int caption_index,
                       const char *name, int beam_size)
{
    const cap_caption *cap = &result->captions[caption_index];
    size_t need = cap_caption_text(model, cap, NULL, 0) + 1;
    char *text = malloc(need);
    if (!text)
        return -1;
    cap_caption_text(model, cap, text, need);
    char lines[FIG_TITLE_LINES][512];
    const int text_w = lay->width - 2 * lay->pad;
    int nl = wrap_text(f->title, cap->n_tokens ? text : "(empty caption)", text_w, lines,
                       FIG_TITLE_LINES);
    int y = lay->pad;
    for (int i = 0; i < nl; i++, y += 24)
        txt_draw_fit(f->title, c->px, c->width, c->height, c->stride, lay->pad, y, text_w,
                     lines[i], ink);
    free(text);
    int note_y = lay->pad + FIG_TITLE_LINES * 24 + 4;
    if (result->n_tags > 0) {
        draw_tag_line(f, c, model, result, lay->pad, note_y, text_w);
        note_y += FIG_TAGS_H;
    }
    char note[512];
    snprintf(note, sizeof note,
             "%s%sbeam %d, caption %d of %d, log p %.2f  \xC2\xB7  \xCE\xB1 on the %dx%d grid, "
             "least to most attended: black to yellow",
             name ? name : "", name ? "  \xC2\xB7  " : "", beam_size, caption_index + 1,
             result->n_captions, (double)cap->logprob, result->grid_rows, result->grid_cols);
    txt_draw_fit(f->small, c->px, c->width, c->height, c->stride, lay->pad, note_y, text_w, note,
                 grey);
    return 0;
}

/* The three label lines of tile i: its name, then its numbers (the photo's size for tile 0,
 * p, beta and the peak alpha of word i for the others). */
static void tile_label(const cap_model *model, const cap_image *photo, const cap_caption *cap,
                       int L, int i, char word[256], char detail[2][128])
{
    if (i == 0) {
        snprintf(word, 256, "photo");
        snprintf(detail[0], 128, "%d\xC3\x97%d", photo->width, photo->height);
        detail[1][0] = '\0';
        return;
    }
    const char *w = cap_model_word(model, cap->tokens[i - 1]);
    snprintf(word, 256, "%d. %s", i, w ? w : "?");
    const float *a = cap->alpha + (size_t)(i - 1) * L;
    snprintf(detail[0], 128, "p %.2f   \xCE\xB2 %.2f", (double)cap->word_prob[i - 1],
             (double)cap->beta[i - 1]);
    snprintf(detail[1], 128, "max \xCE\xB1 %.3f", (double)a[hm_argmax(a, L)]);
}

/* Tile i: the scaled photo with word i's overlay (none for tile 0), its label below, in the
 * forced colour when the word is the one the tags made the caption name (the singular: the
 * API gives no plural's token). Returns 0, or -1 when out of memory. */
static int draw_tile(const fig_fonts *f, const canvas *c, const fig_layout *lay,
                     const cap_model *model, const cap_image *photo, const cap_image *tile,
                     const cap_result *result, const cap_caption *cap, int i)
{
    const int rows = result->grid_rows, cols = result->grid_cols, L = rows * cols;
    int x0, y0;
    fig_tile_origin(lay, i, &x0, &y0);
    const float *alpha = i > 0 ? cap->alpha + (size_t)(i - 1) * L : NULL;
    if (hm_render(tile, alpha, rows, cols, HM_HEATMAP, HM_DEFAULT_OPACITY,
                  c->px + (size_t)y0 * c->stride + (size_t)x0 * 3, c->stride) != 0)
        return -1;
    char word[256], detail[2][128];
    tile_label(model, photo, cap, L, i, word, detail);
    int ly = y0 + lay->tile_h + 5;
    const int forced =
        i > 0 && result->forced_word >= 0 && cap->tokens[i - 1] == result->forced_word;
    txt_draw_fit(f->word, c->px, c->width, c->height, c->stride, x0, ly, lay->tile_w, word,
                 forced ? forced_ink : ink);
    ly += txt_line_height(f->word) + 1;
    for (int k = 0; k < 2; k++, ly += txt_line_height(f->small))
        txt_draw_fit(f->small, c->px, c->width, c->height, c->stride, x0, ly, lay->tile_w,
                     detail[k], grey);
    return 0;
}

int fig_render(const cap_model *model, const cap_image *photo, const cap_result *result,
               int caption_index, const char *name, int beam_size, const char *font_path,
               cap_image *out, char *errbuf, size_t errsize)
{
    memset(out, 0, sizeof *out);
    if (!model || !photo || !photo->rgb || !result || caption_index < 0 ||
        caption_index >= result->n_captions || !font_path) {
        snprintf(errbuf, errsize, "invalid figure arguments");
        return -1;
    }
    const cap_caption *cap = &result->captions[caption_index];
    fig_layout lay;
    fig_compute_layout(photo->width, photo->height, cap->n_tokens, result->n_tags > 0, &lay);
    fig_fonts fonts = {0};
    if (open_fonts(font_path, &fonts, errbuf, errsize) != 0)
        return -1;

    int rc = 0;
    cap_image tile = {0};
    canvas c = {NULL, lay.width, lay.height, (size_t)lay.width * 3};
    c.px = malloc(c.stride * (size_t)lay.height);
    cap_error err = {0};
    if (!c.px || cap_image_resize(photo, lay.tile_w, lay.tile_h, &tile, &err) != CAP_OK)
        rc = -1;
    else
        memset(c.px, 0xFF, c.stride * (size_t)lay.height);
    if (rc == 0)
        rc = draw_header(&fonts, &c, &lay, model, result, caption_index, name, beam_size);
    for (int i = 0; rc == 0 && i < lay.n_tiles; i++)
        rc = draw_tile(&fonts, &c, &lay, model, photo, &tile, result, cap, i);
    if (rc == 0) {
        out->width = lay.width;
        out->height = lay.height;
        out->rgb = c.px;
        c.px = NULL;
    } else {
        snprintf(errbuf, errsize, "out of memory");
    }
    free(c.px);
    cap_image_free(&tile);
    close_fonts(&fonts);
    return rc;
}
