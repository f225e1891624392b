package causalconv

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync/atomic"

	"github.com/nextsample/nextsample/causalconv/kernels"
)

// Generator runs a network one time step at a time, for autoregressive
// generation: each Step takes the newest input class of every stream and
// returns the logits that predict the next one.
//
// Running the whole network over the last receptive field for every new
// sample (naive generation) repeats almost all of its work: of the RF
// positions a layer computes, only the newest is new. A Generator keeps,
// per layer, a ring buffer of the layer's last (K−1)·d inputs (the "fast
// WaveNet" queues), so a step costs one time step of work per layer:
//
//	input   h_0 = Σ_k W_in,k[x(t−(Kin−1−k))] + b_in       a column gather, no product
//	layer l [f; g] = W_fg · [h_l(t−(K−1)d); …; h_l(t)] + b_fg   one matrix-vector product, K·R deep
//	        z_l = tanh(f)·σ(g);  h_l+1 = h_l + W_r·z_l + b_r
//	head    relu(W_skip·[z_0; …; z_L−1] + Σb_skip) → post1 → relu → post2
//
// With zero-filled queues and no earlier inputs the logits are exactly
// those of the full forward pass (Workspace.Logits), which pads the
// residual stream with zeros on the left; generator_test.go checks this at
// every step.
//
// A Generator runs any number of streams in lockstep. Activations are
// [channels × streams] matrices (row c holds channel c of every stream, the
// layout of kernels.Set.MatVecBatch), so with more than one stream every
// matrix-vector product becomes a small matrix product that reads each
// weight once for all streams. Streams are independent: stream s's logits
// depend only on stream s's inputs.
//
// All buffers are allocated by NewGenerator; Step and Warm do not allocate.
// A Generator is not safe for concurrent use; the Packed weights it reads
// may be shared by any number of Generators and Workspaces.
type Generator struct {
	p       *Packed
	k       kernels.Set
	n       dims
	streams int
	batched bool  // use MatVecBatch (always when streams > 1)
	kin     int   // width of the input conv (1 for an embedding)
	dil     []int // per layer
	nres    int   // layers whose residual conv feeds a later layer: min(ResidualLayers, L−1)

	// inTab[(k·Q+q)·R + r] is what class q at input tap k adds to
	// channel r of h_0: input_layer.weight[r, q, k] for one-hot input,
	// the embedding row for an embedding. Laid out so a gather reads R
	// consecutive floats.
	inTab []float32
	inB   []float32 // nil without bias
	// hist[s·(kin−1):(s+1)·(kin−1)] are stream s's last kin−1 inputs,
	// oldest first; −1 stands for "before time 0", which contributes
	// nothing (a zero one-hot vector).
	hist []int32
	xs   []int32 // [streams]: one step's inputs, for Warm and Generate

	ring [][]float32 // per layer: (K−1)·d slots of [R × streams]
	pos  []int       // per layer: the slot holding h_l(t−(K−1)·d), the oldest
	taps [][]float32 // per layer: [K·R × streams]; block K−1 is h_l(t), the layer's input
	fg   []float32   // [2D × streams]: f rows, then g rows; the gate overwrites them
	z    []float32   // [L·D × streams]: every layer's gate output, the skip product's input
	skip []float32   // [S × streams]
	end  []float32   // [E × streams]
	out  []float32   // [Q × streams]: the logits

	// gate scratch (nil when D·streams is a multiple of gateLanes):
	// f, g and z padded to a whole number of vectors; see gate.
	gateF, gateG, gateZ []float32

	// The weight matrices, each in the form it is multiplied in. The
	// fused skip product is computed in parts of skipGroup layers, each as
	// soon as its layers' gate outputs exist (skipL[l] is the part that
	// ends with layer l, empty inside a group; the first one adds
	// Σ b_skip), and the post products in two parts
	// of rows (p1P, p2P; p1Rows, p2Rows are part 0's row counts): with
	// Threads 2 a second goroutine computes the skip product while the
	// layers run and part 1 of each post product, and the arithmetic is
	// the same either way.
	fgM, resM      []matrix // per layer
	skipL          []matrix // per layer
	p1P, p2P       [2]matrix
	p1Rows, p2Rows int
	threads        int

	// cond[l·2D·B + o·B + s] is what stream s's speaker adds to row o of
	// layer l's [f; g] (a conditioned model; nil until SetSpeakers).
	cond []float32
	// lc is a locally conditioned model's share (nil for another):
	// the streams' features and the blocks of conditioning terms
	// (generator_lc.go).
	lc *genLC
}

// GeneratorOptions tune a Generator.
type GeneratorOptions struct {
	// Batched makes a one-stream generator use MatVecBatch like a
	// many-stream one, instead of MatVec. MatVec sums its products in a
	// different order, so its logits differ in the last bits; with
	// Batched a stream's logits are bit-identical however many streams
	// share its generator (MatVecBatch sums each column in the same
	// order), which keeps samples reproducible when the streams of one
	// run are divided among goroutines in different ways.
	Batched bool

	// BF16 rounds the large weight matrices (filter-gate, skip, post1,
	// post2) to bfloat16 (8 significant bits) and multiplies with the
	// bfloat16 kernels, which read half the bytes: the weights of the
	// default model then fit in a core's L2 cache. It is an approximation
	// (the logits are those of a model whose matrices were rounded; the
	// products and sums stay float32), for one unbatched stream only. The
	// residual matrices, the biases, the input table and a locally
	// conditioned model's W_lc stay float32.
	BF16 bool

	// Threads 2 lets Generate use a second goroutine (a second core): it
	// computes the skip product a layer group behind the layers, and half of
	// each post product, so each core's L2 cache holds about half of the
	// weights (the float32 weights of the default model, 1.6 MB, do not
	// fit in one core's). The results are bit-identical to Threads 1
	// (the arithmetic is split the same way on one goroutine). 0 means 1;
	// more than 2 is refused. Step, Warm and Logits always run on the
	// calling goroutine.
	Threads int
}

// NewGenerator returns a generator for streams streams of the network p,
// using the kernels of set k (which must have MatVec, and MatVecBatch when
// streams > 1 or opt.Batched). It starts reset: every queue zero, no
// inputs seen.
func NewGenerator(p *Packed, k kernels.Set, streams int, opt GeneratorOptions) (*Generator, error) {
	if p == nil {
		return nil, errors.New("causalconv: nil packed weights")
	}
	if streams < 1 || streams > 1<<16 {
		return nil, fmt.Errorf("causalconv: %d streams: must be between 1 and %d", streams, 1<<16)
	}
	batched := streams > 1 || opt.Batched
	if k.MatVec == nil || k.Gate == nil || k.ReLU == nil || (batched && k.MatVecBatch == nil) {
		return nil, fmt.Errorf("causalconv: kernel set %q lacks the matrix-vector kernels generation needs", k.Name)
	}
	if p.cfg.LocalCondition != nil && k.GemmNN == nil {
		return nil, fmt.Errorf("causalconv: kernel set %q lacks the GemmNN a locally conditioned model needs", k.Name)
	}
	if opt.BF16 && batched {
		return nil, errors.New("causalconv: bfloat16 weights are for one unbatched stream")
	}
	if opt.BF16 && k.MatVecBF16 == nil && k.MatVecTBF16 == nil {
		return nil, fmt.Errorf("causalconv: kernel set %q has no bfloat16 matrix-vector kernel", k.Name)
	}
	if opt.Threads < 0 || opt.Threads > 2 {
		return nil, fmt.Errorf("causalconv: %d generator threads: must be 1 or 2", opt.Threads)
	}
	c := p.cfg
	g := &Generator{
		p: p, k: k, streams: streams, batched: batched, threads: max(opt.Threads, 1),
		n: dims{Q: c.QuantizationChannels, R: c.ResidualChannels, D: c.DilationChannels,
			S: c.SkipChannels, E: c.EndChannels, K: c.KernelSize, L: c.Layers()},
		kin:  c.InputKernelSize,
		dil:  append([]int(nil), c.Dilations...),
		nres: min(c.ResidualLayers(), c.Layers()-1),
		inB:  p.inB,
	}
	Q, R, D, S, E, K, L, B := g.n.Q, g.n.R, g.n.D, g.n.S, g.n.E, g.n.K, g.n.L, streams
	if c.InputEncoding == InputEmbedding {
		g.kin = 1
		g.inTab = p.inW // [Q, R] already
	} else {
		g.inTab = make([]float32, g.kin*Q*R)
		for r := 0; r < R; r++ {
			for q := 0; q < Q; q++ {
				for k := 0; k < g.kin; k++ {
					g.inTab[(k*Q+q)*R+r] = p.inW[(r*Q+q)*g.kin+k]
				}
			}
		}
	}
	g.hist = make([]int32, B*(g.kin-1))
	g.xs = make([]int32, B)
	g.ring = make([][]float32, L)
	g.taps = make([][]float32, L)
	g.pos = make([]int, L)
	for l, d := range g.dil {
		g.ring[l] = make([]float32, (K-1)*d*R*B)
		g.taps[l] = make([]float32, K*R*B)
	}
	g.setMatrices(opt.BF16)
	g.fg = make([]float32, 2*D*B)
	if n := D * B; n%gateLanes != 0 {
		n += gateLanes - n%gateLanes
		g.gateF, g.gateG, g.gateZ = make([]float32, n), make([]float32, n), make([]float32, n)
	}
	g.z = make([]float32, L*D*B)
	g.skip = make([]float32, S*B)
	g.end = make([]float32, E*B)
	g.out = make([]float32, Q*B)
	if c.LocalCondition != nil {
		g.lc = newGenLC(p, B)
	}
	g.Reset()
	return g, nil
}

// Streams returns the number of streams the generator runs.
func (g *Generator) Streams() int { return g.streams }

// Config returns the architecture of the network.
func (g *Generator) Config() Config { return g.p.cfg }

// Reset forgets every input: the queues hold zeros, as the full forward
// pass's left padding does, and the next Step is time 0.
func (g *Generator) Reset() {
	for l := range g.ring {
		clear(g.ring[l])
		g.pos[l] = 0
	}
	for i := range g.hist {
		g.hist[i] = -1
	}
	g.lcReset()
}

// SetSpeakers conditions stream s on speaker speakers[s] (a row of the
// model's speaker table), for a conditioned model, which cannot step until
// it is called. The speakers' additions are computed once here, so a step
// costs one vector addition per layer more than an unconditioned one.
func (g *Generator) SetSpeakers(speakers []int) error {
	c := g.p.Speakers()
	if c == 0 {
		return errors.New("causalconv: the model is not conditioned on speakers")
	}
	if len(speakers) != g.streams {
		return fmt.Errorf("causalconv: %d speakers for %d streams", len(speakers), g.streams)
	}
	D2, B, L := 2*g.n.D, g.streams, g.n.L
	if g.cond == nil {
		g.cond = make([]float32, L*D2*B)
	}
	one := make([]float32, L*D2)
	for s, sp := range speakers {
		if sp < 0 || sp >= c {
			return fmt.Errorf("causalconv: stream %d: speaker %d, the model has %d", s, sp, c)
		}
		g.p.conditionBias(sp, one)
		for l := 0; l < L; l++ {
			for o := 0; o < D2; o++ {
				g.cond[(l*D2+o)*B+s] = one[l*D2+o]
			}
		}
	}
	return nil
}

// checkInputs validates one step's classes, one per stream.
func (g *Generator) checkInputs(x []int32) error {
	if g.cond == nil && g.p.Speakers() > 0 {
		return errors.New("causalconv: the model is conditioned on speakers: SetSpeakers first")
	}
	if err := g.checkFeatures(); err != nil {
		return err
	}
	if len(x) != g.streams {
		return fmt.Errorf("causalconv: %d inputs for %d streams", len(x), g.streams)
	}
	for s, v := range x {
		if v < 0 || int(v) >= g.n.Q {
			return fmt.Errorf("causalconv: stream %d input is class %d, not in [0, %d)", s, v, g.n.Q)
		}
	}
	return nil
}

// Step feeds x[s], the newest input class of stream s, to every stream and
// returns the logits predicting each stream's next class: a [Q × streams]
// matrix, row-major, so the logits of stream s are out[c·streams+s] for
// c < Q. The slice is the generator's own and is overwritten by the next
// call.
func (g *Generator) Step(x []int32) ([]float32, error) {
	if err := g.checkInputs(x); err != nil {
		return nil, err
	}
	g.layers(x, true, nil, 0)
	g.lcAhead()
	g.head()
	return g.out, nil
}

// Warm feeds the prompt, the same one to every stream, without computing
// logits (for the default model the output head is three quarters of the
// work of a step). Only the last RF−1 inputs (RF = Config.ReceptiveField)
// of a longer prompt can influence any later output, whatever the state
// before: every value the queues hold afterwards is computed from them
// alone. So only those are fed, and a prompt of any length costs at most
// RF−1 steps without the head.
//
// To generate after a prompt, Warm all of it but the last sample and Step
// with that one, whose logits predict the first new sample.
//
// Warming the default model with RF−1 = 2,046 samples takes about 22 ms
// on one core (BenchmarkWarm). Filling the queues from a full forward
// pass over the prompt instead would save about two thirds of that once
// per run, at the price of a second way to compute the same state.
func (g *Generator) Warm(prompt []int32) error {
	if g.cond == nil && g.p.Speakers() > 0 {
		return errors.New("causalconv: the model is conditioned on speakers: SetSpeakers first")
	}
	if err := g.checkFeatures(); err != nil {
		return err
	}
	for t, v := range prompt {
		if v < 0 || int(v) >= g.n.Q {
			return fmt.Errorf("causalconv: prompt sample %d is class %d, not in [0, %d)", t, v, g.n.Q)
		}
	}
	if keep := g.p.cfg.ReceptiveField() - 1; len(prompt) > keep {
		g.lcSkip(len(prompt) - keep) // a conditioned model's positions still count them
		prompt = prompt[len(prompt)-keep:]
	}
	x := g.xs
	for _, v := range prompt {
		for s := range x {
			x[s] = v
		}
		g.layers(x, false, nil, 0)
	}
	return nil
}

// mul is one matrix-vector product per stream: y = (acc ? y : 0) + bias
// + A·x, with x [k × streams] and y [m × streams].
func (g *Generator) mul(w *matrix, x, y []float32, acc bool) {
	switch w.kind {
	case mulPlain:
		g.k.MatVec(w.m, w.k, w.a, w.ld, x, y, w.bias, acc)
	case mulT:
		g.k.MatVecT(w.m, w.k, w.a, w.ld, x, y, w.bias, acc)
	case mulBatch:
		g.k.MatVecBatch(w.m, w.k, g.streams, w.a, w.ld, x, y, w.bias, acc)
	case mulBF16:
		g.k.MatVecBF16(w.m, w.k, w.a16, w.ld, x, y, w.bias, acc)
	case mulBF16T:
		g.k.MatVecTBF16(w.m, w.k, w.a16, w.ld, x, y, w.bias, acc)
	}
}

// layers runs the input layer and every dilated layer for one time step,
// leaving each layer's gate output in g.z and advancing every queue. As
// each gate output is ready, it adds the layer's part of the skip product
// into g.skip (skip), or tells a helper goroutine that z_l is there by
// storing base+l+1 in ready (ready not nil), or neither (Warm).
func (g *Generator) layers(x []int32, skip bool, ready *atomic.Int64, base int64) {
	Q, R, D, K, B := g.n.Q, g.n.R, g.n.D, g.n.K, g.streams
	RB := R * B

	// Input layer: a gather of table rows into h_0, layer 0's newest tap.
	h := g.taps[0][(K-1)*RB : K*RB]
	kin := g.kin
	for s, v := range x {
		hist := g.hist[s*(kin-1) : (s+1)*(kin-1)]
		row := g.inTab[((kin-1)*Q+int(v))*R:][:R]
		for r, w := range row {
			var b float32
			if g.inB != nil {
				b = g.inB[r]
			}
			h[r*B+s] = b + w
		}
		for k, c := range hist {
			if c < 0 {
				continue // before time 0: a zero one-hot vector adds nothing
			}
			row := g.inTab[(k*Q+int(c))*R:][:R]
			for r, w := range row {
				h[r*B+s] += w
			}
		}
		if kin > 1 {
			copy(hist, hist[1:])
			hist[kin-2] = v
		}
	}

	for l, d := range g.dil {
		taps := g.taps[l]
		cur := taps[(K-1)*RB : K*RB]
		ring, n := g.ring[l], (K-1)*d
		pos := g.pos[l]
		// Tap k < K−1 is h_l(t−(K−1−k)·d), in slot pos + k·d.
		for k := 0; k < K-1; k++ {
			slot := pos + k*d
			if slot >= n {
				slot -= n
			}
			copy(taps[k*RB:(k+1)*RB], ring[slot*RB:(slot+1)*RB])
		}
		// The oldest slot is not needed any more: it takes h_l(t).
		copy(ring[pos*RB:(pos+1)*RB], cur)
		if pos++; pos == n {
			pos = 0
		}
		g.pos[l] = pos

		if g.lc != nil && g.lc.biased {
			fgM := g.fgM[l]
			fgM.bias = g.lcBiased(l) // the bias plus the conditioning
			g.mul(&fgM, taps, g.fg, false)
		} else {
			g.mul(&g.fgM[l], taps, g.fg, false)
		}
		if g.cond != nil {
			c := g.cond[l*2*D*B : (l+1)*2*D*B]
			for i, v := range c {
				g.fg[i] += v
			}
		}
		if g.lc != nil && !g.lc.biased {
			g.lcAdd(l)
		}
		z := g.z[l*D*B : (l+1)*D*B]
		g.gate(z)
		switch {
		case skip:
			g.skipLayer(l)
		case ready != nil:
			ready.Store(base + int64(l) + 1)
		}
		if l < g.nres {
			next := g.taps[l+1][(K-1)*RB : K*RB]
			copy(next, cur)
			g.mul(&g.resM[l], z, next, true)
		}
	}
	g.lcAdvance()
}

// gateLanes is the widest vector of the kernel sets' element-wise
// kernels, in floats.
const gateLanes = 16

// gate computes z = tanh(f)·σ(g) from g.fg. The kernels' Gate does whole
// vectors in assembly and the few elements left over in scalar Go, which
// rounds differently in the last bit; so that a stream's values do not
// depend on where the number of streams puts them, the gate always runs
// over a whole number of the widest vectors, on padded copies when
// D·streams is not one.
func (g *Generator) gate(z []float32) {
	n := len(z)
	if g.gateF == nil {
		g.k.Gate(n, g.fg[:n], g.fg[n:2*n], g.fg[:n], g.fg[n:2*n], z)
		return
	}
	copy(g.gateF, g.fg[:n])
	copy(g.gateG, g.fg[n:2*n])
	g.k.Gate(len(g.gateF), g.gateF, g.gateG, g.gateF, g.gateG, g.gateZ)
	copy(z, g.gateZ)
}

// head computes the logits from the skip sum that layers left in g.skip.
func (g *Generator) head() {
	g.k.ReLU(g.n.S*g.streams, g.skip)
	g.post1(0)
	g.post1(1)
	g.post2(0)
	g.post2(1)
}

// post1 computes part of the rows of relu(post1 · relu(skip)) into g.end.
func (g *Generator) post1(part int) {
	B, r0 := g.streams, part*g.p1Rows
	w := &g.p1P[part]
	if w.m == 0 {
		return
	}
	end := g.end[r0*B : (r0+w.m)*B]
	g.mul(w, g.skip, end, false)
	g.k.ReLU(len(end), end)
}

// post2 computes part of the rows of the logits from g.end.
func (g *Generator) post2(part int) {
	B, r0 := g.streams, part*g.p2Rows
	w := &g.p2P[part]
	if w.m == 0 {
		return
	}
	g.mul(w, g.end, g.out[r0*B:(r0+w.m)*B], false)
}

// skipLayer adds the part of the skip product that ends with layer l,
// W_skip,l0..l · [z_l0; …; z_l] (and Σ b_skip with the first part), into
// g.skip; it does nothing for a layer inside a group (see skipGroup).
func (g *Generator) skipLayer(l int) {
	w := &g.skipL[l]
	if w.k == 0 {
		return
	}
	DB := g.n.D * g.streams
	l0 := l + 1 - w.k/g.n.D
	g.mul(w, g.z[l0*DB:(l+1)*DB], g.skip, l0 > 0)
}

// skipGroup is how many layers' gate outputs each part of the skip
// product reads. Against the single fused call, one stream on one core
// measured ~7% slower with one layer per part and ~5% with two (call
// overhead, a load and store of the skip sum per part; noisy, 2 rounds),
// ~2% with four; two keeps the helper of Threads 2 at most two layers'
// worth behind the layers.
const skipGroup = 2

// mulKind says which kernel multiplies by a matrix.
type mulKind uint8

const (
	mulPlain mulKind = iota // MatVec, A as packed [m × k]
	mulT                    // MatVecT, Aᵀ [k × m]
	mulBatch                // MatVecBatch, A as packed
	mulBF16                 // MatVecBF16, A in bfloat16
	mulBF16T                // MatVecTBF16, Aᵀ in bfloat16
)

// matrix is one weight matrix A [m × k] and its bias, in the form its
// kind multiplies: a (or a16) holds A or Aᵀ with row stride ld.
type matrix struct {
	kind mulKind
	m, k int
	a    []float32
	a16  []uint16
	ld   int
	bias []float32
}

// setMatrices chooses how each product is computed. Several streams use
// MatVecBatch on the packed weights. One stream uses the transposed
// weights that Packed keeps for the backward pass, with MatVecT, which
// needs no horizontal sums and is the faster form for the small matrices
// of generation (kernels/BENCH.md), falling back to MatVec. With bf16,
// the large matrices are rounded into transposed bfloat16 copies
// (MatVecTBF16, or MatVecBF16 on untransposed copies).
func (g *Generator) setMatrices(bf16 bool) {
	p, n := g.p, g.n
	LD := n.L * n.D
	// The fused skip matrix's transpose [L·D × S]: Packed keeps it per
	// layer ([D × S] each), which stacked is the whole.
	var skipWT []float32
	if !g.batched && (g.k.MatVecT != nil || bf16) {
		skipWT = make([]float32, 0, LD*n.S)
		for _, w := range p.skipWT {
			skipWT = append(skipWT, w...)
		}
	}
	set := func(m, k int, a, at, bias []float32, round bool) matrix {
		w := matrix{m: m, k: k, bias: bias}
		switch {
		case g.batched:
			w.kind, w.a, w.ld = mulBatch, a, k
		case round && g.k.MatVecTBF16 != nil:
			w.kind, w.a16, w.ld = mulBF16T, toBF16(at), m
		case round:
			w.kind, w.a16, w.ld = mulBF16, toBF16(a), k
		case g.k.MatVecT != nil:
			w.kind, w.a, w.ld = mulT, at, m
		default:
			w.kind, w.a, w.ld = mulPlain, a, k
		}
		return w
	}
	g.fgM = make([]matrix, n.L)
	for l := range g.fgM {
		// fgWT[l] is K taps of [R × 2D] one after the other: the
		// [K·R × 2D] transpose of fgW[l].
		g.fgM[l] = set(2*n.D, n.K*n.R, p.fgW[l], p.fgWT[l], p.fgB[l], bf16)
	}
	g.resM = make([]matrix, g.nres)
	for l := range g.resM {
		g.resM[l] = set(n.R, n.D, p.resW[l], p.resWT[l], p.resB[l], false)
	}
	skip := set(n.S, LD, p.skipW, skipWT, p.skipB, bf16)
	g.skipL = make([]matrix, n.L)
	for l0 := 0; l0 < n.L; l0 += skipGroup {
		l1 := min(l0+skipGroup, n.L)
		var bias []float32
		if l0 == 0 {
			bias = p.skipB
		}
		g.skipL[l1-1] = skip.cols(l0*n.D, l1*n.D, bias)
	}
	p1 := set(n.E, n.S, p.p1W, p.p1WT, p.p1B, bf16)
	p2 := set(n.Q, n.E, p.p2W, p.p2WT, p.p2B, bf16)
	g.p1Rows, g.p2Rows = halfRows(n.E), halfRows(n.Q)
	g.p1P = [2]matrix{p1.rows(0, g.p1Rows), p1.rows(g.p1Rows, n.E)}
	g.p2P = [2]matrix{p2.rows(0, g.p2Rows), p2.rows(g.p2Rows, n.Q)}
}

// halfRows is where a product of m outputs is split in two parts: half,
// rounded down to whole 16-float vectors, 128-output groups where that
// keeps both parts non-empty (the AVX-512 kernels compute 128 outputs per
// call, so the split then changes no call), and at least 1 row in part 0
// (part 1 may be empty).
func halfRows(m int) int {
	h := m / 2 &^ 127
	if h == 0 {
		h = m / 2 &^ 15
	}
	if h == 0 {
		h = m / 2
	}
	return max(h, min(m, 1))
}

// rows returns the outputs r0 ≤ i < r1 of w's product as a product of
// their own (its y starts at output r0).
func (w matrix) rows(r0, r1 int) matrix {
	v := w
	v.m = r1 - r0
	if w.bias != nil {
		v.bias = w.bias[r0:r1]
	}
	switch w.kind {
	case mulT:
		v.a = w.a[r0:]
	case mulBF16T:
		v.a16 = w.a16[r0:]
	case mulBF16:
		v.a16 = w.a16[r0*w.ld:]
	default: // A row-major: mulPlain, mulBatch
		v.a = w.a[r0*w.ld:]
	}
	return v
}

// cols returns the part of w's product that reads inputs c0 ≤ j < c1
// (its x starts at input c0), with the given bias.
func (w matrix) cols(c0, c1 int, bias []float32) matrix {
	v := w
	v.k = c1 - c0
	v.bias = bias
	switch w.kind {
	case mulT:
		v.a = w.a[c0*w.ld:]
	case mulBF16T:
		v.a16 = w.a16[c0*w.ld:]
	case mulBF16:
		v.a16 = w.a16[c0:]
	default:
		v.a = w.a[c0:]
	}
	return v
}

// toBF16 returns w rounded to bfloat16.
func toBF16(w []float32) []uint16 {
	h := make([]uint16, len(w))
	kernels.ToBF16(h, w)
	return h
}

// Generate continues every stream: it writes out[s][i], the i-th class
// generated for stream s, drawing each with samplers[s] from the logits of
// the previous class, the first from last[s] (the last prompt class, which
// has not been fed; Warm the rest of the prompt first). All out[s] must
// have the same length. Every 1,024 steps it checks ctx and calls progress
// (if not nil) with the number of steps done; it returns ctx's error if it
// was cancelled, leaving out partly written.
func (g *Generator) Generate(ctx context.Context, last []int32, samplers []*Sampler, out [][]int32, progress func(done int)) error {
	B := g.streams
	if len(samplers) != B || len(out) != B {
		return fmt.Errorf("causalconv: %d samplers and %d outputs for %d streams", len(samplers), len(out), B)
	}
	if err := g.checkInputs(last); err != nil {
		return err
	}
	n := len(out[0])
	for s := range out {
		if len(out[s]) != n {
			return fmt.Errorf("causalconv: output %d holds %d samples, output 0 %d", s, len(out[s]), n)
		}
		if samplers[s] == nil || len(samplers[s].cdf) != g.n.Q {
			return fmt.Errorf("causalconv: sampler %d is not over the model's %d classes", s, g.n.Q)
		}
	}
	x := g.xs
	copy(x, last)
	step := func(int64) {
		g.layers(x, true, nil, 0)
		g.lcAhead()
		g.head()
	}
	if g.threads == 2 && runtime.GOMAXPROCS(0) > 1 {
		ps := new(pairSync)
		done := make(chan struct{})
		go func() { defer close(done); g.helper(ps) }()
		defer func() { ps.stop.Store(true); <-done }()
		step = func(t int64) { g.pairStep(ps, x, t) }
	}
	const every = 1024
	for i := 0; i < n; i++ {
		if i%every == 0 && i > 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
			if progress != nil {
				progress(i)
			}
		}
		step(int64(i))
		for s := range x {
			x[s] = samplers[s].Draw(g.out[s:], B)
			out[s][i] = x[s]
		}
	}
	if progress != nil {
		progress(n)
	}
	return ctx.Err()
}
