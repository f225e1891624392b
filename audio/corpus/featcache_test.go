package corpus

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/nextsample/nextsample/audio"
)

// frameSums is a FeatureComputer of 2 dims per 100-sample frame (hop 50):
// the frame's sum and its first sample.
type frameSums struct{}

func (frameSums) Compute(dst, x []float32) ([]float32, int, error) {
	n := 0
	for k := 0; k*50+100 <= len(x); k++ {
		var s float32
		for _, v := range x[k*50 : k*50+100] {
			s += v
		}
		dst = append(dst, s, x[k*50])
		n++
	}
	return dst, n, nil
}

func frameSumsRecipe() FeatureRecipe {
	return FeatureRecipe{Key: "frame sums", Dims: 2, NewComputer: func() (FeatureComputer, error) { return frameSums{}, nil }}
}

// The feature cache holds each entry's features channel by channel, the
// same for any thread count, and is reused when the entries, settings and
// key are the same.
func TestFeatureCacheContents(t *testing.T) {
	cc := makeCacheCorpus(t)
	var mu sync.Mutex
	want := make([][]float32, len(cc.entries))
	if err := Each(context.Background(), cc.entries, cc.s, 2, func(i int, x []float32, _ audio.Report) {
		f, n, _ := frameSums{}.Compute(nil, x)
		cm := make([]float32, len(f))
		for k := range n {
			cm[k], cm[n+k] = f[2*k], f[2*k+1]
		}
		mu.Lock()
		want[i] = cm
		mu.Unlock()
	}); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "cache")
	for _, threads := range []int{1, 3, 2} {
		c, built, err := OpenFeatureCache(context.Background(), cc.entries, cc.s, frameSumsRecipe(), CacheOptions{Dir: dir, Threads: threads})
		if err != nil {
			t.Fatal(err)
		}
		if built != (threads != 3) {
			t.Errorf("%d threads: built %v", threads, built)
		}
		if c.Files() != len(want) || c.Dims() != 2 {
			t.Fatalf("%d files of %d dims", c.Files(), c.Dims())
		}
		for i, w := range want {
			got := make([]float32, 2*c.Frames(i))
			if err := c.ReadFeatures(i, got); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, w) {
				t.Errorf("%d threads: entry %d: %d values, want %d", threads, i, len(got), len(w))
			}
		}
		c.Close()
		if threads == 3 { // another thread count builds the same file
			if err := os.Remove(c.Path()); err != nil {
				t.Fatal(err)
			}
		}
	}
	other := frameSumsRecipe()
	other.Key = "other"
	c, built, err := OpenFeatureCache(context.Background(), cc.entries, cc.s, other, CacheOptions{Dir: dir})
	if err != nil || !built {
		t.Fatalf("another key: built %v, %v", built, err)
	}
	c.Close()
}

// A damaged feature cache is built again; a value that is not finite is
// refused when read.
func TestFeatureCacheDamage(t *testing.T) {
	cc := makeCacheCorpus(t)
	dir := t.TempDir()
	open := func() (*FeatureCache, bool) {
		c, built, err := OpenFeatureCache(context.Background(), cc.entries, cc.s, frameSumsRecipe(), CacheOptions{Dir: dir, Threads: 2})
		if err != nil {
			t.Fatal(err)
		}
		return c, built
	}
	c, _ := open()
	path := c.Path()
	c.Close()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b[:len(b)-3], 0o644); err != nil { // a torn footer
		t.Fatal(err)
	}
	c, built := open()
	if !built {
		t.Error("a damaged cache was reused")
	}
	c.Close()
	b, _ = os.ReadFile(path)
	copy(b[cacheHeaderSize:], []byte{0, 0, 0xc0, 0x7f}) // a NaN as the first value of the data
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	c, _ = open()
	defer c.Close()
	for i := range c.Files() {
		dst := make([]float32, c.Dims()*c.Frames(i))
		if c.off[i] == cacheHeaderSize && len(dst) > 0 {
			if err := c.ReadFeatures(i, dst); err == nil || !strings.Contains(err.Error(), "damaged") {
				t.Errorf("entry %d with a NaN: %v", i, err)
			}
			return
		}
	}
	t.Fatal("no entry at the start of the data")
}

// OpenCaches builds both caches in one pass, as each alone would, and
// reuses them (or builds only the missing one) afterwards.
func TestOpenCachesOnePass(t *testing.T) {
	cc := makeCacheCorpus(t)
	want, _ := loadClasses(t, cc.entries, cc.s)
	alone := filepath.Join(t.TempDir(), "alone")
	fa, _, err := OpenFeatureCache(context.Background(), cc.entries, cc.s, frameSumsRecipe(), CacheOptions{Dir: alone, Threads: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer fa.Close()
	dir := filepath.Join(t.TempDir(), "both")
	for _, wantBuilt := range [][2]bool{{true, true}, {false, false}, {true, false}} {
		if !wantBuilt[1] && wantBuilt[0] { // the class cache deleted: only it is built
			m, _ := filepath.Glob(filepath.Join(dir, "classes-*"))
			for _, p := range m {
				os.Remove(p)
			}
		}
		c, f, built, err := OpenCaches(context.Background(), cc.entries, cc.s, frameSumsRecipe(), CacheOptions{Dir: dir, Threads: 3})
		if err != nil {
			t.Fatal(err)
		}
		if built != wantBuilt {
			t.Errorf("built %v, want %v", built, wantBuilt)
		}
		checkCache(t, c, want, cc.s.Quantization)
		for i := range f.Files() {
			a, b := make([]float32, 2*f.Frames(i)), make([]float32, 2*fa.Frames(i))
			if err := f.ReadFeatures(i, a); err != nil {
				t.Fatal(err)
			}
			if err := fa.ReadFeatures(i, b); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(a, b) {
				t.Errorf("entry %d: the one-pass features differ", i)
			}
		}
		c.Close()
		f.Close()
	}
}

// FuzzReadFeatureIndex: any bytes in a feature cache's place are refused
// with an error naming the file, or read as a cache whose every entry's
// features fit in the file and read without a panic. The seed is a real
// cache; the container checks are the class cache's (container.read).
func FuzzReadFeatureIndex(f *testing.F) {
	dir := f.TempDir()
	for i, n := range []int{400, 250, 30} {
		writeSynth(f, filepath.Join(dir, "audio", fmt.Sprintf("f%d.wav", i)), n, 8000, uint64(i))
	}
	corp, err := Open(filepath.Join(dir, "audio"))
	if err != nil {
		f.Fatal(err)
	}
	c, _, err := OpenFeatureCache(context.Background(), corp.Entries, audio.DefaultSettings(), frameSumsRecipe(), CacheOptions{Dir: filepath.Join(dir, "cache"), Threads: 1})
	if err != nil {
		f.Fatal(err)
	}
	real, err := os.ReadFile(c.Path())
	c.Close()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(real)
	f.Add(real[:len(real)-1])
	f.Add([]byte("NSFEAT01"))
	f.Fuzz(func(t *testing.T, b []byte) {
		path := filepath.Join(t.TempDir(), "f.nsf")
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
		fh, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		defer fh.Close()
		c, err := readFeatureIndex(fh, path)
		if err != nil {
			if !strings.Contains(err.Error(), path) {
				t.Fatalf("error %q does not name the file", err)
			}
			return
		}
		for i := range c.Files() {
			n := c.Frames(i) * c.Dims()
			if n < 0 || 4*n > len(b) {
				t.Fatalf("entry %d: %d values in %d bytes", i, n, len(b))
			}
			_ = c.ReadFeatures(i, make([]float32, n)) // damaged values are an error, not a panic
		}
	})
}
