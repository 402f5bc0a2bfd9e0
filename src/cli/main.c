/* caption - command-line captioner on top of libcaption.
 *
 *   caption [--model PATH] [--beam N] [--max-len N] IMAGE...
 *
 * One image: prints its caption alone. Several: PATH<TAB>CAPTION per image, in argument order.
 * An image that fails prints "caption: PATH: reason" on stderr and the others go on.
 * Exit status: 0 all captioned, 1 any image (or the model) failed, 2 usage error. */
#include "caption.h"
#include "config.h"

#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define EXIT_USAGE 2

static void usage(FILE *f)
{
    fprintf(f,
            "usage: caption [OPTIONS] IMAGE...\n"
            "Describe JPEG or PNG photos in a sentence (Show, Attend and Tell).\n"
            "\n"
            "  -m, --model PATH   model file (default: $CAPTION_MODEL, else the installed\n"
            "                     model, else the source tree's models/%s)\n"
            "  -b, --beam N       beam size, 1 = greedy (default 3)\n"
            "  -l, --max-len N    at most N decoding steps per caption (default 20)\n"
            "  -h, --help         show this help\n"
            "  -V, --version      show the version\n"
            "\n"
            "One IMAGE prints its caption; several print PATH<TAB>CAPTION lines.\n"
            "Exit status: 0 ok, 1 some image or the model failed, 2 usage error.\n",
            strrchr(CAPTION_MODEL_SOURCE, '/') + 1);
}

/* --model, else $CAPTION_MODEL, else the installed copy, else the source tree's. */
static const char *default_model(void)
{
    const char *env = getenv("CAPTION_MODEL");
    if (env && *env)
        return env;
    if (access(CAPTION_MODEL_INSTALLED, R_OK) == 0)
        return CAPTION_MODEL_INSTALLED;
    return CAPTION_MODEL_SOURCE;
}

static int parse_int(const char *s, const char *what, int lo, int hi, int *out)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (*s == '\0' || *end != '\0' || v < lo || v > hi) {
        fprintf(stderr, "caption: %s must be an integer from %d to %d, got '%s'\n", what, lo, hi,
                s);
        return 0;
    }
    *out = (int)v;
    return 1;
}

/* Caption one file and print its line; returns 0 on success. */
static int caption_one(const cap_model *model, const cap_options *opt, const char *path,
                       int with_path, char **text, size_t *text_size)
{
    cap_error err = {0};
    cap_image img = {0};
    cap_result res = {0};
    if (cap_image_load_file(path, &img, &err) != CAP_OK ||
        cap_caption_image(model, &img, opt, &res, &err) != CAP_OK) {
        cap_image_free(&img);
        fprintf(stderr, "caption: %s: %s\n", path, err.message);
        return 1;
    }
    size_t need = cap_caption_text(model, &res.captions[0], *text, *text_size) + 1;
    if (need > *text_size) {
        char *grown = realloc(*text, need);
        if (!grown) {
            cap_result_free(&res);
            cap_image_free(&img);
            fprintf(stderr, "caption: %s: out of memory\n", path);
            return 1;
        }
        *text = grown;
        *text_size = need;
        cap_caption_text(model, &res.captions[0], *text, *text_size);
    }
    if (with_path)
        printf("%s\t%s\n", path, *text);
    else
        printf("%s\n", *text);
    fflush(stdout); /* every finished line is out before the next image starts */
    cap_result_free(&res);
    cap_image_free(&img);
    return 0;
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"model", required_argument, NULL, 'm'}, {"beam", required_argument, NULL, 'b'},
        {"max-len", required_argument, NULL, 'l'}, {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'}, {NULL, 0, NULL, 0}};
    cap_options opt = cap_options_default();
    const char *model_path = NULL;
    int c;
    while ((c = getopt_long(argc, argv, "m:b:l:hV", longopts, NULL)) != -1) {
        switch (c) {
        case 'm': model_path = optarg; break;
        case 'b':
            if (!parse_int(optarg, "--beam", 1, 100, &opt.beam_size))
                return EXIT_USAGE;
            break;
        case 'l':
            if (!parse_int(optarg, "--max-len", 1, 1000, &opt.max_len))
                return EXIT_USAGE;
            break;
        case 'h': usage(stdout); return 0;
        case 'V': printf("caption %s\n", CAP_VERSION_STRING); return 0;
        default: usage(stderr); return EXIT_USAGE;
        }
    }
    if (optind >= argc) {
        usage(stderr);
        return EXIT_USAGE;
    }
    if (!model_path)
        model_path = default_model();

    cap_error err = {0};
    cap_model *model = NULL;
    if (cap_model_load(model_path, &model, &err) != CAP_OK) {
        fprintf(stderr, "caption: %s: %s\n", model_path, err.message);
        return 1;
    }
    const int with_path = argc - optind > 1;
    int failed = 0;
    char *text = NULL;
    size_t text_size = 0;
    for (int i = optind; i < argc; i++)
        failed |= caption_one(model, &opt, argv[i], with_path, &text, &text_size);
    free(text);
    cap_model_free(model);
    return failed ? 1 : 0;
}
