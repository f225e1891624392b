package train

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"runtime"
	"strconv"
	"testing"

	"github.com/nextsample/nextsample/causalconv"
	"github.com/nextsample/nextsample/causalconv/kernels"
)

// BenchmarkStep measures whole training steps (forward, backward, gradient
// sum, Adam) of the default skip256 model on the reference benchmark's
// shapes, with all cores, and reports timesteps/s and GFLOP/s in the
// reference's units (train_flops_per_timestep per scored timestep; the
// context that chunks recompute is not counted). On CPUs with AVX512_BF16
// the same shapes also run in mixed precision (suffix _bf16).
func BenchmarkStep(b *testing.B) {
	cfg := causalconv.DefaultConfig()
	precs := []causalconv.Precision{causalconv.PrecisionFP32}
	if causalconv.CheckPrecision(causalconv.PrecisionBF16, kernels.Best()) == nil {
		precs = append(precs, causalconv.PrecisionBF16)
	}
	for _, prec := range precs {
		for _, shape := range []struct{ batch, samples int }{{1, 16000}, {4, 8000}, {8, 4000}} {
			name := fmt.Sprintf("skip256_b%dx%d", shape.batch, shape.samples)
			if prec != causalconv.PrecisionFP32 {
				name += "_" + prec.String()
			}
			b.Run(name, func(b *testing.B) { benchmarkStep(b, cfg, prec, shape.batch, shape.samples) })
		}
		// The vocoder recipe's model (--condition fbank at 8 kHz: 40 bins, hop
		// 80) on its shape, beside the same model without conditioning above.
		lc := causalconv.DefaultConfig()
		lc.LocalCondition = &causalconv.LocalCondition{Channels: 40, Hop: 80, Window: 200, SnipEdges: true, Context: 2, UpsampleScales: []int{4, 4, 5}}
		name := "skip256_lc40_b8x4000"
		if prec != causalconv.PrecisionFP32 {
			name += "_" + prec.String()
		}
		b.Run(name, func(b *testing.B) { benchmarkStep(b, lc, prec, 8, 4000) })
	}
}

func benchmarkStep(b *testing.B, cfg causalconv.Config, prec causalconv.Precision, batch, samples int) {
	m, err := causalconv.NewRandom(cfg, 1)
	if err != nil {
		b.Fatal(err)
	}
	o := DefaultOptions(Adam)
	o.Threads = runtime.GOMAXPROCS(0)
	o.Precision = prec
	// NEXTSAMPLE_BENCH_CHUNK=N overrides the machine's default chunk, to
	// compare chunk sizes (train.ChunkFor's figures came from this).
	if v, err := strconv.Atoi(os.Getenv("NEXTSAMPLE_BENCH_CHUNK")); err == nil {
		o.Chunk = v
	}
	st, err := NewStepper(m, o)
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	r := rand.New(rand.NewPCG(1, 1))
	units := make([]Unit, batch)
	for i := range units {
		seq := make([]int32, samples+1)
		for t := range seq {
			seq[t] = int32(128 + 60*math.Sin(float64(t)*0.05) + 5*r.NormFloat64())
		}
		units[i] = Unit{Seq: seq, Targets: samples}
		if lc := cfg.LocalCondition; lc != nil {
			frames := (samples+1-lc.Window)/lc.Hop + 1
			f := causalconv.Matrix{Rows: lc.Channels, Cols: frames, Stride: frames, Data: make([]float32, lc.Channels*frames)}
			for j := range f.Data {
				f.Data[j] = float32(r.NormFloat64())
			}
			units[i].Feats = f
		}
	}
	if _, err := st.Step(units); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		if _, err := st.Step(units); err != nil {
			b.Fatal(err)
		}
	}
	ts := float64(batch*samples) * float64(b.N) / b.Elapsed().Seconds()
	b.ReportMetric(ts, "timesteps/s")
	b.ReportMetric(ts*float64(cfg.FLOPs().Train())/1e9, "GFLOP/s")
}
