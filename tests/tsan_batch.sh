#!/usr/bin/env bash
# The batch path under ThreadSanitizer: -j 4 workers over a folder of photos (assets/
# copied three times) and one broken file, so that the work queue, the in-order writer,
# the sink, the progress counters and a failure's record all run concurrently. Any TSan
# report fails (halt_on_error, exit status 66); the run itself must exit 1 (the broken
# file) with one record per file.
#   tests/tsan_batch.sh BUILD_DIR    (a tree set up with -Db_sanitize=thread -Db_lundef=false)
# Builds only the caption program in BUILD_DIR. Prints its time; CI runs it (.ci/run).
set -euo pipefail
build=${1:?usage: tsan_batch.sh BUILD_DIR}
root=$(cd "$(dirname "$0")/.." && pwd)
start=$SECONDS
meson compile -C "$build" caption:executable

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir "$tmp/photos"
for i in 1 2 3; do
    for f in "$root"/assets/*.jpg "$root"/assets/*.png; do
        cp "$f" "$tmp/photos/$i-${f##*/}"
    done
done
head -c 3000 "$root/assets/pets.jpg" >"$tmp/photos/broken.jpg"
n=$(find "$tmp/photos" -type f | wc -l)

# GCC's TSan cannot map its shadow memory with the 32 bits of mmap randomisation of recent
# kernels; without randomisation it always can. (Containers may forbid that personality,
# and then the default must do.)
norand=()
if setarch "$(uname -m)" -R true 2>/dev/null; then
    norand=(setarch "$(uname -m)" -R)
fi
# --blas-threads 1: libopenblas is not instrumented, and its pool threads hand results back
# through spin-waits TSan cannot see, so with two BLAS threads per job every matrix product
# reads as a race (OpenBLAS's sgemm_beta memset against our worker's read of the result).
# With one, each product runs in the worker that asked for it: the races left are ours.
set +e
TSAN_OPTIONS="halt_on_error=1 exitcode=66 second_deadlock_stack=1" "${norand[@]}" \
    "$build/caption" --model "$root/models/caption-flickr8k.bin" --quiet -j 4 \
    --blas-threads 1 --format jsonl -o "$tmp/out.jsonl" "$tmp/photos" 2>"$tmp/stderr"
rc=$?
set -e
cat "$tmp/stderr"
records=$(wc -l <"$tmp/out.jsonl")
if [ "$rc" -ne 1 ] || grep -q ThreadSanitizer "$tmp/stderr" || [ "$records" -ne "$n" ] ||
    [ "$(wc -l <"$tmp/stderr")" -ne 1 ]; then
    echo "tsan_batch: FAILED: exit $rc (want 1), $records records for $n files" >&2
    exit 1
fi
echo "tsan_batch: $n files, -j 4, no ThreadSanitizer report, $((SECONDS - start)) s"
