package main

import (
	"errors"
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/nextsample/nextsample/audio/corpus"
	"github.com/nextsample/nextsample/audio/humanize"
	"github.com/nextsample/nextsample/causalconv/modelfile"
	"github.com/nextsample/nextsample/train/launch"
)

func evalCommand() *cli.Command {
	return &cli.Command{
		Name:      "eval",
		Usage:     "bits per sample of a model on a corpus",
		ArgsUsage: " ",
		Description: "Scores a model on every file of a corpus (or of one split): each sample after\n" +
			"the first is predicted from all the samples before it in its file, with zero\n" +
			"padding before the start, as in training (the first sample has nothing to be\n" +
			"predicted from and is not scored). The result is the mean negative\n" +
			"log-likelihood in bits per sample; 8 bits is a uniform guess over 256 μ-law\n" +
			"classes. Audio is prepared with the settings stored in the model file.\n\n" +
			"Without --data it scores the validation files of the corpus the model was\n" +
			"trained on.\n\n" +
			"A locally conditioned model (a vocoder) is scored given the files' features:\n" +
			"computed as its metadata says, or read from --features.\n\n" +
			"Examples:\n" +
			"  nextsample eval --model runs/latest/best.safetensors\n" +
			"  nextsample eval --model runs/fsdd/best.safetensors --data /data/fsdd/manifest.csv --split test --json",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "model", Usage: "model `FILE` (.safetensors) written by nextsample train", DefaultText: "the bundled base model, " + BundledModel},
			&cli.StringFlag{Name: "data", Usage: "a `DIR` of audio files (WAV, FLAC, SPHERE), a Kaldi data directory (with wav.scp) or a manifest.csv", DefaultText: "the training run's corpus, validation files"},
			&cli.StringFlag{Name: "split", Usage: "score only this manifest split", DefaultText: "every file"},
			&cli.BoolFlag{Name: "json", Usage: "print one JSON object: bits_per_sample, nats_per_sample, samples, files"},
			&cli.IntFlag{Name: "threads", Usage: "worker threads", DefaultText: "all cores"},
			cacheFlag(),
			&cli.StringFlag{Name: "speaker", Usage: "score every file as this `NAME` of a speaker-conditioned model's table", DefaultText: "each file's own speaker"},
			featuresFlag("scored on"),
			sampleRateFlag(),
		},
		Action: runEval,
	}
}

// evalResult is the --json output of eval.
type evalResult struct {
	BitsPerSample float64 `json:"bits_per_sample"`
	NatsPerSample float64 `json:"nats_per_sample"`
	Samples       int64   `json:"samples"`
	Files         int     `json:"files"`
}

func runEval(c *cli.Context) error {
	if c.NArg() > 0 {
		return fmt.Errorf("eval: unexpected argument %q (the model and corpus are given with --model and --data)", c.Args().First())
	}
	ctx := c.Context
	path, err := modelPath(c, "eval")
	if err != nil {
		return fmt.Errorf("eval: %w", err)
	}
	mf, err := modelfile.Load(path)
	if err != nil {
		return fmt.Errorf("eval: %w", err)
	}
	settings, err := modelSettings(c, mf)
	if err != nil {
		return fmt.Errorf("eval: %w", err)
	}
	threads := c.Int("threads")
	rep, err := launch.Evaluate(ctx, launch.EvalRequest{
		Model: mf.Model, Metadata: mf.Metadata, Path: mf.Path, Audio: settings,
		Data: given(c, "data", c.String), Split: c.String("split"), Threads: threads,
		Cache:    launch.CacheOptions{Dir: c.String("cache-dir"), Threads: threads, Report: cacheReport(c.App.ErrWriter, false)},
		Speakers: func(files []corpus.Entry) ([]int, error) { return fileSpeakers(c.String("speaker"), mf, files) },
		Features: c.String("features"),
	})
	var noVal *launch.NoValidationError
	if errors.As(err, &noVal) {
		return fmt.Errorf("eval: %w; give --split or --data", err)
	}
	if err != nil {
		return interrupted(ctx, commandError("eval", err))
	}
	if rep.Samples == 0 {
		return fmt.Errorf("eval: %s: no file has more than one sample; nothing to score", rep.Scope(flagName))
	}
	if c.Bool("json") {
		return printJSON(c, evalResult{BitsPerSample: rep.BitsPerSample(), NatsPerSample: rep.NatsPerSample(), Samples: rep.Samples, Files: rep.Files})
	}
	return rep.WriteText(c.App.Writer, flagName)
}

// fileSpeakers returns the row of a conditioned model's speaker table for
// each entry: its own speaker, or the --speaker given (forced) for all.
// It is nil for an unconditioned model, which refuses --speaker.
func fileSpeakers(forced string, mf *modelfile.File, entries []corpus.Entry) ([]int, error) {
	table, err := mf.Speakers()
	if err != nil {
		return nil, err
	}
	p := modelfile.SpeakerPolicy{Own: forced == ""}
	if forced != "" {
		p.Given = []string{forced}
	}
	r, unknown, err := launch.SpeakerRows(table, entries, p)
	if err != nil {
		return nil, speakerFlagError(err, forced, mf.Path, table)
	}
	if len(r.Missing) > 0 {
		return nil, fmt.Errorf("%s is conditioned on %d speakers (%s); these files' speakers are not among them: %s (give --speaker NAME to score them as one of them)",
			mf.Path, len(table), humanize.FirstFew(table, 20), humanize.FirstFew(unknown, 5))
	}
	return r.Rows, nil
}
