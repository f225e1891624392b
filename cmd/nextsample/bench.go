package main

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"

	"github.com/urfave/cli/v2"

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
			"  vocode_<variant>          gen_fast of the variant as a vocoder: locally conditioned as\n" +
			"                            `train --condition fbank` makes it at 8 kHz (40 bins, hop 80)\n" +
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
			"  nextsample bench --only '^(gen_fast|vocode)_skip256$'    (vocoding against plain generation)\n" +
			"  nextsample bench --config ../shared/bench/config.json --against ../shared/bench/torch_wavenet.py\n" +
			"  nextsample bench --only '^train_' --precision bf16 --against ../shared/bench/torch_wavenet.py",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "config", Usage: "benchmark configuration `FILE` in the reference's format", DefaultText: "a built-in copy of the reference's config.json"},
			&cli.StringFlag{Name: "only", Usage: "run only the measurements whose names match `REGEX`"},
			&cli.BoolFlag{Name: "json", Usage: "print one JSON object per measurement instead of CSV"},
			&cli.StringFlag{Name: "against", Usage: "also run the reference `PATH/torch_wavenet.py`, back to back, and print ratios"},
			&cli.StringFlag{Name: "against-bf16", Usage: "with --against, also run `PATH/torch_bf16.py`, PyTorch's bf16 autocast training, right after the reference's train_ measurements", DefaultText: bench.BF16Script + " in the current directory or a parent; skipped if there is none"},
			&cli.StringFlag{Name: "python", Value: "/usr/bin/python3", Usage: "Python interpreter for --against and --against-bf16 (it needs torch)"},
			&cli.IntFlag{Name: "threads", Usage: "threads for training and features", DefaultText: "the config's runtime.threads"},
			&cli.StringFlag{Name: "statistic", Usage: "best or median of the per-unit times", DefaultText: "the config's runtime.statistic"},
			&cli.StringFlag{Name: "kernels", Usage: "kernel set: " + strings.Join(kernels.Names(), ", "), DefaultText: "the fastest this CPU runs"},
			&cli.StringFlag{Name: "precision", Value: "fp32", Usage: "arithmetic of the training measurements' matrix products: fp32, or bf16 (mixed precision, as in train --precision; the reference runs fp32, and --against-bf16 PyTorch's bf16 autocast)"},
			&cli.BoolFlag{Name: "child", Hidden: true, Usage: "run the measurements in this process (used by the parent)"},
		},
		Action: runBench,
	}
}

// loadBenchPlan reads the configuration (--config, or the built-in copy)
// and turns the flags into the options of this run.
func loadBenchPlan(c *cli.Context) (*bench.Config, bench.Options, error) {
	var cfg *bench.Config
	var err error
	if path := c.String("config"); path != "" {
		cfg, err = bench.LoadConfig(path)
	} else if cfg, err = bench.ParseConfig(benchConfig); err != nil {
		err = fmt.Errorf("built-in config: %w", err)
	}
	if err != nil {
		return nil, bench.Options{}, err
	}
	opt := cfg.Resolve(bench.Options{Threads: c.Int("threads"), Statistic: c.String("statistic")})
	if opt.Statistic != "best" && opt.Statistic != "median" {
		return nil, opt, fmt.Errorf("--statistic %q: must be best or median", opt.Statistic)
	}
	if name := c.String("kernels"); name != "" {
		k, ok := kernels.ByName(name)
		if !ok {
			return nil, opt, fmt.Errorf("--kernels %q: this CPU runs %s", name, strings.Join(kernels.Names(), ", "))
		}
		opt.Kernels = k
	}
	if opt.Precision, err = causalconv.ParsePrecision(c.String("precision")); err != nil {
		return nil, opt, fmt.Errorf("--precision: %w", err)
	}
	if err := causalconv.CheckPrecision(opt.Precision, opt.Kernels); err != nil {
		return nil, opt, fmt.Errorf("--precision: %w", err)
	}
	return cfg, opt, nil
}

// benchNames are the measurements of cfg that --only selects.
func benchNames(c *cli.Context, cfg *bench.Config) ([]string, error) {
	var only *regexp.Regexp
	if s := c.String("only"); s != "" {
		var err error
		if only, err = regexp.Compile(s); err != nil {
			return nil, fmt.Errorf("--only: %w", err)
		}
	}
	names := cfg.Select(only)
	if len(names) == 0 {
		return nil, fmt.Errorf("--only %q matches no measurement (there are: %s)", c.String("only"), strings.Join(cfg.Names(), ", "))
	}
	return names, nil
}

func runBench(c *cli.Context) error {
	cfg, opt, err := loadBenchPlan(c)
	if err != nil {
		return err
	}
	names, err := benchNames(c, cfg)
	if err != nil {
		return err
	}
	ctx, stdout, stderr := c.Context, c.App.Writer, c.App.ErrWriter
	if c.Bool("child") {
		return benchChild(ctx, cfg, opt, names, stdout, stderr)
	}
	ref, err := benchReference(c, stderr)
	if err != nil {
		return err
	}
	bench.WriteHeader(stderr, cfg, opt)
	runner := bench.Runner{Command: benchChildCommand(cfg, opt, stderr), Reference: ref, Diag: stderr}
	return benchInterrupted(ctx, runner.Run(ctx, cfg, names, func(r bench.Report) {
		if c.Bool("json") {
			b, _ := json.Marshal(r)
			fmt.Fprintf(stdout, "%s\n", b)
		} else {
			r.WriteCSV(stdout, ref.Script != "")
		}
	}))
}

// benchInterrupted is err, or errInterrupted if err is the failure of a
// run that was cancelled (Ctrl-C).
func benchInterrupted(ctx context.Context, err error) error {
	if err != nil && ctx.Err() != nil {
		return fmt.Errorf("%w", errInterrupted)
	}
	return err
}

// benchReference checks --against and finds --against-bf16: given, it
// must exist; not given, it is looked up from the current directory upward
// (and beside the executable), and skipped with a note if it is not found.
func benchReference(c *cli.Context, stderr io.Writer) (bench.Reference, error) {
	ref := bench.Reference{Python: c.String("python"), Script: c.String("against"), BF16: c.String("against-bf16")}
	if ref.Script == "" {
		if ref.BF16 != "" {
			return ref, errors.New("--against-bf16 needs --against PATH/torch_wavenet.py (the reference it imports)")
		}
		return ref, nil
	}
	for _, f := range [][2]string{{"--against", ref.Script}, {"--against-bf16", ref.BF16}} {
		if _, err := os.Stat(f[1]); f[1] != "" && err != nil {
			return ref, fmt.Errorf("%s: %w", f[0], err)
		}
	}
	if c.IsSet("against-bf16") {
		return ref, nil // as given; '' for no bf16 reference
	}
	if p, ok := findRepoFile(bench.BF16Script); ok {
		ref.BF16 = p
	} else {
		fmt.Fprintf(stderr, "# note: %s is not in the current directory, its parents or beside the executable: "+
			"PyTorch's bf16 autocast is not measured (give --against-bf16 PATH/torch_bf16.py)\n", bench.BF16Script)
	}
	return ref, nil
}

// benchChildCommand returns the bench.Runner's Command: this program
// itself, run with --child on one measurement and the options of this
// run, its stderr passed on.
func benchChildCommand(cfg *bench.Config, opt bench.Options, stderr io.Writer) func(context.Context, string) (*exec.Cmd, error) {
	return func(ctx context.Context, name string) (*exec.Cmd, error) {
		exe, err := os.Executable()
		if err != nil {
			return nil, fmt.Errorf("bench: finding this program to run measurements in: %w", err)
		}
		args := []string{"bench", "--child", "--json", "--only", "^" + regexp.QuoteMeta(name) + "$",
			"--threads", strconv.Itoa(opt.Threads), "--statistic", opt.Statistic, "--kernels", opt.Kernels.Name,
			"--precision", opt.Precision.String()}
		if cfg.Path != "" {
			args = append(args, "--config", cfg.Path)
		}
		cmd := exec.CommandContext(ctx, exe, args...)
		cmd.Stderr = stderr
		return cmd, nil
	}
}

// benchChild runs the named measurements in this process and prints them
// as JSON lines.
func benchChild(ctx context.Context, cfg *bench.Config, opt bench.Options, names []string, stdout, stderr io.Writer) error {
	for _, name := range names {
		r, err := bench.Measure(ctx, cfg, name, opt)
		if err != nil {
			return benchInterrupted(ctx, fmt.Errorf("%s: %w", name, err))
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
