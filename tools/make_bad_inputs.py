#!/usr/bin/python3
"""Write the bad-input corpus of tests/test_bad_inputs.py into OUTDIR.

    /usr/bin/python3 tools/make_bad_inputs.py OUTDIR [MODEL]

Standard library only (the test generates the corpus at test time, and CI installs no
Pillow): every case is cut, patched or built byte by byte from assets/, from the committed
fixtures of tools/make_image_fixtures.py (progressive, CMYK, 16-bit, interlaced,
EXIF-rotated) and, for the damaged models, from the first 64 KB of MODEL. Nothing large is
written: the decompression bombs are small files that only claim to be big.
Which message and exit status each file must give is listed in tests/test_bad_inputs.py.
"""

import os
import shutil
import struct
import sys
import zlib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ASSETS = os.path.join(ROOT, "assets")
FIXTURES = os.path.join(ROOT, "tests", "fixtures", "images")
DEFAULT_MODEL = os.path.join(ROOT, "models", "caption-flickr8k.bin")


def read(path):
    with open(path, "rb") as f:
        return f.read()


def chunk(tag, data):
    return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))


def png_bomb(width, height):
    """A valid 1-bit grayscale PNG of width x height zeros. 20000 x 20000 is 400 megapixels
    (1.2 GB as RGB8) in about 50 KB: the loader must refuse it from IHDR alone."""
    row = b"\0" * (1 + (width + 7) // 8)  # filter byte 0, then the packed bits
    z = zlib.compressobj(9)
    idat = b"".join(z.compress(row) for _ in range(height)) + z.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) +
            chunk(b"IEND", b""))


def jpeg_claiming(data, width, height):
    """The JPEG `data` with its SOF0/SOF2 frame size patched: a bomb by header."""
    for marker in (b"\xff\xc0", b"\xff\xc2"):
        sof = data.find(marker)
        if sof >= 0:
            return data[:sof + 5] + struct.pack(">HH", height, width) + data[sof + 9:]
    raise ValueError("no SOF0/SOF2 marker")


def make(out, model=DEFAULT_MODEL):
    os.makedirs(out, exist_ok=True)

    def write(name, data):
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)

    pets, bird = read(os.path.join(ASSETS, "pets.jpg")), read(os.path.join(ASSETS, "bird.png"))

    # Truncated downloads: in the entropy-coded data, inside the headers, in the PNG IDATs.
    write("truncated_half.jpg", pets[:len(pets) // 2])
    write("truncated_header.jpg", pets[:200])
    write("truncated_half.png", bird[:len(bird) // 2])
    write("truncated_header.png", bird[:30])  # the signature and part of IHDR
    progressive = read(os.path.join(FIXTURES, "jpeg_progressive.jpg"))
    write("truncated_progressive.jpg", progressive[:len(progressive) * 2 // 3])

    # Wrong extensions: content decides, so a PNG named .jpg (and a JPEG named .png)
    # must be captioned; text named .jpg must not.
    write("png_named.jpg", bird)
    write("jpeg_named.png", pets)
    write("text_named.jpg", b"<html><body>404 Not Found</body></html>\n")
    write("empty.jpg", b"")
    write("nul_bytes.png", b"\0" * 4096)

    # A folder named like a photo is walked (README, "Walking"); the text file inside it is
    # reported. An empty folder gives no output at all.
    os.makedirs(os.path.join(out, "folder.jpg"), exist_ok=True)
    with open(os.path.join(out, "folder.jpg", "notes.jpg"), "wb") as f:
        f.write(b"not a photo\n")
    os.makedirs(os.path.join(out, "empty_folder"), exist_ok=True)

    # Permission denied (root can read anything; the test skips this case as root).
    write("unreadable.jpg", pets)
    os.chmod(os.path.join(out, "unreadable.jpg"), 0)

    # Decompression bombs: sizes from the header alone, refused before allocation.
    write("bomb_20000x20000.png", png_bomb(20000, 20000))
    write("bomb_20000x20000.jpg", jpeg_claiming(read(os.path.join(FIXTURES, "jpeg_rgb.jpg")),
                                                20000, 20000))
    write("bomb_progressive_12000x9000.jpg", jpeg_claiming(progressive, 12000, 9000))
    # 210 bytes whose pCAL chunk declares 1.6 GB: refused at the cost of its real bytes.
    shutil.copyfile(os.path.join(ROOT, "tests", "fuzz", "corpus", "png",
                                 "chunk_length_1633771873.png"),
                    os.path.join(out, "chunk_length_1633771873.png"))

    # Unusual but valid encodings: all must be captioned.
    for name in ("jpeg_progressive.jpg", "jpeg_cmyk.jpg", "jpeg_ycck.jpg", "jpeg_gray.jpg",
                 "png_rgb16.png", "png_gray16.png", "png_interlaced.png",
                 "png_interlaced_rgba.png", "png_palette_trns.png", "png_gray_alpha.png",
                 "phone_pets_o6.jpg"):
        shutil.copyfile(os.path.join(FIXTURES, name), os.path.join(out, name))

    # Damaged model files, all small: every check before the size check needs only the
    # header, and the size check rejects a 64 KB prefix of the real file.
    head = read(model)[:65536]
    write("model_truncated.bin", head)
    write("model_header_only.bin", head[:100])
    write("model_empty.bin", b"")
    write("model_foreign.bin", pets)
    write("model_version2.bin", head[:8] + struct.pack("<I", 2) + head[12:])
    table = bytearray(head)
    table[92:100] = struct.pack("<Q", len(table))  # the size now matches: next checks run
    write("model_size_patched.bin", bytes(table))
    table[68:76] = struct.pack("<Q", 1 << 62)  # the tensor table far outside the file
    write("model_table_outside.bin", bytes(table))


def main():
    if len(sys.argv) not in (2, 3):
        sys.exit("usage: make_bad_inputs.py OUTDIR [MODEL]")
    make(sys.argv[1], *sys.argv[2:])


if __name__ == "__main__":
    main()
