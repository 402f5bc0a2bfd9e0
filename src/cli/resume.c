/* resume.c - a hash set of the paths an output file records, used to filter the inputs. */
#include "resume.h"
#include "common/hash.h"

#include "output.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Open addressing with linear probing, kept at most half full. */
typedef struct pathset {
    char **slots;
    size_t cap, n;
    int oom;
} pathset;

static char **find(const pathset *set, const char *path)
{
    size_t i = (size_t)hash_fnv1a64_str(path) & (set->cap - 1);
    while (set->slots[i] && strcmp(set->slots[i], path) != 0)
        i = (i + 1) & (set->cap - 1);
    return &set->slots[i];
}

static int grow(pathset *set)
{
    pathset bigger = {calloc(set->cap ? set->cap * 2 : 1024, sizeof(char *)),
                      set->cap ? set->cap * 2 : 1024, set->n, 0};
    if (!bigger.slots)
        return -1;
    for (size_t i = 0; i < set->cap; i++)
        if (set->slots[i])
            *find(&bigger, set->slots[i]) = set->slots[i];
    free(set->slots);
    *set = bigger;
    return 0;
}

static void add_path(const char *path, void *ctx)
{
    pathset *set = ctx;
    if (set->oom || ((set->n + 1) * 2 > set->cap && grow(set) != 0)) {
        set->oom = 1;
        return;
    }
    char **slot = find(set, path);
    if (*slot)
        return;
    if (!(*slot = strdup(path))) {
        set->oom = 1;
        return;
    }
    set->n++;
}

static int not_recorded(const char *path, void *ctx)
{
    const pathset *set = ctx;
    return set->n == 0 || *find(set, path) == NULL;
}

int resume_skip_recorded(const char *file, out_format format, input_list *inputs)
{
    pathset set = {0};
    int rc = output_scan(file, format, add_path, &set);
    if (rc == 0 && set.oom) {
        fprintf(stderr, "caption: %s: out of memory reading the records\n", file);
        rc = -1;
    }
    if (rc == 0)
        inputs_filter(inputs, not_recorded, &set);
    for (size_t i = 0; i < set.cap; i++)
        free(set.slots[i]);
    free(set.slots);
    return rc;
}
