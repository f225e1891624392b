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

// # Packing B once for several products
//
// When several products share their right operand (the layers' input
// gradients from the one skip gradient, the taps of a dilated conv's input
// gradient), PackBF16 rounds and packs it once and GemmNNBF16Packed reads
// the packed form. The layout is the one the AVX-512 kernels read, and
// every set writes and reads it the same way: for each panel of columns
// t0 ≤ t < t0+w (w = nextPanel(n−t0, 16) in turn, from t0 = 0), a slot of
// ⌈k/2⌉·96 elements where
//
//	slot[q*96 + 2x + h] = bf16(B[bOff[2q+h] + t0 + x])
//
// for x < w, and 0 for x ≥ w and for the missing row 2q+h = k of an odd k.
// bf16 is round to nearest even with denormals flushed to zero, as
// VCVTNE2PS2BF16 does.

// PackedBF16Len is the length of the buffer PackBF16 fills for a k×n
// operand.
func PackedBF16Len(k, n int) int {
	if k <= 0 || n <= 0 {
		return 0
	}
	panels := 0
	for t0 := 0; t0 < n; t0 += nextPanel(n-t0, 16) {
		panels++
	}
	return panels * ((k + 1) / 2) * 2 * tileCols
}

func checkPackBF16(k, n int, b []float32, bOff []int, bp []uint16) {
	if k < 0 || n < 0 {
		panic(fmt.Sprintf("kernels: PackBF16: negative size k=%d n=%d", k, n))
	}
	checkOffsets("PackBF16 B", b, bOff, k, n)
	if need := PackedBF16Len(k, n); len(bp) < need {
		panic(fmt.Sprintf("kernels: PackBF16: buffer of %d < %d for %d×%d", len(bp), need, k, n))
	}
}

func checkGemmNNBF16Packed(m, n, k int, a []uint16, lda int, bp []uint16, c []float32, ldc int, bias []float32) {
	if m < 0 || n < 0 || k < 0 {
		panic(fmt.Sprintf("kernels: GemmNNBF16Packed: negative size m=%d n=%d k=%d", m, n, k))
	}
	checkMatrixBF16("GemmNNBF16Packed A", a, m, BF16Stride(k), lda)
	if need := PackedBF16Len(k, n); len(bp) < need {
		panic(fmt.Sprintf("kernels: GemmNNBF16Packed: packed B of %d < %d for %d×%d", len(bp), need, k, n))
	}
	checkMatrix("GemmNNBF16Packed C", c, m, n, ldc)
	if bias != nil {
		checkVec("GemmNNBF16Packed bias", bias, m)
	}
}

// bf16DAZ is the bf16 the hardware conversion gives f.
func bf16DAZ(f float32) uint16 {
	if math.Abs(float64(f)) < 0x1p-126 {
		return uint16(math.Float32bits(f)>>16) & 0x8000
	}
	return bf16(f)
}

func refPackBF16(k, n int, b []float32, bOff []int, bp []uint16) {
	checkPackBF16(k, n, b, bOff, bp)
	if k == 0 || n == 0 {
		return
	}
	slot := (k + 1) / 2 * 2 * tileCols
	p := 0
	for t0 := 0; t0 < n; p++ {
		w := nextPanel(n-t0, 16)
		s := bp[p*slot : (p+1)*slot]
		clear(s)
		for j := 0; j < k; j++ {
			for x := 0; x < w; x++ {
				s[j/2*2*tileCols+2*x+j%2] = bf16DAZ(b[bOff[j]+t0+x])
			}
		}
		t0 += w
	}
}

func refGemmNNBF16Packed(m, n, k int, a []uint16, lda int, bp []uint16, c []float32, ldc int, bias []float32, accumulate bool) {
	checkGemmNNBF16Packed(m, n, k, a, lda, bp, c, ldc, bias)
	if n == 0 {
		return
	}
	slot := (k + 1) / 2 * 2 * tileCols
	p := 0
	for t0 := 0; t0 < n; p++ {
		w := nextPanel(n-t0, 16)
		s := bp[p*slot:]
		for i := 0; i < m; i++ {
			for x := 0; x < w; x++ {
				var sum float64
				for j := 0; j < k; j++ {
					sum += widenBF16(a[i*lda+j]) * widenBF16(s[j/2*2*tileCols+2*x+j%2])
				}
				if bias != nil {
					sum += float64(bias[i])
				}
				if accumulate {
					sum += float64(c[i*ldc+t0+x])
				}
				c[i*ldc+t0+x] = float32(sum)
			}
		}
		t0 += w
	}
}
