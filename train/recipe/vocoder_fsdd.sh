#!/bin/sh
# vocoder_fsdd.sh: issue 22's recipe: a WaveNet vocoder (--condition fbank: 40-bin Kaldi
# log-mel at 8 kHz, 10 ms hop) trained on FSDD train, or on FSDD train + kde_voices, then
# copy synthesis of FSDD test from its own features, the distances to the originals beside
# Griffin-Lim's, and how recognisable the digits and speakers stay.
#
#   train/recipe/vocoder_fsdd.sh [STEPS] [OUT]       (default 3000 steps, runs/vocoder_fsdd)
#
#   CORPUS=mix    train on FSDD's train split plus ../shared/data/kde_voices (KDE=DIR) minus
#                 the six languages kde_voices.sh holds out (klettres he, hu, cs; ktuberling
#                 el, sl, gl), which are then vocoded too, as unseen voices (OUT/heldout).
#   BASELINE=1    also train the unconditioned model with the same recipe and seed, and
#                 score both on all of FSDD test (OUT/nll.txt): what the features are worth.
#
# Needs ../shared/data/fsdd (the full FSDD, 2,500 recordings; or set FSDD=DIR holding its
# manifest.csv), sox, and python3-torch and python3-torchaudio for the Griffin-Lim baseline.
set -eu
STEPS=${1:-3000}
OUT=${2:-runs/vocoder_fsdd}
FSDD=${FSDD:-../shared/data/fsdd}
KDE=${KDE:-../shared/data/kde_voices}
CORPUS=${CORPUS:-fsdd}
NS=${NS:-nextsample}
mkdir -p "$OUT"
DATA=$FSDD/manifest.csv
if [ "$CORPUS" = mix ]; then
	# Absolute paths: FSDD rows keep their split, kde_voices rows are train or held out.
	fsdd=$(cd "$FSDD" && pwd)
	kde=$(cd "$KDE" && pwd)
	held='^klettres:(he|hu|cs)$|^ktuberling:(el|sl|gl)$'
	awk -F, -v fsdd="$fsdd" -v kde="$kde" -v held="$held" '
	  FNR == 1 { if (NR == 1) print "path,speaker,label,split"; next }
	  FILENAME ~ /fsdd/ { print fsdd "/" $1 "," $2 "," $3 "," $4; next }
	  $2 !~ held { print kde "/" $1 "," $2 "," $3 ",train" }
	' "$FSDD/manifest.csv" "$KDE/manifest.csv" >"$OUT/mix.csv"
	awk -F, -v kde="$kde" -v held="$held" '
	  NR == 1 { print "path,speaker,label,split"; next }
	  $2 ~ held { print kde "/" $1 "," $2 "," $3 ",test" }
	' "$KDE/manifest.csv" >"$OUT/heldout.csv"
	DATA=$OUT/mix.csv
fi
$NS train --data "$DATA" --val-split test --val-samples 200000 --condition fbank \
	--batch 8 --crop 4000 --steps "$STEPS" --eval-every 500 --save-every 1000 --out "$OUT/run" 2>&1 | tee "$OUT/train.txt"
if [ "${BASELINE:-0}" = 1 ]; then
	$NS train --data "$DATA" --val-split test --val-samples 200000 \
		--batch 8 --crop 4000 --steps "$STEPS" --eval-every 500 --save-every 1000 --out "$OUT/unconditioned" 2>&1 | tee "$OUT/train_unconditioned.txt"
	{
		printf 'conditioned (--condition fbank), %s steps: ' "$STEPS"
		$NS eval --model "$OUT/run/last.safetensors" --data "$FSDD/manifest.csv" --split test --json
		printf 'unconditioned, %s steps: ' "$STEPS"
		$NS eval --model "$OUT/unconditioned/last.safetensors" --data "$FSDD/manifest.csv" --split test --json
	} >"$OUT/nll.txt"
	cat "$OUT/nll.txt"
fi
if [ "$CORPUS" = mix ]; then
	$NS vocode --model "$OUT/run/best.safetensors" --data "$OUT/heldout.csv" --out "$OUT/heldout" 2>&1 | tail -2
	$NS compare "$OUT/heldout.csv" "$OUT/heldout" >"$OUT/compare_heldout.txt"
	printf 'unseen voices (kde_voices held-out languages), MCD and LSD: '
	tail -1 "$OUT/compare_heldout.txt"
fi
# vocode gives each file its original's level back (the peak normalisation undone), so
# that level-sensitive measures (LSD, the probe) compare speech at the same level.
$NS vocode --model "$OUT/run/best.safetensors" --data "$FSDD/manifest.csv" --split test --out "$OUT/vocoded" 2>&1 | tee "$OUT/vocode.txt"
$NS compare --split test "$FSDD/manifest.csv" "$OUT/vocoded" >"$OUT/compare_vocoder.txt"
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
recognise vocoder "$OUT/vocoded"
recognise griffin_lim "$OUT/griffin_lim"
