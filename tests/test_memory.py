#!/usr/bin/python3
"""Bounded memory and a lean start: runs under an address-space limit (`ulimit -v`), peak
resident memory, a stuck run that SIGTERM still ends within a second, and what a one-photo
run loads and starts (no SDL, no OpenBLAS thread pool).

usage: test_memory.py CAPTION_EXE MODEL ASSETS_DIR
The expected captions are those `caption IMAGE` prints without a limit.
"""
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

EXE, MODEL, ASSETS = sys.argv[1:4]
PHOTO = os.path.join(ASSETS, "pets.jpg")
PHOTOS = ("pets.jpg", "bird.png", "sunflower.png", "parrot.jpg", "cat_720p.jpg")


def env():
    return {k: v for k, v in os.environ.items() if k != "CAPTION_MODEL"}


def limited(kb):
    """preexec_fn for a child whose address space is limited to kb KiB, as `ulimit -v kb`."""
    def set_limit():
        resource.setrlimit(resource.RLIMIT_AS, (kb * 1024, kb * 1024))
    return set_limit


def run_measured(args, limit_kb=None, timeout=60):
    """Run caption with args; returns (exit status, stdout, stderr, seconds)."""
    t0 = time.monotonic()
    proc = subprocess.Popen([EXE, "--model", MODEL, *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=env(),
                            preexec_fn=limited(limit_kb) if limit_kb else None)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise AssertionError("%s did not end within %d s" % (" ".join(args), timeout))
    return proc.returncode, out.decode(), err.decode(), time.monotonic() - t0


def peak_rss_kb(args):
    """Peak resident memory (KiB) of one caption run, from wait4's rusage of that child."""
    pid = os.fork()
    if pid == 0:
        try:
            fd = os.open(os.devnull, os.O_WRONLY)
            os.dup2(fd, 1)
            os.execve(EXE, [EXE, "--model", MODEL, *args], env())
        finally:
            os._exit(127)
    _, status, usage = os.wait4(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, "caption %s failed" % " ".join(args)
    return usage.ru_maxrss


def loaded_objects():
    """The shared objects the dynamic loader maps for caption (LD_TRACE_LOADED_OBJECTS)."""
    r = subprocess.run([EXE], capture_output=True, text=True,
                       env=dict(env(), LD_TRACE_LOADED_OBJECTS="1"))
    assert r.returncode == 0, r.stderr
    return [line.split()[0] for line in r.stdout.splitlines() if line.strip()]


class Memory(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        # A sanitizer's runtime has its own threads and shadow memory: the RSS and thread
        # counts below measure ours only in a plain build.
        cls.sanitized = any(s in lib for lib in loaded_objects()
                            for s in ("libasan", "libtsan", "libubsan"))
        cls.tmp = tempfile.TemporaryDirectory()
        cls.caption = {}
        for name in PHOTOS:
            rc, out, err, _ = run_measured([os.path.join(ASSETS, name)])
            assert rc == 0, err
            cls.caption[name] = out.rstrip("\n")
        cls.folder = os.path.join(cls.tmp.name, "photos")
        os.mkdir(cls.folder)
        for name in PHOTOS:
            shutil.copy(os.path.join(ASSETS, name), cls.folder)

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def run_limited(self, args, limit_kb, timeout=60):
        rc, out, err, seconds = run_measured(args, limit_kb, timeout)
        if "Sanitizer" in err:  # ASan reserves terabytes of shadow memory at start
            self.skipTest("a sanitizer build cannot run under an address-space limit")
        return rc, out, err, seconds

    def test_limit_400000_one_photo_captioned(self):
        rc, out, err, _ = self.run_limited([PHOTO], 400000)
        self.assertEqual(rc, 0, err)
        self.assertEqual(out.rstrip("\n"), self.caption["pets.jpg"])
        self.assertEqual(err, "")

    def test_limit_400000_folder_captioned_with_fewer_workers(self):
        """The default -j (one per core) gives way to the limit instead of getting stuck."""
        rc, out, err, _ = self.run_limited(["-q", self.folder], 400000, timeout=60)
        self.assertEqual(rc, 0, err)
        got = dict(line.split("\t") for line in out.splitlines())
        self.assertEqual({os.path.basename(p): c for p, c in got.items()}, self.caption)

    def test_limit_150000_captioned_or_refused_at_once(self):
        rc, out, err, seconds = self.run_limited([PHOTO], 150000, timeout=30)
        self.assertLess(seconds, 5.0)
        if rc == 0:
            self.assertEqual(out.rstrip("\n"), self.caption["pets.jpg"])
            return
        self.assertEqual(rc, 1, err)
        self.assertEqual(out, "")
        self.assertEqual(len(err.splitlines()), 1, err)  # one line, naming the reason
        self.assertRegex(err, r"^caption: the address-space limit \(ulimit -v 150000 KB\) "
                              r"leaves too little room: .* about \d+ MB more")

    def test_limit_explicit_jobs_that_do_not_fit_are_refused(self):
        """-j 4 asked for explicitly is not silently shrunk: refused with the way out."""
        rc, out, err, seconds = self.run_limited(["-j", "4", self.folder], 400000)
        self.assertLess(seconds, 5.0)
        self.assertEqual(rc, 1, err)
        self.assertEqual(out, "")
        self.assertEqual(len(err.splitlines()), 1, err)
        self.assertIn("4 images at a time with 1 BLAS thread need about", err)
        self.assertTrue(err.rstrip().endswith("try -j 1 --blas-threads 1"), err)

    def skip_if_sanitized(self):
        if self.sanitized:
            self.skipTest("a sanitizer's runtime adds its own memory and threads")

    def test_peak_rss_at_most_100_mb(self):
        self.skip_if_sanitized()
        for args in ([PHOTO], ["-q", "-j", "2", self.folder]):
            kb = peak_rss_kb(args)
            self.assertLess(kb, 100 * 1024, "caption %s: peak RSS %d KB" % (" ".join(args), kb))
            self.assertGreater(kb, 20 * 1024)  # the measure is real: the model alone is more

    def test_one_photo_loads_no_viewer_libraries(self):
        """SDL2 and its fifty-odd libraries are the viewer module's, loaded for --view only."""
        libs = loaded_objects()
        self.assertFalse([lib for lib in libs if "SDL" in lib or "X11" in lib], libs)
        self.assertLess(len(libs), 25, libs)

    def test_one_photo_starts_one_thread(self):
        """Main thread and one worker: OpenBLAS's pool (a thread and 128 MB each) is not
        started before main() nor for one photo. Seen on a run stuck on a FIFO, after the
        threads are planned."""
        self.skip_if_sanitized()
        fifo = os.path.join(self.tmp.name, "threads.jpg")
        os.mkfifo(fifo)
        proc = subprocess.Popen([EXE, "--model", MODEL, fifo], stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, env=env())
        try:
            deadline = time.monotonic() + 30
            tasks = []
            while time.monotonic() < deadline:
                tasks = os.listdir("/proc/%d/task" % proc.pid)
                if len(tasks) >= 2:
                    break
                time.sleep(0.05)
            time.sleep(0.5)  # a pool thread started with the worker would be there by now
            tasks = os.listdir("/proc/%d/task" % proc.pid)
            with open("/proc/%d/status" % proc.pid) as f:
                vm_kb = int(next(l for l in f if l.startswith("VmSize")).split()[1])
        finally:
            proc.kill()
            proc.communicate()
        self.assertEqual(len(tasks), 2, tasks)
        # Libraries, model (54 MB), the worker's stack, not yet its 128 MB BLAS buffer.
        self.assertLess(vm_kb, 200 * 1024)

    def test_sigterm_ends_a_stuck_run_within_a_second(self):
        """An image that never arrives (a FIFO nobody writes: the worker blocks in open()) must
        not hold up a stop: exit 130 within a second, nothing half-written."""
        fifo = os.path.join(self.tmp.name, "stuck.jpg")
        os.mkfifo(fifo)
        out = os.path.join(self.tmp.name, "stuck.jsonl")
        args = [EXE, "--model", MODEL, "--format", "jsonl", "-o", out, fifo]
        proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                env=env())
        time.sleep(1.5)
        self.assertIsNone(proc.poll(), "did not get stuck on the FIFO")
        t0 = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
        self.assertLess(time.monotonic() - t0, 1.5)
        self.assertEqual(proc.returncode, 130, err)
        self.assertIn("1 image in flight did not finish and was not recorded", err.decode())
        with open(out) as f:
            self.assertEqual(f.read(), "")


if __name__ == "__main__":
    unittest.main(argv=sys.argv[:1], verbosity=2)
