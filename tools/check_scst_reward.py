#!/usr/bin/python3
"""Check train_scst.py's reward on real data: is every caption scored against its own image?

  /usr/bin/python3 tools/check_scst_reward.py [--init cache/run_xe/average.pt] [--cache cache]
                                              [--images 500]

Captions --images train photos (every 12th) greedily with a tools/train.py checkpoint and prints
the mean train_scst.CiderReward of the captions against their own references (trunk row i and
names_train.json row i), against the next image's references (a misaligned cache would score
like this), and for the mirrored trunk against the mirrored references; then the same captions
scored by captioner.evaluate (whose df and N are those of the scored images, not of all 6,000, so
its CIDEr-D is close to, not equal to, the reward's). Aligned scores far above the shifted one
mean the rows line up. Ends with a few captions, sampled and beam-searched, with their rewards.
"""
import argparse
import json
import os

import numpy as np
import torch

import train
import train_scst
from captioner import evaluate
from captioner.paths import CACHE
from captioner.reference import greedy


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--init", default=os.path.join(CACHE, "run_xe", "average.pt"))
    ap.add_argument("--cache", default=CACHE)
    ap.add_argument("--images", type=int, default=500)
    args = ap.parse_args()
    torch.manual_seed(0)
    ck = torch.load(args.init)
    vocab = ck["vocab"]
    captions = json.load(open(os.path.join(args.cache, "captions.json")))
    names = json.load(open(os.path.join(args.cache, "names_train.json")))
    refs = [captions["train"][n] for n in names]
    mirrored = [[[train.MIRROR.get(w, w) for w in r] for r in rs] for rs in refs]
    encoder, decoder = train.models_from_checkpoint(ck)
    rows = list(range(0, len(names), 12))[:args.images]

    def captions_of(trunk_file):
        trunk = np.load(os.path.join(args.cache, trunk_file), mmap_mode="r")
        with torch.no_grad():
            a = train.features(encoder, torch.from_numpy(
                np.stack([trunk[r] for r in rows]).astype(np.float32)))
        return a, [[vocab[t] for t in seq] for seq in greedy(decoder, a)]

    reward = train_scst.CiderReward(refs)
    a, words = captions_of("trunk_train.npy")
    _, flipped = captions_of("trunk_train_flip.npy")
    shifted = rows[1:] + rows[:1]
    print("mean reward of greedy train captions (%d images):" % len(rows))
    print("  own references       %.3f" % np.mean([reward(w, r, refs[r]) for w, r in zip(words, rows)]))
    print("  next image's         %.3f" % np.mean([reward(w, ("next", r), refs[r])
                                                   for w, r in zip(words, shifted)]))
    print("  mirrored, own mirrored references %.3f" % np.mean(
        [reward(w, ("mirrored", r), mirrored[r]) for w, r in zip(flipped, rows)]))
    scores = evaluate.evaluate({names[r]: " ".join(w) for w, r in zip(words, rows)},
                               {names[r]: [" ".join(c) for c in refs[r]] for r in rows})
    print("  captioner.evaluate CIDEr-D %.3f, BLEU-4 %.3f" % (scores["CIDEr-D"], scores["BLEU-4"]))
    with torch.no_grad():
        tokens, logp = train_scst.sample(decoder, a[:2], 5)
    beams = train_scst.beam_captions(decoder, a[:2], 5)
    for j in range(2):
        print("%s: greedy %.3f '%s'" % (names[rows[j]], reward(words[j], rows[j], refs[rows[j]]),
                                        " ".join(words[j])))
        for s in range(5):
            w = train_scst.words_of(tokens[j * 5 + s].tolist(), vocab)
            print("  sampled %.3f (log p %.1f) '%s'" % (reward(w, rows[j], refs[rows[j]]),
                                                     float(logp[j * 5 + s]), " ".join(w)))
        for t, _ in beams[j]:
            w = [vocab[x] for x in t]
            print("  beam    %.3f '%s'" % (reward(w, rows[j], refs[rows[j]]), " ".join(w)))


if __name__ == "__main__":
    main()
