// Package distance measures how far a degraded or resynthesised speech
// signal is from its original: the objective distances vocoder papers
// report, computed the way SPTK computes them, in pure Go.
//
// Both signals go through the same analysis (see [Options] and
// [DefaultOptions]): samples scaled to int16 units (×32768, as SPTK's
// x2x +sf reads 16-bit PCM), whole frames of 25 ms every 5 ms (frame t
// covers samples t·shift .. t·shift+length−1, Kaldi's snip-edges, the
// framing of package kaldifeat), SPTK's default Blackman window scaled to
// unit power, zero-padded to N = 256 samples at 8 kHz and 512 at 16 kHz,
// and the periodogram I_k = |X_k|² + ε for k = 0..N/2 with ε = 1 (one
// int16 step squared, so that digital silence has a finite logarithm).
//
// # Mel-cepstral distortion
//
// Each frame's mel-cepstrum c̃_0..c̃_M (M = 24) is SPTK's mcep of the
// periodogram ([MelCepstrum]: the iterative UELS mel-cepstral analysis,
// not MFCCs), with the all-pass constant α that SPTK's manual gives for
// the rate: 0.31 at 8 kHz, 0.42 at 16 kHz (also 0.35, 0.37, 0.45, 0.50,
// 0.53, 0.55 at 10, 12, 22.05, 32, 44.1, 48 kHz). Then, as SPTK's cdist
// (output in dB) and the vocoder literature [Kubichek, "Mel-cepstral
// distance measure for objective speech quality assessment", 1993]:
//
//	MCD = (1/T)·Σ_t (10/ln 10)·sqrt(2·Σ_{d=1..M} (c̃_{t,d} − c̃'_{t,d})²)  dB
//
// c̃_0, the frame's energy, is left out, so a gain difference costs
// nothing.
//
// # Log-spectral distance
//
// On the same periodograms, in dB:
//
//	LSD = (1/T)·Σ_t sqrt((1/(N/2+1))·Σ_{k=0..N/2} (10·log10 I_{t,k} − 10·log10 I'_{t,k})²)  dB
//
// Unlike MCD it counts gain differences and the fine (harmonic) structure.
//
// # Pairs and lengths
//
// The two signals must have the same rate. Vocoders pad or trim the last
// frame, so frame counts may differ by up to Options.MaxFrameDiff (5):
// the first min(T, T') frames are compared. A larger difference is an
// error ([FrameCountError]); there is no time alignment (DTW), so compare
// signals that are meant to be sample-aligned, as copy-synthesis gives.
// Both distances are symmetric and zero for a signal against itself.
//
// [Run] pairs two files, or two corpora (anything package corpus opens:
// folder, manifest, Kaldi data directory) by utterance key, reads both
// sides with the same settings (decoded, channels averaged to mono, no
// resampling, no normalisation, no trimming) and compares the pairs in
// parallel.
//
// F0 error and voicing decisions are not measured.
//
// # Checks
//
// testdata/make_golden.sh computes the distances of three pairs (8 kHz
// μ-law round trip, 8 kHz and 16 kHz low-passes) with SPTK 3.9's
// frame | window | mcep | cdist and with numpy; the tests hold the Go
// values to them within 1e-4 relative (they agree to ~1e-6).
package distance
