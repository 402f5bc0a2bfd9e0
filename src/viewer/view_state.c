/* view_state.c - what the viewer shows: the caption on screen, moving to another image,
 * and the status bar's passing messages. */
#include "viewer/base_name.h"
#include "viewer/viewer_internal.h"

#include <stdio.h>

#define MESSAGE_MS 4000

const cap_caption *view_current_caption(ui *u, const cap_result **res_out)
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

int view_n_words(ui *u)
{
    const cap_caption *cap = view_current_caption(u, NULL);
    return cap ? cap->n_tokens : 0;
}

void view_window_title(const char *path, char *buf, size_t size)
{
    snprintf(buf, size, "caption \xE2\x80\x94 %s", path ? base_name(path) : "");
}

void view_go_image(ui *u, int idx)
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
    view_window_title(e ? e->path : NULL, title, sizeof title);
    SDL_SetWindowTitle(u->win, title);
}

void view_show_message(ui *u, const char *msg)
{
    snprintf(u->message, sizeof u->message, "%s", msg);
    u->message_until = SDL_GetTicks() + MESSAGE_MS;
}
