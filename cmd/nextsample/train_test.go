package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nextsample/nextsample/audio"
	"github.com/nextsample/nextsample/causalconv"
	"github.com/nextsample/nextsample/causalconv/kernels"
	"github.com/nextsample/nextsample/causalconv/modelfile"
	"github.com/nextsample/nextsample/causalconv/safetensors"
	"github.com/nextsample/nextsample/train"
)

// tinyModel is a model small enough to train in a test: RF 8.
const tinyModel = `{"quantization_channels": 256, "input_encoding": "onehot", "input_kernel_size": 1,
 "residual_channels": 4, "dilation_channels": 4, "skip_channels": 8, "end_channels": 8,
 "kernel_size": 2, "dilations": [1, 2, 4], "bias": true, "residual_on_last_layer": false}`

// writeTinyCorpus writes a few short noisy tones as 8 kHz WAV files with a
// manifest (train and test splits) and a model config, and returns their
// paths.
func writeTinyCorpus(t *testing.T) (manifest, config string) {
	t.Helper()
	dir := t.TempDir()
	r := rand.New(rand.NewPCG(1, 2))
	var rows []string
	for i := range 11 {
		x := make([]float32, 300+r.IntN(400))
		f := 200 + 100*float64(i)
		for n := range x {
			x[n] = float32(0.5*math.Sin(2*math.Pi*f*float64(n)/8000) + 0.02*r.NormFloat64())
		}
		name := fmt.Sprintf("tone%02d.wav", i)
		if err := audio.WriteFile(filepath.Join(dir, name), x, 8000, audio.PCM16); err != nil {
			t.Fatal(err)
		}
		split := "train"
		if i%4 == 3 {
			split = "test"
		}
		rows = append(rows, fmt.Sprintf("%s,s%d,%d,%s", name, i%2, i, split))
	}
	manifest = filepath.Join(dir, "manifest.csv")
	if err := os.WriteFile(manifest, []byte("path,speaker,label,split\n"+strings.Join(rows, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	config = filepath.Join(dir, "model.json")
	if err := os.WriteFile(config, []byte(tinyModel), 0o644); err != nil {
		t.Fatal(err)
	}
	return manifest, config
}

// runCLI runs nextsample with args and returns its exit status, stdout and
// stderr.
func runTrainCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), append([]string{"nextsample"}, args...), strings.NewReader(""), &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

func tensorBytes(t *testing.T, path string) map[string][]byte {
	t.Helper()
	f, err := safetensors.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	m := map[string][]byte{}
	for _, ts := range f.Tensors {
		m[ts.Name] = ts.Data
	}
	return m
}

func TestTrainThenEval(t *testing.T) {
	manifest, config := writeTinyCorpus(t)
	out := filepath.Join(t.TempDir(), "run")
	code, stdout, stderr := runTrainCLI(t, "train", "--data", manifest, "--config", config, "--out", out,
		"--optimizer", "adam", "--lr", "0.01", "--steps", "6", "--batch", "3", "--crop", "200", "--eval-every", "3", "--threads", "2")
	if code != 0 {
		t.Fatalf("train exited %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	for _, want := range []string{"receptive field 8 samples", "train: 9 files", "validation (test): 2 files", "unigram", "step 6: validation"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
	if !strings.Contains(stdout, "best validation:") {
		t.Errorf("stdout lacks the summary:\n%s", stdout)
	}
	for _, name := range []string{train.LastFile, train.BestFile, train.LogFile, train.PlotFile} {
		if _, err := os.Stat(filepath.Join(out, name)); err != nil {
			t.Error(err)
		}
	}

	// eval on the same split gives the validation figure of best.safetensors.
	best := filepath.Join(out, train.BestFile)
	mf, err := modelfile.Load(best)
	if err != nil {
		t.Fatal(err)
	}
	var bestMeta struct {
		ValBits float64 `json:"val_bits"`
	}
	if err := json.Unmarshal([]byte(mf.Metadata[modelfile.KeyBest]), &bestMeta); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr = runTrainCLI(t, "eval", "--model", best, "--data", manifest, "--split", "test", "--json")
	if code != 0 {
		t.Fatalf("eval exited %d: %s", code, stderr)
	}
	var res evalResult
	if err := json.Unmarshal([]byte(stdout), &res); err != nil {
		t.Fatalf("eval --json printed %q: %v", stdout, err)
	}
	if res.Files != 2 || math.Abs(res.BitsPerSample-bestMeta.ValBits) > 1e-6 || math.Abs(res.NatsPerSample-res.BitsPerSample*math.Ln2) > 1e-9 {
		t.Fatalf("eval = %+v, training recorded %v bits", res, bestMeta.ValBits)
	}
	// Without --data, eval scores the run's own validation files.
	code, stdout, stderr = runTrainCLI(t, "eval", "--model", best)
	if code != 0 || !strings.Contains(stdout, fmt.Sprintf("%.4f bits/sample", res.BitsPerSample)) || !strings.Contains(stdout, "in 2 files") {
		t.Fatalf("eval without --data exited %d:\n%s%s", code, stdout, stderr)
	}
	// All files of the corpus.
	code, stdout, _ = runTrainCLI(t, "eval", "--model", best, "--data", manifest)
	if code != 0 || !strings.Contains(stdout, "in 11 files") {
		t.Fatalf("eval of every file exited %d: %s", code, stdout)
	}
}

func TestTrainResumeMatchesOneRun(t *testing.T) {
	manifest, config := writeTinyCorpus(t)
	args := func(out string, steps int) []string {
		return []string{"train", "--data", manifest, "--config", config, "--out", out, "--decay", "constant",
			"--steps", fmt.Sprint(steps), "--batch", "2", "--crop", "150", "--eval-every", "0", "--save-every", "0"}
	}
	whole := filepath.Join(t.TempDir(), "whole")
	if code, _, stderr := runTrainCLI(t, args(whole, 4)...); code != 0 {
		t.Fatalf("train exited %d: %s", code, stderr)
	}
	split := filepath.Join(t.TempDir(), "split")
	if code, _, stderr := runTrainCLI(t, append(args(split, 2), "--threads", "1")...); code != 0 {
		t.Fatalf("train exited %d: %s", code, stderr)
	}
	// A second run into the same directory is refused...
	code, _, stderr := runTrainCLI(t, args(split, 4)...)
	if code != 1 || !strings.Contains(stderr, "already holds a run") {
		t.Fatalf("overwriting a run: exit %d, %s", code, stderr)
	}
	// ...and so is a resume that changes the preprocessing.
	code, _, stderr = runTrainCLI(t, "train", "--out", split, "--resume", "--normalize", "rms")
	if code != 1 || !strings.Contains(stderr, "cannot change its preprocessing") {
		t.Fatalf("resume with other audio settings: exit %d, %s", code, stderr)
	}
	// --resume finds the corpus and the options in the checkpoint.
	if code, _, stderr := runTrainCLI(t, "train", "--out", split, "--resume", "--steps", "4", "--threads", "2"); code != 0 {
		t.Fatalf("resume exited %d: %s", code, stderr)
	}
	a, b := tensorBytes(t, filepath.Join(whole, train.LastFile)), tensorBytes(t, filepath.Join(split, train.LastFile))
	if len(a) != len(b) {
		t.Fatalf("%d vs %d tensors", len(a), len(b))
	}
	for name, d := range a {
		if !bytes.Equal(d, b[name]) {
			t.Fatalf("tensor %s differs between 4 steps and 2+2 resumed steps", name)
		}
	}
}

func TestTrainAndEvalErrors(t *testing.T) {
	manifest, config := writeTinyCorpus(t)
	dir := t.TempDir()
	noMeta := filepath.Join(dir, "plain.safetensors")
	if err := os.WriteFile(noMeta, []byte("\x02\x00\x00\x00\x00\x00\x00\x00{}"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"train", "--out", filepath.Join(dir, "none"), "--resume"}, "no last.safetensors"},
		{[]string{"train", "--data", filepath.Join(dir, "missing.csv"), "--out", filepath.Join(dir, "x")}, "missing.csv"},
		{[]string{"train", "--data", manifest, "--config", config, "--out", filepath.Join(dir, "y"), "--val-split", "dev"}, `"dev" has no files`},
		{[]string{"train", "--data", manifest, "--config", config, "--out", filepath.Join(dir, "z"), "--optimizer", "rmsprop"}, "rmsprop"},
		{[]string{"train", "--data", manifest, "--config", config, "--out", filepath.Join(dir, "p"), "--precision", "fp16"}, `precision "fp16": must be fp32 or bf16`},
		{[]string{"bench", "--precision", "fp8"}, `precision "fp8"`},
		{[]string{"train", "--data", manifest, "--config", config, "--out", filepath.Join(dir, "w"), "--sample-rate", "16000"}, "resampling is off"},
		{[]string{"eval", "--model", noMeta, "--data", manifest}, "not a model file"},
		{[]string{"eval", "--model", filepath.Join(dir, "nope.safetensors"), "--data", manifest}, "nope.safetensors"},
	} {
		code, _, stderr := runTrainCLI(t, c.args...)
		if code != 1 || !strings.Contains(stderr, c.want) {
			t.Errorf("%v: exit %d, stderr %q, want it to mention %q", c.args, code, stderr, c.want)
		}
	}
}

// TestTrainPrecision trains in bf16 where the CPU can (else checks the
// refusal), and checks that a resumed run keeps its precision.
func TestTrainPrecision(t *testing.T) {
	manifest, config := writeTinyCorpus(t)
	out := filepath.Join(t.TempDir(), "run")
	args := []string{"train", "--data", manifest, "--config", config, "--out", out, "--steps", "2", "--batch", "2",
		"--crop", "150", "--eval-every", "1", "--save-every", "0", "--precision", "bf16"}
	code, _, stderr := runTrainCLI(t, args...)
	if causalconv.CheckPrecision(causalconv.PrecisionBF16, kernels.Best()) != nil {
		if code != 1 || !strings.Contains(stderr, "AVX512_BF16") {
			t.Fatalf("bf16 on a CPU without AVX512_BF16: exit %d, %s", code, stderr)
		}
		return
	}
	if code != 0 {
		t.Fatalf("train --precision bf16 exited %d: %s", code, stderr)
	}
	if !strings.Contains(stderr, "; bf16; ") {
		t.Errorf("the run's summary line does not say bf16: %s", stderr)
	}
	// The note on a CPU where bf16 is the slower precision, and only there.
	slow := !kernels.DetectMachine().BF16Faster()
	if note := "--precision bf16 trains slower than fp32 here\n"; strings.Contains(stderr, "note: on this CPU (") != slow || strings.Contains(stderr, note) != slow {
		t.Errorf("on %s (BF16Faster %v) the note is wrong or missing: %s", kernels.DetectMachine(), !slow, stderr)
	}
	ck, err := train.ReadCheckpoint(filepath.Join(out, train.LastFile))
	if err != nil {
		t.Fatal(err)
	}
	if ck.Options.Precision != causalconv.PrecisionBF16 {
		t.Errorf("checkpoint stored precision %v", ck.Options.Precision)
	}
	code, _, stderr = runTrainCLI(t, "train", "--out", out, "--resume", "--steps", "3", "--precision", "fp32")
	if code != 1 || !strings.Contains(stderr, "precision bf16; cannot resume it with precision fp32") {
		t.Errorf("resume with another precision: exit %d, %s", code, stderr)
	}
	if code, _, stderr := runTrainCLI(t, "train", "--out", out, "--resume", "--steps", "3"); code != 0 {
		t.Errorf("resume exited %d: %s", code, stderr)
	}
}

// TestTrainKaldiDirWithValData trains on a Kaldi data directory and
// validates on a separate corpus; --resume and eval find it again.
func TestTrainKaldiDirWithValData(t *testing.T) {
	manifest, config := writeTinyCorpus(t)
	root := filepath.Dir(manifest)
	kd := filepath.Join(t.TempDir(), "train")
	os.MkdirAll(kd, 0o755)
	var scp, u2s strings.Builder
	for i := range 8 {
		fmt.Fprintf(&scp, "utt%d %s\n", i, filepath.Join(root, fmt.Sprintf("tone%02d.wav", i)))
		fmt.Fprintf(&u2s, "utt%d s%d\n", i, i%2)
	}
	os.WriteFile(filepath.Join(kd, "wav.scp"), []byte(scp.String()), 0o644)
	os.WriteFile(filepath.Join(kd, "utt2spk"), []byte(u2s.String()), 0o644)
	out := filepath.Join(t.TempDir(), "run")
	args := []string{"train", "--data", kd, "--val-data", manifest, "--val-split", "test", "--config", config, "--out", out,
		"--steps", "2", "--batch", "2", "--crop", "100", "--eval-every", "1", "--threads", "1"}
	code, _, stderr := runTrainCLI(t, args...)
	if code != 0 {
		t.Fatalf("train: %s", stderr)
	}
	for _, want := range []string{"train: 8 files", "validation (" + manifest + ", split test): 2 files"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
	code, _, stderr = runTrainCLI(t, "train", "--resume", "--steps", "3", "--out", out)
	if code != 0 || !strings.Contains(stderr, "split test): 2 files") {
		t.Errorf("resume: exit %d:\n%s", code, stderr)
	}
	code, stdout, stderr := runTrainCLI(t, "eval", "--model", filepath.Join(out, train.LastFile))
	if code != 0 || !strings.Contains(stdout, "validation: "+manifest+", split test") {
		t.Errorf("eval: exit %d: %s %s", code, stdout, stderr)
	}
	if code, _, stderr := runTrainCLI(t, "train", "--data", kd, "--val-split", "dev", "--out", filepath.Join(t.TempDir(), "x")); code != 1 || !strings.Contains(stderr, "single split") {
		t.Errorf("--val-split on a Kaldi dir: exit %d: %s", code, stderr)
	}
}

// TestTrainValSamples bounds validation to whole files chosen by key hash,
// the same on resume.
func TestTrainValSamples(t *testing.T) {
	manifest, config := writeTinyCorpus(t)
	out := filepath.Join(t.TempDir(), "run")
	code, _, stderr := runTrainCLI(t, "train", "--data", manifest, "--config", config, "--out", out, "--val-samples", "1",
		"--steps", "1", "--batch", "2", "--crop", "100", "--threads", "1")
	if code != 0 || !strings.Contains(stderr, "1 of its 2 files, chosen by key hash for --val-samples 1): 1 files") {
		t.Fatalf("train: exit %d:\n%s", code, stderr)
	}
	code, _, stderr = runTrainCLI(t, "train", "--resume", "--steps", "2", "--out", out)
	if code != 0 || !strings.Contains(stderr, "1 of its 2 files") {
		t.Errorf("resume: exit %d:\n%s", code, stderr)
	}
	if code, _, stderr := runTrainCLI(t, "train", "--data", manifest, "--val-samples", "-1", "--out", filepath.Join(t.TempDir(), "x")); code != 1 || !strings.Contains(stderr, "--val-samples -1") {
		t.Errorf("negative: exit %d: %s", code, stderr)
	}
}
