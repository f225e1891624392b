#!/bin/sh
# speaker_gc.sh: does speaker conditioning work as users mean it?
#
# 1. Trains the default model with the FSDD recipe (Adam 1e-3, batch 8 x 4000, bf16,
#    validation on FSDD's test split) conditioned on the speaker (--condition speaker),
#    and the same unconditioned (or reuses UNCOND, a run directory of that recipe).
# 2. Generates 2 s from silence for each of the 5 speakers, 8 draws each (--count 8),
#    from the conditioned model, and 40 draws from the unconditioned one.
# 3. Trains a speaker probe (fbank, mean+std pooled, logistic regression: `probe`) on the
#    real FSDD recordings and classifies the generated audio with it.
#
# Usage: train/recipe/speaker_gc.sh NEXTSAMPLE OUTDIR [SHARED] [STEPS]
#   UNCOND=DIR reuses an unconditioned run of the same recipe and steps.
set -eu
NS=$1
OUT=$2
SHARED=${3:-../shared}
STEPS=${4:-1500}
FSDD=$(cd "$SHARED/data/fsdd" && pwd)
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
recipe="--data $FSDD/manifest.csv --val-split test --optimizer adam --lr 1e-3 --batch 8 --crop 4000 --steps $STEPS --eval-every 250 --precision bf16 --seed 1"

[ -f "$OUT/cond/done" ] || { rm -rf "$OUT/cond"; $NS train $recipe --condition speaker --out "$OUT/cond" 2>"$OUT/cond.log" >/dev/null; touch "$OUT/cond/done"; }
UNCOND=${UNCOND:-$OUT/uncond}
[ -f "$UNCOND/best.safetensors" ] || { rm -rf "$UNCOND"; $NS train $recipe --out "$UNCOND" 2>"$OUT/uncond.log" >/dev/null; }

for m in cond uncond; do
	model=$OUT/cond/best.safetensors
	[ $m = uncond ] && model=$UNCOND/best.safetensors
	$NS eval --model "$model" --data "$FSDD/manifest.csv" --split test --json >"$OUT/$m-test.json"
done

rm -rf "$OUT/gen" && mkdir -p "$OUT/gen"
speakers="george jackson nicolas theo yweweler"
for s in $speakers; do
	$NS generate --model "$OUT/cond/best.safetensors" --speaker "$s" --seconds 2 --count 8 --seed 1 \
		--continuation-only --out "$OUT/gen/cond-$s-{i}.wav" 2>/dev/null
done
$NS generate --model "$UNCOND/best.safetensors" --seconds 2 --count 40 --seed 1 \
	--continuation-only --out "$OUT/gen/uncond-{i}.wav" 2>/dev/null

# The probe's manifest: every real FSDD recording is training data (split train),
# the generated files are the test (split test), labelled with the speaker asked for.
# Manifest paths are relative to its folder: FSDD is reached through a symlink.
ln -sfn "$FSDD" "$OUT/fsdd"
probe() { # name, rows of generated files
	{
		echo "path,speaker,split"
		awk -F, 'NR > 1 { print "fsdd/" $1 "," $2 ",train" }' "$FSDD/manifest.csv"
		cat
	} >"$OUT/probe-$1.csv"
	rm -rf "$OUT/fbank-$1"
	$NS features --kind fbank --data "$OUT/probe-$1.csv" --format npy --out "$OUT/fbank-$1" >/dev/null 2>&1
	$NS probe --features "$OUT/fbank-$1" --data "$OUT/probe-$1.csv" --label speaker --protocol split >"$OUT/probe-$1.txt"
	$NS probe --features "$OUT/fbank-$1" --data "$OUT/probe-$1.csv" --label speaker --protocol split --json >"$OUT/probe-$1.json"
}
for s in $speakers; do
	for i in 0 1 2 3 4 5 6 7; do echo "gen/cond-$s-$i.wav,$s,test"; done
done | probe cond
# The unconditioned model's draws, labelled round-robin: chance is what to expect.
i=0
for f in $(cd "$OUT" && ls gen/uncond-*.wav | sort -V); do
	set -- $speakers
	shift $((i % 5))
	echo "$f,$1,test"
	i=$((i + 1))
done | probe uncond
cat "$OUT/cond-test.json" "$OUT/uncond-test.json" "$OUT/probe-cond.txt" "$OUT/probe-uncond.txt"
