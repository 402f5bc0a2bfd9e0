/* tag_line.h - the line of tags under the caption, in the figure (figure.c) and the window
 * (viewer/draw.c), built here once as coloured pieces that each draws with its own fonts:
 *
 *   forced “cat” 81%  ·  tags  tabby 61% · Egyptian cat 20% · suit 1% · lynx <1%
 *
 * The first piece only when the caption was made to name a word (cap_result.forced_word);
 * each tag by its label's first name (the class the tagger sees) and its probability, in the
 * forced colour when its word is the forced word (the classes that made it), dim when the
 * class is never put into a caption (word NULL). */
#ifndef CAPTION_RENDER_TAG_LINE_H
#define CAPTION_RENDER_TAG_LINE_H

#include "caption.h"

typedef enum tag_ink {
    TAG_INK_TEXT,   /* a tag whose word a caption may use */
    TAG_INK_DIM,    /* labels and separators, and tags never put into a caption */
    TAG_INK_FORCED, /* the forced word, and the tags that name it */
} tag_ink;

typedef struct tag_piece {
    tag_ink ink;
    int separator; /* between two pieces: never drawn last before an ellipsis */
    char text[128];
} tag_piece;

/* Room for every piece of a line: the forced word and its separator, the lead, and each tag
 * with the separator before it. */
#define TAG_LINE_MAX_PIECES (3 + 2 * CAP_MAX_TAGS)

/* Fill pieces (TAG_LINE_MAX_PIECES of room) with the line of res's tags; forced is the forced
 * word's text (cap_model_word of res->forced_word) or NULL. Returns the number of pieces, 0
 * when res has no tags (then nothing is drawn, and the layouts stay as without tags). */
int tag_line_build(const cap_result *res, const char *forced, tag_piece *pieces);

/* How many of the first pieces fit in max_w pixels, measured by width(ctx, text); when not all
 * do, room is kept for an ellipsis of ellipsis_w after them. *used gets their width. */
int tag_line_fit(const tag_piece *pieces, int n, int max_w, int ellipsis_w,
                 int (*width)(void *ctx, const char *text), void *ctx, int *used);

#endif
