package causalconv

// Global conditioning (Config.GlobalCondition; local conditioning, on
// features, is lcond.go's): a conditioned model adds
// the speaker's W_gc,l·e_s to every layer's [f; g], after the dilated conv
// and its bias and before the gate, at every position alike:
//
//	forward   c_l = W_gc,l·e_s        (conditionBias, once per call)
//	          [f; g](t) += c_l         (addCondition, in layerForward)
//	backward  ∂c_l = Σ_t [df; dg](t)   ∂W_gc,l += ∂c_l·e_sᵀ   ∂e_s += W_gc,lᵀ·∂c_l

// conditionBias writes into dst (L × 2D) what speaker s adds to every
// layer's [f; g]: W_gc,l·e_s, summed over the G channels in order.
func (p *Packed) conditionBias(s int, dst []float32) {
	G := p.cfg.GlobalCondition.Channels
	e := p.gcE[s*G : (s+1)*G]
	n := 2 * p.cfg.DilationChannels
	for l, w := range p.gcW {
		out := dst[l*n : (l+1)*n]
		for o := range out {
			row := w[o*G : (o+1)*G]
			var v float32
			for g, x := range e {
				v += row[g] * x
			}
			out[o] = v
		}
	}
}

// addCondition adds layer l's conditioning c_l (from w.cond, set by the
// call's check) to the n columns of the layer's [f; g] block fb (row
// stride ldb); an unconditioned workspace adds nothing.
func (w *Workspace) addCondition(l int, fb []float32, ldb, n int) {
	if w.cond == nil {
		return
	}
	D := w.n.D
	for o, c := range w.cond[l*2*D : (l+1)*2*D] {
		row := fb[o*ldb : o*ldb+n]
		for t := range row {
			row[t] += c
		}
	}
}

// conditionBackward adds layer l's share of the conditioning gradients:
// with c = W_gc·e the speaker's addition to [f; g] at every position,
// ∂/∂c = Σ_t [df; dg](t), ∂/∂W_gc = (∂/∂c)·eᵀ and ∂/∂e += W_gcᵀ·(∂/∂c).
func (w *Workspace) conditionBackward(p *Packed, grad []float32, l, s, nl int) {
	D, ld := w.n.D, w.ld
	G := w.cfg.GlobalCondition.Channels
	dc := w.dcond
	clear(dc)
	addRowSums(w.k, dc, w.dfg[s:], nl, ld)
	lo := p.lo
	e := p.gcE[w.speaker*G : (w.speaker+1)*G]
	de := grad[lo.gcE+w.speaker*G : lo.gcE+(w.speaker+1)*G]
	gw := grad[lo.gcW[l] : lo.gcW[l]+2*D*G]
	wt := p.gcW[l]
	for o, d := range dc {
		row := gw[o*G : (o+1)*G]
		for g, x := range e {
			row[g] += d * x
		}
		wr := wt[o*G : (o+1)*G]
		for g, v := range wr {
			de[g] += v * d
		}
	}
}
