/* blas_kernels.c - the OpenBLAS kernel choice of blas_kernels.h.
 *
 * Debian's OpenBLAS is built with DYNAMIC_ARCH: its library constructor, before main(), picks
 * a kernel set from the CPUID or from $OPENBLAS_CORETYPE. Redoing that choice in main() uses
 * gotoblas_dynamic_quit() + gotoblas_dynamic_init(), the two exported functions OpenBLAS's
 * constructor itself uses (they only swap the table of kernel pointers and block sizes; the
 * memory buffers are allocated on the first BLAS call). They are declared weak: an OpenBLAS
 * built without DYNAMIC_ARCH lacks them, and then nothing is changed. This costs no re-exec
 * of the program with the variable set. */
#include "common/blas_kernels.h"

#include <cblas.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

extern void gotoblas_dynamic_init(void) __attribute__((weak));
extern void gotoblas_dynamic_quit(void) __attribute__((weak));
/* OpenBLAS's constructor has also started its thread pool (cores - 1 threads), and each pool
 * thread begins with blas_memory_alloc(), which itself calls gotoblas_dynamic_init() when it
 * finds the kernel table NULL, i.e. inside the window opened by gotoblas_dynamic_quit()
 * below. Two gotoblas_dynamic_init() at once crash, and setenv/unsetenv would race with
 * their getenv. So the pool is stopped (its threads joined) first; OpenBLAS starts it again
 * on the first threaded call (exec_blas() calls blas_thread_init() when blas_server_avail
 * is 0, as after a fork). */
extern int blas_thread_shutdown_(void) __attribute__((weak));

/* Re-run OpenBLAS's core selection with $OPENBLAS_CORETYPE = name (NULL: unset, i.e. detect),
 * then restore the variable as it was. */
static void blas_core_reinit(const char *name)
{
    if (blas_thread_shutdown_)
        blas_thread_shutdown_(); /* no other OpenBLAS thread may run during the swap */
    const char *old = getenv("OPENBLAS_CORETYPE");
    char *saved = old ? strdup(old) : NULL;
    if (name)
        setenv("OPENBLAS_CORETYPE", name, 1);
    else
        unsetenv("OPENBLAS_CORETYPE");
    gotoblas_dynamic_quit();
    gotoblas_dynamic_init();
    if (saved)
        setenv("OPENBLAS_CORETYPE", saved, 1);
    else
        unsetenv("OPENBLAS_CORETYPE");
    free(saved);
}

static int blas_core_has_avx512(const char *core)
{
    static const char *const avx512[] = {"skylakex", "cooperlake", "sapphirerapids"};
    for (size_t i = 0; i < sizeof avx512 / sizeof avx512[0]; i++)
        if (strcasecmp(core, avx512[i]) == 0)
            return 1;
    return 0;
}

void blas_kernels_select(void)
{
    if (!gotoblas_dynamic_init || !gotoblas_dynamic_quit)
        return; /* not a DYNAMIC_ARCH OpenBLAS: its kernels are fixed at build time */
    const char *want = getenv("CAPTION_BLAS_CORETYPE");
    if (want && *want) {
        if (strcasecmp(want, "openblas") != 0)
            blas_core_reinit(want);
        return;
    }
    if (getenv("OPENBLAS_CORETYPE"))
        blas_core_reinit(NULL);
#if defined(__x86_64__) && defined(__GNUC__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
        __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
        !blas_core_has_avx512(openblas_get_corename()))
        blas_core_reinit("SkylakeX");
#endif
}


void blas_buffer_claim(void)
{
    float one = 1.0f, out = 0.0f;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, 1, 1, 1, 1.0f, &one, 1, &one, 1,
                0.0f, &out, 1);
}

void blas_threads_set(int n)
{
    if (n == 1 && blas_thread_shutdown_)
        blas_thread_shutdown_();
    openblas_set_num_threads(n);
}
