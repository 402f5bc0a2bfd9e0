/* viewer_module.h - `caption --view` and `--attention-png` (src/viewer/viewer.h) from the
 * caption-viewer module, loaded only when one of them is asked for. Linked into the program,
 * SDL2 and the fifty-odd libraries it pulls in (X11, Wayland, PulseAudio, ...) were loaded
 * and relocated by every run, about 30 ms of a one-photo run's start (docs/speed.md). */
#ifndef CAPTION_CLI_VIEWER_MODULE_H
#define CAPTION_CLI_VIEWER_MODULE_H

#include "viewer/viewer.h"

typedef struct viewer_module {
    view_options (*options_default)(void);         /* view_options_default */
    int (*view)(const cap_model *model, const cap_options *opt, const char *const *paths,
                int n_paths, const view_options *vo); /* caption_view */
    int (*attention_png)(const cap_model *model, const cap_options *opt,
                         const char *image_path, const char *out_png); /* caption_attention_png */
} viewer_module;

/*
 * Load the module and find its entry points: first caption-viewer.so next to the executable
 * (a build tree), else the one `meson install` put in LIBDIR/caption. It stays loaded until
 * the process ends (SDL registers exit handlers). Returns 0, or -1 after printing one line
 * "caption: ..." on stderr.
 */
int viewer_module_open(viewer_module *m);

#endif
