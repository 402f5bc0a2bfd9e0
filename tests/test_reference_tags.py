#!/usr/bin/python3
"""The PyTorch reference's tags and constrained beam search (captioner/reference.py, issue 16):
on the real photos in assets/, a confident tag's word (or its plural) is in every returned
caption; with tag threshold 2 (never constrained) the captions equal those without the tagger
(max_tags 0) and those of the model's version-1 self; the forced word rule (summed class
probabilities, ties), the log-probs of the added words, the a/an rule, and the constrained
search's invariants on a small random decoder.

Needs PyTorch and the shipped model (a version-2 file); without PyTorch it is skipped (77).
"""
import os
import sys
import tempfile
import unittest

from optional_deps import skip_or_fail

try:
    import numpy as np
    import torch
    from captioner import decoder as dm
    from captioner import model_file, reference
    from captioner.image import load_rgb
    from captioner.paths import ASSETS, DEFAULT_MODEL
except ImportError as e:
    skip_or_fail(e)

PHOTOS = ["pets.jpg", "cat_720p.jpg", "parrot.jpg", "bird.png", "sunflower.png"]


class Articles(unittest.TestCase):
    def test_article_for(self):
        for word, want in (("owl", "an"), ("eagle", "an"), ("iguana", "an"), ("umbrella", "an"),
                           ("apple", "an"), ("unicycle", "a"), ("uniform", "a"),
                           ("ukulele", "an"), ("eucalyptus", "a"), ("ewe", "a"),
                           ("one-man band", "a"), ("hourglass", "an"), ("honest man", "an"),
                           ("heir", "an"), ("honor guard", "an"), ("hot dog", "a"),
                           ("dog", "a"), ("Owl", "an"), ("user", "a"), ("utensil", "a")):
            self.assertEqual(reference.article_for(word), want, word)

    def test_fix_articles(self):
        vocab = ["<pad>", "<start>", "<end>", "<unk>", "a", "an", "dog", "owl", "owls", "big",
                 "unicorn"]
        fix = reference.fix_articles
        self.assertEqual(fix([4, 7, 9, 4, 6], {7, 8}, vocab), [5, 7, 9, 4, 6])  # a owl -> an owl
        self.assertEqual(fix([5, 10], {10}, vocab), [4, 10])       # an unicorn -> a unicorn
        self.assertEqual(fix([4, 9, 7], {7}, vocab), [4, 9, 7])     # not directly before: kept
        self.assertEqual(fix([5, 6], {7}, vocab), [5, 6])           # not a forced word: kept
        self.assertEqual(fix([4, 8, 4, 7], {7, 8}, vocab), [5, 8, 5, 7])  # "a owls": the text
        no_an = vocab[:5] + ["x"] + vocab[6:]
        self.assertEqual(fix([4, 7], {7}, no_an), [4, 7])           # no "an" in the vocabulary


class ForcedWord(unittest.TestCase):
    classes = [(-1, -1, "background"), (6, 7, "a"), (8, 9, "b"), (6, 10, "c"), (-1, -1, "d"),
               (8, 9, "e"), (11, 11, "f")]

    def test_summed_over_classes(self):
        p = np.array([0.05, 0.3, 0.2, 0.25, 0.1, 0.05, 0.05], dtype=np.float32)
        w, pw, forced = reference.forced_word(p, self.classes)
        self.assertEqual(w, 6)
        self.assertEqual(pw, np.float32(np.float32(0.3) + np.float32(0.25)))
        self.assertEqual(forced, [6, 7])  # the plural of the lowest class with that singular

    def test_ties_to_the_lower_token_and_plural_equal_singular(self):
        p = np.array([0.0, 0.2, 0.1, 0.0, 0.3, 0.1, 0.3], dtype=np.float32)
        # P(6) = 0.2, P(8) = 0.2 (0.1 + 0.1), P(11) = 0.3
        self.assertEqual(reference.forced_word(p, self.classes)[2], [11])
        p = np.array([0.0, 0.25, 0.125, 0.0, 0.25, 0.125, 0.25], dtype=np.float32)
        w, pw, _ = reference.forced_word(p, self.classes)
        self.assertEqual((w, pw), (6, np.float32(0.25)))  # 6, 8, 11 tie: the lowest token

    def test_general_word_backs_off(self):
        # classes 1 and 2 have the general word 12 (plural 13). Their own words: P(6) = 0.3,
        # P(8) = 0.25 + 0.05, P(11) = 0.4: none reaches 0.5.
        general = [(-1, -1), (12, 13), (12, 13), (-1, -1), (-1, -1), (-1, -1), (-1, -1)]
        p = np.array([0.0, 0.3, 0.25, 0.0, 0.0, 0.05, 0.4], dtype=np.float32)
        # P(11) = 0.4 < 0.5; general: P(12) = 0.3 + 0.25 = 0.55 >= 0.5
        w, pw, forced = reference.forced_word(p, self.classes, general, 0.5)
        self.assertEqual((w, forced), (12, [12, 13]))
        self.assertEqual(pw, np.float32(np.float32(0.3) + np.float32(0.25)))
        # below the threshold the general word does not win: the plain best, unforced
        w, pw, _ = reference.forced_word(p, self.classes, general, 0.6)
        self.assertEqual((w, pw), (11, np.float32(0.4)))
        # a confident word is never replaced by its general word
        w, _, _ = reference.forced_word(p, self.classes, general, 0.35)
        self.assertEqual(w, 11)

    def test_top_tags(self):
        p = np.array([0.5, 0.1, 0.2, 0.1, 0.05, 0.2, 0.0], dtype=np.float32)
        vocab = ["w%d" % i for i in range(12)]
        tags = reference.top_tags(p, self.classes, vocab, 4)
        self.assertEqual([t["class_index"] for t in tags], [1, 4, 0, 2])  # background left out
        self.assertEqual(tags[0]["word"], "w8")
        self.assertIsNone(reference.top_tags(p, self.classes, vocab, 5)[4]["word"])  # excluded


class SmallDecoder(unittest.TestCase):
    """constrained_search on a random decoder with V0 = 10 trained tokens and 2 added ones."""

    def setUp(self):
        torch.manual_seed(3)
        self.dec = dm.SoftAttentionDecoder(12, feature_dim=6, embed_dim=5, attention_dim=4,
                                           hidden_dim=7).eval()
        self.feats = torch.randn(1, 4, 6)

    def test_log_probs(self):
        logits = torch.randn(2, 10)
        extra = torch.randn(2, 2)
        lp = reference.constrained_log_probs(logits, extra, [11, 4], 12, dm.SPECIAL_IDS)
        want = torch.log_softmax(logits, 1)
        np.testing.assert_allclose(lp[:, 4:10], want[:, 4:10].numpy(), rtol=0, atol=1e-6)
        np.testing.assert_allclose(lp[:, 11], (extra[:, 0] - logits.logsumexp(1)).numpy(),
                                   rtol=0, atol=1e-6)
        self.assertTrue(np.all(lp[:, 10] == -np.inf))  # an added word not forced
        self.assertTrue(np.all(lp[:, [0, 1, 3]] == -np.inf))  # <pad>, <start>, <unk>
        self.assertTrue(np.all(np.isfinite(lp[:, 2])))  # <end>

    def test_invariants(self):
        finished_any = 0
        for forced in ([10, 11], [10], [7]):
            for beam in (1, 3, 5):
                nbest, n_finished = reference.constrained_search(
                    self.dec, self.feats, forced, beam, max_len=8, n_vocab=10)
                finished_any += n_finished > 0
                self.assertLessEqual(len(nbest), beam)
                self.assertEqual(sum(x["finished"] for x in nbest), n_finished)
                self.assertEqual([x["finished"] for x in nbest],
                                 sorted((x["finished"] for x in nbest), reverse=True))
                for x in nbest:
                    self.assertTrue(set(x["tokens"]) & set(forced), (forced, x["tokens"]))
                    self.assertTrue(all(t < 10 or t in forced for t in x["tokens"]))
                    self.assertEqual(len(x["alphas"]), len(x["tokens"]))
                    self.assertAlmostEqual(x["logprob"], self.rescore(x, forced), places=5)
        self.assertGreater(finished_any, 0)

    def rescore(self, hyp, forced):
        """The hypothesis' logprob by teacher forcing with the constrained log-probs (float32
        sums in the search's order)."""
        d = self.dec
        att_a = d.att_feature(self.feats)
        h, c = d.init_state(self.feats)
        total = np.float32(0)
        prev = dm.SPECIAL_IDS["token_start"]
        seq = hyp["tokens"] + ([dm.SPECIAL_IDS["token_end"]] if hyp["finished"] else [])
        with torch.no_grad():
            for tok in seq:
                logits, more, h, c, _, _ = reference.decoder_step(
                    d, self.feats, att_a, d.embedding(torch.tensor([prev])), h, c, 10,
                    torch.tensor(forced))
                lp = reference.constrained_log_probs(logits, more, forced, 12, dm.SPECIAL_IDS)
                total = np.float32(total + lp[0, tok])
                prev = tok
        return float(total)

    def test_no_forced_word_reachable_falls_back(self):
        # max_len 1: nothing can hold the word and finish; the n-best has no finished caption
        nbest, n_finished = reference.constrained_search(self.dec, self.feats, [10, 11], 3,
                                                         max_len=1, n_vocab=10)
        self.assertEqual(n_finished, 0)
        self.assertTrue(all(set(x["tokens"]) & {10, 11} for x in nbest))


@unittest.skipUnless(os.path.exists(DEFAULT_MODEL), "no shipped model")
class Photos(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        torch.set_num_threads(2)
        cls.cap = reference.Captioner(DEFAULT_MODEL)
        cls.analyzed = {p: cls.cap.analyze_batch([load_rgb(os.path.join(ASSETS, p))])
                        for p in PHOTOS}

    def run_search(self, photo, **options):
        feats, probs = self.analyzed[photo]
        return self.cap.search_batch(feats, probs, 3, **options)[0]

    def text(self, r):
        return self.cap.text(r["nbest"][0]["tokens"])

    def test_forced_word_in_every_caption(self):
        self.assertEqual(self.cap.config["version"], 2)
        forced_any = 0
        for photo in PHOTOS:
            r = self.run_search(photo)
            self.assertEqual(len(r["tags"]), reference.DEFAULT_MAX_TAGS)
            probs = [t["prob"] for t in r["tags"]]
            self.assertEqual(probs, sorted(probs, reverse=True))
            if r["forced_word"] < 0:
                continue
            forced_any += 1
            self.assertGreaterEqual(r["forced_prob"], reference.DEFAULT_TAG_THRESHOLD)
            w = self.cap.vocab[r["forced_word"]]
            plural = next(pl for s, pl, _ in self.cap.classes if s == r["forced_word"])
            forms = {w, self.cap.vocab[plural]}
            # the top tag's word here is the forced word
            self.assertEqual(r["tags"][0]["word"], w, photo)
            for x in r["nbest"]:
                self.assertTrue(forms & {self.cap.vocab[t] for t in x["tokens"]},
                                "%s: '%s' lacks %s" % (photo, self.cap.text(x["tokens"]), forms))
            print("%s: forced %s (%.4f): %s" % (photo, w, r["forced_prob"], self.text(r)))
        self.assertGreaterEqual(forced_any, 3)  # cat, parrot, dog, bird, flower

    def test_parrot_is_named(self):
        # the plain search says "a person in a blue jacket ..."; the tagger sees a macaw
        r = self.run_search("parrot.jpg")
        self.assertIn("parrot", self.text(r).split())
        self.assertNotIn("parrot", self.text(self.run_search("parrot.jpg", max_tags=0)).split())

    def test_threshold_above_one_is_the_plain_search(self):
        for photo in PHOTOS:
            never = self.run_search(photo, tag_threshold=2.0)
            plain = self.run_search(photo, max_tags=0)
            self.assertEqual(never["forced_word"], -1)
            self.assertEqual(len(never["tags"]), reference.DEFAULT_MAX_TAGS)
            self.assertEqual(plain["tags"], [])
            self.assertEqual([x["tokens"] for x in never["nbest"]],
                             [x["tokens"] for x in plain["nbest"]], photo)
            self.assertTrue(all(t < self.cap.base_vocab for x in plain["nbest"]
                                for t in x["tokens"]))

    def test_version1_file_gives_the_plain_captions(self):
        config, vocab, tensors = model_file.read_model(DEFAULT_MODEL)
        V0 = config["base_vocab_size"]
        config.update(vocab_size=V0, classes=None)
        tensors = {k: (v[:V0] if k.startswith(("decoder.embedding", "decoder.out_logits")) else v)
                   for k, v in tensors.items() if not k.startswith("tagger.")}
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "v1.bin")
            model_file.write_model(path, config, vocab[:V0], tensors)
            v1 = reference.Captioner(path)
            self.assertIsNone(v1.tagger)
            paths = [os.path.join(ASSETS, p) for p in PHOTOS]
            got = v1.caption_results(paths)
        for (_, r, e), photo in zip(got, PHOTOS):
            self.assertIsNone(e)
            self.assertEqual((r["tags"], r["forced_word"]), ([], -1))
            self.assertEqual(self.cap.text(r["nbest"][0]["tokens"]),
                             self.text(self.run_search(photo, max_tags=0)), photo)

    def test_batch_equals_one_at_a_time(self):
        paths = [os.path.join(ASSETS, p) for p in PHOTOS]
        batch = [t for _, t, _ in self.cap.caption_batch(paths)]
        single = [self.text(self.run_search(p)) for p in PHOTOS]
        self.assertEqual(batch, single)


if __name__ == "__main__":
    unittest.main(verbosity=2)
