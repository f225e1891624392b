// Package causalconv is a WaveNet-style next-sample predictor: a stack of
// dilated causal convolutions with tanh·sigmoid gates, residual and skip 1x1
// convolutions and a ReLU-1x1-ReLU-1x1 softmax head, over μ-law classes. It
// is the network of the PyTorch reference in ../shared/bench (README
// "Model"), written out by hand in the style of karpathy/llm.c: every
// layer's forward and backward pass is a few calls into a kernels.Set, over
// buffers allocated once.
//
// The pieces:
//
//   - Config is an architecture, the "model" object of the reference's
//     config.json; LoadConfig reads a whole file, ConfigFile.Variant picks
//     one of its named variants, and Config.Equal says whether two
//     architectures are the same network.
//   - Model holds a Config and every parameter in one flat []float32 arena,
//     laid out tensor by tensor in the order, with the names and shapes, of
//     the reference module's state_dict(), so an optimizer, a gradient sum
//     or a checkpoint treats the parameters as one vector.
//   - Packed is the per-step, read-only rearrangement of the weights into
//     the layouts the kernels want (taps concatenated, transposes for the
//     backward pass, all skip weights side by side); one Packed is shared by
//     every worker goroutine.
//   - Workspace is one worker's activation buffers for sequences up to a
//     maximum length, reused by every call: ForwardBackward for training,
//     Loss and Logits for evaluation, Activations for feature extraction.
//     As in llm.c, the network's code is split by layer, each layer's
//     forward beside its backward: input.go (the one-hot conv or
//     embedding), layer.go (the dilated conv, gate and residual, in time
//     blocks), condition.go (a speaker's share of every layer), lcond.go
//     (local conditioning: the features' upsampling network and its share
//     of every layer), head.go (the fused skip product, the 1×1 convs and
//     the softmax cross-entropy); workspace.go holds the buffers and runs
//     the steps, and precision.go says how the matrix products round.
//   - Conditioning: a Config with GlobalCondition is conditioned on a
//     speaker (Workspace.SetSpeaker), one with LocalCondition on a
//     frame-rate feature sequence (Workspace.SetFeatures: a vocoder's
//     input, such as log-mel filterbanks); both add their term to every
//     layer's [f; g] before the gate. Generation and training do not take
//     features yet and refuse such a model (LocalConditionError).
//   - Generator produces samples one at a time with per-layer queues (the
//     fast generation of the reference's FastGenerator), Sampler draws a
//     class from the softmax with a kernel set's Exp, and Continue runs
//     many continuations of a prompt at once, grouped and on a pool of
//     goroutines, reporting progress through a callback.
//
// Model files (safetensors with the model's metadata, which PyTorch can load
// into the reference module) are package modelfile's.
//
// Activations are [channels × time] row-major matrices: a row is one
// channel over time, so the inner loops of every kernel run along time.
package causalconv

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
)

// Tensor names one parameter tensor of a model and locates it in the
// parameter arena (and in any arena of the same layout, such as a
// gradient): its elements are arena[Offset : Offset+Size], row-major with
// the given Shape, exactly as PyTorch stores the tensor.
type Tensor struct {
	Name   string
	Shape  []int
	Offset int
	Size   int
}

// layout is where every parameter of a Config lives in the arena, as both
// the state_dict-ordered list and direct offsets for the hot code. A bias
// offset is -1 when the model has no bias.
type layout struct {
	tensors []Tensor
	size    int

	inW, inB     int
	fgW, fgB     []int // per layer: [2D, R, K], [2D]
	skipW, skipB []int // per layer: [S, D, 1], [S]
	resW, resB   []int // per residual layer: [R, D, 1], [R]
	p1W, p1B     int   // [E, S, 1], [E]
	p2W, p2B     int   // [Q, E, 1], [Q]
	gcE          int   // [C, G], or -1 for an unconditioned model
	gcW          []int // per layer: [2D, G, 1]
	lcIn         int   // [C, C, 2P+1], or -1 for a model without local conditioning
	lcUp         []int // per upsampling stage: [1, 1, 1, 2s+1]
	lcW          []int // per layer: [2D, C, 1]
}

func newLayout(c Config) *layout {
	Q, R, D := c.QuantizationChannels, c.ResidualChannels, c.DilationChannels
	S, E, K := c.SkipChannels, c.EndChannels, c.KernelSize
	L, nres := c.Layers(), c.ResidualLayers()
	lo := &layout{inB: -1, p1B: -1, p2B: -1, gcE: -1, lcIn: -1}
	add := func(name string, shape ...int) int {
		n := 1
		for _, s := range shape {
			n *= s
		}
		off := lo.size
		lo.tensors = append(lo.tensors, Tensor{Name: name, Shape: shape, Offset: off, Size: n})
		lo.size += n
		return off
	}
	bias := func(name string, n int) int {
		if !c.Bias {
			return -1
		}
		return add(name, n)
	}
	// nn.Module.state_dict() lists a module's own parameters before its
	// submodules', so the embedding model's input_bias comes first.
	if c.InputEncoding == InputEmbedding {
		lo.inB = bias("input_bias", R)
		lo.inW = add("input_layer.weight", Q, R)
	} else {
		lo.inW = add("input_layer.weight", R, Q, c.InputKernelSize)
		lo.inB = bias("input_layer.bias", R)
	}
	for l := 0; l < L; l++ {
		lo.fgW = append(lo.fgW, add(fmt.Sprintf("filter_gate.%d.weight", l), 2*D, R, K))
		lo.fgB = append(lo.fgB, bias(fmt.Sprintf("filter_gate.%d.bias", l), 2*D))
	}
	for l := 0; l < L; l++ {
		lo.skipW = append(lo.skipW, add(fmt.Sprintf("skip.%d.weight", l), S, D, 1))
		lo.skipB = append(lo.skipB, bias(fmt.Sprintf("skip.%d.bias", l), S))
	}
	for l := 0; l < nres; l++ {
		lo.resW = append(lo.resW, add(fmt.Sprintf("residual.%d.weight", l), R, D, 1))
		lo.resB = append(lo.resB, bias(fmt.Sprintf("residual.%d.bias", l), R))
	}
	lo.p1W = add("post1.weight", E, S, 1)
	lo.p1B = bias("post1.bias", E)
	lo.p2W = add("post2.weight", Q, E, 1)
	lo.p2B = bias("post2.bias", Q)
	// The conditioned module is a subclass of the reference: its own
	// modules come after the reference's in state_dict() order.
	if g := c.GlobalCondition; g != nil {
		lo.gcE = add("gc_embedding.weight", g.Cardinality, g.Channels)
		for l := 0; l < L; l++ {
			lo.gcW = append(lo.gcW, add(fmt.Sprintf("filter_gate_gc.%d.weight", l), 2*D, g.Channels, 1))
		}
	}
	// The locally conditioned module registers its modules after the
	// speaker's (testdata/wavenet_lc.py).
	if lc := c.LocalCondition; lc != nil {
		C := lc.Channels
		lo.lcIn = add("lc_conv_in.weight", C, C, 2*lc.Context+1)
		for j, s := range lc.UpsampleScales {
			lo.lcUp = append(lo.lcUp, add(fmt.Sprintf("lc_upsample.%d.weight", j), 1, 1, 1, 2*s+1))
		}
		for l := 0; l < L; l++ {
			lo.lcW = append(lo.lcW, add(fmt.Sprintf("filter_gate_lc.%d.weight", l), 2*D, C, 1))
		}
	}
	return lo
}

// Model is a network: its architecture and its parameters. Params is one
// flat arena; Tensors says where each named tensor lives in it.
type Model struct {
	Config Config
	Params []float32
	lo     *layout
}

// New returns a model of architecture c with every parameter zero.
func New(c Config) (*Model, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	c.Dilations = append([]int(nil), c.Dilations...)
	if c.GlobalCondition != nil {
		g := *c.GlobalCondition
		c.GlobalCondition = &g
	}
	c.LocalCondition = c.LocalCondition.Clone()
	lo := newLayout(c)
	return &Model{Config: c, Params: make([]float32, lo.size), lo: lo}, nil
}

// NewRandom returns a model of architecture c initialised like PyTorch's
// defaults from the given seed; see Init.
func NewRandom(c Config, seed uint64) (*Model, error) {
	m, err := New(c)
	if err != nil {
		return nil, err
	}
	m.Init(seed)
	return m, nil
}

// Init sets every parameter the way PyTorch initialises the reference
// module, from a generator seeded with seed (the same seed gives the same
// parameters; the values differ from PyTorch's, whose generator is
// different): a Conv1d's weight and bias are uniform on ±1/√fan_in, with
// fan_in = in_channels·kernel_size (kaiming_uniform with a = √5); the
// Embedding weight is standard normal; the embedding's separate input_bias
// starts at zero. A locally conditioned model's lc_upsample kernels start
// as averages, every tap 1/(2s+1) (as r9y9's), and its lc_conv_in and
// filter_gate_lc weights as the Conv1d's they are.
func (m *Model) Init(seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 0x636175736c636f6e)) // "causlcon"
	uniform := func(t Tensor, fanIn int) {
		bound := 1 / math.Sqrt(float64(fanIn))
		for i := range m.Params[t.Offset : t.Offset+t.Size] {
			m.Params[t.Offset+i] = float32(bound * (2*rng.Float64() - 1))
		}
	}
	c := m.Config
	fanIn := func(name string) int {
		switch {
		case name == "input_layer.weight" || name == "input_layer.bias":
			return c.QuantizationChannels * c.InputKernelSize
		case strings.HasPrefix(name, "filter_gate."):
			return c.ResidualChannels * c.KernelSize
		case strings.HasPrefix(name, "skip."), strings.HasPrefix(name, "residual."):
			return c.DilationChannels
		case strings.HasPrefix(name, "post1."):
			return c.SkipChannels
		case strings.HasPrefix(name, "post2."):
			return c.EndChannels
		case strings.HasPrefix(name, "filter_gate_gc."):
			return c.GlobalCondition.Channels
		case name == "lc_conv_in.weight":
			return c.LocalCondition.Channels * (2*c.LocalCondition.Context + 1)
		case strings.HasPrefix(name, "filter_gate_lc."):
			return c.LocalCondition.Channels
		}
		return 0
	}
	for _, t := range m.lo.tensors {
		switch {
		case t.Name == "input_bias":
			clear(m.Params[t.Offset : t.Offset+t.Size])
		case t.Name == "input_layer.weight" && c.InputEncoding == InputEmbedding, t.Name == "gc_embedding.weight":
			for i := 0; i < t.Size; i++ {
				m.Params[t.Offset+i] = float32(rng.NormFloat64())
			}
		case strings.HasPrefix(t.Name, "lc_upsample."):
			for i := 0; i < t.Size; i++ {
				m.Params[t.Offset+i] = float32(1 / float64(t.Size))
			}
		default:
			uniform(t, fanIn(t.Name))
		}
	}
}

// Tensors returns the parameter tensors in state_dict() order. The slice
// is shared: do not modify it.
func (m *Model) Tensors() []Tensor { return m.lo.tensors }

// NumParams returns the number of parameters, the length of the arena.
func (m *Model) NumParams() int { return m.lo.size }

// Lookup returns the named tensor's location, if the model has it.
func (m *Model) Lookup(name string) (Tensor, bool) {
	for _, t := range m.lo.tensors {
		if t.Name == name {
			return t, true
		}
	}
	return Tensor{}, false
}

// View returns the named tensor's elements within arena, which must be
// laid out like Params (the parameters themselves, a gradient, an
// optimizer moment), or nil if there is no such tensor.
func (m *Model) View(arena []float32, name string) []float32 {
	t, ok := m.Lookup(name)
	if !ok || len(arena) != m.lo.size {
		return nil
	}
	return arena[t.Offset : t.Offset+t.Size : t.Offset+t.Size]
}

// NewGrad returns a zero arena of the parameters' layout, for gradients.
func (m *Model) NewGrad() []float32 { return make([]float32, m.lo.size) }

// Clone returns a deep copy of m.
func (m *Model) Clone() *Model {
	c := *m
	c.Config.Dilations = append([]int(nil), m.Config.Dilations...)
	if g := m.Config.GlobalCondition; g != nil {
		gc := *g
		c.Config.GlobalCondition = &gc
	}
	c.Config.LocalCondition = m.Config.LocalCondition.Clone()
	c.Params = append([]float32(nil), m.Params...)
	return &c
}
