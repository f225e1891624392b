package kernels

import "math"

// Polynomial approximations of exp, tanh and sigmoid in float32.
//
// Every Set except Reference uses the same algorithms; the scalar functions
// here are the Generic set's versions and the specification of the vector
// versions in the assembly (which evaluate the same formulas with fused
// multiply-adds, so their results can differ in the last bit).
//
// Measured maximum relative errors against float64 math (see approx_test.go,
// which checks them on a dense grid and on random values over the whole
// float32 range, for every Set this CPU can run):
//
//	exp      ≤ 1.2e-7 (2 ulp; measured 8e-8) where the result is a normal
//	         float32; exp(x) = +Inf for x > 88.7228, 0 for x < -103.97.
//	sigmoid  ≤ 2e-7 (measured 1.5e-7) where the result is normal; 0 for
//	         x < -88.72, 1 for x > 17.
//	tanh     ≤ 2e-7 (measured 1.5e-7) everywhere; ±1 for |x| > 9.1.
//
// Results in the subnormal range (below 2^-126) are within 2^-126 of the
// true value: exp applies 2^n in two steps so they fade out gradually
// instead of flushing at once, but they carry no relative accuracy.
// NaN inputs give NaN outputs in every function.
//
// exp(x): x is clamped to [-104, 88.8] (NaN passes through the clamp), then
// split as x = n·ln2 + r with n = round(x·log2e) and |r| ≤ ln2/2 (ln2 in two
// parts, Cody–Waite, so n·ln2hi is exact); exp(r) is Cephes' degree-7
// minimax polynomial, and the result is scaled by 2^n as 2^(n>>1)·2^(n-n>>1)
// so that n from -150 to 128 needs no special case. (The AVX-512 kernels
// round with vrndscaleps and apply 2^n with vscalefps, which is exact; the
// results differ from these only in rounding.)
//
// tanh(x): for |x| < 0.5625 an odd minimax polynomial x + x³·P(x²) (degree
// 4 in x², relative error 1.3e-9 before rounding); above, 1 - 2/(exp(2|x|)+1)
// with the sign of x, where the subtraction loses at most a factor ~1 of
// relative accuracy because the result is ≥ 0.51.
//
// sigmoid(x) = 1/(1+exp(-x)).
const (
	expHi    = 88.8   // exp(88.8) > MaxFloat32
	expLo    = -104.0 // exp(-104) < 2^-150
	log2e    = 1.44269504088896341
	ln2Hi    = 0.693359375 // 9 significant bits: n·ln2Hi is exact for |n| < 2^15
	ln2Lo    = -2.12194440e-4
	roundMag = 12582912 // 1.5·2^23: adding and subtracting it rounds to an integer

	expC2 = 5.0000001201e-1
	expC3 = 1.6666665459e-1
	expC4 = 4.1665795894e-2
	expC5 = 8.3334519073e-3
	expC6 = 1.3981999507e-3
	expC7 = 1.9875691500e-4

	tanhSmall = 0.5625
	tanhP0    = -0.3333331346511841
	tanhP1    = 0.1333245187997818
	tanhP2    = -0.05383743718266487
	tanhP3    = 0.021007483825087547
	tanhP4    = -0.006179840303957462
)

// expf is exp(x) in float32 by the algorithm above.
func expf(x float32) float32 {
	// Clamp so that n stays in [-150, 128]; the comparisons are false for
	// NaN, which passes through and poisons r.
	if x > expHi {
		x = expHi
	}
	if x < expLo {
		x = expLo
	}
	nf := x*log2e + roundMag
	nf -= roundMag
	r := x - nf*ln2Hi
	r = r - nf*ln2Lo
	p := float32(expC7)
	p = p*r + expC6
	p = p*r + expC5
	p = p*r + expC4
	p = p*r + expC3
	p = p*r + expC2
	p = p*(r*r) + r
	p = p + 1
	n := int32(nf)
	if x != x {
		n = 0
	}
	n1 := n >> 1
	n2 := n - n1
	s1 := math.Float32frombits(uint32(n1+127) << 23)
	s2 := math.Float32frombits(uint32(n2+127) << 23)
	return p * s1 * s2
}

// sigmoidf is 1/(1+exp(-x)).
func sigmoidf(x float32) float32 {
	return 1 / (1 + expf(-x))
}

// tanhf is tanh(x) by the two-branch algorithm above.
func tanhf(x float32) float32 {
	ax := x
	if ax < 0 {
		ax = -ax
	}
	if ax < tanhSmall {
		u := x * x
		p := float32(tanhP4)
		p = p*u + tanhP3
		p = p*u + tanhP2
		p = p*u + tanhP1
		p = p*u + tanhP0
		return x + (x*u)*p
	}
	y := 1 - 2/(expf(2*ax)+1)
	if x < 0 {
		return -y
	}
	return y // also NaN: ax < tanhSmall is false for NaN and expf keeps it
}
