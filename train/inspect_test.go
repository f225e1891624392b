package train

import (
	"context"
	"fmt"
	"maps"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nextsample/nextsample/causalconv"
	"github.com/nextsample/nextsample/causalconv/modelfile"
)

// TestInspect: a run's checkpoint is described as resumable, its best
// model as such; a checkpoint without its optimizer state is described,
// with the buffer Resume then misses first.
func TestInspect(t *testing.T) {
	o := tinyOptions(SGD)
	o.Steps, o.EvalEvery, o.SaveEvery = 3, 3, 0
	out := t.TempDir()
	am, err := modelfile.AudioMeta(modelfile.ReferenceSettings(8000, tinyConfig().QuantizationChannels))
	if err != nil {
		t.Fatal(err)
	}
	m, err := causalconv.NewRandom(tinyConfig(), o.Seed)
	if err != nil {
		t.Fatal(err)
	}
	r, err := New(m, tinyData(1), o, Setup{Out: out, Meta: map[string]string{modelfile.KeyAudio: am}})
	if err != nil {
		t.Fatal(err)
	}
	r.noPlot = true
	if err := r.Train(context.Background()); err != nil {
		t.Fatal(err)
	}
	r.Close()

	last, err := Inspect(filepath.Join(out, LastFile), InspectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if last.Kind != KindCheckpoint || !last.Resumable || last.Training == nil || last.Training.Step != 3 || *last.Step != 3 ||
		last.OptimizerTensors != len(m.Tensors()) || last.SampleRate == nil || *last.SampleRate != 8000 || last.AudioAssumed != "" {
		t.Errorf("last: %+v", last)
	}
	best, err := Inspect(filepath.Join(out, BestFile), InspectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if best.Kind != KindBest || best.Resumable || best.Best == nil || best.Best.Step != 3 || best.OptimizerTensors != 0 {
		t.Errorf("best: %+v", best)
	}

	// Without the optimizer state.
	ck, err := ReadCheckpoint(filepath.Join(out, LastFile))
	if err != nil {
		t.Fatal(err)
	}
	meta := maps.Clone(ck.Metadata)
	delete(meta, modelfile.KeyModel)
	bare := filepath.Join(out, "bare.safetensors")
	if err := modelfile.SaveFile(bare, ck.Model, meta, nil); err != nil {
		t.Fatal(err)
	}
	mi, err := Inspect(bare, InspectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	first := "train/momentum_buffer." + m.Tensors()[0].Name
	want := fmt.Sprintf("optimizer state %s missing (and %d more)", first, len(m.Tensors())-1)
	if mi.Kind != KindCheckpoint || mi.Resumable || mi.ResumeProblem != want {
		t.Errorf("without optimizer state: kind %q, resumable %v, problem %q; want %q", mi.Kind, mi.Resumable, mi.ResumeProblem, want)
	}
	ck, err = ReadCheckpoint(bare)
	if err != nil {
		t.Fatal(err)
	}
	r, err = Resume(ck, tinyData(1), ck.Options, Setup{Out: out})
	if err == nil {
		r.Close()
		t.Fatal("resumed without optimizer state")
	}
	if !strings.Contains(err.Error(), first+" missing") {
		t.Errorf("Resume without optimizer state: %v", err)
	}
}
