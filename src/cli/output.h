/* output.h - records in the text, JSONL, TSV and CSV formats, and reading them back. */
#ifndef CAPTION_CLI_OUTPUT_H
#define CAPTION_CLI_OUTPUT_H

#include "options.h"

#include <stdio.h>

/* --attention: the best caption's words and where the model looked for each, copied out of
 * the cap_result so that the record outlives it. One allocation (record_attention_new), freed
 * by record_release; the words are the model's strings. */
typedef struct record_attention {
    int n_words;
    int rows, cols;     /* the attention grid (cap_model_grid): L = rows * cols */
    const char **words; /* [n_words] */
    float *alpha;       /* [n_words x L], row-major over the grid, as cap_caption.alpha */
    float *beta;        /* [n_words] */
} record_attention;

/* The outcome of one image. Exactly one of caption and error is non-NULL. */
typedef struct record {
    const char *path;
    char *caption;
    const char *error; /* one-line reason, as printed after "caption: PATH: " */
    int n_tokens;     /* words in the caption */
    double logprob;   /* of the caption, <end> included when reached */
    int finished;     /* the caption ended with <end> rather than at --max-len */
    int width, height; /* of the file's image; 0 if it could not be decoded */
    double ms;        /* wall time to read, decode and caption it */
    int n_tags;       /* 0 when the model has no tagger or none were asked (--no-tags): then
                         the record is exactly that of a plain caption */
    cap_tag tags[CAP_MAX_TAGS]; /* best first; the strings are the model's */
    const char *forced; /* the word the caption was made to contain (the model's), or NULL */
    record_attention *attention; /* JSONL "words", "alpha", "beta", "grid"; NULL unless
                                    --attention (and always for a failed image) */
} record;

typedef struct sink {
    FILE *f;
    const char *name; /* for messages: the -o FILE, or "stdout" */
    out_format format;
    int tag_columns;  /* TSV/CSV: the rows end with the columns tags and forced */
    int with_path;    /* text format: PATH<TAB>CAPTION rather than CAPTION alone */
    int sync;         /* a regular file: fdatasync now and then, see sink_write */
    int tty;          /* a terminal, perhaps the one the progress bar is drawn on */
    double last_sync; /* monotonic seconds */
} sink;

/* Open -o FILE (appending when resume, else truncating) or use stdout when file is NULL, and
 * write the TSV/CSV header if the destination is empty. TSV/CSV rows get the tags and forced
 * columns when tag_columns is set, except when resuming a file whose header says otherwise:
 * a file keeps the columns it was started with. Prints a message on failure. */
int sink_open(sink *s, const char *file, out_format format, int with_path, int resume,
              int tag_columns);

/* Copy the tags and the forced word of an image's result into its record (the strings stay
 * the model's, so the record must not outlive the model). */
void record_set_tags(record *r, const cap_model *model, const cap_result *res);

/* The per-word attention of a result's best caption, or NULL when out of memory. The words
 * are spelled as cap_caption_text spells them, so they join into the record's caption. */
record_attention *record_attention_new(const cap_model *model, const cap_result *res);

/* Free what a record owns (its caption and attention) and zero it. */
void record_release(record *r);

/* Write one record and flush it, so that it is in the file before the next one starts.
 * Failed records print nothing in the text format (the error goes to stderr only).
 * Returns -1 on a write error (message printed). */
int sink_write(sink *s, const record *r);

/* Flush, sync and close (stdout is only flushed). Returns -1 on error (message printed). */
int sink_close(sink *s);

/*
 * Resume support: call found(path, ctx) for the path of every complete record in FILE (in
 * the given format), then cut FILE after its last complete record, so that a line torn by a
 * kill is dropped (and its image captioned again). A missing FILE has no records.
 * Returns -1 on an I/O or memory error (message printed).
 */
int output_scan(const char *file, out_format format, void (*found)(const char *path, void *ctx),
                void *ctx);

#endif
