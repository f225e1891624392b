package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// TestGemmNNPacked checks Pack against the layout of packed.go and
// GemmNNPacked against GemmNN of the same set: bit for bit (every set that
// has them), and against Reference to 1e-6 of Σ|a·b|.
func TestGemmNNPacked(t *testing.T) {
	ref := Reference()
	cases := append([]gemmCase{{8, 64, 257}, {16, 100, 300}, {32, 4000, 64}}, gemmCases...)
	found := false
	for _, s := range Sets() {
		if s.Pack == nil {
			if s.GemmNNPacked != nil {
				t.Errorf("%s has GemmNNPacked without Pack", s.Name)
			}
			continue
		}
		found = true
		for ci, tc := range cases {
			r := rand.New(rand.NewPCG(uint64(ci), 51))
			off, blen := makeOffsets(r, tc.k, tc.n)
			b := randSlice(r, blen)
			n := PackedLen(tc.k, tc.n)
			want := make([]float32, n)
			ref.Pack(tc.k, tc.n, b, off, want)
			got := make([]float32, n+48)
			for i := range got {
				got[i] = 12345
			}
			s.Pack(tc.k, tc.n, b, off, got)
			for i := range want {
				if got[i] != want[i] {
					t.Fatalf("%s Pack %v: element %d = %g, want %g", s.Name, tc, i, got[i], want[i])
				}
			}
			for i := n; i < len(got); i++ {
				if got[i] != 12345 {
					t.Fatalf("%s Pack %v wrote past the %d floats of the layout", s.Name, tc, n)
				}
			}
			for _, acc := range []bool{false, true} {
				lda, ldc := tc.k+1, tc.n+3
				a := randSlice(r, tc.m*lda)
				bias := randSlice(r, tc.m)
				c0 := randSlice(r, tc.m*ldc)
				direct := append([]float32(nil), c0...)
				s.GemmNN(tc.m, tc.n, tc.k, a, lda, b, off, direct, ldc, bias, acc)
				packed := append([]float32(nil), c0...)
				s.GemmNNPacked(tc.m, tc.n, tc.k, a, lda, got, packed, ldc, bias, acc)
				what := fmt.Sprintf("%s GemmNNPacked %v acc=%v", s.Name, tc, acc)
				if s.Name == "reference" {
					scale := absSlice(c0)
					ref.GemmNN(tc.m, tc.n, tc.k, absSlice(a), lda, absSlice(b), off, scale, ldc, absSlice(bias), true)
					closeTo(t, what, packed, direct, scale, 1e-6)
					continue
				}
				for i := range direct {
					if math.Float32bits(packed[i]) != math.Float32bits(direct[i]) {
						t.Fatalf("%s: C[%d] = %g, GemmNN gives %g", what, i, packed[i], direct[i])
					}
				}
			}
		}
	}
	if !found {
		t.Fatal("no set has Pack (Reference should)")
	}
}

func TestGemmNNPackedNoAllocs(t *testing.T) {
	const m, n, k = 32, 300, 131
	r := rand.New(rand.NewPCG(3, 7))
	a := randSlice(r, m*k)
	off, blen := makeOffsets(r, k, n)
	b := randSlice(r, blen)
	bp := make([]float32, PackedLen(k, n))
	c := make([]float32, m*n)
	for _, s := range testSets(t) {
		if s.Pack == nil {
			continue
		}
		allocs := testing.AllocsPerRun(5, func() {
			s.Pack(k, n, b, off, bp)
			s.GemmNNPacked(m, n, k, a, k, bp, c, n, nil, true)
		})
		if allocs != 0 {
			t.Errorf("%s: %v allocations, want 0", s.Name, allocs)
		}
	}
}
