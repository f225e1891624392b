package main

import (
	"errors"
	"fmt"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/nextsample/nextsample/audio/corpus"
	"github.com/nextsample/nextsample/audio/featio"
	"github.com/nextsample/nextsample/audio/humanize"
	"github.com/nextsample/nextsample/causalconv/features"
	"github.com/nextsample/nextsample/causalconv/modelfile"
	"github.com/nextsample/nextsample/train/launch"
)

func featuresCommand() *cli.Command {
	return &cli.Command{
		Name:      "features",
		Usage:     "frame features (one vector per 10 ms) for recognizers",
		ArgsUsage: " ",
		Description: "Turns every file of a corpus into a matrix of frame features, one row per\n" +
			"frame (25 ms windows every 10 ms by default), written in a format recognizers\n" +
			"load directly, with a features.json that records how they were made.\n\n" +
			"Kinds:\n" +
			"  --model FILE   learned features: the model's activations pooled over each\n" +
			"                 frame. Audio is prepared with the settings stored in the model\n" +
			"                 (sample rate, DC removal, normalization), as in training;\n" +
			"                 silence trimming is never applied, so frames stay aligned.\n" +
			"  --kind fbank   Kaldi log-mel filterbank, 23 bins (compute-fbank-feats defaults,\n" +
			"                 dither 0); the waveform as recorded, at the corpus's rate\n" +
			"  --kind mfcc    Kaldi MFCC, 13 cepstra with energy (compute-mfcc-feats defaults)\n\n" +
			"--layers chooses what a learned feature vector holds, a comma-separated list\n" +
			"whose parts are concatenated in the order given:\n" +
			"  skip         the skip sum, the output head's input before its first ReLU\n" +
			"               (skip_channels values, 256 for the default model)\n" +
			"  z:all        the gated activations tanh(f)·σ(g) of every layer (20 × 32)\n" +
			"  z:0,5,19     ...of the listed layers (0 is nearest the input); ranges such\n" +
			"               as z:0-9 work too\n" +
			"  skip,z:all   both: 256 + 640 values per frame\n" +
			"--pool mean (default) or max reduces each frame's positions to one value.\n\n" +
			"Frames follow Kaldi: with --snip-edges=true (default) frame t covers samples\n" +
			"[t·hop, t·hop + window) and a file of N samples has 1 + (N − window) / hop\n" +
			"frames (none if shorter than a window). With --snip-edges=false frame t is\n" +
			"centred on t·hop + hop/2 and there are (N + hop/2) / hop frames; learned\n" +
			"features pool the part of the window inside the file (fbank reflects it).\n" +
			"Position t's activation has heard samples 0..t.\n\n" +
			"Formats (in --out DIR, keys are the paths without .wav, spaces made _):\n" +
			"  ark   feats.ark + feats.scp (Kaldi binary matrices, byte offsets),\n" +
			"        utt2num_frames; --ark-text adds feats.txt\n" +
			"  npy   one NumPy float32 array (frames × dims) per file, mirroring the corpus\n" +
			"        folders, and index.csv\n" +
			"  htk   one HTK parameter file per file (USER kind for learned features,\n" +
			"        FBANK or MFCC for the baselines), and index.csv\n" +
			"Nothing is visible until the run is complete: on an error or Ctrl-C the output\n" +
			"folder is left as it was.\n\n" +
			"Files are computed on all cores (--threads) and written in corpus order, so the\n" +
			"output is the same for any thread count. --shard I/N computes only the files at\n" +
			"positions I, I+N, I+2N, ... of the corpus in key order (after --split), so N\n" +
			"machines can share a corpus; `nextsample probe --features` takes every shard's\n" +
			"folder, and Kaldi users can concatenate the feats.scp files. A Kubernetes\n" +
			"indexed Job or a Slurm array runs one shard per task:\n" +
			"  nextsample features --model m.safetensors --data /data/manifest.csv \\\n" +
			"      --shard $JOB_COMPLETION_INDEX/8 --out /out/feats-$JOB_COMPLETION_INDEX\n" +
			"  #SBATCH --array=0-7\n" +
			"  nextsample features ... --shard $SLURM_ARRAY_TASK_ID/8 --out feats-$SLURM_ARRAY_TASK_ID\n\n" +
			"Examples:\n" +
			"  nextsample features --kind fbank --data samples/fsdd/manifest.csv --format npy --out /tmp/fbank\n" +
			"  nextsample features --model runs/fsdd/best.safetensors --layers skip,z:all \\\n" +
			"      --data samples/fsdd/manifest.csv --out /tmp/learned",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "model", Usage: "learned features of this model `FILE` (.safetensors)", DefaultText: "the bundled base model, " + BundledModel + ", unless --kind fbank|mfcc"},
			&cli.StringFlag{Name: "kind", Usage: "fbank or mfcc (Kaldi baselines), or learned (of --model or the bundled base model)", DefaultText: "learned"},
			&cli.StringFlag{Name: "data", Usage: "a `DIR` of audio files (WAV, FLAC, SPHERE), a Kaldi data directory (with wav.scp) or a manifest.csv", Required: true},
			&cli.StringFlag{Name: "out", Usage: "output `DIR`", Required: true},
			&cli.StringFlag{Name: "format", Usage: "ark, npy or htk", Value: featio.FormatArk},
			&cli.StringFlag{Name: "layers", Usage: "learned: `SPEC` of what each frame holds (skip, z:all, z:0,5,19, skip,z:all)", Value: "skip"},
			&cli.StringFlag{Name: "pool", Usage: "learned: mean or max over each frame", Value: features.PoolMean},
			&cli.BoolFlag{Name: "snip-edges", Usage: "Kaldi's frame convention: only whole windows (false: centred frames)", Value: true},
			&cli.Float64Flag{Name: "frame-length", Usage: "window `MS`", Value: 25},
			&cli.Float64Flag{Name: "frame-shift", Usage: "hop `MS`", Value: 10},
			&cli.StringFlag{Name: "shard", Usage: "compute only shard `I/N` of the corpus (0 ≤ I < N)"},
			&cli.StringFlag{Name: "split", Usage: "only files of this manifest split", DefaultText: "every file"},
			&cli.IntFlag{Name: "threads", Usage: "worker threads", DefaultText: "all cores"},
			&cli.BoolFlag{Name: "resample", Usage: "resample files at another rate (learned: to the model's rate; baselines: to --sample-rate)"},
			&cli.IntFlag{Name: "sample-rate", Usage: "baselines: compute at this rate `HZ` (other rates need --resample); learned: the model's rate, for a model file (exported from PyTorch) that records neither \"audio\" nor \"sample_rate\" metadata", DefaultText: "the corpus's"},
			&cli.Float64Flag{Name: "dither", Usage: "baselines: Gaussian dither in int16 units (Kaldi's default is 1)", Value: 0},
			&cli.BoolFlag{Name: "ark-text", Usage: "ark: also write the text form, feats.txt"},
			&cli.StringFlag{Name: "speaker", Usage: "learned features of a speaker-conditioned model: the speaker `NAME` for files whose own speaker the model does not know"},
			&cli.IntFlag{Name: "chunk", Usage: "learned: positions per network call (bounds memory; does not change the features)", Value: features.DefaultChunk},
		},
		Action: runFeatures,
	}
}

func runFeatures(c *cli.Context) error {
	if c.NArg() > 0 {
		return fmt.Errorf("features: unexpected argument %q (the corpus is given with --data)", c.Args().First())
	}
	ctx := c.Context
	stderr := c.App.ErrWriter
	kind, format, err := featureFlags(c)
	if err != nil {
		return err
	}
	shard, err := features.ParseShard(c.String("shard"))
	if err != nil {
		return fmt.Errorf("features: --%w", err)
	}
	corp, entries, what, err := featureEntries(c, shard)
	if err != nil {
		return err
	}
	recipe, speakers, err := featureRecipe(c, kind, entries)
	if err != nil {
		return fmt.Errorf("features: %w", err)
	}

	fmt.Fprintf(stderr, "features: %s\n", recipe)
	fmt.Fprintf(stderr, "features: %s (%s): %d files\n", corp.Source, what, len(entries))
	out := c.String("out")
	status := newStatusLine(stderr, ttyEvery, logEvery).firstAfterInterval()
	prog, err := features.WriteCorpus(ctx, recipe, entries, out, features.CorpusOptions{
		RunOptions: features.RunOptions{Threads: c.Int("threads"), Progress: progressPrinter(status), Speakers: speakers},
		Format:     format,
		ArkText:    c.Bool("ark-text"),
		Shard:      shard,
	})
	status.clear()
	if err != nil {
		return interrupted(ctx, fmt.Errorf("%w; nothing was written to %s", err, out))
	}
	_, err = fmt.Fprintf(c.App.Writer, "features: %d files, %d frames × %d dims in %s (%s format), %.1f s of audio in %.1f s (%s samples/s)\n",
		prog.Done, prog.Frames, recipe.Dim, out, format, float64(prog.Samples)/float64(recipe.Settings.SampleRate),
		prog.Elapsed.Seconds(), humanize.ShortCount(prog.SamplesPerSecond()))
	return err
}

// featureFlags checks that the flags given go together, and returns the
// kind of features (fbank, mfcc, or learned with --model) and the format.
func featureFlags(c *cli.Context) (kind, format string, err error) {
	kind = c.String("kind")
	// Learned features unless --kind names a Kaldi baseline: of --model, or
	// of the bundled base model when it is not given.
	learned := c.IsSet("model") || kind == "" || kind == featio.KindLearned
	switch {
	case c.IsSet("model") && kind != "" && kind != featio.KindLearned:
		return "", "", fmt.Errorf("features: --model makes learned features; --kind %s does not go with it", kind)
	case !learned && kind != featio.KindFbank && kind != featio.KindMFCC:
		return "", "", fmt.Errorf("features: unknown --kind %q (want fbank, mfcc, or learned)", kind)
	}
	if learned {
		kind = featio.KindLearned
	}
	for _, name := range []string{"layers", "pool", "chunk"} {
		if !learned && c.IsSet(name) {
			return "", "", fmt.Errorf("features: --%s is for learned features (--model)", name)
		}
	}
	for _, name := range []string{"dither"} {
		if learned && c.IsSet(name) {
			return "", "", fmt.Errorf("features: --%s is for --kind fbank|mfcc; learned features use the model's settings", name)
		}
	}
	format = c.String("format")
	switch format {
	case featio.FormatArk, featio.FormatNpy, featio.FormatHTK:
	default:
		return "", "", fmt.Errorf("features: unknown --format %q (want ark, npy or htk)", format)
	}
	if c.IsSet("ark-text") && format != featio.FormatArk {
		return "", "", errors.New("features: --ark-text goes with --format ark")
	}
	return kind, format, nil
}

// featureEntries opens --data and returns the files of --split and
// --shard, and what they are, for the messages.
func featureEntries(c *cli.Context, shard features.Shard) (corp *corpus.Corpus, entries []corpus.Entry, what string, err error) {
	corp, err = corpus.Open(c.String("data"))
	if err != nil {
		return nil, nil, "", fmt.Errorf("features: %w", err)
	}
	what = "all files"
	if split := c.String("split"); split != "" {
		what = "split " + split
	}
	if entries, err = corp.Select(c.String("split")); err != nil {
		return nil, nil, "", fmt.Errorf("features: %w", err)
	}
	entries = shard.Select(entries)
	if shard.Count > 1 {
		what += ", shard " + shard.String()
	}
	if len(entries) == 0 {
		return nil, nil, "", fmt.Errorf("features: %s (%s): no files in this shard", corp.Source, what)
	}
	return corp, entries, what, nil
}

// featureRecipe builds the recipe of the features of kind from the
// flags; for a speaker-conditioned model it also returns each entry's row
// of the speaker table.
func featureRecipe(c *cli.Context, kind string, entries []corpus.Entry) (*features.Recipe, []int, error) {
	frames := features.FrameOptions{LengthMs: c.Float64("frame-length"), ShiftMs: c.Float64("frame-shift"), SnipEdges: c.Bool("snip-edges")}
	if kind != featio.KindLearned {
		if c.IsSet("speaker") {
			return nil, nil, errors.New("--speaker is for the learned features of a speaker-conditioned model")
		}
		rate := launch.CommonRate(entries) // the corpus's rate, unless --sample-rate
		if c.IsSet("sample-rate") {
			rate = c.Int("sample-rate")
		}
		r, err := features.KaldiRecipe(features.KaldiOptions{Kind: kind, SampleRate: rate, Frames: frames, Dither: c.Float64("dither"), Resample: c.Bool("resample")})
		return r, nil, err
	}
	path, err := modelPath(c, "features")
	if err != nil {
		return nil, nil, err
	}
	mf, err := modelfile.Load(path)
	if err != nil {
		return nil, nil, err
	}
	settings, err := modelSettings(c, mf)
	if err != nil {
		return nil, nil, err
	}
	if c.IsSet("resample") {
		settings.Resample = c.Bool("resample")
	}
	r, err := features.LearnedRecipe(mf, settings, features.LearnedOptions{Layers: c.String("layers"), Pool: c.String("pool"), Frames: frames, Chunk: c.Int("chunk")})
	if err != nil {
		return nil, nil, err
	}
	speakers, err := featureSpeakers(r, c.String("speaker"), mf, entries)
	return r, speakers, err
}

// progressPrinter reports the features' progress on status.
func progressPrinter(status *statusLine) func(features.Progress) {
	return func(p features.Progress) {
		eta := ""
		if left := p.Left(); left > 0 {
			eta = fmt.Sprintf(", %s left", left.Round(time.Second))
		}
		status.draw(fmt.Sprintf("features: %d/%d files (%.0f%%), %s samples/s%s",
			p.Done, p.Total, 100*float64(p.Done)/float64(p.Total), humanize.ShortCount(p.SamplesPerSecond()), eta), p.Done == p.Total)
	}
}

// featureSpeakers chooses, for the learned features r of a
// speaker-conditioned model, each entry's row of its table: the entry's
// own speaker where the model knows it, else --speaker (see
// features.Recipe.ChooseSpeakers). An unconditioned model refuses
// --speaker.
func featureSpeakers(r *features.Recipe, forced string, mf *modelfile.File, entries []corpus.Entry) ([]int, error) {
	table, err := mf.Speakers()
	if err != nil {
		return nil, err
	}
	rows, err := r.ChooseSpeakers(table, entries, forced)
	var missing *features.MissingSpeakersError
	switch {
	case errors.As(err, &missing):
		return nil, fmt.Errorf("%s is conditioned on speakers, and %d files have no speaker it knows (%s; speakers %s): give --speaker NAME, one of %s",
			mf.Path, len(missing.Files), humanize.FirstFew(missing.Files, 3), humanize.FirstFew(missing.Speakers, 3), humanize.FirstFew(table, 20))
	case err != nil:
		return nil, speakerFlagError(err, forced, mf.Path, table)
	}
	return rows, nil
}
