//go:build !purego

package kernels

import "math"

// Drivers for the element-wise assembly kernels of both widths: the
// assembly does whole vectors (16 floats for AVX-512, 8 for AVX2), the
// Generic code the few elements left over. wide selects the AVX-512
// kernels. The assembly is called directly, not through function values,
// so the small stack buffers passed to it do not escape to the heap.

func laneCount(wide bool) int {
	if wide {
		return 16
	}
	return 8
}

// installElementwise sets the element-wise kernels of s.
func installElementwise(s *Set, wide bool) {
	lanes := laneCount(wide)
	// Gate, GateBackward, Axpy and Exp run the last n%lanes elements
	// through the same vector code, in zero-padded stack buffers, so that
	// an element's result does not depend on where the call ends (the Go
	// twins round differently: no fused multiply-adds).
	s.Gate = func(n int, f, g, tf, sg, z []float32) {
		checkGate(n, f, g, tf, sg, z)
		nv := n - n%lanes
		if nv > 0 {
			if wide {
				gate512(nv, &f[0], &g[0], &tf[0], &sg[0], &z[0])
			} else {
				gate256(nv, &f[0], &g[0], &tf[0], &sg[0], &z[0])
			}
		}
		if nv == n {
			return
		}
		var bf, bg, bz [16]float32
		copy(bf[:], f[nv:n])
		copy(bg[:], g[nv:n])
		if wide {
			gate512(lanes, &bf[0], &bg[0], &bf[0], &bg[0], &bz[0])
		} else {
			gate256(lanes, &bf[0], &bg[0], &bf[0], &bg[0], &bz[0])
		}
		copy(tf[nv:n], bf[:])
		copy(sg[nv:n], bg[:])
		copy(z[nv:n], bz[:])
	}
	s.GateBackward = func(n int, tf, sg, dz, df, dg []float32) {
		for _, x := range [][]float32{tf, sg, dz, df, dg} {
			checkVec("GateBackward", x, n)
		}
		nv := n - n%lanes
		if nv > 0 {
			if wide {
				gateBackward512(nv, &tf[0], &sg[0], &dz[0], &df[0], &dg[0])
			} else {
				gateBackward256(nv, &tf[0], &sg[0], &dz[0], &df[0], &dg[0])
			}
		}
		if nv == n {
			return
		}
		var bt, bs, bz, bf, bg [16]float32
		copy(bt[:], tf[nv:n])
		copy(bs[:], sg[nv:n])
		copy(bz[:], dz[nv:n])
		if wide {
			gateBackward512(lanes, &bt[0], &bs[0], &bz[0], &bf[0], &bg[0])
		} else {
			gateBackward256(lanes, &bt[0], &bs[0], &bz[0], &bf[0], &bg[0])
		}
		copy(df[nv:n], bf[:])
		copy(dg[nv:n], bg[:])
	}
	s.ReLU = func(n int, x []float32) {
		checkVec("ReLU", x, n)
		nv := n - n%lanes
		if nv > 0 {
			if wide {
				relu512(nv, &x[0])
			} else {
				relu256(nv, &x[0])
			}
		}
		genericReLU(n-nv, x[nv:])
	}
	s.ReLUBackward = func(n int, y, dy []float32) {
		checkVec("ReLUBackward y", y, n)
		checkVec("ReLUBackward dy", dy, n)
		nv := n - n%lanes
		if nv > 0 {
			if wide {
				reluBackward512(nv, &y[0], &dy[0])
			} else {
				reluBackward256(nv, &y[0], &dy[0])
			}
		}
		genericReLUBackward(n-nv, y[nv:], dy[nv:])
	}
	s.Axpy = func(n int, alpha float32, x, y []float32) {
		checkVec("Axpy x", x, n)
		checkVec("Axpy y", y, n)
		nv := n - n%lanes
		if nv > 0 {
			if wide {
				axpy512(nv, alpha, &x[0], &y[0])
			} else {
				axpy256(nv, alpha, &x[0], &y[0])
			}
		}
		if nv == n {
			return
		}
		var bx, by [16]float32
		copy(bx[:], x[nv:n])
		copy(by[:], y[nv:n])
		if wide {
			axpy512(lanes, alpha, &bx[0], &by[0])
		} else {
			axpy256(lanes, alpha, &bx[0], &by[0])
		}
		copy(y[nv:n], by[:])
	}
	s.Sum = func(n int, x []float32) float64 {
		checkVec("Sum", x, n)
		nv := n - n%lanes
		var part [8]float64
		if nv > 0 {
			if wide {
				sum512(nv, &x[0], &part)
			} else {
				sum256(nv, &x[0], &part)
			}
		}
		total := genericSum(n-nv, x[nv:])
		for _, p := range part {
			total += p
		}
		return total
	}
	s.SoftmaxXent = func(q, n int, logits []float32, ld int, targets []int32, grad []float32, scale float32) float64 {
		checkSoftmax(q, n, logits, ld, targets, grad)
		var mx, z [16]float32
		var loss float64
		nv := n - n%lanes
		for t0 := 0; t0 < nv; t0 += lanes {
			// The target logits are read before grad (which may alias
			// logits) is written.
			for t := t0; t < t0+lanes; t++ {
				loss -= float64(logits[int(targets[t])*ld+t])
			}
			var gp *float32
			if grad != nil {
				gp = &grad[t0]
			}
			if wide {
				softmaxBlock512(q, &logits[t0], ld, gp, scale, &mx[0], &z[0])
			} else {
				softmaxBlock256(q, &logits[t0], ld, gp, scale, &mx[0], &z[0])
			}
			for t := range lanes {
				loss += float64(mx[t]) + math.Log(float64(z[t]))
			}
			if grad != nil {
				for t := t0; t < t0+lanes; t++ {
					grad[int(targets[t])*ld+t] -= scale
				}
			}
		}
		if nv < n {
			var gt []float32
			if grad != nil {
				gt = grad[nv:]
			}
			loss += genericSoftmaxXent(q, n-nv, logits[nv:], ld, targets[nv:], gt, scale)
		}
		return loss
	}
	s.Exp = func(n int, x, y []float32) {
		checkVec("Exp x", x, n)
		checkVec("Exp y", y, n)
		nv := n - n%lanes
		if nv > 0 {
			if wide {
				exp512(nv, &x[0], &y[0])
			} else {
				exp256(nv, &x[0], &y[0])
			}
		}
		if nv == n {
			return
		}
		var bx, by [16]float32
		copy(bx[:], x[nv:n])
		if wide {
			exp512(lanes, &bx[0], &by[0])
		} else {
			exp256(lanes, &bx[0], &by[0])
		}
		copy(y[nv:n], by[:])
	}
}
