/* fuzz_jpeg.c - libFuzzer target: arbitrary bytes behind a JPEG SOI through
 * cap_image_load_memory. Inputs not starting with FF D8 FF are given that prefix so the
 * fuzzer does not waste time on the magic-byte check, which fuzz_png covers anyway. */
#include "fuzz_image.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const uint8_t soi[3] = {0xff, 0xd8, 0xff};

    if (size >= 3 && memcmp(data, soi, 3) == 0)
        return fuzz_image(data, size);
    uint8_t *buf = malloc(size + 3);
    if (!buf)
        return 0;
    memcpy(buf, soi, 3);
    if (size)
        memcpy(buf + 3, data, size);
    fuzz_image(buf, size + 3);
    free(buf);
    return 0;
}
