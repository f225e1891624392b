package kernels

import "testing"

func BenchmarkMicroTile512(b *testing.B) {
	if !hasAVX512() {
		b.Skip("no AVX-512")
	}
	const k = 128
	p := make([]float32, k*48)
	a := make([]float32, 8*k)
	c := make([]float32, 8*48)
	clk := startCPU(b)
	for b.Loop() {
		gemmTile512x8v3(k, &a[0], k, &p[0], &c[0], 48, nil, true, 1<<48-1)
	}
	reportGFLOPs(b, clk, 2*8*48*k)
}
