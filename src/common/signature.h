/* signature.h - the first bytes that make a file a JPEG or a PNG, for the decoder (which
 * chooses by content, not by name) and for the folder walk (which takes such files whatever
 * their name). */
#ifndef CAPTION_COMMON_SIGNATURE_H
#define CAPTION_COMMON_SIGNATURE_H

#include <stddef.h>

typedef enum image_signature {
    SIGNATURE_NONE = 0,
    SIGNATURE_JPEG, /* FF D8 FF: SOI and the first marker's prefix */
    SIGNATURE_PNG   /* the 8-byte PNG signature 89 'PNG' CR LF 1A LF */
} image_signature;

/* Bytes needed to tell every signature apart. */
#define SIGNATURE_MAX_BYTES 8

/* The signature the first n bytes of a file start with. */
image_signature signature_of(const void *bytes, size_t n);

#endif
