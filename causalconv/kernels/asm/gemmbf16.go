package main

import (
	"fmt"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

// # Mixed-precision GEMM with AVX512_BF16
//
// VDPBF16PS takes two vectors of bf16 pairs and, in each 32-bit lane,
// adds both products of its pair to a float32 accumulator:
//
//	acc[x] += a.lo·b[x].lo + a.hi·b[x].hi
//
// 16 lanes × 2 multiply-adds per zmm instruction at the issue rate of a
// zmm FMA, which does 16: BenchmarkBF16Peak measures 2.0x the FMA peak on
// the project's CPU. So the bf16 kernels are the fp32 ones (gemm512.go)
// with the reduction axis taken two at a time:
//
//	C[r][0:48] (+)= Σ_{q<kp} A2[r][q] · P[q][0:48]      for r < mr ≤ 8
//
// where A2[r][q] is the bf16 pair (A[r][2q], A[r][2q+1]), broadcast to all
// lanes, and P[q][x] is the pair (B[2q][x], B[2q+1][x]) of column x: one
// row of the panel is 48 pairs, three zmm, 192 bytes as in the fp32
// panel, so a 24 KiB panel holds 128 pairs = 256 steps of the reduction.
//
//   - GemmNN: A is a weight matrix already in bf16 (row-major, so its pairs
//     are adjacent; a zero pads odd k), and packNNBF16 rounds two rows of B
//     and interleaves them column by column.
//   - GemmNT: "j" runs over time. The two operands are activations and
//     gradients in float32; toBF16Row rounds rows of A (a time block of the
//     gradient) into a scratch buffer, where consecutive time steps form the
//     pairs, and packNTBF16 rounds and transposes B like packNT512, but 16
//     pairs (32 time steps) of a row per zmm.
//
// Operands are rounded to nearest even (VCVTNE2PS2BF16); the sums stay
// float32. Both instructions also flush denormal inputs to zero and
// ignore MXCSR: values below 2^-126 count as zero, which changes nothing
// at the scale of a network's activations.
//
// Registers are physical (see bf16.go): accumulator (r, v) is Z(3r+v),
// Z0–Z23; the panel row is Z24–Z26; broadcasts rotate through Z27–Z31.

// stridedRowsShift is stridedRows for elements of 1 << shift bytes.
func stridedRowsShift(ptr, stride string, rows int, shift uint8) (base0, base4, ld, ld3 Register) {
	base0 = Load(Param(ptr), GP64())
	ld = Load(Param(stride), GP64())
	SHLQ(U8(shift), ld)
	ld3 = GP64()
	LEAQ(Mem{Base: ld, Index: ld, Scale: 2}, ld3)
	if rows > 4 {
		base4 = GP64()
		LEAQ(Mem{Base: base0, Index: ld, Scale: 4}, base4)
	}
	return
}

// gemmTileBF16 generates the bf16 kernel for mr rows and nv vectors.
func gemmTileBF16(mr, nv int) {
	name := fmt.Sprintf("gemmTileBF16x%dv%d", mr, nv)
	TEXT(name, NOSPLIT, "func(kp int, a *uint16, lda int, p *uint16, c *float32, ldc int, bias *float32, load bool, mask uint64)")
	Pragma("noescape")
	Doc(
		fmt.Sprintf("%s computes a %d×%d tile: for r < %d and the columns x < %d set in mask,", name, mr, 16*nv, mr, 16*nv),
		"C[r*ldc+x] = (load ? C[r*ldc+x] : 0) + bias[r] + Σ_{q<kp} Σ_{h<2} A[r*lda+2q+h]·P[q*96+2x+h]",
		"with A and P in bfloat16 (lda in elements, even; A's rows are read in",
		"pairs, so 2·kp elements of each). bias may be nil; kp ≥ 1. P is a packed",
		"panel (packNNBF16 or packNTBF16). Requires AVX512_BF16.",
	)
	acc := func(r, v int) Physical { return zmm(3*r + v) }
	panel := func(v int) Physical { return zmm(24 + v) }
	bcast := 0
	nextBcast := func() Physical {
		x := zmm(27 + bcast%5)
		bcast++
		return x
	}

	Comment("Column masks: bits 0-15, 16-31, 32-47 of mask for the three zmm of a row.")
	msk := Load(Param("mask"), GP64())
	kmask := [3]Op{K(), K(), K()}
	KMOVQ(msk, kmask[0])
	KSHIFTRQ(U8(16), kmask[0], kmask[1])
	KSHIFTRQ(U8(32), kmask[0], kmask[2])

	c0, c4, ldc, ldc3 := stridedRowsShift("c", "ldc", mr, 2)

	Comment("Accumulators start from C (masked) or zero.")
	load := Load(Param("load"), GP8())
	TESTB(load, load)
	JZ(LabelRef(name + "_zero"))
	for r := 0; r < mr; r++ {
		for v := 0; v < nv; v++ {
			VMOVUPS_Z(rowMem(r, c0, c4, ldc, ldc3).Offset(64*v), kmask[v], acc(r, v))
		}
	}
	JMP(LabelRef(name + "_bias"))
	Label(name + "_zero")
	for r := 0; r < mr; r++ {
		for v := 0; v < nv; v++ {
			VPXORD(acc(r, v), acc(r, v), acc(r, v))
		}
	}
	Label(name + "_bias")
	bias := Load(Param("bias"), GP64())
	TESTQ(bias, bias)
	JZ(LabelRef(name + "_body"))
	for r := 0; r < mr; r++ {
		b := nextBcast()
		VBROADCASTSS(Mem{Base: bias, Disp: 4 * r}, b)
		for v := 0; v < nv; v++ {
			VADDPS(b, acc(r, v), acc(r, v))
		}
	}

	Label(name + "_body")
	kp := Load(Param("kp"), GP64())
	a0, a4, lda, lda3 := stridedRowsShift("a", "lda", mr, 1)
	p := Load(Param("p"), GP64())

	// step is one pair q: three panel loads, then per row one 32-bit
	// broadcast of the row's pair and nv VDPBF16PS.
	step := func(u int) {
		for v := 0; v < nv; v++ {
			VMOVDQU32(Mem{Base: p, Disp: u*panelRow512 + 64*v}, panel(v))
		}
		for r := 0; r < mr; r++ {
			x := nextBcast()
			VPBROADCASTD(rowMem(r, a0, a4, lda, lda3).Offset(4*u), x)
			for v := 0; v < nv; v++ {
				VDPBF16PS(panel(v), x, acc(r, v))
			}
		}
	}
	advance := func(u int) {
		ADDQ(U32(u*panelRow512), p)
		ADDQ(U8(4*u), a0)
		if a4 != nil {
			ADDQ(U8(4*u), a4)
		}
	}

	Comment("Main loop, unrolled by two pairs.")
	Label(name + "_loop2")
	CMPQ(kp, U8(2))
	JL(LabelRef(name + "_tail"))
	step(0)
	step(1)
	advance(2)
	SUBQ(U8(2), kp)
	JMP(LabelRef(name + "_loop2"))

	Label(name + "_tail")
	TESTQ(kp, kp)
	JZ(LabelRef(name + "_store"))
	step(0)

	Label(name + "_store")
	for r := 0; r < mr; r++ {
		for v := 0; v < nv; v++ {
			VMOVUPS(acc(r, v), kmask[v], rowMem(r, c0, c4, ldc, ldc3).Offset(64*v))
		}
	}
	VZEROUPPER()
	RET()
}

// pairIndex is the VPERMW table that interleaves the two halves of a zmm
// of 32 words: word 2i ← word i, word 2i+1 ← word 16+i.
func pairIndex() Mem {
	if m, ok := constDefined["pairIndex"]; ok {
		return m
	}
	m := GLOBL("c_pairIndex", RODATA|NOPTR)
	for i := 0; i < 16; i++ {
		DATA(4*i, U16(i))
		DATA(4*i+2, U16(16+i))
	}
	constDefined["pairIndex"] = m
	return m
}

func packNNBF16() {
	TEXT("packNNBF16", NOSPLIT, "func(k int, b *float32, off *int, t0 int, p *uint16, mask uint64)")
	Pragma("noescape")
	Doc(
		"packNNBF16 rounds a 48-column slice of k ≥ 1 rows of B to bfloat16 and",
		"interleaves the rows in pairs: P[q*96+2x+h] = bf16(B[off[2q+h]+t0+x])",
		"for the columns x set in mask, 0 for the others and for the missing",
		"row of the last pair when k is odd. Requires AVX512_BF16.",
	)
	msk := Load(Param("mask"), GP64())
	kmask := [3]Op{K(), K(), K()}
	KMOVQ(msk, kmask[0])
	KSHIFTRQ(U8(16), kmask[0], kmask[1])
	KSHIFTRQ(U8(32), kmask[0], kmask[2])
	k := Load(Param("k"), GP64())
	b := Load(Param("b"), GP64())
	t0 := Load(Param("t0"), GP64())
	LEAQ(Mem{Base: b, Index: t0, Scale: 4}, b)
	off := Load(Param("off"), GP64())
	p := Load(Param("p"), GP64())
	idx := zmm(31)
	VMOVDQU16(pairIndex(), idx)

	// pair packs rows x (and y, unless half) of one pair. Registers: the
	// rows Z0-Z5, the rounded halves Z6-Z8, interleaved Z9-Z11.
	pair := func(half bool) {
		rowX, rowY := GP64(), GP64()
		MOVQ(Mem{Base: off}, rowX)
		srcX := Mem{Base: b, Index: rowX, Scale: 4}
		var srcY Mem
		if !half {
			MOVQ(Mem{Base: off, Disp: 8}, rowY)
			srcY = Mem{Base: b, Index: rowY, Scale: 4}
		}
		for v := 0; v < 3; v++ {
			x, y := zmm(2*v), zmm(2*v+1)
			VMOVUPS_Z(srcX.Offset(64*v), kmask[v], x)
			if half {
				VPXORD(y, y, y)
			} else {
				VMOVUPS_Z(srcY.Offset(64*v), kmask[v], y)
			}
			Comment("Words 0-15: row x, words 16-31: row y; then x0 y0 x1 y1 …")
			VCVTNE2PS2BF16(x, y, zmm(6+v))
			VPERMW(zmm(6+v), idx, zmm(9+v))
			VMOVDQU16(zmm(9+v), Mem{Base: p, Disp: 64 * v})
		}
		Comment("The next 48-column panel of these rows will be wanted soon.")
		for _, src := range []Mem{srcX, srcY} {
			if src.Base == nil {
				continue
			}
			PREFETCHT0(src.Offset(panelRow512))
			PREFETCHT0(src.Offset(panelRow512 + 64))
			PREFETCHT0(src.Offset(panelRow512 + 128))
		}
	}

	Label("packNNBF16_loop")
	CMPQ(k, U8(2))
	JL(LabelRef("packNNBF16_half"))
	pair(false)
	ADDQ(U8(16), off)
	ADDQ(U32(panelRow512), p)
	SUBQ(U8(2), k)
	JMP(LabelRef("packNNBF16_loop"))

	Label("packNNBF16_half")
	TESTQ(k, k)
	JZ(LabelRef("packNNBF16_done"))
	Comment("k odd: the last row, paired with zeros.")
	pair(true)
	Label("packNNBF16_done")
	VZEROUPPER()
	RET()
}

func packNTBF16() {
	TEXT("packNTBF16", NOSPLIT, "func(n int, b *float32, off *int, p *uint16, mask uint32)")
	Pragma("noescape")
	Doc(
		"packNTBF16 rounds 16 rows of B over n ≥ 1 columns to bfloat16 and",
		"transposes them into 16 columns of pairs of the panel P:",
		"P[q*96+2r+h] = bf16(B[off[r]+2q+h]) for r < 16, 2q+h < n, and 0 for",
		"2q+h = n when n is odd. mask has the low n%32 bits set (all 32 if",
		"n%32 == 0): the last block of 1-32 columns is loaded with it (zero",
		"beyond n), so nothing past B's end is read. The last block stores 16",
		"pairs (32 columns) whatever n. Requires AVX512_BF16.",
	)
	n := Load(Param("n"), GP64())
	b := Load(Param("b"), GP64())
	off := Load(Param("off"), GP64())
	p := Load(Param("p"), GP64())
	tail := [2]Op{K(), K()}
	KMOVD(Load(Param("mask"), GP32()), tail[0])
	KSHIFTRD(U8(16), tail[0], tail[1])

	// block rounds 16 rows × 32 columns into Z0-Z15 (row r: its 16 pairs,
	// loaded through Z16, Z17) and transposes them.
	block := func(masked bool) {
		var r [16]Physical
		for i := range r {
			row := GP64()
			MOVQ(Mem{Base: off, Disp: 8 * i}, row)
			lo, hi := zmm(16), zmm(17)
			src := Mem{Base: b, Index: row, Scale: 4}
			if masked {
				VMOVUPS_Z(src, tail[0], lo)
				VMOVUPS_Z(src.Offset(64), tail[1], hi)
			} else {
				VMOVUPS(src, lo)
				VMOVUPS(src.Offset(64), hi)
			}
			r[i] = zmm(i)
			VCVTNE2PS2BF16(lo, hi, r[i])
		}
		out := transpose16x16(r)
		for q := range out {
			VMOVDQU32(out[q], Mem{Base: p, Disp: q * panelRow512})
		}
	}

	Label("packNTBF16_loop")
	CMPQ(n, U8(32))
	JLE(LabelRef("packNTBF16_last"))
	block(false)
	ADDQ(U8(128), b)
	ADDQ(U32(16*panelRow512), p)
	SUBQ(U8(32), n)
	JMP(LabelRef("packNTBF16_loop"))
	Label("packNTBF16_last")
	Comment("The last 1-32 columns, with the tail mask.")
	block(true)
	VZEROUPPER()
	RET()
}

func toBF16Row() {
	TEXT("toBF16Row", NOSPLIT, "func(blocks int, src *float32, dst *uint16, mask uint32)")
	Pragma("noescape")
	Doc(
		"toBF16Row rounds blocks ≥ 1 blocks of 32 floats of src to bfloat16",
		"into dst (nearest even). The last block is loaded with mask (low bits",
		"set for the floats that exist; zero beyond), and all 32 of its words",
		"are stored. Requires AVX512_BF16.",
	)
	n := Load(Param("blocks"), GP64())
	src := Load(Param("src"), GP64())
	dst := Load(Param("dst"), GP64())
	tail := [2]Op{K(), K()}
	KMOVD(Load(Param("mask"), GP32()), tail[0])
	KSHIFTRD(U8(16), tail[0], tail[1])
	lo, hi, out := zmm(0), zmm(1), zmm(2)
	Label("toBF16Row_loop")
	CMPQ(n, U8(1))
	JLE(LabelRef("toBF16Row_last"))
	VMOVUPS(Mem{Base: src}, lo)
	VMOVUPS(Mem{Base: src, Disp: 64}, hi)
	VCVTNE2PS2BF16(lo, hi, out)
	VMOVDQU16(out, Mem{Base: dst})
	ADDQ(U8(128), src)
	ADDQ(U8(64), dst)
	DECQ(n)
	JMP(LabelRef("toBF16Row_loop"))
	Label("toBF16Row_last")
	VMOVUPS_Z(Mem{Base: src}, tail[0], lo)
	VMOVUPS_Z(Mem{Base: src, Disp: 64}, tail[1], hi)
	VCVTNE2PS2BF16(lo, hi, out)
	VMOVDQU16(out, Mem{Base: dst})
	VZEROUPPER()
	RET()
}
