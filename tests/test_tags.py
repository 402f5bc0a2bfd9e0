#!/usr/bin/python3
"""Tags through the CLI with a model that has a tagger (issue 16): jsonl "tags" and "forced",
--tags N, --tag-threshold, --no-tags, the TSV/CSV tag columns and --resume.

usage: test_tags.py CAPTION_EXE MODEL ASSETS_DIR
$CAPTION_TAGS_MODEL, when set, replaces MODEL (to try a version-2 file before it is shipped).
Exits 77 (skipped) when the model file has no tagger: a version-1 file, or a version-2 one
with tagger_head_start 0 (docs/file-format.md: u32 version at byte 8, u32 tagger_head_start at
byte 104). The formats themselves are checked byte for byte by the C test `records`, on
results filled by hand, so they are covered with any model.
"""
import csv
import io
import json
import os
import re
import struct
import subprocess
import sys
import tempfile
import unittest

EXE, MODEL, ASSETS = sys.argv[1:4]
MODEL = os.environ.get("CAPTION_TAGS_MODEL") or MODEL
PHOTOS = ["pets.jpg", "bird.png", "sunflower.png", "parrot.jpg", "cat_720p.jpg"]
PLAIN_KEYS = ["path", "caption", "tokens", "logprob", "finished", "width", "height", "ms"]


def has_tagger(path):
    """(version, tagger_head_start) read from the model file's header."""
    with open(path, "rb") as f:
        head = f.read(108)
    if len(head) < 108:
        return False, "shorter than a header"
    version, = struct.unpack_from("<I", head, 8)
    start, = struct.unpack_from("<I", head, 104)
    if version < 2 or start == 0:
        return False, "format version %d, tagger_head_start %d" % (version, start)
    return True, ""


def run(*args):
    env = {k: v for k, v in os.environ.items() if k != "CAPTION_MODEL"}
    return subprocess.run([EXE, "--model", MODEL, *args], capture_output=True, text=True,
                          timeout=300, env=env)


def photos():
    return [os.path.join(ASSETS, p) for p in PHOTOS]


def jsonl(*args):
    r = run("--format", "jsonl", *args, *photos())
    assert r.returncode == 0, r.stderr
    return [json.loads(line) for line in r.stdout.splitlines()]


# word -> plural, from the table the model file's class table is made from.
CLASS_WORDS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools", "data",
                           "imagenet_class_words.tsv")


def plurals():
    with open(CLASS_WORDS) as f:
        rows = [line.rstrip("\n").split("\t") for line in f][1:]
    return {r[2]: r[3] for r in rows if r[2]}


PLURALS = plurals()


def names(word, caption):
    """The caption holds the word or its plural ("hot dog" is one token with a space in its
    text, so whole words of the joined text are matched)."""
    forms = [word, PLURALS.get(word, word + "s")]
    return any(re.search(r"(^| )%s( |$)" % re.escape(f), caption) for f in forms)


class Tags(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.default = jsonl()

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def check_tags(self, rec, n):
        tags = rec["tags"]
        self.assertEqual(len(tags), n, rec["path"])
        for t in tags:
            self.assertEqual(sorted(t), ["class", "label", "p", "word"])
            self.assertIsInstance(t["class"], int)
            self.assertTrue(0 <= t["class"] <= 999, t)
            self.assertIsInstance(t["label"], str)
            self.assertNotEqual(t["label"], "")
            self.assertTrue(t["word"] is None or (isinstance(t["word"], str) and t["word"]), t)
            self.assertTrue(0.0 <= t["p"] <= 1.0, t)
            self.assertEqual(t["p"], float("%.4g" % t["p"]), "4 significant digits")
        order = [(-t["p"], t["class"]) for t in tags]
        self.assertEqual(order, sorted(order), "best first, ties by class")
        self.assertEqual(len({t["class"] for t in tags}), n, "each class once")
        self.assertLessEqual(sum(t["p"] for t in tags), 1.0 + 1e-3)
        self.assertIn("forced", rec)

    def test_default_five_tags_and_forced_key(self):
        for rec in self.default:
            self.assertEqual(list(rec)[:len(PLAIN_KEYS)], PLAIN_KEYS)
            self.assertEqual(list(rec)[len(PLAIN_KEYS):], ["tags", "forced"])
            self.check_tags(rec, 5)
            if rec["forced"] is not None:
                self.assertTrue(names(rec["forced"], rec["caption"]), rec)

    def test_tags_n(self):
        for n in (1, 3, 20):
            recs = jsonl("--tags", str(n))
            for rec, five in zip(recs, self.default):
                self.check_tags(rec, n)
                k = min(n, 5)  # the same classes, best first, whatever N
                self.assertEqual([t["class"] for t in rec["tags"][:k]],
                                 [t["class"] for t in five["tags"][:k]])

    def test_no_tags_is_the_plain_record(self):
        for args in (["--no-tags"], ["--tags", "0"]):
            for rec in jsonl(*args):
                self.assertEqual(list(rec), PLAIN_KEYS, args)

    def test_threshold_above_1_never_forces_and_keeps_plain_captions(self):
        plain = jsonl("--no-tags")
        for rec, p in zip(jsonl("--tag-threshold", "1.5"), plain):
            self.check_tags(rec, 5)
            self.assertIsNone(rec["forced"], rec)
            self.assertEqual(rec["caption"], p["caption"])

    def test_threshold_0_forces_a_tag_word(self):
        forced = 0
        for rec in jsonl("--tag-threshold", "0", "--tags", "20"):
            if rec["forced"] is None:
                continue  # the constrained search found no caption within --max-len
            forced += 1
            self.assertIn(rec["forced"], {t["word"] for t in rec["tags"]}, rec)
            self.assertTrue(names(rec["forced"], rec["caption"]), rec)
        self.assertGreater(forced, 0, "no photo got a forced word at threshold 0")

    def test_tsv_and_csv_columns_match_jsonl(self):
        want = {r["path"]: r for r in self.default}
        r = run("--format", "csv", *photos())
        self.assertEqual(r.returncode, 0, r.stderr)
        rows = list(csv.DictReader(io.StringIO(r.stdout, newline="")))
        self.assertEqual(list(rows[0])[-3:], ["path_bytes", "tags", "forced"])
        r = run("--format", "tsv", *photos())
        self.assertEqual(r.returncode, 0, r.stderr)
        lines = r.stdout.splitlines()
        self.assertEqual(lines[0].split("\t")[-3:], ["error", "tags", "forced"])
        tsv_rows = [dict(zip(lines[0].split("\t"), line.split("\t"))) for line in lines[1:]]
        for row in rows + tsv_rows:
            rec = want[row["path"]]
            cell = [(name, float(p)) for name, p in
                    (item.split(":") for item in row["tags"].split(";"))]
            self.assertEqual([p for _, p in cell], [t["p"] for t in rec["tags"]])
            self.assertEqual([n for n, _ in cell],
                             [t["word"] or t["label"].split(",")[0] for t in rec["tags"]])
            self.assertEqual(row["forced"], rec["forced"] or "")

    def test_no_tags_csv_has_the_plain_columns(self):
        r = run("--format", "csv", "--no-tags", *photos())
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.splitlines()[0],
                         "path,caption,tokens,logprob,finished,width,height,ms,error,path_bytes")

    def test_resume_with_tags(self):
        for fmt in ("jsonl", "csv", "tsv"):
            out = os.path.join(self.tmp.name, "part." + fmt)
            r = run("--format", fmt, "-o", out, *photos()[:2])
            self.assertEqual(r.returncode, 0, r.stderr)
            r = run("--format", fmt, "-o", out, "--resume", "--no-tags", *photos())
            self.assertEqual(r.returncode, 0, r.stderr)
            with open(out, newline="") as f:
                text = f.read()
            if fmt == "jsonl":
                recs = [json.loads(line) for line in text.splitlines()]
                self.assertEqual([r["path"] for r in recs], photos())
                self.assertEqual(["tags" in r for r in recs], [True, True, False, False, False])
            else:
                sep = "," if fmt == "csv" else "\t"
                rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=sep,
                                       quoting=csv.QUOTE_MINIMAL if sep == "," else
                                       csv.QUOTE_NONE))
                self.assertEqual(rows[0][-2:], ["tags", "forced"], fmt)
                self.assertEqual([r[0] for r in rows[1:]], photos())
                self.assertEqual([len(r) for r in rows[1:]], [len(rows[0])] * len(PHOTOS))
                self.assertEqual([r[-2] != "" for r in rows[1:]],
                                 [True, True, False, False, False], fmt)


if __name__ == "__main__":
    ok, why = has_tagger(MODEL)
    if not ok:
        print("SKIP: %s has no tagger (%s); the tags are checked with a model file of format "
              "version 2 with a tagger (set CAPTION_TAGS_MODEL to try one)" % (MODEL, why))
        sys.exit(77)
    unittest.main(argv=sys.argv[:1])
