package probe

import (
	"strings"
	"testing"
)

func TestResultWriteText(t *testing.T) {
	split := &Result{Protocol: ProtocolSplit, Label: "label", Accuracy: 0.75, Utterances: 8, Classes: []string{"a", "b"},
		FeatureDims: 23, Kind: "fbank", Features: []string{"f1", "f2"}, Unused: 1,
		Folds: []Fold{{Train: 4, N: 4, Correct: 3, Confusion: map[string]map[string]int{"a": {"a": 2}, "b": {"a": 1, "b": 1}}}}}
	loso := &Result{Protocol: ProtocolLOSO, Label: "label", Accuracy: 0.5, Utterances: 8, Classes: []string{"a", "b"},
		FeatureDims: 23, Kind: "fbank", Features: []string{"f"},
		Folds: []Fold{{Speaker: "s1", Train: 4, N: 4, Accuracy: 0.25}, {Speaker: "s2", Train: 4, N: 4, Accuracy: 0.75}}}
	for _, c := range []struct {
		r    *Result
		want string
	}{
		{split, `features: f1, f2 (fbank, 23 dims per frame, pooled to 46), 8 utterances, 2 classes of "label"
ignored: 1 feature entries with no manifest row
split: train 4, test 4, accuracy 75.00% (3/4)
  true \ predicted  a  b
                 a  2  0
                 b  1  1
`},
		{loso, `features: f (fbank, 23 dims per frame, pooled to 46), 8 utterances, 2 classes of "label"
  speaker  train  n  accuracy
       s1      4  4    25.00%
       s2      4  4    75.00%
loso: mean accuracy 50.00% over 2 speakers
`},
	} {
		var b strings.Builder
		if err := c.r.WriteText(&b); err != nil {
			t.Fatal(err)
		}
		if b.String() != c.want {
			t.Errorf("got\n%s\nwant\n%s", b.String(), c.want)
		}
	}
}
