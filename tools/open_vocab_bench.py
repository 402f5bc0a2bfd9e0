#!/usr/bin/python3
"""Open-vocabulary benchmark (issue 16): one command, one table, for a model file and the C
program, each setting captioning three photo sets:

  - ../shared/data/imagenet-sample (500 photos, one per even ImageNet class: the dev half; the
    held-out figures use the odd classes): the naming rate, overall and per coarse group (dogs,
    cats, birds, other), judged by captioner/naming.py's judge as tools/open_vocab_report.py does;
  - ../shared/data/coco-mini (80 photos, 5 references each): BLEU-4 and CIDEr-D;
  - the Flickr8k dev split (1,000 photos, Flickr_8k.devImages.txt): BLEU-4 and CIDEr-D
    (captioner/evaluate.py, as tools/compare_dev.py scores them);
  - per set, the fraction of photos where a word was forced (jsonl "forced" not null).

Settings (rows): the C program's defaults (tags on), --no-tags, and with --thresholds T1,T2,...
one row per --tag-threshold T. A program whose --help lacks --no-tags (built before the tags)
runs only its plain setting, and the output says so.

  /usr/bin/python3 tools/open_vocab_bench.py [--exe build/caption] [--model M] [--jobs N]
      [--thresholds 0.3,0.4,0.5] [--examples N] [--json FILE] [--out cache/open_vocab_bench]
      [--skip-flickr] [--limit N] [--resume]

Caption files: OUT/SETTING/DATASET.jsonl. --limit N takes N photos of each set, evenly spaced in
its order (so every group of the ImageNet sample keeps some); the metrics are then those of the
N. Wall times are per setting and set, one caption process each (model load included).
"""
import math
import os
import re
import subprocess
import sys

from captioner import class_words as cw
from captioner import evaluate, naming, paths, records
from captioner.records import run_caption

DATASETS = ("imagenet", "coco", "flickr8k_dev")
TITLES = {"imagenet": "ImageNet sample", "coco": "COCO mini", "flickr8k_dev": "Flickr8k dev"}
COLUMNS = (  # (header, dataset, key) for the table
    ("all", "imagenet", "all"), ("dogs", "imagenet", "dogs"), ("cats", "imagenet", "cats"),
    ("birds", "imagenet", "birds"), ("other", "imagenet", "other"),
    ("COCO B4", "coco", "BLEU-4"), ("COCO CIDEr", "coco", "CIDEr-D"),
    ("dev B4", "flickr8k_dev", "BLEU-4"), ("dev CIDEr", "flickr8k_dev", "CIDEr-D"),
    ("forced IN", "imagenet", "forced"), ("forced COCO", "coco", "forced"),
    ("forced dev", "flickr8k_dev", "forced"),
)


# --- the pure parts (tests/test_open_vocab_bench.py) ----------------------------------------

def parse_help(text):
    """Which tag options a `caption --help` text offers: {"no_tags", "tag_threshold", "tags"}."""
    def has(opt):
        return re.search(r"(?<![\w-])%s(?![\w-])" % re.escape(opt), text) is not None
    return {"no_tags": has("--no-tags"), "tag_threshold": has("--tag-threshold"),
            "tags": has("--tags")}


def parse_thresholds(text):
    """"0.3,0.5" -> [0.3, 0.5] (sorted, duplicates dropped); ValueError unless each is a finite
    number >= 0."""
    out = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        t = float(part)
        if not math.isfinite(t) or t < 0:
            raise ValueError("threshold %r: must be a finite number >= 0" % part)
        out.append(t)
    if not out:
        raise ValueError("no thresholds in %r" % text)
    return sorted(set(out))


def make_settings(support, thresholds=()):
    """[(name, slug, extra caption arguments)], notes: what the program supports decides the
    rows; the first row is the default setting (the --examples source)."""
    notes = []
    if not support["no_tags"]:
        notes.append("the program has no --no-tags (built before the tags): only its plain "
                     "setting is measured")
        rows = [("plain", "plain", [])]
    else:
        rows = [("default (tags)", "tags", []), ("--no-tags", "no-tags", ["--no-tags"])]
    if thresholds:
        if support["tag_threshold"]:
            rows += [("--tag-threshold %g" % t, "t%g" % t, ["--tag-threshold", "%g" % t])
                     for t in thresholds]
        else:
            notes.append("the program has no --tag-threshold: the sweep %s is skipped"
                         % ",".join("%g" % t for t in thresholds))
    return rows, notes


def subset(items, n):
    """n items evenly spaced in items' order (all of them when n is None or >= len)."""
    items = list(items)
    if n is None or n >= len(items):
        return items
    return [items[i * len(items) // n] for i in range(n)]


def naming_result(judge, manifest, recs, source="captions"):
    """The naming measurement of one caption file: {"rates": {group: [named, total, rate]},
    "named": [bool] in manifest order}. recs: {file: record}."""
    caps = naming.in_manifest_order(
        manifest, {k: r.get("caption") or "" for k, r in recs.items()}, source)
    rates, named = naming.judge_captions(judge, manifest, caps)
    return {"rates": {g: [n, t, n / t if t else None] for g, (n, t) in rates.items()},
            "named": named}


def pick_examples(judge, manifest, recs, named, n):
    """{group: up to n failures, evenly spaced over the group's failures in manifest order},
    each {file, names, caption, top_tag, forced}."""
    fails = {g: [] for g in naming.GROUP_NAMES}
    for row, ok in zip(manifest, named):
        if not ok:
            fails[judge.group_of(int(row["imagenet_idx"]))].append(row)
    out = {}
    for g, rows in fails.items():
        out[g] = [{"file": r["file"], "names": r["names"],
                   "caption": recs[r["file"]].get("caption") or "",
                   "top_tag": records.top_tag(recs[r["file"]]),
                   "forced": recs[r["file"]].get("forced")} for r in subset(rows, n)]
    return out


def cell(result, dataset, key):
    """A table cell's text: naming and forced in %, BLEU-4 x 100, CIDEr-D; "-" when absent."""
    d = result.get(dataset)
    if not d:
        return "-"
    if key == "forced":
        v = d.get("forced")
        return "-" if v is None else "%.1f" % (100 * v)
    if key in naming.GROUP_NAMES + ("all",):
        v = d["naming"][key][2]
        return "-" if v is None else "%.1f" % (100 * v)
    v = d.get(key)
    if v is None:
        return "-"
    return "%.2f" % (100 * v) if key.startswith("BLEU") else "%.3f" % v


def format_table(results):
    """results: [{"setting": name, DATASET: {...}}] -> the plain-text table."""
    header = ["setting"] + [h for h, _, _ in COLUMNS]
    rows = [[r["setting"]] + [cell(r, d, k) for _, d, k in COLUMNS] for r in results]
    widths = [max(len(x[i]) for x in [header] + rows) for i in range(len(header))]

    def line(cells):
        return "  ".join(c.ljust(w) if i == 0 else c.rjust(w)
                         for i, (c, w) in enumerate(zip(cells, widths))).rstrip()
    return "\n".join([line(header), line(["-" * w for w in widths])] + [line(r) for r in rows])


def format_examples(examples):
    lines = []
    for g in naming.GROUP_NAMES:
        lines.append("%s (%d shown):" % (g, len(examples.get(g, []))))
        for e in examples.get(g, []):
            lines.append("  %s [%s]\n    caption: %s\n    top tag: %s%s" % (
                e["file"], e["names"], e["caption"], e["top_tag"],
                "" if e["forced"] is None else "; forced: %s" % e["forced"]))
    return "\n".join(lines)


# --- running the C program ------------------------------------------------------------------

def detect_support(exe):
    proc = subprocess.run([exe, "--help"], capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError("%s --help: exit status %d\n%s" % (exe, proc.returncode, proc.stderr))
    return parse_help(proc.stdout + proc.stderr)


def datasets(args):
    """{dataset: (image paths, references or None)}."""
    manifest = subset(cw.read_manifest(os.path.join(args.imagenet, "manifest.tsv")), args.limit)
    out = {"imagenet": ([os.path.join(args.imagenet, "images", r["file"]) for r in manifest],
                        None)}
    coco_refs = evaluate.read_references(os.path.join(args.coco, "captions.token.txt"))
    out["coco"] = ([os.path.join(args.coco, "images", n) for n in subset(sorted(coco_refs),
                                                                         args.limit)], coco_refs)
    if not args.skip_flickr:
        dev = evaluate.read_image_list(os.path.join(args.flickr, "Flickr_8k.devImages.txt"))
        out["flickr8k_dev"] = ([os.path.join(args.flickr, "images", n)
                                for n in subset(dev, args.limit)],
                               evaluate.read_references(os.path.join(args.flickr,
                                                                     "Flickr8k.token.txt")))
    return manifest, out


def measure(args, setting, manifest, sets, judge):
    name, slug, extra = setting
    result = {"setting": name, "args": extra}
    for ds, (image_paths, refs) in sets.items():
        out_file = os.path.join(args.out, slug, ds + ".jsonl")
        recs, seconds = run_caption(args.exe, args.model, extra, image_paths, out_file,
                                    args.jobs, args.resume)
        d = {"images": len(recs), "seconds": round(seconds, 1), "file": out_file,
             "forced": records.forced_fraction(recs.values()),
             "with_tags": sum(1 for r in recs.values() if r.get("tags"))}
        if refs is None:
            nr = naming_result(judge, manifest, recs, out_file)
            d["naming"] = nr["rates"]
            result["_named"], result["_records"] = nr["named"], recs
        else:
            scores = evaluate.evaluate({k: r.get("caption") or "" for k, r in recs.items()}, refs)
            d.update({k: scores[k] for k in ("BLEU-4", "CIDEr-D")})
        result[ds] = d
        print("  %s, %s: %d photos, %.0f s" % (name, TITLES[ds], len(recs), seconds), flush=True)
    return result


def main(argv=None):
    ap = records.bench_arguments(__doc__)
    ap.add_argument("--jobs", type=int, help="caption --jobs (default: the program's, a core each)")
    ap.add_argument("--thresholds", help="also a row per --tag-threshold T, e.g. 0.3,0.4,0.5")
    ap.add_argument("--examples", type=int, default=0, metavar="N",
                    help="print N naming failures per group from the default setting")
    ap.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    ap.add_argument("--out", default=os.path.join(paths.CACHE, "open_vocab_bench"),
                    help="folder for the caption files (default cache/open_vocab_bench)")
    ap.add_argument("--skip-flickr", action="store_true", help="no Flickr8k dev (the slowest)")
    ap.add_argument("--limit", type=int, help="N photos of each set (evenly spaced)")
    ap.add_argument("--resume", action="store_true",
                    help="keep the photos already in OUT's files (same exe and model!), caption "
                         "only the rest (caption --resume); their times then cover the rest only")
    data = os.path.join(paths.SHARED, "data")
    ap.add_argument("--imagenet", default=os.path.join(data, "imagenet-sample"))
    ap.add_argument("--coco", default=os.path.join(data, "coco-mini"))
    ap.add_argument("--flickr", default=paths.FLICKR8K)
    args = ap.parse_args(argv)
    if args.limit is not None and args.limit < 1:
        ap.error("--limit must be at least 1")
    try:
        thresholds = parse_thresholds(args.thresholds) if args.thresholds else []
    except ValueError as e:
        ap.error("--thresholds: %s" % e)

    support = detect_support(args.exe)
    settings, notes = make_settings(support, thresholds)
    manifest, sets = datasets(args)
    judge = naming.Judge()
    print("%s, model %s; %s" % (args.exe, args.model, "; ".join(
        "%s %d photos" % (TITLES[d], len(p)) for d, (p, _) in sets.items())), flush=True)
    results = []
    try:
        for s in settings:
            results.append(measure(args, s, manifest, sets, judge))
    except RuntimeError as e:
        sys.exit("open_vocab_bench: %s" % e)
    if support["no_tags"] and not results[0]["imagenet"]["with_tags"]:
        notes.append("no record of the default setting has tags: the model file has no tagger, "
                     "so every setting is the plain search")

    counts = results[0]["imagenet"]["naming"]
    print("\nnaming: %% of the ImageNet sample's photos whose caption names the object (%s); "
          "B4 = BLEU-4 x 100; forced: %% of photos with a forced word\n" % ", ".join(
              "%s %d" % (g, counts[g][1]) for g in naming.GROUP_NAMES + ("all",)))
    print(format_table(results))
    print("\nwall time (s), one caption process each:")
    for r in results:
        print("  %s: %s" % (r["setting"], ", ".join(
            "%s %.1f" % (TITLES[d], r[d]["seconds"]) for d in DATASETS if d in r)))
    for n in notes:
        print("note: " + n)

    examples = None
    if args.examples > 0:
        r0 = results[0]
        examples = pick_examples(judge, manifest, r0["_records"], r0["_named"], args.examples)
        print("\nnaming failures, setting %s:" % r0["setting"])
        print(format_examples(examples))

    if args.json:
        doc = {"exe": args.exe, "model": args.model, "support": support, "limit": args.limit,
               "notes": notes, "columns": [h for h, _, _ in COLUMNS],
               "results": [{k: v for k, v in r.items() if not k.startswith("_")}
                           for r in results],
               "examples": examples}
        records.write_json(args.json, doc)
    return 0


if __name__ == "__main__":
    sys.exit(main())
