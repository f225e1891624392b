package corpus

import (
	"fmt"
	"io"
	"maps"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/nextsample/nextsample/audio/humanize"
)

// A Summary describes a corpus from its entries' headers. Its JSON form is
// a line of `nextsample info --json`; WriteText writes its text form.
// Durations are from the headers; the histograms count utterances.
type Summary struct {
	Kind           string         `json:"kind"` // kaldi, manifest or folder
	Path           string         `json:"path"`
	Utterances     int            `json:"utterances"`
	Recordings     int            `json:"recordings"` // distinct files and wav.scp commands
	Speakers       int            `json:"speakers"`   // distinct non-empty speakers
	Labelled       int            `json:"labelled"`   // utterances with a non-empty label or transcript
	Splits         map[string]int `json:"splits"`
	SplitsAssigned int            `json:"splits_assigned"` // utterances whose split is from the key hash (corpus.AssignSplit)
	Seconds        float64        `json:"seconds"`         // of the utterances whose length is known
	// UnknownLength counts the utterances of wav.scp commands without a
	// segment end, whose length is only known once the command runs.
	UnknownLength int      `json:"unknown_length"`
	MinS          *float64 `json:"min_s"` // null when no length is known
	MedianS       *float64 `json:"median_s"`
	MaxS          *float64 `json:"max_s"`
	// SampleRates and Channels count "unknown" for utterances of wav.scp
	// commands; Containers counts them as "pipe", and the others as
	// "container/format" ("wav/pcm", "flac/pcm", "sphere/ulaw", ...).
	SampleRates map[string]int `json:"sample_rates"`
	Channels    map[string]int `json:"channels"`
	Containers  map[string]int `json:"containers"`
}

// Summary describes c from its entries' headers, decoding nothing.
func (c *Corpus) Summary() Summary {
	ci := Summary{Kind: "folder", Path: c.Source, Utterances: len(c.Entries), Splits: c.Splits(), SplitsAssigned: c.Assigned,
		SampleRates: map[string]int{}, Channels: map[string]int{}, Containers: map[string]int{}}
	if c.Kaldi {
		ci.Kind = "kaldi"
	} else if fi, err := os.Stat(c.Source); err == nil && !fi.IsDir() {
		ci.Kind = "manifest"
	}
	recordings := map[string]struct{}{}
	speakers := map[string]struct{}{}
	framesAt := map[int]int64{} // frames of file utterances by sample rate, summed exactly
	pipeSeconds := 0.0          // lengths of pipe segments, from their times
	durations := make([]float64, 0, len(c.Entries))
	for _, e := range c.Entries {
		if e.Pipe() {
			recordings["|"+e.Source.Command] = struct{}{}
		} else {
			recordings[e.Path] = struct{}{}
		}
		if e.Speaker != "" {
			speakers[e.Speaker] = struct{}{}
		}
		if e.Label != "" {
			ci.Labelled++
		}
		rate, channels, container := "unknown", "unknown", "pipe"
		if e.Info.SampleRate > 0 {
			rate, channels = strconv.Itoa(e.Info.SampleRate), strconv.Itoa(e.Info.Channels)
		}
		if !e.Pipe() {
			container = e.Info.Container + "/" + e.Info.Format
		}
		ci.SampleRates[rate]++
		ci.Channels[channels]++
		ci.Containers[container]++
		// Entry.Seconds is 0 both for an empty file and for a pipe
		// utterance whose length is unknown; only the header or the
		// segment's end tells them apart.
		switch {
		case e.Info.SampleRate > 0:
			framesAt[e.Info.SampleRate] += e.Info.Frames
		case e.Source.Segment && e.Source.End > 0:
			pipeSeconds += e.Seconds()
		default:
			ci.UnknownLength++
			continue
		}
		durations = append(durations, e.Seconds())
	}
	ci.Recordings, ci.Speakers = len(recordings), len(speakers)
	for rate, frames := range framesAt {
		ci.Seconds += float64(frames) / float64(rate)
	}
	ci.Seconds = math.Round((ci.Seconds+pipeSeconds)*1e6) / 1e6
	if n := len(durations); n > 0 {
		slices.Sort(durations)
		median := durations[n/2]
		if n%2 == 0 {
			median = (durations[n/2-1] + durations[n/2]) / 2
		}
		ci.MinS, ci.MedianS, ci.MaxS = &durations[0], &median, &durations[n-1]
	}
	return ci
}

// WriteText writes s for people, a field a line:
//
//	Corpus   : samples/fsdd/manifest.csv (manifest)
//	Contents : 300 utterances from 300 recordings, 5 speakers, 300 labelled
//	Splits   : test 100, train 200
//	Duration : 2 min 02 s (121.912 s); per utterance min 0.144 s, median 0.394 s, max 0.828 s
//	Rates    : 8000 Hz (300)
//	Channels : 1 channel (300)
//	Encoding : wav/pcm (300)
//
// Splits are listed by name, the histograms most frequent first; a line
// "Unknown" counts the utterances of wav.scp commands whose length is not
// known.
func (s Summary) WriteText(w io.Writer) error {
	kind := map[string]string{"kaldi": "Kaldi data directory", "manifest": "manifest", "folder": "folder of audio files"}[s.Kind]
	var b strings.Builder
	fmt.Fprintf(&b, "Corpus   : %s (%s)\n", s.Path, kind)
	fmt.Fprintf(&b, "Contents : %s from %s, %s, %d labelled\n",
		humanize.Count(s.Utterances, "utterance"), humanize.Count(s.Recordings, "recording"), humanize.Count(s.Speakers, "speaker"), s.Labelled)
	var splits []string
	for _, name := range slices.Sorted(maps.Keys(s.Splits)) {
		splits = append(splits, fmt.Sprintf("%s %d", name, s.Splits[name]))
	}
	assigned := ""
	switch {
	case s.SplitsAssigned == s.Utterances:
		assigned = " (assigned by key hash)"
	case s.SplitsAssigned > 0:
		assigned = fmt.Sprintf(" (%d assigned by key hash)", s.SplitsAssigned)
	}
	fmt.Fprintf(&b, "Splits   : %s%s\n", strings.Join(splits, ", "), assigned)
	if s.MinS == nil {
		fmt.Fprintf(&b, "Duration : unknown\n")
	} else {
		fmt.Fprintf(&b, "Duration : %s; per utterance min %.3f s, median %.3f s, max %.3f s\n", humanize.HoursMinutes(s.Seconds), *s.MinS, *s.MedianS, *s.MaxS)
	}
	if s.UnknownLength > 0 {
		fmt.Fprintf(&b, "Unknown  : %s of wav.scp commands without a segment end, not in the duration (the commands are not run)\n",
			humanize.Count(s.UnknownLength, "utterance"))
	}
	fmt.Fprintf(&b, "Rates    : %s\n", histogram(s.SampleRates, func(k string) string {
		if k == "unknown" {
			return k
		}
		return k + " Hz"
	}))
	fmt.Fprintf(&b, "Channels : %s\n", histogram(s.Channels, func(k string) string {
		if k == "1" {
			return "1 channel"
		}
		if k == "unknown" {
			return k
		}
		return k + " channels"
	}))
	fmt.Fprintf(&b, "Encoding : %s\n", histogram(s.Containers, func(k string) string { return k }))
	_, err := io.WriteString(w, b.String())
	return err
}

// histogram lists counts most frequent first, ties in the order of their
// keys (numerically when both are numbers), each key as name says it:
// "8000 Hz (2990), 16000 Hz (10)".
func histogram(n map[string]int, name func(string) string) string {
	keys := slices.Collect(maps.Keys(n))
	slices.SortFunc(keys, func(a, b string) int {
		if n[a] != n[b] {
			return n[b] - n[a]
		}
		if x, err := strconv.Atoi(a); err == nil {
			if y, err := strconv.Atoi(b); err == nil {
				return x - y
			}
		}
		return strings.Compare(a, b)
	})
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s (%d)", name(k), n[k])
	}
	return strings.Join(parts, ", ")
}

// ValidationSplits returns the names of the splits a run validates on
// when it is told none, in order of preference: it takes the first of
// them the corpus has (a Kaldi data directory, a single split, has none;
// its validation share is held out by AssignSplit). Package train/launch
// chooses by them, and a model file's description names them.
func ValidationSplits() []string {
	return []string{"valid", "validation", "dev", "test"}
}
