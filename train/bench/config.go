package bench

import (
	"encoding/json"
	"fmt"
	"regexp"

	"github.com/nextsample/nextsample/audio/regular"
	"github.com/nextsample/nextsample/causalconv"
	"github.com/nextsample/nextsample/train"
)

// Config is a whole configuration file of the reference benchmark
// (format causalconv.ConfigFormat, "wavenet-bench-config/v1"): the model
// and its variants, as causalconv.ParseConfig reads them, and the
// sections that say what to measure and how. One file configures both
// implementations, so each section mirrors a part of the reference's
// torch_wavenet.py.
type Config struct {
	causalconv.ConfigFile
	Train    Train          `json:"train"`
	Generate Generate       `json:"generate"`
	Data     map[string]any `json:"data"`
	Runtime  Runtime        `json:"runtime"`

	// Path is the file LoadConfig read the configuration from; "" when
	// it was parsed from bytes. A Reference's scripts are given this
	// file, or a temporary copy of data when there is none.
	Path string `json:"-"`
	data []byte // the configuration file as parsed
}

// Train is the "train" section: the optimizer of the training steps, the
// batch shapes to measure, and how long to measure each.
type Train struct {
	Optimizer    string  `json:"optimizer"` // train.Adam (the default) or train.SGD
	LearningRate float64 `json:"learning_rate"`
	Beta1        float64 `json:"beta1"`
	Beta2        float64 `json:"beta2"`
	Epsilon      float64 `json:"epsilon"`
	WeightDecay  float64 `json:"weight_decay"`
	Shapes       []Shape `json:"shapes"`
	// WarmupSteps are run untimed; then steps are timed until there are
	// at least MinSteps and MinSeconds have passed.
	WarmupSteps int     `json:"warmup_steps"`
	MinSteps    int     `json:"min_steps"`
	MinSeconds  float64 `json:"min_seconds"`
}

// Shape is one training measurement: Batch sequences of Samples steps.
type Shape struct {
	Batch   int `json:"batch"`
	Samples int `json:"samples"`
}

// Generate is the "generate" section: Batch streams generated together
// at Temperature (0 means 1), naive generation timed per sample after
// NaiveWarmupSamples, and queue-cached ("fast") generation timed in
// blocks of FastBlockSamples after FastWarmupSamples.
type Generate struct {
	Batch              int     `json:"batch"`
	Temperature        float64 `json:"temperature"`
	NaiveWarmupSamples int     `json:"naive_warmup_samples"`
	NaiveSamples       int     `json:"naive_samples"`
	FastWarmupSamples  int     `json:"fast_warmup_samples"`
	FastSamples        int     `json:"fast_samples"`
	FastBlockSamples   int     `json:"fast_block_samples"`
}

// Runtime is the "runtime" section: the defaults of Options.Threads and
// Options.Statistic, and the seed of the random weights and signals.
type Runtime struct {
	Threads   int    `json:"threads"`
	Seed      int64  `json:"seed"`
	Statistic string `json:"statistic"`
}

// sections are the parts of a configuration file that this package reads
// beyond the model.
type sections struct {
	Train    Train          `json:"train"`
	Generate Generate       `json:"generate"`
	Data     map[string]any `json:"data"`
	Runtime  Runtime        `json:"runtime"`
}

// ParseConfig reads a whole configuration file, or a bare model object
// (whose sections are then all zero; see causalconv.ParseConfig). The
// optimizer must be adam, sgd or absent.
func ParseConfig(data []byte) (*Config, error) {
	cf, err := causalconv.ParseConfig(data)
	if err != nil {
		return nil, err
	}
	var s sections
	if err := json.Unmarshal(data, &s); err != nil {
		return nil, err
	}
	if o := s.Train.Optimizer; o != "" && o != train.Adam && o != train.SGD {
		return nil, fmt.Errorf("train.optimizer %q: must be %s or %s", o, train.Adam, train.SGD)
	}
	return &Config{ConfigFile: *cf, Train: s.Train, Generate: s.Generate, Data: s.Data, Runtime: s.Runtime, data: data}, nil
}

// LoadConfig reads and parses a configuration file; see ParseConfig.
func LoadConfig(path string) (*Config, error) {
	data, err := regular.ReadFile(path)
	if err != nil {
		return nil, err
	}
	c, err := ParseConfig(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	c.Path = path
	return c, nil
}

// Names lists the measurements of c in the reference's order (per
// variant: the training shapes, naive and fast generation), then ours
// alone (vocoding and features of every variant, then the filterbank).
func (c *Config) Names() []string {
	var out []string
	for _, v := range c.Variants {
		for _, s := range c.Train.Shapes {
			out = append(out, trainName(v, s))
		}
		out = append(out, "gen_naive_"+v.Name, "gen_fast_"+v.Name)
	}
	for _, v := range c.Variants {
		out = append(out, "vocode_"+v.Name)
	}
	for _, v := range c.Variants {
		out = append(out, "features_"+v.Name)
	}
	return append(out, "features_fbank")
}

// Select returns the measurements of c whose names only matches, in the
// order of Names; all of them when only is nil.
func (c *Config) Select(only *regexp.Regexp) []string {
	var out []string
	for _, n := range c.Names() {
		if only == nil || only.MatchString(n) {
			out = append(out, n)
		}
	}
	return out
}

// trainName is the name of the training measurement of variant v and
// shape s.
func trainName(v causalconv.Variant, s Shape) string {
	return fmt.Sprintf("train_%s_b%dx%d", v.Name, s.Batch, s.Samples)
}

// SampleRate is the rate of the synthetic signal: data.sample_rate, or
// 16000.
func (c *Config) SampleRate() int {
	if r, ok := c.Data["sample_rate"].(float64); ok && r >= 1 {
		return int(r)
	}
	return 16000
}

// Seed is runtime.seed, the seed of the random weights and signals.
func (c *Config) Seed() uint64 { return uint64(c.Runtime.Seed) }
