// Package corpus indexes a speech dataset: a directory of WAV files, a
// manifest CSV that lists them, or a Kaldi data directory. Indexing reads
// only the file headers, so a corpus of hundreds of thousands of
// utterances opens in seconds; the audio is decoded later, all cores at
// once, by LoadClasses, LoadSamples, Each or a Loader.
//
// # Manifests
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
// Every entry of a directory or manifest has a Key, a stable utterance id
// made from its path (see KeyFor), and a split. Files without a split (a
// directory, a manifest without the column, or an empty cell) are
// assigned one by a hash of their key (see AssignSplit), so adding files
// never moves others.
//
// # Kaldi data directories
//
// A directory that holds a file named wav.scp is read as a Kaldi (or
// ESPnet) data directory, not scanned for WAV files. For example:
//
//	data/train/wav.scp       rec1 /corpora/rec1.wav
//	                         rec2 flac -c -d -s /corpora/rec2.flac |
//	data/train/segments      rec1-a rec1 0.00 2.50
//	                         rec1-b rec1 2.50 -1
//	                         rec2-a rec2 1.20 4.75
//	data/train/utt2spk       rec1-a alice
//	                         rec1-b alice
//	                         rec2-a bob
//	data/train/text          rec1-a HELLO WORLD
//
// gives the utterances rec1-a, rec1-b and rec2-a, with speakers alice and
// bob and the label "HELLO WORLD" for rec1-a. Keys are the utterance ids
// as written, so the feats.scp that nextsample features writes joins the
// directory's other files. The subset of Kaldi that is read:
//
//   - wav.scp (required): "recording-id extended-filename" lines. The
//     extended filename is a file path, or a command that ends in "|"
//     and writes the audio to its standard output ("sph2pipe -f wav
//     x.wv1 |", "sox x.wav -t wav - |"); files and command outputs are
//     decoded by package audio, which tells the formats it reads apart by
//     their first bytes. Relative paths are taken from the
//     current directory, as Kaldi takes them, not from the data directory.
//     Commands are run with sh -c in the current directory, as Kaldi's
//     popen runs them, each in its own process group, which is killed
//     when loading is cancelled; a command that fails is an error that
//     gives its exit status and the last lines of its standard error.
//     Refused, with the line named: "-" (standard input), archive offsets
//     ("file.ark:1234"), rspecifiers ("ark:...") and output pipes ("| cmd").
//   - segments (optional): "utterance-id recording-id start end
//     [channel]" lines, times in seconds, for recordings of wav.scp
//     (recordings no segment uses are not read). An utterance is the samples
//     int(start·rate) up to int(end·rate) of its recording, truncated, as
//     Kaldi's extract-segments cuts them; an end of -1 means the end of
//     the recording; an end beyond the recording by less than
//     MaxOvershoot (0.5 s) is clipped to it, by more it is an error; so
//     are a start at or beyond the end, a negative start, and a start not
//     before the end. The optional channel counts from 0, as in Kaldi;
//     without it the settings' channel choice applies (Kaldi instead
//     requires the field for multi-channel audio). Unlike extract-segments,
//     segments under its --min-segment-length (0.1 s) are kept, and a bad
//     line is an error rather than a warning. Without a segments file
//     each recording is one utterance whose key is the recording id.
//   - utt2spk and text (optional): "utterance-id speaker-id" and
//     "utterance-id transcript" lines fill Entry.Speaker and Entry.Label
//     (the transcript is the rest of the line, trimmed). A line for an
//     utterance that does not exist is an error; utterances without a line
//     keep "" there. spk2utt and all other files are ignored.
//
// Blank lines are skipped, duplicate ids are errors, and every error
// names the file and line. A data directory is one split: Entry.Split is
// the directory's base name ("train_clean_100"), and no entry is given a
// split by AssignSplit, since Kaldi corpora are split by directory
// (data/train, data/dev).
//
// Open reads the headers of the recordings that are files, in parallel,
// and cuts the segments' sample counts from them, so a segment that lies
// outside its recording fails Open. Commands are not run by Open: they
// may be costly (a whole FLAC decode each), so an utterance of a pipe
// recording has a zero Info (its sample rate is 0, unknown) and is only
// checked when its audio is decoded.
//
// The loaders decode a recording once for all the utterances cut from
// it, and treat each cut exactly as a WAV file holding the same samples:
// the settings (resampling, normalization, trimming) apply per utterance,
// after cutting.
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
	"github.com/nextsample/nextsample/audio/regular"
)

// Split names used when the corpus does not say.
const (
	Train      = "train"
	Validation = "validation"
)

// ValidationPercent is the share of files AssignSplit puts in Validation.
const ValidationPercent = 10

// An Entry is one utterance of a corpus: a WAV file of a directory or a
// manifest, or an utterance of a Kaldi data directory, which may be a
// segment of a recording and may come from a command (see Source).
type Entry struct {
	Key     string            // utterance id, unique in the corpus (see KeyFor; a Kaldi utterance id as is)
	Path    string            // where the file is, usable with os.Open; "" for a Kaldi pipe recording
	Speaker string            // from the manifest or utt2spk, or ""
	Label   string            // from the manifest or text, or ""
	Split   string            // from the manifest, assigned by AssignSplit, or a Kaldi directory's base name
	Extra   map[string]string // the manifest's other columns; nil when none
	// Info is the file's header; for a segment, the recording's header
	// with Frames the segment's length. It is the zero Info (SampleRate
	// 0) for an utterance of a pipe recording, whose header is not known
	// until the command runs.
	Info   audio.Info
	Source Source // where a Kaldi utterance is in its recording; the zero Source otherwise
}

// Name is how messages name the entry: its Path, or for an utterance of
// a Kaldi data directory "DIR: utterance ID", followed by its recording
// and segment times when it is cut from one.
func (e Entry) Name() string {
	src := e.Source
	switch {
	case src.Recording == "":
		return e.Path
	case !src.Segment:
		return fmt.Sprintf("%s: utterance %s", src.Dir, e.Key)
	case src.End == -1:
		return fmt.Sprintf("%s: utterance %s (recording %s from %g s to the end)", src.Dir, e.Key, src.Recording, src.Start)
	}
	return fmt.Sprintf("%s: utterance %s (recording %s, %g-%g s)", src.Dir, e.Key, src.Recording, src.Start, src.End)
}

// Pipe reports whether the entry's audio comes from a wav.scp command,
// which is not run until the audio is loaded (Info is then unknown).
func (e Entry) Pipe() bool { return e.Source.Command != "" }

// Seconds is the utterance's duration as far as it is known before
// decoding: from Info, or for a pipe recording from the segment's times
// (0 when the segment runs to the end, or there is no segment).
func (e Entry) Seconds() float64 {
	if e.Info.SampleRate > 0 {
		return e.Info.Seconds()
	}
	if e.Source.Segment && e.Source.End > 0 {
		return e.Source.End - e.Source.Start
	}
	return 0
}

// channel is the channel to decode for the entry under settings s: the
// segments line's, or the settings'.
func (e Entry) channel(s audio.Settings) int {
	if e.Source.Channel > 0 {
		return e.Source.Channel
	}
	return s.Channel
}

// A Corpus is an indexed dataset, its entries sorted by key.
type Corpus struct {
	Source   string  // the directory or manifest given to Open
	Root     string  // the directory keys are relative to
	Entries  []Entry // sorted by Key
	Assigned int     // how many entries got their split from AssignSplit
	Kaldi    bool    // Source is a Kaldi data directory
}

// Open indexes a Kaldi data directory (a directory holding wav.scp; see
// the package doc), any other directory (every *.wav, *.flac and *.sph below it, in any
// letter case, skipping names that start with a dot) or a manifest CSV
// file. Every listed file must exist and have a valid header; otherwise
// Open fails and says which files are bad, rather than leaving them out.
func Open(path string) (*Corpus, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if fi.IsDir() {
		kaldi, err := isKaldiDir(path)
		if err != nil {
			return nil, err
		}
		if kaldi {
			return openKaldi(path)
		}
	}
	c := &Corpus{Source: path}
	if fi.IsDir() {
		c.Root = path
		c.Entries, err = scanDir(path)
		if err == nil && len(c.Entries) == 0 {
			err = fmt.Errorf("%s: no .wav, .flac or .sph files in this directory", path)
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
	sortByKey(c.Entries)
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
// corpus root: slash-separated, without its audio extension (.wav, .flac, .sph), every
// whitespace character replaced by "_" (Kaldi ids cannot hold spaces). So
// "recordings/0_george_0.wav" has the key "recordings/0_george_0".
func KeyFor(rel string) string {
	k := filepath.ToSlash(filepath.Clean(rel))
	if ext := filepath.Ext(k); isAudioExt(ext) {
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
		if d.IsDir() || !isAudioExt(filepath.Ext(name)) {
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

// readManifest reads the manifest CSV at path, which must be a regular
// file: a named pipe or a device is refused without blocking.
func readManifest(path string) ([]Entry, error) {
	f, err := regular.Open(path)
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

// sortByKey sorts entries by Key. Entries are large, so an unsorted
// slice is sorted through a permutation, each entry moved once.
func sortByKey(entries []Entry) {
	cmp := func(a, b Entry) int { return strings.Compare(a.Key, b.Key) }
	if slices.IsSortedFunc(entries, cmp) {
		return
	}
	perm := make([]int32, len(entries))
	for i := range perm {
		perm[i] = int32(i)
	}
	slices.SortFunc(perm, func(a, b int32) int { return strings.Compare(entries[a].Key, entries[b].Key) })
	sorted := make([]Entry, len(entries))
	for i, p := range perm {
		sorted[i] = entries[p]
	}
	copy(entries, sorted)
}

// readInfos reads every header, in parallel. All bad files are counted;
// the first (by key) is shown.
func readInfos(entries []Entry) error {
	errs := make([]error, len(entries))
	forEach(len(entries), defaultThreads(), func(i int) {
		entries[i].Info, errs[i] = audio.ReadInfo(entries[i].Path)
	})
	return firstErrors(errs, "bad files")
}

// firstErrors is nil if every error is, and otherwise the first error
// with a count of the others, which are what noun says.
func firstErrors(errs []error, noun string) error {
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
		return fmt.Errorf("%w (and %d more %s)", first, n-1, noun)
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

// IsCorpusPath reports whether a command-line argument names a corpus
// rather than one audio file: a directory (of audio files, or a Kaldi
// data directory), or a manifest, told by its .csv extension. "-"
// (standard input) is a file.
func IsCorpusPath(path string) bool {
	if path == "-" {
		return false
	}
	if fi, err := os.Stat(path); err == nil && fi.IsDir() {
		return true
	}
	return strings.EqualFold(filepath.Ext(path), ".csv")
}

// Select returns the entries of the named split, or every entry for "";
// a split without entries is an error that lists the splits there are.
func (c *Corpus) Select(split string) ([]Entry, error) {
	if split == "" {
		return c.Entries, nil
	}
	files := c.Split(split)
	if len(files) == 0 {
		return nil, fmt.Errorf("%s: split %q has no files (splits: %s)", c.Source, split, c.SplitList())
	}
	return files, nil
}

// SplitList describes the splits and their sizes: "test 100, train 200".
func (c *Corpus) SplitList() string {
	var parts []string
	for name, n := range c.Splits() {
		parts = append(parts, fmt.Sprintf("%s %d", name, n))
	}
	slices.Sort(parts)
	return strings.Join(parts, ", ")
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
// Entries of pipe recordings, whose header is not known before they are
// decoded, pass; the loaders check them when they decode them.
func Check(entries []Entry, s audio.Settings) error {
	errs := make([]error, len(entries))
	for i, e := range entries {
		if e.Pipe() && e.Info.SampleRate == 0 {
			continue
		}
		switch ch := e.channel(s); {
		case e.Info.SampleRate != s.SampleRate && !s.Resample:
			errs[i] = &audio.RateError{Name: e.Name(), Rate: e.Info.SampleRate, Want: s.SampleRate}
		case ch > e.Info.Channels:
			errs[i] = fmt.Errorf("%s: channel %d requested, but the file has %d", e.Name(), ch, e.Info.Channels)
		}
	}
	return firstErrors(errs, "bad files")
}

// isAudioExt reports whether a file extension, in any letter case, is one
// a directory scan picks up: WAV, FLAC or NIST SPHERE (whose content, not
// the name, then decides how it is decoded).
func isAudioExt(ext string) bool {
	return strings.EqualFold(ext, ".wav") || strings.EqualFold(ext, ".flac") || strings.EqualFold(ext, ".sph")
}
