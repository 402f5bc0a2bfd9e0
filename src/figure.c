/* figure.c - the --attention-png figure (see figure.h). */
#include "figure.h"

#include "heatmap.h"
#include "text.h"

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

static const unsigned char ink[3] = {0x20, 0x20, 0x20};
static const unsigned char grey[3] = {0x70, 0x70, 0x70};

/* Header height: FIG_TITLE_LINES caption lines plus one note line. Fixed (not measured)
 * so the layout stays a pure function; the line heights are DejaVu Sans's (1.164 em,
 * rounded up) plus spacing. */
static int header_height(void)
{
    return FIG_PAD + FIG_TITLE_LINES * 24 + 4 + 16 + 8;
}

void fig_compute_layout(int img_w, int img_h, int n_words, fig_layout *out)
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
    out->header_h = header_height();
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
    const int rows = result->grid_rows, cols = result->grid_cols, L = rows * cols;
    fig_layout lay;
    fig_compute_layout(photo->width, photo->height, cap->n_tokens, &lay);

    txt_font *f_title = NULL, *f_word = NULL, *f_small = NULL;
    char fe[200];
    if (txt_font_open(font_path, FIG_TITLE_PX, &f_title, fe, sizeof fe) != 0 ||
        txt_font_open(font_path, FIG_WORD_PX, &f_word, fe, sizeof fe) != 0 ||
        txt_font_open(font_path, FIG_SMALL_PX, &f_small, fe, sizeof fe) != 0) {
        snprintf(errbuf, errsize, "font %s: %s", font_path, fe);
        txt_font_close(f_title);
        txt_font_close(f_word);
        return -1;
    }

    int rc = -1;
    cap_image tile = {0};
    char *text = NULL;
    const size_t stride = (size_t)lay.width * 3;
    unsigned char *img = malloc(stride * (size_t)lay.height);
    cap_error err = {0};
    if (!img || cap_image_resize(photo, lay.tile_w, lay.tile_h, &tile, &err) != CAP_OK) {
        snprintf(errbuf, errsize, "out of memory");
        goto done;
    }
    memset(img, 0xFF, stride * (size_t)lay.height);

    /* Header: the caption, then what the figure shows. */
    size_t need = cap_caption_text(model, cap, NULL, 0) + 1;
    text = malloc(need);
    if (!text) {
        snprintf(errbuf, errsize, "out of memory");
        goto done;
    }
    cap_caption_text(model, cap, text, need);
    char lines[FIG_TITLE_LINES][512];
    const int text_w = lay.width - 2 * lay.pad;
    int nl = wrap_text(f_title, cap->n_tokens ? text : "(empty caption)", text_w, lines,
                       FIG_TITLE_LINES);
    int y = lay.pad;
    for (int i = 0; i < nl; i++, y += 24)
        txt_draw_fit(f_title, img, lay.width, lay.height, stride, lay.pad, y, text_w, lines[i],
                     ink);
    char note[512];
    snprintf(note, sizeof note,
             "%s%sbeam %d, caption %d of %d, log p %.2f  \xC2\xB7  \xCE\xB1 on the %dx%d grid, "
             "least to most attended: black to yellow",
             name ? name : "", name ? "  \xC2\xB7  " : "", beam_size, caption_index + 1,
             result->n_captions, (double)cap->logprob, rows, cols);
    txt_draw_fit(f_small, img, lay.width, lay.height, stride, lay.pad,
                 lay.pad + FIG_TITLE_LINES * 24 + 4, text_w, note, grey);

    for (int i = 0; i < lay.n_tiles; i++) {
        int x0, y0;
        fig_tile_origin(&lay, i, &x0, &y0);
        const float *alpha = i > 0 ? cap->alpha + (size_t)(i - 1) * L : NULL;
        if (hm_render(&tile, alpha, rows, cols, HM_HEATMAP, HM_DEFAULT_OPACITY,
                      img + (size_t)y0 * stride + (size_t)x0 * 3, stride) != 0) {
            snprintf(errbuf, errsize, "out of memory");
            goto done;
        }
        char word[256], detail[2][128];
        if (i == 0) {
            snprintf(word, sizeof word, "photo");
            snprintf(detail[0], sizeof detail[0], "%d\xC3\x97%d", photo->width, photo->height);
            detail[1][0] = '\0';
        } else {
            const char *w = cap_model_word(model, cap->tokens[i - 1]);
            snprintf(word, sizeof word, "%d. %s", i, w ? w : "?");
            const float *a = cap->alpha + (size_t)(i - 1) * L;
            snprintf(detail[0], sizeof detail[0], "p %.2f   \xCE\xB2 %.2f",
                     (double)cap->word_prob[i - 1], (double)cap->beta[i - 1]);
            snprintf(detail[1], sizeof detail[1], "max \xCE\xB1 %.3f", (double)a[hm_argmax(a, L)]);
        }
        int ly = y0 + lay.tile_h + 5;
        txt_draw_fit(f_word, img, lay.width, lay.height, stride, x0, ly, lay.tile_w, word, ink);
        ly += txt_line_height(f_word) + 1;
        for (int k = 0; k < 2; k++, ly += txt_line_height(f_small))
            txt_draw_fit(f_small, img, lay.width, lay.height, stride, x0, ly, lay.tile_w,
                         detail[k], grey);
    }
    out->width = lay.width;
    out->height = lay.height;
    out->rgb = img;
    img = NULL;
    rc = 0;
done:
    free(img);
    free(text);
    cap_image_free(&tile);
    txt_font_close(f_title);
    txt_font_close(f_word);
    txt_font_close(f_small);
    return rc;
}
