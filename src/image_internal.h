/* image_internal.h - helpers shared by the image decoders (image.c) and resize.c. */
#ifndef CAPTION_IMAGE_INTERNAL_H
#define CAPTION_IMAGE_INTERNAL_H

#include "caption.h"

/* Allocate img->rgb for width x height RGB8 pixels and set the size. On failure returns
 * CAP_ERR_NOMEM (message names the size) and leaves img untouched. */
cap_status cap_image_alloc(cap_image *img, int width, int height, cap_error *err);

#endif
