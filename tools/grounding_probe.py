#!/usr/bin/python3
"""How well can a feature map point at all? A word localiser trained on train mosaics, scored
by the grounding benchmark (tools/grounding_bench.py) in place of the attention.

For a feature map a (L cells x D) the probe's map for word w is softmax_i(u_w . g(a_i)), with
g a per-cell projection (linear, or a 2-layer MLP with --hidden) and u_w a learned vector per
word. It is trained on 2x2 mosaics of four distinct train photos (captioner.mosaic, the
benchmark's construction) with -log(the map's mass on the tile) for every word specific to a
tile (the benchmark's rule: in >= 2 of that photo's references, in none of the others'). The
map knows the word, so like tools/grounding_evidence.py it is an upper bound for an attention
that must choose before the word is said, not an attention: it says whether a feature map
holds the words' places well enough for the issue's bars (pointing hit >= 75 %, mass >= 0.45,
COCO box hit >= 70 %), whatever the decoder does.

Feature maps (--features):
  shipped        the model file's encoder (fine-tuned head), 7x7x1280: what the decoder sees
  imagenet       the ImageNet MobileNetV2 head (not fine-tuned), 7x7x1280
  imagenet-s16   the same head with its last stage dilated (output stride 16), 14x14x1280
  trunk          the frozen trunk (conv0 + blocks 0-12), 14x14x96

  /usr/bin/python3 tools/grounding_probe.py --features shipped imagenet trunk

Scored on the benchmark's records (run tools/grounding_bench.py first): its 400 dev mosaics
with the words of the model's captions, and the COCO mini photos with theirs; and on every
tile-specific word of the dev mosaics ("all words", a larger sample that does not depend on the
captions). A few minutes on 2 cores.
"""
import argparse
import copy
import json
import os
import random
import time

import numpy as np
import torch
import torch.nn as nn

import grounding_bench as gb
from grounding_evidence import read_records
from captioner import evaluate, mobilenet_v2, paths
from captioner.grounding import tile_pixels
from captioner.image import load_rgb
from captioner.mosaic import compose, tile_cell_weights
from captioner.reference import Captioner

FEATURES = ("shipped", "imagenet", "imagenet-s16", "trunk")


def encoders(model, tflite):
    """{name: (trunk module, head function (trunk output) -> (N, D, rows, cols))}: every
    feature map shares the frozen trunk (the captioner's trunk is the TFLite one)."""
    cap = Captioner(model)
    imagenet = mobilenet_v2.load_from_tflite(tflite)
    s16 = mobilenet_v2.with_output_stride(imagenet, 16)
    return cap.encoder, {"shipped": cap.encoder.head, "imagenet": imagenet.head,
                         "imagenet-s16": s16.head, "trunk": lambda x: x}, cap.vocab


@torch.no_grad()
def feature_maps(trunk_net, heads, names, rgbs, batch=32):
    """{name: (N, L, D) float32} for the (N, 224, 224, 3) uint8 images."""
    out = {n: [] for n in names}
    for s in range(0, len(rgbs), batch):
        x = torch.cat([mobilenet_v2.preprocess(r) for r in rgbs[s:s + batch]])
        t = trunk_net.trunk(x)
        for n in names:
            out[n].append(heads[n](t).flatten(2).transpose(1, 2).contiguous())
    return {n: torch.cat(v) for n, v in out.items()}


def specific_words(tiles_refs, word_id):
    """[(word id, tile)] for every vocabulary word specific to one of the four tiles."""
    seen = set().union(*[r for refs in tiles_refs for r in refs])
    out = []
    for w in sorted(seen):
        k = gb.specific_tile(w, tiles_refs)
        if k is not None and w in word_id:
            out.append((word_id[w], k))
    return out


class Probe(nn.Module):
    """softmax_i(u_w . g(a_i)): one word's map over the L cells of a feature map."""

    def __init__(self, dim, n_words, width=256, hidden=0):
        super().__init__()
        self.g = (nn.Linear(dim, width) if not hidden else
                  nn.Sequential(nn.Linear(dim, hidden), nn.ReLU(), nn.Linear(hidden, width)))
        self.u = nn.Embedding(n_words, width)
        nn.init.normal_(self.u.weight, std=0.02)

    def forward(self, a, words):
        """a (N, L, D), words (N,) -> (N, L) maps."""
        if isinstance(self.g, nn.Linear):
            # u . (W a_i + b) = (W^T u) . a_i + a constant over the cells: one D-vector a word.
            logits = torch.bmm(a, (self.u(words) @ self.g.weight)[:, :, None])[:, :, 0]
        else:
            logits = (self.g(a) * self.u(words)[:, None, :]).sum(-1)
        return torch.softmax(logits, dim=-1)


def tile_nll(maps, cell_w, tiles):
    """Mean -log(each map's mass on its tile). maps (N, L), cell_w (4, L), tiles (N,)."""
    return -((maps * cell_w[tiles]).sum(1).clamp_min(1e-6).log()).mean()


def fit(opt, steps, batch_loss):
    """steps optimizer steps on batch_loss() (a new batch each call), the loss printed 4 times."""
    for step in range(steps):
        loss = batch_loss()
        opt.zero_grad()
        loss.backward()
        opt.step()
        if (step + 1) % max(1, steps // 4) == 0:
            print("    step %d: loss %.3f" % (step + 1, loss.item()), flush=True)


def train_probe(feats, examples, cell_w, n_words, args, seed=1, batch=256):
    """examples: [(mosaic index, word id, tile)]."""
    torch.manual_seed(seed)
    probe = Probe(feats.shape[-1], n_words, width=args.width, hidden=args.hidden)
    opt = torch.optim.AdamW(probe.parameters(), lr=1e-3, weight_decay=args.weight_decay)
    ex = torch.tensor(examples)
    gen = torch.Generator().manual_seed(seed)

    def batch_loss():
        b = ex[torch.randint(len(ex), (batch,), generator=gen)]
        return tile_nll(probe(feats[b[:, 0]], b[:, 1]), cell_w, b[:, 2])
    fit(opt, args.steps, batch_loss)
    return probe.eval()


def train_head_probe(encoder, trunk_f, examples, cell_w, n_words, args, seed=1, mosaics=32):
    """The probe on the shipped encoder's head, the head training with it (at --head-lr):
    can the features be taught to localise? trunk_f (N, side^2, C) trunk outputs. Returns
    a function (trunk outputs) -> (N, L, 1280) features of the trained head, and the probe."""
    torch.manual_seed(seed)
    encoder = copy.deepcopy(encoder).train()
    side = int(round(trunk_f.shape[1] ** 0.5))

    def features(t):
        n = len(t)
        return encoder.head(t.transpose(1, 2).reshape(n, -1, side, side)).flatten(2).transpose(1, 2)

    probe = Probe(mobilenet_v2.FEATURE_DIM, n_words, width=args.width, hidden=args.hidden)
    opt = torch.optim.AdamW([{"params": probe.parameters(), "lr": 1e-3},
                             {"params": encoder.head_parameters(), "lr": args.head_lr}],
                            weight_decay=args.weight_decay)
    by_mosaic = {}
    for m, w, k in examples:
        by_mosaic.setdefault(m, []).append((w, k))
    ids = sorted(by_mosaic)
    rng = random.Random(seed)

    def batch_loss():
        ms = rng.sample(ids, mosaics)
        f = features(trunk_f[ms])
        b = torch.tensor([(j, w, k) for j, m in enumerate(ms) for w, k in by_mosaic[m]])
        return tile_nll(probe(f[b[:, 0]], b[:, 1]), cell_w, b[:, 2])
    fit(opt, args.steps, batch_loss)

    @torch.no_grad()
    def trained_features(t, batch=64):
        return torch.cat([features(t[s:s + batch]) for s in range(0, len(t), batch)])
    return trained_features, probe.eval()


def score_records(probe, feats, records, word_id, grid, score):
    """The benchmark's scoring (score(index, record): gb.pointing_words or gb.box_words with
    its second argument bound) of each record with alpha replaced by the probe's maps; a
    record's features are feats[record["i"]] if it has one, else feats[its index]."""
    out = []
    for i, rec in enumerate(records):
        known = [w for w in rec["words"] if w in word_id]
        if not known:
            continue
        with torch.no_grad():
            maps = probe(feats[rec.get("i", i)].expand(len(known), -1, -1),
                         torch.tensor([word_id[w] for w in known])).numpy()
        by_word = dict(zip(known, maps.tolist()))
        uniform = [1.0 / maps.shape[1]] * maps.shape[1]
        alpha = [by_word.get(w, uniform) for w in rec["words"]]
        out += score(i, dict(rec, alpha=alpha, grid=grid))
    return out


def word_table(scored, n=16):
    """'word hit% (count)' for the n most frequent words of scored, most frequent first."""
    by = {}
    for s in scored:
        by.setdefault(s["word"], []).append(s["hit"])
    top = sorted(by.items(), key=lambda kv: (-len(kv[1]), kv[0]))[:n]
    return ", ".join("%s %.0f %% (%d)" % (w, 100 * np.mean(h), len(h)) for w, h in top)


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--features", nargs="+", choices=FEATURES, default=list(FEATURES))
    ap.add_argument("--model", default=paths.DEFAULT_MODEL)
    ap.add_argument("--tflite", default=paths.TFLITE)
    ap.add_argument("--records", default=os.path.join(paths.CACHE, "grounding", "runs", "default"))
    ap.add_argument("--cache", default=paths.CACHE)
    ap.add_argument("--flickr", default=paths.FLICKR8K)
    ap.add_argument("--coco", default=os.path.join(paths.SHARED, "data", "coco-mini"))
    ap.add_argument("--train-mosaics", type=int, default=2000)
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--hidden", type=int, default=0, help="MLP hidden width (0: linear g)")
    ap.add_argument("--width", type=int, default=256, help="the word vectors' width")
    ap.add_argument("--weight-decay", type=float, default=0.0, help="AdamW's")
    ap.add_argument("--head-lr", type=float, default=0.0,
                    help="also train a probe on the shipped encoder's head with the head "
                         "training at this rate (needs --features trunk); 0 = off")
    ap.add_argument("--n", type=int, default=400, help="the benchmark's --n")
    ap.add_argument("--seed", type=int, default=17, help="the benchmark's --seed")
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    t0 = time.time()
    trunk_net, heads, vocab = encoders(args.model, args.tflite)
    word_id = {w: i for i, w in enumerate(vocab)}

    # Train mosaics: four distinct train photos each, fixed seed, no mirroring.
    names = open(os.path.join(args.flickr, "Flickr_8k.trainImages.txt")).read().split()
    captions = json.load(open(os.path.join(args.cache, "captions.json")))["train"]
    tiles = tile_pixels(args.cache, names, args.flickr)
    rng = random.Random(1)
    groups = [rng.sample(range(len(names)), 4) for _ in range(args.train_mosaics)]
    train_rgb = [compose([tiles[g] for g in group]) for group in groups]
    examples = [(m, w, k) for m, group in enumerate(groups)
                for w, k in specific_words([[set(c) for c in captions[names[g]]]
                                            for g in group], word_id)]
    print("train: %d mosaics, %d (word, tile) examples" % (len(groups), len(examples)), flush=True)

    # Dev mosaics and COCO photos, with the benchmark's records.
    dev = evaluate.read_image_list(os.path.join(args.flickr, "Flickr_8k.devImages.txt"))
    refs = evaluate.read_references(os.path.join(args.flickr, "Flickr8k.token.txt"))
    dev_groups = gb.pick_mosaics(dev, args.n, args.seed)
    dev_tiles_refs = [[gb.reference_words(refs[g]) for g in group] for group in dev_groups]
    mosaic_dir = os.path.join(args.records, "..", "..", "mosaics")
    dev_rgb = [load_rgb(os.path.join(mosaic_dir, "s%d_%04d.png" % (args.seed, i)), size=224)
               for i in range(args.n)]
    by_name = read_records(os.path.join(args.records, "mosaics.jsonl"))
    dev_records = [by_name["s%d_%04d.png" % (args.seed, i)] for i in range(args.n)]
    with open(os.path.join(args.coco, "boxes.json")) as f:
        photos = json.load(f)
    coco_by = read_records(os.path.join(args.records, "coco.jsonl"))
    coco_names = sorted(photos)
    coco_rgb = [load_rgb(os.path.join(args.coco, "images", n), size=224) for n in coco_names]
    coco_records = [coco_by[n] for n in coco_names]
    # Every tile-specific vocabulary word of the dev mosaics, as one-word records.
    all_records = [{"words": [vocab[w]], "i": i}
                   for i, trefs in enumerate(dev_tiles_refs)
                   for w, _ in specific_words(trefs, word_id)]

    # Each feature set's maps are cached as float16 (minutes to compute); the missing ones
    # are computed together, so the trunk runs once per image.
    cached = {name: os.path.join(args.cache, "grounding", "probe", "%s_%d_%s.pt" % (
        name, args.train_mosaics, os.path.basename(args.model))) for name in args.features}
    missing = [name for name, path in cached.items() if not os.path.exists(path)]
    if missing:
        sets = [feature_maps(trunk_net, heads, missing, rgb)
                for rgb in (train_rgb, dev_rgb, coco_rgb)]
        os.makedirs(os.path.dirname(cached[missing[0]]), exist_ok=True)
        for name in missing:
            torch.save([f[name].half() for f in sets], cached[name])
    train_f, dev_f, coco_f = {}, {}, {}
    for name, path in cached.items():
        train_f[name], dev_f[name], coco_f[name] = (f.float() for f in torch.load(path))
    print("features: %.0f s" % (time.time() - t0), flush=True)

    for name in args.features + (["shipped-tuned"] if args.head_lr else []):
        if name == "shipped-tuned":
            cell_w = torch.from_numpy(tile_cell_weights(7, 7)).float()
            print("shipped-tuned: the head trained with the probe", flush=True)
            head, probe = train_head_probe(trunk_net, train_f["trunk"], examples, cell_w,
                                           len(vocab), args)
            dev_f[name], coco_f[name] = head(dev_f["trunk"]), head(coco_f["trunk"])
            side = 7
        else:
            side = int(round(train_f[name].shape[1] ** 0.5))
            cell_w = torch.from_numpy(tile_cell_weights(side, side)).float()
            print("%s: %dx%dx%d" % (name, side, side, train_f[name].shape[2]), flush=True)
            probe = train_probe(train_f[name], examples, cell_w, len(vocab), args)
        grid = [side, side]
        p = score_records(probe, dev_f[name], dev_records, word_id, grid,
                          lambda i, r: gb.pointing_words(r, dev_tiles_refs[i]))
        every = score_records(probe, dev_f[name], all_records,
                              word_id, grid, lambda i, r: gb.pointing_words(
                                  r, dev_tiles_refs[all_records[i]["i"]]))
        b = score_records(probe, coco_f[name], coco_records, word_id, grid,
                          lambda i, r: gb.box_words(r, photos[coco_names[i]]))
        print("  %s: pointing (caption words, %d) mass %.3f hit %.1f %%; all words (%d) mass "
              "%.3f hit %.1f %%; boxes (%d) ratio %.2fx hit %.1f %%" % (
                  name, len(p), np.mean([s["mass"] for s in p]),
                  100 * np.mean([s["hit"] for s in p]), len(every),
                  np.mean([s["mass"] for s in every]), 100 * np.mean([s["hit"] for s in every]),
                  len(b), np.mean([s["ratio"] for s in b]), 100 * np.mean([s["hit"] for s in b])),
              flush=True)
        print("  %s, all words, the most frequent: %s" % (name, word_table(every)), flush=True)
    print("%.0f s" % (time.time() - t0))


if __name__ == "__main__":
    main()
