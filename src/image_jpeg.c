/* image_jpeg.c - JPEG to RGB8 with libjpeg-turbo, as Pillow decodes it (ISLOW IDCT, fancy
 * upsampling, Pillow's CMYK/YCCK conversion), then upright by the EXIF orientation. */
#include "error.h"
#include "image_internal.h"

#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>
#include <jerror.h>

/* Everything a longjmp must not lose. It lives in decode_jpeg, which does not call setjmp
 * itself: locals changed after setjmp would be indeterminate after the jump. */
typedef struct jpeg_guard {
    struct jpeg_error_mgr mgr; /* first member: cinfo->err points at the whole guard */
    struct jpeg_progress_mgr progress;
    struct jpeg_decompress_struct cinfo;
    jmp_buf jump;
    cap_error error;   /* what the longjmp reports */
    JSAMPLE *cmyk_row; /* owned here so that a longjmp cannot leak it */
    int orientation;   /* EXIF orientation 1..8, 1 when absent or invalid */
} jpeg_guard;

static int jpeg_orientation(j_decompress_ptr cinfo)
{
    for (jpeg_saved_marker_ptr m = cinfo->marker_list; m; m = m->next)
        if (m->marker == JPEG_APP0 + 1 && m->data_length >= 6 &&
            memcmp(m->data, "Exif\0\0", 6) == 0)
            return cap_exif_orientation(m->data, m->data_length);
    return 1;
}

static _Noreturn void jpeg_fail(j_common_ptr cinfo, cap_status status, const char *what)
{
    jpeg_guard *guard = (jpeg_guard *)cinfo->err;
    char text[JMSG_LENGTH_MAX];

    cinfo->err->format_message(cinfo, text);
    cap_lowercase_first(text);
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
    if (cinfo->err->msg_code == JERR_NO_BACKING_STORE) {
        /* libjpeg's whole-image buffers would pass max_memory_to_use (jpeg_check_memory
         * refuses the known case first; this keeps any other one a size error, not
         * "invalid JPEG"). */
        j_decompress_ptr d = (j_decompress_ptr)cinfo;
        cap_fail(&guard->error, CAP_ERR_TOO_LARGE,
                 "image is %ux%u pixels: the JPEG decoder would need more than its limit of "
                 "%ld MB", d->image_width, d->image_height, cinfo->mem->max_memory_to_use >> 20);
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

/* Every block of a Huffman-coded scan costs at least one code of a bit or more: two in a
 * sequential scan (DC, then EOB or an AC code), one in a progressive DC scan. Data too
 * short for the first scan cannot decode, so it is refused before the pixels exist.
 * Arithmetic coding can spend far less than a bit per block, so it has no such bound. */
static cap_status jpeg_check_data_size(j_decompress_ptr cinfo, cap_error *err)
{
    unsigned long long blocks = 0, bits = (unsigned long long)cinfo->src->bytes_in_buffer * 8;
    int per_block = cinfo->progressive_mode ? (cinfo->Ss == 0) : 2;

    if (cinfo->arith_code)
        return CAP_OK;
    for (int i = 0; i < cinfo->comps_in_scan; i++)
        blocks += (unsigned long long)cinfo->cur_comp_info[i]->width_in_blocks *
                  cinfo->cur_comp_info[i]->height_in_blocks;
    if (bits < blocks * per_block)
        return cap_fail(err, CAP_ERR_FORMAT,
                        "truncated or corrupt JPEG data: %llu bytes of scan data cannot hold "
                        "%ux%u pixels", bits / 8, cinfo->image_width, cinfo->image_height);
    return CAP_OK;
}

/* libjpeg's own memory, beside our RGB pixels. A JPEG stored in several scans (every
 * progressive one, and a sequential one whose components come in separate scans) is decoded
 * through a buffer of all its DCT coefficients, 2 bytes each, so 2 bytes per sample: 3 bytes
 * a pixel in 4:2:0, 6 in 4:4:4, 8 in CMYK, while a single-scan JPEG needs only a few rows.
 * With arithmetic coding nothing ties that to the file's size (a 366-byte progressive 4:4:4
 * file of 10000x10000 grey pixels took 891 MB and over 13 s), so it is capped at what the
 * largest image allowed needs in 4:2:0, the sampling of nearly every photo: as much again as
 * its RGB pixels; 32 MB more cover block padding (a side rounded up to whole MCUs) and
 * libjpeg's small buffers. Multi-scan 4:4:4 images above about 55 megapixels and CMYK ones
 * above about 41 are refused; single-scan JPEGs keep the full CAP_IMAGE_MAX_PIXELS. */
#define JPEG_MAX_MEMORY (3L * CAP_IMAGE_MAX_PIXELS + (32L << 20))

/* Bytes of the whole-image coefficient buffer libjpeg would allocate in
 * jpeg_start_decompress: each component's blocks, its sides rounded up to its sampling
 * factors as libjpeg rounds them (jdcoefct.c); 0 for a single-scan JPEG, which has none. */
static unsigned long long jpeg_coefficient_bytes(j_decompress_ptr cinfo)
{
    unsigned long long bytes = 0;

    if (!jpeg_has_multiple_scans(cinfo))
        return 0;
    for (int i = 0; i < cinfo->num_components; i++) {
        const jpeg_component_info *c = &cinfo->comp_info[i];
        unsigned long long w = c->width_in_blocks, h = c->height_in_blocks;
        w = (w + (unsigned)c->h_samp_factor - 1) / (unsigned)c->h_samp_factor * c->h_samp_factor;
        h = (h + (unsigned)c->v_samp_factor - 1) / (unsigned)c->v_samp_factor * c->v_samp_factor;
        bytes += w * h * sizeof(JBLOCK);
    }
    return bytes;
}

/* Refuse before libjpeg allocates, with the sizes in the message; max_memory_to_use (set in
 * jpeg_guarded_read) is the backstop for anything this does not foresee. */
static cap_status jpeg_check_memory(j_decompress_ptr cinfo, cap_error *err)
{
    unsigned long long need = jpeg_coefficient_bytes(cinfo);

    if (need > (unsigned long long)JPEG_MAX_MEMORY)
        return cap_fail(err, CAP_ERR_TOO_LARGE,
                        "image is %ux%u pixels in %d components stored in several scans: the "
                        "JPEG decoder needs %llu MB for it, its limit is %ld MB",
                        cinfo->image_width, cinfo->image_height, cinfo->num_components,
                        need >> 20, JPEG_MAX_MEMORY >> 20);
    return CAP_OK;
}

/* Each scan of a progressive JPEG walks every block of its components, and an AC scan can
 * skip 32767 blocks in one code: a small file with thousands of scans would cost minutes.
 * Encoders write about 10 scans (libjpeg's default progression) and rarely more than 20. */
#define JPEG_MAX_SCANS 100

static void jpeg_on_progress(j_common_ptr cinfo)
{
    j_decompress_ptr d = (j_decompress_ptr)cinfo;
    jpeg_guard *guard = (jpeg_guard *)cinfo->err;

    if (d->input_scan_number > JPEG_MAX_SCANS) {
        cap_fail(&guard->error, CAP_ERR_FORMAT, "invalid JPEG: more than %d scans",
                 JPEG_MAX_SCANS);
        longjmp(guard->jump, 1);
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
    status = cap_image_check_size(cinfo->image_width, cinfo->image_height, err);
    if (status == CAP_OK)
        status = jpeg_check_data_size(cinfo, err);
    if (status == CAP_OK)
        status = jpeg_check_memory(cinfo, err);
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
    guard->cinfo.progress = &guard->progress; /* after create, which zeroes cinfo */
    /* After create, which sets it from $JPEGMEM (0: no limit); a smaller $JPEGMEM stays. A
     * whole-image buffer past it fails with JERR_NO_BACKING_STORE (jmemnobs.c has no
     * backing store), which jpeg_on_error reports as a size error. */
    if (guard->cinfo.mem->max_memory_to_use == 0 ||
        guard->cinfo.mem->max_memory_to_use > JPEG_MAX_MEMORY)
        guard->cinfo.mem->max_memory_to_use = JPEG_MAX_MEMORY;
    return jpeg_read_pixels(guard, data, size, out, err);
}

cap_status cap_decode_jpeg(const unsigned char *data, size_t size, cap_image *out,
                           cap_error *err)
{
    jpeg_guard guard;
    cap_status status;

    memset(&guard, 0, sizeof guard);
    guard.cinfo.err = jpeg_std_error(&guard.mgr);
    /* The defaults would print to stderr and exit() the whole process. */
    guard.mgr.error_exit = jpeg_on_error;
    guard.mgr.emit_message = jpeg_on_message;
    guard.progress.progress_monitor = jpeg_on_progress;

    status = jpeg_guarded_read(&guard, data, size, out, err);
    jpeg_destroy_decompress(&guard.cinfo);
    free(guard.cmyk_row);
    if (status == CAP_OK)
        status = cap_image_orient(out, guard.orientation, err);
    if (status != CAP_OK)
        cap_image_free(out);
    return status;
}
