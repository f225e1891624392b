package causalconv

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/nextsample/nextsample/causalconv/kernels"
)

// BenchmarkVocode compares, side by side in one run, one stream of fast
// generation of the default model (plain) with the same model given a
// local_condition of 40 fbank channels, hop 80 (vocode): the issue asks
// that vocoding run at ≥ 90% of plain generation's speed. Both generate
// one stream with Generator.Generate at temperature 1, as `nextsample
// generate` and `vocode` do, with GeneratorOptions.Threads 1 (threads1)
// and 2 (threads2: the second goroutine takes the skip and post products,
// as bench's gen_fast does), taking turns every blockSteps samples, so
// that both see the same ups and downs of a shared machine. It reports
// each one's samples/s (the mean), best-samples/s (the fastest block) and
// median-samples/s (the median block), and the ratios vocode/plain of the
// three.
//
//	go test ./causalconv -run '^$' -bench Vocode -benchtime 40000x -count 3
func BenchmarkVocode(b *testing.B) {
	for _, threads := range []int{1, 2} {
		b.Run(fmt.Sprintf("threads%d", threads), func(b *testing.B) { benchmarkVocode(b, threads) })
	}
}

func benchmarkVocode(b *testing.B, threads int) {
	lc := DefaultConfig()
	lc.LocalCondition = &LocalCondition{Channels: 40, Hop: 80, Window: 200, SnipEdges: true, Context: 2, UpsampleScales: []int{4, 4, 5}}
	k := kernels.Best()
	rng := rand.New(rand.NewPCG(1, 1))
	const frames = 2000 // 20 s at 8 kHz; later steps take the last frame's column
	feats := Matrix{Rows: 40, Cols: frames, Stride: frames, Data: make([]float32, 40*frames)}
	for i := range feats.Data {
		feats.Data[i] = float32(rng.NormFloat64())
	}
	type runner struct {
		step   func()
		blocks []time.Duration
	}
	var rs []*runner
	for _, c := range []Config{DefaultConfig(), lc} {
		m, err := NewRandom(c, 1)
		if err != nil {
			b.Fatal(err)
		}
		g, err := NewGenerator(m.Packed(), k, 1, GeneratorOptions{Threads: threads})
		if err != nil {
			b.Fatal(err)
		}
		if c.LocalCondition != nil {
			if err := g.SetFeatures([]Matrix{feats}, []int{0}); err != nil {
				b.Fatal(err)
			}
		}
		smp, _ := NewSampler(k, c.QuantizationChannels, 1, 1, 0)
		x := []int32{128}
		out := [][]int32{make([]int32, blockSteps)}
		r := &runner{step: func() {
			// Generate runs the two-goroutine step with Threads 2.
			_ = g.Generate(context.Background(), x, []*Sampler{smp}, out, nil)
			x[0] = out[0][blockSteps-1]
		}}
		r.step() // warm-up
		rs = append(rs, r)
	}
	b.ResetTimer()
	for done := 0; done < b.N; done += blockSteps {
		for _, r := range rs {
			t0 := time.Now()
			r.step() // blockSteps samples
			r.blocks = append(r.blocks, time.Since(t0))
		}
	}
	var rate [2][3]float64 // mean, best, median
	for i, r := range rs {
		var sum time.Duration
		for _, d := range r.blocks {
			sum += d
		}
		slices.Sort(r.blocks)
		n := float64(blockSteps)
		rate[i] = [3]float64{n * float64(len(r.blocks)) / sum.Seconds(), n / r.blocks[0].Seconds(), n / r.blocks[len(r.blocks)/2].Seconds()}
	}
	for j, name := range []string{"samples/s", "best-samples/s", "median-samples/s"} {
		b.ReportMetric(rate[0][j], "plain-"+name)
		b.ReportMetric(rate[1][j], "vocode-"+name)
	}
	b.ReportMetric(rate[1][0]/rate[0][0], "ratio")
	b.ReportMetric(rate[1][1]/rate[0][1], "best-ratio")
	b.ReportMetric(rate[1][2]/rate[0][2], "median-ratio")
	b.ReportMetric(math.NaN(), "ns/op")
}
