/* viewer_stub.c - caption_view in builds without SDL2/SDL2_ttf (meson -Dviewer=disabled or
 * the libraries not found), so that the CLI links and explains instead of failing to build. */
#include "viewer/viewer.h"

#include <stdio.h>

int caption_view_available(void) { return 0; }

int caption_view(const cap_model *model, const cap_options *opt, const char *const *paths,
                 int n_paths, const view_options *vo)
{
    (void)model;
    (void)opt;
    (void)paths;
    (void)n_paths;
    (void)vo;
    fprintf(stderr, "caption: --view: this build has no viewer (it needs SDL2 and SDL2_ttf; "
                    "see meson option 'viewer')\n");
    return 1;
}
