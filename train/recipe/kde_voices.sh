#!/bin/sh
# kde_voices.sh: does more, more diverse speech help? And is bf16 worse on unseen voices?
#
# Trains the default model with the FSDD recipe (Adam 1e-3, batch 8 x 4000,
# validation on FSDD's test split) on
#   fsdd  FSDD's train split alone, and
#   mix   FSDD's train split plus ../shared/data/kde_voices minus six held-out
#         languages (the "unseen voices"),
# for the same number of steps (a step costs the same whatever the corpus, so equal
# steps are equal compute; the wall times are in each run's train_log.csv). Then it
# scores every model on FSDD test and on the held-out languages, and probes the
# learned features (z:all) of FSDD: digits (split and loso) and speakers (split).
#
# Usage: train/recipe/kde_voices.sh NEXTSAMPLE OUTDIR [SHARED] [STEPS]
#   RUNS="fsdd:bf16:1 mix:bf16:1 fsdd:fp32:1 ..." selects runs (corpus:precision:seed).
# Results: OUTDIR/results.csv (one line per run) and OUTDIR/<run>/*.json.
set -eu
NS=$1
OUT=$2
SHARED=${3:-../shared}
STEPS=${4:-1500}
RUNS=${RUNS:-"fsdd:bf16:1 mix:bf16:1 fsdd:fp32:1 fsdd:bf16:2 fsdd:fp32:2 fsdd:bf16:3 fsdd:fp32:3 mix:bf16:2"}
FSDD=$(cd "$SHARED/data/fsdd" && pwd)
KDE=$(cd "$SHARED/data/kde_voices" && pwd)
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)

# Held out: languages recorded by one package only, so no voice of theirs is in training.
HELD='^klettres:(he|hu|cs)$|^ktuberling:(el|sl|gl)$'

# Manifests with absolute paths: the mix (FSDD rows keep their split; KDE rows are train)
# and the held-out languages (all split=test).
awk -F, -v fsdd="$FSDD" -v kde="$KDE" -v held="$HELD" '
  FNR == 1 { if (NR == 1) print "path,speaker,label,split"; next }
  FILENAME ~ /fsdd/ { print fsdd "/" $1 "," $2 "," $3 "," $4; next }
  $2 !~ held { print kde "/" $1 "," $2 "," $3 ",train" }
' "$FSDD/manifest.csv" "$KDE/manifest.csv" >"$OUT/mix.csv"
awk -F, -v kde="$KDE" -v held="$HELD" '
  NR == 1 { print "path,speaker,label,split"; next }
  $2 ~ held { print kde "/" $1 "," $2 "," $3 ",test" }
' "$KDE/manifest.csv" >"$OUT/heldout.csv"

# json FILE KEY: the first value of KEY (the top-level one: a loso probe's folds come after).
json() { grep -o "\"$2\": *[0-9.e+-]*" "$1" | head -1 | sed 's/.*: *//'; }

[ -f "$OUT/results.csv" ] || echo "run,corpus,precision,seed,steps,train_seconds,fsdd_test_bits,heldout_bits,digits_split,digits_loso,speakers_split" >"$OUT/results.csv"
for r in $RUNS; do
	corpus=${r%%:*}
	rest=${r#*:}
	prec=${rest%%:*}
	seed=${rest#*:}
	name=$corpus-$prec-s$seed
	dir=$OUT/$name
	data=$FSDD/manifest.csv
	[ "$corpus" = mix ] && data=$OUT/mix.csv
	if [ ! -f "$dir/done" ]; then
		rm -rf "$dir"
		"$NS" train --data "$data" --val-split test --optimizer adam --lr 1e-3 --batch 8 --crop 4000 \
			--steps "$STEPS" --eval-every 250 --precision "$prec" --seed "$seed" --out "$dir" 2>"$dir.log" >/dev/null ||
			{ echo "train $name failed: see $dir.log" >&2; exit 1; }
		m=$dir/best.safetensors
		"$NS" eval --model "$m" --data "$FSDD/manifest.csv" --split test --json >"$dir/fsdd_test.json"
		"$NS" eval --model "$m" --data "$OUT/heldout.csv" --json >"$dir/heldout.json"
		"$NS" features --model "$m" --layers z:all --data "$FSDD/manifest.csv" --format npy --out "$dir/feats" 2>/dev/null
		"$NS" probe --features "$dir/feats" --data "$FSDD/manifest.csv" --label label --protocol split --json >"$dir/digits_split.json"
		"$NS" probe --features "$dir/feats" --data "$FSDD/manifest.csv" --label label --protocol loso --json >"$dir/digits_loso.json"
		"$NS" probe --features "$dir/feats" --data "$FSDD/manifest.csv" --label speaker --protocol split --json >"$dir/speakers_split.json"
		rm -rf "$dir/feats"
		secs=$(tail -1 "$dir/train_log.csv" | cut -d, -f2)
		echo "$name,$corpus,$prec,$seed,$STEPS,$secs,$(json "$dir/fsdd_test.json" bits_per_sample),$(json "$dir/heldout.json" bits_per_sample),$(json "$dir/digits_split.json" accuracy),$(json "$dir/digits_loso.json" accuracy),$(json "$dir/speakers_split.json" accuracy)" >>"$OUT/results.csv"
		touch "$dir/done"
	fi
done
cat "$OUT/results.csv"
