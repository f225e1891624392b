//go:build !purego

package kernels

import "golang.org/x/sys/cpu"

// hasAVX512 reports whether the CPU (and OS) support the AVX-512 subsets the
// *512 kernels use: F for the arithmetic and masks, VL for masked ymm
// operations, BW and DQ for the 16- and 8-bit mask moves.
func hasAVX512() bool {
	return cpu.X86.HasAVX512F && cpu.X86.HasAVX512VL && cpu.X86.HasAVX512BW && cpu.X86.HasAVX512DQ
}

// hasAVX512BF16 reports whether the bf16 GEMM kernels (VDPBF16PS) can run:
// the AVX-512 set's requirements plus AVX512_BF16.
func hasAVX512BF16() bool {
	return hasAVX512() && cpu.X86.HasAVX512BF16
}

// hasAVX2FMA reports whether the *256 kernels can run.
func hasAVX2FMA() bool {
	return cpu.X86.HasAVX2 && cpu.X86.HasFMA
}

// sets builds the sets this CPU can run. The tile shapes and block sizes
// are the same on every kind of machine (DetectMachine; see the package
// doc): on the three kinds measured no alternative has been shown to pay.
// A per-kind choice belongs here, e.g. a variant of avx512() chosen by
// DetectMachine().Kind, so that Best stays the one place a set is picked.
func sets() []Set {
	s := []Set{Reference(), Generic()}
	if hasAVX2FMA() {
		s = append(s, avx2())
	}
	if hasAVX512() {
		s = append(s, avx512())
	}
	return s
}
