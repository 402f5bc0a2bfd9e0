/* viewer.c - the SDL2 attention viewer behind `caption --view` (see viewer.h).
 *
 * Threads: the UI thread owns the window and never captions. One worker thread
 * (SDL_CreateThread) decodes and captions images, the one on screen first, then the next one
 * ahead of time, so stepping to the next photo is usually instant and the window keeps
 * answering while a photo is captioned (0.1-0.3 s each).
 *
 * The photo and its overlay are composed on the CPU by hm_render (heatmap.h), the same code
 * as the --attention-png figure, and shown as one texture at 1:1 scale; text is drawn with
 * SDL2_ttf from the shipped DejaVu Sans.
 */
#include "viewer/viewer.h"

#include "render/heatmap.h"
#include "render/png_write.h"
#include "render/text.h"
#include "viewer/layout.h"

#include <SDL.h>
#include <SDL_ttf.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define PLAY_INTERVAL_MS 1000
#define MESSAGE_MS 4000
#define OPACITY_STEP 0.1f

/* ------------------------------------------------------------------ worker -- */

typedef enum entry_state { ENTRY_TODO, ENTRY_RUNNING, ENTRY_DONE, ENTRY_FAILED } entry_state;

/* One image of the session. Written by the worker until its state becomes DONE or FAILED
 * (under the lock); after that nobody writes it, so the UI reads photo/result freely. */
typedef struct entry {
    char *path;
    entry_state state;
    cap_image photo;
    cap_result result;
    char error[300];
    double seconds; /* decode + caption, measured by the worker */
} entry;

/* State shared by the UI and the worker; every field is accessed with `lock` held. Entries
 * are separately allocated so that growing the array (a dropped file) never moves one the
 * worker is filling. */
typedef struct work {
    SDL_mutex *lock;
    SDL_cond *wake;
    entry **entries;
    int n, capacity;
    int wanted; /* the entry on screen: captioned before any other */
    int quit;
    const cap_model *model;
    cap_options opt;
    Uint32 done_event; /* SDL user event pushed when an entry finishes */
} work;

/* Next entry to caption: the one on screen, else the one after it (read-ahead). */
static entry *worker_pick(work *w)
{
    if (w->n == 0)
        return NULL;
    entry *e = w->entries[w->wanted];
    if (e->state == ENTRY_TODO)
        return e;
    e = w->entries[(w->wanted + 1) % w->n];
    return e->state == ENTRY_TODO ? e : NULL;
}

static int worker_main(void *arg)
{
    work *w = arg;
    SDL_LockMutex(w->lock);
    while (!w->quit) {
        entry *e = worker_pick(w);
        if (!e) {
            SDL_CondWait(w->wake, w->lock);
            continue;
        }
        e->state = ENTRY_RUNNING;
        const char *path = e->path;
        const cap_options opt = w->opt;
        SDL_UnlockMutex(w->lock);

        cap_image img = {0};
        cap_result res = {0};
        cap_error err = {0};
        const Uint64 t0 = SDL_GetPerformanceCounter();
        cap_status st = cap_image_load_file(path, &img, &err);
        if (st == CAP_OK)
            st = cap_caption_image(w->model, &img, &opt, &res, &err);
        const double secs =
            (double)(SDL_GetPerformanceCounter() - t0) / (double)SDL_GetPerformanceFrequency();
        if (st != CAP_OK) {
            cap_image_free(&img);
            fprintf(stderr, "caption: %s: %s\n", path, err.message);
        }

        SDL_LockMutex(w->lock);
        e->seconds = secs;
        if (st == CAP_OK) {
            e->photo = img;
            e->result = res;
            e->state = ENTRY_DONE;
        } else {
            snprintf(e->error, sizeof e->error, "%s", err.message);
            e->state = ENTRY_FAILED;
        }
        SDL_Event ev;
        memset(&ev, 0, sizeof ev);
        ev.type = w->done_event;
        SDL_PushEvent(&ev);
    }
    SDL_UnlockMutex(w->lock);
    return 0;
}

/* Append an image; returns its index or -1 when out of memory. */
static int work_add(work *w, const char *path)
{
    entry *e = calloc(1, sizeof *e);
    char *copy = e ? strdup(path) : NULL;
    if (!copy) {
        free(e);
        return -1;
    }
    e->path = copy;
    SDL_LockMutex(w->lock);
    int idx = -1;
    if (w->n == w->capacity) {
        int cap = w->capacity ? 2 * w->capacity : 8;
        entry **grown = realloc(w->entries, sizeof *grown * (size_t)cap);
        if (grown) {
            w->entries = grown;
            w->capacity = cap;
        }
    }
    if (w->n < w->capacity) {
        idx = w->n;
        w->entries[w->n++] = e;
    }
    SDL_UnlockMutex(w->lock);
    if (idx < 0) {
        free(copy);
        free(e);
    }
    return idx;
}

/* Snapshot of an entry for the UI: pointer plus its state read under the lock. */
static entry *work_get(work *w, int idx, entry_state *state)
{
    SDL_LockMutex(w->lock);
    entry *e = idx >= 0 && idx < w->n ? w->entries[idx] : NULL;
    *state = e ? e->state : ENTRY_FAILED;
    SDL_UnlockMutex(w->lock);
    return e;
}

static void work_want(work *w, int idx)
{
    SDL_LockMutex(w->lock);
    w->wanted = idx;
    SDL_CondSignal(w->wake);
    SDL_UnlockMutex(w->lock);
}

static int work_count(work *w)
{
    SDL_LockMutex(w->lock);
    int n = w->n;
    SDL_UnlockMutex(w->lock);
    return n;
}

/* ---------------------------------------------------------------------- UI -- */

#define N_WORD_FONTS 3
static const int word_font_px[N_WORD_FONTS] = {26, 21, 17};

typedef struct ui {
    SDL_Window *win;
    SDL_Renderer *ren;
    TTF_Font *word_font[N_WORD_FONTS];
    TTF_Font *prob_font; /* the probability under each word */
    TTF_Font *info_font;
    TTF_Font *small_font;
    work *w;

    int image;   /* entry on screen */
    int caption; /* n-best index */
    int word;    /* 0 = photo alone, 1..n_tokens = that word */
    hm_style style;
    float opacity;
    int playing;
    Uint32 next_step_at;
    int help;
    char message[1024];
    Uint32 message_until;

    /* The photo scaled to its on-screen size, and the composed photo + overlay texture;
     * recomputed only when what they depend on changes. */
    cap_image scaled;
    int scaled_image;
    SDL_Texture *tex;
    int tex_w, tex_h;
    unsigned char *composed;
    size_t composed_cap;
    struct {
        int image, caption, word, style, w, h;
        float opacity;
    } shown;

    SDL_Rect *word_rects; /* hit boxes of the caption's words, from the last frame */
    int n_word_rects, word_rects_cap;
} ui;

static const SDL_Color c_bg = {0x1e, 0x1f, 0x22, 255};
static const SDL_Color c_text = {0xee, 0xee, 0xee, 255};
static const SDL_Color c_dim = {0x9a, 0x9a, 0x9a, 255};
static const SDL_Color c_hi_bg = {0xff, 0xd4, 0x3b, 255};
static const SDL_Color c_hi_text = {0x10, 0x10, 0x10, 255};
static const SDL_Color c_bar = {0x4d, 0xa3, 0xff, 255};
static const SDL_Color c_status_bg = {0x2b, 0x2d, 0x31, 255};

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

static const char *base_name(const char *path)
{
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

static void show_message(ui *u, const char *msg)
{
    snprintf(u->message, sizeof u->message, "%s", msg);
    u->message_until = SDL_GetTicks() + MESSAGE_MS;
}

/* The caption on screen, or NULL while the image is not captioned. */
static const cap_caption *current_caption(ui *u, const cap_result **res_out)
{
    entry_state st;
    entry *e = work_get(u->w, u->image, &st);
    if (!e || st != ENTRY_DONE)
        return NULL;
    if (u->caption >= e->result.n_captions)
        u->caption = 0;
    if (res_out)
        *res_out = &e->result;
    return &e->result.captions[u->caption];
}

/* Compose photo + overlay at w x h into the texture when anything it shows changed. */
static int update_photo_texture(ui *u, entry *e, int w, int h)
{
    const cap_caption *cap = &e->result.captions[u->caption];
    const int word = u->word > cap->n_tokens ? cap->n_tokens : u->word;
    if (u->tex && u->shown.image == u->image && u->shown.caption == u->caption &&
        u->shown.word == word && u->shown.style == (int)u->style &&
        u->shown.opacity == u->opacity && u->shown.w == w && u->shown.h == h)
        return 0;

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

/* One laid-out word of the caption panel. */
typedef struct word_box {
    int line, x, w; /* x relative to the line's left edge until centring */
} word_box;

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

static void draw_caption_panel(ui *u, const cap_model *m, int win_w, int win_h)
{
    const int panel_h = view_panel_height(win_h);
    const int top = win_h - panel_h;
    const int words_top = top + 8;
    const int words_h = panel_h - 8 - VIEW_INFO_H - VIEW_STATUS_H - 6;
    const int max_w = win_w - 2 * VIEW_MARGIN - 20;
    u->n_word_rects = 0;

    const cap_result *res = NULL;
    const cap_caption *cap = current_caption(u, &res);
    entry_state st;
    entry *e = work_get(u->w, u->image, &st);
    char info[512];
    info[0] = '\0';

    if (cap && cap->n_tokens > 0) {
        if (u->word_rects_cap < cap->n_tokens) {
            SDL_Rect *grown = realloc(u->word_rects, sizeof *grown * (size_t)cap->n_tokens);
            if (!grown)
                return;
            u->word_rects = grown;
            u->word_rects_cap = cap->n_tokens;
        }
        word_box *boxes = malloc(sizeof *boxes * (size_t)cap->n_tokens);
        int *line_w = malloc(sizeof *line_w * (size_t)cap->n_tokens);
        if (!boxes || !line_w) {
            free(boxes);
            free(line_w);
            return;
        }
        /* The largest font whose lines all fit the panel; in a small window, the smallest
         * font without the numbers under the words; beyond that, lines that do not fit
         * are left out (the info line still names the current word). */
        TTF_Font *f = NULL;
        int n_lines = 0, line_h = 0, numbers = 1;
        for (int k = 0; k <= N_WORD_FONTS; k++) {
            f = u->word_font[k < N_WORD_FONTS ? k : N_WORD_FONTS - 1];
            numbers = k < N_WORD_FONTS;
            line_h = TTF_FontLineSkip(f) + 4 + (numbers ? TTF_FontLineSkip(u->prob_font) : 0);
            n_lines = layout_words(f, m, cap, max_w, boxes, line_w, cap->n_tokens);
            if (n_lines * line_h <= words_h)
                break;
        }
        const int shown_lines = n_lines * line_h <= words_h ? n_lines : words_h / line_h;
        const int block_top = words_top + (words_h - shown_lines * line_h) / 2;
        const int cur = u->word > cap->n_tokens ? cap->n_tokens : u->word;
        const int fh = TTF_FontLineSkip(f);
        for (int i = 0; i < cap->n_tokens && boxes[i].line < shown_lines; i++) {
            const char *word = cap_model_word(m, cap->tokens[i]);
            const int x = (win_w - line_w[boxes[i].line]) / 2 + boxes[i].x;
            const int y = block_top + boxes[i].line * line_h;
            SDL_Rect box = {x, y, boxes[i].w, line_h - 2};
            u->word_rects[u->n_word_rects++] = box;
            SDL_Color tc = i + 1 <= cur ? c_text : c_dim; /* said vs. still to come */
            if (i + 1 == cur) {
                set_color(u->ren, c_hi_bg);
                SDL_RenderFillRect(u->ren, &box);
                tc = c_hi_text;
            }
            draw_text(u, f, word ? word : "?", x + 7, y, tc);
            /* p(word): a bar under the word (full width = 1), then the number. */
            SDL_Rect bar = {x + 7, y + fh, (int)((boxes[i].w - 14) * cap->word_prob[i] + 0.5f), 2};
            set_color(u->ren, i + 1 == cur ? c_hi_text : c_bar);
            SDL_RenderFillRect(u->ren, &bar);
            if (numbers) {
                char p[32];
                snprintf(p, sizeof p, "%.2f", (double)cap->word_prob[i]);
                int pw = text_width(u->prob_font, p);
                draw_text(u, u->prob_font, p, x + (boxes[i].w - pw) / 2, y + fh + 2,
                          i + 1 == cur ? c_hi_text : c_dim);
            }
        }
        free(boxes);
        free(line_w);

        if (cur > 0) {
            const int L = res->grid_rows * res->grid_cols;
            const float *a = cap->alpha + (size_t)(cur - 1) * L;
            const int am = hm_argmax(a, L);
            const char *word = cap_model_word(m, cap->tokens[cur - 1]);
            snprintf(info, sizeof info,
                     "word %d of %d: \xE2\x80\x9C%s\xE2\x80\x9D     p(word) %.3f     gate \xCE\xB2 "
                     "%.3f     peak \xCE\xB1 %.3f (uniform %.3f) at row %d, col %d",
                     cur, cap->n_tokens, word ? word : "?", (double)cap->word_prob[cur - 1],
                     (double)cap->beta[cur - 1], (double)a[am], 1.0 / L, am / res->grid_cols + 1,
                     am % res->grid_cols + 1);
        } else {
            snprintf(info, sizeof info,
                     "the photo alone: Right or Space steps through the words, P plays");
        }
    } else if (cap) {
        snprintf(info, sizeof info, "(the caption is empty)");
    } else if (e && st == ENTRY_FAILED) {
        snprintf(info, sizeof info, "cannot caption %s: %s", base_name(e->path), e->error);
    } else if (e) {
        snprintf(info, sizeof info, "captioning %s\xE2\x80\xA6", base_name(e->path));
    }
    const int info_y = win_h - VIEW_STATUS_H - VIEW_INFO_H;
    int iw = text_width(u->info_font, info);
    if (iw > max_w)
        iw = max_w;
    draw_text_fit(u, u->info_font, info, (win_w - iw) / 2, info_y + 4, max_w, c_text);

    /* Status bar. */
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

static void render(ui *u, const cap_model *m)
{
    int win_w = 0, win_h = 0;
    SDL_GetRendererOutputSize(u->ren, &win_w, &win_h);
    set_color(u->ren, c_bg);
    SDL_RenderClear(u->ren);

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
    draw_caption_panel(u, m, win_w, win_h);
    if (u->help)
        draw_help(u, win_w, win_h);
}

/* Draw the view into an offscreen target of the window's size and write it as a PNG.
 * Offscreen because reading the window's own back buffer is undefined for pixels the window
 * does not own yet (OpenGL's pixel ownership: not yet mapped, or covered), which is exactly
 * the state of a window opened a moment ago in scripted mode. */
static int save_view(ui *u, const cap_model *m, const char *path, char *why, size_t why_size)
{
    int w = 0, h = 0;
    SDL_GetRendererOutputSize(u->ren, &w, &h);
    unsigned char *px = malloc((size_t)w * h * 3);
    SDL_Texture *target = SDL_CreateTexture(u->ren, SDL_PIXELFORMAT_ARGB8888,
                                            SDL_TEXTUREACCESS_TARGET, w, h);
    int rc = -1;
    if (!px)
        snprintf(why, why_size, "out of memory");
    else if (!target || SDL_SetRenderTarget(u->ren, target) != 0)
        snprintf(why, why_size, "cannot render offscreen: %s", SDL_GetError());
    else {
        render(u, m);
        if (SDL_RenderReadPixels(u->ren, NULL, SDL_PIXELFORMAT_RGB24, px, w * 3) != 0)
            snprintf(why, why_size, "cannot read the pixels: %s", SDL_GetError());
        else
            rc = 0;
        SDL_SetRenderTarget(u->ren, NULL);
    }
    if (rc == 0)
        rc = cap_write_png(path, px, w, h, (size_t)w * 3, why, why_size);
    if (target)
        SDL_DestroyTexture(target);
    free(px);
    return rc;
}

/* A new file name for the S key: caption-view-NAME-wordK.png, -2, -3... if taken. */
static void screenshot_name(ui *u, char *buf, size_t size)
{
    entry_state st;
    entry *e = work_get(u->w, u->image, &st);
    char stem[256];
    snprintf(stem, sizeof stem, "%s", e ? base_name(e->path) : "image");
    char *dot = strrchr(stem, '.');
    if (dot && dot != stem)
        *dot = '\0';
    struct stat sb;
    for (int k = 1; k < 1000; k++) {
        if (k == 1)
            snprintf(buf, size, "caption-view-%s-word%d.png", stem, u->word);
        else
            snprintf(buf, size, "caption-view-%s-word%d-%d.png", stem, u->word, k);
        if (stat(buf, &sb) != 0)
            return;
    }
}

static int n_words(ui *u)
{
    const cap_caption *cap = current_caption(u, NULL);
    return cap ? cap->n_tokens : 0;
}

static void go_image(ui *u, int idx)
{
    int n = work_count(u->w);
    if (n < 1)
        return;
    u->image = ((idx % n) + n) % n;
    u->caption = 0;
    u->word = 1;
    u->playing = 0;
    work_want(u->w, u->image);
    entry_state st;
    entry *e = work_get(u->w, u->image, &st);
    char title[300];
    snprintf(title, sizeof title, "caption \xE2\x80\x94 %s", e ? base_name(e->path) : "");
    SDL_SetWindowTitle(u->win, title);
}

static void handle_key(ui *u, const SDL_Keysym *k, int *quit, int *save)
{
    const int n = n_words(u);
    switch (k->sym) {
    case SDLK_RIGHT:
    case SDLK_SPACE:
        if (u->word < n)
            u->word++;
        u->playing = 0;
        break;
    case SDLK_LEFT:
    case SDLK_BACKSPACE:
        if (u->word > 0)
            u->word--;
        u->playing = 0;
        break;
    case SDLK_HOME: u->word = n > 0 ? 1 : 0; u->playing = 0; break;
    case SDLK_END: u->word = n; u->playing = 0; break;
    case SDLK_p:
        u->playing = !u->playing;
        if (u->playing) {
            if (u->word >= n)
                u->word = n > 0 ? 1 : 0;
            u->next_step_at = SDL_GetTicks() + PLAY_INTERVAL_MS;
        }
        break;
    case SDLK_n: go_image(u, u->image + 1); break;
    case SDLK_b: go_image(u, u->image - 1); break;
    case SDLK_TAB: {
        const cap_result *res = NULL;
        if (current_caption(u, &res) && res->n_captions > 0) {
            int d = (k->mod & KMOD_SHIFT) ? res->n_captions - 1 : 1;
            u->caption = (u->caption + d) % res->n_captions;
            int nn = res->captions[u->caption].n_tokens;
            if (u->word > nn)
                u->word = nn;
        }
        break;
    }
    case SDLK_o: u->style = (hm_style)((u->style + 1) % HM_STYLE_COUNT); break;
    case SDLK_PLUS:
    case SDLK_EQUALS:
    case SDLK_KP_PLUS:
        u->opacity = u->opacity + OPACITY_STEP > 1.0f ? 1.0f : u->opacity + OPACITY_STEP;
        break;
    case SDLK_MINUS:
    case SDLK_KP_MINUS:
        u->opacity = u->opacity - OPACITY_STEP < 0.1f ? 0.1f : u->opacity - OPACITY_STEP;
        break;
    case SDLK_s: *save = 1; break;
    case SDLK_h:
    case SDLK_F1: u->help = !u->help; break;
    case SDLK_ESCAPE:
        if (u->help)
            u->help = 0;
        else
            *quit = 1;
        break;
    case SDLK_q: *quit = 1; break;
    default: break;
    }
}

static void handle_click(ui *u, int x, int y)
{
    SDL_Point p = {x, y};
    for (int i = 0; i < u->n_word_rects; i++)
        if (SDL_PointInRect(&p, &u->word_rects[i])) {
            u->word = i + 1;
            u->playing = 0;
            return;
        }
}

static int open_fonts(ui *u, const char *path)
{
    for (int k = 0; k < N_WORD_FONTS; k++)
        if (!(u->word_font[k] = TTF_OpenFont(path, word_font_px[k])))
            return -1;
    return (u->prob_font = TTF_OpenFont(path, 12)) && (u->info_font = TTF_OpenFont(path, 17)) &&
                   (u->small_font = TTF_OpenFont(path, 14))
               ? 0
               : -1;
}

static void close_ui(ui *u)
{
    for (int k = 0; k < N_WORD_FONTS; k++)
        if (u->word_font[k])
            TTF_CloseFont(u->word_font[k]);
    if (u->prob_font)
        TTF_CloseFont(u->prob_font);
    if (u->info_font)
        TTF_CloseFont(u->info_font);
    if (u->small_font)
        TTF_CloseFont(u->small_font);
    if (u->tex)
        SDL_DestroyTexture(u->tex);
    if (u->ren)
        SDL_DestroyRenderer(u->ren);
    if (u->win)
        SDL_DestroyWindow(u->win);
    cap_image_free(&u->scaled);
    free(u->composed);
    free(u->word_rects);
}

int caption_view_available(void) { return 1; }

/* S key: save the view under a new name in the current folder and say so. */
static void save_and_tell(ui *u, const cap_model *m)
{
    char path[600], why[300], msg[1000];
    screenshot_name(u, path, sizeof path);
    if (save_view(u, m, path, why, sizeof why) == 0)
        snprintf(msg, sizeof msg, "saved %s", path);
    else
        snprintf(msg, sizeof msg, "cannot save %s: %s", path, why);
    show_message(u, msg);
    render(u, m);
}

/* Apply one token of view_options.keys (see viewer.h). Returns 0, or -1 if unknown. */
static int script_token(ui *u, const char *tok, int *quit, int *save, Uint32 *wait_until)
{
    int x, y;
    if (strncmp(tok, "click:", 6) == 0) {
        if (sscanf(tok + 6, "%d,%d", &x, &y) != 2)
            return -1;
        handle_click(u, x, y);
        return 0;
    }
    if (strncmp(tok, "drop:", 5) == 0) {
        int idx = work_add(u->w, tok + 5);
        if (idx >= 0)
            go_image(u, idx);
        return 0;
    }
    if (strncmp(tok, "wait:", 5) == 0) {
        *wait_until = SDL_GetTicks() + (Uint32)atoi(tok + 5);
        return 0;
    }
    SDL_Keysym k;
    memset(&k, 0, sizeof k);
    if (strncmp(tok, "Shift+", 6) == 0) {
        k.mod = KMOD_LSHIFT;
        tok += 6;
    }
    k.sym = SDL_GetKeyFromName(tok);
    if (k.sym == SDLK_UNKNOWN)
        return -1;
    handle_key(u, &k, quit, save);
    return 0;
}

/* The event loop; returns the exit code. In scripted mode it waits for the caption, goes
 * to vo->step, replays vo->keys, then writes the screenshot and returns. */
static int run(ui *u, const cap_model *m, const view_options *vo)
{
    const int scripted = vo->screenshot != NULL;
    const char *script = vo->keys ? vo->keys : "";
    int stepped = 0;
    Uint32 wait_until = 0;
    int quit = 0;
    while (!quit) {
        Uint32 now = SDL_GetTicks();
        int timeout = scripted ? 10 : 500;
        if (u->playing && !scripted)
            timeout = SDL_TICKS_PASSED(now, u->next_step_at) ? 0 : (int)(u->next_step_at - now);
        SDL_Event ev;
        int save = 0;
        int got = SDL_WaitEventTimeout(&ev, timeout);
        while (got) {
            switch (ev.type) {
            case SDL_QUIT: quit = 1; break;
            case SDL_KEYDOWN:
                if (!scripted)
                    handle_key(u, &ev.key.keysym, &quit, &save);
                break;
            case SDL_MOUSEBUTTONDOWN:
                if (!scripted && ev.button.button == SDL_BUTTON_LEFT)
                    handle_click(u, ev.button.x, ev.button.y);
                break;
            case SDL_DROPFILE: {
                if (!scripted) {
                    int idx = work_add(u->w, ev.drop.file);
                    if (idx >= 0)
                        go_image(u, idx);
                }
                SDL_free(ev.drop.file);
                break;
            }
            case SDL_RENDER_DEVICE_RESET:
                /* Texture contents are lost; the next frame makes a new one. */
                if (u->tex)
                    SDL_DestroyTexture(u->tex);
                u->tex = NULL;
                break;
            default: break;
            }
            got = SDL_PollEvent(&ev);
        }
        /* The first word was requested before the caption existed: fit it now. */
        const cap_caption *cap = current_caption(u, NULL);
        if (cap && u->word > cap->n_tokens)
            u->word = cap->n_tokens;
        if (u->playing && SDL_TICKS_PASSED(SDL_GetTicks(), u->next_step_at)) {
            const int n = n_words(u);
            if (u->word < n)
                u->word++;
            if (u->word >= n)
                u->playing = 0;
            u->next_step_at += PLAY_INTERVAL_MS;
        }

        if (scripted) {
            entry_state st;
            work_get(u->w, u->image, &st);
            if (st != ENTRY_DONE && st != ENTRY_FAILED)
                continue; /* nothing to show or click on yet */
            if (wait_until && !SDL_TICKS_PASSED(SDL_GetTicks(), wait_until))
                continue;
            wait_until = 0;
            if (!stepped) {
                const int n = n_words(u);
                u->word = vo->step < 0 ? 0 : (vo->step > n ? n : vo->step);
                stepped = 1;
                render(u, m); /* lays out the word boxes that clicks hit */
            }
            while (*script == ' ')
                script++;
            if (*script) {
                char tok[1024];
                size_t len = strcspn(script, " ");
                snprintf(tok, sizeof tok, "%.*s", (int)len, script);
                script += len;
                int ignored_quit = 0; /* the screenshot is still due */
                if (script_token(u, tok, &ignored_quit, &save, &wait_until) != 0) {
                    fprintf(stderr, "caption: --view: unknown key '%s' in the script\n", tok);
                    return 2;
                }
                render(u, m);
                if (save)
                    save_and_tell(u, m);
                continue;
            }
            char why[300];
            int rc = save_view(u, m, vo->screenshot, why, sizeof why);
            if (rc != 0)
                fprintf(stderr, "caption: %s: %s\n", vo->screenshot, why);
            return rc != 0 || st == ENTRY_FAILED ? 1 : 0;
        }
        render(u, m);
        if (save)
            save_and_tell(u, m);
        SDL_RenderPresent(u->ren);
    }
    return 0;
}

int caption_view(const cap_model *model, const cap_options *opt, const char *const *paths,
                 int n_paths, const view_options *vo_in)
{
    if (!model || !opt || !paths || n_paths < 1) {
        fprintf(stderr, "caption: --view: no image to show\n");
        return 2;
    }
    const view_options vo = vo_in ? *vo_in : view_options_default();
    const char *font_path = vo.font_path ? vo.font_path : text_default_font_path();

    if (SDL_Init(SDL_INIT_VIDEO | SDL_INIT_EVENTS) != 0) {
        fprintf(stderr, "caption: --view: cannot open a window: %s\n", SDL_GetError());
        return 1;
    }
    /* Without a display SDL falls back to its invisible "offscreen" driver: fine for a
     * scripted screenshot, but an interactive window there would wait forever for keys
     * nobody can press. Someone who sets SDL_VIDEODRIVER gets what they asked for. */
    const char *driver = SDL_GetCurrentVideoDriver();
    const char *asked = SDL_getenv("SDL_VIDEODRIVER");
    if (!vo.screenshot && driver && (!asked || !*asked) &&
        (strcmp(driver, "offscreen") == 0 || strcmp(driver, "dummy") == 0)) {
        fprintf(stderr, "caption: --view: no display to open a window on (is DISPLAY set?)\n");
        SDL_Quit();
        return 1;
    }
    if (TTF_Init() != 0) {
        fprintf(stderr, "caption: --view: SDL2_ttf: %s\n", TTF_GetError());
        SDL_Quit();
        return 1;
    }
    int rc = 1;
    work w = {0};
    ui u;
    memset(&u, 0, sizeof u);
    SDL_Thread *thread = NULL;
    w.model = model;
    w.opt = *opt;
    w.lock = SDL_CreateMutex();
    w.wake = SDL_CreateCond();
    w.done_event = SDL_RegisterEvents(1);
    if (!w.lock || !w.wake || w.done_event == (Uint32)-1) {
        fprintf(stderr, "caption: --view: %s\n", SDL_GetError());
        goto done;
    }
    for (int i = 0; i < n_paths; i++)
        if (work_add(&w, paths[i]) < 0) {
            fprintf(stderr, "caption: --view: out of memory\n");
            goto done;
        }

    u.w = &w;
    u.scaled_image = -1;
    u.shown.image = -1;
    u.style = vo.overlay >= 0 && vo.overlay < HM_STYLE_COUNT ? (hm_style)vo.overlay : HM_HEATMAP;
    u.opacity = vo.opacity > 0.0f && vo.opacity <= 1.0f ? vo.opacity : HM_DEFAULT_OPACITY;
    u.word = vo.step < 0 ? 0 : vo.step;
    u.caption = vo.caption_index > 0 ? vo.caption_index : 0;
    if (open_fonts(&u, font_path) != 0) {
        fprintf(stderr, "caption: font %s: %s\n", font_path, TTF_GetError());
        goto done;
    }
    /* Start captioning before the window exists: its set-up takes a while too. */
    thread = SDL_CreateThread(worker_main, "caption-worker", &w);
    if (!thread) {
        fprintf(stderr, "caption: --view: cannot start the worker thread: %s\n", SDL_GetError());
        goto done;
    }
    char title[300];
    snprintf(title, sizeof title, "caption \xE2\x80\x94 %s", base_name(paths[0]));
    u.win = SDL_CreateWindow(title, SDL_WINDOWPOS_CENTERED, SDL_WINDOWPOS_CENTERED,
                             vo.width > 0 ? vo.width : 1024, vo.height > 0 ? vo.height : 768,
                             SDL_WINDOW_RESIZABLE);
    if (u.win)
        u.ren = SDL_CreateRenderer(u.win, -1, 0);
    if (!u.win || !u.ren) {
        fprintf(stderr, "caption: --view: cannot open a window: %s\n", SDL_GetError());
        goto done;
    }
    SDL_SetWindowMinimumSize(u.win, 640, 480);
    SDL_EventState(SDL_DROPFILE, SDL_ENABLE);
    rc = run(&u, model, &vo);

done:
    if (thread) {
        SDL_LockMutex(w.lock);
        w.quit = 1;
        SDL_CondSignal(w.wake);
        SDL_UnlockMutex(w.lock);
        SDL_WaitThread(thread, NULL);
    }
    close_ui(&u);
    for (int i = 0; i < w.n; i++) {
        cap_image_free(&w.entries[i]->photo);
        cap_result_free(&w.entries[i]->result);
        free(w.entries[i]->path);
        free(w.entries[i]);
    }
    free(w.entries);
    if (w.wake)
        SDL_DestroyCond(w.wake);
    if (w.lock)
        SDL_DestroyMutex(w.lock);
    TTF_Quit();
    SDL_Quit();
    return rc;
}
