#!/usr/bin/python3
"""The tagger (captioner/tagger.py): the original TFLite classifier as a frozen branch on the
captioner's trunk. Its top-1 on the shipped photos in assets/ is the expected kind of class
(judged with the naming judge's coarse groups and table words), its trunk is the shipped model's
frozen trunk, and on trunk features it equals the full TFLite classifier.

Needs PyTorch (Debian python3-torch), ../shared/pretrained/mobilenet_v2 and WordNet
(/usr/share/wordnet); without them the test is skipped (exit 77) and says why.
"""
import os
import sys
import unittest

from optional_deps import skip_or_fail

try:
    import torch
    from captioner import mobilenet_v2, model_file, tagger
    from captioner.image import load_rgb
    from captioner.paths import ASSETS, DEFAULT_MODEL, TFLITE
except ImportError as e:
    skip_or_fail(e)
from captioner import wordnet  # noqa: E402

for need in (TFLITE, os.path.join(wordnet.WORDNET_DIR, "data.noun")):
    if not os.path.exists(need):
        print("SKIP: %s not found" % need)
        sys.exit(77)

from captioner import class_words as cw  # noqa: E402
from captioner import naming  # noqa: E402


class Tagger(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        torch.set_num_threads(2)
        cls.tagger = tagger.Tagger()
        cls.judge = naming.Judge()
        cls.table = cw.read_table()

    def top(self, name, k=3):
        p = self.tagger.tag_rgb([load_rgb(os.path.join(ASSETS, name))])[0]
        self.assertAlmostEqual(float(p.sum()), 1.0, places=4)
        self.assertEqual(p.shape[0], tagger.N_OUTPUTS)
        return tagger.top_tags(p, k)

    def test_cat_photo_is_a_cat(self):
        (idx, p), *_ = self.top("cat_720p.jpg")
        self.assertEqual(self.judge.group_of(idx), "cats")
        self.assertEqual(self.table[idx]["word"], "cat")
        self.assertGreater(p, 0.5)

    def test_pets_photo_is_a_dog_or_cat(self):
        (idx, _), *_ = self.top("pets.jpg")
        self.assertIn(self.judge.group_of(idx), ("dogs", "cats"))

    def test_bird_photos_are_birds(self):
        for name in ("bird.png", "parrot.jpg"):
            (idx, p), *_ = self.top(name)
            self.assertEqual(self.judge.group_of(idx), "birds", name)
            self.assertGreater(p, 0.9, name)
        (idx, _), *_ = self.top("parrot.jpg")
        self.assertEqual(self.table[idx]["word"], "parrot")

    def test_sunflower_is_a_flower(self):
        (idx, p), *_ = self.top("sunflower.png")
        self.assertEqual(self.table[idx]["word"], "flower")  # daisy -> flower
        self.assertGreater(p, 0.9)

    def test_branch_equals_the_full_classifier(self):
        full = mobilenet_v2.load_from_tflite(TFLITE, with_classifier=True)
        x = mobilenet_v2.preprocess(load_rgb(os.path.join(ASSETS, "bird.png")))
        with torch.no_grad():
            a = self.tagger(self.tagger.trunk(x))
            b = full.classify(x)
        self.assertLess(float((a - b).abs().max()), 1e-4)

    def test_trunk_is_the_shipped_models_frozen_trunk(self):
        if not os.path.exists(DEFAULT_MODEL):
            self.skipTest("no shipped model")
        _, _, tensors = model_file.read_model(DEFAULT_MODEL)
        own = self.tagger.trunk_net.state_dict()
        n = 0
        for name, value in tensors.items():
            key = name[len("encoder."):]
            if not name.startswith("encoder."):
                continue
            if key.startswith("conv0.") or (key.startswith("blocks.") and
                                            int(key.split(".")[1]) < self.tagger.head_start):
                self.assertTrue(torch.equal(torch.from_numpy(value.copy()), own[key]), key)
                n += 1
        self.assertGreater(n, 0)

    def test_frozen(self):
        self.assertFalse(any(p.requires_grad for p in self.tagger.parameters()))
        self.tagger.train()
        self.assertFalse(self.tagger.training)


if __name__ == "__main__":
    unittest.main()
