#!/usr/bin/env bash
# Build the libFuzzer targets with clang (ASan + UBSan) against the library sources and run
# each for SECONDS on one core (one process, no -jobs/-workers: those would fork children
# logging to ./fuzz-N.log), one after another, from its committed seed corpus.
#   tests/fuzz/run.sh SECONDS [jpeg] [png] [model] [resume]     (default: all four)
# Needs: apt-get install -y clang libclang-rt-14-dev libjpeg62-turbo-dev libpng-dev libexif-dev
#        libcjson-dev
# Builds in $FUZZ_BUILD (default /tmp/caption-fuzz); new corpus entries go to
# $FUZZ_BUILD/corpus-NAME (the committed seeds are only read), crashes to
# $FUZZ_BUILD/artifacts-NAME/. Exit status 1 if any target found a crash. $FUZZ_TIMEOUT
# (default 2) is the per-input time limit in seconds.
set -euo pipefail
secs=${1:?usage: run.sh SECONDS [jpeg|png|model|resume]...}
shift
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(jpeg png model resume)
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
out=${FUZZ_BUILD:-/tmp/caption-fuzz}
cc=${CC_FUZZ:-clang}
mkdir -p "$out"

cflags=(-g -O1 -fno-omit-frame-pointer -fsanitize=fuzzer,address,undefined
        -fno-sanitize-recover=undefined -std=c11 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE
        -Wall -Wextra -I"$root/include" -I"$root/src")
libs=($(pkg-config --libs libjpeg libpng libexif zlib) -lm)
srcs=("$root/src/error.c" "$root/src/image.c" "$root/src/image_exif.c" "$root/src/image_jpeg.c"
      "$root/src/image_png.c" "$root/src/resize.c" "$root/src/model.c"
      "$root/src/common/signature.c")
# The --resume reader (src/cli/resume.c over output_scan) and what it links: the CLI's
# record code (output.c names model words, hence model.c) and the common helpers.
resume_srcs=("$root/src/cli/resume.c" "$root/src/cli/inputs.c" "$root/src/cli/output.c"
             "$root/src/cli/pathcode.c" "$root/src/common/hash.c" "$root/src/common/clock.c"
             "$root/src/common/tag_text.c" "$root/src/common/signature.c"
             "$root/src/model.c" "$root/src/error.c")

status=0
for t in "${targets[@]}"; do
    bin=$out/fuzz_$t
    if [ "$t" = resume ]; then
        "$cc" "${cflags[@]}" -o "$bin" "$here/fuzz_$t.c" "${resume_srcs[@]}" -lcjson -lm
    else
        "$cc" "${cflags[@]}" -o "$bin" "$here/fuzz_$t.c" "${srcs[@]}" "${libs[@]}"
    fi
    mkdir -p "$out/corpus-$t" "$out/artifacts-$t"
    dict=()
    [ -f "$here/$t.dict" ] && dict=(-dict="$here/$t.dict")
    log=$out/fuzz_$t.log
    echo "== fuzz_$t: $secs s, log $log"
    # Per-input limits, so that an input costing far more than its bytes is a failure
    # (artifact slow-unit-* / oom-* / timeout-*) like a crash. An image's cost may grow with
    # its declared size up to the 100-megapixel cap, about 25 KB of RGB per input byte at
    # best (1-bit PNG at deflate's 1032:1); image inputs stay under 4 KB (the seeds are
    # under 1.2 KB) so that a legitimate image stays within 512 MB and 2 s under ASan.
    # Resume inputs (output files, seeds under 4 KB) are read linearly: 4 KB too.
    # FUZZ_TIMEOUT raises the per-input limit on a loaded machine, where a starved process
    # can pass 2 s of wall time on an input that takes milliseconds alone.
    max_len=4096
    # Model inputs reach the version-2 class table (which ends at 73 KB in the shipped file).
    [ "$t" = model ] && max_len=131072
    set +e
    "$bin" -max_total_time="$secs" -print_final_stats=1 \
        -rss_limit_mb=512 -malloc_limit_mb=512 -max_len=$max_len -timeout="${FUZZ_TIMEOUT:-2}" \
        -artifact_prefix="$out/artifacts-$t/" "${dict[@]}" \
        "$out/corpus-$t" "$here/corpus/$t" >"$log" 2>&1
    rc=$?
    set -e
    # The last status line carries coverage (cov), features (ft) and exec/s.
    grep -E '^#[0-9]+' "$log" | tail -n 1 || true
    grep -E 'stat::(number_of_executed_units|average_exec_per_sec|peak_rss_mb)' "$log" || true
    crashes=$(find "$out/artifacts-$t" -type f | wc -l)
    echo "fuzz_$t: exit $rc, crash/leak/timeout/oom/slow artifacts: $crashes"
    [ "$rc" -eq 0 ] && [ "$crashes" -eq 0 ] || status=1
done
exit $status
