package features

import (
	"errors"
	"path/filepath"
	"slices"
	"testing"

	"github.com/nextsample/nextsample/audio"
	"github.com/nextsample/nextsample/audio/corpus"
	"github.com/nextsample/nextsample/audio/featio"
	"github.com/nextsample/nextsample/causalconv"
	"github.com/nextsample/nextsample/causalconv/modelfile"
)

// TestLearnedRecipe: a model file's recipe is Learned with the parsed
// layers and frames, records the file and its SHA-256, and describes
// itself; a bad layer specification is refused.
func TestLearnedRecipe(t *testing.T) {
	c := tinyConfigs()["k2bias"]
	m, err := causalconv.NewRandom(c, 11)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "tiny.safetensors")
	if err := modelfile.SaveFile(path, m, nil, nil); err != nil {
		t.Fatal(err)
	}
	mf, err := modelfile.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	s := audio.DefaultSettings()
	s.Quantization = c.QuantizationChannels
	opts := LearnedOptions{Layers: "skip,z:1-3", Pool: PoolMax, Frames: FrameOptions{LengthMs: 25, ShiftMs: 10}}
	r, err := LearnedRecipe(mf, s, opts)
	if err != nil {
		t.Fatal(err)
	}
	sum, err := FileSHA256(path)
	if err != nil {
		t.Fatal(err)
	}
	sc := r.Sidecar
	if sc.Model != path || sc.ModelSHA256 == nil || *sc.ModelSHA256 != sum || !slices.Equal(sc.Layers, []string{"skip", "z1", "z2", "z3"}) || sc.Pooling != PoolMax {
		t.Errorf("sidecar %+v", sc)
	}
	want := "learned from " + path + " (skip,z:1-3, max pooling), 18 dims per frame (200-sample windows every 80 samples at 8000 Hz, centred)"
	if got := r.String(); got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	opts.Layers = "z:9"
	if _, err := LearnedRecipe(mf, s, opts); err == nil {
		t.Error("layer 9 of a 6-layer model was accepted")
	}
}

// TestKaldiRecipe: the options become Kaldi's defaults with their frames
// and dither; a rate or kind that does not exist is refused.
func TestKaldiRecipe(t *testing.T) {
	r, err := KaldiRecipe(KaldiOptions{Kind: featio.KindMFCC, SampleRate: 16000, Frames: FrameOptions{LengthMs: 20, ShiftMs: 10}, Dither: 1, Resample: true})
	if err != nil {
		t.Fatal(err)
	}
	k := r.Sidecar.Kaldi
	if k == nil || k.Kind != featio.KindMFCC || k.FrameLengthMs != 20 || k.SnipEdges || k.Dither != 1 || !r.Settings.Resample || r.Settings.SampleRate != 16000 {
		t.Errorf("config %+v, settings %+v", k, r.Settings)
	}
	if got, want := r.String(), "Kaldi mfcc, 13 dims per frame (320-sample windows every 160 samples at 16000 Hz, centred)"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	for _, bad := range []KaldiOptions{{Kind: featio.KindFbank}, {Kind: "plp", SampleRate: 8000}} {
		if _, err := KaldiRecipe(bad); err == nil {
			t.Errorf("%+v was accepted", bad)
		}
	}
}

// TestChooseSpeakers: own speakers win where the table has them, the
// given one covers the others and the choice is recorded; without a given
// speaker the others are refused by name; an unconditioned model takes
// none.
func TestChooseSpeakers(t *testing.T) {
	table := []string{"a", "b"}
	entries := []corpus.Entry{{Path: "x.wav", Speaker: "b"}, {Path: "y.wav", Speaker: "c"}, {Path: "z.wav"}}
	r := fbankRecipe(t)
	_, err := r.ChooseSpeakers(table, entries, "")
	var missing *MissingSpeakersError
	if !errors.As(err, &missing) || !slices.Equal(missing.Files, []string{"y.wav", "z.wav"}) || !slices.Equal(missing.Speakers, []string{"c", "(none: z.wav)"}) {
		t.Fatalf("no speaker given: %v (%+v)", err, missing)
	}
	if r.Sidecar.Speakers != "" {
		t.Errorf("a refused choice was recorded: %q", r.Sidecar.Speakers)
	}
	rows, err := r.ChooseSpeakers(table, entries, "a")
	if err != nil || !slices.Equal(rows, []int{1, 0, 0}) {
		t.Fatalf("--speaker a: rows %v, %v", rows, err)
	}
	note := "each file's own speaker (1 files), a for the 2 others"
	if r.Sidecar.Speakers != note || r.Description != "Kaldi fbank; speakers: "+note {
		t.Errorf("recorded %q, described %q", r.Sidecar.Speakers, r.Description)
	}
	var unknown *modelfile.UnknownSpeakerError
	if _, err := fbankRecipe(t).ChooseSpeakers(table, entries, "d"); !errors.As(err, &unknown) {
		t.Errorf("an unknown given speaker: %v", err)
	}
	if rows, err := fbankRecipe(t).ChooseSpeakers(nil, entries, ""); rows != nil || err != nil {
		t.Errorf("unconditioned: %v, %v", rows, err)
	}
	if _, err := fbankRecipe(t).ChooseSpeakers(nil, entries, "a"); !errors.Is(err, modelfile.ErrNotConditioned) {
		t.Errorf("unconditioned with a speaker: %v", err)
	}
}
