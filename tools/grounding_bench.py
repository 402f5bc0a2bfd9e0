#!/usr/bin/python3
"""Grounding benchmark (issue 17): does the attention of a caption's word look at the thing the
word names? One command, two measures, for a model file and the C program (its records of
`caption --format jsonl --attention`):

  - Grid pointing game: N 2x2 mosaics (fixed --seed), each of four distinct Flickr8k dev photos
    squashed to 112x112 (a 224x224 mosaic, so the program's own squash leaves it unchanged). A
    caption word is specific to a tile when it is in at least 2 of that photo's 5 references
    and in none of the other three photos' references (stop words aside). Per such word:
    alpha_t's mass on its tile (a grid cell that straddles the middle counts by its area on
    each side: on a 7x7 grid the middle row and column are split half and half; uniform
    attention gives 0.25), and a hit when its tile holds more mass than each of the others.
  - Box grounding on ../shared/data/coco-mini: for a caption word that names a COCO category
    (SYNONYMS, e.g. man/woman/people -> person, bike -> bicycle) present in the photo's boxes:
    alpha_t's mass inside the union of that category's boxes over the boxes' share of the photo
    (the ratio; 1 = uniform attention), and a hit when the most attended cell's centre lies in
    one of the boxes. The grid covers the whole photo squashed to 224x224, so cell (r, c) is the
    rectangle [c, c+1) x W/cols by [r, r+1) x H/rows of the W x H photo.

  /usr/bin/python3 tools/grounding_bench.py [--exe build/caption] [--model M] [--n 400]
      [--seed 17] [--out cache/grounding] [--json FILE] [--jobs N] [CAPTION OPTIONS...]

Any other option goes to the caption program as it is (e.g. --no-tags, --beam 5,
--tag-threshold 0.3), so settings can be compared. Mosaics are PNG files in OUT/mosaics/ (made
once per seed and reused); the records in OUT/runs/SETTING/{mosaics,coco}.jsonl. Wall times are
those of the two caption processes (model load included) and of the whole command.
"""
import json
import os
import random
import re
import subprocess
import sys
import time

import numpy as np

from captioner import evaluate, paths, records
from captioner.mosaic import TILE, band_weights, compose, tile_masses  # noqa: F401 (tests)
from captioner.records import run_caption

MIN_REFS = 2          # a specific word is in at least this many of its photo's references
# Function words: never "specific", whatever the references say.
STOP_WORDS = frozenset("""
a an the and or but of in on at to with without from by for into onto over under above below
near next front behind beside between through across along around up down out off away
its his her their them they he she it this that these those there here who which while as
is are was were be being been has have having do does some""".split())

# COCO category -> caption words naming it (singular and plural). Words with other common
# senses are left out: "orange" (a colour), "glass"/"glasses" (eyeglasses, windows), "light",
# "sign", "computer", "ski" (ski slope), "soccer"/"football" (the sport).
SYNONYMS = {
    "person": """man men woman women person people persons boy boys girl girls child children
        kid kids baby babies toddler toddlers player players lady ladies guy guys gentleman
        adult adults teenager teenagers teen teens skier skiers snowboarder snowboarders surfer
        surfers skateboarder skateboarders biker bikers rider riders cyclist cyclists
        bicyclist bicyclists athlete athletes swimmer swimmers climber climbers dancer dancers
        runner runners worker workers chef chefs tourist tourists crowd family couple""",
    "bicycle": "bike bikes bicycle bicycles", "car": "car cars",
    "motorcycle": "motorcycle motorcycles motorbike motorbikes",
    "airplane": "airplane airplanes plane planes jet jets", "bus": "bus buses",
    "train": "train trains", "truck": "truck trucks", "boat": "boat boats ship ships",
    "bench": "bench benches", "bird": "bird birds", "cat": "cat cats kitten kittens",
    "dog": "dog dogs puppy puppies", "horse": "horse horses pony ponies", "sheep": "sheep",
    "cow": "cow cows cattle", "elephant": "elephant elephants", "bear": "bear bears",
    "zebra": "zebra zebras", "giraffe": "giraffe giraffes",
    "backpack": "backpack backpacks", "umbrella": "umbrella umbrellas",
    "handbag": "handbag handbags purse purses", "tie": "tie ties",
    "suitcase": "suitcase suitcases luggage", "frisbee": "frisbee frisbees", "skis": "skis",
    "snowboard": "snowboard snowboards", "sports ball": "ball balls", "kite": "kite kites",
    "baseball bat": "bat", "baseball glove": "glove", "skateboard": "skateboard skateboards",
    "surfboard": "surfboard surfboards", "tennis racket": "racket rackets racquet racquets",
    "bottle": "bottle bottles", "cup": "cup cups mug mugs", "fork": "fork forks",
    "knife": "knife knives", "spoon": "spoon spoons", "bowl": "bowl bowls",
    "banana": "banana bananas", "apple": "apple apples",
    "sandwich": "sandwich sandwiches", "broccoli": "broccoli", "carrot": "carrot carrots",
    "hot dog": "hotdog hotdogs", "pizza": "pizza pizzas",
    "donut": "donut donuts doughnut doughnuts", "cake": "cake cakes",
    "chair": "chair chairs", "couch": "couch couches sofa sofas",
    "potted plant": "plant plants", "bed": "bed beds", "dining table": "table tables",
    "toilet": "toilet toilets", "tv": "tv tvs television televisions",
    "laptop": "laptop laptops", "mouse": "mouse", "remote": "remote remotes",
    "keyboard": "keyboard keyboards", "cell phone": "phone phones cellphone cellphones",
    "microwave": "microwave microwaves", "oven": "oven ovens", "toaster": "toaster",
    "sink": "sink sinks", "refrigerator": "refrigerator refrigerators fridge fridges",
    "book": "book books", "clock": "clock clocks", "vase": "vase vases",
    "scissors": "scissors", "teddy bear": "teddy teddies", "toothbrush": "toothbrush",
}
WORD_CATEGORY = {w: c for c, words in SYNONYMS.items() for w in words.split()}
# Two-word names: the second word takes the pair's category ("hot dog" is no dog, a "teddy
# bear" no bear), or none when the pair names no category here ("stop sign").
COMPOUNDS = {("hot", "dog"): "hot dog", ("hot", "dogs"): "hot dog",
             ("teddy", "bear"): "teddy bear", ("teddy", "bears"): "teddy bear",
             ("wine", "glass"): "wine glass", ("cell", "phone"): "cell phone",
             ("fire", "hydrant"): "fire hydrant", ("stop", "sign"): "stop sign",
             ("traffic", "light"): "traffic light", ("parking", "meter"): "parking meter"}


# --- the pure parts (tests/test_grounding_bench.py) -----------------------------------------

def reference_words(captions):
    """[set of tokens] per reference caption (captioner.evaluate's tokenisation)."""
    return [set(evaluate.tokenize(c)) for c in captions]


def specific_tile(word, tiles_refs):
    """The tile (index into tiles_refs, one [set of tokens] per photo) that `word` is specific
    to: in at least MIN_REFS of its references and in none of the others'; None if no tile."""
    if word in STOP_WORDS:
        return None
    for k, refs in enumerate(tiles_refs):
        if sum(word in r for r in refs) >= MIN_REFS and not any(
                word in r for j, other in enumerate(tiles_refs) if j != k for r in other):
            return k
    return None


def is_hit(masses, k):
    """Entry k holds more than each other entry."""
    return all(masses[k] > m for j, m in enumerate(masses) if j != k)


def _edges(n, size, box_edges):
    """Sorted unique coordinates: the n + 1 cell edges over [0, size] and the boxes' edges."""
    cells = [size * i / n for i in range(n + 1)]
    return np.unique(np.clip(np.concatenate([cells, box_edges]), 0, size))


def cell_coverage(boxes, width, height, rows, cols):
    """[rows, cols]: the fraction of each grid cell (the width x height photo cut into rows x
    cols equal rectangles) inside the union of boxes ([x, y, w, h] pixels), exactly: the
    plane is cut along every cell and box edge, and each piece is in the union or not."""
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    xs = _edges(cols, width, np.concatenate([b[:, 0], b[:, 0] + b[:, 2]]))
    ys = _edges(rows, height, np.concatenate([b[:, 1], b[:, 1] + b[:, 3]]))
    inside = np.zeros((len(ys) - 1, len(xs) - 1), dtype=bool)
    for x, y, w, h in b:
        inside[np.searchsorted(ys, y):np.searchsorted(ys, y + h),
               np.searchsorted(xs, x):np.searchsorted(xs, x + w)] = True
    area = np.outer(np.diff(ys), np.diff(xs)) * inside
    # Each piece lies in exactly one cell: the one holding its lower corner.
    cell_r = np.minimum((ys[:-1] * rows / height + 1e-9).astype(int), rows - 1)
    cell_c = np.minimum((xs[:-1] * cols / width + 1e-9).astype(int), cols - 1)
    cover = np.zeros((rows, cols))
    np.add.at(cover, (cell_r[:, None], cell_c[None, :]), area)
    return cover / ((width / cols) * (height / rows))


def centre_in_boxes(boxes, cell, width, height, rows, cols):
    """Whether the centre of grid cell `cell` (row-major index) lies in one of the boxes."""
    r, c = divmod(int(cell), cols)
    x, y = (c + 0.5) * width / cols, (r + 0.5) * height / rows
    return any(bx <= x <= bx + bw and by <= y <= by + bh for bx, by, bw, bh in boxes)


def box_score(alpha, boxes, width, height, rows, cols):
    """One word's box grounding: {mass (alpha inside the boxes' union), share (the union's
    share of the photo), ratio (mass / share), hit (argmax cell's centre in a box), chance
    (the share of cell centres in a box: the hit rate of a random cell)}; None when the
    boxes cover nothing."""
    cover = cell_coverage(boxes, width, height, rows, cols)
    share = float(cover.mean())
    if share <= 0:
        return None
    a = np.asarray(alpha, dtype=np.float64)
    mass = float((a * cover.ravel()).sum())
    chance = np.mean([centre_in_boxes(boxes, i, width, height, rows, cols)
                      for i in range(rows * cols)])
    return {"mass": mass, "share": share, "ratio": mass / share,
            "hit": centre_in_boxes(boxes, int(np.argmax(a)), width, height, rows, cols),
            "chance": float(chance)}


def word_categories(words):
    """[COCO category or None] per caption word: SYNONYMS, with COMPOUNDS overriding the
    second word of a two-word name and naming nothing by the first."""
    out = [WORD_CATEGORY.get(w) for w in words]
    for t in range(1, len(words)):
        pair = (words[t - 1], words[t])
        if pair in COMPOUNDS:
            out[t - 1], out[t] = None, COMPOUNDS[pair]
    return out


def pointing_words(rec, tiles_refs):
    """The scored words of one mosaic's record: [{word, t, tile, mass, hit}]."""
    rows, cols = rec["grid"]
    out = []
    for t, word in enumerate(rec["words"]):
        k = specific_tile(word, tiles_refs)
        if k is None:
            continue
        masses = tile_masses(rec["alpha"][t], rows, cols)
        out.append({"word": word, "t": t, "tile": k, "mass": float(masses[k]),
                    "hit": is_hit(masses, k)})
    return out


def box_words(rec, photo):
    """The scored words of one COCO photo's record (photo: its boxes.json entry):
    [{word, t, category, mass, share, ratio, hit, chance}]."""
    rows, cols = rec["grid"]
    by_category = {}
    for inst in photo["instances"]:
        by_category.setdefault(inst["category"], []).append(inst["bbox_xywh"])
    out = []
    for t, (word, cat) in enumerate(zip(rec["words"], word_categories(rec["words"]))):
        if cat not in by_category:
            continue
        s = box_score(rec["alpha"][t], by_category[cat], photo["width"], photo["height"],
                      rows, cols)
        if s is not None:
            out.append(dict(word=word, t=t, category=cat, **s))
    return out


def mean(values):
    values = list(values)
    return float(np.mean(values)) if values else None


def summarize_pointing(scored, n_mosaics):
    return {"mosaics": n_mosaics, "captions_with_words": sum(1 for s in scored if s),
            "words": sum(len(s) for s in scored),
            "mean_mass": mean(w["mass"] for s in scored for w in s),
            "hit_rate": mean(w["hit"] for s in scored for w in s), "uniform_mass": 0.25}


def summarize_boxes(scored, n_photos):
    words = [w for s in scored for w in s]
    cats = {}
    for w in words:
        cats.setdefault(w["category"], []).append(w)
    return {"photos": n_photos, "captions_with_words": sum(1 for s in scored if s),
            "words": len(words), "mean_ratio": mean(w["ratio"] for w in words),
            "mean_mass": mean(w["mass"] for w in words),
            "mean_share": mean(w["share"] for w in words),
            # The mean of the ratios weighs a word on a small box (a far-off person) as much
            # as one on a large box; the ratio of the means weighs them by their share.
            "pooled_ratio": (sum(w["mass"] for w in words) / sum(w["share"] for w in words)
                             if words else None),
            "hit_rate": mean(w["hit"] for w in words),
            "chance_hit_rate": mean(w["chance"] for w in words),
            "by_category": {c: {"words": len(ws), "mean_ratio": mean(w["ratio"] for w in ws),
                                "hit_rate": mean(w["hit"] for w in ws)}
                            for c, ws in sorted(cats.items(), key=lambda kv: -len(kv[1]))}}


def pick_mosaics(dev, n, seed):
    """n lists of four distinct photo names from dev, reproducible from seed."""
    rng = random.Random(seed)
    return [rng.sample(dev, 4) for _ in range(n)]


def check_caption_args(extra):
    """Raise ValueError for caption options the benchmark sets itself (or positionals)."""
    own = ("-o", "--output", "-f", "--format", "--resume", "-m", "--model", "--view",
           "--attention-png", "--step", "--screenshot", "-")
    if extra and not extra[0].startswith("-"):
        raise ValueError("unexpected argument %r" % extra[0])
    for a in extra:
        if a in own or any(a.startswith(o + "=") for o in own if o.startswith("--")):
            raise ValueError("%s is set by the benchmark itself" % a)


def setting_slug(extra):
    """A folder name for a setting: "default", or the caption options made safe."""
    return re.sub(r"[^A-Za-z0-9.=+-]+", "_", " ".join(extra)).strip("_-") or "default"


# --- files and the C program ----------------------------------------------------------------

def make_mosaics(groups, images, folder, seed):
    """Write each group's 2x2 mosaic as folder/s{seed}_{i}.png (unless the file already holds
    that group, per folder/s{seed}.json); -> the paths."""
    from captioner.image import load_rgb  # Pillow: only needed here
    from PIL import Image
    os.makedirs(folder, exist_ok=True)
    manifest_path = os.path.join(folder, "s%d.json" % seed)
    try:
        with open(manifest_path) as f:
            made = json.load(f)
    except (OSError, ValueError):
        made = []
    out = []
    for i, group in enumerate(groups):
        path = os.path.join(folder, "s%d_%04d.png" % (seed, i))
        if not (i < len(made) and made[i] == group and os.path.exists(path)):
            canvas = compose([load_rgb(os.path.join(images, name), size=TILE)
                              for name in group])
            Image.fromarray(canvas).save(path)
        out.append(path)
    with open(manifest_path, "w") as f:
        json.dump(groups, f)
    return out


def check_exe(exe):
    proc = subprocess.run([exe, "--help"], capture_output=True, text=True)
    if proc.returncode != 0 or "--attention " not in proc.stdout:
        raise RuntimeError("%s: no --attention in its --help (a program built before issue 17?)"
                           % exe)


def pointing_game(args, extra, run_dir):
    dev = evaluate.read_image_list(os.path.join(args.flickr, "Flickr_8k.devImages.txt"))
    refs = evaluate.read_references(os.path.join(args.flickr, "Flickr8k.token.txt"))
    groups = pick_mosaics(dev, args.n, args.seed)
    mosaic_paths = make_mosaics(groups, os.path.join(args.flickr, "images"),
                                os.path.join(args.out, "mosaics"), args.seed)
    recs, seconds = run_caption(args.exe, args.model, extra, mosaic_paths,
                                os.path.join(run_dir, "mosaics.jsonl"), args.jobs)
    scored = []
    for path, group in zip(mosaic_paths, groups):
        tiles_refs = [reference_words(refs[name]) for name in group]
        scored.append(pointing_words(recs[os.path.basename(path)], tiles_refs))
    return summarize_pointing(scored, len(groups)), scored, seconds


def box_grounding(args, extra, run_dir):
    with open(os.path.join(args.coco, "boxes.json")) as f:
        boxes = json.load(f)
    names = sorted(boxes)
    recs, seconds = run_caption(args.exe, args.model, extra,
                                [os.path.join(args.coco, "images", n) for n in names],
                                os.path.join(run_dir, "coco.jsonl"), args.jobs)
    scored = [box_words(recs[n], boxes[n]) for n in names]
    return summarize_boxes(scored, len(names)), scored, seconds


def pct(x):
    return "-" if x is None else "%.1f %%" % (100 * x)


def num(x, fmt="%.3f"):
    return "-" if x is None else fmt % x


def main(argv=None):
    ap = records.bench_arguments(__doc__)
    ap.add_argument("--n", type=int, default=400, help="mosaics (default 400)")
    ap.add_argument("--seed", type=int, default=17, help="of the mosaics' photos (default 17)")
    ap.add_argument("--out", default=os.path.join(paths.CACHE, "grounding"),
                    help="mosaics and caption files (default cache/grounding)")
    ap.add_argument("--json", metavar="FILE", help="also write the results (and every scored "
                    "word) as JSON")
    ap.add_argument("--jobs", type=int, help="caption --jobs (default: the program's)")
    data = os.path.join(paths.SHARED, "data")
    ap.add_argument("--coco", default=os.path.join(data, "coco-mini"))
    ap.add_argument("--flickr", default=paths.FLICKR8K)
    args, extra = ap.parse_known_args(argv)
    if args.n < 1:
        ap.error("--n must be at least 1")
    try:
        check_caption_args(extra)
    except ValueError as e:
        ap.error("caption options: %s" % e)

    t0 = time.time()
    run_dir = os.path.join(args.out, "runs", setting_slug(extra))
    try:
        check_exe(args.exe)
        caption_args = ["--attention"] + extra
        pointing, p_scored, p_seconds = pointing_game(args, caption_args, run_dir)
        box, b_scored, b_seconds = box_grounding(args, caption_args, run_dir)
    except (RuntimeError, OSError) as e:
        sys.exit("grounding_bench: %s" % e)
    total = time.time() - t0

    print("%s, model %s, caption options: %s" % (args.exe, args.model, " ".join(extra) or
                                                 "(defaults)"))
    print("pointing game: %d mosaics (seed %d), %d words scored in %d captions: mean mass on "
          "the word's tile %s (uniform 0.25), hit rate %s (chance 25 %%)" % (
              pointing["mosaics"], args.seed, pointing["words"], pointing["captions_with_words"],
              num(pointing["mean_mass"]), pct(pointing["hit_rate"])))
    print("box grounding: %d COCO mini photos, %d words scored in %d captions: mean ratio of "
          "the mass in the boxes to their share %sx (uniform 1; pooled: mass %s over share %s "
          "= %sx), hit rate %s (a random cell: %s)" % (
              box["photos"], box["words"], box["captions_with_words"],
              num(box["mean_ratio"], "%.2f"), num(box["mean_mass"]), num(box["mean_share"]),
              num(box["pooled_ratio"], "%.2f"), pct(box["hit_rate"]),
              pct(box["chance_hit_rate"])))
    print("wall time: captions %.1f s (mosaics) + %.1f s (COCO), whole command %.1f s" % (
        p_seconds, b_seconds, total))
    if args.json:
        doc = {"exe": args.exe, "model": args.model, "caption_options": extra, "n": args.n,
               "seed": args.seed, "pointing": pointing, "boxes": box,
               "seconds": {"mosaics": round(p_seconds, 1), "coco": round(b_seconds, 1),
                           "total": round(total, 1)},
               "pointing_words": p_scored, "box_words": b_scored}
        records.write_json(args.json, doc)
    return 0


if __name__ == "__main__":
    sys.exit(main())
