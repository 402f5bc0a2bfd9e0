#!/usr/bin/python3
"""Speed benchmark: the C captioner against the PyTorch reference (tools/reference.py,
the same model file, same preprocessing, same beam search), in one run on one machine.

  /usr/bin/python3 tools/bench.py [--build build] [--limit 1000] [--runs 5] [--photo assets/pets.jpg]

Prints a table:
  1. one photo, end to end as a user runs it (process start to caption printed, median of
     --runs): `caption PHOTO` against `reference.py PHOTO` with its best thread count;
  2. batch: the Flickr8k dev images (--limit of them), images per second: `caption` with its
     best -j (its default lockstep --batch) and the same -j one image at a time (--batch 1)
     against `reference.py` (batched encoder and beams, --batch 32) with its best thread
     count; the captions are compared;
  3. the C program's per-stage times per image (tests/bench_stages, one BLAS thread: decode,
     resize, encoder split by layer kind, decoder = beam search) and the encoder's GFLOP/s next
     to the machine's single-thread sgemm GFLOP/s (1024^3, and the encoder's own GEMM shapes),
     on the single-image path and on the lockstep path (--batch 4); the decoder's step
     products' GFLOP/s (tests/bench_rows) with the weights warm and from memory, next to sgemm's
     on the same shapes;
  4. peak RSS (ru_maxrss of the process) of each run;
  5. the ratios PyTorch time / C time (how many times faster C is) and C / PyTorch memory.
With --baseline EXE (a previous build of caption, e.g. one made from an older commit in a
worktree) the one-photo and batch runs are also timed with it, alternating in the same run,
and the ratios printed: the before/after of a change on one machine.
Beam 3, max length 20 (the defaults) throughout. --coretypes also times the C program with
each given OpenBLAS kernel set forced through $CAPTION_BLAS_CORETYPE (e.g. Haswell,SkylakeX).
Needs a built tree (meson compile -C BUILD) and python3-torch.
"""
import argparse
import datetime
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

from captioner.paths import ASSETS, DEFAULT_MODEL, FLICKR8K, ROOT

PY = "/usr/bin/python3"
REFERENCE = os.path.join(ROOT, "tools", "reference.py")


def run_rss(cmd, env=None, stdin=None, stdout=subprocess.PIPE):
    """Run cmd; return (seconds, peak RSS in MB from os.wait4, stdout). Raises on failure."""
    full_env = dict(os.environ)
    full_env.pop("CAPTION_MODEL", None)
    full_env.update(env or {})
    with tempfile.TemporaryFile() as out_f, tempfile.TemporaryFile() as err_f:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, env=full_env, stdin=stdin,
                                stdout=out_f if stdout is subprocess.PIPE else stdout,
                                stderr=err_f)
        _, status, usage = os.wait4(proc.pid, 0)
        t1 = time.perf_counter()
        proc.returncode = os.waitstatus_to_exitcode(status)
        out_f.seek(0)
        err_f.seek(0)
        out, err = out_f.read().decode(), err_f.read().decode()
    if proc.returncode != 0:
        raise RuntimeError("%s failed (%d): %s" % (" ".join(cmd[:3]), proc.returncode, err[-500:]))
    return t1 - t0, usage.ru_maxrss / 1024.0, out


def median_run(cmd, runs, env=None):
    times, rss, out = [], [], None
    for _ in range(runs):
        t, r, out = run_rss(cmd, env=env)
        times.append(t)
        rss.append(r)
    return statistics.median(times), max(rss), out


def cpu_name():
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor()


def read_tsv(text):
    return dict(line.split("\t", 1) for line in text.splitlines() if "\t" in line)


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--model", default=DEFAULT_MODEL)
    ap.add_argument("--data", default=FLICKR8K)
    ap.add_argument("--limit", type=int, default=1000, help="dev images for the batch test")
    ap.add_argument("--runs", type=int, default=5, help="single-photo runs (median)")
    ap.add_argument("--photo", default=os.path.join(ASSETS, "pets.jpg"))
    ap.add_argument("--baseline", help="a previous caption binary to time in the same run")
    ap.add_argument("--coretypes", default="",
                    help="comma-separated OpenBLAS cores to also time the C program with")
    args = ap.parse_args()
    exe = os.path.join(args.build, "caption")
    stages_exe = os.path.join(args.build, "tests", "bench_stages")
    cores = len(os.sched_getaffinity(0))
    with open(os.path.join(args.data, "Flickr_8k.devImages.txt")) as f:
        paths = [os.path.join(args.data, "images", n) for n in f.read().split()][:args.limit]
    list_file = tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False)
    list_file.write("\n".join(paths) + "\n")
    list_file.close()

    print("caption speed benchmark, %s UTC" % datetime.datetime.utcnow().strftime("%Y-%m-%d %H:%M"))
    print("CPU: %s, %d cores; %s" % (cpu_name(), cores, platform.platform()))
    print("command: /usr/bin/python3 tools/bench.py %s" % " ".join(sys.argv[1:]))
    print("beam 3, max length 20; C = %s, PyTorch = tools/reference.py (torch %s)\n" % (
        exe, subprocess.run([PY, "-c", "import torch; print(torch.__version__)"],
                                                   capture_output=True, text=True).stdout.strip()))
    sys.stdout.flush()

    rows = []  # (what, C value, PyTorch value, unit, ratio text)

    # 1. One photo, end to end.
    c_single, c_single_rss, c_caption = median_run([exe, "--model", args.model, args.photo],
                                                   args.runs)
    best_py = None
    for threads in sorted({1, cores}):
        t, rss, py_caption = median_run([PY, REFERENCE, "--model", args.model, "--threads",
                                         str(threads), args.photo], max(2, args.runs // 2))
        print("  PyTorch single photo, %d thread(s): %.3f s" % (threads, t))
        if best_py is None or t < best_py[0]:
            best_py = (t, rss, threads, py_caption)
    py_single, py_single_rss, py_single_threads, py_caption = best_py
    print("  C single photo: %.3f s" % c_single)
    sys.stdout.flush()

    # 2. Batch over the dev images.
    c_batch = {}
    for jobs in sorted({1, cores}):
        with open(list_file.name) as stdin:
            t, rss, out = run_rss([exe, "--model", args.model, "--quiet", "-j", str(jobs), "-"],
                                  stdin=stdin)
        c_batch[jobs] = (len(paths) / t, rss, out)
        print("  C batch -j %d: %.1f images/s, %.0f MB" % (jobs, len(paths) / t, rss))
        sys.stdout.flush()
    c_jobs = max(c_batch, key=lambda j: c_batch[j][0])
    c_rate, c_batch_rss, c_out = c_batch[c_jobs]
    with open(list_file.name) as stdin:
        t, unbatched_rss, out = run_rss([exe, "--model", args.model, "--quiet", "-j", str(c_jobs),
                                         "--batch", "1", "-"], stdin=stdin)
    unbatched_rate, unbatched_same = len(paths) / t, out == c_out
    print("  C batch -j %d --batch 1: %.1f images/s, %.0f MB" % (c_jobs, unbatched_rate,
                                                                unbatched_rss))
    base = None
    if args.baseline:
        b_single, b_single_rss, _ = median_run([args.baseline, "--model", args.model, args.photo],
                                               args.runs)
        with open(list_file.name) as stdin:
            t, b_rss, out = run_rss([args.baseline, "--model", args.model, "--quiet", "-"],
                                    stdin=stdin)
        base = (b_single, b_single_rss, len(paths) / t, b_rss, out == c_out)
        print("  baseline: one photo %.3f s, batch %.1f images/s" % (b_single, len(paths) / t))
    sys.stdout.flush()
    py_batch = {}
    for threads in sorted({1, cores}):
        t, rss, out = run_rss([PY, REFERENCE, "--model", args.model, "--threads", str(threads),
                               "--batch", "32", *paths])
        py_batch[threads] = (len(paths) / t, rss, out)
        print("  PyTorch batch, %d thread(s): %.1f images/s, %.0f MB" % (threads, len(paths) / t, rss))
        sys.stdout.flush()
    py_threads = max(py_batch, key=lambda j: py_batch[j][0])
    py_rate, py_batch_rss, py_out = py_batch[py_threads]
    c_caps, py_caps = read_tsv(c_out), read_tsv(py_out)
    same = sum(c_caps.get(p) == py_caps.get(p) for p in paths)

    core_rows = []
    for core in [c for c in args.coretypes.split(",") if c]:
        env = {"CAPTION_BLAS_CORETYPE": core}
        t1, _, _ = median_run([exe, "--model", args.model, args.photo], args.runs, env=env)
        with open(list_file.name) as stdin:
            t, _, out = run_rss([exe, "--model", args.model, "--quiet", "-j", str(c_jobs), "-"],
                                stdin=stdin, env=env)
        same_core = sum(read_tsv(out).get(p) == c_caps.get(p) for p in paths)
        core_rows.append((core, t1, len(paths) / t, same_core))

    # 3. Per-stage times (one BLAS thread), on up to 100 dev images and the photo.
    _, _, stages_out = run_rss([stages_exe, args.model, "3", "1", args.photo, *paths[:100]])
    st = dict(line.split(" ", 1) for line in stages_out.splitlines())
    f = {k: float(v) for k, v in st.items() if k not in ("core",)}
    enc_gflops = f["enc_gflop"] / (f["encoder_ms"] / 1e3)
    # The lockstep path as the folder mode runs it (4 images a batch, one BLAS thread).
    _, _, batched_out = run_rss([stages_exe, "--batch", "4", args.model, "3", "1", *paths[:100]])
    fb = {k: float(v) for k, v in (line.split(" ", 1) for line in batched_out.splitlines())
          if k not in ("core",)}
    enc_batched_gflops = fb["enc_gflop"] / (fb["encoder_ms"] / 1e3)
    # The decoder's step products (its main compute), warm and with the weights from memory.
    rows_exe = os.path.join(args.build, "tests", "bench_rows")
    _, _, rows_out = run_rss([rows_exe])
    os.unlink(list_file.name)

    # The table.
    print()
    print("| measure | C | PyTorch | PyTorch / C |")
    print("| --- | --- | --- | --- |")
    print("| one photo, process start to caption (median of %d) | %.3f s | %.3f s (%d thread%s) | **%.1fx** faster |" % (
        args.runs, c_single, py_single, py_single_threads, "s" if py_single_threads > 1 else "",
        py_single / c_single))
    print("| batch, %d dev images | %.1f images/s (-j %d) | %.1f images/s (%d thread%s, batch 32) | **%.1fx** faster |" % (
        len(paths), c_rate, c_jobs, py_rate, py_threads, "s" if py_threads > 1 else "", c_rate / py_rate))
    print("| peak RSS, one photo | %.0f MB | %.0f MB | %.1fx less |" % (
        c_single_rss, py_single_rss, py_single_rss / c_single_rss))
    print("| peak RSS, batch | %.0f MB | %.0f MB | %.1fx less |" % (
        c_batch_rss, py_batch_rss, py_batch_rss / c_batch_rss))
    print("| identical captions (batch) | %d / %d | | |" % (same, len(paths)))
    print("| batch, one image at a time (-j %d --batch 1) | %.1f images/s (%.0f MB; the default "
          "batch is **%.2fx** faster, captions %s) | | |" % (
              c_jobs, unbatched_rate, unbatched_rss, c_rate / unbatched_rate,
              "identical" if unbatched_same else "DIFFERENT"))
    print("| one photo's caption | %s | %s | %s |" % (
        c_caption.strip(), py_caption.strip(),
        "same" if c_caption.strip() == py_caption.strip() else "DIFFERENT"))
    if base:
        b_single, b_single_rss, b_rate, b_rss, b_same = base
        print()
        print("| against %s | before | now | now / before |" % args.baseline)
        print("| --- | --- | --- | --- |")
        print("| one photo, process start to caption (median of %d) | %.3f s | %.3f s | **%.2fx** faster |" % (
            args.runs, b_single, c_single, b_single / c_single))
        print("| batch, %d dev images, default options | %.1f images/s | %.1f images/s | **%.2fx** (captions %s) |" % (
            len(paths), b_rate, c_rate, c_rate / b_rate, "identical" if b_same else "DIFFERENT"))
        print("| peak RSS, one photo / batch | %.0f / %.0f MB | %.0f / %.0f MB | |" % (
            b_single_rss, b_rss, c_single_rss, c_batch_rss))
    print()
    print("C per image, one BLAS thread (OpenBLAS core %s), median over %d images:" % (
        st["core"], int(f["images"])))
    print()
    print("| stage | ms | GFLOP | GFLOP/s |")
    print("| --- | --- | --- | --- |")
    print("| decode (JPEG/PNG) | %.2f | | |" % f["decode_ms"])
    print("| resize to 224x224 | %.2f | | |" % f["resize_ms"])
    print("| encoder | %.2f | %.3f | %.1f |" % (f["encoder_ms"], f["enc_gflop"], enc_gflops))
    for name, key in (("conv0 (3x3, im2col + sgemm)", "conv0"), ("1x1 convolutions (sgemm)", "pointwise"),
                      ("depthwise 3x3", "depthwise"),
                      ("112x112 and 56x56 blocks: expansion + depthwise, fused", "fused")):
        ms, gf = f["enc_%s_ms" % key], f["enc_%s_gflop" % key]
        print("| - %s | %.2f | %.3f | %.1f |" % (name, ms, gf, gf / (ms / 1e3) if ms > 0 else 0))
    print("| decoder (beam 3, attention + LSTM + search) | %.2f | | |" % f["decoder_ms"])
    print()
    print("sgemm, one thread: %.1f GFLOP/s (1024^3), %.1f GFLOP/s (the encoder's 1x1 shapes); "
          "encoder %.1f GFLOP/s = %.0f %% of sgemm 1024^3, 1x1 convolutions %.0f %%" % (
              f["sgemm1024_gflops"], f["sgemm_encoder_gflops"], enc_gflops,
              100 * enc_gflops / f["sgemm1024_gflops"],
              100 * f["enc_pointwise_gflop"] / (f["enc_pointwise_ms"] / 1e3) / f["sgemm1024_gflops"]))
    print()
    print("Batched path (tests/bench_stages --batch 4, %d dev images, one BLAS thread): encoder "
          "%.2f ms a photo, %.1f GFLOP/s = %.0f %% of sgemm 1024^3 (%.1f GFLOP/s in that run); "
          "decoder %.2f ms a photo" % (
              len(paths[:100]), fb["encoder_ms"], enc_batched_gflops, 100 * enc_batched_gflops / fb["sgemm1024_gflops"],
              fb["sgemm1024_gflops"], fb["decoder_ms"]))
    print()
    print("The decoder's step products (tests/bench_rows: rows x a weight matrix, in 512; warm: "
          "weights in the caches as far as they fit; cold: from memory, as in a step):")
    print()
    print("| rows | weight rows | warm GFLOP/s | cold GFLOP/s | sgemm GFLOP/s, same shape |")
    print("| --- | --- | --- | --- | --- |")
    for line in rows_out.splitlines():
        w = line.split()
        print("| %s | %s | %s | %s | %s |" % (w[1], w[3], w[9], w[11], w[13]))
    if core_rows:
        print()
        print("| OpenBLAS core (forced) | one photo | batch images/s (-j %d) | captions as default |" % c_jobs)
        print("| --- | --- | --- | --- |")
        print("| default (%s) | %.3f s | %.1f | %d / %d |" % (st["core"], c_single, c_rate, len(paths), len(paths)))
        for core, t1, rate, same_core in core_rows:
            print("| %s | %.3f s | %.1f | %d / %d |" % (core, t1, rate, same_core, len(paths)))


if __name__ == "__main__":
    main()
