#!/bin/sh
# bench_batch.sh - images per second of `caption` over the Flickr8k dev images, for -j 1 and
# -j 2 and the ways of sharing the cores between workers and OpenBLAS threads.
#
#   tools/bench_batch.sh [CAPTION_EXE [MODEL]]     (from the repository root)
#   LIMIT=200 tools/bench_batch.sh                 (fewer images, for a quick look)
#
# Each configuration captions the same list, read from stdin, into a JSONL file, with the
# default beam (3) and length (20); wall time covers the whole run (model load included).
# The row marked "default" is what `caption` picks by itself on this machine.
set -eu

EXE=${1:-build/caption}
MODEL=${2:-models/caption-flickr8k.bin}
DATA=${DATA:-../shared/data/flickr8k}
LIMIT=${LIMIT:-1000}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

head -n "$LIMIT" "$DATA/Flickr_8k.devImages.txt" | sed "s|^|$DATA/images/|" > "$TMP/list"
N=$(wc -l < "$TMP/list")
CORES=$(nproc)
echo "caption batch benchmark: $N dev images, $CORES cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
echo "exe $EXE, model $MODEL"
printf '%-4s %-13s %-9s %-10s %s\n' "-j" "blas threads" "seconds" "images/s" ""

bench() { # JOBS BLAS_THREADS
    start=$(date +%s.%N)
    "$EXE" --model "$MODEL" --quiet --format jsonl -o "$TMP/out.jsonl" -j "$1" \
        --blas-threads "$2" - < "$TMP/list"
    end=$(date +%s.%N)
    got=$(wc -l < "$TMP/out.jsonl")
    [ "$got" -eq "$N" ] || { echo "expected $N records, got $got" >&2; exit 1; }
    # What the program would choose with -j alone: max(1, cores / jobs) BLAS threads.
    auto=$((CORES / $1)); [ "$auto" -ge 1 ] || auto=1
    note=""; [ "$2" -eq "$auto" ] && note="(default for -j $1)"
    [ "$1" -eq "$CORES" ] && [ "$2" -eq "$auto" ] && note="(default)"
    awk -v j="$1" -v b="$2" -v s="$start" -v e="$end" -v n="$N" -v note="$note" \
        'BEGIN { printf "%-4s %-13s %-9.1f %-10.2f %s\n", j, b, e - s, n / (e - s), note }'
}

bench 1 1
bench 1 2
bench 2 1
bench 2 2
