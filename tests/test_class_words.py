#!/usr/bin/python3
"""Open-vocabulary groundwork without PyTorch: the WordNet reader (captioner/wordnet.py), the
class -> words table (captioner/class_words.py, tools/data/imagenet_class_words.tsv) and the
naming judge (captioner/naming.py).

Needs Debian's WordNet 3.0 database (/usr/share/wordnet, package wordnet-base) and, for the
table regeneration check, ../shared (labels and the imagenet-sample manifest); without them the
test is skipped (exit 77) and says why.
"""
import os
import sys
import unittest

from captioner import wordnet

if not os.path.exists(os.path.join(wordnet.WORDNET_DIR, "data.noun")):
    print("SKIP: %s/data.noun not found (install wordnet-base)" % wordnet.WORDNET_DIR)
    sys.exit(77)

from captioner import class_words as cw  # noqa: E402
from captioner import naming  # noqa: E402

HAVE_SHARED = os.path.exists(cw.LABELS) and os.path.exists(cw.MANIFEST)


class WordNetReader(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.wn = wordnet.load()

    def test_parse_line(self):
        s = wordnet.parse_data_line("02123045 05 n 02 tabby 0 tabby_cat 0 001 @ 02121808 n 0000 "
                                    "| a cat with a grey or tawny coat mottled with black  \n")
        self.assertEqual(s.wnid, "n02123045")
        self.assertEqual(s.lemmas, ["tabby", "tabby_cat"])
        self.assertEqual(s.hypernyms, [2121808])
        self.assertEqual(s.lex_filenum, 5)
        self.assertTrue(s.gloss.startswith("a cat with"))

    def test_synset_and_closure(self):
        tabby = self.wn.synset("n02123045")
        self.assertIn("tabby", tabby.lemmas)
        self.assertEqual([h.wnid for h in self.wn.hypernyms(tabby)], ["n02121808"])
        closure = [h.wnid for h in self.wn.closure(tabby)]
        self.assertEqual(closure[0], "n02121808")  # domestic cat, nearest first
        for wnid in ("n02121620", "n02120997", "n00015388", "n00001740"):  # cat, feline,
            self.assertIn(wnid, closure)                                  # animal, entity
        self.assertTrue(self.wn.is_a(tabby, "n02120997"))
        self.assertFalse(self.wn.is_a(tabby, "n02084071"))  # not a dog

    def test_index_and_exceptions(self):
        self.assertIn("n02084071", [s.wnid for s in self.wn.senses("dog")])
        self.assertIn("n07697537", [s.wnid for s in self.wn.senses("Hot Dog")])
        self.assertEqual(self.wn.exceptions["mouse"], ["mice"])
        self.assertIn("wolves", self.wn.exceptions["wolf"])


class Plurals(unittest.TestCase):
    def test_plurals(self):
        cases = {"cat": "cats", "bus": "buses", "fox": "foxes", "butterfly": "butterflies",
                 "monkey": "monkeys", "wolf": "wolves", "mouse": "mice", "goose": "geese",
                 "fish": "fish", "sheep": "sheep", "hot dog": "hot dogs", "potato": "potatoes",
                 "camera": "cameras", "church": "churches", "ox": "oxen", "fungus": "fungi",
                 "harvestman": "harvestmen", "knife": "knives", "taxi": "taxis",
                 "ice cream": "ice creams", "starfish": "starfish"}
        for singular, plural in cases.items():
            self.assertEqual(cw.plural(singular), plural, singular)


@unittest.skipUnless(HAVE_SHARED, "../shared not found")
class ClassWords(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.table = cw.read_table()
        cls.by_idx = {r["imagenet_idx"]: r for r in cls.table}

    def test_every_class_has_a_word_or_an_exclusion(self):
        self.assertEqual([r["imagenet_idx"] for r in self.table], list(range(1000)))
        wnids = [r["wnid"] for r in self.table]
        self.assertEqual(wnids, sorted(wnids))  # the ILSVRC order is the sorted wnids
        self.assertEqual(len(set(wnids)), 1000)
        for r in self.table:
            if r["word"]:
                self.assertTrue(r["plural"], r)
                self.assertEqual(r["word"], r["word"].lower(), r)
                self.assertFalse(r["source"].startswith("excluded"), r)
            else:
                self.assertTrue(r["source"].startswith("excluded"), r)
                self.assertFalse(r["plural"], r)
        excluded = sum(1 for r in self.table if not r["word"])
        self.assertTrue(50 <= excluded <= 150, excluded)

    def test_even_wnids_match_the_manifest(self):
        for m in cw.read_manifest():
            self.assertEqual(self.by_idx[int(m["imagenet_idx"])]["wnid"], m["wnid"])

    def test_table_is_up_to_date(self):
        rows = cw.build_table()
        for r in rows:
            got = self.by_idx[r["imagenet_idx"]]
            for k in cw.TABLE_COLUMNS:
                self.assertEqual(str(r[k]), str(got[k]), (r["imagenet_idx"], k))

    def test_spot_checks(self):
        cases = {281: ("cat", "cats"),            # tabby
                 208: ("dog", "dogs"),            # Labrador retriever
                 24: ("owl", "owls"),             # great grey owl
                 934: ("hot dog", "hot dogs"),    # hotdog
                 671: ("bike", "bikes"),          # mountain bike
                 291: ("lion", "lions"), 339: ("horse", "horses"), 7: ("rooster", "roosters"),
                 579: ("piano", "pianos"), 910: ("spoon", "spoons"), 817: ("car", "cars"),
                 269: ("wolf", "wolves"), 0: ("fish", "fish")}
        for idx, (word, plural) in cases.items():
            r = self.by_idx[idx]
            self.assertEqual((r["word"], r["plural"]), (word, plural), r)

    def test_exclusions(self):
        for idx, why in ((610, "worn by people"),   # jersey, T-shirt
                         (457, "worn by people"),   # bow tie
                         (837, "worn by people"),   # sunglasses
                         (978, "scene or place"),   # seashore
                         (582, "scene or place"),   # grocery store
                         (456, "override")):        # bow (ambiguous)
            r = self.by_idx[idx]
            self.assertEqual(r["word"], "", r)
            self.assertIn(why, r["source"] + r["note"], r)

    def test_overrides_are_reviewed(self):
        overrides = cw.read_overrides()
        self.assertTrue(overrides)
        for idx, o in overrides.items():
            self.assertTrue(o["comment"].strip(), o)
            self.assertEqual(o["wnid"], self.by_idx[idx]["wnid"])

    def test_ambiguity_rule(self):
        wn = wordnet.load()
        mouse = wn.synset("n03793489")   # computer mouse: first sense of 'mouse' is the animal
        self.assertTrue(cw.is_ambiguous(wn, "mouse", mouse))
        banana = wn.synset("n07753592")  # the fruit: 'banana' the plant is the same kind
        self.assertFalse(cw.is_ambiguous(wn, "banana", banana))


@unittest.skipUnless(HAVE_SHARED, "../shared not found")
class Judge(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.judge = naming.Judge()

    def test_owl(self):
        j = self.judge
        self.assertTrue(j.names("a great grey owl sits", 24))
        self.assertTrue(j.names("a great gray owl sits", 24))
        self.assertTrue(j.names("a bird on a branch", 24))
        self.assertTrue(j.names("two owls .", 24))
        self.assertFalse(j.names("a dog", 24))
        self.assertFalse(j.names("an animal on a branch", 24))
        self.assertFalse(j.names("a bowl of soup", 24))  # 'owl' inside a word is not 'owl'

    def test_cat_dog_and_multiword(self):
        j = self.judge
        self.assertTrue(j.names("a kitten sleeps", 281))
        self.assertTrue(j.names("a cat is a little girl", 281))
        self.assertFalse(j.names("a dog is running", 281))
        self.assertTrue(j.names("a black labrador retriever runs", 208))
        self.assertTrue(j.names("a puppy plays", 208))
        self.assertTrue(j.names("a hot dog with mustard", 934))
        self.assertTrue(j.names("a hot-dog with mustard", 934))
        self.assertFalse(j.names("a dog with mustard", 934))
        self.assertTrue(j.names("a man rides a bicycle", 671))
        self.assertTrue(j.names("a man rides his bike .", 671))
        for word in naming.OVER_GENERAL:
            self.assertNotIn(word, j.accepted(281) + j.accepted(934))

    def test_groups(self):
        j = self.judge
        self.assertEqual(j.group_of(208), "dogs")
        self.assertEqual(j.group_of(281), "cats")
        self.assertEqual(j.group_of(291), "cats")   # lion: felines are cats
        self.assertEqual(j.group_of(24), "birds")
        self.assertEqual(j.group_of(269), "other")  # timber wolf: not dog.n.01
        self.assertEqual(j.group_of(934), "other")
        groups = [j.group_of(i) for i in range(0, 1000, 2)]
        self.assertEqual((groups.count("dogs"), groups.count("cats"), groups.count("birds")),
                         (59, 6, 30))


if __name__ == "__main__":
    unittest.main()
