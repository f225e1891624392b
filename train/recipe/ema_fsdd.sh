#!/bin/sh
# ema_fsdd.sh: issue 24's check of --ema on the FSDD recipe: for each seed, one run of
# STEPS steps (Adam 1e-3, batch 8 × 4000, validation on FSDD test every 250 steps) with
# --ema DECAY, whose validations score the average and the raw weights side by side; then
# the average (best.safetensors) and the raw weights of the last step are both scored on
# all of FSDD test.
#
#   train/recipe/ema_fsdd.sh NEXTSAMPLE OUTDIR [FSDD_DIR] [STEPS] [DECAY] [SEEDS]
#
# Results: OUTDIR/results.csv (seed, step, validation of the average, of the raw weights).
set -eu
NS=$1
OUT=$2
FSDD=${3:-../shared/data/fsdd}
STEPS=${4:-1500}
DECAY=${5:-0.999}
SEEDS=${6:-"1 2"}
mkdir -p "$OUT"
echo "seed,step,val_bits_ema,val_bits_raw" >"$OUT/results.csv"
for seed in $SEEDS; do
	dir=$OUT/s$seed
	if [ ! -f "$dir/train_log.csv" ] || [ "$(tail -1 "$dir/train_log.csv" | cut -d, -f1)" != "$STEPS" ]; then
		rm -rf "$dir"
		"$NS" train --data "$FSDD/manifest.csv" --val-split test --optimizer adam --lr 1e-3 --batch 8 --crop 4000 \
			--steps "$STEPS" --eval-every 250 --ema "$DECAY" --seed "$seed" --out "$dir" >"$dir.log" 2>&1
	fi
	# train_log.csv: step, ..., val_bits (the average), ..., val_raw_bits (last column).
	awk -F, -v seed="$seed" 'NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i; next }
		$col["val_bits"] != "" { print seed "," $1 "," $col["val_bits"] "," $col["val_raw_bits"] }' "$dir/train_log.csv" >>"$OUT/results.csv"
done
cat "$OUT/results.csv"
