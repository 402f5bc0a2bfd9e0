/* progress.h - a one-line progress bar on stderr, drawn only when stderr is a terminal. */
#ifndef CAPTION_CLI_PROGRESS_H
#define CAPTION_CLI_PROGRESS_H

#include <stddef.h>

typedef struct progress {
    int enabled;
    size_t total;
    double t0, last_draw; /* monotonic seconds */
    int drawn;            /* a bar is on the screen and must be erased before other output */
} progress;

/* enabled: the caller's decision (stderr is a terminal and not --quiet). */
void progress_init(progress *p, int enabled, size_t total);

/* Redraw with done/total, images per second, ETA and failures, at most 10 times a second
 * unless force. */
void progress_update(progress *p, size_t done, size_t failed, int force);

/* Erase the bar, so that a message can be printed on a clean line; the next update redraws. */
void progress_clear(progress *p);

/* Draw the final state and end the line. */
void progress_finish(progress *p, size_t done, size_t failed);

#endif
