#!/usr/bin/python3
"""Upgrade a version-1 model file to version 2 (issue 16, docs/file-format.md "Version 2"): add
the ImageNet tagger, the class table and the class words the vocabulary lacks, each new word's
decoder rows copied from its nearest trained word (captioner/open_vocab.py).

  PYTHONPATH=tools /usr/bin/python3 tools/add_open_vocab.py IN OUT [--transfers TSV]

Every other tensor is kept bit for bit. A version-2 input is refused. The (new word, source
word, class) list is written to tools/data/transferred_words.tsv (--transfers, '' for none).
"""
import argparse
import os
import sys

from captioner import model_file, open_vocab
from captioner.paths import TFLITE


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("input")
    ap.add_argument("output")
    ap.add_argument("--tflite", default=TFLITE)
    ap.add_argument("--transfers", default=open_vocab.TRANSFERRED,
                    help="where to write the transferred words (default %(default)s; '' none)")
    args = ap.parse_args()
    config, vocab, tensors = model_file.read_model(args.input)
    if config["version"] != 1:
        sys.exit("add_open_vocab: %s: already format version %d (has a tagger)"
                 % (args.input, config["version"]))
    config, vocab, tensors, classes = open_vocab.upgrade(config, vocab, tensors, args.tflite)
    out_dir = os.path.dirname(os.path.abspath(args.output))
    os.makedirs(out_dir, exist_ok=True)
    model_file.write_model(args.output, config, vocab, tensors)
    transfers = config["transfers"]
    if args.transfers:
        open_vocab.write_transfers(transfers, args.transfers)
    print("wrote %s (%d bytes): format version 2, vocabulary %d -> %d (%d transferred words), "
          "%d classes" % (args.output, os.path.getsize(args.output), config["base_vocab_size"],
                          config["vocab_size"], len(transfers), len(classes)))


if __name__ == "__main__":
    main()
