package features

import (
	"fmt"
	"math"

	"github.com/nextsample/nextsample/audio/kaldifeat"
)

// Pooling modes: how a frame's activations become one value per channel.
const (
	PoolMean = "mean"
	PoolMax  = "max"
)

// Framing is where frames lie in an utterance: Window samples every Hop
// samples, with Kaldi's conventions (kaldifeat.NumFrames and
// kaldifeat.FirstSample), so that learned features line up frame for frame
// with fbank and MFCC features of the same audio.
//
// With SnipEdges (Kaldi's default) frame t pools positions
// [t·Hop, t·Hop + Window) and there are 1 + ⌊(N − Window)/Hop⌋ frames (none
// if N < Window). Without, frame t is centred on t·Hop + ⌊Hop/2⌋: it
// covers [t·Hop + ⌊Hop/2⌋ − ⌊Window/2⌋, … + Window), and there are
// ⌊(N + ⌊Hop/2⌋)/Hop⌋ frames. Where such a window reaches past either end
// of the utterance, a learned feature pools only the positions that exist
// (kaldifeat instead reflects the waveform, which has no counterpart for
// the causal network's activations); every frame keeps at least one
// position.
//
// Position t's activation is the network's state after reading samples
// 0..t, so a frame's value summarises the audio up to each of its samples.
type Framing struct {
	Window, Hop int
	SnipEdges   bool
}

// FramingMs converts a frame length and shift in milliseconds to samples
// at rate, truncating as Kaldi does (25 ms and 10 ms at 8 kHz are 200 and
// 80 samples).
func FramingMs(rate int, lengthMs, shiftMs float64, snipEdges bool) (Framing, error) {
	f := Framing{
		Window:    int(float64(rate) * 0.001 * lengthMs),
		Hop:       int(float64(rate) * 0.001 * shiftMs),
		SnipEdges: snipEdges,
	}
	if !(lengthMs > 0) || !(shiftMs > 0) || math.IsInf(lengthMs, 0) || math.IsInf(shiftMs, 0) {
		return f, fmt.Errorf("frame length %g ms and shift %g ms must be positive", lengthMs, shiftMs)
	}
	if err := f.Validate(); err != nil {
		return f, fmt.Errorf("%g ms frames every %g ms at %d Hz: %w", lengthMs, shiftMs, rate, err)
	}
	return f, nil
}

// maxWindow bounds frames so that a typo cannot ask for a window longer
// than any workspace should be (a minute at 16 kHz).
const maxWindow = 1 << 20

// Validate reports a window or hop out of range.
func (f Framing) Validate() error {
	if f.Window < 1 || f.Window > maxWindow || f.Hop < 1 || f.Hop > maxWindow {
		return fmt.Errorf("frame window %d and hop %d samples must be between 1 and %d", f.Window, f.Hop, maxWindow)
	}
	return nil
}

// NumFrames is how many frames an utterance of n samples has.
func (f Framing) NumFrames(n int) int {
	return kaldifeat.NumFrames(n, f.Window, f.Hop, f.SnipEdges)
}

// Span returns the positions [lo, hi) that frame t of an utterance of n
// samples pools: its window, clipped to the utterance.
func (f Framing) Span(t, n int) (lo, hi int) {
	first := kaldifeat.FirstSample(t, f.Window, f.Hop, f.SnipEdges)
	return max(0, first), min(n, first+f.Window)
}

// poolRow writes the pooled value of every frame f0 ≤ f < f1 of channel
// row into out[(f−f0)·stride], where row holds the activations of
// positions base, base+1, … of an utterance of n positions.
func poolRow(pool string, fr Framing, n, f0, f1, base int, row []float32, out []float32, stride int) {
	for f := f0; f < f1; f++ {
		lo, hi := fr.Span(f, n)
		v := row[lo-base : hi-base]
		var r float32
		if pool == PoolMax {
			r = maxOf(v)
		} else {
			r = sumOf(v) / float32(len(v))
		}
		out[(f-f0)*stride] = r
	}
}

// sumOf adds v with four independent accumulators (the loop is bound by
// the adder's throughput rather than its latency); the order is fixed, so
// a frame's value does not depend on how the utterance was chunked.
func sumOf(v []float32) float32 {
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= len(v); i += 4 {
		s0 += v[i]
		s1 += v[i+1]
		s2 += v[i+2]
		s3 += v[i+3]
	}
	for ; i < len(v); i++ {
		s0 += v[i]
	}
	return (s0 + s1) + (s2 + s3)
}

func maxOf(v []float32) float32 {
	m := v[0]
	for _, x := range v[1:] {
		if x > m {
			m = x
		}
	}
	return m
}
