#!/usr/bin/python3
"""The grounding benchmark's pointing game and box grounding, and the Flickr8k dev scores, for
a training checkpoint captioned by the PyTorch reference's plain beam search (beam 3, no tags):
for decoders the model file cannot hold yet (an experimental attention term such as
tools/train_grounding.py --word-query), compared with the checkpoint they were fine-tuned from
scored the same way (a model file's trained part is read as a checkpoint).

  /usr/bin/python3 tools/grounding_torch.py CHECKPOINT_OR_MODEL [--out cache/grounding]

The mosaics are tools/grounding_bench.py's (OUT/mosaics, 400, seed 17: run it once first).
Scores: the benchmark's functions on records made here ({words, alpha, grid} per image). The C
program's defaults differ (tags on), so compare only with this script's own numbers. About 6
minutes on 2 cores.
"""
import argparse
import json
import os
import sys
import time

import numpy as np
import torch

import grounding_bench as gb
from captioner import evaluate, mobilenet_v2, paths
from captioner.image import load_rgb
from captioner.reference import beam_search
from train import features, models_from_checkpoint
from train_grounding import load_init

BATCH = 50


def caption_all(encoder, decoder, vocab, images):
    """images: list of (224, 224, 3) uint8 -> [{words, alpha, grid}] (the best of beam 3)."""
    out = []
    for i in range(0, len(images), BATCH):
        x = torch.cat([mobilenet_v2.preprocess(r) for r in images[i:i + BATCH]])
        a = features(encoder, encoder.trunk(x))
        side = int(round(a.shape[1] ** 0.5))
        for nbest in beam_search(decoder, a, beam=3):
            best = nbest[0]
            words = [vocab[t] for t in best["tokens"] if vocab[t] != "<end>"]
            out.append(dict(words=words, alpha=[al.tolist() for al in best["alphas"][:len(words)]],
                            grid=[side, side]))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("checkpoint")
    ap.add_argument("--out", default=os.path.join(paths.CACHE, "grounding"))
    ap.add_argument("--n", type=int, default=400)
    ap.add_argument("--seed", type=int, default=17)
    ap.add_argument("--flickr", default=paths.FLICKR8K)
    ap.add_argument("--coco", default=os.path.join(paths.SHARED, "data", "coco-mini"))
    ap.add_argument("--tflite", default=paths.TFLITE)
    args = ap.parse_args()
    torch.set_grad_enabled(False)
    t0 = time.time()
    ck = load_init(args.checkpoint, args.tflite)
    encoder, decoder = models_from_checkpoint(ck)
    encoder.eval()
    vocab = ck["vocab"]

    dev = evaluate.read_image_list(os.path.join(args.flickr, "Flickr_8k.devImages.txt"))
    refs = evaluate.read_references(os.path.join(args.flickr, "Flickr8k.token.txt"))
    groups = gb.pick_mosaics(dev, args.n, args.seed)
    names = ["s%d_%04d.png" % (args.seed, i) for i in range(len(groups))]
    mosaics = [load_rgb(os.path.join(args.out, "mosaics", n), size=224) for n in names]
    recs = caption_all(encoder, decoder, vocab, mosaics)
    scored = [gb.pointing_words(r, [gb.reference_words(refs[g]) for g in group])
              for r, group in zip(recs, groups)]
    p = gb.summarize_pointing(scored, len(groups))

    with open(os.path.join(args.coco, "boxes.json")) as f:
        boxes = json.load(f)
    coco = sorted(boxes)
    recs = caption_all(encoder, decoder, vocab,
                       [load_rgb(os.path.join(args.coco, "images", n), size=224) for n in coco])
    b = gb.summarize_boxes([gb.box_words(r, boxes[n]) for r, n in zip(recs, coco)], len(coco))

    recs = caption_all(encoder, decoder, vocab,
                       [load_rgb(os.path.join(args.flickr, "images", n), size=224) for n in dev])
    s = evaluate.evaluate({n: " ".join(r["words"]) for n, r in zip(dev, recs)}, refs)
    print("%s: pointing %s; boxes %s; dev BLEU-4 %.2f CIDEr-D %.3f (%.0f s)" % (
        args.checkpoint, json.dumps(p), json.dumps(b), 100 * s["BLEU-4"], s["CIDEr-D"],
        time.time() - t0))


if __name__ == "__main__":
    sys.exit(main())
