package causalconv

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/nextsample/nextsample/causalconv/kernels"
)

// generatorConfigs are the tiny models of the other tests (K = 2 and 3,
// with and without bias, one-hot input of width 1 and 2, embedding, a
// residual conv on the last layer), whose queues are at most 8 slots long,
// plus two with long queues (up to 256 and 512 slots), so that a few
// thousand steps wrap every ring buffer many times.
func generatorConfigs() map[string]Config {
	cs := tinyConfigs()
	wide := tiny(2, true, InputOneHot, 2)
	wide.Dilations = []int{1, 4, 32, 512, 3}
	cs["K2_bias_onehot2_d512"] = wide
	wide3 := tiny(3, false, InputEmbedding, 1)
	wide3.Dilations = []int{1, 16, 256, 2}
	cs["K3_nobias_embed_d256"] = wide3
	return cs
}

// genSets are the kernel sets that have the matrix-vector kernels, plus
// the fastest without its transposed kernels (MatVecT, MatVecTBF16), so
// that the generator's fallback to MatVec and MatVecBF16 is tested too.
func genSets() []kernels.Set {
	var sets []kernels.Set
	for _, k := range kernels.Sets() {
		if k.MatVec != nil {
			sets = append(sets, k)
		}
	}
	plain := kernels.Best()
	plain.Name += "-untransposed"
	plain.MatVecT, plain.MatVecTBF16 = nil, nil
	return append(sets, plain)
}

// forEachGenSet runs f with every set of genSets.
func forEachGenSet(t *testing.T, f func(t *testing.T, k kernels.Set)) {
	for _, k := range genSets() {
		t.Run(k.Name, func(t *testing.T) { f(t, k) })
	}
}

// fullLogits returns the full forward pass's logits of x, one []float32
// of Q per position.
func fullLogits(t *testing.T, p *Packed, k kernels.Set, x []int32) [][]float32 {
	return fullLogitsOf(t, p, k, x, -1)
}

// fullLogitsOf is fullLogits of a conditioned model for speaker (-1: none).
func fullLogitsOf(t *testing.T, p *Packed, k kernels.Set, x []int32, speaker int) [][]float32 {
	t.Helper()
	c := p.Config()
	ws, err := NewEvalWorkspace(c, k, len(x))
	if err != nil {
		t.Fatal(err)
	}
	ws.SetSpeaker(speaker)
	dst := make([]float32, c.QuantizationChannels*len(x))
	m, err := ws.Logits(p, x, 0, dst)
	if err != nil {
		t.Fatal(err)
	}
	out := make([][]float32, len(x))
	for j := range out {
		out[j] = make([]float32, m.Rows)
		for c := range out[j] {
			out[j][c] = m.At(c, j)
		}
	}
	return out
}

// TestGeneratorMatchesForward feeds random inputs to every stream of a
// generator, one step at a time, and compares the logits of every stream
// at every one of 5,000 steps with the full forward pass over the stream's
// whole input: they must agree to 1e-5.
func TestGeneratorMatchesForward(t *testing.T) {
	const T, tol = 5000, 1e-5
	for name, c := range generatorConfigs() {
		t.Run(name, func(t *testing.T) {
			m := randomModel(t, c, 3)
			p := m.Packed()
			forEachGenSet(t, func(t *testing.T, k kernels.Set) {
				for _, B := range []int{1, 3} {
					rng := rand.New(rand.NewPCG(uint64(B), 9))
					xs := make([][]int32, B)
					want := make([][][]float32, B)
					for s := range xs {
						xs[s] = randomClasses(rng, T, c.QuantizationChannels)
						want[s] = fullLogits(t, p, k, xs[s])
					}
					g, err := NewGenerator(p, k, B, GeneratorOptions{})
					if err != nil {
						t.Fatal(err)
					}
					x := make([]int32, B)
					var worst float64
					for step := 0; step < T; step++ {
						for s := range x {
							x[s] = xs[s][step]
						}
						out, err := g.Step(x)
						if err != nil {
							t.Fatal(err)
						}
						for s := 0; s < B; s++ {
							for cl, w := range want[s][step] {
								d := math.Abs(float64(out[cl*B+s] - w))
								worst = math.Max(worst, d)
								if d > tol {
									t.Fatalf("%d streams: stream %d step %d class %d: generator %g, forward %g", B, s, step, cl, out[cl*B+s], w)
								}
							}
						}
					}
					t.Logf("%d streams: max |generator − forward| = %.2g over %d steps", B, worst, T)
				}
			})
		})
	}
}

// TestGeneratorWarm checks that warming with a prompt (all but its last
// sample) and stepping with the last sample gives the full forward pass's
// logits at the end of the prompt, for prompts shorter and longer than the
// receptive field (a long one is cut to its last RF−1 samples), also when
// the generator had seen other inputs before (a prompt of RF−1 or more
// samples leaves no trace of them).
func TestGeneratorWarm(t *testing.T) {
	for name, c := range generatorConfigs() {
		t.Run(name, func(t *testing.T) {
			m := randomModel(t, c, 5)
			p := m.Packed()
			k := kernels.Best()
			rf := c.ReceptiveField()
			rng := rand.New(rand.NewPCG(5, 5))
			long := randomClasses(rng, 3*rf+7, c.QuantizationChannels)
			want := fullLogits(t, p, k, long)
			g, err := NewGenerator(p, k, 2, GeneratorOptions{})
			if err != nil {
				t.Fatal(err)
			}
			for _, n := range []int{1, 2, rf - 1, rf, rf + 1, 3*rf + 7} {
				for _, dirty := range []bool{false, true} {
					if dirty && n < rf {
						continue
					}
					g.Reset()
					if dirty {
						for range 2 * rf {
							g.Step([]int32{int32(rng.IntN(c.QuantizationChannels)), 0})
						}
					}
					if err := g.Warm(long[:n-1]); err != nil {
						t.Fatal(err)
					}
					out, err := g.Step([]int32{long[n-1], long[n-1]})
					if err != nil {
						t.Fatal(err)
					}
					for s := 0; s < 2; s++ {
						for cl, w := range want[n-1] {
							if d := math.Abs(float64(out[cl*2+s] - w)); d > 1e-5 {
								t.Fatalf("prompt of %d (dirty %v): stream %d class %d: %g, forward %g", n, dirty, s, cl, out[cl*2+s], w)
							}
						}
					}
				}
			}
		})
	}
}

// naiveGenerate is generation without queues: every sample is drawn from
// the logits of the full forward pass over the last RF samples so far.
func naiveGenerate(t *testing.T, p *Packed, k kernels.Set, prompt []int32, n int, smp *Sampler) []int32 {
	t.Helper()
	c := p.Config()
	rf := c.ReceptiveField()
	ws, err := NewEvalWorkspace(c, k, rf)
	if err != nil {
		t.Fatal(err)
	}
	dst := make([]float32, c.QuantizationChannels)
	seq := slices.Clone(prompt)
	for range n {
		win := seq[max(0, len(seq)-rf):]
		lg, err := ws.Logits(p, win, len(win)-1, dst)
		if err != nil {
			t.Fatal(err)
		}
		seq = append(seq, smp.Draw(lg.Data, 1))
	}
	return seq[len(prompt):]
}

// TestFastEqualsNaiveSampling generates with the queues (several streams
// at once) and naively (one stream at a time, the full network over the
// last RF samples for every sample), with the same seeds: the samples must
// be the same.
func TestFastEqualsNaiveSampling(t *testing.T) {
	const n, B = 300, 2
	names := []string{"K2_bias_onehot2", "K3_nobias_onehot2", "K3_bias_embed", "K2_bias_onehot2_d512"}
	cs := generatorConfigs()
	for _, name := range names {
		c := cs[name]
		t.Run(name, func(t *testing.T) {
			m := randomModel(t, c, 11)
			p := m.Packed()
			rng := rand.New(rand.NewPCG(1, 1))
			prompt := randomClasses(rng, 25, c.QuantizationChannels)
			forEachGenSet(t, func(t *testing.T, k kernels.Set) {
				for _, temp := range []float64{1, 0.6, 0} {
					out := generateWith(t, p, k, B, n, GeneratorOptions{}, prompt, nil, temp, 42)
					for s := range out {
						ns, _ := NewSampler(kernels.Generic(), c.QuantizationChannels, temp, 42, uint64(s))
						want := naiveGenerate(t, p, k, prompt, n, ns)
						if !slices.Equal(out[s], want) {
							i := 0
							for out[s][i] == want[i] {
								i++
							}
							t.Fatalf("T=%g stream %d: fast and naive differ first at sample %d: %d vs %d", temp, s, i, out[s][i], want[i])
						}
					}
					if temp > 0 && slices.Equal(out[0], out[1]) {
						t.Errorf("T=%g: streams 0 and 1 drew the same %d samples; their generators should differ", temp, n)
					}
				}
			})
		})
	}
}

// TestBatchedIsIndependentOfGrouping: with MatVecBatch, a stream's logits
// are bit-identical whether it runs alone (Batched) or among 5 streams,
// for every kernel set, so that dividing a run's streams among goroutines
// does not change its samples.
func TestBatchedIsIndependentOfGrouping(t *testing.T) {
	c := generatorConfigs()["K2_bias_onehot2_d512"]
	c.ResidualChannels, c.DilationChannels, c.SkipChannels, c.EndChannels = 24, 20, 40, 36 // odd sizes: every kernel tail
	p := randomModel(t, c, 13).Packed()
	forEachGenSet(t, func(t *testing.T, k kernels.Set) {
		const B, T = 5, 300
		rng := rand.New(rand.NewPCG(2, 2))
		xs := make([][]int32, B)
		for s := range xs {
			xs[s] = randomClasses(rng, T, c.QuantizationChannels)
		}
		all, err := NewGenerator(p, k, B, GeneratorOptions{})
		if err != nil {
			t.Fatal(err)
		}
		alone := make([]*Generator, B)
		for s := range alone {
			if alone[s], err = NewGenerator(p, k, 1, GeneratorOptions{Batched: true}); err != nil {
				t.Fatal(err)
			}
		}
		x := make([]int32, B)
		for step := 0; step < T; step++ {
			for s := range x {
				x[s] = xs[s][step]
			}
			out, _ := all.Step(x)
			for s := range x {
				one, _ := alone[s].Step(x[s : s+1])
				for cl, v := range one {
					if v != out[cl*B+s] {
						t.Fatalf("step %d stream %d class %d: alone %v, among %d %v", step, s, cl, v, B, out[cl*B+s])
					}
				}
			}
		}
	})
}

// TestBF16MatchesRoundedModel: with bfloat16 weights the generator
// computes exactly (to 1e-5) the full forward pass of the model whose
// filter-gate, skip and head matrices were rounded to bfloat16 (residual
// matrices, biases and the input layer stay float32), for every kernel
// set that has a bfloat16 kernel.
func TestBF16MatchesRoundedModel(t *testing.T) {
	const T = 2000
	for _, name := range []string{"K2_bias_onehot2_d512", "K3_nobias_embed_d256", "K3_bias_onehot1"} {
		c := generatorConfigs()[name]
		t.Run(name, func(t *testing.T) {
			m := randomModel(t, c, 17)
			rounded := m.Clone()
			h := make([]uint16, 1)
			for _, tn := range m.Tensors() {
				if len(tn.Shape) == 1 || strings.HasPrefix(tn.Name, "input_") || strings.HasPrefix(tn.Name, "residual.") {
					continue
				}
				for i := tn.Offset; i < tn.Offset+tn.Size; i++ {
					kernels.ToBF16(h, rounded.Params[i:i+1])
					kernels.FromBF16(rounded.Params[i:i+1], h)
				}
			}
			x := randomClasses(rand.New(rand.NewPCG(8, 8)), T, c.QuantizationChannels)
			for _, k := range genSets() {
				if k.MatVecBF16 == nil && k.MatVecTBF16 == nil {
					continue
				}
				t.Run(k.Name, func(t *testing.T) {
					want := fullLogits(t, rounded.Packed(), k, x)
					g, err := NewGenerator(m.Packed(), k, 1, GeneratorOptions{BF16: true})
					if err != nil {
						t.Fatal(err)
					}
					var moved float64 // how far rounding moved the logits, to show the test can fail
					exact := fullLogits(t, m.Packed(), k, x)
					for step, v := range x {
						out, _ := g.Step([]int32{v})
						for cl, w := range want[step] {
							if d := math.Abs(float64(out[cl] - w)); d > 1e-5 {
								t.Fatalf("step %d class %d: bf16 generator %g, rounded model %g", step, cl, out[cl], w)
							}
							moved = math.Max(moved, math.Abs(float64(w-exact[step][cl])))
						}
					}
					if moved < 1e-4 {
						t.Errorf("rounding to bfloat16 moved no logit by more than %g; the comparison is vacuous", moved)
					}
				})
			}
		})
	}
}

// TestGeneratorNoAllocation: a step, a warm-up and a draw allocate nothing.
func TestGeneratorNoAllocation(t *testing.T) {
	c := tiny(2, true, InputOneHot, 2)
	p := randomModel(t, c, 1).Packed()
	for _, B := range []int{1, 4} {
		g, err := NewGenerator(p, kernels.Best(), B, GeneratorOptions{})
		if err != nil {
			t.Fatal(err)
		}
		x := make([]int32, B)
		prompt := []int32{1, 2, 3, 4, 5}
		smp, _ := NewSampler(kernels.Generic(), c.QuantizationChannels, 1, 1, 0)
		allocs := testing.AllocsPerRun(100, func() {
			out, _ := g.Step(x)
			x[0] = smp.Draw(out, B)
			g.Warm(prompt)
		})
		if allocs != 0 {
			t.Errorf("%d streams: %v allocations per step", B, allocs)
		}
	}
}

// TestGeneratorRejects checks the argument errors.
func TestGeneratorRejects(t *testing.T) {
	c := tiny(2, true, InputOneHot, 1)
	p := randomModel(t, c, 1).Packed()
	k := kernels.Best()
	if _, err := NewGenerator(nil, k, 1, GeneratorOptions{}); err == nil {
		t.Error("nil weights accepted")
	}
	if _, err := NewGenerator(p, k, 0, GeneratorOptions{}); err == nil {
		t.Error("0 streams accepted")
	}
	noBatch := k
	noBatch.MatVecBatch = nil
	if _, err := NewGenerator(p, noBatch, 1, GeneratorOptions{}); err != nil {
		t.Errorf("one stream needs no MatVecBatch: %v", err)
	}
	if _, err := NewGenerator(p, noBatch, 2, GeneratorOptions{}); err == nil || !strings.Contains(err.Error(), "matrix-vector") {
		t.Errorf("a set without MatVecBatch accepted for 2 streams: %v", err)
	}
	if _, err := NewGenerator(p, noBatch, 1, GeneratorOptions{Batched: true}); err == nil {
		t.Error("a set without MatVecBatch accepted for a batched generator")
	}
	if _, err := NewGenerator(p, k, 2, GeneratorOptions{BF16: true}); err == nil {
		t.Error("bfloat16 weights accepted for 2 streams")
	}
	noBF16 := k
	noBF16.MatVecBF16, noBF16.MatVecTBF16 = nil, nil
	if _, err := NewGenerator(p, noBF16, 1, GeneratorOptions{BF16: true}); err == nil {
		t.Error("bfloat16 weights accepted with a set that has no MatVecBF16")
	}
	g, _ := NewGenerator(p, k, 2, GeneratorOptions{})
	for _, x := range [][]int32{{1}, {1, 2, 3}, {1, 16}, {-1, 0}} {
		if _, err := g.Step(x); err == nil {
			t.Errorf("Step(%v) accepted", x)
		}
	}
	if err := g.Warm([]int32{1, 2, 99}); err == nil || !strings.Contains(err.Error(), "prompt sample 2") {
		t.Errorf("Warm with class 99: %v", err)
	}
	smp := []*Sampler{nil, nil}
	for s := range smp {
		smp[s], _ = NewSampler(kernels.Generic(), c.QuantizationChannels, 1, 1, uint64(s))
	}
	ctx := context.Background()
	if err := g.Generate(ctx, []int32{1, 1}, smp, [][]int32{make([]int32, 3), make([]int32, 4)}, nil); err == nil {
		t.Error("outputs of different lengths accepted")
	}
	wrongQ, _ := NewSampler(kernels.Generic(), 7, 1, 1, 0)
	if err := g.Generate(ctx, []int32{1, 1}, []*Sampler{smp[0], wrongQ}, [][]int32{make([]int32, 3), make([]int32, 3)}, nil); err == nil {
		t.Error("a sampler over the wrong class count accepted")
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	err := g.Generate(cctx, []int32{1, 1}, smp, [][]int32{make([]int32, 5000), make([]int32, 5000)}, nil)
	if err != context.Canceled {
		t.Errorf("cancelled Generate returned %v", err)
	}
}

// TestGenerateProgress checks that Generate reports progress and fills
// every output.
func TestGenerateProgress(t *testing.T) {
	c := tiny(3, true, InputOneHot, 1)
	p := randomModel(t, c, 2).Packed()
	g, _ := NewGenerator(p, kernels.Best(), 1, GeneratorOptions{})
	smp, _ := NewSampler(kernels.Generic(), c.QuantizationChannels, 1, 5, 0)
	out := [][]int32{make([]int32, 2500)}
	var calls []int
	if err := g.Generate(context.Background(), []int32{3}, []*Sampler{smp}, out, func(n int) { calls = append(calls, n) }); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(calls) != "[1024 2048 2500]" {
		t.Errorf("progress calls %v", calls)
	}
}

// A conditioned model's streams, each with its own speaker, step to the
// full forward pass's logits for that speaker; without SetSpeakers the
// generator refuses to step.
func TestConditionedGeneratorMatchesForward(t *testing.T) {
	const T, tol = 600, 1e-5
	c := tiny(2, true, InputOneHot, 1)
	c.Dilations = []int{1, 2, 4, 8, 1, 2}
	c.GlobalCondition = &GlobalCondition{Channels: 3, Cardinality: 4}
	m := randomModel(t, c, 8)
	p := m.Packed()
	speakers := []int{2, 0, 3}
	forEachGenSet(t, func(t *testing.T, k kernels.Set) {
		for _, B := range []int{1, 3} {
			rng := rand.New(rand.NewPCG(uint64(B), 5))
			xs := make([][]int32, B)
			want := make([][][]float32, B)
			for s := range xs {
				xs[s] = randomClasses(rng, T, c.QuantizationChannels)
				want[s] = fullLogitsOf(t, p, k, xs[s], speakers[s])
			}
			g, err := NewGenerator(p, k, B, GeneratorOptions{})
			if err != nil {
				t.Fatal(err)
			}
			x := make([]int32, B)
			if _, err := g.Step(x); err == nil {
				t.Fatal("a conditioned generator stepped without speakers")
			}
			if err := g.SetSpeakers(speakers[:B]); err != nil {
				t.Fatal(err)
			}
			for step := 0; step < T; step++ {
				for s := range x {
					x[s] = xs[s][step]
				}
				out, err := g.Step(x)
				if err != nil {
					t.Fatal(err)
				}
				for s := 0; s < B; s++ {
					for cl, w := range want[s][step] {
						if d := math.Abs(float64(out[cl*B+s] - w)); d > tol {
							t.Fatalf("%d streams: stream %d (speaker %d) step %d class %d: generator %g, forward %g", B, s, speakers[s], step, cl, out[cl*B+s], w)
						}
					}
				}
			}
		}
	})
	g, _ := NewGenerator(p, kernels.Reference(), 1, GeneratorOptions{})
	if err := g.SetSpeakers([]int{4}); err == nil {
		t.Error("speaker 4 of 4 accepted")
	}
}
