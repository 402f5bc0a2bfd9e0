/* test_model.c - the C forward pass against the PyTorch reference (tests/fixtures/make_goldens.py):
 *   encoder output on assets/pets.jpg:   max |c - ref| <= 1e-3 * max |ref|
 *   first decoder step (same features):  alpha within 1e-5, logits within 1e-4 * max |ref|
 *   greedy and beam-3 captions of every photo in assets/: identical token ids
 * plus the model loader's answers to damaged files and the API's argument checks.
 * usage: test_model MODEL GOLDEN_DIR ASSETS_DIR
 *        test_model --features MODEL IMAGE OUT.f32
 * The second form writes the C encoder output a [L][D] (float32, native byte order) of IMAGE
 * squashed to 224x224 and prints "grid ROWS COLS", for tests/test_grid14.py to compare with
 * PyTorch on a model file made at test time. */
#include "caption.h"
#include "decoder.h"
#include "encoder.h"
#include "model.h"
#include "tags.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int passed, failed;

#define CHECK(cond, ...)                                                                        \
    do {                                                                                        \
        if (cond) {                                                                             \
            passed++;                                                                           \
        } else {                                                                                \
            failed++;                                                                           \
            printf("%s:%d: FAIL: ", __FILE__, __LINE__);                                        \
            printf(__VA_ARGS__);                                                                \
            printf("\n");                                                                       \
        }                                                                                       \
    } while (0)

static void *read_all(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    void *buf = malloc(n > 0 ? (size_t)n : 1);
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    *size = (size_t)n;
    return buf;
}

static float max_abs(const float *v, size_t n)
{
    float m = 0.0f;
    for (size_t i = 0; i < n; i++)
        m = fabsf(v[i]) > m ? fabsf(v[i]) : m;
    return m;
}

static float max_diff(const float *a, const float *b, size_t n)
{
    float m = 0.0f;
    for (size_t i = 0; i < n; i++)
        m = fabsf(a[i] - b[i]) > m ? fabsf(a[i] - b[i]) : m;
    return m;
}

static void test_encoder_and_first_step(const cap_model *m, const char *golden, const char *assets)
{
    char path[4096];
    const int L = m->config.grid_rows * m->config.grid_cols, D = CAP_FEATURE_DIM,
              V = cap_model_vocab_size(m);
    size_t n_ref = 0, n_step = 0;
    snprintf(path, sizeof path, "%s/pets.features.f32", golden);
    float *ref = read_all(path, &n_ref);
    snprintf(path, sizeof path, "%s/pets.step0.f32", golden);
    float *step_ref = read_all(path, &n_step);
    CHECK(ref && n_ref == sizeof(float) * L * D, "golden features %s", path);
    CHECK(step_ref && n_step == sizeof(float) * (size_t)(L + 1 + V), "golden step0 size");
    if (!ref || !step_ref || n_ref != sizeof(float) * L * D ||
        n_step != sizeof(float) * (size_t)(L + 1 + V))
        goto done;

    snprintf(path, sizeof path, "%s/pets.jpg", assets);
    cap_image img = {0}, sq = {0};
    cap_error err = {0};
    CHECK(cap_image_load_file(path, &img, &err) == CAP_OK, "load pets.jpg: %s", err.message);
    CHECK(cap_image_resize(&img, 224, 224, &sq, &err) == CAP_OK, "resize");
    float *x = malloc(sizeof(float) * 3 * 224 * 224), *a = malloc(sizeof(float) * L * D);
    cap_encoder_input(&sq, x);
    CHECK(cap_encoder_forward(&m->encoder, x, a, &err) == CAP_OK, "encoder: %s", err.message);
    const float tol = 1e-3f * max_abs(ref, (size_t)L * D), d = max_diff(a, ref, (size_t)L * D);
    printf("encoder: max |diff| %.3g, tolerance %.3g (1e-3 * max |ref| = %.3g)\n", d, tol,
           max_abs(ref, (size_t)L * D));
    CHECK(d <= tol, "encoder output differs from PyTorch: %g > %g", d, tol);

    /* First decoder step on the reference features isolates the decoder from the encoder. */
    cap_annotations ann = {0};
    cap_decoder_step_buf buf = {0};
    float h0[4096], c0[4096];
    CHECK(m->config.hidden_dim <= 4096, "hidden size");
    CHECK(cap_decoder_alloc(m, 1, &buf, &err) == CAP_OK, "decoder alloc");
    CHECK(cap_decoder_begin(m, ref, &ann, h0, c0, &err) == CAP_OK, "decoder begin");
    const int start = m->config.token_start;
    cap_decoder_step(m, &ann, 1, &start, h0, c0, &buf);
    const float da = max_diff(buf.alpha, step_ref, (size_t)L);
    /* The decoder computes the V0 trained words' logits (the added words' only when forced). */
    const int V0 = m->config.base_vocab_size;
    const float dl = max_diff(buf.logits, step_ref + L + 1, (size_t)V0);
    const float ltol = 1e-4f * max_abs(step_ref + L + 1, (size_t)V0);
    printf("decoder step 0: alpha max |diff| %.3g (tol 1e-5), beta %.6f vs %.6f, logits max "
           "|diff| %.3g (tol %.3g)\n", da, buf.beta[0], step_ref[L], dl, ltol);
    CHECK(da <= 1e-5f, "alpha differs: %g", da);
    CHECK(fabsf(buf.beta[0] - step_ref[L]) <= 1e-5f, "beta differs");
    CHECK(dl <= ltol, "logits differ: %g > %g", dl, ltol);
    float sum = 0.0f;
    for (int i = 0; i < L; i++)
        sum += buf.alpha[i];
    CHECK(fabsf(sum - 1.0f) < 1e-5f, "alpha sums to %f", sum);
    cap_decoder_free(&buf);
    cap_annotations_free(&ann);
    free(x);
    free(a);
    cap_image_free(&img);
    cap_image_free(&sq);
done:
    free(ref);
    free(step_ref);
}

/* Each golden line: NAME<TAB>ids<TAB>caption. The C caption must have the same ids. */
/* Does tokens [n_tokens] hold the same n-gram twice? */
static int has_repeated_ngram(const int *tokens, int n_tokens, int n)
{
    for (int i = 0; i + n <= n_tokens; i++)
        for (int j = i + 1; j + n <= n_tokens; j++)
            if (memcmp(tokens + i, tokens + j, sizeof(int) * (size_t)n) == 0)
                return 1;
    return 0;
}

/* The decoding options' promises on an n-best list: no caption repeats an n-gram, and the
 * finished captions come by decreasing logprob / (n_tokens + 1)^length_penalty. */
static void check_nbest_rules(const cap_result *res, const char *name, float length_penalty,
                              int no_repeat_ngram)
{
    float prev = INFINITY;
    for (int i = 0; i < res->n_captions; i++) {
        const cap_caption *c = &res->captions[i];
        if (no_repeat_ngram >= 2)
            CHECK(!has_repeated_ngram(c->tokens, c->n_tokens, no_repeat_ngram),
                  "%s: caption %d repeats a %d-gram", name, i, no_repeat_ngram);
        if (!c->finished)
            continue;
        const float score = c->logprob / powf((float)(c->n_tokens + 1), length_penalty);
        CHECK(score <= prev, "%s: n-best not ordered by the length-normalised score", name);
        prev = score;
    }
}

static void test_captions(const cap_model *m, const char *golden, const char *assets,
                          const char *file, int beam, float length_penalty, int no_repeat_ngram,
                          float tag_threshold)
{
    char path[4096], line[8192];
    snprintf(path, sizeof path, "%s/%s", golden, file);
    FILE *f = fopen(path, "r");
    CHECK(f != NULL, "open %s", path);
    if (!f)
        return;
    int n_lines = 0;
    while (fgets(line, sizeof line, f)) {
        char *name = strtok(line, "\t"), *ids = strtok(NULL, "\t\n");
        int want[1024], n_want = 0;
        for (char *tok = ids ? strtok(ids, " ") : NULL; tok && n_want < 1024;
             tok = strtok(NULL, " "))
            want[n_want++] = atoi(tok);
        snprintf(path, sizeof path, "%s/%s", assets, name);
        cap_image img = {0};
        cap_result res = {0};
        cap_error err = {0};
        cap_options opt = cap_options_default();
        opt.beam_size = beam;
        opt.length_penalty = length_penalty;
        opt.no_repeat_ngram = no_repeat_ngram;
        opt.tag_threshold = tag_threshold;
        int ok = cap_image_load_file(path, &img, &err) == CAP_OK &&
                 cap_caption_image(m, &img, &opt, &res, &err) == CAP_OK;
        CHECK(ok, "%s: %s", name, err.message);
        if (ok) {
            const cap_caption *best = &res.captions[0];
            int same = best->n_tokens == n_want;
            for (int i = 0; same && i < n_want; i++)
                same = best->tokens[i] == want[i];
            char text[4096];
            cap_caption_text(m, best, text, sizeof text);
            CHECK(same, "%s beam %d: C says '%s' (%d tokens), PyTorch %d tokens", name, beam,
                  text, best->n_tokens, n_want);
            CHECK(res.n_captions >= 1 && res.n_captions <= beam, "n-best size %d",
                  res.n_captions);
            check_nbest_rules(&res, name, length_penalty, no_repeat_ngram);
            for (int t = 0; t < best->n_tokens; t++) {
                float s = 0.0f;
                for (int i = 0; i < res.grid_rows * res.grid_cols; i++)
                    s += best->alpha[t * res.grid_rows * res.grid_cols + i];
                CHECK(fabsf(s - 1.0f) < 1e-4f, "alpha row %d sums to %f", t, s);
                CHECK(best->beta[t] > 0.0f && best->beta[t] < 1.0f, "beta out of (0,1)");
                CHECK(best->word_prob[t] > 0.0f && best->word_prob[t] <= 1.0f, "word prob");
            }
        }
        cap_result_free(&res);
        cap_image_free(&img);
        n_lines++;
    }
    fclose(f);
    CHECK(n_lines >= 3, "only %d golden captions in %s", n_lines, file);
}

/* Does the caption hold the forced word or its plural (a class naming it gives both)? */
static int names_word(const cap_model *m, const cap_caption *c, int word)
{
    for (int i = 0; i < c->n_tokens; i++) {
        if (c->tokens[i] == word)
            return 1;
        for (int k = 0; k < m->n_classes; k++)
            if (m->classes[k].word == word && m->classes[k].plural == c->tokens[i])
                return 1;
    }
    return 0;
}

/* The tagger against PyTorch (golden tags.tsv: NAME<TAB>class:prob,...<TAB>forced token<TAB>
 * forced prob): the same top-5 classes, probabilities within 1e-4, the same forced word;
 * every returned caption names the forced word; and a threshold above 1 (tags, never a
 * constraint) gives exactly the captions of max_tags 0 (no tagger). */
static void test_tags(const cap_model *m, const char *golden, const char *assets)
{
    char path[4096], line[8192];
    snprintf(path, sizeof path, "%s/tags.tsv", golden);
    FILE *f = fopen(path, "r");
    CHECK(f != NULL, "open %s", path);
    if (!f)
        return;
    int n_lines = 0, n_forced = 0;
    while (fgets(line, sizeof line, f)) {
        char *name = strtok(line, "\t"), *tags = strtok(NULL, "\t");
        char *forced = strtok(NULL, "\t"), *forced_p = strtok(NULL, "\t\n");
        if (!name || !tags || !forced || !forced_p)
            continue;
        int want_class[CAP_MAX_TAGS], n_want = 0;
        float want_p[CAP_MAX_TAGS];
        for (char *tok = strtok(tags, ","); tok && n_want < CAP_MAX_TAGS; tok = strtok(NULL, ","))
            if (sscanf(tok, "%d:%f", &want_class[n_want], &want_p[n_want]) == 2)
                n_want++;
        snprintf(path, sizeof path, "%s/%s", assets, name);
        cap_image img = {0};
        cap_result res = {0}, plain = {0}, unforced = {0};
        cap_error err = {0};
        cap_options opt = cap_options_default();
        int ok = cap_image_load_file(path, &img, &err) == CAP_OK &&
                 cap_caption_image(m, &img, &opt, &res, &err) == CAP_OK;
        CHECK(ok, "%s: %s", name, err.message);
        if (ok) {
            CHECK(res.n_tags == n_want, "%s: %d tags, PyTorch %d", name, res.n_tags, n_want);
            for (int i = 0; i < res.n_tags && i < n_want; i++) {
                CHECK(res.tags[i].class_index == want_class[i], "%s: tag %d is class %d, PyTorch %d",
                      name, i, res.tags[i].class_index, want_class[i]);
                CHECK(fabsf(res.tags[i].prob - want_p[i]) <= 1e-4f,
                      "%s: tag %d prob %.6f, PyTorch %.6f", name, i, res.tags[i].prob, want_p[i]);
                CHECK(res.tags[i].label && res.tags[i].label[0], "%s: tag without a label", name);
            }
            CHECK(res.forced_word == atoi(forced), "%s: forced word %d, PyTorch %d", name,
                  res.forced_word, atoi(forced));
            CHECK(fabsf(res.forced_prob - (float)atof(forced_p)) <= 1e-4f,
                  "%s: forced prob %.6f, PyTorch %s", name, res.forced_prob, forced_p);
            for (int c = 0; res.forced_word >= 0 && c < res.n_captions; c++)
                CHECK(names_word(m, &res.captions[c], res.forced_word),
                      "%s: caption %d lacks the forced word", name, c);
            n_forced += res.forced_word >= 0;
        }
        /* No constraint (threshold 2) = no tagger (max_tags 0), caption for caption. */
        cap_options off = cap_options_default(), none = cap_options_default();
        off.tag_threshold = 2.0f;
        none.max_tags = 0;
        ok = ok && cap_caption_image(m, &img, &off, &unforced, &err) == CAP_OK &&
             cap_caption_image(m, &img, &none, &plain, &err) == CAP_OK;
        CHECK(ok, "%s: %s", name, err.message);
        if (ok) {
            CHECK(unforced.forced_word == -1 && plain.forced_word == -1 && plain.n_tags == 0 &&
                      unforced.n_tags == opt.max_tags,
                  "%s: threshold 2 / max_tags 0 results", name);
            int same = unforced.n_captions == plain.n_captions;
            for (int c = 0; same && c < plain.n_captions; c++)
                same = unforced.captions[c].n_tokens == plain.captions[c].n_tokens &&
                       memcmp(unforced.captions[c].tokens, plain.captions[c].tokens,
                              sizeof(int) * (size_t)plain.captions[c].n_tokens) == 0;
            CHECK(same, "%s: an unconstrained caption differs from the plain search's", name);
        }
        cap_result_free(&res);
        cap_result_free(&plain);
        cap_result_free(&unforced);
        cap_image_free(&img);
        n_lines++;
    }
    fclose(f);
    CHECK(n_lines >= 3 && n_forced >= 1, "tags.tsv: %d photos, %d forced", n_lines, n_forced);
}

/* cap_forced_word on a made-up class table, the cases of tests/test_reference_tags.py's
 * ForcedWord (the same numbers, so both sides are held to the same rules). */
static void test_forced_word_rules(void)
{
    const cap_class classes[7] = {{-1, -1, -1, -1, "background"}, {6, 7, 12, 13, "a"},
                                  {8, 9, 12, 13, "b"},             {6, 10, -1, -1, "c"},
                                  {-1, -1, -1, -1, "d"},           {8, 9, -1, -1, "e"},
                                  {11, 11, -1, -1, "f"}};
    cap_model fake = {0};
    fake.config.vocab_size = 14;
    fake.n_classes = 7;
    fake.classes = (cap_class *)classes;
    const float p[7] = {0.0f, 0.3f, 0.25f, 0.0f, 0.0f, 0.05f, 0.4f};
    cap_constraint con;
    float prob;
    cap_error err;
    /* words alone: P(6) = 0.3, P(8) = 0.3, P(11) = 0.4; the general word 12: 0.55 */
    CHECK(cap_forced_word(&fake, p, 0.5f, &con, &prob, &err) == CAP_OK && con.n == 2 &&
              con.tokens[0] == 12 && con.tokens[1] == 13 && prob == 0.3f + 0.25f,
          "back-off to the general word: n %d, token %d, p %g", con.n, con.tokens[0], prob);
    CHECK(cap_forced_word(&fake, p, 0.6f, &con, &prob, &err) == CAP_OK && con.n == 0 &&
              prob == 0.0f, "no word reaches 0.6: nothing forced");
    CHECK(cap_forced_word(&fake, p, 0.35f, &con, &prob, &err) == CAP_OK && con.n == 1 &&
              con.tokens[0] == 11 && prob == 0.4f,
          "a confident word (plural == singular) is not replaced by a general one");
    const float q[7] = {0.05f, 0.3f, 0.2f, 0.25f, 0.1f, 0.05f, 0.05f};
    CHECK(cap_forced_word(&fake, q, 0.5f, &con, &prob, &err) == CAP_OK && con.n == 2 &&
              con.tokens[0] == 6 && con.tokens[1] == 7 && prob == 0.3f + 0.25f,
          "summed over the classes, the plural of the lowest class");
    CHECK(cap_word_takes_an("owl") && cap_word_takes_an("hour") && !cap_word_takes_an("unicycle") &&
              !cap_word_takes_an("cat") && !cap_word_takes_an("one") && !cap_word_takes_an(""),
          "a/an rule");
}

/* Write bytes to dir/name and expect cap_model_load to fail with `want`. */
/* Writes n bytes to DIR/NAME; the path goes to `path` (4096 bytes). A failed write shows up as
 * the load's error in the caller's check. */
static void write_model_file(const char *dir, const char *name, const void *bytes, size_t n,
                             char *path)
{
    snprintf(path, 4096, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (f) {
        fwrite(bytes, 1, n, f);
        fclose(f);
    }
}

static void expect_bad_model(const char *dir, const char *name, const void *bytes, size_t n,
                             cap_status want)
{
    char path[4096];
    write_model_file(dir, name, bytes, n, path);
    cap_model *m = (cap_model *)1;
    cap_error err = {0};
    cap_status st = cap_model_load(path, &m, &err);
    CHECK(st == want && m == NULL, "%s: got status %d (%s), want %d", name, st, err.message, want);
    CHECK(st == CAP_OK || (err.message[0] && !strchr(err.message, '\n')), "%s: message '%s'",
          name, err.message);
    printf("bad model %-16s -> %s\n", name, err.message);
    unlink(path);
}

static void put_u32(unsigned char *p, unsigned v)
{
    p[0] = v & 255;
    p[1] = (v >> 8) & 255;
    p[2] = (v >> 16) & 255;
    p[3] = (v >> 24) & 255;
}

/* The layer geometry of an output-stride-`stride` model: stride 32 is the plain MobileNetV2
 * (stride 2 in blocks 1, 3, 6 and 13, no dilation, 7x7 grid); stride 16 keeps block 13's
 * depthwise at stride 1 and dilates blocks 14-16 by 2 (14x14 grid). Either way blocks 14 and
 * 15 are residual and 13 and 16 are not (they change the channel count). */
static void check_geometry(const cap_model *m, int stride, const char *what)
{
    const int side = stride == 16 ? 14 : 7;
    CHECK(m->config.output_stride == stride && m->config.grid_rows == side &&
              m->config.grid_cols == side,
          "%s: grid %dx%d, stride %d (want %d)", what, m->config.grid_rows, m->config.grid_cols,
          m->config.output_stride, stride);
    for (int b = 0; b < CAP_ENCODER_BLOCKS; b++) {
        const cap_conv *dw = &m->encoder.blocks[b].depthwise;
        const int want_stride = b == 1 || b == 3 || b == 6 || (b == 13 && stride == 32) ? 2 : 1;
        const int want_dilation = b >= 14 && stride == 16 ? 2 : 1;
        CHECK(dw->stride == want_stride && dw->dilation == want_dilation,
              "%s block %d: stride %d dilation %d", what, b, dw->stride, dw->dilation);
    }
    CHECK(!m->encoder.blocks[13].residual && m->encoder.blocks[14].residual &&
              m->encoder.blocks[15].residual && !m->encoder.blocks[16].residual,
          "%s: residual connections of blocks 13-16", what);
}

/* The shipped file with the other stride's header (grid at offsets 28 and 32, stride field at
 * 100: 16, or 0 for 32) is a valid model of that stride: the tensors are the same. */
static void check_other_stride_variant(const char *dir, const unsigned char *good,
                                       unsigned char *scratch, size_t n, int shipped_stride)
{
    const int stride = shipped_stride == 16 ? 32 : 16, side = stride == 16 ? 14 : 7;
    memcpy(scratch, good, n);
    put_u32(scratch + 28, (uint32_t)side);
    put_u32(scratch + 32, (uint32_t)side);
    put_u32(scratch + 100, stride == 16 ? 16u : 0u);
    char path[4096];
    write_model_file(dir, stride == 16 ? "variant-stride16" : "variant-stride32", scratch, n, path);
    cap_model *m = NULL;
    cap_error err = {0};
    CHECK(cap_model_load(path, &m, &err) == CAP_OK, "stride-%d variant: %s", stride, err.message);
    if (m) {
        int rows = 0, cols = 0;
        cap_model_grid(m, &rows, &cols);
        CHECK(rows == side && cols == side, "stride-%d variant: cap_model_grid %dx%d", stride,
              rows, cols);
        check_geometry(m, stride, stride == 16 ? "stride-16 variant" : "stride-32 variant");
    }
    cap_model_free(m);
    unlink(path);
}

static void test_bad_models(const char *model_path, int shipped_stride)
{
    size_t n = 0;
    unsigned char *good = read_all(model_path, &n);
    CHECK(good != NULL && n > 4096, "read model");
    if (!good)
        return;
    char dir[] = "/tmp/test_model.XXXXXX";
    CHECK(mkdtemp(dir) != NULL, "mkdtemp");
    unsigned char *bad = malloc(n);
    expect_bad_model(dir, "truncated", good, n / 2, CAP_ERR_MODEL);
    expect_bad_model(dir, "header-only", good, 256, CAP_ERR_MODEL);
    expect_bad_model(dir, "tiny", good, 10, CAP_ERR_MODEL);
    expect_bad_model(dir, "empty", good, 0, CAP_ERR_MODEL);
    memcpy(bad, good, n);
    memcpy(bad, "GGUF\0\0\0\0", 8);
    expect_bad_model(dir, "foreign-magic", bad, n, CAP_ERR_MODEL);
    memcpy(bad, good, n);
    put_u32(bad + 8, 99);
    expect_bad_model(dir, "version-99", bad, n, CAP_ERR_MODEL);
    memcpy(bad, good, n);
    put_u32(bad + 16, 0x7fffffff); /* n_tensors: table would run past the end */
    expect_bad_model(dir, "huge-table", bad, n, CAP_ERR_MODEL);
    memcpy(bad, good, n);
    put_u32(bad + 256 + 88, 0xfffff000u); /* first tensor's offset far outside the file */
    put_u32(bad + 256 + 92, 0x7u);
    expect_bad_model(dir, "tensor-offset", bad, n, CAP_ERR_MODEL);
    memcpy(bad, good, n);
    put_u32(bad + 256 + 72, 31); /* first tensor's shape changed */
    expect_bad_model(dir, "tensor-shape", bad, n, CAP_ERR_MODEL);
    memcpy(bad, good, n);
    bad[256] = 'X'; /* first tensor renamed: missing */
    expect_bad_model(dir, "tensor-missing", bad, n, CAP_ERR_MODEL);
    /* The encoder output stride (offset 100): 0 = 32, 16; the grid (offsets 28, 32) must be
     * 224 / stride. 32 itself is written as 0, so the field value 32 is unknown too. */
    static const struct {
        const char *name;
        uint32_t grid_rows, grid_cols, stride_field;
    } geometry[] = {{"stride-8", 7, 7, 8},           {"stride-32", 7, 7, 32},
                    {"grid14-stride0", 14, 14, 0},   {"grid7-stride16", 7, 7, 16},
                    {"grid14x7-stride16", 14, 7, 16}};
    for (size_t i = 0; i < sizeof geometry / sizeof geometry[0]; i++) {
        memcpy(bad, good, n);
        put_u32(bad + 28, geometry[i].grid_rows);
        put_u32(bad + 32, geometry[i].grid_cols);
        put_u32(bad + 100, geometry[i].stride_field);
        expect_bad_model(dir, geometry[i].name, bad, n, CAP_ERR_MODEL);
    }
    check_other_stride_variant(dir, good, bad, n, shipped_stride);

    cap_model *m = NULL;
    cap_error err = {0};
    CHECK(cap_model_load("/nonexistent/model.bin", &m, &err) == CAP_ERR_IO && !m,
          "missing model file");
    CHECK(cap_model_load(dir, &m, &err) == CAP_ERR_IO && !m, "directory as model");
    rmdir(dir);
    free(bad);
    free(good);
}

static void test_arguments(const cap_model *m)
{
    unsigned char px[3] = {1, 2, 3};
    cap_image img = {1, 1, px};
    cap_result res = {0};
    cap_options opt = cap_options_default();
    CHECK(opt.beam_size == 3 && opt.max_len == 20 && opt.length_penalty == 0.7f &&
              opt.no_repeat_ngram == 2,
          "defaults");
    opt.length_penalty = -0.5f;
    CHECK(cap_caption_image(m, &img, &opt, &res, NULL) == CAP_ERR_ARG, "length penalty < 0");
    opt.length_penalty = NAN;
    CHECK(cap_caption_image(m, &img, &opt, &res, NULL) == CAP_ERR_ARG, "length penalty NaN");
    opt.length_penalty = INFINITY;
    CHECK(cap_caption_image(m, &img, &opt, &res, NULL) == CAP_ERR_ARG, "length penalty inf");
    opt = cap_options_default();
    opt.no_repeat_ngram = 1;
    CHECK(cap_caption_image(m, &img, &opt, &res, NULL) == CAP_ERR_ARG, "no-repeat 1");
    opt.no_repeat_ngram = -1;
    CHECK(cap_caption_image(m, &img, &opt, &res, NULL) == CAP_ERR_ARG, "no-repeat -1");
    opt = cap_options_default();
    opt.beam_size = 0;
    CHECK(cap_caption_image(m, &img, &opt, &res, NULL) == CAP_ERR_ARG, "beam 0");
    opt = cap_options_default();
    opt.max_len = 0;
    CHECK(cap_caption_image(m, &img, &opt, &res, NULL) == CAP_ERR_ARG, "max_len 0");
    cap_image empty = {0};
    CHECK(cap_caption_image(m, &empty, &opt, &res, NULL) == CAP_ERR_ARG, "empty image");
    /* A 1x1 image is still a valid photo; max_len 1 gives at most one word. */
    opt = cap_options_default();
    opt.max_len = 1;
    CHECK(cap_caption_image(m, &img, &opt, &res, NULL) == CAP_OK && res.captions[0].n_tokens <= 1,
          "max_len 1");
    cap_result_free(&res);
    CHECK(cap_model_word(m, -1) == NULL && cap_model_word(m, cap_model_vocab_size(m)) == NULL,
          "word out of range");
    CHECK(strcmp(cap_model_word(m, m->config.token_end), "<end>") == 0, "<end> token");
}

/* test_model --features MODEL IMAGE OUT: the encoder output of IMAGE, written to OUT. */
static int dump_features(const char *model_path, const char *image_path, const char *out_path)
{
    cap_model *m = NULL;
    cap_image img = {0}, sq = {0};
    cap_error err = {0};
    float *x = NULL, *a = NULL;
    int rc = 1;
    if (cap_model_load(model_path, &m, &err) != CAP_OK ||
        cap_image_load_file(image_path, &img, &err) != CAP_OK ||
        cap_image_resize(&img, m->config.input_size, m->config.input_size, &sq, &err) != CAP_OK) {
        fprintf(stderr, "test_model: %s\n", err.message);
        goto done;
    }
    const size_t side = (size_t)m->config.input_size,
                 n = (size_t)m->config.grid_rows * m->config.grid_cols * m->config.feature_dim;
    x = malloc(sizeof(float) * 3 * side * side);
    a = malloc(sizeof(float) * n);
    if (!x || !a)
        goto done;
    cap_encoder_input(&sq, x);
    if (cap_encoder_forward(&m->encoder, x, a, &err) != CAP_OK) {
        fprintf(stderr, "test_model: encoder: %s\n", err.message);
        goto done;
    }
    FILE *f = fopen(out_path, "wb");
    if (f && fwrite(a, sizeof(float), n, f) == n && fclose(f) == 0) {
        printf("grid %d %d\n", m->config.grid_rows, m->config.grid_cols);
        rc = 0;
    } else {
        fprintf(stderr, "test_model: cannot write %s\n", out_path);
        if (f)
            fclose(f);
    }
done:
    free(x);
    free(a);
    cap_image_free(&sq);
    cap_image_free(&img);
    cap_model_free(m);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc == 5 && strcmp(argv[1], "--features") == 0)
        return dump_features(argv[2], argv[3], argv[4]);
    if (argc != 4) {
        fprintf(stderr, "usage: test_model MODEL GOLDEN_DIR ASSETS_DIR\n"
                        "       test_model --features MODEL IMAGE OUT.f32\n");
        return 2;
    }
    cap_model *m = NULL;
    cap_error err = {0};
    if (cap_model_load(argv[1], &m, &err) != CAP_OK) {
        printf("cannot load %s: %s\n0 passed, 1 failed\n", argv[1], err.message);
        return 1;
    }
    test_encoder_and_first_step(m, argv[2], argv[3]);
    /* Prefetching maps the pages and changes nothing: the goldens below still hold. */
    CHECK(cap_model_prefetch(m) == 0, "cap_model_prefetch failed");
    CHECK(cap_model_prefetch(NULL) == -1, "cap_model_prefetch(NULL) accepted");
    /* The same table as RUNS in tests/fixtures/make_goldens.py. */
    const cap_options def = cap_options_default();
    const float lp = def.length_penalty, thr = def.tag_threshold;
    const int nr = def.no_repeat_ngram;
    test_captions(m, argv[2], argv[3], "greedy.tsv", 1, lp, nr, thr);
    test_captions(m, argv[2], argv[3], "beam3.tsv", 3, lp, nr, thr);
    test_captions(m, argv[2], argv[3], "beam3_plain.tsv", 3, 0.0f, 0, thr);
    test_captions(m, argv[2], argv[3], "beam5_lp1.5_nr3.tsv", 5, 1.5f, 3, thr);
    test_captions(m, argv[2], argv[3], "beam3_t2.tsv", 3, lp, nr, 2.0f);
    test_captions(m, argv[2], argv[3], "beam3_t0.95.tsv", 3, lp, nr, 0.95f);
    if (m->n_classes > 0)
        test_tags(m, argv[2], argv[3]);
    test_forced_word_rules();
    CHECK(m->config.output_stride == 16 || m->config.output_stride == 32,
          "shipped model: output stride %d", m->config.output_stride);
    check_geometry(m, m->config.output_stride, "shipped model");
    test_arguments(m);
    test_bad_models(argv[1], m->config.output_stride);
    cap_model_free(m);
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
