/* fuzz_resume.c - libFuzzer target for the --resume reader (src/cli/resume.c over
 * output_scan): the bytes are an existing output file, read as each of the four formats in
 * turn. resume_skip_recorded opens a path and cuts a torn last record off the file with
 * ftruncate, so the bytes go to a memfd, reached through /proc/self/fd/N, and are written
 * afresh before each format (safe to repeat, nothing on disk).
 *
 * Besides no crash or leak, each run checks what the reader promises: it succeeds on any
 * bytes (no I/O can fail here), the cut only removes a tail (the kept bytes are unchanged;
 * for the line formats the cut is right after the last newline, CSV may cut earlier inside
 * an unbalanced quote), and a second read of the cut file cuts nothing and drops the same
 * inputs. The input list holds a few paths that the seeds record, among them a name with a
 * tab and one that is not UTF-8 (recorded through path_bytes, or \t and \xHH in TSV and
 * text lines). The reader's messages
 * (a JSONL line that is not a record) go to /dev/null: the sanitizers write to fd 2 directly,
 * so their reports still show. */
#define _GNU_SOURCE
#include "cli/resume.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const paths[] = {
    "assets/pets.jpg", "assets/bird.png", "a.jpg", "tab\there.png", "caf\xe9.jpg",
    "dir/100%.png",    "x",
};
enum { N_PATHS = sizeof paths / sizeof paths[0] };

static int fd = -1;
static FILE *quiet;

static void make_list(input_list *list)
{
    memset(list, 0, sizeof *list);
    if (!(list->items = calloc(N_PATHS, sizeof *list->items)))
        abort();
    for (size_t i = 0; i < N_PATHS; i++)
        if (!(list->items[i].path = strdup(paths[i])))
            abort();
    list->n = list->cap = N_PATHS;
}

static off_t file_size(void)
{
    struct stat st;
    if (fstat(fd, &st) != 0)
        abort();
    return st.st_size;
}

/* Read the file as `format` into a fresh list; abort if the reader fails. */
static void scan(const char *path, out_format format, input_list *list)
{
    make_list(list);
    FILE *saved = stderr;
    stderr = quiet;
    int rc = resume_skip_recorded(path, format, list);
    stderr = saved;
    if (rc != 0)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const out_format formats[] = {FORMAT_TEXT, FORMAT_JSONL, FORMAT_TSV, FORMAT_CSV};
    char path[64];

    if (fd < 0 && (fd = memfd_create("fuzz_resume", 0)) < 0)
        abort();
    if (!quiet && !(quiet = fopen("/dev/null", "w")))
        abort();
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    /* Where the line formats cut: right after the last newline. */
    size_t line_end = size;
    while (line_end > 0 && data[line_end - 1] != '\n')
        line_end--;

    for (size_t k = 0; k < sizeof formats / sizeof formats[0]; k++) {
        input_list first, again;
        if (ftruncate(fd, 0) != 0 || pwrite(fd, data, size, 0) != (ssize_t)size)
            abort();
        scan(path, formats[k], &first);
        off_t cut = file_size();
        if (formats[k] == FORMAT_CSV ? (size_t)cut > line_end : (size_t)cut != line_end)
            abort();
        if (cut > 0) {
            uint8_t *kept = malloc((size_t)cut);
            if (!kept || pread(fd, kept, (size_t)cut, 0) != (ssize_t)cut ||
                memcmp(kept, data, (size_t)cut) != 0)
                abort();
            free(kept);
        }
        scan(path, formats[k], &again);
        if (file_size() != cut || again.n != first.n)
            abort();
        for (size_t i = 0; i < first.n; i++)
            if (strcmp(first.items[i].path, again.items[i].path) != 0)
                abort();
        inputs_free(&first);
        inputs_free(&again);
    }
    return 0;
}
