/* image_exif.c - the EXIF orientation tag, and turning an image upright by it. */
#include "error.h"
#include "image_internal.h"

#include <stdlib.h>
#include <string.h>

#include <libexif/exif-data.h>

/* Phone cameras store the sensor's pixels and say in EXIF tag 0x0112 (IFD0) how to turn
 * them upright; Pillow's ImageOps.exif_transpose, which tools/prepare_data.py applies,
 * reads the first "Exif" APP1 segment. libexif parses only that segment's bytes (libjpeg
 * has already bounded them), never the whole file. Any problem means "no orientation":
 * a damaged tag must not cost the user the photo. */
int cap_exif_orientation(const unsigned char *app1, size_t size)
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
cap_status cap_image_orient(cap_image *img, int orientation, cap_error *err)
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
