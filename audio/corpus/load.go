package corpus

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/nextsample/nextsample/audio"
	"github.com/nextsample/nextsample/audio/inflight"
)

// LoadSamples decodes the entries and applies the settings to each, on
// up to threads goroutines (0 means all cores). The result is in entry
// order and does not depend on the thread count. Each recording is
// decoded once, however many of the entries are cut from it (see Each).
// It fails with the first bad recording's error, by entry order, and
// when ctx is cancelled.
func LoadSamples(ctx context.Context, entries []Entry, s audio.Settings, threads int) ([][]float32, []audio.Report, error) {
	out := make([][]float32, len(entries))
	reports := make([]audio.Report, len(entries))
	err := Each(ctx, entries, s, threads, func(i int, x []float32, rep audio.Report) {
		out[i], reports[i] = x, rep
	})
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
	err := Each(ctx, entries, s, threads, func(i int, x []float32, rep audio.Report) {
		c := make([]int32, len(x))
		mu.Encode(x, c)
		out[i], reports[i] = c, rep
	})
	if err != nil {
		return nil, nil, err
	}
	return out, reports, nil
}

// Each decodes the entries, applies the settings to each and calls
// fn(i, samples, report) for entries[i], on up to threads goroutines (0
// means all cores); fn may be called from several goroutines at once and
// in no particular order, and may keep the samples. The work is split by
// recording: a worker decodes one recording (a file, or a wav.scp
// command's output) and hands out every entry cut from it before it takes
// the next, so each recording is decoded once and memory holds at most
// one decoded recording per worker. Each entry's samples do not depend on
// the thread count.
//
// Each checks the entries' headers first (see Check). It stops at the
// first bad recording and returns the error of the first, in entry order
// (later recordings are not started, so the error is the same whatever
// the thread count), or the context's error when ctx is cancelled.
func Each(ctx context.Context, entries []Entry, s audio.Settings, threads int, fn func(i int, x []float32, rep audio.Report)) error {
	if err := s.Validate(); err != nil {
		return err
	}
	if err := Check(entries, s); err != nil {
		return err
	}
	if threads <= 0 {
		threads = defaultThreads()
	}
	gs := groupEntries(entries, s)
	// failed is the lowest group that has failed: groups are handed out in
	// order, so every lower group has been started and finishes, and the
	// lowest failure is the same whatever the thread count.
	var failed atomic.Int64
	failed.Store(int64(gs.len()))
	errs := make([]error, gs.len())
	forEach(gs.len(), threads, func(g int) {
		if int64(g) > failed.Load() {
			return
		}
		if err := ctx.Err(); err != nil {
			errs[g] = err
			return
		}
		if err := loadGroup(ctx, entries, gs.members(g), s, fn); err != nil {
			errs[g] = err
			for {
				f := failed.Load()
				if int64(g) >= f || failed.CompareAndSwap(f, int64(g)) {
					break
				}
			}
		}
	})
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("loading audio: %w", err)
	}
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// loadGroup decodes the recording of the entries idx (all of one group)
// once and hands out each.
func loadGroup(ctx context.Context, entries []Entry, idx []int32, s audio.Settings, fn func(int, []float32, audio.Report)) error {
	rec, err := decodeRecording(ctx, entries[idx[0]], s)
	if err != nil {
		return err
	}
	for _, i := range idx {
		if err := ctx.Err(); err != nil {
			return err
		}
		x, rep, err := utterance(entries[i], rec, s)
		if err != nil {
			return err
		}
		fn(int(i), x, rep)
	}
	return nil
}

// recordingKey identifies what is decoded for an entry: a Kaldi
// recording with the channel chosen for it. Entries of directories and
// manifests are each their own recording.
type recordingKey struct {
	dir, rec string
	channel  int
}

// groups are the entries grouped by recording: group[i] is the group of
// entries[i]; the entries of group g, in entry order, are
// order[start[g]:start[g+1]]. Groups are numbered in the order of their
// first entry.
type groups struct {
	group, order, start []int32
}

func (gs groups) len() int              { return len(gs.start) - 1 }
func (gs groups) members(g int) []int32 { return gs.order[gs.start[g]:gs.start[g+1]] }

func groupEntries(entries []Entry, s audio.Settings) groups {
	gs := groups{group: make([]int32, len(entries))}
	var count []int32
	index := map[recordingKey]int32{}
	for i, e := range entries {
		g := int32(len(count))
		if e.Source.Recording != "" {
			k := recordingKey{e.Source.Dir, e.Source.Recording, e.channel(s)}
			if old, ok := index[k]; ok {
				g = old
			} else {
				index[k] = g
			}
		}
		if int(g) == len(count) {
			count = append(count, 0)
		}
		count[g]++
		gs.group[i] = g
	}
	gs.start = make([]int32, len(count)+1)
	for g, n := range count {
		gs.start[g+1] = gs.start[g] + n
	}
	next := slices.Clone(gs.start[:len(count)])
	gs.order = make([]int32, len(entries))
	for i, g := range gs.group {
		gs.order[next[g]] = int32(i)
		next[g]++
	}
	return gs
}

// testHookDecode, when set, is called for every recording decoded.
var testHookDecode func(e Entry)

// decodeRecording decodes the whole recording of e: its file, or the
// output of its command, with the channel that e and s call for. Errors
// name the utterance.
func decodeRecording(ctx context.Context, e Entry, s audio.Settings) (*audio.Clip, error) {
	if hook := testHookDecode; hook != nil {
		hook(e)
	}
	opts := audio.DecodeOptions{Channel: e.channel(s)}
	var clip *audio.Clip
	var err error
	if e.Pipe() {
		clip, err = runPipe(ctx, e.Source.Command, opts)
	} else {
		leave := inflight.Enter(ctx, "reading "+e.Path, nil)
		clip, err = audio.ReadFile(e.Path, opts)
		leave()
	}
	if err != nil && e.Source.Recording != "" {
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			return nil, err
		}
		err = fmt.Errorf("%s: %w", e.Name(), err)
	}
	return clip, err
}

// utterance cuts e out of its decoded recording and applies the
// settings: the cut is treated exactly as a WAV file holding its samples.
func utterance(e Entry, rec *audio.Clip, s audio.Settings) ([]float32, audio.Report, error) {
	clip := rec
	if e.Source.Recording != "" {
		a, b, err := e.Source.span(rec.Info.SampleRate, int64(len(rec.Samples)))
		if err != nil {
			return nil, audio.Report{Info: rec.Info}, fmt.Errorf("%s: %w", e.Name(), err)
		}
		info := rec.Info
		info.Frames = b - a
		clip = &audio.Clip{Name: e.Name(), Info: info, Samples: rec.Samples[a:b]}
	}
	return s.Apply(clip)
}

// DefaultCacheBytes is a new Loader's CacheBytes.
const DefaultCacheBytes = 256 << 20

// A Loader decodes entries one at a time, for pipelines that stream a
// corpus rather than load it whole (LoadSamples), and decodes each
// recording once for all the entries cut from it: the first Load of an
// entry of a recording decodes it and keeps it until every entry of the
// recording has been loaded. Entries of one recording that are near each
// other in the entry order (as in key order, for the usual Kaldi ids
// that start with the recording id) keep memory at a few recordings.
// When the recordings kept but not in use hold more than CacheBytes of
// samples, the least recently used are dropped, and decoded again if an
// entry needs them later. A Loader is safe for concurrent use; every
// entry's samples are the same as LoadSamples gives, whatever the order
// of the calls.
type Loader struct {
	// CacheBytes bounds the decoded samples (4 bytes each) of recordings
	// kept for entries not yet loaded while no Load is using them.
	CacheBytes int64

	entries []Entry
	s       audio.Settings
	group   []int32
	mu      sync.Mutex
	left    []int32 // per group: entries not yet loaded
	cache   map[int32]*decoded
	bytes   int64 // samples of the finished decodes in cache, in bytes
	clock   uint64
}

// decoded is a recording being decoded or kept for a Loader.
type decoded struct {
	done  chan struct{} // closed when clip and err are set
	clip  *audio.Clip
	err   error
	users int    // Loads using it
	used  uint64 // the Loader's clock at its last use
}

func (d *decoded) bytes() int64 {
	if d.clip == nil {
		return 0
	}
	return 4 * int64(len(d.clip.Samples))
}

// NewLoader makes a Loader of the entries with the settings.
func NewLoader(entries []Entry, s audio.Settings) *Loader {
	gs := groupEntries(entries, s)
	left := make([]int32, gs.len())
	for g := range left {
		left[g] = int32(len(gs.members(g)))
	}
	return &Loader{CacheBytes: DefaultCacheBytes, entries: entries, s: s, group: gs.group, left: left, cache: map[int32]*decoded{}}
}

// Load decodes entries[i] and applies the settings, as LoadSamples does.
// A command of a pipe recording is killed when ctx is cancelled.
func (l *Loader) Load(ctx context.Context, i int) ([]float32, audio.Report, error) {
	if err := ctx.Err(); err != nil {
		return nil, audio.Report{}, err
	}
	e := l.entries[i]
	g := l.group[i]
	l.mu.Lock()
	d := l.cache[g]
	owner := d == nil
	if owner {
		d = &decoded{done: make(chan struct{})}
		l.cache[g] = d
	}
	d.users++
	l.mu.Unlock()

	if owner {
		clip, err := decodeRecording(ctx, e, l.s)
		l.mu.Lock()
		d.clip, d.err = clip, err
		l.bytes += d.bytes()
		l.mu.Unlock()
		close(d.done)
	} else {
		select {
		case <-d.done:
		case <-ctx.Done():
			l.release(g, d, false)
			return nil, audio.Report{}, ctx.Err()
		}
	}
	if d.err != nil {
		l.release(g, d, !isContextError(d.err))
		return nil, audio.Report{}, d.err
	}
	x, rep, err := utterance(e, d.clip, l.s)
	l.release(g, d, true)
	return x, rep, err
}

func isContextError(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

// release ends a Load's use of d, the decode of group g. loaded says the
// entry counts as loaded; a cancelled decode is dropped, to be retried.
// A recording is dropped when all its entries are loaded and no Load uses
// it; then idle ones are evicted, least recently used first, while the
// decoded recordings hold more than CacheBytes.
func (l *Loader) release(g int32, d *decoded, loaded bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	d.users--
	l.clock++
	d.used = l.clock
	if loaded {
		l.left[g]--
	}
	if l.cache[g] != d {
		return // dropped already
	}
	done := false
	select {
	case <-d.done:
		done = true
	default:
	}
	if done && ((d.err != nil && isContextError(d.err)) || (l.left[g] <= 0 && d.users == 0)) {
		delete(l.cache, g)
		l.bytes -= d.bytes()
	}
	for l.bytes > l.CacheBytes {
		var oldest int32 = -1
		for og, od := range l.cache {
			if od.users == 0 && od.clip != nil && (oldest < 0 || od.used < l.cache[oldest].used) {
				oldest = og
			}
		}
		if oldest < 0 {
			return
		}
		l.bytes -= l.cache[oldest].bytes()
		delete(l.cache, oldest)
	}
}
