"""Open vocabulary (issue 16): turn a version-1 model into a version-2 one (docs/file-format.md,
"Version 2") by adding

  (a) the tagger: the TFLite MobileNetV2's own ImageNet classifier layers after the shared trunk
      (blocks HEAD_START..16, Conv_1, the 1x1 logits layer), under the names
      tagger.blocks.{13..16}.{expand,depthwise,project}.conv.{weight,bias},
      tagger.conv1.conv.{weight,bias}, tagger.classifier.{weight,bias} (captioner/tagger.py);
  (b) the class table: row 0 "background" (no word), row k = ImageNet class k - 1 with its label
      (imagenet_labels.txt) and the tokens of its word and plural
      (tools/data/imagenet_class_words.tsv; -1 for an excluded class);
  (c) the class words the vocabulary lacks, appended after the V0 trained words (in class
      order, singular then plural, each once; a word of several words, "hot dog", is always one
      token whose text holds the space). Each new token's rows of decoder.embedding.weight,
      decoder.out_logits.weight and decoder.out_logits.bias are copies of its source word's
      rows (Hendricks et al. 2016, DCC, "direct transfer"), where the source is found by
      transfer_source: the first word of the trained vocabulary met walking WordNet up from the
      class (the class synset's lemmas, then its hypernyms breadth first, nearest first; lemmas
      lowercased, underscores as spaces; a single in-vocabulary word, not a special token),
      "owl" <- "bird". A plural form takes the plural of the first word on the same walk whose
      plural is trained ("owls" <- "birds", "elephants" <- "animals" when "elephant" is trained
      but "elephants" is not); with none, the plural is not added (a copy of the singular's
      rows would tie with the singular everywhere: "a unicycles") and the class's plural token
      is its singular's. With no word found on the way up the source
      is FALLBACK_SOURCE ("object"; WordNet's walks all pass "object, physical object", so it
      is a last resort for a class outside the physical-object tree).

Every other tensor is kept bit for bit; the trunk the tagger reads (encoder conv0 and blocks
before HEAD_START) must be the TFLite one, which upgrade() checks.

    config, vocab, tensors, classes = upgrade(config, vocab, tensors)
    model_file.write_model(path, config, vocab, tensors)   # config["classes"] = classes

tools/add_open_vocab.py upgrades a file; tools/export_model.py writes version 2 directly.
"""
import os

import numpy as np

from . import class_words as cw
from . import mobilenet_v2
from . import model_file
from .decoder import SPECIALS
from .paths import ROOT, TFLITE
from .wordnet import load as load_wordnet

TRANSFERRED = os.path.join(ROOT, "tools", "data", "transferred_words.tsv")
FALLBACK_SOURCE = "object"
# The decoder's rows a new word copies from its source word.
WORD_ROWS = ("decoder.embedding.weight", "decoder.out_logits.weight", "decoder.out_logits.bias")


def tagger_tensors(tflite=TFLITE, head_start=mobilenet_v2.HEAD_START):
    """(the tagger's tensors {"tagger.<name>": array}, the TFLite trunk's {"encoder.<name>":
    array}) from the pretrained file, at output stride 32."""
    full = mobilenet_v2.load_from_tflite(tflite, with_classifier=True, output_stride=32,
                                         head_start=head_start)
    quantized = mobilenet_v2.tflite_quantized_weights(tflite)
    tagger, trunk = {}, {}
    for name, t in full.state_dict().items():
        arr = t.detach().numpy().astype(np.float32)
        parts = name.split(".")
        if parts[0] == "blocks" and int(parts[1]) < head_start or parts[0] == "conv0":
            trunk["encoder." + name] = arr
        elif name in quantized:
            # The weights as the TFLite file holds them (uint8, one affine map each): the
            # same values as arr, a quarter of the bytes in the file and in memory.
            q = model_file.Quantized(*quantized[name])
            assert np.array_equal(q.dequantized(), arr), name
            tagger["tagger." + name] = q
        else:
            tagger["tagger." + name] = arr
    return tagger, trunk


def transfer_source(wn, wnid, trained):
    """The first word of `trained` (a set of single words) met walking up WordNet from the
    synset wnid: its lemmas, then its hypernyms nearest first; None when there is none."""
    c = wn.synset(wnid)
    for s in [c] + wn.closure(c):
        for lemma in s.lemmas:
            w = lemma.lower().replace("_", " ")
            if " " not in w and w in trained and w not in SPECIALS:
                return w
    return None


def plural_transfer_source(wn, wnid, trained):
    """The source of a class's plural form: the plural of the first word met walking up
    WordNet from the class (as transfer_source) whose plural is a trained word ("elephants"
    from "animals" when "elephant" is trained but "elephants" is not); None when none is."""
    c = wn.synset(wnid)
    for s in [c] + wn.closure(c):
        for lemma in s.lemmas:
            w = lemma.lower().replace("_", " ")
            if " " in w or w in SPECIALS:
                continue
            pl = cw.plural(w, wn)
            if pl in trained and pl not in SPECIALS:
                return pl
    return None


def read_labels(path=cw.LABELS):
    """The 1,001 labels of the tagger's outputs, row 0 "background"."""
    return ["background"] + cw.read_labels(path)


def general_word(wn, row):
    """The back-off word of a class: the next basic-level word up WordNet after the class's
    own word ("insect" for a dragonfly, "bird" for an owl, "fish" for a goldfish), or None
    (a dog breed's "dog" has none: over-general words are not basic-level words)."""
    c = wn.synset(row["wnid"])
    family = cw._family(wn, c)
    words = [w for w, _ in cw.basic_words_of(wn, c) if not cw.is_ambiguous(wn, w, c, family)]
    if row["word"] not in words:
        return None
    later = words[words.index(row["word"]) + 1:]
    return later[0] if later else None


def class_table_and_words(vocab, rows=None, labels=None, wn=None):
    """The class table [(singular, plural, label)] over the vocabulary extended by the new words,
    the general words [(singular, plural)] of each class (general_word; (-1, -1) for none), the
    extended vocabulary, and the transfers [(new word, source word, imagenet_idx)]."""
    rows = rows if rows is not None else cw.read_table()
    labels = labels if labels is not None else read_labels()
    wn = wn or load_wordnet()
    assert len(labels) == len(rows) + 1 and labels[0] == "background"
    base = len(vocab)
    trained = set(vocab)
    assert FALLBACK_SOURCE in trained, FALLBACK_SOURCE
    ids = {w: i for i, w in enumerate(vocab)}
    vocab = list(vocab)
    transfers = []
    classes = [(-1, -1, labels[0])]
    general = [(-1, -1)]
    for r in rows:
        k = r["imagenet_idx"]
        assert k == len(classes) - 1, k
        if not r["word"]:
            classes.append((-1, -1, labels[k + 1]))
            general.append((-1, -1))
            continue
        forms = [(r["word"], False), (r["plural"], True)]
        g = general_word(wn, r)
        if g:
            forms += [(g, False), (cw.plural(g, wn), True)]
        source = None
        tokens = []
        for form, is_plural in forms:
            if form not in ids:
                if source is None:
                    source = transfer_source(wn, r["wnid"], trained) or FALLBACK_SOURCE
                src = source
                if is_plural:
                    src = plural_transfer_source(wn, r["wnid"], trained)
                    if src is None:
                        # No trained plural to copy: the singular's rows would make the
                        # plural tie with it everywhere ("a unicycles"), so the class has no
                        # plural form (its plural token is the singular's).
                        tokens.append(tokens[-1])
                        continue
                ids[form] = len(vocab)
                vocab.append(form)
                transfers.append((form, src, k))
            tokens.append(ids[form])
        classes.append((tokens[0], tokens[1], labels[k + 1]))
        general.append((tokens[2], tokens[3]) if g else (-1, -1))
    assert len(vocab) - base == len(transfers)
    return classes, general, vocab, transfers


def check_trunk(tensors, trunk):
    """The model's encoder trunk is the TFLite one, bit for bit (the tagger's input)."""
    for name, arr in trunk.items():
        if name not in tensors:
            raise ValueError("the model has no %s" % name)
        if not np.array_equal(np.asarray(tensors[name]), arr):
            raise ValueError("%s differs from the TFLite trunk: the tagger would read another "
                             "trunk than the one it was trained on" % name)


def upgrade(config, vocab, tensors, tflite=TFLITE, head_start=mobilenet_v2.HEAD_START,
            rows=None, labels=None, wn=None):
    """A version-1 model (model_file.read_model's triple) -> (config, vocab, tensors, classes)
    of the version-2 model; config["classes"] is set to classes too, so that
    model_file.write_model(path, config, vocab, tensors) writes it. Returns new objects;
    the arguments are not changed. config["transfers"] lists [(new word, source, class)]."""
    if config.get("classes") is not None or config.get("tagger_head_start"):
        raise ValueError("the model already has a tagger (format version 2)")
    V0 = config["vocab_size"]
    assert len(vocab) == V0
    tagger, trunk = tagger_tensors(tflite, head_start)
    check_trunk(tensors, trunk)
    classes, general, new_vocab, transfers = class_table_and_words(vocab, rows, labels, wn)
    ids = {w: i for i, w in enumerate(vocab)}
    src_ids = np.array([ids[s] for _, s, _ in transfers], dtype=np.int64)
    out = {}
    for name, arr in tensors.items():
        arr = np.asarray(arr, dtype=np.float32)
        if name in WORD_ROWS:
            assert arr.shape[0] == V0, (name, arr.shape)
            arr = np.concatenate([arr, arr[src_ids]], axis=0)
        out[name] = arr
    for name in WORD_ROWS:
        assert out[name].shape[0] == len(new_vocab), name
    for name, arr in tagger.items():
        assert name not in out, name
        out[name] = arr
    cfg = dict(config)
    cfg.update(vocab_size=len(new_vocab), base_vocab_size=V0, tagger_head_start=head_start,
               classes=classes, general_words=general, version=2, transfers=transfers)
    return cfg, new_vocab, out, classes


def write_transfers(transfers, path=TRANSFERRED, labels=None):
    """The reviewable list: new word, source word, ImageNet class index and label."""
    labels = labels if labels is not None else read_labels()
    with open(path, "w", encoding="utf-8", newline="") as f:
        f.write("word\tsource\timagenet_idx\tlabel\n")
        for word, source, k in transfers:
            f.write("%s\t%s\t%d\t%s\n" % (word, source, k, labels[k + 1]))
