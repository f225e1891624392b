// Package kaldifeat computes Kaldi-compatible log-mel filterbank (fbank)
// and MFCC features: the classic speech front end that recognizers such as
// Kaldi, ESPnet, k2/lhotse and SpeechBrain are trained on, and the baseline
// that nextsample's learned features are compared with.
//
// The arithmetic follows Kaldi's compute-fbank-feats and compute-mfcc-feats
// (feature-window.cc, mel-computations.cc, feature-mfcc.cc) step by step,
// and the tests check it against torchaudio.compliance.kaldi, which mirrors
// Kaldi, to 1e-3 on log values. For each frame of FrameLengthMs, every
// FrameShiftMs:
//
//  1. cut the frame out of the waveform (see [FirstSample] for where frames
//     start and how the edges are handled when SnipEdges is false), with
//     samples in int16 scale: Compute multiplies its [-1, 1) input by 32768,
//     because Kaldi reads 16-bit PCM as integers and its energy floor and
//     epsilon are absolute;
//  2. add Gaussian dither (off by default, so that features are
//     reproducible), remove the frame's mean (RemoveDCOffset);
//  3. log energy of the frame here if RawEnergy, pre-emphasis
//     x[i] -= 0.97·x[i-1] (x[0] -= 0.97·x[0]), multiply by the window
//     (Povey's: a Hann window raised to 0.85), zero-pad to a power of two;
//  4. power spectrum |X_k|² of the real FFT (gonum's dsp/fourier);
//  5. triangular filters equally spaced on the mel scale
//     1127·ln(1 + f/700) between LowFreq and HighFreq, then the natural
//     log, floored at float32's epsilon; that is fbank;
//  6. for MFCC, the orthonormal DCT-II of the log filterbank (Kaldi keeps
//     C0's weight at sqrt(1/bins)), the first NumCeps coefficients,
//     liftered by 1 + L/2·sin(πi/L); with UseEnergy, C0 is replaced by the
//     frame's log energy.
//
// An [Extractor] holds its FFT plan, filter bank and buffers, allocated once
// and reused for every utterance; it is not safe for concurrent use: make one
// per goroutine.
package kaldifeat

import (
	"encoding/json"
	"fmt"
	"math"
)

// Kinds of features an Extractor computes.
const (
	KindFbank = "fbank"
	KindMFCC  = "mfcc"
)

// Window types, as Kaldi's --window-type names them.
const (
	WindowPovey       = "povey"
	WindowHamming     = "hamming"
	WindowHanning     = "hanning"
	WindowRectangular = "rectangular"
	WindowBlackman    = "blackman"
)

// Config holds the options of Kaldi's compute-fbank-feats and
// compute-mfcc-feats that matter for 16-bit mono speech. Field names and
// JSON keys follow Kaldi's option names, so a features.json sidecar says in
// Kaldi's terms how its features were made. Start from [DefaultFbank] or
// [DefaultMFCC] and change what you need.
type Config struct {
	// Kind is KindFbank or KindMFCC.
	Kind string `json:"kind"`

	// SampleFrequency of the input in Hz.
	SampleFrequency float64 `json:"sample_frequency"`
	// FrameLengthMs and FrameShiftMs give the window and the hop in
	// milliseconds; in samples they are truncated, as Kaldi does:
	// 25 ms and 10 ms at 8 kHz are 200 and 80 samples.
	FrameLengthMs float64 `json:"frame_length_ms"`
	FrameShiftMs  float64 `json:"frame_shift_ms"`
	// SnipEdges true keeps only frames that fit entirely in the signal;
	// false makes frame t centred on sample t·hop + hop/2 and reflects the
	// signal at both ends (see FirstSample).
	SnipEdges bool `json:"snip_edges"`

	// Dither is the standard deviation, in int16 units, of Gaussian noise
	// added to every sample of every frame (Kaldi's default is 1; ours is 0
	// so that features are reproducible). DitherSeed seeds the noise; the
	// stream restarts at every Compute call, so an utterance's features do
	// not depend on which goroutine computed it or in what order.
	Dither     float64 `json:"dither"`
	DitherSeed uint64  `json:"dither_seed"`

	// RemoveDCOffset subtracts each frame's mean before anything else.
	RemoveDCOffset bool `json:"remove_dc_offset"`
	// PreemphasisCoefficient is the c of x[i] -= c·x[i-1]; 0 disables it.
	PreemphasisCoefficient float64 `json:"preemphasis_coefficient"`
	// WindowType is one of the Window* constants; BlackmanCoeff is the
	// constant of the generalized Blackman window.
	WindowType    string  `json:"window_type"`
	BlackmanCoeff float64 `json:"blackman_coeff"`
	// RoundToPowerOfTwo zero-pads each frame to the next power of two
	// before the FFT (256 for 200 samples).
	RoundToPowerOfTwo bool `json:"round_to_power_of_two"`

	// NumMelBins triangular filters between LowFreq and HighFreq (Hz);
	// HighFreq <= 0 means Nyquist + HighFreq.
	NumMelBins int     `json:"num_mel_bins"`
	LowFreq    float64 `json:"low_freq"`
	HighFreq   float64 `json:"high_freq"`

	// UseEnergy adds the frame's log energy: as an extra first column for
	// fbank, in place of C0 for MFCC. RawEnergy measures it before
	// pre-emphasis and windowing. EnergyFloor is an absolute floor on the
	// energy (not its log); 0 disables it.
	UseEnergy   bool    `json:"use_energy"`
	RawEnergy   bool    `json:"raw_energy"`
	EnergyFloor float64 `json:"energy_floor"`

	// NumCeps cepstral coefficients (MFCC only), C0 included, and the
	// cepstral lifter L (0 disables liftering).
	NumCeps        int     `json:"num_ceps,omitempty"`
	CepstralLifter float64 `json:"cepstral_lifter,omitempty"`
}

// DefaultFbank returns Kaldi's compute-fbank-feats defaults at the given
// sample rate, except Dither, which is 0 for reproducibility, and
// EnergyFloor, which is 1 as in torchaudio (only used with UseEnergy).
// The result has 23 dimensions.
func DefaultFbank(sampleFrequency float64) Config {
	return Config{
		Kind:                   KindFbank,
		SampleFrequency:        sampleFrequency,
		FrameLengthMs:          25,
		FrameShiftMs:           10,
		SnipEdges:              true,
		RemoveDCOffset:         true,
		PreemphasisCoefficient: 0.97,
		WindowType:             WindowPovey,
		BlackmanCoeff:          0.42,
		RoundToPowerOfTwo:      true,
		NumMelBins:             23,
		LowFreq:                20,
		HighFreq:               0,
		UseEnergy:              false,
		RawEnergy:              true,
		EnergyFloor:            1,
	}
}

// DefaultMFCC returns Kaldi's compute-mfcc-feats defaults at the given
// sample rate (13 cepstra from 23 filters, lifter 22, log energy in place
// of C0), with Dither 0 and EnergyFloor 1 as in DefaultFbank. Note that
// torchaudio's mfcc defaults to use_energy=False; Kaldi's to true.
func DefaultMFCC(sampleFrequency float64) Config {
	c := DefaultFbank(sampleFrequency)
	c.Kind = KindMFCC
	c.UseEnergy = true
	c.NumCeps = 13
	c.CepstralLifter = 22
	return c
}

// WindowSize is the frame length in samples.
func (c Config) WindowSize() int {
	return int(c.SampleFrequency * 0.001 * c.FrameLengthMs)
}

// WindowShift is the frame shift in samples.
func (c Config) WindowShift() int {
	return int(c.SampleFrequency * 0.001 * c.FrameShiftMs)
}

// PaddedWindowSize is the FFT length.
func (c Config) PaddedWindowSize() int {
	n := c.WindowSize()
	if !c.RoundToPowerOfTwo {
		return n
	}
	p := 1
	for p < n {
		p <<= 1
	}
	return p
}

// Dim is the number of values per frame.
func (c Config) Dim() int {
	switch {
	case c.Kind == KindMFCC:
		return c.NumCeps
	case c.UseEnergy:
		return c.NumMelBins + 1
	default:
		return c.NumMelBins
	}
}

// NumFrames returns how many frames Compute makes of numSamples samples.
func (c Config) NumFrames(numSamples int) int {
	return NumFrames(numSamples, c.WindowSize(), c.WindowShift(), c.SnipEdges)
}

// Validate reports the first option that is out of range, in Kaldi's terms.
func (c Config) Validate() error {
	if c.Kind != KindFbank && c.Kind != KindMFCC {
		return fmt.Errorf("kaldifeat: kind %q is not %q or %q", c.Kind, KindFbank, KindMFCC)
	}
	if !(c.SampleFrequency > 0) || math.IsInf(c.SampleFrequency, 0) {
		return fmt.Errorf("kaldifeat: sample_frequency %v must be positive", c.SampleFrequency)
	}
	if !(c.FrameLengthMs > 0) || !(c.FrameShiftMs > 0) || math.IsInf(c.FrameLengthMs, 0) || math.IsInf(c.FrameShiftMs, 0) {
		return fmt.Errorf("kaldifeat: frame_length_ms %v and frame_shift_ms %v must be positive", c.FrameLengthMs, c.FrameShiftMs)
	}
	// The bounds keep every size well inside int32 (Kaldi's index type)
	// and the buffers small: a frame longer than a second is a mistake.
	if w := c.SampleFrequency * 0.001 * c.FrameLengthMs; w < 2 || w > 1<<20 {
		return fmt.Errorf("kaldifeat: frame of %v ms at %v Hz is %d samples, want 2 to %d", c.FrameLengthMs, c.SampleFrequency, int(w), 1<<20)
	}
	if s := c.SampleFrequency * 0.001 * c.FrameShiftMs; s < 1 || s > 1<<20 {
		return fmt.Errorf("kaldifeat: frame shift of %v ms at %v Hz is %d samples, want 1 to %d", c.FrameShiftMs, c.SampleFrequency, int(s), 1<<20)
	}
	if c.PaddedWindowSize()%2 != 0 {
		return fmt.Errorf("kaldifeat: FFT length %d is odd; set round_to_power_of_two or an even frame length", c.PaddedWindowSize())
	}
	if !(c.Dither >= 0) || math.IsInf(c.Dither, 0) {
		return fmt.Errorf("kaldifeat: dither %v must be >= 0", c.Dither)
	}
	if !(c.PreemphasisCoefficient >= 0 && c.PreemphasisCoefficient <= 1) {
		return fmt.Errorf("kaldifeat: preemphasis_coefficient %v must be in [0, 1]", c.PreemphasisCoefficient)
	}
	switch c.WindowType {
	case WindowPovey, WindowHamming, WindowHanning, WindowRectangular, WindowBlackman:
	default:
		return fmt.Errorf("kaldifeat: unknown window_type %q (want povey, hamming, hanning, rectangular or blackman)", c.WindowType)
	}
	if math.IsNaN(c.BlackmanCoeff) || math.IsInf(c.BlackmanCoeff, 0) {
		return fmt.Errorf("kaldifeat: blackman_coeff %v is not finite", c.BlackmanCoeff)
	}
	if c.NumMelBins <= 3 || c.NumMelBins > 1024 {
		return fmt.Errorf("kaldifeat: num_mel_bins %d must be in 4..1024", c.NumMelBins)
	}
	nyquist := 0.5 * c.SampleFrequency
	high := c.HighFreq
	if high <= 0 {
		high += nyquist
	}
	if !(c.LowFreq >= 0 && c.LowFreq < nyquist && high > 0 && high <= nyquist && c.LowFreq < high) {
		return fmt.Errorf("kaldifeat: low_freq %v and high_freq %v (%v Hz) do not fit in 0..%v Hz", c.LowFreq, c.HighFreq, high, nyquist)
	}
	if !(c.EnergyFloor >= 0) || math.IsInf(c.EnergyFloor, 0) {
		return fmt.Errorf("kaldifeat: energy_floor %v must be >= 0", c.EnergyFloor)
	}
	if c.Kind == KindMFCC {
		if c.NumCeps < 1 || c.NumCeps > c.NumMelBins {
			return fmt.Errorf("kaldifeat: num_ceps %d must be in 1..num_mel_bins (%d)", c.NumCeps, c.NumMelBins)
		}
		if !(c.CepstralLifter >= 0) || math.IsInf(c.CepstralLifter, 0) {
			return fmt.Errorf("kaldifeat: cepstral_lifter %v must be >= 0", c.CepstralLifter)
		}
	}
	return nil
}

// String returns the configuration as one line of JSON.
func (c Config) String() string {
	b, err := json.Marshal(c)
	if err != nil {
		return fmt.Sprintf("%#v", c)
	}
	return string(b)
}
