package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/nextsample/nextsample/audio"
	"github.com/nextsample/nextsample/causalconv"
	"github.com/nextsample/nextsample/train"
	"github.com/nextsample/nextsample/train/launch"
	"github.com/nextsample/nextsample/train/mpi"
)

// defaultManifest is the bundled corpus that `nextsample train` uses when
// --data is not given.
const defaultManifest = "samples/fsdd/manifest.csv"

// defaultOut is the run directory when --out is not given.
const defaultOut = "runs/latest"

func trainCommand() *cli.Command {
	sgd, adam := train.DefaultOptions(train.SGD), train.DefaultOptions(train.Adam)
	def := train.DefaultOptions("")
	perOpt := func(s, a any) string { return fmt.Sprintf("%v (adam), %v (sgd)", a, s) }
	return &cli.Command{
		Name:      "train",
		Usage:     "train a model on a folder or manifest of WAV files",
		ArgsUsage: " ",
		Description: "Trains the network to predict the next μ-law sample of speech. Each step takes\n" +
			"--batch files of the training split in a seeded order, reshuffled every epoch,\n" +
			"and from each a random window of at most --crop scored samples with the\n" +
			"receptive field of real audio in front of it as context (whole files when\n" +
			"shorter); the loss is the mean cross-entropy over the scored samples.\n\n" +
			"Every --eval-every steps it prints the validation NLL in bits per sample beside\n" +
			"two baselines, the uniform distribution (log2 Q = 8 bits) and the unigram\n" +
			"entropy of the training classes. In --out it keeps last.safetensors (to\n" +
			"resume), best.safetensors (lowest validation bits), step-NNNNNN.safetensors\n" +
			"every --save-every steps, train_log.csv and loss.png. Ctrl-C finishes the step,\n" +
			"saves and exits with status 130; --resume continues up to --steps, bit for bit.\n\n" +
			optimizerDefaults(sgd, adam) + "\n\n" +
			"Examples:\n" +
			"  nextsample train                                  # bundled samples, a few minutes\n" +
			"  nextsample train --data /data/fsdd/manifest.csv --val-split test --steps 650 --out runs/fsdd\n" +
			"  nextsample train --out runs/fsdd --resume --steps 2000",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "data", Usage: "training corpus: a `DIR` of audio files (WAV, FLAC, SPHERE), a Kaldi data directory (with wav.scp) or a manifest.csv (default: the bundled " + defaultManifest + ", looked up from the current directory upwards and beside the executable)"},
			&cli.StringFlag{Name: "out", Usage: "run `DIR` for checkpoints, log and plot", Value: defaultOut},
			&cli.StringFlag{Name: "config", Usage: "model configuration `FILE`: the reference's config.json or just its model object (default: the built-in skip256 model)"},
			&cli.BoolFlag{Name: "resume", Usage: "continue the run in --out from its last.safetensors, up to --steps"},
			&cli.Int64Flag{Name: "steps", Usage: "total training steps of the run", Value: def.Steps},
			&cli.IntFlag{Name: "batch", Usage: "files per step", Value: def.Batch},
			&cli.IntFlag{Name: "crop", Usage: "at most this many scored samples per file and step", Value: def.Crop},
			&cli.StringFlag{Name: "optimizer", Usage: "adam or sgd (with momentum)", Value: train.DefaultOptimizer},
			&cli.Float64Flag{Name: "lr", Usage: "peak learning rate", DefaultText: perOpt(sgd.LR, adam.LR)},
			&cli.Float64Flag{Name: "momentum", Usage: "SGD momentum", Value: sgd.Momentum},
			&cli.BoolFlag{Name: "nesterov", Usage: "Nesterov momentum (SGD)"},
			&cli.Float64Flag{Name: "weight-decay", Usage: "L2 penalty added to the gradient (torch semantics)"},
			&cli.Int64Flag{Name: "warmup", Usage: "steps of linear learning-rate warm-up", DefaultText: perOpt(sgd.Warmup, adam.Warmup)},
			&cli.StringFlag{Name: "decay", Usage: "learning-rate decay after the warm-up: cosine or constant", DefaultText: perOpt(sgd.Decay, adam.Decay)},
			&cli.Float64Flag{Name: "lr-floor", Usage: "final learning rate of the cosine decay, as a fraction of --lr", DefaultText: perOpt(sgd.LRFloor, adam.LRFloor)},
			&cli.Float64Flag{Name: "clip", Usage: "clip the gradient's global L2 norm to this (0: off)", DefaultText: perOpt(sgd.Clip, adam.Clip)},
			&cli.Uint64Flag{Name: "seed", Usage: "seed of the initial weights and the data order", Value: def.Seed},
			&cli.IntFlag{Name: "threads", Usage: "worker threads (results do not depend on it)", DefaultText: "all cores"},
			&cli.StringFlag{Name: "precision", Usage: "arithmetic of the matrix products: fp32, or bf16 (mixed precision: operands rounded to bfloat16, float32 sums; needs AVX512_BF16; fixed for a run)", Value: def.Precision.String()},
			&cli.Int64Flag{Name: "eval-every", Usage: "validate every `N` steps (0: never)", Value: def.EvalEvery},
			&cli.Int64Flag{Name: "save-every", Usage: "keep step-NNNNNN.safetensors every `N` steps (0: never)", Value: def.SaveEvery},
			&cli.StringFlag{Name: "val-split", Usage: "manifest split to validate on", DefaultText: "the first of valid, validation, dev, test present"},
			&cli.Int64Flag{Name: "val-samples", Usage: "validate on at most about `N` samples of the validation set: whole files, chosen by a hash of their keys (0: all of it)"},
			&cli.StringFlag{Name: "val-data", Usage: "validate on this separate corpus: a `DIR` (a Kaldi data directory, or of audio files) or a manifest.csv (with --val-split: that split of it)", DefaultText: "a split of --data"},
			cacheFlag(),
			&cli.StringFlag{Name: "condition", Usage: "condition the model on each file's `speaker` (WaveNet global conditioning; the table is the sorted speakers of the training files)"},
			&cli.IntFlag{Name: "gc-channels", Usage: "embedding channels G of the speaker table (with --condition)", Value: 32},
			&cli.IntFlag{Name: "chunk", Usage: "largest number of scored samples one thread computes at once (fixed for a run)", Value: def.Chunk, Hidden: true},
			&cli.IntFlag{Name: "sample-rate", Usage: "model sample rate in `Hz`", DefaultText: "the corpus's rate"},
			&cli.BoolFlag{Name: "resample", Usage: "resample files at other rates instead of refusing them"},
			&cli.IntFlag{Name: "channel", Usage: "channel to use, from 1 (0: average all channels)"},
			&cli.StringFlag{Name: "normalize", Usage: "level normalization per file: peak, rms or none", Value: audio.DefaultSettings().Normalize},
			&cli.Float64Flag{Name: "trim-db", Usage: "trim leading and trailing 10 ms frames quieter than this many `dBFS` (0: off)"},
		},
		Action: runTrain,
	}
}

// optimizerDefaults describes the per-optimizer defaults for the help text.
func optimizerDefaults(sgd, adam train.Options) string {
	describe := func(o train.Options) string {
		d := fmt.Sprintf("lr %g", o.LR)
		if o.Optimizer == train.SGD {
			d += fmt.Sprintf(", momentum %g", o.Momentum)
		}
		if o.Warmup > 0 {
			d += fmt.Sprintf(", %d warm-up steps", o.Warmup)
		}
		if o.Decay == train.DecayCosine {
			d += fmt.Sprintf(", cosine decay to %g%%", 100*o.LRFloor)
		} else {
			d += ", constant"
		}
		if o.Clip > 0 {
			d += fmt.Sprintf(", gradient norm clipped to %g", o.Clip)
		} else {
			d += ", no clipping"
		}
		return d
	}
	return "Defaults depend on --optimizer. adam (the default): " + describe(adam) +
		"; with --batch 8 --crop 4000 this is the reference's FSDD recipe.\nsgd: " + describe(sgd) + "."
}

// trainRequest returns the run the flags ask for.
func trainRequest(c *cli.Context) (launch.Request, error) {
	opts, err := optionChanges(c)
	if err != nil {
		return launch.Request{}, err
	}
	return launch.Request{
		Out:         c.String("out"),
		Resume:      c.Bool("resume"),
		ConfigFile:  c.String("config"),
		Options:     opts,
		Threads:     c.Int("threads"),
		Data:        given(c, "data", c.String),
		ValSplit:    given(c, "val-split", c.String),
		ValData:     given(c, "val-data", c.String),
		ValSamples:  given(c, "val-samples", c.Int64),
		DefaultData: findDefaultData,
		Audio: launch.AudioChanges{
			SampleRate: given(c, "sample-rate", c.Int),
			Resample:   given(c, "resample", c.Bool),
			Channel:    given(c, "channel", c.Int),
			Normalize:  given(c, "normalize", c.String),
			TrimDB:     given(c, "trim-db", c.Float64),
		},
		Condition:  c.String("condition"),
		GCChannels: c.Int("gc-channels"),
	}, nil
}

// optionChanges returns the training options the user set.
func optionChanges(c *cli.Context) (launch.OptionChanges, error) {
	o := launch.OptionChanges{
		Steps:       given(c, "steps", c.Int64),
		Batch:       given(c, "batch", c.Int),
		Crop:        given(c, "crop", c.Int),
		Optimizer:   given(c, "optimizer", c.String),
		LR:          given(c, "lr", c.Float64),
		Momentum:    given(c, "momentum", c.Float64),
		Nesterov:    given(c, "nesterov", c.Bool),
		WeightDecay: given(c, "weight-decay", c.Float64),
		Warmup:      given(c, "warmup", c.Int64),
		Decay:       given(c, "decay", c.String),
		LRFloor:     given(c, "lr-floor", c.Float64),
		Clip:        given(c, "clip", c.Float64),
		Seed:        given(c, "seed", c.Uint64),
		EvalEvery:   given(c, "eval-every", c.Int64),
		SaveEvery:   given(c, "save-every", c.Int64),
		Chunk:       given(c, "chunk", c.Int),
	}
	if c.IsSet("precision") {
		p, err := causalconv.ParsePrecision(c.String("precision"))
		if err != nil {
			return o, err
		}
		o.Precision = &p
	}
	return o, nil
}

// given returns the value of flag name, or nil when the user did not set
// it.
func given[T any](c *cli.Context, name string, value func(string) T) *T {
	if !c.IsSet(name) {
		return nil
	}
	v := value(name)
	return &v
}

// findDefaultData looks for the bundled manifest in the current directory
// and its parents (so the command works from anywhere inside a checkout),
// then beside the executable and its parents (a binary built into or next
// to the checkout).
func findDefaultData() (string, error) {
	if p, ok := findRepoFile(defaultManifest); ok {
		return p, nil
	}
	return "", fmt.Errorf("no --data given, and the bundled corpus %s is not in the current directory, its parents or beside the executable; run from the nextsample repository or pass --data DIR|manifest.csv", defaultManifest)
}

func mustGetwd() string {
	wd, _ := os.Getwd()
	return wd
}

// cacheFlag is the --cache-dir flag of the commands that read a corpus's
// classes through a class cache.
func cacheFlag() cli.Flag {
	return &cli.StringFlag{Name: "cache-dir", Usage: "`DIR` of the prepared μ-law classes (1 byte per sample, built once per corpus and audio settings, reused by later runs)",
		EnvVars: []string{"NEXTSAMPLE_CACHE_DIR"}, DefaultText: "$XDG_CACHE_HOME/nextsample or ~/.cache/nextsample"}
}

// cacheReport returns the launch.CacheEvent handler that shows on w the
// building of class caches, a status line each (redrawn on a terminal,
// every 10 s otherwise), and then the open cache: always when announce
// is set, else only when it was built.
func cacheReport(w io.Writer, rate int, announce bool) func(launch.CacheEvent) {
	var line *statusLine
	return func(ev launch.CacheEvent) {
		if ev.Cache == nil {
			if line == nil {
				line = newStatusLine(w, 0, 10*time.Second)
			}
			text := fmt.Sprintf("  preparing %s classes: %d/%d files, %s", ev.What, ev.Done, ev.Total, audioLength(ev.Samples, rate))
			if ev.Planned > 0 {
				text += fmt.Sprintf(" of ≈%s", audioLength(int64(ev.Planned*float64(rate)), rate))
			}
			line.draw(text+fmt.Sprintf(", %.0fs", ev.Elapsed.Seconds()), ev.Done == ev.Total)
			return
		}
		line = nil
		if !ev.Built && !announce {
			return
		}
		verb := "reused"
		if ev.Built {
			verb = fmt.Sprintf("built in %.1fs", ev.Elapsed.Seconds())
		}
		fmt.Fprintf(w, "  %s classes: %s (%s, %s)\n", ev.What, ev.Cache.Path(), byteSize(ev.Cache.Bytes()), verb)
	}
}

// trainProgress returns the train.Setup.Progress that shows a run's steps
// on s: a bar redrawn at most every 100 ms on a terminal, else a line
// every few steps (50 lines a run at most, and the first and last step).
func trainProgress(s *statusLine) func(train.Status) {
	return func(st train.Status) {
		final := st.Step == st.Steps
		if s.tty {
			s.draw("["+progressBar(st.Step, st.Steps, 24)+"] "+st.String(), final)
			return
		}
		every := max(1, min(50, st.Steps/50))
		if st.Step%every == 0 || final || st.Step == 1 {
			s.draw(st.String(), final)
		}
	}
}

func runTrain(c *cli.Context) error {
	if c.NArg() > 0 {
		return fmt.Errorf("train: unexpected argument %q (the corpus is given with --data)", c.Args().First())
	}
	comm, err := mpi.Init()
	if err != nil {
		return fmt.Errorf("train: %w", err)
	}
	if comm.Size() == 1 {
		err = trainWith(c, nil)
		return errors.Join(err, comm.Finalize())
	}
	// One process of an MPI job: rank 0 prints and writes; an error on
	// any rank ends the whole job at once (the others would wait in the
	// next sum), after printing it with the rank.
	err = trainWith(c, comm)
	if err != nil && !errors.Is(err, errInterrupted) {
		fmt.Fprintf(c.App.ErrWriter, "nextsample: rank %d of %d: %v\n", comm.Rank(), comm.Size(), err)
		comm.Abort(1)
	}
	return errors.Join(err, comm.Finalize())
}

// trainWith runs the train command, as one process of an MPI job when
// comm is set: it prepares the run the flags ask for, opens its classes,
// starts it and trains, printing what it does.
func trainWith(c *cli.Context, comm *mpi.Comm) error {
	ctx := c.Context
	stdout, stderr := c.App.Writer, c.App.ErrWriter
	if comm != nil && comm.Rank() != 0 {
		stdout, stderr = io.Discard, io.Discard
	}
	req, err := trainRequest(c)
	if err != nil {
		return fmt.Errorf("train: %w", err)
	}
	if comm != nil {
		req.Comm = comm
	}
	plan, err := launch.Prepare(req)
	if err != nil {
		return commandError("train", err)
	}
	printPlan(stderr, plan)
	t0 := time.Now()
	data, err := plan.Open(ctx, launch.CacheOptions{Dir: c.String("cache-dir"), Threads: plan.Options.Threads,
		Report: cacheReport(stderr, plan.Audio.SampleRate, true)})
	if err != nil {
		return interrupted(ctx, commandError("train", err))
	}
	defer data.Close()
	printData(stderr, plan, data, time.Since(t0))
	if plan.Speakers != nil {
		fmt.Fprintf(stderr, "conditioned on %d speakers (%s), %d channels\n", len(plan.Speakers), firstFew(plan.Speakers, 5), plan.Model.Config.GlobalCondition.Channels)
	}
	if comm != nil {
		fmt.Fprintf(stderr, "processes: %d (MPI), each %d threads and %d of the %d files of a batch\n", comm.Size(), plan.Options.Threads, plan.Options.Batch/max(1, comm.Size()), plan.Options.Batch)
	}
	status := newStatusLine(stderr, 100*time.Millisecond, 0)
	run, err := plan.Start(data, train.Setup{Log: status, Progress: trainProgress(status)})
	if err != nil {
		return commandError("train", err)
	}
	defer run.Close()
	printOptions(stderr, plan.Options, req.Out)
	m := run.Memory()
	fmt.Fprintf(stderr, "memory: %s in buffers: model %s, optimizer and gradient %s, gradient slots %s, workspaces %s, read-ahead %s, validation %s, file index %s\n",
		byteSize(m.Total()), byteSize(m.Model), byteSize(m.Optimizer), byteSize(m.Gradients), byteSize(m.Workspaces), byteSize(m.Batches), byteSize(m.Validation), byteSize(m.Index))

	err = run.Train(ctx)
	// Stopped by a signal to this process, or (MPI) to another rank.
	if err != nil && (ctx.Err() != nil || errors.Is(err, context.Canceled)) {
		fmt.Fprintf(stderr, "train: %v\n", err)
		return fmt.Errorf("train: %w", errInterrupted)
	}
	if err != nil {
		return fmt.Errorf("train: %w", err)
	}
	printBest(stdout, run, req.Out)
	return nil
}

// printPlan prints the model and corpus of a prepared run, after a note
// on validation files left out for their speakers.
func printPlan(w io.Writer, p *launch.Plan) {
	if l := p.LeftOut; l.Files > 0 {
		fmt.Fprintf(w, "note: validation leaves out %d of its %d files, of speakers not in the training set (%s)\n", l.Files, l.Of, firstFew(l.Speakers, 3))
	}
	cfg, rate := p.Model.Config, p.Audio.SampleRate
	rf := cfg.ReceptiveField()
	fmt.Fprintf(w, "model: %d layers, receptive field %d samples (%.1f ms at %d Hz), %d parameters, %.2f MFLOP per trained sample\n",
		cfg.Layers(), rf, 1000*float64(rf)/float64(rate), rate, p.Model.NumParams(), float64(cfg.FLOPs().Train())/1e6)
	fmt.Fprintf(w, "data: %s (%d files)\n", p.Corpus.Source, len(p.Corpus.Entries))
}

// printData prints the training and validation classes of a run and its
// audio settings, ready after took.
func printData(w io.Writer, p *launch.Plan, d *launch.Data, took time.Duration) {
	length := func(n int64) string { return audioLength(n, p.Audio.SampleRate) }
	tc := d.TrainCache
	fmt.Fprintf(w, "  train: %d files, %s, %d samples", tc.Files(), length(tc.Samples()), tc.Samples())
	if n := tc.Resampled(); n > 0 {
		fmt.Fprintf(w, " (%d resampled)", n)
	}
	fmt.Fprintln(w)
	if vc := d.ValidCache; vc != nil {
		fmt.Fprintf(w, "  validation (%s): %d files, %s, %d samples\n", validationName(p.ValidName, p.Bound), vc.Files(), length(vc.Samples()), vc.Samples())
	} else {
		fmt.Fprintf(w, "  validation: none (the corpus has no validation split)\n")
	}
	a, _ := json.Marshal(p.Audio)
	fmt.Fprintf(w, "  audio: %s (ready in %.1fs)\n", a, took.Seconds())
}

// validationName says what a validation set is, and how --val-samples
// bounded it.
func validationName(name string, b *launch.Bound) string {
	if b == nil {
		return name
	}
	return fmt.Sprintf("%s; %d of its %d files, chosen by key hash for --val-samples %d", name, b.Kept, b.Of, b.Limit)
}

// printOptions prints the optimizer and the shape of a run in out.
func printOptions(w io.Writer, o train.Options, out string) {
	fmt.Fprintf(w, "optimizer: %s, lr %g", o.Optimizer, o.LR)
	if o.Optimizer == train.SGD {
		fmt.Fprintf(w, ", momentum %g", o.Momentum)
		if o.Nesterov {
			fmt.Fprint(w, " (Nesterov)")
		}
	}
	fmt.Fprintf(w, ", warm-up %d, decay %s", o.Warmup, o.Decay)
	if o.Decay == train.DecayCosine {
		fmt.Fprintf(w, " to %g×", o.LRFloor)
	}
	if o.Clip > 0 {
		fmt.Fprintf(w, ", clip %g", o.Clip)
	}
	if o.WeightDecay > 0 {
		fmt.Fprintf(w, ", weight decay %g", o.WeightDecay)
	}
	fmt.Fprintf(w, "; %d steps of %d files × ≤%d samples; %s; %d threads; run in %s\n", o.Steps, o.Batch, o.Crop, o.Precision, o.Threads, out)
}

// printBest prints the best validation of a finished run beside its
// baselines, and the model file to use.
func printBest(w io.Writer, run *train.Run, out string) {
	base := run.Baselines()
	bits, step, ok := run.BestVal()
	if !ok {
		fmt.Fprintf(w, "model: %s\n", filepath.Join(out, train.LastFile))
		return
	}
	verdict := "below"
	if bits >= base.Unigram {
		verdict = "NOT below"
	}
	fmt.Fprintf(w, "best validation: %.4f bits/sample at step %d, %.2f bits %s the unigram baseline (%.3f; uniform %.3f)\n",
		bits, step, math.Abs(base.Unigram-bits), verdict, base.Unigram, base.Uniform)
	fmt.Fprintf(w, "model: %s\n", filepath.Join(out, train.BestFile))
}

// interrupted marks err as a Ctrl-C stop when ctx was cancelled.
func interrupted(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("%w (%v)", errInterrupted, err)
	}
	return err
}
