package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"

	"github.com/urfave/cli/v2"

	"github.com/nextsample/nextsample/audio"
)

func infoCommand() *cli.Command {
	return &cli.Command{
		Name:      "info",
		Usage:     "describe WAV, FLAC and NIST SPHERE files, like soxi",
		ArgsUsage: "FILE... (- reads standard input)",
		Description: "For each file: the container (wav, flac or sphere, told by the first bytes,\n" +
			"not the name), the sample encoding (pcm, float, ulaw or alaw), bits per stored\n" +
			"sample, channels, sample rate, frames and duration, and the peak, RMS and DC\n" +
			"(mean) of the decoded samples, channels averaged to mono as training does. A file\n" +
			"that cannot be read is reported on stderr as `nextsample: PATH: reason`; the\n" +
			"others are still described, and the exit status is 1.\n\n" +
			"Example:\n" +
			"  nextsample info samples/fsdd/recordings/0_george_0.wav\n" +
			"  nextsample info LibriSpeech/dev-clean/84/121123/84-121123-0000.flac TIMIT/TRAIN/DR1/FCJF0/SA1.WAV\n" +
			"  sox in.wav -t wav - | nextsample info --json -",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "json", Usage: "one JSON object per line: path, container, format, bits, channels, sample_rate, frames, duration_s, peak, rms, dc"},
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
		return fmt.Errorf("info: no files given (usage: nextsample info [--json] FILE...)")
	}
	out, errOut := c.App.Writer, c.App.ErrWriter
	failed := 0
	for i, path := range c.Args().Slice() {
		if err := c.Context.Err(); err != nil {
			return fmt.Errorf("info: %w", errInterrupted)
		}
		var clip *audio.Clip
		var err error
		if path == "-" {
			clip, err = audio.Decode(c.App.Reader, audio.StdinName, audio.DecodeOptions{})
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
		if c.Bool("json") {
			b, err := json.Marshal(fi)
			if err != nil {
				return err
			}
			fmt.Fprintf(out, "%s\n", b)
			continue
		}
		if i > 0 {
			fmt.Fprintln(out)
		}
		printInfoText(out, fi, clip.Info)
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
