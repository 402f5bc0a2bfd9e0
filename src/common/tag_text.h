/* tag_text.h - the short names of a tag (cap_tag in caption.h), shared by the CLI's records
 * and the pictures (figure, window), so that every output names a tag the same way. */
#ifndef CAPTION_COMMON_TAG_TEXT_H
#define CAPTION_COMMON_TAG_TEXT_H

#include "caption.h"

#include <stddef.h>

/* The label's first name: "tabby" of "tabby, tabby cat" (ImageNet labels list synonyms
 * after commas; the first is the common one). Like snprintf: writes at most size bytes,
 * NUL-terminated when size > 0, and returns the length the whole name needs. A NULL label
 * is "?". */
size_t tag_label_name(const cap_tag *tag, char *buf, size_t size);

/* The name a record gives the tag: the word a caption uses for it ("cat"), else, for a class
 * never put into captions (word NULL), the label's first name. Same conventions. */
size_t tag_name(const cap_tag *tag, char *buf, size_t size);

#endif
