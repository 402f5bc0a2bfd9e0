/* image.c - cap_image: loading a file or a buffer, choosing the decoder by the file's first
 * bytes (image_jpeg.c, image_png.c), the size limits, freeing. Resizing is in resize.c.
 *
 * The training pipeline decodes and resizes with Pillow, so the decoders and the resampler
 * reproduce Pillow's arithmetic rather than merely "looking right": a systematic offset of
 * one grey level is enough to shift what the encoder sees. */
#include "common/signature.h"
#include "error.h"
#include "image_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

void cap_image_free(cap_image *img)
{
    if (!img)
        return;
    free(img->rgb);
    memset(img, 0, sizeof *img);
}

/* Called with the header's dimensions, before any pixel buffer exists, so that a crafted
 * header cannot make us allocate gigabytes. */
cap_status cap_image_check_size(unsigned long width, unsigned long height, cap_error *err)
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
void cap_lowercase_first(char *text)
{
    if (text[0] >= 'A' && text[0] <= 'Z' && !(text[1] >= 'A' && text[1] <= 'Z'))
        text[0] = (char)(text[0] - 'A' + 'a');
}

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
    case SIGNATURE_JPEG: return cap_decode_jpeg(bytes, size, out, err);
    case SIGNATURE_PNG: return cap_decode_png(bytes, size, out, err);
    case SIGNATURE_NONE: break;
    }
    return cap_fail(err, CAP_ERR_FORMAT, "not a JPEG or PNG file");
}

static cap_status io_fail(cap_error *err, int errnum)
{
    cap_status status = cap_fail(err, CAP_ERR_IO, "%s", strerror(errnum));

    if (err)
        cap_lowercase_first(err->message);
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
