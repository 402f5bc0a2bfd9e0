#!/usr/bin/python3
"""The pure parts of tools/grounding_bench.py on hand-made references, boxes and alpha grids:
the specific-word rule, the band weights of a grid cell straddling the mosaic's middle, the
tiles' masses and the pointing hit, the exact coverage of cells by a union of boxes, the box
mass, ratio and hit, the caption words naming COCO categories (two-word names included), the
mosaics' photos and the caption options passed through. No caption program, no shared data.
"""
import unittest

import numpy as np

import grounding_bench as gb


def refs(*captions):
    return gb.reference_words(captions)


def one_hot(rows, cols, r, c):
    a = np.zeros(rows * cols)
    a[r * cols + c] = 1.0
    return a


class SpecificWords(unittest.TestCase):
    def setUp(self):
        self.tiles = [
            refs("a dog runs on the grass .", "A brown dog plays", "a puppy", "grass field", "dog"),
            refs("a man on a bike", "a cyclist rides a bike", "a man", "road", "a rider"),
            refs("children in a pool", "kids swim", "a dog in water", "pool", "splash"),
            refs("a red car", "a car on the street", "the street", "a vehicle", "the red car"),
        ]

    def test_in_two_of_its_refs_and_none_of_the_others(self):
        self.assertEqual(gb.specific_tile("bike", self.tiles), 1)
        self.assertEqual(gb.specific_tile("car", self.tiles), 3)
        self.assertEqual(gb.specific_tile("pool", self.tiles), 2)
        self.assertEqual(gb.specific_tile("man", self.tiles), 1)

    def test_not_specific(self):
        # in another photo's references too (tile 2 mentions a dog once)
        self.assertIsNone(gb.specific_tile("dog", self.tiles))
        # in only one of its references
        self.assertIsNone(gb.specific_tile("cyclist", self.tiles))
        self.assertIsNone(gb.specific_tile("zebra", self.tiles))
        # tokenised as the evaluator does: lower case, punctuation dropped
        self.assertEqual(gb.specific_tile("grass", self.tiles), 0)
        self.assertIsNone(gb.specific_tile(".", self.tiles))

    def test_stop_words_never(self):
        tiles = [refs("the x", "the y"), refs("z"), refs("w"), refs("v")]
        self.assertIsNone(gb.specific_tile("the", tiles))
        self.assertEqual(gb.specific_tile("x", [refs("x a", "x b")] + tiles[1:]), 0)

    def test_pointing_words_of_a_record(self):
        alpha = [one_hot(7, 7, 0, 6), one_hot(7, 7, 3, 3), one_hot(7, 7, 6, 6)]
        rec = {"words": ["a", "bike", "car"], "alpha": [a.tolist() for a in alpha],
               "grid": [7, 7]}
        got = gb.pointing_words(rec, self.tiles)
        self.assertEqual([(w["word"], w["t"], w["tile"]) for w in got],
                         [("bike", 1, 1), ("car", 2, 3)])
        self.assertAlmostEqual(got[0]["mass"], 0.25)  # the centre cell: a quarter each
        self.assertFalse(got[0]["hit"])
        self.assertAlmostEqual(got[1]["mass"], 1.0)
        self.assertTrue(got[1]["hit"])
        s = gb.summarize_pointing([got, []], 2)
        self.assertEqual((s["words"], s["captions_with_words"]), (2, 1))
        self.assertAlmostEqual(s["mean_mass"], 0.625)
        self.assertAlmostEqual(s["hit_rate"], 0.5)


class TileMass(unittest.TestCase):
    def test_band_weights(self):
        w = gb.band_weights(7)
        np.testing.assert_allclose(w[:3], [[1, 0]] * 3)
        np.testing.assert_allclose(w[3], [0.5, 0.5])
        np.testing.assert_allclose(w[4:], [[0, 1]] * 3)
        w14 = gb.band_weights(14)  # no cell straddles the middle of an even grid
        np.testing.assert_allclose(w14, [[1, 0]] * 7 + [[0, 1]] * 7)

    def test_masses(self):
        np.testing.assert_allclose(gb.tile_masses(one_hot(7, 7, 0, 0), 7, 7), [1, 0, 0, 0])
        np.testing.assert_allclose(gb.tile_masses(one_hot(7, 7, 6, 2), 7, 7), [0, 0, 1, 0])
        np.testing.assert_allclose(gb.tile_masses(one_hot(7, 7, 3, 3), 7, 7), [0.25] * 4)
        np.testing.assert_allclose(gb.tile_masses(one_hot(7, 7, 3, 0), 7, 7), [.5, 0, .5, 0])
        np.testing.assert_allclose(gb.tile_masses(one_hot(7, 7, 1, 3), 7, 7), [.5, .5, 0, 0])
        np.testing.assert_allclose(gb.tile_masses(np.full(49, 1 / 49), 7, 7), [0.25] * 4)
        np.testing.assert_allclose(gb.tile_masses(one_hot(14, 14, 7, 6), 14, 14), [0, 0, 1, 0])
        # a mix: the straddling cells' halves add to the tiles on each side
        a = 0.5 * one_hot(7, 7, 0, 5) + 0.3 * one_hot(7, 7, 3, 5) + 0.2 * one_hot(7, 7, 5, 3)
        np.testing.assert_allclose(gb.tile_masses(a, 7, 7), [0, 0.65, 0.1, 0.25])

    def test_hit(self):
        self.assertTrue(gb.is_hit([0.4, 0.3, 0.2, 0.1], 0))
        self.assertFalse(gb.is_hit([0.4, 0.3, 0.2, 0.1], 1))
        self.assertFalse(gb.is_hit([0.3, 0.3, 0.2, 0.2], 0))  # a tie is no hit
        self.assertFalse(gb.is_hit([0.25] * 4, 2))


class Boxes(unittest.TestCase):
    def test_coverage_exact(self):
        # 100 x 50 photo, 2 x 2 cells of 50 x 25
        np.testing.assert_allclose(gb.cell_coverage([[0, 0, 50, 50]], 100, 50, 2, 2),
                                   [[1, 0], [1, 0]])
        np.testing.assert_allclose(gb.cell_coverage([[25, 0, 50, 25]], 100, 50, 2, 2),
                                   [[0.5, 0.5], [0, 0]])
        # overlapping boxes count once (a union, not a sum)
        np.testing.assert_allclose(
            gb.cell_coverage([[25, 0, 50, 25], [25, 0, 50, 25], [30, 5, 10, 10]], 100, 50, 2, 2),
            [[0.5, 0.5], [0, 0]])
        # two overlapping boxes inside cell (0, 0): 300 + 400 - 100 (their overlap)
        np.testing.assert_allclose(
            gb.cell_coverage([[0, 0, 30, 10], [20, 0, 20, 20]], 100, 50, 2, 2),
            [[(300 + 10 * 10 + 20 * 10) / 1250, 0], [0, 0]])
        # a box running off the photo is clipped
        np.testing.assert_allclose(gb.cell_coverage([[90, 40, 50, 50]], 100, 50, 2, 2),
                                   [[0, 0], [0, 100 / 1250]])

    def test_coverage_on_a_7x7_grid(self):
        # 224 x 224: cells of 32; a box on cell (0, 0) and half of (0, 1)
        cover = gb.cell_coverage([[0, 0, 48, 32]], 224, 224, 7, 7)
        want = np.zeros((7, 7))
        want[0, 0], want[0, 1] = 1, 0.5
        np.testing.assert_allclose(cover, want, atol=1e-12)
        # a non-square photo: cells of 480/7 x 320/7
        cover = gb.cell_coverage([[0, 0, 240, 320]], 480, 320, 7, 7)
        np.testing.assert_allclose(cover[:, :3], 1)
        np.testing.assert_allclose(cover[:, 3], 0.5)
        np.testing.assert_allclose(cover[:, 4:], 0, atol=1e-12)

    def test_box_score(self):
        boxes = [[0, 0, 48, 32]]  # 1.5 cells of 49
        s = gb.box_score(one_hot(7, 7, 0, 0), boxes, 224, 224, 7, 7)
        self.assertAlmostEqual(s["mass"], 1.0)
        self.assertAlmostEqual(s["share"], 1.5 / 49)
        self.assertAlmostEqual(s["ratio"], 49 / 1.5)
        self.assertTrue(s["hit"])
        self.assertAlmostEqual(s["chance"], 2 / 49)  # centres of (0, 0) and (0, 1) at x = 48
        s = gb.box_score(one_hot(7, 7, 0, 1), boxes, 224, 224, 7, 7)
        self.assertAlmostEqual(s["mass"], 0.5)
        self.assertTrue(s["hit"])  # the centre (48, 16) is on the box's edge: inside
        s = gb.box_score(one_hot(7, 7, 0, 2), boxes, 224, 224, 7, 7)
        self.assertEqual((s["mass"], s["hit"]), (0.0, False))
        s = gb.box_score(np.full(49, 1 / 49), boxes, 224, 224, 7, 7)
        self.assertAlmostEqual(s["ratio"], 1.0)  # uniform attention: its share exactly
        self.assertIsNone(gb.box_score(np.full(49, 1 / 49), [[5, 5, 0, 10]], 224, 224, 7, 7))

    def test_centre_in_boxes(self):
        # 480 x 320 photo, 7 x 7: cell (3, 3)'s centre is the photo's centre
        self.assertTrue(gb.centre_in_boxes([[230, 150, 20, 20]], 24, 480, 320, 7, 7))
        self.assertFalse(gb.centre_in_boxes([[0, 0, 20, 20]], 24, 480, 320, 7, 7))
        self.assertFalse(gb.centre_in_boxes([], 24, 480, 320, 7, 7))

    def test_box_words_of_a_record(self):
        photo = {"width": 224, "height": 224, "instances": [
            {"category": "person", "bbox_xywh": [0, 0, 32, 32], "iscrowd": 0},
            {"category": "person", "bbox_xywh": [192, 192, 32, 32], "iscrowd": 0},
            {"category": "hot dog", "bbox_xywh": [96, 96, 32, 32], "iscrowd": 0}]}
        words = ["a", "man", "eats", "a", "hot", "dog", "with", "a", "cat"]
        alpha = [one_hot(7, 7, 6, 6)] * len(words)
        alpha[5] = one_hot(7, 7, 0, 0)
        rec = {"words": words, "alpha": [a.tolist() for a in alpha], "grid": [7, 7]}
        got = gb.box_words(rec, photo)
        self.assertEqual([(w["word"], w["category"]) for w in got],
                         [("man", "person"), ("dog", "hot dog")])  # no cat in the boxes
        self.assertAlmostEqual(got[0]["ratio"], 49 / 2)
        self.assertTrue(got[0]["hit"])
        self.assertEqual((got[1]["mass"], got[1]["hit"]), (0.0, False))
        s = gb.summarize_boxes([got, []], 2)
        self.assertEqual((s["words"], s["captions_with_words"]), (2, 1))
        self.assertAlmostEqual(s["mean_ratio"], 49 / 4)
        self.assertAlmostEqual(s["pooled_ratio"], 0.5 / (1.5 / 49))
        self.assertAlmostEqual(s["hit_rate"], 0.5)


class Words(unittest.TestCase):
    def test_categories(self):
        self.assertEqual(gb.word_categories(["a", "man", "and", "two", "dogs", "on", "bikes"]),
                         [None, "person", None, None, "dog", None, "bicycle"])
        self.assertEqual(gb.word_categories(["a", "hot", "dog"]), [None, None, "hot dog"])
        self.assertEqual(gb.word_categories(["teddy", "bear"]), [None, "teddy bear"])
        self.assertEqual(gb.word_categories(["a", "teddy"]), [None, "teddy bear"])
        self.assertEqual(gb.word_categories(["a", "bear"]), [None, "bear"])
        self.assertEqual(gb.word_categories(["orange", "shirt", "stop", "sign"]),
                         [None, None, None, "stop sign"])
        self.assertEqual(gb.word_categories([]), [])

    def test_every_category_is_cocos(self):
        names = {"person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck",
                 "boat", "traffic light", "fire hydrant", "stop sign", "parking meter", "bench",
                 "bird", "cat", "dog", "horse", "sheep", "cow", "elephant", "bear", "zebra",
                 "giraffe", "backpack", "umbrella", "handbag", "tie", "suitcase", "frisbee",
                 "skis", "snowboard", "sports ball", "kite", "baseball bat", "baseball glove",
                 "skateboard", "surfboard", "tennis racket", "bottle", "wine glass", "cup",
                 "fork", "knife", "spoon", "bowl", "banana", "apple", "sandwich", "orange",
                 "broccoli", "carrot", "hot dog", "pizza", "donut", "cake", "chair", "couch",
                 "potted plant", "bed", "dining table", "toilet", "tv", "laptop", "mouse",
                 "remote", "keyboard", "cell phone", "microwave", "oven", "toaster", "sink",
                 "refrigerator", "book", "clock", "vase", "scissors", "teddy bear",
                 "hair drier", "toothbrush"}
        self.assertEqual(len(names), 80)
        self.assertLessEqual(set(gb.SYNONYMS) | set(gb.COMPOUNDS.values()), names)
        self.assertNotIn("orange", gb.WORD_CATEGORY)  # a colour far more often than a fruit


class Setup(unittest.TestCase):
    def test_mosaics(self):
        dev = ["p%03d.jpg" % i for i in range(50)]
        a, b = gb.pick_mosaics(dev, 30, 17), gb.pick_mosaics(dev, 30, 17)
        self.assertEqual(a, b)
        self.assertNotEqual(a, gb.pick_mosaics(dev, 30, 18))
        self.assertEqual(len(a), 30)
        for group in a:
            self.assertEqual(len(set(group)), 4)

    def test_caption_args(self):
        for ok in ([], ["--no-tags"], ["--beam", "5", "--tag-threshold", "0.3"]):
            gb.check_caption_args(ok)
        for bad in (["--format", "tsv"], ["-o", "x"], ["--resume"], ["photo.jpg"],
                    ["--model=m.bin"], ["--no-tags", "-"]):
            with self.assertRaises(ValueError, msg=bad):
                gb.check_caption_args(bad)
        self.assertEqual(gb.setting_slug([]), "default")
        self.assertEqual(gb.setting_slug(["--no-tags"]), "no-tags")
        self.assertEqual(gb.setting_slug(["--beam", "5"]), "beam_5")


if __name__ == "__main__":
    unittest.main(verbosity=2)
