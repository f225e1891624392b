package modelfile

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"

	"github.com/nextsample/nextsample/audio"
	"github.com/nextsample/nextsample/causalconv"
)

// AudioMeta returns the KeyAudio entry for s.
func AudioMeta(s audio.Settings) (string, error) {
	if err := s.Validate(); err != nil {
		return "", err
	}
	b, err := json.Marshal(s)
	return string(b), err
}

// AudioSettings returns the preprocessing stored in a model file's
// KeyAudio entry, checked against the model: the μ-law class count must be
// the model's quantization_channels.
func AudioSettings(meta map[string]string, model *causalconv.Model) (audio.Settings, error) {
	raw, ok := meta[KeyAudio]
	if !ok {
		return audio.Settings{}, fmt.Errorf("no %q entry in the metadata: the model does not say how its audio was prepared", KeyAudio)
	}
	var s audio.Settings
	if err := json.Unmarshal([]byte(raw), &s); err != nil {
		return audio.Settings{}, fmt.Errorf("metadata %q: %w", KeyAudio, err)
	}
	if err := s.Validate(); err != nil {
		return audio.Settings{}, fmt.Errorf("metadata %q: %w", KeyAudio, err)
	}
	if q := model.Config.QuantizationChannels; s.Quantization != q {
		return audio.Settings{}, fmt.Errorf("metadata %q: %d μ-law classes, but the model predicts %d", KeyAudio, s.Quantization, q)
	}
	return s, nil
}

// AudioChanges are the audio settings a user asks for, to apply over
// others: a new run's defaults, or a model file's own settings in
// Convert. A nil field is not given and leaves its setting as it is.
type AudioChanges struct {
	SampleRate *int
	Resample   *bool
	Channel    *int
	Normalize  *string
	TrimDB     *float64
}

// Apply returns s with the given settings set.
func (c AudioChanges) Apply(s audio.Settings) audio.Settings {
	set(&s.SampleRate, c.SampleRate)
	set(&s.Resample, c.Resample)
	set(&s.Channel, c.Channel)
	set(&s.Normalize, c.Normalize)
	set(&s.TrimDB, c.TrimDB)
	return s
}

// rate returns the given sample rate, 0 if none.
func (c AudioChanges) rate() int {
	if c.SampleRate == nil {
		return 0
	}
	return *c.SampleRate
}

// set sets *dst to *v when v is given.
func set[T any](dst, v *T) {
	if v != nil {
		*dst = *v
	}
}

// ReferenceSettings is the preprocessing of the PyTorch reference
// (../shared/bench/README.md): channels averaged, DC removed, peak scaled
// to 0.95, μ-law with q classes, at rate Hz, no resampling or trimming. It
// is what a model file without KeyAudio is taken to expect.
func ReferenceSettings(rate, q int) audio.Settings {
	s := audio.DefaultSettings()
	s.SampleRate, s.Quantization = rate, q
	return s
}

// ErrNoSampleRate is in the chain of an error about a model whose sample
// rate nothing records (a PyTorch state_dict, a file without KeyAudio or
// KeySampleRate) when the caller gave none either; a command adds how to
// give it.
var ErrNoSampleRate = errors.New("the model's sample rate is unknown")

// RateConflictError is ModelAudio's error when the caller gives a rate
// and the file records another.
type RateConflictError struct {
	// Key is where the file records its rate: KeyAudio or KeySampleRate.
	Key string
	// Recorded is the file's rate in Hz, Given the caller's.
	Recorded, Given int
}

func (e *RateConflictError) Error() string {
	if e.Key == KeyAudio {
		return fmt.Sprintf("the model was trained at %d Hz (its %q metadata), not the %d Hz given", e.Recorded, e.Key, e.Given)
	}
	return fmt.Sprintf("metadata %q says %d Hz, but %d Hz was given", e.Key, e.Recorded, e.Given)
}

// Assumed says which preprocessing ModelAudio took for a file without a
// KeyAudio entry, for a caller to tell the user once.
type Assumed struct {
	// Settings are ReferenceSettings at the model's rate.
	Settings audio.Settings
	// FromMetadata says the rate came from the file's KeySampleRate
	// entry; otherwise from the caller.
	FromMetadata bool
}

// Describe says in one line what was assumed; given names the caller's
// rate, for settings at a rate the caller gave (a command's flag, say).
func (a *Assumed) Describe(given string) string {
	from := given
	if a.FromMetadata {
		from = fmt.Sprintf("its %q metadata", KeySampleRate)
	}
	return fmt.Sprintf("no %q metadata: assuming the reference preprocessing (channels averaged, DC removed, peak scaled to %.2f, μ-law with %d classes) at %d Hz (from %s)",
		KeyAudio, a.Settings.PeakLevel, a.Settings.Quantization, a.Settings.SampleRate, from)
}

// ModelAudio returns the preprocessing a model file asks for. With a
// KeyAudio entry that is AudioSettings; rate, if not 0, must then agree
// with it (else a *RateConflictError). Without one (a file exported from
// PyTorch) it is ReferenceSettings at the rate of the KeySampleRate entry,
// else at rate (which a command takes from its user), else an error with
// ErrNoSampleRate in its chain; assumed then says what was taken. A
// KeySampleRate entry that is not a positive integer is an error.
func ModelAudio(meta map[string]string, model *causalconv.Model, rate int) (s audio.Settings, assumed *Assumed, err error) {
	if rate < 0 {
		return audio.Settings{}, nil, fmt.Errorf("sample rate %d Hz: want a positive rate", rate)
	}
	if _, ok := meta[KeyAudio]; ok {
		s, err := AudioSettings(meta, model)
		if err != nil {
			return audio.Settings{}, nil, err
		}
		if rate != 0 && rate != s.SampleRate {
			return audio.Settings{}, nil, &RateConflictError{Key: KeyAudio, Recorded: s.SampleRate, Given: rate}
		}
		return s, nil, nil
	}
	fromMeta := false
	if raw, ok := meta[KeySampleRate]; ok {
		r, err := strconv.Atoi(raw)
		if err != nil || r <= 0 || r > math.MaxInt32 || strconv.Itoa(r) != raw {
			return audio.Settings{}, nil, fmt.Errorf("metadata %q is %q, not a positive whole number of Hz", KeySampleRate, raw)
		}
		if rate != 0 && rate != r {
			return audio.Settings{}, nil, &RateConflictError{Key: KeySampleRate, Recorded: r, Given: rate}
		}
		rate, fromMeta = r, true
	}
	if rate == 0 {
		return audio.Settings{}, nil, fmt.Errorf("no %q or %q entry in the metadata, so %w", KeyAudio, KeySampleRate, ErrNoSampleRate)
	}
	s = ReferenceSettings(rate, model.Config.QuantizationChannels)
	if err := s.Validate(); err != nil {
		return audio.Settings{}, nil, err
	}
	return s, &Assumed{Settings: s, FromMetadata: fromMeta}, nil
}
