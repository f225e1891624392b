package kernels

import "math"

// Reference returns the plain triple-loop implementation: the definition
// every other Set is tested against. It is slow on purpose.
func Reference() Set {
	return Set{
		Name:         "reference",
		GemmNN:       refGemmNN,
		GemmNT:       refGemmNT,
		Gate:         refGate,
		GateBackward: refGateBackward,
		ReLU:         refReLU,
		ReLUBackward: refReLUBackward,
		SoftmaxXent:  refSoftmaxXent,
		Axpy:         refAxpy,
		Sum:          refSum,
		MatVec:       refMatVec,
		MatVecBatch:  refMatVecBatch,
		MatVecBF16:   refMatVecBF16,
		MatVecT:      refMatVecT,
		MatVecTBF16:  refMatVecTBF16,
		Exp:          refExp,
		Pack:         refPack,
		GemmNNPacked: refGemmNNPacked,
		GemmNNBF16:   refGemmNNBF16,
		GemmNTBF16:   refGemmNTBF16,

		PackBF16:         refPackBF16,
		GemmNNBF16Packed: refGemmNNBF16Packed,
	}
}

func refGemmNN(m, n, k int, a []float32, lda int, b []float32, bOff []int, c []float32, ldc int, bias []float32, accumulate bool) {
	for i := 0; i < m; i++ {
		for t := 0; t < n; t++ {
			var s float64
			for j := 0; j < k; j++ {
				s += float64(a[i*lda+j]) * float64(b[bOff[j]+t])
			}
			if bias != nil {
				s += float64(bias[i])
			}
			if accumulate {
				s += float64(c[i*ldc+t])
			}
			c[i*ldc+t] = float32(s)
		}
	}
}

func refGemmNT(m, k, n int, a []float32, lda int, b []float32, bOff []int, c []float32, ldc int, accumulate bool) {
	for i := 0; i < m; i++ {
		for j := 0; j < k; j++ {
			var s float64
			for t := 0; t < n; t++ {
				s += float64(a[i*lda+t]) * float64(b[bOff[j]+t])
			}
			if accumulate {
				s += float64(c[i*ldc+j])
			}
			c[i*ldc+j] = float32(s)
		}
	}
}

func refGate(n int, f, g, tf, sg, z []float32) {
	checkGate(n, f, g, tf, sg, z)
	for i := 0; i < n; i++ {
		t := math.Tanh(float64(f[i]))
		s := 1 / (1 + math.Exp(-float64(g[i])))
		tf[i], sg[i], z[i] = float32(t), float32(s), float32(t*s)
	}
}

func refGateBackward(n int, tf, sg, dz, df, dg []float32) {
	for i := 0; i < n; i++ {
		t, s, d := float64(tf[i]), float64(sg[i]), float64(dz[i])
		df[i] = float32(d * s * (1 - t*t))
		dg[i] = float32(d * t * s * (1 - s))
	}
}

func refReLU(n int, x []float32) {
	for i := 0; i < n; i++ {
		if !(x[i] > 0) {
			x[i] = 0
		}
	}
}

func refReLUBackward(n int, y, dy []float32) {
	for i := 0; i < n; i++ {
		if !(y[i] > 0) {
			dy[i] = 0
		}
	}
}

func refSoftmaxXent(q, n int, logits []float32, ld int, targets []int32, grad []float32, scale float32) float64 {
	var loss float64
	for t := 0; t < n; t++ {
		mx := math.Inf(-1)
		for c := 0; c < q; c++ {
			mx = math.Max(mx, float64(logits[c*ld+t]))
		}
		var z float64
		for c := 0; c < q; c++ {
			z += math.Exp(float64(logits[c*ld+t]) - mx)
		}
		y := int(targets[t])
		loss += mx + math.Log(z) - float64(logits[y*ld+t])
		if grad != nil {
			for c := 0; c < q; c++ {
				p := math.Exp(float64(logits[c*ld+t])-mx) / z
				if c == y {
					p--
				}
				grad[c*ld+t] = flushSubnormal(float32(p) * scale)
			}
		}
	}
	return loss
}

func refAxpy(n int, alpha float32, x, y []float32) {
	for i := 0; i < n; i++ {
		y[i] += alpha * x[i]
	}
}

func refSum(n int, x []float32) float64 {
	var s float64
	for i := 0; i < n; i++ {
		s += float64(x[i])
	}
	return s
}

func refMatVec(m, k int, a []float32, lda int, x, y, bias []float32, accumulate bool) {
	for i := 0; i < m; i++ {
		var s float64
		for j := 0; j < k; j++ {
			s += float64(a[i*lda+j]) * float64(x[j])
		}
		if bias != nil {
			s += float64(bias[i])
		}
		if accumulate {
			s += float64(y[i])
		}
		y[i] = float32(s)
	}
}

func refMatVecBatch(m, k, nb int, a []float32, lda int, x, y, bias []float32, accumulate bool) {
	for i := 0; i < m; i++ {
		for s := 0; s < nb; s++ {
			var acc float64
			for j := 0; j < k; j++ {
				acc += float64(a[i*lda+j]) * float64(x[j*nb+s])
			}
			if bias != nil {
				acc += float64(bias[i])
			}
			if accumulate {
				acc += float64(y[i*nb+s])
			}
			y[i*nb+s] = float32(acc)
		}
	}
}

func refMatVecT(m, k int, at []float32, ldat int, x, y, bias []float32, accumulate bool) {
	for i := 0; i < m; i++ {
		var s float64
		for j := 0; j < k; j++ {
			s += float64(at[j*ldat+i]) * float64(x[j])
		}
		if bias != nil {
			s += float64(bias[i])
		}
		if accumulate {
			s += float64(y[i])
		}
		y[i] = float32(s)
	}
}

func refExp(n int, x, y []float32) {
	for i := 0; i < n; i++ {
		y[i] = float32(math.Exp(float64(x[i])))
	}
}
