package train

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nextsample/nextsample/causalconv"
)

// A locally conditioned model given no features is refused, with one
// clear error and nothing written, by everything in train: a new run,
// a stepper's step and evaluation.
func TestLocallyConditionedWithoutFeaturesRefused(t *testing.T) {
	c := tinyConfig()
	c.LocalCondition = &causalconv.LocalCondition{Channels: 2, Hop: 4, Window: 4, UpsampleScales: []int{2, 2}}
	m, err := causalconv.NewRandom(c, 1)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "run")
	_, errNew := New(m, tinyData(1), tinyOptions(Adam), Setup{Out: out})
	st, err := NewStepper(m, tinyOptions(Adam))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	_, errStep := st.Step([]Unit{{Seq: []int32{1, 2, 3}, Targets: 2, Speaker: -1}})
	_, errEval := Evaluate(context.Background(), m, [][]int32{{1, 2, 3}}, 1)
	for what, err := range map[string]error{"training": errNew, "stepper": errStep, "evaluation": errEval} {
		if err == nil || !strings.Contains(err.Error(), "features") || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: %v, want one line about the missing features", what, err)
		}
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("the refused run made its directory: %v", err)
	}
}
