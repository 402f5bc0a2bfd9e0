"""The C program's caption files, keyed by the photo's file name (the basename of its path):
JSON lines (`caption --format jsonl`: path, caption, ..., and with a tagger model tags and
forced) or PATH<TAB>CAPTION lines (the text format). Standard library only.
"""
import json
import os


def read_records(path):
    """{file name: record dict}; a text line becomes {"path": PATH, "caption": CAPTION}. A failed
    image's jsonl record has "error" and no "caption". A later record for a name replaces an
    earlier one."""
    out = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            if not line:
                continue
            if line.startswith("{"):
                rec = json.loads(line)
            else:
                p, _, c = line.partition("\t")
                rec = {"path": p, "caption": c}
            out[os.path.basename(rec["path"])] = rec
    return out


def read_captions(path):
    """{file name: caption} ("" for a failed image)."""
    return {name: rec.get("caption") or "" for name, rec in read_records(path).items()}


def forced_fraction(records):
    """The fraction of records whose "forced" is not null, or None when no record has the key
    (a program or model without tags)."""
    records = list(records)
    if not records or not any("forced" in r for r in records):
        return None
    return sum(1 for r in records if r.get("forced") is not None) / len(records)


def top_tag(record):
    """"label (word) p=0.93" of a record's most probable tag, or "-" when it has none."""
    tags = record.get("tags") or []
    if not tags:
        return "-"
    t = tags[0]
    word = " (%s)" % t["word"] if t.get("word") else ""
    return "%s%s p=%.2f" % (t.get("label", t.get("class")), word, float(t.get("p", 0.0)))
