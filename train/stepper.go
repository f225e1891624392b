package train

import (
	"github.com/nextsample/nextsample/causalconv"
)

// Stepper runs training steps on batches the caller makes, with the
// engine a Run uses: chunking, all threads, the deterministic gradient
// sum, clipping, the NaN guard's skip and the optimizer. `nextsample bench`
// measures it on the reference benchmark's shapes (B sequences of T
// samples: Unit{Seq: seq (T+1 classes), Start: 0, Targets: T}).
type Stepper struct {
	model   *causalconv.Model
	opts    Options
	eng     *engine
	updates int64
}

// StepResult is what one step measured.
type StepResult struct {
	// Nats is the batch's mean cross-entropy per scored target.
	Nats float64
	// Targets is the number of scored targets.
	Targets int
	// GradNorm is the gradient's global L2 norm before clipping.
	GradNorm float64
	// Finite is false if the loss or gradient was NaN or infinite; the
	// update was then skipped.
	Finite bool
}

// NewStepper returns a stepper that trains model in place with the
// optimizer, learning rate (constant: no schedule), clipping, chunk,
// precision and thread count of o.
func NewStepper(model *causalconv.Model, o Options) (*Stepper, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	opt, err := o.newOptimizer(model.NumParams())
	if err != nil {
		return nil, err
	}
	net, err := newConvNet(model, true, o.Kernels, o.Precision)
	if err != nil {
		return nil, err
	}
	eng, err := newEngine(net, opt, threadsOrAll(o.Threads), o.Chunk)
	if err != nil {
		return nil, err
	}
	return &Stepper{model: model, opts: o, eng: eng}, nil
}

// Step runs one training step on units. It does not allocate once the
// stepper has seen a batch of the same shape.
func (s *Stepper) Step(units []Unit) (StepResult, error) {
	res, err := s.eng.step(units, s.updates+1, s.opts.LR, s.opts.Clip)
	if err != nil {
		return StepResult{}, err
	}
	if res.Finite {
		s.updates++
	}
	return res, nil
}

// Close stops the stepper's worker goroutines.
func (s *Stepper) Close() { s.eng.close() }
