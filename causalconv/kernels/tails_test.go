package kernels

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestElementwiseIndependentOfLength checks that an element's result does
// not depend on the length of the call it is in: the vector sets run their
// last n%lanes elements through the same vector code as the rest (the Go
// twins round differently), so a call over the first n elements must give
// bit for bit the prefix of a longer call.
func TestElementwiseIndependentOfLength(t *testing.T) {
	const total = 53
	r := rand.New(rand.NewPCG(17, 18))
	x := randSlice(r, total)
	g := randSlice(r, total)
	dz := randSlice(r, total)
	same := func(a, b []float32) bool {
		for i := range a {
			if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
				return false
			}
		}
		return true
	}
	for _, s := range testSets(t) {
		// Results of one call over all elements.
		f0, g0, z0 := append([]float32(nil), x...), append([]float32(nil), g...), make([]float32, total)
		s.Gate(total, f0, g0, f0, g0, z0)
		df0, dg0 := make([]float32, total), make([]float32, total)
		s.GateBackward(total, f0, g0, dz, df0, dg0)
		y0 := append([]float32(nil), g...)
		s.Axpy(total, 0.37, x, y0)
		e0 := make([]float32, total)
		s.Exp(total, x, e0)
		for n := 1; n < total; n++ {
			f, gg, z := append([]float32(nil), x[:n]...), append([]float32(nil), g[:n]...), make([]float32, n)
			tf, sg, z2 := make([]float32, n), make([]float32, n), make([]float32, n)
			s.Gate(n, f, gg, tf, sg, z2) // out of place: f and gg stay the inputs
			s.Gate(n, f, gg, f, gg, z)
			if !same(f, f0[:n]) || !same(gg, g0[:n]) || !same(z, z0[:n]) {
				t.Errorf("%s Gate: the first %d results change with the call's length", s.Name, n)
			}
			if !same(tf, f) || !same(sg, gg) || !same(z2, z) {
				t.Errorf("%s Gate: %d results out of place differ from those in place", s.Name, n)
			}
			df, dg := make([]float32, n), make([]float32, n)
			s.GateBackward(n, f0, g0, dz, df, dg)
			if !same(df, df0[:n]) || !same(dg, dg0[:n]) {
				t.Errorf("%s GateBackward: the first %d results change with the call's length", s.Name, n)
			}
			y := append([]float32(nil), g[:n]...)
			s.Axpy(n, 0.37, x, y)
			if !same(y, y0[:n]) {
				t.Errorf("%s Axpy: the first %d results change with the call's length", s.Name, n)
			}
			e := make([]float32, n)
			s.Exp(n, x, e)
			if !same(e, e0[:n]) {
				t.Errorf("%s Exp: the first %d results change with the call's length", s.Name, n)
			}
		}
	}
}
