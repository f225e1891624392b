package features

import (
	"errors"
	"fmt"

	"github.com/nextsample/nextsample/causalconv"
	"github.com/nextsample/nextsample/causalconv/kernels"
)

// DefaultChunk is how many positions of an utterance an Extractor runs
// the network over at once (plus the receptive field of context). An
// evaluation workspace keeps about 4 KiB per position for the default
// model, so a worker holds about 75 MiB however long the utterance.
const DefaultChunk = 16384

// Weights are a model's parameters prepared for feature extraction: the
// packed weights the network runs with, and the skip convolutions of all
// layers side by side. They are only read, so every Extractor of a model
// shares one.
type Weights struct {
	cfg    causalconv.Config
	packed *causalconv.Packed
	skipW  []float32 // [S × L·D]: column l·D+c is skip.l.weight[:, c]
	skipB  []float32 // [S], Σ_l skip.l.bias; nil without bias
}

// NewWeights prepares m's parameters; later changes to m do not affect
// them.
func NewWeights(m *causalconv.Model) (*Weights, error) {
	if m == nil {
		return nil, errors.New("features: nil model")
	}
	c := m.Config
	S, D, L := c.SkipChannels, c.DilationChannels, c.Layers()
	w := &Weights{cfg: c, packed: m.Packed(), skipW: make([]float32, S*L*D)}
	if c.Bias {
		w.skipB = make([]float32, S)
	}
	for l := 0; l < L; l++ {
		sw := m.View(m.Params, fmt.Sprintf("skip.%d.weight", l)) // [S, D, 1]
		if len(sw) != S*D {
			return nil, fmt.Errorf("features: model has no skip.%d.weight of %d×%d", l, S, D)
		}
		for s := 0; s < S; s++ {
			copy(w.skipW[s*L*D+l*D:s*L*D+(l+1)*D], sw[s*D:(s+1)*D])
		}
		if c.Bias {
			for s, b := range m.View(m.Params, fmt.Sprintf("skip.%d.bias", l)) {
				w.skipB[s] += b
			}
		}
	}
	return w, nil
}

// Config is the model's architecture.
func (w *Weights) Config() causalconv.Config { return w.cfg }

// Options configure an Extractor.
type Options struct {
	// Layers are the items of the feature vector, in column order.
	Layers Layers
	// Pool is PoolMean (default when empty) or PoolMax.
	Pool string
	// Framing places the frames.
	Framing Framing
	// Chunk bounds the positions per network call (context aside); 0
	// means DefaultChunk. Chunking does not change the features.
	Chunk int
	// Kernels is the kernel set; the zero value means kernels.Best().
	Kernels kernels.Set
}

// Extractor computes learned frame features of one model: it runs the
// network over an utterance's μ-law classes and pools the chosen
// activations over each frame. It owns a workspace, allocated once, and
// is not safe for concurrent use: make one per goroutine, sharing the
// Weights.
//
// A long utterance is processed in chunks of about Options.Chunk
// positions. Each chunk carries RF−1 inputs of real context before its
// first position (RF = the receptive field), which is exactly what every
// activation in it depends on, so chunked features equal those of one
// pass over the whole utterance (see TestChunkingIsExact for the last bit).
//
// # Pooling the skip sum
//
// The skip sum is linear in the gate outputs: at position t it is
// W_skip·[z_0(t); …; z_L−1(t)] + Σ b_skip. So its mean over a frame is
// W_skip times the frame means of the z's, plus the bias: with mean
// pooling the Extractor pools the L·D gate-output rows and multiplies once
// per frame, not once per position. For the default model that removes
// the largest product of the network (S·L·D = 164K multiply-adds per
// position, 62% of the work) in exchange for one per 80 positions; the
// result differs from pooling the skip sum only by float32 rounding. Max
// pooling is not linear and computes the skip sum at every position.
type Extractor struct {
	w      *Weights
	ws     *causalconv.Workspace
	k      kernels.Set
	opts   Options
	dim    int
	layers int  // network layers to run
	skip   bool // skip sum needed
	// poolSkip: mean pooling of the skip sum through pooled z's.
	poolSkip bool
	ctx      int // RF − 1
	chunk    int // positions per call, context aside

	pooler  *pooler   // opts.Pool over opts.Framing
	zPooled []float32 // poolSkip: [L·D × maxFrames], the frame means of every z row
	sPooled []float32 // poolSkip: [S × maxFrames], W_skip·zPooled + b
	offs    []int
	maxF    int // most frames a call can hold
}

// NewExtractor returns an Extractor for the model's weights w.
func NewExtractor(w *Weights, opts Options) (*Extractor, error) {
	if w == nil {
		return nil, errors.New("features: nil weights")
	}
	c := w.cfg
	if len(opts.Layers) == 0 {
		return nil, errors.New("features: no layers chosen")
	}
	for _, it := range opts.Layers {
		if !it.Skip && (it.Layer < 0 || it.Layer >= c.Layers()) {
			return nil, fmt.Errorf("features: layer %d does not exist: the model has layers 0 to %d", it.Layer, c.Layers()-1)
		}
	}
	switch opts.Pool {
	case "":
		opts.Pool = PoolMean
	case PoolMean, PoolMax:
	default:
		return nil, fmt.Errorf("features: pooling %q, want %s or %s", opts.Pool, PoolMean, PoolMax)
	}
	if err := opts.Framing.Validate(); err != nil {
		return nil, fmt.Errorf("features: %w", err)
	}
	if opts.Chunk == 0 {
		opts.Chunk = DefaultChunk
	}
	if opts.Chunk < 1 || opts.Chunk > 1<<24 {
		return nil, fmt.Errorf("features: chunk of %d positions, want 1 to %d", opts.Chunk, 1<<24)
	}
	if opts.Kernels.GemmNN == nil {
		opts.Kernels = kernels.Best()
	}
	e := &Extractor{w: w, k: opts.Kernels, opts: opts, dim: opts.Layers.Dim(c), ctx: c.ReceptiveField() - 1}
	e.layers, e.skip = opts.Layers.needs(c.Layers())
	e.poolSkip = e.skip && opts.Pool == PoolMean
	// A call must hold at least one whole frame.
	e.chunk = max(opts.Chunk, opts.Framing.Window)
	ws, err := causalconv.NewEvalWorkspace(c, opts.Kernels, e.chunk+e.ctx)
	if err != nil {
		return nil, fmt.Errorf("features: %w", err)
	}
	e.ws = ws
	e.pooler = newPooler(opts.Pool, opts.Framing)
	if e.poolSkip {
		// Frames whose spans fit in chunk positions: at most one per hop,
		// plus one.
		e.maxF = e.chunk/opts.Framing.Hop + 1
		LD := c.Layers() * c.DilationChannels
		e.zPooled = make([]float32, LD*e.maxF)
		e.sPooled = make([]float32, c.SkipChannels*e.maxF)
		e.offs = make([]int, LD)
	}
	return e, nil
}

// SetSpeaker conditions a speaker-conditioned model's later Computes on
// speaker s (a row of its table).
func (e *Extractor) SetSpeaker(s int) { e.ws.SetSpeaker(s) }

// Dim is the number of values per frame.
func (e *Extractor) Dim() int { return e.dim }

// Options returns the options in effect (defaults filled in).
func (e *Extractor) Options() Options { return e.opts }

// NumFrames is how many frames an utterance of n samples has.
func (e *Extractor) NumFrames(n int) int { return e.opts.Framing.NumFrames(n) }

// Compute appends the features of the utterance whose μ-law classes are x
// to dst, frame after frame (NumFrames(len(x)) × Dim() values, row-major),
// and returns the extended slice and the number of frames. A class out of
// the model's range is an error.
func (e *Extractor) Compute(dst []float32, x []int32) ([]float32, int, error) {
	n := len(x)
	fr := e.opts.Framing
	frames := fr.NumFrames(n)
	if frames == 0 {
		return dst, 0, nil
	}
	start := len(dst)
	dst = append(dst, make([]float32, frames*e.dim)...)
	out := dst[start:]
	aopt := causalconv.ActivationOptions{Layers: e.layers, SkipSum: e.skip && !e.poolSkip}
	for f0 := 0; f0 < frames; {
		// The frames f0..f1−1 of this call, as many as fit in e.chunk
		// positions (at least one).
		lo, hi := fr.Span(f0, n)
		f1 := f0 + 1
		for f1 < frames && !(e.poolSkip && f1-f0 == e.maxF) {
			_, h := fr.Span(f1, n)
			if h-lo > e.chunk {
				break
			}
			hi = h
			f1++
		}
		from := lo - min(lo, e.ctx)
		act, err := e.ws.Activations(e.w.packed, x[from:hi], lo-from, aopt)
		if err != nil {
			return dst[:start], 0, fmt.Errorf("features: %w", err)
		}
		if e.poolSkip {
			e.pooledSkipSum(act, n, f0, f1, lo)
		}
		col := 0
		for _, it := range e.opts.Layers {
			switch {
			case it.Skip && e.poolSkip:
				nf := f1 - f0
				for s := 0; s < e.w.cfg.SkipChannels; s++ {
					row := e.sPooled[s*nf : (s+1)*nf]
					for j, v := range row {
						out[(f0+j)*e.dim+col+s] = v
					}
				}
				col += e.w.cfg.SkipChannels
			default:
				m := act.SkipSum
				if !it.Skip {
					m = act.Z[it.Layer]
				}
				for c := 0; c < m.Rows; c++ {
					e.pooler.row(n, f0, f1, lo, m.Row(c), out[f0*e.dim+col+c:], e.dim)
				}
				col += m.Rows
			}
		}
		f0 = f1
	}
	return dst, frames, nil
}

// pooledSkipSum computes the frame means of the skip sum for frames
// f0..f1−1 into sPooled ([S × (f1−f0)]) as W_skip·(frame means of every
// z row) + Σ b_skip.
func (e *Extractor) pooledSkipSum(act causalconv.Activations, n, f0, f1, base int) {
	c := e.w.cfg
	nf := f1 - f0
	LD := c.Layers() * c.DilationChannels
	zp := e.zPooled[:LD*nf]
	for l, z := range act.Z {
		for ch := 0; ch < z.Rows; ch++ {
			r := l*c.DilationChannels + ch
			e.pooler.row(n, f0, f1, base, z.Row(ch), zp[r*nf:], 1) // mean pooling here
		}
	}
	for r := range e.offs {
		e.offs[r] = r * nf
	}
	e.k.GemmNN(c.SkipChannels, nf, LD, e.w.skipW, LD, zp, e.offs, e.sPooled, nf, e.w.skipB, false)
}
