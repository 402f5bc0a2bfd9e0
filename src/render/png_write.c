/* png_write.c - RGB8 to PNG with libpng (see png_write.h). */
#include "render/png_write.h"

#include <errno.h>
#include <png.h>
#include <stdio.h>
#include <string.h>

/* libpng reports errors through a callback that must not return; the message is kept
 * for the caller before longjmp-ing back to cap_write_png. */
typedef struct write_ctx {
    char *errbuf;
    size_t errsize;
} write_ctx;

static void on_error(png_structp png, png_const_charp msg)
{
    write_ctx *ctx = png_get_error_ptr(png);
    if (ctx->errsize > 0)
        snprintf(ctx->errbuf, ctx->errsize, "PNG writer: %s", msg);
    png_longjmp(png, 1);
}

static void on_warning(png_structp png, png_const_charp msg)
{
    (void)png;
    (void)msg;
}

int cap_write_png(const char *path, const unsigned char *rgb, int width, int height,
                  size_t stride, char *errbuf, size_t errsize)
{
    if (errsize > 0)
        errbuf[0] = '\0';
    if (!path || !rgb || width < 1 || height < 1 || stride < 3 * (size_t)width) {
        if (errsize > 0)
            snprintf(errbuf, errsize, "invalid image to write");
        return -1;
    }
    FILE *f = fopen(path, "wb");
    if (!f) {
        if (errsize > 0)
            snprintf(errbuf, errsize, "cannot create: %s", strerror(errno));
        return -1;
    }
    write_ctx ctx = {errbuf, errsize};
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &ctx, on_error, on_warning);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!png || !info) {
        png_destroy_write_struct(&png, NULL);
        fclose(f);
        remove(path);
        if (errsize > 0)
            snprintf(errbuf, errsize, "out of memory");
        return -1;
    }
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, &info);
        fclose(f);
        remove(path);
        return -1;
    }
    png_init_io(png, f);
    png_set_IHDR(png, info, (png_uint_32)width, (png_uint_32)height, 8, PNG_COLOR_TYPE_RGB,
                 PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    for (int y = 0; y < height; y++)
        png_write_row(png, rgb + (size_t)y * stride);
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    /* fclose flushes: a full disk shows up here, not in libpng. */
    if (fclose(f) != 0) {
        if (errsize > 0)
            snprintf(errbuf, errsize, "write failed: %s", strerror(errno));
        remove(path);
        return -1;
    }
    return 0;
}
