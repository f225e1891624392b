package kernels

import "math"

// bfloat16 weights for generation.
//
// A bfloat16 is the upper 16 bits of a float32: the same exponent range
// and an 8-bit significand (relative rounding error ≤ 2^-8 ≈ 0.4%).
// MatVecBF16 reads its matrix in this format, which halves the bytes a
// matrix-vector product must stream (its speed limit) and lets the weights
// of the default model fit in L2. Only the weights are rounded: x, the
// products and the sums stay float32, so the result differs from MatVec by
// the weight rounding alone; bf16_test.go measures the effect.

// ToBF16 rounds src to bfloat16 (to nearest, ties to even) into dst,
// len(dst) ≥ len(src). NaNs stay NaN (quiet); ±Inf stay ±Inf.
func ToBF16(dst []uint16, src []float32) {
	dst = dst[:len(src)]
	for i, f := range src {
		dst[i] = bf16(f)
	}
}

func bf16(f float32) uint16 {
	b := math.Float32bits(f)
	if f != f {
		return uint16(b>>16) | 0x40 // keep it a (quiet) NaN
	}
	// Round to nearest even on the 16 bits dropped.
	b += 0x7fff + (b>>16)&1
	return uint16(b >> 16)
}

// FromBF16 widens src to float32 into dst (exact), len(dst) ≥ len(src).
func FromBF16(dst []float32, src []uint16) {
	dst = dst[:len(src)]
	for i, h := range src {
		dst[i] = math.Float32frombits(uint32(h) << 16)
	}
}

func checkMatVecBF16(m, k int, a []uint16, lda int, x, y, bias []float32) {
	if m < 0 || k < 0 || (m > 0 && k > 0 && (lda < k || len(a) < (m-1)*lda+k)) {
		panic("kernels: MatVecBF16: A too short for the sizes given")
	}
	checkVec("MatVecBF16 x", x, k)
	checkVec("MatVecBF16 y", y, m)
	if bias != nil {
		checkVec("MatVecBF16 bias", bias, m)
	}
}

func refMatVecBF16(m, k int, a []uint16, lda int, x, y, bias []float32, accumulate bool) {
	for i := 0; i < m; i++ {
		var s float64
		for j := 0; j < k; j++ {
			s += float64(math.Float32frombits(uint32(a[i*lda+j])<<16)) * float64(x[j])
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

func genericMatVecBF16(m, k int, a []uint16, lda int, x, y, bias []float32, accumulate bool) {
	checkMatVecBF16(m, k, a, lda, x, y, bias)
	x = x[:k]
	for i := 0; i < m; i++ {
		row := a[i*lda : i*lda+k]
		var s0, s1, s2, s3 float32
		j := 0
		for ; j+4 <= len(row); j += 4 {
			w, v := row[j:j+4], x[j:j+4]
			s0 += math.Float32frombits(uint32(w[0])<<16) * v[0]
			s1 += math.Float32frombits(uint32(w[1])<<16) * v[1]
			s2 += math.Float32frombits(uint32(w[2])<<16) * v[2]
			s3 += math.Float32frombits(uint32(w[3])<<16) * v[3]
		}
		for ; j < len(row); j++ {
			s0 += math.Float32frombits(uint32(row[j])<<16) * x[j]
		}
		s := (s0 + s1) + (s2 + s3)
		if bias != nil {
			s += bias[i]
		}
		if accumulate {
			s += y[i]
		}
		y[i] = s
	}
}

func checkMatVecTBF16(m, k int, at []uint16, ldat int, x, y, bias []float32) {
	if m < 0 || k < 0 || (m > 0 && k > 0 && (ldat < m || len(at) < (k-1)*ldat+m)) {
		panic("kernels: MatVecTBF16: At too short for the sizes given")
	}
	checkVec("MatVecTBF16 x", x, k)
	checkVec("MatVecTBF16 y", y, m)
	if bias != nil {
		checkVec("MatVecTBF16 bias", bias, m)
	}
}

func refMatVecTBF16(m, k int, at []uint16, ldat int, x, y, bias []float32, accumulate bool) {
	for i := 0; i < m; i++ {
		var s float64
		for j := 0; j < k; j++ {
			s += float64(math.Float32frombits(uint32(at[j*ldat+i])<<16)) * float64(x[j])
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

func genericMatVecTBF16(m, k int, at []uint16, ldat int, x, y, bias []float32, accumulate bool) {
	checkMatVecTBF16(m, k, at, ldat, x, y, bias)
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
			y[i] += math.Float32frombits(uint32(w)<<16) * xj
		}
	}
}
