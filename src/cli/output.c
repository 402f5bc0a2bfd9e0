/* output.c - writing records (text, JSONL via cJSON, TSV, CSV) and scanning them for --resume.
 *
 * TSV and CSV carry the same columns as JSONL, after a header line. Tags (a model with a
 * tagger) are the JSONL keys "tags" and "forced", and two more columns at the end of TSV and
 * CSV rows; without tags, records are exactly those of a plain caption (docs/batch.md).
 * TSV escapes backslash, tab, newline and carriage return in a field as \\ \t \n \r, and a
 * byte that is not part of valid UTF-8 as \xHH; CSV quotes as RFC 4180 does. File names are
 * bytes, records UTF-8: a path that is not UTF-8 is written readable (U+FFFD) with its exact
 * bytes in "path_bytes" (JSONL, CSV) percent-encoded as pathcode.h says, and read back
 * exactly. The text format's PATH<TAB>CAPTION lines escape both fields as TSV does, since a
 * raw tab or newline in a name would make the line ambiguous for --resume. With
 * --attention, JSONL records also carry the best caption's "words", "alpha", "beta" and
 * "grid"; TSV and CSV cannot (the option refuses them). */
#include "output.h"
#include "pathcode.h"
#include "common/clock.h"
#include "common/tag_text.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* CSV has no escapes, so it alone has the last column, path_bytes; TSV stops before it. */
static const char *const columns[] = {"path",  "caption", "tokens", "logprob", "finished",
                                      "width", "height",  "ms",     "error",   "path_bytes"};
enum { N_COLUMNS = sizeof columns / sizeof columns[0], N_TSV_COLUMNS = N_COLUMNS - 1 };
/* After each format's last column, only in files started with tags, so that files without
 * tags keep the columns (and bytes) they always had. */
static const char *const tag_columns[] = {"tags", "forced"};
enum { N_TAG_COLUMNS = sizeof tag_columns / sizeof tag_columns[0] };

/* Probabilities of tags: 4 significant digits, enough to rank and threshold them. */
#define TAG_P_FORMAT "%.4g"
/* Attention weights and gates: 9 significant digits, the fewest that always read back as the
 * library's float32 exactly (FLT_DECIMAL_DIG), so a reader gets cap_caption.alpha itself. */
#define ATTENTION_FORMAT "%.9g"

/* Fewer digits than a float carries, so that records are short and read well. */
static double round_to(double x, double unit)
{
    return round(x / unit) * unit;
}

static int n_columns(out_format format)
{
    return format == FORMAT_CSV ? N_COLUMNS : N_TSV_COLUMNS;
}

/* The header line of TSV and CSV with its first n columns, then the tag columns when tags is
 * set, newline included. */
static void header_line(out_format format, int n, int tags, char *buf, size_t size)
{
    const char sep = format == FORMAT_TSV ? '\t' : ',';
    const int total = n + (tags ? N_TAG_COLUMNS : 0);
    size_t len = 0;
    buf[0] = '\0';
    for (int i = 0; i < total && len < size; i++)
        len += (size_t)snprintf(buf + len, size - len, "%s%c",
                                i < n ? columns[i] : tag_columns[i - n],
                                i + 1 < total ? sep : '\n');
}

/* Which header a TSV/CSV file's first line (newline included) is: 1 with the tag columns,
 * 0 without (also CSV files written before path_bytes existed), -1 none. */
static int header_kind(const char *line, out_format format)
{
    char header[200];
    if (format != FORMAT_TSV && format != FORMAT_CSV)
        return -1;
    for (int tags = 0; tags <= 1; tags++) {
        header_line(format, n_columns(format), tags, header, sizeof header);
        if (strcmp(line, header) == 0)
            return tags;
    }
    header_line(format, N_TSV_COLUMNS, 0, header, sizeof header);
    return strcmp(line, header) == 0 ? 0 : -1;
}

static int write_header(sink *s)
{
    char header[200];
    header_line(s->format, n_columns(s->format), s->tag_columns, header, sizeof header);
    fputs(header, s->f);
    return fflush(s->f);
}

/* --resume of a TSV/CSV file: its header decides whether rows have the tag columns (a file
 * started without tags goes on without them, and the other way round). A file without a
 * header we know keeps the run's choice. Reading leaves appending unaffected ("a+"). */
static void follow_file_header(sink *s)
{
    char *line = NULL;
    size_t cap = 0;
    if (getline(&line, &cap, s->f) > 0) {
        int kind = header_kind(line, s->format);
        if (kind >= 0)
            s->tag_columns = kind;
    }
    free(line);
    clearerr(s->f);
}

int sink_open(sink *s, const char *file, out_format format, int with_path, int resume,
              int tag_columns)
{
    memset(s, 0, sizeof *s);
    s->format = format;
    s->with_path = with_path;
    s->name = file ? file : "stdout";
    const int table = format == FORMAT_TSV || format == FORMAT_CSV;
    s->tag_columns = table && tag_columns;
    int empty = 1;
    if (!file) {
        s->f = stdout;
    } else {
        s->f = fopen(file, resume ? "a+" : "w");
        struct stat st;
        if (s->f && fstat(fileno(s->f), &st) == 0) {
            empty = st.st_size == 0;
            s->sync = S_ISREG(st.st_mode);
        }
        if (s->f && table && !empty)
            follow_file_header(s);
    }
    if (!s->f || ((format == FORMAT_TSV || format == FORMAT_CSV) && empty && write_header(s))) {
        fprintf(stderr, "caption: %s: %s\n", s->name, strerror(errno));
        if (s->f && s->f != stdout)
            fclose(s->f);
        s->f = NULL;
        return -1;
    }
    s->tty = isatty(fileno(s->f));
    s->last_sync = clock_seconds();
    return 0;
}

/* cJSON copies a string's bytes as they are, so anything not known to be UTF-8 goes
 * through here: as is when valid, else with U+FFFD for the invalid bytes. NULL when out of
 * memory. */
static cJSON *text_item(const char *text)
{
    if (utf8_valid(text))
        return cJSON_CreateString(text);
    char *readable = utf8_replace_invalid(text);
    cJSON *item = readable ? cJSON_CreateString(readable) : NULL;
    free(readable);
    return item;
}

/* Add item (NULL: out of memory) to object o, or delete it; 0 on failure. */
static int add_item(cJSON *o, const char *key, cJSON *item)
{
    if (item && cJSON_AddItemToObject(o, key, item))
        return 1;
    cJSON_Delete(item);
    return 0;
}

static int add_text(cJSON *o, const char *key, const char *text)
{
    return add_item(o, key, text_item(text));
}

/* "path" alone when the name is UTF-8; else readable, plus the exact bytes in "path_bytes"
 * so that each line stays valid JSON and --resume still finds the file. */
static int add_path(cJSON *o, const char *path)
{
    char *exact;
    int ok;

    if (utf8_valid(path))
        return cJSON_AddStringToObject(o, "path", path) != NULL;
    exact = path_percent_encode(path);
    ok = exact && add_text(o, "path", path) &&
         cJSON_AddStringToObject(o, "path_bytes", exact) != NULL;
    free(exact);
    return ok;
}

/* Rounded to TAG_P_FORMAT's digits; cJSON then prints the shortest form that reads back. */
static double tag_p(float p)
{
    char text[32];
    snprintf(text, sizeof text, TAG_P_FORMAT, (double)p);
    return strtod(text, NULL);
}

/* {"class", "label", "word" (null for a class never put into captions), "p"}, or NULL. */
static cJSON *tag_object(const cap_tag *t)
{
    cJSON *tag = cJSON_CreateObject();
    if (!tag || !cJSON_AddNumberToObject(tag, "class", t->class_index) ||
        !add_text(tag, "label", t->label ? t->label : "") ||
        !(t->word ? add_text(tag, "word", t->word)
                  : cJSON_AddNullToObject(tag, "word") != NULL) ||
        !cJSON_AddNumberToObject(tag, "p", tag_p(t->prob))) {
        cJSON_Delete(tag);
        return NULL;
    }
    return tag;
}

/* "tags" (best first) and "forced" (the word, or null); nothing when the record has none. */
static int add_tags(cJSON *o, const record *r)
{
    if (r->n_tags == 0)
        return 1;
    cJSON *tags = cJSON_AddArrayToObject(o, "tags");
    for (int i = 0; tags && i < r->n_tags; i++) {
        cJSON *tag = tag_object(&r->tags[i]);
        if (!tag || !cJSON_AddItemToArray(tags, tag)) {
            cJSON_Delete(tag);
            return 0;
        }
    }
    return tags && (r->forced ? add_text(o, "forced", r->forced)
                              : cJSON_AddNullToObject(o, "forced") != NULL);
}

/* x rounded to the shortest ATTENTION_FORMAT text; cJSON then prints exactly those digits. */
static double attention_number(float x)
{
    char text[32];
    snprintf(text, sizeof text, ATTENTION_FORMAT, (double)x);
    return strtod(text, NULL);
}

/* A JSON array of n numbers, or NULL when out of memory. */
static cJSON *number_array(const float *v, int n)
{
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; a && i < n; i++) {
        cJSON *x = cJSON_CreateNumber(attention_number(v[i]));
        if (!x || !cJSON_AddItemToArray(a, x)) {
            cJSON_Delete(x);
            cJSON_Delete(a);
            return NULL;
        }
    }
    return a;
}

/* Add item (NULL: out of memory) to array a, or delete it; 0 on failure. */
static int append(cJSON *a, cJSON *item)
{
    if (item && cJSON_AddItemToArray(a, item))
        return 1;
    cJSON_Delete(item);
    return 0;
}

/* "words", "alpha" (a list of L weights per word), "beta" and "grid" ([rows, cols]). */
static int add_attention(cJSON *o, const record_attention *at)
{
    const int L = at->rows * at->cols;
    const int grid[2] = {at->rows, at->cols};
    cJSON *words = cJSON_AddArrayToObject(o, "words");
    cJSON *alpha = cJSON_AddArrayToObject(o, "alpha");
    int ok = words && alpha;
    for (int t = 0; ok && t < at->n_words; t++)
        ok = append(words, text_item(at->words[t])) &&
             append(alpha, number_array(at->alpha + (size_t)t * (size_t)L, L));
    return ok && add_item(o, "beta", number_array(at->beta, at->n_words)) &&
           add_item(o, "grid", cJSON_CreateIntArray(grid, 2));
}

static char *json_line(const record *r)
{
    cJSON *o = cJSON_CreateObject();
    if (!o || !add_path(o, r->path))
        goto fail;
    if (r->error) {
        if (!add_text(o, "error", r->error))
            goto fail;
    } else if (!cJSON_AddStringToObject(o, "caption", r->caption) ||
               !cJSON_AddNumberToObject(o, "tokens", r->n_tokens) ||
               !cJSON_AddNumberToObject(o, "logprob", round_to(r->logprob, 1e-4)) ||
               !cJSON_AddBoolToObject(o, "finished", r->finished)) {
        goto fail;
    }
    if (r->width > 0 && (!cJSON_AddNumberToObject(o, "width", r->width) ||
                         !cJSON_AddNumberToObject(o, "height", r->height)))
        goto fail;
    if (!cJSON_AddNumberToObject(o, "ms", round_to(r->ms, 0.1)) || (!r->error && !add_tags(o, r)))
        goto fail;
    if (!r->error && r->attention && !add_attention(o, r->attention))
        goto fail;
    char *text = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return text;
fail:
    cJSON_Delete(o);
    return NULL;
}

static void put_tsv_field(FILE *f, const char *v)
{
    for (const char *p = v; *p;) {
        size_t n = utf8_sequence_length(p);
        switch (n ? *p : 0) {
        case 0: fprintf(f, "\\x%02X", (unsigned char)*p), n = 1; break;
        case '\\': fputs("\\\\", f); break;
        case '\t': fputs("\\t", f); break;
        case '\n': fputs("\\n", f); break;
        case '\r': fputs("\\r", f); break;
        default: fwrite(p, 1, n, f);
        }
        p += n;
    }
}

/* CSV fields are valid UTF-8 here (see write_table_row). */
static void put_field(FILE *f, out_format format, const char *v)
{
    if (format == FORMAT_TSV) {
        put_tsv_field(f, v);
    } else if (strpbrk(v, ",\"\r\n")) {
        putc('"', f);
        for (const char *p = v; *p; p++) {
            if (*p == '"')
                putc('"', f);
            putc(*p, f);
        }
        putc('"', f);
    } else {
        fputs(v, f);
    }
}

/* The tags cell: NAME:P;NAME:P;... best first (NAME as tag_name gives it, P as
 * TAG_P_FORMAT), "" without tags. Names hold no ':' or ';' (ImageNet's labels and the class
 * words have none; one that did would get a space instead), so the cell splits unambiguously.
 * Returns a string to free, or NULL when out of memory. */
static char *tags_cell(const record *r)
{
    size_t need = 1;
    for (int i = 0; i < r->n_tags; i++)
        need += tag_name(&r->tags[i], NULL, 0) + 32; /* ';' ':' and the number */
    char *cell = malloc(need), *w = cell;
    if (!cell)
        return NULL;
    *w = '\0';
    for (int i = 0; i < r->n_tags; i++) {
        if (i > 0)
            *w++ = ';';
        char *name = w;
        w += tag_name(&r->tags[i], name, need - (size_t)(name - cell));
        for (char *c = name; c < w; c++)
            if (*c == ':' || *c == ';')
                *c = ' ';
        w += snprintf(w, need - (size_t)(w - cell), ":" TAG_P_FORMAT, (double)r->tags[i].prob);
    }
    return cell;
}

/* Returns -1 when out of memory (nothing written). */
static int write_table_row(sink *s, const record *r)
{
    char num[6][32] = {{0}};
    if (!r->error) {
        snprintf(num[0], sizeof num[0], "%d", r->n_tokens);
        snprintf(num[1], sizeof num[1], "%.4f", r->logprob);
        snprintf(num[2], sizeof num[2], "%d", r->finished);
    }
    if (r->width > 0) {
        snprintf(num[3], sizeof num[3], "%d", r->width);
        snprintf(num[4], sizeof num[4], "%d", r->height);
    }
    snprintf(num[5], sizeof num[5], "%.1f", r->ms);
    /* The last N_COLUMNS - n + N_TAG_COLUMNS slots: path_bytes (CSV only), then the tag
     * columns after the format's last column when the file has them. */
    const char *fields[N_COLUMNS + N_TAG_COLUMNS] = {
        r->path, r->caption ? r->caption : "", num[0], num[1], num[2], num[3], num[4], num[5],
        r->error ? r->error : "", "", "", ""};
    const char sep = s->format == FORMAT_TSV ? '\t' : ',';
    const int n = n_columns(s->format), csv = s->format == FORMAT_CSV;
    const int total = n + (s->tag_columns ? N_TAG_COLUMNS : 0);
    char *owned[5] = {NULL};
    int n_owned = 0, rc = 0;
    if (s->tag_columns) {
        fields[n] = owned[n_owned++] = tags_cell(r);
        fields[n + 1] = r->forced ? r->forced : "";
    }
    if (csv && !utf8_valid(r->path)) {
        fields[0] = owned[n_owned++] = utf8_replace_invalid(r->path);
        fields[N_COLUMNS - 1] = owned[n_owned++] = path_percent_encode(r->path);
    }
    /* CSV has no escapes, so text from outside (the error, the model's labels) must be
     * valid UTF-8 itself; TSV escapes invalid bytes as \xHH. */
    for (int i = 8; csv && i < total; i++)
        if (i != N_COLUMNS - 1 && fields[i] && !utf8_valid(fields[i]))
            fields[i] = owned[n_owned++] = utf8_replace_invalid(fields[i]);
    for (int i = 0; i < total; i++)
        rc |= fields[i] == NULL;
    for (int i = 0; i < total && rc == 0; i++) {
        put_field(s->f, s->format, fields[i]);
        putc(i + 1 < total ? sep : '\n', s->f);
    }
    for (int i = 0; i < n_owned; i++)
        free(owned[i]);
    return rc ? -1 : 0;
}

void record_set_tags(record *r, const cap_model *model, const cap_result *res)
{
    r->n_tags = res->n_tags < 0 ? 0 : res->n_tags > CAP_MAX_TAGS ? CAP_MAX_TAGS : res->n_tags;
    if (r->n_tags > 0)
        memcpy(r->tags, res->tags, sizeof r->tags[0] * (size_t)r->n_tags);
    r->forced = res->forced_word >= 0 ? cap_model_word(model, res->forced_word) : NULL;
}

record_attention *record_attention_new(const cap_model *model, const cap_result *res)
{
    const cap_caption *c = &res->captions[0];
    const size_t n = (size_t)c->n_tokens, L = (size_t)res->grid_rows * (size_t)res->grid_cols;
    /* One block: the struct, the word pointers, then the floats (alignment holds in that
     * order: the struct's size is a multiple of a pointer's, a pointer's of a float's). */
    record_attention *at = malloc(sizeof *at + n * sizeof(char *) + (n * L + n) * sizeof(float));
    if (!at)
        return NULL;
    at->n_words = c->n_tokens;
    at->rows = res->grid_rows;
    at->cols = res->grid_cols;
    at->words = (const char **)(at + 1);
    at->alpha = (float *)(at->words + n);
    at->beta = at->alpha + n * L;
    for (size_t t = 0; t < n; t++) {
        const char *w = cap_model_word(model, c->tokens[t]);
        at->words[t] = w ? w : "?"; /* as cap_caption_text spells an unknown token */
    }
    if (n > 0) {
        memcpy(at->alpha, c->alpha, n * L * sizeof(float));
        memcpy(at->beta, c->beta, n * sizeof(float));
    }
    return at;
}

void record_release(record *r)
{
    free(r->caption);
    free(r->attention);
    memset(r, 0, sizeof *r);
}

int sink_write(sink *s, const record *r)
{
    switch (s->format) {
    case FORMAT_TEXT:
        if (r->error)
            return 0;
        if (s->with_path) {
            /* Escaped as a TSV field: the first raw tab then ends the path whatever its bytes
             * (a name may hold tabs, newlines and bytes that are not UTF-8), so --resume gets
             * the exact path back. Names without those characters or a backslash look as
             * they always did. */
            put_tsv_field(s->f, r->path);
            putc('\t', s->f);
            put_tsv_field(s->f, r->caption);
            putc('\n', s->f);
        } else
            fprintf(s->f, "%s\n", r->caption);
        break;
    case FORMAT_JSONL: {
        char *line = json_line(r);
        if (!line) {
            fprintf(stderr, "caption: %s: out of memory writing a record\n", s->name);
            return -1;
        }
        fputs(line, s->f);
        putc('\n', s->f);
        cJSON_free(line);
        break;
    }
    case FORMAT_TSV:
    case FORMAT_CSV:
        if (write_table_row(s, r) != 0) {
            fprintf(stderr, "caption: %s: out of memory writing a record\n", s->name);
            return -1;
        }
        break;
    }
    if (fflush(s->f) != 0 || ferror(s->f)) {
        fprintf(stderr, "caption: %s: write error: %s\n", s->name, strerror(errno));
        return -1;
    }
    /* fflush already protects every record against a crash or kill of this process; a
     * sync per record would also cover power loss but costs a disk round trip per image
     * (painful on NFS), so the file is synced at most once a second. */
    if (s->sync && clock_seconds() - s->last_sync >= 1.0) {
        fdatasync(fileno(s->f));
        s->last_sync = clock_seconds();
    }
    return 0;
}

int sink_close(sink *s)
{
    if (!s->f)
        return 0;
    int rc = fflush(s->f);
    if (s->sync && rc == 0)
        rc = fdatasync(fileno(s->f));
    if (s->f != stdout && fclose(s->f) != 0)
        rc = -1;
    s->f = NULL;
    if (rc != 0) {
        fprintf(stderr, "caption: %s: write error: %s\n", s->name, strerror(errno));
        return -1;
    }
    return 0;
}

/* ------------------------------------------------------------------ resume -- */

/* The exact path of a JSONL record: "path_bytes" decoded when present, else "path". */
static const char *jsonl_path(const char *rec, size_t len, char **owned)
{
    cJSON *o = cJSON_ParseWithLength(rec, len);
    const cJSON *exact = cJSON_GetObjectItemCaseSensitive(o, "path_bytes");
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(o, "path");

    if (cJSON_IsString(exact)) {
        if ((*owned = strdup(exact->valuestring)) && path_percent_decode(*owned) != 0) {
            free(*owned);
            *owned = NULL;
        }
    } else if (cJSON_IsString(p)) {
        *owned = strdup(p->valuestring);
    }
    cJSON_Delete(o);
    return *owned;
}

/* The first TSV (or text) field, unescaped in place. A backslash that starts none of the
 * escapes put_tsv_field writes is kept with what follows it: the writer never produces one,
 * but text files written before the text format escaped paths hold names like "dir\photo",
 * which then still match. */
static const char *tsv_path(char *rec)
{
    char *w = rec;
    for (const char *p = rec; *p && *p != '\t'; p++) {
        int byte;
        if (*p != '\\' || !p[1]) {
            *w++ = *p;
        } else if (p[1] == 'x' && (byte = hex_byte(p + 2)) > 0) {
            *w++ = (char)byte;
            p += 3;
        } else if (strchr("tnr\\", p[1])) {
            p++;
            *w++ = *p == 't' ? '\t' : *p == 'n' ? '\n' : *p == 'r' ? '\r' : *p;
        } else {
            *w++ = *p;
        }
    }
    *w = '\0';
    return rec;
}

/* Unquote the CSV field at *p in place (it stays at the same address, which is returned)
 * and move *p to the next field, or to NULL after the last one. */
static char *csv_next_field(char **p)
{
    char *start = *p, *r = start, *w = start;
    if (*r == '"') {
        for (r++; *r && !(*r == '"' && r[1] != '"'); r++)
            *w++ = *r == '"' ? *++r : *r;
        r += *r == '"';
    } else {
        r += strcspn(r, ",\r");
        w = r;
    }
    *p = *r == ',' ? r + 1 : NULL;
    *w = '\0';
    return start;
}

/* The exact path of a CSV record: its path_bytes column decoded when not empty, else its
 * first column (also for files written before path_bytes existed). */
static const char *csv_path(char *rec)
{
    char *p = rec, *path = csv_next_field(&p), *field = NULL;
    for (int i = 1; i < N_COLUMNS && p; i++)
        field = csv_next_field(&p);
    if (field && field[0] && path_percent_decode(field) == 0)
        return field;
    return path;
}

/* The exact path of a complete record (NUL-terminated, may be modified in place), or NULL
 * if this record names no path. */
static const char *first_field(char *rec, size_t len, out_format format, char **owned)
{
    *owned = NULL;
    rec[len - 1] = '\0'; /* the newline */
    switch (format) {
    case FORMAT_TEXT:
        /* PATH<TAB>CAPTION with the path escaped as a TSV field: a line without a raw tab
         * is no record (not one this program wrote). */
        return strchr(rec, '\t') ? tsv_path(rec) : NULL;
    case FORMAT_JSONL: return jsonl_path(rec, len - 1, owned);
    case FORMAT_TSV: return tsv_path(rec);
    case FORMAT_CSV: return csv_path(rec);
    }
    return NULL;
}


/* CSV fields may hold newlines inside quotes: a record is complete when its quotes balance. */
static int quotes_balanced(const char *s, size_t len)
{
    size_t q = 0;
    for (size_t i = 0; i < len; i++)
        q += s[i] == '"';
    return q % 2 == 0;
}

/* Append a line (newline included) to the record being read; -1 when out of memory. */
static int append_line(char **rec, size_t *rec_len, size_t *rec_cap, const char *line,
                       size_t len)
{
    if (*rec_len + len + 1 > *rec_cap) {
        size_t cap = (*rec_len + len + 1) * 2;
        char *grown = realloc(*rec, cap);
        if (!grown)
            return -1;
        *rec = grown;
        *rec_cap = cap;
    }
    memcpy(*rec + *rec_len, line, len + 1);
    *rec_len += len;
    return 0;
}

int output_scan(const char *file, out_format format, void (*found)(const char *path, void *ctx),
                void *ctx)
{
    int fd = open(file, O_RDWR | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT)
        return 0; /* nothing recorded yet */
    if (fd < 0) {
        fprintf(stderr, "caption: %s: %s\n", file, strerror(errno));
        return -1;
    }
    FILE *f = fdopen(fd, "r");
    if (!f) {
        close(fd);
        fprintf(stderr, "caption: %s: %s\n", file, strerror(errno));
        return -1;
    }
    char *line = NULL, *rec = NULL;
    size_t line_size = 0, rec_len = 0, rec_cap = 0, n_records = 0;
    off_t good = 0, pos = 0;
    ssize_t len;
    int rc = 0;
    while ((len = getline(&line, &line_size, f)) != -1) {
        pos += len;
        if (line[len - 1] != '\n')
            break; /* torn: the process died in the middle of this record */
        if (append_line(&rec, &rec_len, &rec_cap, line, (size_t)len) != 0) {
            rc = -1;
            fprintf(stderr, "caption: %s: out of memory\n", file);
            break;
        }
        if (format == FORMAT_CSV && !quotes_balanced(rec, rec_len))
            continue;
        good = pos;
        if (!(n_records++ == 0 && header_kind(rec, format) >= 0)) {
            char *owned;
            const char *path = first_field(rec, rec_len, format, &owned);
            if (path)
                found(path, ctx);
            else if (format == FORMAT_JSONL)
                fprintf(stderr, "caption: %s: record %zu is not a JSON object with a path\n",
                        file, n_records);
            free(owned);
        }
        rec_len = 0;
    }
    if (rc == 0 && ferror(f)) {
        fprintf(stderr, "caption: %s: %s\n", file, strerror(errno));
        rc = -1;
    }
    struct stat st;
    if (rc == 0 && fstat(fd, &st) == 0 && st.st_size > good && ftruncate(fd, good) != 0) {
        fprintf(stderr, "caption: %s: cannot cut the torn last record: %s\n", file,
                strerror(errno));
        rc = -1;
    }
    free(line);
    free(rec);
    fclose(f);
    return rc;
}
