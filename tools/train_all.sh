#!/bin/sh
# The whole training recipe of models/caption-flickr8k.bin (format version 2, with the tagger),
# one command, about 81 minutes on 2 CPU cores before the speed settings below (models/README.md
# has the measured times; the settings halve a training step). Run it
# in the background:
#
#   nohup tools/train_all.sh > cache/train_all.log 2>&1 &
#
# Every stage resumes: prepare_data.py is skipped when its cache exists, and train.py and
# train_scst.py continue from their last.pt after the last finished epoch, so rerunning the same
# command after an interruption picks up where it stopped. To retrain from scratch, delete cache/
# (or point CACHE at an empty folder). Environment: CACHE (default cache), MODEL (default
# models/caption-flickr8k.bin), EPOCHS (default 6).
set -eu
cd "$(dirname "$0")/.."
PY=/usr/bin/python3
# Two settings that change no result and halve the time on this project's VM (models/README.md,
# "Training speed"): glibc's malloc backs PyTorch's large activation buffers with huge pages
# (they are mapped anew every batch, and a 4 KB page fault costs a lot here: the cache's trunk
# ran 286 -> 13-36 ms an image), and OpenMP's idle threads sleep instead of spinning against
# OpenBLAS's own threads for the same 2 cores (a training step 3.1 -> 1.6 s).
export GLIBC_TUNABLES=glibc.malloc.hugetlb=1
export OMP_WAIT_POLICY=PASSIVE
CACHE=${CACHE:-cache}
MODEL=${MODEL:-models/caption-flickr8k.bin}
EPOCHS=${EPOCHS:-6}

echo "== $(date -u +%H:%M:%S) 1/4 vocabulary and cached encoder trunk outputs"
if [ -f "$CACHE/trunk_train_flip.npy" ]; then
    echo "   $CACHE already holds them"
else
    $PY tools/prepare_data.py --out "$CACHE"
fi
echo "== $(date -u +%H:%M:%S) 2/4 cross-entropy training ($EPOCHS epochs; encoder head fine-tuned from epoch 2)"
$PY tools/train.py --cache "$CACHE" --out "$CACHE/run_xe" --epochs "$EPOCHS"
$PY tools/average_checkpoints.py "$CACHE/run_xe/average.pt" \
    "$CACHE/run_xe/epoch_$((EPOCHS - 1)).pt" "$CACHE/run_xe/epoch_$EPOCHS.pt"
echo "== $(date -u +%H:%M:%S) 3/4 one epoch of self-critical training on CIDEr-D from the mean of the last two epochs"
# Seed 2: chosen on dev among the two seeds tried on a from-scratch run (the model card's
# Reproducibility section has both, and the spread over seeds and runs).
$PY tools/train_scst.py --cache "$CACHE" --init "$CACHE/run_xe/average.pt" --out "$CACHE/run_scst" \
    --sample-from beam --end-mark --leave-best-out --epochs 1 --seed 2
echo "== $(date -u +%H:%M:%S) 4/4 export: the mean of the cross-entropy weights and their self-critical fine-tune"
# The export writes format version 2 (docs/file-format.md): the model plus the ImageNet tagger,
# the class table and the class words with rows transferred from trained words
# (captioner/open_vocab.py; it also rewrites tools/data/transferred_words.tsv).
$PY tools/average_checkpoints.py "$CACHE/model.pt" "$CACHE/run_xe/average.pt" "$CACHE/run_scst/epoch_1.pt"
$PY tools/export_model.py --checkpoint "$CACHE/model.pt" --out "$MODEL"
echo "== $(date -u +%H:%M:%S) done; score the C program with: $PY tools/compare_dev.py --beam 3"
