#!/bin/sh
# The whole training recipe of models/caption-flickr8k.bin, one command, about 70 minutes on
# 2 CPU cores (models/README.md has the measured times). Run it in the background:
#
#   nohup tools/train_all.sh > cache/train_all.log 2>&1 &
#
# Every stage resumes: prepare_data.py is skipped when its cache exists, and train.py continues
# from its last.pt after the last finished epoch, so rerunning the same command after an
# interruption picks up where it stopped. To retrain from scratch, delete cache/ (or point CACHE
# at an empty folder). Environment: CACHE (default cache), MODEL (default
# models/caption-flickr8k.bin), EPOCHS (default 6).
set -eu
cd "$(dirname "$0")/.."
PY=/usr/bin/python3
CACHE=${CACHE:-cache}
MODEL=${MODEL:-models/caption-flickr8k.bin}
EPOCHS=${EPOCHS:-6}

echo "== $(date -u +%H:%M:%S) 1/3 vocabulary and cached encoder trunk outputs"
if [ -f "$CACHE/trunk_train_flip.npy" ]; then
    echo "   $CACHE already holds them"
else
    $PY tools/prepare_data.py --out "$CACHE"
fi
echo "== $(date -u +%H:%M:%S) 2/3 training ($EPOCHS epochs; encoder head fine-tuned from epoch 2)"
$PY tools/train.py --cache "$CACHE" --out "$CACHE/run_xe" --epochs "$EPOCHS"
echo "== $(date -u +%H:%M:%S) 3/3 export: the mean of the last two epochs' weights"
$PY tools/average_checkpoints.py "$CACHE/run_xe/average.pt" \
    "$CACHE/run_xe/epoch_$((EPOCHS - 1)).pt" "$CACHE/run_xe/epoch_$EPOCHS.pt"
$PY tools/export_model.py --checkpoint "$CACHE/run_xe/average.pt" --out "$MODEL"
echo "== $(date -u +%H:%M:%S) done; score the C program with: $PY tools/compare_dev.py --beam 3"
