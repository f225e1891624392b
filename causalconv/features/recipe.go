package features

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"

	"github.com/nextsample/nextsample/audio"
	"github.com/nextsample/nextsample/audio/featio"
	"github.com/nextsample/nextsample/audio/kaldifeat"
	"github.com/nextsample/nextsample/audio/regular"
	"github.com/nextsample/nextsample/causalconv"
	"github.com/nextsample/nextsample/causalconv/modelfile"
)

// A Computer turns one utterance's samples, prepared with its Recipe's
// Settings, into frame features. It is not safe for concurrent use; a
// Recipe makes one per worker.
type Computer interface {
	// Compute appends the utterance's features to dst (frames × Dim
	// values, row-major) and returns the extended slice and the number of
	// frames.
	Compute(dst []float32, samples []float32) ([]float32, int, error)
}

// A Recipe is one kind of features: how audio is prepared, how frames are
// computed from it, and how the result is described in features.json.
// The corpus pipeline (Run, WriteCorpus) is the same for every Recipe.
type Recipe struct {
	// Settings prepare each file's samples (audio.Settings.Load).
	Settings audio.Settings
	// Dim is the number of values per frame.
	Dim int
	// Framing places the frames (for the progress report and the
	// sidecar; the Computer applies it).
	Framing Framing
	// NewComputer returns a Computer for one worker.
	NewComputer func() (Computer, error)
	// Sidecar describes the features; WriteCorpus adds the shard and the
	// featio.Writer the counts.
	Sidecar featio.Sidecar
	// Description says what the features are, for messages: "Kaldi
	// fbank", "learned from m.safetensors (skip, mean pooling)".
	Description string
}

// String describes the features for messages: what they are, their size
// and their frames.
func (r *Recipe) String() string {
	convention := "centred"
	if r.Framing.SnipEdges {
		convention = "snip-edges"
	}
	return fmt.Sprintf("%s, %d dims per frame (%d-sample windows every %d samples at %d Hz, %s)",
		r.Description, r.Dim, r.Framing.Window, r.Framing.Hop, r.Settings.SampleRate, convention)
}

// FrameOptions place frames in milliseconds, as Kaldi's options do:
// LengthMs windows every ShiftMs, snipped at the edges or centred (see
// Framing).
type FrameOptions struct {
	LengthMs, ShiftMs float64
	SnipEdges         bool
}

// LearnedOptions are the choices that learned features of a model file
// leave open.
type LearnedOptions struct {
	// Layers is what each frame holds, a ParseLayers specification
	// ("skip", "z:all", "skip,z:0-9").
	Layers string
	// Pool is PoolMean (default when empty) or PoolMax.
	Pool string
	// Frames place the frames.
	Frames FrameOptions
	// Chunk bounds the positions per network call; 0 means DefaultChunk.
	Chunk int
}

// LearnedRecipe returns the recipe of the learned features of the model
// file mf, whose audio is prepared with s (the model's settings, as
// modelfile.ModelAudio reads them; see Learned). The sidecar records the
// file's path and SHA-256, so the features can be traced to the weights.
func LearnedRecipe(mf *modelfile.File, s audio.Settings, opts LearnedOptions) (*Recipe, error) {
	layers, err := ParseLayers(opts.Layers, mf.Model.Config.Layers())
	if err != nil {
		return nil, err
	}
	fr, err := FramingMs(s.SampleRate, opts.Frames.LengthMs, opts.Frames.ShiftMs, opts.Frames.SnipEdges)
	if err != nil {
		return nil, err
	}
	sum, err := FileSHA256(mf.Path)
	if err != nil {
		return nil, err
	}
	return Learned(mf.Model, s, Options{Layers: layers, Pool: opts.Pool, Framing: fr, Chunk: opts.Chunk}, mf.Path, sum)
}

// Learned returns the recipe of learned features of model m, whose audio
// is prepared with s: the preprocessing stored in the model file, so that
// the network sees audio exactly as in training. One exception: silence
// trimming (s.TrimDB) is turned off, because frame t must stay at t·hop
// samples into the file for the features to line up with the audio, with
// transcripts and with fbank features. modelPath and modelSHA256 (see
// FileSHA256) are recorded in the sidecar.
func Learned(m *causalconv.Model, s audio.Settings, opts Options, modelPath, modelSHA256 string) (*Recipe, error) {
	if m == nil {
		return nil, errors.New("features: nil model")
	}
	s.TrimDB = 0
	if err := s.Validate(); err != nil {
		return nil, fmt.Errorf("features: %w", err)
	}
	if s.Quantization != m.Config.QuantizationChannels {
		return nil, fmt.Errorf("features: audio settings have %d μ-law classes, the model %d", s.Quantization, m.Config.QuantizationChannels)
	}
	w, err := NewWeights(m)
	if err != nil {
		return nil, err
	}
	first, err := NewExtractor(w, opts) // validates opts and fills in the defaults
	if err != nil {
		return nil, err
	}
	opts = first.Options()
	mu := s.MuLaw()
	desc := fmt.Sprintf("learned from %s (%s, %s pooling)", modelPath, opts.Layers, opts.Pool)
	var sha *string
	if modelSHA256 != "" {
		sha = &modelSHA256
	}
	r := &Recipe{
		Settings: s,
		Dim:      first.Dim(),
		Framing:  opts.Framing,
		Sidecar: featio.Sidecar{
			Kind:          featio.KindLearned,
			Model:         modelPath,
			ModelSHA256:   sha,
			Layers:        opts.Layers.Names(),
			Pooling:       opts.Pool,
			SampleRate:    s.SampleRate,
			WindowSamples: opts.Framing.Window,
			HopSamples:    opts.Framing.Hop,
			SnipEdges:     opts.Framing.SnipEdges,
			Dims:          first.Dim(),
		},
		Description: desc,
	}
	// The first extractor (its workspace is the big allocation) goes to
	// the first worker; the others make their own.
	var spare = first
	r.NewComputer = func() (Computer, error) {
		ex := spare
		spare = nil
		if ex == nil {
			if ex, err = NewExtractor(w, opts); err != nil {
				return nil, err
			}
		}
		return &learnedComputer{ex: ex, mu: mu}, nil
	}
	return r, nil
}

// learnedComputer μ-law encodes the samples and runs an Extractor.
type learnedComputer struct {
	ex      *Extractor
	mu      audio.MuLaw
	classes []int32
}

func (c *learnedComputer) SetSpeaker(s int) { c.ex.SetSpeaker(s) }

func (c *learnedComputer) Compute(dst []float32, samples []float32) ([]float32, int, error) {
	if cap(c.classes) < len(samples) {
		c.classes = make([]int32, len(samples))
	}
	x := c.classes[:len(samples)]
	c.mu.Encode(samples, x)
	return c.ex.Compute(dst, x)
}

// Kaldi returns the recipe of Kaldi fbank or MFCC features with the
// configuration cfg, whose SampleFrequency must be s.SampleRate. As in
// Kaldi, the waveform is used as recorded: s should not normalize the
// level (kaldifeat scales samples to int16 units itself, and its energy
// floor is absolute) nor remove DC (each frame's mean is removed).
func Kaldi(cfg kaldifeat.Config, s audio.Settings) (*Recipe, error) {
	if err := s.Validate(); err != nil {
		return nil, fmt.Errorf("features: %w", err)
	}
	if cfg.SampleFrequency != float64(s.SampleRate) {
		return nil, fmt.Errorf("features: %s at %g Hz for audio at %d Hz", cfg.Kind, cfg.SampleFrequency, s.SampleRate)
	}
	first, err := kaldifeat.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("features: %w", err)
	}
	kc := cfg
	r := &Recipe{
		Settings: s,
		Dim:      first.Dim(),
		Framing:  Framing{Window: cfg.WindowSize(), Hop: cfg.WindowShift(), SnipEdges: cfg.SnipEdges},
		Sidecar: featio.Sidecar{
			Kind:          cfg.Kind,
			SampleRate:    s.SampleRate,
			WindowSamples: cfg.WindowSize(),
			HopSamples:    cfg.WindowShift(),
			SnipEdges:     cfg.SnipEdges,
			Dims:          first.Dim(),
			Kaldi:         &kc,
		},
		Description: "Kaldi " + cfg.Kind,
	}
	spare := first
	r.NewComputer = func() (Computer, error) {
		ex := spare
		spare = nil
		if ex == nil {
			if ex, err = kaldifeat.New(cfg); err != nil {
				return nil, err
			}
		}
		return kaldiComputer{ex}, nil
	}
	return r, nil
}

// KaldiOptions are the choices of Kaldi features.
type KaldiOptions struct {
	// Kind is featio.KindFbank or featio.KindMFCC: compute-fbank-feats'
	// or compute-mfcc-feats' defaults (kaldifeat.DefaultFbank,
	// DefaultMFCC) with Frames and Dither.
	Kind string
	// SampleRate is the rate the features are computed at, in Hz.
	SampleRate int
	// Frames place the frames.
	Frames FrameOptions
	// Dither is Gaussian dither in int16 units (Kaldi's default is 1; 0
	// is reproducible).
	Dither float64
	// Resample converts audio at other rates to SampleRate instead of
	// refusing it.
	Resample bool
}

// KaldiRecipe returns the recipe of Kaldi fbank or MFCC features with
// opts, of the waveform as recorded (KaldiSettings).
func KaldiRecipe(opts KaldiOptions) (*Recipe, error) {
	rate := opts.SampleRate
	if rate <= 0 {
		return nil, fmt.Errorf("invalid sample rate %d Hz", rate)
	}
	var cfg kaldifeat.Config
	switch opts.Kind {
	case featio.KindFbank:
		cfg = kaldifeat.DefaultFbank(float64(rate))
	case featio.KindMFCC:
		cfg = kaldifeat.DefaultMFCC(float64(rate))
	default:
		return nil, fmt.Errorf("features: Kaldi features of kind %q, want %s or %s", opts.Kind, featio.KindFbank, featio.KindMFCC)
	}
	cfg.FrameLengthMs, cfg.FrameShiftMs, cfg.SnipEdges = opts.Frames.LengthMs, opts.Frames.ShiftMs, opts.Frames.SnipEdges
	cfg.Dither = opts.Dither
	return Kaldi(cfg, KaldiSettings(rate, opts.Resample))
}

// KaldiSettings is the audio preparation for Kaldi features at rate:
// channels averaged, no DC removal, no normalization, no trimming.
func KaldiSettings(rate int, resample bool) audio.Settings {
	s := audio.DefaultSettings()
	s.SampleRate = rate
	s.Resample = resample
	s.RemoveDC = false
	s.Normalize = audio.NormalizeNone
	s.TrimDB = 0
	return s
}

type kaldiComputer struct{ ex *kaldifeat.Extractor }

func (c kaldiComputer) Compute(dst []float32, samples []float32) ([]float32, int, error) {
	dst, n := c.ex.Compute(dst, samples)
	return dst, n, nil
}

// FileSHA256 returns the hex SHA-256 of a file's bytes, as recorded in
// features.json for the model file.
func FileSHA256(path string) (string, error) {
	f, err := regular.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("hashing %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
