/* image_png.c - PNG to RGB8 with libpng: every colour type and bit depth, alpha composited
 * over white. */
#include "error.h"
#include "image_internal.h"

#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <png.h>

typedef struct png_source {
    const unsigned char *data;
    size_t size;
    size_t pos;
    char message[200];
    /* Owned here, in decode_png (which does not call setjmp), so that a longjmp out of
     * libpng can neither leak them nor leave them indeterminate. */
    unsigned char *rgba;
    png_bytep *rows;
} png_source;

static void png_on_error(png_structp png, png_const_charp message)
{
    png_source *src = png_get_error_ptr(png);

    snprintf(src->message, sizeof src->message, "%s", message);
    cap_lowercase_first(src->message);
    png_longjmp(png, 1);
}

static void png_on_warning(png_structp png, png_const_charp message)
{
    /* Warnings (bad sRGB profile, unknown chunk CRC, ...) do not touch the pixels, and a
     * library must not write to stderr. */
    (void)png;
    (void)message;
}

static void png_on_read(png_structp png, png_bytep buf, size_t len)
{
    png_source *src = png_get_io_ptr(png);

    if (len > src->size - src->pos)
        png_error(png, "unexpected end of file");
    memcpy(buf, src->data + src->pos, len);
    src->pos += len;
}

/* Request 8-bit RGB or RGBA whatever the colour type. No gamma or background transform is
 * set, so libpng never changes sample values beyond these exact conversions. */
static void png_request_rgb8(png_structp png, png_infop info)
{
    int color_type = png_get_color_type(png, info);

    png_set_expand(png); /* palette -> RGB, gray < 8 bits -> 8 bits, tRNS -> alpha */
    if (png_get_bit_depth(png, info) == 16)
        png_set_scale_16(png); /* rounds (v*255 + 32895) >> 16, unlike strip_16 */
    if (color_type == PNG_COLOR_TYPE_GRAY || color_type == PNG_COLOR_TYPE_GRAY_ALPHA)
        png_set_gray_to_rgb(png);
    png_set_interlace_handling(png);
    png_read_update_info(png, info);
}

static unsigned char over_white(int c, int a)
{
    return (unsigned char)((a * c + (255 - a) * 255 + 127) / 255);
}

static void composite_over_white(const unsigned char *rgba, unsigned char *rgb, size_t pixels)
{
    for (size_t i = 0; i < pixels; i++, rgba += 4, rgb += 3) {
        rgb[0] = over_white(rgba[0], rgba[3]);
        rgb[1] = over_white(rgba[1], rgba[3]);
        rgb[2] = over_white(rgba[2], rgba[3]);
    }
}

/* Only tRNS, among the ancillary chunks, changes the pixels we produce. libpng would
 * allocate (and zero) a buffer of each chunk's declared length before reading it, and
 * "chunk data is too large" is only a warning when reading: a 200-byte file declaring a
 * 1.6 GB pCAL cost 1.6 GB and seconds of memset. Ignored chunks are skipped through a
 * small stack buffer instead, so their cost is the bytes the file really holds. */
static void png_ignore_ancillary_chunks(png_structp png)
{
    static const png_byte trns[] = "tRNS";

    png_set_keep_unknown_chunks(png, PNG_HANDLE_CHUNK_NEVER, NULL, -1);
    png_set_keep_unknown_chunks(png, PNG_HANDLE_CHUNK_AS_DEFAULT, trns, 1);
}

/* Bytes of IDAT data the file really holds (a chunk cut by the end of the file counts
 * what is there), walking the chunks up to IEND. */
static size_t png_idat_bytes(const unsigned char *data, size_t size)
{
    size_t pos = 8, total = 0;

    while (size - pos >= 8) {
        size_t length = png_get_uint_32(data + pos), left = size - pos - 8;
        if (memcmp(data + pos + 4, "IDAT", 4) == 0)
            total += length < left ? length : left;
        if (memcmp(data + pos + 4, "IEND", 4) == 0 || length > left || left - length < 4)
            break;
        pos += 8 + length + 4;
    }
    return total;
}

/* Deflate expands at most 1032:1 (a 258-byte match in two bits), so image data shorter
 * than a 1032th of the filtered rows cannot decode: refuse it before allocating the
 * pixels. The rows are counted as if not interlaced, which only undercounts. */
static cap_status png_check_data_size(png_structp png, png_infop info, const png_source *src,
                                      cap_error *err)
{
    png_uint_32 width = png_get_image_width(png, info), height = png_get_image_height(png, info);
    unsigned long long bits = (unsigned long long)width * png_get_channels(png, info) *
                              png_get_bit_depth(png, info);
    unsigned long long rows = ((bits + 7) / 8 + 1) * height;
    size_t idat = png_idat_bytes(src->data, src->size);

    if (rows / 1032 > (unsigned long long)idat + 16)
        return cap_fail(err, CAP_ERR_FORMAT,
                        "truncated or corrupt PNG data: %zu bytes of image data cannot hold "
                        "%lux%lu pixels", idat, (unsigned long)width, (unsigned long)height);
    return CAP_OK;
}

/* An image with alpha, not interlaced: one RGBA row at a time, composited into out as it
 * comes, so that it costs 3 bytes a pixel rather than 7. (An interlaced one needs the whole
 * RGBA image: each pass fills pixels all over it.) */
static cap_status png_read_rgba_rows(png_structp png, png_source *src, cap_image *out,
                                     size_t stride, cap_error *err)
{
    if (!(src->rgba = malloc(stride)))
        return cap_fail(err, CAP_ERR_NOMEM, "out of memory");
    for (int y = 0; y < out->height; y++) {
        png_read_row(png, src->rgba, NULL);
        composite_over_white(src->rgba, out->rgb + (size_t)y * out->width * 3,
                             (size_t)out->width);
    }
    return CAP_OK;
}

static cap_status png_read_pixels(png_structp png, png_infop info, png_source *src,
                                  cap_image *out, cap_error *err)
{
    cap_status status;
    png_uint_32 width, height;
    unsigned char *pixels;
    size_t stride;

    png_set_read_fn(png, src, png_on_read);
    /* Lift libpng's own 1e6 limit so that every oversized image gets CAP_ERR_TOO_LARGE. */
    png_set_user_limits(png, 0x7fffffff, 0x7fffffff);
    png_ignore_ancillary_chunks(png);
    png_read_info(png, info);
    width = png_get_image_width(png, info);
    height = png_get_image_height(png, info);
    status = cap_image_check_size(width, height, err);
    if (status == CAP_OK)
        status = png_check_data_size(png, info, src, err);
    if (status != CAP_OK)
        return status;

    png_request_rgb8(png, info);
    stride = png_get_rowbytes(png, info);
    if (stride != (size_t)width * 3 && stride != (size_t)width * 4)
        return cap_fail(err, CAP_ERR_FORMAT, "unsupported PNG pixel layout");

    status = cap_image_alloc(out, (int)width, (int)height, err);
    if (status != CAP_OK)
        return status;
    const int alpha = stride == (size_t)width * 4;
    if (alpha && png_get_interlace_type(png, info) == PNG_INTERLACE_NONE)
        return png_read_rgba_rows(png, src, out, stride, err);
    pixels = out->rgb;
    if (alpha && !(pixels = src->rgba = malloc(stride * height)))
        return cap_fail(err, CAP_ERR_NOMEM, "out of memory");
    if (!(src->rows = malloc(sizeof *src->rows * height)))
        return cap_fail(err, CAP_ERR_NOMEM, "out of memory");
    for (png_uint_32 y = 0; y < height; y++)
        src->rows[y] = pixels + y * stride;

    png_read_image(png, src->rows);
    if (src->rgba)
        composite_over_white(src->rgba, out->rgb, (size_t)width * height);
    return CAP_OK;
}

static cap_status png_guarded_read(png_structp png, png_infop info, png_source *src,
                                   cap_image *out, cap_error *err)
{
    if (setjmp(png_jmpbuf(png)))
        return cap_fail(err, CAP_ERR_FORMAT, "truncated or corrupt PNG data: %s", src->message);
    return png_read_pixels(png, info, src, out, err);
}

cap_status cap_decode_png(const unsigned char *data, size_t size, cap_image *out,
                          cap_error *err)
{
    png_source src = {.data = data, .size = size};
    png_structp png;
    png_infop info;
    cap_status status;

    png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &src, png_on_error, png_on_warning);
    if (!png)
        return cap_fail(err, CAP_ERR_NOMEM, "out of memory");
    info = png_create_info_struct(png);
    if (!info) {
        png_destroy_read_struct(&png, NULL, NULL);
        return cap_fail(err, CAP_ERR_NOMEM, "out of memory");
    }

    status = png_guarded_read(png, info, &src, out, err);
    png_destroy_read_struct(&png, &info, NULL);
    free(src.rgba);
    free(src.rows);
    if (status != CAP_OK)
        cap_image_free(out);
    return status;
}
