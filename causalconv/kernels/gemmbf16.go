package kernels

import (
	"fmt"
	"math"
)

// Mixed-precision matrix products (GemmNNBF16, GemmNTBF16).
//
// They are GemmNN and GemmNT with the operands rounded to bfloat16 and the
// products summed in float32, the arithmetic of PyTorch's bf16 autocast:
// the instruction behind them (AVX512_BF16's VDPBF16PS) multiplies pairs
// of bf16 values and adds both products to a float32 accumulator, at twice
// the multiply-adds per cycle of a float32 FMA on the CPUs that have it.
// Rounding an operand to bf16 changes it by at most 2^-8 of its value, so
// a product differs from the float32 one by at most about 2^-7 of Σ|a·b|
// (TestGemmBF16Error measures it); the sums are as accurate as float32
// ones.
//
// Only the AVX-512 set with AVX512_BF16 and Reference have them (the
// fields are nil elsewhere): there is no fast way to emulate the
// instruction, and the point of the kernels is speed.

// BF16Stride is the smallest row stride for ToBF16Matrix of a matrix with
// cols columns: cols rounded up to even, so that a zero pads the last
// pair of an odd row.
func BF16Stride(cols int) int { return cols + cols%2 }

// ToBF16Matrix rounds the rows×cols matrix src (row stride lds) to
// bfloat16, nearest even, into dst (row stride ldd ≥ BF16Stride(cols)),
// writing a zero after each row when cols is odd: the form GemmNNBF16
// takes its A operand in.
func ToBF16Matrix(dst []uint16, ldd int, src []float32, lds, rows, cols int) {
	if rows <= 0 || cols <= 0 {
		return
	}
	if ldd < BF16Stride(cols) || lds < cols || len(dst) < (rows-1)*ldd+BF16Stride(cols) || len(src) < (rows-1)*lds+cols {
		panic(fmt.Sprintf("kernels: ToBF16Matrix: %d×%d does not fit (strides %d, %d; lengths %d, %d)", rows, cols, ldd, lds, len(dst), len(src)))
	}
	for i := 0; i < rows; i++ {
		ToBF16(dst[i*ldd:i*ldd+cols], src[i*lds:i*lds+cols])
		if cols%2 == 1 {
			dst[i*ldd+cols] = 0
		}
	}
}

func checkMatrixBF16(what string, s []uint16, rows, cols, ld int) {
	if rows < 0 || cols < 0 {
		panic(fmt.Sprintf("kernels: %s: negative size %d×%d", what, rows, cols))
	}
	if rows == 0 || cols == 0 {
		return
	}
	if ld < cols {
		panic(fmt.Sprintf("kernels: %s: stride %d < %d columns", what, ld, cols))
	}
	if need := (rows-1)*ld + cols; len(s) < need {
		panic(fmt.Sprintf("kernels: %s: len %d < %d needed for %d×%d with stride %d", what, len(s), need, rows, cols, ld))
	}
}

func checkGemmNNBF16(m, n, k int, a []uint16, lda int, b []float32, bOff []int, c []float32, ldc int, bias []float32) {
	if m < 0 || n < 0 || k < 0 {
		panic(fmt.Sprintf("kernels: GemmNNBF16: negative size m=%d n=%d k=%d", m, n, k))
	}
	// An odd k reads one pad element per row.
	checkMatrixBF16("GemmNNBF16 A", a, m, BF16Stride(k), lda)
	checkOffsets("GemmNNBF16 B", b, bOff, k, n)
	checkMatrix("GemmNNBF16 C", c, m, n, ldc)
	if bias != nil {
		checkVec("GemmNNBF16 bias", bias, m)
	}
}

// roundBF16 is the value the hardware conversion (VCVTNE2PS2BF16) gives
// f: denormals flushed to (signed) zero, then rounded to nearest even.
func roundBF16(f float32) float64 {
	if math.Abs(float64(f)) < 0x1p-126 {
		f = float32(math.Copysign(0, float64(f)))
	}
	return float64(math.Float32frombits(uint32(bf16(f)) << 16))
}

func widenBF16(h uint16) float64 { return float64(math.Float32frombits(uint32(h) << 16)) }

// refGemmNNBF16 is the definition of GemmNNBF16: the exact sum (in
// float64) of the products of the bf16 operands.
func refGemmNNBF16(m, n, k int, a []uint16, lda int, b []float32, bOff []int, c []float32, ldc int, bias []float32, accumulate bool) {
	checkGemmNNBF16(m, n, k, a, lda, b, bOff, c, ldc, bias)
	for i := 0; i < m; i++ {
		for t := 0; t < n; t++ {
			var s float64
			for j := 0; j < k; j++ {
				s += widenBF16(a[i*lda+j]) * roundBF16(b[bOff[j]+t])
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

// refGemmNTBF16 is the definition of GemmNTBF16.
func refGemmNTBF16(m, k, n int, a []float32, lda int, b []float32, bOff []int, c []float32, ldc int, accumulate bool) {
	checkGemmNT(m, k, n, a, lda, b, bOff, c, ldc)
	for i := 0; i < m; i++ {
		for j := 0; j < k; j++ {
			var s float64
			for t := 0; t < n; t++ {
				s += roundBF16(a[i*lda+t]) * roundBF16(b[bOff[j]+t])
			}
			if accumulate {
				s += float64(c[i*ldc+j])
			}
			c[i*ldc+j] = float32(s)
		}
	}
}
