package launch

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/nextsample/nextsample/audio"
	"github.com/nextsample/nextsample/causalconv/modelfile"
	"github.com/nextsample/nextsample/causalconv/safetensors"
	"github.com/nextsample/nextsample/causalconv/torchpt"
	"github.com/nextsample/nextsample/train"
)

// startRun prepares, opens and trains the run req asks for, and returns
// its plan (t fails on any error).
func startRun(t *testing.T, req Request, cache CacheOptions) *Plan {
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

// A run started from a speaker-conditioned model with its own audio
// settings takes its weights, speaker table and settings, records the
// file, and keeps the record when resumed; what cannot work is refused
// with one line naming the flag.
func TestInitFrom(t *testing.T) {
	manifest, config := writeCorpus(t, 11, true)
	cache := CacheOptions{Dir: t.TempDir()}
	src := filepath.Join(t.TempDir(), "src")
	startRun(t, Request{Out: src, Data: &manifest, ConfigFile: config, Threads: 1, Condition: "speaker", GCChannels: 3,
		Audio:   modelfile.AudioChanges{Normalize: ptr(audio.NormalizeRMS)},
		Options: OptionChanges{Steps: ptr(int64(2)), Batch: ptr(2), Crop: ptr(100), EvalEvery: ptr(int64(0)), EMA: ptr(0.9)}}, cache)
	model := filepath.Join(src, train.LastFile)
	source, err := modelfile.Load(model)
	if err != nil {
		t.Fatal(err)
	}

	// Zero steps: the run's model is the source's, tensor for tensor.
	out := filepath.Join(t.TempDir(), "zero")
	plan := startRun(t, Request{Out: out, Data: &manifest, InitFrom: model, Threads: 1, Options: OptionChanges{Steps: ptr(int64(0))}}, cache)
	got, err := modelfile.Load(filepath.Join(out, train.LastFile))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got.Model.Params, source.Model.Params) || !got.Model.Config.Equal(source.Model.Config) {
		t.Fatal("a run of zero steps from a model does not hold the model's weights")
	}
	if !slices.Equal(plan.Speakers, []string{"s0", "s1"}) || plan.Audio.Normalize != audio.NormalizeRMS {
		t.Errorf("speakers %v, audio %+v: not the model's", plan.Speakers, plan.Audio)
	}
	b, _ := os.ReadFile(model)
	sum := sha256.Sum256(b)
	rec, err := modelfile.ReadInitFrom(got.Metadata)
	if err != nil || rec == nil || rec.Path != model || rec.SHA256 != hex.EncodeToString(sum[:]) {
		t.Errorf("recorded %+v (%v), want %s with sha256 %x", rec, err, model, sum)
	}
	if ck, _ := train.ReadCheckpoint(filepath.Join(out, train.LastFile)); ck == nil || ck.Step() != 0 {
		t.Error("the run does not start at step 0")
	}
	// A resumed run keeps the record.
	resumed := startRun(t, Request{Out: out, Resume: true, Options: OptionChanges{Steps: ptr(int64(1))}}, cache)
	if resumed.InitFrom == nil || *resumed.InitFrom != *rec {
		t.Errorf("resumed run's record %+v, want %+v", resumed.InitFrom, rec)
	}

	// The same weights as a PyTorch state_dict, with the architecture
	// given; the audio settings are then the reference ones at the
	// corpus's rate. A state_dict is not speaker-conditioned here: use an
	// unconditioned source.
	plain := filepath.Join(t.TempDir(), "plain")
	startRun(t, Request{Out: plain, Data: &manifest, ConfigFile: config, Threads: 1,
		Options: OptionChanges{Steps: ptr(int64(1)), Batch: ptr(2), Crop: ptr(100), EvalEvery: ptr(int64(0))}}, cache)
	pm, err := modelfile.Load(filepath.Join(plain, train.LastFile))
	if err != nil {
		t.Fatal(err)
	}
	pt := filepath.Join(t.TempDir(), "model.pt")
	var ts []safetensors.Tensor
	for _, tn := range pm.Model.Tensors() {
		ts = append(ts, safetensors.FromFloat32(tn.Name, tn.Shape, pm.Model.Params[tn.Offset:tn.Offset+tn.Size]))
	}
	if err := torchpt.WriteFile(pt, ts); err != nil {
		t.Fatal(err)
	}
	out = filepath.Join(t.TempDir(), "frompt")
	plan = startRun(t, Request{Out: out, Data: &manifest, InitFrom: pt, ConfigFile: config, Threads: 1, Options: OptionChanges{Steps: ptr(int64(0))}}, cache)
	got, err = modelfile.Load(filepath.Join(out, train.LastFile))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got.Model.Params, pm.Model.Params) || plan.Audio.SampleRate != 8000 || plan.Audio.Normalize != modelfile.ReferenceSettings(8000, 256).Normalize {
		t.Errorf("from a .pt: same weights %v, audio %+v", slices.Equal(got.Model.Params, pm.Model.Params), plan.Audio)
	}

	other := filepath.Join(t.TempDir(), "other.json")
	os.WriteFile(other, []byte(strings.Replace(tinyModel, `"dilations": [1, 2, 4]`, `"dilations": [1, 2]`, 1)), 0o644)
	for _, c := range []struct {
		name   string
		req    Request
		option string // the OptionError's, or "" for an OpError
		want   string
	}{
		{"another config", Request{InitFrom: model, ConfigFile: other}, "", other + " describes a different model than " + model},
		{"another rate", Request{InitFrom: model, Audio: modelfile.AudioChanges{SampleRate: ptr(16000)}}, "Audio", "trained at 8000 Hz"},
		{"with resume", Request{InitFrom: model, Resume: true}, "InitFrom", "starts a new run"},
		{"with condition", Request{InitFrom: model, Condition: "speaker"}, "Condition", "conditioned as its model is"},
		{"pt of another architecture", Request{InitFrom: pt}, "", "does not match the configuration"},
		{"missing", Request{InitFrom: filepath.Join(t.TempDir(), "none.safetensors")}, "", "none.safetensors"},
	} {
		c.req.Out, c.req.Data = filepath.Join(t.TempDir(), "x"), &manifest
		_, err := Prepare(c.req)
		var oe *train.OptionError
		switch {
		case err == nil:
			t.Errorf("%s: accepted", c.name)
		case !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "\n"):
			t.Errorf("%s: %v, want one line with %q", c.name, err, c.want)
		case c.option != "" && (!errors.As(err, &oe) || oe.Option != c.option):
			t.Errorf("%s: %v is not about option %s", c.name, err, c.option)
		}
	}
}
