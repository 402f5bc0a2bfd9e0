/* script.c - scripted mode, for tests and docs: once the first image is captioned, go to
 * view_options.step, replay view_options.keys one token at a time (see viewer.h), then save
 * the screenshot. Tokens go through the same handlers as real keys, clicks and drops. */
#include "viewer/viewer_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void view_script_start(view_script *s, const view_options *vo)
{
    s->next = vo->keys ? vo->keys : "";
    s->stepped = 0;
    s->wait_until = 0;
}

/* Apply one token. Returns 0, or -1 if unknown. */
static int script_token(ui *u, const char *tok, int *quit, int *save, Uint32 *wait_until)
{
    int x, y;
    if (strncmp(tok, "click:", 6) == 0) {
        if (sscanf(tok + 6, "%d,%d", &x, &y) != 2)
            return -1;
        view_handle_click(u, x, y);
        return 0;
    }
    if (strncmp(tok, "drop:", 5) == 0) {
        int idx = work_add(u->w, tok + 5);
        if (idx >= 0)
            view_go_image(u, idx);
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
    view_handle_key(u, &k, quit, save);
    return 0;
}

/* Cut the next space-separated token off s->next into tok; 0 when none is left. */
static int next_token(view_script *s, char *tok, size_t size)
{
    while (*s->next == ' ')
        s->next++;
    if (!*s->next)
        return 0;
    size_t len = strcspn(s->next, " ");
    snprintf(tok, size, "%.*s", (int)len, s->next);
    s->next += len;
    return 1;
}

/* Replay one token and show its result. Returns 0, or 2 (caption_view's code for invalid
 * arguments) for an unknown token. */
static int replay(view_script *s, ui *u, const cap_model *m, const char *tok)
{
    int ignored_quit = 0; /* the screenshot is still due */
    int save = 0;
    if (script_token(u, tok, &ignored_quit, &save, &s->wait_until) != 0) {
        fprintf(stderr, "caption: --view: unknown key '%s' in the script\n", tok);
        return 2;
    }
    view_render(u, m);
    if (save)
        view_save_and_tell(u, m);
    return 0;
}

int view_script_advance(view_script *s, ui *u, const cap_model *m, const view_options *vo)
{
    entry_state st;
    work_get(u->w, u->image, &st);
    if (st != ENTRY_DONE && st != ENTRY_FAILED)
        return -1; /* nothing to show or click on yet */
    if (s->wait_until && !SDL_TICKS_PASSED(SDL_GetTicks(), s->wait_until))
        return -1;
    s->wait_until = 0;
    if (!s->stepped) {
        const int n = view_n_words(u);
        u->word = vo->step < 0 ? 0 : (vo->step > n ? n : vo->step);
        s->stepped = 1;
        view_render(u, m); /* lays out the word boxes that clicks hit */
    }
    char tok[1024];
    if (next_token(s, tok, sizeof tok))
        return replay(s, u, m, tok) != 0 ? 2 : -1;
    char why[300];
    int rc = view_save_png(u, m, vo->screenshot, why, sizeof why);
    if (rc != 0)
        fprintf(stderr, "caption: %s: %s\n", vo->screenshot, why);
    return rc != 0 || st == ENTRY_FAILED ? 1 : 0;
}
