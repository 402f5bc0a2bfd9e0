/* test_tag_line.c - the tag line of the figure and the window (src/render/tag_line.h): its
 * pieces (text and colour) for a hand-filled result, and how many fit a width, measured
 * here as one pixel per byte. */
#include "caption.h"
#include "check.h"
#include "render/tag_line.h"

#include <string.h>

static int byte_width(void *ctx, const char *text)
{
    (void)ctx;
    return (int)strlen(text);
}

/* The pieces joined, each prefixed with its ink: T text, D dim, F forced. */
static void joined(const tag_piece *pieces, int n, char *buf, size_t size)
{
    buf[0] = '\0';
    for (int i = 0; i < n; i++) {
        const char ink[] = {"TDF"[pieces[i].ink], '\0'};
        strncat(buf, ink, size - strlen(buf) - 1);
        strncat(buf, pieces[i].text, size - strlen(buf) - 1);
    }
}

int main(void)
{
    cap_tag tags[] = {{208, "Labrador retriever", "dog", 0.4123f},
                      {281, "tabby, tabby cat", "cat", 0.1032f},
                      {834, "suit, suit of clothes", NULL, 0.0512f},
                      {973, "coral reef", NULL, 0.004f},
                      {207, "golden retriever", "dog", 0.995f}};
    cap_result res = {.n_tags = 4, .tags = tags, .forced_word = 7, .forced_prob = 0.6174f};
    tag_piece pieces[TAG_LINE_MAX_PIECES];
    char text[1024];

    int n = tag_line_build(&res, "dog", pieces);
    joined(pieces, n, text, sizeof text);
    CHECK(n == 10 && strcmp(text, "Fforced \xE2\x80\x9C" "dog\xE2\x80\x9D 62%D  \xC2\xB7  Dtags  "
                                  "FLabrador retriever 41%D \xC2\xB7 Ttabby 10%D \xC2\xB7 "
                                  "Dsuit 5%D \xC2\xB7 Dcoral reef <1%") == 0,
          "forced: %d pieces: %s", n, text);

    res.forced_word = -1;
    n = tag_line_build(&res, NULL, pieces);
    joined(pieces, n, text, sizeof text);
    CHECK(n == 8 && strncmp(text, "Dtags  TLabrador retriever 41%D", 31) == 0,
          "not forced: %d pieces: %s", n, text);

    res.n_tags = 1;
    res.tags = &tags[4];
    n = tag_line_build(&res, NULL, pieces);
    CHECK(n == 2 && strcmp(pieces[1].text, "golden retriever 100%") == 0, "%s", pieces[1].text);

    cap_result none = {.forced_word = -1};
    CHECK(tag_line_build(&none, NULL, pieces) == 0, "no tags, no line");

    /* Fitting: "tags  " (6) "Labrador retriever 41%" (22) " · " (4 bytes) "tabby 10%" (9)... */
    res.n_tags = 4;
    res.tags = tags;
    n = tag_line_build(&res, NULL, pieces);
    int used = -1;
    int k = tag_line_fit(pieces, n, 1000, 3, byte_width, NULL, &used);
    CHECK(k == n, "all fit: %d of %d", k, n);
    k = tag_line_fit(pieces, n, 6 + 22 + 4 + 3, 3, byte_width, NULL, &used);
    CHECK(k == 2 && used == 28, "a separator is never last: %d pieces, %d px", k, used);
    k = tag_line_fit(pieces, n, 6 + 22 + 4 + 9 + 3, 3, byte_width, NULL, &used);
    CHECK(k == 4 && used == 41, "room for the ellipsis: %d pieces, %d px", k, used);
    k = tag_line_fit(pieces, n, 2, 3, byte_width, NULL, &used);
    CHECK(k == 0 && used == 0, "nothing fits: %d", k);
    return check_summary();
}
