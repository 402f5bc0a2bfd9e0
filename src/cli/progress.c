/* progress.c - the progress bar: "\r" redraws one line; "\033[K" erases what a longer previous
 * line left behind. Everything goes to stderr, never stdout, so piped output stays clean. */
#include "progress.h"
#include "common/clock.h"

#include <stdio.h>
#include <time.h>

enum { BAR_WIDTH = 24 };

void progress_init(progress *p, int enabled, size_t total)
{
    p->enabled = enabled;
    p->total = total;
    p->t0 = p->last_draw = clock_seconds();
    p->drawn = 0;
}

static void format_duration(char *buf, size_t size, double s)
{
    long t = (long)(s + 0.5);
    if (t >= 3600)
        snprintf(buf, size, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
    else
        snprintf(buf, size, "%ld:%02ld", t / 60, t % 60);
}

void progress_update(progress *p, size_t done, size_t failed, int force)
{
    if (!p->enabled)
        return;
    double t = clock_seconds();
    if (!force && t - p->last_draw < 0.1)
        return;
    p->last_draw = t;
    double elapsed = t - p->t0;
    double rate = elapsed > 0 ? (double)done / elapsed : 0;
    int filled = p->total ? (int)((double)BAR_WIDTH * (double)done / (double)p->total) : BAR_WIDTH;
    char bar[BAR_WIDTH + 1];
    for (int i = 0; i < BAR_WIDTH; i++)
        bar[i] = i < filled ? '#' : '.';
    bar[BAR_WIDTH] = '\0';
    char eta[32] = "?";
    if (done >= p->total)
        format_duration(eta, sizeof eta, 0);
    else if (rate > 0)
        format_duration(eta, sizeof eta, (double)(p->total - done) / rate);
    fprintf(stderr, "\r[%s] %zu/%zu  %.1f img/s  ETA %s", bar, done, p->total, rate, eta);
    if (failed)
        fprintf(stderr, "  %zu failed", failed);
    fputs("\033[K", stderr);
    fflush(stderr);
    p->drawn = 1;
}

void progress_clear(progress *p)
{
    if (p->enabled && p->drawn) {
        fputs("\r\033[K", stderr);
        p->drawn = 0;
    }
}

void progress_finish(progress *p, size_t done, size_t failed)
{
    if (!p->enabled)
        return;
    progress_update(p, done, failed, 1);
    fputc('\n', stderr);
    p->drawn = 0;
}
