#!/usr/bin/python3
"""Per-word attention in the jsonl records (`caption --format jsonl --attention`, issue 17):

- each record of a captioned photo has "words" (joined by spaces: the caption; as many as
  "tokens"), "alpha" (a list of rows*cols weights per word, each list summing to 1),
  "beta" (one gate in (0, 1) per word) and "grid" ([rows, cols] = cap_model_grid, which
  tests/view_driver.c `info` prints as model_grid);
- alpha is the library's cap_caption.alpha exactly (printed %.9g, read back as float32), against
  view_driver `info`'s alpha of the first and the last word;
- "tags" and "forced" stay (with a tagger model), --no-tags drops only them;
- without --attention the records have none of the keys (nothing is copied or written);
- --attention with the text, tsv or csv format, --view or --attention-png: one line on stderr,
  exit status 2.
The byte layout of the keys, and the weights' round trip on awkward floats, are checked by the C
test `records` on records filled by hand.

usage: test_attention.py CAPTION VIEW_DRIVER MODEL ASSETS
"""
import json
import os
import subprocess
import sys
import unittest

import numpy as np

if len(sys.argv) != 5:
    sys.exit(__doc__)
CAPTION, VIEW_DRIVER, MODEL, ASSETS = sys.argv[1:5]
del sys.argv[1:]
PHOTOS = [os.path.join(ASSETS, n) for n in ("pets.jpg", "bird.png")]
ATTENTION_KEYS = ("words", "alpha", "beta", "grid")


def run(*args):
    env = {k: v for k, v in os.environ.items() if k != "CAPTION_MODEL"}
    return subprocess.run([CAPTION, "--model", MODEL, *args], capture_output=True, text=True,
                          timeout=120, env=env)


def jsonl(*args):
    r = run("--format", "jsonl", *args, *PHOTOS)
    assert r.returncode == 0, r.stderr
    return [json.loads(line) for line in r.stdout.splitlines()]


def driver_info(photo, k):
    """view_driver `info` of the best caption's word k (1-based): {key: [values]}."""
    r = subprocess.run([VIEW_DRIVER, MODEL, "info", photo, str(k)], capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    return {line.split()[0]: line.split()[1:] for line in r.stdout.splitlines()}


class Attention(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        # -j 1: one job with the BLAS threads view_driver has, as a single image gets.
        cls.recs = jsonl("--attention", "-j", "1")

    def test_shapes_and_sums(self):
        for rec in self.recs:
            rows, cols = rec["grid"]
            n = rec["tokens"]
            self.assertEqual(len(rec["words"]), n)
            self.assertEqual(len(rec["alpha"]), n)
            self.assertEqual(len(rec["beta"]), n)
            self.assertEqual(" ".join(rec["words"]), rec["caption"])
            alpha = np.array(rec["alpha"], dtype=np.float64)
            self.assertEqual(alpha.shape, (n, rows * cols))
            self.assertLessEqual(float(np.abs(alpha.sum(axis=1) - 1).max()), 1e-5, rec["path"])
            self.assertTrue(np.all(alpha >= 0))
            beta = np.array(rec["beta"])
            self.assertTrue(np.all((beta > 0) & (beta < 1)), rec["beta"])

    def test_alpha_is_the_librarys(self):
        for rec in self.recs:
            n = rec["tokens"]
            for k in sorted({1, n}):
                info = driver_info(rec["path"], k)
                self.assertEqual(rec["grid"], [int(v) for v in info["model_grid"]])
                self.assertEqual(int(info["words"][0]), n)
                want = np.array(info["alpha"], dtype=np.float32)
                got = np.array(rec["alpha"][k - 1], dtype=np.float32)
                np.testing.assert_array_equal(got, want, "%s word %d" % (rec["path"], k))

    def test_tags_kept(self):
        with_tags = [r for r in self.recs if "tags" in r]
        for rec in with_tags:
            self.assertIn("forced", rec)
        plain = jsonl("--attention", "--no-tags")
        for rec, before in zip(plain, self.recs):
            self.assertNotIn("tags", rec)
            self.assertNotIn("forced", rec)
            if before.get("forced") is None:  # the same search without a forced word
                self.assertEqual(rec["caption"], before["caption"])
                self.assertEqual(rec["alpha"], before["alpha"])

    def test_absent_unless_asked(self):
        for rec in jsonl():
            for key in ATTENTION_KEYS:
                self.assertNotIn(key, rec)

    def test_refused_combinations(self):
        for args in (["--attention"], ["--attention", "--format", "text"],
                     ["--attention", "--format", "tsv"], ["--attention", "--format", "csv"],
                     ["--attention", "--format", "jsonl", "--view"],
                     ["--attention", "--format", "jsonl", "--attention-png", "/nonexistent/x.png"]):
            r = run(*args, PHOTOS[0])
            self.assertEqual(r.returncode, 2, args)
            self.assertEqual(r.stdout, "", args)
            self.assertEqual(r.stderr.count("\n"), 1, (args, r.stderr))
            self.assertIn("--attention goes with --format jsonl", r.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
