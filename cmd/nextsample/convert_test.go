package main

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nextsample/nextsample/causalconv/modelfile"
	"github.com/nextsample/nextsample/causalconv/safetensors"
)

// The small model in causalconv/torchpt/testdata was trained by the
// PyTorch reference module (gen_pt.py), saved with torch.save(state_dict)
// and, as a PyTorch user exports it, as safetensors with only "model" and
// "sample_rate" metadata; small.json holds PyTorch's own NLL of it on 12
// FSDD test files under the reference protocol.
const ptData = "../../causalconv/torchpt/testdata"

type ptGolden struct {
	Model         json.RawMessage `json:"model"`
	Files         []string        `json:"files"`
	Samples       int64           `json:"samples"`
	BitsPerSample float64         `json:"bits_per_sample"`
}

// ptFixture writes the model object and a manifest of the golden files.
func ptFixture(t *testing.T) (g ptGolden, config, manifest string) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(ptData, "small.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &g); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	config = filepath.Join(dir, "small_config.json")
	os.WriteFile(config, g.Model, 0o644)
	fsdd, _ := filepath.Abs("../../samples/fsdd")
	var b strings.Builder
	b.WriteString("path,split\n")
	for _, f := range g.Files {
		b.WriteString(filepath.Join(fsdd, f) + ",test\n")
	}
	manifest = filepath.Join(dir, "manifest.csv")
	os.WriteFile(manifest, []byte(b.String()), 0o644)
	return g, config, manifest
}

func evalBits(t *testing.T, args ...string) (evalResult, string) {
	t.Helper()
	code, out, stderr := runCLI("", append([]string{"eval", "--json"}, args...)...)
	if code != 0 {
		t.Fatalf("eval %v: exit %d: %s", args, code, stderr)
	}
	var r evalResult
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("eval output %q: %v", out, err)
	}
	return r, stderr
}

func TestConvertTorchModelEvaluatesAsInPyTorch(t *testing.T) {
	g, config, manifest := ptFixture(t)
	out := filepath.Join(t.TempDir(), "final.safetensors")
	code, stdout, stderr := runCLI("", "convert", "--config", config, "--sample-rate", "8000", filepath.Join(ptData, "small.pt"), out)
	if code != 0 {
		t.Fatalf("convert: exit %d: %s", code, stderr)
	}
	if !strings.Contains(stdout, "parameters") {
		t.Errorf("convert printed %q", stdout)
	}
	r, _ := evalBits(t, "--model", out, "--data", manifest)
	t.Logf("nextsample %.6f bits/sample over %d samples, PyTorch %.6f over %d", r.BitsPerSample, r.Samples, g.BitsPerSample, g.Samples)
	if r.Samples != g.Samples || math.Abs(r.BitsPerSample-g.BitsPerSample) > 1e-3 {
		t.Errorf("eval of the converted model: %.6f bits over %d samples, PyTorch says %.6f over %d", r.BitsPerSample, r.Samples, g.BitsPerSample, g.Samples)
	}

	// The safetensors export with only "model" and "sample_rate" gives the
	// same number without converting, and says once what it assumed.
	r2, stderr := evalBits(t, "--model", filepath.Join(ptData, "small.safetensors"), "--data", manifest)
	if r2 != r {
		t.Errorf("the PyTorch safetensors export evaluates to %+v, the converted .pt to %+v", r2, r)
	}
	if strings.Count(stderr, "assuming the reference preprocessing") != 1 || !strings.Contains(stderr, "8000 Hz") {
		t.Errorf("eval should say once what it assumed; stderr: %q", stderr)
	}

	// Back to .pt and in again: the same model.
	pt := filepath.Join(t.TempDir(), "again.pt")
	if code, _, stderr := runCLI("", "convert", out, pt); code != 0 {
		t.Fatalf("convert to .pt: %s", stderr)
	}
	again := filepath.Join(t.TempDir(), "again.safetensors")
	if code, _, stderr := runCLI("", "convert", "--config", config, "--sample-rate", "8000", pt, again); code != 0 {
		t.Fatalf("convert back: %s", stderr)
	}
	a, _ := safetensors.ReadFile(out)
	b, _ := safetensors.ReadFile(again)
	for i := range a.Tensors {
		if string(a.Tensors[i].Data) != string(b.Tensors[i].Data) {
			t.Errorf("tensor %s changed in the round trip", a.Tensors[i].Name)
		}
	}
}

func TestExportWithoutAudioWorksEverywhere(t *testing.T) {
	_, _, manifest := ptFixture(t)
	model := filepath.Join(ptData, "small.safetensors")
	dir := t.TempDir()
	wav := filepath.Join(dir, "gen.wav")
	code, _, stderr := runCLI("", "generate", "--model", model, "--samples", "200", "--out", wav)
	if code != 0 {
		t.Fatalf("generate: %s", stderr)
	}
	if strings.Count(stderr, "assuming the reference preprocessing") != 1 {
		t.Errorf("generate stderr: %q", stderr)
	}
	if fi, err := os.Stat(wav); err != nil || fi.Size() < 400 {
		t.Errorf("generate wrote %v %v", fi, err)
	}
	code, _, stderr = runCLI("", "features", "--model", model, "--data", manifest, "--out", filepath.Join(dir, "feats"))
	if code != 0 {
		t.Fatalf("features: %s", stderr)
	}
	if strings.Count(stderr, "assuming the reference preprocessing") != 1 {
		t.Errorf("features stderr: %q", stderr)
	}

	// A model with neither entry needs --sample-rate, and takes it.
	sf, err := safetensors.ReadFile(model)
	if err != nil {
		t.Fatal(err)
	}
	delete(sf.Metadata, modelfile.KeySampleRate)
	bare := filepath.Join(dir, "bare.safetensors")
	f, _ := os.Create(bare)
	safetensors.Write(f, sf.Metadata, sf.Tensors)
	f.Close()
	code, _, stderr = runCLI("", "eval", "--model", bare, "--data", manifest)
	if code != 1 || !strings.Contains(stderr, "--sample-rate") || !strings.Contains(stderr, "bare.safetensors") {
		t.Errorf("eval of a model without a rate: exit %d, %q", code, stderr)
	}
	evalBits(t, "--model", bare, "--data", manifest, "--sample-rate", "8000")

	for _, bad := range []string{"8k", "-8000", "0", "8000.0", " 8000"} {
		sf.Metadata[modelfile.KeySampleRate] = bad
		f, _ := os.Create(bare)
		safetensors.Write(f, sf.Metadata, sf.Tensors)
		f.Close()
		code, _, stderr = runCLI("", "eval", "--model", bare, "--data", manifest)
		if code != 1 || !strings.Contains(stderr, "bare.safetensors") || !strings.Contains(stderr, "not a positive whole number") {
			t.Errorf("sample_rate %q: exit %d, %q", bad, code, stderr)
		}
	}
}

func TestConvertRefuses(t *testing.T) {
	_, config, _ := ptFixture(t)
	dir := t.TempDir()
	other := filepath.Join(dir, "other.json")
	os.WriteFile(other, []byte(`{"quantization_channels":256,"input_encoding":"onehot","input_kernel_size":1,"residual_channels":16,"dilation_channels":16,"skip_channels":32,"end_channels":32,"kernel_size":2,"dilations":[1,2,4,8,16,32,64,128,256],"bias":true,"residual_on_last_layer":false}`), 0o644)
	small := filepath.Join(ptData, "small.pt")
	out := filepath.Join(dir, "out.safetensors")
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"--sample-rate", "8000", small, out}, "--config"},
		{[]string{"--config", config, small, out}, "--sample-rate"},
		{[]string{"--config", other, "--sample-rate", "8000", small, out}, `needs tensor "filter_gate.8.weight"`},
		{[]string{"--config", config, "--sample-rate", "8000", filepath.Join(ptData, "evil.pt"), out}, "posix.system"},
		{[]string{"--config", config, "--sample-rate", "8000", filepath.Join(ptData, "legacy.pt"), out}, "legacy format"},
		{[]string{"--config", config, "--sample-rate", "8000", small, filepath.Join(dir, "out.bin")}, "unknown model file extension"},
		{[]string{"--sample-rate", "8000", filepath.Join(ptData, "small.safetensors"), filepath.Join(dir, "x.pt")}, "holds no metadata"},
	}
	for _, c := range cases {
		code, _, stderr := runCLI("", append([]string{"convert"}, c.args...)...)
		if code != 1 || !strings.Contains(stderr, c.want) || strings.Count(strings.TrimSpace(stderr), "\n") > 0 {
			t.Errorf("convert %v: exit %d, stderr %q; want one line saying %q", c.args, code, stderr, c.want)
		}
		if _, err := os.Stat(out); err == nil {
			t.Errorf("convert %v left %s behind", c.args, out)
		}
	}
}

func TestConvertRewritesAudioMetadata(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "rms.safetensors")
	code, _, stderr := runCLI("", "convert", "--normalize", "rms", filepath.Join(ptData, "small.safetensors"), out)
	if code != 0 {
		t.Fatalf("convert: %s", stderr)
	}
	sf, err := safetensors.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var s map[string]any
	json.Unmarshal([]byte(sf.Metadata[modelfile.KeyAudio]), &s)
	if s["normalize"] != "rms" || s["sample_rate"] != 8000.0 || sf.Metadata[modelfile.KeySampleRate] != "" {
		t.Errorf("metadata after the rewrite: %v", sf.Metadata)
	}
	in, _ := safetensors.ReadFile(filepath.Join(ptData, "small.safetensors"))
	if len(in.Tensors) != len(sf.Tensors) {
		t.Fatal("tensors changed")
	}
	for i := range in.Tensors {
		if string(in.Tensors[i].Data) != string(sf.Tensors[i].Data) {
			t.Errorf("tensor %s changed", in.Tensors[i].Name)
		}
	}
}
