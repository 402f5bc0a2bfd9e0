/* png_write.h - write an RGB8 image as a PNG file with libpng (library-internal).
 * Used by the viewer's screenshots and the --attention-png figure. */
#ifndef CAPTION_PNG_WRITE_H
#define CAPTION_PNG_WRITE_H

#include <stddef.h>

/*
 * Write width x height RGB8 pixels (rows of 3-byte R,G,B pixels, `stride` bytes apart,
 * stride >= 3 * width) to `path` as an 8-bit RGB, non-interlaced PNG, replacing the file.
 * Returns 0, or -1 with a one-line reason (without the path) in errbuf (errsize bytes,
 * always NUL-terminated when errsize > 0) if the file cannot be written; a partly written
 * file is removed.
 */
int cap_write_png(const char *path, const unsigned char *rgb, int width, int height,
                  size_t stride, char *errbuf, size_t errsize);

#endif
