#!/usr/bin/python3
"""The version-2 upgrade (captioner/open_vocab.py, tools/add_open_vocab.py): the tagger tensors
are the TFLite classifier's, the class table is the class -> words table, every class word form
is one token, each added token's decoder rows are copies of its source word's, the trained
tokens' rows and every other tensor are unchanged, and the shipped file is exactly the upgrade
of its version-1 self.

Needs PyTorch, ../shared/pretrained/mobilenet_v2 and WordNet (/usr/share/wordnet); without them
the test is skipped (exit 77) and says why.
"""
import os
import subprocess
import sys
import tempfile
import unittest

from optional_deps import skip_or_fail

try:
    import numpy as np
    import torch
    from captioner import class_words as cw
    from captioner import mobilenet_v2, model_file, open_vocab, wordnet
    from captioner.paths import DEFAULT_MODEL, ROOT, TFLITE
except ImportError as e:
    skip_or_fail(e)

for need in (TFLITE, cw.LABELS, os.path.join(wordnet.WORDNET_DIR, "data.noun")):
    if not os.path.exists(need):
        print("SKIP: %s not found" % need)
        sys.exit(77)

SPECIALS = ["<pad>", "<start>", "<end>", "<unk>"]


def downgrade(config, vocab, tensors):
    """A version-2 model's version-1 self: the trained words and rows, no tagger."""
    V0 = config["base_vocab_size"]
    cfg = dict(config, vocab_size=V0, classes=None, tagger_head_start=0, base_vocab_size=V0,
               version=1)
    out = {k: (v[:V0] if k in open_vocab.WORD_ROWS else v)
           for k, v in tensors.items() if not k.startswith("tagger.")}
    return cfg, vocab[:V0], out


class SmallUpgrade(unittest.TestCase):
    """A made-up version-1 model: the TFLite trunk, a small vocabulary, random decoder rows."""

    @classmethod
    def setUpClass(cls):
        torch.set_num_threads(1)
        cls.wn = wordnet.load()
        cls.tagger, trunk = open_vocab.tagger_tensors()
        cls.vocab = SPECIALS + ["a", "an", "the", "dog", "hot", "bird", "birds", "fish",
                                "animal", "animals", "object", "cat", "seal", "kite"]
        V, E = len(cls.vocab), 8
        rng = np.random.default_rng(1)
        cls.tensors = dict(trunk)
        cls.tensors.update({
            "encoder.conv1.conv.weight": rng.standard_normal((1280, 320, 1, 1)).astype(np.float32),
            "decoder.embedding.weight": rng.standard_normal((V, E)).astype(np.float32),
            "decoder.lstm.weight_ih": rng.standard_normal((4, 3)).astype(np.float32),
            "decoder.out_logits.weight": rng.standard_normal((V, E)).astype(np.float32),
            "decoder.out_logits.bias": rng.standard_normal(V).astype(np.float32)})
        cls.config = {k: 1 for k in model_file.CONFIG_KEYS}
        cls.config.update(vocab_size=V, grid_rows=7, grid_cols=7, input_size=224,
                          token_pad=0, token_start=1, token_end=2, token_unk=3)
        cls.out = open_vocab.upgrade(cls.config, cls.vocab, cls.tensors, wn=cls.wn)
        cls.table = cw.read_table()

    def test_every_class_word_is_one_token(self):
        config, vocab, _, classes = self.out
        self.assertEqual(config["base_vocab_size"], len(self.vocab))
        self.assertEqual(vocab[:len(self.vocab)], self.vocab)
        self.assertEqual(len(vocab), len(set(vocab)))
        self.assertEqual(config["vocab_size"], len(vocab))
        self.assertEqual(len(classes), 1001)
        self.assertEqual(classes[0], (-1, -1, "background"))
        labels = open_vocab.read_labels()
        for r in self.table:
            sing, plural, label = classes[r["imagenet_idx"] + 1]
            self.assertEqual(label, labels[r["imagenet_idx"] + 1])
            if r["word"] and plural == sing and r["plural"] != r["word"]:
                # no trained plural to copy the plural's rows from: the class has none
                self.assertEqual(vocab[sing], r["word"])
                self.assertNotIn(r["plural"], vocab)
            elif r["word"]:
                self.assertEqual((vocab[sing], vocab[plural]), (r["word"], r["plural"]))
            else:
                self.assertEqual((sing, plural), (-1, -1))
        # a word of several words is one token even when its parts are trained words
        self.assertIn("hot dog", vocab)
        self.assertEqual(classes[self.idx("hot dog") + 1][0], vocab.index("hot dog"))

    def idx(self, word):
        return next(r["imagenet_idx"] for r in self.table if r["word"] == word)

    def test_rows_copied_from_the_source(self):
        config, vocab, tensors, _ = self.out
        V0 = len(self.vocab)
        transfers = config["transfers"]
        self.assertEqual([w for w, _, _ in transfers], vocab[V0:])
        for word, source, k in transfers:
            self.assertIn(source, self.vocab)
            self.assertNotIn(source, SPECIALS)
            self.assertNotIn(" ", source)
            for name in open_vocab.WORD_ROWS:
                np.testing.assert_array_equal(tensors[name][vocab.index(word)],
                                              self.tensors[name][self.vocab.index(source)],
                                              err_msg="%s %s" % (word, name))
        src = {w: s for w, s, _ in transfers}
        self.assertEqual(src["owl"], "bird")
        self.assertEqual(src["owls"], "birds")    # the source's plural when it is trained
        # else the plural of the first word up the walk whose plural is trained; never a
        # copy of a singular's rows, which would tie with it everywhere ("a unicycles")
        self.assertEqual(src["sea lions"], "animals")  # "seal" is trained, "seals" is not
        for word, source in src.items():
            if word.endswith("s") and word != source:
                self.assertNotEqual(source + "s", word, word)
        self.assertEqual(src["goldfish"], "fish")

    def test_other_tensors_unchanged(self):
        _, _, tensors, _ = self.out
        V0 = len(self.vocab)
        for name, arr in self.tensors.items():
            got = tensors[name][:V0] if name in open_vocab.WORD_ROWS else tensors[name]
            self.assertEqual(got.dtype, np.float32)
            np.testing.assert_array_equal(got, arr, err_msg=name)
        full = mobilenet_v2.load_from_tflite(TFLITE, with_classifier=True)
        floats = {"tagger." + k: v.numpy() for k, v in full.state_dict().items()}
        for name, arr in self.tagger.items():
            got = tensors[name]
            if name.endswith(".weight"):
                # the TFLite file's uint8 weights as they are, the same values as its floats
                self.assertIsInstance(got, model_file.Quantized, name)
                np.testing.assert_array_equal(got.q, arr.q, err_msg=name)
                self.assertEqual((got.scale, got.zero_point), (arr.scale, arr.zero_point))
                got = got.dequantized()
            np.testing.assert_array_equal(got, floats[name], err_msg=name)
        self.assertEqual(tensors["tagger.classifier.weight"].shape, (1001, 1280, 1, 1))
        self.assertEqual(tensors["tagger.conv1.conv.weight"].shape, (1280, 320, 1, 1))
        self.assertEqual(sorted({k.split(".")[2] for k in tensors if k.startswith("tagger.b")}),
                         ["13", "14", "15", "16"])

    def test_other_trunk_refused(self):
        tensors = dict(self.tensors)
        w = tensors["encoder.blocks.12.project.conv.weight"].copy()
        w.flat[0] += 1e-3
        tensors["encoder.blocks.12.project.conv.weight"] = w
        with self.assertRaisesRegex(ValueError, "blocks.12.project.conv.weight differs"):
            open_vocab.upgrade(self.config, self.vocab, tensors, wn=self.wn)
        with self.assertRaisesRegex(ValueError, "already"):
            open_vocab.upgrade(self.out[0], self.out[1], self.out[2], wn=self.wn)


@unittest.skipUnless(os.path.exists(DEFAULT_MODEL), "no shipped model")
class ShippedModel(unittest.TestCase):
    def test_shipped_file_is_the_upgrade_of_its_version1_self(self):
        with open(DEFAULT_MODEL, "rb") as f:
            shipped = f.read()
        config, vocab, tensors = model_file.read_model(DEFAULT_MODEL)
        self.assertEqual(config["version"], 2)
        self.assertEqual(config["tagger_head_start"], 13)
        with tempfile.TemporaryDirectory() as tmp:
            v1, v2 = os.path.join(tmp, "v1.bin"), os.path.join(tmp, "v2.bin")
            tsv = os.path.join(tmp, "transferred.tsv")
            model_file.write_model(v1, *downgrade(config, vocab, tensors))
            env = dict(os.environ, PYTHONPATH=os.path.join(ROOT, "tools"))
            tool = [sys.executable, os.path.join(ROOT, "tools", "add_open_vocab.py")]
            r = subprocess.run(tool + [v1, v2, "--transfers", tsv], env=env,
                               capture_output=True, text=True)
            self.assertEqual(r.returncode, 0, r.stderr)
            with open(v2, "rb") as f:
                self.assertTrue(f.read() == shipped, "the upgrade differs from the shipped file")
            with open(tsv) as f, open(open_vocab.TRANSFERRED) as g:
                self.assertEqual(f.read(), g.read(), "tools/data/transferred_words.tsv is stale")
            # a version-2 input is refused with one line
            r = subprocess.run(tool + [v2, os.path.join(tmp, "v3.bin"), "--transfers", ""],
                               env=env, capture_output=True, text=True)
            self.assertEqual(r.returncode, 1)
            self.assertEqual(len(r.stderr.splitlines()), 1, r.stderr)
            self.assertIn("already format version 2", r.stderr)
            self.assertFalse(os.path.exists(os.path.join(tmp, "v3.bin")))


if __name__ == "__main__":
    unittest.main(verbosity=2)
