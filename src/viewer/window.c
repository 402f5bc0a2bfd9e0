/* window.c - the SDL2 attention viewer behind `caption --view` (see viewer.h): SDL set-up,
 * the window and its fonts, and the event loop. A worker thread (worker.h) captions the
 * images meanwhile; viewer_internal.h lists which file does what. */
#include "render/text.h"
#include "viewer/viewer_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const int word_font_px[N_WORD_FONTS] = {26, 21, 17};

int caption_view_available(void) { return 1; }

/* SDL and SDL2_ttf, or 1 after saying why not. */
static int init_sdl(const view_options *vo)
{
    if (SDL_Init(SDL_INIT_VIDEO | SDL_INIT_EVENTS) != 0) {
        fprintf(stderr, "caption: --view: cannot open a window: %s\n", SDL_GetError());
        return 1;
    }
    /* Without a display SDL falls back to its invisible "offscreen" driver: fine for a
     * scripted screenshot, but an interactive window there would wait forever for keys
     * nobody can press. Someone who sets SDL_VIDEODRIVER gets what they asked for. */
    const char *driver = SDL_GetCurrentVideoDriver();
    const char *asked = SDL_getenv("SDL_VIDEODRIVER");
    if (!vo->screenshot && driver && (!asked || !*asked) &&
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
    return 0;
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

/* The first view as vo asks for it (out-of-range values give the defaults), and the fonts.
 * Returns 0, or -1 after saying why. */
static int init_ui(ui *u, work *w, const view_options *vo)
{
    const char *font_path = vo->font_path ? vo->font_path : text_default_font_path();
    u->w = w;
    u->scaled_image = -1;
    u->shown.image = -1;
    u->style =
        vo->overlay >= 0 && vo->overlay < HM_STYLE_COUNT ? (hm_style)vo->overlay : HM_HEATMAP;
    u->opacity = vo->opacity > 0.0f && vo->opacity <= 1.0f ? vo->opacity : HM_DEFAULT_OPACITY;
    u->word = vo->step < 0 ? 0 : vo->step;
    u->caption = vo->caption_index > 0 ? vo->caption_index : 0;
    if (open_fonts(u, font_path) != 0) {
        fprintf(stderr, "caption: font %s: %s\n", font_path, TTF_GetError());
        return -1;
    }
    return 0;
}

/* The window, titled after the first image. Returns 0, or -1 after saying why. */
static int open_window(ui *u, const char *first_path, const view_options *vo)
{
    char title[300];
    view_window_title(first_path, title, sizeof title);
    u->win = SDL_CreateWindow(title, SDL_WINDOWPOS_CENTERED, SDL_WINDOWPOS_CENTERED,
                              vo->width > 0 ? vo->width : 1024, vo->height > 0 ? vo->height : 768,
                              SDL_WINDOW_RESIZABLE);
    if (u->win)
        u->ren = SDL_CreateRenderer(u->win, -1, 0);
    if (!u->win || !u->ren) {
        fprintf(stderr, "caption: --view: cannot open a window: %s\n", SDL_GetError());
        return -1;
    }
    SDL_SetWindowMinimumSize(u->win, 640, 480);
    SDL_EventState(SDL_DROPFILE, SDL_ENABLE);
    return 0;
}

static void close_ui(ui *u)
{
    /* TTF_CloseFont accepts NULL: fonts that failed to open are NULL. */
    for (int k = 0; k < N_WORD_FONTS; k++)
        TTF_CloseFont(u->word_font[k]);
    TTF_Font *others[] = {u->prob_font, u->info_font, u->small_font};
    for (size_t k = 0; k < sizeof others / sizeof others[0]; k++)
        TTF_CloseFont(others[k]);
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

/* How long to wait for events: briefly in scripted mode (the worker's progress is polled),
 * else until the next word of a playing caption, or half a second. */
static int event_timeout(const ui *u, int scripted)
{
    Uint32 now = SDL_GetTicks();
    int timeout = scripted ? 10 : 500;
    if (u->playing && !scripted)
        timeout = SDL_TICKS_PASSED(now, u->next_step_at) ? 0 : (int)(u->next_step_at - now);
    return timeout;
}

/* One event. In scripted mode the user's keys, clicks and drops are ignored: only the
 * script drives the view. */
static void handle_event(ui *u, SDL_Event *ev, int scripted, int *quit, int *save)
{
    switch (ev->type) {
    case SDL_QUIT: *quit = 1; break;
    case SDL_KEYDOWN:
        if (!scripted)
            view_handle_key(u, &ev->key.keysym, quit, save);
        break;
    case SDL_MOUSEBUTTONDOWN:
        if (!scripted && ev->button.button == SDL_BUTTON_LEFT)
            view_handle_click(u, ev->button.x, ev->button.y);
        break;
    case SDL_DROPFILE: {
        if (!scripted) {
            int idx = work_add(u->w, ev->drop.file);
            if (idx >= 0)
                view_go_image(u, idx);
        }
        SDL_free(ev->drop.file);
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
}

/* Between events: fit a word asked for before the caption existed, and play on. */
static void tick(ui *u)
{
    const cap_caption *cap = view_current_caption(u, NULL);
    if (cap && u->word > cap->n_tokens)
        u->word = cap->n_tokens;
    if (u->playing && SDL_TICKS_PASSED(SDL_GetTicks(), u->next_step_at)) {
        const int n = view_n_words(u);
        if (u->word < n)
            u->word++;
        if (u->word >= n)
            u->playing = 0;
        u->next_step_at += PLAY_INTERVAL_MS;
    }
}

/* The event loop; returns the exit code. In scripted mode script.c decides when it ends. */
static int run(ui *u, const cap_model *m, const view_options *vo)
{
    const int scripted = vo->screenshot != NULL;
    view_script script;
    view_script_start(&script, vo);
    int quit = 0;
    while (!quit) {
        SDL_Event ev;
        int save = 0;
        int got = SDL_WaitEventTimeout(&ev, event_timeout(u, scripted));
        for (; got; got = SDL_PollEvent(&ev))
            handle_event(u, &ev, scripted, &quit, &save);
        tick(u);
        if (scripted) {
            const int rc = view_script_advance(&script, u, m, vo);
            if (rc >= 0)
                return rc;
            continue;
        }
        view_render(u, m);
        if (save)
            view_save_and_tell(u, m);
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
    if (init_sdl(&vo) != 0)
        return 1;
    int rc = 1;
    work w;
    ui u;
    memset(&w, 0, sizeof w);
    memset(&u, 0, sizeof u);
    SDL_Thread *thread = NULL;
    /* The worker starts before the window exists: the window's set-up takes a while too. */
    if (work_init(&w, model, opt, vo.caption_fn, paths, n_paths) == 0 &&
        init_ui(&u, &w, &vo) == 0 &&
        (thread = work_start(&w)) != NULL && open_window(&u, paths[0], &vo) == 0)
        rc = run(&u, model, &vo);
    work_stop(&w, thread);
    close_ui(&u);
    work_free(&w);
    TTF_Quit();
    SDL_Quit();
    return rc;
}
