package main

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"

	"github.com/urfave/cli/v2"

	"github.com/nextsample/nextsample/audio/regular"
	"github.com/nextsample/nextsample/causalconv"
	"github.com/nextsample/nextsample/causalconv/kernels"
	"github.com/nextsample/nextsample/train/bench"
)

// benchConfig is a copy of the reference benchmark's config.json, used when
// --config is not given, so that `nextsample bench` alone measures what
// `torch_wavenet.py` alone does.
//
//go:embed bench_config.json
var benchConfig []byte

func benchCommand() *cli.Command {
	return &cli.Command{
		Name:      "bench",
		Usage:     "measure throughput in the reference benchmark's names and units",
		ArgsUsage: " ",
		Description: "Runs the measurements of the PyTorch reference (torch_wavenet.py) with the same\n" +
			"configuration file, names and units, and prints one CSV line per measurement on\n" +
			"stdout: name,samples_per_s,gflops. Diagnostics go to stderr, on lines starting with #.\n\n" +
			"  train_<variant>_b<B>x<T>  one training step (forward, cross-entropy, backward, Adam)\n" +
			"                            on B sequences of T samples; rate = timesteps trained/s\n" +
			"  gen_naive_<variant>       one sample from the full network over the last RF samples\n" +
			"  gen_fast_<variant>        one sample with per-layer queues (two cores with --threads ≥ 2)\n" +
			"  features_<variant>        learned frame features (skip sum, mean-pooled), audio samples/s\n" +
			"  features_fbank            Kaldi log-mel filterbank, audio samples/s\n\n" +
			"gflops uses the reference's model FLOP counts (GEMM work only). Every measurement runs\n" +
			"in a fresh child process, so its peak RSS is its own (reported on stderr and in --json).\n" +
			"With --against PATH/torch_wavenet.py each measurement the reference also has is run by\n" +
			"it right after ours (python with OPENBLAS_CORETYPE unset), and the ratios are printed.\n" +
			"The reference runs in float32; for the train_ measurements PyTorch's mixed precision runs\n" +
			"too, right after it: train/recipe/torch_bf16.py (--against-bf16) imports the reference and\n" +
			"times the same steps with the forward pass and the loss under\n" +
			"torch.autocast(\"cpu\", dtype=torch.bfloat16). Ours (in --precision) is compared with both\n" +
			"modes and with the faster of the two (\"best mode\"). stdout then has\n" +
			"  name,samples_per_s,gflops,ref_samples_per_s,ref_gflops,ratio,rss_mib,ref_rss_mib,\n" +
			"  ref_bf16_samples_per_s,ref_bf16_gflops,ratio_bf16,best_ratio,ref_bf16_rss_mib\n" +
			"where ref_* is PyTorch float32, ref_bf16_* PyTorch bf16 autocast (empty for generation,\n" +
			"which stays float32, or when torch_bf16.py is not found), ratio = ours / fp32,\n" +
			"ratio_bf16 = ours / bf16 and best_ratio = ours / the faster PyTorch mode measured.\n\n" +
			"Examples:\n" +
			"  nextsample bench --only 'train_skip256_b1x16000'\n" +
			"  nextsample bench --config ../shared/bench/config.json --against ../shared/bench/torch_wavenet.py\n" +
			"  nextsample bench --only '^train_' --precision bf16 --against ../shared/bench/torch_wavenet.py",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "config", Usage: "benchmark configuration `FILE` in the reference's format", DefaultText: "a built-in copy of the reference's config.json"},
			&cli.StringFlag{Name: "only", Usage: "run only the measurements whose names match `REGEX`"},
			&cli.BoolFlag{Name: "json", Usage: "print one JSON object per measurement instead of CSV"},
			&cli.StringFlag{Name: "against", Usage: "also run the reference `PATH/torch_wavenet.py`, back to back, and print ratios"},
			&cli.StringFlag{Name: "against-bf16", Usage: "with --against, also run `PATH/torch_bf16.py`, PyTorch's bf16 autocast training, right after the reference's train_ measurements", DefaultText: benchBF16Script + " in the current directory or a parent; skipped if there is none"},
			&cli.StringFlag{Name: "python", Value: "/usr/bin/python3", Usage: "Python interpreter for --against and --against-bf16 (it needs torch)"},
			&cli.IntFlag{Name: "threads", Usage: "threads for training and features", DefaultText: "the config's runtime.threads"},
			&cli.StringFlag{Name: "statistic", Usage: "best or median of the per-unit times", DefaultText: "the config's runtime.statistic"},
			&cli.StringFlag{Name: "kernels", Usage: "kernel set: " + strings.Join(kernelNames(), ", "), DefaultText: "the fastest this CPU runs"},
			&cli.StringFlag{Name: "precision", Value: "fp32", Usage: "arithmetic of the training measurements' matrix products: fp32, or bf16 (mixed precision, as in train --precision; the reference runs fp32, and --against-bf16 PyTorch's bf16 autocast)"},
			&cli.BoolFlag{Name: "child", Hidden: true, Usage: "run the measurements in this process (used by the parent)"},
		},
		Action: runBench,
	}
}

func kernelNames() []string {
	var names []string
	for _, s := range kernels.Sets() {
		names = append(names, s.Name)
	}
	return names
}

// benchResult is one line of the report: a measurement (the fields of
// bench.Result, whose JSON a child prints and the parent reads into this)
// with the peak RSS of the child that ran it and, with --against, the
// reference's figures.
type benchResult struct {
	Name        string  `json:"name"`
	SamplesPerS float64 `json:"samples_per_s"`
	GFLOPs      float64 `json:"gflops"`
	N           int     `json:"n"`
	Unit        int     `json:"unit_samples"`
	BestS       float64 `json:"best_s"`
	MedianS     float64 `json:"median_s"`
	MaxS        float64 `json:"max_s"`
	Note        string  `json:"note,omitempty"`
	RSSMiB      float64 `json:"rss_mib,omitempty"`
	// Precision is the training measurements' arithmetic (fp32 or bf16).
	Precision string `json:"precision,omitempty"`

	// With --against: the reference's figures (PyTorch float32) and ours / theirs.
	RefSamplesPerS float64 `json:"ref_samples_per_s,omitempty"`
	RefGFLOPs      float64 `json:"ref_gflops,omitempty"`
	RefRSSMiB      float64 `json:"ref_rss_mib,omitempty"`
	Ratio          float64 `json:"ratio,omitempty"`

	// With --against, for train_ measurements: PyTorch's bf16 autocast
	// (torch_bf16.py) and ours / it.
	RefBF16SamplesPerS float64 `json:"ref_bf16_samples_per_s,omitempty"`
	RefBF16GFLOPs      float64 `json:"ref_bf16_gflops,omitempty"`
	RefBF16RSSMiB      float64 `json:"ref_bf16_rss_mib,omitempty"`
	RatioBF16          float64 `json:"ratio_bf16,omitempty"`
	// BestRatio is ours over the faster of the PyTorch modes measured
	// (fp32 alone for generation), RefBest that mode: "fp32" or "bf16".
	BestRatio float64 `json:"best_ratio,omitempty"`
	RefBest   string  `json:"ref_best,omitempty"`
}

// benchPlan is a parsed configuration with the options of this run.
type benchPlan struct {
	cfg  *bench.Config
	raw  []byte // the configuration file, passed to children
	path string // "" for the built-in copy
	opt  bench.Options
}

func loadBenchPlan(c *cli.Context) (*benchPlan, error) {
	p := &benchPlan{raw: benchConfig, path: c.String("config")}
	if p.path != "" {
		raw, err := regular.ReadFile(p.path)
		if err != nil {
			return nil, err
		}
		p.raw = raw
	}
	cfg, err := bench.ParseConfig(p.raw)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", cmp.Or(p.path, "built-in config"), err)
	}
	p.cfg = cfg
	p.opt = cfg.Resolve(bench.Options{Threads: c.Int("threads"), Statistic: c.String("statistic")})
	if p.opt.Statistic != "best" && p.opt.Statistic != "median" {
		return nil, fmt.Errorf("--statistic %q: must be best or median", p.opt.Statistic)
	}
	if name := c.String("kernels"); name != "" {
		k, ok := kernels.ByName(name)
		if !ok {
			return nil, fmt.Errorf("--kernels %q: this CPU runs %s", name, strings.Join(kernelNames(), ", "))
		}
		p.opt.Kernels = k
	}
	if p.opt.Precision, err = causalconv.ParsePrecision(c.String("precision")); err != nil {
		return nil, fmt.Errorf("--precision: %w", err)
	}
	if err := causalconv.CheckPrecision(p.opt.Precision, p.opt.Kernels); err != nil {
		return nil, fmt.Errorf("--precision: %w", err)
	}
	return p, nil
}

func runBench(c *cli.Context) error {
	plan, err := loadBenchPlan(c)
	if err != nil {
		return err
	}
	var only *regexp.Regexp
	if s := c.String("only"); s != "" {
		if only, err = regexp.Compile(s); err != nil {
			return fmt.Errorf("--only: %w", err)
		}
	}
	var names []string
	for _, n := range plan.cfg.Names() {
		if only == nil || only.MatchString(n) {
			names = append(names, n)
		}
	}
	if len(names) == 0 {
		return fmt.Errorf("--only %q matches no measurement (there are: %s)", c.String("only"), strings.Join(plan.cfg.Names(), ", "))
	}
	stdout, stderr := c.App.Writer, c.App.ErrWriter
	if c.Bool("child") {
		return benchChild(c.Context, plan, names, stdout, stderr)
	}
	refs, err := benchReferences(c, stderr)
	if err != nil {
		return err
	}
	against := refs.script != ""
	fmt.Fprintf(stderr, "# nextsample bench kernels=%s precision=%s threads=%d statistic=%s config=%s\n",
		plan.opt.Kernels.Name, plan.opt.Precision, plan.opt.Threads, plan.opt.Statistic, cmp.Or(plan.path, "built-in (reference config.json)"))
	for _, v := range plan.cfg.Variants {
		f := v.Model.FLOPs()
		fmt.Fprintf(stderr, "# variant %s: receptive_field=%d fwd_gemm_flops_per_timestep=%d train_flops_per_timestep=%d\n",
			v.Name, v.Model.ReceptiveField(), f.Forward(), f.Train())
	}
	for _, name := range names {
		if err := c.Context.Err(); err != nil {
			return fmt.Errorf("%w", errInterrupted)
		}
		r, err := benchInChild(c.Context, c, plan, name, stderr)
		if err != nil {
			return err
		}
		if against {
			if err := refs.compare(c.Context, plan, &r, stderr); err != nil {
				return err
			}
		}
		printBenchResult(stdout, r, c.Bool("json"), against)
	}
	return nil
}

// benchBF16Script is where --against-bf16 is looked for by default,
// relative to the repository's root.
const benchBF16Script = "train/recipe/torch_bf16.py"

// benchRefs are the PyTorch scripts of --against and --against-bf16.
type benchRefs struct {
	python string
	script string // the reference, torch_wavenet.py; "" without --against
	bf16   string // torch_bf16.py; "" to skip PyTorch's bf16 autocast
}

// benchReferences checks --against and finds --against-bf16: given, it
// must exist; not given, it is looked up from the current directory upward
// (and beside the executable), and skipped with a note if it is not found.
func benchReferences(c *cli.Context, stderr io.Writer) (benchRefs, error) {
	refs := benchRefs{python: c.String("python"), script: c.String("against")}
	if refs.script == "" {
		if c.String("against-bf16") != "" {
			return refs, errors.New("--against-bf16 needs --against PATH/torch_wavenet.py (the reference it imports)")
		}
		return refs, nil
	}
	if _, err := os.Stat(refs.script); err != nil {
		return refs, fmt.Errorf("--against: %w", err)
	}
	if c.IsSet("against-bf16") {
		refs.bf16 = c.String("against-bf16")
		if refs.bf16 == "" {
			return refs, nil // --against-bf16 '': no bf16 reference
		}
		if _, err := os.Stat(refs.bf16); err != nil {
			return refs, fmt.Errorf("--against-bf16: %w", err)
		}
		return refs, nil
	}
	if p, ok := findRepoFile(benchBF16Script); ok {
		refs.bf16 = p
	} else {
		fmt.Fprintf(stderr, "# note: %s is not in the current directory, its parents or beside the executable: "+
			"PyTorch's bf16 autocast is not measured (give --against-bf16 PATH/torch_bf16.py)\n", benchBF16Script)
	}
	return refs, nil
}

// findRepoFile looks for the file rel (a path inside the repository) in the
// current directory and its parents, then beside the executable and its
// parents (so commands work from anywhere inside a checkout, and from a
// binary built into or next to it). The path is relative to the current
// directory when it lies below it.
func findRepoFile(rel string) (string, bool) {
	var starts []string
	if wd, err := os.Getwd(); err == nil {
		starts = append(starts, wd)
	}
	if exe, err := os.Executable(); err == nil {
		if exe, err := filepath.EvalSymlinks(exe); err == nil {
			starts = append(starts, filepath.Dir(exe))
		}
	}
	for _, dir := range starts {
		for {
			p := filepath.Join(dir, rel)
			if st, err := os.Stat(p); err == nil && !st.IsDir() {
				if r, err := filepath.Rel(mustGetwd(), p); err == nil && !strings.HasPrefix(r, "..") {
					return r, true
				}
				return p, true
			}
			parent := filepath.Dir(dir)
			if parent == dir {
				break
			}
			dir = parent
		}
	}
	return "", false
}

// compare runs the reference's measurement name (PyTorch float32) and, for
// train_ measurements, PyTorch's bf16 autocast right after it, fills in r's
// reference fields and ratios, and prints them on stderr.
func (refs benchRefs) compare(ctx context.Context, plan *benchPlan, r *benchResult, stderr io.Writer) error {
	name := r.Name
	if strings.HasPrefix(name, "features_") {
		return nil // ours alone
	}
	cfgPath, cleanup, err := benchConfigPath(plan)
	if err != nil {
		return err
	}
	defer cleanup()
	ref, err := benchReference(ctx, refs.python, []string{refs.script, "--config", cfgPath, "--only", "^" + regexp.QuoteMeta(name) + "$"},
		name, "reference", nil, stderr)
	if err != nil {
		return err
	}
	var bf16 *benchResult
	if refs.bf16 != "" && strings.HasPrefix(name, "train_") {
		b, err := benchReference(ctx, refs.python, []string{refs.bf16, "--reference", refs.script, "--config", cfgPath,
			"--only", "^" + regexp.QuoteMeta(name+"_bf16") + "$"}, name+"_bf16", "reference bf16", []string{"# autocast"}, stderr)
		if err != nil {
			return err
		}
		bf16 = &b
	}
	r.setReferences(ref, bf16)
	ours := "ours"
	if r.Precision != "" {
		ours += " (" + r.Precision + ")"
	}
	fmt.Fprintf(stderr, "# %s: %s %.1f samples/s (%.1f GFLOP/s, %.0f MiB peak RSS), reference %.1f (%.1f GFLOP/s, %.0f MiB): %.2fx\n",
		name, ours, r.SamplesPerS, r.GFLOPs, r.RSSMiB, ref.SamplesPerS, ref.GFLOPs, ref.RSSMiB, r.Ratio)
	if bf16 != nil {
		fmt.Fprintf(stderr, "# %s: PyTorch fp32 %.1f samples/s, bf16 autocast %.1f (%.1f GFLOP/s, %.0f MiB): %s %.2fx fp32, %.2fx bf16, best mode (%s) %.2fx\n",
			name, r.RefSamplesPerS, r.RefBF16SamplesPerS, r.RefBF16GFLOPs, r.RefBF16RSSMiB, ours, r.Ratio, r.RatioBF16, r.RefBest, r.BestRatio)
	}
	return nil
}

// setReferences records the PyTorch figures (fp32, and bf16 autocast if it
// ran) and ours over each, and over the faster ("best mode").
func (r *benchResult) setReferences(fp32 benchResult, bf16 *benchResult) {
	r.RefSamplesPerS, r.RefGFLOPs, r.RefRSSMiB = fp32.SamplesPerS, fp32.GFLOPs, fp32.RSSMiB
	if fp32.SamplesPerS > 0 {
		r.Ratio = r.SamplesPerS / fp32.SamplesPerS
		r.BestRatio, r.RefBest = r.Ratio, "fp32"
	}
	if bf16 == nil {
		return
	}
	r.RefBF16SamplesPerS, r.RefBF16GFLOPs, r.RefBF16RSSMiB = bf16.SamplesPerS, bf16.GFLOPs, bf16.RSSMiB
	if bf16.SamplesPerS > 0 {
		r.RatioBF16 = r.SamplesPerS / bf16.SamplesPerS
		if bf16.SamplesPerS > fp32.SamplesPerS {
			r.BestRatio, r.RefBest = r.RatioBF16, "bf16"
		}
	}
}

func printBenchResult(w io.Writer, r benchResult, asJSON, against bool) {
	switch {
	case asJSON:
		b, _ := json.Marshal(r)
		fmt.Fprintf(w, "%s\n", b)
	case against && r.RefSamplesPerS == 0:
		// The reference has no such measurement: its columns stay empty.
		fmt.Fprintf(w, "%s,%.2f,%.3f,,,,%.1f,,,,,,\n", r.Name, r.SamplesPerS, r.GFLOPs, r.RSSMiB)
	case against:
		// PyTorch bf16 autocast columns stay empty where it did not run.
		bf16, bf16RSS := ",,", ""
		if r.RefBF16SamplesPerS > 0 {
			bf16 = fmt.Sprintf("%.2f,%.3f,%.3f", r.RefBF16SamplesPerS, r.RefBF16GFLOPs, r.RatioBF16)
			bf16RSS = fmt.Sprintf("%.1f", r.RefBF16RSSMiB)
		}
		fmt.Fprintf(w, "%s,%.2f,%.3f,%.2f,%.3f,%.3f,%.1f,%.1f,%s,%.3f,%s\n", r.Name, r.SamplesPerS, r.GFLOPs,
			r.RefSamplesPerS, r.RefGFLOPs, r.Ratio, r.RSSMiB, r.RefRSSMiB, bf16, r.BestRatio, bf16RSS)
	default:
		fmt.Fprintf(w, "%s,%.2f,%.3f\n", r.Name, r.SamplesPerS, r.GFLOPs)
	}
}

// benchInChild runs one measurement in a fresh copy of this program, so
// that its memory and its peak RSS are its own.
func benchInChild(ctx context.Context, c *cli.Context, plan *benchPlan, name string, stderr io.Writer) (benchResult, error) {
	exe, err := os.Executable()
	if err != nil {
		return benchResult{}, fmt.Errorf("bench: finding this program to run measurements in: %w", err)
	}
	args := []string{"bench", "--child", "--json", "--only", "^" + regexp.QuoteMeta(name) + "$",
		"--threads", strconv.Itoa(plan.opt.Threads), "--statistic", plan.opt.Statistic, "--kernels", plan.opt.Kernels.Name,
		"--precision", plan.opt.Precision.String()}
	if plan.path != "" {
		args = append(args, "--config", plan.path)
	}
	cmd := exec.CommandContext(ctx, exe, args...)
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = stderr
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return benchResult{}, fmt.Errorf("%w", errInterrupted)
		}
		return benchResult{}, fmt.Errorf("bench %s: %w", name, err)
	}
	var r benchResult
	if err := json.Unmarshal(bytes.TrimSpace(out.Bytes()), &r); err != nil {
		return benchResult{}, fmt.Errorf("bench %s: child output %q: %w", name, out.String(), err)
	}
	r.RSSMiB = peakRSSMiB(cmd.ProcessState)
	return r, nil
}

// benchConfigPath is the plan's configuration file, for the reference
// scripts: --config, or the built-in copy in a temporary file that cleanup
// removes.
func benchConfigPath(plan *benchPlan) (path string, cleanup func(), err error) {
	if plan.path != "" {
		return plan.path, func() {}, nil
	}
	f, err := os.CreateTemp("", "nextsample-bench-*.json")
	if err != nil {
		return "", nil, err
	}
	cleanup = func() { os.Remove(f.Name()) }
	if _, err := f.Write(plan.raw); err != nil {
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

// benchReference runs a PyTorch script (args[0], then its arguments) for
// one measurement, which it must print as name,samples_per_s,gflops. Its
// stderr lines about that measurement, those starting with one of the
// prefixes keep, and any that are not # diagnostics are passed on, marked
// with label.
func benchReference(ctx context.Context, python string, args []string, name, label string, keep []string, stderr io.Writer) (benchResult, error) {
	script := args[0]
	cmd := exec.CommandContext(ctx, python, args...)
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
			fmt.Fprintf(stderr, "# %s: %s\n", label, strings.TrimPrefix(line, "# "))
		}
	}
	if err != nil {
		if ctx.Err() != nil {
			return benchResult{}, fmt.Errorf("%w", errInterrupted)
		}
		return benchResult{}, fmt.Errorf("%s %s for %s: %w", label, script, name, err)
	}
	if r, ok := parseReferenceLine(out.String(), name); ok {
		r.RSSMiB = peakRSSMiB(cmd.ProcessState)
		return r, nil
	}
	return benchResult{}, fmt.Errorf("%s %s printed no line for %s (stdout %q)", label, script, name, out.String())
}

// parseReferenceLine finds the measurement name in a reference script's
// stdout (name,samples_per_s,gflops lines).
func parseReferenceLine(stdout, name string) (benchResult, bool) {
	for _, line := range strings.Split(stdout, "\n") {
		f := strings.Split(strings.TrimSpace(line), ",")
		if len(f) == 3 && f[0] == name {
			sps, err1 := strconv.ParseFloat(f[1], 64)
			gf, err2 := strconv.ParseFloat(f[2], 64)
			if err1 != nil || err2 != nil {
				return benchResult{}, false
			}
			return benchResult{Name: name, SamplesPerS: sps, GFLOPs: gf}, true
		}
	}
	return benchResult{}, false
}

// peakRSSMiB is a finished child's peak resident set size.
func peakRSSMiB(ps *os.ProcessState) float64 {
	if ps == nil {
		return 0
	}
	if ru, ok := ps.SysUsage().(*syscall.Rusage); ok {
		return float64(ru.Maxrss) / 1024 // kilobytes on Linux
	}
	return 0
}

// benchChild runs the named measurements in this process and prints them
// as JSON lines.
func benchChild(ctx context.Context, plan *benchPlan, names []string, stdout, stderr io.Writer) error {
	for _, name := range names {
		r, err := bench.Measure(ctx, plan.cfg, name, plan.opt)
		if err != nil {
			if ctx.Err() != nil {
				err = errInterrupted
			}
			return fmt.Errorf("%s: %w", name, err)
		}
		fmt.Fprintf(stderr, "# %s: n=%d s/unit best=%.5g median=%.5g max=%.5g (units of %d samples)%s\n",
			r.Name, r.N, r.BestS, r.MedianS, r.MaxS, r.Unit, r.Note)
		b, err := json.Marshal(r)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s\n", b)
	}
	return nil
}
