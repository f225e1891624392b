package main

import (
	"bytes"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nextsample/nextsample/audio/featio"
	"github.com/nextsample/nextsample/train"
)

// writeArk writes the matrices as an ark with its scp in dir and returns
// the scp's path.
func writeArk(t *testing.T, dir string, keys []string, ms []featio.Matrix) string {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	var ark bytes.Buffer
	var scp strings.Builder
	arkPath := filepath.Join(dir, "feats.ark")
	for i, k := range keys {
		off := int64(ark.Len()) + int64(len(k)) + 1
		if _, err := featio.WriteArkEntry(&ark, k, ms[i]); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&scp, "%s %s:%d\n", k, arkPath, off)
	}
	if err := os.WriteFile(arkPath, ark.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "feats.scp")
	if err := os.WriteFile(p, []byte(scp.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// lastLine returns the last line of a command's stderr, its error, when
// it begins "nextsample: " (else "").
func lastLine(stderr string) string {
	lines := strings.Split(strings.TrimSpace(stderr), "\n")
	if l := lines[len(lines)-1]; strings.HasPrefix(l, "nextsample: ") {
		return l
	}
	return ""
}

// readScpFeatures returns the keys and matrices of an scp.
func readScpFeatures(t *testing.T, scpPath string) ([]string, []featio.Matrix) {
	t.Helper()
	b, err := os.ReadFile(scpPath)
	if err != nil {
		t.Fatal(err)
	}
	scp, err := featio.ReadScp(scpPath, b)
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	var ms []featio.Matrix
	for _, e := range scp {
		m, err := featio.ReadArkMatrixAt(e.Path, e.Offset)
		if err != nil {
			t.Fatal(err)
		}
		keys, ms = append(keys, e.Key), append(ms, m)
	}
	return keys, ms
}

// Features given as an scp or a features folder (here: nextsample
// features' fbank) train a locally conditioned model; eval scores it
// given them (the run's own by default); a resume continues it; bad
// features are refused with one line naming the key, before anything is
// written.
func TestTrainOnGivenFeatures(t *testing.T) {
	manifest, config := writeTinyCorpus(t)
	dir := t.TempDir()
	cache := filepath.Join(dir, "cache")
	feats := filepath.Join(dir, "fbank")
	if code, _, stderr := runTrainCLI(t, "features", "--kind", "fbank", "--data", manifest, "--out", feats); code != 0 {
		t.Fatalf("features exited %d: %s", code, stderr)
	}
	mfcc := filepath.Join(dir, "mfcc")
	if code, _, stderr := runTrainCLI(t, "features", "--kind", "mfcc", "--data", manifest, "--out", mfcc); code != 0 {
		t.Fatalf("features exited %d: %s", code, stderr)
	}
	scp := filepath.Join(feats, "feats.scp")
	args := func(out, spec string) []string {
		return []string{"train", "--data", manifest, "--config", config, "--out", out, "--cache-dir", cache, "--features", spec,
			"--steps", "4", "--batch", "3", "--crop", "200", "--eval-every", "2", "--save-every", "0", "--threads", "2"}
	}
	fromScp, fromDir := filepath.Join(dir, "scp"), filepath.Join(dir, "dir")
	for out, spec := range map[string]string{fromScp: scp, fromDir: feats} {
		if code, _, stderr := runTrainCLI(t, args(out, spec)...); code != 0 {
			t.Fatalf("train --features %s exited %d: %s", spec, code, stderr)
		}
	}
	a, b := tensorBytes(t, filepath.Join(fromScp, train.LastFile)), tensorBytes(t, filepath.Join(fromDir, train.LastFile))
	for name, d := range a {
		if !bytes.Equal(d, b[name]) {
			t.Fatalf("tensor %s differs between the scp and the folder of the same features", name)
		}
	}
	best := filepath.Join(fromScp, train.BestFile)
	code, stdout, stderr := runTrainCLI(t, "eval", "--model", best, "--cache-dir", cache)
	if code != 0 || !strings.Contains(stdout, "bits/sample") {
		t.Fatalf("eval with the run's features exited %d: %s%s", code, stdout, stderr)
	}
	code, stdout2, stderr := runTrainCLI(t, "eval", "--model", best, "--cache-dir", cache, "--features", feats)
	if code != 0 || stdout2 != stdout {
		t.Fatalf("eval --features exited %d: %q, want %q; %s", code, stdout2, stdout, stderr)
	}
	if code, _, stderr := runTrainCLI(t, "train", "--out", fromScp, "--resume", "--steps", "6", "--cache-dir", cache); code != 0 {
		t.Fatalf("resume exited %d: %s", code, stderr)
	}

	keys, ms := readScpFeatures(t, scp)
	bad := func(name string, edit func(keys []string, ms []featio.Matrix) ([]string, []featio.Matrix)) string {
		k, m := append([]string(nil), keys...), append([]featio.Matrix(nil), ms...)
		k, m = edit(k, m)
		return writeArk(t, filepath.Join(dir, name), k, m)
	}
	nan := bad("nan", func(k []string, m []featio.Matrix) ([]string, []featio.Matrix) {
		c := featio.Matrix{Rows: m[2].Rows, Cols: m[2].Cols, Data: append([]float32(nil), m[2].Data...)}
		c.Data[5] = float32(math.NaN())
		m[2] = c
		return k, m
	})
	short := bad("short", func(k []string, m []featio.Matrix) ([]string, []featio.Matrix) {
		m[1] = featio.Matrix{Rows: 1, Cols: m[1].Cols, Data: m[1].Data[:m[1].Cols]}
		return k, m
	})
	missing := bad("missing", func(k []string, m []featio.Matrix) ([]string, []featio.Matrix) { return k[1:], m[1:] })
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--features", missing}, fmt.Sprintf("has no features for key %q", keys[0])},
		{[]string{"--features", nan}, fmt.Sprintf("features of %q (%s", keys[2], filepath.Join(dir, "nan", "feats.ark"))},
		{[]string{"--features", short}, fmt.Sprintf("features of %q", keys[1])},
		{[]string{"--features", filepath.Join(dir, "none.scp")}, "none.scp"},
		{[]string{"--features", scp, "--condition", "fbank"}, "not both"},
	} {
		out := filepath.Join(dir, "refused")
		a := append([]string{"train", "--data", manifest, "--config", config, "--out", out, "--cache-dir", cache, "--steps", "1"}, c.args...)
		code, _, stderr := runTrainCLI(t, a...)
		if code != 1 || !strings.Contains(lastLine(stderr), c.want) {
			t.Errorf("%v: exit %d, stderr %q, want one line mentioning %q", c.args, code, stderr, c.want)
		}
		if _, err := os.Stat(filepath.Join(out, train.LastFile)); err == nil {
			t.Errorf("%v: a refused run wrote %s", c.args, train.LastFile)
		}
	}
	for _, c := range []struct {
		spec, want string
	}{
		{mfcc, "13 dims; the model takes 23"},
		{short, "1 frames for"},
		{missing, "has no features for key"},
	} {
		code, stdout, stderr := runTrainCLI(t, "eval", "--model", best, "--cache-dir", cache, "--features", c.spec, "--data", manifest)
		if code != 1 || stdout != "" || !strings.Contains(lastLine(stderr), c.want) {
			t.Errorf("eval --features %s: exit %d, %q %q, want one line mentioning %q", c.spec, code, stdout, stderr, c.want)
		}
	}
}
