"""PyTorch reference captioner: loads the shipped model file (not a checkpoint) and captions
images exactly as the C program does (same decoding of files, same 224x224 squash, same beam
search rules as src/beam.c). It is the oracle for the C tests (tests/fixtures/make_goldens.py).

  /usr/bin/python3 tools/reference.py [--model PATH] [--beam N] [--max-len N]
                                      [--tags N] [--tag-threshold T] [--no-tags] [--show-tags]
                                      [--batch N] [--threads N] IMAGE...

One image prints its caption; several print PATH<TAB>CAPTION lines, like `caption`.
Several images are captioned --batch at a time (default 32): one encoder forward pass over the
batch, then one beam search for the whole batch, every live hypothesis of every image a row of
the same decoder step. --batch 1 captions one image at a time. Images whose tag constrains the
search (below) then get their constrained search one image at a time.

Open vocabulary (a version-2 model file, docs/file-format.md): the tagger (the TFLite
MobileNetV2's ImageNet classifier layers, on the encoder's shared trunk) gives the 1,001 class
probabilities; --tags N (default 5, 0 = --no-tags: no tagger, the plain search) are reported
(--show-tags adds them to the output). A word's probability is the sum over the classes whose
singular word it is; when the best word's is >= --tag-threshold (default 0.5), the caption must
contain it or its plural: when the plain search's best caption already does, it stays the
result; else constrained_search runs (the rules of src/beam.c). The decoder's softmax
is over the V0 = base_vocab_size trained words only; the class words after them are candidates
only while forced. Without a confident tag the captions are those of the plain search.

beam_search is the only beam search of the Python side: the Captioner runs it on a model file's
decoder, training on its own decoder (greedy() is beam 1, for the dev scores after every epoch;
tools/train_scst.py scores the n-best lists).
"""
import argparse
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

from . import decoder as dm
from . import mobilenet_v2
from . import model_file
from .tagger import Tagger
from .image import load_rgb
from .paths import DEFAULT_MODEL

# The C program's defaults (cap_options_default in src/caption.c).
DEFAULT_LENGTH_PENALTY = 0.7
DEFAULT_NO_REPEAT_NGRAM = 2
DEFAULT_MAX_TAGS = 5
DEFAULT_TAG_THRESHOLD = 0.5  # CAP_DEFAULT_TAG_THRESHOLD
MAX_TAGS = 20  # CAP_MAX_TAGS


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


def decoder_step(decoder, a, att_a, emb, h, c, n_vocab=None, extra=None):
    """decoder.step (eval mode) with the output layer's logits for the first n_vocab tokens only
    (None: all) and, when extra (a LongTensor of token ids) is given, theirs too.
    Returns logits (B, n_vocab), extra logits (B, len(extra)) or None, h, c, alpha, beta."""
    alpha, beta, z = decoder.attend(a, att_a, h)
    emb = decoder.embed_dropout(emb)  # identity in eval mode, as in decoder.step
    h, c = decoder.lstm(torch.cat([emb, z], dim=1), (h, c))
    out = decoder.dropout(emb + decoder.out_hidden(h) + decoder.out_context(z))
    w, b = decoder.out_logits.weight, decoder.out_logits.bias
    if n_vocab is None or n_vocab == w.shape[0]:
        logits = F.linear(out, w, b)
    else:
        logits = F.linear(out, w[:n_vocab], b[:n_vocab])
    more = None if extra is None else F.linear(out, w[extra], b[extra])
    return logits, more, h, c, alpha, beta


@torch.no_grad()
def beam_search(decoder, feats, beam=3, max_len=20, length_penalty=DEFAULT_LENGTH_PENALTY,
                no_repeat_ngram=DEFAULT_NO_REPEAT_NGRAM, tokens=dm.SPECIAL_IDS, n_vocab=None):
    """Mirror of src/beam.c for B images at once. decoder: a dm.SoftAttentionDecoder (eval
    mode); feats: (B, L, D) annotation vectors; tokens: the special token ids (a model file's
    config, or dm.SPECIAL_IDS for a training run's vocabulary); n_vocab: the softmax and the
    candidates are the first n_vocab tokens (a version-2 file's base_vocab_size; None: all).

    Every step runs the live hypotheses of all images as the rows of one decoder step; then
    each image keeps its `beam` best extensions, moves those that end with <end> to its
    finished list and stops once it holds `beam` finished ones. Beam 1 is greedy decoding.

    Returns B n-best lists of dicts (tokens, logprob, finished, alphas, betas): finished ones
    first, by decreasing ranking_score, then unfinished ones (cut at max_len steps) by
    decreasing logprob."""
    V, end = n_vocab or decoder.vocab_size, tokens["token_end"]
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
        logits, _, h, c, alpha, beta = decoder_step(decoder, feats[idx], att_a_all[idx],
                                                    decoder.embedding(prev), h, c, V)
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


def constrained_log_probs(logits, extra_logits, forced, V, tokens):
    """The rows of a constrained step: log_softmax over the V0 trained tokens (logits, (n, V0),
    with the never-emitted tokens masked as in the plain search), -inf for every token >= V0
    except the forced ones (`forced`: list of ids, extra_logits (n, len(forced)) their logits),
    whose log-prob is logit - logsumexp(logits over V0). Returns (n, V) numpy float32."""
    n, V0 = logits.shape
    lp = np.full((n, V), -np.inf, dtype=np.float32)
    lp[:, :V0] = dm.masked_log_softmax(logits, tokens).numpy()
    lse = torch.logsumexp(logits, dim=1, keepdim=True)
    # The forced tokens >= V0; one < V0 (a class word the model was trained with) keeps its
    # ordinary log-prob, which is the same number.
    for j, tok in enumerate(forced):
        if tok >= V0:
            lp[:, tok] = (extra_logits[:, j:j + 1] - lse).numpy()[:, 0]
    return lp


@torch.no_grad()
def constrained_search(decoder, feats, forced, beam=3, max_len=20,
                       length_penalty=DEFAULT_LENGTH_PENALTY,
                       no_repeat_ngram=DEFAULT_NO_REPEAT_NGRAM, tokens=dm.SPECIAL_IDS,
                       n_vocab=None):
    """Constrained beam search (Anderson et al. 2017) with one disjunctive constraint: the
    caption holds a token of `forced` (the forced word and its plural). Mirror of src/beam.c
    for one image, feats (1, L, D); n_vocab: V0 (base_vocab_size).

    Two beams: state 0 (no forced token yet) and state 1 (one at least); it starts with one
    state-0 hypothesis. Each step runs the decoder on the live state-0 rows, then the live
    state-1 rows (each in its beam's order); the rows' log-probs are constrained_log_probs,
    then <pad>/<start>/<unk> and the no-repeat n-gram block. A state-0 row's forced tokens are
    state-1 candidates, its other tokens state-0 candidates; a state-1 row's tokens are all
    state-1 candidates. State s keeps its (beam - finished_s) best candidates by score (the
    float32 sum logprob + log-prob), ties to the lower flat index row * V + token over the
    step's rows; an <end> candidate finishes its hypothesis in its state. The search stops when
    state 1 has `beam` finished, after max_len steps, or when no row is live.

    Returns (state 1's n-best list: finished by decreasing ranking_score, then its live ones by
    decreasing logprob; the number of finished ones in it)."""
    V, end = decoder.vocab_size, tokens["token_end"]
    V0 = n_vocab or V
    forced = list(forced)
    fset = set(forced)
    extra = torch.tensor(forced, dtype=torch.long)
    in_f = np.zeros(V, dtype=bool)
    in_f[forced] = True
    att_a = decoder.att_feature(feats)
    h, c = decoder.init_state(feats)
    live = [[dict(tokens=[], logprob=0.0, alphas=[], betas=[])], []]
    done = [[], []]
    prev = torch.tensor([tokens["token_start"]], dtype=torch.long)
    for _ in range(max_len):
        rows = live[0] + live[1]
        n, n0 = len(rows), len(live[0])
        if n == 0:
            break
        idx = torch.zeros(n, dtype=torch.long)
        logits, more, h, c, alpha, beta = decoder_step(decoder, feats[idx], att_a[idx],
                                                       decoder.embedding(prev), h, c, V0, extra)
        lp = constrained_log_probs(logits, more, forced, V, tokens)
        for r, x in enumerate(rows):
            block_repeats(lp[r], x["tokens"], no_repeat_ngram)
        base = np.array([x["logprob"] for x in rows], dtype=np.float32)
        scores = (base[:, None] + lp).astype(np.float32)
        s0 = np.full_like(scores, -np.inf)
        s0[:n0] = np.where(in_f[None, :], -np.inf, scores[:n0])
        s1 = np.full_like(scores, -np.inf)
        s1[:n0] = np.where(in_f[None, :], scores[:n0], -np.inf)
        s1[n0:] = scores[n0:]
        new_live, next_rows, next_tokens = [[], []], [], []
        for state, sc in ((0, s0.ravel()), (1, s1.ravel())):
            for flat in select_best(sc, beam - len(done[state])):
                r, tok = divmod(int(flat), V)
                hyp = rows[r]
                if tok == end:
                    done[state].append(dict(hyp, logprob=float(sc[flat]), finished=True))
                    continue
                new_live[state].append(dict(tokens=hyp["tokens"] + [tok],
                                            logprob=float(sc[flat]),
                                            alphas=hyp["alphas"] + [alpha[r].numpy()],
                                            betas=hyp["betas"] + [float(beta[r])]))
                next_rows.append(r)
                next_tokens.append(tok)
        live = new_live
        if len(done[1]) >= beam:
            live[1] = []
            break
        if next_rows:
            h, c = h[next_rows], c[next_rows]
            prev = torch.tensor(next_tokens, dtype=torch.long)
    done[1].sort(key=lambda x: -ranking_score(x, length_penalty))
    assert all(fset & set(x["tokens"]) for x in done[1] + live[1])
    return done[1] + [dict(x, finished=False) for x in live[1]], len(done[1])


def article_for(word):
    """The indefinite article a word's text needs: "an" before a vowel letter, except words
    starting with uni, use, usu, ute, eu, one, ewe ("a unicorn", "a ewe"); "an" before hour,
    honest, heir, honor; else "a"."""
    w = word.lower()
    if w.startswith(("hour", "honest", "heir", "honor")):
        return "an"
    if w.startswith(("uni", "use", "usu", "ute", "eu", "one", "ewe")):
        return "a"
    return "an" if w[:1] in ("a", "e", "i", "o", "u") else "a"


def fix_articles(token_list, forced, vocab):
    """A token "a" or "an" directly before a token of `forced` becomes the article that
    token's text needs (article_for) when the vocabulary has it. Returns a new list."""
    ids = {w: i for i, w in enumerate(vocab) if w in ("a", "an")}
    out = list(token_list)
    articles = set(ids.values())
    for i in range(1, len(out)):
        if out[i] in forced and out[i - 1] in articles:
            want = article_for(vocab[out[i]])
            if want in ids:
                out[i - 1] = ids[want]
    return out


def word_probs(probs, classes):
    """{singular token: P} with P the float32 sum, in class order, of the probabilities of the
    classes whose singular word it is (the background row and excluded classes have none)."""
    p = {}
    for k, (sing, _, _) in enumerate(classes):
        if sing >= 0:
            p[sing] = np.float32(p.get(sing, np.float32(0)) + np.float32(probs[k]))
    return p


def forced_word(probs, classes, general=None, threshold=None):
    """(w*, P(w*), F): the singular token with the highest word probability (ties: the lower
    token id), its probability, and the constraint set [w*, the plural token of the
    lowest-index class whose singular is w*] (one element when they are equal).
    (-1, 0, []) when no class has a word.
    Back-off (general: the class table's [(general singular, general plural)], threshold
    given): when P(w*) < threshold, the general words compete the same way, a general word g
    having the summed probability of the classes whose word or general word g is (each class
    once), its plural taken from the lowest such class; the best g is returned when
    P(g) >= threshold, else w* as above. Mirror of cap_forced_word (src/tags.c)."""
    p = word_probs(probs, classes)
    if not p:
        return -1, np.float32(0), []
    best = min(p, key=lambda w: (-p[w], w))
    plural = next(pl for sing, pl, _ in classes if sing == best)
    forced = [best] if plural in (best, -1) else [best, plural]
    if threshold is None or not general or p[best] >= np.float32(threshold):
        return best, p[best], forced
    pg, plurals = {}, {}
    for k, ((sing, pl, _), (g, gp)) in enumerate(zip(classes, general)):
        for w, wp in ((sing, pl), (g, gp)):
            if w >= 0:
                pg[w] = np.float32(pg.get(w, np.float32(0)) + np.float32(probs[k]))
                plurals.setdefault(w, wp)
    general_words = {g for g, _ in general if g >= 0}
    pg = {w: v for w, v in pg.items() if w in general_words}
    if not pg:
        return best, p[best], forced
    g = min(pg, key=lambda w: (-pg[w], w))
    if pg[g] < np.float32(threshold):
        return best, p[best], forced
    gp = plurals[g]
    return g, pg[g], [g] if gp in (g, -1) else [g, gp]


def top_tags(probs, classes, vocab, k):
    """The k best classes (row 0 left out), by decreasing prob, ties to the lower class:
    [dict(class_index (0..999), label, word (None when excluded), prob)]."""
    p = np.asarray(probs, dtype=np.float32)[1:]
    order = sorted(range(p.size), key=lambda i: (-p[i], i))[:k]
    return [dict(class_index=i, label=classes[i + 1][2],
                 word=vocab[classes[i + 1][0]] if classes[i + 1][0] >= 0 else None,
                 prob=float(p[i])) for i in order]


class Captioner:
    def __init__(self, path=DEFAULT_MODEL):
        config, self.vocab, tensors = model_file.read_model(path)
        self.config = config
        # Version 2: V0 trained words, then the class words (docs/file-format.md).
        self.base_vocab = config["base_vocab_size"]
        self.classes = config["classes"]
        self.general_words = config.get("general_words")
        head_start = config["tagger_head_start"] or mobilenet_v2.HEAD_START
        # The file's output stride (32, or 16 for a 14x14 grid): same tensors, other geometry.
        self.encoder = mobilenet_v2.MobileNetV2Encoder(output_stride=config["output_stride"],
                                                       head_start=head_start)
        self.decoder = dm.SoftAttentionDecoder(config["vocab_size"], config["feature_dim"],
                                               config["embed_dim"], config["attention_dim"],
                                               config["hidden_dim"])
        for prefix, module in (("encoder.", self.encoder), ("decoder.", self.decoder)):
            module.load_state_dict({k[len(prefix):]: torch.from_numpy(v.copy())
                                    for k, v in tensors.items() if k.startswith(prefix)})
            module.eval()
        # The tagger: its layers from the file's tagger.* tensors, on the encoder's trunk.
        self.tagger = (Tagger.from_model_tensors(tensors, config["tagger_head_start"])
                       if config["tagger_head_start"] else None)

    @torch.no_grad()
    def analyze_batch(self, rgbs, tags=True):
        """list of (224, 224, 3) uint8 -> (features (B, L, D) float32, cell i = row * grid_cols
        + col; the tagger's (B, n_classes) softmax probabilities, or None without a tagger or
        with tags False)."""
        x = torch.cat([mobilenet_v2.preprocess(r) for r in rgbs])
        trunk = self.encoder.trunk(x)
        feats = self.encoder.head(trunk).flatten(2).transpose(1, 2)
        probs = self.tagger.probs(trunk) if tags and self.tagger is not None else None
        return feats, probs

    def features_batch(self, rgbs):
        """list of (224, 224, 3) uint8 -> a (B, L, D) float32, cell i = row * grid_cols + col."""
        return self.analyze_batch(rgbs, tags=False)[0]

    def features(self, rgb224):
        """(224, 224, 3) uint8 -> a (L, D)."""
        return self.features_batch([rgb224])[0]

    def beam_search(self, feats, beam=3, max_len=20, **decode):
        """The plain (unconstrained) beam_search with this file's decoder and special tokens,
        over its V0 trained words. feats: (B, L, D); decode: length_penalty, no_repeat_ngram.
        Returns B n-best lists."""
        return beam_search(self.decoder, feats, beam, max_len, tokens=self.config,
                           n_vocab=self.base_vocab, **decode)

    def search_batch(self, feats, probs, beam=3, max_len=20, max_tags=DEFAULT_MAX_TAGS,
                     tag_threshold=DEFAULT_TAG_THRESHOLD, **decode):
        """What cap_caption_image returns, for B images: feats (B, L, D), probs (B, n_classes)
        or None. Returns B dicts: nbest (the n-best list), tags (top_tags, [] when max_tags is
        0 or the file has no tagger), forced_word (token id, -1 when not constrained),
        forced_prob (float32, 0 when not constrained). The plain search runs for all B images
        at once; a constrained search one image at a time."""
        if not 0 <= max_tags <= MAX_TAGS:
            raise ValueError("max_tags %d outside 0..%d" % (max_tags, MAX_TAGS))
        if not (np.isfinite(tag_threshold) and tag_threshold >= 0):
            raise ValueError("tag threshold %r: must be finite and >= 0" % (tag_threshold,))
        plain = self.beam_search(feats, beam, max_len, **decode)
        out = []
        for i, nbest in enumerate(plain):
            r = dict(nbest=nbest, tags=[], forced_word=-1, forced_prob=0.0)
            if max_tags > 0 and probs is not None and self.classes:
                p = probs[i].numpy().astype(np.float32)
                r["tags"] = top_tags(p, self.classes, self.vocab, max_tags)
                w, pw, forced = forced_word(p, self.classes, self.general_words,
                                            tag_threshold)
                if w >= 0 and pw >= np.float32(tag_threshold):
                    # A constraint only changes a caption that misses the word: when the
                    # plain search's best names it, its n-best list stays the result, less
                    # the captions without the word (src/beam.c).
                    named = any(tok in forced for tok in nbest[0]["tokens"])
                    con = [x for x in nbest if any(tok in forced for tok in x["tokens"])]
                    n_finished = 1
                    if not named:
                        con, n_finished = constrained_search(
                            self.decoder, feats[i:i + 1], forced, beam, max_len,
                            tokens=self.config, n_vocab=self.base_vocab, **decode)
                    if n_finished:
                        r.update(forced_word=w, forced_prob=float(pw), nbest=[
                            dict(x, tokens=fix_articles(x["tokens"], forced, self.vocab))
                            for x in con])
            out.append(r)
        return out

    def results_batch(self, rgbs, beam=3, max_len=20, max_tags=DEFAULT_MAX_TAGS,
                      tag_threshold=DEFAULT_TAG_THRESHOLD, **decode):
        """list of (224, 224, 3) uint8 -> search_batch's dicts."""
        feats, probs = self.analyze_batch(rgbs, tags=max_tags > 0)
        return self.search_batch(feats, probs, beam, max_len, max_tags, tag_threshold, **decode)

    def text(self, tokens):
        return " ".join(self.vocab[t] for t in tokens)

    def caption_results(self, paths, beam=3, max_len=20, **options):
        """Caption several files: list of (path, result dict (search_batch) or None, error or
        None), in order. Files that cannot be read are reported and skipped, the rest run as
        one batch. options: max_tags, tag_threshold, length_penalty, no_repeat_ngram."""
        rgbs, ok, results = [], [], {}
        for p in paths:
            try:
                rgbs.append(load_rgb(p))
                ok.append(p)
            except (OSError, ValueError) as e:
                results[p] = (None, e)
        if ok:
            for p, r in zip(ok, self.results_batch(rgbs, beam, max_len, **options)):
                results[p] = (r, None)
        return [(p, *results[p]) for p in paths]

    def caption_batch(self, paths, beam=3, max_len=20, **options):
        """Caption several files: list of (path, caption or None, error or None), in order
        (caption_results with the best caption's text)."""
        return [(p, None if r is None else self.text(r["nbest"][0]["tokens"]), e)
                for p, r, e in self.caption_results(paths, beam, max_len, **options)]

    def caption(self, path, beam=3, max_len=20, **options):
        """One file's caption; raises OSError or ValueError if it cannot be read."""
        (_, text, error), = self.caption_batch([path], beam, max_len, **options)
        if error is not None:
            raise error
        return text


def format_tags(r, vocab):
    """--show-tags' columns: the tags as class:prob pairs with their words, and the forced word."""
    tags = ",".join("%d:%.4f(%s)" % (t["class_index"], t["prob"], t["word"] or "-")
                    for t in r["tags"])
    forced = ("forced %s %.4f" % (vocab[r["forced_word"]], r["forced_prob"])
              if r["forced_word"] >= 0 else "forced -")
    return "%s\t%s" % (tags or "-", forced)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("images", nargs="+")
    ap.add_argument("--model", default=DEFAULT_MODEL)
    ap.add_argument("--beam", type=int, default=3)
    ap.add_argument("--max-len", type=int, default=20)
    ap.add_argument("--length-penalty", type=float, default=DEFAULT_LENGTH_PENALTY)
    ap.add_argument("--no-repeat-ngram", type=int, default=DEFAULT_NO_REPEAT_NGRAM)
    ap.add_argument("--tags", type=int, default=DEFAULT_MAX_TAGS, metavar="N",
                    help="tags to report, 0..%d (default %%(default)s; 0: no tagger)" % MAX_TAGS)
    ap.add_argument("--tag-threshold", type=float, default=DEFAULT_TAG_THRESHOLD, metavar="T",
                    help="force the best tag word when its probability is >= T "
                         "(default %(default)s; > 1: never)")
    ap.add_argument("--no-tags", action="store_true", help="the same as --tags 0")
    ap.add_argument("--show-tags", action="store_true",
                    help="print the tags and the forced word after each caption (tab-separated)")
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--batch", type=int, default=32,
                    help="images per encoder pass and beam search (1: one at a time)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    cap = Captioner(args.model)
    options = dict(length_penalty=args.length_penalty, no_repeat_ngram=args.no_repeat_ngram,
                   max_tags=0 if args.no_tags else args.tags, tag_threshold=args.tag_threshold)
    status = 0
    single = len(args.images) == 1
    batch = max(args.batch, 1)
    for start in range(0, len(args.images), batch):
        for p, r, e in cap.caption_results(args.images[start:start + batch], args.beam,
                                           args.max_len, **options):
            if e is not None:
                print("reference: %s: %s" % (p, e), file=sys.stderr)
                status = 1
                continue
            text = cap.text(r["nbest"][0]["tokens"])
            if args.show_tags:
                text += "\t" + format_tags(r, cap.vocab)
            print(text if single else "%s\t%s" % (p, text), flush=True)
    sys.exit(status)


if __name__ == "__main__":
    main()
