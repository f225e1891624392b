package main

import (
	"fmt"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

// # Matrix-vector products with a transposed matrix (generation)
//
// MatVecT computes y = Aᵀ·x from Aᵀ stored row-major as [k × m]: row j of
// Aᵀ is column j of A, contiguous over the outputs. Then
//
//	y[i0 : i0+16·nv] += Aᵀ[j][i0 : i0+16·nv] · x[j]      for each j
//
// is nv FMAs per j with x[j] broadcast: no horizontal sums at all, which is
// what limits MatVec on small matrices (a 32×32 or 64×64 product is mostly
// reduction and call overhead there). Each kernel call covers up to 8
// vectors of outputs (128 floats with zmm, 64 with ymm); with few vectors
// the even and odd j go to separate accumulators, so that there are always
// at least 4 independent FMA chains.

// matVecT generates the kernel for nv vectors of outputs. With bf16 the
// matrix is bfloat16 and each vector of weights is widened exactly to
// float32 first (vpmovzxwd from memory, shift left by 16; see
// matVecBF16512); the ymm bf16 kernels have no masked last vector (the Go
// driver computes the last m%8 outputs).
func matVecT(v isa, nv int, bf16 bool) {
	name := fmt.Sprintf("matVecT%sx%d", v.suffix, nv)
	elem, elemBytes := "float32", 4
	if bf16 {
		name = fmt.Sprintf("matVecTBF16%sx%d", v.suffix, nv)
		elem, elemBytes = "uint16", 2
	}
	sig := "func(k int, at *" + elem + ", ldat int, x *float32, y *float32, bias *float32, load bool, mask uint16)"
	maskDoc := "mask has the low bits set for the lanes of the last vector in use."
	if v.lanes == 8 {
		sig = "func(k int, at *" + elem + ", ldat int, x *float32, y *float32, bias *float32, load bool, mask *int32)"
		maskDoc = "mask points to 8 int32 (-1 = lane in use) for the last vector."
		if bf16 {
			sig = "func(k int, at *uint16, ldat int, x *float32, y *float32, bias *float32, load bool)"
			maskDoc = "All vectors are whole."
		}
	}
	TEXT(name, NOSPLIT, sig)
	Pragma("noescape")
	Doc(
		fmt.Sprintf("%s computes %d vectors of outputs of y = Aᵀ·x (k ≥ 1):", name, nv),
		"y[i] = (load ? y[i] : 0) + bias[i] + Σ_{j<k} float32(At[j*ldat+i])·x[j].",
		maskDoc+" bias may be nil.",
	)
	wholeLast := v.lanes == 8 && bf16
	sets := 1
	if nv <= 4 {
		sets = 2
	}
	last := nv - 1
	// Masks: a k register (zmm) or a ymm of lane masks.
	var km Op
	var ym VecVirtual
	switch {
	case v.lanes == 16:
		km = K()
		KMOVW(Load(Param("mask"), GP32()), km)
	case !wholeLast:
		ym = v.vec()
		VMOVUPS(Mem{Base: Load(Param("mask"), GP64())}, ym)
	}
	acc := make([][]VecVirtual, sets)
	for s := range acc {
		acc[s] = make([]VecVirtual, nv)
		for i := range acc[s] {
			acc[s][i] = v.vec()
			VXORPS(acc[s][i], acc[s][i], acc[s][i])
		}
	}
	k := Load(Param("k"), GP64())
	at := Load(Param("at"), GP64())
	ld := Load(Param("ldat"), GP64())
	if bf16 {
		SHLQ(U8(1), ld)
	} else {
		SHLQ(U8(2), ld)
	}
	x := Load(Param("x"), GP64())
	// step adds row j of Aᵀ (at the current pointer) times x[j] into set s.
	step := func(s int, xoff int, row Mem) {
		b := v.vec()
		VBROADCASTSS(Mem{Base: x, Disp: xoff}, b)
		for i := 0; i < nv; i++ {
			m := row.Offset(v.lanes * elemBytes * i)
			switch {
			case bf16:
				w := v.vec()
				if i == last && v.lanes == 16 {
					VPMOVZXWD_Z(m, km, w)
				} else {
					VPMOVZXWD(m, w)
				}
				VPSLLD(U8(16), w, w)
				VFMADD231PS(w, b, acc[s][i])
			case i < last:
				VFMADD231PS(m, b, acc[s][i])
			case v.lanes == 16:
				// Merge-masked: lanes past m are neither read nor changed.
				VFMADD231PS(m, b, km, acc[s][i])
			default:
				t := v.vec()
				VMASKMOVPS(m, ym, t)
				VFMADD231PS(t, b, acc[s][i])
			}
		}
	}
	if sets == 2 {
		Label(name + "_loop2")
		CMPQ(k, U8(2))
		JL(LabelRef(name + "_tail"))
		step(0, 0, Mem{Base: at})
		step(1, 4, Mem{Base: at, Index: ld, Scale: 1})
		LEAQ(Mem{Base: at, Index: ld, Scale: 2}, at)
		ADDQ(U8(8), x)
		SUBQ(U8(2), k)
		JMP(LabelRef(name + "_loop2"))
		Label(name + "_tail")
		TESTQ(k, k)
		JZ(LabelRef(name + "_done"))
		step(0, 0, Mem{Base: at})
		Label(name + "_done")
		for i := 0; i < nv; i++ {
			VADDPS(acc[1][i], acc[0][i], acc[0][i])
		}
	} else {
		Label(name + "_loop")
		step(0, 0, Mem{Base: at})
		ADDQ(ld, at)
		ADDQ(U8(4), x)
		DECQ(k)
		JNZ(LabelRef(name + "_loop"))
	}
	y := Load(Param("y"), GP64())
	// addFrom adds vector i of memory at p into acc[0][i] (masked if last).
	addFrom := func(p Register, i int) {
		m := Mem{Base: p, Disp: v.bytes() * i}
		switch {
		case i < last || wholeLast:
			VADDPS(m, acc[0][i], acc[0][i])
		case v.lanes == 16:
			VADDPS(m, acc[0][i], km, acc[0][i])
		default:
			t := v.vec()
			VMASKMOVPS(m, ym, t)
			VADDPS(t, acc[0][i], acc[0][i])
		}
	}
	load := Load(Param("load"), GP8())
	TESTB(load, load)
	JZ(LabelRef(name + "_bias"))
	for i := 0; i < nv; i++ {
		addFrom(y, i)
	}
	Label(name + "_bias")
	bias := Load(Param("bias"), GP64())
	TESTQ(bias, bias)
	JZ(LabelRef(name + "_store"))
	for i := 0; i < nv; i++ {
		addFrom(bias, i)
	}
	Label(name + "_store")
	for i := 0; i < nv; i++ {
		m := Mem{Base: y, Disp: v.bytes() * i}
		switch {
		case i < last || wholeLast:
			VMOVUPS(acc[0][i], m)
		case v.lanes == 16:
			VMOVUPS(acc[0][i], km, m)
		default:
			VMASKMOVPS(acc[0][i], ym, m)
		}
	}
	VZEROUPPER()
	RET()
}

func matVecTAll(v isa) {
	for _, bf16 := range []bool{false, true} {
		for nv := 1; nv <= 8; nv++ {
			matVecT(v, nv, bf16)
		}
	}
}
