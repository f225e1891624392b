package causalconv

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/nextsample/nextsample/audio"
	"github.com/nextsample/nextsample/causalconv/kernels"
)

func conditioned(bias bool) Config {
	c := tiny(2, bias, InputOneHot, 1)
	c.GlobalCondition = &GlobalCondition{Channels: 3, Cardinality: 4}
	return c
}

// A conditioned model's logits and every gradient (the speaker table and
// the per-layer W_gc included) against the float64 reference and its
// finite differences, with every kernel set, with and without bias.
func TestConditionedMatchesReference(t *testing.T) {
	const N = 23
	for _, bias := range []bool{true, false} {
		c := conditioned(bias)
		m := randomModel(t, c, 21)
		// Widen the conditioning so that a bug in it shows.
		for _, tn := range m.Tensors() {
			if tn.Name == "gc_embedding.weight" || len(tn.Name) > 14 && tn.Name[:15] == "filter_gate_gc." {
				for i := tn.Offset; i < tn.Offset+tn.Size; i++ {
					m.Params[i] *= 2
				}
			}
		}
		rng := rand.New(rand.NewPCG(4, 4))
		x := randomClasses(rng, N, c.QuantizationChannels)
		y := randomClasses(rng, N, c.QuantizationChannels)
		froms := []int{0, 11}
		p := m.Packed()
		for _, speaker := range []int{0, 2} {
			ref := newRefNet(m)
			ref.speaker = speaker
			want := ref.forward(x).logits
			num := ref.numGrads(x, y, froms)
			for _, k := range kernels.Sets() {
				ws, err := NewTrainingWorkspace(c, k, 40)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := ws.Loss(p, x, y, 0); err == nil {
					t.Fatal("a conditioned model ran without a speaker")
				}
				ws.SetSpeaker(speaker)
				lg, err := ws.Logits(p, x, 0, make([]float32, c.QuantizationChannels*N))
				if err != nil {
					t.Fatal(err)
				}
				for q := 0; q < lg.Rows; q++ {
					for j := 0; j < N; j++ {
						if d := math.Abs(float64(lg.At(q, j)) - want[j][q]); d > 1e-5 {
							t.Fatalf("bias %v speaker %d %s: logit[%d] at %d = %g, reference %g", bias, speaker, k.Name, q, j, lg.At(q, j), want[j][q])
						}
					}
				}
				for fi, from := range froms {
					grad := m.NewGrad()
					if _, err := ws.ForwardBackward(p, x, y, from, 1, grad); err != nil {
						t.Fatal(err)
					}
					var gmax float64
					for _, v := range num[fi] {
						gmax = math.Max(gmax, math.Abs(v))
					}
					for _, tn := range m.Tensors() {
						for i := tn.Offset; i < tn.Offset+tn.Size; i++ {
							d := math.Abs(float64(grad[i]) - num[fi][i])
							if d/(1e-3*gmax+math.Abs(num[fi][i])) > 2e-3 {
								t.Fatalf("bias %v speaker %d %s from %d: %s[%d]: gradient %g, finite difference %g",
									bias, speaker, k.Name, from, tn.Name, i-tn.Offset, grad[i], num[fi][i])
							}
						}
					}
				}
			}
		}
	}
}

// The speaker changes the output; an unconditioned model refuses a
// speaker and a conditioned one a speaker outside its table.
func TestConditionedSpeakers(t *testing.T) {
	c := conditioned(true)
	m := randomModel(t, c, 3)
	p := m.Packed()
	x := randomClasses(rand.New(rand.NewPCG(1, 1)), 20, c.QuantizationChannels)
	ws, err := NewEvalWorkspace(c, kernels.Reference(), 20)
	if err != nil {
		t.Fatal(err)
	}
	logits := func(s int) []float32 {
		ws.SetSpeaker(s)
		out := make([]float32, c.QuantizationChannels*len(x))
		if _, err := ws.Logits(p, x, 0, out); err != nil {
			t.Fatal(err)
		}
		return out
	}
	a, b := logits(0), logits(3)
	same := true
	for i := range a {
		same = same && a[i] == b[i]
	}
	if same {
		t.Fatal("speakers 0 and 3 give the same logits")
	}
	ws.SetSpeaker(4)
	if _, err := ws.Logits(p, x, 0, make([]float32, c.QuantizationChannels*len(x))); err == nil {
		t.Fatal("speaker 4 of 4 accepted")
	}
	u := tiny(2, true, InputOneHot, 1)
	wu, _ := NewEvalWorkspace(u, kernels.Reference(), 20)
	wu.SetSpeaker(0)
	if _, err := wu.Logits(randomModel(t, u, 3).Packed(), x, 0, make([]float32, u.QuantizationChannels*len(x))); err == nil {
		t.Fatal("an unconditioned model accepted a speaker")
	}
}

// The PyTorch module of testdata/wavenet_gc.py (a subclass of the
// reference WaveNet), with random weights, scores the bundled FSDD files
// with their speakers to within 1e-3 bits/sample of PyTorch's own NLL
// (testdata/gc_small.json, made by testdata/gen_gc.py).
func TestConditionedGoldenFromPyTorch(t *testing.T) {
	f, err := loadGolden("testdata/gc_small.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	var golden struct {
		Files []struct {
			Path    string
			Speaker string
			Samples int
			Nats    float64
		}
		BitsPerSample          float64 `json:"bits_per_sample"`
		BitsWithSpeaker0ForAll float64 `json:"bits_with_speaker0_for_all"`
	}
	b, err := os.ReadFile("testdata/gc_small.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &golden); err != nil {
		t.Fatal(err)
	}
	var speakers []string
	if err := json.Unmarshal([]byte(f.Metadata["speakers"]), &speakers); err != nil {
		t.Fatalf("speakers metadata: %v", err)
	}
	m := f.Model
	if m.Config.Speakers() != len(speakers) {
		t.Fatalf("%d speakers in the table, %d names", m.Config.Speakers(), len(speakers))
	}
	p := m.Packed()
	settings := audio.DefaultSettings()
	mu := settings.MuLaw()
	score := func(withOwn bool) (bits float64) {
		var nats float64
		var n int
		for _, gf := range golden.Files {
			x, _, err := settings.Load(filepath.Join("..", gf.Path))
			if err != nil {
				t.Fatal(err)
			}
			cl := make([]int32, len(x))
			mu.Encode(x, cl)
			ws, err := NewEvalWorkspace(m.Config, kernels.Best(), len(cl))
			if err != nil {
				t.Fatal(err)
			}
			s := 0
			if withOwn {
				s = slices.Index(speakers, gf.Speaker)
			}
			ws.SetSpeaker(s)
			l, err := ws.Loss(p, cl[:len(cl)-1], cl[1:], 0)
			if err != nil {
				t.Fatal(err)
			}
			if withOwn && (len(cl)-1 != gf.Samples || math.Abs(l-gf.Nats)/float64(gf.Samples)/math.Ln2 > 1e-3) {
				t.Errorf("%s (%s): %d samples, %.4f nats; PyTorch %d, %.4f", gf.Path, gf.Speaker, len(cl)-1, l, gf.Samples, gf.Nats)
			}
			nats += l
			n += len(cl) - 1
		}
		return nats / float64(n) / math.Ln2
	}
	own, zero := score(true), score(false)
	t.Logf("bits/sample: %.6f (PyTorch %.6f); all as speaker 0: %.6f (PyTorch %.6f)", own, golden.BitsPerSample, zero, golden.BitsWithSpeaker0ForAll)
	if math.Abs(own-golden.BitsPerSample) > 1e-3 || math.Abs(zero-golden.BitsWithSpeaker0ForAll) > 1e-3 {
		t.Fatal("conditioned NLL differs from PyTorch's by more than 1e-3 bits/sample")
	}
}
