package features

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/nextsample/nextsample/audio/kaldifeat"
	"github.com/nextsample/nextsample/causalconv"
	"github.com/nextsample/nextsample/causalconv/kernels"
)

// tinyConfigs are small architectures that exercise K = 2 and 3, with
// and without bias, and a receptive field longer than a frame.
func tinyConfigs() map[string]causalconv.Config {
	base := causalconv.Config{
		QuantizationChannels: 16, InputEncoding: causalconv.InputOneHot, InputKernelSize: 1,
		ResidualChannels: 5, DilationChannels: 4, SkipChannels: 6, EndChannels: 7,
		KernelSize: 2, Dilations: []int{1, 2, 4, 8, 1, 2}, Bias: true,
	}
	k3 := base
	k3.KernelSize = 3
	k3.Bias = false
	k3.Dilations = []int{1, 3, 9}
	return map[string]causalconv.Config{"k2bias": base, "k3nobias": k3}
}

func randomClasses(rng *rand.Rand, n, q int) []int32 {
	x := make([]int32, n)
	for i := range x {
		x[i] = int32(rng.IntN(q))
	}
	return x
}

func TestFramingMatchesKaldi(t *testing.T) {
	// Frame counts and first samples are kaldifeat's, whose golden tests
	// pin them to torchaudio's; spans are those windows clipped.
	for _, snip := range []bool{true, false} {
		for _, fr := range []Framing{{200, 80, snip}, {7, 3, snip}, {6, 4, snip}, {1, 1, snip}} {
			for n := 0; n < 300; n++ {
				frames := fr.NumFrames(n)
				if want := kaldifeat.NumFrames(n, fr.Window, fr.Hop, snip); frames != want {
					t.Fatalf("%+v, n=%d: %d frames, kaldifeat %d", fr, n, frames, want)
				}
				for f := 0; f < frames; f++ {
					lo, hi := fr.Span(f, n)
					first := kaldifeat.FirstSample(f, fr.Window, fr.Hop, snip)
					if lo != max(0, first) || hi != min(n, first+fr.Window) || lo >= hi {
						t.Fatalf("%+v, n=%d, frame %d: span [%d, %d), window starts at %d", fr, n, f, lo, hi, first)
					}
					if snip && hi-lo != fr.Window {
						t.Fatalf("%+v, n=%d, frame %d: snip-edges frame of %d positions", fr, n, f, hi-lo)
					}
				}
			}
		}
	}
	// The documented 8 kHz example: 1000 samples, 25 ms every 10 ms.
	fr, err := FramingMs(8000, 25, 10, true)
	if err != nil || fr != (Framing{200, 80, true}) {
		t.Fatalf("FramingMs(8000, 25, 10) = %+v, %v", fr, err)
	}
	if got := fr.NumFrames(1000); got != 11 {
		t.Errorf("snip-edges: 1000 samples give %d frames, want 1 + (1000−200)/80 = 11", got)
	}
	fr.SnipEdges = false
	if got := fr.NumFrames(1000); got != 13 {
		t.Errorf("centred: 1000 samples give %d frames, want (1000+40)/80 = 13", got)
	}
	if lo, hi := fr.Span(0, 1000); lo != 0 || hi != 140 {
		t.Errorf("centred frame 0 pools [%d, %d), want [0, 140) (window −60..139 clipped)", lo, hi)
	}
	if lo, hi := fr.Span(12, 1000); lo != 900 || hi != 1000 {
		t.Errorf("centred frame 12 pools [%d, %d), want [900, 1000) (window 900..1099 clipped)", lo, hi)
	}
	if _, err := FramingMs(8000, 0, 10, true); err == nil {
		t.Error("a 0 ms frame was accepted")
	}
}

// referenceFeatures computes learned features the plain way: activations
// of the whole utterance in one call with the reference kernels, then
// every frame, item and channel pooled in float64 straight from the
// definition.
func referenceFeatures(t *testing.T, m *causalconv.Model, x []int32, ls Layers, pool string, fr Framing) [][]float64 {
	t.Helper()
	c := m.Config
	ws, err := causalconv.NewEvalWorkspace(c, kernels.Reference(), len(x))
	if err != nil {
		t.Fatal(err)
	}
	layers, skip := ls.needs(c.Layers())
	act, err := ws.Activations(m.Packed(), x, 0, causalconv.ActivationOptions{Layers: layers, SkipSum: skip})
	if err != nil {
		t.Fatal(err)
	}
	n := len(x)
	var out [][]float64
	for f := 0; f < fr.NumFrames(n); f++ {
		first := kaldifeat.FirstSample(f, fr.Window, fr.Hop, fr.SnipEdges)
		var row []float64
		for _, it := range ls {
			a := act.SkipSum
			if !it.Skip {
				a = act.Z[it.Layer]
			}
			for ch := 0; ch < a.Rows; ch++ {
				sum, best, count := 0.0, math.Inf(-1), 0
				for p := first; p < first+fr.Window; p++ {
					if p < 0 || p >= n {
						continue
					}
					v := float64(a.At(ch, p))
					sum += v
					best = math.Max(best, v)
					count++
				}
				if pool == PoolMax {
					row = append(row, best)
				} else {
					row = append(row, sum/float64(count))
				}
			}
		}
		out = append(out, row)
	}
	return out
}

func TestExtractorAgainstReference(t *testing.T) {
	for name, c := range tinyConfigs() {
		m, err := causalconv.NewRandom(c, 3)
		if err != nil {
			t.Fatal(err)
		}
		p, err := NewWeights(m)
		if err != nil {
			t.Fatal(err)
		}
		rng := rand.New(rand.NewPCG(1, 2))
		x := randomClasses(rng, 457, c.QuantizationChannels)
		for _, spec := range []string{"skip", "z:all", "z:1,4", "z:2,skip,z:0"} {
			ls, err := ParseLayers(spec, c.Layers())
			if err != nil {
				if spec == "z:1,4" && c.Layers() < 5 {
					continue
				}
				t.Fatal(err)
			}
			for _, pool := range []string{PoolMean, PoolMax} {
				// Direct pooling (g = gcd(window, hop) < minBlock, or
				// g = window) and pooling through blocks of g positions.
				for _, fr := range []Framing{{20, 8, true}, {20, 8, false}, {9, 9, true}, {40, 16, true}, {40, 16, false}, {30, 20, false}} {
					want := referenceFeatures(t, m, x, ls, pool, fr)
					for _, k := range kernels.Sets() {
						t.Run(fmt.Sprintf("%s/%s/%s/%v/%s", name, spec, pool, fr, k.Name), func(t *testing.T) {
							ex, err := NewExtractor(p, Options{Layers: ls, Pool: pool, Framing: fr, Kernels: k})
							if err != nil {
								t.Fatal(err)
							}
							got, frames, err := ex.Compute(nil, x)
							if err != nil {
								t.Fatal(err)
							}
							if frames != len(want) || len(got) != frames*ex.Dim() || ex.Dim() != ls.Dim(c) {
								t.Fatalf("%d frames × %d dims in %d values, want %d frames × %d", frames, ex.Dim(), len(got), len(want), ls.Dim(c))
							}
							for f, row := range want {
								for j, w := range row {
									if g := float64(got[f*ex.Dim()+j]); math.Abs(g-w) > 1e-5*(1+math.Abs(w)) {
										t.Fatalf("frame %d, column %d: %g, reference %g", f, j, g, w)
									}
								}
							}
						})
					}
				}
			}
		}
	}
}

// TestChunkingIsExact checks that chunked features (down to a chunk of
// one frame, so that every chunk needs the full receptive field of
// context) equal those of one pass. With the portable kernel sets they are
// equal bit for bit. The SIMD sets compute the last n mod 16 (or 8)
// elements of an element-wise call in Go, which rounds ~1% of tanh·σ
// values differently (1 ulp) from the vector code, and which elements fall
// there depends on the call's length; so for them the test allows 1e-5.
func TestChunkingIsExact(t *testing.T) {
	for name, c := range tinyConfigs() {
		m, err := causalconv.NewRandom(c, 5)
		if err != nil {
			t.Fatal(err)
		}
		p, err := NewWeights(m)
		if err != nil {
			t.Fatal(err)
		}
		rng := rand.New(rand.NewPCG(7, 8))
		x := randomClasses(rng, 400, c.QuantizationChannels)
		ls, err := ParseLayers("skip,z:all", c.Layers())
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range kernels.Sets() {
			exact := k.Name == "reference" || k.Name == "generic"
			for _, pool := range []string{PoolMean, PoolMax} {
				for _, snip := range []bool{true, false} {
					fr := Framing{Window: 20, Hop: 8, SnipEdges: snip}
					whole, err := NewExtractor(p, Options{Layers: ls, Pool: pool, Framing: fr, Chunk: len(x), Kernels: k})
					if err != nil {
						t.Fatal(err)
					}
					want, _, err := whole.Compute(nil, x)
					if err != nil {
						t.Fatal(err)
					}
					for _, chunk := range []int{1, 20, 21, 33, 100} {
						ex, err := NewExtractor(p, Options{Layers: ls, Pool: pool, Framing: fr, Chunk: chunk, Kernels: k})
						if err != nil {
							t.Fatal(err)
						}
						prefix := []float32{42}
						got, frames, err := ex.Compute(prefix, x)
						if err != nil {
							t.Fatal(err)
						}
						if frames != fr.NumFrames(len(x)) || len(got) != 1+len(want) || got[0] != 42 {
							t.Fatalf("%s chunk %d: %d frames, %d values (appended after 1)", name, chunk, frames, len(got))
						}
						for i, w := range want {
							g := got[1+i]
							if g != w && (exact || math.Abs(float64(g-w)) > 1e-5*(1+math.Abs(float64(w)))) {
								t.Fatalf("%s %s %s snip=%v chunk %d: value %d (frame %d) is %g, one pass gives %g",
									name, k.Name, pool, snip, chunk, i, i/ex.Dim(), g, w)
							}
						}
					}
				}
			}
		}
	}
}

// TestPoolerAgainstDefinition checks both pooling paths on random rows,
// for every frame range a chunk can hand them.
func TestPoolerAgainstDefinition(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 3))
	for _, fr := range []Framing{{200, 80, true}, {200, 80, false}, {40, 16, false}, {24, 8, true}, {16, 8, false}, {20, 8, false}, {7, 3, true}, {5, 10, false}} {
		for _, pool := range []string{PoolMean, PoolMax} {
			p := newPooler(pool, fr)
			for _, n := range []int{1, 5, 30, 203, 1000} {
				row := make([]float32, n)
				for i := range row {
					row[i] = float32(rng.NormFloat64())
				}
				frames := fr.NumFrames(n)
				for f0 := 0; f0 < frames; f0++ {
					for f1 := f0 + 1; f1 <= frames; f1 += 1 + f1/4 {
						lo, _ := fr.Span(f0, n)
						_, hi := fr.Span(f1-1, n)
						out := make([]float32, 2*(f1-f0))
						p.row(n, f0, f1, lo, row[lo:hi], out, 2)
						for f := f0; f < f1; f++ {
							a, b := fr.Span(f, n)
							want := math.Inf(-1)
							sum := 0.0
							for _, v := range row[a:b] {
								want = math.Max(want, float64(v))
								sum += float64(v)
							}
							if pool == PoolMean {
								want = sum / float64(b-a)
							}
							if got := float64(out[2*(f-f0)]); math.Abs(got-want) > 1e-6 {
								t.Fatalf("%+v %s n=%d frames %d..%d: frame %d is %g, want %g (g=%d)", fr, pool, n, f0, f1, f, got, want, p.g)
							}
						}
					}
				}
			}
		}
	}
}

func TestExtractorEdgeCases(t *testing.T) {
	c := tinyConfigs()["k2bias"]
	m, _ := causalconv.NewRandom(c, 1)
	p, _ := NewWeights(m)
	ls, _ := ParseLayers("skip", c.Layers())
	ex, err := NewExtractor(p, Options{Layers: ls, Framing: Framing{20, 8, true}})
	if err != nil {
		t.Fatal(err)
	}
	if got, n, err := ex.Compute(nil, make([]int32, 19)); err != nil || n != 0 || len(got) != 0 {
		t.Errorf("19 samples, 20-sample window: %d frames, %d values, %v; want none", n, len(got), err)
	}
	if _, _, err := ex.Compute(nil, []int32{0, 1, 99, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 1, 2, 3}); err == nil {
		t.Error("class 99 of a 16-class model was accepted")
	}
	for _, o := range []Options{
		{Framing: Framing{20, 8, true}},
		{Layers: ls, Framing: Framing{0, 8, true}},
		{Layers: ls, Framing: Framing{20, 8, true}, Pool: "median"},
		{Layers: Layers{{Layer: 6}}, Framing: Framing{20, 8, true}},
		{Layers: ls, Framing: Framing{20, 8, true}, Chunk: -1},
	} {
		if _, err := NewExtractor(p, o); err == nil {
			t.Errorf("NewExtractor accepted %+v", o)
		}
	}
}
