/* word_gates.c - the lock-free cache of W_x[:, :M] E y rows (word_gates.h). */
#include "word_gates.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

enum { EMPTY = -2, WRITING = -1 }; /* slot_of values besides a slot number >= 0 */

struct cap_word_gates {
    int n_words, width, max_kept;
    atomic_int kept;        /* slots handed out so far (may pass max_kept; those are undone) */
    atomic_int *slot_of;    /* [n_words]: EMPTY, WRITING (one thread copies), or its slot */
    float *rows;            /* [max_kept][width] */
};

/* The rows are mapped, not malloc'ed: the mapping makes resident only the rows written, and
 * malloc could place them in a range that once held the encoder's buffers, which ask for
 * transparent huge pages (one row would then make 2 MB resident). */
static size_t rows_bytes(int max_kept, int width)
{
    return sizeof(float) * (size_t)max_kept * (size_t)width;
}

cap_word_gates *cap_word_gates_new(int n_words, int width, int max_kept)
{
    if (n_words <= 0 || width <= 0 || max_kept <= 0)
        return NULL;
    cap_word_gates *wg = malloc(sizeof *wg);
    if (!wg)
        return NULL;
    wg->n_words = n_words;
    wg->width = width;
    wg->max_kept = max_kept;
    atomic_init(&wg->kept, 0);
    wg->slot_of = malloc(sizeof *wg->slot_of * (size_t)n_words);
    void *rows = mmap(NULL, rows_bytes(max_kept, width), PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (!wg->slot_of || rows == MAP_FAILED) {
        if (rows != MAP_FAILED)
            munmap(rows, rows_bytes(max_kept, width));
        free(wg->slot_of);
        free(wg);
        return NULL;
    }
    wg->rows = rows;
    for (int i = 0; i < n_words; i++)
        atomic_init(&wg->slot_of[i], EMPTY);
    return wg;
}

void cap_word_gates_free(cap_word_gates *wg)
{
    if (!wg)
        return;
    munmap(wg->rows, rows_bytes(wg->max_kept, wg->width));
    free(wg->slot_of);
    free(wg);
}

const float *cap_word_gates_get(cap_word_gates *wg, int token)
{
    if (!wg || token < 0 || token >= wg->n_words)
        return NULL;
    /* Acquire: a slot number makes the row written before it visible. */
    const int slot = atomic_load_explicit(&wg->slot_of[token], memory_order_acquire);
    return slot >= 0 ? wg->rows + (size_t)slot * (size_t)wg->width : NULL;
}

void cap_word_gates_put(cap_word_gates *wg, int token, const float *row)
{
    if (!wg || token < 0 || token >= wg->n_words ||
        atomic_load_explicit(&wg->kept, memory_order_relaxed) >= wg->max_kept)
        return; /* full: this word's row is computed at every use */
    int expected = EMPTY;
    if (!atomic_compare_exchange_strong_explicit(&wg->slot_of[token], &expected, WRITING,
                                                 memory_order_relaxed, memory_order_relaxed))
        return; /* kept, or being kept, by another thread */
    const int slot = atomic_fetch_add_explicit(&wg->kept, 1, memory_order_relaxed);
    if (slot >= wg->max_kept) { /* another thread took the last slot */
        atomic_store_explicit(&wg->slot_of[token], EMPTY, memory_order_relaxed);
        return;
    }
    memcpy(wg->rows + (size_t)slot * (size_t)wg->width, row, sizeof(float) * (size_t)wg->width);
    atomic_store_explicit(&wg->slot_of[token], slot, memory_order_release);
}
