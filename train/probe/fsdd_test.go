package probe

import (
	"context"
	"encoding/csv"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/nextsample/nextsample/audio"
	"github.com/nextsample/nextsample/audio/featio"
	"github.com/nextsample/nextsample/audio/kaldifeat"
)

// TestBundledFSDDFbank runs the whole baseline path on the 300 bundled
// FSDD recordings: decode, Kaldi fbank, npy folder, probe. scikit-learn
// 1.2 (StandardScaler + LogisticRegression(C=1), to convergence) on the
// same pooled features gives 87.00% (split) and 56.00% (loso, folds
// 51.67 76.67 33.33 55.00 63.33); a small tolerance allows for a
// borderline utterance flipping on another CPU's rounding.
func TestBundledFSDDFbank(t *testing.T) {
	manifest := filepath.Join("..", "..", "samples", "fsdd", "manifest.csv")
	f, err := os.Open(manifest)
	if err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(f).ReadAll()
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	cfg := kaldifeat.DefaultFbank(8000)
	ex, err := kaldifeat.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "fbank")
	w, err := featio.NewWriter(dir, featio.Options{Format: featio.FormatNpy, Sidecar: featio.Sidecar{
		Kind: cfg.Kind, SampleRate: 8000, WindowSamples: cfg.WindowSize(), HopSamples: cfg.WindowShift(), SnipEdges: true, Kaldi: &cfg,
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Abort()
	for _, r := range recs[1:] {
		clip, err := audio.ReadFile(filepath.Join(filepath.Dir(manifest), r[0]), audio.DecodeOptions{})
		if err != nil {
			t.Fatal(err)
		}
		data, frames := ex.Compute(nil, clip.Samples)
		key, err := UtteranceKey(r[0])
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Write(key, r[0], featio.Matrix{Rows: frames, Cols: ex.Dim(), Data: data}); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		protocol string
		want     float64
	}{{ProtocolSplit, 0.87}, {ProtocolLOSO, 0.56}} {
		res, err := Run(context.Background(), Options{Features: []string{dir}, Manifest: manifest, Label: "label", Protocol: c.protocol})
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: accuracy %.2f%% (scikit-learn: %.2f%%)", c.protocol, 100*res.Accuracy, 100*c.want)
		if math.Abs(res.Accuracy-c.want) > 0.02 {
			t.Errorf("%s accuracy %.4f, scikit-learn gives %.4f", c.protocol, res.Accuracy, c.want)
		}
	}
}
