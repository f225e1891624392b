package main

import (
	"fmt"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

// # GEMM and matrix-vector products with AVX2+FMA
//
// The same scheme as the AVX-512 kernels (gemm512.go) with 16 ymm
// registers instead of 32 zmm:
//
//	C[r][0:24] (+)= Σ_j A[r][j] · P[j][0:24]      for r < mr ≤ 4
//
// The register tile is 4 rows × 24 columns (three ymm): 12 accumulators,
// 3 panel vectors and one broadcast = 16 registers. Per j: 3 loads of the
// panel, 4 broadcasts, 12 FMAs (6 cycles on two FMA pipes), and 12
// independent chains hide the FMA latency (4 cycles × 2 pipes = 8).
//
// AVX2 has no mask registers. The kernels therefore work on whole tiles
// only: the Go driver packs the last, narrower panel itself (zero-padded)
// and gives the kernel a scratch C tile for it.

const (
	tileRows256 = 4
	tileCols256 = 24
	panelRow256 = tileCols256 * 4
)

// gemmTile256 generates the kernel for mr rows and nv vectors (8·nv
// columns) per row; nv < 3 serves the last, narrower panels.
func gemmTile256(mr, nv int) {
	name := fmt.Sprintf("gemmTile256x%dv%d", mr, nv)
	TEXT(name, NOSPLIT, "func(k int, a *float32, lda int, p *float32, c *float32, ldc int, bias *float32, load bool)")
	Pragma("noescape")
	Doc(
		fmt.Sprintf("%s computes a %d×%d tile: for r < %d, x < %d,", name, mr, 8*nv, mr, 8*nv),
		"C[r*ldc+x] = (load ? C[r*ldc+x] : 0) + bias[r] + Σ_{j<k} A[r*lda+j]·P[j*24+x].",
		"bias may be nil; k ≥ 1.",
	)
	c0, _, ldc, ldc3 := stridedRows("c", "ldc", mr)
	acc := make([][3]VecVirtual, mr)
	for r := range acc {
		for v := 0; v < nv; v++ {
			acc[r][v] = YMM()
		}
	}
	load := Load(Param("load"), GP8())
	TESTB(load, load)
	JZ(LabelRef(name + "_zero"))
	for r := 0; r < mr; r++ {
		for v := 0; v < nv; v++ {
			VMOVUPS(rowMem(r, c0, nil, ldc, ldc3).Offset(32*v), acc[r][v])
		}
	}
	JMP(LabelRef(name + "_bias"))
	Label(name + "_zero")
	for r := 0; r < mr; r++ {
		for v := 0; v < nv; v++ {
			VXORPS(acc[r][v], acc[r][v], acc[r][v])
		}
	}
	Label(name + "_bias")
	bias := Load(Param("bias"), GP64())
	TESTQ(bias, bias)
	JZ(LabelRef(name + "_body"))
	for r := 0; r < mr; r++ {
		b := YMM()
		VBROADCASTSS(Mem{Base: bias, Disp: 4 * r}, b)
		for v := 0; v < nv; v++ {
			VADDPS(b, acc[r][v], acc[r][v])
		}
	}

	Label(name + "_body")
	k := Load(Param("k"), GP64())
	a0, _, lda, lda3 := stridedRows("a", "lda", mr)
	p := Load(Param("p"), GP64())
	step := func(u int) {
		var b [3]VecVirtual
		for v := 0; v < nv; v++ {
			b[v] = YMM()
			VMOVUPS(Mem{Base: p, Disp: u*panelRow256 + 32*v}, b[v])
		}
		for r := 0; r < mr; r++ {
			x := YMM()
			VBROADCASTSS(rowMem(r, a0, nil, lda, lda3).Offset(4*u), x)
			for v := 0; v < nv; v++ {
				VFMADD231PS(b[v], x, acc[r][v])
			}
		}
	}
	Label(name + "_loop2")
	CMPQ(k, U8(2))
	JL(LabelRef(name + "_tail"))
	step(0)
	step(1)
	ADDQ(U32(2*panelRow256), p)
	ADDQ(U8(8), a0)
	SUBQ(U8(2), k)
	JMP(LabelRef(name + "_loop2"))
	Label(name + "_tail")
	TESTQ(k, k)
	JZ(LabelRef(name + "_store"))
	step(0)
	Label(name + "_store")
	for r := 0; r < mr; r++ {
		for v := 0; v < nv; v++ {
			VMOVUPS(acc[r][v], rowMem(r, c0, nil, ldc, ldc3).Offset(32*v))
		}
	}
	VZEROUPPER()
	RET()
}

func packNN256() {
	TEXT("packNN256", NOSPLIT, "func(k int, b *float32, off *int, t0 int, p *float32)")
	Pragma("noescape")
	Doc("packNN256 copies a 24-column slice of k ≥ 1 rows of B into the panel P:",
		"P[j*24+x] = B[off[j]+t0+x], x < 24 (whole panels only).")
	k := Load(Param("k"), GP64())
	b := Load(Param("b"), GP64())
	t0 := Load(Param("t0"), GP64())
	LEAQ(Mem{Base: b, Index: t0, Scale: 4}, b)
	off := Load(Param("off"), GP64())
	p := Load(Param("p"), GP64())
	Label("packNN256_loop")
	row := GP64()
	MOVQ(Mem{Base: off}, row)
	src := Mem{Base: b, Index: row, Scale: 4}
	var x [3]VecVirtual
	for v := range x {
		x[v] = YMM()
		VMOVUPS(src.Offset(32*v), x[v])
	}
	PREFETCHT0(src.Offset(panelRow256))
	PREFETCHT0(src.Offset(panelRow256 + 64))
	for v := range x {
		VMOVUPS(x[v], Mem{Base: p, Disp: 32 * v})
	}
	ADDQ(U8(8), off)
	ADDQ(U8(panelRow256), p)
	DECQ(k)
	JNZ(LabelRef("packNN256_loop"))
	VZEROUPPER()
	RET()
}

func packNT256() {
	TEXT("packNT256", NOSPLIT, "func(n int, b *float32, off *int, p *float32, mask *int32)")
	Pragma("noescape")
	Doc(
		"packNT256 transposes 8 rows of B over n ≥ 1 columns into 8 columns of",
		"the panel P: P[t*24+r] = B[off[r]+t] for r < 8, t < n. mask points to 8",
		"int32 whose first n%8 (all 8 if n%8 == 0) are -1 and the rest 0: the last",
		"block of columns is loaded with vmaskmovps so nothing past B's end is read.",
	)
	n := Load(Param("n"), GP64())
	b := Load(Param("b"), GP64())
	off := Load(Param("off"), GP64())
	p := Load(Param("p"), GP64())
	block := func(masked bool) {
		var m VecVirtual
		if masked {
			m = YMM()
			VMOVUPS(Mem{Base: Load(Param("mask"), GP64())}, m)
		}
		var r [8]VecVirtual
		for i := range r {
			row := GP64()
			MOVQ(Mem{Base: off, Disp: 8 * i}, row)
			r[i] = YMM()
			if masked {
				VMASKMOVPS(Mem{Base: b, Index: row, Scale: 4}, m, r[i])
			} else {
				VMOVUPS(Mem{Base: b, Index: row, Scale: 4}, r[i])
			}
		}
		out := transpose8x8(r)
		for t := range out {
			VMOVUPS(out[t], Mem{Base: p, Disp: t * panelRow256})
		}
	}
	Label("packNT256_loop")
	CMPQ(n, U8(8))
	JLE(LabelRef("packNT256_last"))
	block(false)
	ADDQ(U8(32), b)
	ADDQ(U32(8*panelRow256), p)
	SUBQ(U8(8), n)
	JMP(LabelRef("packNT256_loop"))
	Label("packNT256_last")
	block(true)
	VZEROUPPER()
	RET()
}

// transpose8x8 is transpose16x16's first two stages followed by one
// vperm2f128 stage joining the two 128-bit halves of each column.
func transpose8x8(r [8]VecVirtual) [8]VecVirtual {
	var t, u, out [8]VecVirtual
	for i := 0; i < 8; i += 2 {
		t[i], t[i+1] = YMM(), YMM()
		VUNPCKLPS(r[i+1], r[i], t[i])
		VUNPCKHPS(r[i+1], r[i], t[i+1])
	}
	for q := 0; q < 8; q += 4 {
		for h := 0; h < 2; h++ {
			u[q+2*h], u[q+2*h+1] = YMM(), YMM()
			VUNPCKLPD(t[q+2+h], t[q+h], u[q+2*h])
			VUNPCKHPD(t[q+2+h], t[q+h], u[q+2*h+1])
		}
	}
	// u[4q+c]: column c (low half) and c+4 (high half) of rows 4q..4q+3.
	for c := 0; c < 4; c++ {
		out[c], out[c+4] = YMM(), YMM()
		VPERM2F128(U8(0x20), u[4+c], u[c], out[c])   // column c: rows 0-3 | 4-7
		VPERM2F128(U8(0x31), u[4+c], u[c], out[c+4]) // column c+4
	}
	return out
}

func matVec256() {
	TEXT("matVec256", NOSPLIT, "func(k int, a *float32, lda int, rows int, x *float32, y *float32, bias *float32, load bool, kmask *int32, ymask *int32)")
	Pragma("noescape")
	Doc(
		"matVec256 computes up to 8 rows of y = A·x: for r < rows (1..8),",
		"y[r] = (load ? y[r] : 0) + bias[r] + Σ_{j<k} A[r*lda+j]·x[j]. kmask and",
		"ymask point to 8 int32 masks (-1 = lane in use) for the last k%8",
		"columns and for the rows. bias may be nil.",
	)
	// As matVec512 with one set of 8 ymm accumulators (8 chains, enough for
	// two pipes of latency 4), x in one register: 10 of the 16 registers.
	k := Load(Param("k"), GP64())
	a := Load(Param("a"), GP64())
	lda := Load(Param("lda"), GP64())
	SHLQ(U8(2), lda)
	rows := Load(Param("rows"), GP64())
	x := Load(Param("x"), GP64())
	ptr := make([]Register, 8)
	ptr[0] = a
	for r := 1; r < 8; r++ {
		ptr[r] = GP64()
		MOVQ(ptr[r-1], ptr[r])
		next := GP64()
		LEAQ(Mem{Base: ptr[r-1], Index: lda, Scale: 1}, next)
		CMPQ(rows, U8(r))
		CMOVQGT(next, ptr[r])
	}
	var acc [8]VecVirtual
	for r := range acc {
		acc[r] = YMM()
		VXORPS(acc[r], acc[r], acc[r])
	}
	j := GP64()
	XORQ(j, j)
	rem := GP64()
	Label("matVec256_loop")
	MOVQ(k, rem)
	SUBQ(j, rem)
	CMPQ(rem, U8(8))
	JL(LabelRef("matVec256_tail"))
	xv := YMM()
	VMOVUPS(Mem{Base: x, Index: j, Scale: 4}, xv)
	for r := 0; r < 8; r++ {
		VFMADD231PS(Mem{Base: ptr[r], Index: j, Scale: 4}, xv, acc[r])
	}
	ADDQ(U8(8), j)
	JMP(LabelRef("matVec256_loop"))
	Label("matVec256_tail")
	TESTQ(rem, rem)
	JZ(LabelRef("matVec256_reduce"))
	{
		m := YMM()
		VMOVUPS(Mem{Base: Load(Param("kmask"), GP64())}, m)
		xt := YMM()
		VMASKMOVPS(Mem{Base: x, Index: j, Scale: 4}, m, xt)
		for r := 0; r < 8; r++ {
			ar := YMM()
			VMASKMOVPS(Mem{Base: ptr[r], Index: j, Scale: 4}, m, ar)
			VFMADD231PS(ar, xt, acc[r])
		}
	}
	Label("matVec256_reduce")
	var h [8]VecVirtual
	copy(h[:], acc[:])
	sums := hadd8(h)
	ym := YMM()
	VMOVUPS(Mem{Base: Load(Param("ymask"), GP64())}, ym)
	y := Load(Param("y"), GP64())
	load := Load(Param("load"), GP8())
	TESTB(load, load)
	JZ(LabelRef("matVec256_bias"))
	old := YMM()
	VMASKMOVPS(Mem{Base: y}, ym, old)
	VADDPS(old, sums, sums)
	Label("matVec256_bias")
	bias := Load(Param("bias"), GP64())
	TESTQ(bias, bias)
	JZ(LabelRef("matVec256_store"))
	bv := YMM()
	VMASKMOVPS(Mem{Base: bias}, ym, bv)
	VADDPS(bv, sums, sums)
	Label("matVec256_store")
	VMASKMOVPS(sums, ym, Mem{Base: y})
	VZEROUPPER()
	RET()
}

// hadd8 returns a ymm whose lane r is the sum of the 8 lanes of h[r]
// (the second half of reduce8).
func hadd8(h [8]VecVirtual) VecVirtual {
	var g [4]VecVirtual
	for i := 0; i < 4; i++ {
		g[i] = YMM()
		VHADDPS(h[2*i+1], h[2*i], g[i])
	}
	f0, f1 := YMM(), YMM()
	VHADDPS(g[1], g[0], f0)
	VHADDPS(g[3], g[2], f1)
	lo, hi := YMM(), YMM()
	VPERM2F128(U8(0x20), f1, f0, lo)
	VPERM2F128(U8(0x31), f1, f0, hi)
	VADDPS(hi, lo, lo)
	return lo
}

func matVecBatch256(mr int) {
	name := fmt.Sprintf("matVecBatch256x%d", mr)
	TEXT(name, NOSPLIT, "func(k int, a *float32, lda int, x *float32, ldx int, y *float32, ldy int, bias *float32, load bool, mask *int32)")
	Pragma("noescape")
	Doc(
		fmt.Sprintf("%s computes %d rows of Y = A·X for up to 8 streams (the lanes set in the", name, mr),
		"8 int32 at mask): Y[r*ldy+s] = (load ? Y[r*ldy+s] : 0) + bias[r] + Σ_j A[r*lda+j]·X[j*ldx+s]; k ≥ 1.",
	)
	// mr (≤ 8) accumulators, one X row, one broadcast, the mask: ≤ 11 ymm.
	m := YMM()
	VMOVUPS(Mem{Base: Load(Param("mask"), GP64())}, m)
	acc := make([]VecVirtual, mr)
	for r := range acc {
		acc[r] = YMM()
		VXORPS(acc[r], acc[r], acc[r])
	}
	k := Load(Param("k"), GP64())
	a0, a4, lda, lda3 := stridedRows("a", "lda", mr)
	x := Load(Param("x"), GP64())
	ldx := Load(Param("ldx"), GP64())
	SHLQ(U8(2), ldx)
	Label(name + "_loop")
	xv := YMM()
	VMASKMOVPS(Mem{Base: x}, m, xv)
	for r := 0; r < mr; r++ {
		t := YMM()
		VBROADCASTSS(rowMem(r, a0, a4, lda, lda3), t)
		VFMADD231PS(xv, t, acc[r])
	}
	ADDQ(ldx, x)
	ADDQ(U8(4), a0)
	if a4 != nil {
		ADDQ(U8(4), a4)
	}
	DECQ(k)
	JNZ(LabelRef(name + "_loop"))

	y0, y4, ldy, ldy3 := stridedRows("y", "ldy", mr)
	load := Load(Param("load"), GP8())
	TESTB(load, load)
	JZ(LabelRef(name + "_bias"))
	for r := 0; r < mr; r++ {
		old := YMM()
		VMASKMOVPS(rowMem(r, y0, y4, ldy, ldy3), m, old)
		VADDPS(old, acc[r], acc[r])
	}
	Label(name + "_bias")
	bias := Load(Param("bias"), GP64())
	TESTQ(bias, bias)
	JZ(LabelRef(name + "_store"))
	for r := 0; r < mr; r++ {
		b := YMM()
		VBROADCASTSS(Mem{Base: bias, Disp: 4 * r}, b)
		VADDPS(b, acc[r], acc[r])
	}
	Label(name + "_store")
	for r := 0; r < mr; r++ {
		VMASKMOVPS(acc[r], m, rowMem(r, y0, y4, ldy, ldy3))
	}
	VZEROUPPER()
	RET()
}

func gemm256() {
	for mr := 1; mr <= tileRows256; mr++ {
		for nv := 1; nv <= 3; nv++ {
			gemmTile256(mr, nv)
		}
	}
	packNN256()
	packNT256()
	matVec256()
	matVecBF16256()
	for _, mr := range []int{8, 4, 2, 1} {
		matVecBatch256(mr)
	}
}

// matVecBF16256 is matVec256 with A in bfloat16, widened as in
// matVecBF16512 (vpmovzxwd from memory, shift left by 16). It handles the
// columns j < k with k a positive multiple of 8; the Go driver adds the
// last k%8 columns.
func matVecBF16256() {
	TEXT("matVecBF16256", NOSPLIT, "func(k int, a *uint16, lda int, rows int, x *float32, y *float32, bias *float32, load bool, ymask *int32)")
	Pragma("noescape")
	Doc(
		"matVecBF16256 computes up to 8 rows of y = A·x with A in bfloat16: for r < rows,",
		"y[r] = (load ? y[r] : 0) + bias[r] + Σ_{j<k} float32(A[r*lda+j])·x[j]; k a positive",
		"multiple of 8. ymask points to 8 int32 masks (-1 = row in use). bias may be nil.",
	)
	k := Load(Param("k"), GP64())
	a := Load(Param("a"), GP64())
	lda := Load(Param("lda"), GP64())
	SHLQ(U8(1), lda)
	rows := Load(Param("rows"), GP64())
	x := Load(Param("x"), GP64())
	ptr := make([]Register, 8)
	ptr[0] = a
	for r := 1; r < 8; r++ {
		ptr[r] = GP64()
		MOVQ(ptr[r-1], ptr[r])
		next := GP64()
		LEAQ(Mem{Base: ptr[r-1], Index: lda, Scale: 1}, next)
		CMPQ(rows, U8(r))
		CMOVQGT(next, ptr[r])
	}
	var acc [8]VecVirtual
	for r := range acc {
		acc[r] = YMM()
		VXORPS(acc[r], acc[r], acc[r])
	}
	j := GP64()
	XORQ(j, j)
	Label("matVecBF16256_loop")
	xv := YMM()
	VMOVUPS(Mem{Base: x, Index: j, Scale: 4}, xv)
	for r := 0; r < 8; r++ {
		w := YMM()
		VPMOVZXWD(Mem{Base: ptr[r], Index: j, Scale: 2}, w)
		VPSLLD(U8(16), w, w)
		VFMADD231PS(w, xv, acc[r])
	}
	ADDQ(U8(8), j)
	CMPQ(j, k)
	JL(LabelRef("matVecBF16256_loop"))
	var h [8]VecVirtual
	copy(h[:], acc[:])
	sums := hadd8(h)
	ym := YMM()
	VMOVUPS(Mem{Base: Load(Param("ymask"), GP64())}, ym)
	y := Load(Param("y"), GP64())
	load := Load(Param("load"), GP8())
	TESTB(load, load)
	JZ(LabelRef("matVecBF16256_bias"))
	old := YMM()
	VMASKMOVPS(Mem{Base: y}, ym, old)
	VADDPS(old, sums, sums)
	Label("matVecBF16256_bias")
	bias := Load(Param("bias"), GP64())
	TESTQ(bias, bias)
	JZ(LabelRef("matVecBF16256_store"))
	bv := YMM()
	VMASKMOVPS(Mem{Base: bias}, ym, bv)
	VADDPS(bv, sums, sums)
	Label("matVecBF16256_store")
	VMASKMOVPS(sums, ym, Mem{Base: y})
	VZEROUPPER()
	RET()
}
