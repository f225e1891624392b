package kaldifeat

import (
	"math"
	"math/rand/v2"

	"gonum.org/v1/gonum/dsp/fourier"
)

// int16Scale converts samples in [-1, 1) to the integer scale Kaldi
// reads 16-bit PCM in.
const int16Scale = 32768

// float32Epsilon is std::numeric_limits<float>::epsilon(), the floor Kaldi
// puts under energies before taking their log.
const float32Epsilon = 1.1920928955078125e-07

// ditherStream is the second word of the PCG seed; any constant works, it
// only has to stay fixed so that a DitherSeed always means the same noise.
const ditherStream = 0x6b61_6c64_6966_6561 // "kaldifea"

// Extractor computes fbank or MFCC features with one Config. It owns its
// FFT plan and buffers and reuses them across calls: it is not safe for
// concurrent use; make one per goroutine.
type Extractor struct {
	cfg    Config
	window int // frame length in samples
	hop    int // frame shift in samples
	dim    int

	windowFn []float64 // window function, length window
	fft      *fourier.FFT
	frame    []float64    // one frame, zero-padded to the FFT length
	spectrum []complex128 // FFT output, FFT length/2 + 1
	power    []float64    // |X_k|², FFT length/2 + 1
	mel      []melBin
	melOut   []float64 // log filterbank energies of one frame

	dct    []float64 // NumCeps × NumMelBins, row-major (MFCC only)
	lifter []float64 // NumCeps (MFCC only)

	logEnergyFloor float64 // -Inf when EnergyFloor is 0
	pcg            *rand.PCG
	rng            *rand.Rand
}

// melBin is one triangular filter: weights[j] applies to power[offset+j].
// Storing only the non-zero span makes the filter bank a few hundred
// multiply-adds per frame instead of bins × FFT length.
type melBin struct {
	offset  int
	weights []float64
}

// New returns an Extractor for cfg, or the reason cfg is invalid.
func New(cfg Config) (*Extractor, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	e := &Extractor{
		cfg:    cfg,
		window: cfg.WindowSize(),
		hop:    cfg.WindowShift(),
		dim:    cfg.Dim(),
	}
	padded := cfg.PaddedWindowSize()
	e.windowFn = windowFunction(cfg.WindowType, e.window, cfg.BlackmanCoeff)
	e.fft = fourier.NewFFT(padded)
	e.frame = make([]float64, padded)
	e.spectrum = make([]complex128, padded/2+1)
	e.power = make([]float64, padded/2+1)
	mel, err := melBanks(cfg, padded)
	if err != nil {
		return nil, err
	}
	e.mel = mel
	e.melOut = make([]float64, cfg.NumMelBins)
	if cfg.Kind == KindMFCC {
		e.dct = dctMatrix(cfg.NumCeps, cfg.NumMelBins)
		e.lifter = lifterCoefficients(cfg.NumCeps, cfg.CepstralLifter)
	}
	e.logEnergyFloor = math.Inf(-1)
	if cfg.EnergyFloor > 0 {
		e.logEnergyFloor = math.Log(cfg.EnergyFloor)
	}
	e.pcg = rand.NewPCG(cfg.DitherSeed, ditherStream)
	e.rng = rand.New(e.pcg)
	return e, nil
}

// Config returns the configuration the Extractor was made with.
func (e *Extractor) Config() Config { return e.cfg }

// Dim is the number of values per frame.
func (e *Extractor) Dim() int { return e.dim }

// NumFrames returns the number of frames Compute makes of numSamples
// samples.
func (e *Extractor) NumFrames(numSamples int) int {
	return NumFrames(numSamples, e.window, e.hop, e.cfg.SnipEdges)
}

// Compute appends the features of wave, mono samples in [-1, 1) at
// Config.SampleFrequency, to dst, frame after frame (row-major,
// NumFrames(len(wave)) × Dim() values), and returns the extended slice and
// the number of frames. A signal too short for one frame gives none.
func (e *Extractor) Compute(dst []float32, wave []float32) ([]float32, int) {
	frames := e.NumFrames(len(wave))
	if frames == 0 {
		return dst, 0
	}
	if e.cfg.Dither > 0 {
		e.pcg.Seed(e.cfg.DitherSeed, ditherStream)
	}
	start := len(dst)
	dst = append(dst, make([]float32, frames*e.dim)...)
	for t := 0; t < frames; t++ {
		e.computeFrame(dst[start+t*e.dim:start+(t+1)*e.dim], wave, t)
	}
	return dst, frames
}

// computeFrame writes the features of frame t of wave into out.
func (e *Extractor) computeFrame(out []float32, wave []float32, t int) {
	cfg := &e.cfg
	n := e.window
	x := e.frame[:n]

	first := FirstSample(t, n, e.hop, cfg.SnipEdges)
	if first >= 0 && first+n <= len(wave) {
		for i, v := range wave[first : first+n] {
			x[i] = float64(v) * int16Scale
		}
	} else {
		for i := range x {
			x[i] = float64(wave[reflectIndex(first+i, len(wave))]) * int16Scale
		}
	}

	if cfg.Dither > 0 {
		for i := range x {
			x[i] += e.rng.NormFloat64() * cfg.Dither
		}
	}
	if cfg.RemoveDCOffset {
		var sum float64
		for _, v := range x {
			sum += v
		}
		mean := sum / float64(n)
		for i := range x {
			x[i] -= mean
		}
	}
	var logEnergy float64
	if cfg.RawEnergy {
		logEnergy = e.logEnergy(x)
	}
	if c := cfg.PreemphasisCoefficient; c != 0 {
		for i := n - 1; i > 0; i-- {
			x[i] -= c * x[i-1]
		}
		x[0] -= c * x[0]
	}
	for i, w := range e.windowFn {
		x[i] *= w
	}
	clear(e.frame[n:])
	if !cfg.RawEnergy {
		logEnergy = e.logEnergy(x)
	}

	e.fft.Coefficients(e.spectrum, e.frame)
	for k, c := range e.spectrum {
		re, im := real(c), imag(c)
		e.power[k] = re*re + im*im
	}
	for m, bin := range e.mel {
		var sum float64
		for j, w := range bin.weights {
			sum += w * e.power[bin.offset+j]
		}
		e.melOut[m] = math.Log(math.Max(sum, float32Epsilon))
	}

	if cfg.Kind == KindFbank {
		o := out
		if cfg.UseEnergy {
			out[0] = float32(logEnergy)
			o = out[1:]
		}
		for m, v := range e.melOut {
			o[m] = float32(v)
		}
		return
	}
	bins := cfg.NumMelBins
	for k := range out {
		row := e.dct[k*bins : (k+1)*bins]
		var sum float64
		for m, v := range e.melOut {
			sum += row[m] * v
		}
		out[k] = float32(sum * e.lifter[k])
	}
	if cfg.UseEnergy {
		out[0] = float32(logEnergy)
	}
}

// logEnergy returns log(Σx²), floored at float32's epsilon and at
// EnergyFloor.
func (e *Extractor) logEnergy(x []float64) float64 {
	var sum float64
	for _, v := range x {
		sum += v * v
	}
	return math.Max(math.Log(math.Max(sum, float32Epsilon)), e.logEnergyFloor)
}

// windowFunction returns the window of n samples; the cosine windows are
// symmetric (they reach their ends at samples 0 and n-1), as Kaldi's are.
func windowFunction(kind string, n int, blackmanCoeff float64) []float64 {
	w := make([]float64, n)
	a := 2 * math.Pi / float64(n-1)
	for i := range w {
		c := math.Cos(a * float64(i))
		switch kind {
		case WindowHanning:
			w[i] = 0.5 - 0.5*c
		case WindowHamming:
			w[i] = 0.54 - 0.46*c
		case WindowPovey:
			w[i] = math.Pow(0.5-0.5*c, 0.85)
		case WindowRectangular:
			w[i] = 1
		case WindowBlackman:
			w[i] = blackmanCoeff - 0.5*c + (0.5-blackmanCoeff)*math.Cos(2*a*float64(i))
		}
	}
	return w
}

// MelScale converts a frequency in Hz to mels as Kaldi does:
// 1127·ln(1 + f/700).
func MelScale(hz float64) float64 { return 1127 * math.Log(1+hz/700) }

// InverseMelScale converts mels back to Hz.
func InverseMelScale(mel float64) float64 { return 700 * (math.Exp(mel/1127) - 1) }
