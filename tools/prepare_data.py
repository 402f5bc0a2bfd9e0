#!/usr/bin/python3
"""Prepare Flickr8k for training: vocabulary (train captions only) and cached encoder features.

  /usr/bin/python3 tools/prepare_data.py [--data ../shared/data/flickr8k] [--out cache]

Writes into --out:
  vocab.json         words in id order; ids 0..3 = <pad> <start> <end> <unk>; a word is kept if
                     it occurs >= --min-count (default 5) times in the 6,000 train images' captions
  captions.json      {"train": {image: [token lists]}, "dev": {...}}
  trunk_<split>.npy  float16 (N, C, 14, 14) outputs of the frozen MobileNetV2 trunk (conv0 and
                     the blocks before --head-start: by default blocks 0-12, C = 96, see
                     mobilenet_v2.HEAD_START), rows in the order of names_<split>.json (the
                     split file's order); tools/train.py runs the head (by default blocks 13-16
                     + Conv_1) on them, fine-tuning it
  trunk.json         {"head_start": N}: where the cached trunk ends (train.py reads it)
  trunk_train_flip.npy  the same for the horizontally mirrored train photos (augmentation;
                     train.py swaps "left" and "right" in their captions)

Images are decoded with Pillow and squashed to 224x224 with BILINEAR if they are not already
that size (all Flickr8k images here are), the same geometry the C program uses
(captioner.image.load_rgb).
"""
import argparse
import collections
import json
import os
import time

import numpy as np
import torch

from captioner import decoder as dm
from captioner import mobilenet_v2
from captioner.image import load_rgb
from captioner.paths import CACHE, FLICKR8K, TFLITE


def read_captions(token_file):
    caps = collections.defaultdict(list)
    for line in open(token_file, encoding="utf-8"):
        key, text = line.rstrip("\n").split("\t")
        caps[key.split("#")[0]].append(tokenize(text))
    return caps


def tokenize(text):
    """Lowercase words; punctuation-only tokens dropped (captions are already space-tokenised)."""
    return [w for w in text.lower().split() if any(ch.isalnum() for ch in w)]


def build_vocab(train_caps, min_count):
    counts = collections.Counter(w for caps in train_caps for c in caps for w in c)
    words = sorted((w for w, n in counts.items() if n >= min_count), key=lambda w: (-counts[w], w))
    return dm.SPECIALS + words


def extract_trunk(encoder, paths, flip=False, batch=50):
    size = mobilenet_v2.INPUT_SIZE // 16
    out = np.zeros((len(paths), mobilenet_v2.trunk_channels(encoder.head_start), size, size),
                   dtype=np.float16)
    t0 = time.time()
    for i in range(0, len(paths), batch):
        rgbs = [load_rgb(p) for p in paths[i:i + batch]]
        x = torch.cat([mobilenet_v2.preprocess(rgb[:, ::-1] if flip else rgb) for rgb in rgbs])
        # Channels-last: PyTorch's CPU depthwise convolutions run about 2x faster in it.
        x = x.contiguous(memory_format=torch.channels_last)
        with torch.no_grad():
            f = encoder.trunk(x)  # (B, C, 14, 14)
        out[i:i + len(x)] = f.numpy().astype(np.float16)
        if (i // batch) % 20 == 0:
            print("  %d/%d images, %.0f s" % (i + len(x), len(paths), time.time() - t0), flush=True)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=FLICKR8K)
    ap.add_argument("--tflite", default=TFLITE)
    ap.add_argument("--out", default=CACHE)
    ap.add_argument("--min-count", type=int, default=5)
    ap.add_argument("--head-start", type=int, default=mobilenet_v2.HEAD_START,
                    choices=mobilenet_v2.HEAD_STARTS,
                    help="first MobileNetV2 block that training fine-tunes; the blocks before "
                         "it are the cached trunk")
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    os.makedirs(args.out, exist_ok=True)

    caps = read_captions(os.path.join(args.data, "Flickr8k.token.txt"))
    splits = {s: open(os.path.join(args.data, "Flickr_8k.%sImages.txt" % s)).read().split()
              for s in ("train", "dev")}
    vocab = build_vocab([caps[n] for n in splits["train"]], args.min_count)
    json.dump(vocab, open(os.path.join(args.out, "vocab.json"), "w"))
    json.dump({s: {n: caps[n] for n in names} for s, names in splits.items()},
              open(os.path.join(args.out, "captions.json"), "w"))
    print("vocabulary: %d words (min count %d)" % (len(vocab), args.min_count))

    encoder = mobilenet_v2.load_from_tflite(args.tflite, head_start=args.head_start)
    encoder = encoder.to(memory_format=torch.channels_last)
    json.dump(dict(head_start=args.head_start), open(os.path.join(args.out, "trunk.json"), "w"))
    for split, flip in (("dev", False), ("train", False), ("train", True)):
        names = splits[split]
        path = os.path.join(args.out, "trunk_%s%s.npy" % (split, "_flip" if flip else ""))
        names_path = os.path.join(args.out, "names_%s.json" % split)
        if (os.path.exists(path) and os.path.exists(names_path)
                and json.load(open(names_path)) == names):
            print("%s: kept %s (its names file matches)" % (split, path))
            continue  # a rerun after an interruption keeps the splits already extracted
        t0 = time.time()
        feats = extract_trunk(encoder, [os.path.join(args.data, "images", n) for n in names], flip)
        np.save(path + ".tmp.npy", feats)
        os.replace(path + ".tmp.npy", path)
        json.dump(names, open(names_path, "w"))
        print("%s%s: %d images in %.0f s -> %s" % (split, " (mirrored)" if flip else "",
                                                   len(names), time.time() - t0, path))


if __name__ == "__main__":
    main()
