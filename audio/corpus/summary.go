package corpus

import (
	"math"
	"os"
	"slices"
	"strconv"
)

// A Summary describes a corpus from its entries' headers, as `nextsample
// info --json` prints it. Durations are from the headers; the histograms
// count utterances.
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
