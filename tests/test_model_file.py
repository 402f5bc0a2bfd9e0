#!/usr/bin/python3
"""tools/captioner/model_file.py: a written file reads back the same, and writing over an
existing model replaces it by rename, so that a reader (a running `caption` job) that holds the
old file keeps reading it whole. Needs numpy."""
import os
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
