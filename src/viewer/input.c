/* input.c - what the viewer's keys and clicks do (the help overlay in draw.c lists them). */
#include "viewer/viewer_internal.h"

#define OPACITY_STEP 0.1f

/* P: start playing from the first word if the last one is on screen, or pause. */
static void toggle_play(ui *u, int n)
{
    u->playing = !u->playing;
    if (u->playing) {
        if (u->word >= n)
            u->word = n > 0 ? 1 : 0;
        u->next_step_at = SDL_GetTicks() + PLAY_INTERVAL_MS;
    }
}

/* Tab / Shift+Tab: the next or previous of the beam's n-best captions, keeping the word
 * position where the new caption has it. */
static void next_caption(ui *u, int backwards)
{
    const cap_result *res = NULL;
    if (view_current_caption(u, &res) && res->n_captions > 0) {
        int d = backwards ? res->n_captions - 1 : 1;
        u->caption = (u->caption + d) % res->n_captions;
        int nn = res->captions[u->caption].n_tokens;
        if (u->word > nn)
            u->word = nn;
    }
}

void view_handle_key(ui *u, const SDL_Keysym *k, int *quit, int *save)
{
    const int n = view_n_words(u);
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
    case SDLK_p: toggle_play(u, n); break;
    case SDLK_n: view_go_image(u, u->image + 1); break;
    case SDLK_b: view_go_image(u, u->image - 1); break;
    case SDLK_TAB: next_caption(u, (k->mod & KMOD_SHIFT) != 0); break;
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

void view_handle_click(ui *u, int x, int y)
{
    SDL_Point p = {x, y};
    for (int i = 0; i < u->n_word_rects; i++)
        if (SDL_PointInRect(&p, &u->word_rects[i])) {
            u->word = i + 1;
            u->playing = 0;
            return;
        }
}
