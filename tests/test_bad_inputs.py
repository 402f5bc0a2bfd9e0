#!/usr/bin/python3
"""The bad-input corpus through the `caption` CLI: each case's exit status and
message, one case per row of CASES.

usage: test_bad_inputs.py CAPTION_EXE MODEL GOLDEN_DIR ASSETS_DIR
The corpus is generated at test time by tests/fixtures/make_bad_inputs.py (standard library only)
into a temporary folder. A failing file must give exit status 1, nothing on stdout, and
exactly one stderr line "caption: PATH: MESSAGE" containing the expected text; a file that
must work gives exit status 0, no stderr, and, where named, the same caption as a photo
in assets/ (tests/fixtures/golden/beam3.tsv).
"""
import importlib.util
import os
import subprocess
import sys
import tempfile
import time
import unittest

EXE, MODEL, GOLDEN, ASSETS = sys.argv[1:5]
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# (file in the corpus, what it is, exit status, stderr substring or None for success,
#  asset whose golden caption stdout must equal, or None).
# "image": `caption --model MODEL FILE`; "model": `caption --model FILE assets/pets.jpg`.
CASES = [
    ("truncated_half.jpg", "image", 1, "truncated or corrupt JPEG data: premature end", None),
    ("truncated_header.jpg", "image", 1, "truncated or corrupt JPEG data", None),
    ("truncated_progressive.jpg", "image", 1, "truncated or corrupt JPEG data", None),
    ("truncated_half.png", "image", 1, "truncated or corrupt PNG data: unexpected end", None),
    ("truncated_header.png", "image", 1, "truncated or corrupt PNG data", None),
    ("png_named.jpg", "image", 0, None, "bird.png"),
    ("jpeg_named.png", "image", 0, None, "pets.jpg"),
    ("text_named.jpg", "image", 1, "not a JPEG or PNG file", None),
    ("nul_bytes.png", "image", 1, "not a JPEG or PNG file", None),
    ("empty.jpg", "image", 1, "empty file", None),
    ("missing.jpg", "image", 1, "no such file or directory", None),
    ("unreadable.jpg", "image", 1, "permission denied", None),
    ("bomb_20000x20000.png", "image", 1,
     "image is 20000x20000 pixels, the limit is 100000000 pixels", None),
    ("bomb_20000x20000.jpg", "image", 1,
     "image is 20000x20000 pixels, the limit is 100000000 pixels", None),
    ("bomb_progressive_12000x9000.jpg", "image", 1,
     "image is 12000x9000 pixels, the limit is 100000000 pixels", None),
    ("chunk_length_1633771873.png", "image", 1, "truncated or corrupt PNG data", None),
    ("arith_progressive_444_10000x10000.jpg", "image", 1,
     "image is 10000x10000 pixels in 3 components stored in several scans: the JPEG decoder "
     "needs 572 MB for it, its limit is 318 MB", None),
    ("jpeg_progressive.jpg", "image", 0, None, None),
    ("jpeg_cmyk.jpg", "image", 0, None, None),
    ("jpeg_ycck.jpg", "image", 0, None, None),
    ("jpeg_gray.jpg", "image", 0, None, None),
    ("png_rgb16.png", "image", 0, None, None),
    ("png_gray16.png", "image", 0, None, None),
    ("png_interlaced.png", "image", 0, None, None),
    ("png_interlaced_rgba.png", "image", 0, None, None),
    ("png_palette_trns.png", "image", 0, None, None),
    ("png_gray_alpha.png", "image", 0, None, None),
    # EXIF orientation 6: captioned upright, i.e. as the original.
    ("phone_pets_o6.jpg", "image", 0, None, "pets.jpg"),
    ("model_truncated.bin", "model", 1, "file is 65536 bytes, header says", None),
    ("model_header_only.bin", "model", 1, "file too small to be a caption model (100 bytes)",
     None),
    ("model_empty.bin", "model", 1, "file too small to be a caption model (0 bytes)", None),
    ("model_foreign.bin", "model", 1, "not a caption model file (bad magic)", None),
    ("model_version3.bin", "model", 1, "model format version 3, this program reads versions 1 to 2",
     None),
    ("model_size_patched.bin", "model", 1, "lies outside the file", None),
    ("model_table_outside.bin", "model", 1, "tensor table lies outside the file", None),
    ("missing_model.bin", "model", 1, "cannot open model", None),
    (".", "model", 1, "model is not a regular file", None),
]


def run(*args):
    env = {k: v for k, v in os.environ.items() if k != "CAPTION_MODEL"}
    return subprocess.run([EXE, *args], capture_output=True, text=True, timeout=120, env=env)


def golden(name):
    with open(os.path.join(GOLDEN, "beam3.tsv")) as f:
        return {p: text for p, _, text in (l.rstrip("\n").split("\t") for l in f)}[name]


def load_generator():
    spec = importlib.util.spec_from_file_location(
        "make_bad_inputs", os.path.join(ROOT, "tests", "fixtures", "make_bad_inputs.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class BadInputs(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.dir = cls.tmp.name
        load_generator().make(cls.dir, MODEL)

    @classmethod
    def tearDownClass(cls):
        # The unreadable file must be deletable by a non-root user too.
        os.chmod(os.path.join(cls.dir, "unreadable.jpg"), 0o644)
        cls.tmp.cleanup()

    def check_case(self, name, kind, status, message, same_as):
        path = os.path.join(self.dir, name)
        if kind == "image":
            r = run("--model", MODEL, path)
        else:
            r = run("--model", path, os.path.join(ASSETS, "pets.jpg"))
        self.assertEqual(r.returncode, status, "%s: %r" % (name, r.stderr))
        if message is None:
            self.assertEqual(r.stderr, "", name)
            self.assertRegex(r.stdout, r"^[a-z0-9' -]+\n$", name)
            if same_as:
                self.assertEqual(r.stdout, golden(same_as) + "\n", name)
        else:
            self.assertEqual(r.stdout, "", name)
            lines = r.stderr.splitlines()
            self.assertEqual(len(lines), 1, "%s: %r" % (name, r.stderr))
            prefix = "caption: %s: " % path
            self.assertTrue(lines[0].startswith(prefix), "%s: %r" % (name, lines[0]))
            self.assertIn(message, lines[0][len(prefix):], name)

    def test_cases(self):
        self.assertGreaterEqual(len(CASES), 30)
        for case in CASES:
            if case[0] == "unreadable.jpg" and os.geteuid() == 0:
                continue  # root reads a mode-000 file; the case holds for everyone else
            with self.subTest(case=case[0]):
                self.check_case(*case)

    def refused_cheaply(self, name, want):
        """`caption FILE` exits 1 with the one line `want` in well under a second and
        200 MB. The peak RSS is the child's own, from wait4, whatever other children this
        process ran."""
        path = os.path.join(self.dir, name)
        env = {k: v for k, v in os.environ.items() if k != "CAPTION_MODEL"}
        with tempfile.TemporaryFile() as err:
            start = time.monotonic()
            child = subprocess.Popen([EXE, "--model", MODEL, path], stdout=subprocess.DEVNULL,
                                     stderr=err, env=env)
            _, status, usage = os.wait4(child.pid, 0)
            seconds = time.monotonic() - start
            child.returncode = os.waitstatus_to_exitcode(status)
            err.seek(0)
            message = err.read().decode()
        self.assertEqual(child.returncode, 1, message)
        self.assertEqual(message, "caption: %s: %s\n" % (path, want))
        self.assertLess(seconds, 1.0)
        self.assertLess(usage.ru_maxrss, 200 * 1024)  # kilobytes

    def test_declared_chunk_length_costs_nothing(self):
        """A 210-byte PNG whose pCAL chunk declares 1.6 GB (it once took 10 s and 1.6 GB)."""
        self.refused_cheaply("chunk_length_1633771873.png",
                             "truncated or corrupt PNG data: unexpected end of file")

    def test_jpeg_coefficient_buffer_is_bounded(self):
        """366 bytes of arithmetic-coded progressive JPEG whose coefficients alone need 572 MB
        (it once took 891 MB and over 13 s): refused before libjpeg allocates them."""
        self.refused_cheaply("arith_progressive_444_10000x10000.jpg",
                             "image is 10000x10000 pixels in 3 components stored in several "
                             "scans: the JPEG decoder needs 572 MB for it, its limit is 318 MB")

    def test_folder_named_like_a_photo_is_walked(self):
        r = run("--model", MODEL, os.path.join(self.dir, "folder.jpg"))
        self.assertEqual(r.returncode, 1)
        self.assertEqual(r.stdout, "")
        self.assertEqual(r.stderr, "caption: %s: not a JPEG or PNG file\n"
                         % os.path.join(self.dir, "folder.jpg", "notes.jpg"))
        r = run("--model", MODEL, os.path.join(self.dir, "empty_folder"))
        self.assertEqual((r.returncode, r.stdout, r.stderr), (0, "", ""))

    def test_bad_files_do_not_stop_a_batch(self):
        """Every image case in one run with two workers: each failure is one stderr line
        and one record carrying its message, every good image is captioned, and the
        records keep argument order."""
        images = [c for c in CASES if c[1] == "image" and
                  not (c[0] == "unreadable.jpg" and os.geteuid() == 0)]
        paths = [os.path.join(self.dir, c[0]) for c in images]
        r = run("--model", MODEL, "--format", "tsv", "-j", "2", *paths)
        self.assertEqual(r.returncode, 1, r.stderr)
        lines = r.stdout.splitlines()
        self.assertEqual(lines[0].split("\t")[1], "caption")
        # By name: a model with a tagger adds the columns tags and forced after error.
        err = lines[0].split("\t").index("error")
        rows = [line.split("\t") for line in lines[1:]]
        self.assertEqual([row[0] for row in rows], paths)
        errors = r.stderr.splitlines()
        for row, (name, _, status, message, same_as) in zip(rows, images):
            if message is None:
                self.assertNotEqual(row[1], "", name)
                self.assertEqual(row[err], "", name)
                if same_as:
                    self.assertEqual(row[1], golden(same_as), name)
            else:
                self.assertEqual(row[1], "", name)
                self.assertIn(message, row[err], name)
                self.assertIn("caption: %s: %s" % (row[0], row[err]), errors, name)
        self.assertEqual(len(errors), sum(1 for c in images if c[3] is not None))

if __name__ == "__main__":
    unittest.main(argv=sys.argv[:1])
