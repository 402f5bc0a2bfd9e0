"""Read and write the captioner's model file (format versions 1 and 2). The C reader is
src/model.c; the format is documented in docs/file-format.md. All integers little-endian.

  offset 0    header, 256 bytes:
              magic "CAPTMODL" (8 bytes), u32 version (1 or 2), u32 header_size (256),
              u32 n_tensors, u32 vocab_size, u32 feature_dim, u32 grid_rows, u32 grid_cols,
              u32 input_size, u32 embed_dim, u32 attention_dim, u32 hidden_dim,
              u32 token_pad, u32 token_start, u32 token_end, u32 token_unk,
              u64 table_offset, u64 vocab_offset, u64 vocab_bytes, u64 file_size,
              u32 encoder_output_stride (0 = 32, the plain encoder; 16 = the dilated last stage,
              mobilenet_v2.py),
              version 2 only (zero in version 1): u32 tagger_head_start (0 = no tagger),
              u32 base_vocab_size V0, u64 class_table_offset, u64 class_table_bytes,
              u32 n_classes; zero padding
  table       n_tensors entries of 128 bytes: char name[64] (NUL-padded), u32 dtype (0 = float32,
              2 = uint8 with f32 scale and i32 zero point at entry offset 104: Quantized),
              u32 ndim (1..4), u32 shape[4] (unused dims 0), u64 offset, u64 nbytes, zero padding
  vocabulary  vocab_size NUL-terminated UTF-8 words in token-id order
  class table (version 2) at the next 8-byte aligned offset after the vocabulary (zero bytes
              between): n_classes x (i32 singular token, i32 plural token, i32 general word's
              singular token, i32 its plural token; -1 = none), then
              n_classes NUL-terminated UTF-8 labels
  tensors     each at a 64-byte aligned offset, row-major (C order)

In Python a file is (config, vocab, tensors). config holds CONFIG_KEYS, "output_stride", and
the version-2 extras: "version", "tagger_head_start", "base_vocab_size" and "classes" (a list
of (singular token, plural token, label) with -1 for no token, or None for a version-1 file).
write_model writes version 2 exactly when config["classes"] is not None, so a file read and
written again is the same file, and a model without the extras is the version-1 file as before.
"""
import os
import struct

import numpy as np

MAGIC = b"CAPTMODL"
VERSION = 1  # the version of a file without a tagger; VERSION_TAGGER with one
VERSION_TAGGER = 2
VERSIONS = (1, 2)
HEADER_SIZE = 256
ENTRY_SIZE = 128
ALIGN = 64
CLASS_TABLE_ALIGN = 8
DTYPE_F32 = 0
# uint8 with one affine map per tensor, value = (q - zero_point) * scale (the TFLite model's
# own quantization): the tagger's weights, stored as they come, a quarter of float32's bytes.
DTYPE_U8 = 2
_HEADER = "<8s15I4QI"
_HEADER_V2 = _HEADER + "IIQQI"  # offsets 104, 108, 112, 120, 128
_CLASS = "<iiii"  # singular, plural, general singular, general plural
CONFIG_KEYS = ("vocab_size", "feature_dim", "grid_rows", "grid_cols", "input_size",
               "embed_dim", "attention_dim", "hidden_dim",
               "token_pad", "token_start", "token_end", "token_unk")
# The encoder's output stride as stored at header offset 100. Files written before the field
# existed hold 0 there, which means 32; the writer keeps writing 0 for 32 so that stride-32
# files stay byte-identical.
STRIDE_FIELD = {32: 0, 16: 16}
_ENTRY = "<64sII4IQQ"
_ENTRY_QUANT = "<fi"  # at entry offset 104 (dtype 2): f32 scale, i32 zero point


class Quantized:
    """A uint8 tensor with its per-tensor affine map: value = (q - zero_point) * scale."""

    def __init__(self, q, scale, zero_point):
        self.q = np.ascontiguousarray(q, dtype=np.uint8)
        self.scale = float(np.float32(scale))
        self.zero_point = int(zero_point)
        assert 0 <= self.zero_point <= 255, zero_point

    @property
    def shape(self):
        return self.q.shape

    def dequantized(self):
        """float32, bit for bit tflite_reader.Tensor.dequantized() and src/model.c: the exact
        product of an integer and a float32, rounded once."""
        return ((self.q.astype(np.float64) - self.zero_point) * self.scale).astype(np.float32)


def _stride_from_field(path, value):
    for stride, field in STRIDE_FIELD.items():
        if field == value:
            return stride
    raise ValueError("%s: unsupported encoder output stride field %d (0 = 32 or 16)"
                     % (path, value))


def _align(n, to=ALIGN):
    return (n + to - 1) // to * to


def class_table_blob(classes, general=None):
    """The class table's bytes: per class (singular, plural, general singular, general plural)
    i32 tokens, then the NUL-terminated labels. general: [(singular, plural)] per class, or
    None for none ((-1, -1) each)."""
    general = general if general is not None else [(-1, -1)] * len(classes)
    assert len(general) == len(classes)
    recs = b"".join(struct.pack(_CLASS, s, p, g, gp)
                    for (s, p, _), (g, gp) in zip(classes, general))
    return recs + b"".join(label.encode("utf-8") + b"\0" for _, _, label in classes)


def parse_class_table(path, blob, n_classes, vocab_size):
    """class_table_blob's inverse, checked: ([(singular, plural, label)], [(general singular,
    general plural)])."""
    size = struct.calcsize(_CLASS)
    if len(blob) < size * n_classes:
        raise ValueError("%s: class table of %d bytes for %d classes" % (path, len(blob), n_classes))
    labels = blob[size * n_classes:].decode("utf-8").split("\0")
    if len(labels) != n_classes + 1 or labels[-1] != "":
        raise ValueError("%s: class table does not hold %d labels" % (path, n_classes))
    out, general = [], []
    for i in range(n_classes):
        s, p, g, gp = struct.unpack_from(_CLASS, blob, size * i)
        for t in (s, p, g, gp):
            if not -1 <= t < vocab_size:
                raise ValueError("%s: class %d: token %d out of range" % (path, i, t))
        out.append((s, p, labels[i]))
        general.append((g, gp))
    return out, general


def write_model(path, config, vocab, tensors):
    """config: dict with CONFIG_KEYS and optionally "output_stride" (32 when absent, or 16) and
    the version-2 extras (module docstring): with config["classes"] set, a version-2 file with
    tagger_head_start (default 0), base_vocab_size (default vocab_size) and that class table;
    without, a version-1 file. vocab: list of words; tensors: {name: np.ndarray}."""
    names = list(tensors)
    vocab_blob = b"".join(w.encode("utf-8") + b"\0" for w in vocab)
    classes = config.get("classes")
    table_offset = HEADER_SIZE
    vocab_offset = table_offset + ENTRY_SIZE * len(names)
    end = vocab_offset + len(vocab_blob)
    class_offset, class_blob = 0, b""
    if classes is not None:
        for s, p, _ in classes:
            assert -1 <= s < len(vocab) and -1 <= p < len(vocab), (s, p)
        class_offset = _align(end, CLASS_TABLE_ALIGN)
        class_blob = class_table_blob(classes, config.get("general_words"))
        end = class_offset + len(class_blob)
    offset = _align(end)
    entries, blobs = [], []
    for name in names:
        t = tensors[name]
        quant = b""
        if isinstance(t, Quantized):
            arr, dtype = t.q, DTYPE_U8
            quant = struct.pack(_ENTRY_QUANT, t.scale, t.zero_point)
        else:
            arr, dtype = np.ascontiguousarray(t, dtype=np.float32), DTYPE_F32
        assert 1 <= arr.ndim <= 4 and len(name.encode()) < 64, name
        shape = list(arr.shape) + [0] * (4 - arr.ndim)
        entries.append((struct.pack(_ENTRY, name.encode(), dtype, arr.ndim, *shape,
                                    offset, arr.nbytes) + quant).ljust(ENTRY_SIZE, b"\0"))
        blobs.append((offset, arr.tobytes()))
        offset = _align(offset + arr.nbytes)
    file_size = blobs[-1][0] + len(blobs[-1][1])
    assert config["vocab_size"] == len(vocab)
    stride = config.get("output_stride", 32)
    if stride not in STRIDE_FIELD:
        raise ValueError("encoder output stride %r, the format stores 32 or 16" % (stride,))
    common = [MAGIC, VERSION if classes is None else VERSION_TAGGER, HEADER_SIZE, len(names),
              *[config[k] for k in CONFIG_KEYS],
              table_offset, vocab_offset, len(vocab_blob), file_size, STRIDE_FIELD[stride]]
    if classes is None:
        header = struct.pack(_HEADER, *common)
    else:
        base = config.get("base_vocab_size") or len(vocab)
        assert 0 < base <= len(vocab), base
        header = struct.pack(_HEADER_V2, *common, config.get("tagger_head_start", 0), base,
                             class_offset, len(class_blob), len(classes))
    # A new file renamed into place, never the old one rewritten: a `caption` job that has
    # the old file mapped keeps reading it whole, and a reader never sees half a file.
    tmp = "%s.tmp-%d" % (path, os.getpid())
    try:
        with open(tmp, "wb") as f:
            f.write(header.ljust(HEADER_SIZE, b"\0"))
            f.write(b"".join(entries))
            f.write(vocab_blob)
            if classes is not None:
                f.write(b"\0" * (class_offset - f.tell()))
                f.write(class_blob)
            for off, blob in blobs:
                f.write(b"\0" * (off - f.tell()))
                f.write(blob)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def read_model(path, keep_quantized=False):
    """Returns (config dict, vocab list, {name: float32 array}); config has CONFIG_KEYS,
    "output_stride" (32 or 16), "version" (1 or 2), "tagger_head_start" (0: no tagger),
    "base_vocab_size" (V0; vocab_size in a version-1 file) and "classes" (list of
    (singular token, plural token, label), or None in a version-1 file). A uint8 tensor
    (dtype 2, the tagger's weights) comes dequantized to float32, or as a Quantized when
    keep_quantized (to write the file again as it was)."""
    with open(path, "rb") as f:
        data = f.read()
    fields = struct.unpack_from(_HEADER_V2, data, 0)
    magic, version, header_size, n_tensors = fields[:4]
    if magic != MAGIC or version not in VERSIONS or header_size != HEADER_SIZE:
        raise ValueError("%s: not a version-%s caption model" % (
            path, " or ".join(map(str, VERSIONS))))
    config = dict(zip(CONFIG_KEYS, fields[4:4 + len(CONFIG_KEYS)]))
    (table_offset, vocab_offset, vocab_bytes, file_size, stride, head_start, base_vocab,
     class_offset, class_bytes, n_classes) = fields[4 + len(CONFIG_KEYS):]
    config["output_stride"] = _stride_from_field(path, stride)
    side = config["input_size"] // config["output_stride"]
    if (config["grid_rows"], config["grid_cols"]) != (side, side):
        raise ValueError("%s: grid %dx%d, but output stride %d at input %d gives %dx%d" % (
            path, config["grid_rows"], config["grid_cols"], config["output_stride"],
            config["input_size"], side, side))
    if file_size != len(data):
        raise ValueError("%s: file size %d, header says %d" % (path, len(data), file_size))
    vocab = data[vocab_offset:vocab_offset + vocab_bytes].decode("utf-8").split("\0")[:-1]
    config["version"] = version
    config["tagger_head_start"], config["base_vocab_size"], config["classes"] = 0, len(vocab), None
    if version == 1:
        if any(fields[4 + len(CONFIG_KEYS) + 5:]):
            raise ValueError("%s: version 1 with version-2 header fields set" % path)
    else:
        if not 0 < base_vocab <= config["vocab_size"]:
            raise ValueError("%s: base vocabulary size %d of %d" % (path, base_vocab,
                                                                    config["vocab_size"]))
        if class_offset + class_bytes > len(data):
            raise ValueError("%s: class table beyond the end of the file" % path)
        config["tagger_head_start"], config["base_vocab_size"] = head_start, base_vocab
        if class_offset:
            config["classes"], config["general_words"] = parse_class_table(
                path, data[class_offset:class_offset + class_bytes], n_classes,
                config["vocab_size"])
        else:
            config["classes"], config["general_words"] = [], []
    tensors = {}
    for i in range(n_tensors):
        entry = table_offset + i * ENTRY_SIZE
        name, dtype, ndim, *rest = struct.unpack_from(_ENTRY, data, entry)
        shape, (offset, nbytes) = rest[:ndim], rest[4:6]
        name = name.rstrip(b"\0").decode()
        if dtype == DTYPE_U8:
            scale, zero_point = struct.unpack_from(_ENTRY_QUANT, data, entry + 104)
            q = np.frombuffer(data, dtype=np.uint8, count=nbytes, offset=offset).reshape(shape)
            t = Quantized(q, scale, zero_point)
            tensors[name] = t if keep_quantized else t.dequantized()
        elif dtype == DTYPE_F32:
            arr = np.frombuffer(data, dtype=np.float32, count=nbytes // 4, offset=offset)
            tensors[name] = arr.reshape(shape)
        else:
            raise ValueError("%s: tensor %s has unknown dtype %d" % (path, name, dtype))
    return config, vocab, tensors
