package kernels

import "math"

// Generic returns the portable pure-Go implementation. It is the fallback on
// CPUs without AVX2+FMA and the twin of the assembly sets: the same blocking
// idea (a few output rows share every load of the right operand), written so
// the compiler can drop bounds checks from the inner loops (each row is
// re-sliced to the loop length first; `go build -gcflags=-d=ssa/check_bce`
// reports none inside them) and with several independent sums so the CPU's
// floating-point pipes overlap.
func Generic() Set {
	return Set{
		Name:         "generic",
		GemmNN:       genericGemmNN,
		GemmNT:       genericGemmNT,
		Gate:         genericGate,
		GateBackward: genericGateBackward,
		ReLU:         genericReLU,
		ReLUBackward: genericReLUBackward,
		SoftmaxXent:  genericSoftmaxXent,
		Axpy:         genericAxpy,
		Sum:          genericSum,
		MatVec:       genericMatVec,
		MatVecBatch:  genericMatVecBatch,
		MatVecBF16:   genericMatVecBF16,
		MatVecT:      genericMatVecT,
		MatVecTBF16:  genericMatVecTBF16,
		Exp:          genericExp,
	}
}

func genericExp(n int, x, y []float32) {
	checkVec("Exp x", x, n)
	checkVec("Exp y", y, n)
	for i, v := range x[:n] {
		y[i] = expf(v)
	}
}

// genericNNBlock is the number of time steps per block: 4 rows of B of this
// length (4 KiB) plus 2 rows of C stay in L1 while they are reused.
const genericNNBlock = 256

func genericGemmNN(m, n, k int, a []float32, lda int, b []float32, bOff []int, c []float32, ldc int, bias []float32, accumulate bool) {
	checkGemmNN(m, n, k, a, lda, b, bOff, c, ldc, bias)
	for t0 := 0; t0 < n; t0 += genericNNBlock {
		w := min(genericNNBlock, n-t0)
		i := 0
		// Two rows of C at a time: each load of B feeds two products.
		for ; i+2 <= m; i += 2 {
			c0 := c[i*ldc+t0 : i*ldc+t0+w]
			c1 := c[(i+1)*ldc+t0 : (i+1)*ldc+t0+w]
			nnInitRow(c0, bias, i, accumulate)
			nnInitRow(c1, bias, i+1, accumulate)
			a0 := a[i*lda : i*lda+k]
			a1 := a[(i+1)*lda : (i+1)*lda+k]
			j := 0
			for ; j+4 <= k; j += 4 {
				b0 := b[bOff[j]+t0:][:w]
				b1 := b[bOff[j+1]+t0:][:w]
				b2 := b[bOff[j+2]+t0:][:w]
				b3 := b[bOff[j+3]+t0:][:w]
				x00, x01, x02, x03 := a0[j], a0[j+1], a0[j+2], a0[j+3]
				x10, x11, x12, x13 := a1[j], a1[j+1], a1[j+2], a1[j+3]
				c1 := c1[:len(c0)]
				b0, b1, b2, b3 = b0[:len(c0)], b1[:len(c0)], b2[:len(c0)], b3[:len(c0)]
				for t := range c0 {
					v0, v1, v2, v3 := b0[t], b1[t], b2[t], b3[t]
					c0[t] += x00*v0 + x01*v1 + x02*v2 + x03*v3
					c1[t] += x10*v0 + x11*v1 + x12*v2 + x13*v3
				}
			}
			for ; j < k; j++ {
				bj := b[bOff[j]+t0:][:w]
				x0, x1 := a0[j], a1[j]
				c1 := c1[:len(c0)]
				bj = bj[:len(c0)]
				for t := range c0 {
					c0[t] += x0 * bj[t]
					c1[t] += x1 * bj[t]
				}
			}
		}
		for ; i < m; i++ {
			c0 := c[i*ldc+t0 : i*ldc+t0+w]
			nnInitRow(c0, bias, i, accumulate)
			a0 := a[i*lda : i*lda+k]
			for j, x := range a0 {
				bj := b[bOff[j]+t0:][:w]
				bj = bj[:len(c0)]
				for t := range c0 {
					c0[t] += x * bj[t]
				}
			}
		}
	}
}

// nnInitRow starts a block of an output row: zero or the old value, plus the
// row's bias.
func nnInitRow(row, bias []float32, i int, accumulate bool) {
	if !accumulate {
		clear(row)
	}
	if bias != nil {
		bi := bias[i]
		for t := range row {
			row[t] += bi
		}
	}
}

// genericNTBlock is the length of the time slices the reduction is cut
// into, so that the rows being dotted stay in cache across the (i, j) pairs.
const genericNTBlock = 512

func genericGemmNT(m, k, n int, a []float32, lda int, b []float32, bOff []int, c []float32, ldc int, accumulate bool) {
	checkGemmNT(m, k, n, a, lda, b, bOff, c, ldc)
	if !accumulate {
		for i := 0; i < m; i++ {
			clear(c[i*ldc : i*ldc+k])
		}
	}
	for t0 := 0; t0 < n; t0 += genericNTBlock {
		w := min(genericNTBlock, n-t0)
		i := 0
		// 2×2 blocks of C: four independent dot products share the loads
		// of two rows of A and two rows of B.
		for ; i+2 <= m; i += 2 {
			a0 := a[i*lda+t0:][:w]
			a1 := a[(i+1)*lda+t0:][:w]
			j := 0
			for ; j+2 <= k; j += 2 {
				b0 := b[bOff[j]+t0:][:w]
				b1 := b[bOff[j+1]+t0:][:w]
				a1, b0, b1 := a1[:len(a0)], b0[:len(a0)], b1[:len(a0)]
				var s00, s01, s10, s11 float32
				for t, x0 := range a0 {
					x1, y0, y1 := a1[t], b0[t], b1[t]
					s00 += x0 * y0
					s01 += x0 * y1
					s10 += x1 * y0
					s11 += x1 * y1
				}
				c[i*ldc+j] += s00
				c[i*ldc+j+1] += s01
				c[(i+1)*ldc+j] += s10
				c[(i+1)*ldc+j+1] += s11
			}
			for ; j < k; j++ {
				bj := b[bOff[j]+t0:][:w]
				c[i*ldc+j] += dot(a0, bj)
				c[(i+1)*ldc+j] += dot(a1, bj)
			}
		}
		for ; i < m; i++ {
			a0 := a[i*lda+t0:][:w]
			for j := 0; j < k; j++ {
				c[i*ldc+j] += dot(a0, b[bOff[j]+t0:][:w])
			}
		}
	}
}

// dot is Σ x[t]·y[t] over len(x) with four independent partial sums.
func dot(x, y []float32) float32 {
	y = y[:len(x)]
	var s0, s1, s2, s3 float32
	t := 0
	for ; t+4 <= len(x); t += 4 {
		x, y := x[t:t+4], y[t:t+4]
		s0 += x[0] * y[0]
		s1 += x[1] * y[1]
		s2 += x[2] * y[2]
		s3 += x[3] * y[3]
	}
	for ; t < len(x); t++ {
		s0 += x[t] * y[t]
	}
	return (s0 + s1) + (s2 + s3)
}

func genericGate(n int, f, g, tf, sg, z []float32) {
	checkGate(n, f, g, tf, sg, z)
	f, g, tf, sg, z = f[:n], g[:n], tf[:n], sg[:n], z[:n]
	for i := range f {
		t, s := tanhf(f[i]), sigmoidf(g[i])
		tf[i], sg[i], z[i] = t, s, t*s
	}
}

func checkGate(n int, f, g, tf, sg, z []float32) {
	checkVec("Gate f", f, n)
	checkVec("Gate g", g, n)
	checkVec("Gate tf", tf, n)
	checkVec("Gate sg", sg, n)
	checkVec("Gate z", z, n)
}

func genericGateBackward(n int, tf, sg, dz, df, dg []float32) {
	for _, s := range [][]float32{tf, sg, dz, df, dg} {
		checkVec("GateBackward", s, n)
	}
	tf, sg, dz, df, dg = tf[:n], sg[:n], dz[:n], df[:n], dg[:n]
	for i := range tf {
		t, s, d := tf[i], sg[i], dz[i]
		ds := d * s
		df[i] = ds * (1 - t*t)
		dg[i] = ds * t * (1 - s)
	}
}

func genericReLU(n int, x []float32) {
	checkVec("ReLU", x, n)
	x = x[:n]
	for i, v := range x {
		if !(v > 0) {
			x[i] = 0
		}
	}
}

func genericReLUBackward(n int, y, dy []float32) {
	checkVec("ReLUBackward y", y, n)
	checkVec("ReLUBackward dy", dy, n)
	y, dy = y[:n], dy[:n]
	for i, v := range y {
		if !(v > 0) {
			dy[i] = 0
		}
	}
}

// softmaxBlock is the number of time steps (columns) processed together:
// per-column running values live in small arrays and the passes over the q
// rows run along contiguous column blocks.
const softmaxBlock = 64

// minNormal is the smallest normal float32, 2^-126.
const minNormal = 0x1p-126

// flushSubnormal returns 0 for a subnormal v (0 < |v| < 2^-126) and v
// otherwise (NaN included): SoftmaxXent's gradients are flushed so, as
// the assembly does.
func flushSubnormal(v float32) float32 {
	if v < minNormal && v > -minNormal {
		return 0
	}
	return v
}

func genericSoftmaxXent(q, n int, logits []float32, ld int, targets []int32, grad []float32, scale float32) float64 {
	checkSoftmax(q, n, logits, ld, targets, grad)
	var loss float64
	var mx, z [softmaxBlock]float32
	for t0 := 0; t0 < n; t0 += softmaxBlock {
		w := min(softmaxBlock, n-t0)
		mxs, zs := mx[:w], z[:w]
		copy(mxs, logits[t0:t0+w])
		for c := 1; c < q; c++ {
			row := logits[c*ld+t0:][:len(mxs)]
			for t, v := range row {
				if v > mxs[t] || v != v {
					mxs[t] = v
				}
			}
		}
		// The target's logit is read before grad (which may alias logits)
		// is written.
		for t := range mxs {
			y := int(targets[t0+t])
			loss += float64(mxs[t]) - float64(logits[y*ld+t0+t])
		}
		clear(zs)
		for c := 0; c < q; c++ {
			row := logits[c*ld+t0:][:len(mxs)]
			zs := zs[:len(row)]
			if grad == nil {
				for t, v := range row {
					zs[t] += expf(v - mxs[t])
				}
				continue
			}
			out := grad[c*ld+t0:][:len(row)]
			for t, v := range row {
				e := expf(v - mxs[t])
				zs[t] += e
				out[t] = e
			}
		}
		for t := range zs {
			loss += math.Log(float64(zs[t]))
		}
		if grad == nil {
			continue
		}
		for t := range zs {
			zs[t] = scale / zs[t] // now the factor from exp to gradient
		}
		for c := 0; c < q; c++ {
			out := grad[c*ld+t0:][:len(zs)]
			for t, s := range zs {
				out[t] = flushSubnormal(out[t] * s)
			}
		}
		for t := range zs {
			y := int(targets[t0+t])
			grad[y*ld+t0+t] -= scale
		}
	}
	return loss
}

func genericAxpy(n int, alpha float32, x, y []float32) {
	checkVec("Axpy x", x, n)
	checkVec("Axpy y", y, n)
	x, y = x[:n], y[:n]
	for i, v := range x {
		y[i] += alpha * v
	}
}

func genericSum(n int, x []float32) float64 {
	checkVec("Sum", x, n)
	x = x[:n]
	var s0, s1, s2, s3 float64
	i := 0
	for ; i+4 <= len(x); i += 4 {
		v := x[i : i+4]
		s0 += float64(v[0])
		s1 += float64(v[1])
		s2 += float64(v[2])
		s3 += float64(v[3])
	}
	for ; i < len(x); i++ {
		s0 += float64(x[i])
	}
	return (s0 + s1) + (s2 + s3)
}

func genericMatVec(m, k int, a []float32, lda int, x, y, bias []float32, accumulate bool) {
	checkMatVec(m, k, a, lda, x, y, bias)
	x = x[:k]
	for i := 0; i < m; i++ {
		s := dot(x, a[i*lda:][:k])
		if bias != nil {
			s += bias[i]
		}
		if accumulate {
			s += y[i]
		}
		y[i] = s
	}
}

func genericMatVecBatch(m, k, nb int, a []float32, lda int, x, y, bias []float32, accumulate bool) {
	checkMatVecBatch(m, k, nb, a, lda, x, y, bias)
	for i := 0; i < m; i++ {
		yi := y[i*nb : i*nb+nb]
		nnInitRow(yi, bias, i, accumulate)
		for j, w := range a[i*lda : i*lda+k] {
			xj := x[j*nb:][:len(yi)]
			for s := range yi {
				yi[s] += w * xj[s]
			}
		}
	}
}

func genericMatVecT(m, k int, at []float32, ldat int, x, y, bias []float32, accumulate bool) {
	checkMatVecT(m, k, at, ldat, x, y, bias)
	y = y[:m]
	if !accumulate {
		clear(y)
	}
	if bias != nil {
		for i, b := range bias[:m] {
			y[i] += b
		}
	}
	for j, xj := range x[:k] {
		row := at[j*ldat:][:len(y)]
		for i, w := range row {
			y[i] += w * xj
		}
	}
}
