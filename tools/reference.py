#!/usr/bin/python3
"""PyTorch reference captioner: loads the shipped model file (not a checkpoint) and captions
images exactly as the C program does (same decoding of files, same 224x224 squash, same beam
search rules as src/beam.c). It is the oracle for the C tests (tools/make_goldens.py).

  /usr/bin/python3 tools/reference.py [--model PATH] [--beam N] [--max-len N]
                                      [--batch N] [--threads N] IMAGE...

One image prints its caption; several print PATH<TAB>CAPTION lines, like `caption`.
Several images are captioned --batch at a time (default 32): one encoder forward pass over the
batch, then one beam search for the whole batch, every live hypothesis of every image a row of
the same decoder step (Captioner.caption_batch). --batch 1 runs the one-image path
(Captioner.caption) for each image.
"""
import argparse
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import decoder_model as dm  # noqa: E402
import mobilenet_v2  # noqa: E402
import model_file  # noqa: E402
from prepare_data import load_rgb  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_MODEL = os.path.join(HERE, "..", "models", "caption-flickr8k.bin")
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


def sort_finished(done, length_penalty):
    done.sort(key=lambda x: -ranking_score(x, length_penalty))


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
        self.never = [config["token_pad"], config["token_start"], config["token_unk"]]

    @classmethod
    def for_decoder(cls, decoder):
        """A Captioner around a training decoder (dm.SoftAttentionDecoder, special tokens at
        ids 0..3 as dm.SPECIALS), for its beam search alone: no encoder, no vocabulary."""
        self = cls.__new__(cls)
        self.decoder = decoder
        self.config = dict(vocab_size=decoder.vocab_size, token_pad=0, token_start=1,
                           token_end=2, token_unk=3)
        self.never = [self.config[k] for k in ("token_pad", "token_start", "token_unk")]
        return self

    @torch.no_grad()
    def features(self, rgb224):
        """(224, 224, 3) uint8 -> a (L, D) float32, cell i = row * grid_cols + col."""
        f = self.encoder(mobilenet_v2.preprocess(rgb224))
        return f.flatten(2).transpose(1, 2)[0]

    def log_probs(self, logits):
        lp = F.log_softmax(logits, dim=-1)
        lp[:, self.never] = float("-inf")
        return lp

    @torch.no_grad()
    def beam_search(self, a, beam=3, max_len=20, length_penalty=DEFAULT_LENGTH_PENALTY,
                    no_repeat_ngram=DEFAULT_NO_REPEAT_NGRAM):
        """Mirror of src/beam.c. Returns the n-best list of dicts (tokens, logprob, finished,
        alphas, betas): finished ones first, by decreasing ranking_score, then unfinished ones
        by decreasing logprob."""
        dec, V, end = self.decoder, self.config["vocab_size"], self.config["token_end"]
        a = a.unsqueeze(0)
        att_a = dec.att_feature(a)
        h, c = dec.init_state(a)
        live = [dict(tokens=[], logprob=0.0, alphas=[], betas=[])]
        prev = torch.tensor([self.config["token_start"]])
        done = []
        for _ in range(max_len):
            if not live or len(done) >= beam:
                break
            n = len(live)
            logits, h, c, alpha, beta = dec.step(a.expand(n, -1, -1), att_a.expand(n, -1, -1),
                                                 dec.embedding(prev), h, c)
            lp = self.log_probs(logits).numpy()
            for b, x in enumerate(live):
                block_repeats(lp[b], x["tokens"], no_repeat_ngram)
            scores = (np.array([x["logprob"] for x in live], dtype=np.float32)[:, None]
                      + lp).astype(np.float32).ravel()
            order = np.argsort(-scores, kind="stable")[:beam - len(done)]
            new_live, rows = [], []
            for flat in order:
                if scores[flat] == -np.inf:
                    continue
                b, tok = divmod(int(flat), V)
                hyp = live[b]
                if tok == end:
                    done.append(dict(hyp, logprob=float(scores[flat]), finished=True))
                    continue
                new_live.append(dict(tokens=hyp["tokens"] + [tok], logprob=float(scores[flat]),
                                     alphas=hyp["alphas"] + [alpha[b].numpy()],
                                     betas=hyp["betas"] + [float(beta[b])]))
                rows.append(b)
            live = new_live
            if rows:
                h, c = h[rows], c[rows]
                prev = torch.tensor([x["tokens"][-1] for x in live])
        sort_finished(done, length_penalty)
        return done + [dict(x, finished=False) for x in live]

    @torch.no_grad()
    def features_batch(self, rgbs):
        """list of (224, 224, 3) uint8 -> a (B, L, D)."""
        x = torch.cat([mobilenet_v2.preprocess(r) for r in rgbs])
        return self.encoder(x).flatten(2).transpose(1, 2)

    def _select(self, scores, want):
        """Flat indices of the `want` best finite scores, best first, ties to the lower index:
        exactly np.argsort(-scores, kind="stable")[:want] without -inf, in O(n)."""
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
    def beam_search_batch(self, feats, beam=3, max_len=20, length_penalty=DEFAULT_LENGTH_PENALTY,
                          no_repeat_ngram=DEFAULT_NO_REPEAT_NGRAM):
        """beam_search for B images at once: every step runs the live hypotheses of all images
        as the rows of one decoder step, then each image selects as beam_search does.
        feats (B, L, D). Returns a list of B n-best lists."""
        dec, V, end = self.decoder, self.config["vocab_size"], self.config["token_end"]
        B = feats.shape[0]
        att_a_all = dec.att_feature(feats)
        h, c = dec.init_state(feats)
        live = [[dict(tokens=[], logprob=0.0, alphas=[], betas=[])] for _ in range(B)]
        done = [[] for _ in range(B)]
        img = list(range(B))  # image of each row
        prev = torch.full((B,), self.config["token_start"], dtype=torch.long)
        for _ in range(max_len):
            if not img:
                break
            idx = torch.tensor(img)
            logits, h, c, alpha, beta = dec.step(feats[idx], att_a_all[idx], dec.embedding(prev),
                                                 h, c)
            lp = self.log_probs(logits).numpy()
            rows, tokens, new_img, row0 = [], [], [], 0
            for i in range(B):
                n = len(live[i])
                if n == 0:
                    continue
                for b, x in enumerate(live[i]):
                    block_repeats(lp[row0 + b], x["tokens"], no_repeat_ngram)
                base = np.array([x["logprob"] for x in live[i]], dtype=np.float32)
                scores = (base[:, None] + lp[row0:row0 + n]).astype(np.float32).ravel()
                new_live = []
                for flat in self._select(scores, beam - len(done[i])):
                    b, tok = divmod(int(flat), V)
                    hyp = live[i][b]
                    if tok == end:
                        done[i].append(dict(hyp, logprob=float(scores[flat]), finished=True))
                        continue
                    new_live.append(dict(tokens=hyp["tokens"] + [tok],
                                         logprob=float(scores[flat]),
                                         alphas=hyp["alphas"] + [alpha[row0 + b].numpy()],
                                         betas=hyp["betas"] + [float(beta[row0 + b])]))
                    rows.append(row0 + b)
                    tokens.append(tok)
                    new_img.append(i)
                row0 += n
                live[i] = new_live if len(done[i]) < beam else []
                if len(done[i]) >= beam:  # finished: its unselected rows are dropped too
                    drop = len(new_live)
                    if drop:
                        del rows[-drop:], tokens[-drop:], new_img[-drop:]
            img = new_img
            if rows:
                h, c = h[rows], c[rows]
                prev = torch.tensor(tokens, dtype=torch.long)
        out = []
        for i in range(B):
            sort_finished(done[i], length_penalty)
            out.append(done[i] + [dict(x, finished=False) for x in live[i]])
        return out

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
            for p, nbest in zip(ok, self.beam_search_batch(self.features_batch(rgbs), beam,
                                                            max_len, **decode)):
                results[p] = (" ".join(self.vocab[t] for t in nbest[0]["tokens"]), None)
        return [(p, *results[p]) for p in paths]

    def caption(self, path, beam=3, max_len=20, **decode):
        """decode: length_penalty, no_repeat_ngram (as beam_search)."""
        best = self.beam_search(self.features(load_rgb(path)), beam, max_len, **decode)[0]
        return " ".join(self.vocab[t] for t in best["tokens"])


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
    for start in range(0, len(args.images), max(args.batch, 1)):
        chunk = args.images[start:start + max(args.batch, 1)]
        if len(chunk) == 1:
            try:
                done = [(chunk[0], cap.caption(chunk[0], args.beam, args.max_len, **decode), None)]
            except (OSError, ValueError) as e:
                done = [(chunk[0], None, e)]
        else:
            done = cap.caption_batch(chunk, args.beam, args.max_len, **decode)
        for p, text, e in done:
            if e is not None:
                print("reference: %s: %s" % (p, e), file=sys.stderr)
                status = 1
                continue
            print(text if single else "%s\t%s" % (p, text), flush=True)
    sys.exit(status)


if __name__ == "__main__":
    main()
