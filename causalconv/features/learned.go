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
// Packed weights.
//
// A long utterance is processed in chunks of about Options.Chunk
// positions. Each chunk carries RF−1 inputs of real context before its
// first position (RF = the receptive field), which is exactly what every
// activation in it depends on, so chunked features equal those of one
// pass over the whole utterance, bit for bit.
type Extractor struct {
	p      *causalconv.Packed
	ws     *causalconv.Workspace
	opts   Options
	dim    int
	layers int // network layers to run
	skip   bool
	ctx    int // RF − 1
	chunk  int // positions per call, context aside
}

// NewExtractor returns an Extractor for the packed model p.
func NewExtractor(p *causalconv.Packed, opts Options) (*Extractor, error) {
	if p == nil {
		return nil, errors.New("features: nil model")
	}
	c := p.Config()
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
	e := &Extractor{p: p, opts: opts, dim: opts.Layers.Dim(c), ctx: c.ReceptiveField() - 1}
	e.layers, e.skip = opts.Layers.needs(c.Layers())
	// A call must hold at least one whole frame.
	e.chunk = max(opts.Chunk, opts.Framing.Window)
	ws, err := causalconv.NewEvalWorkspace(c, opts.Kernels, e.chunk+e.ctx)
	if err != nil {
		return nil, fmt.Errorf("features: %w", err)
	}
	e.ws = ws
	return e, nil
}

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
	aopt := causalconv.ActivationOptions{Layers: e.layers, SkipSum: e.skip}
	for f0 := 0; f0 < frames; {
		// The frames f0..f1−1 of this call, as many as fit in e.chunk
		// positions (at least one).
		lo, hi := fr.Span(f0, n)
		f1 := f0 + 1
		for f1 < frames {
			_, h := fr.Span(f1, n)
			if h-lo > e.chunk {
				break
			}
			hi = h
			f1++
		}
		from := lo - min(lo, e.ctx)
		act, err := e.ws.Activations(e.p, x[from:hi], lo-from, aopt)
		if err != nil {
			return dst[:start], 0, fmt.Errorf("features: %w", err)
		}
		col := 0
		for _, it := range e.opts.Layers {
			m := act.SkipSum
			if !it.Skip {
				m = act.Z[it.Layer]
			}
			for c := 0; c < m.Rows; c++ {
				poolRow(e.opts.Pool, fr, n, f0, f1, lo, m.Row(c), out[f0*e.dim+col+c:], e.dim)
			}
			col += m.Rows
		}
		f0 = f1
	}
	return dst, frames, nil
}
