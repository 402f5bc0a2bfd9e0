/* viewer_internal.h - the SDL viewer's window state (struct ui), shared by its files:
 *
 *   window.c      set-up, the event loop and caption_view
 *   view_state.c  what is on screen: the current caption, moving between images, messages
 *   input.c       keys and clicks
 *   draw.c        one frame: photo and overlay, caption panel, status bar, help
 *   screenshot.c  the view saved as a PNG (S key, scripted mode)
 *   script.c      scripted mode: view_options.keys replayed, then the screenshot
 *   worker.c      the captioning thread (worker.h)
 *
 * Everything here runs on the UI thread; the worker's data is reached through worker.h.
 */
#ifndef CAPTION_VIEWER_INTERNAL_H
#define CAPTION_VIEWER_INTERNAL_H

#include "render/heatmap.h"
#include "viewer/viewer.h"
#include "viewer/worker.h"

#include <SDL.h>
#include <SDL_ttf.h>

#include <stddef.h>

#define PLAY_INTERVAL_MS 1000

/* The caption's words, largest first: the panel uses the largest whose lines all fit. */
#define N_WORD_FONTS 3

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

/* view_state.c */

/* The caption on screen, or NULL while the image is not captioned; *res_out (if not NULL)
 * gets its result. Resets an n-best index the result does not have to 0. */
const cap_caption *view_current_caption(ui *u, const cap_result **res_out);

/* Words of the caption on screen; 0 while it is not captioned. */
int view_n_words(ui *u);

/* Show image idx (wrapping around), from its first word, and caption it first. */
void view_go_image(ui *u, int idx);

/* The window title for an image: "caption — NAME". */
void view_window_title(const char *path, char *buf, size_t size);

/* Show msg in the status bar for a few seconds. */
void view_show_message(ui *u, const char *msg);

/* input.c: one key press or left click; *quit and *save are set by Q/Esc and S. */
void view_handle_key(ui *u, const SDL_Keysym *k, int *quit, int *save);
void view_handle_click(ui *u, int x, int y);

/* draw.c: draw the whole view into the current render target (not presented). */
void view_render(ui *u, const cap_model *m);

/* screenshot.c */

/* Draw the view offscreen and write it to path as a PNG. Returns 0, or -1 with a reason in
 * why (why_size bytes). */
int view_save_png(ui *u, const cap_model *m, const char *path, char *why, size_t why_size);

/* S key: save the view under a new name in the current folder and say so. */
void view_save_and_tell(ui *u, const cap_model *m);

/* script.c: scripted mode (view_options.screenshot set). */
typedef struct view_script {
    const char *next; /* the rest of view_options.keys */
    int stepped;      /* went to view_options.step already */
    Uint32 wait_until; /* a "wait:MS" token's end; 0 when not waiting */
} view_script;

void view_script_start(view_script *s, const view_options *vo);

/* Called once per pass of the event loop: once the image on screen is captioned, go to
 * vo->step, replay one token, or, when none is left, write the screenshot. Returns -1 to be
 * called again, else caption_view's exit code. */
int view_script_advance(view_script *s, ui *u, const cap_model *m, const view_options *vo);

#endif
