/* fuzz_image.h - the body shared by fuzz_jpeg.c and fuzz_png.c: decode, then squash to
 * 224x224 as cap_caption_image would, so the resampler sees every odd size a decoder can
 * produce. */
#ifndef FUZZ_IMAGE_H
#define FUZZ_IMAGE_H

#include "caption.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static int fuzz_image(const uint8_t *data, size_t size)
{
    cap_image img, small;
    cap_error err;

    if (cap_image_load_memory(data, size, &img, &err) != CAP_OK) {
        /* A failure must leave a zeroed image and a non-empty, terminated message. */
        if (img.rgb || img.width || img.height || !err.message[0] ||
            !memchr(err.message, '\0', sizeof err.message))
            abort();
        return 0;
    }
    if (img.width <= 0 || img.height <= 0 || !img.rgb)
        abort();
    if (cap_image_resize(&img, 224, 224, &small, &err) == CAP_OK)
        cap_image_free(&small);
    cap_image_free(&img);
    return 0;
}

#endif
