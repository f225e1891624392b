package features

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nextsample/nextsample/audio/corpus"
	"github.com/nextsample/nextsample/audio/featio"
)

// Progress is what Run reports while it works.
type Progress struct {
	Done, Total int   // utterances written, and to write
	Samples     int64 // samples of the utterances written
	Frames      int64 // frames written
	Elapsed     time.Duration
}

// SamplesPerSecond is the throughput so far.
func (p Progress) SamplesPerSecond() float64 {
	if p.Elapsed <= 0 {
		return 0
	}
	return float64(p.Samples) / p.Elapsed.Seconds()
}

// Left estimates the time to the end at the rate so far, in utterances
// per second; it is 0 before the first utterance and at the end.
func (p Progress) Left() time.Duration {
	if p.Done <= 0 || p.Done >= p.Total {
		return 0
	}
	return time.Duration(float64(p.Elapsed) * float64(p.Total-p.Done) / float64(p.Done))
}

// RunOptions configure Run.
type RunOptions struct {
	// Threads is the number of worker goroutines; 0 means GOMAXPROCS.
	Threads int
	// Progress, if set, is called from Run's goroutine after each
	// utterance is handed to the sink.
	Progress func(Progress)
	// Speakers, for the learned features of a speaker-conditioned model,
	// is the speaker (a row of its table) of each entry; nil otherwise.
	Speakers []int
}

// Utterance is one computed utterance, handed to Run's sink.
type Utterance struct {
	Index   int // in the entries given to Run
	Entry   corpus.Entry
	Samples int // after preparation
	Matrix  featio.Matrix
	// Gain is the factor the preparation scaled the audio by
	// (audio.Report.Gain: the peak or RMS normalisation, 1 without), so
	// that audio made from the features (a vocoder's) can be given back
	// the original's level by dividing by it.
	Gain float64
}

// Run computes the features of entries with r on opts.Threads workers and
// hands them to sink one at a time, in entry order, from the calling
// goroutine, so the output does not depend on the number of threads.
//
// Memory is bounded: besides each worker's Computer, at most two
// utterances per worker are in flight (decoded, computed or waiting for
// their turn), whatever the corpus size, plus the recordings that a
// corpus.Loader keeps for segments not yet computed. Run stops at the
// first error (a bad file, a failing sink) or when ctx is cancelled, and
// returns it, wrapped; utterances after it are not given to sink.
func Run(ctx context.Context, r *Recipe, entries []corpus.Entry, sink func(Utterance) error, opts RunOptions) (Progress, error) {
	if err := corpus.Check(entries, r.Settings); err != nil {
		return Progress{Total: len(entries)}, err
	}
	loader := corpus.NewLoader(entries, r.Settings) // decodes each recording once
	// gains[i] is written by the worker that loads entry i, before its
	// result goes on the channel the sink receives it from.
	gains := make([]float64, len(entries))
	load := func(i int) ([]float32, error) {
		x, rep, err := loader.Load(ctx, i)
		gains[i] = rep.Gain
		return x, err
	}
	comps, err := newComputers(r, opts.Threads, len(entries))
	if err != nil {
		return Progress{Total: len(entries)}, err
	}
	if opts.Speakers != nil {
		if len(opts.Speakers) != len(entries) {
			return Progress{Total: len(entries)}, fmt.Errorf("features: %d speakers for %d entries", len(opts.Speakers), len(entries))
		}
		for _, c := range comps {
			if _, ok := c.(speakerSetter); !ok {
				return Progress{Total: len(entries)}, errors.New("features: these features take no speaker")
			}
		}
	}
	return run(ctx, comps, r.Dim, len(entries), load, func(i, samples int, m featio.Matrix) error {
		return sink(Utterance{Index: i, Entry: entries[i], Samples: samples, Matrix: m, Gain: gains[i]})
	}, opts.Progress, opts.Speakers)
}

// speakerSetter is a Computer of a speaker-conditioned model's features.
type speakerSetter interface{ SetSpeaker(s int) }

// result is one utterance's outcome on its way from a worker to the sink.
type result struct {
	samples int
	m       featio.Matrix
	err     error
}

// newComputers returns one Computer per worker for n utterances.
func newComputers(r *Recipe, threads, n int) ([]Computer, error) {
	if threads <= 0 {
		threads = runtime.GOMAXPROCS(0)
	}
	comps := make([]Computer, max(1, min(threads, n)))
	for w := range comps {
		c, err := r.NewComputer()
		if err != nil {
			return nil, err
		}
		comps[w] = c
	}
	return comps, nil
}

// run computes n utterances that load(i) provides on one worker per
// Computer and hands them to sink in order.
// speakers, if not nil, are the utterances' speakers for the computers'
// SetSpeaker.
func run(ctx context.Context, comps []Computer, dim, n int, load func(int) ([]float32, error),
	sink func(i, samples int, m featio.Matrix) error, progress func(Progress), speakers []int) (Progress, error) {
	start := time.Now()
	prog := Progress{Total: n}
	threads := len(comps)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	// The dispatcher queues one result slot per utterance, in order, on
	// pending before giving the job to a worker; the sink takes slots off
	// pending in the same order. pending's capacity bounds what is in
	// flight.
	type job struct {
		i    int
		slot chan result
	}
	jobs := make(chan job)
	pending := make(chan chan result, threads)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(jobs)
		defer close(pending)
		for i := 0; i < n; i++ {
			slot := make(chan result, 1)
			select {
			case pending <- slot:
			case <-ctx.Done():
				return
			}
			select {
			case jobs <- job{i, slot}:
			case <-ctx.Done():
				slot <- result{err: ctx.Err()}
				return
			}
		}
	}()
	for _, comp := range comps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				if speakers != nil {
					comp.(speakerSetter).SetSpeaker(speakers[j.i])
				}
				j.slot <- compute(ctx, comp, dim, j.i, load)
			}
		}()
	}
	defer wg.Wait()

	i := 0
	for slot := range pending {
		res := <-slot
		if res.err == nil {
			if err := ctx.Err(); err != nil {
				res.err = err
			}
		}
		if res.err != nil {
			cancel()
			return prog, fmt.Errorf("features: %w", res.err)
		}
		if err := sink(i, res.samples, res.m); err != nil {
			cancel()
			return prog, err
		}
		i++
		prog.Done = i
		prog.Samples += int64(res.samples)
		prog.Frames += int64(res.m.Rows)
		prog.Elapsed = time.Since(start)
		if progress != nil {
			progress(prog)
		}
	}
	if err := ctx.Err(); err != nil || i < n {
		if err == nil {
			err = context.Canceled
		}
		return prog, fmt.Errorf("features: %w", err)
	}
	return prog, nil
}

// compute loads utterance i and computes its features.
func compute(ctx context.Context, comp Computer, dim, i int, load func(int) ([]float32, error)) result {
	if err := ctx.Err(); err != nil {
		return result{err: err}
	}
	x, err := load(i)
	if err != nil {
		return result{err: err}
	}
	data, frames, err := comp.Compute(nil, x)
	if err != nil {
		return result{err: err}
	}
	return result{samples: len(x), m: featio.Matrix{Rows: frames, Cols: dim, Data: data}}
}

// Shard is one of Count deterministic parts of a corpus: the entries
// whose position i in key order has i mod Count = Index. Interleaving
// rather than cutting the corpus into contiguous ranges spreads speakers
// and lengths evenly over the shards (corpora sorted by key are often
// grouped by speaker or label). The shards of one corpus are disjoint and
// together hold every entry, whatever machine computes them.
type Shard struct{ Index, Count int }

// ParseShard reads "I/N" with 0 ≤ I < N; "" means the whole corpus (0/1).
func ParseShard(s string) (Shard, error) {
	if s == "" {
		return Shard{0, 1}, nil
	}
	a, b, ok := strings.Cut(s, "/")
	i, err1 := strconv.Atoi(strings.TrimSpace(a))
	n, err2 := strconv.Atoi(strings.TrimSpace(b))
	if !ok || err1 != nil || err2 != nil || n < 1 || i < 0 || i >= n {
		return Shard{}, fmt.Errorf("shard %q: want I/N with 0 ≤ I < N, e.g. 0/4 (the first of four)", s)
	}
	return Shard{i, n}, nil
}

// String is "I/N".
func (s Shard) String() string { return fmt.Sprintf("%d/%d", s.Index, s.Count) }

// Select returns the shard's entries, in order.
func (s Shard) Select(entries []corpus.Entry) []corpus.Entry {
	if s.Count <= 1 {
		return entries
	}
	var out []corpus.Entry
	for i := s.Index; i < len(entries); i += s.Count {
		out = append(out, entries[i])
	}
	return out
}

// CorpusOptions configure WriteCorpus.
type CorpusOptions struct {
	RunOptions
	// Format is featio.FormatArk, FormatNpy or FormatHTK.
	Format string
	// ArkText also writes feats.txt with FormatArk.
	ArkText bool
	// Shard is recorded in features.json when it is not the whole corpus;
	// the entries given must already be the shard's (Shard.Select).
	Shard Shard
}

// ErrNoOutput reports an empty selection, to tell it apart from a
// failure.
var ErrNoOutput = errors.New("features: no utterances to write")

// WriteCorpus computes the features of entries with r and writes them to
// the folder dir (see featio.Writer; per-utterance files mirror the keys),
// atomically: if anything fails or ctx is cancelled, the writer is aborted
// and nothing of this run is left in dir (dir itself is removed if this
// run created it and it is empty), and the error wraps the cause
// (context.Canceled for an interrupt).
func WriteCorpus(ctx context.Context, r *Recipe, entries []corpus.Entry, dir string, opts CorpusOptions) (Progress, error) {
	if len(entries) == 0 {
		return Progress{}, ErrNoOutput
	}
	sc := r.Sidecar
	if opts.Shard.Count > 1 {
		sc.Shard = opts.Shard.String()
	}
	_, statErr := os.Stat(dir)
	created := errors.Is(statErr, os.ErrNotExist)
	w, err := featio.NewWriter(dir, featio.Options{Format: opts.Format, Sidecar: sc, ArkText: opts.ArkText})
	if err != nil {
		return Progress{}, err
	}
	prog, err := Run(ctx, r, entries, func(u Utterance) error {
		return w.Write(u.Entry.Key, u.Entry.Key+".wav", u.Matrix)
	}, opts.RunOptions)
	if err == nil {
		err = w.Close()
	}
	if err != nil {
		w.Abort()
		if created {
			os.Remove(dir) // only if empty: never anything of another run
		}
		return prog, err
	}
	return prog, nil
}
