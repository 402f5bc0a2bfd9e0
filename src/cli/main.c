/* caption - command-line captioner on top of libcaption.
 *
 *   caption [OPTIONS] IMAGE|DIR|-...
 *
 * One image: prints its caption alone. Several, or a folder: PATH<TAB>CAPTION per image, in
 * input order (or JSONL/TSV/CSV records with --format), with -j worker threads.
 * An image that fails prints "caption: PATH: reason" on stderr and the others go on.
 * Exit status: 0 all captioned, 1 any image (or the model) failed, 2 usage error,
 * 130 interrupted by SIGINT/SIGTERM.
 *
 * The pieces, one job each: options.c (command line), inputs.c (walks, stdin, sniffing,
 * shards), resume.c (what an output file already holds), output.c (record formats),
 * progress.c (the bar), batch.c (threads and ordering), plan.c (how many threads, within the
 * cores and the address space), blas_kernels.c (the OpenBLAS kernel set). This file wires
 * them together.
 * --view and --attention-png hand over to src/viewer (the window and the figure). */
#include "batch.h"
#include "caption.h"
#include "common/blas_kernels.h"
#include "inputs.h"
#include "model_guard.h"
#include "options.h"
#include "output.h"
#include "plan.h"
#include "progress.h"
#include "resume.h"
#include "viewer_module.h"

#include <signal.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The only global mutable state: a signal handler can reach nothing but globals, and
 * volatile sig_atomic_t is the one type it may portably write. Only the main thread reads
 * it (workers block the signals and learn of a stop through the batch's mutex). */
static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
    (void)sig;
    interrupted = 1;
}

/* SA_RESETHAND: a second Ctrl-C kills at once for a user who will not wait for the images
 * in flight; --resume repairs the record it may tear. Without `restart`, a blocking read of
 * stdin returns on the signal, so Ctrl-C works while a path list is being read. */
static void catch_signals(int restart)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESETHAND | (restart ? SA_RESTART : 0);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

/* --view: the same inputs as a batch (folders walked, '-' read), shown in the window. */
static int run_viewer(const viewer_module *vm, const cap_model *model, const cli_options *opt)
{
    input_list inputs;
    if (inputs_collect(opt, &inputs, &interrupted) != 0) {
        inputs_free(&inputs);
        return 1;
    }
    if (inputs.n == 0) {
        fprintf(stderr, "caption: --view: no JPEG or PNG files in the arguments\n");
        inputs_free(&inputs);
        return 1;
    }
    const char **paths = malloc(sizeof *paths * inputs.n);
    if (!paths) {
        inputs_free(&inputs);
        return 1;
    }
    for (size_t i = 0; i < inputs.n; i++)
        paths[i] = inputs.items[i].path;
    view_options vo = vm->options_default();
    if (opt->step >= 0)
        vo.step = opt->step;
    vo.screenshot = opt->screenshot;
    int rc = vm->view(model, &opt->caption, paths, (int)inputs.n, &vo);
    free(paths);
    inputs_free(&inputs);
    return rc;
}

/* End the process now, leaving worker threads stuck in an image: _exit, because exit() would
 * run OpenBLAS's destructor, which waits for threads that may never return. The records
 * written are whole; --resume captions the abandoned images. */
static _Noreturn void abandon(size_t n)
{
    fprintf(stderr, "caption: stopped; %zu image%s in flight did not finish and %s not "
                    "recorded\n", n, n == 1 ? "" : "s", n == 1 ? "was" : "were");
    fflush(NULL);
    _exit(EXIT_INTERRUPTED);
}

/* The process's exit status after a batch (and the message of a model that changed). */
static int exit_status(const cli_options *opt, int rc, const batch_stats *stats)
{
    if (stats->model_changed) {
        fprintf(stderr, "caption: %s: the model file changed while in use; stopped (the "
                        "records written are whole)\n", opt->model_path);
        return 1;
    }
    if (stats->stopped)
        return EXIT_INTERRUPTED;
    return rc != 0 || stats->write_failed || stats->failed > 0 ? 1 : 0;
}

static void *prefetch_model(void *model)
{
    cap_model_prefetch(model);
    return NULL;
}

int main(int argc, char **argv)
{
    plan_restore_cpus(); /* before anything counts the cores or starts a thread */
    cli_options opt;
    switch (parse_options(argc, argv, &opt)) {
    case PARSE_RUN: break;
    case PARSE_EXIT_OK: return 0;
    case PARSE_EXIT_USAGE: return EXIT_USAGE;
    }
    blas_kernels_select(); /* before any BLAS call or thread */

    cap_error err = {0};
    cap_model *model = NULL;
    if (cap_model_load(opt.model_path, &model, &err) != CAP_OK) {
        fprintf(stderr, "caption: %s: %s\n", opt.model_path, err.message);
        return 1;
    }

    run_plan plan;
    if (opt.attention_png || opt.view) {
        viewer_module vm;
        int rc = viewer_module_open(&vm) != 0 || plan_run(&opt, 1, &plan) != 0 ? 1
                 : opt.view ? run_viewer(&vm, model, &opt)
                            : vm.attention_png(model, &opt.caption, opt.operands[0],
                                               opt.attention_png);
        cap_model_free(model);
        return rc;
    }

    catch_signals(0);
    input_list inputs;
    if (inputs_collect(&opt, &inputs, &interrupted) != 0 ||
        (opt.resume && resume_skip_recorded(opt.output, opt.format, &inputs) != 0)) {
        inputs_free(&inputs);
        cap_model_free(model);
        return interrupted ? EXIT_INTERRUPTED : 1;
    }

    /* Before -o FILE is truncated or appended to. */
    if (plan_run(&opt, inputs.n, &plan) != 0 || interrupted) {
        inputs_free(&inputs);
        cap_model_free(model);
        return interrupted ? EXIT_INTERRUPTED : 1;
    }
    /* --resume must find paths in the file, so it never writes a caption alone. */
    const int with_path = !inputs.single_image || opt.resume;
    const int table = opt.format == FORMAT_TSV || opt.format == FORMAT_CSV;
    const int tag_columns = table && opt.caption.max_tags > 0 && cap_model_tag_classes(model) > 0;
    sink out;
    if (sink_open(&out, opt.output, opt.format, with_path, opt.resume, tag_columns) != 0) {
        inputs_free(&inputs);
        cap_model_free(model);
        return 1;
    }
    progress prog;
    /* `caption IMAGE` on a terminal prints the caption and nothing else: no bar. */
    progress_init(&prog, !opt.quiet && !inputs.single_image && isatty(STDERR_FILENO), inputs.n);

    catch_signals(1);
    model_guard_install(opt.model_path);
    /* One image: the main thread would only wait, so it maps the model's pages meanwhile
     * (cap_model_prefetch), sparing the worker most of its first-touch page faults. */
    pthread_t prefetcher;
    pthread_attr_t small_stack; /* 64 KB: under `ulimit -v` its 8 MB default would count */
    int prefetching = 0;
    if (inputs.n == 1 && pthread_attr_init(&small_stack) == 0) {
        prefetching = pthread_attr_setstacksize(&small_stack, 64 << 10) == 0 &&
                      pthread_create(&prefetcher, &small_stack, prefetch_model, model) == 0;
        pthread_attr_destroy(&small_stack);
    }
    batch_stats stats;
    int rc = batch_run(model, &opt.caption, opt.attention, &inputs, plan.jobs, opt.batch, &out,
                       &prog, &interrupted, &stats);
    if (prefetching)
        pthread_join(prefetcher, NULL);
    progress_finish(&prog, stats.written, stats.failed);
    if (sink_close(&out) != 0)
        rc = -1;
    if (stats.abandoned > 0)
        abandon(stats.abandoned); /* does not return */
    inputs_free(&inputs);
    cap_model_free(model);

    return exit_status(&opt, rc, &stats);
}
