/* tag_text.c - see tag_text.h. */
#include "common/tag_text.h"

#include <stdio.h>
#include <string.h>

size_t tag_label_name(const cap_tag *tag, char *buf, size_t size)
{
    const char *label = tag->label ? tag->label : "?";
    const int n = (int)strcspn(label, ",");
    snprintf(buf, size, "%.*s", n, label);
    return (size_t)n;
}

size_t tag_name(const cap_tag *tag, char *buf, size_t size)
{
    if (!tag->word)
        return tag_label_name(tag, buf, size);
    snprintf(buf, size, "%s", tag->word);
    return strlen(tag->word);
}
