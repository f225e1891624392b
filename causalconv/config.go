package causalconv

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/nextsample/nextsample/audio/regular"
)

// Config is the architecture of a network. Its JSON form is the "model" object
// of the reference benchmark's config.json (format "wavenet-bench-config/v1"),
// so one file configures both implementations.
type Config struct {
	// QuantizationChannels is Q, the number of μ-law classes and the softmax
	// width; μ = Q-1.
	QuantizationChannels int `json:"quantization_channels"`
	// InputEncoding is "onehot" (a causal conv of width InputKernelSize over
	// one-hot classes) or "embedding" (a lookup plus bias; needs
	// InputKernelSize 1). Both are computed as a column gather.
	InputEncoding   string `json:"input_encoding"`
	InputKernelSize int    `json:"input_kernel_size"`
	// ResidualChannels (R), DilationChannels (D), SkipChannels (S) and
	// EndChannels (E) are the widths of the residual stream, the gated
	// activations, the skip sum and the hidden layer of the output head.
	ResidualChannels int `json:"residual_channels"`
	DilationChannels int `json:"dilation_channels"`
	SkipChannels     int `json:"skip_channels"`
	EndChannels      int `json:"end_channels"`
	// KernelSize is K, the width of every dilated conv: the output at t sees
	// the layer input at t-(K-1)d, ..., t-d, t.
	KernelSize int `json:"kernel_size"`
	// Dilations lists one dilation per layer, first layer first.
	Dilations []int `json:"dilations"`
	// Bias gives every conv a bias.
	Bias bool `json:"bias"`
	// ResidualOnLastLayer gives the last layer a residual 1x1 conv too; its
	// output is unused, so the reference sets it false.
	ResidualOnLastLayer bool `json:"residual_on_last_layer"`
	// GlobalCondition, when set, conditions the model on one of
	// Cardinality speakers (WaveNet's global conditioning): speaker s has
	// the embedding e_s = gc_embedding.weight[s] of Channels values, and
	// every layer i adds W_gc,i·e_s (filter_gate_gc.{i}.weight, [2D, G, 1],
	// no bias) to its dilated convolution's output [f; g] before the gate.
	// Nil is today's unconditioned model.
	GlobalCondition *GlobalCondition `json:"global_condition,omitempty"`
	// LocalCondition, when set, conditions the model on a frame-rate
	// feature sequence (WaveNet's local conditioning, as a vocoder): the
	// features go through an upsampling network to one C-vector per
	// sample, and every layer i adds W_lc,i·(that vector)
	// (filter_gate_lc.{i}.weight, [2D, C, 1], no bias) to [f; g] before
	// the gate, beside the speaker term. Nil is a model without it; see
	// LocalCondition and lcond.go.
	LocalCondition *LocalCondition `json:"local_condition,omitempty"`
}

// GlobalCondition is the size of a conditioned model's speaker table: G
// embedding channels and C speakers.
type GlobalCondition struct {
	Channels    int `json:"channels"`
	Cardinality int `json:"cardinality"`
}

// LocalCondition is a locally conditioned model's features and the
// network that brings them to the sample rate (r9y9/wavenet_vocoder's
// ConvInUpsampleNetwork). The features are C values per frame, one frame
// every Hop samples; frame k is Kaldi's: with SnipEdges it covers samples
// [k·Hop, k·Hop+Window), without it is centred on k·Hop + Hop/2. The
// network normalises them ((x − Mean)/Std per channel), convolves them
// over 2·Context+1 frames (lc_conv_in, replicate-padded at the ends),
// then per stage j stretches them by UpsampleScales[j] (each column
// repeated) and smooths them with one shared kernel of 2s+1 taps
// (lc_upsample.j): the scales multiply to Hop, so the result has one
// column per sample. Input position t, which predicts sample start+t+1 of
// the utterance, reads column start+t+1−off, clamped to the columns there
// are, with off = (Window−Hop)/2 (rounded down) with SnipEdges and 0
// without: the predicted sample falls in the middle Hop samples of its
// frame's window. See lcond.go for the computation.
type LocalCondition struct {
	// Channels is C, the feature dimensions per frame.
	Channels int `json:"channels"`
	// Hop is H, the samples per frame; Window is the analysis window in
	// samples; SnipEdges is Kaldi's frame convention.
	Hop       int  `json:"hop"`
	Window    int  `json:"window"`
	SnipEdges bool `json:"snip_edges"`
	// Context is P: lc_conv_in reaches P frames each side.
	Context int `json:"context"`
	// UpsampleScales are the stretch factors of the stages, first stage
	// first; their product is Hop.
	UpsampleScales []int `json:"upsample_scales"`
	// Mean and Std normalise the features (train-set statistics), one
	// per channel; absent, they are 0 and 1.
	Mean []float64 `json:"mean,omitempty"`
	Std  []float64 `json:"std,omitempty"`
}

// Equal reports whether l and o describe the same conditioning, field by
// field (Mean and Std element by element). Two nil ones are equal.
func (l *LocalCondition) Equal(o *LocalCondition) bool {
	if l == nil || o == nil {
		return l == o
	}
	return l.Channels == o.Channels && l.Hop == o.Hop && l.Window == o.Window && l.SnipEdges == o.SnipEdges &&
		l.Context == o.Context && slices.Equal(l.UpsampleScales, o.UpsampleScales) &&
		slices.Equal(l.Mean, o.Mean) && slices.Equal(l.Std, o.Std)
}

// Clone returns a deep copy of l (nil for nil).
func (l *LocalCondition) Clone() *LocalCondition {
	if l == nil {
		return nil
	}
	c := *l
	c.UpsampleScales = slices.Clone(l.UpsampleScales)
	c.Mean = slices.Clone(l.Mean)
	c.Std = slices.Clone(l.Std)
	return &c
}

// offset is how many samples the alignment moves the stretched frames
// later: (Window−Hop)/2 rounded down with SnipEdges, 0 without.
func (l *LocalCondition) offset() int {
	if !l.SnipEdges {
		return 0
	}
	d := l.Window - l.Hop
	if d < 0 {
		return -((1 - d) / 2) // floor division, as Python's //
	}
	return d / 2
}

// validate reports the first thing wrong with l, or nil.
func (l *LocalCondition) validate() error {
	for _, v := range []struct {
		name      string
		v, lo, hi int
	}{
		{"channels", l.Channels, 1, maxChannels},
		{"hop", l.Hop, 1, maxHop},
		{"window", l.Window, 1, maxHop * 16},
		{"context", l.Context, 0, 64},
	} {
		if v.v < v.lo || v.v > v.hi {
			return fmt.Errorf("model.local_condition.%s = %d: must be between %d and %d", v.name, v.v, v.lo, v.hi)
		}
	}
	if n := len(l.UpsampleScales); n < 1 || n > 16 {
		return fmt.Errorf("model.local_condition.upsample_scales has %d entries: must have between 1 and 16", n)
	}
	prod := 1
	for j, s := range l.UpsampleScales {
		if s < 1 || s > l.Hop {
			return fmt.Errorf("model.local_condition.upsample_scales[%d] = %d: must be between 1 and the hop, %d", j, s, l.Hop)
		}
		prod *= s
		if prod > l.Hop {
			break
		}
	}
	if prod != l.Hop {
		return fmt.Errorf("model.local_condition.upsample_scales %v: their product must be the hop, %d", l.UpsampleScales, l.Hop)
	}
	for _, v := range []struct {
		name string
		x    []float64
	}{{"mean", l.Mean}, {"std", l.Std}} {
		if v.x == nil {
			continue
		}
		if len(v.x) != l.Channels {
			return fmt.Errorf("model.local_condition.%s has %d values for %d channels", v.name, len(v.x), l.Channels)
		}
		for c, x := range v.x {
			if math.IsNaN(x) || math.IsInf(x, 0) || math.Abs(x) > math.MaxFloat32 {
				return fmt.Errorf("model.local_condition.%s[%d] = %g: must be a finite float32", v.name, c, x)
			}
			if v.name == "std" && !(float32(x) > 0) {
				return fmt.Errorf("model.local_condition.std[%d] = %g: must be positive", c, x)
			}
		}
	}
	return nil
}

// maxHop bounds a locally conditioned model's hop.
const maxHop = 1 << 16

// Speakers is the number of speakers the model is conditioned on (0 for an
// unconditioned model).
func (c Config) Speakers() int {
	if c.GlobalCondition == nil {
		return 0
	}
	return c.GlobalCondition.Cardinality
}

// Equal reports whether c and o are the same network. Every field of a
// Config is architecture: the widths, the input encoding and kernel size,
// the dilations, the biases, the last layer's residual conv and the
// conditioning each change the parameter tensors (their names and shapes)
// or the computation, so Equal compares them all: Dilations element by
// element and GlobalCondition and LocalCondition by value, not by pointer. Two equal Configs
// lay out their parameters alike, so a Model, a Packed and a Workspace
// made from either work together, and a checkpoint or a model file of one
// resumes or converts as the other.
func (c Config) Equal(o Config) bool {
	return c.QuantizationChannels == o.QuantizationChannels && c.InputEncoding == o.InputEncoding &&
		c.InputKernelSize == o.InputKernelSize && c.ResidualChannels == o.ResidualChannels &&
		c.DilationChannels == o.DilationChannels && c.SkipChannels == o.SkipChannels &&
		c.EndChannels == o.EndChannels && c.KernelSize == o.KernelSize && c.Bias == o.Bias &&
		c.ResidualOnLastLayer == o.ResidualOnLastLayer && slices.Equal(c.Dilations, o.Dilations) &&
		(c.GlobalCondition == nil) == (o.GlobalCondition == nil) &&
		(c.GlobalCondition == nil || *c.GlobalCondition == *o.GlobalCondition) &&
		c.LocalCondition.Equal(o.LocalCondition)
}

// Input encodings.
const (
	InputOneHot    = "onehot"
	InputEmbedding = "embedding"
)

// DefaultConfig returns the reference's "skip256" model: 20 layers with
// dilations 1..512 twice, R = D = 32, S = E = 256, Q = 256, K = 2, with bias.
// Its receptive field is 2047 samples.
func DefaultConfig() Config {
	return Config{
		QuantizationChannels: 256,
		InputEncoding:        InputOneHot,
		InputKernelSize:      1,
		ResidualChannels:     32,
		DilationChannels:     32,
		SkipChannels:         256,
		EndChannels:          256,
		KernelSize:           2,
		Dilations:            []int{1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1, 2, 4, 8, 16, 32, 64, 128, 256, 512},
		Bias:                 true,
	}
}

// Layers returns the number of dilated layers.
func (c Config) Layers() int { return len(c.Dilations) }

// ResidualLayers returns how many layers have a residual 1x1 conv.
func (c Config) ResidualLayers() int {
	if c.ResidualOnLastLayer {
		return len(c.Dilations)
	}
	return len(c.Dilations) - 1
}

// ReceptiveField returns how many input samples one output sees:
// (K-1)·Σd + input_kernel_size.
func (c Config) ReceptiveField() int {
	s := 0
	for _, d := range c.Dilations {
		s += d
	}
	return (c.KernelSize-1)*s + c.InputKernelSize
}

// maxChannels bounds every width so that a hostile config or checkpoint
// cannot make us allocate without limit before anything is computed.
const (
	maxChannels = 1 << 14
	maxLayers   = 1 << 10
	maxDilation = 1 << 20
)

// Validate reports the first thing wrong with c, or nil.
func (c Config) Validate() error {
	pos := func(name string, v, max int) error {
		if v < 1 || v > max {
			return fmt.Errorf("model.%s = %d: must be between 1 and %d", name, v, max)
		}
		return nil
	}
	if c.QuantizationChannels < 2 || c.QuantizationChannels > 65536 {
		return fmt.Errorf("model.quantization_channels = %d: must be between 2 and 65536", c.QuantizationChannels)
	}
	for _, e := range []error{
		pos("input_kernel_size", c.InputKernelSize, 64),
		pos("residual_channels", c.ResidualChannels, maxChannels),
		pos("dilation_channels", c.DilationChannels, maxChannels),
		pos("skip_channels", c.SkipChannels, maxChannels),
		pos("end_channels", c.EndChannels, maxChannels),
		pos("kernel_size", c.KernelSize, 64),
	} {
		if e != nil {
			return e
		}
	}
	if c.KernelSize < 2 {
		return fmt.Errorf("model.kernel_size = %d: must be at least 2", c.KernelSize)
	}
	switch c.InputEncoding {
	case InputOneHot:
	case InputEmbedding:
		if c.InputKernelSize != 1 {
			return fmt.Errorf("model.input_encoding %q needs input_kernel_size 1, not %d", c.InputEncoding, c.InputKernelSize)
		}
	default:
		return fmt.Errorf("model.input_encoding = %q: must be %q or %q", c.InputEncoding, InputOneHot, InputEmbedding)
	}
	if len(c.Dilations) == 0 || len(c.Dilations) > maxLayers {
		return fmt.Errorf("model.dilations has %d entries: must have between 1 and %d", len(c.Dilations), maxLayers)
	}
	for i, d := range c.Dilations {
		if d < 1 || d > maxDilation {
			return fmt.Errorf("model.dilations[%d] = %d: must be between 1 and %d", i, d, maxDilation)
		}
	}
	if g := c.GlobalCondition; g != nil {
		if err := pos("global_condition.channels", g.Channels, maxChannels); err != nil {
			return err
		}
		if err := pos("global_condition.cardinality", g.Cardinality, maxSpeakers); err != nil {
			return err
		}
	}
	if l := c.LocalCondition; l != nil {
		if err := l.validate(); err != nil {
			return err
		}
	}
	return nil
}

// maxSpeakers bounds a conditioned model's speaker table.
const maxSpeakers = 1 << 20

// FLOPs counts multiply-adds as 2 FLOPs per output timestep, GEMM work only,
// exactly as the reference benchmark's flops_per_timestep does.
type FLOPs struct {
	Input, FilterGate, Skip, Residual, Post1, Post2 int64
	// LocalCondition is a locally conditioned model's per-sample work
	// (zero without it): every layer's W_lc·cond, the upsampling stages'
	// smoothing convs and lc_conv_in's share of a frame.
	LocalCondition int64
}

// Forward returns the forward-pass total.
func (f FLOPs) Forward() int64 {
	return f.Input + f.FilterGate + f.Skip + f.Residual + f.Post1 + f.Post2 + f.LocalCondition
}

// Train returns the FLOPs of one training timestep: forward, input gradient
// and weight gradient (3x forward) minus the input layer's input gradient,
// which a one-hot input does not need.
func (f FLOPs) Train() int64 { return 3*f.Forward() - f.Input }

// FLOPs returns the per-timestep FLOP counts of c.
func (c Config) FLOPs() FLOPs {
	Q, R, D := int64(c.QuantizationChannels), int64(c.ResidualChannels), int64(c.DilationChannels)
	S, E, K := int64(c.SkipChannels), int64(c.EndChannels), int64(c.KernelSize)
	L := int64(len(c.Dilations))
	var f FLOPs
	if c.InputEncoding == InputOneHot {
		f.Input = 2 * Q * R * int64(c.InputKernelSize)
	}
	f.FilterGate = L * 2 * (2 * D) * R * K
	f.Skip = L * 2 * S * D
	f.Residual = int64(c.ResidualLayers()) * 2 * R * D
	f.Post1 = 2 * E * S
	f.Post2 = 2 * Q * E
	if lc := c.LocalCondition; lc != nil {
		C := int64(lc.Channels)
		f.LocalCondition = L * 2 * (2 * D) * C
		for _, s := range lc.UpsampleScales {
			f.LocalCondition += 2 * C * int64(2*s+1)
		}
		f.LocalCondition += 2 * C * C * int64(2*lc.Context+1) / int64(lc.Hop)
	}
	return f
}

// ConfigFormat is the schema tag of a whole configuration file.
const ConfigFormat = "wavenet-bench-config/v1"

// ConfigFile is the architecture part of a whole configuration file in
// the reference benchmark's format: the base model and its variants. The
// file's other sections ("train", "generate", "data", "runtime") say what
// to measure; package train/bench reads them.
type ConfigFile struct {
	Format string `json:"format"`
	Model  Config `json:"model"`
	// Variants are overrides merged into Model, in file order.
	Variants []Variant `json:"-"`
}

// Variant is one named set of overrides of the base model.
type Variant struct {
	Name  string
	Model Config
}

// ParseConfig reads either a whole configuration file (an object with a
// "model" key) or a bare model object. For a bare model object the returned
// ConfigFile has only Model set and a single variant named "model".
func ParseConfig(data []byte) (*ConfigFile, error) {
	var probe map[string]json.RawMessage
	if err := json.Unmarshal(data, &probe); err != nil {
		return nil, fmt.Errorf("not a JSON object: %w", err)
	}
	f := &ConfigFile{}
	if _, whole := probe["model"]; !whole {
		if err := strictUnmarshal(data, &f.Model); err != nil {
			return nil, fmt.Errorf("model object: %w", err)
		}
		if err := f.Model.Validate(); err != nil {
			return nil, err
		}
		f.Format = ConfigFormat
		f.Variants = []Variant{{Name: "model", Model: f.Model}}
		return f, nil
	}
	if err := json.Unmarshal(data, f); err != nil {
		return nil, err
	}
	if f.Format != "" && f.Format != ConfigFormat {
		return nil, fmt.Errorf("format %q: want %q", f.Format, ConfigFormat)
	}
	if err := strictUnmarshal(probe["model"], &f.Model); err != nil {
		return nil, fmt.Errorf("model: %w", err)
	}
	if err := f.Model.Validate(); err != nil {
		return nil, err
	}
	if raw, ok := probe["variants"]; ok {
		vs, err := parseVariants(raw, f.Model)
		if err != nil {
			return nil, err
		}
		f.Variants = vs
	}
	if len(f.Variants) == 0 {
		f.Variants = []Variant{{Name: "model", Model: f.Model}}
	}
	return f, nil
}

// parseVariants keeps the variants in file order, which JSON objects decoded
// into Go maps would lose; the benchmark reports them in that order.
func parseVariants(raw json.RawMessage, base Config) ([]Variant, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil, errors.New("variants: must be an object")
	}
	var out []Variant
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("variants: %w", err)
		}
		name := t.(string)
		var over json.RawMessage
		if err := dec.Decode(&over); err != nil {
			return nil, fmt.Errorf("variants.%s: %w", name, err)
		}
		m := base
		m.Dilations = append([]int(nil), base.Dilations...)
		// Decoding into a pointer or slice the base shares would change
		// the base: each variant decodes into its own copies.
		if g := base.GlobalCondition; g != nil {
			gc := *g
			m.GlobalCondition = &gc
		}
		m.LocalCondition = base.LocalCondition.Clone()
		if err := strictUnmarshal(over, &m); err != nil {
			return nil, fmt.Errorf("variants.%s: %w", name, err)
		}
		if err := m.Validate(); err != nil {
			return nil, fmt.Errorf("variants.%s: %w", name, err)
		}
		out = append(out, Variant{Name: name, Model: m})
	}
	return out, nil
}

// Variant returns the architecture of the named variant: the base model
// (Model) for "", otherwise the variant of that name in Variants, where a
// bare model object or a file without variants has one, "model". The
// error for a name not there lists the names there are.
func (f *ConfigFile) Variant(name string) (Config, error) {
	if name == "" {
		return f.Model, nil
	}
	var names []string
	for _, v := range f.Variants {
		if v.Name == name {
			return v.Model, nil
		}
		names = append(names, v.Name)
	}
	return Config{}, fmt.Errorf("no variant %q (variants: %v)", name, names)
}

// strictUnmarshal rejects unknown fields so that a misspelt key in a model
// object is an error rather than a silently different network.
func strictUnmarshal(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}

// LoadConfig reads and parses a configuration file; see ParseConfig.
func LoadConfig(path string) (*ConfigFile, error) {
	data, err := regular.ReadFile(path)
	if err != nil {
		return nil, err
	}
	f, err := ParseConfig(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return f, nil
}
