package causalconv

// The dilated residual layers, each a gated causal conv with a residual
// and a skip 1×1 conv:
//
//	[f; g] = W_fg · [h_l(t−(K−1)d); …; h_l(t)] + b_fg (+ W_gc·e) (+ W_lc·cond(t))
//	z_l    = tanh(f)·σ(g)
//	h_l+1  = h_l + W_r·z_l + b_r
//
// The skip convs of all layers are one fused product in the head (head.go),
// which reads every layer's z; the conditioning's share is in condition.go
// (a speaker's) and lcond.go (the features', a GEMM per block).
// Both directions run over time blocks that keep a layer's intermediate
// rows in L2, with results independent of the block.

// layerBlock is how many time steps layersForward runs each layer over at
// once. The conv writes a block's [f; g] to a scratch that stays in cache
// (2D rows: 192 KiB for the default model), the gate reads it there and
// writes the kept tanh(f), σ(g) and z, and the residual reads z back while
// it is still in L2. Through memory instead (the [f; g] of one layer over a
// 4096-step chunk is 1.4 MB), the conv waited on its stores and ran at
// about half its speed. Every kernel computes a column independently of
// where its call starts or ends, so the results do not depend on the
// block (TestTimeBlocksAreInvisible).
const layerBlock = 768

// layersForward runs the dilated layers 0..top: for layer l over
// positions start_l..N−1, in blocks of layerBlock positions,
//
//	[f; g] = W_fg · [h_l(t−(K−1)d); …; h_l(t)] + b_fg   one GemmNN, K·R deep
//	z      = tanh(f)·σ(g)                                 (tanh(f), σ(g) kept)
//	h_l+1  = h_l + W_r·z + b_r                            (not after the last layer)
func (w *Workspace) layersForward(p *Packed, N, top int) {
	for l := 0; l <= top; l++ {
		for s := w.start[l]; s < N; s += w.block {
			w.layerForward(p, l, s, min(N, s+w.block), l == top)
		}
	}
}

// layerForward runs layer l over positions s..e−1; last leaves out the
// residual conv, which would feed nothing.
func (w *Workspace) layerForward(p *Packed, l, s, e int, last bool) {
	R, D, K, ld, ldh, M := w.n.R, w.n.D, w.n.K, w.ld, w.ldh, w.margin
	n := e - s
	// [f; g] go to the block scratch, which stays in cache; the gate
	// writes the kept tanh(f), σ(g) and z.
	fb, ldb := w.fgBlk, w.ldBlk
	w.nn(2*D, n, K*R, p.fgW[l], K*R, p.bf.fgW[l], w.h, w.tapOffsets(l, s), fb, ldb, p.fgB[l], false)
	w.addCondition(l, fb, ldb, n)         // a conditioned model's W_gc·e, after the conv and its bias
	w.lcLayerForward(p, l, s, n, fb, ldb) // a locally conditioned one's W_lc·cond, after that
	fg, z := w.tfsgBuf(l), w.z[l*D*ld:]
	for c := 0; c < D; c++ {
		w.k.Gate(n, fb[c*ldb:], fb[(D+c)*ldb:], fg[c*ld+s:], fg[(D+c)*ld+s:], z[c*ld+s:])
	}
	if last {
		return
	}
	h, hn := w.hbuf(l), w.hbuf(l+1)
	for r := 0; r < R; r++ {
		copy(hn[r*ldh+M+s:r*ldh+M+e], h[r*ldh+M+s:r*ldh+M+e])
	}
	w.nn(R, n, D, p.resW[l], D, p.bf.resW[l], w.z, w.rowOffsets(D, ld, l*D*ld+s), hn[M+s:], ldh, p.resB[l], true)
}

// tapOffsets returns the K·R row offsets of layer l's dilated-conv input
// at time t: row k·R+r is channel r of h_l at time t−(K−1−k)·d.
func (w *Workspace) tapOffsets(l, t int) []int {
	R, K, d := w.n.R, w.n.K, w.cfg.Dilations[l]
	offs := w.offs[:K*R]
	base := w.hoff(l) + w.margin + t
	for k := 0; k < K; k++ {
		shift := base - (K-1-k)*d
		for r := 0; r < R; r++ {
			offs[k*R+r] = shift + r*w.ldh
		}
	}
	return offs
}

// backBlock is how many time steps layersBackward runs a layer's backward
// over at once, after the layer's share of the skip gradient: as in the
// forward (layerBlock), the blocks' dz, [df; dg] and dh stay in L2 from one
// product to the next. It is a multiple of every GemmNT's time block (128,
// 256 for bf16, 512 for the generic set), so a weight gradient sums the
// same partial sums in the same order as over the whole range; the taps'
// input gradients reach each position in a fixed order (layerBackward);
// so the results do not depend on the block (TestTimeBlocksAreInvisible;
// the reference set sums each call in float64 and differs in the last
// bits).
const backBlock = 512

// layersBackward runs the layers' backward pass from the top, keeping the
// residual-stream gradient dh in one buffer: going down through layer l it
// holds ∂loss/∂h_l+1 and becomes ∂loss/∂h_l by adding the dilated conv's
// input gradient at the K tap shifts (the residual path adds identity).
//
//	dz_l   = W_skip,lᵀ·dS (from scoreFrom on) + W_r,lᵀ·dh     dW_r += dh·z_lᵀ
//	[df;dg] = gate backward of dz_l                          dW_fg += [df;dg]·taps(h_l)ᵀ
//	dh(t−(K−1−k)d) += W_fg,kᵀ·[df;dg](t)  for each tap k
//
// Within a layer the time blocks run in order: block [a, b) reads dh on
// [a, b) before its taps add to [a−(K−1)d, b), and earlier blocks only
// wrote below a.
func (w *Workspace) layersBackward(p *Packed, grad []float32, N, scoreFrom int) {
	R, D, S, K, L, ld, ldh, M := w.n.R, w.n.D, w.n.S, w.n.K, w.n.L, w.ld, w.ldh, w.margin
	lo := p.lo
	n := N - scoreFrom
	for r := 0; r < R; r++ {
		clear(w.dh[r*ldh+M+scoreFrom : r*ldh+M+N]) // nothing flows from above the last layer
	}
	if w.lc != nil { // ∂cond is summed over the layers, from the top
		C := w.lc.lc.Channels
		for c := 0; c < C; c++ {
			clear(w.lc.dcond[c*ld+w.start[0] : c*ld+N])
		}
	}
	// dS is packed once for the L products below (rounded, in bf16).
	bf := w.prec == PrecisionBF16
	pk := !bf && w.dsPack32 != nil
	switch {
	case bf:
		w.k.PackBF16(S, n, w.skip, w.rowOffsets(S, n, 0), w.dsPack)
	case pk:
		w.k.Pack(S, n, w.skip, w.rowOffsets(S, n, 0), w.dsPack32)
	}
	for l := L - 1; l >= 0; l-- {
		s := w.start[l]
		nl := N - s
		for c := 0; c < D; c++ {
			clear(w.dz[c*ld+s : c*ld+scoreFrom])
		}
		switch {
		case bf:
			h := p.bf.skipWT[l]
			w.k.GemmNNBF16Packed(D, n, S, h.a, h.ld, w.dsPack, w.dz[scoreFrom:], ld, nil, false)
		case pk:
			w.k.GemmNNPacked(D, n, S, p.skipWT[l], S, w.dsPack32, w.dz[scoreFrom:], ld, nil, false)
		default:
			w.k.GemmNN(D, n, S, p.skipWT[l], S, w.skip, w.rowOffsets(S, n, 0), w.dz[scoreFrom:], ld, nil, false)
		}
		if l < L-1 && lo.resB[l] >= 0 {
			// Before the taps below add to dh.
			addRowSums(w.k, grad[lo.resB[l]:lo.resB[l]+R], w.dh[M+s:], nl, ldh)
		}
		// dh now holds ∂/∂h_l+1 from position s on, which is also the
		// identity path's share of ∂/∂h_l; the taps reach back to
		// s−(K−1)d, where nothing has arrived yet.
		d := w.cfg.Dilations[l]
		for r := 0; r < R; r++ {
			clear(w.dh[r*ldh+M+s-(K-1)*d : r*ldh+M+s])
		}
		for a := s; a < N; a += w.bblock {
			w.layerBackward(p, grad, l, s, a, min(N, a+w.bblock))
		}
		g := grad[lo.fgW[l] : lo.fgW[l]+2*D*R*K]
		for o := 0; o < 2*D; o++ {
			for k := 0; k < K; k++ {
				src := w.gw[o*K*R+k*R : o*K*R+(k+1)*R]
				for r, v := range src {
					g[(o*R+r)*K+k] += v
				}
			}
		}
		if lo.fgB[l] >= 0 {
			addRowSums(w.k, grad[lo.fgB[l]:lo.fgB[l]+2*D], w.dfg[s:], nl, ld)
		}
		if w.cond != nil {
			w.conditionBackward(p, grad, l, s, nl)
		}
	}
}

// layerBackward runs layer l's backward over positions a..e−1 (the layer
// starts at s): the residual's gradients, the gate's, the conv's weight
// gradient (summed into w.gw from a = s on) and its input gradient.
func (w *Workspace) layerBackward(p *Packed, grad []float32, l, s, a, e int) {
	R, D, K, L, ld, ldh, M := w.n.R, w.n.D, w.n.K, w.n.L, w.ld, w.ldh, w.margin
	lo := p.lo
	nb := e - a
	bf := w.prec == PrecisionBF16
	pk := !bf && w.dfgPack32 != nil
	if l < L-1 {
		zoffs := w.rowOffsets(D, ld, l*D*ld+a)
		w.nt(R, D, nb, w.dh[M+a:], ldh, w.z, zoffs, grad[lo.resW[l]:], D, true)
		w.nn(D, nb, R, p.resWT[l], R, p.bf.resWT[l], w.dh, w.rowOffsets(R, ldh, M+a), w.dz[a:], ld, nil, true)
	}
	fg := w.tfsgBuf(l)
	for c := 0; c < D; c++ {
		w.k.GateBackward(nb, fg[c*ld+a:], fg[(D+c)*ld+a:], w.dz[c*ld+a:], w.dfg[c*ld+a:], w.dfg[(D+c)*ld+a:])
	}
	w.nt(2*D, K*R, nb, w.dfg[a:], ld, w.h, w.tapOffsets(l, a), w.gw, K*R, a > s)
	w.lcLayerWeightGrad(p, grad, l, a, nb)
	// The K taps multiply the same [df; dg]: packed once. They run from
	// the last (shift 0) down, so that every position of dh receives its
	// taps in that order whatever the blocks: tap k's share of position t
	// comes from [df; dg] at t+(K−1−k)d, in the same block or a later one.
	d := w.cfg.Dilations[l]
	foffs := w.rowOffsets(2*D, ld, a)
	switch {
	case bf:
		w.k.PackBF16(2*D, nb, w.dfg, foffs, w.dfgPack)
		for k := K - 1; k >= 0; k-- {
			h := p.bf.fgWT[l][k]
			w.k.GemmNNBF16Packed(R, nb, 2*D, h.a, h.ld, w.dfgPack, w.dh[M+a-(K-1-k)*d:], ldh, nil, true)
		}
		if w.lc != nil { // ∂cond += W_lcᵀ·[df; dg]
			h := p.bf.lcWT[l]
			w.k.GemmNNBF16Packed(w.lc.lc.Channels, nb, 2*D, h.a, h.ld, w.dfgPack, w.lc.dcond[a:], ld, nil, true)
		}
	case pk:
		w.k.Pack(2*D, nb, w.dfg, foffs, w.dfgPack32)
		for k := K - 1; k >= 0; k-- {
			w.k.GemmNNPacked(R, nb, 2*D, p.fgWT[l][k*R*2*D:], 2*D, w.dfgPack32, w.dh[M+a-(K-1-k)*d:], ldh, nil, true)
		}
		if w.lc != nil {
			w.k.GemmNNPacked(w.lc.lc.Channels, nb, 2*D, p.lcWT[l], 2*D, w.dfgPack32, w.lc.dcond[a:], ld, nil, true)
		}
	default:
		for k := K - 1; k >= 0; k-- {
			w.k.GemmNN(R, nb, 2*D, p.fgWT[l][k*R*2*D:], 2*D, w.dfg, foffs, w.dh[M+a-(K-1-k)*d:], ldh, nil, true)
		}
		if w.lc != nil {
			w.k.GemmNN(w.lc.lc.Channels, nb, 2*D, p.lcWT[l], 2*D, w.dfg, foffs, w.lc.dcond[a:], ld, nil, true)
		}
	}
}
