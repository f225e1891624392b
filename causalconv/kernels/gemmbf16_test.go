package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// bf16Sets is every Set with the mixed-precision GEMMs except Reference,
// whose twins (refGemmNNBF16, refGemmNTBF16) define them.
func bf16Sets(t testing.TB) []Set {
	var out []Set
	for _, s := range Sets()[1:] {
		if s.GemmNNBF16 != nil {
			out = append(out, s)
		}
	}
	if len(out) == 0 {
		t.Logf("no kernel set with AVX512_BF16 on this CPU: only the reference twins are checked")
	}
	return out
}

// randBF16Matrix returns a random m×k matrix in the form GemmNNBF16 takes
// (stride lda, pad zero for odd k) and its float32 values.
func randBF16Matrix(r *rand.Rand, m, k, lda int) ([]uint16, []float32) {
	f := randSlice(r, m*lda)
	h := make([]uint16, m*lda)
	ToBF16Matrix(h, lda, f, lda, m, k)
	for i := range f {
		f[i] = float32(widenBF16(h[i]))
	}
	return h, f
}

func roundedSlice(s []float32) []float32 {
	out := make([]float32, len(s))
	for i, v := range s {
		out[i] = float32(roundBF16(v))
	}
	return out
}

// The sums of the asm kernels are float32, in another order than the
// twins' exact ones: 1e-6 of Σ|a·b| bounds that (as for the float32
// kernels), and is far below the 2^-9 that one wrongly rounded operand
// would show.
const bf16SumTol = 1e-6

func TestGemmNNBF16(t *testing.T) {
	ref := Reference()
	cases := append([]gemmCase{{8, 48, 256}, {8, 48, 257}, {16, 100, 511}, {3, 33, 2}, {64, 4000, 64}}, gemmCases...)
	for _, s := range bf16Sets(t) {
		for ci, tc := range cases {
			for _, variant := range []struct{ bias, acc bool }{{false, false}, {true, false}, {false, true}, {true, true}} {
				r := rand.New(rand.NewPCG(uint64(ci), 31))
				lda, ldc := BF16Stride(tc.k)+2*(ci%2), tc.n+5
				a16, af := randBF16Matrix(r, tc.m, tc.k, lda)
				off, blen := makeOffsets(r, tc.k, tc.n)
				b := randSlice(r, blen)
				var bias []float32
				if variant.bias {
					bias = randSlice(r, tc.m)
				}
				c0 := randSlice(r, tc.m*ldc)
				want := append([]float32(nil), c0...)
				got := append([]float32(nil), c0...)
				scale := absSlice(c0)
				ref.GemmNNBF16(tc.m, tc.n, tc.k, a16, lda, b, off, want, ldc, bias, variant.acc)
				ref.GemmNN(tc.m, tc.n, tc.k, absSlice(af), lda, absSlice(roundedSlice(b)), off, scale, ldc, absSlice(bias), variant.acc)
				s.GemmNNBF16(tc.m, tc.n, tc.k, a16, lda, b, off, got, ldc, bias, variant.acc)
				closeTo(t, fmt.Sprintf("%s GemmNNBF16 %v bias=%v acc=%v", s.Name, tc, variant.bias, variant.acc), got, want, scale, bf16SumTol)
			}
		}
	}
}

func TestGemmNTBF16(t *testing.T) {
	ref := Reference()
	cases := append([]gemmCase{{8, 256, 48}, {8, 257, 48}, {9, 513, 49}, {300, 40, 20}, {256, 600, 64}}, gemmCases...)
	for _, s := range bf16Sets(t) {
		for ci, tc := range cases {
			for _, acc := range []bool{false, true} {
				r := rand.New(rand.NewPCG(uint64(ci), 32))
				lda, ldc := tc.n+3, tc.k+5
				a := randSlice(r, tc.m*lda)
				off, blen := makeOffsets(r, tc.k, tc.n)
				b := randSlice(r, blen)
				c0 := randSlice(r, tc.m*ldc)
				want := append([]float32(nil), c0...)
				got := append([]float32(nil), c0...)
				scale := absSlice(c0)
				ref.GemmNTBF16(tc.m, tc.k, tc.n, a, lda, b, off, want, ldc, acc)
				ref.GemmNT(tc.m, tc.k, tc.n, absSlice(roundedSlice(a)), lda, absSlice(roundedSlice(b)), off, scale, ldc, acc)
				s.GemmNTBF16(tc.m, tc.k, tc.n, a, lda, b, off, got, ldc, acc)
				closeTo(t, fmt.Sprintf("%s GemmNTBF16 %v acc=%v", s.Name, tc, acc), got, want, scale, bf16SumTol)
			}
		}
	}
}

// TestGemmBF16Rounding checks the rounding itself exactly: with A = 1 the
// products are the rounded B values, which must be round-to-nearest-even
// of B with denormals flushed to zero (VCVTNE2PS2BF16), ties included.
func TestGemmBF16Rounding(t *testing.T) {
	vals := []float32{
		1, -2, 0, float32(math.Copysign(0, -1)), 3.14159, -1e-3, 6.5e4, -1e30,
		math.Float32frombits(0x3f808000), // tie → even (down)
		math.Float32frombits(0x3f818000), // tie → even (up)
		math.Float32frombits(0x3f808001), // above the tie
		math.Float32frombits(0xbf817fff), // below the tie, negative
		math.Float32frombits(0x00400000), // denormal: flushed
		math.Float32frombits(0x80000001), // negative denormal
		math.Float32frombits(0x00800000), // smallest normal: kept
		math.Float32frombits(0x7f7fffff), // MaxFloat32: rounds to +Inf
	}
	n := len(vals)
	b := make([]float32, n)
	copy(b, vals)
	want := make([]float32, n)
	for i, v := range vals {
		want[i] = float32(roundBF16(v))
	}
	one := []uint16{0x3f80, 0} // A = [1], k = 1 (odd: one pad)
	for _, s := range append([]Set{Reference()}, bf16Sets(t)...) {
		got := make([]float32, n)
		s.GemmNNBF16(1, n, 1, one, 2, b, []int{0}, got, n, nil, false)
		for i := range want {
			if math.Float32bits(got[i]) != math.Float32bits(want[i]) && !(got[i] == 0 && want[i] == 0) {
				t.Errorf("%s GemmNNBF16: bf16(%g = %#08x) = %g, want %g", s.Name, vals[i], math.Float32bits(vals[i]), got[i], want[i])
			}
		}
		// NT: A = [1, 0, 0, …] over time, row j of B = [vals[j], 0, 0, …].
		a := make([]float32, n)
		a[0] = 1
		off := make([]int, n)
		bb := make([]float32, n*n)
		for j := range off {
			off[j] = j * n
			bb[j*n] = vals[j]
		}
		gotT := make([]float32, n)
		s.GemmNTBF16(1, n, n, a, n, bb, off, gotT, n, false)
		for j := range want {
			if math.Float32bits(gotT[j]) != math.Float32bits(want[j]) && !(gotT[j] == 0 && want[j] == 0) {
				t.Errorf("%s GemmNTBF16: bf16(%g) = %g, want %g", s.Name, vals[j], gotT[j], want[j])
			}
		}
	}
}

// TestGemmBF16Error states how far the mixed-precision products are from
// the float32 ones: each operand is within 2^-8 of its value, so a product
// within 2·2^-8 + 2^-16 of |a·b|, and the result within that fraction of
// Σ|a·b| (plus float32 summation error). It checks the bound on the
// network's shapes and logs the typical error.
func TestGemmBF16Error(t *testing.T) {
	ref := Reference()
	const bound = 2.0/256 + 1.0/65536 + 1e-6
	sets := append([]Set{ref}, bf16Sets(t)...)
	for ci, tc := range []gemmCase{{64, 200, 64}, {32, 150, 640}, {17, 33, 9}} {
		r := rand.New(rand.NewPCG(uint64(ci), 33))
		a := randSlice(r, tc.m*tc.k)
		a16 := make([]uint16, tc.m*BF16Stride(tc.k))
		ToBF16Matrix(a16, BF16Stride(tc.k), a, tc.k, tc.m, tc.k)
		off, blen := makeOffsets(r, tc.k, tc.n)
		b := randSlice(r, blen)
		want, scale := make([]float32, tc.m*tc.n), make([]float32, tc.m*tc.n)
		ref.GemmNN(tc.m, tc.n, tc.k, a, tc.k, b, off, want, tc.n, nil, false)
		ref.GemmNN(tc.m, tc.n, tc.k, absSlice(a), tc.k, absSlice(b), off, scale, tc.n, nil, false)
		at := randSlice(r, tc.m*tc.n)
		wantT, scaleT := make([]float32, tc.m*tc.k), make([]float32, tc.m*tc.k)
		ref.GemmNT(tc.m, tc.k, tc.n, at, tc.n, b, off, wantT, tc.k, false)
		ref.GemmNT(tc.m, tc.k, tc.n, absSlice(at), tc.n, absSlice(b), off, scaleT, tc.k, false)
		for _, s := range sets {
			got := make([]float32, tc.m*tc.n)
			s.GemmNNBF16(tc.m, tc.n, tc.k, a16, BF16Stride(tc.k), b, off, got, tc.n, nil, false)
			closeTo(t, fmt.Sprintf("%s GemmNNBF16 vs float32 %v", s.Name, tc), got, want, scale, bound)
			gotT := make([]float32, tc.m*tc.k)
			s.GemmNTBF16(tc.m, tc.k, tc.n, at, tc.n, b, off, gotT, tc.k, false)
			closeTo(t, fmt.Sprintf("%s GemmNTBF16 vs float32 %v", s.Name, tc), gotT, wantT, scaleT, bound)
			if s.Name == "reference" {
				t.Logf("%v: mean |bf16 − fp32| / Σ|a·b|: NN %.2g, NT %.2g", tc, meanRelErr(got, want, scale), meanRelErr(gotT, wantT, scaleT))
			}
		}
	}
}

func meanRelErr(got, want, scale []float32) float64 {
	var s float64
	for i := range got {
		s += math.Abs(float64(got[i])-float64(want[i])) / float64(scale[i])
	}
	return s / float64(len(got))
}

// TestGemmBF16RandomShapes reaches every combination of row tiles, panel
// widths, depth blocks, odd k and n, and tails.
func TestGemmBF16RandomShapes(t *testing.T) {
	ref := Reference()
	sets := bf16Sets(t)
	if len(sets) == 0 {
		t.Skip("no AVX512_BF16")
	}
	r := rand.New(rand.NewPCG(13, 14))
	for range 60 {
		tc := gemmCase{m: 1 + r.IntN(20), n: 1 + r.IntN(300), k: 1 + r.IntN(600)}
		acc := r.IntN(2) == 0
		lda := BF16Stride(tc.k) + r.IntN(3)
		a16, _ := randBF16Matrix(r, tc.m, tc.k, lda)
		off, blen := makeOffsets(r, tc.k, tc.n)
		b := randSlice(r, blen)
		bias := randSlice(r, tc.m)
		c0 := randSlice(r, tc.m*tc.n)
		want := append([]float32(nil), c0...)
		ref.GemmNNBF16(tc.m, tc.n, tc.k, a16, lda, b, off, want, tc.n, bias, acc)
		at := randSlice(r, tc.m*tc.n)
		ct0 := randSlice(r, tc.m*tc.k)
		wantT := append([]float32(nil), ct0...)
		ref.GemmNTBF16(tc.m, tc.k, tc.n, at, tc.n, b, off, wantT, tc.k, acc)
		// Generous scales (|C| + Σ|a||b| with float32 operands) suffice:
		// a wrong tile or tail is off by O(1).
		scale, scaleT := absSlice(c0), absSlice(ct0)
		ref.GemmNN(tc.m, tc.n, tc.k, absSlice(widenAll(a16)), lda, absSlice(b), off, scale, tc.n, absSlice(bias), true)
		ref.GemmNT(tc.m, tc.k, tc.n, absSlice(at), tc.n, absSlice(b), off, scaleT, tc.k, true)
		for _, s := range sets {
			got := append([]float32(nil), c0...)
			s.GemmNNBF16(tc.m, tc.n, tc.k, a16, lda, b, off, got, tc.n, bias, acc)
			closeTo(t, fmt.Sprintf("%s GemmNNBF16 %v acc=%v", s.Name, tc, acc), got, want, scale, 2e-6)
			gotT := append([]float32(nil), ct0...)
			s.GemmNTBF16(tc.m, tc.k, tc.n, at, tc.n, b, off, gotT, tc.k, acc)
			closeTo(t, fmt.Sprintf("%s GemmNTBF16 %v acc=%v", s.Name, tc, acc), gotT, wantT, scaleT, 2e-6)
		}
	}
}

func widenAll(h []uint16) []float32 {
	f := make([]float32, len(h))
	FromBF16(f, h)
	return f
}

// TestGemmBF16NoOverrun checks that the bf16 kernels write only inside C's
// window and read nothing past the slices' ends (they end exactly at the
// last element, or at the pad of an odd k).
func TestGemmBF16NoOverrun(t *testing.T) {
	ref := Reference()
	for _, s := range bf16Sets(t) {
		for _, tc := range []gemmCase{{9, 49, 129}, {3, 17, 5}, {8, 48, 16}, {1, 33, 1}, {2, 3, 300}} {
			r := rand.New(rand.NewPCG(7, 8))
			ldc := tc.n + 7
			lda := BF16Stride(tc.k)
			a16, _ := randBF16Matrix(r, tc.m, tc.k, lda)
			a16 = a16[:(tc.m-1)*lda+lda]
			off := make([]int, tc.k)
			for j := range off {
				off[j] = j * tc.n
			}
			b := randSlice(r, tc.k*tc.n)
			c := make([]float32, (tc.m-1)*ldc+tc.n)
			for i := range c {
				c[i] = 12345
			}
			want := append([]float32(nil), c...)
			ref.GemmNNBF16(tc.m, tc.n, tc.k, a16, lda, b, off, want, ldc, nil, false)
			s.GemmNNBF16(tc.m, tc.n, tc.k, a16, lda, b, off, c, ldc, nil, false)
			for i := range c {
				if (i%ldc >= tc.n) != (c[i] == 12345) || math.Abs(float64(c[i]-want[i])) > 1e-3 {
					t.Fatalf("%s GemmNNBF16 %v: C[%d] = %g, want %g", s.Name, tc, i, c[i], want[i])
				}
			}
			ldc = tc.k + 7
			a := randSlice(r, tc.m*tc.n)
			c = make([]float32, (tc.m-1)*ldc+tc.k)
			for i := range c {
				c[i] = 12345
			}
			want = append([]float32(nil), c...)
			ref.GemmNTBF16(tc.m, tc.k, tc.n, a, tc.n, b, off, want, ldc, false)
			s.GemmNTBF16(tc.m, tc.k, tc.n, a, tc.n, b, off, c, ldc, false)
			for i := range c {
				if (i%ldc >= tc.k) != (c[i] == 12345) || math.Abs(float64(c[i]-want[i])) > 1e-3 {
					t.Fatalf("%s GemmNTBF16 %v: C[%d] = %g, want %g", s.Name, tc, i, c[i], want[i])
				}
			}
		}
	}
}

func TestGemmBF16PanicsOnShortSlices(t *testing.T) {
	for _, s := range append([]Set{Reference()}, bf16Sets(t)...) {
		a := make([]uint16, 3*4+3) // 4×3 with stride 4: the last row's pad is missing
		b := make([]float32, 3*10)
		c := make([]float32, 4*10)
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s GemmNNBF16: no panic for an A without the pad of an odd k", s.Name)
				}
			}()
			s.GemmNNBF16(4, 10, 3, a, 4, b, []int{0, 10, 20}, c, 10, nil, false)
		}()
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s GemmNTBF16: no panic for a row past the end of B", s.Name)
				}
			}()
			s.GemmNTBF16(4, 3, 10, c, 10, b, []int{0, 10, 21}, make([]float32, 12), 3, false)
		}()
	}
}

// TestGemmNTBF16Long checks the float32 accumulation over a long time axis.
func TestGemmNTBF16Long(t *testing.T) {
	const m, k, n = 8, 20, 16001
	ref := Reference()
	r := rand.New(rand.NewPCG(21, 23))
	a := randSlice(r, m*n)
	off, blen := makeOffsets(r, k, n)
	b := randSlice(r, blen)
	want, scale := make([]float32, m*k), make([]float32, m*k)
	ref.GemmNTBF16(m, k, n, a, n, b, off, want, k, false)
	ref.GemmNT(m, k, n, absSlice(a), n, absSlice(b), off, scale, k, false)
	for _, s := range bf16Sets(t) {
		got := make([]float32, m*k)
		s.GemmNTBF16(m, k, n, a, n, b, off, got, k, false)
		closeTo(t, s.Name+" GemmNTBF16 n=16001", got, want, scale, bf16SumTol)
	}
}

func TestGemmBF16NoAllocs(t *testing.T) {
	const m, n, k = 64, 300, 131
	r := rand.New(rand.NewPCG(3, 5))
	a16, _ := randBF16Matrix(r, m, k, BF16Stride(k))
	off, blen := makeOffsets(r, k, n)
	b := randSlice(r, blen)
	c := make([]float32, m*n)
	ct := make([]float32, m*k)
	at := randSlice(r, m*n)
	bias := randSlice(r, m)
	for _, s := range bf16Sets(t) {
		allocs := testing.AllocsPerRun(5, func() {
			s.GemmNNBF16(m, n, k, a16, BF16Stride(k), b, off, c, n, bias, false)
			s.GemmNTBF16(m, k, n, at, n, b, off, ct, k, true)
		})
		if allocs != 0 {
			t.Errorf("%s: %v allocations per call pair, want 0", s.Name, allocs)
		}
	}
}

func TestToBF16Matrix(t *testing.T) {
	src := []float32{1, 2, 3, 9, 4, 5, 6, 9} // 2×3, stride 4
	dst := make([]uint16, 2*4)
	for i := range dst {
		dst[i] = 0xffff
	}
	ToBF16Matrix(dst, 4, src, 4, 2, 3)
	want := []uint16{0x3f80, 0x4000, 0x4040, 0, 0x4080, 0x40a0, 0x40c0, 0}
	for i := range want {
		if dst[i] != want[i] {
			t.Fatalf("ToBF16Matrix = %#04x, want %#04x", dst, want)
		}
	}
	defer func() {
		if recover() == nil {
			t.Error("ToBF16Matrix: no panic for a stride without room for the pad")
		}
	}()
	ToBF16Matrix(dst, 3, src, 4, 2, 3)
}

func TestBF16SetMembership(t *testing.T) {
	for _, s := range Sets() {
		has := s.GemmNNBF16 != nil
		if has != (s.GemmNTBF16 != nil) || has != (s.PackBF16 != nil) || has != (s.GemmNNBF16Packed != nil) {
			t.Errorf("%s: the bf16 kernels must come together", s.Name)
		}
		if (s.Name == "generic" || s.Name == "avx2") && has {
			t.Errorf("%s has bf16 GEMMs", s.Name)
		}
		if s.Name == "reference" && !has {
			t.Error("reference lacks the bf16 twins")
		}
	}
}

// TestGemmNNBF16Packed checks PackBF16 against the layout gemmbf16.go
// defines (every set writes exactly what Reference writes, and nothing
// past PackedBF16Len) and GemmNNBF16Packed against GemmNNBF16, with one
// packed operand serving two products.
func TestGemmNNBF16Packed(t *testing.T) {
	ref := Reference()
	cases := []gemmCase{{8, 48, 256}, {8, 64, 257}, {16, 100, 511}, {3, 33, 2}, {1, 1, 1}, {9, 49, 129}, {32, 200, 64}, {5, 1000, 7}}
	for _, s := range append([]Set{ref}, bf16Sets(t)...) {
		for ci, tc := range cases {
			r := rand.New(rand.NewPCG(uint64(ci), 41))
			off, blen := makeOffsets(r, tc.k, tc.n)
			b := randSlice(r, blen)
			b[off[0]] = math.Float32frombits(0x00400000) // a denormal: flushed
			n := PackedBF16Len(tc.k, tc.n)
			want := make([]uint16, n)
			ref.PackBF16(tc.k, tc.n, b, off, want)
			got := make([]uint16, n+64)
			for i := range got {
				got[i] = 0xdead
			}
			s.PackBF16(tc.k, tc.n, b, off, got)
			for i := range want {
				if got[i] != want[i] {
					t.Fatalf("%s PackBF16 %v: element %d = %#04x, want %#04x", s.Name, tc, i, got[i], want[i])
				}
			}
			for i := n; i < len(got); i++ {
				if got[i] != 0xdead {
					t.Fatalf("%s PackBF16 %v wrote element %d past the %d of the layout", s.Name, tc, i, n)
				}
			}
			for a := range 2 {
				lda := BF16Stride(tc.k) + 2*a
				a16, af := randBF16Matrix(r, tc.m, tc.k, lda)
				bias := randSlice(r, tc.m)
				ldc := tc.n + 3
				c0 := randSlice(r, tc.m*ldc)
				wantC := append([]float32(nil), c0...)
				ref.GemmNNBF16(tc.m, tc.n, tc.k, a16, lda, b, off, wantC, ldc, bias, a == 1)
				scale := absSlice(c0)
				ref.GemmNN(tc.m, tc.n, tc.k, absSlice(af), lda, absSlice(roundedSlice(b)), off, scale, ldc, absSlice(bias), true)
				gotC := append([]float32(nil), c0...)
				s.GemmNNBF16Packed(tc.m, tc.n, tc.k, a16, lda, got, gotC, ldc, bias, a == 1)
				closeTo(t, fmt.Sprintf("%s GemmNNBF16Packed %v acc=%v", s.Name, tc, a == 1), gotC, wantC, scale, bf16SumTol)
			}
		}
	}
}

func TestGemmNNBF16PackedNoAllocs(t *testing.T) {
	const m, n, k = 32, 300, 131
	r := rand.New(rand.NewPCG(3, 6))
	a16, _ := randBF16Matrix(r, m, k, BF16Stride(k))
	off, blen := makeOffsets(r, k, n)
	b := randSlice(r, blen)
	bp := make([]uint16, PackedBF16Len(k, n))
	c := make([]float32, m*n)
	for _, s := range bf16Sets(t) {
		allocs := testing.AllocsPerRun(5, func() {
			s.PackBF16(k, n, b, off, bp)
			s.GemmNNBF16Packed(m, n, k, a16, BF16Stride(k), bp, c, n, nil, true)
		})
		if allocs != 0 {
			t.Errorf("%s: %v allocations, want 0", s.Name, allocs)
		}
	}
}
