package main

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nextsample/nextsample/causalconv/modelfile"
	"github.com/nextsample/nextsample/train"
)

// train --init-from a model trained with --ema, itself with --ema and
// --sample-every: 4 steps in one go equal 2 steps and a --resume to 4,
// every tensor (the average, the raw weights, the optimizer) byte for
// byte; the samples are written; eval reads the average; a conflicting
// --config is refused naming both files.
func TestTrainInitFromWithEMAResumes(t *testing.T) {
	manifest, config := writeTinyCorpus(t)
	src := filepath.Join(t.TempDir(), "src")
	code, _, stderr := runTrainCLI(t, "train", "--data", manifest, "--config", config, "--out", src, "--steps", "2", "--batch", "2",
		"--crop", "150", "--eval-every", "0", "--save-every", "0", "--ema", "0.9")
	if code != 0 {
		t.Fatalf("train exited %d: %s", code, stderr)
	}
	model := filepath.Join(src, train.LastFile)
	args := func(out string, steps string) []string {
		return []string{"train", "--data", manifest, "--init-from", model, "--out", out, "--steps", steps, "--batch", "2",
			"--crop", "150", "--eval-every", "2", "--save-every", "0", "--ema", "0.95", "--sample-every", "2", "--sample-seconds", "0.01"}
	}
	whole := filepath.Join(t.TempDir(), "whole")
	code, _, stderr = runTrainCLI(t, args(whole, "4")...)
	if code != 0 {
		t.Fatalf("train --init-from exited %d: %s", code, stderr)
	}
	for _, want := range []string{"initial weights: " + model, "EMA of the weights 0.95", "(raw ", "samples: 2 × 0.01 s every 2 steps"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
	for _, f := range []string{"step-000002-0.wav", "step-000004-1.wav", "step-000004-1.png"} {
		if _, err := os.Stat(filepath.Join(whole, train.SamplesDir, f)); err != nil {
			t.Error(err)
		}
	}

	split := filepath.Join(t.TempDir(), "split")
	if code, _, stderr := runTrainCLI(t, append(args(split, "2"), "--threads", "1")...); code != 0 {
		t.Fatalf("train exited %d: %s", code, stderr)
	}
	if code, _, stderr := runTrainCLI(t, "train", "--out", split, "--resume", "--steps", "4", "--threads", "2"); code != 0 {
		t.Fatalf("resume exited %d: %s", code, stderr)
	}
	a, b := tensorBytes(t, filepath.Join(whole, train.LastFile)), tensorBytes(t, filepath.Join(split, train.LastFile))
	if len(a) != len(b) || a["train/raw.input_layer.weight"] == nil {
		t.Fatalf("%d vs %d tensors (raw weights stored: %v)", len(a), len(b), a["train/raw.input_layer.weight"] != nil)
	}
	for name, d := range a {
		if !bytes.Equal(d, b[name]) {
			t.Fatalf("tensor %s differs between 4 steps and 2+2 resumed steps", name)
		}
	}
	mf, err := modelfile.Load(filepath.Join(split, train.LastFile))
	if err != nil {
		t.Fatal(err)
	}
	if rec, _ := modelfile.ReadInitFrom(mf.Metadata); rec == nil || rec.Path != model {
		t.Errorf("the resumed run's file records init_from %+v", rec)
	}
	// nextsample model says what the checkpoint holds and where it started.
	code, stdout, stderr := runTrainCLI(t, "model", filepath.Join(split, train.LastFile))
	for _, want := range []string{"raw weights", "weights averaged, decay 0.95", "Init from  : " + model, "Resumable  : yes"} {
		if code != 0 || !strings.Contains(stdout, want) {
			t.Errorf("model: exit %d, output lacks %q:\n%s%s", code, want, stdout, stderr)
		}
	}
	// eval scores the model tensors: the average, as validation did.
	best, err := modelfile.Load(filepath.Join(whole, train.BestFile))
	if err != nil {
		t.Fatal(err)
	}
	rec, err := modelfile.ReadBest(best.Metadata)
	if err != nil || rec == nil {
		t.Fatalf("best.safetensors records %v (%v)", rec, err)
	}
	code, stdout, stderr = runTrainCLI(t, "eval", "--model", filepath.Join(whole, train.BestFile), "--json")
	var res evalResult
	if code != 0 || json.Unmarshal([]byte(stdout), &res) != nil || math.Abs(res.BitsPerSample-rec.ValBits) > 1e-6 {
		t.Errorf("eval of the averaged model: exit %d, %+v; training recorded %v bits: %s", code, res, rec.ValBits, stderr)
	}

	other := filepath.Join(t.TempDir(), "other.json")
	os.WriteFile(other, []byte(strings.Replace(tinyModel, `"dilations": [1, 2, 4]`, `"dilations": [1, 2]`, 1)), 0o644)
	code, _, stderr = runTrainCLI(t, "train", "--data", manifest, "--init-from", model, "--config", other, "--out", filepath.Join(t.TempDir(), "x"))
	if code != 1 || !strings.Contains(stderr, "train --init-from: "+other+" describes a different model than "+model) {
		t.Errorf("--init-from with another --config: exit %d: %s", code, stderr)
	}
	code, _, stderr = runTrainCLI(t, "train", "--data", manifest, "--config", config, "--ema", "1", "--out", filepath.Join(t.TempDir(), "y"))
	if code != 1 || !strings.Contains(stderr, "ema 1: must be") {
		t.Errorf("--ema 1: exit %d: %s", code, stderr)
	}
}
