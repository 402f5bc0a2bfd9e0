#!/usr/bin/python3
"""Regenerate tools/data/imagenet_class_words.tsv (the word to force into a caption for each of the
1,000 ImageNet classes, or `excluded` with the reason) from WordNet 3.0 (/usr/share/wordnet) and
the reviewed overrides in tools/data/class_word_overrides.tsv. Deterministic: run it after editing
the overrides or the rule (captioner/class_words.py, whose docstring explains the rule) and commit
the table. --check exits 1 when the committed table differs from what the rule gives.

    tools/make_class_words.py [--check] [--summary]
"""
import argparse
import collections
import os
import sys

from captioner import class_words as cw


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--check", action="store_true", help="compare with the committed table only")
    ap.add_argument("--summary", action="store_true", help="print counts by source")
    ap.add_argument("--out", default=cw.TABLE)
    args = ap.parse_args()
    rows = cw.build_table()
    if args.check:
        tmp = args.out + ".check"
        cw.write_table(rows, tmp)
        with open(tmp, encoding="utf-8") as a, open(args.out, encoding="utf-8") as b:
            same = a.read() == b.read()
        os.remove(tmp)
        print("table up to date" if same else "table differs from the rule: rerun make_class_words.py")
        return 0 if same else 1
    cw.write_table(rows, args.out)
    if args.summary:
        kinds = collections.Counter(r["source"].split(" (")[0] for r in rows)
        for k, n in sorted(kinds.items(), key=lambda kv: -kv[1]):
            print("%4d  %s" % (n, k))
        print("%4d  distinct words" % len({r["word"] for r in rows if r["word"]}))
    print("wrote %s (%d classes, %d excluded)" % (args.out, len(rows),
                                                   sum(1 for r in rows if not r["word"])))
    return 0


if __name__ == "__main__":
    sys.exit(main())
