package audio

import (
	"context"
	"fmt"
	"math"
	"slices"

	"github.com/nextsample/nextsample/audio/inflight"
)

// Normalization modes of Settings.Normalize.
const (
	NormalizePeak = "peak" // scale the largest |sample| to PeakLevel
	NormalizeRMS  = "rms"  // scale the RMS to RMSLevel, but the peak no higher than PeakLevel
	NormalizeNone = "none" // keep the level as recorded
)

// Settings is the preprocessing between a WAV file and the samples a
// model sees. A model file stores the Settings it was trained with, and
// training data, evaluation data, generation prompts (LoadPrompt) and
// feature extraction all go through the same Apply, so the model never
// sees audio prepared differently from what it learned on.
//
// The steps, in order: pick or average the channels; resample to
// SampleRate, or refuse a file at another rate; remove the mean (DC);
// normalize the level; trim leading and trailing silence.
type Settings struct {
	SampleRate int  `json:"sample_rate"` // Hz, the model's rate
	Channel    int  `json:"channel"`     // 0 (or negative): average all channels; k ≥ 1: channel k only
	Resample   bool `json:"resample"`    // convert other rates (Kaldi-style windowed sinc) instead of refusing them
	RemoveDC   bool `json:"remove_dc"`   // subtract the file's mean before normalizing

	Normalize string  `json:"normalize"`  // NormalizePeak, NormalizeRMS or NormalizeNone
	PeakLevel float64 `json:"peak_level"` // target peak for "peak", and the ceiling for "rms"; in (0, 1]
	RMSLevel  float64 `json:"rms_level"`  // target RMS for "rms"; in (0, 1]; 0.1 is -20 dBFS

	// TrimDB trims leading and trailing 10 ms frames whose RMS is below
	// this level in dBFS, measured after normalization; 0 turns trimming
	// off. A file with no frame above it is an error, never an empty clip.
	TrimDB float64 `json:"trim_db"`

	Quantization int `json:"quantization"` // μ-law classes (μ = Quantization-1)
}

// DefaultSettings is what nextsample uses unless told otherwise: 8 kHz
// (the rate of the bundled samples and FSDD), channels averaged, no
// resampling, mean removed, peak normalized to 0.95, no trimming, 256
// μ-law classes.
func DefaultSettings() Settings {
	return Settings{
		SampleRate:   8000,
		RemoveDC:     true,
		Normalize:    NormalizePeak,
		PeakLevel:    0.95,
		RMSLevel:     0.1,
		Quantization: 256,
	}
}

// Validate reports settings that Apply cannot follow.
func (s Settings) Validate() error {
	switch {
	case s.SampleRate <= 0 || s.SampleRate > math.MaxInt32:
		return fmt.Errorf("audio settings: invalid sample rate %d", s.SampleRate)
	case !slices.Contains([]string{NormalizePeak, NormalizeRMS, NormalizeNone}, s.Normalize):
		return fmt.Errorf("audio settings: normalization %q, want peak, rms or none", s.Normalize)
	case s.Normalize != NormalizeNone && !(s.PeakLevel > 0 && s.PeakLevel <= 1):
		return fmt.Errorf("audio settings: peak level %g, want a value in (0, 1]", s.PeakLevel)
	case s.Normalize == NormalizeRMS && !(s.RMSLevel > 0 && s.RMSLevel <= 1):
		return fmt.Errorf("audio settings: RMS level %g, want a value in (0, 1]", s.RMSLevel)
	case !(s.TrimDB <= 0 && s.TrimDB > -200):
		return fmt.Errorf("audio settings: trim threshold %g dBFS, want 0 (off) or a negative level", s.TrimDB)
	}
	return s.MuLaw().Validate()
}

// MuLaw is the companding the settings call for.
func (s Settings) MuLaw() MuLaw { return MuLaw{Q: s.Quantization} }

// A Report says what Apply did to one file.
type Report struct {
	Info         Info    // the file as stored
	Resampled    bool    // converted from Info.SampleRate to the settings' rate
	DC           float64 // the mean that was subtracted (0 when RemoveDC is off)
	Gain         float64 // the normalization factor (1 for "none" and for silence)
	TrimmedStart int     // samples cut from the start by trimming, at the settings' rate
	TrimmedEnd   int     // samples cut from the end
	Samples      int     // samples left
}

// Load decodes the WAV file at path ("-" for standard input) and applies
// the settings.
func (s Settings) Load(path string) ([]float32, Report, error) {
	clip, err := ReadFile(path, DecodeOptions{Channel: s.Channel})
	if err != nil {
		return nil, Report{Info: clipInfo(clip)}, err
	}
	return s.Apply(clip)
}

func clipInfo(c *Clip) Info {
	if c == nil {
		return Info{}
	}
	return c.Info
}

// Apply turns a decoded clip into the model's samples. The clip must have
// been decoded with DecodeOptions{Channel: s.Channel}; its samples are
// not modified. Errors name the clip.
func (s Settings) Apply(clip *Clip) ([]float32, Report, error) {
	rep := Report{Info: clip.Info, Gain: 1}
	if err := s.Validate(); err != nil {
		return nil, rep, err
	}
	if len(clip.Samples) == 0 {
		return nil, rep, fmt.Errorf("%s: no samples", clip.Name)
	}
	var x []float32
	if rate := clip.Info.SampleRate; rate != s.SampleRate {
		if !s.Resample {
			return nil, rep, &RateError{Name: clip.Name, Rate: rate, Want: s.SampleRate}
		}
		r, err := NewResampler(rate, s.SampleRate)
		if err != nil {
			return nil, rep, fmt.Errorf("%s: %w", clip.Name, err)
		}
		x = r.Resample(clip.Samples)
		rep.Resampled = true
	} else {
		x = slices.Clone(clip.Samples)
	}
	if s.RemoveDC {
		rep.DC = Measure(x).DC
		for i := range x {
			x[i] = float32(float64(x[i]) - rep.DC)
		}
	}
	if s.Normalize != NormalizeNone {
		st := Measure(x)
		if st.Peak > 0 { // silence stays silence: no 0/0
			rep.Gain = s.PeakLevel / st.Peak
			if s.Normalize == NormalizeRMS {
				rep.Gain = min(s.RMSLevel/st.RMS, rep.Gain)
			}
			for i := range x {
				x[i] = float32(float64(x[i]) * rep.Gain)
			}
		}
	}
	if s.TrimDB < 0 {
		start, end, ok := loudSpan(x, s.SampleRate, s.TrimDB)
		if !ok {
			return nil, rep, fmt.Errorf("%s: every 10 ms frame is below the %g dBFS trim threshold; nothing would be left", clip.Name, s.TrimDB)
		}
		rep.TrimmedStart, rep.TrimmedEnd = start, len(x)-end
		x = x[start:end]
	}
	rep.Samples = len(x)
	return x, rep, nil
}

// loudSpan finds the samples from the first to the last 10 ms frame whose
// RMS reaches thresholdDB (dBFS); ok is false if no frame does.
func loudSpan(x []float32, rate int, thresholdDB float64) (start, end int, ok bool) {
	frame := max(1, rate/100)
	limit := math.Pow(10, thresholdDB/10) // mean square at the threshold
	loud := func(f int) bool {
		seg := x[f*frame : min(len(x), (f+1)*frame)]
		var ss float64
		for _, v := range seg {
			ss += float64(v) * float64(v)
		}
		return ss/float64(len(seg)) >= limit
	}
	frames := (len(x) + frame - 1) / frame
	first := 0
	for first < frames && !loud(first) {
		first++
	}
	if first == frames {
		return 0, 0, false
	}
	last := frames - 1
	for !loud(last) {
		last--
	}
	return first * frame, min(len(x), (last+1)*frame), true
}

// A Prompt is a recording prepared as the start of generated audio: the
// settings applied (Load), then μ-law quantized, so that a model is
// prompted with audio prepared exactly as its training data were.
// Generation continues Classes; its output starts with Samples, the
// prompt as the model heard it. Make one with LoadPrompt or SilentPrompt.
type Prompt struct {
	// Classes are the μ-law classes the model reads: the recording's, or
	// for a silent prompt one silence class.
	Classes []int32
	// Samples are the centres of Classes, the prompt as the model heard
	// it; empty for a silent prompt, whose one class is not output.
	Samples []float32
	// Report says what the settings did to the recording (the zero
	// Report for a silent prompt).
	Report Report
	// Rate is the settings' sample rate, in Hz.
	Rate int
	// MuLaw is the companding of Classes.
	MuLaw MuLaw
}

// SilentPrompt is the prompt of generation from silence: one silence
// class as the first input, on queues that are zero as the forward pass's
// padding is. It is not output.
func (s Settings) SilentPrompt() *Prompt {
	mu := s.MuLaw()
	return &Prompt{Classes: []int32{mu.Silence()}, Rate: s.SampleRate, MuLaw: mu}
}

// LoadPrompt reads the recording at path ("-" for standard input) as
// Load does and quantizes it. The read is recorded in ctx's inflight.Set,
// if it carries one: standard input may keep it waiting.
func (s Settings) LoadPrompt(ctx context.Context, path string) (*Prompt, error) {
	name := path
	if path == "-" {
		name = "from standard input"
	}
	leave := inflight.Enter(ctx, "reading the prompt "+name, nil)
	x, rep, err := s.Load(path)
	leave()
	if err != nil {
		return nil, err
	}
	p := &Prompt{Classes: make([]int32, len(x)), Samples: make([]float32, len(x)), Report: rep, Rate: s.SampleRate, MuLaw: s.MuLaw()}
	p.MuLaw.Encode(x, p.Classes)
	p.MuLaw.Decode(p.Classes, p.Samples)
	return p, nil
}

// Then returns the audio of the prompt followed by a continuation of it:
// Samples, then the centres of the continuation's classes.
func (p *Prompt) Then(classes []int32) []float32 {
	out := make([]float32, len(p.Samples)+len(classes))
	copy(out, p.Samples)
	p.MuLaw.Decode(classes, out[len(p.Samples):])
	return out
}

// Describe says what the prompt is, for messages: its length, what the
// settings changed (resampling, trimming), and, when it is longer than
// the receptive field of the model it prompts, that only the last
// receptiveField samples condition the continuation.
func (p *Prompt) Describe(receptiveField int) string {
	n := len(p.Samples)
	how := ""
	if p.Report.Resampled {
		how = fmt.Sprintf(", resampled from %d Hz", p.Report.Info.SampleRate)
	}
	if trimmed := p.Report.TrimmedStart + p.Report.TrimmedEnd; trimmed > 0 {
		how += fmt.Sprintf(", %d silent samples trimmed", trimmed)
	}
	if n > receptiveField {
		how += fmt.Sprintf("; the last %d (the receptive field) condition the continuation", receptiveField)
	}
	return fmt.Sprintf("%d samples, %.2f s at %d Hz%s", n, float64(n)/float64(p.Rate), p.Rate, how)
}

// A RateError is a recording at another sample rate than the settings'
// while Settings.Resample is off. A program tells its user how to turn
// resampling on (the command line: --resample).
type RateError struct {
	Name       string // the recording
	Rate, Want int    // its rate and the settings', in Hz
}

func (e *RateError) Error() string {
	return fmt.Sprintf("%s: sample rate is %d Hz but the model's is %d Hz (resampling is off)", e.Name, e.Rate, e.Want)
}
