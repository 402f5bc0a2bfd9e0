/* test_image.c - decoders and resizer against fixtures from tests/fixtures/make_image_fixtures.py.
 *
 * usage: test_image FIXTURES_DIR ASSETS_DIR
 * The expected pixels were computed in Python (Pillow's JPEG decode and resize, the
 * documented PNG rules), so a pass means "same bytes the training pipeline saw". */
#include "caption.h"
#include "check.h"
#include "common/hash.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *fixtures_dir, *assets_dir;

static const char *path_in(const char *dir, const char *name)
{
    static char buf[4][4096];
    static int next;
    char *p = buf[next++ % 4];

    snprintf(p, sizeof buf[0], "%s/%s", dir, name);
    return p;
}

/* The whole file, or NULL (with a failed check) if it cannot be read. */
static unsigned char *read_all(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    unsigned char *data = NULL;
    long len;

    *size = 0;
    if (!f || fseek(f, 0, SEEK_END) != 0 || (len = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0 ||
        !(data = malloc((size_t)len + 1)) || fread(data, 1, (size_t)len, f) != (size_t)len) {
        CHECK(0, "cannot read %s", path);
        free(data);
        data = NULL;
    } else {
        *size = (size_t)len;
    }
    if (f)
        fclose(f);
    return data;
}

/* Compares img with the raw RGB file `expected_name`; returns the largest channel difference
 * (or 256 if the sizes disagree) and fails the check if it exceeds `tolerance`. */
static int compare_rgb(const char *what, const cap_image *img, const char *expected_name,
                       int tolerance)
{
    size_t size, n = (size_t)img->width * img->height * 3, first_bad = SIZE_MAX;
    unsigned char *expected = read_all(path_in(fixtures_dir, expected_name), &size);
    int max_diff = 0;

    if (!expected)
        return 256;
    CHECK(size == n, "%s: %s has %zu bytes, the image %zu", what, expected_name, size, n);
    for (size_t i = 0; size == n && i < n; i++) {
        int d = abs((int)img->rgb[i] - (int)expected[i]);
        if (d > tolerance && first_bad == SIZE_MAX)
            first_bad = i;
        max_diff = d > max_diff ? d : max_diff;
    }
    if (first_bad != SIZE_MAX)
        CHECK(0, "%s: max diff %d > %d; first at x=%zu y=%zu channel %zu: got %d, want %d", what,
              max_diff, tolerance, first_bad / 3 % img->width, first_bad / 3 / img->width,
              first_bad % 3, img->rgb[first_bad], expected[first_bad]);
    else
        CHECK(size == n, "%s: size mismatch", what);
    free(expected);
    return size == n ? max_diff : 256;
}

/* A failed load must leave a one-line message and a zeroed image. */
static void check_failure(const char *what, cap_status got, cap_status want,
                          const cap_error *err, const cap_image *img)
{
    CHECK(got == want, "%s: status %d (%s: %s), want %d", what, got, cap_status_string(got),
          err->message, want);
    CHECK(err->status == got, "%s: err->status %d != returned %d", what, err->status, got);
    CHECK(err->message[0] != '\0', "%s: empty message", what);
    CHECK(!strchr(err->message, '\n'), "%s: message has a newline: %s", what, err->message);
    CHECK(img->width == 0 && img->height == 0 && img->rgb == NULL, "%s: *out not zeroed", what);
}

/* ---------------------------------------------------------------- decoders -- */

static void check_same_image(const char *what, const cap_image *a, const cap_image *b)
{
    CHECK(a->width == b->width && a->height == b->height &&
              memcmp(a->rgb, b->rgb, (size_t)a->width * a->height * 3) == 0,
          "%s: load_memory and load_file disagree", what);
}

static void test_fixture(const char *name, int width, int height)
{
    char expected[256];
    cap_image img, mem;
    cap_error err = {0};
    size_t size;
    unsigned char *data;
    cap_status st = cap_image_load_file(path_in(fixtures_dir, name), &img, &err);

    CHECK(st == CAP_OK, "%s: status %d: %s", name, st, err.message);
    if (st != CAP_OK)
        return;
    CHECK(img.width == width && img.height == height, "%s: %dx%d, want %dx%d", name,
          img.width, img.height, width, height);
    snprintf(expected, sizeof expected, "%.*s.rgb", (int)(strrchr(name, '.') - name), name);
    if (img.width == width && img.height == height)
        compare_rgb(name, &img, expected, 0);

    data = read_all(path_in(fixtures_dir, name), &size);
    if (data) {
        st = cap_image_load_memory(data, size, &mem, &err);
        CHECK(st == CAP_OK, "%s (memory): status %d: %s", name, st, err.message);
        if (st == CAP_OK)
            check_same_image(name, &img, &mem);
        cap_image_free(&mem);
        free(data);
    }
    cap_image_free(&img);
}

static void test_decoders(void)
{
    char line[512], name[256];
    int width, height, count = 0;
    FILE *f = fopen(path_in(fixtures_dir, "fixtures.txt"), "r");

    CHECK(f != NULL, "cannot open fixtures.txt");
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "%255s %d %d", name, &width, &height) == 3 && ++count)
            test_fixture(name, width, height);
    CHECK(count >= 20, "fixtures.txt lists %d fixtures", count);
    if (f)
        fclose(f);
}

/* The real photos: too big to store decoded, so compare a hash of Pillow's pixels. */
static void test_assets(void)
{
    char line[512], name[256];
    int width, height, count = 0;
    unsigned long long want;
    FILE *f = fopen(path_in(fixtures_dir, "asset_hashes.txt"), "r");

    CHECK(f != NULL, "cannot open asset_hashes.txt");
    while (f && fgets(line, sizeof line, f)) {
        cap_image img;
        cap_error err = {0};
        if (sscanf(line, "%255s %d %d %llx", name, &width, &height, &want) != 4)
            continue;
        count++;
        CHECK(cap_image_load_file(path_in(assets_dir, name), &img, &err) == CAP_OK, "%s: %s",
              name, err.message);
        CHECK(img.width == width && img.height == height, "%s: %dx%d, want %dx%d", name,
              img.width, img.height, width, height);
        if (img.rgb && img.width == width && img.height == height)
            CHECK(hash_fnv1a64(img.rgb, (size_t)width * height * 3) == want,
                  "%s: decoded pixels differ from Pillow's (hash)", name);
        cap_image_free(&img);
    }
    CHECK(count >= 2, "asset_hashes.txt lists %d assets", count);
    if (f)
        fclose(f);
}

/* A phone-style photo: assets/pets.jpg stored rotated 90 degrees counter-clockwise and
 * tagged EXIF orientation 6. It must come out upright, i.e. equal to the original within
 * the re-encoding's noise (measured in Python: mean 1.3, max 14 grey levels). Decoded as
 * stored it would be 430x512; rotated the wrong way its mean difference is about 50. */
static void test_exif_phone_photo(void)
{
    cap_image phone, upright;
    cap_error err = {0};
    double sum = 0;
    int worst = 0;

    CHECK(cap_image_load_file(path_in(fixtures_dir, "phone_pets_o6.jpg"), &phone, &err) ==
              CAP_OK, "phone_pets_o6.jpg: %s", err.message);
    CHECK(cap_image_load_file(path_in(assets_dir, "pets.jpg"), &upright, &err) == CAP_OK,
          "pets.jpg: %s", err.message);
    CHECK(phone.width == 512 && phone.height == 430, "phone_pets_o6.jpg is %dx%d, want 512x430",
          phone.width, phone.height);
    if (phone.rgb && upright.rgb && phone.width == upright.width &&
        phone.height == upright.height) {
        size_t n = (size_t)phone.width * phone.height * 3;
        for (size_t i = 0; i < n; i++) {
            int d = abs((int)phone.rgb[i] - (int)upright.rgb[i]);
            sum += d;
            worst = d > worst ? d : worst;
        }
        printf("%-32s mean abs diff vs upright %.3f, max %d\n", "phone_pets_o6.jpg", sum / n,
               worst);
        CHECK(sum / n <= 2.0 && worst <= 24,
              "phone_pets_o6.jpg: mean abs diff %.3f (limit 2), max %d (limit 24)", sum / n,
              worst);
    }
    cap_image_free(&phone);
    cap_image_free(&upright);
}

/* ------------------------------------------------------------------ resize -- */

static void test_resize_case(const char *what, const cap_image *src, int w, int h,
                             const char *expected)
{
    cap_image out;
    cap_error err = {0};
    cap_status st = cap_image_resize(src, w, h, &out, &err);
    int diff;

    CHECK(st == CAP_OK, "%s: resize status %d: %s", what, st, err.message);
    if (st != CAP_OK)
        return;
    CHECK(out.width == w && out.height == h, "%s: got %dx%d", what, out.width, out.height);
    diff = compare_rgb(what, &out, expected, 1);
    printf("resize %-24s max abs diff vs Pillow: %d\n", what, diff);
    if (w == src->width && h == src->height)
        CHECK(out.rgb != src->rgb && memcmp(out.rgb, src->rgb, (size_t)w * h * 3) == 0,
              "%s: same-size resize is not an exact copy", what);
    cap_image_free(&out);
}

static void test_resize(void)
{
    static const int sizes[][2] = {{40, 30}, {5, 20}, {6, 9}, {13, 4}, {1, 1}, {13, 9}};
    static const char *assets[] = {"pets", "bird"};
    static const char *ext[] = {"jpg", "png"};
    char name[64], expected[64];
    cap_image src;
    cap_error err = {0};

    for (int i = 0; i < 2; i++) {
        snprintf(name, sizeof name, "%s.%s", assets[i], ext[i]);
        snprintf(expected, sizeof expected, "resize_%s_224x224.rgb", assets[i]);
        CHECK(cap_image_load_file(path_in(assets_dir, name), &src, &err) == CAP_OK, "%s: %s",
              name, err.message);
        if (src.rgb)
            test_resize_case(name, &src, 224, 224, expected);
        cap_image_free(&src);
    }
    CHECK(cap_image_load_file(path_in(fixtures_dir, "resize_src.png"), &src, &err) == CAP_OK,
          "resize_src.png: %s", err.message);
    for (size_t i = 0; src.rgb && i < sizeof sizes / sizeof sizes[0]; i++) {
        snprintf(name, sizeof name, "13x9 -> %dx%d", sizes[i][0], sizes[i][1]);
        snprintf(expected, sizeof expected, "resize_src_%dx%d.rgb", sizes[i][0], sizes[i][1]);
        test_resize_case(name, &src, sizes[i][0], sizes[i][1], expected);
    }
    cap_image_free(&src);
}

/* ------------------------------------------------------------------ errors -- */

/* Prefilled so that a function that forgets to zero *out is caught. */
static cap_image garbage_image(void)
{
    static unsigned char pixel[3];
    return (cap_image){7, 7, pixel};
}

static void test_bad_file(const char *name, cap_status want, const char *message_part)
{
    cap_image img = garbage_image(), mem = garbage_image();
    cap_error err = {0}, mem_err = {0};
    cap_status st = cap_image_load_file(path_in(fixtures_dir, name), &img, &err);
    size_t size;
    unsigned char *data;

    check_failure(name, st, want, &err, &img);
    if (message_part)
        CHECK(strstr(err.message, message_part), "%s: message \"%s\" lacks \"%s\"", name,
              err.message, message_part);
    if (want == CAP_ERR_IO || !(data = read_all(path_in(fixtures_dir, name), &size)))
        return;
    st = cap_image_load_memory(data, size, &mem, &mem_err);
    check_failure(name, st, want, &mem_err, &mem);
    CHECK(strcmp(err.message, mem_err.message) == 0, "%s: file and memory messages differ",
          name);
    free(data);
}

static void test_bad_inputs(void)
{
    test_bad_file("bad_format_empty.jpg", CAP_ERR_FORMAT, "empty file");
    test_bad_file("notes.jpg", CAP_ERR_FORMAT, "not a JPEG or PNG file");
    test_bad_file("bad_format_short.jpg", CAP_ERR_FORMAT, "not a JPEG or PNG file");
    test_bad_file("bad_format_truncated.jpg", CAP_ERR_FORMAT, "truncated or corrupt JPEG data");
    test_bad_file("bad_format_truncated_progressive.jpg", CAP_ERR_FORMAT, "truncated");
    test_bad_file("bad_format_no_scan.jpg", CAP_ERR_FORMAT, NULL);
    test_bad_file("bad_format_precision.jpg", CAP_ERR_FORMAT, "invalid JPEG: unsupported");
    test_bad_file("bad_format_truncated.png", CAP_ERR_FORMAT, "truncated");
    test_bad_file("bad_format_signature_only.png", CAP_ERR_FORMAT, NULL);
    test_bad_file("bad_format_crc.png", CAP_ERR_FORMAT, "CRC");
    test_bad_file("bad_format_deflate.png", CAP_ERR_FORMAT, "truncated or corrupt PNG data");
    test_bad_file("bad_too_large.jpg", CAP_ERR_TOO_LARGE, "20000x20000");
    test_bad_file("bad_too_large_side.jpg", CAP_ERR_TOO_LARGE, "65535x65535");
    test_bad_file("bad_too_large.png", CAP_ERR_TOO_LARGE, "70000x70000");
    test_bad_file("no_such_file.jpg", CAP_ERR_IO, "no such file");
    test_bad_file(".", CAP_ERR_IO, "is a directory");
}

static void test_arguments(void)
{
    cap_image img = garbage_image(), src = garbage_image();
    cap_error err = {0};
    static const unsigned char png_magic[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};

    check_failure("load_file(NULL)", cap_image_load_file(NULL, &img, &err), CAP_ERR_ARG, &err,
                  &img);
    CHECK(cap_image_load_file("x.jpg", NULL, &err) == CAP_ERR_ARG, "load_file(out NULL)");
    img = garbage_image();
    check_failure("load_memory(NULL, 5)", cap_image_load_memory(NULL, 5, &img, &err),
                  CAP_ERR_ARG, &err, &img);
    img = garbage_image();
    check_failure("load_memory(size 0)", cap_image_load_memory(png_magic, 0, &img, &err),
                  CAP_ERR_FORMAT, &err, &img);
    /* err may be NULL on every path. */
    CHECK(cap_image_load_memory(png_magic, sizeof png_magic, &img, NULL) == CAP_ERR_FORMAT,
          "truncated PNG with err NULL");

    img = garbage_image();
    check_failure("resize(NULL)", cap_image_resize(NULL, 4, 4, &img, &err), CAP_ERR_ARG, &err,
                  &img);
    img = garbage_image();
    check_failure("resize(0x4)", cap_image_resize(&src, 0, 4, &img, &err), CAP_ERR_ARG, &err,
                  &img);
    img = garbage_image();
    check_failure("resize(4x-1)", cap_image_resize(&src, 4, -1, &img, &err), CAP_ERR_ARG, &err,
                  &img);
    src = (cap_image){0};
    img = garbage_image();
    check_failure("resize(empty)", cap_image_resize(&src, 4, 4, &img, &err), CAP_ERR_ARG, &err,
                  &img);

    cap_image_free(NULL);
    img = (cap_image){0};
    cap_image_free(&img);
    CHECK(img.rgb == NULL && img.width == 0, "cap_image_free of a zeroed image");
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: %s FIXTURES_DIR ASSETS_DIR\n", argv[0]);
        return 2;
    }
    fixtures_dir = argv[1];
    assets_dir = argv[2];

    test_decoders();
    test_assets();
    test_exif_phone_photo();
    test_resize();
    test_bad_inputs();
    test_arguments();

    return check_summary();
}
