package train

import (
	"encoding/json"
	"fmt"

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
