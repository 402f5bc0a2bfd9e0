/* batch.h - caption a list of images with worker threads, writing records in input order. */
#ifndef CAPTION_CLI_BATCH_H
#define CAPTION_CLI_BATCH_H

#include "inputs.h"
#include "output.h"
#include "progress.h"

#include <signal.h>

typedef struct batch_stats {
    size_t written;   /* records written (captions and errors) */
    size_t failed;    /* of which errors */
    int write_failed; /* the sink could not be written; the run stopped */
    int stopped;      /* *signalled was seen: the run stopped early */
    int model_changed; /* the model file changed under the run (model_guard.h): it stopped
                          early, the images in flight recorded as errors */
    size_t abandoned;  /* after a stop, images still in flight past the grace time: not
                          written, their workers still running (see batch_run) */
} batch_stats;

/* Images a worker captions together when --batch is not given, at most (see batch_size_auto):
 * docs/speed.md has the measurements behind it. */
#define BATCH_SIZE_DEFAULT 4

/* The batch size for n_inputs images and `jobs` workers without --batch: BATCH_SIZE_DEFAULT,
 * or less when that would leave a worker without images (at least 1). */
int batch_size_auto(size_t n_inputs, int jobs);

/*
 * Caption inputs->items with `jobs` threads sharing `model`, each worker taking `batch_size`
 * consecutive images at a time (0: batch_size_auto) and captioning them as one lockstep batch
 * (cap_caption_images: the same captions as one at a time, floats within rounding, faster); with `attention` each record
 * also gets its best caption's per-word attention (record.attention). Records reach `out` strictly in
 * input order, each as soon as it and all before it are done; failures also print
 * "caption: PATH: reason" on stderr. Once *signalled is set no new image starts; those in
 * flight finish and are written, so the output ends on a whole record. Likewise once the
 * model file changes under the run (model_guard.h), except that the images in flight end as
 * error records.
 * An image still in flight 0.8 s after the stop is abandoned (stats->abandoned): then
 * batch_run returns without joining its workers, and the caller must end the process with
 * _exit() after closing `out`, leaving `model` and `inputs` alone.
 * Returns -1 if not even one thread could be started (message printed), else 0.
 */
int batch_run(const cap_model *model, const cap_options *options, int attention,
              const input_list *inputs, int jobs, int batch_size, sink *out, progress *prog,
              const volatile sig_atomic_t *signalled, batch_stats *stats);

#endif
