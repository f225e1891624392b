package causalconv

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/nextsample/nextsample/causalconv/kernels"
)

// Generation benchmarks on the default skip256 model (random weights: the
// work does not depend on their values), in the units of the reference's
// gen_fast_* and gen_naive_* measurements: generated samples per second
// (all streams together), and "model GFLOP/s" = samples/s × the model's
// forward FLOPs per time step (the reference's accounting, which counts
// the one-hot input product that the gather skips). samples/cpu-s divides
// by the process's CPU time instead of wall time: on a shared machine it
// says what the code does when it has a core.
//
//	go test ./causalconv -run '^$' -bench 'Generate|Naive' -count 5

// blockSteps is the reference's fast_block_samples: its gen_fast rate is
// that of the fastest block of this many samples ("best", because
// interference on a shared machine only ever slows a run down), which
// best-samples/s reports for one goroutine; samples/s is the mean over
// the whole run.
const blockSteps = 250

// reportGeneration reports rates for n generated samples.
func reportGeneration(b *testing.B, c Config, n float64, cpu0 float64) {
	sec := b.Elapsed().Seconds()
	b.ReportMetric(n/sec, "samples/s")
	if cpu1 := processCPU(); cpu0 >= 0 && cpu1 > cpu0 {
		b.ReportMetric(n/(cpu1-cpu0), "samples/cpu-s")
	}
	b.ReportMetric(n*float64(c.FLOPs().Forward())/sec/1e9, "GFLOP/s")
	b.ReportMetric(0, "ns/op") // one op is one step of every stream; samples/s says it better
}

// BenchmarkGenerate is fast (queued) generation with sampling at
// temperature 1: streams1 is the reference's gen_fast_skip256 on one core
// (BenchmarkGeneratePair/…/threads2 is what `nextsample bench` runs),
// streams1/bf16 the same with bfloat16 weights, and /untransposed both
// without the transposed kernels; streams8 runs 8
// streams in lockstep on one core (small matrix products), and
// streams16/threads2 two such generators on two goroutines, as
// `nextsample generate --count 16` does on two cores.
func BenchmarkGenerate(b *testing.B) {
	c := DefaultConfig()
	m, _ := NewRandom(c, 1)
	p := m.Packed()
	k := kernels.Best()
	plain := k // without the transposed kernels: MatVec and MatVecBF16
	plain.MatVecT, plain.MatVecTBF16 = nil, nil
	for _, cs := range []struct {
		per, threads int
		bf16, plain  bool
	}{{1, 1, false, false}, {1, 1, true, false}, {1, 1, false, true}, {1, 1, true, true}, {8, 1, false, false}, {8, 2, false, false}} {
		name := fmt.Sprintf("skip256/streams%d", cs.per*cs.threads)
		if cs.threads > 1 {
			name += fmt.Sprintf("/threads%d", cs.threads)
		}
		if cs.bf16 {
			name += "/bf16"
		}
		k := k
		if cs.plain {
			name += "/untransposed"
			k = plain
		}
		b.Run(name, func(b *testing.B) {
			per := cs.per
			gens := make([]*Generator, cs.threads)
			smps := make([][]*Sampler, cs.threads)
			for i := range gens {
				g, err := NewGenerator(p, k, per, GeneratorOptions{BF16: cs.bf16})
				if err != nil {
					b.Fatal(err)
				}
				gens[i] = g
				for s := range per {
					smp, _ := NewSampler(k, c.QuantizationChannels, 1, 1, uint64(i*per+s))
					smps[i] = append(smps[i], smp)
				}
			}
			best := make([]time.Duration, len(gens)) // fastest block of blockSteps steps
			run := func(i, steps int) {
				g, x := gens[i], make([]int32, per)
				for s := range x {
					x[s] = 128
				}
				best[i] = time.Duration(math.MaxInt64)
				t0 := time.Now()
				for j := range steps {
					out, _ := g.Step(x)
					for s := range x {
						x[s] = smps[i][s].Draw(out[s:], per)
					}
					if (j+1)%blockSteps == 0 {
						t1 := time.Now()
						best[i] = min(best[i], t1.Sub(t0))
						t0 = t1
					}
				}
			}
			for i := range gens {
				run(i, 200) // warm-up: caches, branch predictors, the queues' pages
			}
			cpu0 := processCPU()
			b.ResetTimer()
			if cs.threads == 1 {
				run(0, b.N)
			} else {
				var wg sync.WaitGroup
				for i := range gens {
					wg.Add(1)
					go func() { defer wg.Done(); run(i, b.N) }()
				}
				wg.Wait()
			}
			reportGeneration(b, c, float64(b.N*per*cs.threads), cpu0)
			if b.N >= blockSteps && cs.threads == 1 {
				b.ReportMetric(blockSteps*float64(per)/best[0].Seconds(), "best-samples/s")
			}
		})
	}
}

// BenchmarkGeneratePair is one stream with GeneratorOptions.Threads 2
// (two cores), through Generate as `nextsample generate` and `nextsample
// bench` run it, in blocks of blockSteps samples: best-samples/s is the
// fastest block, the reference's gen_fast statistic.
func BenchmarkGeneratePair(b *testing.B) {
	c := DefaultConfig()
	m, _ := NewRandom(c, 1)
	p := m.Packed()
	for _, bf16 := range []bool{false, true} {
		for _, threads := range []int{1, 2} {
			name := fmt.Sprintf("skip256/streams1/threads%d", threads)
			if bf16 {
				name += "/bf16"
			}
			b.Run(name, func(b *testing.B) {
				g, err := NewGenerator(p, kernels.Best(), 1, GeneratorOptions{BF16: bf16, Threads: threads})
				if err != nil {
					b.Fatal(err)
				}
				smp, _ := NewSampler(kernels.Best(), c.QuantizationChannels, 1, 1, 0)
				last := []int32{128}
				block := [][]int32{make([]int32, blockSteps)}
				run := func() time.Duration {
					t0 := time.Now()
					if err := g.Generate(context.Background(), last, []*Sampler{smp}, block, nil); err != nil {
						b.Fatal(err)
					}
					last[0] = block[0][blockSteps-1]
					return time.Since(t0)
				}
				run() // warm-up
				best := time.Duration(math.MaxInt64)
				cpu0 := processCPU()
				b.ResetTimer()
				blocks := max(1, b.N/blockSteps)
				for range blocks {
					best = min(best, run())
				}
				reportGeneration(b, c, float64(blocks*blockSteps), cpu0)
				b.ReportMetric(blockSteps/best.Seconds(), "best-samples/s")
			})
		}
	}
}

// BenchmarkGenerateParts splits a single-stream step: the layers alone
// (what Warm costs per prompt sample), the layers and the head, and a draw
// alone.
func BenchmarkGenerateParts(b *testing.B) {
	c := DefaultConfig()
	m, _ := NewRandom(c, 1)
	p := m.Packed()
	g, _ := NewGenerator(p, kernels.Best(), 1, GeneratorOptions{})
	x := []int32{128}
	b.Run("skip256/layers", func(b *testing.B) {
		cpu0 := processCPU()
		for b.Loop() {
			g.layers(x, true, nil, 0)
		}
		reportGeneration(b, c, float64(b.N), cpu0)
	})
	b.Run("skip256/layers+head", func(b *testing.B) {
		cpu0 := processCPU()
		for b.Loop() {
			g.layers(x, true, nil, 0)
			g.head()
		}
		reportGeneration(b, c, float64(b.N), cpu0)
	})
	for _, vec := range []bool{false, true} {
		name := "skip256/draw"
		if vec {
			name += "/kernels"
		}
		b.Run(name, func(b *testing.B) {
			k := kernels.Generic()
			if vec {
				k = kernels.Best()
			}
			smp, _ := NewSampler(k, c.QuantizationChannels, 1, 1, 0)
			out, _ := g.Step(x)
			cpu0 := processCPU()
			for b.Loop() {
				smp.Draw(out, 1)
			}
			reportGeneration(b, c, float64(b.N), cpu0)
		})
	}
}

// BenchmarkWarm times warming one stream with a prompt of RF−1 samples
// (the most Warm ever feeds).
func BenchmarkWarm(b *testing.B) {
	c := DefaultConfig()
	m, _ := NewRandom(c, 1)
	g, _ := NewGenerator(m.Packed(), kernels.Best(), 1, GeneratorOptions{})
	prompt := randomClasses(rand.New(rand.NewPCG(1, 1)), c.ReceptiveField()-1, c.QuantizationChannels)
	for b.Loop() {
		g.Reset()
		g.Warm(prompt)
	}
	b.ReportMetric(float64(len(prompt))*float64(b.N)/b.Elapsed().Seconds(), "prompt-samples/s")
}

// BenchmarkNaive is the reference's gen_naive_skip256: every sample runs
// the full forward pass over the last RF inputs (an evaluation workspace,
// logits of the last position only) and draws from them. GFLOP/s counts
// RF time steps per sample, as the reference does.
func BenchmarkNaive(b *testing.B) {
	c := DefaultConfig()
	m, _ := NewRandom(c, 1)
	p := m.Packed()
	rf := c.ReceptiveField()
	ws, err := NewEvalWorkspace(c, kernels.Best(), rf)
	if err != nil {
		b.Fatal(err)
	}
	smp, _ := NewSampler(kernels.Generic(), c.QuantizationChannels, 1, 1, 0)
	win := make([]int32, rf)
	for i := range win {
		win[i] = 128
	}
	dst := make([]float32, c.QuantizationChannels)
	step := func() {
		lg, _ := ws.Logits(p, win, rf-1, dst)
		copy(win, win[1:])
		win[rf-1] = smp.Draw(lg.Data, 1)
	}
	step()
	cpu0 := processCPU()
	b.ResetTimer()
	for range b.N {
		step()
	}
	sec := b.Elapsed().Seconds()
	b.ReportMetric(float64(b.N)/sec, "samples/s")
	if cpu1 := processCPU(); cpu0 >= 0 && cpu1 > cpu0 {
		b.ReportMetric(float64(b.N)/(cpu1-cpu0), "samples/cpu-s")
	}
	b.ReportMetric(float64(b.N)*float64(rf)*float64(c.FLOPs().Forward())/sec/1e9, "GFLOP/s")
}

// BenchmarkGenerateConditioned compares one stream of the default model
// with and without speaker conditioning (G = 32, 5 speakers): the
// conditioning is one vector addition per layer and step.
func BenchmarkGenerateConditioned(b *testing.B) {
	for _, cond := range []bool{false, true} {
		c := DefaultConfig()
		name := "skip256/streams1/unconditioned"
		if cond {
			c.GlobalCondition = &GlobalCondition{Channels: 32, Cardinality: 5}
			name = "skip256/streams1/conditioned"
		}
		m, _ := NewRandom(c, 1)
		g, _ := NewGenerator(m.Packed(), kernels.Best(), 1, GeneratorOptions{})
		if cond {
			if err := g.SetSpeakers([]int{3}); err != nil {
				b.Fatal(err)
			}
		}
		x := []int32{128}
		b.Run(name, func(b *testing.B) {
			cpu0 := processCPU()
			for b.Loop() {
				if _, err := g.Step(x); err != nil {
					b.Fatal(err)
				}
			}
			reportGeneration(b, c, float64(b.N), cpu0)
		})
	}
}
