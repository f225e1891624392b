package causalconv

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/nextsample/nextsample/causalconv/kernels"
)

// lcGoldenFixture is the PyTorch-built locally conditioned model of
// testdata/lc_small.safetensors and its files' real μ-law classes and
// Kaldi fbank features (testdata/lc_small.json).
func lcGoldenFixture(t testing.TB) (*Model, lcGolden) {
	t.Helper()
	f, err := loadGolden("testdata/lc_small.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	var g lcGolden
	b, err := os.ReadFile("testdata/lc_small.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &g); err != nil {
		t.Fatal(err)
	}
	return f.Model, g
}

// withSnipEdges is m with the frame convention set to snip.
func withSnipEdges(m *Model, snip bool) *Model {
	c := m.Clone()
	c.Config.LocalCondition.SnipEdges = snip
	return c
}

// lcFullLogits is the full forward pass's logits (Workspace.Logits with
// SetFeatures) of x, a sequence that starts at sample start of the
// utterance of feats, one []float32 of Q per position.
func lcFullLogits(t testing.TB, p *Packed, k kernels.Set, x []int32, feats Matrix, start, speaker int) [][]float32 {
	t.Helper()
	c := p.Config()
	ws, err := NewEvalWorkspace(c, k, len(x))
	if err != nil {
		t.Fatal(err)
	}
	ws.SetSpeaker(speaker)
	if err := ws.SetFeatures(feats, start); err != nil {
		t.Fatal(err)
	}
	m, err := ws.Logits(p, x, 0, make([]float32, c.QuantizationChannels*len(x)))
	if err != nil {
		t.Fatal(err)
	}
	out := make([][]float32, len(x))
	for j := range out {
		out[j] = make([]float32, m.Rows)
		for cl := range out[j] {
			out[j][cl] = m.At(cl, j)
		}
	}
	return out
}

// lcStream is one teacher-forced stream: its inputs, features, start
// and speaker (−1: none).
type lcStream struct {
	x       []int32
	feats   Matrix
	start   int
	speaker int
}

// checkLCGenerator steps a generator of the streams (warmed with their
// first warm inputs, which must be the same for all) and compares every
// step's logits with the full forward pass's within tol; it returns the
// largest difference.
func checkLCGenerator(t *testing.T, p *Packed, k kernels.Set, opt GeneratorOptions, streams []lcStream, warm int, want [][][]float32, tol float64) float64 {
	t.Helper()
	B := len(streams)
	g, err := NewGenerator(p, k, B, opt)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := g.Step(make([]int32, B)); err == nil {
		t.Fatal("a locally conditioned generator stepped without features")
	}
	feats, starts, speakers := make([]Matrix, B), make([]int, B), make([]int, B)
	T := len(streams[0].x)
	for s, st := range streams {
		feats[s], starts[s], speakers[s] = st.feats, st.start, st.speaker
		T = min(T, len(st.x))
	}
	if err := g.SetFeatures(feats, starts); err != nil {
		t.Fatal(err)
	}
	if speakers[0] >= 0 {
		if err := g.SetSpeakers(speakers); err != nil {
			t.Fatal(err)
		}
	}
	if warm > 0 {
		if err := g.Warm(streams[0].x[:warm]); err != nil {
			t.Fatal(err)
		}
	}
	x := make([]int32, B)
	var worst float64
	for step := warm; step < T; step++ {
		for s := range x {
			x[s] = streams[s].x[step]
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
					t.Fatalf("%d streams: stream %d (start %d) step %d class %d: generator %g, forward %g", B, s, streams[s].start, step, cl, out[cl*B+s], w)
				}
			}
		}
	}
	return worst
}

// Fast generation of a locally conditioned model equals the full forward
// pass (Workspace.Logits with SetFeatures) within 1e-5 in the logits, at
// every step, teacher-forced on real class sequences with their real
// fbank features (the PyTorch-built golden model's FSDD files), with
// snip-edges on and off, from the utterance's start and from inside it
// (starts 1200 and 37), one stream and three streams of different
// utterances in one generator, for every kernel set with the
// matrix-vector kernels. The sequences run past the last frame, so the
// clamp at the end is used, and are longer than many blocks of lcBlock.
func TestLocalConditionGeneratorMatchesForward(t *testing.T) {
	const tol = 1e-5
	m, gold := lcGoldenFixture(t)
	for _, snip := range []bool{true, false} {
		ms := withSnipEdges(m, snip)
		p := ms.Packed()
		var streams []lcStream
		for i, start := range []int{0, 1200, 37} {
			f := gold.Files[i]
			streams = append(streams, lcStream{x: f.Classes[start : len(f.Classes)-1], feats: featureMatrix(f.Features), start: start, speaker: -1})
		}
		forEachGenSet(t, func(t *testing.T, k kernels.Set) {
			want := make([][][]float32, len(streams))
			for s, st := range streams {
				want[s] = lcFullLogits(t, p, k, st.x, st.feats, st.start, -1)
			}
			var worst float64
			for s := range streams {
				worst = math.Max(worst, checkLCGenerator(t, p, k, GeneratorOptions{}, streams[s:s+1], 0, want[s:s+1], tol))
			}
			worst = math.Max(worst, checkLCGenerator(t, p, k, GeneratorOptions{}, streams, 0, want, tol))
			t.Logf("snip_edges %v: max |generator − forward| = %.2g", snip, worst)
		})
	}
}

// The tiny locally conditioned model, also conditioned on speakers, with
// random weights, features and inputs: the generator's streams, each with
// its own utterance, start and speaker, step to the full forward pass's
// logits; and after warming with a prompt longer than the receptive field
// (which Warm cuts, counting the positions it leaves out), stepping goes
// on at the right columns.
func TestLocalConditionGeneratorSpeakersAndWarm(t *testing.T) {
	const T, tol = 400, 1e-5
	for _, snip := range []bool{true, false} {
		c := lcConfig(true, true, snip)
		m := lcRandomModel(t, c, 3)
		p := m.Packed()
		rng := rand.New(rand.NewPCG(2, 2))
		var streams []lcStream
		for s, start := range []int{0, 5, 23} {
			feats, _ := lcFeatures(rng, c, 40+s*9)
			streams = append(streams, lcStream{x: randomClasses(rng, T, c.QuantizationChannels), feats: feats, start: start, speaker: []int{1, 3, 0}[s]})
		}
		warmed := streams[0]
		warmed.x = slices.Clone(warmed.x)
		forEachGenSet(t, func(t *testing.T, k kernels.Set) {
			want := make([][][]float32, len(streams))
			for s, st := range streams {
				want[s] = lcFullLogits(t, p, k, st.x, st.feats, st.start, st.speaker)
			}
			checkLCGenerator(t, p, k, GeneratorOptions{}, streams, 0, want, tol)
			checkLCGenerator(t, p, k, GeneratorOptions{}, streams[1:2], 0, want[1:2], tol)
			// Warm cuts a prompt of more than RF−1 inputs to its last RF−1.
			warm := c.ReceptiveField() + 30
			checkLCGenerator(t, p, k, GeneratorOptions{}, []lcStream{warmed}, warm, want[:1], tol)
		})
	}
}

// With bfloat16 weights the generator of a locally conditioned model
// computes (to 1e-5) the full forward pass of the model whose filter-gate,
// skip and head matrices were rounded (W_lc, like the residual matrices,
// stays float32), on the golden model's real classes and features.
func TestLocalConditionGeneratorBF16(t *testing.T) {
	m, gold := lcGoldenFixture(t)
	rounded := m.Clone()
	h := make([]uint16, 1)
	for _, tn := range m.Tensors() {
		if len(tn.Shape) == 1 || strings.HasPrefix(tn.Name, "input_") || strings.HasPrefix(tn.Name, "residual.") || strings.Contains(tn.Name, "lc") {
			continue
		}
		for i := tn.Offset; i < tn.Offset+tn.Size; i++ {
			kernels.ToBF16(h, rounded.Params[i:i+1])
			kernels.FromBF16(rounded.Params[i:i+1], h)
		}
	}
	f := gold.Files[1]
	st := lcStream{x: f.Classes[300 : len(f.Classes)-1], feats: featureMatrix(f.Features), start: 300, speaker: -1}
	for _, k := range genSets() {
		if k.MatVecBF16 == nil && k.MatVecTBF16 == nil {
			continue
		}
		t.Run(k.Name, func(t *testing.T) {
			want := lcFullLogits(t, rounded.Packed(), k, st.x, st.feats, st.start, -1)
			checkLCGenerator(t, m.Packed(), k, GeneratorOptions{BF16: true}, []lcStream{st}, 0, [][][]float32{want}, 1e-5)
		})
	}
}

// lcGenerate runs Generate for B streams of the golden model's files
// from silence, with the given options, in two calls.
func lcGenerate(t *testing.T, p *Packed, k kernels.Set, gold lcGolden, B, n int, opt GeneratorOptions) [][]int32 {
	t.Helper()
	g, err := NewGenerator(p, k, B, opt)
	if err != nil {
		t.Fatal(err)
	}
	feats := make([]Matrix, B)
	for s := range feats {
		feats[s] = featureMatrix(gold.Files[s].Features)
	}
	if err := g.SetFeatures(feats, make([]int, B)); err != nil {
		t.Fatal(err)
	}
	out, last, smp := make([][]int32, B), make([]int32, B), make([]*Sampler, B)
	for s := range out {
		out[s] = make([]int32, n)
		last[s] = 128
		smp[s], _ = NewSampler(k, p.Config().QuantizationChannels, 1, 5, uint64(s))
	}
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

// Generate of a locally conditioned model with Threads 2 draws exactly
// the samples of Threads 1: one stream, three, and bf16 weights.
func TestLocalConditionGeneratePairIsIdentical(t *testing.T) {
	if runtime.GOMAXPROCS(0) < 2 {
		t.Skip("GOMAXPROCS < 2: Generate would not start a helper")
	}
	m, gold := lcGoldenFixture(t)
	p := m.Packed()
	forEachGenSet(t, func(t *testing.T, k kernels.Set) {
		for _, v := range []struct {
			B    int
			bf16 bool
		}{{1, false}, {3, false}, {1, true}} {
			if v.bf16 && k.MatVecBF16 == nil && k.MatVecTBF16 == nil {
				continue
			}
			one := lcGenerate(t, p, k, gold, v.B, 700, GeneratorOptions{BF16: v.bf16})
			two := lcGenerate(t, p, k, gold, v.B, 700, GeneratorOptions{BF16: v.bf16, Threads: 2})
			for s := range one {
				if !slices.Equal(one[s], two[s]) {
					t.Fatalf("B=%d bf16=%v stream %d: Threads 2 differs", v.B, v.bf16, s)
				}
			}
		}
	})
}

// Vocode draws what a Generator given the utterance's features, warmed
// with the prompt and stepped with NewSampler(k, Q, T, seed, s) draws
// (for an utterance alone in its group); its utterances do not depend on
// Threads; each has its length (the frames' samples, or the given
// Samples) less the prompt; and Progress ends at its total.
func TestVocode(t *testing.T) {
	m, gold := lcGoldenFixture(t)
	p := m.Packed()
	k := kernels.Best()
	var utts []Utterance
	for i := 0; i < 10; i++ { // one group of 8, then two alone
		f := gold.Files[i%len(gold.Files)]
		u := Utterance{Features: featureMatrix(f.Features)}
		if i%3 == 1 {
			u.Samples = 500 + 37*i
		} else {
			u.Features.Cols = min(u.Features.Cols, 8+i) // short, so the test is quick
		}
		utts = append(utts, u)
	}
	prompt := []int32{128}
	var last ContinueProgress
	opt := ContinueOptions{Temperature: 0.9, Seed: 4, Threads: 1, Kernels: k, Progress: func(pr ContinueProgress) { last = pr }}
	one, err := Vocode(context.Background(), p, prompt, utts, opt)
	if err != nil {
		t.Fatal(err)
	}
	if last.Done != last.Total || last.Total == 0 {
		t.Errorf("progress ended at %d of %d", last.Done, last.Total)
	}
	opt.Threads, opt.Progress = 3, nil
	three, err := Vocode(context.Background(), p, prompt, utts, opt)
	if err != nil {
		t.Fatal(err)
	}
	for s, u := range utts {
		n := u.Samples
		if n == 0 {
			n = u.Features.Cols * m.Config.LocalCondition.Hop
		}
		if len(one.Classes[s]) != n-1 {
			t.Errorf("utterance %d: %d classes, want %d", s, len(one.Classes[s]), n-1)
		}
		if !slices.Equal(one.Classes[s], three.Classes[s]) {
			t.Errorf("utterance %d differs between 1 and 3 threads", s)
		}
	}
	// The two shortest are alone in their groups: a one-stream generator.
	lengths := make([]int, len(utts))
	for s := range utts {
		lengths[s] = len(one.Classes[s])
	}
	groups := vocodeGroups(lengths, false)
	alone := groups[len(groups)-1][0]
	g, err := NewGenerator(p, k, 1, GeneratorOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := g.SetFeatures([]Matrix{utts[alone].Features}, []int{0}); err != nil {
		t.Fatal(err)
	}
	smp, _ := NewSampler(k, p.Config().QuantizationChannels, 0.9, 4, uint64(alone))
	want := [][]int32{make([]int32, lengths[alone])}
	if err := g.Generate(context.Background(), prompt, []*Sampler{smp}, want, nil); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(one.Classes[alone], want[0]) {
		t.Errorf("utterance %d (alone in its group): Vocode differs from its Generator", alone)
	}
}

// Vocode and the generator refuse what they cannot vocode, each with an
// error that says why.
func TestVocodeRefuses(t *testing.T) {
	m, gold := lcGoldenFixture(t)
	p := m.Packed()
	k := kernels.Best()
	good := featureMatrix(gold.Files[0].Features)
	wrong := featureMatrix(gold.Files[0].Features[:3])
	wrong.Rows = good.Rows - 1
	nan := featureMatrix(gold.Files[0].Features)
	nan.Data[7] = float32(math.NaN())
	plain, _ := continueFixture(t)
	opt := ContinueOptions{Kernels: k}
	cases := map[string]error{}
	_, cases["channels"] = Vocode(context.Background(), p, []int32{128}, []Utterance{{Features: good}, {Features: wrong}}, opt)
	_, cases["NaN"] = Vocode(context.Background(), p, []int32{128}, []Utterance{{Features: nan}}, opt)
	_, cases["unconditioned"] = Vocode(context.Background(), plain, []int32{128}, []Utterance{{Features: good}}, opt)
	_, cases["count"] = Vocode(context.Background(), p, []int32{128}, []Utterance{{Features: good}}, ContinueOptions{Count: 2})
	_, cases["none"] = Vocode(context.Background(), p, []int32{128}, nil, opt)
	_, cases["short"] = Vocode(context.Background(), p, []int32{128, 128}, []Utterance{{Features: good, Samples: 2}}, opt)
	_, cases["empty prompt"] = Vocode(context.Background(), p, nil, []Utterance{{Features: good}}, opt)
	g, _ := NewGenerator(plain, k, 1, GeneratorOptions{})
	cases["generator features"] = g.SetFeatures([]Matrix{good}, []int{0})
	lg, _ := NewGenerator(p, k, 2, GeneratorOptions{})
	cases["generator streams"] = lg.SetFeatures([]Matrix{good}, []int{0})
	cases["generator start"] = lg.SetFeatures([]Matrix{good, good}, []int{0, -1})
	cases["generator warm"] = lg.Warm([]int32{1})
	for name, err := range cases {
		if err == nil {
			t.Errorf("%s: accepted", name)
		} else {
			t.Logf("%s: %v", name, err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	long := []Utterance{{Features: good, Samples: 5000}}
	if _, err := Vocode(ctx, p, []int32{128}, long, opt); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
}
