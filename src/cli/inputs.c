/* inputs.c - operands to images: folder walks, stdin lists, magic-byte sniffing, sharding. */
#include "inputs.h"
#include "common/hash.h"
#include "common/signature.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

/* The folders between an operand and the one being walked, kept on the C stack: a folder
 * whose (device, inode) is already here would be walked forever (a symlink loop). */
typedef struct ancestor {
    dev_t dev;
    ino_t ino;
    const struct ancestor *up;
} ancestor;

typedef struct walker {
    const cli_options *opt;
    input_list *out;
    const volatile sig_atomic_t *stop;
} walker;

int shard_of(const char *path, int n)
{
    uint64_t h = hash_fnv1a64_str(path);
    h ^= h >> 30; /* splitmix64's finaliser: every bit of the hash reaches the low bits */
    h *= 0xbf58476d1ce4e5b9u;
    h ^= h >> 27;
    h *= 0x94d049bb133111ebu;
    h ^= h >> 31;
    return (int)(h % (uint64_t)n);
}

static int in_shard(const walker *w, const char *path)
{
    return w->opt->shard_n <= 1 || shard_of(path, w->opt->shard_n) == w->opt->shard_k - 1;
}

/* strerror in the library's style: "no such file or directory", not "No such ...". */
static const char *reason(int errnum, char *buf, size_t size)
{
    snprintf(buf, size, "%s", strerror(errnum));
    if (buf[0] >= 'A' && buf[0] <= 'Z')
        buf[0] = (char)(buf[0] - 'A' + 'a');
    return buf;
}

static void skipped(const walker *w, const char *path, const char *why)
{
    if (w->opt->verbose)
        fprintf(stderr, "caption: %s: skipped: %s\n", path, why);
}

static int add_item(input_list *list, const char *path, const char *error)
{
    if (list->n == list->cap) {
        size_t cap = list->cap ? list->cap * 2 : 256;
        input_item *grown = realloc(list->items, cap * sizeof *grown);
        if (!grown)
            return -1;
        list->items = grown;
        list->cap = cap;
    }
    input_item *it = &list->items[list->n];
    it->path = strdup(path);
    it->error = error ? strdup(error) : NULL;
    if (!it->path || (error && !it->error)) {
        free(it->path);
        free(it->error);
        return -1;
    }
    list->n++;
    return 0;
}

static int has_image_extension(const char *name)
{
    const char *dot = strrchr(name, '.');
    return dot && (strcasecmp(dot, ".jpg") == 0 || strcasecmp(dot, ".jpeg") == 0 ||
                   strcasecmp(dot, ".png") == 0);
}

/* 1 if the file starts like a JPEG or PNG (the signatures cap_image_load_memory accepts),
 * 0 if not, -1 if it cannot be read. */
static int sniff_image(const char *path)
{
    unsigned char head[SIGNATURE_MAX_BYTES];
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    size_t got = 0;
    while (got < sizeof head) {
        ssize_t r = read(fd, head + got, sizeof head - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    close(fd);
    return signature_of(head, got) != SIGNATURE_NONE;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int walk_dir(walker *w, const char *dir, const struct stat *st, const ancestor *up);

/* One entry found by a walk: follow it if it is a folder, take it if it looks like a photo. */
static int walk_entry(walker *w, const char *path, const char *name, const ancestor *up)
{
    struct stat st;
    char why[128];
    if (stat(path, &st) != 0) {
        skipped(w, path, errno == ELOOP ? "symbolic link loop" : reason(errno, why, sizeof why));
        return 0;
    }
    if (S_ISDIR(st.st_mode))
        return walk_dir(w, path, &st, up);
    if (!S_ISREG(st.st_mode)) {
        skipped(w, path, "not a regular file");
        return 0;
    }
    if (!in_shard(w, path))
        return 0; /* before sniffing: other shards' files need not even be opened */
    int sniffed = sniff_image(path);
    if (sniffed == 1 || has_image_extension(name))
        return add_item(w->out, path, NULL);
    skipped(w, path, sniffed < 0 ? reason(errno, why, sizeof why) : "not a JPEG or PNG file");
    return 0;
}

static int walk_dir(walker *w, const char *dir, const struct stat *st, const ancestor *up)
{
    for (const ancestor *a = up; a; a = a->up)
        if (a->dev == st->st_dev && a->ino == st->st_ino) {
            skipped(w, dir, "symbolic link loop");
            return 0;
        }
    const ancestor self = {st->st_dev, st->st_ino, up};

    DIR *d = opendir(dir);
    if (!d) {
        /* A folder we cannot list is a failure of the run (the user asked for its photos),
         * reported through the normal record path so that it lands in the output too. */
        char why[128], msg[160];
        snprintf(msg, sizeof msg, "cannot read folder: %s", reason(errno, why, sizeof why));
        return add_item(w->out, dir, msg);
    }
    char **names = NULL;
    size_t n = 0, cap = 0;
    int rc = 0;
    struct dirent *e;
    errno = 0;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            char **grown = realloc(names, cap * sizeof *grown);
            if (!grown) {
                rc = -1;
                break;
            }
            names = grown;
        }
        if (!(names[n] = strdup(e->d_name))) {
            rc = -1;
            break;
        }
        n++;
    }
    closedir(d);
    if (rc == 0 && n > 1) /* names is NULL for an empty folder; qsort's pointer is nonnull */
        qsort(names, n, sizeof *names, by_name);

    size_t dlen = strlen(dir);
    const char *sep = dlen > 0 && dir[dlen - 1] == '/' ? "" : "/";
    for (size_t i = 0; i < n && rc == 0; i++) {
        if (*w->stop) {
            rc = -1;
            break;
        }
        size_t need = dlen + 1 + strlen(names[i]) + 1;
        char *path = malloc(need);
        if (!path) {
            rc = -1;
            break;
        }
        snprintf(path, need, "%s%s%s", dir, sep, names[i]);
        rc = walk_entry(w, path, names[i], &self);
        free(path);
    }
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    return rc;
}

/* A command-line operand or a line of stdin. */
static int add_operand(walker *w, const char *arg)
{
    struct stat st;
    if (stat(arg, &st) == 0 && S_ISDIR(st.st_mode))
        return walk_dir(w, arg, &st, NULL);
    /* Files named explicitly are never sniffed: a missing or broken one is an error. */
    return in_shard(w, arg) ? add_item(w->out, arg, NULL) : 0;
}

static int add_stdin(walker *w)
{
    char *line = NULL;
    size_t size = 0;
    ssize_t len;
    int rc = 0;
    while (rc == 0 && (len = getline(&line, &size, stdin)) != -1) {
        if (len > 0 && line[len - 1] == '\n')
            line[--len] = '\0';
        if (len > 0)
            rc = add_operand(w, line);
        if (*w->stop)
            rc = -1;
    }
    if (rc == 0 && ferror(stdin) && !*w->stop) {
        fprintf(stderr, "caption: -: cannot read stdin: %s\n", strerror(errno));
        rc = -2;
    }
    free(line);
    return rc;
}

int inputs_collect(const cli_options *opt, input_list *out, const volatile sig_atomic_t *stop)
{
    memset(out, 0, sizeof *out);
    walker w = {opt, out, stop};
    for (int i = 0; i < opt->n_operands; i++) {
        const char *arg = opt->operands[i];
        int rc = strcmp(arg, "-") == 0 ? add_stdin(&w) : add_operand(&w, arg);
        if (rc != 0 || *stop) {
            if (!*stop && rc == -1)
                fprintf(stderr, "caption: out of memory listing the inputs\n");
            return -1;
        }
    }
    struct stat st;
    out->single_image = opt->n_operands == 1 && strcmp(opt->operands[0], "-") != 0 &&
                        !(stat(opt->operands[0], &st) == 0 && S_ISDIR(st.st_mode));
    return 0;
}

void inputs_filter(input_list *list, int (*keep)(const char *path, void *ctx), void *ctx)
{
    size_t kept = 0;
    for (size_t i = 0; i < list->n; i++) {
        if (keep(list->items[i].path, ctx)) {
            list->items[kept++] = list->items[i];
        } else {
            free(list->items[i].path);
            free(list->items[i].error);
        }
    }
    list->n = kept;
}

void inputs_free(input_list *list)
{
    for (size_t i = 0; i < list->n; i++) {
        free(list->items[i].path);
        free(list->items[i].error);
    }
    free(list->items);
    memset(list, 0, sizeof *list);
}
