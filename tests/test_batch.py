#!/usr/bin/python3
"""Batch captioning: folders, stdin lists, formats, -j, --shard, --resume, signals.

usage: test_batch.py CAPTION_EXE MODEL ASSETS_DIR
Fixtures are built in a temporary folder from the photos in ASSETS_DIR. Expected captions are
those `caption IMAGE` prints for each photo alone, so the tests hold for any model file.
"""
import csv
import io
import json
import os
import pty
import re
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

EXE, MODEL, ASSETS = sys.argv[1:4]
FAST = ["--beam", "1", "--max-len", "4"]  # for tests about plumbing, not captions


def run(*args, stdin=None, env=None):
    full_env = {k: v for k, v in os.environ.items() if k != "CAPTION_MODEL"}
    full_env.update(env or {})
    return subprocess.run([EXE, "--model", MODEL, *args], input=stdin, capture_output=True,
                          text=True, timeout=300, env=full_env)


def jsonl(text):
    return [json.loads(line) for line in text.splitlines()]


def without_ms(records):
    return [{k: v for k, v in r.items() if k != "ms"} for r in records]


def without_ms_column(text, fmt):
    """The lines of a TSV/CSV file without the ms column, found by name (the columns after it
    depend on the format and on whether the model has a tagger). Fields hold no separator."""
    sep = "\t" if fmt == "tsv" else ","
    lines = text.splitlines()
    i = lines[0].split(sep).index("ms")
    return [sep.join(f for k, f in enumerate(line.split(sep)) if k != i) for line in lines]


class Batch(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.caption = {}  # asset name -> caption of `caption ASSET`
        for name in ("pets.jpg", "bird.png", "sunflower.png", "parrot.jpg", "cat_720p.jpg"):
            r = run(os.path.join(ASSETS, name))
            assert r.returncode == 0, r.stderr
            cls.caption[name] = r.stdout.rstrip("\n")

        # A realistic folder: nested photos, symlink loops, non-images, broken images.
        root = cls.root = os.path.join(cls.tmp.name, "photos")
        os.makedirs(os.path.join(root, "a", "b", "c"))
        cls.copy("pets.jpg", "a/pets.jpg")
        cls.copy("bird.png", "a/b/bird.png")
        cls.copy("sunflower.png", "a/b/c/sunflower.png")
        cls.copy("cat_720p.jpg", "cat")  # no extension: taken for its JPEG bytes
        cls.copy("parrot.jpg", "z.jpg")
        os.symlink("..", os.path.join(root, "a", "loop"))          # a/loop -> photos
        os.symlink("../b", os.path.join(root, "a", "b", "self"))   # a/b/self -> a/b
        os.symlink("selfref", os.path.join(root, "selfref"))       # ELOOP on stat
        for name in ("notes.txt", "README"):
            with open(os.path.join(root, name), "w") as f:
                f.write("this is not a photo\n")
        with open(os.path.join(root, "fake.jpg"), "w") as f:  # named like a photo: reported
            f.write("this is not a photo either\n")
        open(os.path.join(root, "empty.png"), "wb").close()
        with open(os.path.join(ASSETS, "pets.jpg"), "rb") as f:
            data = f.read()
        with open(os.path.join(root, "truncated.jpg"), "wb") as f:
            f.write(data[:len(data) // 2])
        # Depth-first, each folder's entries in byte order ("README" < "a" < "cat" ...).
        cls.expected = [
            ("a/b/bird.png", "bird.png"), ("a/b/c/sunflower.png", "sunflower.png"),
            ("a/pets.jpg", "pets.jpg"), ("cat", "cat_720p.jpg"), ("empty.png", None),
            ("fake.jpg", None), ("truncated.jpg", None), ("z.jpg", "parrot.jpg")]

        # Only good photos: 20 of them in 4 folders, for ordering, shards, kills.
        cls.many = os.path.join(cls.tmp.name, "many")
        cls.many_paths = []
        for i in range(4):
            for name in sorted(cls.caption):
                rel = "set%d/%s" % (i, name)
                os.makedirs(os.path.join(cls.many, "set%d" % i), exist_ok=True)
                shutil.copy(os.path.join(ASSETS, name), os.path.join(cls.many, rel))
        for i in range(4):
            for name in sorted(cls.caption):
                cls.many_paths.append(os.path.join(cls.many, "set%d" % i, name))

    @classmethod
    def copy(cls, asset, rel):
        shutil.copy(os.path.join(ASSETS, asset), os.path.join(cls.root, rel))

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def p(self, rel):
        return os.path.join(self.root, rel)

    def out(self, name):
        return os.path.join(self.tmp.name, name)

    def fresh_out(self, name):
        path = self.out(name)
        if os.path.exists(path):
            os.remove(path)
        return path

    # ------------------------------------------------------------ folder walk --

    def test_folder_jsonl_records_and_exit_status(self):
        r = run("--format", "jsonl", self.root)
        self.assertEqual(r.returncode, 1, r.stderr)
        recs = jsonl(r.stdout)
        self.assertEqual([x["path"] for x in recs], [self.p(rel) for rel, _ in self.expected])
        for rec, (rel, asset) in zip(recs, self.expected):
            if asset is None:
                self.assertNotIn("caption", rec)
                self.assertIsInstance(rec["error"], str)
                self.assertGreater(len(rec["error"]), 3)
            else:
                self.assertNotIn("error", rec)
                self.assertEqual(rec["caption"], self.caption[asset], rel)
                self.assertEqual(rec["tokens"], len(rec["caption"].split()))
                self.assertLess(rec["logprob"], 0)
                self.assertGreater(rec["width"], 0)
                self.assertGreater(rec["height"], 0)
                self.assertGreaterEqual(rec["ms"], 0)
                self.assertIsInstance(rec["finished"], bool)
        by_path = {x["path"]: x for x in recs}
        self.assertEqual((by_path[self.p("cat")]["width"], by_path[self.p("cat")]["height"]),
                         (1280, 720))
        self.assertIn("empty", by_path[self.p("empty.png")]["error"])
        self.assertIn("not a JPEG or PNG", by_path[self.p("fake.jpg")]["error"])
        # stderr: exactly the three failures, in input order, nothing about skipped files.
        self.assertEqual([l.split(": ")[1] for l in r.stderr.splitlines()],
                         [self.p("empty.png"), self.p("fake.jpg"), self.p("truncated.jpg")])
        for line in r.stderr.splitlines():
            path = line.split(": ")[1]
            self.assertEqual(line, "caption: %s: %s" % (path, by_path[path]["error"]))

    def test_folder_default_text_format(self):
        r = run(self.root)
        self.assertEqual(r.returncode, 1)
        self.assertEqual(r.stdout.splitlines(),
                         ["%s\t%s" % (self.p(rel), self.caption[asset])
                          for rel, asset in self.expected if asset])
        self.assertEqual(len(r.stderr.splitlines()), 3, r.stderr)

    def test_verbose_reports_skipped_files(self):
        r = run(*FAST, "--verbose", "--format", "jsonl", self.root)
        self.assertEqual(r.returncode, 1)
        skipped = [l for l in r.stderr.splitlines() if ": skipped: " in l]
        self.assertEqual([l.split(": ")[1] for l in skipped],
                         [self.p(x) for x in ("README", "a/b/self", "a/loop", "notes.txt",
                                               "selfref")])
        self.assertIn("symbolic link loop", skipped[1])
        self.assertIn("symbolic link loop", skipped[2])
        self.assertIn("not a JPEG or PNG", skipped[0])
        self.assertEqual(len(jsonl(r.stdout)), len(self.expected))

    def test_mix_of_files_folders_and_stdin(self):
        stdin = "%s\n\n%s\n" % (self.p("a/b"), os.path.join(ASSETS, "pets.jpg"))
        r = run(*FAST, "--format", "jsonl", self.p("z.jpg"), "-", self.p("a/pets.jpg"),
                stdin=stdin)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual([x["path"] for x in jsonl(r.stdout)],
                         [self.p("z.jpg"), self.p("a/b/bird.png"), self.p("a/b/c/sunflower.png"),
                          os.path.join(ASSETS, "pets.jpg"), self.p("a/pets.jpg")])
        # An explicitly named non-image is an error, not a silent skip.
        r = run(*FAST, "-", stdin=self.p("notes.txt") + "\n" + self.p("cat") + "\n")
        self.assertEqual(r.returncode, 1)
        self.assertEqual(r.stdout.count("\n"), 1)
        self.assertTrue(r.stdout.startswith(self.p("cat") + "\t"))
        self.assertTrue(r.stderr.startswith("caption: %s: " % self.p("notes.txt")))

    def test_all_good_exit_0_and_quiet_stderr(self):
        r = run(*FAST, self.many)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stderr, "")  # not a terminal: no progress bar
        self.assertEqual([l.split("\t")[0] for l in r.stdout.splitlines()], self.many_paths)

    @unittest.skipIf(os.geteuid() == 0, "root reads any folder")
    def test_unreadable_folder_is_a_failure(self):
        d = self.out("locked_parent")
        os.makedirs(os.path.join(d, "locked"), exist_ok=True)
        shutil.copy(os.path.join(ASSETS, "pets.jpg"), os.path.join(d, "pets.jpg"))
        os.chmod(os.path.join(d, "locked"), 0)
        try:
            r = run(*FAST, "--format", "jsonl", d)
        finally:
            os.chmod(os.path.join(d, "locked"), 0o755)
        self.assertEqual(r.returncode, 1)
        recs = jsonl(r.stdout)
        self.assertEqual([x["path"] for x in recs],
                         [os.path.join(d, "locked"), os.path.join(d, "pets.jpg")])
        self.assertIn("cannot read folder", recs[0]["error"])
        self.assertEqual(r.stderr, "caption: %s: %s\n" % (recs[0]["path"], recs[0]["error"]))

    def test_empty_folder(self):
        d = self.out("empty_dir")
        os.makedirs(d, exist_ok=True)
        r = run("--format", "jsonl", d)
        self.assertEqual((r.returncode, r.stdout, r.stderr), (0, "", ""))

    # ------------------------------------------------------------- formats --

    def test_csv_and_tsv_columns(self):
        d = self.out("odd names")
        os.makedirs(d, exist_ok=True)
        odd = os.path.join(d, 'a,"b"\tc.jpg')
        shutil.copy(os.path.join(ASSETS, "pets.jpg"), odd)
        open(os.path.join(d, "broken.png"), "wb").close()
        r = run("--format", "csv", d)
        self.assertEqual(r.returncode, 1)
        rows = list(csv.DictReader(io.StringIO(r.stdout)))
        # A model with a tagger adds the columns tags and forced (test_tags.py, docs/batch.md).
        columns = list(rows[0].keys())
        self.assertEqual(columns[:10], ["path", "caption", "tokens", "logprob", "finished",
                                        "width", "height", "ms", "error", "path_bytes"])
        self.assertIn(columns[10:], ([], ["tags", "forced"]))
        self.assertEqual([x["path"] for x in rows], [odd, os.path.join(d, "broken.png")])
        self.assertEqual(rows[0]["caption"], self.caption["pets.jpg"])
        self.assertEqual((rows[0]["width"], rows[0]["height"], rows[0]["error"]),
                         ("512", "430", ""))
        self.assertEqual(rows[1]["caption"], "")
        self.assertIn("empty", rows[1]["error"])
        r = run("--format", "tsv", d)
        lines = r.stdout.splitlines()
        self.assertEqual(lines[0].split("\t")[:3], ["path", "caption", "tokens"])
        fields = lines[1].split("\t")
        self.assertEqual(len(fields), len(lines[0].split("\t")))
        self.assertIn(len(fields), (9, 11))
        self.assertEqual(fields[0], odd.replace("\t", "\\t"))
        self.assertEqual(fields[1], self.caption["pets.jpg"])

    # ----------------------------------------------- names that are not UTF-8 --

    # File names are bytes: Latin-1 and Shift-JIS (not UTF-8), 255-byte names (the longest
    # a name may be) valid and not, newline, tab, quote and comma, a leading '-', and the
    # escapes' own characters ('%', a backslash before x) taken literally.
    ODD_NAMES = [b"caf\xe9.jpg", b"\x83e\x83X\x83g.jpg", b"ok-\xc3\xa9.jpg", b"x" * 251 + b".jpg",
                 b"\xff" * 251 + b".jpg", b"new\nline.jpg", b"tab\there.jpg",
                 b'quo"te,comma.jpg', b"-dash.jpg", b"pct%41%zz.jpg", b"back\\x41slash.jpg",
                 b"\xe9\ttab\nnew%.jpg"]

    def odd_folder(self):
        d = os.fsencode(self.out("odd bytes"))
        if not os.path.isdir(d):
            os.makedirs(d)
            for name in self.ODD_NAMES:
                shutil.copy(os.path.join(ASSETS, "bird.png"), os.path.join(d, name))
        return d, sorted(os.path.join(d, name) for name in self.ODD_NAMES)

    @staticmethod
    def percent_decode(text):
        """docs/batch.md: path_bytes is UTF-8 text in which %XX stands for the byte XX."""
        raw, i, out = text.encode(), 0, bytearray()
        while i < len(raw):
            if raw[i:i + 1] == b"%":
                out.append(int(raw[i + 1:i + 3], 16))
                i += 3
            else:
                out.append(raw[i])
                i += 1
        return bytes(out)

    TSV_ESCAPES = {b"t": b"\t", b"n": b"\n", b"r": b"\r", b"\\": b"\\"}

    @classmethod
    def tsv_unescape(cls, field):
        """docs/batch.md: \\t \\n \\r \\\\, and \\xHH for a byte that is not UTF-8."""
        def one(m):
            e = m.group(1)
            return bytes([int(e[1:], 16)]) if len(e) == 3 else cls.TSV_ESCAPES[e]
        return re.sub(rb"\\(x[0-9A-F]{2}|[tnr\\])", one, field)

    def recorded_paths(self, fmt, data):
        """The exact path bytes of each record, from a file that must be valid UTF-8."""
        text = data.decode("utf-8")  # strict: a raw byte of a name fails here
        if fmt == "jsonl":
            records = [json.loads(line) for line in text.split("\n")[:-1]]
            return [self.percent_decode(r["path_bytes"]) if "path_bytes" in r
                    else r["path"].encode() for r in records]
        if fmt == "csv":
            rows = list(csv.DictReader(io.StringIO(text, newline="")))
            return [self.percent_decode(r["path_bytes"]) if r["path_bytes"]
                    else r["path"].encode() for r in rows]
        # tsv after its header; text (PATH<TAB>CAPTION) escapes the path as tsv does.
        lines = data.split(b"\n")[(fmt == "tsv"):-1]
        return [self.tsv_unescape(line.split(b"\t")[0]) for line in lines]

    def run_bytes(self, *args):
        env = {k: v for k, v in os.environ.items() if k != "CAPTION_MODEL"}
        return subprocess.run([os.fsencode(EXE), b"--model", os.fsencode(MODEL), *args],
                              capture_output=True, timeout=300, env=env)

    def test_names_not_utf8_round_trip_each_format(self):
        d, paths = self.odd_folder()
        for fmt in ("text", "jsonl", "tsv", "csv"):
            out = self.fresh_out("odd." + fmt)
            r = self.run_bytes(*[a.encode() for a in FAST], b"--format", fmt.encode(), b"-o",
                               out.encode(), d)
            self.assertEqual((r.returncode, r.stderr), (0, b""), fmt)
            with open(out, "rb") as f:
                self.assertEqual(self.recorded_paths(fmt, f.read()), paths, fmt)

    def test_names_not_utf8_resume_captions_nothing_twice(self):
        d, paths = self.odd_folder()
        for fmt in ("text", "jsonl", "tsv", "csv"):
            out = self.fresh_out("odd-resume." + fmt)
            first = paths[::3]
            r = self.run_bytes(*[a.encode() for a in FAST], b"--format", fmt.encode(), b"-o",
                               out.encode(), *first)
            self.assertEqual(r.returncode, 0, r.stderr)
            r = self.run_bytes(*[a.encode() for a in FAST], b"--format", fmt.encode(), b"-o",
                               out.encode(), b"--resume", d)
            self.assertEqual(r.returncode, 0, r.stderr)
            with open(out, "rb") as f:
                got = self.recorded_paths(fmt, f.read())
            self.assertEqual(got, first + [p for p in paths if p not in first], fmt)
            r = self.run_bytes(b"--format", fmt.encode(), b"-o", out.encode(), b"--resume", d)
            self.assertEqual((r.returncode, r.stderr), (0, b""), fmt)
            with open(out, "rb") as f:
                self.assertEqual(len(self.recorded_paths(fmt, f.read())), len(paths), fmt)

    def test_jsonl_path_bytes_only_when_needed(self):
        d, _ = self.odd_folder()
        r = self.run_bytes(*[a.encode() for a in FAST], b"--format", b"jsonl", d)
        records = [json.loads(line) for line in r.stdout.decode("utf-8").splitlines()]
        by_name = {os.path.basename(x["path"]): x for x in records}
        self.assertEqual(by_name["ok-\u00e9.jpg"].keys() & {"path_bytes"}, set())
        self.assertEqual(by_name["pct%41%zz.jpg"].keys() & {"path_bytes"}, set())
        latin = by_name["caf\ufffd.jpg"]
        self.assertEqual(latin["path_bytes"], os.path.join(d.decode(), "caf%E9.jpg"))
        mixed = by_name["\ufffd\ttab\nnew%.jpg"]
        self.assertEqual(mixed["path_bytes"], os.path.join(d.decode(), "%E9\ttab\nnew%25.jpg"))

    # ------------------------------------------------------ -j and ordering --

    def test_jobs_1_and_2_identical(self):
        outs = {}
        for j in ("1", "2"):
            r = run("-j", j, "--format", "jsonl", self.many, self.root)
            self.assertEqual(r.returncode, 1, r.stderr)
            outs[j] = (without_ms(jsonl(r.stdout)), r.stderr)
            t = run("-j", j, self.many, self.root)
            outs[j + "text"] = (t.stdout, t.stderr)
        self.assertEqual(outs["1"], outs["2"])
        self.assertEqual(outs["1text"], outs["2text"])
        self.assertEqual([x["path"] for x in outs["1"][0]][:20], self.many_paths)
        self.assertEqual([x["caption"] for x in outs["1"][0][:20]],
                         [self.caption[os.path.basename(p)] for p in self.many_paths])

    def test_batch_sizes_identical(self):
        """--batch N (lockstep batches of the library's cap_caption_images) changes nothing but
        the speed: the same records, attention included, for any N and -j, failures among
        them (self.root holds broken files)."""
        def records(*args):
            r = run(*args, "--format", "jsonl", "--attention", self.many, self.root)
            self.assertEqual(r.returncode, 1, r.stderr)
            return without_ms(jsonl(r.stdout)), r.stderr
        want = records("-j", "1", "--batch", "1")
        self.assertGreater(sum("caption" in x for x in want[0]), len(self.many_paths))
        self.assertTrue(any("error" in x for x in want[0]))
        for args in (("-j", "1", "--batch", "3"), ("-j", "2", "--batch", "5"),
                     ("-j", "2", "--batch", "256"), ("-j", "2")):
            self.assertEqual(records(*args), want, args)

    # -------------------------------------------------------------- shards --

    def test_shards_disjoint_and_complete(self):
        full = [x["path"] for x in jsonl(run(*FAST, "--format", "jsonl", self.many).stdout)]
        self.assertEqual(full, self.many_paths)
        for n in (1, 3):
            parts = []
            for k in range(1, n + 1):
                r = run(*FAST, "--format", "jsonl", "--shard", "%d/%d" % (k, n), self.many)
                self.assertEqual(r.returncode, 0, r.stderr)
                parts.append([x["path"] for x in jsonl(r.stdout)])
                # Deterministic, and in input order within the part.
                again = run(*FAST, "--format", "jsonl", "--shard", "%d/%d" % (k, n), self.many)
                self.assertEqual([x["path"] for x in jsonl(again.stdout)], parts[-1])
                self.assertEqual(parts[-1], [p for p in full if p in set(parts[-1])])
            flat = [p for part in parts for p in part]
            self.assertEqual(len(flat), len(set(flat)), "shards overlap")
            self.assertEqual(set(flat), set(full), "shards miss images")
            if n == 3:
                self.assertTrue(all(part for part in parts), [len(x) for x in parts])

    # -------------------------------------------------------------- resume --

    def test_resume_skips_recorded_paths_each_format(self):
        for fmt in ("text", "jsonl", "tsv", "csv"):
            full = self.fresh_out("full." + fmt)
            r = run(*FAST, "--format", fmt, "-o", full, self.many)
            self.assertEqual((r.returncode, r.stdout, r.stderr), (0, "", ""), fmt)
            part = self.fresh_out("part." + fmt)
            r = run(*FAST, "--format", fmt, "-o", part, *self.many_paths[:7])
            self.assertEqual(r.returncode, 0, r.stderr)
            r = run(*FAST, "--format", fmt, "-o", part, "--resume", self.many)
            self.assertEqual(r.returncode, 0, r.stderr)
            with open(full) as f, open(part) as g:
                want, got = f.read(), g.read()
            if fmt == "jsonl":
                want, got = without_ms(jsonl(want)), without_ms(jsonl(got))
            elif fmt in ("tsv", "csv"):
                want, got = without_ms_column(want, fmt), without_ms_column(got, fmt)
            self.assertEqual(got, want, fmt)

    def test_resume_repairs_torn_last_line(self):
        out = self.fresh_out("torn.jsonl")
        run(*FAST, "--format", "jsonl", "-o", out, *self.many_paths[:3])
        with open(out, "a") as f:
            f.write('{"path": "%s", "capt' % self.many_paths[3])
        r = run(*FAST, "--format", "jsonl", "-o", out, "--resume", *self.many_paths[:6])
        self.assertEqual(r.returncode, 0, r.stderr)
        with open(out) as f:
            recs = jsonl(f.read())
        self.assertEqual([x["path"] for x in recs], self.many_paths[:6])

    def test_resume_keeps_recorded_errors(self):
        out = self.fresh_out("errors.jsonl")
        r = run(*FAST, "--format", "jsonl", "-o", out, self.root)
        self.assertEqual(r.returncode, 1)
        r = run(*FAST, "--format", "jsonl", "-o", out, "--resume", self.root)
        self.assertEqual((r.returncode, r.stderr), (0, ""))  # nothing left to do
        with open(out) as f:
            self.assertEqual(len(jsonl(f.read())), len(self.expected))

    def wait_for_records(self, proc, out, n):
        deadline = time.time() + 120
        while time.time() < deadline:
            running = proc.poll() is None  # before reading: a record written, then exit
            if os.path.exists(out):
                with open(out) as f:
                    if f.read().count("\n") >= n:
                        return
            if not running:
                break
            time.sleep(0.02)
        self.fail("no records appeared (exit %s)" % proc.poll())

    def test_sigkill_then_resume_gives_every_image_once(self):
        out = self.fresh_out("killed.jsonl")
        # One image per batch: records then come one by one, so the kill lands mid-run (20
        # photos in batches of 4 took a few tenths of a second, less than a loaded machine
        # may leave between two polls).
        args = [EXE, "--model", MODEL, "--format", "jsonl", "-j", "2", "--batch", "1", "-o",
                out, self.many]
        proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.wait_for_records(proc, out, 2)
        proc.kill()
        proc.wait()
        with open(out) as f:
            before = f.read()
        done_before = before[:before.rfind("\n") + 1].count("\n")
        self.assertLess(done_before, len(self.many_paths), "finished before the kill")
        with open(out, "a") as f:
            f.write('{"path": "torn')  # as if the kill had cut a record in half
        r = run("--format", "jsonl", "-j", "2", "-o", out, "--resume", self.many)
        self.assertEqual(r.returncode, 0, r.stderr)
        with open(out) as f:
            text = f.read()
        self.assertTrue(text.endswith("\n"))
        recs = jsonl(text)  # every line is well-formed JSON
        paths = [x["path"] for x in recs]
        self.assertEqual(sorted(paths), sorted(self.many_paths))  # each exactly once
        self.assertEqual(paths, self.many_paths)  # and still in input order
        self.assertTrue(text.startswith(before[:before.rfind("\n") + 1]))
        for rec in recs:
            self.assertEqual(rec["caption"], self.caption[os.path.basename(rec["path"])])

    def test_sigint_leaves_consistent_file_exit_130(self):
        for sig in (signal.SIGINT, signal.SIGTERM):
            out = self.fresh_out("interrupted.jsonl")
            # --batch 2: with larger batches (--batch 8) the first record comes when 16 of the
            # 20 images are in flight, and the run may end before the signal lands.
            args = [EXE, "--model", MODEL, "--format", "jsonl", "-j", "2", "--batch", "2", "-o",
                    out, self.many]
            proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            self.wait_for_records(proc, out, 1)
            proc.send_signal(sig)
            _, err = proc.communicate(timeout=60)
            self.assertEqual(proc.returncode, 130, err)
            with open(out) as f:
                text = f.read()
            self.assertTrue(text.endswith("\n"))
            paths = [x["path"] for x in jsonl(text)]
            self.assertLess(len(paths), len(self.many_paths))
            self.assertEqual(paths, self.many_paths[:len(paths)])  # a prefix: no gaps
            r = run(*FAST, "--format", "jsonl", "-o", out, "--resume", self.many)
            self.assertEqual(r.returncode, 0, r.stderr)
            with open(out) as f:
                self.assertEqual([x["path"] for x in jsonl(f.read())], self.many_paths)

    def test_model_file_truncated_under_a_running_job(self):
        """A training run exporting over the model a job has mapped: error records for the
        images in flight, whole records before them, exit 1 with one line; never SIGBUS."""
        model = self.out("changing-model.bin")
        shutil.copy(MODEL, model)
        out = self.fresh_out("model-changed.jsonl")
        many = [self.many] * 10  # 200 images: still running when the file is cut
        args = [EXE, "--model", model, "--format", "jsonl", "-j", "2", "-q", "-o", out, *many]
        proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self.wait_for_records(proc, out, 2)
        os.truncate(model, os.path.getsize(model) // 5)
        _, err = proc.communicate(timeout=120)
        self.assertEqual(proc.returncode, 1, err)  # not -SIGBUS
        self.assertIn("%s: the model file changed while in use" % model, err.decode())
        with open(out) as f:
            text = f.read()
        recs = jsonl(text)  # whole records only
        self.assertTrue(text.endswith("\n"))
        self.assertLess(len(recs), 200)
        failed = [x for x in recs if "error" in x]
        self.assertTrue(failed, "no error record for the images in flight")
        # only the images in flight: -j 2, each job a batch of up to 4 (--batch's default)
        self.assertLessEqual(len(failed), 8)
        for rec in failed:
            self.assertEqual(rec["error"], "not captioned: the model file changed while in use")
        for rec in recs:
            if "caption" in rec:
                self.assertEqual(rec["caption"], self.caption[os.path.basename(rec["path"])])

    # ----------------------------------------------------- progress and usage --

    def run_with_tty_stderr(self, *args):
        master, slave = pty.openpty()
        proc = subprocess.Popen([EXE, "--model", MODEL, *args], stdout=subprocess.PIPE,
                                stderr=slave)
        os.close(slave)
        chunks = []
        while True:
            ready, _, _ = select.select([master], [], [], 60)
            if not ready:
                break
            try:
                data = os.read(master, 4096)
            except OSError:  # EIO: the child closed the terminal
                break
            if not data:
                break
            chunks.append(data)
        os.close(master)
        out, _ = proc.communicate(timeout=60)
        return proc.returncode, out.decode(), b"".join(chunks).decode(errors="replace")

    def test_progress_bar_only_on_a_terminal(self):
        rc, out, err = self.run_with_tty_stderr(*FAST, self.root)
        self.assertEqual(rc, 1)
        self.assertIn("%d/%d" % (len(self.expected), len(self.expected)), err)
        self.assertIn("img/s", err)
        self.assertIn("ETA", err)
        self.assertIn("3 failed", err)
        self.assertIn("caption: %s: " % self.p("fake.jpg"), err)
        self.assertNotIn("img/s", out)
        rc, out, err = self.run_with_tty_stderr(*FAST, "--quiet", self.root)
        self.assertEqual(rc, 1)
        self.assertNotIn("img/s", err)
        self.assertEqual(len([l for l in err.splitlines() if l.strip()]), 3, err)

    def test_usage_errors_exit_2(self):
        for args in (["--resume", self.root], ["--shard", "0/3", self.root],
                     ["--shard", "4/3", self.root], ["--shard", "1", self.root],
                     ["--shard", "a/b", self.root], ["--format", "xml", self.root],
                     ["-j", "0", self.root], ["--jobs", "x", self.root],
                     ["--batch", "0", self.root], ["--batch", "257", self.root]):
            r = run(*args)
            self.assertEqual(r.returncode, 2, args)
            self.assertEqual(r.stdout, "", args)
            self.assertNotEqual(r.stderr, "", args)

    def test_single_image_still_prints_caption_alone(self):
        r = run("-j", "4", "--format", "text", os.path.join(ASSETS, "bird.png"))
        self.assertEqual((r.returncode, r.stdout, r.stderr),
                         (0, self.caption["bird.png"] + "\n", ""))


if __name__ == "__main__":
    unittest.main(argv=sys.argv[:1], verbosity=2)
