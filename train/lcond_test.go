package train

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nextsample/nextsample/causalconv"
)

// A locally conditioned model is refused, with one clear error and nothing
// written, by everything in train (which does not give features yet):
// a new run, a stepper and evaluation.
func TestLocallyConditionedRefused(t *testing.T) {
	c := tinyConfig()
	c.LocalCondition = &causalconv.LocalCondition{Channels: 2, Hop: 4, Window: 4, UpsampleScales: []int{2, 2}}
	m, err := causalconv.NewRandom(c, 1)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "run")
	_, errNew := New(m, tinyData(1), tinyOptions(Adam), Setup{Out: out})
	_, errStep := NewStepper(m, tinyOptions(Adam))
	_, errEval := Evaluate(context.Background(), m, [][]int32{{1, 2, 3}}, 1)
	for what, err := range map[string]error{"training": errNew, "stepper": errStep, "evaluation": errEval} {
		var lce *causalconv.LocalConditionError
		if !errors.As(err, &lce) || !strings.Contains(err.Error(), "not implemented yet") {
			t.Errorf("%s: %v, want a LocalConditionError", what, err)
		}
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("the refused run made its directory: %v", err)
	}
}
