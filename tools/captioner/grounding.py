"""Training on 2x2 mosaics with the attention supervised onto the tile that a caption
describes: the pieces shared by the cross-entropy recipe (tools/train.py --mosaics) and the
grounding fine-tune (tools/train_grounding.py).

Why: trained on whole photos only, a word can be predicted from any cell (each cell of the 7x7
map sees most of the photo), so nothing asks the attention to point. In a mosaic of four
distinct photos, only one tile holds what its caption names, and the tile is known by
construction: -log(alpha_t's mass on the tile) is a weak supervision that costs no annotation.
"""
import os
import time

import numpy as np
import torch
import torch.nn.functional as F

from captioner import decoder as dm
from captioner import mobilenet_v2
from captioner.image import load_rgb
from captioner.mosaic import TILE, compose


def tile_pixels(cache, names, data):
    """(N, TILE, TILE, 3) uint8: the train photos squashed to a tile, as the benchmark's
    mosaics squash the dev photos (load_rgb with size TILE); cached in CACHE/tiles_train.npy."""
    path = os.path.join(cache, "tiles_train.npy")
    if os.path.exists(path):
        tiles = np.load(path)
        if len(tiles) == len(names):
            return tiles
    t0 = time.time()
    tiles = np.stack([load_rgb(os.path.join(data, "images", n), size=TILE) for n in names])
    np.save(path + ".tmp.npy", tiles)
    os.replace(path + ".tmp.npy", path)
    print("tiles: %d photos in %.0f s -> %s" % (len(names), time.time() - t0, path), flush=True)
    return tiles


def low_rank_(linear, rank):
    """Replace linear.weight by its best rank-`rank` approximation (the SVD's `rank` largest
    singular values; Eckart-Young) in place, and freeze it. For the initial state's
    weights: h_0 = W_init mean_i(a_i) + b then carries only `rank` numbers about the photo (a
    gist: indoors or out, people or animals), so what the caption names must come through the
    attention; rank 0 is --blind-init. Returns the dropped singular values' share of the
    squared Frobenius norm."""
    with torch.no_grad():
        w = linear.weight
        u, s, vh = torch.linalg.svd(w, full_matrices=False)
        kept = (u[:, :rank] * s[:rank]) @ vh[:rank]
        dropped = float((s[rank:] ** 2).sum() / (s ** 2).sum())
        w.copy_(kept)
    w.requires_grad_(False)
    return dropped


def mosaic_batch(tiles, encoded, n_mosaics, rng):
    """n_mosaics mosaics of 4 distinct random train photos, each tile mirrored with probability
    1/2. Returns the mosaics' pixels (M, 3, 224, 224) preprocessed, and for the 4 M rows
    (mosaic m, tile k at row 4 m + k) their captions (4M, 5, T) and decode lengths (4M, 5)."""
    xs, caps = [], []
    for _ in range(n_mosaics):
        rows = rng.sample(range(len(tiles)), 4)
        mirrored = [rng.random() < 0.5 for _ in rows]
        xs.append(mobilenet_v2.preprocess(compose(
            [tiles[r][:, ::-1] if m else tiles[r] for r, m in zip(rows, mirrored)])))
        caps += [encoded[m][r] for r, m in zip(rows, mirrored)]
    return (torch.cat(xs), *dm.caption_tensors(caps))


@torch.no_grad()
def attended_tiles(decoder, a, cell_w):
    """(M,) the tile of each mosaic that alpha_1, the first step's attention from h_0 of the
    whole mosaic (the test-time start), weighs most. Training on that tile's captions teaches
    the decoder to describe what it looks at: the tile is its own choice, not one it could not
    know (the photo it will describe is not in h_0)."""
    h, _ = decoder.init_state(a)
    alpha, _, _ = decoder.attend(a, decoder.att_feature(a), h)
    return (alpha @ cell_w.T).argmax(1)


def grounding_loss(alphas, mask, tokens, tile_w, end):
    """Mean over the real steps whose target is a word (not <end>) of -log(alpha_t's mass on
    the row's tile). alphas (N, K, steps, L), mask (N, K, steps), tokens (N, K, T), tile_w
    (N, L) the share of each cell in the row's tile."""
    steps = alphas.shape[2]
    targets = tokens[:, :, 1:steps + 1]
    keep = mask & (targets != end)
    mass = (alphas * tile_w[:, None, None, :]).sum(3)
    return -(mass[keep].clamp_min(1e-6).log()).mean(), mass[keep].mean()


def context_word_loss(head, a, alphas, mask, tokens, end):
    """Cross-entropy of each step's target word predicted from that step's context alone:
    head(sum_i alpha_ti a_i), a linear layer (D -> V) trained with it. Only the attended
    region can name the word, so a map that stays on the same blend of cells for "dog" and for
    "grass" cannot score well: the loss asks each word's map to hold that word's evidence
    (the reconstruction idea of Ma et al. 2020, "Learning to Generate Grounded Visual
    Captions without Localization Supervision", with the word as what is rebuilt).
    a (N, L, D), alphas (N, K, steps, L), mask (N, K, steps), tokens (N, K, T); steps whose
    target is <end> do not count. Returns the mean loss over the counted steps."""
    steps = alphas.shape[2]
    targets = tokens[:, :, 1:steps + 1]
    keep = mask & (targets != end)
    context = torch.einsum("nksl,nld->nksd", alphas, a)[keep]          # (S, D)
    return F.cross_entropy(head(context), targets[keep])


@torch.no_grad()
def cell_word_logits(decoder, a):
    """(..., L, V): u_w . L_z a_i for every cell i and word w, the word's logit from cell i's
    feature alone through the deep output's context half (Xu et al. 2015, eq. 7: L_o L_z z,
    with z = a_i; u_w = L_o's row for w; the bias, the same for every cell, left out).
    a (..., L, D)."""
    return (a @ decoder.out_context.weight.T) @ decoder.out_logits.weight.T


@torch.no_grad()
def evidence_maps(decoder, a, tokens, steps):
    """(N, K, steps, L): for each step's target word w, softmax over the cells of
    cell_word_logits: where the decoder's own output layer finds the word's evidence in the
    feature map. On the grounding benchmark's dev mosaics these maps put 0.53 of their mass on
    the word's tile and point at it for 68 % of the words, against 0.305 and 52 % for the
    shipped file's alpha (tools/grounding_evidence.py; model card, "I"). a (N, L, D), tokens
    (N, K, T)."""
    ctx = a @ decoder.out_context.weight.T                              # (N, L, M)
    u = decoder.out_logits.weight[tokens[:, :, 1:steps + 1]]             # (N, K, steps, M)
    return torch.softmax(torch.einsum("nlm,nksm->nksl", ctx, u), dim=-1)


def evidence_loss(decoder, a, alphas, mask, tokens, exempt):
    """Cross-entropy -sum_i q_ti log alpha_ti of each step's attention against evidence_maps
    q (a self-distillation: look where the output layer finds the next word), mean over the
    real steps whose target is not exempt (exempt: (V,) bool, True for <end> and stop words,
    whose maps say nothing about a place). alphas (N, K, steps, L), mask (N, K, steps), a
    (N, L, D), tokens (N, K, T). Returns the loss and the mean overlap sum_i q_ti alpha_ti
    over those steps (1/L for a flat alpha, up to max_i q_ti)."""
    steps = alphas.shape[2]
    targets = tokens[:, :, 1:steps + 1]
    keep = mask & ~exempt[targets]
    q = evidence_maps(decoder, a.detach(), tokens, steps)
    ce = -(q * alphas.clamp_min(1e-8).log()).sum(-1)
    return ce[keep].mean(), (q * alphas).sum(-1)[keep].mean()
