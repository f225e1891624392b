package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/nextsample/nextsample/audio"
	"github.com/nextsample/nextsample/audio/corpus"
	"github.com/nextsample/nextsample/audio/inflight"
)

func infoCommand() *cli.Command {
	return &cli.Command{
		Name:      "info",
		Usage:     "describe WAV, FLAC and NIST SPHERE files, like soxi, and corpora (folders, manifests, Kaldi data directories)",
		ArgsUsage: "FILE|DIR|MANIFEST.csv... (- reads standard input)",
		Description: "For each file: the container (wav, flac or sphere, told by the first bytes,\n" +
			"not the name), the sample encoding (pcm, float, ulaw or alaw), bits per stored\n" +
			"sample, channels, sample rate, frames and duration, and the peak, RMS and DC\n" +
			"(mean) of the decoded samples, channels averaged to mono as training does.\n\n" +
			"A directory (a Kaldi data directory holding wav.scp, or a folder of .wav, .flac\n" +
			"and .sph files) or a manifest (a .csv file) is opened as a corpus, as --data\n" +
			"opens it, and summarised from the headers alone, without decoding: utterances,\n" +
			"recordings (distinct files or wav.scp commands), speakers, labelled utterances,\n" +
			"splits, the total duration with the shortest, median and longest utterance, and\n" +
			"how many utterances have each sample rate, channel count and container/encoding.\n" +
			"wav.scp commands are not run, so their utterances count as \"pipe\" with an unknown\n" +
			"rate, and those without a segment end have an unknown length: they are counted\n" +
			"apart, not in the duration.\n\n" +
			"A file or corpus that cannot be read is reported on stderr as\n" +
			"`nextsample: PATH: reason`; the others are still described, and the exit status is 1.\n\n" +
			"Example:\n" +
			"  nextsample info samples/fsdd/recordings/0_george_0.wav\n" +
			"  nextsample info LibriSpeech/dev-clean/84/121123/84-121123-0000.flac TIMIT/TRAIN/DR1/FCJF0/SA1.WAV\n" +
			"  sox in.wav -t wav - | nextsample info --json -\n" +
			"  nextsample info data/train          # a Kaldi data directory\n" +
			"  nextsample info samples/fsdd/manifest.csv",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "json", Usage: "one JSON object per line: for a file path, container, format, bits, channels, sample_rate, frames, duration_s, peak, rms, dc; " +
				"for a corpus kind (kaldi, manifest or folder), path, utterances, recordings, speakers, labelled, splits, splits_assigned, seconds, unknown_length, min_s, median_s, max_s, sample_rates, channels, containers"},
		},
		Action: runInfo,
	}
}

// fileInfo is one line of `info --json`.
type fileInfo struct {
	Path       string  `json:"path"`
	Container  string  `json:"container"` // wav, flac or sphere
	Format     string  `json:"format"`    // pcm, float, ulaw or alaw
	Bits       int     `json:"bits"`
	Channels   int     `json:"channels"`
	SampleRate int     `json:"sample_rate"`
	Frames     int64   `json:"frames"`
	DurationS  float64 `json:"duration_s"`
	Peak       float64 `json:"peak"`
	RMS        float64 `json:"rms"`
	DC         float64 `json:"dc"`
}

func runInfo(c *cli.Context) error {
	if c.NArg() == 0 {
		return fmt.Errorf("info: no files given (usage: nextsample info [--json] FILE|DIR|MANIFEST.csv...)")
	}
	out, errOut := c.App.Writer, c.App.ErrWriter
	failed := 0
	rep := &reporter{out: out, json: c.Bool("json")}
	for _, path := range c.Args().Slice() {
		if err := c.Context.Err(); err != nil {
			return fmt.Errorf("info: %w", errInterrupted)
		}
		if isCorpusArg(path) {
			ci, err := describeCorpus(path)
			if err != nil {
				printCorpusError(errOut, path, err)
				failed++
				continue
			}
			if err := rep.report(ci, func(w io.Writer) { printCorpusText(w, ci) }); err != nil {
				return err
			}
			continue
		}
		var clip *audio.Clip
		var err error
		if path == "-" {
			leave := inflight.Enter(c.Context, "reading standard input", nil)
			clip, err = audio.Decode(c.App.Reader, audio.StdinName, audio.DecodeOptions{})
			leave()
		} else {
			clip, err = audio.ReadFile(path, audio.DecodeOptions{})
		}
		if err != nil {
			printFileError(errOut, err)
			failed++
			continue
		}
		st := audio.Measure(clip.Samples)
		fi := fileInfo{Path: path, Container: clip.Info.Container, Format: clip.Info.Format, Bits: clip.Info.Bits, Channels: clip.Info.Channels,
			SampleRate: clip.Info.SampleRate, Frames: clip.Info.Frames, DurationS: clip.Info.Seconds(),
			Peak: st.Peak, RMS: st.RMS, DC: st.DC}
		if err := rep.report(fi, func(w io.Writer) { printInfoText(w, fi, clip.Info) }); err != nil {
			return err
		}
	}
	if failed > 0 {
		return errReported
	}
	return nil
}

func printInfoText(w io.Writer, fi fileInfo, info audio.Info) {
	// The encoding as sox names it ("Sample Encoding"), then the header
	// variant: "16-bit PCM", "16-bit PCM, WAVE_FORMAT_EXTENSIBLE",
	// "16-bit FLAC", "8-bit μ-law, NIST SPHERE".
	encoding := formatName(fi.Format)
	header := ""
	switch {
	case info.Container == audio.ContainerFLAC:
		encoding = "FLAC"
	case info.Container == audio.ContainerSPHERE:
		header = ", NIST SPHERE"
	case info.Extensible:
		header = ", WAVE_FORMAT_EXTENSIBLE"
	}
	channels := "channels"
	if fi.Channels == 1 {
		channels = "channel"
	}
	length := fmt.Sprintf("%d frames, %.3f s", fi.Frames, fi.DurationS)
	switch {
	case info.Streamed && info.Container == audio.ContainerFLAC:
		length += " (streamed: STREAMINFO has no sample count, the frames run to the end)"
	case info.Streamed:
		length += " (streamed: the header has a placeholder size, the data runs to the end)"
	}
	fmt.Fprintf(w, "File     : %s\n", fi.Path)
	fmt.Fprintf(w, "Format   : %d-bit %s%s, %d %s, %d Hz\n", fi.Bits, encoding, header, fi.Channels, channels, fi.SampleRate)
	fmt.Fprintf(w, "Length   : %s\n", length)
	fmt.Fprintf(w, "Peak     : %.6f (%s)\n", fi.Peak, dBFS(fi.Peak))
	fmt.Fprintf(w, "RMS      : %.6f (%s)\n", fi.RMS, dBFS(fi.RMS))
	fmt.Fprintf(w, "DC       : %.6f\n", fi.DC)
}

func formatName(f string) string {
	switch f {
	case "float":
		return "IEEE float"
	case "ulaw":
		return "μ-law"
	case "alaw":
		return "A-law"
	}
	return "PCM"
}

func dBFS(v float64) string {
	if v <= 0 {
		return "-inf dBFS"
	}
	return fmt.Sprintf("%.1f dBFS", 20*math.Log10(v))
}

// corpusInfo is the line of `info --json` for a corpus.
type corpusInfo = corpus.Summary

// isCorpusArg reports whether an argument of info names a corpus: a
// directory, or a manifest, which is told by its .csv extension.
func isCorpusArg(path string) bool {
	if path == "-" {
		return false
	}
	if fi, err := os.Stat(path); err == nil && fi.IsDir() {
		return true
	}
	return strings.EqualFold(filepath.Ext(path), ".csv")
}

func describeCorpus(path string) (corpusInfo, error) {
	c, err := corpus.Open(path)
	if err != nil {
		return corpusInfo{}, err
	}
	return c.Summary(), nil
}

// printCorpusError reports a corpus that could not be opened as
// "nextsample: PATH: reason". Errors of package corpus usually start
// with a file of the corpus (data/train/wav.scp:3: ...), which then
// stands for PATH.
func printCorpusError(w io.Writer, path string, err error) {
	var pe *fs.PathError
	if errors.As(err, &pe) && pe.Path == path {
		err = pe.Err // "stat PATH: no such file or directory"
	}
	msg := err.Error()
	named := false // msg starts with path or a file in it
	if rest, ok := strings.CutPrefix(msg, path); ok && rest != "" {
		named = rest[0] == ':' || os.IsPathSeparator(rest[0]) || os.IsPathSeparator(path[len(path)-1])
	}
	if !named {
		msg = path + ": " + msg
	}
	fmt.Fprintf(w, "nextsample: %s\n", msg)
}

func printCorpusText(w io.Writer, ci corpusInfo) {
	kind := map[string]string{"kaldi": "Kaldi data directory", "manifest": "manifest", "folder": "folder of audio files"}[ci.Kind]
	fmt.Fprintf(w, "Corpus   : %s (%s)\n", ci.Path, kind)
	fmt.Fprintf(w, "Contents : %s from %s, %s, %d labelled\n", plural(ci.Utterances, "utterance"), plural(ci.Recordings, "recording"), plural(ci.Speakers, "speaker"), ci.Labelled)
	var splits []string
	for _, name := range slices.Sorted(maps.Keys(ci.Splits)) {
		splits = append(splits, fmt.Sprintf("%s %d", name, ci.Splits[name]))
	}
	assigned := ""
	switch {
	case ci.SplitsAssigned == ci.Utterances:
		assigned = " (assigned by key hash)"
	case ci.SplitsAssigned > 0:
		assigned = fmt.Sprintf(" (%d assigned by key hash)", ci.SplitsAssigned)
	}
	fmt.Fprintf(w, "Splits   : %s%s\n", strings.Join(splits, ", "), assigned)
	if ci.MinS == nil {
		fmt.Fprintf(w, "Duration : unknown\n")
	} else {
		fmt.Fprintf(w, "Duration : %s; per utterance min %.3f s, median %.3f s, max %.3f s\n", hoursMinutes(ci.Seconds), *ci.MinS, *ci.MedianS, *ci.MaxS)
	}
	if ci.UnknownLength > 0 {
		fmt.Fprintf(w, "Unknown  : %s of wav.scp commands without a segment end, not in the duration (the commands are not run)\n", plural(ci.UnknownLength, "utterance"))
	}
	fmt.Fprintf(w, "Rates    : %s\n", histogram(ci.SampleRates, func(k string) string {
		if k == "unknown" {
			return k
		}
		return k + " Hz"
	}))
	fmt.Fprintf(w, "Channels : %s\n", histogram(ci.Channels, func(k string) string {
		if k == "1" {
			return "1 channel"
		}
		if k == "unknown" {
			return k
		}
		return k + " channels"
	}))
	fmt.Fprintf(w, "Encoding : %s\n", histogram(ci.Containers, func(k string) string { return k }))
}

// histogram lists counts most frequent first: "8000 Hz (2990), 16000 Hz (10)".
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

// hoursMinutes is a duration for people: "52 h 07 min (187620.481 s)",
// "3 min 05 s (185.012 s)", "4.250 s".
func hoursMinutes(s float64) string {
	switch {
	case s >= 3600:
		m := int64(math.Round(s / 60))
		return fmt.Sprintf("%d h %02d min (%.3f s)", m/60, m%60, s)
	case s >= 60:
		sec := int64(math.Round(s))
		return fmt.Sprintf("%d min %02d s (%.3f s)", sec/60, sec%60, s)
	}
	return fmt.Sprintf("%.3f s", s)
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
