package main

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nextsample/nextsample/causalconv/modelfile"
	"github.com/nextsample/nextsample/train"
)

// train --condition speaker writes a model with the speaker table's
// tensors and names; eval, generate and features use it with each file's
// speaker or --speaker, and refuse unknown or missing speakers.
func TestTrainConditionedOnSpeakers(t *testing.T) {
	manifest, config := writeTinyCorpus(t) // speakers s0, s1
	out := filepath.Join(t.TempDir(), "run")
	code, _, stderr := runTrainCLI(t, "train", "--data", manifest, "--config", config, "--out", out, "--steps", "3",
		"--batch", "2", "--crop", "150", "--eval-every", "3", "--condition", "speaker", "--gc-channels", "5")
	if code != 0 {
		t.Fatalf("train --condition speaker: exit %d\n%s", code, stderr)
	}
	if !strings.Contains(stderr, "conditioned on 2 speakers (s0, s1), 5 channels") {
		t.Errorf("train does not say what it conditions on:\n%s", stderr)
	}
	model := filepath.Join(out, train.LastFile)
	mf, err := modelfile.Load(model)
	if err != nil {
		t.Fatal(err)
	}
	if mf.Metadata[modelfile.KeySpeakers] != `["s0","s1"]` {
		t.Errorf("speakers metadata %q", mf.Metadata[modelfile.KeySpeakers])
	}
	for _, name := range []string{"gc_embedding.weight", "filter_gate_gc.0.weight", "filter_gate_gc.2.weight"} {
		if _, ok := mf.Model.Lookup(name); !ok {
			t.Errorf("no tensor %s", name)
		}
	}
	if tn, _ := mf.Model.Lookup("gc_embedding.weight"); fmt.Sprint(tn.Shape) != "[2 5]" {
		t.Errorf("gc_embedding.weight has shape %v", tn.Shape)
	}
	// Resuming keeps the table.
	if code, _, stderr := runTrainCLI(t, "train", "--out", out, "--resume", "--steps", "4"); code != 0 {
		t.Fatalf("resume: exit %d\n%s", code, stderr)
	}

	code, own, stderr := runCLI("", "eval", "--model", model, "--data", manifest, "--json")
	if code != 0 {
		t.Fatalf("eval: exit %d\n%s", code, stderr)
	}
	code, forced, stderr := runCLI("", "eval", "--model", model, "--data", manifest, "--json", "--speaker", "s1")
	if code != 0 {
		t.Fatalf("eval --speaker: exit %d\n%s", code, stderr)
	}
	if own == forced {
		t.Error("scoring every file as s1 gives the same bits as each file's own speaker")
	}
	if code, _, stderr := runCLI("", "eval", "--model", model, "--data", manifest, "--speaker", "nobody"); code == 0 || !strings.Contains(stderr, "nobody is not one of the 2 speakers") {
		t.Errorf("eval --speaker nobody: exit %d, %s", code, stderr)
	}

	wav := filepath.Join(t.TempDir(), "g-{i}.wav")
	if code, _, stderr := runCLI("", "generate", "--model", model, "--samples", "300", "--count", "2", "--speaker", "s0,s1", "--out", wav); code != 0 {
		t.Fatalf("generate --speaker s0,s1: exit %d\n%s", code, stderr)
	}
	if code, _, stderr := runCLI("", "generate", "--model", model, "--samples", "300", "--out", wav); code == 0 || !strings.Contains(stderr, "choose one with --speaker") {
		t.Errorf("generate without --speaker: exit %d, %s", code, stderr)
	}
	if code, _, stderr := runCLI("", "generate", "--model", model, "--samples", "300", "--count", "2", "--speaker", "s0,s1,s0", "--out", wav); code == 0 {
		t.Errorf("generate with 3 speakers for 2 continuations: exit %d, %s", code, stderr)
	}

	feats := filepath.Join(t.TempDir(), "feats")
	if code, _, stderr := runCLI("", "features", "--model", model, "--data", manifest, "--format", "npy", "--out", feats); code != 0 {
		t.Fatalf("features: exit %d\n%s", code, stderr)
	}
	b, err := os.ReadFile(filepath.Join(feats, "features.json"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"speakers": "each file's own speaker (11 files)"`) {
		t.Errorf("features.json does not record the speakers:\n%s", b)
	}

	// A corpus without speakers cannot train a conditioned model.
	dir := filepath.Dir(manifest)
	rows, _ := os.ReadFile(manifest)
	noSpk := filepath.Join(dir, "nospk.csv")
	lines := strings.Split(strings.TrimSpace(string(rows)), "\n")
	for i := 1; i < len(lines); i++ {
		f := strings.Split(lines[i], ",")
		if i == 2 {
			f[1] = ""
		}
		lines[i] = strings.Join(f, ",")
	}
	os.WriteFile(noSpk, []byte(strings.Join(lines, "\n")+"\n"), 0o644)
	code, _, stderr = runTrainCLI(t, "train", "--data", noSpk, "--config", config, "--out", filepath.Join(t.TempDir(), "x"), "--steps", "1", "--condition", "speaker")
	if code == 0 || !strings.Contains(stderr, "1 training files have no speaker") {
		t.Errorf("training files without a speaker: exit %d, %s", code, stderr)
	}
	// An unconditioned model refuses --speaker.
	plain := filepath.Join(t.TempDir(), "plain")
	if code, _, stderr := runTrainCLI(t, "train", "--data", manifest, "--config", config, "--out", plain, "--steps", "1", "--batch", "2", "--crop", "100"); code != 0 {
		t.Fatal(stderr)
	}
	if code, _, stderr := runCLI("", "eval", "--model", filepath.Join(plain, train.LastFile), "--data", manifest, "--speaker", "s0"); code == 0 || !strings.Contains(stderr, "not conditioned") {
		t.Errorf("eval --speaker of an unconditioned model: exit %d, %s", code, stderr)
	}
}

// `nextsample eval` of the PyTorch-built conditioned model of
// causalconv/testdata (gen_gc.py) on its 10 FSDD files, each with its own
// speaker from a manifest, gives PyTorch's NLL within 1e-3 bits/sample.
func TestEvalConditionedPyTorchModel(t *testing.T) {
	var golden struct {
		Files []struct {
			Path, Speaker string
		}
		BitsPerSample float64 `json:"bits_per_sample"`
	}
	b, err := os.ReadFile("../../causalconv/testdata/gc_small.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &golden); err != nil {
		t.Fatal(err)
	}
	rows := []string{"path,speaker"}
	for _, f := range golden.Files {
		abs, _ := filepath.Abs(filepath.Join("../..", f.Path))
		rows = append(rows, abs+","+f.Speaker)
	}
	manifest := filepath.Join(t.TempDir(), "gc.csv")
	if err := os.WriteFile(manifest, []byte(strings.Join(rows, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, stderr := runCLI("", "eval", "--model", "../../causalconv/testdata/gc_small.safetensors", "--data", manifest, "--json")
	if code != 0 {
		t.Fatalf("eval: exit %d\n%s", code, stderr)
	}
	var res evalResult
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatal(err)
	}
	t.Logf("nextsample %.6f bits/sample, PyTorch %.6f", res.BitsPerSample, golden.BitsPerSample)
	if math.Abs(res.BitsPerSample-golden.BitsPerSample) > 1e-3 {
		t.Fatalf("eval gives %.6f bits/sample, PyTorch %.6f", res.BitsPerSample, golden.BitsPerSample)
	}
}
