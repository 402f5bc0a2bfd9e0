/* test_image_limits.c - work bounded by the input: large but highly compressible images
 * (all white, encoded here with libjpeg and libpng at their best compression) must still
 * decode, while the same files with their compressed data cut short must be refused by the
 * data-size checks (before the pixels are allocated), and a JPEG with too many scans by the
 * scan limit.
 *
 * usage: test_image_limits */
#include "caption.h"
#include "check.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>
#include <png.h>

enum { SIDE = 2048 }; /* 4 megapixels: large enough that the ratios are the codecs' best */

typedef struct buffer {
    unsigned char *data;
    size_t size;
} buffer;

/* A progressive script of 1 + 63 + 63 scans for one component: the DC, then every AC
 * coefficient on its own, first its high bits then its last bit. Valid, but over the
 * decoder's scan limit. */
static jpeg_scan_info *many_scans(int *count)
{
    static jpeg_scan_info scans[127];
    int n = 0;

    scans[n++] = (jpeg_scan_info){1, {0}, 0, 0, 0, 0};
    for (int k = 1; k < 64; k++)
        scans[n++] = (jpeg_scan_info){1, {0}, k, k, 0, 1};
    for (int k = 1; k < 64; k++)
        scans[n++] = (jpeg_scan_info){1, {0}, k, k, 1, 0};
    *count = n;
    return scans;
}

/* An all-white SIDE x SIDE JPEG (RGB 4:2:0 or gray), optimized Huffman tables so that a
 * white block costs the fewest bits, baseline, progressive or with the 127-scan script. */
static buffer white_jpeg(int gray, int progressive, int too_many_scans)
{
    struct jpeg_compress_struct c;
    struct jpeg_error_mgr jerr;
    unsigned long size = 0;
    buffer out = {0};
    unsigned char *row = malloc((size_t)SIDE * 3);

    memset(row, 255, (size_t)SIDE * 3);
    c.err = jpeg_std_error(&jerr);
    jpeg_create_compress(&c);
    jpeg_mem_dest(&c, &out.data, &size);
    c.image_width = c.image_height = SIDE;
    c.input_components = gray ? 1 : 3;
    c.in_color_space = gray ? JCS_GRAYSCALE : JCS_RGB;
    jpeg_set_defaults(&c);
    c.optimize_coding = TRUE;
    if (progressive)
        jpeg_simple_progression(&c);
    if (too_many_scans)
        c.scan_info = many_scans(&c.num_scans);
    jpeg_start_compress(&c, TRUE);
    while (c.next_scanline < c.image_height)
        jpeg_write_scanlines(&c, &row, 1);
    jpeg_finish_compress(&c);
    jpeg_destroy_compress(&c);
    free(row);
    out.size = size;
    return out;
}

static void png_append(png_structp png, png_bytep data, size_t len)
{
    buffer *out = png_get_io_ptr(png);
    unsigned char *bigger = realloc(out->data, out->size + len);

    if (!bigger)
        png_error(png, "out of memory");
    memcpy(bigger + out->size, data, len);
    out->data = bigger;
    out->size += len;
}

/* An all-white SIDE x SIDE RGB PNG at zlib's best compression (about 1000:1). */
static buffer white_png(void)
{
    buffer out = {0};
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png_create_info_struct(png);
    unsigned char *row = malloc((size_t)SIDE * 3);

    memset(row, 255, (size_t)SIDE * 3);
    png_set_write_fn(png, &out, png_append, NULL);
    png_set_compression_level(png, 9);
    png_set_filter(png, 0, PNG_FILTER_NONE);
    png_set_IHDR(png, info, SIDE, SIDE, 8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    for (int y = 0; y < SIDE; y++)
        png_write_row(png, row);
    png_write_end(png, info);
    png_destroy_write_struct(&png, &info);
    free(row);
    return out;
}

static void check_white(const char *what, buffer file)
{
    cap_image img;
    cap_error err = {0};
    cap_status st = cap_image_load_memory(file.data, file.size, &img, &err);
    size_t n = (size_t)SIDE * SIDE * 3, dark = 0;

    CHECK(st == CAP_OK, "%s (%zu bytes): status %d: %s", what, file.size, st, err.message);
    if (st != CAP_OK)
        return;
    CHECK(img.width == SIDE && img.height == SIDE, "%s: %dx%d", what, img.width, img.height);
    for (size_t i = 0; img.width == SIDE && img.height == SIDE && i < n; i++)
        dark += img.rgb[i] < 254;
    CHECK(dark == 0, "%s: %zu samples are not white", what, dark);
    printf("%-26s %8zu bytes: decoded, %.0f pixels per byte\n", what, file.size,
           (double)SIDE * SIDE / file.size);
    cap_image_free(&img);
}

static void check_refused(const char *what, const unsigned char *data, size_t size,
                          const char *message_part)
{
    cap_image img;
    cap_error err = {0};
    cap_status st = cap_image_load_memory(data, size, &img, &err);

    CHECK(st == CAP_ERR_FORMAT, "%s (%zu bytes): status %d, want CAP_ERR_FORMAT", what, size,
          st);
    CHECK(strstr(err.message, message_part) != NULL, "%s: message \"%s\" lacks \"%s\"", what,
          err.message, message_part);
    CHECK(img.rgb == NULL, "%s: pixels left allocated", what);
}

static void test_jpeg(const char *what, int gray, int progressive)
{
    buffer file = white_jpeg(gray, progressive, 0);

    check_white(what, file);
    /* A tenth of the data: the first scan alone needs more. */
    check_refused(what, file.data, file.size / 10, "bytes of scan data cannot hold 2048x2048");
    free(file.data);
}

int main(void)
{
    buffer png = white_png(), scans = white_jpeg(1, 1, 1);

    test_jpeg("white baseline RGB JPEG", 0, 0);
    test_jpeg("white baseline gray JPEG", 1, 0);
    test_jpeg("white progressive RGB JPEG", 0, 1);
    test_jpeg("white progressive gray JPEG", 1, 1);

    check_white("white RGB PNG", png);
    check_refused("white RGB PNG, IDAT cut", png.data, png.size / 2,
                  "bytes of image data cannot hold 2048x2048 pixels");
    free(png.data);

    check_refused("JPEG with 127 scans", scans.data, scans.size, "more than 100 scans");
    free(scans.data);

    return check_summary();
}
