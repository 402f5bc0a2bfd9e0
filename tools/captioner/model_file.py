"""Read and write the captioner's model file (format version 1). The C reader is src/model.c;
the format is documented in models/README.md ("File format"). All integers little-endian.

  offset 0    header, 256 bytes:
              magic "CAPTMODL" (8 bytes), u32 version, u32 header_size (256), u32 n_tensors,
              u32 vocab_size, u32 feature_dim, u32 grid_rows, u32 grid_cols, u32 input_size,
              u32 embed_dim, u32 attention_dim, u32 hidden_dim,
              u32 token_pad, u32 token_start, u32 token_end, u32 token_unk,
              u64 table_offset, u64 vocab_offset, u64 vocab_bytes, u64 file_size,
              u32 encoder_output_stride (0 = 32, the plain encoder; 16 = the dilated last stage,
              mobilenet_v2.py), zero padding
  table       n_tensors entries of 128 bytes: char name[64] (NUL-padded), u32 dtype (0 = float32),
              u32 ndim (1..4), u32 shape[4] (unused dims 0), u64 offset, u64 nbytes, zero padding
  vocabulary  vocab_size NUL-terminated UTF-8 words in token-id order
  tensors     each at a 64-byte aligned offset, row-major (C order)
"""
import os
import struct

import numpy as np

MAGIC = b"CAPTMODL"
VERSION = 1
HEADER_SIZE = 256
ENTRY_SIZE = 128
ALIGN = 64
DTYPE_F32 = 0
_HEADER = "<8s15I4QI"
_ENTRY = "<64sII4IQQ"
CONFIG_KEYS = ("vocab_size", "feature_dim", "grid_rows", "grid_cols", "input_size",
               "embed_dim", "attention_dim", "hidden_dim",
               "token_pad", "token_start", "token_end", "token_unk")
# The encoder's output stride as stored at header offset 100. Files written before the field
# existed hold 0 there, which means 32; the writer keeps writing 0 for 32 so that stride-32
# files stay byte-identical, and the format version stays 1.
STRIDE_FIELD = {32: 0, 16: 16}


def _stride_from_field(path, value):
    for stride, field in STRIDE_FIELD.items():
        if field == value:
            return stride
    raise ValueError("%s: unsupported encoder output stride field %d (0 = 32 or 16)"
                     % (path, value))


def _align(n):
    return (n + ALIGN - 1) // ALIGN * ALIGN


def write_model(path, config, vocab, tensors):
    """config: dict with CONFIG_KEYS and optionally "output_stride" (32 when absent, or 16);
    vocab: list of words; tensors: {name: np.ndarray}."""
    names = list(tensors)
    vocab_blob = b"".join(w.encode("utf-8") + b"\0" for w in vocab)
    table_offset = HEADER_SIZE
    vocab_offset = table_offset + ENTRY_SIZE * len(names)
    offset = _align(vocab_offset + len(vocab_blob))
    entries, blobs = [], []
    for name in names:
        arr = np.ascontiguousarray(tensors[name], dtype=np.float32)
        assert 1 <= arr.ndim <= 4 and len(name.encode()) < 64, name
        shape = list(arr.shape) + [0] * (4 - arr.ndim)
        entries.append(struct.pack(_ENTRY, name.encode(), DTYPE_F32, arr.ndim, *shape,
                                   offset, arr.nbytes).ljust(ENTRY_SIZE, b"\0"))
        blobs.append((offset, arr.tobytes()))
        offset = _align(offset + arr.nbytes)
    file_size = blobs[-1][0] + len(blobs[-1][1])
    assert config["vocab_size"] == len(vocab)
    stride = config.get("output_stride", 32)
    if stride not in STRIDE_FIELD:
        raise ValueError("encoder output stride %r, the format stores 32 or 16" % (stride,))
    header = struct.pack(_HEADER, MAGIC, VERSION, HEADER_SIZE, len(names),
                         *[config[k] for k in CONFIG_KEYS],
                         table_offset, vocab_offset, len(vocab_blob), file_size,
                         STRIDE_FIELD[stride])
    # A new file renamed into place, never the old one rewritten: a `caption` job that has
    # the old file mapped keeps reading it whole, and a reader never sees half a file.
    tmp = "%s.tmp-%d" % (path, os.getpid())
    try:
        with open(tmp, "wb") as f:
            f.write(header.ljust(HEADER_SIZE, b"\0"))
            f.write(b"".join(entries))
            f.write(vocab_blob)
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


def read_model(path):
    """Returns (config dict, vocab list, {name: float32 array}); config has CONFIG_KEYS and
    "output_stride" (32 or 16)."""
    with open(path, "rb") as f:
        data = f.read()
    fields = struct.unpack_from(_HEADER, data, 0)
    magic, version, header_size, n_tensors = fields[:4]
    if magic != MAGIC or version != VERSION or header_size != HEADER_SIZE:
        raise ValueError("%s: not a version-%d caption model" % (path, VERSION))
    config = dict(zip(CONFIG_KEYS, fields[4:4 + len(CONFIG_KEYS)]))
    table_offset, vocab_offset, vocab_bytes, file_size, stride = fields[4 + len(CONFIG_KEYS):]
    config["output_stride"] = _stride_from_field(path, stride)
    side = config["input_size"] // config["output_stride"]
    if (config["grid_rows"], config["grid_cols"]) != (side, side):
        raise ValueError("%s: grid %dx%d, but output stride %d at input %d gives %dx%d" % (
            path, config["grid_rows"], config["grid_cols"], config["output_stride"],
            config["input_size"], side, side))
    if file_size != len(data):
        raise ValueError("%s: file size %d, header says %d" % (path, len(data), file_size))
    vocab = data[vocab_offset:vocab_offset + vocab_bytes].decode("utf-8").split("\0")[:-1]
    tensors = {}
    for i in range(n_tensors):
        name, dtype, ndim, *rest = struct.unpack_from(_ENTRY, data, table_offset + i * ENTRY_SIZE)
        shape, (offset, nbytes) = rest[:ndim], rest[4:6]
        arr = np.frombuffer(data, dtype=np.float32, count=nbytes // 4, offset=offset)
        tensors[name.rstrip(b"\0").decode()] = arr.reshape(shape)
    return config, vocab, tensors
