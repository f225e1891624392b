package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"

	"github.com/nextsample/nextsample/train/bench"
)

// tinyBenchConfig is a bench configuration small enough to measure in a
// test: every measurement kind, a few milliseconds each.
var tinyBenchConfig = func() string {
	b, err := os.ReadFile("../../train/bench/testdata/tiny_adam.json")
	if err != nil {
		panic(err)
	}
	return string(b)
}()

// TestBenchChild runs the measurements in-process (the child side of
// `nextsample bench`) and checks that each prints one sane JSON result,
// with the reference's names and the FLOP units it documents.
func TestBenchChild(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "config.json")
	if err := os.WriteFile(cfg, []byte(tinyBenchConfig), 0o644); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{"nextsample", "bench", "--child", "--json", "--config", cfg,
		"--only", "^(train|gen)_"}, nil, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	want := []string{"train_tiny_b2x100", "gen_naive_tiny", "gen_fast_tiny", "train_tinyk3_b2x100", "gen_naive_tinyk3", "gen_fast_tinyk3"}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	if len(lines) != len(want) {
		t.Fatalf("%d results, want %d:\n%s", len(lines), len(want), stdout.String())
	}
	for i, line := range lines {
		var r bench.Result
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		if r.Name != want[i] {
			t.Errorf("result %d is %s, want %s", i, r.Name, want[i])
		}
		if !(r.SamplesPerS > 0) || !(r.GFLOPs > 0) || r.N < 3 || !(r.BestS <= r.MedianS && r.MedianS <= r.MaxS) {
			t.Errorf("%s: implausible %+v", r.Name, r)
		}
		// With the median statistic the rate is the unit over the median time.
		if got := float64(r.Unit) / r.MedianS; got < 0.999*r.SamplesPerS || got > 1.001*r.SamplesPerS {
			t.Errorf("%s: %v samples/s, but unit/median = %v", r.Name, r.SamplesPerS, got)
		}
	}
	if !strings.Contains(stderr.String(), "# train_tiny_b2x100: n=") {
		t.Errorf("no diagnostic line on stderr:\n%s", stderr.String())
	}
}

func TestBenchRefusals(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--only", "nothing-matches"}, "matches no measurement"},
		{[]string{"--only", "("}, "--only"},
		{[]string{"--statistic", "mean"}, "best or median"},
		{[]string{"--kernels", "nonesuch"}, "--kernels"},
		{[]string{"--config", "/nonexistent/config.json"}, "no such file"},
		{[]string{"--against", "/nonexistent/torch_wavenet.py", "--only", "gen_fast_skip256"}, "--against"},
	} {
		var stdout, stderr bytes.Buffer
		code := run(context.Background(), append([]string{"nextsample", "bench"}, tc.args...), nil, &stdout, &stderr)
		if code != 1 || !strings.Contains(stderr.String(), tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want 1 and %q", tc.args, code, stderr.String(), tc.want)
		}
	}
}

// TestBenchAgainstBF16Flag: --against-bf16 given must exist; not given, it
// is found from the current directory upward, or skipped with a note.
func TestBenchAgainstBF16Flag(t *testing.T) {
	root := t.TempDir()
	against := filepath.Join(root, "torch_wavenet.py")
	if err := os.WriteFile(against, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	refsFor := func(args ...string) (bench.Reference, string, error) {
		var refs bench.Reference
		var stderr bytes.Buffer
		var rerr error
		app := &cli.App{Flags: benchCommand().Flags, Writer: io.Discard, ErrWriter: io.Discard,
			Action: func(c *cli.Context) error { refs, rerr = benchReference(c, &stderr); return nil }}
		if err := app.Run(append([]string{"bench"}, args...)); err != nil {
			t.Fatal(err)
		}
		return refs, stderr.String(), rerr
	}

	repo := filepath.Join(root, "repo")
	sub := filepath.Join(repo, "cmd", "nextsample")
	script := filepath.Join(repo, filepath.FromSlash(bench.BF16Script))
	for _, d := range []string{sub, filepath.Dir(script)} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	t.Chdir(sub)

	// Not in the tree yet: skipped, with a note.
	refs, note, err := refsFor("--against", against)
	if err != nil || refs.BF16 != "" || refs.Script != against || !strings.Contains(note, "not measured") {
		t.Errorf("no torch_bf16.py: %+v, %v, note %q", refs, err, note)
	}
	if err := os.WriteFile(script, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	refs, note, err = refsFor("--against", against)
	if err != nil || note != "" || !sameFile(refs.BF16, script) {
		t.Errorf("found %q (want %s), %v, note %q", refs.BF16, script, err, note)
	}
	t.Chdir(repo)
	if refs, _, err = refsFor("--against", against); err != nil || refs.BF16 != filepath.FromSlash(bench.BF16Script) {
		t.Errorf("from the root: %q, %v; want the relative path", refs.BF16, err)
	}
	if refs, note, err = refsFor("--against", against, "--against-bf16", ""); err != nil || refs.BF16 != "" || note != "" {
		t.Errorf("--against-bf16 '': %+v, %v, note %q", refs, err, note)
	}
	if refs, _, err = refsFor("--against", against, "--against-bf16", script); err != nil || refs.BF16 != script {
		t.Errorf("--against-bf16 %s: %+v, %v", script, refs, err)
	}
	if refs, _, err = refsFor(); err != nil || refs.Script != "" || refs.BF16 != "" {
		t.Errorf("no --against: %+v, %v", refs, err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--against", against, "--against-bf16", "/nonexistent/torch_bf16.py"}, "--against-bf16: stat /nonexistent"},
		{[]string{"--against-bf16", script}, "needs --against"},
	} {
		if _, _, err := refsFor(tc.args...); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want %q", tc.args, err, tc.want)
		}
	}
}

func sameFile(a, b string) bool {
	sa, err1 := os.Stat(a)
	sb, err2 := os.Stat(b)
	return err1 == nil && err2 == nil && os.SameFile(sa, sb)
}
