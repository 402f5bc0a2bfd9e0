#!/usr/bin/python3
"""Train the soft-attention decoder on cached MobileNetV2 features (tools/prepare_data.py).

  /usr/bin/python3 tools/train.py [--cache cache] [--out cache/run] [--epochs 5]

Loss: cross-entropy with teacher forcing + doubly stochastic attention regularization
lambda * sum_i (1 - sum_t alpha_ti)^2 (Xu et al. 2015, eq. 14). Adam, gradient clipping.
After every epoch: a checkpoint (`last.pt`, resumed automatically when present) and greedy
dev BLEU-4; the epoch with the best dev BLEU-4 is kept as `best.pt` (model selection on dev).
"""
import argparse
import json
import math
import os
import random
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import decoder_model as dm  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


def encode_caption(words, word_id, max_words):
    unk = word_id[dm.UNK]
    ids = [word_id.get(w, unk) for w in words[:max_words]]
    return [word_id[dm.START]] + ids + [word_id[dm.END]]


def make_batch(feats, pairs):
    """pairs: [(feature row, token ids)] -> a (B, L, D) float, captions (B, T), lengths, sorted."""
    pairs = sorted(pairs, key=lambda p: -len(p[1]))
    T = len(pairs[0][1])
    caps = torch.zeros(len(pairs), T, dtype=torch.long)
    for i, (_, ids) in enumerate(pairs):
        caps[i, :len(ids)] = torch.tensor(ids)
    lengths = torch.tensor([len(ids) - 1 for _, ids in pairs])
    a = torch.from_numpy(feats[[r for r, _ in pairs]].astype(np.float32))
    return a, caps, lengths


def masked_log_softmax(logits, vocab_size):
    """Decoding never emits <pad>, <start> or <unk> (same rule as src/beam.c)."""
    mask = torch.zeros(vocab_size)
    mask[[0, 1, 3]] = float("-inf")
    return F.log_softmax(logits, dim=-1) + mask


@torch.no_grad()
def greedy(model, a, max_len=20):
    """Batched greedy decoding; returns token lists without <end>. Same stopping rule as C:
    at most max_len decoder steps (<end> included); a caption with no <end> by then is cut."""
    B = a.shape[0]
    att_a = model.att_feature(a)
    h, c = model.init_state(a)
    prev = torch.full((B,), 1, dtype=torch.long)  # <start>
    out = [[] for _ in range(B)]
    done = torch.zeros(B, dtype=torch.bool)
    for _ in range(max_len):
        logits, h, c, _, _ = model.step(a, att_a, model.embedding(prev), h, c)
        prev = masked_log_softmax(logits, model.vocab_size).argmax(dim=1)
        for i in range(B):
            if not done[i]:
                if prev[i] == 2:
                    done[i] = True
                else:
                    out[i].append(int(prev[i]))
        if done.all():
            break
    return out


def dev_bleu4(model, feats, names, refs, vocab):
    from nltk.translate.bleu_score import corpus_bleu
    model.eval()
    hyps = []
    for i in range(0, len(names), 250):
        a = torch.from_numpy(feats[i:i + 250].astype(np.float32))
        hyps += [[vocab[t] for t in seq] for seq in greedy(model, a)]
    model.train()
    return corpus_bleu([refs[n] for n in names], hyps), hyps


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cache", default=os.path.join(HERE, "..", "cache"))
    ap.add_argument("--out", default=None, help="run folder (default: CACHE/run)")
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--lr", type=float, default=4e-4)
    ap.add_argument("--dim", type=int, default=256, help="embedding, attention and LSTM size")
    ap.add_argument("--dropout", type=float, default=0.5)
    ap.add_argument("--att-lambda", type=float, default=1.0, help="doubly stochastic weight")
    ap.add_argument("--max-words", type=int, default=30)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    out = args.out or os.path.join(args.cache, "run")
    os.makedirs(out, exist_ok=True)
    torch.set_num_threads(args.threads)
    random.seed(args.seed)
    torch.manual_seed(args.seed)

    vocab = json.load(open(os.path.join(args.cache, "vocab.json")))
    word_id = {w: i for i, w in enumerate(vocab)}
    captions = json.load(open(os.path.join(args.cache, "captions.json")))
    names = {s: json.load(open(os.path.join(args.cache, "names_%s.json" % s))) for s in ("train", "dev")}
    feats = {s: np.load(os.path.join(args.cache, "features_%s.npy" % s)) for s in ("train", "dev")}
    pairs = [(r, encode_caption(c, word_id, args.max_words))
             for r, n in enumerate(names["train"]) for c in captions["train"][n]]

    model = dm.SoftAttentionDecoder(len(vocab), embed_dim=args.dim, attention_dim=args.dim,
                                    hidden_dim=args.dim, dropout=args.dropout)
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    config = dict(vars(args), vocab_size=len(vocab))
    state = dict(epoch=0, best_bleu4=-1.0, history=[])
    last = os.path.join(out, "last.pt")
    if os.path.exists(last):
        ck = torch.load(last)
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["optimizer"])
        state = ck["state"]
        random.setstate(ck["python_rng"])
        torch.set_rng_state(ck["torch_rng"])
        print("resumed after epoch %d" % state["epoch"], flush=True)
    print("decoder parameters: %d" % sum(p.numel() for p in model.parameters()), flush=True)

    model.train()
    while state["epoch"] < args.epochs:
        t0 = time.time()
        random.shuffle(pairs)
        nb = math.ceil(len(pairs) / args.batch)
        tot = 0.0
        for b in range(nb):
            a, caps, lengths = make_batch(feats["train"], pairs[b * args.batch:(b + 1) * args.batch])
            logits, alphas = model(a, caps, lengths)
            targets = caps[:, 1:1 + logits.shape[1]]
            mask = targets != 0
            xent = F.cross_entropy(logits[mask], targets[mask])
            reg = args.att_lambda * ((1.0 - alphas.sum(dim=1)) ** 2).mean()
            loss = xent + reg
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
            opt.step()
            tot += float(xent)
            if b % 100 == 0:
                print("epoch %d batch %d/%d xent %.3f reg %.3f  %.0f s" % (
                    state["epoch"] + 1, b, nb, float(xent), float(reg), time.time() - t0), flush=True)
        minutes = (time.time() - t0) / 60
        bleu4, hyps = dev_bleu4(model, feats["dev"], names["dev"],
                                {n: captions["dev"][n] for n in names["dev"]}, vocab)
        state["epoch"] += 1
        state["history"].append(dict(epoch=state["epoch"], train_xent=tot / nb,
                                     dev_bleu4_greedy=bleu4, minutes=minutes))
        print("epoch %d: train xent %.3f, dev BLEU-4 (greedy, nltk) %.4f, %.1f min; e.g. '%s'" % (
            state["epoch"], tot / nb, bleu4, minutes, " ".join(hyps[0])), flush=True)
        ck = dict(model=model.state_dict(), config=config, vocab=vocab, state=state)
        if bleu4 > state["best_bleu4"]:
            state["best_bleu4"] = bleu4
            torch.save(ck, os.path.join(out, "best.pt"))
        torch.save(dict(ck, optimizer=opt.state_dict(), python_rng=random.getstate(),
                        torch_rng=torch.get_rng_state()), last + ".tmp")
        os.replace(last + ".tmp", last)
    json.dump(state, open(os.path.join(out, "history.json"), "w"), indent=1)
    print("best dev BLEU-4 %.4f" % state["best_bleu4"])


if __name__ == "__main__":
    main()
