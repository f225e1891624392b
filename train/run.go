package train

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/nextsample/nextsample/audio/atomicfile"
	"github.com/nextsample/nextsample/audio/humanize"
	"github.com/nextsample/nextsample/audio/regular"
	"github.com/nextsample/nextsample/causalconv"
	"github.com/nextsample/nextsample/causalconv/modelfile"
)

// Data is the corpus of a run, as μ-law classes.
type Data struct {
	// Train are the training files. Files shorter than 2 samples have no
	// target and are left out.
	Train Dataset
	// Valid are the validation files, scored whole (nil or empty: none).
	Valid Dataset
	// Key identifies the training split, such as a digest of its file
	// names; a run is only resumed on data with the same key, file count
	// and length.
	Key string
}

// Setup says where a run writes and how it reports.
type Setup struct {
	// Out is the run directory (created if missing).
	Out string
	// Meta is copied into the metadata of every file the run writes (the
	// CLI stores the preprocessing there).
	Meta map[string]string
	// Log receives the run's messages, one line per Write (nil: none):
	// the baselines, each validation, notes and warnings.
	Log io.Writer
	// Progress, if set, is called after every step with the run's
	// Status (only on rank 0 of a data-parallel run). The caller decides
	// what to draw: the CLI redraws a bar on a terminal and prints a line
	// every few steps elsewhere.
	Progress func(Status)
	// SampleRate is the rate of the run's audio in Hz: the rate of the
	// WAV files Options.SampleEvery writes (0: unknown, and such a run
	// refuses to sample).
	SampleRate int
	// Comm, if set with more than one process, makes the run one process
	// of a data-parallel run: every process runs the same run (same
	// options, data and checkpoint) and steps its contiguous share of each
	// global batch of Options.Batch files; gradients, losses and
	// validations are summed over the processes. Only rank 0 writes files
	// and logs. See Collective.
	Comm Collective
}

// File names inside a run directory.
const (
	LastFile = "last.safetensors"
	BestFile = "best.safetensors"
	LogFile  = "train_log.csv"
	PlotFile = "loss.png"
)

// StepFile returns the name of the snapshot of step s.
func StepFile(s int64) string { return fmt.Sprintf("step-%06d.safetensors", s) }

// maxBadSteps is how many non-finite steps in a row end a run.
const maxBadSteps = 5

// Run is a training run: a model, its optimizer and data, and a run
// directory where it keeps its checkpoints, log and loss curve.
type Run struct {
	setup Setup
	opts  Options
	// model holds the weights the optimizer updates (its Params are the
	// engine's arena); ema, with Options.EMA, their moving average (nil
	// without one), which is what the run's files hold as the model.
	model *causalconv.Model
	ema   *causalconv.Model
	eng   *engine
	opt   Optimizer
	// bat is the batcher as of the last step done: Train draws from a
	// clone of it ahead of the steps, and sets it back when it returns.
	bat *batcher
	// batState is bat's state after the last step done: what a
	// checkpoint stores.
	batState batcherState
	data     Data
	ids      []int32 // the training files with targets, indices into data.Train
	base     Baselines
	st       state
	rows     []LogRow
	valBuf   []int32

	lead       bool      // rank 0 (or the only process): writes the files and the log
	started    time.Time // of this session
	stepTime   time.Duration
	stepsTimed int
	savedStep  int64 // step of the last last.safetensors written

	// afterStep, if set, is called after each step (tests use it to
	// interrupt a run at a chosen step).
	afterStep func(step int64)
	// noPlot skips the PNG (rendering it is most of a tiny test run's time).
	noPlot bool
}

// New starts a run of model on data. It refuses a run directory that
// already holds a run, so that nothing is overwritten by accident.
func New(model *causalconv.Model, data Data, opts Options, setup Setup) (*Run, error) {
	last := filepath.Join(setup.Out, LastFile)
	if _, err := os.Stat(last); err == nil {
		return nil, fmt.Errorf("%s already holds a run (%s): resume it, or choose another output directory", setup.Out, LastFile)
	}
	r, err := newRun(model, data, opts, setup)
	if err != nil {
		return nil, err
	}
	r.st = state{Format: stateFormat, LRScale: 1, Options: opts, Data: r.dataKey(), Ranks: r.ranks()}
	r.savedStep = -1
	if opts.EMA > 0 {
		r.ema = model.Clone() // the average starts at the initial weights
	}
	return r, nil
}

// Resume continues the run of checkpoint ck (normally Out/last.safetensors)
// with opts, which must be compatible: the same optimizer, seed, chunk and
// precision as stored (the learning-rate, batch and other settings may change, at
// the price of a different trajectory), the same EMA decay, and data with
// the same key. The model tensors of a checkpoint of a run with a moving
// average are the average; Resume takes the raw weights from its training
// state and the average from its model.
func Resume(ck *Checkpoint, data Data, opts Options, setup Setup) (*Run, error) {
	saved := ck.st.Options
	switch {
	case opts.EMA != saved.EMA:
		return nil, fmt.Errorf("%s was trained with an EMA decay of %g (0: none); cannot resume it with %g", ck.Path, saved.EMA, opts.EMA)
	case opts.Optimizer != saved.Optimizer:
		return nil, fmt.Errorf("%s was trained with %s; cannot resume it with %s", ck.Path, saved.Optimizer, opts.Optimizer)
	case opts.Seed != saved.Seed:
		return nil, fmt.Errorf("%s was started with seed %d; cannot resume it with seed %d", ck.Path, saved.Seed, opts.Seed)
	case opts.Chunk != saved.Chunk:
		return nil, fmt.Errorf("%s was trained with chunk %d; cannot resume it with chunk %d", ck.Path, saved.Chunk, opts.Chunk)
	case opts.Precision != saved.Precision:
		return nil, fmt.Errorf("%s was trained with precision %v; cannot resume it with precision %v", ck.Path, saved.Precision, opts.Precision)
	}
	r, err := newRun(ck.Model, data, opts, setup)
	if err != nil {
		return nil, err
	}
	if k := r.dataKey(); k != ck.st.Data {
		r.Close()
		return nil, fmt.Errorf("%s was trained on other data: %d training files, %d samples (key %q); this data has %d files, %d samples (key %q)",
			ck.Path, ck.st.Data.Files, ck.st.Data.Samples, ck.st.Data.Key, k.Files, k.Samples, k.Key)
	}
	if err := ck.loadOptimizer(r.opt); err != nil {
		r.Close()
		return nil, err
	}
	if opts.EMA > 0 {
		// The file's model is the average; the raw weights go into the
		// arena the optimizer updates.
		r.ema = ck.Model.Clone()
		if err := ck.loadRaw(r.model.Params); err != nil {
			r.Close()
			return nil, err
		}
	}
	if err := r.bat.restore(ck.st.Sampler); err != nil {
		r.Close()
		return nil, fmt.Errorf("%s: %w", ck.Path, err)
	}
	if r.batState, err = r.bat.state(); err != nil {
		r.Close()
		return nil, err
	}
	if size := r.ranks(); ck.st.Ranks != 0 && ck.st.Ranks != size {
		r.logf("note: %s was written by a run of %d processes, resumed with %d: the same data order, but the gradients are summed in another order, so the weights are not bit-identical to a continuation with %d", ck.Path, ck.st.Ranks, size, ck.st.Ranks)
	}
	r.st = ck.st
	r.st.Options = opts
	r.st.Ranks = r.ranks()
	r.savedStep = r.st.Step
	// Keep the log up to the checkpoint: later rows belong to steps that
	// were not saved and are about to be redone.
	if rows, err := readLog(filepath.Join(setup.Out, LogFile)); err == nil {
		for _, row := range rows {
			if row.Step <= r.st.Step {
				r.rows = append(r.rows, row)
			}
		}
	} else if errors.Is(err, regular.ErrNotRegular) {
		// A named pipe, a device or a directory in the log's place is
		// not a log to start over: say so rather than replace it.
		r.Close()
		return nil, err
	} else {
		r.logf("note: starting a new %s: %v", LogFile, err)
	}
	return r, nil
}

func newRun(model *causalconv.Model, data Data, opts Options, setup Setup) (*Run, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	opts.Threads = threadsOrAll(opts.Threads)
	if opts.SampleEvery > 0 && setup.SampleRate <= 0 {
		return nil, &OptionError{Option: "SampleEvery", After: fmt.Sprintf(" %d: the run's sample rate is unknown (Setup.SampleRate), so its samples cannot be written", opts.SampleEvery)}
	}
	if c := setup.Comm; c != nil && c.Size() > 1 && opts.Batch%c.Size() != 0 {
		return nil, &OptionError{Option: "Batch", After: fmt.Sprintf(" %d does not divide over %d processes: use a multiple of %d", opts.Batch, c.Size(), c.Size())}
	}
	ids, lens := withTargets(data.Train)
	if len(ids) == 0 {
		return nil, errors.New("no training file has at least 2 samples")
	}
	q := model.Config.QuantizationChannels
	// Files in memory are checked now; others as they are read.
	for split, s := range map[string]Dataset{"training": data.Train, "validation": data.Valid} {
		if files, ok := s.(Classes); ok {
			for i, x := range files {
				if err := checkClasses(x, q); err != nil {
					return nil, fmt.Errorf("%s file %d has %w", split, i, err)
				}
			}
		}
	}
	for what, s := range map[string]Dataset{"training": data.Train, "validation": data.Valid} {
		if s == nil {
			continue
		}
		if err := checkSpeakers(s, model.Config.Speakers(), what); err != nil {
			return nil, err
		}
		if err := checkFeatures(s, model.Config.LocalCondition, what); err != nil {
			return nil, err
		}
	}
	unigram, err := unigramBits(data.Train, ids, q)
	if err != nil {
		return nil, fmt.Errorf("training data: %w", err)
	}
	if err := os.MkdirAll(setup.Out, 0o755); err != nil {
		return nil, err
	}
	opt, err := opts.newOptimizer(model.NumParams())
	if err != nil {
		return nil, err
	}
	net, err := newConvNet(model, true, opts.Kernels, opts.Precision)
	if err != nil {
		return nil, err
	}
	eng, err := newEngine(net, opt, opts.Threads, opts.Chunk)
	if err != nil {
		return nil, err
	}
	eng.comm = setup.Comm
	eng.extra = make([]float64, 1)
	r := &Run{
		setup: setup, opts: opts, model: model, opt: opt, data: data, ids: ids,
		eng: eng, lead: setup.Comm == nil || setup.Comm.Rank() == 0,
		bat:  newBatcher(lens, opts.Seed),
		base: Baselines{Uniform: math.Log2(float64(q)), Unigram: unigram},
	}
	if r.batState, err = r.bat.state(); err != nil {
		eng.close()
		return nil, err
	}
	return r, nil
}

// Close stops the run's worker goroutines.
func (r *Run) Close() { r.eng.close() }

// Baselines returns the uniform and unigram bits per sample of the run's
// training data.
func (r *Run) Baselines() Baselines { return r.base }

// Step returns the number of steps done.
func (r *Run) Step() int64 { return r.st.Step }

// BestVal returns the best validation bits per sample so far and its step
// (ok false before any validation).
func (r *Run) BestVal() (bits float64, step int64, ok bool) {
	if r.st.BestVal == nil {
		return 0, 0, false
	}
	return *r.st.BestVal, r.st.BestStep, true
}

// UnigramBits returns the entropy in bits of the class frequencies of
// files: the loss of a model that predicts every sample from the class
// histogram alone.
func UnigramBits(files [][]int32, q int) float64 {
	counts := make([]int64, q)
	for _, s := range files {
		for _, c := range s {
			if c >= 0 && int(c) < q {
				counts[c]++
			}
		}
	}
	return entropyBits(counts)
}

// Memory is what the long-lived buffers of a run hold, in bytes. It does
// not grow with the corpus except for Index, a few bytes per training file;
// the classes themselves stay in their Dataset (a class cache file is read a
// window at a time and left to the kernel's page cache). A locally
// conditioned run's Batches and Validation include the features read
// with the classes: each unit's whole utterance's, so they grow with the
// longest file, not with the corpus.
type Memory struct {
	Model      int64 // the parameters (and their average, with Options.EMA)
	Optimizer  int64 // the optimizer's state (Adam: two moments) and the summed gradient
	Gradients  int64 // one gradient slot per chunk of the largest batch (batch × ⌈crop/chunk⌉)
	Workspaces int64 // the workers' activations and scratch, all threads
	Batches    int64 // the windows read ahead (prefetch depth + 1 batches)
	Validation int64 // the group of validation classes scored at a time
	Index      int64 // the batcher's order and lengths of the training files
}

// Total is the sum of the parts.
func (m Memory) Total() int64 {
	return m.Model + m.Optimizer + m.Gradients + m.Workspaces + m.Batches + m.Validation + m.Index
}

// Memory returns what the run's buffers hold once its first steps and
// validation have run (the gradient slots and read buffers are sized then).
func (r *Run) Memory() Memory {
	n := int64(len(r.eng.grad))
	var m Memory
	m.Model = 4 * n
	if r.ema != nil {
		m.Model += 4 * n // the average
	}
	m.Optimizer = 4 * n
	for _, b := range r.opt.State() {
		m.Optimizer += 4 * int64(len(b.Data))
	}
	o := r.opts
	m.Gradients = 4 * n * int64(o.Batch*((o.Crop+o.Chunk-1)/o.Chunk))
	for _, w := range r.eng.workers {
		m.Workspaces += w.bytes()
	}
	m.Batches = 4 * int64((prefetchDepth+1)*o.Batch*(o.Crop+r.model.Config.ReceptiveField()))
	var val int64
	for i := range numFiles(r.data.Valid) {
		val += int64(r.data.Valid.Len(i))
	}
	m.Validation = 4 * min(val, valGroupSamples)
	m.Index = int64(len(r.ids)) * (4 + 8 + 4) // ids, lengths, order
	if f := featuresOf(r.data.Train); f != nil {
		// Each unit read ahead holds its whole utterance's features: at
		// most the longest training file's. Validation holds a group's.
		longest := 0
		for _, id := range r.ids {
			longest = max(longest, f.Frames(int(id)))
		}
		m.Batches += 4 * int64((prefetchDepth+1)*o.Batch*longest*f.Dims())
		if h := r.model.Config.LocalCondition.Hop; h > 0 {
			m.Validation += 4 * int64(f.Dims()) * (min(val, valGroupSamples)/int64(h) + int64(numFiles(r.data.Valid)))
		}
	}
	return m
}

// String is the memory as nextsample train prints it: the total, then
// each part.
func (m Memory) String() string {
	b := humanize.Bytes
	return fmt.Sprintf("%s in buffers: model %s, optimizer and gradient %s, gradient slots %s, workspaces %s, read-ahead %s, validation %s, file index %s",
		b(m.Total()), b(m.Model), b(m.Optimizer), b(m.Gradients), b(m.Workspaces), b(m.Batches), b(m.Validation), b(m.Index))
}

// WriteSetup writes how the run trains, as nextsample train prints it
// before the first step: the optimizer and its schedule, the steps,
// precision, threads and run directory, then the memory its buffers hold.
//
//	optimizer: adam, lr 0.001, warm-up 0, decay constant; 300 steps of 8 files × ≤4000 samples; fp32; 2 threads; run in runs/latest
//	memory: 190.3 MiB in buffers: model 1.6 MiB, ...
func (r *Run) WriteSetup(w io.Writer) error {
	var b strings.Builder
	o := r.opts
	fmt.Fprintf(&b, "optimizer: %s, lr %g", o.Optimizer, o.LR)
	if o.Optimizer == SGD {
		fmt.Fprintf(&b, ", momentum %g", o.Momentum)
		if o.Nesterov {
			fmt.Fprint(&b, " (Nesterov)")
		}
	}
	fmt.Fprintf(&b, ", warm-up %d, decay %s", o.Warmup, o.Decay)
	if o.Decay == DecayCosine {
		fmt.Fprintf(&b, " to %g×", o.LRFloor)
	}
	if o.Clip > 0 {
		fmt.Fprintf(&b, ", clip %g", o.Clip)
	}
	if o.WeightDecay > 0 {
		fmt.Fprintf(&b, ", weight decay %g", o.WeightDecay)
	}
	if o.EMA > 0 {
		fmt.Fprintf(&b, ", EMA of the weights %g", o.EMA)
	}
	fmt.Fprintf(&b, "; %d steps of %d files × ≤%d samples; %s; %d threads; run in %s\n", o.Steps, o.Batch, o.Crop, o.Precision, o.Threads, r.setup.Out)
	if o.SampleEvery > 0 {
		fmt.Fprintf(&b, "samples: %d × %g s every %d steps in %s\n", len(r.samplePrompts()), o.SampleSeconds, o.SampleEvery, filepath.Join(r.setup.Out, SamplesDir))
	}
	fmt.Fprintf(&b, "memory: %s\n", r.Memory())
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteResult writes the outcome of a finished run: its best validation
// beside the baselines, and the model file to use (the best model, or
// the last checkpoint of a run that never validated).
//
//	best validation: 5.6953 bits/sample at step 650, 1.62 bits below the unigram baseline (7.314; uniform 8.000)
//	model: runs/fsdd/best.safetensors
func (r *Run) WriteResult(w io.Writer) error {
	bits, step, ok := r.BestVal()
	if !ok {
		_, err := fmt.Fprintf(w, "model: %s\n", filepath.Join(r.setup.Out, LastFile))
		return err
	}
	base := r.base
	verdict := "below"
	if bits >= base.Unigram {
		verdict = "NOT below"
	}
	_, err := fmt.Fprintf(w, "best validation: %.4f bits/sample at step %d, %.2f bits %s the unigram baseline (%.3f; uniform %.3f)\nmodel: %s\n",
		bits, step, math.Abs(base.Unigram-bits), verdict, base.Unigram, base.Uniform, filepath.Join(r.setup.Out, BestFile))
	return err
}

// checkSameWeights compares a hash of the parameters and optimizer state
// over the processes of a data-parallel run.
func (r *Run) checkSameWeights() error {
	c := r.setup.Comm
	if c == nil || c.Size() == 1 {
		return nil
	}
	h := fnv.New64a()
	var b [4]byte
	add := func(xs []float32) {
		for _, x := range xs {
			binary.LittleEndian.PutUint32(b[:], math.Float32bits(x))
			h.Write(b[:])
		}
	}
	add(r.eng.net.params())
	if r.ema != nil {
		add(r.ema.Params)
	}
	for _, s := range r.opt.State() {
		add(s.Data)
	}
	mine := binary.LittleEndian.AppendUint64(nil, h.Sum64())
	all := make([]byte, 8*c.Size())
	if err := c.AllgatherBytes(mine, all); err != nil {
		return err
	}
	for rank := range c.Size() {
		if !bytes.Equal(all[8*rank:8*rank+8], mine) {
			return fmt.Errorf("step %d: the weights of rank %d differ from rank %d's: the processes have drifted apart", r.st.Step, rank, c.Rank())
		}
	}
	return nil
}

// ranks is the number of processes of the run.
func (r *Run) ranks() int {
	if r.setup.Comm == nil {
		return 1
	}
	return r.setup.Comm.Size()
}

// hasValid reports whether the run has validation files.
func (r *Run) hasValid() bool { return numFiles(r.data.Valid) > 0 }

// dataKey identifies the run's training files.
func (r *Run) dataKey() dataIdentity {
	k := dataIdentity{Files: len(r.ids), Key: r.data.Key}
	for _, id := range r.ids {
		k.Samples += int64(r.data.Train.Len(int(id)))
	}
	return k
}

func (r *Run) logf(format string, args ...any) {
	if r.setup.Log == nil || !r.lead {
		return
	}
	fmt.Fprintf(r.setup.Log, format+"\n", args...)
}

func (r *Run) elapsed() float64 { return r.st.Seconds + time.Since(r.started).Seconds() }

// Train runs steps until Options.Steps, validating every EvalEvery steps
// (and at the end), saving last.safetensors at every validation and
// snapshot, best.safetensors when validation improves, and a snapshot every
// SaveEvery steps. When ctx is cancelled it finishes the current step,
// saves, writes the log and plot, and returns an error wrapping ctx.Err().
func (r *Run) Train(ctx context.Context) error {
	r.started = time.Now()
	o := r.opts
	sched := o.schedule()
	r.logf("baselines: uniform %.3f bits/sample, unigram %.3f bits/sample (training classes)", r.base.Uniform, r.base.Unigram)
	if r.st.Step == 0 && len(r.rows) == 0 && o.EvalEvery > 0 && r.hasValid() {
		row := LogRow{Step: 0, TrainBits: math.NaN(), LR: math.NaN(), GradNorm: math.NaN(), SamplesPerSecond: math.NaN()}
		row.ValBits, row.ValRawBits = r.validate()
		row.Seconds = r.elapsed()
		r.rows = append(r.rows, row)
		if err := r.writeLogAndPlot(); err != nil {
			return err
		}
	} else if r.st.Step > 0 {
		r.logf("resuming at step %d of %d", r.st.Step, o.Steps)
	}
	bat, err := r.bat.clone()
	if err != nil {
		return err
	}
	rank, size := 0, r.ranks()
	if r.setup.Comm != nil {
		rank = r.setup.Comm.Rank()
	}
	pf := startPrefetch(bat, r.data.Train, r.ids, o.Batch, o.Crop, r.model.Config.ReceptiveField()-1, r.model.Config.QuantizationChannels, rank, size)
	defer func() {
		pf.stop()
		// Later calls of Train continue after the last step done.
		_ = r.bat.restore(r.batState)
	}()
	// A stop (ctx cancelled) takes effect after the same step on every
	// process: each says whether it was asked to stop in the step's sum.
	distributed := r.eng.distributed()
	stop := false
	for r.st.Step < o.Steps && !stop {
		if !distributed && ctx.Err() != nil {
			break
		}
		t0 := time.Now()
		bt, err := pf.next()
		if err != nil {
			return err
		}
		r.batState = bt.after
		lr := o.LR * sched.Factor(r.st.Step) * r.st.LRScale
		r.eng.extra[0] = 0
		if ctx.Err() != nil {
			r.eng.extra[0] = 1
		}
		res, err := r.eng.stepShard(bt.units, bt.total, r.st.Updates+1, lr, o.Clip)
		pf.release(bt)
		if err != nil {
			return err
		}
		stop = distributed && r.eng.extra[0] > 0
		r.st.Step++
		dt := time.Since(t0)
		r.stepTime += dt
		r.stepsTimed++
		row := LogRow{Step: r.st.Step, TrainBits: res.Nats / math.Ln2, ValBits: math.NaN(), ValRawBits: math.NaN(), LR: lr, GradNorm: res.GradNorm,
			SamplesPerSecond: float64(res.Targets) / dt.Seconds()}
		if res.Finite {
			if r.ema != nil {
				emaUpdate(r.ema.Params, r.model.Params, emaDecay(o.EMA, r.st.Updates))
			}
			r.st.Updates++
			r.st.BadSteps = 0
		} else {
			r.st.Skipped++
			r.st.BadSteps++
			r.st.LRScale /= 2
			r.logf("step %d: loss %v, gradient norm %v: not finite; step skipped, learning-rate scale halved to %g",
				r.st.Step, res.Nats, res.GradNorm, r.st.LRScale)
			if r.st.BadSteps >= maxBadSteps {
				row.Seconds = r.elapsed()
				r.rows = append(r.rows, row)
				if err := r.writeLogAndPlot(); err != nil {
					r.logf("warning: %v", err)
				}
				return fmt.Errorf("step %d: %d non-finite steps in a row; stopping (the last good checkpoint is %s at step %d)",
					r.st.Step, r.st.BadSteps, filepath.Join(r.setup.Out, LastFile), r.savedStep)
			}
		}
		final := r.st.Step == o.Steps
		evalNow := r.hasValid() && o.EvalEvery > 0 && (r.st.Step%o.EvalEvery == 0 || final)
		if evalNow {
			row.ValBits, row.ValRawBits = r.validate()
		}
		row.Seconds = r.elapsed()
		r.rows = append(r.rows, row)
		r.report(row)
		if o.SaveEvery > 0 && r.st.Step%o.SaveEvery == 0 {
			if err := r.saveState(filepath.Join(r.setup.Out, StepFile(r.st.Step))); err != nil {
				return err
			}
		}
		if evalNow || final || (o.SaveEvery > 0 && r.st.Step%o.SaveEvery == 0) {
			if err := r.save(); err != nil {
				return err
			}
		}
		if o.SampleEvery > 0 && (r.st.Step%o.SampleEvery == 0 || final) && ctx.Err() == nil {
			if err := r.writeSamples(ctx); err != nil && ctx.Err() == nil {
				r.logf("warning: samples at step %d: %v", r.st.Step, err)
			}
		}
		if r.afterStep != nil {
			r.afterStep(r.st.Step)
		}
	}
	if r.savedStep != r.st.Step {
		if err := r.save(); err != nil {
			return err
		}
	}
	if err := ctx.Err(); err != nil || stop {
		if err == nil {
			err = context.Canceled // another process was stopped
		}
		return fmt.Errorf("stopped after step %d of %d; saved %s: %w", r.st.Step, o.Steps, filepath.Join(r.setup.Out, LastFile), err)
	}
	return nil
}

// validate returns the validation bits per sample of the run's model and
// records them: with a moving average (Options.EMA) those of the average,
// which choose best.safetensors, and raw those of the raw weights (NaN
// without an average; at step 0 the two are the same weights).
func (r *Run) validate() (bits, raw float64) {
	t0 := time.Now()
	raw = math.NaN()
	if r.ema != nil && r.st.Updates > 0 {
		var err error
		if raw, _, err = r.validBits(); err != nil {
			r.logf("warning: validation of the raw weights failed: %v", err)
		}
	}
	var n int64
	var err error
	r.withModelWeights(func() { bits, n, err = r.validBits() })
	if err != nil {
		r.logf("warning: validation failed: %v", err)
		return math.NaN(), raw
	}
	if r.ema != nil && r.st.Updates == 0 {
		raw = bits
	}
	r.st.LastVal = &bits
	note := ""
	if isFinite(bits) && (r.st.BestVal == nil || bits < *r.st.BestVal) {
		b := bits
		r.st.BestVal, r.st.BestStep = &b, r.st.Step
		note = " (best)"
		if err := r.saveBest(); err != nil {
			r.logf("warning: %v", err)
		}
	}
	if r.ema != nil {
		note = fmt.Sprintf(" (raw %.4f)", raw) + note
	}
	r.logf("step %d: validation %.4f bits/sample over %d samples%s  [uniform %.3f, unigram %.3f]  (%.1fs)",
		r.st.Step, bits, n, note, r.base.Uniform, r.base.Unigram, time.Since(t0).Seconds())
	return bits, raw
}

// validBits scores the validation files with the weights in the engine's
// arena.
func (r *Run) validBits() (bits float64, n int64, err error) {
	nats, n, err := r.evaluateValid()
	if err != nil {
		return math.NaN(), 0, err
	}
	return nats / float64(n) / math.Ln2, n, nil
}

// withModelWeights runs f with the run's model weights in the engine's
// arena: the average, with Options.EMA, swapped in for the raw weights
// and swapped back after f (the engine packs the arena before it
// evaluates).
func (r *Run) withModelWeights(f func()) {
	if r.ema == nil {
		f()
		return
	}
	r.model.Params, r.ema.Params = r.ema.Params, r.model.Params
	defer func() { r.model.Params, r.ema.Params = r.ema.Params, r.model.Params }()
	f()
}

// saved returns the model the run's files hold: the average with
// Options.EMA, else the weights themselves.
func (r *Run) saved() *causalconv.Model {
	if r.ema != nil {
		return r.ema
	}
	return r.model
}

// evaluateValid scores the validation files: all of them, or in a
// data-parallel run every Size()-th file from this process's rank on,
// summed over the processes.
func (r *Run) evaluateValid() (nats float64, n int64, err error) {
	q := r.model.Config.QuantizationChannels
	if !r.eng.distributed() {
		nats, n, _, err = r.eng.evaluateDataset(context.Background(), r.data.Valid, q, valGroupSamples, &r.valBuf)
		return nats, n, err
	}
	c := r.setup.Comm
	part := stride(r.data.Valid, c.Rank(), c.Size())
	nats, n, _, err = r.eng.evaluateDataset(context.Background(), part, q, valGroupSamples, &r.valBuf)
	if err != nil {
		return 0, 0, err // the caller aborts the run: the others wait in the sum
	}
	sums := []float64{nats, float64(n)}
	if err := c.AllreduceFloat64(sums); err != nil {
		return 0, 0, err
	}
	return sums[0], int64(sums[1]), nil
}

// Status is the progress of a run after a step, as Setup.Progress
// receives it.
type Status struct {
	// Step is the number of steps done, Steps the run's total.
	Step, Steps int64
	// TrainBits is the step's training loss in bits per sample, LR its
	// learning rate and GradNorm the global norm of its gradient (before
	// clipping).
	TrainBits, LR, GradNorm float64
	// SamplesPerSecond is the step's scored targets per second.
	SamplesPerSecond float64
	// ETA is the time the remaining steps take at the mean step time of
	// this session, in whole seconds.
	ETA time.Duration
}

// String is the status as the CLI prints it:
//
//	step 40/300  train 7.415 bits  lr 0.001  |g| 0.318  41512 samples/s  eta 1m12s
func (s Status) String() string {
	return fmt.Sprintf("step %d/%d  train %.3f bits  lr %.3g  |g| %.3g  %.0f samples/s  eta %s",
		s.Step, s.Steps, s.TrainBits, s.LR, s.GradNorm, s.SamplesPerSecond, s.ETA.Round(time.Second))
}

// report passes the progress of one step to Setup.Progress.
func (r *Run) report(row LogRow) {
	if r.setup.Progress == nil || !r.lead {
		return
	}
	o := r.opts
	perStep := r.stepTime.Seconds() / float64(r.stepsTimed)
	r.setup.Progress(Status{
		Step: row.Step, Steps: o.Steps,
		TrainBits: row.TrainBits, LR: row.LR, GradNorm: row.GradNorm, SamplesPerSecond: row.SamplesPerSecond,
		ETA: time.Duration(perStep*float64(o.Steps-row.Step)) * time.Second,
	})
}

func (r *Run) stateJSON() (string, error) {
	st := r.st
	st.Seconds = r.elapsed()
	st.Sampler = r.batState
	b, err := json.Marshal(st)
	return string(b), err
}

// saveState writes a resumable checkpoint to path (rank 0 only). In a
// data-parallel run every process first checks that all hold the same
// weights, so that a checkpoint never hides processes that drifted apart.
func (r *Run) saveState(path string) error {
	if err := r.checkSameWeights(); err != nil {
		return err
	}
	if !r.lead {
		return nil
	}
	js, err := r.stateJSON()
	if err != nil {
		return err
	}
	meta := map[string]string{modelfile.KeyTrain: js}
	for k, v := range r.setup.Meta {
		if k != modelfile.KeyTrain && k != modelfile.KeyBest {
			meta[k] = v
		}
	}
	extra := optimizerTensors(r.model, r.opt)
	if r.ema != nil {
		extra = append(extra, rawTensors(r.model, r.model.Params)...)
	}
	return writeModelFile(path, r.saved(), meta, extra)
}

// save writes last.safetensors, the log and the plot.
func (r *Run) save() error {
	if err := r.saveState(filepath.Join(r.setup.Out, LastFile)); err != nil {
		return err
	}
	r.savedStep = r.st.Step
	return r.writeLogAndPlot()
}

func (r *Run) saveBest() error {
	if !r.lead {
		return nil
	}
	b, err := json.Marshal(modelfile.Best{Step: r.st.BestStep, ValBits: *r.st.BestVal})
	if err != nil {
		return err
	}
	meta := map[string]string{modelfile.KeyBest: string(b)}
	for k, v := range r.setup.Meta {
		if k != modelfile.KeyTrain && k != modelfile.KeyBest {
			meta[k] = v
		}
	}
	return writeModelFile(filepath.Join(r.setup.Out, BestFile), r.saved(), meta, nil)
}

func (r *Run) writeLogAndPlot() error {
	if !r.lead {
		return nil
	}
	if err := atomicfile.Write(filepath.Join(r.setup.Out, LogFile), func(w io.Writer) error { return writeLog(w, r.rows) }); err != nil {
		return err
	}
	if r.noPlot {
		return nil
	}
	title := fmt.Sprintf("%s, lr %g, batch %d×%d", r.opts.Optimizer, r.opts.LR, r.opts.Batch, r.opts.Crop)
	return atomicfile.Write(filepath.Join(r.setup.Out, PlotFile), func(w io.Writer) error { return writePlot(w, r.rows, r.base, title) })
}

// threadsOrAll returns n, or the number of CPUs when n is 0.
func threadsOrAll(n int) int {
	if n <= 0 {
		return runtime.NumCPU()
	}
	return n
}
