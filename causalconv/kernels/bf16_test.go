package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

func TestBF16Conversion(t *testing.T) {
	for _, tc := range []struct {
		in   float32
		want uint16
	}{
		{1, 0x3f80}, {-2, 0xc000}, {0, 0},
		{math.Float32frombits(0x3f808000), 0x3f80}, // tie → even
		{math.Float32frombits(0x3f818000), 0x3f82}, // tie → even (up)
		{math.Float32frombits(0x3f808001), 0x3f81}, // above the tie
		{float32(math.Inf(1)), 0x7f80}, {float32(math.Inf(-1)), 0xff80},
		{math.MaxFloat32, 0x7f80}, // rounds up to +Inf
	} {
		var out [1]uint16
		ToBF16(out[:], []float32{tc.in})
		if out[0] != tc.want {
			t.Errorf("ToBF16(%g) = %#04x, want %#04x", tc.in, out[0], tc.want)
		}
	}
	var out [1]uint16
	ToBF16(out[:], []float32{float32(math.NaN())})
	var back [1]float32
	FromBF16(back[:], out[:])
	if !math.IsNaN(float64(back[0])) {
		t.Errorf("ToBF16(NaN) widens to %g", back[0])
	}
	// Round trip error ≤ 2^-8 relative (half an ulp of an 8-bit significand).
	r := rand.New(rand.NewPCG(5, 5))
	for range 10000 {
		f := float32(r.NormFloat64() * math.Exp(r.NormFloat64()*10))
		ToBF16(out[:], []float32{f})
		FromBF16(back[:], out[:])
		if e := math.Abs(float64(back[0]-f)) / math.Abs(float64(f)); e > 1.0/256 {
			t.Fatalf("bf16 round trip of %g = %g (relative error %g)", f, back[0], e)
		}
	}
}

func TestMatVecBF16(t *testing.T) {
	ref := Reference()
	for _, s := range testSets(t) {
		for ci, tc := range []struct{ m, k int }{{1, 1}, {3, 5}, {64, 64}, {32, 32}, {256, 640}, {17, 33}, {9, 100}, {5, 15}, {130, 9}, {8, 3}, {200, 1}} {
			for _, variant := range []struct{ bias, acc bool }{{false, false}, {true, true}, {true, false}} {
				r := rand.New(rand.NewPCG(uint64(ci), 9))
				lda := tc.k + 3
				a := make([]uint16, tc.m*lda)
				ToBF16(a, randSlice(r, tc.m*lda))
				abs := make([]uint16, len(a))
				for i, h := range a {
					abs[i] = h &^ 0x8000
				}
				x := randSlice(r, tc.k)
				var bias []float32
				if variant.bias {
					bias = randSlice(r, tc.m)
				}
				y0 := randSlice(r, tc.m)
				want := append([]float32(nil), y0...)
				got := append([]float32(nil), y0...)
				scale := absSlice(y0)
				ref.MatVecBF16(tc.m, tc.k, a, lda, x, want, bias, variant.acc)
				ref.MatVecBF16(tc.m, tc.k, abs, lda, absSlice(x), scale, absSlice(bias), variant.acc)
				s.MatVecBF16(tc.m, tc.k, a, lda, x, got, bias, variant.acc)
				closeTo(t, fmt.Sprintf("%s MatVecBF16 %v bias=%v acc=%v", s.Name, tc, variant.bias, variant.acc), got, want, scale, 1e-6)

				ldat := tc.m + 2
				at := make([]uint16, tc.k*ldat)
				for i := 0; i < tc.m; i++ {
					for j := 0; j < tc.k; j++ {
						at[j*ldat+i] = a[i*lda+j]
					}
				}
				gotT := append([]float32(nil), y0...)
				s.MatVecTBF16(tc.m, tc.k, at, ldat, x, gotT, bias, variant.acc)
				closeTo(t, fmt.Sprintf("%s MatVecTBF16 %v bias=%v acc=%v", s.Name, tc, variant.bias, variant.acc), gotT, want, scale, 1e-6)
			}
		}
	}
}

// TestMatVecBF16Error measures what rounding the weights to bf16 costs
// against float32 weights, for the generation shapes with weights and
// inputs of unit scale: relative to Σ|a·x| the error is below 2^-8 (each
// weight's rounding error; the bound checked) and on average about 1e-4.
func TestMatVecBF16Error(t *testing.T) {
	r := rand.New(rand.NewPCG(8, 8))
	ref := Reference()
	for _, tc := range []struct{ m, k int }{{64, 64}, {32, 32}, {256, 640}, {256, 256}} {
		a32 := randSlice(r, tc.m*tc.k)
		a16 := make([]uint16, len(a32))
		ToBF16(a16, a32)
		x := randSlice(r, tc.k)
		y32, y16, scale := make([]float32, tc.m), make([]float32, tc.m), make([]float32, tc.m)
		ref.MatVec(tc.m, tc.k, a32, tc.k, x, y32, nil, false)
		ref.MatVec(tc.m, tc.k, absSlice(a32), tc.k, absSlice(x), scale, nil, false)
		Best().MatVecBF16(tc.m, tc.k, a16, tc.k, x, y16, nil, false)
		var worst, mean float64
		for i := range y32 {
			e := math.Abs(float64(y16[i]-y32[i])) / float64(scale[i])
			worst = max(worst, e)
			mean += e / float64(tc.m)
		}
		t.Logf("%d×%d: bf16 weights: error / Σ|a·x|: mean %.2g, max %.2g", tc.m, tc.k, mean, worst)
		if worst > 1.0/256 {
			t.Errorf("%d×%d: bf16 error %.3g exceeds 2^-8", tc.m, tc.k, worst)
		}
	}
}
