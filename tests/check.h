/* check.h - the assertion of the C unit tests: CHECK(cond, fmt, ...) counts a pass or prints
 * "FILE:LINE: message" and counts a failure, and goes on, so that one run lists every
 * failure; check_summary() prints the closing "N passed, N failed" line (which CI's log
 * reader understands) and returns the exit status. Header-only: each test is one program. */
#ifndef CAPTION_TESTS_CHECK_H
#define CAPTION_TESTS_CHECK_H

#include <stdarg.h>
#include <stdio.h>

static int n_passed, n_failed;

static void check(int ok, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void check(int ok, const char *file, int line, const char *fmt, ...)
{
    va_list ap;

    if (ok) {
        n_passed++;
        return;
    }
    n_failed++;
    printf("%s:%d: ", file, line);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    putchar('\n');
}

#define CHECK(cond, ...) check(!!(cond), __FILE__, __LINE__, __VA_ARGS__)

/* Print the summary line; 0 when nothing failed, else 1. */
static int check_summary(void)
{
    printf("%d passed, %d failed\n", n_passed, n_failed);
    return n_failed ? 1 : 0;
}

#endif
