#!/usr/bin/python3
"""Train the captioner: the soft-attention decoder plus the top of the MobileNetV2 encoder.

  /usr/bin/python3 tools/train.py [--cache cache] [--out cache/run_xe] [--epochs 6]

Input: the cache written by tools/prepare_data.py (vocabulary, captions, and the frozen trunk's
14x14x96 outputs for the train photos, their mirror images and the dev photos).

Each step takes --batch images with all their captions (5 per Flickr8k image), so the encoder
head and the per-image attention projections run once per image. A train image is used as is
or mirrored (probability 1/2, new draw every epoch); a mirrored image's captions have "left"
and "right" swapped.

Loss: cross-entropy with teacher forcing (optionally label-smoothed) + the doubly stochastic
attention penalty lambda * sum_i (1 - sum_t alpha_ti)^2 (Xu et al. 2015, eq. 14). Adam with
gradient clipping; the learning rate is multiplied by --lr-decay after every epoch. The encoder
head (blocks 13-16 + Conv_1) is frozen for the first epochs (the decoder starts random and its
gradients would only scramble the ImageNet features), then fine-tuned from --finetune-from on
with its own, smaller learning rate.

Grounding (--blind-init, --mosaics; models/README.md, "Grounding", has why and what it
measured): with --blind-init the initial state h_0, c_0 is a learned constant that does not see
the photo, so every word must come through the attention. With --mosaics M, each step also
takes M 2x2 mosaics of four distinct train photos (captioner.grounding): the decoder describes
the tile that its first step attends most, with that tile's captions (cross-entropy) plus
--ground-weight times -log(alpha_t's mass on the tile) for every word.

After every epoch: greedy-decoded dev captions scored with captioner.evaluate (BLEU-4, CIDEr-D),
the weights in epoch_N.pt, and a full checkpoint last.pt (weights, optimizer, RNG states),
which a rerun resumes from. best.pt is the epoch with the best dev CIDEr-D (selection on dev
only; the test split is never read).
"""
import argparse
import copy
import json
import math
import os
import random
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

from captioner import decoder as dm
from captioner import evaluate, mobilenet_v2
from captioner.grounding import attended_tiles, grounding_loss, mosaic_batch, tile_pixels
from captioner.mosaic import tile_cell_weights
from captioner.paths import CACHE, FLICKR8K, TFLITE
from captioner.reference import greedy

MIRROR = {"left": "right", "right": "left"}


def encode_caption(words, word_id, max_words, mirrored=False):
    unk = word_id[dm.UNK]
    if mirrored:
        words = [MIRROR.get(w, w) for w in words]
    ids = [word_id.get(w, unk) for w in words[:max_words]]
    return [word_id[dm.START]] + ids + [word_id[dm.END]]


def features(encoder, trunk):
    """Cached trunk outputs (N, 96, 14, 14) -> annotation vectors a (N, L, 1280), L = 49 (7x7)
    for output stride 32, 196 (14x14) for 16."""
    return encoder.head(trunk).flatten(2).transpose(1, 2)


def make_batch(trunk, trunk_mirrored, images, encoded, rng):
    """images: train rows. Returns their trunk outputs (N, 96, 14, 14), captions (N, K, T) and
    decode lengths (N, K); each image is mirrored with probability 1/2."""
    mirrored = [rng.random() < 0.5 for _ in images]
    x = np.stack([(trunk_mirrored if m else trunk)[r] for r, m in zip(images, mirrored)])
    tokens, lengths = dm.caption_tensors([encoded[m][r] for r, m in zip(images, mirrored)])
    return torch.from_numpy(x.astype(np.float32)), tokens, lengths


@torch.no_grad()
def dev_scores(encoder, decoder, trunk, names, refs, vocab):
    """Greedy dev captions (the reference beam search at beam 1, without n-gram blocking)
    scored with the project's evaluator (coco-caption definitions).
    The decoder's train/eval mode is restored afterwards."""
    was_training = decoder.training
    decoder.eval()
    hyps = {}
    for i in range(0, len(names), 250):
        a = features(encoder, torch.from_numpy(trunk[i:i + 250].astype(np.float32)))
        for n, seq in zip(names[i:i + 250], greedy(decoder, a)):
            hyps[n] = " ".join(vocab[t] for t in seq)
    decoder.train(was_training)
    return evaluate.evaluate(hyps, refs), hyps


def train_rows(spec, n):
    """The train rows a run uses: SPEC "START:END" (Python slice bounds over names_train.json's
    n rows, either may be empty) or None for all. Returns a range; raises ValueError for a
    malformed or empty selection. A held-out part lets tools/train_scst.py train on photos
    whose references the cross-entropy run has not learned (models/README.md)."""
    if spec is None:
        return range(n)
    parts = spec.split(":")
    if len(parts) != 2:
        raise ValueError("--train-rows %r: expected START:END" % spec)
    try:
        rows = range(n)[slice(*(int(p) if p.strip() else None for p in parts))]
    except ValueError:
        raise ValueError("--train-rows %r: START and END must be integers" % spec) from None
    if not rows:
        raise ValueError("--train-rows %r selects none of the %d train rows" % (spec, n))
    return rows


def select_train_rows(names, trunk, spec):
    """Keep only the --train-rows SPEC rows of names["train"] and of the trunk arrays
    "train" and "train_flip" (in place; numpy slices, not copies)."""
    rows = train_rows(spec, len(names["train"]))
    names["train"] = names["train"][rows.start:rows.stop]
    for s in ("train", "train_flip"):
        trunk[s] = trunk[s][rows.start:rows.stop]


def add_run_options(ap):
    """The options of a run that both training scripts take: threads, seed, --smoke."""
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--smoke", action="store_true",
                    help="check the pipeline quickly: 2 steps per epoch, 50 dev images")


def load_cache(cache, train_rows_spec, smoke, program):
    """What both training scripts read from a prepare_data.py cache: the captions, the names
    and trunk outputs of the train rows (cut to --train-rows; a bad selection exits with a
    message naming `program`) and of the dev photos (50 with --smoke), and the dev references
    in the form evaluate.evaluate takes. Returns (captions, names, trunk, dev_refs)."""
    captions = json.load(open(os.path.join(cache, "captions.json")))
    names = {s: json.load(open(os.path.join(cache, "names_%s.json" % s))) for s in ("train", "dev")}
    trunk = {s: np.load(os.path.join(cache, "trunk_%s.npy" % s))
             for s in ("train", "train_flip", "dev")}
    try:
        select_train_rows(names, trunk, train_rows_spec)
    except ValueError as e:
        sys.exit("%s: %s" % (program, e))
    if smoke:
        names["dev"] = names["dev"][:50]
    dev_refs = {n: [" ".join(c) for c in captions["dev"][n]] for n in names["dev"]}
    return captions, names, trunk, dev_refs


def trunk_head_start(cache):
    """The head start of a cache's trunk outputs: its trunk.json, or mobilenet_v2.HEAD_START
    for a cache written before prepare_data.py had --head-start."""
    path = os.path.join(cache, "trunk.json")
    if not os.path.exists(path):
        return mobilenet_v2.HEAD_START
    return json.load(open(path))["head_start"]


def models_from_checkpoint(ck):
    """The encoder (its head start and output stride from the run's config, defaults for older
    runs) and the decoder (eval mode) of a checkpoint saved by save_epoch."""
    cfg = ck["config"]
    encoder = mobilenet_v2.load_from_tflite(
        cfg["tflite"], output_stride=cfg.get("output_stride", 32),
        head_start=cfg.get("head_start", mobilenet_v2.HEAD_START))
    encoder.load_state_dict(ck["encoder"])
    decoder = dm.from_train_config(cfg, len(ck["vocab"]))
    decoder.load_state_dict(ck["model"])
    return encoder, decoder.eval()


# Options a resumed run may change: where things are, how long, how many threads.
RESUME_MAY_DIFFER = {"cache", "out", "tflite", "epochs", "threads", "data"}


def check_same_run(last, saved, config, defaults):
    """Refuse to resume LAST (saved with the options `saved`) under other training options:
    the weights might even load (the grid size is not in any tensor's shape) and the run would
    silently mix two recipes. An option missing from an older checkpoint had its default."""
    changed = ["--%s %s (now %s)" % (k.replace("_", "-"), saved.get(k, defaults.get(k)), v)
               for k, v in sorted(config.items())
               if k not in RESUME_MAY_DIFFER and k in defaults and saved.get(k, defaults[k]) != v]
    if changed:
        sys.exit("%s: this run was trained with other options: %s; use the same options or "
                 "another --out" % (last, ", ".join(changed)))


def resume(out, decoder, encoder, opt, rng, order, config=None, defaults=None, config_key=None):
    """Load OUT/last.pt (weights, optimizer, RNG states, and into the list `order` the image
    order, which every epoch shuffles further) if it exists; returns its training state, or
    None for a fresh run. Shared by train.py and train_scst.py. With all of it restored, an
    interrupted run continues exactly as an uninterrupted one would. With `config` (the options
    of this run) and `defaults` (the parser's defaults), a last.pt of a run with other training
    options is refused (check_same_run); `config_key` names the entry of the saved config
    that holds the options (train_scst.py keeps its own under "scst")."""
    last = os.path.join(out, "last.pt")
    if not os.path.exists(last):
        return None
    ck = torch.load(last)
    if config is not None:
        saved = ck.get("config", {})
        check_same_run(last, saved.get(config_key, {}) if config_key else saved, config,
                       defaults or {})
    decoder.load_state_dict(ck["model"])
    encoder.load_state_dict(ck["encoder"])
    opt.load_state_dict(ck["optimizer"])
    rng.setstate(ck["python_rng"])
    torch.set_rng_state(ck["torch_rng"])
    if "train_order" in ck:  # absent in runs saved before it was kept
        order[:] = ck["train_order"]
    print("resumed after epoch %d" % ck["state"]["epoch"], flush=True)
    return ck["state"]


def save_epoch(out, decoder, encoder, opt, rng, order, config, vocab, state, cider):
    """After an epoch: OUT/epoch_N.pt (weights), best.pt when `cider` (dev CIDEr-D) is the best so
    far, last.pt (weights + optimizer + RNG states + image order, written atomically) and
    history.json."""
    if cider > state["best_cider"]:
        state["best_cider"] = cider
        best = True
    else:
        best = False
    ck = dict(model=decoder.state_dict(), encoder=encoder.state_dict(), config=config,
              vocab=vocab, state=state)
    torch.save(ck, os.path.join(out, "epoch_%d.pt" % state["epoch"]))
    if best:
        torch.save(ck, os.path.join(out, "best.pt"))
    last = os.path.join(out, "last.pt")
    torch.save(dict(ck, optimizer=opt.state_dict(), python_rng=rng.getstate(),
                    torch_rng=torch.get_rng_state(), train_order=list(order)), last + ".tmp")
    os.replace(last + ".tmp", last)
    json.dump(state, open(os.path.join(out, "history.json"), "w"), indent=1)


def mosaic_loss(encoder, trunk_cl, decoder, tiles, encoded, n_mosaics, cell_w, end, finetune,
                rng):
    """n_mosaics random mosaics of the train tiles, each captioned (teacher forcing) with the
    captions of the tile that the decoder's first step attends most (captioner.grounding).
    trunk_cl: a channels-last copy of the encoder, whose frozen trunk runs the mosaics (PyTorch's
    CPU depthwise convolutions run about 2x faster so). Returns the mosaics' cross-entropy, the
    grounding loss and the mean mass on the tile."""
    x, tokens, lengths = mosaic_batch(tiles, encoded, n_mosaics, rng)
    with torch.no_grad():
        trunk = trunk_cl.trunk(x.contiguous(memory_format=torch.channels_last)).contiguous()
    with torch.set_grad_enabled(finetune):
        a = features(encoder, trunk)
    k = attended_tiles(decoder, a, cell_w)
    rows = torch.arange(n_mosaics) * 4 + k
    tokens, lengths = tokens[rows], lengths[rows]
    logits, targets, _, alphas, mask = decoder(a, tokens, lengths, return_alphas=True)
    ground, mass = grounding_loss(alphas, mask, tokens, cell_w[k], end)
    return F.cross_entropy(logits, targets), ground, mass


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cache", default=CACHE)
    ap.add_argument("--out", default=None, help="run folder (default: CACHE/run_xe)")
    ap.add_argument("--tflite", default=TFLITE)
    ap.add_argument("--epochs", type=int, default=6)
    ap.add_argument("--batch", type=int, default=32, help="images per step (x5 captions)")
    ap.add_argument("--lr", type=float, default=4e-4, help="decoder learning rate")
    ap.add_argument("--encoder-lr", type=float, default=1e-4, help="encoder head learning rate")
    ap.add_argument("--finetune-from", type=int, default=2,
                    help="first epoch (1-based) that trains the encoder head; 0 = never")
    ap.add_argument("--lr-decay", type=float, default=0.8, help="learning-rate factor per epoch")
    ap.add_argument("--dim", type=int, default=512, help="embedding, attention and LSTM size")
    ap.add_argument("--output-stride", type=int, default=32, choices=mobilenet_v2.OUTPUT_STRIDES,
                    help="encoder output stride: 32 (7x7 attention grid) or 16 (14x14, the last "
                         "stage dilated); stored in the checkpoint config for export_model.py")
    ap.add_argument("--attention-dim", type=int, default=None,
                    help="attention MLP size A (default: --dim); the attention's tanh over "
                         "(captions, steps, L, A) dominates a step at L = 196 (--output-stride 16)")
    ap.add_argument("--dropout", type=float, default=0.5)
    ap.add_argument("--embed-dropout", type=float, default=0.0,
                    help="dropout on the word embeddings (LSTM input and deep output)")
    ap.add_argument("--label-smoothing", type=float, default=0.0)
    ap.add_argument("--att-lambda", type=float, default=1.0, help="doubly stochastic weight")
    ap.add_argument("--max-words", type=int, default=20,
                    help="longer train captions are cut (the C decoder stops after 20 steps)")
    ap.add_argument("--train-rows", default=None, metavar="START:END",
                    help="train on these rows of names_train.json only (Python slice bounds, "
                         "e.g. 0:5000); default all")
    ap.add_argument("--blind-init", action="store_true",
                    help="h_0, c_0 do not see the photo (W_init_h, W_init_c zero and frozen)")
    ap.add_argument("--mosaics", type=int, default=0,
                    help="2x2 mosaics of train photos per step, with the attention supervised "
                         "onto the described tile (0 = none)")
    ap.add_argument("--ground-weight", type=float, default=1.0,
                    help="weight of -log(attention mass on the tile) on mosaic captions")
    ap.add_argument("--data", default=FLICKR8K, help="Flickr8k, for the mosaics' tiles")
    add_run_options(ap)
    args = ap.parse_args()
    out = args.out or os.path.join(args.cache, "run_xe")
    os.makedirs(out, exist_ok=True)
    torch.set_num_threads(args.threads)
    rng = random.Random(args.seed)
    torch.manual_seed(args.seed)

    vocab = json.load(open(os.path.join(args.cache, "vocab.json")))
    word_id = {w: i for i, w in enumerate(vocab)}
    captions, names, trunk, dev_refs = load_cache(args.cache, args.train_rows, args.smoke,
                                                  "train.py")
    encoded = {m: [[encode_caption(c, word_id, args.max_words, m) for c in captions["train"][n]]
                   for n in names["train"]] for m in (False, True)}
    if args.mosaics:
        every = json.load(open(os.path.join(args.cache, "names_train.json")))
        rows = train_rows(args.train_rows, len(every))
        tiles = tile_pixels(args.cache, every, args.data)[rows.start:rows.stop]

    # The trunk (by default blocks 0-12) is the same for both strides, so the cached trunk outputs
    # serve both. The cache says where it ends (prepare_data.py --head-start).
    head_start = trunk_head_start(args.cache)
    encoder = mobilenet_v2.load_from_tflite(args.tflite, output_stride=args.output_stride,
                                            head_start=head_start)
    for p in encoder.parameters():
        p.requires_grad_(False)
    trunk_cl = copy.deepcopy(encoder).to(memory_format=torch.channels_last) if args.mosaics else None
    head_params = encoder.head_parameters()
    decoder = dm.from_train_config(vars(args), len(vocab))
    side = mobilenet_v2.INPUT_SIZE // args.output_stride
    cell_w = torch.from_numpy(tile_cell_weights(side, side)).float()   # (4, L)
    end = word_id[dm.END]
    opt = torch.optim.Adam([dict(params=[p for p in decoder.parameters() if p.requires_grad],
                                 lr=args.lr),
                            dict(params=head_params, lr=args.encoder_lr)])
    config = dict(vars(args), vocab_size=len(vocab), head_start=head_start)
    order = list(range(len(names["train"])))
    # The cache's head start counts as an option: the head's parameters (and the optimizer
    # state) differ with it.
    state = (resume(out, decoder, encoder, opt, rng, order, dict(vars(args), head_start=head_start),
                    dict(vars(ap.parse_args([])), head_start=mobilenet_v2.HEAD_START))
             or dict(epoch=0, best_cider=-1.0, history=[]))
    print("decoder parameters: %d, encoder head parameters: %d" % (
        sum(p.numel() for p in decoder.parameters()), sum(p.numel() for p in head_params)), flush=True)

    decoder.train()
    encoder.eval()  # BatchNorm is folded into the convolutions; eval() only for clarity
    while state["epoch"] < args.epochs:
        epoch = state["epoch"] + 1
        finetune = 0 < args.finetune_from <= epoch
        for p in head_params:
            p.requires_grad_(finetune)
        decay = args.lr_decay ** (epoch - 1)
        opt.param_groups[0]["lr"] = args.lr * decay
        opt.param_groups[1]["lr"] = args.encoder_lr * decay
        t0 = time.time()
        rng.shuffle(order)
        nb = 2 if args.smoke else math.ceil(len(order) / args.batch)
        tot, tot_mosaic, tot_mass = 0.0, 0.0, 0.0
        for b in range(nb):
            x, tokens, lengths = make_batch(trunk["train"], trunk["train_flip"],
                                                  order[b * args.batch:(b + 1) * args.batch],
                                                  encoded, rng)
            with torch.set_grad_enabled(finetune):
                a = features(encoder, x)
            logits, targets, alpha_sum = decoder(a, tokens, lengths)
            xent = F.cross_entropy(logits, targets, label_smoothing=args.label_smoothing)
            real = lengths > 0
            reg = args.att_lambda * ((1.0 - alpha_sum[real]) ** 2).mean()
            loss = xent + reg
            if args.mosaics:
                mxent, ground, mass = mosaic_loss(encoder, trunk_cl, decoder, tiles, encoded,
                                                  args.mosaics, cell_w, end, finetune, rng)
                loss = loss + mxent + args.ground_weight * ground
                tot_mosaic += float(mxent)
                tot_mass += float(mass)
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(decoder.parameters(), 5.0)
            if finetune:
                torch.nn.utils.clip_grad_norm_(head_params, 5.0)
            opt.step()
            tot += float(xent)
            if b % 50 == 0:
                print("epoch %d batch %d/%d xent %.3f reg %.3f%s  %.0f s" % (
                    epoch, b, nb, float(xent), float(reg),
                    ", mosaics xent %.3f mass on the tile %.3f" % (float(mxent), float(mass))
                    if args.mosaics else "", time.time() - t0), flush=True)
        minutes = (time.time() - t0) / 60
        scores, hyps = dev_scores(encoder, decoder, trunk["dev"], names["dev"], dev_refs, vocab)
        state["epoch"] = epoch
        state["history"].append(dict(epoch=epoch, train_xent=tot / nb, finetune=finetune,
                                     dev_bleu4_greedy=scores["BLEU-4"],
                                     dev_cider_d_greedy=scores["CIDEr-D"], minutes=minutes))
        if args.mosaics:
            state["history"][-1].update(mosaic_xent=tot_mosaic / nb, mosaic_mass=tot_mass / nb)
        print("epoch %d: train xent %.3f, dev greedy BLEU-4 %.4f CIDEr-D %.4f, %.1f min; e.g. '%s'" % (
            epoch, tot / nb, scores["BLEU-4"], scores["CIDEr-D"], minutes, hyps[names["dev"][0]]),
            flush=True)
        save_epoch(out, decoder, encoder, opt, rng, order, config, vocab, state,
                   scores["CIDEr-D"])
    print("best dev CIDEr-D (greedy) %.4f" % state["best_cider"])


if __name__ == "__main__":
    main()
