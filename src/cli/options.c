/* options.c - every command-line option of `caption`: the table, the help text and the
 * checks. To add an option: a line in longopts (long-only options take a value from the
 * OPT_ enum), a case in parse_options, a field in cli_options and a line in usage(). */
#include "options.h"

#include "batch.h"

#include "common/data_file.h"
#include "config.h"

#include <float.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Values of long options without a short form; above the char range so they never collide. */
enum {
    OPT_RESUME = 256,
    OPT_SHARD,
    OPT_BLAS_THREADS,
    OPT_VERBOSE,
    OPT_VIEW,
    OPT_ATTENTION_PNG,
    OPT_STEP,
    OPT_SCREENSHOT,
    OPT_LENGTH_PENALTY,
    OPT_NO_REPEAT,
    OPT_TAGS,
    OPT_TAG_THRESHOLD,
    OPT_NO_TAGS,
    OPT_ATTENTION,
    OPT_BATCH,
};

static const char short_opts[] = "m:b:l:o:f:j:qhV";

static const struct option long_opts[] = {
    {"model", required_argument, NULL, 'm'},
    {"beam", required_argument, NULL, 'b'},
    {"max-len", required_argument, NULL, 'l'},
    {"length-penalty", required_argument, NULL, OPT_LENGTH_PENALTY},
    {"no-repeat-ngram", required_argument, NULL, OPT_NO_REPEAT},
    {"tags", required_argument, NULL, OPT_TAGS},
    {"tag-threshold", required_argument, NULL, OPT_TAG_THRESHOLD},
    {"no-tags", no_argument, NULL, OPT_NO_TAGS},
    {"output", required_argument, NULL, 'o'},
    {"format", required_argument, NULL, 'f'},
    {"resume", no_argument, NULL, OPT_RESUME},
    {"attention", no_argument, NULL, OPT_ATTENTION},
    {"jobs", required_argument, NULL, 'j'},
    {"shard", required_argument, NULL, OPT_SHARD},
    {"blas-threads", required_argument, NULL, OPT_BLAS_THREADS},
    {"batch", required_argument, NULL, OPT_BATCH},
    {"verbose", no_argument, NULL, OPT_VERBOSE},
    {"view", no_argument, NULL, OPT_VIEW},
    {"attention-png", required_argument, NULL, OPT_ATTENTION_PNG},
    {"step", required_argument, NULL, OPT_STEP},
    {"screenshot", required_argument, NULL, OPT_SCREENSHOT},
    {"quiet", no_argument, NULL, 'q'},
    {"help", no_argument, NULL, 'h'},
    {"version", no_argument, NULL, 'V'},
    {NULL, 0, NULL, 0},
};

static void usage(FILE *f)
{
    fprintf(f,
            "usage: caption [OPTIONS] IMAGE|DIR|-...\n"
            "Describe JPEG or PNG photos in a sentence (Show, Attend and Tell).\n"
            "\n"
            "  -m, --model PATH   model file (default: $CAPTION_MODEL, else the installed\n"
            "                     model, else the source tree's models/%s)\n"
            "  -b, --beam N       beam size, 1 = greedy (default 3)\n"
            "  -l, --max-len N    at most N decoding steps per caption (default 20)\n"
            "      --length-penalty A  rank finished captions by logprob / (words + 1)^A;\n"
            "                     larger A, longer captions (default 0.7, 0 = off)\n"
            "      --no-repeat-ngram N  never repeat an N-word sequence within a caption\n"
            "                     (default 2, 0 = off)\n"
            "      --tags N       report the tagger's N most probable ImageNet classes\n"
            "                     (0 to %d, default %d; models with a tagger only)\n"
            "      --tag-threshold T  the caption must name the top tag's word when its\n"
            "                     probability is >= T (default %g; above 1: never)\n"
            "      --no-tags      no tagger: no tags, plain captions (= --tags 0)\n"
            "\n"
            "Batches (a DIR is walked recursively in sorted order for JPEG/PNG files;\n"
            "'-' reads paths from stdin, one per line):\n"
            "  -o, --output FILE  write records to FILE (each flushed as soon as it is done)\n"
            "  -f, --format FMT   text (PATH<TAB>CAPTION, default), jsonl, tsv or csv\n"
            "      --resume       with -o: skip the paths FILE already records, append the rest\n"
            "      --attention    with --format jsonl: add the best caption's words and, per\n"
            "                     word, its attention (alpha), gate (beta), and the grid\n"
            "  -j, --jobs N       N images at a time (default: one per core)\n"
            "      --shard K/N    only part K of N (1 <= K <= N), chosen by a hash of the path\n"
            "      --blas-threads N  BLAS threads per job (default: cores / jobs, at least 1;\n"
            "                        1 for a single image)\n"
            "      --batch N      each job captions N images together, in lockstep (default:\n"
            "                     up to %d; same captions, faster; 1 = one at a time)\n"
            "      --verbose      also say which files a folder walk skipped, and why\n"
            "  -q, --quiet        no progress bar (it is only drawn when stderr is a terminal)\n"
            "\n"
            "Attention (where the model looked for each word):\n"
            "      --view         open the viewer window on the images (keys: H for help)\n"
            "      --step K       with --view: start at word K (0 = the photo alone)\n"
            "      --screenshot OUT.png  with --view: save the window at --step and exit\n"
            "      --attention-png OUT.png  write the attention figure of one IMAGE, no window\n"
            "\n"
            "  -h, --help         show this help\n"
            "  -V, --version      show the version\n"
            "\n"
            "One IMAGE prints its caption; several, or a DIR, print PATH<TAB>CAPTION lines,\n"
            "in input order whatever -j.\n"
            "Exit status: 0 ok, 1 some image or the model failed, 2 usage error,\n"
            "130 interrupted (the output file is left consistent; --resume continues it).\n",
            strrchr(CAPTION_MODEL_SOURCE, '/') + 1, CAP_MAX_TAGS, cap_options_default().max_tags,
            (double)CAP_DEFAULT_TAG_THRESHOLD, BATCH_SIZE_DEFAULT);
}

/* --model, else $CAPTION_MODEL, else the installed copy, else the source tree's. */
static const char *default_model(void)
{
    return data_file_path("CAPTION_MODEL", CAPTION_MODEL_INSTALLED, CAPTION_MODEL_SOURCE);
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

/* A finite number in [lo, hi]; hi = INFINITY for no upper bound (still refusing "inf"). */
static int parse_float(const char *s, const char *what, float lo, float hi, float *out)
{
    char *end;
    double v = strtod(s, &end);
    if (*s == '\0' || *end != '\0' || !isfinite(v) || !(v >= lo && v <= hi) ||
        (float)v > FLT_MAX) {
        if (isinf(hi))
            fprintf(stderr, "caption: %s must be a number >= %g, got '%s'\n", what, lo, s);
        else
            fprintf(stderr, "caption: %s must be a number from %g to %g, got '%s'\n", what, lo,
                    hi, s);
        return 0;
    }
    *out = (float)v;
    return 1;
}

static int parse_format(const char *s, out_format *out)
{
    static const struct {
        const char *name;
        out_format format;
    } names[] = {{"text", FORMAT_TEXT}, {"jsonl", FORMAT_JSONL}, {"tsv", FORMAT_TSV},
                 {"csv", FORMAT_CSV}};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcmp(s, names[i].name) == 0) {
            *out = names[i].format;
            return 1;
        }
    fprintf(stderr, "caption: --format must be text, jsonl, tsv or csv, got '%s'\n", s);
    return 0;
}

static int parse_shard(const char *s, int *k, int *n)
{
    char *end1, *end2 = NULL;
    long kk = strtol(s, &end1, 10);
    long nn = *end1 == '/' ? strtol(end1 + 1, &end2, 10) : 0;
    if (end1 == s || *end1 != '/' || end2 == end1 + 1 || *end2 != '\0' || nn < 1 ||
        nn > 1000000 || kk < 1 || kk > nn) {
        fprintf(stderr, "caption: --shard must be K/N with 1 <= K <= N, got '%s'\n", s);
        return 0;
    }
    *k = (int)kk;
    *n = (int)nn;
    return 1;
}

/* The options that only make sense together (or not at all together), after getopt; one line
 * on stderr for the first conflict. Returns 1 if they combine. */
static int options_combine(const cli_options *opt, int n_operands)
{
    if (opt->resume && !opt->output) {
        fprintf(stderr, "caption: --resume needs -o FILE\n");
        return 0;
    }
    /* Only JSON nests a list of weights per word; a TSV/CSV cell or a text line would need a
     * format of its own, and the window and the figure draw the attention themselves. */
    if (opt->attention && (opt->format != FORMAT_JSONL || opt->view || opt->attention_png)) {
        fprintf(stderr, "caption: --attention goes with --format jsonl (not with --view or "
                        "--attention-png)\n");
        return 0;
    }
    if ((opt->step >= 0 || opt->screenshot) && !opt->view) {
        fprintf(stderr, "caption: --step and --screenshot go with --view\n");
        return 0;
    }
    if (opt->view && opt->attention_png) {
        fprintf(stderr, "caption: --view and --attention-png cannot be combined\n");
        return 0;
    }
    if (opt->attention_png && n_operands != 1) {
        fprintf(stderr, "caption: --attention-png takes exactly one IMAGE\n");
        return 0;
    }
    return 1;
}

parse_result parse_options(int argc, char **argv, cli_options *opt)
{
    memset(opt, 0, sizeof *opt);
    opt->caption = cap_options_default();
    opt->format = FORMAT_TEXT;
    opt->shard_k = opt->shard_n = 1;
    opt->step = -1;

    int c;
    while ((c = getopt_long(argc, argv, short_opts, long_opts, NULL)) != -1) {
        int ok = 1;
        switch (c) {
        case 'm': opt->model_path = optarg; break;
        case 'b': ok = parse_int(optarg, "--beam", 1, 100, &opt->caption.beam_size); break;
        case 'l': ok = parse_int(optarg, "--max-len", 1, 1000, &opt->caption.max_len); break;
        case OPT_LENGTH_PENALTY:
            ok = parse_float(optarg, "--length-penalty", 0.0f, 10.0f,
                             &opt->caption.length_penalty);
            break;
        case OPT_NO_REPEAT:
            ok = parse_int(optarg, "--no-repeat-ngram", 0, 100, &opt->caption.no_repeat_ngram);
            if (ok && opt->caption.no_repeat_ngram == 1) {
                fprintf(stderr, "caption: --no-repeat-ngram must be 0 (off) or at least 2\n");
                ok = 0;
            }
            break;
        case OPT_TAGS:
            ok = parse_int(optarg, "--tags", 0, CAP_MAX_TAGS, &opt->caption.max_tags);
            break;
        case OPT_TAG_THRESHOLD:
            ok = parse_float(optarg, "--tag-threshold", 0.0f, INFINITY,
                             &opt->caption.tag_threshold);
            break;
        case OPT_NO_TAGS: opt->caption.max_tags = 0; break;
        case 'o': opt->output = optarg; break;
        case 'f': ok = parse_format(optarg, &opt->format); break;
        case OPT_RESUME: opt->resume = 1; break;
        case OPT_ATTENTION: opt->attention = 1; break;
        case 'j': ok = parse_int(optarg, "--jobs", 1, 1024, &opt->jobs); break;
        case OPT_SHARD: ok = parse_shard(optarg, &opt->shard_k, &opt->shard_n); break;
        case OPT_BLAS_THREADS:
            ok = parse_int(optarg, "--blas-threads", 1, 1024, &opt->blas_threads);
            break;
        case OPT_BATCH: ok = parse_int(optarg, "--batch", 1, 256, &opt->batch); break;
        case OPT_VERBOSE: opt->verbose = 1; break;
        case OPT_VIEW: opt->view = 1; break;
        case OPT_ATTENTION_PNG: opt->attention_png = optarg; break;
        case OPT_STEP: ok = parse_int(optarg, "--step", 0, 1000, &opt->step); break;
        case OPT_SCREENSHOT: opt->screenshot = optarg; break;
        case 'q': opt->quiet = 1; break;
        case 'h': usage(stdout); return PARSE_EXIT_OK;
        case 'V': printf("caption %s\n", CAP_VERSION_STRING); return PARSE_EXIT_OK;
        default: usage(stderr); return PARSE_EXIT_USAGE;
        }
        if (!ok)
            return PARSE_EXIT_USAGE;
    }
    if (optind >= argc) {
        usage(stderr);
        return PARSE_EXIT_USAGE;
    }
    if (!options_combine(opt, argc - optind))
        return PARSE_EXIT_USAGE;
    if (!opt->model_path)
        opt->model_path = default_model();
    opt->operands = argv + optind;
    opt->n_operands = argc - optind;
    return PARSE_RUN;
}
