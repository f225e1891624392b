package main

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/nextsample/nextsample/causalconv/modelfile"
	"github.com/nextsample/nextsample/train"
)

// valBits returns the validation bits of the rows of a run's log that have
// one, in step order.
func valBits(t *testing.T, out string) []float64 {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(out, train.LogFile))
	if err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(bytes.NewReader(b)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	var v []float64
	for _, r := range recs[1:] {
		if x, err := strconv.ParseFloat(r[3], 64); err == nil {
			v = append(v, x)
		}
	}
	return v
}

// A model conditioned on fbank features and speakers trains through the
// CLI (its validation loss goes down), records its feature settings, is
// resumed bit for bit whatever the thread count, and eval scores it given
// the features (the run's own validation figure).
func TestTrainConditionedOnFbank(t *testing.T) {
	manifest, config := writeTinyCorpus(t)
	cache := t.TempDir()
	args := func(out string, steps int) []string {
		return []string{"train", "--data", manifest, "--config", config, "--out", out, "--cache-dir", cache,
			"--condition", "fbank,speaker", "--gc-channels", "3", "--fbank-bins", "8", "--optimizer", "adam", "--lr", "0.01",
			"--steps", strconv.Itoa(steps), "--batch", "3", "--crop", "200", "--eval-every", "10", "--save-every", "0"}
	}
	whole := filepath.Join(t.TempDir(), "whole")
	code, _, stderr := runTrainCLI(t, append(args(whole, 30), "--threads", "2")...)
	if code != 0 {
		t.Fatalf("train exited %d: %s", code, stderr)
	}
	if !strings.Contains(stderr, "train features:") {
		t.Errorf("stderr does not report the feature cache:\n%s", stderr)
	}
	if v := valBits(t, whole); len(v) < 2 || !(v[len(v)-1] < v[0]-0.1) {
		t.Errorf("validation bits %v: not going down", v)
	}
	split := filepath.Join(t.TempDir(), "split")
	if code, _, stderr := runTrainCLI(t, append(args(split, 20), "--threads", "1")...); code != 0 {
		t.Fatalf("train exited %d: %s", code, stderr)
	}
	if code, _, stderr := runTrainCLI(t, "train", "--out", split, "--resume", "--steps", "30", "--threads", "2", "--cache-dir", cache); code != 0 {
		t.Fatalf("resume exited %d: %s", code, stderr)
	}
	a, b := tensorBytes(t, filepath.Join(whole, train.LastFile)), tensorBytes(t, filepath.Join(split, train.LastFile))
	for name, d := range a {
		if !bytes.Equal(d, b[name]) {
			t.Fatalf("tensor %s differs between 30 steps and 20+10 resumed steps", name)
		}
	}

	best := filepath.Join(whole, train.BestFile)
	mf, err := modelfile.Load(best)
	if err != nil {
		t.Fatal(err)
	}
	lc := mf.Model.Config.LocalCondition
	if lc == nil || lc.Channels != 8 || lc.Hop != 80 || len(lc.Mean) != 8 || mf.Metadata[modelfile.KeyFeatures] == "" {
		t.Fatalf("local condition %+v, features %q", lc, mf.Metadata[modelfile.KeyFeatures])
	}
	code, stdout, _ := runTrainCLI(t, "model", best)
	if want := "Features   : 8 dims per 80-sample hop (window 200, snip edges), upsampled 4·4·5, context 2; Kaldi fbank, 8 mel bins, 25 ms every 10 ms, no dither\n"; code != 0 || !strings.Contains(stdout, want) {
		t.Errorf("nextsample model printed:\n%s\nwant the line %q", stdout, want)
	}
	var bestMeta struct {
		ValBits float64 `json:"val_bits"`
	}
	if err := json.Unmarshal([]byte(mf.Metadata[modelfile.KeyBest]), &bestMeta); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr = runTrainCLI(t, "eval", "--model", best, "--data", manifest, "--split", "test", "--json", "--cache-dir", cache)
	if code != 0 {
		t.Fatalf("eval exited %d: %s", code, stderr)
	}
	var res evalResult
	if err := json.Unmarshal([]byte(stdout), &res); err != nil {
		t.Fatalf("eval --json printed %q: %v", stdout, err)
	}
	if res.Files != 2 || math.Abs(res.BitsPerSample-bestMeta.ValBits) > 1e-6 {
		t.Fatalf("eval = %+v, training recorded %v bits", res, bestMeta.ValBits)
	}
}

func TestTrainConditionErrors(t *testing.T) {
	manifest, config := writeTinyCorpus(t)
	dir := t.TempDir()
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--condition", "pitch"}, `--condition "pitch": the conditions are`},
		{[]string{"--condition", "fbank", "--frame-shift", "11"}, "prime factor 11"},
		{[]string{"--condition", "fbank", "--frame-length", "-1"}, "fbank flags"},
	} {
		args := append([]string{"train", "--data", manifest, "--config", config, "--out", filepath.Join(dir, "x"), "--cache-dir", dir}, c.args...)
		code, _, stderr := runTrainCLI(t, args...)
		if code != 1 || !strings.Contains(stderr, c.want) || strings.Count(strings.TrimSpace(stderr), "\n") > 0 {
			t.Errorf("%v: exit %d, stderr %q, want one line mentioning %q", c.args, code, stderr, c.want)
		}
	}
}
