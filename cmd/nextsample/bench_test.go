package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"
)

// tinyBenchConfig is a bench configuration small enough to measure in a
// test: every measurement kind, a few milliseconds each.
const tinyBenchConfig = `{
  "format": "wavenet-bench-config/v1",
  "model": {"quantization_channels": 16, "input_encoding": "onehot", "input_kernel_size": 1,
            "residual_channels": 4, "dilation_channels": 4, "skip_channels": 8, "end_channels": 8,
            "kernel_size": 2, "dilations": [1, 2, 4], "bias": true, "residual_on_last_layer": false},
  "variants": {"tiny": {}, "tinyk3": {"kernel_size": 3}},
  "train": {"optimizer": "adam", "learning_rate": 0.001, "beta1": 0.9, "beta2": 0.999, "epsilon": 1e-8,
            "weight_decay": 0.0, "shapes": [{"batch": 2, "samples": 100}],
            "warmup_steps": 1, "min_steps": 3, "min_seconds": 0},
  "generate": {"batch": 1, "temperature": 1.0, "naive_warmup_samples": 1, "naive_samples": 3,
               "fast_warmup_samples": 10, "fast_samples": 60, "fast_block_samples": 20},
  "data": {"source": "synthetic", "sample_rate": 16000},
  "runtime": {"threads": 2, "seed": 1234, "statistic": "median"}
}`

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
		var r benchResult
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

// fakeReference writes a shell script that stands in for a PyTorch
// reference script (run with python = /bin/sh): it records its arguments in
// args.txt beside it and prints body.
func fakeReference(t *testing.T, dir, name, body string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	script := "printf '%s\\n' \"$@\" > " + p + ".args\n" + body
	if err := os.WriteFile(p, []byte(script), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func readArgs(t *testing.T, script string) []string {
	t.Helper()
	b, err := os.ReadFile(script + ".args")
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSpace(string(b)), "\n")
}

// TestBenchCompareFake runs the --against comparison with fake reference
// scripts that print fixed lines, and checks the parsing, the ratios, the
// stderr summary and the CSV and JSON output.
func TestBenchCompareFake(t *testing.T) {
	dir := t.TempDir()
	fp32 := fakeReference(t, dir, "torch_wavenet.py", `
echo "# torch 1.13 threads=2" >&2
echo "# train_tiny_b2x100: n=5 s/unit best=0.1 loss 2.794->2.786" >&2
echo "a traceback line" >&2
echo "gen_fast_tiny,100.00,0.115"
echo "train_tiny_b2x100,1000.00,3.328"
`)
	bf16 := fakeReference(t, dir, "torch_bf16.py", `
echo "# autocast bf16 ON: torch 1.13" >&2
echo "# torch 1.13 threads=2" >&2
echo "# train_tiny_b2x100_bf16: n=5 s/unit best=0.1 loss 2.794->2.785" >&2
echo "train_tiny_b2x100_bf16,1600.00,5.325"
`)
	plan := &benchPlan{raw: []byte(tinyBenchConfig)}
	refs := benchRefs{python: "/bin/sh", script: fp32, bf16: bf16}

	// A training measurement: both PyTorch modes, bf16 the faster.
	var stderr bytes.Buffer
	r := benchResult{Name: "train_tiny_b2x100", SamplesPerS: 2000, GFLOPs: 6.656, RSSMiB: 12.5, Precision: "bf16"}
	if err := refs.compare(context.Background(), plan, &r, &stderr); err != nil {
		t.Fatal(err)
	}
	if r.RefSamplesPerS != 1000 || r.RefGFLOPs != 3.328 || r.Ratio != 2 ||
		r.RefBF16SamplesPerS != 1600 || r.RefBF16GFLOPs != 5.325 || r.RatioBF16 != 1.25 ||
		r.BestRatio != 1.25 || r.RefBest != "bf16" || !(r.RefRSSMiB > 0) || !(r.RefBF16RSSMiB > 0) {
		t.Errorf("references: %+v", r)
	}
	args := readArgs(t, bf16)
	if len(args) != 6 || args[0] != "--reference" || args[1] != fp32 || args[2] != "--config" ||
		args[4] != "--only" || args[5] != `^train_tiny_b2x100_bf16$` {
		t.Errorf("torch_bf16.py arguments %q", args)
	}
	if cfg, err := os.ReadFile(args[3]); err == nil {
		t.Errorf("the temporary config %s is still there (%d bytes)", args[3], len(cfg))
	}
	if args := readArgs(t, fp32); len(args) != 4 || args[3] != `^train_tiny_b2x100$` {
		t.Errorf("torch_wavenet.py arguments %q", args)
	}
	for _, want := range []string{
		"# reference: train_tiny_b2x100: n=5",
		"# reference: a traceback line",
		"# reference bf16: autocast bf16 ON",
		"# reference bf16: train_tiny_b2x100_bf16: n=5 s/unit best=0.1 loss 2.794->2.785",
		"# train_tiny_b2x100: ours (bf16) 2000.0 samples/s",
		"reference 1000.0 (3.3 GFLOP/s",
		"PyTorch fp32 1000.0 samples/s, bf16 autocast 1600.0 (5.3 GFLOP/s",
		"ours (bf16) 2.00x fp32, 1.25x bf16, best mode (bf16) 1.25x",
	} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr.String())
		}
	}
	if strings.Contains(stderr.String(), "torch 1.13 threads") {
		t.Errorf("stderr has the scripts' other diagnostics:\n%s", stderr.String())
	}
	var out bytes.Buffer
	printBenchResult(&out, r, false, true)
	f := strings.Split(strings.TrimSpace(out.String()), ",")
	want := []string{"train_tiny_b2x100", "2000.00", "6.656", "1000.00", "3.328", "2.000", "12.5", "*", "1600.00", "5.325", "1.250", "1.250", "*"}
	checkCSV(t, f, want)

	// Generation: PyTorch fp32 only; torch_bf16.py must not run.
	os.Remove(bf16 + ".args")
	stderr.Reset()
	g := benchResult{Name: "gen_fast_tiny", SamplesPerS: 1000, GFLOPs: 1.15, RSSMiB: 3}
	if err := refs.compare(context.Background(), plan, &g, &stderr); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(bf16 + ".args"); err == nil {
		t.Error("torch_bf16.py ran for a generation measurement")
	}
	if g.Ratio != 10 || g.RefBF16SamplesPerS != 0 || g.RatioBF16 != 0 || g.BestRatio != 10 || g.RefBest != "fp32" {
		t.Errorf("generation: %+v", g)
	}
	if strings.Contains(stderr.String(), "bf16") {
		t.Errorf("stderr mentions bf16 for generation:\n%s", stderr.String())
	}
	out.Reset()
	printBenchResult(&out, g, false, true)
	checkCSV(t, strings.Split(strings.TrimSpace(out.String()), ","),
		[]string{"gen_fast_tiny", "1000.00", "1.150", "100.00", "0.115", "10.000", "3.0", "*", "", "", "", "10.000", ""})

	// Ours alone: every reference column empty, and no script runs.
	os.Remove(fp32 + ".args")
	ft := benchResult{Name: "features_tiny", SamplesPerS: 5e5, GFLOPs: 0.1, RSSMiB: 9}
	if err := refs.compare(context.Background(), plan, &ft, &stderr); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(fp32 + ".args"); err == nil {
		t.Error("the reference ran for a features measurement")
	}
	out.Reset()
	printBenchResult(&out, ft, false, true)
	checkCSV(t, strings.Split(strings.TrimSpace(out.String()), ","),
		[]string{"features_tiny", "500000.00", "0.100", "", "", "", "9.0", "", "", "", "", "", ""})

	// JSON has the new fields (and the old ones).
	out.Reset()
	printBenchResult(&out, r, true, true)
	var m map[string]any
	if err := json.Unmarshal(out.Bytes(), &m); err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]any{"ref_samples_per_s": 1000.0, "ratio": 2.0, "ref_bf16_samples_per_s": 1600.0,
		"ref_bf16_gflops": 5.325, "ratio_bf16": 1.25, "best_ratio": 1.25, "ref_best": "bf16"} {
		if m[k] != v {
			t.Errorf("JSON %s = %v, want %v (%s)", k, m[k], v, out.String())
		}
	}
	if _, ok := m["ref_bf16_rss_mib"]; !ok {
		t.Errorf("JSON has no ref_bf16_rss_mib: %s", out.String())
	}
	out.Reset()
	printBenchResult(&out, g, true, true)
	if strings.Contains(out.String(), "bf16") {
		t.Errorf("generation JSON has bf16 fields: %s", out.String())
	}
}

func checkCSV(t *testing.T, got, want []string) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("CSV has %d columns, want %d: %q", len(got), len(want), got)
		return
	}
	for i := range want {
		if want[i] == "*" {
			if _, err := strconv.ParseFloat(got[i], 64); err != nil {
				t.Errorf("CSV column %d = %q, want a number", i+1, got[i])
			}
		} else if got[i] != want[i] {
			t.Errorf("CSV column %d = %q, want %q (%q)", i+1, got[i], want[i], got)
		}
	}
}

// TestBenchCompareFakeModes: "best mode" is the faster PyTorch mode, and a
// bf16 script that fails or prints nothing for the measurement is an error.
func TestBenchCompareFakeModes(t *testing.T) {
	dir := t.TempDir()
	fp32 := fakeReference(t, dir, "torch_wavenet.py", `echo "train_tiny_b2x100,1000.00,3.328"`)
	slow := fakeReference(t, dir, "slow_bf16.py", `echo "train_tiny_b2x100_bf16,800.00,2.662"`)
	wrong := fakeReference(t, dir, "wrong_bf16.py", `echo "train_tiny_b2x100,800.00,2.662"`)
	failing := fakeReference(t, dir, "failing_bf16.py", `echo "Traceback: no autocast" >&2; exit 1`)
	plan := &benchPlan{raw: []byte(tinyBenchConfig)}

	var stderr bytes.Buffer
	r := benchResult{Name: "train_tiny_b2x100", SamplesPerS: 1500}
	if err := (benchRefs{python: "/bin/sh", script: fp32, bf16: slow}).compare(context.Background(), plan, &r, &stderr); err != nil {
		t.Fatal(err)
	}
	if r.Ratio != 1.5 || r.RatioBF16 != 1.875 || r.BestRatio != 1.5 || r.RefBest != "fp32" {
		t.Errorf("bf16 slower than fp32: %+v", r)
	}
	if !strings.Contains(stderr.String(), "best mode (fp32) 1.50x") {
		t.Errorf("stderr:\n%s", stderr.String())
	}
	// In this order: the failing script's stderr is checked after the loop.
	for _, c := range []struct{ script, want string }{
		{wrong, "printed no line for train_tiny_b2x100_bf16"},
		{failing, "exit status 1"},
	} {
		script, want := c.script, c.want
		stderr.Reset()
		r := benchResult{Name: "train_tiny_b2x100", SamplesPerS: 1500}
		err := (benchRefs{python: "/bin/sh", script: fp32, bf16: script}).compare(context.Background(), plan, &r, &stderr)
		if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "reference bf16") {
			t.Errorf("%s: error %v, want %q", filepath.Base(script), err, want)
		}
	}
	if !strings.Contains(stderr.String(), "# reference bf16: Traceback: no autocast") {
		t.Errorf("the failing script's stderr is not passed on:\n%s", stderr.String())
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
	refsFor := func(args ...string) (benchRefs, string, error) {
		var refs benchRefs
		var stderr bytes.Buffer
		var rerr error
		app := &cli.App{Flags: benchCommand().Flags, Writer: io.Discard, ErrWriter: io.Discard,
			Action: func(c *cli.Context) error { refs, rerr = benchReferences(c, &stderr); return nil }}
		if err := app.Run(append([]string{"bench"}, args...)); err != nil {
			t.Fatal(err)
		}
		return refs, stderr.String(), rerr
	}

	repo := filepath.Join(root, "repo")
	sub := filepath.Join(repo, "cmd", "nextsample")
	script := filepath.Join(repo, filepath.FromSlash(benchBF16Script))
	for _, d := range []string{sub, filepath.Dir(script)} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	t.Chdir(sub)

	// Not in the tree yet: skipped, with a note.
	refs, note, err := refsFor("--against", against)
	if err != nil || refs.bf16 != "" || refs.script != against || !strings.Contains(note, "not measured") {
		t.Errorf("no torch_bf16.py: %+v, %v, note %q", refs, err, note)
	}
	if err := os.WriteFile(script, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	refs, note, err = refsFor("--against", against)
	if err != nil || note != "" || !sameFile(refs.bf16, script) {
		t.Errorf("found %q (want %s), %v, note %q", refs.bf16, script, err, note)
	}
	t.Chdir(repo)
	if refs, _, err = refsFor("--against", against); err != nil || refs.bf16 != filepath.FromSlash(benchBF16Script) {
		t.Errorf("from the root: %q, %v; want the relative path", refs.bf16, err)
	}
	if refs, note, err = refsFor("--against", against, "--against-bf16", ""); err != nil || refs.bf16 != "" || note != "" {
		t.Errorf("--against-bf16 '': %+v, %v, note %q", refs, err, note)
	}
	if refs, _, err = refsFor("--against", against, "--against-bf16", script); err != nil || refs.bf16 != script {
		t.Errorf("--against-bf16 %s: %+v, %v", script, refs, err)
	}
	if refs, _, err = refsFor(); err != nil || refs.script != "" || refs.bf16 != "" {
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

// TestBenchTorchBF16Real runs train/recipe/torch_bf16.py on a tiny configuration
// with the PyTorch reference of ../shared/bench (skipped without it, or
// without torch in /usr/bin/python3).
func TestBenchTorchBF16Real(t *testing.T) {
	if testing.Short() {
		t.Skip("runs PyTorch")
	}
	script, ok := findRepoFile(benchBF16Script)
	if !ok {
		t.Fatalf("%s not found", benchBF16Script)
	}
	abs, err := filepath.Abs(script)
	if err != nil {
		t.Fatal(err)
	}
	root := strings.TrimSuffix(abs, string(filepath.Separator)+filepath.FromSlash(benchBF16Script))
	reference := filepath.Join(filepath.Dir(root), "shared", "bench", "torch_wavenet.py")
	if _, err := os.Stat(reference); err != nil {
		t.Skipf("no PyTorch reference: %v", err)
	}
	if out, err := exec.Command("/usr/bin/python3", "-c", "import torch").CombinedOutput(); err != nil {
		t.Skipf("/usr/bin/python3 cannot import torch: %v %s", err, out)
	}
	cfg := filepath.Join(t.TempDir(), "config.json")
	if err := os.WriteFile(cfg, []byte(tinyBenchConfig), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("/usr/bin/python3", abs, "--reference", reference, "--config", cfg, "--only", "^train_tiny_b2x100")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%v\n%s", err, stderr.String())
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	if len(lines) != 1 || !strings.HasPrefix(lines[0], "train_tiny_b2x100_bf16,") {
		t.Fatalf("stdout %q, want one line for train_tiny_b2x100_bf16", stdout.String())
	}
	r, ok := parseReferenceLine(stdout.String(), "train_tiny_b2x100_bf16")
	if !ok || !(r.SamplesPerS > 0) || !(r.GFLOPs > 0) {
		t.Errorf("stdout %q: parsed %+v, %v", stdout.String(), r, ok)
	}
	for _, want := range []string{
		"# autocast bf16 ON",
		"# torch 1.13",
		"threads=2",
		"GLIBC_TUNABLES=glibc.malloc",
		"# autocast check: logits torch.bfloat16, parameters torch.float32",
		"# autocast check: loss torch.float32",
		"# train_tiny_b2x100_bf16: n=",
		" loss 2.",
	} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr.String())
		}
	}
	for _, line := range strings.Split(strings.TrimSpace(stderr.String()), "\n") {
		if !strings.HasPrefix(line, "# ") {
			t.Errorf("stderr line without #: %q", line)
		}
	}
}
