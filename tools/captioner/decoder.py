"""The Show, Attend and Tell soft-attention LSTM decoder (Xu et al. 2015, arXiv:1502.03044).

Equation numbers refer to the paper (v3). One decoder step, given annotation vectors
a (L x D), the previous word y_{t-1} and state (h_{t-1}, c_{t-1}):

  e_ti    = w_e^T tanh(W_a a_i + b_a + W_h h_{t-1} + b_h) + b_e       (4), additive attention f_att
  alpha_t = softmax(e_t)                                               (5)
  beta_t  = sigmoid(w_b^T h_{t-1} + b_b)                               (sec. 4.2.1), gating scalar
  z_t     = beta_t * sum_i alpha_ti a_i                                (6), context vector
  i,f,o,g = W_x [E y_{t-1}; z_t] + b_x + W_hh h_{t-1} + b_hh           (1)-(3), LSTM gates
  c_t = f*c_{t-1} + i*g ;  h_t = o * tanh(c_t)
  logits  = L_o (E y_{t-1} + L_h h_t + L_z z_t) + b_o                  (7), deep output layer

h_0, c_0 = W_init_h mean_i(a_i) + b, W_init_c mean_i(a_i) + b (sec. 3.1.2, one linear layer each).
With blind_init, W_init_h and W_init_c are zero and never train: h_0, c_0 are learned constants
that do not see the photo, so every word's evidence must come through the attention (a decoder
whose h_0 holds the whole photo's mean takes its words from there and its maps stay flat; the
model card's "Grounding" section measures it). The file format and the C decoder are unchanged.
The C decoder (src/decoder.c) mirrors this step; parameter names are the model file's names.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F

PAD, START, END, UNK = "<pad>", "<start>", "<end>", "<unk>"
SPECIALS = [PAD, START, END, UNK]  # token ids 0..3 in every vocabulary
# The same ids as the model file's header fields, for code that has a decoder but no file.
SPECIAL_IDS = dict(token_pad=0, token_start=1, token_end=2, token_unk=3)
# Decoding never emits <pad>, <start> or <unk> (the rule of src/beam.c).
NEVER_EMITTED = ("token_pad", "token_start", "token_unk")


def masked_log_softmax(logits, tokens=SPECIAL_IDS):
    """log_softmax over the vocabulary, -inf for the NEVER_EMITTED ids in `tokens` (a dict
    like SPECIAL_IDS, or a model file's config). The mask is added, not written into the
    result, so that gradients flow through it (self-critical training)."""
    mask = torch.zeros(logits.shape[-1])
    mask[[tokens[k] for k in NEVER_EMITTED]] = float("-inf")
    return F.log_softmax(logits, dim=-1) + mask


def caption_tensors(caps):
    """The teacher-forcing input of SoftAttentionDecoder.forward: [K id lists] per image -> captions (N, K, T) = <start> w_1 .. w_n <end> <pad>.. and decode
    lengths (N, K) (n + 1; 0 where an image has fewer than K captions)."""
    K = max(len(c) for c in caps)
    T = max(len(ids) for c in caps for ids in c)
    tokens = torch.zeros(len(caps), K, T, dtype=torch.long)
    lengths = torch.zeros(len(caps), K, dtype=torch.long)
    for i, c in enumerate(caps):
        for k, ids in enumerate(c):
            tokens[i, k, :len(ids)] = torch.tensor(ids)
            lengths[i, k] = len(ids) - 1
    return tokens, lengths


class SoftAttentionDecoder(nn.Module):
    def __init__(self, vocab_size, feature_dim=1280, embed_dim=256, attention_dim=256,
                 hidden_dim=256, dropout=0.5, embed_dropout=0.0, blind_init=False,
                 word_query=False):
        super().__init__()
        self.blind_init = blind_init
        self.vocab_size, self.feature_dim = vocab_size, feature_dim
        self.embed_dim, self.attention_dim, self.hidden_dim = embed_dim, attention_dim, hidden_dim
        self.embedding = nn.Embedding(vocab_size, embed_dim)       # E
        self.att_feature = nn.Linear(feature_dim, attention_dim)   # W_a, b_a
        self.att_hidden = nn.Linear(hidden_dim, attention_dim)     # W_h, b_h
        self.att_score = nn.Linear(attention_dim, 1)               # w_e, b_e
        self.beta_gate = nn.Linear(hidden_dim, 1)                  # w_b, b_b
        self.init_h = nn.Linear(feature_dim, hidden_dim)
        self.init_c = nn.Linear(feature_dim, hidden_dim)
        if blind_init:
            for m in (self.init_h, self.init_c):
                nn.init.zeros_(m.weight)
                m.weight.requires_grad_(False)
        self.lstm = nn.LSTMCell(embed_dim + feature_dim, hidden_dim)  # gate order i, f, g, o
        self.out_hidden = nn.Linear(hidden_dim, embed_dim, bias=False)    # L_h
        self.out_context = nn.Linear(feature_dim, embed_dim, bias=False)  # L_z
        self.out_logits = nn.Linear(embed_dim, vocab_size)               # L_o, b_o
        # Experimental (model card, "J"): a second, bilinear attention score
        # (W_q h)^T (L_z a_i): what the state is about to say against what each cell would
        # say through the deep output's context half. Zero at the start, so a decoder
        # fine-tuned with it begins as the one it was loaded from. Not in the file format.
        self.att_query = None
        if word_query:
            self.add_word_query()
        self.dropout = nn.Dropout(dropout)
        # On the word embedding E y_{t-1} (LSTM input and deep output), as Luo's
        # self-critical.pytorch does; training only, so inference and the C decoder ignore it.
        self.embed_dropout = nn.Dropout(embed_dropout)

    def add_word_query(self):
        """Give the decoder the word-query score, W_q [M x H] at zero (see __init__)."""
        self.att_query = nn.Linear(self.hidden_dim, self.embed_dim, bias=False)   # W_q
        nn.init.zeros_(self.att_query.weight)

    def init_state(self, a, weights=None):
        """a: (B, L, D) -> h0, c0: (B, H), from the mean annotation vector; with weights
        (B, L), the weighted mean over the cells instead (the grounding fine-tune describes one
        tile of a mosaic and starts from that tile's mean)."""
        if weights is None:
            mean = a.mean(dim=1)
        else:
            mean = (weights.unsqueeze(2) * a).sum(1) / weights.sum(1, keepdim=True)
        return self.init_h(mean), self.init_c(mean)

    def query_scores(self, a, h):
        """(B, L) the word-query scores (W_q h)^T (L_z a_i), or 0 without att_query."""
        if self.att_query is None:
            return 0.0
        return torch.bmm(self.out_context(a), self.att_query(h).unsqueeze(2)).squeeze(2)

    def attend(self, a, att_a, h):
        """Returns alpha (B, L), beta (B, 1), z (B, D). att_a = W_a a + b_a, precomputed."""
        e = self.att_score(torch.tanh(att_a + self.att_hidden(h).unsqueeze(1))).squeeze(2)
        e = e + self.query_scores(a, h)
        alpha = F.softmax(e, dim=1)
        beta = torch.sigmoid(self.beta_gate(h))
        z = beta * torch.bmm(alpha.unsqueeze(1), a).squeeze(1)
        return alpha, beta, z

    def step(self, a, att_a, emb, h, c):
        """One decoder step; emb = E y_{t-1} (B, embed). Returns logits, h, c, alpha, beta."""
        alpha, beta, z = self.attend(a, att_a, h)
        emb = self.embed_dropout(emb)
        h, c = self.lstm(torch.cat([emb, z], dim=1), (h, c))
        logits = self.out_logits(self.dropout(emb + self.out_hidden(h) + self.out_context(z)))
        return logits, h, c, alpha, beta

    def forward(self, a, captions, lengths, init_weights=None, return_alphas=False):
        """Teacher forcing, K captions per image in lockstep. a: (N, L, D) annotation vectors of
        N images; captions: (N, K, T) = <start> w_1 .. w_n <end> <pad>..; lengths: (N, K) decode
        steps per caption (n + 1; 0 for a missing caption).

        Returns logits (S, V) for the S = sum(lengths) real steps (in mask order), the matching
        targets (S,) and the attention totals sum_t alpha_t (N, K, L) over each caption's real
        steps, for the doubly stochastic penalty (eq. 14). With return_alphas, also every
        step's alpha (N, K, steps, L) and the real-step mask (N, K, steps): alpha_t is the
        attention that produced target word t. init_weights (N, L): see init_state.

        Why lockstep: W_a a, the initial state and the context bmm then run per image with no
        gather, and no step slices a shrinking batch -- on CPU, autograd's backward of such slices
        (zero-filled full-size gradients every step) cost more than the model itself."""
        N, K, T = captions.shape
        att_a = self.att_feature(a)                            # (N, L, A)
        h, c = (s.repeat_interleave(K, dim=0)
                for s in self.init_state(a, init_weights))             # (N*K, H)
        emb = self.embed_dropout(self.embedding(captions)).flatten(0, 1)  # (N*K, T, E)
        hs, zs, alphas = [], [], []
        ctx_a = self.out_context(a) if self.att_query is not None else None   # (N, L, M)
        for t in range(int(lengths.max())):
            e = self.att_score(torch.tanh(att_a.unsqueeze(1)
                                          + self.att_hidden(h).view(N, K, 1, -1))).squeeze(3)
            if ctx_a is not None:
                e = e + torch.einsum("nlm,nkm->nkl", ctx_a, self.att_query(h).view(N, K, -1))
            alpha = F.softmax(e, dim=2)                        # (N, K, L)
            beta = torch.sigmoid(self.beta_gate(h))            # (N*K, 1)
            z = beta * torch.bmm(alpha, a).flatten(0, 1)       # (N*K, D)
            h, c = self.lstm(torch.cat([emb[:, t], z], dim=1), (h, c))
            hs.append(h), zs.append(z), alphas.append(alpha)
        steps = len(hs)
        mask = torch.arange(steps).view(1, 1, steps) < lengths.unsqueeze(2)   # (N, K, steps)
        alphas = torch.stack(alphas, 2)                        # (N, K, steps, L)
        alpha_sum = (alphas * mask.unsqueeze(3)).sum(2)
        m = mask.flatten(0, 1)                                 # (N*K, steps)
        out = emb[:, :steps][m] + self.out_hidden(torch.stack(hs, 1)[m]) \
            + self.out_context(torch.stack(zs, 1)[m])
        targets = captions.flatten(0, 1)[:, 1:steps + 1][m]
        logits = self.out_logits(self.dropout(out))
        if return_alphas:
            return logits, targets, alpha_sum, alphas, mask
        return logits, targets, alpha_sum


def from_train_config(cfg, vocab_size):
    """The decoder that a tools/train.py run builds, from its arguments as stored in a
    checkpoint's "config": sizes --dim, attention MLP --attention-dim (None: --dim), --dropout,
    --embed-dropout (0 for runs from before the option), --blind-init (False before it)."""
    return SoftAttentionDecoder(vocab_size, embed_dim=cfg["dim"],
                                attention_dim=cfg.get("attention_dim") or cfg["dim"],
                                hidden_dim=cfg["dim"], dropout=cfg["dropout"],
                                embed_dropout=cfg.get("embed_dropout", 0.0),
                                blind_init=cfg.get("blind_init", False),
                                word_query=cfg.get("grounding", {}).get("word_query", False))
