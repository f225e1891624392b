package launch

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/nextsample/nextsample/audio"
	"github.com/nextsample/nextsample/audio/corpus"
	"github.com/nextsample/nextsample/causalconv/modelfile"
	"github.com/nextsample/nextsample/train"
)

// tinyModel is a model small enough to train in a test: RF 8.
const tinyModel = `{"quantization_channels": 256, "input_encoding": "onehot", "input_kernel_size": 1,
 "residual_channels": 4, "dilation_channels": 4, "skip_channels": 8, "end_channels": 8,
 "kernel_size": 2, "dilations": [1, 2, 4], "bias": true, "residual_on_last_layer": false}`

// writeCorpus writes n short noisy tones as 8 kHz WAV files, every fourth
// in split "test" (or all in "train" when split is false), speakers s0 and
// s1, with a manifest and a model config, and returns their paths.
func writeCorpus(t *testing.T, n int, split bool) (manifest, config string) {
	t.Helper()
	dir := t.TempDir()
	r := rand.New(rand.NewPCG(1, 2))
	rows := []string{"path,speaker,label,split"}
	for i := range n {
		x := make([]float32, 300+r.IntN(400))
		f := 200 + 100*float64(i)
		for k := range x {
			x[k] = float32(0.5*math.Sin(2*math.Pi*f*float64(k)/8000) + 0.02*r.NormFloat64())
		}
		name := fmt.Sprintf("tone%02d.wav", i)
		if err := audio.WriteFile(filepath.Join(dir, name), x, 8000, audio.PCM16); err != nil {
			t.Fatal(err)
		}
		s := "train"
		if split && i%4 == 3 {
			s = "test"
		}
		rows = append(rows, fmt.Sprintf("%s,s%d,%d,%s", name, i%2, i, s))
	}
	manifest = filepath.Join(dir, "manifest.csv")
	if err := os.WriteFile(manifest, []byte(strings.Join(rows, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	config = filepath.Join(dir, "model.json")
	if err := os.WriteFile(config, []byte(tinyModel), 0o644); err != nil {
		t.Fatal(err)
	}
	return manifest, config
}

func ptr[T any](v T) *T { return &v }

func keys(entries []corpus.Entry) []string {
	var k []string
	for _, e := range entries {
		k = append(k, e.Key)
	}
	return k
}

func TestChooseSplits(t *testing.T) {
	manifest, _ := writeCorpus(t, 11, true)
	s, err := openSplits(Source{Data: manifest})
	if err != nil {
		t.Fatal(err)
	}
	if len(s.train) != 9 || len(s.valid) != 2 || s.validName != "test" {
		t.Fatalf("train %d files, validation %d (%q); want 9, 2 (test)", len(s.train), len(s.valid), s.validName)
	}
	// A split that is not there names the option.
	_, err = openSplits(Source{Data: manifest, ValSplit: "dev"})
	var oe *train.OptionError
	if !errors.As(err, &oe) || oe.Option != "ValSplit" || !strings.Contains(err.Error(), `ValSplit "dev" has no files (splits: test 2, train 9)`) {
		t.Fatalf("ValSplit dev: %v", err)
	}
	// Without a validation split the training files give up a share.
	flat, _ := writeCorpus(t, 40, false)
	s, err = openSplits(Source{Data: flat})
	if err != nil {
		t.Fatal(err)
	}
	if len(s.valid) == 0 || len(s.train)+len(s.valid) != 40 || s.validName != "held out from train by key hash" {
		t.Fatalf("held out: train %d, validation %d (%q)", len(s.train), len(s.valid), s.validName)
	}
	for _, e := range s.valid {
		if corpus.AssignSplit(e.Key) != corpus.Validation {
			t.Errorf("%s held out, but its key assigns it to %s", e.Key, corpus.AssignSplit(e.Key))
		}
	}
	// A separate validation corpus: all of it, or a split.
	s, err = openSplits(Source{Data: flat, ValData: manifest, ValSplit: "test"})
	if err != nil {
		t.Fatal(err)
	}
	if len(s.train) != 40 || len(s.valid) != 2 || !strings.HasSuffix(s.validName, ", split test") {
		t.Fatalf("ValData: train %d, validation %d (%q)", len(s.train), len(s.valid), s.validName)
	}
	_, err = openSplits(Source{Data: flat, ValData: filepath.Join(t.TempDir(), "none.csv")})
	if !errors.As(err, &oe) || oe.Option != "ValData" {
		t.Fatalf("a missing ValData: %v", err)
	}
}

func TestBoundValidationByKeyHash(t *testing.T) {
	var all []corpus.Entry
	for i := range 50 {
		e := corpus.Entry{Key: fmt.Sprintf("utt%02d", i)}
		e.Info.Frames, e.Info.SampleRate = 1000, 8000
		all = append(all, e)
	}
	kept := boundValidation(all, 10000, 8000)
	if len(kept) != 10 {
		t.Fatalf("kept %d files of 1000 samples for 10000 samples", len(kept))
	}
	if !slices.IsSortedFunc(kept, func(a, b corpus.Entry) int { return strings.Compare(a.Key, b.Key) }) {
		t.Error("kept files are not in corpus order")
	}
	// The choice depends on the keys alone: files added or at 16 kHz
	// (counted at the model's rate) do not change it.
	more := slices.Clone(all)
	for i := range more {
		more[i].Info.Frames, more[i].Info.SampleRate = 2000, 16000
	}
	if got := boundValidation(more, 10000, 8000); !slices.Equal(keys(got), keys(kept)) {
		t.Errorf("at 16 kHz: kept %v, want %v", keys(got), keys(kept))
	}
	if got := boundValidation(all, 0, 8000); len(got) != 50 {
		t.Errorf("limit 0 kept %d of 50", len(got))
	}
}

func TestChangesApply(t *testing.T) {
	base := train.DefaultOptions(train.SGD)
	o := OptionChanges{Steps: ptr(int64(7)), LR: ptr(0.5)}.Apply(base, 3)
	want := base
	want.Steps, want.LR, want.Threads = 7, 0.5, 3
	if fmt.Sprintf("%+v", o) != fmt.Sprintf("%+v", want) {
		t.Errorf("Apply = %+v, want %+v", o, want)
	}
	if o := (OptionChanges{}).Apply(base, 0); o.Threads < 1 {
		t.Errorf("threads 0 resolved to %d", o.Threads)
	}
	s := audio.DefaultSettings()
	if err := checkAudio(modelfile.AudioChanges{Normalize: ptr(s.Normalize)}, s); err != nil {
		t.Errorf("the same setting refused: %v", err)
	}
	err := checkAudio(modelfile.AudioChanges{TrimDB: ptr(-40.0)}, s)
	var oe *train.OptionError
	if !errors.As(err, &oe) || oe.Option != "Audio" || !strings.Contains(err.Error(), "cannot change its preprocessing") {
		t.Errorf("a changed setting: %v", err)
	}
}

func TestPrepareRefuses(t *testing.T) {
	manifest, config := writeCorpus(t, 11, true)
	out := filepath.Join(t.TempDir(), "run")
	for _, c := range []struct {
		req    Request
		option string // of the OptionError, or the Op of the OpError
		want   string
	}{
		{Request{Out: out, Data: &manifest, ConfigFile: config, ValSamples: ptr(int64(-1))}, "ValSamples", "ValSamples -1: want 0 (all) or a positive count"},
		{Request{Out: out, Data: &manifest, ConfigFile: config, Condition: "gender"}, "Condition", `Condition "gender": the conditions are "speaker", "fbank" or both ("fbank,speaker")`},
		{Request{Out: out, ConfigFile: config}, "Data", "no corpus: give Data"},
		{Request{Out: out, Resume: true}, "resume", "holds no last.safetensors to resume from"},
	} {
		_, err := Prepare(c.req)
		var oe *train.OptionError
		var op *OpError
		switch {
		case err == nil:
			t.Errorf("%s: prepared", c.want)
		case !strings.Contains(err.Error(), c.want):
			t.Errorf("error %q, want %q", err, c.want)
		case errors.As(err, &op):
			if op.Op != c.option {
				t.Errorf("%v: op %q, want %q", err, op.Op, c.option)
			}
		case !errors.As(err, &oe) || oe.Option != c.option:
			t.Errorf("%v: not an OptionError of %s", err, c.option)
		}
	}
}

// loopback is a single process's Processes that records its barriers.
type loopback struct {
	rank     int
	barriers *[]string
	opened   func() bool
}

func (l loopback) Rank() int                              { return l.rank }
func (l loopback) Size() int                              { return 2 }
func (l loopback) AllreduceFloat32([]float32) error       { return nil }
func (l loopback) AllreduceFloat64([]float64) error       { return nil }
func (l loopback) AllgatherBytes(send, recv []byte) error { return nil }
func (l loopback) Abort(int)                              {}
func (l loopback) Barrier() error {
	*l.barriers = append(*l.barriers, fmt.Sprintf("rank %d: caches open %v", l.rank, l.opened()))
	return nil
}

// Rank 0 opens the caches before the barrier, the others after it.
func TestOpenBarrier(t *testing.T) {
	manifest, config := writeCorpus(t, 11, true)
	cache := t.TempDir()
	for rank, want := range []string{"rank 0: caches open true", "rank 1: caches open false"} {
		var barriers []string
		opened := false
		req := Request{Out: t.TempDir(), Data: &manifest, ConfigFile: config, Comm: loopback{rank, &barriers, func() bool { return opened }}}
		plan, err := Prepare(req)
		if err != nil {
			t.Fatal(err)
		}
		d, err := plan.Open(context.Background(), CacheOptions{Dir: cache, Report: func(ev CacheEvent) {
			if ev.Cache != nil {
				opened = true
			}
		}})
		if err != nil {
			t.Fatal(err)
		}
		d.Close()
		if len(barriers) != 1 || barriers[0] != want {
			t.Errorf("barriers %q, want %q", barriers, want)
		}
	}
}

// A run started, stopped and resumed with changed options keeps its
// corpus, seed and preprocessing; Evaluate without a corpus scores its
// validation files to the figure the run recorded.
func TestStartResumeEvaluate(t *testing.T) {
	manifest, config := writeCorpus(t, 11, true)
	out := filepath.Join(t.TempDir(), "run")
	cache := CacheOptions{Dir: t.TempDir()}
	run := func(req Request) *Plan {
		t.Helper()
		plan, err := Prepare(req)
		if err != nil {
			t.Fatal(err)
		}
		d, err := plan.Open(context.Background(), cache)
		if err != nil {
			t.Fatal(err)
		}
		defer d.Close()
		r, err := plan.Start(d, train.Setup{})
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		if err := r.Train(context.Background()); err != nil {
			t.Fatal(err)
		}
		return plan
	}
	first := run(Request{Out: out, Data: &manifest, ConfigFile: config, Threads: 1, Condition: "speaker", GCChannels: 3,
		ValSamples: ptr(int64(500)), Audio: modelfile.AudioChanges{Normalize: ptr(audio.NormalizeRMS)},
		Options: OptionChanges{Steps: ptr(int64(2)), Batch: ptr(2), Crop: ptr(100), EvalEvery: ptr(int64(1)), Seed: ptr(uint64(5))}})
	if first.Bound == nil || first.Bound.Of != 2 || first.Bound.Kept != 1 || len(first.Valid) != 1 {
		t.Errorf("validation bound %+v, %d files", first.Bound, len(first.Valid))
	}
	if !slices.Equal(first.Speakers, []string{"s0", "s1"}) || first.Audio.SampleRate != 8000 {
		t.Errorf("speakers %v, rate %d", first.Speakers, first.Audio.SampleRate)
	}
	second := run(Request{Out: out, Resume: true, Options: OptionChanges{Steps: ptr(int64(3)), LR: ptr(0.002)}})
	o := second.Options
	if o.Steps != 3 || o.LR != 0.002 || o.Seed != 5 || o.Batch != 2 || second.Audio != first.Audio ||
		second.Source.Data != manifest || second.Source.ValSamples != 500 || !slices.Equal(second.Speakers, first.Speakers) {
		t.Errorf("resumed with options %+v, audio %+v, source %+v, speakers %v", o, second.Audio, second.Source, second.Speakers)
	}

	mf, err := modelfile.Load(filepath.Join(out, train.BestFile))
	if err != nil {
		t.Fatal(err)
	}
	if src, ok := SourceOf(mf.Metadata); !ok || !filepath.IsAbs(src.Data) {
		t.Errorf("recorded source %+v", src)
	}
	table := first.Speakers
	rep, err := Evaluate(context.Background(), EvalRequest{Model: mf.Model, Metadata: mf.Metadata, Path: mf.Path, Audio: first.Audio, Cache: cache,
		Speakers: func(files []corpus.Entry) ([]int, error) {
			r, _, err := SpeakerRows(table, files, modelfile.SpeakerPolicy{Own: true})
			return r.Rows, err
		}})
	if err != nil {
		t.Fatal(err)
	}
	var best struct {
		ValBits float64 `json:"val_bits"`
	}
	if err := json.Unmarshal([]byte(mf.Metadata[modelfile.KeyBest]), &best); err != nil {
		t.Fatal(err)
	}
	if rep.Files != 1 || rep.Validation != "test" || rep.Bound == nil || math.Abs(rep.BitsPerSample()-best.ValBits) > 1e-6 {
		t.Errorf("Evaluate: %+v (bound %+v); the run recorded %v bits", rep, rep.Bound, best.ValBits)
	}
	_, err = Evaluate(context.Background(), EvalRequest{Model: mf.Model, Path: mf.Path, Audio: first.Audio, Cache: cache})
	var oe *train.OptionError
	if !errors.As(err, &oe) || oe.Option != "Data" {
		t.Errorf("Evaluate of a model without a recorded corpus: %v", err)
	}
}
