/* pathcode.h - file names are bytes, records are UTF-8: the lossless escape between them.
 *
 * A path that is valid UTF-8 is written as it is. For one that is not, records carry a
 * readable form (each byte that is not part of a valid UTF-8 sequence replaced by U+FFFD)
 * and the exact bytes percent-encoded: each such byte, and '%' itself, as %XX (uppercase
 * hex), everything else unchanged. See docs/batch.md, "Names that are not UTF-8". */
#ifndef CAPTION_CLI_PATHCODE_H
#define CAPTION_CLI_PATHCODE_H

#include <stddef.h>

/* Length (1 to 4) of the valid UTF-8 sequence starting at s, or 0 if the byte at s does
 * not start one (overlong forms, surrogates and code points above U+10FFFF are invalid,
 * as for Python's strict decoder). s is NUL-terminated. */
size_t utf8_sequence_length(const char *s);

/* 1 if the whole NUL-terminated string is valid UTF-8. */
int utf8_valid(const char *s);

/* A new string with each byte that is not part of a valid sequence replaced by U+FFFD;
 * NULL when out of memory. */
char *utf8_replace_invalid(const char *s);

/* A new string with each byte that is not part of a valid sequence, and '%', written as
 * %XX; NULL when out of memory. */
char *path_percent_encode(const char *s);

/* The byte written as two hex digits at s ("4F", "e9"), or -1. */
int hex_byte(const char *s);

/* Decode path_percent_encode's output in place (any %XX becomes the byte XX). Returns -1,
 * leaving s undefined, if a '%' is not followed by two hex digits or %00 appears. */
int path_percent_decode(char *s);

#endif
