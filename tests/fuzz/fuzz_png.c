/* fuzz_png.c - libFuzzer target: arbitrary bytes through cap_image_load_memory as a PNG.
 * The signature is prepended when missing, and every complete chunk gets its CRC
 * recomputed: otherwise nearly every mutation dies at libpng's CRC check and the fuzzer
 * never reaches IHDR validation, the transforms or our compositing. (The real loader keeps
 * checking CRCs; tests/fixtures/images/bad_format_crc.png covers that path.) */
#include "fuzz_image.h"

#include <zlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint32_t rd_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void fix_crcs(uint8_t *buf, size_t size)
{
    size_t pos = 8;

    while (size - pos >= 12) {
        uint32_t len = rd_be32(buf + pos);
        if (len > size - pos - 12)
            break;
        uint32_t crc = (uint32_t)crc32(0L, buf + pos + 4, len + 4);
        uint8_t *c = buf + pos + 8 + len;
        c[0] = (uint8_t)(crc >> 24);
        c[1] = (uint8_t)(crc >> 16);
        c[2] = (uint8_t)(crc >> 8);
        c[3] = (uint8_t)crc;
        pos += 12 + (size_t)len;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const uint8_t sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    size_t skip = size >= 8 && memcmp(data, sig, 8) == 0 ? 8 : 0;
    uint8_t *buf = malloc(size - skip + 8);

    if (!buf)
        return 0;
    memcpy(buf, sig, 8);
    if (size > skip)
        memcpy(buf + 8, data + skip, size - skip);
    fix_crcs(buf, size - skip + 8);
    fuzz_image(buf, size - skip + 8);
    free(buf);
    return 0;
}
