/* image_internal.h - what the image loader (image.c), its decoders (image_jpeg.c,
 * image_png.c), the EXIF orientation (image_exif.c) and resize.c share. */
#ifndef CAPTION_IMAGE_INTERNAL_H
#define CAPTION_IMAGE_INTERNAL_H

#include "caption.h"

#include <stddef.h>

/* Allocate img->rgb for width x height RGB8 pixels and set the size. On failure returns
 * CAP_ERR_NOMEM (message names the size) and leaves img untouched. */
cap_status cap_image_alloc(cap_image *img, int width, int height, cap_error *err);

/* CAP_OK if a width x height image is within CAP_IMAGE_MAX_SIDE and CAP_IMAGE_MAX_PIXELS,
 * else CAP_ERR_TOO_LARGE (CAP_ERR_FORMAT for an empty one). Called with a header's
 * dimensions, before any pixel buffer exists. */
cap_status cap_image_check_size(unsigned long width, unsigned long height, cap_error *err);

/* Lowercase the first letter of a library's message (libjpeg, libpng, strerror) to match
 * ours, unless it starts an acronym ("JPEG datastream ..."). */
void cap_lowercase_first(char *text);

/* Decode a whole JPEG / PNG file held in memory (signature already checked) into *out;
 * on failure *out is freed. Errors as cap_image_load_memory. */
cap_status cap_decode_jpeg(const unsigned char *data, size_t size, cap_image *out,
                           cap_error *err);
cap_status cap_decode_png(const unsigned char *data, size_t size, cap_image *out,
                          cap_error *err);

/* The orientation (1..8) in the EXIF tag 0x0112 of an APP1 segment's bytes ("Exif\0\0"
 * first); 1 when absent or invalid. */
int cap_exif_orientation(const unsigned char *app1, size_t size);

/* Turn img upright for an EXIF orientation 1..8, in place (a new pixel buffer for 2..8). */
cap_status cap_image_orient(cap_image *img, int orientation, cap_error *err);

#endif
