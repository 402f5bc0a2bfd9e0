/* model_probe.h - what a loaded model gives, asked before the first image is captioned. */
#ifndef CAPTION_CLI_MODEL_PROBE_H
#define CAPTION_CLI_MODEL_PROBE_H

#include "caption.h"

/* 1 when captioning with `options` gives tags (the model has a tagger and
 * options->max_tags > 0), else 0; -1 when the probe itself failed (message printed). TSV and
 * CSV must know before their header line, which is written before the first image. */
int model_gives_tags(const cap_model *model, const cap_options *options);

#endif
