#!/bin/sh
# vocoder_fsdd.sh: issue 22's recipe, first part: a WaveNet vocoder trained on FSDD train
# (--condition fbank: 40-bin Kaldi log-mel at 8 kHz, 10 ms hop), then copy synthesis of
# FSDD test from its own features, and the distances to the originals beside Griffin-Lim's.
#
#   train/recipe/vocoder_fsdd.sh [STEPS] [OUT]       (default 3000 steps, runs/vocoder_fsdd)
#
# Needs ../shared/data/fsdd (the full FSDD, 2,500 recordings; or set FSDD=DIR holding its
# manifest.csv), sox, and python3-torch and python3-torchaudio for the Griffin-Lim baseline.
set -eu
STEPS=${1:-3000}
OUT=${2:-runs/vocoder_fsdd}
FSDD=${FSDD:-../shared/data/fsdd}
NS=${NS:-nextsample}
mkdir -p "$OUT"
$NS train --data "$FSDD/manifest.csv" --val-split test --val-samples 200000 --condition fbank \
	--batch 8 --crop 4000 --steps "$STEPS" --eval-every 500 --save-every 1000 --out "$OUT/run" 2>&1 | tee "$OUT/train.txt"
$NS vocode --model "$OUT/run/best.safetensors" --data "$FSDD/manifest.csv" --split test --out "$OUT/vocoded" 2>&1 | tee "$OUT/vocode.txt"
# The model speaks at the level it was trained on (peak scaled to 0.95); give each file its
# original's peak back (sox) so that level-sensitive measures (LSD, the probe) compare speech.
mkdir -p "$OUT/vocoded-level/recordings"
for f in $(awk -F, 'NR > 1 && $4 == "test" {print $1}' "$FSDD/manifest.csv"); do
	peak=$(sox "$FSDD/$f" -n stat 2>&1 | awk '/Maximum amplitude/ {a = $3} /Minimum amplitude/ {b = -$3} END {print (a > b) ? a : b}')
	sox -v "$(echo "$peak" | awk '{print $1 / 0.95}')" "$OUT/vocoded/$f" "$OUT/vocoded-level/$f"
done
$NS compare --split test "$FSDD/manifest.csv" "$OUT/vocoded-level" >"$OUT/compare_vocoder.txt"
tail -1 "$OUT/compare_vocoder.txt"
if [ ! -d "$OUT/griffin_lim" ]; then
	/usr/bin/python3 "$(dirname "$0")/griffin_lim.py" "$FSDD/manifest.csv" test "$OUT/griffin_lim"
fi
$NS compare --split test "$FSDD/manifest.csv" "$OUT/griffin_lim" >"$OUT/compare_griffin_lim.txt"
tail -1 "$OUT/compare_griffin_lim.txt"

# How recognisable is the resynthesised speech? probe's fbank classifier trained on the real
# train recordings, scored on the real test recordings and on their copy synthesis: a corpus
# whose train files are the real ones and whose test files are the vocoded ones, keyed alike.
recognise() { # recognise NAME DIR_OF_TEST_WAVS
	mix="$OUT/mix-$1"
	rm -rf "$mix" && mkdir -p "$mix/recordings"
	cp "$FSDD/manifest.csv" "$mix/manifest.csv"
	for f in "$FSDD"/recordings/*.wav; do
		b=$(basename "$f")
		if [ -f "$2/recordings/$b" ]; then
			ln -s "$(cd "$2/recordings" && pwd)/$b" "$mix/recordings/$b"
		else
			ln -s "$(cd "$(dirname "$f")" && pwd)/$b" "$mix/recordings/$b"
		fi
	done
	rm -rf "$mix/fbank"
	$NS features --kind fbank --data "$mix/manifest.csv" --out "$mix/fbank" >/dev/null 2>&1
	for label in label speaker; do
		printf '%s %s: ' "$1" "$label"
		$NS probe --features "$mix/fbank" --data "$mix/manifest.csv" --label "$label" --protocol split 2>/dev/null | grep -i 'accuracy' | head -1
	done
}
recognise real "$FSDD"
recognise vocoder "$OUT/vocoded-level"
recognise griffin_lim "$OUT/griffin_lim"
