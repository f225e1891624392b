//go:build !purego

package kernels

// The AVX2+FMA set: the same blocking as avx512_amd64.go with a 4×24
// register tile (asm/gemm256.go). AVX2 has no mask registers, so the
// drivers pack the last, narrower panel in Go and give the kernel a scratch
// tile for it; masks for vmaskmovps come from laneMasks.

func avx2() Set {
	s := Set{
		Name:        "avx2",
		GemmNN:      gemmNNAVX2,
		GemmNT:      gemmNTAVX2,
		MatVec:      matVecAVX2,
		MatVecBatch: matVecBatchAVX2,
		MatVecBF16:  matVecBF16AVX2,
		MatVecT:     matVecTAVX2,
		MatVecTBF16: matVecTBF16AVX2,
	}
	installElementwise(&s, false)
	return s
}

const (
	tileRows2 = 4
	tileCols2 = 24
)

// laneMasks[8-w:][:8] is a vmaskmovps mask selecting the first w lanes.
// It is read-only.
var laneMasks = [16]int32{-1, -1, -1, -1, -1, -1, -1, -1}

func laneMask(w int) *int32 { return &laneMasks[8-w] }

// tileAVX2 runs the kernel on mr rows of a C window of w ≤ 24 columns
// starting at c[off]; a window that is not whole vectors goes through a
// scratch tile.
func tileAVX2(mr, k int, a *float32, lda int, p *float32, c []float32, off, ldc, w int, bias *float32, load bool) {
	nv := vectors(w, 8)
	if w == 8*nv {
		gemmTile256(mr, nv, k, a, lda, p, &c[off], ldc, bias, load)
		return
	}
	var tmp [tileRows2 * tileCols2]float32
	if load {
		for r := range mr {
			copy(tmp[r*tileCols2:r*tileCols2+w], c[off+r*ldc:off+r*ldc+w])
		}
	}
	gemmTile256(mr, nv, k, a, lda, p, &tmp[0], tileCols2, bias, load)
	for r := range mr {
		copy(c[off+r*ldc:off+r*ldc+w], tmp[r*tileCols2:r*tileCols2+w])
	}
}

func gemmNNAVX2(m, n, k int, a []float32, lda int, b []float32, bOff []int, c []float32, ldc int, bias []float32, accumulate bool) {
	checkGemmNN(m, n, k, a, lda, b, bOff, c, ldc, bias)
	if m == 0 || n == 0 {
		return
	}
	if k == 0 {
		genericGemmNN(m, n, k, a, lda, b, bOff, c, ldc, bias, accumulate)
		return
	}
	var buf [nnKC*tileCols2 + 16]float32
	pack := aligned64(buf[:])
	blocks := (k + nnKC - 1) / nnKC
	kcMax := (k + blocks - 1) / blocks
	for t0 := 0; t0 < n; {
		w := nextPanel(n-t0, 8)
		for k0 := 0; k0 < k; k0 += kcMax {
			kc := min(kcMax, k-k0)
			if w == tileCols2 {
				packNN256(kc, &b[0], &bOff[k0], t0, &pack[0])
			} else {
				for j := range kc {
					row := pack[j*tileCols2 : (j+1)*tileCols2]
					o := bOff[k0+j] + t0
					copy(row, b[o:o+w])
					clear(row[w:])
				}
			}
			load := accumulate || k0 > 0
			for i0 := 0; i0 < m; i0 += tileRows2 {
				var bi *float32
				if bias != nil && k0 == 0 {
					bi = &bias[i0]
				}
				tileAVX2(min(tileRows2, m-i0), kc, &a[i0*lda+k0], lda, &pack[0], c, i0*ldc+t0, ldc, w, bi, load)
			}
		}
		t0 += w
	}
}

func gemmNTAVX2(m, k, n int, a []float32, lda int, b []float32, bOff []int, c []float32, ldc int, accumulate bool) {
	checkGemmNT(m, k, n, a, lda, b, bOff, c, ldc)
	if m == 0 || k == 0 {
		return
	}
	if n == 0 {
		genericGemmNT(m, k, n, a, lda, b, bOff, c, ldc, accumulate)
		return
	}
	var buf [ntTC*tileCols2 + 16]float32
	pack := aligned64(buf[:])
	var offs [tileCols2]int
	for t0 := 0; t0 < n; t0 += ntTC {
		tc := min(ntTC, n-t0)
		tail := tc % 8
		if tail == 0 {
			tail = 8
		}
		load := accumulate || t0 > 0
		for j0 := 0; j0 < k; {
			w := nextPanel(k-j0, 8)
			for g := 0; g*8 < w; g++ {
				for r := range 8 {
					j := j0 + g*8 + r
					if j >= k {
						j = j0
					}
					offs[g*8+r] = bOff[j] + t0
				}
				packNT256(tc, &b[0], &offs[g*8], &pack[g*8], laneMask(tail))
			}
			for i0 := 0; i0 < m; i0 += tileRows2 {
				tileAVX2(min(tileRows2, m-i0), tc, &a[i0*lda+t0], lda, &pack[0], c, i0*ldc+j0, ldc, w, nil, load)
			}
			j0 += w
		}
	}
}

func matVecAVX2(m, k int, a []float32, lda int, x, y, bias []float32, accumulate bool) {
	checkMatVec(m, k, a, lda, x, y, bias)
	if m == 0 {
		return
	}
	if k == 0 {
		genericMatVec(m, k, a, lda, x, y, bias, accumulate)
		return
	}
	kmask := laneMask(max(k%8, 1))
	for i0 := 0; i0 < m; i0 += 8 {
		rows := min(8, m-i0)
		var bi *float32
		if bias != nil {
			bi = &bias[i0]
		}
		matVec256(k, &a[i0*lda], lda, rows, &x[0], &y[i0], bi, accumulate, kmask, laneMask(rows))
	}
}

func matVecBatchAVX2(m, k, nb int, a []float32, lda int, x, y, bias []float32, accumulate bool) {
	checkMatVecBatch(m, k, nb, a, lda, x, y, bias)
	if m == 0 || nb == 0 {
		return
	}
	if k == 0 {
		genericMatVecBatch(m, k, nb, a, lda, x, y, bias, accumulate)
		return
	}
	for s0 := 0; s0 < nb; s0 += 8 {
		mask := laneMask(min(8, nb-s0))
		for i0 := 0; i0 < m; {
			var bi *float32
			if bias != nil {
				bi = &bias[i0]
			}
			ap, xp, yp := &a[i0*lda], &x[s0], &y[i0*nb+s0]
			switch rest := m - i0; {
			case rest >= 8:
				matVecBatch256x8(k, ap, lda, xp, nb, yp, nb, bi, accumulate, mask)
				i0 += 8
			case rest >= 4:
				matVecBatch256x4(k, ap, lda, xp, nb, yp, nb, bi, accumulate, mask)
				i0 += 4
			case rest >= 2:
				matVecBatch256x2(k, ap, lda, xp, nb, yp, nb, bi, accumulate, mask)
				i0 += 2
			default:
				matVecBatch256x1(k, ap, lda, xp, nb, yp, nb, bi, accumulate, mask)
				i0++
			}
		}
	}
}

func matVecBF16AVX2(m, k int, a []uint16, lda int, x, y, bias []float32, accumulate bool) {
	checkMatVecBF16(m, k, a, lda, x, y, bias)
	k8 := k - k%8
	if m == 0 || k8 == 0 {
		genericMatVecBF16(m, k, a, lda, x, y, bias, accumulate)
		return
	}
	for i0 := 0; i0 < m; i0 += 8 {
		rows := min(8, m-i0)
		var bi *float32
		if bias != nil {
			bi = &bias[i0]
		}
		matVecBF16256(k8, &a[i0*lda], lda, rows, &x[0], &y[i0], bi, accumulate, laneMask(rows))
	}
	if k8 < k { // the last k%8 columns
		genericMatVecBF16(m, k-k8, a[k8:], lda, x[k8:], y, nil, true)
	}
}

func matVecTAVX2(m, k int, at []float32, ldat int, x, y, bias []float32, accumulate bool) {
	checkMatVecT(m, k, at, ldat, x, y, bias)
	if m == 0 {
		return
	}
	if k == 0 {
		genericMatVecT(m, k, at, ldat, x, y, bias, accumulate)
		return
	}
	// Up to 8 ymm (64 outputs) per call.
	for i0 := 0; i0 < m; i0 += 64 {
		w := min(64, m-i0)
		nv := vectors(w, 8)
		mask := laneMask(w - 8*(nv-1))
		var bi *float32
		if bias != nil {
			bi = &bias[i0]
		}
		switch nv {
		case 1:
			matVecT256x1(k, &at[i0], ldat, &x[0], &y[i0], bi, accumulate, mask)
		case 2:
			matVecT256x2(k, &at[i0], ldat, &x[0], &y[i0], bi, accumulate, mask)
		case 3:
			matVecT256x3(k, &at[i0], ldat, &x[0], &y[i0], bi, accumulate, mask)
		case 4:
			matVecT256x4(k, &at[i0], ldat, &x[0], &y[i0], bi, accumulate, mask)
		case 5:
			matVecT256x5(k, &at[i0], ldat, &x[0], &y[i0], bi, accumulate, mask)
		case 6:
			matVecT256x6(k, &at[i0], ldat, &x[0], &y[i0], bi, accumulate, mask)
		case 7:
			matVecT256x7(k, &at[i0], ldat, &x[0], &y[i0], bi, accumulate, mask)
		case 8:
			matVecT256x8(k, &at[i0], ldat, &x[0], &y[i0], bi, accumulate, mask)
		}
	}
}

func matVecTBF16AVX2(m, k int, at []uint16, ldat int, x, y, bias []float32, accumulate bool) {
	checkMatVecTBF16(m, k, at, ldat, x, y, bias)
	m8 := m - m%8 // the kernels do whole ymm of outputs
	if m8 == 0 || k == 0 {
		genericMatVecTBF16(m, k, at, ldat, x, y, bias, accumulate)
		return
	}
	for i0 := 0; i0 < m8; i0 += 64 {
		nv := min(64, m8-i0) / 8
		var bi *float32
		if bias != nil {
			bi = &bias[i0]
		}
		switch nv {
		case 1:
			matVecTBF16256x1(k, &at[i0], ldat, &x[0], &y[i0], bi, accumulate)
		case 2:
			matVecTBF16256x2(k, &at[i0], ldat, &x[0], &y[i0], bi, accumulate)
		case 3:
			matVecTBF16256x3(k, &at[i0], ldat, &x[0], &y[i0], bi, accumulate)
		case 4:
			matVecTBF16256x4(k, &at[i0], ldat, &x[0], &y[i0], bi, accumulate)
		case 5:
			matVecTBF16256x5(k, &at[i0], ldat, &x[0], &y[i0], bi, accumulate)
		case 6:
			matVecTBF16256x6(k, &at[i0], ldat, &x[0], &y[i0], bi, accumulate)
		case 7:
			matVecTBF16256x7(k, &at[i0], ldat, &x[0], &y[i0], bi, accumulate)
		case 8:
			matVecTBF16256x8(k, &at[i0], ldat, &x[0], &y[i0], bi, accumulate)
		}
	}
	if m8 < m {
		var bt []float32
		if bias != nil {
			bt = bias[m8:]
		}
		genericMatVecTBF16(m-m8, k, at[m8:], ldat, x, y[m8:], bt, accumulate)
	}
}
