package launch

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nextsample/nextsample/audio"
	"github.com/nextsample/nextsample/audio/corpus"
	"github.com/nextsample/nextsample/audio/humanize"
	"github.com/nextsample/nextsample/train"
)

// CacheOptions say where the class caches are kept, how they are built
// and how their building is reported.
type CacheOptions struct {
	// Dir is the cache directory ("": corpus.DefaultCacheDir).
	Dir string
	// Threads decode audio in parallel while a cache is built (0: all
	// cores).
	Threads int
	// Report, if set, is called while a cache is built (about once a
	// second, and when done) and once when it is open.
	Report func(CacheEvent)
}

// A CacheEvent reports on the opening of one class cache: progress while
// it is built (Cache nil), then the open cache.
type CacheEvent struct {
	// What is the set of files: "train", "validation" or "evaluation".
	What string
	// Rate is the sample rate of the classes, in Hz.
	Rate int
	// Done of Total files are prepared, holding Samples samples at the
	// run's rate; Planned is the seconds of audio all of them hold by
	// their headers (0: unknown). Set while the cache is built.
	Done, Total int
	Samples     int64
	Planned     float64
	// Elapsed is the time since the opening began.
	Elapsed time.Duration
	// Cache is the open cache (nil while it is built), and Built says
	// whether this opening built it.
	Cache *corpus.ClassCache
	Built bool
	// FeatureCache, instead of Cache, is an open feature cache (a
	// locally conditioned run's); it is reported once, when open.
	FeatureCache *corpus.FeatureCache
}

// String is the event as nextsample prints it: the progress of a cache
// being built,
//
//	preparing train classes: 12/40 files, 3.1 s of ≈10.2 s, 1s
//
// then the open cache, "reused" when it was there already:
//
//	train classes: /home/u/.cache/nextsample/classes-3f2a.nsc (25.0 KiB, built in 0.4s)
func (ev CacheEvent) String() string {
	if fc := ev.FeatureCache; fc != nil {
		verb := "reused"
		if ev.Built {
			verb = fmt.Sprintf("built in %.1fs", ev.Elapsed.Seconds())
		}
		return fmt.Sprintf("%s features: %s (%s, %s)", ev.What, fc.Path(), humanize.Bytes(fc.Bytes()), verb)
	}
	if ev.Cache == nil {
		s := fmt.Sprintf("preparing %s classes: %d/%d files, %s", ev.What, ev.Done, ev.Total, humanize.AudioLength(ev.Samples, ev.Rate))
		if ev.Planned > 0 {
			s += fmt.Sprintf(" of ≈%s", humanize.AudioLength(int64(ev.Planned*float64(ev.Rate)), ev.Rate))
		}
		return s + fmt.Sprintf(", %.0fs", ev.Elapsed.Seconds())
	}
	verb := "reused"
	if ev.Built {
		verb = fmt.Sprintf("built in %.1fs", ev.Elapsed.Seconds())
	}
	return fmt.Sprintf("%s classes: %s (%s, %s)", ev.What, ev.Cache.Path(), humanize.Bytes(ev.Cache.Bytes()), verb)
}

// cacheDir returns o with its directory resolved.
func (o CacheOptions) cacheDir() (CacheOptions, error) {
	if o.Dir != "" {
		return o, nil
	}
	d, err := corpus.DefaultCacheDir()
	if err != nil {
		return o, &train.OptionError{Before: err.Error() + " (", Option: "CacheDir", After: ")", Err: err}
	}
	o.Dir = d
	return o, nil
}

// openCache opens the class cache of entries, building it if missing.
func openCache(ctx context.Context, what string, entries []corpus.Entry, s audio.Settings, o CacheOptions) (*corpus.ClassCache, error) {
	rep := newCacheReporter(what, entries, s, o)
	cc, built, err := corpus.OpenClassCache(ctx, entries, s, rep.options(o))
	if err != nil {
		return nil, err
	}
	rep.opened(CacheEvent{Cache: cc, Built: built})
	return cc, nil
}

// cacheReporter turns the building of a corpus's caches into CacheEvents
// (the progress, then each open cache) for CacheOptions.Report.
type cacheReporter struct {
	what    string
	rate    int
	planned float64 // seconds of audio announced by the headers
	t0      time.Time
	report  func(CacheEvent)
}

func newCacheReporter(what string, entries []corpus.Entry, s audio.Settings, o CacheOptions) *cacheReporter {
	r := &cacheReporter{what: what, rate: s.SampleRate, t0: time.Now(), report: o.Report}
	if r.report == nil {
		r.report = func(CacheEvent) {}
	}
	for _, e := range entries {
		r.planned += e.Seconds()
	}
	return r
}

// options are the corpus.CacheOptions of o that report the building.
func (r *cacheReporter) options(o CacheOptions) corpus.CacheOptions {
	return corpus.CacheOptions{Dir: o.Dir, Threads: o.Threads, Progress: func(done, total int, samples int64) {
		r.report(CacheEvent{What: r.what, Rate: r.rate, Done: done, Total: total, Samples: samples, Planned: r.planned, Elapsed: time.Since(r.t0)})
	}}
}

// opened reports an open cache (ev holds Cache or FeatureCache and Built).
func (r *cacheReporter) opened(ev CacheEvent) {
	ev.What, ev.Rate, ev.Elapsed = r.what, r.rate, time.Since(r.t0)
	r.report(ev)
}

// Data is the classes of a plan's files, opened: the train.Data a run
// reads, and the class caches behind it, which Close closes.
type Data struct {
	train.Data
	// TrainCache and ValidCache hold the training and validation classes
	// (ValidCache is nil without validation files).
	TrainCache, ValidCache *corpus.ClassCache
	// TrainFeatures and ValidFeatures hold a locally conditioned run's
	// features (nil for other runs, and ValidFeatures without validation
	// files).
	TrainFeatures, ValidFeatures *corpus.FeatureCache
	// Took is the time Open took, waiting at the barrier included.
	Took time.Duration
}

// Close closes the caches.
func (d *Data) Close() error {
	var err error
	if d.TrainCache != nil {
		err = d.TrainCache.Close()
	}
	if d.ValidCache != nil {
		err = errors.Join(err, d.ValidCache.Close())
	}
	if d.TrainFeatures != nil {
		err = errors.Join(err, d.TrainFeatures.Close())
	}
	if d.ValidFeatures != nil {
		err = errors.Join(err, d.ValidFeatures.Close())
	}
	return err
}

// Open opens the class caches of the plan's training and validation
// files, building the missing ones. In a data-parallel run rank 0 opens
// them first while the other processes wait at a barrier; where the cache
// directory is shared they then find rank 0's caches, else each host
// builds its own.
func (p *Plan) Open(ctx context.Context, o CacheOptions) (*Data, error) {
	t0 := time.Now()
	o, err := o.cacheDir()
	if err != nil {
		return nil, err
	}
	if p.comm != nil && p.comm.Rank() != 0 {
		if err := p.comm.Barrier(); err != nil {
			return nil, err
		}
	}
	d := &Data{}
	if d.TrainCache, d.TrainFeatures, err = p.openSplit(ctx, "train", p.Train, o); err != nil {
		return nil, err
	}
	d.Train, d.Key = d.TrainCache, trainKey(p.Train, d.TrainCache)
	if p.Speakers != nil {
		d.Train = train.WithSpeakers(d.TrainCache, p.trainRows)
	}
	if len(p.Valid) > 0 {
		if d.ValidCache, d.ValidFeatures, err = p.openSplit(ctx, "validation", p.Valid, o); err != nil {
			d.Close()
			return nil, err
		}
		d.Valid = d.ValidCache
		if p.Speakers != nil {
			d.Valid = train.WithSpeakers(d.ValidCache, p.validRows)
		}
	}
	if err := p.addFeatures(d); err != nil {
		d.Close()
		return nil, err
	}
	if p.comm != nil && p.comm.Rank() == 0 {
		if err := p.comm.Barrier(); err != nil {
			d.Close()
			return nil, err
		}
	}
	d.Took = time.Since(t0)
	return d, nil
}

// Start creates the run in the plan's Out: train.Resume of its checkpoint
// or train.New, with setup's Log and Progress, the plan's Metadata, and
// the request's Comm.
func (p *Plan) Start(d *Data, setup train.Setup) (*train.Run, error) {
	meta, err := p.Metadata()
	if err != nil {
		return nil, err
	}
	setup.Out, setup.Meta, setup.SampleRate = p.out, meta, p.Audio.SampleRate
	if p.comm != nil {
		setup.Comm = p.comm
	}
	if p.Checkpoint != nil {
		return train.Resume(p.Checkpoint, d.Data, p.Options, setup)
	}
	if lc := p.Model.Config.LocalCondition; lc != nil && lc.Mean == nil {
		// A new locally conditioned model normalises its features with
		// the training split's statistics, fixed before its first step.
		if lc.Mean, lc.Std, err = train.FeatureStats(d.Train); err != nil {
			return nil, err
		}
	}
	return train.New(p.Model, d.Data, p.Options, setup)
}

// openSplit opens the class cache of a split's entries and, for a plan
// whose features are computed, their feature cache, building the missing
// ones (both in one decoding pass when both are missing).
func (p *Plan) openSplit(ctx context.Context, what string, entries []corpus.Entry, o CacheOptions) (*corpus.ClassCache, *corpus.FeatureCache, error) {
	if p.Features == nil || p.Given != nil {
		cc, err := openCache(ctx, what, entries, p.Audio, o)
		return cc, nil, err
	}
	return openBoth(ctx, what, entries, p.Audio, *p.Features, o)
}

// addFeatures gives d's splits their features: the feature caches
// opened, or the plan's given features.
func (p *Plan) addFeatures(d *Data) error {
	if p.Given != nil {
		return p.openGiven(d)
	}
	if d.TrainFeatures != nil {
		d.Train = train.WithFeatures(d.Train, d.TrainFeatures)
	}
	if d.ValidFeatures != nil {
		d.Valid = train.WithFeatures(d.Valid, d.ValidFeatures)
	}
	return nil
}

// openGiven checks a plan's given features against its files and gives
// d's splits their features.
func (p *Plan) openGiven(d *Data) error {
	lc := p.Model.Config.LocalCondition
	ts, err := p.Given.source(p.Train, d.TrainCache.Len, lc.Channels, lc.Window, lc.Hop, lc.SnipEdges)
	if err != nil {
		return err
	}
	d.Train = train.WithFeatures(d.Train, ts)
	if d.Valid != nil {
		vs, err := p.Given.source(p.Valid, d.ValidCache.Len, lc.Channels, lc.Window, lc.Hop, lc.SnipEdges)
		if err != nil {
			return err
		}
		d.Valid = train.WithFeatures(d.Valid, vs)
	}
	return nil
}
