package train

import (
	"errors"
	"fmt"
	"math"

	"github.com/nextsample/nextsample/causalconv"
)

// A Unit is one sequence of a batch: the classes of a whole file (or
// signal) and the window of it whose next samples are scored. Input
// position t predicts Seq[t+1]; the scored inputs are Start ..
// Start+Targets-1, so the scored targets are Seq[Start+1 : Start+Targets+1].
// Up to RF-1 samples of Seq before Start are real context; before Seq[0]
// the network sees zero padding, as the reference does.
//
// Speaker is the row of a speaker-conditioned model's speaker table the
// unit is conditioned on; it is ignored (use -1) for other models.
//
// Feats are the frame features of the unit's whole utterance, for a
// locally conditioned model (Rows 0 for other models), and Offset is the
// utterance sample that Seq[0] is: a crop is conditioned exactly as the
// same positions of the whole utterance would be.
type Unit struct {
	Seq     []int32
	Start   int
	Targets int
	Speaker int
	Feats   causalconv.Matrix
	Offset  int
}

// validate reports a unit that does not fit its sequence.
func (u Unit) validate() error {
	if u.Start < 0 || u.Targets < 1 || u.Start+u.Targets+1 > len(u.Seq) {
		return fmt.Errorf("unit: start %d, %d targets does not fit a sequence of %d samples", u.Start, u.Targets, len(u.Seq))
	}
	return nil
}

// network is what the engine needs of a model: the flat parameter arena,
// a read-only packed form rebuilt once per step from it, and per-worker
// scratch space. The adapter to causalconv lives in model.go; tests also
// use a small fake.
type network interface {
	// params is the flat parameter arena the optimizer updates in place.
	params() []float32
	// receptiveField is how many inputs one output sees (RF); a chunk
	// carries up to RF-1 samples of context.
	receptiveField() int
	// prepare rebuilds the packed weights from params; workers then read
	// them concurrently.
	prepare()
	// newWorker returns scratch space for sequences of up to maxLen inputs
	// (context included).
	newWorker(maxLen int) (worker, error)
}

// worker is one goroutine's scratch space. x are the inputs, y[i] the
// target of x[i] (len(y) == len(x)); only positions i >= scoreFrom are
// scored, the ones before are context.
type worker interface {
	// forwardBackward adds lossScale·∂(Σ scored CE)/∂params into grad and
	// returns Σ scored CE in nats.
	forwardBackward(x, y []int32, scoreFrom int, lossScale float32, grad []float32) (float64, error)
	// loss returns Σ scored CE in nats, forward only.
	loss(x, y []int32, scoreFrom int) (float64, error)
	// setSpeaker conditions the next calls on speaker s (-1: none).
	setSpeaker(s int)
	// setFeatures conditions the next calls on an utterance's features,
	// input position 0 being its sample start (feats.Rows 0: none).
	setFeatures(feats causalconv.Matrix, start int) error
	// bytes is the memory its buffers hold.
	bytes() int64
}

// chunk is a piece of a unit that a worker processes alone: inputs
// seq[ctx:end], scored from seq index start on. Its slot (its index in the
// step's chunk list) fixes where its gradient and loss go, so results do
// not depend on which worker ran it.
type chunk struct {
	seq             []int32
	ctx, start, end int
	speaker         int
	feats           causalconv.Matrix
	offset          int // the utterance sample of seq[0]
}

func (c chunk) inputs() (x, y []int32, scoreFrom int) {
	return c.seq[c.ctx:c.end], c.seq[c.ctx+1 : c.end+1], c.start - c.ctx
}

// cost estimates the work of a chunk, for scheduling only.
func (c chunk) cost() int { return c.end - c.ctx }

// blockSize is the granularity of the parameter-range passes (reduction,
// norm, update): fixed, so that the float64 partial sums of the gradient
// norm are combined in the same order whatever the thread count.
const blockSize = 8192

// engine does the data-parallel training step. For a batch it splits every
// unit into chunks of at most chunkLen scored targets, each with its own
// context, gives each chunk its own gradient slot, runs the chunks on the
// pool (longest first), then sums the slots in slot order and applies the
// optimizer, both in parallel over fixed parameter blocks. The result is
// bit-identical for any thread count.
type engine struct {
	net      network
	opt      Optimizer
	pool     *pool
	chunkLen int
	workers  []worker

	grad   []float32   // the summed gradient of a step
	slots  [][]float32 // one gradient per chunk, kept zeroed between steps
	chunks []chunk
	first  []int     // first chunk of each unit of the step, and len(chunks)
	order  []int     // chunk indices, most expensive first
	losses []float64 // per-chunk loss (nats)
	errs   []error   // per-chunk error (a bad class, a sequence too long)
	norms  []float64 // per-block Σ g²

	lossScale float32
	gradScale float32

	// comm, when set with more than one process, sums the gradient and
	// the loss over the processes of a data-parallel run: each process
	// steps its own contiguous share of the global batch.
	comm     Collective
	scalars  []float64 // [loss, caller's values...] summed over processes
	extra    []float64 // the caller's values for the next step
	fusedSum bool      // the gradient norm is computed in the reduction pass

	// Phase functions, bound once so that running a phase does not allocate.
	fbPhase, reducePhase, updatePhase, evalPhase, normPhase func(worker, task int)
}

// newEngine returns an engine with threads workers; opt may be nil for an
// engine that only evaluates.
func newEngine(net network, opt Optimizer, threads, chunkLen int) (*engine, error) {
	e := &engine{net: net, opt: opt, chunkLen: chunkLen}
	maxLen := chunkLen + net.receptiveField() - 1
	for w := 0; w < max(threads, 1); w++ {
		wk, err := net.newWorker(maxLen)
		if err != nil {
			return nil, err
		}
		e.workers = append(e.workers, wk)
	}
	e.pool = newPool(threads)
	n := len(net.params())
	e.grad = make([]float32, n)
	e.norms = make([]float64, (n+blockSize-1)/blockSize)
	e.fbPhase = e.forwardBackwardTask
	e.reducePhase = e.reduceTask
	e.updatePhase = e.updateTask
	e.evalPhase = e.evalTask
	e.normPhase = e.normTask
	return e, nil
}

// distributed reports whether steps are summed over several processes.
func (e *engine) distributed() bool { return e.comm != nil && e.comm.Size() > 1 }

func (e *engine) close() { e.pool.close() }

// split appends the chunks of one unit's scored window to e.chunks:
// ceil(n/chunkLen) near-equal pieces, each with min(start, RF-1) samples
// of context.
func (e *engine) split(u Unit) {
	ctxMax := e.net.receptiveField() - 1
	pieces := (u.Targets + e.chunkLen - 1) / e.chunkLen
	for p := 0; p < pieces; p++ {
		s := u.Start + p*u.Targets/pieces
		end := u.Start + (p+1)*u.Targets/pieces
		e.chunks = append(e.chunks, chunk{seq: u.Seq, ctx: s - min(s, ctxMax), start: s, end: end, speaker: u.Speaker,
			feats: u.Feats, offset: u.Offset})
	}
}

// schedule sizes the per-chunk buffers (growing only when a batch has more
// chunks than any before) and orders the chunks longest first, so that the
// last chunk to start is a short one.
func (e *engine) schedule() {
	n := len(e.chunks)
	if len(e.losses) < n {
		e.losses = make([]float64, n)
		e.errs = make([]error, n)
		e.order = make([]int, n)
	}
	clear(e.errs)
	e.order = e.order[:n]
	for i := range e.order {
		e.order[i] = i
	}
	for i := 1; i < n; i++ { // insertion sort: stable, no allocation
		for j := i; j > 0 && e.chunks[e.order[j]].cost() > e.chunks[e.order[j-1]].cost(); j-- {
			e.order[j], e.order[j-1] = e.order[j-1], e.order[j]
		}
	}
}

var errNoTargets = errors.New("batch has no scored targets")

// step runs one training step on units: forward and backward over every
// chunk, the gradient sum and norm, clipping to clip (0: off), and the
// optimizer update number update (1-based) with learning rate lr, unless
// the loss or gradient is not finite.
func (e *engine) step(units []Unit, update int64, lr, clip float64) (StepResult, error) {
	total := 0
	for _, u := range units {
		total += u.Targets
	}
	return e.stepShard(units, total, update, lr, clip)
}

// stepShard is step for a process of a data-parallel run: units are its
// share of a global batch of total scored targets, the loss is scaled by
// 1/total, and the gradient and loss are summed over the processes (once,
// over the whole gradient arena) before the norm, clipping and update,
// which every process then applies alike.
//
// The gradient is summed in a fixed tree: each unit's chunk slots in chunk
// order, then the units by recursive halving (the sum of units [lo, hi) is
// that of [lo, mid) plus that of [mid, hi), mid = lo + (hi-lo)/2). A
// process holding a contiguous half, quarter… of the global batch holds a
// whole subtree, so when the processes' sums are added in the tree's order
// (two processes: a+b, which is exact in either order) the result is the
// single-process gradient bit for bit.
func (e *engine) stepShard(units []Unit, total int, update int64, lr, clip float64) (StepResult, error) {
	e.chunks = e.chunks[:0]
	e.first = e.first[:0]
	local := 0
	for _, u := range units {
		if err := u.validate(); err != nil {
			return StepResult{}, err
		}
		e.first = append(e.first, len(e.chunks))
		e.split(u)
		local += u.Targets
	}
	e.first = append(e.first, len(e.chunks))
	if total == 0 || (local == 0 && !e.distributed()) {
		return StepResult{}, errNoTargets
	}
	e.schedule()
	for len(e.slots) < len(e.chunks) {
		e.slots = append(e.slots, make([]float32, len(e.grad)))
	}
	e.lossScale = float32(1 / float64(total))
	e.net.prepare()
	e.pool.run(len(e.chunks), e.fbPhase)
	e.fusedSum = !e.distributed()
	e.pool.run(len(e.norms), e.reducePhase)
	if err := e.firstError(); err != nil {
		return StepResult{}, err
	}
	nats := e.treeLoss()
	if e.distributed() {
		e.scalars = append(append(e.scalars[:0], nats), e.extra...)
		if err := e.comm.AllreduceFloat32(e.grad); err != nil {
			return StepResult{}, fmt.Errorf("summing gradients over processes: %w", err)
		}
		if err := e.comm.AllreduceFloat64(e.scalars); err != nil {
			return StepResult{}, fmt.Errorf("summing losses over processes: %w", err)
		}
		nats = e.scalars[0]
		copy(e.extra, e.scalars[1:])
		e.pool.run(len(e.norms), e.normPhase)
	}

	var sq float64
	nats /= float64(total)
	for _, s := range e.norms {
		sq += s
	}
	res := StepResult{Nats: nats, Targets: total, GradNorm: math.Sqrt(sq)}
	res.Finite = isFinite(nats) && isFinite(res.GradNorm)
	if !res.Finite {
		return res, nil
	}
	e.gradScale = 1
	if clip > 0 {
		// torch.nn.utils.clip_grad_norm_: scale by clip/(norm+1e-6), at most 1.
		if c := clip / (res.GradNorm + 1e-6); c < 1 {
			e.gradScale = float32(c)
		}
	}
	e.opt.Prepare(update, lr)
	e.pool.run(len(e.norms), e.updatePhase)
	return res, nil
}

func (e *engine) forwardBackwardTask(w, task int) {
	c := e.order[task]
	x, y, from := e.chunks[c].inputs()
	if e.errs[c] = e.condition(w, c); e.errs[c] != nil {
		return
	}
	e.losses[c], e.errs[c] = e.workers[w].forwardBackward(x, y, from, e.lossScale, e.slots[c])
}

// condition sets worker w's speaker and features for chunk c.
func (e *engine) condition(w, c int) error {
	ch := &e.chunks[c]
	e.workers[w].setSpeaker(ch.speaker)
	return e.workers[w].setFeatures(ch.feats, ch.offset+ch.ctx)
}

// firstError returns the error of the first failed chunk, in chunk order.
func (e *engine) firstError() error {
	for _, err := range e.errs[:len(e.chunks)] {
		if err != nil {
			return err
		}
	}
	return nil
}

// reduceTask sums the chunk gradients of one parameter block in the tree
// of stepShard, zeroes the slots for the next step and, for a single
// process, stores the block's Σ g².
func (e *engine) reduceTask(_, block int) {
	lo, hi := blockRange(block, len(e.grad))
	g := e.grad[lo:hi]
	units := len(e.first) - 1
	if units == 0 { // a process with no share of this batch
		clear(g)
	} else {
		for u := range units { // each unit's chunks, in order, into its first slot
			acc := e.slots[e.first[u]][lo:hi]
			for c := e.first[u] + 1; c < e.first[u+1]; c++ {
				s := e.slots[c][lo:hi]
				s = s[:len(acc)]
				for i := range acc {
					acc[i] += s[i]
				}
				clear(s)
			}
		}
		root := e.treeSum(0, units, lo, hi)
		copy(g, root)
		clear(root)
	}
	if e.fusedSum {
		e.norms[block] = sumSquares(g)
	}
}

// treeSum adds the unit sums of units [a, b) by recursive halving into
// the first slot of unit a, and returns that slot's block.
func (e *engine) treeSum(a, b, lo, hi int) []float32 {
	acc := e.slots[e.first[a]][lo:hi]
	if b-a == 1 {
		return acc
	}
	mid := a + (b-a)/2
	e.treeSum(a, mid, lo, hi)
	right := e.treeSum(mid, b, lo, hi)
	right = right[:len(acc)]
	for i := range acc {
		acc[i] += right[i]
	}
	clear(right)
	return acc
}

// treeLoss sums the chunk losses in the order treeSum sums gradients.
func (e *engine) treeLoss() float64 {
	units := len(e.first) - 1
	if units == 0 {
		return 0
	}
	var sum func(a, b int) float64
	sum = func(a, b int) float64 {
		if b-a == 1 {
			var l float64
			for c := e.first[a]; c < e.first[a+1]; c++ {
				l += e.losses[c]
			}
			return l
		}
		mid := a + (b-a)/2
		return sum(a, mid) + sum(mid, b)
	}
	return sum(0, units)
}

func (e *engine) normTask(_, block int) {
	lo, hi := blockRange(block, len(e.grad))
	e.norms[block] = sumSquares(e.grad[lo:hi])
}

func sumSquares(g []float32) float64 {
	var sq float64
	for _, v := range g {
		sq += float64(v) * float64(v)
	}
	return sq
}

func (e *engine) updateTask(_, block int) {
	lo, hi := blockRange(block, len(e.grad))
	e.opt.Update(e.net.params(), e.grad, lo, hi, e.gradScale)
}

func blockRange(block, n int) (lo, hi int) {
	lo = block * blockSize
	return lo, min(lo+blockSize, n)
}

// evaluate returns the summed cross-entropy (nats) and the number of
// scored targets over whole sequences: every sample after the first is
// predicted from the ones before it, with zero padding before the start.
// Sequences shorter than 2 samples contribute nothing. speakers[i] (nil:
// all -1) is the speaker of seqs[i] for a conditioned model, and feats[i]
// (nil: none) its features for a locally conditioned one.
func (e *engine) evaluate(seqs [][]int32, speakers []int, feats []causalconv.Matrix) (nats float64, targets int64, err error) {
	e.chunks = e.chunks[:0]
	for i, s := range seqs {
		if len(s) < 2 {
			continue
		}
		u := Unit{Seq: s, Targets: len(s) - 1, Speaker: -1}
		if speakers != nil {
			u.Speaker = speakers[i]
		}
		if feats != nil {
			u.Feats = feats[i]
		}
		e.split(u)
		targets += int64(len(s) - 1)
	}
	if len(e.chunks) == 0 {
		return 0, 0, nil
	}
	e.schedule()
	e.net.prepare()
	e.pool.run(len(e.chunks), e.evalPhase)
	if err := e.firstError(); err != nil {
		return 0, 0, err
	}
	for _, l := range e.losses[:len(e.chunks)] {
		nats += l
	}
	return nats, targets, nil
}

func (e *engine) evalTask(w, task int) {
	c := e.order[task]
	x, y, from := e.chunks[c].inputs()
	if e.errs[c] = e.condition(w, c); e.errs[c] != nil {
		return
	}
	e.losses[c], e.errs[c] = e.workers[w].loss(x, y, from)
}

func isFinite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }
