package modelfile

import (
	"bytes"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/nextsample/nextsample/causalconv"
	"github.com/nextsample/nextsample/causalconv/safetensors"
)

// tiny returns a small architecture.
func tiny(k int, bias bool, enc string, kin int) causalconv.Config {
	return causalconv.Config{
		QuantizationChannels: 16, InputEncoding: enc, InputKernelSize: kin,
		ResidualChannels: 4, DilationChannels: 4, SkipChannels: 8, EndChannels: 8,
		KernelSize: k, Dilations: []int{1, 2, 4, 1}, Bias: bias,
	}
}

// tinyConfigs cover every option that changes the tensors: K = 2 and 3,
// bias on and off, one-hot input of width 1 and 2, embedding input, a
// residual conv on the last layer, a speaker table, local conditioning
// (with a speaker table too).
func tinyConfigs() map[string]causalconv.Config {
	res := tiny(2, true, causalconv.InputOneHot, 1)
	res.ResidualOnLastLayer = true
	gc := tiny(2, true, causalconv.InputOneHot, 1)
	gc.GlobalCondition = &causalconv.GlobalCondition{Channels: 3, Cardinality: 4}
	lc := tiny(2, true, causalconv.InputOneHot, 1)
	lc.GlobalCondition = &causalconv.GlobalCondition{Channels: 3, Cardinality: 4}
	lc.LocalCondition = localCondition()
	return map[string]causalconv.Config{
		"K2_bias_local_speakers": lc,
		"K2_bias_onehot2":        tiny(2, true, causalconv.InputOneHot, 2),
		"K3_bias_onehot1":        tiny(3, true, causalconv.InputOneHot, 1),
		"K3_nobias_onehot2":      tiny(3, false, causalconv.InputOneHot, 2),
		"K2_nobias_embed":        tiny(2, false, causalconv.InputEmbedding, 1),
		"K3_bias_embed":          tiny(3, true, causalconv.InputEmbedding, 1),
		"K2_bias_reslast":        res,
		"K2_bias_speakers":       gc,
	}
}

// localCondition is a small local conditioning with statistics.
func localCondition() *causalconv.LocalCondition {
	return &causalconv.LocalCondition{Channels: 3, Hop: 6, Window: 10, SnipEdges: true, Context: 2,
		UpsampleScales: []int{2, 3}, Mean: []float64{0.25, -1, 3}, Std: []float64{1.5, 0.125, 2}}
}

// randomModel returns a model with random weights and biases.
func randomModel(t testing.TB, c causalconv.Config, seed uint64) *causalconv.Model {
	m, err := causalconv.NewRandom(c, seed)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(seed, 7))
	for _, tn := range m.Tensors() {
		if tn.Name == "input_bias" || len(tn.Shape) == 1 {
			for i := tn.Offset; i < tn.Offset+tn.Size; i++ {
				m.Params[i] = float32(rng.NormFloat64() * 0.5)
			}
		}
	}
	return m
}

func TestSaveLoadRoundTrip(t *testing.T) {
	for name, c := range tinyConfigs() {
		m := randomModel(t, c, 3)
		extra := []safetensors.Tensor{
			safetensors.FromFloat32("train/adam.m", []int{len(m.Params)}, m.Params),
			safetensors.FromInt64("train/step", nil, []int64{42}),
		}
		path := filepath.Join(t.TempDir(), "m.safetensors")
		meta := map[string]string{"sample_rate": "8000"}
		if err := SaveFile(path, m, meta, extra); err != nil {
			t.Fatal(err)
		}
		f, err := Load(path)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(f.Model.Params, m.Params) || !f.Model.Config.Equal(m.Config) || f.Path != path {
			t.Errorf("%s: model changed in the round trip", name)
		}
		if f.Metadata["sample_rate"] != "8000" || f.Metadata[KeyModel] == "" {
			t.Errorf("%s: metadata %v", name, f.Metadata)
		}
		if len(f.Extra) != 2 || f.ExtraTensor("train/step") == nil || !bytes.Equal(f.ExtraTensor("train/adam.m").Data, extra[0].Data) {
			t.Errorf("%s: extra tensors %v", name, f.Extra)
		}
		// Saving is deterministic.
		var a, b bytes.Buffer
		Save(&a, m, meta, extra)
		Save(&b, f.Model, map[string]string{"sample_rate": "8000"}, f.Extra)
		if !bytes.Equal(a.Bytes(), b.Bytes()) {
			t.Errorf("%s: saving the loaded model gives different bytes", name)
		}
		if entries, _ := os.ReadDir(filepath.Dir(path)); len(entries) != 1 {
			t.Errorf("%s: the save left %d files behind", name, len(entries))
		}
	}
}

// TestLoadConvertsHalf checks that F16 and BF16 weights (as PyTorch users
// often save them) load, converted to float32.
func TestLoadConvertsHalf(t *testing.T) {
	c := tiny(2, true, causalconv.InputOneHot, 1)
	m, _ := causalconv.New(c)
	var tensors []safetensors.Tensor
	for i, tn := range m.Tensors() {
		dt, one := safetensors.F16, []byte{0x00, 0x3c}
		if i%2 == 1 {
			dt, one = safetensors.BF16, []byte{0x80, 0x3f}
		}
		data := bytes.Repeat(one, tn.Size)
		tensors = append(tensors, safetensors.Tensor{Name: tn.Name, DType: dt, Shape: tn.Shape, Data: data})
	}
	cfg, _ := ConfigJSON(m.Config)
	var buf bytes.Buffer
	if err := safetensors.Write(&buf, map[string]string{KeyModel: cfg}, tensors); err != nil {
		t.Fatal(err)
	}
	sf, err := safetensors.Parse(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	f, err := Decode(sf)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range f.Model.Params {
		if v != 1 {
			t.Fatalf("half-precision 1.0 loaded as %v", v)
		}
	}
}

func TestLoadRefuses(t *testing.T) {
	c := tiny(2, true, causalconv.InputOneHot, 1)
	m := randomModel(t, c, 1)
	cfg, _ := ConfigJSON(m.Config)
	good := func() []safetensors.Tensor {
		var ts []safetensors.Tensor
		for _, tn := range m.Tensors() {
			ts = append(ts, safetensors.FromFloat32(tn.Name, tn.Shape, m.Params[tn.Offset:tn.Offset+tn.Size]))
		}
		return ts
	}
	other := c
	other.Dilations = []int{1, 2, 4}
	otherJSON, _ := ConfigJSON(other)
	cases := []struct {
		name    string
		meta    map[string]string
		tensors func() []safetensors.Tensor
		want    string
	}{
		{"no model metadata", map[string]string{"x": "1"}, good, `no "model" entry`},
		{"bad config", map[string]string{KeyModel: `{"quantization_channels": 1}`}, good, "quantization_channels"},
		{"misspelt config key", map[string]string{KeyModel: strings.Replace(cfg, "bias", "biass", 1)}, good, "biass"},
		{"missing tensor", map[string]string{KeyModel: cfg}, func() []safetensors.Tensor { return good()[1:] }, `needs tensor "input_layer.weight"`},
		{"config disagrees", map[string]string{KeyModel: otherJSON}, good, `"filter_gate.3.weight" is not a parameter`},
		{"wrong shape", map[string]string{KeyModel: cfg}, func() []safetensors.Tensor {
			ts := good()
			ts[2].Shape = []int{8, 2, 4}
			return ts
		}, `"filter_gate.0.weight" has shape [8 2 4]`},
		{"extra unnamespaced", map[string]string{KeyModel: cfg}, func() []safetensors.Tensor {
			return append(good(), safetensors.FromFloat32("momentum", []int{1}, []float32{0}))
		}, `"momentum" is not a parameter`},
		{"integer weights", map[string]string{KeyModel: cfg}, func() []safetensors.Tensor {
			ts := good()
			ts[1] = safetensors.FromInt64(ts[1].Name, []int{4}, []int64{1, 2, 3, 4})
			return ts
		}, "not a float type"},
	}
	dir := t.TempDir()
	for _, c := range cases {
		path := filepath.Join(dir, strings.ReplaceAll(c.name, " ", "_")+".safetensors")
		var buf bytes.Buffer
		if err := safetensors.Write(&buf, c.meta, c.tensors()); err != nil {
			t.Fatal(err)
		}
		os.WriteFile(path, buf.Bytes(), 0o644)
		_, err := Load(path)
		if err == nil {
			t.Errorf("%s: loaded", c.name)
			continue
		}
		if !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), path) {
			t.Errorf("%s: error %q should name the file and mention %q", c.name, err, c.want)
		}
	}
	// Corrupt bytes are refused by the safetensors layer, still naming the file.
	path := filepath.Join(dir, "junk.safetensors")
	os.WriteFile(path, []byte("not a model"), 0o644)
	if _, err := Load(path); err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("junk: %v", err)
	}
	// Save refuses what Load would refuse.
	if err := Save(&bytes.Buffer{}, m, map[string]string{KeyModel: "x"}, nil); err == nil {
		t.Error("Save let the caller overwrite the model metadata")
	}
	if err := Save(&bytes.Buffer{}, m, nil, []safetensors.Tensor{safetensors.FromInt64("step", nil, []int64{1})}); err == nil {
		t.Error("Save accepted an unnamespaced extra tensor")
	}
	if err := SaveFile(filepath.Join(dir, "no", "such", "dir.safetensors"), m, nil, nil); err == nil {
		t.Error("SaveFile into a missing directory succeeded")
	}
}
