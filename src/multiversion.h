/* multiversion.h - hot loops compiled for several x86-64 levels, chosen when loaded.
 *
 * The build uses no -march, so that one binary runs everywhere; CAP_MULTIVERSION compiles a
 * function for AVX-512 (x86-64-v4), AVX2+FMA (x86-64-v3) and baseline SSE2, and the dynamic
 * loader picks the best for the CPU (GCC function multiversioning, an ifunc). Use it on
 * static functions only: GCC exports a non-static one's ifunc symbol whatever -fvisibility
 * says, which would put it in libcaption's ABI. */
#ifndef CAPTION_MULTIVERSION_H
#define CAPTION_MULTIVERSION_H

/* Not under ThreadSanitizer: the loader runs the ifunc resolvers while relocating
 * libcaption, before the TSan runtime is initialised, and TSan's instrumentation of the
 * resolvers then crashes the process at startup. */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__ELF__) && \
    !defined(__SANITIZE_THREAD__)
#define CAP_MULTIVERSION \
    __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define CAP_MULTIVERSION
#endif

#endif
