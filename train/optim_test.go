package train

import (
	"encoding/json"
	"math"
	"os"
	"testing"
)

type optimGolden struct {
	P0    []float32   `json:"p0"`
	Grads [][]float32 `json:"grads"`
	LRs   []float64   `json:"lrs"`
	Cases []struct {
		Optimizer string `json:"optimizer"`
		Options   struct {
			Momentum    float64   `json:"momentum"`
			Nesterov    bool      `json:"nesterov"`
			WeightDecay float64   `json:"weight_decay"`
			Betas       []float64 `json:"betas"`
			Eps         float64   `json:"eps"`
		} `json:"options"`
		Params [][]float32 `json:"params"`
	} `json:"cases"`
}

// TestOptimizersMatchTorch replays the gradients of testdata/optim_golden.json
// (made by gen_optim_golden.py with torch.optim) through our optimizers.
func TestOptimizersMatchTorch(t *testing.T) {
	data, err := os.ReadFile("testdata/optim_golden.json")
	if err != nil {
		t.Fatal(err)
	}
	var g optimGolden
	if err := json.Unmarshal(data, &g); err != nil {
		t.Fatal(err)
	}
	for ci, c := range g.Cases {
		var opt Optimizer
		o := c.Options
		switch c.Optimizer {
		case SGD:
			opt, err = NewSGD(len(g.P0), SGDOptions{Momentum: o.Momentum, Nesterov: o.Nesterov, WeightDecay: o.WeightDecay})
		case Adam:
			a := DefaultAdam()
			if o.Betas != nil {
				a.Beta1, a.Beta2 = o.Betas[0], o.Betas[1]
			}
			if o.Eps != 0 {
				a.Epsilon = o.Eps
			}
			a.WeightDecay = o.WeightDecay
			opt, err = NewAdam(len(g.P0), a)
		}
		if err != nil {
			t.Fatal(err)
		}
		p := append([]float32(nil), g.P0...)
		for s, grad := range g.Grads {
			opt.Prepare(int64(s+1), g.LRs[s])
			// Two ranges, to exercise the per-range contract.
			opt.Update(p, grad, 0, 10, 1)
			opt.Update(p, grad, 10, len(p), 1)
			for i, want := range c.Params[s] {
				if d := math.Abs(float64(p[i] - want)); d > 2e-6*math.Max(1, math.Abs(float64(want))) {
					t.Fatalf("case %d (%s %+v) step %d param %d: got %.8g, torch %.8g", ci, c.Optimizer, o, s+1, i, p[i], want)
				}
			}
		}
	}
}

func TestGradScaleIsClipping(t *testing.T) {
	// Update with gradScale s must equal Update on the pre-scaled gradient.
	for _, mk := range []func() Optimizer{
		func() Optimizer { o, _ := NewSGD(3, SGDOptions{Momentum: 0.9}); return o },
		func() Optimizer { o, _ := NewAdam(3, DefaultAdam()); return o },
	} {
		a, b := mk(), mk()
		pa, pb := []float32{1, 2, 3}, []float32{1, 2, 3}
		g := []float32{0.5, -4, 2}
		gs := []float32{0.5 * 0.25, -4 * 0.25, 2 * 0.25}
		for s := int64(1); s <= 3; s++ {
			a.Prepare(s, 0.1)
			b.Prepare(s, 0.1)
			a.Update(pa, g, 0, 3, 0.25)
			b.Update(pb, gs, 0, 3, 1)
		}
		for i := range pa {
			if pa[i] != pb[i] {
				t.Fatalf("%s: gradScale differs from a scaled gradient: %v vs %v", a.Name(), pa, pb)
			}
		}
	}
}

func TestOptimizerOptionsRejected(t *testing.T) {
	if _, err := NewSGD(1, SGDOptions{Momentum: 1}); err == nil {
		t.Error("momentum 1 accepted")
	}
	if _, err := NewSGD(1, SGDOptions{Nesterov: true}); err == nil {
		t.Error("nesterov without momentum accepted")
	}
	if _, err := NewAdam(1, AdamOptions{Beta1: 0.9, Beta2: 1, Epsilon: 1e-8}); err == nil {
		t.Error("beta2 1 accepted")
	}
	if _, err := NewAdam(1, AdamOptions{Beta1: 0.9, Beta2: 0.99}); err == nil {
		t.Error("epsilon 0 accepted")
	}
}

func TestSchedule(t *testing.T) {
	s := Schedule{Warmup: 4, Decay: DecayCosine, Floor: 0.1, Total: 14}
	want := map[int64]float64{0: 0.25, 1: 0.5, 3: 1, 4: 1, 9: 0.1 + 0.9*0.5*(1+math.Cos(math.Pi*5/9)), 13: 0.1, 20: 0.1}
	for step, w := range want {
		if got := s.Factor(step); math.Abs(got-w) > 1e-12 {
			t.Errorf("cosine factor(%d) = %g, want %g", step, got, w)
		}
	}
	c := Schedule{Warmup: 0, Decay: DecayConstant, Total: 10}
	for _, step := range []int64{0, 5, 9} {
		if got := c.Factor(step); got != 1 {
			t.Errorf("constant factor(%d) = %g", step, got)
		}
	}
	if err := (Schedule{Decay: "linear"}).Validate(); err == nil {
		t.Error("unknown decay accepted")
	}
}
