package corpus

import (
	"context"
	"fmt"

	"github.com/nextsample/nextsample/audio"
)

// LoadSamples decodes the entries and applies the settings to each, on
// up to threads goroutines (0 means all cores). The result is in entry
// order and does not depend on the thread count. It fails on the first
// bad file (by entry order, with a count of the others) and when ctx is
// cancelled.
func LoadSamples(ctx context.Context, entries []Entry, s audio.Settings, threads int) ([][]float32, []audio.Report, error) {
	out := make([][]float32, len(entries))
	reports := make([]audio.Report, len(entries))
	err := load(ctx, entries, s, threads, func(i int, x []float32) { out[i] = x }, reports)
	if err != nil {
		return nil, nil, err
	}
	return out, reports, nil
}

// LoadClasses is LoadSamples followed by μ-law encoding with the
// settings' Quantization: the class sequences a model trains on. Only the
// classes are kept, so memory is 4 bytes per sample.
func LoadClasses(ctx context.Context, entries []Entry, s audio.Settings, threads int) ([][]int32, []audio.Report, error) {
	out := make([][]int32, len(entries))
	reports := make([]audio.Report, len(entries))
	mu := s.MuLaw()
	err := load(ctx, entries, s, threads, func(i int, x []float32) {
		c := make([]int32, len(x))
		mu.Encode(x, c)
		out[i] = c
	}, reports)
	if err != nil {
		return nil, nil, err
	}
	return out, reports, nil
}

func load(ctx context.Context, entries []Entry, s audio.Settings, threads int, keep func(int, []float32), reports []audio.Report) error {
	if err := s.Validate(); err != nil {
		return err
	}
	if err := Check(entries, s); err != nil {
		return err
	}
	if threads <= 0 {
		threads = defaultThreads()
	}
	errs := make([]error, len(entries))
	forEach(len(entries), threads, func(i int) {
		if err := ctx.Err(); err != nil {
			errs[i] = err
			return
		}
		x, rep, err := s.Load(entries[i].Path)
		reports[i] = rep
		if err != nil {
			errs[i] = err
			return
		}
		keep(i, x)
	})
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("loading audio: %w", err)
	}
	return firstErrors(errs)
}
