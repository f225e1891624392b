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

// A pooler reduces rows of activations to one value per frame. When the
// window and the hop share a large factor g (200 and 80 samples: g = 40)
// it first reduces blocks of g positions, aligned so that every window is
// made of window/g whole blocks, and then each frame from its blocks: each
// position is read once instead of window/hop times (2.5 at 25/10 ms).
// The blocks are fixed relative to the utterance, not to the chunk being
// pooled, so a frame's value does not depend on how the utterance was
// chunked.
type pooler struct {
	pool   string
	fr     Framing
	g      int       // block length; 0 pools every frame directly
	phase  int       // blocks start at positions ≡ phase (mod g)
	blocks []float32 // scratch: one value per block
}

// minBlock is the smallest block worth a second pass.
const minBlock = 8

func newPooler(pool string, fr Framing) *pooler {
	p := &pooler{pool: pool, fr: fr}
	if g := gcd(fr.Window, fr.Hop); g >= minBlock && g < fr.Window {
		p.g = g
		p.phase = floorMod(kaldifeat.FirstSample(0, fr.Window, fr.Hop, fr.SnipEdges), g)
	}
	return p
}

// row writes the pooled value of every frame f0 ≤ f < f1 of one channel
// into out[(f−f0)·stride], where row holds the activations of positions
// base, base+1, … of an utterance of n positions.
func (p *pooler) row(n, f0, f1, base int, row []float32, out []float32, stride int) {
	fr := p.fr
	if p.g == 0 {
		for f := f0; f < f1; f++ {
			lo, hi := fr.Span(f, n)
			out[(f-f0)*stride] = p.reduce(row[lo-base : hi-base])
		}
		return
	}
	g := p.g
	lo0, _ := fr.Span(f0, n)
	_, hi1 := fr.Span(f1-1, n)
	b0 := floorDiv(lo0-p.phase, g)
	b1 := floorDiv(hi1-1-p.phase, g)
	if cap(p.blocks) < b1-b0+1 {
		p.blocks = make([]float32, b1-b0+1)
	}
	blocks := p.blocks[:b1-b0+1]
	for b := range blocks {
		s := max(lo0, p.phase+(b0+b)*g)
		e := min(hi1, p.phase+(b0+b+1)*g)
		blocks[b] = p.reduce(row[s-base : e-base])
	}
	per := fr.Window / g
	for f := f0; f < f1; f++ {
		first := kaldifeat.FirstSample(f, fr.Window, fr.Hop, fr.SnipEdges)
		fb := floorDiv(first-p.phase, g) - b0
		v := blocks[max(0, fb):min(len(blocks), fb+per)]
		if p.pool == PoolMax {
			out[(f-f0)*stride] = maxOf(v)
		} else {
			lo, hi := fr.Span(f, n)
			var sum float32
			for _, x := range v {
				sum += x
			}
			out[(f-f0)*stride] = sum / float32(hi-lo)
		}
	}
}

// reduce is the sum (mean pooling) or the maximum of v.
func (p *pooler) reduce(v []float32) float32 {
	if p.pool == PoolMax {
		return maxOf(v)
	}
	if p.g == 0 {
		return sumOf(v) / float32(len(v))
	}
	return sumOf(v)
}

func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

func floorDiv(a, b int) int {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

func floorMod(a, b int) int { return a - floorDiv(a, b)*b }

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

// maxOf is the largest element of v (non-empty), over four independent
// running maxima (one chain would wait on each previous result).
func maxOf(v []float32) float32 {
	m0, m1, m2, m3 := v[0], v[0], v[0], v[0]
	i := 0
	for ; i+4 <= len(v); i += 4 {
		if v[i] > m0 {
			m0 = v[i]
		}
		if v[i+1] > m1 {
			m1 = v[i+1]
		}
		if v[i+2] > m2 {
			m2 = v[i+2]
		}
		if v[i+3] > m3 {
			m3 = v[i+3]
		}
	}
	for ; i < len(v); i++ {
		if v[i] > m0 {
			m0 = v[i]
		}
	}
	return max(max(m0, m1), max(m2, m3))
}
