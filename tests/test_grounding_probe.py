#!/usr/bin/python3
"""tools/grounding_probe.py's parts on hand-made data:

- the linear probe's shortcut ((W^T u_w) . a_i, the bias dropped as a constant over the cells)
  gives the maps of the plain form softmax_i(u_w . (W a_i + b));
- specific_words applies the benchmark's rule (in >= 2 of a tile's references and none of the
  others', stop words and out-of-vocabulary words aside);
- train_probe learns to point on a synthetic feature map where each word's signature lies on
  one tile (mass on the tile > 0.9 after training, about 0.25 before), and not on one where the
  signature is on every tile (the loss cannot then rise above chance: mass < 0.35);
- score_records replaces alpha by the probe's maps and keeps the benchmark's scoring.

Needs PyTorch (Debian python3-torch); without it the test is skipped (exit 77).
"""
import argparse
import unittest

from optional_deps import skip_or_fail

try:
    import numpy as np
    import torch
    import grounding_bench as gb
    import grounding_probe as gp
    from captioner.mosaic import tile_cell_weights
except ImportError as e:
    skip_or_fail(e)


def args(**kw):
    base = dict(width=16, hidden=0, weight_decay=0.0, steps=400)
    base.update(kw)
    return argparse.Namespace(**base)


def synthetic(n_mosaics, n_words, dim, on_tile, seed=0):
    """(features (N, 49, dim), examples): every mosaic names each word on a random tile; the
    word's signature vector is added to that tile's cells (on_tile) or to every cell."""
    g = torch.Generator().manual_seed(seed)
    sig = torch.randn(n_words, dim, generator=g) * 3
    cell_w = torch.from_numpy(tile_cell_weights(7, 7)).float()
    feats = torch.randn(n_mosaics, 49, dim, generator=g)
    examples = []
    for m in range(n_mosaics):
        for w in range(n_words):
            k = int(torch.randint(4, (1,), generator=g))
            where = (cell_w[k] > 0.99).float() if on_tile else torch.ones(49)
            feats[m] += where[:, None] * sig[w]
            examples.append((m, w, k))
    return feats, examples, cell_w


def mean_tile_mass(probe, feats, examples, cell_w):
    ex = torch.tensor(examples)
    with torch.no_grad():
        maps = probe(feats[ex[:, 0]], ex[:, 1])
    return float((maps * cell_w[ex[:, 2]]).sum(1).mean())


class ProbeMaps(unittest.TestCase):
    def test_linear_shortcut_equals_the_plain_form(self):
        torch.manual_seed(0)
        probe = gp.Probe(12, 5, width=8)
        a, words = torch.randn(3, 49, 12), torch.tensor([0, 4, 2])
        plain = torch.softmax((probe.g(a) * probe.u(words)[:, None, :]).sum(-1), dim=-1)
        got = probe(a, words)
        self.assertLess(float((got - plain).abs().max()), 1e-6)
        self.assertTrue(torch.allclose(got.sum(1), torch.ones(3)))

    def test_mlp_maps_sum_to_one(self):
        torch.manual_seed(0)
        probe = gp.Probe(12, 5, width=8, hidden=16)
        maps = probe(torch.randn(2, 196, 12), torch.tensor([1, 3]))
        self.assertEqual(tuple(maps.shape), (2, 196))
        self.assertTrue(torch.allclose(maps.sum(1), torch.ones(2)))


class SpecificWords(unittest.TestCase):
    def test_the_benchmarks_rule(self):
        tiles = [gb.reference_words(c) for c in (
            ["a dog on grass", "a dog runs", "a puppy"],
            ["a man on a bike", "a bike", "a rider"],
            ["a dog in a pool", "a pool", "kids"],
            ["a red car", "a car", "a zebra"])]
        word_id = {w: i for i, w in enumerate(["dog", "grass", "bike", "pool", "car", "man"])}
        got = gp.specific_words(tiles, word_id)
        # dog is in tiles 0 and 2; grass and man are in one reference only; zebra is no word
        self.assertEqual(sorted(got), sorted([(2, 1), (3, 2), (4, 3)]))


class TrainProbe(unittest.TestCase):
    def test_learns_where_the_signature_is(self):
        feats, examples, cell_w = synthetic(60, 4, 8, on_tile=True)
        torch.manual_seed(1)
        before = mean_tile_mass(gp.Probe(8, 4, width=16), feats, examples, cell_w)
        probe = gp.train_probe(feats, examples, cell_w, 4, args(), batch=64)
        self.assertLess(before, 0.35)
        self.assertGreater(mean_tile_mass(probe, feats, examples, cell_w), 0.9)

    def test_cannot_point_without_a_place(self):
        feats, examples, cell_w = synthetic(60, 4, 8, on_tile=False)
        probe = gp.train_probe(feats, examples, cell_w, 4, args(), batch=64)
        self.assertLess(mean_tile_mass(probe, feats, examples, cell_w), 0.35)


class ScoreRecords(unittest.TestCase):
    def test_alpha_replaced_by_the_probe(self):
        class AllOnCell(torch.nn.Module):
            def forward(self, a, words):     # every word's map on cell 0 (top-left tile)
                maps = torch.zeros(len(words), a.shape[1])
                maps[:, 0] = 1.0
                return maps
        tiles = [gb.reference_words(c) for c in (
            ["a dog", "a dog"], ["a bike", "a bike"], ["a car", "a car"], ["a cat", "a cat"])]
        rec = {"words": ["a", "dog", "rides", "bike"], "grid": [7, 7], "alpha": None}
        word_id = {"a": 0, "dog": 1, "bike": 2}
        got = gp.score_records(AllOnCell(), torch.zeros(1, 49, 4), [rec], word_id, [7, 7],
                               lambda i, r: gb.pointing_words(r, tiles))
        self.assertEqual([(s["word"], s["tile"], s["hit"]) for s in got],
                         [("dog", 0, True), ("bike", 1, False)])
        self.assertAlmostEqual(got[0]["mass"], 1.0)
        self.assertAlmostEqual(got[1]["mass"], 0.0)


if __name__ == "__main__":
    unittest.main()
