#!/bin/sh
# base_model.sh: issue 24's bundled base model: the default network trained on all the
# speech in ../shared/data (FSDD train, kde_voices, espeak_digits) minus what is held out to
# measure it, then scored and probed for its card (samples/base/README.md).
#
#   train/recipe/base_model.sh NEXTSAMPLE OUTDIR [SHARED] [STEPS] [MINUTES]
#
# Held out of training:
#   - FSDD's test split (validation, and the FSDD test NLL of the card);
#   - six kde_voices languages recorded by one package only (klettres he, hu, cs;
#     ktuberling el, sl, gl: no voice of theirs is in training), as kde_voices.sh holds out:
#     the "unseen voices" NLL;
#   - ktuberling:fr (210 words, one voice), for the adaptation experiment (adapt.sh): 100
#     files to fine-tune on, 110 held back to score.
# Training: Adam 1e-3, batch 8 × 4000 (the FSDD recipe), fp32, --ema 0.999, validation
# every 1,000 steps on ≈200K samples of FSDD test, samples every 2,500 steps. Run it
# again with the same arguments to continue (--resume) after an interruption or a session
# limit: MINUTES (default 0: no limit) stops a session's share after that many minutes
# (timeout sends SIGINT: the step finishes and last.safetensors is saved), so a 3-hour
# budget can be split into sessions, and the run still ends bit-identical to one
# uninterrupted run (resume is exact).
# Results: OUTDIR/run (the run directory), OUTDIR/card.txt (NLLs and probe accuracies).
set -eu
NS=$1
OUT=$2
SHARED=${3:-../shared}
STEPS=${4:-30000}
MINUTES=${5:-0}
FSDD=$(cd "$SHARED/data/fsdd" && pwd)
KDE=$(cd "$SHARED/data/kde_voices" && pwd)
ESPEAK=$(cd "$SHARED/data/espeak_digits" && pwd)
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)

HELD='^klettres:(he|hu|cs)$|^ktuberling:(el|sl|gl)$'
ADAPT='^ktuberling:fr$'

# train.csv: FSDD (train rows train, test rows test), kde_voices minus the held-out and
# adaptation voices, espeak_digits (all train). heldout.csv: the six unseen languages.
# adapt.csv: the adaptation voice, its first 100 files (key order) train, the rest test.
awk -F, -v fsdd="$FSDD" -v kde="$KDE" -v esp="$ESPEAK" -v held="$HELD" -v adapt="$ADAPT" '
  FNR == 1 { if (NR == 1) print "path,speaker,label,split"; next }
  FILENAME ~ /fsdd/ { print fsdd "/" $1 "," $2 "," $3 "," $4; next }
  FILENAME ~ /kde_voices/ { if ($2 !~ held && $2 !~ adapt) print kde "/" $1 "," $2 "," $3 ",train"; next }
  { print esp "/" $1 "," $2 "," $3 ",train" }
' "$FSDD/manifest.csv" "$KDE/manifest.csv" "$ESPEAK/manifest.csv" >"$OUT/train.csv"
awk -F, -v kde="$KDE" -v held="$HELD" '
  NR == 1 { print "path,speaker,label,split"; next }
  $2 ~ held { print kde "/" $1 "," $2 "," $3 ",test" }
' "$KDE/manifest.csv" >"$OUT/heldout.csv"
awk -F, -v kde="$KDE" -v adapt="$ADAPT" '
  NR == 1 { next }
  $2 ~ adapt { print kde "/" $1 "," $2 "," $3 }
' "$KDE/manifest.csv" | sort | awk -F, 'BEGIN { print "path,speaker,label,split" } { print $0 "," (NR <= 100 ? "train" : "test") }' >"$OUT/adapt.csv"

# CARD_ONLY=1 skips training and scores the run's best model as it stands (an interim card).
if [ "${CARD_ONLY:-0}" != 1 ]; then
resume=""
[ -f "$OUT/run/last.safetensors" ] && resume=--resume
limit=""
[ "$MINUTES" -gt 0 ] && limit="timeout -s INT ${MINUTES}m"
set +e
$limit "$NS" train --data "$OUT/train.csv" --val-split test --val-samples 200000 --optimizer adam --lr 1e-3 \
	--batch 8 --crop 4000 --steps "$STEPS" --ema 0.999 --eval-every 1000 --save-every 5000 \
	--sample-every 2500 --seed 1 --out "$OUT/run" $resume 2>&1 | tee -a "$OUT/train.txt"
set -e
last=$(tail -1 "$OUT/run/train_log.csv" | cut -d, -f1)
if [ "$last" -lt "$STEPS" ]; then
	echo "stopped at step $last of $STEPS: run this again to continue" >&2
	exit 0
fi
fi

m=$OUT/run/best.safetensors
# json FILE KEY: the first value of KEY (the top-level one: a loso probe's folds come after).
json() { grep -o "\"$2\": *[0-9.e+-]*" "$1" | head -1 | sed 's/.*: *//'; }
"$NS" eval --model "$m" --data "$FSDD/manifest.csv" --split test --json >"$OUT/fsdd_test.json"
"$NS" eval --model "$m" --data "$OUT/heldout.csv" --json >"$OUT/heldout.json"
"$NS" eval --model "$m" --data "$OUT/adapt.csv" --split test --json >"$OUT/adapt_test.json"
{
	echo "model: $m ($("$NS" model "$m" | sed -n 's/^Best *: *//p' | head -1))"
	echo "FSDD test bits/sample: $(json "$OUT/fsdd_test.json" bits_per_sample)"
	echo "unseen languages bits/sample: $(json "$OUT/heldout.json" bits_per_sample)"
	echo "adaptation voice (ktuberling:fr) held-back bits/sample: $(json "$OUT/adapt_test.json" bits_per_sample)"
} >"$OUT/card.txt"
# Probes on all of FSDD: the model's features (skip sum, every layer's gated activations)
# against Kaldi fbank and MFCC, every protocol the README reports.
for kind in learned fbank mfcc; do
	d=$OUT/feats-$kind
	[ "$kind" = learned ] && rm -rf "$d" # the model's, which changes between cards
	if [ ! -d "$d" ]; then
		if [ "$kind" = learned ]; then
			"$NS" features --model "$m" --layers z:all --data "$FSDD/manifest.csv" --format npy --out "$d" 2>/dev/null
		else
			"$NS" features --kind "$kind" --data "$FSDD/manifest.csv" --format npy --out "$d" 2>/dev/null
		fi
	fi
	for p in label:split label:loso speaker:split; do
		"$NS" probe --features "$d" --data "$FSDD/manifest.csv" --label "${p%%:*}" --protocol "${p#*:}" --json >"$OUT/probe-$kind-${p%%:*}-${p#*:}.json"
		echo "probe $kind ${p%%:*} ${p#*:}: $(json "$OUT/probe-$kind-${p%%:*}-${p#*:}.json" accuracy)" >>"$OUT/card.txt"
	done
done
cat "$OUT/card.txt"
