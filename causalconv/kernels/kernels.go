// Package kernels holds the dense float32 arithmetic of the causal conv
// network: the matrix products that every convolution is reduced to, and the
// element-wise work around them (gates, ReLU, softmax).
//
// The network keeps activations as [channels × time] matrices, row-major, so
// a row is one channel over time and inner loops run along time. Every
// convolution is then a matrix product:
//
//	forward        Y  = W·X      GemmNN  (X: K·R rows, the taps of a dilated conv)
//	input grad     dX = Wᵀ·dY    GemmNN  (with Wᵀ packed once per step)
//	weight grad    dW = dY·Xᵀ    GemmNT  (a reduction over time)
//
// Rows of the right-hand operand are addressed by offsets (bOff), so the K
// taps of a dilated conv are the same buffer at K different time shifts and
// the product over all taps is one call, without copying the input.
//
// A Set is one implementation of every kernel. Reference is a plain
// triple-loop implementation used as the ground truth in tests; Generic is
// portable Go; Best picks the fastest set the CPU supports.
package kernels

// Set is one implementation of every kernel. All functions panic if a slice
// is too short for the sizes given (they check once per call, not per
// element).
type Set struct {
	// Name identifies the implementation ("reference", "generic", "avx2", "avx512").
	Name string

	// GemmNN computes, for i < m and t < n,
	//
	//	C[i*ldc+t] = (accumulate ? C[i*ldc+t] : 0) + bias[i] + Σ_{j<k} A[i*lda+j]·B[bOff[j]+t]
	//
	// bias may be nil (no bias). len(bOff) must be k.
	GemmNN func(m, n, k int, a []float32, lda int, b []float32, bOff []int, c []float32, ldc int, bias []float32, accumulate bool)

	// GemmNT computes, for i < m and j < k,
	//
	//	C[i*ldc+j] = (accumulate ? C[i*ldc+j] : 0) + Σ_{t<n} A[i*lda+t]·B[bOff[j]+t]
	//
	// It is the weight gradient dY·Xᵀ: a reduction over the time axis n.
	GemmNT func(m, k, n int, a []float32, lda int, b []float32, bOff []int, c []float32, ldc int, accumulate bool)

	// Gate is the gated activation, in place: f ← tanh(f), g ← σ(g),
	// z = f·g, over n elements. The tanh and sigmoid values are kept because
	// GateBackward needs them.
	Gate func(n int, f, g, z []float32)

	// GateBackward takes tf = tanh(f), sg = σ(g) and dz and writes
	// df = dz·sg·(1-tf²) and dg = dz·tf·sg·(1-sg).
	GateBackward func(n int, tf, sg, dz, df, dg []float32)

	// ReLU is x ← max(x, 0) over n elements.
	ReLU func(n int, x []float32)

	// ReLUBackward is dy ← (y > 0 ? dy : 0) over n elements, where y is the
	// ReLU's output.
	ReLUBackward func(n int, y, dy []float32)

	// SoftmaxXent is the softmax cross-entropy of q classes at n time steps:
	// logits holds q rows of n (row stride ld), targets[t] is the class at
	// step t. It returns Σ_t -log softmax(logits[:,t])[targets[t]] in nats
	// (a float64 sum). If grad is non-nil (same layout as logits) it receives
	// scale·(softmax - onehot(target)); grad may alias logits.
	SoftmaxXent func(q, n int, logits []float32, ld int, targets []int32, grad []float32, scale float32) float64

	// Axpy is y += alpha·x over n elements.
	Axpy func(n int, alpha float32, x, y []float32)

	// Sum returns Σ x over n elements, accumulated in float64-accurate order.
	Sum func(n int, x []float32) float64

	// MatVec is one time step of a 1x1 conv, for generation: for i < m,
	//
	//	y[i] = (accumulate ? y[i] : 0) + bias[i] + Σ_{j<k} A[i*lda+j]·x[j]
	//
	// bias may be nil.
	MatVec func(m, k int, a []float32, lda int, x, y, bias []float32, accumulate bool)

	// MatVecBatch is MatVec for nb streams at once (a small matrix
	// product): x is [k × nb] and y is [m × nb], both dense row-major (row
	// j holds channel j of every stream), and for i < m, s < nb,
	//
	//	y[i*nb+s] = (accumulate ? y[i*nb+s] : 0) + bias[i] + Σ_{j<k} A[i*lda+j]·x[j*nb+s]
	MatVecBatch func(m, k, nb int, a []float32, lda int, x, y, bias []float32, accumulate bool)

	// MatVecBF16 is MatVec with A in bfloat16 (see ToBF16): each weight is
	// widened exactly to float32 and the arithmetic is MatVec's. lda is in
	// elements of a.
	MatVecBF16 func(m, k int, a []uint16, lda int, x, y, bias []float32, accumulate bool)

	// expForTest, if set, is the set's vector exp (y[i] = exp(x[i]) over
	// len(x)), exposed so the tests can check its error bound directly.
	expForTest func(x, y []float32)
}

// Sets returns every implementation this CPU can run, the reference first
// and the fastest last.
func Sets() []Set { return sets() }

// Best returns the fastest implementation this CPU can run.
func Best() Set {
	s := sets()
	return s[len(s)-1]
}

// ByName returns the named implementation, if this CPU can run it.
func ByName(name string) (Set, bool) {
	for _, s := range sets() {
		if s.Name == name {
			return s, true
		}
	}
	return Set{}, false
}
