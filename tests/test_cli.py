#!/usr/bin/python3
"""The `caption` CLI contract: output formats, exit status, and bad files.

usage: test_cli.py CAPTION_EXE MODEL GOLDEN_DIR ASSETS_DIR
Expected captions come from tests/fixtures/golden (made by tests/fixtures/make_goldens.py from the
PyTorch reference), so these tests also check C == PyTorch end to end through the CLI.
"""
import os
import subprocess
import sys
import tempfile
import unittest

EXE, MODEL, GOLDEN, ASSETS = sys.argv[1:5]


def run(*args, env=None):
    full_env = {k: v for k, v in os.environ.items() if k != "CAPTION_MODEL"}
    full_env.update(env or {})
    return subprocess.run([EXE, *args], capture_output=True, text=True, timeout=120, env=full_env)


def golden(name):
    """{photo: caption} from a golden TSV."""
    with open(os.path.join(GOLDEN, name)) as f:
        return {photo: text for photo, _, text in (l.rstrip("\n").split("\t") for l in f)}


class CaptionCli(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        d = cls.tmp.name
        cls.empty = os.path.join(d, "empty.jpg")
        open(cls.empty, "wb").close()
        cls.text = os.path.join(d, "notes.jpg")
        with open(cls.text, "w") as f:
            f.write("this is not a photo\n")
        cls.missing = os.path.join(d, "missing.jpg")
        cls.truncated = os.path.join(d, "truncated.jpg")
        with open(os.path.join(ASSETS, "pets.jpg"), "rb") as f:
            data = f.read()
        with open(cls.truncated, "wb") as f:
            f.write(data[:len(data) // 2])
        cls.beam3, cls.greedy = golden("beam3.tsv"), golden("greedy.tsv")

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def photo(self, name):
        return os.path.join(ASSETS, name)

    def test_one_image_prints_caption_alone(self):
        r = run("--model", MODEL, self.photo("pets.jpg"))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, self.beam3["pets.jpg"] + "\n")
        self.assertEqual(r.stderr, "")
        self.assertRegex(r.stdout, r"^[a-z0-9' -]+\n$")

    def test_greedy_matches_pytorch(self):
        names = sorted(self.greedy)
        r = run("--model", MODEL, "--beam", "1", *[self.photo(n) for n in names])
        self.assertEqual(r.returncode, 0, r.stderr)
        want = "".join("%s\t%s\n" % (self.photo(n), self.greedy[n]) for n in names)
        self.assertEqual(r.stdout, want)

    def test_several_images_in_argument_order(self):
        names = ["sunflower.png", "pets.jpg", "bird.png"]
        r = run("--model", MODEL, *[self.photo(n) for n in names])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.splitlines(),
                         ["%s\t%s" % (self.photo(n), self.beam3[n]) for n in names])

    def test_bad_files_reported_and_others_captioned(self):
        args = [self.missing, self.photo("pets.jpg"), self.empty, self.text, self.truncated,
                self.photo("bird.png")]
        r = run("--model", MODEL, *args)
        self.assertEqual(r.returncode, 1)
        self.assertEqual(r.stdout.splitlines(), [
            "%s\t%s" % (self.photo("pets.jpg"), self.beam3["pets.jpg"]),
            "%s\t%s" % (self.photo("bird.png"), self.beam3["bird.png"])])
        err = r.stderr.splitlines()
        self.assertEqual(len(err), 4, r.stderr)
        for path, line in zip([self.missing, self.empty, self.text, self.truncated], err):
            self.assertTrue(line.startswith("caption: %s: " % path), line)
            self.assertGreater(len(line), len("caption: %s: " % path) + 3)
        self.assertIn("no such file", err[0])
        self.assertIn("empty", err[1])
        self.assertIn("not a JPEG or PNG", err[2])

    def test_single_bad_file_exit_1(self):
        r = run("--model", MODEL, self.text)
        self.assertEqual(r.returncode, 1)
        self.assertEqual(r.stdout, "")
        self.assertTrue(r.stderr.startswith("caption: %s: " % self.text))

    def test_bad_model(self):
        r = run("--model", self.text, self.photo("pets.jpg"))
        self.assertEqual(r.returncode, 1)
        self.assertEqual(r.stdout, "")
        self.assertEqual(len(r.stderr.splitlines()), 1)
        self.assertTrue(r.stderr.startswith("caption: %s: " % self.text), r.stderr)
        r = run("--model", self.missing, self.photo("pets.jpg"))
        self.assertEqual(r.returncode, 1)
        self.assertIn("cannot open model", r.stderr)

    def test_model_from_environment(self):
        r = run(self.photo("pets.jpg"), env={"CAPTION_MODEL": MODEL})
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, self.beam3["pets.jpg"] + "\n")

    def test_max_len_limits_words(self):
        r = run("--model", MODEL, "--max-len", "3", self.photo("pets.jpg"))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertLessEqual(len(r.stdout.split()), 3)
        self.assertGreaterEqual(len(r.stdout.split()), 1)

    def test_decoding_options_reach_the_search(self):
        for file, args in (("beam3_plain.tsv", ["--length-penalty", "0", "--no-repeat-ngram", "0"]),
                           ("beam5_lp1.5_nr3.tsv", ["-b", "5", "--length-penalty", "1.5",
                                                    "--no-repeat-ngram", "3"])):
            want = golden(file)
            names = sorted(want)
            r = run("--model", MODEL, *args, *[self.photo(n) for n in names])
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(r.stdout, "".join("%s\t%s\n" % (self.photo(n), want[n])
                                               for n in names), file)
        self.assertNotEqual(golden("beam5_lp1.5_nr3.tsv"), self.beam3)

    def test_usage_errors_exit_2(self):
        for args in ([], ["--beam", "0", "x.jpg"], ["--beam", "abc", "x.jpg"],
                     ["--max-len", "-1", "x.jpg"], ["--no-such-flag", "x.jpg"],
                     ["--length-penalty", "-1", "x.jpg"], ["--length-penalty", "nan", "x.jpg"],
                     ["--length-penalty", "1x", "x.jpg"], ["--no-repeat-ngram", "1", "x.jpg"],
                     ["--no-repeat-ngram", "-2", "x.jpg"], ["--tags", "21", "x.jpg"],
                     ["--tags", "-1", "x.jpg"], ["--tags", "2.5", "x.jpg"], ["--tags", "x.jpg"],
                     ["--tag-threshold", "-0.1", "x.jpg"], ["--tag-threshold", "inf", "x.jpg"],
                     ["--tag-threshold", "nan", "x.jpg"], ["--tag-threshold", "1e39", "x.jpg"],
                     ["--tag-threshold", "", "x.jpg"], ["--no-tags=1", "x.jpg"]):
            r = run(*args)
            self.assertEqual(r.returncode, 2, args)
            self.assertEqual(r.stdout, "", args)
            self.assertNotEqual(r.stderr, "", args)

    def test_tag_options_accepted_and_errors_name_them(self):
        # A model without a tagger (version 1, the shipped one) gives no tags whatever they
        # say, so the caption stays the plain one; a model with a tagger: test_tags.py.
        want = self.beam3["pets.jpg"] + "\n"
        for args in (["--no-tags"], ["--tags", "0"], ["--tags", "20"], ["--tags", "1"],
                     ["--tag-threshold", "0"], ["--tag-threshold", "1.5"],
                     ["--tag-threshold", "1e30"], ["--tags", "3", "--no-tags"]):
            r = run("--model", MODEL, *args, self.photo("pets.jpg"))
            self.assertEqual((r.returncode, r.stdout, r.stderr), (0, want, ""), args)
        for args, msg in ((["--tags", "21"], "caption: --tags must be an integer from 0 to 20, "
                                             "got '21'\n"),
                          (["--tag-threshold", "-1"], "caption: --tag-threshold must be a "
                                                      "number >= 0, got '-1'\n")):
            r = run("--model", MODEL, *args, self.photo("pets.jpg"))
            self.assertEqual((r.returncode, r.stdout, r.stderr), (2, "", msg), args)

    def test_help_and_version(self):
        r = run("--help")
        self.assertEqual(r.returncode, 0)
        self.assertIn("usage: caption", r.stdout)
        for flag in ("--beam", "--tags N", "--tag-threshold T", "--no-tags"):
            self.assertIn(flag, r.stdout)
        r = run("--version")
        self.assertEqual(r.returncode, 0)
        self.assertRegex(r.stdout, r"^caption \d+\.\d+\.\d+\n$")


if __name__ == "__main__":
    unittest.main(argv=sys.argv[:1])
