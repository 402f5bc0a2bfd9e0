/* plan.h - how many images at a time and how many BLAS threads each, within the cores the
 * process may run on and the address space it may map (`ulimit -v`, RLIMIT_AS). */
#ifndef CAPTION_CLI_PLAN_H
#define CAPTION_CLI_PLAN_H

#include "options.h"

#include <stddef.h>

typedef struct run_plan {
    int jobs;         /* worker threads, each captioning one image at a time */
    int blas_threads; /* OpenBLAS threads per worker (set in OpenBLAS by plan_run) */
} run_plan;

/*
 * Give back the CPU set that the executable's start-up narrowed to one CPU (so that
 * OpenBLAS's constructor started no thread pool; see plan.c). Call it first thing in main(),
 * before anything counts cores or starts a thread.
 */
void plan_restore_cpus(void);

/*
 * Choose the workers and BLAS threads for n_inputs images (-j and --blas-threads when given;
 * else one worker per core, never more than the images, with cores / workers BLAS threads
 * each, and one BLAS thread for a single image) and set OpenBLAS's thread count. Under an address-space limit the defaults shrink to what
 * the limit leaves room for. Returns 0, or -1 after printing one line
 * "caption: ..." on stderr when the limit leaves no room for the run (or for the -j and
 * --blas-threads asked for). Call it with the model loaded and no worker started.
 */
int plan_run(const cli_options *opt, size_t n_inputs, run_plan *plan);

#endif
