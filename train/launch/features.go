package launch

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/nextsample/nextsample/audio"
	"github.com/nextsample/nextsample/audio/corpus"
	"github.com/nextsample/nextsample/audio/kaldifeat"
	"github.com/nextsample/nextsample/causalconv"
	"github.com/nextsample/nextsample/causalconv/features"
	"github.com/nextsample/nextsample/causalconv/modelfile"
	"github.com/nextsample/nextsample/train"
)

// FbankOptions are the Kaldi filterbank features of a new locally
// conditioned run (Request.Condition "fbank"): compute-fbank-feats'
// defaults (kaldifeat.DefaultFbank) without dither, with these changes.
type FbankOptions struct {
	// Bins is the number of mel bins, the features' dims (0: 40 below
	// 16 kHz, 80 at 16 kHz and above).
	Bins int
	// FrameLengthMs and FrameShiftMs are the window and the hop (0: 25
	// and 10 ms).
	FrameLengthMs, FrameShiftMs float64
	// Centred makes frame k centred on sample k·hop + hop/2 (Kaldi's
	// --snip-edges=false); false keeps only whole windows, Kaldi's default.
	Centred bool
}

// LCContext is the context conv_in of a new locally conditioned model
// reaches each side, in frames (r9y9's kernel of 5).
const LCContext = 2

// Config returns the kaldifeat configuration of o at rate Hz.
func (o FbankOptions) Config(rate int) (kaldifeat.Config, error) {
	cfg := kaldifeat.DefaultFbank(float64(rate))
	cfg.NumMelBins = o.Bins
	if cfg.NumMelBins == 0 {
		cfg.NumMelBins = 40
		if rate >= 16000 {
			cfg.NumMelBins = 80
		}
	}
	if o.FrameLengthMs != 0 {
		cfg.FrameLengthMs = o.FrameLengthMs
	}
	if o.FrameShiftMs != 0 {
		cfg.FrameShiftMs = o.FrameShiftMs
	}
	cfg.SnipEdges = !o.Centred
	cfg.Dither = 0
	if err := cfg.Validate(); err != nil {
		return cfg, &train.OptionError{Option: "Fbank", After: ": " + err.Error(), Err: err}
	}
	return cfg, nil
}

// LocalCondition returns the local conditioning of a new model on
// features of cfg: its dims, hop and window, conv_in over LCContext
// frames each side, and upsampling stages that factor the hop
// (UpsampleScales). Mean and Std are left for the training data's
// statistics (train.FeatureStats).
func LocalCondition(cfg kaldifeat.Config) (*causalconv.LocalCondition, error) {
	scales, err := UpsampleScales(cfg.WindowShift())
	if err != nil {
		return nil, err
	}
	return &causalconv.LocalCondition{Channels: cfg.Dim(), Hop: cfg.WindowShift(), Window: cfg.WindowSize(),
		SnipEdges: cfg.SnipEdges, Context: LCContext, UpsampleScales: scales}, nil
}

// UpsampleScales factors a hop into upsampling stages of at most 10
// each: three stages (as r9y9's vocoders, whose stretch-and-smooth stages
// stay short), or fewer when the hop has fewer prime factors, more when
// three cannot hold it; the largest stage as small as possible, the
// stages ascending: 80 → [4 4 5], 160 → [4 5 8], 200 → [5 5 8], 256 →
// [4 8 8], 6 → [2 3]. A hop with a prime factor above 10 cannot be
// factored so and is refused.
func UpsampleScales(hop int) ([]int, error) {
	if hop < 1 {
		return nil, fmt.Errorf("hop %d samples", hop)
	}
	var primes []int
	n := hop
	for p := 2; p <= n; p++ {
		for n%p == 0 {
			primes = append(primes, p)
			n /= p
		}
	}
	for _, p := range primes {
		if p > 10 {
			return nil, fmt.Errorf("a hop of %d samples has the prime factor %d: no upsampling stages of at most 10 make it (choose a frame shift whose hop in samples factors into 2, 3, 5 and 7)", hop, p)
		}
	}
	if hop == 1 {
		return []int{1}, nil
	}
	for k := min(3, len(primes)); ; k++ {
		if best := bestStages(primes, k); best != nil {
			return best, nil
		}
	}
}

// bestStages distributes primes (ascending) into k stages of at most 10,
// minimising the largest stage, then sorts them; nil when impossible.
func bestStages(primes []int, k int) []int {
	var best []int
	stages := make([]int, k)
	for i := range stages {
		stages[i] = 1
	}
	var place func(i int)
	place = func(i int) {
		if i < 0 {
			if best == nil || maxOf(stages) < maxOf(best) {
				best = sortedCopy(stages)
			}
			return
		}
		for j := range stages {
			if stages[j]*primes[i] <= 10 {
				stages[j] *= primes[i]
				place(i - 1)
				stages[j] /= primes[i]
			}
		}
	}
	place(len(primes) - 1) // largest primes first
	return best
}

func maxOf(v []int) int {
	m := v[0]
	for _, x := range v {
		m = max(m, x)
	}
	return m
}

func sortedCopy(v []int) []int {
	c := append([]int(nil), v...)
	for i := 1; i < len(c); i++ {
		for j := i; j > 0 && c[j] < c[j-1]; j-- {
			c[j], c[j-1] = c[j-1], c[j]
		}
	}
	return c
}

// featureRecipe is the corpus feature recipe of Kaldi features cfg of
// audio prepared as s.
func featureRecipe(cfg kaldifeat.Config, s audio.Settings) (corpus.FeatureRecipe, error) {
	r, err := features.Kaldi(cfg, s)
	if err != nil {
		return corpus.FeatureRecipe{}, err
	}
	key, err := json.Marshal(cfg)
	if err != nil {
		return corpus.FeatureRecipe{}, err
	}
	return corpus.FeatureRecipe{Key: string(key), Dims: r.Dim, NewComputer: func() (corpus.FeatureComputer, error) { return r.NewComputer() }}, nil
}

// openBoth opens the class and feature caches of entries, building the
// missing ones (in one decoding pass when both are), and reports them as
// openCache does: the pass's progress, then each open cache.
func openBoth(ctx context.Context, what string, entries []corpus.Entry, s audio.Settings, cfg kaldifeat.Config, o CacheOptions) (*corpus.ClassCache, *corpus.FeatureCache, error) {
	rep := newCacheReporter(what, entries, s, o)
	r, err := featureRecipe(cfg, s)
	if err != nil {
		return nil, nil, err
	}
	cc, fc, built, err := corpus.OpenCaches(ctx, entries, s, r, rep.options(o))
	if err != nil {
		return nil, nil, err
	}
	rep.opened(CacheEvent{Cache: cc, Built: built[0]})
	rep.opened(CacheEvent{FeatureCache: fc, Built: built[1]})
	return cc, fc, nil
}

// checkFeatureRate refuses feature settings at another rate than the
// run's audio.
func checkFeatureRate(cfg *kaldifeat.Config, s audio.Settings) error {
	if cfg != nil && cfg.SampleFrequency != float64(s.SampleRate) {
		return fmt.Errorf("metadata %q: features at %g Hz for a model at %d Hz", modelfile.KeyFeatures, cfg.SampleFrequency, s.SampleRate)
	}
	return nil
}
