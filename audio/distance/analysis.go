package distance

import (
	"errors"
	"fmt"
	"math"

	"github.com/nextsample/nextsample/audio/kaldifeat"
)

// Options fix the analysis both signals of a pair go through. Start from
// [DefaultOptions] and change what you need; sizes are in samples.
type Options struct {
	SampleRate  int     `json:"sample_rate"`  // Hz; both signals must have it
	FrameLength int     `json:"frame_length"` // window length (SPTK frame -l)
	FrameShift  int     `json:"frame_shift"`  // hop (SPTK frame -p)
	FFTLength   int     `json:"fft_length"`   // N, a power of two ≥ FrameLength (SPTK window -L, mcep -l)
	Order       int     `json:"order"`        // mel-cepstral order M (SPTK mcep -m); c̃_1..c̃_M enter MCD
	Alpha       float64 `json:"alpha"`        // all-pass constant α (SPTK mcep -a)
	Floor       float64 `json:"floor"`        // ε added to each periodogram bin, int16² units (SPTK mcep -e)

	// MaxFrameDiff is how many frames the two signals' frame counts may
	// differ by (vocoders pad or trim the last frame); they are compared
	// over the common frames, the first min(n, n') of each. More is an
	// error: compare does not align signals in time.
	MaxFrameDiff int `json:"max_frame_diff"`
}

// alphaByRate is the all-pass constant that best approximates the mel
// scale at common sample rates, as the SPTK reference manual tabulates it
// (mcep/freqt: 8 kHz 0.31, 10 kHz 0.35, 12 kHz 0.37, 16 kHz 0.42,
// 22.05 kHz 0.45, 32 kHz 0.50, 44.1 kHz 0.53, 48 kHz 0.55).
var alphaByRate = map[int]float64{
	8000: 0.31, 10000: 0.35, 12000: 0.37, 16000: 0.42,
	22050: 0.45, 32000: 0.50, 44100: 0.53, 48000: 0.55,
}

// DefaultOptions are the analysis settings of this package at rate Hz:
// 25 ms Blackman windows every 5 ms, the FFT length the next power of two
// (256 at 8 kHz, 512 at 16 kHz), order 24, SPTK's α for the rate, a floor
// of 1 (one int16 step squared: below 16-bit resolution), and frame counts
// allowed to differ by DefaultMaxFrameDiff (5). A rate SPTK's table does not list is an error;
// set Alpha yourself then.
func DefaultOptions(rate int) (Options, error) {
	alpha, ok := alphaByRate[rate]
	if !ok {
		return Options{}, fmt.Errorf("no default all-pass constant for %d Hz (SPTK tabulates 8, 10, 12, 16, 22.05, 32, 44.1 and 48 kHz): give α", rate)
	}
	return OptionsWithAlpha(rate, alpha), nil
}

// OptionsWithAlpha are DefaultOptions' settings at rate with all-pass
// constant alpha, for rates SPTK's table does not list or to follow
// another paper's choice.
func OptionsWithAlpha(rate int, alpha float64) Options {
	length := rate / 40 // 25 ms
	n := 1
	for n < length {
		n *= 2
	}
	return Options{SampleRate: rate, FrameLength: length, FrameShift: rate / 200,
		FFTLength: n, Order: 24, Alpha: alpha, Floor: 1, MaxFrameDiff: DefaultMaxFrameDiff}
}

// Validate reports options the analysis cannot follow.
func (o Options) Validate() error {
	switch {
	case o.SampleRate <= 0:
		return fmt.Errorf("distance options: sample rate %d Hz", o.SampleRate)
	case o.FrameLength < 2 || o.FrameShift < 1:
		return fmt.Errorf("distance options: frame length %d, shift %d: want ≥ 2 and ≥ 1 samples", o.FrameLength, o.FrameShift)
	case o.FFTLength < o.FrameLength:
		return fmt.Errorf("distance options: FFT length %d shorter than the frame (%d)", o.FFTLength, o.FrameLength)
	case o.MaxFrameDiff < 0:
		return fmt.Errorf("distance options: frame difference %d, want ≥ 0", o.MaxFrameDiff)
	}
	_, err := NewMelCepstrum(o.Order, o.Alpha, o.FFTLength, o.Floor)
	return err
}

// An Analysis is the frame-level description of one signal that the
// distances compare.
type Analysis struct {
	Frames      int
	Order       int       // M
	Bins        int       // N/2+1
	MelCepstrum []float64 // Frames×(M+1): c̃_0..c̃_M of each frame
	LogPower    []float64 // Frames×Bins: 10·log10(periodogram + Floor), dB
}

// An Analyzer analyses signals under fixed Options. It holds an FFT plan
// and buffers: make one per goroutine.
type Analyzer struct {
	opt    Options
	mcep   *MelCepstrum
	window []float64
	frame  []float64
	power  []float64
}

// NewAnalyzer checks the options and prepares the window and FFT.
func NewAnalyzer(opt Options) (*Analyzer, error) {
	if err := opt.Validate(); err != nil {
		return nil, err
	}
	m, err := NewMelCepstrum(opt.Order, opt.Alpha, opt.FFTLength, opt.Floor)
	if err != nil {
		return nil, err
	}
	return &Analyzer{opt: opt, mcep: m, window: blackman(opt.FrameLength),
		frame: make([]float64, opt.FrameLength), power: make([]float64, opt.FFTLength/2+1)}, nil
}

// Options are the analyzer's options.
func (a *Analyzer) Options() Options { return a.opt }

// blackman is SPTK's default window (window -w 0): 0.42 − 0.5·cos(2πn/(L−1))
// + 0.08·cos(4πn/(L−1)), scaled to unit power (window -n 1: Σ w² = 1).
func blackman(n int) []float64 {
	w := make([]float64, n)
	var power float64
	for i := range w {
		x := 2 * math.Pi * float64(i) / float64(n-1)
		w[i] = 0.42 - 0.5*math.Cos(x) + 0.08*math.Cos(2*x)
		power += w[i] * w[i]
	}
	g := 1 / math.Sqrt(power)
	for i := range w {
		w[i] *= g
	}
	return w
}

// ErrTooShort is returned for a signal shorter than one frame.
var ErrTooShort = errors.New("shorter than one analysis frame")

// Analyse cuts x (samples in [-1, 1), as the audio package decodes them)
// into frames of FrameLength every FrameShift, keeping only whole frames
// (frame t covers samples t·shift .. t·shift+length−1: Kaldi's snip-edges),
// scales them to int16 units (×32768, as SPTK reads 16-bit PCM), windows
// them and computes each frame's periodogram and mel-cepstrum.
func (a *Analyzer) Analyse(x []float32) (*Analysis, error) {
	o := a.opt
	frames := kaldifeat.NumFrames(len(x), o.FrameLength, o.FrameShift, true)
	if frames == 0 {
		return nil, fmt.Errorf("%d samples: %w (%d)", len(x), ErrTooShort, o.FrameLength)
	}
	bins := o.FFTLength/2 + 1
	an := &Analysis{Frames: frames, Order: o.Order, Bins: bins,
		MelCepstrum: make([]float64, frames*(o.Order+1)), LogPower: make([]float64, frames*bins)}
	for t := 0; t < frames; t++ {
		start := kaldifeat.FirstSample(t, o.FrameLength, o.FrameShift, true)
		for i, w := range a.window {
			a.frame[i] = float64(x[start+i]) * 32768 * w
		}
		a.mcep.Periodogram(a.power, a.frame)
		lp := an.LogPower[t*bins : (t+1)*bins]
		for k, p := range a.power {
			lp[k] = 10 * math.Log10(p)
		}
		if err := a.mcep.Analyse(an.MelCepstrum[t*(o.Order+1):(t+1)*(o.Order+1)], a.power); err != nil {
			return nil, fmt.Errorf("frame %d: %w", t, err)
		}
	}
	return an, nil
}

// A Result holds the distances between a reference and a degraded signal.
type Result struct {
	Frames    int     `json:"frames"`     // frames compared (the common ones)
	RefFrames int     `json:"ref_frames"` // frames of the reference
	DegFrames int     `json:"deg_frames"` // frames of the degraded signal
	MCD       float64 `json:"mcd_db"`     // mel-cepstral distortion, dB (see the package doc)
	LSD       float64 `json:"lsd_db"`     // log-spectral distance, dB
}

// A FrameCountError is a pair whose frame counts differ by more than
// Options.MaxFrameDiff.
type FrameCountError struct {
	Ref, Deg, Max int
}

func (e *FrameCountError) Error() string {
	return fmt.Sprintf("the reference has %d frames and the degraded signal %d: more than %d apart (compare does not align signals in time)", e.Ref, e.Deg, e.Max)
}

// mcdScale is 10/ln 10: it turns a natural-log cepstral distance into dB.
var mcdScale = 10 / math.Ln10

// Distances compares two analyses made with the same options over their
// common frames.
func Distances(ref, deg *Analysis, maxFrameDiff int) (Result, error) {
	if ref.Order != deg.Order || ref.Bins != deg.Bins {
		return Result{}, fmt.Errorf("analyses of order %d/%d and %d/%d bins: made with different options", ref.Order, deg.Order, ref.Bins, deg.Bins)
	}
	if d := ref.Frames - deg.Frames; d > maxFrameDiff || -d > maxFrameDiff {
		return Result{}, &FrameCountError{Ref: ref.Frames, Deg: deg.Frames, Max: maxFrameDiff}
	}
	r := Result{Frames: min(ref.Frames, deg.Frames), RefFrames: ref.Frames, DegFrames: deg.Frames}
	m, b := ref.Order+1, ref.Bins
	var mcd, lsd float64
	for t := 0; t < r.Frames; t++ {
		var s float64
		for d := 1; d < m; d++ { // c̃_0, the energy, is left out
			e := ref.MelCepstrum[t*m+d] - deg.MelCepstrum[t*m+d]
			s += e * e
		}
		mcd += mcdScale * math.Sqrt(2*s)
		s = 0
		for k := 0; k < b; k++ {
			e := ref.LogPower[t*b+k] - deg.LogPower[t*b+k]
			s += e * e
		}
		lsd += math.Sqrt(s / float64(b))
	}
	r.MCD = mcd / float64(r.Frames)
	r.LSD = lsd / float64(r.Frames)
	return r, nil
}

// Compare analyses both signals and returns their distances.
func (a *Analyzer) Compare(ref, deg []float32) (Result, error) {
	ra, err := a.Analyse(ref)
	if err != nil {
		return Result{}, fmt.Errorf("reference: %w", err)
	}
	da, err := a.Analyse(deg)
	if err != nil {
		return Result{}, fmt.Errorf("degraded: %w", err)
	}
	return Distances(ra, da, a.opt.MaxFrameDiff)
}
