package causalconv

import (
	"context"
	"errors"
	"math/rand/v2"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/nextsample/nextsample/causalconv/kernels"
)

// generateWith runs Generate for n samples of B streams with the given
// options (after warming with prompt), stream s drawing with
// NewSampler(kernels.Generic(), Q, temp, seed, s), in two calls.
func generateWith(t *testing.T, p *Packed, k kernels.Set, B, n int, opt GeneratorOptions, prompt []int32, speakers []int, temp float64, seed uint64) [][]int32 {
	t.Helper()
	g, err := NewGenerator(p, k, B, opt)
	if err != nil {
		t.Fatal(err)
	}
	if speakers != nil {
		if err := g.SetSpeakers(speakers); err != nil {
			t.Fatal(err)
		}
	}
	if err := g.Warm(prompt[:len(prompt)-1]); err != nil {
		t.Fatal(err)
	}
	smp := make([]*Sampler, B)
	out := make([][]int32, B)
	last := make([]int32, B)
	for s := range smp {
		smp[s], _ = NewSampler(kernels.Generic(), p.Config().QuantizationChannels, temp, seed, uint64(s))
		out[s] = make([]int32, n)
		last[s] = prompt[len(prompt)-1]
	}
	// Two calls, so that the second starts a new helper mid-stream.
	for _, part := range [][2]int{{0, n / 3}, {n / 3, n}} {
		o := make([][]int32, B)
		for s := range o {
			o[s] = out[s][part[0]:part[1]]
		}
		if err := g.Generate(context.Background(), last, smp, o, nil); err != nil {
			t.Fatal(err)
		}
		for s := range last {
			last[s] = o[s][len(o[s])-1]
		}
	}
	return out
}

// TestGeneratePairIsIdentical: Generate with Threads 2 draws exactly the
// samples of Threads 1, for every configuration, kernel set, stream
// count, bf16 weights and a conditioned model.
func TestGeneratePairIsIdentical(t *testing.T) {
	if runtime.GOMAXPROCS(0) < 2 {
		t.Skip("GOMAXPROCS < 2: Generate would not start a helper")
	}
	const n = 600
	cs := generatorConfigs()
	cond := tiny(2, true, InputOneHot, 1)
	cond.Dilations = []int{1, 2, 4, 8, 1, 2}
	cond.GlobalCondition = &GlobalCondition{Channels: 3, Cardinality: 4}
	cs["conditioned"] = cond
	def := DefaultConfig() // post products split at 128 rows
	cs["default"] = def
	for name, c := range cs {
		t.Run(name, func(t *testing.T) {
			p := randomModel(t, c, 21).Packed()
			rng := rand.New(rand.NewPCG(3, 3))
			prompt := randomClasses(rng, 40, c.QuantizationChannels)
			steps := n
			if name == "default" {
				steps = 150
			}
			forEachGenSet(t, func(t *testing.T, k kernels.Set) {
				type variant struct {
					B    int
					bf16 bool
				}
				vs := []variant{{1, false}, {3, false}}
				if k.MatVecBF16 != nil || k.MatVecTBF16 != nil {
					vs = append(vs, variant{1, true})
				}
				for _, v := range vs {
					var speakers []int
					if c.GlobalCondition != nil {
						speakers = []int{2, 0, 3}[:v.B]
					}
					one := generateWith(t, p, k, v.B, steps, GeneratorOptions{BF16: v.bf16}, prompt, speakers, 1, 9)
					two := generateWith(t, p, k, v.B, steps, GeneratorOptions{BF16: v.bf16, Threads: 2}, prompt, speakers, 1, 9)
					for s := range one {
						if !slices.Equal(one[s], two[s]) {
							i := 0
							for one[s][i] == two[s][i] {
								i++
							}
							t.Fatalf("B=%d bf16=%v stream %d: Threads 2 differs first at sample %d: %d vs %d", v.B, v.bf16, s, i, two[s][i], one[s][i])
						}
					}
				}
			})
		})
	}
}

// TestGeneratePairStepMatches: Generate with Threads 2 draws what Step
// and Draw do one at a time (which TestFastEqualsNaiveSampling checks
// against the full forward pass).
func TestGeneratePairStepMatches(t *testing.T) {
	c := generatorConfigs()["K2_bias_onehot2_d512"]
	p := randomModel(t, c, 4).Packed()
	k := kernels.Best()
	prompt := []int32{5, 9}
	got := generateWith(t, p, k, 1, 900, GeneratorOptions{Threads: 2}, prompt, nil, 1, 9)[0]
	g, err := NewGenerator(p, k, 1, GeneratorOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Warm(prompt[:1]); err != nil {
		t.Fatal(err)
	}
	smp, _ := NewSampler(kernels.Generic(), c.QuantizationChannels, 1, 9, 0)
	x := []int32{prompt[1]}
	for i, want := range got {
		out, err := g.Step(x)
		if err != nil {
			t.Fatal(err)
		}
		x[0] = smp.Draw(out, 1)
		if x[0] != want {
			t.Fatalf("sample %d: Step+Draw %d, Generate with Threads 2 %d", i, x[0], want)
		}
	}
}

// Cancelling a two-thread Generate returns ctx's error and stops the
// helper goroutine; Threads 3 is refused.
func TestGeneratePairCancelAndRejects(t *testing.T) {
	c := DefaultConfig()
	p := randomModel(t, c, 1).Packed()
	if _, err := NewGenerator(p, kernels.Best(), 1, GeneratorOptions{Threads: 3}); err == nil {
		t.Error("Threads 3 accepted")
	}
	before := runtime.NumGoroutine()
	g, err := NewGenerator(p, kernels.Best(), 1, GeneratorOptions{Threads: 2})
	if err != nil {
		t.Fatal(err)
	}
	smp, _ := NewSampler(kernels.Generic(), c.QuantizationChannels, 1, 1, 0)
	ctx, cancel := context.WithCancel(context.Background())
	calls := 0
	err = g.Generate(ctx, []int32{128}, []*Sampler{smp}, [][]int32{make([]int32, 1<<20)}, func(int) {
		if calls++; calls == 2 {
			cancel()
		}
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Generate after cancel: %v", err)
	}
	for i := 0; runtime.NumGoroutine() > before; i++ {
		if i == 100 {
			t.Fatalf("%d goroutines after Generate returned, %d before", runtime.NumGoroutine(), before)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
