#!/usr/bin/python3
"""Fine-tune a cross-entropy-trained captioner on CIDEr-D with self-critical sequence training.

  /usr/bin/python3 tools/train_scst.py [--init cache/run_xe/best.pt] [--out cache/run_scst] [--epochs 3]
  (the recipe's call is in tools/train_all.sh)

In the shipped recipe (tools/train_all.sh) in one form: one epoch with --sample-from beam
--end-mark --leave-best-out --seed 2 from the mean of the cross-entropy run's last two epochs,
and the exported weights are the mean of this fine-tune and its starting point (a weight-space
ensemble, tools/average_checkpoints.py). For the shipped file the start scores dev CIDEr-D
0.520 with the C program's default decoding, the fine-tune alone 0.538 (captions 10.3 -> 9.2
words) and the mean of the two 0.552; with seed 1 the fine-tune alone fell to 0.503 and the
mean gave 0.536 (models/README.md, Reproducibility).

Used alone, it shortens the captions, and most runs lost on dev (the shipped seed-2 epoch
is the exception, 0.520 -> 0.538): one epoch from an earlier run's epoch 5 (beam-3 captions
9.8 -> 8.1 words, dev BLEU-4 21.2 -> 17.2, CIDEr-D 0.497 -> 0.433); one epoch with --end-mark
(7.6 words, CIDEr-D 0.539 -> 0.432); two epochs with --sample-from beam (8.4 words, 0.524);
tools/check_scst_reward.py shows the reward is right. On photos the cross-entropy run never
saw (--train-rows, with tools/train.py --train-rows on the others) it helps (+0.028 CIDEr-D
on a half split), but holding 1,000 photos out costs the cross-entropy stage more than SCST
on them gives back. See models/README.md, experiments.

Self-critical sequence training (Rennie et al. 2017, arXiv:1612.00563) with the "mean of the
other samples" baseline (Luo 2020, arXiv:2003.09971): for every train image the decoder samples
--samples captions from its own distribution; each caption's reward is its CIDEr-D against the
image's 5 reference captions (document frequencies over the train references, the coco-caption
definition in captioner/evaluate.py); the baseline for a sample is the mean reward of the image's
other samples (or, with --baseline greedy, the reward of the image's greedy caption, as in
Rennie et al.). The loss is -(reward - baseline) * log p(caption), so captions that score better
than the model's typical caption for that image become more likely.

The encoder head from the cross-entropy run is kept frozen here (only the decoder trains); photos
are mirrored with probability 1/2 as in tools/train.py ("left"/"right" swapped in the references).
Sampling uses the decoder's own rules: at most 20 steps, never <pad>, <start> or <unk>.

After every epoch: greedy dev BLEU-4 / CIDEr-D, epoch_N.pt, last.pt (resumed by a rerun); best.pt
is the epoch with the best dev CIDEr-D.
"""
import argparse
import math
import os
import random
import sys
import time

import numpy as np
import torch

import train
from captioner import evaluate
from captioner.decoder import masked_log_softmax
from captioner.paths import CACHE
from captioner.reference import beam_search, greedy

END_MARK = "<end>"  # not a word any tokenised caption can contain
MAX_STEPS = 20  # decoder steps per caption, <end> included: the C decoder's limit


class CiderReward:
    """CIDEr-D of sampled captions against an image's references, with the references' tf-idf
    vectors computed once. df and N are those of the train references (fixed during training).

    With end_mark, every reference and every finished sample get END_MARK appended as one more
    token (as in Luo's self-critical.pytorch, which scores captions with "<eos>"): n-grams that
    end a caption ("on the grass <end>") then earn reward, so a caption cut short before its
    natural ending ("a dog runs on the") scores lower than it does in plain CIDEr-D, whose
    sigma = 6 length penalty barely notices two missing words.

    With leave_best_out, the reference most similar to the sample is left out of the mean: on
    photos whose references the cross-entropy run has learned, a sample that repeats one of
    them word for word earns a self-match no unseen photo can give (tools/check_scst_reward.py
    shows "a boat in the water" scoring 2.87 that way); without its best match the sample is
    scored by its agreement with the other annotators only."""

    def __init__(self, reference_sets, end_mark=False, leave_best_out=False):
        self.end = [END_MARK] if end_mark else []
        self.leave_best_out = leave_best_out
        tokenised = [[evaluate.tokenize(" ".join(r)) + self.end for r in refs]
                     for refs in reference_sets]
        self.df = evaluate.document_frequency(tokenised)
        self.log_n = math.log(float(len(tokenised)))
        self.cache = {}

    def references(self, key, refs):
        if key not in self.cache:
            self.cache[key] = [evaluate.tfidf_vectors(evaluate.tokenize(" ".join(r)) + self.end,
                                                      self.df, self.log_n) for r in refs]
        return self.cache[key]

    def __call__(self, words, key, refs, finished=True):
        """words: the sample's words; finished: whether it ended with <end> (not cut at the
        step limit), which gives it the end mark when the reward uses one."""
        hyp = evaluate.tfidf_vectors(evaluate.tokenize(" ".join(words)) +
                                     (self.end if finished else []), self.df, self.log_n)
        sims = [sum(evaluate.cider_d_similarity(hyp, ref)) for ref in self.references(key, refs)]
        if self.leave_best_out and len(sims) > 1:
            sims.remove(max(sims))
        return sum(sims) / evaluate.MAX_N / len(sims) * 10.0


def sample(decoder, a, samples, max_len=20):
    """Draw `samples` captions per image. a: (N, L, D). Returns tokens (N*S, max_len) with 0
    after <end>, and the summed log-probabilities (N*S,) of each caption's tokens (<end> included)."""
    att_a = decoder.att_feature(a).repeat_interleave(samples, dim=0)
    h, c = (s.repeat_interleave(samples, dim=0) for s in decoder.init_state(a))
    a = a.repeat_interleave(samples, dim=0)
    B = a.shape[0]
    prev = torch.full((B,), 1, dtype=torch.long)  # <start>
    running = torch.ones(B, dtype=torch.bool)
    tokens = torch.zeros(B, max_len, dtype=torch.long)
    logp_sum = a.new_zeros(B)
    for t in range(max_len):
        logits, h, c, _, _ = decoder.step(a, att_a, decoder.embedding(prev), h, c)
        logp = masked_log_softmax(logits)
        with torch.no_grad():
            prev = torch.multinomial(logp.exp(), 1).squeeze(1)
        logp_sum = logp_sum + logp.gather(1, prev.unsqueeze(1)).squeeze(1) * running
        tokens[:, t] = prev * running
        running = running & (prev != 2)
        if not running.any():
            break
    return tokens, logp_sum


def beam_captions(decoder, a, beam, max_len=MAX_STEPS):
    """The `beam` captions of each image's beam search, decoded exactly as the C program decodes
    (src/beam.c through captioner.reference.beam_search: its length penalty and n-gram
    blocking), under no_grad. a: (N, L, D). Returns, per image, a list of up to `beam`
    (tokens without <end>, finished) pairs, best first."""
    return [[(h["tokens"], h["finished"]) for h in nbest[:beam]]
            for nbest in beam_search(decoder, a, beam, max_len)]


def caption_log_probs(decoder, a, captions):
    """Summed log-probabilities (with gradient) of given captions under teacher forcing.
    a: (N, L, D); captions: per image, a list of at most K (tokens, finished) pairs; a finished
    caption's <end> is scored too. Returns (N, K) with 0 where an image has fewer captions."""
    N, K = len(captions), max(len(c) for c in captions)
    T = max(len(t) for c in captions for t, _ in c) + 2
    tokens = torch.zeros(N, K, T, dtype=torch.long)
    lengths = torch.zeros(N, K, dtype=torch.long)
    for i, caps in enumerate(captions):
        for k, (toks, finished) in enumerate(caps):
            ids = [1] + list(toks) + ([2] if finished else [])
            tokens[i, k, :len(ids)] = torch.tensor(ids)
            lengths[i, k] = len(ids) - 1
    logits, targets, _ = decoder(a, tokens, lengths)
    logp = masked_log_softmax(logits).gather(
        1, targets.unsqueeze(1)).squeeze(1)
    owner = torch.repeat_interleave(torch.arange(N * K), lengths.flatten())
    return a.new_zeros(N * K).index_add(0, owner, logp).view(N, K)


def advantages(r, greedy_rewards=None):
    """r: (N, S) rewards of S samples for each of N images. Returns r - baseline, (N, S): the
    baseline is the image's greedy caption's reward (greedy_rewards, (N,); Rennie et al. 2017)
    or, without it, the mean reward of the image's other S - 1 samples (Luo 2020)."""
    if greedy_rewards is not None:
        return r - greedy_rewards.unsqueeze(1)
    return r - (r.sum(1, keepdim=True) - r) / (r.shape[1] - 1)


def words_of(seq, vocab):
    out = []
    for t in seq:
        if t in (0, 2):
            break
        out.append(vocab[t])
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cache", default=CACHE)
    ap.add_argument("--init", default=os.path.join(CACHE, "run_xe", "best.pt"),
                    help="cross-entropy checkpoint (tools/train.py) to start from")
    ap.add_argument("--out", default=os.path.join(CACHE, "run_scst"))
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--batch", type=int, default=32, help="images per step")
    ap.add_argument("--samples", type=int, default=5, help="sampled captions per image")
    ap.add_argument("--sample-from", choices=("model", "beam"), default="model",
                    help="the captions to score: drawn from the decoder's distribution "
                         "(Rennie et al.), or the --samples best of a beam search of that "
                         "width with the C program's decoding rules (Cornia et al. 2020)")
    ap.add_argument("--lr", type=float, default=5e-5)
    ap.add_argument("--baseline", choices=("others", "greedy"), default="others",
                    help="a sample's baseline: the mean reward of the image's other samples "
                         "(Luo 2020), or the reward of the image's greedy caption (Rennie et al. "
                         "2017, the test-time decoding)")
    ap.add_argument("--end-mark", action="store_true",
                    help="score the end of the caption too (an <end> token appended to the "
                         "references and finished samples before CIDEr-D)")
    ap.add_argument("--leave-best-out", action="store_true",
                    help="score a caption against the image's references except the one most "
                         "similar to it (CiderReward)")
    ap.add_argument("--train-rows", default=None, metavar="START:END",
                    help="train on these rows of names_train.json only (Python slice bounds, "
                         "e.g. 5000:6000, the rows the --init run did not see; the reward's "
                         "document frequencies then come from those rows); default all")
    train.add_run_options(ap)
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    torch.set_num_threads(args.threads)
    rng = random.Random(args.seed)
    torch.manual_seed(args.seed)

    init = torch.load(args.init)
    cfg, vocab = init["config"], init["vocab"]
    captions, names, trunk, dev_refs = train.load_cache(args.cache, args.train_rows, args.smoke,
                                                        "train_scst.py")
    train_refs = [captions["train"][n] for n in names["train"]]
    mirrored_refs = [[[train.MIRROR.get(w, w) for w in r] for r in refs] for refs in train_refs]
    reward = CiderReward(train_refs, end_mark=args.end_mark, leave_best_out=args.leave_best_out)

    encoder, decoder = train.models_from_checkpoint(init)
    if encoder.head_start != train.trunk_head_start(args.cache):
        sys.exit("train_scst.py: %s was trained on another trunk cache than %s (head start %d, "
                 "not %d)" % (args.init, args.cache, encoder.head_start,
                              train.trunk_head_start(args.cache)))
    for p in encoder.parameters():
        p.requires_grad_(False)
    opt = torch.optim.Adam(decoder.parameters(), lr=args.lr)
    config = dict(cfg, scst=vars(args))
    order = list(range(len(names["train"])))
    # A last.pt of other options (another seed, reward or --init) is refused, not continued.
    state = (train.resume(args.out, decoder, encoder, opt, rng, order, vars(args),
                          vars(ap.parse_args([])), config_key="scst")
             or dict(epoch=0, best_cider=-1.0, history=[], init_epoch=init["state"]["epoch"]))
    if state["epoch"] == 0:
        scores, _ = train.dev_scores(encoder, decoder, trunk["dev"], names["dev"], dev_refs, vocab)
        print("start: dev greedy BLEU-4 %.4f CIDEr-D %.4f" % (scores["BLEU-4"], scores["CIDEr-D"]),
              flush=True)

    # Dropout stays off: the sampled captions should be the ones the deployed decoder would give.
    decoder.eval()
    S = args.samples
    while state["epoch"] < args.epochs:
        epoch = state["epoch"] + 1
        t0 = time.time()
        rng.shuffle(order)
        nb = 2 if args.smoke else math.ceil(len(order) / args.batch)
        tot_r = 0.0
        for b in range(nb):
            rows = order[b * args.batch:(b + 1) * args.batch]
            mirrored = [rng.random() < 0.5 for _ in rows]
            x = np.stack([trunk["train_flip" if m else "train"][r] for r, m in zip(rows, mirrored)])
            with torch.no_grad():
                a = train.features(encoder, torch.from_numpy(x.astype(np.float32)))

            def image_reward(j, seq):
                """Reward of token list `seq` (with or without <end> and padding) for image j of
                the batch, against its references (mirrored if the photo is). A caption with
                fewer than MAX_STEPS words emitted <end>; one with MAX_STEPS was cut."""
                words = words_of(seq, vocab)
                return reward(words, (rows[j], mirrored[j]),
                              (mirrored_refs if mirrored[j] else train_refs)[rows[j]],
                              finished=len(words) < MAX_STEPS)

            if args.sample_from == "beam":
                caps = beam_captions(decoder, a, S)
                if min(len(c) for c in caps) < S:
                    raise RuntimeError("a beam search returned fewer than %d captions" % S)
                logp = caption_log_probs(decoder, a, caps).flatten()
                r = torch.tensor([[image_reward(j, t) for t, _ in c]
                                  for j, c in enumerate(caps)])
            else:
                tokens, logp = sample(decoder, a, S, max_len=MAX_STEPS)
                r = torch.tensor([image_reward(i // S, tokens[i].tolist())
                                  for i in range(len(rows) * S)]).view(-1, S)
            greedy_r = None
            if args.baseline == "greedy":
                greedy_r = torch.tensor([image_reward(j, seq) for j, seq in
                                         enumerate(greedy(decoder, a, max_len=MAX_STEPS))])
            advantage = advantages(r, greedy_r).flatten()
            loss = -(advantage * logp).mean()
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(decoder.parameters(), 5.0)
            opt.step()
            tot_r += float(r.mean())
            if b % 50 == 0:
                print("scst epoch %d batch %d/%d mean sample CIDEr-D %.3f  %.0f s" % (
                    epoch, b, nb, float(r.mean()), time.time() - t0), flush=True)
        minutes = (time.time() - t0) / 60
        scores, hyps = train.dev_scores(encoder, decoder, trunk["dev"], names["dev"], dev_refs, vocab)
        state["epoch"] = epoch
        state["history"].append(dict(epoch=epoch, train_sample_cider=tot_r / nb,
                                     dev_bleu4_greedy=scores["BLEU-4"],
                                     dev_cider_d_greedy=scores["CIDEr-D"], minutes=minutes))
        print("scst epoch %d: mean sample CIDEr-D %.3f, dev greedy BLEU-4 %.4f CIDEr-D %.4f, "
              "%.1f min; e.g. '%s'" % (epoch, tot_r / nb, scores["BLEU-4"], scores["CIDEr-D"],
                                       minutes, hyps[names["dev"][0]]), flush=True)
        train.save_epoch(args.out, decoder, encoder, opt, rng, order, config, vocab, state,
                         scores["CIDEr-D"])
    print("best dev CIDEr-D (greedy) %.4f" % state["best_cider"])


if __name__ == "__main__":
    main()
