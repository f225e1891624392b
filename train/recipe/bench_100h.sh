#!/bin/sh
# bench_100h.sh: train on a synthetic 100-hour 16 kHz Kaldi data directory and
# report the peak anonymous memory (RssAnon) of the run.
#
# The data directory has 600 recordings of 600 s (wav.scp) and a segments file
# that cuts each into 60 utterances of 10 s: 36,000 utterances, 100 hours,
# 5.76 G samples. To spare the disk, the 600 recording ids point at FILES
# distinct WAV files of pink noise made by sox (default 20, 384 MB), in turn; every
# recording id is still decoded on its own, as a real corpus's would be (the
# files come from the page cache, not the disk: a real corpus adds disk reads).
# A dev directory of 360 utterances (1 h) from the same files is the --val-data,
# bounded by --val-samples.
#
# Then `nextsample train` runs the default model for 20 steps twice: first with an
# empty class cache (indexing, cache build and training), then again with the cache
# built (indexing and training only). /proc/PID/status is polled every 0.1 s for
# RssAnon (anonymous memory: heap, stacks) and VmHWM (peak resident, file pages
# included).
#
# Usage: train/recipe/bench_100h.sh NEXTSAMPLE WORKDIR [FILES]
# Needs sox and about 6.5 GB of disk in WORKDIR (the class cache is 5.76 GB).
set -eu
NS=$1
W=$2
FILES=${3:-20}
mkdir -p "$W/audio" "$W/train" "$W/dev"
W=$(cd "$W" && pwd)

i=0
while [ "$i" -lt "$FILES" ]; do
	f=$W/audio/noise$i.wav
	[ -f "$f" ] || sox -n -r 16000 -b 16 -c 1 "$f" synth 600 pinknoise vol 0.3 tremolo 3 60
	i=$((i + 1))
done

# wav.scp: rec000 .. rec599; segments: 60 x 10 s per recording.
awk -v w="$W" -v files="$FILES" 'BEGIN {
	for (r = 0; r < 600; r++) {
		rec = sprintf("rec%03d", r)
		printf "%s %s/audio/noise%d.wav\n", rec, w, r % files > (w "/train/wav.scp")
		for (s = 0; s < 60; s++) {
			utt = sprintf("%s-%02d", rec, s)
			printf "%s %s %d %d\n", utt, rec, 10 * s, 10 * s + 10 > (w "/train/segments")
			printf "%s spk%03d\n", utt, r % 100 > (w "/train/utt2spk")
		}
	}
	for (r = 0; r < 6; r++) {
		rec = sprintf("dev%d", r)
		printf "%s %s/audio/noise%d.wav\n", rec, w, r % files > (w "/dev/wav.scp")
		for (s = 0; s < 60; s++)
			printf "%s-%02d %s %d %d\n", rec, s, rec, 10 * s, 10 * s + 10 > (w "/dev/segments")
	}
}'

run() { # name: one training run, polled for memory
	rm -rf "$W/run-$1"
	start=$(date +%s.%N)
	"$NS" train --data "$W/train" --val-data "$W/dev" --val-samples 320000 --eval-every 10 \
		--steps 20 --cache-dir "$W/cache" --out "$W/run-$1" >"$W/run-$1.out" 2>"$W/run-$1.log" &
	pid=$!
	peak=0
	hwm=0
	while kill -0 "$pid" 2>/dev/null; do
		a=$(awk '/^RssAnon:/ {print $2}' /proc/$pid/status 2>/dev/null || echo 0)
		h=$(awk '/^VmHWM:/ {print $2}' /proc/$pid/status 2>/dev/null || echo 0)
		[ "${a:-0}" -gt "$peak" ] && peak=$a
		[ "${h:-0}" -gt "$hwm" ] && hwm=$h
		sleep 0.1
	done
	wait "$pid" || { echo "train failed: see $W/run-$1.log" >&2; exit 1; }
	end=$(date +%s.%N)
	echo "$1: $(awk "BEGIN {printf \"%.1f\", $end - $start}") s end to end; peak RssAnon $((peak / 1024)) MiB; peak VmHWM $((hwm / 1024)) MiB"
	grep -E "classes:|ready in|step 20/20|validation .* bits" "$W/run-$1.log" | sed 's/^/  /'
}

rm -rf "$W/cache"
run cold
run warm
du -sh "$W/cache"
