package causalconv

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/nextsample/nextsample/causalconv/kernels"
)

// Sampler draws one stream's classes from its logits: softmax with a
// temperature, sampled with a PCG generator (math/rand/v2) of its own. The
// same kernel set, seed and stream number give the same draws from the
// same logits, whatever other streams exist or which goroutine runs them.
//
// A draw is inverse transform sampling. With T the temperature and m the
// largest logit, class c has the weight
//
//	w_c = exp((l_c − m)/T)
//
// (so the best class weighs 1 and no weight overflows), computed in
// float32 by the kernel set's Exp; the weights' running sums are taken in
// float64, and the class drawn is the first whose running sum exceeds
// u·Σw for one uniform number u in [0, 1). A class more than 87 below
// the best one, in units of T, weighs 0: its weight would be below 1.6e-38,
// the smallest normal float32, and cannot matter.
type Sampler struct {
	temperature float64
	rng         *rand.Rand
	exp         func(n int, x, y []float32) // the kernel set's Exp
	w           []float32                   // scratch: the scaled logits, then their exps
	cdf         []float64                   // scratch: running sums of the weights
}

// NewSampler returns a sampler over q classes whose softmax weights are
// computed by k.Exp, a vector kernel (a draw over 256 classes takes ~1 µs,
// BenchmarkGenerateParts; the rest is the maximum, the float64 running
// sums and the search). A set without Exp (the zero Set) uses
// kernels.Generic's, the scalar specification of every set's exp.
//
// The vector kernels evaluate the same polynomial with fused multiply-adds,
// so a weight can differ in its last bit between kernel sets, and a draw
// whose uniform number falls within that of a class boundary (about one in
// 10^7) can pick the neighbouring class: the draws are reproducible for a
// given kernel set, as the logits are.
//
// Temperature 1 samples the model's distribution, lower values sharpen
// it, higher flatten it; 0 always takes the most likely class. Stream
// numbers the independent streams that share one seed.
func NewSampler(k kernels.Set, q int, temperature float64, seed, stream uint64) (*Sampler, error) {
	if q < 1 {
		return nil, fmt.Errorf("causalconv: sampler over %d classes", q)
	}
	if !(temperature >= 0) || math.IsInf(temperature, 1) {
		return nil, fmt.Errorf("causalconv: temperature %v: must be a finite number ≥ 0", temperature)
	}
	exp := k.Exp
	if exp == nil {
		exp = kernels.Generic().Exp
	}
	return &Sampler{
		temperature: temperature,
		rng:         rand.New(rand.NewPCG(seed, stream)),
		exp:         exp,
		w:           make([]float32, q),
		cdf:         make([]float64, q),
	}, nil
}

// Draw returns a class drawn from softmax(logits/T), where the logit of
// class c is logits[c·stride] (stride is the generator's stream count, and
// logits starts at the stream's column). It draws exactly one uniform
// number per call, also at temperature 0, where it returns the first
// largest logit's class; so does a NaN or infinite largest logit.
func (s *Sampler) Draw(logits []float32, stride int) int32 {
	q := len(s.cdf)
	_ = logits[(q-1)*stride]
	u := s.rng.Float64()
	best, arg := logits[0], 0
	for c := 1; c < q; c++ {
		if v := logits[c*stride]; v > best {
			best, arg = v, c
		}
	}
	if s.temperature == 0 || best != best || math.IsInf(float64(best), 0) {
		return int32(arg)
	}
	s.weights(logits, stride, best, float32(1/s.temperature))
	var total float64
	for c, e := range s.w {
		total += float64(e)
		s.cdf[c] = total
	}
	return s.search(u * total)
}

// weights sets s.w[c] to exp((logits[c·stride] − best)·inv), or to 0 where
// the exponent is not above expMin (or is NaN).
func (s *Sampler) weights(logits []float32, stride int, best, inv float32) {
	w := s.w
	for c := range w {
		x := (logits[c*stride] - best) * inv
		if !(x > expMin) {
			x = expZero
		}
		w[c] = x
	}
	s.exp(len(w), w, w)
}

// expMin is the lowest exponent whose weight counts: exp(-87) ≈ 1.6e-38
// is still a normal float32. Lower exponents, and NaN, are replaced by
// expZero, whose exp is 0 in every kernel set (every set's exp returns 0
// below -104).
const (
	expMin  = -87
	expZero = 2 * expMin
)

// search returns the first class c with cdf[c] > target (the last if
// none); cdf is non-decreasing.
func (s *Sampler) search(target float64) int32 {
	cdf := s.cdf
	lo, hi := 0, len(cdf)-1
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if cdf[mid] > target {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	return int32(lo)
}
