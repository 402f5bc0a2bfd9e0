#!/usr/bin/python3
"""Open-vocabulary groundwork measurements on ../shared/data/imagenet-sample (500 photos, one per
even ImageNet class), for the model card (models/README.md, "Open vocabulary: groundwork"):

  1. naming rate of given captions per coarse group (captioner/naming.py's judge), e.g. the C
     program's: ./build/caption --format jsonl -o /tmp/x.jsonl ../shared/data/imagenet-sample/images
  2. the tagger (captioner/tagger.py): top-1 / top-5 accuracy, and the top-1 probability of
     correct vs wrong predictions (to choose a confidence threshold);
  3. the oracle naming rate: the caption, or the top-1 tag's table word whenever the tagger's
     top-1 probability >= t (and the class is not excluded), judged by the same judge: the
     ceiling a constrained search could reach with this tagger and table; "forced wrong" counts
     photos where a word was forced that does not name the photo's object;
  4. the table words (tools/data/imagenet_class_words.tsv) missing from the model file's
     vocabulary.

    /usr/bin/python3 tools/open_vocab_report.py --captions /tmp/x.jsonl [--model M] [--no-tagger]
                                                [--probs cache/tagger_imagenet_sample.npy]

--captions takes the C program's JSON lines (path, caption) or PATH<TAB>CAPTION lines.
"""
import argparse
import os
import sys

import numpy as np

from captioner import class_words as cw
from captioner import model_file, naming, paths, records
from captioner.image import load_rgb

SAMPLE = os.path.join(paths.SHARED, "data", "imagenet-sample")
THRESHOLDS = (0.0, 0.3, 0.5, 0.7, 0.9)


def tag_sample(manifest, batch=50):
    """(N, 1001) tagger probabilities for the manifest's photos, in manifest order."""
    import torch
    from captioner.tagger import Tagger
    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
    tagger = Tagger()
    out = []
    for i in range(0, len(manifest), batch):
        rgbs = [load_rgb(os.path.join(SAMPLE, "images", r["file"])) for r in manifest[i:i + batch]]
        out.append(tagger.tag_rgb(rgbs).numpy())
    return np.concatenate(out)


def describe(ps):
    if len(ps) == 0:
        return "none"
    q = np.percentile(ps, [10, 25, 50, 75, 90])
    return "n %d, mean %.2f, p10/25/50/75/90 %.2f/%.2f/%.2f/%.2f/%.2f" % (len(ps), np.mean(ps), *q)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--captions", help="captions of the sample's photos (jsonl or TSV)")
    ap.add_argument("--model", default=paths.DEFAULT_MODEL)
    ap.add_argument("--no-tagger", action="store_true", help="skip 2 and 3 (no PyTorch needed)")
    ap.add_argument("--probs", help="tagger probabilities (.npy, manifest order): read them if "
                    "the file exists, else compute and save them there")
    args = ap.parse_args()

    manifest = cw.read_manifest()
    table = cw.read_table()
    judge = naming.Judge(table)
    truth = [int(r["imagenet_idx"]) for r in manifest]
    caps = None
    if args.captions:
        try:
            caps = naming.in_manifest_order(manifest, records.read_captions(args.captions),
                                            args.captions)
        except ValueError as e:
            sys.exit(str(e))
        rates, _ = naming.judge_captions(judge, manifest, caps)
        print(naming.format_rates(rates, "1. captions name the object"))

    if not args.no_tagger:
        if args.probs and os.path.exists(args.probs):
            probs = np.load(args.probs)
        else:
            probs = tag_sample(manifest)
            if args.probs:
                np.save(args.probs, probs)
        cls = probs[:, 1:]  # drop background
        order = np.argsort(-cls, axis=1)
        top1, p1 = order[:, 0], cls[np.arange(len(cls)), order[:, 0]]
        truth_a = np.array(truth)
        correct = top1 == truth_a
        top5 = np.any(order[:, :5] == truth_a[:, None], axis=1)
        bg = int(np.sum(np.argmax(probs, axis=1) == 0))
        print("2. tagger: top-1 %.1f %% (%d/%d), top-5 %.1f %%; background argmax %d" % (
            100 * correct.mean(), correct.sum(), len(correct), 100 * top5.mean(), bg))
        print("   top-1 probability, correct: %s" % describe(p1[correct]))
        print("   top-1 probability, wrong:   %s" % describe(p1[~correct]))
        edges = [0, 0.2, 0.4, 0.6, 0.8, 0.9, 1.0001]
        cells = []
        for lo, hi in zip(edges, edges[1:]):
            m = (p1 >= lo) & (p1 < hi)
            cells.append("[%.1f,%.1f) %d/%d" % (lo, min(hi, 1.0), correct[m].sum(), m.sum()))
        print("   correct/all by top-1 probability: " + "; ".join(cells))
        tag_names = [judge.names(table[k]["word"], t) if table[k]["word"] else False
                     for k, t in zip(top1, truth)]
        print("   top-1 tag's table word names the object: %d/%d (excluded top-1 classes: %d)"
              % (sum(tag_names), len(truth), sum(1 for k in top1 if not table[k]["word"])))
        for t in THRESHOLDS:
            forced = [(p >= t) and bool(table[k]["word"]) for p, k in zip(p1, top1)]
            wrong = sum(1 for f, ok in zip(forced, tag_names) if f and not ok)
            items = []
            for i, tr in enumerate(truth):
                named = tag_names[i] if forced[i] else False
                if caps is not None:
                    named = named or judge.names(caps[i], tr)
                items.append((tr, named))
            rates = naming.rate_by_group(judge, items)
            print("3. " + naming.format_rates(
                rates, "oracle t=%.1f (%s, forced %d, forced wrong %d)" % (
                    t, "caption or tag word" if caps is not None else "tag word only",
                    sum(forced), wrong)))

    config, vocab, _ = model_file.read_model(args.model)
    # The trained words only: a version-2 file appends the class words after them.
    vocab = set(vocab[:config["base_vocab_size"]])
    words = sorted({r["word"] for r in table if r["word"]})
    plurals = sorted({r["plural"] for r in table if r["word"]})
    miss_w = [w for w in words if any(t not in vocab for t in w.split())]
    miss_p = [w for w in plurals if any(t not in vocab for t in w.split())]
    tokens = sorted({t for w in words for t in w.split() if t not in vocab})
    tokens_p = sorted({t for w in plurals for t in w.split() if t not in vocab} - set(tokens))
    whole = [w for w in words if w not in vocab]
    print("4. table: %d distinct words (singular) for %d classes; not in the vocabulary "
          "(%d tokens): %d singular, %d plural forms (a multi-word form counts as missing if any "
          "of its words is); %d singular forms are not one vocabulary token (incl. multi-word); "
          "new tokens needed: %d for the singular forms, %d more for the plurals"
          % (len(words), sum(1 for r in table if r["word"]), len(vocab), len(miss_w),
             len(miss_p), len(whole), len(tokens), len(tokens_p)))
    classes_missing = sum(1 for r in table if r["word"] and r["word"] in miss_w)
    print("   classes whose word is missing: %d; e.g. %s" % (classes_missing,
                                                            ", ".join(miss_w[:25])))
    return 0


if __name__ == "__main__":
    sys.exit(main())
