"""WordNet 3.0 nouns read straight from the database files (Debian's `wordnet-base`,
/usr/share/wordnet), without nltk: synsets by offset (the digits of an ImageNet wnid), their
lemmas, hypernyms and the transitive hypernym closure, the lemma index (senses of a word in
WordNet's frequency order) and the irregular plurals of noun.exc.

File formats: wndb(5). A data.noun line is
    offset lex_filenum ss_type w_cnt(2 hex digits) {word lex_id(hex)}... p_cnt(3 digits)
    {pointer_symbol offset pos source/target}... | gloss
and an index.noun line is
    lemma pos synset_cnt p_cnt {pointer_symbol}... sense_cnt tagsense_cnt {offset}...
Lines of the license header start with two spaces.
"""
import functools
import os

WORDNET_DIR = "/usr/share/wordnet"
# '@' hypernym, '@i' instance hypernym (for a few proper nouns; ImageNet classes have '@').
HYPERNYM_SYMBOLS = ("@", "@i")


class Synset:
    __slots__ = ("offset", "lex_filenum", "lemmas", "hypernyms", "hyponyms", "gloss")

    def __init__(self, offset, lex_filenum, lemmas, hypernyms, hyponyms, gloss):
        self.offset, self.lex_filenum = offset, lex_filenum
        self.lemmas, self.hypernyms, self.hyponyms, self.gloss = lemmas, hypernyms, hyponyms, gloss

    @property
    def wnid(self):
        return "n%08d" % self.offset

    @property
    def words(self):
        """Lemmas as words: underscores to spaces, case kept ("Labrador retriever")."""
        return [l.replace("_", " ") for l in self.lemmas]

    def __repr__(self):
        return "Synset(%s %s)" % (self.wnid, ", ".join(self.lemmas[:3]))


def parse_data_line(line):
    """One data.noun line -> Synset (hypernyms/hyponyms as offsets)."""
    body, _, gloss = line.partition(" | ")
    f = body.split()
    offset, lex_filenum = int(f[0]), int(f[1])
    w_cnt = int(f[3], 16)
    lemmas = [f[4 + 2 * i] for i in range(w_cnt)]
    i = 4 + 2 * w_cnt
    p_cnt = int(f[i])
    hypernyms, hyponyms = [], []
    for j in range(p_cnt):
        symbol, target, pos = f[i + 1 + 4 * j: i + 4 + 4 * j]
        if pos != "n":
            continue
        if symbol in HYPERNYM_SYMBOLS:
            hypernyms.append(int(target))
        elif symbol in ("~", "~i"):
            hyponyms.append(int(target))
    return Synset(offset, lex_filenum, lemmas, hypernyms, hyponyms, gloss.strip())


class WordNet:
    """Nouns of one WordNet database folder. wn.synset(offset or "n01234567")."""

    def __init__(self, folder=WORDNET_DIR):
        self.folder = folder
        self.synsets = {}
        with open(os.path.join(folder, "data.noun"), encoding="utf-8") as f:
            for line in f:
                if line.startswith("  "):
                    continue
                s = parse_data_line(line)
                self.synsets[s.offset] = s
        self.index = {}  # lemma (lowercase, underscores) -> [offsets], most frequent sense first
        self.tagged = {}  # lemma -> tagsense_cnt: how many of the first senses are frequency-ordered
        with open(os.path.join(folder, "index.noun"), encoding="utf-8") as f:
            for line in f:
                if line.startswith("  "):
                    continue
                t = line.split()
                synset_cnt, p_cnt = int(t[2]), int(t[3])
                self.index[t[0]] = [int(o) for o in t[6 + p_cnt: 6 + p_cnt + synset_cnt]]
                self.tagged[t[0]] = int(t[5 + p_cnt])
        self.exceptions = {}  # base form -> [irregular inflected forms] (plurals)
        with open(os.path.join(folder, "noun.exc"), encoding="utf-8") as f:
            for line in f:
                t = line.split()
                if len(t) >= 2:
                    for base in t[1:]:
                        self.exceptions.setdefault(base, []).append(t[0])

    def synset(self, key):
        """By offset (int) or wnid ("n02123045")."""
        if isinstance(key, str):
            key = int(key.lstrip("n"))
        return self.synsets[key]

    def senses(self, lemma):
        """Synsets of a lemma ("hot dog" or "hot_dog", any case), WordNet's most frequent first."""
        return [self.synsets[o] for o in self.index.get(lemma.lower().replace(" ", "_"), [])]

    def hypernyms(self, s):
        return [self.synsets[o] for o in s.hypernyms]

    def closure(self, s):
        """All transitive hypernyms of s (not s itself), nearest first (breadth first)."""
        out, seen, frontier = [], {s.offset}, [s]
        while frontier:
            nxt = []
            for x in frontier:
                for o in x.hypernyms:
                    if o not in seen:
                        seen.add(o)
                        out.append(self.synsets[o])
                        nxt.append(self.synsets[o])
            frontier = nxt
        return out

    def is_a(self, s, ancestor):
        """s is ancestor or one of its hyponyms (transitively)."""
        a = ancestor.offset if isinstance(ancestor, Synset) else self.synset(ancestor).offset
        return s.offset == a or any(h.offset == a for h in self.closure(s))

    def chains(self, s):
        """Every hypernym path from s up to the root, each a list starting at s."""
        if not s.hypernyms:
            return [[s]]
        return [[s] + c for h in self.hypernyms(s) for c in self.chains(h)]


@functools.lru_cache(maxsize=4)
def load(folder=WORDNET_DIR):
    """The parsed database (about 2 s), cached per folder."""
    return WordNet(folder)
