package corpus

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nextsample/nextsample/audio"
	"github.com/nextsample/nextsample/audio/atomicfile"
	"github.com/nextsample/nextsample/audio/regular"
)

// A FeatureComputer computes the frame features of one signal:
// causalconv/features' Computer is one. It appends Frames × Dims values to
// dst, frame after frame, and returns them with the number of frames.
type FeatureComputer interface {
	Compute(dst []float32, samples []float32) ([]float32, int, error)
}

// FeatureRecipe says which features a FeatureCache holds.
type FeatureRecipe struct {
	// Key identifies the features' settings, such as the JSON of a
	// kaldifeat.Config; caches of different keys are different files.
	Key string
	// Dims is the number of values per frame.
	Dims int
	// NewComputer returns a computer for one goroutine.
	NewComputer func() (FeatureComputer, error)
}

// A FeatureCache holds the frame features of a list of entries, computed
// once from the same samples as their ClassCache (decoded, cut and
// preprocessed with the same settings, before quantization; OpenCaches
// builds both in one decoding pass) and kept in a file read one entry at
// a time, so that a locally conditioned run's
// memory does not grow with the corpus. 80 float32 values per 10 ms frame
// are 32 KB per second of audio: 11.5 GB for 100 hours, twice the class
// cache of the same 16 kHz audio.
//
// The file is named by a SHA-256 digest of the class cache's digest (the
// entries and settings, see ClassCache) and the recipe's Key. Its layout
// is that of a class cache: 16 bytes of header ("NSFEAT01" and 8 reserved
// bytes), each entry's features channel by channel (Dims rows of Frames
// little-endian float32; value c·Frames+k is channel c of frame k, the
// layout causalconv.Workspace.SetFeatures takes), the index (per entry
// its byte offset and frame count as little-endian uint64), a JSON
// description, and a 24-byte footer: the index offset and the JSON length
// as little-endian uint64, then "NSFEEND1".
type FeatureCache struct {
	path   string
	f      *os.File
	off    []int64
	n      []int64
	meta   featMeta
	bufs   sync.Pool
	closed atomic.Bool
}

type featMeta struct {
	Format       int     `json:"format"`
	Digest       string  `json:"digest"`
	Key          string  `json:"key"`
	Entries      int     `json:"entries"`
	Dims         int     `json:"dims"`
	Frames       int64   `json:"frames"`
	BuildSeconds float64 `json:"build_seconds"`
}

const (
	featFormat   = 1
	featMagic    = "NSFEAT01"
	featEndMagic = "NSFEEND1"
)

// featContainer is the feature cache's file layout (see container): the
// header holds the magic and the data starts after cacheHeaderSize bytes,
// as in the class cache.
var featContainer = container{kind: "feature cache", magic: featMagic, endMagic: featEndMagic}

// FeatureCacheDigest returns the digest that names the feature cache of
// entries under settings s and recipe key.
func FeatureCacheDigest(entries []Entry, s audio.Settings, key string) (string, error) {
	d, err := CacheDigest(entries, s)
	if err != nil {
		return "", err
	}
	h := sha256.New()
	fmt.Fprintf(h, "nextsample feature cache %d\n%s\n%s\n", featFormat, d, key)
	return hex.EncodeToString(h.Sum(nil)[:16]), nil
}

// OpenFeatureCache returns the feature cache of entries under settings s
// and recipe r from opts.Dir, building it first when there is none (built
// is then true), as OpenClassCache does: in parallel, into a temporary
// file renamed into place when complete.
func OpenFeatureCache(ctx context.Context, entries []Entry, s audio.Settings, r FeatureRecipe, opts CacheOptions) (c *FeatureCache, built bool, err error) {
	if err := s.Validate(); err != nil {
		return nil, false, err
	}
	if r.Dims < 1 || r.NewComputer == nil {
		return nil, false, fmt.Errorf("feature cache: a recipe of %d dims", r.Dims)
	}
	digest, err := FeatureCacheDigest(entries, s, r.Key)
	if err != nil {
		return nil, false, fmt.Errorf("feature cache: %w", err)
	}
	if opts.Dir == "" {
		return nil, false, errors.New("feature cache: no cache directory")
	}
	path := filepath.Join(opts.Dir, "features-"+digest+".nsf")
	if c, err := openFeatureCache(path, digest, len(entries), r); err == nil {
		return c, false, nil
	}
	if err := os.MkdirAll(opts.Dir, 0o755); err != nil {
		return nil, false, fmt.Errorf("feature cache: %w", err)
	}
	if err := buildFeatureCache(ctx, path, digest, entries, s, r, opts); err != nil {
		return nil, false, err
	}
	c, err = openFeatureCache(path, digest, len(entries), r)
	if err != nil {
		return nil, false, err
	}
	return c, true, nil
}

func buildFeatureCache(ctx context.Context, path, digest string, entries []Entry, s audio.Settings, r FeatureRecipe, opts CacheOptions) error {
	fb, err := newFeatBuild(path, digest, entries, r)
	if err != nil {
		return err
	}
	defer fb.f.Abort()
	stop := reportProgress(opts.Progress, len(entries), &fb.done, &fb.samples)
	err = Each(ctx, entries, s, opts.Threads, fb.add)
	stop()
	if err != nil {
		return err
	}
	return fb.finish(opts.Progress)
}

// featBuild is a feature cache being written: add computes and stores
// one entry's features (from any goroutine), finish writes the index and
// commits.
type featBuild struct {
	f            *atomicfile.File
	path, digest string
	entries      []Entry
	r            FeatureRecipe
	t0           time.Time
	off, n       []int64
	end          atomic.Int64
	done         atomic.Int64
	samples      atomic.Int64
	lock         sync.Mutex
	werr         error
	pool         sync.Pool // *featWork
}

func newFeatBuild(path, digest string, entries []Entry, r FeatureRecipe) (*featBuild, error) {
	f, err := atomicfile.Create(path)
	if err != nil {
		return nil, fmt.Errorf("feature cache: %w", err)
	}
	var hdr [cacheHeaderSize]byte
	copy(hdr[:], featMagic)
	if _, err := f.WriteAt(hdr[:], 0); err != nil {
		f.Abort()
		return nil, fmt.Errorf("feature cache: %w", err)
	}
	fb := &featBuild{f: f, path: path, digest: digest, entries: entries, r: r, t0: time.Now(),
		off: make([]int64, len(entries)), n: make([]int64, len(entries))}
	fb.end.Store(cacheHeaderSize)
	return fb, nil
}

func (fb *featBuild) fail(e error) {
	fb.lock.Lock()
	if fb.werr == nil {
		fb.werr = e
	}
	fb.lock.Unlock()
}

// add computes entry i's features of its samples x and writes them.
func (fb *featBuild) add(i int, x []float32, _ audio.Report) {
	dims := fb.r.Dims
	w, _ := fb.pool.Get().(*featWork)
	if w == nil {
		comp, err := fb.r.NewComputer()
		if err != nil {
			fb.fail(err)
			return
		}
		w = &featWork{comp: comp}
	}
	defer fb.pool.Put(w)
	var frames int
	var err error
	w.feats, frames, err = w.comp.Compute(w.feats[:0], x)
	if err != nil {
		fb.fail(fmt.Errorf("feature cache: %s: %w", fb.entries[i].Name(), err))
		return
	}
	need := 4 * frames * dims
	if cap(w.b) < need {
		w.b = make([]byte, need)
	}
	b := w.b[:need]
	for k := range frames { // frame-major in, channel-major out
		for c := range dims {
			binary.LittleEndian.PutUint32(b[4*(c*frames+k):], math.Float32bits(w.feats[k*dims+c]))
		}
	}
	at := fb.end.Add(int64(need)) - int64(need)
	if _, err := fb.f.WriteAt(b, at); err != nil {
		fb.fail(fmt.Errorf("feature cache %s: %w", fb.path, err))
	}
	fb.off[i], fb.n[i] = at, int64(frames)
	fb.samples.Add(int64(len(x)))
	fb.done.Add(1)
}

// finish writes the index, description and footer, and commits the file.
func (fb *featBuild) finish(progress func(done, total int, samples int64)) error {
	if fb.werr != nil {
		return fb.werr
	}
	if progress != nil {
		progress(len(fb.entries), len(fb.entries), fb.samples.Load())
	}
	return writeFeatureIndex(fb.f, fb.path, featMeta{Format: featFormat, Digest: fb.digest, Key: fb.r.Key, Entries: len(fb.entries), Dims: fb.r.Dims,
		BuildSeconds: time.Since(fb.t0).Seconds()}, fb.end.Load(), fb.off, fb.n)
}

// OpenCaches returns the class cache and the feature cache of entries, as
// OpenClassCache and OpenFeatureCache do, but builds the two in one
// decoding pass when both are missing (built then says which were
// built: the classes' and the features'). opts.Progress reports that
// pass.
func OpenCaches(ctx context.Context, entries []Entry, s audio.Settings, r FeatureRecipe, opts CacheOptions) (cc *ClassCache, fc *FeatureCache, built [2]bool, err error) {
	if err := s.Validate(); err != nil {
		return nil, nil, built, err
	}
	if r.Dims < 1 || r.NewComputer == nil {
		return nil, nil, built, fmt.Errorf("feature cache: a recipe of %d dims", r.Dims)
	}
	if opts.Dir == "" {
		return nil, nil, built, errors.New("class cache: no cache directory")
	}
	cd, err := CacheDigest(entries, s)
	if err != nil {
		return nil, nil, built, fmt.Errorf("class cache: %w", err)
	}
	fd, err := FeatureCacheDigest(entries, s, r.Key)
	if err != nil {
		return nil, nil, built, fmt.Errorf("feature cache: %w", err)
	}
	cpath := filepath.Join(opts.Dir, "classes-"+cd+".nsc")
	fpath := filepath.Join(opts.Dir, "features-"+fd+".nsf")
	_, cerr := os.Stat(cpath)
	_, ferr := os.Stat(fpath)
	if cerr == nil || ferr == nil { // at most one to build: each alone
		if cc, built[0], err = OpenClassCache(ctx, entries, s, opts); err != nil {
			return nil, nil, built, err
		}
		if fc, built[1], err = OpenFeatureCache(ctx, entries, s, r, opts); err != nil {
			cc.Close()
			return nil, nil, built, err
		}
		return cc, fc, built, nil
	}
	if err := os.MkdirAll(opts.Dir, 0o755); err != nil {
		return nil, nil, built, fmt.Errorf("class cache: %w", err)
	}
	if err := buildBoth(ctx, cpath, cd, fpath, fd, entries, s, r, opts); err != nil {
		return nil, nil, built, err
	}
	if cc, err = openCache(cpath, cd, len(entries), s); err != nil {
		return nil, nil, built, err
	}
	if fc, err = openFeatureCache(fpath, fd, len(entries), r); err != nil {
		cc.Close()
		return nil, nil, built, err
	}
	return cc, fc, [2]bool{true, true}, nil
}

// buildBoth builds a class cache and a feature cache in one pass.
func buildBoth(ctx context.Context, cpath, cd, fpath, fd string, entries []Entry, s audio.Settings, r FeatureRecipe, opts CacheOptions) error {
	cb, err := newClassBuild(cpath, cd, len(entries), s)
	if err != nil {
		return err
	}
	defer cb.f.Abort()
	fb, err := newFeatBuild(fpath, fd, entries, r)
	if err != nil {
		return err
	}
	defer fb.f.Abort()
	stop := reportProgress(opts.Progress, len(entries), &cb.done, &cb.samples)
	err = Each(ctx, entries, s, opts.Threads, func(i int, x []float32, rep audio.Report) {
		fb.add(i, x, rep)
		cb.add(i, x, rep)
	})
	stop()
	if err != nil {
		return err
	}
	if err := fb.finish(nil); err != nil {
		return err
	}
	return cb.finish(opts.Progress)
}

// writeFeatureIndex writes the index, description and footer of a
// feature cache whose data ends at indexAt, and commits the file.
func writeFeatureIndex(f *atomicfile.File, path string, meta featMeta, indexAt int64, off, n []int64) error {
	for _, k := range n {
		meta.Frames += k
	}
	return featContainer.writeTail(f, path, meta, indexAt, off, n)
}

// featWork is one goroutine's computer and buffers while a cache is built.
type featWork struct {
	comp  FeatureComputer
	feats []float32
	b     []byte
}

// openFeatureCache opens the cache at path and checks its digest, entry
// count, key and dims, and that every entry lies in the data region.
func openFeatureCache(path, digest string, entries int, r FeatureRecipe) (*FeatureCache, error) {
	f, err := regular.Open(path)
	if err != nil {
		return nil, err
	}
	c, err := readFeatureIndex(f, path)
	if err != nil {
		f.Close()
		return nil, err
	}
	m := c.meta
	if m.Digest != digest || m.Entries != entries || m.Key != r.Key || m.Dims != r.Dims {
		f.Close()
		return nil, fmt.Errorf("feature cache %s: built for other entries or settings", path)
	}
	return c, nil
}

func readFeatureIndex(f *os.File, path string) (*FeatureCache, error) {
	c := &FeatureCache{path: path, f: f}
	m := &c.meta
	off, n, total, err := featContainer.read(f, path, m, func() (int, int64, bool) {
		return m.Entries, 4 * int64(m.Dims), m.Format == featFormat && m.Dims >= 1
	})
	if err != nil {
		return nil, err
	}
	if total != m.Frames {
		return nil, featContainer.errorf(path, "index holds %d frames, description %d", total, m.Frames)
	}
	c.off, c.n = off, n
	return c, nil
}

// Path is the cache file's path.
func (c *FeatureCache) Path() string { return c.path }

// Files is the number of entries.
func (c *FeatureCache) Files() int { return len(c.n) }

// Dims is the number of feature channels per frame.
func (c *FeatureCache) Dims() int { return c.meta.Dims }

// Frames is the number of frames of entry i.
func (c *FeatureCache) Frames(i int) int { return int(c.n[i]) }

// Bytes is the size of the cache file.
func (c *FeatureCache) Bytes() int64 {
	if fi, err := c.f.Stat(); err == nil {
		return fi.Size()
	}
	return 0
}

// ReadFeatures fills dst (Dims × Frames(i) values) with the features of
// entry i, channel by channel. It fails on a value that is not finite (a
// damaged file). It is safe for concurrent use.
func (c *FeatureCache) ReadFeatures(i int, dst []float32) error {
	if i < 0 || i >= len(c.n) || int64(len(dst)) != c.n[i]*int64(c.meta.Dims) {
		return fmt.Errorf("feature cache %s: entry %d into %d values", c.path, i, len(dst))
	}
	need := 4 * len(dst)
	bp, _ := c.bufs.Get().(*[]byte)
	if bp == nil {
		bp = new([]byte)
	}
	if cap(*bp) < need {
		*bp = make([]byte, need)
	}
	b := (*bp)[:need]
	defer c.bufs.Put(bp)
	if _, err := c.f.ReadAt(b, c.off[i]); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return fmt.Errorf("feature cache %s: %w", c.path, err)
	}
	for j := range dst {
		v := math.Float32frombits(binary.LittleEndian.Uint32(b[4*j:]))
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return fmt.Errorf("feature cache %s: entry %d holds %g: the file is damaged; delete it", c.path, i, v)
		}
		dst[j] = v
	}
	return nil
}

// Close closes the cache file.
func (c *FeatureCache) Close() error {
	if c.closed.Swap(true) {
		return nil
	}
	return c.f.Close()
}
