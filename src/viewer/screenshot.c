/* screenshot.c - the view written as a PNG: under a new name for the S key, or where
 * scripted mode was told to. */
#include "render/png_write.h"
#include "viewer/base_name.h"
#include "viewer/viewer_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Drawn into an offscreen target of the window's size because reading the window's own back
 * buffer is undefined for pixels the window does not own yet (OpenGL's pixel ownership: not
 * yet mapped, or covered), which is exactly the state of a window opened a moment ago in
 * scripted mode. */
int view_save_png(ui *u, const cap_model *m, const char *path, char *why, size_t why_size)
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
        view_render(u, m);
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

void view_save_and_tell(ui *u, const cap_model *m)
{
    char path[600], why[300], msg[1000];
    screenshot_name(u, path, sizeof path);
    if (view_save_png(u, m, path, why, sizeof why) == 0)
        snprintf(msg, sizeof msg, "saved %s", path);
    else
        snprintf(msg, sizeof msg, "cannot save %s: %s", path, why);
    view_show_message(u, msg);
    view_render(u, m);
}
