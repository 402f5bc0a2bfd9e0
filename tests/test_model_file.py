#!/usr/bin/python3
"""tools/captioner/model_file.py: a written file reads back the same (format versions 1 and 2),
a model without the version-2 extras is the version-1 file byte for byte (checked against an
independent writer of docs/file-format.md's layout), a version-2 file has its header fields and
class table where docs/file-format.md says, and writing over an existing model replaces it by
rename, so that a reader (a running `caption` job) that holds the old file keeps reading it
whole. Needs numpy."""
import os
import struct
import sys
import tempfile
import unittest

from optional_deps import skip_or_fail

try:
    import numpy as np
    from captioner import model_file
except ImportError as e:
    skip_or_fail(e, install="python3-numpy")


def small_model(fill):
    config = {k: 1 for k in model_file.CONFIG_KEYS}
    config.update(vocab_size=4, grid_rows=7, grid_cols=7, input_size=224)
    vocab = ["<pad>", "<start>", "<end>", "<unk>"]
    tensors = {"decoder.x": np.full((3, 5), fill, dtype=np.float32),
               "encoder.y": np.arange(7, dtype=np.float32) * fill}
    return config, vocab, tensors


def small_classes():
    # background, a class with singular == plural (fish), one with a plural, an excluded one
    return [(-1, -1, "background"), (4, 4, "tench, Tinca tinca"), (5, 6, "ostrich"),
            (-1, -1, "jersey, T-shirt")]


# the general (back-off) word of each class: the ostrich's is "fish" here, to have one
SMALL_GENERAL = [(-1, -1), (-1, -1), (4, 4), (-1, -1)]


def small_model_v2(fill):
    config, vocab, tensors = small_model(fill)
    vocab = vocab + ["fish", "ostrich", "ostriches"]
    config.update(vocab_size=len(vocab), tagger_head_start=13, base_vocab_size=5,
                  classes=small_classes(), general_words=SMALL_GENERAL)
    tensors["tagger.classifier.bias"] = np.arange(4, dtype=np.float32)
    return config, vocab, tensors


def expected_v1_bytes(config, vocab, tensors):
    """docs/file-format.md's version-1 layout, written independently of model_file.py."""
    names = list(tensors)
    vocab_blob = b"".join(w.encode() + b"\0" for w in vocab)
    vocab_off = 256 + 128 * len(names)
    off = (vocab_off + len(vocab_blob) + 63) // 64 * 64
    table, data = b"", []
    for name in names:
        a = tensors[name]
        shape = list(a.shape) + [0] * (4 - a.ndim)
        entry = name.encode().ljust(64, b"\0") + struct.pack("<II4IQQ", 0, a.ndim, *shape, off,
                                                             a.nbytes)
        table += entry.ljust(128, b"\0")
        data.append((off, a.astype("<f4").tobytes()))
        off = (off + a.nbytes + 63) // 64 * 64
    size = data[-1][0] + len(data[-1][1])
    fields = [config[k] for k in model_file.CONFIG_KEYS]
    header = (b"CAPTMODL" + struct.pack("<III", 1, 256, len(names)) + struct.pack("<12I", *fields)
              + struct.pack("<QQQQ", 256, vocab_off, len(vocab_blob), size)
              + struct.pack("<I", 0)).ljust(256, b"\0")
    out = bytearray(header + table + vocab_blob)
    for o, blob in data:
        out += b"\0" * (o - len(out)) + blob
    return bytes(out)


class ModelFile(unittest.TestCase):
    def test_round_trip(self):
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "m.bin")
            config, vocab, tensors = small_model(2.5)
            model_file.write_model(path, config, vocab, tensors)
            got_config, got_vocab, got = model_file.read_model(path)
            self.assertEqual(got_vocab, vocab)
            self.assertEqual(got_config["vocab_size"], 4)
            for name, arr in tensors.items():
                np.testing.assert_array_equal(got[name], arr)

    def test_quantized_tensor_round_trip(self):
        # dtype 2: uint8 bytes as given, the f32 scale and i32 zero point at entry offset
        # 104; read back dequantized (value = (q - zero point) * scale, float32) or as is.
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "m.bin")
            config, vocab, tensors = small_model(2.5)
            q = np.arange(24, dtype=np.uint8).reshape(2, 3, 2, 2) * 10
            tensors["tagger.x.weight"] = model_file.Quantized(q, 0.0123, 113)
            model_file.write_model(path, config, vocab, tensors)
            with open(path, "rb") as f:
                data = f.read()
            _, _, got = model_file.read_model(path)
            want = ((q.astype(np.float64) - 113) * np.float32(0.0123)).astype(np.float32)
            np.testing.assert_array_equal(got["tagger.x.weight"], want)
            self.assertEqual(got["tagger.x.weight"].dtype, np.float32)
            _, _, raw = model_file.read_model(path, keep_quantized=True)
            t = raw["tagger.x.weight"]
            np.testing.assert_array_equal(t.q, q)
            self.assertEqual((t.scale, t.zero_point), (float(np.float32(0.0123)), 113))
            entry = 256 + 128 * list(tensors).index("tagger.x.weight")
            self.assertEqual(struct.unpack_from("<I", data, entry + 64)[0], 2)
            self.assertEqual(struct.unpack_from("<fi", data, entry + 104),
                             (np.float32(0.0123), 113))
            offset, nbytes = struct.unpack_from("<QQ", data, entry + 88)
            self.assertEqual((nbytes, data[offset:offset + nbytes]), (24, q.tobytes()))

    def test_v1_bytes_as_specified(self):
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "m.bin")
            config, vocab, tensors = small_model(2.5)
            model_file.write_model(path, config, vocab, tensors)
            with open(path, "rb") as f:
                data = f.read()
            self.assertEqual(data, expected_v1_bytes(config, vocab, tensors))
            # Read back: version 1, no extras; written again: the same bytes, also with the
            # version-2 keys read_model adds (classes None).
            got_config, got_vocab, got = model_file.read_model(path)
            self.assertEqual(got_config["version"], 1)
            self.assertIsNone(got_config["classes"])
            self.assertEqual(got_config["tagger_head_start"], 0)
            self.assertEqual(got_config["base_vocab_size"], 4)
            model_file.write_model(path, got_config, got_vocab, got)
            with open(path, "rb") as f:
                self.assertEqual(f.read(), data)

    def test_v2_round_trip_and_layout(self):
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "m.bin")
            config, vocab, tensors = small_model_v2(1.5)
            model_file.write_model(path, config, vocab, tensors)
            with open(path, "rb") as f:
                data = f.read()
            self.assertEqual(struct.unpack_from("<I", data, 8)[0], 2)
            head_start, base, cls_off, cls_bytes, n_classes = struct.unpack_from("<IIQQI", data, 104)
            self.assertEqual((head_start, base, n_classes), (13, 5, 4))
            self.assertEqual(data[132:256], b"\0" * 124)
            vocab_off, vocab_bytes, file_size = struct.unpack_from("<QQQ", data, 76)
            self.assertEqual(file_size, len(data))
            # the class table: after the vocabulary, before the first tensor
            first_tensor = min(struct.unpack_from("<QQ", data, 256 + 128 * i + 88)[0]
                               for i in range(len(tensors)))
            self.assertGreaterEqual(cls_off, vocab_off + vocab_bytes)
            self.assertLessEqual(cls_off + cls_bytes, first_tensor)
            self.assertEqual(cls_off % 8, 0)
            blob = data[cls_off:cls_off + cls_bytes]
            # per class: i32 singular, plural, general singular, general plural
            self.assertEqual(struct.unpack_from("<16i", blob, 0),
                             (-1, -1, -1, -1, 4, 4, -1, -1, 5, 6, 4, 4, -1, -1, -1, -1))
            self.assertEqual(blob[64:], b"background\0tench, Tinca tinca\0ostrich\0jersey, T-shirt\0")
            got_config, got_vocab, got = model_file.read_model(path)
            self.assertEqual(got_vocab, vocab)
            self.assertEqual(got_config["version"], 2)
            self.assertEqual(got_config["classes"], small_classes())
            self.assertEqual(got_config["general_words"], SMALL_GENERAL)
            self.assertEqual((got_config["tagger_head_start"], got_config["base_vocab_size"]),
                             (13, 5))
            for name, arr in tensors.items():
                np.testing.assert_array_equal(got[name], arr)
            model_file.write_model(path, got_config, got_vocab, got)
            with open(path, "rb") as f:
                self.assertEqual(f.read(), data)
            # without the extras it is the version-1 file again
            got_config["classes"] = None
            model_file.write_model(path, got_config, got_vocab, got)
            with open(path, "rb") as f:
                self.assertEqual(f.read(), expected_v1_bytes(got_config, got_vocab, got))

    def test_v2_bad_fields_refused(self):
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "m.bin")
            model_file.write_model(path, *small_model_v2(1.0))
            with open(path, "rb") as f:
                data = bytearray(f.read())
            cls_off = struct.unpack_from("<Q", data, 112)[0]
            cases = {"token 7 out of range": (cls_off + 8, struct.pack("<i", 7)),
                     "base vocabulary size 9": (108, struct.pack("<I", 9)),
                     "class table beyond": (120, struct.pack("<Q", len(data))),
                     "not a version-1 or 2": (8, struct.pack("<I", 3))}
            for message, (offset, value) in cases.items():
                bad = bytearray(data)
                bad[offset:offset + len(value)] = value
                with open(path, "wb") as f:
                    f.write(bad)
                with self.assertRaisesRegex(ValueError, message):
                    model_file.read_model(path)

    def test_overwrite_is_a_rename_and_leaves_no_temporary(self):
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "m.bin")
            model_file.write_model(path, *small_model(1.0))
            with open(path, "rb") as held:  # as a running job holds its mapping
                before = os.fstat(held.fileno())
                old_bytes = held.read()
                model_file.write_model(path, *small_model(3.0))
                held.seek(0)
                self.assertEqual(held.read(), old_bytes)  # the old file is intact
                self.assertEqual(os.fstat(held.fileno()).st_size, before.st_size)
            self.assertNotEqual(os.stat(path).st_ino, before.st_ino)
            np.testing.assert_array_equal(model_file.read_model(path)[2]["decoder.x"],
                                          np.full((3, 5), 3.0, dtype=np.float32))
            self.assertEqual(os.listdir(tmp), ["m.bin"])


if __name__ == "__main__":
    unittest.main(argv=sys.argv[:1], verbosity=2)
