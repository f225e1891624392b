#!/bin/sh
# adapt.sh: issue 24's adaptation experiment: a voice the base model never heard
# (ktuberling:fr, held out by base_model.sh), 100 files to train on and 110 held back.
# For each seed: the base model as it is; the base model fine-tuned for STEPS steps
# (train --init-from); the same network trained from scratch for STEPS steps. All are
# scored on the 110 held-back files with their last weights (no selection on them).
#
#   train/recipe/adapt.sh NEXTSAMPLE BASE_MODEL OUTDIR ADAPT_CSV [STEPS] [SEEDS]
#
# ADAPT_CSV is base_model.sh's OUTDIR/adapt.csv. LR (default 1e-3, the recipe's) is the
# fine-tuning learning rate; from scratch always uses 1e-3.
# Results: OUTDIR/results.csv (run, seed, steps, bits/sample on the held-back files).
set -eu
NS=$1
BASE=$2
OUT=$3
DATA=$4
STEPS=${5:-300}
SEEDS=${6:-"1 2"}
LR=${LR:-1e-3}
mkdir -p "$OUT"
# json FILE KEY: the first value of KEY (the top-level one: a loso probe's folds come after).
json() { grep -o "\"$2\": *[0-9.e+-]*" "$1" | head -1 | sed 's/.*: *//'; }
echo "run,seed,steps,heldback_bits" >"$OUT/results.csv"
"$NS" eval --model "$BASE" --data "$DATA" --split test --json >"$OUT/base.json"
echo "base,-,0,$(json "$OUT/base.json" bits_per_sample)" >>"$OUT/results.csv"
for seed in $SEEDS; do
	for run in finetune scratch; do
		dir=$OUT/$run-s$seed
		rm -rf "$dir"
		if [ "$run" = finetune ]; then
			"$NS" train --init-from "$BASE" --data "$DATA" --val-split test --lr "$LR" --batch 8 --crop 4000 \
				--steps "$STEPS" --eval-every 0 --save-every 0 --seed "$seed" --out "$dir" >"$dir.log" 2>&1
		else
			"$NS" train --data "$DATA" --val-split test --lr 1e-3 --batch 8 --crop 4000 \
				--steps "$STEPS" --eval-every 0 --save-every 0 --seed "$seed" --out "$dir" >"$dir.log" 2>&1
		fi
		"$NS" eval --model "$dir/last.safetensors" --data "$DATA" --split test --json >"$dir.json"
		echo "$run,$seed,$STEPS,$(json "$dir.json" bits_per_sample)" >>"$OUT/results.csv"
	done
done
cat "$OUT/results.csv"
