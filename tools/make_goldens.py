#!/usr/bin/python3
"""Regenerate the golden fixtures the C tests compare against, from the shipped model file
through the PyTorch reference (tools/reference.py). Rerun after replacing the model.

  /usr/bin/python3 tools/make_goldens.py [--model models/caption-flickr8k.bin]

Writes tests/fixtures/golden/:
  pets.features.f32  encoder output a for assets/pets.jpg, float32 [49][1280]
  pets.step0.f32     first decoder step from <start> on those features, float32:
                     alpha [49], beta [1], logits [V]
  greedy.tsv, beam3.tsv  NAME<TAB>token ids<TAB>caption for every photo in assets/, with
                     the default decoding options (length penalty 0.7, no repeated bigram)
  beam3_plain.tsv    the same at beam 3 with both options off
  beam5_lp1.5_nr3.tsv  beam 5, length penalty 1.5, no repeated trigram
"""
import argparse
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import reference  # noqa: E402
from prepare_data import load_rgb  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..")
PHOTOS = ["pets.jpg", "cat_720p.jpg", "parrot.jpg", "bird.png", "sunflower.png"]
# file, beam size, length penalty, no-repeat n-gram; tests/test_model.c has the same table.
RUNS = [("greedy.tsv", 1, reference.DEFAULT_LENGTH_PENALTY, reference.DEFAULT_NO_REPEAT_NGRAM),
        ("beam3.tsv", 3, reference.DEFAULT_LENGTH_PENALTY, reference.DEFAULT_NO_REPEAT_NGRAM),
        ("beam3_plain.tsv", 3, 0.0, 0),
        ("beam5_lp1.5_nr3.tsv", 5, 1.5, 3)]


@torch.no_grad()
def first_step(cap, a):
    dec = cap.decoder
    a = a.unsqueeze(0)
    h, c = dec.init_state(a)
    prev = torch.tensor([cap.config["token_start"]])
    logits, _, _, alpha, beta = dec.step(a, dec.att_feature(a), dec.embedding(prev), h, c)
    return np.concatenate([alpha[0].numpy(), beta[0].numpy(), logits[0].numpy()]).astype(np.float32)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=reference.DEFAULT_MODEL)
    ap.add_argument("--out", default=os.path.join(ROOT, "tests", "fixtures", "golden"))
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    cap = reference.Captioner(args.model)
    a = cap.features(load_rgb(os.path.join(ROOT, "assets", "pets.jpg")))
    a.numpy().astype(np.float32).tofile(os.path.join(args.out, "pets.features.f32"))
    first_step(cap, a).tofile(os.path.join(args.out, "pets.step0.f32"))
    for name, beam, length_penalty, no_repeat_ngram in RUNS:
        with open(os.path.join(args.out, name), "w") as f:
            for photo in PHOTOS:
                feats = cap.features(load_rgb(os.path.join(ROOT, "assets", photo)))
                best = cap.beam_search(feats, beam, length_penalty=length_penalty,
                                       no_repeat_ngram=no_repeat_ngram)[0]
                f.write("%s\t%s\t%s\n" % (photo, " ".join(map(str, best["tokens"])),
                                          " ".join(cap.vocab[t] for t in best["tokens"])))
    print("wrote goldens to %s" % args.out)


if __name__ == "__main__":
    main()
