package corpus

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nextsample/nextsample/audio"
	"github.com/nextsample/nextsample/audio/atomicfile"
	"github.com/nextsample/nextsample/audio/regular"
)

// A ClassCache holds the μ-law classes of a list of entries, prepared once
// (decoded, cut, preprocessed and quantized exactly as LoadClasses does) and
// kept in a file that is read a window at a time, so that training memory
// does not grow with the corpus: the classes live in the file and in the
// kernel's page cache, not in the process's heap.
//
// A class takes 1 byte when the settings' Quantization is at most 256, and
// 2 bytes (little-endian) otherwise, so 100 hours of 16 kHz speech take
// 5.8 GB of disk. The file is named by a SHA-256 digest of the cache
// format, the settings and, for every entry in order, its key, where its
// audio comes from (path, wav.scp command, segment times, channel) and the
// size and modification time of its file; a cache is reused when all of
// these are the same and rebuilt when any changes. A pipe entry is
// identified by its command only: delete the cache after changing what a
// command reads.
//
// The layout: 16 bytes of header ("NSCLASS1" and 8 reserved bytes), the
// classes of every entry (contiguous per entry, the entries in the order
// their decodes finished), the index (per entry, in entry order, its byte
// offset and sample count as two little-endian uint64), a JSON description
// (cacheMeta), and a 24-byte footer: the index offset and the JSON length as
// little-endian uint64, then "NSCLEND1". Only the position of an entry's
// classes depends on the thread count, never the classes.
type ClassCache struct {
	path   string
	f      *os.File
	q      int
	width  int
	off    []int64 // byte offset of each entry's classes
	n      []int64 // sample count of each entry
	meta   cacheMeta
	bufs   sync.Pool // *[]byte scratch for Read
	closed atomic.Bool
}

// cacheMeta is the JSON part of a cache file.
type cacheMeta struct {
	Format       int            `json:"format"`
	Digest       string         `json:"digest"`
	Entries      int            `json:"entries"`
	Width        int            `json:"bytes_per_class"`
	Samples      int64          `json:"samples"`
	Counts       []int64        `json:"class_counts"`
	Resampled    int            `json:"resampled"`
	Settings     audio.Settings `json:"settings"`
	BuildSeconds float64        `json:"build_seconds"`
}

const (
	cacheFormat     = 1
	cacheMagic      = "NSCLASS1"
	cacheEndMagic   = "NSCLEND1"
	cacheHeaderSize = 16
	cacheFooterSize = 24
)

// classContainer is the class cache's file layout (see container).
var classContainer = container{kind: "class cache", magic: cacheMagic, endMagic: cacheEndMagic}

// CacheOptions says where class caches live and how they are built.
type CacheOptions struct {
	// Dir is the directory of the cache files (created if missing).
	Dir string
	// Threads decode in parallel while building (0: all cores).
	Threads int
	// Progress, if set, is called about once a second while a cache is
	// built, and once at the end, with the entries done, the total, and
	// the classes written so far.
	Progress func(done, total int, samples int64)
}

// DefaultCacheDir is where class caches go unless told otherwise: the
// user's cache directory ($XDG_CACHE_HOME or ~/.cache on Linux) under
// "nextsample".
func DefaultCacheDir() (string, error) {
	d, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("no cache directory for the class cache (%w); choose one", err)
	}
	return filepath.Join(d, "nextsample"), nil
}

// CacheDigest returns the digest that names the class cache of entries
// under settings s (see ClassCache). It stats every entry's file, in
// parallel.
func CacheDigest(entries []Entry, s audio.Settings) (string, error) {
	type ident struct {
		size  int64
		mtime int64
		err   error
	}
	ids := make([]ident, len(entries))
	forEach(len(entries), defaultThreads(), func(i int) {
		if entries[i].Pipe() {
			return
		}
		fi, err := os.Stat(entries[i].Path)
		if err != nil {
			ids[i].err = err
			return
		}
		ids[i] = ident{size: fi.Size(), mtime: fi.ModTime().UnixNano()}
	})
	h := sha256.New()
	sj, err := json.Marshal(s)
	if err != nil {
		return "", err
	}
	fmt.Fprintf(h, "nextsample class cache %d\n%s\n%d\n", cacheFormat, sj, len(entries))
	for i, e := range entries {
		if ids[i].err != nil {
			return "", ids[i].err
		}
		src := e.Source
		fmt.Fprintf(h, "%q %q %q %t %g %g %d %d %d\n", e.Key, e.Path, src.Command, src.Segment, src.Start, src.End, src.Channel, ids[i].size, ids[i].mtime)
	}
	return hex.EncodeToString(h.Sum(nil)[:16]), nil
}

// OpenClassCache returns the class cache of entries under settings s from
// opts.Dir, building it first when there is none (built is then true). A
// build decodes the entries as Each does, on opts.Threads goroutines, so
// memory holds at most one decoded recording per thread; it writes a
// temporary file that is renamed into place only when complete, so an
// interrupted or failed build leaves nothing behind, and concurrent runs
// that build the same cache each get a complete file. Errors are those of
// Each (naming the entry), or name the cache file.
func OpenClassCache(ctx context.Context, entries []Entry, s audio.Settings, opts CacheOptions) (c *ClassCache, built bool, err error) {
	if err := s.Validate(); err != nil {
		return nil, false, err
	}
	digest, err := CacheDigest(entries, s)
	if err != nil {
		return nil, false, fmt.Errorf("class cache: %w", err)
	}
	if opts.Dir == "" {
		return nil, false, errors.New("class cache: no cache directory")
	}
	path := filepath.Join(opts.Dir, "classes-"+digest+".nsc")
	// A missing, damaged or foreign file under the digest's name is built
	// again.
	if c, err := openCache(path, digest, len(entries), s); err == nil {
		return c, false, nil
	}
	if err := os.MkdirAll(opts.Dir, 0o755); err != nil {
		return nil, false, fmt.Errorf("class cache: %w", err)
	}
	if err := buildCache(ctx, path, digest, entries, s, opts); err != nil {
		return nil, false, err
	}
	c, err = openCache(path, digest, len(entries), s)
	if err != nil {
		return nil, false, err
	}
	return c, true, nil
}

func classWidth(q int) int {
	if q <= 256 {
		return 1
	}
	return 2
}

func buildCache(ctx context.Context, path, digest string, entries []Entry, s audio.Settings, opts CacheOptions) error {
	cb, err := newClassBuild(path, digest, len(entries), s)
	if err != nil {
		return err
	}
	defer cb.f.Abort()
	stop := reportProgress(opts.Progress, len(entries), &cb.done, &cb.samples)
	err = Each(ctx, entries, s, opts.Threads, cb.add)
	stop()
	if err != nil {
		return err
	}
	return cb.finish(opts.Progress)
}

// reportProgress calls progress (if set) about once a second with the
// entries done of total and the samples so far, until the returned stop
// is called.
func reportProgress(progress func(done, total int, samples int64), total int, done, samples *atomic.Int64) (stop func()) {
	if progress == nil {
		return func() {}
	}
	quit := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-quit:
				return
			case <-t.C:
				progress(int(done.Load()), total, samples.Load())
			}
		}
	}()
	return func() {
		close(quit)
		wg.Wait()
	}
}

// classBuild is a class cache being written: add stores one entry's
// classes (from any goroutine), finish writes the index and commits.
type classBuild struct {
	f            *atomicfile.File
	path, digest string
	s            audio.Settings
	t0           time.Time
	width        int
	mu           audio.MuLaw
	off, n       []int64
	end          atomic.Int64 // next free byte
	done         atomic.Int64
	samples      atomic.Int64
	resampled    atomic.Int64
	lock         sync.Mutex
	counts       []int64
	werr         error
	pool         sync.Pool
}

func newClassBuild(path, digest string, entries int, s audio.Settings) (*classBuild, error) {
	f, err := atomicfile.Create(path)
	if err != nil {
		return nil, fmt.Errorf("class cache: %w", err)
	}
	var hdr [cacheHeaderSize]byte
	copy(hdr[:], cacheMagic)
	if _, err := f.WriteAt(hdr[:], 0); err != nil {
		f.Abort()
		return nil, fmt.Errorf("class cache: %w", err)
	}
	cb := &classBuild{f: f, path: path, digest: digest, s: s, t0: time.Now(), width: classWidth(s.Quantization), mu: s.MuLaw(),
		off: make([]int64, entries), n: make([]int64, entries), counts: make([]int64, s.Quantization)}
	cb.end.Store(cacheHeaderSize)
	return cb, nil
}

// add quantizes and writes entry i's samples x.
func (cb *classBuild) add(i int, x []float32, rep audio.Report) {
	q, width := cb.s.Quantization, cb.width
	bp, _ := cb.pool.Get().(*[]byte)
	if bp == nil {
		bp = new([]byte)
	}
	need := len(x) * width
	if cap(*bp) < need {
		*bp = make([]byte, need)
	}
	b := (*bp)[:need]
	local := make([]int64, q)
	for j, v := range x {
		c := cb.mu.EncodeOne(v)
		local[c]++
		if width == 1 {
			b[j] = byte(c)
		} else {
			binary.LittleEndian.PutUint16(b[2*j:], uint16(c))
		}
	}
	at := cb.end.Add(int64(need)) - int64(need)
	_, e := cb.f.WriteAt(b, at)
	cb.pool.Put(bp)
	cb.off[i], cb.n[i] = at, int64(len(x))
	cb.lock.Lock()
	for c, k := range local {
		cb.counts[c] += k
	}
	if e != nil && cb.werr == nil {
		cb.werr = e
	}
	cb.lock.Unlock()
	if rep.Resampled {
		cb.resampled.Add(1)
	}
	cb.samples.Add(int64(len(x)))
	cb.done.Add(1)
}

// finish writes the index, description and footer, and commits the file.
func (cb *classBuild) finish(progress func(done, total int, samples int64)) error {
	path, entries := cb.path, len(cb.off)
	if cb.werr != nil {
		return fmt.Errorf("class cache %s: %w", path, cb.werr)
	}
	if progress != nil {
		progress(entries, entries, cb.samples.Load())
	}
	meta := cacheMeta{Format: cacheFormat, Digest: cb.digest, Entries: entries, Width: cb.width, Samples: cb.samples.Load(),
		Counts: cb.counts, Resampled: int(cb.resampled.Load()), Settings: cb.s, BuildSeconds: time.Since(cb.t0).Seconds()}
	return classContainer.writeTail(cb.f, path, meta, cb.end.Load(), cb.off, cb.n)
}

// OpenClassCacheFile opens an existing cache file without knowing its
// entries (for inspection and tests); every check but the digest's is made.
func OpenClassCacheFile(path string) (*ClassCache, error) {
	return openCache(path, "", -1, audio.Settings{})
}

// openCache opens the cache at path and checks it against what is
// expected: its digest and entry count (when entries ≥ 0), its structure
// (every entry's classes inside the data region) and its settings'
// quantization. A missing file is an error wrapping os.ErrNotExist.
func openCache(path, digest string, entries int, s audio.Settings) (*ClassCache, error) {
	f, err := regular.Open(path)
	if err != nil {
		return nil, err
	}
	c, err := readCacheIndex(f, path)
	if err != nil {
		f.Close()
		return nil, err
	}
	bad := func(format string, args ...any) (*ClassCache, error) {
		f.Close()
		return nil, fmt.Errorf("class cache %s: %s", path, fmt.Sprintf(format, args...))
	}
	if entries >= 0 {
		switch {
		case c.meta.Digest != digest:
			return bad("digest %q, want %q", c.meta.Digest, digest)
		case c.meta.Entries != entries:
			return bad("%d entries, want %d", c.meta.Entries, entries)
		case c.meta.Settings != s:
			return bad("built with other settings")
		}
	}
	return c, nil
}

func readCacheIndex(f *os.File, path string) (*ClassCache, error) {
	c := &ClassCache{path: path, f: f}
	m := &c.meta
	off, n, total, err := classContainer.read(f, path, m, func() (int, int64, bool) {
		q := m.Settings.Quantization
		ok := m.Format == cacheFormat && q >= 2 && q <= 1<<16 && len(m.Counts) == q && m.Width == classWidth(q)
		return m.Entries, int64(m.Width), ok
	})
	if err != nil {
		return nil, err
	}
	if total != m.Samples {
		return nil, classContainer.errorf(path, "index holds %d samples, description %d", total, m.Samples)
	}
	var counted int64
	for _, k := range m.Counts {
		if k < 0 || k > m.Samples {
			return nil, classContainer.errorf(path, "class histogram out of range")
		}
		counted += k
	}
	if counted != m.Samples {
		return nil, classContainer.errorf(path, "class histogram counts %d samples, the index %d", counted, m.Samples)
	}
	c.q, c.width, c.off, c.n = m.Settings.Quantization, m.Width, off, n
	return c, nil
}

// Path is the cache file's path.
func (c *ClassCache) Path() string { return c.path }

// Files is the number of entries.
func (c *ClassCache) Files() int { return len(c.n) }

// Len is the number of classes (samples) of entry i.
func (c *ClassCache) Len(i int) int { return int(c.n[i]) }

// Samples is the number of classes of all entries.
func (c *ClassCache) Samples() int64 { return c.meta.Samples }

// Resampled is how many entries were resampled to the settings' rate.
func (c *ClassCache) Resampled() int { return c.meta.Resampled }

// ClassCounts is the histogram of the classes of all entries (do not
// modify it).
func (c *ClassCache) ClassCounts() []int64 { return c.meta.Counts }

// Bytes is the size of the cache file.
func (c *ClassCache) Bytes() int64 {
	if fi, err := c.f.Stat(); err == nil {
		return fi.Size()
	}
	return 0
}

// Read fills dst with the classes of entry i from position off on; it
// fails if they run past the entry or the file is damaged (a class ≥ Q).
// It is safe for concurrent use.
func (c *ClassCache) Read(i, off int, dst []int32) error {
	if i < 0 || i >= len(c.n) || off < 0 || int64(off)+int64(len(dst)) > c.n[i] {
		return fmt.Errorf("class cache %s: entry %d, samples [%d, %d) out of range", c.path, i, off, off+len(dst))
	}
	need := len(dst) * c.width
	bp, _ := c.bufs.Get().(*[]byte)
	if bp == nil {
		bp = new([]byte)
	}
	if cap(*bp) < need {
		*bp = make([]byte, need)
	}
	b := (*bp)[:need]
	defer c.bufs.Put(bp)
	if _, err := c.f.ReadAt(b, c.off[i]+int64(off*c.width)); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return fmt.Errorf("class cache %s: %w", c.path, err)
	}
	var hi int32
	if c.width == 1 {
		for j, v := range b {
			dst[j] = int32(v)
			hi = max(hi, int32(v))
		}
	} else {
		for j := range dst {
			v := int32(binary.LittleEndian.Uint16(b[2*j:]))
			dst[j] = v
			hi = max(hi, v)
		}
	}
	if int(hi) >= c.q {
		return fmt.Errorf("class cache %s: entry %d holds class %d, outside %d classes: the file is damaged; delete it", c.path, i, hi, c.q)
	}
	return nil
}

// Close closes the cache file.
func (c *ClassCache) Close() error {
	if c.closed.Swap(true) {
		return nil
	}
	return c.f.Close()
}
