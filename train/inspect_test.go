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

// The text form of a ModelInfo, line by line: a checkpoint of an SGD run
// on several processes, and a model file with neither a rate nor names.
func TestModelInfoText(t *testing.T) {
	rate, ms, step, best, last := 16000, 127.9375, int64(1200), 7.25, 7.5
	o := DefaultOptions(SGD)
	o.Steps, o.Nesterov, o.WeightDecay, o.Batch, o.Crop, o.Chunk, o.Seed, o.EvalEvery, o.SaveEvery = 2000, true, 0.01, 8, 16000, 4096, 7, 100, 500
	audioSettings := modelfile.ReferenceSettings(rate, 256)
	mi := &ModelInfo{Path: "runs/x/last.safetensors", Kind: KindCheckpoint, SizeBytes: 3 << 20, Step: &step,
		Config: []byte(`{"layers_name":"wave","dilations":[1,2],"bias":true}`), Layers: 2, ReceptiveField: 2047, ReceptiveFieldMS: &ms,
		Parameters: 1234, MFLOPPerSample: 2.414, InputEncoding: causalconv.InputEmbedding,
		SampleRate: &rate, Audio: &audioSettings,
		Speakers: []string{"a", "b"}, SpeakerCount: 3, SpeakerNote: "the table has 3 rows",
		Training: &TrainingInfo{Step: 1200, Updates: 1190, SkippedSteps: 10, LRScale: 0.5, Seconds: 3725, BestValBits: &best, BestStep: 1100,
			LastValBits: &last, Ranks: 4, TrainFiles: 200, TrainSamples: 649285, Options: o},
		TrainData:        &modelfile.TrainData{Data: "/d/train", ValData: "/d/dev", ValSplit: "dev", ValSamples: 8000},
		ResumeProblem:    "optimizer state train/momentum_buffer.w missing",
		OptimizerTensors: 2, OptimizerBytes: 2 << 20, ParameterBytes: 1 << 20,
	}
	want := "File       : runs/x/last.safetensors (training checkpoint)\n" +
		"Size       : 3.0 MiB (3145728 bytes); parameters 1.0 MiB, optimizer state 2.0 MiB in 2 tensors\n" +
		"Model      : 2 layers, receptive field 2047 samples (127.9 ms at 16000 Hz), 1234 parameters, 2.41 MFLOP per trained sample\n" +
		"Input      : embedding (a lookup of the μ-law class)\n" +
		"Config     : layers_name wave, dilations [1,2], bias true\n" +
		"Audio      : 16000 Hz, channels averaged, other rates refused, DC removed, peak scaled to 0.95, μ-law with 256 classes\n" +
		"Speakers   : 2 speakers: a, b\n" +
		"             (the table has 3 rows)\n" +
		"Training   : step 1200 of 2000, 1190 updates (10 non-finite steps skipped), learning rate scaled by 0.5, trained 1 h 02 min (3725.000 s), 4 processes\n" +
		fmt.Sprintf("Optimizer  : sgd, lr %g, momentum %g (Nesterov), weight decay 0.01; warm-up %d, decay cosine to %g×", o.LR, o.Momentum, o.Warmup, o.LRFloor)
	if o.Clip > 0 {
		want += fmt.Sprintf(", clip %g", o.Clip)
	}
	want += "\n" +
		fmt.Sprintf("Settings   : 8 files × ≤16000 samples, chunk 4096, %s, seed 7, validation every 100 steps, snapshots every 500\n", o.Precision) +
		"Validation : best 7.2500 bits/sample at step 1100, last 7.5000\n" +
		"Train set  : 200 files, 649285 samples\n" +
		"Data       : /d/train; validation on split dev of /d/dev, at most about 8000 samples\n" +
		"Resumable  : no (optimizer state train/momentum_buffer.w missing)\n"
	var b strings.Builder
	if err := mi.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	if b.String() != want {
		t.Errorf("text:\n%s\nwant:\n%s", b.String(), want)
	}

	mi = &ModelInfo{Path: "m.safetensors", Kind: KindModel, SizeBytes: 1000, Config: []byte(`{}`), InputEncoding: causalconv.InputOneHot,
		AudioAssumed: "no rate", SpeakerCount: 3, ParameterBytes: 900}
	want = "File       : m.safetensors (model without training state)\n" +
		"Size       : 1000 B; parameters 900 B\n" +
		"Model      : 0 layers, receptive field 0 samples, 0 parameters, 0.00 MFLOP per trained sample\n" +
		"Input      : onehot (a causal conv over one-hot μ-law classes)\n" +
		"Config     : \n" +
		"Audio      : unknown\n" +
		"             (no rate)\n" +
		"Speakers   : 3 speakers, unnamed\n" +
		"Resumable  : no (no training state; only last.safetensors and step-NNNNNN.safetensors have it)\n"
	b.Reset()
	if err := mi.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	if b.String() != want {
		t.Errorf("text:\n%s\nwant:\n%s", b.String(), want)
	}
}

func TestDescribeSpeakersAndData(t *testing.T) {
	many := make([]string, 21)
	for i := range many {
		many[i] = fmt.Sprint(i)
	}
	for _, tc := range []struct {
		names []string
		count int
		want  string
	}{
		{nil, 0, "none (unconditioned)"},
		{nil, 1, "1 speaker, unnamed"},
		{[]string{}, 0, "0 speakers"},
		{[]string{"a"}, 1, "1 speaker: a"},
		{many, 21, "21 speakers: " + strings.Join(many[:20], ", ") + ", …"},
	} {
		if got := describeSpeakers(tc.names, tc.count); got != tc.want {
			t.Errorf("describeSpeakers(%q, %d) = %q, want %q", tc.names, tc.count, got, tc.want)
		}
	}
	for d, want := range map[modelfile.TrainData]string{
		{}:                            "unknown; validation on the default split (the first of valid, validation, dev, test present)",
		{Data: "/c", ValData: "/v"}:   "/c; validation on /v",
		{Data: "/c", ValSplit: "dev"}: "/c; validation on split dev",
		{Data: "/c", ValSamples: 10}:  "/c; validation on the default split (the first of valid, validation, dev, test present), at most about 10 samples",
	} {
		if got := describeTrainData(d); got != want {
			t.Errorf("describeTrainData(%+v) = %q, want %q", d, got, want)
		}
	}
}
