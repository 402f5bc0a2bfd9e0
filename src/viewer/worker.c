/* worker.c - the viewer's captioning thread and its image list (see worker.h). */
#include "viewer/worker.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
            st = w->caption(w->model, &img, &opt, &res, &err);
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

int work_init(work *w, const cap_model *model, const cap_options *opt,
              view_caption_fn caption,
              const char *const *paths, int n_paths)
{
    w->model = model;
    w->opt = *opt;
    w->caption = caption ? caption : cap_caption_image;
    w->lock = SDL_CreateMutex();
    w->wake = SDL_CreateCond();
    w->done_event = SDL_RegisterEvents(1);
    if (!w->lock || !w->wake || w->done_event == (Uint32)-1) {
        fprintf(stderr, "caption: --view: %s\n", SDL_GetError());
        return -1;
    }
    for (int i = 0; i < n_paths; i++)
        if (work_add(w, paths[i]) < 0) {
            fprintf(stderr, "caption: --view: out of memory\n");
            return -1;
        }
    return 0;
}

SDL_Thread *work_start(work *w)
{
    SDL_Thread *thread = SDL_CreateThread(worker_main, "caption-worker", w);
    if (!thread)
        fprintf(stderr, "caption: --view: cannot start the worker thread: %s\n", SDL_GetError());
    return thread;
}

void work_stop(work *w, SDL_Thread *thread)
{
    if (!thread)
        return;
    SDL_LockMutex(w->lock);
    w->quit = 1;
    SDL_CondSignal(w->wake);
    SDL_UnlockMutex(w->lock);
    SDL_WaitThread(thread, NULL);
}

void work_free(work *w)
{
    for (int i = 0; i < w->n; i++) {
        cap_image_free(&w->entries[i]->photo);
        cap_result_free(&w->entries[i]->result);
        free(w->entries[i]->path);
        free(w->entries[i]);
    }
    free(w->entries);
    if (w->wake)
        SDL_DestroyCond(w->wake);
    if (w->lock)
        SDL_DestroyMutex(w->lock);
}

int work_add(work *w, const char *path)
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

entry *work_get(work *w, int idx, entry_state *state)
{
    SDL_LockMutex(w->lock);
    entry *e = idx >= 0 && idx < w->n ? w->entries[idx] : NULL;
    *state = e ? e->state : ENTRY_FAILED;
    SDL_UnlockMutex(w->lock);
    return e;
}

void work_want(work *w, int idx)
{
    SDL_LockMutex(w->lock);
    w->wanted = idx;
    SDL_CondSignal(w->wake);
    SDL_UnlockMutex(w->lock);
}

int work_count(work *w)
{
    SDL_LockMutex(w->lock);
    int n = w->n;
    SDL_UnlockMutex(w->lock);
    return n;
}
