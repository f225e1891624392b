package causalconv

import (
	"math"
	"testing"

	"github.com/nextsample/nextsample/causalconv/kernels"
)

// lcGolden is testdata/lc_small.json, written by testdata/gen_lc.py from
// the PyTorch module of testdata/wavenet_lc.py (random weights): each
// file's μ-law classes and Kaldi fbank features (stored, so the test does
// not depend on our fbank), PyTorch's summed cross-entropy, a crop scored
// from a start inside its file, and logits around the alignment's edges.
type lcGolden struct {
	Files []struct {
		Path     string
		Samples  int
		Nats     float64
		Classes  []int32
		Features [][]float32 // frames × channels
	}
	BitsPerSample       float64 `json:"bits_per_sample"`
	BitsWithoutFeatures float64 `json:"bits_without_features"`
	Crop                struct {
		File, Start, Length int
		Nats                float64
	}
	Probe struct {
		File, Start int
		Positions   []int
		Logits      [][]float32
		Tolerance   float64
	}
}

// featureMatrix turns frames × channels into the channels × frames matrix
// SetFeatures takes.
func featureMatrix(frames [][]float32) Matrix {
	C, F := len(frames[0]), len(frames)
	m := Matrix{Rows: C, Cols: F, Stride: F, Data: make([]float32, C*F)}
	for k, fr := range frames {
		for c, v := range fr {
			m.Data[c*F+k] = v
		}
	}
	return m
}

// A locally conditioned model built by PyTorch (testdata/wavenet_lc.py,
// random weights) scores the bundled FSDD files given their features to
// within 1e-4 bits/sample of PyTorch's NLL, a crop that starts inside its
// file to within 1e-4 bits/sample of PyTorch's for the same start, and
// reproduces PyTorch's logits at positions around the alignment's edges
// (where a one-sample slip changes them by more than 1).
func TestLocalConditionGoldenFromPyTorch(t *testing.T) {
	m, g := lcGoldenFixture(t)
	if m.Config.LocalCondition == nil {
		t.Fatal("the golden model is not locally conditioned")
	}
	p := m.Packed()
	for _, k := range []kernels.Set{kernels.Best(), kernels.Generic()} {
		var nats float64
		var n int
		for _, gf := range g.Files {
			cl := gf.Classes
			ws, err := NewEvalWorkspace(m.Config, k, len(cl))
			if err != nil {
				t.Fatal(err)
			}
			if err := ws.SetFeatures(featureMatrix(gf.Features), 0); err != nil {
				t.Fatal(err)
			}
			l, err := ws.Loss(p, cl[:len(cl)-1], cl[1:], 0)
			if err != nil {
				t.Fatal(err)
			}
			if len(cl)-1 != gf.Samples || math.Abs(l-gf.Nats)/float64(gf.Samples)/math.Ln2 > 1e-4 {
				t.Errorf("%s: %s: %d samples, %.4f nats; PyTorch %d, %.4f", k.Name, gf.Path, len(cl)-1, l, gf.Samples, gf.Nats)
			}
			nats += l
			n += len(cl) - 1
		}
		bits := nats / float64(n) / math.Ln2
		t.Logf("%s: %.6f bits/sample, PyTorch %.6f (without features %.6f)", k.Name, bits, g.BitsPerSample, g.BitsWithoutFeatures)
		if math.Abs(bits-g.BitsPerSample) > 1e-4 {
			t.Errorf("%s: %.6f bits/sample, PyTorch %.6f", k.Name, bits, g.BitsPerSample)
		}

		// The crop: classes[start : start+length+1] with the whole file's
		// features and the crop's start.
		gf := g.Files[g.Crop.File]
		cl := gf.Classes[g.Crop.Start : g.Crop.Start+g.Crop.Length+1]
		ws, _ := NewEvalWorkspace(m.Config, k, len(cl))
		if err := ws.SetFeatures(featureMatrix(gf.Features), g.Crop.Start); err != nil {
			t.Fatal(err)
		}
		l, err := ws.Loss(p, cl[:len(cl)-1], cl[1:], 0)
		if err != nil {
			t.Fatal(err)
		}
		if math.Abs(l-g.Crop.Nats)/float64(g.Crop.Length)/math.Ln2 > 1e-4 {
			t.Errorf("%s: crop at %d: %.4f nats, PyTorch %.4f", k.Name, g.Crop.Start, l, g.Crop.Nats)
		}

		// The logits around the alignment's edges.
		pf := g.Files[g.Probe.File]
		cl = pf.Classes[g.Probe.Start:]
		x := cl[:len(cl)-1]
		q := m.Config.QuantizationChannels
		ws, _ = NewEvalWorkspace(m.Config, k, len(x))
		if err := ws.SetFeatures(featureMatrix(pf.Features), g.Probe.Start); err != nil {
			t.Fatal(err)
		}
		logits := make([]float32, q*len(x))
		lm, err := ws.Logits(p, x, 0, logits)
		if err != nil {
			t.Fatal(err)
		}
		worst := 0.0
		for i, pos := range g.Probe.Positions {
			for c := 0; c < q; c++ {
				worst = math.Max(worst, math.Abs(float64(lm.At(c, pos)-g.Probe.Logits[i][c])))
			}
		}
		if worst > g.Probe.Tolerance {
			t.Errorf("%s: logits at the alignment's edges differ from PyTorch's by up to %.3g (tolerance %g)", k.Name, worst, g.Probe.Tolerance)
		}
	}
}
