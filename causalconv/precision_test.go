package causalconv

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/nextsample/nextsample/causalconv/kernels"
)

// bf16KernelSets returns the kernel sets that can run PrecisionBF16:
// Reference (its float64 twins) always, and the AVX-512 set on CPUs with
// AVX512_BF16.
func bf16KernelSets() []kernels.Set {
	var out []kernels.Set
	for _, k := range kernels.Sets() {
		if CheckPrecision(PrecisionBF16, k) == nil {
			out = append(out, k)
		}
	}
	return out
}

// oddTiny has odd channel counts, so that the products have odd depths
// (the bf16 kernels pad those with a zero pair) and odd row counts.
func oddTiny() Config {
	return Config{
		QuantizationChannels: 15, InputEncoding: InputOneHot, InputKernelSize: 1,
		ResidualChannels: 5, DilationChannels: 3, SkipChannels: 7, EndChannels: 9,
		KernelSize: 3, Dilations: []int{1, 2, 4, 1}, Bias: true,
	}
}

// randomWalk returns n inputs of a slow random walk over q classes and
// their next-sample targets: a signal with structure, so that the loss
// gradient is not all noise (as with independent random targets, where
// it is a small sum of large terms that cancel).
func randomWalk(rng *rand.Rand, n, q int) (x, y []int32) {
	s := make([]int32, n+1)
	v := q / 2
	for i := range s {
		v = min(q-1, max(0, v+rng.IntN(5)-2))
		s[i] = int32(v)
	}
	return s[:n], s[1:]
}

// precisionRun is what one ForwardBackward and Logits call give.
type precisionRun struct {
	loss   float64
	grad   []float32
	logits []float32
}

func runPrecision(t *testing.T, m *Model, p *Packed, k kernels.Set, prec Precision, x, y []int32, from int) precisionRun {
	t.Helper()
	ws, err := NewTrainingWorkspace(m.Config, k, len(x))
	if err != nil {
		t.Fatal(err)
	}
	if err := ws.SetPrecision(prec); err != nil {
		t.Fatal(err)
	}
	r := precisionRun{grad: m.NewGrad(), logits: make([]float32, m.Config.QuantizationChannels*(len(x)-from))}
	if r.loss, err = ws.ForwardBackward(p, x, y, from, 1/float32(len(x)-from), r.grad); err != nil {
		t.Fatal(err)
	}
	if _, err := ws.Logits(p, x, from, r.logits); err != nil {
		t.Fatal(err)
	}
	return r
}

// precisionGap measures how far a bf16 run is from the fp32 one: the
// loss's relative difference, the gradient's relative L2 distance, and the
// largest logit difference relative to the largest |logit|.
func precisionGap(fp, bf precisionRun) (loss, grad, logits float64) {
	loss = math.Abs(bf.loss-fp.loss) / math.Abs(fp.loss)
	var d2, n2 float64
	for i := range fp.grad {
		d := float64(bf.grad[i] - fp.grad[i])
		d2 += d * d
		n2 += float64(fp.grad[i]) * float64(fp.grad[i])
	}
	grad = math.Sqrt(d2 / n2)
	var dmax, lmax float64
	for i := range fp.logits {
		dmax = math.Max(dmax, math.Abs(float64(bf.logits[i]-fp.logits[i])))
		lmax = math.Max(lmax, math.Abs(float64(fp.logits[i])))
	}
	return loss, grad, dmax / lmax
}

// The tolerances of the bf16 tests. One rounded operand is off by at most
// 2^-8 ≈ 0.4% of its value, and errors of that size (random in sign) pass
// through every layer. Measured on the models below (random-walk inputs):
// the loss, a mean over many positions, moves by ≤ 3e-5 of its value, the
// largest logit difference is ≤ 0.5% of the largest |logit|, and the
// gradient, whose backward pass rounds its operands again, is ≤ 0.9% of its
// norm away. The bounds are several times those.
const (
	bf16LossTol  = 5e-4
	bf16GradTol  = 3e-2
	bf16LogitTol = 2e-2
)

// TestBF16AgreesWithFP32 runs small models in both precisions with every
// kernel set that has the bf16 GEMMs and checks the gap, and that the bf16
// run really is a different computation.
func TestBF16AgreesWithFP32(t *testing.T) {
	cfgs := map[string]Config{"K3_bias_onehot1": tiny(3, true, InputOneHot, 1), "K2_nobias_embed": tiny(2, false, InputEmbedding, 1), "odd": oddTiny()}
	for name, c := range cfgs {
		for _, k := range bf16KernelSets() {
			t.Run(name+"/"+k.Name, func(t *testing.T) {
				m := randomModel(t, c, 5)
				p, err := NewPackedPrecision(c, PrecisionBF16)
				if err != nil {
					t.Fatal(err)
				}
				if err := p.Pack(m.Params); err != nil {
					t.Fatal(err)
				}
				x, y := randomWalk(rand.New(rand.NewPCG(6, 6)), 301, c.QuantizationChannels)
				fp := runPrecision(t, m, p, k, PrecisionFP32, x, y, 9)
				bf := runPrecision(t, m, p, k, PrecisionBF16, x, y, 9)
				loss, grad, logits := precisionGap(fp, bf)
				t.Logf("bf16 vs fp32: loss %.2g, gradient %.2g, logits %.2g", loss, grad, logits)
				if loss == 0 || grad == 0 {
					t.Error("bf16 gave exactly the fp32 results: the bf16 kernels were not used")
				}
				if loss > bf16LossTol || grad > bf16GradTol || logits > bf16LogitTol {
					t.Errorf("bf16 too far from fp32: loss %.2g (max %g), gradient %.2g (max %g), logits %.2g (max %g)",
						loss, bf16LossTol, grad, bf16GradTol, logits, bf16LogitTol)
				}
			})
		}
	}
}

// TestBF16Skip256 checks the default model at a short length: one chunk
// with the receptive field of context and 300 scored positions, with the
// fastest set (skipped on CPUs without AVX512_BF16: the reference set
// would take too long).
func TestBF16Skip256(t *testing.T) {
	k := kernels.Best()
	if CheckPrecision(PrecisionBF16, k) != nil {
		t.Skipf("kernel set %q has no bf16 GEMMs", k.Name)
	}
	c := DefaultConfig()
	m, err := NewRandom(c, 3)
	if err != nil {
		t.Fatal(err)
	}
	p, _ := NewPackedPrecision(c, PrecisionBF16)
	if err := p.Pack(m.Params); err != nil {
		t.Fatal(err)
	}
	from := c.ReceptiveField() - 1
	x, y := randomWalk(rand.New(rand.NewPCG(8, 8)), from+301, c.QuantizationChannels)
	fp := runPrecision(t, m, p, k, PrecisionFP32, x, y, from)
	bf := runPrecision(t, m, p, k, PrecisionBF16, x, y, from)
	loss, grad, logits := precisionGap(fp, bf)
	t.Logf("skip256 bf16 vs fp32: loss %.2g, gradient %.2g, logits %.2g", loss, grad, logits)
	if loss == 0 || loss > bf16LossTol || grad > bf16GradTol || logits > bf16LogitTol {
		t.Errorf("bf16 too far from fp32 (or equal): loss %.2g (max %g), gradient %.2g (max %g), logits %.2g (max %g)",
			loss, bf16LossTol, grad, bf16GradTol, logits, bf16LogitTol)
	}
}

// TestBF16NoAllocation checks the steady state of every entry point in bf16.
func TestBF16NoAllocation(t *testing.T) {
	c := oddTiny()
	m := randomModel(t, c, 1)
	p, _ := NewPackedPrecision(c, PrecisionBF16)
	rng := rand.New(rand.NewPCG(1, 1))
	x := randomClasses(rng, 700, c.QuantizationChannels)
	y := randomClasses(rng, 700, c.QuantizationChannels)
	grad := m.NewGrad()
	logits := make([]float32, c.QuantizationChannels*len(x))
	for _, k := range bf16KernelSets() {
		t.Run(k.Name, func(t *testing.T) {
			tw, _ := NewTrainingWorkspace(c, k, 700)
			ew, _ := NewEvalWorkspace(c, k, 700)
			for _, w := range []*Workspace{tw, ew} {
				if err := w.SetPrecision(PrecisionBF16); err != nil {
					t.Fatal(err)
				}
			}
			for name, f := range map[string]func(){
				"Pack":            func() { p.Pack(m.Params) },
				"ForwardBackward": func() { tw.ForwardBackward(p, x, y, 20, 1, grad) },
				"Loss":            func() { ew.Loss(p, x, y, 20) },
				"Logits":          func() { ew.Logits(p, x, 0, logits) },
				"Activations":     func() { ew.Activations(p, x, 100, ActivationOptions{SkipSum: true}) },
			} {
				if a := testing.AllocsPerRun(2, f); a != 0 {
					t.Errorf("%s allocates %v times per call", name, a)
				}
			}
		})
	}
}

// TestPackedBF16 checks the bfloat16 copies against the float32 packing.
func TestPackedBF16(t *testing.T) {
	c := oddTiny()
	m := randomModel(t, c, 2)
	p, _ := NewPackedPrecision(c, PrecisionBF16)
	if err := p.Pack(m.Params); err != nil {
		t.Fatal(err)
	}
	check := func(name string, h bfMat, f []float32, rows, cols int) {
		t.Helper()
		if h.ld != kernels.BF16Stride(cols) || len(h.a) != rows*h.ld {
			t.Fatalf("%s: %d elements with stride %d for %d×%d", name, len(h.a), h.ld, rows, cols)
		}
		want := make([]uint16, cols)
		for i := 0; i < rows; i++ {
			kernels.ToBF16(want, f[i*cols:(i+1)*cols])
			for j := range want {
				if h.a[i*h.ld+j] != want[j] {
					t.Fatalf("%s[%d][%d] = %#04x, want %#04x", name, i, j, h.a[i*h.ld+j], want[j])
				}
			}
			if cols%2 == 1 && h.a[i*h.ld+cols] != 0 {
				t.Fatalf("%s row %d: pad %#04x, want 0", name, i, h.a[i*h.ld+cols])
			}
		}
	}
	R, D, S, E, K, Q, L := 5, 3, 7, 9, 3, 15, 4
	for l := 0; l < L; l++ {
		check("fgW", p.bf.fgW[l], p.fgW[l], 2*D, K*R)
		for k := 0; k < K; k++ {
			check("fgWT", p.bf.fgWT[l][k], p.fgWT[l][k*R*2*D:], R, 2*D)
		}
		check("skipWT", p.bf.skipWT[l], p.skipWT[l], D, S)
	}
	for l := range p.resW {
		check("resW", p.bf.resW[l], p.resW[l], R, D)
		check("resWT", p.bf.resWT[l], p.resWT[l], D, R)
	}
	check("skipW", p.bf.skipW, p.skipW, S, L*D)
	check("p1W", p.bf.p1W, p.p1W, E, S)
	check("p1WT", p.bf.p1WT, p.p1WT, S, E)
	check("p2W", p.bf.p2W, p.p2W, Q, E)
	check("p2WT", p.bf.p2WT, p.p2WT, E, Q)
	if p32, _ := NewPacked(c); p32.Precision() != PrecisionFP32 || p32.bf.buf != nil {
		t.Error("a float32 Packed holds bfloat16 copies")
	}
}

func TestPrecisionRejects(t *testing.T) {
	c := tiny(2, true, InputOneHot, 1)
	m := randomModel(t, c, 1)
	ws, _ := NewTrainingWorkspace(c, kernels.Generic(), 10)
	if err := ws.SetPrecision(PrecisionBF16); err == nil || !strings.Contains(err.Error(), "AVX512_BF16") {
		t.Errorf("bf16 on the generic set: error %v", err)
	}
	if ws.Precision() != PrecisionFP32 {
		t.Error("a refused SetPrecision changed the precision")
	}
	ws, _ = NewTrainingWorkspace(c, kernels.Reference(), 10)
	if err := ws.SetPrecision(PrecisionBF16); err != nil {
		t.Fatal(err)
	}
	x := []int32{1, 2, 3, 4}
	if _, err := ws.Loss(m.Packed(), x, x, 0); err == nil || !strings.Contains(err.Error(), "NewPackedPrecision") {
		t.Errorf("bf16 workspace with float32 packed weights: error %v", err)
	}
	if _, err := NewPackedPrecision(c, Precision(7)); err == nil {
		t.Error("NewPackedPrecision accepted precision 7")
	}
	if err := ws.SetPrecision(Precision(7)); err == nil {
		t.Error("SetPrecision accepted precision 7")
	}
}

func TestPrecisionText(t *testing.T) {
	for _, p := range []Precision{PrecisionFP32, PrecisionBF16} {
		b, err := json.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		var q Precision
		if err := json.Unmarshal(b, &q); err != nil || q != p {
			t.Errorf("%v: JSON %s decodes to %v (%v)", p, b, q, err)
		}
		if r, err := ParsePrecision(p.String()); err != nil || r != p {
			t.Errorf("ParsePrecision(%q) = %v, %v", p.String(), r, err)
		}
	}
	if string(must(json.Marshal(PrecisionBF16))) != `"bf16"` {
		t.Error(`PrecisionBF16 is not "bf16" in JSON`)
	}
	var q Precision
	if err := json.Unmarshal([]byte(`"fp16"`), &q); err == nil {
		t.Error(`"fp16" decoded`)
	}
	if _, err := json.Marshal(Precision(9)); err == nil {
		t.Error("Precision(9) encoded")
	}
}

func must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}

// TestPackedBackwardIsBitIdentical checks that packing dS and [df; dg]
// once (kernels.Pack, GemmNNPacked) leaves the float32 results unchanged
// bit for bit: the same set without those kernels multiplies unpacked.
func TestPackedBackwardIsBitIdentical(t *testing.T) {
	for name, c := range map[string]Config{"K3": tiny(3, true, InputOneHot, 1), "odd": oddTiny(), "K2_embed": tiny(2, false, InputEmbedding, 1)} {
		for _, k := range kernels.Sets() {
			if k.Pack == nil {
				continue
			}
			plain := k
			plain.Pack, plain.GemmNNPacked = nil, nil
			m := randomModel(t, c, 4)
			p := m.Packed()
			x, y := randomWalk(rand.New(rand.NewPCG(2, 2)), 257, c.QuantizationChannels)
			run := func(k kernels.Set) (float64, []float32) {
				ws, err := NewTrainingWorkspace(c, k, len(x))
				if err != nil {
					t.Fatal(err)
				}
				g := m.NewGrad()
				l, err := ws.ForwardBackward(p, x, y, 5, 0.01, g)
				if err != nil {
					t.Fatal(err)
				}
				return l, g
			}
			l1, g1 := run(k)
			l2, g2 := run(plain)
			if l1 != l2 {
				t.Errorf("%s %s: loss %v packed, %v unpacked", name, k.Name, l1, l2)
			}
			for i := range g1 {
				if math.Float32bits(g1[i]) != math.Float32bits(g2[i]) {
					t.Fatalf("%s %s: gradient[%d] %g packed, %g unpacked", name, k.Name, i, g1[i], g2[i])
				}
			}
		}
	}
}
