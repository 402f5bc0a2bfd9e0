#!/usr/bin/python3
"""Grounding fine-tune: teach the attention to look at what the next word names, on 2x2
mosaics of train photos whose caption belongs to one tile.

  /usr/bin/python3 tools/train_grounding.py --init cache/model.pt --out cache/run_ground
      [--steps 200] [--images 16] [--mosaics 4] [--ground-weight 1] [--att-lambda 0]

--init is a checkpoint (tools/train.py, average_checkpoints.py) or a model file (its trained
words and weights are read back, so the shipped file can be fine-tuned as it is). Writes
OUT/grounded.pt, in the checkpoint format tools/export_model.py reads.

Why: trained on whole photos, a word can be predicted from any cell (each cell of the 7x7 map
sees most of the photo), and the doubly stochastic penalty (Xu et al. 2015, eq. 14, lambda = 1
in tools/train.py) pulls every map towards uniform coverage, so the maps stay flat. A mosaic
gives the decoder a reason to look: only one tile holds what its caption names. Each step takes

  - --images whole train photos with their 5 captions (the usual cross-entropy, so the
    captions of ordinary photos stay what they were), and
  - --mosaics mosaics of four distinct train photos (tiles squashed to 112x112, each mirrored
    with probability 1/2, composed in pixels and run through the frozen trunk like any photo),
    with the cross-entropy of one tile's captions plus --ground-weight times the mean over
    their words (<end> aside) of -log(alpha_t's mass on the tile): a weak supervision that
    costs no annotation, since the tile is known by construction. Which tile
    (--mosaic-rows): "tiles" makes a row of each tile, with h_0, c_0 from the mean over that
    tile's cells (captioner.mosaic.tile_cell_weights) so the decoder knows which photo it
    describes; "attended" makes one row, the tile that the first step's attention weighs
    most, with h_0 from the whole mosaic as at test time.

Experimental: not in tools/train_all.sh. The runs made (models/README.md, "Grounding"):
sharper maps, but the pointing hit rate rose only with --blind-init (h_0 no longer sees the
photo, so words must come through the attention), and every run cost dev CIDEr-D; the blind
initial state is a decoder to train from the start, not a fine-tune. A rank-8 initial state
(--init-rank 8) did neither: hit rate below the shipped file's, captions as poor as blind.
--word-from-context W adds, on every caption (photos and mosaics), W x the cross-entropy of
each word predicted from its step's context vector alone by a linear head trained alongside
(captioner.grounding.context_word_loss): a map that stays on the same blend for every word
cannot name them apart. With --mosaics 0 a step is whole photos only.
--evidence W adds W x the cross-entropy of each content word's attention against where the
decoder's own output layer finds that word in the feature map (captioner.grounding.
evidence_loss; the maps locate 68 % of the benchmark's mosaic words, tools/grounding_evidence.py);
--word-query gives the attention a bilinear score (W_q h)^T (L_z a_i) to follow them with
(not exportable; scored by tools/grounding_torch.py). Runs I and J in the model card: a little
more pointing, less CIDEr-D, as before.
The doubly stochastic penalty (--att-lambda) applies to the whole photos' captions only.
Adam (the attention MLP --attention-lr, the rest of the decoder --lr, the encoder head
--encoder-lr), constant; gradients clipped at norm 5.
Seeded and deterministic for a given thread count. The dev scores are the C program's
(tools/compare_dev.py, tools/grounding_bench.py on the exported file); models/README.md has the
experiments.
"""
import argparse
import json
import os
import random
import time

import numpy as np
import torch
import torch.nn.functional as F

from captioner import decoder as dm
from captioner import mobilenet_v2, model_file
from captioner.image import load_rgb
from captioner.grounding import (attended_tiles, context_word_loss, evidence_loss,
                                 grounding_loss, low_rank_, mosaic_batch, tile_pixels)
from captioner.mosaic import tile_cell_weights
from captioner.paths import CACHE, FLICKR8K, TFLITE
from grounding_bench import STOP_WORDS
from train import encode_caption, features, models_from_checkpoint

TRAIN_CONFIG = dict(dim=512, attention_dim=None, dropout=0.5, embed_dropout=0.0,
                    output_stride=32, head_start=mobilenet_v2.HEAD_START)


def checkpoint_from_model_file(path, tflite):
    """A model file's trained part as a checkpoint: the decoder cut to its V0 trained words,
    the encoder (the file's weights: the TFLite trunk and the fine-tuned head), the training
    vocabulary. Training options the file does not hold are the recipe's (TRAIN_CONFIG)."""
    config, vocab, tensors = model_file.read_model(path)
    v0 = config.get("base_vocab_size") or config["vocab_size"]
    cfg = dict(TRAIN_CONFIG, dim=config["hidden_dim"], attention_dim=config["attention_dim"],
               output_stride=config["output_stride"], tflite=tflite, vocab_size=v0)
    decoder = {}
    for k, v in tensors.items():
        if k.startswith("decoder."):
            t = torch.from_numpy(v.copy())
            if k in ("decoder.embedding.weight", "decoder.out_logits.weight",
                     "decoder.out_logits.bias"):
                t = t[:v0].clone()
            decoder[k[len("decoder."):]] = t
    encoder = {k[len("encoder."):]: torch.from_numpy(v.copy())
               for k, v in tensors.items() if k.startswith("encoder.")}
    return dict(model=decoder, encoder=encoder, config=cfg, vocab=vocab[:v0],
                state=dict(epoch=0, from_model_file=path))


def load_init(path, tflite):
    with open(path, "rb") as f:
        magic = f.read(len(model_file.MAGIC))
    if magic == model_file.MAGIC:
        return checkpoint_from_model_file(path, tflite)
    return torch.load(path)


def photo_batch(paths, rows, encoded, rng):
    """Whole train photos (each mirrored with probability 1/2), decoded here rather than read
    from prepare_data.py's cache: this stage sees a few thousand photos, fewer than the cache
    holds. Returns the pixels (N, 3, 224, 224) preprocessed, captions and lengths."""
    mirrored = [rng.random() < 0.5 for _ in rows]
    x = torch.cat([mobilenet_v2.preprocess(load_rgb(paths[r])[:, ::-1] if m else load_rgb(paths[r]))
                   for r, m in zip(rows, mirrored)])
    return (x, *dm.caption_tensors([encoded[m][r] for r, m in zip(rows, mirrored)]))


def save(path, ck, args, decoder, encoder, minutes):
    """A checkpoint in tools/train.py's format, the grounding options in its config."""
    grounding = {k: v for k, v in vars(args).items()
                 if k not in ("out", "cache", "data", "threads")}
    grounding["word_query"] = decoder.att_query is not None   # what from_train_config rebuilds
    config = dict(ck["config"], grounding=grounding)
    state = dict(ck.get("state", {}), grounding_minutes=round(minutes, 1))
    state.pop("averaged", None)
    torch.save(dict(model=decoder.state_dict(), encoder=encoder.state_dict(), config=config,
                    vocab=ck["vocab"], state=state), path)


def loss_step(opt, loss, dec_params, head_params):
    opt.zero_grad()
    loss.backward()
    torch.nn.utils.clip_grad_norm_(dec_params, 5.0)
    torch.nn.utils.clip_grad_norm_(head_params, 5.0)
    opt.step()


def report(step, steps, totals, t0, photos_only):
    """Every 25 steps: the mean of the last steps' losses (totals, reset here)."""
    if step % 25 != 24 and step != steps - 1:
        return
    m = totals / (25 if step % 25 == 24 else step % 25 + 1)
    if photos_only:
        print("step %d/%d: photos xent %.3f, word from the context or evidence %.3f "
              "(overlap %.3f), %.0f s" % (step + 1, steps, m[0], m[1], m[2], time.time() - t0),
              flush=True)
    else:
        print("step %d/%d: photos xent %.3f, mosaics xent %.3f, ground %.3f (mass on the tile "
              "%.3f), %.0f s" % (step + 1, steps, *m, time.time() - t0), flush=True)
    totals[:] = 0


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--init", required=True, help="checkpoint (.pt) or model file to start from")
    ap.add_argument("--cache", default=CACHE)
    ap.add_argument("--data", default=FLICKR8K)
    ap.add_argument("--out", default=None, help="run folder (default CACHE/run_ground)")
    ap.add_argument("--tflite", default=TFLITE)
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--images", type=int, default=16, help="whole photos per step (x5 captions)")
    ap.add_argument("--mosaics", type=int, default=4, help="mosaics per step (x4 tiles x5 captions)")
    ap.add_argument("--lr", type=float, default=1e-4, help="decoder learning rate")
    ap.add_argument("--encoder-lr", type=float, default=5e-5, help="encoder head learning rate")
    ap.add_argument("--attention-lr", type=float, default=None,
                    help="learning rate of the attention MLP (W_a, W_h, w_e; default --lr)")
    ap.add_argument("--ground-weight", type=float, default=1.0,
                    help="weight of -log(attention mass on the tile) on mosaic rows")
    ap.add_argument("--mosaic-rows", choices=("tiles", "attended"), default="attended",
                    help="tiles: each mosaic gives four rows, one per tile, h_0 from that tile's "
                         "mean; attended: one row, the tile that the first step's attention "
                         "(from h_0 of the whole mosaic, as at test time) weighs most")
    ap.add_argument("--blind-init", action="store_true",
                    help="zero and freeze the initial state's weights (W_init_h, W_init_c; the "
                         "biases train), so h_0 and c_0 no longer see the photo and every word "
                         "must come through the attention; the file format is unchanged")
    ap.add_argument("--init-rank", type=int, default=None, metavar="R",
                    help="replace W_init_h and W_init_c by their best rank-R approximations "
                         "(SVD) and freeze them (the biases train): h_0, c_0 see only R "
                         "numbers about the photo, between --blind-init (R = 0) and the "
                         "shipped decoder (R = 512); the file format is unchanged")
    ap.add_argument("--word-from-context", type=float, default=0.0, metavar="W",
                    help="add W x the cross-entropy of each word predicted from its step's "
                         "context vector alone (a linear head trained with it; "
                         "captioner.grounding.context_word_loss); 0 = off")
    ap.add_argument("--evidence", type=float, default=0.0, metavar="W",
                    help="add W x the cross-entropy of each content word's attention against "
                         "where the decoder's output layer finds that word in the feature map "
                         "(captioner.grounding.evidence_loss), on the whole photos; 0 = off")
    ap.add_argument("--word-query", action="store_true",
                    help="add the experimental bilinear attention score (W_q h)^T (L_z a_i) "
                         "(SoftAttentionDecoder word_query; W_q starts at zero, or where the "
                         "--init checkpoint left it, and trains at --query-lr); not exportable: "
                         "evaluate with tools/grounding_torch.py")
    ap.add_argument("--query-lr", type=float, default=1e-5,
                    help="learning rate of W_q (--word-query): its scores are on the scale of "
                         "logits, so a rate like the attention MLP's makes every map one-hot")
    ap.add_argument("--save-every", type=int, default=0,
                    help="also write OUT/step_N.pt every N steps")
    ap.add_argument("--att-lambda", type=float, default=0.0,
                    help="doubly stochastic penalty on the whole photos' captions")
    ap.add_argument("--train", choices=("all", "attention"), default="all",
                    help="which decoder weights train: all, or the attention MLP only")
    ap.add_argument("--max-words", type=int, default=20)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    out = args.out or os.path.join(args.cache, "run_ground")
    os.makedirs(out, exist_ok=True)
    torch.set_num_threads(args.threads)
    rng = random.Random(args.seed)
    torch.manual_seed(args.seed)

    ck = load_init(args.init, args.tflite)
    vocab = ck["vocab"]
    if vocab != json.load(open(os.path.join(args.cache, "vocab.json"))):
        raise SystemExit("train_grounding.py: %s was trained with another vocabulary than %s"
                         % (args.init, args.cache))
    encoder, decoder = models_from_checkpoint(ck)
    if args.word_query and decoder.att_query is None:   # a checkpoint with W_q keeps its own
        decoder.add_word_query()
    word_id = {w: i for i, w in enumerate(vocab)}
    captions = json.load(open(os.path.join(args.cache, "captions.json")))["train"]
    names = open(os.path.join(args.data, "Flickr_8k.trainImages.txt")).read().split()
    encoded = {m: [[encode_caption(c, word_id, args.max_words, m) for c in captions[n]]
                   for n in names] for m in (False, True)}
    paths = [os.path.join(args.data, "images", n) for n in names]
    tiles = tile_pixels(args.cache, names, args.data)
    n_train = len(names)
    side = mobilenet_v2.INPUT_SIZE // encoder.output_stride
    cell_w = torch.from_numpy(tile_cell_weights(side, side)).float()   # (4, L)

    for p in encoder.parameters():
        p.requires_grad_(False)
    head_params = encoder.head_parameters()
    for p in head_params:
        p.requires_grad_(True)
    if args.blind_init:
        for m in (decoder.init_h, decoder.init_c):
            m.weight.data.zero_()
            m.weight.requires_grad_(False)
    elif args.init_rank is not None:
        for name, m in (("W_init_h", decoder.init_h), ("W_init_c", decoder.init_c)):
            print("%s: rank %d keeps %.1f %% of its squared norm" % (
                name, args.init_rank, 100 * (1 - low_rank_(m, args.init_rank))), flush=True)
    att_params = [p for m in (decoder.att_feature, decoder.att_hidden, decoder.att_score)
                  for p in m.parameters()]
    query_params = list(decoder.att_query.parameters()) if decoder.att_query is not None else []
    other = [p for p in decoder.parameters()
             if p.requires_grad and all(p is not q for q in att_params + query_params)]
    if args.train == "attention":
        for p in other:
            p.requires_grad_(False)
        other = []
    dec_params = att_params + query_params + other
    # The word-from-context head is new and trains only here: the attention MLP's rate.
    word_head = torch.nn.Linear(decoder.feature_dim, len(vocab))
    groups = [dict(params=att_params, lr=args.attention_lr or args.lr),
              dict(params=query_params, lr=args.query_lr),
              dict(params=other, lr=args.lr), dict(params=head_params, lr=args.encoder_lr),
              dict(params=list(word_head.parameters()) if args.word_from_context else [],
                   lr=args.attention_lr or args.lr)]
    opt = torch.optim.Adam([g for g in groups if g["params"]])
    decoder.train()
    order = list(range(n_train))
    rng.shuffle(order)
    end = word_id[dm.END]
    exempt = torch.zeros(len(vocab), dtype=torch.bool)
    exempt[[word_id[w] for w in STOP_WORDS if w in word_id] + [end]] = True
    t0 = time.time()
    totals = np.zeros(4)
    for step in range(args.steps):
        start = (step * args.images) % n_train
        x, tokens, lengths = photo_batch(paths, order[start:start + args.images], encoded, rng)
        if args.mosaics:
            mx, mtok, mlen = mosaic_batch(tiles, encoded, args.mosaics, rng)
        else:
            mx = x[:0]
        with torch.no_grad():
            trunk = encoder.trunk(torch.cat([x, mx]))
        photos = features(encoder, trunk[:len(x)])
        logits, targets, alpha_sum, alphas, mask = decoder(photos, tokens, lengths,
                                                           return_alphas=True)
        xent = F.cross_entropy(logits, targets)
        reg = args.att_lambda * ((1.0 - alpha_sum[lengths > 0]) ** 2).mean()
        loss = xent + reg
        if args.word_from_context:
            word = context_word_loss(word_head, photos, alphas, mask, tokens, end)
            loss = loss + args.word_from_context * word
        if args.evidence:
            word, overlap = evidence_loss(decoder, photos, alphas, mask, tokens, exempt)
            loss = loss + args.evidence * word
        if args.mosaics:
            a = features(encoder, trunk[len(x):])                      # (M, L, D)
            if args.mosaic_rows == "tiles":
                a = a.repeat_interleave(4, dim=0)                      # (4M, L, D)
                tile_w = cell_w.repeat(args.mosaics, 1)                # (4M, L)
                init_w = tile_w
            else:
                k = attended_tiles(decoder, a, cell_w)
                rows = torch.arange(args.mosaics) * 4 + k
                mtok, mlen, tile_w, init_w = mtok[rows], mlen[rows], cell_w[k], None
            mlogits, mtargets, _, alphas, mask = decoder(a, mtok, mlen, init_weights=init_w,
                                                         return_alphas=True)
            mxent = F.cross_entropy(mlogits, mtargets)
            ground, mass = grounding_loss(alphas, mask, mtok, tile_w, end)
            loss = loss + mxent + args.ground_weight * ground
            if args.word_from_context:
                loss = loss + args.word_from_context * context_word_loss(word_head, a, alphas,
                                                                         mask, mtok, end)
            totals += [float(xent), float(mxent), float(ground), float(mass)]
        else:
            totals += [float(xent), float(word) if args.word_from_context or args.evidence
                       else 0.0, float(overlap) if args.evidence else 0.0, 0.0]
        loss_step(opt, loss, dec_params, head_params)
        report(step, args.steps, totals, t0, not args.mosaics)
        if args.save_every and (step + 1) % args.save_every == 0 and step + 1 < args.steps:
            save(os.path.join(out, "step_%d.pt" % (step + 1)), ck, args, decoder, encoder,
                 (time.time() - t0) / 60)
    minutes = (time.time() - t0) / 60
    save(os.path.join(out, "grounded.pt"), ck, args, decoder, encoder, minutes)
    print("wrote %s after %d steps, %.1f min" % (os.path.join(out, "grounded.pt"), args.steps,
                                                minutes))


if __name__ == "__main__":
    main()
