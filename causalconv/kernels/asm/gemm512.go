package main

import (
	"fmt"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

// # GEMM with AVX-512
//
// Both products of a training step reduce to one micro-kernel:
//
//	C[r][0:48] (+)= Σ_{j<k} A[r][j] · P[j][0:48]      for r < mr ≤ 8
//
// where P is a packed panel, 48 floats (three zmm) per j, contiguous:
//
//   - GemmNN (C = A·B, B rows at offsets): P[j] = B[bOff[j]+t0 : +48], a
//     48-time-step slice of row j (packNN512). The tile is 8 output
//     channels × 48 time steps.
//   - GemmNT (C = A·Bᵀ, a reduction over time): P[t] = B[bOff[j0:j0+48]][t],
//     the transpose of 48 rows of B over a block of time (packNT512). The
//     tile is 8 rows of C × 48 of its columns, and "j" runs over time.
//
// A is read in place (no packing): the kernel broadcasts A[r][j] from
// memory for each of its mr rows, addressed as base + r·lda with two base
// pointers (rows 0–3 and 4–7) and the scaled index modes lda·1, lda·2,
// 3·lda·1. Packing B is what removes the row offsets, the TLB misses of k
// rows on k pages and cache-set conflicts when the row stride is a power of
// two; it costs one load and one store per element of B, reused by every
// row tile (m/8 of them).
//
// Per j the kernel issues 3 loads of P, mr broadcasts and 3·mr FMAs: with
// mr = 8, 24 FMAs (12 cycles on two pipes) against 11 loads, and 24
// independent accumulators, three times the 8 needed to hide the FMA
// latency. Registers: 24 accumulators + 3 panel vectors + broadcast
// temporaries ≤ 32.
//
// Why 8×48 and not 6×64 (also 24 accumulators): every m in the network (32,
// 64, 256, 640) is a multiple of 8, so there are no partial row tiles, and
// 11 loads per 24 FMAs versus 10 makes no difference at two loads a cycle.

const (
	tileRows512 = 8
	tileCols512 = 48 // three zmm
	panelRow512 = tileCols512 * 4
)

// rowMem returns the address of row r (< 8) of a matrix whose rows 0–3
// start at base0 and 4–7 at base4, ld bytes apart (ld3 = 3·ld).
func rowMem(r int, base0, base4, ld, ld3 Register) Mem {
	base := base0
	if r >= 4 {
		base = base4
		r -= 4
	}
	switch r {
	case 0:
		return Mem{Base: base}
	case 1:
		return Mem{Base: base, Index: ld, Scale: 1}
	case 2:
		return Mem{Base: base, Index: ld, Scale: 2}
	default:
		return Mem{Base: base, Index: ld3, Scale: 1}
	}
}

// stridedRows loads a row pointer and a stride in floats and returns the
// base pointers of rows 0 and 4, the stride in bytes and three times it.
func stridedRows(ptr, stride string, rows int) (base0, base4, ld, ld3 Register) {
	base0 = Load(Param(ptr), GP64())
	ld = Load(Param(stride), GP64())
	SHLQ(U8(2), ld)
	ld3 = GP64()
	LEAQ(Mem{Base: ld, Index: ld, Scale: 2}, ld3)
	if rows > 4 {
		base4 = GP64()
		LEAQ(Mem{Base: base0, Index: ld, Scale: 4}, base4)
	}
	return
}

// gemmTile512 generates the kernel for mr rows and nv vectors (16·nv
// columns) per row. nv < 3 serves panels narrower than 48 (the last
// columns of a product), so that e.g. a 64-column GemmNT is two 32-column
// panels rather than 48 + 16 with two thirds of the second wasted.
func gemmTile512(mr, nv int) {
	name := fmt.Sprintf("gemmTile512x%dv%d", mr, nv)
	TEXT(name, NOSPLIT, "func(k int, a *float32, lda int, p *float32, c *float32, ldc int, bias *float32, load bool, mask uint64)")
	Pragma("noescape")
	Doc(
		fmt.Sprintf("%s computes a %d×%d tile: for r < %d and the columns x < %d set in mask,", name, mr, 16*nv, mr, 16*nv),
		"C[r*ldc+x] = (load ? C[r*ldc+x] : 0) + bias[r] + Σ_{j<k} A[r*lda+j]·P[j*48+x].",
		"bias may be nil; k ≥ 1. P is a packed panel (packNN512 or packNT512).",
	)

	Comment("Column masks: bits 0-15, 16-31, 32-47 of mask for the three zmm of a row.")
	msk := Load(Param("mask"), GP64())
	kmask := [3]Op{K(), K(), K()}
	KMOVQ(msk, kmask[0])
	KSHIFTRQ(U8(16), kmask[0], kmask[1])
	KSHIFTRQ(U8(32), kmask[0], kmask[2])

	c0, c4, ldc, ldc3 := stridedRows("c", "ldc", mr)
	acc := make([][3]VecVirtual, mr)
	for r := range acc {
		for v := 0; v < nv; v++ {
			acc[r][v] = ZMM()
		}
	}

	Comment("Accumulators start from C (masked: columns past the tile are never read) or zero.")
	load := Load(Param("load"), GP8())
	TESTB(load, load)
	JZ(LabelRef(name + "_zero"))
	for r := 0; r < mr; r++ {
		for v := 0; v < nv; v++ {
			VMOVUPS_Z(rowMem(r, c0, c4, ldc, ldc3).Offset(64*v), kmask[v], acc[r][v])
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
		b := ZMM()
		VBROADCASTSS(Mem{Base: bias, Disp: 4 * r}, b)
		for v := 0; v < nv; v++ {
			VADDPS(b, acc[r][v], acc[r][v])
		}
	}

	Label(name + "_body")
	k := Load(Param("k"), GP64())
	a0, a4, lda, lda3 := stridedRows("a", "lda", mr)
	p := Load(Param("p"), GP64())

	// step is one j: three panel loads, then per row one broadcast and
	// three FMAs.
	step := func(u int) {
		var b [3]VecVirtual
		for v := 0; v < nv; v++ {
			b[v] = ZMM()
			VMOVUPS(Mem{Base: p, Disp: u*panelRow512 + 64*v}, b[v])
		}
		for r := 0; r < mr; r++ {
			x := ZMM()
			VBROADCASTSS(rowMem(r, a0, a4, lda, lda3).Offset(4*u), x)
			for v := 0; v < nv; v++ {
				VFMADD231PS(b[v], x, acc[r][v])
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

	Comment("Main loop, unrolled by two j.")
	Label(name + "_loop2")
	CMPQ(k, U8(2))
	JL(LabelRef(name + "_tail"))
	step(0)
	step(1)
	advance(2)
	SUBQ(U8(2), k)
	JMP(LabelRef(name + "_loop2"))

	Label(name + "_tail")
	TESTQ(k, k)
	JZ(LabelRef(name + "_store"))
	step(0)

	Label(name + "_store")
	for r := 0; r < mr; r++ {
		for v := 0; v < nv; v++ {
			VMOVUPS(acc[r][v], kmask[v], rowMem(r, c0, c4, ldc, ldc3).Offset(64*v))
		}
	}
	VZEROUPPER()
	RET()
}

func packNN512() {
	TEXT("packNN512", NOSPLIT, "func(k int, b *float32, off *int, t0 int, p *float32, mask uint64)")
	Pragma("noescape")
	Doc(
		"packNN512 copies a 48-column slice of k rows of B into the panel P:",
		"P[j*48+x] = B[off[j]+t0+x] for the columns x set in mask, 0 for the others.",
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

	Label("packNN512_loop")
	row := GP64()
	MOVQ(Mem{Base: off}, row)
	src := Mem{Base: b, Index: row, Scale: 4}
	Comment("Zero-masked loads never touch memory past the slice's end.")
	var x [3]VecVirtual
	for v := range x {
		x[v] = ZMM()
		VMOVUPS_Z(src.Offset(64*v), kmask[v], x[v])
	}
	Comment("The next 48-column panel of this row will be wanted soon.")
	PREFETCHT0(src.Offset(panelRow512))
	PREFETCHT0(src.Offset(panelRow512 + 64))
	PREFETCHT0(src.Offset(panelRow512 + 128))
	for v := range x {
		VMOVUPS(x[v], Mem{Base: p, Disp: 64 * v})
	}
	ADDQ(U8(8), off)
	ADDQ(U32(panelRow512), p)
	DECQ(k)
	JNZ(LabelRef("packNN512_loop"))
	VZEROUPPER()
	RET()
}

func packNT512() {
	TEXT("packNT512", NOSPLIT, "func(n int, b *float32, off *int, p *float32, mask uint16)")
	Pragma("noescape")
	Doc(
		"packNT512 transposes 16 rows of B over n ≥ 1 columns into 16 columns of",
		"the panel P: P[t*48+r] = B[off[r]+t] for r < 16, t < n. mask has the",
		"low n%16 bits set (all 16 if n%16 == 0); the last partial block of",
		"columns is loaded with it (zero beyond n) so nothing past B's end is read.",
	)
	n := Load(Param("n"), GP64())
	b := Load(Param("b"), GP64())
	off := Load(Param("off"), GP64())
	p := Load(Param("p"), GP64())
	tail := K()
	KMOVW(Load(Param("mask"), GP32()), tail)

	// block transposes one 16×16 block: rows r at B[off[r]+t .. +16],
	// columns stored to P[t*48 .. +16].
	block := func(masked bool) {
		var r [16]VecVirtual
		for i := range r {
			row := GP64()
			MOVQ(Mem{Base: off, Disp: 8 * i}, row)
			r[i] = ZMM()
			if masked {
				VMOVUPS_Z(Mem{Base: b, Index: row, Scale: 4}, tail, r[i])
			} else {
				VMOVUPS(Mem{Base: b, Index: row, Scale: 4}, r[i])
			}
		}
		out := transpose16x16(r)
		for t := range out {
			VMOVUPS(out[t], Mem{Base: p, Disp: t * panelRow512})
		}
	}

	Label("packNT512_loop")
	CMPQ(n, U8(16))
	JLE(LabelRef("packNT512_last"))
	block(false)
	ADDQ(U8(64), b)
	ADDQ(U32(16*panelRow512), p)
	SUBQ(U8(16), n)
	JMP(LabelRef("packNT512_loop"))
	Label("packNT512_last")
	Comment("The last 1-16 columns, with the tail mask.")
	block(true)
	VZEROUPPER()
	RET()
}

// transpose16x16 transposes 16 zmm rows (r[i] lane j = element (i, j)) into
// columns (out[j] lane i = element (i, j)) in four stages of 16 shuffles:
//
//  1. vunpck{l,h}ps of row pairs (0,1), (2,3), …: 2×2 blocks of 32-bit
//     elements interleaved within each 128-bit lane;
//  2. vunpck{l,h}pd of pairs of those: 4×4 blocks within each 128-bit lane
//     (register 4q+c then holds column c, c+4, c+8, c+12 of rows 4q..4q+3,
//     one per 128-bit lane);
//  3. and 4. vshuff32x4 with 0x88 (lanes 0,2 of each source) and 0xdd (lanes
//     1,3) gather the four 128-bit pieces of each column.
func transpose16x16[R Register](r [16]R) [16]VecVirtual {
	var t, u [16]VecVirtual
	for i := 0; i < 16; i += 2 {
		t[i], t[i+1] = ZMM(), ZMM()
		VUNPCKLPS(r[i+1], r[i], t[i])   // a0 b0 a1 b1 | a4 b4 a5 b5 | …
		VUNPCKHPS(r[i+1], r[i], t[i+1]) // a2 b2 a3 b3 | a6 b6 a7 b7 | …
	}
	for q := 0; q < 16; q += 4 {
		// Rows 4q'..4q'+3 (q = 4q'): t[q], t[q+1] from rows (a,b);
		// t[q+2], t[q+3] from (c,d).
		for h := 0; h < 2; h++ {
			u[q+2*h], u[q+2*h+1] = ZMM(), ZMM()
			VUNPCKLPD(t[q+2+h], t[q+h], u[q+2*h])   // a,b,c,d of column 2h (+4, +8, +12)
			VUNPCKHPD(t[q+2+h], t[q+h], u[q+2*h+1]) // … of column 2h+1
		}
	}
	// u[4q+c] holds column c+4l of rows 4q..4q+3 in 128-bit lane l.
	var s [16]VecVirtual
	for c := 0; c < 4; c++ {
		for half := 0; half < 2; half++ {
			// Rows 0-7 (q = 0, 1) and rows 8-15 (q = 2, 3).
			lo, hi := u[8*half+c], u[8*half+4+c]
			s[8*half+c], s[8*half+4+c] = ZMM(), ZMM()
			VSHUFF32X4(U8(0x88), hi, lo, s[8*half+c])   // columns c, c+8 of rows 8h..8h+7
			VSHUFF32X4(U8(0xdd), hi, lo, s[8*half+4+c]) // columns c+4, c+12
		}
	}
	var out [16]VecVirtual
	for c := 0; c < 4; c++ {
		for e := 0; e < 2; e++ { // e = 0: columns c, c+8; e = 1: c+4, c+12
			lo, hi := s[4*e+c], s[8+4*e+c]
			col := c + 4*e
			out[col], out[col+8] = ZMM(), ZMM()
			VSHUFF32X4(U8(0x88), hi, lo, out[col])   // column col, all 16 rows
			VSHUFF32X4(U8(0xdd), hi, lo, out[col+8]) // column col+8
		}
	}
	return out
}
