/* bench_util.h - helpers shared by the benchmark programs (bench_stages, bench_rows). */
#ifndef CAPTION_BENCH_UTIL_H
#define CAPTION_BENCH_UTIL_H

#include <stdlib.h>

static inline int cmp_double(const void *a, const void *b)
{
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The median of v[0 .. n-1] (n >= 1); sorts v. */
static inline double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* n floats in [-0.5, 0.5), the same on every run; NULL when out of memory. */
static inline float *random_matrix(size_t n)
{
    float *m = malloc(sizeof(float) * n);
    for (size_t i = 0; m && i < n; i++)
        m[i] = (float)((i * 2654435761u) % 1000) / 1000.0f - 0.5f;
    return m;
}

#endif
