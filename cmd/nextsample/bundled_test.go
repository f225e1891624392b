package main

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Without --model, features, generate and eval use the bundled base model
// (samples/base/model.safetensors, looked up from the current directory
// upwards and beside the executable) and say so on stderr; where there is
// none they refuse with one line naming --model and the path looked for.
// The test works in a directory of its own, so the repository's own
// bundled model (if present) is not what it finds.
func TestBundledModelDefault(t *testing.T) {
	manifest := featuresCorpus(t)
	model := featuresModel(t, true)
	dir := t.TempDir()
	t.Chdir(dir)

	// No bundled model: one line, exit 1, nothing written.
	out := filepath.Join(dir, "feats")
	for _, args := range [][]string{
		{"features", "--data", manifest, "--out", out},
		{"features", "--kind", "learned", "--data", manifest, "--out", out},
		{"eval", "--data", manifest},
		{"generate", "--samples", "10", "--out", filepath.Join(dir, "g.wav")},
	} {
		code, _, stderr := runCLI("", args...)
		if code != 1 || !strings.Contains(stderr, "give --model FILE") || !strings.Contains(stderr, BundledModel) ||
			strings.Count(strings.TrimSpace(stderr), "\n") > 0 {
			t.Errorf("%v without a bundled model: exit %d, stderr %q; want 1 and one line naming --model and %s", args, code, stderr, BundledModel)
		}
	}
	if _, err := os.Stat(out); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a refused run created %s", out)
	}

	// A bundled model in this directory's samples/base: used, and said so.
	bundled := filepath.Join(dir, filepath.FromSlash(BundledModel))
	if err := os.MkdirAll(filepath.Dir(bundled), 0o755); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(model)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bundled, data, 0o644); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := runFeaturesCLI(context.Background(), "--data", manifest, "--out", out)
	if code != 0 || !strings.Contains(stderr, "no --model given: using the bundled base model "+filepath.FromSlash(BundledModel)) {
		t.Fatalf("features with the bundled model: exit %d\n%s%s", code, stdout, stderr)
	}
	viaFlag := filepath.Join(dir, "via-flag")
	if code, stdout, stderr := runFeaturesCLI(context.Background(), "--model", model, "--data", manifest, "--out", viaFlag); code != 0 {
		t.Fatalf("features --model: exit %d\n%s%s", code, stdout, stderr)
	}
	for _, name := range []string{"feats.ark", "feats.scp"} {
		a, errA := os.ReadFile(filepath.Join(out, name))
		b, errB := os.ReadFile(filepath.Join(viaFlag, name))
		if errA != nil || errB != nil {
			t.Fatalf("%s: %v, %v", name, errA, errB)
		}
		if name == "feats.ark" && string(a) != string(b) {
			t.Errorf("the bundled model's features differ from --model's on the same file")
		}
	}
	code, stdout, stderr = runCLI("", "eval", "--data", manifest, "--json")
	if code != 0 || !strings.Contains(stdout, "bits_per_sample") || !strings.Contains(stderr, "eval: no --model given") {
		t.Errorf("eval with the bundled model: exit %d\n%s%s", code, stdout, stderr)
	}
}
