package modelfile

import (
	"errors"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/nextsample/nextsample/causalconv"
	"github.com/nextsample/nextsample/causalconv/safetensors"
)

// ptData holds a small model the PyTorch reference module trained, as
// torch.save(state_dict) (small.pt) and as a safetensors export with only
// "model" and "sample_rate" metadata (small.safetensors).
const ptData = "../torchpt/testdata"

// TestConvertRoundTrip: .safetensors → .pt → .safetensors gives the
// same parameters, with the reference audio settings at the rate given,
// changed by the audio changes given.
func TestConvertRoundTrip(t *testing.T) {
	in := filepath.Join(ptData, "small.safetensors")
	orig, err := Load(in)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	pt := filepath.Join(dir, "m.pt")
	rep, err := Convert(in, pt, ConvertOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.From != FormatSafetensors || rep.To != FormatTorch || rep.Params != orig.Model.NumParams() || rep.Audio != "" {
		t.Errorf("to .pt: %+v", rep)
	}
	back := filepath.Join(dir, "m.safetensors")
	cfg := orig.Model.Config
	rep, err = Convert(pt, back, ConvertOptions{Config: &cfg, Audio: AudioChanges{SampleRate: ptr(8000), TrimDB: ptr(-40.0)}})
	if err != nil {
		t.Fatal(err)
	}
	f, err := Load(back)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(f.Model.Params, orig.Model.Params) {
		t.Error("parameters changed in the round trip")
	}
	want := ReferenceSettings(8000, cfg.QuantizationChannels)
	want.TrimDB = -40
	if s, err := AudioSettings(f.Metadata, f.Model); err != nil || s != want || rep.Audio != f.Metadata[KeyAudio] {
		t.Errorf("audio %+v, %v; want %+v", s, err, want)
	}
}

// TestConvertNeeds: what the caller must give is in the error's chain.
func TestConvertNeeds(t *testing.T) {
	orig, err := Load(filepath.Join(ptData, "small.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	cfg := orig.Model.Config
	other := cfg
	other.Dilations = []int{1, 2, 4}
	dir := t.TempDir()
	bare := filepath.Join(dir, "bare.safetensors")
	if err := SaveFile(bare, orig.Model, nil, nil); err != nil {
		t.Fatal(err)
	}
	pt, out := filepath.Join(ptData, "small.pt"), filepath.Join(dir, "out.safetensors")
	for _, c := range []struct {
		name    string
		in, out string
		o       ConvertOptions
		want    error
	}{
		{"state_dict without a config", pt, out, ConvertOptions{Audio: AudioChanges{SampleRate: ptr(8000)}}, ErrNoConfig},
		{"state_dict without a rate", pt, out, ConvertOptions{Config: &cfg}, ErrNoSampleRate},
		{"model file without a rate", bare, out, ConvertOptions{}, ErrNoSampleRate},
		{"another architecture", filepath.Join(ptData, "small.safetensors"), out, ConvertOptions{Config: &other}, ErrConfigDisagrees},
	} {
		if _, err := Convert(c.in, c.out, c.o); !errors.Is(err, c.want) || !strings.Contains(err.Error(), c.in) {
			t.Errorf("%s: %v; want %v naming %s", c.name, err, c.want, c.in)
		}
		if _, err := os.Stat(c.out); err == nil {
			t.Errorf("%s: %s left behind", c.name, c.out)
		}
	}
}

// TestLoadRefusesNonFinite: a model file with a NaN parameter is refused,
// naming the tensor; Decode, for describing files, takes it.
func TestLoadRefusesNonFinite(t *testing.T) {
	m, err := causalconv.New(tiny(2, true, causalconv.InputOneHot, 1))
	if err != nil {
		t.Fatal(err)
	}
	m.Params[0] = float32(math.Inf(1))
	path := filepath.Join(t.TempDir(), "inf.safetensors")
	if err := SaveFile(path, m, nil, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(path); err == nil || !strings.Contains(err.Error(), "input_layer.weight is not finite") || !strings.Contains(err.Error(), path) {
		t.Errorf("Load: %v", err)
	}
	sf, err := safetensors.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Decode(sf); err != nil {
		t.Errorf("Decode: %v", err)
	}
}

// TestLocalConditionRoundTrip: a locally conditioned model keeps its
// conditioning (the statistics included) and its parameters through
// SaveFile and Load, and through .safetensors → .pt → .safetensors
// (where the .pt, a bare state_dict, needs the config back).
func TestLocalConditionRoundTrip(t *testing.T) {
	c := tiny(3, true, causalconv.InputOneHot, 1)
	c.LocalCondition = localCondition()
	m := randomModel(t, c, 9)
	dir := t.TempDir()
	in := filepath.Join(dir, "lc.safetensors")
	audio, err := AudioMeta(ReferenceSettings(16000, c.QuantizationChannels))
	if err != nil {
		t.Fatal(err)
	}
	if err := SaveFile(in, m, map[string]string{KeyAudio: audio}, nil); err != nil {
		t.Fatal(err)
	}
	f, err := Load(in)
	if err != nil {
		t.Fatal(err)
	}
	if !f.Model.Config.Equal(c) || !slices.Equal(f.Model.Params, m.Params) {
		t.Fatalf("SaveFile/Load changed the model: %+v", f.Model.Config.LocalCondition)
	}
	if !strings.Contains(f.Metadata[KeyModel], `"local_condition":{"channels":3,"hop":6,"window":10,"snip_edges":true,"context":2,"upsample_scales":[2,3],"mean":[0.25,-1,3],"std":[1.5,0.125,2]}`) {
		t.Errorf("the model entry: %s", f.Metadata[KeyModel])
	}
	pt := filepath.Join(dir, "lc.pt")
	if _, err := Convert(in, pt, ConvertOptions{}); err != nil {
		t.Fatal(err)
	}
	back := filepath.Join(dir, "back.safetensors")
	if _, err := Convert(pt, back, ConvertOptions{Config: &c, Audio: AudioChanges{SampleRate: ptr(16000)}}); err != nil {
		t.Fatal(err)
	}
	g, err := Load(back)
	if err != nil {
		t.Fatal(err)
	}
	if !g.Model.Config.Equal(c) || !slices.Equal(g.Model.Params, m.Params) {
		t.Error("the .pt round trip changed the model")
	}
	// A .pt of the locally conditioned model is not taken for the model
	// without it: the lc_ tensors are not the unconditioned model's.
	plain := c
	plain.LocalCondition = nil
	if _, err := Convert(pt, filepath.Join(dir, "plain.safetensors"), ConvertOptions{Config: &plain, Audio: AudioChanges{SampleRate: ptr(16000)}}); err == nil {
		t.Error("the conditioned state_dict converted as an unconditioned model")
	}
}
