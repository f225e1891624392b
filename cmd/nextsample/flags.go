package main

import (
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/nextsample/nextsample/audio"
	"github.com/nextsample/nextsample/causalconv/modelfile"
	"github.com/nextsample/nextsample/train/launch"
)

// The flags that several commands share: how each is defined and read,
// how what it names is shown, and how the errors of the libraries behind
// it are said in its words.

// given returns the value of flag name, or nil when the user did not set
// it.
func given[T any](c *cli.Context, name string, value func(string) T) *T {
	if !c.IsSet(name) {
		return nil
	}
	v := value(name)
	return &v
}

// cacheFlag is the --cache-dir flag of the commands that read a corpus's
// classes through a class cache.
func cacheFlag() cli.Flag {
	return &cli.StringFlag{Name: "cache-dir", Usage: "`DIR` of the prepared μ-law classes (1 byte per sample, built once per corpus and audio settings, reused by later runs)",
		EnvVars: []string{"NEXTSAMPLE_CACHE_DIR"}, DefaultText: "$XDG_CACHE_HOME/nextsample or ~/.cache/nextsample"}
}

// cacheReport returns the launch.CacheEvent handler that shows on w the
// building of class caches, a status line each (redrawn on a terminal,
// every 10 s otherwise), and then the open cache (of classes or
// features): always when announce is set, else only when it was built.
func cacheReport(w io.Writer, announce bool) func(launch.CacheEvent) {
	var line *statusLine
	return func(ev launch.CacheEvent) {
		if ev.Cache == nil && ev.FeatureCache == nil {
			if line == nil {
				line = newStatusLine(w, 0, 10*time.Second)
			}
			line.draw("  "+ev.String(), ev.Done == ev.Total)
			return
		}
		line = nil
		if ev.Built || announce {
			fmt.Fprintf(w, "  %s\n", ev)
		}
	}
}

// audioChanges returns the audio settings given by the flags --sample-rate,
// --resample, --channel, --normalize and --trim-db (train's, and
// convert's but --sample-rate).
func audioChanges(c *cli.Context) modelfile.AudioChanges {
	return modelfile.AudioChanges{
		SampleRate: given(c, "sample-rate", c.Int),
		Resample:   given(c, "resample", c.Bool),
		Channel:    given(c, "channel", c.Int),
		Normalize:  given(c, "normalize", c.String),
		TrimDB:     given(c, "trim-db", c.Float64),
	}
}

// sampleRateFlag is --sample-rate of the commands that read a model.
func sampleRateFlag() cli.Flag {
	return &cli.IntFlag{Name: "sample-rate", Usage: "the model's rate in `Hz`, for a model file (exported from PyTorch) that records neither \"audio\" nor \"sample_rate\" metadata"}
}

// givenRate returns --sample-rate of a command that reads a model, 0 when
// not given, refusing a rate that is not positive.
func givenRate(c *cli.Context) (int, error) {
	if !c.IsSet("sample-rate") {
		return 0, nil
	}
	rate := c.Int("sample-rate")
	if rate <= 0 {
		return 0, fmt.Errorf("--sample-rate %d: want a positive rate in Hz", rate)
	}
	return rate, nil
}

// modelSettings returns the preprocessing of a model file (see
// modelfile.ModelAudio), with --sample-rate for a file that does not
// record its own, and says on stderr which settings were assumed, if any.
func modelSettings(c *cli.Context, mf *modelfile.File) (audio.Settings, error) {
	rate, err := givenRate(c)
	if err != nil {
		return audio.Settings{}, err
	}
	s, assumed, err := modelfile.ModelAudio(mf.Metadata, mf.Model, rate)
	if err != nil {
		return audio.Settings{}, fmt.Errorf("%s: %w", mf.Path, sampleRateFlagError(err))
	}
	if assumed != nil {
		fmt.Fprintf(c.App.ErrWriter, "%s: %s: %s\n", c.Command.Name, mf.Path, assumed.Describe("--sample-rate"))
	}
	return s, nil
}

// sampleRateFlagError says in --sample-rate's words what modelfile found
// about a model's rate: how to give one it does not know, and which
// disagrees with the one it records.
func sampleRateFlagError(err error) error {
	var conflict *modelfile.RateConflictError
	switch {
	case errors.Is(err, modelfile.ErrNoSampleRate):
		return fmt.Errorf("%w: give it with --sample-rate HZ", err)
	case errors.As(err, &conflict) && conflict.Key == modelfile.KeyAudio:
		return fmt.Errorf("the model was trained at %d Hz (its %q metadata), not the --sample-rate %d given; --sample-rate is only for models that do not record their preprocessing",
			conflict.Recorded, conflict.Key, conflict.Given)
	case errors.As(err, &conflict):
		return fmt.Errorf("metadata %q says %d Hz, but --sample-rate %d was given", conflict.Key, conflict.Recorded, conflict.Given)
	}
	return err
}

// featuresFlag is --features of the commands that read a locally
// conditioned model's features rather than compute them; what says what
// the model is with them ("trained on", "scored on").
func featuresFlag(what string) cli.Flag {
	return &cli.StringFlag{Name: "features", Usage: "frame features the locally conditioned model is " + what + ", keyed like the corpus: a Kaldi `feats.scp` (key ark:offset lines) or a folder written by nextsample features (ark, npy or htk, with features.json)"}
}
