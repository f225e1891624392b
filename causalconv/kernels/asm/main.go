// Command asm generates the assembly kernels of package kernels with avo
// (github.com/mmcloughlin/avo). It is the documentation of that assembly:
// every function below says which tile it computes, how the registers are
// used and why.
//
// Run it through `go generate` in the parent directory, which writes
// ../kernels_amd64.s and the Go declarations ../stubs_amd64.go:
//
//	cd causalconv/kernels && go generate
//
// # Machine model
//
// The kernels are tuned for AMD Zen 5 (two 512-bit FMA pipes, FMA latency
// 4 cycles, two 512-bit loads per cycle, 48 KiB L1d, 1 MiB L2) and are
// correct on any CPU with the features the Go side checks before choosing
// them (AVX-512 F/BW/VL/DQ for the *512 functions, AVX2+FMA for the *256
// ones). To keep both pipes busy, a kernel needs at least 2×4 = 8
// independent FMA chains in flight and at most about one load per FMA.
//
// # Register allocation
//
// Vector and general registers are avo virtual registers; avo's allocator
// maps them to physical ones. The comments count how many are live at once,
// which is what matters: 32 vector registers with AVX-512, 16 with AVX2.
package main

import (
	. "github.com/mmcloughlin/avo/build"
)

func main() {
	// AVX-512 set.
	for mr := 1; mr <= 8; mr++ {
		gemmTile512(mr)
	}
	packNN512()
	packNT512()
	matVec512()
	avx512.elementwise()

	// AVX2+FMA set.
	gemm256()
	avx2.elementwise()
	fmaPeak(avx512)
	fmaPeak(avx2)
	Generate()
}
