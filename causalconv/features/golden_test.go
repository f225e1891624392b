package features

import (
	"encoding/json"
	"math"
	"path/filepath"
	"testing"

	"github.com/nextsample/nextsample/causalconv/kernels"
	"github.com/nextsample/nextsample/causalconv/modelfile"
)

// TestGoldenPyTorch computes learned features of a model built by the
// PyTorch reference module and compares them with the features
// testdata/gen_golden.py computed from that module's activations: skip
// sums and gate outputs, mean and max pooling, both frame conventions,
// direct and block pooling.
func TestGoldenPyTorch(t *testing.T) {
	f, err := modelfile.Load(filepath.Join("testdata", "golden.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	var cases []struct {
		Name, Layers, Pool string
		Window, Hop        int
		SnipEdges          bool `json:"snip_edges"`
	}
	if err := json.Unmarshal([]byte(f.Metadata["cases"]), &cases); err != nil || len(cases) == 0 {
		t.Fatalf("cases: %v", err)
	}
	xt := f.ExtraTensor("golden/x")
	x64 := make([]int64, xt.NumElements())
	if err := xt.Int64s(x64); err != nil {
		t.Fatal(err)
	}
	x := make([]int32, len(x64))
	for i, v := range x64 {
		x[i] = int32(v)
	}
	w, err := NewWeights(f.Model)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		gt := f.ExtraTensor("golden/" + c.Name)
		want := make([]float32, gt.NumElements())
		if err := gt.Float32s(want); err != nil {
			t.Fatal(err)
		}
		ls, err := ParseLayers(c.Layers, f.Model.Config.Layers())
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range kernels.Sets() {
			// A chunk shorter than the sequence exercises the context too.
			ex, err := NewExtractor(w, Options{Layers: ls, Pool: c.Pool, Framing: Framing{c.Window, c.Hop, c.SnipEdges}, Chunk: 100, Kernels: k})
			if err != nil {
				t.Fatal(err)
			}
			got, frames, err := ex.Compute(nil, x)
			if err != nil {
				t.Fatal(err)
			}
			if frames != gt.Shape[0] || ex.Dim() != gt.Shape[1] {
				t.Fatalf("%s: %d frames × %d dims, golden %v", c.Name, frames, ex.Dim(), gt.Shape)
			}
			var worst float64
			for i, g := range got {
				worst = math.Max(worst, math.Abs(float64(g-want[i])))
				if d := math.Abs(float64(g - want[i])); d > 5e-6*(1+math.Abs(float64(want[i]))) {
					t.Fatalf("%s (%s kernels): frame %d, column %d: %g, PyTorch %g", c.Name, k.Name, i/ex.Dim(), i%ex.Dim(), g, want[i])
				}
			}
			t.Logf("%s (%s kernels): largest difference %.2g", c.Name, k.Name, worst)
		}
	}
}
