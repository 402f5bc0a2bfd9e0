#!/usr/bin/python3
"""The training code's fast paths against plain references, on small random models:

- SoftAttentionDecoder.forward (K captions per image in lockstep, packed logits) gives the
  logits, targets and attention totals of a plain loop of decoder.step calls, per caption;
- --embed-dropout acts in training only;
- train_scst.sample's summed log-probabilities equal the teacher-forced log-probabilities of
  the captions it sampled (so the policy gradient is taken on the right quantity);
- train_scst.caption_log_probs (the beam variant's teacher-forced scores of given captions)
  equals a step-by-step loop, finished captions' <end> included, and train_scst.beam_captions
  returns the C-rule beam search's captions (the reference beam search's n-best lists);
- train_scst.advantages subtracts the mean-of-others or the greedy baseline;
- train_scst.CiderReward (cached reference vectors) equals captioner.evaluate.cider_d_image,
  with and without the end mark;
- the encoder's trunk + head split equals the whole encoder at the default and an earlier head
  start, and mirrored captions swap
  "left" and "right";
- a resumed run refuses a last.pt saved under other training options (--train-rows too;
  train_scst.py's own options too);
- --train-rows selects the same rows of the names and of both trunk arrays, and refuses
  malformed or empty selections;
- tools/average_checkpoints.py averages the decoder and encoder weights element-wise (the
  recipe's checkpoint mean and weight-space ensemble), keeps the last input's config, and
  refuses inputs of other shapes;
- the output-stride-16 encoder (dilated last stage) shares the stride-32 trunk and weights,
  and its odd cells are the stride-32 map (the "a trous" identity, which checks its strides,
  dilations and SAME padding independently of nn.Conv2d's dilation).

Needs PyTorch (Debian python3-torch); without it the test is skipped (exit 77).
"""
import math
import os
import random
import sys
import tempfile
import unittest

from optional_deps import skip_or_fail

try:
    import numpy as np
    import torch
    import torch.nn.functional as F
    from captioner import decoder as dm
    from captioner import evaluate, mobilenet_v2
    import train
    import train_scst
    import average_checkpoints
    import train_grounding
    from captioner import grounding, mosaic
except ImportError as e:
    skip_or_fail(e)

TOL = 1e-5


def small_decoder(seed=0):
    torch.manual_seed(seed)
    d = dm.SoftAttentionDecoder(vocab_size=11, feature_dim=6, embed_dim=5, attention_dim=4,
                                hidden_dim=7, dropout=0.0)
    for p in d.parameters():  # default init is too tame to catch mix-ups; make outputs spread
        p.data.uniform_(-0.8, 0.8)
    return d.eval()


class DecoderForward(unittest.TestCase):
    def test_lockstep_forward_equals_step_loop(self):
        d = small_decoder()
        N, K, L, T = 2, 3, 5, 7
        a = torch.randn(N, L, 6)
        lengths = torch.tensor([[6, 2, 4], [3, 0, 5]])  # 0: a missing caption
        captions = torch.zeros(N, K, T, dtype=torch.long)
        for i in range(N):
            for k in range(K):
                n = int(lengths[i, k])
                if n:
                    captions[i, k, 0] = 1
                    captions[i, k, 1:n] = torch.randint(4, 11, (n - 1,))
                    captions[i, k, n] = 2
        logits, targets, alpha_sum = d(a, captions, lengths)
        self.assertEqual(logits.shape[0], int(lengths.sum()))

        # Reference: each caption alone, step by step; collected in the same (mask) order.
        ref_logits, ref_targets = {}, {}
        for i in range(N):
            ai = a[i:i + 1]
            for k in range(K):
                h, c = d.init_state(ai)
                att_a = d.att_feature(ai)
                total = torch.zeros(L)
                for t in range(int(lengths[i, k])):
                    lg, h, c, alpha, _ = d.step(ai, att_a, d.embedding(captions[i, k, t:t + 1]), h, c)
                    ref_logits[i, k, t] = lg[0]
                    ref_targets[i, k, t] = int(captions[i, k, t + 1])
                    total = total + alpha[0]
                self.assertLess(float((total - alpha_sum[i, k]).abs().max()), TOL)
        order = sorted(ref_logits)  # (i, k, t): the order of mask.flatten(0, 1) row-major
        expected = torch.stack([ref_logits[key] for key in order])
        self.assertLess(float((logits - expected).abs().max()), TOL)
        self.assertEqual(targets.tolist(), [ref_targets[key] for key in order])

    def test_embed_dropout_is_training_only(self):
        # Evaluation (greedy, beam, SCST sampling, export) must see the plain decoder; training
        # must see dropped embeddings (the word term of the deep output changes the logits).
        plain = small_decoder()
        d = dm.SoftAttentionDecoder(vocab_size=11, feature_dim=6, embed_dim=5, attention_dim=4,
                                    hidden_dim=7, dropout=0.0, embed_dropout=0.5)
        d.load_state_dict(plain.state_dict())
        a = torch.randn(2, 5, 6)
        captions = torch.tensor([[[1, 5, 6, 2]], [[1, 7, 2, 0]]])
        lengths = torch.tensor([[3], [2]])
        d.eval()
        self.assertLess(float((d(a, captions, lengths)[0] - plain(a, captions, lengths)[0])
                              .abs().max()), TOL)
        d.train()
        torch.manual_seed(5)
        self.assertGreater(float((d(a, captions, lengths)[0] - plain(a, captions, lengths)[0])
                                 .abs().max()), 0.01)


class ScstSample(unittest.TestCase):
    def test_sampled_log_probs_match_teacher_forcing(self):
        d = small_decoder(1)
        a = torch.randn(3, 5, 6)
        torch.manual_seed(7)
        tokens, logp = train_scst.sample(d, a, samples=4, max_len=6)
        self.assertEqual(tuple(tokens.shape), (12, 6))
        a_rep = a.repeat_interleave(4, dim=0)
        for b in range(12):
            seq = tokens[b].tolist()
            steps = seq.index(2) + 1 if 2 in seq else len(seq)  # <end> is scored too
            self.assertTrue(all(t not in (0, 1, 3) for t in seq[:steps]), seq)
            self.assertTrue(all(t == 0 for t in seq[steps:]), seq)
            h, c = d.init_state(a_rep[b:b + 1])
            att_a = d.att_feature(a_rep[b:b + 1])
            prev, total = 1, 0.0
            for t in range(steps):
                lg, h, c, _, _ = d.step(a_rep[b:b + 1], att_a, d.embedding(torch.tensor([prev])), h, c)
                total += float(dm.masked_log_softmax(lg)[0, seq[t]])
                prev = seq[t]
            self.assertAlmostEqual(float(logp[b]), total, delta=1e-4)
        logp.sum().backward()  # the policy gradient flows into the decoder
        self.assertGreater(float(d.out_logits.weight.grad.abs().sum()), 0.0)


class ScstBeam(unittest.TestCase):
    def step_loop_log_prob(self, d, a, tokens, finished):
        h, c = d.init_state(a)
        att_a = d.att_feature(a)
        prev, total = 1, 0.0
        for tok in list(tokens) + ([2] if finished else []):
            lg, h, c, _, _ = d.step(a, att_a, d.embedding(torch.tensor([prev])), h, c)
            total += float(dm.masked_log_softmax(lg)[0, tok])
            prev = tok
        return total

    def test_caption_log_probs_match_step_loop(self):
        d = small_decoder(2)
        a = torch.randn(2, 5, 6)
        caps = [[([4, 5, 6], True), ([7, 4, 4, 8, 9], False)], [([10], True)]]
        logp = train_scst.caption_log_probs(d, a, caps)
        self.assertEqual(tuple(logp.shape), (2, 2))
        for i, c in enumerate(caps):
            for k, (tokens, finished) in enumerate(c):
                self.assertAlmostEqual(float(logp[i, k]),
                                       self.step_loop_log_prob(d, a[i:i + 1], tokens, finished),
                                       delta=1e-4)
        self.assertEqual(float(logp[1, 1]), 0.0)  # no second caption for image 1
        logp.sum().backward()
        self.assertGreater(float(d.out_logits.weight.grad.abs().sum()), 0.0)

    def test_beam_captions_are_the_beam_search_n_best(self):
        d = small_decoder(3)
        a = torch.randn(2, 5, 6)
        caps = train_scst.beam_captions(d, a, beam=3, max_len=6)
        self.assertEqual([len(c) for c in caps], [3, 3])
        for i, c in enumerate(caps):
            self.assertEqual(len({tuple(t) for t, _ in c}), 3)  # distinct hypotheses
            for tokens, finished in c:
                self.assertTrue(all(t not in (0, 1, 2, 3) for t in tokens), tokens)
                self.assertTrue(finished or len(tokens) == 6)
            # Finished ones are ranked by length-normalised log-probability, as src/beam.c does.
            done = [(t, f) for t, f in c if f]
            scores = [self.step_loop_log_prob(d, a[i:i + 1], t, True) / (len(t) + 1) ** 0.7
                      for t, _ in done]
            self.assertEqual(scores, sorted(scores, reverse=True))


class ScstAdvantages(unittest.TestCase):
    def test_baselines(self):
        r = torch.tensor([[1.0, 2.0, 3.0], [0.5, 0.5, 2.0]])
        # Mean of the other samples: 1 - (2 + 3) / 2, ...
        self.assertEqual(train_scst.advantages(r).tolist(),
                         [[-1.5, 0.0, 1.5], [-0.75, -0.75, 1.5]])
        # The image's greedy caption's reward.
        self.assertEqual(train_scst.advantages(r, torch.tensor([2.0, 1.0])).tolist(),
                         [[-1.0, 0.0, 1.0], [-0.5, -0.5, 1.0]])


class CiderReward(unittest.TestCase):
    def test_equals_evaluator(self):
        rng = random.Random(3)
        words = "a dog cat runs on the grass in park black white man".split()
        refs = [[[rng.choice(words) for _ in range(rng.randint(3, 9))] for _ in range(5)]
                for _ in range(6)]
        reward = train_scst.CiderReward(refs)
        df = evaluate.document_frequency(refs)
        for img in range(6):
            hyp = [rng.choice(words) for _ in range(rng.randint(2, 8))]
            expected = evaluate.cider_d_image(hyp, refs[img], df, math.log(6.0))
            self.assertAlmostEqual(reward(hyp, img, refs[img]), expected, places=12)
            self.assertAlmostEqual(reward(hyp, img, refs[img]), expected, places=12)  # cached path

    def test_end_mark(self):
        # With end_mark, the reward is CIDEr-D with "<end>" appended to every reference and to
        # finished samples; a sample cut at the step limit gets no mark.
        refs = [["a dog runs on the grass".split(), "a dog is running".split()],
                ["a man rides a bike".split(), "a man on a bike".split()]]
        marked = [[r + ["<end>"] for r in rs] for rs in refs]
        df, log_n = evaluate.document_frequency(marked), math.log(2.0)
        reward = train_scst.CiderReward(refs, end_mark=True)
        hyp = "a dog runs on the grass".split()
        self.assertAlmostEqual(reward(hyp, 0, refs[0]),
                               evaluate.cider_d_image(hyp + ["<end>"], marked[0], df, log_n), places=12)
        cut = "a dog runs on the".split()
        self.assertAlmostEqual(reward(cut, 0, refs[0], finished=False),
                               evaluate.cider_d_image(cut, marked[0], df, log_n), places=12)
        # The mark's own n-grams pay: the complete caption gains, relative to plain CIDEr-D,
        # over the same caption cut short.
        plain = train_scst.CiderReward(refs)
        self.assertGreater(reward(hyp, 0, refs[0]) - reward(cut, 0, refs[0], finished=False),
                           plain(hyp, 0, refs[0]) - plain(cut, 0, refs[0]))

    def test_leave_best_out(self):
        # The mean over the references except the one most similar to the sample: a sample
        # that copies a reference loses its self-match.
        refs = [["a dog runs on the grass".split(), "a dog is running".split(),
                 "a black dog in a park".split()],
                ["a man rides a bike".split(), "a man on a bike".split(), "a cyclist".split()]]
        df, log_n = evaluate.document_frequency(refs), math.log(2.0)
        reward = train_scst.CiderReward(refs, leave_best_out=True)
        for hyp in ("a dog runs on the grass", "a dog in the park", "a man"):
            h = hyp.split()
            sims = sorted(evaluate.cider_d_image(h, [r], df, log_n) for r in refs[0])
            self.assertAlmostEqual(reward(h, 0, refs[0]), sum(sims[:-1]) / 2, places=12)
        copy = "a dog runs on the grass".split()
        self.assertLess(reward(copy, 0, refs[0]), train_scst.CiderReward(refs)(copy, 0, refs[0]))


class EncoderSplitAndMirror(unittest.TestCase):
    def test_trunk_then_head_is_the_encoder(self):
        torch.manual_seed(0)
        enc = mobilenet_v2.MobileNetV2Encoder().eval()
        x = torch.rand(1, 3, 64, 64) * 2 - 1
        # The default cut (block 13, 96 channels) and an earlier one (block 10, 64 channels:
        # prepare_data.py --head-start 10), in the same weights.
        for start, channels in ((mobilenet_v2.HEAD_START, 96), (10, 64)):
            enc.head_start = start
            with torch.no_grad():
                trunk = enc.trunk(x)
                self.assertEqual(tuple(trunk.shape), (1, channels, 4, 4))
                self.assertEqual(mobilenet_v2.trunk_channels(start), channels)
                self.assertLess(float((enc.head(trunk) - enc(x)).abs().max()), 1e-6)
            head = set(map(id, enc.head_parameters()))
            self.assertIn(id(enc.conv1.conv.weight), head)
            self.assertIn(id(enc.blocks[start].expand.conv.weight), head)
            self.assertNotIn(id(enc.conv0.conv.weight), head)
            self.assertNotIn(id(enc.blocks[start - 1].project.conv.weight), head)
        with self.assertRaises(ValueError):  # a cut after the last 14x14 stage
            mobilenet_v2.MobileNetV2Encoder(head_start=14)

    def test_output_stride_16(self):
        # Block 13 at stride 1 puts stride-32 cell i at 2i + 1 (stride 2 SAME on an even side
        # pads only after), and dilation 2 keeps odd cells reading odd cells, the padding
        # included: so enc16(x)[..., 1::2, 1::2] == enc32(x) exactly, up to rounding.
        torch.manual_seed(0)
        enc32 = mobilenet_v2.MobileNetV2Encoder().eval()
        enc16 = mobilenet_v2.with_output_stride(enc32, 16)
        self.assertEqual(enc16.output_stride, 16)
        self.assertEqual(list(enc16.state_dict()), list(enc32.state_dict()))
        x = torch.rand(1, 3, 64, 64) * 2 - 1
        with torch.no_grad():
            trunk = enc32.trunk(x)
            self.assertTrue(torch.equal(enc16.trunk(x), trunk))
            a16, a32 = enc16(x), enc32(x)
            self.assertEqual(tuple(a16.shape), (1, mobilenet_v2.FEATURE_DIM, 4, 4))
            self.assertEqual(tuple(a32.shape), (1, mobilenet_v2.FEATURE_DIM, 2, 2))
            self.assertLess(float((a16[:, :, 1::2, 1::2] - a32).abs().max()), 1e-6)
            self.assertLess(float((enc16.head(trunk) - a16).abs().max()), 1e-6)
            self.assertEqual(tuple(train.features(enc16, trunk).shape),
                             (1, 16, mobilenet_v2.FEATURE_DIM))
        with self.assertRaises(ValueError):
            mobilenet_v2.MobileNetV2Encoder(output_stride=8)
        # TF 'SAME' for a dilated 3x3 at stride 1: the effective 5x5 kernel, 2 on every side.
        y = mobilenet_v2.same_pad(torch.ones(1, 1, 6, 6), 3, 1, dilation=2)
        self.assertEqual(tuple(y.shape), (1, 1, 10, 10))
        self.assertEqual(float(y[0, 0, 2:8, 2:8].sum()), 36.0)

    def test_mirrored_caption_swaps_left_and_right(self):
        word_id = {w: i for i, w in enumerate(dm.SPECIALS + ["a", "dog", "left", "right", "turns"])}
        plain = train.encode_caption("a dog turns left".split(), word_id, 20)
        mirrored = train.encode_caption("a dog turns left".split(), word_id, 20, mirrored=True)
        self.assertEqual(plain, [1, 4, 5, 8, 6, 2])
        self.assertEqual(mirrored, [1, 4, 5, 8, 7, 2])


class ResumeOptions(unittest.TestCase):
    DEFAULTS = dict(cache="cache", out=None, epochs=6, threads=2, lr=4e-4, output_stride=32,
                    attention_dim=None, smoke=False, head_start=13, train_rows=None)

    def check(self, saved, **now):
        train.check_same_run("run/last.pt", saved, dict(self.DEFAULTS, **now), self.DEFAULTS)

    def test_same_recipe_resumes(self):
        saved = dict(self.DEFAULTS, output_stride=16, attention_dim=256, vocab_size=2540)
        # Where things are, how long and how many threads may change.
        self.check(saved, output_stride=16, attention_dim=256, epochs=9, threads=1, out="x")

    def test_other_recipe_is_refused(self):
        saved = dict(self.DEFAULTS, output_stride=16, attention_dim=256)
        with self.assertRaises(SystemExit) as e:
            self.check(saved, attention_dim=256)  # the stride differs
        self.assertEqual(str(e.exception), "run/last.pt: this run was trained with other "
                         "options: --output-stride 16 (now 32); use the same options or "
                         "another --out")
        with self.assertRaisesRegex(SystemExit, r"--lr 0.0004 \(now 0.001\)"):
            self.check(dict(self.DEFAULTS), lr=1e-3)

    def test_options_missing_from_an_old_checkpoint_had_their_default(self):
        old = {k: v for k, v in self.DEFAULTS.items() if k not in ("output_stride", "attention_dim")}
        self.check(old)
        with self.assertRaisesRegex(SystemExit, r"--output-stride 32 \(now 16\)"):
            self.check(old, output_stride=16)
        # A run from before trunk.json, resumed on a cache cut at block 10 (train.py passes
        # the cache's head start as an option).
        old = {k: v for k, v in self.DEFAULTS.items() if k != "head_start"}
        with self.assertRaisesRegex(SystemExit, r"--head-start 13 \(now 10\)"):
            self.check(old, head_start=10)

    def test_other_train_rows_are_refused(self):
        with self.assertRaisesRegex(SystemExit, r"--train-rows None \(now 0:5000\)"):
            self.check(dict(self.DEFAULTS), train_rows="0:5000")


class AverageCheckpoints(unittest.TestCase):
    def checkpoint(self, seed, config):
        torch.manual_seed(seed)
        return dict(model=dict(w=torch.randn(3, 2), b=torch.randn(2)),
                    encoder=dict(k=torch.randn(4, dtype=torch.float64)),
                    config=config, vocab=["<pad>"], state=dict(epoch=seed))

    def test_element_wise_mean_with_the_last_config(self):
        a, b, c = (self.checkpoint(s, dict(run=s)) for s in (1, 2, 3))
        avg = average_checkpoints.average([a, b, c], ["a.pt", "b.pt", "c.pt"])
        for key, name in (("model", "w"), ("model", "b"), ("encoder", "k")):
            want = (a[key][name] + b[key][name] + c[key][name]) / 3
            self.assertEqual(avg[key][name].dtype, a[key][name].dtype)
            self.assertLess((avg[key][name] - want).abs().max().item(), 1e-6)
        self.assertEqual(avg["config"], dict(run=3))
        self.assertEqual(avg["state"], dict(epoch=3, averaged=["a.pt", "b.pt", "c.pt"]))

    def test_other_shapes_are_refused(self):
        a, b = self.checkpoint(1, {}), self.checkpoint(2, {})
        b["model"]["w"] = torch.zeros(2, 3)
        with self.assertRaisesRegex(ValueError, r"^a.pt: model.w has shape \(3, 2\), not "
                                    r"\(2, 3\) as in b.pt$"):
            average_checkpoints.average([a, b], ["a.pt", "b.pt"])
        b = self.checkpoint(2, {})
        del b["encoder"]["k"]
        with self.assertRaisesRegex(ValueError, "a.pt: its encoder tensors are not those of b.pt"):
            average_checkpoints.average([a, b], ["a.pt", "b.pt"])


class ScstResume(unittest.TestCase):
    def test_other_scst_options_are_refused(self):
        # train_scst.py keeps its options under config["scst"] (beside the cross-entropy
        # run's config it started from); resuming them under another seed must stop.
        with tempfile.TemporaryDirectory() as out:
            torch.save(dict(config=dict(seed=1, scst=dict(seed=2, leave_best_out=True))),
                       os.path.join(out, "last.pt"))
            defaults = dict(seed=1, leave_best_out=False, out=None)
            with self.assertRaisesRegex(SystemExit, r"last.pt: this run was trained with other "
                                        r"options: --seed 2 \(now 1\)"):
                train.resume(out, None, None, None, None, None,
                             dict(seed=1, leave_best_out=True, out="x"), defaults,
                             config_key="scst")


class TrainRows(unittest.TestCase):
    def test_selection(self):
        self.assertEqual(train.train_rows(None, 6), range(6))
        self.assertEqual(list(train.train_rows("0:4", 6)), [0, 1, 2, 3])
        self.assertEqual(list(train.train_rows("4:", 6)), [4, 5])
        self.assertEqual(list(train.train_rows(":2", 6)), [0, 1])
        self.assertEqual(list(train.train_rows("-2:", 6)), [4, 5])
        for bad, why in (("3", "expected START:END"), ("1:2:3", "expected START:END"),
                         ("a:2", "must be integers"), ("6:", "selects none of the 6"),
                         ("3:1", "selects none")):
            with self.assertRaisesRegex(ValueError, why):
                train.train_rows(bad, 6)

    def test_names_and_trunks_stay_aligned(self):
        names = dict(train=["p%d" % i for i in range(6)], dev=["d0"])
        trunk = dict(train=np.arange(6)[:, None] * 10, train_flip=np.arange(6)[:, None] * 10 + 1,
                     dev=np.zeros((1, 1)))
        train.select_train_rows(names, trunk, "2:5")
        self.assertEqual(names, dict(train=["p2", "p3", "p4"], dev=["d0"]))
        self.assertEqual(trunk["train"].ravel().tolist(), [20, 30, 40])
        self.assertEqual(trunk["train_flip"].ravel().tolist(), [21, 31, 41])
        self.assertEqual(trunk["dev"].shape, (1, 1))


class GroundingFineTune(unittest.TestCase):
    def test_tile_cell_weights_give_the_benchmark_masses(self):
        rng = np.random.default_rng(3)
        for side in (7, 14):
            w = mosaic.tile_cell_weights(side, side)
            np.testing.assert_allclose(w.sum(0), 1.0)          # every cell shared out whole
            alpha = rng.random(side * side)
            alpha /= alpha.sum()
            np.testing.assert_allclose(w @ alpha, mosaic.tile_masses(alpha, side, side))
        w7 = mosaic.tile_cell_weights(7, 7)
        self.assertAlmostEqual(w7[0].reshape(7, 7)[3, 3], 0.25)  # the centre: a quarter each
        self.assertAlmostEqual(w7[3].reshape(7, 7)[6, 6], 1.0)

    def test_compose_places_tile_k_at_row_k_div_2(self):
        t = [np.full((mosaic.TILE, mosaic.TILE, 3), k, dtype=np.uint8) for k in range(4)]
        m = mosaic.compose(t)
        T = mosaic.TILE
        self.assertEqual([int(m[0, 0, 0]), int(m[0, T, 0]), int(m[T, 0, 0]), int(m[T, T, 0])],
                         [0, 1, 2, 3])

    def test_weighted_init_state(self):
        d = small_decoder()
        a = torch.randn(2, 5, 6)
        h, c = d.init_state(a)
        hw, cw = d.init_state(a, torch.ones(2, 5))            # uniform weights: the plain mean
        self.assertLess(float((h - hw).abs().max()), TOL)
        w = torch.tensor([[0, 0, 1.0, 0, 0], [0.5, 0.5, 0, 0, 0]])
        h1, _ = d.init_state(a, w)
        h_ref = d.init_h(torch.stack([a[0, 2], (a[1, 0] + a[1, 1]) / 2]))
        self.assertLess(float((h1 - h_ref).abs().max()), TOL)

    def test_grounding_loss(self):
        L, end = 4, 2
        tokens = torch.tensor([[[1, 5, 6, end]]])              # (N=1, K=1, T): <start> w w <end>
        mask = torch.ones(1, 1, 3, dtype=torch.bool)
        tile_w = torch.tensor([[1.0, 1.0, 0, 0]])
        on_tile = torch.tensor([0.5, 0.5, 0, 0]).expand(1, 1, 3, L)
        loss, mass = grounding.grounding_loss(on_tile, mask, tokens, tile_w, end)
        self.assertAlmostEqual(float(loss), 0.0, places=6)
        self.assertAlmostEqual(float(mass), 1.0, places=6)
        # Uniform maps put half the mass on this two-cell tile; the <end> step (the third,
        # all off the tile) does not count.
        alphas = torch.full((1, 1, 3, L), 0.25)
        alphas[0, 0, 2] = torch.tensor([0, 0, 0.5, 0.5])
        loss, mass = grounding.grounding_loss(alphas, mask, tokens, tile_w, end)
        self.assertAlmostEqual(float(loss), math.log(2), places=6)
        self.assertAlmostEqual(float(mass), 0.5, places=6)

    def test_low_rank_keeps_the_largest_singular_values_and_freezes(self):
        torch.manual_seed(5)
        lin = torch.nn.Linear(9, 6)
        w0 = lin.weight.detach().clone()
        s0 = torch.linalg.svdvals(w0)
        dropped = grounding.low_rank_(lin, 2)
        w = lin.weight.detach()
        self.assertFalse(lin.weight.requires_grad)
        self.assertTrue(lin.bias.requires_grad)
        self.assertEqual(int(torch.linalg.matrix_rank(w)), 2)
        s = torch.linalg.svdvals(w)
        self.assertLess(float((s[:2] - s0[:2]).abs().max()), TOL)   # the two largest kept
        # Eckart-Young: the error is the dropped singular values, and their share is returned.
        err = float(((w - w0) ** 2).sum())
        self.assertAlmostEqual(err, float((s0[2:] ** 2).sum()), places=4)
        self.assertAlmostEqual(dropped, float((s0[2:] ** 2).sum() / (s0 ** 2).sum()), places=5)
        full = torch.nn.Linear(9, 6)
        wf = full.weight.detach().clone()
        self.assertAlmostEqual(grounding.low_rank_(full, 6), 0.0, places=6)
        self.assertLess(float((full.weight - wf).abs().max()), TOL)     # full rank: unchanged
        zero = torch.nn.Linear(9, 6)
        grounding.low_rank_(zero, 0)
        self.assertEqual(float(zero.weight.abs().max()), 0.0)          # rank 0: blind

    def test_attended_tile_is_where_the_first_step_looks(self):
        d = small_decoder()
        with torch.no_grad():
            d.att_feature.weight.zero_()
            d.att_feature.bias.zero_()
            d.att_feature.weight[0, 0] = 1.0
            d.att_hidden.weight.zero_()
            d.att_hidden.bias.zero_()
            d.att_score.weight.zero_()
            d.att_score.weight[0, 0] = 10.0
        cell_w = torch.from_numpy(mosaic.tile_cell_weights(7, 7)).float()
        a = torch.zeros(2, 49, 6)
        a[0, cell_w[3] == 1, 0] = 3.0    # mosaic 0: salient cells all in tile 3
        a[1, cell_w[1] == 1, 0] = 3.0    # mosaic 1: in tile 1
        self.assertEqual(grounding.attended_tiles(d, a, cell_w).tolist(), [3, 1])

    def test_blind_init_ignores_the_photo_and_stays_blind(self):
        torch.manual_seed(0)
        d = dm.SoftAttentionDecoder(vocab_size=11, feature_dim=6, embed_dim=5, attention_dim=4,
                                    hidden_dim=7, dropout=0.0, blind_init=True)
        self.assertEqual(float(d.init_h.weight.abs().sum() + d.init_c.weight.abs().sum()), 0.0)
        a = torch.randn(3, 5, 6)
        h, c = d.init_state(a)
        h2, c2 = d.init_state(torch.randn(3, 5, 6) * 10)
        self.assertEqual(h.tolist(), h2.tolist())
        self.assertEqual(c.tolist(), c2.tolist())
        self.assertLess(float((h[0] - d.init_h.bias).abs().max()), TOL)
        # A training step moves the biases, never the frozen weights (which the exported file
        # keeps, as zeros: the C decoder then computes h_0 = b whatever the photo).
        opt = torch.optim.Adam([p for p in d.parameters() if p.requires_grad], lr=0.1)
        tokens, lengths = dm.caption_tensors([[[1, 5, 6, 2]], [[1, 7, 2]], [[1, 4, 2]]])
        logits, targets, _ = d(a, tokens, lengths)
        b0 = d.init_h.bias.detach().clone()
        F.cross_entropy(logits, targets).backward()
        opt.step()
        self.assertEqual(float(d.init_h.weight.abs().sum() + d.init_c.weight.abs().sum()), 0.0)
        self.assertGreater(float((d.init_h.bias - b0).abs().max()), 0.0)
        # The recipe's config builds it so (train_scst.py and export_model.py read it there).
        cfg = dict(dim=8, dropout=0.5, blind_init=True)
        self.assertTrue(dm.from_train_config(cfg, 11).blind_init)
        self.assertFalse(dm.from_train_config(dict(cfg, blind_init=False), 11).blind_init)
        self.assertFalse(dm.from_train_config(dict(dim=8, dropout=0.5), 11).blind_init)

    def test_mosaic_batch_keeps_tiles_and_captions_together(self):
        T = mosaic.TILE
        tiles = np.stack([np.full((T, T, 3), 40 * k, dtype=np.uint8) for k in range(6)])
        encoded = {m: [[[1, 10 + k + (100 if m else 0), 2]] for k in range(6)] for m in (False, True)}
        x, tokens, lengths = grounding.mosaic_batch(tiles, encoded, 3, random.Random(5))
        levels = [mobilenet_v2.preprocess(t)[0, 0, 0, 0] for t in tiles]
        self.assertEqual(tuple(x.shape), (3, 3, 224, 224))
        self.assertEqual(tuple(tokens.shape), (12, 1, 3))
        for m in range(3):
            for k in range(4):
                r, c = divmod(k, 2)
                # The tile's (uniform) pixel value names the photo; its caption's word must too.
                value = float(x[m, 0, r * T + T // 2, c * T + T // 2])
                photo = min(range(6), key=lambda j: abs(float(levels[j]) - value))
                self.assertEqual(int(tokens[4 * m + k, 0, 1]) % 100, 10 + photo)

    def test_word_from_context_rewards_a_map_on_the_word(self):
        end = 2
        head = torch.nn.Linear(2, 5, bias=False)
        with torch.no_grad():
            head.weight.zero_()
            head.weight[3, 0] = head.weight[4, 1] = 10.0   # word 3 <- feature 0, word 4 <- 1
        a = torch.tensor([[[1.0, 0.0], [0.0, 1.0]]])          # (N=1, L=2 cells, D=2)
        tokens = torch.tensor([[[1, 3, 4, end]]])              # <start> w3 w4 <end>
        mask = torch.ones(1, 1, 3, dtype=torch.bool)
        right = torch.tensor([[[[1.0, 0.0], [0.0, 1.0], [0.5, 0.5]]]])   # w3 on cell 0, w4 on 1
        flat = torch.full((1, 1, 3, 2), 0.5)
        swapped = right[:, :, [1, 0, 2]]
        losses = [float(grounding.context_word_loss(head, a, m, mask, tokens, end))
                  for m in (right, flat, swapped)]
        self.assertLess(losses[0], 1e-3)                       # each word's map holds its cell
        self.assertAlmostEqual(losses[1], math.log(2 + 3 * math.exp(-5)), places=3)
        self.assertGreater(losses[2], 9.0)
        # The <end> step (the third) does not count: its map changes nothing.
        other_end = right.clone()
        other_end[0, 0, 2] = torch.tensor([1.0, 0.0])
        self.assertEqual(float(grounding.context_word_loss(head, a, other_end, mask, tokens, end)),
                         losses[0])


    def test_evidence_maps_follow_the_output_layer_and_exempt_steps_do_not_count(self):
        end = 2
        d = dm.SoftAttentionDecoder(vocab_size=6, feature_dim=2, embed_dim=2, attention_dim=3,
                                    hidden_dim=4, dropout=0.0)
        with torch.no_grad():
            d.out_context.weight.copy_(torch.eye(2))            # L_z = I: the context is a_i
            d.out_logits.weight.zero_()
            d.out_logits.weight[3, 0] = d.out_logits.weight[4, 1] = 5.0   # w3 <- cell 0, w4 <- 1
        a = torch.tensor([[[1.0, 0.0], [0.0, 1.0]]])          # (N=1, L=2 cells, D=2)
        tokens = torch.tensor([[[1, 3, 4, end]]])              # <start> w3 w4 <end>
        q = grounding.evidence_maps(d, a, tokens, 3)
        p = 1 / (1 + math.exp(-5))                             # softmax of (5, 0)
        self.assertLess(float((q[0, 0, 0] - torch.tensor([p, 1 - p])).abs().max()), TOL)
        self.assertLess(float((q[0, 0, 1] - torch.tensor([1 - p, p])).abs().max()), TOL)
        mask = torch.ones(1, 1, 3, dtype=torch.bool)
        exempt = torch.zeros(6, dtype=torch.bool)
        exempt[end] = True
        right = torch.tensor([[[[1.0, 0.0], [0.0, 1.0], [0.5, 0.5]]]])
        flat = torch.full((1, 1, 3, 2), 0.5)
        swapped = right[:, :, [1, 0, 2]]
        loss_right, overlap = grounding.evidence_loss(d, a, right, mask, tokens, exempt)
        loss_flat, _ = grounding.evidence_loss(d, a, flat, mask, tokens, exempt)
        loss_swapped, _ = grounding.evidence_loss(d, a, swapped, mask, tokens, exempt)
        self.assertAlmostEqual(float(overlap), p, places=5)
        self.assertLess(float(loss_right), float(loss_flat))
        self.assertAlmostEqual(float(loss_flat), math.log(2), places=5)
        self.assertGreater(float(loss_swapped), 4.0)
        # Exempt words (the <end> step here; stop words in training) do not count: with w4's
        # map flat, the loss is the mean of w3's and w4's steps, and exempting w4 leaves w3's.
        half = right.clone()
        half[0, 0, 1] = torch.tensor([0.5, 0.5])
        w3 = -(1 - p) * math.log(1e-8)
        loss_both, _ = grounding.evidence_loss(d, a, half, mask, tokens, exempt)
        self.assertAlmostEqual(float(loss_both), (w3 + math.log(2)) / 2, places=3)
        exempt[4] = True
        loss_w3, _ = grounding.evidence_loss(d, a, half, mask, tokens, exempt)
        self.assertAlmostEqual(float(loss_w3), w3, places=3)


if __name__ == "__main__":
    unittest.main()
