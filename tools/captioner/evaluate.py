#!/usr/bin/env python3
"""Caption evaluation with the coco-caption definitions of BLEU, ROUGE-L and CIDEr-D.

The metrics follow the reference implementation used by the MS COCO evaluation server
(github.com/tylin/coco-caption, package `pycocoevalcap`), described in

  X. Chen et al., "Microsoft COCO Captions: Data Collection and Evaluation Server", 2015;
  K. Papineni et al., "BLEU: a Method for Automatic Evaluation of Machine Translation", ACL 2002;
  C.-Y. Lin, "ROUGE: A Package for Automatic Evaluation of Summaries", 2004;
  R. Vedantam et al., "CIDEr: Consensus-based Image Description Evaluation", CVPR 2015.

Only the Python standard library is used, so the script runs with any Python 3.8+.

Usage:
  evaluate.py HYPOTHESES REFERENCES [--images LIST] [--json]
  evaluate.py --human REFERENCES [--images LIST] [--json]

HYPOTHESES has lines `PATH<TAB>CAPTION` (the `caption` CLI's output; the image id is the
basename of PATH). REFERENCES is in Flickr8k format, `IMAGE.jpg#K<TAB>caption`.
"""
import argparse
import json
import math
import os
import sys
from collections import Counter

MAX_N = 4  # BLEU-1..4 and CIDEr-D's n = 1..4

# pycocoevalcap/tokenizer/ptbtokenizer.py: tokens dropped after PTB tokenisation.
PUNCTUATIONS = frozenset(["''", "'", "``", "`", "-LRB-", "-RRB-", "-LCB-", "-RCB-",
                          ".", "?", "!", ",", ":", "-", "--", "...", ";"])

# How Stanford's PTBTokenizer (ptb3Escaping, the default) rewrites the stand-alone symbols that
# occur in the already space-tokenised Flickr8k captions. coco-caption runs the tokenizer with
# -lowerCase, which lower-cases *after* this rewriting, so brackets come out as "-lrb-" etc.
# and are NOT matched by the upper-case entries of PUNCTUATIONS: they stay as tokens. ASCII
# double quotes become `` or '', which are removed.
PTB_SYMBOLS = {'"': "''", "(": "-lrb-", ")": "-rrb-", "[": "-lsb-", "]": "-rsb-",
               "{": "-lcb-", "}": "-rcb-"}

# BLEU epsilons, pycocoevalcap/bleu/bleu_scorer.py BleuScorer.compute_score.
BLEU_TINY = 1e-15   # added to the numerator of each precision (and to the hypothesis length)
BLEU_SMALL = 1e-9   # added to the denominator of each precision (and to the reference length)

ROUGE_BETA = 1.2    # pycocoevalcap/rouge/rouge.py Rouge.__init__
CIDER_SIGMA = 6.0   # pycocoevalcap/cider/cider_scorer.py CiderScorer(sigma=6.0)

METRICS = ["BLEU-1", "BLEU-2", "BLEU-3", "BLEU-4", "ROUGE-L", "CIDEr-D"]


class EvaluationError(Exception):
    """Bad input: missing references, malformed lines, wrong image set."""


# ---------------------------------------------------------------------------------------------
# Tokenisation
# ---------------------------------------------------------------------------------------------

def tokenize(caption):
    """Return the token list coco-caption's PTBTokenizer produces for a space-tokenised caption.

    ptbtokenizer.py runs Stanford PTBTokenizer with -preserveLines -lowerCase and then drops
    the tokens in PUNCTUATIONS. Flickr8k captions are already tokenised on spaces, so this is:
    lower-case, split on whitespace, apply PTB's symbol rewriting (PTB_SYMBOLS), drop
    punctuation tokens.
    """
    tokens = (PTB_SYMBOLS.get(word, word) for word in caption.lower().split())
    return [word for word in tokens if word not in PUNCTUATIONS]


def ngram_counts(tokens, max_n=MAX_N):
    """Counts of all n-grams (as tuples) of length 1..max_n; `precook` in bleu_scorer.py and
    cider_scorer.py."""
    counts = Counter()
    for n in range(1, max_n + 1):
        for start in range(len(tokens) - n + 1):
            counts[tuple(tokens[start:start + n])] += 1
    return counts


# ---------------------------------------------------------------------------------------------
# BLEU (Papineni et al. 2002; pycocoevalcap/bleu/bleu_scorer.py, option "closest")
# ---------------------------------------------------------------------------------------------

def closest_reference_length(reference_lengths, hypothesis_length):
    """The reference length closest to the hypothesis length, ties going to the shorter one
    (bleu_scorer.py `_single_reflen`, option "closest": min over (|l - c|, l))."""
    return min(reference_lengths, key=lambda length: (abs(length - hypothesis_length), length))


def bleu_sentence_statistics(hypothesis, references, max_n=MAX_N):
    """Sufficient statistics of one hypothesis for corpus BLEU (bleu_scorer.py `cook_test`).

    Returns (hypothesis length c, effective reference length r, guesses, correct), where
    guesses[k] is the number of (k+1)-grams in the hypothesis and correct[k] their count
    clipped by the maximum count of that n-gram in any single reference.
    """
    max_reference_counts = Counter()
    for reference in references:
        for ngram, count in ngram_counts(reference, max_n).items():
            max_reference_counts[ngram] = max(max_reference_counts[ngram], count)

    guesses = [max(0, len(hypothesis) - k) for k in range(max_n)]
    correct = [0] * max_n
    for ngram, count in ngram_counts(hypothesis, max_n).items():
        correct[len(ngram) - 1] += min(count, max_reference_counts[ngram])

    reference_length = closest_reference_length([len(r) for r in references], len(hypothesis))
    return len(hypothesis), reference_length, guesses, correct


def brevity_penalty(hypothesis_length, reference_length):
    """BP = exp(1 - r/c) if c < r else 1, with coco's epsilons guarding c = 0
    (bleu_scorer.py: ratio = (c + tiny) / (r + small); if ratio < 1: exp(1 - 1/ratio))."""
    ratio = (hypothesis_length + BLEU_TINY) / (reference_length + BLEU_SMALL)
    return math.exp(1.0 - 1.0 / ratio) if ratio < 1.0 else 1.0


def corpus_bleu(hypotheses, references, max_n=MAX_N):
    """Corpus BLEU-1..max_n as computed by coco-caption's Bleu scorer (option "closest").

    Clipped n-gram counts, n-gram totals, hypothesis lengths and closest reference lengths are
    summed over the corpus; BLEU-N = BP * (prod_{k<=N} p_k)^(1/N) with
    p_k = (correct_k + 1e-15) / (guesses_k + 1e-9).

    hypotheses: list of token lists; references: list of lists of token lists (same order).
    """
    total_c, total_r = 0, 0
    total_guesses, total_correct = [0] * max_n, [0] * max_n
    for hypothesis, refs in zip(hypotheses, references):
        c, r, guesses, correct = bleu_sentence_statistics(hypothesis, refs, max_n)
        total_c += c
        total_r += r
        for k in range(max_n):
            total_guesses[k] += guesses[k]
            total_correct[k] += correct[k]

    penalty = brevity_penalty(total_c, total_r)
    scores = []
    for n in range(1, max_n + 1):
        product = 1.0
        for k in range(n):
            product *= (total_correct[k] + BLEU_TINY) / (total_guesses[k] + BLEU_SMALL)
        scores.append(product ** (1.0 / n) * penalty)
    return scores


# ---------------------------------------------------------------------------------------------
# ROUGE-L (Lin 2004; pycocoevalcap/rouge/rouge.py)
# ---------------------------------------------------------------------------------------------

def lcs_length(a, b):
    """Length of the longest common subsequence of two token lists (rouge.py `my_lcs`)."""
    previous = [0] * (len(b) + 1)
    for token_a in a:
        current = [0]
        for j, token_b in enumerate(b):
            if token_a == token_b:
                current.append(previous[j] + 1)
            else:
                current.append(max(previous[j + 1], current[j]))
        previous = current
    return previous[-1]


def _coco_split(tokens):
    """rouge.py splits the joined caption with str.split(" "), so an empty caption is one
    empty token; mirror that so an empty caption scores 0 instead of dividing by zero."""
    return tokens if tokens else [""]


def rouge_l(hypothesis, references, beta=ROUGE_BETA):
    """Sentence ROUGE-L F-score (rouge.py `Rouge.calc_score`).

    P and R are the maxima over references of LCS/len(hypothesis) and LCS/len(reference)
    (possibly from different references); F = (1 + beta^2) P R / (R + beta^2 P), 0 if P or R is 0.
    """
    hypothesis = _coco_split(hypothesis)
    precisions, recalls = [], []
    for reference in references:
        reference = _coco_split(reference)
        lcs = lcs_length(reference, hypothesis)
        precisions.append(lcs / len(hypothesis))
        recalls.append(lcs / len(reference))
    p, r = max(precisions), max(recalls)
    if p == 0 or r == 0:
        return 0.0
    return ((1 + beta ** 2) * p * r) / (r + beta ** 2 * p)


def corpus_rouge_l(hypotheses, references):
    """Mean sentence ROUGE-L over images (rouge.py `Rouge.compute_score`)."""
    scores = [rouge_l(h, refs) for h, refs in zip(hypotheses, references)]
    return sum(scores) / len(scores)


# ---------------------------------------------------------------------------------------------
# CIDEr-D (Vedantam et al. 2015; pycocoevalcap/cider/cider_scorer.py, which is CIDEr-D:
# clipped hypothesis weights and a Gaussian length penalty, sigma = 6)
# ---------------------------------------------------------------------------------------------

def document_frequency(reference_sets):
    """df(g): the number of images whose reference set contains n-gram g at least once
    (cider_scorer.py `compute_doc_freq`). reference_sets: per image, a list of token lists."""
    df = Counter()
    for references in reference_sets:
        df.update({ngram for reference in references for ngram in ngram_counts(reference)})
    return df


def tfidf_vectors(tokens, df, log_num_images, max_n=MAX_N):
    """tf-idf vector of one caption, split by n-gram order (cider_scorer.py `counts2vec`).

    weight(g) = tf(g) * (log N - log max(1, df(g))); N = number of evaluated images.
    Returns (vectors, norms, length): vectors[n-1] maps each n-gram to its weight, norms[n-1]
    is that vector's Euclidean norm, and length is the caption's word count.

    Note on length: cider_scorer.py accumulates `length` over the n-grams with index n == 1,
    i.e. it counts bigrams (len - 1 for a non-empty caption). Only the difference of two
    lengths enters the penalty, so that equals the word-count difference used here; the two
    differ only when a caption is empty, and then the cosine is 0 anyway.
    """
    vectors = [{} for _ in range(max_n)]
    squared_norms = [0.0] * max_n
    for ngram, tf in ngram_counts(tokens, max_n).items():
        weight = tf * (log_num_images - math.log(max(1.0, df.get(ngram, 0))))
        vectors[len(ngram) - 1][ngram] = weight
        squared_norms[len(ngram) - 1] += weight ** 2
    return vectors, [math.sqrt(s) for s in squared_norms], len(tokens)


def cider_d_similarity(hypothesis, reference, sigma=CIDER_SIGMA):
    """Per-order CIDEr-D similarity of a hypothesis and one reference (cider_scorer.py `sim`).

    For each order n: sum over the hypothesis n-grams of min(w_hyp, w_ref) * w_ref (clipping),
    divided by |w_hyp| |w_ref| (0 if either norm is 0), times the Gaussian length penalty
    exp(-delta^2 / (2 sigma^2)), delta = hypothesis length - reference length.
    hypothesis, reference: (vectors, norms, length) from tfidf_vectors.
    """
    hyp_vectors, hyp_norms, hyp_length = hypothesis
    ref_vectors, ref_norms, ref_length = reference
    delta = float(hyp_length - ref_length)
    penalty = math.exp(-(delta ** 2) / (2 * sigma ** 2))
    similarities = []
    for hyp_vec, ref_vec, hyp_norm, ref_norm in zip(hyp_vectors, ref_vectors,
                                                    hyp_norms, ref_norms):
        dot = sum(min(weight, ref_vec.get(ngram, 0.0)) * ref_vec.get(ngram, 0.0)
                  for ngram, weight in hyp_vec.items())
        if hyp_norm != 0 and ref_norm != 0:
            dot /= hyp_norm * ref_norm
        similarities.append(dot * penalty)
    return similarities


def cider_d_image(hypothesis, references, df, log_num_images):
    """CIDEr-D of one image: per-order similarities summed over references, averaged over the
    n-gram orders, divided by the number of references, times 10 (cider_scorer.py
    `compute_cider`)."""
    hyp = tfidf_vectors(hypothesis, df, log_num_images)
    total = [0.0] * MAX_N
    for reference in references:
        ref = tfidf_vectors(reference, df, log_num_images)
        total = [t + s for t, s in zip(total, cider_d_similarity(hyp, ref))]
    return sum(total) / MAX_N / len(references) * 10.0


def corpus_cider_d(hypotheses, references):
    """Mean CIDEr-D over images, with df taken over the evaluated images' references and
    N = number of evaluated images (cider_scorer.py `compute_score`)."""
    df = document_frequency(references)
    log_num_images = math.log(float(len(references)))
    scores = [cider_d_image(h, refs, df, log_num_images)
              for h, refs in zip(hypotheses, references)]
    return sum(scores) / len(scores)


# ---------------------------------------------------------------------------------------------
# Whole evaluation
# ---------------------------------------------------------------------------------------------

def evaluate(hyps, refs):
    """Score captions like coco-caption's COCOEvalCap (BLEU-1..4, ROUGE-L, CIDEr-D).

    hyps: image id -> hypothesis caption (raw text); refs: image id -> list of reference
    captions (raw text). Only the images in hyps are evaluated (refs may hold more); each must
    have at least one reference. Returns {"BLEU-1": ..., ..., "CIDEr-D": ..., "images": N}.
    """
    if not hyps:
        raise EvaluationError("no hypotheses to evaluate")
    missing = sorted(image for image in hyps if not refs.get(image))
    if missing:
        raise EvaluationError("no reference captions for %d image(s): %s"
                              % (len(missing), ", ".join(missing[:10])
                                 + (" ..." if len(missing) > 10 else "")))
    images = sorted(hyps)
    hypotheses = [tokenize(hyps[image]) for image in images]
    references = [[tokenize(caption) for caption in refs[image]] for image in images]

    scores = dict(zip(METRICS[:4], corpus_bleu(hypotheses, references)))
    scores["ROUGE-L"] = corpus_rouge_l(hypotheses, references)
    scores["CIDEr-D"] = corpus_cider_d(hypotheses, references)
    scores["images"] = len(images)
    return scores


def human_baseline(refs, images=None):
    """Split references into a human baseline: per image, reference 0 is the hypothesis and
    references 1.. are the references. Returns (hyps, refs) for evaluate()."""
    images = sorted(refs) if images is None else images
    hyps, rest = {}, {}
    for image in images:
        captions = refs.get(image, [])
        if len(captions) < 2:
            raise EvaluationError("image %s has %d reference caption(s); the human baseline "
                                  "needs at least 2" % (image, len(captions)))
        hyps[image] = captions[0]
        rest[image] = captions[1:]
    return hyps, rest


# ---------------------------------------------------------------------------------------------
# File formats
# ---------------------------------------------------------------------------------------------

def _text_lines(path):
    """(line number, line without its end) for the non-blank lines of a UTF-8 file."""
    with open(path, encoding="utf-8") as f:
        for line_number, line in enumerate(f, 1):
            line = line.rstrip("\r\n")
            if line.strip():
                yield line_number, line


def read_hypotheses(path):
    """Read `PATH<TAB>CAPTION` lines; the image id is the basename of PATH."""
    hyps = {}
    for line_number, line in _text_lines(path):
        if "\t" not in line:
            raise EvaluationError("%s:%d: expected PATH<TAB>CAPTION" % (path, line_number))
        image_path, caption = line.split("\t", 1)
        image = os.path.basename(image_path.strip())
        if image in hyps:
            raise EvaluationError("%s:%d: second caption for image %s"
                                  % (path, line_number, image))
        hyps[image] = caption
    return hyps


def read_references(path):
    """Read Flickr8k `IMAGE.jpg#K<TAB>caption` lines into image -> captions ordered by K."""
    numbered = {}
    for line_number, line in _text_lines(path):
        key, sep, caption = line.partition("\t")
        image, hash_sign, k = key.partition("#")
        if not sep or not hash_sign or not k.isdigit():
            raise EvaluationError("%s:%d: expected IMAGE#K<TAB>CAPTION" % (path, line_number))
        numbered.setdefault(image, []).append((int(k), caption))
    return {image: [caption for _, caption in sorted(captions)]
            for image, captions in numbered.items()}


def read_image_list(path):
    """Read one image file name per line (e.g. Flickr_8k.devImages.txt)."""
    with open(path, encoding="utf-8") as f:
        return [line.strip() for line in f if line.strip()]


def check_image_set(captioned, expected):
    """Raise EvaluationError listing the images missing from (or extra in) the hypotheses."""
    missing = sorted(set(expected) - set(captioned))
    extra = sorted(set(captioned) - set(expected))
    problems = []
    if missing:
        problems.append("%d image(s) in the list were not captioned: %s"
                        % (len(missing), " ".join(missing)))
    if extra:
        problems.append("%d captioned image(s) are not in the list: %s"
                        % (len(extra), " ".join(extra)))
    if problems:
        raise EvaluationError("; ".join(problems))


def format_scores(scores):
    """The plain-text report: one `NAME VALUE` line per metric, then `images N`."""
    lines = ["%s %.4f" % (name, scores[name]) for name in METRICS]
    lines.append("images %d" % scores["images"])
    return "\n".join(lines)


def parse_arguments(argv):
    parser = argparse.ArgumentParser(
        description="Score captions with coco-caption's BLEU-1..4, ROUGE-L and CIDEr-D.",
        usage="%(prog)s HYPOTHESES REFERENCES [--images LIST] [--json]\n"
              "       %(prog)s --human REFERENCES [--images LIST] [--json]")
    parser.add_argument("files", nargs="+", metavar="FILE",
                        help="HYPOTHESES (PATH<TAB>CAPTION lines) and REFERENCES "
                             "(IMAGE.jpg#K<TAB>caption lines); only REFERENCES with --human")
    parser.add_argument("--images", metavar="LIST",
                        help="file with one image name per line: check that exactly these "
                             "images were captioned (with --human: the images to use)")
    parser.add_argument("--human", action="store_true",
                        help="human baseline: score reference 0 against references 1..")
    parser.add_argument("--json", action="store_true", help="print a JSON object")
    args = parser.parse_args(argv)
    expected = 1 if args.human else 2
    if len(args.files) != expected:
        parser.error("expected %s" % ("REFERENCES" if args.human else "HYPOTHESES REFERENCES"))
    return args


def main(argv=None):
    args = parse_arguments(sys.argv[1:] if argv is None else argv)
    try:
        images = read_image_list(args.images) if args.images else None
        if args.human:
            hyps, refs = human_baseline(read_references(args.files[0]), images)
        else:
            hyps, refs = read_hypotheses(args.files[0]), read_references(args.files[1])
            if images is not None:
                check_image_set(hyps, images)
        scores = evaluate(hyps, refs)
    except (EvaluationError, OSError) as error:
        print("evaluate.py: error: %s" % error, file=sys.stderr)
        return 1
    print(json.dumps(scores) if args.json else format_scores(scores))
    return 0


if __name__ == "__main__":
    sys.exit(main())
