"""PyTorch reference captioner: loads the shipped model file (not a checkpoint) and captions
images exactly as the C program does (same decoding of files, same 224x224 squash, same beam
search rules as src/beam.c). It is the oracle for the C tests (tests/fixtures/make_goldens.py).

  /usr/bin/python3 tools/reference.py [--model PATH] [--beam N] [--max-len N]
                                      [--batch N] [--threads N] IMAGE...

One image prints its caption; several print PATH<TAB>CAPTION lines, like `caption`.
Several images are captioned --batch at a time (default 32): one encoder forward pass over the
batch, then one beam search for the whole batch, every live hypothesis of every image a row of
the same decoder step. --batch 1 captions one image at a time.

beam_search is the only beam search of the Python side: the Captioner runs it on a model file's
decoder, training on its own decoder (greedy() is beam 1, for the dev scores after every epoch;
tools/train_scst.py scores the n-best lists).
"""
import argparse
import os
import sys

import numpy as np
import torch

from . import decoder as dm
from . import mobilenet_v2
from . import model_file
from .image import load_rgb
from .paths import DEFAULT_MODEL

# The C program's defaults (cap_options_default in src/caption.c).
DEFAULT_LENGTH_PENALTY = 0.7
DEFAULT_NO_REPEAT_NGRAM = 2


def block_repeats(row, tokens, n):
    """Mirror of block_repeats in src/beam.c: -inf for every token that would complete an
    n-gram the hypothesis `tokens` already holds. row: (V,) numpy, changed in place."""
    if n < 2:
        return
    t = len(tokens)
    tail = tokens[t - n + 1:]
    for i in range(t - n + 1):
        if tokens[i:i + n - 1] == tail:
            row[tokens[i + n - 1]] = -np.inf


def ranking_score(hyp, length_penalty):
    """Mirror of ranking_score in src/beam.c (float32 arithmetic)."""
    if length_penalty == 0:
        return np.float32(hyp["logprob"])
    return np.float32(hyp["logprob"]) / np.power(np.float32(len(hyp["tokens"]) + 1),
                                                 np.float32(length_penalty), dtype=np.float32)


def select_best(scores, want):
    """Flat indices of the `want` best finite scores, best first, ties to the lower index (the
    order of src/beam.c's selection): np.argsort(-scores, kind="stable")[:want] without -inf,
    in O(n)."""
    if want <= 0:
        return []
    finite = np.isfinite(scores)
    if want < scores.size:
        kth = -np.partition(-scores, want - 1)[want - 1]
        cand = np.nonzero((scores >= kth) & finite)[0]
    else:
        cand = np.nonzero(finite)[0]
    cand = cand[np.lexsort((cand, -scores[cand]))]
    return cand[:want].tolist()


@torch.no_grad()
def beam_search(decoder, feats, beam=3, max_len=20, length_penalty=DEFAULT_LENGTH_PENALTY,
                no_repeat_ngram=DEFAULT_NO_REPEAT_NGRAM, tokens=dm.SPECIAL_IDS):
    """Mirror of src/beam.c for B images at once. decoder: a dm.SoftAttentionDecoder (eval
    mode); feats: (B, L, D) annotation vectors; tokens: the special token ids (a model file's
    config, or dm.SPECIAL_IDS for a training run's vocabulary).

    Every step runs the live hypotheses of all images as the rows of one decoder step; then
    each image keeps its `beam` best extensions, moves those that end with <end> to its
    finished list and stops once it holds `beam` finished ones. Beam 1 is greedy decoding.

    Returns B n-best lists of dicts (tokens, logprob, finished, alphas, betas): finished ones
    first, by decreasing ranking_score, then unfinished ones (cut at max_len steps) by
    decreasing logprob."""
    V, end = decoder.vocab_size, tokens["token_end"]
    B = feats.shape[0]
    att_a_all = decoder.att_feature(feats)
    h, c = decoder.init_state(feats)
    live = [[dict(tokens=[], logprob=0.0, alphas=[], betas=[])] for _ in range(B)]
    done = [[] for _ in range(B)]
    img = list(range(B))  # image of each row
    prev = torch.full((B,), tokens["token_start"], dtype=torch.long)
    for _ in range(max_len):
        if not img:
            break
        idx = torch.tensor(img)
        logits, h, c, alpha, beta = decoder.step(feats[idx], att_a_all[idx],
                                                 decoder.embedding(prev), h, c)
        lp = dm.masked_log_softmax(logits, tokens).numpy()
        rows, next_tokens, new_img, row0 = [], [], [], 0
        for i in range(B):
            n = len(live[i])
            if n == 0:
                continue
            for b, x in enumerate(live[i]):
                block_repeats(lp[row0 + b], x["tokens"], no_repeat_ngram)
            base = np.array([x["logprob"] for x in live[i]], dtype=np.float32)
            scores = (base[:, None] + lp[row0:row0 + n]).astype(np.float32).ravel()
            new_live = []
            for flat in select_best(scores, beam - len(done[i])):
                b, tok = divmod(int(flat), V)
                hyp = live[i][b]
                if tok == end:
                    done[i].append(dict(hyp, logprob=float(scores[flat]), finished=True))
                    continue
                new_live.append(dict(tokens=hyp["tokens"] + [tok], logprob=float(scores[flat]),
                                     alphas=hyp["alphas"] + [alpha[row0 + b].numpy()],
                                     betas=hyp["betas"] + [float(beta[row0 + b])]))
                rows.append(row0 + b)
                next_tokens.append(tok)
                new_img.append(i)
            row0 += n
            live[i] = new_live if len(done[i]) < beam else []
            if len(done[i]) >= beam:  # finished: its unselected rows are dropped too
                drop = len(new_live)
                if drop:
                    del rows[-drop:], next_tokens[-drop:], new_img[-drop:]
        img = new_img
        if rows:
            h, c = h[rows], c[rows]
            prev = torch.tensor(next_tokens, dtype=torch.long)
    out = []
    for i in range(B):
        done[i].sort(key=lambda x: -ranking_score(x, length_penalty))
        out.append(done[i] + [dict(x, finished=False) for x in live[i]])
    return out


def greedy(decoder, feats, max_len=20):
    """Greedy decoding of a training decoder (special tokens at dm.SPECIAL_IDS): beam 1 with
    no n-gram blocking, as training scores its dev captions. Token lists without <end>; a
    caption with no <end> after max_len decoder steps is cut there."""
    return [nbest[0]["tokens"]
            for nbest in beam_search(decoder, feats, 1, max_len, no_repeat_ngram=0)]


class Captioner:
    def __init__(self, path=DEFAULT_MODEL):
        config, self.vocab, tensors = model_file.read_model(path)
        self.config = config
        # The file's output stride (32, or 16 for a 14x14 grid): same tensors, other geometry.
        self.encoder = mobilenet_v2.MobileNetV2Encoder(output_stride=config["output_stride"])
        self.decoder = dm.SoftAttentionDecoder(config["vocab_size"], config["feature_dim"],
                                               config["embed_dim"], config["attention_dim"],
                                               config["hidden_dim"])
        for prefix, module in (("encoder.", self.encoder), ("decoder.", self.decoder)):
            module.load_state_dict({k[len(prefix):]: torch.from_numpy(v.copy())
                                    for k, v in tensors.items() if k.startswith(prefix)})
            module.eval()

    @torch.no_grad()
    def features_batch(self, rgbs):
        """list of (224, 224, 3) uint8 -> a (B, L, D) float32, cell i = row * grid_cols + col."""
        x = torch.cat([mobilenet_v2.preprocess(r) for r in rgbs])
        return self.encoder(x).flatten(2).transpose(1, 2)

    def features(self, rgb224):
        """(224, 224, 3) uint8 -> a (L, D)."""
        return self.features_batch([rgb224])[0]

    def beam_search(self, feats, beam=3, max_len=20, **decode):
        """beam_search with this file's decoder and special tokens. feats: (B, L, D);
        decode: length_penalty, no_repeat_ngram. Returns B n-best lists."""
        return beam_search(self.decoder, feats, beam, max_len, tokens=self.config, **decode)

    def caption_batch(self, paths, beam=3, max_len=20, **decode):
        """Caption several files: list of (path, caption or None, error or None), in order.
        Files that cannot be read are reported and skipped, the rest run as one batch."""
        rgbs, ok, results = [], [], {}
        for p in paths:
            try:
                rgbs.append(load_rgb(p))
                ok.append(p)
            except (OSError, ValueError) as e:
                results[p] = (None, e)
        if ok:
            for p, nbest in zip(ok, self.beam_search(self.features_batch(rgbs), beam, max_len,
                                                     **decode)):
                results[p] = (" ".join(self.vocab[t] for t in nbest[0]["tokens"]), None)
        return [(p, *results[p]) for p in paths]

    def caption(self, path, beam=3, max_len=20, **decode):
        """One file's caption; raises OSError or ValueError if it cannot be read."""
        (_, text, error), = self.caption_batch([path], beam, max_len, **decode)
        if error is not None:
            raise error
        return text


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("images", nargs="+")
    ap.add_argument("--model", default=DEFAULT_MODEL)
    ap.add_argument("--beam", type=int, default=3)
    ap.add_argument("--max-len", type=int, default=20)
    ap.add_argument("--length-penalty", type=float, default=DEFAULT_LENGTH_PENALTY)
    ap.add_argument("--no-repeat-ngram", type=int, default=DEFAULT_NO_REPEAT_NGRAM)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--batch", type=int, default=32,
                    help="images per encoder pass and beam search (1: one at a time)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    cap = Captioner(args.model)
    decode = dict(length_penalty=args.length_penalty, no_repeat_ngram=args.no_repeat_ngram)
    status = 0
    single = len(args.images) == 1
    batch = max(args.batch, 1)
    for start in range(0, len(args.images), batch):
        for p, text, e in cap.caption_batch(args.images[start:start + batch], args.beam,
                                            args.max_len, **decode):
            if e is not None:
                print("reference: %s: %s" % (p, e), file=sys.stderr)
                status = 1
                continue
            print(text if single else "%s\t%s" % (p, text), flush=True)
    sys.exit(status)


if __name__ == "__main__":
    main()
