package causalconv

import (
	"errors"
	"fmt"
)

// Fast generation of a locally conditioned model (a vocoder).
//
// Every layer adds W_lc,l·cond(t) to [f; g] before the gate (lcond.go).
// Computed at each step, that is one [2D × C] matrix-vector product per
// layer and stream, which reads W_lc,l every sample. A Generator instead
// computes the term for a block of lcBlock upcoming positions at once:
//
//	per stream s, once per block of positions t0..t0+lcBlock−1:
//	    cond    = the upsampling network over the columns the block reads   C × lcBlock
//	    termᵀ   = condᵀ · [W_lc,0ᵀ … W_lc,L−1ᵀ]                              one GemmNN, [lcBlock × C]·[C × L·2D]
//	per step t, per layer l:
//	    [f; g] += termᵀ[t−t0, l·2D : (l+1)·2D]                              2D consecutive floats added before the gate
//
// The terms are kept transposed, a position's values side by side, so
// that a step reads a few cache lines per layer rather than one per value,
// and all layers' products are one call, which packs the weights once per
// block.
//
// The conditioning depends only on the features and the position, never
// on the generated samples, so it can be computed ahead. The upsampling
// network computes each column as the same sum in the same order whatever
// range it covers (lcWork.forward), so the blocks' columns are the whole
// utterance's network's; only the few columns a stage's smoothing reads
// beyond a block are computed twice.

// lcBlock is how many upcoming positions a Generator conditions at once:
// the m of the GemmNN, which packs the weights once per block. The terms
// of a block take L·2D·lcBlock floats per stream (320 KB for the default
// model). For one stream of the default model with 40 channels, 64 was
// faster than 32 (the packing and the upsampling network's edges amortized)
// and than 128 (the terms evicting weights from the L2 cache).
const lcBlock = 64

// lcSpan is how many positions the upsampling network runs over at once
// (a multiple of lcBlock): the frames and columns a span's edges need
// from beyond it are computed twice, so longer spans waste less; its
// output takes C·lcSpan floats per stream.
const lcSpan = 4 * lcBlock

// genLC is a locally conditioned Generator's share.
type genLC struct {
	work   []*lcWork   // per stream: its features, start and the upsampling network's buffers
	set    bool        // SetFeatures was called
	t      int         // the position of the next step since Reset
	lo, hi int         // term holds positions lo..hi−1 (none when lo == hi)
	span   int         // cond holds the positions span..span+lcSpan−1 (none: −1)
	cond   [][]float32 // per stream: [C × lcSpan], cond(t) of the span that holds lo..hi−1
	condT  []float32   // [lcBlock × C]: its transpose
	wT     []float32   // [C × L·2D]: every layer's W_lc,lᵀ side by side
	bOff   []int       // GemmNN's row offsets of wT: c·L·2D
	// term[(s·lcBlock + t−lo)·L·2D + l·2D + o] is what stream s adds to
	// row o of layer l's [f; g] at position t; for one stream (biased)
	// it holds the layer's bias too, and is the bias of the filter-gate
	// product, so that the kernel adds it.
	term   []float32
	biased bool
	bias   []float32 // [L·2D]: every layer's filter-gate bias (zeros without), when biased
}

// newGenLC allocates the share of a Generator of streams streams of the
// locally conditioned model p.
func newGenLC(p *Packed, streams int) *genLC {
	lc := p.cfg.LocalCondition
	C, L, D := lc.Channels, p.cfg.Layers(), p.cfg.DilationChannels
	g := &genLC{
		work:  make([]*lcWork, streams),
		cond:  make([][]float32, streams),
		condT: make([]float32, lcBlock*C),
		wT:    make([]float32, C*L*2*D),
		bOff:  make([]int, C),
		term:  make([]float32, streams*L*2*D*lcBlock),
	}
	for s := range g.work {
		g.work[s] = newLCWork(lc, 0, lcSpan, false)
		g.cond[s] = make([]float32, C*lcSpan)
	}
	if streams == 1 {
		g.biased, g.bias = true, make([]float32, L*2*D)
		for l, b := range p.fgB {
			copy(g.bias[l*2*D:(l+1)*2*D], b)
		}
	}
	for c := range g.bOff {
		g.bOff[c] = c * L * 2 * D
		for l, w := range p.lcWT {
			copy(g.wT[c*L*2*D+l*2*D:][:2*D], w[c*2*D:(c+1)*2*D])
		}
	}
	return g
}

// SetFeatures gives a locally conditioned model's streams their features:
// feats[s] is stream s's utterance's raw features (Config.LocalCondition's
// Channels rows, one column per frame, at least one) and starts[s] the
// sample of that utterance that the stream's position 0 is (the first
// Step or Warm input after Reset or NewGenerator). Position t then
// predicts sample starts[s]+t+1, conditioned as Workspace.SetFeatures
// defines. The generator keeps the matrices, not copies: leave them
// unchanged while they are set. A locally conditioned generator cannot
// step until SetFeatures is called; a generator of another model refuses
// features. SetFeatures does not reset the positions: call it before the
// first input, or after Reset.
func (g *Generator) SetFeatures(feats []Matrix, starts []int) error {
	if g.lc == nil {
		return errors.New("causalconv: features given for a model that is not locally conditioned")
	}
	if len(feats) != g.streams || len(starts) != g.streams {
		return fmt.Errorf("causalconv: %d feature matrices and %d starts for %d streams", len(feats), len(starts), g.streams)
	}
	for s, w := range g.lc.work {
		if err := w.set(feats[s], starts[s]); err != nil {
			g.lc.set = false
			return fmt.Errorf("stream %d: %w", s, err)
		}
	}
	g.lc.set = true
	g.lc.lo, g.lc.hi, g.lc.span = 0, 0, -1
	return nil
}

// checkFeatures reports a locally conditioned generator without features.
func (g *Generator) checkFeatures() error {
	if g.lc != nil && !g.lc.set {
		return errors.New("causalconv: the model is locally conditioned: SetFeatures first")
	}
	return nil
}

// lcReset makes the next input position 0 again.
func (g *Generator) lcReset() {
	if g.lc != nil {
		g.lc.t, g.lc.lo, g.lc.hi, g.lc.span = 0, 0, 0, -1
	}
}

// lcSkip advances the positions by n inputs that are not fed (the part of
// a long prompt that Warm leaves out).
func (g *Generator) lcSkip(n int) {
	if g.lc != nil {
		g.lc.t += n
	}
}

// lcAdvance is called once per step after the layers: the next input is
// one position later.
func (g *Generator) lcAdvance() {
	if g.lc != nil {
		g.lc.t++
	}
}

// lcBiased returns, for a one-stream generator, the bias of layer l's
// filter-gate product at the current position: the layer's bias plus its
// conditioning, computing the next block of terms first when the position
// is past the last one.
func (g *Generator) lcBiased(l int) []float32 {
	c := g.lc
	if c.t < c.lo || c.t >= c.hi {
		g.lcBlockTerms()
	}
	D2, L := 2*g.n.D, g.n.L
	return c.term[(c.t-c.lo)*L*D2+l*D2:][:D2]
}

// lcAdd adds layer l's conditioning at the current position to every
// stream's [f; g] in g.fg, computing the next block of terms first when
// the position is past the last one.
func (g *Generator) lcAdd(l int) {
	c := g.lc
	if c.t < c.lo || c.t >= c.hi {
		g.lcBlockTerms()
	}
	D2, B, L := 2*g.n.D, g.streams, g.n.L
	j := c.t - c.lo
	if B == 1 {
		fg := g.fg[:D2]
		for o, v := range c.term[j*L*D2+l*D2:][:D2] {
			fg[o] += v
		}
		return
	}
	for s := 0; s < B; s++ {
		for o, v := range c.term[(s*lcBlock+j)*L*D2+l*D2:][:D2] {
			g.fg[o*B+s] += v
		}
	}
}

// lcBlockTerms computes every stream's terms for positions t..t+lcBlock−1.
// The products are float32 in every mode (W_lc stays float32 with
// GeneratorOptions.BF16, as the residual matrices do).
func (g *Generator) lcBlockTerms() {
	c := g.lc
	C, D2, L := g.p.cfg.LocalCondition.Channels, 2*g.n.D, g.n.L
	// A new span when the block is not the next one of the current span.
	span := c.span < 0 || c.t != c.hi || (c.t-c.span)+lcBlock > lcSpan
	if span {
		c.span = c.t
	}
	c.lo, c.hi = c.t, c.t+lcBlock
	j0 := c.lo - c.span
	for s, w := range c.work {
		if span {
			w.forward(g.p, c.span, c.span+lcSpan, c.cond[s], lcSpan)
		}
		for ch := 0; ch < C; ch++ {
			for j, v := range c.cond[s][ch*lcSpan+j0 : ch*lcSpan+j0+lcBlock] {
				c.condT[j*C+ch] = v
			}
		}
		term := c.term[s*lcBlock*L*D2 : (s+1)*lcBlock*L*D2]
		if c.biased {
			for j := 0; j < lcBlock; j++ {
				copy(term[j*L*D2:(j+1)*L*D2], c.bias)
			}
		}
		g.k.GemmNN(lcBlock, L*D2, C, c.condT, C, c.wT, c.bOff, term, L*D2, nil, c.biased)
	}
}
