"""The C program's caption files, keyed by the photo's file name (the basename of its path):
JSON lines (`caption --format jsonl`: path, caption, ..., and with a tagger model tags and
forced) or PATH<TAB>CAPTION lines (the text format), and running the program to make them.
Standard library only.
"""
import argparse
import json
import os
import subprocess
import time

from . import paths


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


def write_json(path, doc):
    """A benchmark's results as indented JSON, newline-terminated."""
    with open(path, "w", encoding="utf-8") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")


def run_caption(exe, model, extra, image_paths, out_file, jobs=None, resume=False):
    """Caption image_paths (via stdin) into out_file (jsonl); -> ({file: record}, seconds)."""
    os.makedirs(os.path.dirname(out_file), exist_ok=True)
    cmd = [exe, "--model", model, "--format", "jsonl", "-o", out_file, "--quiet"]
    if jobs:
        cmd += ["--jobs", str(jobs)]
    if resume:
        cmd.append("--resume")
    cmd += extra + ["-"]
    t0 = time.time()
    proc = subprocess.run(cmd, input="".join(p + "\n" for p in image_paths), text=True)
    seconds = time.time() - t0
    recs = read_records(out_file) if os.path.exists(out_file) else {}
    wanted = {os.path.basename(p) for p in image_paths}
    recs = {k: r for k, r in recs.items() if k in wanted}
    bad = sorted(k for k in wanted if k not in recs or "error" in recs[k])
    if proc.returncode != 0 or bad:
        raise RuntimeError("%s: exit status %d; %d of %d photos without a caption%s" % (
            " ".join(cmd), proc.returncode, len(bad), len(wanted),
            " (e.g. %s: %s)" % (bad[0], recs.get(bad[0], {}).get("error", "no record"))
            if bad else ""))
    return recs, seconds


def bench_arguments(doc):
    """The argument parser the benchmarks (tools/open_vocab_bench.py, tools/grounding_bench.py)
    start from: their docstring as help, and --exe and --model (the C program and its model)."""
    ap = argparse.ArgumentParser(description=doc.split("\n\n")[0],
                                 epilog=doc.split("\n\n", 1)[1],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--exe", default=os.path.join(paths.ROOT, "build", "caption"))
    ap.add_argument("--model", default=paths.DEFAULT_MODEL)
    return ap
