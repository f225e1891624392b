package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"

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
	out := c.App.Writer
	if c.Bool("json") {
		b, err := json.Marshal(res)
		if err != nil {
			return fmt.Errorf("probe: %w", err)
		}
		_, err = fmt.Fprintf(out, "%s\n", b)
		return err
	}
	fmt.Fprintf(out, "features: %s (%s, %d dims per frame, pooled to %d), %d utterances, %d classes of %q\n",
		strings.Join(c.StringSlice("features"), ", "), res.Kind, res.FeatureDims, 2*res.FeatureDims, res.Utterances, len(res.Classes), res.Label)
	if res.Unused > 0 {
		fmt.Fprintf(out, "ignored: %d feature entries with no manifest row\n", res.Unused)
	}
	if res.Protocol == probe.ProtocolSplit {
		f := res.Folds[0]
		if _, err := fmt.Fprintf(out, "split: train %d, test %d, accuracy %.2f%% (%d/%d)\n", f.Train, f.N, 100*res.Accuracy, f.Correct, f.N); err != nil {
			return err
		}
		if len(res.Classes) > 20 {
			return nil
		}
		// The confusion matrix: rows the true labels, columns the predicted.
		tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprint(tw, "true \\ predicted\t")
		for _, p := range res.Classes {
			fmt.Fprintf(tw, "%s\t", p)
		}
		fmt.Fprintln(tw)
		for _, t := range res.Classes {
			if f.Confusion[t] == nil {
				continue
			}
			fmt.Fprintf(tw, "%s\t", t)
			for _, p := range res.Classes {
				fmt.Fprintf(tw, "%d\t", f.Confusion[t][p])
			}
			fmt.Fprintln(tw)
		}
		return tw.Flush()
	}
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "speaker\ttrain\tn\taccuracy\t")
	for _, f := range res.Folds {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%.2f%%\t\n", f.Speaker, f.Train, f.N, 100*f.Accuracy)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err = fmt.Fprintf(out, "loso: mean accuracy %.2f%% over %d speakers\n", 100*res.Accuracy, len(res.Folds))
	return err
}
