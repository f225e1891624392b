package train

import (
	"context"
	"fmt"
	"math"
	"sync"

	"github.com/nextsample/nextsample/causalconv"
)

// A Dataset is a list of files of μ-law classes that a run reads a window at
// a time: the training files, whose windows are read ahead of each step,
// or the validation files, read a group at a time to be scored. A run never
// holds a whole split in memory, so a split kept in a file (the class cache
// of package corpus) trains in memory that does not grow with the corpus.
// Classes is the in-memory Dataset.
type Dataset interface {
	// Files is the number of files.
	Files() int
	// Len is the number of classes (samples) of file i.
	Len(i int) int
	// Read fills dst with the classes of file i from position off on.
	// It may be called from several goroutines at once.
	Read(i, off int, dst []int32) error
}

// Classes is a Dataset held in memory: one slice of classes per file.
type Classes [][]int32

// Files implements Dataset.
func (c Classes) Files() int { return len(c) }

// Len implements Dataset.
func (c Classes) Len(i int) int { return len(c[i]) }

// Read implements Dataset.
func (c Classes) Read(i, off int, dst []int32) error {
	if off < 0 || off+len(dst) > len(c[i]) {
		return fmt.Errorf("file %d: samples [%d, %d) of %d", i, off, off+len(dst), len(c[i]))
	}
	copy(dst, c[i][off:])
	return nil
}

// WithSpeakers returns s with a speaker per file, speakers[i] for file i:
// the split of a speaker-conditioned model, whose files are each
// conditioned on their speaker (a row of the model's speaker table).
// Features of s (WithFeatures) are kept.
func WithSpeakers(s Dataset, speakers []int) Dataset {
	switch f := s.(type) {
	case featured:
		return WithFeatures(speakered{f.Dataset, speakers}, f.feats)
	case featuredSpeakers:
		return WithFeatures(speakered{f.Dataset, speakers}, f.feats)
	}
	return speakered{s, speakers}
}

type speakered struct {
	Dataset
	speakers []int
}

func (s speakered) Speaker(i int) int { return s.speakers[i] }

func (s speakered) ClassCounts() []int64 {
	if cc, ok := s.Dataset.(classCounter); ok {
		return cc.ClassCounts()
	}
	return nil
}

// speakerOf returns file i's speaker in s, or -1 when s has none.
func speakerOf(s Dataset, i int) int {
	if sp, ok := s.(interface{ Speaker(int) int }); ok {
		return sp.Speaker(i)
	}
	return -1
}

// checkSpeakers checks that s has a speaker of the model's c for every
// file (c > 0), or none (c = 0).
func checkSpeakers(s Dataset, c int, what string) error {
	_, has := s.(interface{ Speaker(int) int })
	switch {
	case c == 0 && has:
		return fmt.Errorf("%s files have speakers, but the model is not conditioned", what)
	case c > 0 && !has:
		return fmt.Errorf("the model is conditioned on %d speakers, but the %s files have none", c, what)
	}
	for i := range numFiles(s) {
		if sp := speakerOf(s, i); c > 0 && (sp < 0 || sp >= c) {
			return fmt.Errorf("%s file %d: speaker %d, the model has %d", what, i, sp, c)
		}
	}
	return nil
}

// classCounter is a Dataset that knows the histogram of its classes (the
// class cache does), so that the unigram baseline needs no pass over it.
type classCounter interface {
	ClassCounts() []int64
}

// numFiles returns the number of files of s (0 for a nil Dataset).
func numFiles(s Dataset) int {
	if s == nil {
		return 0
	}
	return s.Files()
}

// withTargets returns the files of s that have at least one target (2
// samples) and their lengths.
func withTargets(s Dataset) (ids []int32, lens []int) {
	for i := range numFiles(s) {
		if n := s.Len(i); n >= 2 {
			ids = append(ids, int32(i))
			lens = append(lens, n)
		}
	}
	return ids, lens
}

// checkClasses reports a class outside 0..q-1 in x.
func checkClasses(x []int32, q int) error {
	for _, c := range x {
		if c < 0 || int(c) >= q {
			return fmt.Errorf("class %d, outside the model's %d classes", c, q)
		}
	}
	return nil
}

// unigramBits is the unigram baseline of the files ids of s: from the
// split's class histogram when it has one (over all its files), else
// counted by reading the files.
func unigramBits(s Dataset, ids []int32, q int) (float64, error) {
	if cc, ok := s.(classCounter); ok {
		if counts := cc.ClassCounts(); len(counts) == q {
			return entropyBits(counts), nil
		}
	}
	if c, ok := s.(Classes); ok {
		files := make([][]int32, len(ids))
		for i, id := range ids {
			files[i] = c[id]
		}
		return UnigramBits(files, q), nil
	}
	counts := make([]int64, q)
	buf := make([]int32, 1<<16)
	for _, id := range ids {
		n := s.Len(int(id))
		for off := 0; off < n; off += len(buf) {
			b := buf[:min(len(buf), n-off)]
			if err := s.Read(int(id), off, b); err != nil {
				return 0, err
			}
			for _, c := range b {
				if c >= 0 && int(c) < q {
					counts[c]++
				}
			}
		}
	}
	return entropyBits(counts), nil
}

func entropyBits(counts []int64) float64 {
	var n int64
	for _, c := range counts {
		n += c
	}
	var h float64
	for _, c := range counts {
		if c > 0 {
			p := float64(c) / float64(n)
			h -= p * math.Log2(p)
		}
	}
	return h
}

// A batch is one step's units, read ahead: each unit's Seq is a buffer
// holding its window and up to RF-1 samples of context in front of it,
// which gives the engine exactly the inputs that the whole file would
// (the engine takes at most RF-1 samples of context before a chunk).
type batch struct {
	units []Unit
	total int // scored targets of the whole global batch
	bufs  [][]int32
	fbufs [][]float32 // the units' features (a locally conditioned model)
	// after is the batcher's state once this batch was drawn: what a
	// checkpoint written after this step stores.
	after batcherState
	err   error
}

// readBatch reads the windows ws of the files ids of s into b.
func (b *batch) read(s Dataset, ids []int32, ws []window, ctxMax, q int) error {
	b.units = b.units[:0]
	for len(b.bufs) < len(ws) {
		b.bufs = append(b.bufs, nil)
		b.fbufs = append(b.fbufs, nil)
	}
	feats := featuresOf(s)
	for k, w := range ws {
		c := min(w.start, ctxMax)
		n := c + w.targets + 1
		if cap(b.bufs[k]) < n {
			b.bufs[k] = make([]int32, n)
		}
		buf := b.bufs[k][:n]
		id := int(ids[w.file])
		if err := s.Read(id, w.start-c, buf); err != nil {
			return fmt.Errorf("training file %d: %w", id, err)
		}
		if err := checkClasses(buf, q); err != nil {
			return fmt.Errorf("training file %d: %w", id, err)
		}
		u := Unit{Seq: buf, Start: c, Targets: w.targets, Speaker: speakerOf(s, id), Offset: w.start - c}
		if feats != nil {
			var err error
			if u.Feats, err = readFeatures(feats, id, &b.fbufs[k]); err != nil {
				return fmt.Errorf("training file %d: features: %w", id, err)
			}
		}
		b.units = append(b.units, u)
	}
	return nil
}

// A prefetcher draws batches from its own batcher and reads them on a
// background goroutine, up to depth batches ahead of the step that uses
// them, so that a step does not wait for the reads. Batches are recycled
// (release), so it allocates nothing in steady state; its memory is
// (depth+1) batches of windows.
type prefetcher struct {
	out    chan *batch
	free   chan *batch
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// prefetchDepth is how many batches are read ahead of the step.
const prefetchDepth = 2

// In a data-parallel run of size processes it draws every global batch
// but reads only this rank's contiguous share of it.
func startPrefetch(bat *batcher, s Dataset, ids []int32, b, crop, ctxMax, q, rank, size int) *prefetcher {
	ctx, cancel := context.WithCancel(context.Background())
	p := &prefetcher{out: make(chan *batch, prefetchDepth), free: make(chan *batch, prefetchDepth+1), cancel: cancel}
	for range prefetchDepth + 1 {
		p.free <- &batch{}
	}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		defer close(p.out)
		var ws []window
		for {
			var bt *batch
			select {
			case <-ctx.Done():
				return
			case bt = <-p.free:
			}
			ws = bat.next(ws, b, crop)
			bt.after, bt.err = bat.state()
			bt.total = 0
			for _, w := range ws {
				bt.total += w.targets
			}
			if bt.err == nil {
				bt.err = bt.read(s, ids, ws[rank*b/size:(rank+1)*b/size], ctxMax, q)
			}
			select {
			case <-ctx.Done():
				return
			case p.out <- bt:
			}
			if bt.err != nil {
				return
			}
		}
	}()
	return p
}

// next returns the next batch; release it when the step is done.
func (p *prefetcher) next() (*batch, error) {
	bt, ok := <-p.out
	if !ok {
		return nil, fmt.Errorf("training data: reader stopped")
	}
	return bt, bt.err
}

func (p *prefetcher) release(bt *batch) { p.free <- bt }

// stop ends the reader goroutine and waits for it.
func (p *prefetcher) stop() {
	p.cancel()
	p.wg.Wait()
}

// valGroupSamples bounds the classes validation reads at a time: 4M
// samples, 16 MB of buffers, scored in one pass of the engine.
const valGroupSamples = 1 << 22

// evaluateDataset scores every file of s with the engine, a group of files
// of at most group classes at a time (a longer file is a group of its
// own), checking ctx between groups, and returns the summed nats, the
// scored targets and the files with at least one target. Groups are
// formed in file order, so the result is the same on every run. buf is
// the reading buffer, kept by the caller between calls.
func (e *engine) evaluateDataset(ctx context.Context, s Dataset, q, group int, buf *[]int32) (nats float64, targets int64, files int, err error) {
	n := numFiles(s)
	var seqs [][]int32
	var speakers []int
	var feats []causalconv.Matrix
	var fbufs [][]float32
	source := featuresOf(s)
	for i := 0; i < n; {
		if err := ctx.Err(); err != nil {
			return nats, targets, files, err
		}
		j, total := i, 0
		for j < n && (j == i || total+s.Len(j) <= group) {
			total += s.Len(j)
			j++
		}
		if cap(*buf) < total {
			*buf = make([]int32, total)
		}
		b := (*buf)[:total]
		seqs, speakers, feats = seqs[:0], speakers[:0], feats[:0]
		for k := i; k < j; k++ {
			x := b[:s.Len(k)]
			b = b[len(x):]
			if err := s.Read(k, 0, x); err != nil {
				return 0, 0, 0, fmt.Errorf("file %d: %w", k, err)
			}
			if err := checkClasses(x, q); err != nil {
				return 0, 0, 0, fmt.Errorf("file %d: %w", k, err)
			}
			seqs = append(seqs, x)
			speakers = append(speakers, speakerOf(s, k))
			if source != nil {
				if len(fbufs) <= k-i {
					fbufs = append(fbufs, nil)
				}
				m, err := readFeatures(source, k, &fbufs[k-i])
				if err != nil {
					return 0, 0, 0, fmt.Errorf("file %d: features: %w", k, err)
				}
				feats = append(feats, m)
			}
			if len(x) >= 2 {
				files++
			}
		}
		var fs []causalconv.Matrix
		if source != nil {
			fs = feats
		}
		gn, gt, err := e.evaluate(seqs, speakers, fs)
		if err != nil {
			return 0, 0, 0, fmt.Errorf("evaluating: %w", err)
		}
		nats += gn
		targets += gt
		i = j
	}
	return nats, targets, files, nil
}

// strided is the files from, from+step, from+2·step… of a Dataset: one
// process's share of the validation files.
type strided struct {
	s          Dataset
	from, step int
}

func (p strided) Files() int {
	n := numFiles(p.s)
	if p.from >= n {
		return 0
	}
	return (n - p.from + p.step - 1) / p.step
}
func (p strided) Len(i int) int                      { return p.s.Len(p.from + i*p.step) }
func (p strided) Read(i, off int, dst []int32) error { return p.s.Read(p.from+i*p.step, off, dst) }

// stridedSpeakers is a strided Dataset of a split with speakers.
type stridedSpeakers struct{ strided }

func (p stridedSpeakers) Speaker(i int) int { return speakerOf(p.s, p.from+i*p.step) }

// stride returns the files from, from+step… of s, keeping its speakers
// and features.
func stride(s Dataset, from, step int) Dataset {
	var p Dataset = strided{s: s, from: from, step: step}
	if _, ok := s.(interface{ Speaker(int) int }); ok {
		p = stridedSpeakers{p.(strided)}
	}
	if f := featuresOf(s); f != nil {
		p = WithFeatures(p, stridedFeatures{f: f, from: from, step: step})
	}
	return p
}
