#!/usr/bin/python3
"""Seconds per cross-entropy training step (tools/train.py's step: 32 photos x 5 captions, the
encoder head fine-tuned), to compare the process settings that tools/train_all.sh exports.

  /usr/bin/python3 tools/bench_train_step.py [--cache cache] [--steps 7] [--mosaics 0]
  GLIBC_TUNABLES=glibc.malloc.hugetlb=1 OMP_WAIT_POLICY=PASSIVE /usr/bin/python3 tools/bench_train_step.py

Reads the cache of tools/prepare_data.py (vocabulary, captions, trunk outputs). Prints the
median time of the steps after the first two (warm-up), and the settings it ran under.
Run it on a quiet machine: it times the wall clock.
"""
import argparse
import copy
import json
import os
import random
import time

import numpy as np
import torch
import torch.nn.functional as F

import train
from captioner import decoder as dm
from captioner import mobilenet_v2
from captioner.grounding import tile_pixels
from captioner.mosaic import tile_cell_weights
from captioner.paths import CACHE, FLICKR8K, TFLITE


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cache", default=CACHE)
    ap.add_argument("--steps", type=int, default=7)
    ap.add_argument("--mosaics", type=int, default=0, help="as train.py --mosaics")
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    vocab = json.load(open(os.path.join(args.cache, "vocab.json")))
    word_id = {w: i for i, w in enumerate(vocab)}
    captions = json.load(open(os.path.join(args.cache, "captions.json")))["train"]
    names = json.load(open(os.path.join(args.cache, "names_train.json")))
    rows = 32 * args.steps
    encoded = {m: [[train.encode_caption(c, word_id, 20, m) for c in captions[n]]
                   for n in names[:rows]] for m in (False, True)}
    trunk = {s: np.load(os.path.join(args.cache, "trunk_%s.npy" % s), mmap_mode="r")
             for s in ("train", "train_flip")}
    encoder = mobilenet_v2.load_from_tflite(TFLITE)
    for p in encoder.parameters():
        p.requires_grad_(False)
    head = encoder.head_parameters()
    for p in head:
        p.requires_grad_(True)
    decoder = dm.SoftAttentionDecoder(len(vocab), embed_dim=512, attention_dim=512,
                                      hidden_dim=512, blind_init=bool(args.mosaics))
    opt = torch.optim.Adam([p for p in decoder.parameters() if p.requires_grad] + head, lr=1e-4)
    if args.mosaics:
        tiles = tile_pixels(args.cache, names, FLICKR8K)[:rows]
        trunk_cl = copy.deepcopy(encoder).to(memory_format=torch.channels_last)
        cell_w = torch.from_numpy(tile_cell_weights(7, 7)).float()
    rng = random.Random(1)
    times = []
    for b in range(args.steps):
        t0 = time.time()
        x, tokens, lengths = train.make_batch(trunk["train"], trunk["train_flip"],
                                              list(range(b * 32, (b + 1) * 32)), encoded, rng)
        logits, targets, _ = decoder(train.features(encoder, x), tokens, lengths)
        loss = F.cross_entropy(logits, targets)
        if args.mosaics:
            mxent, ground, _ = train.mosaic_loss(encoder, trunk_cl, decoder, tiles, encoded,
                                                 args.mosaics, cell_w, word_id[dm.END], True, rng)
            loss = loss + mxent + ground
        opt.zero_grad()
        loss.backward()
        opt.step()
        times.append(time.time() - t0)
    print("%.2f s a step (median of steps 3-%d; %d threads, mosaics %d, GLIBC_TUNABLES=%s, "
          "OMP_WAIT_POLICY=%s)" % (np.median(times[2:]), args.steps, args.threads, args.mosaics,
                                   os.environ.get("GLIBC_TUNABLES", ""),
                                   os.environ.get("OMP_WAIT_POLICY", "")))


if __name__ == "__main__":
    main()
