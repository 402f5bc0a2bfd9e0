#!/usr/bin/python3
"""Both encoder output strides (14x14 and 7x7 attention grids) end to end, with one shipped model.

A stride-16 model has exactly the tensors of a stride-32 one; only the header differs (grid
14x14, encoder_output_stride 16 at offset 100; grid 7x7 and 0 for stride 32). So the test makes
the other-stride variant of the shipped model in a temporary folder, with captioner/model_file.py
(checked against patching the header bytes by hand). Of the two files, the stride-16 one is
checked as follows:

- the C program (`caption --beam 3`) and the PyTorch reference (tools/reference.py) give
  identical captions for the photos in assets/;
- the C encoder output (`test_model --features`) is 196 x 1280 and equals PyTorch's within
  1e-3 * max |ref| (the tolerance of tests/test_model.c); and its odd rows and columns are
  the stride-32 file's 7x7 C output within 1e-4 * max |ref| (the "a trous"
  identity, a check independent of PyTorch: block 13 at stride 1 puts stride-32 cell i at
  2i + 1, and dilation 2 keeps odd cells reading odd cells, the zero padding included);
- the C captioner reports a 14x14 grid, and its alpha of word 1 (tests/view_driver.c `info`)
  equals PyTorch's within 1e-5; `--attention-png` draws the figure; the jsonl records of
  `--attention` have grid [14, 14] and 196 weights per word, word 1's those of `info`;
- headers with stride field 8, with grid 14x14 but stride field 0, or grid 7x7 with stride
  field 16 are refused by both readers: the CLI exits 1 with one line naming the file.

usage: test_grid14.py CAPTION TEST_MODEL VIEW_DRIVER MODEL ASSETS
Needs PyTorch (Debian python3-torch); without it the test is skipped (exit 77).
"""
import json
import os
import struct
import subprocess
import sys
import tempfile
import unittest

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")

from optional_deps import skip_or_fail

try:
    import numpy as np
    import torch
    from captioner import mobilenet_v2, model_file, reference
    from captioner.image import load_rgb
except ImportError as e:
    skip_or_fail(e)

if len(sys.argv) != 6:
    sys.exit(__doc__)
CAPTION, TEST_MODEL, VIEW_DRIVER, MODEL, ASSETS = sys.argv[1:6]
del sys.argv[1:]
PHOTOS = [os.path.join(ASSETS, n) for n in
          ("cat_720p.jpg", "parrot.jpg", "pets.jpg", "bird.png", "sunflower.png")]
GRID_ROWS, GRID_COLS, STRIDE_FIELD = 28, 32, 100  # header offsets (models/README.md)
GRID_SIDE = {16: 14, 32: 7}  # output stride -> attention grid side for 224x224 input


def patched(data, rows, cols, stride_field):
    """The model file `data` with its grid and encoder_output_stride fields replaced."""
    out = bytearray(data)
    struct.pack_into("<I", out, GRID_ROWS, rows)
    struct.pack_into("<I", out, GRID_COLS, cols)
    struct.pack_into("<I", out, STRIDE_FIELD, stride_field)
    return bytes(out)


def run(*args):
    return subprocess.run(args, capture_output=True, text=True, timeout=240)


class Grid14(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        torch.set_num_threads(1)  # keep the test light on a shared machine
        cls.tmp = tempfile.TemporaryDirectory(prefix="test_grid14.")
        with open(MODEL, "rb") as f:
            cls.shipped = f.read()
        config, vocab, tensors = model_file.read_model(MODEL, keep_quantized=True)
        cls.shipped_config = dict(config)
        cls.shipped_stride = config["output_stride"]
        # The variant: the shipped file with the other stride; self.s16 / self.s32 name the files.
        variant_stride = 32 if cls.shipped_stride == 16 else 16
        cls.variant = os.path.join(cls.tmp.name, "stride%d.bin" % variant_stride)
        side = GRID_SIDE[variant_stride]
        config.update(grid_rows=side, grid_cols=side, output_stride=variant_stride)
        model_file.write_model(cls.variant, config, vocab, tensors)
        with open(cls.variant, "rb") as f:
            cls.variant_bytes = f.read()
        cls.s16, cls.s32 = ((MODEL, cls.variant) if cls.shipped_stride == 16
                            else (cls.variant, MODEL))
        cls.captioner = reference.Captioner(cls.s16)

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def write(self, name, data):
        path = os.path.join(self.tmp.name, name)
        with open(path, "wb") as f:
            f.write(data)
        self.addCleanup(os.unlink, path)
        return path

    def test_header_fields(self):
        stride = self.shipped_stride
        self.assertIn(stride, (16, 32))
        side = GRID_SIDE[stride]
        self.assertEqual(self.shipped[STRIDE_FIELD:STRIDE_FIELD + 4],
                         struct.pack("<I", 16 if stride == 16 else 0))
        self.assertEqual(self.shipped[GRID_ROWS:GRID_ROWS + 4], struct.pack("<I", side))
        # The writer's variant is the shipped file with only the three fields changed.
        other = 32 if stride == 16 else 16
        self.assertEqual(self.variant_bytes, patched(self.shipped, GRID_SIDE[other],
                                                     GRID_SIDE[other], 16 if other == 16 else 0))
        self.assertEqual(self.captioner.config["output_stride"], 16)

    def test_writer_rewrites_the_shipped_file_identically(self):
        config, vocab, tensors = model_file.read_model(MODEL, keep_quantized=True)
        path = os.path.join(self.tmp.name, "rewritten.bin")
        self.addCleanup(os.unlink, path)
        model_file.write_model(path, config, vocab, tensors)
        with open(path, "rb") as f:
            self.assertTrue(f.read() == self.shipped, "rewritten shipped file differs")

    def test_layer_geometry(self):
        # (stride, dilation) of blocks 0-16's depthwise convs: block 13 loses its stride 2,
        # blocks 14-16 are dilated by 2; stride 32 is the plain network.
        plain = [(2 if b in (1, 3, 6, 13) else 1, 1) for b in range(17)]
        self.assertEqual(mobilenet_v2.layer_strides(32), plain)
        self.assertEqual(mobilenet_v2.layer_strides(16),
                         plain[:13] + [(1, 1), (1, 2), (1, 2), (1, 2)])
        enc = self.captioner.encoder
        self.assertFalse(enc.blocks[13].residual)
        self.assertTrue(enc.blocks[14].residual and enc.blocks[15].residual)

    def test_captions_c_equal_pytorch(self):
        c = run(CAPTION, "--model", self.s16, "--beam", "3", *PHOTOS)
        self.assertEqual(c.returncode, 0, c.stderr)
        py = run("/usr/bin/python3", os.path.join(ROOT, "tools", "reference.py"), "--model",
                 self.s16, "--beam", "3", "--threads", "1", *PHOTOS)
        self.assertEqual(py.returncode, 0, py.stderr)
        self.assertEqual(len(c.stdout.splitlines()), len(PHOTOS))
        self.assertEqual(c.stdout, py.stdout)
        print("stride-16 captions (C == PyTorch):\n" + c.stdout, end="")

    def test_encoder_output_c_equal_pytorch(self):
        for photo in (PHOTOS[2], PHOTOS[3]):
            out = os.path.join(self.tmp.name, os.path.basename(photo) + ".f32")
            r = run(TEST_MODEL, "--features", self.s16, photo, out)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.addCleanup(os.unlink, out)
            self.assertEqual(r.stdout.split(), ["grid", "14", "14"])
            c = np.fromfile(out, dtype=np.float32)
            self.assertEqual(c.size, 196 * 1280)
            ref = self.captioner.features(load_rgb(photo)).numpy()
            self.assertEqual(ref.shape, (196, 1280))
            diff = float(np.abs(c.reshape(196, 1280) - ref).max())
            tol = 1e-3 * float(np.abs(ref).max())
            print("%s: encoder max |diff| %.3g, tolerance %.3g" % (
                os.path.basename(photo), diff, tol))
            self.assertLessEqual(diff, tol)

    def test_odd_cells_are_the_stride32_map(self):
        maps = {}
        for name, model in (("s16", self.s16), ("s32", self.s32)):
            out = os.path.join(self.tmp.name, name + ".f32")
            r = run(TEST_MODEL, "--features", model, PHOTOS[2], out)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.addCleanup(os.unlink, out)
            maps[name] = np.fromfile(out, dtype=np.float32)
        side = {"s16": 14, "s32": 7}
        s16, s32 = (maps[k].reshape(side[k], side[k], 1280) for k in ("s16", "s32"))
        diff = float(np.abs(s16[1::2, 1::2] - s32).max())
        tol = 1e-4 * float(np.abs(s32).max())  # same C code, only the GEMM shapes differ
        print("odd cells of the 14x14 map vs the 7x7 map: max |diff| %.3g, tolerance %.3g" % (
            diff, tol))
        self.assertLessEqual(diff, tol)
        # ...and the even cells are new information, not a copy.
        self.assertGreater(float(np.abs(s16[0::2, 0::2] - s32).max()), 100 * tol)

    def test_grid_and_attention(self):
        r = run(VIEW_DRIVER, self.s16, "info", PHOTOS[2], "1")
        self.assertEqual(r.returncode, 0, r.stderr)
        info = {line.split()[0]: line.split()[1:] for line in r.stdout.splitlines()}
        self.assertEqual(info["grid"], ["14", "14"])
        alpha = np.array([float(v) for v in info["alpha"]])
        self.assertEqual(alpha.size, 196)
        self.assertAlmostEqual(float(alpha.sum()), 1.0, places=4)
        a = self.captioner.features(load_rgb(PHOTOS[2]))
        best = self.captioner.beam_search(a.unsqueeze(0), beam=3)[0][0]
        ref = best["alphas"][0]
        self.assertEqual(ref.shape, (196,))
        self.assertLessEqual(float(np.abs(alpha - ref).max()), 1e-5)
        png = os.path.join(self.tmp.name, "attention.png")
        self.addCleanup(os.unlink, png)
        r = run(CAPTION, "--model", self.s16, "--attention-png", png, PHOTOS[2])
        self.assertEqual(r.returncode, 0, r.stderr)
        with open(png, "rb") as f:
            self.assertEqual(f.read(8), b"\x89PNG\r\n\x1a\n")
        r = run(CAPTION, "--model", self.s16, "--format", "jsonl", "--attention", PHOTOS[2])
        self.assertEqual(r.returncode, 0, r.stderr)
        rec = json.loads(r.stdout)
        self.assertEqual(rec["grid"], [14, 14])
        self.assertEqual({len(row) for row in rec["alpha"]}, {196})
        np.testing.assert_array_equal(np.array(rec["alpha"][0], dtype=np.float32),
                                      np.array(info["alpha"], dtype=np.float32))

    def test_bad_headers_rejected(self):
        cases = [("stride8.bin", 14, 14, 8, "output stride field 8"),
                 ("grid14_stride0.bin", 14, 14, 0, "grid 14x14, output stride 32"),
                 ("grid7_stride16.bin", 7, 7, 16, "grid 7x7, output stride 16")]
        for name, rows, cols, field, message in cases:
            path = self.write(name, patched(self.shipped, rows, cols, field))
            r = run(CAPTION, "--model", path, PHOTOS[2])
            self.assertEqual(r.returncode, 1, name)
            self.assertEqual(r.stdout, "")
            lines = r.stderr.splitlines()
            self.assertEqual(len(lines), 1, r.stderr)
            self.assertTrue(lines[0].startswith("caption: %s: " % path), lines[0])
            self.assertIn(message, lines[0])
            with self.assertRaisesRegex(ValueError, name):
                model_file.read_model(path)


if __name__ == "__main__":
    unittest.main(verbosity=2)
