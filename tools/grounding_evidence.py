#!/usr/bin/python3
"""Do a model's features locate the words its captions name? The grounding benchmark's scores
(tools/grounding_bench.py) for the attention maps alpha_t of a run's records, next to the same
scores for maps made from the features alone: for each scored word w, softmax over the cells i
of u_w . L_z a_i, the word's logit from cell i's feature through the deep output's context half
(Xu et al. 2015, eq. 7; captioner.grounding.cell_word_logits). The maps know the word (the
attention must choose before the word is said), so they are not a model's attention; they
say how well its feature map could point, and whether the attention uses that.

  /usr/bin/python3 tools/grounding_evidence.py [--model M] [--records cache/grounding/runs/default]

--records is a folder of tools/grounding_bench.py's records for that model (mosaics.jsonl,
coco.jsonl; run the benchmark first), the mosaics in its ../../mosaics. The features are the
PyTorch reference's (tools/captioner/reference.py) on the same 224x224 inputs. About 12 s.
"""
import argparse
import json
import os

import numpy as np
import torch

import grounding_bench as gb
from captioner import evaluate, paths
from captioner.grounding import cell_word_logits
from captioner.image import load_rgb
from captioner.reference import Captioner


def read_records(path):
    with open(path) as f:
        return {os.path.basename(r["path"]): r for r in map(json.loads, f)}


def with_evidence(cap, rec, rgb):
    """rec with each word's alpha replaced by that word's evidence map (softmax over the cells
    of cell_word_logits on the 224x224 photo rgb), so the benchmark's own scoring applies."""
    maps = torch.softmax(cell_word_logits(cap.decoder, cap.features(rgb)), dim=0).numpy()
    return dict(rec, alpha=[maps[:, cap.vocab.index(w)].tolist() for w in rec["words"]])


def pointing(cap, records, mosaics, n, seed, flickr):
    """[(mass, hit)] of alpha and of the evidence maps, over the scored words."""
    dev = evaluate.read_image_list(os.path.join(flickr, "Flickr_8k.devImages.txt"))
    refs = evaluate.read_references(os.path.join(flickr, "Flickr8k.token.txt"))
    alpha, ev = [], []
    for i, group in enumerate(gb.pick_mosaics(dev, n, seed)):
        name = "s%d_%04d.png" % (seed, i)
        tiles_refs = [gb.reference_words(refs[g]) for g in group]
        scored = gb.pointing_words(records[name], tiles_refs)
        if not scored:
            continue
        rgb = load_rgb(os.path.join(mosaics, name), size=224)
        alpha += [(s["mass"], s["hit"]) for s in scored]
        ev += [(s["mass"], s["hit"])
               for s in gb.pointing_words(with_evidence(cap, records[name], rgb), tiles_refs)]
    return np.array(alpha, float), np.array(ev, float)


def boxes(cap, records, coco):
    """[(ratio, hit)] of alpha and of the evidence maps, over the scored words."""
    with open(os.path.join(coco, "boxes.json")) as f:
        photos = json.load(f)
    alpha, ev = [], []
    for name in sorted(photos):
        scored = gb.box_words(records[name], photos[name])
        if not scored:
            continue
        rgb = load_rgb(os.path.join(coco, "images", name), size=224)
        alpha += [(s["ratio"], s["hit"]) for s in scored]
        ev += [(s["ratio"], s["hit"])
               for s in gb.box_words(with_evidence(cap, records[name], rgb), photos[name])]
    return np.array(alpha, float), np.array(ev, float)


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=paths.DEFAULT_MODEL)
    ap.add_argument("--records", default=os.path.join(paths.CACHE, "grounding", "runs", "default"))
    ap.add_argument("--n", type=int, default=400, help="the benchmark's --n")
    ap.add_argument("--seed", type=int, default=17, help="the benchmark's --seed")
    ap.add_argument("--flickr", default=paths.FLICKR8K)
    ap.add_argument("--coco", default=os.path.join(paths.SHARED, "data", "coco-mini"))
    args = ap.parse_args()
    torch.set_grad_enabled(False)
    cap = Captioner(args.model)
    mosaics = os.path.join(args.records, "..", "..", "mosaics")
    a, e = pointing(cap, read_records(os.path.join(args.records, "mosaics.jsonl")), mosaics,
                    args.n, args.seed, args.flickr)
    print("pointing game, %d words: alpha mass %.3f hit %.1f %%; feature evidence mass %.3f "
          "hit %.1f %%" % (len(a), a[:, 0].mean(), 100 * a[:, 1].mean(), e[:, 0].mean(),
                           100 * e[:, 1].mean()))
    a, e = boxes(cap, read_records(os.path.join(args.records, "coco.jsonl")), args.coco)
    print("box grounding, %d words: alpha ratio %.2fx hit %.1f %%; feature evidence ratio "
          "%.2fx hit %.1f %%" % (len(a), a[:, 0].mean(), 100 * a[:, 1].mean(), e[:, 0].mean(),
                                  100 * e[:, 1].mean()))


if __name__ == "__main__":
    main()
