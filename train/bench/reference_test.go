package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// tinyAdamConfig is tinyConfig as the reference measures it, with Adam,
// one training shape and two threads: what `nextsample bench`'s tests
// give the reference scripts too (they read the same file).
var tinyAdamConfig = mustRead("testdata/tiny_adam.json")

// mustRead returns the text of a test file (a panic if it is missing).
func mustRead(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		panic(err)
	}
	return string(b)
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
	cfg, err := ParseConfig([]byte(tinyAdamConfig))
	if err != nil {
		t.Fatal(err)
	}
	ref := Reference{Python: "/bin/sh", Script: fp32, BF16: bf16}

	// A training measurement: both PyTorch modes, bf16 the faster.
	var stderr bytes.Buffer
	r := Report{Result: Result{Name: "train_tiny_b2x100", SamplesPerS: 2000, GFLOPs: 6.656, RSSMiB: 12.5, Precision: "bf16"}}
	if err := ref.Compare(context.Background(), cfg, &r, &stderr); err != nil {
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
	if b, err := os.ReadFile(args[3]); err == nil {
		t.Errorf("the temporary config %s is still there (%d bytes)", args[3], len(b))
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
	r.WriteCSV(&out, true)
	f := strings.Split(strings.TrimSpace(out.String()), ",")
	want := []string{"train_tiny_b2x100", "2000.00", "6.656", "1000.00", "3.328", "2.000", "12.5", "*", "1600.00", "5.325", "1.250", "1.250", "*"}
	checkCSV(t, f, want)

	// Generation: PyTorch fp32 only; torch_bf16.py must not run.
	os.Remove(bf16 + ".args")
	stderr.Reset()
	g := Report{Result: Result{Name: "gen_fast_tiny", SamplesPerS: 1000, GFLOPs: 1.15, RSSMiB: 3}}
	if err := ref.Compare(context.Background(), cfg, &g, &stderr); err != nil {
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
	g.WriteCSV(&out, true)
	checkCSV(t, strings.Split(strings.TrimSpace(out.String()), ","),
		[]string{"gen_fast_tiny", "1000.00", "1.150", "100.00", "0.115", "10.000", "3.0", "*", "", "", "", "10.000", ""})

	// Ours alone: every reference column empty, and no script runs.
	os.Remove(fp32 + ".args")
	ft := Report{Result: Result{Name: "features_tiny", SamplesPerS: 5e5, GFLOPs: 0.1, RSSMiB: 9}}
	if err := ref.Compare(context.Background(), cfg, &ft, &stderr); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(fp32 + ".args"); err == nil {
		t.Error("the reference ran for a features measurement")
	}
	out.Reset()
	ft.WriteCSV(&out, true)
	checkCSV(t, strings.Split(strings.TrimSpace(out.String()), ","),
		[]string{"features_tiny", "500000.00", "0.100", "", "", "", "9.0", "", "", "", "", "", ""})

	// JSON has the new fields (and the old ones).
	out.Reset()
	writeJSON(t, &out, r)
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
	writeJSON(t, &out, g)
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
	cfg, err := ParseConfig([]byte(tinyAdamConfig))
	if err != nil {
		t.Fatal(err)
	}

	var stderr bytes.Buffer
	r := Report{Result: Result{Name: "train_tiny_b2x100", SamplesPerS: 1500}}
	if err := (Reference{Python: "/bin/sh", Script: fp32, BF16: slow}).Compare(context.Background(), cfg, &r, &stderr); err != nil {
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
		r := Report{Result: Result{Name: "train_tiny_b2x100", SamplesPerS: 1500}}
		err := (Reference{Python: "/bin/sh", Script: fp32, BF16: script}).Compare(context.Background(), cfg, &r, &stderr)
		if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "reference bf16") {
			t.Errorf("%s: error %v, want %q", filepath.Base(script), err, want)
		}
	}
	if !strings.Contains(stderr.String(), "# reference bf16: Traceback: no autocast") {
		t.Errorf("the failing script's stderr is not passed on:\n%s", stderr.String())
	}
}

// TestBenchTorchBF16Real runs train/recipe/torch_bf16.py on a tiny configuration
// with the PyTorch reference of shared/bench beside the repository or
// beside one of its parents (skipped without it, or without torch in
// /usr/bin/python3).
func TestBenchTorchBF16Real(t *testing.T) {
	if testing.Short() {
		t.Skip("runs PyTorch")
	}
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	abs := filepath.Join(root, filepath.FromSlash(BF16Script))
	if _, err := os.Stat(abs); err != nil {
		t.Fatalf("%s not found: %v", BF16Script, err)
	}
	reference := ""
	for dir := root; filepath.Dir(dir) != dir && reference == ""; dir = filepath.Dir(dir) {
		if p := filepath.Join(filepath.Dir(dir), "shared", "bench", "torch_wavenet.py"); fileExists(p) {
			reference = p
		}
	}
	if reference == "" {
		t.Skipf("no PyTorch reference shared/bench/torch_wavenet.py beside %s or its parents", root)
	}
	if out, err := exec.Command("/usr/bin/python3", "-c", "import torch").CombinedOutput(); err != nil {
		t.Skipf("/usr/bin/python3 cannot import torch: %v %s", err, out)
	}
	cfg := filepath.Join(t.TempDir(), "config.json")
	if err := os.WriteFile(cfg, []byte(tinyAdamConfig), 0o644); err != nil {
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
	r, ok := parseLine(stdout.String(), "train_tiny_b2x100_bf16")
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

// writeJSON writes r as `nextsample bench --json` prints it.
func writeJSON(t *testing.T, w io.Writer, r Report) {
	t.Helper()
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(w, "%s\n", b)
}

func fileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir()
}
