package causalconv

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/nextsample/nextsample/causalconv/kernels"
)

// TestSamplerDistribution checks the sampler against the softmax it
// samples: frequencies over many draws, the effect of temperature, argmax
// at temperature 0, and reproducibility from the seed.
func TestSamplerDistribution(t *testing.T) {
	logits := []float32{1, 0, -1, 2, 0.5, -30, 2, 0}
	const N = 200000
	for _, temp := range []float64{1, 0.5, 2} {
		smp, err := NewSampler(kernels.Generic(), len(logits), temp, 7, 0)
		if err != nil {
			t.Fatal(err)
		}
		count := make([]int, len(logits))
		for range N {
			count[smp.Draw(logits, 1)]++
		}
		var z float64
		for _, l := range logits {
			z += math.Exp(float64(l) / temp)
		}
		for c, l := range logits {
			p := math.Exp(float64(l)/temp) / z
			got := float64(count[c]) / N
			sd := math.Sqrt(p * (1 - p) / N)
			if math.Abs(got-p) > 5*sd+1e-9 {
				t.Errorf("T=%g class %d: frequency %.5f, probability %.5f (±%.5f)", temp, c, got, p, sd)
			}
		}
	}
	greedy, _ := NewSampler(kernels.Generic(), len(logits), 0, 1, 0)
	for range 10 {
		if c := greedy.Draw(logits, 1); c != 3 {
			t.Fatalf("temperature 0 drew class %d, want the first largest logit, 3", c)
		}
	}
	// A strided column: the logits of stream 1 of 2.
	inter := make([]float32, 2*len(logits))
	for c, l := range logits {
		inter[2*c+1] = l
		inter[2*c] = -l
	}
	g2, _ := NewSampler(kernels.Generic(), len(logits), 0, 1, 0)
	if c := g2.Draw(inter[1:], 2); c != 3 {
		t.Errorf("strided draw took class %d, want 3", c)
	}
	a, _ := NewSampler(kernels.Generic(), len(logits), 1, 99, 3)
	b, _ := NewSampler(kernels.Generic(), len(logits), 1, 99, 3)
	o, _ := NewSampler(kernels.Generic(), len(logits), 1, 99, 4)
	same, differ := true, false
	for range 1000 {
		x, y, z := a.Draw(logits, 1), b.Draw(logits, 1), o.Draw(logits, 1)
		same = same && x == y
		differ = differ || x != z
	}
	if !same || !differ {
		t.Errorf("same seed and stream reproduce: %v (want true); another stream differs: %v (want true)", same, differ)
	}
	for _, bad := range []float64{-1, math.NaN(), math.Inf(1)} {
		if _, err := NewSampler(kernels.Generic(), 4, bad, 1, 0); err == nil {
			t.Errorf("temperature %v accepted", bad)
		}
	}
}

// TestSamplerWeights checks the sampler's softmax weights against
// math.Exp, for every kernel set: relative error below 3e-7 down to
// exp(-87), and 0 below (or for NaN).
func TestSamplerWeights(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 3))
	for _, k := range kernels.Sets() {
		smp, err := NewSampler(k, 1, 1, 1, 0)
		if err != nil {
			t.Fatal(err)
		}
		weight := func(x float32) float64 {
			smp.weights([]float32{x}, 1, 0, 1)
			return float64(smp.w[0])
		}
		var worst float64
		for i := 0; i < 200000; i++ {
			x := -float32(rng.Float64() * 87)
			if i%2 == 0 {
				x = -float32(rng.Float64() * 10)
			}
			got, want := weight(x), math.Exp(float64(x))
			rel := math.Abs(got-want) / want
			worst = math.Max(worst, rel)
			if rel > 3e-7 {
				t.Fatalf("%s: exp(%v) = %v, want %v (relative error %.2g)", k.Name, x, got, want, rel)
			}
		}
		t.Logf("%s: max relative error %.2g", k.Name, worst)
		for _, x := range []float32{0, -87.5, -1000, float32(math.Inf(-1)), float32(math.NaN())} {
			want := math.Exp(float64(x))
			if !(x > -87) {
				want = 0
			}
			if got := weight(x); math.Abs(got-want) > 3e-7*want {
				t.Errorf("%s: exp(%v) = %v, want %v", k.Name, x, got, want)
			}
		}
	}
}

// TestSamplerKernelSets: with every kernel set's Exp the sampler draws the
// classes it draws with kernels.Generic's scalar exp: for 20,000 draws
// over random 256-class logits (spread as a trained model's, plus some NaN
// and -Inf logits and very low ones) the classes agree in all but a few
// draws (a weight's last bit can move a boundary by ~1e-7 of the total),
// and at temperature 0 always.
func TestSamplerKernelSets(t *testing.T) {
	const q, N = 256, 20000
	rng := rand.New(rand.NewPCG(8, 8))
	logits := make([]float32, q*N)
	for i := range logits {
		logits[i] = float32(rng.NormFloat64() * 4)
		switch rng.IntN(200) {
		case 0:
			logits[i] = float32(math.NaN())
		case 1:
			logits[i] = float32(math.Inf(-1))
		case 2:
			logits[i] -= 100
		}
	}
	for _, k := range kernels.Sets() {
		if k.Exp == nil {
			continue
		}
		for _, temp := range []float64{1, 0.7, 0} {
			a, _ := NewSampler(kernels.Generic(), q, temp, 5, 1)
			b, _ := NewSampler(k, q, temp, 5, 1)
			differ := 0
			for i := range N {
				if a.Draw(logits[i*q:(i+1)*q], 1) != b.Draw(logits[i*q:(i+1)*q], 1) {
					differ++
				}
			}
			if differ > 2 || (temp == 0 && differ > 0) {
				t.Errorf("%s T=%g: %d of %d draws differ from the generic set's", k.Name, temp, differ, N)
			}
		}
	}
}
