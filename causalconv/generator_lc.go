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
//	    cond   = the upsampling network over the columns the block reads   C × lcBlock
//	    term_l = W_lc,l · cond                                              one GemmNN per layer, [2D × C]·[C × lcBlock]
//	per step t, per layer l:
//	    [f; g] += term_l[:, t−t0]                                           a column addition before the gate
//
// The conditioning depends only on the features and the position, never
// on the generated samples, so it can be computed ahead. The upsampling
// network computes each column as the same sum in the same order whatever
// range it covers (lcWork.forward), so the blocks' columns are the whole
// utterance's network's; only the few columns a stage's smoothing reads
// beyond a block are computed twice.

// lcBlock is how many upcoming positions a Generator conditions at once:
// the n of the GemmNNs. The terms of a block take L·2D·lcBlock floats per
// stream (160 KB for the default model), which stay in the L2 cache beside
// the weights.
const lcBlock = 32

// genLC is a locally conditioned Generator's share.
type genLC struct {
	work   []*lcWork // per stream: its features, start and the upsampling network's buffers
	set    bool      // SetFeatures was called
	t      int       // the position of the next step since Reset
	lo, hi int       // term holds positions lo..hi−1 (none when lo == hi)
	cond   []float32 // [C × lcBlock]: one stream's cond(lo..hi−1)
	bOff   []int     // GemmNN's row offsets of cond: c·lcBlock
	// term[((s·L + l)·2D + o)·lcBlock + t−lo] is what stream s adds to
	// row o of layer l's [f; g] at position t.
	term []float32
}

// newGenLC allocates the share of a Generator of streams streams of the
// locally conditioned model p.
func newGenLC(p *Packed, streams int) *genLC {
	lc := p.cfg.LocalCondition
	C, L, D := lc.Channels, p.cfg.Layers(), p.cfg.DilationChannels
	g := &genLC{
		work: make([]*lcWork, streams),
		cond: make([]float32, C*lcBlock),
		bOff: make([]int, C),
		term: make([]float32, streams*L*2*D*lcBlock),
	}
	for s := range g.work {
		g.work[s] = newLCWork(lc, 0, lcBlock, false)
	}
	for c := range g.bOff {
		g.bOff[c] = c * lcBlock
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
	g.lc.lo, g.lc.hi = 0, 0
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
		g.lc.t, g.lc.lo, g.lc.hi = 0, 0, 0
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
	for s := 0; s < B; s++ {
		term := c.term[(s*L+l)*D2*lcBlock+j:]
		for o := 0; o < D2; o++ {
			g.fg[o*B+s] += term[o*lcBlock]
		}
	}
}

// lcBlockTerms computes every stream's terms for positions t..t+lcBlock−1.
// The products are float32 in every mode (W_lc stays float32 with
// GeneratorOptions.BF16, as the residual matrices do).
func (g *Generator) lcBlockTerms() {
	c := g.lc
	C, D2, L := g.p.cfg.LocalCondition.Channels, 2*g.n.D, g.n.L
	c.lo, c.hi = c.t, c.t+lcBlock
	for s, w := range c.work {
		w.forward(g.p, c.lo, c.hi, c.cond, lcBlock)
		for l := 0; l < L; l++ {
			g.k.GemmNN(D2, lcBlock, C, g.p.lcW[l], C, c.cond, c.bOff, c.term[(s*L+l)*D2*lcBlock:], lcBlock, nil, false)
		}
	}
}
