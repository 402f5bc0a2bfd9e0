/* batch.c - worker threads and in-order output.
 *
 * Workers claim items in increasing index order (next_claim), a group of up to batch_size
 * consecutive items at a time, caption each group as one lockstep batch (cap_caption_images)
 * and fill its ring slots; the main thread writes slot next_write as soon as it is done.
 * Because claims are in order, the items in flight are always exactly [next_write,
 * next_claim), so stopping new claims and draining those leaves a gap-free prefix of the
 * input on disk. Claims may run at most `window` items ahead of the writer, which bounds
 * memory however slow one image is. */
#include "batch.h"
#include "common/blas_kernels.h"
#include "common/clock.h"
#include "model_guard.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct slot {
    record rec;
    char error[256]; /* rec.error points here on failure */
    int done;
} slot;

typedef struct batch {
    const cap_model *model;
    const cap_options *options;
    int attention; /* copy the best caption's attention into each record (--attention) */
    const input_list *in;
    int jobs; /* worker threads to start */
    int batch_size; /* items a worker claims and captions together (cap_caption_images) */
    slot *ring;
    size_t window;
    pthread_mutex_t mu;
    pthread_cond_t done_cv;  /* a slot became done (workers -> writer) */
    pthread_cond_t space_cv; /* next_write advanced or stop was set (writer -> workers) */
    size_t next_claim, next_write;
    int stop;
} batch;

/* A group's work, run under the model guard: its objects live in the caller's frame so that
 * an interrupted run leaves them readable (and unfreed). The images that loaded are captioned
 * together; images[k] is item idx[k] of the group. */
typedef struct group_work {
    const batch *b;
    slot **slots;       /* [n] the group's slots, in item order */
    double *ms;         /* [n] each item's own time so far (reading and decoding its file) */
    int n;
    cap_image *images;  /* [n] */
    int *idx;           /* [n] */
    int n_images;
    cap_result *res;    /* [n] */
    int captioned;      /* cap_caption_images returned CAP_OK */
    char error[256];    /* the batch's error, for each of its images, when it failed */
} group_work;

/* Item s's record from its result (the caption, its tags and, when asked, attention). */
static void fill_record(const batch *b, slot *s, const cap_result *res)
{
    record *r = &s->rec;
    const cap_caption *c = &res->captions[0];
    size_t need = cap_caption_text(b->model, c, NULL, 0) + 1;
    char *text = malloc(need);
    if (!text) {
        snprintf(s->error, sizeof s->error, "out of memory");
        return;
    }
    cap_caption_text(b->model, c, text, need);
    /* Only when asked: the copy (and the record's size) is the whole cost of --attention. */
    if (b->attention && !(r->attention = record_attention_new(b->model, res))) {
        free(text);
        snprintf(s->error, sizeof s->error, "out of memory");
        return;
    }
    r->caption = text;
    r->n_tokens = c->n_tokens;
    r->logprob = c->logprob;
    r->finished = c->finished;
    record_set_tags(r, b->model, res);
}

static void caption_group_work(void *arg)
{
    group_work *w = arg;
    cap_error err = {0};
    const int side = cap_model_input_size(w->b->model);
    for (int j = 0; j < w->n; j++) {
        slot *s = w->slots[j];
        if (s->rec.error || s->error[0])
            continue; /* the input list's own error (a walk that failed) */
        const double t0 = clock_seconds();
        /* Each photo is squashed to the encoder's input as soon as it is decoded, so the
         * group holds 150 KB a photo rather than its full size while it waits for the rest
         * (the captions are the same: cap_model_input_size). */
        cap_image full, *img = &w->images[w->n_images];
        if (cap_image_load_file(s->rec.path, &full, &err) != CAP_OK) {
            snprintf(s->error, sizeof s->error, "%s", err.message);
        } else {
            s->rec.width = full.width;
            s->rec.height = full.height;
            const cap_status st = cap_image_resize(&full, side, side, img, &err);
            cap_image_free(&full);
            if (st != CAP_OK)
                snprintf(s->error, sizeof s->error, "%s", err.message);
            else
                w->idx[w->n_images++] = j;
        }
        w->ms[j] += clock_seconds() - t0;
    }
    if (w->n_images == 0)
        return;
    const double t0 = clock_seconds();
    if (cap_caption_images(w->b->model, w->n_images, w->images, w->b->options, w->res, &err) !=
        CAP_OK) {
        snprintf(w->error, sizeof w->error, "%s", err.message);
        return;
    }
    w->captioned = 1;
    /* Each image is charged an equal share of the batch's captioning time. */
    const double share = (clock_seconds() - t0) / w->n_images;
    for (int k = 0; k < w->n_images; k++) {
        w->ms[w->idx[k]] += share;
        fill_record(w->b, w->slots[w->idx[k]], &w->res[k]);
    }
}

/* Caption items [first, first + n) into their slots. Runs without the lock: reads only
 * immutable data and writes only its own slots. */
static void caption_group(const batch *b, size_t first, int n)
{
    slot *slots[n];
    double ms[n];
    cap_image images[n];
    int idx[n];
    cap_result res[n];
    group_work w = {.b = b, .slots = slots, .ms = ms, .n = n, .images = images, .idx = idx,
                    .res = res};
    memset(images, 0, sizeof images);
    for (int j = 0; j < n; j++) {
        const input_item *it = &b->in->items[first + j];
        slot *s = slots[j] = &b->ring[(first + j) % b->window];
        memset(&s->rec, 0, sizeof s->rec);
        s->rec.path = it->path;
        s->error[0] = '\0';
        ms[j] = 0.0;
        if (it->error)
            snprintf(s->error, sizeof s->error, "%s", it->error);
    }
    if (model_guard_tripped() || model_guard_run(caption_group_work, &w) != 0) {
        for (int j = 0; j < n; j++) {
            if (b->in->items[first + j].error)
                continue; /* its own error stands */
            snprintf(slots[j]->error, sizeof slots[j]->error,
                     "not captioned: the model file changed while in use");
            slots[j]->rec.caption = NULL; /* never set by an interrupted caption_group_work */
            slots[j]->rec.attention = NULL;
        }
    } else {
        for (int k = 0; k < w.n_images; k++) {
            if (!w.captioned)
                snprintf(slots[idx[k]]->error, sizeof slots[idx[k]]->error, "%s", w.error);
            else
                cap_result_free(&res[k]);
            cap_image_free(&images[k]);
        }
    }
    for (int j = 0; j < n; j++) {
        record *r = &slots[j]->rec;
        if (!r->caption)
            r->error = slots[j]->error;
        r->ms = 1000.0 * ms[j];
    }
}

static void *worker(void *arg)
{
    batch *b = arg;
    blas_buffer_claim(); /* before any image's memory: see blas_kernels.h */
    pthread_mutex_lock(&b->mu);
    for (;;) {
        while (!b->stop && b->next_claim < b->in->n && b->next_claim >= b->next_write + b->window)
            pthread_cond_wait(&b->space_cv, &b->mu);
        if (b->stop || b->next_claim >= b->in->n || model_guard_tripped())
            break; /* a model that changed under the run fails every image: start none */
        /* A group of consecutive items, as many as the window and the input leave. */
        const size_t first = b->next_claim;
        size_t n = b->batch_size;
        if (n > b->in->n - first)
            n = b->in->n - first;
        if (n > b->next_write + b->window - first)
            n = b->next_write + b->window - first;
        b->next_claim += n;
        pthread_mutex_unlock(&b->mu);
        caption_group(b, first, (int)n);
        pthread_mutex_lock(&b->mu);
        for (size_t i = first; i < first + n; i++)
            b->ring[i % b->window].done = 1;
        pthread_cond_signal(&b->done_cv);
    }
    pthread_mutex_unlock(&b->mu);
    return NULL;
}

/* Called by the writer without the lock: the slot is done, so no worker touches it. */
static void emit(slot *s, sink *out, progress *prog, batch_stats *st)
{
    record *r = &s->rec;
    if (r->error) {
        progress_clear(prog);
        fprintf(stderr, "caption: %s: %s\n", r->path, r->error);
        st->failed++;
    }
    if (out->tty)
        progress_clear(prog); /* likely the bar's terminal: keep records off the bar line */
    if (sink_write(out, r) != 0)
        st->write_failed = 1;
    else
        st->written++;
    record_release(r);
    s->done = 0;
}

static void deadline_in(struct timespec *ts, long ms)
{
    clock_gettime(CLOCK_MONOTONIC, ts);
    ts->tv_nsec += ms * 1000000L;
    ts->tv_sec += ts->tv_nsec / 1000000000L;
    ts->tv_nsec %= 1000000000L;
}

/* The ring of in-flight records and the lock and conditions that guard it. */
static int batch_init(batch *b)
{
    /* Room for every worker's group in flight and as many again waiting to be written. */
    b->window = 4 * (size_t)b->jobs * b->batch_size + 16;
    b->ring = calloc(b->window, sizeof *b->ring);
    if (!b->ring) {
        fprintf(stderr, "caption: out of memory\n");
        return -1;
    }
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_mutex_init(&b->mu, NULL);
    pthread_cond_init(&b->done_cv, &ca);
    pthread_cond_init(&b->space_cv, &ca);
    pthread_condattr_destroy(&ca);
    return 0;
}

static void batch_destroy(batch *b)
{
    for (size_t i = 0; i < b->window; i++)
        record_release(&b->ring[i].rec); /* finished but never written (a write error) */
    free(b->ring);
    pthread_mutex_destroy(&b->mu);
    pthread_cond_destroy(&b->done_cv);
    pthread_cond_destroy(&b->space_cv);
}

/* Start up to b->jobs workers into tids; returns how many started (0: none, said why). */
static int start_workers(batch *b, pthread_t *tids)
{
    /* Workers block SIGINT/SIGTERM so that the handler runs on the main thread, which is
     * the one that polls the flag, and so that no decoder read is ever interrupted. */
    sigset_t block, old;
    sigemptyset(&block);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &block, &old);
    int started = 0, create_err = ENOMEM;
    while (tids && started < b->jobs &&
           (create_err = pthread_create(&tids[started], NULL, worker, b)) == 0)
        started++;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (started == 0)
        fprintf(stderr, "caption: cannot start a worker thread: %s\n", strerror(create_err));
    return started;
}

/* After Ctrl-C or SIGTERM, how long the images in flight may take to finish and be written;
 * past it they are abandoned, so that a stop always ends the process within a second. */
#define STOP_GRACE_S 0.8

/* The main thread's loop: write records in input order as workers finish them, until all
 * are written, the sink breaks, or a signal stops the batch. Called and returns locked. */
static void write_in_order(batch *b, sink *out, progress *prog,
                           const volatile sig_atomic_t *signalled, batch_stats *stats)
{
    double stop_at = 0.0;
    while (b->next_write < b->in->n) {
        slot *s = &b->ring[b->next_write % b->window];
        if (s->done) {
            pthread_mutex_unlock(&b->mu);
            emit(s, out, prog, stats);
            progress_update(prog, stats->written, stats->failed, 0);
            pthread_mutex_lock(&b->mu);
            b->next_write++;
            pthread_cond_broadcast(&b->space_cv);
            if (stats->write_failed)
                break; /* the sink is broken: write nothing more, just let workers end */
            continue;
        }
        if (!b->stop && (*signalled || model_guard_tripped())) {
            b->stop = 1;
            stats->stopped = *signalled != 0;
            stats->model_changed = model_guard_tripped();
            stop_at = clock_seconds();
            pthread_cond_broadcast(&b->space_cv);
        }
        if (b->stop && b->next_write >= b->next_claim)
            break; /* nothing in flight: everything claimed has been written */
        if (stats->stopped && clock_seconds() - stop_at > STOP_GRACE_S) {
            /* An image that ignores the stop (a decoder or BLAS stuck, e.g. retrying an
             * allocation under an address-space limit): give up on what is in flight. */
            stats->abandoned = b->next_claim - b->next_write;
            break;
        }
        /* Wakes up on its own every 100 ms: a signal handler cannot signal a condition
         * variable, and the progress bar's rate and ETA move even when no image finishes. */
        struct timespec deadline;
        deadline_in(&deadline, 100);
        pthread_cond_timedwait(&b->done_cv, &b->mu, &deadline);
        pthread_mutex_unlock(&b->mu);
        progress_update(prog, stats->written, stats->failed, 0);
        pthread_mutex_lock(&b->mu);
    }
}

int batch_size_auto(size_t n_inputs, int jobs)
{
    /* Every worker gets work: a batch is at most the worker's share of the inputs. */
    const size_t share = (n_inputs + (size_t)jobs - 1) / (size_t)jobs;
    return share < BATCH_SIZE_DEFAULT ? (share > 0 ? (int)share : 1) : BATCH_SIZE_DEFAULT;
}

int batch_run(const cap_model *model, const cap_options *options, int attention,
              const input_list *inputs, int jobs, int batch_size, sink *out, progress *prog,
              const volatile sig_atomic_t *signalled, batch_stats *stats)
{
    memset(stats, 0, sizeof *stats);
    /* On the heap: after a stop whose in-flight images do not finish in time, the workers
     * still running keep using it, and it is deliberately never freed. */
    batch *b = calloc(1, sizeof *b);
    if (!b || (*b = (batch){.model = model, .options = options, .attention = attention,
                             .in = inputs, .jobs = jobs,
                             .batch_size = batch_size > 0 ? batch_size
                                                          : batch_size_auto(inputs->n, jobs)},
               batch_init(b) != 0)) {
        free(b);
        return -1;
    }
    pthread_t *tids = calloc((size_t)jobs, sizeof *tids);
    const int started = start_workers(b, tids);
    if (started == 0) {
        free(tids);
        batch_destroy(b);
        free(b);
        return -1;
    }

    progress_update(prog, 0, 0, 1);
    pthread_mutex_lock(&b->mu);
    write_in_order(b, out, prog, signalled, stats);
    b->stop = 1;
    pthread_cond_broadcast(&b->space_cv);
    pthread_mutex_unlock(&b->mu);
    if (*signalled)
        stats->stopped = 1;
    if (model_guard_tripped())
        stats->model_changed = 1;
    if (stats->abandoned > 0)
        return 0; /* workers stuck in an image: the caller ends the process without them */
    for (int i = 0; i < started; i++)
        pthread_join(tids[i], NULL);
    free(tids);
    batch_destroy(b);
    free(b);
    return 0;
}
