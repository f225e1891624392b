package kernels

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"
	"time"
)

// Benchmarks report GFLOP/s (1 multiply-add = 2 FLOPs) per shape per Set,
// and elements/s for the element-wise kernels. Run them back to back, e.g.
//
//	go test -run '^$' -bench . -count 5 ./causalconv/kernels | tee new.txt
//	go run golang.org/x/perf/cmd/benchstat@latest new.txt
//
// The shapes are those of a skip256 training step with T = 4000 time steps
// (see ../shared/bench/README.md): m×k per product.

// benchTime is the number of time steps in the GEMM benchmarks.
const benchTime = 4000

var nnShapes = []struct {
	name string
	m, k int
}{
	{"filtergate_64x64", 64, 64}, // W_fg · [x_{t-d}; x_t]
	{"filtergate_dX_32x64", 32, 64},
	{"skip_256x640", 256, 640},    // W_s · [z_1 … z_L]
	{"skip_dZ_640x256", 640, 256}, // W_sᵀ · dSkip
	{"residual_32x32", 32, 32},
	{"post_256x256", 256, 256},
}

var ntShapes = []struct {
	name string
	m, k int
}{
	{"filtergate_64x64", 64, 64},
	{"skip_256x640", 256, 640},
	{"residual_32x32", 32, 32},
	{"post_256x256", 256, 256},
	{"input_32x256", 32, 256},
}

var matVecShapes = []struct {
	name string
	m, k int
}{
	{"filtergate_64x64", 64, 64},
	{"residual_32x32", 32, 32},
	{"skip_256x640", 256, 640},
	{"post_256x256", 256, 256},
}

// benchSets is every Set but Reference.
func benchSets() []Set { return Sets()[1:] }

// cpuClock measures the CPU time of the benchmark's thread, so that the
// rates can also be quoted per CPU-second: on a machine shared with other
// work, wall time includes the time other processes held the core, thread
// CPU time does not (it still includes their cache pollution).
type cpuClock struct{ start time.Duration }

// startCPU pins the goroutine to its thread (undone by the returned stop)
// and starts the clock.
func startCPU(b *testing.B) *cpuClock {
	runtime.LockOSThread()
	b.Cleanup(runtime.UnlockOSThread)
	return &cpuClock{start: threadCPU()}
}

func (c *cpuClock) seconds() float64 { return (threadCPU() - c.start).Seconds() }

// reportGFLOPs reports GFLOP/s over wall time and, if clk is not nil, over
// the thread's CPU time ("GFLOP/cpu-s").
func reportGFLOPs(b *testing.B, clk *cpuClock, flopsPerOp float64) {
	total := flopsPerOp * float64(b.N)
	if clk != nil && threadCPU() > 0 {
		if s := clk.seconds(); s > 0 {
			b.ReportMetric(total/s/1e9, "GFLOP/cpu-s")
		}
	}
	b.ReportMetric(total/b.Elapsed().Seconds()/1e9, "GFLOP/s")
}

func BenchmarkGemmNN(b *testing.B) {
	for _, s := range benchSets() {
		for _, sh := range nnShapes {
			r := rand.New(rand.NewPCG(1, 1))
			n := benchTime
			ld := n + 2047 // rows carry receptive-field context in front
			a := randSlice(r, sh.m*sh.k)
			x := randSlice(r, sh.k*ld)
			off := make([]int, sh.k)
			for j := range off {
				off[j] = j*ld + 2047
			}
			c := make([]float32, sh.m*n)
			bias := randSlice(r, sh.m)
			b.Run(fmt.Sprintf("%s/%s", s.Name, sh.name), func(b *testing.B) {
				clk := startCPU(b)
				for b.Loop() {
					s.GemmNN(sh.m, n, sh.k, a, sh.k, x, off, c, n, bias, false)
				}
				reportGFLOPs(b, clk, 2*float64(sh.m*sh.k*n))
			})
		}
	}
}

func BenchmarkGemmNT(b *testing.B) {
	for _, s := range benchSets() {
		for _, sh := range ntShapes {
			r := rand.New(rand.NewPCG(1, 2))
			n := benchTime
			ld := n + 2047
			dy := randSlice(r, sh.m*n)
			x := randSlice(r, sh.k*ld)
			off := make([]int, sh.k)
			for j := range off {
				off[j] = j*ld + 2047
			}
			c := make([]float32, sh.m*sh.k)
			b.Run(fmt.Sprintf("%s/%s", s.Name, sh.name), func(b *testing.B) {
				clk := startCPU(b)
				for b.Loop() {
					s.GemmNT(sh.m, sh.k, n, dy, n, x, off, c, sh.k, true)
				}
				reportGFLOPs(b, clk, 2*float64(sh.m*sh.k*n))
			})
		}
	}
}

func BenchmarkMatVec(b *testing.B) {
	for _, s := range benchSets() {
		for _, sh := range matVecShapes {
			r := rand.New(rand.NewPCG(1, 3))
			a := randSlice(r, sh.m*sh.k)
			x := randSlice(r, sh.k)
			y := make([]float32, sh.m)
			bias := randSlice(r, sh.m)
			b.Run(fmt.Sprintf("%s/%s", s.Name, sh.name), func(b *testing.B) {
				clk := startCPU(b)
				for b.Loop() {
					s.MatVec(sh.m, sh.k, a, sh.k, x, y, bias, false)
				}
				reportGFLOPs(b, clk, 2*float64(sh.m*sh.k))
			})
		}
	}
}

func BenchmarkMatVecT(b *testing.B) {
	for _, s := range benchSets() {
		for _, sh := range matVecShapes {
			r := rand.New(rand.NewPCG(1, 3))
			at := randSlice(r, sh.m*sh.k)
			x := randSlice(r, sh.k)
			y := make([]float32, sh.m)
			bias := randSlice(r, sh.m)
			b.Run(fmt.Sprintf("%s/%s", s.Name, sh.name), func(b *testing.B) {
				clk := startCPU(b)
				for b.Loop() {
					s.MatVecT(sh.m, sh.k, at, sh.m, x, y, bias, false)
				}
				reportGFLOPs(b, clk, 2*float64(sh.m*sh.k))
			})
		}
	}
}

func BenchmarkMatVecBatch8(b *testing.B) {
	const nb = 8
	for _, s := range benchSets() {
		for _, sh := range matVecShapes {
			r := rand.New(rand.NewPCG(1, 4))
			a := randSlice(r, sh.m*sh.k)
			x := randSlice(r, sh.k*nb)
			y := make([]float32, sh.m*nb)
			bias := randSlice(r, sh.m)
			b.Run(fmt.Sprintf("%s/%s", s.Name, sh.name), func(b *testing.B) {
				clk := startCPU(b)
				for b.Loop() {
					s.MatVecBatch(sh.m, sh.k, nb, a, sh.k, x, y, bias, false)
				}
				reportGFLOPs(b, clk, 2*float64(sh.m*sh.k*nb))
			})
		}
	}
}

func reportElems(b *testing.B, clk *cpuClock, perOp int) {
	total := float64(perOp) * float64(b.N)
	if threadCPU() > 0 {
		if s := clk.seconds(); s > 0 {
			b.ReportMetric(total/s/1e6, "Melem/cpu-s")
		}
	}
	b.ReportMetric(total/b.Elapsed().Seconds()/1e6, "Melem/s")
}

// BenchmarkElementwise uses the sizes of one layer at T = 4000 (D = 32
// gate channels) and the 256-way softmax over T.
func BenchmarkElementwise(b *testing.B) {
	const n = 32 * benchTime
	for _, s := range benchSets() {
		r := rand.New(rand.NewPCG(1, 5))
		f0, g0, dz := randSlice(r, n), randSlice(r, n), randSlice(r, n)
		f, g, z := make([]float32, n), make([]float32, n), make([]float32, n)
		df, dg := make([]float32, n), make([]float32, n)
		b.Run(s.Name+"/Gate", func(b *testing.B) {
			clk := startCPU(b)
			for b.Loop() {
				copy(f, f0) // keep the inputs in range; the copy is part of the time
				copy(g, g0)
				s.Gate(n, f, g, f, g, z)
			}
			reportElems(b, clk, n)
		})
		b.Run(s.Name+"/GateBackward", func(b *testing.B) {
			clk := startCPU(b)
			for b.Loop() {
				s.GateBackward(n, f, g, dz, df, dg)
			}
			reportElems(b, clk, n)
		})
		b.Run(s.Name+"/ReLU", func(b *testing.B) {
			clk := startCPU(b)
			for b.Loop() {
				s.ReLU(n, f)
			}
			reportElems(b, clk, n)
		})
		b.Run(s.Name+"/ReLUBackward", func(b *testing.B) {
			clk := startCPU(b)
			for b.Loop() {
				s.ReLUBackward(n, f0, dz)
			}
			reportElems(b, clk, n)
		})
		b.Run(s.Name+"/Axpy", func(b *testing.B) {
			clk := startCPU(b)
			for b.Loop() {
				s.Axpy(n, 0.5, f0, z)
			}
			reportElems(b, clk, n)
		})
		b.Run(s.Name+"/Sum", func(b *testing.B) {
			clk := startCPU(b)
			for b.Loop() {
				s.Sum(n, f0)
			}
			reportElems(b, clk, n)
		})
		const q = 256
		logits := randSlice(r, q*benchTime)
		grad := make([]float32, q*benchTime)
		targets := make([]int32, benchTime)
		for i := range targets {
			targets[i] = int32(r.IntN(q))
		}
		b.Run(s.Name+"/SoftmaxXent_256", func(b *testing.B) {
			clk := startCPU(b)
			for b.Loop() {
				s.SoftmaxXent(q, benchTime, logits, benchTime, targets, grad, 1.0/benchTime)
			}
			reportElems(b, clk, q*benchTime)
		})
	}
}

func BenchmarkMatVecBF16(b *testing.B) {
	for _, s := range benchSets() {
		for _, sh := range matVecShapes {
			r := rand.New(rand.NewPCG(1, 3))
			a := make([]uint16, sh.m*sh.k)
			ToBF16(a, randSlice(r, sh.m*sh.k))
			x := randSlice(r, sh.k)
			y := make([]float32, sh.m)
			bias := randSlice(r, sh.m)
			b.Run(fmt.Sprintf("%s/%s", s.Name, sh.name), func(b *testing.B) {
				clk := startCPU(b)
				for b.Loop() {
					s.MatVecBF16(sh.m, sh.k, a, sh.k, x, y, bias, false)
				}
				reportGFLOPs(b, clk, 2*float64(sh.m*sh.k))
			})
		}
	}
}

// BenchmarkGenerationMatVecs runs the matrix-vector products of one
// generated sample of the default skip256 model (20 filter-gate 64×64,
// 19 residual 32×32, the fused skip 256×640, post1 and post2 256×256: 1.6
// MB of float32 weights, more than L2) with fp32 and with bf16 weights,
// and reports GFLOP/s and the implied samples/s (arithmetic only).
func BenchmarkGenerationMatVecs(b *testing.B) {
	type mat struct{ m, k int }
	var mats []mat
	for range 20 {
		mats = append(mats, mat{64, 64})
	}
	for range 19 {
		mats = append(mats, mat{32, 32})
	}
	mats = append(mats, mat{256, 640}, mat{256, 256}, mat{256, 256})
	r := rand.New(rand.NewPCG(2, 2))
	var flops float64
	w32 := make([][]float32, len(mats))
	w16 := make([][]uint16, len(mats))
	for i, mt := range mats {
		w32[i] = randSlice(r, mt.m*mt.k)
		w16[i] = make([]uint16, mt.m*mt.k)
		ToBF16(w16[i], w32[i])
		flops += 2 * float64(mt.m*mt.k)
	}
	x := randSlice(r, 640)
	y := make([]float32, 256)
	for _, s := range benchSets() {
		b.Run(s.Name+"/fp32", func(b *testing.B) {
			clk := startCPU(b)
			for b.Loop() {
				for i, mt := range mats {
					s.MatVec(mt.m, mt.k, w32[i], mt.k, x, y, nil, false)
				}
			}
			reportGFLOPs(b, clk, flops)
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "samples/s")
		})
		b.Run(s.Name+"/fp32T", func(b *testing.B) {
			clk := startCPU(b)
			for b.Loop() {
				for i, mt := range mats {
					s.MatVecT(mt.m, mt.k, w32[i], mt.m, x, y, nil, false)
				}
			}
			reportGFLOPs(b, clk, flops)
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "samples/s")
		})
		b.Run(s.Name+"/bf16T", func(b *testing.B) {
			clk := startCPU(b)
			for b.Loop() {
				for i, mt := range mats {
					s.MatVecTBF16(mt.m, mt.k, w16[i], mt.m, x, y, nil, false)
				}
			}
			reportGFLOPs(b, clk, flops)
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "samples/s")
		})
		b.Run(s.Name+"/bf16", func(b *testing.B) {
			clk := startCPU(b)
			for b.Loop() {
				for i, mt := range mats {
					s.MatVecBF16(mt.m, mt.k, w16[i], mt.k, x, y, nil, false)
				}
			}
			reportGFLOPs(b, clk, flops)
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "samples/s")
		})
	}
}

// BenchmarkGemmNNBF16 and BenchmarkGemmNTBF16 are BenchmarkGemmNN and
// BenchmarkGemmNT in mixed precision, on the same shapes, with the same
// FLOP count (2·m·k·n: the model's arithmetic, whatever its precision).
func BenchmarkGemmNNBF16(b *testing.B) {
	for _, s := range Sets()[1:] {
		if s.GemmNNBF16 == nil {
			continue
		}
		for _, sh := range nnShapes {
			r := rand.New(rand.NewPCG(1, 1))
			n := benchTime
			ld := n + 2047
			lda := BF16Stride(sh.k)
			a := make([]uint16, sh.m*lda)
			ToBF16Matrix(a, lda, randSlice(r, sh.m*sh.k), sh.k, sh.m, sh.k)
			x := randSlice(r, sh.k*ld)
			off := make([]int, sh.k)
			for j := range off {
				off[j] = j*ld + 2047
			}
			c := make([]float32, sh.m*n)
			bias := randSlice(r, sh.m)
			b.Run(fmt.Sprintf("%s/%s", s.Name, sh.name), func(b *testing.B) {
				clk := startCPU(b)
				for b.Loop() {
					s.GemmNNBF16(sh.m, n, sh.k, a, lda, x, off, c, n, bias, false)
				}
				reportGFLOPs(b, clk, 2*float64(sh.m*sh.k*n))
			})
		}
	}
}

func BenchmarkGemmNTBF16(b *testing.B) {
	for _, s := range Sets()[1:] {
		if s.GemmNTBF16 == nil {
			continue
		}
		for _, sh := range ntShapes {
			r := rand.New(rand.NewPCG(1, 2))
			n := benchTime
			ld := n + 2047
			dy := randSlice(r, sh.m*n)
			x := randSlice(r, sh.k*ld)
			off := make([]int, sh.k)
			for j := range off {
				off[j] = j*ld + 2047
			}
			c := make([]float32, sh.m*sh.k)
			b.Run(fmt.Sprintf("%s/%s", s.Name, sh.name), func(b *testing.B) {
				clk := startCPU(b)
				for b.Loop() {
					s.GemmNTBF16(sh.m, sh.k, n, dy, n, x, off, c, sh.k, true)
				}
				reportGFLOPs(b, clk, 2*float64(sh.m*sh.k*n))
			})
		}
	}
}
