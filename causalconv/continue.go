package causalconv

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nextsample/nextsample/causalconv/kernels"
)

// Continuing a prompt: many continuations on many cores.
//
// Continue is what `nextsample generate` does with a model and a prompt:
// it divides the continuations among Generators (streamGroups), warms each
// with the prompt, gives every continuation a Sampler of its own (the
// seed, and the continuation's number as the stream), and runs the
// generators on a pool of goroutines that take them in turn. The samples
// depend on the weights, the prompt, the kernel set, the seed, the
// temperature and the number of continuations, never on the number of
// goroutines: each generator's arithmetic is fixed by its group, whichever
// goroutine runs it.

// BatchStreams is how many continuations one Generator computes together
// with the batched matrix-vector kernel (MatVecBatch): the lanes of its
// vectors. With fewer streams the batched kernel is no faster per step, so
// one-stream generators (MatVec) do better.
const BatchStreams = 8

// ContinueOptions say what Continue generates and how.
type ContinueOptions struct {
	// Count is the number of independent continuations of the prompt
	// (0 means 1). Continuation s draws with NewSampler(Kernels, Q,
	// Temperature, Seed, s).
	Count int
	// Samples is the length of each continuation, at least 1.
	Samples int
	// Temperature divides the logits before the softmax: 1 samples the
	// model's distribution, lower is more conservative, 0 always takes
	// the most likely class.
	Temperature float64
	// Seed seeds every continuation's sampler; the same seed gives the
	// same samples.
	Seed uint64
	// Threads is the number of goroutines sharing the generators; 0 means
	// GOMAXPROCS. With at least two per generator, every generator uses a
	// second goroutine (GeneratorOptions.Threads 2); the samples are the
	// same.
	Threads int
	// Speakers, for a model conditioned on speakers, holds continuation
	// s's row of the speaker table at index s (Count rows); nil for an
	// unconditioned model.
	Speakers []int
	// Kernels is the kernel set; the zero Set means kernels.Best().
	Kernels kernels.Set
	// BF16 rounds the large weight matrices to bfloat16
	// (GeneratorOptions.BF16): faster, an approximation, and every
	// continuation then runs alone.
	BF16 bool
	// Progress, if not nil, is called as the continuations advance (every
	// 1,024 samples of each generator, and once at the end), never by two
	// goroutines at once. It must not block for long: the generators wait
	// for it.
	Progress func(ContinueProgress)
}

// ContinueProgress is how far Continue has got.
type ContinueProgress struct {
	// Done is the number of samples generated so far, all continuations
	// together, out of Total (Count·Samples for Continue; for Vocode each
	// group's longest utterance times the group's size).
	Done, Total int64
	// Elapsed is the time since generation started, after the prompt's
	// warm-up.
	Elapsed time.Duration
}

// SamplesPerSecond is the throughput so far, all continuations together.
func (p ContinueProgress) SamplesPerSecond() float64 {
	if p.Elapsed <= 0 {
		return 0
	}
	return float64(p.Done) / p.Elapsed.Seconds()
}

// Continuations are the result of Continue.
type Continuations struct {
	// Classes[s] holds continuation s: Samples μ-law classes, the prompt
	// not included.
	Classes [][]int32
	// Elapsed is the time the generation took, after the prompt's warm-up
	// (which every generator does on the calling goroutine first).
	Elapsed time.Duration
}

// SamplesPerSecond is the throughput of the generation, all
// continuations together.
func (c *Continuations) SamplesPerSecond() float64 {
	if c.Elapsed <= 0 || len(c.Classes) == 0 {
		return 0
	}
	return float64(len(c.Classes)) * float64(len(c.Classes[0])) / c.Elapsed.Seconds()
}

// Continue generates opt.Count continuations of prompt, a sequence of
// μ-law classes of at least one class (to start from silence, pass the
// silence class alone: the queues start at zero, as the forward pass's
// padding is). Only the prompt's last receptive field can influence the
// continuations (see Generator.Warm). The weights p are only read, and may
// be shared with other Generators and Workspaces.
//
// If ctx is cancelled, Continue stops within 1,024 samples and returns
// ctx's error (joined once per generator that was running).
func Continue(ctx context.Context, p *Packed, prompt []int32, opt ContinueOptions) (*Continuations, error) {
	opt, err := opt.check(p, prompt)
	if err != nil {
		return nil, err
	}
	out := make([][]int32, opt.Count)
	for s := range out {
		out[s] = make([]int32, opt.Samples)
	}
	var members [][]int
	first := 0
	for _, size := range streamGroups(opt.Count, opt.BF16) {
		members = append(members, seq(first, first+size))
		first += size
	}
	groups, err := newStreamGroups(p, prompt, out, members, opt, nil)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	err = runStreamGroups(ctx, groups, opt, start)
	return &Continuations{Classes: out, Elapsed: time.Since(start)}, err
}

// check validates opt and fills in its defaults.
func (opt ContinueOptions) check(p *Packed, prompt []int32) (ContinueOptions, error) {
	if p == nil {
		return opt, errors.New("causalconv: nil packed weights")
	}
	if len(prompt) == 0 {
		return opt, errors.New("causalconv: an empty prompt (to start from silence, give the silence class)")
	}
	if opt.Count == 0 {
		opt.Count = 1
	}
	if opt.Count < 0 || opt.Samples < 1 {
		return opt, fmt.Errorf("causalconv: %d continuations of %d samples: want at least 1 of at least 1", opt.Count, opt.Samples)
	}
	if opt.Speakers != nil && len(opt.Speakers) != opt.Count {
		return opt, fmt.Errorf("causalconv: %d speakers for %d continuations", len(opt.Speakers), opt.Count)
	}
	if opt.Threads == 0 {
		opt.Threads = runtime.GOMAXPROCS(0)
	}
	if opt.Threads < 0 {
		return opt, fmt.Errorf("causalconv: %d threads", opt.Threads)
	}
	if opt.Kernels.Name == "" {
		opt.Kernels = kernels.Best()
	}
	return opt, nil
}

// streamGroups divides count continuations among generators: groups of
// BatchStreams, and the rest one by one. The division depends on count
// alone, never on the number of threads, because a stream's logits differ
// in the last bits between MatVec and MatVecBatch (sums in another
// order), and those bits can change a draw: this way the samples depend
// on the seed and the count but not on the threads or the machine's
// cores. With bfloat16 weights every stream runs alone.
func streamGroups(count int, bf16 bool) []int {
	var sizes []int
	if bf16 { // there is no batched bfloat16 kernel
		for range count {
			sizes = append(sizes, 1)
		}
		return sizes
	}
	for range count / BatchStreams {
		sizes = append(sizes, BatchStreams)
	}
	for range count % BatchStreams {
		sizes = append(sizes, 1)
	}
	return sizes
}

// streamGroup is one generator and the continuations it computes.
type streamGroup struct {
	g    *Generator
	smp  []*Sampler
	out  [][]int32
	last []int32
	done atomic.Int64 // steps
}

// newStreamGroups builds one generator per group of continuations
// (members[i] lists group i's, by index into out), each warmed with the
// prompt but its last class, with the continuations' speakers and, when
// setup is not nil, whatever else setup gives it.
func newStreamGroups(p *Packed, prompt []int32, out [][]int32, members [][]int, opt ContinueOptions, setup func(g *Generator, members []int) error) ([]*streamGroup, error) {
	// With at least two threads per group (one continuation on two
	// cores), each generator uses a second core; the samples are the same.
	gopt := GeneratorOptions{BF16: opt.BF16, Threads: 1}
	if opt.Threads >= 2*len(members) {
		gopt.Threads = 2
	}
	q := p.Config().QuantizationChannels
	last := prompt[len(prompt)-1]
	var groups []*streamGroup
	for _, ms := range members {
		g, err := NewGenerator(p, opt.Kernels, len(ms), gopt)
		if err != nil {
			return nil, err
		}
		if opt.Speakers != nil {
			sp := make([]int, len(ms))
			for i, m := range ms {
				sp[i] = opt.Speakers[m]
			}
			if err := g.SetSpeakers(sp); err != nil {
				return nil, err
			}
		}
		if setup != nil {
			if err := setup(g, ms); err != nil {
				return nil, err
			}
		}
		if err := g.Warm(prompt[:len(prompt)-1]); err != nil {
			return nil, err
		}
		gr := &streamGroup{g: g, last: make([]int32, len(ms))}
		for i, m := range ms {
			smp, err := NewSampler(opt.Kernels, q, opt.Temperature, opt.Seed, uint64(m))
			if err != nil {
				return nil, err
			}
			gr.smp = append(gr.smp, smp)
			gr.out = append(gr.out, out[m])
			gr.last[i] = last
		}
		groups = append(groups, gr)
	}
	return groups, nil
}

// seq is the integers lo..hi−1.
func seq(lo, hi int) []int {
	s := make([]int, 0, hi-lo)
	for i := lo; i < hi; i++ {
		s = append(s, i)
	}
	return s
}

// runStreamGroups runs the groups on opt.Threads goroutines that take
// them in turn (the biggest first: streamGroups lists them so), reporting
// progress to opt.Progress.
func runStreamGroups(ctx context.Context, groups []*streamGroup, opt ContinueOptions, start time.Time) error {
	var mu sync.Mutex // serializes opt.Progress
	report := func() {
		if opt.Progress == nil {
			return
		}
		mu.Lock()
		defer mu.Unlock()
		pr := ContinueProgress{Elapsed: time.Since(start)}
		for _, gr := range groups {
			pr.Done += gr.done.Load() * int64(len(gr.out))
			pr.Total += int64(len(gr.out[0])) * int64(len(gr.out))
		}
		opt.Progress(pr)
	}
	errs := make([]error, len(groups))
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(opt.Threads, len(groups)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= len(groups) {
					return
				}
				gr := groups[i]
				errs[i] = gr.g.Generate(ctx, gr.last, gr.smp, gr.out, func(done int) {
					gr.done.Store(int64(done))
					report()
				})
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}
