/* tag_line.c - see tag_line.h. */
#include "render/tag_line.h"

#include "common/tag_text.h"

#include <stdio.h>
#include <string.h>

#define SEPARATOR " \xC2\xB7 " /* " · " */

/* "61%"; "<1%" below half a percent, so that a shown 0% never hides a nonzero tag. */
static void percent(float p, char *buf, size_t size)
{
    if (p < 0.005f)
        snprintf(buf, size, "<1%%");
    else
        snprintf(buf, size, "%.0f%%", 100.0 * (double)p);
}

static tag_piece *add(tag_piece *pieces, int *n, tag_ink ink)
{
    tag_piece *piece = &pieces[(*n)++];
    piece->ink = ink;
    piece->separator = 0;
    piece->text[0] = '\0';
    return piece;
}

static void add_separator(tag_piece *pieces, int *n, const char *text)
{
    tag_piece *piece = add(pieces, n, TAG_INK_DIM);
    piece->separator = 1;
    snprintf(piece->text, sizeof piece->text, "%s", text);
}

int tag_line_build(const cap_result *res, const char *forced, tag_piece *pieces)
{
    if (!res || res->n_tags <= 0 || !res->tags)
        return 0;
    const int n_tags = res->n_tags < CAP_MAX_TAGS ? res->n_tags : CAP_MAX_TAGS;
    int n = 0;
    char p[16];
    if (forced) {
        percent(res->forced_prob, p, sizeof p);
        snprintf(add(pieces, &n, TAG_INK_FORCED)->text, sizeof pieces->text,
                 "forced \xE2\x80\x9C%s\xE2\x80\x9D %s", forced, p);
        add_separator(pieces, &n, "  \xC2\xB7  ");
    }
    snprintf(add(pieces, &n, TAG_INK_DIM)->text, sizeof pieces->text, "tags  ");
    for (int i = 0; i < n_tags; i++) {
        const cap_tag *t = &res->tags[i];
        if (i > 0)
            add_separator(pieces, &n, SEPARATOR);
        tag_ink ink = !t->word ? TAG_INK_DIM
                      : forced && strcmp(t->word, forced) == 0 ? TAG_INK_FORCED
                                                               : TAG_INK_TEXT;
        tag_piece *piece = add(pieces, &n, ink);
        char name[96];
        tag_label_name(t, name, sizeof name);
        percent(t->prob, p, sizeof p);
        snprintf(piece->text, sizeof piece->text, "%s %s", name, p);
    }
    return n;
}

int tag_line_fit(const tag_piece *pieces, int n, int max_w, int ellipsis_w,
                 int (*width)(void *ctx, const char *text), void *ctx, int *used)
{
    int w = 0, k = 0;
    for (; k < n; k++) {
        const int pw = width(ctx, pieces[k].text);
        /* The last piece needs no room for an ellipsis after it. */
        const int reserve = k + 1 < n ? ellipsis_w : 0;
        if (w + pw + reserve > max_w)
            break;
        w += pw;
    }
    /* A separator left last would dangle before the ellipsis. */
    while (k > 0 && k < n && pieces[k - 1].separator) {
        k--;
        w -= width(ctx, pieces[k].text);
    }
    *used = w;
    return k;
}
