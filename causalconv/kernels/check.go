package kernels

import "fmt"

// The checks below run once per call, before any arithmetic, so that the
// assembly kernels (which do no bounds checks) never touch memory outside
// the slices they were given. They panic: a too-short slice is a programming
// error in the caller, not bad input.

func checkMatrix(what string, s []float32, rows, cols, ld int) {
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

// checkOffsets checks that every row b[off[j] : off[j]+n] lies inside b.
func checkOffsets(what string, b []float32, off []int, rows, n int) {
	if len(off) < rows {
		panic(fmt.Sprintf("kernels: %s: %d row offsets for %d rows", what, len(off), rows))
	}
	if n <= 0 {
		return
	}
	for j, o := range off[:rows] {
		if o < 0 || o > len(b)-n {
			panic(fmt.Sprintf("kernels: %s: row %d at offset %d does not fit %d columns in len %d", what, j, o, n, len(b)))
		}
	}
}

func checkVec(what string, s []float32, n int) {
	if n < 0 || len(s) < n {
		panic(fmt.Sprintf("kernels: %s: len %d < %d", what, len(s), n))
	}
}

func checkGemmNN(m, n, k int, a []float32, lda int, b []float32, bOff []int, c []float32, ldc int, bias []float32) {
	if m < 0 || n < 0 || k < 0 {
		panic(fmt.Sprintf("kernels: GemmNN: negative size m=%d n=%d k=%d", m, n, k))
	}
	checkMatrix("GemmNN A", a, m, k, lda)
	checkOffsets("GemmNN B", b, bOff, k, n)
	checkMatrix("GemmNN C", c, m, n, ldc)
	if bias != nil {
		checkVec("GemmNN bias", bias, m)
	}
}

func checkGemmNT(m, k, n int, a []float32, lda int, b []float32, bOff []int, c []float32, ldc int) {
	if m < 0 || n < 0 || k < 0 {
		panic(fmt.Sprintf("kernels: GemmNT: negative size m=%d k=%d n=%d", m, k, n))
	}
	checkMatrix("GemmNT A", a, m, n, lda)
	checkOffsets("GemmNT B", b, bOff, k, n)
	checkMatrix("GemmNT C", c, m, k, ldc)
}

func checkSoftmax(q, n int, logits []float32, ld int, targets []int32, grad []float32) {
	if q <= 0 || n < 0 {
		panic(fmt.Sprintf("kernels: SoftmaxXent: bad size q=%d n=%d", q, n))
	}
	checkMatrix("SoftmaxXent logits", logits, q, n, ld)
	if grad != nil {
		checkMatrix("SoftmaxXent grad", grad, q, n, ld)
	}
	if len(targets) < n {
		panic(fmt.Sprintf("kernels: SoftmaxXent: %d targets for %d steps", len(targets), n))
	}
	for t, y := range targets[:n] {
		if y < 0 || int(y) >= q {
			panic(fmt.Sprintf("kernels: SoftmaxXent: target %d at step %d not in [0,%d)", y, t, q))
		}
	}
}

func checkMatVec(m, k int, a []float32, lda int, x, y, bias []float32) {
	checkMatrix("MatVec A", a, m, k, lda)
	checkVec("MatVec x", x, k)
	checkVec("MatVec y", y, m)
	if bias != nil {
		checkVec("MatVec bias", bias, m)
	}
}

func checkMatVecBatch(m, k, nb int, a []float32, lda int, x, y, bias []float32) {
	if nb < 0 {
		panic("kernels: MatVecBatch: negative stream count")
	}
	checkMatrix("MatVecBatch A", a, m, k, lda)
	checkVec("MatVecBatch x", x, k*nb)
	checkVec("MatVecBatch y", y, m*nb)
	if bias != nil {
		checkVec("MatVecBatch bias", bias, m)
	}
}

func checkMatVecT(m, k int, at []float32, ldat int, x, y, bias []float32) {
	checkMatrix("MatVecT At", at, k, m, ldat)
	checkVec("MatVecT x", x, k)
	checkVec("MatVecT y", y, m)
	if bias != nil {
		checkVec("MatVecT bias", bias, m)
	}
}
