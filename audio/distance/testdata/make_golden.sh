#!/usr/bin/env bash
# Regenerates the golden distances that distance_test.go checks the Go code
# against, with tools independent of it: SPTK 3.9's frame | window | mcep
# pipeline and cdist for the mel-cepstral distortion (Debian: apt-get
# install sptk, whose commands live in /usr/libexec/sptk/bin), numpy for the
# log-spectral distance, and sox for the degraded files. The Go tests read
# only this script's outputs (the *.wav files, mcep_8k.f32 and golden.tsv), never the
# tools. Run it from this directory: bash make_golden.sh
set -euo pipefail
export PATH=/usr/libexec/sptk/bin:$PATH
cd "$(dirname "$0")"
src=../../../samples/fsdd/recordings/0_george_0.wav
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# The files: the 8 kHz recording's 8-bit μ-law round trip and a 1.5 kHz
# low-pass of it; the recording at 16 kHz and a 3 kHz low-pass of that.
# -D: no dither, so that the files are the same on every run.
sox -D "$src" -e mu-law -b 8 "$tmp/mu.wav"
sox -D "$tmp/mu.wav" -e signed -b 16 mulaw_8k.wav
sox -D "$src" lowpass_8k.wav lowpass 1500
sox -D "$src" ref_16k.wav rate -v 16000
sox -D ref_16k.wav lowpass_16k.wav lowpass 3000

# mcep FILE RATE ALPHA FRAMES: SPTK mel-cepstra of the first FRAMES whole
# frames (25 ms Blackman windows, power-normalised, every 5 ms; order 24;
# ε = 1 in int16² units).
mcep_of() {
	local f=$1 rate=$2 alpha=$3 frames=$4
	local len=$((rate / 40)) hop=$((rate / 200)) n=256
	[ "$rate" = 16000 ] && n=512
	sox "$f" -t raw -e signed -b 16 - | x2x +sf | frame -l $len -p $hop -n |
		bcut +f -l $len -e $((frames - 1)) | window -l $len -L $n -w 0 -n 1 |
		mcep -l $n -m 24 -a "$alpha" -e 1
}

# The mel-cepstra themselves, frame by frame, for the 8 kHz recording.
mcep_of "$src" 8000 0.31 55 >mcep_8k.f32

printf 'ref\tdeg\trate\tframes\tmcd_sptk_cdist\tmcd_numpy\tlsd_numpy\n' >golden.tsv
pair() {
	local ref=$1 deg=$2 rate=$3 alpha=$4
	local nr nd len=$((rate / 40)) hop=$((rate / 200))
	nr=$(soxi -s "$ref") nd=$(soxi -s "$deg")
	local frames=$(((($nr < $nd ? $nr : $nd) - len) / hop + 1))
	mcep_of "$ref" "$rate" "$alpha" "$frames" >"$tmp/r.mcep"
	mcep_of "$deg" "$rate" "$alpha" "$frames" >"$tmp/d.mcep"
	local cd
	cd=$(cdist -m 24 -o 0 "$tmp/r.mcep" "$tmp/d.mcep" | x2x +fa)
	/usr/bin/python3 - "$ref" "$deg" "$rate" "$frames" "$cd" "$tmp/r.mcep" "$tmp/d.mcep" <<'PY' >>golden.tsv
import sys, wave
import numpy as np
ref, deg, rate, frames, cd, rm, dm = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5]), sys.argv[6], sys.argv[7]
def samples(p):
    with wave.open(p) as w:
        return np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.float64)
L, hop = rate // 40, rate // 200
n = 256 if rate == 8000 else 512
win = np.blackman(L)
win /= np.sqrt(np.sum(win ** 2))
def logpower(x):
    fr = np.stack([x[t * hop:t * hop + L] * win for t in range(frames)])
    return 10 * np.log10(np.abs(np.fft.rfft(fr, n)) ** 2 + 1.0)
a, b = logpower(samples(ref)), logpower(samples(deg))
lsd = np.mean(np.sqrt(np.mean((a - b) ** 2, axis=1)))
ca = np.fromfile(rm, dtype="<f4").astype(np.float64).reshape(frames, 25)
cb = np.fromfile(dm, dtype="<f4").astype(np.float64).reshape(frames, 25)
mcd = np.mean(10 / np.log(10) * np.sqrt(2 * np.sum((ca[:, 1:] - cb[:, 1:]) ** 2, axis=1)))
print(f"{ref}\t{deg}\t{rate}\t{frames}\t{cd:.6f}\t{mcd:.6f}\t{lsd:.6f}")
PY
}
pair "$src" mulaw_8k.wav 8000 0.31
pair "$src" lowpass_8k.wav 8000 0.31
pair ref_16k.wav lowpass_16k.wav 16000 0.42
