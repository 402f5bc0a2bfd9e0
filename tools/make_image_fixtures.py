#!/usr/bin/python3
"""Regenerate tests/fixtures/images/, the fixtures of tests/test_image.c.

Run from anywhere with Debian's interpreter (it has numpy and Pillow 9.4):

    /usr/bin/python3 tools/make_image_fixtures.py

Every decodable fixture NAME.{jpg,png} gets NAME.rgb, the pixels cap_image_load_file must
return (height * width * 3 bytes, row-major RGB), and fixtures.txt lists "NAME WIDTH HEIGHT".
The expected pixels come from the documented rules, not from libpng/libjpeg directly:
  - JPEG: Pillow's decode, Image.open(p).convert("RGB") (what the training pipeline sees);
  - PNG:  the source arrays written here, with v8 = round(v16 * 255 / 65535) for 16 bits,
          low-bit gray replicated to 8 bits, and alpha composited over white as
          (a*c + (255-a)*255 + 127) // 255.
PNGs are encoded by hand (not by Pillow) so that 16-bit RGB, gray+alpha, tRNS, every row
filter and Adam7 interlacing are all covered. All output is deterministic (fixed seed,
fixed zlib level), so rerunning gives identical bytes.
"""

import os
import struct
import sys
import zlib

import numpy as np
from PIL import Image

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "tests", "fixtures", "images")
ASSETS = os.path.join(ROOT, "assets")

W, H = 13, 9  # odd sizes exercise partial JPEG MCUs and Adam7 passes that are cut short
rng = np.random.default_rng(20240611)
listing = []  # (name, width, height) of every fixture with an expected .rgb


def write(name, data):
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(data)


def expect(name, rgb):
    """Record the expected RGB pixels of fixture `name` (an H x W x 3 uint8 array)."""
    rgb = np.ascontiguousarray(rgb, dtype=np.uint8)
    assert rgb.ndim == 3 and rgb.shape[2] == 3
    base = os.path.splitext(name)[0]
    write(base + ".rgb", rgb.tobytes())
    listing.append((name, rgb.shape[1], rgb.shape[0]))


# ---------------------------------------------------------------- source arrays --

def source_rgb(w=W, h=H):
    """Gradients plus noise, with pure black and white pixels among them."""
    y, x = np.mgrid[0:h, 0:w]
    img = np.stack([x * 255 // max(w - 1, 1), y * 255 // max(h - 1, 1),
                    (x * 37 + y * 91) % 256], axis=-1)
    img = (img + rng.integers(-40, 41, img.shape)).clip(0, 255)
    img[0, 0] = 0
    img[-1, -1] = 255
    return img.astype(np.uint8)


def source_alpha(w=W, h=H):
    a = rng.integers(0, 256, (h, w))
    a[0, :3] = [0, 255, 128]  # fully transparent, opaque, and half
    return a.astype(np.uint8)


def source_16(shape):
    v = rng.integers(0, 65536, shape)
    flat = v.reshape(-1)
    # 0, the maximum, and values either side of the rounding boundaries 257k + 128.5
    flat[:6] = [0, 65535, 257 * 10 + 128, 257 * 10 + 129, 257 * 200 + 128, 257 * 200 + 129]
    return v.astype(np.uint16)


def to8(v16):
    return (v16.astype(np.int64) * 255 * 2 + 65535) // (2 * 65535)


def over_white(rgb, a):
    rgb = rgb.astype(np.int64)
    a = a.astype(np.int64)[..., None]
    return (a * rgb + (255 - a) * 255 + 127) // 255


def gray3(g):
    return np.repeat(g[..., None], 3, axis=-1)


# ---------------------------------------------------------------- PNG encoder --

ADAM7 = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2),
         (0, 1, 1, 2)]


def chunk(tag, data):
    return (struct.pack(">I", len(data)) + tag + data +
            struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF))


def pack_row(row, depth):
    """Row of samples (1-D) to bytes at the given bit depth, most significant bits first."""
    if depth == 16:
        return row.astype(">u2").tobytes()
    if depth == 8:
        return row.astype(np.uint8).tobytes()
    per_byte = 8 // depth
    padded = np.zeros(-(-len(row) // per_byte) * per_byte, dtype=np.int64)
    padded[:len(row)] = row
    groups = padded.reshape(-1, per_byte)
    shifts = np.arange(per_byte - 1, -1, -1) * depth
    return (groups << shifts).sum(axis=1).astype(np.uint8).tobytes()


def paeth(a, b, c):
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    return a if pa <= pb and pa <= pc else b if pb <= pc else c


def filter_row(ftype, raw, prev, bpp):
    out = bytearray([ftype])
    for i, v in enumerate(raw):
        a = raw[i - bpp] if i >= bpp else 0
        b = prev[i]
        c = prev[i - bpp] if i >= bpp else 0
        pred = [0, a, b, (a + b) // 2, paeth(a, b, c)][ftype]
        out.append((v - pred) & 0xFF)
    return bytes(out)


def scanlines(samples, depth, bpp):
    """Filtered scanlines of one (sub)image; the filter type cycles through all five."""
    data, prev = b"", None
    for y in range(samples.shape[0]):
        raw = pack_row(samples[y].reshape(-1), depth)
        prev = prev or bytes(len(raw))
        data += filter_row(y % 5, raw, prev, bpp)
        prev = raw
    return data


def encode_png(samples, color_type, depth, interlace=False, palette=None, trns=None,
               extra=b""):
    """samples: H x W x channels (or H x W) array of sample values."""
    if samples.ndim == 2:
        samples = samples[..., None]
    h, w, channels = samples.shape
    bpp = max(1, channels * depth // 8)
    if interlace:
        idat = b"".join(scanlines(samples[ys::yst, xs::xst], depth, bpp)
                        for xs, ys, xst, yst in ADAM7
                        if samples[ys::yst, xs::xst].size)
    else:
        idat = scanlines(samples, depth, bpp)
    png = b"\x89PNG\r\n\x1a\n"
    png += chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, depth, color_type, 0, 0, int(interlace)))
    png += extra
    if palette is not None:
        png += chunk(b"PLTE", palette.astype(np.uint8).tobytes())
    if trns is not None:
        png += chunk(b"tRNS", trns)
    png += chunk(b"IDAT", zlib.compress(idat, 9))
    return png + chunk(b"IEND", b"")


def png_fixture(name, expected, *args, **kwargs):
    write(name, encode_png(*args, **kwargs))
    expect(name, expected)


def make_pngs():
    rgb, alpha = source_rgb(), source_alpha()
    gray = rgb[..., 1]
    png_fixture("png_rgb.png", rgb, rgb, 2, 8)
    png_fixture("png_gray.png", gray3(gray), gray, 0, 8)
    g4 = rng.integers(0, 16, (H, W))
    png_fixture("png_gray4.png", gray3(g4 * 17), g4, 0, 4)
    g1 = rng.integers(0, 2, (H, W))
    png_fixture("png_gray1.png", gray3(g1 * 255), g1, 0, 1)

    palette = rng.integers(0, 256, (40, 3))
    index = rng.integers(0, 40, (H, W))
    index[0, :3] = [0, 1, 2]
    # Fewer tRNS entries than palette entries: the rest are opaque.
    trns = np.array([0, 255, 128] + list(rng.integers(0, 256, 17)), dtype=np.uint8)
    full_alpha = np.concatenate([trns, np.full(40 - len(trns), 255, np.uint8)])
    png_fixture("png_palette_trns.png", over_white(palette[index], full_alpha[index]),
                index, 3, 8, palette=palette, trns=trns.tobytes())
    index4 = rng.integers(0, 16, (H, W))
    png_fixture("png_palette4.png", palette[index4], index4, 3, 4, palette=palette[:16])

    png_fixture("png_rgba.png", over_white(rgb, alpha), np.dstack([rgb, alpha]), 6, 8)
    png_fixture("png_gray_alpha.png", gray3(over_white(gray[..., None], alpha)[..., 0]),
                np.dstack([gray, alpha]), 4, 8)

    key = rgb[2, 5].astype(int)
    keyed = np.where((rgb == key).all(axis=-1)[..., None], 255, rgb)
    png_fixture("png_rgb_trns.png", keyed, rgb, 2, 8, trns=struct.pack(">HHH", *key))

    rgb16 = source_16((H, W, 3))
    png_fixture("png_rgb16.png", to8(rgb16), rgb16, 2, 16)
    gray16 = source_16((H, W))
    png_fixture("png_gray16.png", gray3(to8(gray16)), gray16, 0, 16)
    rgba16 = source_16((H, W, 4))
    png_fixture("png_rgba16.png", over_white(to8(rgba16[..., :3]), to8(rgba16[..., 3])),
                rgba16, 6, 16)

    png_fixture("png_interlaced.png", rgb, rgb, 2, 8, interlace=True)
    png_fixture("png_interlaced_rgba.png", over_white(rgb, alpha), np.dstack([rgb, alpha]),
                6, 8, interlace=True)
    # gAMA 0.5 and sRGB chunks: the decoder must hand back the stored values untouched.
    colour = (chunk(b"gAMA", struct.pack(">I", 50000)) + chunk(b"sRGB", b"\x00"))
    png_fixture("png_gamma.png", rgb, rgb, 2, 8, extra=colour)


# ---------------------------------------------------------------- JPEG --

def jpeg_bytes(img, **options):
    from io import BytesIO
    buf = BytesIO()
    img.save(buf, "JPEG", **options)
    return buf.getvalue()


def jpeg_fixture(name, img, **options):
    write(name, jpeg_bytes(img, **options))
    expect(name, np.asarray(Image.open(os.path.join(OUT, name)).convert("RGB")))


def make_jpegs():
    rgb = Image.fromarray(source_rgb())
    jpeg_fixture("jpeg_rgb.jpg", rgb, quality=90)  # 4:2:0, exercises fancy upsampling
    jpeg_fixture("jpeg_rgb444.jpg", rgb, quality=90, subsampling=0)
    jpeg_fixture("jpeg_gray.jpg", rgb.convert("L"), quality=90)
    jpeg_fixture("jpeg_progressive.jpg", rgb, quality=90, progressive=True)
    jpeg_fixture("jpeg_restart.jpg", Image.fromarray(source_rgb(40, 24)), quality=85,
                 restart_marker_blocks=1)
    cmyk = Image.fromarray(np.dstack([source_rgb(), source_alpha()]), "CMYK")
    jpeg_fixture("jpeg_cmyk.jpg", cmyk, quality=90)


# ---------------------------------------------------------------- YCCK --

# Pillow writes CMYK JPEGs untransformed (Adobe transform 0) and cannot write YCCK
# (transform 2), which Photoshop does. libjpeg can: this helper, compiled at generation
# time with the build's own compiler and libjpeg, encodes raw CMYK from stdin as YCCK.
YCCK_WRITER = r"""
#include <stdio.h>
#include <stdlib.h>
#include <jpeglib.h>
int main(int argc, char **argv)
{
    int w = atoi(argv[1]), h = atoi(argv[2]);
    unsigned char *px = malloc((size_t)w * h * 4);
    struct jpeg_compress_struct c;
    struct jpeg_error_mgr e;
    if (!px || fread(px, 4, (size_t)w * h, stdin) != (size_t)w * h)
        return 1;
    c.err = jpeg_std_error(&e);
    jpeg_create_compress(&c);
    jpeg_stdio_dest(&c, stdout);
    c.image_width = w;
    c.image_height = h;
    c.input_components = 4;
    c.in_color_space = JCS_CMYK;
    jpeg_set_defaults(&c);
    jpeg_set_colorspace(&c, JCS_YCCK);
    jpeg_set_quality(&c, 90, TRUE);
    jpeg_start_compress(&c, TRUE);
    for (int y = 0; y < h; y++) {
        JSAMPROW row = px + (size_t)y * w * 4;
        jpeg_write_scanlines(&c, &row, 1);
    }
    jpeg_finish_compress(&c);
    return 0;
}
"""


def ycck_jpeg(cmyk):
    """YCCK JPEG bytes of an H x W x 4 uint8 array (Adobe convention: stored inverted)."""
    import subprocess
    import tempfile
    with tempfile.TemporaryDirectory() as tmp:
        src, exe = os.path.join(tmp, "ycck.c"), os.path.join(tmp, "ycck")
        with open(src, "w") as f:
            f.write(YCCK_WRITER)
        subprocess.run(["cc", "-O1", "-o", exe, src, "-ljpeg"], check=True)
        h, w = cmyk.shape[:2]
        return subprocess.run([exe, str(w), str(h)], input=cmyk.tobytes(),
                              capture_output=True, check=True).stdout


def make_ycck():
    """jpeg_ycck.jpg: Adobe transform 2; expected pixels are Pillow's decode."""
    cmyk = np.dstack([source_rgb(), source_alpha()]).astype(np.uint8)
    data = ycck_jpeg(255 - cmyk)  # Adobe CMYK JPEGs store inverted samples
    i = data.find(b"Adobe")
    assert i > 0 and data[i + 11] == 2, "not an Adobe YCCK JPEG"
    write("jpeg_ycck.jpg", data)
    img = Image.open(os.path.join(OUT, "jpeg_ycck.jpg"))
    assert img.mode == "CMYK"
    expect("jpeg_ycck.jpg", np.asarray(img.convert("RGB")))


# ---------------------------------------------------------------- EXIF orientation --

# The inverse of each orientation's transpose: applied to an upright image it gives the
# pixels a camera would store with that tag (orientation 6: sensor image rotated 90
# degrees counter-clockwise, which exif_transpose turns back by ROTATE_270).
STORED = {1: None, 2: Image.FLIP_LEFT_RIGHT, 3: Image.ROTATE_180, 4: Image.FLIP_TOP_BOTTOM,
          5: Image.TRANSPOSE, 6: Image.ROTATE_90, 7: Image.TRANSVERSE, 8: Image.ROTATE_270}


def exif_orientation_app1(orientation, big_endian=True, long_type=False):
    """A minimal EXIF block, written by hand so the bytes are known exactly: TIFF header,
    IFD0 with one SHORT (or, off-standard, LONG) entry 0x0112, no next IFD. Pillow writes
    it as the APP1 payload."""
    e = ">" if big_endian else "<"
    tiff = (b"MM" if big_endian else b"II") + struct.pack(e + "HI", 42, 8)
    value = (struct.pack(e + "I", orientation) if long_type
             else struct.pack(e + "HH", orientation, 0))
    ifd = struct.pack(e + "H", 1) + struct.pack(e + "HHI", 0x0112, 4 if long_type else 3, 1) + value
    return b"Exif\0\0" + tiff + ifd + struct.pack(e + "I", 0)


def exif_fixture(name, upright, orientation, big_endian=True, long_type=False, **options):
    """Expected pixels: Pillow's exif_transpose of its own decode, which is what
    tools/prepare_data.py's load_rgb computes; transposing is exact on decoded pixels."""
    from PIL import ImageOps
    stored = upright.transpose(STORED[orientation]) if STORED[orientation] is not None else upright
    write(name, jpeg_bytes(stored, exif=exif_orientation_app1(orientation, big_endian, long_type),
                           **options))
    img = Image.open(os.path.join(OUT, name))
    assert img.getexif().get(0x0112) == orientation
    out = ImageOps.exif_transpose(img).convert("RGB")
    assert out.size == upright.size
    expect(name, np.asarray(out))


def make_exif():
    upright = Image.fromarray(source_rgb())  # 13 x 9: a swapped result cannot pass as unswapped
    for o in range(1, 9):
        exif_fixture("jpeg_exif_o%d.jpg" % o, upright, o, big_endian=o % 2 == 0, quality=90)
    exif_fixture("jpeg_exif_o8_long.jpg", upright, 8, big_endian=False, long_type=True,
                 quality=90)
    # Out-of-range and damaged tags: the image is decoded as stored.
    for label, payload in (("o9", exif_orientation_app1(9)),
                           ("truncated", exif_orientation_app1(6)[:20]),
                           ("badifd", exif_orientation_app1(6)[:10] + b"\xff\xff\xff\x00"
                            + exif_orientation_app1(6)[14:])):
        name = "jpeg_exif_%s.jpg" % label
        write(name, jpeg_bytes(upright, exif=payload, quality=90))
        expect(name, np.asarray(Image.open(os.path.join(OUT, name)).convert("RGB")))
    # A phone-style photo: assets/pets.jpg stored sideways with orientation 6 (re-encoded,
    # so it equals the upright original only within JPEG noise; tests/test_image.c and
    # tests/test_bad_inputs.py compare it with the original).
    pets = Image.open(os.path.join(ASSETS, "pets.jpg")).convert("RGB")
    # pets.jpg is 4:4:4; keeping that (subsampling=0) holds the re-encoding error to a mean
    # of 1.3 and a max of 14 grey levels.
    write("phone_pets_o6.jpg", jpeg_bytes(pets.transpose(Image.ROTATE_90), quality=95,
                                          subsampling=0, exif=exif_orientation_app1(6)))


# ---------------------------------------------------------------- resizing --

def resize_fixture(name, img, size):
    out = img.resize(size, Image.BILINEAR)
    write(name, np.asarray(out.convert("RGB")).tobytes())


def make_resizes():
    """resize_<source>_<W>x<H>.rgb: source is an asset or a fixture whose .rgb is exact."""
    for asset in ("pets.jpg", "bird.png"):
        img = Image.open(os.path.join(ASSETS, asset)).convert("RGB")
        resize_fixture("resize_%s_224x224.rgb" % asset.split(".")[0], img, (224, 224))
    small = Image.fromarray(source_rgb())
    write("resize_src.png", encode_png(np.asarray(small), 2, 8))
    expect("resize_src.png", np.asarray(small))
    for size in [(40, 30), (5, 20), (6, 9), (13, 4), (1, 1), (13, 9)]:
        resize_fixture("resize_src_%dx%d.rgb" % size, small, size)


def fnv1a64(data):
    h = 0xCBF29CE484222325
    for b in np.frombuffer(data, np.uint8).tolist():
        h = ((h ^ b) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


def make_asset_hashes():
    """Too big to store as .rgb; the test compares a 64-bit FNV-1a of the decoded pixels."""
    lines = []
    for asset in sorted(os.listdir(ASSETS)):
        if asset.endswith((".jpg", ".png")):
            img = Image.open(os.path.join(ASSETS, asset))
            assert img.mode == "RGB", "an RGBA/16-bit asset needs the PNG rules applied here"
            lines.append("%s %d %d %016x\n" % (asset, img.width, img.height,
                                               fnv1a64(np.asarray(img).tobytes())))
    write("asset_hashes.txt", "".join(lines).encode())


# ---------------------------------------------------------------- bad inputs --

def patch_jpeg_size(data, width, height):
    sof = data.index(b"\xff\xc0")
    return data[:sof + 5] + struct.pack(">HH", height, width) + data[sof + 9:]


def cut_in_scan(data, fraction=0.5):
    cut = int(len(data) * fraction)
    assert cut > data.rindex(b"\xff\xda"), "the cut must fall in the entropy-coded data"
    return data[:cut]


def make_bad():
    """bad_<status>_*: inputs cap_image_load_file must reject with that status."""
    write("bad_format_empty.jpg", b"")
    write("notes.jpg", b"Shopping list:\n- milk\n- a better captioner\n")
    write("bad_format_short.jpg", b"\xff\xd8")  # too short for the 3-byte magic
    big = Image.fromarray(source_rgb(96, 64))
    write("bad_format_truncated.jpg", cut_in_scan(jpeg_bytes(big, quality=95)))
    write("bad_format_truncated_progressive.jpg",
          jpeg_bytes(big, quality=95, progressive=True)[:-400])
    base = jpeg_bytes(Image.fromarray(source_rgb(16, 16)), quality=90)
    write("bad_format_no_scan.jpg", base[:base.index(b"\xff\xda")])
    sof = base.index(b"\xff\xc0")
    write("bad_format_precision.jpg", base[:sof + 4] + bytes([12]) + base[sof + 5:])
    write("bad_too_large.jpg", patch_jpeg_size(base, 20000, 20000))  # > 100M pixels
    # A JPEG cannot claim 70000 (16-bit fields); 65535 trips libjpeg's own 65500 limit.
    write("bad_too_large_side.jpg", patch_jpeg_size(base, 65535, 65535))

    png = encode_png(np.asarray(big), 2, 8)
    write("bad_format_truncated.png", png[:len(png) // 2])
    write("bad_format_signature_only.png", png[:8])
    small = encode_png(source_rgb(16, 16), 2, 8)
    idat = small.index(b"IDAT")
    crc = idat + 4 + struct.unpack(">I", small[idat - 4:idat])[0]
    write("bad_format_crc.png", small[:crc] + bytes([small[crc] ^ 0x55]) + small[crc + 1:])
    write("bad_format_deflate.png", small[:idat + 10] + bytes([small[idat + 10] ^ 0x55]) +
          small[idat + 11:])
    ihdr = struct.pack(">IIBBBBB", 70000, 70000, 8, 2, 0, 0, 0)
    write("bad_too_large.png", small[:8] + chunk(b"IHDR", ihdr) + small[33:])


def main():
    os.makedirs(OUT, exist_ok=True)
    for name in os.listdir(OUT):
        os.remove(os.path.join(OUT, name))
    make_pngs()
    make_jpegs()
    make_resizes()
    make_asset_hashes()
    make_bad()
    make_exif()  # after the others: it draws from rng, and the fixtures above must not change
    make_ycck()
    write("fixtures.txt", "".join("%s %d %d\n" % item for item in listing).encode())
    total = sum(os.path.getsize(os.path.join(OUT, n)) for n in os.listdir(OUT))
    print("%d files, %d bytes in %s" % (len(os.listdir(OUT)), total, OUT), file=sys.stderr)


if __name__ == "__main__":
    main()
