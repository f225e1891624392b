package features

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"time"

	"github.com/nextsample/nextsample/audio"
	"github.com/nextsample/nextsample/audio/featio"
	"github.com/nextsample/nextsample/audio/kaldifeat"
	"github.com/nextsample/nextsample/causalconv"
)

// BenchOptions configure Bench.
type BenchOptions struct {
	// Kind is featio.KindLearned (the default), KindFbank or KindMFCC.
	Kind string
	// Model is the architecture of learned features, with random
	// weights; the zero value means causalconv.DefaultConfig().
	Model causalconv.Config
	// Layers is the --layers specification; "" means "skip".
	Layers string
	// Threads is the number of workers; 0 means GOMAXPROCS.
	Threads int
	// SampleRate of the synthetic audio; 0 means 8000.
	SampleRate int
	// Utterance is the length of each synthetic utterance in samples;
	// 0 means 2 seconds.
	Utterance int
	// MinTime is how long to measure, warm-up aside; 0 means 3 s.
	MinTime time.Duration
	// Seed fixes the weights and the audio.
	Seed uint64
}

// BenchResult is a throughput measurement.
type BenchResult struct {
	// Samples computed in the timed rounds, and the time they took.
	Samples int64
	Seconds float64
	// SamplesPerSecond is Samples/Seconds; Rounds is the throughput of
	// each timed round (a round gives every worker a few utterances), for
	// callers that report the best or the median.
	SamplesPerSecond float64
	Rounds           []float64
	// Dim is the number of values per frame, Threads the workers used.
	Dim, Threads int
}

// Bench measures the throughput of feature extraction in samples of audio
// per second: the same workers and per-utterance work as WriteCorpus
// (μ-law encoding, the network and pooling, or fbank/MFCC), on synthetic
// utterances held in memory, without decoding or writing files. It is
// what `nextsample bench` reports as features_<variant> and
// features_fbank.
func Bench(ctx context.Context, o BenchOptions) (BenchResult, error) {
	threads := o.Threads
	if threads <= 0 {
		threads = runtime.GOMAXPROCS(0)
	}
	if o.SampleRate == 0 {
		o.SampleRate = 8000
	}
	if o.Utterance == 0 {
		o.Utterance = 2 * o.SampleRate
	}
	if o.MinTime == 0 {
		o.MinTime = 3 * time.Second
	}
	if o.Utterance < 1 || o.SampleRate < 1 {
		return BenchResult{}, errors.New("features: bench needs a positive sample rate and utterance length")
	}
	r, err := benchRecipe(o)
	if err != nil {
		return BenchResult{}, err
	}
	perRound := 4 * threads
	utts := syntheticUtterances(o.Seed, perRound, o.Utterance, o.SampleRate)
	comps, err := newComputers(r, threads, perRound)
	if err != nil {
		return BenchResult{}, err
	}
	round := func() (time.Duration, error) {
		t0 := time.Now()
		_, err := run(ctx, comps, r.Dim, len(utts), func(i int) ([]float32, error) { return utts[i], nil },
			func(int, int, featio.Matrix) error { return nil }, nil, nil)
		return time.Since(t0), err
	}
	if _, err := round(); err != nil { // warm-up: workspaces touched, caches filled
		return BenchResult{}, err
	}
	res := BenchResult{Dim: r.Dim, Threads: threads}
	var total time.Duration
	for total < o.MinTime || len(res.Rounds) == 0 {
		d, err := round()
		if err != nil {
			return BenchResult{}, err
		}
		total += d
		n := int64(perRound) * int64(o.Utterance)
		res.Samples += n
		res.Rounds = append(res.Rounds, float64(n)/d.Seconds())
	}
	res.Seconds = total.Seconds()
	res.SamplesPerSecond = float64(res.Samples) / res.Seconds
	return res, nil
}

// benchRecipe builds the recipe Bench measures.
func benchRecipe(o BenchOptions) (*Recipe, error) {
	switch o.Kind {
	case "", featio.KindLearned:
		c := o.Model
		if len(c.Dilations) == 0 {
			c = causalconv.DefaultConfig()
		}
		m, err := causalconv.NewRandom(c, o.Seed)
		if err != nil {
			return nil, err
		}
		spec := o.Layers
		if spec == "" {
			spec = "skip"
		}
		layers, err := ParseLayers(spec, c.Layers())
		if err != nil {
			return nil, err
		}
		fr, err := FramingMs(o.SampleRate, 25, 10, true)
		if err != nil {
			return nil, err
		}
		s := audio.DefaultSettings()
		s.SampleRate = o.SampleRate
		s.Quantization = c.QuantizationChannels
		return Learned(m, s, Options{Layers: layers, Framing: fr}, "", "")
	case featio.KindFbank, featio.KindMFCC:
		cfg := kaldifeat.DefaultFbank(float64(o.SampleRate))
		if o.Kind == featio.KindMFCC {
			cfg = kaldifeat.DefaultMFCC(float64(o.SampleRate))
		}
		return Kaldi(cfg, KaldiSettings(o.SampleRate, false))
	}
	return nil, fmt.Errorf("features: unknown kind %q (want learned, fbank or mfcc)", o.Kind)
}

// syntheticUtterances returns n utterances of length samples: a few
// gliding harmonics with noise, at speech-like levels (the arithmetic does
// not depend on the content; the values only have to be plausible).
func syntheticUtterances(seed uint64, n, length, rate int) [][]float32 {
	rng := rand.New(rand.NewPCG(seed, 0x6665617475726573)) // "features"
	out := make([][]float32, n)
	for u := range out {
		x := make([]float32, length)
		f0 := 90 + 160*rng.Float64()
		for i := range x {
			t := float64(i) / float64(rate)
			f := f0 * (1 + 0.2*math.Sin(2*math.Pi*1.5*t))
			v := 0.0
			for h := 1; h <= 5; h++ {
				v += math.Sin(2*math.Pi*f*float64(h)*t) / float64(h)
			}
			x[i] = float32(0.25*v + 0.02*rng.NormFloat64())
		}
		out[u] = x
	}
	return out
}
