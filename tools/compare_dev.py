#!/usr/bin/python3
"""Caption the 1,000 Flickr8k dev images with the C program and with the PyTorch reference,
report how many captions are identical, and score the C captions with captioner.evaluate.

  /usr/bin/python3 tools/compare_dev.py [--exe build/caption] [--model models/caption-flickr8k.bin]
                                        [--beam 1] [--out cache/dev] [--c-only] [--limit N]

Writes OUT/c_beamN.tsv, OUT/torch_beamN.tsv (PATH<TAB>CAPTION) and prints the agreement and the
metrics of each. --c-only skips the (slow) PyTorch run: for experiments, where only the C
program's metrics are wanted. --limit N takes the first N dev photos only (a quick agreement
check; the metrics are then those of the N).
"""
import argparse
import os
import subprocess
import time

import torch

from captioner import evaluate, reference
from captioner.paths import CACHE, FLICKR8K, ROOT


def read_tsv(path):
    with open(path) as f:
        return dict(line.rstrip("\n").split("\t", 1) for line in f)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--exe", default=os.path.join(ROOT, "build", "caption"))
    ap.add_argument("--model", default=reference.DEFAULT_MODEL)
    ap.add_argument("--beam", type=int, default=1)
    ap.add_argument("--data", default=FLICKR8K)
    ap.add_argument("--out", default=os.path.join(CACHE, "dev"))
    ap.add_argument("--length-penalty", type=float, default=reference.DEFAULT_LENGTH_PENALTY)
    ap.add_argument("--no-repeat-ngram", type=int, default=reference.DEFAULT_NO_REPEAT_NGRAM)
    ap.add_argument("--c-only", action="store_true", help="score the C captions only")
    ap.add_argument("--limit", type=int, default=None, help="the first N dev photos only")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    torch.set_num_threads(os.cpu_count())
    with open(os.path.join(args.data, "Flickr_8k.devImages.txt")) as f:
        paths = [os.path.join(args.data, "images", n) for n in f.read().split()][:args.limit]

    c_out = os.path.join(args.out, "c_beam%d.tsv" % args.beam)
    t0 = time.time()
    with open(c_out, "w") as f:
        subprocess.run([args.exe, "--model", args.model, "--beam", str(args.beam),
                        "--length-penalty", str(args.length_penalty),
                        "--no-repeat-ngram", str(args.no_repeat_ngram), *paths],
                       stdout=f, check=True)
    c_seconds = time.time() - t0
    refs = evaluate.read_references(os.path.join(args.data, "Flickr8k.token.txt"))
    if args.c_only:
        scores = evaluate.evaluate({os.path.basename(p): h for p, h in read_tsv(c_out).items()}, refs)
        print("C (beam %d, %.0f s)  %s" % (args.beam, c_seconds, "  ".join(
            "%s %.4f" % (k, v) for k, v in scores.items() if k != "images")))
        return

    t_out = os.path.join(args.out, "torch_beam%d.tsv" % args.beam)
    cap = reference.Captioner(args.model)
    t0 = time.time()
    with open(t_out, "w") as f:
        for p in paths:
            f.write("%s\t%s\n" % (p, cap.caption(p, args.beam, length_penalty=args.length_penalty,
                                               no_repeat_ngram=args.no_repeat_ngram)))
    t_seconds = time.time() - t0

    c, t = read_tsv(c_out), read_tsv(t_out)
    same = sum(c[p] == t[p] for p in paths)
    print("images %d, identical captions C vs PyTorch (beam %d): %d = %.1f %%" % (
        len(paths), args.beam, same, 100.0 * same / len(paths)))
    for p in paths:
        if c[p] != t[p]:
            print("  differs: %s\n    C:       %s\n    PyTorch: %s" % (os.path.basename(p), c[p], t[p]))
    print("time: C %.0f s, PyTorch reference %.0f s (one process each, not a benchmark)" % (
        c_seconds, t_seconds))
    for name, hyps in (("C", c), ("PyTorch", t)):
        scores = evaluate.evaluate({os.path.basename(p): h for p, h in hyps.items()}, refs)
        print("%-8s %s" % (name, "  ".join("%s %.4f" % (k, v) for k, v in scores.items()
                                          if k != "images")))


if __name__ == "__main__":
    main()
