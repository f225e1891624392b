package probe

import (
	"context"
	"errors"
	"fmt"
	"math"

	"gonum.org/v1/gonum/optimize"
)

// Classifier is a multinomial logistic regression: class scores
// z = W·x + b for x of Dims values, K classes; W is K × Dims, row-major.
type Classifier struct {
	K, Dims int
	W, B    []float64
}

// Predict returns the class with the highest score (the lowest index on
// ties, so predictions are deterministic).
func (c *Classifier) Predict(x []float64) int {
	best, bestScore := 0, math.Inf(-1)
	for k := range c.K {
		s := c.B[k]
		for j, w := range c.W[k*c.Dims : (k+1)*c.Dims] {
			s += w * x[j]
		}
		if s > bestScore {
			best, bestScore = k, s
		}
	}
	return best
}

// FitOptions control FitLogistic.
type FitOptions struct {
	// C is the inverse regularisation strength, as in scikit-learn: the
	// objective is ½‖W‖² + C·Σ_i CE_i. C must be positive.
	C float64
	// GradientTol stops when the largest gradient component of the
	// objective divided by C·n falls below it; 0 means 1e-7.
	GradientTol float64
	// MaxIterations bounds the L-BFGS iterations; 0 means 10000.
	MaxIterations int
}

// FitLogistic trains a K-class logistic regression on n examples: x holds
// them row-major (n × dims), y their classes in 0..k-1. It minimises
// scikit-learn's LogisticRegression objective (multinomial, L2, lbfgs)
//
//	½‖W‖² + C·Σ_i [log Σ_k exp(z_ik) − z_i,y_i],  z_i = W·x_i + b
//
// with no penalty on the intercepts b, by L-BFGS from zero, to
// convergence rather than to scikit-learn's default 100 iterations. The
// objective is strictly convex in W, so the solution does not depend on
// the optimiser. ctx cancels the optimisation.
func FitLogistic(ctx context.Context, x []float64, y []int, k, dims int, opts FitOptions) (*Classifier, error) {
	n := len(y)
	switch {
	case n == 0:
		return nil, errors.New("probe: no training examples")
	case k < 1 || dims < 1:
		return nil, fmt.Errorf("probe: %d classes of %d dims", k, dims)
	case len(x) != n*dims:
		return nil, fmt.Errorf("probe: %d values for %d examples of %d dims", len(x), n, dims)
	case !(opts.C > 0) || math.IsInf(opts.C, 0):
		return nil, fmt.Errorf("probe: C = %v must be positive", opts.C)
	}
	for i, c := range y {
		if c < 0 || c >= k {
			return nil, fmt.Errorf("probe: example %d has class %d, not in 0..%d", i, c, k-1)
		}
	}
	tol := opts.GradientTol
	if tol == 0 {
		tol = 1e-7
	}
	maxIter := opts.MaxIterations
	if maxIter == 0 {
		maxIter = 10000
	}

	obj := newObjective(x, y, k, dims, opts.C)
	// The optimiser sees the objective divided by C·n, so that the
	// gradient tolerance means the same for any corpus size and C.
	scale := 1 / (opts.C * float64(n))
	problem := optimize.Problem{
		Func: func(p []float64) float64 { return obj.eval(p) * scale },
		Grad: func(grad, p []float64) {
			obj.eval(p)
			for i, g := range obj.grad {
				grad[i] = g * scale
			}
		},
		Status: func() (optimize.Status, error) {
			if err := ctx.Err(); err != nil {
				return optimize.Failure, err
			}
			return optimize.NotTerminated, nil
		},
	}
	settings := &optimize.Settings{
		GradientThreshold: tol,
		MajorIterations:   maxIter,
		Converger:         &optimize.FunctionConverge{Absolute: 1e-14, Relative: 1e-14, Iterations: 50},
	}
	res, err := optimize.Minimize(problem, make([]float64, k*dims+k), settings, &optimize.LBFGS{})
	if ctxErr := ctx.Err(); ctxErr != nil {
		return nil, ctxErr
	}
	if err != nil && res == nil {
		return nil, fmt.Errorf("probe: logistic regression: %w", err)
	}
	// A line search that cannot improve further at a tiny gradient is
	// convergence in all but name; anything else is reported.
	if err != nil || res.Status == optimize.IterationLimit {
		obj.eval(res.X)
		if g := infNorm(obj.grad) * scale; g > 100*tol {
			return nil, fmt.Errorf("probe: logistic regression did not converge (%v, gradient %.3g): %v", res.Status, g, err)
		}
	}
	p := res.X
	return &Classifier{K: k, Dims: dims, W: append([]float64(nil), p[:k*dims]...), B: append([]float64(nil), p[k*dims:]...)}, nil
}

func infNorm(v []float64) float64 {
	var m float64
	for _, x := range v {
		m = math.Max(m, math.Abs(x))
	}
	return m
}

// objective evaluates the unscaled loss and its gradient, caching the
// last point: gonum asks for the value and the gradient separately, at
// the same point.
type objective struct {
	x       []float64
	y       []int
	k, dims int
	c       float64

	last  []float64 // point of the cached value and gradient
	value float64
	grad  []float64 // k*dims weights, then k intercepts
	z     []float64 // scores of one example
}

func newObjective(x []float64, y []int, k, dims int, c float64) *objective {
	return &objective{x: x, y: y, k: k, dims: dims, c: c, grad: make([]float64, k*dims+k), z: make([]float64, k)}
}

// eval returns the objective at p and leaves its gradient in o.grad.
func (o *objective) eval(p []float64) float64 {
	if o.last != nil && equal(o.last, p) {
		return o.value
	}
	k, dims := o.k, o.dims
	w, b := p[:k*dims], p[k*dims:]
	gw, gb := o.grad[:k*dims], o.grad[k*dims:]

	// Regulariser ½‖W‖², gradient W.
	var value float64
	for i, v := range w {
		value += 0.5 * v * v
		gw[i] = v
	}
	clear(gb)

	for i, yi := range o.y {
		xi := o.x[i*dims : (i+1)*dims]
		zmax := math.Inf(-1)
		for c := range k {
			s := b[c]
			for j, v := range w[c*dims : (c+1)*dims] {
				s += v * xi[j]
			}
			o.z[c] = s
			zmax = math.Max(zmax, s)
		}
		var sum float64
		for _, s := range o.z {
			sum += math.Exp(s - zmax)
		}
		logZ := zmax + math.Log(sum)
		value += o.c * (logZ - o.z[yi])
		// d CE / d z_c = softmax_c − [c = y_i]
		for c := range k {
			d := math.Exp(o.z[c] - logZ)
			if c == yi {
				d--
			}
			d *= o.c
			gb[c] += d
			row := gw[c*dims : (c+1)*dims]
			for j, v := range xi {
				row[j] += d * v
			}
		}
	}
	o.value = value
	o.last = append(o.last[:0], p...)
	return value
}

func equal(a, b []float64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
