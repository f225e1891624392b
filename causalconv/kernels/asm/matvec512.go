package main

import (
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
//
// There is no AVX-512 MatVecBatch kernel: on this CPU as measured here a zmm
// FMA has the throughput of two ymm FMAs (the 512-bit operations are
// executed as two halves), so with 8 streams a zmm kernel wastes half of
// every FMA while the ymm kernel (matVecBatch256) does not.

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

// matVecBF16512 is matVec512 with A in bfloat16: a bf16 is the upper half
// of a float32, so vpmovzxwd (16 words → 16 dwords, straight from memory)
// and a 16-bit left shift widen 16 weights exactly to float32, and the
// FMAs are those of matVec512. A is half the bytes, which is what a
// matrix-vector product is limited by; x stays float32. (vdpbf16ps would
// also round x to bf16, and the Go assembler does not know it.)
func matVecBF16512() {
	TEXT("matVecBF16512", NOSPLIT, "func(k int, a *uint16, lda int, rows int, x *float32, y *float32, bias *float32, load bool, kmask uint16, ymask uint16)")
	Pragma("noescape")
	Doc(
		"matVecBF16512 computes up to 8 rows of y = A·x with A in bfloat16: for r < rows,",
		"y[r] = (load ? y[r] : 0) + bias[r] + Σ_{j<k} float32(A[r*lda+j])·x[j]. kmask has the",
		"low k%16 bits set, ymask the low rows bits. bias may be nil.",
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
	var acc [2][8]VecVirtual
	for s := range acc {
		for r := range acc[s] {
			acc[s][r] = ZMM()
			VXORPS(acc[s][r], acc[s][r], acc[s][r])
		}
	}
	j := GP64()
	XORQ(j, j)
	rem := GP64()
	// widen loads 16 bf16 of row r at column j (+16·s) as float32.
	widen := func(r, s int) VecVirtual {
		w := ZMM()
		VPMOVZXWD(Mem{Base: ptr[r], Index: j, Scale: 2, Disp: 32 * s}, w)
		VPSLLD(U8(16), w, w)
		return w
	}
	Label("matVecBF16512_loop2")
	MOVQ(k, rem)
	SUBQ(j, rem)
	CMPQ(rem, U8(32))
	JL(LabelRef("matVecBF16512_one"))
	for s := 0; s < 2; s++ {
		xv := ZMM()
		VMOVUPS(Mem{Base: x, Index: j, Scale: 4, Disp: 64 * s}, xv)
		for r := 0; r < 8; r++ {
			VFMADD231PS(widen(r, s), xv, acc[s][r])
		}
	}
	ADDQ(U8(32), j)
	JMP(LabelRef("matVecBF16512_loop2"))
	Label("matVecBF16512_one")
	CMPQ(rem, U8(16))
	JL(LabelRef("matVecBF16512_tail"))
	{
		xv := ZMM()
		VMOVUPS(Mem{Base: x, Index: j, Scale: 4}, xv)
		for r := 0; r < 8; r++ {
			VFMADD231PS(widen(r, 0), xv, acc[0][r])
		}
		ADDQ(U8(16), j)
		SUBQ(U8(16), rem)
	}
	Label("matVecBF16512_tail")
	TESTQ(rem, rem)
	JZ(LabelRef("matVecBF16512_reduce"))
	{
		km := K()
		KMOVW(Load(Param("kmask"), GP32()), km)
		xv := ZMM()
		VMOVUPS_Z(Mem{Base: x, Index: j, Scale: 4}, km, xv)
		for r := 0; r < 8; r++ {
			w := ZMM()
			VPMOVZXWD_Z(Mem{Base: ptr[r], Index: j, Scale: 2}, km, w)
			VPSLLD(U8(16), w, w)
			VFMADD231PS(w, xv, acc[1][r])
		}
	}
	Label("matVecBF16512_reduce")
	sums := reduce8(acc)
	ym := K()
	KMOVW(Load(Param("ymask"), GP32()), ym)
	y := Load(Param("y"), GP64())
	load := Load(Param("load"), GP8())
	TESTB(load, load)
	JZ(LabelRef("matVecBF16512_bias"))
	old := YMM()
	VMOVUPS_Z(Mem{Base: y}, ym, old)
	VADDPS(old, sums, sums)
	Label("matVecBF16512_bias")
	bias := Load(Param("bias"), GP64())
	TESTQ(bias, bias)
	JZ(LabelRef("matVecBF16512_store"))
	bv := YMM()
	VMOVUPS_Z(Mem{Base: bias}, ym, bv)
	VADDPS(bv, sums, sums)
	Label("matVecBF16512_store")
	VMOVUPS(sums, ym, Mem{Base: y})
	VZEROUPPER()
	RET()
}
