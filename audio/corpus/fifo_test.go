//go:build unix

package corpus

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/nextsample/nextsample/audio"
	"github.com/nextsample/nextsample/audio/regular/regulartest"
)

// TestOpenRefusesFIFO: Open refuses, naming it and without waiting for a
// writer, a named pipe given as the manifest, listed in a manifest or a
// wav.scp, found in a folder, or in the place of one of a Kaldi data
// directory's files.
func TestOpenRefusesFIFO(t *testing.T) {
	root := t.TempDir()
	good := filepath.Join(root, "good.wav")
	writeWAV(t, good, 800, 8000)
	fifo := regulartest.FIFO(t, root, "ff.wav")
	open := func(path string) func() error {
		return func() error { _, err := Open(path); return err }
	}

	t.Run("manifest", func(t *testing.T) {
		m := regulartest.FIFO(t, t.TempDir(), "m.csv")
		regulartest.Refuses(t, m, open(m))
	})
	t.Run("manifest entry", func(t *testing.T) {
		m := filepath.Join(t.TempDir(), "m.csv")
		writeText(t, m, "path,speaker,label,split\n"+good+",a,0,train\n"+fifo+",a,0,train\n")
		regulartest.Refuses(t, fifo, open(m))
	})
	t.Run("folder entry", func(t *testing.T) {
		dir := t.TempDir()
		writeWAV(t, filepath.Join(dir, "a.wav"), 800, 8000)
		f := regulartest.FIFO(t, dir, "sub/b.wav")
		regulartest.Refuses(t, f, open(dir))
	})
	t.Run("wav.scp entry", func(t *testing.T) {
		dir := t.TempDir()
		writeText(t, filepath.Join(dir, WavScp), "r1 "+good+"\nr2 "+fifo+"\n")
		err := regulartest.Refuses(t, fifo, open(dir))
		if want := filepath.Join(dir, WavScp) + ":2: recording r2: " + fifo + ": is a named pipe (FIFO), not a regular file"; err == nil || err.Error() != want {
			t.Errorf("got %v, want %q", err, want)
		}
	})
	for _, name := range []string{WavScp, Segments, Utt2Spk, Text} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			if name != WavScp {
				writeText(t, filepath.Join(dir, WavScp), "r1 "+good+"\n")
			}
			f := regulartest.FIFO(t, dir, name)
			regulartest.Refuses(t, f, open(dir))
		})
	}
	// A wav.scp command is a stream by design: it is not opened at all
	// while indexing.
	t.Run("wav.scp command", func(t *testing.T) {
		dir := t.TempDir()
		writeText(t, filepath.Join(dir, WavScp), "r1 cat "+quote(fifo)+" |\n")
		if _, err := Open(dir); err != nil {
			t.Errorf("a command reading a FIFO: %v", err)
		}
	})
}

// TestClassCacheFIFO: a named pipe in the place of a class cache file is
// refused by OpenClassCacheFile and, like a damaged file, replaced by a
// fresh build in OpenClassCache, which does not wait on it.
func TestClassCacheFIFO(t *testing.T) {
	fifo := regulartest.FIFO(t, t.TempDir(), "c.nsc")
	regulartest.Refuses(t, fifo, func() error { _, err := OpenClassCacheFile(fifo); return err })

	root := t.TempDir()
	writeWAV(t, filepath.Join(root, "a.wav"), 800, 8000)
	c, err := Open(root)
	if err != nil {
		t.Fatal(err)
	}
	s := audio.DefaultSettings()
	digest, err := CacheDigest(c.Entries, s)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	path := regulartest.FIFO(t, dir, "classes-"+digest+".nsc")
	var cc *ClassCache
	regulartest.Within(t, regulartest.Timeout, func() {
		cc, _, err = OpenClassCache(context.Background(), c.Entries, s, CacheOptions{Dir: dir, Threads: 1})
	}, path)
	if err != nil {
		t.Fatal(err)
	}
	if cc != nil {
		cc.Close()
	}
	if fi, err := os.Stat(path); err != nil || !fi.Mode().IsRegular() {
		t.Errorf("%s: %v, %v: want the FIFO replaced by the cache", path, fi, err)
	}
}
