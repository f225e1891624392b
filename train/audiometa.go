package train

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"

	"github.com/nextsample/nextsample/audio"
	"github.com/nextsample/nextsample/causalconv"
)

// MetaAudio is the metadata key under which a model file keeps the
// audio.Settings (sample rate, channel, resampling, DC removal,
// normalization, trimming and μ-law classes) it was trained with, as JSON.
// eval, generate and features read it back with AudioSettings, so every
// command prepares audio exactly as training did.
const MetaAudio = "audio"

// AudioMeta returns the metadata entry for s.
func AudioMeta(s audio.Settings) (string, error) {
	if err := s.Validate(); err != nil {
		return "", err
	}
	b, err := json.Marshal(s)
	return string(b), err
}

// AudioSettings returns the preprocessing stored in a model file's
// metadata, checked against the model: the μ-law class count must be the
// model's quantization_channels.
func AudioSettings(meta map[string]string, model *causalconv.Model) (audio.Settings, error) {
	raw, ok := meta[MetaAudio]
	if !ok {
		return audio.Settings{}, fmt.Errorf("no %q entry in the metadata: the model does not say how its audio was prepared", MetaAudio)
	}
	var s audio.Settings
	if err := json.Unmarshal([]byte(raw), &s); err != nil {
		return audio.Settings{}, fmt.Errorf("metadata %q: %w", MetaAudio, err)
	}
	if err := s.Validate(); err != nil {
		return audio.Settings{}, fmt.Errorf("metadata %q: %w", MetaAudio, err)
	}
	if q := model.Config.QuantizationChannels; s.Quantization != q {
		return audio.Settings{}, fmt.Errorf("metadata %q: %d μ-law classes, but the model predicts %d", MetaAudio, s.Quantization, q)
	}
	return s, nil
}

// MetaSampleRate is the metadata key a PyTorch user writes beside
// MetadataModel when exporting a model (safetensors.torch.save_file(
// model.state_dict(), path, {"model": ..., "sample_rate": "8000"})): the
// model's rate in Hz, as a decimal integer. It is read only when the file
// has no MetaAudio entry.
const MetaSampleRate = "sample_rate"

// ReferenceSettings is the preprocessing of the PyTorch reference
// (../shared/bench/README.md): channels averaged, DC removed, peak scaled
// to 0.95, μ-law with q classes, at rate Hz, no resampling or trimming. It
// is what a model file without MetaAudio is taken to expect.
func ReferenceSettings(rate, q int) audio.Settings {
	s := audio.DefaultSettings()
	s.SampleRate, s.Quantization = rate, q
	return s
}

// ModelAudio returns the preprocessing a model file asks for. With a
// MetaAudio entry that is AudioSettings; rate, if not 0, must then agree
// with it. Without one (a file exported from PyTorch) it is
// ReferenceSettings at the rate of the MetaSampleRate entry, else at rate
// (a command's --sample-rate), else an error that says to give
// --sample-rate; assumed then describes the settings taken, for the
// caller to print once. A MetaSampleRate entry that is not a positive
// integer is an error.
func ModelAudio(meta map[string]string, model *causalconv.Model, rate int) (s audio.Settings, assumed string, err error) {
	if rate < 0 {
		return audio.Settings{}, "", fmt.Errorf("--sample-rate %d: want a positive rate in Hz", rate)
	}
	if _, ok := meta[MetaAudio]; ok {
		s, err := AudioSettings(meta, model)
		if err != nil {
			return audio.Settings{}, "", err
		}
		if rate != 0 && rate != s.SampleRate {
			return audio.Settings{}, "", fmt.Errorf("the model was trained at %d Hz (its %q metadata), not the --sample-rate %d given; --sample-rate is only for models that do not record their preprocessing", s.SampleRate, MetaAudio, rate)
		}
		return s, "", nil
	}
	from := "--sample-rate"
	if raw, ok := meta[MetaSampleRate]; ok {
		r, err := strconv.Atoi(raw)
		if err != nil || r <= 0 || r > math.MaxInt32 || strconv.Itoa(r) != raw {
			return audio.Settings{}, "", fmt.Errorf("metadata %q is %q, not a positive whole number of Hz", MetaSampleRate, raw)
		}
		if rate != 0 && rate != r {
			return audio.Settings{}, "", fmt.Errorf("metadata %q says %d Hz, but --sample-rate %d was given", MetaSampleRate, r, rate)
		}
		rate, from = r, fmt.Sprintf("its %q metadata", MetaSampleRate)
	}
	if rate == 0 {
		return audio.Settings{}, "", fmt.Errorf("no %q or %q entry in the metadata, so the model's sample rate is unknown: give it with --sample-rate HZ", MetaAudio, MetaSampleRate)
	}
	s = ReferenceSettings(rate, model.Config.QuantizationChannels)
	if err := s.Validate(); err != nil {
		return audio.Settings{}, "", err
	}
	assumed = fmt.Sprintf("no %q metadata: assuming the reference preprocessing (channels averaged, DC removed, peak scaled to %.2f, μ-law with %d classes) at %d Hz (from %s)",
		MetaAudio, s.PeakLevel, s.Quantization, rate, from)
	return s, assumed, nil
}

// MetaSpeakers is the model-file metadata key of a speaker-conditioned
// model's speaker table: a JSON list of the speaker names, in the order of
// the rows of gc_embedding.weight.
const MetaSpeakers = "speakers"

// ModelSpeakers returns the speaker table of a conditioned model from its
// file's metadata, checked against its config; nil for an unconditioned
// model.
func ModelSpeakers(meta map[string]string, c causalconv.Config) ([]string, error) {
	n := c.Speakers()
	raw, ok := meta[MetaSpeakers]
	if n == 0 {
		return nil, nil
	}
	if !ok {
		return nil, fmt.Errorf("the model is conditioned on %d speakers but its metadata has no %q list", n, MetaSpeakers)
	}
	var names []string
	if err := json.Unmarshal([]byte(raw), &names); err != nil {
		return nil, fmt.Errorf("metadata %q: %v", MetaSpeakers, err)
	}
	if len(names) != n {
		return nil, fmt.Errorf("metadata %q names %d speakers, the model's table has %d", MetaSpeakers, len(names), n)
	}
	seen := map[string]bool{}
	for _, s := range names {
		if s == "" || seen[s] {
			return nil, fmt.Errorf("metadata %q: empty or repeated speaker %q", MetaSpeakers, s)
		}
		seen[s] = true
	}
	return names, nil
}
