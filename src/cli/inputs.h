/* inputs.h - turn operands (files, folders, "-" for stdin) into the ordered list of images. */
#ifndef CAPTION_CLI_INPUTS_H
#define CAPTION_CLI_INPUTS_H

#include "options.h"

#include <signal.h>
#include <stddef.h>

typedef struct input_item {
    char *path;  /* as given, or folder + "/" + name for files found by a walk */
    char *error; /* non-NULL: the item already failed (e.g. an unreadable folder) */
} input_item;

typedef struct input_list {
    input_item *items;
    size_t n, cap;
    int single_image; /* exactly one operand and it is a file: print the caption alone */
} input_list;

/*
 * Expand opt->operands in order. A file operand is always taken (its errors are reported
 * when captioning). A folder is walked depth-first, each folder's entries sorted by name
 * (byte order), following symbolic links but never into a folder that is its own ancestor;
 * a file found by the walk is taken when its first bytes are a JPEG or PNG signature or its
 * name ends in .jpg/.jpeg/.png, so a broken "photo.jpg" is reported rather than skipped.
 * "-" reads one operand per line from stdin. Only paths in shard opt->shard_k of
 * opt->shard_n are kept (see shard_of). Returns 0, or -1 (after a message, unless
 * because *stop became set) when interrupted, out of memory or stdin cannot be read.
 */
int inputs_collect(const cli_options *opt, input_list *out, const volatile sig_atomic_t *stop);

/* Remove items for which keep(path, ctx) is 0, preserving order. */
void inputs_filter(input_list *list, int (*keep)(const char *path, void *ctx), void *ctx);

void inputs_free(input_list *list);

/* The shard (0 .. n-1) a path belongs to: a 64-bit FNV-1a hash of its bytes, mixed with
 * the splitmix64 finaliser so that every bit of the hash spreads evenly modulo n. Depends
 * only on the path string, so every machine computes the same split. */
int shard_of(const char *path, int n);

#endif
