package train

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/nextsample/nextsample/causalconv"
)

func conditionedData() Data {
	d := tinyData(1)
	d.Train = WithSpeakers(d.Train, []int{0, 1, 1, 0, 2, 1})
	d.Valid = WithSpeakers(d.Valid, []int{2, 0})
	return d
}

func newConditionedRun(t *testing.T, out string, o Options, ck *Checkpoint) *Run {
	t.Helper()
	setup := Setup{Out: out, Meta: map[string]string{"audio": `{"sample_rate":8000}`}}
	var r *Run
	var err error
	if ck != nil {
		r, err = Resume(ck, conditionedData(), o, setup)
	} else {
		c := tinyConfig()
		c.GlobalCondition = &causalconv.GlobalCondition{Channels: 3, Cardinality: 3}
		m, _ := causalconv.NewRandom(c, o.Seed)
		r, err = New(m, conditionedData(), o, setup)
	}
	if err != nil {
		t.Fatal(err)
	}
	r.noPlot = true
	return r
}

// A speaker-conditioned run trains its speaker table and resumes bit for
// bit; data without speakers is refused for it, and data with speakers for
// an unconditioned model.
func TestConditionedRunResumes(t *testing.T) {
	o := tinyOptions(Adam)
	whole := t.TempDir()
	r := newConditionedRun(t, whole, o, nil)
	before := append([]float32(nil), r.model.View(r.model.Params, "gc_embedding.weight")...)
	if err := r.Train(context.Background()); err != nil {
		t.Fatal(err)
	}
	after := r.model.View(r.model.Params, "gc_embedding.weight")
	moved := 0
	for i := range before {
		if before[i] != after[i] {
			moved++
		}
	}
	if moved != len(before) {
		t.Errorf("%d of %d speaker-table entries changed in training", moved, len(before))
	}
	r.Close()

	split := t.TempDir()
	r = newConditionedRun(t, split, o, nil)
	ctx, cancel := context.WithCancel(context.Background())
	r.afterStep = func(step int64) {
		if step == 4 {
			cancel()
		}
	}
	if err := r.Train(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted run: %v", err)
	}
	r.Close()
	ck, err := ReadCheckpoint(filepath.Join(split, LastFile))
	if err != nil {
		t.Fatal(err)
	}
	r = newConditionedRun(t, split, ck.Options, ck)
	if err := r.Train(context.Background()); err != nil {
		t.Fatal(err)
	}
	r.Close()
	sameTensors(t, filepath.Join(whole, LastFile), filepath.Join(split, LastFile))

	c := tinyConfig()
	c.GlobalCondition = &causalconv.GlobalCondition{Channels: 3, Cardinality: 3}
	m, _ := causalconv.NewRandom(c, 1)
	if _, err := New(m, tinyData(1), o, Setup{Out: t.TempDir()}); err == nil {
		t.Error("a conditioned model trained on files without speakers")
	}
	u, _ := causalconv.NewRandom(tinyConfig(), 1)
	if _, err := New(u, conditionedData(), o, Setup{Out: t.TempDir()}); err == nil {
		t.Error("an unconditioned model trained on files with speakers")
	}
	bad := conditionedData()
	bad.Train = WithSpeakers(tinyData(1).Train, []int{0, 1, 3, 0, 2, 1})
	if _, err := New(m, bad, o, Setup{Out: t.TempDir()}); err == nil {
		t.Error("speaker 3 of a 3-speaker table accepted")
	}
}
