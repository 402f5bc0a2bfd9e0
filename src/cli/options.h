/* options.h - the command line of `caption`, parsed in one place (options.c). */
#ifndef CAPTION_CLI_OPTIONS_H
#define CAPTION_CLI_OPTIONS_H

#include "caption.h"

#define EXIT_USAGE 2
#define EXIT_INTERRUPTED 130

typedef enum out_format {
    FORMAT_TEXT, /* CAPTION alone for one image, else PATH<TAB>CAPTION (the one-image contract) */
    FORMAT_JSONL,
    FORMAT_TSV,
    FORMAT_CSV
} out_format;

typedef struct cli_options {
    cap_options caption;    /* --beam, --max-len, --length-penalty, --no-repeat-ngram,
                               --tags, --tag-threshold, --no-tags */
    const char *model_path; /* --model, else default_model() */
    const char *output;     /* -o FILE, NULL = stdout */
    out_format format;      /* --format */
    int attention;          /* --attention: JSONL records carry the per-word attention */
    int resume;             /* --resume (needs -o) */
    int jobs;               /* -j N, 0 = one per core */
    int blas_threads;       /* --blas-threads N, 0 = cores / jobs */
    int batch;              /* --batch N: images a job captions together, 0 = automatic */
    int shard_k, shard_n;   /* --shard K/N with 1 <= K <= N; 1/1 = everything */
    int verbose;            /* --verbose: say which files a folder walk skipped, and why */
    int quiet;              /* --quiet: no progress bar */
    int view;               /* --view: the SDL2 attention viewer on the inputs */
    const char *attention_png; /* --attention-png OUT.png: the headless figure of one IMAGE */
    int step;               /* --step K (with --view): word shown first; -1 = default */
    const char *screenshot; /* --screenshot OUT.png (with --view): scripted mode */
    char **operands;        /* IMAGE, DIR or "-" operands, in command-line order */
    int n_operands;
} cli_options;

/* What parse_options asks main to do. */
typedef enum parse_result { PARSE_RUN, PARSE_EXIT_OK, PARSE_EXIT_USAGE } parse_result;

/* Fill *opt from argv. Prints --help/--version to stdout and usage errors to stderr itself. */
parse_result parse_options(int argc, char **argv, cli_options *opt);

#endif
