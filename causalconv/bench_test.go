package causalconv

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/nextsample/nextsample/causalconv/kernels"
)

// BenchmarkForwardBackward times one ForwardBackward of the default skip256
// model on one core with kernels.Best(), for 4,000 scored positions, alone
// (as the reference's training benchmark does) and with the 2,046 inputs of
// context the training recipe puts in front. timesteps/s counts scored
// positions; GFLOP/s is timesteps/s × Config.FLOPs().Train(), the
// reference's accounting (the context's extra work is not counted).
func BenchmarkForwardBackward(b *testing.B) {
	c := DefaultConfig()
	m, _ := NewRandom(c, 1)
	p := m.Packed()
	rf := c.ReceptiveField()
	for _, ctx := range []int{0, rf - 1} {
		const T = 4000
		b.Run(fmt.Sprintf("skip256/T%d/ctx%d", T, ctx), func(b *testing.B) {
			k := kernels.Best()
			N := T + ctx
			rng := rand.New(rand.NewPCG(1, 2))
			x := randomClasses(rng, N, c.QuantizationChannels)
			y := randomClasses(rng, N, c.QuantizationChannels)
			ws, err := NewTrainingWorkspace(c, k, N)
			if err != nil {
				b.Fatal(err)
			}
			grad := m.NewGrad()
			ws.ForwardBackward(p, x, y, ctx, 1.0/T, grad) // touch every buffer once
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := ws.ForwardBackward(p, x, y, ctx, 1.0/T, grad); err != nil {
					b.Fatal(err)
				}
			}
			sec := b.Elapsed().Seconds() / float64(b.N)
			b.ReportMetric(T/sec, "timesteps/s")
			b.ReportMetric(T*float64(c.FLOPs().Train())/sec/1e9, "GFLOP/s")
			b.ReportMetric(float64(ws.Bytes())/float64(N), "B/timestep")
		})
	}
}

// BenchmarkLoss times the forward pass alone (evaluation) on the same
// shapes, in an evaluation workspace.
func BenchmarkLoss(b *testing.B) {
	c := DefaultConfig()
	m, _ := NewRandom(c, 1)
	p := m.Packed()
	const T = 4000
	k := kernels.Best()
	rng := rand.New(rand.NewPCG(1, 2))
	x := randomClasses(rng, T, c.QuantizationChannels)
	y := randomClasses(rng, T, c.QuantizationChannels)
	ws, err := NewEvalWorkspace(c, k, T)
	if err != nil {
		b.Fatal(err)
	}
	ws.Loss(p, x, y, 0)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		ws.Loss(p, x, y, 0)
	}
	sec := b.Elapsed().Seconds() / float64(b.N)
	b.ReportMetric(T/sec, "timesteps/s")
	b.ReportMetric(T*float64(c.FLOPs().Forward())/sec/1e9, "GFLOP/s")
}

// BenchmarkPack times the once-per-step weight packing.
func BenchmarkPack(b *testing.B) {
	m, _ := NewRandom(DefaultConfig(), 1)
	p := m.Packed()
	for i := 0; i < b.N; i++ {
		p.Pack(m.Params)
	}
}
