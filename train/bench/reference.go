package bench

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
)

// BF16Script is where torch_bf16.py, PyTorch's bf16 autocast training
// steps, lies in the repository, relative to its root.
const BF16Script = "train/recipe/torch_bf16.py"

// Reference is the PyTorch side of a comparison: the reference benchmark
// torch_wavenet.py, which measures in float32, and optionally
// torch_bf16.py, which imports it and times the same training steps with
// the forward pass and the loss under torch.autocast("cpu",
// dtype=torch.bfloat16).
//
// Each script is run for one measurement at a time (a Runner runs it right
// after ours, so that both see the machine in the same state), with
// OPENBLAS_CORETYPE unset as the reference's README asks, and must print
// that measurement on stdout as a line name,samples_per_s,gflops, the bf16
// one under the name with "_bf16" appended.
type Reference struct {
	// Python is the interpreter that runs the scripts; it needs torch.
	Python string
	// Script is the reference benchmark, torch_wavenet.py.
	Script string
	// BF16 is torch_bf16.py; "" skips PyTorch's bf16 autocast.
	BF16 string
}

// Compare runs the measurement r.Name with the reference and, for a
// training measurement, with PyTorch's bf16 autocast right after it, both
// reading c's configuration file, fills in r's reference figures and
// ratios, and writes a summary of them on diag (# lines). Feature
// extraction is ours alone: r is left as it is, and nothing runs.
//
// The scripts' stderr lines about this measurement (those starting with
// "# " and its name), any that are not # diagnostics (a traceback), and
// torch_bf16.py's "# autocast" checks are passed on to diag, marked
// "# reference: " or "# reference bf16: ". A script that fails, or prints
// no line for the measurement, is an error; if ctx is cancelled, the
// error is ctx's.
func (ref Reference) Compare(ctx context.Context, c *Config, r *Report, diag io.Writer) error {
	name := r.Name
	if strings.HasPrefix(name, "features_") {
		return nil
	}
	cfgPath, cleanup, err := c.file()
	if err != nil {
		return err
	}
	defer cleanup()
	fp32, err := ref.run(ctx, []string{ref.Script, "--config", cfgPath, "--only", exactly(name)},
		name, "reference", nil, diag)
	if err != nil {
		return err
	}
	var bf16 *Result
	if ref.BF16 != "" && strings.HasPrefix(name, "train_") {
		b, err := ref.run(ctx, []string{ref.BF16, "--reference", ref.Script, "--config", cfgPath, "--only", exactly(name + "_bf16")},
			name+"_bf16", "reference bf16", []string{"# autocast"}, diag)
		if err != nil {
			return err
		}
		bf16 = &b
	}
	r.setReferences(fp32, bf16)
	r.writeComparison(diag, bf16 != nil)
	return nil
}

// exactly is the --only regular expression that matches name alone.
func exactly(name string) string { return "^" + regexp.QuoteMeta(name) + "$" }

// file is the path of c's configuration file, for the reference scripts:
// c.Path, or a copy of the bytes c was parsed from in a temporary file
// that cleanup removes.
func (c *Config) file() (path string, cleanup func(), err error) {
	if c.Path != "" {
		return c.Path, func() {}, nil
	}
	f, err := os.CreateTemp("", "nextsample-bench-*.json")
	if err != nil {
		return "", nil, err
	}
	cleanup = func() { os.Remove(f.Name()) }
	if _, err := f.Write(c.data); err != nil {
		f.Close()
		cleanup()
		return "", nil, err
	}
	if err := f.Close(); err != nil {
		cleanup()
		return "", nil, err
	}
	return f.Name(), cleanup, nil
}

// run runs a PyTorch script (args[0], then its arguments) for the
// measurement name and returns the line it prints for it, with its peak
// RSS. Its stderr lines about that measurement, those starting with one
// of the prefixes keep, and any that are not # diagnostics are passed on
// to diag, marked with label.
func (ref Reference) run(ctx context.Context, args []string, name, label string, keep []string, diag io.Writer) (Result, error) {
	script := args[0]
	cmd := exec.CommandContext(ctx, ref.Python, args...)
	// The reference's numbers are taken with OPENBLAS_CORETYPE unset (its
	// README): a machine-wide Haswell setting slows its generation.
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "OPENBLAS_CORETYPE=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	var out, errOut bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &errOut
	err := cmd.Run()
	sc := bufio.NewScanner(&errOut)
	for sc.Scan() {
		line := sc.Text()
		pass := strings.HasPrefix(line, "# "+name) || !strings.HasPrefix(line, "#")
		for _, p := range keep {
			pass = pass || strings.HasPrefix(line, p)
		}
		if pass {
			fmt.Fprintf(diag, "# %s: %s\n", label, strings.TrimPrefix(line, "# "))
		}
	}
	if err != nil {
		if ctx.Err() != nil {
			return Result{}, ctx.Err()
		}
		return Result{}, fmt.Errorf("%s %s for %s: %w", label, script, name, err)
	}
	if r, ok := parseLine(out.String(), name); ok {
		r.RSSMiB = peakRSSMiB(cmd.ProcessState)
		return r, nil
	}
	return Result{}, fmt.Errorf("%s %s printed no line for %s (stdout %q)", label, script, name, out.String())
}

// parseLine finds the measurement name in a reference script's stdout
// (name,samples_per_s,gflops lines).
func parseLine(stdout, name string) (Result, bool) {
	for _, line := range strings.Split(stdout, "\n") {
		f := strings.Split(strings.TrimSpace(line), ",")
		if len(f) == 3 && f[0] == name {
			sps, err1 := strconv.ParseFloat(f[1], 64)
			gf, err2 := strconv.ParseFloat(f[2], 64)
			if err1 != nil || err2 != nil {
				return Result{}, false
			}
			return Result{Name: name, SamplesPerS: sps, GFLOPs: gf}, true
		}
	}
	return Result{}, false
}
