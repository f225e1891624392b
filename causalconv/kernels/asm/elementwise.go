package main

import (
	"fmt"
	"math"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

// # Element-wise kernels
//
// The same code is generated for two vector widths: zmm (16 floats,
// AVX-512, suffix 512) and ymm (8 floats, AVX2+FMA, suffix 256). The
// assembly processes whole vectors only; the Go driver hands the last
// n % width elements to the Generic kernels, so no kernel needs masks or
// a scalar tail.
//
// exp, tanh and sigmoid follow ../approx.go exactly (same constants, same
// steps), with fused multiply-adds where the Go code has a multiply and an
// add; approx.go states the algorithm and the error bounds, which the tests
// check for every set.
//
// Constants live in read-only data as 64-byte vectors (the ymm kernels use
// the first 32 bytes) and are used as memory operands: the element-wise
// kernels are limited by the FP pipes, not by loads, and this leaves the
// registers (only 16 with AVX2) for the values.

// isa describes one vector width.
type isa struct {
	suffix string // "512" or "256"
	lanes  int    // floats per vector
	vec    func() VecVirtual
}

var (
	avx512 = isa{"512", 16, ZMM}
	avx2   = isa{"256", 8, YMM}
)

func (v isa) bytes() int { return 4 * v.lanes }

// constVec returns a 64-byte read-only vector of 16 copies of a 32-bit
// pattern, defined once per name.
var constDefined = map[string]Mem{}

func constVec(name string, bits uint32) Mem {
	if m, ok := constDefined[name]; ok {
		return m
	}
	m := GLOBL("c_"+name, RODATA|NOPTR)
	for i := 0; i < 16; i++ {
		DATA(4*i, U32(bits))
	}
	constDefined[name] = m
	return m
}

func constF(name string, f float32) Mem { return constVec(name, math.Float32bits(f)) }

// The constants of approx.go.
func cExpHi() Mem   { return constF("expHi", 88.8) }
func cExpLo() Mem   { return constF("expLo", -104.0) }
func cLog2e() Mem   { return constF("log2e", 1.44269504088896341) }
func cRound() Mem   { return constF("roundMag", 12582912) }
func cLn2Hi() Mem   { return constF("ln2Hi", 0.693359375) }
func cLn2Lo() Mem   { return constF("ln2Lo", -2.12194440e-4) }
func cOne() Mem     { return constF("one", 1) }
func cTwo() Mem     { return constF("two", 2) }
func cBias127() Mem { return constVec("bias127", 127) }
func cAbs() Mem     { return constVec("absMask", 0x7fffffff) }

// cMinNormal is the smallest normal float32, 2^-126.
func cMinNormal() Mem { return constVec("minNormal", 0x00800000) }
func cSign() Mem      { return constVec("signMask", 0x80000000) }

var expCoef = []struct {
	name string
	v    float32
}{
	{"expC7", 1.9875691500e-4}, {"expC6", 1.3981999507e-3}, {"expC5", 8.3334519073e-3},
	{"expC4", 4.1665795894e-2}, {"expC3", 1.6666665459e-1}, {"expC2", 5.0000001201e-1},
}

var tanhCoef = []struct {
	name string
	v    float32
}{
	{"tanhP4", -0.006179840303957462}, {"tanhP3", 0.021007483825087547},
	{"tanhP2", -0.05383743718266487}, {"tanhP1", 0.1333245187997818},
	{"tanhP0", -0.3333331346511841},
}

// expVec returns exp(x) in a new register; x is not modified. 25
// instructions with AVX2, 8 of them FMAs (Horner's rule for the
// polynomial); with AVX-512, vrndscaleps rounds and vscalefps applies 2^n,
// 16 instructions.
func (v isa) expVec(x VecVirtual) VecVirtual {
	// Clamp with x as the second source of maxps and t as that of minps:
	// they return the second source when either is NaN, so NaN passes.
	t, hi := v.vec(), v.vec()
	VMOVUPS(cExpLo(), t)
	VMAXPS(x, t, t) // t = max(lo, x)
	VMOVUPS(cExpHi(), hi)
	VMINPS(t, hi, t) // t = min(hi, t)
	nf := v.vec()
	VMULPS(cLog2e(), t, nf) // t·log2e
	if v.lanes == 16 {
		VRNDSCALEPS(U8(0x08), nf, nf) // nf = round to nearest (no inexact exception)
	} else {
		VADDPS(cRound(), nf, nf) // + 1.5·2^23 rounds to an integer…
		VSUBPS(cRound(), nf, nf) // … nf = round(t·log2e)
	}
	VFNMADD231PS(cLn2Hi(), nf, t) // r = t - nf·ln2Hi (exact)
	VFNMADD231PS(cLn2Lo(), nf, t) // r -= nf·ln2Lo
	p := v.vec()
	VMOVUPS(cConst(expCoef[0].name, expCoef[0].v), p)
	for _, c := range expCoef[1:] {
		VFMADD213PS(cConst(c.name, c.v), t, p) // p = p·r + c
	}
	r2 := v.vec()
	VMULPS(t, t, r2)
	VFMADD213PS(t, r2, p) // p = p·r² + r
	VADDPS(cOne(), p, p)  // p = exp(r)
	if v.lanes == 16 {
		// vscalefps multiplies by 2^nf exactly, with one rounding even
		// when the result is subnormal.
		VSCALEFPS(nf, p, p)
		return p
	}
	Comment("2^n applied as 2^(n>>1)·2^(n-(n>>1)) so n in [-150, 128] needs no special case.")
	n := v.vec()
	VCVTTPS2DQ(nf, n)
	n1 := v.vec()
	VPSRAD(U8(1), n, n1)
	VPSUBD(n1, n, n)
	VPADDD(cBias127(), n1, n1)
	VPSLLD(U8(23), n1, n1)
	VPADDD(cBias127(), n, n)
	VPSLLD(U8(23), n, n)
	VMULPS(n1, p, p)
	VMULPS(n, p, p)
	return p
}

// cConst is a named float constant.
func cConst(name string, f float32) Mem { return constF(name, f) }

// sigmoidVec returns 1/(1+exp(-x)).
func (v isa) sigmoidVec(x VecVirtual) VecVirtual {
	nx := v.vec()
	VXORPS(cSign(), x, nx) // -x
	e := v.expVec(nx)
	VADDPS(cOne(), e, e)
	s := v.vec()
	VMOVUPS(cOne(), s)
	VDIVPS(e, s, s) // s = 1/(1+e)
	return s
}

// tanhVec returns tanh(x): both branches of approx.go's tanhf are computed
// for the whole vector and blended on |x| < 0.5625.
func (v isa) tanhVec(x VecVirtual) VecVirtual {
	ax := v.vec()
	VANDPS(cAbs(), x, ax)
	// Large branch: 1 - 2/(exp(2|x|)+1), with the sign of x.
	two := v.vec()
	VADDPS(ax, ax, two)
	e := v.expVec(two)
	VADDPS(cOne(), e, e)
	q := v.vec()
	VMOVUPS(cTwo(), q)
	VDIVPS(e, q, q) // 2/(e+1)
	big := v.vec()
	VMOVUPS(cOne(), big)
	VSUBPS(q, big, big) // 1 - q
	sign := v.vec()
	VANDPS(cSign(), x, sign)
	VORPS(sign, big, big)
	// Small branch: x + (x·u)·P(u), u = x².
	u := v.vec()
	VMULPS(x, x, u)
	p := v.vec()
	VMOVUPS(cConst(tanhCoef[0].name, tanhCoef[0].v), p)
	for _, c := range tanhCoef[1:] {
		VFMADD213PS(cConst(c.name, c.v), u, p) // p = p·u + c
	}
	xu := v.vec()
	VMULPS(u, x, xu)
	VFMADD213PS(x, xu, p) // p = (x·u)·p + x
	small := constF("tanhSmall", 0.5625)
	if v.lanes == 16 {
		k := K()
		VCMPPS(U8(1), small, ax, k) // k = |x| < 0.5625 (false for NaN)
		VBLENDMPS(p, big, k, big)   // big = k ? p : big
	} else {
		m := v.vec()
		VCMPPS(U8(1), small, ax, m)
		VBLENDVPS(m, p, big, big)
	}
	return big
}

// loopVectors emits a loop over n/lanes whole vectors: body(i) gets the
// byte offset register of the current vector. n must be a positive multiple
// of the width (the Go side guarantees it).
func (v isa) loopVectors(name string, n Register, body func(off Register)) {
	off := GP64()
	XORQ(off, off)
	SHLQ(U8(2), n) // n in bytes
	Label(name + "_loop")
	body(off)
	ADDQ(U8(v.bytes()), off)
	CMPQ(off, n)
	JL(LabelRef(name + "_loop"))
}

func (v isa) gate() {
	name := "gate" + v.suffix
	TEXT(name, NOSPLIT, "func(n int, f, s, tf, sg, z *float32)")
	Pragma("noescape")
	Doc(name+" is Gate over n elements, n a positive multiple of the vector width:",
		"tf = tanh f, sg = σ(s), z = tf·sg. Each vector is loaded before any is",
		"stored, so tf may be f and sg may be s (in place).")
	n := Load(Param("n"), GP64())
	f := Load(Param("f"), GP64())
	g := Load(Param("s"), GP64()) // "g" is a register name in Go assembly
	tfp := Load(Param("tf"), GP64())
	sgp := Load(Param("sg"), GP64())
	z := Load(Param("z"), GP64())
	v.loopVectors(name, n, func(off Register) {
		x := v.vec()
		VMOVUPS(Mem{Base: f, Index: off, Scale: 1}, x)
		tf := v.tanhVec(x)
		y := v.vec()
		VMOVUPS(Mem{Base: g, Index: off, Scale: 1}, y)
		sg := v.sigmoidVec(y)
		VMOVUPS(tf, Mem{Base: tfp, Index: off, Scale: 1})
		VMOVUPS(sg, Mem{Base: sgp, Index: off, Scale: 1})
		VMULPS(sg, tf, tf)
		VMOVUPS(tf, Mem{Base: z, Index: off, Scale: 1})
	})
	VZEROUPPER()
	RET()
}

func (v isa) gateBackward() {
	name := "gateBackward" + v.suffix
	TEXT(name, NOSPLIT, "func(n int, tf, sg, dz, df, dg *float32)")
	Pragma("noescape")
	Doc(name+" is GateBackward over n elements, n a positive multiple of the vector width:",
		"df = dz·sg·(1-tf²), dg = dz·sg·tf·(1-sg).")
	n := Load(Param("n"), GP64())
	tf := Load(Param("tf"), GP64())
	sg := Load(Param("sg"), GP64())
	dz := Load(Param("dz"), GP64())
	df := Load(Param("df"), GP64())
	dg := Load(Param("dg"), GP64())
	v.loopVectors(name, n, func(off Register) {
		at := func(p Register) Mem { return Mem{Base: p, Index: off, Scale: 1} }
		t, s, ds := v.vec(), v.vec(), v.vec()
		VMOVUPS(at(tf), t)
		VMOVUPS(at(sg), s)
		VMULPS(at(dz), s, ds) // ds = dz·sg
		a := v.vec()
		VMOVUPS(cOne(), a)
		VFNMADD231PS(t, t, a) // 1 - t²
		VMULPS(ds, a, a)
		VMOVUPS(a, at(df))
		b := v.vec()
		VMOVUPS(cOne(), b)
		VSUBPS(s, b, b) // 1 - s
		VMULPS(t, ds, ds)
		VMULPS(ds, b, b)
		VMOVUPS(b, at(dg))
	})
	VZEROUPPER()
	RET()
}

func (v isa) relu() {
	name := "relu" + v.suffix
	TEXT(name, NOSPLIT, "func(n int, x *float32)")
	Pragma("noescape")
	Doc(name + " is x ← max(x, 0) (NaN → 0) over n elements, a positive multiple of the width.")
	n := Load(Param("n"), GP64())
	x := Load(Param("x"), GP64())
	zero := v.vec()
	VXORPS(zero, zero, zero)
	v.loopVectors(name, n, func(off Register) {
		a := v.vec()
		VMOVUPS(Mem{Base: x, Index: off, Scale: 1}, a)
		// maxps returns its second source (here 0) when either is NaN.
		VMAXPS(zero, a, a)
		VMOVUPS(a, Mem{Base: x, Index: off, Scale: 1})
	})
	VZEROUPPER()
	RET()
}

func (v isa) reluBackward() {
	name := "reluBackward" + v.suffix
	TEXT(name, NOSPLIT, "func(n int, y, dy *float32)")
	Pragma("noescape")
	Doc(name + " is dy ← (y > 0 ? dy : 0) over n elements, a positive multiple of the width.")
	n := Load(Param("n"), GP64())
	y := Load(Param("y"), GP64())
	dy := Load(Param("dy"), GP64())
	zero := v.vec()
	VXORPS(zero, zero, zero)
	v.loopVectors(name, n, func(off Register) {
		a, d := v.vec(), v.vec()
		VMOVUPS(Mem{Base: y, Index: off, Scale: 1}, a)
		VMOVUPS(Mem{Base: dy, Index: off, Scale: 1}, d)
		if v.lanes == 16 {
			k := K()
			VCMPPS(U8(0x1e), zero, a, k) // y > 0, ordered (false for NaN)
			VMOVUPS_Z(d, k, d)
		} else {
			VCMPPS(U8(0x1e), zero, a, a)
			VANDPS(a, d, d)
		}
		VMOVUPS(d, Mem{Base: dy, Index: off, Scale: 1})
	})
	VZEROUPPER()
	RET()
}

func (v isa) axpy() {
	name := "axpy" + v.suffix
	TEXT(name, NOSPLIT, "func(n int, alpha float32, x, y *float32)")
	Pragma("noescape")
	Doc(name + " is y += alpha·x over n elements, a positive multiple of the width.")
	n := Load(Param("n"), GP64())
	x := Load(Param("x"), GP64())
	y := Load(Param("y"), GP64())
	alpha := v.vec()
	VBROADCASTSS(Load(Param("alpha"), XMM()), alpha)
	v.loopVectors(name, n, func(off Register) {
		a := v.vec()
		VMOVUPS(Mem{Base: y, Index: off, Scale: 1}, a)
		VFMADD231PS(Mem{Base: x, Index: off, Scale: 1}, alpha, a)
		VMOVUPS(a, Mem{Base: y, Index: off, Scale: 1})
	})
	VZEROUPPER()
	RET()
}

func (v isa) sum() {
	name := "sum" + v.suffix
	TEXT(name, NOSPLIT, "func(n int, x *float32, out *[8]float64)")
	Pragma("noescape")
	Doc(name+" adds n floats (a positive multiple of the width) in float64:",
		"out[i] gets the partial sums of lanes ≡ i (mod 8).")
	n := Load(Param("n"), GP64())
	x := Load(Param("x"), GP64())
	// Each vector of floats is widened to float64 (8 per register for
	// AVX-512, 4 for AVX2) and added into two accumulators.
	half := v.lanes / 2
	acc := [2]VecVirtual{v.vec(), v.vec()}
	for _, a := range acc {
		VXORPD(a, a, a)
	}
	v.loopVectors(name, n, func(off Register) {
		for h := 0; h < 2; h++ {
			w := v.vec()
			VCVTPS2PD(Mem{Base: x, Index: off, Scale: 1, Disp: 4 * half * h}, w)
			VADDPD(w, acc[h], acc[h])
		}
	})
	VADDPD(acc[1], acc[0], acc[0])
	out := Load(Param("out"), GP64())
	if v.lanes == 16 {
		VMOVUPD(acc[0], Mem{Base: out})
	} else {
		VMOVUPD(acc[0], Mem{Base: out})
		VXORPD(acc[1], acc[1], acc[1])
		VMOVUPD(acc[1], Mem{Base: out, Disp: 32})
	}
	VZEROUPPER()
	RET()
}

// softmax generates the column-block softmax: for one block of `lanes`
// time steps (one vector per row of logits) it makes three passes over the
// q rows: the maximum (four partial maxima for ILP), the sum of exp(l−max)
// (storing each exp to grad when grad is not nil), and the scaling of the
// stored exps by scale/z, flushing subnormal results to 0. The block of q·lanes floats (16 KiB for q = 256
// with zmm) stays in L1 across the passes. The Go driver finishes each
// column: loss += max + log z − l[target], grad[target] −= scale.
func (v isa) softmax() {
	name := "softmaxBlock" + v.suffix
	TEXT(name, NOSPLIT, "func(q int, logits *float32, ld int, grad *float32, scale float32, mx, z *float32)")
	Pragma("noescape")
	Doc(fmt.Sprintf("%s handles %d columns of SoftmaxXent: mx[t] = max_c logits[c*ld+t],", name, v.lanes),
		"z[t] = Σ_c exp(logits[c*ld+t] - mx[t]), and if grad is not nil",
		"grad[c*ld+t] = scale·exp(logits[c*ld+t] - mx[t])/z[t]. q ≥ 1.",
		"A NaN logit makes z (and so the loss and the column's gradient) NaN.")
	q := Load(Param("q"), GP64())
	lg := Load(Param("logits"), GP64())
	ld := Load(Param("ld"), GP64())
	SHLQ(U8(2), ld)

	Comment("Pass 1: the maximum, four rows at a time into four partial maxima.")
	var m [4]VecVirtual
	for i := range m {
		m[i] = v.vec()
		VMOVUPS(Mem{Base: lg}, m[i]) // row 0 seeds all four
	}
	p := GP64()
	MOVQ(lg, p)
	c := GP64()
	MOVQ(q, c)
	Label(name + "_max4")
	CMPQ(c, U8(4))
	JL(LabelRef(name + "_max1"))
	for i := range m {
		VMAXPS(Mem{Base: p, Disp: 0}, m[i], m[i])
		ADDQ(ld, p)
	}
	SUBQ(U8(4), c)
	JMP(LabelRef(name + "_max4"))
	Label(name + "_max1")
	TESTQ(c, c)
	JZ(LabelRef(name + "_maxdone"))
	VMAXPS(Mem{Base: p}, m[0], m[0])
	ADDQ(ld, p)
	DECQ(c)
	JMP(LabelRef(name + "_max1"))
	Label(name + "_maxdone")
	VMAXPS(m[1], m[0], m[0])
	VMAXPS(m[3], m[2], m[2])
	VMAXPS(m[2], m[0], m[0])
	mx := Load(Param("mx"), GP64())
	VMOVUPS(m[0], Mem{Base: mx})

	Comment("Pass 2: z = Σ exp(l - max); the exps go to grad if there is one.")
	grad := Load(Param("grad"), GP64())
	zs := [2]VecVirtual{v.vec(), v.vec()}
	for _, a := range zs {
		VXORPS(a, a, a)
	}
	MOVQ(lg, p)
	MOVQ(q, c)
	g := GP64()
	MOVQ(grad, g)
	Label(name + "_exp")
	d := v.vec()
	VMOVUPS(Mem{Base: p}, d)
	VSUBPS(m[0], d, d)
	e := v.expVec(d)
	VADDPS(e, zs[0], zs[0])
	TESTQ(g, g)
	JZ(LabelRef(name + "_expnext"))
	VMOVUPS(e, Mem{Base: g})
	ADDQ(ld, g)
	Label(name + "_expnext")
	ADDQ(ld, p)
	DECQ(c)
	JNZ(LabelRef(name + "_exp"))
	z := Load(Param("z"), GP64())
	VMOVUPS(zs[0], Mem{Base: z})

	Comment("Pass 3: grad *= scale/z.")
	TESTQ(grad, grad)
	JZ(LabelRef(name + "_done"))
	f := v.vec()
	VBROADCASTSS(Load(Param("scale"), XMM()), f)
	VDIVPS(zs[0], f, f)
	MOVQ(q, c)
	Label(name + "_scale")
	a := v.vec()
	VMULPS(Mem{Base: grad}, f, a)
	Comment("Subnormal gradients (|a| < 2^-126) become 0; NaN stays.")
	ab := v.vec()
	VANDPS(cAbs(), a, ab)
	if v.lanes == 16 {
		k := K()
		VCMPPS(U8(5), cMinNormal(), ab, k) // k = !(|a| < 2^-126): normal, Inf or NaN
		VMOVUPS_Z(a, k, a)
	} else {
		VCMPPS(U8(5), cMinNormal(), ab, ab)
		VANDPS(ab, a, a)
	}
	VMOVUPS(a, Mem{Base: grad})
	ADDQ(ld, grad)
	DECQ(c)
	JNZ(LabelRef(name + "_scale"))
	Label(name + "_done")
	VZEROUPPER()
	RET()
}

// expTest is the vector exp alone, for the accuracy tests.
func (v isa) expTest() {
	name := "exp" + v.suffix
	TEXT(name, NOSPLIT, "func(n int, x, y *float32)")
	Pragma("noescape")
	Doc(name + " is y = exp(x) over n elements, a positive multiple of the width (tests only).")
	n := Load(Param("n"), GP64())
	x := Load(Param("x"), GP64())
	y := Load(Param("y"), GP64())
	v.loopVectors(name, n, func(off Register) {
		a := v.vec()
		VMOVUPS(Mem{Base: x, Index: off, Scale: 1}, a)
		e := v.expVec(a)
		VMOVUPS(e, Mem{Base: y, Index: off, Scale: 1})
	})
	VZEROUPPER()
	RET()
}

func (v isa) elementwise() {
	v.gate()
	v.gateBackward()
	v.relu()
	v.reluBackward()
	v.axpy()
	v.sum()
	v.softmax()
	v.expTest()
}

// fmaPeak is a loop of independent register-only FMAs (24 zmm or 12 ymm
// accumulators, two FMAs' latency many times over): the machine's FMA
// throughput, which the benchmarks quote beside the kernels' rates.
func fmaPeak(v isa) {
	name := "fmaPeak" + v.suffix
	TEXT(name, NOSPLIT, "func(n int)")
	Doc(name + " runs n iterations of independent FMAs (benchmarks only).")
	n := Load(Param("n"), GP64())
	count := 24
	if v.lanes == 8 {
		count = 12
	}
	acc := make([]VecVirtual, count)
	for i := range acc {
		acc[i] = v.vec()
		VXORPS(acc[i], acc[i], acc[i])
	}
	a, b := v.vec(), v.vec()
	VXORPS(a, a, a)
	VXORPS(b, b, b)
	Label(name + "_loop")
	for i := range acc {
		VFMADD231PS(a, b, acc[i])
	}
	DECQ(n)
	JNZ(LabelRef(name + "_loop"))
	// Keep the accumulators live to the end.
	for i := 1; i < count; i++ {
		VADDPS(acc[i], acc[0], acc[0])
	}
	VZEROUPPER()
	RET()
}
