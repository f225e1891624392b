package main

import (
	"errors"
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/nextsample/nextsample/train/probe"
)

func probeCommand() *cli.Command {
	return &cli.Command{
		Name:      "probe",
		Usage:     "linear-probe accuracy of frame features",
		ArgsUsage: " ",
		Description: "Pools each utterance's frame features (mean and standard deviation per\n" +
			"dimension), standardises them with statistics of the training part, trains a\n" +
			"multinomial logistic regression with L2 (scikit-learn's, C=1) and reports the\n" +
			"accuracy of predicting a manifest column.\n\n" +
			"  --protocol split  trains on split=train rows, tests on split=test\n" +
			"  --protocol loso   leave one speaker out: one fold per value of the speaker\n" +
			"                    column, accuracy averaged over folds\n\n" +
			"Features are folders written by `nextsample features` (give --features once per\n" +
			"shard); utterances are matched to manifest rows by key, the manifest path\n" +
			"without its extension.\n\n" +
			"Example:\n" +
			"  nextsample features --kind fbank --data samples/fsdd/manifest.csv --format npy --out /tmp/fbank\n" +
			"  nextsample probe --features /tmp/fbank --data samples/fsdd/manifest.csv --label label --protocol loso",
		Flags: []cli.Flag{
			&cli.StringSliceFlag{Name: "features", Usage: "features `DIR` (repeat for shards)", Required: true},
			&cli.StringFlag{Name: "data", Usage: "manifest `CSV` (path column relative to it), or a Kaldi data directory (speaker from utt2spk, label from text)", Required: true},
			&cli.StringFlag{Name: "label", Usage: "manifest `COLUMN` to predict", Value: "label"},
			&cli.StringFlag{Name: "protocol", Usage: "split or loso", Value: probe.ProtocolSplit},
			&cli.Float64Flag{Name: "C", Usage: "inverse L2 regularisation strength (scikit-learn's C)", Value: 1},
			&cli.BoolFlag{Name: "json", Usage: "print one JSON object instead of a table"},
		},
		Action: runProbe,
	}
}

func runProbe(c *cli.Context) error {
	if c.NArg() > 0 {
		return fmt.Errorf("probe: unexpected argument %q (features and manifest are given with --features and --data)", c.Args().First())
	}
	ctx := c.Context
	res, err := probe.Run(ctx, probe.Options{
		Features: c.StringSlice("features"),
		Manifest: c.String("data"),
		Label:    c.String("label"),
		Protocol: c.String("protocol"),
		C:        c.Float64("C"),
	})
	if err != nil {
		if ctx.Err() != nil && errors.Is(err, ctx.Err()) {
			return fmt.Errorf("probe: %w", errInterrupted)
		}
		return err
	}
	if c.Bool("json") {
		return printJSON(c, res)
	}
	return res.WriteText(c.App.Writer)
}
