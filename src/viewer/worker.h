/* worker.h - the viewer's captioning thread and the list of images it works through.
 *
 * The UI thread owns the window and never captions. One worker thread decodes and captions
 * images, the one on screen first, then the next one ahead of time, so stepping to the next
 * photo is usually instant and the window keeps answering while a photo is captioned.
 */
#ifndef CAPTION_VIEWER_WORKER_H
#define CAPTION_VIEWER_WORKER_H

#include "caption.h"
#include "viewer/viewer.h"

#include <SDL.h>

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
    /* view_options.caption_fn, else cap_caption_image */
    view_caption_fn caption;
    Uint32 done_event; /* SDL user event pushed when an entry finishes */
} work;

/* Set up *w (zeroed by the caller) for captioning paths[0..n_paths-1] with *opt, by caption
 * (NULL: cap_caption_image). Returns 0, or -1 after printing why; *w may then be partly set
 * up and is released by work_free. */
int work_init(work *w, const cap_model *model, const cap_options *opt,
              view_caption_fn caption,
              const char *const *paths, int n_paths);

/* Start the worker thread; NULL (after printing why) if it cannot start. */
SDL_Thread *work_start(work *w);

/* Ask the thread to finish its current image and stop, and wait for it. NULL: nothing. */
void work_stop(work *w, SDL_Thread *thread);

/* Release the entries and the lock of a stopped (or never started) worker. */
void work_free(work *w);

/* Append an image; returns its index or -1 when out of memory. */
int work_add(work *w, const char *path);

/* Snapshot of an entry for the UI: pointer plus its state read under the lock. */
entry *work_get(work *w, int idx, entry_state *state);

/* Caption entry idx before any other (the one now on screen). */
void work_want(work *w, int idx);

int work_count(work *w);

#endif
