#!/usr/bin/python3
"""PyTorch reference captioner: loads the shipped model file (not a checkpoint) and captions
images exactly as the C program does (same decoding of files, same 224x224 squash, same beam
search rules as src/beam.c). It is the oracle for the C tests (tools/make_goldens.py).

  /usr/bin/python3 tools/reference.py [--model PATH] [--beam N] [--max-len N] IMAGE...

One image prints its caption; several print PATH<TAB>CAPTION lines, like `caption`.
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


class Captioner:
    def __init__(self, path=DEFAULT_MODEL):
        config, self.vocab, tensors = model_file.read_model(path)
        self.config = config
        self.encoder = mobilenet_v2.MobileNetV2Encoder()
        self.decoder = dm.SoftAttentionDecoder(config["vocab_size"], config["feature_dim"],
                                               config["embed_dim"], config["attention_dim"],
                                               config["hidden_dim"])
        for prefix, module in (("encoder.", self.encoder), ("decoder.", self.decoder)):
            module.load_state_dict({k[len(prefix):]: torch.from_numpy(v.copy())
                                    for k, v in tensors.items() if k.startswith(prefix)})
            module.eval()
        self.never = [config["token_pad"], config["token_start"], config["token_unk"]]

    @torch.no_grad()
    def features(self, rgb224):
        """(224, 224, 3) uint8 -> a (L, D) float32, cell i = row * 7 + col."""
        f = self.encoder(mobilenet_v2.preprocess(rgb224))
        return f.flatten(2).transpose(1, 2)[0]

    def log_probs(self, logits):
        lp = F.log_softmax(logits, dim=-1)
        lp[:, self.never] = float("-inf")
        return lp

    @torch.no_grad()
    def beam_search(self, a, beam=3, max_len=20):
        """Mirror of src/beam.c. Returns the n-best list of dicts (tokens, logprob, finished,
        alphas, betas), finished ones first, each group by decreasing logprob."""
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
            lp = self.log_probs(logits)
            scores = (torch.tensor([x["logprob"] for x in live]).unsqueeze(1) + lp).flatten()
            scores = scores.numpy().astype(np.float32)
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
        done.sort(key=lambda x: -x["logprob"])
        return done + [dict(x, finished=False) for x in live]

    def caption(self, path, beam=3, max_len=20):
        best = self.beam_search(self.features(load_rgb(path)), beam, max_len)[0]
        return " ".join(self.vocab[t] for t in best["tokens"])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("images", nargs="+")
    ap.add_argument("--model", default=DEFAULT_MODEL)
    ap.add_argument("--beam", type=int, default=3)
    ap.add_argument("--max-len", type=int, default=20)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    cap = Captioner(args.model)
    status = 0
    for p in args.images:
        try:
            text = cap.caption(p, args.beam, args.max_len)
        except (OSError, ValueError) as e:
            print("reference: %s: %s" % (p, e), file=sys.stderr)
            status = 1
            continue
        print(text if len(args.images) == 1 else "%s\t%s" % (p, text), flush=True)
    sys.exit(status)


if __name__ == "__main__":
    main()
