package kernels

import (
	"math"
	"math/rand/v2"
	"testing"
)

// The documented error bounds (approx.go), checked here for every Set.
const (
	maxRelErrExp     = 1.2e-7
	maxRelErrSigmoid = 2e-7
	maxRelErrTanh    = 2e-7
	minNormal32      = 0x1p-126
)

// approxInputs is a dense grid over the interesting range plus random bit
// patterns over the whole float32 range (tiny, huge, ±Inf, NaN).
func approxInputs() []float32 {
	var xs []float32
	for x := -110.0; x <= 110; x += 1.0 / 512 {
		xs = append(xs, float32(x))
	}
	for x := -1.0; x <= 1; x += 1.0 / 65536 {
		xs = append(xs, float32(x))
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range 100000 {
		xs = append(xs, math.Float32frombits(r.Uint32()))
	}
	xs = append(xs, 0, float32(math.Copysign(0, -1)), float32(math.Inf(1)), float32(math.Inf(-1)),
		88.72283, 88.7229, -87.33654, -103.9, -104, 1e-45, -1e-45, 0.5625, -0.5625, 0.56249994)
	return xs
}

// relErr is |got-want|/|want|, with results below the smallest normal
// float32 only checked to within 2^-126 (exact if so, +Inf if not), and with
// equal infinities and matching NaNs counted as exact.
func relErr(got float32, want float64) float64 {
	g := float64(got)
	switch {
	case math.IsNaN(want):
		if math.IsNaN(g) {
			return 0
		}
		return math.Inf(1)
	case math.IsInf(want, 0) || want > math.MaxFloat32 || want < -math.MaxFloat32:
		if math.IsInf(g, int(math.Copysign(1, want))) {
			return 0
		}
		return math.Inf(1)
	case math.Abs(want) < minNormal32:
		// Subnormal results are only promised to within 2^-126.
		if math.Abs(g-want) <= minNormal32 {
			return 0
		}
		return math.Inf(1)
	}
	return math.Abs(g-want) / math.Abs(want)
}

type errStat struct {
	max  float64
	at   float32
	name string
}

func (e *errStat) add(x float32, err float64) {
	if !(err <= e.max) {
		e.max, e.at = err, x
	}
}

func (e *errStat) check(t *testing.T, bound float64) {
	t.Helper()
	t.Logf("%s: max relative error %.3g at x=%g", e.name, e.max, e.at)
	if !(e.max <= bound) {
		t.Errorf("%s: max relative error %.3g at x=%g exceeds the documented %.3g", e.name, e.max, e.at, bound)
	}
}

func TestScalarApprox(t *testing.T) {
	xs := approxInputs()
	ex := errStat{name: "expf"}
	sg := errStat{name: "sigmoidf"}
	th := errStat{name: "tanhf"}
	for _, x := range xs {
		ex.add(x, relErr(expf(x), math.Exp(float64(x))))
		sg.add(x, relErr(sigmoidf(x), 1/(1+math.Exp(-float64(x)))))
		th.add(x, relErr(tanhf(x), math.Tanh(float64(x))))
	}
	ex.check(t, maxRelErrExp)
	sg.check(t, maxRelErrSigmoid)
	th.check(t, maxRelErrTanh)
}

// TestGateAccuracy checks each Set's vector tanh and sigmoid through Gate.
func TestGateAccuracy(t *testing.T) {
	xs := approxInputs()
	n := len(xs)
	for _, s := range testSets(t) {
		f := append([]float32(nil), xs...)
		g := make([]float32, n)
		copy(g, xs[n/3:])
		copy(g[n-n/3:], xs)
		g0 := append([]float32(nil), g...)
		z := make([]float32, n+1)
		z[n] = 7
		s.Gate(n, f, g, f, g, z)
		th := errStat{name: s.Name + " tanh"}
		sg := errStat{name: s.Name + " sigmoid"}
		pr := errStat{name: s.Name + " tanh·sigmoid"}
		for i := range n {
			wt := math.Tanh(float64(xs[i]))
			ws := 1 / (1 + math.Exp(-float64(g0[i])))
			th.add(xs[i], relErr(f[i], wt))
			sg.add(g0[i], relErr(g[i], ws))
			pr.add(xs[i], relErr(z[i], float64(f[i])*float64(g[i])))
		}
		th.check(t, maxRelErrTanh)
		sg.check(t, maxRelErrSigmoid)
		pr.check(t, 1e-7)
		if z[n] != 7 {
			t.Errorf("%s Gate wrote past n", s.Name)
		}
		{
			y := make([]float32, n)
			s.Exp(n, xs, y)
			ex := errStat{name: s.Name + " exp"}
			for i, x := range xs {
				ex.add(x, relErr(y[i], math.Exp(float64(x))))
			}
			ex.check(t, maxRelErrExp)
		}
	}
}
