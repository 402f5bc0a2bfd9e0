#!/usr/bin/env python3
"""Tests for captioner/evaluate.py and its command line tools/evaluate.py (coco-caption BLEU,
ROUGE-L, CIDEr-D).

Run with Debian's interpreter: /usr/bin/python3 tests/test_evaluate.py
The expected values below are derived by hand in the comments; nltk (if installed) is used as an
independent check of corpus BLEU.
"""
import io
import json
import math
import os
import random
import subprocess
import sys
import tempfile
import unittest
from contextlib import redirect_stderr, redirect_stdout

from captioner import evaluate as ev

TOOLS = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "tools")
EVALUATE_PY = os.path.join(TOOLS, "evaluate.py")


def tok(caption):
    return ev.tokenize(caption)


class TokenizeTest(unittest.TestCase):
    def test_lowercases_and_removes_punctuation(self):
        self.assertEqual(tok("A Dog runs , jumps ; and barks ."),
                         ["a", "dog", "runs", "jumps", "and", "barks"])
        self.assertEqual(tok("Why ? Yes ! -- ' `` '' ` : - ..."), ["why", "yes"])

    def test_keeps_words_with_inner_punctuation(self):
        self.assertEqual(tok("A boy 's T-shirt"), ["a", "boy", "'s", "t-shirt"])

    def test_ptb_symbol_rewriting(self):
        # PTB turns " into `` / '' (removed) and ( ) into -LRB- -RRB-, which coco's -lowerCase
        # run prints as -lrb- -rrb-: not in the upper-case PUNCTUATIONS list, so they stay.
        self.assertEqual(tok('a sign saying " sale " ( red )'),
                         ["a", "sign", "saying", "sale", "-lrb-", "red", "-rrb-"])

    def test_empty_and_whitespace(self):
        self.assertEqual(tok(""), [])
        self.assertEqual(tok("  a \t b  .\n"), ["a", "b"])


class BleuTest(unittest.TestCase):
    def test_single_image_by_hand(self):
        # hyp  "a dog runs on grass"       c = 5
        # ref1 "a dog runs on the grass"   6
        # ref2 "a brown dog runs"          4
        # Closest reference length: |6-5| = |4-5| = 1, a tie, which goes to the shorter: r = 4.
        # c = 5 >= r = 4, so BP = 1. (Ties to the longer would give BP = exp(1 - 6/5) = 0.819.)
        # 1-grams: a dog runs on grass all occur in a reference           -> p1 = 5/5
        # 2-grams: "a dog" "dog runs" "runs on" match, "on grass" not     -> p2 = 3/4
        # 3-grams: "a dog runs" "dog runs on" match, "runs on grass" not  -> p3 = 2/3
        # 4-grams: "a dog runs on" matches, "dog runs on grass" not       -> p4 = 1/2
        # BLEU-1 = 1; BLEU-2 = (1 * 3/4)^(1/2) = 0.8660254; BLEU-3 = (1 * 3/4 * 2/3)^(1/3)
        # = 0.5^(1/3) = 0.7937005; BLEU-4 = (0.5 * 1/2)^(1/4) = 0.25^(1/4) = 0.7071068.
        bleu = ev.corpus_bleu([tok("a dog runs on grass")],
                              [[tok("a dog runs on the grass"), tok("a brown dog runs")]])
        for got, want in zip(bleu, [1.0, math.sqrt(0.75), 0.5 ** (1 / 3), 0.25 ** 0.25]):
            self.assertAlmostEqual(got, want, delta=1e-6)

    def test_clipping(self):
        # hyp "the the the the" vs ref "the cat": "the" occurs 4 times but at most once in the
        # reference, so the clipped 1-gram count is 1 -> p1 = 1/4. c = 4 > r = 2, BP = 1.
        self.assertAlmostEqual(ev.corpus_bleu([tok("the the the the")], [[tok("the cat")]])[0],
                               0.25, delta=1e-6)

    def test_brevity_penalty_and_epsilons(self):
        # hyp "a dog runs" (c = 3), ref "a dog runs on grass" (r = 5): p1 = p2 = p3 = 1, BP =
        # exp(1 - 5/3) = 0.5134171. There is no 4-gram in the hypothesis: coco's p4 =
        # (0 + 1e-15) / (0 + 1e-9) = 1e-6, so BLEU-4 = BP * (1e-6)^(1/4) = 0.0162357 (not 0).
        bleu = ev.corpus_bleu([tok("a dog runs")], [[tok("a dog runs on grass")]])
        bp = math.exp(1 - 5 / 3)
        for got, want in zip(bleu, [bp, bp, bp, bp * 1e-6 ** 0.25]):
            self.assertAlmostEqual(got, want, delta=1e-6)

    def test_closest_reference_length_ties_to_shorter(self):
        self.assertEqual(ev.closest_reference_length([6, 4], 5), 4)
        self.assertEqual(ev.closest_reference_length([9, 7, 3], 8), 7)
        self.assertEqual(ev.closest_reference_length([12, 10], 11), 10)

    def test_identical_hypothesis_and_references(self):
        captions = {"a.jpg": "a man rides a red bike down the hill .",
                    "b.jpg": "two dogs play in the snow ."}
        scores = ev.evaluate(captions, {k: [v, v] for k, v in captions.items()})
        for name in ["BLEU-1", "BLEU-2", "BLEU-3", "BLEU-4"]:
            self.assertAlmostEqual(scores[name], 1.0, delta=1e-6)
        self.assertAlmostEqual(scores["ROUGE-L"], 1.0, delta=1e-12)

    def test_matches_nltk_corpus_bleu(self):
        try:
            from nltk.translate.bleu_score import corpus_bleu as nltk_corpus_bleu
        except ImportError:
            self.skipTest("nltk not installed (use /usr/bin/python3)")
        hypotheses, references = synthetic_corpus(random.Random(8), 50)

        # nltk only differs from coco (beyond the 1e-15/1e-9 epsilons) when a precision is 0
        # (its smoothing), and it picks the closest reference length with ties to the shorter
        # too. Check the corpus really has non-zero precisions and a brevity penalty < 1.
        totals = [ev.bleu_sentence_statistics(h, r) for h, r in zip(hypotheses, references)]
        for k in range(4):
            self.assertGreater(sum(t[3][k] for t in totals), 0)
        self.assertLess(sum(t[0] for t in totals), sum(t[1] for t in totals))

        ours = ev.corpus_bleu(hypotheses, references)
        for n in range(1, 5):
            theirs = nltk_corpus_bleu(references, hypotheses, weights=[1.0 / n] * n)
            self.assertAlmostEqual(ours[n - 1], theirs, delta=1e-6, msg="BLEU-%d" % n)


def synthetic_corpus(rng, size):
    """Random captions over a small vocabulary, each with 3-5 references made by editing it
    (substitutions, deletions, insertions; mostly insertions, so references are longer)."""
    vocab = ("a the man woman dog cat boy girl runs sits jumps on in with red blue green "
             "grass water street ball hat shirt big small two").split()
    hypotheses, references = [], []
    for _ in range(size):
        hypothesis = [rng.choice(vocab) for _ in range(rng.randint(5, 12))]
        refs = []
        for _ in range(rng.randint(3, 5)):
            ref = []
            for word in hypothesis:
                roll = rng.random()
                if roll < 0.15:
                    ref.append(rng.choice(vocab))           # substitution
                elif roll < 0.25:
                    pass                                     # deletion
                elif roll < 0.50:
                    ref.extend([word, rng.choice(vocab)])   # insertion
                else:
                    ref.append(word)
            refs.append(ref or [rng.choice(vocab)])
        hypotheses.append(hypothesis)
        references.append(refs)
    return hypotheses, references


class RougeTest(unittest.TestCase):
    def test_lcs(self):
        self.assertEqual(ev.lcs_length("a b c d e".split(), "a c e f".split()), 3)
        self.assertEqual(ev.lcs_length([], ["a"]), 0)

    def test_by_hand(self):
        # hyp  "a man is riding a red bike"                 (7 tokens)
        # ref1 "a man rides a red bicycle"                  (6): LCS "a man a red"          = 4
        # ref2 "the man is riding a bike down the road"     (10): LCS "man is riding a bike" = 5
        # P = max(4/7, 5/7) = 5/7 (ref2), R = max(4/6, 5/10) = 2/3 (ref1)
        # F = (1 + 1.44) * 5/7 * 2/3 / (2/3 + 1.44 * 5/7) = 1.1619048 / 1.6952381 = 0.6853933
        score = ev.rouge_l(tok("a man is riding a red bike"),
                           [tok("a man rides a red bicycle"),
                            tok("the man is riding a bike down the road")])
        p, r = 5 / 7, 2 / 3
        self.assertAlmostEqual(score, 2.44 * p * r / (r + 1.44 * p), delta=1e-12)
        self.assertAlmostEqual(score, 0.6853933, delta=1e-6)

    def test_no_overlap_and_empty_hypothesis(self):
        self.assertEqual(ev.rouge_l(tok("a b"), [tok("c d")]), 0.0)
        self.assertEqual(ev.rouge_l([], [tok("c d")]), 0.0)


# Three images for the CIDEr-D (and CLI) example.
CIDER_HYPS = {"1.jpg": "a dog", "2.jpg": "a cat cat", "3.jpg": "a dog sleeps"}
CIDER_REFS = {"1.jpg": ["a dog runs", "dog runs"], "2.jpg": ["a cat sleeps"],
              "3.jpg": ["a dog sleeps"]}
# N = 3 images. df over the images' reference sets (an n-gram counts once per image):
#   "a": 3 -> idf = log 3 - log 3 = 0
#   "dog", "sleeps", "a dog": 2 -> idf = log 3 - log 2 = log 1.5 =: B = 0.4054651
#   every other n-gram (also "cat cat", "a cat cat", df 0 -> max(1, 0) = 1): idf = log 3 =: A
#   A = 1.0986123, S := sqrt(A^2 + B^2) = 1.1710469
# Image 1, hyp "a dog" (2 words): 1-grams {a: 0, dog: B}, |.| = B; 2-grams {a dog: B}, |.| = B;
#   no 3-, 4-grams (norm 0, similarity 0).
#   ref "a dog runs" (3 words): 1-grams {a: 0, dog: B, runs: A}, |.| = S;
#     2-grams {a dog: B, dog runs: A}, |.| = S. Clipped products: min(B, B) * B = B^2 for both.
#     sim1 = sim2 = B^2 / (B S) = B / S = 0.3462416; length penalty exp(-(2-3)^2 / 72) = 0.9862071
#   ref "dog runs" (2 words): 1-grams {dog: B, runs: A}, |.| = S -> sim1 = B / S; 2-grams
#     {dog runs: A}: "a dog" is absent -> sim2 = 0; penalty exp(0) = 1.
#   CIDEr-D = 10 * (sum over refs and n of sim) / 4 / 2 = 10 * (B/S)(2 * 0.9862071 + 1) / 8
#           = 1.2864667
# Image 2, hyp "a cat cat": 1-grams {a: 0, cat: 2A}, |.| = 2A; 2-grams {a cat: A, cat cat: A},
#   |.| = sqrt(2) A; 3-grams {a cat cat: A}.
#   ref "a cat sleeps": 1-grams {a: 0, cat: A, sleeps: B}, |.| = S; 2-grams {a cat: A,
#   cat sleeps: A}, |.| = sqrt(2) A; 3-grams {a cat sleeps: A}.
#   sim1: clipped min(2A, A) * A = A^2 (unclipped would be 2A^2) -> A^2 / (2A S) = A / (2S)
#         = 0.4690734
#   sim2: "a cat" A * A = A^2 -> A^2 / (sqrt(2) A sqrt(2) A) = 1/2;  sim3: 0;  penalty 1.
#   CIDEr-D = 10 * (0.4690734 + 0.5) / 4 = 2.4226817
# Image 3, hyp = ref = "a dog sleeps": sim1 = sim2 = sim3 = 1, no 4-grams -> sim4 = 0.
#   CIDEr-D = 10 * 3 / 4 = 7.5
# Corpus CIDEr-D = (1.2864667 + 2.4226817 + 7.5) / 3 = 3.7363828
A, B = math.log(3), math.log(1.5)
S = math.sqrt(A * A + B * B)
CIDER_IMAGE_1 = 10 * (B / S) * (2 * math.exp(-1 / 72) + 1) / 8
CIDER_IMAGE_2 = 10 * (A / (2 * S) + 0.5) / 4
CIDER_IMAGE_3 = 7.5
CIDER_CORPUS = (CIDER_IMAGE_1 + CIDER_IMAGE_2 + CIDER_IMAGE_3) / 3
# The same example for BLEU and ROUGE-L (used by the CLI test):
#   c = 2 + 3 + 3 = 8; closest r = 2 ("dog runs") + 3 + 3 = 8 -> BP = 1.
#   1-grams: 2/2 + (a, cat clipped to 1 of 2) 2/3 + 3/3 -> p1 = 7/8
#   2-grams: "a dog" 1/1 + "a cat" yes, "cat cat" no 1/2 + 2/2 -> p2 = 4/5
#   3-grams: "a cat cat" 0/1 + "a dog sleeps" 1/1 -> p3 = 1/2;  no 4-grams -> p4 = 1e-15/1e-9
#   BLEU-1 = 0.875, BLEU-2 = sqrt(0.7) = 0.8366600, BLEU-3 = 0.35^(1/3) = 0.7047299,
#   BLEU-4 = (0.35e-6)^(1/4) = 0.0243230
#   ROUGE-L: image 1: P = max(2/2, 1/2) = 1, R = max(2/3, 1/2) = 2/3 -> F = 2.44 * 2/3 /
#   (2/3 + 1.44) = 0.7721519; image 2: LCS "a cat" = 2, P = R = 2/3 -> F = 2/3; image 3: 1.
#   mean = 0.8129395
EXAMPLE_SCORES = {
    "BLEU-1": 0.875, "BLEU-2": math.sqrt(0.7), "BLEU-3": 0.35 ** (1 / 3),
    "BLEU-4": (0.35e-6) ** 0.25,
    "ROUGE-L": (2.44 * (2 / 3) / (2 / 3 + 1.44) + 2 / 3 + 1) / 3,
    "CIDEr-D": CIDER_CORPUS, "images": 3}


class CiderDTest(unittest.TestCase):
    def test_document_frequency(self):
        df = ev.document_frequency([[tok(c) for c in CIDER_REFS[k]] for k in sorted(CIDER_REFS)])
        self.assertEqual(df[("a",)], 3)
        self.assertEqual(df[("dog",)], 2)       # counted once for image 1's two references
        self.assertEqual(df[("a", "dog")], 2)
        self.assertEqual(df[("dog", "runs")], 1)
        self.assertNotIn(("cat", "cat"), df)

    def test_per_image_by_hand(self):
        refs = [[tok(c) for c in CIDER_REFS[k]] for k in sorted(CIDER_REFS)]
        df = ev.document_frequency(refs)
        for image, want in zip(sorted(CIDER_HYPS), [CIDER_IMAGE_1, CIDER_IMAGE_2, CIDER_IMAGE_3]):
            got = ev.cider_d_image(tok(CIDER_HYPS[image]), [tok(c) for c in CIDER_REFS[image]],
                                   df, math.log(3))
            self.assertAlmostEqual(got, want, delta=1e-6, msg=image)
        self.assertAlmostEqual(CIDER_IMAGE_1, 1.2864667, delta=1e-6)
        self.assertAlmostEqual(CIDER_IMAGE_2, 2.4226817, delta=1e-6)

    def test_corpus_by_hand(self):
        hyps = [tok(CIDER_HYPS[k]) for k in sorted(CIDER_HYPS)]
        refs = [[tok(c) for c in CIDER_REFS[k]] for k in sorted(CIDER_REFS)]
        self.assertAlmostEqual(ev.corpus_cider_d(hyps, refs), 3.7363828, delta=1e-6)

    def test_length_penalty(self):
        # N = 2 and an empty df, so every idf is log 2 > 0. hyp "x y" vs ref "x y z z z z z z"
        # (delta = -6): the penalty exp(-36 / 72) = exp(-0.5) multiplies each order's similarity.
        vectors = lambda words: ev.tfidf_vectors(tok(words), {}, math.log(2))  # noqa: E731
        near = ev.cider_d_similarity(vectors("x y"), vectors("x y z"))
        far = ev.cider_d_similarity(vectors("x y"), vectors("x y z z z z z z"))
        self.assertAlmostEqual(near[0] * math.exp(1 / 72), 2 / math.sqrt(2) / math.sqrt(3),
                               delta=1e-12)
        # ref "x y z z z z z z": 1-grams {x: L, y: L, z: 6L}: cos = 2 / (sqrt(2) sqrt(38))
        self.assertAlmostEqual(far[0], 2 / math.sqrt(2) / math.sqrt(38) * math.exp(-0.5),
                               delta=1e-12)

    def test_evaluate_reports_all_metrics(self):
        scores = ev.evaluate(CIDER_HYPS, CIDER_REFS)
        for name, want in EXAMPLE_SCORES.items():
            self.assertAlmostEqual(scores[name], want, delta=1e-6, msg=name)

    def test_only_hypothesis_images_are_evaluated(self):
        refs = dict(CIDER_REFS, **{"4.jpg": ["a dog runs"]})  # would change df and N
        self.assertAlmostEqual(ev.evaluate(CIDER_HYPS, refs)["CIDEr-D"], CIDER_CORPUS,
                               delta=1e-12)

    def test_missing_references_is_an_error(self):
        with self.assertRaisesRegex(ev.EvaluationError, "no reference captions.*9.jpg"):
            ev.evaluate({"9.jpg": "a dog"}, CIDER_REFS)


class HumanBaselineTest(unittest.TestCase):
    def test_split(self):
        hyps, refs = ev.human_baseline({"x.jpg": ["r0", "r1", "r2"], "y.jpg": ["s0", "s1"]})
        self.assertEqual(hyps, {"x.jpg": "r0", "y.jpg": "s0"})
        self.assertEqual(refs, {"x.jpg": ["r1", "r2"], "y.jpg": ["s1"]})

    def test_needs_two_references(self):
        with self.assertRaises(ev.EvaluationError):
            ev.human_baseline({"x.jpg": ["r0"]})


class CommandLineTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.hyps = self.write("hyps.tsv", "".join(
            "/data/images/%s\t%s\n" % (k, v) for k, v in sorted(CIDER_HYPS.items())))
        # Flickr8k style: capitals, " ." at the end, numbered out of order on purpose.
        self.refs = self.write("refs.txt", "".join([
            "2.jpg#0\tA cat sleeps .\n",
            "1.jpg#1\tDog runs .\n",
            "1.jpg#0\tA dog runs .\n",
            "3.jpg#0\tA dog , sleeps .\n",
            "5.jpg#0\tA bird flies .\n",
        ]))

    def tearDown(self):
        self.tmp.cleanup()

    def write(self, name, text):
        path = os.path.join(self.tmp.name, name)
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
        return path

    def run_cli(self, *args):
        result = subprocess.run([sys.executable, EVALUATE_PY] + list(args),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                universal_newlines=True)
        return result.returncode, result.stdout, result.stderr

    def test_text_output(self):
        code, out, err = self.run_cli(self.hyps, self.refs)
        self.assertEqual(code, 0, err)
        expected = ["%s %.4f" % (name, EXAMPLE_SCORES[name]) for name in ev.METRICS]
        self.assertEqual(out.splitlines(), expected + ["images 3"])
        self.assertEqual(expected, ["BLEU-1 0.8750", "BLEU-2 0.8367", "BLEU-3 0.7047",
                                    "BLEU-4 0.0243", "ROUGE-L 0.8129", "CIDEr-D 3.7364"])

    def test_json_output(self):
        code, out, err = self.run_cli(self.hyps, self.refs, "--json")
        self.assertEqual(code, 0, err)
        scores = json.loads(out)
        self.assertEqual(scores["images"], 3)
        for name in ev.METRICS:
            self.assertAlmostEqual(scores[name], EXAMPLE_SCORES[name], delta=1e-6, msg=name)

    def test_image_list_check(self):
        exact = self.write("exact.txt", "1.jpg\n2.jpg\n3.jpg\n")
        self.assertEqual(self.run_cli(self.hyps, self.refs, "--images", exact)[0], 0)
        more = self.write("more.txt", "1.jpg\n2.jpg\n3.jpg\n5.jpg\n")
        code, out, err = self.run_cli(self.hyps, self.refs, "--images", more)
        self.assertEqual(code, 1)
        self.assertIn("not captioned: 5.jpg", err)
        self.assertEqual(out, "")

    def test_image_without_references(self):
        hyps = self.write("hyps2.tsv", "/x/1.jpg\ta dog\n/x/7.jpg\ta cat\n")
        code, _, err = self.run_cli(hyps, self.refs)
        self.assertEqual(code, 1)
        self.assertIn("no reference captions for 1 image(s): 7.jpg", err)

    def test_human_mode(self):
        refs = self.write("human.txt", "".join([
            "1.jpg#0\tA dog runs .\n", "1.jpg#1\tA dog runs fast .\n", "1.jpg#2\tDogs run .\n",
            "2.jpg#0\tA cat .\n", "2.jpg#1\tA cat sleeps .\n", "2.jpg#2\tA black cat .\n"]))
        code, out, err = self.run_cli("--human", refs, "--json")
        self.assertEqual(code, 0, err)
        want = ev.evaluate({"1.jpg": "A dog runs .", "2.jpg": "A cat ."},
                           {"1.jpg": ["A dog runs fast .", "Dogs run ."],
                            "2.jpg": ["A cat sleeps .", "A black cat ."]})
        self.assertEqual(json.loads(out), want)

    def test_main_in_process(self):
        out, err = io.StringIO(), io.StringIO()
        with redirect_stdout(out), redirect_stderr(err):
            code = ev.main([self.hyps, self.refs])
        self.assertEqual(code, 0)
        self.assertTrue(out.getvalue().endswith("CIDEr-D 3.7364\nimages 3\n"))


if __name__ == "__main__":
    unittest.main()
