package causalconv

import (
	"fmt"

	"github.com/nextsample/nextsample/causalconv/kernels"
)

// Precision is the arithmetic of a workspace's matrix products, which are
// nearly all of a step's work.
//
// PrecisionBF16 is mixed precision as PyTorch's bf16 autocast does it: the
// operands of every matrix product (weights, activations, gradients) are
// rounded to bfloat16 (8-bit significand, nearest even) as the kernels
// read them, and the products are summed in float32. Everything else stays
// float32: the parameters and the optimizer state, the stored activations,
// the element-wise work (gates, ReLU, residual adds), the softmax and loss,
// and every sum, including the weight gradients' reduction over time. It
// needs a kernel set with the bf16 GEMMs (kernels.Set.GemmNNBF16: CPUs
// with AVX512_BF16), where those run at about twice the float32 rate.
//
// Rounding an operand changes it by at most 2^-8 of its value, so each
// product is within about 2^-7 of Σ|a·b| of the float32 one. Through the
// whole network (measured on small models and on the default one at a
// short length) the loss moves by ≤ 3e-5 of its value, the logits by
// ≤ 0.5% of the largest, and the gradient by ≤ 1% of its norm;
// precision_test.go states the bounds tested.
type Precision uint8

const (
	// PrecisionFP32 is float32 throughout (the default).
	PrecisionFP32 Precision = iota
	// PrecisionBF16 rounds the matrix products' operands to bfloat16.
	PrecisionBF16
)

// String returns "fp32" or "bf16".
func (p Precision) String() string {
	switch p {
	case PrecisionFP32:
		return "fp32"
	case PrecisionBF16:
		return "bf16"
	}
	return fmt.Sprintf("Precision(%d)", uint8(p))
}

// ParsePrecision parses "fp32" or "bf16".
func ParsePrecision(s string) (Precision, error) {
	switch s {
	case "fp32":
		return PrecisionFP32, nil
	case "bf16":
		return PrecisionBF16, nil
	}
	return 0, fmt.Errorf("precision %q: must be fp32 or bf16", s)
}

// MarshalText encodes p as its name.
func (p Precision) MarshalText() ([]byte, error) {
	if p > PrecisionBF16 {
		return nil, fmt.Errorf("causalconv: unknown precision %d", uint8(p))
	}
	return []byte(p.String()), nil
}

// UnmarshalText decodes a name written by MarshalText.
func (p *Precision) UnmarshalText(b []byte) error {
	v, err := ParsePrecision(string(b))
	if err != nil {
		return err
	}
	*p = v
	return nil
}

// CheckPrecision reports whether kernel set k can run precision p, with
// an error that says why not.
func CheckPrecision(p Precision, k kernels.Set) error {
	switch p {
	case PrecisionFP32:
		return nil
	case PrecisionBF16:
		if k.GemmNNBF16 == nil || k.GemmNTBF16 == nil {
			return fmt.Errorf("precision bf16 needs bfloat16 matrix kernels (AVX512_BF16), which kernel set %q does not have", k.Name)
		}
		return nil
	}
	return fmt.Errorf("causalconv: unknown precision %d", uint8(p))
}

// nn is the GemmNN of a packed weight matrix: a (float32) or its bfloat16
// copy h, depending on the workspace's precision.
func (w *Workspace) nn(m, n, k int, a []float32, lda int, h bfMat, b []float32, bOff []int, c []float32, ldc int, bias []float32, accumulate bool) {
	if w.prec == PrecisionBF16 {
		w.k.GemmNNBF16(m, n, k, h.a, h.ld, b, bOff, c, ldc, bias, accumulate)
		return
	}
	w.k.GemmNN(m, n, k, a, lda, b, bOff, c, ldc, bias, accumulate)
}

// nt is the GemmNT of a weight gradient in the workspace's precision.
func (w *Workspace) nt(m, k, n int, a []float32, lda int, b []float32, bOff []int, c []float32, ldc int, accumulate bool) {
	if w.prec == PrecisionBF16 {
		w.k.GemmNTBF16(m, k, n, a, lda, b, bOff, c, ldc, accumulate)
		return
	}
	w.k.GemmNT(m, k, n, a, lda, b, bOff, c, ldc, accumulate)
}
