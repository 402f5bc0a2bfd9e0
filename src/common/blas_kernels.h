/* blas_kernels.h - which OpenBLAS kernel set the `caption` program runs on. */
#ifndef CAPTION_COMMON_BLAS_KERNELS_H
#define CAPTION_COMMON_BLAS_KERNELS_H

/*
 * Choose OpenBLAS's kernel set ("core") for this process. Call it first thing in main(),
 * before any BLAS call and before starting threads: it stops OpenBLAS's thread pool (which
 * restarts on the next threaded call) and swaps its kernel table.
 *
 * The rule:
 *   - $CAPTION_BLAS_CORETYPE=NAME (e.g. Haswell, SkylakeX, Zen): that core, whatever else;
 *     CAPTION_BLAS_CORETYPE=openblas: OpenBLAS's own choice, which honours
 *     $OPENBLAS_CORETYPE as in any OpenBLAS program;
 *   - otherwise $OPENBLAS_CORETYPE is ignored (a machine-wide setting made for some other
 *     program must not slow this one): OpenBLAS detects the CPU itself, and if it chose a
 *     kernel set without AVX-512 on a CPU that has AVX-512 (F, DQ, BW, VL), SkylakeX is used.
 *
 * Why: on an AVX-512 machine whose environment says OPENBLAS_CORETYPE=Haswell, the AVX-512
 * kernels run the encoder and decoder about 1.3x as fast with the same captions (numbers and
 * command: docs/speed.md). Does nothing with an OpenBLAS built without DYNAMIC_ARCH.
 * $OPENBLAS_CORETYPE is left as it was.
 */
void blas_kernels_select(void);

/*
 * Set OpenBLAS's thread count to n >= 1 (openblas_set_num_threads, which starts pool threads
 * when n grows). For n == 1 a running pool is first stopped: its threads would otherwise
 * keep spinning in sched_yield after each call, on cores the run needs for other work.
 */
void blas_threads_set(int n);

/*
 * Make the calling thread's OpenBLAS buffer (128 MB of address space in 0.3.21, mapped at a
 * thread's first BLAS call) exist now. Under an address-space limit a thread whose buffer
 * cannot be mapped retries forever inside OpenBLAS; a worker that claims it before it
 * allocates anything for an image either has it or, when an image is too big for what is
 * left, gets an ordinary out-of-memory error from that image instead.
 */
void blas_buffer_claim(void);

#endif
