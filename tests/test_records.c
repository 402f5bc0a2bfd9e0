/* test_records.c - the CLI's record formats with tags (src/cli/output.c), byte for byte.
 *
 * A version-1 model never gives tags, so the records are checked here on results filled by
 * hand: JSONL "tags"/"forced", the TSV/CSV tags and forced columns, records without tags
 * unchanged from before tags existed, --resume of files with and without the tag columns
 * (output_scan finds every path; a resumed file keeps its header's columns), and the tag
 * names shared with the pictures (src/common/tag_text.h), and the --attention keys (words,
 * alpha, beta, grid; weights that read back as the very floats). docs/batch.md has the formats.
 * usage: test_records MODEL (for the forced word's text: cap_model_word) */
#include "caption.h"
#include "check.h"
#include "cli/output.h"
#include "common/tag_text.h"

#include <cjson/cJSON.h>
#include <float.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char tmp_path[64];

/* The whole file as a string (to free), or NULL. */
static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = calloc(1, 1 << 16);
    size_t n = buf ? fread(buf, 1, (1 << 16) - 1, f) : 0;
    (void)n;
    fclose(f);
    return buf;
}

/* The records written by a sink of `format` (tag_columns as given) into a fresh file,
 * as a string to free. */
static char *write_records(out_format format, int tag_columns, const record *recs, int n)
{
    unlink(tmp_path);
    sink s;
    if (sink_open(&s, tmp_path, format, 1, 0, tag_columns) != 0)
        return NULL;
    for (int i = 0; i < n; i++)
        sink_write(&s, &recs[i]);
    sink_close(&s);
    return slurp(tmp_path);
}

static void expect_file(out_format format, int tag_columns, const record *recs, int n,
                        const char *want, const char *what)
{
    char *got = write_records(format, tag_columns, recs, n);
    CHECK(got && strcmp(got, want) == 0, "%s:\n got: %s\nwant: %s", what, got ? got : "(null)",
          want);
    free(got);
}

/* A captioned pets.jpg as the tagger of a version-2 model would see it. */
static record tagged_record(void)
{
    record r = {.path = "photos/pets.jpg",
                .caption = "a cat and a dog on the grass",
                .n_tokens = 8,
                .logprob = -7.123456,
                .finished = 1,
                .width = 512,
                .height = 430,
                .ms = 12.345,
                .n_tags = 4,
                .tags = {{281, "tabby, tabby cat", "cat", 0.61234567f},
                         {208, "Labrador retriever", "dog", 0.101f},
                         {834, "suit, suit of clothes", NULL, 0.0123456f},
                         {999, "odd: name; here", NULL, 1.5e-5f}},
                .forced = "cat"};
    return r;
}

static record plain_record(void)
{
    record r = {.path = "photos/bird.png", .caption = "a bird", .n_tokens = 2,
                .logprob = -1.5, .finished = 0, .width = 10, .height = 20, .ms = 3.0};
    return r;
}

static record error_record(void)
{
    record r = {.path = "photos/empty.png", .error = "empty file", .ms = 0.25};
    return r;
}

static void test_tag_names(void)
{
    const cap_tag tabby = {281, "tabby, tabby cat", "cat", 0.5f};
    const cap_tag suit = {834, "suit, suit of clothes", NULL, 0.5f};
    const cap_tag one = {1, "goldfish", NULL, 0.5f};
    char buf[64];
    CHECK(tag_name(&tabby, buf, sizeof buf) == 3 && strcmp(buf, "cat") == 0, "word: %s", buf);
    CHECK(tag_label_name(&tabby, buf, sizeof buf) == 5 && strcmp(buf, "tabby") == 0, "%s", buf);
    CHECK(tag_name(&suit, buf, sizeof buf) == 4 && strcmp(buf, "suit") == 0, "no word: %s", buf);
    CHECK(tag_name(&one, buf, sizeof buf) == 8 && strcmp(buf, "goldfish") == 0, "%s", buf);
    CHECK(tag_name(&tabby, NULL, 0) == 3, "measuring");
    CHECK(tag_label_name(&suit, buf, 3) == 4 && strcmp(buf, "su") == 0, "cut: %s", buf);
}

static void test_jsonl(void)
{
    const record recs[] = {tagged_record(), plain_record(), error_record()};
    expect_file(FORMAT_JSONL, 0, recs, 3,
                "{\"path\":\"photos/pets.jpg\",\"caption\":\"a cat and a dog on the grass\","
                "\"tokens\":8,\"logprob\":-7.1235,\"finished\":true,\"width\":512,"
                "\"height\":430,\"ms\":12.3,\"tags\":["
                "{\"class\":281,\"label\":\"tabby, tabby cat\",\"word\":\"cat\",\"p\":0.6123},"
                "{\"class\":208,\"label\":\"Labrador retriever\",\"word\":\"dog\",\"p\":0.101},"
                "{\"class\":834,\"label\":\"suit, suit of clothes\",\"word\":null,"
                "\"p\":0.01235},"
                "{\"class\":999,\"label\":\"odd: name; here\",\"word\":null,\"p\":1.5e-05}],"
                "\"forced\":\"cat\"}\n"
                /* without tags: the keys of a plain caption only, as before tags existed */
                "{\"path\":\"photos/bird.png\",\"caption\":\"a bird\",\"tokens\":2,"
                "\"logprob\":-1.5,\"finished\":false,\"width\":10,\"height\":20,\"ms\":3}\n"
                "{\"path\":\"photos/empty.png\",\"error\":\"empty file\",\"ms\":0.3}\n",
                "jsonl");
    record unforced = tagged_record();
    unforced.forced = NULL;
    unforced.n_tags = 1;
    expect_file(FORMAT_JSONL, 0, &unforced, 1,
                "{\"path\":\"photos/pets.jpg\",\"caption\":\"a cat and a dog on the grass\","
                "\"tokens\":8,\"logprob\":-7.1235,\"finished\":true,\"width\":512,"
                "\"height\":430,\"ms\":12.3,\"tags\":["
                "{\"class\":281,\"label\":\"tabby, tabby cat\",\"word\":\"cat\",\"p\":0.6123}],"
                "\"forced\":null}\n",
                "jsonl, not forced");
    record bad_label = tagged_record();
    bad_label.n_tags = 1;
    bad_label.forced = NULL;
    bad_label.tags[0].label = "caf\xe9";
    expect_file(FORMAT_JSONL, 0, &bad_label, 1,
                "{\"path\":\"photos/pets.jpg\",\"caption\":\"a cat and a dog on the grass\","
                "\"tokens\":8,\"logprob\":-7.1235,\"finished\":true,\"width\":512,"
                "\"height\":430,\"ms\":12.3,\"tags\":["
                "{\"class\":281,\"label\":\"caf\xef\xbf\xbd\",\"word\":\"cat\",\"p\":0.6123}],"
                "\"forced\":null}\n",
                "jsonl, label not UTF-8");
}

static void test_tables(void)
{
    const record recs[] = {tagged_record(), plain_record(), error_record()};
    const char *tsv_plain = "path\tcaption\ttokens\tlogprob\tfinished\twidth\theight\tms\terror\n"
                            "photos/pets.jpg\ta cat and a dog on the grass\t8\t-7.1235\t1\t512\t"
                            "430\t12.3\t\n"
                            "photos/bird.png\ta bird\t2\t-1.5000\t0\t10\t20\t3.0\t\n"
                            "photos/empty.png\t\t\t\t\t\t\t0.2\tempty file\n";
    /* A file without tag columns (no tagger, or --no-tags) is exactly what it always was. */
    expect_file(FORMAT_TSV, 0, recs, 3, tsv_plain, "tsv without tag columns");
    expect_file(FORMAT_TSV, 1, recs, 3,
                "path\tcaption\ttokens\tlogprob\tfinished\twidth\theight\tms\terror\ttags\t"
                "forced\n"
                "photos/pets.jpg\ta cat and a dog on the grass\t8\t-7.1235\t1\t512\t430\t12.3\t"
                "\tcat:0.6123;dog:0.101;suit:0.01235;odd  name  here:1.5e-05\tcat\n"
                "photos/bird.png\ta bird\t2\t-1.5000\t0\t10\t20\t3.0\t\t\t\n"
                "photos/empty.png\t\t\t\t\t\t\t0.2\tempty file\t\t\n",
                "tsv with tag columns");
    expect_file(FORMAT_CSV, 0, recs, 3,
                "path,caption,tokens,logprob,finished,width,height,ms,error,path_bytes\n"
                "photos/pets.jpg,a cat and a dog on the grass,8,-7.1235,1,512,430,12.3,,\n"
                "photos/bird.png,a bird,2,-1.5000,0,10,20,3.0,,\n"
                "photos/empty.png,,,,,,,0.2,empty file,\n",
                "csv without tag columns");
    record odd = tagged_record();
    odd.path = "photos/caf\xe9.jpg";
    odd.n_tags = 2;
    odd.tags[1].label = "bad\xff, label";
    odd.tags[1].word = NULL;
    odd.forced = NULL;
    const record recs2[] = {tagged_record(), odd};
    expect_file(FORMAT_CSV, 1, recs2, 2,
                "path,caption,tokens,logprob,finished,width,height,ms,error,path_bytes,tags,"
                "forced\n"
                "photos/pets.jpg,a cat and a dog on the grass,8,-7.1235,1,512,430,12.3,,,"
                "cat:0.6123;dog:0.101;suit:0.01235;odd  name  here:1.5e-05,cat\n"
                "photos/caf\xef\xbf\xbd.jpg,a cat and a dog on the grass,8,-7.1235,1,512,430,"
                "12.3,,photos/caf%E9.jpg,cat:0.6123;bad\xef\xbf\xbd:0.101,\n",
                "csv with tag columns, names not UTF-8");
}

static void found_path(const char *path, void *ctx)
{
    char *list = ctx;
    strcat(list, path);
    strcat(list, "|");
}

/* The text format's PATH<TAB>CAPTION lines: names holding a tab, a newline, a backslash or
 * bytes that are not UTF-8 are escaped as TSV fields (one line per record, valid UTF-8),
 * plain names are written as they always were, and a failed image writes nothing. */
static void test_text(void)
{
    record odd = plain_record(), dash = plain_record();
    odd.path = "d/t\tab\nnl\\x41\xe9\r.png";
    dash.path = "-x.png";
    const record recs[] = {odd, error_record(), dash};
    expect_file(FORMAT_TEXT, 0, recs, 3,
                "d/t\\tab\\nnl\\\\x41\\xE9\\r.png\ta bird\n-x.png\ta bird\n",
                "text, names escaped");
}

/* --resume: every path found in files with tags, and a resumed file keeps its columns. */
static void test_resume(void)
{
    record odd = tagged_record(), tab = plain_record();
    odd.path = "photos/caf\xe9,\"q\".jpg";
    tab.path = "photos/t\tab\nnl\\x41\\q\xff.png";
    const record recs[] = {tagged_record(), odd, tab, error_record()};
    const char *want = "photos/pets.jpg|photos/caf\xe9,\"q\".jpg|"
                       "photos/t\tab\nnl\\x41\\q\xff.png|photos/empty.png|";
    /* The text format records no errors, so its list stops before empty.png. */
    const char *want_text = "photos/pets.jpg|photos/caf\xe9,\"q\".jpg|"
                            "photos/t\tab\nnl\\x41\\q\xff.png|";
    const out_format formats[] = {FORMAT_JSONL, FORMAT_TSV, FORMAT_CSV, FORMAT_TEXT};
    for (int f = 0; f < 4; f++) {
        for (int tags = 0; tags <= 1; tags++) {
            free(write_records(formats[f], tags, recs, 4));
            char list[512] = "";
            const char *expect = formats[f] == FORMAT_TEXT ? want_text : want;
            CHECK(output_scan(tmp_path, formats[f], found_path, list) == 0 &&
                      strcmp(list, expect) == 0,
                  "format %d, tag columns %d: found %s", f, tags, list);
        }
    }
    /* A text file written before paths were escaped: a backslash that starts no escape is
     * read as itself, so such a name is not captioned again. */
    FILE *old = fopen(tmp_path, "w");
    CHECK(old && fputs("C:\\photos\\q.jpg\ta bird\nno tab\n", old) >= 0 && fclose(old) == 0,
          "writing an old text file");
    char list[512] = "";
    CHECK(output_scan(tmp_path, FORMAT_TEXT, found_path, list) == 0 &&
              strcmp(list, "C:\\photos\\q.jpg|") == 0,
          "old text file: found %s", list);
    /* Started with tag columns, resumed by a run without tags: the columns stay. */
    for (int f = 1; f < 3; f++) {
        for (int tags = 0; tags <= 1; tags++) {
            char *first = write_records(formats[f], tags, recs, 1);
            sink s;
            CHECK(sink_open(&s, tmp_path, formats[f], 1, 1, !tags) == 0 &&
                      s.tag_columns == tags,
                  "format %d: resumed file with tag columns %d", f, tags);
            sink_write(&s, &recs[0]);
            sink_close(&s);
            char *both = slurp(tmp_path);
            const char *row = first ? strchr(first, '\n') + 1 : "";
            char want2[2048];
            snprintf(want2, sizeof want2, "%s%s", first ? first : "", row);
            CHECK(both && strcmp(both, want2) == 0, "format %d, tags %d: resumed file\n%s", f,
                  tags, both ? both : "(null)");
            free(first);
            free(both);
        }
    }
}

/* A 1 x 3 grid, two words: weights that need all 9 digits to come back as the same float. */
static const char *const attention_words[] = {"a", "bird"};
static float attention_alpha[] = {1.0f / 3.0f, 0.1f, 1.0f - 1.0f / 3.0f - 0.1f,
                                  0.0f,        1e-7f, 1.0f - 1e-7f};
static float attention_beta[] = {0.5f, 0.99999994f};

static record attention_record(record_attention *at)
{
    *at = (record_attention){.n_words = 2, .rows = 1, .cols = 3,
                             .words = (const char **)attention_words,
                             .alpha = attention_alpha, .beta = attention_beta};
    record r = plain_record();
    r.attention = at;
    return r;
}

/* The attention keys come last, after those of a plain caption; a failed image has none. */
static void test_attention_jsonl(void)
{
    record_attention at;
    record recs[] = {attention_record(&at), error_record()};
    recs[1].attention = &at;
    expect_file(FORMAT_JSONL, 0, recs, 2,
                "{\"path\":\"photos/bird.png\",\"caption\":\"a bird\",\"tokens\":2,"
                "\"logprob\":-1.5,\"finished\":false,\"width\":10,\"height\":20,\"ms\":3,"
                "\"words\":[\"a\",\"bird\"],"
                "\"alpha\":[[0.333333343,0.100000001,0.566666603],[0,1.00000001e-07,0.999999881]],"
                "\"beta\":[0.5,0.99999994],\"grid\":[1,3]}\n"
                "{\"path\":\"photos/empty.png\",\"error\":\"empty file\",\"ms\":0.3}\n",
                "jsonl with attention");

    /* Read back as a JSON reader would (double, then float32): the library's floats exactly. */
    char *text = write_records(FORMAT_JSONL, 0, recs, 1);
    cJSON *o = text ? cJSON_Parse(text) : NULL;
    const cJSON *alpha = cJSON_GetObjectItemCaseSensitive(o, "alpha");
    int exact = cJSON_GetArraySize(alpha) == 2;
    for (int t = 0; exact && t < 2; t++)
        for (int i = 0; i < 3; i++)
            exact &= (float)cJSON_GetArrayItem(cJSON_GetArrayItem(alpha, t), i)->valuedouble ==
                     attention_alpha[t * 3 + i];
    CHECK(exact, "alpha reads back as the same floats: %s", text ? text : "(null)");
    cJSON_Delete(o);
    free(text);
}

/* record_attention_new: the best caption's words (as cap_caption_text spells them), alpha and
 * beta copied, the grid; record_release frees it all (the sanitizer build checks that). */
static void test_attention_new(const cap_model *model)
{
    int tokens[2] = {-5, 0}; /* an unknown token reads "?", as in the caption's text */
    float alpha[2 * 3], beta[2] = {0.25f, 0.75f};
    for (int i = 0; i < 6; i++)
        alpha[i] = (float)i;
    cap_caption c = {.n_tokens = 2, .tokens = tokens, .alpha = alpha, .beta = beta};
    cap_result res = {.n_captions = 1, .captions = &c, .grid_rows = 3, .grid_cols = 1};
    record_attention *at = record_attention_new(model, &res);
    char text[64];
    cap_caption_text(model, &c, text, sizeof text);
    char joined[64];
    snprintf(joined, sizeof joined, "%s %s", at ? at->words[0] : "", at ? at->words[1] : "");
    CHECK(at && at->n_words == 2 && at->rows == 3 && at->cols == 1 &&
              strcmp(joined, text) == 0 && memcmp(at->alpha, alpha, sizeof alpha) == 0 &&
              memcmp(at->beta, beta, sizeof beta) == 0,
          "attention copied: words '%s' vs caption '%s'", joined, text);
    record r = {.caption = strdup("x"), .attention = at};
    record_release(&r);
    CHECK(r.caption == NULL && r.attention == NULL, "released");
}

/* record_set_tags: the result's tags, and the forced token's text from the model. */
static void test_set_tags(const char *model_path)
{
    cap_model *model = NULL;
    cap_error err = {0};
    if (cap_model_load(model_path, &model, &err) != CAP_OK) {
        CHECK(0, "%s: %s", model_path, err.message);
        return;
    }
    int dog = -1;
    for (int t = 0; t < cap_model_vocab_size(model) && dog < 0; t++)
        if (strcmp(cap_model_word(model, t), "dog") == 0)
            dog = t;
    cap_tag tags[2] = {{208, "Labrador retriever", "dog", 0.7f}, {281, "tabby", "cat", 0.1f}};
    cap_result res = {.n_tags = 2, .tags = tags, .forced_word = dog, .forced_prob = 0.7f};
    record r = plain_record();
    record_set_tags(&r, model, &res);
    CHECK(r.n_tags == 2 && r.tags[1].class_index == 281 && r.tags[0].prob == 0.7f &&
              r.forced && strcmp(r.forced, "dog") == 0,
          "tags copied, forced %s", r.forced ? r.forced : "(null)");
    res.forced_word = -1;
    res.n_tags = 0;
    record_set_tags(&r, model, &res);
    CHECK(r.n_tags == 0 && r.forced == NULL, "no tags");
    test_attention_new(model);
    cap_model_free(model);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: test_records MODEL\n");
        return 2;
    }
    snprintf(tmp_path, sizeof tmp_path, "/tmp/test_records.%ld", (long)getpid());
    test_tag_names();
    test_jsonl();
    test_attention_jsonl();
    test_tables();
    test_text();
    test_resume();
    test_set_tags(argv[1]);
    unlink(tmp_path);
    return check_summary();
}
