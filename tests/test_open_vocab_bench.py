#!/usr/bin/python3
"""The pure parts of tools/open_vocab_bench.py and captioner/records.py: which tag options a
`caption --help` offers, the settings (rows) that follow, --thresholds, the evenly spaced
--limit subset, per-group naming with a stand-in judge (no WordNet), the forced fraction, the
failure examples and the table. No caption program, no shared data, no PyTorch.
"""
import json
import os
import tempfile
import unittest

import open_vocab_bench as bench
from captioner import naming, records

OLD_HELP = """usage: caption [OPTIONS] IMAGE|DIR|-...
  -b, --beam N       beam size, 1 = greedy (default 3)
      --no-repeat-ngram N  never repeat an N-word sequence within a caption
"""
NEW_HELP = OLD_HELP + """      --tags N       report the N most probable tags (default 5, 0 = no tagger)
      --tag-threshold T  force the top tag's word when its probability >= T
      --no-tags      no tags, no forced words: the plain search
"""


class FakeJudge:
    """Names a photo when its caption has the word of its class; groups by class index."""
    WORDS = {0: "fish", 1: "dog", 2: "cat", 3: "owl", 4: "bus"}
    GROUP = {0: "other", 1: "dogs", 2: "cats", 3: "birds", 4: "other"}

    def names(self, caption, idx):
        return self.WORDS[idx] in caption.split()

    def group_of(self, idx):
        return self.GROUP[idx]


def manifest(*idxs):
    return [{"file": "p%d.jpg" % i, "imagenet_idx": str(idx), "names": "class %d" % idx}
            for i, idx in enumerate(idxs)]


class Flags(unittest.TestCase):
    def test_old_program(self):
        self.assertEqual(bench.parse_help(OLD_HELP),
                         {"no_tags": False, "tag_threshold": False, "tags": False})

    def test_new_program(self):
        self.assertEqual(bench.parse_help(NEW_HELP),
                         {"no_tags": True, "tag_threshold": True, "tags": True})

    def test_no_prefix_matches(self):
        # --tag-threshold alone is not --tags; --no-tags-ever is not --no-tags
        got = bench.parse_help("  --tag-threshold T\n  --no-tags-ever\n  --tagsx\n")
        self.assertEqual(got, {"no_tags": False, "tag_threshold": True, "tags": False})

    def test_settings_new(self):
        rows, notes = bench.make_settings(bench.parse_help(NEW_HELP), [0.3, 0.5])
        self.assertEqual([r[1] for r in rows], ["tags", "no-tags", "t0.3", "t0.5"])
        self.assertEqual(rows[0][2], [])
        self.assertEqual(rows[1][2], ["--no-tags"])
        self.assertEqual(rows[3][2], ["--tag-threshold", "0.5"])
        self.assertEqual(notes, [])

    def test_settings_old(self):
        rows, notes = bench.make_settings(bench.parse_help(OLD_HELP), [0.3])
        self.assertEqual(rows, [("plain", "plain", [])])
        self.assertEqual(len(notes), 2)
        self.assertIn("--no-tags", notes[0])
        self.assertIn("0.3", notes[1])

    def test_settings_without_sweep(self):
        rows, notes = bench.make_settings(bench.parse_help(NEW_HELP))
        self.assertEqual(len(rows), 2)
        self.assertEqual(notes, [])

    def test_thresholds(self):
        self.assertEqual(bench.parse_thresholds("0.5, 0.3,0.5,"), [0.3, 0.5])
        for bad in ("-0.1", "nan", "inf", "x", ","):
            with self.assertRaises(ValueError, msg=bad):
                bench.parse_thresholds(bad)


class Subset(unittest.TestCase):
    def test_subset(self):
        items = list(range(10))
        self.assertEqual(bench.subset(items, None), items)
        self.assertEqual(bench.subset(items, 10), items)
        self.assertEqual(bench.subset(items, 50), items)
        self.assertEqual(bench.subset(items, 5), [0, 2, 4, 6, 8])
        self.assertEqual(bench.subset(items, 1), [0])
        self.assertEqual(len(set(bench.subset(range(500), 37))), 37)


class Naming(unittest.TestCase):
    def setUp(self):
        self.man = manifest(0, 1, 1, 2, 3, 4)
        caps = ["a fish", "a dog runs", "a cat", "a cat", "an owl", "a dog"]
        self.recs = {r["file"]: {"path": "/x/" + r["file"], "caption": c,
                                 "tags": [{"class": 7, "label": "L", "word": "w", "p": 0.25}],
                                 "forced": None}
                     for r, c in zip(self.man, caps)}

    def test_groups(self):
        res = bench.naming_result(FakeJudge(), self.man, self.recs)
        self.assertEqual(res["named"], [True, True, False, True, True, False])
        rates = res["rates"]
        self.assertEqual(rates["dogs"][:2], [1, 2])
        self.assertEqual(rates["cats"][:2], [1, 1])
        self.assertEqual(rates["birds"][:2], [1, 1])
        self.assertEqual(rates["other"][:2], [1, 2])
        self.assertEqual(rates["all"], [4, 6, 4 / 6])
        self.assertEqual(list(rates), list(naming.GROUP_NAMES) + ["all"])

    def test_empty_group_has_no_rate(self):
        res = bench.naming_result(FakeJudge(), self.man[:1], self.recs)
        self.assertEqual(res["rates"]["cats"], [0, 0, None])
        self.assertEqual(bench.cell({"imagenet": {"naming": res["rates"]}}, "imagenet", "cats"),
                         "-")

    def test_missing_caption(self):
        del self.recs[self.man[2]["file"]]
        with self.assertRaisesRegex(ValueError, "no caption for 1 photos"):
            bench.naming_result(FakeJudge(), self.man, self.recs, "f.jsonl")

    def test_failed_image_is_not_named(self):
        self.recs[self.man[0]["file"]] = {"path": "x", "error": "corrupt"}
        self.assertFalse(bench.naming_result(FakeJudge(), self.man, self.recs)["named"][0])

    def test_examples(self):
        res = bench.naming_result(FakeJudge(), self.man, self.recs)
        ex = bench.pick_examples(FakeJudge(), self.man, self.recs, res["named"], 3)
        self.assertEqual([e["file"] for e in ex["dogs"]], [self.man[2]["file"]])
        self.assertEqual([e["file"] for e in ex["other"]], [self.man[5]["file"]])
        self.assertEqual(ex["cats"], [])
        self.assertEqual(ex["dogs"][0]["top_tag"], "L (w) p=0.25")
        self.assertEqual(ex["dogs"][0]["names"], "class 1")
        text = bench.format_examples(ex)
        self.assertIn("a cat", text)
        self.assertIn("cats (0 shown):", text)


class Records(unittest.TestCase):
    def test_forced_fraction(self):
        self.assertIsNone(records.forced_fraction([]))
        self.assertIsNone(records.forced_fraction([{"caption": "a"}]))  # no tags yet
        self.assertEqual(records.forced_fraction(
            [{"forced": "cat"}, {"forced": None}, {"forced": None}, {"forced": "owl"}]), 0.5)

    def test_top_tag(self):
        self.assertEqual(records.top_tag({"caption": "a"}), "-")
        self.assertEqual(records.top_tag({"tags": []}), "-")
        self.assertEqual(records.top_tag({"tags": [{"class": 3, "label": "tiger shark",
                                                    "word": "", "p": 0.5}]}), "tiger shark p=0.50")

    def test_read_jsonl_and_text(self):
        with tempfile.TemporaryDirectory() as d:
            j = os.path.join(d, "a.jsonl")
            with open(j, "w") as f:
                f.write(json.dumps({"path": "/p/x.jpg", "caption": "a dog", "forced": "dog"})
                        + "\n\n" + json.dumps({"path": "/p/y.jpg", "error": "bad"}) + "\n")
            recs = records.read_records(j)
            self.assertEqual(sorted(recs), ["x.jpg", "y.jpg"])
            self.assertEqual(recs["x.jpg"]["forced"], "dog")
            self.assertEqual(records.read_captions(j), {"x.jpg": "a dog", "y.jpg": ""})
            t = os.path.join(d, "a.tsv")
            with open(t, "w") as f:
                f.write("/p/x.jpg\ta dog\tand a tab\n")
            self.assertEqual(records.read_captions(t), {"x.jpg": "a dog\tand a tab"})


class Table(unittest.TestCase):
    def test_cells_and_alignment(self):
        rates = {g: [1, 2, 0.5] for g in naming.GROUP_NAMES + ("all",)}
        results = [
            {"setting": "default (tags)",
             "imagenet": {"naming": rates, "forced": 0.25},
             "coco": {"BLEU-4": 0.12345, "CIDEr-D": 0.4567, "forced": 0.0}},
            {"setting": "plain", "imagenet": {"naming": rates, "forced": None},
             "coco": {"BLEU-4": 0.1, "CIDEr-D": 0.5, "forced": None}},
        ]
        lines = bench.format_table(results).split("\n")
        self.assertEqual(len(lines), 4)
        self.assertTrue(lines[0].startswith("setting"))
        for h, _, _ in bench.COLUMNS:
            self.assertIn(h, lines[0])
        cells = lines[2].split("  ")
        row = [c.strip() for c in cells if c.strip()]
        self.assertEqual(row, ["default (tags)", "50.0", "50.0", "50.0", "50.0", "50.0",
                               "12.35", "0.457", "-", "-", "25.0", "0.0", "-"])
        row = lines[3].split()
        self.assertEqual(row[-3:], ["-", "-", "-"])  # forced unknown, no Flickr8k dev
        # right-aligned numbers: every line ends at the same column
        self.assertEqual(len({len(l) for l in lines}), 1)


if __name__ == "__main__":
    unittest.main()
