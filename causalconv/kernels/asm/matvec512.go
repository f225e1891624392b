package main

import (
	"fmt"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

// # Matrix-vector products with AVX-512 (generation)
//
// MatVec, y = A·x with A row-major, is a dot product per row. The kernel
// takes 8 rows at once so that each load of x feeds 8 FMAs whose other
// operand comes straight from memory (the rows of A): 9 loads per 8 FMAs.
// That is load-bound, as any matrix-vector product is: every element of A
// is used once. Two sets of 8 accumulators (j even and odd blocks of 16)
// give 16 independent chains. At the end the 8 row sums are reduced
// together ("transposing" reduction): each zmm is folded to a ymm, then
// three levels of vhaddps and one 128-bit permute leave the 8 sums in one
// ymm, 25 instructions for 8 rows instead of ~6 per row.
//
// Rows past the end of the block (m not a multiple of 8) reuse the last
// real row's pointer and their results are masked off at the store.

func matVec512() {
	TEXT("matVec512", NOSPLIT, "func(k int, a *float32, lda int, rows int, x *float32, y *float32, bias *float32, load bool, kmask uint16, ymask uint16)")
	Pragma("noescape")
	Doc(
		"matVec512 computes up to 8 rows of y = A·x: for r < rows (1..8, ymask",
		"has their bits set), y[r] = (load ? y[r] : 0) + bias[r] + Σ_{j<k} A[r*lda+j]·x[j].",
		"kmask has the low k%16 bits set. bias may be nil.",
	)
	k := Load(Param("k"), GP64())
	a := Load(Param("a"), GP64())
	lda := Load(Param("lda"), GP64())
	SHLQ(U8(2), lda)
	rows := Load(Param("rows"), GP64())
	x := Load(Param("x"), GP64())

	Comment("Row pointers: row r = a + r·lda for r < rows, else the previous row.")
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

	var acc [2][8]VecVirtual
	for s := range acc {
		for r := range acc[s] {
			acc[s][r] = ZMM()
			VXORPS(acc[s][r], acc[s][r], acc[s][r])
		}
	}
	j := GP64()
	XORQ(j, j)
	Comment("Main loop: 32 columns per iteration, two accumulator sets.")
	Label("matVec512_loop2")
	rem := GP64()
	MOVQ(k, rem)
	SUBQ(j, rem)
	CMPQ(rem, U8(32))
	JL(LabelRef("matVec512_one"))
	for s := 0; s < 2; s++ {
		xv := ZMM()
		VMOVUPS(Mem{Base: x, Index: j, Scale: 4, Disp: 64 * s}, xv)
		for r := 0; r < 8; r++ {
			VFMADD231PS(Mem{Base: ptr[r], Index: j, Scale: 4, Disp: 64 * s}, xv, acc[s][r])
		}
	}
	ADDQ(U8(32), j)
	JMP(LabelRef("matVec512_loop2"))

	Label("matVec512_one")
	CMPQ(rem, U8(16))
	JL(LabelRef("matVec512_tail"))
	{
		xv := ZMM()
		VMOVUPS(Mem{Base: x, Index: j, Scale: 4}, xv)
		for r := 0; r < 8; r++ {
			VFMADD231PS(Mem{Base: ptr[r], Index: j, Scale: 4}, xv, acc[0][r])
		}
		ADDQ(U8(16), j)
		SUBQ(U8(16), rem)
	}
	Label("matVec512_tail")
	TESTQ(rem, rem)
	JZ(LabelRef("matVec512_reduce"))
	{
		Comment("Last k%16 columns: masked x (zero beyond k) and merge-masked FMAs,")
		Comment("whose masked-off memory lanes are never read.")
		km := K()
		KMOVW(Load(Param("kmask"), GP32()), km)
		xv := ZMM()
		VMOVUPS_Z(Mem{Base: x, Index: j, Scale: 4}, km, xv)
		for r := 0; r < 8; r++ {
			VFMADD231PS(Mem{Base: ptr[r], Index: j, Scale: 4}, xv, km, acc[1][r])
		}
	}

	Label("matVec512_reduce")
	sums := reduce8(acc)

	Comment("y = sums (+ y) (+ bias), rows masked.")
	ym := K()
	KMOVW(Load(Param("ymask"), GP32()), ym)
	y := Load(Param("y"), GP64())
	load := Load(Param("load"), GP8())
	TESTB(load, load)
	JZ(LabelRef("matVec512_bias"))
	old := YMM()
	VMOVUPS_Z(Mem{Base: y}, ym, old)
	VADDPS(old, sums, sums)
	Label("matVec512_bias")
	bias := Load(Param("bias"), GP64())
	TESTQ(bias, bias)
	JZ(LabelRef("matVec512_store"))
	bv := YMM()
	VMOVUPS_Z(Mem{Base: bias}, ym, bv)
	VADDPS(bv, sums, sums)
	Label("matVec512_store")
	VMOVUPS(sums, ym, Mem{Base: y})
	VZEROUPPER()
	RET()
}

// reduce8 adds the two accumulator sets and returns a ymm whose lane r is
// the sum of the 16 lanes of row r's accumulator.
func reduce8(acc [2][8]VecVirtual) VecVirtual {
	var h [8]VecVirtual
	for r := 0; r < 8; r++ {
		VADDPS(acc[1][r], acc[0][r], acc[0][r])
		h[r] = YMM()
		VEXTRACTF32X8(U8(1), acc[0][r], h[r])
		VADDPS(acc[0][r].AsY(), h[r], h[r]) // 8 lanes per row
	}
	// vhaddps(a, b) = [a0+a1, a2+a3, b0+b1, b2+b3 | a4+a5, a6+a7, b4+b5, b6+b7]
	var g [4]VecVirtual
	for i := 0; i < 4; i++ {
		g[i] = YMM()
		VHADDPS(h[2*i+1], h[2*i], g[i])
	}
	// After the second level each 128-bit half holds one partial sum of
	// four rows: f0 = rows 0-3 (low half: lanes 0-3 of each row, high:
	// lanes 4-7), f1 = rows 4-7.
	f0, f1 := YMM(), YMM()
	VHADDPS(g[1], g[0], f0)
	VHADDPS(g[3], g[2], f1)
	lo, hi := YMM(), YMM()
	VPERM2F128(U8(0x20), f1, f0, lo) // low halves: rows 0-3 | rows 4-7
	VPERM2F128(U8(0x31), f1, f0, hi) // high halves
	VADDPS(hi, lo, lo)
	return lo
}

func matVecBatch512(mr int) {
	name := fmt.Sprintf("matVecBatch512x%d", mr)
	TEXT(name, NOSPLIT, "func(k int, a *float32, lda int, x *float32, ldx int, y *float32, ldy int, bias *float32, load bool, mask uint16)")
	Pragma("noescape")
	Doc(
		fmt.Sprintf("%s computes %d rows of Y = A·X for up to 16 streams (the lanes set in mask):", name, mr),
		"Y[r*ldy+s] = (load ? Y[r*ldy+s] : 0) + bias[r] + Σ_{j<k} A[r*lda+j]·X[j*ldx+s]; k ≥ 1.",
	)
	// The tile is mr rows × one zmm of streams: per j one (masked) load of
	// X's row j and mr broadcasts of A[r][j] feed mr FMAs, with mr = 16
	// independent accumulators. With 8 streams half of each FMA is idle,
	// which still leaves twice the 40 GFLOP/s needed for generation.
	km := K()
	KMOVW(Load(Param("mask"), GP32()), km)
	bases := func(ptr, stride string) (b []Register, ld, ld3 Register) {
		b = []Register{Load(Param(ptr), GP64())}
		ld = Load(Param(stride), GP64())
		SHLQ(U8(2), ld)
		ld3 = GP64()
		LEAQ(Mem{Base: ld, Index: ld, Scale: 2}, ld3)
		for r := 4; r < mr; r += 4 {
			nb := GP64()
			LEAQ(Mem{Base: b[len(b)-1], Index: ld, Scale: 4}, nb)
			b = append(b, nb)
		}
		return
	}
	row := func(r int, b []Register, ld, ld3 Register) Mem {
		base := b[r/4]
		switch r % 4 {
		case 0:
			return Mem{Base: base}
		case 1:
			return Mem{Base: base, Index: ld, Scale: 1}
		case 2:
			return Mem{Base: base, Index: ld, Scale: 2}
		}
		return Mem{Base: base, Index: ld3, Scale: 1}
	}
	acc := make([]VecVirtual, mr)
	for r := range acc {
		acc[r] = ZMM()
		VXORPS(acc[r], acc[r], acc[r])
	}
	k := Load(Param("k"), GP64())
	ab, lda, lda3 := bases("a", "lda")
	x := Load(Param("x"), GP64())
	ldx := Load(Param("ldx"), GP64())
	SHLQ(U8(2), ldx)
	Label(name + "_loop")
	xv := ZMM()
	VMOVUPS_Z(Mem{Base: x}, km, xv)
	for r := 0; r < mr; r++ {
		t := ZMM()
		VBROADCASTSS(row(r, ab, lda, lda3), t)
		VFMADD231PS(xv, t, acc[r])
	}
	ADDQ(ldx, x)
	for _, b := range ab {
		ADDQ(U8(4), b)
	}
	DECQ(k)
	JNZ(LabelRef(name + "_loop"))

	yb, ldy, ldy3 := bases("y", "ldy")
	load := Load(Param("load"), GP8())
	TESTB(load, load)
	JZ(LabelRef(name + "_bias"))
	for r := 0; r < mr; r++ {
		VADDPS_Z(row(r, yb, ldy, ldy3), acc[r], km, acc[r])
	}
	Label(name + "_bias")
	bias := Load(Param("bias"), GP64())
	TESTQ(bias, bias)
	JZ(LabelRef(name + "_store"))
	for r := 0; r < mr; r++ {
		VADDPS_BCST(Mem{Base: bias, Disp: 4 * r}, acc[r], acc[r])
	}
	Label(name + "_store")
	for r := 0; r < mr; r++ {
		VMOVUPS(acc[r], km, row(r, yb, ldy, ldy3))
	}
	VZEROUPPER()
	RET()
}
