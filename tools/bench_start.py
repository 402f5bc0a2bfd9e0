#!/usr/bin/python3
"""Process start to exit of two commands, alternated (A B, B A, ...) so that a busy machine's
load falls on both alike: medians of wall time (fork to exit) and CPU time (user + system,
from wait4). The first round only warms the page cache.

usage: tools/bench_start.py N CMD_A... -- CMD_B...
e.g.   tools/bench_start.py 10 /tmp/wt-base/build/caption assets/pets.jpg -- build/caption assets/pets.jpg
"""
import os
import statistics
import sys
import time


def run_once(argv):
    t0 = time.monotonic()
    pid = os.fork()
    if pid == 0:
        fd = os.open(os.devnull, os.O_WRONLY)
        os.dup2(fd, 1)
        os.execv(argv[0], argv)
    _, status, usage = os.wait4(pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit("%s failed" % " ".join(argv))
    return (time.monotonic() - t0) * 1000, (usage.ru_utime + usage.ru_stime) * 1000


def main():
    if len(sys.argv) < 5 or "--" not in sys.argv:
        sys.exit(__doc__)
    n = int(sys.argv[1])
    rest = sys.argv[2:]
    cut = rest.index("--")
    cmds = {"A": rest[:cut], "B": rest[cut + 1:]}
    times = {"A": [], "B": []}
    for k in range(n + 1):
        for name in ("A", "B") if k % 2 == 0 else ("B", "A"):
            t = run_once(cmds[name])
            if k > 0:
                times[name].append(t)
    for name in ("A", "B"):
        wall = [t[0] for t in times[name]]
        cpu = [t[1] for t in times[name]]
        print("%s: wall median %.1f ms (min %.1f), CPU median %.1f ms: %s"
              % (name, statistics.median(wall), min(wall), statistics.median(cpu),
                 " ".join(cmds[name])))


if __name__ == "__main__":
    main()
