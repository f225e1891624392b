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
//	    termᵀ   = condᵀ · [W_lc,0ᵀ … W_lc,L−1ᵀ]                              GemmNN, [lcBlock × C]·[C × L·2D]
//	per step t, per layer l:
//	    [f; g] += termᵀ[t−t0, l·2D : (l+1)·2D]                              2D consecutive floats added before the gate
//
// The terms are kept transposed, a position's values side by side, so
// that a step reads a few cache lines per layer rather than one per value
// (for one stream the row, with the layer's bias in it, is the bias of the
// filter-gate product: the matrix-vector kernel adds it for free).
//
// The conditioning depends only on the features and the position, never
// on the generated samples, so it is computed ahead: while a block's terms
// are used, the next block's are computed in units of a few microseconds,
// spread evenly over the block's steps (lcAhead): the upsampling network's
// preparation (conv_in, one GemmNN) and its channels one at a time when the
// block starts a new span of lcSpan positions, the transpose, then the
// product lcSliceCols columns at a time. With Threads 2 the caller runs
// them after its layers, while the helper finishes the skip sum (which
// takes the caller ~1.5 µs of waiting per step of the default model), so
// the conditioning mostly fills time the caller would spend spinning.
// The upsampling network computes each column as the same sum in the same
// order whatever range it covers (lcWork.forward), so the blocks' columns
// are the whole utterance's network's; only the few columns a stage's
// smoothing reads beyond a span are computed twice. The units change no
// bit: each term is the same sum whatever columns a GemmNN covers.

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
	cond   [][]float32 // per stream: [C × lcSpan], cond(t) of the span that holds the block being computed
	condT  []float32   // [lcBlock × C]: the block's columns transposed
	wT     []float32   // [C × L·2D]: every layer's W_lc,lᵀ side by side
	bOff   []int       // GemmNN's row offsets of wT: c·L·2D
	// term[(s·lcBlock + t−lo)·L·2D + l·2D + o] is what stream s adds to
	// row o of layer l's [f; g] at position t; for one stream (biased)
	// it holds the layer's bias too, and is the bias of the filter-gate
	// product, so that the kernel adds it.
	term []float32
	// next holds the terms of the block after term's, positions
	// nextLo..nextLo+lcBlock−1, of which the first nextDone units are
	// computed (lcAhead); newSpan says whether that block starts a span.
	next             []float32
	nextLo, nextDone int
	newSpan          bool
	units            int // the block's units of work (plan)
	parts            int // column slices per stream: ⌈L·2D / lcSliceCols⌉
	channels         int // C
	biased           bool
	bias             []float32 // [L·2D]: every layer's filter-gate bias (zeros without), when biased
}

// newGenLC allocates the share of a Generator of streams streams of the
// locally conditioned model p.
func newGenLC(p *Packed, streams int) *genLC {
	lc := p.cfg.LocalCondition
	C, L, D := lc.Channels, p.cfg.Layers(), p.cfg.DilationChannels
	N := L * 2 * D
	g := &genLC{
		work:     make([]*lcWork, streams),
		cond:     make([][]float32, streams),
		condT:    make([]float32, lcBlock*C),
		wT:       make([]float32, C*N),
		bOff:     make([]int, C),
		term:     make([]float32, streams*N*lcBlock),
		next:     make([]float32, streams*N*lcBlock),
		parts:    (N + lcSliceCols - 1) / lcSliceCols,
		channels: C,
	}
	for s := range g.work {
		g.work[s] = newLCWork(lc, 0, lcSpan, false)
		g.cond[s] = make([]float32, C*lcSpan)
	}
	if streams == 1 {
		g.biased, g.bias = true, make([]float32, N)
		for l, b := range p.fgB {
			copy(g.bias[l*2*D:(l+1)*2*D], b)
		}
	}
	for c := range g.bOff {
		g.bOff[c] = c * N
		for l, w := range p.lcWT {
			copy(g.wT[c*N+l*2*D:][:2*D], w[c*2*D:(c+1)*2*D])
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
	g.lc.lo, g.lc.hi = 0, 0
	g.lc.restart(0)
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
		g.lc.restart(0)
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

// lcBlockTerms makes the block of terms that starts at the current
// position the current one: the next block, which lcAhead has been
// computing unit by unit, finished if it is not yet; or, after a jump in
// the positions (Warm skipping a long prompt's head), a new block and span
// computed here.
func (g *Generator) lcBlockTerms() {
	c := g.lc
	if c.t != c.nextLo {
		c.restart(c.t)
	}
	for ; c.nextDone < c.units; c.nextDone++ {
		g.lcUnit(c.nextDone)
	}
	c.term, c.next = c.next, c.term
	c.lo, c.hi = c.nextLo, c.nextLo+lcBlock
	c.nextLo, c.nextDone = c.hi, 0
	c.plan()
}

// restart makes t the first position of the next block, in a new span.
func (c *genLC) restart(t int) {
	c.nextLo, c.nextDone, c.span = t, 0, -1
	c.plan()
}

// plan decides how the block at nextLo is computed: whether it starts a
// new span (when it does not fit in the current one), and so how many
// units of work it takes: per stream, when it does, the upsampling
// network's preparation and its C channels; then the transpose of the
// block's columns; then the columns of the product lcSliceCols at a time.
func (c *genLC) plan() {
	c.newSpan = c.span < 0 || (c.nextLo-c.span)+lcBlock > lcSpan
	per := 1 + c.parts
	if c.newSpan {
		c.span = c.nextLo
		per += 1 + c.channels
	}
	c.units = len(c.work) * per
}

// lcAhead computes the units of the next block's terms that are due at
// the current position, spreading a block's work evenly over the block
// before it: after j of its lcBlock steps, ⌈j·units/lcBlock⌉ units are
// done. With Threads 2 the caller runs it while the helper goroutine
// computes the skip product, which takes longer than the layers, so the
// conditioning costs a step little more than the bias it adds.
func (g *Generator) lcAhead() {
	c := g.lc
	if c == nil || c.lo == c.hi || c.nextLo != c.hi {
		return
	}
	due := min(c.units, (c.units*(c.t-c.lo)+lcBlock-1)/lcBlock)
	for ; c.nextDone < due; c.nextDone++ {
		g.lcUnit(c.nextDone)
	}
}

// lcSliceCols is how many columns of the [lcBlock × L·2D] product of a
// block one unit computes: one layer of the default model (≈ 3.5 µs on
// one core of the Intel machine of kernels/BENCH.md, the bias copy
// included). Against 48 and 96, 64 gave the best vocoding/plain ratio
// (BenchmarkVocode/threads2, median block, 4 runs each: 0.93–0.97
// against 0.86–0.93 and 0.90–0.94): narrower units pack and call more per
// term, wider ones delay the step that runs them past the caller's idle
// time. Every term is the same sum in the same order however the columns
// are divided (the GEMM's reduction does not depend on n), so the
// division changes no bit.
const lcSliceCols = 64

// lcUnit computes unit i of the block of terms for positions
// nextLo..nextLo+lcBlock−1 into c.next, in the order plan describes. The
// products are float32 in every mode (W_lc stays float32 with
// GeneratorOptions.BF16, as the residual matrices do).
func (g *Generator) lcUnit(i int) {
	c := g.lc
	C, N := c.channels, 2*g.n.D*g.n.L
	per := c.units / len(c.work)
	s, u := i/per, i%per
	if c.newSpan {
		w := c.work[s]
		switch {
		case u == 0:
			w.prepare(g.k, g.p, c.span, c.span+lcSpan)
			return
		case u <= C:
			w.channel(g.k, g.p, u-1, c.span, c.span+lcSpan, c.cond[s], lcSpan)
			return
		}
		u -= 1 + C
	}
	if u > 0 {
		next := c.next[s*lcBlock*N : (s+1)*lcBlock*N]
		n0 := (u - 1) * lcSliceCols
		n := min(lcSliceCols, N-n0)
		if c.biased { // the product starts from the bias
			for j := 0; j < lcBlock; j++ {
				copy(next[j*N+n0:][:n], c.bias[n0:])
			}
		}
		g.k.GemmNN(lcBlock, n, C, c.condT, C, c.wT[n0:], c.bOff, next[n0:], N, nil, c.biased)
		return
	}
	j0 := c.nextLo - c.span
	for ch := 0; ch < C; ch++ {
		for j, v := range c.cond[s][ch*lcSpan+j0 : ch*lcSpan+j0+lcBlock] {
			c.condT[j*C+ch] = v
		}
	}
}
