"""The naming judge: does a caption name the object of an ImageNet class? Used by the open-vocabulary
benchmark on ../shared/data/imagenet-sample (one photo per even class).

A caption (lowercased, split on whitespace, punctuation stripped, hyphens read as spaces) names
class C when it contains, as a run of whole words, one of C's accepted phrases:
  - the class's table word and plural (tools/data/imagenet_class_words.tsv, even when the class is
    excluded from forcing: exclusion is about forcing a word, not about judging one);
  - the class's own common-noun lemmas and their plurals ("great grey owl", "tabby cat", "tabby");
  - the basic-level words (class_words.BASIC_WORDS, sense-pinned as there) of C and of all its
    WordNet hypernyms, with their plurals: a great grey owl is named by "owl" or "bird", a tabby
    by "cat", a Labrador retriever by "dog", a mountain bike by "bike" (and "bicycle", SYNONYMS);
  - SYNONYMS of those words a caption uses for the same thing ("kitten" for cat, "puppy" for dog,
    "bicycle" for bike, "couch" for sofa).
Over-general words are never accepted (OVER_GENERAL: "animal", "thing", "object", "food",
"creature", "pet", "plant", "vehicle", ...): they are not on the basic-level list, and a class
lemma that is one of them is dropped too. So "a dog" does not name an owl, and "an animal" names
nothing.

Coarse groups for the report (group_of): "dogs" = hyponyms of dog.n.01 (n02084071: the 118
domestic breeds, not wolves or foxes); "cats" = hyponyms of feline (n02120997): the domestic cats
and the wild cats (lion, tiger, leopard, ...), since captions call both "cat"-like names and the
tagger confuses them; "birds" = hyponyms of bird (n01503061); "other" = the rest.
"""
import re

from . import class_words as cw
from .wordnet import load as load_wordnet

OVER_GENERAL = {"animal", "animals", "thing", "things", "object", "objects", "food", "creature",
                "pet", "pets", "plant", "plants", "organism", "vehicle", "device", "machine",
                "structure", "item", "stuff", "beast", "mammal", "artifact", "container"}
SYNONYMS = {
    "cat": ["kitten", "kitty"], "dog": ["puppy", "pup", "doggy"], "bike": ["bicycle"],
    "motorcycle": ["motorbike"], "airplane": ["plane", "jet", "aeroplane"], "sofa": ["couch"],
    "couch": ["sofa"], "chicken": ["hen", "rooster"], "rooster": ["chicken", "cock"],
    "hippopotamus": ["hippo"], "rhinoceros": ["rhino"], "pig": ["piglet", "hog"],
    "duck": ["duckling"], "car": ["automobile"], "taxi": ["cab"], "television": ["tv"],
    "rabbit": ["bunny"], "hamburger": ["burger"], "ship": ["boat"], "sailboat": ["boat"],
    "chimpanzee": ["chimp"], "bear": ["cub"], "lion": ["lioness"], "tiger": ["cub"],
    "telephone": ["phone"], "microphone": ["mic"], "ice cream": ["ice-cream"],
}
GROUPS = (("dogs", "n02084071"), ("cats", "n02120997"), ("birds", "n01503061"))
GROUP_NAMES = ("dogs", "cats", "birds", "other")


def words_of(text):
    """Caption -> list of lowercase words: punctuation stripped, hyphens and slashes as spaces."""
    text = re.sub(r"[-/]", " ", text.lower())
    return [w for w in (re.sub(r"[^a-z0-9']", "", t).strip("'") for t in text.split()) if w]


def _phrase(p):
    return tuple(words_of(p))


class Judge:
    """judge = Judge(); judge.names(caption, imagenet_idx) -> bool."""

    def __init__(self, table=None, wn=None):
        self.wn = wn or load_wordnet()
        self.table = table or cw.read_table()
        self.phrases = [self._accepted(r) for r in self.table]

    def _accepted(self, row):
        wn = self.wn
        c = wn.synset(row["wnid"])
        words = set()
        if row["word"]:
            words.update([row["word"], row["plural"]])
        # Own lemmas (lowercased: "labrador retriever") and those of the hypernyms below the
        # nearest basic-level one ("retriever", "domestic cat"): more specific than basic names.
        basic = cw.basic_words_of(wn, c)
        stop = basic[0][1] if basic else None
        below = [c] + [s for s in wn.closure(c)
                       if stop is not None and s is not stop and wn.is_a(s, stop)]
        for s in below:
            for lemma in s.words:
                lemma = lemma.lower()
                if not any(ch.isdigit() for ch in lemma):
                    words.update([lemma, cw.plural(lemma, wn)])
        for w, _ in basic:
            words.update([w, cw.plural(w, wn)])
        for w in list(words):
            for s in SYNONYMS.get(w, []):
                words.update([s, cw.plural(s, wn)])
        words = {w for w in words if w not in OVER_GENERAL}
        return sorted({_phrase(w) for w in words if _phrase(w)}, key=lambda p: (-len(p), p))

    def accepted(self, imagenet_idx):
        """The accepted phrases of a class, as strings."""
        return [" ".join(p) for p in self.phrases[imagenet_idx]]

    def names(self, caption, imagenet_idx):
        toks = words_of(caption) if isinstance(caption, str) else list(caption)
        for p in self.phrases[imagenet_idx]:
            n = len(p)
            for i in range(len(toks) - n + 1):
                if tuple(toks[i:i + n]) == p:
                    return True
        return False

    def group_of(self, imagenet_idx):
        c = self.wn.synset(self.table[imagenet_idx]["wnid"])
        for name, wnid in GROUPS:
            if self.wn.is_a(c, wnid):
                return name
        return "other"


def rate_by_group(judge, items):
    """items: iterable of (imagenet_idx, named: bool) -> {group: (named, total)} plus "all"."""
    out = {g: [0, 0] for g in GROUP_NAMES + ("all",)}
    for idx, named in items:
        for g in (judge.group_of(idx), "all"):
            out[g][0] += int(bool(named))
            out[g][1] += 1
    return {g: tuple(v) for g, v in out.items()}


def in_manifest_order(manifest, captions, source="captions"):
    """{file: caption} -> [caption] for the manifest's rows (class_words.read_manifest), in its
    order; ValueError when a photo has none."""
    missing = [r["file"] for r in manifest if r["file"] not in captions]
    if missing:
        raise ValueError("%s: no caption for %d photos (e.g. %s)" % (source, len(missing),
                                                                      missing[0]))
    return [captions[r["file"]] for r in manifest]


def judge_captions(judge, manifest, caps):
    """Captions in manifest order -> (rate_by_group's rates, [named: bool] in manifest order)."""
    truth = [int(r["imagenet_idx"]) for r in manifest]
    named = [judge.names(c, t) for t, c in zip(truth, caps)]
    return rate_by_group(judge, zip(truth, named)), named


def format_rates(rates, title):
    cells = ["%s %d/%d = %.1f %%" % (g, n, t, 100.0 * n / t if t else 0.0)
             for g, (n, t) in rates.items()]
    return "%s: %s" % (title, "; ".join(cells))
