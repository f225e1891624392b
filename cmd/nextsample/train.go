package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
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
			"every --save-every steps, train_log.csv and loss.png (and samples/ with\n" +
			"--sample-every). With --ema the model in those files is a moving average of\n" +
			"the weights, validated beside them. Ctrl-C finishes the step,\n" +
			"saves and exits with status 130; --resume continues up to --steps, bit for bit.\n\n" +
			optimizerDefaults(sgd, adam) + "\n\n" +
			"Examples:\n" +
			"  nextsample train                                  # bundled samples, a few minutes\n" +
			"  nextsample train --data /data/fsdd/manifest.csv --val-split test --steps 650 --out runs/fsdd\n" +
			"  nextsample train --out runs/fsdd --resume --steps 2000\n" +
			"  nextsample train --data /data/fsdd/manifest.csv --val-split test --ema 0.999 --sample-every 500 --out runs/fsdd-ema\n" +
			"  nextsample train --init-from runs/fsdd/best.safetensors --data /data/other --lr 3e-4 --out runs/finetune",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "data", Usage: "training corpus: a `DIR` of audio files (WAV, FLAC, SPHERE), a Kaldi data directory (with wav.scp) or a manifest.csv (default: the bundled " + defaultManifest + ", looked up from the current directory upwards and beside the executable)"},
			&cli.StringFlag{Name: "out", Usage: "run `DIR` for checkpoints, log and plot", Value: defaultOut},
			&cli.StringFlag{Name: "config", Usage: "model configuration `FILE`: the reference's config.json or just its model object (default: the built-in skip256 model)"},
			&cli.BoolFlag{Name: "resume", Usage: "continue the run in --out from its last.safetensors, up to --steps"},
			&cli.StringFlag{Name: "init-from", Usage: "start from the weights of this model `FILE` (a .safetensors model or checkpoint of ours, or a PyTorch .pt state_dict, whose architecture --config gives): its architecture, speakers, conditioning and audio settings, with a fresh optimizer at step 0"},
			&cli.Float64Flag{Name: "ema", Usage: "keep an exponential moving average of the weights with this `DECAY` (e.g. 0.999; warm-up min(DECAY, (1+t)/(10+t))): validated beside the raw weights, and the model best/last/step files hold (0: off)"},
			&cli.Int64Flag{Name: "sample-every", Usage: "every `N` steps (and at the end) write samples/step-NNNNNN-K.wav and .png: fixed validation prompts continued (or vocoded) by the model (0: never)"},
			&cli.Float64Flag{Name: "sample-seconds", Usage: "seconds generated after each prompt of --sample-every", Value: def.SampleSeconds},
			&cli.IntFlag{Name: "sample-prompts", Usage: "prompts of --sample-every: the first half second of the first `K` validation files", Value: def.SamplePrompts},
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
			&cli.StringFlag{Name: "condition", Usage: "condition the model on each file's `speaker` (WaveNet global conditioning; the table is the sorted speakers of the training files), on its Kaldi filterbank features, fbank (local conditioning: a vocoder), or both: fbank,speaker"},
			&cli.IntFlag{Name: "gc-channels", Usage: "embedding channels G of the speaker table (with --condition speaker)", Value: 32},
			&cli.IntFlag{Name: "fbank-bins", Usage: "mel bins of the fbank features (with --condition fbank)", DefaultText: "40 below 16 kHz, 80 at 16 kHz and above"},
			&cli.Float64Flag{Name: "frame-length", Usage: "fbank window `MS` (with --condition fbank)", Value: 25},
			&cli.Float64Flag{Name: "frame-shift", Usage: "fbank hop `MS` (with --condition fbank; its samples must factor into 2, 3, 5 and 7)", Value: 10},
			&cli.BoolFlag{Name: "snip-edges", Usage: "fbank: Kaldi's frame convention, only whole windows (false: centred frames)", Value: true},
			featuresFlag("trained on (instead of --condition fbank; the frame flags above say the framing of an scp's features)"),
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

// trainRequest returns the run the flags ask for: the options given, and
// the defaults a new run takes for the others.
func trainRequest(c *cli.Context) (launch.Request, error) {
	req := launch.Request{
		Out:         c.String("out"),
		Resume:      c.Bool("resume"),
		ConfigFile:  c.String("config"),
		InitFrom:    c.String("init-from"),
		Threads:     c.Int("threads"),
		Data:        given(c, "data", c.String),
		ValSplit:    given(c, "val-split", c.String),
		ValData:     given(c, "val-data", c.String),
		ValSamples:  given(c, "val-samples", c.Int64),
		DefaultData: findDefaultData,
		Audio:       audioChanges(c),
		Condition:   c.String("condition"),
		GCChannels:  c.Int("gc-channels"),
		Fbank: launch.FbankOptions{Bins: c.Int("fbank-bins"), FrameLengthMs: c.Float64("frame-length"),
			FrameShiftMs: c.Float64("frame-shift"), Centred: !c.Bool("snip-edges")},
		Features: given(c, "features", c.String),
		Options: launch.OptionChanges{
			Steps:         given(c, "steps", c.Int64),
			Batch:         given(c, "batch", c.Int),
			Crop:          given(c, "crop", c.Int),
			Optimizer:     given(c, "optimizer", c.String),
			LR:            given(c, "lr", c.Float64),
			Momentum:      given(c, "momentum", c.Float64),
			Nesterov:      given(c, "nesterov", c.Bool),
			WeightDecay:   given(c, "weight-decay", c.Float64),
			Warmup:        given(c, "warmup", c.Int64),
			Decay:         given(c, "decay", c.String),
			LRFloor:       given(c, "lr-floor", c.Float64),
			Clip:          given(c, "clip", c.Float64),
			Seed:          given(c, "seed", c.Uint64),
			EvalEvery:     given(c, "eval-every", c.Int64),
			SaveEvery:     given(c, "save-every", c.Int64),
			Chunk:         given(c, "chunk", c.Int),
			EMA:           given(c, "ema", c.Float64),
			SampleEvery:   given(c, "sample-every", c.Int64),
			SampleSeconds: given(c, "sample-seconds", c.Float64),
			SamplePrompts: given(c, "sample-prompts", c.Int),
		},
	}
	if c.IsSet("precision") {
		p, err := causalconv.ParsePrecision(c.String("precision"))
		if err != nil {
			return req, err
		}
		req.Options.Precision = &p
	}
	return req, nil
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
	plan.WriteText(stderr, flagName)
	data, err := plan.Open(ctx, launch.CacheOptions{Dir: c.String("cache-dir"), Threads: plan.Options.Threads, Report: cacheReport(stderr, true)})
	if err != nil {
		return interrupted(ctx, commandError("train", err))
	}
	defer data.Close()
	plan.WriteData(stderr, data, flagName)
	status := newStatusLine(stderr, 100*time.Millisecond, 0)
	run, err := plan.Start(data, train.Setup{Log: status, Progress: trainProgress(status)})
	if err != nil {
		return commandError("train", err)
	}
	defer run.Close()
	run.WriteSetup(stderr)
	err = run.Train(ctx)
	// Stopped by a signal to this process, or (MPI) to another rank.
	if err != nil && (ctx.Err() != nil || errors.Is(err, context.Canceled)) {
		fmt.Fprintf(stderr, "train: %v\n", err)
		return fmt.Errorf("train: %w", errInterrupted)
	}
	if err != nil {
		return fmt.Errorf("train: %w", err)
	}
	return run.WriteResult(stdout)
}
