package audio

import (
	"fmt"
	"math"
)

// A Resampler converts whole signals from one sample rate to another with
// a Hann-windowed sinc filter: the design of Kaldi's LinearResample
// (feat/resample.cc). The filter cuts off at 0.99 of the lower Nyquist
// frequency and spans 6 zero crossings on each side; samples before the
// start and after the end of the signal are taken as zero. The response
// is flat within 1% up to 0.7 of the lower Nyquist frequency (0.5 dB down
// at 0.8), and tones beyond 1.3 times it are at least 40 dB down.
//
// Output sample i sits at time i/outRate and is a weighted sum of the
// inputs within the window around it. Because the pattern of input
// positions repeats every 1/gcd(inRate, outRate) seconds, the weights are
// computed once per output phase, when the Resampler is made.
type Resampler struct {
	inRate, outRate int
	inUnit, outUnit int         // samples per repeating unit of time
	first           []int       // per output phase: first input index, relative to the unit
	weights         [][]float32 // per output phase: filter taps
}

// Kaldi's defaults for resampling waveforms.
const (
	resampleZeros  = 6    // zero crossings of the sinc on each side of the centre
	resampleCutoff = 0.99 // fraction of the lower Nyquist frequency kept
)

// NewResampler prepares the filter from inRate to outRate (Hz).
func NewResampler(inRate, outRate int) (*Resampler, error) {
	if inRate <= 0 || outRate <= 0 {
		return nil, fmt.Errorf("resample: invalid sample rates %d and %d Hz", inRate, outRate)
	}
	g := gcd(inRate, outRate)
	r := &Resampler{inRate: inRate, outRate: outRate, inUnit: inRate / g, outUnit: outRate / g}
	cutoff := resampleCutoff * 0.5 * float64(min(inRate, outRate)) // Hz
	halfWidth := resampleZeros / (2 * cutoff)                      // seconds
	r.first = make([]int, r.outUnit)
	r.weights = make([][]float32, r.outUnit)
	for i := range r.outUnit {
		t := float64(i) / float64(outRate)
		lo := int(math.Ceil((t - halfWidth) * float64(inRate)))
		hi := int(math.Floor((t + halfWidth) * float64(inRate)))
		w := make([]float32, hi-lo+1)
		for j := range w {
			dt := float64(lo+j)/float64(inRate) - t
			w[j] = float32(filter(dt, cutoff, halfWidth) / float64(inRate))
		}
		r.first[i], r.weights[i] = lo, w
	}
	return r, nil
}

// filter is the windowed sinc at time offset t (seconds), as Kaldi's
// LinearResample::FilterFunc: a low-pass with the given cutoff (Hz) times
// a Hann window reaching zero at ±halfWidth.
func filter(t, cutoff, halfWidth float64) float64 {
	if math.Abs(t) >= halfWidth {
		return 0
	}
	window := 0.5 * (1 + math.Cos(math.Pi*t/halfWidth))
	if t == 0 {
		return 2 * cutoff * window
	}
	return math.Sin(2*math.Pi*cutoff*t) / (math.Pi * t) * window
}

func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// OutputLen is the number of samples Resample makes from n inputs: every
// output time strictly before n/inRate seconds (Kaldi's count with flush).
func (r *Resampler) OutputLen(n int) int {
	if n <= 0 {
		return 0
	}
	// In ticks of 1/lcm(inRate, outRate) s: the input spans n·outUnit ticks
	// and outputs come every inUnit ticks.
	ticks := int64(n) * int64(r.outUnit)
	return int((ticks-1)/int64(r.inUnit)) + 1
}

// Resample returns x at the output rate.
func (r *Resampler) Resample(x []float32) []float32 {
	out := make([]float32, r.OutputLen(len(x)))
	for i := range out {
		phase := i % r.outUnit
		start := (i/r.outUnit)*r.inUnit + r.first[phase]
		w := r.weights[phase]
		var sum float64
		if start >= 0 && start+len(w) <= len(x) {
			for j, v := range x[start : start+len(w)] {
				sum += float64(w[j]) * float64(v)
			}
		} else {
			for j, wj := range w {
				if k := start + j; k >= 0 && k < len(x) {
					sum += float64(wj) * float64(x[k])
				}
			}
		}
		out[i] = float32(sum)
	}
	return out
}

// Resample converts x from inRate to outRate; the same rate returns x.
func Resample(x []float32, inRate, outRate int) ([]float32, error) {
	if inRate == outRate && inRate > 0 {
		return x, nil
	}
	r, err := NewResampler(inRate, outRate)
	if err != nil {
		return nil, err
	}
	return r.Resample(x), nil
}
