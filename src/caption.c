/* caption.c - the top of the library: image -> 224x224 -> encoder -> beam search. */
#include "caption.h"

#include "beam.h"
#include "encoder.h"
#include "error.h"
#include "model.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Which OpenBLAS kernels the library runs on (issue 6, README "Speed").
 *
 * Debian's OpenBLAS 0.3.21 is built with DYNAMIC_ARCH: when the library loads it picks a
 * kernel set ("core") from the CPUID, or from $OPENBLAS_CORETYPE if set. On this project's
 * Zen 5 VM it detects "Cooperlake" (AVX-512 kernels) by itself; the Haswell (AVX2) kernels
 * seen there came from OPENBLAS_CORETYPE=Haswell in the machine's environment. The AVX-512
 * kernels make this program's GEMMs faster, with identical captions on the 1,000 dev images
 * (README "Speed" has the measurements), so the library picks them whatever the environment
 * says, unless told otherwise by its own variable.
 *
 * The rule, applied when libcaption is loaded (so the `caption` program, the test and benchmark
 * programs and any other program linking the library all run the same kernels and get the
 * same numbers):
 *   - $CAPTION_BLAS_CORETYPE=NAME (e.g. Haswell, SkylakeX, Zen): that core, whatever else;
 *     CAPTION_BLAS_CORETYPE=openblas: leave OpenBLAS's own choice alone (it then honours
 *     $OPENBLAS_CORETYPE, as any OpenBLAS program does);
 *   - otherwise $OPENBLAS_CORETYPE is ignored (a machine-wide setting made for some other
 *     program must not slow this one): OpenBLAS detects the CPU itself, and if it chose a
 *     kernel set without AVX-512 on a CPU that has AVX-512 (F, DQ, BW, VL), SkylakeX is used.
 *
 * OpenBLAS reads $OPENBLAS_CORETYPE in its library constructor, before main() runs, so
 * setting the variable in main() is too late by itself. Instead the choice is redone with
 * gotoblas_dynamic_quit() + gotoblas_dynamic_init(), the two exported functions OpenBLAS's
 * constructor itself uses, from libcaption's constructor: the dynamic loader runs it after
 * OpenBLAS's (a library's dependencies are initialised first) and before main(), so before
 * any BLAS call (the two functions only swap the table of kernel pointers and block sizes;
 * the memory buffers are allocated on the first call). They are declared weak: with an
 * OpenBLAS built without DYNAMIC_ARCH they are absent and nothing is changed. This avoids
 * re-executing the program with the variable set (about 9 ms of process start here). */
extern void gotoblas_dynamic_init(void) __attribute__((weak));
extern void gotoblas_dynamic_quit(void) __attribute__((weak));
/* But OpenBLAS's constructor has also started its thread pool (cores - 1 threads), and each
 * pool thread begins with blas_memory_alloc(), which itself calls gotoblas_dynamic_init()
 * when it finds the kernel table NULL, i.e. inside the window opened by gotoblas_dynamic_quit()
 * below. Two gotoblas_dynamic_init() at once crash (one sets the table to NULL while the
 * other is about to call its init through it: a rare SIGSEGV before main() on a loaded
 * machine), and our setenv/unsetenv would race with their getenv. So the pool is stopped
 * (its threads joined) first; OpenBLAS starts it again on the first threaded call
 * (exec_blas() calls blas_thread_init() when blas_server_avail is 0, as after a fork). */
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

/* Apply the rule above, when the library is loaded. */
__attribute__((constructor)) static void blas_core_select(void)
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

cap_options cap_options_default(void)
{
    /* Tuned on the Flickr8k dev split (models/README.md, "Decoding"): both raise CIDEr-D and
     * BLEU-4 of the shipped model's beam-3 captions. */
    return (cap_options){.beam_size = 3, .max_len = 20, .length_penalty = 0.7f,
                         .no_repeat_ngram = 2};
}

cap_status cap_caption_image(const cap_model *model, const cap_image *image,
                             const cap_options *options, cap_result *out, cap_error *err)
{
    if (out)
        memset(out, 0, sizeof *out);
    if (!model || !image || !options || !out)
        return cap_fail(err, CAP_ERR_ARG, "NULL argument");
    if (!image->rgb || image->width < 1 || image->height < 1)
        return cap_fail(err, CAP_ERR_ARG, "empty image");
    if (options->beam_size < 1 || options->max_len < 1)
        return cap_fail(err, CAP_ERR_ARG, "beam size and maximum length must be at least 1");
    if (!(options->length_penalty >= 0.0f) || !isfinite(options->length_penalty))
        return cap_fail(err, CAP_ERR_ARG, "length penalty must be a finite number >= 0");
    if (options->no_repeat_ngram < 0 || options->no_repeat_ngram == 1)
        return cap_fail(err, CAP_ERR_ARG, "no-repeat n-gram length must be 0 (off) or >= 2");

    const int side = model->config.input_size;
    const int L = model->config.grid_rows * model->config.grid_cols;
    cap_image sq = {0};
    cap_status st = cap_image_resize(image, side, side, &sq, err);
    if (st != CAP_OK)
        return st;
    float *x = malloc(sizeof(float) * 3 * (size_t)side * side);
    float *a = malloc(sizeof(float) * (size_t)L * model->config.feature_dim);
    if (!x || !a)
        st = cap_fail(err, CAP_ERR_NOMEM, "out of memory");
    if (st == CAP_OK) {
        cap_encoder_input(&sq, x);
        st = cap_encoder_forward(&model->encoder, x, a, err);
    }
    if (st == CAP_OK)
        st = cap_beam_search(model, a, options, out, err);
    free(x);
    free(a);
    cap_image_free(&sq);
    return st;
}

size_t cap_caption_text(const cap_model *model, const cap_caption *caption, char *buf,
                        size_t size)
{
    size_t len = 0;
    for (int i = 0; i < caption->n_tokens; i++) {
        const char *w = cap_model_word(model, caption->tokens[i]);
        if (!w)
            w = "?";
        if (i > 0) {
            if (len + 1 < size)
                buf[len] = ' ';
            len++;
        }
        for (const char *p = w; *p; p++, len++)
            if (len + 1 < size)
                buf[len] = *p;
    }
    if (size > 0)
        buf[len < size ? len : size - 1] = '\0';
    return len;
}

void cap_result_free(cap_result *result)
{
    if (!result)
        return;
    for (int i = 0; i < result->n_captions && result->captions; i++) {
        free(result->captions[i].tokens);
        free(result->captions[i].word_prob);
        free(result->captions[i].alpha);
        free(result->captions[i].beta);
    }
    free(result->captions);
    memset(result, 0, sizeof *result);
}
