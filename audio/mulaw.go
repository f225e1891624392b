package audio

import (
	"fmt"
	"math"
)

// MuLaw is μ-law companding of samples in [-1, 1] to Q classes 0..Q-1,
// with μ = Q-1: fine steps near zero, where speech spends most of its
// time, coarse ones near full scale. It is exactly the reference's
// mu_law_encode / mu_law_decode:
//
//	encode: c = floor((sign(x)·ln(1+μ|x|)/ln(1+μ) + 1)/2·μ + 0.5), clamped to [0, μ]
//	decode: y = 2c/μ - 1, x = sign(y)·((1+μ)^|y| - 1)/μ
//
// Decode gives each class's centre, and Encode maps every centre back to
// its class.
type MuLaw struct {
	Q int // number of classes, 2..65536; 256 is the usual
}

// Validate reports a class count outside 2..65536.
func (m MuLaw) Validate() error {
	if m.Q < 2 || m.Q > 1<<16 {
		return fmt.Errorf("μ-law: %d quantization classes, want 2 to 65536", m.Q)
	}
	return nil
}

// Encode writes the class of each x[i] to dst[i]; len(dst) must be at
// least len(x). Values beyond ±1 take the end classes; NaN takes the
// class of 0.
func (m MuLaw) Encode(x []float32, dst []int32) {
	dst = dst[:len(x)]
	for i, v := range x {
		dst[i] = m.EncodeOne(v)
	}
}

// EncodeOne is the class of one sample. The arithmetic is float32, one
// rounding per operation as in the reference (the explicit conversions
// keep the compiler from fusing them): in float64, a tiny negative
// sample would fall just below a class boundary that float32 rounds onto.
func (m MuLaw) EncodeOne(v float32) int32 {
	if v != v { // NaN
		v = 0
	}
	mu := float32(m.Q - 1)
	a := float32(mu * float32(math.Abs(float64(v))))
	y := float32(float32(math.Log1p(float64(a))) / float32(math.Log1p(float64(mu))))
	if v < 0 {
		y = -y
	}
	t := float32(float32(float32(y+1)/2)*mu) + 0.5
	return int32(max(0, min(mu, float32(math.Floor(float64(t))))))
}

// Silence is the class of 0, which generation starts from.
func (m MuLaw) Silence() int32 { return m.EncodeOne(0) }

// Decode writes the centre of each class c[i] to dst[i]; len(dst) must be
// at least len(c). Classes outside 0..Q-1 are clamped.
func (m MuLaw) Decode(c []int32, dst []float32) {
	dst = dst[:len(c)]
	for i, v := range c {
		dst[i] = m.Centre(v)
	}
}

// Centre is the sample value class c stands for, computed in float32
// as the reference does.
func (m MuLaw) Centre(c int32) float32 {
	mu := float32(m.Q - 1)
	y := float32(float32(2*float32(max(0, min(int32(m.Q-1), c))))/mu) - 1
	x := float32(float32(math.Pow(float64(1+mu), math.Abs(float64(y))))-1) / mu
	if y < 0 {
		x = -x
	}
	return x
}
