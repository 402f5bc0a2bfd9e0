/* fuzz_model.c - libFuzzer target for the model loader. cap_model_load takes a path and
 * mmaps it, which is the code users run, so the bytes go to a memfd and are loaded through
 * /proc/self/fd/N rather than through a separate in-memory entry point that could drift. */
#define _GNU_SOURCE
#include "caption.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int fd = -1;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[64];
    cap_model *model = NULL;
    cap_error err;

    if (fd < 0 && (fd = memfd_create("fuzz_model", 0)) < 0)
        abort();
    if (ftruncate(fd, 0) != 0 || pwrite(fd, data, size, 0) != (ssize_t)size)
        abort();
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    if (cap_model_load(path, &model, &err) == CAP_OK) {
        /* Touch what a caller would: every word of the vocabulary. */
        size_t total = 0;
        for (int i = 0; i < cap_model_vocab_size(model); i++)
            total += strlen(cap_model_word(model, i));
        if (total == (size_t)-1 || cap_model_tag_classes(model) < 0)
            abort();
        cap_model_free(model);
    } else if (model || !err.message[0]) {
        abort();
    }
    return 0;
}
