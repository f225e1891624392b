package modelfile

import (
	"encoding/json"
	"fmt"

	"github.com/nextsample/nextsample/audio/kaldifeat"
	"github.com/nextsample/nextsample/causalconv"
)

// FeaturesMeta returns the KeyFeatures entry of a model conditioned on
// Kaldi features computed with cfg.
func FeaturesMeta(cfg kaldifeat.Config) (string, error) {
	if err := cfg.Validate(); err != nil {
		return "", fmt.Errorf("metadata %q: %w", KeyFeatures, err)
	}
	b, err := json.Marshal(cfg)
	if err != nil {
		return "", err
	}
	return string(b), nil
}

// Features returns the feature settings of a locally conditioned model
// from its file's KeyFeatures entry, checked against its config: as many
// dims, the same hop, window and frame convention as
// causalconv.Config.LocalCondition. It is nil, with no error, for a model
// without local conditioning, and for a locally conditioned model whose
// file records no settings (one built in PyTorch): such a model takes
// only features given to it.
func Features(meta map[string]string, c causalconv.Config) (*kaldifeat.Config, error) {
	lc := c.LocalCondition
	raw, ok := meta[KeyFeatures]
	if lc == nil || !ok {
		return nil, nil
	}
	var cfg kaldifeat.Config
	if err := json.Unmarshal([]byte(raw), &cfg); err != nil {
		return nil, fmt.Errorf("metadata %q: %v", KeyFeatures, err)
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("metadata %q: %w", KeyFeatures, err)
	}
	if cfg.Dim() != lc.Channels || cfg.WindowShift() != lc.Hop || cfg.WindowSize() != lc.Window || cfg.SnipEdges != lc.SnipEdges {
		return nil, fmt.Errorf("metadata %q describes %d dims per %d-sample hop (window %d, snip edges %t); the model takes %d per %d (window %d, snip edges %t)",
			KeyFeatures, cfg.Dim(), cfg.WindowShift(), cfg.WindowSize(), cfg.SnipEdges, lc.Channels, lc.Hop, lc.Window, lc.SnipEdges)
	}
	return &cfg, nil
}
