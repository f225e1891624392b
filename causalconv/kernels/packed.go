package kernels

import "fmt"

// Packing B once for several float32 products (Pack, GemmNNPacked): the
// float32 counterpart of PackBF16 and GemmNNBF16Packed (gemmbf16.go). The
// layout: for each panel of columns t0 ≤ t < t0+w (w = nextPanel(n−t0,
// 16) in turn, from t0 = 0), a slot of k·48 floats where
//
//	slot[j*48 + x] = B[bOff[j] + t0 + x]
//
// for x < w, and 0 for x ≥ w. It is what the AVX-512 GemmNN packs per
// panel, so GemmNNPacked gives bit for bit the results of GemmNN: each
// element's sum runs over j in the same order, and splitting it into depth
// blocks only stores and reloads it exactly. Only Reference and the
// AVX-512 set have these kernels (nil elsewhere).

// PackedLen is the length of the buffer Pack fills for a k×n operand.
func PackedLen(k, n int) int {
	if k <= 0 || n <= 0 {
		return 0
	}
	return (n + tileCols - 1) / tileCols * k * tileCols
}

func checkPack(k, n int, b []float32, bOff []int, bp []float32) {
	if k < 0 || n < 0 {
		panic(fmt.Sprintf("kernels: Pack: negative size k=%d n=%d", k, n))
	}
	checkOffsets("Pack B", b, bOff, k, n)
	if need := PackedLen(k, n); len(bp) < need {
		panic(fmt.Sprintf("kernels: Pack: buffer of %d < %d for %d×%d", len(bp), need, k, n))
	}
}

func checkGemmNNPacked(m, n, k int, a []float32, lda int, bp []float32, c []float32, ldc int, bias []float32) {
	if m < 0 || n < 0 || k < 0 {
		panic(fmt.Sprintf("kernels: GemmNNPacked: negative size m=%d n=%d k=%d", m, n, k))
	}
	checkMatrix("GemmNNPacked A", a, m, k, lda)
	if need := PackedLen(k, n); len(bp) < need {
		panic(fmt.Sprintf("kernels: GemmNNPacked: packed B of %d < %d for %d×%d", len(bp), need, k, n))
	}
	checkMatrix("GemmNNPacked C", c, m, n, ldc)
	if bias != nil {
		checkVec("GemmNNPacked bias", bias, m)
	}
}

func refPack(k, n int, b []float32, bOff []int, bp []float32) {
	checkPack(k, n, b, bOff, bp)
	if k == 0 || n == 0 {
		return
	}
	slot := k * tileCols
	p := 0
	for t0 := 0; t0 < n; p++ {
		w := nextPanel(n-t0, 16)
		s := bp[p*slot : (p+1)*slot]
		clear(s)
		for j := 0; j < k; j++ {
			copy(s[j*tileCols:j*tileCols+w], b[bOff[j]+t0:bOff[j]+t0+w])
		}
		t0 += w
	}
}

func refGemmNNPacked(m, n, k int, a []float32, lda int, bp []float32, c []float32, ldc int, bias []float32, accumulate bool) {
	checkGemmNNPacked(m, n, k, a, lda, bp, c, ldc, bias)
	slot := k * tileCols
	p := 0
	for t0 := 0; t0 < n; p++ {
		w := nextPanel(n-t0, 16)
		s := bp[p*slot:]
		for i := 0; i < m; i++ {
			for x := 0; x < w; x++ {
				var sum float64
				for j := 0; j < k; j++ {
					sum += float64(a[i*lda+j]) * float64(s[j*tileCols+x])
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
