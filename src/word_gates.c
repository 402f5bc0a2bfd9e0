/* word_gates.c - the lock-free cache of W_x[:, :M] E y rows (word_gates.h). */
#include "word_gates.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

enum { EMPTY = 0, WRITING = 1, READY = 2 };

/* Chunks are mapped directly rather than malloc'ed: from malloc they could land in a range
 * that once held the encoder's buffers, which ask for transparent huge pages, and then one
 * row would make 2 MB resident. A fresh mapping makes resident only the rows written. */
static size_t chunk_bytes(const cap_word_gates *wg);
static float *chunk_map(const cap_word_gates *wg)
{
    void *p = mmap(NULL, chunk_bytes(wg), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                   -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

struct cap_word_gates {
    int n_words, width, max_kept;
    atomic_int kept; /* rows claimed so far, at most max_kept */
    _Atomic(unsigned char) *state; /* [n_words]: EMPTY, WRITING (one thread copies), READY */
    _Atomic(float *) *chunks;      /* [n_words / CHUNK rounded up], NULL until first needed */
};

cap_word_gates *cap_word_gates_new(int n_words, int width, int max_kept)
{
    if (n_words <= 0 || width <= 0 || max_kept <= 0)
        return NULL;
    const size_t n_chunks = ((size_t)n_words + CAP_WORD_GATES_CHUNK - 1) / CAP_WORD_GATES_CHUNK;
    cap_word_gates *wg = malloc(sizeof *wg);
    if (!wg)
        return NULL;
    wg->n_words = n_words;
    wg->width = width;
    wg->max_kept = max_kept;
    atomic_init(&wg->kept, 0);
    wg->state = malloc(sizeof *wg->state * (size_t)n_words);
    wg->chunks = malloc(sizeof *wg->chunks * n_chunks);
    if (!wg->state || !wg->chunks) {
        free(wg->state);
        free(wg->chunks);
        free(wg);
        return NULL;
    }
    for (int i = 0; i < n_words; i++)
        atomic_init(&wg->state[i], EMPTY);
    for (size_t c = 0; c < n_chunks; c++)
        atomic_init(&wg->chunks[c], NULL);
    return wg;
}

static size_t chunk_bytes(const cap_word_gates *wg)
{
    return sizeof(float) * CAP_WORD_GATES_CHUNK * (size_t)wg->width;
}

void cap_word_gates_free(cap_word_gates *wg)
{
    if (!wg)
        return;
    const size_t n_chunks =
        ((size_t)wg->n_words + CAP_WORD_GATES_CHUNK - 1) / CAP_WORD_GATES_CHUNK;
    for (size_t c = 0; c < n_chunks; c++) {
        float *chunk = atomic_load_explicit(&wg->chunks[c], memory_order_relaxed);
        if (chunk)
            munmap(chunk, chunk_bytes(wg));
    }
    free(wg->chunks);
    free(wg->state);
    free(wg);
}

static float *row_in_chunk(float *chunk, const cap_word_gates *wg, int token)
{
    return chunk + (size_t)(token % CAP_WORD_GATES_CHUNK) * (size_t)wg->width;
}

const float *cap_word_gates_get(cap_word_gates *wg, int token)
{
    if (!wg || token < 0 || token >= wg->n_words)
        return NULL;
    /* Acquire: a READY state makes the chunk pointer and the row written before it visible. */
    if (atomic_load_explicit(&wg->state[token], memory_order_acquire) != READY)
        return NULL;
    float *chunk =
        atomic_load_explicit(&wg->chunks[token / CAP_WORD_GATES_CHUNK], memory_order_relaxed);
    return row_in_chunk(chunk, wg, token);
}

void cap_word_gates_put(cap_word_gates *wg, int token, const float *row)
{
    if (!wg || token < 0 || token >= wg->n_words)
        return;
    if (atomic_load_explicit(&wg->kept, memory_order_relaxed) >= wg->max_kept)
        return; /* full: this word's row is computed at every use */
    unsigned char expected = EMPTY;
    if (!atomic_compare_exchange_strong_explicit(&wg->state[token], &expected, WRITING,
                                                 memory_order_acquire, memory_order_relaxed))
        return; /* kept, or being kept, by another thread */
    if (atomic_fetch_add_explicit(&wg->kept, 1, memory_order_relaxed) >= wg->max_kept) {
        atomic_store_explicit(&wg->state[token], EMPTY, memory_order_release);
        return; /* another thread took the last place */
    }
    _Atomic(float *) *slot = &wg->chunks[token / CAP_WORD_GATES_CHUNK];
    float *chunk = atomic_load_explicit(slot, memory_order_acquire);
    if (!chunk) {
        float *fresh = chunk_map(wg);
        if (!fresh) {
            atomic_store_explicit(&wg->state[token], EMPTY, memory_order_release);
            return;
        }
        if (atomic_compare_exchange_strong_explicit(slot, &chunk, fresh, memory_order_acq_rel,
                                                    memory_order_acquire))
            chunk = fresh;
        else
            munmap(fresh, chunk_bytes(wg)); /* another thread's won; `chunk` holds it */
    }
    memcpy(row_in_chunk(chunk, wg, token), row, sizeof(float) * (size_t)wg->width);
    atomic_store_explicit(&wg->state[token], READY, memory_order_release);
}
