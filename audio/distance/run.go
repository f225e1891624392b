package distance

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"strings"
	"sync"

	"github.com/nextsample/nextsample/audio"
	"github.com/nextsample/nextsample/audio/corpus"
)

// DefaultMaxFrameDiff is DefaultOptions' MaxFrameDiff.
const DefaultMaxFrameDiff = 5

// A Request says what [Run] compares.
type Request struct {
	// Ref and Deg are two audio files, or two corpora (a folder, a
	// manifest .csv or a Kaldi data directory) paired by utterance key.
	Ref, Deg string
	// Split keeps only the reference corpus's utterances of that split
	// ("" all); the degraded corpus is then paired with those keys.
	Split string
	// AllowUnpaired compares the keys both corpora hold and lists the
	// others in the Report; without it, a key on one side only is an
	// [UnpairedError].
	AllowUnpaired bool
	// Alpha, when not 0, replaces DefaultOptions' all-pass constant
	// (needed at rates SPTK's table does not list).
	Alpha float64
	// MaxFrameDiff is Options.MaxFrameDiff: DefaultMaxFrameDiff is the
	// usual, 0 demands equal frame counts.
	MaxFrameDiff int
	// Threads compare pairs in parallel (0: all cores); the results do
	// not depend on it.
	Threads int
	// Progress, if not nil, is called after each pair with the number of
	// pairs done and the total, from the worker goroutines, one call at a
	// time.
	Progress func(done, total int)
}

// A PairResult is the distances of one pair. Its JSON form is one flat
// object: key, ref, deg, frames, ref_frames, deg_frames, mcd_db, lsd_db.
type PairResult struct {
	Key string `json:"key"` // the utterance key (two files: the reference's name without extension)
	Ref string `json:"ref"` // how messages name the reference
	Deg string `json:"deg"` // and the degraded signal
	Result
}

// A Report is what Run found.
type Report struct {
	Pairs []PairResult // in key order
	Summary
}

// A Summary is the analysis and the distances over all pairs of a Report.
type Summary struct {
	NumPairs int      `json:"pairs"`
	Frames   int      `json:"frames"`   // frames compared, over all pairs
	MCD      float64  `json:"mcd_db"`   // mean over pairs of their MCD, dB
	LSD      float64  `json:"lsd_db"`   // mean over pairs of their LSD, dB
	RefOnly  []string `json:"ref_only"` // keys only the reference holds (with AllowUnpaired)
	DegOnly  []string `json:"deg_only"` // keys only the degraded side holds (with AllowUnpaired)
	Options  Options  `json:"options"`  // the analysis used
}

// An UnpairedError is two corpora whose keys differ while
// Request.AllowUnpaired is off.
type UnpairedError struct {
	Ref, Deg         string   // the corpora
	RefOnly, DegOnly []string // the keys on one side only
}

func (e *UnpairedError) Error() string {
	var parts []string
	if n := len(e.RefOnly); n > 0 {
		parts = append(parts, fmt.Sprintf("%d keys only in %s (%s)", n, e.Ref, firstKeys(e.RefOnly)))
	}
	if n := len(e.DegOnly); n > 0 {
		parts = append(parts, fmt.Sprintf("%d keys only in %s (%s)", n, e.Deg, firstKeys(e.DegOnly)))
	}
	return "unpaired utterances: " + strings.Join(parts, " and ") + " (unpaired keys are refused)"
}

// firstKeys lists up to three keys, and says when there are more.
func firstKeys(keys []string) string {
	if len(keys) <= 3 {
		return strings.Join(keys, ", ")
	}
	return strings.Join(keys[:3], ", ") + ", ..."
}

// A RateError is a degraded signal at another rate than its reference.
// compare never resamples: a rate change is part of what it would hide.
type RateError struct {
	Name       string // the degraded signal
	Rate, Want int    // its rate and the reference's, Hz
}

func (e *RateError) Error() string {
	return fmt.Sprintf("%s: sample rate is %d Hz but the reference's is %d Hz (compare does not resample)", e.Name, e.Rate, e.Want)
}

// side is one side of the comparison: its entries, paired by index with
// the other side's, and how to load them.
type side struct {
	entries []corpus.Entry
	loader  *corpus.Loader
}

// Run pairs the request's signals, reads them (decoded, channels averaged
// to mono, no resampling, normalisation or trimming), analyses both sides
// with DefaultOptions at the reference's rate and compares every pair. On
// any error (an unreadable file, a rate or length mismatch) it returns
// that error, naming the pair, and no Report.
func Run(ctx context.Context, req Request) (*Report, error) {
	ref, deg, err := pairEntries(req)
	if err != nil {
		return nil, err
	}
	rep := &Report{}
	if ref, deg, rep.RefOnly, rep.DegOnly, err = matchKeys(req, ref, deg); err != nil {
		return nil, err
	}
	rate := ref[0].Info.SampleRate
	if rate <= 0 {
		return nil, fmt.Errorf("%s: sample rate unknown before decoding (a wav.scp command); compare needs it from the header", ref[0].Name())
	}
	if req.Alpha != 0 {
		rep.Options = OptionsWithAlpha(rate, req.Alpha)
	} else if rep.Options, err = DefaultOptions(rate); err != nil {
		return nil, err
	}
	rep.Options.MaxFrameDiff = req.MaxFrameDiff
	if err := rep.Options.Validate(); err != nil {
		return nil, err
	}
	s := audio.Settings{SampleRate: rate, Normalize: audio.NormalizeNone, Quantization: 256}
	if err := checkRates(ref, deg, s); err != nil {
		return nil, err
	}
	rep.Pairs, err = comparePairs(ctx, req, rep.Options, s, ref, deg)
	if err != nil {
		return nil, err
	}
	rep.NumPairs = len(rep.Pairs)
	for _, p := range rep.Pairs {
		rep.MCD += p.MCD / float64(len(rep.Pairs))
		rep.LSD += p.LSD / float64(len(rep.Pairs))
		rep.Frames += p.Frames
	}
	return rep, nil
}

// pairEntries opens both sides: two files, or two corpora.
func pairEntries(req Request) (ref, deg []corpus.Entry, err error) {
	rc, dc := corpus.IsCorpusPath(req.Ref), corpus.IsCorpusPath(req.Deg)
	if rc != dc {
		return nil, nil, fmt.Errorf("%s and %s: give two files or two corpora (folders, manifests, Kaldi directories)", req.Ref, req.Deg)
	}
	if !rc {
		if req.Split != "" {
			return nil, nil, fmt.Errorf("a split (%q) selects utterances of a corpus, not of two files", req.Split)
		}
		r, err := fileEntry(req.Ref)
		if err != nil {
			return nil, nil, err
		}
		d, err := fileEntry(req.Deg)
		if err != nil {
			return nil, nil, err
		}
		d.Key = r.Key
		return []corpus.Entry{r}, []corpus.Entry{d}, nil
	}
	rcorp, err := corpus.Open(req.Ref)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", req.Ref, err)
	}
	dcorp, err := corpus.Open(req.Deg)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", req.Deg, err)
	}
	ref = rcorp.Entries
	if req.Split != "" {
		if ref, err = rcorp.Select(req.Split); err != nil {
			return nil, nil, fmt.Errorf("%s: %w", req.Ref, err)
		}
	}
	return ref, dcorp.Entries, nil
}

// fileEntry makes a one-file entry of path from its header.
func fileEntry(path string) (corpus.Entry, error) {
	info, err := audio.ReadInfo(path)
	if err != nil {
		return corpus.Entry{}, err
	}
	return corpus.Entry{Key: corpus.KeyFor(filepath.Base(path)), Path: path, Info: info}, nil
}

// matchKeys keeps the keys both sides hold, in the reference's (key)
// order, and returns the others; without AllowUnpaired any other is an
// UnpairedError.
func matchKeys(req Request, ref, deg []corpus.Entry) (r, d []corpus.Entry, refOnly, degOnly []string, err error) {
	byKey := make(map[string]int, len(deg))
	for i, e := range deg {
		byKey[e.Key] = i
	}
	used := make([]bool, len(deg))
	for _, e := range ref {
		i, ok := byKey[e.Key]
		if !ok {
			refOnly = append(refOnly, e.Key)
			continue
		}
		used[i] = true
		r, d = append(r, e), append(d, deg[i])
	}
	for i, e := range deg {
		if !used[i] {
			degOnly = append(degOnly, e.Key)
		}
	}
	refOnly, degOnly = nonNil(refOnly), nonNil(degOnly)
	if (len(refOnly) > 0 || len(degOnly) > 0) && !req.AllowUnpaired {
		return nil, nil, nil, nil, &UnpairedError{Ref: req.Ref, Deg: req.Deg, RefOnly: refOnly, DegOnly: degOnly}
	}
	if len(r) == 0 {
		return nil, nil, nil, nil, fmt.Errorf("%s and %s have no utterance key in common", req.Ref, req.Deg)
	}
	return r, d, refOnly, degOnly, nil
}

// checkRates refuses, from the headers, a degraded signal whose rate is
// not the reference's (or a reference at mixed rates).
func checkRates(ref, deg []corpus.Entry, s audio.Settings) error {
	for _, side := range [][]corpus.Entry{ref, deg} {
		for _, e := range side {
			if r := e.Info.SampleRate; r > 0 && r != s.SampleRate {
				return &RateError{Name: e.Name(), Rate: r, Want: s.SampleRate}
			}
		}
	}
	return nil
}

// comparePairs loads and compares the pairs on req.Threads workers, each
// with its own Analyzer. The first failure stops the others; its error,
// not the cancellation it caused, is returned.
func comparePairs(ctx context.Context, req Request, opt Options, s audio.Settings, ref, deg []corpus.Entry) ([]PairResult, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	rl, dl := corpus.NewLoader(ref, s), corpus.NewLoader(deg, s)
	out := make([]PairResult, len(ref))
	errs := make([]error, len(ref))
	threads := req.Threads
	if threads <= 0 {
		threads = runtime.GOMAXPROCS(0)
	}
	next := make(chan int)
	var wg sync.WaitGroup
	var mu sync.Mutex
	done := 0
	for range min(threads, len(ref)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a, err := NewAnalyzer(opt)
			for i := range next {
				if err == nil {
					errs[i] = comparePair(ctx, a, rl, dl, i, &out[i], ref[i], deg[i])
				} else {
					errs[i] = err
				}
				if errs[i] != nil {
					cancel()
				}
				mu.Lock()
				done++
				if req.Progress != nil {
					req.Progress(done, len(ref))
				}
				mu.Unlock()
			}
		}()
	}
	for i := range ref {
		if ctx.Err() != nil {
			break
		}
		next <- i
	}
	close(next)
	wg.Wait()
	if err := firstError(errs); err != nil {
		return nil, err
	}
	return out, ctx.Err()
}

// firstError is the first non-nil error of errs that is not the
// cancellation a failure of another pair caused, or else the first.
func firstError(errs []error) error {
	var first error
	for _, err := range errs {
		if err == nil {
			continue
		}
		if !errors.Is(err, context.Canceled) {
			return err
		}
		if first == nil {
			first = err
		}
	}
	return first
}

// comparePair loads pair i and writes its distances to dst.
func comparePair(ctx context.Context, a *Analyzer, rl, dl *corpus.Loader, i int, dst *PairResult, re, de corpus.Entry) error {
	x, _, err := rl.Load(ctx, i)
	if err != nil {
		return err
	}
	y, _, err := dl.Load(ctx, i)
	if err != nil {
		var rateErr *audio.RateError
		if errors.As(err, &rateErr) {
			return &RateError{Name: de.Name(), Rate: rateErr.Rate, Want: rateErr.Want}
		}
		return err
	}
	r, err := a.Compare(x, y)
	if err != nil {
		return fmt.Errorf("%s vs %s: %w", re.Name(), de.Name(), err)
	}
	*dst = PairResult{Key: re.Key, Ref: re.Name(), Deg: de.Name(), Result: r}
	return nil
}

// nonNil makes an empty key list an empty slice, which JSON prints as [].
func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
