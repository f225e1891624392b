//go:build !purego

package kernels

// Drivers of the AVX512_BF16 kernels (asm/gemmbf16.go). They block the
// products like gemmNNAVX512 and gemmNTAVX512, with the reduction axis in
// pairs: a panel row is 48 bf16 pairs (192 bytes, as a float32 panel row
// of 48 floats), so the same 24 KiB panel covers twice the depth.

const (
	// nnKCPairs bounds the depth of one GemmNNBF16 panel in pairs of
	// rows of B: 128 pairs × 48 columns × 2 bf16 = 24 KiB.
	nnKCPairs = 128
	// ntTCPairs is the number of time-step pairs per GemmNTBF16 block.
	ntTCPairs = 128
	// ntRowsBF16 is how many rows of A GemmNTBF16 rounds per time block
	// (256 × 256 bf16 = 128 KiB of stack, the most the Go compiler keeps
	// on the stack): every m of the network's weight gradients fits, so
	// each B panel is packed once per block.
	ntRowsBF16 = 256
)

func gemmNNBF16AVX512(m, n, k int, a []uint16, lda int, b []float32, bOff []int, c []float32, ldc int, bias []float32, accumulate bool) {
	checkGemmNNBF16(m, n, k, a, lda, b, bOff, c, ldc, bias)
	if m == 0 || n == 0 {
		return
	}
	if k == 0 {
		genericGemmNN(m, n, 0, nil, 0, b, bOff, c, ldc, bias, accumulate)
		return
	}
	var buf [nnKCPairs*2*tileCols + 32]uint16
	pack := aligned64(buf[:])
	// Depth blocks of equal, even size (so that every block but the last
	// starts and ends on a pair), at most 2·nnKCPairs rows.
	blocks := (k + 2*nnKCPairs - 1) / (2 * nnKCPairs)
	kcMax := ((k+blocks-1)/blocks + 1) &^ 1
	for t0 := 0; t0 < n; {
		w := nextPanel(n-t0, 16)
		nv, mask := vectors(w, 16), colMask(w)
		for k0 := 0; k0 < k; k0 += kcMax {
			kc := min(kcMax, k-k0)
			packNNBF16(kc, &b[0], &bOff[k0], t0, &pack[0], mask)
			load := accumulate || k0 > 0
			for i0 := 0; i0 < m; i0 += tileRows {
				var bi *float32
				if bias != nil && k0 == 0 {
					bi = &bias[i0]
				}
				gemmTileBF16(min(tileRows, m-i0), nv, (kc+1)/2, &a[i0*lda+k0], lda, &pack[0], &c[i0*ldc+t0], ldc, bi, load, mask)
			}
		}
		t0 += w
	}
}

func gemmNTBF16AVX512(m, k, n int, a []float32, lda int, b []float32, bOff []int, c []float32, ldc int, accumulate bool) {
	checkGemmNT(m, k, n, a, lda, b, bOff, c, ldc)
	if m == 0 || k == 0 {
		return
	}
	if n == 0 {
		genericGemmNT(m, k, n, a, lda, b, bOff, c, ldc, accumulate)
		return
	}
	var pbuf [ntTCPairs*2*tileCols + 32]uint16
	pack := aligned64(pbuf[:])
	// A's rows for one time block, rounded: rows of up to 2·ntTCPairs
	// steps (pairs of consecutive steps), stride 2·ntTCPairs. Not aligned
	// to 64 bytes (there is no room to spare): the kernel reads it 4
	// bytes at a time.
	var abuf [ntRowsBF16 * 2 * ntTCPairs]uint16
	arows := abuf[:]
	const lda16 = 2 * ntTCPairs
	var offs [tileCols]int
	for r0 := 0; r0 < m; r0 += ntRowsBF16 {
		mb := min(ntRowsBF16, m-r0)
		for t0 := 0; t0 < n; t0 += 2 * ntTCPairs {
			tc := min(2*ntTCPairs, n-t0)
			// Blocks of 32 steps per conversion, the last one masked.
			blocks32 := (tc + 31) / 32
			tail32 := uint32(colMask(tc - 32*(blocks32-1)))
			for i := 0; i < mb; i++ {
				toBF16Row(blocks32, &a[(r0+i)*lda+t0], &arows[i*lda16], tail32)
			}
			load := accumulate || t0 > 0
			for j0 := 0; j0 < k; {
				w := nextPanel(k-j0, 16)
				// Rows past k repeat row j0, as in gemmNTAVX512.
				for g := 0; g*16 < w; g++ {
					for r := range 16 {
						j := j0 + g*16 + r
						if j >= k {
							j = j0
						}
						offs[g*16+r] = bOff[j] + t0
					}
					packNTBF16(tc, &b[0], &offs[g*16], &pack[g*32], tail32)
				}
				nv, mask := vectors(w, 16), colMask(w)
				for i0 := 0; i0 < mb; i0 += tileRows {
					gemmTileBF16(min(tileRows, mb-i0), nv, (tc+1)/2, &arows[i0*lda16], lda16, &pack[0], &c[(r0+i0)*ldc+j0], ldc, nil, load, mask)
				}
				j0 += w
			}
		}
	}
}

func packBF16AVX512(k, n int, b []float32, bOff []int, bp []uint16) {
	checkPackBF16(k, n, b, bOff, bp)
	if k == 0 || n == 0 {
		return
	}
	slot := (k + 1) / 2 * 2 * tileCols
	p := 0
	for t0 := 0; t0 < n; p++ {
		w := nextPanel(n-t0, 16)
		packNNBF16(k, &b[0], &bOff[0], t0, &bp[p*slot], colMask(w))
		t0 += w
	}
}

func gemmNNBF16PackedAVX512(m, n, k int, a []uint16, lda int, bp []uint16, c []float32, ldc int, bias []float32, accumulate bool) {
	checkGemmNNBF16Packed(m, n, k, a, lda, bp, c, ldc, bias)
	if m == 0 || n == 0 {
		return
	}
	if k == 0 {
		genericGemmNN(m, n, 0, nil, 0, nil, nil, c, ldc, bias, accumulate)
		return
	}
	kp := (k + 1) / 2
	slot := kp * 2 * tileCols
	// Depth blocks of at most nnKCPairs pairs (24 KiB of panel), as in
	// gemmNNBF16AVX512, so that a block stays in L1 across the row tiles.
	blocks := (kp + nnKCPairs - 1) / nnKCPairs
	kpMax := (kp + blocks - 1) / blocks
	p := 0
	for t0 := 0; t0 < n; p++ {
		w := nextPanel(n-t0, 16)
		nv, mask := vectors(w, 16), colMask(w)
		for q0 := 0; q0 < kp; q0 += kpMax {
			qc := min(kpMax, kp-q0)
			load := accumulate || q0 > 0
			for i0 := 0; i0 < m; i0 += tileRows {
				var bi *float32
				if bias != nil && q0 == 0 {
					bi = &bias[i0]
				}
				gemmTileBF16(min(tileRows, m-i0), nv, qc, &a[i0*lda+2*q0], lda, &bp[p*slot+q0*2*tileCols], &c[i0*ldc+t0], ldc, bi, load, mask)
			}
		}
		t0 += w
	}
}
