#!/bin/sh
# vocoder_fsdd.sh: issue 22's recipe, first part: a WaveNet vocoder trained on FSDD train
# (--condition fbank: 40-bin Kaldi log-mel at 8 kHz, 10 ms hop), then copy synthesis of
# FSDD test from its own features, and the distances to the originals beside Griffin-Lim's.
#
#   train/recipe/vocoder_fsdd.sh [STEPS] [OUT]       (default 3000 steps, runs/vocoder_fsdd)
#
# Needs ../shared/data/fsdd (the full FSDD, 2,500 recordings; or set FSDD=DIR holding its
# manifest.csv), python3-torch and python3-torchaudio for the Griffin-Lim baseline.
set -eu
STEPS=${1:-3000}
OUT=${2:-runs/vocoder_fsdd}
FSDD=${FSDD:-../shared/data/fsdd}
NS=${NS:-nextsample}
mkdir -p "$OUT"
$NS train --data "$FSDD/manifest.csv" --val-split test --val-samples 200000 --condition fbank \
	--batch 8 --crop 4000 --steps "$STEPS" --eval-every 500 --save-every 1000 --out "$OUT/run" 2>&1 | tee "$OUT/train.txt"
$NS vocode --model "$OUT/run/best.safetensors" --data "$FSDD/manifest.csv" --split test --out "$OUT/vocoded" 2>&1 | tee "$OUT/vocode.txt"
$NS compare --split test "$FSDD/manifest.csv" "$OUT/vocoded" >"$OUT/compare_vocoder.txt"
tail -1 "$OUT/compare_vocoder.txt"
if [ ! -d "$OUT/griffin_lim" ]; then
	/usr/bin/python3 "$(dirname "$0")/griffin_lim.py" "$FSDD/manifest.csv" test "$OUT/griffin_lim"
fi
$NS compare --split test "$FSDD/manifest.csv" "$OUT/griffin_lim" >"$OUT/compare_griffin_lim.txt"
tail -1 "$OUT/compare_griffin_lim.txt"
