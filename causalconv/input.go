package causalconv

// The input layer: the μ-law classes x become h_0, layer 0's input (R
// channels), by a one-hot causal conv of width Kin = input_kernel_size or
// by an embedding lookup (Config.InputEncoding), plus a bias. Either is a
// column gather, since a one-hot vector times a matrix selects one of its
// columns, so the forward pass multiplies nothing, and the backward pass
// is the matching scatter-add (the inputs are classes: no input gradient).
//
//	one-hot    h_0[r](t) = b[r] + Σ_k W[r, x(t−(Kin−1−k)), k]   (taps before 0 add nothing)
//	embedding  h_0[r](t) = b[r] + W[x(t), r]
//	backward   each W entry read gets ∂h_0[r](t) added;  ∂b[r] = Σ_t ∂h_0[r](t)

// inputStart is the first position of the input layer's output (h_0) that
// layer 0 reads.
func (w *Workspace) inputStart() int {
	return max(0, w.start[0]-(w.n.K-1)*w.cfg.Dilations[0])
}

// inputForward computes h_0, the input layer's output, as a column gather:
// one-hot classes times a weight matrix select its columns. Tap k of a
// width-Kin input conv sees x at t−(Kin−1−k); taps before position 0 see
// the zero one-hot vector and add nothing.
func (w *Workspace) inputForward(p *Packed, x []int32) {
	N, R, Q := len(x), w.n.R, w.n.Q
	a0 := w.inputStart()
	h := w.hbuf(0)
	kin := w.cfg.InputKernelSize
	for r := 0; r < R; r++ {
		var b float32
		if p.inB != nil {
			b = p.inB[r]
		}
		row := h[r*w.ldh+w.margin : r*w.ldh+w.margin+N]
		switch {
		case w.cfg.InputEncoding == InputEmbedding:
			for t := a0; t < N; t++ {
				row[t] = p.inW[int(x[t])*R+r] + b
			}
		case kin == 1:
			wr := p.inW[r*Q : (r+1)*Q]
			for t := a0; t < N; t++ {
				row[t] = wr[x[t]] + b
			}
		default:
			wr := p.inW[r*Q*kin : (r+1)*Q*kin]
			for t := a0; t < N; t++ {
				s := b
				for k := max(0, kin-1-t); k < kin; k++ {
					s += wr[int(x[t-(kin-1)+k])*kin+k]
				}
				row[t] = s
			}
		}
	}
}

// inputBackward scatters ∂loss/∂h_0 into the input layer's weight (the
// transpose of the forward gather) and bias.
func (w *Workspace) inputBackward(p *Packed, grad []float32, x []int32) {
	N, R, Q := len(x), w.n.R, w.n.Q
	a0 := w.inputStart()
	lo := p.lo
	kin := w.cfg.InputKernelSize
	gw := grad[lo.inW:]
	for r := 0; r < R; r++ {
		row := w.dh[r*w.ldh+w.margin : r*w.ldh+w.margin+N]
		switch {
		case w.cfg.InputEncoding == InputEmbedding:
			for t := a0; t < N; t++ {
				gw[int(x[t])*R+r] += row[t]
			}
		default:
			wr := gw[r*Q*kin : (r+1)*Q*kin]
			for t := a0; t < N; t++ {
				for k := max(0, kin-1-t); k < kin; k++ {
					wr[int(x[t-(kin-1)+k])*kin+k] += row[t]
				}
			}
		}
		if lo.inB >= 0 {
			grad[lo.inB+r] += float32(w.k.Sum(N-a0, row[a0:]))
		}
	}
}
