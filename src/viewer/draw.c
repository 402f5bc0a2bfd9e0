/* draw.c - one frame of the viewer: the photo with its overlay, the caption panel (words,
 * info line, status bar) and the help overlay.
 *
 * The photo and its overlay are composed on the CPU by hm_render (render/heatmap.h), the
 * same code as the --attention-png figure, and shown as one texture at 1:1 scale; text is
 * drawn with SDL2_ttf from the shipped DejaVu Sans.
 */
#include "render/tag_line.h"
#include "viewer/base_name.h"
#include "viewer/layout.h"
#include "viewer/viewer_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const SDL_Color c_bg = {0x1e, 0x1f, 0x22, 255};
static const SDL_Color c_text = {0xee, 0xee, 0xee, 255};
static const SDL_Color c_dim = {0x9a, 0x9a, 0x9a, 255};
static const SDL_Color c_hi_bg = {0xff, 0xd4, 0x3b, 255};
static const SDL_Color c_hi_text = {0x10, 0x10, 0x10, 255};
static const SDL_Color c_bar = {0x4d, 0xa3, 0xff, 255};
static const SDL_Color c_status_bg = {0x2b, 0x2d, 0x31, 255};
/* The forced word and the tags naming it: orange, apart from the current word's yellow. */
static const SDL_Color c_forced = {0xff, 0x9e, 0x45, 255};

static void set_color(SDL_Renderer *r, SDL_Color c)
{
    SDL_SetRenderDrawColor(r, c.r, c.g, c.b, c.a);
}

/* Draw UTF-8 text with its top-left at (x, y); returns its width (0 for "" or on error). */
static int draw_text(ui *u, TTF_Font *f, const char *s, int x, int y, SDL_Color c)
{
    if (!s || !*s)
        return 0;
    SDL_Surface *surf = TTF_RenderUTF8_Blended(f, s, c);
    if (!surf)
        return 0;
    SDL_Texture *t = SDL_CreateTextureFromSurface(u->ren, surf);
    SDL_Rect r = {x, y, surf->w, surf->h};
    if (t) {
        SDL_RenderCopy(u->ren, t, NULL, &r);
        SDL_DestroyTexture(t);
    }
    SDL_FreeSurface(surf);
    return r.w;
}

static int text_width(TTF_Font *f, const char *s)
{
    int w = 0, h = 0;
    if (!s || !*s || TTF_SizeUTF8(f, s, &w, &h) != 0)
        return 0;
    return w;
}

/* Draw text cut with "…" so that it fits in max_w. */
static int draw_text_fit(ui *u, TTF_Font *f, const char *s, int x, int y, int max_w, SDL_Color c)
{
    if (text_width(f, s) <= max_w)
        return draw_text(u, f, s, x, y, c);
    char buf[1024];
    size_t n = strlen(s);
    if (n >= sizeof buf - 4)
        n = sizeof buf - 4;
    while (n > 0) {
        n--;
        while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80) /* whole UTF-8 sequences */
            n--;
        memcpy(buf, s, n);
        memcpy(buf + n, "\xE2\x80\xA6", 4);
        if (text_width(f, buf) <= max_w)
            break;
    }
    return draw_text(u, f, buf, x, y, c);
}

/* ------------------------------------------------------------------- photo -- */

/* Whether the texture already shows this word of this caption at w x h, as styled now. */
static int texture_is_current(const ui *u, int word, int w, int h)
{
    return u->tex && u->shown.image == u->image && u->shown.caption == u->caption &&
           u->shown.word == word && u->shown.style == (int)u->style &&
           u->shown.opacity == u->opacity && u->shown.w == w && u->shown.h == h;
}

/* The photo scaled to w x h in u->scaled, and room for w x h RGB pixels in u->composed. */
static int prepare_buffers(ui *u, const entry *e, int w, int h)
{
    if (u->scaled_image != u->image || u->scaled.width != w || u->scaled.height != h) {
        cap_image_free(&u->scaled);
        u->scaled_image = -1;
        cap_error err = {0};
        if (cap_image_resize(&e->photo, w, h, &u->scaled, &err) != CAP_OK)
            return -1;
        u->scaled_image = u->image;
    }
    const size_t need = (size_t)w * h * 3;
    if (need > u->composed_cap) {
        unsigned char *grown = realloc(u->composed, need);
        if (!grown)
            return -1;
        u->composed = grown;
        u->composed_cap = need;
    }
    return 0;
}

/* Compose photo + overlay at w x h into the texture when anything it shows changed. */
static int update_photo_texture(ui *u, const entry *e, int w, int h)
{
    const cap_caption *cap = &e->result.captions[u->caption];
    const int word = u->word > cap->n_tokens ? cap->n_tokens : u->word;
    if (texture_is_current(u, word, w, h))
        return 0;
    if (prepare_buffers(u, e, w, h) != 0)
        return -1;
    const int L = e->result.grid_rows * e->result.grid_cols;
    const float *alpha = word > 0 ? cap->alpha + (size_t)(word - 1) * L : NULL;
    if (hm_render(&u->scaled, alpha, e->result.grid_rows, e->result.grid_cols, u->style,
                  u->opacity, u->composed, (size_t)w * 3) != 0)
        return -1;
    if (!u->tex || u->tex_w != w || u->tex_h != h) {
        if (u->tex)
            SDL_DestroyTexture(u->tex);
        u->tex = SDL_CreateTexture(u->ren, SDL_PIXELFORMAT_RGB24, SDL_TEXTUREACCESS_STREAMING,
                                   w, h);
        if (!u->tex)
            return -1;
        u->tex_w = w;
        u->tex_h = h;
    }
    SDL_UpdateTexture(u->tex, NULL, u->composed, w * 3);
    u->shown.image = u->image;
    u->shown.caption = u->caption;
    u->shown.word = word;
    u->shown.style = (int)u->style;
    u->shown.opacity = u->opacity;
    u->shown.w = w;
    u->shown.h = h;
    return 0;
}

/* The photo with its overlay, or, until it is captioned, a line saying why not yet. */
static void draw_photo(ui *u, int win_w, int win_h)
{
    entry_state st;
    entry *e = work_get(u->w, u->image, &st);
    if (e && st == ENTRY_DONE) {
        int x, y, w, h;
        caption_view_photo_rect(win_w, win_h, e->photo.width, e->photo.height, &x, &y, &w, &h);
        if (update_photo_texture(u, e, w, h) == 0) {
            SDL_Rect r = {x, y, w, h};
            SDL_RenderCopy(u->ren, u->tex, NULL, &r);
        }
    } else if (e) {
        char msg[512];
        if (st == ENTRY_FAILED)
            snprintf(msg, sizeof msg, "%s: %s", base_name(e->path), e->error);
        else
            snprintf(msg, sizeof msg, "captioning %s\xE2\x80\xA6", base_name(e->path));
        const int area_h = win_h - view_panel_height(win_h);
        const int tw = text_width(u->info_font, msg);
        draw_text(u, u->info_font, msg, (win_w - tw) / 2, area_h / 2, c_dim);
    }
}

/* ----------------------------------------------------------- caption panel -- */

/* Where the panel's parts go in a window of win_w x win_h. */
typedef struct panel {
    int win_w;
    int words_top, words_h; /* the band of caption words */
    int max_w;              /* widest line of words or info */
} panel;

/* One laid-out word of the caption panel. */
typedef struct word_box {
    int line, x, w; /* x relative to the line's left edge until centring */
} word_box;

/* The words' font, chosen to fit the panel, and the lines laid out with it. */
typedef struct word_layout {
    TTF_Font *font;
    int numbers; /* the probability printed under each word */
    int n_lines, line_h;
    word_box *boxes; /* one per word */
    int *line_w;     /* one per line */
} word_layout;

/* Lay the words out in lines of at most max_w pixels with font f; returns the line count
 * and fills boxes (x relative to each line's start) and line_w. */
static int layout_words(TTF_Font *f, const cap_model *m, const cap_caption *cap, int max_w,
                        word_box *boxes, int *line_w, int max_lines)
{
    const int pad = 7, space = text_width(f, " ");
    int line = 0, x = 0;
    for (int i = 0; i < cap->n_tokens; i++) {
        const char *word = cap_model_word(m, cap->tokens[i]);
        int bw = text_width(f, word ? word : "?") + 2 * pad;
        if (x > 0 && x + space + bw > max_w) {
            if (line < max_lines)
                line_w[line] = x;
            line++;
            x = 0;
        }
        if (x > 0)
            x += space;
        boxes[i] = (word_box){line, x, bw};
        x += bw;
    }
    if (line < max_lines)
        line_w[line] = x;
    return cap->n_tokens ? line + 1 : 0;
}

/* The largest font whose lines all fit the panel; in a small window, the smallest font
 * without the numbers under the words; beyond that, lines that do not fit are left out
 * (the info line still names the current word). */
static void fit_words(ui *u, const cap_model *m, const cap_caption *cap, const panel *p,
                      word_layout *wl)
{
    for (int k = 0; k <= N_WORD_FONTS; k++) {
        wl->font = u->word_font[k < N_WORD_FONTS ? k : N_WORD_FONTS - 1];
        wl->numbers = k < N_WORD_FONTS;
        wl->line_h = TTF_FontLineSkip(wl->font) + 4 +
                     (wl->numbers ? TTF_FontLineSkip(u->prob_font) : 0);
        wl->n_lines =
            layout_words(wl->font, m, cap, p->max_w, wl->boxes, wl->line_w, cap->n_tokens);
        if (wl->n_lines * wl->line_h <= p->words_h)
            break;
    }
}

/* Word i in its box: highlighted if current, dimmed if still to come, orange if it is the
 * forced word (forced_word: its singular, the API gives no plural's token), with a bar for
 * p(word) under it (full width = 1) and, if wl->numbers, the number. */
static void draw_word(ui *u, const cap_model *m, const cap_caption *cap, const word_layout *wl,
                      int i, SDL_Rect box, int cur, int forced_word)
{
    const char *word = cap_model_word(m, cap->tokens[i]);
    const int fh = TTF_FontLineSkip(wl->font);
    SDL_Color tc = cap->tokens[i] == forced_word ? c_forced : i + 1 <= cur ? c_text : c_dim;
    if (i + 1 == cur) {
        set_color(u->ren, c_hi_bg);
        SDL_RenderFillRect(u->ren, &box);
        tc = c_hi_text;
    }
    draw_text(u, wl->font, word ? word : "?", box.x + 7, box.y, tc);
    SDL_Rect bar = {box.x + 7, box.y + fh, (int)((box.w - 14) * cap->word_prob[i] + 0.5f), 2};
    set_color(u->ren, i + 1 == cur ? c_hi_text : c_bar);
    SDL_RenderFillRect(u->ren, &bar);
    if (wl->numbers) {
        char p[32];
        snprintf(p, sizeof p, "%.2f", (double)cap->word_prob[i]);
        int pw = text_width(u->prob_font, p);
        draw_text(u, u->prob_font, p, box.x + (box.w - pw) / 2, box.y + fh + 2,
                  i + 1 == cur ? c_hi_text : c_dim);
    }
}

static int grow_word_rects(ui *u, int n)
{
    if (u->word_rects_cap >= n)
        return 0;
    SDL_Rect *grown = realloc(u->word_rects, sizeof *grown * (size_t)n);
    if (!grown)
        return -1;
    u->word_rects = grown;
    u->word_rects_cap = n;
    return 0;
}

/* The caption's words, centred in the panel's band, each box kept for clicks. Returns 0, or
 * -1 when out of memory. */
static int draw_words(ui *u, const cap_model *m, const cap_caption *cap, int forced_word,
                      const panel *p)
{
    if (grow_word_rects(u, cap->n_tokens) != 0)
        return -1;
    word_layout wl = {0};
    wl.boxes = malloc(sizeof *wl.boxes * (size_t)cap->n_tokens);
    wl.line_w = malloc(sizeof *wl.line_w * (size_t)cap->n_tokens);
    if (!wl.boxes || !wl.line_w) {
        free(wl.boxes);
        free(wl.line_w);
        return -1;
    }
    fit_words(u, m, cap, p, &wl);
    const int fits = wl.n_lines * wl.line_h <= p->words_h;
    const int shown_lines = fits ? wl.n_lines : p->words_h / wl.line_h;
    const int block_top = p->words_top + (p->words_h - shown_lines * wl.line_h) / 2;
    const int cur = u->word > cap->n_tokens ? cap->n_tokens : u->word;
    for (int i = 0; i < cap->n_tokens && wl.boxes[i].line < shown_lines; i++) {
        const int x = (p->win_w - wl.line_w[wl.boxes[i].line]) / 2 + wl.boxes[i].x;
        const int y = block_top + wl.boxes[i].line * wl.line_h;
        SDL_Rect box = {x, y, wl.boxes[i].w, wl.line_h - 2};
        u->word_rects[u->n_word_rects++] = box;
        draw_word(u, m, cap, &wl, i, box, cur, forced_word);
    }
    free(wl.boxes);
    free(wl.line_w);
    return 0;
}

/* The info line about word cur (1-based) of cap: its numbers and where attention peaks. */
static void word_info(const cap_model *m, const cap_caption *cap, const cap_result *res,
                      int cur, char *info, size_t size)
{
    const int L = res->grid_rows * res->grid_cols;
    const float *a = cap->alpha + (size_t)(cur - 1) * L;
    const int am = hm_argmax(a, L);
    const char *word = cap_model_word(m, cap->tokens[cur - 1]);
    snprintf(info, size,
             "word %d of %d: \xE2\x80\x9C%s\xE2\x80\x9D     p(word) %.3f     gate \xCE\xB2 "
             "%.3f     peak \xCE\xB1 %.3f (uniform %.3f) at row %d, col %d",
             cur, cap->n_tokens, word ? word : "?", (double)cap->word_prob[cur - 1],
             (double)cap->beta[cur - 1], (double)a[am], 1.0 / L, am / res->grid_cols + 1,
             am % res->grid_cols + 1);
}

/* The info line above the status bar: the current word, or what the image is waiting for. */
static void info_text(const ui *u, const cap_model *m, const cap_caption *cap,
                      const cap_result *res, const entry *e, entry_state st, char *info,
                      size_t size)
{
    info[0] = '\0';
    if (cap && cap->n_tokens > 0) {
        const int cur = u->word > cap->n_tokens ? cap->n_tokens : u->word;
        if (cur > 0)
            word_info(m, cap, res, cur, info, size);
        else
            snprintf(info, size,
                     "the photo alone: Right or Space steps through the words, P plays");
    } else if (cap) {
        snprintf(info, size, "(the caption is empty)");
    } else if (e && st == ENTRY_FAILED) {
        snprintf(info, size, "cannot caption %s: %s", base_name(e->path), e->error);
    } else if (e) {
        snprintf(info, size, "captioning %s\xE2\x80\xA6", base_name(e->path));
    }
}

/* Status bar: the overlay on the right; on the left a passing message, else the image, the
 * caption's rank and log p, and how long captioning took. */
static void draw_status_bar(ui *u, const entry *e, const cap_caption *cap,
                            const cap_result *res, int win_w, int win_h)
{
    SDL_Rect bar = {0, win_h - VIEW_STATUS_H, win_w, VIEW_STATUS_H};
    set_color(u->ren, c_status_bg);
    SDL_RenderFillRect(u->ren, &bar);
    char right[128];
    snprintf(right, sizeof right, "overlay: %s %d%%    H: help", hm_style_name(u->style),
             (int)(u->opacity * 100.0f + 0.5f));
    const int rw = text_width(u->small_font, right);
    const int ty = win_h - VIEW_STATUS_H + (VIEW_STATUS_H - TTF_FontHeight(u->small_font)) / 2;
    draw_text(u, u->small_font, right, win_w - VIEW_MARGIN - rw, ty, c_dim);
    char left[1200];
    if (u->message[0] && !SDL_TICKS_PASSED(SDL_GetTicks(), u->message_until)) {
        snprintf(left, sizeof left, "%s", u->message);
    } else {
        u->message[0] = '\0';
        int n = work_count(u->w);
        int len = snprintf(left, sizeof left, "%s  (image %d of %d)", e ? base_name(e->path) : "",
                           u->image + 1, n);
        if (cap && len > 0 && (size_t)len < sizeof left)
            snprintf(left + len, sizeof left - (size_t)len,
                     "    caption %d of %d, log p %.2f    captioned in %.2f s", u->caption + 1,
                     res->n_captions, (double)cap->logprob, e->seconds);
    }
    draw_text_fit(u, u->small_font, left, VIEW_MARGIN, ty, win_w - 3 * VIEW_MARGIN - rw,
                  u->message[0] ? c_hi_bg : c_dim);
}

static int ttf_width(void *font, const char *text)
{
    return text_width(font, text);
}

/* The tag line (render/tag_line.h), centred in the band [y, y + VIEW_TAGS_H). */
static void draw_tag_line(ui *u, const cap_model *m, const cap_result *res, const panel *p, int y)
{
    tag_piece pieces[TAG_LINE_MAX_PIECES];
    const char *forced = res->forced_word >= 0 ? cap_model_word(m, res->forced_word) : NULL;
    const int n = tag_line_build(res, forced, pieces);
    const char *ellipsis = "\xE2\x80\xA6";
    const int ew = text_width(u->small_font, ellipsis);
    int used;
    const int k = tag_line_fit(pieces, n, p->max_w, ew, ttf_width, u->small_font, &used);
    int x = (p->win_w - used - (k < n ? ew : 0)) / 2;
    y += (VIEW_TAGS_H - TTF_FontHeight(u->small_font)) / 2;
    for (int i = 0; i < k; i++) {
        const SDL_Color c = pieces[i].ink == TAG_INK_FORCED ? c_forced
                            : pieces[i].ink == TAG_INK_DIM  ? c_dim
                                                            : c_text;
        x += draw_text(u, u->small_font, pieces[i].text, x, y, c);
    }
    if (k < n)
        draw_text(u, u->small_font, ellipsis, x, y, c_dim);
}

static void draw_caption_panel(ui *u, const cap_model *m, int win_w, int win_h)
{
    const cap_result *res = NULL;
    const cap_caption *cap = view_current_caption(u, &res);
    /* The tag line takes its band from the words', so the photo never moves. */
    const int tags_h = cap && res->n_tags > 0 ? VIEW_TAGS_H : 0;
    const int panel_h = view_panel_height(win_h);
    const panel p = {win_w, win_h - panel_h + 8,
                     panel_h - 8 - VIEW_INFO_H - VIEW_STATUS_H - 6 - tags_h,
                     win_w - 2 * VIEW_MARGIN - 20};
    u->n_word_rects = 0;

    entry_state st;
    entry *e = work_get(u->w, u->image, &st);
    if (cap && cap->n_tokens > 0 && draw_words(u, m, cap, res->forced_word, &p) != 0)
        return;
    const int info_y = win_h - VIEW_STATUS_H - VIEW_INFO_H;
    if (tags_h > 0)
        draw_tag_line(u, m, res, &p, info_y - tags_h);
    char info[512];
    info_text(u, m, cap, res, e, st, info, sizeof info);
    int iw = text_width(u->info_font, info);
    if (iw > p.max_w)
        iw = p.max_w;
    draw_text_fit(u, u->info_font, info, (win_w - iw) / 2, info_y + 4, p.max_w, c_text);
    draw_status_bar(u, e, cap, res, win_w, win_h);
}

/* -------------------------------------------------------------------- help -- */

static const char *const help_lines[][2] = {
    {"Right / Space", "next word"},
    {"Left / Backspace", "previous word (before the first: the photo alone)"},
    {"Home / End", "first / last word"},
    {"P", "play / pause, one word per second"},
    {"N / B", "next / previous image"},
    {"Tab", "next of the beam's n-best captions (Shift+Tab: previous)"},
    {"O", "overlay: heatmap, spotlight, off"},
    {"+ / -", "overlay opacity"},
    {"S", "save this view as PNG in the current folder"},
    {"click a word", "jump to it"},
    {"drop a file", "caption that image"},
    {"H / F1", "show / hide this help"},
    {"Q / Esc", "quit"},
};

static void draw_help(ui *u, int win_w, int win_h)
{
    const int n = (int)(sizeof help_lines / sizeof help_lines[0]);
    const int lh = TTF_FontLineSkip(u->info_font) + 4;
    int kw = 0, dw = 0;
    for (int i = 0; i < n; i++) {
        int a = text_width(u->info_font, help_lines[i][0]);
        int b = text_width(u->info_font, help_lines[i][1]);
        kw = a > kw ? a : kw;
        dw = b > dw ? b : dw;
    }
    const int bw = kw + dw + 3 * 24, bh = (n + 1) * lh + 40;
    SDL_Rect box = {(win_w - bw) / 2, (win_h - bh) / 2, bw, bh};
    SDL_Rect all = {0, 0, win_w, win_h};
    SDL_SetRenderDrawBlendMode(u->ren, SDL_BLENDMODE_BLEND);
    /* Dim everything so the box reads as modal, not as part of the caption panel. */
    SDL_SetRenderDrawColor(u->ren, 0, 0, 0, 150);
    SDL_RenderFillRect(u->ren, &all);
    SDL_SetRenderDrawColor(u->ren, 0x10, 0x10, 0x12, 240);
    SDL_RenderFillRect(u->ren, &box);
    SDL_SetRenderDrawBlendMode(u->ren, SDL_BLENDMODE_NONE);
    set_color(u->ren, c_hi_bg);
    SDL_RenderDrawRect(u->ren, &box);
    int y = box.y + 20;
    draw_text(u, u->info_font, "Keys", box.x + 24, y, c_hi_bg);
    y += lh;
    for (int i = 0; i < n; i++, y += lh) {
        draw_text(u, u->info_font, help_lines[i][0], box.x + 24, y, c_hi_bg);
        draw_text(u, u->info_font, help_lines[i][1], box.x + 48 + kw, y, c_text);
    }
}

void view_render(ui *u, const cap_model *m)
{
    int win_w = 0, win_h = 0;
    SDL_GetRendererOutputSize(u->ren, &win_w, &win_h);
    set_color(u->ren, c_bg);
    SDL_RenderClear(u->ren);
    draw_photo(u, win_w, win_h);
    draw_caption_panel(u, m, win_w, win_h);
    if (u->help)
        draw_help(u, win_w, win_h);
}
