package features

import (
	"context"
	"fmt"
	"runtime"
	"testing"

	"github.com/nextsample/nextsample/audio"
	"github.com/nextsample/nextsample/audio/featio"
	"github.com/nextsample/nextsample/causalconv"
)

// activationFLOPs is the network arithmetic per position of an Extractor
// computing ls with mean pooling every hop positions: the dilated convs
// and residual convs of the layers run, and for the skip sum the fused
// skip product once per frame (the output head is never run).
func activationFLOPs(c causalconv.Config, ls Layers, hop int) float64 {
	layers, skip := ls.needs(c.Layers())
	R, D, S, K := c.ResidualChannels, c.DilationChannels, c.SkipChannels, c.KernelSize
	f := float64(layers) * 2 * float64(2*D*K*R) // filter and gate
	f += float64(layers-1) * 2 * float64(R*D)   // residual convs feeding the layers run
	if skip {
		f += 2 * float64(S*c.Layers()*D) / float64(hop)
	}
	return f
}

// benchPipeline times b.N synthetic utterances of 2 s at 8 kHz through the
// corpus pipeline's workers (one per GOMAXPROCS; use -cpu to vary), from
// samples to pooled frames, without decoding or writing files.
func benchPipeline(b *testing.B, r *Recipe, flops float64) {
	threads := runtime.GOMAXPROCS(0)
	const length = 16000
	utts := syntheticUtterances(1, 4*threads, length, 8000)
	comps, err := newComputers(r, threads, len(utts))
	if err != nil {
		b.Fatal(err)
	}
	load := func(i int) ([]float32, error) { return utts[i%len(utts)], nil }
	discard := func(int, int, featio.Matrix) error { return nil }
	ctx := context.Background()
	if _, err := run(ctx, comps, r.Dim, len(utts), load, discard, nil, nil); err != nil { // warm-up
		b.Fatal(err)
	}
	b.ResetTimer()
	if _, err := run(ctx, comps, r.Dim, b.N, load, discard, nil, nil); err != nil {
		b.Fatal(err)
	}
	sec := b.Elapsed().Seconds()
	b.ReportMetric(float64(b.N)*length/sec, "samples/s")
	if flops > 0 {
		b.ReportMetric(float64(b.N)*length*flops/sec/1e9, "GFLOP/s")
	}
}

// BenchmarkLearned measures learned features of the reference models
// (random weights) for the representations the README reports; the
// issue's target is ≥ 200K samples/s for skip256 on 2 cores.
func BenchmarkLearned(b *testing.B) {
	variants := map[string]causalconv.Config{"skip256": causalconv.DefaultConfig()}
	s128 := causalconv.DefaultConfig()
	s128.SkipChannels, s128.EndChannels = 128, 128
	variants["skip128"] = s128
	for _, variant := range []string{"skip256", "skip128"} {
		c := variants[variant]
		for _, spec := range []string{"skip", "z:all", "skip,z:all"} {
			b.Run(fmt.Sprintf("%s/%s", variant, spec), func(b *testing.B) {
				r, err := benchRecipe(BenchOptions{Kind: featio.KindLearned, Model: c, Layers: spec, SampleRate: 8000})
				if err != nil {
					b.Fatal(err)
				}
				ls, _ := ParseLayers(spec, c.Layers())
				benchPipeline(b, r, activationFLOPs(c, ls, r.Framing.Hop))
			})
		}
	}
}

// BenchmarkLearnedMax measures max pooling of the skip sum, which must
// compute the skip sum at every position (mean pooling multiplies the
// pooled gate outputs once per frame instead; see Extractor).
func BenchmarkLearnedMax(b *testing.B) {
	c := causalconv.DefaultConfig()
	for _, spec := range []string{"skip", "z:all"} {
		b.Run("skip256/"+spec, func(b *testing.B) {
			ls, _ := ParseLayers(spec, c.Layers())
			fr := Framing{200, 80, true}
			m, _ := causalconv.NewRandom(c, 0)
			s := audio.DefaultSettings()
			r, err := Learned(m, s, Options{Layers: ls, Pool: PoolMax, Framing: fr}, "", "")
			if err != nil {
				b.Fatal(err)
			}
			benchPipeline(b, r, activationFLOPs(c, ls, 1))
		})
	}
}

// BenchmarkFbank measures Kaldi fbank and MFCC features.
func BenchmarkFbank(b *testing.B) {
	for _, kind := range []string{featio.KindFbank, featio.KindMFCC} {
		b.Run(kind, func(b *testing.B) {
			r, err := benchRecipe(BenchOptions{Kind: kind, SampleRate: 8000})
			if err != nil {
				b.Fatal(err)
			}
			benchPipeline(b, r, 0)
		})
	}
}

// BenchmarkPool measures pooling alone: the skip sum and all gated
// activations of the default model (896 rows) over 2 s at 8 kHz.
func BenchmarkPool(b *testing.B) {
	const n, rows = 16000, 896
	fr := Framing{200, 80, true}
	frames := fr.NumFrames(n)
	act := make([]float32, n)
	for i := range act {
		act[i] = float32(i%17) * 0.1
	}
	out := make([]float32, frames*rows)
	for _, pool := range []string{PoolMean, PoolMax} {
		b.Run(pool, func(b *testing.B) {
			p := newPooler(pool, fr)
			for b.Loop() {
				for r := 0; r < rows; r++ {
					p.row(n, 0, frames, 0, act, out[r:], rows)
				}
			}
			b.ReportMetric(float64(b.N)*n/b.Elapsed().Seconds(), "samples/s")
		})
	}
}

func TestBenchHelper(t *testing.T) {
	c := tinyConfigs()["k2bias"]
	for _, o := range []BenchOptions{
		{Model: c, Layers: "skip,z:all", Threads: 2, Utterance: 900, MinTime: 1},
		{Kind: featio.KindFbank, Threads: 1, Utterance: 900, MinTime: 1},
	} {
		res, err := Bench(context.Background(), o)
		if err != nil {
			t.Fatal(err)
		}
		if res.SamplesPerSecond <= 0 || len(res.Rounds) < 1 || res.Samples != int64(len(res.Rounds))*int64(4*o.Threads*900) || res.Threads != o.Threads {
			t.Errorf("%+v: result %+v", o, res)
		}
	}
	if _, err := Bench(context.Background(), BenchOptions{Kind: "spectrogram"}); err == nil {
		t.Error("an unknown kind was accepted")
	}
}
