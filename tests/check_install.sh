#!/usr/bin/env bash
# check_install.sh BUILD_DIR - install a build into a scratch DESTDIR and use it as a
# stranger would: the exported symbols are exactly caption.h's functions, the example
# program (tools/example/example.c) compiles against the installed caption.pc with
# warnings as errors and captions a shipped photo with the installed model, and
# `man caption` finds the installed page. Run by .ci/run; needs pkg-config, cc and man.
set -euo pipefail
build=$(cd "${1:?usage: check_install.sh BUILD_DIR}" && pwd)
root=$(cd "$(dirname "$0")/.." && pwd)
dest=$(mktemp -d)
trap 'rm -rf "$dest"' EXIT

meson install -C "$build" --destdir "$dest" --quiet
pc=$(find "$dest" -name caption.pc)
[ -n "$pc" ] || { echo "check_install: no caption.pc installed" >&2; exit 1; }
libdir=$(dirname "$(dirname "$pc")")
export PKG_CONFIG_PATH=$(dirname "$pc") PKG_CONFIG_SYSROOT_DIR=$dest

# The ABI: the functions declared CAP_API in caption.h, nothing more, nothing less.
lib=$(find "$libdir" -name 'libcaption.so.*' -type f | head -n 1)
want=$(sed -n 's/^CAP_API [^(]*[ *]\(cap_[a-z_]*\)(.*/\1/p' "$root/include/caption.h" | sort)
have=$(nm -D --defined-only "$lib" | awk '{print $3}' | sort)
if [ "$want" != "$have" ]; then
    echo "check_install: exported symbols differ from caption.h:" >&2
    diff <(echo "$want") <(echo "$have") >&2 || true
    exit 1
fi
echo "exports: $(echo "$have" | wc -l) functions, all declared in caption.h"

cc -std=c11 -Wall -Wextra -Werror "$root/tools/example/example.c" -o "$dest/example" \
    $(pkg-config --cflags --libs caption)
model=$(find "$dest" -name caption-flickr8k.bin)
got=$(LD_LIBRARY_PATH=$libdir "$dest/example" "$model" "$root/assets/pets.jpg")
want_caption=$("$build/caption" --model "$root/models/caption-flickr8k.bin" "$root/assets/pets.jpg")
echo "example: $got"
[ "$got" = "$want_caption" ] || { echo "check_install: example says '$got', caption '$want_caption'" >&2; exit 1; }

mandir=$(dirname "$(dirname "$(find "$dest" -name 'caption.1*' | head -n 1)")")
MANPATH=$mandir man caption 2>/dev/null | grep -Eq '^ +caption +- ' ||
    { echo "check_install: man caption does not show the page" >&2; exit 1; }
echo "man: $(MANPATH=$mandir man -w caption)"
echo "check_install: ok"
