package causalconv

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/nextsample/nextsample/causalconv/kernels"
)

// tiny returns a small model for exhaustive checks.
func tiny(k int, bias bool, enc string, kin int) Config {
	return Config{
		QuantizationChannels: 16, InputEncoding: enc, InputKernelSize: kin,
		ResidualChannels: 4, DilationChannels: 4, SkipChannels: 8, EndChannels: 8,
		KernelSize: k, Dilations: []int{1, 2, 4, 1}, Bias: bias,
	}
}

// tinyConfigs cover every option: K = 2 and 3, bias on and off, one-hot
// input of width 1 and 2, embedding input, a residual conv on the last layer.
func tinyConfigs() map[string]Config {
	res := tiny(2, true, InputOneHot, 1)
	res.ResidualOnLastLayer = true
	return map[string]Config{
		"K2_bias_onehot2":   tiny(2, true, InputOneHot, 2),
		"K3_bias_onehot1":   tiny(3, true, InputOneHot, 1),
		"K3_nobias_onehot2": tiny(3, false, InputOneHot, 2),
		"K2_nobias_embed":   tiny(2, false, InputEmbedding, 1),
		"K3_bias_embed":     tiny(3, true, InputEmbedding, 1),
		"K2_bias_reslast":   res,
	}
}

func randomClasses(rng *rand.Rand, n, q int) []int32 {
	x := make([]int32, n)
	for i := range x {
		x[i] = int32(rng.IntN(q))
	}
	return x
}

// randomModel returns a model with PyTorch-like initial weights and biases
// widened so that they matter (a bias bug must show).
func randomModel(t testing.TB, c Config, seed uint64) *Model {
	m, err := NewRandom(c, seed)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(seed, 7))
	for _, tn := range m.Tensors() {
		if tn.Name == "input_bias" || len(tn.Shape) == 1 {
			for i := tn.Offset; i < tn.Offset+tn.Size; i++ {
				m.Params[i] = float32(rng.NormFloat64() * 0.5)
			}
		}
	}
	return m
}

func TestStateDictLayout(t *testing.T) {
	// Names and shapes as printed by the reference module's state_dict()
	// for dilations [1, 2, 4] (torch 1.13).
	c := DefaultConfig()
	c.Dilations = []int{1, 2, 4}
	m, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"input_layer.weight [32 256 1]", "input_layer.bias [32]",
		"filter_gate.0.weight [64 32 2]", "filter_gate.0.bias [64]",
		"filter_gate.1.weight [64 32 2]", "filter_gate.1.bias [64]",
		"filter_gate.2.weight [64 32 2]", "filter_gate.2.bias [64]",
		"skip.0.weight [256 32 1]", "skip.0.bias [256]", "skip.1.weight [256 32 1]", "skip.1.bias [256]",
		"skip.2.weight [256 32 1]", "skip.2.bias [256]",
		"residual.0.weight [32 32 1]", "residual.0.bias [32]", "residual.1.weight [32 32 1]", "residual.1.bias [32]",
		"post1.weight [256 256 1]", "post1.bias [256]", "post2.weight [256 256 1]", "post2.bias [256]",
	}
	check := func(m *Model, want []string) {
		t.Helper()
		var got []string
		off := 0
		for _, tn := range m.Tensors() {
			got = append(got, fmt.Sprintf("%s %v", tn.Name, tn.Shape))
			if tn.Offset != off {
				t.Errorf("%s at offset %d, want %d (tensors must tile the arena in order)", tn.Name, tn.Offset, off)
			}
			off += tn.Size
		}
		if off != m.NumParams() || off != len(m.Params) {
			t.Errorf("tensors cover %d of %d parameters", off, len(m.Params))
		}
		if !slices.Equal(got, want) {
			t.Errorf("state dict\n got %q\nwant %q", got, want)
		}
	}
	check(m, want)

	c.InputEncoding = InputEmbedding
	c.Bias = false
	m, _ = New(c)
	check(m, []string{
		"input_layer.weight [256 32]",
		"filter_gate.0.weight [64 32 2]", "filter_gate.1.weight [64 32 2]", "filter_gate.2.weight [64 32 2]",
		"skip.0.weight [256 32 1]", "skip.1.weight [256 32 1]", "skip.2.weight [256 32 1]",
		"residual.0.weight [32 32 1]", "residual.1.weight [32 32 1]",
		"post1.weight [256 256 1]", "post2.weight [256 256 1]",
	})
	c.Bias = true
	c.ResidualOnLastLayer = true
	c.Dilations = []int{1}
	m, _ = New(c)
	check(m, []string{
		"input_bias [32]", "input_layer.weight [256 32]",
		"filter_gate.0.weight [64 32 2]", "filter_gate.0.bias [64]",
		"skip.0.weight [256 32 1]", "skip.0.bias [256]",
		"residual.0.weight [32 32 1]", "residual.0.bias [32]",
		"post1.weight [256 256 1]", "post1.bias [256]", "post2.weight [256 256 1]", "post2.bias [256]",
	})

	// Parameter counts printed by torch_wavenet.py.
	for _, v := range []struct {
		s, e, want int
	}{{256, 256, 412032}, {128, 128, 245504}} {
		c := DefaultConfig()
		c.SkipChannels, c.EndChannels = v.s, v.e
		m, _ := New(c)
		if m.NumParams() != v.want {
			t.Errorf("S=E=%d: %d parameters, want %d", v.s, m.NumParams(), v.want)
		}
	}
}

func TestInit(t *testing.T) {
	c := DefaultConfig()
	a, _ := NewRandom(c, 1)
	b, _ := NewRandom(c, 1)
	d, _ := NewRandom(c, 2)
	if !slices.Equal(a.Params, b.Params) {
		t.Error("same seed, different parameters")
	}
	if slices.Equal(a.Params, d.Params) {
		t.Error("different seeds, same parameters")
	}
	for _, tn := range a.Tensors() {
		var fanIn int
		switch {
		case tn.Name[:5] == "input":
			fanIn = 256
		case tn.Name[:5] == "filte":
			fanIn = 64
		case tn.Name[:4] == "skip", tn.Name[:4] == "resi":
			fanIn = 32
		default:
			fanIn = 256
		}
		bound := 1 / math.Sqrt(float64(fanIn))
		v := a.Params[tn.Offset : tn.Offset+tn.Size]
		var mx, sum2 float64
		for _, x := range v {
			mx = math.Max(mx, math.Abs(float64(x)))
			sum2 += float64(x) * float64(x)
		}
		// U(−b, b) has rms b/√3; the max is close to b for many draws.
		rms := math.Sqrt(sum2 / float64(len(v)))
		if mx > bound || (tn.Size >= 256 && (mx < 0.9*bound || math.Abs(rms-bound/math.Sqrt(3)) > 0.1*bound)) {
			t.Errorf("%s: max %.4f rms %.4f, want U(±%.4f)", tn.Name, mx, rms, bound)
		}
	}
	c.InputEncoding = InputEmbedding
	e, _ := NewRandom(c, 3)
	w := e.View(e.Params, "input_layer.weight")
	var s2 float64
	for _, x := range w {
		s2 += float64(x) * float64(x)
	}
	if rms := math.Sqrt(s2 / float64(len(w))); math.Abs(rms-1) > 0.05 {
		t.Errorf("embedding rms %.3f, want N(0,1)", rms)
	}
	for _, x := range e.View(e.Params, "input_bias") {
		if x != 0 {
			t.Fatal("input_bias must start at zero, as in the reference")
		}
	}
}

// forEachSet runs f with every kernel set this CPU has.
func forEachSet(t *testing.T, f func(t *testing.T, k kernels.Set)) {
	for _, k := range kernels.Sets() {
		t.Run(k.Name, func(t *testing.T) { f(t, k) })
	}
}

// TestForwardMatchesReference compares logits, skip sums and gate outputs
// with the float64 reference.
func TestForwardMatchesReference(t *testing.T) {
	forEachSet(t, func(t *testing.T, k kernels.Set) {
		for name, c := range tinyConfigs() {
			m := randomModel(t, c, 11)
			x := randomClasses(rand.New(rand.NewPCG(3, 3)), 37, c.QuantizationChannels)
			ref := newRefNet(m).forward(x)
			ws, err := NewEvalWorkspace(c, k, 50)
			if err != nil {
				t.Fatal(err)
			}
			p := m.Packed()
			for _, from := range []int{0, 9, 36} {
				n := len(x) - from
				lg, err := ws.Logits(p, x, from, make([]float32, c.QuantizationChannels*n))
				if err != nil {
					t.Fatal(err)
				}
				for q := 0; q < lg.Rows; q++ {
					for j := 0; j < n; j++ {
						if d := math.Abs(float64(lg.At(q, j)) - ref.logits[from+j][q]); d > 1e-5 {
							t.Fatalf("%s from %d: logit[%d] at %d = %g, reference %g", name, from, q, from+j, lg.At(q, j), ref.logits[from+j][q])
						}
					}
				}
				act, err := ws.Activations(p, x, from, ActivationOptions{SkipSum: true})
				if err != nil {
					t.Fatal(err)
				}
				if len(act.Z) != len(c.Dilations) {
					t.Fatalf("%s: %d layers of activations, want all %d", name, len(act.Z), len(c.Dilations))
				}
				// The lower layers alone, over a shrunk range, must agree.
				low, err := ws.Activations(p, x, from, ActivationOptions{Layers: 2})
				if err != nil {
					t.Fatal(err)
				}
				for l := range low.Z {
					for i := 0; i < c.DilationChannels; i++ {
						for j := 0; j < n; j++ {
							if d := math.Abs(float64(low.Z[l].At(i, j)) - ref.z[l][from+j][i]); d > 1e-6 {
								t.Fatalf("%s: Layers 2: z[%d][%d] at %d = %g, reference %g", name, l, i, from+j, low.Z[l].At(i, j), ref.z[l][from+j][i])
							}
						}
					}
				}
				if len(low.Z) != 2 || low.SkipSum.Data != nil {
					t.Fatalf("%s: Layers 2 gave %d layers and skip sum %v", name, len(low.Z), low.SkipSum.Rows)
				}
				act, err = ws.Activations(p, x, from, ActivationOptions{SkipSum: true})
				if err != nil {
					t.Fatal(err)
				}
				for j := 0; j < n; j++ {
					for s := 0; s < c.SkipChannels; s++ {
						if d := math.Abs(float64(act.SkipSum.At(s, j)) - ref.skipPre[from+j][s]); d > 1e-5 {
							t.Fatalf("%s: skip sum[%d] at %d = %g, reference %g", name, s, from+j, act.SkipSum.At(s, j), ref.skipPre[from+j][s])
						}
					}
					for l := range act.Z {
						for i := 0; i < c.DilationChannels; i++ {
							if d := math.Abs(float64(act.Z[l].At(i, j)) - ref.z[l][from+j][i]); d > 1e-6 {
								t.Fatalf("%s: z[%d][%d] at %d = %g, reference %g", name, l, i, from+j, act.Z[l].At(i, j), ref.z[l][from+j][i])
							}
						}
					}
				}
			}
		}
	})
}

// TestGradientFiniteDifferences checks every parameter's gradient, tensor
// by tensor (so a failure names the layer whose backward is wrong), against
// float64 central differences of the reference loss, for every option and
// several scoring offsets (which exercise the context shrinking), with
// every kernel set.
func TestGradientFiniteDifferences(t *testing.T) {
	const N = 29
	froms := []int{0, 13, N - 1}
	for name, c := range tinyConfigs() {
		m := randomModel(t, c, 5)
		rng := rand.New(rand.NewPCG(9, 9))
		x := randomClasses(rng, N, c.QuantizationChannels)
		y := randomClasses(rng, N, c.QuantizationChannels)
		ref := newRefNet(m)
		num := ref.numGrads(x, y, froms)
		p := m.Packed()
		for _, k := range kernels.Sets() {
			ws, err := NewTrainingWorkspace(c, k, 40)
			if err != nil {
				t.Fatal(err)
			}
			for fi, from := range froms {
				const scale = 0.5
				grad := m.NewGrad()
				loss, err := ws.ForwardBackward(p, x, y, from, scale, grad)
				if err != nil {
					t.Fatal(err)
				}
				if want := ref.loss(x, y, from); math.Abs(loss-want) > 1e-5*math.Max(1, want) {
					t.Errorf("%s/%s from %d: loss %g, reference %g", name, k.Name, from, loss, want)
				}
				var gmax float64
				for _, v := range num[fi] {
					gmax = math.Max(gmax, math.Abs(v))
				}
				for _, tn := range m.Tensors() {
					var worst float64
					at := -1
					for i := tn.Offset; i < tn.Offset+tn.Size; i++ {
						d := math.Abs(float64(grad[i])/scale - num[fi][i])
						if e := d / (1e-3*gmax + math.Abs(num[fi][i])); e > worst {
							worst, at = e, i
						}
					}
					if worst > 2e-3 {
						t.Errorf("%s/%s from %d: %s[%d]: gradient %g, finite difference %g",
							name, k.Name, from, tn.Name, at-tn.Offset, grad[at]/scale, num[fi][at])
					}
				}
			}
		}
	}
}
