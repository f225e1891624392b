package causalconv

// The output head: the fused skip product over every layer's gate output,
// then ReLU, a 1×1 conv, ReLU, a 1×1 conv to the Q logits, and the softmax
// cross-entropy against the targets,
//
//	s      = relu(W_skip·[z_0; …; z_L−1] + Σ b_skip)   one GemmNN, L·D deep
//	e      = relu(W_1·s + b_1)
//	logits = W_2·e + b_2
//	loss   = Σ_t −log softmax(logits(t))[y(t)]
//
// and its backward pass, down to the skip sum's gradient dS and from there
// to the skip weights (skipBackward); the layers take dS from there
// (layer.go).

// headBlock is how many time steps the output head (skip product, post1,
// post2, softmax and their backward) processes at once. The head is
// pointwise in time, so blocking it keeps its S, E and Q rows for a block
// in cache instead of holding (S+E+Q)·T floats.
const headBlock = 256

// head runs the output head over positions scoreFrom..N−1 in blocks of
// headBlock steps (headForward). With targets it returns the summed
// cross-entropy; with a gradient arena it also backpropagates to the skip
// sum (headBackward), leaving dS (scaled by lossScale) in w.skip; with
// logitsOut it writes the logits there ([Q × n]). A call gives a gradient
// arena or logitsOut, not both.
func (w *Workspace) head(p *Packed, y []int32, N, scoreFrom int, lossScale float32, grad, logitsOut []float32) float64 {
	Q := w.n.Q
	n := N - scoreFrom
	var loss float64
	for b0 := 0; b0 < n; b0 += headBlock {
		nb := min(headBlock, n-b0)
		t0 := scoreFrom + b0
		logits, ldl := w.lBlk[:Q*nb], nb
		if logitsOut != nil {
			logits, ldl = logitsOut[b0:], n
		}
		w.headForward(p, t0, nb, logits, ldl)
		switch {
		case y == nil:
		case grad == nil:
			loss += w.k.SoftmaxXent(Q, nb, logits, ldl, y[t0:t0+nb], nil, 0)
		default:
			loss += w.headBackward(p, y[t0:t0+nb], b0, n, lossScale, grad)
		}
	}
	return loss
}

// skipSum writes the fused skip product of positions t0..t0+n−1 into dst
// ([S × n]): Σ_l (W_skip,l·z_l + b_skip,l) as one GemmNN over all L·D gate
// outputs, before the ReLU.
func (w *Workspace) skipSum(p *Packed, t0, n int, dst []float32) {
	LD := w.n.L * w.n.D
	w.nn(w.n.S, n, LD, p.skipW, LD, p.bf.skipW, w.z, w.zOffsets(t0), dst, n, p.skipB, false)
}

// headForward runs the head over the nb positions from t0: the skip sum
// and post1 after their ReLUs stay in w.sBlk and w.eBlk for the backward,
// and the logits go to logits (row stride ldl).
func (w *Workspace) headForward(p *Packed, t0, nb int, logits []float32, ldl int) {
	Q, S, E := w.n.Q, w.n.S, w.n.E
	sb, eb := w.sBlk[:S*nb], w.eBlk[:E*nb]
	w.skipSum(p, t0, nb, sb)
	w.k.ReLU(S*nb, sb)
	w.nn(E, nb, S, p.p1W, S, p.bf.p1W, sb, w.rowOffsets(S, nb, 0), eb, nb, p.p1B, false)
	w.k.ReLU(E*nb, eb)
	w.nn(Q, nb, E, p.p2W, E, p.bf.p2W, eb, w.rowOffsets(E, nb, 0), logits, ldl, p.p2B, false)
}

// headBackward scores the block headForward left in w.lBlk (nb = len(y)
// positions, b0 of the n scored ones before it) against y and returns its
// summed cross-entropy. It adds lossScale·∂loss/∂θ of post1 and post2 into
// grad and writes the block's dS (columns b0..b0+nb−1 of w.skip, row stride
// n). The gradient of the logits overwrites them.
func (w *Workspace) headBackward(p *Packed, y []int32, b0, n int, lossScale float32, grad []float32) float64 {
	Q, S, E := w.n.Q, w.n.S, w.n.E
	nb := len(y)
	lo := p.lo
	sb, eb := w.sBlk[:S*nb], w.eBlk[:E*nb]
	logits := w.lBlk[:Q*nb]
	dl := logits
	loss := w.k.SoftmaxXent(Q, nb, logits, nb, y, dl, lossScale)
	w.nt(Q, E, nb, dl, nb, eb, w.rowOffsets(E, nb, 0), grad[lo.p2W:], E, true)
	if lo.p2B >= 0 {
		addRowSums(w.k, grad[lo.p2B:lo.p2B+Q], dl, nb, nb)
	}
	de := w.dEBlk[:E*nb]
	w.nn(E, nb, Q, p.p2WT, Q, p.bf.p2WT, dl, w.rowOffsets(Q, nb, 0), de, nb, nil, false)
	w.k.ReLUBackward(E*nb, eb, de)
	w.nt(E, S, nb, de, nb, sb, w.rowOffsets(S, nb, 0), grad[lo.p1W:], S, true)
	if lo.p1B >= 0 {
		addRowSums(w.k, grad[lo.p1B:lo.p1B+E], de, nb, nb)
	}
	w.nn(S, nb, E, p.p1WT, E, p.bf.p1WT, de, w.rowOffsets(E, nb, 0), w.skip[b0:], n, nil, false)
	for i := 0; i < S; i++ {
		w.k.ReLUBackward(nb, sb[i*nb:], w.skip[i*n+b0:])
	}
	return loss
}

// skipBackward computes the fused skip product's weight and bias gradients
// from dS (in w.skip): dW_skip = dS·[z_0; …]ᵀ as one GemmNT, scattered back
// into the per-layer skip.l.weight tensors. Every layer's skip bias gets the
// same gradient, Σ_t dS.
func (w *Workspace) skipBackward(p *Packed, grad []float32, N, scoreFrom int) {
	S, D, L, LD := w.n.S, w.n.D, w.n.L, w.n.L*w.n.D
	n := N - scoreFrom
	lo := p.lo
	w.nt(S, LD, n, w.skip, n, w.z, w.zOffsets(scoreFrom), w.gw, LD, false)
	for l := 0; l < L; l++ {
		g := grad[lo.skipW[l] : lo.skipW[l]+S*D]
		for s := 0; s < S; s++ {
			src := w.gw[s*LD+l*D : s*LD+(l+1)*D]
			dst := g[s*D : (s+1)*D]
			for c, v := range src {
				dst[c] += v
			}
		}
	}
	if lo.skipB[0] >= 0 {
		clear(w.rowSum)
		addRowSums(w.k, w.rowSum, w.skip, n, n)
		for l := 0; l < L; l++ {
			g := grad[lo.skipB[l] : lo.skipB[l]+S]
			for s, v := range w.rowSum {
				g[s] += v
			}
		}
	}
}

// zOffsets returns the row offsets of all L·D gate-output rows at column t.
func (w *Workspace) zOffsets(t int) []int {
	offs := w.offs[:w.n.L*w.n.D]
	for j := range offs {
		offs[j] = j*w.ld + t
	}
	return offs
}
