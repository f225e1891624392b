//go:build !purego

package kernels

import (
	"fmt"
	"testing"
)

// BenchmarkFMAPeak measures the FMA throughput of one core with a loop of
// independent register-only FMAs (asm/elementwise.go, fmaPeak): the
// ceiling the GEMM rates are to be compared with. On zen4 (AMD family 25),
// zmm and ymm FMAs reach the same ~115 GFLOP/s per core (a 512-bit FMA
// issues as two 256-bit halves); on zen5 (family 26) zmm reaches ~245, and
// on intel-avx512 (family 6 model 207) zmm ~172 against ymm ~85 (see
// machine.go for the kinds).
//
// BenchmarkMicroTile is the GEMM register tile alone on a panel in L1 (k =
// 128): the best a GEMM call can do.
func BenchmarkFMAPeak(b *testing.B) {
	const iters = 100000
	if hasAVX512() {
		b.Run("zmm", func(b *testing.B) {
			clk := startCPU(b)
			for b.Loop() {
				fmaPeak512(iters)
			}
			reportGFLOPs(b, clk, iters*24*32)
		})
	}
	if hasAVX2FMA() {
		b.Run("ymm", func(b *testing.B) {
			clk := startCPU(b)
			for b.Loop() {
				fmaPeak256(iters)
			}
			reportGFLOPs(b, clk, iters*12*16)
		})
	}
}

// BenchmarkBF16Peak is BenchmarkFMAPeak with VDPBF16PS (bf16 pairs
// multiplied, accumulated in float32): 2 multiply-adds per 32-bit lane, so
// one zmm instruction is 32 multiply-adds (64 FLOPs) against an FMA's 16.
// Its ratio to BenchmarkFMAPeak is the most a bf16 GEMM can gain: about 2
// on zen4 and zen5, 0.5 on intel-avx512, where bf16 loses
// (Machine.BF16Faster).
func BenchmarkBF16Peak(b *testing.B) {
	if !hasAVX512BF16() {
		b.Skip("no AVX512_BF16")
	}
	const iters = 100000
	b.Run("zmm", func(b *testing.B) {
		clk := startCPU(b)
		for b.Loop() {
			bf16Peak512(iters)
		}
		reportGFLOPs(b, clk, iters*24*64)
	})
	b.Run("ymm", func(b *testing.B) {
		clk := startCPU(b)
		for b.Loop() {
			bf16Peak256(iters)
		}
		reportGFLOPs(b, clk, iters*24*32)
	})
}

func BenchmarkMicroTile(b *testing.B) {
	const k = 128
	p := make([]float32, k*48)
	a := make([]float32, 8*k)
	c := make([]float32, 8*48)
	if hasAVX512() {
		b.Run("avx512_8x48", func(b *testing.B) {
			clk := startCPU(b)
			for b.Loop() {
				gemmTile512x8v3(k, &a[0], k, &p[0], &c[0], 48, nil, true, 1<<48-1)
			}
			reportGFLOPs(b, clk, 2*8*48*k)
		})
	}
	if hasAVX2FMA() {
		b.Run("avx2_4x24", func(b *testing.B) {
			clk := startCPU(b)
			for b.Loop() {
				gemmTile256x4v3(k, &a[0], k, &p[0], &c[0], 24, nil, true)
			}
			reportGFLOPs(b, clk, 2*4*24*k)
		})
	}
}

// BenchmarkMicroTileBF16 is BenchmarkMicroTile for the bf16 register tile
// (8 rows × 48 or 32 columns, 128 pairs of k in L1).
func BenchmarkMicroTileBF16(b *testing.B) {
	if !hasAVX512BF16() {
		b.Skip("no AVX512_BF16")
	}
	const kp = 128
	p := make([]uint16, kp*2*48)
	a := make([]uint16, 8*2*kp)
	c := make([]float32, 8*48)
	for _, nv := range []int{3, 2} {
		b.Run(fmt.Sprintf("8x%d", 16*nv), func(b *testing.B) {
			clk := startCPU(b)
			for b.Loop() {
				gemmTileBF16(8, nv, kp, &a[0], 2*kp, &p[0], &c[0], 48, nil, true, 1<<48-1)
			}
			reportGFLOPs(b, clk, float64(2*8*16*nv*2*kp))
		})
	}
}
