/* clock.h - the one clock used for timings, progress and fsync pacing. */
#ifndef CAPTION_COMMON_CLOCK_H
#define CAPTION_COMMON_CLOCK_H

/* Seconds on CLOCK_MONOTONIC (arbitrary origin; only differences mean anything). */
double clock_seconds(void);

#endif
