// Package bench measures the throughput of training, generation and
// feature extraction the way the PyTorch reference benchmark
// (torch_wavenet.py) does, with the same configuration file, measurement
// names and units, so the two can be compared number for number.
//
// A configuration file (Config) holds a base model, named variants of it,
// and sections that say what to measure. Each variant gives these
// measurements (Config.Names lists them in the reference's order):
//
//	train_<variant>_b<B>x<T>  one training step (forward, cross-entropy,
//	                          backward, optimizer) on B sequences of T
//	                          samples; rate = timesteps trained per second
//	gen_naive_<variant>       one sample from the full network over the
//	                          last receptive field (all of its positions)
//	gen_fast_<variant>        one sample with per-layer queues
//	                          (causalconv.Generator)
//	vocode_<variant>          gen_fast of the variant locally conditioned as
//	                          `train --condition fbank` makes it at 8 kHz
//	                          (40 bins, hop 80), given features: a vocoder
//	features_<variant>        learned frame features, audio samples/s
//	features_fbank            Kaldi log-mel filterbank, audio samples/s
//
// Measure runs one of them: random weights and a synthetic signal (seeded
// by runtime.seed), warm-up, then timed units until the section's minimum
// count and time are reached. A Result is summarised as the reference's
// report does: the rate is a unit's samples over the best (or the median)
// time per unit, and GFLOP/s counts the model's GEMM work only, with the
// reference's FLOP counts (causalconv.Config.FLOPs).
//
// Measure allocates the model and its buffers anew each time; to give each
// measurement a peak memory of its own, as `nextsample bench` does, run
// each in a process of its own. A Runner does that: it starts a process
// per measurement (RunProcess reads the Result the process prints and its
// peak RSS) and, given a Reference, runs the PyTorch scripts on the same
// measurement right after ours. Each ends as a Report: our figures, the
// reference's (PyTorch float32, and bf16 autocast for training) and ours
// over theirs, with its CSV line (Report.WriteCSV) and JSON form.
package bench

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/nextsample/nextsample/audio"
	"github.com/nextsample/nextsample/audio/featio"
	"github.com/nextsample/nextsample/causalconv"
	"github.com/nextsample/nextsample/causalconv/features"
	"github.com/nextsample/nextsample/causalconv/kernels"
	"github.com/nextsample/nextsample/train"
	"github.com/nextsample/nextsample/train/launch"
)

// vocodeRate is the sample rate whose default features the vocode
// measurements condition on (FSDD's).
const vocodeRate = 8000

// Options say how measurements run.
type Options struct {
	// Threads is the number of workers of training and feature
	// extraction; with 2 or more, fast generation runs on two cores
	// (causalconv.GeneratorOptions.Threads), as the reference's does.
	// 0 means the configuration's runtime.threads, or 2.
	Threads int
	// Statistic is "best" or "median": which per-unit time gives the
	// rate. "" means runtime.statistic, or "best".
	Statistic string
	// Kernels is the kernel set; the zero Set means kernels.Best().
	Kernels kernels.Set
	// Precision is the arithmetic of the training measurements' matrix
	// products (causalconv.Precision); the others run in float32.
	Precision causalconv.Precision
}

// Resolve returns o with its zero fields set to their defaults from c.
func (c *Config) Resolve(o Options) Options {
	o.Threads = cmp.Or(o.Threads, c.Runtime.Threads, 2)
	o.Statistic = cmp.Or(o.Statistic, c.Runtime.Statistic, "best")
	if o.Kernels.Name == "" {
		o.Kernels = kernels.Best()
	}
	return o
}

// Result is one measurement, in the reference's units, with the
// distribution of the per-unit times it was summarised from. Its JSON
// form has the keys of the reference's report.
type Result struct {
	Name        string  `json:"name"`
	SamplesPerS float64 `json:"samples_per_s"`
	GFLOPs      float64 `json:"gflops"`
	// N units of Unit samples were timed; BestS, MedianS and MaxS are
	// their times in seconds.
	N       int     `json:"n"`
	Unit    int     `json:"unit_samples"`
	BestS   float64 `json:"best_s"`
	MedianS float64 `json:"median_s"`
	MaxS    float64 `json:"max_s"`
	// Note says what ran (threads, kernels, …), starting with a space.
	Note string `json:"note,omitempty"`
	// RSSMiB is the peak resident set size, in MiB, of the process that
	// ran the measurement when it ran in one of its own (RunProcess, or a
	// Reference's script); Measure leaves it 0.
	RSSMiB float64 `json:"rss_mib,omitempty"`
	// Precision is the training measurements' arithmetic (fp32 or bf16).
	Precision string `json:"precision,omitempty"`
}

// Measure runs the measurement name, one of c.Names(). If ctx is
// cancelled it stops early with an error.
func Measure(ctx context.Context, c *Config, name string, o Options) (Result, error) {
	o = c.Resolve(o)
	if o.Statistic != "best" && o.Statistic != "median" {
		return Result{}, fmt.Errorf("statistic %q: must be best or median", o.Statistic)
	}
	if err := causalconv.CheckPrecision(o.Precision, o.Kernels); err != nil {
		return Result{}, err
	}
	m := &meter{c: c, o: o, name: name}
	if name == "features_fbank" {
		return m.features(ctx, featio.KindFbank, causalconv.Config{})
	}
	for _, v := range c.Variants {
		for _, s := range c.Train.Shapes {
			if name == trainName(v, s) {
				return m.train(ctx, v.Model, s)
			}
		}
		switch name {
		case "gen_naive_" + v.Name:
			return m.genNaive(ctx, v.Model)
		case "gen_fast_" + v.Name:
			return m.genFast(ctx, v.Model, false)
		case "vocode_" + v.Name:
			return m.genFast(ctx, v.Model, true)
		case "features_" + v.Name:
			return m.features(ctx, featio.KindLearned, v.Model)
		}
	}
	return Result{}, errors.New("no such measurement")
}

// meter is one measurement of a configuration.
type meter struct {
	c    *Config
	o    Options
	name string
}

// summarize turns per-unit times into a result, as the reference's report
// does: the rate is unit samples over the best (or median) time.
func (m *meter) summarize(times []float64, unit int, flopsPerSample float64) Result {
	sorted := slices.Clone(times)
	slices.Sort(sorted)
	r := Result{Name: m.name, N: len(times), Unit: unit, BestS: sorted[0], MaxS: sorted[len(sorted)-1]}
	if n := len(sorted); n%2 == 1 {
		r.MedianS = sorted[n/2]
	} else {
		r.MedianS = (sorted[n/2-1] + sorted[n/2]) / 2
	}
	per := r.BestS
	if m.o.Statistic == "median" {
		per = r.MedianS
	}
	r.SamplesPerS = float64(unit) / per
	r.GFLOPs = r.SamplesPerS * flopsPerSample / 1e9
	return r
}

// syntheticClasses is the reference's benchmark signal: a chirp with a
// third harmonic and a little noise, μ-law encoded. Only its statistics
// matter for speed; it is not the reference's exact sequence.
func syntheticClasses(rng *rand.Rand, length, rate, q int) []int32 {
	f0 := 100 + 300*rng.Float64()
	x := make([]float32, length)
	for i := range x {
		t := float64(i) / float64(rate)
		phase := 2 * math.Pi * (f0*t + 50*t*t)
		v := 0.5*math.Sin(phase) + 0.2*math.Sin(3*phase) + 0.05*rng.NormFloat64()
		x[i] = float32(max(-1, min(1, v)))
	}
	out := make([]int32, length)
	audio.MuLaw{Q: q}.Encode(x, out)
	return out
}

// trainOptions are the options of a training measurement: the section's
// optimizer as the reference builds it, without clipping.
func (m *meter) trainOptions() train.Options {
	t := m.c.Train
	opt := cmp.Or(t.Optimizer, train.Adam)
	o := train.DefaultOptions(opt)
	o.LR = cmp.Or(t.LearningRate, o.LR)
	o.WeightDecay = t.WeightDecay
	o.Clip = 0
	if opt == train.Adam {
		o.Beta1, o.Beta2, o.Epsilon = cmp.Or(t.Beta1, o.Beta1), cmp.Or(t.Beta2, o.Beta2), cmp.Or(t.Epsilon, o.Epsilon)
	} else {
		o.Momentum, o.Nesterov = 0, false // torch.optim.SGD as the reference builds it
	}
	o.Threads = m.o.Threads
	o.Kernels = m.o.Kernels
	o.Precision = m.o.Precision
	return o
}

// train times training steps on shape's batch of synthetic sequences.
func (m *meter) train(ctx context.Context, cfg causalconv.Config, shape Shape) (Result, error) {
	t := m.c.Train
	model, err := causalconv.NewRandom(cfg, m.c.Seed())
	if err != nil {
		return Result{}, err
	}
	o := m.trainOptions()
	o.Chunk = train.ChunkFor(kernels.DetectMachine(), shape.Samples)
	st, err := train.NewStepper(model, o)
	if err != nil {
		return Result{}, err
	}
	defer st.Close()
	rng := rand.New(rand.NewPCG(m.c.Seed(), 0))
	units := make([]train.Unit, shape.Batch)
	for i := range units {
		units[i] = train.Unit{Seq: syntheticClasses(rng, shape.Samples+1, m.c.SampleRate(), cfg.QuantizationChannels), Targets: shape.Samples}
	}
	for i := 0; i < t.WarmupSteps; i++ {
		if _, err := st.Step(units); err != nil {
			return Result{}, err
		}
	}
	var times, losses []float64
	begin := time.Now()
	for len(times) < max(t.MinSteps, 1) || time.Since(begin).Seconds() < t.MinSeconds {
		if err := ctx.Err(); err != nil {
			return Result{}, err
		}
		t0 := time.Now()
		res, err := st.Step(units)
		if err != nil {
			return Result{}, err
		}
		times = append(times, time.Since(t0).Seconds())
		losses = append(losses, res.Nats)
	}
	r := m.summarize(times, shape.Batch*shape.Samples, float64(cfg.FLOPs().Train()))
	r.Note = fmt.Sprintf(" loss %.3f->%.3f threads=%d kernels=%s precision=%s", losses[0], losses[len(losses)-1], m.o.Threads, m.o.Kernels.Name, m.o.Precision)
	r.Precision = m.o.Precision.String()
	return r, nil
}

// samplers returns the generate section's batch of samplers, one per
// stream, and each stream's first input: silence.
func (m *meter) samplers(cfg causalconv.Config) ([]*causalconv.Sampler, []int32, error) {
	g := m.c.Generate
	streams := max(g.Batch, 1)
	samplers := make([]*causalconv.Sampler, streams)
	first := make([]int32, streams)
	silence := audio.MuLaw{Q: cfg.QuantizationChannels}.Silence()
	for s := range samplers {
		var err error
		if samplers[s], err = causalconv.NewSampler(m.o.Kernels, cfg.QuantizationChannels, cmp.Or(g.Temperature, 1), m.c.Seed(), uint64(s)); err != nil {
			return nil, nil, err
		}
		first[s] = silence
	}
	return samplers, first, nil
}

// genNaive times the reference's naive generation: every sample runs the
// full network over the last RF samples (all RF positions, as the
// reference computes them, though only the last one is used) and draws the
// next sample from the last position's softmax.
func (m *meter) genNaive(ctx context.Context, cfg causalconv.Config) (Result, error) {
	g := m.c.Generate
	model, err := causalconv.NewRandom(cfg, m.c.Seed())
	if err != nil {
		return Result{}, err
	}
	rf := cfg.ReceptiveField()
	ws, err := causalconv.NewEvalWorkspace(cfg, m.o.Kernels, rf)
	if err != nil {
		return Result{}, err
	}
	p := model.Packed()
	samplers, first, err := m.samplers(cfg)
	if err != nil {
		return Result{}, err
	}
	windows := make([][]int32, len(samplers))
	for s := range windows {
		windows[s] = make([]int32, rf)
		for i := range windows[s] {
			windows[s][i] = first[s]
		}
	}
	logits := make([]float32, cfg.QuantizationChannels*rf)
	var times []float64
	for i := 0; i < g.NaiveWarmupSamples+max(g.NaiveSamples, 1); i++ {
		if err := ctx.Err(); err != nil {
			return Result{}, err
		}
		t0 := time.Now()
		for s, w := range windows {
			out, err := ws.Logits(p, w, 0, logits)
			if err != nil {
				return Result{}, err
			}
			next := samplers[s].Draw(out.Data[out.Cols-1:], out.Stride)
			copy(w, w[1:])
			w[rf-1] = next
		}
		if i >= g.NaiveWarmupSamples {
			times = append(times, time.Since(t0).Seconds())
		}
	}
	r := m.summarize(times, len(windows), float64(rf)*float64(cfg.FLOPs().Forward()))
	r.Note = fmt.Sprintf(" window=%d kernels=%s one core", rf, m.o.Kernels.Name)
	return r, nil
}

// genFast times queue-cached generation, in blocks of fast_block_samples
// after fast_warmup_samples, as the reference does, on two cores when the
// options have two threads or more (GeneratorOptions.Threads; the
// reference runs its two threads too), else one. With vocode it times a vocoder: the model
// locally conditioned (the variant's own local_condition, or the default
// of a new fbank-conditioned model at 8 kHz), every stream given its own
// random features (standing for normalised log-mel frames: the speed does
// not depend on their values) long enough for every sample generated.
func (m *meter) genFast(ctx context.Context, cfg causalconv.Config, vocode bool) (Result, error) {
	g := m.c.Generate
	if vocode && cfg.LocalCondition == nil {
		fc, err := launch.FbankOptions{}.Config(vocodeRate)
		if err != nil {
			return Result{}, err
		}
		if cfg.LocalCondition, err = launch.LocalCondition(fc); err != nil {
			return Result{}, err
		}
	}
	model, err := causalconv.NewRandom(cfg, m.c.Seed())
	if err != nil {
		return Result{}, err
	}
	streams := max(g.Batch, 1)
	threads := min(m.o.Threads, 2)
	gen, err := causalconv.NewGenerator(model.Packed(), m.o.Kernels, streams, causalconv.GeneratorOptions{Threads: threads})
	if err != nil {
		return Result{}, err
	}
	blk := max(g.FastBlockSamples, 1)
	blocks := max(1, g.FastSamples/blk)
	note := ""
	if lc := cfg.LocalCondition; vocode {
		rng := rand.New(rand.NewPCG(uint64(m.c.Seed()), 7))
		frames := (g.FastWarmupSamples+blocks*blk)/lc.Hop + 1
		feats := make([]causalconv.Matrix, streams)
		for s := range feats {
			feats[s] = causalconv.Matrix{Rows: lc.Channels, Cols: frames, Stride: frames, Data: make([]float32, lc.Channels*frames)}
			for i := range feats[s].Data {
				feats[s].Data[i] = float32(rng.NormFloat64())
			}
		}
		if err := gen.SetFeatures(feats, make([]int, streams)); err != nil {
			return Result{}, err
		}
		note = fmt.Sprintf(" features=%dx%d", lc.Channels, lc.Hop)
	}
	samplers, last, err := m.samplers(cfg)
	if err != nil {
		return Result{}, err
	}
	out := make([][]int32, streams)
	for s := range out {
		out[s] = make([]int32, max(blk, g.FastWarmupSamples))
	}
	cut := func(n int) [][]int32 {
		v := make([][]int32, streams)
		for s := range out {
			v[s] = out[s][:n]
		}
		return v
	}
	warm, block := cut(g.FastWarmupSamples), cut(blk)
	step := func(o [][]int32) error {
		if len(o[0]) == 0 {
			return nil
		}
		if err := gen.Generate(ctx, last, samplers, o, nil); err != nil {
			return err
		}
		for s := range last {
			last[s] = o[s][len(o[s])-1]
		}
		return nil
	}
	if err := step(warm); err != nil {
		return Result{}, err
	}
	var times []float64
	for b := 0; b < blocks; b++ {
		t0 := time.Now()
		if err := step(block); err != nil {
			return Result{}, err
		}
		times = append(times, time.Since(t0).Seconds()/float64(blk))
	}
	r := m.summarize(times, streams, float64(cfg.FLOPs().Forward()))
	r.Note = fmt.Sprintf(" streams=%d kernels=%s threads=%d", streams, m.o.Kernels.Name, threads) + note
	return r, nil
}

// features times feature extraction (ours only; the reference has no such
// measurement): learned features are the mean-pooled skip sum.
func (m *meter) features(ctx context.Context, kind string, cfg causalconv.Config) (Result, error) {
	o := features.BenchOptions{Kind: kind, Model: cfg, Threads: m.o.Threads, SampleRate: 8000, Seed: m.c.Seed(),
		MinTime: time.Duration(max(m.c.Train.MinSeconds, 3) * float64(time.Second))}
	res, err := features.Bench(ctx, o)
	if err != nil {
		return Result{}, err
	}
	// Rounds are rates; turn them into seconds per audio sample so that
	// summarize can pick the best or the median like the others.
	times := make([]float64, len(res.Rounds))
	for i, sps := range res.Rounds {
		times[i] = 1 / sps
	}
	flops := 0.0
	if kind == featio.KindLearned {
		f := cfg.FLOPs()
		flops = float64(f.Input + f.FilterGate + f.Residual) // the layers; the head is not run, the skip product is pooled first
	}
	r := m.summarize(times, 1, flops)
	r.Note = fmt.Sprintf(" threads=%d dims=%d 8 kHz utterances of 2 s", res.Threads, res.Dim)
	return r, nil
}
