package probe

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// maxConfusion is the most classes whose confusion matrix WriteText
// prints.
const maxConfusion = 20

// WriteText writes the result as nextsample probe prints it: the
// features and labels, then for the split protocol the accuracy and (up
// to 20 classes) the confusion matrix, rows the true labels and columns
// the predicted ones,
//
//	features: /tmp/fbank (fbank, 23 dims per frame, pooled to 46), 60 utterances, 10 classes of "label"
//	split: train 48, test 12, accuracy 75.00% (9/12)
//	true \ predicted  0  1  ...
//
// and for leave one speaker out a table of the folds and their mean.
func (r *Result) WriteText(w io.Writer) error {
	fmt.Fprintf(w, "features: %s (%s, %d dims per frame, pooled to %d), %d utterances, %d classes of %q\n",
		strings.Join(r.Features, ", "), r.Kind, r.FeatureDims, 2*r.FeatureDims, r.Utterances, len(r.Classes), r.Label)
	if r.Unused > 0 {
		fmt.Fprintf(w, "ignored: %d feature entries with no manifest row\n", r.Unused)
	}
	if r.Protocol == ProtocolSplit {
		f := r.Folds[0]
		if _, err := fmt.Fprintf(w, "split: train %d, test %d, accuracy %.2f%% (%d/%d)\n", f.Train, f.N, 100*r.Accuracy, f.Correct, f.N); err != nil {
			return err
		}
		if len(r.Classes) > maxConfusion {
			return nil
		}
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprint(tw, "true \\ predicted\t")
		for _, p := range r.Classes {
			fmt.Fprintf(tw, "%s\t", p)
		}
		fmt.Fprintln(tw)
		for _, t := range r.Classes {
			if f.Confusion[t] == nil {
				continue
			}
			fmt.Fprintf(tw, "%s\t", t)
			for _, p := range r.Classes {
				fmt.Fprintf(tw, "%d\t", f.Confusion[t][p])
			}
			fmt.Fprintln(tw)
		}
		return tw.Flush()
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "speaker\ttrain\tn\taccuracy\t")
	for _, f := range r.Folds {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%.2f%%\t\n", f.Speaker, f.Train, f.N, 100*f.Accuracy)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "loso: mean accuracy %.2f%% over %d speakers\n", 100*r.Accuracy, len(r.Folds))
	return err
}
