package corpus

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nextsample/nextsample/audio"
)

// cacheCorpus is a small corpus for the class cache tests: a folder of
// WAV files of different lengths (one at 16 kHz, resampled to 8 kHz), and
// a Kaldi data directory whose segments cut two recordings (overlapping,
// one to the end), one of them read through a cat pipe.
type cacheCorpus struct {
	entries []Entry
	wav     map[string]string // the folder's files and the Kaldi recording r1, by name
	s       audio.Settings
}

// writeSynth writes n samples of synth(n, seed) as a 16-bit WAV file.
func writeSynth(tb testing.TB, path string, n, rate int, seed uint64) {
	tb.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		tb.Fatal(err)
	}
	if err := audio.WriteFile(path, synth(n, seed), rate, audio.PCM16); err != nil {
		tb.Fatal(err)
	}
}

func makeCacheCorpus(t *testing.T) cacheCorpus {
	t.Helper()
	root := t.TempDir()
	cc := cacheCorpus{wav: map[string]string{}, s: audio.DefaultSettings()}
	cc.s.Resample = true
	folder := filepath.Join(root, "folder")
	for i, f := range []struct {
		name    string
		n, rate int
	}{{"a.wav", 1000, 8000}, {"b.wav", 3001, 8000}, {"d16.wav", 2400, 16000}, {"sub/c.wav", 777, 8000}} {
		p := filepath.Join(folder, f.name)
		writeSynth(t, p, f.n, f.rate, uint64(10+i))
		cc.wav[f.name] = p
	}
	fc, err := Open(folder)
	if err != nil {
		t.Fatal(err)
	}
	r1, r2 := filepath.Join(root, "rec", "r1.wav"), filepath.Join(root, "rec", "r2.wav")
	writeSynth(t, r1, 8000, 8000, 20)
	writeSynth(t, r2, 6000, 8000, 21)
	cc.wav["r1"] = r1
	kdir := filepath.Join(root, "data", "train")
	writeText(t, filepath.Join(kdir, WavScp), "r1 "+r1+"\nr2 cat "+quote(r2)+" |\n")
	writeText(t, filepath.Join(kdir, Segments), "r1-a r1 0 0.3\nr1-b r1 0.25 0.9\nr1-c r1 0.9 -1\nr2-a r2 0.1 0.6\nr2-b r2 0.5 -1\n")
	kc, err := Open(kdir)
	if err != nil {
		t.Fatal(err)
	}
	cc.entries = append(slices.Clone(fc.Entries), kc.Entries...)
	if len(cc.entries) != 9 {
		t.Fatalf("%d entries", len(cc.entries))
	}
	return cc
}

func loadClasses(t *testing.T, entries []Entry, s audio.Settings) ([][]int32, []audio.Report) {
	t.Helper()
	want, reps, err := LoadClasses(context.Background(), entries, s, 2)
	if err != nil {
		t.Fatal(err)
	}
	return want, reps
}

func openCacheT(t *testing.T, entries []Entry, s audio.Settings, opts CacheOptions) (*ClassCache, bool) {
	t.Helper()
	c, built, err := OpenClassCache(context.Background(), entries, s, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c, built
}

// checkCache checks that c holds want, a class sequence per entry with q
// classes: its counts, and what Read gives for every entry whole and for
// random windows.
func checkCache(t *testing.T, c *ClassCache, want [][]int32, q int) {
	t.Helper()
	if c.Files() != len(want) {
		t.Fatalf("%d files, want %d", c.Files(), len(want))
	}
	counts := make([]int64, q)
	var samples int64
	rng := rand.New(rand.NewPCG(uint64(q), uint64(len(want))))
	for i, w := range want {
		if c.Len(i) != len(w) {
			t.Fatalf("entry %d: %d classes, want %d", i, c.Len(i), len(w))
		}
		got := make([]int32, len(w))
		if err := c.Read(i, 0, got); err != nil {
			t.Fatalf("entry %d: %v", i, err)
		}
		if !slices.Equal(got, w) {
			t.Fatalf("entry %d: classes differ from LoadClasses", i)
		}
		for range 5 {
			a := rng.IntN(len(w) + 1)
			b := a + rng.IntN(len(w)-a+1)
			win := make([]int32, b-a)
			if err := c.Read(i, a, win); err != nil {
				t.Fatalf("entry %d [%d, %d): %v", i, a, b, err)
			}
			if !slices.Equal(win, w[a:b]) {
				t.Fatalf("entry %d [%d, %d): classes differ from LoadClasses", i, a, b)
			}
		}
		for _, v := range w {
			counts[v]++
		}
		samples += int64(len(w))
	}
	if c.Samples() != samples {
		t.Errorf("%d samples, want %d", c.Samples(), samples)
	}
	if !slices.Equal(c.ClassCounts(), counts) {
		t.Errorf("class counts differ from the classes' histogram")
	}
}

// TestClassCacheContents: a cache holds, entry for entry, what
// LoadClasses gives, whatever the thread count of the build, with the
// right counts; Read refuses windows outside an entry and may be called
// concurrently.
func TestClassCacheContents(t *testing.T) {
	cc := makeCacheCorpus(t)
	want, reps := loadClasses(t, cc.entries, cc.s)
	resampled := 0
	for _, r := range reps {
		if r.Resampled {
			resampled++
		}
	}
	if resampled != 1 {
		t.Fatalf("%d entries resampled, want 1", resampled)
	}
	digest, err := CacheDigest(cc.entries, cc.s)
	if err != nil {
		t.Fatal(err)
	}
	var first *ClassCache
	for _, threads := range []int{1, 3} {
		dir := filepath.Join(t.TempDir(), "cache")
		c, built := openCacheT(t, cc.entries, cc.s, CacheOptions{Dir: dir, Threads: threads})
		if !built {
			t.Errorf("%d threads: not built", threads)
		}
		if p := filepath.Join(dir, "classes-"+digest+".nsc"); c.Path() != p {
			t.Errorf("path %q, want %q", c.Path(), p)
		}
		checkCache(t, c, want, cc.s.Quantization)
		if c.Resampled() != resampled {
			t.Errorf("%d threads: %d resampled, want %d", threads, c.Resampled(), resampled)
		}
		fi, err := os.Stat(c.Path())
		if err != nil || c.Bytes() != fi.Size() || c.Bytes() < 16+c.Samples()+16*int64(c.Files())+24 {
			t.Errorf("%d bytes, file %v %v", c.Bytes(), fi, err)
		}
		if first == nil {
			first = c
		}
	}

	c := first
	// The file alone gives the same.
	cf, err := OpenClassCacheFile(c.Path())
	if err != nil {
		t.Fatal(err)
	}
	checkCache(t, cf, want, cc.s.Quantization)
	if cf.Resampled() != resampled {
		t.Errorf("OpenClassCacheFile: %d resampled", cf.Resampled())
	}
	if err := cf.Close(); err != nil {
		t.Error(err)
	}
	if err := cf.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if err := cf.Read(0, 0, make([]int32, 1)); err == nil {
		t.Error("Read after Close succeeded")
	}

	// Windows outside an entry.
	n0 := c.Len(0)
	for _, r := range []struct{ i, off, n int }{
		{-1, 0, 1}, {c.Files(), 0, 0}, {0, -1, 1}, {0, 0, n0 + 1}, {0, n0, 1}, {0, n0 + 1, 0}, {0, 1, n0},
	} {
		if err := c.Read(r.i, r.off, make([]int32, r.n)); err == nil || !strings.Contains(err.Error(), "out of range") || !strings.Contains(err.Error(), c.Path()) {
			t.Errorf("Read(%d, %d, %d classes): %v", r.i, r.off, r.n, err)
		}
	}
	if err := c.Read(0, n0, nil); err != nil {
		t.Errorf("empty read at the end: %v", err)
	}

	// Concurrent reads.
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(g), 9))
			for range 200 {
				i := rng.IntN(len(want))
				a := rng.IntN(len(want[i]))
				b := a + rng.IntN(len(want[i])-a+1)
				dst := make([]int32, b-a)
				if err := c.Read(i, a, dst); err != nil || !slices.Equal(dst, want[i][a:b]) {
					errs <- fmt.Errorf("entry %d [%d, %d): %v or different classes", i, a, b, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// TestClassCacheQuantization: 2 bytes a class above 256 classes, 1 up to
// 256; the classes are those of LoadClasses either way.
func TestClassCacheQuantization(t *testing.T) {
	cc := makeCacheCorpus(t)
	entries := cc.entries[:6] // no pipe: quicker
	dir := t.TempDir()
	for _, q := range []int{2, 16, 256, 257, 1024, 1 << 16} {
		s := cc.s
		s.Quantization = q
		want, _ := loadClasses(t, entries, s)
		c, built := openCacheT(t, entries, s, CacheOptions{Dir: dir, Threads: 2})
		if !built {
			t.Errorf("Q=%d: not built", q)
		}
		checkCache(t, c, want, q)
		hi := int32(0)
		for _, w := range want {
			hi = max(hi, slices.Max(w))
		}
		if q >= 16 && int(hi) < q/2 {
			t.Errorf("Q=%d: highest class %d: the test signal does not reach the upper classes", q, hi)
		}
		b, err := os.ReadFile(c.Path())
		if err != nil {
			t.Fatal(err)
		}
		p := splitCache(t, b)
		width := 1
		if q > 256 {
			width = 2
		}
		if int64(len(p.data)) != int64(width)*c.Samples() {
			t.Errorf("Q=%d: %d bytes of classes for %d classes, want %d a class", q, len(p.data), c.Samples(), width)
		}
	}
}

// TestClassCacheReuse: the same entries and settings open the cache that
// is there without decoding anything; another setting, another entry
// list or a changed file name another cache, which is built.
func TestClassCacheReuse(t *testing.T) {
	cc := makeCacheCorpus(t)
	dir := t.TempDir()
	counter := countDecodes(t)
	decodes := func() int {
		n := 0
		for _, k := range counter.take() {
			n += k
		}
		return n
	}
	var progress []int
	opts := CacheOptions{Dir: dir, Threads: 2, Progress: func(done, total int, samples int64) { progress = append(progress, done) }}
	const recordings = 6 // 4 files, 2 Kaldi recordings

	c1, built := openCacheT(t, cc.entries, cc.s, opts)
	if !built || decodes() != recordings {
		t.Fatalf("first open: built %t", built)
	}
	progress = nil
	c2, built := openCacheT(t, cc.entries, cc.s, opts)
	if built || c2.Path() != c1.Path() {
		t.Errorf("second open: built %t, %s", built, c2.Path())
	}
	if n := decodes(); n != 0 || len(progress) != 0 {
		t.Errorf("second open: %d decodes, progress %v", n, progress)
	}
	want, _ := loadClasses(t, cc.entries, cc.s)
	counter.take()
	checkCache(t, c2, want, cc.s.Quantization)

	paths := map[string]string{c1.Path(): "original"}
	rebuilt := func(what string, entries []Entry, s audio.Settings, decoded int) *ClassCache {
		t.Helper()
		c, built := openCacheT(t, entries, s, opts)
		if !built {
			t.Errorf("%s: not built", what)
		}
		if n := decodes(); n != decoded {
			t.Errorf("%s: %d decodes, want %d", what, n, decoded)
		}
		if old, ok := paths[c.Path()]; ok {
			t.Errorf("%s: the same cache file as %s", what, old)
		}
		paths[c.Path()] = what
		// and reused the next time
		c2, built := openCacheT(t, entries, s, opts)
		if built || c2.Path() != c.Path() || decodes() != 0 {
			t.Errorf("%s: not reused", what)
		}
		return c
	}
	peak := cc.s
	peak.PeakLevel = 0.9
	rebuilt("peak level", cc.entries, peak, recordings)
	rebuilt("one entry dropped", cc.entries[1:], cc.s, recordings-1)
	rebuilt("one segment dropped", cc.entries[:len(cc.entries)-1], cc.s, recordings)

	// A file's modification time, then its contents.
	c1.Close()
	old, err := os.Stat(cc.wav["b.wav"])
	if err != nil {
		t.Fatal(err)
	}
	later := old.ModTime().Add(time.Hour)
	if err := os.Chtimes(cc.wav["b.wav"], later, later); err != nil {
		t.Fatal(err)
	}
	rebuilt("mtime of b.wav", cc.entries, cc.s, recordings)
	if err := os.Chtimes(cc.wav["r1"], later, later); err != nil {
		t.Fatal(err)
	}
	rebuilt("mtime of the Kaldi recording r1", cc.entries, cc.s, recordings)
	writeSynth(t, cc.wav["b.wav"], 2000, 8000, 99)
	if err := os.Chtimes(cc.wav["b.wav"], later, later); err != nil { // the size alone
		t.Fatal(err)
	}
	c := rebuilt("b.wav rewritten", cc.entries, cc.s, recordings)
	want, _ = loadClasses(t, cc.entries, cc.s)
	counter.take()
	checkCache(t, c, want, cc.s.Quantization)
	if c.Len(1) != 2000 {
		t.Errorf("b.wav: %d classes after the rewrite", c.Len(1))
	}
	files, _ := os.ReadDir(dir)
	if len(files) != len(paths) {
		t.Errorf("%d files in the cache directory, want %d", len(files), len(paths))
	}
}

// TestCacheDigest: the digest changes with everything that names an
// entry's classes, and with nothing else.
func TestCacheDigest(t *testing.T) {
	cc := makeCacheCorpus(t)
	base, err := CacheDigest(cc.entries, cc.s)
	if err != nil {
		t.Fatal(err)
	}
	if again, _ := CacheDigest(slices.Clone(cc.entries), cc.s); again != base || len(base) != 32 {
		t.Errorf("digest %q then %q", base, again)
	}
	same := slices.Clone(cc.entries)
	same[0].Speaker, same[0].Label, same[0].Split = "x", "y", "z" // not part of the classes
	if d, _ := CacheDigest(same, cc.s); d != base {
		t.Error("the digest depends on the speaker, label or split")
	}
	seen := map[string]string{base: "base"}
	check := func(what string, entries []Entry, s audio.Settings) {
		t.Helper()
		d, err := CacheDigest(entries, s)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if old, ok := seen[d]; ok {
			t.Errorf("%s: the same digest as %s", what, old)
		}
		seen[d] = what
	}
	edit := func(what string, f func(es []Entry)) {
		es := slices.Clone(cc.entries)
		f(es)
		check(what, es, cc.s)
	}
	pipe := slices.IndexFunc(cc.entries, Entry.Pipe)
	edit("key", func(es []Entry) { es[0].Key += "x" })
	edit("path", func(es []Entry) { es[0].Path = cc.wav["b.wav"] })
	edit("order", func(es []Entry) { es[0], es[1] = es[1], es[0] })
	edit("segment start", func(es []Entry) { es[5].Source.Start += 0.01 })
	edit("segment end", func(es []Entry) { es[5].Source.End = -1 })
	edit("channel", func(es []Entry) { es[5].Source.Channel = 1 })
	edit("command", func(es []Entry) { es[pipe].Source.Command += " " })
	check("no entries", nil, cc.s)
	for _, f := range []func(s *audio.Settings){
		func(s *audio.Settings) { s.Quantization = 1024 },
		func(s *audio.Settings) { s.Resample = false },
		func(s *audio.Settings) { s.RemoveDC = false },
		func(s *audio.Settings) { s.TrimDB = -40 },
		func(s *audio.Settings) { s.Normalize = audio.NormalizeRMS },
		func(s *audio.Settings) { s.Channel = 1 },
	} {
		s := cc.s
		f(&s)
		check(fmt.Sprintf("settings %+v", s), cc.entries, s)
	}

	// A missing file: an error naming it, from the digest and the cache.
	gone := slices.Clone(cc.entries)
	gone[0].Path = filepath.Join(t.TempDir(), "gone.wav")
	if _, err := CacheDigest(gone, cc.s); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
	dir := t.TempDir()
	_, _, err = OpenClassCache(context.Background(), gone, cc.s, CacheOptions{Dir: dir})
	if err == nil || !strings.Contains(err.Error(), gone[0].Path) || !strings.HasPrefix(err.Error(), "class cache: ") {
		t.Errorf("missing file: %v", err)
	}
	if _, _, err := OpenClassCache(context.Background(), cc.entries, cc.s, CacheOptions{}); err == nil || !strings.Contains(err.Error(), "no cache directory") {
		t.Errorf("no directory: %v", err)
	}
	bad := cc.s
	bad.Quantization = 1
	if _, _, err := OpenClassCache(context.Background(), cc.entries, bad, CacheOptions{Dir: dir}); err == nil || !strings.Contains(err.Error(), "quantization") {
		t.Errorf("bad settings: %v", err)
	}
	if files, _ := os.ReadDir(dir); len(files) != 0 {
		t.Errorf("%d files left", len(files))
	}
}

// cacheParts are the regions of a cache file.
type cacheParts struct{ head, data, index, js []byte }

func splitCache(tb testing.TB, b []byte) cacheParts {
	tb.Helper()
	if len(b) < cacheHeaderSize+cacheFooterSize {
		tb.Fatalf("%d bytes", len(b))
	}
	foot := b[len(b)-cacheFooterSize:]
	indexAt := int(binary.LittleEndian.Uint64(foot))
	jsAt := len(b) - cacheFooterSize - int(binary.LittleEndian.Uint64(foot[8:]))
	return cacheParts{
		head:  slices.Clone(b[:cacheHeaderSize]),
		data:  slices.Clone(b[cacheHeaderSize:indexAt]),
		index: slices.Clone(b[indexAt:jsAt]),
		js:    slices.Clone(b[jsAt : len(b)-cacheFooterSize]),
	}
}

// join is the file of the parts, with a footer that matches them.
func (p cacheParts) join() []byte {
	b := slices.Concat(p.head, p.data, p.index, p.js)
	b = binary.LittleEndian.AppendUint64(b, uint64(len(p.head)+len(p.data)))
	b = binary.LittleEndian.AppendUint64(b, uint64(len(p.js)))
	return append(b, cacheEndMagic...)
}

func (p cacheParts) setIndex(i int, off, n uint64) cacheParts {
	p.index = slices.Clone(p.index)
	binary.LittleEndian.PutUint64(p.index[16*i:], off)
	binary.LittleEndian.PutUint64(p.index[16*i+8:], n)
	return p
}

func (p cacheParts) entry(i int) (off, n uint64) {
	return binary.LittleEndian.Uint64(p.index[16*i:]), binary.LittleEndian.Uint64(p.index[16*i+8:])
}

// editJSON replaces the value of the description's field name.
func (p cacheParts) editJSON(tb testing.TB, name, value string) cacheParts {
	tb.Helper()
	key := `"` + name + `":`
	i := bytes.Index(p.js, []byte(key))
	if i < 0 {
		tb.Fatalf("no %s in %s", key, p.js)
	}
	i += len(key)
	j := i + bytes.IndexAny(p.js[i:], ",}")
	if p.js[i] == '[' {
		j = i + bytes.IndexByte(p.js[i:], ']') + 1
	}
	p.js = slices.Concat(p.js[:i], []byte(value), p.js[j:])
	return p
}

func (p cacheParts) jsonInt(tb testing.TB, name string) int64 {
	tb.Helper()
	key := `"` + name + `":`
	i := bytes.Index(p.js, []byte(key)) + len(key)
	j := i + bytes.IndexAny(p.js[i:], ",}")
	v, err := strconv.ParseInt(string(p.js[i:j]), 10, 64)
	if err != nil {
		tb.Fatalf("%s: %v", name, err)
	}
	return v
}

// cacheDamage is the ways TestClassCacheDamage and the fuzz seeds spoil a
// good cache file b (of at least 2 entries).
func cacheDamage(tb testing.TB, b []byte) map[string][]byte {
	tb.Helper()
	p := splitCache(tb, b)
	flip := func(at int) []byte {
		d := slices.Clone(b)
		d[at] ^= 0x20
		return d
	}
	foot := func(field int, v uint64) []byte {
		d := slices.Clone(b)
		binary.LittleEndian.PutUint64(d[len(d)-cacheFooterSize+8*field:], v)
		return d
	}
	indexAt := uint64(len(p.head) + len(p.data))
	entries := p.jsonInt(tb, "entries")
	samples := p.jsonInt(tb, "samples")
	off1, n1 := p.entry(1)
	// last is the entry whose classes end the data.
	var last int
	var offL uint64
	for i := range len(p.index) / 16 {
		if o, _ := p.entry(i); o > offL {
			last, offL = i, o
		}
	}
	_, nL := p.entry(last)
	q := p.jsonInt(tb, "quantization")
	return map[string][]byte{
		"empty":                   {},
		"header only":             b[:cacheHeaderSize],
		"40 bytes":                b[:cacheHeaderSize+cacheFooterSize],
		"truncated by 1":          b[:len(b)-1],
		"truncated to half":       b[:len(b)/2],
		"1 byte more":             append(slices.Clone(b), 0),
		"header magic":            flip(3),
		"footer magic":            flip(len(b) - 1),
		"index offset +1":         foot(0, indexAt+1),
		"index offset -1":         foot(0, indexAt-1),
		"index offset 0":          foot(0, 0),
		"index offset huge":       foot(0, 1<<63+indexAt),
		"json length +1":          foot(1, uint64(len(p.js))+1),
		"json length 0":           foot(1, 0),
		"json length huge":        foot(1, 1<<63+uint64(len(p.js))),
		"json length = size":      foot(1, uint64(len(b))),
		"entry past the data":     p.setIndex(1, indexAt+1, 0).join(),
		"entry in the header":     p.setIndex(1, 3, n1).join(),
		"entry runs past":         p.setIndex(last, offL+1, nL).join(),
		"entry count huge":        p.setIndex(1, off1, 1<<63+n1).join(),
		"entry count -1":          p.setIndex(1, off1, n1-1).join(),
		"entry offset huge":       p.setIndex(1, 1<<64-1, n1).join(),
		"index entry missing":     cacheParts{p.head, p.data, p.index[16:], p.js}.join(),
		"index entry extra":       cacheParts{p.head, p.data, slices.Concat(p.index, p.index[:16]), p.js}.join(),
		"json garbage":            cacheParts{p.head, p.data, p.index, []byte("{not json}")}.join(),
		"json array":              cacheParts{p.head, p.data, p.index, []byte("[]")}.join(),
		"json format 2":           p.editJSON(tb, "format", "2").join(),
		"json entries +1":         p.editJSON(tb, "entries", strconv.FormatInt(entries+1, 10)).join(),
		"json entries -1":         p.editJSON(tb, "entries", "-1").join(),
		"json entries overflow":   p.editJSON(tb, "entries", strconv.FormatUint(1<<60+uint64(entries), 10)).join(),
		"json entries overflow 2": p.editJSON(tb, "entries", strconv.FormatUint(1<<62+uint64(entries), 10)).join(),
		"json samples +1":         p.editJSON(tb, "samples", strconv.FormatInt(samples+1, 10)).join(),
		"json width":              p.editJSON(tb, "bytes_per_class", "3").join(),
		"json counts":             p.editJSON(tb, "class_counts", "[1,2]").join(),
		"json counts null":        p.editJSON(tb, "class_counts", "null").join(),
		"json quantization 1":     p.editJSON(tb, "quantization", "1").join(),
		"json quantization 2^17":  p.editJSON(tb, "quantization", "131072").join(),
		"json quantization +1":    p.editJSON(tb, "quantization", strconv.FormatInt(q+1, 10)).join(),
	}
}

// TestClassCacheDamage: a damaged file under the cache's name is built
// again, and OpenClassCacheFile refuses it naming it; a class outside
// the quantization is refused by Read.
func TestClassCacheDamage(t *testing.T) {
	cc := makeCacheCorpus(t)
	entries := cc.entries[:6] // no pipe: quicker
	dir := t.TempDir()
	opts := CacheOptions{Dir: dir, Threads: 1}
	want, _ := loadClasses(t, entries, cc.s)
	c, _ := openCacheT(t, entries, cc.s, opts)
	path := c.Path()
	c.Close()
	good, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// A file of a cache of other settings, and of fewer entries, under the
	// name: whole, but not this cache.
	other := cc.s
	other.PeakLevel = 0.5
	co, _ := openCacheT(t, entries, other, opts)
	foreign, _ := os.ReadFile(co.Path())
	cf, _ := openCacheT(t, entries[:3], cc.s, opts)
	fewer, _ := os.ReadFile(cf.Path())

	damage := cacheDamage(t, good)
	damage["other settings"] = foreign
	damage["fewer entries"] = fewer
	counter := countDecodes(t)
	for name, b := range damage {
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
		_, whole := map[string]bool{"other settings": true, "fewer entries": true}[name]
		func() {
			defer func() {
				if r := recover(); r != nil {
					t.Errorf("%s: OpenClassCacheFile panics: %v", name, r)
				}
			}()
			c, err := OpenClassCacheFile(path)
			if whole {
				if err != nil {
					t.Errorf("%s: %v", name, err)
				} else {
					c.Close()
				}
				return
			}
			if err == nil {
				c.Close()
				t.Errorf("%s: OpenClassCacheFile succeeds", name)
			} else if !strings.Contains(err.Error(), path) {
				t.Errorf("%s: error %q does not name the file", name, err)
			}
		}()
		func() {
			defer func() {
				if r := recover(); r != nil {
					t.Errorf("%s: OpenClassCache panics: %v", name, r)
				}
			}()
			c, built, err := OpenClassCache(context.Background(), entries, cc.s, opts)
			if err != nil {
				t.Errorf("%s: %v", name, err)
				return
			}
			defer c.Close()
			if !built || len(counter.take()) == 0 {
				t.Errorf("%s: not built again", name)
			}
			checkCache(t, c, want, cc.s.Quantization)
		}()
	}
	if files, _ := os.ReadDir(dir); len(files) != 3 {
		t.Errorf("%d files in the cache directory, want 3", len(files))
	}

	// A file that shrinks under an open cache: Read fails.
	c, _ = openCacheT(t, entries, cc.s, opts)
	if err := os.Truncate(path, 100); err != nil {
		t.Fatal(err)
	}
	last := len(entries) - 1
	if err := c.Read(last, 0, make([]int32, c.Len(last))); !errors.Is(err, io.ErrUnexpectedEOF) || !strings.Contains(err.Error(), path) {
		t.Errorf("truncated under the cache: %v", err)
	}
	c.Close()

	// A class outside the quantization: the file opens, and Read of a
	// window holding the class fails.
	for _, q := range []int{16, 1024} {
		s := cc.s
		s.Quantization = q
		want, _ := loadClasses(t, entries, s)
		c, _ := openCacheT(t, entries, s, opts)
		path := c.Path()
		c.Close()
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		p := splitCache(t, b)
		off, _ := p.entry(2)
		const at = 5
		if q < 256 {
			b[off+at] = 200
		} else {
			binary.LittleEndian.PutUint16(b[off+2*at:], uint16(q)) // the first class too many
		}
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
		c, built, err := OpenClassCache(context.Background(), entries, s, opts)
		if err != nil || built {
			t.Fatalf("Q=%d: built %t, %v", q, built, err)
		}
		defer c.Close()
		err = c.Read(2, 0, make([]int32, c.Len(2)))
		if err == nil || !strings.Contains(err.Error(), "damaged") || !strings.Contains(err.Error(), path) {
			t.Errorf("Q=%d: Read of a damaged entry: %v", q, err)
		}
		if err := c.Read(2, at, make([]int32, 1)); err == nil || !strings.Contains(err.Error(), "damaged") {
			t.Errorf("Q=%d: Read of the damaged class: %v", q, err)
		}
		for _, w := range [][2]int{{0, at}, {at + 1, c.Len(2)}} {
			dst := make([]int32, w[1]-w[0])
			if err := c.Read(2, w[0], dst); err != nil || !slices.Equal(dst, want[2][w[0]:w[1]]) {
				t.Errorf("Q=%d: Read of [%d, %d) around the damage: %v", q, w[0], w[1], err)
			}
		}
		for i := range entries {
			if i != 2 {
				if err := c.Read(i, 0, make([]int32, c.Len(i))); err != nil {
					t.Errorf("Q=%d: entry %d: %v", q, i, err)
				}
			}
		}
	}
}

// TestClassCacheFailure: a build that fails, or is cancelled, returns the
// error and leaves nothing in the cache directory, not even its
// temporary file; a cache already there stays.
func TestClassCacheFailure(t *testing.T) {
	cc := makeCacheCorpus(t)
	dir := t.TempDir()
	other := cc.s
	other.PeakLevel = 0.5
	kept, _ := openCacheT(t, cc.entries[:2], other, CacheOptions{Dir: dir})
	kept.Close()
	onlyKept := func(what string) {
		t.Helper()
		files, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		if len(files) != 1 || files[0].Name() != filepath.Base(kept.Path()) {
			var names []string
			for _, f := range files {
				names = append(names, f.Name())
			}
			t.Errorf("%s: the cache directory holds %q", what, names)
		}
	}
	fails := func(what string, ctx context.Context, entries []Entry, threads int, want ...string) error {
		t.Helper()
		c, built, err := OpenClassCache(ctx, entries, cc.s, CacheOptions{Dir: dir, Threads: threads, Progress: func(int, int, int64) {}})
		if err == nil {
			c.Close()
			t.Errorf("%s: built %t", what, built)
			return nil
		}
		for _, w := range want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q lacks %q", what, err, w)
			}
		}
		onlyKept(what)
		return err
	}

	// A failing command.
	pc := pipeDir(t, "false", "")
	withPipe := append(slices.Clone(cc.entries), pc.Entries...)
	for _, threads := range []int{1, 3} {
		fails(fmt.Sprintf("false |, %d threads", threads), context.Background(), withPipe, threads, ": utterance rec: false |: ", "the command failed")
	}

	// Cancelled: before the start, and after some entries are written.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := fails("cancelled", ctx, cc.entries, 2); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
	t.Cleanup(func() { testHookDecode = nil })
	for _, threads := range []int{1, 2} {
		ctx, cancel := context.WithCancel(context.Background())
		var n int
		var mu sync.Mutex
		testHookDecode = func(Entry) {
			mu.Lock()
			defer mu.Unlock()
			if n++; n == 4 {
				cancel()
			}
		}
		err := fails(fmt.Sprintf("cancelled at the 4th decode, %d threads", threads), ctx, cc.entries, threads)
		testHookDecode = nil
		cancel()
		if !errors.Is(err, context.Canceled) {
			t.Errorf("cancelled in the build: %v", err)
		}
	}

	// Files damaged after Open: a folder's file, then a Kaldi recording.
	for _, f := range []struct{ name, want string }{{"b.wav", cc.wav["b.wav"]}, {"r1", "utterance r1-a (recording r1, 0-0.3 s): " + cc.wav["r1"]}} {
		fd, err := os.OpenFile(cc.wav[f.name], os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := fd.WriteAt([]byte("JUNKJUNK"), 0); err != nil {
			t.Fatal(err)
		}
		fd.Close()
		for _, threads := range []int{1, 3} {
			fails(fmt.Sprintf("%s damaged, %d threads", f.name, threads), context.Background(), cc.entries, threads, f.want)
		}
		writeSynth(t, cc.wav[f.name], 3001, 8000, 1)
	}
}

// TestClassCacheProgress: Progress is told of the end, done equal to the
// total, with all the classes; it is not called when the cache is reused.
func TestClassCacheProgress(t *testing.T) {
	cc := makeCacheCorpus(t)
	type call struct {
		done, total int
		samples     int64
	}
	var mu sync.Mutex
	var calls []call
	opts := CacheOptions{Dir: t.TempDir(), Threads: 2, Progress: func(done, total int, samples int64) {
		mu.Lock()
		calls = append(calls, call{done, total, samples})
		mu.Unlock()
	}}
	c, _ := openCacheT(t, cc.entries, cc.s, opts)
	mu.Lock()
	if len(calls) == 0 || calls[len(calls)-1] != (call{len(cc.entries), len(cc.entries), c.Samples()}) {
		t.Errorf("progress %v, want a last call with %d of %d done, %d samples", calls, len(cc.entries), len(cc.entries), c.Samples())
	}
	for i, p := range calls {
		if p.total != len(cc.entries) || p.done > p.total || i > 0 && (p.done < calls[i-1].done || p.samples < calls[i-1].samples) {
			t.Errorf("progress %v", calls)
		}
	}
	calls = nil
	mu.Unlock()
	openCacheT(t, cc.entries, cc.s, opts)
	if len(calls) != 0 {
		t.Errorf("progress when reused: %v", calls)
	}

	// No entries: an empty cache, and an end of 0 of 0.
	c, built := openCacheT(t, nil, cc.s, opts)
	if !built || c.Files() != 0 || c.Samples() != 0 || len(c.ClassCounts()) != cc.s.Quantization || len(calls) != 1 || calls[0] != (call{}) {
		t.Errorf("no entries: built %t, %d files, %d samples, progress %v", built, c.Files(), c.Samples(), calls)
	}
}

// fuzzCacheSeeds are small cache files (1 and 2 bytes a class, none
// empty) and damaged copies.
func fuzzCacheSeeds(f *testing.F) [][]byte {
	dir := f.TempDir()
	for i, n := range []int{40, 25, 3} {
		writeSynth(f, filepath.Join(dir, "audio", fmt.Sprintf("f%d.wav", i)), n, 8000, uint64(i))
	}
	c, err := Open(filepath.Join(dir, "audio"))
	if err != nil {
		f.Fatal(err)
	}
	var seeds [][]byte
	for _, q := range []int{16, 1024} {
		s := audio.DefaultSettings()
		s.Quantization = q
		cache, _, err := OpenClassCache(context.Background(), c.Entries, s, CacheOptions{Dir: filepath.Join(dir, "cache"), Threads: 1})
		if err != nil {
			f.Fatal(err)
		}
		cache.Close()
		b, err := os.ReadFile(cache.Path())
		if err != nil {
			f.Fatal(err)
		}
		seeds = append(seeds, b)
		if q == 16 {
			d := cacheDamage(f, b)
			for _, k := range slices.Sorted(maps.Keys(d)) {
				seeds = append(seeds, d[k])
			}
			p := splitCache(f, b)
			off, _ := p.entry(0)
			b = slices.Clone(b)
			b[off] = 200
			seeds = append(seeds, b)
		}
	}
	return seeds
}

// FuzzOpenClassCacheFile: any bytes open as a cache or give an error
// naming the file, never a panic; an opened cache reads every entry, or
// says it is damaged.
func FuzzOpenClassCacheFile(f *testing.F) {
	for _, b := range fuzzCacheSeeds(f) {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		path := filepath.Join(t.TempDir(), "c.nsc")
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
		c, err := OpenClassCacheFile(path)
		if err != nil {
			if !strings.Contains(err.Error(), path) {
				t.Fatalf("error %q does not name the file", err)
			}
			return
		}
		defer c.Close()
		q := len(c.ClassCounts())
		if q < 2 || q > 1<<16 {
			t.Fatalf("%d classes", q)
		}
		var total int64
		for i := range c.Files() {
			n := c.Len(i)
			if n < 0 || n > len(b) {
				t.Fatalf("entry %d: %d classes in %d bytes", i, n, len(b))
			}
			total += int64(n)
			dst := make([]int32, n)
			if err := c.Read(i, 0, dst); err != nil {
				if !strings.Contains(err.Error(), "damaged") {
					t.Fatalf("entry %d: %v", i, err)
				}
			} else if slices.ContainsFunc(dst, func(v int32) bool { return v < 0 || int(v) >= q }) {
				t.Fatalf("entry %d: a class outside %d", i, q)
			}
			if err := c.Read(i, n/2, dst[:n-n/2]); err != nil && !strings.Contains(err.Error(), "damaged") {
				t.Fatalf("entry %d, second half: %v", i, err)
			}
			if err := c.Read(i, 1, dst); err == nil {
				t.Fatalf("entry %d: a read past its end succeeds", i)
			}
		}
		if total != c.Samples() {
			t.Fatalf("%d classes in the entries, %d in all", total, c.Samples())
		}
		if c.Read(c.Files(), 0, nil) == nil || c.Read(-1, 0, nil) == nil {
			t.Fatal("a read of an entry that is not there succeeds")
		}
	})
}
