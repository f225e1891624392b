package train

import (
	"fmt"
	"math"
)

// Optimizer names accepted by Options.Optimizer.
const (
	SGD  = "sgd"
	Adam = "adam"
)

// An Optimizer updates the flat parameter arena from the flat gradient
// arena. The trainer calls Prepare once per step and then Update over
// disjoint ranges [lo, hi), possibly from several goroutines at once, so
// Update must only touch index range [lo, hi) of its state. Every
// operation is element-wise, which makes the result independent of how the
// arena is split into ranges.
type Optimizer interface {
	// Name is SGD or Adam.
	Name() string
	// Prepare fixes the constants of update number step (1-based) with
	// learning rate lr.
	Prepare(step int64, lr float64)
	// Update applies one step to params[lo:hi] with the gradient
	// gradScale·grad[lo:hi] (gradScale is the clipping factor; the scaled
	// gradient is rounded to float32 first, as torch's in-place clip does).
	Update(params, grad []float32, lo, hi int, gradScale float32)
	// State returns the optimizer's per-parameter buffers by name, for
	// checkpoints. The slices alias the live state.
	State() []NamedBuffer
}

// NamedBuffer is one per-parameter state buffer of an optimizer, as long as
// the parameter arena.
type NamedBuffer struct {
	Name string
	Data []float32
}

// SGDOptions are the settings of SGD with momentum, with the semantics of
// torch.optim.SGD (dampening 0).
type SGDOptions struct {
	Momentum    float64
	Nesterov    bool
	WeightDecay float64
}

// AdamOptions are the settings of Adam, with the semantics of
// torch.optim.Adam (amsgrad off; WeightDecay is an L2 term added to the
// gradient, not AdamW's decoupled decay).
type AdamOptions struct {
	Beta1, Beta2, Epsilon float64
	WeightDecay           float64
}

// DefaultAdam returns torch's defaults: betas (0.9, 0.999), eps 1e-8.
func DefaultAdam() AdamOptions { return AdamOptions{Beta1: 0.9, Beta2: 0.999, Epsilon: 1e-8} }

// sgd is torch.optim.SGD over one flat arena:
//
//	d = g + wd·p
//	buf = μ·buf + d            (buf starts at 0, so the first step gives buf = d)
//	d = nesterov ? d + μ·buf : buf
//	p = p - lr·d
type sgd struct {
	opt SGDOptions
	buf []float32
	lr  float32
	mu  float32
	wd  float32
}

// NewSGD returns SGD over n parameters.
func NewSGD(n int, o SGDOptions) (Optimizer, error) {
	if o.Momentum < 0 || o.Momentum >= 1 || math.IsNaN(o.Momentum) {
		return nil, fmt.Errorf("momentum %g: must be in [0, 1)", o.Momentum)
	}
	if o.Nesterov && o.Momentum == 0 {
		return nil, fmt.Errorf("nesterov needs a momentum > 0")
	}
	if o.WeightDecay < 0 || math.IsNaN(o.WeightDecay) {
		return nil, fmt.Errorf("weight decay %g: must be >= 0", o.WeightDecay)
	}
	s := &sgd{opt: o, mu: float32(o.Momentum), wd: float32(o.WeightDecay)}
	if o.Momentum != 0 {
		s.buf = make([]float32, n)
	}
	return s, nil
}

func (s *sgd) Name() string { return SGD }

func (s *sgd) Prepare(step int64, lr float64) { s.lr = float32(lr) }

func (s *sgd) Update(params, grad []float32, lo, hi int, gradScale float32) {
	p, g := params[lo:hi], grad[lo:hi]
	g = g[:len(p)]
	lr, mu, wd := s.lr, s.mu, s.wd
	if s.buf == nil {
		for i := range p {
			d := g[i] * gradScale
			if wd != 0 {
				d += wd * p[i]
			}
			p[i] -= lr * d
		}
		return
	}
	b := s.buf[lo:hi]
	b = b[:len(p)]
	nesterov := s.opt.Nesterov
	for i := range p {
		d := g[i] * gradScale
		if wd != 0 {
			d += wd * p[i]
		}
		m := mu*b[i] + d
		b[i] = m
		if nesterov {
			d += mu * m
		} else {
			d = m
		}
		p[i] -= lr * d
	}
}

func (s *sgd) State() []NamedBuffer {
	if s.buf == nil {
		return nil
	}
	return []NamedBuffer{{Name: "momentum_buffer", Data: s.buf}}
}

// adam is torch.optim.Adam (single-tensor path) over one flat arena:
//
//	g = g + wd·p
//	m = β1·m + (1-β1)·g
//	v = β2·v + (1-β2)·g²
//	p = p - (lr/(1-β1^t)) · m / (sqrt(v)/sqrt(1-β2^t) + eps)
type adam struct {
	opt                AdamOptions
	m, v               []float32
	stepSize, bc2Sqrt  float32
	b1, b2, c1, c2, wd float32
	eps                float32
}

// NewAdam returns Adam over n parameters.
func NewAdam(n int, o AdamOptions) (Optimizer, error) {
	for _, b := range []float64{o.Beta1, o.Beta2} {
		if !(b >= 0 && b < 1) {
			return nil, fmt.Errorf("adam beta %g: must be in [0, 1)", b)
		}
	}
	if !(o.Epsilon > 0) {
		return nil, fmt.Errorf("adam epsilon %g: must be > 0", o.Epsilon)
	}
	if o.WeightDecay < 0 || math.IsNaN(o.WeightDecay) {
		return nil, fmt.Errorf("weight decay %g: must be >= 0", o.WeightDecay)
	}
	return &adam{
		opt: o, m: make([]float32, n), v: make([]float32, n),
		b1: float32(o.Beta1), b2: float32(o.Beta2),
		c1: float32(1 - o.Beta1), c2: float32(1 - o.Beta2),
		wd: float32(o.WeightDecay), eps: float32(o.Epsilon),
	}, nil
}

func (a *adam) Name() string { return Adam }

func (a *adam) Prepare(step int64, lr float64) {
	bc1 := 1 - math.Pow(a.opt.Beta1, float64(step))
	bc2 := 1 - math.Pow(a.opt.Beta2, float64(step))
	a.stepSize = float32(lr / bc1)
	a.bc2Sqrt = float32(math.Sqrt(bc2))
}

func (a *adam) Update(params, grad []float32, lo, hi int, gradScale float32) {
	p, g := params[lo:hi], grad[lo:hi]
	m, v := a.m[lo:hi], a.v[lo:hi]
	g, m, v = g[:len(p)], m[:len(p)], v[:len(p)]
	b1, b2, c1, c2, wd := a.b1, a.b2, a.c1, a.c2, a.wd
	stepSize, bc2Sqrt, eps := a.stepSize, a.bc2Sqrt, a.eps
	for i := range p {
		d := g[i] * gradScale
		if wd != 0 {
			d += wd * p[i]
		}
		mi := b1*m[i] + c1*d
		vi := b2*v[i] + c2*d*d
		m[i], v[i] = mi, vi
		denom := float32(math.Sqrt(float64(vi)))/bc2Sqrt + eps
		p[i] -= stepSize * mi / denom
	}
}

func (a *adam) State() []NamedBuffer {
	return []NamedBuffer{{Name: "exp_avg", Data: a.m}, {Name: "exp_avg_sq", Data: a.v}}
}
