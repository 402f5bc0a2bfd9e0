"""Image loading with the C loader's rules (src/image.c), so that the PyTorch reference and
training see the pixels the C program sees."""
import numpy as np
from PIL import Image, ImageOps

from .mobilenet_v2 import INPUT_SIZE


def load_rgb(path, size=INPUT_SIZE):
    """Decode to RGB and squash to size x size (Pillow BILINEAR), as the C loader does.
    Alpha is composited over white, matching src/image.c. A JPEG's EXIF orientation is
    applied first, as src/image.c does (only for JPEGs: the C loader ignores a PNG's eXIf).
    None of the Flickr8k images carries an orientation tag, so the cached features are
    unchanged by this."""
    im = Image.open(path)
    if im.format == "JPEG":
        im = ImageOps.exif_transpose(im)
    if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
        rgba = im.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        im = Image.alpha_composite(white, rgba)
    im = im.convert("RGB")
    if im.size != (size, size):
        im = im.resize((size, size), Image.BILINEAR)
    return np.asarray(im, dtype=np.uint8)
