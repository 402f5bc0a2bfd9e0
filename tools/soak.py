#!/usr/bin/python3
"""Soak test of the batch path: a long `caption -j 2 --resume` run, killed and resumed.

  /usr/bin/python3 tools/soak.py [--images 20000] [--seed 1] [--workdir /tmp/caption-soak]
                                 [--exe build/caption] [--model FILE] [--kills 3]

1. Generates --images files under WORKDIR/images (reused when WORKDIR/manifest.json matches
   the parameters) from the Flickr8k photos (../shared/data/flickr8k/images) and
   ../shared/photos: JPEG re-encoded at quality 20-95 (some progressive, some 4:4:4), about
   15 % PNG (RGB, gray, RGBA, palette), sides 64-640 px, about 10 % grayscale; exactly
   --damaged (10 %) of them damaged in one of the ways listed in DAMAGE_KINDS. Deterministic
   in --seed; two processes.
2. Runs `caption -q -j 2 --format jsonl -o WORKDIR/out.jsonl WORKDIR/images`, polls the
   records written (lines of out.jsonl) every 0.25 s and writes (time, run, pid, records,
   VmRSS, VmHWM) to WORKDIR/rss.csv every --interval seconds; SIGKILLs it --kills times at
   seeded random record counts (one in each of --kills equal parts of records 2,500 to
   N - 1,500, so the RSS windows below stay inside one process), restarting each time with
   --resume, and lets the last run finish.
3. Reference pass: `caption` over every damaged file and --ref-good good ones (paths on
   stdin, one fresh process): each image is decoded and captioned on its own, so this tells
   which damaged files libjpeg/libpng still decode (e.g. a flipped byte in a DC
   coefficient) and what the captions of good ones are.
4. Checks: out.jsonl parses strictly (every line one JSON object with a path and either a
   caption or an error); no path twice (duplicates 0); every generated file present (lost 0)
   and nothing else; every good file captioned; every damaged file recorded once with the
   reference pass's outcome (same error or same caption); RSS flat: max VmRSS over records
   1,000-2,000 against the last 1,000, flat when last <= first * 1.1 + 5 MiB; throughput:
   images/s per 1,000-record window (windows spanning a kill/restart left out), steady when
   the median of the last 3 windows >= 0.75 x the median of the first 3.
Prints a summary table (also WORKDIR/summary.txt and summary.json); exit 1 if a check fails.
Python 3 standard library and PIL only. Not part of `meson test` (about 5 minutes of 2 cores
for 20,000 images); see docs/soak.md.
"""
import argparse
import datetime
import io
import json
import multiprocessing
import os
import platform
import random
import signal
import statistics
import subprocess
import sys
import time
import zlib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.path.join(ROOT, '..', 'shared')
GEN_VERSION = 1
CLK_TCK = os.sysconf('SC_CLK_TCK')
DAMAGE_KINDS = [
    'jpeg_truncated',      # cut at 20-95 % of its bytes
    'jpeg_flipped',        # 1-8 bytes XORed in the entropy-coded data after SOS
    'jpeg_header_only',    # SOI and the first segments, cut before the scan
    'jpeg_bad_signature',  # first two bytes zeroed (named .jpg)
    'png_truncated',       # cut at 20-95 % of its bytes
    'png_bad_crc',         # an IDAT or IHDR chunk with a wrong CRC
    'png_bad_deflate',     # IDAT bytes flipped, CRC recomputed (zlib/filter errors)
    'zero_length',         # empty .jpg or .png
    'text_as_jpg',         # a text file named .jpg
]


def log(msg):
    print(f'[{time.strftime("%H:%M:%S")}] {msg}', flush=True)


# ---------------------------------------------------------------- generation

def sources():
    flickr = os.path.join(SHARED, 'data', 'flickr8k', 'images')
    photos = os.path.join(SHARED, 'photos')
    out = sorted(os.path.join(flickr, f) for f in os.listdir(flickr) if f.endswith('.jpg'))
    out += sorted(os.path.join(photos, f) for f in os.listdir(photos)
                  if f.endswith(('.jpg', '.png')))
    return [os.path.abspath(p) for p in out]


def encode_good(rng, src):
    """A re-encoded, resized copy of src: (bytes, ext, description)."""
    from PIL import Image
    with Image.open(src) as im:
        im = im.convert('RGB')
    w = rng.randint(64, 640)
    h = max(64, min(640, round(w * rng.uniform(0.6, 1.6))))
    im = im.resize((w, h), rng.choice([Image.BILINEAR, Image.BICUBIC, Image.LANCZOS]))
    gray = rng.random() < 0.10
    if gray:
        im = im.convert('L')
    buf = io.BytesIO()
    if rng.random() < 0.15:
        mode = rng.choice(['same', 'same', 'RGBA', 'P'])
        if mode == 'RGBA' and not gray:
            im = im.convert('RGBA')
        elif mode == 'P':
            im = im.convert('RGB').quantize(rng.choice([16, 64, 256]))
        im.save(buf, 'PNG', compress_level=rng.choice([1, 6]))
        return buf.getvalue(), 'png', f'png {im.mode} {w}x{h}'
    q = rng.randint(20, 95)
    progressive = rng.random() < 0.10
    sub = rng.choice([0, 2, 2, 2]) if not gray else 0
    im.save(buf, 'JPEG', quality=q, progressive=progressive, subsampling=sub)
    return buf.getvalue(), 'jpg', f'jpeg {im.mode} q{q}{" prog" if progressive else ""} {w}x{h}'


def png_chunks(data):
    """(offset, type, length) of each chunk of a PNG."""
    pos, out = 8, []
    while pos + 12 <= len(data):
        n = int.from_bytes(data[pos:pos + 4], 'big')
        out.append((pos, data[pos + 4:pos + 8], n))
        pos += 12 + n
    return out


def damage(rng, kind, jpeg, png):
    """Damaged bytes of the given kind from a good JPEG and a good PNG: (bytes, ext)."""
    if kind == 'jpeg_truncated':
        return jpeg[:int(len(jpeg) * rng.uniform(0.2, 0.95))], 'jpg'
    if kind == 'jpeg_flipped':
        b = bytearray(jpeg)
        sos = b.find(b'\xff\xda')
        start = sos + 2 + int.from_bytes(b[sos + 2:sos + 4], 'big')
        for _ in range(rng.randint(1, 8)):
            b[rng.randrange(start, len(b) - 2)] ^= rng.randint(1, 255)
        return bytes(b), 'jpg'
    if kind == 'jpeg_header_only':
        sos = jpeg.find(b'\xff\xda')
        return jpeg[:rng.randint(20, sos)], 'jpg'
    if kind == 'jpeg_bad_signature':
        return b'\0\0' + jpeg[2:], 'jpg'
    if kind == 'png_truncated':
        return png[:int(len(png) * rng.uniform(0.2, 0.95))], 'png'
    if kind == 'png_bad_crc':
        b = bytearray(png)
        chunks = [c for c in png_chunks(png) if c[1] in (b'IHDR', b'IDAT')]
        pos, _, n = rng.choice(chunks)
        b[pos + 8 + n + rng.randrange(4)] ^= rng.randint(1, 255)
        return bytes(b), 'png'
    if kind == 'png_bad_deflate':
        b = bytearray(png)
        pos, _, n = [c for c in png_chunks(png) if c[1] == b'IDAT'][0]
        for _ in range(rng.randint(1, 8)):
            b[pos + 8 + rng.randrange(min(n, 64) if rng.random() < 0.5 else n)] ^= rng.randint(1, 255)
        crc = zlib.crc32(bytes(b[pos + 4:pos + 8 + n]))
        b[pos + 8 + n:pos + 12 + n] = crc.to_bytes(4, 'big')
        return bytes(b), 'png'
    if kind == 'zero_length':
        return b'', rng.choice(['jpg', 'png'])
    if kind == 'text_as_jpg':
        return (f'not a photo, file {rng.randrange(10**6)}\n' * rng.randint(1, 50)).encode(), 'jpg'
    raise ValueError(kind)


def make_one(job):
    """Worker: writes image i; returns its manifest entry."""
    i, seed, kind, src, root = job
    rng = random.Random(seed * 1_000_003 + i)
    if kind == 'good':
        data, ext, desc = encode_good(rng, src)
    else:
        from PIL import Image
        with Image.open(src) as im:
            im = im.convert('RGB').resize((rng.randint(64, 320), rng.randint(64, 320)))
        jb, pb = io.BytesIO(), io.BytesIO()
        im.save(jb, 'JPEG', quality=rng.randint(50, 95))
        im.save(pb, 'PNG', compress_level=1)
        data, ext = damage(rng, kind, jb.getvalue(), pb.getvalue())
        desc = kind
    rel = os.path.join(f'd{i // 1000:02d}', f'img{i:05d}.{ext}')
    with open(os.path.join(root, rel), 'wb') as f:
        f.write(data)
    return {'path': rel, 'good': kind == 'good', 'kind': kind, 'desc': desc,
            'size': len(data), 'source': os.path.basename(src)}


def generate(args, imgdir, manifest_path):
    params = {'version': GEN_VERSION, 'images': args.images, 'seed': args.seed,
              'damaged': args.damaged}
    if os.path.exists(manifest_path):
        with open(manifest_path) as f:
            man = json.load(f)
        if man.get('params') == params and all(
                os.path.exists(os.path.join(imgdir, e['path'])) and
                os.path.getsize(os.path.join(imgdir, e['path'])) == e['size']
                for e in man['files']):
            log(f'reusing {len(man["files"])} images in {imgdir}')
            return man
        log('manifest does not match: regenerating')
    if os.path.exists(imgdir):
        subprocess.run(['rm', '-rf', imgdir], check=True)
    srcs = sources()
    rng = random.Random(args.seed)
    n_bad = round(args.images * args.damaged)
    bad = set(rng.sample(range(args.images), n_bad))
    jobs = []
    for i in range(args.images):
        kind = DAMAGE_KINDS[rng.randrange(len(DAMAGE_KINDS))] if i in bad else 'good'
        jobs.append((i, args.seed, kind, rng.choice(srcs), imgdir))
    for d in range((args.images + 999) // 1000):
        os.makedirs(os.path.join(imgdir, f'd{d:02d}'))
    t0 = time.time()
    with multiprocessing.Pool(args.gen_procs) as pool:
        files = pool.map(make_one, jobs, chunksize=64)
    log(f'generated {len(files)} images ({n_bad} damaged) in {time.time() - t0:.0f} s, '
        f'{sum(e["size"] for e in files) / 1e6:.0f} MB')
    man = {'params': params, 'files': files}
    with open(manifest_path, 'w') as f:
        json.dump(man, f)
    return man


# ---------------------------------------------------------------- the run

def proc_mem(pid):
    """(VmRSS, VmHWM) in kB, or (None, None) once the process is gone."""
    rss = hwm = None
    try:
        with open(f'/proc/{pid}/status') as f:
            for line in f:
                if line.startswith('VmRSS:'):
                    rss = int(line.split()[1])
                elif line.startswith('VmHWM:'):
                    hwm = int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError):
        pass
    return rss, hwm


def proc_cpu(pid):
    """User + system CPU seconds of the process (all its threads), or None once gone."""
    try:
        with open(f'/proc/{pid}/stat') as f:
            fields = f.read().rsplit(')', 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return None


class LineCounter:
    """Newlines in a file that only grows, except for a torn last record cut on resume."""
    def __init__(self, path):
        self.path, self.offset, self.lines = path, 0, 0

    def reset(self):
        self.offset = self.lines = 0

    def count(self):
        try:
            size = os.path.getsize(self.path)
        except FileNotFoundError:
            return self.lines
        if size < self.offset:
            self.reset()
        with open(self.path, 'rb') as f:
            f.seek(self.offset)
            data = f.read(size - self.offset)
        self.lines += data.count(b'\n')
        self.offset += len(data)
        return self.lines


def soak_run(args, imgdir, out, kill_at):
    cmd = [args.exe, '-q', '-j', str(args.jobs), '--format', 'jsonl', '-o', out]
    if args.model:
        cmd += ['-m', args.model]
    cmd.append(imgdir)
    if os.path.exists(out):
        os.remove(out)
    stderr_path = os.path.join(args.workdir, 'stderr.log')
    csv_path = os.path.join(args.workdir, 'rss.csv')
    counter = LineCounter(out)
    polls = []       # (t, run, records, CPU seconds of the run's process)
    runs = []        # per run: start, end, records at start/end, exit, maxrss
    t0 = time.time()
    with open(stderr_path, 'wb') as errf, open(csv_path, 'w') as csv:
        csv.write('t_s,run,pid,records,vmrss_kb,vmhwm_kb,cpu_s,loadavg1\n')
        for run in range(len(kill_at) + 1):
            argv = cmd if run == 0 else cmd[:1] + ['--resume'] + cmd[1:]
            counter.reset()
            start_records = counter.count()
            errf.write(f'--- run {run}: {" ".join(argv)}\n'.encode())
            errf.flush()
            p = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=errf)
            start = time.time()
            log(f'run {run} pid {p.pid} from record {start_records}'
                + (f', kill at record {kill_at[run]}' if run < len(kill_at) else ', to the end'))
            next_sample = start
            killed = False
            status = None
            cpu = 0.0
            while status is None:
                time.sleep(args.poll)
                now = time.time()
                records = counter.count()
                cpu = proc_cpu(p.pid) or cpu
                polls.append((now - t0, run, records, cpu))
                if now >= next_sample:
                    rss, hwm = proc_mem(p.pid)
                    if rss is not None:
                        with open('/proc/loadavg') as f:
                            load = f.read().split()[0]
                        csv.write(f'{now - t0:.2f},{run},{p.pid},{records},{rss},{hwm},'
                                  f'{cpu:.2f},{load}\n')
                        csv.flush()
                    next_sample += args.interval
                if run < len(kill_at) and records >= kill_at[run] and not killed:
                    os.kill(p.pid, signal.SIGKILL)
                    killed = True
                pid, st, ru = os.wait4(p.pid, os.WNOHANG)
                if pid == p.pid:
                    status = os.waitstatus_to_exitcode(st)
                    p.returncode = status
            end_records = counter.count()
            cpu = (ru.ru_utime + ru.ru_stime) if status is not None else cpu
            polls.append((time.time() - t0, run, end_records, cpu))
            runs.append({'run': run, 'pid': p.pid, 'start_s': start - t0,
                         'end_s': time.time() - t0, 'records_start': start_records,
                         'records_end': end_records, 'exit': status, 'killed': killed,
                         'maxrss_kb': ru.ru_maxrss, 'cpu_s': round(cpu, 2)})
            log(f'run {run} ended: exit {status}, {end_records} records, '
                f'peak RSS {ru.ru_maxrss / 1024:.1f} MiB')
    return runs, polls, time.time() - t0


def reference(args, paths, ref_out):
    """One fresh process over the given paths (stdin): path -> record."""
    if os.path.exists(ref_out):
        os.remove(ref_out)
    cmd = [args.exe, '-q', '-j', str(args.jobs), '--format', 'jsonl', '-o', ref_out]
    if args.model:
        cmd += ['-m', args.model]
    subprocess.run(cmd + ['-'], input=''.join(p + '\n' for p in paths).encode(),
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    recs = {}
    with open(ref_out, encoding='utf-8') as f:
        for line in f:
            r = json.loads(line)
            recs[r['path']] = r
    return recs


# ---------------------------------------------------------------- checks

def read_records(out):
    """Strict parse: (records, problems)."""
    recs, problems = [], []
    with open(out, 'rb') as f:
        data = f.read()
    if data and not data.endswith(b'\n'):
        problems.append('file does not end with a newline')
    for n, line in enumerate(data.split(b'\n')[:-1] if data.endswith(b'\n') else
                             data.split(b'\n'), 1):
        try:
            r = json.loads(line.decode('utf-8'))
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            problems.append(f'line {n}: {e}')
            continue
        if not isinstance(r, dict) or not isinstance(r.get('path'), str):
            problems.append(f'line {n}: no path')
        elif ('caption' in r) == ('error' in r):
            problems.append(f'line {n}: needs exactly one of caption and error')
        elif 'caption' in r and not (isinstance(r['caption'], str) and r['caption']):
            problems.append(f'line {n}: empty caption')
        else:
            recs.append(r)
    return recs, problems


def windows(polls, runs, size):
    """Per `size`-record window inside one run: list of (first record, images per wall
    second, images per CPU second of the process)."""
    out = []
    total = max(r['records_end'] for r in runs)
    for k in range(total // size):
        lo, hi = k * size, (k + 1) * size
        p_lo = next((p for p in polls if p[2] >= lo), None)
        p_hi = next((p for p in polls if p[2] >= hi), None)
        if p_lo is None or p_hi is None or p_lo[1] != p_hi[1]:
            continue
        run = runs[p_lo[1]]
        if lo < run['records_start']:   # began in the run before
            continue
        if lo == run['records_start']:  # from the process start
            p_lo = (run['start_s'], p_lo[1], lo, 0.0)
        out.append((lo, size / (p_hi[0] - p_lo[0]), size / max(p_hi[3] - p_lo[3], 1e-6)))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--images', type=int, default=20000)
    ap.add_argument('--damaged', type=float, default=0.10, help='fraction damaged')
    ap.add_argument('--seed', type=int, default=1)
    ap.add_argument('--workdir', default='/tmp/caption-soak')
    ap.add_argument('--exe', default=os.path.join(ROOT, 'build', 'caption'))
    ap.add_argument('--model', help='passed as -m (default: the program\'s default)')
    ap.add_argument('--jobs', type=int, default=2)
    ap.add_argument('--kills', type=int, default=3)
    ap.add_argument('--interval', type=float, default=2.0, help='RSS sampling, seconds')
    ap.add_argument('--poll', type=float, default=0.25, help='record counting, seconds')
    ap.add_argument('--ref-good', type=int, default=200,
                    help='good images also captioned in the reference pass')
    ap.add_argument('--gen-procs', type=int, default=2)
    ap.add_argument('--analyze-only', action='store_true',
                    help='redo the checks from a finished run in --workdir')
    args = ap.parse_args()
    args.workdir = os.path.abspath(args.workdir)
    args.exe = os.path.abspath(args.exe)
    if args.images < 6000:
        print('soak: fewer than 6,000 images leaves little room for the kills, the RSS '
              'windows and the throughput windows', file=sys.stderr)
    os.makedirs(args.workdir, exist_ok=True)
    imgdir = os.path.join(args.workdir, 'images')
    out = os.path.join(args.workdir, 'out.jsonl')

    man = generate(args, imgdir, os.path.join(args.workdir, 'manifest.json'))
    files = {os.path.join(imgdir, e['path']): e for e in man['files']}

    rng = random.Random(args.seed + 7)
    lo_k, hi_k = min(2500, args.images // 4), args.images - min(1500, args.images // 10)
    part = (hi_k - lo_k) / max(args.kills, 1)
    kill_at = [int(lo_k + part * i + rng.uniform(0, part)) for i in range(args.kills)]
    date = datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%d %H:%M UTC')
    run_path = os.path.join(args.workdir, 'run.json')
    damaged = [p for p, e in files.items() if not e['good']]
    good_sample = random.Random(args.seed + 11).sample(
        sorted(p for p, e in files.items() if e['good']), args.ref_good)
    ref_path = os.path.join(args.workdir, 'ref.jsonl')
    if args.analyze_only:
        with open(run_path) as f:
            saved = json.load(f)
        runs, polls, wall, kill_at = saved['runs'], saved['polls'], saved['wall'], saved['kill_at']
        date = saved.get('date', '?')
        ref = {}
        with open(ref_path, encoding='utf-8') as f:
            for line in f:
                r = json.loads(line)
                ref[r['path']] = r
    else:
        runs, polls, wall = soak_run(args, imgdir, out, kill_at)
        with open(run_path, 'w') as f:
            json.dump({'runs': runs, 'polls': polls, 'wall': wall, 'kill_at': kill_at,
                       'date': date}, f)
        log('reference pass')
        ref = reference(args, sorted(damaged + good_sample), ref_path)

    # ---- checks
    checks = []   # (name, ok, detail)
    recs, problems = read_records(out)
    checks.append(('jsonl parses strictly', not problems,
                   f'{len(recs)} records' + (f'; {problems[:3]}' if problems else '')))
    seen = {}
    for r in recs:
        seen[r['path']] = seen.get(r['path'], 0) + 1
    dups = sorted(p for p, n in seen.items() if n > 1)
    lost = sorted(p for p in files if p not in seen)
    extra = sorted(p for p in seen if p not in files)
    checks.append(('duplicates', not dups, f'{len(dups)} ' + ' '.join(dups[:3])))
    checks.append(('lost', not lost, f'{len(lost)} ' + ' '.join(lost[:3])))
    checks.append(('unknown paths', not extra, f'{len(extra)} ' + ' '.join(extra[:3])))
    byp = {r['path']: r for r in recs}
    good_failed = sorted(p for p, e in files.items() if e['good'] and 'error' in byp.get(p, {}))
    n_good = sum(e['good'] for e in files.values())
    checks.append(('good images captioned', not good_failed,
                   f'{n_good - len(good_failed)}/{n_good}' +
                   (f'; failed: {good_failed[:3]}' if good_failed else '')))
    mismatch, dmg_err, dmg_cap, by_kind = [], 0, 0, {}
    for p in damaged:
        r, rr = byp.get(p), ref.get(p)
        if r is None:
            continue
        k = by_kind.setdefault(files[p]['kind'], [0, 0])
        if 'error' in r:
            dmg_err += 1
            k[0] += 1
        else:
            dmg_cap += 1
            k[1] += 1
        if rr is None or r.get('error') != rr.get('error') or r.get('caption') != rr.get('caption'):
            mismatch.append(p)
    checks.append(('damaged recorded as alone', not mismatch,
                   f'{len(damaged)} damaged: {dmg_err} error records, {dmg_cap} still decode '
                   f'and are captioned; {len(mismatch)} differ from the reference pass'
                   + (f' {mismatch[:3]}' if mismatch else '')))
    cap_diff = [p for p in good_sample if p in byp and p in ref
                and byp[p].get('caption') != ref[p].get('caption')]
    checks.append(('good captions as alone', not cap_diff,
                   f'{len(good_sample) - len(cap_diff)}/{len(good_sample)} sampled good images '
                   'have the reference pass\'s caption'))
    # stderr: one `caption: PATH: reason` per damaged file that failed (informative)
    err_count = {}
    with open(os.path.join(args.workdir, 'stderr.log'), 'rb') as f:
        for line in f:
            line = line.decode('utf-8', 'replace')
            if line.startswith('caption: '):
                p = line[9:].rsplit(': ', 1)[0]
                while p not in files and ': ' in p:
                    p = p.rsplit(': ', 1)[0]
                err_count[p] = err_count.get(p, 0) + 1
    err_paths = [p for p in damaged if 'error' in byp.get(p, {})]
    stderr_once = sum(err_count.get(p, 0) == 1 for p in err_paths)
    stderr_twice = sorted(p for p in err_paths if err_count.get(p, 0) > 1)
    stderr_none = sorted(p for p in err_paths if err_count.get(p, 0) == 0)
    stderr_other = sorted(p for p in err_count if p not in err_paths)
    # exits: killed runs -9, the last one 0 or 1 (1 when it met a damaged file itself)
    exits_ok = all(r['exit'] == -9 for r in runs[:-1]) and runs[-1]['exit'] in (0, 1)
    checks.append(('exit statuses', exits_ok, ' '.join(str(r['exit']) for r in runs)))
    # RSS
    samples = []
    with open(os.path.join(args.workdir, 'rss.csv')) as f:
        next(f)
        for line in f:
            t, run, pid, n, rss, hwm = line.strip().split(',')[:6]
            samples.append((float(t), int(run), int(n), int(rss), int(hwm)))
    total = len(recs)
    first = [s for s in samples if 1000 <= s[2] <= 2000]
    last = [s for s in samples if s[2] >= total - 1000]
    rss_first = max((s[3] for s in first), default=None)
    rss_last = max((s[3] for s in last), default=None)
    rss_ok = (rss_first is not None and rss_last is not None and
              rss_last <= rss_first * 1.1 + 5 * 1024)
    checks.append(('RSS flat', rss_ok,
                   f'max VmRSS records 1,000-2,000: {fmt_mb(rss_first)} ({len(first)} samples), '
                   f'last 1,000: {fmt_mb(rss_last)} ({len(last)} samples); '
                   'flat = last <= first x 1.1 + 5 MiB'))
    # throughput
    # Images per wall second depend on what else the machine runs; images per CPU second
    # of the caption process do not, and are what the check uses (wall rates reported).
    win = windows(polls, runs, 1000)
    rates = [r for _, r, _ in win]
    cpu_rates = [c for _, _, c in win]
    ok_n = len(rates) >= 6
    head = statistics.median(rates[:3]) if ok_n else None
    tail = statistics.median(rates[-3:]) if ok_n else None
    chead = statistics.median(cpu_rates[:3]) if ok_n else None
    ctail = statistics.median(cpu_rates[-3:]) if ok_n else None
    checks.append(('throughput steady (CPU)', ok_n and ctail >= 0.75 * chead,
                   f'{len(cpu_rates)} windows of 1,000 records: min {min(cpu_rates):.1f}, '
                   f'median {statistics.median(cpu_rates):.1f}, max {max(cpu_rates):.1f} '
                   f'images per CPU second; first 3 {chead:.1f}, last 3 {ctail:.1f} '
                   '(steady = last >= 0.75 x first)' if ok_n else
                   f'{len(rates)} windows: too few'))
    wall_note = ('' if not ok_n else 'ok' if tail >= 0.75 * head else
                 'SLOWER (last 3 < 0.75 x first 3: see loadavg1 in rss.csv)')

    summary = {
        'date': date,
        'machine': f'{platform.machine()}, {os.cpu_count()} cores, {platform.node()}',
        'command': ' '.join([args.exe, '-q', '-j', str(args.jobs), '--format', 'jsonl', '-o',
                             out, imgdir]),
        'images': len(files), 'good': n_good, 'damaged': len(damaged),
        'damaged_error': dmg_err, 'damaged_captioned': dmg_cap,
        'damaged_by_kind': {k: {'error': v[0], 'captioned': v[1]}
                            for k, v in sorted(by_kind.items())},
        'kills': sum(r['killed'] for r in runs), 'kill_at_records': kill_at,
        'runs': runs, 'records': total, 'duplicates': len(dups), 'lost': len(lost),
        'rss_first_kb': rss_first, 'rss_last_kb': rss_last,
        'peak_rss_kb_per_run': [r['maxrss_kb'] for r in runs],
        'stderr_errors_once': stderr_once, 'stderr_errors_twice': len(stderr_twice),
        'stderr_errors_missing': len(stderr_none), 'stderr_other_paths': len(stderr_other),
        'throughput_windows': [[lo, round(r, 2), round(c, 2)] for lo, r, c in win],
        'throughput_cpu_min': min(cpu_rates) if rates else None,
        'throughput_cpu_median': statistics.median(cpu_rates) if rates else None,
        'throughput_cpu_max': max(cpu_rates) if rates else None,
        'throughput_min': min(rates) if rates else None,
        'throughput_median': statistics.median(rates) if rates else None,
        'throughput_max': max(rates) if rates else None,
        'wall_s': round(wall, 1),
        'images_per_s_overall': round(len(files) / wall, 1),
        'cpu_s_total': round(sum(r['cpu_s'] for r in runs), 1),
        'checks': {name: ok for name, ok, _ in checks},
    }
    lines = [
        f'soak {summary["date"]}  {summary["machine"]}',
        f'images {len(files)} ({n_good} good, {len(damaged)} damaged), records {total}',
        f'runs {len(runs)}, kills {summary["kills"]} (SIGKILL at records {kill_at}), '
        f'exits {[r["exit"] for r in runs]}',
        f'wall {wall:.0f} s, {len(files) / wall:.1f} images/s overall '
        f'(kills and restarts included)',
        (f'wall images/s per 1,000-record window: min {min(rates):.1f}, median '
         f'{statistics.median(rates):.1f}, max {max(rates):.1f}; first 3 {head:.1f}, last 3 '
         f'{tail:.1f} {wall_note}' if ok_n else 'wall images/s: too few windows'),
        f'peak RSS per run (ru_maxrss): '
        + ', '.join(fmt_mb(r['maxrss_kb']) for r in runs),
        f'stderr: {stderr_once} failing damaged files reported once, {len(stderr_twice)} '
        f'twice (killed after the message, before the record), {len(stderr_none)} never, '
        f'{len(stderr_other)} other paths',
        'damaged by kind (error / captioned): ' + ', '.join(
            f'{k} {v[0]}/{v[1]}' for k, v in sorted(by_kind.items())),
        '',
        f'{"check":28} {"":4} detail',
    ]
    for name, ok, detail in checks:
        lines.append(f'{name:28} {"ok" if ok else "FAIL":4} {detail}')
    text = '\n'.join(lines)
    print(text)
    with open(os.path.join(args.workdir, 'summary.txt'), 'w') as f:
        f.write(text + '\n')
    with open(os.path.join(args.workdir, 'summary.json'), 'w') as f:
        json.dump(summary, f, indent=1)
    return 0 if all(ok for _, ok, _ in checks) else 1


def fmt_mb(kb):
    return 'n/a' if kb is None else f'{kb / 1024:.1f} MiB'


if __name__ == '__main__':
    sys.exit(main())
