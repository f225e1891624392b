package train

import (
	"fmt"
	"math"

	"github.com/nextsample/nextsample/causalconv"
	"github.com/nextsample/nextsample/causalconv/kernels"
)

// Options are the settings of a training run: the flags of `nextsample
// train`. A checkpoint stores them; a resumed run starts from the stored
// ones.
type Options struct {
	// Steps is the number of updates of the whole run (a resumed run
	// continues up to it).
	Steps int64 `json:"steps"`
	// Batch is the number of windows per step, Crop the largest number of
	// scored targets in one window (files with fewer are taken whole).
	Batch int `json:"batch"`
	Crop  int `json:"crop"`

	// Optimizer is SGD or Adam; LR its peak learning rate.
	Optimizer string  `json:"optimizer"`
	LR        float64 `json:"lr"`
	// Momentum and Nesterov configure SGD.
	Momentum float64 `json:"momentum"`
	Nesterov bool    `json:"nesterov"`
	// Beta1, Beta2 and Epsilon configure Adam.
	Beta1   float64 `json:"beta1"`
	Beta2   float64 `json:"beta2"`
	Epsilon float64 `json:"epsilon"`
	// WeightDecay is an L2 term added to the gradient (torch semantics).
	WeightDecay float64 `json:"weight_decay"`

	// Warmup, Decay and LRFloor shape the learning rate; see Schedule.
	Warmup  int64   `json:"warmup"`
	Decay   string  `json:"decay"`
	LRFloor float64 `json:"lr_floor"`
	// Clip is the largest global gradient norm (0: no clipping).
	Clip float64 `json:"clip"`

	// Seed fixes the initial parameters and the data order.
	Seed uint64 `json:"seed"`
	// EvalEvery and SaveEvery are the periods, in steps, of validation and
	// of step-NNNNNN.safetensors snapshots (0: never).
	EvalEvery int64 `json:"eval_every"`
	SaveEvery int64 `json:"save_every"`
	// Chunk is the largest number of scored targets one worker computes at
	// once; longer windows are split into chunks that each recompute their
	// context. It changes the float summation order, so it is part of a
	// run's identity.
	Chunk int `json:"chunk"`

	// Precision is the arithmetic of the training step's matrix products:
	// causalconv.PrecisionFP32 (the zero value) or PrecisionBF16, mixed
	// precision as in PyTorch's bf16 autocast (operands rounded to
	// bfloat16, float32 sums; parameters, optimizer state, element-wise
	// work and loss stay float32), which needs a kernel set with the bf16
	// GEMMs (AVX512_BF16). Validation always scores the model in float32,
	// so its numbers compare across precisions. A resumed run must keep
	// the precision it was started with.
	Precision causalconv.Precision `json:"precision"`

	// EMA, if not 0, is the decay (0 < EMA < 1) of an exponential moving
	// average of the weights, updated after every optimizer update with
	// the warm-up min(EMA, (1+t)/(10+t)); the average is then the run's
	// model (validated, chosen as best, saved), the raw weights training
	// state. 0.999 averages over about the last thousand updates. See
	// ema.go. A resumed run keeps its decay.
	EMA float64 `json:"ema,omitempty"`

	// SampleEvery, if not 0, is the period in steps of the samples a run
	// writes while it trains (and at its end): SamplePrompts prompts, the
	// first half second of the first validation files (training files
	// without validation), each continued for SampleSeconds seconds by
	// the run's model, as samples/step-NNNNNN-K.wav and .png. See
	// sampling.go. They do not change the training.
	SampleEvery   int64   `json:"sample_every,omitempty"`
	SampleSeconds float64 `json:"sample_seconds,omitempty"`
	SamplePrompts int     `json:"sample_prompts,omitempty"`

	// Threads is the number of worker goroutines; it does not change the
	// results, so it is not stored.
	Threads int `json:"-"`
	// Kernels is the arithmetic; the zero value means kernels.Best().
	// Sets differ in the last bits of their sums, so a resumed run must
	// use the same one to continue bit for bit.
	Kernels kernels.Set `json:"-"`
}

// DefaultChunk is the default Chunk on a machine of unknown kind and on
// Zen 4 (where it was chosen): long enough that recomputing the receptive
// field of context (2,046 samples for the default model, but only as far
// up the stack as each layer needs) stays a modest part of the work, short
// enough that the benchmark's 1×16000 batch makes four chunks for two
// threads.
const DefaultChunk = 4096

// FullWidthChunk is the chunk for windows longer than DefaultChunk on
// machines with full-width 512-bit FMAs (kernels.KindIntelAVX512,
// kernels.KindZen5): there the GEMMs run at twice Zen 4's rate, so the
// recomputed context weighs more, and halving it paid where it was
// measured (Zen 5 takes it by the same reasoning, not measured there).
// Measured on the Intel kind (family 6 model 207, 2026-12-06,
// BenchmarkStep with chunk 4096 and 8192 alternating): skip256 1×16000
// 79,149 / 69,338 / 83,451 → 85,950 / 74,246 / 88,448 timesteps/s (+6 to
// +9%), 4×8000 85,779 / 89,126 → 94,245 / 95,785 (+7 to +10%); 16384
// halved the 1×16000 rate (one chunk: one thread idle). It costs memory:
// the workspaces hold a chunk's activations (≈ 160 MiB more for the
// default model and two threads).
const FullWidthChunk = 8192

// ChunkFor is the chunk a new run with windows of at most crop scored
// targets takes on machine m: FullWidthChunk on full-width kinds when
// crop is longer than DefaultChunk, DefaultChunk otherwise. Windows of at
// most DefaultChunk (the FSDD recipe's crops of 4,000) are never split,
// so they train as everywhere, with the same memory and, since
// validation splits long files into chunks too, the same validation
// sums; longer windows split at other points on full-width kinds, which
// changes the last bits of such runs between machine kinds. A run keeps
// its chunk on --resume.
func ChunkFor(m kernels.Machine, crop int) int {
	switch m.Kind {
	case kernels.KindIntelAVX512, kernels.KindZen5:
		if crop > DefaultChunk {
			return FullWidthChunk
		}
	}
	return DefaultChunk
}

// DefaultOptimizer is the optimizer of DefaultOptions(""). Adam, not SGD:
// on the bundled samples Adam reaches 6.01 bits/sample in 300 steps where
// SGD with momentum, at the best learning rate we tried, is still at 7.6
// (unigram 7.88); see the trainer's notes in the README.
const DefaultOptimizer = Adam

// DefaultOptions returns the defaults for the given optimizer (SGD, Adam,
// or "" for DefaultOptimizer). Its Chunk is DefaultChunk; a new run's
// is ChunkFor its machine and crop (package launch sets it).
//
// Adam: lr 1e-3, betas (0.9, 0.999), eps 1e-8, no warm-up, constant rate,
// no clipping: with the batch defaults, the reference's FSDD recipe.
//
// SGD: lr 0.3, momentum 0.9, 20 warm-up steps, cosine decay to 10% of the
// peak, gradient norms clipped to 1.
//
// Both: batches of 8 windows of at most 4,000 targets, 300 steps (a few
// minutes on the bundled samples with 2 cores), validation every 50 steps,
// snapshots every 500.
func DefaultOptions(optimizer string) Options {
	if optimizer == "" {
		optimizer = DefaultOptimizer
	}
	o := Options{
		Steps: 300, Batch: 8, Crop: 4000,
		Optimizer: optimizer,
		Beta1:     0.9, Beta2: 0.999, Epsilon: 1e-8,
		LR:        1e-3,
		Decay:     DecayConstant,
		Seed:      1,
		EvalEvery: 50, SaveEvery: 500,
		Chunk:         DefaultChunk,
		SampleSeconds: DefaultSampleSeconds, SamplePrompts: DefaultSamplePrompts,
	}
	if optimizer == SGD {
		o.LR, o.Momentum = 0.3, 0.9
		o.Warmup, o.Decay, o.LRFloor = 20, DecayCosine, 0.1
		o.Clip = 1
	}
	return o
}

// schedule returns the learning-rate schedule of o.
func (o Options) schedule() Schedule {
	return Schedule{Warmup: o.Warmup, Decay: o.Decay, Floor: o.LRFloor, Total: o.Steps}
}

// Validate reports the first option that cannot work.
func (o Options) Validate() error {
	switch {
	case o.Steps < 0:
		return fmt.Errorf("steps %d: must be >= 0", o.Steps)
	case o.Batch < 1:
		return fmt.Errorf("batch %d: must be >= 1", o.Batch)
	case o.Crop < 1:
		return fmt.Errorf("crop %d: must be >= 1", o.Crop)
	case !(o.LR > 0) || math.IsInf(o.LR, 0):
		return fmt.Errorf("lr %g: must be > 0", o.LR)
	case o.Clip < 0 || math.IsNaN(o.Clip):
		return fmt.Errorf("clip %g: must be >= 0 (0 turns clipping off)", o.Clip)
	case o.EvalEvery < 0:
		return fmt.Errorf("eval-every %d: must be >= 0", o.EvalEvery)
	case o.SaveEvery < 0:
		return fmt.Errorf("save-every %d: must be >= 0", o.SaveEvery)
	case o.Chunk < 1:
		return fmt.Errorf("chunk %d: must be >= 1", o.Chunk)
	case o.Threads < 0:
		return fmt.Errorf("threads %d: must be >= 1", o.Threads)
	case !(o.EMA >= 0 && o.EMA < 1):
		return fmt.Errorf("ema %g: must be a decay between 0 and 1, such as 0.999 (0: no average)", o.EMA)
	case o.SampleEvery < 0:
		return fmt.Errorf("sample-every %d: must be >= 0", o.SampleEvery)
	case o.SampleEvery > 0 && (!(o.SampleSeconds > 0) || o.SampleSeconds > maxSampleSeconds):
		return fmt.Errorf("sample-seconds %g: must be > 0 and at most %d", o.SampleSeconds, maxSampleSeconds)
	case o.SampleEvery > 0 && (o.SamplePrompts < 1 || o.SamplePrompts > maxSamplePrompts):
		return fmt.Errorf("sample-prompts %d: must be between 1 and %d", o.SamplePrompts, maxSamplePrompts)
	case o.Precision != causalconv.PrecisionFP32 && o.Precision != causalconv.PrecisionBF16:
		return fmt.Errorf("precision %v: must be fp32 or bf16", o.Precision)
	}
	if err := o.schedule().Validate(); err != nil {
		return err
	}
	_, err := o.newOptimizer(1)
	return err
}

func (o Options) newOptimizer(n int) (Optimizer, error) {
	switch o.Optimizer {
	case SGD:
		return NewSGD(n, SGDOptions{Momentum: o.Momentum, Nesterov: o.Nesterov, WeightDecay: o.WeightDecay})
	case Adam:
		return NewAdam(n, AdamOptions{Beta1: o.Beta1, Beta2: o.Beta2, Epsilon: o.Epsilon, WeightDecay: o.WeightDecay})
	}
	return nil, fmt.Errorf("optimizer %q: must be %q or %q", o.Optimizer, SGD, Adam)
}

// An OptionError is an error about one option, named in its message by
// the option's Go name: a field of Options, or of the request of a package
// that starts runs (package train/launch). A program that calls the option
// something else, such as a CLI with its flags, prints Named(its name)
// instead of Error, so the library's messages need not know the flags.
//
// The message is Before, the option's name, then After: for example
// Before "", Option "Batch", After " 3 does not divide over 2 processes".
type OptionError struct {
	// Option is the option's Go name, such as "Batch" or "ValSplit".
	Option string
	// Before and After are the message around the option's name; After
	// usually starts with the value given.
	Before, After string
	// Err is the underlying error, if any (its text is part of After).
	Err error
}

// Error returns the message with the option's Go name.
func (e *OptionError) Error() string { return e.Named(e.Option) }

// Named returns the message with the option called name.
func (e *OptionError) Named(name string) string { return e.Before + name + e.After }

// Unwrap returns the underlying error.
func (e *OptionError) Unwrap() error { return e.Err }
