package kaldifeat

// Framing follows Kaldi's feature-window.cc. The functions take sizes in
// samples so that other frame-level features (nextsample's learned ones)
// can use exactly the same convention as the fbank baseline.

// NumFrames returns the number of frames of window samples, every hop
// samples, that a signal of numSamples samples gives.
//
// With snipEdges (Kaldi's default) only frames that fit entirely are
// kept: 1 + ⌊(numSamples − window)/hop⌋, or 0 if the signal is shorter
// than one window. Without, the count depends only on the hop:
// ⌊(numSamples + hop/2)/hop⌋, the number of hops whose middle lies in
// the signal, rounded to nearest.
func NumFrames(numSamples, window, hop int, snipEdges bool) int {
	if numSamples <= 0 || window <= 0 || hop <= 0 {
		return 0
	}
	if snipEdges {
		if numSamples < window {
			return 0
		}
		return 1 + (numSamples-window)/hop
	}
	return (numSamples + hop/2) / hop
}

// FirstSample returns the index of the first sample of frame t, which
// covers samples FirstSample(t) .. FirstSample(t)+window-1.
//
// With snipEdges, frame t starts at t·hop. Without, it is centred on
// t·hop + hop/2, so it starts at t·hop + hop/2 − window/2 (integer
// division), which is negative for the first frames: at 8 kHz with the
// default 200-sample window and 80-sample hop, frame 0 covers samples
// −60..139. Samples outside 0..N−1 are taken from the signal reflected at
// its ends, edge sample included: x[−1] = x[0], x[−2] = x[1], and
// x[N] = x[N−1], x[N+1] = x[N−2] (Kaldi's ExtractWindow; torchaudio's
// _get_strided does the same).
func FirstSample(t, window, hop int, snipEdges bool) int {
	if snipEdges {
		return t * hop
	}
	return t*hop + hop/2 - window/2
}

// reflectIndex maps a sample index outside 0..n-1 into it by reflection
// at the ends, repeating the edge sample, as Kaldi's ExtractWindow does.
// n must be positive.
func reflectIndex(i, n int) int {
	for i < 0 || i >= n {
		if i < 0 {
			i = -i - 1
		} else {
			i = 2*n - 1 - i
		}
	}
	return i
}
