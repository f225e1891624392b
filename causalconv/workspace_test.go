package causalconv

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/nextsample/nextsample/causalconv/kernels"
)

// TestChunksEqualWhole splits one long scored window into chunks the way
// the trainer does (each chunk carries RF−1 inputs of context, or all there
// is) and checks that the chunks' summed loss and gradient equal those of
// the whole sequence in one call.
func TestChunksEqualWhole(t *testing.T) {
	for name, c := range tinyConfigs() {
		t.Run(name, func(t *testing.T) {
			forEachSet(t, func(t *testing.T, k kernels.Set) {
				m := randomModel(t, c, 21)
				p := m.Packed()
				rng := rand.New(rand.NewPCG(4, 4))
				const N, s0, chunk = 150, 7, 31
				x := randomClasses(rng, N, c.QuantizationChannels)
				y := randomClasses(rng, N, c.QuantizationChannels)
				ws, err := NewTrainingWorkspace(c, k, N)
				if err != nil {
					t.Fatal(err)
				}
				whole := m.NewGrad()
				wantLoss, err := ws.ForwardBackward(p, x, y, s0, 1, whole)
				if err != nil {
					t.Fatal(err)
				}
				ctxMax := c.ReceptiveField() - 1
				parts := m.NewGrad()
				var loss float64
				for s := s0; s < N; s += chunk {
					end := min(N, s+chunk)
					from := s - min(s, ctxMax)
					l, err := ws.ForwardBackward(p, x[from:end], y[from:end], s-from, 1, parts)
					if err != nil {
						t.Fatal(err)
					}
					loss += l
				}
				if math.Abs(loss-wantLoss) > 1e-5*wantLoss {
					t.Errorf("%s: chunked loss %.7g, whole %.7g", name, loss, wantLoss)
				}
				var gmax float64
				for _, v := range whole {
					gmax = math.Max(gmax, math.Abs(float64(v)))
				}
				for _, tn := range m.Tensors() {
					for i := tn.Offset; i < tn.Offset+tn.Size; i++ {
						if d := math.Abs(float64(parts[i] - whole[i])); d > 1e-5*gmax {
							t.Fatalf("%s: %s[%d]: chunked gradient %g, whole %g", name, tn.Name, i-tn.Offset, parts[i], whole[i])
						}
					}
				}
			})
		})
	}
}

// TestEvalAgreesWithTraining checks that an evaluation workspace (ping-pong
// buffers) computes the same loss as a training one, and that Loss,
// ForwardBackward and Logits agree.
func TestEvalAgreesWithTraining(t *testing.T) {
	for name, c := range tinyConfigs() {
		m := randomModel(t, c, 8)
		p := m.Packed()
		rng := rand.New(rand.NewPCG(1, 2))
		x := randomClasses(rng, 600, c.QuantizationChannels)
		y := randomClasses(rng, 600, c.QuantizationChannels)
		k := kernels.Best()
		tw, _ := NewTrainingWorkspace(c, k, 700)
		ew, _ := NewEvalWorkspace(c, k, 700)
		for _, from := range []int{0, 5, 300} {
			fb, err := tw.ForwardBackward(p, x, y, from, 1, m.NewGrad())
			if err != nil {
				t.Fatal(err)
			}
			tl, _ := tw.Loss(p, x, y, from)
			el, _ := ew.Loss(p, x, y, from)
			if tl != fb || el != fb {
				t.Errorf("%s from %d: ForwardBackward %v, training Loss %v, eval Loss %v", name, from, fb, tl, el)
			}
			lg, _ := ew.Logits(p, x, from, make([]float32, c.QuantizationChannels*(len(x)-from)))
			var sum float64
			for j := 0; j < lg.Cols; j++ {
				mx := math.Inf(-1)
				for q := 0; q < lg.Rows; q++ {
					mx = math.Max(mx, float64(lg.At(q, j)))
				}
				var z float64
				for q := 0; q < lg.Rows; q++ {
					z += math.Exp(float64(lg.At(q, j)) - mx)
				}
				sum += mx + math.Log(z) - float64(lg.At(int(y[from+j]), j))
			}
			if math.Abs(sum-fb) > 1e-5*fb {
				t.Errorf("%s from %d: loss from Logits %v, Loss %v", name, from, sum, fb)
			}
		}
	}
}

// TestNoAllocation checks the steady state of every entry point.
func TestNoAllocation(t *testing.T) {
	c := tiny(3, true, InputOneHot, 2)
	m := randomModel(t, c, 1)
	p := m.Packed()
	rng := rand.New(rand.NewPCG(1, 1))
	x := randomClasses(rng, 700, c.QuantizationChannels)
	y := randomClasses(rng, 700, c.QuantizationChannels)
	grad := m.NewGrad()
	logits := make([]float32, c.QuantizationChannels*len(x))
	forEachSet(t, func(t *testing.T, k kernels.Set) {
		tw, _ := NewTrainingWorkspace(c, k, 700)
		ew, _ := NewEvalWorkspace(c, k, 700)
		for name, f := range map[string]func(){
			"ForwardBackward": func() { tw.ForwardBackward(p, x, y, 20, 1, grad) },
			"Loss":            func() { ew.Loss(p, x, y, 20) },
			"Logits":          func() { ew.Logits(p, x, 0, logits) },
			"Activations":     func() { ew.Activations(p, x, 100, ActivationOptions{SkipSum: true}) },
			"Pack":            func() { p.Pack(m.Params) },
		} {
			if a := testing.AllocsPerRun(3, f); a != 0 {
				t.Errorf("%s allocates %v times per call", name, a)
			}
		}
	})
}

func TestWorkspaceRejects(t *testing.T) {
	c := tiny(2, true, InputOneHot, 1)
	m := randomModel(t, c, 1)
	p := m.Packed()
	k := kernels.Reference()
	tw, _ := NewTrainingWorkspace(c, k, 10)
	ew, _ := NewEvalWorkspace(c, k, 10)
	x := []int32{1, 2, 3, 4}
	other := c
	other.SkipChannels = 9
	om, _ := New(other)
	cases := []struct {
		name string
		err  error
		want string
	}{
		{"eval workspace", func() error { _, e := ew.ForwardBackward(p, x, x, 0, 1, m.NewGrad()); return e }(), "training workspace"},
		{"too long", func() error { _, e := tw.Loss(p, make([]int32, 11), make([]int32, 11), 0); return e }(), "1 to 10"},
		{"empty", func() error { _, e := tw.Loss(p, []int32{}, []int32{}, 0); return e }(), "1 to 10"},
		{"bad class", func() error { _, e := tw.Loss(p, []int32{1, 16}, []int32{1, 1}, 0); return e }(), "class 16"},
		{"bad target", func() error { _, e := tw.Loss(p, x, []int32{1, 1, -1, 1}, 0); return e }(), "target 2"},
		{"target lengths", func() error { _, e := tw.Loss(p, x, x[:3], 0); return e }(), "3 targets"},
		{"scoreFrom", func() error { _, e := tw.Loss(p, x, x, 5); return e }(), "scoreFrom 5"},
		{"grad length", func() error { _, e := tw.ForwardBackward(p, x, x, 0, 1, make([]float32, 3)); return e }(), "gradient arena"},
		{"architecture", func() error { _, e := tw.Loss(om.Packed(), x, x, 0); return e }(), "different architecture"},
		{"logits buffer", func() error { _, e := tw.Logits(p, x, 0, make([]float32, 5)); return e }(), "logits buffer"},
		{"pack length", p.Pack(make([]float32, 5)), "packing 5"},
		{"layers", func() error { _, e := ew.Activations(p, x, 0, ActivationOptions{Layers: 5}); return e }(), "5 layers"},
		{"skip without all layers", func() error {
			_, e := ew.Activations(p, x, 0, ActivationOptions{Layers: 2, SkipSum: true})
			return e
		}(), "needs all 4 layers"},
	}
	for _, c := range cases {
		if c.err == nil || !strings.Contains(c.err.Error(), c.want) {
			t.Errorf("%s: error %v, want one mentioning %q", c.name, c.err, c.want)
		}
	}
	// Ignored positions may hold anything.
	if _, err := tw.Loss(p, x, []int32{-5, 99, 1, 1}, 2); err != nil {
		t.Errorf("targets before scoreFrom were checked: %v", err)
	}
	if l, err := tw.ForwardBackward(p, x, x, 4, 1, m.NewGrad()); l != 0 || err != nil {
		t.Errorf("nothing scored: loss %v, error %v", l, err)
	}
	if _, err := NewTrainingWorkspace(c, kernels.Set{Name: "empty"}, 10); err == nil {
		t.Error("an empty kernel set was accepted")
	}
	if _, err := NewEvalWorkspace(c, k, 0); err == nil {
		t.Error("a zero-length workspace was accepted")
	}
}

// TestContextIsExact checks, on the float64 reference, that RF−1 inputs of
// context are exactly enough (so the chunk test above uses the least
// context that works): with them the chunk's scored losses equal the whole
// sequence's bit for bit; with one fewer they differ.
func TestContextIsExact(t *testing.T) {
	for name, c := range tinyConfigs() {
		m := randomModel(t, c, 21)
		r := newRefNet(m)
		rng := rand.New(rand.NewPCG(4, 4))
		x := randomClasses(rng, 60, c.QuantizationChannels)
		y := randomClasses(rng, 60, c.QuantizationChannels)
		whole := r.losses(x, y)
		ctx := c.ReceptiveField() - 1
		const s = 40
		enough := r.losses(x[s-ctx:], y[s-ctx:])[ctx:]
		short := r.losses(x[s-ctx+1:], y[s-ctx+1:])[ctx-1:]
		for i := range enough {
			if enough[i] != whole[s+i] {
				t.Errorf("%s: position %d with RF−1 context: loss %v, whole sequence %v", name, s+i, enough[i], whole[s+i])
			}
		}
		if short[0] == whole[s] {
			t.Errorf("%s: position %d with RF−2 context: the loss did not change", name, s)
		}
	}
}
