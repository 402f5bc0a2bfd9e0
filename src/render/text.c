/* text.c - FreeType text on RGB8 buffers (see text.h). */
#include "render/text.h"

#include "common/data_file.h"
#include "config.h"

#include <ft2build.h>
#include FT_FREETYPE_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct txt_font {
    FT_Library lib;
    FT_Face face;
    int ascent, line_height;
};

const char *text_default_font_path(void)
{
    return data_file_path("CAPTION_FONT", CAPTION_FONT_INSTALLED, CAPTION_FONT_SOURCE);
}

int txt_font_open(const char *path, int pixel_size, txt_font **out, char *errbuf,
                  size_t errsize)
{
    *out = NULL;
    txt_font *f = calloc(1, sizeof *f);
    if (!f) {
        snprintf(errbuf, errsize, "out of memory");
        return -1;
    }
    if (FT_Init_FreeType(&f->lib) != 0) {
        snprintf(errbuf, errsize, "cannot initialise FreeType");
        free(f);
        return -1;
    }
    FT_Error e = FT_New_Face(f->lib, path, 0, &f->face);
    if (e != 0) {
        snprintf(errbuf, errsize, "cannot load font (FreeType error %d%s)", e,
                 access(path, R_OK) != 0 ? ", file not readable" : "");
        FT_Done_FreeType(f->lib);
        free(f);
        return -1;
    }
    if (FT_Set_Pixel_Sizes(f->face, 0, (FT_UInt)pixel_size) != 0) {
        snprintf(errbuf, errsize, "font cannot be scaled to %d px", pixel_size);
        txt_font_close(f);
        return -1;
    }
    /* Metrics are 26.6 fixed point; round outward so glyphs stay inside the line box. */
    const FT_Size_Metrics *m = &f->face->size->metrics;
    f->ascent = (int)((m->ascender + 63) >> 6);
    f->line_height = (int)((m->height + 63) >> 6);
    *out = f;
    return 0;
}

void txt_font_close(txt_font *font)
{
    if (!font)
        return;
    FT_Done_Face(font->face);
    FT_Done_FreeType(font->lib);
    free(font);
}

int txt_ascent(const txt_font *font) { return font->ascent; }
int txt_line_height(const txt_font *font) { return font->line_height; }

/* Decode one UTF-8 code point at *s and advance *s; malformed input yields U+FFFD and
 * skips one byte, so any byte string terminates. */
static unsigned long next_cp(const char **s)
{
    const unsigned char *p = (const unsigned char *)*s;
    unsigned long cp;
    int n;
    if (p[0] < 0x80) {
        cp = p[0];
        n = 0;
    } else if ((p[0] & 0xE0) == 0xC0) {
        cp = p[0] & 0x1F;
        n = 1;
    } else if ((p[0] & 0xF0) == 0xE0) {
        cp = p[0] & 0x0F;
        n = 2;
    } else if ((p[0] & 0xF8) == 0xF0) {
        cp = p[0] & 0x07;
        n = 3;
    } else {
        *s += 1;
        return 0xFFFD;
    }
    for (int i = 1; i <= n; i++) {
        if ((p[i] & 0xC0) != 0x80) {
            *s += 1;
            return 0xFFFD;
        }
        cp = (cp << 6) | (p[i] & 0x3F);
    }
    *s += n + 1;
    return cp;
}

/* Walk a string glyph by glyph, optionally drawing; returns the pen advance in pixels.
 * stop_at (if >= 0) stops before the first glyph whose right edge would pass it, and
 * *consumed then says how many bytes were laid out. */
static int layout(txt_font *font, unsigned char *img, int width, int height, size_t stride,
                  int x, int y, const char *utf8, const unsigned char rgb[3], int stop_at,
                  size_t *consumed)
{
    FT_Face face = font->face;
    const int kerning = FT_HAS_KERNING(face);
    const char *s = utf8;
    long pen = 0; /* 26.6 */
    FT_UInt prev = 0;
    while (*s) {
        const char *start = s;
        unsigned long cp = next_cp(&s);
        FT_UInt gi = FT_Get_Char_Index(face, cp);
        if (kerning && prev && gi) {
            FT_Vector k;
            if (FT_Get_Kerning(face, prev, gi, FT_KERNING_DEFAULT, &k) == 0)
                pen += k.x;
        }
        if (FT_Load_Glyph(face, gi, img ? FT_LOAD_RENDER : FT_LOAD_DEFAULT) != 0)
            continue;
        const FT_GlyphSlot g = face->glyph;
        if (stop_at >= 0 && ((pen + g->advance.x + 63) >> 6) > stop_at) {
            s = start;
            break;
        }
        if (img) {
            const FT_Bitmap *bm = &g->bitmap;
            const int gx = x + (int)((pen + 32) >> 6) + g->bitmap_left;
            const int gy = y + font->ascent - g->bitmap_top;
            for (unsigned r = 0; r < bm->rows; r++) {
                const int py = gy + (int)r;
                if (py < 0 || py >= height)
                    continue;
                const unsigned char *src = bm->buffer + (long)r * bm->pitch;
                for (unsigned c = 0; c < bm->width; c++) {
                    const int px = gx + (int)c;
                    const unsigned a = src[c];
                    if (px < 0 || px >= width || a == 0)
                        continue;
                    unsigned char *d = img + (size_t)py * stride + (size_t)px * 3;
                    for (int k = 0; k < 3; k++)
                        d[k] = (unsigned char)((d[k] * (255 - a) + rgb[k] * a + 127) / 255);
                }
            }
        }
        pen += g->advance.x;
        prev = gi;
    }
    if (consumed)
        *consumed = (size_t)(s - utf8);
    return (int)((pen + 63) >> 6);
}

int txt_width(txt_font *font, const char *utf8)
{
    return layout(font, NULL, 0, 0, 0, 0, 0, utf8, NULL, -1, NULL);
}

int txt_draw(txt_font *font, unsigned char *img, int width, int height, size_t stride, int x,
             int y, const char *utf8, const unsigned char rgb[3])
{
    return layout(font, img, width, height, stride, x, y, utf8, rgb, -1, NULL);
}

int txt_draw_fit(txt_font *font, unsigned char *img, int width, int height, size_t stride,
                 int x, int y, int max_width, const char *utf8, const unsigned char rgb[3])
{
    if (txt_width(font, utf8) <= max_width)
        return txt_draw(font, img, width, height, stride, x, y, utf8, rgb);
    static const char ellipsis[] = "\xE2\x80\xA6";
    int room = max_width - txt_width(font, ellipsis);
    if (room < 0)
        room = 0;
    size_t n = 0;
    layout(font, NULL, 0, 0, 0, 0, 0, utf8, NULL, room, &n);
    char *cut = malloc(n + sizeof ellipsis);
    if (!cut)
        return 0;
    memcpy(cut, utf8, n);
    memcpy(cut + n, ellipsis, sizeof ellipsis);
    int w = txt_draw(font, img, width, height, stride, x, y, cut, rgb);
    free(cut);
    return w;
}
