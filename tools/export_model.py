#!/usr/bin/python3
"""Export a trained decoder checkpoint plus the MobileNetV2 encoder into one model file.

  /usr/bin/python3 tools/export_model.py [--checkpoint cache/model.pt] [--out models/caption-flickr8k.bin]

Tensor names are the PyTorch state_dict names prefixed with "encoder." / "decoder."; the
format is in captioner/model_file.py and models/README.md. src/model.c binds them by name.
The encoder's output stride comes from the checkpoint's config ("output_stride", 32 when
absent: tools/train.py --output-stride); the grid is 224 / stride cells a side (7 or 14).

The file is format version 2 (docs/file-format.md): the export is upgraded at once by
captioner/open_vocab.py, as tools/add_open_vocab.py does for a file (the ImageNet tagger, the
class table, the class words with their rows transferred from trained words; the list is written
to tools/data/transferred_words.tsv). --no-tagger writes the plain version-1 file.
"""
import argparse
import os

import torch

from captioner import decoder as dm
from captioner import mobilenet_v2, model_file, open_vocab
from captioner.paths import CACHE, DEFAULT_MODEL, TFLITE


def export(encoder, decoder, vocab, path, tagger=True, tflite=TFLITE,
           transfers=open_vocab.TRANSFERRED):
    """Write the model file: version 2 with the tagger (open_vocab.upgrade), or version 1 when
    tagger is False. transfers: where to list the transferred words (None: nowhere)."""
    tensors = {}
    for prefix, module in (("encoder.", encoder), ("decoder.", decoder)):
        for name, t in module.state_dict().items():
            tensors[prefix + name] = t.detach().float().numpy()
    side = mobilenet_v2.INPUT_SIZE // encoder.output_stride
    config = dict(vocab_size=len(vocab), feature_dim=mobilenet_v2.FEATURE_DIM, grid_rows=side,
                  grid_cols=side, input_size=mobilenet_v2.INPUT_SIZE, embed_dim=decoder.embed_dim,
                  attention_dim=decoder.attention_dim, hidden_dim=decoder.hidden_dim,
                  output_stride=encoder.output_stride,
                  **{"token_" + w.strip("<>"): vocab.index(w) for w in dm.SPECIALS})
    if tagger:
        config, vocab, tensors, _ = open_vocab.upgrade(config, vocab, tensors, tflite)
        if transfers:
            open_vocab.write_transfers(config["transfers"], transfers)
    model_file.write_model(path, config, vocab, tensors)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint", default=os.path.join(CACHE, "model.pt"),
                    help="the checkpoint tools/train_all.sh exports (default cache/model.pt)")
    ap.add_argument("--tflite", default=TFLITE)
    ap.add_argument("--out", default=DEFAULT_MODEL)
    ap.add_argument("--no-tagger", action="store_true",
                    help="write format version 1: no tagger, no class words")
    args = ap.parse_args()
    ck = torch.load(args.checkpoint)
    cfg = ck["config"]
    decoder = dm.from_train_config(cfg, cfg["vocab_size"])
    decoder.load_state_dict(ck["model"])
    if decoder.att_query is not None:
        raise SystemExit("export_model.py: %s has the experimental word-query attention "
                         "(train_grounding.py --word-query), which the model file and the C "
                         "program do not have; score it with tools/grounding_torch.py"
                         % args.checkpoint)
    encoder = mobilenet_v2.load_from_tflite(args.tflite, output_stride=cfg.get("output_stride", 32))
    if "encoder" in ck:  # the fine-tuned head (tools/train.py); the trunk is the TFLite one
        encoder.load_state_dict(ck["encoder"])
    export(encoder, decoder, ck["vocab"], args.out, tagger=not args.no_tagger,
           tflite=args.tflite)
    averaged = ck["state"].get("averaged")
    origin = ("the mean of %s" % ", ".join(map(str, averaged)) if averaged
              else "epoch %d" % ck["state"]["epoch"])
    print("wrote %s (%d bytes, format version %d) from %s: %s" % (
        args.out, os.path.getsize(args.out), 1 if args.no_tagger else 2, args.checkpoint, origin))


if __name__ == "__main__":
    main()
