#!/bin/sh
# Regenerate the README's attention figures and viewer screenshot (docs/*.png) with the
# shipped model. Run from the checkout after building; the screenshot needs xvfb-run.
#   tools/make_readme_figures.sh [BUILD_DIR]      (default: build)
set -eu
build=${1:-build}
caption="$build/caption --model ${CAPTION_MODEL:-models/caption-flickr8k.bin}"
mkdir -p docs
for photo in pets.jpg parrot.jpg; do
    $caption --attention-png "docs/attention-${photo%.*}.png" "assets/$photo"
done
xvfb-run -a -s "-screen 0 1280x1024x24" \
    $caption --view assets/pets.jpg --step 5 --screenshot docs/viewer-pets.png
ls -l docs/attention-*.png docs/viewer-pets.png
