/* signature.c - see signature.h. */
#include "common/signature.h"

#include <string.h>

image_signature signature_of(const void *bytes, size_t n)
{
    static const unsigned char jpeg[3] = {0xff, 0xd8, 0xff};
    static const unsigned char png[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    if (n >= sizeof jpeg && memcmp(bytes, jpeg, sizeof jpeg) == 0)
        return SIGNATURE_JPEG;
    if (n >= sizeof png && memcmp(bytes, png, sizeof png) == 0)
        return SIGNATURE_PNG;
    return SIGNATURE_NONE;
}
