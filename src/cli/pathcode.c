/* pathcode.c - UTF-8 validation and the percent escape of paths that are not UTF-8. */
#include "pathcode.h"

#include <stdlib.h>
#include <string.h>

static int continuation(unsigned char c)
{
    return (c & 0xC0) == 0x80;
}

size_t utf8_sequence_length(const char *s)
{
    const unsigned char *u = (const unsigned char *)s;

    if (u[0] < 0x80)
        return 1;
    if (u[0] >= 0xC2 && u[0] <= 0xDF)
        return continuation(u[1]) ? 2 : 0;
    if (u[0] >= 0xE0 && u[0] <= 0xEF) {
        /* E0 needs A0..BF (no overlong forms); ED needs 80..9F (no surrogates). */
        unsigned char lo = u[0] == 0xE0 ? 0xA0 : 0x80, hi = u[0] == 0xED ? 0x9F : 0xBF;
        return u[1] >= lo && u[1] <= hi && continuation(u[2]) ? 3 : 0;
    }
    if (u[0] >= 0xF0 && u[0] <= 0xF4) {
        /* F0 needs 90..BF (no overlong forms); F4 needs 80..8F (at most U+10FFFF). */
        unsigned char lo = u[0] == 0xF0 ? 0x90 : 0x80, hi = u[0] == 0xF4 ? 0x8F : 0xBF;
        return u[1] >= lo && u[1] <= hi && continuation(u[2]) && continuation(u[3]) ? 4 : 0;
    }
    return 0;
}

int utf8_valid(const char *s)
{
    for (size_t n; *s; s += n)
        if (!(n = utf8_sequence_length(s)))
            return 0;
    return 1;
}

/* Copy s, writing each invalid byte (and '%' when percent is set) as %XX or U+FFFD. Each
 * takes at most 3 bytes, so 3 * strlen + 1 always suffices. */
static char *rewrite(const char *s, int percent)
{
    static const char hex[] = "0123456789ABCDEF";
    char *out = malloc(3 * strlen(s) + 1), *w = out;

    if (!out)
        return NULL;
    while (*s) {
        size_t n = utf8_sequence_length(s);
        unsigned char c = (unsigned char)*s;
        if (n && !(percent && c == '%')) {
            memcpy(w, s, n);
            w += n;
            s += n;
            continue;
        }
        if (percent) {
            *w++ = '%';
            *w++ = hex[c >> 4];
            *w++ = hex[c & 15];
        } else {
            memcpy(w, "\xEF\xBF\xBD", 3);
            w += 3;
        }
        s++;
    }
    *w = '\0';
    return out;
}

char *utf8_replace_invalid(const char *s)
{
    return rewrite(s, 0);
}

char *path_percent_encode(const char *s)
{
    return rewrite(s, 1);
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

int hex_byte(const char *s)
{
    int hi = hex_value(s[0]), lo = hi < 0 ? -1 : hex_value(s[1]);

    return lo < 0 ? -1 : hi << 4 | lo;
}

int path_percent_decode(char *s)
{
    char *w = s;

    for (const char *p = s; *p; p++) {
        int byte;
        if (*p != '%') {
            *w++ = *p;
            continue;
        }
        if ((byte = hex_byte(p + 1)) <= 0)
            return -1;
        *w++ = (char)byte;
        p += 2;
    }
    *w = '\0';
    return 0;
}
