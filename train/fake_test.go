package train

import (
	"math"
	"math/rand/v2"

	"github.com/nextsample/nextsample/causalconv"
)

// fakeNet is a tiny autoregressive model for testing the engine without
// the real network: logits[t] = b + Σ_{k<K} W_k[:, x[t-k]] over q classes,
// with nothing added for positions before the start of the sequence (the
// zero padding of the real network). Its receptive field is K.
type fakeNet struct {
	q, k int
	p    []float32 // W (k·q·q, W_k[c][j] at (k·q+j)·q+c) then b (q)
}

func newFakeNet(q, k int, seed uint64) *fakeNet {
	n := &fakeNet{q: q, k: k, p: make([]float32, k*q*q+q)}
	r := rand.New(rand.NewPCG(seed, 1))
	for i := range n.p {
		n.p[i] = float32(r.NormFloat64() * 0.1)
	}
	return n
}

func (n *fakeNet) params() []float32   { return n.p }
func (n *fakeNet) receptiveField() int { return n.k }
func (n *fakeNet) prepare()            {}
func (n *fakeNet) newWorker(maxLen int) (worker, error) {
	return &fakeWorker{n: n, logits: make([]float64, n.q)}, nil
}

type fakeWorker struct {
	n      *fakeNet
	logits []float64
}

func (w *fakeWorker) run(x, y []int32, from int, scale float32, grad []float32) float64 {
	q, k := w.n.q, w.n.k
	var total float64
	for t := from; t < len(x); t++ {
		for c := range w.logits {
			w.logits[c] = float64(w.n.p[k*q*q+c])
		}
		for j := 0; j < k && t-j >= 0; j++ {
			row := (j*q + int(x[t-j])) * q
			for c := range w.logits {
				w.logits[c] += float64(w.n.p[row+c])
			}
		}
		m := math.Inf(-1)
		for _, v := range w.logits {
			m = math.Max(m, v)
		}
		var z float64
		for _, v := range w.logits {
			z += math.Exp(v - m)
		}
		total += m + math.Log(z) - w.logits[y[t]]
		if grad == nil {
			continue
		}
		for c := range w.logits {
			d := math.Exp(w.logits[c]-m) / z
			if c == int(y[t]) {
				d--
			}
			d *= float64(scale)
			grad[k*q*q+c] += float32(d)
			for j := 0; j < k && t-j >= 0; j++ {
				grad[(j*q+int(x[t-j]))*q+c] += float32(d)
			}
		}
	}
	return total
}

func (w *fakeWorker) forwardBackward(x, y []int32, from int, scale float32, grad []float32) (float64, error) {
	return w.run(x, y, from, scale, grad), nil
}

func (w *fakeWorker) bytes() int64 { return 0 }

func (w *fakeWorker) setSpeaker(int) {}

func (w *fakeWorker) setFeatures(causalconv.Matrix, int) error { return nil }

func (w *fakeWorker) loss(x, y []int32, from int) (float64, error) {
	return w.run(x, y, from, 0, nil), nil
}

// randomSeq returns n classes in [0, q) with some structure (a random walk)
// so that the fake model has something to learn.
func randomSeq(r *rand.Rand, n, q int) []int32 {
	s := make([]int32, n)
	v := q / 2
	for i := range s {
		v += r.IntN(5) - 2
		v = (v%q + q) % q
		s[i] = int32(v)
	}
	return s
}
