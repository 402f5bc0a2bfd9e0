/* image.c - JPEG/PNG decoding to RGB8 (resizing is in resize.c).
 *
 * The training pipeline decodes and resizes with Pillow, so both decoders and the resampler
 * reproduce Pillow's arithmetic rather than merely "looking right": a systematic offset of
 * one grey level is enough to shift what the encoder sees. */
#include "common/signature.h"
#include "error.h"
#include "image_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jpeglib.h>
#include <jerror.h>
#include <libexif/exif-data.h>
#include <png.h>

/* ---------------------------------------------------------------- common -- */

void cap_image_free(cap_image *img)
{
    if (!img)
        return;
    free(img->rgb);
    memset(img, 0, sizeof *img);
}

/* Called with the header's dimensions, before any pixel buffer exists, so that a crafted
 * header cannot make us allocate gigabytes. */
static cap_status check_size(unsigned long width, unsigned long height, cap_error *err)
{
    if (width == 0 || height == 0)
        return cap_fail(err, CAP_ERR_FORMAT, "image has no pixels (%lux%lu)", width, height);
    if (width > CAP_IMAGE_MAX_SIDE || height > CAP_IMAGE_MAX_SIDE ||
        (unsigned long long)width * height > (unsigned long long)CAP_IMAGE_MAX_PIXELS)
        return cap_fail(err, CAP_ERR_TOO_LARGE,
                        "image is %lux%lu pixels, the limit is %ld pixels and %d per side",
                        width, height, CAP_IMAGE_MAX_PIXELS, CAP_IMAGE_MAX_SIDE);
    return CAP_OK;
}

cap_status cap_image_alloc(cap_image *img, int width, int height, cap_error *err)
{
    img->rgb = malloc((size_t)width * (size_t)height * 3);
    if (!img->rgb)
        return cap_fail(err, CAP_ERR_NOMEM, "out of memory for a %dx%d image", width, height);
    img->width = width;
    img->height = height;
    return CAP_OK;
}

/* Library messages start with a capital ("Premature end of JPEG file"); ours are lowercase.
 * Acronyms ("JPEG datastream ...") are left alone. */
static void lowercase_first(char *text)
{
    if (text[0] >= 'A' && text[0] <= 'Z' && !(text[1] >= 'A' && text[1] <= 'Z'))
        text[0] = (char)(text[0] - 'A' + 'a');
}

/* ------------------------------------------------------------------ EXIF -- */

/* Phone cameras store the sensor's pixels and say in EXIF tag 0x0112 (IFD0) how to turn
 * them upright; Pillow's ImageOps.exif_transpose, which tools/prepare_data.py applies,
 * reads the first "Exif" APP1 segment. libexif parses only that segment's bytes (libjpeg
 * has already bounded them), never the whole file. Any problem means "no orientation":
 * a damaged tag must not cost the user the photo. */
static int exif_orientation(const unsigned char *app1, size_t size)
{
    static const unsigned char exif_header[6] = {'E', 'x', 'i', 'f', 0, 0};
    ExifData *ed;
    ExifEntry *entry;
    int orientation = 1;

    if (size < sizeof exif_header || memcmp(app1, exif_header, sizeof exif_header) != 0)
        return 1;
    if (!(ed = exif_data_new()))
        return 1;
    /* By default libexif rewrites the tags to the standard after loading: wasted work
     * here, and more of its code exposed to hostile input. */
    exif_data_unset_option(ed, EXIF_DATA_OPTION_FOLLOW_SPECIFICATION);
    exif_data_load_data(ed, app1, (unsigned int)size);
    entry = exif_content_get_entry(ed->ifd[EXIF_IFD_0], EXIF_TAG_ORIENTATION);
    /* The standard says SHORT; Pillow also honours a LONG, which some writers use. */
    if (entry && entry->data && entry->components >= 1) {
        ExifByteOrder order = exif_data_get_byte_order(ed);
        long value = 0;
        if (entry->format == EXIF_FORMAT_SHORT && entry->size >= 2)
            value = exif_get_short(entry->data, order);
        else if (entry->format == EXIF_FORMAT_LONG && entry->size >= 4)
            value = (long)exif_get_long(entry->data, order);
        if (value >= 1 && value <= 8)
            orientation = (int)value;
    }
    exif_data_unref(ed);
    return orientation;
}

static int jpeg_orientation(j_decompress_ptr cinfo)
{
    for (jpeg_saved_marker_ptr m = cinfo->marker_list; m; m = m->next)
        if (m->marker == JPEG_APP0 + 1 && m->data_length >= 6 &&
            memcmp(m->data, "Exif\0\0", 6) == 0)
            return exif_orientation(m->data, m->data_length);
    return 1;
}

/* Source pixel of output pixel (x, y) for each orientation, src being w x h. These are
 * Pillow's transposes in exif_transpose: 2 FLIP_LEFT_RIGHT, 3 ROTATE_180, 4 FLIP_TOP_BOTTOM,
 * 5 TRANSPOSE, 6 ROTATE_270 (90 degrees clockwise), 7 TRANSVERSE, 8 ROTATE_90. */
static void orient_source(int orientation, int w, int h, int x, int y, int *sx, int *sy)
{
    switch (orientation) {
    case 2: *sx = w - 1 - x; *sy = y; break;
    case 3: *sx = w - 1 - x; *sy = h - 1 - y; break;
    case 4: *sx = x; *sy = h - 1 - y; break;
    case 5: *sx = y; *sy = x; break;
    case 6: *sx = y; *sy = h - 1 - x; break;
    case 7: *sx = w - 1 - y; *sy = h - 1 - x; break;
    case 8: *sx = w - 1 - y; *sy = x; break;
    default: *sx = x; *sy = y; break;
    }
}

/* Replace img by its upright version. Needs a second buffer of the same size; the size
 * limits are symmetric in width and height, so a swapped image is within them too. */
static cap_status apply_orientation(cap_image *img, int orientation, cap_error *err)
{
    cap_image out = {0};
    int swap = orientation >= 5;
    cap_status status;

    if (orientation < 2 || orientation > 8)
        return CAP_OK;
    status = cap_image_alloc(&out, swap ? img->height : img->width,
                             swap ? img->width : img->height, err);
    if (status != CAP_OK)
        return status;
    for (int y = 0; y < out.height; y++) {
        unsigned char *dst = out.rgb + (size_t)y * out.width * 3;
        for (int x = 0; x < out.width; x++, dst += 3) {
            int sx, sy;
            orient_source(orientation, img->width, img->height, x, y, &sx, &sy);
            memcpy(dst, img->rgb + ((size_t)sy * img->width + sx) * 3, 3);
        }
    }
    cap_image_free(img);
    *img = out;
    return CAP_OK;
}

/* ------------------------------------------------------------------ JPEG -- */

/* Everything a longjmp must not lose. It lives in decode_jpeg, which does not call setjmp
 * itself: locals changed after setjmp would be indeterminate after the jump. */
typedef struct jpeg_guard {
    struct jpeg_error_mgr mgr; /* first member: cinfo->err points at the whole guard */
    struct jpeg_decompress_struct cinfo;
    jmp_buf jump;
    cap_error error;   /* what the longjmp reports */
    JSAMPLE *cmyk_row; /* owned here so that a longjmp cannot leak it */
    int orientation;   /* EXIF orientation 1..8, 1 when absent or invalid */
} jpeg_guard;

static _Noreturn void jpeg_fail(j_common_ptr cinfo, cap_status status, const char *what)
{
    jpeg_guard *guard = (jpeg_guard *)cinfo->err;
    char text[JMSG_LENGTH_MAX];

    cinfo->err->format_message(cinfo, text);
    lowercase_first(text);
    cap_fail(&guard->error, status, "%s: %s", what, text);
    longjmp(guard->jump, 1);
}

static void jpeg_on_error(j_common_ptr cinfo)
{
    jpeg_guard *guard = (jpeg_guard *)cinfo->err;

    if (cinfo->err->msg_code == JERR_IMAGE_TOO_BIG) {
        /* libjpeg stops at 65500 per side inside jpeg_read_header, before check_size. */
        j_decompress_ptr d = (j_decompress_ptr)cinfo;
        cap_fail(&guard->error, CAP_ERR_TOO_LARGE,
                 "image is %ux%u pixels, the JPEG decoder's limit is %ld per side",
                 d->image_width, d->image_height, (long)JPEG_MAX_DIMENSION);
        longjmp(guard->jump, 1);
    }
    if (cinfo->err->msg_code == JERR_OUT_OF_MEMORY)
        jpeg_fail(cinfo, CAP_ERR_NOMEM, "out of memory");
    jpeg_fail(cinfo, CAP_ERR_FORMAT, "invalid JPEG");
}

/* Warnings that leave the decoded pixels intact: garbage between segments, odd JFIF
 * versions, unusable ICC or Adobe markers. Real camera files carry these and Pillow
 * decodes them, so rejecting them would refuse photos the model was trained on. */
static int jpeg_warning_is_benign(int code)
{
    return code == JWRN_EXTRANEOUS_DATA || code == JWRN_JFIF_MAJOR || code == JWRN_BOGUS_ICC ||
           code == JWRN_ADOBE_XFORM;
}

static void jpeg_on_message(j_common_ptr cinfo, int level)
{
    /* level -1 is a warning about corrupt data (libjpeg would substitute grey blocks and
     * carry on); levels >= 0 are trace output. */
    if (level < 0 && !jpeg_warning_is_benign(cinfo->err->msg_code))
        jpeg_fail(cinfo, CAP_ERR_FORMAT, "truncated or corrupt JPEG data");
}

/* Pillow reads CMYK JPEGs as inverted (Adobe) CMYK and converts with
 * R = (255-K) - (C*(255-K))/255 using its rounded MULDIV255; in terms of the raw samples
 * libjpeg returns (c = 255-C, k = 255-K) that is k - muldiv255(255-c, k). */
static unsigned char cmyk_channel(int c, int k)
{
    int t = (255 - c) * k + 128;
    return (unsigned char)(k - (((t >> 8) + t) >> 8));
}

static void cmyk_to_rgb(const JSAMPLE *cmyk, unsigned char *rgb, int width)
{
    for (int x = 0; x < width; x++, cmyk += 4, rgb += 3) {
        rgb[0] = cmyk_channel(cmyk[0], cmyk[3]);
        rgb[1] = cmyk_channel(cmyk[1], cmyk[3]);
        rgb[2] = cmyk_channel(cmyk[2], cmyk[3]);
    }
}

static cap_status jpeg_read_pixels(jpeg_guard *guard, const unsigned char *data, size_t size,
                                   cap_image *out, cap_error *err)
{
    j_decompress_ptr cinfo = &guard->cinfo;
    cap_status status;
    int cmyk;

    jpeg_mem_src(cinfo, data, (unsigned long)size);
    /* APP1 is at most 64 KB, so keeping it costs little. The saved markers live in the
     * image's memory pool, so the tag is read right after the header. */
    jpeg_save_markers(cinfo, JPEG_APP0 + 1, 0xffff);
    jpeg_read_header(cinfo, TRUE);
    status = check_size(cinfo->image_width, cinfo->image_height, err);
    if (status != CAP_OK)
        return status;
    guard->orientation = jpeg_orientation(cinfo);
    /* libjpeg converts grayscale and YCbCr to RGB itself, but not CMYK/YCCK. */
    cmyk = cinfo->jpeg_color_space == JCS_CMYK || cinfo->jpeg_color_space == JCS_YCCK;
    cinfo->out_color_space = cmyk ? JCS_CMYK : JCS_RGB;
    jpeg_start_decompress(cinfo);

    status = cap_image_alloc(out, (int)cinfo->output_width, (int)cinfo->output_height, err);
    if (status != CAP_OK)
        return status;
    if (cmyk && !(guard->cmyk_row = malloc((size_t)out->width * 4)))
        return cap_fail(err, CAP_ERR_NOMEM, "out of memory");

    while (cinfo->output_scanline < cinfo->output_height) {
        unsigned char *dst = out->rgb + (size_t)cinfo->output_scanline * out->width * 3;
        JSAMPROW row = cmyk ? guard->cmyk_row : dst;
        if (jpeg_read_scanlines(cinfo, &row, 1) != 1)
            return cap_fail(err, CAP_ERR_FORMAT, "truncated or corrupt JPEG data");
        if (cmyk)
            cmyk_to_rgb(row, dst, out->width);
    }
    jpeg_finish_decompress(cinfo);
    return CAP_OK;
}

static cap_status jpeg_guarded_read(jpeg_guard *guard, const unsigned char *data, size_t size,
                                    cap_image *out, cap_error *err)
{
    if (setjmp(guard->jump))
        return cap_fail(err, guard->error.status, "%s", guard->error.message);
    jpeg_create_decompress(&guard->cinfo);
    return jpeg_read_pixels(guard, data, size, out, err);
}

static cap_status decode_jpeg(const unsigned char *data, size_t size, cap_image *out,
                              cap_error *err)
{
    jpeg_guard guard;
    cap_status status;

    memset(&guard, 0, sizeof guard);
    guard.cinfo.err = jpeg_std_error(&guard.mgr);
    /* The defaults would print to stderr and exit() the whole process. */
    guard.mgr.error_exit = jpeg_on_error;
    guard.mgr.emit_message = jpeg_on_message;

    status = jpeg_guarded_read(&guard, data, size, out, err);
    jpeg_destroy_decompress(&guard.cinfo);
    free(guard.cmyk_row);
    if (status == CAP_OK)
        status = apply_orientation(out, guard.orientation, err);
    if (status != CAP_OK)
        cap_image_free(out);
    return status;
}

/* ------------------------------------------------------------------- PNG -- */

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
    lowercase_first(src->message);
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
    png_read_info(png, info);
    width = png_get_image_width(png, info);
    height = png_get_image_height(png, info);
    status = check_size(width, height, err);
    if (status != CAP_OK)
        return status;

    png_request_rgb8(png, info);
    stride = png_get_rowbytes(png, info);
    if (stride != (size_t)width * 3 && stride != (size_t)width * 4)
        return cap_fail(err, CAP_ERR_FORMAT, "unsupported PNG pixel layout");

    status = cap_image_alloc(out, (int)width, (int)height, err);
    if (status != CAP_OK)
        return status;
    pixels = out->rgb;
    if (stride == (size_t)width * 4 && !(pixels = src->rgba = malloc(stride * height)))
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

static cap_status decode_png(const unsigned char *data, size_t size, cap_image *out,
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

/* --------------------------------------------------------------- loading -- */

cap_status cap_image_load_memory(const void *data, size_t size, cap_image *out, cap_error *err)
{
    const unsigned char *bytes = data;

    if (out)
        memset(out, 0, sizeof *out);
    if (!out || (!data && size > 0))
        return cap_fail(err, CAP_ERR_ARG, "null argument");
    if (size == 0)
        return cap_fail(err, CAP_ERR_FORMAT, "empty file");
    switch (signature_of(bytes, size)) {
    case SIGNATURE_JPEG: return decode_jpeg(bytes, size, out, err);
    case SIGNATURE_PNG: return decode_png(bytes, size, out, err);
    case SIGNATURE_NONE: break;
    }
    return cap_fail(err, CAP_ERR_FORMAT, "not a JPEG or PNG file");
}

static cap_status io_fail(cap_error *err, int errnum)
{
    cap_status status = cap_fail(err, CAP_ERR_IO, "%s", strerror(errnum));

    if (err)
        lowercase_first(err->message);
    return status;
}

/* Reads until EOF rather than trusting st_size, which is 0 for pipes and /proc files. */
static cap_status read_fd(int fd, size_t hint, unsigned char **data, size_t *size,
                          cap_error *err)
{
    size_t capacity = hint + 1, used = 0;
    unsigned char *buf = malloc(capacity);

    if (!buf)
        return cap_fail(err, CAP_ERR_NOMEM, "out of memory reading the file");
    for (;;) {
        ssize_t n;
        if (used == capacity) {
            unsigned char *bigger = capacity <= SIZE_MAX / 2 ? realloc(buf, capacity * 2) : NULL;
            if (!bigger) {
                free(buf);
                return cap_fail(err, CAP_ERR_NOMEM, "out of memory reading the file");
            }
            buf = bigger;
            capacity *= 2;
        }
        n = read(fd, buf + used, capacity - used);
        if (n == 0)
            break;
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            int saved = errno;
            free(buf);
            return io_fail(err, saved);
        }
        used += (size_t)n;
    }
    *data = buf;
    *size = used;
    return CAP_OK;
}

static cap_status read_file(const char *path, unsigned char **data, size_t *size,
                            cap_error *err)
{
    struct stat st;
    cap_status status;
    size_t hint = 65536; /* pipes and /proc files report size 0 */
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    if (fd < 0)
        return io_fail(err, errno);
    if (fstat(fd, &st) != 0) {
        int saved = errno;
        close(fd);
        return io_fail(err, saved);
    }
    /* open() succeeds on a directory; read() would then fail with a less clear EISDIR. */
    if (S_ISDIR(st.st_mode)) {
        close(fd);
        return cap_fail(err, CAP_ERR_IO, "is a directory");
    }
    if (S_ISREG(st.st_mode) && st.st_size > 0 && (uintmax_t)st.st_size < SIZE_MAX)
        hint = (size_t)st.st_size;
    status = read_fd(fd, hint, data, size, err);
    close(fd);
    return status;
}

cap_status cap_image_load_file(const char *path, cap_image *out, cap_error *err)
{
    unsigned char *data = NULL;
    size_t size = 0;
    cap_status status;

    if (out)
        memset(out, 0, sizeof *out);
    if (!path || !out)
        return cap_fail(err, CAP_ERR_ARG, "null argument");
    status = read_file(path, &data, &size, err);
    if (status != CAP_OK)
        return status;
    status = cap_image_load_memory(data, size, out, err);
    free(data);
    return status;
}
