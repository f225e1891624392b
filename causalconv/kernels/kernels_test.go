package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// testSets is every Set this CPU can run except Reference, which the others
// are checked against.
func testSets(t *testing.T) []Set {
	t.Helper()
	all := Sets()
	if all[0].Name != "reference" {
		t.Fatalf("Sets()[0] is %q, want reference", all[0].Name)
	}
	return all[1:]
}

func randSlice(r *rand.Rand, n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = float32(r.NormFloat64())
	}
	return s
}

func absSlice(s []float32) []float32 {
	if s == nil {
		return nil
	}
	out := make([]float32, len(s))
	for i, v := range s {
		out[i] = float32(math.Abs(float64(v)))
	}
	return out
}

// closeTo checks got against want elementwise: |got-want| ≤ tol·scale[i]
// (scale is the sum of absolute values of the terms, so the bound is
// relative to the size of what was summed, not to a result that cancelled).
func closeTo(t *testing.T, what string, got, want, scale []float32, tol float64) {
	t.Helper()
	bad := 0
	for i := range want {
		d := math.Abs(float64(got[i]) - float64(want[i]))
		if !(d <= tol*float64(scale[i])+1e-30) {
			if bad < 5 {
				t.Errorf("%s: [%d] got %g want %g (|diff| %.3g > %.3g)", what, i, got[i], want[i], d, tol*float64(scale[i]))
			}
			bad++
		}
	}
	if bad > 0 {
		t.Errorf("%s: %d of %d elements differ", what, bad, len(want))
	}
}

// gemmCase is one GemmNN/GemmNT test shape. The B operand is one buffer of
// rows of length ldb; bOff[j] points row j at a shifted position, the way
// the taps of a dilated conv do.
type gemmCase struct{ m, n, k int }

var gemmCases = []gemmCase{
	{1, 1, 1}, {3, 5, 7}, {8, 48, 128}, {9, 49, 129}, {7, 47, 3}, {16, 16, 16},
	{64, 200, 64}, {32, 100, 32}, {17, 300, 130}, {8, 8, 8}, {5, 1000, 6},
	{40, 97, 300}, {2, 3, 260}, {24, 130, 33},
}

func makeOffsets(r *rand.Rand, k, n int) (off []int, blen int) {
	// Rows of a [rows × ld] buffer with a few columns of context, each tap
	// at its own shift; some rows repeat (as taps of a conv share rows).
	ld := n + 11
	rows := k/2 + 1
	off = make([]int, k)
	for j := range off {
		off[j] = r.IntN(rows)*ld + r.IntN(12)
	}
	return off, rows * ld
}

func TestGemmNN(t *testing.T) {
	ref := Reference()
	for _, s := range testSets(t) {
		for ci, tc := range gemmCases {
			for _, variant := range []struct{ bias, acc bool }{{false, false}, {true, false}, {false, true}, {true, true}} {
				r := rand.New(rand.NewPCG(uint64(ci), 1))
				lda, ldc := tc.k+3, tc.n+5
				a := randSlice(r, tc.m*lda)
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
				ref.GemmNN(tc.m, tc.n, tc.k, a, lda, b, off, want, ldc, bias, variant.acc)
				ref.GemmNN(tc.m, tc.n, tc.k, absSlice(a), lda, absSlice(b), off, scale, ldc, absSlice(bias), variant.acc)
				s.GemmNN(tc.m, tc.n, tc.k, a, lda, b, off, got, ldc, bias, variant.acc)
				closeTo(t, fmt.Sprintf("%s GemmNN %v bias=%v acc=%v", s.Name, tc, variant.bias, variant.acc), got, want, scale, 1e-6)
			}
		}
	}
}

func TestGemmNT(t *testing.T) {
	ref := Reference()
	for _, s := range testSets(t) {
		for ci, tc := range gemmCases {
			for _, acc := range []bool{false, true} {
				r := rand.New(rand.NewPCG(uint64(ci), 2))
				lda, ldc := tc.n+3, tc.k+5
				a := randSlice(r, tc.m*lda)
				off, blen := makeOffsets(r, tc.k, tc.n)
				b := randSlice(r, blen)
				c0 := randSlice(r, tc.m*ldc)
				want := append([]float32(nil), c0...)
				got := append([]float32(nil), c0...)
				scale := absSlice(c0)
				ref.GemmNT(tc.m, tc.k, tc.n, a, lda, b, off, want, ldc, acc)
				ref.GemmNT(tc.m, tc.k, tc.n, absSlice(a), lda, absSlice(b), off, scale, ldc, acc)
				s.GemmNT(tc.m, tc.k, tc.n, a, lda, b, off, got, ldc, acc)
				closeTo(t, fmt.Sprintf("%s GemmNT %v acc=%v", s.Name, tc, acc), got, want, scale, 1e-6)
			}
		}
	}
}

// TestGemmNoOverrun checks that the kernels write only inside C's m×n
// window and read B only at the given offsets: the slices end exactly where
// the last element is, and everything around the window is a sentinel.
func TestGemmNoOverrun(t *testing.T) {
	ref := Reference()
	for _, s := range testSets(t) {
		for _, tc := range []gemmCase{{9, 49, 129}, {3, 17, 5}, {8, 48, 16}, {1, 33, 1}} {
			r := rand.New(rand.NewPCG(7, 7))
			ldc := tc.n + 7
			a := randSlice(r, tc.m*tc.k)
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
			ref.GemmNN(tc.m, tc.n, tc.k, a, tc.k, b, off, want, ldc, nil, false)
			s.GemmNN(tc.m, tc.n, tc.k, a, tc.k, b, off, c, ldc, nil, false)
			for i := range c {
				if (i%ldc >= tc.n) != (c[i] == 12345) || math.Abs(float64(c[i]-want[i])) > 1e-3 {
					t.Fatalf("%s GemmNN %v: C[%d] = %g, want %g", s.Name, tc, i, c[i], want[i])
				}
			}
			// NT: C is m×k; A is m×n.
			ldc = tc.k + 7
			a = randSlice(r, tc.m*tc.n)
			c = make([]float32, (tc.m-1)*ldc+tc.k)
			for i := range c {
				c[i] = 12345
			}
			want = append([]float32(nil), c...)
			ref.GemmNT(tc.m, tc.k, tc.n, a, tc.n, b, off, want, ldc, false)
			s.GemmNT(tc.m, tc.k, tc.n, a, tc.n, b, off, c, ldc, false)
			for i := range c {
				if (i%ldc >= tc.k) != (c[i] == 12345) || math.Abs(float64(c[i]-want[i])) > 1e-3 {
					t.Fatalf("%s GemmNT %v: C[%d] = %g, want %g", s.Name, tc, i, c[i], want[i])
				}
			}
		}
	}
}

func TestGemmPanicsOnShortSlices(t *testing.T) {
	for _, s := range testSets(t) {
		a := make([]float32, 4*4)
		b := make([]float32, 4*10)
		c := make([]float32, 4*10)
		off := []int{0, 10, 20, 31} // the last row runs past the end
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s GemmNN: no panic for a row past the end of B", s.Name)
				}
			}()
			s.GemmNN(4, 10, 4, a, 4, b, off, c, 10, nil, false)
		}()
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s GemmNT: no panic for a row past the end of B", s.Name)
				}
			}()
			s.GemmNT(4, 4, 10, c, 10, b, off, a, 4, false)
		}()
	}
}

func TestMatVec(t *testing.T) {
	ref := Reference()
	for _, s := range testSets(t) {
		for ci, tc := range []struct{ m, k int }{{1, 1}, {3, 5}, {64, 64}, {32, 32}, {256, 640}, {17, 33}, {9, 100}, {256, 256}, {5, 15}, {130, 7}, {100, 1}, {24, 2}} {
			for _, variant := range []struct{ bias, acc bool }{{false, false}, {true, false}, {false, true}, {true, true}} {
				r := rand.New(rand.NewPCG(uint64(ci), 3))
				lda := tc.k + 2
				a := randSlice(r, tc.m*lda)
				x := randSlice(r, tc.k)
				var bias []float32
				if variant.bias {
					bias = randSlice(r, tc.m)
				}
				y0 := randSlice(r, tc.m)
				want := append([]float32(nil), y0...)
				got := append([]float32(nil), y0...)
				scale := absSlice(y0)
				ref.MatVec(tc.m, tc.k, a, lda, x, want, bias, variant.acc)
				ref.MatVec(tc.m, tc.k, absSlice(a), lda, absSlice(x), scale, absSlice(bias), variant.acc)
				s.MatVec(tc.m, tc.k, a, lda, x, got, bias, variant.acc)
				closeTo(t, fmt.Sprintf("%s MatVec %v bias=%v acc=%v", s.Name, tc, variant.bias, variant.acc), got, want, scale, 1e-6)

				// The same product from the transposed matrix.
				ldat := tc.m + 1
				at := make([]float32, tc.k*ldat)
				for i := 0; i < tc.m; i++ {
					for j := 0; j < tc.k; j++ {
						at[j*ldat+i] = a[i*lda+j]
					}
				}
				gotT := append([]float32(nil), y0...)
				s.MatVecT(tc.m, tc.k, at, ldat, x, gotT, bias, variant.acc)
				closeTo(t, fmt.Sprintf("%s MatVecT %v bias=%v acc=%v", s.Name, tc, variant.bias, variant.acc), gotT, want, scale, 1e-6)

				for _, nb := range []int{1, 3, 8, 16, 20} {
					x := randSlice(r, tc.k*nb)
					y0 := randSlice(r, tc.m*nb)
					want := append([]float32(nil), y0...)
					got := append([]float32(nil), y0...)
					scale := absSlice(y0)
					ref.MatVecBatch(tc.m, tc.k, nb, a, lda, x, want, bias, variant.acc)
					ref.MatVecBatch(tc.m, tc.k, nb, absSlice(a), lda, absSlice(x), scale, absSlice(bias), variant.acc)
					s.MatVecBatch(tc.m, tc.k, nb, a, lda, x, got, bias, variant.acc)
					closeTo(t, fmt.Sprintf("%s MatVecBatch %v nb=%d bias=%v acc=%v", s.Name, tc, nb, variant.bias, variant.acc), got, want, scale, 1e-6)
				}
			}
		}
	}
}

// elementwiseLengths exercise full vectors, tails and empty calls.
var elementwiseLengths = []int{0, 1, 7, 15, 16, 17, 31, 33, 64, 100, 1000}

func TestGateBackward(t *testing.T) {
	ref := Reference()
	for _, s := range testSets(t) {
		for _, n := range elementwiseLengths {
			r := rand.New(rand.NewPCG(uint64(n), 4))
			tf := make([]float32, n)
			sg := make([]float32, n)
			for i := range tf {
				tf[i] = float32(math.Tanh(r.NormFloat64()))
				sg[i] = float32(1 / (1 + math.Exp(-r.NormFloat64())))
			}
			dz := randSlice(r, n)
			df0, dg0 := make([]float32, n+1), make([]float32, n+1)
			df1, dg1 := make([]float32, n+1), make([]float32, n+1)
			df1[n], dg1[n] = 7, 7
			ref.GateBackward(n, tf, sg, dz, df0, dg0)
			s.GateBackward(n, tf, sg, dz, df1, dg1)
			one := make([]float32, n)
			for i := range one {
				one[i] = float32(math.Abs(float64(df0[i])) + math.Abs(float64(dg0[i])))
			}
			closeTo(t, s.Name+" GateBackward df", df1[:n], df0[:n], one, 1e-6)
			closeTo(t, s.Name+" GateBackward dg", dg1[:n], dg0[:n], one, 1e-6)
			if df1[n] != 7 || dg1[n] != 7 {
				t.Errorf("%s GateBackward(n=%d) wrote past n", s.Name, n)
			}
		}
	}
}

func TestReLUAxpySum(t *testing.T) {
	ref := Reference()
	for _, s := range testSets(t) {
		for _, n := range elementwiseLengths {
			r := rand.New(rand.NewPCG(uint64(n), 5))
			x := randSlice(r, n+1)
			if n > 3 {
				x[3] = float32(math.NaN())
			}
			x[n] = -5
			want := append([]float32(nil), x...)
			got := append([]float32(nil), x...)
			ref.ReLU(n, want)
			s.ReLU(n, got)
			for i := range want {
				if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
					t.Errorf("%s ReLU(n=%d)[%d] = %g, want %g", s.Name, n, i, got[i], want[i])
				}
			}
			dy := randSlice(r, n+1)
			dwant := append([]float32(nil), dy...)
			dgot := append([]float32(nil), dy...)
			ref.ReLUBackward(n, x, dwant)
			s.ReLUBackward(n, x, dgot)
			for i := range dwant {
				if dgot[i] != dwant[i] {
					t.Errorf("%s ReLUBackward(n=%d)[%d] = %g, want %g", s.Name, n, i, dgot[i], dwant[i])
				}
			}
			x = randSlice(r, n+1)
			y := randSlice(r, n+1)
			ywant := append([]float32(nil), y...)
			ref.Axpy(n, 0.37, x, ywant)
			s.Axpy(n, 0.37, x, y)
			scale := make([]float32, n+1)
			for i := range scale {
				scale[i] = float32(math.Abs(float64(ywant[i])) + 1)
			}
			closeTo(t, s.Name+" Axpy", y, ywant, scale, 1e-6)
			if y[n] != ywant[n] {
				t.Errorf("%s Axpy(n=%d) wrote past n", s.Name, n)
			}
			sw, sg := ref.Sum(n, x), s.Sum(n, x)
			if math.Abs(sw-sg) > 1e-9*float64(n+1) {
				t.Errorf("%s Sum(n=%d) = %g, want %g", s.Name, n, sg, sw)
			}
		}
	}
}

func TestSoftmaxXent(t *testing.T) {
	ref := Reference()
	for _, s := range testSets(t) {
		for _, tc := range []struct{ q, n int }{{1, 3}, {2, 17}, {5, 1}, {256, 100}, {256, 16}, {7, 33}, {256, 1000}, {30, 64}} {
			for _, alias := range []bool{false, true} {
				r := rand.New(rand.NewPCG(uint64(tc.q*1000+tc.n), 6))
				ld := tc.n + 3
				logits := randSlice(r, tc.q*ld)
				for i := range logits {
					logits[i] *= 4
				}
				targets := make([]int32, tc.n)
				for i := range targets {
					targets[i] = int32(r.IntN(tc.q))
				}
				wantGrad := make([]float32, len(logits))
				wantLoss := ref.SoftmaxXent(tc.q, tc.n, logits, ld, targets, wantGrad, 0.5)
				noGrad := s.SoftmaxXent(tc.q, tc.n, logits, ld, targets, nil, 0.5)
				var grad []float32
				if alias {
					grad = append([]float32(nil), logits...)
				} else {
					grad = make([]float32, len(logits))
				}
				in := append([]float32(nil), logits...)
				if alias {
					in = grad
				}
				gotLoss := s.SoftmaxXent(tc.q, tc.n, in, ld, targets, grad, 0.5)
				for _, l := range []float64{noGrad, gotLoss} {
					if math.Abs(l-wantLoss) > 2e-6*float64(tc.n)+1e-6*math.Abs(wantLoss) {
						t.Errorf("%s SoftmaxXent %v alias=%v loss %g, want %g", s.Name, tc, alias, l, wantLoss)
					}
				}
				scale := make([]float32, len(logits))
				for i := range scale {
					scale[i] = 1
				}
				for c := 0; c < tc.q; c++ { // the padding columns are untouched
					for x := tc.n; x < ld && c*ld+x < len(logits); x++ {
						wantGrad[c*ld+x] = grad[c*ld+x]
					}
				}
				if !alias {
					closeTo(t, fmt.Sprintf("%s SoftmaxXent grad %v", s.Name, tc), grad, wantGrad, scale, 1e-6)
				} else {
					for c := 0; c < tc.q; c++ {
						for x := 0; x < tc.n; x++ {
							i := c*ld + x
							if math.Abs(float64(grad[i]-wantGrad[i])) > 1e-6 {
								t.Fatalf("%s SoftmaxXent aliased grad %v [%d,%d] = %g, want %g", s.Name, tc, c, x, grad[i], wantGrad[i])
							}
						}
					}
				}
			}
		}
	}
}

func TestSoftmaxXentNaN(t *testing.T) {
	for _, s := range Sets() {
		q, n := 20, 40
		logits := make([]float32, q*n)
		logits[5*n+17] = float32(math.NaN())
		targets := make([]int32, n)
		grad := make([]float32, q*n)
		if l := s.SoftmaxXent(q, n, logits, n, targets, grad, 1); !math.IsNaN(l) {
			t.Errorf("%s SoftmaxXent with a NaN logit: loss %g, want NaN", s.Name, l)
		}
		if !math.IsNaN(float64(grad[17])) {
			t.Errorf("%s SoftmaxXent with a NaN logit: grad in that column %g, want NaN", s.Name, grad[17])
		}
	}
}

// A confident column (logits spread over more than 87 nats, as a model that
// has learned digital silence gives) has classes whose gradient would be
// subnormal: every set writes 0 for them, no subnormal at all, keeps the
// normal entries as the reference has them, and still gives a NaN column
// its NaNs. Columns 0–40 cover the vector blocks and the scalar tail.
func TestSoftmaxXentFlushesSubnormals(t *testing.T) {
	const q, n, scale = 256, 41, 1.0 / 32000
	logits := make([]float32, q*n)
	for c := 0; c < q; c++ {
		for x := 0; x < n; x++ {
			logits[c*n+x] = -float32(c) * float32(x%7+1) * 0.5 // up to 892 nats below class 0
		}
	}
	targets := make([]int32, n)
	want := make([]float32, q*n)
	Reference().SoftmaxXent(q, n, logits, n, targets, want, scale)
	for _, s := range Sets() {
		grad := make([]float32, q*n)
		s.SoftmaxXent(q, n, logits, n, targets, grad, scale)
		var zeros int
		for i, g := range grad {
			if a := math.Abs(float64(g)); a != 0 && a < 0x1p-126 {
				t.Fatalf("%s: grad[%d] = %g is subnormal", s.Name, i, g)
			}
			if g == 0 {
				zeros++
			}
			if w := want[i]; math.Abs(float64(g-w)) > 1e-5*math.Abs(float64(w))+1e-12 {
				t.Fatalf("%s: grad[%d] = %g, want %g", s.Name, i, g, w)
			}
		}
		if zeros < q*n/2 {
			t.Errorf("%s: %d zero gradients of %d: the logits are not confident enough to test the flush", s.Name, zeros, q*n)
		}
	}
}

func TestSetsOrder(t *testing.T) {
	all := Sets()
	if len(all) < 2 || all[0].Name != "reference" || all[1].Name != "generic" {
		t.Fatalf("Sets() = %v, want reference, generic, ...", setNames(all))
	}
	if Best().Name != all[len(all)-1].Name {
		t.Errorf("Best() = %s, want the last of Sets()", Best().Name)
	}
	for _, s := range all {
		if got, ok := ByName(s.Name); !ok || got.Name != s.Name {
			t.Errorf("ByName(%q) failed", s.Name)
		}
	}
	t.Logf("sets on this CPU: %v", setNames(all))
}

func setNames(s []Set) []string {
	var names []string
	for _, x := range s {
		names = append(names, x.Name)
	}
	return names
}

// TestGemmRandomShapes compares every set with Reference on many random
// small shapes, to reach every combination of row tiles, panel widths,
// depth blocks and tails.
func TestGemmRandomShapes(t *testing.T) {
	ref := Reference()
	r := rand.New(rand.NewPCG(11, 12))
	for range 60 {
		tc := gemmCase{m: 1 + r.IntN(20), n: 1 + r.IntN(130), k: 1 + r.IntN(300)}
		acc := r.IntN(2) == 0
		lda := tc.k + r.IntN(3)
		a := randSlice(r, tc.m*lda)
		off, blen := makeOffsets(r, tc.k, tc.n)
		b := randSlice(r, blen)
		bias := randSlice(r, tc.m)
		c0 := randSlice(r, tc.m*tc.n)
		want := append([]float32(nil), c0...)
		scale := absSlice(c0)
		ref.GemmNN(tc.m, tc.n, tc.k, a, lda, b, off, want, tc.n, bias, acc)
		ref.GemmNN(tc.m, tc.n, tc.k, absSlice(a), lda, absSlice(b), off, scale, tc.n, absSlice(bias), acc)
		// NT: A is m×n, C is m×k.
		at := randSlice(r, tc.m*tc.n)
		ct0 := randSlice(r, tc.m*tc.k)
		wantT := append([]float32(nil), ct0...)
		scaleT := absSlice(ct0)
		ref.GemmNT(tc.m, tc.k, tc.n, at, tc.n, b, off, wantT, tc.k, acc)
		ref.GemmNT(tc.m, tc.k, tc.n, absSlice(at), tc.n, absSlice(b), off, scaleT, tc.k, acc)
		for _, s := range testSets(t) {
			got := append([]float32(nil), c0...)
			s.GemmNN(tc.m, tc.n, tc.k, a, lda, b, off, got, tc.n, bias, acc)
			closeTo(t, fmt.Sprintf("%s GemmNN %v acc=%v", s.Name, tc, acc), got, want, scale, 1e-6)
			gotT := append([]float32(nil), ct0...)
			s.GemmNT(tc.m, tc.k, tc.n, at, tc.n, b, off, gotT, tc.k, acc)
			closeTo(t, fmt.Sprintf("%s GemmNT %v acc=%v", s.Name, tc, acc), gotT, wantT, scaleT, 1e-6)
		}
	}
}

// TestNoAllocs checks that no kernel allocates: their scratch (packed
// panels, per-column softmax values) lives on the stack.
func TestNoAllocs(t *testing.T) {
	const m, n, k, q = 64, 300, 130, 40
	r := rand.New(rand.NewPCG(3, 4))
	a := randSlice(r, m*k)
	off, blen := makeOffsets(r, k, n)
	b := randSlice(r, blen)
	c := make([]float32, m*n)
	ct := make([]float32, m*k)
	at := randSlice(r, m*n)
	bias := randSlice(r, m)
	x := randSlice(r, k*8)
	y := make([]float32, m*8)
	f, g, z := randSlice(r, n), randSlice(r, n), make([]float32, n)
	logits := randSlice(r, q*n)
	grad := make([]float32, q*n)
	targets := make([]int32, n)
	for _, s := range testSets(t) {
		allocs := testing.AllocsPerRun(5, func() {
			s.GemmNN(m, n, k, a, k, b, off, c, n, bias, false)
			s.GemmNT(m, k, n, at, n, b, off, ct, k, true)
			s.MatVec(m, k, a, k, x, y, bias, false)
			s.MatVecT(m, k, a, m, x, y, bias, false)
			s.MatVecBatch(m, k, 8, a, k, x, y, bias, true)
			s.Gate(n, f, g, f, g, z)
			s.GateBackward(n, f, g, z, c, ct)
			s.ReLU(n, f)
			s.ReLUBackward(n, f, g)
			s.Axpy(n, 0.5, f, g)
			s.Sum(n, f)
			s.SoftmaxXent(q, n, logits, n, targets, grad, 1)
		})
		if allocs != 0 {
			t.Errorf("%s: %v allocations per call sequence, want 0", s.Name, allocs)
		}
	}
}

// TestGemmNTLong checks the accuracy of the weight-gradient reduction over
// a long time axis (float32 accumulation over 16000 steps).
func TestGemmNTLong(t *testing.T) {
	const m, k, n = 8, 20, 16000
	ref := Reference()
	r := rand.New(rand.NewPCG(21, 22))
	a := randSlice(r, m*n)
	off, blen := makeOffsets(r, k, n)
	b := randSlice(r, blen)
	want, scale := make([]float32, m*k), make([]float32, m*k)
	ref.GemmNT(m, k, n, a, n, b, off, want, k, false)
	ref.GemmNT(m, k, n, absSlice(a), n, absSlice(b), off, scale, k, false)
	for _, s := range testSets(t) {
		got := make([]float32, m*k)
		s.GemmNT(m, k, n, a, n, b, off, got, k, false)
		closeTo(t, s.Name+" GemmNT n=16000", got, want, scale, 1e-6)
	}
}
