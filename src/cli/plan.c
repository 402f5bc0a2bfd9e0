/* plan.c - see plan.h: workers x BLAS threads, the cores and the address space they need. */
#define _GNU_SOURCE /* sched_getaffinity, M_ARENA_MAX */
#include "plan.h"

#include "common/blas_kernels.h"

#include <malloc.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

/* OpenBLAS's constructor, which runs before main(), starts a thread pool of one thread per
 * core it may run on, and each pool thread at once maps its own 128 MB buffer, which stays
 * mapped until the process ends even once the pool is stopped: address space that a run under
 * `ulimit -v` cannot spare (and at a low enough limit the thread retries the mapping forever,
 * so that not even --help ends), and a thread that spins for a one-photo run that does not
 * use it. $OPENBLAS_NUM_THREADS cannot be set in time (libc's own initialisation, which comes
 * after .preinit_array, resets the environment to the one exec gave), but the CPU set can: a
 * function in the executable's .preinit_array, which runs before every library's constructor,
 * narrows it to one CPU, so OpenBLAS starts without a pool; main() gives the set back first
 * thing (plan_restore_cpus), and plan_run() asks OpenBLAS for the threads the run needs. */
static cpu_set_t start_cpus;
static int start_cpus_narrowed;

static void narrow_cpus_for_constructors(int argc, char **argv, char **envp)
{
    (void)argc, (void)argv, (void)envp;
    if (sched_getaffinity(0, sizeof start_cpus, &start_cpus) != 0 || CPU_COUNT(&start_cpus) < 2)
        return;
    cpu_set_t one;
    CPU_ZERO(&one);
    for (int c = 0; c < CPU_SETSIZE; c++)
        if (CPU_ISSET(c, &start_cpus)) {
            CPU_SET(c, &one);
            break;
        }
    start_cpus_narrowed = sched_setaffinity(0, sizeof one, &one) == 0;
}
__attribute__((section(".preinit_array"), used)) static void (*const preinit_narrow_cpus)(
    int, char **, char **) = narrow_cpus_for_constructors;

void plan_restore_cpus(void)
{
    if (start_cpus_narrowed)
        sched_setaffinity(0, sizeof start_cpus, &start_cpus);
    start_cpus_narrowed = 0;
}

/* The cores this process may run on (a Slurm or container CPU set, not the whole machine). */
static int count_cores(void)
{
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0)
        return CPU_COUNT(&set);
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

#define MB ((size_t)1 << 20)
/* What each thread that runs BLAS maps: OpenBLAS 0.3.21 (x86_64) gives every such thread a
 * buffer of its own of BUFFER_SIZE = 128 MB, mapped whole (only the parts used are touched). */
#define BLAS_BUFFER_BYTES (128 * MB)
/* A worker's own allocations for one image, with room to spare: the encoder's 12 MB scratch,
 * the tagger's and decoder's buffers, the file and the decoded photo (a 12-megapixel one is
 * 36 MB). A photo bigger than what the limit leaves fails alone, as out of memory: each worker
 * maps its BLAS buffer before any image (blas_buffer_claim). Measured: one photo, model
 * loaded, needs 205 MB more with 8 MB stacks (docs/speed.md, "Memory"). */
#define WORKER_WORK_BYTES (80 * MB)

/* A new thread's stack (glibc maps it whole: RLIMIT_STACK, 8 MB by default). */
static size_t thread_stack_bytes(void)
{
    pthread_attr_t attr;
    size_t size = 8 * MB;
    if (pthread_attr_init(&attr) == 0) {
        pthread_attr_getstacksize(&attr, &size);
        pthread_attr_destroy(&attr);
    }
    return size;
}

/* The address space a run still has to map once the model is loaded. */
static size_t run_bytes(int jobs, int blas_threads)
{
    const size_t thread = thread_stack_bytes() + BLAS_BUFFER_BYTES;
    /* OpenBLAS's pool is shared by all workers: blas_threads - 1 threads besides the caller. */
    return (size_t)jobs * (thread + WORKER_WORK_BYTES) + (size_t)(blas_threads - 1) * thread;
}

/* 1 if `bytes` more of address space can be mapped now. The probe reserves without
 * committing (PROT_NONE, MAP_NORESERVE) yet counts against RLIMIT_AS like any mapping. */
static int address_space_fits(size_t bytes)
{
    void *p = mmap(NULL, bytes, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED)
        return 0;
    munmap(p, bytes);
    return 1;
}

int plan_run(const cli_options *opt, size_t n_inputs, run_plan *plan)
{
    const int cores = count_cores();
    int jobs = opt->jobs > 0 ? opt->jobs : cores;
    if ((size_t)jobs > n_inputs)
        jobs = n_inputs > 0 ? (int)n_inputs : 1;
    /* Workers x BLAS threads = cores: decoding, resizing, depthwise convolutions and the
     * decoder are serial within an image, so parallelism across images wins (docs/batch.md,
     * "Threads"). One image gets one BLAS thread: its GEMMs are small, and a second thread
     * costs more to start, feed and stop (and a 128 MB buffer) than it saves (docs/speed.md). */
    int blas = opt->blas_threads > 0 ? opt->blas_threads
               : n_inputs <= 1      ? 1
                                    : (cores / jobs > 1 ? cores / jobs : 1);

    struct rlimit as;
    if (getrlimit(RLIMIT_AS, &as) == 0 && as.rlim_cur != RLIM_INFINITY) {
        /* Under a limit every malloc arena counts: a worker's own arena maps 64 MB (128 MB
         * while it is being aligned); the main arena serves all threads in little more than
         * what they use. */
        mallopt(M_ARENA_MAX, 1);
        /* The defaults give way to the limit: BLAS threads first, then workers. */
        while (!address_space_fits(run_bytes(jobs, blas)) &&
               ((blas > 1 && opt->blas_threads == 0) || (jobs > 1 && opt->jobs == 0))) {
            if (blas > 1 && opt->blas_threads == 0)
                blas--;
            else
                jobs--;
        }
        if (!address_space_fits(run_bytes(jobs, blas))) {
            fprintf(stderr,
                    "caption: the address-space limit (ulimit -v %llu KB) leaves too little "
                    "room: %d image%s at a time with %d BLAS thread%s need%s about %zu MB more "
                    "(OpenBLAS maps 128 MB per thread)%s\n",
                    (unsigned long long)(as.rlim_cur / 1024), jobs, jobs == 1 ? "" : "s", blas,
                    blas == 1 ? "" : "s", jobs == 1 ? "s" : "", run_bytes(jobs, blas) / MB,
                    jobs > 1 || blas > 1 ? "; try -j 1 --blas-threads 1" : "");
            return -1;
        }
    }
    blas_threads_set(blas);
    plan->jobs = jobs;
    plan->blas_threads = blas;
    return 0;
}
