package causalconv

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/nextsample/nextsample/causalconv/kernels"
)

// lcConfig is a tiny locally conditioned model: 3 feature channels, a hop
// of 6 samples reached in two stages (2·3), a 10-sample window, conv_in
// over one frame either side, normalisation statistics; with gc it is
// also conditioned on 4 speakers.
func lcConfig(bias, gc, snip bool) Config {
	c := tiny(2, bias, InputOneHot, 1)
	if gc {
		c.GlobalCondition = &GlobalCondition{Channels: 3, Cardinality: 4}
	}
	c.LocalCondition = &LocalCondition{
		Channels: 3, Hop: 6, Window: 10, SnipEdges: snip, Context: 1,
		UpsampleScales: []int{2, 3},
		Mean:           []float64{0.5, -1, 2}, Std: []float64{2, 0.5, 1.5},
	}
	return c
}

// lcFeatures returns F frames of C random features around the config's
// statistics, as a Matrix (with a padded stride) and as [c][k] float64s.
func lcFeatures(rng *rand.Rand, c Config, F int) (Matrix, [][]float64) {
	lc := c.LocalCondition
	C := lc.Channels
	m := Matrix{Rows: C, Cols: F, Stride: F + 3, Data: make([]float32, C*(F+3))}
	ref := make([][]float64, C)
	for ch := 0; ch < C; ch++ {
		for k := 0; k < F; k++ {
			v := float32(lc.Mean[ch] + lc.Std[ch]*rng.NormFloat64())
			m.Data[ch*m.Stride+k] = v
			ref[ch] = append(ref[ch], float64(v))
		}
	}
	return m, ref
}

// lcRandomModel is randomModel with the conditioning widened (so that a
// bug in it shows) and the upsampling kernels perturbed from their
// averaging start (so that a mixed-up tap shows).
func lcRandomModel(t testing.TB, c Config, seed uint64) *Model {
	m := randomModel(t, c, seed)
	rng := rand.New(rand.NewPCG(seed, 8))
	for _, tn := range m.Tensors() {
		for i := tn.Offset; i < tn.Offset+tn.Size; i++ {
			switch {
			case strings.HasPrefix(tn.Name, "filter_gate_lc."):
				m.Params[i] *= 3
			case strings.HasPrefix(tn.Name, "lc_upsample."):
				m.Params[i] += float32(0.2 * rng.NormFloat64())
			}
		}
	}
	return m
}

// TestLocalConditionMatchesReference checks a locally conditioned model
// (alone and with a speaker, snip-edges on and off, bias on and off)
// against the float64 reference of reference_test.go: the logits with
// every kernel set in fp32 and, where the set has it, bf16, and every
// parameter's gradient (conv_in, each upsampling stage, each layer's
// W_lc and all the others) against finite differences. The sequences
// start inside the utterance and run past its last frame, so the clamp
// at both ends is exercised.
func TestLocalConditionMatchesReference(t *testing.T) {
	const N, F = 23, 5 // 30 samples of frames; starts 0 and 13 reach past them
	type tc struct {
		name string
		c    Config
	}
	cases := []tc{
		{"snip", lcConfig(true, false, true)},
		{"nosnip_nobias", lcConfig(false, false, false)},
		{"snip_speaker", lcConfig(true, true, true)},
	}
	var worst32, worstBF float64
	for _, cs := range cases {
		c := cs.c
		m := lcRandomModel(t, c, 31)
		rng := rand.New(rand.NewPCG(5, 5))
		x, y := randomWalk(rng, N, c.QuantizationChannels)
		feats, fref := lcFeatures(rng, c, F)
		p32 := m.Packed()
		for _, start := range []int{0, 13} {
			ref := newRefNet(m)
			ref.feats, ref.start = fref, start
			if c.GlobalCondition != nil {
				ref.speaker = 2
			}
			want := ref.forward(x).logits
			var lmax float64
			for _, r := range want {
				for _, v := range r {
					lmax = math.Max(lmax, math.Abs(v))
				}
			}
			froms := []int{0, 9}
			num := ref.numGrads(x, y, froms)
			for _, k := range kernels.Sets() {
				precs := []Precision{PrecisionFP32}
				if CheckPrecision(PrecisionBF16, k) == nil {
					precs = append(precs, PrecisionBF16)
				}
				for _, prec := range precs {
					p := p32
					if prec == PrecisionBF16 {
						p = packPrecision(t, m, prec)
					}
					name := fmt.Sprintf("%s start %d %s %s", cs.name, start, k.Name, prec)
					ws, err := NewTrainingWorkspace(c, k, 40)
					if err != nil {
						t.Fatal(err)
					}
					if err := ws.SetPrecision(prec); err != nil {
						t.Fatal(err)
					}
					if c.GlobalCondition != nil {
						ws.SetSpeaker(2)
					}
					if _, err := ws.Loss(p, x, y, 0); err == nil {
						t.Fatalf("%s: a locally conditioned model ran without features", name)
					}
					if err := ws.SetFeatures(feats, start); err != nil {
						t.Fatal(err)
					}
					lg, err := ws.Logits(p, x, 0, make([]float32, c.QuantizationChannels*N))
					if err != nil {
						t.Fatal(err)
					}
					var dmax float64
					for q := 0; q < lg.Rows; q++ {
						for j := 0; j < N; j++ {
							dmax = math.Max(dmax, math.Abs(float64(lg.At(q, j))-want[j][q]))
						}
					}
					if prec == PrecisionBF16 {
						worstBF = math.Max(worstBF, dmax/lmax)
						if dmax > bf16LogitTol*lmax {
							t.Errorf("%s: logits %.3g from the reference (largest |logit| %.3g)", name, dmax, lmax)
						}
						continue // the gradients' bf16 gap is TestLocalConditionBF16's
					}
					worst32 = math.Max(worst32, dmax)
					if dmax > 1e-5 {
						t.Errorf("%s: logits %.3g from the reference", name, dmax)
					}
					for fi, from := range froms {
						grad := m.NewGrad()
						if _, err := ws.ForwardBackward(p, x, y, from, 1, grad); err != nil {
							t.Fatal(err)
						}
						checkGrad(t, name+fmt.Sprintf(" from %d", from), m, grad, num[fi])
					}
				}
			}
		}
	}
	t.Logf("largest logit difference from the float64 reference: fp32 %.2g, bf16 %.2g of the largest |logit|", worst32, worstBF)
}

// checkGrad compares a gradient with finite differences, tensor by tensor,
// with the tolerance of TestConditionedMatchesReference, and checks that
// every local-conditioning tensor's gradient is not all zero.
func checkGrad(t *testing.T, name string, m *Model, grad []float32, num []float64) {
	t.Helper()
	var gmax float64
	for _, v := range num {
		gmax = math.Max(gmax, math.Abs(v))
	}
	for _, tn := range m.Tensors() {
		var nz bool
		for i := tn.Offset; i < tn.Offset+tn.Size; i++ {
			nz = nz || grad[i] != 0
			d := math.Abs(float64(grad[i]) - num[i])
			if d/(1e-3*gmax+math.Abs(num[i])) > 2e-3 {
				t.Fatalf("%s: %s[%d]: gradient %g, finite difference %g", name, tn.Name, i-tn.Offset, grad[i], num[i])
			}
		}
		if !nz && strings.HasPrefix(tn.Name, "lc_") {
			t.Errorf("%s: %s has a zero gradient", name, tn.Name)
		}
	}
}

// packPrecision packs m's weights for prec.
func packPrecision(t testing.TB, m *Model, prec Precision) *Packed {
	p, err := NewPackedPrecision(m.Config, prec)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Pack(m.Params); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestLocalConditionBF16 checks the bf16 run of a locally conditioned
// model against the fp32 one with the tolerances of the other bf16 tests.
func TestLocalConditionBF16(t *testing.T) {
	c := lcConfig(true, true, true)
	for _, k := range bf16KernelSets() {
		t.Run(k.Name, func(t *testing.T) {
			m := lcRandomModel(t, c, 5)
			p := packPrecision(t, m, PrecisionBF16)
			rng := rand.New(rand.NewPCG(6, 6))
			x, y := randomWalk(rng, 301, c.QuantizationChannels)
			feats, _ := lcFeatures(rng, c, 40)
			run := func(prec Precision) precisionRun {
				ws, err := NewTrainingWorkspace(c, k, len(x))
				if err != nil {
					t.Fatal(err)
				}
				if err := ws.SetPrecision(prec); err != nil {
					t.Fatal(err)
				}
				ws.SetSpeaker(1)
				if err := ws.SetFeatures(feats, 17); err != nil {
					t.Fatal(err)
				}
				r := precisionRun{grad: m.NewGrad(), logits: make([]float32, c.QuantizationChannels*(len(x)-9))}
				if r.loss, err = ws.ForwardBackward(p, x, y, 9, 1/float32(len(x)-9), r.grad); err != nil {
					t.Fatal(err)
				}
				if _, err := ws.Logits(p, x, 9, r.logits); err != nil {
					t.Fatal(err)
				}
				return r
			}
			loss, grad, logits := precisionGap(run(PrecisionFP32), run(PrecisionBF16))
			t.Logf("bf16 vs fp32: loss %.2g, gradient %.2g, logits %.2g", loss, grad, logits)
			if loss == 0 || grad == 0 {
				t.Error("bf16 gave exactly the fp32 results")
			}
			if loss > bf16LossTol || grad > bf16GradTol || logits > bf16LogitTol {
				t.Errorf("bf16 too far from fp32: loss %.2g, gradient %.2g, logits %.2g", loss, grad, logits)
			}
		})
	}
}

// lcRun is one sequence of a locally conditioned batch.
type lcRun struct {
	x, y  []int32
	feats Matrix
	start int
}

// TestLocalConditionThreadsAndChunks checks that the results do not
// depend on how sequences are spread over workers: a batch of sequences
// of different utterances run one after another on one workspace (whose
// buffers then hold the previous sequence's values) and run each on a
// fresh workspace on its own goroutine give the same losses and, summed
// in sequence order, the same gradient, bit for bit, with every kernel
// set. It also checks that one utterance split into chunks the trainer's
// way (each with its own start sample and RF−1 inputs of context) sums
// to the whole's loss and gradient.
func TestLocalConditionThreadsAndChunks(t *testing.T) {
	c := lcConfig(true, false, true)
	forEachSet(t, func(t *testing.T, k kernels.Set) {
		m := lcRandomModel(t, c, 12)
		p := m.Packed()
		rng := rand.New(rand.NewPCG(9, 9))
		var runs []lcRun
		for i := 0; i < 5; i++ {
			n := 60 + 17*i
			x, y := randomWalk(rng, n, c.QuantizationChannels)
			f, _ := lcFeatures(rng, c, 3+4*i)
			runs = append(runs, lcRun{x, y, f, 5 * i})
		}
		one := func(ws *Workspace, r lcRun, grad []float32) float64 {
			if err := ws.SetFeatures(r.feats, r.start); err != nil {
				t.Fatal(err)
			}
			l, err := ws.ForwardBackward(p, r.x, r.y, 3, 1, grad)
			if err != nil {
				t.Fatal(err)
			}
			return l
		}
		ws, err := NewTrainingWorkspace(c, k, 200)
		if err != nil {
			t.Fatal(err)
		}
		serial := make([]float64, len(runs))
		serialGrads := make([][]float32, len(runs))
		for i, r := range runs {
			serialGrads[i] = m.NewGrad()
			serial[i] = one(ws, r, serialGrads[i])
		}
		par := make([]float64, len(runs))
		parGrads := make([][]float32, len(runs))
		var wg sync.WaitGroup
		for i, r := range runs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				w, err := NewTrainingWorkspace(c, k, len(r.x))
				if err != nil {
					t.Error(err)
					return
				}
				parGrads[i] = m.NewGrad()
				par[i] = one(w, r, parGrads[i])
			}()
		}
		wg.Wait()
		sum := func(gs [][]float32) []float32 {
			s := m.NewGrad()
			for _, g := range gs {
				for i, v := range g {
					s[i] += v
				}
			}
			return s
		}
		if !slices.Equal(serial, par) || !slices.Equal(sum(serialGrads), sum(parGrads)) {
			t.Fatalf("one workspace in turn and one per goroutine differ: losses %v and %v", serial, par)
		}

		// Chunks of one utterance.
		const N, s0, chunk = 150, 7, 31
		x, y := randomWalk(rng, N, c.QuantizationChannels)
		feats, _ := lcFeatures(rng, c, 20)
		const start = 11
		if err := ws.SetFeatures(feats, start); err != nil {
			t.Fatal(err)
		}
		whole := m.NewGrad()
		wantLoss, err := ws.ForwardBackward(p, x, y, s0, 1, whole)
		if err != nil {
			t.Fatal(err)
		}
		parts := m.NewGrad()
		var loss float64
		for s := s0; s < N; s += chunk {
			end := min(N, s+chunk)
			from := s - min(s, c.ReceptiveField()-1)
			if err := ws.SetFeatures(feats, start+from); err != nil {
				t.Fatal(err)
			}
			l, err := ws.ForwardBackward(p, x[from:end], y[from:end], s-from, 1, parts)
			if err != nil {
				t.Fatal(err)
			}
			loss += l
		}
		if math.Abs(loss-wantLoss) > 1e-5*wantLoss {
			t.Errorf("chunked loss %.7g, whole %.7g", loss, wantLoss)
		}
		var gmax float64
		for _, v := range whole {
			gmax = math.Max(gmax, math.Abs(float64(v)))
		}
		for _, tn := range m.Tensors() {
			for i := tn.Offset; i < tn.Offset+tn.Size; i++ {
				if d := math.Abs(float64(parts[i] - whole[i])); d > 1e-5*gmax {
					t.Fatalf("%s[%d]: chunked gradient %g, whole %g", tn.Name, i-tn.Offset, parts[i], whole[i])
				}
			}
		}
	})
}

// TestLocalConditionAlignment checks which input positions each frame
// conditions, at the start, in the middle and past the last frame, with
// and without snip-edges. The model's upsampling network is made the
// identity (conv_in and every stage a centred unit tap), so that cond(t)
// is exactly frame ⌊col(t)/H⌋ normalised; the features are zero except
// one frame, and the positions whose cond (and whose logits) change are
// listed. With H = 4, W = 10: snip-edges moves frames by (W−H)/2 = 3
// samples, so frame k conditions the positions that predict samples
// [4k+3, 4k+7), i.e. t = 4k+2−start … 4k+5−start; without, frame k
// conditions t = 4k−1−start … 4k+2−start. Positions before the first
// column read frame 0, and positions after the last the last frame.
func TestLocalConditionAlignment(t *testing.T) {
	const F, N = 5, 30             // 20 samples of frames
	span := func(a, b int) []int { // a..b−1
		var s []int
		for t := max(a, 0); t < min(b, N); t++ {
			s = append(s, t)
		}
		return s
	}
	cases := []struct {
		snip         bool
		frame, start int
		want         []int
	}{
		{true, 0, 0, span(0, 6)},    // the first frame also conditions the positions before its block
		{true, 2, 0, span(10, 14)},  // predicts samples 11..14, frame 2's [8, 18) window's middle
		{true, 2, 7, span(3, 7)},    // the same samples from a sequence starting at sample 7
		{true, 4, 0, span(18, N)},   // the last frame, and past it (clamped)
		{true, 4, 20, span(0, N)},   // a sequence after the frames: all the last frame's
		{false, 0, 0, span(0, 3)},   // predicts samples 1..3 (and t = −1 would predict 0)
		{false, 2, 0, span(7, 11)},  // predicts samples 8..11: frame 2's hop
		{false, 2, 5, span(2, 6)},   // from sample 5
		{false, 4, 0, span(15, N)},  // the last frame and past it
		{false, 1, 30, nil},         // a sequence after the frames reads only the last
		{false, 4, 100, span(0, N)}, // ... far after
	}
	for _, cs := range cases {
		c := tiny(2, true, InputOneHot, 1)
		c.LocalCondition = &LocalCondition{Channels: 2, Hop: 4, Window: 10, SnipEdges: cs.snip, Context: 1, UpsampleScales: []int{2, 2}}
		m := randomModel(t, c, 4)
		for _, tn := range m.Tensors() {
			switch {
			case tn.Name == "lc_conv_in.weight": // [C, C, 3]: the identity at the centre tap
				v := m.View(m.Params, tn.Name)
				clear(v)
				v[(0*2+0)*3+1], v[(1*2+1)*3+1] = 1, 1
			case strings.HasPrefix(tn.Name, "lc_upsample."):
				v := m.View(m.Params, tn.Name)
				clear(v)
				v[len(v)/2] = 1
			}
		}
		p := m.Packed()
		x := randomClasses(rand.New(rand.NewPCG(1, 2)), N, c.QuantizationChannels)
		ws, err := NewEvalWorkspace(c, kernels.Reference(), N)
		if err != nil {
			t.Fatal(err)
		}
		run := func(mark bool) ([][]float32, []float32) {
			f := Matrix{Rows: 2, Cols: F, Stride: F, Data: make([]float32, 2*F)}
			if mark {
				f.Data[cs.frame], f.Data[F+cs.frame] = 5, -3
			}
			if err := ws.SetFeatures(f, cs.start); err != nil {
				t.Fatal(err)
			}
			lg := make([]float32, c.QuantizationChannels*N)
			if _, err := ws.Logits(p, x, 0, lg); err != nil {
				t.Fatal(err)
			}
			cond := make([][]float32, N)
			for t := range cond {
				cond[t] = []float32{ws.lc.cond[t], ws.lc.cond[ws.ld+t]}
			}
			return cond, lg
		}
		base, baseLg := run(false)
		marked, markedLg := run(true)
		var got []int
		for i := range base {
			if !slices.Equal(base[i], marked[i]) {
				got = append(got, i)
				if marked[i][0] != 5 || marked[i][1] != -3 {
					t.Errorf("snip %v frame %d start %d: cond(%d) = %v, want the frame's [5 -3]", cs.snip, cs.frame, cs.start, i, marked[i])
				}
			}
		}
		if !slices.Equal(got, cs.want) {
			t.Errorf("snip %v frame %d start %d: positions %v conditioned, want %v", cs.snip, cs.frame, cs.start, got, cs.want)
		}
		// The logits change from the first conditioned position on, never before.
		first := N
		if len(cs.want) > 0 {
			first = cs.want[0]
		}
		Q := c.QuantizationChannels
		for q := 0; q < Q; q++ {
			for i := 0; i < N; i++ {
				if changed := baseLg[q*N+i] != markedLg[q*N+i]; changed && i < first {
					t.Fatalf("snip %v frame %d start %d: logit %d at %d changed before the first conditioned position %d", cs.snip, cs.frame, cs.start, q, i, first)
				}
			}
		}
	}
}

// TestLocalConditionSmoothingReach checks the default network's reach: the
// averaging stages spread a frame's influence by s samples per stage and
// conv_in by P frames, so one frame changes cond only within
// ((k−P)·H − reach, (k+1+P)·H + reach) of its aligned columns, where reach
// = Σ_j s_j·(H/(s_1⋯s_j)).
func TestLocalConditionSmoothingReach(t *testing.T) {
	c := lcConfig(true, false, false)
	lc := c.LocalCondition
	m := lcRandomModel(t, c, 3)
	p := m.Packed()
	const F, N, k = 9, 54, 4
	x := randomClasses(rand.New(rand.NewPCG(1, 2)), N, c.QuantizationChannels)
	ws, err := NewEvalWorkspace(c, kernels.Best(), N)
	if err != nil {
		t.Fatal(err)
	}
	condOf := func(mark bool) []float32 {
		f, _ := lcFeatures(rand.New(rand.NewPCG(3, 3)), c, F)
		if mark {
			f.Data[k] += 10
		}
		if err := ws.SetFeatures(f, 0); err != nil {
			t.Fatal(err)
		}
		if _, err := ws.Logits(p, x, 0, make([]float32, c.QuantizationChannels*N)); err != nil {
			t.Fatal(err)
		}
		return slices.Clone(ws.lc.cond[:N])
	}
	a, b := condOf(false), condOf(true)
	reach, rest := 0, lc.Hop
	for _, s := range lc.UpsampleScales {
		rest /= s
		reach += s * rest
	}
	lo, hi := (k-lc.Context)*lc.Hop-reach, (k+1+lc.Context)*lc.Hop+reach // columns, exclusive
	var changed int
	for i := range a {
		col := i + 1 // no snip-edges: col(t) = t+1
		if a[i] != b[i] {
			changed++
			if col < lo || col >= hi {
				t.Errorf("frame %d changed cond(%d) (column %d), outside [%d, %d)", k, i, col, lo, hi)
			}
		}
	}
	if changed == 0 {
		t.Error("the marked frame changed nothing")
	}
}

// TestLocalConditionUnconditionedUnchanged checks that a model without
// local conditioning lays out, initialises and runs as before: the same
// tensors and parameters as the config with the field absent, no
// "local_condition" key in its JSON, and features refused.
func TestLocalConditionUnconditionedUnchanged(t *testing.T) {
	c := tiny(2, true, InputOneHot, 1)
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), "local_condition") {
		t.Errorf("an unconditioned config's JSON names local_condition: %s", b)
	}
	lc := lcConfig(true, false, true)
	m, mlc := randomModel(t, c, 2), randomModel(t, lc, 2)
	if !slices.Equal(m.Params, mlc.Params[:len(m.Params)]) {
		t.Error("adding local conditioning changed the other parameters' initial values")
	}
	for i, tn := range m.Tensors() {
		if o := mlc.Tensors()[i]; o.Name != tn.Name || o.Offset != tn.Offset {
			t.Errorf("tensor %d: %s at %d, with local conditioning %s at %d", i, tn.Name, tn.Offset, o.Name, o.Offset)
		}
	}
	ws, err := NewEvalWorkspace(c, kernels.Reference(), 10)
	if err != nil {
		t.Fatal(err)
	}
	if err := ws.SetFeatures(Matrix{Rows: 3, Cols: 1, Stride: 1, Data: make([]float32, 3)}, 0); err == nil {
		t.Error("a model without local conditioning accepted features")
	}
}

// TestLocalConditionLayout checks the local-conditioning tensors' names,
// shapes and order (after the speaker's) and their initial values.
func TestLocalConditionLayout(t *testing.T) {
	c := lcConfig(true, true, true)
	m, err := NewRandom(c, 1)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, tn := range m.Tensors() {
		if strings.HasPrefix(tn.Name, "lc_") || strings.HasPrefix(tn.Name, "gc_") || strings.Contains(tn.Name, "_lc.") || strings.Contains(tn.Name, "_gc.") {
			names = append(names, fmt.Sprintf("%s%v", tn.Name, tn.Shape))
		}
	}
	want := []string{"gc_embedding.weight[4 3]",
		"filter_gate_gc.0.weight[8 3 1]", "filter_gate_gc.1.weight[8 3 1]", "filter_gate_gc.2.weight[8 3 1]", "filter_gate_gc.3.weight[8 3 1]",
		"lc_conv_in.weight[3 3 3]", "lc_upsample.0.weight[1 1 1 5]", "lc_upsample.1.weight[1 1 1 7]",
		"filter_gate_lc.0.weight[8 3 1]", "filter_gate_lc.1.weight[8 3 1]", "filter_gate_lc.2.weight[8 3 1]", "filter_gate_lc.3.weight[8 3 1]"}
	if !slices.Equal(names, want) {
		t.Errorf("tensors\n%v\nwant\n%v", names, want)
	}
	last := m.Tensors()[len(m.Tensors())-1]
	if last.Offset+last.Size != m.NumParams() || last.Name != "filter_gate_lc.3.weight" {
		t.Errorf("the last tensor is %s", last.Name)
	}
	for j, want := range []float32{1.0 / 5, 1.0 / 7} {
		for _, v := range m.View(m.Params, fmt.Sprintf("lc_upsample.%d.weight", j)) {
			if v != want {
				t.Errorf("lc_upsample.%d starts at %g, want %g", j, v, want)
			}
		}
	}
	for name, fanIn := range map[string]int{"lc_conv_in.weight": 9, "filter_gate_lc.2.weight": 3} {
		v := m.View(m.Params, name)
		bound := float32(1 / math.Sqrt(float64(fanIn)))
		var big float32
		for _, x := range v {
			big = max(big, float32(math.Abs(float64(x))))
		}
		if big > bound || big < bound/2 {
			t.Errorf("%s: largest |w| %g, want uniform on ±%g", name, big, bound)
		}
	}
}

// TestLocalConditionValidate checks the config's checks and its JSON form.
func TestLocalConditionValidate(t *testing.T) {
	good := lcConfig(true, false, true)
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
	for name, change := range map[string]func(l *LocalCondition){
		"channels 0":          func(l *LocalCondition) { l.Channels = 0 },
		"hop 0":               func(l *LocalCondition) { l.Hop = 0 },
		"window 0":            func(l *LocalCondition) { l.Window = 0 },
		"context -1":          func(l *LocalCondition) { l.Context = -1 },
		"scales product":      func(l *LocalCondition) { l.UpsampleScales = []int{2, 2} },
		"scale 0":             func(l *LocalCondition) { l.UpsampleScales = []int{0, 6} },
		"no scales":           func(l *LocalCondition) { l.UpsampleScales = nil },
		"mean length":         func(l *LocalCondition) { l.Mean = l.Mean[:2] },
		"std length":          func(l *LocalCondition) { l.Std = append(l.Std, 1) },
		"std 0":               func(l *LocalCondition) { l.Std[1] = 0 },
		"std negative":        func(l *LocalCondition) { l.Std[1] = -1 },
		"mean NaN":            func(l *LocalCondition) { l.Mean[0] = math.NaN() },
		"std Inf":             func(l *LocalCondition) { l.Std[2] = math.Inf(1) },
		"mean beyond float32": func(l *LocalCondition) { l.Mean[0] = 1e39 },
	} {
		c := good
		c.LocalCondition = good.LocalCondition.Clone()
		change(c.LocalCondition)
		if err := c.Validate(); err == nil {
			t.Errorf("%s: accepted", name)
		} else if !strings.Contains(err.Error(), "local_condition") {
			t.Errorf("%s: %v does not name local_condition", name, err)
		}
	}
	noStats := good
	noStats.LocalCondition = &LocalCondition{Channels: 2, Hop: 4, Window: 4, UpsampleScales: []int{4}}
	if err := noStats.Validate(); err != nil {
		t.Errorf("without mean and std: %v", err)
	}
	b, err := json.Marshal(good)
	if err != nil {
		t.Fatal(err)
	}
	f, err := ParseConfig(b)
	if err != nil {
		t.Fatal(err)
	}
	if !f.Model.Equal(good) {
		t.Errorf("JSON round trip: %s gave %+v", b, f.Model.LocalCondition)
	}
	if !strings.Contains(string(b), `"local_condition":{"channels":3,"hop":6,"window":10,"snip_edges":true,"context":1,"upsample_scales":[2,3],"mean":[0.5,-1,2],"std":[2,0.5,1.5]}`) {
		t.Errorf("JSON form: %s", b)
	}
	if _, err := ParseConfig([]byte(strings.Replace(string(b), `"hop"`, `"hops"`, 1))); err == nil {
		t.Error("a misspelt local_condition key was accepted")
	}
}

// TestLocalConditionRejects checks the features' checks.
func TestLocalConditionRejects(t *testing.T) {
	c := lcConfig(true, false, true)
	ws, err := NewEvalWorkspace(c, kernels.Reference(), 10)
	if err != nil {
		t.Fatal(err)
	}
	good := Matrix{Rows: 3, Cols: 2, Stride: 2, Data: make([]float32, 6)}
	nan := Matrix{Rows: 3, Cols: 2, Stride: 2, Data: []float32{0, 0, 0, float32(math.NaN()), 0, 0}}
	for name, f := range map[string]func() error{
		"channels":   func() error { return ws.SetFeatures(Matrix{Rows: 2, Cols: 2, Stride: 2, Data: make([]float32, 4)}, 0) },
		"no frames":  func() error { return ws.SetFeatures(Matrix{Rows: 3, Stride: 1, Data: make([]float32, 3)}, 0) },
		"short data": func() error { return ws.SetFeatures(Matrix{Rows: 3, Cols: 2, Stride: 2, Data: make([]float32, 5)}, 0) },
		"start":      func() error { return ws.SetFeatures(good, -1) },
		"NaN":        func() error { return ws.SetFeatures(nan, 0) },
	} {
		if err := f(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if err := ws.SetFeatures(good, 3); err != nil {
		t.Fatal(err)
	}
	x := make([]int32, 10)
	if _, err := ws.Logits(zeroModel(t, c).Packed(), x, 0, make([]float32, 16*10)); err != nil {
		t.Fatal(err)
	}
	ws.ClearFeatures()
	if _, err := ws.Logits(zeroModel(t, c).Packed(), x, 0, make([]float32, 16*10)); err == nil {
		t.Error("a call after ClearFeatures ran")
	}
}

// zeroModel is a model of c with every parameter zero.
func zeroModel(t testing.TB, c Config) *Model {
	m, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestLocalConditionWorkspaces checks, for a locally conditioned model
// with every kernel set, that an evaluation workspace computes what a
// training one does (the loss bit for bit), that the lower layers alone
// (Activations) run, that a call computes each conditioning column as the
// whole utterance's network does, bit for bit, whatever part of the
// utterance it covers (a later start, a later first scored position),
// and that no call allocates.
func TestLocalConditionWorkspaces(t *testing.T) {
	c := lcConfig(true, true, false)
	m := lcRandomModel(t, c, 8)
	p := m.Packed()
	rng := rand.New(rand.NewPCG(1, 2))
	x, y := randomWalk(rng, 600, c.QuantizationChannels)
	feats, _ := lcFeatures(rng, c, 90)
	grad := m.NewGrad()
	logits := make([]float32, c.QuantizationChannels*len(x))
	forEachSet(t, func(t *testing.T, k kernels.Set) {
		tw, _ := NewTrainingWorkspace(c, k, 700)
		ew, _ := NewEvalWorkspace(c, k, 700)
		for _, w := range []*Workspace{tw, ew} {
			w.SetSpeaker(3)
			if err := w.SetFeatures(feats, 0); err != nil {
				t.Fatal(err)
			}
		}
		for _, from := range []int{0, 5, 300} {
			fb, err := tw.ForwardBackward(p, x, y, from, 1, m.NewGrad())
			if err != nil {
				t.Fatal(err)
			}
			tl, _ := tw.Loss(p, x, y, from)
			el, _ := ew.Loss(p, x, y, from)
			if tl != fb || el != fb {
				t.Errorf("from %d: ForwardBackward %v, training Loss %v, eval Loss %v", from, fb, tl, el)
			}
		}
		if _, err := ew.Activations(p, x, 100, ActivationOptions{Layers: 2}); err != nil {
			t.Fatal(err)
		}
		// The whole utterance's conditioning, then parts of it.
		if _, err := ew.Logits(p, x, 0, logits); err != nil {
			t.Fatal(err)
		}
		whole := slices.Clone(ew.lc.cond)
		C := c.LocalCondition.Channels
		for _, part := range []struct{ start, from int }{{37, 0}, {37, 200}, {0, 450}, {250, 10}} {
			if err := ew.SetFeatures(feats, part.start); err != nil {
				t.Fatal(err)
			}
			n := len(x) - part.start
			if _, err := ew.Logits(p, x[part.start:], part.from, logits); err != nil {
				t.Fatal(err)
			}
			for ch := 0; ch < C; ch++ {
				got := ew.lc.cond[ch*ew.ld+part.from : ch*ew.ld+n]
				want := whole[ch*ew.ld+part.start+part.from : ch*ew.ld+len(x)]
				if !slices.Equal(got, want) {
					t.Fatalf("start %d from %d: channel %d's conditioning differs from the whole utterance's", part.start, part.from, ch)
				}
			}
		}
		for name, f := range map[string]func(){
			"ForwardBackward": func() { tw.ForwardBackward(p, x, y, 20, 1, grad) },
			"Loss":            func() { ew.Loss(p, x, y, 20) },
			"Logits":          func() { ew.Logits(p, x, 0, logits) },
			"Activations":     func() { ew.Activations(p, x, 100, ActivationOptions{SkipSum: true}) },
			"SetFeatures":     func() { ew.SetFeatures(feats, 3) },
		} {
			if a := testing.AllocsPerRun(3, f); a != 0 {
				t.Errorf("%s allocates %v times per call", name, a)
			}
		}
	})
}

// TestLocalConditionVariants checks that a variant overriding the
// conditioning changes only itself: the base model and the other
// variants keep theirs.
func TestLocalConditionVariants(t *testing.T) {
	f, err := ParseConfig([]byte(`{"model": {"quantization_channels": 16, "input_encoding": "onehot",
		"input_kernel_size": 1, "residual_channels": 4, "dilation_channels": 4, "skip_channels": 8,
		"end_channels": 8, "kernel_size": 2, "dilations": [1, 2], "bias": true, "residual_on_last_layer": false,
		"global_condition": {"channels": 2, "cardinality": 3},
		"local_condition": {"channels": 2, "hop": 4, "window": 8, "snip_edges": true, "context": 1,
			"upsample_scales": [2, 2], "mean": [1, 2], "std": [3, 4]}},
		"variants": {"other": {"global_condition": {"channels": 5, "cardinality": 3},
			"local_condition": {"channels": 2, "hop": 4, "window": 8, "snip_edges": false, "context": 1,
			"upsample_scales": [4], "mean": [7, 8]}}, "same": {"skip_channels": 16}}}`))
	if err != nil {
		t.Fatal(err)
	}
	base := f.Model
	if base.GlobalCondition.Channels != 2 || !slices.Equal(base.LocalCondition.Mean, []float64{1, 2}) ||
		!slices.Equal(base.LocalCondition.UpsampleScales, []int{2, 2}) || !base.LocalCondition.SnipEdges {
		t.Errorf("the base model changed: %+v %+v", base.GlobalCondition, base.LocalCondition)
	}
	same, _ := f.Variant("same")
	other, _ := f.Variant("other")
	if !same.LocalCondition.Equal(base.LocalCondition) || *same.GlobalCondition != *base.GlobalCondition {
		t.Errorf("variant same: %+v", same.LocalCondition)
	}
	if other.GlobalCondition.Channels != 5 || !slices.Equal(other.LocalCondition.Mean, []float64{7, 8}) ||
		!slices.Equal(other.LocalCondition.Std, []float64{3, 4}) || other.LocalCondition.SnipEdges {
		t.Errorf("variant other: %+v %+v", other.GlobalCondition, other.LocalCondition)
	}
}

// TestLocalConditionFewFrames checks utterances of one and two frames,
// where conv_in's replicate padding reaches past both ends and every
// stage's zero padding meets both ends, against the reference.
func TestLocalConditionFewFrames(t *testing.T) {
	c := lcConfig(true, false, true)
	c.LocalCondition.Context = 2
	m := lcRandomModel(t, c, 17)
	p := m.Packed()
	rng := rand.New(rand.NewPCG(7, 7))
	x, _ := randomWalk(rng, 19, c.QuantizationChannels)
	for _, F := range []int{1, 2} {
		feats, fref := lcFeatures(rng, c, F)
		for _, start := range []int{0, 4} {
			ref := newRefNet(m)
			ref.feats, ref.start = fref, start
			want := ref.forward(x).logits
			forEachSet(t, func(t *testing.T, k kernels.Set) {
				ws, err := NewEvalWorkspace(c, k, len(x))
				if err != nil {
					t.Fatal(err)
				}
				if err := ws.SetFeatures(feats, start); err != nil {
					t.Fatal(err)
				}
				lg, err := ws.Logits(p, x, 0, make([]float32, c.QuantizationChannels*len(x)))
				if err != nil {
					t.Fatal(err)
				}
				for q := 0; q < lg.Rows; q++ {
					for j := 0; j < lg.Cols; j++ {
						if d := math.Abs(float64(lg.At(q, j)) - want[j][q]); d > 1e-5 {
							t.Fatalf("%d frames, start %d: logit[%d] at %d = %g, reference %g", F, start, q, j, lg.At(q, j), want[j][q])
						}
					}
				}
			})
		}
	}
}

// The upsampling network computes every column as the same sum in the
// same order whatever range of positions a call covers, bit for bit, with
// every kernel set: the whole sequence's forward against calls over
// sub-ranges (the generator's spans, the trainer's chunks), including
// ranges that start and end at odd columns and past the last frame. The
// generator's and the workspace's conditioning agree because of this.
func TestLocalConditionForwardRanges(t *testing.T) {
	for _, snip := range []bool{true, false} {
		c := lcConfig(true, false, snip)
		m := lcRandomModel(t, c, 5)
		p := m.Packed()
		f, _ := lcFeatures(rand.New(rand.NewPCG(4, 4)), c, 11)
		const N = 11*8 + 40 // past the last frame's samples
		forEachSet(t, func(t *testing.T, k kernels.Set) {
			C := c.LocalCondition.Channels
			whole := newLCWork(c.LocalCondition, 0, N, false)
			if err := whole.set(f, 3); err != nil {
				t.Fatal(err)
			}
			want := make([]float32, C*N)
			whole.forward(k, p, 0, N, want, N)
			for _, r := range [][2]int{{0, 1}, {5, 6}, {7, 40}, {13, 77}, {64, N}, {N - 1, N}} {
				part := newLCWork(c.LocalCondition, 0, r[1]-r[0], false)
				if err := part.set(f, 3); err != nil {
					t.Fatal(err)
				}
				got := make([]float32, C*(r[1]-r[0]))
				part.forward(k, p, r[0], r[1], got, r[1]-r[0])
				for ch := 0; ch < C; ch++ {
					for i, v := range got[ch*(r[1]-r[0]) : (ch+1)*(r[1]-r[0])] {
						if w := want[ch*N+r[0]+i]; math.Float32bits(v) != math.Float32bits(w) {
							t.Fatalf("snip %v positions %v: channel %d position %d: %g, the whole's %g", snip, r, ch, r[0]+i, v, w)
						}
					}
				}
			}
		})
	}
}
