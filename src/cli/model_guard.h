/* model_guard.h - surviving a model file that changes under a running job.
 *
 * libcaption maps the model file. If the file is truncated or rewritten in place while a
 * job runs (a training run exporting over the path the job uses), reading a weight past the
 * file's new end raises SIGBUS, which would end the process and lose the images in flight.
 * The guard turns that into an error for the image being captioned: each worker captions
 * inside model_guard_run, and the SIGBUS handler jumps back out of it. The model is unusable
 * from then on, so the batch stops starting images (model_guard_tripped). This is the
 * program's choice: the library installs no signal handler. Memory that the interrupted
 * call had allocated is not freed (the job is ending anyway). */
#ifndef CAPTION_CLI_MODEL_GUARD_H
#define CAPTION_CLI_MODEL_GUARD_H

/* Install the SIGBUS handler. A SIGBUS in a thread outside model_guard_run (e.g. an OpenBLAS
 * pool thread) prints "caption: MODEL_PATH: the model file changed while in use" and exits
 * with status 1 instead of dumping core. model_path must outlive the process's use of it. */
void model_guard_install(const char *model_path);

/* Run fn(arg); returns 0 when it returned, -1 when it was interrupted by SIGBUS (then
 * fn's work is abandoned midway). */
int model_guard_run(void (*fn)(void *), void *arg);

/* 1 once any thread's model_guard_run has been interrupted, else 0. */
int model_guard_tripped(void);

#endif
