// Package corpus indexes a speech dataset: a directory of WAV files or a
// manifest CSV that lists them. Indexing reads only the WAV headers, so a
// corpus of thousands of files opens in a fraction of a second; the audio
// is decoded later, all cores at once, by LoadClasses or LoadSamples.
//
// A manifest is a CSV file with a header row. Its "path" column is
// required and holds WAV paths relative to the manifest's directory (or
// absolute); the optional "speaker", "label" and "split" columns fill the
// fields of the same names, and any other column is kept in Entry.Extra.
// This is the format of the FSDD manifest:
//
//	path,speaker,label,split
//	recordings/0_george_0.wav,george,0,test
//
// Every entry has a Key, a stable utterance id made from its path (see
// KeyFor), and a split. Files without a split (a directory, a manifest
// without the column, or an empty cell) are assigned one by a hash of
// their key (see AssignSplit), so adding files never moves others.
package corpus

import (
	"encoding/csv"
	"fmt"
	"hash/fnv"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"unicode"

	"github.com/nextsample/nextsample/audio"
)

// Split names used when the corpus does not say.
const (
	Train      = "train"
	Validation = "validation"
)

// ValidationPercent is the share of files AssignSplit puts in Validation.
const ValidationPercent = 10

// An Entry is one WAV file of a corpus.
type Entry struct {
	Key     string            // utterance id, unique in the corpus (see KeyFor)
	Path    string            // where the file is, usable with os.Open
	Speaker string            // from the manifest, or ""
	Label   string            // from the manifest, or ""
	Split   string            // from the manifest, or assigned by AssignSplit
	Extra   map[string]string // the manifest's other columns; nil when none
	Info    audio.Info        // the file's header
}

// A Corpus is an indexed dataset, its entries sorted by key.
type Corpus struct {
	Source   string  // the directory or manifest given to Open
	Root     string  // the directory keys are relative to
	Entries  []Entry // sorted by Key
	Assigned int     // how many entries got their split from AssignSplit
}

// Open indexes a directory (every *.wav below it, in any letter case,
// skipping names that start with a dot) or a manifest CSV file. Every
// listed file must exist and have a valid WAV header; otherwise Open
// fails and says which files are bad, rather than leaving them out.
func Open(path string) (*Corpus, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	c := &Corpus{Source: path}
	if fi.IsDir() {
		c.Root = path
		c.Entries, err = scanDir(path)
		if err == nil && len(c.Entries) == 0 {
			err = fmt.Errorf("%s: no .wav files in this directory", path)
		}
	} else {
		c.Root = filepath.Dir(path)
		c.Entries, err = readManifest(path)
		if err == nil && len(c.Entries) == 0 {
			err = fmt.Errorf("%s: the manifest lists no files", path)
		}
	}
	if err != nil {
		return nil, err
	}
	slices.SortFunc(c.Entries, func(a, b Entry) int { return strings.Compare(a.Key, b.Key) })
	for i := 1; i < len(c.Entries); i++ {
		if a, b := c.Entries[i-1], c.Entries[i]; a.Key == b.Key {
			return nil, fmt.Errorf("%s: %s and %s have the same key %q", path, a.Path, b.Path, a.Key)
		}
	}
	for i := range c.Entries {
		if c.Entries[i].Split == "" {
			c.Entries[i].Split = AssignSplit(c.Entries[i].Key)
			c.Assigned++
		}
	}
	if err := readInfos(c.Entries); err != nil {
		return nil, err
	}
	return c, nil
}

// KeyFor makes the utterance key of a file from its path relative to the
// corpus root: slash-separated, without a .wav extension, every
// whitespace character replaced by "_" (Kaldi ids cannot hold spaces). So
// "recordings/0_george_0.wav" has the key "recordings/0_george_0".
func KeyFor(rel string) string {
	k := filepath.ToSlash(filepath.Clean(rel))
	if ext := filepath.Ext(k); strings.EqualFold(ext, ".wav") {
		k = k[:len(k)-len(ext)]
	}
	k = strings.TrimLeft(k, "/")
	return strings.Map(func(r rune) rune {
		if unicode.IsSpace(r) {
			return '_'
		}
		return r
	}, k)
}

// AssignSplit is the split of a file whose corpus gives none: Validation
// for ValidationPercent of the keys, chosen by their FNV-1a hash, Train
// for the rest. It depends on the key alone, so a file keeps its split
// when others are added or removed.
func AssignSplit(key string) string {
	h := fnv.New64a()
	io.WriteString(h, key)
	if h.Sum64()%100 < ValidationPercent {
		return Validation
	}
	return Train
}

func scanDir(root string) ([]Entry, error) {
	walkRoot, err := filepath.EvalSymlinks(root) // WalkDir does not follow a symlinked root
	if err != nil {
		return nil, err
	}
	var entries []Entry
	err = filepath.WalkDir(walkRoot, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if p != walkRoot && strings.HasPrefix(name, ".") {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if d.IsDir() || !strings.EqualFold(filepath.Ext(name), ".wav") {
			return nil
		}
		rel, err := filepath.Rel(walkRoot, p)
		if err != nil {
			return err
		}
		entries = append(entries, Entry{Key: KeyFor(rel), Path: filepath.Join(root, rel)})
		return nil
	})
	return entries, err
}

func readManifest(path string) ([]Entry, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return parseManifest(f, path)
}

// parseManifest reads the manifest CSV at path from r; relative paths in
// it are resolved against path's directory.
func parseManifest(r io.Reader, path string) ([]Entry, error) {
	cr := csv.NewReader(r)
	cr.TrimLeadingSpace = true
	header, err := cr.Read()
	if err == io.EOF {
		return nil, fmt.Errorf("%s: empty manifest, want a header row with a path column", path)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	col := map[string]int{}
	for i, h := range header {
		h = strings.TrimSpace(strings.TrimPrefix(h, "\ufeff"))
		header[i] = h
		if _, dup := col[h]; dup {
			return nil, fmt.Errorf("%s: column %q appears twice in the header", path, h)
		}
		col[h] = i
	}
	pathCol, ok := col["path"]
	if !ok {
		return nil, fmt.Errorf("%s: no path column in the header %q", path, strings.Join(header, ","))
	}
	known := map[string]bool{"path": true, "speaker": true, "label": true, "split": true}
	dir := filepath.Dir(path)
	var entries []Entry
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err) // csv errors carry the line
		}
		line, _ := cr.FieldPos(0)
		p := strings.TrimSpace(rec[pathCol])
		if p == "" {
			return nil, fmt.Errorf("%s:%d: empty path", path, line)
		}
		e := Entry{Key: KeyFor(p), Path: p}
		if e.Key == "" {
			return nil, fmt.Errorf("%s:%d: path %q makes an empty utterance key", path, line, p)
		}
		if !filepath.IsAbs(p) {
			e.Path = filepath.Join(dir, p)
		}
		get := func(name string) string {
			if i, ok := col[name]; ok {
				return strings.TrimSpace(rec[i])
			}
			return ""
		}
		e.Speaker, e.Label, e.Split = get("speaker"), get("label"), get("split")
		for i, h := range header {
			if !known[h] {
				if e.Extra == nil {
					e.Extra = map[string]string{}
				}
				e.Extra[h] = rec[i]
			}
		}
		entries = append(entries, e)
	}
	return entries, nil
}

// readInfos reads every header, in parallel. All bad files are counted;
// the first (by key) is shown.
func readInfos(entries []Entry) error {
	errs := make([]error, len(entries))
	forEach(len(entries), defaultThreads(), func(i int) {
		entries[i].Info, errs[i] = audio.ReadInfo(entries[i].Path)
	})
	return firstErrors(errs)
}

// firstErrors is nil if every error is, and otherwise the first error
// with a count of the others.
func firstErrors(errs []error) error {
	var first error
	n := 0
	for _, err := range errs {
		if err != nil {
			if first == nil {
				first = err
			}
			n++
		}
	}
	if n > 1 {
		return fmt.Errorf("%w (and %d more bad files)", first, n-1)
	}
	return first
}

func defaultThreads() int { return runtime.GOMAXPROCS(0) }

// forEach calls fn(0..n-1) on up to threads goroutines.
func forEach(n, threads int, fn func(i int)) {
	threads = max(1, min(threads, n))
	var next sync.Mutex
	i := 0
	var wg sync.WaitGroup
	for range threads {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				next.Lock()
				k := i
				i++
				next.Unlock()
				if k >= n {
					return
				}
				fn(k)
			}
		}()
	}
	wg.Wait()
}

// Split returns the entries of the named split, in key order.
func (c *Corpus) Split(name string) []Entry {
	var out []Entry
	for _, e := range c.Entries {
		if e.Split == name {
			out = append(out, e)
		}
	}
	return out
}

// Splits counts the entries of each split.
func (c *Corpus) Splits() map[string]int {
	n := map[string]int{}
	for _, e := range c.Entries {
		n[e.Split]++
	}
	return n
}

// Check reports the first entry that Settings.Apply would refuse from its
// header alone: a sample rate other than the settings' (unless they
// resample) or a missing channel. Checking before loading makes a
// mismatched corpus fail in milliseconds, not after decoding half of it.
func Check(entries []Entry, s audio.Settings) error {
	errs := make([]error, len(entries))
	for i, e := range entries {
		switch {
		case e.Info.SampleRate != s.SampleRate && !s.Resample:
			errs[i] = fmt.Errorf("%s: sample rate is %d Hz but the model's is %d Hz (resampling is off; enable it with --resample)", e.Path, e.Info.SampleRate, s.SampleRate)
		case s.Channel > e.Info.Channels:
			errs[i] = fmt.Errorf("%s: channel %d requested, but the file has %d", e.Path, s.Channel, e.Info.Channels)
		}
	}
	return firstErrors(errs)
}
