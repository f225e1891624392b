package corpus

import (
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/nextsample/nextsample/audio"
	"github.com/nextsample/nextsample/audio/regular"
)

// The files of a Kaldi data directory that Open reads. Any other file
// (spk2utt, utt2dur, reco2file_and_channel, feats.scp, ...) is ignored.
const (
	WavScp   = "wav.scp"  // recording-id extended-filename; required
	Segments = "segments" // utterance-id recording-id start end [channel]; optional
	Utt2Spk  = "utt2spk"  // utterance-id speaker-id; optional
	Text     = "text"     // utterance-id transcript...; optional
)

// MaxOvershoot is how far, in seconds, a segment may end beyond the end
// of its recording and still be clipped to it rather than refused: the
// default of Kaldi's extract-segments --max-overshoot.
const MaxOvershoot = 0.5

// Source locates an utterance of a Kaldi data directory in its
// recording. It is the zero Source for the files of a directory or a
// manifest, which are whole files at Entry.Path.
type Source struct {
	Dir       string // the data directory, as given to Open
	Recording string // the recording id of wav.scp
	// Command is the shell command of a pipe entry ("flac -c -d -s
	// x.flac" for the entry "flac -c -d -s x.flac |"); its standard
	// output is the recording. Entry.Path is "" then. For a plain entry
	// Command is "" and the recording is the file at Entry.Path.
	Command string
	// Segment says the utterance is cut out of the recording by a line
	// of the segments file, from Start to End seconds; End is -1 for
	// "to the end of the recording". Without Segment the utterance is the
	// whole recording and its key is the recording id.
	Segment    bool
	Start, End float64
	// Channel is the segments line's channel field counted from 1 as
	// DecodeOptions counts (the file's 0 is 1 here); 0 when the line has
	// none, and then the settings' Channel applies.
	Channel int
	// Line is the line that defines the utterance: in the segments file
	// when Segment is set, else in wav.scp.
	Line int
}

// file is the path of the data directory's file that defines the
// utterance, with its line: "data/train/segments:12".
func (s Source) file() string {
	name := WavScp
	if s.Segment {
		name = Segments
	}
	return fmt.Sprintf("%s:%d", filepath.Join(s.Dir, name), s.Line)
}

// span is the samples [a, b) that the utterance covers in a recording of
// n samples at rate Hz, computed as Kaldi's extract-segments computes
// them: the first sample is int(Start·rate) and the end int(End·rate),
// both truncated; an End of -1 runs to the end of the recording. A start
// at or beyond the end of the recording is refused; an end beyond it is
// clipped to it when the overshoot is under MaxOvershoot (int(0.5·rate)
// samples), and refused otherwise.
func (s Source) span(rate int, n int64) (a, b int64, err error) {
	if !s.Segment {
		return 0, n, nil
	}
	if rate <= 0 {
		return 0, 0, fmt.Errorf("the recording has no sample rate")
	}
	fr := float64(rate)
	recSeconds := float64(n) / fr
	a = int64(s.Start * fr)
	b = n
	if s.End != -1 {
		b = int64(s.End * fr)
	}
	if a >= n {
		return 0, 0, fmt.Errorf("the segment starts at %g s (sample %d), but the recording has only %d samples (%.3f s)", s.Start, a, n, recSeconds)
	}
	if b > n {
		if b >= n+int64(MaxOvershoot*fr) {
			return 0, 0, fmt.Errorf("the segment ends at %g s, %.3f s after the end of the recording (%.3f s); Kaldi's extract-segments clips an overshoot only when it is under %g s", s.End, float64(b-n)/fr, recSeconds, MaxOvershoot)
		}
		b = n
	}
	if b <= a {
		return 0, 0, fmt.Errorf("the segment %g-%g s holds no sample at %d Hz", s.Start, s.End, rate)
	}
	return a, b, nil
}

// isKaldiDir reports whether dir holds a wav.scp file.
func isKaldiDir(dir string) (bool, error) {
	fi, err := os.Stat(filepath.Join(dir, WavScp))
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return false, nil
	case err != nil:
		return false, err
	}
	return !fi.IsDir(), nil
}

// recording is one line of wav.scp.
type recording struct {
	id      string
	path    string // a file, as written (relative paths are taken from the current directory)
	command string // or a command, without its final "|"
	line    int
}

// segment is one line of a segments file.
type segment struct {
	utt, rec   string
	start, end float64
	channel    int // counted from 1; 0 when the line has none
	line       int
}

// tableLine is one line of utt2spk or text: a key and the rest.
type tableLine struct {
	key, value string
	line       int
}

// openKaldi indexes the Kaldi data directory dir.
func openKaldi(dir string) (*Corpus, error) {
	read := func(name string, required bool) (content, path string, ok bool, err error) {
		path = filepath.Join(dir, name)
		b, err := regular.ReadFile(path) // a named pipe is refused, not waited on
		if err != nil {
			if !required && errors.Is(err, fs.ErrNotExist) {
				return "", path, false, nil
			}
			return "", path, false, err
		}
		return string(b), path, true, nil
	}
	content, wavPath, _, err := read(WavScp, true)
	if err != nil {
		return nil, err
	}
	recs, err := parseWavScp(content, wavPath)
	if err != nil {
		return nil, err
	}
	if len(recs) == 0 {
		return nil, fmt.Errorf("%s: lists no recordings", wavPath)
	}

	split := filepath.Base(dir)
	if abs, err := filepath.Abs(dir); err == nil {
		split = filepath.Base(abs)
	}
	var entries []Entry
	var recOf []int // per entry: its recording's index in recs
	content, segPath, haveSegments, err := read(Segments, false)
	if err != nil {
		return nil, err
	}
	if haveSegments {
		segs, err := parseSegments(content, segPath)
		if err != nil {
			return nil, err
		}
		if len(segs) == 0 {
			return nil, fmt.Errorf("%s: lists no segments", segPath)
		}
		entries = make([]Entry, len(segs))
		recOf = make([]int, len(segs))
		// Segments usually come in the order of their recordings, which is
		// followed without a map.
		var recIndex map[string]int
		ri := 0
		for i, sg := range segs {
			if recs[ri].id != sg.rec {
				if ri+1 < len(recs) && recs[ri+1].id == sg.rec {
					ri++
				} else {
					if recIndex == nil {
						recIndex = make(map[string]int, len(recs))
						for i, r := range recs {
							recIndex[r.id] = i
						}
					}
					var ok bool
					if ri, ok = recIndex[sg.rec]; !ok {
						return nil, fmt.Errorf("%s:%d: recording %q of utterance %s is not in %s", segPath, sg.line, sg.rec, sg.utt, wavPath)
					}
				}
			}
			r := recs[ri]
			recOf[i] = ri
			entries[i] = Entry{Key: sg.utt, Path: r.path, Split: split, Source: Source{
				Dir: dir, Recording: r.id, Command: r.command,
				Segment: true, Start: sg.start, End: sg.end, Channel: sg.channel, Line: sg.line,
			}}
		}
	} else {
		entries = make([]Entry, len(recs))
		recOf = make([]int, len(recs))
		for i, r := range recs {
			recOf[i] = i
			entries[i] = Entry{Key: r.id, Path: r.path, Split: split, Source: Source{
				Dir: dir, Recording: r.id, Command: r.command, Line: r.line,
			}}
		}
	}

	// Speakers and transcripts, keyed by utterance id.
	var uttIndex map[string]int
	for _, name := range []string{Utt2Spk, Text} {
		content, path, ok, err := read(name, false)
		if err != nil {
			return nil, err
		}
		if !ok {
			continue
		}
		lines, err := parseTable(content, path, name == Utt2Spk)
		if err != nil {
			return nil, err
		}
		field := func(e *Entry) *string { return &e.Label }
		if name == Utt2Spk {
			field = func(e *Entry) *string { return &e.Speaker }
		}
		if err := fillTable(entries, &uttIndex, lines, field, path, filepath.Join(dir, definingFile(haveSegments))); err != nil {
			return nil, err
		}
	}

	infos, err := readRecordingInfos(recs, recOf, wavPath)
	if err != nil {
		return nil, err
	}
	// Cut the segments of file recordings out of their headers, so that
	// a segment outside its recording fails now.
	errs := make([]error, len(entries))
	for i := range entries {
		e := &entries[i]
		if e.Source.Command != "" {
			continue
		}
		info := infos[recOf[i]]
		a, b, err := e.Source.span(info.SampleRate, info.Frames)
		if err != nil {
			errs[i] = fmt.Errorf("%s: utterance %s: %w", e.Source.file(), e.Key, err)
			continue
		}
		info.Frames = b - a
		e.Info = info
	}
	if err := firstErrors(errs, "bad segments"); err != nil {
		return nil, err
	}
	sortByKey(entries)
	return &Corpus{Source: dir, Root: dir, Entries: entries, Kaldi: true}, nil
}

// fillTable sets field(&entries[i]) for each line of utt2spk or text at
// path (defined is the file that defines the utterances, for errors). The
// lines are usually in the order of the entries, which is matched without
// a map; *index is built the first time one is not.
func fillTable(entries []Entry, index *map[string]int, lines []tableLine, field func(*Entry) *string, path, defined string) error {
	lineOf := make([]int32, len(entries)) // the line that gave entries[i] its value
	for k, l := range lines {
		i := k
		if i >= len(entries) || entries[i].Key != l.key {
			if *index == nil {
				*index = make(map[string]int, len(entries))
				for i, e := range entries {
					(*index)[e.Key] = i
				}
			}
			var ok bool
			if i, ok = (*index)[l.key]; !ok {
				return fmt.Errorf("%s:%d: utterance %q is not in %s", path, l.line, l.key, defined)
			}
		}
		if first := lineOf[i]; first != 0 {
			return fmt.Errorf("%s:%d: utterance %s is listed twice (first on line %d)", path, l.line, l.key, first)
		}
		lineOf[i] = int32(l.line)
		*field(&entries[i]) = l.value
	}
	return nil
}

// readRecordingInfos reads, in parallel, the headers of the file
// recordings that some entry uses (recOf[i] is the recording of entry
// i); commands are not run (see the package doc). All bad files are
// counted; the first, in wav.scp order, is shown.
func readRecordingInfos(recs []recording, recOf []int, wavPath string) ([]audio.Info, error) {
	used := make([]bool, len(recs))
	for _, ri := range recOf {
		used[ri] = true
	}
	var files []int
	for ri, r := range recs {
		if used[ri] && r.command == "" {
			files = append(files, ri)
		}
	}
	infos := make([]audio.Info, len(recs))
	errs := make([]error, len(files))
	forEach(len(files), defaultThreads(), func(k int) {
		r := recs[files[k]]
		info, err := audio.ReadInfo(r.path)
		if err != nil {
			hint := ""
			if errors.Is(err, fs.ErrNotExist) && !filepath.IsAbs(r.path) {
				hint = " (relative paths in wav.scp are taken from the current directory, as Kaldi does)"
			}
			errs[k] = fmt.Errorf("%s:%d: recording %s: %w%s", wavPath, r.line, r.id, err, hint)
			return
		}
		infos[files[k]] = info
	})
	return infos, firstErrors(errs, "bad recordings")
}

func definingFile(segments bool) string {
	if segments {
		return Segments
	}
	return WavScp
}

// isSpace is Kaldi's whitespace: the ASCII space characters.
func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'
}

func trimSpace(s string) string {
	i, j := 0, len(s)
	for i < j && isSpace(s[i]) {
		i++
	}
	for j > i && isSpace(s[j-1]) {
		j--
	}
	return s[i:j]
}

// cutKey splits a line into its first whitespace-free token and the rest,
// both trimmed, as Kaldi's SplitStringOnFirstSpace does.
func cutKey(line string) (key, rest string) {
	line = trimSpace(line)
	i := 0
	for i < len(line) && !isSpace(line[i]) {
		i++
	}
	return line[:i], trimSpace(line[i:])
}

// fields splits s at runs of whitespace into out, and returns how many
// fields s has (which may be more than len(out)).
func fields(s string, out []string) int {
	n := 0
	for i := 0; i < len(s); {
		for i < len(s) && isSpace(s[i]) {
			i++
		}
		if i == len(s) {
			break
		}
		j := i
		for j < len(s) && !isSpace(s[j]) {
			j++
		}
		if n < len(out) {
			out[n] = s[i:j]
		}
		n++
		i = j
	}
	return n
}

// checkID refuses ids that Kaldi tables and our feature writers cannot
// hold: invalid UTF-8, and Unicode spaces or control characters (ASCII
// whitespace never reaches here: it separates fields).
func checkID(id string) error {
	for i := 0; i < len(id); i++ {
		if c := id[i]; c < 0x20 || c >= 0x7f {
			goto slow
		}
	}
	return nil
slow:
	if !utf8.ValidString(id) {
		return fmt.Errorf("id %q is not valid UTF-8", id)
	}
	for _, r := range id {
		if unicode.IsSpace(r) || !unicode.IsPrint(r) {
			return fmt.Errorf("id %q contains whitespace or a control character", id)
		}
	}
	return nil
}

// numbered calls fn for each line of content with its number (from 1),
// without the line break; it stops at the first error.
func numbered(content string, fn func(n int, line string) error) error {
	n := 0
	for line := range strings.Lines(content) {
		n++
		if err := fn(n, strings.TrimSuffix(line, "\n")); err != nil {
			return err
		}
	}
	return nil
}

// parseWavScp reads the wav.scp at path from its content. Blank lines are
// skipped; every other line is "recording-id extended-filename", where
// the extended filename is a file path or a command ending in "|".
func parseWavScp(content, path string) ([]recording, error) {
	recs := make([]recording, 0, strings.Count(content, "\n")+1)
	err := numbered(content, func(n int, line string) error {
		id, rest := cutKey(line)
		if id == "" {
			return nil
		}
		bad := func(format string, args ...any) error {
			return fmt.Errorf("%s:%d: recording %s: %s", path, n, id, fmt.Sprintf(format, args...))
		}
		if err := checkID(id); err != nil {
			return fmt.Errorf("%s:%d: recording %w", path, n, err)
		}
		r := recording{id: id, line: n}
		switch {
		case rest == "":
			return bad("no file name or command after the id")
		case strings.IndexByte(rest, 0) >= 0:
			return bad("the entry holds a NUL byte")
		case rest == "-":
			return bad(`"-" (standard input) is not supported: give a file, or a command that ends in "|"`)
		case rest == "|":
			return bad(`empty command before "|"`)
		case rest[0] == '|':
			return bad("%q starts with \"|\", which Kaldi reads as an output pipe; an input command ends with \"|\"", rest)
		case rest[len(rest)-1] == '|':
			r.command = trimSpace(rest[:len(rest)-1])
		case isOffset(rest):
			return bad("%q is a Kaldi archive offset (file:byte), which is not supported: write the audio out as files (e.g. with wav-copy) or give a command that ends in \"|\"", rest)
		case strings.HasPrefix(rest, "ark:") || strings.HasPrefix(rest, "scp:") ||
			strings.HasPrefix(rest, "ark,") || strings.HasPrefix(rest, "scp,"):
			return bad("%q is a Kaldi rspecifier, not a file name or a command", rest)
		case strings.IndexByte(rest, '|') >= 0:
			return bad("%q has \"|\" in the wrong place: a command must end with \"|\"", rest)
		default:
			r.path = rest
		}
		recs = append(recs, r)
		return nil
	})
	if err != nil {
		return nil, err
	}
	if i := duplicate(len(recs), func(i int) string { return recs[i].id }); i >= 0 {
		first := slices.IndexFunc(recs, func(r recording) bool { return r.id == recs[i].id })
		return nil, fmt.Errorf("%s:%d: recording %s: listed twice (first on line %d)", path, recs[i].line, recs[i].id, recs[first].line)
	}
	return recs, nil
}

// isOffset reports whether s ends in ":digits", Kaldi's offset into an
// archive.
func isOffset(s string) bool {
	i := len(s)
	for i > 0 && s[i-1] >= '0' && s[i-1] <= '9' {
		i--
	}
	return i < len(s) && i > 0 && s[i-1] == ':'
}

// parseSeconds reads a time of a segments line: a finite decimal number.
func parseSeconds(s string) (float64, bool) {
	if strings.ContainsAny(s, "xX_") {
		return 0, false
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsInf(v, 0) || math.IsNaN(v) {
		return 0, false
	}
	return v, true
}

// parseSegments reads the segments file at path from its content. Blank
// lines are skipped; every other line is "utterance-id recording-id start
// end [channel]" with times in seconds, checked as extract-segments
// checks them, except that a bad line is an error here, not a warning.
func parseSegments(content, path string) ([]segment, error) {
	segs := make([]segment, 0, strings.Count(content, "\n")+1)
	var f [6]string
	err := numbered(content, func(n int, line string) error {
		nf := fields(line, f[:])
		if nf == 0 {
			return nil
		}
		if nf != 4 && nf != 5 {
			return fmt.Errorf("%s:%d: %d fields, want 4 or 5: utterance-id recording-id start end [channel]", path, n, nf)
		}
		sg := segment{utt: f[0], rec: f[1], line: n}
		bad := func(format string, args ...any) error {
			return fmt.Errorf("%s:%d: utterance %s: %s", path, n, sg.utt, fmt.Sprintf(format, args...))
		}
		for _, id := range f[:2] {
			if err := checkID(id); err != nil {
				return fmt.Errorf("%s:%d: %w", path, n, err)
			}
		}
		var ok bool
		if sg.start, ok = parseSeconds(f[2]); !ok {
			return bad("start time %q is not a number of seconds", f[2])
		}
		if sg.end, ok = parseSeconds(f[3]); !ok {
			return bad("end time %q is not a number of seconds", f[3])
		}
		switch {
		case sg.start < 0:
			return bad("negative start time %g s", sg.start)
		case sg.end != -1 && sg.end <= 0:
			return bad("end time %g s: want a positive time, or -1 for the end of the recording", sg.end)
		case sg.end != -1 && sg.start >= sg.end:
			return bad("start %g s is not before end %g s", sg.start, sg.end)
		}
		if nf == 5 {
			c, err := strconv.Atoi(f[4])
			if err != nil || c < 0 || c >= 1<<16 {
				return bad("channel %q: want 0 for the first channel, 1 for the second, ...", f[4])
			}
			sg.channel = c + 1
		}
		segs = append(segs, sg)
		return nil
	})
	if err != nil {
		return nil, err
	}
	if i := duplicate(len(segs), func(i int) string { return segs[i].utt }); i >= 0 {
		first := slices.IndexFunc(segs, func(sg segment) bool { return sg.utt == segs[i].utt })
		return nil, fmt.Errorf("%s:%d: utterance %s: listed twice (first on line %d)", path, segs[i].line, segs[i].utt, segs[first].line)
	}
	return segs, nil
}

// duplicate is the index of the first of n keys that repeats an earlier
// one, or -1. Kaldi keeps its files sorted, and keys in strictly
// increasing order cannot repeat, so only unsorted keys need a map.
func duplicate(n int, key func(int) string) int {
	sorted := true
	for i := 1; i < n && sorted; i++ {
		sorted = key(i-1) < key(i)
	}
	if sorted {
		return -1
	}
	seen := make(map[string]struct{}, n)
	for i := range n {
		k := key(i)
		if _, dup := seen[k]; dup {
			return i
		}
		seen[k] = struct{}{}
	}
	return -1
}

// parseTable reads utt2spk (pair: exactly two fields a line) or text (the
// key, then the rest of the line, which may be empty). Blank lines are
// skipped. Keys are not checked for repeats here: openKaldi does that as
// it matches them with the utterances.
func parseTable(content, path string, pair bool) ([]tableLine, error) {
	out := make([]tableLine, 0, strings.Count(content, "\n")+1)
	var f [3]string
	err := numbered(content, func(n int, line string) error {
		key, rest := cutKey(line)
		if key == "" {
			return nil
		}
		if pair {
			if nf := fields(line, f[:]); nf != 2 {
				return fmt.Errorf("%s:%d: %d fields, want 2: utterance-id speaker-id", path, n, nf)
			}
			if err := checkID(rest); err != nil {
				return fmt.Errorf("%s:%d: speaker %w", path, n, err)
			}
		}
		if err := checkID(key); err != nil {
			return fmt.Errorf("%s:%d: utterance %w", path, n, err)
		}
		out = append(out, tableLine{key: key, value: rest, line: n})
		return nil
	})
	return out, err
}
