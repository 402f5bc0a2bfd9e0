/* model.c - map the model file and bind every tensor the network needs, checking bounds.
 * Nothing here trusts the file: each offset, size and count is checked against the mapping
 * before it is used, so a truncated or foreign file is a CAP_ERR_MODEL, never a bad read. */
#include "model.h"

#include "encoder.h"
#include "error.h"
#include "word_gates.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define HEADER_SIZE 256
#define ENTRY_SIZE 128
#define NAME_SIZE 64
#define DTYPE_F32 0
#define CLASS_RECORD 16 /* i32 word, plural, general word, general plural */
#define DTYPE_U8 2 /* uint8, value = (q - zero point) * scale: f32 scale, i32 zero point at 104 */

static uint32_t rd_u32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t rd_u64(const unsigned char *p)
{
    return (uint64_t)rd_u32(p) | (uint64_t)rd_u32(p + 4) << 32;
}

/* The parsed header and table, used only while loading. */
typedef struct loader {
    const unsigned char *base;
    size_t size;
    uint32_t n_tensors;
    uint64_t table_offset;
    uint32_t tagger_head_start, n_classes; /* version 2; 0 = no tagger */
    uint64_t class_offset, class_bytes;
    cap_error *err;
} loader;

/* A uint8 tensor's affine map, filled by find_tensor for dtype DTYPE_U8. */
typedef struct quant {
    const uint8_t *q;
    float scale;
    int zero_point;
} quant;

/* Find tensor `name`, check it is float32 (or, when qt is not NULL, possibly uint8, then
 * described in *qt and NULL returned) with exactly the given shape (ndim dims, trailing zeros
 * ignored), and return a pointer into the mapping. */
static const float *find_tensor(const loader *ld, const char *name, int ndim, const int *shape,
                                quant *qt, cap_status *st)
{
    if (*st != CAP_OK)
        return NULL;
    for (uint32_t i = 0; i < ld->n_tensors; i++) {
        const unsigned char *e = ld->base + ld->table_offset + (uint64_t)i * ENTRY_SIZE;
        if (strncmp((const char *)e, name, NAME_SIZE) != 0)
            continue;
        uint32_t dtype = rd_u32(e + 64), nd = rd_u32(e + 68);
        uint64_t offset = rd_u64(e + 88), nbytes = rd_u64(e + 96);
        const int u8 = qt && dtype == DTYPE_U8;
        uint64_t expect = u8 ? 1 : 4;
        int same = (dtype == DTYPE_F32 || u8) && nd == (uint32_t)ndim;
        for (int d = 0; d < ndim; d++) {
            same = same && rd_u32(e + 72 + 4 * d) == (uint32_t)shape[d];
            expect *= (uint64_t)shape[d];
        }
        if (!same || nbytes != expect) {
            *st = cap_fail(ld->err, CAP_ERR_MODEL, "tensor %s has the wrong dtype or shape", name);
            return NULL;
        }
        if (offset % 4 != 0 || offset > ld->size || nbytes > ld->size - offset) {
            *st = cap_fail(ld->err, CAP_ERR_MODEL, "tensor %s lies outside the file", name);
            return NULL;
        }
        if (u8) {
            uint32_t bits = rd_u32(e + 104);
            memcpy(&qt->scale, &bits, sizeof qt->scale);
            qt->zero_point = (int32_t)rd_u32(e + 108);
            qt->q = ld->base + offset;
            if (!(qt->scale > 0.0f) || !isfinite(qt->scale) || qt->zero_point < 0 ||
                qt->zero_point > 255) {
                *st = cap_fail(ld->err, CAP_ERR_MODEL, "tensor %s has an invalid quantization",
                               name);
                qt->q = NULL;
            }
            return NULL;
        }
        return (const float *)(ld->base + offset);
    }
    *st = cap_fail(ld->err, CAP_ERR_MODEL, "tensor %s is missing", name);
    return NULL;
}

static const float *tensor(const loader *ld, const char *name, int ndim, const int *shape,
                           cap_status *st)
{
    return find_tensor(ld, name, ndim, shape, NULL, st);
}

static const float *t1(const loader *ld, const char *name, int a, cap_status *st)
{
    return tensor(ld, name, 1, (const int[]){a}, st);
}

static const float *t2(const loader *ld, const char *name, int a, int b, cap_status *st)
{
    return tensor(ld, name, 2, (const int[]){a, b}, st);
}

/* Pointwise (1x1) conv stored as [cout][cin][1][1]; full 3x3 as [cout][cin][3][3];
 * depthwise as [c][1][3][3] (PyTorch's layouts). */
static cap_conv conv(const loader *ld, const char *prefix, int cin, int cout, int k, int stride,
                     int depthwise, int quant_ok, cap_status *st)
{
    char wname[NAME_SIZE + 8], bname[NAME_SIZE + 8]; /* prefix < NAME_SIZE, plus suffix */
    snprintf(wname, sizeof wname, "%s.weight", prefix);
    snprintf(bname, sizeof bname, "%s.bias", prefix);
    cap_conv c = {0};
    quant qt = {0};
    c.w = find_tensor(ld, wname, 4, (const int[]){cout, depthwise ? 1 : cin, k, k},
                      quant_ok && (k == 1 || depthwise) ? &qt : NULL, st);
    c.wq = qt.q;
    c.scale = qt.scale;
    c.zero_point = qt.zero_point;
    c.b = t1(ld, bname, cout, st);
    c.cin = cin;
    c.cout = cout;
    c.stride = stride;
    c.dilation = 1;
    return c;
}

/* Bind `prefix`.blocks.{first..16} (and conv1 when conv1 != NULL) of a MobileNetV2 1.0.
 * The weights are the same for every output stride; only the depthwise layers' strides and
 * dilations differ. As TF-slim's mobilenet `output_stride` (and tools/mobilenet_v2.py,
 * layer_strides): once the running stride reaches output_stride, later depthwise layers keep
 * stride 1 and are dilated by the strides they skip. For 16: block 13 at stride 1, blocks
 * 14-16 dilated by 2; for 32 nothing changes. */
static cap_status bind_blocks(const loader *ld, const char *prefix, int output_stride, int first,
                              int quant_ok, cap_block *blocks, cap_conv *conv1)
{
    /* MobileNetV2 1.0 (t, c, n, s): Sandler et al. 2018, Table 2. */
    static const int settings[7][4] = {{1, 16, 1, 1}, {6, 24, 2, 2}, {6, 32, 3, 2},
                                       {6, 64, 4, 2}, {6, 96, 3, 1}, {6, 160, 3, 2},
                                       {6, 320, 1, 1}};
    cap_status st = CAP_OK;
    char name[48]; /* "encoder.blocks.NN.depthwise.conv" */
    int cin = 32, b = 0, current = 2, rate = 1; /* running stride after conv0; dilation */
    for (int s = 0; s < 7; s++) {
        for (int i = 0; i < settings[s][2]; i++, b++) {
            const int t = settings[s][0], cout = settings[s][1], hidden = cin * t;
            const int table_stride = i == 0 ? settings[s][3] : 1;
            int stride = table_stride, dilation = 1;
            if (current == output_stride) {
                stride = 1;
                dilation = rate;
                rate *= table_stride;
            } else {
                current *= table_stride;
            }
            if (b >= first) {
                cap_block *blk = &blocks[b];
                if (t != 1) {
                    snprintf(name, sizeof name, "%s.blocks.%d.expand.conv", prefix, b);
                    blk->expand = conv(ld, name, cin, hidden, 1, 1, 0, quant_ok, &st);
                }
                snprintf(name, sizeof name, "%s.blocks.%d.depthwise.conv", prefix, b);
                blk->depthwise = conv(ld, name, hidden, hidden, 3, stride, 1, quant_ok, &st);
                blk->depthwise.dilation = dilation;
                snprintf(name, sizeof name, "%s.blocks.%d.project.conv", prefix, b);
                blk->project = conv(ld, name, hidden, cout, 1, 1, 0, quant_ok, &st);
                blk->residual = stride == 1 && cin == cout;
            }
            cin = cout;
        }
    }
    if (conv1) {
        snprintf(name, sizeof name, "%s.conv1.conv", prefix);
        *conv1 = conv(ld, name, cin, CAP_FEATURE_DIM, 1, 1, 0, quant_ok, &st);
    }
    return st;
}

static cap_status bind_encoder(const loader *ld, int output_stride, cap_encoder_weights *enc)
{
    cap_status st = CAP_OK;
    enc->conv0 = conv(ld, "encoder.conv0.conv", 3, 32, 3, 2, 0, 0, &st);
    if (st != CAP_OK)
        return st;
    return bind_blocks(ld, "encoder", output_stride, 0, 0, enc->blocks, &enc->conv1);
}

/* The tagger of a version-2 file: blocks head_start..16 at output stride 32, conv1, and the
 * classifier, a 1x1 convolution to n_classes outputs. */
static cap_status bind_tagger(const loader *ld, int head_start, int n_classes,
                              cap_tagger_weights *tg)
{
    tg->head_start = head_start;
    cap_status st = bind_blocks(ld, "tagger", 32, head_start, 1, tg->blocks, &tg->conv1);
    tg->classifier = conv(ld, "tagger.classifier", CAP_FEATURE_DIM, n_classes, 1, 1, 0, 1, &st);
    return st;
}

static cap_status bind_decoder(const loader *ld, const cap_model_config *c, cap_decoder_weights *w)
{
    const int V = c->vocab_size, D = c->feature_dim, M = c->embed_dim, A = c->attention_dim,
              H = c->hidden_dim;
    cap_status st = CAP_OK;
    w->embedding = t2(ld, "decoder.embedding.weight", V, M, &st);
    w->att_feature_w = t2(ld, "decoder.att_feature.weight", A, D, &st);
    w->att_feature_b = t1(ld, "decoder.att_feature.bias", A, &st);
    w->att_hidden_w = t2(ld, "decoder.att_hidden.weight", A, H, &st);
    w->att_hidden_b = t1(ld, "decoder.att_hidden.bias", A, &st);
    w->att_score_w = t2(ld, "decoder.att_score.weight", 1, A, &st);
    w->att_score_b = t1(ld, "decoder.att_score.bias", 1, &st);
    w->beta_gate_w = t2(ld, "decoder.beta_gate.weight", 1, H, &st);
    w->beta_gate_b = t1(ld, "decoder.beta_gate.bias", 1, &st);
    w->init_h_w = t2(ld, "decoder.init_h.weight", H, D, &st);
    w->init_h_b = t1(ld, "decoder.init_h.bias", H, &st);
    w->init_c_w = t2(ld, "decoder.init_c.weight", H, D, &st);
    w->init_c_b = t1(ld, "decoder.init_c.bias", H, &st);
    w->lstm_w_ih = t2(ld, "decoder.lstm.weight_ih", 4 * H, M + D, &st);
    w->lstm_b_ih = t1(ld, "decoder.lstm.bias_ih", 4 * H, &st);
    w->lstm_w_hh = t2(ld, "decoder.lstm.weight_hh", 4 * H, H, &st);
    w->lstm_b_hh = t1(ld, "decoder.lstm.bias_hh", 4 * H, &st);
    w->out_hidden_w = t2(ld, "decoder.out_hidden.weight", M, H, &st);
    w->out_context_w = t2(ld, "decoder.out_context.weight", M, D, &st);
    w->out_logits_w = t2(ld, "decoder.out_logits.weight", V, M, &st);
    w->out_logits_b = t1(ld, "decoder.out_logits.bias", V, &st);
    return st;
}

static cap_status parse_header(loader *ld, cap_model_config *c, uint64_t *vocab_offset,
                               uint64_t *vocab_bytes)
{
    const unsigned char *h = ld->base;
    if (ld->size < HEADER_SIZE || memcmp(h, CAP_MODEL_MAGIC, 8) != 0)
        return cap_fail(ld->err, CAP_ERR_MODEL, "not a caption model file (bad magic)");
    uint32_t version = rd_u32(h + 8);
    if (version < 1 || version > CAP_MODEL_VERSION)
        return cap_fail(ld->err, CAP_ERR_MODEL,
                        "model format version %u, this program reads versions 1 to %d", version,
                        CAP_MODEL_VERSION);
    if (rd_u32(h + 12) != HEADER_SIZE)
        return cap_fail(ld->err, CAP_ERR_MODEL, "unexpected header size %u", rd_u32(h + 12));
    ld->n_tensors = rd_u32(h + 16);
    uint32_t v[12];
    for (int i = 0; i < 12; i++)
        v[i] = rd_u32(h + 20 + 4 * i);
    ld->table_offset = rd_u64(h + 68);
    *vocab_offset = rd_u64(h + 76);
    *vocab_bytes = rd_u64(h + 84);
    uint64_t file_size = rd_u64(h + 92);
    const uint32_t stride_field = rd_u32(h + 100); /* 0 in every file older than the field */
    if (file_size != ld->size)
        return cap_fail(ld->err, CAP_ERR_MODEL, "file is %zu bytes, header says %llu (truncated?)",
                        ld->size, (unsigned long long)file_size);
    for (int i = 0; i < 12; i++)
        if (v[i] > (1u << 24))
            return cap_fail(ld->err, CAP_ERR_MODEL, "implausible hyperparameter %u", v[i]);
    if (stride_field != 0 && stride_field != 16)
        return cap_fail(ld->err, CAP_ERR_MODEL,
                        "unsupported encoder output stride field %u (this program reads 0, "
                        "meaning 32, or 16)", stride_field);
    *c = (cap_model_config){(int)v[0], (int)v[1], (int)v[2], (int)v[3], (int)v[4], (int)v[5],
                            (int)v[6], (int)v[7], (int)v[8], (int)v[9], (int)v[10], (int)v[11],
                            stride_field == 0 ? 32 : 16, (int)v[0]};
    if (c->feature_dim != CAP_FEATURE_DIM || c->input_size != CAP_ENCODER_INPUT)
        return cap_fail(ld->err, CAP_ERR_MODEL,
                        "unsupported encoder geometry: feature dim %d, input %d (want %d, %d)",
                        c->feature_dim, c->input_size, CAP_FEATURE_DIM, CAP_ENCODER_INPUT);
    const int side = CAP_ENCODER_INPUT / c->output_stride;
    if (c->grid_rows != side || c->grid_cols != side)
        return cap_fail(ld->err, CAP_ERR_MODEL,
                        "unsupported encoder geometry: grid %dx%d, output stride %d gives %dx%d",
                        c->grid_rows, c->grid_cols, c->output_stride, side, side);
    if (c->vocab_size < 4 || c->embed_dim < 1 || c->attention_dim < 1 || c->hidden_dim < 1)
        return cap_fail(ld->err, CAP_ERR_MODEL, "invalid decoder dimensions");
    const int tok[4] = {c->token_pad, c->token_start, c->token_end, c->token_unk};
    for (int i = 0; i < 4; i++)
        if (tok[i] < 0 || tok[i] >= c->vocab_size)
            return cap_fail(ld->err, CAP_ERR_MODEL, "special token id out of range");
    if (ld->table_offset > ld->size ||
        (uint64_t)ld->n_tensors * ENTRY_SIZE > ld->size - ld->table_offset)
        return cap_fail(ld->err, CAP_ERR_MODEL, "tensor table lies outside the file");
    if (*vocab_offset > ld->size || *vocab_bytes > ld->size - *vocab_offset)
        return cap_fail(ld->err, CAP_ERR_MODEL, "vocabulary lies outside the file");
    /* Version 2: the tagger, the class table and the added words; version 1 has none. */
    c->base_vocab_size = c->vocab_size;
    if (version >= 2) {
        ld->tagger_head_start = rd_u32(h + 104);
        const uint32_t base_vocab = rd_u32(h + 108);
        ld->class_offset = rd_u64(h + 112);
        ld->class_bytes = rd_u64(h + 120);
        ld->n_classes = rd_u32(h + 128);
        if (base_vocab != 0)
            c->base_vocab_size = (int)base_vocab;
        if (c->base_vocab_size > c->vocab_size)
            return cap_fail(ld->err, CAP_ERR_MODEL, "base vocabulary %d exceeds vocabulary %d",
                            c->base_vocab_size, c->vocab_size);
        for (int i = 0; i < 4; i++)
            if (tok[i] >= c->base_vocab_size)
                return cap_fail(ld->err, CAP_ERR_MODEL, "special token outside the base vocabulary");
        if (ld->tagger_head_start > CAP_ENCODER_BLOCKS - 1)
            return cap_fail(ld->err, CAP_ERR_MODEL, "tagger head start %u out of range",
                            ld->tagger_head_start);
        if ((ld->tagger_head_start != 0) != (ld->n_classes != 0) || ld->n_classes > 100000)
            return cap_fail(ld->err, CAP_ERR_MODEL,
                            "tagger (head start %u) and class table (%u classes) disagree",
                            ld->tagger_head_start, ld->n_classes);
        if (ld->n_classes != 0 &&
            (ld->class_offset > ld->size || ld->class_bytes > ld->size - ld->class_offset ||
             ld->class_bytes < (uint64_t)ld->n_classes * (CLASS_RECORD + 1)))
            return cap_fail(ld->err, CAP_ERR_MODEL, "class table lies outside the file");
    }
    return CAP_OK;
}

/* Point words[i] at each NUL-terminated word, all of which must lie inside the section. */
static cap_status bind_vocab(const loader *ld, cap_model *m, uint64_t offset, uint64_t bytes)
{
    const int V = m->config.vocab_size;
    m->words = malloc(sizeof *m->words * (size_t)V);
    if (!m->words)
        return cap_fail(ld->err, CAP_ERR_NOMEM, "out of memory");
    const char *p = (const char *)ld->base + offset, *end = p + bytes;
    for (int i = 0; i < V; i++) {
        const char *nul = memchr(p, '\0', (size_t)(end - p));
        if (!nul)
            return cap_fail(ld->err, CAP_ERR_MODEL, "vocabulary is truncated at word %d", i);
        m->words[i] = p;
        p = nul + 1;
    }
    return CAP_OK;
}

/* The class table: n_classes x (i32 word, i32 plural, i32 general word, i32 its plural), then
 * n_classes NUL-terminated labels (parse_header checked that the table lies inside the file
 * and holds the records). */
static cap_status bind_classes(const loader *ld, cap_model *m)
{
    const int n = (int)ld->n_classes, V = m->config.vocab_size;
    m->classes = calloc((size_t)n, sizeof *m->classes);
    if (!m->classes)
        return cap_fail(ld->err, CAP_ERR_NOMEM, "out of memory");
    m->n_classes = n;
    const unsigned char *rec = ld->base + ld->class_offset;
    const char *p = (const char *)rec + (size_t)n * CLASS_RECORD,
               *end = (const char *)rec + ld->class_bytes;
    for (int i = 0; i < n; i++) {
        cap_class *c = &m->classes[i];
        const unsigned char *r = rec + CLASS_RECORD * (size_t)i;
        c->word = (int32_t)rd_u32(r);
        c->plural = (int32_t)rd_u32(r + 4);
        c->general = (int32_t)rd_u32(r + 8);
        c->general_plural = (int32_t)rd_u32(r + 12);
        const int t[4] = {c->word, c->plural, c->general, c->general_plural};
        for (int j = 0; j < 4; j++)
            if (t[j] < -1 || t[j] >= V)
                return cap_fail(ld->err, CAP_ERR_MODEL, "class %d has an invalid word token", i);
        /* A form and its plural come together; a general word only with a word. */
        if ((c->word < 0) != (c->plural < 0) || (c->general < 0) != (c->general_plural < 0) ||
            (c->general >= 0 && c->word < 0))
            return cap_fail(ld->err, CAP_ERR_MODEL, "class %d has an invalid word token", i);
        const char *nul = memchr(p, '\0', (size_t)(end - p));
        if (!nul)
            return cap_fail(ld->err, CAP_ERR_MODEL, "class labels are truncated at class %d", i);
        c->label = p;
        p = nul + 1;
    }
    return CAP_OK;
}

static int find_word(const cap_model *m, const char *word)
{
    for (int i = 0; i < m->config.base_vocab_size; i++)
        if (strcmp(m->words[i], word) == 0)
            return i;
    return -1;
}

cap_status cap_model_load(const char *path, cap_model **out, cap_error *err)
{
    if (!out)
        return cap_fail(err, CAP_ERR_ARG, "no output pointer");
    *out = NULL;
    if (!path)
        return cap_fail(err, CAP_ERR_ARG, "no model path");
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return cap_fail(err, CAP_ERR_IO, "cannot open model: %s", strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        close(fd);
        return cap_fail(err, CAP_ERR_IO, "model is not a regular file");
    }
    if ((size_t)sb.st_size < HEADER_SIZE) {
        close(fd);
        return cap_fail(err, CAP_ERR_MODEL, "file too small to be a caption model (%lld bytes)",
                        (long long)sb.st_size);
    }
    void *map = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd); /* the mapping keeps the file alive */
    if (map == MAP_FAILED)
        return cap_fail(err, CAP_ERR_IO, "cannot map model: %s", strerror(errno));

    cap_model *m = calloc(1, sizeof *m);
    if (!m) {
        munmap(map, (size_t)sb.st_size);
        return cap_fail(err, CAP_ERR_NOMEM, "out of memory");
    }
    m->map = map;
    m->map_size = (size_t)sb.st_size;
    loader ld = {.base = map, .size = m->map_size, .err = err};
    uint64_t vocab_offset = 0, vocab_bytes = 0;
    cap_status st = parse_header(&ld, &m->config, &vocab_offset, &vocab_bytes);
    if (st == CAP_OK)
        st = bind_vocab(&ld, m, vocab_offset, vocab_bytes);
    /* The class table before the tensors: it needs only the vocabulary, and a file's first
     * 128 KB (the fuzz target's inputs) then reach it. */
    if (st == CAP_OK && ld.n_classes > 0)
        st = bind_classes(&ld, m);
    if (st == CAP_OK)
        st = bind_encoder(&ld, m->config.output_stride, &m->encoder);
    if (st == CAP_OK)
        st = bind_decoder(&ld, &m->config, &m->decoder);
    if (st == CAP_OK && ld.n_classes > 0)
        st = bind_tagger(&ld, (int)ld.tagger_head_start, (int)ld.n_classes, &m->tagger);
    if (st == CAP_OK) {
        m->word_gates = cap_word_gates_new(m->config.vocab_size, 4 * m->config.hidden_dim,
                                           CAP_WORD_GATES_MAX);
        m->token_a = find_word(m, "a");
        m->token_an = find_word(m, "an");
    }
    if (st != CAP_OK) {
        cap_model_free(m);
        return st;
    }
    *out = m;
    return CAP_OK;
}

#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ 22 /* Linux 5.14 */
#endif

int cap_model_prefetch(const cap_model *model)
{
    if (!model)
        return -1;
    if (madvise(model->map, model->map_size, MADV_POPULATE_READ) == 0)
        return 0;
    if (errno != EINVAL) /* EINVAL: a kernel before 5.14; anything else, give up */
        return -1;
    const volatile unsigned char *p = model->map;
    unsigned sum = 0;
    for (size_t i = 0; i < model->map_size; i += 4096)
        sum += p[i];
    (void)sum;
    return 0;
}

void cap_model_free(cap_model *model)
{
    if (!model)
        return;
    if (model->map)
        munmap(model->map, model->map_size);
    free(model->words);
    free(model->classes);
    cap_word_gates_free(model->word_gates);
    free(model);
}

int cap_model_vocab_size(const cap_model *model)
{
    return model->config.vocab_size;
}

const char *cap_model_word(const cap_model *model, int token)
{
    if (token < 0 || token >= model->config.vocab_size)
        return NULL;
    return model->words[token];
}

int cap_model_input_size(const cap_model *model)
{
    return model->config.input_size;
}

void cap_model_grid(const cap_model *model, int *rows, int *cols)
{
    *rows = model->config.grid_rows;
    *cols = model->config.grid_cols;
}

int cap_model_tag_classes(const cap_model *model)
{
    return model->n_classes > 0 ? model->n_classes - 1 : 0; /* less the background row */
}
