package audio

import (
	"fmt"
	"io"
	"math"
	"strings"
)

// Descriptions for people: what a decoded file holds (FileSummary, as
// soxi and `sox -n stat` would say it) and how Settings prepare audio.

// A FileSummary describes a decoded file: its header, as soxi reports it,
// and the level of its mono samples, as `sox FILE -n stat` does. Its JSON
// form is a line of `nextsample info --json`; WriteText writes its text
// form.
type FileSummary struct {
	// Path names the file: the Clip's Name, or whatever the caller
	// replaces it with (the command line's "-" for standard input).
	Path       string  `json:"path"`
	Container  string  `json:"container"` // ContainerWAV, ContainerFLAC or ContainerSPHERE
	Format     string  `json:"format"`    // pcm, float, ulaw or alaw
	Bits       int     `json:"bits"`
	Channels   int     `json:"channels"`
	SampleRate int     `json:"sample_rate"`
	Frames     int64   `json:"frames"`
	DurationS  float64 `json:"duration_s"`
	// Peak, RMS and DC are the Stats of the decoded samples: channels
	// averaged, or the one channel decoded.
	Peak float64 `json:"peak"`
	RMS  float64 `json:"rms"`
	DC   float64 `json:"dc"`
	// Extensible and Streamed are Info's: only the text form says them.
	Extensible bool `json:"-"`
	Streamed   bool `json:"-"`
}

// Summary describes c: its header and the Stats of its samples.
func (c *Clip) Summary() FileSummary {
	st := Measure(c.Samples)
	return FileSummary{Path: c.Name, Container: c.Info.Container, Format: c.Info.Format, Bits: c.Info.Bits,
		Channels: c.Info.Channels, SampleRate: c.Info.SampleRate, Frames: c.Info.Frames, DurationS: c.Info.Seconds(),
		Peak: st.Peak, RMS: st.RMS, DC: st.DC, Extensible: c.Info.Extensible, Streamed: c.Info.Streamed}
}

// WriteText writes s for people, a field a line, in the words of soxi:
//
//	File     : samples/fsdd/recordings/0_george_0.wav
//	Format   : 16-bit PCM, 1 channel, 8000 Hz
//	Length   : 2384 frames, 0.298 s
//	Peak     : 0.315979 (-10.0 dBFS)
//	RMS      : 0.088870 (-21.0 dBFS)
//	DC       : 0.000055
//
// The format names the encoding as sox does ("Sample Encoding"), then
// the header's variant: "16-bit PCM, WAVE_FORMAT_EXTENSIBLE", "16-bit
// FLAC", "8-bit μ-law, NIST SPHERE".
func (s FileSummary) WriteText(w io.Writer) error {
	encoding := encodingName(s.Format)
	header := ""
	switch {
	case s.Container == ContainerFLAC:
		encoding = "FLAC"
	case s.Container == ContainerSPHERE:
		header = ", NIST SPHERE"
	case s.Extensible:
		header = ", WAVE_FORMAT_EXTENSIBLE"
	}
	channels := "channels"
	if s.Channels == 1 {
		channels = "channel"
	}
	length := fmt.Sprintf("%d frames, %.3f s", s.Frames, s.DurationS)
	switch {
	case s.Streamed && s.Container == ContainerFLAC:
		length += " (streamed: STREAMINFO has no sample count, the frames run to the end)"
	case s.Streamed:
		length += " (streamed: the header has a placeholder size, the data runs to the end)"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "File     : %s\n", s.Path)
	fmt.Fprintf(&b, "Format   : %d-bit %s%s, %d %s, %d Hz\n", s.Bits, encoding, header, s.Channels, channels, s.SampleRate)
	fmt.Fprintf(&b, "Length   : %s\n", length)
	fmt.Fprintf(&b, "Peak     : %.6f (%s)\n", s.Peak, dBFS(s.Peak))
	fmt.Fprintf(&b, "RMS      : %.6f (%s)\n", s.RMS, dBFS(s.RMS))
	fmt.Fprintf(&b, "DC       : %.6f\n", s.DC)
	_, err := io.WriteString(w, b.String())
	return err
}

// encodingName names an Info.Format as sox does.
func encodingName(format string) string {
	switch format {
	case "float":
		return "IEEE float"
	case "ulaw":
		return "μ-law"
	case "alaw":
		return "A-law"
	}
	return "PCM"
}

// dBFS gives a level relative to full scale: "-9.7 dBFS", "-inf dBFS"
// for silence.
func dBFS(v float64) string {
	if v <= 0 {
		return "-inf dBFS"
	}
	return fmt.Sprintf("%.1f dBFS", 20*math.Log10(v))
}

// Describe says in words how s prepares audio, in the order of Apply's
// steps, with the μ-law quantization last: "8000 Hz, channels averaged,
// other rates refused, DC removed, peak scaled to 0.95, μ-law with 256
// classes" for DefaultSettings.
func (s Settings) Describe() string {
	parts := []string{fmt.Sprintf("%d Hz", s.SampleRate)}
	if s.Channel > 0 {
		parts = append(parts, fmt.Sprintf("channel %d", s.Channel))
	} else {
		parts = append(parts, "channels averaged")
	}
	if s.Resample {
		parts = append(parts, "other rates resampled")
	} else {
		parts = append(parts, "other rates refused")
	}
	if s.RemoveDC {
		parts = append(parts, "DC removed")
	}
	switch s.Normalize {
	case NormalizePeak:
		parts = append(parts, fmt.Sprintf("peak scaled to %g", s.PeakLevel))
	case NormalizeRMS:
		parts = append(parts, fmt.Sprintf("RMS scaled to %g (peak at most %g)", s.RMSLevel, s.PeakLevel))
	default:
		parts = append(parts, "level kept")
	}
	if s.TrimDB != 0 {
		parts = append(parts, fmt.Sprintf("trimmed below %g dBFS", s.TrimDB))
	}
	parts = append(parts, fmt.Sprintf("μ-law with %d classes", s.Quantization))
	return strings.Join(parts, ", ")
}
