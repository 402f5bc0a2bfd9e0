"""Class -> words: for each of the 1,000 ImageNet classes, the word a person would use for its
object in a caption (singular and plural), or `excluded` with the reason why the class must never
be forced into a caption. The table is tools/data/imagenet_class_words.tsv, generated
(deterministically) by tools/make_class_words.py from WordNet 3.0 (captioner/wordnet.py) and the
reviewed override table tools/data/class_word_overrides.tsv.

The rule, for a class synset C (WordNet 3.0 noun, the ImageNet wnid):

1. Exclusion by kind. C is excluded when it is (a hyponym of)
   - clothing, footwear, headdress, jewelry, a worn accessory, body armour, a mask, spectacles or
     a watch (EXCLUDE_WORN): on the photos that matter (people) the caption's subject is the
     person, and a tagger that sees "jersey" or "sunglasses" must not turn "a man in a red shirt"
     into "a jersey";
   - a geological formation, a shop, a room, a restaurant or a geographic point (EXCLUDE_SCENE):
     these are the scene, not an object ("a dog on the seashore" is right without "seashore").
2. The basic-level walk. Starting at C itself, then its hypernyms nearest first (breadth first
   over WordNet's hypernym graph), take the first synset with a lemma on the hand-picked
   BASIC_WORDS list ("cat", "dog", "owl", "bird", "bike", "car", "hot dog", ...); a few words
   count only in the sense meant (PINNED: "tank" the army tank, not a water tank). Names a person
   uses for the class itself are on the list too ("lion", "goldfish"), so a tabby is "cat", a
   Labrador retriever "dog", a great grey owl "owl" (not "bird": owl is nearer), a mountain bike
   "bike" (bicycle's lemma "bike" is on the list), a hotdog "hot dog".
   A candidate word is skipped (the walk goes on upwards) when it is *ambiguous for C*
   (is_ambiguous): the word's most frequent sense, as far as WordNet's sense-tagged counts order
   the senses (index.noun's tagsense_cnt; untagged senses carry no frequency order), is another
   kind of concrete thing than C (CONCRETE_KINDS: organism-or-food, artifact, body part, natural
   object; person senses are ignored as figures of speech: "tiger", "whale") and outside C's
   family (C, its hypernyms and hyponyms). "mouse" for the computer mouse is ambiguous (its first
   sense is the animal); "banana" for the fruit is not (plant and fruit are one kind).
3. Own name. With no basic-level word on the way up, C's common-noun lemmas (lowercase, no
   digits) are tried in WordNet's order, each first backed off to its head noun when it is a
   compound whose last word is a lemma of one of C's hypernyms and not too general alone
   (NO_BACKOFF: machine, light, cover, ...): "wooden spoon" -> "spoon", but "sewing machine"
   stays. The first candidate that is not ambiguous for C (as in 2) is the word ("computer mouse",
   not "mouse"); if all are, C is excluded ("ambiguous").
4. The reviewed override table has the last word: a row replaces the rule's word (with a comment
   why: "cock" -> "rooster", "ice lolly" -> "popsicle") or excludes the class with a reason ("bow":
   ambiguous; "library": a scene; "bib", "cloak": worn).

Plurals (of the last word of a compound): the overrides' column, else PLURAL_SAME (fish, sheep,
deer: the plural a caption uses), PLURAL_WORDS (fungi), -man -> -men, WordNet's noun.exc
irregular plural when it is an everyday one (mice, geese, wolves, knives; not its Latin ones like
"camerae"), else English rules (-y after a consonant -> -ies; -s, -x, -z, -ch, -sh -> -es;
-o -> -oes for the few PLURAL_OES; otherwise -s).
"""
import csv
import os

from . import paths
from .wordnet import load as load_wordnet

DATA = os.path.join(paths.ROOT, "tools", "data")
TABLE = os.path.join(DATA, "imagenet_class_words.tsv")
OVERRIDES = os.path.join(DATA, "class_word_overrides.tsv")
# Odd classes whose wnid the label text and the sorted order leave ambiguous (see imagenet_wnids).
WNID_SENSES = os.path.join(DATA, "imagenet_wnid_senses.tsv")
LABELS = os.path.join(paths.SHARED, "pretrained", "mobilenet_v2", "imagenet_labels.txt")
MANIFEST = os.path.join(paths.SHARED, "data", "imagenet-sample", "manifest.tsv")
TABLE_COLUMNS = ("imagenet_idx", "wnid", "word", "plural", "source", "note")

# Kinds never forced into a caption (wnid: name), see the module docstring, rule 1.
EXCLUDE_WORN = {
    "n03051540": "clothing", "n03381126": "footwear", "n03380867": "footwear (covering)",
    "n03502509": "headdress", "n03597469": "jewelry", "n02671780": "worn accessory",
    "n02862048": "body armor", "n03724870": "mask", "n03725035": "mask (protective)",
    "n04272054": "spectacles", "n04555897": "watch",
}
EXCLUDE_SCENE = {
    "n09287968": "geological formation", "n03748162": "shop (mercantile establishment)",
    "n04105893": "room", "n08578706": "geographic point (place)", "n04081281": "restaurant",
}

# Basic-level words (Rosch): the names a person uses, checked against the lemmas of the class and
# its hypernyms. Over-general words (animal, thing, object, food, plant, device, vehicle,
# container, ...) are deliberately absent.
BASIC_WORDS = {w.replace("_", " ") for w in """
dog wolf fox coyote hyena cat lion tiger leopard cheetah jaguar lynx cougar bear panda
monkey ape gorilla chimpanzee orangutan baboon lemur elephant horse zebra pig hog boar
cow bull ox buffalo bison sheep goat antelope gazelle deer camel llama rabbit hare squirrel
mouse rat hamster guinea_pig beaver porcupine skunk otter weasel badger raccoon armadillo sloth
koala kangaroo wallaby whale dolphin seal sea_lion hippopotamus rhinoceros meerkat mongoose
bird owl eagle hawk vulture duck goose swan penguin parrot peacock flamingo pelican heron stork
crane hummingbird chicken rooster turkey ostrich pigeon dove gull toucan
fish goldfish shark ray stingray eel salmon jellyfish starfish
frog toad turtle tortoise lizard iguana chameleon gecko snake crocodile alligator
dinosaur salamander newt
spider scorpion crab lobster snail slug insect beetle butterfly moth bee wasp ant grasshopper
cricket dragonfly fly mosquito cockroach ladybug caterpillar worm
car truck bus bike motorcycle scooter boat ship canoe kayak sailboat train airplane plane
helicopter tractor van taxi ambulance limousine jeep tank wagon cart
rickshaw chair table desk bench couch sofa bed lamp clock piano guitar violin drum
hot_dog pizza hamburger sandwich bread cake ice_cream burrito pretzel bagel mushroom flower
""".split()}

# Basic words that count only in the sense meant (wnid), not for every synset with that lemma:
# "tank" is the army tank, not a water tank; "lamp" the table lamp, not a candle.
PINNED = {
    "tank": {"n04389033"}, "lamp": {"n03636649"}, "table": {"n04379243", "n04379964"},
    "car": {"n02958343"}, "wagon": {"n04543158"}, "plane": {"n02691156"},
    "crane": {"n02012849"}, "fly": {"n02190166"}, "cricket": {"n02229544"},
    "seal": {"n02076196"}, "mouse": {"n02330245"}, "train": {"n04468005"}, "bus": {"n02924116"},
}
# Head nouns too general to stand for the compound ("sewing machine" is not "a machine").
NO_BACKOFF = {"machine", "bar", "light", "kit", "powder", "opener", "dwelling", "theater",
              "blower", "disc", "disk", "cover", "cap", "vehicle", "brace", "filter", "seat",
              "player", "maker", "center", "wheel", "potato", "dish", "shade", "sauce"}

PLURAL_SAME = {"fish", "sheep", "deer", "moose", "bison", "buffalo", "goldfish", "salmon",
               "trout", "cod", "squid", "shrimp", "aircraft", "series", "species", "corn",
               "starfish", "jellyfish", "crayfish", "binoculars", "sunglasses", "bars", "woods", "hay", "broccoli"}
# noun.exc's plurals are used only when they are the everyday English ones (wolves, mice,
# geese, men, feet, teeth); its Latin and Greek plurals (camerae, vacua) are not.
PLURAL_WORDS = {"fungus": "fungi", "cactus": "cacti", "person": "people", "child": "children"}
EVERYDAY_IRREGULAR = ("ves", "men", "mice", "lice", "geese", "feet", "teeth", "oxen", "children")
PLURAL_OES = {"potato", "tomato", "hero", "echo", "torpedo", "volcano", "mosquito", "buffalo"}

# Lexicographer files of concrete things (wndb(5) lexnames): an other sense in one of these is a
# reading the caption's reader could take instead.
# Kinds of concrete thing (lexicographer file -> kind). An animal or plant and its food are one
# kind (lobster, banana: the same object either way); persons are left out (see is_ambiguous).
CONCRETE_KINDS = {5: "organism or food", 13: "organism or food", 20: "organism or food",
                  6: "artifact", 8: "body part", 17: "natural object"}


def read_labels(path=LABELS):
    """imagenet_labels.txt without row 0 (background): 1,000 label strings, ILSVRC order."""
    with open(path, encoding="utf-8") as f:
        lines = f.read().splitlines()
    assert lines[0] == "background" and len(lines) == 1001, path
    return lines[1:]


def read_manifest(path=MANIFEST):
    with open(path, encoding="utf-8") as f:
        return list(csv.DictReader(f, delimiter="\t"))


def label_key(label):
    return tuple(x.strip().lower() for x in label.split(","))


def _tsv_rows(path):
    """Rows of a hand-written TSV: '#' lines are comments, the first other line the header."""
    with open(path, encoding="utf-8") as f:
        lines = [l.rstrip("\n") for l in f if l.strip() and not l.startswith("#")]
    header = lines[0].split("\t")
    return [dict(zip(header, l.split("\t"))) for l in lines[1:]]


def wnid_candidates(wn, labels, known):
    """For each class index: the WordNet synsets whose lemma list is the label's name list (the
    labels file is the ILSVRC synsets' words, comma-joined), kept only when they fit the sorted
    ILSVRC order between the nearest classes of `known` ({index: wnid}) below and above."""
    by_words = {}
    for s in wn.synsets.values():
        by_words.setdefault(tuple(w.lower() for w in s.words), []).append(s.wnid)
    out = {}
    known_idx = sorted(known)
    for i, label in enumerate(labels):
        lo = max((k for k in known_idx if k < i), default=None)
        hi = min((k for k in known_idx if k > i), default=None)
        out[i] = [w for w in sorted(by_words.get(label_key(label), []))
                  if (lo is None or known[lo] < w) and (hi is None or w < known[hi])]
    return out


def imagenet_wnids(wn=None):
    """The 1,000 ILSVRC-2012 wnids in class order. No synset list exists on this machine: the
    even classes' wnids come from the imagenet-sample manifest; each odd class's is the synset
    whose lemmas are its label (wnid_candidates, with its even neighbours as bounds); 19 odd
    labels fit two or more synsets there, and imagenet_wnid_senses.tsv (reviewed by hand, each
    with the gloss that decides) says which."""
    wn = wn or load_wordnet()
    labels = read_labels()
    known = {int(r["imagenet_idx"]): r["wnid"] for r in read_manifest()}
    senses = {int(r["imagenet_idx"]): r["wnid"] for r in _tsv_rows(WNID_SENSES)}
    cands = wnid_candidates(wn, labels, known)
    out = []
    for i in range(len(labels)):
        if i in known:
            out.append(known[i])
        elif i in senses:
            assert senses[i] in cands[i], (i, senses[i], cands[i])
            out.append(senses[i])
        else:
            assert len(cands[i]) == 1, (i, labels[i], cands[i])
            out.append(cands[i][0])
    assert out == sorted(out) and len(set(out)) == 1000
    return out


def plural(word, wn=None, overrides=None):
    """English plural of a (possibly multi-word) noun: the last word is inflected."""
    if overrides and word in overrides:
        return overrides[word]
    head, _, last = word.rpartition(" ")
    prefix = head + " " if head else ""
    if last in PLURAL_SAME:
        return word
    if last in PLURAL_WORDS:
        return prefix + PLURAL_WORDS[last]
    if last.endswith("man") and last not in ("human", "shaman", "caiman"):
        return prefix + last[:-3] + "men"
    wn = wn or load_wordnet()
    irregular = sorted(f for f in wn.exceptions.get(last, [])
                       if f != last and f.endswith(EVERYDAY_IRREGULAR))
    if irregular:
        return prefix + irregular[0]
    if last.endswith("y") and len(last) > 1 and last[-2] not in "aeiou":
        return prefix + last[:-1] + "ies"
    if last.endswith(("s", "x", "z", "ch", "sh")):
        return prefix + last + "es"
    if last in PLURAL_OES:
        return prefix + last + "es"
    return prefix + last + "s"


def _tagged_senses(wn, word):
    """Senses of `word` in WordNet's frequency order that have a sense-tag count (index.noun's
    tagsense_cnt: only these are ordered by frequency; the others' order says nothing), where
    the word is a lowercase lemma (not a proper name)."""
    key = word.replace(" ", "_")
    return [s for s in wn.senses(word)[:wn.tagged.get(key.lower(), 0)] if key in s.lemmas]


def _basic_word_counts(word, s):
    return word in BASIC_WORDS and (word not in PINNED or s.wnid in PINNED[word])


def is_ambiguous(wn, word, c, family=None):
    """A reader would take the word in another sense: its most frequent tagged sense is a
    concrete thing of another kind than C (CONCRETE_KINDS: a computer mouse is an artifact, the
    word's first sense an animal; a banana is one kind whether plant or fruit; person senses
    are left out: "tiger", "whale" or "weasel" as a person is a figure of speech) and not in C's
    family (C, its hypernyms, its hyponyms)."""
    senses = _tagged_senses(wn, word)
    if not senses:
        return False
    first = senses[0]
    if family is None:
        family = _family(wn, c)
    kind = CONCRETE_KINDS.get(first.lex_filenum)
    return (first.offset not in family and kind is not None
            and kind != CONCRETE_KINDS.get(c.lex_filenum))


def _family(wn, c):
    fam = {c.offset} | {h.offset for h in wn.closure(c)}
    stack = list(c.hyponyms)
    while stack:
        o = stack.pop()
        if o not in fam:
            fam.add(o)
            stack.extend(wn.synsets[o].hyponyms)
    return fam


def _lemma_words(s):
    """The synset's lemmas that are common nouns: lowercase, no digits, spaces for underscores."""
    return [w for w in s.words if w == w.lower() and not any(ch.isdigit() for ch in w)]


def basic_words_of(wn, c):
    """Every basic-level word of C and its hypernyms, nearest first (what the naming judge
    accepts from the hierarchy), with the synset each came from."""
    out = []
    for s in [c] + wn.closure(c):
        for w in s.words:
            if _basic_word_counts(w, s) and w not in [x for x, _ in out]:
                out.append((w, s))
    return out


def exclusion(wn, c):
    """(kind reason) when C is under an excluded kind, else None."""
    anc = {c.offset} | {h.offset for h in wn.closure(c)}
    for table, why in ((EXCLUDE_WORN, "worn by people"), (EXCLUDE_SCENE, "scene or place")):
        for wnid, name in table.items():
            if int(wnid[1:]) in anc:
                return "%s: %s" % (why, name)
    return None


def rule_word(wn, c):
    """(word, source) by rules 1-3 of the module docstring; word None when excluded, with the
    reason in source."""
    why = exclusion(wn, c)
    if why:
        return None, "excluded: " + why
    family = _family(wn, c)
    for w, s in basic_words_of(wn, c):
        if not is_ambiguous(wn, w, c, family):
            return w, "wordnet: basic level (%s)" % (s.wnid if s is not c else "own lemma")
    own = _lemma_words(c)
    if not own:
        return None, "excluded: no common-noun lemma"
    ancestors = wn.closure(c)
    for lemma in own:
        candidates = []
        last = lemma.rsplit(" ", 1)[-1]
        if " " in lemma and last not in NO_BACKOFF and any(last in h.words for h in ancestors):
            candidates.append((last, "wordnet: own lemma head noun"))
        candidates.append((lemma, "wordnet: own lemma"))
        for word, source in candidates:
            if not is_ambiguous(wn, word, c, family):
                return word, source
    word = own[0]
    return None, "excluded: ambiguous (%s: most frequent sense %s)" % (
        word, _tagged_senses(wn, word)[0].wnid)


def read_overrides(path=OVERRIDES):
    """{imagenet_idx: row} of the reviewed override table (columns imagenet_idx, wnid, word,
    plural, comment; word `excluded` excludes the class, the comment says why)."""
    return {int(r["imagenet_idx"]): r for r in _tsv_rows(path)}


def build_table(wn=None):
    """The rows of imagenet_class_words.tsv (dicts with TABLE_COLUMNS)."""
    wn = wn or load_wordnet()
    wnids = imagenet_wnids(wn)
    overrides = read_overrides()
    rows = []
    for i, wnid in enumerate(wnids):
        c = wn.synset(wnid)
        word, source = rule_word(wn, c)
        note = ""
        o = overrides.get(i)
        if o is not None:
            assert o["wnid"] == wnid, (i, o["wnid"], wnid)
            rule = word or "-"
            if o["word"] == "excluded":
                word, source = None, "excluded: override"
            else:
                word, source = o["word"], "override"
            note = "%s (rule: %s)" % (o["comment"], rule)
        if word is None:
            rows.append(dict(imagenet_idx=i, wnid=wnid, word="", plural="",
                             source=source, note=note))
        else:
            pl = o["plural"] if o is not None and o.get("plural") else plural(word, wn)
            rows.append(dict(imagenet_idx=i, wnid=wnid, word=word, plural=pl,
                             source=source, note=note))
    return rows


def write_table(rows, path=TABLE):
    with open(path, "w", encoding="utf-8", newline="") as f:
        f.write("\t".join(TABLE_COLUMNS) + "\n")
        for r in rows:
            f.write("\t".join(str(r[k]) for k in TABLE_COLUMNS) + "\n")


def read_table(path=TABLE):
    """The generated table: list of 1,000 dicts (imagenet_idx int; word/plural '' if excluded)."""
    with open(path, encoding="utf-8") as f:
        rows = list(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
    for r in rows:
        r["imagenet_idx"] = int(r["imagenet_idx"])
    return rows
