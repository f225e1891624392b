package probe

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nextsample/nextsample/audio/featio"
)

// synthetic returns n examples of dims values in k overlapping Gaussian
// classes (so the L2 solution is finite and well away from zero).
func synthetic(seed uint64, n, k, dims int) ([]float64, []int) {
	rng := rand.New(rand.NewPCG(seed, 1))
	centres := make([]float64, k*dims)
	for i := range centres {
		centres[i] = rng.NormFloat64()
	}
	x := make([]float64, n*dims)
	y := make([]int, n)
	for i := range y {
		y[i] = i % k
		for j := range dims {
			x[i*dims+j] = centres[y[i]*dims+j] + 1.5*rng.NormFloat64()
		}
	}
	return x, y
}

func TestGradientFiniteDifferences(t *testing.T) {
	const k, dims, n = 4, 5, 30
	x, y := synthetic(1, n, k, dims)
	obj := newObjective(x, y, k, dims, 0.7)
	rng := rand.New(rand.NewPCG(2, 2))
	p := make([]float64, k*dims+k)
	for i := range p {
		p[i] = rng.NormFloat64()
	}
	obj.eval(p)
	grad := append([]float64(nil), obj.grad...)
	const h = 1e-6
	for i := range p {
		q := append([]float64(nil), p...)
		q[i] = p[i] + h
		fp := obj.eval(q)
		q[i] = p[i] - h
		fm := obj.eval(q)
		num := (fp - fm) / (2 * h)
		if d := math.Abs(num - grad[i]); d > 1e-6*math.Max(1, math.Abs(num)) {
			t.Errorf("parameter %d: analytic %.9g, central difference %.9g", i, grad[i], num)
		}
	}
	// The cache must not return a stale value for a different point.
	if a, b := obj.eval(p), newObjective(x, y, k, dims, 0.7).eval(p); a != b {
		t.Errorf("cached value %v, fresh %v", a, b)
	}
}

// referenceFit minimises the same objective by plain gradient descent with
// a fixed small step, in float64, until the gradient vanishes: slow, but
// independent of gonum's L-BFGS and line searches.
func referenceFit(x []float64, y []int, k, dims int, c float64) []float64 {
	obj := newObjective(x, y, k, dims, c)
	p := make([]float64, k*dims+k)
	// The Hessian of the loss is bounded by 1 + c·n·(max‖x‖²+1)/2.
	var maxNorm float64
	for i := range y {
		var s float64
		for _, v := range x[i*dims : (i+1)*dims] {
			s += v * v
		}
		maxNorm = math.Max(maxNorm, s)
	}
	step := 1 / (1 + c*float64(len(y))*(maxNorm+1)/2)
	for range 2_000_000 {
		obj.eval(p)
		if infNorm(obj.grad) < 1e-9 {
			break
		}
		for i, g := range obj.grad {
			p[i] -= step * g
		}
	}
	return p
}

func TestFitMatchesGradientDescent(t *testing.T) {
	const k, dims, n = 3, 4, 60
	x, y := synthetic(3, n, k, dims)
	for _, c := range []float64{1, 0.05} {
		want := referenceFit(x, y, k, dims, c)
		clf, err := FitLogistic(context.Background(), x, y, k, dims, FitOptions{C: c})
		if err != nil {
			t.Fatal(err)
		}
		got := append(append([]float64(nil), clf.W...), clf.B...)
		var worst float64
		for i := range want {
			worst = math.Max(worst, math.Abs(got[i]-want[i]))
		}
		t.Logf("C=%v: max |L-BFGS − gradient descent| = %.2g over %d parameters", c, worst, len(want))
		if worst > 1e-5 {
			t.Errorf("C=%v: parameters differ by %.3g:\n got %.6f\nwant %.6f", c, worst, got, want)
		}
	}
}

// On a separable problem the penalty keeps the weights finite and the
// training points are all classified right.
func TestFitSeparable(t *testing.T) {
	x := []float64{-2, 0, -1, 0.5, 1, -0.5, 2, 0, 0, 3, 0.2, 2.5}
	y := []int{0, 0, 1, 1, 2, 2}
	clf, err := FitLogistic(context.Background(), x, y, 3, 2, FitOptions{C: 1})
	if err != nil {
		t.Fatal(err)
	}
	for i := range y {
		if got := clf.Predict(x[2*i : 2*i+2]); got != y[i] {
			t.Errorf("example %d: predicted %d, want %d", i, got, y[i])
		}
	}
	for _, w := range append(clf.W, clf.B...) {
		if math.IsNaN(w) || math.Abs(w) > 100 {
			t.Fatalf("weights %v", clf.W)
		}
	}
}

func TestFitErrorsAndCancel(t *testing.T) {
	ctx := context.Background()
	if _, err := FitLogistic(ctx, nil, nil, 2, 1, FitOptions{C: 1}); err == nil {
		t.Error("no examples accepted")
	}
	if _, err := FitLogistic(ctx, []float64{1, 2}, []int{0, 2}, 2, 1, FitOptions{C: 1}); err == nil {
		t.Error("class out of range accepted")
	}
	if _, err := FitLogistic(ctx, []float64{1, 2}, []int{0, 1}, 2, 1, FitOptions{C: 0}); err == nil {
		t.Error("C = 0 accepted")
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	x, y := synthetic(4, 40, 3, 3)
	if _, err := FitLogistic(cancelled, x, y, 3, 3, FitOptions{C: 1}); err == nil {
		t.Error("cancelled context ignored")
	}
}

func TestPoolMeanStd(t *testing.T) {
	m := featio.Matrix{Rows: 3, Cols: 2, Data: []float32{1, 10, 2, 10, 6, 10}}
	v, err := PoolMeanStd(m)
	if err != nil {
		t.Fatal(err)
	}
	want := []float64{3, 10, math.Sqrt((4 + 1 + 9) / 3.0), 0}
	for i := range want {
		if math.Abs(v[i]-want[i]) > 1e-12 {
			t.Fatalf("pooled %v, want %v", v, want)
		}
	}
	if _, err := PoolMeanStd(featio.Matrix{Cols: 2}); err == nil {
		t.Error("empty matrix pooled")
	}
	if _, err := PoolMeanStd(featio.Matrix{Rows: 1, Cols: 1, Data: []float32{float32(math.Inf(1))}}); err == nil {
		t.Error("infinite features pooled")
	}
}

func TestStandardiserUsesTrainingRowsOnly(t *testing.T) {
	x := []float64{1, 5, 3, 5, 1000, -7}
	mean, std := standardiser(x, 2, []int{0, 1})
	if mean[0] != 2 || std[0] != 1 || mean[1] != 5 || std[1] != 1 {
		t.Errorf("mean %v std %v (row 2 is test data and must not count; constant dim gets std 1)", mean, std)
	}
}

func TestUtteranceKey(t *testing.T) {
	for in, want := range map[string]string{
		"recordings/0_george_0.wav": "recordings/0_george_0",
		"./a/b/../c.WAV":            "a/c",
		"x.y.wav":                   "x.y",
		"noext":                     "noext",
	} {
		if got, err := UtteranceKey(in); err != nil || got != want {
			t.Errorf("UtteranceKey(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "/abs/a.wav", "../up.wav"} {
		if _, err := UtteranceKey(bad); err == nil {
			t.Errorf("UtteranceKey(%q) accepted", bad)
		}
	}
}

// makeCorpus writes a manifest and npy features for a synthetic corpus of
// speakers × digits × reps: frames whose mean depends on the digit (and a
// little on the speaker), so the probe can learn the digit.
func makeCorpus(t *testing.T, speakers []string, digits, reps int) (manifest, features string) {
	t.Helper()
	root := t.TempDir()
	rng := rand.New(rand.NewPCG(9, 9))
	const dims = 3
	centres := make([]float64, digits*dims)
	for i := range centres {
		centres[i] = 2 * rng.NormFloat64()
	}
	w, err := featio.NewWriter(filepath.Join(root, "feats"), featio.Options{
		Format:  featio.FormatNpy,
		Sidecar: featio.Sidecar{Kind: featio.KindFbank, SampleRate: 8000, WindowSamples: 200, HopSamples: 80, SnipEdges: true},
	})
	if err != nil {
		t.Fatal(err)
	}
	var csv strings.Builder
	csv.WriteString("path,speaker,label,split\n")
	for s, spk := range speakers {
		for d := range digits {
			for r := range reps {
				rel := fmt.Sprintf("recordings/%d_%s_%d.wav", d, spk, r)
				split := "train"
				if r%3 == 0 {
					split = "test"
				}
				fmt.Fprintf(&csv, "%s,%s,%d,%s\n", rel, spk, d, split)
				m := featio.NewMatrix(5+r, dims)
				for i := range m.Data {
					m.Data[i] = float32(centres[d*dims+i%dims] + 0.3*float64(s) + rng.NormFloat64())
				}
				if err := w.Write(strings.TrimSuffix(rel, ".wav"), rel, m); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	manifest = filepath.Join(root, "manifest.csv")
	if err := os.WriteFile(manifest, []byte(csv.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return manifest, filepath.Join(root, "feats")
}

func TestRunProtocols(t *testing.T) {
	speakers := []string{"ann", "bob", "cy"}
	manifest, feats := makeCorpus(t, speakers, 4, 6)
	ctx := context.Background()

	split, err := Run(ctx, Options{Features: []string{feats}, Manifest: manifest, Label: "label", Protocol: ProtocolSplit})
	if err != nil {
		t.Fatal(err)
	}
	if len(split.Folds) != 1 || split.Folds[0].N != 24 || split.Folds[0].Train != 48 || split.Utterances != 72 ||
		split.FeatureDims != 3 || len(split.Classes) != 4 || split.Kind != featio.KindFbank {
		t.Errorf("split result %+v", split)
	}
	if split.Accuracy < 0.9 {
		t.Errorf("split accuracy %.3f on an easy problem", split.Accuracy)
	}
	// The confusion matrix holds every test utterance, its diagonal the correct ones.
	total, diag := 0, 0
	for want, row := range split.Folds[0].Confusion {
		for got, n := range row {
			total += n
			if got == want {
				diag += n
			}
		}
	}
	if total != split.Folds[0].N || diag != split.Folds[0].Correct {
		t.Errorf("confusion matrix holds %d utterances, %d on its diagonal; want %d and %d", total, diag, split.Folds[0].N, split.Folds[0].Correct)
	}

	loso, err := Run(ctx, Options{Features: []string{feats}, Manifest: manifest, Label: "label", Protocol: ProtocolLOSO, Workers: 2})
	if err != nil {
		t.Fatal(err)
	}
	if len(loso.Folds) != 3 {
		t.Fatalf("%d folds", len(loso.Folds))
	}
	var sum float64
	for i, f := range loso.Folds {
		if f.Speaker != speakers[i] || f.N != 24 || f.Train != 48 || f.Correct > f.N {
			t.Errorf("fold %d: %+v", i, f)
		}
		sum += f.Accuracy
	}
	if math.Abs(loso.Accuracy-sum/3) > 1e-15 {
		t.Errorf("mean accuracy %v, folds average %v", loso.Accuracy, sum/3)
	}

	// Deterministic, whatever the number of workers.
	again, _ := Run(ctx, Options{Features: []string{feats}, Manifest: manifest, Label: "label", Protocol: ProtocolLOSO, Workers: 1})
	a, _ := json.Marshal(loso)
	b, _ := json.Marshal(again)
	if string(a) != string(b) {
		t.Errorf("two runs differ:\n%s\n%s", a, b)
	}

	// Predicting the speaker from the split works too (any column).
	if _, err := Run(ctx, Options{Features: []string{feats}, Manifest: manifest, Label: "speaker", Protocol: ProtocolSplit}); err != nil {
		t.Error(err)
	}
}

func TestRunErrors(t *testing.T) {
	manifest, feats := makeCorpus(t, []string{"ann", "bob"}, 2, 3)
	ctx := context.Background()
	base := Options{Features: []string{feats}, Manifest: manifest, Label: "label", Protocol: ProtocolSplit}

	for name, mutate := range map[string]func(*Options){
		"protocol":     func(o *Options) { o.Protocol = "kfold" },
		"label column": func(o *Options) { o.Label = "digit" },
		"no features":  func(o *Options) { o.Features = nil },
		"bad folder":   func(o *Options) { o.Features = []string{t.TempDir()} },
		"same twice":   func(o *Options) { o.Features = []string{feats, feats} },
	} {
		o := base
		mutate(&o)
		if _, err := Run(ctx, o); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}

	// A manifest row without features names the utterance.
	extra := filepath.Join(filepath.Dir(manifest), "extra.csv")
	b, _ := os.ReadFile(manifest)
	os.WriteFile(extra, append(b, "recordings/9_zed_0.wav,zed,9,test\n"...), 0o644)
	o := base
	o.Manifest = extra
	if _, err := Run(ctx, o); err == nil || !strings.Contains(err.Error(), "recordings/9_zed_0") {
		t.Errorf("missing features: %v", err)
	}
	// Duplicate rows and empty labels.
	dup := filepath.Join(filepath.Dir(manifest), "dup.csv")
	os.WriteFile(dup, []byte("path,speaker,label,split\na.wav,x,1,train\n./a.wav,x,1,test\n"), 0o644)
	if _, err := ReadManifest(dup, "label", "split"); err == nil {
		t.Error("duplicate utterance accepted")
	}
	empty := filepath.Join(filepath.Dir(manifest), "empty.csv")
	os.WriteFile(empty, []byte("path,speaker,label,split\na.wav,x,,train\n"), 0o644)
	if _, err := ReadManifest(empty, "label", "split"); err == nil {
		t.Error("empty label accepted")
	}
}

// BenchmarkFitLogistic times one fit of the size of an FSDD fbank probe:
// 2000 utterances, 46 pooled dims, 10 classes.
func BenchmarkFitLogistic(b *testing.B) {
	x, y := synthetic(6, 2000, 10, 46)
	for b.Loop() {
		if _, err := FitLogistic(context.Background(), x, y, 10, 46, FitOptions{C: 1}); err != nil {
			b.Fatal(err)
		}
	}
}
