#!/bin/sh
# The whole training recipe of models/caption-flickr8k.bin, one command, about 1.5-2 h on 2 CPU
# cores (models/README.md has the measured times). Run it in the background:
#
#   nohup tools/train_all.sh > cache/train_all.log 2>&1 &
#
# Every stage resumes: prepare_data.py is skipped when its cache exists, train.py and
# train_scst.py continue from their last.pt after the last finished epoch, so rerunning the same
# command after an interruption picks up where it stopped. To retrain from scratch, delete cache/
# (or point CACHE at an empty folder). Environment: CACHE (default cache), MODEL (default
# models/caption-flickr8k.bin), XE_EPOCHS (5), SCST_EPOCHS (3).
set -eu
cd "$(dirname "$0")/.."
PY=/usr/bin/python3
CACHE=${CACHE:-cache}
MODEL=${MODEL:-models/caption-flickr8k.bin}
XE_EPOCHS=${XE_EPOCHS:-5}
SCST_EPOCHS=${SCST_EPOCHS:-3}

echo "== $(date -u +%H:%M:%S) 1/4 vocabulary and cached encoder trunk outputs"
if [ -f "$CACHE/trunk_train_flip.npy" ]; then
    echo "   $CACHE already holds them"
else
    $PY tools/prepare_data.py --out "$CACHE"
fi
echo "== $(date -u +%H:%M:%S) 2/4 cross-entropy training ($XE_EPOCHS epochs, encoder head fine-tuned)"
$PY tools/train.py --cache "$CACHE" --out "$CACHE/run_xe" --epochs "$XE_EPOCHS"
echo "== $(date -u +%H:%M:%S) 3/4 self-critical training on CIDEr-D ($SCST_EPOCHS epochs)"
$PY tools/train_scst.py --cache "$CACHE" --init "$CACHE/run_xe/best.pt" --out "$CACHE/run_scst" \
    --epochs "$SCST_EPOCHS"
echo "== $(date -u +%H:%M:%S) 4/4 export"
$PY tools/export_model.py --checkpoint "$CACHE/run_scst/best.pt" --out "$MODEL"
echo "== $(date -u +%H:%M:%S) done; evaluate the C program with: $PY tools/compare_dev.py --beam 3"
